-- brasa.plot.gnuplot: one gnuplot process behind a pipe.
--
-- A session is a running gnuplot that reads commands from a pipe
-- (io.popen(cmd, 'w')). Lua's popen is write-only, so gnuplot's answers come
-- back another way, with no C: its stderr is a named pipe (mkfifo) that Lua
-- opens for reading. After each batch of commands the session sends
--
--   print "__BRASA_SYNC_<n>__"
--
-- (gnuplot's print writes to stderr) and reads stderr up to that marker: a
-- blocking read, so there is no polling, no sleeping and no temporary file to
-- watch. Whatever came before the marker is gnuplot's reply to the batch;
-- lines like "line 3: undefined variable: foo" are errors, raised as Lua
-- errors naming the plot call. The fifo's name is removed as soon as both
-- ends are open, so nothing is left in /tmp even if the process is killed.
--
-- gnuplot's stdout goes to /dev/null: text terminals (dumb, sixel) write to a
-- file named by `set output`, which the caller copies to io.stdout.
--
-- This module knows gnuplot, not plots: brasa.plot builds the commands.

local M = {}

--- The gnuplot executable; BRASA_GNUPLOT overrides it.
M.program = os.getenv('BRASA_GNUPLOT') or 'gnuplot'

--- What to tell a user whose machine has no gnuplot.
M.missing_message = 'gnuplot was not found: brasa.plot draws with gnuplot. '
  .. 'Install the Debian package gnuplot-nox for text and file plots '
  .. "('apt-get install gnuplot-nox'), or gnuplot-qt (or gnuplot-x11) "
  .. 'for plots in a window'

local Session = {}
Session.__index = Session

--- A string quoted for /bin/sh.
function M.shell_quote(s)
  return "'" .. tostring(s):gsub("'", [['\'']]) .. "'"
end

--- A string quoted for gnuplot: single quotes, where only '' is special.
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "''") .. "'"
end

local found -- nil: not looked for yet; then true or false

--- True when the gnuplot program can be run (looked up once).
function M.available()
  if found == nil then
    found = os.execute('command -v ' .. M.shell_quote(M.program)
      .. ' >/dev/null 2>&1') == true
  end
  return found
end

--- Forgets whether gnuplot was found (after M.program changes).
function M.reset_lookup()
  found = nil
end

-- A fresh name for a named pipe, in the temporary directory.
local function make_fifo()
  local name = os.tmpname()
  os.remove(name)
  if not os.execute('mkfifo -m 600 ' .. M.shell_quote(name)) then
    error('brasa.plot: cannot create a named pipe at ' .. name, 0)
  end
  return name
end

--- Starts gnuplot. `who` names the plot call, for error messages.
function M.start(who)
  if not M.available() then error(who .. ': ' .. M.missing_message, 0) end
  local fifo = make_fifo()
  -- The shell opens the fifo for writing, which waits for our reader below.
  -- Should gnuplot stop, `cat` goes on reading the pipe: writing to a pipe
  -- nobody reads would kill Lua with SIGPIPE, while this way the next
  -- batch finds the fifo closed and reports that gnuplot stopped.
  local cmd = M.shell_quote(M.program) .. ' 2>' .. M.shell_quote(fifo)
    .. ' >/dev/null; exec cat >/dev/null'
  local pipe, err = io.popen(cmd, 'w')
  if not pipe then
    os.remove(fifo)
    error(who .. ': cannot start gnuplot: ' .. tostring(err), 0)
  end
  local replies = io.open(fifo, 'r')
  os.remove(fifo) -- both ends are open: the name is no longer needed
  if not replies then
    pipe:close()
    error(who .. ': cannot read gnuplot\'s messages', 0)
  end
  local s = setmetatable({pipe = pipe, replies = replies, serial = 0}, Session)
  local list = s:query('GPVAL_TERMINALS', who)
  s.terminals = {}
  for name in list:gmatch('%S+') do s.terminals[name] = true end
  return s
end

--- Sends a string or a list of lines (no reply is read).
function Session:send(commands)
  if self.closed then error('brasa.plot: this figure was closed', 0) end
  if type(commands) == 'table' then
    commands = table.concat(commands, '\n')
  end
  local ok, err = self.pipe:write(commands, '\n')
  if not ok then
    self.dead = true
    error('brasa.plot: gnuplot stopped: ' .. tostring(err), 0)
  end
end

-- The errors in gnuplot's reply, as one message; nil when there are none.
-- gnuplot writes an error as the failing command, a caret line, and
--          line N: message
-- sometimes followed by a line "system error: ...".
local function errors_in(lines)
  local found, command = {}, nil
  for i, line in ipairs(lines) do
    local cmd = line:match('^gnuplot> (.*)$')
    if cmd then command = cmd end
    local msg = line:match('^%s*line %d+: (.*)$')
    if msg and not msg:match('^%s*warning:') then
      msg = msg:gsub('^%s+', '')
      local sys = lines[i + 1] and lines[i + 1]:match('^system error: (.*)$')
      if sys then msg = msg .. ' (' .. sys .. ')' end
      if command then msg = msg .. ' [in: ' .. command .. ']' end
      found[#found + 1] = msg
      command = nil
    end
  end
  if #found > 0 then return table.concat(found, '; ') end
end

--- Sends commands (optional), then waits until gnuplot has run them all.
-- Returns gnuplot's messages as a list of lines; raises a Lua error starting
-- with `who` when gnuplot reported an error or stopped.
function Session:sync(commands, who)
  self.serial = self.serial + 1
  local marker = '__BRASA_SYNC_' .. self.serial .. '__'
  if commands then self:send(commands) end
  self:send('print "' .. marker .. '"')
  self.pipe:flush()
  local lines = {}
  for line in self.replies:lines() do
    if line == marker then
      local err = errors_in(lines)
      if err then error(who .. ': gnuplot: ' .. err, 0) end
      return lines
    end
    lines[#lines + 1] = line
  end
  self.dead = true
  local said = table.concat(lines, '\n'):gsub('^%s+', '')
  error(who .. ': gnuplot stopped' .. (said ~= '' and ': ' .. said or ''), 0)
end

--- The value of a gnuplot expression, as the text gnuplot prints.
function Session:query(expr, who)
  local lines = self:sync('print ' .. expr, who)
  return lines[#lines] or ''
end

--- True when this gnuplot has the named terminal.
function Session:has_terminal(name)
  return self.terminals[name] == true
end

--- Stops gnuplot (its windows close with it) and releases the pipes.
function Session:close()
  if self.closed then return end
  self.closed = true
  pcall(self.pipe.write, self.pipe, '\nexit\n')
  pcall(self.pipe.flush, self.pipe)
  -- Close our reading end first: were gnuplot to write while exiting, it
  -- gets a broken pipe instead of waiting for a reader that is gone.
  pcall(self.replies.close, self.replies)
  pcall(self.pipe.close, self.pipe)
end

Session.__gc = Session.close
Session.__close = Session.close

return M
