-- bench_conv.lua: brasa's convolutions against PyTorch 1.13, side by side.
--
-- The course's CNN shapes (batch 128, 3x3 kernels, padding 1):
--   c1    1 -> 32 channels at 28x28, the input needs no gradient (a first layer)
--   c2   32 -> 64 channels at 14x14, the input needs a gradient (a second layer)
--   c1x   c1 with an input gradient too (for reference)
-- and for each: forward under no_grad (fwd), and forward + backward with a
-- fixed upstream gradient (fb: y:backward(gy), then the parameters' grads set
-- to nil), in ms per iteration. "c1 + c2 fb" is the two layers of the CNN.
--
-- brasa runs with BENCH_THREADS threads (default 2, brasa.set_num_threads);
-- PyTorch (bench/bench_conv_torch.py, when /usr/bin/python3 can import torch)
-- at its best of 1 thread and 2 threads with OMP_WAIT_POLICY=passive. The
-- OPENBLAS_* environment is left as found for both.
--
-- Every figure is the median of BENCH_REPEATS samples (default 5), each
-- >= BENCH_MIN_S seconds (default 0.3). BENCH_ROUNDS (default 1) repeats the
-- whole comparison and keeps each side's best round (the machine may be
-- shared); BENCH_NO_TORCH=1 runs brasa's side only (with BRASA_CONV_GENERIC=1
-- or BRASA_CONV_NOWINO=1 it measures the im2col + OpenBLAS path, or the
-- direct kernels without Winograd). Run from the repository root:
--   LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
--   LUA_CPATH="build/lua/?.so;;" lua5.4 bench/bench_conv.lua
-- (timing: bench/timing.lua, on brasa.clock's wall clock.)

local brasa = require 'brasa'
local F = require 'brasa.nn.functional'

local timing = dofile(((arg and arg[0] or ''):match('^(.*)/') or 'bench') .. '/timing.lua')
local clock_name = timing.clock_name

local REPEATS, MIN_S = timing.settings(5, 0.3)
local THREADS = tonumber(os.getenv('BENCH_THREADS')) or 2
local ROUNDS = tonumber(os.getenv('BENCH_ROUNDS')) or 1

-- name, batch, in channels, out channels, size, kernel, padding, input needs grad
local CASES = {
  {'c1', 128, 1, 32, 28, 3, 1, false},
  {'c2', 128, 32, 64, 14, 3, 1, true},
  {'c1x', 128, 1, 32, 28, 3, 1, true},
}

-- fn(n) runs n iterations; the median seconds per iteration.
local function measure(fn) return (timing.measure(fn, REPEATS, MIN_S)) end

local function brasa_round()
  brasa.set_num_threads(THREADS)
  local res = {}
  for _, c in ipairs(CASES) do
    local name, batch, cin, cout, size, k, pad, xgrad = table.unpack(c)
    brasa.manual_seed(0)
    local x = brasa.randn(batch, cin, size, size)
    local w = (brasa.randn(cout, cin, k, k) * 0.1):detach():requires_grad_(true)
    local b = brasa.randn(cout):requires_grad_(true)
    if xgrad then x:requires_grad_(true) end
    local osz = size + 2 * pad - k + 1
    local gy = brasa.randn(batch, cout, osz, osz)
    local opts = {padding = pad}
    res[name .. '_fwd_ms'] = measure(function(n)
      brasa.no_grad(function()
        for _ = 1, n do F.conv2d(x, w, b, opts) end
      end)
    end) * 1e3
    res[name .. '_fb_ms'] = measure(function(n)
      for _ = 1, n do
        local y = F.conv2d(x, w, b, opts)
        y:backward(gy)
        w.grad, b.grad, x.grad = nil, nil, nil
      end
    end) * 1e3
  end
  return res
end

local function torch_round()
  if os.getenv('BENCH_NO_TORCH') then return nil end
  local py = '/usr/bin/python3'
  local probe = io.popen(py .. ' -c "import torch" 2>/dev/null; echo $?')
  local ok = probe and probe:read('a'):match('^0') ~= nil
  if probe then probe:close() end
  if not ok then return nil end
  local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
  local p = io.popen(py .. ' ' .. here .. 'bench_conv_torch.py --kv')
  local res = {}
  for line in p:lines() do
    local k, v = line:match('^(%S+) (%S+)$')
    if k then res[k] = tonumber(v) or v end
  end
  p:close()
  return res
end

local function keep_best(best, r)
  if not r then return best end
  best = best or {}
  for k, v in pairs(r) do
    if type(v) == 'number' and k:match('_ms$') then
      if not best[k] or v < best[k] then
        best[k] = v
        best[k .. '_threads'] = r[k .. '_threads']
      end
    elseif best[k] == nil then
      best[k] = v
    end
  end
  return best
end

print(string.format('bench_conv: brasa %s on %s, %s', brasa.version, _VERSION,
  brasa.blas_info and brasa.blas_info() or ''))
print(string.format('clock: %s; median of %d repeats, samples >= %.2f s, %d round(s)', clock_name,
  REPEATS, MIN_S, ROUNDS))

local B, T
for _ = 1, ROUNDS do
  B = keep_best(B, brasa_round())
  T = keep_best(T, torch_round())
end
B.sum_fb_ms = B.c1_fb_ms + B.c2_fb_ms
if T then
  T.torch_sum_fb_ms = T.torch_c1_fb_ms + T.torch_c2_fb_ms
  if T.torch_c1_fb_ms_threads == T.torch_c2_fb_ms_threads then
    T.torch_sum_fb_ms_threads = T.torch_c1_fb_ms_threads
  end
end

local rows = {
  {'c1 fwd', 'c1_fwd_ms'}, {'c1 fwd+bwd', 'c1_fb_ms'},
  {'c2 fwd', 'c2_fwd_ms'}, {'c2 fwd+bwd', 'c2_fb_ms'},
  {'c1 + c2 fwd+bwd', 'sum_fb_ms'},
  {'c1x fwd+bwd (input grad)', 'c1x_fb_ms'},
}
print()
print('  c1: [128x1x28x28] * [32x1x3x3], input without gradient; c2: [128x32x14x14] * [64x32x3x3]')
if T then
  print(string.format('  %-26s %12s %16s %11s', '', 'brasa (' .. THREADS .. 't)',
    'PyTorch ' .. tostring(T.torch_version), 'brasa/torch'))
else
  print(string.format('  %-26s %12s   (PyTorch not run: BENCH_NO_TORCH, or /usr/bin/python3 cannot import torch)', '',
    'brasa (' .. THREADS .. 't)'))
end
for _, row in ipairs(rows) do
  local label, key = row[1], row[2]
  local b = B[key]
  if T then
    local t = T['torch_' .. key]
    local th = T['torch_' .. key .. '_threads']
    print(string.format('  %-26s %9.2f ms %9.2f ms (%s) %10.2fx', label, b, t,
      th and (th .. 't') or 'mix', b / t))
  else
    print(string.format('  %-26s %9.2f ms', label, b))
  end
end
if T then print('  (ratio < 1: brasa is faster; target for c1 and c2 fwd+bwd: <= 0.80)') end
