--- brasa.repl: the Lua half of the `brasa` REPL.
--
-- The executable (repl/*.c) reads lines, compiles and runs chunks and
-- handles signals; everything that looks inside Lua values lives here, where
-- it is easy to change and to test without a terminal:
--
--   repl.setup(opts)          loads brasa and sets the REPL's globals
--   repl.banner(version)      the one-line start-up banner
--   repl.rewrite(line)        `?x` -> help, `%time expr` -> timing, `=x` -> return x
--   repl.pretty(v)            a value as text (tables with depth limit, cycles...)
--   repl.print_results(...)   prints a chunk's results and sets `_`
--   repl.complete(text, before, quote)   tab-completion candidates
--   repl.format_error(msg)    an error with its traceback trimmed to user code
--   repl.time(fn), repl.timeit(fn)       median/min/max timing, as %timeit
--
-- Ctrl-C protocol for long loops. The executable defines a global table
-- `brasa_repl` (absent under plain `lua`):
--   brasa_repl.pending_interrupts()  Ctrl-C presses since the current chunk began
--   brasa_repl.defer_interrupts(on)  while on, the first Ctrl-C only counts and
--                                    the second interrupts at once; returns the
--                                    previous setting; reset before each chunk
--   brasa_repl.clock()               monotonic wall-clock seconds
--   brasa_repl.engine_interrupt()    true if Ctrl-C also stops C kernels
-- A training loop that wants "first Ctrl-C stops after this batch" calls
-- defer_interrupts(true) before its loop, checks pending_interrupts() > 0 after
-- each batch, and restores the old setting when done. setup() also defines
-- brasa.repl_interrupt_pending() (if the library did not) as a shorthand for
-- that check; it is false outside the executable.
--
-- Piped input (`echo 'print(1+1)' | brasa`, or `brasa -`): stdin that
-- compiles as a chunk runs as a script, exactly as under `lua` (call
-- statements print nothing, top-level locals span lines); a lone expression
-- prints its value (`echo 1+1 | brasa`); anything else is read as REPL input,
-- entries printed as if typed, all compiled before any runs. The first error
-- stops it with exit status 1.

local doc = require 'brasa.doc'

local repl = {}

--- Printing and timing options; the executable sets color and width.
repl.options = {
  depth = 4,             -- tables nested deeper print as {...}
  max_items = 40,        -- entries shown per table before "... (n more)"
  max_string = 120,      -- strings inside tables are cut after this many bytes
  width = 80,            -- a table that fits this many columns prints on one line
  color = false,         -- ANSI colour for help headings and errors
  time_budget = 2,       -- seconds time() may spend in all
  full_traceback = false, -- keep the frames of brasa's own Lua files in errors
}

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local
  nil not or repeat return then true until while]]):gmatch('%a+') do
  keywords[w] = true
end

local function is_identifier(s)
  return type(s) == 'string' and s:match('^[%a_][%w_]*$') ~= nil and not keywords[s]
end

---------------------------------------------------------------------------
-- Pretty-printing
---------------------------------------------------------------------------

local escapes = {['\n'] = '\\n', ['\t'] = '\\t', ['\r'] = '\\r', ['"'] = '\\"',
                 ['\\'] = '\\\\'}

--- A string as a double-quoted Lua literal, cut after max bytes if given.
local function quote(s, max)
  local extra = ''
  if max and #s > max then
    extra = ('... (%d bytes)'):format(#s)
    s = s:sub(1, max)
  end
  s = s:gsub('[%c"\\]', function(c)
    return escapes[c] or ('\\%03d'):format(c:byte())
  end)
  return '"' .. s .. '"' .. extra
end

-- Key order in printed tables: numbers, strings, booleans, the rest.
local type_rank = {number = 1, string = 2, boolean = 3}
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_rank[ta] or 4) < (type_rank[tb] or 4) end
  if ta == 'number' or ta == 'string' then return a < b end
  return tostring(a) < tostring(b)
end

local render

--- The name of a documented function, for printing functions usefully.
local function function_text(f)
  local e = doc.get(f)
  if e then return ('function: %s'):format(e.signature or e.name) end
  return tostring(f)
end

--- Items of a table as text: array part, then the other keys sorted.
local function table_items(t, depth, indent, path, opts)
  local items, len = {}, 0
  while rawget(t, len + 1) ~= nil do len = len + 1 end
  local shown = math.min(len, opts.max_items)
  for i = 1, shown do
    items[#items + 1] = render(rawget(t, i), depth + 1, indent + 2, path, opts)
  end
  if len > shown then items[#items + 1] = ('... (%d more)'):format(len - shown) end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == 'integer' and k >= 1 and k <= len) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, key_less)
  local hshown = math.min(#keys, opts.max_items)
  for i = 1, hshown do
    local k = keys[i]
    local ks = is_identifier(k) and k
      or '[' .. render(k, depth + 1, indent + 2, path, opts) .. ']'
    items[#items + 1] = ks .. ' = ' .. render(rawget(t, k), depth + 1, indent + #ks + 5, path, opts)
  end
  if #keys > hshown then
    items[#items + 1] = ('... (%d more)'):format(#keys - hshown)
  end
  return items, #keys == 0
end

--- Lays out the items of a table: on one line if they fit, else one per
-- line (short array items packed several to a line).
local function layout(prefix, items, is_array, indent, opts)
  if #items == 0 then return prefix .. '{}' end
  local one = prefix .. '{' .. table.concat(items, ', ') .. '}'
  if not one:find('\n', 1, true) and indent + #one <= opts.width then return one end
  local lines, width = {prefix .. '{'}, opts.width - indent - 2
  local multiline = false
  for _, it in ipairs(items) do
    if it:find('\n', 1, true) then multiline = true end
  end
  if is_array and not multiline then  -- pack: 1, 2, 3, ... up to the width
    local cur = ''
    for _, it in ipairs(items) do
      local piece = it .. ','
      if cur ~= '' and #cur + 1 + #piece > width then
        lines[#lines + 1] = '  ' .. cur
        cur = piece
      else
        cur = cur == '' and piece or cur .. ' ' .. piece
      end
    end
    lines[#lines + 1] = '  ' .. cur
  else
    for _, it in ipairs(items) do
      lines[#lines + 1] = '  ' .. it:gsub('\n', '\n  ') .. ','
    end
  end
  lines[#lines + 1] = '}'
  return table.concat(lines, '\n')
end

--- Renders v at nesting depth `depth` (0 at the top), `indent` columns in.
-- path holds the tables being printed, to show cycles instead of looping.
function render(v, depth, indent, path, opts)
  local tv = type(v)
  if tv == 'string' then return quote(v, depth > 0 and opts.max_string or nil) end
  if tv ~= 'table' and tv ~= 'userdata' and tv ~= 'function' then
    return tostring(v)
  end
  local mt = debug.getmetatable(v)
  if type(mt) == 'table' and rawget(mt, '__tostring') ~= nil then
    local ok, s = pcall(tostring, v)
    if ok and type(s) == 'string' then return s end
    return ('<%s: __tostring failed: %s>'):format(tv, tostring(s))
  end
  if tv == 'function' then return function_text(v) end
  if tv ~= 'table' then return tostring(v) end
  if path[v] then return '<cycle>' end
  local prefix = type(mt) == 'table' and type(rawget(mt, '__name')) == 'string'
    and rawget(mt, '__name') .. ' ' or ''
  if depth >= opts.depth then
    return prefix .. (next(v) == nil and '{}' or '{...}')
  end
  path[v] = true
  local items, is_array = table_items(v, depth, indent, path, opts)
  path[v] = nil
  return layout(prefix, items, is_array, indent, opts)
end

--- The value as text: strings quoted, tables expanded (depth limit, cycle
-- detection, long lists cut), values with __tostring (tensors, modules)
-- through it. opts overrides fields of repl.options.
function repl.pretty(v, opts)
  local o = repl.options
  if opts then
    o = setmetatable({}, {__index = repl.options})
    for k, x in pairs(opts) do o[k] = x end
  end
  return render(v, 0, 0, {}, o)
end

--- Prints the results of a chunk: on one line separated by tabs, or one per
-- line when any takes several lines. The first becomes the global `_`.
function repl.print_results(...)
  local n = select('#', ...)
  if n == 0 then return end
  rawset(_G, '_', (...))
  local parts, multi = {}, false
  for i = 1, n do
    parts[i] = repl.pretty((select(i, ...)))
    if parts[i]:find('\n', 1, true) then multi = true end
  end
  io.stdout:write(table.concat(parts, multi and '\n' or '\t'), '\n')
  io.stdout:flush()
end

---------------------------------------------------------------------------
-- Rewriting what the user typed
---------------------------------------------------------------------------

--- Rewrites the first line of an entry: `?x` -> help on x, `??` or `?` ->
-- help(), `%time expr` / `%timeit expr` -> time it, `=expr` -> return expr.
-- Other lines come back unchanged.
function repl.rewrite(line)
  local q = line:match('^%s*%?%??%s*(.-)%s*$')
  if q then
    if q == '' then return 'help()' end
    return ('require("brasa.help").help_text(%q)'):format(q)
  end
  local cmd, rest = line:match('^%s*%%(%a+)%s*(.-)%s*$')
  if cmd == 'time' or cmd == 'timeit' then
    return ('require("brasa.repl").time_code(%q)'):format(rest)
  end
  local expr = line:match('^%s*=(.*)$')
  if expr then return 'return ' .. expr end
  return line
end

---------------------------------------------------------------------------
-- Completion
---------------------------------------------------------------------------

--- True when v can be called (a function, or has __call).
local function callable(v)
  if type(v) == 'function' then return true end
  local mt = debug.getmetatable(v)
  return type(mt) == 'table' and rawget(mt, '__call') ~= nil
end

--- Names reachable as v.name (or, with methods, v:name): v's own fields if
-- it is a table, then through metatables: __index when it is a table (and its
-- own metatables: class inheritance), a __methods table, a __fields list.
local function members(v, methods)
  local names, seen, visited = {}, {}, {}
  local function add(k, val)
    if type(k) == 'string' and k:match('^[%a_][%w_]*$') and not seen[k]
        and (not methods or callable(val)) then
      seen[k] = true
      names[#names + 1] = k
    end
  end
  local add_meta
  local function add_table(t)
    if visited[t] then return end
    visited[t] = true
    for k, val in next, t do add(k, val) end
    add_meta(debug.getmetatable(t))
  end
  function add_meta(mt)
    if type(mt) ~= 'table' then return end
    local idx = rawget(mt, '__index')
    if type(idx) == 'table' then add_table(idx) end
    local m = rawget(mt, '__methods')
    if type(m) == 'table' then add_table(m) end
    local f = rawget(mt, '__fields')
    if type(f) == 'table' and not methods then
      for _, k in ipairs(f) do add(k, nil) end
    end
  end
  if type(v) == 'table' then add_table(v) else add_meta(debug.getmetatable(v)) end
  return names
end

--- The value of a dotted path of names from the globals, or nil. Indexing
-- may run __index metamethods; errors count as "nothing there".
local function resolve(path)
  local v = _G
  for name in path:gmatch('[^.]+') do
    if not name:match('^[%a_][%w_]*$') then return nil end
    local ok, r = pcall(function() return v[name] end)
    if not ok or r == nil then return nil end
    v = r
  end
  return v
end

--- Documented names starting with prefix (completion inside help('...')).
local function doc_names(prefix)
  local out = {}
  for _, n in ipairs(doc.names()) do
    if n:sub(1, #prefix) == prefix then out[#out + 1] = n end
  end
  return out
end

--- Completion candidates for the word `text` under the cursor; `before` is
-- the line before it and `quote` the open quote character when the word is
-- inside a string. Returns a sorted list of full replacements for text, or
-- the string 'files' to ask for file-name completion.
function repl.complete(text, before, quote)
  if quote then
    if (before or ''):match('help%s*%(%s*[\'"]$') then return doc_names(text) end
    return 'files'
  end
  local base, sep, partial = text:match('^(.-)([.:])([%w_]*)$')
  local names
  if not base then
    base, sep, partial = '', '', text
    names = members(_G, false)
    for k in pairs(keywords) do names[#names + 1] = k end
  else
    if not base:match('^[%a_][%w_]*$') and not base:match('^[%a_][%w_.]*[%w_]$') then
      return {}
    end
    local v = resolve(base)
    if v == nil then return {} end
    names = members(v, sep == ':')
  end
  local out, show_private = {}, partial:sub(1, 1) == '_'
  for _, name in ipairs(names) do
    if name:sub(1, #partial) == partial and (show_private or name:sub(1, 2) ~= '__') then
      out[#out + 1] = base .. sep .. name
    end
  end
  table.sort(out)
  return out
end

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------

-- Directory of brasa's Lua files ("/.../lua/brasa/"), found once.
local libdir
local function library_dir()
  if libdir == nil then
    local p = package.searchpath('brasa.repl', package.path)
    libdir = p and p:gsub('repl%.lua$', '') or false
  end
  return libdir
end

--- True when a traceback line is a frame of brasa's own Lua code (sources
-- may be shortened to "...tail/lua/brasa/nn/linear.lua" by Lua).
local function library_frame(line)
  local rel = line:match('brasa/([%w_/]+%.lua):')
  if not rel then return false end
  local dir = library_dir()
  if not dir then return false end
  -- The last "brasa/" of the path: for ".../brasa/nn/linear.lua" try
  -- "nn/linear.lua", for a user file ".../brasa/scripts/x.lua" nothing matches.
  local f = io.open(dir .. rel, 'r')
  if f then f:close() return true end
  return false
end

--- An error message with its traceback trimmed to the user's code: drops the
-- frames of the REPL itself, of brasa's Lua library (unless
-- options.full_traceback), of error/assert, and the traceback altogether when
-- only the typed chunk is left.
function repl.format_error(msg)
  local head, tb = msg:match('^(.-)\nstack traceback:\n(.*)$')
  if not head then return msg end
  local kept = {}
  for line in tb:gmatch('[^\n]+') do
    local l = line:match('^%s*(.-)%s*$')
    local drop = l == '[C]: in ?' or l == '(...tail calls...)'
      or l:match("^%[C%]: in function '[%w_.]*error'$")
      or l:match("^%[C%]: in function '[%w_.]*assert'$")
      or l:match("^%[C%]: in function '[%w_.]*xpcall'$")
      or l:match("^%[C%]: in function '[%w_.]*pcall'$")
      or l:match('brasa/repl%.lua:') or l:match('brasa/help%.lua:')
      or (not repl.options.full_traceback and library_frame(l))
    if not drop then kept[#kept + 1] = line end
  end
  if #kept == 0 or (#kept == 1 and kept[1]:match('^%s*stdin:%d+: in main chunk$')) then
    return head
  end
  return head .. '\nstack traceback:\n' .. table.concat(kept, '\n')
end

---------------------------------------------------------------------------
-- Timing
---------------------------------------------------------------------------

--- Seconds of a wall clock: the executable's monotonic clock, else os.clock.
local function now()
  local r = rawget(_G, 'brasa_repl')
  if type(r) == 'table' and r.clock then return r.clock() end
  return os.clock()
end

--- A function that waits for the GPU, when brasa uses one, else nil.
local function gpu_sync()
  local b = package.loaded.brasa
  local cuda = type(b) == 'table' and rawget(b, 'cuda')
  if type(cuda) == 'table' and cuda.synchronize and cuda.is_available then
    local ok, yes = pcall(cuda.is_available)
    if ok and yes then return cuda.synchronize end
  end
  return nil
end

--- Times fn like IPython's %timeit: loops per run grow 1, 2, 5, 10, 20... until
-- a run takes ~0.2 s, then up to 7 runs, all within options.time_budget
-- seconds (opts.budget). Returns {median=, min=, max=, runs=, loops=,
-- times=} in seconds per call.
function repl.timeit(fn, opts)
  assert(callable(fn), 'time: a function expected')
  opts = opts or {}
  local budget = opts.budget or repl.options.time_budget
  local target = math.min(0.2, budget / 10)
  local sync = gpu_sync()
  local function run(loops)
    local t0 = now()
    for _ = 1, loops do fn() end
    if sync then sync() end
    return now() - t0
  end
  local loops, t, steps = 1, run(1), {2, 2.5, 2}
  local step = 1
  while t < target and loops < 1e9 do
    loops = math.floor(loops * steps[step] + 0.5)
    step = step % #steps + 1
    t = run(loops)
  end
  local runs = math.max(1, math.min(opts.runs or 7, math.floor(budget / math.max(t, 1e-9))))
  local times = {t / loops}
  for i = 2, runs do times[i] = run(loops) / loops end
  local sorted = {table.unpack(times)}
  table.sort(sorted)
  local m = #sorted
  local median = m % 2 == 1 and sorted[(m + 1) // 2]
    or (sorted[m // 2] + sorted[m // 2 + 1]) / 2
  return {median = median, min = sorted[1], max = sorted[m], runs = runs,
          loops = loops, times = times}
end

--- Seconds as text with 3 significant digits and a unit (s, ms, us, ns).
function repl.format_seconds(s)
  local units = {{1, 's'}, {1e-3, 'ms'}, {1e-6, 'us'}, {1e-9, 'ns'}}
  for _, u in ipairs(units) do
    if s >= u[1] or u[2] == 'ns' then
      local x = s / u[1]
      return (x >= 100 and '%.0f %s' or x >= 10 and '%.1f %s' or '%.2f %s'):format(x, u[2])
    end
  end
end

--- time(fn, opts): prints the median, min and max time per call of fn over
-- repeated runs (see timeit). Returns nothing, so it prints nothing more.
function repl.time(fn, opts)
  local r = repl.timeit(fn, opts)
  local f = repl.format_seconds
  io.stdout:write(('median %s, min %s, max %s per loop (%d run%s, %d loop%s each)\n'):format(
    f(r.median), f(r.min), f(r.max), r.runs, r.runs == 1 and '' or 's',
    r.loops, r.loops == 1 and '' or 's'))
  io.stdout:flush()
end

require 'brasa.help'         -- which holds the entry of time
doc.bind(repl.time, 'time')

--- `%time code` at the prompt: times code (an expression or statements).
function repl.time_code(code)
  if code:match('^%s*$') then error('%time: what should I time? (%time expr)', 0) end
  local fn, err = load('return ' .. code, '=stdin')
  if not fn then fn, err = load(code, '=stdin') end
  if not fn then error(err, 0) end
  repl.time(fn)
end

---------------------------------------------------------------------------
-- Start-up
---------------------------------------------------------------------------

--- BLAS information shortened for the banner: OpenBLAS's configuration
-- string "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... Haswell MAX_THREADS=64"
-- becomes "OpenBLAS 0.3.21 (Haswell)".
local function short_blas(info)
  local name, version, rest = info:match('^(%S+)%s+(%d[%w.]*)%s*(.*)$')
  if not name or rest == '' or rest:match('^%(.*%)$') then return info end
  for word in rest:gmatch('%S+') do
    if word:match('^%u%l+%w*$') then return ('%s %s (%s)'):format(name, version, word) end
  end
  return name .. ' ' .. version
end

--- The one-line banner: versions, BLAS and its threads, CUDA devices.
function repl.banner(version)
  local parts = {'brasa ' .. tostring(version or '?'), _VERSION}
  local b = package.loaded.brasa
  if type(b) ~= 'table' then
    parts[#parts + 1] = 'engine not loaded'
  else
    local blas
    if b.blas_info then
      local ok, info = pcall(b.blas_info)
      if ok and type(info) == 'table' then
        info = table.concat({info.name or info[1], info.version, info.core}, ' ')
      end
      if ok and info then blas = short_blas(tostring(info)) end
    end
    local threads
    if b.get_num_threads then
      local ok, n = pcall(b.get_num_threads)
      if ok then threads = n end
    end
    if blas or threads then
      parts[#parts + 1] = (blas or 'BLAS') .. (threads and (', %d thread%s'):format(
        threads, threads == 1 and '' or 's') or '')
    end
    local cuda = b.cuda
    local devices = 'none'
    if type(cuda) == 'table' and cuda.is_available then
      local ok, yes = pcall(cuda.is_available)
      if ok and yes then
        local n = cuda.device_count and select(2, pcall(cuda.device_count))
        local name = (cuda.get_device_name or cuda.device_name)
        name = name and select(2, pcall(name, 1))
        devices = ('%s device%s'):format(tonumber(n) or 1, tonumber(n) == 1 and '' or 's')
        if type(name) == 'string' then devices = devices .. ' (' .. name .. ')' end
      end
    end
    parts[#parts + 1] = 'CUDA: ' .. devices
  end
  return table.concat(parts, ' | ') .. ' | help() for help'
end

local repl_docs = {
  {'brasa_repl.pending_interrupts', 'brasa_repl.pending_interrupts()',
   'How many times Ctrl-C was pressed since the current REPL entry began.',
   text = 'Defined by the brasa executable only. Long loops poll it to stop cleanly.',
   example = 'if brasa_repl and brasa_repl.pending_interrupts() > 0 then print("stop") end'},
  {'brasa_repl.defer_interrupts', 'brasa_repl.defer_interrupts(on)',
   'While on, the first Ctrl-C is only counted and the second interrupts at once.',
   text = 'Returns the previous setting. It resets before every REPL entry.',
   example = 'local old = brasa_repl and brasa_repl.defer_interrupts(true)'},
  {'brasa_repl.clock', 'brasa_repl.clock()',
   'Seconds of a monotonic wall clock (what time() measures with).',
   example = 'local t0 = brasa_repl and brasa_repl.clock()'},
  {'brasa_repl.engine_interrupt', 'brasa_repl.engine_interrupt()',
   'True when Ctrl-C also stops long C kernels of the engine.',
   example = 'print(brasa_repl and brasa_repl.engine_interrupt())'},
  {'brasa.repl_interrupt_pending', 'brasa.repl_interrupt_pending()',
   'True when Ctrl-C was pressed during the current REPL entry (false outside the REPL).',
   text = 'Training loops call it after each batch; see brasa_repl.defer_interrupts.',
   example = 'print(brasa.repl_interrupt_pending())'},
}

--- Sets up the REPL's world: requires brasa (a failure is returned as a
-- warning, not raised), binds the globals brasa, nn, optim, plot, help,
-- apropos and time, and applies opts to repl.options. Returns a warning
-- string or nil.
function repl.setup(opts)
  for k, v in pairs(opts or {}) do
    if repl.options[k] ~= nil then repl.options[k] = v end
  end
  local help = require 'brasa.help'
  help.color = repl.options.color
  rawset(_G, 'help', help.help)
  rawset(_G, 'apropos', help.apropos)
  rawset(_G, 'time', repl.time)
  local r = rawget(_G, 'brasa_repl')
  if type(r) == 'table' then  -- inside the executable: document its helpers
    for _, e in ipairs(repl_docs) do
      if e[1]:match('^brasa_repl%.') then doc.add(e) end
    end
    for name, f in pairs(r) do doc.bind(f, 'brasa_repl.' .. name) end
  end
  local ok, brasa = pcall(require, 'brasa')
  if not ok or type(brasa) ~= 'table' then
    local why = tostring(brasa):match('^[^\n]*')
    return 'cannot load the brasa library, running plain Lua (' .. why .. ')'
  end
  rawset(_G, 'brasa', brasa)
  for _, name in ipairs{'nn', 'optim', 'plot'} do
    local ok2, m = pcall(function() return brasa[name] end)
    rawset(_G, name, ok2 and m or {})
  end
  if rawget(brasa, 'repl_interrupt_pending') == nil then
    brasa.repl_interrupt_pending = function()
      local rr = rawget(_G, 'brasa_repl')
      return type(rr) == 'table' and rr.pending_interrupts() > 0 or false
    end
    doc.add(repl_docs[#repl_docs])
    doc.bind(brasa.repl_interrupt_pending, 'brasa.repl_interrupt_pending')
  end
  return nil
end

return repl
