-- brasa.amp: automatic mixed precision, as torch.autocast and
-- torch.cuda.amp.GradScaler.
--
--   local scaler = brasa.amp.GradScaler()
--   for xb, yb in loader:iter() do
--     opt:zero_grad()
--     local loss = brasa.amp.autocast(function() return loss_fn(model(xb), yb) end)
--     scaler:scale(loss):backward()      -- backward outside the region
--     scaler:step(opt)                    -- skipped when a gradient overflowed
--     scaler:update()
--   end
--
-- Inside an autocast region the core casts at the entry of each op
-- (core/autocast.c): matmul, mm, bmm, linear and the convolutions run in
-- half precision (f16 or bf16); softmax, log_softmax, the losses and the
-- reductions (sum, mean, norm, var, std, prod, logsumexp, cumsum) run in
-- f32; everything else runs in its inputs' dtypes. The casts are
-- differentiable, so gradients reach f32 parameters in f32. The state
-- belongs to the OS thread (as PyTorch's), so coroutines share it.
--
-- On a GPU the half matmuls and convolutions use tensor cores. On the CPU
-- halves are stored in 16 bits and computed in f32 (as every CPU op of
-- brasa does), so CPU autocast saves memory for activations but adds
-- conversions: it is for correctness checks and memory, not speed.
--
-- Differences from PyTorch, on purpose: autocast{} without a device turns
-- mixed precision on for the CPU and CUDA at once (each with its default
-- dtype: bf16 and f16), and f16 is allowed on the CPU too; GradScaler also
-- works on the CPU (PyTorch disables itself without CUDA), which is how
-- the tests check it; the half copy of a weight is not cached across uses
-- within a region.

local brasa = require 'brasa'
local C = require('brasa.core')._amp

local M = {}

local DTYPES = {f16 = 'f16', float16 = 'f16', half = 'f16', bf16 = 'bf16', bfloat16 = 'bf16'}
local DEFAULT_DTYPE = {cpu = 'bf16', cuda = 'f16'}
local DEVICE_TYPES = {'cpu', 'cuda'}

-- The stack level of the first caller outside this file.
local function user_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, 'S')
    if not info then return 1 end
    if info.what ~= 'C' and not info.source:find('brasa[/\\]amp%.lua$') then return level - 1 end
    level = level + 1
  end
end

local function fail(fmt, ...)
  error(string.format(fmt, ...), user_level())
end

local function describe(v)
  if type(v) == 'string' then return string.format("'%s'", v) end
  if brasa.is_tensor(v) then return 'a tensor' end
  return tostring(v)
end

-- ---- autocast ----------------------------------------------------------------------

-- 'cpu' or 'cuda' from a device name ('cuda:1' is of type 'cuda').
local function device_type(d, who)
  if d == 'cpu' then return 'cpu' end
  if type(d) == 'string' and (d == 'cuda' or d:match('^cuda:%d+$')) then return 'cuda' end
  fail("%s: device must be 'cpu' or 'cuda', got %s", who, describe(d))
end

local function dtype_of(v, who)
  local dt = DTYPES[v]
  if not dt then
    fail("%s: dtype must be 'f16' or 'bf16' (also 'float16', 'half', 'bfloat16'), got %s", who, describe(v))
  end
  return dt
end

local AUTOCAST_OPTIONS = {device = true, dtype = true, enabled = true}

-- The settings an options table asks for: {cpu = {enabled, dtype}, cuda = ...}
-- for the device types it names (both when it names none).
local function settings(opts, who)
  if opts == nil then opts = {} end
  if type(opts) ~= 'table' or brasa.is_tensor(opts) then
    fail('%s: options must be a table {device =, dtype =, enabled =}, got %s', who, describe(opts))
  end
  for k in pairs(opts) do
    if not AUTOCAST_OPTIONS[k] then fail("%s: unknown option %s (options: device, dtype, enabled)", who, describe(k)) end
  end
  local enabled = opts.enabled
  if enabled == nil then enabled = true end
  if type(enabled) ~= 'boolean' then fail('%s: enabled must be true or false, got %s', who, describe(enabled)) end
  local dtype = opts.dtype ~= nil and dtype_of(opts.dtype, who) or nil
  local out = {}
  local only = opts.device ~= nil and device_type(opts.device, who) or nil
  for _, d in ipairs(DEVICE_TYPES) do
    if only == nil or only == d then out[d] = {enabled, dtype or DEFAULT_DTYPE[d]} end
  end
  return out
end

local function current()
  local s = {}
  for _, d in ipairs(DEVICE_TYPES) do s[d] = {C.get(d)} end
  return s
end

local function apply(s)
  for d, v in pairs(s) do C.set(d, v[1], v[2]) end
end

-- A region: the state before it, put back when it closes.
local Region = {__name = 'brasa.amp.autocast'}
Region.__index = Region

--- region:close(): leaves the region (what <close> does); a second call does nothing.
function Region:close()
  if self.saved then
    apply(self.saved)
    self.saved = nil
  end
end
Region.__close = Region.close

function Region:__tostring()
  return 'autocast region (' .. (self.saved and 'open' or 'closed') .. ')'
end

local function enter(opts, who)
  local want = settings(opts, who)
  local region = setmetatable({saved = current()}, Region)
  apply(want)
  return region
end

local function run(fn, opts, ...)
  local region <close> = enter(opts, 'brasa.amp.autocast')
  return fn(...)
end

--- brasa.amp.autocast(fn, opts?, ...) -> fn(...)'s results, with autocast on
-- while fn runs (and the previous state back after it, even on error);
-- brasa.amp.autocast(opts?) -> a region to close (local r <close> = ...).
-- opts: device ('cpu' or 'cuda'; default both), dtype ('f16' or 'bf16';
-- default bf16 on the CPU, f16 on CUDA), enabled (true; false turns
-- autocast off inside).
function M.autocast(fn_or_opts, ...)
  if type(fn_or_opts) == 'function' then
    local opts = ...
    if opts ~= nil and type(opts) ~= 'table' then
      fail('brasa.amp.autocast: options must be a table {device =, dtype =, enabled =}, got %s', describe(opts))
    end
    return run(fn_or_opts, opts, select(2, ...))
  end
  if select('#', ...) > 0 then
    fail('brasa.amp.autocast: with options alone it takes one argument (use autocast(fn, opts, ...) to call a function)')
  end
  return enter(fn_or_opts, 'brasa.amp.autocast')
end

--- brasa.amp.is_autocast_enabled(device?) -> boolean: for 'cpu' or 'cuda',
-- or for either when device is nil.
function M.is_autocast_enabled(device)
  if device == nil then return (C.get('cpu')) or (C.get('cuda')) end
  return (C.get(device_type(device, 'brasa.amp.is_autocast_enabled')))
end

--- brasa.amp.get_autocast_dtype(device) -> 'f16' or 'bf16': the dtype
-- autocast uses (or would use) on 'cpu' or 'cuda'.
function M.get_autocast_dtype(device)
  local _, dt = C.get(device_type(device, 'brasa.amp.get_autocast_dtype'))
  return dt
end

-- ---- GradScaler ------------------------------------------------------------------------

-- x rounded to f32: PyTorch keeps the scale in an f32 tensor.
local function f32(x) return (string.unpack('f', string.pack('f', x))) end

local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end

local READY, UNSCALED, STEPPED = 'ready', 'unscaled', 'stepped'

local GradScaler = {__name = 'brasa.amp.GradScaler'}
GradScaler.__index = GradScaler
M.GradScaler = GradScaler

local SCALER_OPTIONS = {init_scale = true, growth_factor = true, backoff_factor = true,
                        growth_interval = true, enabled = true}

local function check_number(who, name, v, ok, want)
  if type(v) ~= 'number' or not ok(v) then fail('%s: %s must be %s, got %s', who, name, want, describe(v)) end
  return v
end

local function positive_integer(v)
  return math.type(v) == 'integer' and v > 0 or (v == math.floor(v) and v > 0 and v < 2^53)
end

--- brasa.amp.GradScaler(opts?) -> a scaler: opts init_scale (2^16),
-- growth_factor (2), backoff_factor (0.5), growth_interval (2000), enabled
-- (true), PyTorch's defaults and rules.
function GradScaler.new(opts)
  local who = 'brasa.amp.GradScaler'
  if opts == nil then opts = {} end
  if type(opts) ~= 'table' or brasa.is_tensor(opts) then
    fail('%s: options must be a table, got %s', who, describe(opts))
  end
  for k in pairs(opts) do
    if not SCALER_OPTIONS[k] then
      fail('%s: unknown option %s (options: init_scale, growth_factor, backoff_factor, growth_interval, enabled)',
        who, describe(k))
    end
  end
  local self = setmetatable({}, GradScaler)
  self._enabled = opts.enabled
  if self._enabled == nil then self._enabled = true end
  if type(self._enabled) ~= 'boolean' then fail('%s: enabled must be true or false, got %s', who, describe(opts.enabled)) end
  self._scale = f32(check_number(who, 'init_scale', opts.init_scale or 2.0^16,
    function(v) return v > 0 and finite(v) end, 'a finite number > 0'))
  self._growth_factor = check_number(who, 'growth_factor', opts.growth_factor or 2.0,
    function(v) return v > 1 and finite(v) end, 'a number > 1')
  self._backoff_factor = check_number(who, 'backoff_factor', opts.backoff_factor or 0.5,
    function(v) return v > 0 and v < 1 end, 'a number in (0, 1)')
  self._growth_interval = math.tointeger(check_number(who, 'growth_interval', opts.growth_interval or 2000,
    positive_integer, 'a positive integer'))
  self._growth_tracker = 0
  self._per_optimizer = setmetatable({}, {__mode = 'k'})
  return self
end

setmetatable(GradScaler, {__call = function(_, opts) return GradScaler.new(opts) end})

local function state_of(self, opt)
  local s = self._per_optimizer[opt]
  if not s then
    s = {stage = READY}
    self._per_optimizer[opt] = s
  end
  return s
end

local function check_optimizer(opt, who)
  if type(opt) ~= 'table' or type(opt.step) ~= 'function' or type(opt.param_groups) ~= 'table' then
    fail('%s: an optimiser expected (optim.Adam(...), say), got %s', who, describe(opt))
  end
end

--- scaler:scale(outputs) -> outputs * scale: a tensor, or a table of them
-- (each scaled); outputs itself when the scaler is disabled.
function GradScaler:scale(outputs)
  if not self._enabled then return outputs end
  if brasa.is_tensor(outputs) then return outputs * self._scale end
  if type(outputs) == 'table' then
    local out = {}
    for k, v in pairs(outputs) do out[k] = self:scale(v) end
    return out
  end
  fail('GradScaler:scale: outputs must be a tensor or a table of tensors, got %s', describe(outputs))
end

--- scaler:unscale_(optimizer): divides the gradients of optimizer's
-- parameters by the scale, in place, and records whether one of them is
-- infinite or NaN. Call it before clipping gradients; step then does not
-- unscale again.
function GradScaler:unscale_(opt)
  if not self._enabled then return end
  local who = 'GradScaler:unscale_'
  check_optimizer(opt, who)
  local s = state_of(self, opt)
  if s.stage == UNSCALED then
    fail('%s: unscale_() has already been called on this optimizer since the last update()', who)
  elseif s.stage == STEPPED then
    fail('%s: unscale_() is being called after step()', who)
  end
  local grads, seen = {}, {}
  for _, g in ipairs(opt.param_groups) do
    for _, p in ipairs(g.params or {}) do
      local gr = p.grad
      if gr ~= nil and not seen[gr] then
        seen[gr] = true
        grads[#grads + 1] = gr
      end
    end
  end
  s.found_inf = #grads > 0 and C.unscale(grads, f32(1 / self._scale)) or false
  s.checked = #grads > 0
  s.stage = UNSCALED
end

--- scaler:step(optimizer, ...) -> optimizer:step(...)'s result, or nil when
-- the step is skipped: unscales the gradients (unless unscale_ did) and
-- steps only when all of them are finite.
function GradScaler:step(opt, ...)
  local who = 'GradScaler:step'
  if not self._enabled then return opt:step(...) end
  check_optimizer(opt, who)
  if select('#', ...) > 0 then
    fail('%s: closures are not supported while the GradScaler is enabled (as in PyTorch)', who)
  end
  local s = state_of(self, opt)
  if s.stage == STEPPED then fail('%s: step() has already been called since the last update()', who) end
  if s.stage == READY then self:unscale_(opt) end
  if not s.checked then
    fail('%s: no inf checks were recorded for this optimizer (none of its parameters has a gradient)', who)
  end
  local ret
  if not s.found_inf then ret = opt:step() end
  s.stage = STEPPED
  return ret
end

--- scaler:update(new_scale?): the next scale. Without new_scale: times
-- backoff_factor when a step of this iteration found an inf or a NaN (and
-- the count of good steps restarts), times growth_factor after
-- growth_interval good steps in a row. new_scale (a number) sets it.
function GradScaler:update(new_scale)
  if not self._enabled then return end
  local who = 'GradScaler:update'
  if new_scale ~= nil then
    if brasa.is_tensor(new_scale) then new_scale = new_scale:item() end
    check_number(who, 'new_scale', new_scale, function(v) return v > 0 and finite(v) end, 'a finite number > 0')
    self._scale = f32(new_scale)
  else
    local any, found = false, false
    for _, s in pairs(self._per_optimizer) do
      if s.checked then
        any = true
        found = found or s.found_inf
      end
    end
    if not any then fail('%s: no inf checks were recorded prior to update()', who) end
    if found then   -- torch._amp_update_scale_
      self._scale = f32(self._scale * self._backoff_factor)
      self._growth_tracker = 0
    else
      local successful = self._growth_tracker + 1
      if successful == self._growth_interval then
        local grown = f32(self._scale * self._growth_factor)
        if finite(grown) then self._scale = grown end
        self._growth_tracker = 0
      else
        self._growth_tracker = successful
      end
    end
  end
  self._per_optimizer = setmetatable({}, {__mode = 'k'})
end

--- scaler:get_scale() -> the current scale (1 when disabled).
function GradScaler:get_scale() return self._enabled and self._scale or 1.0 end
--- scaler:is_enabled() -> boolean.
function GradScaler:is_enabled() return self._enabled end
function GradScaler:get_growth_factor() return self._growth_factor end
function GradScaler:get_backoff_factor() return self._backoff_factor end
function GradScaler:get_growth_interval() return self._growth_interval end

function GradScaler:set_growth_factor(v)
  self._growth_factor = check_number('GradScaler:set_growth_factor', 'growth_factor', v,
    function(x) return x > 1 and finite(x) end, 'a number > 1')
end

function GradScaler:set_backoff_factor(v)
  self._backoff_factor = check_number('GradScaler:set_backoff_factor', 'backoff_factor', v,
    function(x) return x > 0 and x < 1 end, 'a number in (0, 1)')
end

function GradScaler:set_growth_interval(v)
  self._growth_interval = math.tointeger(check_number('GradScaler:set_growth_interval', 'growth_interval', v,
    positive_integer, 'a positive integer'))
end

--- scaler:state_dict() -> {scale, growth_factor, backoff_factor,
-- growth_interval, _growth_tracker} (PyTorch's keys; {} when disabled).
function GradScaler:state_dict()
  if not self._enabled then return {} end
  return {scale = self._scale, growth_factor = self._growth_factor, backoff_factor = self._backoff_factor,
          growth_interval = self._growth_interval, _growth_tracker = self._growth_tracker}
end

--- scaler:load_state_dict(state): the state of scaler:state_dict().
function GradScaler:load_state_dict(sd)
  local who = 'GradScaler:load_state_dict'
  if not self._enabled then fail('%s: this GradScaler is disabled: it has no state to load', who) end
  if type(sd) ~= 'table' then fail('%s: a state table expected, got %s', who, describe(sd)) end
  if next(sd) == nil then
    fail('%s: the state is empty, possibly because it was saved from a disabled GradScaler', who)
  end
  for _, k in ipairs {'scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker'} do
    if type(sd[k]) ~= 'number' then fail('%s: the state lacks the number %s', who, k) end
  end
  self._scale = f32(sd.scale)
  self._growth_factor = sd.growth_factor
  self._backoff_factor = sd.backoff_factor
  self._growth_interval = math.tointeger(sd.growth_interval) or sd.growth_interval
  self._growth_tracker = math.tointeger(sd._growth_tracker) or sd._growth_tracker
end

function GradScaler:__tostring()
  if not self._enabled then return 'GradScaler (disabled)' end
  return string.format('GradScaler (scale %g, growth x%g every %d good steps, backoff x%g; %d good steps so far)',
    self._scale, self._growth_factor, self._growth_interval, self._backoff_factor, self._growth_tracker)
end

-- Help entries (lua/brasa/docs/amp.lua), bound to the values above.
local ok, docs = pcall(require, 'brasa.docs.amp')
if ok and type(docs) == 'table' and docs.bind then docs.bind(M) end

return M
