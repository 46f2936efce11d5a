-- tests/gpu/test_gpu_conv.lua: convolutions and batch normalisation on the
-- GPU (cuDNN, core/cuda/cudnn.c and channel.cu) against the CPU.
--
--   build/brasa tests/gpu/test_gpu_conv.lua [filter]
--
-- Uses the harness of tests/gpu/test_gpu.lua (same skip rule, same fake
-- mode: BRASA_GPU_TEST_FAKE=1 runs it with the CPU standing in for the GPU).
-- Used as a module (dofile), it returns {run = function(filter) -> passed, failed}.
-- Each case runs one graph on both devices from the same values, in every
-- float dtype, and compares the output and the gradient of every input.
-- Convolution results differ from the CPU's by rounding that grows with the
-- sums behind each value, so they are checked against a bound scaled by the
-- same op applied to |x|, |w| (and |b|): |gpu - cpu| <= rtol * conv(|x|,
-- |w|) + atol, rtol by dtype. A wrong index or padding errs by the size of
-- the values themselves, far past that bound.

local source = debug.getinfo(1, 'S').source:match('^@(.*)$') or ''
local here = source:match('^(.*)/[^/]*$') or '.'
package.path = here .. '/?.lua;' .. package.path
local H = require 'test_gpu'

local brasa = require 'brasa'
local cuda = brasa.cuda
local F = brasa.nn.functional
local nn = brasa.nn

local FAKE, DEV = H.FAKE, H.DEV
local close, expect_error, values = H.close, H.expect_error, H.values

local tests = {}
local function test(name, fn, gpu_only) tests[#tests + 1] = {name = name, fn = fn, gpu_only = gpu_only} end

local FLOATS = {'f32', 'f64', 'f16', 'bf16'}
-- rtol against the |x| |w| bound: f32 leaves room for cuDNN's Winograd and
-- FFT algorithms, f16/bf16 for two roundings of the output (conv, + bias).
local CONV_RTOL = {f32 = 5e-5, f64 = 1e-11, f16 = 4e-3, bf16 = 3e-2}

local function shape_str(t) return '[' .. table.concat(t.shape, 'x') .. ']' end

-- got (the device's) against want (the CPU's), elementwise within
-- rtol * |mag| + atol; NaN anywhere fails.
local function close_mag(what, got, want, mag, rtol, atol)
  atol = atol or 1e-12
  assert(brasa.is_tensor(got), what .. ': no tensor')
  assert(FAKE or got.device:match('^cuda'), what .. ': result on ' .. got.device)
  assert(shape_str(got) == shape_str(want), what .. ': shape ' .. shape_str(got) .. ', expected ' .. shape_str(want))
  assert(got.dtype == want.dtype, what .. ': dtype ' .. got.dtype .. ', expected ' .. want.dtype)
  local g, w = got:cpu():double(), want:double()
  local err = (g - w):abs()
  local excess = err - (mag:double():abs() * rtol + atol)
  local nan = err:isnan()
  if excess:gt(0):logical_or(nan):any():item() then
    local i = excess:masked_fill(nan, math.huge):reshape(-1):argmax():item()
    local gf, wf, mf = g:reshape(-1), w:reshape(-1), mag:double():reshape(-1)
    error(string.format('%s: element %d is %.9g on the GPU, %.9g on the CPU (bound %.3g = %g * %.4g + %g; %s %s)',
                        what, i, gf[i], wf[i], rtol * math.abs(mf[i]) + atol, rtol, mf[i], atol,
                        shape_str(want), want.dtype), 0)
  end
end

-- ---- one graph on both devices --------------------------------------------------------

-- specs: a list of {shape =, view = function(t) -> t?} (or false for an
-- absent input). Returns the f64 CPU values of the inputs.
local function make_inputs(specs)
  local vals = {}
  for i, s in ipairs(specs) do vals[i] = s and values(s.shape) or false end
  return vals
end

-- Leaves of dtype dt (on the device when dev) from vals, and the arguments
-- (their views) to call fn with.
local function leaves(specs, vals, dt, dev)
  local ls, args = {}, {}
  for i, s in ipairs(specs) do
    if s then
      local t = vals[i]:to(dt)
      if dev then t = t:cuda() end
      t = t:detach()
      t:requires_grad_(true)
      ls[i] = t
      args[i] = s.view and s.view(t) or t
    end
  end
  return ls, args
end

-- Runs fn(args...) on the CPU and on the device in dtype dt, backward from
-- sum(y * r) with the same r, and compares y and every input's gradient
-- against the bounds from fn on absolute values (f64).
local function check_graph(what, specs, fn, dt, rtol)
  rtol = rtol or CONV_RTOL[dt]
  local vals = make_inputs(specs)
  -- the bounds: fn(|inputs|), and the gradients of sum(fn(|inputs|) * |r|)
  local abs_vals = {}
  for i, v in ipairs(vals) do abs_vals[i] = v and v:abs() or false end
  local al, aa = leaves(specs, abs_vals, 'f64', false)
  local ymag = fn(aa[1], aa[2], aa[3])
  local r = values(ymag.shape)
  ;(ymag * r:abs()):sum():backward()
  local cl, ca = leaves(specs, vals, dt, false)
  local gl, ga = leaves(specs, vals, dt, true)
  local yc = fn(ca[1], ca[2], ca[3])
  local yg = fn(ga[1], ga[2], ga[3])
  close_mag(what .. ' ' .. dt .. ' output', yg, yc, ymag, rtol)
  ;(yc * r:to(dt)):sum():backward()
  ;(yg * r:to(dt):cuda()):sum():backward()
  for i, s in ipairs(specs) do
    if s then
      assert(gl[i].grad, what .. ': no gradient for input ' .. i)
      close_mag(what .. ' ' .. dt .. ' gradient ' .. i, gl[i].grad, cl[i].grad, al[i].grad, rtol)
    end
  end
end

-- x shaped as given, passed as a transposed view of a contiguous tensor
-- (the kernels get non-contiguous input made contiguous by the op).
local function transposed(shape)
  local s = {table.unpack(shape)}
  s[#s], s[#s - 1] = s[#s - 1], s[#s]
  return {shape = s, view = function(t) return t:transpose(#s - 1, #s) end}
end

-- ---- convolutions ---------------------------------------------------------------------------

-- {name, x shape (or spec), w shape, bias?, opts}
local CONV2D = {
  {'padding 1, bias', {2, 3, 9, 8}, {4, 3, 3, 3}, true, {padding = 1}},
  {'stride, dilation, groups', {2, 4, 10, 9}, {6, 2, 3, 2}, false,
   {stride = {2, 1}, padding = {1, 2}, dilation = {2, 1}, groups = 2}},
  {'asymmetric padding {0, 2, 1, 0}', {2, 3, 8, 7}, {5, 3, 3, 3}, true, {padding = {0, 2, 1, 0}}},
  {"'same' with an even kernel (asymmetric)", {1, 2, 7, 6}, {3, 2, 2, 4}, true,
   {padding = 'same', dilation = {1, 2}}},
  {'depthwise, stride 2', {2, 6, 7, 7}, {6, 1, 3, 3}, false, {groups = 6, stride = 2, padding = 1}},
  {'1x1 with bias', {3, 8, 5, 5}, {4, 8, 1, 1}, true, {}},
  {'stride 3, trailing rows unread', {2, 3, 10, 11}, {4, 3, 3, 3}, true, {stride = 3}},
  {'padding past the kernel', {1, 2, 3, 3}, {2, 2, 2, 2}, true, {padding = 3, stride = 2}},
  {'leading padding only, stride 2', {2, 2, 6, 5}, {3, 2, 3, 2}, true, {padding = {3, 0, 0, 2}, stride = 2}},
  {'non-contiguous input', transposed({2, 3, 6, 7}), {4, 3, 3, 2}, true, {padding = {1, 0}}},
  {'unbatched [C, H, W]', {3, 6, 6}, {2, 3, 3, 3}, true, {padding = 1}},
}

local function conv_specs(c)
  local x = c[2].shape and c[2] or {shape = c[2]}
  local oc = c[3][1]
  return {x, {shape = c[3]}, c[4] and {shape = {oc}} or false}
end

-- Each case {label, x, w, bias, opts} of the convolution f (F.conv2d, ...)
-- in every float dtype, with the inputs specs(case).
local function check_cases(name, f, cases, specs)
  for _, c in ipairs(cases) do
    for _, dt in ipairs(FLOATS) do
      local opts = c[5]
      check_graph(name .. ' ' .. c[1], specs(c), function(x, w, b)
        if b then return f(x, w, b, opts) end
        return f(x, w, opts)
      end, dt)
    end
  end
end

test('conv2d: output and gradients of x, w, b (f32, f64, f16, bf16)', function()
  check_cases('conv2d', F.conv2d, CONV2D, conv_specs)
end)

test('conv1d: stride, dilation, groups, asymmetric and same padding', function()
  local cases = {
    {'stride 2, dilation 2, groups 2, padding {3, 1}', {3, 4, 20}, {6, 2, 5}, true,
     {stride = 2, padding = {3, 1}, dilation = 2, groups = 2}},
    {"'same', even kernel", {2, 3, 11}, {5, 3, 4}, true, {padding = 'same'}},
    {'no bias, stride 3', {2, 2, 13}, {3, 2, 3}, false, {stride = 3, padding = 1}},
  }
  check_cases('conv1d', F.conv1d, cases, conv_specs)
end)

test('conv_transpose2d and conv_transpose1d: output_padding, groups, asymmetric padding', function()
  -- weight [C_in, C_out / groups, kh, kw]; bias [C_out]
  local cases2 = {
    {'stride 2, output_padding 1', {2, 4, 5, 6}, {4, 3, 3, 3}, 3, {stride = 2, padding = 1, output_padding = 1}},
    {'groups 2, dilation 2', {2, 4, 4, 5}, {4, 2, 3, 2}, false, {groups = 2, dilation = 2, padding = {2, 1}}},
    {'asymmetric padding {1, 0, 2, 1}', {1, 3, 5, 5}, {3, 2, 3, 3}, 2, {stride = 2, padding = {1, 0, 2, 1}}},
    -- output_padding 1 with stride 1 and dilation 2: the last row of the
    -- output is read by no window of the convolution it transposes
    {'unread trailing rows', {1, 2, 4, 4}, {2, 3, 2, 2}, 3, {dilation = 2, output_padding = 1}},
    -- an empty image: the output [1, 3, 2, 5] is the bias, the weight's
    -- gradient zero (cuDNN takes no 0 dims: cudnn.c does these itself)
    {'empty input image (H = 0)', {1, 2, 0, 3}, {2, 3, 3, 3}, 3, {}},
  }
  check_cases('conv_transpose2d', F.conv_transpose2d, cases2, function(c)
    return {{shape = c[2]}, {shape = c[3]}, c[4] and {shape = {c[4]}} or false}
  end)
  for _, dt in ipairs(FLOATS) do
    local opts = {stride = 3, padding = 2, output_padding = 2}
    check_graph('conv_transpose1d', {{shape = {2, 3, 7}}, {shape = {3, 2, 4}}, {shape = {2}}},
      function(x, w, b) return F.conv_transpose1d(x, w, b, opts) end, dt)
  end
end)

-- A view of `shape` that starts one slice into a tensor with one more row
-- on dim 1: contiguous, but its data pointer sits at an odd element offset
-- (not 16-byte aligned, as cuDNN's vector loads want: cudnn.c copies such
-- operands to aligned buffers).
local function narrowed(shape)
  local s = {table.unpack(shape)}
  s[1] = s[1] + 1
  return {shape = s, view = function(t) return t:narrow(1, 2, shape[1]) end}
end

test('convolutions of views at an offset (unaligned data pointers)', function()
  for _, dt in ipairs(FLOATS) do
    check_graph('conv2d offset views', {narrowed({2, 3, 5, 7}), narrowed({4, 3, 3, 3}), narrowed({4})},
      function(x, w, b) return F.conv2d(x, w, b, {padding = 1}) end, dt)
    -- asymmetric padding: the input is padded here, from the view
    check_graph('conv2d offset views, asymmetric padding', {narrowed({2, 3, 5, 7}), narrowed({4, 3, 2, 3}), false},
      function(x, w) return F.conv2d(x, w, {padding = {0, 1, 2, 0}, stride = {1, 2}}) end, dt)
    check_graph('conv_transpose2d offset views', {narrowed({2, 3, 5, 7}), narrowed({3, 2, 3, 3}), narrowed({2})},
      function(x, w, b) return F.conv_transpose2d(x, w, b, {stride = 2, padding = 1}) end, dt)
    check_graph('conv1d offset views', {narrowed({2, 3, 11}), narrowed({5, 3, 3}), false},
      function(x, w) return F.conv1d(x, w, {padding = 1}) end, dt)
  end
end)

test('conv2d: gradients of gradients (create_graph)', function()
  local x0, w0 = values({2, 3, 7, 6}), values({4, 3, 3, 2})
  local function second(dev)
    local x, w = x0, w0
    if dev then x, w = x:cuda(), w:cuda() end
    x, w = x:detach(), w:detach()
    x:requires_grad_(true)
    w:requires_grad_(true)
    local y = F.conv2d(x, w, {stride = 2, padding = {1, 2, 0, 1}})
    local gx = brasa.grad({(y * y):sum()}, {x}, {create_graph = true})[1]
    local gw = brasa.grad({(gx * gx):sum()}, {w})[1]
    return gx, gw
  end
  local cgx, cgw = second(false)
  local ggx, ggw = second(true)
  close('first gradient', ggx, cgx, 1e-10, 1e-10)
  close('second gradient', ggw, cgw, 1e-10, 1e-9)
end)

test('benchmark mode: the same results as the heuristics and the CPU', function()
  local old = cuda.benchmark(false)
  local ok, err = pcall(function()
    local x, w, b = values({4, 8, 12, 12}), values({16, 8, 3, 3}), values({16})
    local mag = F.conv2d(x:abs(), w:abs(), b:abs(), {padding = 1})
    for _, dt in ipairs({'f32', 'f16'}) do
      local xc, wc, bc = x:to(dt), w:to(dt), b:to(dt)
      local want = F.conv2d(xc, wc, bc, {padding = 1})
      local heur = F.conv2d(xc:cuda(), wc:cuda(), bc:cuda(), {padding = 1})
      assert(cuda.benchmark(true) == false)
      for _ = 1, 2 do   -- the search, then the cached choice
        local timed = F.conv2d(xc:cuda(), wc:cuda(), bc:cuda(), {padding = 1})
        close_mag('benchmark ' .. dt .. ' vs CPU', timed, want, mag, CONV_RTOL[dt])
        close_mag('benchmark ' .. dt .. ' vs heuristics', timed, heur, mag, 2 * CONV_RTOL[dt])
      end
      check_graph('benchmark gradients', {{shape = {3, 4, 9, 7}}, {shape = {5, 4, 3, 3}}, {shape = {5}}},
        function(xx, ww, bb) return F.conv2d(xx, ww, bb, {stride = 2, padding = {0, 1}}) end, dt)
      cuda.benchmark(false)
    end
  end)
  cuda.benchmark(old)
  assert(ok, err)
end)

test('conv2d with TF32 allowed (f32 within TF32 rounding)', function()
  local old = cuda.allow_tf32(true)
  local ok, err = pcall(function()
    check_graph('conv2d tf32', {{shape = {2, 16, 10, 10}}, {shape = {8, 16, 3, 3}}, {shape = {8}}},
      function(x, w, b) return F.conv2d(x, w, b, {padding = 1}) end, 'f32', 4e-3)
  end)
  cuda.allow_tf32(old)
  assert(ok, err)
end)

-- Over 2^31 elements per tensor: cuDNN's 32-bit indexing makes the kernels
-- split the batch. Closed form (ones * 2 + 0.5), no CPU reference: 4.4 GB a tensor.
test('conv2d past 2^31 elements (batch split; f16, about 18 GB)', function()
  local x = brasa.ones({33, 1, 8192, 8192}, {dtype = 'f16', device = DEV, requires_grad = true})
  local w = brasa.full({1, 1, 1, 1}, 2, {dtype = 'f16', device = DEV})
  local b = brasa.full({1}, 0.5, {dtype = 'f16', device = DEV})
  local y = F.conv2d(x, w, b)
  assert(y:min():item() == 2.5 and y:max():item() == 2.5, 'y is not 2.5 everywhere')
  y:sum():backward()
  y = nil
  assert(x.grad:min():item() == 2 and x.grad:max():item() == 2, 'the input gradient is not 2 everywhere')
end, true)

-- ---- batch normalisation ---------------------------------------------------------------

-- x of shape, on both devices; weight/bias (affine) and running stats
-- (track) as a module holds them (f32 unless pdt); training or not; eps
-- (1e-4 unless o.eps); o.offset: every tensor is a view one element (or
-- one image) into a larger one, so its data pointer is not 16-byte aligned.
local function check_bn(what, shape, dt, o)
  local C = shape[2]
  local bshape = {table.unpack(shape)}
  if o.offset then bshape[1] = bshape[1] + 1 end
  local xv, r = values(bshape), values(shape)
  local cn = o.offset and C + 1 or C
  local wv, bv = values({cn}) * 0.5 + 1, values({cn})
  local rmv, rvv = values({cn}) * 0.1, values({cn}, 'positive')
  local pdt = o.pdt or (dt == 'f64' and 'f64' or 'f32')
  local function run(dev)
    local function put(t, d)   -- a copy: the running statistics change in place
      t = t:to(d):clone()
      if dev then t = t:cuda() end
      return t:detach()
    end
    local function view(t) return o.offset and t:narrow(1, 2, t.shape[1] - 1) or t end
    local xl = put(xv, dt)
    xl:requires_grad_(true)
    local x = view(xl)
    local wl, bl, w, b
    if o.affine ~= false then
      wl, bl = put(wv, pdt), put(bv, pdt)
      wl:requires_grad_(true)
      bl:requires_grad_(true)
      w, b = view(wl), view(bl)
    end
    local rm, rv
    if o.track ~= false then rm, rv = view(put(rmv, pdt)), view(put(rvv, pdt)) end
    local y = F.batch_norm(x, rm, rv, w, b, {training = o.training, momentum = 0.2, eps = o.eps or 1e-4})
    local rr = r:to(dt)
    if dev then rr = rr:cuda() end
    ;(y * rr):sum():backward()
    return {y = y, gx = xl.grad, gw = wl and wl.grad, gb = bl and bl.grad, rm = rm, rv = rv}
  end
  local c, g = run(false), run(true)
  local M = 1
  for i, s in ipairs(shape) do if i ~= 2 then M = M * s end end
  -- values O(1); the parameter gradients are sums of M of them
  local tol = {f32 = 1e-4, f64 = 1e-10, f16 = 4e-3, bf16 = 3e-2}
  local rt = tol[dt]
  local pt = tol[pdt] * math.sqrt(M)
  local tag = what .. ' ' .. dt
  close(tag .. ' y', g.y, c.y, rt, rt)
  close(tag .. ' grad x', g.gx, c.gx, rt, rt)
  if c.gw then
    close(tag .. ' grad weight', g.gw, c.gw, tol[pdt] * 10, pt)
    close(tag .. ' grad bias', g.gb, c.gb, tol[pdt] * 10, pt)
  end
  if c.rm then
    close(tag .. ' running_mean', g.rm, c.rm, tol[pdt], tol[pdt])
    close(tag .. ' running_var', g.rv, c.rv, tol[pdt], tol[pdt])
  end
end

test('batch_norm: training and evaluation, gradients, running statistics', function()
  for _, dt in ipairs({'f32', 'f64'}) do
    for _, training in ipairs({true, false}) do
      local mode = training and 'training' or 'eval'
      check_bn('batch_norm [N, C, H, W] ' .. mode, {4, 3, 5, 6}, dt, {training = training})
      check_bn('batch_norm [N, C, L] ' .. mode, {5, 4, 7}, dt, {training = training})
      check_bn('batch_norm [N, C] ' .. mode, {16, 6}, dt, {training = training})
      check_bn('batch_norm affine = false ' .. mode, {4, 3, 5, 2}, dt, {training = training, affine = false})
    end
    check_bn('batch_norm without running stats', {3, 4, 6, 5}, dt, {training = true, track = false})
    check_bn('batch_norm affine = false, no running stats', {6, 2, 3}, dt,
             {training = true, affine = false, track = false})
  end
end)

test('batch_norm: f16 and bf16 inputs with f32 parameters (AMP)', function()
  for _, dt in ipairs({'f16', 'bf16'}) do
    check_bn('batch_norm', {4, 3, 5, 6}, dt, {training = true})
    check_bn('batch_norm', {4, 3, 5, 6}, dt, {training = false})
  end
end)

-- cuDNN's backward gets the forward's saved mean and 1/std (its own eps
-- argument must then not matter: the kernel contract does not carry eps);
-- an eps of half the data's variance shows any use of another one.
test('batch_norm: a large eps, and tensors at an offset (unaligned)', function()
  for _, dt in ipairs({'f32', 'f64'}) do
    for _, training in ipairs({true, false}) do
      local mode = training and 'training' or 'eval'
      check_bn('batch_norm eps 0.5 ' .. mode, {4, 3, 5, 6}, dt, {training = training, eps = 0.5})
      check_bn('batch_norm offset views ' .. mode, {4, 3, 5, 3}, dt, {training = training, offset = true})
    end
  end
end)

test("batch_norm: batches past cuDNN's limits (the fallback kernels)", function()
  check_bn('batch_norm eval, N > 65535', {70000, 3, 2}, 'f32', {training = false})
  check_bn('batch_norm training, N = 70000', {70000, 3, 2}, 'f32', {training = true})
  check_bn('batch_norm training, N > 880801', {900000, 2, 2}, 'f32', {training = true})
end)

-- ---- modules ---------------------------------------------------------------------------------

test('nn.Conv2d, nn.BatchNorm2d, nn.ConvTranspose2d in a model on the GPU', function()
  local function build()
    brasa.manual_seed(11)
    return nn.Sequential{
      nn.Conv2d(3, 8, 3, {padding = 1}), nn.BatchNorm2d(8), nn.ReLU(),
      nn.Conv2d(8, 6, 3, {stride = 2, padding = {0, 1}}), nn.BatchNorm2d(6), nn.Tanh(),
      nn.ConvTranspose2d(6, 4, 2, {stride = 2}), nn.Flatten(), nn.Linear(4 * 8 * 10, 5),
    }
  end
  local mc, mg = build(), build():to(DEV)
  local x, r = values({4, 3, 9, 9}):float(), values({4, 5}):float()
  for step = 1, 2 do
    mc:zero_grad()
    mg:zero_grad()
    local yc, yg = mc(x), mg(x:cuda())
    close('model output, step ' .. step, yg, yc, 1e-4, 1e-4)
    ;(yc * r):sum():backward()
    ;(yg * r:cuda()):sum():backward()
    local pc, pg = mc:parameters(), mg:parameters()
    assert(#pc == #pg)
    for i = 1, #pc do close('parameter gradient ' .. i, pg[i].grad, pc[i].grad, 1e-3, 1e-3) end
  end
  local bc, bg = mc:buffers(), mg:buffers()
  for i = 1, #bc do close('buffer ' .. i, bg[i], bc[i], 1e-4, 1e-4) end
  mc:eval()
  mg:eval()
  close('model output in eval mode', mg(x:cuda()), mc(x), 1e-4, 1e-4)
end)

-- ---- errors --------------------------------------------------------------------------------------

test('device mixing fails naming the devices', function()
  local xg, wc = brasa.ones(1, 2, 5, 5, {device = DEV}), brasa.ones(3, 2, 3, 3)
  expect_error('conv2d', function() return F.conv2d(xg, wc) end, 'one device')
  expect_error('conv2d bias', function()
    return F.conv2d(xg, wc:cuda(), brasa.ones(3))
  end, 'one device')
  expect_error('batch_norm', function()
    return F.batch_norm(xg, brasa.zeros(2), brasa.ones(2), {training = true})
  end, 'cpu', 'cuda:0')
end, true)

-- ---- the runner -----------------------------------------------------------------------------

local function run(filter) return H.run_tests(tests, filter, {label = 'conv'}) end

H.main('tests/gpu/test_gpu_conv.lua', run)

return {run = run, tests = tests}
