-- brasa.plot.data: turning what users pass (tensors, Lua tables) into plain
-- Lua numbers, and numbers into gnuplot datablocks.
--
-- A tensor is recognised by its totable method (any object with x:totable()
-- is accepted), so this module never needs the engine: plots work on plain
-- Lua tables before `require 'brasa'` and without it.

local M = {}

-- The method `name` of v, or nil; indexing userdata may raise, hence pcall.
local function method(v, name)
  local t = type(v)
  if t ~= 'table' and t ~= 'userdata' then return nil end
  local ok, f = pcall(function() return v[name] end)
  if ok and type(f) == 'function' then return f end
  return nil
end

--- True when v is tensor-like (it has a totable method).
function M.is_tensor(v)
  return method(v, 'totable') ~= nil
end

--- v as plain Lua values: a tensor becomes its nested table; 0-dim tensors
-- and other scalars with an item method become numbers.
function M.plain(v)
  if type(v) == 'number' then return v end
  local totable = method(v, 'totable')
  if totable then return totable(v) end
  local item = method(v, 'item')
  if item then return item(v) end
  return v
end

--- v as a number, or an error naming `who`.
function M.number(v, who)
  v = M.plain(v)
  if type(v) == 'boolean' then return v and 1 or 0 end
  local n = tonumber(v)
  if not n then
    error(who .. ': number expected, got ' .. type(v), 0)
  end
  return n
end

--- A list of numbers from a tensor or a table (any nesting is flattened).
function M.numbers(v, who)
  v = M.plain(v)
  if type(v) ~= 'table' then
    error(who .. ': a tensor or a table of numbers expected, got ' .. type(v), 0)
  end
  local out = {}
  local function walk(t)
    for i = 1, #t do
      local x = M.plain(t[i])
      if type(x) == 'table' then walk(x) else out[#out + 1] = M.number(x, who) end
    end
  end
  walk(v)
  return out
end

--- A 2-D table of numbers (rows) from a tensor or a nested table.
function M.matrix(v, who)
  v = M.plain(v)
  if type(v) ~= 'table' or #v == 0 then
    error(who .. ': a matrix (2-D tensor or table of rows) expected', 0)
  end
  local rows = {}
  for i = 1, #v do rows[i] = M.numbers(v[i], who) end
  local w = #rows[1]
  for i, r in ipairs(rows) do
    if #r ~= w then
      error(string.format('%s: row %d has %d values, row 1 has %d', who, i, #r, w), 0)
    end
  end
  return rows
end

--- The shape of a plain nested table of numbers ({} for a number).
function M.shape(v)
  local shape = {}
  while type(v) == 'table' do
    shape[#shape + 1] = #v
    v = v[1]
  end
  return shape
end

--- A list of series from one series (numbers) or a list of series; a 2-D
-- tensor gives one series per row.
function M.series_list(v, who)
  v = M.plain(v)
  if type(v) ~= 'table' then
    error(who .. ': a tensor or a table of numbers expected, got ' .. type(v), 0)
  end
  local first = v[1]
  if first ~= nil and (type(M.plain(first)) == 'table') then
    local list = {}
    for i = 1, #v do list[i] = M.numbers(v[i], who) end
    return list
  end
  return {M.numbers(v, who)}
end

--- The smallest and largest finite values in a list of numbers.
function M.range(list)
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(list) do
    if x == x and x > -math.huge and x < math.huge then
      if x < lo then lo = x end
      if x > hi then hi = x end
    end
  end
  if lo > hi then return 0, 0 end
  return lo, hi
end

--- A number as gnuplot data: up to 10 significant digits; NaN and the
-- infinities become NaN, which gnuplot leaves out.
function M.format(x)
  if x ~= x or x == math.huge or x == -math.huge then return 'NaN' end
  if math.type(x) == 'integer' then return tostring(x) end
  return string.format('%.10g', x)
end

--- One datablock line from a list of values (numbers or ready strings).
function M.row(values)
  local out = {}
  for i, x in ipairs(values) do
    out[i] = type(x) == 'number' and M.format(x) or x
  end
  return table.concat(out, ' ')
end

--- A string as a datablock field, in double quotes (gnuplot's data files
-- have no escapes, so a double quote inside becomes a single one).
function M.text_field(s)
  return '"' .. tostring(s):gsub('"', "'") .. '"'
end

return M
