-- The documentation registry covers the whole public API, and its examples
-- run and show what they print.
--
-- 1. Every function of the module table (keys starting with '_' and the
--    submodules nn, optim, data, metrics, callbacks, plot, text, help and doc
--    aside) has an entry 'brasa.NAME'; so has every function of its other
--    tables ('brasa.autograd.grad'), and every tensor method an entry
--    'Tensor:NAME'; each function value is bound to an entry (help(f)).
-- 2. Every example of the core's entries ('brasa.NAME', 'brasa.autograd.NAME',
--    'Tensor...') runs without raising. Entries of the submodules above
--    ('brasa.plot.lines', ...) are run by their own specs.
-- 3. In those examples, a line `print(...)  --> shown` prints `shown`, tensor
--    header lines and all whitespace aside.

local brasa = require 'brasa'
local doc = require 'brasa.doc'

-- Submodule tables documented (and tested) on their own.
local SUBMODULES = {nn = true, optim = true, data = true, metrics = true, callbacks = true,
                    plot = true, text = true, help = true, doc = true}

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do if type(k) == 'string' then ks[#ks + 1] = k end end
  table.sort(ks)
  return ks
end

-- The entries whose examples this spec runs.
local function is_core(name)
  if name:match('^Tensor') or name:match('^brasa%.[%w_]+$') then return true end
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

-- Runs one example; returns ok, err and what print wrote, by line.
local function run_example(e)
  local chunkname = '=' .. e.name
  local printed = {}   -- line -> list of outputs
  local function print_(...)
    local info = debug.getinfo(2, 'Sl')
    local t = table.pack(...)
    for i = 1, t.n do t[i] = tostring(t[i]) end
    local line = info and info.source == chunkname and info.currentline or 0
    printed[line] = printed[line] or {}
    table.insert(printed[line], table.concat(t, '\t', 1, t.n))
  end
  local env = setmetatable({brasa = brasa, print = print_}, {__index = _G})
  local chunk, err = load(e.example, chunkname, 't', env)
  if not chunk then return false, err, printed end
  local state = save_state()
  local ok, msg = pcall(chunk)
  restore_state(state)
  return ok, msg, printed
end

-- Output as compared: tensor header lines and all whitespace removed.
local function normalize(s)
  s = s:gsub('tensor %[[^%]]*%] [%w]+ [%w:]+[^\n]*\n', '')
  return (s:gsub('%s+', ''))
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
      if r.ok then
        local n = 0
        for line in (e.example .. '\n'):gmatch('([^\n]*)\n') do
          n = n + 1
          local shown = line:match('%-%->%s*(.-)%s*$')
          if shown then
            local got = r.printed[n] and table.concat(r.printed[n], ' ') or '(nothing printed on this line)'
            if normalize(got) ~= normalize(shown) then
              wrong[#wrong + 1] = string.format('%s, line %d: shows %s\n      printed %s', e.name, n, shown,
                                                (got:gsub('\n', ' ')))
            end
          end
        end
      end
    end
    assert(#wrong == 0, #wrong .. ' example results differ:\n  ' .. table.concat(wrong, '\n  '))
  end)
end)
