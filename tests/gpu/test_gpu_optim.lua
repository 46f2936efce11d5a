-- tests/gpu/test_gpu_optim.lua: training on the GPU end to end against the
-- CPU: the fused optimiser kernels (core/cuda/optim.cu), gradient clipping,
-- nonzero / masked_select / boolean indexing (core/cuda/nonzero.cu),
-- model:cuda() with an optimiser built before, and fit / evaluate / predict
-- on a GPU.
--
--   build/brasa tests/gpu/test_gpu_optim.lua [filter]
--
-- Uses the harness of tests/gpu/test_gpu.lua (same skip rule, same fake
-- mode: BRASA_GPU_TEST_FAKE=1 runs it with the CPU standing in for the GPU).
-- Used as a module (dofile), it returns {run = function(filter) -> passed, failed}.
--
-- The optimiser kernels follow cpu/optim.c operation by operation with the
-- same rounding (no fused multiply-adds), so parameters and states must
-- agree with the CPU's exactly, in every float dtype. Why exactness holds:
-- the CPU library is C11 (-std=c11: GCC never contracts a * b + c there,
-- not even in the AVX2/AVX-512 clones of the spans, whose objects hold no
-- FMA instruction); the kernels round every operation with __fmul_rn and
-- kin (their PTX has no fma and only .rn arithmetic); IEEE division and
-- square root are correctly rounded on both; the host scalars come from the
-- same libm and are kept from contraction (optim.cu: host_mul). Gradient norms are
-- summed in another order: within 1e-12 relative. Training runs go through
-- matmul (cuBLAS), so they agree within f32 rounding.

local source = debug.getinfo(1, 'S').source:match('^@(.*)$') or ''
local here = source:match('^(.*)/[^/]*$') or '.'
package.path = here .. '/?.lua;' .. package.path
local H = require 'test_gpu'

local brasa = require 'brasa'
local nn, optim = brasa.nn, brasa.optim

local FAKE, DEV = H.FAKE, H.DEV
local close, expect_error, values, pair, grad_pair = H.close, H.expect_error, H.values, H.pair, H.grad_pair

local tests = {}
local function test(name, fn, gpu_only) tests[#tests + 1] = {name = name, fn = fn, gpu_only = gpu_only} end

local FLOATS = {'f32', 'f64', 'f16', 'bf16'}

-- ---- optimisers ---------------------------------------------------------------------------

-- Every family with the options that take other paths through its kernel.
local CONFIGS = {
  {'SGD', {lr = 0.1}},
  {'SGD', {lr = 0.1, momentum = 0.9, dampening = 0.2, weight_decay = 0.05}},
  {'SGD', {lr = 0.1, momentum = 0.9, nesterov = true, maximize = true}},
  {'Adam', {lr = 0.01}},
  {'Adam', {lr = 0.01, amsgrad = true, weight_decay = 0.1}},
  {'AdamW', {lr = 0.01, weight_decay = 0.1}},
  {'AdamW', {lr = 0.01, amsgrad = true, maximize = true}},
  {'RMSprop', {lr = 0.01}},
  {'RMSprop', {lr = 0.01, centered = true, momentum = 0.5, weight_decay = 0.1}},
  {'RMSprop', {lr = 0.01, momentum = 0.3}},
  {'Adagrad', {lr = 0.1, lr_decay = 0.01, weight_decay = 0.1}},
  {'Adadelta', {lr = 1.0, weight_decay = 0.1}},
  {'Adadelta', {rho = 0.8, maximize = true}},
}

local function describe_opts(o)
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do keys[i] = k .. '=' .. tostring(o[k]) end
  return table.concat(keys, ' ')
end

-- Three steps of one optimiser from the same parameter and gradients on
-- both devices: parameters and every state tensor must agree exactly.
local function same_steps(name, opts, dt, strided)
  local what = string.format('%s {%s} %s%s', name, describe_opts(opts), dt, strided and ' strided' or '')
  local cp, gp = pair({7, 33}, dt, 'normal', strided)
  local oc, og = optim[name]({cp}, opts), optim[name]({gp}, opts)
  for step = 1, 3 do
    local g = values({7, 33}):to(dt)
    if step == 2 then g[{1, 1}] = 0 end   -- a zero gradient (Adagrad's, RMSprop's sqrt(0))
    cp.grad = g
    gp.grad = g:cuda()
    oc:step()
    og:step()
    close(what .. ' step ' .. step, gp, cp, 0, 0)
  end
  local sc, sg = oc.state[cp], og.state[gp]
  for k, v in pairs(sc) do
    if brasa.is_tensor(v) then
      close(what .. ' state ' .. k, sg[k], v, 0, 0)
    else
      assert(sg[k] == v, what .. ': state ' .. k .. ' is ' .. tostring(sg[k]) .. ', expected ' .. tostring(v))
    end
  end
end

test('optimiser steps match the CPU exactly (every family, every float dtype)', function()
  for _, dt in ipairs(FLOATS) do
    for _, c in ipairs(CONFIGS) do same_steps(c[1], c[2], dt, false) end
  end
  same_steps('Adam', {lr = 0.01, amsgrad = true}, 'f32', true)   -- a non-contiguous parameter
  same_steps('SGD', {lr = 0.1, momentum = 0.9}, 'f64', true)
end)

-- got (on the device) equals want (CPU) element for element, for tensors
-- too large for close's Lua loop (no NaN expected).
local function same_exact(what, got, want)
  assert(FAKE or got.device:match('^cuda'), what .. ': on ' .. got.device)
  assert(table.concat(got.shape, 'x') == table.concat(want.shape, 'x'), what .. ': shapes differ')
  assert(got.dtype == want.dtype, what .. ': dtype ' .. got.dtype .. ', expected ' .. want.dtype)
  local bad = got:cpu():ne(want):sum():item()
  assert(bad == 0, string.format('%s: %d of %d elements differ from the CPU', what, bad, want:numel()))
end

-- Past one grid: the kernels cap their grids at 16 blocks of 256 threads
-- per multiprocessor (540672 threads on a 132-SM H100/H200), so 2^20 + 3
-- elements take the threads through the grid-stride loop at least twice,
-- with a ragged end. Empty parameters must launch nothing and fail nothing.
test('optimiser steps past one grid and on empty parameters', function()
  local n = (1 << 20) + 3
  local big = {
    {'SGD', {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 0.01}, 'f32'},
    {'Adam', {lr = 0.01, amsgrad = true, weight_decay = 0.1}, 'f32'},
    {'AdamW', {lr = 0.01, weight_decay = 0.1}, 'bf16'},
    {'RMSprop', {lr = 0.01, centered = true, momentum = 0.5}, 'f32'},
    {'Adagrad', {lr = 0.1, lr_decay = 0.01}, 'f64'},
    {'Adadelta', {rho = 0.8}, 'f16'},
  }
  for _, c in ipairs(big) do
    local name, opts, dt = c[1], c[2], c[3]
    local what = string.format('%s %s n=%d', name, dt, n)
    local cp = brasa.randn(n, {dtype = dt, requires_grad = true})
    local gp = cp:detach():cuda():requires_grad_()
    local oc, og = optim[name]({cp}, opts), optim[name]({gp}, opts)
    for step = 1, 3 do
      local g = brasa.randn(n, {dtype = dt})
      cp.grad, gp.grad = g, g:cuda()
      oc:step()
      og:step()
      same_exact(what .. ' step ' .. step, gp:detach(), cp:detach())
    end
    for k, v in pairs(oc.state[cp]) do
      if brasa.is_tensor(v) then same_exact(what .. ' state ' .. k, og.state[gp][k], v) end
    end
  end
  for _, c in ipairs(CONFIGS) do
    local p = brasa.zeros(0, {device = DEV, requires_grad = true})
    local opt = optim[c[1]]({p}, c[2])
    for _ = 1, 2 do
      p.grad = brasa.zeros(0, {device = DEV})
      opt:step()
    end
    assert(p.shape[1] == 0 and p.device == DEV:gsub('^cuda$', 'cuda:0'), c[1] .. ': empty parameter')
  end
  local e = brasa.zeros(0, 3, {device = DEV, requires_grad = true})
  e.grad = brasa.zeros(0, 3, {device = DEV})
  assert(optim.clip_grad_norm({e}, 1) == 0, 'norm of an empty gradient')
  optim.clip_grad_value({e}, 0.5)
end)

test('optimiser state is made on the parameter\'s device; errors name the state', function()
  local p = brasa.randn(5, {device = DEV, requires_grad = true})
  local opt = optim.Adam({p}, {amsgrad = true})
  p.grad = brasa.ones(5, {device = DEV})
  opt:step()
  for _, k in ipairs({'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'}) do
    assert(opt.state[p][k].device == p.device, k .. ' on ' .. opt.state[p][k].device)
  end
  if not FAKE then
    p.grad = brasa.ones(5)   -- a CPU gradient for a GPU parameter
    expect_error('a gradient on another device', function() opt:step() end, 'another device')
  end
end)

test('clip_grad_norm and clip_grad_value match the CPU', function()
  for _, dt in ipairs(FLOATS) do
    for _, p in ipairs({2, 1, 3, math.huge}) do
      local cs, gs = {}, {}
      for i, shape in ipairs({{40, 50}, {7}, {3, 1000}}) do
        local c, g = pair(shape, dt, 'normal', i == 1)
        cs[i] = brasa.zeros(shape, {dtype = dt, requires_grad = true})
        gs[i] = brasa.zeros(shape, {dtype = dt, device = DEV, requires_grad = true})
        cs[i].grad, gs[i].grad = c, g
      end
      local tc = optim.clip_grad_norm(cs, 0.5, p)
      local tg = optim.clip_grad_norm(gs, 0.5, p)
      local what = string.format('clip_grad_norm %s p=%s', dt, tostring(p))
      assert(math.abs(tg - tc) <= 1e-12 * math.abs(tc), string.format('%s: total %.17g on the GPU, %.17g on the CPU', what, tg, tc))
      local tol = H.TOL[dt]
      for i = 1, 3 do close(what .. ' gradient ' .. i, gs[i].grad, cs[i].grad, tol[1], tol[2]) end
      optim.clip_grad_value(cs, 0.01)
      optim.clip_grad_value(gs, 0.01)
      for i = 1, 3 do close('clip_grad_value ' .. dt .. ' ' .. i, gs[i].grad, cs[i].grad, 0, 0) end
    end
  end
  -- NaN propagates (also through the max), an empty gradient adds nothing
  local nan = brasa.tensor{1, 0 / 0, 3}
  for _, p in ipairs({2, math.huge}) do
    local a = brasa.zeros(3, {device = DEV, requires_grad = true})
    a.grad = nan:cuda()
    local e = brasa.zeros(0, {device = DEV, requires_grad = true})
    e.grad = brasa.zeros(0):cuda()
    local t = optim.clip_grad_norm({a, e}, 1, p)
    assert(t ~= t, 'norm of a NaN gradient (p=' .. tostring(p) .. '): ' .. tostring(t))
  end
  -- Gradients on two devices (a model partly moved): the GPU's terms come
  -- back in one copy, the CPU's are summed in, in the gradients' order.
  local v1, v2, v3 = brasa.randn(50), brasa.randn(7), brasa.randn(300)
  local mixed, ref = {}, {}
  for i, v in ipairs({v1, v2, v3}) do
    local dev = i == 2 and 'cpu' or DEV
    mixed[i] = brasa.zeros(v.shape, {device = dev, requires_grad = true})
    mixed[i].grad = v:to(dev)
    ref[i] = brasa.zeros(v.shape, {requires_grad = true})
    ref[i].grad = v:clone()
  end
  local tm, tr = optim.clip_grad_norm(mixed, 0.5), optim.clip_grad_norm(ref, 0.5)
  assert(math.abs(tm - tr) <= 1e-12 * tr, string.format('norm over two devices: %.17g vs %.17g', tm, tr))
  for i = 1, 3 do close('clip_grad_norm over two devices ' .. i, mixed[i].grad:cpu(), ref[i].grad, 1e-6, 1e-6) end
  local big = brasa.randn(300001)
  local c = brasa.zeros(300001, {requires_grad = true})
  local g = brasa.zeros(300001, {device = DEV, requires_grad = true})
  c.grad, g.grad = big:clone(), big:cuda()
  local tc, tg = optim.clip_grad_norm({c}, 1e9), optim.clip_grad_norm({g}, 1e9)
  assert(math.abs(tg - tc) <= 1e-12 * tc, string.format('norm of 3e5 values: %.17g vs %.17g', tg, tc))
  -- More blocks than the final pass has threads (293 of 1024 elements here;
  -- the grid cap, 16 per multiprocessor, for 2^22 + 5), every norm kind; a
  -- max is exact whatever the order. Then a NaN in the very last element
  -- (the grid-stride loop's ragged end) must reach the total.
  for _, n in ipairs({300001, (1 << 22) + 5}) do
    local v = brasa.randn(n)
    for _, p in ipairs({1, 2, 3, math.huge}) do
      local cc = brasa.zeros(n, {requires_grad = true})
      local gg = brasa.zeros(n, {device = DEV, requires_grad = true})
      cc.grad, gg.grad = v:clone(), v:cuda()
      local a, b = optim.clip_grad_norm({cc}, 1e30, p), optim.clip_grad_norm({gg}, 1e30, p)
      local tol = p == math.huge and 0 or 1e-12 * a
      assert(math.abs(b - a) <= tol, string.format('norm p=%s of %d values: %.17g on the GPU, %.17g on the CPU',
                                                   tostring(p), n, b, a))
    end
    v[n] = 0 / 0
    for _, p in ipairs({2, math.huge}) do
      local gg = brasa.zeros(n, {device = DEV, requires_grad = true})
      gg.grad = v:cuda()
      local t = optim.clip_grad_norm({gg}, 1, p)
      assert(t ~= t, string.format('a NaN last of %d values: norm p=%s is %s', n, tostring(p), tostring(t)))
    end
  end
end)

-- ---- nonzero and masks ------------------------------------------------------------------------

-- A bool mask of shape with about `density` of it true (exactly 0 or 1 at the ends).
local function mask_pair(shape, density)
  local c = brasa.rand(shape):lt(density)
  return c, c:cuda()
end

test('nonzero, masked_select and x[mask] match the CPU', function()
  local shapes = {{5}, {4, 7}, {3, 5, 6}, {200003}, {2, 70000}, {0, 3}, {}}
  for _, shape in ipairs(shapes) do
    for _, density in ipairs({0, 0.3, 1}) do
      local what = string.format('[%s] density %g', table.concat(shape, 'x'), density)
      local cm, gm = mask_pair(shape, density)
      close('nonzero ' .. what, gm:nonzero(), cm:nonzero(), 0, 0)
      local cx, gx = pair(shape, 'f32', 'normal', #shape >= 2)
      close('masked_select ' .. what, gx:masked_select(gm), cx:masked_select(cm), 0, 0)
      close('x[mask] ' .. what, gx[gm], cx[cm], 0, 0)
    end
  end
  -- nonzero of other dtypes (non-zero values), a strided input, broadcast masks
  for _, dt in ipairs({'f64', 'i64', 'i32', 'u8', 'f16'}) do
    local c, g = pair({6, 9}, dt, dt == 'u8' and 'small_int' or 'int', true)
    close('nonzero ' .. dt, g:nonzero(), c:nonzero(), 0, 0)
  end
  local cx, gx = pair({4, 6}, 'f64', 'normal', false)
  local cm, gm = mask_pair({6}, 0.5)
  close('masked_select broadcast', gx:masked_select(gm), cx:masked_select(cm), 0, 0)
  close('bool tensor as ids', gx[gx:gt(0)], cx[cx:gt(0)], 0, 0)
end)

-- The kernel works in chunks of 4096 mask bytes, tiles of 256 (eight warps
-- voting) and scans the chunk counts with 1024 threads: trues placed on
-- both sides of each boundary, a ragged last warp and chunk, more chunks
-- than the scan has threads, all-false and all-true masks.
test('nonzero at chunk, tile and warp boundaries; more chunks than scan threads', function()
  local n = 4096 * 1030 + 45
  local cm = brasa.rand(n):lt(0.001)
  for _, i in ipairs({1, 2, 32, 33, 256, 257, 4096, 4097, 8192, 8193, 4096 * 1024, 4096 * 1024 + 1,
                      n - 44, n - 1, n}) do
    cm[i] = true
  end
  local gm = cm:cuda()
  close('nonzero of ' .. n, gm:nonzero(), cm:nonzero(), 0, 0)
  local cx = brasa.arange(1, n):float()   -- exact in f32 (n < 2^24)
  close('x[mask] of ' .. n, cx:cuda()[gm], cx[cm], 0, 0)
  local c2 = brasa.rand(3, 4099):lt(0.5)   -- rows that cross chunks mid-way
  close('nonzero [3x4099]', c2:cuda():nonzero(), c2:nonzero(), 0, 0)
  local none = brasa.zeros(n, {dtype = 'bool'})
  same_exact('nonzero of no trues', none:cuda():nonzero(), none:nonzero())
  local all = brasa.ones(n, {dtype = 'bool'})
  same_exact('nonzero of all trues', all:cuda():nonzero(), all:nonzero())
  same_exact('masked_select of all trues', cx:cuda():masked_select(all:cuda()), cx)
end)

test('masked_fill, where, cat, stack and mask assignment match the CPU', function()
  local cx, gx = pair({5, 8}, 'f32', 'normal', true)
  local cm, gm = mask_pair({5, 8}, 0.4)
  close('masked_fill', gx:masked_fill(gm, -2), cx:masked_fill(cm, -2), 0, 0)
  close('where', brasa.where(gm, gx, gx * 0.5), brasa.where(cm, cx, cx * 0.5), 0, 0)
  close('cat', brasa.cat({gx, gx[gm]:reshape(1, -1):expand(5, -1)}, 2),
        brasa.cat({cx, cx[cm]:reshape(1, -1):expand(5, -1)}, 2), 0, 0)
  close('stack', brasa.stack({gx, gx:masked_fill(gm, 0)}, 1), brasa.stack({cx, cx:masked_fill(cm, 0)}, 1), 0, 0)
  local ca, ga = cx:clone(), gx:clone()
  ca[cm] = 7
  ga[gm] = 7
  close('x[mask] = 7', ga, ca, 0, 0)
  local cb, gb = brasa.zeros(5, 8, {dtype = 'i64'}), brasa.zeros(5, 8, {dtype = 'i64', device = DEV})
  cb[cm] = 3
  gb[gm] = 3
  close('x[mask] = 3 (i64)', gb, cb, 0, 0)
  ca[{{2, 3}, {}}] = -1
  ga[{{2, 3}, {}}] = -1
  ca[5] = cx[1]
  ga[5] = gx[1]
  close('view assignment', ga, ca, 0, 0)
  grad_pair('masked_select and masked_fill gradients', {{shape = {6, 7}, kind = 'normal', strided = true}},
    function(a)
      local m = brasa.tensor({{true, false, true, false, false, true, true}}, {device = a.device})
      return (a[a:gt(0)] ^ 2):sum() + a:masked_select(m):sum() * 3 + a:masked_fill(m, 0):sum()
    end, 1e-5, 1e-6)
  if not FAKE then
    expect_error('a CPU mask for a GPU tensor', function() return gx[cm] end, 'cpu', 'cuda:0')
  end
end)

-- ---- models ----------------------------------------------------------------------------------

local function mlp(seed)
  brasa.manual_seed(seed)
  return nn.Sequential{nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)}
end

-- All parameters of b (on the device) agree with a's (CPU) within rtol.
local function close_models(what, b, a, rtol, atol)
  local pa, pb = a:parameters(), b:parameters()
  assert(#pa == #pb, what .. ': parameter counts differ')
  for i = 1, #pa do close(what .. ' parameter ' .. i, pb[i]:detach(), pa[i]:detach(), rtol, atol) end
end

test('model:cuda() keeps parameters; training steps match the CPU', function()
  brasa.manual_seed(11)
  local x, y = brasa.randn(32, 6), brasa.randn(32, 3)
  for _, name in ipairs({'SGD', 'Adam', 'RMSprop'}) do
    local opts = name == 'SGD' and {lr = 0.05, momentum = 0.9} or {lr = 0.01}
    local a, b = mlp(5), mlp(5)
    local oa = optim[name](a:parameters(), opts)
    local params = b:parameters()
    local ob = optim[name](params, opts)   -- built before the move
    -- one CPU step first, so b's optimiser has state to carry over
    for _, m in ipairs({{a, oa}, {b, ob}}) do
      m[2]:zero_grad()
      nn.MSELoss()(m[1](x), y):backward()
      m[2]:step()
    end
    assert(b:cuda() == b, 'cuda() returns the model')
    for i, p in ipairs(b:parameters()) do
      assert(p == params[i], name .. ': parameter ' .. i .. ' is a new tensor after cuda()')
      assert(FAKE or p.device == 'cuda:0', name .. ': parameter ' .. i .. ' on ' .. p.device)
    end
    local gx, gy = x:cuda(), y:cuda()
    for _ = 1, 4 do
      oa:zero_grad()
      nn.MSELoss()(a(x), y):backward()
      oa:step()
      ob:zero_grad()
      nn.MSELoss()(b(gx), gy):backward()
      ob:step()
    end
    close_models(name .. ' after 5 steps', b, a, 1e-4, 1e-5)
    for _, p in ipairs(params) do
      for k, v in pairs(ob.state[p]) do
        if brasa.is_tensor(v) then assert(v.device == p.device, name .. ': state ' .. k .. ' on ' .. v.device) end
      end
    end
    if not FAKE then
      expect_error('a CPU batch for a GPU model', function() return b(x) end, 'cpu', 'cuda:0')
    end
    b:cpu()
    for i, p in ipairs(b:parameters()) do
      assert(p == params[i] and p.device == 'cpu', name .. ': cpu() moved parameter ' .. i)
    end
  end
  -- buffers move too (BatchNorm's running statistics)
  local bn = nn.Sequential{nn.Linear(4, 5), nn.BatchNorm1d(5)}
  local rm = bn[2].running_mean
  bn:cuda()
  assert(bn[2].running_mean == rm and (FAKE or rm.device == 'cuda:0'), 'running_mean moved in place')
  assert(FAKE or bn[2].num_batches_tracked.device == 'cuda:0', 'num_batches_tracked moved')
end)

-- Data for fit: 80 examples, so batches of 2 make 40 batches (past the
-- 32 that fit reads back at once on a device).
local function regression_data()
  brasa.manual_seed(21)
  local x = brasa.randn(80, 6)
  local y = x:narrow(2, 1, 3) * 0.5 + 0.1
  return x, y
end

test('fit, evaluate and predict on the GPU match the CPU (MSE, mae)', function()
  local x, y = regression_data()
  local a, b = mlp(9), mlp(9)
  local function opts(m, device)
    return {loss = nn.MSELoss(), optimizer = optim.Adam(m:parameters(), {lr = 0.01}), epochs = 2,
            batch_size = 2, shuffle = false, validation_split = 0.25, metrics = {'mae'}, verbose = 0,
            device = device}
  end
  local ha = a:fit(x, y, opts(a))
  local hb = b:fit(x, y, opts(b, DEV))
  assert(FAKE or b:parameters()[1].device == 'cuda:0', 'fit{device} moved the model')
  for _, k in ipairs({'loss', 'mae', 'val_loss', 'val_mae'}) do
    for e = 1, 2 do
      local u, v = hb.history[k][e], ha.history[k][e]
      assert(math.abs(u - v) <= 1e-4 * math.abs(v) + 1e-6,
             string.format('history.%s[%d]: %.9g on the GPU, %.9g on the CPU', k, e, u, v))
    end
  end
  close_models('after fit', b, a, 1e-4, 1e-5)
  local ra = a:evaluate(x, y, {verbose = 0, batch_size = 1})   -- 80 batches: read back in pieces
  local rb = b:evaluate(x, y, {verbose = 0, batch_size = 1})
  for _, k in ipairs({'loss', 'mae'}) do
    assert(math.abs(rb[k] - ra[k]) <= 1e-4 * math.abs(ra[k]) + 1e-6,
           string.format('evaluate %s: %.9g vs %.9g', k, rb[k], ra[k]))
  end
  local pb = b:predict(x, {batch_size = 7})
  assert(pb.device == 'cpu', 'predict of CPU inputs returns CPU outputs, got ' .. pb.device)
  local pa = a:predict(x, {batch_size = 7})
  assert((pb - pa):abs():max():item() <= 1e-4, 'predict differs')
  local pg = b:predict(x:cuda())
  assert(FAKE or pg.device == 'cuda:0', 'predict of GPU inputs stays on the GPU')
  -- the next fit reuses the optimiser and its state on the device
  local hb2 = b:fit(x, y, {epochs = 1, batch_size = 4, verbose = 0})
  assert(#hb2.history.loss == 1 and hb2.history.loss[1] == hb2.history.loss[1], 'second fit')
end)

test('fit on the GPU: classification with accuracy, a NaN stop, batch callbacks', function()
  brasa.manual_seed(31)
  local x = brasa.randn(90, 6)
  local y = x:narrow(2, 1, 3):argmax(2)
  local a, b = mlp(13), mlp(13)
  b:cuda()
  local function opts(m, extra)
    local o = {loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9}),
               epochs = 2, batch_size = 5, shuffle = false, metrics = {'accuracy', 'top2_accuracy'}, verbose = 0}
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  local ha, hb = a:fit(x, y, opts(a)), b:fit(x, y, opts(b))
  for _, k in ipairs({'loss', 'accuracy', 'top2_accuracy'}) do
    local u, v = hb.history[k][2], ha.history[k][2]
    assert(math.abs(u - v) <= 1e-4 * math.abs(v) + 1e-6, string.format('%s: %.9g vs %.9g', k, u, v))
  end
  -- batch callbacks see every batch's loss (no deferral) and agree
  local seen_a, seen_b = {}, {}
  local function recorder(list)
    return brasa.callbacks.LambdaCallback{on_train_batch_end = function(k, logs) list[k] = logs.loss end}
  end
  a:fit(x, y, opts(a, {epochs = 1, callbacks = {recorder(seen_a)}}))
  b:fit(x, y, opts(b, {epochs = 1, callbacks = {recorder(seen_b)}}))
  assert(#seen_b == 18 and #seen_a == 18, 'batch losses: ' .. #seen_b .. ' and ' .. #seen_a)
  for k = 1, 18 do
    assert(math.abs(seen_b[k] - seen_a[k]) <= 1e-4 * math.abs(seen_a[k]) + 1e-6, 'batch ' .. k .. ' loss')
  end
  -- a NaN loss stops the run (on a device: when the pending losses are read)
  local bad = y:clone():double()
  local function nan_loss(out, t) return (out:sum(2) * 0 + t:double():float()):log():mean() * (0 / 0) end
  local hn = b:fit(x, bad, {loss = nan_loss, epochs = 3, batch_size = 5, verbose = 0,
                            optimizer = optim.SGD(b:parameters(), {lr = 0.1})})
  assert(hn.stop_reason == 'nan', 'stop_reason ' .. tostring(hn.stop_reason))
end)

-- ---- the runner ------------------------------------------------------------------------------

local function run(filter) return H.run_tests(tests, filter, {label = 'optim', width = 72}) end

H.main('tests/gpu/test_gpu_optim.lua', run)

return {run = run, tests = tests}
