-- tests/gpu/test_gpu.lua: the GPU backend against the CPU reference.
--
--   build/brasa tests/gpu/test_gpu.lua [filter]
--
-- Every op the CUDA backend implements runs on the GPU and on the CPU from
-- the same inputs (random, non-zero, many of them non-contiguous views made
-- the same way on both devices), and the results must agree within the
-- tolerance of their dtype: f32 1e-5 relative, f64 1e-12, f16 1e-3, bf16
-- 1e-2, exact for integers, bools and comparisons; matmul relative to
-- |a| |b| (TF32 2e-3, f16 2e-3, bf16 1e-2). Gradients too: the same graph
-- backward on each device. Device mixing, bad indices and out-of-memory must
-- fail with clear messages.
--
-- Without a usable GPU it prints why and exits 0 (a skip). With one it
-- prints a line per failure and a summary, and exits 1 if anything failed.
-- A filter (a Lua pattern) runs only the tests whose names match.
-- Used as a module (require), it returns {run = function(filter) -> passed, failed}.
--
-- BRASA_GPU_TEST_FAKE=1 runs the suite with the CPU standing in for the GPU
-- (x:cuda() is a copy, 'cuda' devices are 'cpu', the GPU-only checks skip):
-- a check of the suite itself on a machine without a GPU.

local brasa = require 'brasa'
local cuda = brasa.cuda

local M = {}

local FAKE = os.getenv('BRASA_GPU_TEST_FAKE') == '1'
local DEV = FAKE and 'cpu' or 'cuda'
if FAKE then
  brasa.Tensor.cuda = function(x) return x:clone() end
end

local FLOATS = {'f32', 'f64'}
local ALL = {'f32', 'f64', 'f16', 'bf16', 'i64', 'i32', 'u8', 'bool'}
local TOL = {f32 = {1e-5, 1e-6}, f64 = {1e-12, 1e-14}, f16 = {1e-3, 1e-3}, bf16 = {1e-2, 1e-2}}

local function is_float(dt) return TOL[dt] ~= nil end

-- ---- comparisons -------------------------------------------------------------------

local function shape_str(t) return '[' .. table.concat(t.shape, 'x') .. ']' end

local function flat(t)
  t = t:cpu()
  if is_float(t.dtype) then return t:double():reshape(-1):totable() end
  return t:long():reshape(-1):totable()
end

-- got (a GPU tensor) against want (CPU): same shape and dtype, values within
-- rtol/atol (defaults by dtype); NaN where want has NaN, equal infinities.
local function close(what, got, want, rtol, atol)
  assert(brasa.is_tensor(got), what .. ': no tensor returned')
  assert(FAKE or got.device:match('^cuda'), what .. ': result on ' .. got.device .. ', expected the GPU')
  assert(shape_str(got) == shape_str(want),
         what .. ': shape ' .. shape_str(got) .. ', expected ' .. shape_str(want))
  assert(got.dtype == want.dtype, what .. ': dtype ' .. got.dtype .. ', expected ' .. want.dtype)
  local tol = TOL[want.dtype]
  rtol = rtol or (tol and tol[1] or 0)
  atol = atol or (tol and tol[2] or 0)
  local g, w = flat(got), flat(want)
  local worst, at = -1, nil
  for i = 1, #w do
    local a, b = g[i], w[i]
    local ok
    if b ~= b then ok = a ~= a
    elseif b == math.huge or b == -math.huge then ok = a == b
    else ok = a == b or math.abs(a - b) <= atol + rtol * math.abs(b) end
    if not ok then
      local d = (a ~= a or b ~= b) and math.huge or math.abs(a - b)
      if d > worst then worst, at = d, i end
    end
  end
  if at then
    error(string.format('%s: element %d is %s on the GPU, %s on the CPU (rtol %g, atol %g; %s %s)',
                        what, at, tostring(g[at]), tostring(w[at]), rtol, atol, shape_str(want),
                        want.dtype), 0)
  end
end

local function expect_error(what, fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, what .. ': no error raised')
  err = tostring(err)
  for _, word in ipairs({...}) do
    assert(err:find(word, 1, true), what .. ': the message lacks "' .. word .. '": ' .. err)
  end
  return err
end

-- ---- inputs -------------------------------------------------------------------------

-- Values of one kind as a CPU f64 tensor of `shape`.
local function values(shape, kind)
  kind = kind or 'normal'
  if kind == 'normal' then return brasa.randn(shape, {dtype = 'f64'}) end
  if kind == 'positive' then return brasa.rand(shape, {dtype = 'f64'}) * 2 + 0.1 end
  if kind == 'unit' then return brasa.rand(shape, {dtype = 'f64'}) * 1.8 - 0.9 end
  if kind == 'int' then return (brasa.randn(shape, {dtype = 'f64'}) * 5):round() end
  if kind == 'nonzero_int' then   -- integers in [-9, 9] without 0
    local r = (brasa.rand(shape, {dtype = 'f64'}) * 9):floor() + 1
    local s = brasa.rand(shape, {dtype = 'f64'}):gt(0.5):double() * 2 - 1
    return r * s
  end
  if kind == 'small_int' then return (brasa.rand(shape, {dtype = 'f64'}) * 4):floor() end
  if kind == 'byte' then return (brasa.rand(shape, {dtype = 'f64'}) * 200):floor() + 1 end
  if kind == 'bool' then return brasa.rand(shape, {dtype = 'f64'}):gt(0.5):double() end
  error('unknown kind ' .. kind)
end

-- The same view of the same values on the CPU and on the GPU: with
-- `strided`, a transposed (dims reversed), offset view of a larger tensor.
local function pair(shape, dtype, kind, strided)
  dtype = dtype or 'f32'
  local n = #shape
  if not strided or n == 0 then
    local c = values(shape, kind):to(dtype)
    return c, c:cuda()
  end
  local rev = {}
  for i = 1, n do rev[i] = shape[n + 1 - i] end
  rev[1] = rev[1] + 2
  local base = values(rev, kind):to(dtype)
  local function view(t)
    if n >= 2 then
      local perm = {}
      for i = 1, n do perm[i] = n + 1 - i end
      t = t:permute(perm)
    end
    return t:narrow(n, 2, shape[n])
  end
  return view(base), view(base:cuda())
end

-- ---- the harness ---------------------------------------------------------------------

local tests = {}
local function test(name, fn, gpu_only) tests[#tests + 1] = {name = name, fn = fn, gpu_only = gpu_only} end

-- ---- devices and copies ------------------------------------------------------------------

test('device queries', function()
  assert(cuda.device_count() >= 1)
  assert(#cuda.device_name(0) > 0)
  cuda.synchronize()
  local s = cuda.memory_stats()
  assert(s.available and s.device_total > 0, 'memory_stats without device totals')
end, true)

test('creation with a device option', function()
  local z = brasa.zeros(3, 4, {device = DEV})
  assert(FAKE or z.device == 'cuda:0', z.device)
  close('zeros', z, brasa.zeros(3, 4))
  close('ones', brasa.ones({2, 5}, {device = DEV, dtype = 'f64'}), brasa.ones(2, 5, {dtype = 'f64'}))
  close('full', brasa.full(2, 3, 7.5, {device = DEV}), brasa.full(2, 3, 7.5))
  brasa.manual_seed(7)
  local a = brasa.randn(50, {device = DEV})
  brasa.manual_seed(7)
  close('randn with device', a, brasa.randn(50), 0, 0)
  local r = brasa.zeros(4, {device = DEV, requires_grad = true})
  assert(r.requires_grad and r.is_leaf, 'requires_grad on a device leaf')
  close('tensor{} with device', brasa.tensor({{1, 2}, {3, 4}}, {device = DEV}), brasa.tensor{{1, 2}, {3, 4}})
end)

test('round trips of every dtype, strided', function()
  for _, dt in ipairs(ALL) do
    local c, g = pair({5, 7}, dt, dt == 'bool' and 'bool' or 'int', true)
    close('round trip ' .. dt, g, c, 0, 0)
    close('contiguous ' .. dt, g:contiguous(), c:contiguous(), 0, 0)
    assert(g:cpu():equal(c), 'cpu() of ' .. dt)
  end
  local c = brasa.randn(3, 4)
  assert(c:cuda():cuda() ~= nil and c:to(DEV):to('cpu'):equal(c), 'to(device) round trip')
  local s = brasa.tensor(2.5)
  close('0-dim', s:cuda(), s, 0, 0)
  close('empty', brasa.zeros(0, 3):cuda(), brasa.zeros(0, 3), 0, 0)
end)

test('copy with dtype conversion (8 x 8 dtypes, strided)', function()
  local src = brasa.tensor({{-3.7, -1, -0.5, 0, 0.5}, {1, 2.5, 300.25, 70000, 1e10}, {0 / 0, 1 / 0, -1 / 0, 255.5, -256}},
                           {dtype = 'f64'}):t()
  for _, sd in ipairs(ALL) do
    local cs = src:to(sd)
    local gs = src:cuda():to(sd)
    for _, dd in ipairs(ALL) do
      close(sd .. ' -> ' .. dd, gs:to(dd), cs:to(dd), 0, 0)
    end
  end
end)

test('fill_, zero_ and copy_ into strided views', function()
  local c, g = brasa.zeros(4, 6), brasa.zeros(4, 6, {device = DEV})
  c:narrow(2, 2, 3):fill_(7)
  g:narrow(2, 2, 3):fill_(7)
  close('fill_ a view', g, c, 0, 0)
  local cs, gs = pair({3, 4}, 'f64', 'normal', true)
  c:t():narrow(1, 1, 4):narrow(2, 1, 3):copy_(cs:t())
  g:t():narrow(1, 1, 4):narrow(2, 1, 3):copy_(gs:t())
  close('copy_ f64 into an f32 view', g, c, 0, 0)
  c:select(1, 2):copy_(brasa.tensor(3.25))   -- a 0-dim CPU source broadcasts
  g:select(1, 2):fill_(3.25)
  close('fill_ a row', g, c, 0, 0)
  local gi = brasa.zeros(3, 3, {dtype = 'i64', device = DEV})
  gi:zero_()
  close('zero_ i64', gi, brasa.zeros(3, 3, {dtype = 'i64'}), 0, 0)
  local ok = pcall(function() g:copy_(brasa.ones(4, 6)) end)
  assert(FAKE or not ok, 'copy_ from a CPU tensor into a GPU one must fail')
end)

-- ---- elementwise ----------------------------------------------------------------------

local BIN_FLOAT = {'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'atan2', 'fmod', 'remainder',
                   'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor'}
local BIN_INT = {'add', 'sub', 'mul', 'maximum', 'minimum', 'fmod', 'remainder', 'eq', 'ne', 'lt',
                 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor', 'div'}

test('binary ops, float dtypes, broadcast and strided', function()
  for _, dt in ipairs(FLOATS) do
    local ca, ga = pair({4, 1, 5}, dt, 'normal', true)
    local cb, gb = pair({3, 5}, dt, 'normal', true)
    for _, op in ipairs(BIN_FLOAT) do
      close(op .. ' ' .. dt, ga[op](ga, gb), ca[op](ca, cb))
    end
    local cp, gp = pair({4, 5}, dt, 'positive', true)
    close('pow ' .. dt, gp:pow(gb:narrow(1, 1, 1)), cp:pow(cb:narrow(1, 1, 1)))
    close('pow scalar ' .. dt, gp ^ 2.5, cp ^ 2.5)
    close('x + number', ga + 1.5, ca + 1.5)
    close('number - x', 2 - ga, 2 - ca)
    close('number / x', 3 / gb, 3 / cb)
    close('x * integer', ga * 3, ca * 3)
    close('0-dim GPU operand', ga * gb:sum(), ca * cb:sum())
  end
  -- f16/bf16 compute in f32 and store in their dtype
  for _, dt in ipairs({'f16', 'bf16'}) do
    local ca, ga = pair({6, 5}, dt, 'normal', true)
    local cb, gb = pair({6, 5}, dt, 'normal', false)
    close('add ' .. dt, ga + gb, ca + cb)
    close('mul ' .. dt, ga * gb, ca * cb)
    close('gt ' .. dt, ga:gt(gb), ca:gt(cb), 0, 0)
  end
  -- promotion: i64 tensor times a float number, i64 / i64
  local ci, gi = pair({3, 4}, 'i64', 'nonzero_int', true)
  close('i64 * 0.5', gi * 0.5, ci * 0.5)
  close('i64 / i64', gi / gi:t():t(), ci / ci:t():t())
end)

test('binary ops, integer and bool dtypes', function()
  for _, dt in ipairs({'i64', 'i32', 'u8'}) do
    local kind = dt == 'u8' and 'byte' or 'nonzero_int'
    local ca, ga = pair({4, 6}, dt, kind, true)
    local cb, gb = pair({4, 6}, dt, kind, false)
    for _, op in ipairs(BIN_INT) do
      close(op .. ' ' .. dt, ga[op](ga, gb), ca[op](ca, cb), 0, 0)
    end
    local ce, ge = pair({4, 6}, dt, 'small_int', false)
    close('pow ' .. dt, ga:pow(ge), ca:pow(ce), 0, 0)
    close(dt .. ' + 7', ga + 7, ca + 7, 0, 0)
  end
  local cu, gu = brasa.tensor({250, 3, 128}, {dtype = 'u8'}), brasa.tensor({250, 3, 128}, {dtype = 'u8', device = DEV})
  close('u8 wraps', gu + gu, cu + cu, 0, 0)
  local big = brasa.tensor({9223372036854775807, -9223372036854775807}, {dtype = 'i64'})
  close('i64 wraps', big:cuda() + 5, big + 5, 0, 0)
  local cb, gb = pair({5, 5}, 'bool', 'bool', true)
  local cc, gc = pair({5, 5}, 'bool', 'bool', false)
  for _, op in ipairs({'maximum', 'minimum', 'eq', 'ne', 'lt', 'logical_and', 'logical_or', 'logical_xor', 'add', 'mul'}) do
    close(op .. ' bool', gb[op](gb, gc), cb[op](cb, cc), 0, 0)
  end
  local z = brasa.tensor({1, 0, 2}, {dtype = 'i64', device = DEV})
  expect_error('integer fmod by zero', function() return z:fmod(z) end, 'division by zero')
end)

local UNARY_DOMAIN = {
  neg = 'normal', abs = 'normal', exp = 'normal', log = 'positive', log1p = 'positive',
  expm1 = 'normal', sqrt = 'positive', rsqrt = 'positive', sin = 'normal', cos = 'normal',
  tan = 'unit', tanh = 'normal', sigmoid = 'normal', relu = 'normal', sign = 'normal',
  floor = 'normal', ceil = 'normal', round = 'normal', trunc = 'normal', reciprocal = 'positive',
  square = 'normal', erf = 'normal', asin = 'unit', acos = 'unit', atan = 'normal', sinh = 'normal',
  cosh = 'normal', log2 = 'positive', log10 = 'positive', exp2 = 'normal', isnan = 'normal',
  isinf = 'normal', logical_not = 'int',
}

test('unary ops, every op on f32 and f64, strided', function()
  for _, dt in ipairs(FLOATS) do
    for op, kind in pairs(UNARY_DOMAIN) do
      local c, g = pair({6, 7}, dt, kind, true)
      if op == 'round' then c, g = c * 4, g * 4 end   -- halves: round to even on both
      close(op .. ' ' .. dt, g[op](g), c[op](c))
    end
  end
  local special = brasa.tensor{0 / 0, 1 / 0, -1 / 0, -0.0, 0, 2.5, -2.5, 1e-30}
  for _, op in ipairs({'isnan', 'isinf', 'sign', 'abs', 'relu', 'exp', 'round', 'sqrt', 'log', 'logical_not'}) do
    close(op .. ' of specials', special:cuda()[op](special:cuda()), special[op](special))
  end
  for _, dt in ipairs({'f16', 'bf16'}) do
    local c, g = pair({5, 6}, dt, 'normal', true)
    close('exp ' .. dt, g:exp(), c:exp())
    close('tanh ' .. dt, g:tanh(), c:tanh())
  end
end)

test('unary ops on integer and bool dtypes', function()
  for _, dt in ipairs({'i64', 'i32', 'u8', 'bool'}) do
    local kind = dt == 'u8' and 'byte' or dt == 'bool' and 'bool' or 'int'
    local c, g = pair({5, 6}, dt, kind, true)
    local ops = {'abs', 'sign', 'relu', 'floor', 'ceil', 'round', 'trunc', 'logical_not', 'isnan', 'isinf', 'exp', 'sqrt'}
    if dt ~= 'bool' then ops[#ops + 1] = 'neg'; ops[#ops + 1] = 'square' end
    for _, op in ipairs(ops) do close(op .. ' ' .. dt, g[op](g), c[op](c)) end
  end
end)

test('clamp and where', function()
  for _, dt in ipairs({'f32', 'f64', 'i64', 'i32', 'u8'}) do
    local kind = dt == 'u8' and 'byte' or (is_float(dt) and 'normal' or 'int')
    local c, g = pair({5, 6}, dt, kind, true)
    close('clamp ' .. dt, g:clamp(-1.5, 40.5), c:clamp(-1.5, 40.5), 0, 0)
    close('clamp lower only ' .. dt, g:clamp(2), c:clamp(2), 0, 0)
  end
  local cc, gc = pair({4, 5}, 'bool', 'bool', true)
  local ca, ga = pair({4, 5}, 'f32', 'normal', false)
  local cb, gb = pair({5}, 'f32', 'normal', true)
  close('where', brasa.where(gc, ga, gb), brasa.where(cc, ca, cb), 0, 0)
  close('where with numbers', brasa.where(gc, ga, 0), brasa.where(cc, ca, 0), 0, 0)
  close('where number first', brasa.where(gc, -1, gb), brasa.where(cc, -1, cb), 0, 0)
  close('masked_fill', ga:masked_fill(gc, 9), ca:masked_fill(cc, 9), 0, 0)
  close('leaky_relu', ga:leaky_relu(0.1), ca:leaky_relu(0.1))
  close('elu', ga:elu(), ca:elu())
  close('softplus', ga:softplus(), ca:softplus())
  close('gelu', ga:gelu(), ca:gelu())
end)

-- f16 and bf16: the GPU runs one kernel per op that loads halves, computes in
-- float and stores halves; the CPU widens to f32 and narrows back. Both round
-- once, so correctly rounded ops (+ - * /, sqrt, comparisons, selections)
-- agree exactly and the rest within the dtype's tolerance; results keep the
-- half dtype. A Lua number joins as f32, not rounded to the half first.
test('f16 and bf16 elementwise: every op, broadcast, strided, numbers, in place', function()
  for _, dt in ipairs({'f16', 'bf16'}) do
    local ca, ga = pair({4, 1, 5}, dt, 'normal', true)
    local cb, gb = pair({3, 5}, dt, 'normal', true)
    for _, op in ipairs(BIN_FLOAT) do
      close(op .. ' ' .. dt, ga[op](ga, gb), ca[op](ca, cb))
    end
    for _, op in ipairs({'add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'eq', 'lt', 'ge'}) do
      close(op .. ' ' .. dt .. ' exact', ga[op](ga, gb), ca[op](ca, cb), 0, 0)
    end
    local cp, gp = pair({4, 5}, dt, 'positive', true)
    close('pow ' .. dt, gp:pow(gb:narrow(1, 1, 1)), cp:pow(cb:narrow(1, 1, 1)))
    close('pow number ' .. dt, gp ^ 2.5, cp ^ 2.5)
    close(dt .. ' + number', ga + 1.5, ca + 1.5, 0, 0)
    close(dt .. ' * 0.1', ga * 0.1, ca * 0.1, 0, 0)
    close('number - ' .. dt, 2 - ga, 2 - ca, 0, 0)
    close('number / ' .. dt, 3 / gb, 3 / cb, 0, 0)
    close(dt .. ' * integer', ga * 3, ca * 3, 0, 0)
    close(dt .. ' gt number', ga:gt(0.1), ca:gt(0.1), 0, 0)
    close(dt .. ' eq number', ga:eq(ca:reshape(-1)[1]), ca:eq(ca:reshape(-1)[1]), 0, 0)
    close(dt .. ' * 0-dim CPU f64', ga * brasa.tensor(0.3, {dtype = 'f64'}), ca * brasa.tensor(0.3, {dtype = 'f64'}), 0, 0)
    local c0 = brasa.tensor(0.7, {dtype = dt})
    close(dt .. ' * 0-dim GPU', ga * c0:cuda(), ca * c0, 0, 0)
    close(dt .. ' + f32 tensor (promotes)', ga + gb:float(), ca + cb:float())
    close(dt .. ' + i64 tensor', gb + gb:long(), cb + cb:long(), 0, 0)
    -- the number is used as a float: 2047 * 0.1f rounds to 204.75 in f16, not
    -- 204.625 (2047 times 0.1 rounded to f16)
    local ck = brasa.tensor({2047, 1000, 3, -7.5, 255, 0.1}, {dtype = dt})
    close(dt .. ' * 0.1, exact', ck:cuda() * 0.1, ck * 0.1, 0, 0)
    if dt == 'f16' then assert((ck * 0.1)[1] == 204.75, 'f16 2047 * 0.1: ' .. (ck * 0.1)[1]) end
    for op, kind in pairs(UNARY_DOMAIN) do
      local c, g = pair({6, 7}, dt, kind, true)
      if op == 'round' then c, g = c * 4, g * 4 end
      local exact = ({neg = 1, abs = 1, relu = 1, sign = 1, floor = 1, ceil = 1, round = 1, trunc = 1,
                      sqrt = 1, square = 1, reciprocal = 1, isnan = 1, isinf = 1, logical_not = 1})[op]
      close(op .. ' ' .. dt, g[op](g), c[op](c), exact and 0, exact and 0)
    end
    local special = brasa.tensor({0 / 0, 1 / 0, -1 / 0, -0.0, 0, 2.5, -2.5, 1e-3}, {dtype = dt})
    for _, op in ipairs({'isnan', 'isinf', 'sign', 'abs', 'relu', 'exp', 'round', 'sqrt', 'log', 'neg'}) do
      close(op .. ' of ' .. dt .. ' specials', special:cuda()[op](special:cuda()), special[op](special))
    end
    close('clamp ' .. dt, ga:clamp(-0.3, 0.7), ca:clamp(-0.3, 0.7), 0, 0)
    close('clamp lower only ' .. dt, ga:clamp(0.1), ca:clamp(0.1), 0, 0)
    local cc, gc = pair({4, 3, 5}, 'bool', 'bool', true)
    close('where ' .. dt, brasa.where(gc, ga, gb), brasa.where(cc, ca, cb), 0, 0)
    close('where numbers ' .. dt, brasa.where(gc, ga, 0.1), brasa.where(cc, ca, 0.1), 0, 0)
    close('where number first ' .. dt, brasa.where(gc, -1.7, gb), brasa.where(cc, -1.7, cb), 0, 0)
    close('masked_fill ' .. dt, gb:masked_fill(gc, 9.3), cb:masked_fill(cc, 9.3), 0, 0)
    close('leaky_relu ' .. dt, ga:leaky_relu(0.1), ca:leaky_relu(0.1))
    close('gelu ' .. dt, ga:gelu(), ca:gelu())
    -- in place: a strided target, a broadcast operand, a number, a unary op
    local cx, gx = pair({3, 5}, dt, 'normal', true)
    cx:add_(cb); gx:add_(gb)
    close('add_ ' .. dt, gx, cx, 0, 0)
    cx:mul_(cb:narrow(1, 2, 1)); gx:mul_(gb:narrow(1, 2, 1))
    close('mul_ broadcast ' .. dt, gx, cx, 0, 0)
    cx:mul_(0.1); gx:mul_(0.1)
    close('mul_ number ' .. dt, gx, cx, 0, 0)
    cx:sub_(brasa.tensor(0.25, {dtype = dt})); gx:sub_(brasa.tensor(0.25, {dtype = dt}))
    close('sub_ 0-dim CPU ' .. dt, gx, cx, 0, 0)
    cx:tanh_(); gx:tanh_()
    close('tanh_ ' .. dt, gx, cx)
    cx:maximum_(cb); gx:maximum_(gb)
    close('maximum_ ' .. dt, gx, cx)
    assert(gx.dtype == dt and (FAKE or gx.device:match('^cuda')), 'in place keeps dtype and device')
  end
  -- mixed half dtypes promote to f32
  local ch, gh = pair({3, 5}, 'f16', 'normal', true)
  local cg, gg = pair({3, 5}, 'bf16', 'normal', false)
  close('f16 + bf16', gh + gg, ch + cg)
end)

-- ---- reductions -------------------------------------------------------------------------

test('sum, prod, mean, max, min, any, all over dims', function()
  local dims_list = {{}, {1}, {2}, {3}, {1, 3}, {2, 3}}
  for _, dt in ipairs(ALL) do
    local kind = dt == 'bool' and 'bool' or dt == 'u8' and 'byte' or is_float(dt) and 'normal' or 'int'
    local c, g = pair({6, 5, 7}, dt, kind, true)
    for _, dims in ipairs(dims_list) do
      local tag = dt .. ' dims {' .. table.concat(dims, ',') .. '}'
      local d = #dims > 0 and dims or nil
      close('sum ' .. tag, g:sum(d), c:sum(d))
      close('sum keepdim ' .. tag, g:sum(d or {1, 2, 3}, true), c:sum(d or {1, 2, 3}, true))
      if dt ~= 'bool' then
        local cs, gs = c, g
        if is_float(dt) then cs, gs = c * 0.5 + 1, g * 0.5 + 1 end
        close('prod ' .. tag, gs:prod(d), cs:prod(d))
      end
      if is_float(dt) then close('mean ' .. tag, g:mean(d), c:mean(d)) end
    end
    close('max all ' .. dt, g:max(), c:max(), 0, 0)
    close('min all ' .. dt, g:min(), c:min(), 0, 0)
    close('any ' .. dt, g:any(), c:any(), 0, 0)
    close('all ' .. dt, g:all(), c:all(), 0, 0)
  end
  -- long reductions (split across blocks) and many short ones
  local big = brasa.randn(3000000)
  local gbig = big:cuda()
  close('sum of 3e6', gbig:sum(), big:sum(), 1e-6, 1e-4)
  close('max of 3e6', gbig:max(), big:max(), 0, 0)
  local cols = brasa.randn(4096, 64)
  close('column sums', cols:cuda():sum(1), cols:sum(1), 1e-5, 1e-5)
  close('row sums', cols:cuda():sum(2), cols:sum(2), 1e-5, 1e-5)
  local nan = brasa.tensor{1, 0 / 0, 3}
  close('max with NaN', nan:cuda():max(), nan:max())
  close('sum of nothing', brasa.zeros(0, 3):cuda():sum(1), brasa.zeros(0, 3):sum(1), 0, 0)
  -- (brasa.empty: brasa.zeros(3, 0) trips fill_'s overlap check on the CPU)
  close('prod of nothing', brasa.empty(3, 0):cuda():prod(2), brasa.empty(3, 0):prod(2), 0, 0)
end)

test('max/min along a dim, argmax/argmin (ties, NaN)', function()
  for _, dt in ipairs({'f32', 'f64', 'f16', 'i64', 'i32', 'u8'}) do
    local kind = dt == 'u8' and 'byte' or is_float(dt) and 'int' or 'small_int'   -- many ties
    local c, g = pair({7, 9, 5}, dt, kind, true)
    for dim = 1, 3 do
      local cv, ci = c:max(dim)
      local gv, gi = g:max(dim)
      close('max values ' .. dt .. ' dim ' .. dim, gv, cv, 0, 0)
      close('max indices ' .. dt .. ' dim ' .. dim, gi, ci, 0, 0)
      cv, ci = c:min(dim, true)
      gv, gi = g:min(dim, true)
      close('min keepdim ' .. dt .. ' dim ' .. dim, gv, cv, 0, 0)
      close('min indices ' .. dt .. ' dim ' .. dim, gi, ci, 0, 0)
      close('argmax ' .. dt .. ' dim ' .. dim, g:argmax(dim), c:argmax(dim), 0, 0)
      close('argmin ' .. dt .. ' dim ' .. dim, g:argmin(dim), c:argmin(dim), 0, 0)
    end
    close('argmax all ' .. dt, g:argmax(), c:argmax(), 0, 0)
  end
  local long = brasa.randn(3, 5000)
  close('argmax of long rows', long:cuda():argmax(2), long:argmax(2), 0, 0)
  close('argmin of long columns', long:t():cuda():argmin(1), long:t():argmin(1), 0, 0)
  local nan = brasa.tensor{{1, 0 / 0, 3, 0 / 0}, {5, 2, 5, 1}}
  close('argmax with NaN', nan:cuda():argmax(2), nan:argmax(2), 0, 0)
  close('argmin with NaN', nan:cuda():argmin(2), nan:argmin(2), 0, 0)
end)

test('cumsum and cumprod', function()
  for _, dt in ipairs({'f32', 'f64', 'i64', 'i32', 'f16'}) do
    local kind = is_float(dt) and 'unit' or 'int'
    local c, g = pair({5, 40, 3}, dt, kind, true)
    for dim = 1, 3 do
      close('cumsum ' .. dt .. ' dim ' .. dim, g:cumsum(dim), c:cumsum(dim))
      local cp, gp = c, g
      if is_float(dt) then cp, gp = c * 0.1 + 1, g * 0.1 + 1 end
      close('cumprod ' .. dt .. ' dim ' .. dim, gp:cumprod(dim), cp:cumprod(dim))
    end
  end
  local long = brasa.rand(2, 10000)
  close('cumsum of long rows', long:cuda():cumsum(2), long:cumsum(2), 1e-5, 1e-3)
end)

test('composite reductions: var, std, norm, logsumexp', function()
  local c, g = pair({6, 8}, 'f32', 'normal', true)
  close('var', g:var(), c:var())
  close('std dim', g:std(2), c:std(2))
  close('norm 2', g:norm(), c:norm())
  close('norm 1 dim', g:norm(1, 1), c:norm(1, 1))
  close('norm inf', g:norm(math.huge), c:norm(math.huge))
  close('logsumexp', g:logsumexp(2), c:logsumexp(2))
end)

-- ---- matmul -------------------------------------------------------------------------------

-- out against a CPU reference computed in f64 from the same (rounded)
-- inputs, with tolerance rtol * (|a| @ |b|) + atol.
local function close_mm(what, got, a, b, rtol, atol)
  local ad, bd = a:double(), b:double()
  local ref = ad:matmul(bd)
  local scale = ad:abs():matmul(bd:abs())
  local g = got:cpu():double()
  assert(shape_str(g) == shape_str(ref), what .. ': shape ' .. shape_str(g) .. ', expected ' .. shape_str(ref))
  local err = ((g - ref):abs() - scale * rtol):max():item()
  assert(err <= atol, string.format('%s: error %.3g over tolerance (rtol %g of |a||b|)', what, err + scale:max():item() * rtol, rtol))
end

test('matmul f32 and f64 (TF32 off), every layout', function()
  cuda.allow_tf32(false)
  for _, dt in ipairs(FLOATS) do
    local rtol = dt == 'f32' and 2e-6 or 1e-13
    local ca, ga = pair({33, 47}, dt, 'normal', false)
    local cb, gb = pair({47, 29}, dt, 'normal', false)
    close_mm('mm ' .. dt, ga:matmul(gb), ca, cb, rtol, 1e-6)
    close_mm('a^T b ' .. dt, ga:t():contiguous():t():matmul(gb), ca, cb, rtol, 1e-6)
    close_mm('a b^T ' .. dt, ga:matmul(gb:t():contiguous():t()), ca, cb, rtol, 1e-6)
    local sa, sga = pair({33, 47}, dt, 'normal', true)   -- transposed, offset views
    local sb, sgb = pair({47, 29}, dt, 'normal', true)
    close_mm('strided ' .. dt, sga:matmul(sgb), sa, sb, rtol, 1e-6)
    local cx, gx = pair({4, 6, 47}, dt, 'normal', true)
    close_mm('batched @ 2-D ' .. dt, gx:matmul(gb), cx, cb, rtol, 1e-6)
    local cy, gy = pair({4, 47, 5}, dt, 'normal', false)
    close_mm('bmm ' .. dt, gx:bmm(gy), cx, cy, rtol, 1e-6)
    local cz, gz = pair({2, 1, 6, 47}, dt, 'normal', false)
    local cw, gw = pair({3, 47, 5}, dt, 'normal', false)
    close_mm('broadcast batch ' .. dt, gz:matmul(gw), cz, cw, rtol, 1e-6)
    local cv, gv = pair({47}, dt, 'normal', false)
    close_mm('matrix @ vector ' .. dt, ga:matmul(gv), ca, cv, rtol, 1e-6)
    close_mm('vector @ matrix ' .. dt, gv:matmul(gb), cv, cb, rtol, 1e-6)
    close_mm('dot ' .. dt, gv:dot(gv), cv, cv, rtol, 1e-6)
    close('outer ' .. dt, gv:outer(gv), cv:outer(cv))
    close('k = 0', brasa.empty(3, 0, {device = DEV, dtype = dt}):matmul(brasa.empty(0, 4, {device = DEV, dtype = dt})),
          brasa.zeros(3, 4, {dtype = dt}), 0, 0)
  end
end)

test('matmul TF32, f16, bf16 (tensor cores)', function()
  local ca, ga = pair({256, 192}, 'f32', 'normal', false)
  local cb, gb = pair({192, 160}, 'f32', 'normal', false)
  local old = cuda.allow_tf32(true)
  close_mm('tf32', ga:matmul(gb), ca, cb, 2e-3, 1e-3)
  cuda.allow_tf32(old)
  for _, dt in ipairs({'f16', 'bf16'}) do
    local ha, hb = ca:to(dt), cb:to(dt)
    local got = ha:cuda():matmul(hb:cuda())
    assert(got.dtype == dt, 'matmul ' .. dt .. ' gives ' .. got.dtype)
    close_mm(dt, got, ha, hb, dt == 'f16' and 2e-3 or 1e-2, 1e-2)
    close_mm(dt .. ' transposed', ha:t():cuda():t():matmul(hb:cuda()), ha, hb, dt == 'f16' and 2e-3 or 1e-2, 1e-2)
  end
end)

-- ---- random -------------------------------------------------------------------------------

test('random fills: the CPU numbers for a seed', function()
  for _, dt in ipairs({'f32', 'f64', 'f16', 'bf16'}) do
    local fills = {
      {'uniform_', function(t) return t:uniform_(-2, 3) end, 0},
      {'normal_', function(t) return t:normal_(1, 2) end, dt == 'f64' and 1e-12 or 1e-6},
      {'bernoulli_', function(t) return t:bernoulli_(0.3) end, 0},
    }
    for _, f in ipairs(fills) do
      brasa.manual_seed(1234)
      local c = f[2](brasa.zeros(37, 29, {dtype = dt}):t())
      brasa.manual_seed(1234)
      local g = f[2](brasa.zeros(37, 29, {dtype = dt, device = DEV}):t())
      close(f[1] .. ' ' .. dt .. ' (a transposed view)', g, c, f[3], f[3] * 1e-3)
    end
  end
end)

-- ---- indexing -------------------------------------------------------------------------------

local function idx_pair(list, dt)
  local c = brasa.tensor(list, {dtype = dt or 'i64'})
  return c, c:cuda()
end

test('index_select, gather, scatter, scatter_add, index_add', function()
  for _, dt in ipairs({'f32', 'f64', 'f16', 'i64', 'i32', 'u8', 'bool'}) do
    local kind = dt == 'bool' and 'bool' or dt == 'u8' and 'byte' or is_float(dt) and 'normal' or 'int'
    local c, g = pair({5, 6, 4}, dt, kind, true)
    for _, ixdt in ipairs({'i64', 'i32'}) do
      local ci, gi = idx_pair({3, 1, 5, 3}, ixdt)
      close('index_select dim 1 ' .. dt .. ' ' .. ixdt, g:index_select(1, gi), c:index_select(1, ci), 0, 0)
      local cj, gj = idx_pair({4, 4, 2}, ixdt)
      close('index_select dim 3 ' .. dt .. ' ' .. ixdt, g:index_select(3, gj), c:index_select(3, cj), 0, 0)
    end
    local ci = (brasa.rand(5, 3, 4) * 6):floor():long() + 1
    close('gather dim 2 ' .. dt, g:gather(2, ci:cuda()), c:gather(2, ci), 0, 0)
    -- scatter with unique targets along dim 1 (a permutation per column)
    local perm = brasa.tensor{{2, 4}, {5, 1}, {1, 3}}:long()
    local src_c, src_g = pair({3, 2}, dt, kind, false)
    local tc, tg = pair({5, 2}, dt, kind, false)
    close('scatter ' .. dt, tg:scatter(1, perm:cuda(), src_g), tc:scatter(1, perm, src_c), 0, 0)
    if dt ~= 'bool' then
      local dup = brasa.tensor{{1, 2}, {1, 2}, {3, 2}}:long()
      close('scatter_add ' .. dt, tg:scatter_add(1, dup:cuda(), src_g), tc:scatter_add(1, dup, src_c))
      local cd, gd = idx_pair({2, 2, 5})
      local s2c, s2g = pair({3, 2}, dt, kind, true)
      close('index_add ' .. dt, tg:index_add(1, gd, s2g), tc:index_add(1, cd, s2c))
    end
  end
  local c, g = pair({4, 5}, 'f32', 'normal', false)
  expect_error('index out of range', function() return g:index_select(1, brasa.tensor({1, 9}, {dtype = 'i64', device = DEV})) end,
               'index 9 out of range', 'size 4')
  expect_error('gather out of range', function() return g:gather(2, brasa.tensor({{7}}, {dtype = 'i64', device = DEV})) end,
               'out of range')
  close('still usable after a bad index', g:sum(), c:sum())
  local lab = brasa.tensor({3, 1, 2, 3}, {dtype = 'i64'})
  close('one_hot', lab:cuda():one_hot(4), lab:one_hot(4), 0, 0)
  if not FAKE then
    expect_error('index on the CPU for a GPU tensor', function() return g:index_select(1, brasa.tensor{1, 2}:long()) end,
                 'cuda:0', 'cpu')
  end
end)

test('sort and topk (stable, NaN, descending)', function()
  for _, dt in ipairs({'f32', 'f64', 'f16', 'i64', 'i32', 'u8', 'bool'}) do
    local kind = dt == 'bool' and 'bool' or dt == 'u8' and 'byte' or 'int'   -- many ties
    local c, g = pair({6, 33, 4}, dt, kind, true)
    for dim = 1, 3 do
      for _, desc in ipairs({false, true}) do
        local cv, ci = c:sort(dim, desc)
        local gv, gi = g:sort(dim, desc)
        local tag = dt .. ' dim ' .. dim .. (desc and ' descending' or '')
        close('sort values ' .. tag, gv, cv, 0, 0)
        close('sort indices ' .. tag, gi, ci, 0, 0)
      end
    end
    if dt ~= 'bool' then
      local cv, ci = c:topk(3, 2)
      local gv, gi = g:topk(3, 2)
      close('topk values ' .. dt, gv, cv, 0, 0)
      close('topk indices ' .. dt, gi, ci, 0, 0)
    end
  end
  local nan = brasa.tensor{3, 0 / 0, -1, -0.0, 0, 0 / 0, 2}
  for _, desc in ipairs({false, true}) do
    local cv, ci = nan:sort(1, desc)
    local gv, gi = nan:cuda():sort(1, desc)
    close('sort with NaN values', gv, cv, 0, 0)
    close('sort with NaN indices', gi, ci, 0, 0)
  end
  local long = brasa.randn(200000)
  local cv, ci = long:sort()
  local gv, gi = long:cuda():sort()
  close('sort of 2e5', gv, cv, 0, 0)
  close('sort of 2e5 indices', gi, ci, 0, 0)
end)

-- ---- autograd -------------------------------------------------------------------------------

-- Runs fn(inputs...) -> scalar on both devices from the same leaves and
-- compares the value and every gradient.
local function grad_pair(what, shapes, fn, rtol, atol)
  local cpu_in, gpu_in = {}, {}
  for i, s in ipairs(shapes) do
    local c = values(s.shape, s.kind)
    if s.strided then c = values({s.shape[2], s.shape[1]}, s.kind):t() end
    c = c:to(s.dtype or 'f32')
    cpu_in[i] = c:detach():contiguous()
    cpu_in[i]:requires_grad_(true)
    gpu_in[i] = c:cuda():detach()
    gpu_in[i]:requires_grad_(true)
  end
  local cl = fn(table.unpack(cpu_in))
  local gl = fn(table.unpack(gpu_in))
  close(what .. ' value', gl, cl, rtol, atol)
  cl:backward()
  gl:backward()
  for i = 1, #shapes do
    assert(gpu_in[i].grad, what .. ': no gradient for input ' .. i)
    close(what .. ' gradient ' .. i, gpu_in[i].grad, cpu_in[i].grad, rtol, atol)
  end
end

test('gradients: an MLP and the ops with special backward rules', function()
  local R, A = 1e-4, 1e-5
  grad_pair('mlp', {{shape = {16, 8}}, {shape = {8, 32}}, {shape = {32}}, {shape = {32, 4}}, {shape = {16, 4}}},
    function(x, w1, b1, w2, y)
      return (((x:matmul(w1) + b1):tanh():matmul(w2) - y) ^ 2):mean()
    end, R, A)
  grad_pair('elementwise', {{shape = {5, 6}, kind = 'positive', strided = true}, {shape = {6}, kind = 'normal'}},
    function(a, b)
      return (a:log() * b:sigmoid() + a:sqrt() / (b:abs() + 1) + a:pow(b) + a:maximum(b) - a:atan2(b)):sum()
    end, R, A)
  grad_pair('reductions', {{shape = {5, 6}, kind = 'normal', strided = true}},
    function(a)
      local v = a:max(2)
      return a:prod(1):sum() + v:sum() + a:max() + a:logsumexp(2):sum() + a:norm() + a:std() +
             a:cumsum(2):sum() + (a * 0.1 + 1):cumprod(1):sum() + a:clamp(-0.5, 0.5):sum()
    end, R, A)
  grad_pair('indexing', {{shape = {5, 6}, kind = 'normal'}},
    function(a)
      local ix = brasa.tensor({3, 1, 3}, {dtype = 'i64', device = a.device})
      local gx = brasa.tensor({{1, 2}, {2, 2}, {5, 1}}, {dtype = 'i64', device = a.device})
      local sv = a:sort(2, true)
      return (a:index_select(1, ix) * 2):sum() + a:gather(1, gx):sum() + (sv:narrow(2, 1, 2) ^ 2):sum() +
             brasa.where(a:gt(0), a, a * 0.1):sum()
    end, R, A)
  grad_pair('f64', {{shape = {7, 3}, kind = 'normal', dtype = 'f64'}, {shape = {3, 2}, kind = 'normal', dtype = 'f64'}},
    function(a, b) return a:matmul(b):tanh():sum() end, 1e-10, 1e-12)
end)

test('f16 and bf16 gradients through elementwise ops', function()
  for _, dt in ipairs({'f16', 'bf16'}) do
    grad_pair('elementwise ' .. dt, {{shape = {5, 6}, kind = 'positive', strided = true, dtype = dt},
                                     {shape = {6}, kind = 'normal', dtype = dt}},
      function(a, b)
        return (a:log() * b:sigmoid() + a:sqrt() / (b:abs() + 1) + a:maximum(b) * 0.1 -
                a:clamp(0.5, 1.5) + brasa.where(b:gt(0), a, b) + (a * b):tanh()):sum()
      end)
  end
end)

test('gradients across devices and of second order', function()
  local x = brasa.randn(3, 4, {requires_grad = true})
  local y = (x:cuda() * x:cuda()):sum()
  y:backward()
  assert(x.grad and x.grad.device == 'cpu', 'the gradient of a CPU leaf comes back to the CPU')
  close('moved gradient', (x.grad * 1):cuda(), x:detach() * 2)
  local g = brasa.randn(4, {device = DEV, requires_grad = true})
  local c = g:detach():cpu()
  c:requires_grad_(true)
  local function f(t) return (t:tanh() * t):sum() end
  local gg = brasa.grad({f(g)}, {g}, {create_graph = true})[1]
  local cg = brasa.grad({f(c)}, {c}, {create_graph = true})[1]
  close('first gradient', gg, cg, 1e-5, 1e-6)
  local g2 = brasa.grad({gg:sum()}, {g})[1]
  local c2 = brasa.grad({cg:sum()}, {c})[1]
  close('second gradient', g2, c2, 1e-5, 1e-6)
end)

-- ---- errors and memory -------------------------------------------------------------------

test('device mixing fails naming both devices', function()
  local c, g = brasa.ones(3), brasa.ones(3, {device = DEV})
  expect_error('add', function() return c + g end, 'cpu', 'cuda:0')
  expect_error('matmul', function() return brasa.ones(2, 3):matmul(brasa.ones(3, 2, {device = DEV})) end, 'cpu', 'cuda:0')
  expect_error('where', function() return brasa.where(g:gt(0), c, g) end, 'cpu', 'cuda:0')
  expect_error('copy_', function() return c:copy_(g) end, 'cpu', 'cuda:0')
  expect_error('add_ from the GPU into a CPU tensor', function() return c:add_(g) end, 'cpu', 'cuda:0')
  expect_error('add_ from the CPU into a GPU tensor', function() return g:add_(c) end, 'cpu', 'cuda:0')
  expect_error('cat', function() return brasa.cat({c, g}) end, 'cpu', 'cuda:0')
  expect_error('no such device', function() return c:to('cuda:57') end, 'cuda:57')
  close('a Lua number joins any device', g + 1, c + 1)
end, true)

-- Native halves: each op allocates its output and nothing else (widening
-- would add an f32 copy of each input and an f32 result per op).
test('f16 and bf16 elementwise ops allocate no f32 temporaries', function()
  for _, dt in ipairs({'f16', 'bf16'}) do
    local x = brasa.randn(1000, {dtype = dt, device = DEV})
    local xs = brasa.randn(40, 50, {dtype = dt, device = DEV}):t()
    collectgarbage()
    local s0 = cuda.memory_stats().num_allocs
    local y = x * 2 + 1                                  -- 2 outputs
    local z = y:exp():clamp(0, 3)                        -- 2
    local w = brasa.where(z:gt(1), z, 0.5)               -- 2 (gt's bool, where's)
    local v = xs:sigmoid() * xs                          -- 2 (a strided operand is read in place)
    local n = cuda.memory_stats().num_allocs - s0
    assert(n <= 8, dt .. ': ' .. n .. ' allocations for 8 ops, expected 8 (one output each)')
    assert(y.dtype == dt and z.dtype == dt and w.dtype == dt and v.dtype == dt, 'results keep ' .. dt)
  end
end, true)

test('the caching allocator: reuse, empty_cache, out of memory', function()
  collectgarbage()
  cuda.empty_cache()
  local s0 = cuda.memory_stats()
  assert(s0.cached == 0, 'empty_cache leaves ' .. s0.cached .. ' bytes cached')
  for _ = 1, 20 do
    local t = brasa.zeros(1000, 1000, {device = DEV})
    t = nil
    collectgarbage()
  end
  local s1 = cuda.memory_stats()
  assert(s1.num_cache_hits > s0.num_cache_hits, 'no block was reused')
  assert(s1.peak_allocated >= 4000000, 'peak not counted')
  local err = expect_error('out of memory', function()
    return brasa.zeros(1, {device = DEV}):expand(1048576, 1048576):contiguous()
  end, 'out of memory', 'requested', 'free', 'cached')
  local s2 = cuda.memory_stats()
  assert(s2.num_ooms >= 1, 'OOM not counted')
  local after = brasa.ones(10, {device = DEV}):sum():item()
  assert(after == 10, 'the device works after an out-of-memory error: ' .. tostring(err))
  cuda.empty_cache()
  assert(cuda.memory_stats().cached == 0, 'cache not emptied')
end, true)

test('printing and reading values', function()
  local g = brasa.tensor({{1.5, 2}, {3, 4}}, {device = DEV})
  local s = tostring(g)
  assert(s:find('cuda:0', 1, true) and s:find('1.5', 1, true), 'printing: ' .. s)
  assert(g:sum():item() == 10.5, 'item() of a GPU scalar')
  assert(g:totable()[2][1] == 3, 'totable() of a GPU tensor')
  local ok = pcall(function() return g[{1, 1}] end)
  assert(ok or true)   -- element reads either work or raise; they must not crash
end, true)

-- ---- the runner ------------------------------------------------------------------------------

-- Runs the tests of a suite (a list of {name =, fn =, gpu_only =}) whose names
-- match filter (a Lua pattern; all when nil), the GPU-only ones aside in fake
-- mode: a line per test, its name and "ok  N.NN s" or FAIL and the traceback,
-- then "GPU tests: N passed, M failed (T s CPU time)" (tests/gpu/run.sh and
-- tests/lua/gpu_fake_spec.lua read both). opts.label names the suite in that
-- line ('conv': "GPU conv tests: ..."), opts.width the name column (62), and
-- opts.wall times by the wall clock instead of CPU time. Returns passed, failed.
function M.run_tests(list, filter, opts)
  opts = opts or {}
  local clock = opts.wall and (brasa.clock or require('brasa.progress').clock) or os.clock
  local name_format = '%-' .. (opts.width or 62) .. 's'
  local passed, failed = 0, 0
  local t00 = clock()
  for _, t in ipairs(list) do
    if (not filter or t.name:match(filter)) and not (FAKE and t.gpu_only) then
      io.write(string.format(name_format, t.name))
      io.stdout:flush()   -- the name is out before a crash, if one comes
      local t0 = clock()
      local ok, err = xpcall(function()
        t.fn()
        if not FAKE then cuda.synchronize() end   -- a kernel's failure shows in its own test
      end, function(e) return debug.traceback(tostring(e), 2) end)
      if ok then
        passed = passed + 1
        print(string.format(' ok  %6.2f s', clock() - t0))
      else
        failed = failed + 1
        print(string.format(' FAIL\nFAIL  %s\n      %s', t.name, tostring(err):gsub('\n', '\n      ')))
      end
      io.stdout:flush()
      collectgarbage()
    end
  end
  print(string.format('GPU %stests: %d passed, %d failed (%.1f s %s time)', opts.label and opts.label .. ' ' or '',
                      passed, failed, clock() - t00, opts.wall and 'wall' or 'CPU'))
  return passed, failed
end

-- A suite's entry point, for the file `file` (its path from the source
-- root): when brasa runs that file as its script, not when it is loaded
-- with dofile or require, runs run(arg[1]) and exits 0 when nothing failed,
-- 1 otherwise; without a usable GPU (and outside fake mode) it prints
-- "SKIP file: no usable GPU: why" and exits 0.
function M.main(file, run)
  local name = file:match('[^/]+$')
  if not (arg and arg[0] and arg[0]:sub(-#name) == name) then return end
  if FAKE then
    print('FAKE GPU: the CPU stands in for the GPU (a check of the suite itself)')
  elseif not cuda.is_available() then
    print('SKIP ' .. file .. ': no usable GPU: ' .. cuda.status())
    os.exit(0)
  else
    print('GPU: ' .. cuda.device_name(0) .. ' (' .. cuda.device_count() .. ' device(s))')
  end
  local _, failed = run(arg[1])
  os.exit(failed == 0 and 0 or 1)
end

function M.run(filter) return M.run_tests(tests, filter) end

M.tests = tests
-- The harness, for the suites that extend this one (tests/gpu/test_gpu_*.lua).
M.FAKE, M.DEV, M.TOL = FAKE, DEV, TOL
M.close, M.expect_error, M.values, M.pair, M.grad_pair = close, expect_error, values, pair, grad_pair
M.test = test

M.main('tests/gpu/test_gpu.lua', M.run)

return M
