-- brasa.doc: the documentation registry.
--
-- Every function exposed to Lua has an entry: its qualified name
-- ('brasa.zeros', 'Tensor:matmul'), a signature, a one-line summary, an
-- optional longer text, and a runnable example. help() in the REPL displays
-- them; tests/lua/doc_spec.lua walks the public API and fails on any function
-- without one.
--
--   doc.add{'brasa.zeros', 'brasa.zeros(sizes..., opts?)',
--     'A tensor of zeros.', example = 'brasa.zeros(2, 3)'}

local doc = {}

local entries = {}        -- name -> entry
local by_value = setmetatable({}, {__mode = 'k'})   -- function/table -> entry
local order = {}          -- names in registration order

-- Loads the bulk of the entries on the first lookup (set by brasa's init).
local loader

--- Sets the function that loads the documentation files; it runs once,
-- before the first lookup.
function doc.on_first_lookup(fn)
  loader = fn
end

local function ensure_loaded()
  if loader then
    local fn = loader
    loader = nil
    fn()
  end
end

--- Registers an entry: {name, signature, summary, text = ..., example = ...}.
function doc.add(e)
  local name, sig, summary = e[1] or e.name, e[2] or e.signature, e[3] or e.summary
  assert(type(name) == 'string', 'doc.add: name expected')
  assert(type(summary) == 'string', 'doc.add: summary expected for ' .. name)
  assert(type(e.example) == 'string', 'doc.add: example expected for ' .. name)
  local entry = {name = name, signature = sig or name, summary = summary,
                 text = e.text, example = e.example, see = e.see}
  if not entries[name] then order[#order + 1] = name end
  entries[name] = entry
  return entry
end

--- Adds several entries at once (a list of doc.add tables).
function doc.addall(list)
  for _, e in ipairs(list) do doc.add(e) end
end

--- Binds a value (a function or a table) to the entry of a name, so help(f)
-- finds it by value.
function doc.bind(value, name)
  if value ~= nil and entries[name] then by_value[value] = entries[name] end
end

--- The entry for a name or a value, or nil.
function doc.get(key)
  ensure_loaded()
  if type(key) == 'string' then return entries[key] end
  return by_value[key]
end

--- All names, in registration order.
function doc.names()
  ensure_loaded()
  local t = {}
  for i, n in ipairs(order) do t[i] = n end
  return t
end

--- Entries whose name, summary or text contain word (case-insensitive).
function doc.search(word)
  ensure_loaded()
  word = word:lower()
  local found = {}
  for _, n in ipairs(order) do
    local e = entries[n]
    local hay = (e.name .. ' ' .. e.summary .. ' ' .. (e.text or '')):lower()
    if hay:find(word, 1, true) then found[#found + 1] = e end
  end
  return found
end

--- The entry as text: signature, summary, text, example.
function doc.format(e)
  local lines = {e.signature, '  ' .. e.summary}
  if e.text then lines[#lines + 1] = '\n' .. e.text end
  lines[#lines + 1] = '\nExample:\n  ' .. e.example:gsub('\n', '\n  ')
  return table.concat(lines, '\n')
end

return doc
