-- bench_lua.lua: what brasa costs from Lua, measured the same way as
-- bench/bench_torch.py measures PyTorch (bench/run.sh puts them side by side).
--
--   tiny ops     a + b, a:add(b), a + 1, a:exp() on 1-element f32 tensors:
--                ns per call (target: <= 500 ns)
--   tiny graph   y = (a * b):sum(); y:backward()  (a, b: 1 element, requires
--                grad): us per iteration
--   MLP step     784-256-128-10: x:matmul(w1) + b1, relu, ..., MSE loss
--                ((out - y)^2 mean), backward, SGD under brasa.no_grad
--                (p:sub_(p.grad * lr); p.grad = nil): us per step at batch 1
--                and 128, at 1 and 2 threads (the faster is reported)
--
-- Every figure is the median of BENCH_REPEATS samples (default 5), each long
-- enough (>= BENCH_MIN_S seconds, default 0.3) for the clock not to matter.
-- Run with plain lua5.4 from the repository root:
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
--   LUA_CPATH="build/lua/?.so;;" lua5.4 bench/bench_lua.lua
-- or with the brasa executable (build/brasa bench/bench_lua.lua). Timing:
-- bench/timing.lua, on brasa.clock's wall clock.
-- BENCH_OUT=file appends "key value" lines for bench/run.sh.

local brasa = require 'brasa'

local timing = dofile(((arg and arg[0] or ''):match('^(.*)/') or 'bench') .. '/timing.lua')
local clock_name = timing.clock_name

local REPEATS, MIN_S = timing.settings(5, 0.3)

-- fn(n) runs n iterations. Returns the median seconds per iteration and the
-- iterations per sample (chosen so a sample lasts >= MIN_S).
local function measure(fn)
  local m, _, n = timing.measure(fn, REPEATS, MIN_S)
  return m, n
end

local results = {}
local out = os.getenv('BENCH_OUT')

local function record(key, value)
  results[#results + 1] = {key, value}
end

print(string.format('bench_lua: brasa on %s, %s', _VERSION, brasa.blas_info and brasa.blas_info() or ''))
print(string.format('clock: %s; median of %d repeats, samples >= %.2f s', clock_name, REPEATS, MIN_S))

-- ---- tiny ops ------------------------------------------------------------

local a, b = brasa.tensor{1.5}, brasa.tensor{2.5}
local tiny = {
  {'tiny_add', 'a + b', function(n) for _ = 1, n do local r = a + b end end},
  {'tiny_method_add', 'a:add(b)', function(n) for _ = 1, n do local r = a:add(b) end end},
  {'tiny_add_number', 'a + 1', function(n) for _ = 1, n do local r = a + 1 end end},
  {'tiny_exp', 'a:exp()', function(n) for _ = 1, n do local r = a:exp() end end},
}
print(string.format('\n%-34s %14s %14s', 'tiny op (1-element f32)', 'brasa', 'calls/sample'))
for _, c in ipairs(tiny) do
  local t, n = measure(c[3])
  record(c[1] .. '_ns', t * 1e9)
  print(string.format('  %-32s %10.0f ns %14d%s', c[2], t * 1e9, n, t * 1e9 <= 500 and '' or '   (target <= 500 ns: MISSED)'))
end
a, b = nil, nil

-- ---- tiny graph ------------------------------------------------------------

local ga = brasa.tensor({1.5}, {requires_grad = true})
local gb = brasa.tensor({2.5}, {requires_grad = true})
local t, n = measure(function(n)
  for _ = 1, n do
    local y = (ga * gb):sum()
    y:backward()
  end
end)
record('graph_us', t * 1e6)
print(string.format('\n%-34s %14s %14s', 'tiny graph', 'brasa', 'iters/sample'))
print(string.format('  %-32s %10.2f us %14d', '(a * b):sum(); y:backward()', t * 1e6, n))
ga, gb = nil, nil

-- ---- MLP step ----------------------------------------------------------------

local function mlp_bench(batch, threads)
  brasa.set_num_threads(threads)
  brasa.manual_seed(0)
  local function param(...)
    local p = brasa.randn(...) * 0.05   -- a leaf: randn does not require grad
    p.requires_grad = true
    return p
  end
  local w1, b1 = param(784, 256), param(256)
  local w2, b2 = param(256, 128), param(128)
  local w3, b3 = param(128, 10), param(10)
  local params = {w1, b1, w2, b2, w3, b3}
  local x, y = brasa.randn(batch, 784), brasa.randn(batch, 10)
  local lr = 0.01
  local function sgd()
    for i = 1, #params do
      local p = params[i]
      p:sub_(p.grad * lr)
      p.grad = nil
    end
  end
  local function step()
    local h1 = (x:matmul(w1) + b1):relu()
    local h2 = (h1:matmul(w2) + b2):relu()
    local o = h2:matmul(w3) + b3
    local d = o - y
    local loss = (d * d):mean()
    loss:backward()
    brasa.no_grad(sgd)
    return loss
  end
  local loss0 = step():item()
  local tt, nn = measure(function(n) for _ = 1, n do step() end end)
  local loss1 = step():item()
  assert(loss1 == loss1 and loss1 < loss0 * 10, 'MLP step diverged')
  return tt, nn
end

print(string.format('\n%-34s %14s %14s %14s', 'MLP step 784-256-128-10', '1 thread', '2 threads', 'best'))
for _, batch in ipairs{1, 128} do
  local t1, n1 = mlp_bench(batch, 1)
  local t2, n2 = mlp_bench(batch, 2)
  local best = math.min(t1, t2)
  record('mlp' .. batch .. '_us', best * 1e6)
  record('mlp' .. batch .. '_threads', t1 <= t2 and 1 or 2)
  print(string.format('  %-32s %11.1f us %11.1f us %11.1f us   (steps/sample %d, %d)',
    'batch ' .. batch, t1 * 1e6, t2 * 1e6, best * 1e6, n1, n2))
end
brasa.set_num_threads(2)

if out then
  local f = assert(io.open(out, 'a'))
  for _, kv in ipairs(results) do f:write(string.format('brasa_%s %.6g\n', kv[1], kv[2])) end
  f:close()
end
