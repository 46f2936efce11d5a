-- bench_pool.lua: pooling and resampling from Lua, measured the way
-- bench/bench_pool_torch.py measures PyTorch (run both and compare):
--
--   max_pool2d 2x2, 128x32x28x28 f32: forward without a graph, and forward
--                 + backward (brasa.grad with an upstream gradient)
--   avg_pool2d 2x2, same shape: forward + backward
--   bilinear x2 (interpolate), 128x32x14x14 f32: forward + backward
--
-- at 1 and 2 threads. Every figure is the median of BENCH_REPEATS samples
-- (default 5), each >= BENCH_MIN_S seconds (default 0.3; timing:
-- bench/timing.lua, on brasa.clock's wall clock). Run from the repository root:
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
--   LUA_CPATH="build/lua/?.so;;" lua5.4 bench/bench_pool.lua

local brasa = require 'brasa'
local F = require 'brasa.nn.functional'

local timing = dofile(((arg and arg[0] or ''):match('^(.*)/') or 'bench') .. '/timing.lua')
local clock_name = timing.clock_name

local REPEATS, MIN_S = timing.settings(5, 0.3)

-- fn(n) runs n iterations; the median seconds per iteration.
local function measure(fn) return (timing.measure(fn, REPEATS, MIN_S)) end

print(string.format('bench_pool: brasa %s; clock: %s; median of %d repeats, samples >= %.2f s',
  brasa.version, clock_name, REPEATS, MIN_S))

brasa.manual_seed(0)
local x = brasa.randn(128, 32, 28, 28):requires_grad_()
local g = brasa.randn(128, 32, 14, 14)
local s = brasa.randn(128, 32, 14, 14):requires_grad_()
local gs = brasa.randn(128, 32, 28, 28)

local cases = {
  {'max_pool2d 2x2 forward (no graph)', function(n)
    brasa.no_grad(function() for _ = 1, n do local y = F.max_pool2d(x, 2) end end)
  end},
  {'max_pool2d 2x2 forward+backward', function(n)
    for _ = 1, n do
      local y = F.max_pool2d(x, 2)
      local gx = brasa.grad(y, x, {grad_outputs = g})
    end
  end},
  {'avg_pool2d 2x2 forward+backward', function(n)
    for _ = 1, n do
      local y = F.avg_pool2d(x, 2)
      local gx = brasa.grad(y, x, {grad_outputs = g})
    end
  end},
  {'bilinear x2 14->28 forward+backward', function(n)
    for _ = 1, n do
      local y = F.interpolate(s, {scale_factor = 2, mode = 'bilinear'})
      local gx = brasa.grad(y, s, {grad_outputs = gs})
    end
  end},
}

local threads0 = brasa.get_num_threads()
print(string.format('\n%-40s %12s %12s', 'f32, ms per call', '1 thread', '2 threads'))
for _, c in ipairs(cases) do
  local t = {}
  for i, nt in ipairs({1, 2}) do
    brasa.set_num_threads(nt)
    t[i] = measure(c[2]) * 1e3
  end
  print(string.format('  %-38s %9.3f ms %9.3f ms', c[1], t[1], t[2]))
end
brasa.set_num_threads(threads0)
