-- brasa.docs.cuda: help entries of brasa.cuda and of the tensor methods
-- cuda, cpu and set_ (lua/lcuda.c). Loaded with the other documentation
-- (lua/brasa/docs.lua). Every example runs on a machine without a GPU too
-- (tests/lua/doc_spec.lua runs them): what depends on the machine is printed
-- without a `-->` result.

local doc = require 'brasa.doc'

local list = {}
local function entry(name, sig, summary, text, example)
  list[#list + 1] = {name, sig, summary, text = text, example = example}
end

local GUARD = [=[
With no GPU (no CUDA backend built, CUDA libraries or driver missing, no
device) it raises an error that says why; brasa.cuda.is_available() tells
beforehand.]=]

entry('brasa.cuda.is_available', 'brasa.cuda.is_available() -> boolean',
  'Whether a CUDA GPU can be used.',
  [=[
The first call loads the CUDA backend (libbrasa_cuda.so, beside
libbrasa.so), so a session that never asks starts without the CUDA
libraries. False when the backend was not built, when the CUDA libraries or
the driver are missing, or when there is no device; brasa.cuda.status()
says which. Tensors move with x:cuda(), x:to('cuda') or the option
{device = 'cuda'} of the creation functions.]=],
  [=[
print(brasa.cuda.is_available())   -- true where a GPU and its driver are present
local dev = brasa.cuda.is_available() and 'cuda' or 'cpu'
local x = brasa.ones(2, 2, {device = dev})
print(x.device:sub(1, #dev) == dev)  --> true]=])

entry('brasa.cuda.status', 'brasa.cuda.status() -> string',
  '\'available\', or why no GPU can be used.',
  'The reason is found once, on the first use of the GPU, and kept for the session.',
  [=[
print(brasa.cuda.status())   -- 'available', or e.g. 'no CUDA device: ...'
print(type(brasa.cuda.status()))  --> string]=])

entry('brasa.cuda.device_count', 'brasa.cuda.device_count() -> integer',
  'The number of CUDA devices (0 when none can be used).',
  'Devices are numbered from 0, as in \'cuda:0\' and \'cuda:1\'.',
  [=[
local n = brasa.cuda.device_count()
print(n >= 0)  --> true]=])

entry('brasa.cuda.device_name', 'brasa.cuda.device_name(i?) -> string',
  'The name of CUDA device i (0-based, default 0), e.g. \'NVIDIA H100 80GB HBM3\'.', GUARD,
  [=[
if brasa.cuda.is_available() then print(brasa.cuda.device_name(0)) end]=])

entry('brasa.cuda.synchronize', 'brasa.cuda.synchronize()',
  'Waits until the GPU has finished the work queued so far.',
  [=[
GPU ops return as soon as their work is queued; reading a result (printing,
x:item(), x:cpu()) waits by itself. Call synchronize before reading a clock
to time GPU work. ]=] .. GUARD,
  [=[
if brasa.cuda.is_available() then
  local x = brasa.rand(1000, 1000, {device = 'cuda'})
  local t0 = os.clock()
  local y = x:matmul(x)
  brasa.cuda.synchronize()
  print(os.clock() - t0)
end]=])

entry('brasa.cuda.memory_stats', 'brasa.cuda.memory_stats(i?) -> table',
  'Memory of CUDA device i (0-based, default 0) as brasa\'s caching allocator sees it.',
  [=[
Fields, in bytes: allocated (held by tensors, in the allocator's blocks),
peak_allocated, reserved (taken from the device: allocated + cached),
cached (free blocks kept for reuse), device_free and device_total (what the
driver reports), bytes_in_use (exactly what tensors asked for); counters:
num_allocs, num_cache_hits, num_device_allocs, num_ooms; available (false,
and every number 0, without a GPU). Blocks are rounded to size classes
(powers of two up to 1 MiB, then multiples of 2 MiB) and kept when freed:
a training loop reuses the same blocks every step. When the device runs
out of memory, the cache is given back, Lua's collector runs (tensors
nothing refers to free their blocks) and the allocation is tried again; if
it still fails, the error states the bytes requested, free and cached.
The pinned (page-locked) host buffers through which a DataLoader with
device = 'cuda' stages its batches, for the whole process: pinned_allocated,
pinned_reserved, pinned_cached, pinned_num_allocs, pinned_num_cache_hits,
pinned_num_host_allocs (cudaHostAlloc calls: none after the first batches).
empty_cache gives the cached ones back too.]=],
  [=[
local s = brasa.cuda.memory_stats()
print(s.allocated >= 0, s.cached >= 0)  --> true true]=])

entry('brasa.cuda.empty_cache', 'brasa.cuda.empty_cache()',
  'Gives the memory cached by brasa back to the device.',
  [=[
Runs Lua's collector first, so tensors nobody refers to free their blocks,
then returns every cached block with cudaFree. Only useful to leave memory
to another program: brasa itself reuses cached blocks. Does nothing without
a GPU.]=],
  [=[
brasa.cuda.empty_cache()
print(brasa.cuda.memory_stats().cached)  --> 0]=])

entry('brasa.cuda.allow_tf32', 'brasa.cuda.allow_tf32(on?) -> boolean',
  'Lets f32 matmul and convolutions use TF32 tensor cores; returns the previous setting (or the current one, with no argument).',
  [=[
TF32 keeps f32's range with a 10-bit mantissa in the products (about 1e-3
relative error) and runs several times faster on Ampere and later GPUs.
Off by default, as in PyTorch (whose cuDNN flag defaults on: here one
setting covers both); f16 and bf16 matmuls and convolutions use the tensor
cores whatever this says. Setting it loads nothing.]=],
  [=[
local old = brasa.cuda.allow_tf32(true)
print(brasa.cuda.allow_tf32())  --> true
brasa.cuda.allow_tf32(old)
print(brasa.cuda.allow_tf32())  --> false]=])

entry('brasa.cuda.benchmark', 'brasa.cuda.benchmark(on?) -> boolean',
  'Lets cuDNN time its convolution algorithms and keep the fastest; returns the previous setting (or the current one, with no argument).',
  [=[
Off by default: each new convolution shape (sizes, stride, padding,
dilation, groups, dtype) then takes the algorithm cuDNN's heuristics
propose. On, the first convolution of each shape times the algorithms
that fit in memory and the fastest is kept for the session, as PyTorch's
torch.backends.cudnn.benchmark: worth it when the shapes stay the same
from batch to batch (a training loop), a cost when they keep changing.
Results agree with either setting up to rounding (algorithms sum in
different orders). Setting it loads nothing.]=],
  [=[
local old = brasa.cuda.benchmark(true)
print(brasa.cuda.benchmark())  --> true
brasa.cuda.benchmark(old)
print(brasa.cuda.benchmark())  --> false]=])

entry('Tensor:cuda', 'x:cuda(device?) -> tensor',
  'x on a CUDA device (default cuda:0; device is an index from 0 or a name like \'cuda:1\').',
  [=[
x itself when it is there already, else a copy (x:to('cuda') is the same).
The copy is differentiable: the gradient moves back to x's device. Ops need
their operands on one device (a Lua number joins any); mixing devices
raises an error naming both. ]=] .. GUARD,
  [=[
if brasa.cuda.is_available() then
  local x = brasa.tensor({1, 2, 3}, {requires_grad = true})
  local y = (x:cuda() * 2):sum()
  y:backward()
  print(y.device, x.grad)   -- cuda:0, then [2, 2, 2] on the cpu
end]=])

entry('Tensor:cpu', 'x:cpu() -> tensor',
  'x on the CPU: x itself when it is there, else a copy (differentiable).',
  'Reading values (printing, x:item(), x:totable()) moves a GPU tensor to the CPU by itself.',
  [=[
local x = brasa.tensor{1, 2}
print(x:cpu() == x)  --> true]=])

entry('Tensor:set_', 'x:set_(y) -> x',
  "x takes y's memory, dtype, shape and device, and stays the same tensor (the same Lua value).",
  [=[
x then shares y's storage, as a view would. x keeps requires_grad and its
hooks; a gradient that no longer fits (shape, dtype or device) is dropped.
This is how model:cuda() and model:to('f64') move parameters in place, so
that an optimiser built before still holds them. x must be a leaf (not the
result of an op); a graph that saved x refuses to run backward afterwards.]=],
  [=[
local w = brasa.ones(2, {requires_grad = true})
local params = {w}
w:set_(brasa.zeros(3, {dtype = 'f64'}))
print(params[1] == w, w.dtype, w.shape[1], w.requires_grad)  --> true f64 3 true]=])

for _, e in ipairs(list) do doc.add(e) end

-- brasa.cuda's functions are bound here (tensor methods are bound with the
-- others by brasa.docs.tensor's bind_all).
local core = package.loaded['brasa.core']
if core and type(core.cuda) == 'table' then
  for _, e in ipairs(list) do
    local k = e[1]:match('^brasa%.cuda%.([%w_]+)$')
    if k then doc.bind(core.cuda[k], e[1]) end
  end
end

return {entries = list}
