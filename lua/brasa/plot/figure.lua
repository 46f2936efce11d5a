-- brasa.plot.figure: figures, panels, terminals and rendering.
--
-- A figure owns one gnuplot session (started at its first drawing) and
-- remembers its last scene: the datablocks it sent and the commands that
-- draw them. Drawing sends both; brasa.plot.save sends the commands again
-- between `set terminal push` / `set terminal pop` with a file terminal, so
-- the data stays in gnuplot and is not sent twice.
--
-- A panel is what one plot call builds: datablocks and commands. A scene is
-- one panel, or several arranged by `set multiplot layout` (subplots).

local gnuplot = require 'brasa.plot.gnuplot'

local M = {}

local quote = gnuplot.quote

------------------------------------------------------------------ panels

local Panel = {}
Panel.__index = Panel

--- A new, empty panel; `prefix` keeps its datablock names apart from those
-- of the other panels of the same scene.
function M.panel(prefix)
  return setmetatable({prefix = prefix or 'p1', blocks = {}, commands = {'reset'}}, Panel)
end

--- Adds a datablock (a list of lines) and returns its name, like '$p1_2'.
function Panel:block(lines)
  local name = '$' .. self.prefix .. '_' .. (#self.blocks + 1)
  self.blocks[#self.blocks + 1] = {name = name, lines = lines}
  return name
end

--- Adds a command; with more arguments, the command is a format string.
function Panel:cmd(command, ...)
  if select('#', ...) > 0 then command = command:format(...) end
  self.commands[#self.commands + 1] = command
end

--- Adds user commands (opts.commands: a string or a list of strings).
function Panel:user(commands)
  if type(commands) == 'string' then
    self:cmd(commands)
  elseif type(commands) == 'table' then
    for _, c in ipairs(commands) do self:cmd(tostring(c)) end
  end
end

--- A scene from panels; with a layout {rows =, cols =, title =}, a grid.
function M.scene(panels, layout)
  local scene = {blocks = {}, commands = {}, size = nil}
  local function add(c) scene.commands[#scene.commands + 1] = c end
  if layout then
    add(('set multiplot layout %d,%d%s'):format(layout.rows, layout.cols,
      layout.title and ' title ' .. quote(layout.title) or ''))
  end
  for _, p in ipairs(panels) do
    for _, b in ipairs(p.blocks) do scene.blocks[#scene.blocks + 1] = b end
    for _, c in ipairs(p.commands) do add(c) end
    scene.size = scene.size or p.size
  end
  if layout then
    add('unset multiplot')
    scene.size = layout.size or scene.size
  end
  return scene
end

-- The commands that define a scene's datablocks.
local function block_commands(scene, out)
  out[#out + 1] = 'undefine $*'
  for _, b in ipairs(scene.blocks) do
    out[#out + 1] = b.name .. ' << EOD'
    for _, line in ipairs(b.lines) do out[#out + 1] = line end
    out[#out + 1] = 'EOD'
  end
end

--------------------------------------------------------------- terminals

-- Terminals that open windows, in order of preference.
M.window_terminals = {'qt', 'wxt', 'x11'}
local is_window = {qt = true, wxt = true, x11 = true, xlib = true, aqua = true, windows = true}

-- Names users may give for terminals gnuplot names otherwise.
local aliases = {sixel = 'sixelgd', text = 'dumb', window = 'auto-window'}

-- The Debian package that provides a terminal, for error messages.
local packages = {qt = 'gnuplot-qt', wxt = 'gnuplot-x11', x11 = 'gnuplot-x11',
  ['auto-window'] = 'gnuplot-qt or gnuplot-x11'}

local default = {name = 'auto', options = nil}

-- Set when a window terminal could not open (a DISPLAY nothing answers,
-- over SSH for one): 'auto' then draws text.
local windows_failed = false

--- Sets the default terminal: 'auto' (a window when DISPLAY is set and
-- gnuplot has one, else text), 'dumb' (text), 'sixel', 'qt', 'wxt', 'x11'...
-- options is a string of gnuplot terminal options ('size 100,30', 'ansi').
function M.set_terminal(name, options)
  default.name, default.options = name, options
end

--- The default terminal's name and options.
function M.get_terminal()
  return default.name, default.options
end

-- The text terminal's size: COLUMNS and LINES, else `stty size`, else 80x25.
local function text_size()
  local cols, lines = tonumber(os.getenv('COLUMNS')), tonumber(os.getenv('LINES'))
  if not (cols and lines) then
    local p = io.popen('{ stty size </dev/tty; } 2>/dev/null')
    if p then
      local out = p:read('a') or ''
      p:close()
      local l, c = out:match('(%d+)%s+(%d+)')
      lines, cols = lines or tonumber(l), cols or tonumber(c)
    end
  end
  if not (cols and lines) or cols < 20 or lines < 8 then return 80, 25 end
  return cols, lines - 1 -- keep a line for the prompt
end

-- The terminal a session draws on: its name, the `set terminal` command,
-- and whether 'auto' chose a window.
local function display_terminal(session, number, who)
  local name, options = default.name, default.options
  name = aliases[name] or name
  local auto_window = false
  if name == 'auto' or name == 'auto-window' then
    local chosen
    local display = os.getenv('DISPLAY')
    if name == 'auto-window' or (display and display ~= '' and not windows_failed) then
      for _, w in ipairs(M.window_terminals) do
        if session:has_terminal(w) then chosen = w break end
      end
    end
    if not chosen and name == 'auto-window' then
      error(who .. ': this gnuplot has no window terminal: install '
        .. packages[name], 0)
    end
    auto_window = name == 'auto' and chosen ~= nil
    name = chosen or 'dumb'
  end
  if not session:has_terminal(name) then
    local hint = packages[name] and ': install ' .. packages[name] or ''
    error(("%s: this gnuplot has no terminal '%s'%s"):format(who, name, hint), 0)
  end
  local command = 'set terminal ' .. name
  if name == 'dumb' and not (options and options:match('size')) then
    command = command .. (' size %d,%d'):format(text_size())
  elseif is_window[name] then
    command = command .. ' title ' .. quote('brasa: figure ' .. number)
  end
  if options then command = command .. ' ' .. options end
  return name, command, auto_window
end

--- True when terminal `name` draws into a window (not on stdout).
function M.is_window(name)
  return is_window[name] == true
end

----------------------------------------------------------------- figures

local Figure = {}
Figure.__index = Figure

local figures = {}  -- number -> figure
local current = nil -- number of the current figure

local function new_figure(number)
  return setmetatable({number = number}, Figure)
end

--- The running gnuplot of this figure, started when first needed.
function Figure:session(who)
  if not self.gp or self.gp.dead or self.gp.closed then
    self.gp = gnuplot.start(who)
    self.terminal_command = nil
    self.drawn_in = nil
  end
  return self.gp
end

-- Copies what a text terminal wrote to io.stdout. The dumb terminal starts
-- each page with a form feed, which terminals show as a blank line: dropped.
local function print_file(path, dumb)
  local f = io.open(path, 'rb')
  if not f then return end
  local text = f:read('a')
  f:close()
  if dumb then text = text:gsub('\f', '') end
  -- the prompt (or what comes next) starts on a line of its own
  if text ~= '' and text:sub(-1) ~= '\n' then text = text .. '\n' end
  io.stdout:write(text)
  io.stdout:flush()
end

--- Draws a scene on the display terminal; text terminals print it to
-- io.stdout (flushed) before this returns. When the window 'auto' chose
-- cannot open, says so on stderr and draws text from then on.
function Figure:draw(scene, who)
  local ok, err = pcall(self.draw_on, self, scene, who)
  if ok then return end
  if self.auto_window and self.gp and self.gp.dead then
    windows_failed = true
    io.stderr:write(('brasa.plot: cannot open a window on DISPLAY=%s, drawing text '
      .. "instead (plot.terminal('x11') or another to choose)\n"):format(os.getenv('DISPLAY')))
    return self:draw_on(scene, who)
  end
  error(err, 0)
end

-- Draws a scene (see Figure:draw).
function Figure:draw_on(scene, who)
  local gp = self:session(who)
  local name, terminal, auto_window = display_terminal(gp, self.number, who)
  self.auto_window = auto_window
  local text = not is_window[name]
  local cmds = {}
  block_commands(scene, cmds)
  if text or terminal ~= self.terminal_command then
    cmds[#cmds + 1] = terminal
    cmds[#cmds + 1] = 'set termoption noenhanced'
  end
  -- text terminals write to a fresh temporary file, copied to stdout below
  local textfile = text and os.tmpname()
  cmds[#cmds + 1] = text and 'set output ' .. quote(textfile) or 'set output'
  for _, c in ipairs(scene.commands) do cmds[#cmds + 1] = c end
  if text then cmds[#cmds + 1] = 'unset output' end
  self.terminal_command, self.drawn_in = nil, nil
  local ok, err = pcall(gp.sync, gp, cmds, who)
  if text then
    if ok then print_file(textfile, name == 'dumb') end
    os.remove(textfile)
  end
  if not ok then error(err, 0) end -- the last scene drawn stays the figure's
  self.scene, self.drawn_in, self.terminal_command = scene, gp, terminal
end

-- The file terminal for a path's extension, and its size clause.
local function file_terminal(gp, path, size, who)
  local ext = (path:match('%.(%w+)$') or ''):lower()
  local w, h = size[1], size[2]
  if ext == 'png' then
    local t = gp:has_terminal('pngcairo') and 'pngcairo' or 'png'
    return ('%s size %d,%d'):format(t, w, h)
  elseif ext == 'svg' then
    return ('svg size %d,%d'):format(w, h)
  elseif ext == 'pdf' then
    if not gp:has_terminal('pdfcairo') then
      error(who .. ': this gnuplot cannot write PDF (no pdfcairo terminal)', 0)
    end
    return ('pdfcairo size %gin,%gin'):format(w / 100, h / 100)
  end
  error(who .. ": cannot tell the format of '" .. path
    .. "': use a name ending in .png, .svg or .pdf", 0)
end

--- Renders the last scene again into a file, through a temporary name in
-- the same directory renamed at the end: a failed save leaves no file.
-- opts.size = {width, height} in pixels (PDF: 100 pixels to the inch).
function Figure:save(path, opts, who)
  if not self.scene then error(who .. ': nothing to save: draw a plot first', 0) end
  local gp = self:session(who)
  local size = opts.size or self.scene.size or {800, 600}
  if type(size) ~= 'table' or not (math.tointeger(size[1]) and math.tointeger(size[2])
      and size[1] > 0 and size[2] > 0) then
    error(who .. ': opts.size must be {width, height} in whole pixels', 0)
  end
  local terminal = file_terminal(gp, path, size, who)
  local tmp = path .. '.part'
  local cmds = {}
  if self.drawn_in ~= gp then block_commands(self.scene, cmds) end
  cmds[#cmds + 1] = 'set terminal push'
  cmds[#cmds + 1] = 'set terminal ' .. terminal
  cmds[#cmds + 1] = 'set termoption noenhanced'
  cmds[#cmds + 1] = 'set output ' .. quote(tmp)
  for _, c in ipairs(self.scene.commands) do cmds[#cmds + 1] = c end
  cmds[#cmds + 1] = 'unset output'
  cmds[#cmds + 1] = 'set terminal pop'
  local ok, err = pcall(gp.sync, gp, cmds, who)
  self.drawn_in = gp
  if not ok then
    os.remove(tmp)
    error(err, 0)
  end
  local renamed, why = os.rename(tmp, path)
  if not renamed then
    os.remove(tmp)
    error(who .. ': ' .. tostring(why), 0)
  end
  return path
end

--- Stops the figure's gnuplot (closing its window).
function Figure:close()
  if self.gp then self.gp:close() end
  self.gp = nil
end

Figure.__gc = Figure.close

--- The figure numbered n, created if needed (it becomes the current one
-- when `select` is true).
function M.get(n, select)
  local fig = figures[n]
  if not fig then
    fig = new_figure(n)
    figures[n] = fig
  end
  if select then current = n end
  return fig
end

--- The current figure, created (as figure 1) if there is none.
function M.current()
  return M.get(current or 1, true)
end

--- The current figure's number, or nil.
function M.current_number()
  return current
end

--- The smallest number no figure has.
function M.free_number()
  local n = 1
  while figures[n] do n = n + 1 end
  return n
end

--- Closes figure n; the current figure becomes the highest one left.
function M.close(n)
  local fig = figures[n]
  if fig then fig:close() end
  figures[n] = nil
  if current == n then
    current = nil
    for k in pairs(figures) do
      if not current or k > current then current = k end
    end
  end
end

--- The numbers of the open figures, in order.
function M.numbers()
  local list = {}
  for n in pairs(figures) do list[#list + 1] = n end
  table.sort(list)
  return list
end

return M
