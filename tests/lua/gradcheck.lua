-- gradcheck: numerical gradient checks for brasa's autograd.
--
-- First order: for f(inputs) = sum_k sum(out_k * W_k), where out_k are the
-- outputs of the function under test and W_k fixed random weights (so every
-- output element matters), the analytic gradient brasa.grad(f, inputs) is
-- compared with float64 central differences (h = 1e-6):
--
--   |analytic - numeric| <= 1e-6 * |numeric| + 1e-7   (every element)
--
-- Second order: with g = brasa.grad(f, inputs, {create_graph = true}) and
-- s(inputs) = sum_i sum(g_i * V_i) (V_i fixed random), brasa.grad(s, inputs)
-- is compared with central differences of s computed from the analytic
-- first gradient.
--
-- Inputs are f64 leaves; they may be non-contiguous (see G.strided and
-- G.transposed). Options: h, rtol, atol; allow_unused (an input the outputs do
-- not depend on gets zeros); needs_grad (fn calls brasa.grad itself, so its
-- values are computed with grad mode on); expected (check_closed). Perturbation writes one element in place under no_grad and
-- restores it, so views and strides are kept as given.
--
--   local G = require 'gradcheck'
--   local ok, msg = G.check(function(x) return x:exp() end, {G.randn{3, 4}})
--   local ok, msg = G.check2(function(x) return x:tanh() end, {G.randn{3, 4}})

local brasa = require 'brasa'

local G = {}

G.H = 1e-6
G.RTOL = 1e-6
G.ATOL = 1e-7

local F64 = {dtype = 'f64'}

-- ---- inputs -----------------------------------------------------------------

local function leaf(t)
  t = t:detach()
  t:requires_grad_(true)
  return t
end
G.leaf = leaf

--- A contiguous f64 leaf of standard normal values.
function G.randn(shape)
  return leaf(brasa.randn(shape, F64))
end

--- A contiguous f64 leaf uniform in [lo, hi].
function G.uniform(shape, lo, hi)
  local t = brasa.rand(shape, F64)
  return leaf(brasa.no_grad(function() return t * (hi - lo) + lo end))
end

--- A leaf of values in [lo, hi] at least `margin` away from every kink
-- (kinks: a list of numbers, or 'int' for every integer, 'half' for every
-- half-integer), for ops that are not differentiable there.
function G.away(shape, lo, hi, kinks, margin)
  margin = margin or 0.05
  local t = brasa.rand(shape, F64)
  local n = t:numel()
  local vals = {}
  local function ok(v)
    if kinks == 'int' then
      return math.abs(v - math.floor(v + 0.5)) >= margin
    elseif kinks == 'half' then
      local f = v - math.floor(v)
      return math.abs(f - 0.5) >= margin
    end
    for _, k in ipairs(kinks) do
      if math.abs(v - k) < margin then return false end
    end
    return true
  end
  for i = 1, n do
    local v = lo + (hi - lo) * t:_flat(i)
    local tries = 0
    while not ok(v) do
      tries = tries + 1
      v = lo + (hi - lo) * ((t:_flat(i) + 0.6180339887 * tries) % 1)
    end
    vals[i] = v
  end
  local r = brasa.tensor(vals, F64):reshape(shape)
  return leaf(r)
end

--- A leaf from nested Lua tables.
function G.tensor(data)
  return leaf(brasa.tensor(data, F64))
end

--- A non-contiguous leaf with t's values: every other element of a larger
-- buffer along the last dim (stride 2).
function G.strided(t)
  local shape = t.shape
  if #shape == 0 then return leaf(t) end
  local big = {}
  for i, s in ipairs(shape) do big[i] = s end
  big[#big + 1] = 2
  local buf = brasa.zeros(big, F64)
  local v = buf:select(#big, 1)
  brasa.no_grad(function() v:copy(t) end)
  v = leaf(v)
  assert(not v:is_contiguous() or t:numel() <= 1, 'strided: expected a non-contiguous view')
  return v
end

--- A non-contiguous 2-D leaf with t's values (t is rows x cols): the
-- transpose of a contiguous cols x rows buffer.
function G.transposed(t)
  local buf = brasa.no_grad(function() return t:t():contiguous() end)
  local v = leaf(buf:t())
  assert(not v:is_contiguous(), 'transposed: expected a non-contiguous view')
  return v
end

-- ---- element access -----------------------------------------------------------

-- The multi-index (a Lua list, 1-based) of flat position k in shape.
local function unflatten(shape, k)
  local idx = {}
  k = k - 1
  for d = #shape, 1, -1 do
    idx[d] = k % shape[d] + 1
    k = k // shape[d]
  end
  return idx
end

local function get(t, k) return t:_flat(k) end

local function set(t, k, v)
  if #t.shape == 0 then
    t:fill_(v)
  else
    t[unflatten(t.shape, k)] = v
  end
end
G.get, G.set = get, set

-- ---- helpers -------------------------------------------------------------------

local function as_list(out)
  if brasa.is_tensor(out) then return {out} end
  assert(type(out) == 'table', 'the function under test must return a tensor or a list of tensors')
  return out
end

local function shape_str(s)
  local p = {}
  for i, n in ipairs(s) do p[i] = tostring(n) end
  return '[' .. table.concat(p, 'x') .. ']'
end
G.shape_str = shape_str

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- Fixed weights for fn's outputs (drawn once, f64, never zero-sized issues).
local function make_weights(outs)
  local W = {}
  for i, o in ipairs(outs) do
    W[i] = brasa.randn(o.shape, F64)
  end
  return W
end

-- sum_k sum(out_k * W_k) as a 0-dim tensor (differentiable).
local function weighted(outs, W)
  local f
  for i, o in ipairs(outs) do
    local term = (o:double() * W[i]):sum()
    f = f and f + term or term
  end
  return f
end

-- The value of the weighted sum as a Lua number, without recording (with
-- grad mode on when fn itself differentiates: opts.needs_grad).
local function weighted_value(fn, inputs, W, needs_grad)
  local function value()
    local outs = as_list(fn(table.unpack(inputs)))
    return weighted(outs, W):item()
  end
  if needs_grad then return value() end
  return brasa.no_grad(value)
end

-- Central differences of value(inputs) for every element of every input.
local function numeric(value, inputs, h)
  local res = {}
  for i, x in ipairs(inputs) do
    local n = x:numel()
    local g = {}
    for k = 1, n do
      local v0 = get(x, k)
      brasa.no_grad(function() set(x, k, v0 + h) end)
      local fp = value()
      brasa.no_grad(function() set(x, k, v0 - h) end)
      local fm = value()
      brasa.no_grad(function() set(x, k, v0) end)
      g[k] = (fp - fm) / (2 * h)
    end
    res[i] = g
  end
  return res
end

-- Compares analytic gradients (tensors) with numeric ones (lists); returns
-- true or false and a message naming the worst element.
local function compare(label, inputs, analytic, num, rtol, atol)
  for i, x in ipairs(inputs) do
    local a = analytic[i]
    if not brasa.is_tensor(a) then
      return false, string.format('%s: no gradient tensor for input %d', label, i)
    end
    if not same_shape(a.shape, x.shape) then
      return false, string.format('%s: gradient of input %d has shape %s, the input %s', label, i,
        shape_str(a.shape), shape_str(x.shape))
    end
    if a.dtype ~= x.dtype then
      return false, string.format('%s: gradient of input %d has dtype %s, the input %s', label, i,
        a.dtype, x.dtype)
    end
    local worst, wk, wa, wn = -math.huge, nil, nil, nil
    for k = 1, x:numel() do
      local av, nv = get(a, k), num[i][k]
      local err = math.abs(av - nv) - (rtol * math.abs(nv) + atol)
      if av ~= av or nv ~= nv then err = math.huge end
      if err > worst then worst, wk, wa, wn = err, k, av, nv end
    end
    if worst > 0 then
      return false, string.format(
        '%s: input %d %s element %s: analytic %.12g, numeric %.12g (|diff| %.3g > tol %.3g)',
        label, i, shape_str(x.shape), shape_str(unflatten(x.shape, wk)), wa, wn,
        math.abs(wa - wn), rtol * math.abs(wn) + atol)
    end
  end
  return true
end

local function opts_or(o)
  o = o or {}
  return o.h or G.H, o.rtol or G.RTOL, o.atol or G.ATOL
end

--- First-order check of fn at inputs (a list of f64 leaves).
-- Returns ok, message.
function G.check(fn, inputs, o)
  local h, rtol, atol = opts_or(o)
  local outs = as_list(fn(table.unpack(inputs)))
  local W = make_weights(outs)
  local f = weighted(outs, W)
  local analytic = brasa.grad(f, inputs, {allow_unused = o and o.allow_unused})
  local num = numeric(function() return weighted_value(fn, inputs, W, o and o.needs_grad) end,
    inputs, h)
  return compare('first order', inputs, analytic, num, rtol, atol)
end

--- First-order check against closed-form gradients: expected(W, inputs)
-- returns the list of gradients of sum(out * W) (one weight per output).
function G.check_closed(fn, inputs, expected, o)
  local _, rtol, atol = opts_or(o)
  local outs = as_list(fn(table.unpack(inputs)))
  local W = make_weights(outs)
  local f = weighted(outs, W)
  local analytic = brasa.grad(f, inputs)
  local want = expected(W, inputs)
  local num = {}
  for i, t in ipairs(want) do
    num[i] = {}
    local td = t:double()
    for k = 1, td:numel() do num[i][k] = get(td, k) end
  end
  return compare('closed form', inputs, analytic, num, rtol, atol)
end

-- The analytic first gradients of the weighted sum.
local function first(fn, inputs, W, create)
  local outs = as_list(fn(table.unpack(inputs)))
  local f = weighted(outs, W)
  return brasa.grad(f, inputs, {create_graph = create, allow_unused = true})
end

-- s = sum_i sum(g_i * V_i)
local function contract(gs, V)
  local s
  for i, g in ipairs(gs) do
    local term = (g * V[i]):sum()
    s = s and s + term or term
  end
  return s
end

--- Second-order check: the gradient of s = sum_i sum(grad_i * V_i) with
-- respect to the inputs, against central differences of s.
function G.check2(fn, inputs, o)
  local h, rtol, atol = opts_or(o)
  local outs = as_list(fn(table.unpack(inputs)))
  local W = make_weights(outs)
  local V = {}
  for i, x in ipairs(inputs) do V[i] = brasa.randn(x.shape, F64) end
  local gs = first(fn, inputs, W, true)
  local s = contract(gs, V)
  local analytic
  if s.requires_grad then
    analytic = brasa.grad(s, inputs, {allow_unused = true})
  else   -- the gradient does not depend on the inputs at all
    analytic = {}
    for i, x in ipairs(inputs) do analytic[i] = brasa.zeros_like(x) end
  end
  local value = function()
    local g = first(fn, inputs, W, false)
    return brasa.no_grad(function() return contract(g, V):item() end)
  end
  local num = numeric(value, inputs, h)
  return compare('second order', inputs, analytic, num, rtol, atol)
end

return G
