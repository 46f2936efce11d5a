-- brasa.tensor: tensor printing and the tensor methods written in Lua.
--
-- Printing follows PyTorch: values aligned in columns, a shared format per
-- tensor (integers as "3.", fixed "0.1235" or scientific "1.2346e+05"),
-- large tensors elided with "..." keeping 3 items at each end of each dim,
-- under a header line with shape, dtype, device and gradient information.

local M = {}

local EDGE, THRESHOLD = 3, 1000

-- The linear (1-based) indices along one dim that are shown, with 0 standing
-- for "...".
local function shown(n, summarize)
  local idx = {}
  if summarize and n > 2 * EDGE then
    for i = 1, EDGE do idx[#idx + 1] = i end
    idx[#idx + 1] = 0
    for i = n - EDGE + 1, n do idx[#idx + 1] = i end
  else
    for i = 1, n do idx[i] = i end
  end
  return idx
end

-- Collects the shown values of t, keyed by their flat index.
local function collect(t, shape, strides, summarize)
  local values, order = {}, {}
  local function walk(d, flat)
    if d > #shape then
      values[flat] = t:_flat(flat + 1)
      order[#order + 1] = flat
      return
    end
    for _, i in ipairs(shown(shape[d], summarize)) do
      if i > 0 then walk(d + 1, flat + (i - 1) * strides[d]) end
    end
  end
  walk(1, 0)
  return values, order
end

-- A formatter shared by all shown values (PyTorch's _Formatter).
local function formatter(dtype, values, order)
  if dtype == 'bool' then
    return function(v) return tostring(v) end
  end
  if not (dtype == 'f32' or dtype == 'f64' or dtype == 'f16' or dtype == 'bf16') then
    return function(v) return string.format('%d', v) end
  end
  local integral, maxabs, minabs = true, 0, math.huge
  for _, k in ipairs(order) do
    local v = values[k]
    if v == v and v ~= math.huge and v ~= -math.huge then
      local a = math.abs(v)
      if v ~= math.floor(v) then integral = false end
      if a > maxabs then maxabs = a end
      if a > 0 and a < minabs then minabs = a end
    end
  end
  local function special(v)
    if v ~= v then return 'nan' end
    if v == math.huge then return 'inf' end
    if v == -math.huge then return '-inf' end
  end
  local sci = maxabs > 1e8 or (minabs < 1e-4 and minabs > 0) or (minabs < math.huge and maxabs / minabs > 1000)
  if integral and maxabs < 1e8 then
    return function(v) return special(v) or string.format('%.0f.', v) end
  elseif sci then
    return function(v) return special(v) or string.format('%.4e', v) end
  end
  return function(v) return special(v) or string.format('%.4f', v) end
end

-- The body of a tensor's printout: nested brackets, aligned values.
function M.format_values(t)
  local shape = t.shape
  local n = t:numel()
  local summarize = n > THRESHOLD
  local strides, s = {}, 1
  for d = #shape, 1, -1 do strides[d] = s; s = s * shape[d] end
  if n == 0 then return '[]' end
  local values, order = collect(t, shape, strides, summarize)
  local fmt = formatter(t.dtype, values, order)
  local width = 0
  local text = {}
  for _, k in ipairs(order) do
    text[k] = fmt(values[k])
    if #text[k] > width then width = #text[k] end
  end
  local function cell(k) return string.rep(' ', width - #text[k]) .. text[k] end
  if #shape == 0 then return text[0] end
  local function block(d, flat, indent)
    local parts = {}
    if d == #shape then
      for _, i in ipairs(shown(shape[d], summarize)) do
        parts[#parts + 1] = i == 0 and '...' or cell(flat + (i - 1) * strides[d])
      end
      return '[' .. table.concat(parts, ', ') .. ']'
    end
    local sep = ',' .. string.rep('\n', #shape - d) .. string.rep(' ', indent + 1)
    for _, i in ipairs(shown(shape[d], summarize)) do
      parts[#parts + 1] = i == 0 and '...' or block(d + 1, flat + (i - 1) * strides[d], indent + 1)
    end
    return '[' .. table.concat(parts, sep) .. ']'
  end
  return block(1, 0, 0)
end

--- The header line: shape, dtype, device and autograd state.
function M.header(t)
  local dims = {}
  for i, n in ipairs(t.shape) do dims[i] = tostring(n) end
  local h = string.format('tensor [%s] %s %s', table.concat(dims, 'x'), t.dtype, t.device)
  local fn = t.grad_fn
  if fn then
    h = h .. ', grad_fn=' .. fn
  elseif t.requires_grad then
    h = h .. ', requires_grad'
  end
  return h
end

function M.tostring(t)
  local values = t.device ~= 'cpu' and t:cpu() or t
  return M.header(t) .. '\n' .. M.format_values(values)
end

function M.install(brasa, core)
  local methods = core.Tensor
  core._tensor_mt.__tostring = M.tostring
  core._tensor_mt.__name = 'brasa.Tensor'

  --- x:allclose(y, rtol?, atol?): |x - y| <= atol + rtol |y| everywhere.
  local function check_tensor(op, v, i)
    if not brasa.is_tensor(v) then
      error(string.format("bad argument #%d to '%s' (tensor expected, got %s)", i, op, type(v)), 3)
    end
  end

  function methods.allclose(x, y, rtol, atol)
    rtol, atol = rtol or 1e-5, atol or 1e-8
    if type(y) == 'number' then y = brasa.full_like(x, y) end
    check_tensor('allclose', x, 1)
    check_tensor('allclose', y, 2)
    if type(rtol) ~= 'number' or type(atol) ~= 'number' then
      error("bad argument to 'allclose' (rtol and atol must be numbers)", 2)
    end
    local ok, res = pcall(brasa.no_grad, function()
      local xd, yd = x:double(), y:double()
      local diff = (xd - yd):abs()
      local tol = yd:abs() * rtol + atol
      return diff:le(tol):all():item() and not xd:isnan():any():item() and not yd:isnan():any():item()
    end)
    if not ok then error('allclose: ' .. tostring(res):gsub('^.-:%d+: ', ''), 2) end
    return res
  end

  --- x:equal(y): same shape and the same values.
  function methods.equal(x, y)
    check_tensor('equal', x, 1)
    check_tensor('equal', y, 2)
    local sx, sy = x.shape, y.shape
    if #sx ~= #sy then return false end
    for i = 1, #sx do if sx[i] ~= sy[i] then return false end end
    return brasa.no_grad(function() return x:eq(y):all():item() end)
  end

  --- x:type(): 'brasa.Tensor(f32)'; x:type(dtype) casts.
  function methods.type(x, dtype)
    check_tensor('type', x, 1)
    if dtype ~= nil and type(dtype) ~= 'string' then
      error(string.format("bad argument #2 to 'type' (a dtype name expected, got %s)", type(dtype)), 2)
    end
    if dtype then return x:to(dtype) end
    return 'brasa.Tensor(' .. x.dtype .. ')'
  end

  --- brasa.is_tensor(v): true for tensors.
  function brasa.is_tensor(v)
    return getmetatable(v) == core._tensor_mt
  end
end

return M
