-- tests/gpu/bench_cnn.lua: one Fashion-MNIST CNN epoch through brasa, the
-- way a user trains it (tests/gpu/run.sh puts the result in its table).
--
--   brasa tests/gpu/bench_cnn.lua [--device cuda|cpu] [--amp] [--batches N]
--       [--warmup N] [--threads N] [--data DIR] [--label NAME] [--eval N]
--
-- The model, optimiser and batch size of scripts/fashion_mnist_cnn.lua
-- (conv 1->32 3x3, ReLU, pool, conv 32->64 3x3, ReLU, pool, Linear
-- 3136->128, ReLU, Linear 128->10; Adam lr 1e-3; batches of 128; the
-- training images shuffled). The model goes to the device with
-- model:cuda(); the epoch runs through model:fit on a DataLoader that
-- delivers batches on the device (pinned staging) when the loader has that
-- option, else through model:fit on the data set (fit moves each batch).
-- Before the timed epoch, a warm-up fit of --warmup batches (cuDNN plans,
-- the caching allocator, pinned buffers). The time is wall-clock around
-- fit, with brasa.cuda.synchronize() on both sides; --batches N times N
-- batches only and extrapolates to the 60000 images (CPU runs, to stay in
-- time). Sanity: the loss on --eval test images must go down.
--
-- Prints, for run.sh's table (one line; the last word says which path ran):
--   cnn <label> <s/epoch> <images/s> <images timed> <eval loss before> <eval loss after>
--       <eval accuracy after> <train loss> <ok|LOSS_NOT_DOWN> <path>
--   cnn_fail <label> <reason>            when it could not run
-- BRASA_GPU_TEST_FAKE=1: the CPU, 6 batches, a check of the script itself.

local brasa = require 'brasa'
local nn, optim, cuda = brasa.nn, brasa.optim, brasa.cuda
local clock = brasa.clock or require('brasa.progress').clock

local FAKE = os.getenv('BRASA_GPU_TEST_FAKE') == '1'
local opts = require('brasa.flags').parse(arg or {}, {
  device = FAKE and 'cpu' or 'cuda', amp = false, batches = FAKE and 6 or 0, warmup = FAKE and 2 or 30,
  threads = 0, data = os.getenv('BRASA_FASHION_MNIST_DIR') or '/usr/share/datasets/fashion-mnist',
  label = '', eval = FAKE and 256 or 2000, batch_size = 128, seed = 1,
})
local on_gpu = opts.device ~= 'cpu'
local label = opts.label ~= '' and opts.label
  or ('brasa_' .. (on_gpu and 'gpu' or 'cpu') .. (opts.amp and '_amp' or '_f32'))

local function fail(why)
  print(string.format('cnn_fail %s %s', label, (tostring(why):gsub('\n', ' | '))))
  io.stdout:flush()
  os.exit(0)   -- a benchmark that cannot run is reported, not a test failure
end

if on_gpu and not cuda.is_available() then fail('no usable GPU: ' .. cuda.status()) end
if opts.threads > 0 then brasa.set_num_threads(math.tointeger(opts.threads)) end
local function sync() if on_gpu then cuda.synchronize() end end

-- ---- data -----------------------------------------------------------------------------------

local ok, train, test = pcall(brasa.data.fashion_mnist, {dir = opts.data})
if not ok then fail('no data: ' .. tostring(train)) end
local function first(ds, n)
  n = math.min(n, ds.x.shape[1])
  return {x = ds.x:narrow(1, 1, n), y = ds.y:narrow(1, 1, n)}
end
local bs = math.tointeger(opts.batch_size)
local timed = opts.batches > 0 and first(train, math.tointeger(opts.batches) * bs) or train
local warm = first(train, math.tointeger(opts.warmup) * bs)
local held = first(test, math.tointeger(opts.eval))

-- ---- the model --------------------------------------------------------------------------------

brasa.manual_seed(opts.seed)
local model = nn.Sequential{
  nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),    -- 32 x 14 x 14
  nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),   -- 64 x 7 x 7
  nn.Flatten(),
  nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
  nn.Linear(128, 10),
}
local path = {}
if on_gpu then
  if type(model.cuda) == 'function' then
    model:cuda(opts.device)
    path[#path + 1] = 'model:cuda()'
  else
    io.stderr:write('bench_cnn: this brasa has no model:cuda(): moving parameters with model:to()\n')
    model:to(opts.device == 'cuda' and 'cuda:0' or opts.device)
    path[#path + 1] = 'model:to()'
  end
end
local device = model:parameters()[1].device
if on_gpu then path[#path + 1] = 'tf32=' .. tostring(cuda.allow_tf32()) end
local loss_fn = nn.CrossEntropyLoss()
local optimizer = optim.Adam(model:parameters(), {lr = 1e-3})

-- The loader a user would write: batches delivered on the model's device
-- when DataLoader knows how (pinned staging), else fit moves them.
local function loader_for(ds, seed)
  if on_gpu then
    local okl, l = pcall(brasa.data.DataLoader, ds, {batch_size = bs, shuffle = true, seed = seed, device = device})
    if okl and l.device == device then return l, 'DataLoader(device, pin_memory=' .. tostring(l.pin_memory) .. ')' end
  end
  return brasa.data.DataLoader(ds, {batch_size = bs, shuffle = true, seed = seed}), 'DataLoader(cpu)'
end

local function eval_loss()
  local r = model:evaluate(held, {loss = loss_fn, metrics = {'accuracy'}, batch_size = 500, verbose = 0})
  return r.loss, r.accuracy
end

local function fit(ds, seed)
  local loader, how = loader_for(ds, seed)
  local fit_opts = {loss = loss_fn, optimizer = optimizer, epochs = 1, verbose = 0}
  if opts.amp then fit_opts.amp = true end
  local t0
  local okf, hist = pcall(function()
    sync()
    t0 = clock()
    local h = model:fit(loader, fit_opts)
    sync()
    return h
  end)
  local dt = clock() - (t0 or clock())
  if loader.close then loader:close() end
  if not okf then fail('fit (' .. how .. '): ' .. tostring(hist)) end
  return hist, dt, how
end

local okb, loss0 = pcall(eval_loss)
if not okb then fail('evaluate: ' .. tostring(loss0)) end
local _, _, how = fit(warm, opts.seed + 1)
path[#path + 1] = 'fit+' .. how
if opts.amp then path[#path + 1] = 'amp' end
collectgarbage()
local hist, dt = fit(timed, opts.seed + 2)
local loss1, acc1 = eval_loss()

local n = timed.x.shape[1]
local per_epoch = dt * train.x.shape[1] / n
local sane = loss1 < loss0
print(string.format('cnn %s %.3f %.0f %d %.4f %.4f %.4f %.4f %s %s', label, per_epoch, n / dt, n,
                    loss0, loss1, acc1, hist.history.loss[1], sane and 'ok' or 'LOSS_NOT_DOWN',
                    table.concat(path, ',')))
io.stdout:flush()
os.exit(0)
