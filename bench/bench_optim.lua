-- bench_optim.lua: one optimiser step over 1M parameters, brasa beside
-- PyTorch 1.13 (bench/bench_optim_torch.py) on the same machine.
--
--   Adam step     four f32 tensors of 1000x500, 500x800, 100x999 and 100
--                 elements (1,000,000 parameters) with gradients set:
--                 opt:step(), us per step. Also SGD with momentum and
--                 clip_grad_norm over the same parameters.
--
-- brasa runs at 1 and 2 threads and reports the faster; PyTorch's script
-- runs torch.optim.Adam with foreach=False and foreach=True at 1 thread and
-- at 2 threads with OMP_WAIT_POLICY=passive, and reports its best. Every
-- figure is the fastest of BENCH_REPEATS samples (default 15) of >=
-- BENCH_MIN_S seconds (default 0.05), for both sides: on a shared machine
-- the fastest sample is the one other processes disturbed least (medians
-- moved by 3x between runs here). Run from the repository root, e.g.
--   build/brasa bench/bench_optim.lua
-- or with plain lua5.4 (timing: bench/timing.lua, on brasa.clock):
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="build/lua/?.so;;" \
--     lua5.4 bench/bench_optim.lua
-- BENCH_TORCH=0 skips PyTorch; BENCH_OUT=file appends "key value" lines.

local brasa = require 'brasa'
local optim = require 'brasa.optim'

local timing = dofile(((arg and arg[0] or ''):match('^(.*)/') or 'bench') .. '/timing.lua')
local clock_name = timing.clock_name

local REPEATS, MIN_S = timing.settings(15, 0.05)

-- fn(n) runs n iterations; returns the fastest sample's seconds per iteration.
local function measure(fn) return select(2, timing.measure(fn, REPEATS, MIN_S)) end

local SHAPES = {{1000, 500}, {500, 800}, {100, 999}, {100}}

local function setup()
  brasa.manual_seed(0)
  local params, total = {}, 0
  for i, s in ipairs(SHAPES) do
    local p = brasa.randn(s):requires_grad_()
    p.grad = brasa.randn(s) * 1e-3
    params[i] = p
    total = total + p:numel()
  end
  assert(total == 1000000)
  return params
end

local results = {}
local function record(key, value) results[#results + 1] = {key, value} end

print(string.format('brasa %s, %s; clock: %s', brasa.version, brasa.blas_info and brasa.blas_info() or '', clock_name))
local cases = {
  {'adam', 'Adam step (1M f32 parameters)', function(params) return optim.Adam(params, {lr = 1e-3}) end},
  {'adamw_amsgrad', 'AdamW amsgrad step', function(params) return optim.AdamW(params, {lr = 1e-3, amsgrad = true}) end},
  {'sgd_momentum', 'SGD momentum step', function(params) return optim.SGD(params, {lr = 1e-3, momentum = 0.9}) end},
}
local saved_threads = brasa.get_num_threads()
local best = {}
for _, threads in ipairs {1, 2} do
  brasa.set_num_threads(threads)
  for _, c in ipairs(cases) do
    local params = setup()
    local opt = c[3](params)
    opt:step()   -- state created outside the timing
    local t = measure(function(n) for _ = 1, n do opt:step() end end)
    print(string.format('  %-32s %d thread%s %9.1f us', c[2], threads, threads > 1 and 's' or ' ', t * 1e6))
    if not best[c[1]] or t < best[c[1]].t then best[c[1]] = {t = t, threads = threads} end
  end
  local params = setup()
  local t = measure(function(n) for _ = 1, n do optim.clip_grad_norm(params, 1e9) end end)
  print(string.format('  %-32s %d thread%s %9.1f us', 'clip_grad_norm (no clipping)', threads, threads > 1 and 's' or ' ', t * 1e6))
  if not best.clip or t < best.clip.t then best.clip = {t = t, threads = threads} end
end
brasa.set_num_threads(saved_threads)
for _, k in ipairs {'adam', 'adamw_amsgrad', 'sgd_momentum', 'clip'} do
  record('brasa_' .. k .. '_us', best[k].t * 1e6)
  record('brasa_' .. k .. '_threads', best[k].threads)
end

-- ---- PyTorch ---------------------------------------------------------------------------
local torch = {}
if os.getenv('BENCH_TORCH') ~= '0' then
  local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
  local cmd = string.format('BENCH_REPEATS=%d BENCH_MIN_S=%s /usr/bin/python3 %sbench_optim_torch.py 2>&1',
                            REPEATS, tostring(MIN_S), here)
  local f = io.popen(cmd)
  local out = f and f:read('a') or ''
  if f then f:close() end
  for line in out:gmatch('[^\n]+') do
    local k, v = line:match('^(torch_[%w_]+)%s+(%S+)$')
    if k then torch[k] = tonumber(v) or v else print('  ' .. line) end
  end
end

print()
print(string.format('  %-30s %12s %12s %12s', '', 'brasa', 'PyTorch', 'brasa/torch'))
local labels = {adam = 'Adam step, 1M params', adamw_amsgrad = 'AdamW amsgrad step', sgd_momentum = 'SGD momentum step',
                clip = 'clip_grad_norm'}
for _, k in ipairs {'adam', 'adamw_amsgrad', 'sgd_momentum', 'clip'} do
  local b, t = best[k].t * 1e6, torch['torch_' .. k .. '_us']
  print(string.format('  %-30s %9.1f us %s %s%s', labels[k], b,
                      t and string.format('%9.1f us', t) or '         n/a',
                      t and string.format('%11.2fx', b / t) or '         n/a',
                      t and string.format('   (brasa %d thr; torch %s)', best[k].threads, torch['torch_' .. k .. '_how'] or '?') or ''))
end
if next(torch) then print('  (ratio < 1: brasa is faster)') end

local outpath = os.getenv('BENCH_OUT')
if outpath then
  local f = assert(io.open(outpath, 'a'))
  for _, r in ipairs(results) do f:write(r[1], ' ', tostring(r[2]), '\n') end
  for k, v in pairs(torch) do f:write(k, ' ', tostring(v), '\n') end
  f:close()
end
