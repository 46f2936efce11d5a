-- brasa: tensors, automatic differentiation and neural networks for Lua 5.4.
--
--   local brasa = require 'brasa'
--   local x = brasa.tensor{{1, 2}, {3, 4}}
--   print(x:matmul(brasa.ones(2, 1)))
--
-- This file builds the module from the C core (brasa.core) and the Lua
-- modules beside it. It sets no globals. Submodules (nn, optim, data,
-- metrics, callbacks, plot, text, amp) load on first use, so start-up stays fast.

local core = require 'brasa.core'

local brasa = {}
for k, v in pairs(core) do
  if k:sub(1, 1) ~= '_' or k == '_fail_alloc_after' then brasa[k] = v end
end

brasa.doc = require 'brasa.doc'
require('brasa.tensor').install(brasa, core)
require('brasa.autograd').install(brasa, core)

-- Submodules, loaded when first used: brasa.nn, brasa.plot, ...
local submodules = {
  nn = 'brasa.nn', optim = 'brasa.optim', data = 'brasa.data', metrics = 'brasa.metrics',
  callbacks = 'brasa.callbacks', plot = 'brasa.plot', text = 'brasa.text', help = 'brasa.help',
  amp = 'brasa.amp',
}

setmetatable(brasa, {
  __fields = {'nn', 'optim', 'data', 'metrics', 'callbacks', 'plot', 'text', 'help', 'amp'},   -- for completion
  __index = function(t, k)
    local name = submodules[k]
    if not name then return nil end
    local ok, mod = pcall(require, name)
    if not ok then
      if tostring(mod):find("module '" .. name .. "' not found", 1, true) then
        mod = {}   -- not written yet: an empty table, as the design allows
      else
        error(mod, 2)
      end
    end
    rawset(t, k, mod)
    return mod
  end,
})

-- brasa.load(path, opts?) -> a model saved with model:save (brasa.serialize;
-- it loads the rest of the library only when called).
brasa.load = require('brasa.serialize').load

-- brasa.lesson(id, opts?) and brasa.lessons(opts?): the step-by-step
-- lessons of tutorials/ (brasa.lesson, loaded on the first call).
function brasa.lesson(...) return require('brasa.lesson').run(...) end
function brasa.lessons(...) return require('brasa.lesson').list(...) end

-- Documentation entries (lua/brasa/docs/*.lua) load on the first lookup
-- (help, apropos, doc.get): they are a large table that start-up and the
-- collector need not carry in scripts that never ask for help.
brasa.doc.on_first_lookup(function()
  require 'brasa.docs'
  require('brasa.docs.tensor').bind_all(brasa)
end)

return brasa
