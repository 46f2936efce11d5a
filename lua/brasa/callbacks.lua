-- brasa.callbacks: code that model:fit runs at fixed points of training.
--
--   local cb = brasa.callbacks
--   model:fit(train, {..., validation_split = 0.2, callbacks = {
--     cb.EarlyStopping{monitor = 'val_loss', patience = 3, restore_best_weights = true},
--     cb.ModelCheckpoint{'best.safetensors', save_best_only = true},
--     cb.ReduceLROnPlateau{factor = 0.5, patience = 2},
--     cb.CSVLogger('log.csv'),
--   }})
--
-- A callback is a table with any of these methods; fit calls them in this
-- order, callback after callback in the order of the list:
--
--   on_train_begin(logs)
--     on_epoch_begin(epoch, logs)
--       on_train_batch_begin(batch, logs)     batch 1, 2, ... of the epoch
--       on_train_batch_end(batch, logs)       logs.loss: the batch's loss
--     on_epoch_end(epoch, logs)               logs: loss, metrics, val_*, lr, time
--   on_train_end(logs)
--
-- Epochs and batches are 1-based. Before on_train_begin, fit sets
-- cb.trainer (the run: .model, .optimizer, .params = {epochs, steps,
-- samples, batch_size}, .history, .epoch, :message(text), :set_lr(lr),
-- :get_lr()) and cb.model. Setting cb.trainer.stop_training = true ends the
-- run after the current batch (or epoch, from on_epoch_end).
--
-- A callback of your own: callbacks.Callback:extend() gives a class whose
-- instances have no-op defaults for every method; or use LambdaCallback.

local callbacks = {}

local function fail(msg) error(msg, 3) end

---------------------------------------------------------------------------
-- The base class
---------------------------------------------------------------------------

local Callback = {}
Callback.__index = Callback
callbacks.Callback = Callback

--- Callback:extend(name?) -> a class: instances made with Class.new(fields)
-- or Class(fields) get Callback's no-op methods unless they define their own.
function Callback:extend(name)
  local cls = setmetatable({__name = name or 'Callback'}, {__index = self, __call = function(c, ...)
    return c.new(...)
  end})
  cls.__index = cls
  cls.new = function(fields) return setmetatable(fields or {}, cls) end
  return cls
end

--- Callback.new(fields?) -> an instance of the class it is called on.
function Callback.new(fields)
  return setmetatable(fields or {}, Callback)
end

function Callback:set_trainer(trainer)
  self.trainer = trainer
  self.model = trainer.model
end
function Callback:on_train_begin(logs) end
function Callback:on_train_end(logs) end
function Callback:on_epoch_begin(epoch, logs) end
function Callback:on_epoch_end(epoch, logs) end
function Callback:on_train_batch_begin(batch, logs) end
function Callback:on_train_batch_end(batch, logs) end

-- Says text through the trainer (which knows the progress display).
function Callback:say(text)
  if self.verbose == 0 then return end
  if self.trainer and self.trainer.message then self.trainer:message(text) else print(text) end
end

-- A class with a constructor that takes a table of options.
local function class(name, init)
  local cls = Callback:extend(name)
  cls.new = function(opts, ...)
    local self = setmetatable({}, cls)
    init(self, opts, ...)
    return self
  end
  return cls
end

---------------------------------------------------------------------------
-- Monitoring a quantity (shared by EarlyStopping, ModelCheckpoint and
-- ReduceLROnPlateau)
---------------------------------------------------------------------------

local MAXIMISED = {'acc', 'auc', 'f1', 'precision', 'recall', 'r2'}

-- 'min' or 'max' for a monitored name and a mode ('auto': 'max' for
-- accuracies and other scores, 'min' for losses and errors).
local function resolve_mode(monitor, mode, who)
  mode = mode or 'auto'
  if mode == 'min' or mode == 'max' then return mode end
  if mode ~= 'auto' then fail(string.format("%s: mode must be 'auto', 'min' or 'max', got %s", who, tostring(mode))) end
  for _, s in ipairs(MAXIMISED) do
    if monitor:find(s, 1, true) and not monitor:find('loss', 1, true) then return 'max' end
  end
  return 'min'
end

-- Whether current improves on best by more than min_delta.
local function improves(mode, current, best, min_delta)
  if current ~= current then return false end
  if best == nil then return true end
  if mode == 'min' then return current < best - min_delta end
  return current > best + min_delta
end

-- The monitored value of logs, or nil with a warning (once) naming what
-- the logs have.
local function monitored(self, logs, who)
  local v = logs[self.monitor]
  if type(v) == 'number' then return v end
  if not self.warned then
    self.warned = true
    local names = {}
    for k, x in pairs(logs) do if type(x) == 'number' then names[#names + 1] = k end end
    table.sort(names)
    local hint = self.monitor:match('^val_') and ' (give fit validation_split or validation_data)' or ''
    self:say(string.format("%s: '%s' is not in the logs (they have %s)%s", who, self.monitor,
      table.concat(names, ', '), hint))
  end
  return nil
end

-- A verbose option as a number (true is 1, false 0).
local function verbosity(v, default)
  if v == nil then return default end
  if v == true then return 1 end
  if v == false then return 0 end
  return tonumber(v) or default
end

local function options(opts, who)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then fail(who .. ': options must be a table, got ' .. type(opts)) end
  return opts
end

-- A copy of every tensor of the model's state (clones, not views).
local function snapshot(model)
  local copy = {}
  for name, t in pairs(model:state_dict()) do copy[name] = t:clone() end
  return copy
end

---------------------------------------------------------------------------
-- EarlyStopping
---------------------------------------------------------------------------

--- callbacks.EarlyStopping{monitor = 'val_loss', min_delta = 0, patience = 0,
-- mode = 'auto', baseline = nil, restore_best_weights = false, verbose = 1}
-- stops training when the monitored value has not improved (by more than
-- min_delta) for patience epochs. With restore_best_weights the model ends
-- with the weights of its best epoch, whether training stopped early or
-- ran all its epochs. Fields after training: best, best_epoch, stopped_epoch.
callbacks.EarlyStopping = class('EarlyStopping', function(self, opts)
  opts = options(opts, 'EarlyStopping')
  self.monitor = opts.monitor or 'val_loss'
  self.min_delta = math.abs(opts.min_delta or 0)
  self.patience = opts.patience or 0
  self.mode = resolve_mode(self.monitor, opts.mode, 'EarlyStopping')
  self.baseline = opts.baseline
  self.restore_best_weights = opts.restore_best_weights or false
  self.verbose = verbosity(opts.verbose, 1)
end)
local EarlyStopping = callbacks.EarlyStopping

function EarlyStopping:on_train_begin()
  self.wait, self.stopped_epoch, self.best_epoch = 0, nil, nil
  self.best, self.best_weights, self.last_epoch = self.baseline, nil, nil
end

function EarlyStopping:on_epoch_end(epoch, logs)
  self.last_epoch = epoch
  local v = monitored(self, logs, 'EarlyStopping')
  if v == nil then return end
  if improves(self.mode, v, self.best, self.min_delta) then
    self.best, self.best_epoch, self.wait = v, epoch, 0
    if self.restore_best_weights then self.best_weights = snapshot(self.model) end
    return
  end
  self.wait = self.wait + 1
  if self.wait >= math.max(self.patience, 1) then
    self.stopped_epoch = epoch
    self.trainer.stop_training = true
    self:say(string.format('EarlyStopping: %s has not improved for %d epoch%s (best %s at epoch %s): stopping',
      self.monitor, self.wait, self.wait == 1 and '' or 's',
      self.best and string.format('%.4g', self.best) or '-', tostring(self.best_epoch or '-')))
  end
end

function EarlyStopping:on_train_end()
  if self.restore_best_weights and self.best_weights and self.best_epoch ~= self.last_epoch then
    self.model:load_state_dict(self.best_weights)
    self:say(string.format('EarlyStopping: restored the weights of epoch %d (%s %.4g)',
      self.best_epoch, self.monitor, self.best))
  end
  self.best_weights = nil
end

---------------------------------------------------------------------------
-- ModelCheckpoint
---------------------------------------------------------------------------

-- Fills '{epoch}', '{epoch:02d}', '{val_loss:.4f}' in a file name.
local function fill_path(path, epoch, logs)
  return (path:gsub('{([%w_]+):?([^}]*)}', function(name, fmt)
    local v = name == 'epoch' and epoch or logs[name]
    if v == nil then return '{' .. name .. '}' end
    if fmt ~= '' then return string.format('%' .. fmt, v) end
    return tostring(v)
  end))
end
callbacks.fill_path = fill_path

--- callbacks.ModelCheckpoint{filepath, monitor = 'val_loss', save_best_only
-- = false, save_weights_only = false, include_optimizer = true, mode =
-- 'auto', verbose = 1} saves the model (model:save: architecture, weights
-- and, unless save_weights_only or include_optimizer = false, the
-- optimiser's state) at each epoch end, or only when the monitored value
-- improves. filepath may name values: 'ckpt-{epoch:02d}-{val_loss:.3f}.safetensors'.
-- Each write is atomic: a crash leaves the previous file whole.
callbacks.ModelCheckpoint = class('ModelCheckpoint', function(self, opts)
  if type(opts) == 'string' then opts = {opts} end
  opts = options(opts, 'ModelCheckpoint')
  self.filepath = opts.filepath or opts[1]
  if type(self.filepath) ~= 'string' then fail('ModelCheckpoint: a file path (string) expected') end
  self.monitor = opts.monitor or 'val_loss'
  self.save_best_only = opts.save_best_only or false
  self.save_weights_only = opts.save_weights_only or false
  self.include_optimizer = opts.include_optimizer ~= false
  self.mode = resolve_mode(self.monitor, opts.mode, 'ModelCheckpoint')
  self.min_delta = 0
  self.verbose = verbosity(opts.verbose, 1)
end)
local ModelCheckpoint = callbacks.ModelCheckpoint

function ModelCheckpoint:on_train_begin()
  self.best, self.last_path = nil, nil
end

function ModelCheckpoint:save(path)
  local serialize = require 'brasa.serialize'
  if self.save_weights_only then
    serialize.save_weights(self.model, path)
  else
    serialize.save(self.model, path, {optimizer = self.include_optimizer and self.trainer.optimizer or nil})
  end
  self.last_path = path
end

function ModelCheckpoint:on_epoch_end(epoch, logs)
  local path = fill_path(self.filepath, epoch, logs)
  if not self.save_best_only then
    self:save(path)
    return
  end
  local v = monitored(self, logs, 'ModelCheckpoint')
  if v == nil then return end
  if improves(self.mode, v, self.best, self.min_delta) then
    local old = self.best
    self.best = v
    self:save(path)
    -- verbose 1 tells improvements, 2 the first save too
    if self.verbose > 1 or (self.verbose == 1 and old ~= nil) then
      self:say(string.format('ModelCheckpoint: %s improved from %.4g to %.4g, saved %s',
        self.monitor, old or 0 / 0, v, path))
    end
  end
end

---------------------------------------------------------------------------
-- Learning rates
---------------------------------------------------------------------------

--- callbacks.ReduceLROnPlateau{monitor = 'val_loss', factor = 0.1, patience
-- = 10, mode = 'auto', min_delta = 1e-4, cooldown = 0, min_lr = 0, verbose
-- = 1} multiplies every parameter group's lr by factor when the monitored
-- value has not improved for patience epochs, then waits cooldown epochs.
callbacks.ReduceLROnPlateau = class('ReduceLROnPlateau', function(self, opts)
  opts = options(opts, 'ReduceLROnPlateau')
  self.monitor = opts.monitor or 'val_loss'
  self.factor = opts.factor or 0.1
  if self.factor >= 1 then fail('ReduceLROnPlateau: factor must be below 1, got ' .. tostring(self.factor)) end
  self.patience = opts.patience or 10
  self.mode = resolve_mode(self.monitor, opts.mode, 'ReduceLROnPlateau')
  self.min_delta = math.abs(opts.min_delta or 1e-4)
  self.cooldown = opts.cooldown or 0
  self.min_lr = opts.min_lr or 0
  self.verbose = verbosity(opts.verbose, 1)
end)
local ReduceLROnPlateau = callbacks.ReduceLROnPlateau

function ReduceLROnPlateau:on_train_begin()
  self.best, self.wait, self.cooldown_left = nil, 0, 0
end

function ReduceLROnPlateau:on_epoch_end(epoch, logs)
  local v = monitored(self, logs, 'ReduceLROnPlateau')
  if v == nil then return end
  if self.cooldown_left > 0 then
    self.cooldown_left = self.cooldown_left - 1
    self.wait = 0
  end
  if improves(self.mode, v, self.best, self.min_delta) then
    self.best, self.wait = v, 0
    return
  end
  if self.cooldown_left > 0 then return end
  self.wait = self.wait + 1
  if self.wait >= self.patience then
    local old = self.trainer:get_lr()
    local new = math.max(old * self.factor, self.min_lr)
    if old - new > 1e-12 * old then
      self.trainer:set_lr(function(lr) return math.max(lr * self.factor, self.min_lr) end)
      self:say(string.format('ReduceLROnPlateau: epoch %d: learning rate %.4g -> %.4g', epoch, old, new))
    end
    self.cooldown_left, self.wait = self.cooldown, 0
  end
end

--- callbacks.LearningRateScheduler(schedule, {verbose = 0}) sets the
-- learning rate at the start of each epoch to schedule(epoch, lr) (epoch
-- 1-based, lr the current rate). schedule may instead be a scheduler of
-- brasa.optim (an object with a step method): its step() runs after each
-- epoch.
callbacks.LearningRateScheduler = class('LearningRateScheduler', function(self, schedule, opts)
  if type(schedule) == 'table' and schedule.schedule ~= nil and opts == nil then   -- {schedule = f}
    schedule, opts = schedule.schedule, schedule
  end
  local callable = type(schedule) == 'function' or (type(schedule) == 'table' and schedule.step)
  if not callable then
    fail('LearningRateScheduler: a function schedule(epoch, lr) or a scheduler with step() expected')
  end
  self.schedule = schedule
  opts = options(opts, 'LearningRateScheduler')
  self.verbose = verbosity(opts.verbose, 0)
end)
local LearningRateScheduler = callbacks.LearningRateScheduler

function LearningRateScheduler:on_epoch_begin(epoch)
  if type(self.schedule) ~= 'function' then return end
  local old = self.trainer:get_lr()
  local new = self.schedule(epoch, old)
  if type(new) ~= 'number' or new ~= new then
    error(string.format('LearningRateScheduler: schedule(%d, %g) returned %s, not a number', epoch, old,
      tostring(new)), 0)
  end
  self.trainer:set_lr(new)
  if self.verbose > 0 then
    self:say(string.format('LearningRateScheduler: epoch %d: learning rate %.4g', epoch, new))
  end
end

function LearningRateScheduler:on_epoch_end()
  if type(self.schedule) == 'table' then self.schedule:step() end
end

---------------------------------------------------------------------------
-- Logging and the rest
---------------------------------------------------------------------------

-- Formats a value for a CSV cell.
local function cell(v)
  if type(v) == 'number' then
    if math.type(v) == 'integer' then return tostring(v) end
    local s = string.format('%.15g', v)      -- the shortest form that reads back the same
    if tonumber(s) ~= v then s = string.format('%.17g', v) end
    return s
  end
  return tostring(v == nil and '' or v)
end

--- callbacks.CSVLogger(filename, {separator = ',', append = false}) writes
-- one line per epoch: epoch, then the logs (loss, metrics, val_*, lr,
-- time), with a header line first (not repeated when appending to a file
-- that has one). The file is flushed after each line.
callbacks.CSVLogger = class('CSVLogger', function(self, filename, opts)
  if type(filename) == 'table' then filename, opts = filename[1] or filename.filename, filename end
  if type(filename) ~= 'string' then fail('CSVLogger: a file name (string) expected') end
  opts = options(opts, 'CSVLogger')
  self.filename = filename
  self.separator = opts.separator or ','
  self.append = opts.append or false
end)
local CSVLogger = callbacks.CSVLogger

-- The cells of a line split at sep (plain text, not a pattern).
local function split(line, sep)
  local out, start = {}, 1
  while true do
    local i = line:find(sep, start, true)
    if not i then out[#out + 1] = line:sub(start); return out end
    out[#out + 1] = line:sub(start, i - 1)
    start = i + #sep
  end
end

-- The header of an existing file (its columns after epoch), or nil.
local function existing_columns(path, sep)
  local f = io.open(path, 'r')
  if not f then return nil end
  local first = f:read('l')
  f:close()
  if not first or first == '' then return nil end
  local cols = split(first, sep)
  table.remove(cols, 1)   -- epoch
  return cols
end

function CSVLogger:on_train_begin()
  self.columns = self.append and existing_columns(self.filename, self.separator) or nil
  self.header_written = self.columns ~= nil
  local f, err = io.open(self.filename, self.append and 'a' or 'w')
  if not f then error('CSVLogger: cannot open ' .. tostring(err), 0) end
  self.file = f
end

function CSVLogger:on_epoch_end(epoch, logs)
  if not self.columns then
    self.columns = {}
    for _, name in ipairs(self.trainer and self.trainer.log_names or {}) do
      if logs[name] ~= nil then self.columns[#self.columns + 1] = name end
    end
    local extra = {}
    local have = {}
    for _, c in ipairs(self.columns) do have[c] = true end
    for k in pairs(logs) do if not have[k] then extra[#extra + 1] = k end end
    table.sort(extra)
    for _, k in ipairs(extra) do self.columns[#self.columns + 1] = k end
  end
  if not self.header_written then
    self.file:write('epoch', self.separator, table.concat(self.columns, self.separator), '\n')
    self.header_written = true
  end
  local row = {cell(epoch)}
  for _, c in ipairs(self.columns) do row[#row + 1] = cell(logs[c]) end
  self.file:write(table.concat(row, self.separator), '\n')
  self.file:flush()
end

function CSVLogger:on_train_end()
  if self.file then self.file:close() end
  self.file = nil
end

local HOOKS = {'on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_epoch_end',
               'on_train_batch_begin', 'on_train_batch_end'}
callbacks.HOOKS = HOOKS

--- callbacks.LambdaCallback{on_epoch_end = function(epoch, logs, trainer) ... end, ...}
-- runs the functions given for any of the hooks (on_train_begin(logs),
-- on_train_end(logs), on_epoch_begin(epoch, logs), on_epoch_end(epoch,
-- logs), on_train_batch_begin(batch, logs), on_train_batch_end(batch,
-- logs); on_batch_begin / on_batch_end are accepted too). Each also gets
-- the trainer as its last argument.
callbacks.LambdaCallback = class('LambdaCallback', function(self, opts)
  opts = options(opts, 'LambdaCallback')
  opts.on_train_batch_begin = opts.on_train_batch_begin or opts.on_batch_begin
  opts.on_train_batch_end = opts.on_train_batch_end or opts.on_batch_end
  for _, hook in ipairs(HOOKS) do
    local fn = opts[hook]
    if fn ~= nil then
      if type(fn) ~= 'function' then fail('LambdaCallback: ' .. hook .. ' must be a function') end
      if hook == 'on_train_begin' or hook == 'on_train_end' then
        self[hook] = function(cb, logs) return fn(logs, cb.trainer) end
      else
        self[hook] = function(cb, n, logs) return fn(n, logs, cb.trainer) end
      end
    end
  end
end)

--- callbacks.TerminateOnNaN() stops training when a batch's loss is NaN or
-- infinite, before that batch's optimiser step, with a message naming the
-- epoch and the batch. fit uses one by default (fit's terminate_on_nan =
-- false turns it off); listing it changes nothing.
callbacks.TerminateOnNaN = class('TerminateOnNaN', function(self, opts)
  opts = options(opts, 'TerminateOnNaN')
  self.verbose = verbosity(opts.verbose, 1)
end)
local TerminateOnNaN = callbacks.TerminateOnNaN

--- TerminateOnNaN:check(epoch, batch, loss) -> true when loss is not
-- finite (then it stops the run and says so). fit calls it for every batch
-- before the backward pass.
function TerminateOnNaN:check(epoch, batch, loss)
  if loss == loss and loss ~= math.huge and loss ~= -math.huge then return false end
  self.epoch, self.batch = epoch, batch
  self.trainer.stop_training = true
  self.trainer.stop_reason = 'nan'
  local what = loss ~= loss and 'NaN' or (loss > 0 and 'inf' or '-inf')
  self:say(string.format("TerminateOnNaN: the loss is %s at epoch %d, batch %d: training stopped "
    .. "before that batch's optimiser step", what, epoch, batch))
  return true
end

return callbacks
