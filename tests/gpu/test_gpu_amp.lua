-- tests/gpu/test_gpu_amp.lua: mixed precision (brasa.amp) on the GPU
-- against the CPU reference.
--
--   build/brasa tests/gpu/test_gpu_amp.lua [filter]
--
-- f16 autocast on CUDA (cuBLAS and cuDNN in f16 with f32 accumulation)
-- against f16 autocast on the CPU (which rounds the same inputs to f16 and
-- computes in f32): results within f16's tolerance, relative to the sums of
-- magnitudes for products; the f32 ops (softmax, losses, reductions) take
-- the halves in f32 on both; gradients reach f32 parameters in f32; the
-- GradScaler's overflow check works on device gradients; a small MLP trains
-- with f16 autocast and a GradScaler, by hand and through fit{amp = 'f16'}.
--
-- The harness is tests/gpu/test_gpu.lua's: without a usable GPU this prints
-- why and exits 0 (a skip); BRASA_GPU_TEST_FAKE=1 runs it with the CPU
-- standing in for the GPU (then both sides are CPU f16 autocast and agree
-- exactly), a check of the suite itself.

local brasa = require 'brasa'
local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local H = dofile(here .. 'test_gpu.lua')   -- the harness (its tests are not run here)
local amp, nn, optim = brasa.amp, brasa.nn, brasa.optim
local F = nn.functional

local FAKE, DEV = H.FAKE, H.DEV
local close, expect_error = H.close, H.expect_error
local ON_DEV = {device = FAKE and 'cpu' or 'cuda', dtype = 'f16'}   -- autocast where the "GPU" tensors are
local ON_CPU = {device = 'cpu', dtype = 'f16'}

local M = {}
local tests = {}
local function test(name, fn) tests[#tests + 1] = {name = name, fn = fn} end

-- The largest of t (a CPU or GPU tensor) in absolute value, as a number.
local function maxabs(t) return t:cpu():double():abs():max():item() end

-- fn(tensors...) under f16 autocast on the device and on the CPU from the
-- same inputs (CPU tensors given, moved for the device side).
local function both(fn, ...)
  local cpu_in, dev_in = {...}, {}
  for i, t in ipairs(cpu_in) do dev_in[i] = t:cuda() end
  local g = amp.autocast(fn, ON_DEV, table.unpack(dev_in))
  local c = amp.autocast(fn, ON_CPU, table.unpack(cpu_in))
  return g, c
end

-- ---- lower-precision ops -------------------------------------------------------------------

test('amp: f16 matmul, bmm and linear against the CPU', function()
  brasa.manual_seed(21)
  local a, b = brasa.randn(33, 70), brasa.randn(70, 45)
  local g, c = both(function(x, y) return x:matmul(y) end, a, b)
  assert(g.dtype == 'f16', 'matmul under autocast gives ' .. g.dtype)
  local scale = maxabs(a:abs():matmul(b:abs()))
  close('matmul f16', g, c, 2e-3, 2e-3 * scale)
  local a3, b3 = brasa.randn(3, 17, 40), brasa.randn(3, 40, 9)
  g, c = both(function(x, y) return x:bmm(y) end, a3, b3)
  close('bmm f16', g, c, 2e-3, 2e-3 * maxabs(a3:abs():bmm(b3:abs())))
  local lin = nn.Linear(40, 24)
  local x = brasa.randn(16, 40)
  local w, bias = lin.weight:detach(), lin.bias:detach()
  g, c = both(function(xx, ww, bb) return F.linear(xx, ww, bb) end, x, w, bias)
  assert(g.dtype == 'f16', 'linear under autocast gives ' .. g.dtype)
  close('linear f16', g, c, 2e-3, 2e-3 * (maxabs(x:abs():matmul(w:abs():t())) + maxabs(bias)))
end)

test('amp: f16 convolutions against the CPU', function()
  brasa.manual_seed(22)
  local x, w, b = brasa.randn(4, 8, 12, 12), brasa.randn(16, 8, 3, 3) * 0.2, brasa.randn(16)
  local g, c = both(function(xx, ww, bb) return F.conv2d(xx, ww, bb, {padding = 1}) end, x, w, b)
  assert(g.dtype == 'f16', 'conv2d under autocast gives ' .. g.dtype)
  local scale = maxabs(F.conv2d(x:abs(), w:abs(), nil, {padding = 1})) + maxabs(b)
  -- cuDNN accumulates in f32, in its own order: a few f16 ulps of the sum of magnitudes
  close('conv2d f16', g, c, 5e-3, 5e-3 * scale)
  local x1, w1 = brasa.randn(2, 4, 30), brasa.randn(6, 4, 5) * 0.3
  g, c = both(function(xx, ww) return F.conv1d(xx, ww) end, x1, w1)
  close('conv1d f16', g, c, 5e-3, 5e-3 * maxabs(F.conv1d(x1:abs(), w1:abs())))
  local xt, wt = brasa.randn(2, 6, 5, 5), brasa.randn(6, 3, 3, 3) * 0.3
  g, c = both(function(xx, ww) return F.conv_transpose2d(xx, ww, nil, {stride = 2}) end, xt, wt)
  close('conv_transpose2d f16', g, c, 5e-3, 5e-3 * maxabs(F.conv_transpose2d(xt:abs(), wt:abs(), nil, {stride = 2})))
end)

-- ---- f32 ops ---------------------------------------------------------------------------------

test('amp: softmax, losses and reductions take f16 inputs in f32', function()
  brasa.manual_seed(23)
  local h = (brasa.randn(32, 10) * 3):to('f16')
  local y = brasa.randint(1, 10, 32)
  local t = brasa.randn(32, 10)
  local cases = {
    {'softmax', function(a) return F.softmax(a, 2) end},
    {'log_softmax', function(a) return F.log_softmax(a, 2) end},
    {'cross_entropy', function(a, yy) return F.cross_entropy(a, yy) end},
    {'cross_entropy none', function(a, yy) return F.cross_entropy(a, yy, {reduction = 'none'}) end},
    {'nll_loss', function(a, yy) return F.nll_loss(a, yy) end},
    {'mse_loss', function(a, _, tt) return F.mse_loss(a, tt) end},
    {'sum', function(a) return a:sum(2) end},
    {'mean', function(a) return a:mean() end},
    {'norm', function(a) return a:norm() end},
    {'logsumexp', function(a) return a:logsumexp(2) end},
  }
  for _, case in ipairs(cases) do
    local g, c = both(case[2], h, y, t)
    assert(g.dtype == 'f32', case[1] .. ' under autocast gives ' .. g.dtype)
    close(case[1], g, c, 1e-5, 1e-6)
  end
end)

-- ---- gradients ---------------------------------------------------------------------------------

test('amp: gradients reach f32 parameters in f32', function()
  brasa.manual_seed(24)
  local cpu_model = nn.Sequential{nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5)}
  local dev_model = nn.Sequential{nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 5)}
  brasa.no_grad(function()
    for i, p in ipairs(dev_model:parameters()) do p:copy(cpu_model:parameters()[i]) end
  end)
  dev_model:to(DEV)
  local x, y = brasa.randn(48, 20), brasa.randint(1, 5, 48)
  local function loss_of(model, xx, yy) return F.cross_entropy(model(xx), yy) end
  local lg = amp.autocast(loss_of, ON_DEV, dev_model, x:cuda(), y:cuda())
  local lc = amp.autocast(loss_of, ON_CPU, cpu_model, x, y)
  assert(lg.dtype == 'f32', 'the loss is ' .. lg.dtype)
  close('loss', lg, lc, 2e-3, 2e-3)
  lg:backward()
  lc:backward()
  for i, p in ipairs(dev_model:parameters()) do
    local q = cpu_model:parameters()[i]
    assert(p.grad and p.grad.dtype == 'f32', 'gradient ' .. i .. ' is not f32')
    close('gradient ' .. i, p.grad, q.grad, 1e-2, 1e-2 * (maxabs(q.grad) + 1e-3))
  end
end)

test('amp: the GradScaler checks device gradients', function()
  local a = brasa.randn(300, 7, {device = DEV, requires_grad = true})
  local b = brasa.randn(9, {device = DEV, requires_grad = true})
  local opt = optim.SGD({a, b}, {lr = 0.5})
  local scaler = amp.GradScaler{init_scale = 64}
  local before = a:detach():cpu():clone()
  opt:zero_grad()
  scaler:scale(a:sum() * 2 + b:sum()):backward()
  scaler:unscale_(opt)
  close('unscaled gradient', a.grad, brasa.full(300, 7, 2), 0, 0)
  scaler:step(opt)
  scaler:update()
  close('a step was taken', a:detach(), before - 1, 1e-6, 1e-6)
  assert(scaler:get_scale() == 64, 'the scale changed without an overflow')
  opt:zero_grad()
  scaler:scale(a:sum() + b:sum()):backward()
  brasa.no_grad(function() b.grad:narrow(1, 9, 1):fill_(0 / 0) end)
  local held = a:detach():cpu():clone()
  scaler:step(opt)
  scaler:update()
  close('the step was skipped', a:detach(), held, 0, 0)
  assert(scaler:get_scale() == 32, 'no backoff after a NaN: ' .. scaler:get_scale())
  local core_amp = require('brasa.core')._amp
  local g = brasa.tensor({{1, 2, 3}, {4, 1 / 0, 6}}):cuda():t()
  assert(core_amp.unscale({brasa.ones(5):cuda(), g}, 0.5), 'an inf in a strided device gradient was missed')
end)

-- ---- training ----------------------------------------------------------------------------------

-- Two interleaved spirals, 2 classes (inputs 2-D), as CPU tensors.
local function spirals(n)
  local t = brasa.linspace(0.2, 3.5, n)
  local r = t / 3.5
  local x1 = brasa.stack({r * t:cos(), r * t:sin()}, 2)
  local x = brasa.cat({x1, -x1}, 1) + brasa.randn(2 * n, 2) * 0.02
  local y = brasa.cat({brasa.ones(n, {dtype = 'i64'}), brasa.full(n, 2, {dtype = 'i64'})}, 1)
  return x, y
end

test('amp: a small MLP trains with f16 autocast and a GradScaler', function()
  brasa.manual_seed(25)
  local x, y = spirals(200)
  local xd, yd = x:cuda(), y:cuda()
  local model = nn.Sequential{nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2)}
  model:to(DEV)
  local opt = optim.Adam(model:parameters(), {lr = 1e-2})
  local scaler = amp.GradScaler{growth_interval = 20}
  local first, last
  for step = 1, 300 do
    opt:zero_grad()
    local loss = amp.autocast(function() return F.cross_entropy(model(xd), yd) end, ON_DEV)
    scaler:scale(loss):backward()
    scaler:step(opt)
    scaler:update()
    local v = loss:item()
    if step == 1 then first = v end
    last = v
  end
  for _, p in ipairs(model:parameters()) do assert(p.dtype == 'f32', 'a parameter became ' .. p.dtype) end
  assert(last < first / 4, string.format('the loss went from %.4f to %.4f', first, last))
  local acc = brasa.no_grad(function() return brasa.metrics.accuracy(y, model(xd):cpu()) end)
  assert(acc > 0.9, 'training accuracy ' .. acc)
  local s = scaler:get_scale()
  assert(s > 0 and s < math.huge, 'scale ' .. s)
end)

test("amp: fit{amp = 'f16'} trains on the device", function()
  brasa.manual_seed(26)
  local x, y = spirals(200)
  local model = nn.Sequential{nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2)}
  model:to(DEV)
  local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 1e-2}),
                                epochs = 30, batch_size = 50, verbose = 0, metrics = {'accuracy'}, amp = 'f16'})
  assert(not amp.is_autocast_enabled(), 'fit left autocast on')
  assert(hist.history.loss[30] < hist.history.loss[1] / 3, 'the loss did not fall')
  assert(hist.history.accuracy[30] > 0.9, 'accuracy ' .. hist.history.accuracy[30])
  expect_error('a bad amp dtype', function() model:fit(x, y, {amp = 'f32', verbose = 0}) end, "'f16' or 'bf16'")
end)

-- ---- the runner -----------------------------------------------------------------------------------

function M.run(filter) return H.run_tests(tests, filter) end

M.tests = tests

H.main('tests/gpu/test_gpu_amp.lua', M.run)

return M
