-- brasa.nn.layers: Linear (Dense), Identity, Flatten, Reshape, Dropout,
-- Embedding and the activations.
--
-- Every layer keeps PyTorch's parameter shapes (Linear.weight is
-- [out_features x in_features]) and default initialisation, takes its
-- options in a table as the last argument, and names itself and the shapes
-- in its error messages. Dims given to layers are 1-based (Softmax{dim = 2}).

local brasa = require 'brasa'
local mod = require 'brasa.nn.module'
local init = require 'brasa.nn.initializers'
local F = require 'brasa.nn.functional'

local Module, fail, shape_str = mod.Module, mod.fail, mod.shape_str
local check_tensor, check_float = mod.check_tensor, mod.check_float

local M = {}

-- Options: the table at the end of a layer's arguments (nil allowed).
local function options(v, who)
  if v == nil then return {} end
  if type(v) ~= 'table' or mod.is_module(v) or brasa.is_tensor(v) then
    fail(string.format('%s: options must be a table, got %s', who, type(v)))
  end
  return v
end
M.options = options

local function check_count(who, what, v)
  if math.type(v) ~= 'integer' and not (type(v) == 'number' and v == math.floor(v)) or v < 1 then
    fail(string.format('%s: %s must be a positive integer, got %s', who, what, tostring(v)))
  end
  return math.tointeger(v)
end
M.check_count = check_count

-- A parameter tensor of the given shape and dtype (uninitialised).
local function param(shape, dtype)
  return brasa.empty(shape, {dtype = dtype or 'f32'}):requires_grad_(true)
end
M.param = param

-- Applies opts.weight_init / opts.bias_init (names or functions) after the
-- default initialisation.
local function custom_init(self, opts)
  if opts.weight_init or opts.kernel_initializer then
    init.get(opts.weight_init or opts.kernel_initializer)(self.weight)
  end
  if (opts.bias_init or opts.bias_initializer) and self.bias then
    init.get(opts.bias_init or opts.bias_initializer)(self.bias)
  end
end
M.custom_init = custom_init

---------------------------------------------------------------------------
-- Functional forms written in Lua
---------------------------------------------------------------------------

local amp_cast = require('brasa.core')._amp.cast

--- F.linear(x, weight, bias?) -> x @ weight^T + bias (weight [out x in]).
function F.linear(x, w, b)
  local y = x:matmul(w:t())
  if b ~= nil then
    -- Under autocast (brasa.amp) the product is in half precision: the
    -- bias joins it there, as PyTorch's linear casts all its operands.
    if b.dtype ~= y.dtype then b = amp_cast(b, 'lower') end
    y = y + b
  end
  return y
end

local SELU_ALPHA = 1.6732632423543772848170429916717
local SELU_SCALE = 1.0507009873554804934193349852946

--- F.selu(x) -> scale * elu(x, alpha) with PyTorch's constants.
function F.selu(x)
  return x:elu(SELU_ALPHA) * SELU_SCALE
end

--- F.silu(x) -> x * sigmoid(x) (also called swish).
function F.silu(x)
  return x * x:sigmoid()
end

---------------------------------------------------------------------------
-- Linear
---------------------------------------------------------------------------

local ACTIVATIONS   -- name -> constructor, filled below

local Linear = Module:extend('Linear')
M.Linear = Linear

--- nn.Linear(in_features, out_features, opts?): y = x @ weight^T + bias.
-- weight [out x in] and bias [out] start as PyTorch's: kaiming_uniform_
-- with a = sqrt(5) (U(-1/sqrt(in), 1/sqrt(in))), bias U(-1/sqrt(in),
-- 1/sqrt(in)). opts: bias (true), dtype ('f32'), weight_init / bias_init
-- (an initialiser name or function), weight_regularizer (alias
-- kernel_regularizer) / bias_regularizer, activation (a name such as
-- 'relu' or 'softmax', or a module, applied after the affine map: Keras's
-- Dense(units, activation)).
function Linear:init(in_features, out_features, opts)
  opts = options(opts, 'Linear')
  self.in_features = check_count('Linear', 'in_features', in_features)
  self.out_features = check_count('Linear', 'out_features', out_features)
  self.weight = param({out_features, in_features}, opts.dtype)
  if opts.bias ~= false then self.bias = param({out_features}, opts.dtype) end
  self:reset_parameters()
  custom_init(self, opts)
  self:_regularizers_from(opts)
  if opts.activation ~= nil then
    local a = opts.activation
    if type(a) == 'string' then
      local ctor = ACTIVATIONS[a:lower()]
      if not ctor then fail("Linear: unknown activation '" .. a .. "'") end
      a = ctor()
    elseif not mod.is_module(a) then
      fail('Linear: activation must be a name or a module, got ' .. type(a))
    end
    if #a:parameters() > 0 then
      self.activation = a   -- a child, so its parameters train
    else
      -- a plain field: it shows in Linear's own line and summary row
      rawget(self, '_attrs').activation = a
    end
  end
end

--- Linear:reset_parameters(): PyTorch's default initialisation again.
function Linear:reset_parameters()
  init.kaiming_uniform_(self.weight, {a = math.sqrt(5)})
  if self.bias then
    local b = 1 / math.sqrt(self.in_features)
    init.uniform_(self.bias, -b, b)
  end
end

function Linear:extra_repr()
  local s = self.in_features .. ' -> ' .. self.out_features
  if not self.bias then s = s .. ', bias=false' end
  if self.activation then s = s .. ', activation=' .. self.activation:_name() end
  return s
end

function Linear:forward(x)
  check_tensor(self, x)
  local s = x.shape
  if #s == 0 or s[#s] ~= self.in_features then
    fail(string.format('%s: input %s has %s features in its last dim, expected %d', self:_name(),
      shape_str(s), #s == 0 and 'no' or tostring(s[#s]), self.in_features))
  end
  local y = F.linear(x, self.weight, self.bias)
  local act = self.activation
  if act then y = act(y) end
  return y
end

M.Dense = Linear

---------------------------------------------------------------------------
-- Identity, Flatten, Reshape
---------------------------------------------------------------------------

local Identity = Module:extend('Identity')
M.Identity = Identity

--- nn.Identity(): returns its input (a placeholder, e.g. for a removed head).
function Identity:init() end
function Identity:forward(x) return x end

local Flatten = Module:extend('Flatten')
M.Flatten = Flatten

--- nn.Flatten(start_dim?, end_dim?): merges dims start_dim..end_dim (2 and
-- -1 by default, 1-based: the batch dim is kept).
function Flatten:init(start_dim, end_dim)
  if type(start_dim) == 'table' then
    start_dim, end_dim = start_dim.start_dim, start_dim.end_dim
  end
  self.start_dim = start_dim or 2
  self.end_dim = end_dim or -1
end

function Flatten:extra_repr()
  if self.start_dim == 2 and self.end_dim == -1 then return '' end
  return string.format('start_dim=%d, end_dim=%d', self.start_dim, self.end_dim)
end

function Flatten:forward(x)
  check_tensor('Flatten', x)
  local nd = #x.shape
  local s = self.start_dim < 0 and nd + 1 + self.start_dim or self.start_dim
  local e = self.end_dim < 0 and nd + 1 + self.end_dim or self.end_dim
  if s < 1 or e > nd or s > e then
    fail(string.format('%s: input %s has %s: cannot flatten dims %d..%d', self:_name(),
      shape_str(x.shape), mod.dims_str(nd), self.start_dim, self.end_dim))
  end
  return x:flatten(s, e)
end

local Reshape = Module:extend('Reshape')
M.Reshape = Reshape

--- nn.Reshape(sizes...) or nn.Reshape{sizes}: reshapes each example (the
-- batch dim is kept): input [N x ...] -> [N x sizes...] (one size may be -1),
-- as Keras's Reshape(target_shape).
function Reshape:init(...)
  local sizes = ...
  if type(sizes) ~= 'table' then sizes = {...} end
  local n1 = 0
  for i, v in ipairs(sizes) do
    if math.type(v) ~= 'integer' and not (type(v) == 'number' and v == math.floor(v)) then
      fail('Reshape: sizes must be integers')
    end
    if v == -1 then n1 = n1 + 1 elseif v < 1 then fail('Reshape: size ' .. i .. ' must be positive or -1') end
  end
  if n1 > 1 then fail('Reshape: only one size may be -1') end
  local copy = {}
  for i, v in ipairs(sizes) do copy[i] = math.tointeger(v) end
  self.sizes = copy
end

function Reshape:extra_repr()
  local p = {}
  for i, v in ipairs(self.sizes) do p[i] = tostring(v) end
  return table.concat(p, ', ')
end

function Reshape:forward(x)
  check_tensor('Reshape', x)
  local s = x.shape
  if #s == 0 then fail(self:_name() .. ': input is 0-dim: a batch dim is expected') end
  local target, known, free = {s[1]}, 1, nil
  for i, v in ipairs(self.sizes) do
    target[i + 1] = v
    if v == -1 then free = i + 1 else known = known * v end
  end
  local per = x:numel() // math.max(s[1], 1)
  if free then
    if known == 0 or per % known ~= 0 then
      fail(string.format('%s: input %s has %d values per example, not a multiple of %d', self:_name(),
        shape_str(s), per, known))
    end
    target[free] = per // known
  elseif per ~= known then
    fail(string.format('%s: input %s has %d values per example, the target shape needs %d', self:_name(),
      shape_str(s), per, known))
  end
  return x:reshape(target)
end

---------------------------------------------------------------------------
-- Activations
---------------------------------------------------------------------------

-- An activation class: fn(self, x) computes; opts fields become attributes
-- (defaults given); first_arg names the option a bare number sets.
local function activation(name, defaults, first_arg, fn, repr)
  local cls = Module:extend(name)
  cls.init = function(self, a, ...)
    local opts = {}
    if type(a) == 'table' then
      opts = a
    elseif a ~= nil then
      if not first_arg then fail(name .. ': takes no arguments') end
      opts[first_arg] = a
      local rest = select(1, ...)
      if type(rest) == 'table' then for k, v in pairs(rest) do opts[k] = v end end
    end
    for k, v in pairs(defaults) do
      if opts[k] == nil then opts[k] = v end
    end
    for k, v in pairs(opts) do
      if defaults[k] == nil and k ~= 'inplace' then
        fail(string.format("%s: unknown option '%s'", name, tostring(k)))
      end
      self[k] = v
    end
  end
  cls.forward = function(self, x)
    check_float(self, x)
    return fn(self, x)
  end
  cls.extra_repr = repr or function() return '' end
  M[name] = cls
  return cls
end

activation('ReLU', {}, nil, function(_, x) return x:relu() end)
activation('Sigmoid', {}, nil, function(_, x) return x:sigmoid() end)
activation('Tanh', {}, nil, function(_, x) return x:tanh() end)
activation('SELU', {}, nil, function(_, x) return F.selu(x) end)
activation('SiLU', {}, nil, function(_, x) return F.silu(x) end)
activation('LeakyReLU', {negative_slope = 0.01}, 'negative_slope',
  function(self, x) return x:leaky_relu(self.negative_slope) end,
  function(self) return 'negative_slope=' .. self.negative_slope end)
activation('ELU', {alpha = 1}, 'alpha',
  function(self, x) return x:elu(self.alpha) end,
  function(self) return 'alpha=' .. self.alpha end)
activation('GELU', {approximate = 'none'}, 'approximate',
  function(self, x) return x:gelu(self.approximate) end,
  function(self) return self.approximate == 'none' and '' or "approximate='" .. self.approximate .. "'" end)
activation('Softplus', {beta = 1, threshold = 20}, 'beta',
  function(self, x) return x:softplus(self.beta, self.threshold) end,
  function(self) return string.format('beta=%g, threshold=%g', self.beta, self.threshold) end)

local function check_dim(self, x)
  local nd = #x.shape
  local d = self.dim
  if nd == 0 or d == 0 or d > nd or d < -nd then
    fail(string.format('%s: input %s has %s: dim %d is out of range', self:_name(), shape_str(x.shape), mod.dims_str(nd), d))
  end
end

activation('Softmax', {dim = -1}, 'dim',
  function(self, x) check_dim(self, x); return F.softmax(x, self.dim) end,
  function(self) return 'dim=' .. self.dim end)
activation('LogSoftmax', {dim = -1}, 'dim',
  function(self, x) check_dim(self, x); return F.log_softmax(x, self.dim) end,
  function(self) return 'dim=' .. self.dim end)

ACTIVATIONS = {
  relu = M.ReLU, sigmoid = M.Sigmoid, tanh = M.Tanh, selu = M.SELU, silu = M.SiLU, swish = M.SiLU,
  leaky_relu = M.LeakyReLU, elu = M.ELU, gelu = M.GELU, softplus = M.Softplus,
  softmax = M.Softmax, log_softmax = M.LogSoftmax, linear = M.Identity, identity = M.Identity,
}
M.ACTIVATIONS = ACTIVATIONS

---------------------------------------------------------------------------
-- Dropout
---------------------------------------------------------------------------

local Dropout = Module:extend('Dropout')
M.Dropout = Dropout

--- nn.Dropout(p?): in training mode zeroes each element with probability p
-- (0.5) and scales the others by 1 / (1 - p); in evaluation mode returns
-- its input. Seeded by brasa.manual_seed.
function Dropout:init(p)
  if type(p) == 'table' then p = p.p end
  p = p or 0.5
  if type(p) ~= 'number' or p < 0 or p > 1 then
    fail('Dropout: p must be a probability in [0, 1], got ' .. tostring(p))
  end
  self.p = p
end

function Dropout:extra_repr() return 'p=' .. self.p end

function Dropout:forward(x)
  check_float(self, x)
  if not self.training or self.p == 0 then return x end
  return F.dropout(x, self.p, true)
end

---------------------------------------------------------------------------
-- Embedding
---------------------------------------------------------------------------

local Embedding = Module:extend('Embedding')
M.Embedding = Embedding

--- nn.Embedding(num_embeddings, embedding_dim, opts?): a table of
-- num_embeddings vectors looked up by 1-based id; weight is
-- [num_embeddings x embedding_dim], N(0, 1) as PyTorch's default. Id 0 is
-- padding: it gives a zero vector and no gradient (Keras's Tokenizer
-- reserves 0 for padding). opts: dtype, weight_init,
-- weight_regularizer (alias embeddings_regularizer).
function Embedding:init(num, dim, opts)
  opts = options(opts, 'Embedding')
  self.num_embeddings = check_count('Embedding', 'num_embeddings', num)
  self.embedding_dim = check_count('Embedding', 'embedding_dim', dim)
  self.weight = param({num, dim}, opts.dtype)
  self:reset_parameters()
  custom_init(self, opts)
  self:_regularizers_from(opts)
end

--- Embedding:reset_parameters(): N(0, 1), as PyTorch.
function Embedding:reset_parameters()
  init.normal_(self.weight)
end

function Embedding:extra_repr()
  return self.num_embeddings .. ', ' .. self.embedding_dim
end

function Embedding:forward(ids)
  check_tensor(self, ids, 'ids')
  local dt = ids.dtype
  if dt ~= 'i64' and dt ~= 'i32' and dt ~= 'u8' then
    fail(string.format('%s: ids %s must be integers (i64), got %s', self:_name(), shape_str(ids.shape), dt))
  end
  return F.embedding(ids, self.weight)
end

return M
