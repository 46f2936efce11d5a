--- brasa.help: help(x), `?x` and apropos('word') for the REPL.
--
-- The text comes from the registry brasa.doc. help(x) looks x up by value
-- first (functions, classes and modules bound with doc.bind), then by the
-- names it can be reached under: its name as typed at `?x`, the globals and
-- modules that hold it ('nn.Linear' finds 'brasa.nn.Linear'), and methods of
-- the metatables in the Lua registry ('Tensor:matmul' for a tensor method).
-- An instance shows its class. A name that prefixes a group of entries
-- ('nn', 'Tensor') lists the group; help() lists all groups.

local doc = require 'brasa.doc'

local help = {color = false}

--- Where help writes (tests replace it).
function help.write(s)
  io.stdout:write(s)
end

local function say(s)
  help.write(s .. '\n')
end

local function bold(s)
  return help.color and ('\27[1m' .. s .. '\27[0m') or s
end

--- The group of a name: what comes before its last '.' or ':' ('' if none).
local function group_of(name)
  return name:match('^(.*)[.:][^.:]*$') or ''
end

local function short_of(name)
  return name:match('[.:]([^.:]*)$') or name
end

--- Documented names by group, and the groups in display order (brasa's
-- own first, alphabetical, the globals last).
local function groups()
  local by, keys = {}, {}
  for _, n in ipairs(doc.names()) do
    local g = group_of(n)
    if not by[g] then
      by[g] = {}
      keys[#keys + 1] = g
    end
    table.insert(by[g], n)
  end
  table.sort(keys, function(a, b)
    if (a == '') ~= (b == '') then return b == '' end
    return a < b
  end)
  return by, keys
end

--- The spellings a name may be documented under: with or without 'brasa.',
-- and with '.' or ':' before a method.
local function variants(name)
  local list, seen = {}, {}
  local function add(s)
    if s and s ~= '' and not seen[s] then
      seen[s] = true
      list[#list + 1] = s
    end
  end
  add(name)
  add(name:match('^brasa%.(.+)$'))
  if not name:match('^brasa%.') then add('brasa.' .. name) end
  for i = 1, #list do
    local a, b = list[i]:match('^(.*)%.([%w_]+)$')
    if a then add(a .. ':' .. b) end
    local c, d = list[i]:match('^(.*):([%w_]+)$')
    if c then add(c .. '.' .. d) end
  end
  return list
end

--- The names under which value v can be reached: paths from the globals
-- (breadth first, so 'brasa.nn.Linear' wins over 'package.loaded...'), and
-- 'Class:method' for methods of the metatables in the registry.
local function names_of(v)
  local found, seen = {}, {}
  local level = {{_G, ''}}
  for _ = 1, 3 do
    local nextlevel = {}
    for _, item in ipairs(level) do
      local t, prefix = item[1], item[2]
      if not seen[t] then
        seen[t] = true
        for k, x in next, t do
          if type(k) == 'string' then
            if rawequal(x, v) then found[#found + 1] = prefix .. k end
            if type(x) == 'table' then nextlevel[#nextlevel + 1] = {x, prefix .. k .. '.'} end
          end
        end
      end
    end
    level = nextlevel
  end
  for key, mt in next, debug.getregistry() do
    if type(key) == 'string' and type(mt) == 'table' then
      local name = rawget(mt, '__name')
      local class = (type(name) == 'string' and name or key):match('([%w_]+)$')
      local idx, methods = rawget(mt, '__index'), rawget(mt, '__methods')
      for _, t in ipairs{mt, type(idx) == 'table' and idx or {},
                         type(methods) == 'table' and methods or {}} do
        for k, x in next, t do
          if rawequal(x, v) and type(k) == 'string' and class then
            found[#found + 1] = class .. ':' .. k
          end
        end
      end
    end
  end
  return found
end

--- The doc entry of x (a value or a name), or nil; second result: the names
-- tried, for the "not found" message and group listings.
function help.lookup(x, hint)
  local e = x ~= nil and doc.get(x) or nil
  if e then return e, {} end
  local names = {}
  if type(x) == 'string' then names[#names + 1] = x end
  if hint then names[#names + 1] = hint end
  if x ~= nil and type(x) ~= 'string' then
    for _, n in ipairs(names_of(x)) do names[#names + 1] = n end
  end
  for _, n in ipairs(names) do
    for _, v in ipairs(variants(n)) do
      e = doc.get(v)
      if e then return e, names end
    end
  end
  if type(x) == 'table' or type(x) == 'userdata' then  -- an instance: its class
    local mt = debug.getmetatable(x)
    if type(mt) == 'table' then
      local idx = rawget(mt, '__index')
      e = doc.get(mt) or (type(idx) == 'table' and doc.get(idx)) or nil
      if e then return e, names end
      local name = rawget(mt, '__name')
      if type(name) == 'string' then
        local class = name:match('([%w_]+)$')
        e = doc.get(name) or doc.get(class)
        if e then return e, names end
        names[#names + 1] = class
      end
    end
  end
  return nil, names
end

--- An entry as text: doc.format with the signature in bold.
function help.format(e)
  local text = doc.format(e)
  local first, rest = text:match('^([^\n]*)(.*)$')
  text = bold(first) .. rest
  if e.see then
    local see = type(e.see) == 'table' and table.concat(e.see, ', ') or tostring(e.see)
    text = text .. '\n\nSee also: ' .. see
  end
  return text
end

--- Prints the entries of a group ('brasa.nn', 'Tensor', '' for globals).
local function list_group(key, names)
  say(bold(key == '' and 'Globals' or key) .. (' (%d entries)'):format(#names))
  local w = 0
  for _, n in ipairs(names) do w = math.max(w, #n) end
  w = math.min(w, 32)
  for _, n in ipairs(names) do
    local e = doc.get(n)
    say(('  %-' .. w .. 's  %s'):format(n, e and e.summary or ''))
  end
end

--- help(): the topics, one line each with a sample of their names.
function help.topics()
  local by, keys = groups()
  say(bold('brasa help') .. ": help(x) or ?x documents x; help('topic') lists a topic;")
  say("apropos('word') searches the documentation.")
  say('Topics:')
  for _, k in ipairs(keys) do
    local shorts = {}
    for i, n in ipairs(by[k]) do shorts[i] = short_of(n) end
    local sample = table.concat(shorts, ', ')
    if #sample > 50 then sample = sample:sub(1, 47):gsub(',? [^ ]*$', '') .. ', ...' end
    say(('  %-16s %4d  %s'):format(k == '' and 'globals' or k, #by[k], sample))
  end
  say('At the prompt: an expression prints its value (a trailing ; hides it), _ is the')
  say('last result, %time expr times it, Tab completes, Ctrl-C interrupts, Ctrl-D quits.')
end

--- Prints an entry, and the members of a module or class it documents.
local function show_entry(e)
  local by = groups()
  say(help.format(e))
  for _, g in ipairs(variants(e.name)) do
    local members = by[g]
    if members and #members <= 60 then
      say('')
      list_group(g, members)
      return
    elseif members then
      say(("\nhelp('%s') lists its %d entries."):format(g, #members))
      return
    end
  end
end

--- help(x): prints the documentation of x, a function, module, class, method,
-- instance or name (a string); help() lists the topics.
function help.help(...)
  if select('#', ...) == 0 then return help.topics() end
  local x, hint = ...
  local e, names = help.lookup(x, hint)
  if e then return show_entry(e) end
  local by = groups()
  for _, n in ipairs(names) do
    local key = n:gsub('[.:]$', '')
    if key == 'globals' then key = '' end
    for _, v in ipairs(variants(key)) do
      if by[v] then return list_group(v, by[v]) end
    end
    if by[key] then return list_group(key, by[key]) end
  end
  local what = names[1] or (x == nil and 'nil') or ('this ' .. type(x))
  local msg = ("No documentation for %s."):format(what)
  local related = {}
  local word = names[1] and short_of(names[1]):gsub('[^%w_]', '')
  if word and #word >= 2 then
    for _, r in ipairs(doc.search(word)) do
      if #related < 6 then related[#related + 1] = r.name end
    end
  end
  if #related > 0 then
    msg = msg .. ' Related: ' .. table.concat(related, ', ')
  elseif x == nil then
    msg = msg .. ' (Is the name spelled right? help() lists the topics.)'
  else
    msg = msg .. " Try apropos('word')."
  end
  say(msg)
end

--- The value of a Lua expression, or nil when it fails.
local function evaluate(expr)
  local f = load('return ' .. expr, '=?', 't')
  if not f then return nil end
  local ok, v = pcall(f)
  return ok and v or nil
end

--- The `?text` shorthand: help on the value text evaluates to (`?x:matmul`
-- looks at x.matmul), on 'Class:field' for a field of an object with a named
-- metatable (`?x.shape` finds Tensor:shape), or on text as a name.
function help.help_text(text)
  local v = evaluate((text:gsub(':([%a_][%w_]*)$', '.%1')))
  local hints = {text}
  local base, field = text:match('^(.-)[.:]([%a_][%w_]*)$')
  if base then
    local mt = debug.getmetatable(evaluate(base))
    local name = type(mt) == 'table' and rawget(mt, '__name')
    if type(name) == 'string' then hints[2] = name:match('([%w_]+)$') .. ':' .. field end
  end
  for _, h in ipairs(hints) do
    local e = help.lookup(v, h)
    if e then return show_entry(e) end
  end
  if v ~= nil then return help.help(v, text) end
  return help.help(text)
end

--- apropos(word): lists the entries whose name or text mention word.
function help.apropos(word)
  if type(word) ~= 'string' or word == '' then
    error("apropos: a word expected, as in apropos('conv')", 2)
  end
  local found = doc.search(word)
  if #found == 0 then
    say(("No documentation mentions '%s'."):format(word))
    return
  end
  local w = 0
  for _, e in ipairs(found) do w = math.max(w, #e.name) end
  w = math.min(w, 32)
  for _, e in ipairs(found) do say(('%-' .. w .. 's  %s'):format(e.name, e.summary)) end
end

doc.addall{
  {'help', 'help(x)',
   'Shows the documentation of x: a function, module, class, method, instance or name.',
   text = 'help() lists the topics; help(\'nn\') lists a topic. At the prompt, ?x is help(x)\n'
     .. 'and ?x:method shows a method of x.',
   example = "help(help)\nhelp('apropos')"},
  {'apropos', 'apropos(word)',
   'Lists the documented names whose name, summary or text mention word.',
   example = "apropos('time')"},
  {'time', 'time(fn, opts?)',
   'Runs fn repeatedly and prints the median, min and max time per call, as %timeit.',
   text = 'The number of loops grows until a run takes about 0.2 s; up to 7 runs, about\n'
     .. '2 s in all (opts.budget). At the prompt, %time expr times an expression.',
   example = 'time(function() local s = 0 for i = 1, 1000 do s = s + i end end)'},
}
doc.addall{
  {'brasa.help.lookup', 'brasa.help.lookup(x, name?)',
   'The documentation entry of x (a value or a name), or nil, and the names tried.',
   example = "local e = brasa.help.lookup('help')\nprint(e and e.summary)"},
  {'brasa.help.format', 'brasa.help.format(entry)',
   'An entry as the text help prints: signature, summary, text, example.',
   example = "print(brasa.help.format(brasa.help.lookup('help')))"},
  {'brasa.help.topics', 'brasa.help.topics()',
   'Prints the documentation topics, as help() does.', example = 'brasa.help.topics()'},
  {'brasa.help.help_text', 'brasa.help.help_text(text)',
   'Help on what text evaluates to, or on text as a name: what ?text does at the prompt.',
   example = "brasa.help.help_text('brasa.zeros')"},
  {'brasa.help.write', 'brasa.help.write(s)',
   'Where help writes its text (io.stdout); replace it to capture the output.',
   example = "local old = brasa.help.write\nbrasa.help.write = function(s) end\nbrasa.help.write = old"},
}
doc.bind(help.help, 'help')
doc.bind(help.apropos, 'apropos')
for _, name in ipairs{'lookup', 'format', 'topics', 'help_text', 'write'} do
  doc.bind(help[name], 'brasa.help.' .. name)
end

-- brasa.help(x) works as well as help(x).
setmetatable(help, {__call = function(_, ...) return help.help(...) end})

return help
