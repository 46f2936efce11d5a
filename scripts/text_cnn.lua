-- scripts/text_cnn.lua: the course's text CNN on the fortune-cookie texts.
--
--   clean -> Tokenizer{num_words = 25000} -> texts_to_sequences ->
--   pad_sequences{maxlen = 200} -> to_categorical (one-hot labels);
--   Embedding(25000, 150) -> Conv1d(150, 64, 3) + ReLU -> GlobalMaxPool1d
--   -> Linear(64, 32) + ReLU (l2(0.01) on the kernel) -> Linear(32, n) ->
--   Softmax; categorical cross-entropy on one-hot targets (from_logits =
--   false), Adam (lr 1e-3), at most 10 epochs, batches of 128,
--   validation_split 0.2, EarlyStopping on val_loss (patience 2, best
--   weights restored). Prints the summary, the test accuracy and the
--   confusion matrix; saves the curves (text_cnn.png) and the confusion
--   matrix (text_cnn_confusion.png).
--
--   build/brasa scripts/text_cnn.lua [--epochs 10] [--threads 2] [--seed 1]
--       [--n-train N] [--fast] [--out .] [--no-plot] [--bench]
--
-- Channels last: an Embedding yields [N x L x D], while brasa's Conv1d (as
-- PyTorch's) reads [N x C x L]. Keras's Conv1D is channels-last, so the
-- course's recipe gives the convolution {input_channels_last = true}: it
-- transposes its input to [N x D x L] inside forward and returns
-- [N x 64 x L'] as usual, which GlobalMaxPool1d reduces over L. No manual
-- transpose in the Sequential (see help(brasa.nn.Conv1d)).
--
-- --fast: 800 training texts, 2 epochs (a smoke run). --n-train N keeps the
-- first N training texts. The data come from the Debian packages fortunes
-- and fortunes-min (brasa.data.fortunes). --bench adds one machine-readable
-- line at the end for bench/bench_text_cnn.lua (brasa against PyTorch).

local brasa = brasa or require 'brasa'
local nn, optim, plot, metrics, text = brasa.nn, brasa.optim, brasa.plot, brasa.metrics, brasa.text

local opts = require('brasa.flags').parse(arg or {}, {
  epochs = 10, threads = 2, n_train = 0, seed = 1, out = '.',
  batch_size = 128, plot = true, fast = false, bench = false})
if opts.fast then
  if opts.n_train == 0 then opts.n_train = 800 end
  opts.epochs = math.min(opts.epochs, 2)
end
brasa.set_num_threads(opts.threads)
brasa.manual_seed(opts.seed)

local NUM_WORDS, MAXLEN, EMBED = 25000, 200, 150

local train, test = brasa.data.fortunes()
if opts.n_train > 0 and opts.n_train < #train.texts then
  local texts = {}
  for i = 1, opts.n_train do texts[i] = train.texts[i] end
  train = {texts = texts, y = train.y:narrow(1, 1, opts.n_train), classes = train.classes}
end
local n = #train.classes
print(string.format('fortunes: %d training and %d test texts, %d classes (%s); %d threads',
  #train.texts, #test.texts, n, table.concat(train.classes, ', '), brasa.get_num_threads()))

-- Texts -> padded id sequences; labels -> one-hot rows.
local function cleaned(texts)
  local out = {}
  for i, s in ipairs(texts) do out[i] = text.clean(s) end
  return out
end
local train_texts, test_texts = cleaned(train.texts), cleaned(test.texts)
local tok = text.Tokenizer{num_words = NUM_WORDS}
tok:fit_on_texts(train_texts)
local x_train = text.pad_sequences(tok:texts_to_sequences(train_texts), {maxlen = MAXLEN})
local x_test = text.pad_sequences(tok:texts_to_sequences(test_texts), {maxlen = MAXLEN})
local y_train = text.to_categorical(train.y, n)
local y_test = text.to_categorical(test.y, n)
print(string.format('x_train %s, y_train %s', table.concat(x_train.shape, 'x'), table.concat(y_train.shape, 'x')))

local model = nn.Sequential{
  nn.Embedding(NUM_WORDS, EMBED),                                   -- N x 200 x 150
  nn.Conv1d(EMBED, 64, 3, {input_channels_last = true}), nn.ReLU(), -- N x 64 x 198
  nn.GlobalMaxPool1d(),                                             -- N x 64
  nn.Linear(64, 32, {activation = 'relu', kernel_regularizer = nn.regularizers.l2(0.01)}),
  nn.Linear(32, n),
  nn.Softmax(),
}
model:summary({MAXLEN}, {dtype = 'i64'})

local hist = model:fit({x = x_train, y = y_train}, {
  loss = nn.CrossEntropyLoss{from_logits = false},
  optimizer = optim.Adam(model:parameters(), {lr = 1e-3}),
  epochs = opts.epochs, batch_size = opts.batch_size, metrics = {'accuracy'},
  validation_split = 0.2,
  callbacks = {brasa.callbacks.EarlyStopping{monitor = 'val_loss', patience = 2, restore_best_weights = true}},
})
local epochs_run = #hist.epoch
local total = 0
for _, t in ipairs(hist.history.time or {}) do total = total + t end
print(string.format('epochs run: %d of %d; %.2f s per epoch (%.1f s in all)',
  epochs_run, opts.epochs, total / math.max(epochs_run, 1), total))
local _, best_epoch = hist:best('val_loss')   -- the epoch whose weights EarlyStopping restored
for i, e in ipairs(hist.epoch) do
  if e == best_epoch then
    print(string.format('best val_loss %.4f at epoch %d (weights kept): val_accuracy %.4f',
      hist.history.val_loss[i], e, hist.history.val_accuracy[i]))
  end
end

local result = model:evaluate({x = x_test, y = y_test})
print(string.format('test accuracy: %.4f', result.accuracy))

local predicted = model:predict(x_test):argmax(2)
local cm = metrics.confusion_matrix(test.y, predicted, n)
print(metrics.format_confusion(cm, test.classes))

if opts.plot then
  local base = opts.out .. '/text_cnn'
  local ok, err = pcall(function()
    hist:plot({title = 'Text CNN (fortunes)'})
    plot.save(base .. '.png')
    plot.heatmap(cm, {labels = test.classes, title = 'Confusion matrix (rows: true class)'})
    plot.save(base .. '_confusion.png')
  end)
  print(ok and ('curves and confusion matrix saved to ' .. base .. '.png and ' .. base .. '_confusion.png')
        or ('no plots: ' .. tostring(err)))
end

if opts.bench then
  -- For bench/bench_text_cnn.lua: the epoch times (training and validation
  -- passes), the test accuracy, the peak resident memory (VmHWM) and a
  -- checksum of the padded ids, which the PyTorch peer computes on its own.
  local rss = 0
  for line in io.lines('/proc/self/status') do
    rss = tonumber(line:match('^VmHWM:%s+(%d+)')) or rss
  end
  local h = 0
  for _, x in ipairs{x_train, x_test} do
    for _, row in ipairs(x:totable()) do
      for _, v in ipairs(row) do h = (h * 31 + v + 1) % 2147483647 end
    end
  end
  local times = {}
  for i, t in ipairs(hist.history.time) do times[i] = string.format('%.4f', t) end
  print(string.format('RESULT seed=%d epochs=%s test_acc=%.4f best_epoch=%d rss_mib=%.1f x_check=%d threads=%d',
    opts.seed, table.concat(times, ','), result.accuracy, best_epoch or 0, rss / 1024, h, brasa.get_num_threads()))
end
