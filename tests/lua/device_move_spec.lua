-- Moving tensors and models in place: x:set_(y), Module:to / cuda / cpu
-- keeping parameter identity, optimiser state following its parameters,
-- fit's device option, and the nonzero kernel family (CPU side; the GPU side
-- is tests/gpu/test_gpu_optim.lua).

local brasa = require 'brasa'
local nn, optim = brasa.nn, brasa.optim

local function err(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, 'no error')
  return tostring(e)
end

local function same_values(a, b)
  assert.are.same(a.shape, b.shape)
  assert.is_true(a:double():equal(b:double()), 'values differ')
end

describe('x:set_(y)', function()
  it('takes y\'s memory, dtype and shape, keeping its identity and requires_grad', function()
    local w = brasa.ones(2, 3, {requires_grad = true})
    local list, keyed = {w}, {[w] = 'w'}
    local y = brasa.arange(1, 4, 1, {dtype = 'f64'})
    assert.are.equal(w, w:set_(y))
    assert.are.equal(w, list[1])
    assert.are.equal('w', keyed[w])
    assert.are.equal('f64', w.dtype)
    assert.are.same({4}, w.shape)
    assert.is_true(w.requires_grad and w.is_leaf)
    assert.is_true(w:equal(y))
    y:fill_(7)   -- shared memory, as a view
    assert.are.equal(7, w[2])
  end)

  it('keeps a gradient that fits and drops one that does not', function()
    local w = brasa.ones(3, {requires_grad = true})
    w.grad = brasa.full(3, 2)
    w:set_(brasa.zeros(3))
    assert.is_true(w.grad:equal(brasa.full(3, 2)))
    w:set_(brasa.zeros(3, {dtype = 'f64'}))
    assert.is_nil(w.grad)
    w.grad = brasa.ones(3, {dtype = 'f64'})
    w:set_(brasa.zeros(2, {dtype = 'f64'}))
    assert.is_nil(w.grad)
  end)

  it('a graph that saved the tensor refuses to run backward after', function()
    local w = brasa.ones(3, {requires_grad = true})
    local y = (w * w):sum()
    w:set_(brasa.zeros(3))
    assert.matches('modified', err(function() y:backward() end))
  end)

  it('refuses non-leaves and integer memory for a tensor that requires grad', function()
    local w = brasa.ones(3, {requires_grad = true})
    local z = w * 2
    assert.matches('not a leaf', err(function() z:set_(brasa.zeros(3)) end))
    assert.matches('requires grad', err(function() w:set_(brasa.zeros(3, {dtype = 'i64'})) end))
    assert.are.equal('f32', w.dtype)   -- unchanged after the errors
    assert.are.equal(w, w:set_(w))
    assert.matches('tensor expected', err(function() w:set_(3) end))
  end)
end)

describe('Module:to, cuda, cpu', function()
  local function net()
    brasa.manual_seed(3)
    return nn.Sequential{nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)}
  end

  it("to('f64') converts in place: the same tensors, gradients too", function()
    local m = net()
    local params = m:parameters()
    local before = {}
    for i, p in ipairs(params) do before[i] = p:detach():clone() end
    m(brasa.randn(5, 3)):sum():backward()
    local g1 = params[1].grad:clone()
    local rm = m[2].running_mean
    assert.are.equal(m, m:to('float64'))
    local after = m:parameters()
    for i, p in ipairs(params) do
      assert.are.equal(p, after[i])
      assert.are.equal('f64', p.dtype)
      assert.is_true(p.is_leaf and p.requires_grad)
      same_values(p, before[i])
    end
    assert.are.equal('f64', params[1].grad.dtype)
    same_values(params[1].grad, g1)
    assert.are.equal(rm, m[2].running_mean)
    assert.are.equal('f64', rm.dtype)
    assert.are.equal('i64', m[2].num_batches_tracked.dtype)
    assert.are.equal('f64', m(brasa.randn(5, 3, {dtype = 'f64'})).dtype)
  end)

  it('an optimiser built before keeps training; its state follows (Adam, amsgrad)', function()
    local x, y = brasa.randn(8, 3), brasa.randn(8, 2)
    local function run(convert_after)
      local m = net()
      local opt = optim.Adam(m:parameters(), {lr = 0.01, amsgrad = true, weight_decay = 0.1})
      local loss_fn = nn.MSELoss()
      for step = 1, 4 do
        if step == 3 and convert_after then m:to('f64') end
        local xs, ys = x, y
        if m:parameters()[1].dtype == 'f64' then xs, ys = x:double(), y:double() end
        opt:zero_grad()
        loss_fn(m(xs), ys):backward()
        opt:step()
      end
      return m, opt
    end
    local m, opt = run(true)
    for _, p in ipairs(m:parameters()) do
      local st = opt.state[p]
      assert.are.equal(4, st.step)
      for _, k in ipairs({'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'}) do
        assert.are.equal('f64', st[k].dtype, k)
        assert.are.equal(p.device, st[k].device)
      end
    end
    -- the same run all in f32 stays close: the state was carried over, not reset
    local m32 = run(false)
    for i, p in ipairs(m:parameters()) do
      local d = (p - m32:parameters()[i]:double()):abs():max():item()
      assert.is_true(d < 1e-4, 'parameter ' .. i .. ' differs by ' .. d)
    end
  end)

  it('SGD with momentum after p:set_ by hand: the buffer follows', function()
    local w = brasa.tensor({1, 2}, {requires_grad = true})
    local opt = optim.SGD({w}, {lr = 0.1, momentum = 0.9})
    w.grad = brasa.tensor{1, 1}
    opt:step()
    brasa.no_grad(function() w:set_(w:double()) end)
    w.grad = brasa.tensor({1, 1}, {dtype = 'f64'})
    opt:step()
    assert.are.equal('f64', opt.state[w].momentum_buffer.dtype)
    -- buf = 0.9 * 1 + 1 = 1.9; w = 1 - 0.1 - 0.19
    assert.is_true(math.abs(w[1] - (1 - 0.1 - 0.19)) < 1e-6)
  end)

  it('cpu() on a CPU model changes nothing; shared parameters stay shared', function()
    local shared = nn.Linear(2, 2)
    local m = nn.Sequential{shared, nn.Tanh(), shared}
    local w = shared.weight
    assert.are.equal(m, m:cpu())
    assert.are.equal(w, m[1].weight)
    m:double()
    assert.are.equal(w, m[3].weight)
    assert.are.equal(2, #m:parameters())
    assert.are.equal('cpu', w.device)
  end)

  it('bad targets fail clearly and leave the model as it was', function()
    local m = net()
    local w = m[1].weight
    assert.matches("a dtype %('f64', ...%) or a device", err(function() m:to({}) end))
    assert.matches('floating dtype', err(function() m:to('i64') end))
    assert.matches('unknown dtype', err(function() m:to('f65') end))
    if not brasa.cuda.is_available() then
      local e = err(function() m:cuda() end)
      assert.matches('CUDA', e)
    end
    assert.are.equal('f32', w.dtype)
    assert.are.equal('cpu', w.device)
    assert.are.equal(w, m[1].weight)
  end)
end)

describe('fit with a device', function()
  it("device = 'cpu' trains as before; a bad device fails naming it", function()
    brasa.manual_seed(1)
    local x = brasa.randn(40, 3)
    local y = (x:sum(2) + 0.5):reshape(40, 1)
    local m = nn.Sequential{nn.Linear(3, 1)}
    local opt = optim.SGD(m:parameters(), {lr = 0.05})
    local hist = m:fit(x, y, {loss = nn.MSELoss(), optimizer = opt, epochs = 3, batch_size = 8,
                              verbose = 0, device = 'cpu', metrics = {'mae'}})
    assert.are.equal(3, #hist.history.loss)
    assert.is_true(hist.history.loss[3] < hist.history.loss[1])
    assert.is_number(hist.history.mae[3])
    assert.matches('device must be a device name', err(function()
      m:fit(x, y, {loss = nn.MSELoss(), verbose = 0, device = 1})
    end))
    if not brasa.cuda.is_available() then
      assert.matches('CUDA', err(function() m:fit(x, y, {loss = nn.MSELoss(), verbose = 0, device = 'cuda'}) end))
      assert.are.equal('cpu', m[1].weight.device)
    end
  end)
end)

describe('fit reading losses back in batches (as on a GPU)', function()
  local train = require 'brasa.train'

  local function run(defer, extra)
    train._defer_always = defer
    brasa.manual_seed(4)
    local x = brasa.randn(90, 5)
    local y = x:narrow(2, 1, 3):argmax(2)
    local m = nn.Sequential{nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)}
    local opts = {loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(m:parameters(), {lr = 0.2}),
                  epochs = 2, batch_size = 2, shuffle = false, validation_split = 0.2,
                  metrics = {'accuracy', 'top2_accuracy', 'f1'}, verbose = 0}
    for k, v in pairs(extra or {}) do opts[k] = v end
    local ok, hist = pcall(m.fit, m, x, y, opts)
    local r = ok and m:evaluate(x, y, {verbose = 0, batch_size = 1})
    train._defer_always = false
    assert(ok, hist)
    return hist, r
  end

  it('gives the same history and evaluation, exactly', function()
    local h1, r1 = run(false)
    local h2, r2 = run(true)   -- 36 batches: one read after 32, the rest at the end
    for _, k in ipairs({'loss', 'accuracy', 'top2_accuracy', 'f1', 'val_loss', 'val_accuracy', 'val_top2_accuracy', 'val_f1'}) do
      assert.are.same(h1.history[k], h2.history[k], k)
    end
    assert.are.same(r1, r2)
  end)

  it('stops at a NaN loss naming its batch', function()
    local calls = 0
    local function loss(out, t)
      calls = calls + 1
      local l = nn.CrossEntropyLoss()(out, t)
      return calls == 7 and l * (0 / 0) or l
    end
    local h1 = run(false, {loss = loss})
    calls = 0
    local h2 = run(true, {loss = loss})
    assert.are.equal('nan', h1.stop_reason)
    assert.are.equal('nan', h2.stop_reason)
    assert.are.equal(0, #h2.epoch)
  end)
end)

describe('the nonzero kernel family', function()
  it('keeps C order across the CPU kernel\'s blocks', function()
    local n = 200003   -- several blocks of 65536, a ragged last one
    local m = brasa.zeros(n, {dtype = 'bool'})
    local want = {3, 65536, 65537, 131072, 199999, n}
    for _, i in ipairs(want) do m[i] = true end
    local nz = m:nonzero()
    assert.are.same({#want, 1}, nz.shape)
    for r, i in ipairs(want) do assert.are.equal(i, nz[{r, 1}]) end
    local x = brasa.arange(1, n)
    assert.are.same(want, x[m]:long():totable())
  end)

  it('coordinates of a 3-D mask, a 0-dim tensor and an empty one', function()
    local t = brasa.tensor{{{0, 1}, {2, 0}}, {{0, 0}, {0, 3}}}
    assert.are.same({{1, 1, 2}, {1, 2, 1}, {2, 2, 2}}, t:nonzero():totable())
    assert.are.same({1, 0}, brasa.tensor(5):nonzero().shape)
    assert.are.same({0, 0}, brasa.tensor(0):nonzero().shape)
    assert.are.same({0, 2}, brasa.zeros(0, 3):nonzero().shape)
  end)
end)

describe('clip_grad_norm with an infinite norm', function()
  it('keeps a NaN from an earlier gradient (torch.max propagates it)', function()
    local a, b = brasa.zeros(3, {requires_grad = true}), brasa.zeros(2, {requires_grad = true})
    a.grad, b.grad = brasa.tensor{1, 0 / 0, 3}, brasa.tensor{0.5, 0.25}
    local t = optim.clip_grad_norm({a, b}, 1, 'inf')
    assert.is_true(t ~= t, 'got ' .. tostring(t))
    a.grad, b.grad = brasa.tensor{1, -4, 3}, brasa.tensor{0.5, 0.25}   -- (the NaN norm scaled b's by NaN, as PyTorch)
    assert.are.equal(4, optim.clip_grad_norm({a, b}, 100, 'inf'))
  end)
end)
