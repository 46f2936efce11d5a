-- brasa.nn: modules, layers, losses, initialisers and regularisers.
--
--   local nn = require('brasa').nn
--   local model = nn.Sequential{
--     nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
--     nn.Flatten(), nn.Linear(32 * 14 * 14, 10),
--   }
--   local loss = nn.CrossEntropyLoss()(model(x), y)
--
-- Custom modules are classes made with nn.Module:extend(name):
--
--   local MyNet = nn.Module:extend('MyNet')
--   function MyNet:init(n) self.fc = nn.Linear(n, 1) end
--   function MyNet:forward(x) return self.fc(x):sigmoid() end
--
-- Parts: brasa.nn.module (the Module class), containers, layers, conv,
-- pooling, norm, losses, summary; nn.init (brasa.nn.initializers),
-- nn.regularizers, nn.functional (the C ops and the Lua-written ones).

-- This file is lua/brasa/nn/init.lua, so require 'brasa.nn.init' finds it
-- too: that name means the initialisers, as torch.nn.init does.
if ... == 'brasa.nn.init' then return require 'brasa.nn.initializers' end

local mod = require 'brasa.nn.module'

local nn = {}

nn.Module = mod.Module
nn.is_module = mod.is_module
nn.functional = require 'brasa.nn.functional'
nn.init = require 'brasa.nn.initializers'
nn.regularizers = require 'brasa.nn.regularizers'

--- nn.Parameter(t) -> t as a leaf that requires grad (assign it to a
-- module's field to register it as a parameter).
function nn.Parameter(t)
  if not require('brasa').is_tensor(t) then
    error('nn.Parameter: a tensor expected, got ' .. type(t), 2)
  end
  if not t.is_leaf then t = t:detach() end
  if not t.requires_grad then t:requires_grad_(true) end
  return t
end

for _, part in ipairs {'brasa.nn.containers', 'brasa.nn.layers', 'brasa.nn.conv', 'brasa.nn.pooling',
                       'brasa.nn.norm', 'brasa.nn.losses'} do
  for k, v in pairs(require(part)) do
    if type(v) == 'table' and getmetatable(v) and rawget(v, '__name') then nn[k] = v end
  end
end
require 'brasa.nn.summary'

-- The class list, for completion and the documentation spec.
local classes = {}
for k, v in pairs(nn) do
  if type(v) == 'table' and rawget(v, '__name') and k:sub(1, 1) ~= '_' then classes[#classes + 1] = k end
end
table.sort(classes)

require('brasa.train').install(nn.Module, nn)

-- Help entries (lua/brasa/docs/nn.lua) find the classes and functions by value.
local ok, docs = pcall(require, 'brasa.docs.nn')
if ok then docs.bind(nn) end

return setmetatable(nn, {__fields = classes})
