-- model:fit / evaluate / predict, callbacks, the progress display, Ctrl-C,
-- and the examples of the training documentation (lua/brasa/docs/train.lua).
--
-- The Fashion-MNIST cases use the first 2,000 training images (the Debian
-- package dataset-fashion-mnist, installed by tools/setup.sh).

local brasa = require 'brasa'
local nn, optim = brasa.nn, brasa.optim
local callbacks = brasa.callbacks
local doc = require 'brasa.doc'
local examples = require 'doc_examples'

-- A small separable problem: class 2 when the first feature is positive.
local function toy(n, seed)
  brasa.manual_seed(seed or 0)
  local x = brasa.randn(n, 4)
  local y = x:select(2, 1):gt(0):long() + 1
  return x, y
end

local function mlp(n_in, n_out)
  return nn.Sequential{nn.Linear(n_in, 16), nn.ReLU(), nn.Linear(16, n_out or 2)}
end

-- An io.stdout stand-in that keeps what is written.
local function capture()
  local buf = {}
  return {
    write = function(self, ...) for _, s in ipairs{...} do buf[#buf + 1] = tostring(s) end return self end,
    flush = function() end,
    text = function() return table.concat(buf) end,
  }
end

-- Runs fn with io.stdout replaced; returns what was written.
local function with_stdout(fn)
  local out = capture()
  local real = io.stdout
  io.stdout = out
  local ok, err = pcall(fn)
  io.stdout = real
  if not ok then error(err, 0) end
  return out:text()
end

local function count_lines(s, pattern)
  local n = 0
  for line in s:gmatch('[^\n]+') do if line:find(pattern) then n = n + 1 end end
  return n
end

describe('fit on Fashion-MNIST', function()
  local train, test
  setup(function()
    local ok, a, b = pcall(brasa.data.fashion_mnist, {n_train = 2000, n_test = 1000})
    assert(ok, 'Fashion-MNIST is needed (Debian package dataset-fashion-mnist): ' .. tostring(a))
    train, test = a, b
  end)

  it('lowers the loss and beats chance by a wide margin (MLP, 2,000 images)', function()
    brasa.manual_seed(1)
    local model = nn.Sequential{nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)}
    local hist = model:fit(train, {
      loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(model:parameters(), {lr = 1e-3}),
      epochs = 5, batch_size = 64, metrics = {'accuracy'}, verbose = 0,
    })
    local loss = hist.history.loss
    assert.is_true(loss[5] < 0.6 * loss[1], 'loss ' .. loss[1] .. ' -> ' .. loss[5])
    for e = 2, 5 do assert.is_true(loss[e] < loss[e - 1]) end
    local r = model:evaluate(test, {verbose = 0})
    assert.is_true(r.accuracy > 0.7, 'test accuracy ' .. r.accuracy .. ' (chance is 0.1)')
    assert.is_true(r.loss < 1.0)
    local pred = model:predict(test.x):argmax(2)
    assert.are.equal(r.accuracy, brasa.metrics.accuracy(test.y, pred))
  end)

  it('trains from a DataLoader, with validation_data a DataLoader too', function()
    brasa.manual_seed(2)
    local d = brasa.data
    local model = nn.Sequential{nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)}
    local loader = d.DataLoader(train, {batch_size = 100, shuffle = true})
    local val = d.DataLoader(test, {batch_size = 500})
    local hist = model:fit(loader, {loss = nn.CrossEntropyLoss(), epochs = 2, metrics = {'accuracy'},
      validation_data = val, verbose = 0})
    assert.are.equal(20, hist.params.steps)
    assert.are.equal(100, hist.params.batch_size)
    assert.are.equal(2, #hist.history.val_accuracy)
    assert.is_true(hist.history.val_accuracy[2] > 0.6)
    local ok, err = pcall(model.fit, model, loader, {loss = nn.CrossEntropyLoss(), validation_split = 0.1})
    assert.is_false(ok)
    assert.matches('validation_data', err)
    ok, err = pcall(model.fit, model, loader, {loss = nn.CrossEntropyLoss(), batch_size = 32})
    assert.is_false(ok)
    assert.matches('DataLoader', err)
  end)
end)

describe('fit', function()
  it('returns a History laid out as DESIGN.md says', function()
    local x, y = toy(96)
    local model = mlp(4)
    local hist = model:fit({x = x, y = y}, {loss = nn.CrossEntropyLoss(), epochs = 3, batch_size = 32,
      validation_split = 0.25, metrics = {'accuracy'}, verbose = 0})
    assert.are.same({1, 2, 3}, hist.epoch)
    for _, k in ipairs {'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'time'} do
      local h = hist.history[k]
      assert.is_table(h, k)
      assert.are.equal(3, #h, k)
      for _, v in ipairs(h) do assert.are.equal('float', math.type(v), k) end
    end
    for _, v in ipairs(hist.history.accuracy) do assert.is_true(v >= 0 and v <= 1) end
    assert.are.equal(72, hist.params.samples)
    assert.are.equal(3, hist.params.steps)
    assert.is_nil(hist.stop_reason)
    assert.matches('val_accuracy', tostring(hist))
  end)

  it('accepts fit(x, y, opts) and a data set of functions', function()
    local x, y = toy(40)
    local model = mlp(4)
    local h1 = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 2, verbose = 0})
    assert.are.equal(2, #h1.history.loss)
    local ds = {len = function() return 40 end, get = function(i) return x[i], y[i] end}
    local h2 = model:fit(ds, {loss = nn.CrossEntropyLoss(), epochs = 1, batch_size = 8,
      validation_split = 0.25, verbose = 0})
    assert.are.equal(4, h2.params.steps)
    assert.are.equal(1, #h2.history.val_loss)
  end)

  it('holds out the last fraction of the data with validation_split (as Keras)', function()
    local x, y = toy(100, 3)
    local model = mlp(4)
    local loss = nn.CrossEntropyLoss()
    local hist = model:fit(x, y, {loss = loss, epochs = 1, batch_size = 10, validation_split = 0.3,
      metrics = {'accuracy'}, verbose = 0})
    assert.are.equal(70, hist.params.samples)
    local r = model:evaluate(x:narrow(1, 71, 30), y:narrow(1, 71, 30), {verbose = 0})
    assert.is_true(math.abs(r.loss - hist.history.val_loss[1]) < 1e-6)
    assert.are.equal(r.accuracy, hist.history.val_accuracy[1])
  end)

  it('validates in eval mode (no dropout, BatchNorm statistics untouched)', function()
    local x, y = toy(64, 8)
    brasa.manual_seed(9)
    local model = nn.Sequential{nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2)}
    local val = {x = x:narrow(1, 1, 16), y = y:narrow(1, 1, 16)}
    local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 1, batch_size = 16,
      validation_data = val, verbose = 0})
    local r = model:evaluate(val, {verbose = 0})
    assert.are.equal(r.loss, hist.history.val_loss[1])
    assert.is_true(model.training)
  end)

  it('keeps the modes of a model in train mode (a frozen BatchNorm stays frozen)', function()
    local x, y = toy(64, 8)
    local model = nn.Sequential{nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2)}
    model[2]:eval()
    local before = model[2].running_mean:clone()
    local seen
    local spy = callbacks.LambdaCallback{on_train_batch_end = function() seen = model[2].training end}
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 2, batch_size = 16, validation_split = 0.25,
      callbacks = {spy}, verbose = 0})
    assert.is_false(seen)
    assert.is_true(model[2].running_mean:equal(before))
    model:eval()                                   -- a model in eval mode trains in train mode
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 1, batch_size = 16, callbacks = {spy}, verbose = 0})
    assert.is_true(seen)
    assert.is_false(model.training)                -- and goes back to eval mode after
  end)

  it('takes validation_data as a table {x, y}, and refuses both validation options', function()
    local x, y = toy(50)
    local model = mlp(4)
    local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 1,
      validation_data = {x:narrow(1, 1, 10), y:narrow(1, 1, 10)}, verbose = 0})
    assert.are.equal(1, #hist.history.val_loss)
    local ok, err = pcall(model.fit, model, x, y, {loss = nn.CrossEntropyLoss(), validation_split = 0.2,
      validation_data = {x = x, y = y}})
    assert.is_false(ok)
    assert.matches('not both', err)
  end)

  it('weights the loss of each example by class_weight (mean over the batch, as Keras)', function()
    local x, y = toy(32, 5)
    local model = mlp(4)
    local loss = nn.CrossEntropyLoss()
    local out = brasa.no_grad(function() return model(x) end)
    local per = nn.CrossEntropyLoss{reduction = 'none'}(out, y)
    local w = y:float() * 2 - 1          -- class 1 -> 1, class 2 -> 3
    local expected = (per * w):mean():item()
    local hist = model:fit(x, y, {loss = loss, optimizer = optim.SGD(model:parameters(), {lr = 0}),
      epochs = 1, batch_size = 32, shuffle = false, class_weight = {[1] = 1, [2] = 3}, verbose = 0})
    assert.is_true(math.abs(hist.history.loss[1] - expected) < 1e-5,
      hist.history.loss[1] .. ' vs ' .. expected)
    -- the weighted class is favoured
    local xs, ys = toy(400, 6)
    local recalls = {}
    for _, cw in ipairs {{[1] = 1, [2] = 1}, {[1] = 1, [2] = 30}} do
      brasa.manual_seed(7)
      local m = nn.Sequential{nn.Linear(4, 2)}
      -- shift the data so the classes overlap and the weights matter
      local noisy = xs + brasa.randn(400, 4) * 1.5
      m:fit(noisy, ys, {loss = nn.CrossEntropyLoss(), optimizer = optim.Adam(m:parameters(), {lr = 0.05}),
        epochs = 10, batch_size = 50, class_weight = cw, verbose = 0})
      recalls[#recalls + 1] = brasa.metrics.recall(ys, m:predict(noisy))[2]
    end
    assert.is_true(recalls[2] > recalls[1], recalls[1] .. ' -> ' .. recalls[2])
  end)

  it('adds the regularisation loss of the layers to the loss', function()
    local x, y = toy(16)
    local reg = nn.regularizers.l2(0.5)
    local model = nn.Sequential{nn.Linear(4, 2, {weight_regularizer = reg})}
    local out = brasa.no_grad(function() return model(x) end)
    local plain = nn.CrossEntropyLoss()(out, y):item()
    local penalty = brasa.no_grad(function() return model:regularization_loss():item() end)
    assert.is_true(penalty > 0)
    local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), optimizer = optim.SGD(model:parameters(), {lr = 0}),
      epochs = 1, batch_size = 16, validation_data = {x = x, y = y}, verbose = 0})
    assert.is_true(math.abs(hist.history.loss[1] - (plain + penalty)) < 1e-5)
    assert.is_true(math.abs(hist.history.val_loss[1] - (plain + penalty)) < 1e-5)
  end)

  it('computes metrics given by name, by function and by {name, fn}', function()
    local x, y = toy(64)
    local model = mlp(4)
    local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 1, batch_size = 16, verbose = 0,
      metrics = {'acc', 'f1', {'zero', function() return 0 end}, half = function(t, p) return 0.5 end}})
    assert.is_number(hist.history.acc[1])
    assert.is_number(hist.history.f1[1])
    assert.are.equal(0, hist.history.zero[1])
    assert.are.equal(0.5, hist.history.half[1])
  end)

  it('remembers the loss, optimiser and metrics of the last fit', function()
    local x, y = toy(32)
    local model = mlp(4)
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), metrics = {'accuracy'}, verbose = 0})
    local hist = model:fit(x, y, {epochs = 1, verbose = 0})
    assert.is_table(hist.history.accuracy)
    local r = model:evaluate(x, y, {verbose = 0})
    assert.is_number(r.loss)
    assert.is_number(r.accuracy)
  end)

  it('explains bad arguments', function()
    local x, y = toy(8)
    local model = mlp(4)
    local cases = {
      {{x, y, {epochs = 1}}, 'no loss'},
      {{x, y, {loss = nn.CrossEntropyLoss(), epoch = 2}}, "unknown option 'epoch'"},
      {{x, y:narrow(1, 1, 4), {loss = nn.CrossEntropyLoss()}}, 'x has 8 examples but y has 4'},
      {{x, y, {loss = nn.CrossEntropyLoss(), validation_split = 1.5}}, 'between 0 and 1'},
      {{x, y, {loss = 'hinge'}}, "unknown loss 'hinge'"},
      {{x, y, {loss = nn.CrossEntropyLoss(), metrics = {'accurasy'}}}, "unknown metric 'accurasy'"},
      {{x, y, {loss = nn.CrossEntropyLoss(), batch_size = 0}}, 'batch_size'},
      {{'data', {loss = nn.CrossEntropyLoss()}}, 'data must be'},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(model.fit, model, table.unpack(c[1]))
      assert.is_false(ok, c[2])
      assert.is_truthy(tostring(err):find(c[2], 1, true), tostring(err))
    end
  end)

  it('restores the modes of the modules after fit, evaluate and predict', function()
    local x, y = toy(16)
    local model = nn.Sequential{nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2)}
    model:eval()
    model[2]:train()
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), verbose = 0})
    assert.is_false(model.training)
    assert.is_true(model[2].training)
    assert.is_false(model[1].training)
    model:evaluate(x, y, {verbose = 0})
    model:predict(x)
    assert.is_true(model[2].training)
    assert.is_false(model[3].training)
  end)
end)

describe('evaluate and predict', function()
  it('batch without a graph and agree with one big batch', function()
    local x, y = toy(50)
    local model = mlp(4)
    local loss = nn.CrossEntropyLoss()
    local r = model:evaluate(x, y, {loss = loss, metrics = {'accuracy'}, batch_size = 7, verbose = 0})
    local out = brasa.no_grad(function() model:eval(); local o = model(x); model:train(); return o end)
    assert.is_true(math.abs(r.loss - loss(out, y):item()) < 1e-6)
    assert.are.equal(brasa.metrics.accuracy(y, out), r.accuracy)
    local p = model:predict(x, {batch_size = 7})
    assert.is_false(p.requires_grad)
    assert.is_true(p:allclose(out, 1e-6, 1e-6))
    assert.are.equal('{loss = ' .. string.format('%.4f', r.loss) .. ', accuracy = ' ..
      string.format('%.4f', r.accuracy) .. '}', tostring(r))
    local n = 0
    for _ in pairs(r) do n = n + 1 end
    assert.are.equal(2, n)
  end)

  it('prints one readable line unless verbose = 0', function()
    local x, y = toy(20)
    local model = mlp(4)
    local out = with_stdout(function()
      model:evaluate(x, y, {loss = nn.CrossEntropyLoss(), metrics = {'accuracy'}})
    end)
    assert.matches('evaluate: 20 examples', out)
    assert.matches('loss %d%.%d%d%d%d  accuracy %d%.%d%d%d%d', out)
    assert.are.equal('', with_stdout(function()
      model:evaluate(x, y, {loss = nn.CrossEntropyLoss(), verbose = 0})
    end))
  end)

  it('predicts from tables, data sets and loaders', function()
    local x, y = toy(30)
    local model = mlp(4)
    local a = model:predict(x)
    assert.is_true(model:predict({x = x, y = y}):equal(a))
    assert.is_true(model:predict(brasa.data.DataLoader({x = x, y = y}, {batch_size = 4})):equal(a))
    local ok, err = pcall(model.evaluate, model, x)
    assert.is_false(ok)
    assert.matches('targets', err)
  end)
end)

describe('callbacks', function()
  it('are called in order, hook by hook, callback by callback', function()
    local x, y = toy(24)
    local model = mlp(4)
    local calls = {}
    local function recorder(tag)
      local cb = {}
      for _, hook in ipairs(callbacks.HOOKS) do
        cb[hook] = function(self, a)
          calls[#calls + 1] = tag .. ':' .. hook .. (type(a) == 'number' and ('(' .. a .. ')') or '')
        end
      end
      return cb
    end
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 2, batch_size = 12, verbose = 0,
      callbacks = {recorder('A'), recorder('B')}})
    local expected = {'A:on_train_begin', 'B:on_train_begin'}
    for e = 1, 2 do
      expected[#expected + 1] = 'A:on_epoch_begin(' .. e .. ')'
      expected[#expected + 1] = 'B:on_epoch_begin(' .. e .. ')'
      for b = 1, 2 do
        for _, h in ipairs {'on_train_batch_begin', 'on_train_batch_end'} do
          expected[#expected + 1] = 'A:' .. h .. '(' .. b .. ')'
          expected[#expected + 1] = 'B:' .. h .. '(' .. b .. ')'
        end
      end
      expected[#expected + 1] = 'A:on_epoch_end(' .. e .. ')'
      expected[#expected + 1] = 'B:on_epoch_end(' .. e .. ')'
    end
    expected[#expected + 1] = 'A:on_train_end'
    expected[#expected + 1] = 'B:on_train_end'
    assert.are.same(expected, calls)
  end)

  it('see the logs and the trainer; LambdaCallback passes them on', function()
    local x, y = toy(24)
    local model = mlp(4)
    local seen = {}
    local cb = callbacks.LambdaCallback{
      on_train_begin = function(logs, trainer) seen.params = trainer.params end,
      on_epoch_end = function(epoch, logs, trainer)
        seen.logs = logs
        seen.model = trainer.model
      end,
      on_batch_end = function(batch, logs) seen.batch_loss = logs.loss end,
    }
    model:fit(x, y, {loss = nn.CrossEntropyLoss(), metrics = {'accuracy'}, validation_split = 0.5,
      callbacks = {cb}, verbose = 0})
    assert.are.equal(model, seen.model)
    assert.are.equal(1, seen.params.epochs)
    for _, k in ipairs {'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'time'} do
      assert.is_number(seen.logs[k], k)
    end
    assert.is_number(seen.batch_loss)
  end)

  -- Training pulls w towards 1 while the validation data wants -1: the
  -- validation loss rises from the first epoch on.
  local function diverging()
    local model = nn.Sequential{nn.Linear(1, 1, {bias = false})}
    brasa.no_grad(function() model[1].weight:fill_(0) end)
    local train = {x = brasa.ones(8, 1), y = brasa.ones(8, 1)}
    local val = {x = brasa.ones(4, 1), y = -brasa.ones(4, 1)}
    return model, train, val
  end

  it('EarlyStopping stops when val_loss rises and restores the best weights', function()
    local model, train, val = diverging()
    local weights = {}
    local keep = callbacks.LambdaCallback{on_epoch_end = function(epoch)
      weights[epoch] = model[1].weight:clone()
    end}
    local es = callbacks.EarlyStopping{monitor = 'val_loss', patience = 2, restore_best_weights = true, verbose = 0}
    local hist = model:fit(train, {loss = nn.MSELoss(), optimizer = optim.SGD(model:parameters(), {lr = 0.1}),
      epochs = 20, batch_size = 8, validation_data = val, callbacks = {keep, es}, verbose = 0})
    assert.are.equal(3, #hist.epoch)
    assert.are.equal('early_stopping', hist.stop_reason)
    assert.are.equal(1, es.best_epoch)
    assert.are.equal(3, es.stopped_epoch)
    for e = 2, 3 do assert.is_true(hist.history.val_loss[e] > hist.history.val_loss[e - 1]) end
    assert.is_false(model[1].weight:equal(weights[3]))
    assert.is_true(model[1].weight:equal(weights[1]))   -- bitwise
  end)

  it('EarlyStopping in max mode, with min_delta, and without restoring', function()
    local model, train, val = diverging()
    local es = callbacks.EarlyStopping{monitor = 'loss', mode = 'max', patience = 0, verbose = 0}
    local hist = model:fit(train, {loss = nn.MSELoss(), optimizer = optim.SGD(model:parameters(), {lr = 0.1}),
      epochs = 10, batch_size = 8, callbacks = {es}, verbose = 0})
    assert.are.equal(2, #hist.epoch)      -- the loss falls: 'max' sees no improvement at epoch 2
    local es2 = callbacks.EarlyStopping{monitor = 'accuracy', verbose = 0}
    assert.are.equal('max', es2.mode)
  end)

  it('ReduceLROnPlateau lowers every group\'s rate after patience epochs', function()
    local model, train, val = diverging()
    local opt = optim.SGD(model:parameters(), {lr = 0.1})
    local cb = callbacks.ReduceLROnPlateau{monitor = 'val_loss', factor = 0.5, patience = 2, verbose = 0}
    local hist = model:fit(train, {loss = nn.MSELoss(), optimizer = opt, epochs = 6, batch_size = 8,
      validation_data = val, callbacks = {cb}, verbose = 0})
    assert.are.same({0.1, 0.1, 0.1, 0.05, 0.05, 0.025}, hist.history.lr)
    assert.are.equal(0.025, opt.param_groups[1].lr)
  end)

  it('LearningRateScheduler sets the rate of each epoch', function()
    local model, train = diverging()
    local cb = callbacks.LearningRateScheduler(function(epoch, lr) return epoch == 1 and 0.5 or lr / 2 end)
    local hist = model:fit(train, {loss = nn.MSELoss(), optimizer = optim.SGD(model:parameters(), {lr = 9}),
      epochs = 3, batch_size = 8, callbacks = {cb}, verbose = 0})
    assert.are.same({0.5, 0.25, 0.125}, hist.history.lr)
    assert.has_error(function()
      model:fit(train, {callbacks = {callbacks.LearningRateScheduler(function() return 'x' end)}, verbose = 0})
    end)
  end)

  it('CSVLogger writes a header and a line per epoch, and appends', function()
    local model, train, val = diverging()
    local path = os.tmpname()
    local function run(opts)
      model:fit(train, {loss = nn.MSELoss(), optimizer = optim.SGD(model:parameters(), {lr = 0.1}),
        epochs = 2, batch_size = 8, validation_data = val, callbacks = {callbacks.CSVLogger(path, opts)},
        verbose = 0})
    end
    run()
    run({append = true})
    local lines = {}
    for line in io.lines(path) do lines[#lines + 1] = line end
    os.remove(path)
    assert.are.equal(5, #lines)
    assert.are.equal('epoch,loss,val_loss,lr,time', lines[1])
    assert.matches('^1,[%d.e-]+,[%d.e-]+,0%.1,[%d.e-]+$', lines[2])
    assert.matches('^2,', lines[5])
  end)

  it('ModelCheckpoint saves the best epoch only, atomically, with names from the logs', function()
    local model, train, val = diverging()
    local dir = os.tmpname()
    os.remove(dir)
    os.execute('mkdir -p ' .. dir)
    local weights = {}
    local keep = callbacks.LambdaCallback{on_epoch_end = function(epoch) weights[epoch] = model[1].weight:clone() end}
    local ck = callbacks.ModelCheckpoint{dir .. '/best.safetensors', monitor = 'val_loss', save_best_only = true,
      verbose = 0}
    local every = callbacks.ModelCheckpoint{dir .. '/e{epoch:02d}-{val_loss:.2f}.safetensors', verbose = 0}
    model:fit(train, {loss = nn.MSELoss(), optimizer = optim.SGD(model:parameters(), {lr = 0.1}),
      epochs = 3, batch_size = 8, validation_data = val, callbacks = {keep, ck, every}, verbose = 0})
    local best = brasa.load(dir .. '/best.safetensors')
    assert.is_true(best[1].weight:equal(weights[1]))
    local names = {}
    for name in io.popen('ls -a ' .. dir):lines() do names[#names + 1] = name end
    table.sort(names)
    assert.are.same({'.', '..', 'best.safetensors', 'e01-1.44.safetensors', 'e02-1.85.safetensors',
                     'e03-2.21.safetensors'}, names)   -- no temporary file left
    local _, meta = brasa.load(dir .. '/e03-2.21.safetensors')
    assert.is_string(meta['brasa.optimizer'])
    os.execute('rm -r ' .. dir)
  end)

  it('TerminateOnNaN (the default) stops before the step of a NaN batch, naming epoch and batch', function()
    local x, y = toy(40)
    local model = mlp(4)
    local calls = 0
    local before
    local function loss(out, t)
      calls = calls + 1
      if calls == 3 then
        before = model[1].weight:clone()
        return out:sum() * (0 / 0)
      end
      return nn.CrossEntropyLoss()(out, t)
    end
    local hist
    local printed = with_stdout(function()
      hist = model:fit(x, y, {loss = loss, epochs = 3, batch_size = 10, verbose = 2})
    end)
    assert.are.equal('nan', hist.stop_reason)
    assert.are.equal(0, #hist.epoch)
    assert.matches('TerminateOnNaN: the loss is NaN at epoch 1, batch 3', printed)
    assert.is_true(model[1].weight:equal(before))   -- no step with the NaN gradients
    assert.is_false(model[1].weight:isnan():any():item())
    local quiet = model:fit(x, y, {loss = function(o) return o:sum() * math.huge end, epochs = 1,
      terminate_on_nan = false, verbose = 0})
    assert.are.equal(1, #quiet.epoch)
    local l = quiet.history.loss[1]
    assert.is_true(l ~= l or l == math.huge or l == -math.huge)
  end)

  it('stop_training set by a callback ends the run after the batch', function()
    local x, y = toy(40)
    local model = mlp(4)
    local batches = 0
    local cb = callbacks.LambdaCallback{on_train_batch_end = function(b, logs, trainer)
      batches = batches + 1
      if b == 2 then trainer.stop_training = true end
    end}
    local hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 5, batch_size = 10,
      callbacks = {cb}, verbose = 0})
    assert.are.equal(2, batches)
    assert.are.equal(1, #hist.epoch)
  end)
end)

describe('the progress display', function()
  local x, y = toy(40)

  it('writes one line per epoch when stdout is not a terminal', function()
    local model = mlp(4)
    local out = with_stdout(function()
      model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 3, batch_size = 10, metrics = {'accuracy'},
        validation_split = 0.25, verbose = 1})
    end)
    assert.are.equal(3, count_lines(out, '^Epoch %d/3'))
    assert.is_nil(out:find('\r', 1, true))
    -- (samples/s is left out when the clock saw no time pass)
    assert.matches('Epoch 2/3  3/3  [%d.]+m?s  [%d samples/]*loss [%d.]+  accuracy [%d.]+  val_loss [%d.]+  '
      .. 'val_accuracy [%d.]+', out)
  end)

  it('redraws a bar in place on a terminal', function()
    local progress = require 'brasa.progress'
    local out = capture()
    local p = progress.new{verbose = 1, epochs = 2, out = out, tty = true}
    p:epoch_begin(1, 4, 40)
    for k = 1, 4 do
      p.cpu_last = -math.huge         -- redraw every batch
      p:batch(k, k * 10, {{'loss', 1 / k}})
    end
    p:epoch_end({{'loss', 0.25}}, 2, 40)
    local s = out:text()
    assert.are.equal(5, select(2, s:gsub('\r', '')))
    assert.matches('Epoch 1/2 %[=+>%.*%] 1/4  ETA [%d.]+m?s  [%d samples/]*loss 1%.0000', s)
    assert.matches('\rEpoch 1/2  4/4  2%.0s  20 samples/s  loss 0%.2500 *\n$', s)
  end)

  it('is silent with verbose = 0', function()
    local model = mlp(4)
    assert.are.equal('', with_stdout(function()
      model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 2, verbose = 0})
    end))
  end)
end)

describe('Ctrl-C in the REPL', function()
  -- A stand-in for the brasa executable's brasa_repl table.
  local function fake_repl()
    local r = {pending = 0, deferred = false, log = {}}
    r.pending_interrupts = function() return r.pending end
    r.defer_interrupts = function(on)
      local old = r.deferred
      r.deferred = on
      r.log[#r.log + 1] = on
      return old
    end
    return r
  end

  local function with_repl(r, fn)
    rawset(_G, 'brasa_repl', r)
    local ok, err = pcall(fn)
    rawset(_G, 'brasa_repl', nil)
    if not ok then error(err, 0) end
  end

  it('a first press stops after the current batch and returns the epochs done', function()
    local x, y = toy(40)
    local model = mlp(4)
    local r = fake_repl()
    local hist
    local cb = callbacks.LambdaCallback{on_train_batch_begin = function(b, logs, trainer)
      if trainer.epoch == 2 and b == 3 then r.pending = 1 end   -- pressed during batch 3 of epoch 2
    end}
    local batches = 0
    local count = callbacks.LambdaCallback{on_train_batch_end = function() batches = batches + 1 end}
    local out = with_stdout(function()
      with_repl(r, function()
        hist = model:fit(x, y, {loss = nn.CrossEntropyLoss(), epochs = 5, batch_size = 10,
          callbacks = {cb, count}, verbose = 2})
      end)
    end)
    assert.are.equal(7, batches)
    assert.are.equal(1, #hist.epoch)
    assert.are.equal('interrupted', hist.stop_reason)
    assert.are.same({epoch = 2, batch = 3}, hist.interrupted)
    assert.matches('interrupted %(Ctrl%-C%) in epoch 2 after batch 3', out)
    assert.are.same({true}, r.log)       -- deferral left on (turning it off would raise the press)
    assert.is_true(model(x):isnan():any():item() == false)
  end)

  it('restores the deferral when nothing was pressed', function()
    local x, y = toy(20)
    local model = mlp(4)
    local r = fake_repl()
    with_repl(r, function() model:fit(x, y, {loss = nn.CrossEntropyLoss(), verbose = 0}) end)
    assert.are.same({true, false}, r.log)
  end)

  it('never leaves an optimiser step half applied when a second press stops it', function()
    local x, y = toy(20)
    local model = mlp(4)
    local r = fake_repl()
    local adam = optim.Adam(model:parameters(), {lr = 0.1})
    -- An optimiser whose step, after the first press, is cut in the middle
    -- (as a second press stops a C kernel).
    local saved
    local opt = {
      param_groups = adam.param_groups,
      zero_grad = function(_, ...) return adam:zero_grad(...) end,
      state_dict = function() return adam:state_dict() end,
      load_state_dict = function(_, sd) return adam:load_state_dict(sd) end,
      step = function()
        if r.pending > 0 then
          saved = {state = adam:state_dict()}
          for i, p in ipairs(model:parameters()) do saved[i] = p:clone() end
          adam:step()                                   -- the update is done...
          local ps = model:parameters()
          brasa.no_grad(function() ps[1]:add_(1) end)   -- ...and the next half-written
          error('adam: interrupted', 0)
        end
        adam:step()
      end,
    }
    local press = callbacks.LambdaCallback{on_train_batch_begin = function(b)
      if b == 3 then r.pending = 1 end                  -- the first press, during batch 3
    end}
    local ok, err
    with_repl(r, function()
      ok, err = pcall(model.fit, model, x, y, {loss = nn.CrossEntropyLoss(), optimizer = opt, epochs = 1,
        batch_size = 5, callbacks = {press}, verbose = 0})
    end)
    assert.is_false(ok)
    assert.matches('interrupted', err)
    for i, p in ipairs(model:parameters()) do
      assert.is_true(p:equal(saved[i]), 'parameter ' .. i .. ' was left half updated')
    end
    local now = adam:state_dict()
    for i, st in pairs(saved.state.state) do
      for k, v in pairs(st) do
        if brasa.is_tensor(v) then assert.is_true(now.state[i][k]:equal(v), k)
        else assert.are.equal(v, now.state[i][k], k) end
      end
    end
    assert.is_false(model(x):isnan():any():item())     -- the model stays usable
  end)
end)

describe('Ctrl-C in the brasa executable', function()
  -- A script that sends itself SIGINT (presses Ctrl-C) `presses` times at
  -- the start of batch 3 of epoch 2. (io.popen, not os.execute: system()
  -- ignores SIGINT in the caller while the child runs.)
  local SCRIPT = [[
local nn = brasa.nn
brasa.manual_seed(0)
local x = brasa.randn(40, 4)
local y = x:select(2, 1):gt(0):long() + 1
local model = nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)}
local cb = brasa.callbacks.LambdaCallback{on_train_batch_begin = function(b, logs, trainer)
  if trainer.epoch == 2 and b == 3 then
    for _ = 1, PRESSES do io.popen('kill -INT $PPID'):close() end
  end
end}
local ok, hist = pcall(model.fit, model, x, y, {loss = nn.CrossEntropyLoss(), epochs = 4, batch_size = 10,
  callbacks = {cb}, verbose = 0})
if ok then
  print('RESULT', #hist.epoch, hist.stop_reason, hist.interrupted.epoch, hist.interrupted.batch)
  print('USABLE', model(x):isnan():any():item() == false)
else
  print('ERROR', hist)
end
]]

  local function run(presses)
    local exe = os.getenv('BRASA_EXE')
    if not exe then return nil end
    local path = os.tmpname()
    local f = assert(io.open(path, 'w'))
    f:write((SCRIPT:gsub('PRESSES', tostring(presses))))
    f:close()
    local p = io.popen(exe .. ' ' .. path .. ' 2>&1')
    local out = p:read('a')
    p:close()
    os.remove(path)
    return out
  end

  it('a first press returns the History of the epochs done', function()
    local out = run(1)
    if not out then pending('BRASA_EXE is not set (ctest sets it)'); return end
    assert.matches('RESULT\t1\tinterrupted\t2\t3', out)
    assert.matches('USABLE\ttrue', out)
  end)

  it('a second press interrupts at once', function()
    if os.getenv('TSAN_OPTIONS') then
      -- ThreadSanitizer holds signals back to its next safe point, where
      -- two SIGINTs sent in a row arrive as one
      pending('under ThreadSanitizer (tools/tsan.sh): two quick SIGINTs merge into one')
      return
    end
    local out = run(2)
    if not out then pending('BRASA_EXE is not set (ctest sets it)'); return end
    assert.matches('ERROR\t.*interrupted!', out)
  end)
end)

describe('the training documentation', function()
  local PREFIXES = {'brasa.nn.Module:', 'brasa.load', 'brasa.train', 'brasa.metrics', 'brasa.callbacks',
                    'brasa.serialize', 'brasa.progress'}
  local OWN = {fit = true, evaluate = true, predict = true, save = true, load_weights = true}

  local function entries()
    local list = {}
    for _, e in ipairs(require('brasa.docs.train').entries) do list[#list + 1] = doc.get(e[1]) end
    return list
  end

  it('documents every public function of the training modules', function()
    local missing = {}
    for _, name in ipairs {'metrics', 'callbacks', 'serialize', 'progress', 'train'} do
      local t = require('brasa.' .. name)
      for k, v in pairs(t) do
        if type(k) == 'string' and k:sub(1, 1) ~= '_' and (type(v) == 'function' or
           (type(v) == 'table' and rawget(v, '__index'))) then
          local full = 'brasa.' .. name .. '.' .. k
          if not doc.get(full) then missing[#missing + 1] = full end
          if type(v) == 'function' and not doc.get(v) then missing[#missing + 1] = full .. ' (unbound)' end
        end
      end
    end
    for m in pairs(OWN) do
      if not doc.get('brasa.nn.Module:' .. m) then missing[#missing + 1] = 'brasa.nn.Module:' .. m end
    end
    if not doc.get(brasa.load) then missing[#missing + 1] = 'brasa.load (unbound)' end
    table.sort(missing)
    assert(#missing == 0, 'without a doc entry: ' .. table.concat(missing, ', '))
  end)

  it('runs every example and shows what it prints', function()
    local failed, wrong = {}, {}
    with_stdout(function()
      for _, e in ipairs(entries()) do
        local ok, err, printed = examples.run(e, {brasa = brasa, nn = nn, optim = optim})
        if not ok then
          failed[#failed + 1] = e.name .. ': ' .. tostring(err)
        else
          examples.compare(e, printed, wrong)
        end
      end
    end)
    assert(#failed == 0, #failed .. ' examples raise:\n  ' .. table.concat(failed, '\n  '))
    assert(#wrong == 0, #wrong .. ' example results differ:\n  ' .. table.concat(wrong, '\n  '))
  end)
end)
