-- brasa.serialize: saving and loading models and optimisers.
--
--   model:save('net.safetensors')                    -- architecture + weights
--   local net = brasa.load('net.safetensors')         -- rebuilt, weights loaded
--   model:save('ckpt.safetensors', {optimizer = opt}) -- and the optimiser's state
--   local net = brasa.load('ckpt.safetensors', {optimizer = opt})
--   model:load_weights('torch.safetensors', {mapping = 'torch'})  -- a PyTorch state dict
--
-- Files are safetensors (https://github.com/huggingface/safetensors), the
-- format other tools read: tensors by name, and a __metadata__ table of
-- strings. Tensor names are the model's state_dict names, which follow the
-- module tree: children of Sequential by their 1-based position ('1.weight',
-- '3.bias'), named children by name ('encoder.fc.weight'). Whatever brasa
-- adds besides (the optimiser's state, tensors given to constructors) has a
-- name starting with '__'.
--
-- The architecture is one JSON string in the metadata ('brasa.architecture'):
-- each module's class name, the arguments its constructor was called with,
-- and its children. brasa.load rebuilds the model by calling the classes of
-- this session by name (every brasa.nn class, and every class made with
-- nn.Module:extend) with those arguments; nothing from the file is ever run
-- (no Lua chunk, no bytecode: the file is data, so a model from a stranger
-- is safe to open). It then checks every name, shape and dtype against the
-- file and says exactly what differs.
--
-- What the architecture cannot hold: functions and objects other than
-- modules, tensors and nn.regularizers given to constructors (custom
-- initialisers: the loaded model has none, listed in the JSON under
-- "dropped"), and changes made to a module's plain fields after
-- it was built (model[2].p = 0.3). Children added or replaced after
-- construction are kept.
--
-- Every write goes to a temporary file in the same directory, renamed over
-- the target only when complete: a crash or a full disk leaves the
-- previous file whole.

local M = {}

local function brasa_() return require 'brasa' end
local function data_() return require('brasa').data end

local FORMAT = 'brasa.model'
local FORMAT_VERSION = 1
local ARCH_KEY = 'brasa.architecture'
local OPTIM_KEY = 'brasa.optimizer'
local OPTIM_PREFIX = '__optimizer__.'
local ARGS_PREFIX = '__args__.'

---------------------------------------------------------------------------
-- JSON (a small encoder and decoder: the architecture and the optimiser's
-- settings are stored as JSON strings)
---------------------------------------------------------------------------

local json = {}
M.json = json

local ESCAPES = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                 ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t'}

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format('\\u%04x', c:byte())
  end) .. '"'
end

local function encode_number(v)
  if v ~= v then return 'NaN' end
  if v == math.huge then return 'Infinity' end
  if v == -math.huge then return '-Infinity' end
  if math.type(v) == 'integer' then return string.format('%d', v) end
  local s = string.format('%.17g', v)
  if tonumber(string.format('%.15g', v)) == v then s = string.format('%.15g', v) end
  if not s:find('[%.eEn]') then s = s .. '.0' end   -- stays a float when read back
  return s
end

-- Whether t is a list 1..n with no other keys (n >= 1).
local function is_list(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local encode_value

local function encode_table(t, seen, depth)
  if seen[t] then error('json: a table refers to itself', 0) end
  if depth > 100 then error('json: tables nested too deep', 0) end
  seen[t] = true
  local out = {}
  if t.__json_array then   -- an array with holes: {n = k, ...}
    for i = 1, t.n do out[i] = encode_value(t[i], seen, depth + 1) end
    seen[t] = nil
    return '[' .. table.concat(out, ',') .. ']'
  end
  if is_list(t) then
    for i = 1, #t do out[i] = encode_value(t[i], seen, depth + 1) end
    seen[t] = nil
    return '[' .. table.concat(out, ',') .. ']'
  end
  local keys = {}
  for k in pairs(t) do
    if math.type(k) == 'integer' then
      keys[#keys + 1] = {'#' .. k, k}      -- integer keys: "#3" (read back as 3)
    elseif type(k) == 'string' then
      keys[#keys + 1] = {k, k}
    else
      error('json: table keys must be strings or integers, got ' .. type(k), 0)
    end
  end
  table.sort(keys, function(a, b) return a[1] < b[1] end)
  for i, k in ipairs(keys) do
    out[i] = encode_string(k[1]) .. ':' .. encode_value(t[k[2]], seen, depth + 1)
  end
  seen[t] = nil
  return '{' .. table.concat(out, ',') .. '}'
end

encode_value = function(v, seen, depth)
  local tv = type(v)
  if v == nil or v == json.null then return 'null' end
  if tv == 'boolean' then return v and 'true' or 'false' end
  if tv == 'number' then return encode_number(v) end
  if tv == 'string' then return encode_string(v) end
  if tv == 'table' then return encode_table(v, seen, depth) end
  error('json: cannot encode a ' .. tv, 0)
end

--- The JSON null (decode gives nil inside objects and arrays; use this to
-- write one explicitly).
json.null = setmetatable({}, {__tostring = function() return 'null' end})

--- json.encode(v) -> string. Lists become arrays, other tables objects
-- (keys sorted; integer keys written "#k"); {__json_array = true, n = k,
-- ...} an array with holes. NaN and infinities are written as NaN and
-- Infinity (as Python's json does).
function json.encode(v)
  return encode_value(v, {}, 0)
end

-- Decoder state: the text and a position.
local Decoder = {}
Decoder.__index = Decoder

function Decoder:fail(what)
  error(string.format('json: %s at byte %d', what, self.pos), 0)
end

function Decoder:skip()
  self.pos = self.s:find('[^ \t\r\n]', self.pos) or #self.s + 1
end

function Decoder:peek()
  self:skip()
  return self.s:sub(self.pos, self.pos)
end

function Decoder:expect(c)
  if self:peek() ~= c then self:fail("'" .. c .. "' expected") end
  self.pos = self.pos + 1
end

local UNESCAPES = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t'}

function Decoder:string()
  self:expect('"')
  local parts = {}
  while true do
    local i = self.s:find('["\\]', self.pos)
    if not i then self:fail('unterminated string') end
    parts[#parts + 1] = self.s:sub(self.pos, i - 1)
    local c = self.s:sub(i, i)
    if c == '"' then
      self.pos = i + 1
      return table.concat(parts)
    end
    local e = self.s:sub(i + 1, i + 1)
    if e == 'u' then
      local hex = self.s:sub(i + 2, i + 5)
      if not hex:match('^%x%x%x%x$') then self.pos = i; self:fail('bad \\u escape') end
      local code = tonumber(hex, 16)
      local nexti = i + 6
      if code >= 0xD800 and code <= 0xDBFF and self.s:sub(nexti, nexti + 1) == '\\u' then
        local lo = tonumber(self.s:sub(nexti + 2, nexti + 5), 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          code = 0x10000 + (code - 0xD800) * 0x400 + (lo - 0xDC00)
          nexti = nexti + 6
        end
      end
      parts[#parts + 1] = utf8.char(code)
      self.pos = nexti
    elseif UNESCAPES[e] then
      parts[#parts + 1] = UNESCAPES[e]
      self.pos = i + 2
    else
      self.pos = i
      self:fail('bad escape')
    end
  end
end

function Decoder:number()
  local s = self.s
  local a, b = s:find('^-?%d+%.?%d*[eE]?[-+]?%d*', self.pos)
  if not a then
    for _, w in ipairs {{'NaN', 0 / 0}, {'Infinity', math.huge}, {'-Infinity', -math.huge}} do
      if s:sub(self.pos, self.pos + #w[1] - 1) == w[1] then
        self.pos = self.pos + #w[1]
        return w[2]
      end
    end
    self:fail('a value expected')
  end
  local text = s:sub(a, b)
  self.pos = b + 1
  local v = text:find('[%.eE]') and tonumber(text) or math.tointeger(tonumber(text)) or tonumber(text)
  if v == nil then self:fail('bad number ' .. text) end
  return v
end

function Decoder:value(depth)
  if depth > 200 then self:fail('nested too deep') end
  local c = self:peek()
  if c == '{' then return self:object(depth) end
  if c == '[' then return self:array(depth) end
  if c == '"' then return self:string() end
  for word, v in pairs {['true'] = true, ['false'] = false, null = json.null} do
    if self.s:sub(self.pos, self.pos + #word - 1) == word then
      self.pos = self.pos + #word
      return v
    end
  end
  return self:number()
end

local function unnull(v) if v == json.null then return nil end return v end

function Decoder:array(depth)
  self:expect('[')
  local t, n = {}, 0
  if self:peek() == ']' then self.pos = self.pos + 1; return t end
  while true do
    n = n + 1
    t[n] = unnull(self:value(depth + 1))
    local c = self:peek()
    self.pos = self.pos + 1
    if c == ']' then break end
    if c ~= ',' then self.pos = self.pos - 1; self:fail("',' or ']' expected") end
  end
  return t
end

function Decoder:object(depth)
  self:expect('{')
  local t = {}
  if self:peek() == '}' then self.pos = self.pos + 1; return t end
  while true do
    local k = self:string()
    local ik = k:match('^#(%-?%d+)$')
    self:expect(':')
    t[ik and math.tointeger(tonumber(ik)) or k] = unnull(self:value(depth + 1))
    local c = self:peek()
    self.pos = self.pos + 1
    if c == '}' then break end
    if c ~= ',' then self.pos = self.pos - 1; self:fail("',' or '}' expected") end
  end
  return t
end

--- json.decode(s) -> the value (null read as nil; keys "#k" as integers k).
-- Malformed input raises 'json: <what> at byte <n>'.
function json.decode(s)
  if type(s) ~= 'string' then error('json: a string expected, got ' .. type(s), 2) end
  local d = setmetatable({s = s, pos = 1}, Decoder)
  local v = d:value(0)
  d:skip()
  if d.pos <= #s then d:fail('trailing characters') end
  return unnull(v)
end

---------------------------------------------------------------------------
-- Registered module classes, and the arguments each module was built with
---------------------------------------------------------------------------

local registry = {}                            -- class name -> class
local builtin = {}                             -- class -> true for brasa.nn's own
local config = setmetatable({}, {__mode = 'k'})   -- module -> packed constructor arguments
local Module                                   -- nn.Module, set by install

local function class_name(cls) return rawget(cls, '__name') end

-- Whether cls is a module class (Module or a class made from it).
local function is_class(v)
  if type(v) ~= 'table' or type(rawget(v, '__name')) ~= 'string' then return false end
  local c = v
  while c ~= nil do
    if c == Module then return true end
    c = rawget(c, 'super')
  end
  return false
end

-- Makes calling cls record its arguments (once per class).
local function record_calls(cls)
  local mt = getmetatable(cls)
  if not mt or rawget(mt, '__brasa_recorded') then return end
  local construct = mt.__call
  mt.__call = function(c, ...)
    local obj = construct(c, ...)
    if type(obj) == 'table' and config[obj] == nil then config[obj] = table.pack(...) end
    return obj
  end
  mt.__brasa_recorded = true
end

--- serialize.register(cls, name?): makes a module class known to
-- brasa.load by its name (every brasa.nn class and every class made with
-- nn.Module:extend is registered already; this renames or re-registers).
function M.register(cls, name)
  if not Module then local _ = brasa_().nn end
  if not is_class(cls) then error('serialize.register: a module class expected (made with nn.Module:extend)', 2) end
  name = name or class_name(cls)
  registry[name] = cls
  record_calls(cls)
  return cls
end

--- serialize.install(Module, classes...): called by brasa.train.install
-- when brasa.nn loads: registers the classes of the tables given (brasa.nn
-- and its parts) as built-in, and makes later Module:extend register theirs.
function M.install(module_class, ...)
  Module = module_class
  local function add(tab, is_builtin)
    for _, v in pairs(tab) do
      if is_class(v) then
        local name = class_name(v)
        if registry[name] == nil or is_builtin then registry[name] = v end
        if is_builtin then builtin[v] = true end
        record_calls(v)
      end
    end
  end
  add({Module}, true)
  for i = 1, select('#', ...) do
    local t = select(i, ...)
    if type(t) == 'table' then add(t, true) end
  end
  for name, mod in pairs(package.loaded) do   -- the parts of brasa.nn loaded so far
    if type(name) == 'string' and name:match('^brasa%.nn%.') and type(mod) == 'table' then add(mod, true) end
  end
  if not rawget(Module, '__brasa_extend') then
    local extend = Module.extend
    Module.extend = function(parent, name)
      local cls = extend(parent, name)
      -- the latest class of a name wins (a script run twice), but brasa.nn's
      -- own keep theirs (saving a model with such a class says why it fails)
      if not (registry[name] and builtin[registry[name]]) then registry[name] = cls end
      record_calls(cls)
      return cls
    end
    rawset(Module, '__brasa_extend', true)
  end
end

--- serialize.classes() -> sorted list of the registered class names.
function M.classes()
  local out = {}
  for k in pairs(registry) do out[#out + 1] = k end
  table.sort(out)
  return out
end

---------------------------------------------------------------------------
-- Describing a model as data
---------------------------------------------------------------------------

local function is_module(v)
  return type(v) == 'table' and rawget(v, '_modules') ~= nil and rawget(v, '_attrs') ~= nil
end

-- The name of child c of m, or nil.
local function child_name(m, c)
  for name, x in m:named_children() do
    if x == c then return name end
  end
end

-- Encodes one constructor argument as JSON-able data. Children become
-- {["$child"] = name}, tensors {["$tensor"] = file name} (saved beside the
-- weights), functions nil (listed in ctx.dropped).
local function encode_arg(v, ctx, where, seen)
  local brasa = brasa_()
  local tv = type(v)
  if v == nil or tv == 'number' or tv == 'string' or tv == 'boolean' then return v end
  if tv == 'function' then
    ctx.dropped[#ctx.dropped + 1] = where
    return nil
  end
  if brasa.is_tensor(v) then
    local name = ARGS_PREFIX .. where
    ctx.tensors[#ctx.tensors + 1] = {name, v:detach():contiguous()}
    return {['$tensor'] = name}
  end
  if is_module(v) then
    local name = child_name(ctx.module, v)
    if not name then
      error(string.format('%s: a constructor argument is a module that is not a child of the module built '
        .. '(%s): it cannot be saved', ctx.who, where), 0)
    end
    return {['$child'] = name}
  end
  local mt = tv == 'table' and getmetatable(v)
  if mt and rawget(mt, '__name') == 'Regularizer' and type(v.l1) == 'number' and type(v.l2) == 'number' then
    return {['$regularizer'] = {l1 = v.l1, l2 = v.l2}}
  end
  if mt then   -- some other object: its class cannot be named in the file
    ctx.dropped[#ctx.dropped + 1] = where
    return nil
  end
  if tv == 'table' then
    if seen[v] then error(string.format('%s: a constructor argument refers to itself (%s)', ctx.who, where), 0) end
    seen[v] = true
    local out = {}
    for k, x in pairs(v) do
      if type(k) ~= 'string' and math.type(k) ~= 'integer' then
        error(string.format('%s: a constructor argument has a %s key (%s)', ctx.who, type(k), where), 0)
      end
      out[k] = encode_arg(x, ctx, where .. '.' .. tostring(k), seen)
    end
    seen[v] = nil
    if #v > 0 and not is_list(out) then   -- a list with a dropped item: keep the positions
      out.__json_array, out.n = true, #v
    end
    return out
  end
  error(string.format('%s: a constructor argument of type %s cannot be saved (%s)', ctx.who, tv, where), 0)
end

-- The description of module m at path (dotted names from the root).
local function describe(m, path, ctx)
  local cls = getmetatable(m)
  local name = class_name(cls)
  if registry[name] ~= cls then
    if registry[name] and builtin[registry[name]] then
      error(string.format("%s: the class of %s is named '%s' like brasa.nn.%s: give it another name "
        .. "(nn.Module:extend('My%s'))", ctx.who, path == '' and 'the model' or "'" .. path .. "'", name, name, name), 0)
    end
    registry[name] = cls
  end
  local node = {type = name}
  local args = config[m]
  if args then
    local list = {__json_array = true, n = args.n}
    local saved = ctx.module
    ctx.module = m
    for i = 1, args.n do
      list[i] = encode_arg(args[i], ctx, (path == '' and '' or path .. '.') .. 'arg' .. i, {})
    end
    ctx.module = saved
    node.args = list
  end
  local children = {}
  for cname, child in m:named_children() do
    children[#children + 1] = {cname, describe(child, path == '' and cname or path .. '.' .. cname, ctx)}
  end
  if #children > 0 then node.children = children end
  return node
end

--- serialize.describe(model) -> architecture, tensors: the model's
-- architecture as a Lua table ({type =, args =, children = {{name, node}...}})
-- and the list of {name, tensor} of constructor arguments that are tensors.
function M.describe(model, who)
  local ctx = {who = who or 'save', dropped = {}, tensors = {}}
  local root = describe(model, '', ctx)
  local arch = {format = FORMAT, version = FORMAT_VERSION, module = root}
  if #ctx.dropped > 0 then arch.dropped = ctx.dropped end
  local dtype = M.float_dtype(model)
  if dtype then arch.dtype = dtype end
  return arch, ctx.tensors
end

--- serialize.float_dtype(model) -> the dtype of the model's floating
-- tensors when they all share one, else nil.
function M.float_dtype(model)
  local found
  for _, t in pairs(model:state_dict()) do
    local d = t.dtype
    if d == 'f32' or d == 'f64' or d == 'f16' or d == 'bf16' then
      if found and found ~= d then return nil end
      found = d
    end
  end
  return found
end

---------------------------------------------------------------------------
-- Rebuilding a model from its description
---------------------------------------------------------------------------

local build

-- The class named by a description, or an error that says how to get it.
local function lookup(name, ctx, path)
  local cls = ctx.classes[name] or registry[name]
  if cls == nil then
    error(string.format("%s: %s uses the class '%s', which this session does not define: define it "
      .. "(nn.Module:extend('%s')) before loading, or pass {classes = {%s = MyClass}}", ctx.who,
      path == '' and 'the model' or "module '" .. path .. "'", tostring(name), tostring(name), tostring(name)), 0)
  end
  return cls
end

-- Decodes constructor arguments; children named by {$child} are built
-- (into built[name]).
local function decode_arg(v, node, ctx, path, built)
  if type(v) ~= 'table' then return v end
  if v['$child'] ~= nil then
    local name = v['$child']
    if built[name] == nil then
      for _, pair in ipairs(node.children or {}) do
        if pair[1] == name then built[name] = build(pair[2], ctx, path == '' and name or path .. '.' .. name) end
      end
      if built[name] == nil then
        error(string.format('%s: the architecture names a child %s that it does not describe', ctx.who, tostring(name)), 0)
      end
    end
    return built[name]
  end
  if v['$regularizer'] ~= nil then
    local r = v['$regularizer']
    return brasa_().nn.regularizers.l1_l2(tonumber(r.l1) or 0, tonumber(r.l2) or 0)
  end
  if v['$tensor'] ~= nil then
    local t = ctx.tensors[v['$tensor']]
    if t == nil then error(string.format('%s: the file lacks the tensor %s', ctx.who, tostring(v['$tensor'])), 0) end
    return t
  end
  local out = {}
  for k, x in pairs(v) do out[k] = decode_arg(x, node, ctx, path, built) end
  return out
end

-- The arguments of a node, unpacked (holes kept).
local function node_args(node, ctx, path, built)
  local a = node.args
  if a == nil then return {n = 0} end
  if type(a) ~= 'table' then error(ctx.who .. ': bad architecture: args must be a list', 0) end
  local n = 0
  for k in pairs(a) do if math.type(k) == 'integer' and k > n then n = k end end
  local out = {n = n}
  for i = 1, n do out[i] = decode_arg(a[i], node, ctx, path, built) end
  return out
end

-- The JSON text of a module's recorded arguments (to tell whether a child
-- its constructor made is the one described).
local function args_json(m)
  local args = config[m]
  if not args then return nil end
  local ok, s = pcall(function()
    local ctx = {who = 'compare', dropped = {}, tensors = {}, module = m}
    local list = {__json_array = true, n = args.n}
    for i = 1, args.n do list[i] = encode_arg(args[i], ctx, 'arg' .. i, {}) end
    return json.encode(list)
  end)
  return ok and s or nil
end

-- The JSON text of a node's arguments, as args_json writes a module's.
local function described_args_json(node)
  local a, n = {__json_array = true}, 0
  for k in pairs(node.args) do if math.type(k) == 'integer' and k > n then n = k end end
  a.n = n
  for i = 1, n do a[i] = node.args[i] end
  return json.encode(a)
end

-- Makes m's children those of node: keeps a child its constructor made
-- when it matches (same class and arguments), else builds it.
local function reconcile(m, node, ctx, path, built)
  local wanted = {}
  for _, pair in ipairs(node.children or {}) do
    local name, cnode = pair[1], pair[2]
    wanted[name] = true
    local cpath = path == '' and name or path .. '.' .. name
    local have
    for n, c in m:named_children() do if n == name then have = c end end
    if built[name] ~= nil then
      if have ~= built[name] then m[name] = built[name] end
    elseif have ~= nil and class_name(getmetatable(have)) == cnode.type and
           (cnode.args == nil or args_json(have) == described_args_json(cnode)) then
      reconcile(have, cnode, ctx, cpath, {})
    else
      m[name] = build(cnode, ctx, cpath)
    end
  end
  local extra = {}
  for n in m:named_children() do if not wanted[n] then extra[#extra + 1] = n end end
  for _, n in ipairs(extra) do m[n] = nil end
end

build = function(node, ctx, path)
  if type(node) ~= 'table' or type(node.type) ~= 'string' then
    error(string.format('%s: bad architecture at %s', ctx.who, path == '' and 'the root' or path), 0)
  end
  local cls = lookup(node.type, ctx, path)
  local built = {}
  local args = node_args(node, ctx, path, built)
  local ok, m = pcall(cls, table.unpack(args, 1, args.n))
  if not ok then
    error(string.format('%s: rebuilding %s (%s) failed: %s', ctx.who,
      path == '' and 'the model' or "'" .. path .. "'", node.type, tostring(m)), 0)
  end
  reconcile(m, node, ctx, path, built)
  return m
end

--- serialize.build(architecture, opts?) -> a new model from a description
-- (a table from describe, or its JSON string). opts.classes = {Name =
-- class} adds classes; opts.tensors: the tensors named by $tensor.
function M.build(arch, opts)
  opts = opts or {}
  if Module == nil then local _ = brasa_().nn end
  if type(arch) == 'string' then arch = json.decode(arch) end
  local who = opts.who or 'build'
  if type(arch) ~= 'table' or arch.format ~= FORMAT then
    error(who .. ": not a brasa architecture (format '" .. tostring(type(arch) == 'table' and arch.format) .. "')", 0)
  end
  if (arch.version or 0) > FORMAT_VERSION then
    error(string.format('%s: the architecture is of format version %s; this brasa reads up to %d', who,
      tostring(arch.version), FORMAT_VERSION), 0)
  end
  local ctx = {who = who, classes = opts.classes or {}, tensors = opts.tensors or {}}
  local model = build(arch.module, ctx, '')
  if arch.dtype and M.float_dtype(model) ~= arch.dtype then model:to(arch.dtype) end
  return model
end

---------------------------------------------------------------------------
-- Comparing a file's tensors with a model's
---------------------------------------------------------------------------

local function shape_str(s)
  local parts = {}
  for i, n in ipairs(s) do parts[i] = tostring(n) end
  return '[' .. table.concat(parts, 'x') .. ']'
end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

--- serialize.compare(expected, found) -> a list of differences (empty when
-- they agree): names missing from found, names found but not expected,
-- and names whose shape or dtype differ. Both are tables name -> tensor.
function M.compare(expected, found)
  local diffs, missing, unexpected = {}, {}, {}
  for name, t in pairs(expected) do
    local f = found[name]
    if f == nil then
      missing[#missing + 1] = name
    else
      if not same_shape(t.shape, f.shape) then
        diffs[#diffs + 1] = string.format('%s: shape %s in the file, %s in the model', name,
          shape_str(f.shape), shape_str(t.shape))
      end
      if t.dtype ~= f.dtype then
        diffs[#diffs + 1] = string.format('%s: dtype %s in the file, %s in the model', name, f.dtype, t.dtype)
      end
    end
  end
  for name in pairs(found) do
    if expected[name] == nil then unexpected[#unexpected + 1] = name end
  end
  table.sort(diffs)
  table.sort(missing)
  table.sort(unexpected)
  local out = {}
  if #missing > 0 then out[#out + 1] = 'missing in the file: ' .. table.concat(missing, ', ') end
  if #unexpected > 0 then out[#out + 1] = 'in the file but not in the model: ' .. table.concat(unexpected, ', ') end
  for _, d in ipairs(diffs) do out[#out + 1] = d end
  return out
end

-- The model's state as a plain table name -> tensor.
local function model_state(model)
  local out = {}
  for name, t in pairs(model:state_dict()) do out[name] = t end
  return out
end

-- Copies the tensors of sd into the model (names, shapes and dtypes
-- checked first; nothing changes when they differ).
local function load_into(model, sd, who, strict)
  local expected = model_state(model)
  local found = sd
  if strict == false then
    found = {}
    for name, t in pairs(sd) do if expected[name] then found[name] = t end end
    for name in pairs(expected) do if not sd[name] then expected[name] = nil end end
  end
  local diffs = M.compare(expected, found)
  if #diffs > 0 then
    error(string.format('%s: the file does not match the model:\n  %s', who, table.concat(diffs, '\n  ')), 0)
  end
  model:load_state_dict(found, {strict = strict ~= false})
end

---------------------------------------------------------------------------
-- Files
---------------------------------------------------------------------------

-- Splits a file's tensors into the model's (plain names) and brasa's own
-- (names starting with '__').
local function split_tensors(tensors)
  local model, extra = {}, {}
  for name, t in pairs(tensors) do
    if name:sub(1, 2) == '__' then extra[name] = t else model[name] = t end
  end
  return model, extra
end

local function read(path, who)
  if type(path) ~= 'string' then error(who .. ': a file path (string) expected, got ' .. type(path), 3) end
  local ok, tensors, meta = pcall(data_().read_safetensors, path)
  if not ok then error(who .. ': ' .. tostring(tensors), 3) end
  return tensors, meta or {}
end

-- Flattens an optimiser's state_dict: tensors go into list (named
-- __optimizer__.<path>), the rest stays as JSON-able data.
local function flatten_optimizer(v, path, list)
  local brasa = brasa_()
  if brasa.is_tensor(v) then
    local name = OPTIM_PREFIX .. path
    list[#list + 1] = {name, v:detach():contiguous()}
    return {['$tensor'] = name}
  end
  if type(v) ~= 'table' then return v end
  local out = {}
  for k, x in pairs(v) do
    out[k] = flatten_optimizer(x, path == '' and tostring(k) or path .. '.' .. tostring(k), list)
  end
  return out
end

local function unflatten_optimizer(v, tensors, who)
  if type(v) ~= 'table' then return v end
  if v['$tensor'] ~= nil then
    local t = tensors[v['$tensor']]
    if t == nil then error(who .. ': the file lacks the optimiser tensor ' .. tostring(v['$tensor']), 0) end
    return t
  end
  local out = {}
  for k, x in pairs(v) do out[k] = unflatten_optimizer(x, tensors, who) end
  return out
end

-- Adds an optimiser's state to the pairs and metadata of a file.
local function add_optimizer(opt, pairs_, meta, who)
  if type(opt) ~= 'table' or type(opt.state_dict) ~= 'function' then
    error(who .. ': opts.optimizer must be an optimiser (with state_dict)', 0)
  end
  local list = {}
  local flat = flatten_optimizer(opt:state_dict(), '', list)
  local mt = getmetatable(opt)
  meta[OPTIM_KEY] = json.encode({type = mt and (rawget(mt, '_name') or rawget(mt, '__name')) or '?',
                                 state_dict = flat})
  for _, p in ipairs(list) do pairs_[#pairs_ + 1] = p end
end

-- The optimiser section of a file's metadata, decoded.
local function optimizer_info(meta, who)
  local text = meta[OPTIM_KEY]
  if not text then error(who .. ': the file holds no optimiser state (save it with {optimizer = opt})', 0) end
  local ok, info = pcall(json.decode, text)
  if not ok or type(info) ~= 'table' or type(info.state_dict) ~= 'table' then
    error(who .. ': the optimiser state is damaged: ' .. tostring(info), 0)
  end
  return info
end

-- The optimiser saved with a model, rebuilt on the model's parameters (the
-- saved groups name parameters by their position in model:parameters(),
-- as when the optimiser was built on them), or nil when that cannot be.
local function rebuild_optimizer(model, meta, tensors, who)
  local info = optimizer_info(meta, who)
  local cls = type(info.type) == 'string' and brasa_().optim[info.type]
  local saved_groups = info.state_dict.param_groups
  if not cls or type(saved_groups) ~= 'table' then return nil end
  local params, groups = model:parameters(), {}
  for gi, g in ipairs(saved_groups) do
    local group = {params = {}}
    for k, v in pairs(g) do if k ~= 'params' then group[k] = v end end
    for i, index in ipairs(g.params or {}) do
      if not params[index] then return nil end
      group.params[i] = params[index]
    end
    groups[gi] = group
  end
  local ok, opt = pcall(function()
    local o = cls(groups)
    o:load_state_dict(unflatten_optimizer(info.state_dict, tensors, who))
    return o
  end)
  return ok and opt or nil
end

-- Restores an optimiser's state from a file's metadata and tensors.
local function restore_optimizer(opt, meta, tensors, who)
  local info = optimizer_info(meta, who)
  local mt = getmetatable(opt)
  local mine = mt and (rawget(mt, '_name') or rawget(mt, '__name'))
  if info.type and mine and info.type ~= mine then
    error(string.format('%s: the file holds the state of a %s optimiser, not of a %s', who, info.type, mine), 0)
  end
  opt:load_state_dict(unflatten_optimizer(info.state_dict, tensors, who))
end

local function copy_metadata(meta, extra, who)
  for k, v in pairs(extra or {}) do
    if type(k) ~= 'string' or type(v) ~= 'string' then
      error(who .. ': opts.metadata must map strings to strings', 0)
    end
    if k:match('^brasa%.') then error(who .. ": metadata names starting with 'brasa.' are reserved", 0) end
    meta[k] = v
  end
end

-- The {name, tensor} pairs of a model's state, in state_dict order.
local function state_pairs(model)
  local list = {}
  for name, t in pairs(model:state_dict()) do list[#list + 1] = {name, t:contiguous()} end
  return list
end

local function write(path, list, meta, who)
  local ok, err = pcall(data_().write_safetensors, path, list, meta)
  if not ok then error(who .. ': ' .. tostring(err), 0) end
end

--- serialize.save(model, path, opts?) (also model:save(path, opts?)):
-- writes the architecture and the weights (parameters and persistent
-- buffers) to a safetensors file, atomically. opts.optimizer: also the
-- optimiser's state; opts.metadata: more strings for __metadata__.
function M.save(model, path, opts)
  local who = 'save'
  opts = opts or {}
  if type(path) ~= 'string' then error(who .. ': a file path (string) expected, got ' .. type(path), 2) end
  local arch, arg_tensors = M.describe(model, who)
  local list = state_pairs(model)
  for _, p in ipairs(arg_tensors) do list[#list + 1] = p end
  local meta = {format = 'pt', [ARCH_KEY] = json.encode(arch), ['brasa.version'] = tostring(brasa_().version)}
  if opts.optimizer ~= nil then add_optimizer(opts.optimizer, list, meta, who) end
  copy_metadata(meta, opts.metadata, who)
  write(path, list, meta, who)
  return path
end

--- serialize.save_weights(model, path, opts?): the weights only (no
-- architecture), as a PyTorch state dict saved with safetensors would be.
function M.save_weights(model, path, opts)
  local who = 'save_weights'
  opts = opts or {}
  if type(path) ~= 'string' then error(who .. ': a file path (string) expected, got ' .. type(path), 2) end
  local meta = {format = 'pt'}
  copy_metadata(meta, opts.metadata, who)
  write(path, state_pairs(model), meta, who)
  return path
end

--- serialize.load(path, opts?) (also brasa.load) -> model, metadata,
-- optimizer: rebuilds the model saved by model:save and loads its weights.
-- opts.classes = {Name = class}: classes this session defines under other
-- names. When the file holds an optimiser's state, the optimiser comes
-- back too, rebuilt on the model's parameters, and the model's next fit
-- continues with it (unless fit is given another); opts.optimizer = opt
-- restores the state into opt instead. metadata: the file's
-- __metadata__ strings.
function M.load(path, opts)
  local who = 'brasa.load'
  opts = opts or {}
  local tensors, meta = read(path, who)
  local text = meta[ARCH_KEY]
  if not text then
    error(string.format('%s: %s holds weights only (no brasa architecture): build the model and call '
      .. 'model:load_weights(path)%s', who, path, meta.format == 'pt' and " (a PyTorch state dict: add {mapping = 'torch'})" or ''), 0)
  end
  local ok, arch = pcall(json.decode, text)
  if not ok then error(who .. ': the architecture in ' .. path .. ' is damaged: ' .. tostring(arch), 0) end
  local weights, extra = split_tensors(tensors)
  local model = M.build(arch, {classes = opts.classes, tensors = extra, who = who})
  load_into(model, weights, who .. ' ' .. path, true)
  local opt = opts.optimizer
  if opt ~= nil then
    restore_optimizer(opt, meta, extra, who)
  elseif meta[OPTIM_KEY] then
    opt = rebuild_optimizer(model, meta, extra, who)
    local ok, train = pcall(require, 'brasa.train')
    if opt and ok then train.remember(model, {optimizer = opt}) end
  end
  return model, meta, opt
end

---------------------------------------------------------------------------
-- Weights from elsewhere (PyTorch)
---------------------------------------------------------------------------

--- serialize.torch_name(name) -> the brasa name of a PyTorch state-dict
-- name: every numeric part but the last gets 1 added, because
-- nn.Sequential and nn.ModuleList number children from 0 in PyTorch and
-- from 1 in brasa: '0.weight' -> '1.weight', 'features.3.0.bias' ->
-- 'features.4.1.bias'.
function M.torch_name(name)
  local parts = {}
  for p in name:gmatch('[^.]+') do parts[#parts + 1] = p end
  for i = 1, #parts - 1 do
    if parts[i]:match('^%d+$') then parts[i] = tostring(math.tointeger(tonumber(parts[i])) + 1) end
  end
  return table.concat(parts, '.')
end

--- serialize.torch_state_dict(sd, model?) -> sd with brasa names (see
-- torch_name). With a model, PyTorch's BatchNorm counters
-- (num_batches_tracked) the model lacks are left out.
function M.torch_state_dict(sd, model)
  local have = model and model_state(model)
  local out = {}
  for name, t in pairs(sd) do
    local mapped = M.torch_name(name)
    if not (have and have[mapped] == nil and name:match('num_batches_tracked$')) then out[mapped] = t end
  end
  return out
end

--- serialize.load_weights(model, path, opts?) (also model:load_weights):
-- copies the tensors of a safetensors file into the model. opts.mapping:
-- 'torch' (a PyTorch state dict, see torch_name), a function name -> name,
-- or a table old -> new name; opts.strict = false loads what matches and
-- ignores the rest. Names, shapes and dtypes are checked first and every
-- difference is reported. Returns the model.
function M.load_weights(model, path, opts)
  local who = 'load_weights'
  opts = opts or {}
  local tensors = read(path, who)
  local sd = split_tensors(tensors)
  local mapping = opts.mapping
  if mapping == 'torch' then
    sd = M.torch_state_dict(sd, model)
  elseif type(mapping) == 'function' or type(mapping) == 'table' then
    local out = {}
    for name, t in pairs(sd) do
      local new
      if type(mapping) == 'function' then new = mapping(name) else new = mapping[name] or name end
      if new ~= nil and new ~= false then out[new] = t end
    end
    sd = out
  elseif mapping ~= nil then
    error(who .. ": opts.mapping must be 'torch', a function or a table", 2)
  end
  load_into(model, sd, who .. ' ' .. path, opts.strict)
  return model
end

--- serialize.save_optimizer(opt, path): the optimiser's state alone.
function M.save_optimizer(opt, path)
  local who = 'save_optimizer'
  local list, meta = {}, {}
  add_optimizer(opt, list, meta, who)
  write(path, list, meta, who)
  return path
end

--- serialize.load_optimizer(opt, path): restores what save_optimizer (or
-- model:save with {optimizer = opt}) wrote; opt must be built on the same
-- parameters, in the same order.
function M.load_optimizer(opt, path)
  local who = 'load_optimizer'
  local tensors, meta = read(path, who)
  local _, extra = split_tensors(tensors)
  restore_optimizer(opt, meta, extra, who)
  return opt
end

--- serialize.save_state_dict(path, sd, metadata?) and
-- serialize.load_state_dict(path) -> sd, metadata: plain tables of name ->
-- tensor, as files other tools read.
function M.save_state_dict(path, sd, metadata)
  local list = {}
  for name, t in pairs(sd) do list[#list + 1] = {name, t:detach():contiguous()} end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  write(path, list, metadata or {}, 'save_state_dict')
  return path
end

function M.load_state_dict(path)
  return read(path, 'load_state_dict')
end

return M
