-- brasa.nn.init: initialisers. Each fills a tensor in place (outside the
-- graph) and returns it, with PyTorch's names, formulas and defaults:
--
--   local init = require('brasa.nn').init
--   init.kaiming_uniform_(layer.weight, {nonlinearity = 'relu'})
--   init.zeros_(layer.bias)
--
-- Fans follow PyTorch's _calculate_fan_in_and_fan_out: for a weight of
-- shape [out, in, k1, k2, ...], fan_in = in * k1 * k2 * ... and fan_out =
-- out * k1 * k2 * ... (a ConvTranspose weight [in, out/groups, k...] counts
-- its second dim as the "in" side, as PyTorch does).
--
-- Glorot (Keras) is Xavier; He is Kaiming with the relu gain.

local brasa = require 'brasa'

local init = {}

local function check(fn, t)
  if not brasa.is_tensor(t) then
    error(string.format('init.%s: a tensor expected, got %s', fn, type(t)), 3)
  end
  local dt = t.dtype
  if dt ~= 'f32' and dt ~= 'f64' and dt ~= 'f16' and dt ~= 'bf16' then
    error(string.format('init.%s: a floating tensor expected, got %s', fn, dt), 3)
  end
end

local function fill(t, f)
  brasa.no_grad(f)
  return t
end

--- init.calculate_gain(nonlinearity, param?) -> number: the gain PyTorch
-- recommends: linear, conv*, sigmoid: 1; tanh: 5/3; relu: sqrt(2);
-- leaky_relu: sqrt(2 / (1 + slope^2)) (slope 0.01 by default); selu: 3/4.
function init.calculate_gain(nl, param)
  nl = nl or 'leaky_relu'
  if nl == 'linear' or nl == 'identity' or nl == 'sigmoid' or nl:match('^conv') then
    return 1
  elseif nl == 'tanh' then
    return 5 / 3
  elseif nl == 'relu' then
    return math.sqrt(2)
  elseif nl == 'leaky_relu' then
    local slope = param
    if slope == nil then slope = 0.01 end
    if type(slope) ~= 'number' then error('init.calculate_gain: negative_slope must be a number', 2) end
    return math.sqrt(2 / (1 + slope * slope))
  elseif nl == 'selu' then
    return 3 / 4
  end
  error("init.calculate_gain: unknown nonlinearity '" .. tostring(nl) ..
    "' (linear, conv1d, conv2d, sigmoid, tanh, relu, leaky_relu, selu)", 2)
end

--- init.calculate_fan_in_and_fan_out(t) -> fan_in, fan_out.
function init.calculate_fan_in_and_fan_out(t)
  local s = t.shape
  if #s < 2 then
    error('init: fan in and fan out need a tensor of 2 or more dims, got ' .. #s, 3)
  end
  local rf = 1
  for d = 3, #s do rf = rf * s[d] end
  return s[2] * rf, s[1] * rf
end

local function fan(t, mode, fn)
  local fi, fo = init.calculate_fan_in_and_fan_out(t)
  mode = mode or 'fan_in'
  if mode == 'fan_in' then return fi end
  if mode == 'fan_out' then return fo end
  error(string.format("init.%s: mode must be 'fan_in' or 'fan_out', got %s", fn, tostring(mode)), 3)
end

--- init.uniform_(t, a?, b?) -> t: U(a, b) (0 and 1 by default).
function init.uniform_(t, a, b)
  check('uniform_', t)
  return fill(t, function() t:uniform_(a or 0, b or 1) end)
end

--- init.normal_(t, mean?, std?) -> t: N(mean, std^2) (0 and 1 by default).
function init.normal_(t, mean, std)
  check('normal_', t)
  return fill(t, function() t:normal_(mean or 0, std or 1) end)
end

--- init.constant_(t, value) -> t.
function init.constant_(t, v)
  check('constant_', t)
  if type(v) ~= 'number' then error('init.constant_: a number expected', 2) end
  return fill(t, function() t:fill_(v) end)
end

--- init.zeros_(t) -> t.
function init.zeros_(t)
  check('zeros_', t)
  return fill(t, function() t:fill_(0) end)
end

--- init.ones_(t) -> t.
function init.ones_(t)
  check('ones_', t)
  return fill(t, function() t:fill_(1) end)
end

--- init.xavier_uniform_(t, gain?) -> t: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
function init.xavier_uniform_(t, gain)
  check('xavier_uniform_', t)
  local fi, fo = init.calculate_fan_in_and_fan_out(t)
  local b = (gain or 1) * math.sqrt(6 / (fi + fo))
  return fill(t, function() t:uniform_(-b, b) end)
end

--- init.xavier_normal_(t, gain?) -> t: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
function init.xavier_normal_(t, gain)
  check('xavier_normal_', t)
  local fi, fo = init.calculate_fan_in_and_fan_out(t)
  local std = (gain or 1) * math.sqrt(2 / (fi + fo))
  return fill(t, function() t:normal_(0, std) end)
end

-- opts of the kaiming initialisers: {a =, mode =, nonlinearity =}; a number is a.
local function kaiming_opts(opts)
  if type(opts) == 'number' then opts = {a = opts} end
  opts = opts or {}
  return opts.a or 0, opts.mode or 'fan_in', opts.nonlinearity or 'leaky_relu'
end

--- init.kaiming_uniform_(t, opts?) -> t: U(-b, b), b = gain * sqrt(3 / fan),
-- gain = calculate_gain(nonlinearity, a). opts: a (0), mode ('fan_in' or
-- 'fan_out'), nonlinearity ('leaky_relu', which with a = 0 is relu's gain).
function init.kaiming_uniform_(t, opts)
  check('kaiming_uniform_', t)
  local a, mode, nl = kaiming_opts(opts)
  local f = fan(t, mode, 'kaiming_uniform_')
  local b = init.calculate_gain(nl, a) * math.sqrt(3 / f)
  return fill(t, function() t:uniform_(-b, b) end)
end

--- init.kaiming_normal_(t, opts?) -> t: N(0, std^2), std = gain / sqrt(fan).
function init.kaiming_normal_(t, opts)
  check('kaiming_normal_', t)
  local a, mode, nl = kaiming_opts(opts)
  local f = fan(t, mode, 'kaiming_normal_')
  local std = init.calculate_gain(nl, a) / math.sqrt(f)
  return fill(t, function() t:normal_(0, std) end)
end

-- The Q factor (positive diagonal R) of an m x n matrix a (m >= n, f64) by
-- classical Gram-Schmidt with reorthogonalisation (CGS2), column by column
-- with matrix-vector products.
local function qr_q(a)
  local m, n = a.shape[1], a.shape[2]
  local q = brasa.zeros(m, n, {dtype = 'f64'})
  for j = 1, n do
    local v = a:select(2, j):clone()
    if j > 1 then
      local qj = q:narrow(2, 1, j - 1)
      for _ = 1, 2 do
        v = v - qj:matmul(qj:t():matmul(v))
      end
    end
    local nrm = v:norm():item()
    if nrm == 0 then   -- a rank-deficient draw (probability 0): any unit vector orthogonal to the rest
      v = brasa.randn(m, {dtype = 'f64'})
      if j > 1 then
        local qj = q:narrow(2, 1, j - 1)
        for _ = 1, 2 do v = v - qj:matmul(qj:t():matmul(v)) end
      end
      nrm = v:norm():item()
    end
    q:select(2, j):copy(v / nrm)
  end
  return q
end

--- init.orthogonal_(t, gain?) -> t: a (semi-)orthogonal matrix (rows or
-- columns orthonormal, whichever are fewer) times gain; t of 2 or more
-- dims is seen as [size(1), rest]. As PyTorch: the Q of the QR
-- factorisation of a standard normal matrix, with R's diagonal positive.
function init.orthogonal_(t, gain)
  check('orthogonal_', t)
  if #t.shape < 2 then error('init.orthogonal_: a tensor of 2 or more dims expected', 2) end
  local rows = t.shape[1]
  local cols = t:numel() // rows
  return fill(t, function()
    local a = brasa.randn(rows, cols, {dtype = 'f64'})
    if rows < cols then a = a:t():contiguous() end
    local q = qr_q(a)
    if rows < cols then q = q:t() end
    t:copy((q * (gain or 1)):reshape(t.shape))
  end)
end

-- Keras names.
init.glorot_uniform_ = init.xavier_uniform_
init.glorot_normal_ = init.xavier_normal_

--- init.he_uniform_(t, opts?): kaiming_uniform_ with the relu gain (Keras's he_uniform).
function init.he_uniform_(t, opts)
  local o = {nonlinearity = 'relu', mode = opts and opts.mode}
  return init.kaiming_uniform_(t, o)
end

--- init.he_normal_(t, opts?): kaiming_normal_ with the relu gain (Keras's he_normal).
function init.he_normal_(t, opts)
  local o = {nonlinearity = 'relu', mode = opts and opts.mode}
  return init.kaiming_normal_(t, o)
end

--- An initialiser given by name ('glorot_uniform', 'he_normal', 'zeros', ...,
-- with or without the trailing underscore) or as a function(t).
function init.get(v)
  if type(v) == 'function' then return v end
  if type(v) == 'string' then
    local f = init[(v:gsub('_$', '')) .. '_']
    if f then return f end
  end
  error("init.get: unknown initialiser '" .. tostring(v) .. "'", 2)
end

return init
