-- brasa.nn.functional's normalisation, dropout, embedding, softmax and class
-- losses (lua/lnn_norm.c, core/ops/nn_norm.c, core/ops/nn_softmax.c):
-- values and gradients against PyTorch 1.13 (tests/golden/torch_norm_ref.lua,
-- written by tests/golden/gen_torch_norm.py), running statistics, dropout's
-- statistics and reproducibility, embedding's padding, numerical stability,
-- thread independence, bad input, and the documentation's examples.

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local ref = dofile(here .. '../golden/torch_norm_ref.lua')

local brasa = require 'brasa'
local F = require 'brasa.nn.functional'

local I64 = {dtype = 'i64'}
local TOL = {f64 = {rtol = 1e-9, atol = 1e-11}, f32 = {rtol = 2e-5, atol = 2e-6}}

-- A tensor from {shape =, data =} in dtype dt.
local function T(r, dt)
  return brasa.tensor(r.data, {dtype = dt}):reshape(r.shape)
end
local function leaf(r, dt) return T(r, dt):detach():requires_grad_() end

local function close(name, got, want, tol)
  assert(brasa.is_tensor(got), name .. ': no tensor')
  assert.are.same(want.shape, got.shape, name .. ': shape')
  local worst, at = 0, 0
  for k = 1, #want.data do
    local g, w = got:_flat(k), want.data[k]
    local err = math.abs(g - w) - (tol.rtol * math.abs(w) + tol.atol)
    if g ~= g and w == w then err = math.huge end
    if err > worst then worst, at = err, k end
  end
  assert(worst <= 0, string.format('%s: element %d: brasa %.17g, torch %.17g', name, at,
    at > 0 and got:_flat(at) or 0, at > 0 and want.data[at] or 0))
end

-- Builds the leaves and runs one golden case; returns out and the leaves.
local function run_case(c)
  local dt, inp = c.dtype, c.inputs
  local leaves, out = {}, nil
  local function L(name)
    if inp[name] then leaves[name] = leaf(inp[name], dt) end
    return leaves[name]
  end
  if c.op == 'batch_norm' then
    local rm, rv = T(inp.running_mean, dt), T(inp.running_var, dt)
    out = F.batch_norm(L'x', rm, rv, L'weight', L'bias',
      {training = c.training, momentum = c.momentum, eps = c.eps})
    close('running_mean', rm, c.running_mean_after, TOL[dt])
    close('running_var', rv, c.running_var_after, TOL[dt])
  elseif c.op == 'layer_norm' then
    out = F.layer_norm(L'x', c.normalized_shape, L'weight', L'bias', {eps = c.eps})
  elseif c.op == 'softmax' or c.op == 'log_softmax' then
    out = F[c.op](L'x', c.dim)
  elseif c.op == 'cross_entropy' or c.op == 'nll_loss' then
    local target = inp.target
    local tt = target.data[1] and math.type(target.data[1]) == 'integer' and
               brasa.tensor(target.data, I64):reshape(target.shape) or L'target'
    if #target.shape == 0 and math.type(target.data[1]) == 'integer' then
      tt = brasa.tensor(target.data[1], I64)
    end
    out = F[c.op](L'x', tt, {weight = c.class_weight and T(c.class_weight, dt),
      ignore_index = c.ignore_index, label_smoothing = c.label_smoothing, reduction = c.reduction})
  elseif c.op == 'embedding' then
    local ids = brasa.tensor(inp.ids.data, I64):reshape(inp.ids.shape)
    out = F.embedding(ids, L'weight', {padding_idx = c.padding_idx})
  else
    error('unknown op ' .. c.op)
  end
  return out, leaves
end

local function label(i, c)
  local parts = {c.op, c.dtype}
  for _, k in ipairs({'reduction', 'training', 'dim', 'ignore_index', 'label_smoothing', 'padding_idx'}) do
    if c[k] ~= nil then parts[#parts + 1] = k .. '=' .. tostring(c[k]) end
  end
  local s = c.inputs.x or c.inputs.weight
  return string.format('#%d %s %s', i, table.concat(parts, ' '), s and table.concat(s.shape, 'x') or '')
end

describe('golden values and gradients from PyTorch ' .. ref.torch_version, function()
  for i, c in ipairs(ref.cases) do
    it(label(i, c), function()
      local out, leaves = run_case(c)
      close('output', out, c.out, TOL[c.dtype])
      local names = {}
      for k in pairs(c.grads) do names[#names + 1] = k end
      table.sort(names)
      local list = {}
      for j, k in ipairs(names) do list[j] = leaves[k] end
      local gs = brasa.grad((out * T(c.W, c.dtype)):sum(), list)
      for j, k in ipairs(names) do close('d/d' .. k, gs[j], c.grads[k], TOL[c.dtype]) end
    end)
  end
end)

describe('batch_norm', function()
  it('updates the running statistics in place, outside the graph', function()
    local x = brasa.randn(16, 3, 4, {requires_grad = true})
    local rm, rv = brasa.zeros(3), brasa.ones(3)
    local y = F.batch_norm(x, rm, rv, nil, nil, {training = true, momentum = 0.25})
    local mean = x:detach():mean({1, 3})
    local var = x:detach():permute(2, 1, 3):reshape(3, -1):var(2)
    assert.is_true((rm - mean * 0.25):abs():max():item() < 1e-6)
    assert.is_true((rv - (var * 0.25 + 0.75)):abs():max():item() < 1e-5)
    assert.is_false(rm.requires_grad)
    y:sum():backward()
    -- evaluation uses them
    local e = F.batch_norm(x, rm, rv)
    local want = (x - rm:reshape(1, 3, 1)) / (rv:reshape(1, 3, 1) + 1e-5):sqrt()
    assert.is_true((e - want):abs():max():item() < 1e-5)
  end)

  it('normalises each channel to mean 0 and variance 1 in training', function()
    local x = brasa.randn(64, 5) * 3 + 7
    local y = F.batch_norm(x, nil, nil, nil, nil, {training = true})
    assert.is_true(y:mean(1):abs():max():item() < 1e-5)
    assert.is_true((y:var(1, {correction = 0}) - 1):abs():max():item() < 1e-3)
  end)

  it('gives the same results on 1 and 2 threads', function()
    local n = brasa.get_num_threads()
    local function run(threads)
      brasa.set_num_threads(threads)
      brasa.manual_seed(5)
      local x = brasa.randn({300, 7}, {requires_grad = true})
      local w = brasa.randn({7}, {requires_grad = true})
      local y = F.batch_norm(x, nil, nil, w, nil, {training = true})
      local l = F.layer_norm(x, 7, w)
      local g = brasa.grad((y * y):sum() + (l * l):sum(), {x, w})
      return {y, l, g[1], g[2]}
    end
    local a, b = run(1), run(2)
    brasa.set_num_threads(n)
    for i = 1, #a do assert.is_true(a[i]:equal(b[i]), 'result ' .. i .. ' differs') end
  end)

  it('computes f16 and bf16 in f32 and returns their dtype', function()
    local x = brasa.randn(6, 3)
    for _, dt in ipairs({'f16', 'bf16'}) do
      local y = F.batch_norm(x:to(dt), nil, nil, nil, nil, {training = true})
      assert.are.equal(dt, y.dtype)
      local want = F.batch_norm(x:to(dt):float(), nil, nil, nil, nil, {training = true})
      assert.is_true((y:float() - want):abs():max():item() < 0.02)
    end
  end)
end)

describe('layer_norm', function()
  it('normalises the trailing dims and takes eps as a number or an option', function()
    local x = brasa.randn(3, 4, 5) * 2 + 1
    local y = F.layer_norm(x, {4, 5})
    assert.is_true(y:mean({2, 3}):abs():max():item() < 1e-5)
    assert.is_true(F.layer_norm(x, 5, nil, nil, 0.1):equal(F.layer_norm(x, 5, {eps = 0.1})))
  end)
end)

describe('dropout', function()
  it('keeps about 1-p of the elements, scaled by 1/(1-p)', function()
    brasa.manual_seed(1)
    local p = 0.3
    local y = F.dropout(brasa.ones(200000), p)
    local kept = y:ne(0):double():mean():item()
    assert.is_true(math.abs(kept - (1 - p)) < 0.01, 'kept ' .. kept)
    assert.is_true((y:masked_select(y:ne(0)) - 1 / (1 - p)):abs():max():item() < 1e-6)
  end)

  it('is reproducible for a seed, and the same on 1 and 2 threads', function()
    local n = brasa.get_num_threads()
    local function draw(threads, seed)
      brasa.set_num_threads(threads)
      brasa.manual_seed(seed)
      return F.dropout(brasa.ones(100003), 0.5)
    end
    local a, b, c = draw(1, 42), draw(2, 42), draw(2, 43)
    brasa.set_num_threads(n)
    assert.is_true(a:equal(b))
    assert.is_false(a:equal(c))
  end)

  it('multiplies the gradient by the same mask', function()
    brasa.manual_seed(3)
    local x = brasa.randn({50, 40}, {requires_grad = true})
    local y = F.dropout(x, 0.6)
    local g = brasa.grad(y:sum(), x)[1]
    local mask = y:ne(0):float()
    assert.is_true((g - mask * 2.5):abs():max():item() < 1e-6)
  end)

  it('is the identity in evaluation and for p = 0; p = 1 gives zeros', function()
    local x = brasa.randn(3, 4)
    assert.are.equal(x, F.dropout(x, 0.5, false))
    assert.are.equal(x, F.dropout(x, {p = 0}))
    assert.are.equal(0, F.dropout(x, 1):abs():sum():item())
    assert.are.equal('f16', F.dropout(x:half(), 0.5).dtype)
  end)
end)

describe('embedding', function()
  it('looks rows up by 1-based id; id 0 gives zeros and no gradient', function()
    local w = brasa.tensor({{1, 2}, {3, 4}, {5, 6}}, {requires_grad = true})
    local e = F.embedding(brasa.tensor({{3, 0}, {1, 3}}, I64), w)
    assert.are.same({{{5, 6}, {0, 0}}, {{1, 2}, {5, 6}}}, e:totable())
    e:sum():backward()
    assert.are.same({{1, 1}, {0, 0}, {2, 2}}, w.grad:totable())
  end)

  it('takes i32 and u8 ids too', function()
    local w = brasa.tensor{{1, 2}, {3, 4}}
    for _, dt in ipairs({'i32', 'u8'}) do
      assert.are.same({{3, 4}, {0, 0}}, F.embedding(brasa.tensor({2, 0}, {dtype = dt}), w):totable())
    end
  end)

  it('padding_idx names a row that is looked up but gets no gradient', function()
    local w = brasa.tensor({{1, 2}, {3, 4}, {5, 6}}, {requires_grad = true})
    local e = F.embedding(brasa.tensor({2, 1, 2}, I64), w, {padding_idx = 2})
    assert.are.same({{3, 4}, {1, 2}, {3, 4}}, e:totable())
    e:sum():backward()
    assert.are.same({{1, 1}, {0, 0}, {0, 0}}, w.grad:totable())
  end)
end)

describe('softmax and log_softmax', function()
  it('are stable for large scores and default to the last dim', function()
    local x = brasa.randint(-8, 8, {4, 6}):float() / 4   -- exact after adding 1e4
    assert.is_true((F.softmax(x + 1e4) - F.softmax(x, 2)):abs():max():item() < 1e-6)
    assert.is_true((F.log_softmax(x * 1e3, -1) - F.log_softmax(x * 1e3, 2)):abs():max():item() == 0)
    assert.is_true((F.log_softmax(x):exp() - F.softmax(x)):abs():max():item() < 1e-6)
    local big = brasa.tensor({{1e30, 0}, {-1e30, 0}})
    assert.are.same({{1, 0}, {0, 1}}, F.softmax(big):totable())
    local m = brasa.tensor({{0, -math.huge, 1}})
    assert.are.equal(0, F.softmax(m)[{1, 2}])
  end)

  it('match the f64 results in f32 (the vectorised exp)', function()
    local x = brasa.randn(32, 257) * 10
    local d = F.softmax(x, 2):double() - F.softmax(x:double(), 2)
    assert.is_true(d:abs():max():item() < 1e-6)
    local l = F.log_softmax(x, 1):double() - F.log_softmax(x:double(), 1)
    assert.is_true(l:abs():max():item() < 1e-4)
  end)
end)

describe('cross_entropy and nll_loss', function()
  it('equal nll_loss of log_softmax, and the mean of the unreduced losses', function()
    local x = brasa.randn(10, 7)
    local t = brasa.randint(1, 7, {10}, I64)
    local ce = F.cross_entropy(x, t)
    assert.are.same({}, ce.shape)
    assert.is_true(math.abs(ce:item() - F.nll_loss(F.log_softmax(x, 2), t):item()) < 1e-5)
    assert.is_true(math.abs(ce:item() - F.cross_entropy(x, t, {reduction = 'none'}):mean():item()) < 1e-5)
  end)

  it('ignores the rows of ignore_index (0, the padding value, included)', function()
    local x = brasa.randn(4, 3, {requires_grad = true})
    local t = brasa.tensor({2, 0, 3, 0}, I64)
    local l = F.cross_entropy(x, t, {ignore_index = 0})
    local want = F.cross_entropy(x:index_select(1, brasa.tensor({1, 3}, I64)), brasa.tensor({2, 3}, I64))
    assert.is_true(math.abs(l:item() - want:item()) < 1e-6)
    l:backward()
    assert.are.equal(0, x.grad[2]:abs():sum():item())
  end)

  it('says so when targets look 0-based or exceed the classes', function()
    local x = brasa.randn(3, 4)
    assert.has_error(function() F.cross_entropy(x, brasa.tensor({1, 0, 2}, I64)) end,
      'cross_entropy: targets are 1-based class ids 1..4; got 0: did you pass 0-based labels?')
    assert.has_error(function() F.nll_loss(x, brasa.tensor({1, 5, 2}, I64)) end,
      'nll_loss: targets are 1-based class ids 1..4; got 5')
  end)

  it('computes f16 input in f32', function()
    local x = brasa.randn(5, 3)
    local t = brasa.tensor({1, 2, 3, 3, 1}, I64)
    local h = F.cross_entropy(x:half(), t)
    assert.are.equal('f16', h.dtype)
    assert.is_true(math.abs(h:item() - F.cross_entropy(x:half():float(), t):item()) < 1e-2)
  end)
end)

describe('bad input', function()
  local x4 = brasa.randn(8, 3, 4, 4)
  local cases = {
    {'batch_norm rank', function() F.batch_norm(brasa.randn(5), nil, nil, nil, nil, {training = true}) end,
     'batch_norm: expects input of shape [N, C] or [N, C, ...]'},
    {'batch_norm channels', function() F.batch_norm(x4, nil, nil, brasa.ones(4), nil, {training = true}) end,
     'batch_norm: weight [4] does not match the 3 channels of input [8x3x4x4]'},
    {'batch_norm eval without stats', function() F.batch_norm(x4) end,
     'batch_norm: evaluation (training = false) normalises with running_mean and running_var'},
    {'batch_norm one value per channel', function() F.batch_norm(brasa.randn(1, 3), nil, nil, nil, nil, {training = true}) end,
     'batch_norm: expected more than 1 value per channel when training, got input [1x3]'},
    {'batch_norm integer input', function() F.batch_norm(brasa.ones({2, 2}, I64), nil, nil, nil, nil, {training = true}) end,
     'batch_norm: input must be a float tensor, got i64'},
    {'batch_norm bad argument', function() F.batch_norm(x4, 3) end,
     'batch_norm: running_mean (argument 2) must be a tensor or nil, got number'},
    {'batch_norm misspelt option', function() F.batch_norm(x4, {trainig = true}) end,
     "batch_norm: unknown option 'trainig' (options: training, momentum, eps)"},
    {'cross_entropy misspelt option', function() F.cross_entropy(brasa.randn(4, 3), brasa.ones({4}, I64), {ignore = 0}) end,
     "cross_entropy: unknown option 'ignore' (options: weight, ignore_index, label_smoothing, reduction)"},
    {'layer_norm shape', function() F.layer_norm(x4, {4, 5}) end,
     'layer_norm: input [8x3x4x4] does not end with normalized_shape [4x5]'},
    {'layer_norm weight', function() F.layer_norm(x4, 4, brasa.ones(3)) end,
     'layer_norm: weight [3] does not match normalized_shape [4]'},
    {'layer_norm no shape', function() F.layer_norm(x4) end,
     'layer_norm: normalized_shape (argument 2) must be a size or a list of sizes'},
    {'dropout p', function() F.dropout(x4, 1.5) end, 'dropout: probability p must be in [0, 1], got 1.5'},
    {'dropout integer', function() F.dropout(brasa.ones({2}, I64), 0.5) end,
     'dropout: input must be a float tensor, got i64'},
    {'embedding float ids', function() F.embedding(brasa.ones(3), brasa.randn(4, 2)) end,
     'embedding: ids must be an integer tensor (i64) of 1-based ids, got f32'},
    {'embedding weight rank', function() F.embedding(brasa.ones({3}, I64), brasa.randn(4)) end,
     'embedding: weight must be 2-D [num_embeddings x embedding_dim], got [4]'},
    {'embedding id range', function() F.embedding(brasa.tensor({1, 5}, I64), brasa.randn(4, 2)) end,
     'embedding: id 5 is out of range for 4 embeddings (ids are 1..4, and 0 for padding)'},
    {'embedding negative id', function() F.embedding(brasa.tensor({-1}, I64), brasa.randn(4, 2)) end,
     'embedding: id -1 is out of range for 4 embeddings'},
    {'softmax integer', function() F.softmax(brasa.ones({3}, I64)) end,
     'softmax: expects a float tensor, got i64'},
    {'softmax dim', function() F.log_softmax(brasa.randn(2, 3), 3) end, 'dim 3 out of range'},
    {'cross_entropy target shape', function() F.cross_entropy(brasa.randn(4, 3), brasa.ones({5}, I64)) end,
     'cross_entropy: target [5] does not match input [4x3]: expected target [4]'},
    {'cross_entropy target dtype', function() F.cross_entropy(brasa.randn(4, 3), brasa.ones({4}, {dtype = 'bool'})) end,
     'cross_entropy: target must hold integer class ids (i64, 1-based) or probabilities'},
    {'cross_entropy weight', function() F.cross_entropy(brasa.randn(4, 3), brasa.ones({4}, I64), {weight = brasa.ones(4)}) end,
     'cross_entropy: weight must be a float tensor of one weight per class [3], got f32 [4]'},
    {'cross_entropy smoothing', function() F.cross_entropy(brasa.randn(4, 3), brasa.ones({4}, I64), {label_smoothing = 2}) end,
     'cross_entropy: label_smoothing must be in [0, 1], got 2'},
    {'cross_entropy reduction', function() F.cross_entropy(brasa.randn(4, 3), brasa.ones({4}, I64), {reduction = 'avg'}) end,
     "cross_entropy: reduction must be 'mean', 'sum' or 'none', got avg"},
    {'cross_entropy probabilities shape', function() F.cross_entropy(brasa.randn(4, 3), brasa.rand(4, 2)) end,
     'cross_entropy: probability targets must have the input\'s shape [4x3], got [4x2]'},
    {'nll_loss 0-dim input', function() F.nll_loss(brasa.tensor(1.0), brasa.tensor(1, I64)) end,
     'nll_loss: input must be [N, C]'},
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local ok, err = pcall(c[2])
      assert.is_false(ok, 'no error')
      assert(tostring(err):find(c[3], 1, true), 'message: ' .. tostring(err))
    end)
  end

  it('leaves the running statistics untouched when a call fails', function()
    local rm, rv = brasa.zeros(3), brasa.ones(3)
    pcall(F.batch_norm, x4, rm, rv, brasa.ones(4), nil, {training = true})
    assert.are.same({0, 0, 0}, rm:totable())
    assert.are.same({1, 1, 1}, rv:totable())
  end)
end)

describe('documentation', function()
  local doc = require 'brasa.docs'
  local names = {'batch_norm', 'layer_norm', 'dropout', 'embedding', 'softmax', 'log_softmax',
                 'cross_entropy', 'nll_loss'}
  for _, f in ipairs(names) do
    local n = 'brasa.nn.functional.' .. f
    it('runs the example of ' .. n .. ' and shows what it prints', function()
      local e = doc.get(n)
      assert(e, 'no doc entry for ' .. n)
      assert.are.equal(e, doc.get(F[f]), f .. ' is not bound to its entry')
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
            assert.are.equal(shown:gsub('%s+', ''), got, n .. ': line ' .. k)
          end
        end
      end
    end)
  end
end)
