-- brasa.nn.module: the Module base class, the class helper, and the helpers
-- layers share (argument checks, error messages that name the layer).
--
-- A module is a Lua table whose metatable is its class. Its state lives in
-- hidden tables, so every assignment passes through __newindex and is
-- classified the way PyTorch's nn.Module.__setattr__ does:
--
--   a Module                        -> a child module      (children())
--   a leaf tensor with requires_grad -> a parameter          (parameters())
--   a tensor given to register_buffer -> a buffer           (state_dict())
--   anything else                    -> a plain attribute
--
-- Reading a field looks in the parameters, buffers, children and plain
-- attributes, then in the class (methods). A class is made with
-- Module:extend(name); calling the class builds an instance and runs its
-- init method; calling an instance runs its forward method.
--
--   local MyNet = nn.Module:extend('MyNet')
--   function MyNet:init(n_in, n_out)
--     self.fc = nn.Linear(n_in, n_out)
--   end
--   function MyNet:forward(x) return self.fc(x):relu() end
--   local net = MyNet(4, 2)
--   local y = net(brasa.randn(3, 4))

local brasa = require 'brasa'

local M = {}

---------------------------------------------------------------------------
-- Small helpers shared by the layers
---------------------------------------------------------------------------

local is_tensor = brasa.is_tensor

--- '[8x3x28x28]' for a shape table ('[]' for a 0-dim tensor).
local function shape_str(shape)
  local parts = {}
  for i, s in ipairs(shape) do parts[i] = tostring(s) end
  return '[' .. table.concat(parts, 'x') .. ']'
end
M.shape_str = shape_str

--- '1 dim' or 'n dims'.
function M.dims_str(n)
  return n == 1 and '1 dim' or (n .. ' dims')
end

--- 1,234,567 (a count with thousands separators).
local function count_str(n)
  local s = tostring(math.tointeger(n) or n)
  local neg, digits = s:match('^(-?)(%d+)$')
  if not digits then return s end
  local out = digits:reverse():gsub('(%d%d%d)', '%1,'):reverse()
  if out:sub(1, 1) == ',' then out = out:sub(2) end
  return neg .. out
end
M.count_str = count_str

local NN_SOURCE = 'brasa/nn/'

--- The stack level of the first caller outside brasa.nn, for error(), so
-- that a message points at the user's line, not into the library.
local function user_level()
  local level = 3   -- 1: user_level's caller (fail), 2: its caller ...
  while true do
    local info = debug.getinfo(level, 'S')
    if not info then return 1 end
    if info.what ~= 'C' and not info.source:find(NN_SOURCE, 1, true) then return level - 1 end
    level = level + 1
  end
end

--- The name for messages of who: a string, or a module ('Linear(3 -> 2)'),
-- computed only when a message is built.
local function name_of(who)
  if type(who) == 'table' then return who:_name() end
  return who
end
M.name_of = name_of

--- Raises msg with the position of the user's code (outside brasa.nn).
local function fail(msg)
  error(msg, user_level())
end
M.fail = fail

--- Checks that x is a tensor; who names the caller in the message.
local function check_tensor(who, x, what)
  if not is_tensor(x) then
    fail(string.format('%s: %s must be a tensor, got %s', name_of(who), what or 'input', type(x)))
  end
  return x
end
M.check_tensor = check_tensor

--- Checks that x is a floating tensor.
function M.check_float(who, x, what)
  check_tensor(who, x, what)
  local dt = x.dtype
  if dt ~= 'f32' and dt ~= 'f64' and dt ~= 'f16' and dt ~= 'bf16' then
    fail(string.format('%s: %s %s is %s, expected a floating dtype (f32, f64, f16, bf16)',
      name_of(who), what or 'input', shape_str(x.shape), dt))
  end
  return x
end

--- Checks that x has one of the ranks given (a number or a list);
-- expect names them ('N x C x H x W'), in the message.
function M.check_rank(who, x, ranks, expect)
  check_tensor(who, x)
  local nd = #x.shape
  if type(ranks) == 'number' then ranks = {ranks} end
  for _, r in ipairs(ranks) do if nd == r then return nd end end
  local rs = {}
  for i, r in ipairs(ranks) do rs[i] = tostring(r) end
  fail(string.format('%s: input %s has %s, expected %s%s', name_of(who), shape_str(x.shape), M.dims_str(nd),
    table.concat(rs, ' or '), expect and (' (' .. expect .. ')') or ''))
end

--- A number or a table of n numbers as a table of n numbers.
function M.ntuple(v, n, who, what)
  if type(v) == 'number' then
    local t = {}
    for i = 1, n do t[i] = v end
    return t
  end
  if type(v) == 'table' and #v == n then
    local t = {}
    for i = 1, n do
      if type(v[i]) ~= 'number' then
        fail(string.format('%s: %s must hold numbers', who, what))
      end
      t[i] = v[i]
    end
    return t
  end
  fail(string.format('%s: %s must be a number or a table of %d numbers', who, what, n))
end

--- '3x3' or '3' for a kernel size table.
function M.size_str(t)
  if type(t) ~= 'table' then return tostring(t) end
  local parts = {}
  for i, v in ipairs(t) do parts[i] = tostring(v) end
  return table.concat(parts, 'x')
end

--- '2' for {2, 2} and '2x1' for {2, 1}: a size that repeats, once.
function M.compact_str(t)
  if type(t) ~= 'table' then return tostring(t) end
  if M.all_equal(t, t[1]) then return tostring(t[1]) end
  return M.size_str(t)
end

--- Whether every element of the table is v (or the number is v).
function M.all_equal(t, v)
  if type(t) ~= 'table' then return t == v end
  for _, x in ipairs(t) do if x ~= v then return false end end
  return true
end

---------------------------------------------------------------------------
-- The Module class
---------------------------------------------------------------------------

local Module = {}
M.Module = Module

-- Hidden state of an instance (raw fields):
--   _parameters  name -> tensor       _param_order   names in order
--   _buffers     name -> tensor       _buffer_order  names in order
--   _modules     name -> module       _module_order  names in order
--   _attrs       name -> plain value (training, sizes, options...)
--   _nonpersistent  buffer name -> true for buffers left out of state_dict

local function is_module(v)
  return type(v) == 'table' and rawget(v, '_modules') ~= nil and rawget(v, '_attrs') ~= nil
end
M.is_module = is_module

local function remove_name(order, name)
  for i, n in ipairs(order) do
    if n == name then table.remove(order, i); return end
  end
end

local function index_of(order, name)
  for i, n in ipairs(order) do if n == name then return i end end
end

-- Instance field lookup: parameters, buffers, children, attributes, class.
local function instance_index(self, k)
  local v = rawget(self, '_parameters')[k]
  if v ~= nil then return v end
  v = rawget(self, '_buffers')[k]
  if v ~= nil then return v end
  local mods = rawget(self, '_modules')
  v = mods[k]
  if v ~= nil then return v end
  if math.type(k) == 'integer' then
    v = mods[tostring(k)]
    if v ~= nil then return v end
  end
  v = rawget(self, '_attrs')[k]
  if v ~= nil then return v end
  return getmetatable(self)[k]
end

local function is_parameter_value(v)
  return is_tensor(v) and v.requires_grad and v.is_leaf
end

-- Instance assignment: classifies the value (see the top of the file).
local function instance_newindex(self, k, v)
  if math.type(k) == 'integer' then k = tostring(k) end
  if type(k) ~= 'string' then
    fail(string.format('%s: field names must be strings or integers, got %s', self:_name(), type(k)))
  end
  local params, buffers, mods = rawget(self, '_parameters'), rawget(self, '_buffers'), rawget(self, '_modules')
  local attrs = rawget(self, '_attrs')
  if is_module(v) then
    if params[k] ~= nil then params[k] = nil; remove_name(rawget(self, '_param_order'), k) end
    if buffers[k] ~= nil then buffers[k] = nil; remove_name(rawget(self, '_buffer_order'), k) end
    attrs[k] = nil
    if mods[k] == nil then table.insert(rawget(self, '_module_order'), k) end
    mods[k] = v
  elseif params[k] ~= nil or index_of(rawget(self, '_param_order'), k) then
    if v ~= nil and not is_tensor(v) then
      fail(string.format("%s: cannot assign a %s to parameter '%s' (a tensor or nil expected)",
        self:_name(), type(v), k))
    end
    params[k] = v
    if v == nil then remove_name(rawget(self, '_param_order'), k) end
  elseif buffers[k] ~= nil then
    if v ~= nil and not is_tensor(v) then
      fail(string.format("%s: cannot assign a %s to buffer '%s' (a tensor or nil expected)",
        self:_name(), type(v), k))
    end
    buffers[k] = v
    if v == nil then remove_name(rawget(self, '_buffer_order'), k) end
  elseif mods[k] ~= nil then
    if v ~= nil then
      fail(string.format("%s: cannot assign a %s to child module '%s' (a module or nil expected)",
        self:_name(), type(v), k))
    end
    mods[k] = nil
    remove_name(rawget(self, '_module_order'), k)
  elseif is_parameter_value(v) then
    attrs[k] = nil
    table.insert(rawget(self, '_param_order'), k)
    params[k] = v
  else
    attrs[k] = v
  end
end

-- Calling an instance runs forward; the shape of a tensor result is kept
-- for summary().
local function record_output(self, y, ...)
  if is_tensor(y) then
    rawget(self, '_attrs')._output_shape = y.shape
  end
  return y, ...
end

local function instance_call(self, ...)
  return record_output(self, self:forward(...))
end

local function instance_tostring(self)
  return self:_tree('')
end

local function instance_len(self)
  return #rawget(self, '_module_order')
end

-- The metamethods every class carries (metamethods are read raw from the
-- metatable, so extend copies them down).
local METAMETHODS = {'__index', '__newindex', '__call', '__tostring', '__len'}

Module.__index = instance_index
Module.__newindex = instance_newindex
Module.__call = instance_call
Module.__tostring = instance_tostring
Module.__len = instance_len
Module.__name = 'Module'

-- A fresh instance of class cls, not yet initialised.
local function new_instance(cls)
  local obj = {
    _parameters = {}, _param_order = {},
    _buffers = {}, _buffer_order = {},
    _modules = {}, _module_order = {},
    _attrs = {training = true}, _nonpersistent = {},
  }
  return setmetatable(obj, cls)
end

local class_meta   -- forward declaration

local function make_class_meta(parent)
  return {
    __index = parent,
    __call = function(cls, ...)
      local obj = new_instance(cls)
      obj:init(...)
      return obj
    end,
    __tostring = function(cls) return 'class ' .. rawget(cls, '__name') end,
  }
end

--- Module:extend(name) -> a new class deriving from this one.
-- Define init(self, ...) to build the instance and forward(self, ...) to
-- compute; calling the class builds an instance: MyNet(args...).
function Module.extend(parent, name)
  if type(name) ~= 'string' then
    error('Module:extend: a class name (string) expected', 2)
  end
  local cls = {}
  for _, mm in ipairs(METAMETHODS) do cls[mm] = parent[mm] end
  cls.__name = name
  cls.super = parent
  return setmetatable(cls, make_class_meta(parent))
end

class_meta = make_class_meta(nil)
setmetatable(Module, class_meta)

--- Module:init(...): builds the instance (override it; the base does nothing).
function Module:init() end

--- Module:forward(...): the computation (every layer overrides it).
function Module:forward()
  fail(self:_name() .. ': forward is not defined (define ' .. self:_class() .. ':forward)')
end

--- The class name ('Linear').
function Module:_class()
  return rawget(getmetatable(self), '__name') or 'Module'
end

--- The layer as shown in messages: 'Linear(784 -> 10)'.
function Module:_name()
  local extra = self:extra_repr()
  return self:_class() .. '(' .. (extra or '') .. ')'
end

--- Module:extra_repr() -> string: what tostring shows between the
-- parentheses (override it in a class).
function Module:extra_repr() return '' end

--- Module:type_name() -> string: the class name ('Conv2d').
function Module:type_name() return self:_class() end

---------------------------------------------------------------------------
-- Registration
---------------------------------------------------------------------------

--- Module:register_parameter(name, tensor|nil): adds a parameter. The
-- tensor becomes a leaf that requires grad (a tensor that is the result of
-- an op is detached first). nil declares the name with no tensor (bias =
-- false).
function Module:register_parameter(name, t)
  if type(name) ~= 'string' then fail(self:_name() .. ': register_parameter: a name (string) expected') end
  if t ~= nil and not is_tensor(t) then
    fail(string.format("%s: register_parameter('%s'): a tensor or nil expected, got %s", self:_name(), name, type(t)))
  end
  if t ~= nil and not t.is_leaf then t = t:detach() end
  if t ~= nil and not t.requires_grad then t:requires_grad_(true) end
  local params = rawget(self, '_parameters')
  local mods, buffers = rawget(self, '_modules'), rawget(self, '_buffers')
  if mods[name] ~= nil or buffers[name] ~= nil then
    fail(string.format("%s: register_parameter: '%s' is already a %s", self:_name(), name,
      mods[name] and 'child module' or 'buffer'))
  end
  rawget(self, '_attrs')[name] = nil
  if not index_of(rawget(self, '_param_order'), name) and t ~= nil then
    table.insert(rawget(self, '_param_order'), name)
  end
  params[name] = t
  return t
end

--- Module:register_buffer(name, tensor|nil, opts?): adds a buffer, a tensor
-- saved in state_dict but not trained (running statistics).
-- opts.persistent = false leaves it out of state_dict.
function Module:register_buffer(name, t, opts)
  if type(name) ~= 'string' then fail(self:_name() .. ': register_buffer: a name (string) expected') end
  if t ~= nil and not is_tensor(t) then
    fail(string.format("%s: register_buffer('%s'): a tensor or nil expected, got %s", self:_name(), name, type(t)))
  end
  local params, mods = rawget(self, '_parameters'), rawget(self, '_modules')
  if params[name] ~= nil or mods[name] ~= nil then
    fail(string.format("%s: register_buffer: '%s' is already a %s", self:_name(), name,
      params[name] and 'parameter' or 'child module'))
  end
  rawget(self, '_attrs')[name] = nil
  local buffers = rawget(self, '_buffers')
  if buffers[name] == nil and t ~= nil then table.insert(rawget(self, '_buffer_order'), name) end
  buffers[name] = t
  rawget(self, '_nonpersistent')[name] = (opts and opts.persistent == false) or nil
  return t
end

--- Module:add_module(name, module): adds a child (the same as self[name] = module).
function Module:add_module(name, m)
  if not is_module(m) then
    fail(string.format("%s: add_module('%s'): a module expected, got %s", self:_name(), tostring(name), type(m)))
  end
  self[name] = m
  return m
end

---------------------------------------------------------------------------
-- Walking the tree
---------------------------------------------------------------------------

--- Module:children() -> list of the direct children, in registration order.
function Module:children()
  local out, seen = {}, {}
  local mods = rawget(self, '_modules')
  for _, name in ipairs(rawget(self, '_module_order')) do
    local m = mods[name]
    if not seen[m] then seen[m] = true; out[#out + 1] = m end
  end
  return out
end

--- Module:named_children() -> iterator of name, module.
function Module:named_children()
  local mods, order, i = rawget(self, '_modules'), rawget(self, '_module_order'), 0
  return function()
    i = i + 1
    local name = order[i]
    if name then return name, mods[name] end
  end
end

-- Visits self and every descendant once, depth-first in registration
-- order: fn(prefix, module).
local function walk(self, prefix, seen, fn)
  if seen[self] then return end
  seen[self] = true
  fn(prefix, self)
  local mods = rawget(self, '_modules')
  for _, name in ipairs(rawget(self, '_module_order')) do
    walk(mods[name], prefix == '' and name or (prefix .. '.' .. name), seen, fn)
  end
end

--- Module:modules() -> list of self and every descendant (each once).
function Module:modules()
  local out = {}
  walk(self, '', {}, function(_, m) out[#out + 1] = m end)
  return out
end

--- Module:named_modules() -> iterator of dotted name ('' for self), module.
function Module:named_modules()
  local names, list = {}, {}
  walk(self, '', {}, function(p, m) names[#names + 1] = p; list[#list + 1] = m end)
  local i = 0
  return function()
    i = i + 1
    if names[i] then return names[i], list[i] end
  end
end

-- name/tensor pairs of parameters (kind 'param') or buffers ('buffer'),
-- unique by tensor, in registration order.
local function collect(self, kind, persistent_only)
  local names, tensors, seen = {}, {}, {}
  walk(self, '', {}, function(prefix, m)
    local tab = rawget(m, kind == 'param' and '_parameters' or '_buffers')
    local order = rawget(m, kind == 'param' and '_param_order' or '_buffer_order')
    local np = rawget(m, '_nonpersistent')
    for _, name in ipairs(order) do
      local t = tab[name]
      if t ~= nil and not seen[t] and not (persistent_only and np[name]) then
        seen[t] = true
        names[#names + 1] = prefix == '' and name or (prefix .. '.' .. name)
        tensors[#tensors + 1] = t
      end
    end
  end)
  return names, tensors
end

local function pair_iterator(names, tensors)
  local i = 0
  return function()
    i = i + 1
    if names[i] then return names[i], tensors[i] end
  end
end

--- Module:parameters() -> list of every parameter tensor (each once, in
-- registration order: a module's own, then its children's).
function Module:parameters()
  local _, ts = collect(self, 'param')
  return ts
end

--- Module:named_parameters() -> iterator of dotted name ('1.weight'), tensor.
function Module:named_parameters()
  return pair_iterator(collect(self, 'param'))
end

--- Module:buffers() -> list of every buffer tensor.
function Module:buffers()
  local _, ts = collect(self, 'buffer')
  return ts
end

--- Module:named_buffers() -> iterator of dotted name, tensor.
function Module:named_buffers()
  return pair_iterator(collect(self, 'buffer'))
end

--- Module:num_parameters(trainable_only?) -> the number of parameter elements.
function Module:num_parameters(trainable_only)
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not trainable_only or p.requires_grad then n = n + p:numel() end
  end
  return n
end

---------------------------------------------------------------------------
-- Modes, gradients, freezing, apply, conversion
---------------------------------------------------------------------------

--- Module:train(mode?) -> self: training mode (true by default) for self
-- and every descendant (field training).
function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:modules()) do rawget(m, '_attrs').training = mode and true or false end
  return self
end

--- Module:eval() -> self: evaluation mode (the same as train(false)).
function Module:eval()
  return self:train(false)
end

--- Module:zero_grad(): clears the gradient of every parameter (sets it to nil).
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
end

--- Module:freeze() -> self: stops gradients for every parameter (requires_grad = false).
function Module:freeze()
  for _, p in ipairs(self:parameters()) do p:requires_grad_(false) end
  return self
end

--- Module:unfreeze() -> self: makes every parameter trainable again.
function Module:unfreeze()
  for _, p in ipairs(self:parameters()) do p:requires_grad_(true) end
  return self
end

--- Module:apply(fn) -> self: calls fn(m) on every descendant, then on self.
function Module:apply(fn)
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

local FLOAT = {f32 = true, f64 = true, f16 = true, bf16 = true}

-- A device name for Module:to ('cpu', 'cuda', 'cuda:N'), else nil.
local function device_target(target)
  if target == 'cpu' then return 'cpu' end
  if type(target) == 'string' and (target == 'cuda' or target:match('^cuda:%d+$')) then return target end
  if math.type(target) == 'integer' then return 'cuda:' .. target end
  return nil
end

-- t converted for Module:to (t itself when nothing changes), outside any graph.
local function converted(t, device, dtype)
  return brasa.no_grad(function()
    if device == 'cpu' then return t:cpu() end
    if device then return t:cuda(device) end   -- x:cuda, so a test may stand in for the GPU
    return t:to(dtype)
  end)
end

--- Module:to(dtype|device) -> self: converts floating parameters and
-- buffers to a dtype (integer buffers keep theirs), or moves parameters and
-- buffers to a device ('cpu', 'cuda', 'cuda:N' or a device index). In
-- place: each tensor keeps its identity (x:set_), so an optimiser built
-- before still holds the model's parameters (its state follows them at its
-- next step); gradients are converted with their parameters.
function Module:to(target)
  local device = device_target(target)
  if not device and type(target) ~= 'string' then
    fail(string.format("%s:to: a dtype ('f64', ...) or a device ('cpu', 'cuda', 'cuda:1') expected, got %s",
      self:_class(), type(target)))
  end
  if not device and not FLOAT[brasa.zeros(0):to(target).dtype] then   -- (also checks the name)
    fail(string.format("%s:to('%s'): parameters can only take a floating dtype (f32, f64, f16, bf16)",
      self:_class(), target))
  end
  -- Everything is converted first and swapped in after, so a failure (no
  -- GPU, out of memory) leaves the model as it was.
  local done, moves = {}, {}   -- done: tensor -> what stands for it after
  for _, m in ipairs(self:modules()) do
    for _, kind in ipairs {'_parameters', '_buffers'} do
      for _, t in pairs(rawget(m, kind)) do
        if done[t] == nil then
          local c = (device or FLOAT[t.dtype]) and converted(t, device, target) or t
          done[t] = (c ~= t and not t.is_leaf) and c or t   -- a non-leaf buffer is replaced
          if c ~= t and t.is_leaf then
            local g = t.grad
            moves[#moves + 1] = {t, c, g ~= nil and converted(g, device, target) or nil}
          end
        end
      end
    end
  end
  for _, mv in ipairs(moves) do
    local t = mv[1]
    t:set_(mv[2])
    if mv[3] ~= nil then t.grad = mv[3] end
  end
  for _, m in ipairs(self:modules()) do
    for _, kind in ipairs {'_parameters', '_buffers'} do
      local tab = rawget(m, kind)
      for name, t in pairs(tab) do
        if done[t] ~= t then tab[name] = done[t] end
      end
    end
  end
  return self
end

--- Module:cuda(device?) -> self: parameters and buffers on a GPU (device
-- 'cuda:N' or an index; cuda:0 by default), in place (see Module:to).
function Module:cuda(device)
  return self:to(device or 'cuda')
end

--- Module:cpu() -> self: parameters and buffers back on the CPU, in place.
function Module:cpu()
  return self:to('cpu')
end

--- Module:double() -> self: parameters and buffers as f64.
function Module:double() return self:to('f64') end

--- Module:float() -> self: parameters and buffers as f32.
function Module:float() return self:to('f32') end

---------------------------------------------------------------------------
-- state_dict
---------------------------------------------------------------------------

local function ordered_pairs_mt(keys)
  return {__pairs = function(t)
    local i = 0
    return function()
      i = i + 1
      local k = keys[i]
      if k ~= nil then return k, rawget(t, k) end
    end, t, nil
  end}
end

--- Module:state_dict() -> table of dotted name -> tensor: every parameter
-- and persistent buffer, detached (sharing memory with the module: clone
-- them for a snapshot). pairs() walks it in registration order.
function Module:state_dict()
  local pn, pt = collect(self, 'param')
  local bn, bt = collect(self, 'buffer', true)
  local sd, keys = {}, {}
  for i, n in ipairs(pn) do sd[n] = pt[i]:detach(); keys[#keys + 1] = n end
  for i, n in ipairs(bn) do sd[n] = bt[i]:detach(); keys[#keys + 1] = n end
  return setmetatable(sd, ordered_pairs_mt(keys))
end

--- Module:load_state_dict(sd, opts?) -> {missing_keys =, unexpected_keys =}:
-- copies the tensors of sd into the parameters and buffers of the same
-- names. Shapes must agree (an error names the key and both shapes); with
-- opts.strict (true by default) missing and unexpected keys are errors.
-- Everything is checked before anything is copied.
function Module:load_state_dict(sd, opts)
  if type(sd) ~= 'table' then fail('load_state_dict: a table of name -> tensor expected, got ' .. type(sd)) end
  local strict = not (opts and opts.strict == false)
  local pn, pt = collect(self, 'param')
  local bn, bt = collect(self, 'buffer', true)
  local names, targets = {}, {}
  for i, n in ipairs(pn) do names[#names + 1] = n; targets[#targets + 1] = pt[i] end
  for i, n in ipairs(bn) do names[#names + 1] = n; targets[#targets + 1] = bt[i] end
  local known, missing, unexpected, errs = {}, {}, {}, {}
  for i, n in ipairs(names) do
    known[n] = true
    local v = rawget(sd, n)
    if v == nil then
      missing[#missing + 1] = n
    elseif not is_tensor(v) then
      errs[#errs + 1] = string.format('%s: a tensor expected, got %s', n, type(v))
    else
      local a, b = v.shape, targets[i].shape
      local same = #a == #b
      for d = 1, #a do if a[d] ~= b[d] then same = false end end
      if not same then
        errs[#errs + 1] = string.format('size mismatch for %s: the state_dict has %s, the model %s',
          n, shape_str(a), shape_str(b))
      end
    end
  end
  for k in next, sd do
    if not known[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  if strict and #missing > 0 then
    errs[#errs + 1] = 'missing keys: ' .. table.concat(missing, ', ')
  end
  if strict and #unexpected > 0 then
    errs[#errs + 1] = 'unexpected keys: ' .. table.concat(unexpected, ', ')
  end
  if #errs > 0 then
    fail(string.format('%s:load_state_dict: %s', self:_class(), table.concat(errs, '; ')))
  end
  brasa.no_grad(function()
    for i, n in ipairs(names) do
      local v = rawget(sd, n)
      if v ~= nil and v ~= targets[i] then targets[i]:copy(v) end
    end
  end)
  return {missing_keys = missing, unexpected_keys = unexpected}
end

---------------------------------------------------------------------------
-- Regularisation
---------------------------------------------------------------------------

--- Module:set_regularizer(param_name, reg) -> self: reg(tensor) is added to
-- regularization_loss() for that parameter (nil removes it).
function Module:set_regularizer(name, reg)
  local attrs = rawget(self, '_attrs')
  attrs._regularizers = attrs._regularizers or {}
  attrs._regularizers[name] = reg
  return self
end

-- Reads weight_regularizer / kernel_regularizer / bias_regularizer options.
function Module:_regularizers_from(opts)
  if not opts then return end
  local wr = opts.weight_regularizer or opts.kernel_regularizer
  if wr then self:set_regularizer('weight', wr) end
  if opts.bias_regularizer then self:set_regularizer('bias', opts.bias_regularizer) end
  if opts.embeddings_regularizer then self:set_regularizer('weight', opts.embeddings_regularizer) end
end

--- Module:regularization_loss() -> 0-dim tensor: the sum of the penalties
-- of every layer's regularisers (differentiable; 0 when there are none).
function Module:regularization_loss()
  local total
  local seen = {}
  for _, m in ipairs(self:modules()) do
    local regs = rawget(m, '_attrs')._regularizers
    if regs then
      local names = {}
      for name in pairs(regs) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        local p = rawget(m, '_parameters')[name]
        if p ~= nil and not seen[p] then
          seen[p] = true
          local r = regs[name](p)
          total = total and total + r or r
        end
      end
    end
  end
  return total or brasa.zeros({})
end

---------------------------------------------------------------------------
-- Printing
---------------------------------------------------------------------------

local function own_param_count(m)
  local n = 0
  for _, name in ipairs(rawget(m, '_param_order')) do
    local p = rawget(m, '_parameters')[name]
    if p then n = n + p:numel() end
  end
  return n
end

local function params_note(n)
  if n == 0 then return '' end
  return '  -- ' .. count_str(n) .. (n == 1 and ' parameter' or ' parameters')
end

-- The tree under self, indented by indent.
function Module:_tree(indent)
  local head = self:_class() .. '('
  local extra = self:extra_repr() or ''
  local order = rawget(self, '_module_order')
  if #order == 0 then
    return head .. extra .. ')' .. params_note(own_param_count(self))
  end
  local lines = {head .. extra .. params_note(self:num_parameters())}
  local mods = rawget(self, '_modules')
  for _, name in ipairs(order) do
    lines[#lines + 1] = indent .. '  (' .. name .. '): ' .. mods[name]:_tree(indent .. '  ')
  end
  lines[#lines + 1] = indent .. ')'
  return table.concat(lines, '\n')
end

return M
