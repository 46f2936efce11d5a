-- brasa.optim.schedulers: learning-rate schedules (PyTorch 1.13's
-- torch.optim.lr_scheduler, its epoch conventions included).
--
-- A schedule wraps an optimiser and rewrites group.lr of every parameter
-- group each time its step() is called: once per epoch (or per batch for
-- OneCycleLR and warm restarts), after opt:step(). Creating it already
-- counts as the first step: last_epoch becomes 0 and the groups get the
-- schedule's first learning rate. Each group keeps its starting rate in
-- group.initial_lr (set on creation when absent), which is what the
-- schedules decay from; get_last_lr() gives the current rates, one per
-- group. The recursive ("chainable") forms PyTorch uses are reproduced, so
-- two schedules on the same optimiser compose as in PyTorch.
--
-- Constructors take the optimiser, then the main option either positionally
-- or inside the options table: optim.StepLR(opt, 30, {gamma = 0.1}) and
-- optim.StepLR(opt, {step_size = 30, gamma = 0.1}) are the same.

local brasa = require 'brasa'
local base = require 'brasa.optim.optimizer'

local raise, describe = base.raise, base.describe

local M = {}

-- ---- option parsing --------------------------------------------------------------------

local function is_int(v) return math.type(v) == 'integer' or (type(v) == 'number' and v == math.floor(v)) end

local checks = {
  number = function(v) if type(v) ~= 'number' then return 'a number' end end,
  nonneg = function(v) if type(v) ~= 'number' or not (v >= 0) then return 'a number >= 0' end end,
  posint = function(v) if not is_int(v) or v <= 0 then return 'an integer > 0' end end,
  int = function(v) if not is_int(v) then return 'an integer' end end,
  bool = function(v) if type(v) ~= 'boolean' then return 'true or false' end end,
  factor01 = function(v) if type(v) ~= 'number' or not (v >= 0 and v <= 1) then return 'a number in [0, 1]' end end,
  milestones = function(v)
    if type(v) ~= 'table' then return 'a list of integers' end
    for _, m in ipairs(v) do if not is_int(m) then return 'a list of integers' end end
  end,
  numbers = function(v)   -- a number, or a list of numbers (one per group)
    if type(v) == 'number' then return end
    if type(v) ~= 'table' or #v == 0 then return 'a number or a list of numbers (one per group)' end
    for _, x in ipairs(v) do if type(x) ~= 'number' then return 'a number or a list of numbers (one per group)' end end
  end,
  lambdas = function(v)
    local function callable(f)
      return type(f) == 'function' or (type(f) == 'table' and getmetatable(f) and getmetatable(f).__call)
    end
    if callable(v) then return end
    if type(v) ~= 'table' or #v == 0 then return 'a function or a list of functions (one per group)' end
    for _, f in ipairs(v) do if not callable(f) then return 'a function or a list of functions (one per group)' end end
  end,
  mode = function(v) if v ~= 'min' and v ~= 'max' then return "'min' or 'max'" end end,
  threshold_mode = function(v) if v ~= 'rel' and v ~= 'abs' then return "'rel' or 'abs'" end end,
  anneal = function(v) if v ~= 'cos' and v ~= 'linear' then return "'cos' or 'linear'" end end,
  optint = function(v) if v ~= nil and (not is_int(v) or v <= 0) then return 'an integer > 0' end end,
}

local COMMON = {{'last_epoch', -1, 'int'}, {'verbose', false, 'bool'}}

-- Reads (optimizer, a, b) into an options table, checked and completed.
local function parse(cls, optimizer, a, b)
  local name = cls._name
  if type(optimizer) ~= 'table' or type(optimizer.param_groups) ~= 'table' then
    raise('%s: the first argument must be an optimiser (with param_groups), got %s', name, describe(optimizer))
  end
  local opts
  if cls._main and a ~= nil and (type(a) ~= 'table' or a[1] ~= nil) then
    if b ~= nil and type(b) ~= 'table' then raise('%s: options must be a table, got %s', name, describe(b)) end
    opts = {}
    for k, v in pairs(b or {}) do opts[k] = v end
    if opts[cls._main] ~= nil then raise('%s: %s is given twice', name, cls._main) end
    opts[cls._main] = a
  else
    if a ~= nil and type(a) ~= 'table' then raise('%s: options must be a table, got %s', name, describe(a)) end
    if b ~= nil then raise('%s: unexpected third argument %s', name, describe(b)) end
    opts = {}
    for k, v in pairs(a or {}) do opts[k] = v end
  end
  local known, names = {}, {}
  for _, o in ipairs(cls._options) do
    known[o[1]] = o
    names[#names + 1] = o[1]
  end
  for k in pairs(opts) do
    if not known[k] then
      raise("%s: unknown option '%s' (options: %s)", name, tostring(k), table.concat(names, ', '))
    end
  end
  for _, o in ipairs(cls._options) do
    local k = o[1]
    if opts[k] == nil then
      if o[2] == 'required' then raise("%s: option '%s' is required", name, k) end
      opts[k] = o[2]
    end
    local want = opts[k] ~= nil and checks[o[3]](opts[k])
    if want then raise("%s: option '%s' must be %s, got %s", name, k, want, describe(opts[k])) end
  end
  return opts
end

-- A value per group from a number or a list (checked against the group count).
local function per_group(name, what, v, groups)
  if type(v) ~= 'table' then
    local t = {}
    for i = 1, #groups do t[i] = v end
    return t
  end
  if #v ~= #groups then raise('%s: %d values for %s, but the optimiser has %d parameter groups', name, #v, what, #groups) end
  local t = {}
  for i, x in ipairs(v) do t[i] = x end
  return t
end

-- ---- the base ---------------------------------------------------------------------------

local Scheduler = {}
Scheduler.__index = Scheduler
M.Scheduler = Scheduler

-- Declares a schedule: options (with COMMON appended), main (the
-- positional option), setup(self, opts) before the first step, get_lr
-- (chainable form), closed_form (for step(epoch)).
local function class(name, spec)
  local cls = setmetatable({}, {__index = Scheduler, __call = function(c, ...) return c.new(...) end,
                                __tostring = function() return 'brasa.optim.' .. name .. ' (a learning-rate schedule)' end})
  cls.__index = cls
  cls.__tostring = Scheduler.__tostring
  cls._name = name
  cls._main = spec.main
  cls._options = {}
  for _, o in ipairs(spec.options) do cls._options[#cls._options + 1] = o end
  if not spec.no_common then
    for _, o in ipairs(COMMON) do cls._options[#cls._options + 1] = o end
  end
  cls.new = function(optimizer, a, b)
    local opts = parse(cls, optimizer, a, b)
    local self = setmetatable({optimizer = optimizer}, cls)
    if spec.setup then spec.setup(self, opts) end
    if not spec.no_common then self:_attach(opts.last_epoch, opts.verbose) end
    return self
  end
  return cls
end

-- PyTorch's _LRScheduler.__init__: initial_lr, base_lrs, then one step.
function Scheduler:_attach(last_epoch, verbose)
  local groups = self.optimizer.param_groups
  for i, g in ipairs(groups) do
    if last_epoch == -1 then
      if g.initial_lr == nil then g.initial_lr = g.lr end
    elseif g.initial_lr == nil then
      raise('%s: parameter group %d has no initial_lr: resuming (last_epoch = %d) needs an optimiser '
            .. 'restored from a run with this schedule', self._name, i, last_epoch)
    end
  end
  self.base_lrs = {}
  for i, g in ipairs(groups) do self.base_lrs[i] = g.initial_lr end
  self.last_epoch = last_epoch
  self.verbose = verbose
  self._step_count = 0
  self:step()
end

local function current_lrs(self)
  local t = {}
  for i, g in ipairs(self.optimizer.param_groups) do t[i] = g.lr end
  return t
end

function Scheduler:_apply(values, epoch)
  for i, g in ipairs(self.optimizer.param_groups) do
    g.lr = values[i]
    if self.verbose then
      if epoch == nil then
        print(string.format('Adjusting learning rate of group %d to %.4e.', i, values[i]))
      else
        print(string.format('Epoch %s: adjusting learning rate of group %d to %.4e.',
                            math.type(epoch) == 'float' and string.format('%.2f', epoch)
                            or string.format('%05d', epoch), i, values[i]))
      end
    end
  end
  self._last_lr = current_lrs(self)
end

--- sched:step(epoch?): advances one epoch (or jumps to `epoch`, using the
-- closed form where there is one) and sets the groups' learning rates.
function Scheduler:step(epoch)
  if epoch ~= nil and type(epoch) ~= 'number' then
    raise('%s: step(epoch): epoch must be a number, got %s', self._name, describe(epoch))
  end
  local saved_epoch, saved_count = self.last_epoch, self._step_count
  self._step_count = self._step_count + 1
  local ok, values = pcall(function()
    if epoch == nil then
      self.last_epoch = self.last_epoch + 1
      return self:_get_lr()
    end
    self.last_epoch = epoch
    return self._closed_form and self:_closed_form() or self:_get_lr()
  end)
  if not ok then   -- leave the schedule as it was
    self.last_epoch, self._step_count = saved_epoch, saved_count
    error(values, 0)
  end
  self:_apply(values, epoch)
end

--- sched:get_last_lr() -> {lr of group 1, ...}
function Scheduler:get_last_lr()
  local t = {}
  for i, v in ipairs(self._last_lr or current_lrs(self)) do t[i] = v end
  return t
end

local function copy(v)
  if type(v) ~= 'table' then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

--- sched:state_dict(): its fields (numbers and lists), without the
-- optimiser and functions.
function Scheduler:state_dict()
  local sd = {}
  for k, v in pairs(self) do
    if k ~= 'optimizer' and type(v) ~= 'function' and k ~= 'lr_lambdas' then sd[k] = copy(v) end
  end
  return sd
end

--- sched:load_state_dict(sd): restores the fields state_dict gave.
function Scheduler:load_state_dict(sd)
  if type(sd) ~= 'table' then
    raise('%s: load_state_dict: a table from state_dict() expected, got %s', self._name, describe(sd))
  end
  for k, v in pairs(sd) do
    if k ~= 'optimizer' and k ~= 'lr_lambdas' then self[k] = copy(v) end
  end
  if self._after_load then self:_after_load() end
end

function Scheduler:__tostring()
  local lrs = {}
  for i, v in ipairs(self:get_last_lr()) do lrs[i] = string.format('%.4g', v) end
  return string.format('%s (last_epoch %s, lr {%s})', self._name, tostring(self.last_epoch),
                       table.concat(lrs, ', '))
end

-- ---- schedules -------------------------------------------------------------------------------

local function map_groups(self, f)
  local t = {}
  for i, g in ipairs(self.optimizer.param_groups) do t[i] = f(g, i) end
  return t
end

--- StepLR(opt, step_size, {gamma = 0.1}): lr times gamma every step_size epochs.
M.StepLR = class('StepLR', {
  main = 'step_size',
  options = {{'step_size', 'required', 'posint'}, {'gamma', 0.1, 'number'}},
  setup = function(self, o) self.step_size, self.gamma = o.step_size, o.gamma end,
})
function M.StepLR:_get_lr()
  if self.last_epoch == 0 or self.last_epoch % self.step_size ~= 0 then return current_lrs(self) end
  return map_groups(self, function(g) return g.lr * self.gamma end)
end
function M.StepLR:_closed_form()
  return map_groups(self, function(_, i) return self.base_lrs[i] * self.gamma ^ (self.last_epoch // self.step_size) end)
end

--- MultiStepLR(opt, milestones, {gamma = 0.1}): lr times gamma at each milestone epoch.
M.MultiStepLR = class('MultiStepLR', {
  main = 'milestones',
  options = {{'milestones', 'required', 'milestones'}, {'gamma', 0.1, 'number'}},
  setup = function(self, o)
    self.milestones = {}   -- epoch -> how many times it is listed
    for _, m in ipairs(o.milestones) do self.milestones[m] = (self.milestones[m] or 0) + 1 end
    self.gamma = o.gamma
  end,
})
function M.MultiStepLR:_get_lr()
  local k = self.milestones[self.last_epoch]
  if not k then return current_lrs(self) end
  return map_groups(self, function(g) return g.lr * self.gamma ^ k end)
end
function M.MultiStepLR:_closed_form()
  local passed = 0
  for m, k in pairs(self.milestones) do if m <= self.last_epoch then passed = passed + k end end
  return map_groups(self, function(_, i) return self.base_lrs[i] * self.gamma ^ passed end)
end

--- ExponentialLR(opt, gamma): lr times gamma every epoch.
M.ExponentialLR = class('ExponentialLR', {
  main = 'gamma',
  options = {{'gamma', 'required', 'number'}},
  setup = function(self, o) self.gamma = o.gamma end,
})
function M.ExponentialLR:_get_lr()
  if self.last_epoch == 0 then return current_lrs(self) end
  return map_groups(self, function(g) return g.lr * self.gamma end)
end
function M.ExponentialLR:_closed_form()
  return map_groups(self, function(_, i) return self.base_lrs[i] * self.gamma ^ self.last_epoch end)
end

--- CosineAnnealingLR(opt, T_max, {eta_min = 0}): half a cosine from lr down
-- to eta_min over T_max epochs (and back up after, as PyTorch does).
M.CosineAnnealingLR = class('CosineAnnealingLR', {
  main = 'T_max',
  options = {{'T_max', 'required', 'posint'}, {'eta_min', 0, 'number'}},
  setup = function(self, o) self.T_max, self.eta_min = o.T_max, o.eta_min end,
})
function M.CosineAnnealingLR:_get_lr()
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  if e == 0 then return current_lrs(self) end
  if self._step_count == 1 and e > 0 then
    return map_groups(self, function(_, i)
      return eta + (self.base_lrs[i] - eta) * (1 + math.cos(e * math.pi / T)) / 2
    end)
  end
  if (e - 1 - T) % (2 * T) == 0 then
    return map_groups(self, function(g, i)
      return g.lr + (self.base_lrs[i] - eta) * (1 - math.cos(math.pi / T)) / 2
    end)
  end
  return map_groups(self, function(g)
    return (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (g.lr - eta) + eta
  end)
end
function M.CosineAnnealingLR:_closed_form()
  return map_groups(self, function(_, i)
    return self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
  end)
end

--- LinearLR(opt, {start_factor = 1/3, end_factor = 1, total_iters = 5}):
-- the factor of the initial lr goes linearly from start_factor to
-- end_factor over total_iters epochs (a warm-up when start < end).
M.LinearLR = class('LinearLR', {
  options = {{'start_factor', 1.0 / 3, 'factor01'}, {'end_factor', 1.0, 'factor01'},
             {'total_iters', 5, 'posint'}},
  setup = function(self, o)
    if o.start_factor == 0 then raise("LinearLR: option 'start_factor' must be > 0 (the rate would start at 0)") end
    self.start_factor, self.end_factor, self.total_iters = o.start_factor, o.end_factor, o.total_iters
  end,
})
function M.LinearLR:_get_lr()
  local e, s, f, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
  if e == 0 then return map_groups(self, function(g) return g.lr * s end) end
  if e > n then return current_lrs(self) end
  return map_groups(self, function(g)
    return g.lr * (1. + (f - s) / (n * s + (e - 1) * (f - s)))
  end)
end
function M.LinearLR:_closed_form()
  local s, f, n = self.start_factor, self.end_factor, self.total_iters
  return map_groups(self, function(_, i)
    return self.base_lrs[i] * (s + (f - s) * math.min(n, self.last_epoch) / n)
  end)
end

--- LambdaLR(opt, fn or {fn per group}): lr = initial lr * fn(epoch).
M.LambdaLR = class('LambdaLR', {
  main = 'lr_lambda',
  options = {{'lr_lambda', 'required', 'lambdas'}},
  setup = function(self, o)
    local groups = self.optimizer.param_groups
    if type(o.lr_lambda) == 'table' and o.lr_lambda[1] ~= nil then
      if #o.lr_lambda ~= #groups then
        raise('LambdaLR: %d functions for %d parameter groups', #o.lr_lambda, #groups)
      end
      self.lr_lambdas = {table.unpack(o.lr_lambda)}
    else
      self.lr_lambdas = {}
      for i = 1, #groups do self.lr_lambdas[i] = o.lr_lambda end
    end
  end,
})
function M.LambdaLR:_get_lr()
  return map_groups(self, function(_, i) return self.base_lrs[i] * self.lr_lambdas[i](self.last_epoch) end)
end

--- CosineAnnealingWarmRestarts(opt, T_0, {T_mult = 1, eta_min = 0}):
-- cosine annealing restarted every T_i epochs, T_i = T_0 * T_mult^k.
-- step(epoch) accepts fractional epochs (call it per batch with
-- epoch + batch / batches).
M.CosineAnnealingWarmRestarts = class('CosineAnnealingWarmRestarts', {
  main = 'T_0',
  options = {{'T_0', 'required', 'posint'}, {'T_mult', 1, 'posint'}, {'eta_min', 0, 'number'}},
  setup = function(self, o)
    self.T_0, self.T_i, self.T_mult, self.eta_min = o.T_0, o.T_0, o.T_mult, o.eta_min
    self.T_cur = o.last_epoch
  end,
})
function M.CosineAnnealingWarmRestarts:_get_lr()
  return map_groups(self, function(_, i)
    return self.eta_min + (self.base_lrs[i] - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
  end)
end
function M.CosineAnnealingWarmRestarts:step(epoch)
  if epoch ~= nil and type(epoch) ~= 'number' then
    raise('%s: step(epoch): epoch must be a number, got %s', self._name, describe(epoch))
  end
  if epoch == nil and self.last_epoch < 0 then epoch = 0 end
  if epoch == nil then
    epoch = self.last_epoch + 1
    self.T_cur = self.T_cur + 1
    if self.T_cur >= self.T_i then
      self.T_cur = self.T_cur - self.T_i
      self.T_i = self.T_i * self.T_mult
    end
  else
    if epoch < 0 then raise('%s: step(epoch): epoch must be >= 0, got %s', self._name, tostring(epoch)) end
    local T0, Tm = self.T_0, self.T_mult
    if epoch >= T0 then
      if Tm == 1 then
        self.T_cur = epoch % T0
      else
        local n = math.floor(math.log(epoch / T0 * (Tm - 1) + 1) / math.log(Tm))
        self.T_cur = epoch - T0 * (Tm ^ n - 1) / (Tm - 1)
        self.T_i = T0 * Tm ^ n
      end
    else
      self.T_i = T0
      self.T_cur = epoch
    end
  end
  self.last_epoch = math.floor(epoch)
  self._step_count = self._step_count + 1
  self:_apply(self:_get_lr(), nil)
end

--- OneCycleLR(opt, max_lr, {total_steps = n} or {epochs =, steps_per_epoch =}, ...):
-- the 1cycle policy, stepped once per batch: lr rises from max_lr /
-- div_factor to max_lr over pct_start of the steps, then anneals to
-- initial / final_div_factor; momentum (SGD) or beta1 (Adam) cycles the
-- other way between max_momentum and base_momentum.
M.OneCycleLR = class('OneCycleLR', {
  main = 'max_lr',
  options = {
    {'max_lr', 'required', 'numbers'}, {'total_steps', nil, 'optint'}, {'epochs', nil, 'optint'},
    {'steps_per_epoch', nil, 'optint'}, {'pct_start', 0.3, 'factor01'}, {'anneal_strategy', 'cos', 'anneal'},
    {'cycle_momentum', true, 'bool'}, {'base_momentum', 0.85, 'numbers'}, {'max_momentum', 0.95, 'numbers'},
    {'div_factor', 25.0, 'number'}, {'final_div_factor', 1e4, 'number'}, {'three_phase', false, 'bool'},
  },
  setup = function(self, o)
    local name, opt = 'OneCycleLR', self.optimizer
    if o.total_steps then
      self.total_steps = o.total_steps
    elseif o.epochs and o.steps_per_epoch then
      self.total_steps = o.epochs * o.steps_per_epoch
    else
      raise('%s: give total_steps, or epochs and steps_per_epoch', name)
    end
    local T, p = self.total_steps, o.pct_start
    if o.three_phase then
      self._phases = {
        {end_step = p * T - 1, start_lr = 'initial_lr', end_lr = 'max_lr',
         start_momentum = 'max_momentum', end_momentum = 'base_momentum'},
        {end_step = 2 * p * T - 2, start_lr = 'max_lr', end_lr = 'initial_lr',
         start_momentum = 'base_momentum', end_momentum = 'max_momentum'},
        {end_step = T - 1, start_lr = 'initial_lr', end_lr = 'min_lr',
         start_momentum = 'max_momentum', end_momentum = 'max_momentum'},
      }
    else
      self._phases = {
        {end_step = p * T - 1, start_lr = 'initial_lr', end_lr = 'max_lr',
         start_momentum = 'max_momentum', end_momentum = 'base_momentum'},
        {end_step = T - 1, start_lr = 'max_lr', end_lr = 'min_lr',
         start_momentum = 'base_momentum', end_momentum = 'max_momentum'},
      }
    end
    self.anneal_strategy = o.anneal_strategy
    local groups = opt.param_groups
    local max_lrs = per_group(name, 'max_lr', o.max_lr, groups)
    if o.last_epoch == -1 then
      for i, g in ipairs(groups) do
        g.initial_lr = max_lrs[i] / o.div_factor
        g.max_lr = max_lrs[i]
        g.min_lr = g.initial_lr / o.final_div_factor
      end
    end
    self.cycle_momentum = o.cycle_momentum
    if o.cycle_momentum then
      local d = opt.defaults or {}
      if d.momentum == nil and d.betas == nil then
        raise('%s: cycle_momentum needs an optimiser with momentum or betas (or set cycle_momentum = false)', name)
      end
      self.use_beta1 = d.betas ~= nil
      local maxm = per_group(name, 'max_momentum', o.max_momentum, groups)
      local basem = per_group(name, 'base_momentum', o.base_momentum, groups)
      if o.last_epoch == -1 then
        for i, g in ipairs(groups) do
          if self.use_beta1 then g.betas = {maxm[i], g.betas[2]} else g.momentum = maxm[i] end
          g.max_momentum, g.base_momentum = maxm[i], basem[i]
        end
      end
    end
  end,
})
local function anneal(strategy, a, b, pct)
  if strategy == 'cos' then return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1) end
  return (b - a) * pct + a
end
function M.OneCycleLR:_get_lr()
  local n = self.last_epoch
  if n > self.total_steps then
    raise('OneCycleLR: stepped %d times but total_steps is %d', n + 1, self.total_steps)
  end
  return map_groups(self, function(g)
    local start, lr, mom = 0, nil, nil
    for i, ph in ipairs(self._phases) do
      if n <= ph.end_step or i == #self._phases then
        local pct = (n - start) / (ph.end_step - start)
        lr = anneal(self.anneal_strategy, g[ph.start_lr], g[ph.end_lr], pct)
        if self.cycle_momentum then
          mom = anneal(self.anneal_strategy, g[ph.start_momentum], g[ph.end_momentum], pct)
        end
        break
      end
      start = ph.end_step
    end
    if self.cycle_momentum then
      if self.use_beta1 then g.betas = {mom, g.betas[2]} else g.momentum = mom end
    end
    return lr
  end)
end

--- ReduceLROnPlateau(opt, {mode = 'min', factor = 0.1, patience = 10,
-- threshold = 1e-4, threshold_mode = 'rel', cooldown = 0, min_lr = 0,
-- eps = 1e-8}): step(metric) each epoch; after more than `patience` epochs
-- without improvement the lr is multiplied by factor (not below min_lr).
M.ReduceLROnPlateau = class('ReduceLROnPlateau', {
  no_common = true,
  options = {
    {'mode', 'min', 'mode'}, {'factor', 0.1, 'number'}, {'patience', 10, 'int'},
    {'threshold', 1e-4, 'number'}, {'threshold_mode', 'rel', 'threshold_mode'}, {'cooldown', 0, 'int'},
    {'min_lr', 0, 'numbers'}, {'eps', 1e-8, 'number'}, {'verbose', false, 'bool'},
  },
  setup = function(self, o)
    if o.factor >= 1.0 then raise("ReduceLROnPlateau: option 'factor' must be < 1, got %s", tostring(o.factor)) end
    self.factor = o.factor
    self.min_lrs = per_group('ReduceLROnPlateau', 'min_lr', o.min_lr, self.optimizer.param_groups)
    self.patience, self.verbose, self.cooldown = o.patience, o.verbose, o.cooldown
    self.cooldown_counter = 0
    self.mode, self.threshold, self.threshold_mode = o.mode, o.threshold, o.threshold_mode
    self.eps = o.eps
    self.last_epoch = 0
    self:_after_load()
    self.best = self.mode_worse
    self.num_bad_epochs = 0
    self._step_count = 0
  end,
})
local Plateau = M.ReduceLROnPlateau
function Plateau:_after_load()
  self.mode_worse = self.mode == 'min' and math.huge or -math.huge
end
function Plateau:_is_better(a, best)
  if self.mode == 'min' and self.threshold_mode == 'rel' then return a < best * (1. - self.threshold) end
  if self.mode == 'min' then return a < best - self.threshold end
  if self.threshold_mode == 'rel' then return a > best * (self.threshold + 1.) end
  return a > best + self.threshold
end
--- sched:step(metric, epoch?): metric is a number or a one-element tensor.
function Plateau:step(metric, epoch)
  if brasa.is_tensor(metric) then metric = metric:item() end
  if type(metric) ~= 'number' then
    raise('ReduceLROnPlateau: step(metric): the metric must be a number or a one-element tensor, got %s',
          describe(metric))
  end
  epoch = epoch or self.last_epoch + 1
  self.last_epoch = epoch
  if self:_is_better(metric, self.best) then
    self.best = metric
    self.num_bad_epochs = 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, g in ipairs(self.optimizer.param_groups) do
      local old = g.lr
      local new = math.max(old * self.factor, self.min_lrs[i])
      if old - new > self.eps then
        g.lr = new
        if self.verbose then
          print(string.format('Epoch %05d: reducing learning rate of group %d to %.4e.', epoch, i, new))
        end
      end
    end
    self.cooldown_counter = self.cooldown
    self.num_bad_epochs = 0
  end
  self._last_lr = current_lrs(self)
end

return M
