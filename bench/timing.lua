-- bench/timing.lua: the clock and the timing loop of the Lua benchmarks
-- (bench_conv, bench_lua, bench_norm, bench_optim, bench_pool), loaded with
-- dofile from beside them.
--
-- The clock is brasa.clock, CLOCK_MONOTONIC from the core, under the brasa
-- executable and plain lua5.4 alike (os.clock would count the CPU time of
-- every thread). BENCH_REPEATS and BENCH_MIN_S override each script's
-- defaults for the number of samples and a sample's least duration.

local brasa = require 'brasa'

local M = {clock = brasa.clock, clock_name = 'brasa.clock (monotonic wall clock)'}

--- M.settings(repeats, min_s) -> repeats, min_s: the defaults given, or the
-- environment's BENCH_REPEATS and BENCH_MIN_S.
function M.settings(repeats, min_s)
  return tonumber(os.getenv('BENCH_REPEATS')) or repeats, tonumber(os.getenv('BENCH_MIN_S')) or min_s
end

--- M.median(t) -> the median of the numbers in t (sorts t).
function M.median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) // 2] or (t[n // 2] + t[n // 2 + 1]) / 2
end

--- M.measure(fn, repeats, min_s) -> median, fastest, n. fn(n) runs n
-- iterations; n is first grown until one call lasts about min_s, then
-- `repeats` samples are taken; the results are seconds per iteration.
function M.measure(fn, repeats, min_s)
  local clock = M.clock
  collectgarbage()
  local n = 1
  while true do
    local t0 = clock()
    fn(n)
    local dt = clock() - t0
    if dt >= min_s / 4 then
      n = math.max(1, math.ceil(n * min_s / dt))
      break
    end
    n = n * (dt > 0 and math.min(100, math.max(2, math.ceil(min_s / 4 / dt))) or 100)
  end
  local samples = {}
  for r = 1, repeats do
    local t0 = clock()
    fn(n)
    samples[r] = (clock() - t0) / n
  end
  local m = M.median(samples)
  return m, samples[1], n   -- sorted by median: samples[1] is the fastest
end

return M
