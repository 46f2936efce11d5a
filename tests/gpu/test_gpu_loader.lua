-- tests/gpu/test_gpu_loader.lua: the DataLoader's device path.
--
--   build/brasa tests/gpu/test_gpu_loader.lua [filter]
--
-- DataLoader(ds, {device = 'cuda', pin_memory = true}) delivers batches on
-- the GPU, staged: the prefetch thread gathers rows into pinned host memory
-- and queues their copy on a copy stream, which the compute stream waits
-- for (core/io/loader.c, core/cuda/stage.c). Checked here:
-- - every batch equals the CPU loader's batch of the same seed, exactly,
--   for several dtypes, a non-contiguous source, a last smaller batch, with
--   and without prefetching, with pin_memory = false, across epochs;
-- - epochs abandoned midway and loaders closed with a batch in flight;
-- - batches stay right while long kernels run and blocks are freed and
--   reused between steps (the caching allocator and the copy stream);
-- - the pinned buffers are reused (no new cudaHostAlloc after the first
--   epoch) and given back by empty_cache;
-- - bad device options fail clearly.
-- The overlap is not asserted: a timing line compares steps with staged
-- batches, with pin_memory = false and with a batch already on the GPU.
--
-- Without a usable GPU it prints why and exits 0 (a skip). With
-- BRASA_GPU_TEST_FAKE=1 the CPU stands in for the GPU (device 'cpu', the
-- GPU-only checks skip): a check of the tests themselves. The runner is
-- tests/gpu/test_gpu.lua's (per-test times by the wall clock here). Used as a
-- module (dofile), it returns {run = function(filter) -> passed, failed}.

local brasa = require 'brasa'
local cuda = brasa.cuda
local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local H = dofile(here .. 'test_gpu.lua')   -- the harness (its tests are not run here)

local FAKE = H.FAKE
local DEV = FAKE and 'cpu' or 'cuda:0'
local clock = brasa.clock or require('brasa.progress').clock

local function sync() if not FAKE then cuda.synchronize() end end

-- ---- helpers ------------------------------------------------------------------------------

local function shape_str(t) return '[' .. table.concat(t.shape, 'x') .. ']' end

-- got (on DEV) equals want (CPU) exactly: same shape, dtype and values.
local function same(what, got, want)
  assert(brasa.is_tensor(got), what .. ': not a tensor')
  assert(got.device == DEV, what .. ': on ' .. got.device .. ', expected ' .. DEV)
  assert(shape_str(got) == shape_str(want), what .. ': shape ' .. shape_str(got) .. ', expected ' .. shape_str(want))
  assert(got.dtype == want.dtype, what .. ': dtype ' .. got.dtype .. ', expected ' .. want.dtype)
  local g = got:cpu()
  local diff = g:ne(want):sum():item()
  if diff ~= 0 then
    error(string.format('%s: %d elements differ from the CPU batch (%s %s)', what, diff,
                        shape_str(want), want.dtype), 0)
  end
end

local function expect_error(what, fn, word)
  local ok, err = pcall(fn)
  assert(not ok, what .. ': no error raised')
  assert(tostring(err):find(word, 1, true), what .. ': the message lacks "' .. word .. '": ' .. tostring(err))
end

-- A data set of several dtypes, one source a non-contiguous view, with a
-- row count that leaves a smaller last batch.
local function dataset(n)
  local x = brasa.randn(3, 4, n, 4):permute(3, 1, 2, 4)   -- n x 3 x 4 x 4, not contiguous
  assert(not x:is_contiguous())
  return brasa.data.TensorDataset(
    x,
    brasa.randint(1, 10, n),                              -- i64 labels
    brasa.randint(0, 255, n, 7):to('u8'),
    brasa.randn(n, {dtype = 'f64'}),
    brasa.rand(n, 5):gt(0.5))                             -- bool
end

-- Every batch of `epochs` epochs of a loader on DEV against the CPU
-- loader with the same seed.
local function compare(ds, opts, epochs, what)
  local cpu_opts, dev_opts = {}, {}
  for k, v in pairs(opts) do cpu_opts[k], dev_opts[k] = v, v end
  dev_opts.device = DEV
  local ref = brasa.data.DataLoader(ds, cpu_opts)
  local dev = brasa.data.DataLoader(ds, dev_opts)
  assert(#ref == #dev)
  for e = 1, epochs do
    local want = {}
    for k, b in ipairs(ref) do want[k] = b end
    local k = 0
    for a, b, c, d, f in dev:iter() do
      k = k + 1
      local w = want[k]
      local got = {a, b, c, d, f}
      for j = 1, 5 do same(string.format('%s: epoch %d batch %d value %d', what, e, k, j), got[j], w[j]) end
    end
    assert(k == #ref, what .. ': ' .. k .. ' batches, expected ' .. #ref)
  end
  dev:close()
  return dev
end

-- ---- the tests ---------------------------------------------------------------------------------

local tests = {}
local function test(name, fn, gpu_only) tests[#tests + 1] = {name = name, fn = fn, gpu_only = gpu_only} end

test('staged batches equal the CPU batches (5 dtypes, shuffled)', function()
  local ds = dataset(103)
  local l = compare(ds, {batch_size = 16, shuffle = true, seed = 5}, 2, 'staged')
  assert(l.device == DEV)
  assert(l.pin_memory == not FAKE, 'pin_memory defaults to true on a GPU')
  compare(ds, {batch_size = 16, shuffle = true, seed = 5, drop_last = true}, 1, 'drop_last')
  compare(ds, {batch_size = 200}, 1, 'one batch larger than the data set')
end)

test('without prefetching, and with pin_memory = false', function()
  local ds = dataset(50)
  compare(ds, {batch_size = 8, shuffle = true, seed = 2, prefetch = false}, 2, 'no prefetch')
  compare(ds, {batch_size = 8, shuffle = true, seed = 2, pin_memory = false}, 2, 'pin_memory = false')
end)

test('custom collate and data sets of functions are moved too', function()
  local x = brasa.randn(10, 3)
  local ds = {len = function() return 10 end, get = function(i) return x[i], i end}
  local l = brasa.data.DataLoader(ds, {batch_size = 4, device = DEV})
  local k = 0
  for xb, ib in l:iter() do
    k = k + 1
    same('collated x', xb, x:narrow(1, 4 * (k - 1) + 1, xb.shape[1]))
    assert(ib.device == DEV and ib.dtype == 'i64', 'collated indices on ' .. ib.device)
  end
  assert(k == 3)
end)

test('transform sees the batch on the device', function()
  local ds = dataset(20)
  local seen
  local l = brasa.data.DataLoader(ds, {batch_size = 8, device = DEV, transform = function(xb, ...)
    seen = xb.device
    return xb * 2, ...
  end})
  local xb = l:batch(1)
  assert(seen == DEV, 'transform saw ' .. tostring(seen))
  same('transformed', xb, ds.tensors[1]:narrow(1, 1, 8) * 2)
end)

test('abandoned epochs, close with a batch in flight, batch(k)', function()
  local ds = dataset(70)
  local opts = {batch_size = 8, shuffle = true, seed = 9}
  local ref = brasa.data.DataLoader(ds, opts)
  local dev = brasa.data.DataLoader(ds, {batch_size = 8, shuffle = true, seed = 9, device = DEV})
  for _ = 1, 3 do   -- two batches of an epoch, then a new epoch (the prefetched batch is dropped)
    local it, rit = dev:iter(), ref:iter()
    for _ = 1, 2 do
      local a = it()
      same('abandoned epoch', a, (rit()))
    end
  end
  local want = {}
  for k, b in ipairs(ref) do want[k] = b[1] end
  for k, b in ipairs(dev) do
    same('full epoch after abandoned ones, batch ' .. k, b[1], want[k])
    if k == 4 then dev:close() end   -- a batch in flight: dropped; the next one is gathered anew
  end
  local b3 = dev:batch(3)
  same('batch(3) of a new epoch', b3, ref:batch(3))
  dev:close()
  dev:close()
  collectgarbage()
end)

-- Two loaders share the device's copy stream (their fences and copies
-- interleave on it); batches of one row; every batch of one loader kept to
-- the end and checked again after all later copies ran (a copy that landed
-- late, or a destination or pinned block reused while still in flight,
-- would show there); a tensor with no bytes per row (copies of 0 bytes).
test('two staged loaders at once, one-row batches, batches kept, a zero-width tensor', function()
  local n = 29
  local ds = dataset(n)
  local function pairs_of(opts)
    local dev_opts = {device = DEV}
    for k, v in pairs(opts) do dev_opts[k] = v end
    return brasa.data.DataLoader(ds, opts), brasa.data.DataLoader(ds, dev_opts)
  end
  local aref, a = pairs_of({batch_size = 4, shuffle = true, seed = 3})
  local bref, b = pairs_of({batch_size = 1, shuffle = true, seed = 8})
  local ia, ira, ib, irb = a:iter(), aref:iter(), b:iter(), bref:iter()
  local kept = {}
  for step = 1, #b do
    local got, want = table.pack(ib()), table.pack(irb())
    for j = 1, 5 do same(string.format('one-row batch %d value %d', step, j), got[j], want[j]) end
    if step <= #a then
      kept[step] = {table.pack(ia()), table.pack(ira())}
      for j = 1, 5 do same(string.format('batch %d value %d', step, j), kept[step][1][j], kept[step][2][j]) end
    end
  end
  assert(ia() == nil and ib() == nil, 'both epochs ended')
  for k, e in ipairs(kept) do
    for j = 1, 5 do same(string.format('kept batch %d value %d, at the end', k, j), e[1][j], e[2][j]) end
  end
  a:close()
  b:close()
  local z = brasa.data.TensorDataset(brasa.zeros(n, 0), brasa.randint(1, 5, n))
  local zref = brasa.data.DataLoader(z, {batch_size = 8})
  local zdev = brasa.data.DataLoader(z, {batch_size = 8, device = DEV})
  local want = {}
  for k, v in ipairs(zref) do want[k] = v end
  local k = 0
  for xb, yb in zdev:iter() do
    k = k + 1
    same('zero-width x, batch ' .. k, xb, want[k][1])
    same('y beside a zero-width x, batch ' .. k, yb, want[k][2])
  end
  assert(k == #zref, 'zero-width: ' .. k .. ' batches')
  zdev:close()
end)

test('batches stay right while kernels run and blocks are reused', function()
  local n, width, bs = 64 * 20, 1024, 64
  local x = brasa.randint(0, 9, n, width):float()       -- integers: sums exact in any order
  local y = brasa.randint(1, 10, n)
  local w = brasa.randn(width, 2048, {device = DEV})
  local l = brasa.data.DataLoader({x = x, y = y}, {batch_size = bs, shuffle = true, seed = 4, device = DEV})
  local ref = brasa.data.DataLoader({x = x, y = y}, {batch_size = bs, shuffle = true, seed = 4})
  for epoch = 1, 2 do
    local sums, ysums = {}, {}
    for xb, yb in l:iter() do
      local h = xb:matmul(w):relu()                      -- a long kernel queued before the next copy
      h = (h:matmul(w:t()) + xb):sum()
      sums[#sums + 1] = xb:double():sum(2)               -- kept on the device until the end
      ysums[#ysums + 1] = yb:sum()
      h = nil
      collectgarbage()                                   -- free blocks now: the next batches reuse them
    end
    local k = 0
    for xb, yb in ref:iter() do
      k = k + 1
      same(string.format('row sums of batch %d (epoch %d)', k, epoch), sums[k], xb:double():sum(2))
      assert(ysums[k]:item() == yb:sum():item(), 'label sum of batch ' .. k)
    end
    assert(k == #sums)
  end
  l:close()
end)

test('pinned buffers are reused, then given back by empty_cache', function()
  local ds = dataset(300)
  local l = brasa.data.DataLoader(ds, {batch_size = 32, shuffle = true, seed = 1, device = DEV})
  for _ in l:iter() do end
  local s1 = cuda.memory_stats()
  assert(s1.pinned_num_host_allocs > 0, 'no pinned buffer was allocated')
  assert(s1.pinned_reserved > 0)
  for _ = 1, 3 do for _ in l:iter() do end end
  local s2 = cuda.memory_stats()
  assert(s2.pinned_num_host_allocs == s1.pinned_num_host_allocs,
         string.format('cudaHostAlloc called again: %d -> %d', s1.pinned_num_host_allocs, s2.pinned_num_host_allocs))
  assert(s2.pinned_num_cache_hits > s1.pinned_num_cache_hits, 'no pinned buffer reused')
  l:close()
  assert(cuda.memory_stats().pinned_allocated == 0, 'pinned buffers still in use after close')
  cuda.empty_cache()
  assert(cuda.memory_stats().pinned_reserved == 0, 'empty_cache kept pinned buffers')
end, true)

test('bad device options fail clearly', function()
  local ds = {x = brasa.zeros(4, 2)}
  expect_error('unknown name', function() return brasa.data.DataLoader(ds, {device = 'gpu'}) end, "unknown device 'gpu'")
  expect_error('a number', function() return brasa.data.DataLoader(ds, {device = 0}) end, 'device name')
  expect_error('no such device', function() return brasa.data.DataLoader(ds, {device = 'cuda:57'}) end, 'cuda:57')
  expect_error('pin_memory', function() return brasa.data.DataLoader(ds, {device = DEV, pin_memory = 'yes'}) end,
               'pin_memory must be a boolean')
end)

-- A timing, not a test of speed: steps that read a batch, then run a long
-- matmul (a 4096^3 f32 product, ~3 ms on an H100), on batches that take a
-- while to gather and copy (12.6 MB), three ways: staged (the next batch's
-- gather and copy overlap the matmul), pin_memory = false (its synchronous
-- copy waits for the queued matmul, then blocks the host), and a batch
-- already on the device (the floor).
test('timing: staged batches against pin_memory = false (printed)', function()
  local n, bs, width, m = 64 * 14, 64, 3 * 128 * 128, 4096
  if FAKE then n, width, m = 64 * 5, 3 * 16 * 16, 64 end   -- the CPU: small
  local x = brasa.ones(n, width)
  local a = brasa.randn(m, m, {device = DEV})
  local b = brasa.randn(m, m, {device = DEV})
  local function run(loader, fixed)
    local steps, t0, total = 0, nil, nil
    local function step(xb)
      local s = xb:sum()                                 -- uses the batch: waits for its copy
      total = total and total + s or s
      local _ = a:matmul(b)
      steps = steps + 1
      if steps == 2 then sync(); t0 = clock() end       -- the first two steps warm up
    end
    if fixed then
      for _ = 1, #loader do step(fixed) end
    else
      for xb in loader:iter() do step(xb) end
    end
    sync()
    assert(total:item() == steps * bs * width, 'batch sums: ' .. total:item())
    return (clock() - t0) / (steps - 2) * 1e3
  end
  local staged = brasa.data.DataLoader({x = x}, {batch_size = bs, device = DEV})
  local plain = brasa.data.DataLoader({x = x}, {batch_size = bs, device = DEV, pin_memory = false})
  run(staged)
  local t_staged = run(staged)
  local t_plain = run(plain)
  local t_fixed = run(staged, staged:batch(1))
  staged:close()
  plain:close()
  print(string.format('\n      loader step (%.1f MB batches, a %d^3 matmul): staged %.2f ms, pin_memory=false %.2f ms, '
                      .. 'batch already on the device %.2f ms', bs * width * 4 / 1e6, m, t_staged, t_plain, t_fixed))
  io.stdout:flush()
  if not FAKE then
    print(string.format('loader_timing staged_ms %.3f plain_ms %.3f fixed_ms %.3f', t_staged, t_plain, t_fixed))
  end
end)

-- ---- the runner -------------------------------------------------------------------------------

local function run(filter) return H.run_tests(tests, filter, {wall = true}) end

H.main('tests/gpu/test_gpu_loader.lua', run)

return {run = run, tests = tests}
