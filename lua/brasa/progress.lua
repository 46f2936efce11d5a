-- brasa.progress: the progress display of model:fit, and the clock it uses.
--
-- On a terminal, a bar redrawn in place as batches go by:
--
--   Epoch 2/5 [==========>...................] 156/469  ETA 3s  21034 samples/s  loss 0.4132  accuracy 0.8519
--
-- and, when the epoch ends, the same line replaced by its summary:
--
--   Epoch 2/5  469/469  2.9s  20690 samples/s  loss 0.4011  accuracy 0.8561  val_loss 0.4170  val_accuracy 0.8499
--
-- When stdout is not a terminal (a log, CI), only the summary lines are
-- written, one per epoch. verbose = 0 writes nothing; verbose = 2 writes
-- the summary lines even on a terminal (Keras's meaning).
--
--   local p = progress.new{verbose = 1, epochs = 5}
--   p:epoch_begin(1, 469, 60000)
--   p:batch(k, seen, logs)          -- logs: list of {name, value}
--   (or: if p:due(k) then p:draw(k, seen, logs) end, to build logs only when drawn)
--   p:epoch_end(logs, seconds)

local progress = {}

---------------------------------------------------------------------------
-- Clock and terminal
---------------------------------------------------------------------------

-- /proc/uptime: seconds since boot with two decimals, a monotonic wall
-- clock readable from plain Lua (os.clock is CPU time, os.time whole
-- seconds).
local function uptime()
  local f = io.open('/proc/uptime', 'r')
  if not f then return nil end
  local s = f:read('n')
  f:close()
  return s
end

local clock_fn   -- the clock found on first use

-- The best wall clock available.
local function find_clock()
  local ok, brasa = pcall(require, 'brasa')
  local c = ok and type(brasa) == 'table' and rawget(brasa, 'clock')
  if type(c) ~= 'function' then
    local r = rawget(_G, 'brasa_repl')
    c = type(r) == 'table' and r.clock or nil
  end
  if type(c) ~= 'function' then
    c = uptime() and uptime or os.time
  end
  return c
end

--- progress.clock() -> seconds of a monotonic wall clock: the core's
-- brasa.clock if it has one, the REPL's brasa_repl.clock, else
-- /proc/uptime (10 ms steps), else os.time.
function progress.clock()
  clock_fn = clock_fn or find_clock()
  return clock_fn()
end

local tty_cache

--- progress.is_tty() -> whether stdout is a terminal (asked once, with
-- `test -t 1`; BRASA_PROGRESS=tty or =plain overrides).
function progress.is_tty()
  local force = os.getenv('BRASA_PROGRESS')
  if force == 'tty' then return true end
  if force == 'plain' then return false end
  if tty_cache == nil then
    local ok = os.execute('test -t 1')
    tty_cache = ok == true or ok == 0
  end
  return tty_cache
end

-- The terminal's width in columns (COLUMNS, else 100).
local function columns()
  return tonumber(os.getenv('COLUMNS')) or 100
end

---------------------------------------------------------------------------
-- Formatting
---------------------------------------------------------------------------

--- progress.format_number(v) -> v with 4 significant decimals ('0.4132',
-- '1.234e-05', 'nan').
function progress.format_number(v)
  if type(v) ~= 'number' then return tostring(v) end
  if v ~= v then return 'nan' end
  if v == math.huge then return 'inf' end
  if v == -math.huge then return '-inf' end
  if math.type(v) == 'integer' then return tostring(v) end
  local a = math.abs(v)
  if a ~= 0 and (a < 1e-3 or a >= 1e5) then return string.format('%.3e', v) end
  return string.format('%.4f', v)
end

--- progress.format_duration(s) -> '850ms', '4.2s', '3m05s', '1h02m'.
function progress.format_duration(s)
  if s ~= s or s < 0 then return '?' end
  if s < 1 then return string.format('%dms', math.floor(s * 1000 + 0.5)) end
  if s < 60 then return string.format('%.1fs', s) end
  if s < 3600 then return string.format('%dm%02ds', s // 60, math.floor(s % 60)) end
  return string.format('%dh%02dm', s // 3600, math.floor(s % 3600 / 60))
end

-- '  loss 0.4132  accuracy 0.8519' from a list of {name, value}.
local function logs_text(logs)
  local parts = {}
  for _, kv in ipairs(logs) do
    parts[#parts + 1] = kv[1] .. ' ' .. progress.format_number(kv[2])
  end
  if #parts == 0 then return '' end
  return '  ' .. table.concat(parts, '  ')
end
progress.logs_text = logs_text

local function rate_text(samples, seconds)
  if seconds <= 0 then return '' end
  return string.format('  %d samples/s', math.floor(samples / seconds + 0.5))
end

---------------------------------------------------------------------------
-- The display
---------------------------------------------------------------------------

local Progress = {}
Progress.__index = Progress

local BAR = 30            -- characters of the bar
local REDRAW = 0.1        -- seconds of CPU time between redraws

--- progress.new{verbose =, epochs =, out =, tty =} -> a display.
-- verbose: 0 silent, 1 a bar on a terminal (lines elsewhere), 2 lines.
function progress.new(opts)
  opts = opts or {}
  local verbose = opts.verbose
  if verbose == nil then verbose = 1 end
  if verbose == false then verbose = 0 elseif verbose == true then verbose = 1 end
  local out = opts.out or io.stdout
  local tty = opts.tty
  if tty == nil then tty = out == io.stdout and progress.is_tty() end
  return setmetatable({
    verbose = verbose, out = out, live = verbose == 1 and tty,
    epochs = opts.epochs or 1, drawn = false,
  }, Progress)
end

--- Progress:epoch_begin(epoch, nbatches, nsamples): a new epoch starts
-- (nbatches and nsamples may be nil when unknown).
function Progress:epoch_begin(epoch, nbatches, nsamples)
  self.epoch, self.nbatches, self.nsamples = epoch, nbatches, nsamples
  self.t0 = progress.clock()
  self.cpu_last = -math.huge
  self.drawn = false
end

function Progress:prefix()
  local w = #tostring(self.epochs)
  return string.format('Epoch %' .. w .. 'd/%d', self.epoch, self.epochs)
end

-- Writes line in place of the current one (padded to wipe a longer one).
function Progress:redraw(line)
  local width = columns() - 1
  if #line > width then line = line:sub(1, width) end
  local pad = math.max(0, (self.last_len or 0) - #line)
  self.out:write('\r', line, string.rep(' ', pad))
  self.out:flush()
  self.last_len = #line
  self.drawn = true
end

--- Progress:due(k) -> whether the bar should be redrawn after batch k:
-- on a terminal, at most every 0.1 s of CPU time, and at the last batch.
function Progress:due(k)
  if not self.live then return false end
  local cpu = os.clock()
  if cpu - self.cpu_last < REDRAW and k ~= self.nbatches then return false end
  self.cpu_last = cpu
  return true
end

--- Progress:draw(k, seen, logs): redraws the bar: batch k done, seen
-- samples so far, logs the running values (a list of {name, value}).
function Progress:draw(k, seen, logs)
  local elapsed = progress.clock() - self.t0
  local n = self.nbatches
  local bar, count, eta = '', tostring(k), ''
  if n and n > 0 then
    local done = math.min(BAR, math.floor(BAR * k / n))
    bar = ' [' .. string.rep('=', done) .. (done < BAR and '>' or '') ..
      string.rep('.', math.max(0, BAR - done - 1)) .. ']'
    count = string.format('%' .. #tostring(n) .. 'd/%d', k, n)
    if k > 0 and k < n then
      eta = '  ETA ' .. progress.format_duration(elapsed / k * (n - k))
    end
  end
  self:redraw(self:prefix() .. bar .. ' ' .. count .. eta .. rate_text(seen, elapsed) .. logs_text(logs))
end

--- Progress:batch(k, seen, logs): draws the bar after batch k when due.
function Progress:batch(k, seen, logs)
  if self:due(k) then self:draw(k, seen, logs) end
end

--- Progress:epoch_end(logs, seconds, seen, train_seconds): writes the
-- epoch's summary line (replacing the bar on a terminal): its duration
-- (validation included) and the training speed, seen samples in
-- train_seconds (the duration when not given).
function Progress:epoch_end(logs, seconds, seen, train_seconds)
  if self.verbose == 0 then return end
  local n = self.nbatches
  local count = n and string.format('  %d/%d', n, n) or ''
  local line = self:prefix() .. count .. '  ' .. progress.format_duration(seconds) ..
    rate_text(seen or 0, train_seconds or seconds) .. logs_text(logs)
  if self.live then
    self:redraw(line)
    self.out:write('\n')
    self.last_len = 0
  else
    self.out:write(line, '\n')
  end
  self.out:flush()
  self.drawn = false
end

--- Progress:message(text): a line of its own (a callback's note), after
-- ending a bar in progress.
function Progress:message(text)
  if self.verbose == 0 then return end
  self:finish_line()
  self.out:write(text, '\n')
  self.out:flush()
end

--- Progress:finish_line(): ends a bar left in the middle (an interrupted
-- epoch), so what follows starts on a fresh line.
function Progress:finish_line()
  if self.drawn then
    self.out:write('\n')
    self.out:flush()
    self.drawn = false
    self.last_len = 0
  end
end

return progress
