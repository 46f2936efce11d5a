-- brasa.nn.containers: Sequential, ModuleList and ModuleDict.
--
-- Children of Sequential and ModuleList are named '1', '2', ... (1-based,
-- as everything a user sees): model[1] is the first layer and its weight is
-- '1.weight' in state_dict and named_parameters.

local mod = require 'brasa.nn.module'

local Module, fail, is_module = mod.Module, mod.fail, mod.is_module

local M = {}

-- Appends the modules of list to self (a Sequential or ModuleList).
local function add_all(self, list, who)
  if list == nil then return end
  if type(list) ~= 'table' or is_module(list) then
    fail(who .. ': a table (list) of modules expected, got ' .. (is_module(list) and 'a module' or type(list)))
  end
  for i, m in ipairs(list) do
    if not is_module(m) then
      fail(string.format('%s: item %d is a %s, not a module', who, i, type(m)))
    end
    self:add(m)
  end
end

-- Appends m with the next number as its name.
local function add(self, m, who)
  if not is_module(m) then
    fail(string.format('%s:add: a module expected, got %s', who, type(m)))
  end
  local n = #rawget(self, '_module_order') + 1
  self[n] = m
  return self
end

---------------------------------------------------------------------------
-- Sequential
---------------------------------------------------------------------------

local Sequential = Module:extend('Sequential')
M.Sequential = Sequential

--- nn.Sequential{m1, m2, ...}: applies the modules in order.
function Sequential:init(list, ...)
  if is_module(list) then   -- nn.Sequential(m1, m2, ...) also works
    list = {list, ...}
  end
  add_all(self, list, 'Sequential')
end

--- Sequential:add(module) -> self: appends a module.
function Sequential:add(m)
  return add(self, m, 'Sequential')
end

--- Sequential:forward(x): each module's output is the next one's input.
function Sequential:forward(x, ...)
  local mods = rawget(self, '_modules')
  local order = rawget(self, '_module_order')
  if #order == 0 then return x, ... end
  local y = mods[order[1]](x, ...)
  for i = 2, #order do y = mods[order[i]](y) end
  return y
end

---------------------------------------------------------------------------
-- ModuleList
---------------------------------------------------------------------------

local ModuleList = Module:extend('ModuleList')
M.ModuleList = ModuleList

--- nn.ModuleList{m1, m2, ...}: a list of modules whose parameters count as
-- the owner's (index it as list[i]; #list is its length).
function ModuleList:init(list)
  add_all(self, list, 'ModuleList')
end

--- ModuleList:add(module) -> self (also append).
function ModuleList:add(m) return add(self, m, 'ModuleList') end
ModuleList.append = ModuleList.add

--- ModuleList:forward: not defined (a ModuleList only holds modules).
function ModuleList:forward()
  fail('ModuleList: a ModuleList holds modules and has no forward: call its items (list[i](x))')
end

---------------------------------------------------------------------------
-- ModuleDict
---------------------------------------------------------------------------

local ModuleDict = Module:extend('ModuleDict')
M.ModuleDict = ModuleDict

--- nn.ModuleDict{name = module, ...}: modules by name (names sorted, so the
-- order of parameters is stable).
function ModuleDict:init(dict)
  if dict == nil then return end
  if type(dict) ~= 'table' or is_module(dict) then
    fail('ModuleDict: a table of name -> module expected')
  end
  local keys = {}
  for k, m in pairs(dict) do
    if type(k) ~= 'string' then fail('ModuleDict: keys must be strings, got ' .. type(k)) end
    if not is_module(m) then fail(string.format("ModuleDict: '%s' is a %s, not a module", k, type(m))) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  for _, k in ipairs(keys) do self[k] = dict[k] end
end

--- ModuleDict:keys() -> list of names in order.
function ModuleDict:keys()
  local out = {}
  for i, k in ipairs(rawget(self, '_module_order')) do out[i] = k end
  return out
end

--- ModuleDict:items() -> iterator of name, module.
function ModuleDict:items() return self:named_children() end

--- ModuleDict:forward: not defined (a ModuleDict only holds modules).
function ModuleDict:forward()
  fail('ModuleDict: a ModuleDict holds modules and has no forward: call its items (dict.name(x))')
end

return M
