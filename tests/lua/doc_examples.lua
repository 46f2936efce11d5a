-- Helpers for the specs that check a module's documentation: running the
-- example of a help entry (brasa.doc) and comparing what its
-- `print(...)  --> shown` lines print with what they show.
--
--   local X = require 'doc_examples'
--   local ok, err, printed = X.run(entry, {brasa = brasa, nn = nn})
--   if ok then X.compare(entry, printed, wrong) end   -- wrong: a list of messages

local X = {}

-- Output as compared: tensor header lines and all whitespace removed.
function X.normalize(s)
  s = s:gsub('tensor %[[^%]]*%] [%w]+ [%w:]+[^\n]*\n', '')
  return (s:gsub('%s+', ''))
end

-- Runs entry e's example with the globals in env (the rest from _G, print
-- captured); returns ok, err and what print wrote, by line of the example.
function X.run(e, env)
  local chunkname = '=' .. e.name
  local printed = {}   -- line -> list of outputs
  local globals = {}
  for k, v in pairs(env or {}) do globals[k] = v end
  globals.print = function(...)
    local info = debug.getinfo(2, 'Sl')
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    local line = info and info.source == chunkname and info.currentline or 0
    printed[line] = printed[line] or {}
    table.insert(printed[line], table.concat(t, '\t', 1, t.n))
  end
  local chunk, err = load(e.example, chunkname, 't', setmetatable(globals, {__index = _G}))
  if not chunk then return false, err, printed end
  local ok, msg = pcall(chunk)
  return ok, msg, printed
end

-- Each line `... --> shown` of e's example whose own line printed (printed:
-- from X.run) something else than shown adds a message to the list wrong,
-- which it returns. A line that starts with --> shows what the line before
-- it printed (an output too long to share its line).
function X.compare(e, printed, wrong)
  local n = 0
  for line in (e.example .. '\n'):gmatch('([^\n]*)\n') do
    n = n + 1
    local shown = line:match('%-%->%s*(.-)%s*$')
    if shown then
      local at = line:match('^%-%->') and n - 1 or n
      local got = printed[at] and table.concat(printed[at], ' ') or '(nothing printed on this line)'
      if X.normalize(got) ~= X.normalize(shown) then
        wrong[#wrong + 1] = string.format('%s, line %d: shows %s\n      printed %s', e.name, n, shown,
                                          (got:gsub('\n', ' ')))
      end
    end
  end
  return wrong
end

return X
