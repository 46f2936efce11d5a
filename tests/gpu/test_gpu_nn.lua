-- tests/gpu/test_gpu_nn.lua: the GPU's neural-network kernels against the CPU.
--
--   build/brasa tests/gpu/test_gpu_nn.lua [filter]
--
-- Pooling (max with indices, average, adaptive, global), resampling,
-- layer_norm, softmax and log_softmax, cross_entropy and nll_loss, dropout
-- and embedding run through brasa.nn.functional and brasa.nn modules on the
-- GPU and on the CPU from the same inputs (random; many of them
-- non-contiguous views), every float dtype, and the outputs and gradients
-- must agree within the dtype's tolerance (exactly for argmax indices and
-- the dropout mask, which the GPU draws from the CPU's Philox stream).
-- Bad ids and targets must fail naming them.
--
-- It reuses the harness of tests/gpu/test_gpu.lua (comparisons, inputs,
-- fake mode): BRASA_GPU_TEST_FAKE=1 runs it with the CPU standing in for
-- the GPU, a check of the suite itself. Without a usable GPU it prints why
-- and exits 0. Exit status 1 when a test failed.
-- Used as a module (dofile), it returns {run = function(filter) -> passed, failed, tests}.

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local H = dofile(here .. 'test_gpu.lua')

local brasa = require 'brasa'
local nn = require 'brasa.nn'
local F = require 'brasa.nn.functional'

local FAKE, DEV = H.FAKE, H.DEV
local close, expect_error, values = H.close, H.expect_error, H.values

local FLOATS = {'f32', 'f64', 'f16', 'bf16'}
-- GPU against CPU: reductions run in another order (f32 sums on the GPU,
-- f64 on the CPU), and a half result may round to the next value.
local TOL = {f32 = {2e-5, 2e-6}, f64 = {1e-11, 1e-13}, f16 = {2e-3, 2e-3}, bf16 = {2e-2, 2e-2}}
local GTOL = {f32 = {1e-4, 1e-5}, f64 = {1e-10, 1e-12}, f16 = {4e-3, 4e-3}, bf16 = {3e-2, 3e-2}}

local tests = {}
local function test(name, fn, gpu_only) tests[#tests + 1] = {name = name, fn = fn, gpu_only = gpu_only} end

-- ---- the comparison of one op on both devices ----------------------------------------------

local function pack(...) return {n = select('#', ...), ...} end

-- Runs fn on CPU and GPU copies of the inputs (specs: {tensor, grad = bool})
-- and compares every output; then, when an input needs a gradient, the
-- gradients of sum(output * r) for a fixed random r. tol: {rtol, atol} for
-- outputs (default by dtype), gtol for gradients; exact = true: outputs
-- must match exactly.
local function both(what, specs, fn, o)
  o = o or {}
  local cin, gin = {}, {}
  for i, s in ipairs(specs) do
    local c = s[1]
    if s.grad then
      cin[i] = c:detach():contiguous()
      cin[i]:requires_grad_(true)
      gin[i] = c:cuda():detach()
      gin[i]:requires_grad_(true)
    else
      cin[i], gin[i] = c, c:cuda()
    end
  end
  local co = pack(fn(table.unpack(cin, 1, #specs)))
  local go = pack(fn(table.unpack(gin, 1, #specs)))
  local closs, gloss
  for k = 1, co.n do
    local c, g = co[k], go[k]
    local t = o.exact and {0, 0} or o.tol or TOL[c.dtype] or {0, 0}
    close(what .. ': output ' .. k, g, c, t[1], t[2])
    if c.requires_grad then
      local r = #c.shape == 0 and brasa.tensor(1.25, {dtype = 'f64'}) or values(c.shape)
      r = r:to(c.dtype)
      local cl, gl = (c * r):sum(), (g * r:cuda()):sum()
      closs = closs and closs + cl or cl
      gloss = gloss and gloss + gl or gl
    end
  end
  if not closs then return co, go end
  closs:backward()
  gloss:backward()
  for i, s in ipairs(specs) do
    if s.grad then
      assert(gin[i].grad, what .. ': no gradient for input ' .. i)
      local t = o.gtol or GTOL[cin[i].dtype]
      close(what .. ': gradient ' .. i, gin[i].grad, cin[i].grad, t[1], t[2])
    end
  end
  return co, go
end

-- x's values in a non-contiguous view: the last two dims swapped in storage.
local function swapped(x)
  local n = #x.shape
  return x:transpose(n - 1, n):contiguous():transpose(n - 1, n)
end

local function rand_ints(n, lo, hi, dtype)
  local t = (brasa.rand(n, {dtype = 'f64'}) * (hi - lo + 1)):floor() + lo
  return t:to(dtype or 'i64')
end

-- ---- pooling -----------------------------------------------------------------------------------

test('max_pool2d: overlapping windows, padding, dilation, ceil_mode, indices', function()
  local cases = {
    {2},                                                   -- 2x2 stride 2
    {3, {stride = 2, padding = 1}},                        -- overlapping
    {3, {stride = 2, ceil_mode = true}},                   -- a last window past the edge
    {2, {stride = 1, dilation = 2}},
    {{3, 2}, {stride = {2, 1}, padding = {1, 0}, ceil_mode = true}},
  }
  for _, dt in ipairs(FLOATS) do
    for ci, c in ipairs(cases) do
      for _, strided in ipairs({false, true}) do
        local x = values({2, 3, 9, 11}):to(dt)
        local opts = {return_indices = true}
        for k, v in pairs(c[2] or {}) do opts[k] = v end
        both(string.format('max_pool2d %s case %d%s', dt, ci, strided and ' strided' or ''),
          {{x, grad = true}},
          function(t) return F.max_pool2d(strided and swapped(t) or t, c[1], opts) end, {exact = true})
      end
    end
  end
  -- NaN wins, -inf windows keep their first index
  local x = values({1, 2, 4, 4})
  x[{1, 1, 2, 3}] = 0 / 0
  x[{1, 2}]:fill_(-1 / 0)
  both('max_pool2d with NaN and -inf', {{x}}, function(t) return F.max_pool2d(t, 2, {return_indices = true}) end)
  -- max_pool1d on [N, C, L]
  both('max_pool1d', {{values({3, 4, 17}), grad = true}},
    function(t) return F.max_pool1d(t, 4, {stride = 3, padding = 2, return_indices = true}) end)
end)

test('avg_pool2d: padding, count_include_pad, divisor_override, ceil_mode', function()
  local cases = {
    {2},
    {3, {stride = 2, padding = 1}},
    {3, {stride = 2, padding = 1, count_include_pad = false}},
    {3, {stride = 2, ceil_mode = true}},
    {3, {stride = 2, padding = 1, ceil_mode = true, count_include_pad = false}},
    {{2, 3}, {stride = {1, 2}, divisor_override = 5}},
    {4, {stride = 1, padding = 2}},
  }
  for _, dt in ipairs(FLOATS) do
    for ci, c in ipairs(cases) do
      both(string.format('avg_pool2d %s case %d', dt, ci), {{values({2, 3, 10, 9}):to(dt), grad = true}},
        function(t) return F.avg_pool2d(swapped(t), c[1], c[2]) end)
    end
  end
  both('avg_pool1d', {{values({3, 4, 17}), grad = true}},
    function(t) return F.avg_pool1d(t, 5, {stride = 2, padding = 2, count_include_pad = false}) end)
end)

test('adaptive and global pools', function()
  for _, dt in ipairs(FLOATS) do
    local x = values({2, 3, 9, 7}):to(dt)
    both('adaptive_avg_pool2d ' .. dt, {{x, grad = true}}, function(t) return F.adaptive_avg_pool2d(swapped(t), {4, 3}) end)
    both('adaptive_avg_pool2d up ' .. dt, {{x, grad = true}}, function(t) return F.adaptive_avg_pool2d(t, {12, 10}) end)
    both('adaptive_max_pool2d ' .. dt, {{x, grad = true}},
      function(t) return F.adaptive_max_pool2d(t, {4, 5}, {return_indices = true}) end)
    both('global pools ' .. dt, {{x, grad = true}},
      function(t) return F.global_avg_pool2d(t), F.global_max_pool2d(swapped(t)) end)
  end
  local y = values({2, 5, 13})
  both('adaptive 1-d pools', {{y, grad = true}},
    function(t) return F.adaptive_avg_pool1d(t, 4), F.adaptive_max_pool1d(t, 6), F.global_avg_pool1d(t) end)
end)

test('upsampling: nearest, bilinear, linear, area, with align_corners and scales', function()
  local cases = {
    {size = {7, 9}},
    {scale_factor = 2},                                     -- nearest's exact 2x path
    {size = {4, 3}},                                        -- nearest, downsampling
    {scale_factor = {1.5, 2.7}},
    {size = {7, 9}, mode = 'bilinear'},
    {size = {13, 4}, mode = 'bilinear', align_corners = true},
    {scale_factor = {1.7, 0.6}, mode = 'bilinear'},
    {scale_factor = 3, mode = 'bilinear', align_corners = true},
    {size = {3, 2}, mode = 'area'},
  }
  for _, dt in ipairs(FLOATS) do
    for ci, c in ipairs(cases) do
      both(string.format('interpolate %s case %d', dt, ci), {{values({2, 3, 5, 6}):to(dt), grad = true}},
        function(t) return F.interpolate(swapped(t), c) end)
    end
  end
  both('linear 1-d', {{values({2, 3, 11}), grad = true}},
    function(t) return F.interpolate(t, {size = 25, mode = 'linear'}), F.interpolate(t, {scale_factor = 0.5, mode = 'linear', align_corners = true}) end)
  both('nearest 1-d', {{values({2, 3, 11}), grad = true}}, function(t) return F.interpolate(t, {size = 30}) end)
end)

-- ---- normalisation, softmax, losses -----------------------------------------------------------

test('layer_norm: rows by warps and by blocks, affine or not, gradients', function()
  for _, dt in ipairs(FLOATS) do
    both('layer_norm [6, 10] ' .. dt,
      {{values({6, 10}):to(dt), grad = true}, {values({10}):to(dt), grad = true}, {values({10}):to(dt), grad = true}},
      function(x, w, b) return F.layer_norm(x, 10, w, b) end)
    both('layer_norm two dims, strided ' .. dt, {{values({3, 5, 4}):to(dt), grad = true}},
      function(x) return F.layer_norm(x:transpose(2, 3), {4, 5}) end)
  end
  for _, dt in ipairs({'f32', 'f64'}) do
    both('layer_norm long rows ' .. dt,
      {{values({4, 1500}):to(dt) * 3 + 2, grad = true}, {values({1500}):to(dt), grad = true}, {values({1500}):to(dt), grad = true}},
      function(x, w, b) return F.layer_norm(x, 1500, w, b, {eps = 1e-3}) end)
    both('layer_norm many rows ' .. dt,
      {{values({2100, 6}):to(dt), grad = true}, {values({6}):to(dt), grad = true}, {values({6}):to(dt), grad = true}},
      function(x, w, b) return F.layer_norm(x, 6, w, b) end)
  end
  both('layer_norm of a constant row', {{brasa.full(3, 8, 2.5), grad = true}}, function(x) return F.layer_norm(x, 8) end)
end)

test('softmax and log_softmax on dims 1, 2, 3, 4 and long rows', function()
  for _, dt in ipairs(FLOATS) do
    local x = values({3, 4, 5, 6}):to(dt)
    for dim = 1, 4 do
      both(string.format('softmax %s dim %d', dt, dim), {{x, grad = true}},
        function(t) return F.softmax(t, dim), F.log_softmax(swapped(t), dim) end)
    end
  end
  for _, dt in ipairs({'f32', 'f64'}) do
    both('softmax long rows ' .. dt, {{values({5, 1300}):to(dt) * 4, grad = true}},
      function(t) return F.softmax(t, 2), F.log_softmax(t, -1) end)
    both('softmax long columns, B = 3 ' .. dt, {{values({2, 600, 3}):to(dt), grad = true}},
      function(t) return F.softmax(t, 2), F.log_softmax(t, 2) end)
    both('softmax B = 70 ' .. dt, {{values({2, 9, 70}):to(dt), grad = true}},
      function(t) return F.softmax(t, 2), F.log_softmax(t, 2) end)
  end
  -- large scores, -inf entries and a row of NaN-free infinities
  local x = brasa.tensor{{1000, 999, -1000, 0}, {-1 / 0, 1, 2, -1 / 0}, {5, 5, 5, 5}}
  both('softmax stability', {{x}}, function(t) return F.softmax(t, 2), F.log_softmax(t, 2), F.softmax(t, 1) end)
  both('softmax of a 0-dim tensor', {{brasa.tensor(3.5), grad = true}}, function(t) return F.softmax(t, 1) end)
end)

test('cross_entropy and nll_loss: weight, ignore_index, label_smoothing, reductions', function()
  for _, dt in ipairs(FLOATS) do
    local x = values({12, 5}):to(dt)
    local t = rand_ints(12, 1, 5)
    t[2], t[7] = 3, 3
    local w = brasa.rand(5, {dtype = dt}) + 0.5
    for _, red in ipairs({'mean', 'sum', 'none'}) do
      for _, opts in ipairs({
        {},
        {weight = w},
        {ignore_index = 3},
        {label_smoothing = 0.1},
        {weight = w, ignore_index = 3, label_smoothing = 0.2},
      }) do
        local o = {reduction = red}
        for k, v in pairs(opts) do o[k] = v end
        local desc = string.format('cross_entropy %s %s%s%s%s', dt, red, opts.weight and ' weight' or '',
          opts.ignore_index and ' ignore' or '', opts.label_smoothing and ' smoothing' or '')
        both(desc, {{x, grad = true}, {t}},
          function(a, b)
            local oo = {}
            for k, v in pairs(o) do oo[k] = v end
            if oo.weight then oo.weight = a.device == 'cpu' and w or w:cuda() end
            return F.cross_entropy(a, b, oo)
          end)
        if not opts.label_smoothing then
          both('nll_loss: ' .. desc, {{x, grad = true}, {t}},
            function(a, b)
              local oo = {}
              for k, v in pairs(o) do oo[k] = v end
              if oo.weight then oo.weight = a.device == 'cpu' and w or w:cuda() end
              return F.nll_loss(F.log_softmax(a, 2), b, oo)
            end)
        end
      end
    end
  end
  for _, dt in ipairs({'f32', 'f64'}) do
    both('cross_entropy spatial ' .. dt, {{values({2, 5, 3, 4}):to(dt), grad = true}, {rand_ints({2, 3, 4}, 1, 5, 'i32')}},
      function(a, b) return F.cross_entropy(a, b, {label_smoothing = 0.05}) end)
    both('cross_entropy 1300 classes ' .. dt, {{values({6, 1300}):to(dt) * 3, grad = true}, {rand_ints(6, 1, 1300)}},
      function(a, b) return F.cross_entropy(a, b, {label_smoothing = 0.1}), F.cross_entropy(a, b, {reduction = 'none'}) end)
  end
  both('cross_entropy of a strided input', {{values({5, 7}), grad = true}, {rand_ints(7, 1, 5)}},
    function(a, b) return F.cross_entropy(a:t(), b) end)
  local all_ignored = brasa.tensor({2, 2, 2}, {dtype = 'i64'})
  both('every target ignored (sum)', {{values({3, 4}), grad = true}, {all_ignored}},
    function(a, b) return F.cross_entropy(a, b, {ignore_index = 2, reduction = 'sum'}) end)
end)

test('dropout: the CPU mask for the same seed, and its gradient', function()
  for _, dt in ipairs(FLOATS) do
    for _, n in ipairs({1000, 1003}) do
      for _, p in ipairs({0.3, 0.5, 1}) do
        local x = values({n}):to(dt)
        local seed = 1234 + n
        brasa.manual_seed(seed)
        local xc = x:detach():requires_grad_(true)
        local yc = F.dropout(xc, p)
        local after_c = brasa.rand(3)
        brasa.manual_seed(seed)
        local xg = x:cuda():detach():requires_grad_(true)
        local yg = F.dropout(xg, p)
        local after_g = brasa.rand(3)
        local what = string.format('dropout %s n %d p %g', dt, n, p)
        close(what, yg, yc, 0, 0)
        close(what .. ' mask', yg:ne(0), yc:ne(0), 0, 0)
        close(what .. ': the generator moves on alike', after_g:cuda(), after_c, 0, 0)
        local r = values({n}):to(dt)
        local lc, lg = (yc * r):sum(), (yg * r:cuda()):sum()
        lc:backward()
        lg:backward()
        close(what .. ' gradient', xg.grad, xc.grad, 0, 0)
      end
    end
  end
  -- a kept fraction near 1 - p (a sanity check of the stream itself)
  brasa.manual_seed(5)
  local y = F.dropout(brasa.ones(20000, {device = DEV}), 0.25)
  local kept = y:ne(0):double():mean():item()
  assert(math.abs(kept - 0.75) < 0.02, 'dropout kept ' .. kept)
  close('dropout in evaluation mode', F.dropout(brasa.ones(4, {device = DEV}), 0.5, false), brasa.ones(4), 0, 0)
end)

test('embedding: padding_idx, repeated ids, id 0, i32 ids, gradients', function()
  for _, dt in ipairs(FLOATS) do
    local w = values({10, 6}):to(dt)
    local ids = brasa.tensor({{3, 1, 3, 0}, {10, 3, 2, 2}, {5, 0, 3, 7}}, {dtype = 'i64'})
    both('embedding ' .. dt, {{w, grad = true}, {ids}}, function(a, b) return F.embedding(b, a) end, {exact = true})
    both('embedding padding_idx ' .. dt, {{w, grad = true}, {ids:int()}},
      function(a, b) return F.embedding(b, a, {padding_idx = 3}) end, {exact = true})
  end
  local many = rand_ints({4000}, 0, 50)
  both('embedding many repeats', {{values({50, 33}), grad = true}, {many}},
    function(a, b) return F.embedding(b, a, {padding_idx = 7}) end)
  local wi = brasa.arange(1, 24, {dtype = 'i64'}):reshape(8, 3)
  both('embedding of an integer table', {{wi}, {brasa.tensor({8, 1, 0, 4}, {dtype = 'i64'})}},
    function(a, b) return F.embedding(b, a) end, {exact = true})
  local m = nn.Embedding(12, 5)
  local ids2 = brasa.tensor({{1, 2, 12}, {0, 2, 5}}, {dtype = 'i64'})
  local cy = m(ids2)
  m:to(DEV)
  close('nn.Embedding on the device', m(ids2:cuda()), cy, 0, 0)
end)

test('bad ids and targets fail naming them; the device works after', function()
  local w = brasa.randn(10, 4, {device = DEV, requires_grad = true})
  expect_error('embedding id 11', function()
    return F.embedding(brasa.tensor({1, 11, 2}, {dtype = 'i64'}):cuda(), w)
  end, 'embedding', 'id 11', 'out of range')
  expect_error('embedding id -2', function()
    return F.embedding(brasa.tensor({-2}, {dtype = 'i32'}):cuda(), w)
  end, 'embedding', 'id -2')
  local x = brasa.randn(4, 5, {device = DEV, requires_grad = true})
  expect_error('cross_entropy target 6', function()
    return F.cross_entropy(x, brasa.tensor({1, 6, 2, 3}, {dtype = 'i64'}):cuda())
  end, 'cross_entropy', 'got 6', '1..5')
  expect_error('cross_entropy target 0', function()
    return F.cross_entropy(x, brasa.tensor({1, 0, 2, 3}, {dtype = 'i64'}):cuda())
  end, 'cross_entropy', 'got 0', '0-based')
  expect_error('nll_loss target 9', function()
    return F.nll_loss(x, brasa.tensor({1, 2, 9, 3}, {dtype = 'i32'}):cuda(), {weight = brasa.ones(5):cuda()})
  end, 'nll_loss', 'got 9')
  -- no report left behind: the same ops with good input work
  local t = brasa.tensor({1, 5, 2, 3}, {dtype = 'i64'})
  close('cross_entropy after an error', F.cross_entropy(x, t:cuda()), F.cross_entropy(x:cpu(), t))
  close('embedding after an error', F.embedding(t:cuda(), w), F.embedding(t, w:cpu()))
end)

test('modules on the device: pooling, upsampling, layer norm, log_softmax and losses', function()
  brasa.manual_seed(11)
  local model = nn.Sequential{
    nn.MaxPool2d(3, {stride = 2, padding = 1}), nn.Upsample{scale_factor = 2, mode = 'bilinear'},
    nn.AvgPool2d(2), nn.AdaptiveAvgPool2d({3, 3}), nn.Flatten(), nn.Linear(18, 10), nn.LayerNorm(10),
    nn.Dropout(0.2), nn.LogSoftmax{dim = 2},
  }
  local x = values({4, 2, 9, 9}):float()
  local y = brasa.tensor({1, 10, 3, 3}, {dtype = 'i64'})
  brasa.manual_seed(3)
  local cl = nn.NLLLoss()(model(x), y) + nn.CrossEntropyLoss{label_smoothing = 0.1}(model(x), y)
  cl:backward()
  local cgrads = {}
  for i, p in ipairs(model:parameters()) do cgrads[i] = p.grad:clone() end
  model:zero_grad()
  model:to(DEV)
  brasa.manual_seed(3)
  local gl = nn.NLLLoss()(model(x:cuda()), y:cuda()) + nn.CrossEntropyLoss{label_smoothing = 0.1}(model(x:cuda()), y:cuda())
  gl:backward()
  close('model loss', gl, cl, 1e-5, 1e-6)
  for i, p in ipairs(model:parameters()) do
    close('model gradient ' .. i, p.grad, cgrads[i], 1e-4, 1e-5)
  end
end)

-- ---- edge shapes and sizes (a review of the kernels before their first GPU run) ------------

test('edge shapes: empty tensors, one class, K = 1, V = 1: no launch of 0 blocks', function()
  local empty_ids = brasa.zeros(0, {dtype = 'i64'})
  both('softmax of [0, 5] and [4, 0]', {{values({0, 5}), grad = true}, {values({4, 0}), grad = true}},
    function(a, b) return F.softmax(a, 2), F.log_softmax(b, 2) end)
  both('softmax of one class: rows and columns', {{values({3, 1}), grad = true}, {values({2, 1, 5}), grad = true}},
    function(a, b) return F.softmax(a, 2), F.log_softmax(b, 2), F.softmax(b, 2) end)
  both('log_softmax of [0, 3, 4]', {{values({0, 3, 4}), grad = true}}, function(t) return F.log_softmax(t, 2) end)
  both('layer_norm of no rows', {{values({0, 4}), grad = true}, {values({4}), grad = true}, {values({4}), grad = true}},
    function(x, w, b) return F.layer_norm(x, 4, w, b) end)
  for _, dt in ipairs({'f32', 'f64'}) do
    both('layer_norm K = 1 ' .. dt,
      {{values({5, 1}):to(dt), grad = true}, {values({1}):to(dt), grad = true}, {values({1}):to(dt), grad = true}},
      function(x, w, b) return F.layer_norm(x, 1, w, b) end)
  end
  both('cross_entropy of no rows (sum, mean)', {{values({0, 5}), grad = true}, {empty_ids}},
    function(a, b) return F.cross_entropy(a, b, {reduction = 'sum'}), F.cross_entropy(a, b) end)
  both('cross_entropy of one class', {{values({4, 1}), grad = true}, {brasa.ones(4, {dtype = 'i64'})}},
    function(a, b) return F.cross_entropy(a, b, {label_smoothing = 0.1}), F.nll_loss(a, b, {reduction = 'none'}) end)
  for _, n in ipairs({0, 1, 5}) do
    brasa.manual_seed(40 + n)
    local yc = F.dropout(brasa.ones(n), 0.5)
    brasa.manual_seed(40 + n)
    local yg = F.dropout(brasa.ones(n, {device = DEV}), 0.5)
    close('dropout of ' .. n .. ' elements', yg, yc, 0, 0)
  end
  both('embedding of no ids', {{values({5, 3}), grad = true}, {empty_ids}}, function(w, i) return F.embedding(i, w) end)
  both('embedding of ids [2, 0]', {{values({5, 3}), grad = true}, {brasa.zeros(2, 0, {dtype = 'i64'})}},
    function(w, i) return F.embedding(i, w) end)
  local ones = brasa.tensor({1, 1, 0, 1, 1, 1}, {dtype = 'i64'})
  both('embedding V = 1, one id repeated', {{values({1, 4}), grad = true}, {ones}},
    function(w, i) return F.embedding(i, w) end, {exact = true})
  both('embedding V = 1, every id padding', {{values({1, 4}), grad = true}, {ones}},
    function(w, i) return F.embedding(i, w, {padding_idx = 1}) end, {exact = true})
  both('pools of no planes', {{values({0, 3, 8, 8}), grad = true}},
    function(t)
      return F.max_pool2d(t, 2), F.avg_pool2d(t, 3, {stride = 2, padding = 1}), F.adaptive_avg_pool2d(t, {3, 2})
    end)
  both('interpolate of no planes', {{values({0, 2, 3, 3}), grad = true}},
    function(t)
      return F.interpolate(t, {size = {5, 4}, mode = 'bilinear'}), F.interpolate(t, {scale_factor = 2})
    end)
end)

test('pooling windows that start in the padding: dilation, ceil_mode, uneven strides', function()
  for _, dt in ipairs({'f32', 'f64'}) do
    local x = values({2, 2, 10, 9}):to(dt)
    both('max_pool2d dilation 2, padding 1, ceil_mode ' .. dt, {{x, grad = true}},
      function(t)
        return F.max_pool2d(t, 3, {stride = 2, padding = 1, dilation = 2, ceil_mode = true, return_indices = true})
      end,
      {exact = true})
    both('max_pool2d {3, 4} stride {3, 2} padding {1, 2} ceil_mode ' .. dt, {{x, grad = true}},
      function(t)
        return F.max_pool2d(t, {3, 4}, {stride = {3, 2}, padding = {1, 2}, ceil_mode = true, return_indices = true})
      end,
      {exact = true})
    both('max_pool2d of one row ' .. dt, {{values({2, 3, 1, 9}):to(dt), grad = true}},
      function(t) return F.max_pool2d(t, {1, 3}, {stride = {1, 2}, padding = {0, 1}, return_indices = true}) end,
      {exact = true})
    both('avg_pool2d ceil_mode, count_include_pad ' .. dt, {{x, grad = true}},
      function(t) return F.avg_pool2d(t, 3, {stride = 2, padding = 1, ceil_mode = true}) end)
    both('avg_pool2d ceil_mode, divisor_override ' .. dt, {{x, grad = true}},
      function(t) return F.avg_pool2d(t, 4, {stride = 3, padding = 2, ceil_mode = true, divisor_override = 7}) end)
    both('adaptive_max_pool2d to a larger size ' .. dt, {{values({2, 3, 9, 7}):to(dt), grad = true}},
      function(t) return F.adaptive_max_pool2d(t, {12, 10}, {return_indices = true}) end, {exact = true})
  end
end)

test('long rows and many rows: 100000 classes, rows far from 0, grids past the block cap', function()
  for _, dt in ipairs({'f32', 'f64'}) do
    -- a thread of the block adds ~400 values of ~1000: f32 sums lost the mean's digits
    both('layer_norm K = 100000, mean 1000 ' .. dt,
      {{(values({2, 100000}) + 1000):to(dt), grad = true}, {values({100000}):to(dt), grad = true},
       {values({100000}):to(dt), grad = true}},
      function(x, w, b) return F.layer_norm(x, 100000, w, b) end)
    both('layer_norm 20000 rows ' .. dt,
      {{values({20000, 3}):to(dt), grad = true}, {values({3}):to(dt), grad = true}, {values({3}):to(dt), grad = true}},
      function(x, w, b) return F.layer_norm(x, 3, w, b) end)
    both('softmax C = 100000 ' .. dt, {{(values({2, 100000}) * 4):to(dt), grad = true}},
      function(t) return F.softmax(t, 2), F.log_softmax(t, 2) end)
    both('softmax of 6000 x 3 columns ' .. dt, {{values({6000, 4, 3}):to(dt), grad = true}},
      function(t) return F.softmax(t, 2), F.log_softmax(t, 2) end)
    local t = brasa.tensor({5, 100000, 77777, 1}, {dtype = 'i64'})
    local w = (brasa.rand(100000, {dtype = 'f64'}) + 0.5):to(dt)
    both('cross_entropy 100000 classes, weight, ignore_index, smoothing ' .. dt,
      {{(values({4, 100000}) * 2):to(dt), grad = true}, {t}},
      function(a, b)
        local wt = a.device == 'cpu' and w or w:cuda()
        return F.cross_entropy(a, b, {weight = wt, ignore_index = 77777, label_smoothing = 0.1}),
               F.cross_entropy(a, b, {weight = wt, ignore_index = 1, reduction = 'none'})
      end)
    local t2 = brasa.tensor({3, 2000, 1999, 7, 2000}, {dtype = 'i32'})
    local w2 = (brasa.rand(2000, {dtype = 'f64'}) + 0.5):to(dt)
    both('nll_loss 2000 classes, weight, ignore_index ' .. dt, {{values({5, 2000}):to(dt), grad = true}, {t2}},
      function(a, b)
        return F.nll_loss(a, b, {weight = a.device == 'cpu' and w2 or w2:cuda(), ignore_index = 7})
      end)
  end
end)

-- ---- the runner ------------------------------------------------------------------------------

local M = {tests = tests}

function M.run(filter) return H.run_tests(tests, filter, {label = 'nn', width = 76}) end

H.main('tests/gpu/test_gpu_nn.lua', M.run)

return M
