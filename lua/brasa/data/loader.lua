-- brasa.data.loader: data sets and the DataLoader (merged into brasa.data).
--
-- A data set is anything with two plain functions: len() -> number of
-- examples and get(i) -> the values of example i (1-based), e.g.
--   {len = function() return 100 end, get = function(i) return x[i], y[i] end}
-- TensorDataset(x, y, ...) is the fast form: tensors sharing their first
-- size, whose batches are gathered by C (rows copied into new tensors), in
-- a background thread when prefetching.
--
-- A DataLoader cuts a data set into batches, in order or shuffled by its
-- own generator (a seed gives the same orders, epoch after epoch, whatever
-- else draws random numbers). With a device ('cuda'), batches come out on
-- it: a TensorDataset's are staged by C (rows gathered into pinned host
-- memory by the prefetch thread, copied on a copy stream while the
-- previous batch's kernels run: core/io/loader.c, core/cuda/stage.c);
-- others are moved when made.

local core = require 'brasa.core'
local C = core._data

local M = {}

local function brasa_() return require 'brasa' end

---------------------------------------------------------------------------
-- Data sets
---------------------------------------------------------------------------

local TensorDataset = {}
TensorDataset.__index = TensorDataset
TensorDataset.__name = 'brasa.data.TensorDataset'

--- TensorDataset(x, y, ...) or TensorDataset{x = x, y = y}: the rows of
-- tensors that share their first size. ds.tensors is the list, ds.names
-- their names when given in a table ({'x', 'y'}).
function M.TensorDataset(...)
  local brasa = brasa_()
  local args, names = table.pack(...), nil
  if args.n == 1 and type(args[1]) == 'table' and not brasa.is_tensor(args[1]) then
    local t = args[1]
    args, names = {}, {}
    if t.x ~= nil then args[1], names[1] = t.x, 'x' end
    if t.y ~= nil then args[#args + 1], names[#names + 1] = t.y, 'y' end
    for i, v in ipairs(t) do args[#args + 1], names[#names + 1] = v, i end
    args.n = #args
    if args.n == 0 then error('TensorDataset: the table has no x, y or list of tensors', 2) end
  end
  if args.n == 0 then error('TensorDataset: at least one tensor expected', 2) end
  local n
  for i = 1, args.n do
    local t = args[i]
    if not brasa.is_tensor(t) then
      error(('TensorDataset: argument %d is a %s, not a tensor'):format(i, type(t)), 2)
    end
    if t.ndim == 0 then error(('TensorDataset: tensor %d is 0-dim (no rows)'):format(i), 2) end
    if n and t.shape[1] ~= n then
      error(('TensorDataset: tensors 1 and %d have %d and %d rows'):format(i, n, t.shape[1]), 2)
    end
    n = t.shape[1]
  end
  local ds = setmetatable({tensors = {table.unpack(args, 1, args.n)}, names = names, n = n},
                          TensorDataset)
  ds.len = function() return n end
  ds.get = function(i)
    if math.type(i) ~= 'integer' and not (type(i) == 'number' and i == math.floor(i)) then
      error('TensorDataset.get: an integer index expected', 2)
    end
    if i < 1 or i > n then
      error(('TensorDataset.get: index %d out of range 1..%d'):format(i, n), 2)
    end
    local out = {}
    for k, t in ipairs(ds.tensors) do out[k] = t:select(1, i) end
    return table.unpack(out)
  end
  return ds
end

function TensorDataset.__len(ds) return ds.n end

local function is_dataset(d)
  return type(d) == 'table' and type(d.len) == 'function' and type(d.get) == 'function'
end

M.is_dataset = is_dataset

-- Whatever fit and DataLoader accept as data: a data set, or a table
-- {x =, y =} of tensors (then a TensorDataset).
local function as_dataset(d, who)
  if is_dataset(d) then return d end
  local brasa = brasa_()
  if type(d) == 'table' and brasa.is_tensor(d.x) then return M.TensorDataset(d) end
  if brasa.is_tensor(d) then return M.TensorDataset(d) end
  error(who .. ': a data set ({len = fn, get = fn}, a TensorDataset) or a table {x =, y =} expected, got '
        .. type(d), 3)
end

---------------------------------------------------------------------------
-- Collation
---------------------------------------------------------------------------

local function all_integers(list)
  for _, v in ipairs(list) do if math.type(v) ~= 'integer' then return false end end
  return true
end

-- Samples -> one batch value per position: tensors are stacked (a new first
-- dim), numbers become a tensor (i64 when all are integers, else f32),
-- booleans a bool tensor, tables are collated key by key, anything else
-- (strings) stays a list.
local function collate_values(vals, who)
  local brasa = brasa_()
  local first = vals[1]
  if brasa.is_tensor(first) then return brasa.stack(vals, 1) end
  if type(first) == 'number' then
    return brasa.tensor(vals, {dtype = all_integers(vals) and 'i64' or 'f32'})
  end
  if type(first) == 'boolean' then return brasa.tensor(vals, {dtype = 'bool'}) end
  if type(first) == 'table' then
    local out = {}
    for k in pairs(first) do
      local col = {}
      for i, v in ipairs(vals) do
        if type(v) ~= 'table' then error(who .. ': samples mix tables and ' .. type(v) .. 's', 4) end
        col[i] = v[k]
      end
      out[k] = collate_values(col, who)
    end
    return out
  end
  return vals
end

--- default_collate(samples): samples is a list of packed samples
-- ({n = k, v1, ..., vk}); returns the k batch values.
function M.default_collate(samples)
  local k = samples[1] and (samples[1].n or #samples[1]) or 0
  local out = {}
  for j = 1, k do
    local vals = {}
    for i, s in ipairs(samples) do vals[i] = s[j] end
    out[j] = collate_values(vals, 'default_collate')
  end
  return table.unpack(out, 1, k)
end

---------------------------------------------------------------------------
-- The loader's generator: SplitMix64 (its own state, so a seed fixes the
-- order of every epoch whatever else uses random numbers)
---------------------------------------------------------------------------

local function next_random(g)
  g.state = g.state + 0x9E3779B97F4A7C15
  local z = g.state
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return z ~ (z >> 31)
end

-- An integer uniform in 1..n (n < 2^53).
local function random_int(g, n)
  return ((next_random(g) >> 11) % n) + 1
end

local function permutation(g, n)
  local p = {}
  for i = 1, n do p[i] = i end
  for i = n, 2, -1 do
    local j = random_int(g, i)
    p[i], p[j] = p[j], p[i]
  end
  return p
end

---------------------------------------------------------------------------
-- DataLoader
---------------------------------------------------------------------------

local DataLoader = {}
DataLoader.__name = 'brasa.data.DataLoader'

local methods = {}

-- The canonical name of a device option ('cuda' -> 'cuda:0'), checked
-- against the machine: nil for nil.
local function check_device(dev)
  if dev == nil then return nil end
  if type(dev) ~= 'string' then
    error("DataLoader: opts.device must be a device name ('cpu', 'cuda' or 'cuda:N'), got " .. type(dev), 3)
  end
  if dev == 'cpu' then return 'cpu' end
  local idx = dev == 'cuda' and '0' or dev:match('^cuda:(%d+)$')
  if not idx then
    error(("DataLoader: unknown device '%s' (expected 'cpu', 'cuda' or 'cuda:N')"):format(dev), 3)
  end
  local name = 'cuda:' .. math.tointeger(tonumber(idx))
  local cuda = brasa_().cuda
  if not cuda.is_available() then
    error(('DataLoader: device %s: no CUDA device is available (%s)'):format(name, cuda.status()), 3)
  end
  if tonumber(idx) >= cuda.device_count() then
    error(('DataLoader: device %s: no such device (this machine has %d CUDA device(s), from cuda:0)')
          :format(name, cuda.device_count()), 3)
  end
  return name
end

--- DataLoader(dataset, opts?): batches of a data set.
-- opts: batch_size (32), shuffle (false), seed (a number: the loader's own
-- generator; default: drawn from brasa's generator, so brasa.manual_seed
-- fixes it too), drop_last (false), collate (fn(samples) -> batch values),
-- transform (fn(batch values...) -> new values, on each batch, main thread,
-- after the move to opts.device), prefetch (true: a TensorDataset's next
-- batch is gathered by a C thread while the current one is used), device
-- ('cpu', 'cuda' or 'cuda:N': where batches are delivered; default: left
-- where the data set is), pin_memory (true for a CUDA device: a
-- TensorDataset's batches are staged through pinned memory, two batches of
-- it, and copied asynchronously; false: gathered on the CPU, then copied
-- synchronously).
function M.DataLoader(dataset, opts)
  local brasa = brasa_()
  dataset = as_dataset(dataset, 'DataLoader')
  opts = opts or {}
  if type(opts) ~= 'table' then error('DataLoader: opts must be a table', 2) end
  local bs = opts.batch_size or 32
  if math.type(bs) ~= 'integer' then
    if type(bs) == 'number' and bs == math.floor(bs) then bs = math.tointeger(bs)
    else error('DataLoader: batch_size must be a positive integer', 2) end
  end
  if bs < 1 then error('DataLoader: batch_size must be a positive integer, got ' .. bs, 2) end
  for _, k in ipairs {'collate', 'transform'} do
    if opts[k] ~= nil and type(opts[k]) ~= 'function' then
      error(('DataLoader: opts.%s must be a function'):format(k), 2)
    end
  end
  local device = check_device(opts.device)
  if opts.pin_memory ~= nil and type(opts.pin_memory) ~= 'boolean' then
    error('DataLoader: opts.pin_memory must be a boolean', 2)
  end
  local seed = opts.seed
  if seed == nil then
    seed = brasa.randint(0, 2147483647, {1})[1]
  elseif math.type(seed) ~= 'integer' then
    if type(seed) == 'number' and seed == math.floor(seed) then seed = math.tointeger(seed)
    else error('DataLoader: seed must be an integer', 2) end
  end
  local self = {
    dataset = dataset, batch_size = bs, shuffle = opts.shuffle and true or false,
    drop_last = opts.drop_last and true or false, collate = opts.collate,
    transform = opts.transform, prefetch = opts.prefetch ~= false, seed = seed,
    device = device, pin_memory = device ~= nil and device ~= 'cpu' and opts.pin_memory ~= false,
    _gen = {state = seed}, _epoch = 0,
  }
  -- Batches gathered by C: a TensorDataset without a custom collate.
  self._fast = getmetatable(dataset) == TensorDataset and not opts.collate
  return setmetatable(self, DataLoader)
end

local function size(self) return self.dataset.len() end

local function nbatches(self)
  local n = size(self)
  if self.drop_last then return n // self.batch_size end
  return (n + self.batch_size - 1) // self.batch_size
end

DataLoader.__len = nbatches

-- Starts an epoch: the order of its examples.
local function new_epoch(self)
  local n = size(self)
  self._epoch = self._epoch + 1
  if self.shuffle then
    self._order = permutation(self._gen, n)
  else
    if not self._identity or #self._identity ~= n then
      local p = {}
      for i = 1, n do p[i] = i end
      self._identity = p
    end
    self._order = self._identity
  end
  self._pending = nil   -- a batch prefetched for the last epoch is dropped
  self._nbatches = nbatches(self)
end

local function batch_range(self, k)
  local first = (k - 1) * self.batch_size + 1
  local count = math.min(self.batch_size, #self._order - first + 1)
  return first, count
end

-- Tensors off the CPU (a data set moved to a GPU): batches by index_select
-- on their device, without prefetching.
local function device_batch(self, k)
  local brasa = brasa_()
  local first, count = batch_range(self, k)
  local idx = brasa.tensor(table.move(self._order, first, first + count - 1, 1, {}), {dtype = 'i64'})
  local vals = {n = #self.dataset.tensors}
  for j, t in ipairs(self.dataset.tensors) do
    vals[j] = t:index_select(1, t.device == 'cpu' and idx or idx:to(t.device))
  end
  return vals
end

local function on_cpu(tensors)
  for _, t in ipairs(tensors) do if t.device ~= 'cpu' then return false end end
  return true
end

local function fast_batch(self, k)
  if self._on_cpu == nil then self._on_cpu = on_cpu(self.dataset.tensors) end
  if not self._on_cpu then return device_batch(self, k) end
  -- pin_memory: C delivers the batches on the device (staged when prefetching).
  if not self._c then self._c = C.loader(self.dataset.tensors, self.pin_memory and self.device or nil) end
  local vals
  if self.prefetch and self._pending == k then
    vals = table.pack(self._c:finish())
  else
    local first, count = batch_range(self, k)
    vals = table.pack(self._c:gather(self._order, first, count))
  end
  self._pending = nil
  if self.prefetch and k < self._nbatches then
    local first, count = batch_range(self, k + 1)
    self._c:start(self._order, first, count)
    self._pending = k + 1
  end
  return vals
end

local function slow_batch(self, k)
  local first, count = batch_range(self, k)
  local get, samples = self.dataset.get, {}
  for i = 1, count do samples[i] = table.pack(get(self._order[first + i - 1])) end
  return table.pack((self.collate or M.default_collate)(samples))
end

-- v (a tensor, or a table of them) on device; anything else as it is.
local function to_device(v, device)
  if type(v) ~= 'table' and type(v) ~= 'userdata' then return v end
  local brasa = brasa_()
  if brasa.is_tensor(v) then return v.device == device and v or v:to(device) end
  if type(v) == 'table' then
    local out = {}
    for key, x in pairs(v) do out[key] = to_device(x, device) end
    return out
  end
  return v
end

-- The values of batch k of the current epoch, packed.
local function batch(self, k)
  local vals = self._fast and fast_batch(self, k) or slow_batch(self, k)
  local device = self.device
  if device then   -- already there when staged: then this only checks
    for j = 1, vals.n do vals[j] = to_device(vals[j], device) end
  end
  if self.transform then vals = table.pack(self.transform(table.unpack(vals, 1, vals.n))) end
  return vals
end

--- loader:iter() -> an iterator over the batches of a new epoch:
--   for xb, yb in loader:iter() do ... end
function methods.iter(self)
  new_epoch(self)
  local k = 0
  return function()
    k = k + 1
    if k > self._nbatches then return nil end
    local vals = batch(self, k)
    return table.unpack(vals, 1, vals.n)
  end
end

--- loader:batch(k) -> the values of batch k (k = 1 starts a new epoch).
function methods.batch(self, k)
  if k == 1 or not self._order then new_epoch(self) end
  if k < 1 or k > self._nbatches then
    error(('DataLoader: batch %d out of range 1..%d'):format(k, self._nbatches), 2)
  end
  local vals = batch(self, k)
  return table.unpack(vals, 1, vals.n)
end

--- loader:close(): stops the prefetch thread now (the collector does it otherwise).
function methods.close(self)
  if self._c then self._c:close() end
  self._c, self._pending = nil, nil
end

-- loader[k]: batch k as a table {xb, yb, x = xb, y = yb} (names when the
-- data set has them), so `for k, b in ipairs(loader)` walks an epoch.
function DataLoader.__index(self, key)
  local m = methods[key]
  if m ~= nil then return m end
  if math.type(key) == 'integer' then
    if key < 1 or key > nbatches(self) then return nil end
    if key == 1 or not self._order then new_epoch(self) end
    local vals = batch(self, key)
    local names = self._fast and self.dataset.names
    if names then
      for j, name in ipairs(names) do if type(name) == 'string' then vals[name] = vals[j] end end
    end
    return vals
  end
  return nil
end

function DataLoader.__tostring(self)
  return ('DataLoader: %d examples, %d batches of %d%s%s%s'):format(size(self), nbatches(self),
    self.batch_size, self.shuffle and ', shuffled' or '', self.drop_last and ', drop_last' or '',
    self.device and (', on ' .. self.device .. (self.pin_memory and ' (pinned staging)' or '')) or '')
end

--- Whether v is a DataLoader.
function M.is_loader(v) return getmetatable(v) == DataLoader end

return M
