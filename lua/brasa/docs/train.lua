-- brasa.docs.train: help entries of the training workflow (brasa.doc):
-- model:fit / evaluate / predict / save / load_weights, brasa.load,
-- brasa.metrics, brasa.callbacks, brasa.serialize, brasa.train (History)
-- and brasa.progress.
--
-- Loaded with the rest of the documentation when brasa starts; functions
-- are bound to their entries when their modules load (M.bind, called by
-- brasa.train.install), so starting brasa loads none of them. Examples
-- follow docs/tensor.lua's conventions (`print(expr)  --> shown`); the
-- brasa.nn.Module:* and brasa.load entries run in tests/lua/doc_spec.lua,
-- every entry in tests/lua/train_spec.lua.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example)
  list[#list + 1] = {name, sig, summary, text = text, example = example}
end

-- A small classifier and data used by several examples.
local SETUP = [=[
local nn, optim = brasa.nn, brasa.optim
brasa.manual_seed(0)
local x = brasa.randn(64, 4)
local y = (x:select(2, 1):gt(0)):long() + 1          -- classes 1 and 2
local model = nn.Sequential{nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)}
]=]

---------------------------------------------------------------------------
-- The workflow
---------------------------------------------------------------------------

entry('brasa.train', 'brasa.train (require "brasa.train")',
  'Training: model:fit, evaluate and predict, or a plain loop, equally first-class.',
  [=[
model:fit(data, opts) trains with progress, validation, metrics and
callbacks, and returns a History; model:evaluate(data) gives the loss and
metrics as Lua numbers; model:predict(x) the outputs. fit is the plain loop
of the example below with its bookkeeping written once: writing the loop by
hand is just as supported, and everything fit uses (loaders, losses,
optimisers, metrics, model:save) works the same in a loop of your own.
Callbacks are in brasa.callbacks, metrics in brasa.metrics, saving in
brasa.serialize (model:save, brasa.load).]=],
  SETUP .. [=[
local loss_fn = nn.CrossEntropyLoss()
local opt = optim.Adam(model:parameters(), {lr = 1e-2})
local loader = brasa.data.DataLoader({x = x, y = y}, {batch_size = 16, shuffle = true})
for epoch = 1, 20 do
  model:train()
  for xb, yb in loader:iter() do
    opt:zero_grad()
    local loss = loss_fn(model(xb), yb)
    loss:backward()
    opt:step()
  end
end
model:eval()
local acc = brasa.no_grad(function() return brasa.metrics.accuracy(y, model(x)) end)
print(acc > 0.9)  --> true]=])

entry('brasa.nn.Module:fit', 'model:fit(data, opts) | model:fit(x, y, opts) -> History',
  'Trains the model: epochs of batches with a progress bar, validation, metrics and callbacks.',
  [=[
data: a table {x =, y =} (what the data loaders return), a data set
({len =, get =}, brasa.data.TensorDataset) or a brasa.data.DataLoader (then
its batch size and shuffling are used); or x and y tensors as in Keras.
opts:
  loss             a loss module (nn.CrossEntropyLoss()), a function
                   (output, target) -> 0-dim tensor, or a name ('cross_entropy',
                   'mse', 'mae', 'bce', 'bce_with_logits', 'nll', 'huber');
                   required on the first fit, then remembered
  optimizer        an optimiser (optim.Adam(model:parameters(), {lr = 1e-3})) or
                   a name ('adam', 'sgd', ...); default Adam(lr = 1e-3); remembered
  epochs (1), batch_size (32), shuffle (true: a new order every epoch)
  validation_split the last fraction of data held out (as Keras: before
                   shuffling); validation_data: a table {x =, y =}, a data set
                   or a DataLoader
  metrics          {'accuracy', 'top5_accuracy', 'mae', 'mse', 'rmse', 'r2',
                   'auc', 'precision', 'recall', 'f1'} or functions
                   fn(y_true, y_pred) -> number (see brasa.metrics.get)
  class_weight     {[class] = weight}: each example's loss is multiplied by
                   its class's weight (as Keras: the mean over the batch)
  callbacks        a list (brasa.callbacks): EarlyStopping, ModelCheckpoint, ...
  verbose          1: a bar on a terminal, one line per epoch otherwise;
                   2: one line per epoch; 0: silent
  plot = true      live curves through brasa.plot.live_history
  terminate_on_nan (true) stop when the loss is NaN (TerminateOnNaN)
  amp = true       mixed precision (brasa.amp): forward and loss under
                   autocast, f16 with a GradScaler on a GPU, bf16 on the
                   CPU; also 'f16', 'bf16' or {dtype =, init_scale =, ...}
  device           'cuda', 'cuda:N' or 'cpu': moves the model there first
                   (in place, model:to: an optimiser built before still works)
The History: hist.history.loss, .accuracy, .val_loss, .val_accuracy, .lr,
.time (seconds): one Lua number per epoch; hist.epoch = {1, 2, ...};
hist.stop_reason ('early_stopping', 'interrupted', 'nan' or nil).
The loss includes model:regularization_loss() when layers have
regularisers. Validation runs in eval mode; a model in eval mode trains in
train mode, while a model in train mode keeps the modes of its parts (a
BatchNorm put in eval mode stays frozen); every mode is restored at the
end. Batches go to the device of the model's parameters (staged through
pinned memory for the loaders fit makes). On a GPU the losses and metrics
are read back a few batches at a time (every 32 batches, at each redraw
and at the end of the epoch) rather than after each batch, which would
make the CPU wait for the GPU every time: the values are the same, but
TerminateOnNaN sees a NaN loss only then, after the optimiser steps of
those batches (a callback with batch hooks gets every batch's loss at
once, and turns this off). Ctrl-C in the brasa REPL stops after the current batch and
returns the History so far; a second Ctrl-C interrupts at once; an
optimiser step is never left half applied.]=],
  SETUP .. [=[
local hist = model:fit(x, y, {
  loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 1e-2}),
  epochs = 8, batch_size = 16, validation_split = 0.25, metrics = {'accuracy'}, verbose = 0,
})
print(#hist.epoch, #hist.history.val_accuracy)  --> 8 8
print(hist.history.loss[8] < hist.history.loss[1])  --> true]=])

entry('brasa.nn.Module:evaluate', 'model:evaluate(data, opts?) | model:evaluate(x, y, opts?) -> results',
  'The loss and metrics over a whole data set, as Lua numbers.',
  [=[
Runs batch by batch (opts.batch_size, 256) in eval mode without recording
a graph, restoring each module's mode afterwards. Uses the loss and
metrics of the model's last fit unless opts.loss / opts.metrics are given.
Returns {loss =, accuracy =, ...} (accuracy in [0, 1]), which prints as
{loss = 0.2931, accuracy = 0.8970}; opts.verbose = 0 stops the one-line
report it prints.]=],
  SETUP .. [=[
model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 5, metrics = {'accuracy'}, verbose = 0})
local r = model:evaluate(x, y, {verbose = 0})
print(type(r.loss), r.accuracy >= 0 and r.accuracy <= 1)  --> number true
print(model:evaluate(x, y, {loss = nn.CrossEntropyLoss(), metrics = {}, verbose = 0}).accuracy)  --> nil]=])

entry('brasa.nn.Module:predict', 'model:predict(x, opts?) -> tensor',
  'The outputs for every example, batched, in eval mode, without a graph.',
  [=[
x: a tensor (N x ...), a table {x =}, a data set or a DataLoader (the first
value of each batch is the input). Outputs are joined along dim 1
(N x C scores for a classifier: argmax(2) gives the classes).
opts.batch_size (256). Modes are restored afterwards. For a model on a GPU
the outputs come back to the CPU, unless x is a tensor on the model's
device.]=],
  SETUP .. [=[
local scores = model:predict(x, {batch_size = 10})
print(scores.shape[1], scores.shape[2], scores.requires_grad)  --> 64 2 false
print(model.training)  --> true]=])

entry('brasa.nn.Module:save', 'model:save(path, opts?) -> path',
  'Saves the architecture and weights to a safetensors file, atomically.',
  [=[
Tensor names are the state_dict's ('1.weight': Sequential children by
their 1-based position); the architecture is a JSON string in the file's
metadata, rebuilt by brasa.load from the classes this session defines.
opts.optimizer = opt saves its state too; opts.metadata = {key = 'text'}
adds strings. The file is written under a temporary name and renamed: an
interrupted save leaves the previous file whole. See brasa.serialize.]=],
  SETUP .. [=[
local path = os.tmpname()
model:save(path)
local copy = brasa.load(path)
print(copy:predict(x):equal(model:predict(x)))  --> true
os.remove(path)]=])

entry('brasa.nn.Module:load_weights', 'model:load_weights(path, opts?) -> model',
  'Loads weights saved by model:save or PyTorch (safetensors) into this model.',
  [=[
Names, shapes and dtypes are checked before anything is copied, and every
difference is reported. opts.mapping: 'torch' for a PyTorch state dict of
the same architecture ('0.weight' -> '1.weight': see
brasa.serialize.torch_name), a function name -> name, or a table;
opts.strict = false loads what matches and ignores the rest.]=],
  SETUP .. [=[
local path = os.tmpname()
-- a PyTorch-style state dict: Sequential children numbered from 0
brasa.data.write_safetensors(path, {['0.weight'] = brasa.ones(16, 4), ['0.bias'] = brasa.zeros(16),
  ['2.weight'] = brasa.ones(2, 16), ['2.bias'] = brasa.zeros(2)})
model:load_weights(path, {mapping = 'torch'})
print(model[1].weight:sum():item())  --> 64.0
print((pcall(model.load_weights, model, path)))  --> false
os.remove(path)]=])

entry('brasa.flags.parse', "require('brasa.flags').parse(args, defaults) -> opts",
  'Reads `--name value` command-line flags for a script (the scripts/ use it).',
  [=[
defaults gives every flag and its type: a number default makes a number
flag, a string default a string flag, a boolean default a switch (--name
sets it true, --no-name false). Dashes on the command line are underscores
in opts (--n-train -> opts.n_train). Unknown flags and missing or
malformed values raise an error that lists the flags.]=],
  [=[
local flags = require 'brasa.flags'
local opts = flags.parse({'--epochs', '3', '--no-plot', '--n-train', '500'},
                         {epochs = 5, n_train = 60000, plot = true, out = '.'})
print(opts.epochs, opts.n_train, opts.plot, opts.out)  --> 3 500 false .
print((pcall(flags.parse, {'--epoch', '3'}, {epochs = 5})))  --> false]=])

entry('brasa.load', 'brasa.load(path, opts?) -> model, metadata, optimizer',
  'Rebuilds a model saved with model:save and loads its weights.',
  [=[
The architecture is data: class names, constructor arguments and children,
rebuilt by calling classes this session defines (every brasa.nn class and
every class made with nn.Module:extend); nothing in the file is executed,
so opening a model from a stranger is safe. Names, shapes and dtypes are
checked and every difference reported. opts.classes = {Name = class} names
classes defined under other names. A file saved with {optimizer = opt}
gives the optimiser back too, rebuilt on the model's parameters with its
state, and the model's next fit continues with it; opts.optimizer = opt
restores that state into an optimiser of yours instead. metadata: the
file's strings.]=],
  [=[
local nn = brasa.nn
local model = nn.Sequential{nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)}
local path = os.tmpname()
model:save(path, {metadata = {note = 'tiny'}})
local m, meta = brasa.load(path)
print(m[3].weight:equal(model[3].weight), meta.note)  --> true tiny
os.remove(path)]=])

---------------------------------------------------------------------------
-- History and the progress display
---------------------------------------------------------------------------

local HIST_SETUP = SETUP .. [=[
local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 4, validation_split = 0.25,
  metrics = {'accuracy'}, verbose = 0})
]=]

entry('brasa.train.History', 'hist = model:fit(...)',
  'What fit returns: the values of every epoch.',
  [=[
hist.history: name -> list of Lua numbers, one per epoch: loss, each
metric, val_loss and val_<metric> with validation, lr (the first parameter
group's learning rate during the epoch) and time (seconds). hist.epoch =
{1, 2, ...}; hist.params = {epochs, steps, samples, batch_size, metrics};
hist.stop_reason: 'early_stopping', 'interrupted' (Ctrl-C), 'nan' or nil;
hist.interrupted = {epoch, batch} after Ctrl-C. print(hist) shows a table.]=],
  HIST_SETUP .. [=[
print(hist.epoch[4], #hist.history.val_loss, type(hist.history.time[1]))  --> 4 4 number
print(hist)]=])

entry('brasa.train.History.new', 'History.new(params) -> History', 'An empty history (fit makes one).', nil,
  [=[
local h = require('brasa.train').History.new({epochs = 2})
h:record(1, {loss = 0.5}, {'loss'})
print(h.history.loss[1], h.epoch[1])  --> 0.5 1]=])

entry('brasa.train.History:record', 'hist:record(epoch, logs, names)',
  'Appends the values of an epoch (names gives their order).', nil,
  [=[
local h = require('brasa.train').History.new()
h:record(1, {loss = 0.5, accuracy = 0.8}, {'loss', 'accuracy'})
print(h.names[2])  --> accuracy]=])

entry('brasa.train.History:last', 'hist:last(name) -> number',
  'The value of name at the last epoch.', nil,
  HIST_SETUP .. [=[
print(hist:last('loss') == hist.history.loss[4])  --> true]=])

entry('brasa.train.History:best', 'hist:best(name, mode?) -> value, epoch',
  "The best value of name and its epoch ('min' for losses, 'max' for accuracies).", nil,
  HIST_SETUP .. [=[
local v, e = hist:best('val_accuracy')
print(e >= 1 and e <= 4)  --> true]=])

entry('brasa.train.History:curves', 'hist:curves() -> table',
  'The curves worth drawing: loss, metrics, val_*, and lr when it changed.', nil,
  HIST_SETUP .. [=[
print(hist:curves().history.time, hist:curves().history.lr)  --> nil nil]=])

entry('brasa.train.History:plot', 'hist:plot(opts?)',
  'Draws the training curves (brasa.plot.history of hist:curves()).', nil,
  [=[
local h = require('brasa.train').History.new()
h:record(1, {loss = 0.9}, {'loss'}); h:record(2, {loss = 0.5}, {'loss'})
print(type(h.plot))  --> function
-- h:plot()   -- a window, or text with brasa.plot.terminal('dumb')]=])

entry('brasa.train.fit', 'train.fit(model, data, opts) -> History', 'The function behind model:fit.', nil,
  SETUP .. [=[
local hist = require('brasa.train').fit(model, {x = x, y = y}, {loss = 'cross_entropy', verbose = 0})
print(#hist.epoch)  --> 1]=])

entry('brasa.train.evaluate', 'train.evaluate(model, data, opts) -> results',
  'The function behind model:evaluate.', nil,
  SETUP .. [=[
local r = require('brasa.train').evaluate(model, {x = x, y = y}, {loss = 'cross_entropy', verbose = 0})
print(type(r.loss))  --> number]=])

entry('brasa.train.predict', 'train.predict(model, x, opts?) -> tensor', 'The function behind model:predict.', nil,
  SETUP .. [=[
print(require('brasa.train').predict(model, x).shape[1])  --> 64]=])

entry('brasa.train.remember', 'train.remember(model, {optimizer =, loss =, metrics =})',
  "Sets what the model's next fit and evaluate use when not given (brasa.load sets the saved optimiser).", nil,
  SETUP .. [=[
require('brasa.train').remember(model, {loss = nn.CrossEntropyLoss(), metrics = {'accuracy'}})
print(type(model:evaluate(x, y, {verbose = 0}).accuracy))  --> number]=])

entry('brasa.train.install', 'train.install(Module, nn)',
  'Adds fit, evaluate, predict, save and load_weights to nn.Module (brasa.nn calls it).', nil,
  [=[
print(type(brasa.nn.Module.fit))  --> function]=])

entry('brasa.progress', 'brasa.progress (require "brasa.progress")',
  "fit's progress display: a bar on a terminal, one line per epoch elsewhere.",
  [=[
On a terminal: 'Epoch 2/5 [=====>....] 156/469  ETA 3s  21034 samples/s
loss 0.4132  accuracy 0.8519', redrawn in place at most every 0.1 s, then
replaced by the epoch's summary. Not a terminal (logs, CI): the summary
lines only. verbose = 0 silent, 2 lines even on a terminal.
BRASA_PROGRESS=tty or plain forces one style.]=],
  [=[
local progress = require 'brasa.progress'
local lines = {}
local out = {write = function(_, ...) for _, s in ipairs{...} do lines[#lines + 1] = s end end, flush = function() end}
local p = progress.new{verbose = 2, epochs = 3, out = out}
p:epoch_begin(1, 10, 320)
p:epoch_end({{'loss', 0.25}}, 1.5, 320)
print(table.concat(lines):match('Epoch 1/3'))  --> Epoch 1/3]=])

entry('brasa.progress.new', 'progress.new{verbose =, epochs =, out =, tty =} -> display',
  'A progress display (epoch_begin, due/draw or batch, epoch_end, message).', nil,
  [=[
local p = require('brasa.progress').new{verbose = 0}
print(p.live)  --> false]=])

entry('brasa.progress.clock', 'progress.clock() -> seconds',
  'A monotonic wall clock (brasa.clock, brasa_repl.clock, /proc/uptime or os.time).', nil,
  [=[
local c = require('brasa.progress').clock
print(c() <= c())  --> true]=])

entry('brasa.progress.is_tty', 'progress.is_tty() -> boolean', 'Whether stdout is a terminal.', nil,
  [=[
print(type(require('brasa.progress').is_tty()))  --> boolean]=])

entry('brasa.progress.format_number', 'progress.format_number(v) -> string',
  'A log value as shown: 4 decimals, or scientific notation when tiny or huge.', nil,
  [=[
local f = require('brasa.progress').format_number
print(f(0.123456), f(1e-6), f(0 / 0))  --> 0.1235 1.000e-06 nan]=])

entry('brasa.progress.format_duration', 'progress.format_duration(seconds) -> string',
  'A duration as shown: 850ms, 4.2s, 3m05s, 1h02m.', nil,
  [=[
local f = require('brasa.progress').format_duration
print(f(0.85), f(4.2), f(185))  --> 850ms 4.2s 3m05s]=])

entry('brasa.progress.logs_text', 'progress.logs_text(logs) -> string',
  "'  loss 0.4132  accuracy 0.8519' from a list of {name, value}.", nil,
  [=[
print(require('brasa.progress').logs_text({{'loss', 0.5}}))  --> loss 0.5000]=])

---------------------------------------------------------------------------
-- Metrics
---------------------------------------------------------------------------

entry('brasa.metrics', 'brasa.metrics',
  'Accuracy, confusion matrix, precision/recall/F1, regression errors, ROC: on their own or in fit.',
  [=[
Every function takes (y_true, y_pred), as scikit-learn and Keras do, tensors
or Lua lists, and returns Lua numbers (or lists, one per class). Classes are
1-based. y_pred may be N x C scores or probabilities (argmax per row), N
binary probabilities (class 1 when >= 0.5; opts.threshold, 0 for logits)
with 0/1 truths, or N predicted labels (an integer tensor); truths may be
one-hot rows. In fit: metrics = {'accuracy', 'top5_accuracy', 'mae', 'mse',
'rmse', 'r2', 'auc', 'precision', 'recall', 'f1'} or functions.]=],
  [=[
local m = brasa.metrics
local y = {1, 2, 3, 3}
local scores = brasa.tensor{{0.8, 0.1, 0.1}, {0.2, 0.7, 0.1}, {0.1, 0.6, 0.3}, {0.0, 0.1, 0.9}}
print(m.accuracy(y, scores))  --> 0.75
print(m.confusion_matrix(y, scores))]=])

entry('brasa.metrics.accuracy', 'metrics.accuracy(y_true, y_pred, opts?) -> number',
  'The fraction of correct predictions, in [0, 1].',
  [=[
y_pred: N x C scores or probabilities, N binary probabilities (opts.threshold,
0.5) compared with 0/1 truths, or N predicted labels. y_true: labels 1..C, or
one-hot rows.]=],
  [=[
local m = brasa.metrics
print(m.accuracy({1, 2, 2}, brasa.tensor{{2, 1}, {0, 3}, {5, 1}}))  --> 0.66666666666667
print(m.accuracy({0, 1, 1, 0}, brasa.tensor{0.2, 0.9, 0.4, 0.6}))  --> 0.5
print(m.accuracy({1, 2}, brasa.tensor({1, 2}, {dtype = 'i64'})))  --> 1.0]=])

entry('brasa.metrics.accuracy_count', 'metrics.accuracy_count(y_true, y_pred, opts?) -> correct, total',
  'The two integers accuracy divides (what fit adds up over the batches).', nil,
  [=[
print(brasa.metrics.accuracy_count({1, 2, 2}, brasa.tensor{{2, 1}, {0, 3}, {5, 1}}))  --> 2 3]=])

entry('brasa.metrics.top_k_accuracy', 'metrics.top_k_accuracy(y_true, scores, k?) -> number',
  'The fraction of examples whose true class is among the k highest scores (k = 5).', nil,
  [=[
local s = brasa.tensor{{0.5, 0.3, 0.2}, {0.5, 0.3, 0.2}}
print(brasa.metrics.top_k_accuracy({2, 3}, s, 2))  --> 0.5]=])

entry('brasa.metrics.top_k_count', 'metrics.top_k_count(y_true, scores, k?) -> hits, total',
  'The two integers top_k_accuracy divides.', nil,
  [=[
print(brasa.metrics.top_k_count({2, 3}, brasa.tensor{{0.5, 0.3, 0.2}, {0.5, 0.3, 0.2}}, 2))  --> 1 2]=])

entry('brasa.metrics.confusion_matrix', 'metrics.confusion_matrix(y_true, y_pred, num_classes?) -> C x C i64 tensor',
  'Counts of (true, predicted) pairs: rows are true classes, columns predicted ones.',
  [=[
cm[{i, j}] counts the examples of class i predicted as j (scikit-learn's
layout), so the diagonal holds the correct ones, a row sums to the class's
support and a column to how often the class was predicted. y_pred: labels
or N x C scores. num_classes defaults to the largest label (or C).
Print it with metrics.format_confusion(cm, class_names).]=],
  [=[
local cm = brasa.metrics.confusion_matrix({1, 1, 2, 3}, {1, 2, 2, 3})
print(cm)  --> [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
print(cm[{1, 2}])  --> 1]=])

entry('brasa.metrics.format_confusion', 'metrics.format_confusion(cm, class_names?) -> string',
  'A confusion matrix as a text table: true classes by row, predictions by column, recall and precision.', nil,
  [=[
local cm = brasa.metrics.confusion_matrix({1, 1, 2, 3}, {1, 2, 2, 3})
print(brasa.metrics.format_confusion(cm, {'cat', 'dog', 'bird'}))]=])

entry('brasa.metrics.precision', 'metrics.precision(y_true, y_pred, opts?) -> list | number',
  'Precision per class (tp / predicted), or averaged.',
  [=[
opts.average: nil (a list, one per class), 'macro' (the mean over the
classes present in y_true or y_pred), 'weighted' (by support) or 'micro'.
A class never predicted has precision 0 (scikit-learn's zero_division).
opts.num_classes; opts.cm: a confusion matrix instead of y_true and y_pred.]=],
  [=[
local m = brasa.metrics
local p = m.precision({1, 1, 2, 2}, {1, 2, 2, 2})
print(p[1], p[2])  --> 1.0 0.66666666666667
print(m.precision({1, 1, 2, 2}, {1, 2, 2, 2}, {average = 'macro'}))  --> 0.83333333333333]=])

entry('brasa.metrics.recall', 'metrics.recall(y_true, y_pred, opts?) -> list | number',
  'Recall per class (tp / support), or averaged as precision is.', nil,
  [=[
local r = brasa.metrics.recall({1, 1, 2, 2}, {1, 2, 2, 2})
print(r[1], r[2])  --> 0.5 1.0]=])

entry('brasa.metrics.f1', 'metrics.f1(y_true, y_pred, opts?) -> list | number',
  'F1 per class (the harmonic mean of precision and recall), or averaged.', nil,
  [=[
print(brasa.metrics.f1({1, 1, 2, 2}, {1, 2, 2, 2}, {average = 'weighted'}))  --> 0.73333333333333]=])

entry('brasa.metrics.precision_recall_f1', 'metrics.precision_recall_f1(y_true, y_pred, opts?) -> table',
  'Precision, recall, F1 and support per class, with macro and weighted averages.', nil,
  [=[
local r = brasa.metrics.precision_recall_f1({1, 1, 2, 2}, {1, 2, 2, 2})
print(r.support[1], r.macro.recall)  --> 2 0.75]=])

entry('brasa.metrics.classification_report', 'metrics.classification_report(y_true, y_pred, opts?) -> string',
  "scikit-learn's report: precision, recall, F1, support per class, accuracy, averages.",
  'opts.class_names, opts.num_classes, opts.digits (2).',
  [=[
print(brasa.metrics.classification_report({1, 1, 2, 2}, {1, 2, 2, 2}, {class_names = {'no', 'yes'}}))]=])

entry('brasa.metrics.mae', 'metrics.mae(y_true, y_pred) -> number', 'Mean absolute error.', nil,
  [=[
print(brasa.metrics.mae({3, -0.5, 2, 7}, {2.5, 0.0, 2, 8}))  --> 0.5]=])

entry('brasa.metrics.mse', 'metrics.mse(y_true, y_pred) -> number', 'Mean squared error.', nil,
  [=[
print(brasa.metrics.mse({3, -0.5, 2, 7}, {2.5, 0.0, 2, 8}))  --> 0.375]=])

entry('brasa.metrics.rmse', 'metrics.rmse(y_true, y_pred) -> number', 'Root of the mean squared error.', nil,
  [=[
print(brasa.metrics.rmse({0, 0}, {3, 4}) == math.sqrt(12.5))  --> true]=])

entry('brasa.metrics.r2', 'metrics.r2(y_true, y_pred) -> number',
  'The coefficient of determination 1 - SS_res / SS_tot (mean over outputs for N x K).', nil,
  [=[
print(string.format('%.4f', brasa.metrics.r2({3, -0.5, 2, 7}, {2.5, 0.0, 2, 8})))  --> 0.9486]=])

entry('brasa.metrics.abs_error_sum', 'metrics.abs_error_sum(y_true, y_pred) -> sum, count',
  'The sum of absolute errors and the count (what fit adds up for mae).', nil,
  [=[
print(brasa.metrics.abs_error_sum({1, 2}, {2, 4}))  --> 3.0 2]=])

entry('brasa.metrics.sq_error_sum', 'metrics.sq_error_sum(y_true, y_pred) -> sum, count',
  'The sum of squared errors and the count (for mse and rmse).', nil,
  [=[
print(brasa.metrics.sq_error_sum({1, 2}, {2, 4}))  --> 5.0 2]=])

entry('brasa.metrics.roc_curve', 'metrics.roc_curve(y_true, scores) -> fpr, tpr, thresholds',
  'The ROC curve: false and true positive rates at each distinct score.',
  [=[
Lua lists; the first point is (0, 0) at threshold math.huge, then one
point per distinct score, highest first (a point at threshold s counts
scores >= s as positive). Truths 0/1, or 1/2 with class 2 positive; scores
N, N x 1 or N x 2 (column 2). Draw with brasa.plot.lines(tpr, {x = fpr}).]=],
  [=[
local fpr, tpr, thr = brasa.metrics.roc_curve({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8})
print(table.concat(fpr, ' '))  --> 0 0.0 0.5 0.5 1.0
print(table.concat(tpr, ' '))  --> 0 0.5 0.5 1.0 1.0]=])

entry('brasa.metrics.roc_auc', 'metrics.roc_auc(y_true, scores) -> number',
  'The area under the ROC curve (binary, or one-vs-rest macro for N x C scores).', nil,
  [=[
print(brasa.metrics.roc_auc({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}))  --> 0.75]=])

entry('brasa.metrics.get', 'metrics.get(spec) -> accumulator',
  'The accumulator fit uses for a metric name, a function or {name, fn}.',
  [=[
Names: accuracy (acc), topK_accuracy (top5_accuracy; top_k_accuracy is
k = 5), mae, mse, rmse, r2, auc (roc_auc), precision, recall, f1 (these
three macro-averaged). A function fn(y_true, y_pred) -> number (or a 0-dim
tensor) is averaged over batches weighted by their sizes; {name, fn} names
it. The accumulator has .name and batch/value (added up batch after batch)
or epoch/value_all (computed once on the whole epoch's outputs).]=],
  [=[
local acc = brasa.metrics.get('acc')
print(acc.name, acc.value(acc.batch({1, 2}, brasa.tensor{{1, 0}, {1, 0}})))  --> acc 0.5]=])

entry('brasa.metrics.list', 'metrics.list(specs) -> {accumulators}',
  'Accumulators for a list of metric specs (string keys name functions).', nil,
  [=[
local l = brasa.metrics.list({'accuracy', my = function(t, p) return 0 end})
print(l[1].name, l[2].name)  --> accuracy my]=])

---------------------------------------------------------------------------
-- Callbacks
---------------------------------------------------------------------------

entry('brasa.callbacks', 'brasa.callbacks',
  'Code fit runs at fixed points: early stopping, checkpoints, learning-rate changes, logs.',
  [=[
A callback is a table with any of: on_train_begin(logs), on_epoch_begin(epoch,
logs), on_train_batch_begin(batch, logs), on_train_batch_end(batch, logs)
(logs.loss is the batch's loss), on_epoch_end(epoch, logs) (logs: loss,
metrics, val_*, lr, time), on_train_end(logs): fit calls them in that
order, callbacks in list order. Epochs and batches are 1-based. cb.trainer
is the run: .model, .optimizer, .params, .history, .epoch, :message(text),
:get_lr(), :set_lr(v); cb.trainer.stop_training = true stops after the
current batch (or epoch).]=],
  SETUP .. [=[
local seen = {}
local cb = brasa.callbacks.LambdaCallback{on_epoch_end = function(epoch, logs) seen[#seen + 1] = epoch end}
model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 3, callbacks = {cb}, verbose = 0})
print(table.concat(seen, ' '))  --> 1 2 3]=])

entry('brasa.callbacks.Callback', 'callbacks.Callback:extend(name?) -> class',
  'The base of callbacks: no-op hooks to override.', nil,
  SETUP .. [=[
local Stopper = brasa.callbacks.Callback:extend('Stopper')
function Stopper:on_epoch_end(epoch, logs)
  if logs.loss < 10 then self.trainer.stop_training = true end
end
local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 5, callbacks = {Stopper()}, verbose = 0})
print(#hist.epoch)  --> 1]=])

entry('brasa.callbacks.Callback:extend', 'callbacks.Callback:extend(name?) -> class',
  'A callback class; Class(fields) or Class.new(fields) makes an instance.', nil,
  [=[
local C = brasa.callbacks.Callback:extend('C')
print(type(C().on_epoch_end))  --> function]=])

entry('brasa.callbacks.Callback.new', 'Class.new(fields?) -> callback',
  'An instance of a callback class (the same as calling the class).', nil,
  [=[
print(type(brasa.callbacks.Callback.new().on_train_begin))  --> function]=])

entry('brasa.callbacks.Callback:set_trainer', 'cb:set_trainer(trainer)',
  'Called by fit before on_train_begin: sets cb.trainer and cb.model.', nil,
  [=[
local cb = brasa.callbacks.Callback.new()
cb:set_trainer({model = 'm'})
print(cb.model)  --> m]=])

entry('brasa.callbacks.Callback:say', 'cb:say(text)',
  "A message through fit's progress display (silent when the callback's verbose is 0).", nil,
  [=[
local cb = brasa.callbacks.Callback.new({verbose = 0})
cb:say('quiet')]=])

for _, hook in ipairs {'on_train_begin', 'on_train_end', 'on_epoch_begin', 'on_epoch_end',
                       'on_train_batch_begin', 'on_train_batch_end'} do
  local counted = hook:find('epoch') or hook:find('batch')
  local what = hook:find('batch') and 'batch' or 'epoch'
  entry('brasa.callbacks.Callback:' .. hook,
    'cb:' .. hook .. (counted and '(' .. what .. ', logs)' or '(logs)'),
    'A hook fit calls (a no-op in the base class).', nil,
    'brasa.callbacks.Callback.new():' .. hook .. (counted and '(1, {})' or '({})'))
end

entry('brasa.callbacks.EarlyStopping',
  'callbacks.EarlyStopping{monitor = "val_loss", min_delta = 0, patience = 0, mode = "auto", baseline, restore_best_weights = false, verbose = 1}',
  'Stops training when the monitored value stops improving.',
  [=[
Stops after patience epochs without an improvement larger than min_delta
(mode 'auto': 'max' for accuracies and scores, 'min' otherwise). With
restore_best_weights the model ends with the weights of its best epoch,
whether training stopped early or ran all its epochs. Afterwards: cb.best,
cb.best_epoch, cb.stopped_epoch; the History's stop_reason is
'early_stopping'.]=],
  SETUP .. [=[
local es = brasa.callbacks.EarlyStopping{monitor = 'loss', patience = 1, min_delta = 10, verbose = 0}
local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 10, callbacks = {es}, verbose = 0})
print(#hist.epoch, es.stopped_epoch, hist.stop_reason)  --> 2 2 early_stopping]=])

entry('brasa.callbacks.ModelCheckpoint',
  'callbacks.ModelCheckpoint{filepath, monitor = "val_loss", save_best_only = false, save_weights_only = false, include_optimizer = true, mode = "auto", verbose = 1}',
  'Saves the model at each epoch end, or only when it improves; every write atomic.',
  [=[
filepath may name values: 'ckpt-{epoch:02d}-{val_loss:.3f}.safetensors'.
The model is saved with model:save (architecture, weights, and the
optimiser's state unless include_optimizer = false), or the weights alone
with save_weights_only. cb.best and cb.last_path tell what was saved last.]=],
  SETUP .. [=[
local path = os.tmpname()
local ck = brasa.callbacks.ModelCheckpoint{path, monitor = 'loss', save_best_only = true, verbose = 0}
model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 3, callbacks = {ck}, verbose = 0})
print(brasa.load(path):predict(x):equal(model:predict(x)))  --> true
os.remove(path)]=])

entry('brasa.callbacks.ModelCheckpoint:save', 'cb:save(path)', 'Writes the checkpoint (called at epoch ends).', nil,
  [=[
print(type(brasa.callbacks.ModelCheckpoint.save))  --> function]=])

entry('brasa.callbacks.fill_path', 'callbacks.fill_path(pattern, epoch, logs) -> string',
  "A checkpoint name from a pattern: '{epoch:02d}', '{val_loss:.3f}'.", nil,
  [=[
print(brasa.callbacks.fill_path('m-{epoch:02d}-{loss:.2f}.st', 3, {loss = 0.4567}))  --> m-03-0.46.st]=])

entry('brasa.callbacks.ReduceLROnPlateau',
  'callbacks.ReduceLROnPlateau{monitor = "val_loss", factor = 0.1, patience = 10, mode = "auto", min_delta = 1e-4, cooldown = 0, min_lr = 0, verbose = 1}',
  "Multiplies the learning rate by factor when the monitored value stops improving.",
  [=[
Every parameter group's lr changes (opt.param_groups[i].lr); then cooldown
epochs pass before the next reduction can happen. hist.history.lr shows
the rate of each epoch.]=],
  SETUP .. [=[
local cb = brasa.callbacks.ReduceLROnPlateau{monitor = 'loss', factor = 0.5, patience = 1, min_delta = 10, verbose = 0}
local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model:parameters(), {lr = 0.1}),
  epochs = 3, callbacks = {cb}, verbose = 0})
print(hist.history.lr[1], hist.history.lr[2], hist.history.lr[3])  --> 0.1 0.1 0.05]=])

entry('brasa.callbacks.LearningRateScheduler', 'callbacks.LearningRateScheduler(schedule, {verbose = 0})',
  'Sets the learning rate at the start of each epoch to schedule(epoch, lr).',
  'schedule may also be a scheduler of brasa.optim (with step()): its step() runs after each epoch.',
  SETUP .. [=[
local cb = brasa.callbacks.LearningRateScheduler(function(epoch, lr) return 0.1 / epoch end)
local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 2, callbacks = {cb}, verbose = 0})
print(hist.history.lr[1], hist.history.lr[2])  --> 0.1 0.05]=])

entry('brasa.callbacks.CSVLogger', 'callbacks.CSVLogger(filename, {separator = ",", append = false})',
  'Writes a line per epoch (epoch, then the logs) to a CSV file, with a header.', nil,
  SETUP .. [=[
local path = os.tmpname()
model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 2, metrics = {'accuracy'},
  callbacks = {brasa.callbacks.CSVLogger(path)}, verbose = 0})
local f = io.open(path); local header = f:read('l'); f:close()
print(header)  --> epoch,loss,accuracy,lr,time
os.remove(path)]=])

entry('brasa.callbacks.LambdaCallback', 'callbacks.LambdaCallback{on_epoch_end = fn, ...}',
  'A callback from functions: each hook gets its usual arguments and the trainer.', nil,
  SETUP .. [=[
local losses = {}
local cb = brasa.callbacks.LambdaCallback{on_train_batch_end = function(batch, logs) losses[#losses + 1] = logs.loss end}
model:fit(x, y, {loss = nn.CrossEntropyLoss(), batch_size = 16, callbacks = {cb}, verbose = 0})
print(#losses)  --> 4]=])

entry('brasa.callbacks.TerminateOnNaN', 'callbacks.TerminateOnNaN{verbose = 1}',
  "Stops training at a NaN or infinite loss, before that batch's step (on by default).",
  [=[
fit runs one unless the list has one or opts.terminate_on_nan = false. It
says the epoch and batch; cb.epoch and cb.batch keep them, and the
History's stop_reason is 'nan'.]=],
  SETUP .. [=[
local guard = brasa.callbacks.TerminateOnNaN{verbose = 0}
local bad = function(out, t) return out:sum() * (0 / 0) end
local hist = model:fit(x, y, {loss = bad, epochs = 2, callbacks = {guard}, verbose = 0})
print(guard.epoch, guard.batch, hist.stop_reason)  --> 1 1 nan]=])

entry('brasa.callbacks.TerminateOnNaN:check', 'cb:check(epoch, batch, loss) -> boolean',
  'True (and stops the run) when loss is not finite; fit calls it before each backward pass.', nil,
  [=[
print(type(brasa.callbacks.TerminateOnNaN.check))  --> function]=])

---------------------------------------------------------------------------
-- Saving
---------------------------------------------------------------------------

entry('brasa.serialize', 'brasa.serialize (require "brasa.serialize")',
  'Models and optimisers in safetensors files, architecture as data, atomic writes.',
  [=[
model:save(path) writes the weights under their state_dict names and the
architecture as a JSON string in the metadata ('brasa.architecture'):
class names, constructor arguments and children. brasa.load(path) rebuilds
it from the classes this session defines and never runs anything from the
file. Constructor arguments that are functions or objects other than
modules, tensors and regularisers (custom initialisers) are not saved (the
JSON lists them under "dropped"), nor are plain fields changed after
construction; children added or replaced later are. A PyTorch state dict
of the same architecture loads with model:load_weights(path, {mapping =
'torch'}). Every write goes to a temporary file renamed at the end.]=],
  [=[
local s = require 'brasa.serialize'
local nn = brasa.nn
local model = nn.Sequential{nn.Linear(2, 3), nn.ReLU()}
local arch = s.describe(model)
print(arch.module.type, arch.module.children[1][2].type)  --> Sequential Linear]=])

entry('brasa.serialize.save', 'serialize.save(model, path, opts?) -> path', 'The function behind model:save.', nil,
  [=[
local path = os.tmpname()
require('brasa.serialize').save(brasa.nn.Linear(2, 2), path)
print(brasa.load(path).out_features)  --> 2
os.remove(path)]=])

entry('brasa.serialize.load', 'serialize.load(path, opts?) -> model, metadata, optimizer', 'The same as brasa.load.', nil,
  [=[
print(require('brasa.serialize').load == brasa.load)  --> true]=])

entry('brasa.serialize.save_weights', 'serialize.save_weights(model, path, opts?) -> path',
  'The weights alone (a state dict file, as PyTorch users exchange).', nil,
  [=[
local path = os.tmpname()
local s = require 'brasa.serialize'
s.save_weights(brasa.nn.Linear(2, 2), path)
print((pcall(brasa.load, path)))  --> false
os.remove(path)]=])

entry('brasa.serialize.load_weights', 'serialize.load_weights(model, path, opts?) -> model',
  'The function behind model:load_weights.', nil,
  [=[
local s = require 'brasa.serialize'
local a, b = brasa.nn.Linear(2, 2), brasa.nn.Linear(2, 2)
local path = os.tmpname()
s.save_weights(a, path)
s.load_weights(b, path)
print(b.weight:equal(a.weight))  --> true
os.remove(path)]=])

entry('brasa.serialize.save_optimizer', 'serialize.save_optimizer(opt, path) -> path',
  "An optimiser's state alone (steps, moments, learning rates).", nil,
  [=[
local s = require 'brasa.serialize'
local lin = brasa.nn.Linear(2, 1)
local opt = brasa.optim.Adam(lin:parameters(), {lr = 0.01})
lin(brasa.ones(1, 2)):sum():backward(); opt:step()
local path = os.tmpname()
s.save_optimizer(opt, path)
local opt2 = brasa.optim.Adam(lin:parameters(), {lr = 0.5})
s.load_optimizer(opt2, path)
print(opt2.param_groups[1].lr)  --> 0.01
os.remove(path)]=])

entry('brasa.serialize.load_optimizer', 'serialize.load_optimizer(opt, path) -> opt',
  'Restores what save_optimizer (or model:save with {optimizer = opt}) wrote.',
  'opt must be built on the same parameters in the same order (the loaded model\'s).',
  [=[
print(type(require('brasa.serialize').load_optimizer))  --> function]=])

entry('brasa.serialize.register', 'serialize.register(class, name?) -> class',
  'Makes a module class known to brasa.load (under another name, or again).',
  'Every brasa.nn class and every class made with nn.Module:extend is registered by its name already.',
  [=[
local s = require 'brasa.serialize'
local Twice = brasa.nn.Module:extend('Twice')
function Twice:forward(x) return x * 2 end
s.register(Twice, 'Doubler')
print(s.classes()[1] ~= nil)  --> true]=])

entry('brasa.serialize.classes', 'serialize.classes() -> {names}', 'The registered class names, sorted.', nil,
  [=[
local names = table.concat(require('brasa.serialize').classes(), ' ')
print(names:find('Linear') ~= nil)  --> true]=])

entry('brasa.serialize.describe', 'serialize.describe(model) -> architecture, tensors',
  "The model's architecture as a Lua table (what model:save stores as JSON).", nil,
  [=[
local arch = require('brasa.serialize').describe(brasa.nn.Linear(3, 2, {bias = false}))
print(arch.module.type, arch.module.args[1], arch.module.args[3].bias)  --> Linear 3 false]=])

entry('brasa.serialize.build', 'serialize.build(architecture, opts?) -> model',
  'A new model from a description (a table or its JSON), calling registered classes only.', nil,
  [=[
local s = require 'brasa.serialize'
local m = s.build(s.describe(brasa.nn.Sequential{brasa.nn.Linear(3, 2), brasa.nn.Tanh()}))
print(m[1].in_features, m[2]:type_name())  --> 3 Tanh
print(pcall(s.build, '{"format":"brasa.model","module":{"type":"os.execute"}}'))]=])

entry('brasa.serialize.compare', 'serialize.compare(expected, found) -> {differences}',
  'What differs between two tables of name -> tensor: missing and extra names, shapes, dtypes.', nil,
  [=[
local d = require('brasa.serialize').compare({w = brasa.zeros(2, 3)}, {w = brasa.zeros(3, 2)})
print(d[1])  --> w: shape [3x2] in the file, [2x3] in the model]=])

entry('brasa.serialize.float_dtype', 'serialize.float_dtype(model) -> dtype | nil',
  "The dtype of the model's floating tensors when they all share one.", nil,
  [=[
print(require('brasa.serialize').float_dtype(brasa.nn.Linear(2, 2):double()))  --> f64]=])

entry('brasa.serialize.torch_name', 'serialize.torch_name(name) -> name',
  "A PyTorch state-dict name in brasa's numbering: numeric parts but the last get 1 added.",
  "nn.Sequential and nn.ModuleList number children from 0 in PyTorch and from 1 in brasa.",
  [=[
local t = require('brasa.serialize').torch_name
print(t('0.weight'), t('features.3.0.bias'))  --> 1.weight features.4.1.bias]=])

entry('brasa.serialize.torch_state_dict', 'serialize.torch_state_dict(sd, model?) -> sd',
  "A PyTorch state dict with brasa's names (BatchNorm counters the model lacks left out).", nil,
  [=[
local sd = require('brasa.serialize').torch_state_dict({['0.bias'] = brasa.zeros(2)})
print(sd['1.bias'] ~= nil)  --> true]=])

entry('brasa.serialize.save_state_dict', 'serialize.save_state_dict(path, sd, metadata?) -> path',
  'A table of name -> tensor to a safetensors file.', nil,
  [=[
local s = require 'brasa.serialize'
local path = os.tmpname()
s.save_state_dict(path, {a = brasa.ones(2)}, {note = 'x'})
local sd, meta = s.load_state_dict(path)
print(sd.a:sum():item(), meta.note)  --> 2.0 x
os.remove(path)]=])

entry('brasa.serialize.load_state_dict', 'serialize.load_state_dict(path) -> sd, metadata',
  'A safetensors file as a table of name -> tensor and its metadata strings.', nil,
  [=[
print(type(require('brasa.serialize').load_state_dict))  --> function]=])

entry('brasa.serialize.install', 'serialize.install(Module, nn)',
  'Registers the classes of brasa.nn and records how every module is built (brasa.train.install calls it).', nil,
  [=[
print(type(require('brasa.serialize').install))  --> function]=])

entry('brasa.serialize.json.encode', 'serialize.json.encode(value) -> string',
  'JSON text of a Lua value (lists as arrays, keys sorted, integer keys as "#k").', nil,
  [=[
print(require('brasa.serialize').json.encode({a = {1, 2.5, 'x'}, b = true}))  --> {"a":[1,2.5,"x"],"b":true}]=])

entry('brasa.serialize.json.decode', 'serialize.json.decode(text) -> value',
  'The Lua value of JSON text (null as nil); malformed text raises an error naming the byte.', nil,
  [=[
local json = require('brasa.serialize').json
print(json.decode('{"a": [1, 2]}').a[2])  --> 2
print(pcall(json.decode, '{"a": }'))  --> false json: a value expected at byte 7]=])

doc.addall(list)

--- Binds the functions of the training modules to their entries (called
-- by brasa.train.install when brasa.nn loads).
function M.bind(Module)
  for _, m in ipairs {'fit', 'evaluate', 'predict', 'save', 'load_weights'} do
    doc.bind(Module[m], 'brasa.nn.Module:' .. m)
  end
  local modules = {
    ['brasa.metrics'] = require 'brasa.metrics', ['brasa.callbacks'] = require 'brasa.callbacks',
    ['brasa.serialize'] = require 'brasa.serialize', ['brasa.progress'] = require 'brasa.progress',
    ['brasa.train'] = require 'brasa.train',
  }
  for prefix, t in pairs(modules) do
    doc.bind(t, prefix)
    for k, v in pairs(t) do
      if type(k) == 'string' then
        local name = prefix .. '.' .. k
        if type(v) == 'function' then
          doc.bind(v, name)
        elseif type(v) == 'table' and doc.get(name) then   -- a class: its methods
          doc.bind(v, name)
          for mk, f in pairs(v) do
            if type(f) == 'function' and type(mk) == 'string' then
              doc.bind(f, name .. ':' .. mk)
              doc.bind(f, name .. '.' .. mk)
            end
          end
        end
      end
    end
  end
  local json = modules['brasa.serialize'].json
  doc.bind(json.encode, 'brasa.serialize.json.encode')
  doc.bind(json.decode, 'brasa.serialize.json.decode')
  doc.bind(modules['brasa.serialize'].load, 'brasa.load')
end

-- brasa.load is a field of brasa from the start: bind it now (serialize
-- loads nothing else when required).
doc.bind(require('brasa.serialize').load, 'brasa.load')
doc.bind(require('brasa.flags').parse, 'brasa.flags.parse')

M.entries = list
return M
