-- bench/bench_text_cnn.lua: scripts/text_cnn.lua (the course's text CNN on
-- the fortunes data) against the same recipe in PyTorch 1.13
-- (bench/bench_text_cnn_torch.py), on the same split, seed by seed.
--
--   lua5.4 bench/bench_text_cnn.lua [--seeds 1,2,3] [--threads 2]
--                                   [--epochs 10] [--rounds 1] [--no-torch]
--   lua5.4 bench/bench_text_cnn.lua --dump FILE   (step 1 alone: writes FILE)
--
-- (with LUA_PATH and LUA_CPATH set as for the tests, or build/brasa instead
-- of lua5.4; bench/run.sh text_cnn does it all). Steps:
--   1. writes the split of brasa.data.fortunes() (raw texts and labels,
--      train and test) and brasa's padded id matrices (clean, Tokenizer
--      {num_words = 25000}, pad_sequences{maxlen = 200}, as the script) to
--      a temporary file;
--   2. for each seed, in fresh processes, alternating: brasa runs
--      scripts/text_cnn.lua --bench --no-plot --seed S; PyTorch reads the
--      file, cleans and tokenises the texts with its own Python code,
--      asserts that its matrices equal brasa's, and trains the same recipe
--      with the same seed number (its own generator), once with
--      torch.set_num_threads(threads) under OMP_WAIT_POLICY=passive and
--      once with 1 thread;
--   3. prints per seed the test accuracy, the epochs run, the first epoch's
--      time, the mean time of the later epochs (training + validation
--      pass) and the peak RSS, then the medians over seeds and the ratios
--      brasa / PyTorch. Both sides' x_check (a hash of the padded ids the
--      model saw) must agree.
-- With --rounds N every run is made N times (rounds of alternating runs)
-- and each side keeps, per seed, its round with the lowest later-epoch
-- mean (the means of all rounds are shown: the spread) and reports that
-- round's accuracy (a seed gives the same one every round here: brasa's
-- kernels and PyTorch's on this recipe do not depend on the timing).
-- PyTorch at its best: the thread setting with the lower median epoch time
-- is compared (both medians are shown). OPENBLAS_* variables pass through
-- unchanged to both sides.

local SELF = debug.getinfo(1, 'S').source:match('^@(.*)$') or 'bench/bench_text_cnn.lua'
local DIR = SELF:match('^(.*)/[^/]*$') or '.'
local peer = dofile(DIR .. '/peer.lua')
local SCRIPT = DIR .. '/../scripts/text_cnn.lua'

local function parse_flags(args)
  local opts = {seeds = '1,2,3', threads = 2, epochs = 10, rounds = 1, torch = true, dump = ''}
  local i = 1
  while args[i] do
    local name = args[i]:match('^%-%-([%w%-]+)$')
    if name == 'no-torch' then
      opts.torch = false
      i = i + 1
    elseif name and opts[name] ~= nil then
      local v = args[i + 1]
      if v == nil then error('--' .. name .. ' needs a value', 0) end
      opts[name] = type(opts[name]) == 'number' and (tonumber(v) or error('--' .. name .. ' needs a number', 0)) or v
      i = i + 2
    else
      error('unknown argument ' .. args[i] .. ' (flags: --seeds 1,2,3 --threads N --epochs N --rounds N --no-torch --dump FILE)', 0)
    end
  end
  return opts
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
-- 1. The data, written once for the PyTorch side
---------------------------------------------------------------------------

-- The format bench_text_cnn_torch.py reads: a header, the class names,
-- then "train N" and N records "<label> <bytes>\n<text>\n", the same for
-- test, then "x_train N 200" and N rows of ids, the same for x_test.
local function write_dump(path)
  local brasa = require 'brasa'
  local text = brasa.text
  local train, test = brasa.data.fortunes()
  local function cleaned(texts)
    local out = {}
    for i, s in ipairs(texts) do out[i] = text.clean(s) end
    return out
  end
  local train_texts, test_texts = cleaned(train.texts), cleaned(test.texts)
  local tok = text.Tokenizer{num_words = 25000}
  tok:fit_on_texts(train_texts)
  local x_train = text.pad_sequences(tok:texts_to_sequences(train_texts), {maxlen = 200})
  local x_test = text.pad_sequences(tok:texts_to_sequences(test_texts), {maxlen = 200})
  local f = assert(io.open(path, 'wb'))
  f:write('brasa-text-cnn-dump 1\n', 'classes ', table.concat(train.classes, ' '), '\n')
  for _, part in ipairs{{'train', train}, {'test', test}} do
    local name, d = part[1], part[2]
    local y = d.y:totable()
    f:write(name, ' ', #d.texts, '\n')
    for i, s in ipairs(d.texts) do f:write(y[i], ' ', #s, '\n', s, '\n') end
  end
  for _, part in ipairs{{'x_train', x_train}, {'x_test', x_test}} do
    local name, x = part[1], part[2]
    f:write(name, ' ', x.shape[1], ' ', x.shape[2], '\n')
    for _, row in ipairs(x:totable()) do f:write(table.concat(row, ' '), '\n') end
  end
  f:close()
  return #train.texts, #test.texts
end

---------------------------------------------------------------------------
-- 2. Runs
---------------------------------------------------------------------------

local function brasa_run(seed, opts)
  local lua = arg and arg[-1] or 'lua5.4'
  return peer.run(string.format('%s %s --bench --no-plot --seed %d --threads %d --epochs %d',
    peer.shell_quote(lua), peer.shell_quote(SCRIPT), seed, opts.threads, opts.epochs), 'brasa seed ' .. seed)
end

local function torch_run(seed, threads, data, opts)
  local env = threads > 1 and 'OMP_WAIT_POLICY=passive ' or ''
  return peer.run(string.format('%s/usr/bin/python3 %s --data %s --seed %d --threads %d --epochs %d', env,
    peer.shell_quote(DIR .. '/bench_text_cnn_torch.py'), peer.shell_quote(data), seed, threads, opts.epochs),
    'torch seed ' .. seed)
end

local function torch_available()
  return os.execute('/usr/bin/python3 -c "import torch" >/dev/null 2>&1') == true
end

---------------------------------------------------------------------------
-- 3. The table
---------------------------------------------------------------------------

-- The first epoch's time and the mean of the later ones (the first alone
-- when only one ran).
local function epoch_times(r)
  local n, s = #r.epochs, 0
  for i = 2, n do s = s + r.epochs[i] end
  return r.epochs[1], n > 1 and s / (n - 1) or r.epochs[1]
end

-- Per seed, the round with the lowest mean of the later epochs (on a
-- shared machine a round that met someone else's load says little), with
-- the later-epoch means of every round in .rounds (the spread).
local function best_runs(per_seed)
  local out = {}
  for k, list in ipairs(per_seed) do
    local best, means = nil, {}
    for i, r in ipairs(list) do
      means[i] = select(2, epoch_times(r))
      if not best or means[i] < select(2, epoch_times(best)) then best = r end
    end
    if best then
      best.rounds = means
      out[k] = best
    end
  end
  return out
end

local function med_epoch(runs)
  local e = {}
  for i, r in ipairs(runs) do e[i] = select(2, epoch_times(r)) end
  return median(e)
end

local function side(name, runs)
  local acc, first, later, rss = {}, {}, {}, {}
  for i, r in ipairs(runs) do
    first[i], later[i] = epoch_times(r)
    acc[i], rss[i] = r.test_acc, r.rss_mib
    local spread = {}
    for j, m in ipairs(r.rounds or {}) do spread[j] = string.format('%.3f', m) end
    print(string.format('  %-8s seed %-3d test acc %.4f  epochs %2d (best %2d)  first %6.3f s  later %6.3f s  '
      .. 'peak RSS %5.0f MiB  (%d threads; later, by round: %s)', name, r.seed, r.test_acc, #r.epochs, r.best_epoch,
      first[i], later[i], r.rss_mib, r.threads, table.concat(spread, ' ')))
  end
  return {acc = median(acc), first = median(first), later = median(later), rss = median(rss)}
end

local function report(b, t)
  print(string.format('text CNN (scripts/text_cnn.lua), %d seeds; epoch = training + validation pass:', #b))
  local sb = side('brasa', b)
  local st = t and side('PyTorch', t)
  print(string.format('  %-8s %-8s test acc %.4f  first %6.3f s  later %6.3f s  peak RSS %5.0f MiB',
    'brasa', 'median', sb.acc, sb.first, sb.later, sb.rss))
  if st then
    print(string.format('  %-8s %-8s test acc %.4f  first %6.3f s  later %6.3f s  peak RSS %5.0f MiB',
      'PyTorch', 'median', st.acc, st.first, st.later, st.rss))
    print(string.format('  brasa - PyTorch: test accuracy %+.1f points; brasa / PyTorch: epoch time %.2fx '
      .. '(first epoch %.2fx), peak RSS %.2fx', 100 * (sb.acc - st.acc), sb.later / st.later, sb.first / st.first,
      sb.rss / st.rss))
  end
end

---------------------------------------------------------------------------
-- Driver
---------------------------------------------------------------------------

local opts = parse_flags(arg or {})
if opts.dump ~= '' then
  local ntr, nte = write_dump(opts.dump)
  print(string.format('%s: %d training and %d test texts', opts.dump, ntr, nte))
  return
end
local seeds = {}
for s in opts.seeds:gmatch('[^,]+') do seeds[#seeds + 1] = math.tointeger(tonumber(s)) or error('bad seed ' .. s, 0) end
local use_torch = opts.torch and torch_available()
if opts.torch and not use_torch then print('(PyTorch not importable by /usr/bin/python3: brasa alone)') end
local data = os.tmpname()
local ok, err = pcall(function()
  local ntr, nte = write_dump(data)
  print(string.format('bench_text_cnn: fortunes %d training / %d test texts; seeds %s; %d threads, <= %d epochs; '
    .. 'OPENBLAS_NUM_THREADS=%s', ntr, nte, opts.seeds, opts.threads, opts.epochs,
    os.getenv('OPENBLAS_NUM_THREADS') or '(unset)'))
  -- runs[side][k]: the runs of seed k, one per round (alternating sides and seeds)
  local runs = {b = {}, many = {}, one = {}}
  for k in ipairs(seeds) do runs.b[k], runs.many[k], runs.one[k] = {}, {}, {} end
  local function add(list, r, b)
    if b and r.x_check ~= b.x_check then
      error(string.format('seed %d: the PyTorch side saw other ids than scripts/text_cnn.lua (x_check %s vs %s)',
        r.seed, tostring(r.x_check), tostring(b.x_check)), 0)
    end
    list[#list + 1] = r
  end
  for _ = 1, opts.rounds do
    for k, seed in ipairs(seeds) do
      local b = brasa_run(seed, opts)
      add(runs.b[k], b)
      if use_torch then
        add(runs.many[k], torch_run(seed, opts.threads, data, opts), b)
        if opts.threads > 1 then add(runs.one[k], torch_run(seed, 1, data, opts), b) end
      end
      io.stdout:write('.')
      io.stdout:flush()
    end
  end
  local b, t_many, t_one = best_runs(runs.b), best_runs(runs.many), best_runs(runs.one)
  io.stdout:write('\n')
  local t
  if use_torch then
    t = t_many
    if #t_one > 0 then
      local m_many, m_one = med_epoch(t_many), med_epoch(t_one)
      print(string.format('  (PyTorch median later epochs: %.3f s with %d threads, %.3f s with 1 thread: the %s is compared)',
        m_many, opts.threads, m_one, m_one < m_many and '1-thread setting' or opts.threads .. '-thread setting'))
      if m_one < m_many then t = t_one end
    end
  end
  report(b, t)
end)
os.remove(data)
if not ok then error(err, 0) end
