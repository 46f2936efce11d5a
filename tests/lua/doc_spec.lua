-- The documentation registry covers the whole public API, and its examples
-- run and show what they print.
--
-- 1. Every function of the module table (keys starting with '_' and the
--    submodules nn, optim, data, metrics, callbacks, plot, text, help and doc
--    aside) has an entry 'brasa.NAME'; so has every function of its other
--    tables ('brasa.autograd.grad'), and every tensor method an entry
--    'Tensor:NAME'; each function value is bound to an entry (help(f)).
-- 2. Every example of the core's entries ('brasa.NAME', 'brasa.autograd.NAME',
--    'Tensor...') and of brasa.nn and brasa.optim runs without raising.
--    Entries of the other submodules ('brasa.plot.lines', ...) are run by
--    their own specs.
-- 3. In those examples, a line `print(...)  --> shown` prints `shown`, tensor
--    header lines and all whitespace aside.
-- 4. brasa.nn and brasa.optim are walked too: every class ('brasa.nn.Linear'),
--    every method defined on a class ('brasa.nn.Module:parameters'; init,
--    forward and extra_repr of the classes deriving from Module are covered
--    by the class's entry) and every function of their tables
--    ('brasa.nn.functional.conv2d', 'brasa.nn.init.zeros_',
--    'brasa.optim.Adam', 'brasa.optim.lr_scheduler.StepLR') has an entry.

local brasa = require 'brasa'
local doc = require 'brasa.doc'
local examples = require 'doc_examples'

-- Submodule tables documented (and tested) on their own.
local SUBMODULES = {nn = true, optim = true, data = true, metrics = true, callbacks = true,
                    plot = true, text = true, help = true, doc = true}

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do if type(k) == 'string' then ks[#ks + 1] = k end end
  table.sort(ks)
  return ks
end

-- The entries whose examples this spec runs: the core's, brasa.nn's and
-- brasa.optim's (those of the other submodules run in their own specs).
local function is_core(name)
  if name:match('^Tensor') or name:match('^brasa%.[%w_]+$') then return true end
  if name:match('^brasa%.nn[%.:]') or name:match('^brasa%.optim[%.:]') then return true end
  local t = name:match('^brasa%.([%w_]+)%.[%w_]+$')
  return t ~= nil and not SUBMODULES[t]
end

local function core_entries()
  local es = {}
  for _, name in ipairs(doc.names()) do
    if is_core(name) then es[#es + 1] = doc.get(name) end
  end
  return es
end

-- Engine state an example might change, restored after each one.
local function save_state()
  return {grad = brasa.is_grad_enabled(), anomaly = brasa.detect_anomaly(),
          threads = brasa.get_num_threads()}
end

local function restore_state(s)
  brasa.set_grad_enabled(s.grad)
  brasa.detect_anomaly(s.anomaly)
  brasa.set_num_threads(s.threads)
  brasa.clear_interrupt()
end

-- Runs one example (nn and optim bound as the brasa REPL binds them);
-- returns ok, err and what print wrote, by line.
local function run_example(e)
  local state = save_state()
  local ok, msg, printed = examples.run(e, {brasa = brasa, nn = brasa.nn, optim = brasa.optim})
  restore_state(state)
  return ok, msg, printed
end

describe('the documentation registry', function()
  it('has an entry for every public function and tensor method', function()
    local missing, unbound = {}, {}
    local function check(value, name)
      if not doc.get(name) then missing[#missing + 1] = name end
      if type(value) == 'function' and not doc.get(value) then unbound[#unbound + 1] = name end
    end
    for _, k in ipairs(sorted_keys(brasa)) do
      local v = rawget(brasa, k)
      if k:sub(1, 1) ~= '_' and type(v) == 'function' then check(v, 'brasa.' .. k) end
    end
    assert.is_table(rawget(brasa, 'autograd'))
    for _, k in ipairs(sorted_keys(brasa)) do   -- brasa.autograd and other tables of the core
      local t = rawget(brasa, k)
      if type(t) == 'table' and not SUBMODULES[k] and k ~= 'Tensor' and k:sub(1, 1) ~= '_' then
        for _, f in ipairs(sorted_keys(t)) do
          if f:sub(1, 1) ~= '_' and type(t[f]) == 'function' then check(t[f], 'brasa.' .. k .. '.' .. f) end
        end
      end
    end
    for _, k in ipairs(sorted_keys(brasa.Tensor)) do
      local v = brasa.Tensor[k]
      if k:sub(1, 1) ~= '_' and type(v) == 'function' then check(v, 'Tensor:' .. k) end
    end
    assert(#missing == 0, #missing .. ' without a doc entry: ' .. table.concat(missing, ', '))
    assert(#unbound == 0, #unbound .. ' not bound to their entry (doc.bind): ' .. table.concat(unbound, ', '))
  end)

  it('documents the fields and topics of tensors', function()
    for _, name in ipairs {'Tensor.shape', 'Tensor.dtype', 'Tensor.device', 'Tensor.grad',
                           'Tensor.requires_grad', 'Tensor.is_leaf', 'Tensor.grad_fn', 'Tensor.ndim',
                           'Tensor.T', 'Tensor indexing', 'Tensor operators'} do
      assert(doc.get(name), 'no entry ' .. name)
    end
  end)

  it('gives every entry a signature, a summary and an example', function()
    local bad = {}
    for _, e in ipairs(core_entries()) do
      if type(e.signature) ~= 'string' or e.summary == '' or e.example == '' then bad[#bad + 1] = e.name end
    end
    assert(#bad == 0, 'incomplete entries: ' .. table.concat(bad, ', '))
  end)

  local results = {}   -- name -> {ok, err, printed}, filled by the next test

  it('runs every example of the core without an error', function()
    local failed = {}
    for _, e in ipairs(core_entries()) do
      local ok, err, printed = run_example(e)
      results[e.name] = {ok = ok, printed = printed}
      if not ok then failed[#failed + 1] = e.name .. ': ' .. tostring(err) end
    end
    assert(#failed == 0, #failed .. ' examples raise:\n  ' .. table.concat(failed, '\n  '))
  end)

  it('shows in each example what its print calls write (--> comments)', function()
    local wrong = {}
    for _, e in ipairs(core_entries()) do
      local r = results[e.name]
      if not r then
        local ok, _, printed = run_example(e)
        r = {ok = ok, printed = printed}
      end
      if r.ok then examples.compare(e, r.printed, wrong) end
    end
    assert(#wrong == 0, #wrong .. ' example results differ:\n  ' .. table.concat(wrong, '\n  '))
  end)
end)

describe('the documentation of brasa.nn and brasa.optim', function()
  -- Methods every class defines, covered by the class's entry: a module's
  -- init, forward and extra_repr (documented once on nn.Module), a
  -- constructor new.
  local PER_CLASS = {init = true, forward = true, extra_repr = true, new = true}

  local function is_class(v)
    return type(v) == 'table' and (rawget(v, '__name') ~= nil or rawget(v, '__index') ~= nil)
  end

  -- Walks table t (named prefix): functions, classes and sub-tables. A class
  -- passes with an entry of its name or when it is bound to one (the same
  -- class under a second name: brasa.optim.lr_scheduler.StepLR). A
  -- method passes with an entry of its own ('brasa.nn.Linear:reset_parameters')
  -- or when its function is bound to an entry (an alias such as nn.Dense, or
  -- an override documented on a parent class).
  local function walk(t, prefix, missing, unbound, depth)
    for _, k in ipairs(sorted_keys(t)) do
      local v = rawget(t, k)
      local name = prefix .. '.' .. k
      if k:sub(1, 1) == '_' then   -- luacheck: ignore
      elseif type(v) == 'function' then
        if not doc.get(name) then missing[#missing + 1] = name
        elseif not doc.get(v) then unbound[#unbound + 1] = name end
      elseif is_class(v) then
        if not doc.get(name) and not doc.get(v) then missing[#missing + 1] = name end
        for _, m in ipairs(sorted_keys(v)) do
          local f = rawget(v, m)
          if type(f) == 'function' and m:sub(1, 1) ~= '_' and not (PER_CLASS[m] and k ~= 'Module') then
            local own = doc.get(name .. ':' .. m) or doc.get(name .. '.' .. m)
            if not own and not doc.get(f) then missing[#missing + 1] = name .. ':' .. m
            elseif not doc.get(f) then unbound[#unbound + 1] = own.name end
          end
        end
      elseif type(v) == 'table' and depth < 2 and not brasa.is_tensor(v) then
        walk(v, name, missing, unbound, depth + 1)
      end
    end
  end

  it('has an entry for every class, method and function', function()
    local missing, unbound = {}, {}
    walk(brasa.nn, 'brasa.nn', missing, unbound, 0)
    walk(brasa.optim, 'brasa.optim', missing, unbound, 0)
    assert(#missing == 0, #missing .. ' without a doc entry: ' .. table.concat(missing, ', '))
    assert(#unbound == 0, #unbound .. ' not bound to their entry (doc.bind): ' .. table.concat(unbound, ', '))
  end)
end)
