-- brasa.nn.functional convolutions: conv1d, conv2d, conv_transpose1d,
-- conv_transpose2d. Values and all three gradients against PyTorch 1.13
-- (tests/golden/torch_conv_ref.lua, written by tests/golden/gen_torch_conv.py)
-- in f64 and f32, the options' spellings, and the errors bad input gives.

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local ref = dofile(here .. '../golden/torch_conv_ref.lua')

local brasa = require 'brasa'
local F = require 'brasa.nn.functional'

-- A tensor of dtype dt from {shape =, data =}, a leaf that requires grad.
local function T(r, dt)
  local t = brasa.tensor(r.data, {dtype = dt}):reshape(r.shape)
  return t:detach():requires_grad_(true)
end

-- Largest |a - b| over the elements, and the largest |b|.
local function max_diff(t, r)
  local a = t:double():reshape(-1):totable()
  local d, m = 0, 0
  for i, v in ipairs(r.data) do
    d = math.max(d, math.abs(a[i] - v))
    m = math.max(m, math.abs(v))
  end
  return d, m
end

local function same_shape(t, r)
  local s = t.shape
  if #s ~= #r.shape then return false end
  for i = 1, #s do if s[i] ~= r.shape[i] then return false end end
  return true
end

local function expect_close(what, t, r, tol)
  assert(t, what .. ': missing')
  assert(same_shape(t, r), string.format('%s: shape {%s}, PyTorch {%s}', what,
    table.concat(t.shape, ', '), table.concat(r.shape, ', ')))
  local d, m = max_diff(t, r)
  assert(d <= tol * (1 + m), string.format('%s: max |diff| %.3g > %.3g', what, d, tol * (1 + m)))
end

describe('convolutions against PyTorch 1.13', function()
  for _, c in ipairs(ref.cases) do
    for _, dt in ipairs({'f64', 'f32'}) do
      it(c.name .. ' (' .. dt .. ')', function()
        local tol = dt == 'f64' and 1e-10 or 2e-5
        local x, w = T(c.x, dt), T(c.w, dt)
        local b = c.b and T(c.b, dt) or nil
        local y = F[c.fn](x, w, b, c.opts)
        assert.are.equal(dt, y.dtype)
        expect_close('y', y, c.y, tol)
        y:backward(brasa.tensor(c.gy.data, {dtype = dt}):reshape(c.gy.shape))
        expect_close('grad x', x.grad, c.gx, tol)
        expect_close('grad weight', w.grad, c.gw, tol)
        if b then expect_close('grad bias', b.grad, c.gb, tol) end
      end)
    end
  end
end)

describe('convolution options', function()
  local x = brasa.randn(2, 3, 6, 5)
  local w = brasa.randn(4, 3, 3, 3)
  local b = brasa.randn(4)

  it('takes the options as the third argument when there is no bias', function()
    local y1 = F.conv2d(x, w, {padding = 1, stride = 2})
    local y2 = F.conv2d(x, w, nil, {padding = 1, stride = 2})
    assert.are.same({2, 4, 3, 3}, y1.shape)
    assert.is_true(y1:equal(y2))
  end)

  it('spells padding as a number, per dim, per side, same and valid', function()
    assert.is_true(F.conv2d(x, w, b, {padding = 1}):equal(F.conv2d(x, w, b, {padding = {1, 1}})))
    assert.is_true(F.conv2d(x, w, b, {padding = {1, 1}}):equal(F.conv2d(x, w, b, {padding = {1, 1, 1, 1}})))
    assert.are.same({2, 4, 6, 5}, F.conv2d(x, w, b, {padding = 'same'}).shape)
    assert.are.same({2, 4, 4, 3}, F.conv2d(x, w, b, {padding = 'valid'}).shape)
    assert.are.same({2, 4, 5, 7}, F.conv2d(x, w, b, {padding = {1, 0, 2, 2}}).shape)
    assert.are.same({2, 4, 8, 3}, F.conv2d(x, w, b, {padding = {2, 0}}).shape)
  end)

  it('takes stride and dilation per dim', function()
    assert.are.same({2, 4, 2, 3}, F.conv2d(x, w, b, {stride = {2, 1}}).shape)
    assert.are.same({2, 4, 2, 1}, F.conv2d(x, w, b, {dilation = 2}).shape)
  end)

  it('runs 1-d convolutions and unbatched inputs', function()
    local x1 = brasa.randn(2, 3, 10)
    local w1 = brasa.randn(5, 3, 3)
    assert.are.same({2, 5, 10}, F.conv1d(x1, w1, nil, {padding = 'same'}).shape)
    assert.are.same({5, 4}, F.conv1d(x1[1], w1, {stride = 2}).shape)
    assert.are.same({4, 6, 5}, F.conv2d(x[1], w, b, {padding = 1}).shape)
    assert.are.same({3, 21}, F.conv_transpose1d(x1[1], brasa.randn(3, 3, 3), {stride = 2}).shape)
  end)

  it('computes transposed shapes with output_padding and groups', function()
    local xt = brasa.randn(2, 4, 5, 5)
    local wt = brasa.randn(4, 3, 3, 3)
    assert.are.same({2, 3, 10, 10}, F.conv_transpose2d(xt, wt, nil,
      {stride = 2, padding = 1, output_padding = 1}).shape)
    assert.are.same({2, 6, 7, 7}, F.conv_transpose2d(xt, wt, brasa.randn(6), {groups = 2}).shape)
  end)

  it('gives the same results on 1 and 2 threads', function()
    local n = brasa.get_num_threads()
    local xs = brasa.randn(16, 8, 9, 9)
    local ws = brasa.randn(16, 8, 3, 3):requires_grad_(true)
    local gy = brasa.randn(16, 16, 9, 9)
    local function run(threads)
      brasa.set_num_threads(threads)
      local y = F.conv2d(xs, ws, {padding = 1})
      local g = brasa.grad({y}, {ws}, {grad_outputs = {gy}})[1]
      return y, g
    end
    local y1, g1 = run(1)
    local y2, g2 = run(2)
    brasa.set_num_threads(n)
    assert.is_true(y1:equal(y2))
    assert.is_true(g1:equal(g2))
  end)

  it('keeps the input dtype (f16 computes in f32)', function()
    local y = F.conv2d(x:half(), w:half(), b:half(), {padding = 1})
    assert.are.equal('f16', y.dtype)
    local y32 = F.conv2d(x, w, b, {padding = 1})
    assert.is_true((y:float() - y32):abs():max():item() < 0.05 * (1 + y32:abs():max():item()))
  end)
end)

describe('convolution errors', function()
  local function fails(pattern, fn, ...)
    local ok, err = pcall(fn, ...)
    assert.is_false(ok, 'expected an error matching ' .. pattern)
    assert.is_truthy(tostring(err):find(pattern, 1, true),
      'message "' .. tostring(err) .. '" lacks "' .. pattern .. '"')
  end
  local x = brasa.randn(8, 3, 28, 28)

  it('names the layer and the shapes for a channel mismatch', function()
    fails('conv2d: input [8x3x28x28] has 3 channels but the weight [32x1x3x3] expects 1',
      F.conv2d, x, brasa.randn(32, 1, 3, 3))
    fails('conv_transpose2d: input [8x3x28x28] has 3 channels but the weight [4x2x3x3] expects 4',
      F.conv_transpose2d, x, brasa.randn(4, 2, 3, 3))
    fails('conv1d: input [2x3x9] has 3 channels', F.conv1d, brasa.randn(2, 3, 9), brasa.randn(4, 2, 3))
  end)

  it('rejects wrong ranks', function()
    fails('conv2d: input [3x28] must be 4-D [N, C, H, W] (or 3-D [C, H, W])', F.conv2d,
      brasa.randn(3, 28), brasa.randn(4, 3, 3, 3))
    fails('conv2d: weight [4x3x3] must be 4-D', F.conv2d, x, brasa.randn(4, 3, 3))
    fails('conv1d: input [1x2x3x4] must be 3-D [N, C, L]', F.conv1d, brasa.randn(1, 2, 3, 4),
      brasa.randn(4, 2, 3))
  end)

  it('rejects bad dtypes, biases and sizes', function()
    fails('conv2d: input must be a float tensor, got i64', F.conv2d, brasa.zeros(1, 3, 4, 4, {dtype = 'i64'}),
      brasa.randn(2, 3, 3, 3))
    fails('must have one dtype', F.conv2d, x, brasa.randn(4, 3, 3, 3, {dtype = 'f64'}))
    fails('conv2d: bias [3] must be 1-D with 4 elements', F.conv2d, x, brasa.randn(4, 3, 3, 3), brasa.randn(3))
    fails('is smaller than the kernel', F.conv2d, brasa.randn(1, 3, 2, 2), brasa.randn(4, 3, 3, 3))
    fails('channels (3) must be divisible by groups (2)', F.conv_transpose2d, x, brasa.randn(3, 2, 3, 3),
      {groups = 2})
    fails('bias must be a tensor or nil', F.conv2d, x, brasa.randn(4, 3, 3, 3), 1)
  end)

  it('rejects bad options', function()
    local w = brasa.randn(4, 3, 3, 3)
    fails("conv2d: unknown option 'strides'", F.conv2d, x, w, {strides = 2})
    fails('conv2d: stride must be a positive integer, got 0', F.conv2d, x, w, {stride = 0})
    fails('conv2d: stride must be a number or a list of 2, got a list of 3', F.conv2d, x, w, {stride = {1, 2, 3}})
    fails("conv2d: padding must be a number, a list, 'same' or 'valid', got 'full'", F.conv2d, x, w,
      {padding = 'full'})
    fails('conv2d: padding must be a list of 2 (one per dim) or 4 (top, bottom, left, right)',
      F.conv2d, x, w, {padding = {1, 2, 3}})
    fails("conv2d: padding 'same' needs stride 1", F.conv2d, x, w, {padding = 'same', stride = 2})
    fails('conv2d: groups must be a positive integer', F.conv2d, x, w, {groups = 0})
    fails('output_padding is only for transposed convolutions', F.conv2d, x, w, {output_padding = 1})
    fails('output_padding (2) must be smaller than the stride (2) or the dilation (1)',
      F.conv_transpose2d, x, brasa.randn(3, 2, 3, 3), {stride = 2, output_padding = 2})
    fails("padding 'same' is not supported for transposed convolutions", F.conv_transpose2d, x,
      brasa.randn(3, 2, 3, 3), {padding = 'same'})
  end)
end)

describe('documentation of the convolutions', function()
  local doc = require 'brasa.docs'
  local names = {'conv1d', 'conv2d', 'conv_transpose1d', 'conv_transpose2d'}

  it('documents every convolution and binds it to its entry', function()
    for _, f in ipairs(names) do
      local e = doc.get('brasa.nn.functional.' .. f)
      assert(e, 'no doc entry for brasa.nn.functional.' .. f)
      assert.are.equal(e, doc.get(F[f]), f .. ' is not bound to its entry')
    end
  end)

  for _, f in ipairs(names) do
    local n = 'brasa.nn.functional.' .. f
    it('runs the example of ' .. n, function()
      local e = doc.get(n)
      local out = {}
      local env = setmetatable({brasa = brasa, print = function(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        out[#out + 1] = table.concat(t, '\t')
      end}, {__index = _G})
      assert(load(e.example, '=' .. n, 't', env))()
      -- a line `print(...)  --> shown` prints `shown` (whitespace and tensor headers aside)
      local k = 0
      for line in (e.example .. '\n'):gmatch('([^\n]*)\n') do
        if line:match('^%s*print%(') then
          k = k + 1
          local shown = line:match('%-%->%s*(.-)%s*$')
          if shown then
            local got = (out[k] or ''):gsub('tensor %[[^%]]*%] [%w]+ [%w:]+[^\n]*\n', ''):gsub('%s+', '')
            assert.are.equal((shown:gsub('%s+', '')), got, n .. ': line ' .. k)
          end
        end
      end
    end)
  end
end)
