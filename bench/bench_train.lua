-- bench/bench_train.lua: training epochs on Fashion-MNIST, brasa against
-- PyTorch on the same machine with the same threads.
--
--   lua5.4 bench/bench_train.lua [--runs 3] [--threads 2] [--epochs 2]
--                                [--models mlp,cnn] [--no-torch]
--
-- (with LUA_PATH and LUA_CPATH set as for the tests, or build/brasa instead
-- of lua5.4). For each model, brasa and PyTorch (bench/bench_train_torch.py)
-- run in turn, each in a fresh process, --runs times (alternating, since
-- the machine is noisy). Each process trains --epochs epochs on the 60,000
-- training images (an epoch: one pass including batching, with the
-- running accuracy as fit computes it), then predicts the 10,000 test
-- images in batches of 1,000, and reports its epoch times, the inference
-- throughput and its peak resident memory (VmHWM of /proc/self/status).
-- Reported: medians over runs of the last epoch's time (the first pays
-- one-time costs), images/s, peak RSS, and the ratios brasa / PyTorch.
--
-- Recipes (scripts/fashion_mnist_*.lua): MLP 784-256-128-10 ReLU, CNN
-- conv(1->32, 3x3, pad 1)-ReLU-maxpool 2-conv(32->64)-ReLU-maxpool
-- 2-Linear(3136->128)-ReLU-Linear(128->10); Adam lr 1e-3; batches of 128.
-- PyTorch at its best here: every run measures it with
-- torch.set_num_threads(threads) under OMP_WAIT_POLICY=passive and with 1
-- thread, and the setting with the better median is compared (both
-- medians are shown); OPENBLAS_* variables pass through unchanged to both.

local SELF = debug.getinfo(1, 'S').source:match('^@(.*)$') or 'bench/bench_train.lua'
local DIR = SELF:match('^(.*)/[^/]*$') or '.'
local peer = dofile(DIR .. '/peer.lua')

---------------------------------------------------------------------------
-- Shared helpers
---------------------------------------------------------------------------

--- Command-line flags --name value (and --no-torch, --worker MODEL).
local function parse_flags(args)
  local opts = {runs = 3, threads = 2, epochs = 2, models = 'mlp,cnn', torch = true}
  local i = 1
  while args[i] do
    local name = args[i]:match('^%-%-([%w%-]+)$')
    if name == 'no-torch' then
      opts.torch = false
      i = i + 1
    elseif name then
      local v = args[i + 1]
      if v == nil then error('--' .. name .. ' needs a value', 0) end
      opts[name:gsub('%-', '_')] = tonumber(v) or v
      i = i + 2
    else
      error('unknown argument ' .. args[i], 0)
    end
  end
  return opts
end

--- Peak resident memory of this process in MiB (VmHWM).
local function peak_rss_mib()
  for line in io.lines('/proc/self/status') do
    local kb = line:match('^VmHWM:%s+(%d+)%s+kB')
    if kb then return tonumber(kb) / 1024 end
  end
  return 0 / 0
end

local function median(list)
  local t = {}
  for i, v in ipairs(list) do t[i] = v end
  table.sort(t)
  local n = #t
  if n == 0 then return 0 / 0 end
  if n % 2 == 1 then return t[(n + 1) // 2] end
  return (t[n // 2] + t[n // 2 + 1]) / 2
end

---------------------------------------------------------------------------
-- Worker: one model, one process
---------------------------------------------------------------------------

local function build_model(nn, name)
  if name == 'mlp' then
    return nn.Sequential{nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10)}
  end
  return nn.Sequential{
    nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
  }
end

-- Trains opts.epochs epochs of model opts.worker and prints one RESULT line.
local function worker(opts)
  local brasa = require 'brasa'
  local nn, optim = brasa.nn, brasa.optim
  local clock = brasa.clock   -- monotonic wall clock
  brasa.set_num_threads(opts.threads)
  brasa.manual_seed(1)
  local train, test = brasa.data.fashion_mnist()
  local model = build_model(nn, opts.worker)
  local opt = optim.Adam(model:parameters(), {lr = 1e-3})
  local loss = nn.CrossEntropyLoss()
  local times, last
  times = {}
  for e = 1, opts.epochs do
    local t0 = clock()
    last = model:fit(train, {loss = loss, optimizer = opt, epochs = 1, batch_size = 128,
      metrics = {'accuracy'}, verbose = 0})
    times[e] = clock() - t0
  end
  local t0 = clock()
  local scores = model:predict(test.x, {batch_size = 1000})
  local infer = clock() - t0
  local acc = brasa.metrics.accuracy(test.y, scores)
  local parts = {}
  for i, t in ipairs(times) do parts[i] = string.format('%.4f', t) end
  print(string.format('RESULT epochs=%s infer_s=%.4f rss_mib=%.1f test_acc=%.4f train_acc=%.4f threads=%d',
    table.concat(parts, ','), infer, peak_rss_mib(), acc, last.history.accuracy[1], brasa.get_num_threads()))
end

---------------------------------------------------------------------------
-- Driver
---------------------------------------------------------------------------

local function brasa_run(model, opts)
  local lua = arg and arg[-1] or 'lua5.4'
  return peer.run(string.format('%s %s --worker %s --threads %d --epochs %d', peer.shell_quote(lua),
    peer.shell_quote(SELF), model, opts.threads, opts.epochs), 'brasa ' .. model)
end

local function torch_run(model, threads, opts)
  return peer.run(string.format('OMP_WAIT_POLICY=passive /usr/bin/python3 %s --model %s --threads %d --epochs %d',
    peer.shell_quote(DIR .. '/bench_train_torch.py'), model, threads, opts.epochs), 'torch ' .. model)
end

local function torch_available()
  return os.execute('/usr/bin/python3 -c "import torch" >/dev/null 2>&1') == true
end

local function last(list) return list[#list] end

-- The PyTorch runs of the thread setting with the better median epoch
-- (PyTorch at its best), after a line showing both medians.
local function best_torch(many, one, threads)
  if #one == 0 then return many end
  local function med(runs)
    local e = {}
    for i, r in ipairs(runs) do e[i] = last(r.epochs) end
    return median(e)
  end
  local m_many, m_one = med(many), med(one)
  print(string.format('  (PyTorch medians: %.3f s with %d threads, %.3f s with 1 thread: the %s is compared)',
    m_many, threads, m_one, m_one < m_many and '1-thread setting' or threads .. '-thread setting'))
  return m_one < m_many and one or many
end

local function report(model, b, t)
  local function line(name, runs)
    if #runs == 0 then return end
    local ep, inf, rss = {}, {}, {}
    for i, r in ipairs(runs) do ep[i], inf[i], rss[i] = last(r.epochs), 10000 / r.infer_s, r.rss_mib end
    local e = median(ep)
    print(string.format('  %-8s epoch %7.3f s  %8.0f img/s  infer %8.0f img/s  peak RSS %6.0f MiB  '
      .. 'test acc %.4f  (%d threads; epochs: %s)', name, e, 60000 / e, median(inf), median(rss),
      runs[#runs].test_acc, runs[#runs].threads, (function()
        local all = {}
        for _, r in ipairs(runs) do
          local p = {}
          for j, x in ipairs(r.epochs) do p[j] = string.format('%.2f', x) end
          all[#all + 1] = table.concat(p, '/')
        end
        return table.concat(all, ' ')
      end)()))
    return e, median(inf), median(rss)
  end
  print(string.format('%s (median of %d alternating runs, last epoch of each):', model:upper(), #b))
  local be, bi, br = line('brasa', b)
  local te, ti, tr = line('PyTorch', t)
  if te then
    print(string.format('  ratios brasa/PyTorch: epoch time %.2fx, inference throughput %.2fx, peak RSS %.2fx',
      be / te, bi / ti, br / tr))
  end
end

local function driver(opts)
  local use_torch = opts.torch and torch_available()
  if opts.torch and not use_torch then print('(PyTorch not importable by /usr/bin/python3: brasa alone)') end
  print(string.format('bench_train: %d threads, %d epochs per process, %d runs; OPENBLAS_NUM_THREADS=%s',
    opts.threads, opts.epochs, opts.runs, os.getenv('OPENBLAS_NUM_THREADS') or '(unset)'))
  for model in opts.models:gmatch('[^,]+') do
    local b, t_many, t_one = {}, {}, {}
    for _ = 1, opts.runs do
      b[#b + 1] = brasa_run(model, opts)
      if use_torch then
        t_many[#t_many + 1] = torch_run(model, opts.threads, opts)
        if opts.threads > 1 then t_one[#t_one + 1] = torch_run(model, 1, opts) end
      end
      io.stdout:write('.')
      io.stdout:flush()
    end
    io.stdout:write('\n')
    report(model, b, best_torch(t_many, t_one, opts.threads))
  end
end

local opts = parse_flags(arg or {})
if opts.worker then worker(opts) else driver(opts) end
