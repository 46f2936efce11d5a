-- brasa.flags: command-line flags for scripts (`--name value` pairs).
--
--   local opts = require('brasa.flags').parse(arg, {epochs = 5, out = '.', plot = true})
--   -- brasa script.lua --epochs 3 --no-plot   -> opts.epochs = 3, opts.plot = false
--
-- A number default makes a number flag, a string default a string flag, and
-- a boolean default a switch: --name sets it true, --no-name false. Names
-- use dashes on the command line and underscores in opts (--n-train ->
-- opts.n_train). Unknown flags and missing or malformed values raise an
-- error listing the flags.

local M = {}

-- "--epochs N --out DIR --[no-]plot" from the defaults, sorted by name.
local function usage(defaults)
  local names = {}
  for k in pairs(defaults) do names[#names + 1] = k end
  table.sort(names)
  local parts = {}
  for _, k in ipairs(names) do
    local flag = k:gsub('_', '-')
    local v = defaults[k]
    if type(v) == 'boolean' then parts[#parts + 1] = '--[no-]' .. flag
    else parts[#parts + 1] = '--' .. flag .. (type(v) == 'number' and ' N' or ' VALUE') end
  end
  return '(flags: ' .. table.concat(parts, ' ') .. ')'
end

--- flags.parse(args, defaults) -> opts: a copy of defaults updated by args.
function M.parse(args, defaults)
  local opts = {}
  for k, v in pairs(defaults) do opts[k] = v end
  local i = 1
  while args[i] do
    local name = tostring(args[i]):match('^%-%-([%w%-]+)$')
    if not name then error('unknown argument ' .. tostring(args[i]) .. ' ' .. usage(defaults), 0) end
    local key = name:gsub('%-', '_')
    local negated = key:match('^no_(.+)$')
    if negated and type(defaults[negated]) == 'boolean' then
      opts[negated] = false
      i = i + 1
    elseif type(defaults[key]) == 'boolean' then
      opts[key] = true
      i = i + 1
    elseif defaults[key] == nil then
      error('unknown flag --' .. name .. ' ' .. usage(defaults), 0)
    else
      local v = args[i + 1]
      if v == nil then error('--' .. name .. ' needs a value', 0) end
      if type(defaults[key]) == 'number' then
        local n = tonumber(v)
        if not n then error('--' .. name .. ' needs a number, got ' .. v, 0) end
        opts[key] = n
      else
        opts[key] = v
      end
      i = i + 2
    end
  end
  return opts
end

return M
