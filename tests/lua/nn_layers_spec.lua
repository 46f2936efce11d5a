-- brasa.nn's layers against PyTorch 1.13: forward values and the gradients
-- of sum(output * G) with respect to the input and every parameter, from the
-- same initial state (loaded with load_state_dict), in float64. The
-- references are in tests/golden/torch_nn_ref.lua, written by
-- tests/golden/gen_torch_nn.py (which alone needs torch).

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local ref = dofile(here .. '../golden/torch_nn_ref.lua')

local brasa = require 'brasa'
local nn = brasa.nn
local F = nn.functional

local RTOL, ATOL = 1e-6, 1e-9

local function T(r)
  return brasa.tensor(r.data, {dtype = r.dtype or 'f64'}):reshape(r.shape)
end

local function check_tensor(name, got, want)
  assert(brasa.is_tensor(got), name .. ': no tensor')
  assert.are.same(want.shape, got.shape, name .. ': shape')
  assert(#want.data == got:numel(), name .. ': size')
  local flat = got:contiguous():reshape(-1)
  for k = 1, #want.data do
    local g, w = flat[k], want.data[k]
    if g ~= g or math.abs(g - w) > RTOL * math.abs(w) + ATOL then
      error(string.format('%s: element %d: brasa %.17g, torch %.17g', name, k, g, w), 2)
    end
  end
end

-- The functionals a layer needs (a case runs only when they exist).
local NEEDS = {
  {'ConvTranspose1d', 'conv_transpose1d'}, {'ConvTranspose2d', 'conv_transpose2d'},
  {'Conv1d', 'conv1d'}, {'Conv2d', 'conv2d'}, {'MaxPool1d', 'max_pool1d'}, {'MaxPool2d', 'max_pool2d'},
  {'AvgPool1d', 'avg_pool1d'}, {'AvgPool2d', 'avg_pool2d'}, {'Adaptive', 'adaptive_avg_pool2d'},
  {'Global', 'global_avg_pool2d'}, {'Upsample', 'interpolate'}, {'BatchNorm', 'batch_norm'},
  {'LayerNorm', 'layer_norm'}, {'Embedding', 'embedding'}, {'LogSoftmax', 'log_softmax'},
  {'Softmax', 'softmax'},
}

local function missing(ctor)
  for _, n in ipairs(NEEDS) do
    if ctor:find('nn.' .. n[1], 1, true) and not F[n[2]] then return n[2] end
  end
end

local function build(ctor, case)
  local env = setmetatable({nn = nn, T = T, R = case, brasa = brasa}, {__index = _G})
  return assert(load('return ' .. ctor, '=' .. ctor, 't', env))()
end

local names = {}
for k in pairs(ref.layers) do names[#names + 1] = k end
table.sort(names)

describe('nn layers match PyTorch ' .. ref.torch_version, function()
  for _, name in ipairs(names) do
    local c = ref.layers[name]
    local need = missing(c.ctor)
    if need then
      pending(name .. ': brasa.nn.functional.' .. need .. ' is not built yet')
    else
      it(name .. ': ' .. c.ctor, function()
        local m = build(c.ctor, c)
        local sd = {}
        for k, v in pairs(c.state) do sd[k] = T(v) end
        m:load_state_dict(sd)
        m:train(c.train)
        local x = T(c.input)
        if x.dtype == 'f64' then x:requires_grad_(true) end
        local y = m(x)
        check_tensor(name .. ' output', y, c.output)
        local leaves, keys = {}, {}
        local params = {}
        for k, p in m:named_parameters() do params[k] = p end
        for k in pairs(c.grads) do keys[#keys + 1] = k end
        table.sort(keys)
        for i, k in ipairs(keys) do
          leaves[i] = k == 'input' and x or params[k]
          assert(leaves[i], name .. ': no parameter ' .. k)
        end
        local gs = brasa.grad((y * T(c.G)):sum(), leaves)
        for i, k in ipairs(keys) do check_tensor(name .. ' d/d' .. k, gs[i], c.grads[k]) end
        if c.after then
          local now = m:state_dict()
          for k, v in pairs(c.after) do check_tensor(name .. ' ' .. k .. ' after the step', now[k], v) end
        end
      end)
    end
  end
end)

-- Bad input: every layer names itself and the shapes.
describe('nn layers refuse bad input with clear messages', function()
  local z = brasa.zeros
  local function ids(...) return brasa.ones({...}, {dtype = 'i64'}) end
  local ints = brasa.zeros({2, 3}, {dtype = 'i64'})
  local cases = {
    {'Linear', function() return nn.Linear(784, 10) end, z(8, 100),
      'Linear(784 -> 10): input [8x100] has 100 features in its last dim, expected 784'},
    {'Linear 0-dim', function() return nn.Linear(3, 1) end, z({}), 'Linear(3 -> 1): input [] has no features'},
    {'Linear not a tensor', function() return nn.Linear(3, 1) end, 'x', 'Linear(3 -> 1): input must be a tensor, got string'},
    {'Conv2d channels', function() return nn.Conv2d(1, 32, 3) end, z(8, 3, 28, 28),
      'Conv2d(1 -> 32, 3x3): input [8x3x28x28] has 3 channels, expected 1'},
    {'Conv2d no channel dim', function() return nn.Conv2d(1, 32, 3) end, z(8, 28, 28),
      'Conv2d(1 -> 32, 3x3): input [8x28x28] has 8 channels (with 3 dims it is read as one example, C x H x W), '
      .. 'expected 1: for a batch of one-channel inputs add the channel dim, x:unsqueeze(2)'},
    {'Conv2d rank', function() return nn.Conv2d(1, 32, 3) end, z(28, 28),
      'Conv2d(1 -> 32, 3x3): input [28x28] has 2 dims, expected 4 (N x C x H x W) or 3 (C x H x W)'},
    {'Conv2d too small', function() return nn.Conv2d(1, 4, 5) end, z(1, 1, 3, 3),
      'Conv2d(1 -> 4, 5x5): input [1x1x3x3] is too small'},
    {'Conv2d dtype', function() return nn.Conv2d(1, 4, 3) end, brasa.zeros({1, 1, 5, 5}, {dtype = 'i64'}),
      'Conv2d(1 -> 4, 3x3): input [1x1x5x5] is i64, expected a floating dtype'},
    {'Conv1d', function() return nn.Conv1d(2, 4, 3) end, z(8, 3, 10), 'Conv1d(2 -> 4, 3): input [8x3x10] has 3 channels, expected 2'},
    {'Conv1d rank', function() return nn.Conv1d(2, 4, 3) end, z(8, 2, 3, 10),
      'Conv1d(2 -> 4, 3): input [8x2x3x10] has 4 dims, expected 3 (N x C x L) or 2 (C x L)'},
    {'ConvTranspose2d', function() return nn.ConvTranspose2d(4, 2, 3) end, z(8, 3, 5, 5),
      'ConvTranspose2d(4 -> 2, 3x3): input [8x3x5x5] has 3 channels, expected 4'},
    {'ConvTranspose1d', function() return nn.ConvTranspose1d(4, 2, 3) end, z(5),
      'ConvTranspose1d(4 -> 2, 3): input [5] has 1 dim, expected 3 (N x C x L) or 2 (C x L)'},
    {'MaxPool2d rank', function() return nn.MaxPool2d(2) end, z(5, 5),
      'MaxPool2d(2x2): input [5x5] has 2 dims, expected 4 (N x C x H x W) or 3 (C x H x W)'},
    {'MaxPool2d small', function() return nn.MaxPool2d(3) end, z(1, 1, 2, 2), 'MaxPool2d(3x3): input [1x1x2x2] is too small'},
    {'MaxPool1d', function() return nn.MaxPool1d(2) end, z(5), 'MaxPool1d(2): input [5] has 1 dim, expected 3'},
    {'AvgPool1d', function() return nn.AvgPool1d(2) end, z(1, 1, 2, 2), 'AvgPool1d(2): input [1x1x2x2] has 4 dims'},
    {'AvgPool2d', function() return nn.AvgPool2d(2) end, ints, 'AvgPool2d(2x2): input [2x3] is i64'},
    {'AdaptiveAvgPool2d', function() return nn.AdaptiveAvgPool2d(2) end, z(4),
      'AdaptiveAvgPool2d(output_size=2x2): input [4] has 1 dim'},
    {'AdaptiveAvgPool1d', function() return nn.AdaptiveAvgPool1d(2) end, z(4), 'AdaptiveAvgPool1d(output_size=2): input [4] has 1 dim'},
    {'AdaptiveMaxPool2d', function() return nn.AdaptiveMaxPool2d(2) end, z(2, 2, 2, 2, 2), 'AdaptiveMaxPool2d(output_size=2x2): input [2x2x2x2x2] has 5 dims'},
    {'GlobalAvgPool2d', function() return nn.GlobalAvgPool2d() end, z(4, 3), 'GlobalAvgPool2d(): input [4x3] has 2 dims'},
    {'GlobalMaxPool1d', function() return nn.GlobalMaxPool1d() end, z(4), 'GlobalMaxPool1d(): input [4] has 1 dim'},
    {'Upsample', function() return nn.Upsample{scale_factor = 2, mode = 'bilinear'} end, z(1, 2, 3),
      "Upsample(scale_factor=2, mode='bilinear'): input [1x2x3] has 3 dims, expected 4 (N x C x H x W)"},
    {'BatchNorm2d channels', function() return nn.BatchNorm2d(32) end, z(8, 16, 14, 14),
      'BatchNorm2d(32): input [8x16x14x14] has 16 channels, expected 32'},
    {'BatchNorm2d rank', function() return nn.BatchNorm2d(32) end, z(8, 32),
      'BatchNorm2d(32): input [8x32] has 2 dims, expected 4 (N x C x H x W)'},
    {'BatchNorm1d rank', function() return nn.BatchNorm1d(32) end, z(8, 32, 14, 14),
      'BatchNorm1d(32): input [8x32x14x14] has 4 dims, expected 2 (N x C) or 3 (N x C x L)'},
    {'BatchNorm1d one value', function() return nn.BatchNorm1d(4) end, z(1, 4),
      'BatchNorm1d(4): input [1x4] has 1 value per channel'},
    {'LayerNorm', function() return nn.LayerNorm(5) end, z(8, 4), 'LayerNorm(5): input [8x4] does not end with the normalized shape [5]'},
    {'Embedding dtype', function() return nn.Embedding(10, 3) end, z(8, 4), 'Embedding(10, 3): ids [8x4] must be integers (i64), got f32'},
    {'Dropout dtype', function() return nn.Dropout() end, ints, 'Dropout(p=0.5): input [2x3] is i64'},
    {'ReLU dtype', function() return nn.ReLU() end, ints, 'ReLU(): input [2x3] is i64'},
    {'Tanh nil', function() return nn.Tanh() end, nil, 'Tanh(): input must be a tensor, got nil'},
    {'Softmax dim', function() return nn.Softmax{dim = 3} end, z(2, 3), 'Softmax(dim=3): input [2x3] has 2 dims: dim 3 is out of range'},
    {'LogSoftmax dim', function() return nn.LogSoftmax(0) end, z(2, 3), 'LogSoftmax(dim=0): input [2x3] has 2 dims: dim 0 is out of range'},
    {'Flatten', function() return nn.Flatten() end, z(3), 'Flatten(): input [3] has 1 dim: cannot flatten dims 2..-1'},
    {'Reshape', function() return nn.Reshape(5) end, z(2, 6), 'Reshape(5): input [2x6] has 6 values per example, the target shape needs 5'},
    {'Sequential', function() return nn.Sequential{nn.Linear(4, 3), nn.ReLU(), nn.Linear(2, 1)} end, z(5, 4),
      'Linear(2 -> 1): input [5x3] has 3 features in its last dim, expected 2'},
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local m = c[2]()
      local ok, e = pcall(m, c[3])
      assert.is_false(ok, c[1] .. ': no error')
      assert.matches(c[4], tostring(e), 1, true)
      assert.matches('nn_layers_spec.lua:%d+:', tostring(e))   -- points at the caller's line
    end)
  end
  it('Embedding refuses ids past the table', function()
    if not F.embedding then return pending('embedding not built yet') end
    local ok, e = pcall(nn.Embedding(10, 3), ids(2, 2) * 11)
    assert.is_false(ok)
    assert.matches('11', tostring(e), 1, true)
  end)
end)
