-- brasa.optim.optimizer: the base of every optimiser.
--
-- An optimiser holds parameter groups (opt.param_groups: a list of tables
-- {params = {tensors...}, lr = ..., <options>...}), a state per parameter
-- (opt.state[param]: step counts and moment tensors, created at the first
-- step that sees a gradient) and its defaults (opt.defaults). A family is
-- declared with Optimizer.subclass(name, spec); its update runs in C, one
-- fused pass per parameter (brasa.core._optim, core/ops/optim.c), so step()
-- records no graph and costs one C call per parameter.
--
-- Semantics follow PyTorch 1.13's torch.optim (single-tensor algorithms);
-- state_dict() uses 1-based parameter indices where PyTorch's are 0-based.

local brasa = require 'brasa'

local M = {}

-- ---- errors that point at the user's line -------------------------------------

-- The stack level of the first function outside lua/brasa/optim/ (the
-- user's code), counted from the caller of raise.
local function user_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, 'S')
    if not info then return 1 end
    if info.what ~= 'C' and not info.source:find('brasa[/\\]optim[/\\]') then return level - 1 end
    level = level + 1
  end
end

--- Raises string.format(fmt, ...) as an error located at the user's call.
function M.raise(fmt, ...)
  error(string.format(fmt, ...), user_level())
end
local raise = M.raise

--- A short description of a Lua value for messages.
function M.describe(v)
  if brasa.is_tensor(v) then
    return string.format('a %s tensor [%s]', v.dtype, table.concat(v.shape, 'x'))
  elseif type(v) == 'string' then
    return string.format('the string %q', v)
  elseif type(v) == 'number' or type(v) == 'boolean' then
    return string.format('the %s %s', type(v), tostring(v))
  elseif type(v) == 'table' then
    local parts = {}
    for i = 1, math.min(#v, 4) do parts[i] = tostring(v[i]) end
    return '{' .. table.concat(parts, ', ') .. (#v > 4 and ', ...' or '') .. '}'
  end
  return tostring(v)
end
local describe = M.describe

-- ---- option checks ------------------------------------------------------------------

-- Each returns nil when v is fine, or what v must be.
M.checks = {
  nonneg = function(v) if type(v) ~= 'number' or not (v >= 0) then return 'a number >= 0' end end,
  positive = function(v) if type(v) ~= 'number' or not (v > 0) then return 'a number > 0' end end,
  unit = function(v) if type(v) ~= 'number' or not (v >= 0 and v <= 1) then return 'a number in [0, 1]' end end,
  bool = function(v) if type(v) ~= 'boolean' then return 'true or false' end end,
  betas = function(v)
    if type(v) ~= 'table' or #v ~= 2 or type(v[1]) ~= 'number' or type(v[2]) ~= 'number'
       or not (v[1] >= 0 and v[1] < 1 and v[2] >= 0 and v[2] < 1) then
      return 'two numbers in [0, 1), as {0.9, 0.999}'
    end
  end,
}

-- Keys a learning-rate schedule keeps in a parameter group beside the options.
M.schedule_keys = {initial_lr = true, max_lr = true, min_lr = true, max_momentum = true,
                   base_momentum = true}

local function copy_value(v)
  if type(v) == 'table' and not brasa.is_tensor(v) then
    local c = {}
    for k, x in pairs(v) do c[k] = x end
    return c
  end
  return v
end

local function option_names(cls)
  local names = {}
  for i, o in ipairs(cls._options) do names[i] = o[1] end
  return table.concat(names, ', ')
end

-- Checks the option values of a group (or of the defaults when gi is nil).
local function check_options(cls, group, where, who)
  who = who or cls._name
  for _, o in ipairs(cls._options) do
    local name, check = o[1], M.checks[o[3]]
    local v = group[name]
    local want = check(v)
    if want then
      raise("%s: option '%s'%s must be %s, got %s", who, name, where, want, describe(v))
    end
  end
  if cls._validate then
    local msg = cls._validate(group)
    if msg then raise('%s: %s%s', who, msg, where) end
  end
end

-- Unknown keys of an options table (or a group: params and schedule keys allowed).
local function check_known(cls, opts, is_group, where, who)
  for k in pairs(opts) do
    if not (cls._known[k] or (is_group and (k == 'params' or M.schedule_keys[k]))) then
      raise("%s: unknown option '%s'%s (options: %s)", who or cls._name, tostring(k), where, option_names(cls))
    end
  end
end

-- ---- the base class -------------------------------------------------------------------

local Optimizer = {}
Optimizer.__index = Optimizer
M.Optimizer = Optimizer

--- Declares an optimiser family. spec:
--   options = {{name, default, check}, ...}   (check: a key of M.checks)
--   validate = function(group) -> message or nil   (cross-option checks)
--   init_state = function(param, group) -> state table   (optional: {} )
--   eager_state = true: create the state at construction (Adagrad)
--   update = function(param, grad, state, group)   (the fused C call)
function Optimizer.subclass(name, spec)
  local cls = setmetatable({}, {__index = Optimizer, __call = function(c, ...) return c.new(...) end,
                                __tostring = function() return 'brasa.optim.' .. name .. ' (an optimiser class)' end})
  cls.__index = cls
  cls.__tostring = Optimizer.__tostring
  cls._name = name
  cls._options = spec.options
  cls._known = {}
  for _, o in ipairs(spec.options) do cls._known[o[1]] = true end
  cls._validate = spec.validate
  cls._init_state = spec.init_state or function() return {} end
  cls._eager_state = spec.eager_state
  cls._update = spec.update
  cls.new = function(params, opts) return Optimizer._construct(cls, params, opts) end
  return cls
end

-- Normalises the params argument to a list of group tables.
local function to_groups(cls, params)
  if brasa.is_tensor(params) then return {{params = {params}}} end
  if type(params) == 'table' and type(params.parameters) == 'function' then   -- a module
    params = params:parameters()
  end
  if type(params) ~= 'table' then
    raise('%s: params must be a list of tensors or of parameter groups, got %s', cls._name, describe(params))
  end
  if #params == 0 then raise('%s: the parameter list is empty', cls._name) end
  if brasa.is_tensor(params[1]) then return {{params = params}} end
  if type(params[1]) == 'table' then
    for i, g in ipairs(params) do
      if type(g) ~= 'table' or brasa.is_tensor(g) or g.params == nil then
        raise('%s: params[%d] is %s: a parameter group is a table {params = {...}, lr = ...}',
              cls._name, i, describe(g))
      end
    end
    return params
  end
  raise('%s: params[1] is %s, not a tensor or a parameter group', cls._name, describe(params[1]))
end

function Optimizer._construct(cls, params, opts)
  if opts ~= nil and type(opts) ~= 'table' then
    raise('%s: options must be a table, got %s', cls._name, describe(opts))
  end
  opts = opts or {}
  check_known(cls, opts, false, '')
  local defaults = {}
  for _, o in ipairs(cls._options) do
    local v = opts[o[1]]
    if v == nil then v = o[2] end
    defaults[o[1]] = copy_value(v)
  end
  check_options(cls, defaults, '')
  local self = setmetatable({defaults = defaults, param_groups = {}, state = {}, _step_count = 0}, cls)
  for _, g in ipairs(to_groups(cls, params)) do self:add_param_group(g) end
  return self
end

--- opt:add_param_group(group): adds {params = {...}, <options>} with the
-- defaults for the options it leaves out.
function Optimizer:add_param_group(group)
  local cls = getmetatable(self)
  local gi = #self.param_groups + 1
  local where = #self.param_groups > 0 and string.format(' (parameter group %d)', gi) or ''
  if type(group) ~= 'table' or brasa.is_tensor(group) then
    raise('%s: a parameter group must be a table {params = {...}, ...}, got %s', cls._name, describe(group))
  end
  check_known(cls, group, true, where)
  local params = group.params
  if brasa.is_tensor(params) then params = {params} end
  if type(params) ~= 'table' then
    raise('%s: params%s must be a list of tensors, got %s', cls._name, where, describe(params))
  end
  if #params == 0 then raise('%s: the parameter list%s is empty', cls._name, where) end
  local seen = {}
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do seen[p] = true end
  end
  local list = {}
  for i, p in ipairs(params) do
    local at = #self.param_groups > 0 and string.format('params[%d] of parameter group %d', i, gi)
               or string.format('params[%d]', i)
    if not brasa.is_tensor(p) then
      raise('%s: %s is %s, not a tensor', cls._name, at, describe(p))
    end
    if not (p.dtype == 'f32' or p.dtype == 'f64' or p.dtype == 'f16' or p.dtype == 'bf16') then
      raise('%s: %s is %s: only floating-point tensors can be optimised', cls._name, at, describe(p))
    end
    if not p.is_leaf then
      raise('%s: %s is not a leaf tensor (it is the result of an op): optimise the tensors it was computed from',
            cls._name, at)
    end
    if seen[p] then raise('%s: %s appears more than once among the parameters', cls._name, at) end
    seen[p] = true
    list[i] = p
  end
  local g = {params = list}
  for k, v in pairs(group) do
    if k ~= 'params' then g[k] = copy_value(v) end
  end
  for _, o in ipairs(cls._options) do
    if g[o[1]] == nil then g[o[1]] = copy_value(self.defaults[o[1]]) end
  end
  check_options(cls, g, where)
  self.param_groups[gi] = g
  if cls._eager_state then
    for _, p in ipairs(list) do self.state[p] = cls._init_state(p, g) end
  end
end

local set_count = require('brasa.core')._set_count

-- State tensors on their parameter's device and dtype: a parameter moved in
-- place (model:cuda(), model:to('f64'), x:set_) takes its state along at
-- the next step. Checked only after some tensor took another's storage.
local function follow_params(self)
  local n = set_count()
  if n == self._set_seen then return end
  self._set_seen = n
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      local st = self.state[p]
      if st then
        local dev, dt = p.device, p.dtype
        for k, v in pairs(st) do
          if brasa.is_tensor(v) and (v.device ~= dev or v.dtype ~= dt) then st[k] = v:to(dt):to(dev) end
        end
      end
    end
  end
end

--- opt:step(closure?): one update of every parameter that has a gradient.
-- closure, if given, is called first (with gradient recording on) and its
-- result returned: it should recompute the loss and call backward.
function Optimizer:step(closure)
  local cls = getmetatable(self)
  local loss
  if closure ~= nil then
    if type(closure) ~= 'function' then
      raise('%s: step(closure): closure must be a function, got %s', cls._name, describe(closure))
    end
    loss = brasa.enable_grad(closure)
  end
  follow_params(self)
  local update, init, state = cls._update, cls._init_state, self.state
  for gi, group in ipairs(self.param_groups) do
    check_options(cls, group, #self.param_groups > 1 and string.format(' (parameter group %d)', gi) or '')
    for _, p in ipairs(group.params) do
      local g = p.grad
      if g ~= nil then
        local st = state[p]
        if st == nil then
          st = init(p, group)
          state[p] = st
        end
        update(p, g, st, group)
      end
    end
  end
  self._step_count = self._step_count + 1
  return loss
end

--- opt:zero_grad(opts?): clears the gradients of every parameter: sets
-- .grad to nil (the default), or fills it with zeros with
-- {set_to_none = false} (or zero_grad(false)).
function Optimizer:zero_grad(opts)
  local to_none = true
  if opts == false then
    to_none = false
  elseif type(opts) == 'table' and opts.set_to_none ~= nil then
    to_none = opts.set_to_none and true or false
  end
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      local g = p.grad
      if g ~= nil then
        if to_none then
          p.grad = nil
        elseif g.requires_grad then   -- a gradient with a graph: replace, do not write into it
          p.grad = brasa.zeros_like(g)
        else
          g:zero_()
        end
      end
    end
  end
end

-- The parameters of all groups in order, with their 1-based indices.
local function flat_params(self)
  local list = {}
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do list[#list + 1] = p end
  end
  return list
end

--- opt:state_dict() -> {state = {[i] = {...}}, param_groups = {{..., params = {i, ...}}}}
-- A snapshot: state tensors are copies; parameters are named by their
-- 1-based position over all groups.
function Optimizer:state_dict()
  local index, n = {}, 0
  local groups = {}
  for gi, g in ipairs(self.param_groups) do
    local sg = {}
    for k, v in pairs(g) do
      if k ~= 'params' then sg[k] = copy_value(v) end
    end
    sg.params = {}
    for i, p in ipairs(g.params) do
      n = n + 1
      index[p] = n
      sg.params[i] = n
    end
    groups[gi] = sg
  end
  local state = {}
  for _, p in ipairs(flat_params(self)) do
    local st = self.state[p]
    if st then
      local s = {}
      for k, v in pairs(st) do s[k] = brasa.is_tensor(v) and v:clone() or copy_value(v) end
      state[index[p]] = s
    end
  end
  return {state = state, param_groups = groups}
end

--- opt:load_state_dict(sd): restores what state_dict returned (from this
-- optimiser or one built the same way). Everything is checked before
-- anything changes; state tensors are copied in the parameters' dtypes.
function Optimizer:load_state_dict(sd)
  local cls = getmetatable(self)
  local name = cls._name .. ': load_state_dict'
  if type(sd) ~= 'table' or type(sd.state) ~= 'table' or type(sd.param_groups) ~= 'table' then
    raise('%s: a table {state = ..., param_groups = ...} from state_dict() expected, got %s', name, describe(sd))
  end
  if #sd.param_groups ~= #self.param_groups then
    raise('%s: the saved state has %d parameter groups but the optimiser has %d', name,
          #sd.param_groups, #self.param_groups)
  end
  local new_groups = {}
  for gi, sg in ipairs(sd.param_groups) do
    local g = self.param_groups[gi]
    if type(sg) ~= 'table' or type(sg.params) ~= 'table' then
      raise('%s: saved parameter group %d is not a table with params', name, gi)
    end
    if #sg.params ~= #g.params then
      raise('%s: saved parameter group %d has %d parameters but the optimiser\'s has %d', name, gi,
            #sg.params, #g.params)
    end
    local where = string.format(' (saved parameter group %d)', gi)
    check_known(cls, sg, true, where, name)
    local ng = {params = g.params}
    for k, v in pairs(sg) do
      if k ~= 'params' then ng[k] = copy_value(v) end
    end
    for _, o in ipairs(cls._options) do
      if ng[o[1]] == nil then raise("%s: option '%s' is missing%s", name, o[1], where) end
    end
    check_options(cls, ng, where, name)
    new_groups[gi] = ng
  end
  local params = flat_params(self)
  local new_state = {}
  for key, s in pairs(sd.state) do
    -- Keys are 1-based indices; a state read back from JSON may have "3" or 3.0.
    local i = math.tointeger(key) or (type(key) == 'string' and math.tointeger(tonumber(key))) or key
    local p = math.type(i) == 'integer' and params[i]
    if not p then raise('%s: the saved state names parameter %s, but there are %d', name, tostring(i), #params) end
    if type(s) ~= 'table' then raise('%s: the saved state of parameter %d is not a table', name, i) end
    for k, v in pairs(s) do
      if brasa.is_tensor(v) then
        local ps, vs = table.concat(p.shape, 'x'), table.concat(v.shape, 'x')
        if ps ~= vs or #p.shape ~= #v.shape then
          raise("%s: state '%s' of parameter %d has shape [%s] but the parameter has shape [%s]", name,
                tostring(k), i, vs, ps)
        end
      elseif type(v) ~= 'number' and type(v) ~= 'boolean' then
        raise("%s: state '%s' of parameter %d is %s (tensors and numbers expected)", name, tostring(k), i,
              describe(v))
      end
    end
    new_state[p] = s
  end
  -- Everything checked: apply.
  local state = {}
  for p, s in pairs(new_state) do
    local st = {}
    for k, v in pairs(s) do
      if brasa.is_tensor(v) then
        local t = brasa.zeros_like(p)
        t:copy_(v)
        st[k] = t
      else
        st[k] = type(v) == 'number' and math.tointeger(v) or v   -- step 3.0 (from JSON) is 3
      end
    end
    state[p] = st
  end
  if cls._eager_state then   -- parameters the saved state does not cover start afresh
    for gi, g in ipairs(new_groups) do
      for _, p in ipairs(g.params) do
        if not state[p] then state[p] = cls._init_state(p, new_groups[gi]) end
      end
    end
  end
  self.state = state
  for gi, g in ipairs(new_groups) do self.param_groups[gi] = g end
end

local function show(v)
  if type(v) == 'table' then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = tostring(x) end
    return '{' .. table.concat(parts, ', ') .. '}'
  end
  return tostring(v)
end

function Optimizer:__tostring()
  local cls = getmetatable(self)
  local lines = {cls._name .. ' ('}
  for gi, g in ipairs(self.param_groups) do
    local n = 0
    for _, p in ipairs(g.params) do n = n + p:numel() end
    lines[#lines + 1] = string.format('Parameter Group %d: %d tensor%s, %d values', gi, #g.params,
                                      #g.params == 1 and '' or 's', n)
    local keys = {}
    for k in pairs(g) do if k ~= 'params' then keys[#keys + 1] = k end end
    table.sort(keys)
    for _, k in ipairs(keys) do lines[#lines + 1] = string.format('    %s: %s', k, show(g[k])) end
  end
  lines[#lines + 1] = ')'
  return table.concat(lines, '\n')
end

return M
