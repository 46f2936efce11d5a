-- brasa.autograd: grad mode helpers on top of the C engine.
--
--   brasa.no_grad(function() ... end)      -- runs without recording a graph
--   do local _ <close> = brasa.no_grad() ... end
--   brasa.autograd.detect_anomaly(true)

local M = {}

-- A to-be-closed value that restores the previous grad mode.
local function mode_guard(core, enabled)
  local prev = core.set_grad_enabled(enabled)
  return setmetatable({}, {__close = function() core.set_grad_enabled(prev) end})
end

-- Runs fn(...) with grad mode set to `enabled`, restoring it even on error.
local function run_with(core, enabled, fn, ...)
  local prev = core.set_grad_enabled(enabled)
  local res = table.pack(pcall(fn, ...))
  core.set_grad_enabled(prev)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local function check_fn(op, fn)
  if fn ~= nil and type(fn) ~= 'function' and not (getmetatable(fn) or {}).__call then
    error(string.format("bad argument #1 to '%s' (a function or nothing expected, got %s)", op, type(fn)), 3)
  end
end

function M.install(brasa, core)
  --- brasa.no_grad(fn, ...) runs fn without recording; brasa.no_grad()
  -- returns a to-be-closed guard.
  function brasa.no_grad(fn, ...)
    check_fn('no_grad', fn)
    if fn == nil then return mode_guard(core, false) end
    return run_with(core, false, fn, ...)
  end

  --- brasa.enable_grad(fn, ...): the opposite, inside a no_grad region.
  function brasa.enable_grad(fn, ...)
    check_fn('enable_grad', fn)
    if fn == nil then return mode_guard(core, true) end
    return run_with(core, true, fn, ...)
  end

  brasa.autograd = {
    grad = core.grad,
    detect_anomaly = core.detect_anomaly,
    set_grad_enabled = core.set_grad_enabled,
    is_grad_enabled = core.is_grad_enabled,
  }
end

return M
