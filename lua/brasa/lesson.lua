--- brasa.lesson: step-by-step lessons that run in the REPL.
--
--   brasa.lessons()                         -- what exists (id, title, steps)
--   brasa.lesson('text_cnn')                -- explanation, code, Enter runs it...
--   brasa.lesson('text_cnn', {lang = 'en', step = 5})
--   brasa --lesson text_cnn                 -- the same from the shell, then the REPL
--
-- A lesson is a plain Lua file (tutorials/<id>.lua, or NN_<id>.lua to give
-- the course's order) that returns a table:
--
--   return {
--     id = 'text_cnn',                       -- optional: the file's name says it
--     title = {es = '...', en = '...'},      -- every text: a string, or one per language
--     intro = {es = '...', en = '...'},      -- optional, shown before step 1
--     steps = {
--       {title = {...}, text = {...},         -- the explanation (paragraphs, `code`, - lists)
--        code = [[x = 1 + 1]],                -- a string, or {es = ..., en = ...}
--        check = function(env) assert(env.x == 2) end},   -- optional
--       ...
--     },
--     fast = {EPOCHS = 1, train = function(t) return smaller(t) end},  -- optional
--   }
--
-- Each step's code runs with load(code, name, 't', env): in the REPL (and in
-- scripts run by the brasa executable) env is the global table, so every
-- variable a step makes is there to inspect between steps and after the
-- lesson; under plain `lua`, a fresh table {brasa, nn, optim, plot} over _G
-- (returned as result.env). A step's check (for tests and CI) runs after its
-- code; an error or a false result marks the step failed.
--
-- Fast mode (opts.fast, `brasa --lesson ID --fast`; for CI): the runner sets
-- the global FAST = true, and after each step replaces every name of
-- lesson.fast that the step assigned: by the value given, or by what the
-- function given returns for the step's value (a subset of the data, one
-- epoch). The learner's code stays the code of the full lesson; a name the
-- fast mode changes must get its value in a step before the one that uses
-- it (text_cnn sets EPOCHS with the model, and trains in the next step).
--
-- Language: opts.lang, else BRASA_LANG, else the locale's language (LC_ALL,
-- LC_MESSAGES, LANG) when a lesson may have it (es, en), else Spanish, the
-- course's language. A text missing in that language falls back to the other.
--
-- Where lessons are found: the directories of BRASA_LESSON_PATH (separated
-- by ':'), then tutorials/ of the source tree this file belongs to, then
-- <prefix>/share/brasa/tutorials beside an installed library. An argument
-- holding a '/' or ending in '.lua' is a lesson file's path; a table is a
-- lesson itself.
--
-- At the lesson's prompt: Enter runs the step shown, then goes on; n / s
-- (next, siguiente) skips to the next step, b / v (back, volver) goes back,
-- a / r (again, repetir) runs the step again, g N goes to step N, l lists
-- the steps, c shows the code again, ? helps, q (quit, salir) or Ctrl-D
-- leaves. Anything else runs as a line of Lua in the lesson's environment
-- (`x_train.shape`, `?nn.Conv1d`), so a failing step can be mended and run
-- again. opts.input (a function(prompt) -> line or nil) and opts.output (a
-- function(text)) replace the terminal, for tests.

local M = {}

local LANGS = {es = true, en = true}

---------------------------------------------------------------------------
-- The runner's own words
---------------------------------------------------------------------------

local UI = {
  es = {
    step = 'Paso %d de %d',
    prompt = '%s %d/%d> ',
    before = '[Intro] ejecutar · s siguiente · v volver · q salir · ? ayuda',
    after = '[Intro] seguir · r repetir · v volver · q salir · ? ayuda',
    after_fail = 'Corrige lo que haga falta (aquí puedes escribir Lua) y escribe r para repetir el paso, o s para seguir.',
    failed = 'El paso %d ha fallado: %s',
    check_failed = 'la comprobación del paso no se cumple: %s',
    fast = '(modo rápido: %s cambiado para ir deprisa)',
    done = 'Fin de la lección «%s».',
    vars = 'Siguen definidas: %s.',
    left = "Has dejado la lección en el paso %d. Para seguir: brasa.lesson('%s', {step = %d})",
    interrupted = 'interrumpido',
    help = [[
Órdenes (en español o en inglés):
  Intro            ejecuta el paso; si ya se ha ejecutado, pasa al siguiente
  s, siguiente     pasa al siguiente paso sin ejecutar este   (n, next)
  v, volver        vuelve al paso anterior                    (b, back)
  r, repetir       vuelve a ejecutar este paso                (a, again)
  g N, ir N        va al paso N                               (go N)
  l, lista         lista los pasos                            (list)
  c, código        muestra otra vez el código                 (code)
  q, salir         deja la lección (también Ctrl-D)           (quit)
Cualquier otra cosa se ejecuta como una línea de Lua con las variables de la
lección: x_train.shape, print(tok), ?nn.Conv1d. Para ver una variable de una
letra que coincide con una orden, escribe =n o print(n).]],
    no_step = 'No hay paso %s: la lección tiene %d.',
    list_head = 'Pasos de «%s»:',
    result = 'lección %s: %d de %d pasos ejecutados',
    result_failed = ', falló el paso %d',
    one_line = 'Aquí se escribe una línea de Lua cada vez (para más, sal con q y usa el REPL).',
    step_word = 'paso',
    code_missing = '(este paso no tiene código: Intro para seguir)',
    lessons_head = 'Lecciones (brasa.lesson(id) para empezar una):',
    steps_word = 'pasos',
  },
  en = {
    step = 'Step %d of %d',
    prompt = '%s %d/%d> ',
    before = '[Enter] run · n next · b back · q quit · ? help',
    after = '[Enter] go on · a again · b back · q quit · ? help',
    after_fail = 'Fix what is needed (you can type Lua here), then type a to run the step again, or n to go on.',
    failed = 'Step %d failed: %s',
    check_failed = "the step's check does not hold: %s",
    fast = '(fast mode: %s changed to go quickly)',
    done = 'End of the lesson "%s".',
    vars = 'Still defined: %s.',
    left = "You left the lesson at step %d. To go on: brasa.lesson('%s', {step = %d})",
    interrupted = 'interrupted',
    help = [[
Commands (in English or Spanish):
  Enter            runs the step; once it has run, goes to the next one
  n, next          goes to the next step without running this one  (s)
  b, back          goes back to the previous step                  (v)
  a, again         runs this step again                            (r)
  g N, go N        goes to step N                                  (ir N)
  l, list          lists the steps
  c, code          shows the code again
  q, quit          leaves the lesson (Ctrl-D too)                  (salir)
Anything else runs as a line of Lua with the lesson's variables:
x_train.shape, print(tok), ?nn.Conv1d. To see a one-letter variable that is
also a command, type =n or print(n).]],
    no_step = 'There is no step %s: the lesson has %d.',
    list_head = 'Steps of "%s":',
    result = 'lesson %s: %d of %d steps run',
    result_failed = ', step %d failed',
    one_line = 'Type one line of Lua at a time here (for more, leave with q and use the REPL).',
    step_word = 'step',
    code_missing = '(this step has no code: Enter goes on)',
    lessons_head = 'Lessons (brasa.lesson(id) starts one):',
    steps_word = 'steps',
  },
}

-- The commands at the prompt, in both languages.
local COMMANDS = {
  [''] = 'enter',
  n = 'next', next = 'next', s = 'next', sig = 'next', siguiente = 'next',
  b = 'back', back = 'back', v = 'back', volver = 'back', ['atrás'] = 'back', atras = 'back',
  a = 'again', again = 'again', r = 'again', repetir = 'again',
  q = 'quit', quit = 'quit', exit = 'quit', salir = 'quit',
  l = 'list', list = 'list', lista = 'list',
  c = 'code', code = 'code', ['código'] = 'code', codigo = 'code',
  ['?'] = 'help', h = 'help', help = 'help', ayuda = 'help',
}

-- The command a line typed at the lesson's prompt names (nil: Lua code).
local function command_of(line)
  line = line:gsub('^%s+', ''):gsub('%s+$', '')
  local word = line:match('^(%S+)%s+%d+$')
  if word and (word:lower() == 'g' or word:lower() == 'go' or word:lower() == 'ir') then
    return 'goto'
  end
  return COMMANDS[line:lower()]
end

local function is_command(line) return command_of(line) ~= nil end

---------------------------------------------------------------------------
-- Language and texts
---------------------------------------------------------------------------

--- The language of lessons: lang if given, else BRASA_LANG, else the
-- locale's when it is es or en, else 'es'.
function M.language(lang)
  if lang ~= nil then
    if type(lang) ~= 'string' or not LANGS[lang] then
      error("brasa.lesson: lang must be 'es' or 'en', got " .. tostring(lang), 3)
    end
    return lang
  end
  local env = os.getenv('BRASA_LANG')
  if env and env ~= '' then
    local l = env:lower():sub(1, 2)
    if LANGS[l] then return l end
  end
  for _, var in ipairs{'LC_ALL', 'LC_MESSAGES', 'LANG'} do
    local v = os.getenv(var)
    if v and v ~= '' then
      local l = v:lower():sub(1, 2)
      return LANGS[l] and l or 'es'   -- the first one set decides, as in POSIX
    end
  end
  return 'es'
end

--- A text in language lang: a string is the same in every language; a
-- table gives one per language (the other language when lang is missing).
function M.text(t, lang)
  if t == nil or type(t) == 'string' then return t end
  if type(t) ~= 'table' then return tostring(t) end
  return t[lang] or t.es or t.en or select(2, next(t))
end

-- The display width of s (UTF-8 characters; bytes if s is not UTF-8).
local function width(s)
  return utf8.len(s) or #s
end

--- Wraps text to `cols` columns: paragraphs are separated by blank lines;
-- lines starting with '- ', '* ' or 'N. ' start list items (wrapped with a
-- hanging indent); a paragraph whose lines all start with two spaces is
-- kept as it is (a table, a formula). Returns the lines joined by '\n'.
function M.wrap(text, cols)
  cols = math.max(20, cols or 80)
  local out = {}
  local function wrap_item(words, first, rest)
    local line, lw = first, width(first)
    local empty = true
    for _, w in ipairs(words) do
      local ww = width(w)
      if not empty and lw + 1 + ww > cols then
        out[#out + 1] = line
        line, lw = rest .. w, width(rest) + ww
      else
        line = empty and line .. w or line .. ' ' .. w
        lw = empty and lw + ww or lw + 1 + ww
      end
      empty = false
    end
    out[#out + 1] = line
  end
  text = text:gsub('\r', ''):gsub('^%s*\n', ''):gsub('%s+$', '')
  local first_para = true
  for para in (text .. '\n\n'):gmatch('(.-)\n[ \t]*\n+') do
    if para:match('%S') then
      if not first_para then out[#out + 1] = '' end
      first_para = false
      local lines = {}
      for l in (para .. '\n'):gmatch('(.-)\n') do lines[#lines + 1] = l end
      local pre = true
      for _, l in ipairs(lines) do if not l:match('^  ') then pre = false end end
      if pre then
        for _, l in ipairs(lines) do out[#out + 1] = l end
      else
        local items = {}   -- {marker, words}
        for _, l in ipairs(lines) do
          local marker, rest = l:match('^%s*([-*]) (.*)$')
          if not marker then marker, rest = l:match('^%s*(%d+%.) (.*)$') end
          if marker or #items == 0 then
            items[#items + 1] = {marker = marker and marker .. ' ' or '', words = {}}
            l = rest or l
          end
          for w in l:gmatch('%S+') do table.insert(items[#items].words, w) end
        end
        for _, it in ipairs(items) do
          wrap_item(it.words, it.marker, string.rep(' ', #it.marker))
        end
      end
    end
  end
  return table.concat(out, '\n')
end

---------------------------------------------------------------------------
-- Colour (only where the REPL says the terminal takes it)
---------------------------------------------------------------------------

local ESC = {bold = '\27[1m', dim = '\27[2m', grey = '\27[90m', green = '\27[32m',
             cyan = '\27[36m', magenta = '\27[35m', red = '\27[31m', yellow = '\27[33m',
             reset = '\27[0m'}

local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local
  nil not or repeat return then true until while]]):gmatch('%a+') do KEYWORDS[w] = true end

-- One line of Lua with comments, strings and keywords coloured.
local function highlight(line)
  local out, i, n = {}, 1, #line
  while i <= n do
    local c = line:sub(i, i)
    if line:sub(i, i + 1) == '--' then
      out[#out + 1] = ESC.grey .. line:sub(i) .. ESC.reset
      break
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= n and line:sub(j, j) ~= c do
        j = j + (line:sub(j, j) == '\\' and 2 or 1)
      end
      out[#out + 1] = ESC.green .. line:sub(i, j) .. ESC.reset
      i = j + 1
    elseif c:match('[%a_]') then
      local word = line:match('^[%w_]+', i)
      out[#out + 1] = KEYWORDS[word] and (ESC.magenta .. word .. ESC.reset) or word
      i = i + #word
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

-- `code` spans of an explanation in cyan and *terms* in bold (the marks
-- dropped); without colour the marks stay, as in Markdown.
local function color_spans(s)
  s = s:gsub('`([^`]+)`', function(code)   -- a span may go on to the next line
    return ESC.cyan .. code:gsub('\n', ESC.reset .. '\n' .. ESC.cyan) .. ESC.reset
  end)
  return (s:gsub('%*([^*\n ][^*\n]-)%*', ESC.bold .. '%1' .. ESC.reset))
end

---------------------------------------------------------------------------
-- Finding and loading lessons
---------------------------------------------------------------------------

-- The directory of this file, or nil.
local function here()
  local src = debug.getinfo(1, 'S').source
  if src:sub(1, 1) ~= '@' then return nil end
  local path = src:sub(2)
  if path:sub(1, 1) ~= '/' then path = (os.getenv('PWD') or '.') .. '/' .. path end
  return path:match('^(.*)/[^/]*$')
end

local function is_dir(d)
  local f = io.open(d .. '/.', 'r')
  if f then f:close() return true end
  return false
end

--- The directories searched for lessons, in order (those that exist).
function M.path()
  local dirs, seen = {}, {}
  local function add(d)
    if d and d ~= '' and not seen[d] and is_dir(d) then
      seen[d] = true
      dirs[#dirs + 1] = d
    end
  end
  local env = os.getenv('BRASA_LESSON_PATH')
  if env then for d in env:gmatch('[^:]+') do add(d) end end
  local dir = here()   -- <root>/lua/brasa in the source tree
  if dir then
    add(dir:match('^(.*)/lua/brasa$') and dir:match('^(.*)/lua/brasa$') .. '/tutorials')
    -- installed: <prefix>/share/lua/5.4/brasa -> <prefix>/share/brasa/tutorials
    add(dir:match('^(.*)/lua/5%.4/brasa$') and dir:match('^(.*)/lua/5%.4/brasa$') .. '/brasa/tutorials')
  end
  return dirs
end

-- The .lua files of a directory, sorted.
local function lua_files(dir)
  local files = {}
  local p = io.popen('ls -1 "' .. dir:gsub('"', '\\"') .. '" 2>/dev/null')
  if not p then return files end
  for name in p:lines() do
    if name:match('%.lua$') then files[#files + 1] = name end
  end
  p:close()
  table.sort(files)
  return files
end

-- The id a file name gives: 'text_cnn.lua' -> 'text_cnn', '01_tensors.lua' -> 'tensors'.
local function id_of_file(name)
  local stem = name:gsub('^.*/', ''):gsub('%.lua$', '')
  return (stem:gsub('^%d+_', '')), stem
end

-- Checks a lesson table; fills in id and the file. Raises on a bad one.
local function check_lesson(l, where)
  local who = 'brasa.lesson: ' .. where
  if type(l) ~= 'table' then error(who .. ' is not a lesson (it must return a table with steps)', 0) end
  if type(l.steps) ~= 'table' or #l.steps == 0 then error(who .. ': a lesson needs a non-empty list steps', 0) end
  for i, s in ipairs(l.steps) do
    if type(s) ~= 'table' then error(('%s: step %d is a %s, not a table'):format(who, i, type(s)), 0) end
    local code = s.code
    if code ~= nil and type(code) ~= 'string' and type(code) ~= 'table' then
      error(('%s: the code of step %d must be a string (or one per language)'):format(who, i), 0)
    end
    if s.check ~= nil and type(s.check) ~= 'function' then
      error(('%s: the check of step %d must be a function(env)'):format(who, i), 0)
    end
  end
  if l.fast ~= nil and type(l.fast) ~= 'table' then error(who .. ': fast must be a table of overrides', 0) end
  return l
end

-- Loads the lesson file at path (without running any step).
local function load_file(path)
  local sandbox = setmetatable({}, {__index = _G})   -- stray globals of the file stay here
  local chunk, err = loadfile(path, 't', sandbox)
  if not chunk then error('brasa.lesson: ' .. err, 0) end
  local ok, l = pcall(chunk)
  if not ok then error('brasa.lesson: ' .. path .. ': ' .. tostring(l), 0) end
  check_lesson(l, path)
  local id = id_of_file(path)
  l.id = l.id or id
  l.path = path
  return l
end

--- The lessons found on M.path(): a list of {id, title, steps, path}
-- (title in language lang), sorted by file name, directories in order
-- (the first of an id wins). Files that are not lessons are left out.
function M.find_all(lang)
  lang = M.language(lang)
  local list, seen = {}, {}
  for _, dir in ipairs(M.path()) do
    for _, name in ipairs(lua_files(dir)) do
      local ok, l = pcall(load_file, dir .. '/' .. name)
      if ok and not seen[l.id] then
        seen[l.id] = true
        list[#list + 1] = {id = l.id, title = M.text(l.title, lang) or l.id, steps = #l.steps,
                           path = l.path}
      end
    end
  end
  return list
end

--- The lesson for what: a table (a lesson itself), a file path, or an id
-- looked up on M.path() (as tutorials/<id>.lua or NN_<id>.lua, or by the
-- file's own id field). Raises an error listing the lessons when none matches.
function M.load(what)
  if type(what) == 'table' then
    check_lesson(what, 'the table given')
    what.id = what.id or 'lesson'
    return what
  end
  if type(what) ~= 'string' or what == '' then
    error('brasa.lesson: a lesson id (a string) expected, got ' .. type(what) ..
          ' (brasa.lessons() lists them)', 0)
  end
  if what:find('/', 1, true) or what:match('%.lua$') then
    local f = io.open(what, 'r')
    if not f then error("brasa.lesson: cannot open the lesson file '" .. what .. "'", 0) end
    f:close()
    return load_file(what)
  end
  local dirs = M.path()
  for _, dir in ipairs(dirs) do
    for _, name in ipairs(lua_files(dir)) do
      local id, stem = id_of_file(name)
      if id == what or stem == what then return load_file(dir .. '/' .. name) end
    end
  end
  for _, l in ipairs(M.find_all()) do   -- an id field that differs from the file name
    if l.id == what then return load_file(l.path) end
  end
  local ids = {}
  for _, l in ipairs(M.find_all()) do ids[#ids + 1] = l.id end
  error(("brasa.lesson: no lesson '%s'; the lessons are: %s (looked in %s)"):format(
    what, #ids > 0 and table.concat(ids, ', ') or 'none',
    #dirs > 0 and table.concat(dirs, ', ') or 'no directory: set BRASA_LESSON_PATH'), 0)
end

---------------------------------------------------------------------------
-- brasa.lessons()
---------------------------------------------------------------------------

local List = {__name = 'brasa.lessons'}
function List.__tostring(t)
  local ui = UI[rawget(t, '_lang')] or UI.es
  local lines = {ui.lessons_head}
  local w = 0
  for _, l in ipairs(t) do w = math.max(w, #l.id) end
  for _, l in ipairs(t) do
    lines[#lines + 1] = ('  %-' .. w .. 's  %s (%d %s)'):format(l.id, l.title, l.steps, ui.steps_word)
  end
  return table.concat(lines, '\n')
end

--- brasa.lessons(opts?) -> the list of lessons ({id, title, steps, path}
-- each), which prints as a table; opts.lang picks the titles' language.
function M.list(opts)
  if opts ~= nil and type(opts) ~= 'table' then
    error('brasa.lessons: an options table expected, got ' .. type(opts), 2)
  end
  local lang = M.language(opts and opts.lang)
  local list = M.find_all(lang)
  list._lang = lang
  return setmetatable(list, List)
end

---------------------------------------------------------------------------
-- Running a lesson
---------------------------------------------------------------------------

local Result = {__name = 'brasa.lesson result'}
function Result.__tostring(r)
  local ui = UI[r.lang] or UI.es
  local n = 0
  for i = 1, r.steps do if r.ran[i] then n = n + 1 end end
  local s = ui.result:format(r.id, n, r.steps)
  local f = next(r.failed)
  if f then
    for i in pairs(r.failed) do if i < f then f = i end end
    s = s .. ui.result_failed:format(f)
  end
  return s
end

-- The environment steps run in (see the header).
local function default_env()
  if type(rawget(_G, 'brasa_repl')) == 'table' and rawget(_G, 'brasa') ~= nil then
    return _G
  end
  local brasa = require 'brasa'
  return setmetatable({brasa = brasa, nn = brasa.nn, optim = brasa.optim, plot = brasa.plot},
                      {__index = _G})
end

-- The REPL's printing and display options, when it is loaded.
local function repl_module()
  local r = package.loaded['brasa.repl']
  if type(r) == 'table' then return r end
  local ok, m = pcall(require, 'brasa.repl')
  return ok and m or nil
end

-- The default reader: the prompt on stdout, a line from stdin (nil at end).
local function read_stdin(prompt)
  io.stdout:write(prompt)
  io.stdout:flush()
  return io.stdin:read('l')
end

-- The lesson's prompt: in the brasa REPL on a terminal, its own line editor
-- (brasa_repl.readline: history, completion, Ctrl-C); elsewhere plain stdin.
local function default_input()
  local r = rawget(_G, 'brasa_repl')
  local readline = type(r) == 'table' and r.readline
  if not readline then return read_stdin end
  return function(prompt)
    -- readline measures the prompt's width: colour codes go between \1 and \2
    local line = readline((prompt:gsub('\27%[[%d;]*m', '\1%0\2')))
    if line == false then error('interrupted!', 0) end   -- Ctrl-C, as the REPL raises it
    -- Lua typed at the lesson's prompt joins the REPL's history; its commands do not
    if line and not is_command(line) then r.add_history(line) end
    return line
  end
end

local function write_stdout(s)
  io.stdout:write(s)
  io.stdout:flush()
end

-- Names and values of an environment's own keys.
local function snapshot(env)
  local t = {}
  for k, v in next, env do
    if type(k) == 'string' then t[k] = v end
  end
  return t
end

--- brasa.lesson(what, opts?) -> result: runs a lesson (see the header).
-- opts: lang ('es' | 'en'), step (where to start, 1), auto (run every step
-- without prompts, stopping at the first failure), fast, env, input,
-- output, color, width. The result prints as one line; its fields: id,
-- lang, steps (the count), ran (step -> true when its last run succeeded),
-- failed (step -> message), completed (every step ran), quit (left
-- before the end), env, names (the variables the steps made).
function M.run(what, opts)
  if what == nil then return M.list(opts) end
  if opts ~= nil and type(opts) ~= 'table' then
    error('brasa.lesson: an options table expected, got ' .. type(opts), 2)
  end
  opts = opts or {}
  local lesson = M.load(what)
  local lang = M.language(opts.lang)
  local ui = UI[lang]
  local steps, n = lesson.steps, #lesson.steps
  local env = opts.env or default_env()
  local out = opts.output or write_stdout
  local input = opts.input or default_input()
  local repl = repl_module()
  local color = opts.color
  if color == nil then color = repl ~= nil and repl.options.color or false end
  local cols = opts.width or (repl and repl.options.width) or tonumber(os.getenv('COLUMNS')) or 80
  cols = math.min(cols, 100) - 1
  local function paint(s, c) return color and (ESC[c] .. s .. ESC.reset) or s end
  local function say(s) out(s .. '\n') end
  local function explain(t) say(color and color_spans(M.wrap(t, cols)) or M.wrap(t, cols)) end
  local function code_of(i) return M.text(steps[i].code, lang) end

  local result = setmetatable({id = lesson.id, lang = lang, steps = n, ran = {}, failed = {},
                               completed = false, quit = false, env = env, names = {}}, Result)
  local made = {}          -- name -> true: variables the steps assigned
  local start = math.tointeger(opts.step or 1)
  if not start or start < 1 or start > n then
    error(('brasa.lesson: step must be a whole number from 1 to %d'):format(n), 2)
  end
  if opts.fast then env.FAST = true elseif rawget(env, 'FAST') == true then env.FAST = nil end

  local function show_code(i)
    local code = code_of(i)
    if not code then say(paint(ui.code_missing, 'dim')) return end
    code = code:gsub('^%s*\n', ''):gsub('%s+$', '')
    say('')
    for line in (code .. '\n'):gmatch('(.-)\n') do
      say('    ' .. (color and highlight(line) or line))
    end
  end

  local function show(i)
    local s = steps[i]
    local head = ui.step:format(i, n)
    local title = M.text(s.title, lang)
    if title then head = head .. ' · ' .. title end
    local rule = string.rep('─', math.max(3, math.min(cols, 72) - width(head) - 4))
    say('')
    say(paint('── ' .. head .. ' ' .. rule, 'bold'))
    local text = M.text(s.text, lang)
    if text then explain(text) end
    show_code(i)
  end

  -- Runs step i's code and check; returns true or false (and says why).
  local function run_step(i)
    local s = steps[i]
    local code = code_of(i)
    local before = snapshot(env)
    local fast_before = {}
    if opts.fast and lesson.fast then
      for k in pairs(lesson.fast) do fast_before[k] = env[k] end
    end
    local ok, err = true, nil
    if code then
      say('')
      local chunkname = '=' .. ui.step_word .. ' ' .. i
      local fn, cerr = load(code, chunkname, 't', env)
      if not fn then
        ok, err = false, cerr
      else
        ok, err = xpcall(fn, function(m)
          if type(m) ~= 'string' then m = tostring(m) end
          return m
        end)
      end
    end
    for k, v in pairs(snapshot(env)) do
      if before[k] ~= v and k ~= '_' then made[k] = true end
    end
    if ok and opts.fast and lesson.fast then
      local changed = {}
      for k, v in pairs(lesson.fast) do
        local now = env[k]
        if now ~= nil and now ~= fast_before[k] then
          if type(v) == 'function' then env[k] = v(now, env) else env[k] = v end
          changed[#changed + 1] = k
        end
      end
      table.sort(changed)
      if #changed > 0 then say(paint(ui.fast:format(table.concat(changed, ', ')), 'dim')) end
    end
    if ok and s.check then
      local cok, res = pcall(s.check, env)
      if not cok then ok, err = false, ui.check_failed:format(tostring(res))
      elseif res == false then ok, err = false, ui.check_failed:format('false') end
    end
    if ok then
      result.ran[i], result.failed[i] = true, nil
    else
      if tostring(err):match('interrupted!$') then err = ui.interrupted end
      result.ran[i], result.failed[i] = nil, tostring(err)
      say(paint(ui.failed:format(i, tostring(err)), 'red'))
    end
    return ok
  end

  -- A line of Lua typed at the prompt, run in env; its values printed.
  local function eval(line)
    local code = repl and repl.rewrite(line) or line
    local fn = load('return ' .. code, '=lua', 't', env)
    if not fn then
      local err
      fn, err = load(code, '=lua', 't', env)
      if not fn then
        say(paint(err, 'red'))
        if err:match('<eof>$') then say(ui.one_line) end
        return
      end
    end
    local r = table.pack(xpcall(fn, function(m) return tostring(m) end))
    if not r[1] then say(paint(r[2], 'red')) return end
    local parts = {}
    for k = 2, r.n do
      parts[#parts + 1] = repl and repl.pretty(r[k]) or tostring(r[k])
    end
    if #parts > 0 then
      local multi = false
      for _, p in ipairs(parts) do if p:find('\n', 1, true) then multi = true end end
      say(table.concat(parts, multi and '\n' or '\t'))
    end
  end

  local function list_steps(cur)
    say(ui.list_head:format(M.text(lesson.title, lang) or lesson.id))
    for k = 1, n do
      local mark = k == cur and '>' or (result.ran[k] and '+' or (result.failed[k] and '!' or ' '))
      say(('%s %2d  %s'):format(mark, k, M.text(steps[k].title, lang) or ''))
    end
  end

  -- The lesson's title and introduction.
  local title = M.text(lesson.title, lang) or lesson.id
  say(paint(title, 'bold'))
  local intro = M.text(lesson.intro, lang)
  if intro then explain(intro) end
  if not opts.auto then say(paint(ui.before, 'dim')) end

  local i, ran_here = start, false   -- ran_here: step i ran since it was shown
  local shown = false
  while i <= n do
    if not shown then
      show(i)
      shown, ran_here = true, false
    end
    if opts.auto then
      if not run_step(i) then break end
      i, shown = i + 1, false
    else
      local prompt = ui.prompt:format(lesson.id, i, n)
      local got, line = pcall(input, paint(prompt, 'yellow'))
      if not got then   -- Ctrl-C while waiting (the REPL raises 'interrupted!')
        say('')
        line = nil
      end
      if line == nil then
        if got then say('') end
        result.quit = true
        break
      end
      line = line:gsub('^%s+', ''):gsub('%s+$', '')
      local arg = line:match('^%S+%s+(%d+)$')
      local cmd = command_of(line)
      if cmd == 'enter' then
        if not ran_here then
          run_step(i)
          ran_here = true
          say(paint(result.failed[i] and ui.after_fail or ui.after, 'dim'))
        elseif result.failed[i] then
          say(paint(ui.after_fail, 'dim'))
        else
          i, shown = i + 1, false
        end
      elseif cmd == 'again' then
        run_step(i)
        ran_here = true
        say(paint(result.failed[i] and ui.after_fail or ui.after, 'dim'))
      elseif cmd == 'next' then
        i, shown = i + 1, false
      elseif cmd == 'back' then
        i, shown = math.max(1, i - 1), false
      elseif cmd == 'goto' then
        local k = tonumber(arg)
        if k >= 1 and k <= n then i, shown = k, false
        else say(ui.no_step:format(arg, n)) end
      elseif cmd == 'list' then
        list_steps(i)
      elseif cmd == 'code' then
        show_code(i)
      elseif cmd == 'help' then
        say(ui.help)
      elseif cmd == 'quit' then
        result.quit = true
        break
      else
        eval(line)
      end
    end
  end

  local names = {}
  for k in pairs(made) do if k ~= 'FAST' then names[#names + 1] = k end end
  table.sort(names)
  result.names = names
  local count = 0
  for k = 1, n do if result.ran[k] then count = count + 1 end end
  result.completed = count == n
  if result.quit then
    local resume = (ran_here and result.ran[i] and i < n) and i + 1 or i
    say(ui.left:format(i, type(what) == 'string' and what or lesson.id, resume))
  elseif i > n then
    say('')
    say(paint(ui.done:format(title), 'bold'))
    if #names > 0 then explain(ui.vars:format(table.concat(names, ', '))) end
  end
  return result
end

--- For `brasa --lesson ID [--auto] [--fast] [--lang L]` (repl/brasa.c):
-- runs the lesson; returns false when --auto was given and a step failed.
function M.cli(o)
  local r = M.run(o.id, {auto = o.auto, fast = o.fast, lang = o.lang})
  if o.auto and not r.completed then
    io.stderr:write('brasa: ' .. tostring(r) .. '\n')
    return false
  end
  return true
end

return M
