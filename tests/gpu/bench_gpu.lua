-- tests/gpu/bench_gpu.lua: brasa's side of the GPU benchmark (tests/gpu/run.sh).
--
--   build/brasa tests/gpu/bench_gpu.lua [sizes...]     default sizes: 4096 8192
--
-- Prints one line per measurement, for run.sh to put in its table:
--   brasa <mode> <n> <TFLOP/s> <ms>    GEMM n x n x n through x:matmul(y)
--                                      (modes f32, tf32, bf16, as bench_cublas)
--   launch <op> <us-gpu> <us-cpu>      wall time per small op from Lua, GPU and CPU
--   bandwidth <op> <GB/s>              a large elementwise op on the GPU
-- Times are wall-clock, with brasa.cuda.synchronize() around each timed loop.

local brasa = require 'brasa'
local cuda = brasa.cuda
local clock = require('brasa.progress').clock

if not cuda.is_available() then
  print('SKIP bench_gpu.lua: no usable GPU: ' .. cuda.status())
  os.exit(0)
end

local sizes = {}
for i = 1, #arg do sizes[#sizes + 1] = tonumber(arg[i]) end
if #sizes == 0 then sizes = {4096, 8192} end

local function timed(reps, fn)
  cuda.synchronize()
  local t0 = clock()
  for _ = 1, reps do fn() end
  cuda.synchronize()
  return (clock() - t0) / reps
end

-- ---- GEMM ---------------------------------------------------------------------------------

for _, n in ipairs(sizes) do
  local a32 = brasa.rand(n, n, {device = 'cuda'}) - 0.5
  local b32 = brasa.rand(n, n, {device = 'cuda'}) - 0.5
  local modes = {
    {'f32', a32, b32, false},
    {'tf32', a32, b32, true},
    {'bf16', a32:bfloat16(), b32:bfloat16(), false},
  }
  for _, m in ipairs(modes) do
    local name, a, b = m[1], m[2], m[3]
    local old = cuda.allow_tf32(m[4])
    local reps = n <= 4096 and 20 or 8
    for _ = 1, 3 do local _ = a:matmul(b) end
    local c
    local s = timed(reps, function() c = a:matmul(b) end)
    cuda.allow_tf32(old)
    print(string.format('brasa %s %d %.1f %.3f', name, n, 2 * n * n * n / s / 1e12, s * 1e3))
    io.stdout:flush()
    c = nil
    collectgarbage()
  end
  a32, b32, modes = nil, nil, nil
  collectgarbage()
  cuda.empty_cache()
end

-- ---- per-op overhead from Lua ----------------------------------------------------------------

local function overhead(name, make, op)
  local res = {}
  for _, dev in ipairs({'cuda', 'cpu'}) do
    local x, y = make(dev)
    for _ = 1, 200 do op(x, y) end
    local reps = 20000
    res[dev] = timed(reps, function() op(x, y) end) * 1e6
  end
  print(string.format('launch %s %.2f %.2f', name, res.cuda, res.cpu))
  io.stdout:flush()
end

local function small(dev) return brasa.ones(16, {device = dev}), brasa.ones(16, {device = dev}) end
local function mat(dev) return brasa.ones(64, 64, {device = dev}), brasa.ones(64, 64, {device = dev}) end
overhead('add', small, function(x, y) return x + y end)
overhead('add_scalar', small, function(x) return x + 1 end)
overhead('add_', small, function(x, y) return x:add_(y) end)
overhead('relu', small, function(x) return x:relu() end)
overhead('sum', small, function(x) return x:sum() end)
overhead('mm64', mat, function(x, y) return x:matmul(y) end)
overhead('item', small, function(x) return x:sum():item() end)

-- ---- bandwidth --------------------------------------------------------------------------------

do
  local n = 64 * 1024 * 1024
  local x = brasa.ones(n, {device = 'cuda'})
  local y = brasa.ones(n, {device = 'cuda'})
  local z = x + y
  local s = timed(20, function() z = x + y end)
  print(string.format('bandwidth add_f32_64M %.0f', 3 * 4 * n / s / 1e9))
  s = timed(20, function() z:copy_(x) end)
  print(string.format('bandwidth copy_f32_64M %.0f', 2 * 4 * n / s / 1e9))
  s = timed(20, function() local _ = x:sum() end)
  print(string.format('bandwidth sum_f32_64M %.0f', 4 * n / s / 1e9))
  local xt = brasa.ones(8192, 8192, {device = 'cuda'})
  s = timed(10, function() local _ = xt:t():contiguous() end)
  print(string.format('bandwidth transpose_f32_8192 %.0f', 2 * 4 * 8192 * 8192 / s / 1e9))
end
