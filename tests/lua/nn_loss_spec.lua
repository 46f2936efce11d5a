-- brasa.nn's losses: values and gradients against PyTorch 1.13 for every
-- reduction and option (tests/golden/torch_nn_ref.lua, written by
-- tests/golden/gen_torch_nn.py), the functional forms, and the messages for
-- the mistakes people make (0-based labels, logits given as probabilities,
-- shape mismatches).

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
  local flat = got:contiguous():reshape(-1)
  for k = 1, #want.data do
    local g, w = flat[k], want.data[k]
    if g ~= g or math.abs(g - w) > RTOL * math.abs(w) + ATOL then
      error(string.format('%s: element %d: brasa %.17g, torch %.17g', name, k, g, w), 2)
    end
  end
end

local function build(ctor, case)
  local env = setmetatable({nn = nn, T = T, R = case, brasa = brasa}, {__index = _G})
  return assert(load('return ' .. ctor, '=' .. ctor, 't', env))()
end

-- Functionals from the core that some losses need.
local function missing(name)
  if name:match('^ce_') and not (F.cross_entropy and F.log_softmax and F.nll_loss) then
    return 'cross_entropy, log_softmax, nll_loss'
  end
  if name:match('^nll_') and not F.nll_loss then return 'nll_loss' end
end

local names = {}
for k in pairs(ref.losses) do names[#names + 1] = k end
table.sort(names)

describe('nn losses match PyTorch ' .. ref.torch_version, function()
  for _, name in ipairs(names) do
    local c = ref.losses[name]
    local need = missing(name)
    if need then
      pending(name .. ': brasa.nn.functional ' .. need .. ' not built yet')
    else
      it(name .. ': ' .. c.ctor, function()
        local loss = build(c.ctor, c)
        local inputs, args = {}, {}
        for i, r in ipairs(c.inputs) do
          inputs[i] = T(r):requires_grad_(true)
          args[#args + 1] = inputs[i]
        end
        for _, r in ipairs(c.targets) do args[#args + 1] = T(r) end
        local v = loss(table.unpack(args))
        check_tensor(name .. ' value', v, c.value)
        local gs = brasa.grad((v * T(c.G)):sum(), inputs)
        for i, g in ipairs(gs) do check_tensor(name .. ' d/dinput' .. i, g, c.grads[i]) end
      end)
    end
  end
end)

describe('loss functionals', function()
  local x = brasa.tensor{{0.5, -1}, {2, 0}}
  local t = brasa.tensor{{1, -1}, {1, 1}}

  it('match their modules and take the reduction as a string or in a table', function()
    assert.is_true(F.mse_loss(x, t):allclose(nn.MSELoss()(x, t)))
    assert.is_true(F.mse_loss(x, t, 'sum'):allclose(nn.MSELoss{reduction = 'sum'}(x, t)))
    assert.is_true(F.l1_loss(x, t, {reduction = 'none'}):allclose((x - t):abs()))
    assert.are.equal(0, #F.huber_loss(x, t).shape)
    assert.are.same({2, 2}, F.smooth_l1_loss(x, t, {reduction = 'none', beta = 0.5}).shape)
    assert.near(1.5625 / 4 + 0, F.mse_loss(brasa.tensor{1.25}, brasa.tensor{0}):item() / 4, 1e-6)
  end)

  it('return 0-dim tensors for mean and sum', function()
    for _, L in ipairs {nn.MSELoss(), nn.L1Loss(), nn.HuberLoss(), nn.SmoothL1Loss()} do
      assert.are.same({}, L(x, t).shape)
    end
    assert.are.same({}, nn.BCELoss()(brasa.tensor{0.2, 0.7}, brasa.tensor{0, 1}).shape)
    assert.are.same({}, nn.BCEWithLogitsLoss{reduction = 'sum'}(brasa.tensor{0.2, 0.7}, brasa.tensor{0, 1}).shape)
  end)

  it('cast integer targets of regression losses to the output dtype', function()
    local y = brasa.tensor({1, 2}, {dtype = 'i64'})
    assert.near(0.5 * (0.25 + 0.25), nn.MSELoss()(brasa.tensor{1.5, 1.5}, y):item(), 1e-6)
  end)

  it('KLDivLoss accepts batchmean; CosineEmbeddingLoss takes three arguments', function()
    local lp = brasa.tensor{{0.2, 0.8}, {0.5, 0.5}}:log()
    local tp = brasa.tensor{{0.2, 0.8}, {0.5, 0.5}}
    assert.near(0, nn.KLDivLoss{reduction = 'batchmean'}(lp, tp):item(), 1e-6)
    local a = brasa.tensor{{1, 0}, {0, 1}}
    assert.near(0, nn.CosineEmbeddingLoss()(a, a, brasa.tensor{1, 1}):item(), 1e-6)
  end)
end)

describe('loss errors', function()
  local function err(f)
    local ok, e = pcall(f)
    assert.is_false(ok, 'no error')
    return tostring(e)
  end

  it('name both shapes when output and target differ', function()
    local e = err(function() return nn.MSELoss()(brasa.zeros(8, 1), brasa.zeros(8)) end)
    assert.matches('MSELoss: output [8x1] and target [8] have different shapes', e, 1, true)
  end)

  it('reject unknown reductions and options', function()
    assert.matches("reduction must be 'mean', 'sum' or 'none', got avg",
      err(function() return nn.L1Loss{reduction = 'avg'} end), 1, true)
    assert.matches("unknown option 'delta'", err(function() return F.mse_loss(brasa.zeros(2), brasa.zeros(2),
      {delta = 1}) end), 1, true)
    assert.matches('delta must be a number > 0', err(function()
      return nn.HuberLoss{delta = 0}(brasa.zeros(2), brasa.zeros(2)) end), 1, true)
  end)

  it('BCELoss checks that outputs are probabilities and targets binary', function()
    assert.matches('BCELoss: output values must be probabilities in [0, 1], found 2',
      err(function() return nn.BCELoss()(brasa.tensor{0.5, 2}, brasa.tensor{0, 1}) end), 1, true)
    assert.matches('target values must lie in [0, 1], found 2: binary targets are 0 and 1',
      err(function() return nn.BCELoss()(brasa.tensor{0.5, 0.2}, brasa.tensor{1, 2}) end), 1, true)
    assert.matches('BCEWithLogitsLoss: target values must lie in [0, 1]',
      err(function() return nn.BCEWithLogitsLoss()(brasa.tensor{0.5, 3}, brasa.tensor{1, 2}) end), 1, true)
  end)

  it('CosineEmbeddingLoss checks its target', function()
    local a = brasa.randn(3, 4)
    assert.matches('target values must be 1 (similar) or -1 (dissimilar)',
      err(function() return nn.CosineEmbeddingLoss()(a, a, brasa.tensor{1, 0, -1}) end), 1, true)
    assert.matches('target [2] must have shape [3]',
      err(function() return nn.CosineEmbeddingLoss()(a, a, brasa.tensor{1, -1}) end), 1, true)
  end)

  local ce_ready = F.cross_entropy and F.log_softmax and F.nll_loss
  local cit = ce_ready and it or pending

  cit('CrossEntropyLoss names 0-based labels', function()
    local scores = brasa.randn(4, 10)
    local y0 = brasa.tensor({0, 3, 9, 2}, {dtype = 'i64'})
    local e = err(function() return nn.CrossEntropyLoss()(scores, y0) end)
    assert.matches('CrossEntropyLoss: target holds class 0, but classes are 1-based (1..10): add 1 to 0-based labels', e,
      1, true)
    e = err(function() return nn.CrossEntropyLoss()(scores, brasa.tensor({1, 11, 2, 3}, {dtype = 'i64'})) end)
    assert.matches('target holds class 11, outside 1..10 (the output [4x10] has 10 classes in dim 2)', e, 1, true)
    e = err(function() return nn.NLLLoss()(scores, y0) end)
    assert.matches('NLLLoss: target holds class 0, but classes are 1-based', e, 1, true)
  end)

  cit('CrossEntropyLoss checks target shapes and dtypes', function()
    local scores = brasa.randn(4, 3)
    assert.matches('target [4x1] must hold class ids of shape [4]',
      err(function() return nn.CrossEntropyLoss()(scores, brasa.ones({4, 1}, {dtype = 'i64'})) end), 1, true)
    assert.matches("a floating target [4] must hold class probabilities of the output's shape [4x3]",
      err(function() return nn.CrossEntropyLoss()(scores, brasa.ones(4)) end), 1, true)
    assert.matches('weight [4] must have one entry per class: [3]',
      err(function() return nn.CrossEntropyLoss{weight = brasa.ones(4)}(scores,
        brasa.ones({4}, {dtype = 'i64'})) end), 1, true)
    assert.matches('from_logits = false expects probabilities in [0, 1]',
      err(function() return nn.CrossEntropyLoss{from_logits = false}(scores * 10 + 5,
        brasa.ones({4}, {dtype = 'i64'})) end), 1, true)
  end)

  cit('CrossEntropyLoss accepts ignored 0 labels with ignore_index = 0', function()
    local scores = brasa.randn(3, 4)
    local y = brasa.tensor({2, 0, 4}, {dtype = 'i64'})
    local l = nn.CrossEntropyLoss{ignore_index = 0}(scores, y)
    local full = nn.CrossEntropyLoss{reduction = 'none'}(scores:index_select(1, brasa.tensor({1, 3}, {dtype = 'i64'})),
      brasa.tensor({2, 4}, {dtype = 'i64'}))
    assert.near(full:mean():item(), l:item(), 1e-5)
  end)

  cit('CrossEntropyLoss accepts integer one-hot targets (y:one_hot())', function()
    local scores = brasa.randn(3, 4)
    local y = brasa.tensor({2, 1, 4}, {dtype = 'i64'})
    assert.near(nn.CrossEntropyLoss()(scores, y):item(), nn.CrossEntropyLoss()(scores, y:one_hot(4)):item(), 1e-5)
  end)
end)

describe('the probability warning of CrossEntropyLoss', function()
  local ce_ready = F.cross_entropy and F.log_softmax and F.nll_loss and F.softmax
  local cit = ce_ready and it or pending
  cit('warns once when outputs look like probabilities', function()
    local written = {}
    local real = io.stderr
    local fake = {write = function(_, ...) for _, s in ipairs {...} do written[#written + 1] = s end end}
    io.stderr = fake   -- luacheck: ignore
    local ok, e = pcall(function()
      local probs = F.softmax(brasa.randn(4, 3), 2)
      local y = brasa.tensor({1, 2, 3, 1}, {dtype = 'i64'})
      nn.CrossEntropyLoss()(probs, y)
      nn.CrossEntropyLoss()(probs, y)
    end)
    io.stderr = real   -- luacheck: ignore
    assert(ok, e)
    local text = table.concat(written)
    assert.matches('look like probabilities', text, 1, true)
    assert.matches('from_logits = false', text, 1, true)
    local _, count = text:gsub('look like probabilities', '')
    assert.are.equal(1, count)
  end)
end)
