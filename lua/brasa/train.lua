-- brasa.train: model:fit, model:evaluate and model:predict, Keras-style.
--
--   local train, test = brasa.data.fashion_mnist()
--   local hist = model:fit(train, {
--     loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 1e-3}),
--     epochs = 5, batch_size = 128, validation_split = 0.1, metrics = {'accuracy'},
--     callbacks = {brasa.callbacks.EarlyStopping{patience = 2, restore_best_weights = true}},
--   })
--   print(hist.history.val_accuracy[#hist.epoch])
--   print(model:evaluate(test))              -- {loss = 0.33, accuracy = 0.88}
--   local scores = model:predict(test.x)     -- N x 10
--
-- What fit does is the plain loop below, written once with its
-- bookkeeping; the loop is just as first-class, and fit adds nothing to it
-- that a hand-written loop could not do:
--
--   for epoch = 1, 5 do
--     model:train()
--     for xb, yb in loader:iter() do
--       opt:zero_grad()
--       local loss = loss_fn(model(xb), yb)
--       loss:backward()
--       opt:step()
--     end
--   end
--
-- Data: a table {x =, y =} (what the loaders return), fit(x, y, opts) as in
-- Keras, a data set ({len =, get =}, brasa.data.TensorDataset) or a
-- brasa.data.DataLoader (then batch_size and shuffle are the loader's).
--
-- Batches go to the device of the model's parameters (model:cuda(), or
-- the option device = 'cuda', which moves the model first), so data sets
-- stay in CPU memory; the loaders fit makes stage them (pinned memory,
-- copies that overlap the kernels). On a device, losses and metrics are
-- read back a few batches at a time, not after every batch (see
-- flush_pending); predict returns CPU outputs for CPU inputs.
--
-- amp = true trains in mixed precision (brasa.amp): the forward pass and
-- the loss run under autocast (f16 on a GPU, with a GradScaler that skips
-- the steps whose gradients overflow; bf16 on the CPU, which needs no loss
-- scaling), backward and the optimiser step outside it, on f32 parameters.
-- Validation and evaluate run in full precision.
--
-- The training loss includes model:regularization_loss() when the model
-- has regularisers (Keras's kernel_regularizer), and so do val_loss and
-- evaluate's loss, as in Keras.
--
-- Ctrl-C in the brasa REPL: the first press stops training after the
-- current batch and fit returns the History of the epochs completed; a
-- second press interrupts at once. An optimiser step is never left half
-- applied, and the model stays usable. Under plain lua, Ctrl-C ends the
-- process as usual.

local brasa = require 'brasa'
local progress = require 'brasa.progress'
local callbacks = require 'brasa.callbacks'
local metrics_mod = require 'brasa.metrics'
local serialize = require 'brasa.serialize'

local M = {}

local is_tensor = brasa.is_tensor

-- What the last fit of each model used (evaluate's defaults).
local last_fit = setmetatable({}, {__mode = 'k'})

-- The stack level of the first caller outside brasa's Lua library, so
-- that an error points at the user's line.
local function user_level()
  local level = 3
  while true do
    local info = debug.getinfo(level, 'S')
    if not info then return 1 end
    local src = info.source
    if info.what ~= 'C' and not (src:find('/brasa/', 1, true) or src:find('^@brasa/')) then return level - 1 end
    level = level + 1
  end
end

local function fail(msg) error(msg, user_level()) end

---------------------------------------------------------------------------
-- History
---------------------------------------------------------------------------

local History = {}
History.__index = History
History.__name = 'History'
M.History = History

--- History.new(params) -> an empty history: .history (name -> list of
-- numbers, one per epoch), .epoch ({1, 2, ...}), .params (epochs, steps,
-- samples, batch_size).
function History.new(params)
  return setmetatable({history = {}, epoch = {}, params = params or {}, names = {}}, History)
end

--- History:record(epoch, logs, names): appends the values of an epoch
-- (names: the order of the keys; others after them, sorted).
function History:record(epoch, logs, names)
  self.epoch[#self.epoch + 1] = epoch
  local i = #self.epoch
  for _, name in ipairs(names) do
    local v = logs[name]
    if v ~= nil then
      if not self.history[name] then
        self.history[name] = {}
        self.names[#self.names + 1] = name
      end
      self.history[name][i] = v
    end
  end
end

--- History:last(name) -> the value of name at the last epoch (nil if none).
function History:last(name)
  local h = self.history[name]
  return h and h[#self.epoch]
end

--- History:best(name, mode?) -> value, epoch: the lowest value of name
-- ('max' mode: the highest; the default is 'max' for accuracies and
-- scores, 'min' for losses and errors).
function History:best(name, mode)
  local h = self.history[name]
  if not h then return nil end
  if mode == nil then
    mode = (name:find('acc') or name:find('auc') or name:find('f1') or name:find('precision') or
            name:find('recall') or name:find('r2')) and not name:find('loss') and 'max' or 'min'
  end
  local best, at
  for i = 1, #self.epoch do
    local v = h[i]
    if v ~= nil and v == v and (best == nil or (mode == 'min' and v < best) or (mode == 'max' and v > best)) then
      best, at = v, self.epoch[i]
    end
  end
  return best, at
end

--- History:curves() -> a history with the curves worth drawing: loss,
-- metrics and their val_ twins, and lr when it changed (time left out).
function History:curves()
  local h = {}
  for name, list in pairs(self.history) do
    if name == 'lr' then
      local changed = false
      for i = 2, #list do if list[i] ~= list[1] then changed = true end end
      if changed then h[name] = list end
    elseif name ~= 'time' then
      h[name] = list
    end
  end
  return {history = h, epoch = self.epoch}
end

--- History:plot(opts?): the training curves through brasa.plot.history.
function History:plot(opts)
  return brasa.plot.history(self:curves(), opts)
end

function History:__tostring()
  local names = self.names
  if #self.epoch == 0 then return 'History (no epoch)' end
  local head = {'epoch'}
  for _, n in ipairs(names) do head[#head + 1] = n end
  local widths = {}
  for i, h in ipairs(head) do widths[i] = math.max(#h, 7) end
  local lines = {}
  local function row(cells)
    local parts = {}
    for i, c in ipairs(cells) do parts[i] = string.rep(' ', widths[i] - #c) .. c end
    lines[#lines + 1] = table.concat(parts, '  ')
  end
  row(head)
  for i, e in ipairs(self.epoch) do
    local cells = {tostring(e)}
    for _, n in ipairs(names) do
      local v = self.history[n][i]
      cells[#cells + 1] = v == nil and '' or progress.format_number(v)
    end
    row(cells)
  end
  local tail = self.stop_reason and ('\n(stopped: ' .. self.stop_reason .. ')') or ''
  return 'History\n' .. table.concat(lines, '\n') .. tail
end

---------------------------------------------------------------------------
-- Results of evaluate
---------------------------------------------------------------------------

-- A results table: plain fields name = number, printed in order.
local function new_results(values, order)
  local r = {}
  for k, v in pairs(values) do r[k] = v end
  -- the order lives in the metatable: pairs(r) shows only the numbers
  local mt = {__name = 'Results'}
  mt.__tostring = function(t)
    local parts = {}
    for _, name in ipairs(order) do
      local v = rawget(t, name)
      if v ~= nil then parts[#parts + 1] = name .. ' = ' .. progress.format_number(v) end
    end
    return '{' .. table.concat(parts, ', ') .. '}'
  end
  return setmetatable(r, mt)
end

---------------------------------------------------------------------------
-- Data
---------------------------------------------------------------------------

local function data_mod() return brasa.data end

local function is_loader(v)
  local d = data_mod()
  return type(d.is_loader) == 'function' and d.is_loader(v)
end

local function is_dataset(v)
  return type(v) == 'table' and type(v.len) == 'function' and type(v.get) == 'function'
end

-- The first size of a tensor (its number of examples).
local function rows(t) return t.shape[1] end

-- Checks a {x =, y =} table; returns x, y (y may be nil for predict).
local function xy_of(d, who, need_y)
  local x, y = d.x, d.y
  if x == nil and is_tensor(d[1]) then x, y = d[1], d[2] end   -- {x, y}, as Keras's tuple
  if not is_tensor(x) then fail(who .. ': data.x must be a tensor, got ' .. type(x)) end
  if #x.shape == 0 then fail(who .. ': data.x is 0-dim: it needs a first dim of examples') end
  if need_y then
    if not is_tensor(y) then fail(who .. ': data.y must be a tensor, got ' .. type(y)) end
    if #y.shape == 0 or rows(y) ~= rows(x) then
      fail(string.format('%s: x has %d examples but y has %s', who, rows(x),
        #y.shape == 0 and 'none (0-dim)' or tostring(rows(y))))
    end
  end
  return x, y
end

-- The first n examples of a data set, and the rest (a data set or a
-- TensorDataset, whose tensors are narrowed so batches stay fast).
local function split_dataset(ds, n_first)
  local n = ds.len()
  local d = data_mod()
  if ds.tensors then
    local a, b = {}, {}
    for i, t in ipairs(ds.tensors) do
      a[i], b[i] = t:narrow(1, 1, n_first), t:narrow(1, n_first + 1, n - n_first)
    end
    local function make(list)
      if ds.names then
        local named = {}
        for i, name in ipairs(ds.names) do named[name] = list[i] end
        return d.TensorDataset(named)
      end
      return d.TensorDataset(table.unpack(list))
    end
    return make(a), make(b)
  end
  local function subset(first, count)
    return {len = function() return count end, get = function(i) return ds.get(first + i - 1) end}
  end
  return subset(1, n_first), subset(n_first + 1, n - n_first)
end

-- A data set from fit's data argument (a table {x, y}, a data set).
local function as_dataset(data, who)
  if is_dataset(data) then return data end
  if type(data) == 'table' then
    local x, y = xy_of(data, who, true)
    return data_mod().TensorDataset(x, y)
  end
  fail(who .. ': data must be a table {x =, y =}, a data set or a DataLoader, got ' .. type(data))
end

-- A loader over a data set. Batches are gathered on the calling thread:
-- handing each one over from the prefetch thread cost more (thread
-- wake-ups, measured 3-5x the CPU time per epoch on 2 cores) than the copy
-- it hides. A DataLoader given to fit keeps its own setting.
-- With a device, batches are staged there (the copy of the next batch
-- overlaps the kernels of this one: prefetching).
local function loader_for(ds, batch_size, shuffle, device)
  local o = {batch_size = batch_size, shuffle = shuffle, prefetch = false}
  if device then o.device, o.prefetch = device, true end
  return data_mod().DataLoader(ds, o)
end

-- The loaders of a fit: train, and validation (or nil).
local function fit_loaders(data, opts, who, device)
  local bs = opts.batch_size or 32
  if math.type(bs) ~= 'integer' and not (type(bs) == 'number' and bs == math.floor(bs) and bs >= 1) then
    fail(who .. ': batch_size must be a positive integer, got ' .. tostring(bs))
  end
  bs = math.tointeger(bs)
  local shuffle = opts.shuffle ~= false
  local train_loader, val_ds
  if is_loader(data) then
    if opts.validation_split then
      fail(who .. ': validation_split cannot cut a DataLoader: pass validation_data (a table {x =, y =}, '
        .. 'a data set or a DataLoader) instead')
    end
    if opts.batch_size and opts.batch_size ~= data.batch_size then
      fail(string.format('%s: batch_size comes from the DataLoader (%d), not opts (%s)', who,
        data.batch_size, tostring(opts.batch_size)))
    end
    if opts.shuffle ~= nil and (opts.shuffle and true or false) ~= data.shuffle then
      fail(string.format('%s: shuffling comes from the DataLoader (shuffle = %s), not opts', who,
        tostring(data.shuffle)))
    end
    train_loader = data
    bs = data.batch_size
  else
    local ds = as_dataset(data, who)
    local split = opts.validation_split
    if split then
      if type(split) ~= 'number' or split <= 0 or split >= 1 then
        fail(who .. ': validation_split must be a number between 0 and 1, got ' .. tostring(split))
      end
      local n = ds.len()
      local n_train = math.floor(n * (1 - split))
      if n_train < 1 or n_train >= n then
        fail(string.format('%s: validation_split = %g of %d examples leaves %d for training and %d for validation',
          who, split, n, n_train, n - n_train))
      end
      ds, val_ds = split_dataset(ds, n_train)
    end
    train_loader = loader_for(ds, bs, shuffle, device)
  end
  local vd = opts.validation_data
  if vd ~= nil then
    if val_ds then fail(who .. ': give validation_split or validation_data, not both') end
    val_ds = vd
  end
  local val_loader
  if val_ds ~= nil then
    val_loader = is_loader(val_ds) and val_ds or loader_for(as_dataset(val_ds, who .. ': validation_data'),
      math.max(bs, opts.validation_batch_size or 256), false, device)
  end
  return train_loader, val_loader, bs
end

-- A loader for evaluate and predict (x alone is allowed for predict).
local function eval_loader(data, opts, who, need_y, device)
  local bs = opts.batch_size or 256
  if is_loader(data) then return data end
  if is_dataset(data) then return loader_for(data, bs, false, device) end
  if is_tensor(data) then
    if need_y then fail(who .. ': targets needed: pass {x =, y =}, or (x, y)') end
    return loader_for(data_mod().TensorDataset(data), bs, false, device)
  end
  if type(data) == 'table' then
    local x, y = xy_of(data, who, need_y)
    local d = data_mod()
    local ds = y ~= nil and d.TensorDataset(x, y) or d.TensorDataset(x)
    return loader_for(ds, bs, false, device)
  end
  fail(who .. ': data must be a tensor, a table {x =, y =}, a data set or a DataLoader, got ' .. type(data))
end

-- The device of a model's parameters when it is not the CPU (batches are
-- moved there), else nil.
local function model_device(model)
  local p = model:parameters()[1]
  local d = p and p.device
  if d and d ~= 'cpu' then return d end
  return nil
end

-- v (a tensor, or a table of tensors) on device.
local function to_device(v, device)
  if device == nil or v == nil then return v end
  if is_tensor(v) then return v.device == device and v or v:to(device) end
  if type(v) == 'table' then
    local out = {}
    for k, x in pairs(v) do out[k] = to_device(x, device) end
    return out
  end
  return v
end

-- The number of examples in a batch value (a tensor, or a table of them).
local function batch_rows(v)
  if is_tensor(v) then return #v.shape > 0 and v.shape[1] or 1 end
  if type(v) == 'table' then
    for _, t in pairs(v) do if is_tensor(t) then return batch_rows(t) end end
  end
  return 1
end

---------------------------------------------------------------------------
-- Losses, optimisers, learning rates
---------------------------------------------------------------------------

local LOSS_NAMES = {
  cross_entropy = 'CrossEntropyLoss', crossentropy = 'CrossEntropyLoss',
  categorical_crossentropy = 'CrossEntropyLoss', sparse_categorical_crossentropy = 'CrossEntropyLoss',
  mse = 'MSELoss', mean_squared_error = 'MSELoss', mae = 'L1Loss', l1 = 'L1Loss',
  mean_absolute_error = 'L1Loss', bce = 'BCELoss', binary_crossentropy = 'BCELoss',
  bce_with_logits = 'BCEWithLogitsLoss', nll = 'NLLLoss', huber = 'HuberLoss', smooth_l1 = 'SmoothL1Loss',
}

-- A loss callable from a module, a function or a name.
local function resolve_loss(loss, who)
  if type(loss) == 'string' then
    local cls = LOSS_NAMES[loss:lower()]
    if not cls or not brasa.nn[cls] then
      local names = {}
      for k in pairs(LOSS_NAMES) do names[#names + 1] = k end
      table.sort(names)
      fail(string.format("%s: unknown loss '%s' (known: %s)", who, loss, table.concat(names, ', ')))
    end
    return brasa.nn[cls]()
  end
  local callable = type(loss) == 'function' or (type(loss) == 'table' and getmetatable(loss) and
    getmetatable(loss).__call)
  if not callable then
    fail(who .. ': loss must be a loss module (nn.CrossEntropyLoss()), a function(output, target) or a name, got '
      .. type(loss))
  end
  return loss
end

local OPTIM_NAMES = {adam = 'Adam', adamw = 'AdamW', sgd = 'SGD', rmsprop = 'RMSprop',
                     adagrad = 'Adagrad', adadelta = 'Adadelta'}

-- An optimiser from an optimiser, a name, or nil (Adam, lr 1e-3).
local function resolve_optimizer(opt, model, who)
  if opt == nil or type(opt) == 'string' then
    local name = OPTIM_NAMES[(opt or 'adam'):lower()]
    local cls = name and brasa.optim[name]
    if not cls then fail(string.format("%s: unknown optimizer '%s'", who, tostring(opt))) end
    return cls(model:parameters(), name == 'SGD' and {lr = 0.01} or {lr = 1e-3})
  end
  if type(opt) ~= 'table' or type(opt.step) ~= 'function' or type(opt.zero_grad) ~= 'function' then
    fail(who .. ': optimizer must be an optimiser (optim.Adam(model:parameters(), {lr = 1e-3})), got ' .. type(opt))
  end
  return opt
end

-- The learning rate of an optimiser's first group (nil if it has none).
local function get_lr(opt)
  local g = type(opt.param_groups) == 'table' and opt.param_groups[1]
  return g and type(g.lr) == 'number' and g.lr or nil
end

-- Sets the lr of every group: to v, or to v(old) when v is a function.
local function set_lr(opt, v)
  for _, g in ipairs(opt.param_groups or {}) do
    if type(v) == 'function' then g.lr = v(g.lr) else g.lr = v end
  end
end

-- Per-example weights of a batch from class_weight (a list or table by
-- class, or a tensor): 1-based classes index it; 0/1 float targets use
-- class_weight[0] and class_weight[1].
local function class_weight_fn(cw, who)
  if cw == nil then return nil end
  local lookup = {}
  if is_tensor(cw) then
    for i, v in ipairs(cw:double():totable()) do lookup[i] = v end
  elseif type(cw) == 'table' then
    for k, v in pairs(cw) do
      if math.type(k) ~= 'integer' or type(v) ~= 'number' then
        fail(who .. ': class_weight maps classes (integers) to weights (numbers)')
      end
      lookup[k] = v
    end
  else
    fail(who .. ': class_weight must be a table {[class] = weight} or a tensor')
  end
  local hi = 0
  for k in pairs(lookup) do hi = math.max(hi, k) end
  local vec = {}
  for c = 1, hi do vec[c] = lookup[c] or 1 end
  local wvec = brasa.tensor(#vec > 0 and vec or {1})
  local w0, w1 = lookup[0] or 1, lookup[1] or 1
  return function(yb)
    if not is_tensor(yb) then fail(who .. ': class_weight needs tensor targets') end
    local y = yb
    if #y.shape == 2 and y.shape[2] > 1 then y = y:argmax(2) end   -- one-hot
    y = y:reshape(-1)
    if y.dtype == 'f32' or y.dtype == 'f64' or y.dtype == 'f16' or y.dtype == 'bf16' or y.dtype == 'bool' then
      return y:float() * (w1 - w0) + w0                              -- binary 0/1 targets
    end
    if y:max():item() > hi or y:min():item() < 1 then
      fail(string.format('%s: class_weight gives weights for classes 1..%d, the targets go from %d to %d',
        who, hi, y:min():item(), y:max():item()))
    end
    return wvec:index_select(1, y)
  end
end

-- The same loss with reduction 'none' (for class_weight), from a brasa.nn
-- loss module.
local function per_example_loss(loss, who)
  local cls = type(loss) == 'table' and getmetatable(loss)
  if not (cls and type(loss.options) == 'table') then
    fail(who .. ': class_weight needs a loss module of brasa.nn (it computes a loss per example)')
  end
  local o = {}
  for k, v in pairs(loss.options) do o[k] = v end
  o.reduction = 'none'
  return cls(o)
end

---------------------------------------------------------------------------
-- Modes
---------------------------------------------------------------------------

-- The training flag of every module, to restore later.
local function save_modes(model)
  local list = {}
  for _, m in ipairs(model:modules()) do list[#list + 1] = {m, m.training} end
  return list
end

-- Restores what save_modes saw (parents first, so each module ends as it was).
local function restore_modes(list)
  for _, pair in ipairs(list) do
    local m, on = pair[1], pair[2]
    if m.training ~= on then
      m:train(on)
      -- train() sets the whole subtree; the children's own entries follow
    end
  end
end

---------------------------------------------------------------------------
-- The run (what callbacks see as `trainer`)
---------------------------------------------------------------------------

local Trainer = {}
Trainer.__index = Trainer

--- trainer:message(text): a line for the user, through the progress
-- display (silent with verbose = 0).
function Trainer:message(text)
  self.progress:message(text)
end

--- trainer:get_lr() -> the learning rate of the first parameter group.
function Trainer:get_lr() return get_lr(self.optimizer) end

--- trainer:set_lr(v): sets every group's learning rate (v a number, or
-- a function old -> new).
function Trainer:set_lr(v) set_lr(self.optimizer, v) end

-- The REPL's Ctrl-C helpers, when running inside the brasa executable.
local function repl_helpers()
  local r = rawget(_G, 'brasa_repl')
  if type(r) == 'table' and type(r.pending_interrupts) == 'function' and
     type(r.defer_interrupts) == 'function' then
    return r
  end
  return nil
end

-- Whether Ctrl-C was pressed since fit began.
function Trainer:interrupted()
  local r = self.repl
  return r ~= nil and r.pending_interrupts() > self.interrupt_base
end

-- A copy of the parameters and the optimiser's state.
local function snapshot(opt, params)
  local copies = {}
  for i, p in ipairs(params) do copies[i] = p:detach():clone() end
  local state = type(opt.state_dict) == 'function' and opt:state_dict() or nil
  return {params = copies, state = state}
end

local function restore_snapshot(opt, params, snap)
  brasa.no_grad(function()
    for i, p in ipairs(params) do p:copy(snap.params[i]) end
  end)
  if snap.state then opt:load_state_dict(snap.state) end
end

-- One optimiser step that is never left half applied. In the REPL the
-- step runs in a coroutine: the Lua hook a Ctrl-C sets on the main thread
-- cannot fire inside it. After a first Ctrl-C, a second may also stop a C
-- kernel mid-way: then the parameters and the optimiser's state are
-- copied first and put back if the step fails.
function Trainer:step()
  local opt, scaler = self.optimizer, self.scaler
  local function step()
    if scaler then   -- amp with f16: skipped when a gradient overflowed, then the scale moves
      scaler:step(opt)
      scaler:update()
    else
      opt:step()
    end
  end
  if not self.repl then
    step()
    return
  end
  local snap
  if self:interrupted() then snap = snapshot(opt, self.parameters) end
  local co = coroutine.create(step)
  local ok, err = coroutine.resume(co)
  if not ok then
    if snap then restore_snapshot(opt, self.parameters, snap) end
    error(err, 0)
  end
end

-- Calls hook on every callback that has it.
function Trainer:call(hook, a, b)
  for _, cb in ipairs(self.callbacks) do
    local fn = cb[hook]
    if fn then fn(cb, a, b) end
  end
end

---------------------------------------------------------------------------
-- Memory
---------------------------------------------------------------------------

-- The garbage of a training loop (batches, graphs, gradients) is freed
-- when Lua collects, and the binding collects once tensor memory has
-- doubled: with a data set in memory, garbage could grow as large as the
-- data. The loops below collect themselves whenever 16 MiB of tensor
-- memory has piled up since the last collection: a full collection of
-- Lua's small heap takes about 0.25 ms, and reusing memory while it is
-- still in cache made MLP epochs faster, not slower (0.87-0.92 s of CPU
-- against 0.98 s with 64 MiB; peak RSS +0 MiB against +110 MiB).
local GC_MARGIN = 16 << 20

-- A function to call after each batch; it collects when due.
local function memory_guard()
  local bytes = brasa.bytes_in_use
  if type(bytes) ~= 'function' then return function() end end
  local limit = bytes() + GC_MARGIN
  return function()
    if bytes() > limit then
      collectgarbage()
      limit = bytes() + GC_MARGIN
    end
  end
end

---------------------------------------------------------------------------
-- Batches and epochs
---------------------------------------------------------------------------

-- The running values shown during an epoch: loss and batch metrics.
local function running_logs(acc)
  local logs = {{'loss', acc.loss_sum / math.max(acc.seen, 1)}}
  for _, m in ipairs(acc.metrics) do
    if m.batch then logs[#logs + 1] = {m.name, m.value(m.sum, m.count)} end
  end
  return logs
end

-- Fresh accumulators for an epoch.
local function new_accumulators(metric_list)
  local ms = {}
  for i, spec in ipairs(metric_list) do
    ms[i] = {name = spec.name, batch = spec.batch, value = spec.value, epoch = spec.epoch,
             value_all = spec.value_all, sum = 0, count = 0, outs = {}, targets = {}}
  end
  return {loss_sum = 0, seen = 0, metrics = ms, pending = {}}
end

-- Adds a batch's outputs to the metric accumulators (no graph recorded).
local function update_metrics(acc, out, yb)
  if #acc.metrics == 0 then return end
  brasa.no_grad(function()
    local o = is_tensor(out) and out:detach() or out
    for _, m in ipairs(acc.metrics) do
      if m.batch then
        local s, n = m.batch(yb, o)
        m.sum, m.count = m.sum + s, m.count + n
      else
        m.outs[#m.outs + 1] = o
        m.targets[#m.targets + 1] = yb
      end
    end
  end)
end

-- On a GPU, reading a value back (x:item()) makes the CPU wait until the
-- GPU has run everything queued, and the GPU then idles while the next
-- batch is queued. So on a device, fit and evaluate keep each batch's loss
-- (a 0-dim tensor there) and outputs pending, and read them back together
-- (the losses in one copy): at each redraw of the progress bar, every
-- FLUSH_EVERY batches and at the end. Losses and metrics are the same as
-- per batch; the NaN guard sees each batch's loss, but after the steps of
-- the pending batches. A callback with batch hooks gets every batch's
-- loss at once (no deferral).
local FLUSH_EVERY = 32
-- Tests set this to defer on the CPU too (the values must not change).
M._defer_always = false

-- v with its tensors detached: a pending output keeps no graph alive.
local function detached(v)
  if is_tensor(v) then return v:detach() end
  if type(v) == 'table' then
    local out = {}
    for k, x in pairs(v) do out[k] = detached(x) end
    return out
  end
  return v
end

-- Notes batch k (n examples; loss a tensor, a number or nil) for flush_pending.
local function defer_batch(acc, k, n, loss, out, yb)
  if is_tensor(loss) and loss:numel() ~= 1 then loss:item() end   -- item's error, now
  local keep = #acc.metrics > 0
  local p = acc.pending
  p[#p + 1] = {k = k, n = n, loss = is_tensor(loss) and loss:detach() or loss,
               out = keep and detached(out) or nil, yb = keep and yb or nil}
end

-- Adds the pending batches to the accumulators, their losses read back in
-- one copy. With a guard, stops at a non-finite loss: returns true.
local function flush_pending(acc, guard, epoch)
  local p = acc.pending
  if #p == 0 then return false end
  acc.pending = {}
  local list, vals = {}, nil
  for _, e in ipairs(p) do
    if is_tensor(e.loss) then list[#list + 1] = e.loss:reshape(1) end
  end
  if #list > 0 then vals = brasa.cat(list, 1):cpu():totable() end
  local j = 0
  for _, e in ipairs(p) do
    local lv = e.loss
    if is_tensor(lv) then
      j = j + 1
      lv = vals[j]
    end
    if lv ~= nil then
      if guard and guard:check(epoch, e.k, lv) then return true end
      acc.loss_sum = acc.loss_sum + lv * e.n
    end
    acc.seen = acc.seen + e.n
    if e.out ~= nil then update_metrics(acc, e.out, e.yb) end
  end
  return false
end

-- The final values of an epoch's accumulators into logs (prefix 'val_' or '').
local function finish_metrics(acc, logs, prefix)
  for _, m in ipairs(acc.metrics) do
    local v
    if m.batch then
      v = m.value(m.sum, m.count)
    elseif #m.outs > 0 then
      v = m.value_all(brasa.cat(m.targets, 1), brasa.cat(m.outs, 1))
    end
    if v ~= nil then logs[prefix .. m.name] = v end
  end
end

-- The loss of a batch: the loss function, class weights, regularisers.
local function batch_loss(run, out, yb)
  local loss
  if run.class_weight then
    local per = run.per_example_loss(out, yb)
    local w = run.class_weight(yb)
    loss = (per:reshape(-1) * w):mean()
  else
    loss = run.loss(out, yb)
  end
  if not is_tensor(loss) then
    error(string.format('fit: the loss returned a %s, not a tensor', type(loss)), 0)
  end
  if run.regularized then loss = loss + run.model:regularization_loss() end
  return loss
end

-- Mixed precision (amp = true): the model's output and the loss of a
-- batch under autocast. The loss comes out in f32 (losses are f32 ops).
local function amp_forward(run, xb, yb)
  return brasa.amp.autocast(function()
    local out = run.model(xb)
    return out, batch_loss(run, out, yb)
  end, run.amp)
end

-- A half output in f32 for the metrics (a tensor, or a table of them).
local function as_f32(v)
  if is_tensor(v) then return (v.dtype == 'f16' or v.dtype == 'bf16') and v:float() or v end
  if type(v) == 'table' then
    local out = {}
    for k, x in pairs(v) do out[k] = as_f32(x) end
    return out
  end
  return v
end

-- Runs the epoch's batches; returns the accumulators and whether to stop.
local function train_epoch(run, epoch)
  local model, opt, prog = run.model, run.optimizer, run.progress
  local acc = new_accumulators(run.metric_specs)
  local batch_begin, batch_end = run.batch_begin, run.batch_end
  local guard = run.nan_guard
  local collect = memory_guard()
  local k = 0
  restore_modes(run.train_modes)
  local device, deferred = run.device, run.deferred
  for xb, yb in run.loader:iter() do
    if device then xb, yb = to_device(xb, device), to_device(yb, device) end
    k = k + 1
    local n = batch_rows(xb)
    if batch_begin then run:call('on_train_batch_begin', k, {size = n}) end
    opt:zero_grad()
    local out, loss
    if run.amp then
      out, loss = amp_forward(run, xb, yb)
    else
      out = model(xb)
      loss = batch_loss(run, out, yb)
    end
    local lv
    if not deferred then
      lv = loss:item()
      if guard and guard:check(epoch, k, lv) then return acc, true end
    end
    if run.scaler then run.scaler:scale(loss):backward() else loss:backward() end
    run:step()
    if run.amp and #acc.metrics > 0 then out = as_f32(out) end
    if deferred then
      defer_batch(acc, k, n, loss, out, yb)
      local due = prog.live and prog:due(k)
      if due or #acc.pending >= FLUSH_EVERY then
        if flush_pending(acc, guard, epoch) then return acc, true end
        if due then prog:draw(k, acc.seen, running_logs(acc)) end
      end
    else
      acc.loss_sum, acc.seen = acc.loss_sum + lv * n, acc.seen + n
      update_metrics(acc, out, yb)
      if batch_end then run:call('on_train_batch_end', k, {loss = lv, size = n}) end
      if prog.live and prog:due(k) then prog:draw(k, acc.seen, running_logs(acc)) end
    end
    collect()
    if run.repl and run:interrupted() then
      run.stop_reason = 'interrupted'
      run.interrupted_at = {epoch = epoch, batch = k}
      return acc, true
    end
    if run.stop_training then return acc, flush_pending(acc, guard, epoch) or true end
  end
  return acc, flush_pending(acc, guard, epoch)
end

-- Loss and metrics of a model over a loader, in eval mode, without a graph.
local function evaluate_loader(model, loader, loss_fn, metric_specs, regularized)
  local acc = new_accumulators(metric_specs)
  local collect = memory_guard()
  local device = model_device(model)
  brasa.no_grad(function()
    for xb, yb in loader:iter() do
      if device then xb, yb = to_device(xb, device), to_device(yb, device) end
      collect()
      local n = batch_rows(xb)
      local out = model(xb)
      local l = loss_fn and loss_fn(out, yb)
      if device or M._defer_always then   -- read back a few batches at a time (flush_pending)
        defer_batch(acc, 0, n, l or nil, out, yb)
        if #acc.pending >= FLUSH_EVERY then flush_pending(acc) end
      else
        if l then acc.loss_sum = acc.loss_sum + (is_tensor(l) and l:item() or l) * n end
        acc.seen = acc.seen + n
        update_metrics(acc, out, yb)
      end
    end
    flush_pending(acc)
  end)
  local logs = {}
  if loss_fn then
    local l = acc.loss_sum / math.max(acc.seen, 1)
    if regularized then l = l + brasa.no_grad(function() return model:regularization_loss():item() end) end
    logs.loss = l
  end
  finish_metrics(acc, logs, '')
  return logs, acc.seen
end

---------------------------------------------------------------------------
-- fit
---------------------------------------------------------------------------

local FIT_OPTIONS = {
  loss = true, optimizer = true, epochs = true, batch_size = true, shuffle = true,
  validation_split = true, validation_data = true, validation_batch_size = true, metrics = true,
  class_weight = true, callbacks = true, verbose = true, plot = true, terminate_on_nan = true,
  amp = true, device = true,
}

local function check_options(opts, who)
  if type(opts) ~= 'table' then fail(who .. ': options must be a table, got ' .. type(opts)) end
  for k in pairs(opts) do
    if not FIT_OPTIONS[k] then
      local known = {}
      for name in pairs(FIT_OPTIONS) do known[#known + 1] = name end
      table.sort(known)
      fail(string.format("%s: unknown option '%s' (options: %s)", who, tostring(k), table.concat(known, ', ')))
    end
  end
end

-- Whether the model has regularisers (a penalty that depends on parameters).
local function has_regularizers(model)
  if type(model.regularization_loss) ~= 'function' then return false end
  local r = model:regularization_loss()
  return is_tensor(r) and r.requires_grad
end

-- The callbacks of a run: the user's, and a TerminateOnNaN unless one is
-- there or terminate_on_nan = false. Returns the list and the NaN guard.
local function collect_callbacks(list, opts, who)
  local out, guard = {}, nil
  if list ~= nil and type(list) ~= 'table' then fail(who .. ': callbacks must be a list') end
  for i, cb in ipairs(list or {}) do
    if type(cb) ~= 'table' then fail(string.format('%s: callback %d is a %s, not a callback', who, i, type(cb))) end
    out[#out + 1] = cb
    if getmetatable(cb) == callbacks.TerminateOnNaN then guard = cb end
  end
  if not guard and opts.terminate_on_nan ~= false then
    guard = callbacks.TerminateOnNaN()
    out[#out + 1] = guard
  end
  return out, guard
end

-- Whether any callback defines hook (batch hooks are skipped when none do).
local function any_defines(list, hook)
  for _, cb in ipairs(list) do
    local fn = cb[hook]
    if fn and fn ~= callbacks.Callback[hook] then return true end
  end
  return false
end

-- The names of the logs in order: loss, metrics, val_*, lr, time.
local function log_names(metric_specs, has_val)
  local names = {'loss'}
  for _, m in ipairs(metric_specs) do names[#names + 1] = m.name end
  if has_val then
    names[#names + 1] = 'val_loss'
    for _, m in ipairs(metric_specs) do names[#names + 1] = 'val_' .. m.name end
  end
  names[#names + 1] = 'lr'
  names[#names + 1] = 'time'
  return names
end

-- The progress line's values of an epoch's logs (lr and time aside).
local function shown_logs(logs, names)
  local out = {}
  for _, n in ipairs(names) do
    if logs[n] ~= nil and n ~= 'lr' and n ~= 'time' then out[#out + 1] = {n, logs[n]} end
  end
  return out
end

-- Live curves (plot = true): created lazily, never allowed to stop training.
local function live_plot(opts)
  if not opts.plot then return nil end
  local ok, live = pcall(function() return brasa.plot.live_history(type(opts.plot) == 'table' and opts.plot or nil) end)
  if not ok then
    io.stderr:write('fit: live curves turned off: ', tostring(live), '\n')
    return nil
  end
  return live
end

-- fit's arguments: (data, opts) or (x, y, opts).
local function fit_args(data, y, opts)
  if is_tensor(data) then
    if not is_tensor(y) then
      fail('fit(x, y, opts): y must be a tensor of targets, got ' .. type(y))
    end
    return {x = data, y = y}, opts or {}
  end
  return data, y or {}
end

-- The body of fit once everything is resolved.
local function run_fit(run, opts)
  local hist, prog, names = run.history, run.progress, run.log_names
  local live = live_plot(opts)
  run:call('on_train_begin', {})
  for epoch = 1, run.epochs do
    run.epoch = epoch
    local logs = {}
    run:call('on_epoch_begin', epoch, logs)
    local lr = get_lr(run.optimizer)
    prog:epoch_begin(epoch, run.steps, run.samples)
    local t0 = progress.clock()
    local acc, stop = train_epoch(run, epoch)
    local train_time = progress.clock() - t0
    if run.stop_reason == 'interrupted' or run.stop_reason == 'nan' then break end
    logs.loss = acc.loss_sum / math.max(acc.seen, 1)
    finish_metrics(acc, logs, '')
    if run.val_loader then
      run.model:eval()
      local vlogs = evaluate_loader(run.model, run.val_loader, run.loss, run.metric_specs, run.regularized)
      restore_modes(run.train_modes)
      for k, v in pairs(vlogs) do logs['val_' .. k] = v end
    end
    logs.lr = lr
    logs.time = progress.clock() - t0
    hist:record(epoch, logs, names)
    prog:epoch_end(shown_logs(logs, names), logs.time, acc.seen, train_time)
    run:call('on_epoch_end', epoch, logs)
    if live then live:update(hist:curves()) end
    if stop or run.stop_training then
      run.stop_reason = run.stop_reason or 'stop_training'
      break
    end
  end
  prog:finish_line()
  run:call('on_train_end', {})
end

local AMP_DTYPES = {f16 = 'f16', float16 = 'f16', half = 'f16', bf16 = 'bf16', bfloat16 = 'bf16'}

-- fit's amp option: false/nil (off), true (f16 on a GPU, bf16 on the CPU),
-- a dtype, or a table {dtype =, <GradScaler options>}. Returns the
-- autocast options and the GradScaler (f16 only: bf16 has f32's range and
-- needs no loss scaling, as in PyTorch), or nil. A scaler with default
-- options is kept from the model's previous fit, so the scale found there
-- goes on.
local function amp_setup(v, device, prev, who)
  if v == nil or v == false then return nil end
  local dtype, scaler_opts
  if type(v) == 'string' then
    dtype = v
  elseif type(v) == 'table' then
    scaler_opts = {}
    for k, x in pairs(v) do if k ~= 'dtype' then scaler_opts[k] = x end end
    dtype = v.dtype
  elseif v ~= true then
    fail(who .. ": amp must be true, false, 'f16', 'bf16' or a table {dtype =, init_scale =, ...}, got "
      .. tostring(v))
  end
  local dev = device and device:match('^cuda') and 'cuda' or 'cpu'
  local dt = AMP_DTYPES[dtype or (dev == 'cuda' and 'f16' or 'bf16')]
  if not dt then fail(who .. ": amp's dtype must be 'f16' or 'bf16', got " .. tostring(dtype)) end
  local scaler
  if dt == 'f16' then
    if scaler_opts and next(scaler_opts) then
      scaler = brasa.amp.GradScaler(scaler_opts)
    else
      scaler = prev.scaler or brasa.amp.GradScaler()
    end
  elseif scaler_opts and next(scaler_opts) then
    fail(who .. ': amp with bf16 uses no loss scaling: the GradScaler options apply to f16 only')
  end
  return {device = dev, dtype = dt}, scaler
end

--- model:fit(data, opts) or model:fit(x, y, opts) -> History.
-- See the top of this file and the doc entry 'Module:fit' for the options.
function M.fit(model, data, y, opts)
  local who = 'fit'
  data, opts = fit_args(data, y, opts)
  check_options(opts, who)
  local prev = last_fit[model] or {}
  local loss = resolve_loss(opts.loss or prev.loss or
    fail(who .. ': no loss: pass opts.loss (e.g. nn.CrossEntropyLoss())'), who)
  local optimizer = resolve_optimizer(opts.optimizer or prev.optimizer, model, who)
  local metric_specs = metrics_mod.list(opts.metrics or (opts.loss == nil and prev.metrics) or nil)
  local epochs = opts.epochs or 1
  if math.type(epochs) ~= 'integer' and not (type(epochs) == 'number' and epochs == math.floor(epochs)) then
    fail(who .. ': epochs must be an integer, got ' .. tostring(epochs))
  end
  epochs = math.tointeger(epochs)
  if opts.device ~= nil then   -- moves the model (in place: the optimiser keeps its parameters)
    if type(opts.device) ~= 'string' then
      fail(who .. ": device must be a device name ('cpu', 'cuda', 'cuda:1'), got " .. type(opts.device))
    end
    model:to(opts.device)
  end
  local loader, val_loader, bs = fit_loaders(data, opts, who, model_device(model))
  local cbs, guard = collect_callbacks(opts.callbacks, opts, who)
  local samples = loader.dataset and loader.dataset.len and loader.dataset.len() or nil
  local run = setmetatable({
    model = model, optimizer = optimizer, loss = loss, loader = loader, val_loader = val_loader,
    epochs = epochs, steps = #loader, samples = samples, metric_specs = metric_specs,
    callbacks = cbs, nan_guard = guard, regularized = has_regularizers(model),
    params = {epochs = epochs, steps = #loader, samples = samples, batch_size = bs},
    progress = progress.new{verbose = opts.verbose, epochs = epochs},
    repl = repl_helpers(), stop_training = false,
  }, Trainer)
  run.log_names = log_names(metric_specs, val_loader ~= nil)
  run.history = History.new(run.params)
  run.params.metrics = run.log_names
  run.parameters = model:parameters()
  run.device = model_device(model)
  run.amp, run.scaler = amp_setup(opts.amp, run.device, prev, who)
  run.class_weight = class_weight_fn(opts.class_weight, who)
  if run.class_weight then run.per_example_loss = per_example_loss(loss, who) end
  run.batch_begin = any_defines(cbs, 'on_train_batch_begin')
  run.batch_end = any_defines(cbs, 'on_train_batch_end')
  run.deferred = (run.device ~= nil or M._defer_always) and not run.batch_end   -- flush_pending
  for _, cb in ipairs(cbs) do
    if type(cb.set_trainer) == 'function' then cb:set_trainer(run) else cb.trainer, cb.model = run, model end
  end
  last_fit[model] = {loss = loss, optimizer = optimizer, metrics = opts.metrics or prev.metrics,
                     batch_size = bs, scaler = run.scaler or prev.scaler}

  run.interrupt_base = run.repl and run.repl.pending_interrupts() or 0
  local old_defer = run.repl and run.repl.defer_interrupts(true)
  local modes = save_modes(model)
  -- Training modes: a model left in eval mode (after evaluate, say) trains
  -- in train mode; a model in train mode keeps the modes its parts have (a
  -- BatchNorm put in eval mode to freeze its statistics stays so).
  if not model.training then model:train(true) end
  run.train_modes = save_modes(model)
  local ok, err = pcall(run_fit, run, opts)
  restore_modes(modes)
  if run.repl then
    -- Turning deferral off after a press would raise that press now: leave
    -- it on (the REPL resets it before the next entry).
    if not run:interrupted() or old_defer then run.repl.defer_interrupts(old_defer) end
  end
  if not ok then
    run.progress:finish_line()
    error(err, 0)
  end
  local hist = run.history
  hist.stop_reason = run.stop_reason ~= 'stop_training' and run.stop_reason or nil
  for _, cb in ipairs(cbs) do
    if getmetatable(cb) == callbacks.EarlyStopping and cb.stopped_epoch then hist.stop_reason = 'early_stopping' end
  end
  if run.stop_reason == 'interrupted' then
    hist.interrupted = run.interrupted_at
    run.progress:message(string.format('fit: interrupted (Ctrl-C) in epoch %d after batch %d: returning the '
      .. 'history of the %d epoch%s completed', run.interrupted_at.epoch, run.interrupted_at.batch,
      #hist.epoch, #hist.epoch == 1 and '' or 's'))
  end
  return hist
end

--- train.remember(model, {optimizer =, loss =, metrics =}): what the
-- model's next fit (and evaluate) use when not given (brasa.load sets the
-- optimiser saved with a model).
function M.remember(model, settings)
  local prev = last_fit[model] or {}
  for k, v in pairs(settings) do prev[k] = v end
  last_fit[model] = prev
end

---------------------------------------------------------------------------
-- evaluate and predict
---------------------------------------------------------------------------

-- evaluate's data and options from its arguments ((data, opts) or (x, y, opts)).
local function eval_args(data, y, opts)
  if is_tensor(data) and is_tensor(y) then return {x = data, y = y}, opts or {} end
  return data, y or {}
end

--- model:evaluate(data, opts?) or model:evaluate(x, y, opts?) -> results
-- {loss =, <metric> = ...}: Lua numbers (accuracy in [0, 1]) over the whole
-- data, computed batch by batch in eval mode without a graph (each
-- module's mode is restored after). The loss and metrics are those of the
-- model's last fit unless opts.loss / opts.metrics give them.
-- opts.batch_size (256), opts.verbose (1: prints one line; 0: quiet).
function M.evaluate(model, data, y, opts)
  local who = 'evaluate'
  data, opts = eval_args(data, y, opts)
  local prev = last_fit[model] or {}
  local loss = opts.loss and resolve_loss(opts.loss, who) or prev.loss
  local metric_list = opts.metrics or (opts.loss == nil and prev.metrics) or nil
  local metric_specs = metrics_mod.list(metric_list)
  local loader = eval_loader(data, opts, who, true, model_device(model))
  if not loss and #metric_specs == 0 then
    fail(who .. ': no loss and no metrics: fit the model first, or pass {loss =, metrics =}')
  end
  local modes = save_modes(model)
  model:eval()
  local t0 = progress.clock()
  local ok, logs, n = pcall(evaluate_loader, model, loader, loss, metric_specs,
    loss ~= nil and has_regularizers(model))
  restore_modes(modes)
  if not ok then error(logs, 0) end
  local order = {'loss'}
  for _, m in ipairs(metric_specs) do order[#order + 1] = m.name end
  local results = new_results(logs, order)
  local verbose = opts.verbose == nil and 1 or opts.verbose
  if verbose ~= 0 and verbose ~= false then
    local parts = {}
    for _, name in ipairs(order) do
      if logs[name] ~= nil then parts[#parts + 1] = name .. ' ' .. progress.format_number(logs[name]) end
    end
    io.stdout:write(string.format('evaluate: %d examples in %s  %s\n', n,
      progress.format_duration(progress.clock() - t0), table.concat(parts, '  ')))
  end
  return results
end

--- model:predict(x, opts?) -> the model's outputs for every example, joined
-- along dim 1 (N x C scores for a classifier). x: a tensor (N x ...), a
-- table {x =} (y ignored), a data set or a DataLoader (the first value of
-- each batch is the input). Batched (opts.batch_size, 256), in eval mode,
-- without a graph; modes are restored after. For a model on a GPU the
-- outputs come back to the CPU, unless x is a tensor on the model's device.
function M.predict(model, x, opts)
  local who = 'predict'
  opts = opts or {}
  local bs = opts.batch_size or 256
  local modes = save_modes(model)
  model:eval()
  local ok, out = pcall(brasa.no_grad, function()
    local outs = {}
    local device = model_device(model)
    if is_tensor(x) then
      local n = #x.shape > 0 and x.shape[1] or 0
      if n == 0 then fail(who .. ': x has no examples') end
      local collect = memory_guard()
      for first = 1, n, bs do
        outs[#outs + 1] = model(to_device(x:narrow(1, first, math.min(bs, n - first + 1)), device))
        collect()
      end
    else
      local collect = memory_guard()
      for xb in eval_loader(x, opts, who, false, device):iter() do
        outs[#outs + 1] = model(to_device(xb, device))
        collect()
      end
    end
    local r = #outs == 1 and outs[1] or brasa.cat(outs, 1)
    -- A model on a GPU: CPU outputs (one copy), unless x is a tensor on its device.
    if device and not (is_tensor(x) and x.device == device) then r = to_device(r, 'cpu') end
    return r
  end)
  restore_modes(modes)
  if not ok then error(out, 0) end
  return out
end

---------------------------------------------------------------------------
-- Installation into nn.Module
---------------------------------------------------------------------------

--- train.install(Module, ...): makes fit, evaluate, predict, save and
-- load_weights methods of every module; the tables after Module (brasa.nn)
-- hold the classes brasa.load may rebuild. brasa.nn calls it once.
function M.install(Module, ...)
  Module.fit = M.fit
  Module.evaluate = M.evaluate
  Module.predict = M.predict
  Module.save = serialize.save
  Module.load_weights = serialize.load_weights
  serialize.install(Module, ...)
  local ok, docs = pcall(require, 'brasa.docs.train')
  if ok then docs.bind(Module) end
end

return M
