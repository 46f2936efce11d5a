-- Pooling and resampling in brasa.nn.functional: values, indices and
-- gradients against PyTorch 1.13 (tests/golden/torch_pool_ref.lua, written by
-- tests/golden/gen_torch_pool.py; this spec needs no torch), behaviour
-- (global pooling, indices, dtypes, threads, graphs), bad input, and the
-- documentation's examples.

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local ref = dofile(here .. '../golden/torch_pool_ref.lua')

local brasa = require 'brasa'
local F = require 'brasa.nn.functional'

local function T(r, dtype)
  return brasa.tensor(r.data, {dtype = dtype or 'f64'}):reshape(r.shape)
end

local function check_tensor(name, got, want, rtol, atol)
  assert(brasa.is_tensor(got), name .. ': no tensor')
  assert.are.same(want.shape, got.shape, name .. ': shape')
  local worst, at = 0, 0
  for k = 1, #want.data do
    local g, w = got:_flat(k), want.data[k]
    local err = math.abs(g - w) - (rtol * math.abs(w) + atol)
    if g ~= g or err > worst then worst, at = g ~= g and math.huge or err, k end
  end
  assert(worst <= 0, string.format('%s: element %d: brasa %.17g, torch %.17g', name, at,
    at > 0 and got:_flat(at) or 0, at > 0 and want.data[at] or 0))
end

local function check_indices(name, got, want)
  assert(brasa.is_tensor(got), name .. ': no indices')
  assert.are.equal('i64', got.dtype, name .. ': indices dtype')
  assert.are.same(want.shape, got.shape, name .. ': indices shape')
  for k = 1, #want.data do
    assert(got:_flat(k) == want.data[k], string.format('%s: index %d: brasa %d, torch %d', name, k,
      got:_flat(k), want.data[k]))
  end
end

-- Runs one golden case in a dtype; compares y, indices and gx.
local function run_golden(name, c, dtype, rtol, atol)
  local x = T(c.x, dtype):requires_grad_()
  local y, ix = F[c.fn](x, table.unpack(c.args))
  check_tensor(name .. ' y', y, c.y, rtol, atol)
  assert.are.equal(dtype, y.dtype)
  if c.indices then check_indices(name, ix, c.indices) end
  local gx = brasa.grad(y, x, {grad_outputs = T(c.gy, dtype)})[1]
  check_tensor(name .. ' gx', gx, c.gx, rtol, atol)
end

describe('pooling and resampling against PyTorch ' .. ref.torch_version, function()
  for _, name in ipairs(ref.order) do
    local c = ref[name]
    it(name .. ' (f64)', function() run_golden(name, c, 'f64', 1e-9, 1e-12) end)
    it(name .. ' (f32)', function() run_golden(name, c, 'f32', 1e-5, 1e-5) end)
  end
end)

describe('pooling behaviour', function()
  it('max_pool2d returns 1-based indices flat within each plane', function()
    local x = brasa.tensor{{{{1, 9, 2, 3}, {4, 5, 8, 6}}}}
    local y, i = F.max_pool2d(x, 2, {return_indices = true})
    assert.are.same({{{{9, 8}}}}, y:totable())
    assert.are.same({{{{2, 7}}}}, i:totable())
    local v, j = F.max_pool1d(brasa.tensor{{3, 1, 4, 1, 5}}, 2, {return_indices = true})
    assert.are.same({{3, 4}}, v:totable())
    assert.are.same({{1, 3}}, j:totable())
  end)

  it('max pooling takes the first of equal values and propagates NaN', function()
    local x = brasa.tensor({{{{2, 2}, {2, 1}}}}, {requires_grad = true})
    local y, i = F.max_pool2d(x, 2, {return_indices = true})
    assert.are.equal(1, i:item())
    y:sum():backward()
    assert.are.same({{{{1, 0}, {0, 0}}}}, x.grad:totable())
    local n = F.max_pool2d(brasa.tensor{{{{1, 0 / 0}, {5, 2}}}}, 2)
    assert(n:item() ~= n:item(), 'NaN expected')
  end)

  it('global pooling reduces the spatial dims (keepdim keeps them)', function()
    local x = brasa.arange(1, 24):reshape(2, 3, 4):double()
    assert.are.same({{4, 8, 12}, {16, 20, 24}}, F.global_max_pool1d(x):totable())
    assert.are.same({{2.5, 6.5, 10.5}, {14.5, 18.5, 22.5}}, F.global_avg_pool1d(x):totable())
    assert.are.same({2, 3, 1}, F.global_avg_pool1d(x, {keepdim = true}).shape)
    local x4 = x:reshape(1, 2, 3, 4)
    assert.are.same({{12, 24}}, F.global_max_pool2d(x4):totable())
    assert.are.same({{6.5, 18.5}}, F.global_avg_pool2d(x4):totable())
    assert.are.same({1, 2, 1, 1}, F.global_max_pool2d(x4, {keepdim = true}).shape)
    assert.are.same({2}, F.global_avg_pool2d(x4[1]).shape)   -- unbatched [C, H, W]
  end)

  it('keyword and positional forms agree', function()
    local x = brasa.randn(2, 3, 9, 8)
    local a = F.max_pool2d(x, 3, 2)
    assert(a:equal(F.max_pool2d(x, {kernel_size = 3, stride = 2})))
    assert(a:equal(F.max_pool2d(x, {3, 3}, {stride = {2, 2}})))
    assert(F.avg_pool2d(x, 2):equal(F.avg_pool2d(x, 2, {stride = 2})))
    assert(F.adaptive_avg_pool2d(x, 3):equal(F.adaptive_avg_pool2d(x, {output_size = {3, 3}})))
    assert(F.interpolate(x, {4, 5}):equal(F.interpolate(x, {size = {4, 5}})))
    assert(F.upsample(x, {scale_factor = 2}):equal(F.interpolate(x, {scale_factor = 2})))
  end)

  it('f16 and bf16 compute in f32 and keep their dtype', function()
    local x = brasa.randn(1, 2, 6, 6)
    for _, dt in ipairs({'f16', 'bf16'}) do
      local h = x:to(dt):requires_grad_()
      local y = F.avg_pool2d(h, 2)
      assert.are.equal(dt, y.dtype)
      assert(y:float():allclose(F.avg_pool2d(h:float(), 2), 1e-2, 1e-2))
      y:sum():backward()
      assert.are.equal(dt, h.grad.dtype)
      assert.are.equal(dt, F.max_pool2d(h, 3, 1).dtype)
      assert.are.equal(dt, F.interpolate(h, {scale_factor = 2, mode = 'bilinear'}).dtype)
    end
  end)

  it('gives the same results on 1 and 2 threads', function()
    local n = brasa.get_num_threads()
    local x = brasa.randn(8, 16, 20, 20, {requires_grad = true})
    local function run()
      local y = F.max_pool2d(x, 3, {stride = 2, padding = 1}) + F.avg_pool2d(x, 3, {stride = 2, padding = 1})
      local u = F.interpolate(y, {size = {13, 17}, mode = 'bilinear'})
      return u, brasa.grad((u * u):sum(), x)[1]
    end
    brasa.set_num_threads(1)
    local u1, g1 = run()
    brasa.set_num_threads(2)
    local u2, g2 = run()
    brasa.set_num_threads(n)
    assert(u1:equal(u2) and g1:equal(g2), 'results differ between thread counts')
  end)

  it('results of 1-d and global pooling can be written in place', function()
    local x = brasa.randn(2, 3, 8, {requires_grad = true})
    local y = F.max_pool1d(x, 2)
    y:mul_(2)
    local u = F.global_avg_pool1d(x)
    u:mul_(3)
    local v = F.global_max_pool2d(x:reshape(2, 3, 2, 4))
    v:add_(1)
    local total = y:sum() + u:sum() + v:sum()
    total:backward()
    -- 2 per pooled maximum, 3/8 everywhere, 1 at each plane's maximum
    local want = brasa.no_grad(function()
      local g = brasa.zeros(2, 3, 8, {dtype = 'f32'}) + 3 / 8
      local _, i = F.max_pool1d(x, 2, {return_indices = true})
      g = g:scatter_add(3, i, brasa.ones(2, 3, 4) * 2)
      local _, j = x:max(3, true)
      return g:scatter_add(3, j, brasa.ones(2, 3, 1))
    end)
    assert(x.grad:allclose(want), 'gradients through in-place writes')
  end)

  it('pools an empty batch', function()
    assert.are.same({0, 3, 2, 2}, F.max_pool2d(brasa.zeros(0, 3, 4, 4), 2).shape)
    assert.are.same({0, 3}, F.global_avg_pool2d(brasa.zeros(0, 3, 4, 4)).shape)
    assert.are.same({0, 2, 6}, F.interpolate(brasa.zeros(0, 2, 3), {scale_factor = 2}).shape)
  end)

  it('records no graph under no_grad and names its nodes', function()
    local x = brasa.randn(1, 1, 4, 4, {requires_grad = true})
    assert.are.equal('MaxPool2dBackward', F.max_pool2d(x, 2).grad_fn)
    assert.are.equal('MaxPool1dBackward', F.max_pool1d(x[1], 2).grad_fn)
    assert.are.equal('AvgPool2dBackward', F.avg_pool2d(x, 2).grad_fn)
    local y = brasa.no_grad(function() return F.max_pool2d(x, 2) end)
    assert.is_false(y.requires_grad)
  end)
end)

-- pcall(fn, ...) must fail with a message containing every pattern (plain).
local function fails(patterns, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error')
  err = tostring(err)
  for _, p in ipairs(patterns) do
    assert(err:find(p, 1, true), string.format('message lacks "%s": %s', p, err))
  end
end

describe('pooling refuses bad input', function()
  local x = brasa.randn(2, 3, 6, 6)

  it('a kernel larger than the padded input', function()
    fails({'max_pool2d', '[2x3x6x6]', 'kernel 7x7', 'larger than the padded input'}, F.max_pool2d, x, 7)
    fails({'avg_pool2d', '[2x3x6x6]'}, F.avg_pool2d, x, {9, 2}, {padding = 1})
    fails({'max_pool1d', 'kernel 5'}, F.max_pool1d, brasa.randn(2, 3, 4), 5)
    fails({'avg_pool1d'}, F.avg_pool1d, brasa.randn(3, 2), 3)
  end)

  it('padding above half the kernel, as PyTorch refuses', function()
    fails({'max_pool2d', 'padding 2x2', 'half the kernel size 3x3'}, F.max_pool2d, x, 3, {padding = 2})
    fails({'avg_pool2d', 'padding'}, F.avg_pool2d, x, 2, {padding = {0, 2}})
    fails({'max_pool1d', 'padding 2', 'kernel size 2'}, F.max_pool1d, brasa.randn(2, 3, 8), 2, {padding = 2})
    fails({'max_pool2d', 'padding'}, F.max_pool2d, x, 3, {padding = -1})
  end)

  it('wrong ranks', function()
    fails({'max_pool2d', '4-D [N, C, H, W]', '[6x6]'}, F.max_pool2d, brasa.randn(6, 6), 2)
    fails({'max_pool1d', '3-D [N, C, L]', '[2x3x6x6]'}, F.max_pool1d, x, 2)
    fails({'avg_pool2d', '[1x2x3x6x6]'}, F.avg_pool2d, brasa.randn(1, 2, 3, 6, 6), 2)
    fails({'adaptive_avg_pool2d', '[6]'}, F.adaptive_avg_pool2d, brasa.randn(6), 2)
    fails({'adaptive_max_pool1d', '[2x3x6x6]'}, F.adaptive_max_pool1d, x, 2)
    fails({'global_max_pool1d', '[6]'}, F.global_max_pool1d, brasa.randn(6))
    fails({'global_avg_pool2d', '[2x3x6x6x1]'}, F.global_avg_pool2d, brasa.randn(2, 3, 6, 6, 1))
    fails({'interpolate', '[6x6]'}, F.interpolate, brasa.randn(6, 6), {scale_factor = 2})
  end)

  it('other bad arguments', function()
    fails({'max_pool2d', 'floating-point', 'i64'}, F.max_pool2d, brasa.zeros(1, 1, 4, 4, {dtype = 'i64'}), 2)
    fails({'max_pool2d', "unknown option 'strides'"}, F.max_pool2d, x, 2, {strides = 2})
    fails({'max_pool2d', 'kernel_size expected'}, F.max_pool2d, x, {stride = 2})
    fails({'max_pool2d', 'kernel_size', 'list of 2'}, F.max_pool2d, x, {2, 2, 2})
    fails({'max_pool2d', 'kernel size', 'positive'}, F.max_pool2d, x, 0)
    fails({'max_pool2d', 'stride must be positive'}, F.max_pool2d, x, 2, {stride = 0})
    fails({'max_pool2d', 'stride must be positive'}, F.max_pool2d, x, 2, 0)
    fails({'avg_pool1d', 'stride must be positive'}, F.avg_pool1d, brasa.randn(2, 3, 6), 2, {-1})
    fails({'max_pool2d', 'dilation must be positive'}, F.max_pool2d, x, 2, {dilation = 0})
    fails({'avg_pool2d', 'divisor_override must be positive'}, F.avg_pool2d, x, 2, {divisor_override = 0})
    fails({'max_pool2d', 'empty at dim 2'}, F.max_pool2d, brasa.zeros(1, 0, 4, 4), 2)
    fails({'adaptive_avg_pool2d', 'output size must be positive'}, F.adaptive_avg_pool2d, x, {0, 2})
  end)

  it('interpolate: mode, size and align_corners', function()
    fails({'interpolate', 'exactly one of size and scale_factor'}, F.interpolate, x, {})
    fails({'interpolate', 'exactly one of size and scale_factor'}, F.interpolate, x, {size = 3, scale_factor = 2})
    fails({'interpolate', 'align_corners', 'linear and bilinear'}, F.interpolate, x,
      {scale_factor = 2, align_corners = false})
    fails({'interpolate', "'bilinear' needs a 4-D input", '[2x3x6]'}, F.interpolate, brasa.randn(2, 3, 6),
      {scale_factor = 2, mode = 'bilinear'})
    fails({'interpolate', "'linear' needs a 3-D input"}, F.interpolate, x, {scale_factor = 2, mode = 'linear'})
    fails({'interpolate', "mode 'bicubic' is not supported"}, F.interpolate, x, {scale_factor = 2, mode = 'bicubic'})
    fails({'interpolate', 'output size must be positive'}, F.interpolate, x, {size = {0, 3}})
    fails({'interpolate', 'scale_factor must be positive'}, F.interpolate, x, {scale_factor = -1})
    fails({'interpolate', 'empty output'}, F.interpolate, x, {scale_factor = 0.1})
    fails({'upsample_bilinear', '4-D'}, F.upsample_bilinear, brasa.randn(2, 3, 6), {scale_factor = 2})
  end)

  it('leaves its input alone after an error', function()
    local before = x:clone()
    pcall(F.max_pool2d, x, 3, {padding = 2})
    assert(x:equal(before))
  end)
end)

describe('documentation of pooling', function()
  local doc = require 'brasa.docs'
  local names = {}
  for _, n in ipairs(doc.names()) do
    local f = n:match('^brasa%.nn%.functional%.(.+)$')
    if f and (f:find('pool') or f:find('sample') or f == 'interpolate') then names[#names + 1] = n end
  end

  it('documents every pooling function', function()
    for _, f in ipairs({'max_pool1d', 'max_pool2d', 'avg_pool1d', 'avg_pool2d', 'adaptive_avg_pool1d',
                        'adaptive_avg_pool2d', 'adaptive_max_pool1d', 'adaptive_max_pool2d',
                        'global_avg_pool1d', 'global_avg_pool2d', 'global_max_pool1d',
                        'global_max_pool2d', 'interpolate', 'upsample', 'upsample_nearest',
                        'upsample_bilinear'}) do
      local e = doc.get('brasa.nn.functional.' .. f)
      assert(e, 'no doc entry for brasa.nn.functional.' .. f)
      assert.are.equal(e, doc.get(F[f]), f .. ' is not bound to its entry')
    end
  end)

  for _, n in ipairs(names) do
    it('runs the example of ' .. n, function()
      local e = doc.get(n)
      local out = {}
      local env = setmetatable({brasa = brasa, print = function(...)
        local t = table.pack(...)
        for i = 1, t.n do t[i] = tostring(t[i]) end
        out[#out + 1] = table.concat(t, '\t')
      end}, {__index = _G})
      local chunk = assert(load(e.example, '=' .. n, 't', env))
      chunk()
      -- a line `print(...)  --> shown` prints `shown` (whitespace and tensor headers aside)
      local k = 0
      for line in (e.example .. '\n'):gmatch('([^\n]*)\n') do
        if line:match('^%s*print%(') then
          k = k + 1
          local shown = line:match('%-%->%s*(.-)%s*$')
          if shown then
            local got = (out[k] or ''):gsub('tensor %[[^%]]*%] [%w]+ [%w:]+[^\n]*\n', ''):gsub('%s+', '')
            assert.are.equal(shown:gsub('%s+', ''), got, n .. ': line ' .. k)
          end
        end
      end
    end)
  end
end)
