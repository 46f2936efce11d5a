-- brasa.data.preprocess: splitting, one-hot targets, scalers and label
-- encoding (merged into brasa.data). Scalers and encoders follow
-- scikit-learn: fit on the training set, then transform the training and
-- the test set with what was learnt.

local M = {}

local function brasa_() return require 'brasa' end

---------------------------------------------------------------------------
-- train_test_split
---------------------------------------------------------------------------

-- SplitMix64 (as the DataLoader's): a split with a seed is the same on
-- every run and every machine.
local function rng(seed)
  local g = {state = seed}
  return function(n)
    g.state = g.state + 0x9E3779B97F4A7C15
    local z = g.state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return ((z >> 11) % n) + 1
  end
end

local function shuffle(list, rand)
  for i = #list, 2, -1 do
    local j = rand(i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

local function count_of(test_size, n, who)
  if type(test_size) ~= 'number' or test_size <= 0 then
    error(who .. ': test_size must be a fraction in (0, 1) or a count of examples', 3)
  end
  local k = test_size < 1 and math.ceil(test_size * n) or math.tointeger(test_size)
  if not k then error(who .. ': test_size must be a fraction in (0, 1) or a whole count', 3) end
  if k >= n or k < 1 then
    error(('%s: test_size %s leaves %d of %d examples for training'):format(who, test_size, n - k, n), 3)
  end
  return k
end

-- Stratified test indices: per class, its share of n_test (floors, then
-- the remainders by largest fraction, as scikit-learn's approximate mode).
local function stratified(labels, n_test, rand)
  local n = #labels
  local by_class, classes = {}, {}
  for i, c in ipairs(labels) do
    if not by_class[c] then
      by_class[c] = {}
      classes[#classes + 1] = c
    end
    local l = by_class[c]
    l[#l + 1] = i
  end
  table.sort(classes)
  local take, frac, given = {}, {}, 0
  for k, c in ipairs(classes) do
    local exact = n_test * #by_class[c] / n
    take[k] = math.floor(exact)
    frac[k] = exact - take[k]
    given = given + take[k]
  end
  local order = {}
  for k = 1, #classes do order[k] = k end
  table.sort(order, function(a, b)
    if frac[a] ~= frac[b] then return frac[a] > frac[b] end
    return a < b
  end)
  for i = 1, n_test - given do take[order[i]] = take[order[i]] + 1 end
  local test, train = {}, {}
  for k, c in ipairs(classes) do
    local idx = shuffle(by_class[c], rand)
    for i, v in ipairs(idx) do
      if i <= take[k] then test[#test + 1] = v else train[#train + 1] = v end
    end
  end
  return shuffle(train, rand), shuffle(test, rand)
end

local function labels_of(strat, n, who)
  local brasa = brasa_()
  local list
  if brasa.is_tensor(strat) then
    if strat.ndim == 2 and strat.shape[2] > 1 then strat = strat:argmax(2) end   -- one-hot rows
    list = strat:reshape(-1):totable()
  elseif type(strat) == 'table' then
    list = strat
  else
    error(who .. ': stratify must be a tensor or a list of labels (or true for data.y)', 3)
  end
  if #list ~= n then
    error(('%s: stratify has %d labels for %d examples'):format(who, #list, n), 3)
  end
  return list
end

--- train_test_split(data, opts?) -> train, test
-- data: a table of tensors sharing their first size ({x =, y =}); each
-- tensor is split by rows, other fields (classes, feature_names) are
-- copied. opts: test_size (0.25; a fraction or a count), seed, shuffle
-- (true), stratify (a label tensor or list, or true for data.y).
function M.train_test_split(d, opts)
  local brasa = brasa_()
  local who = 'train_test_split'
  if type(d) ~= 'table' then error(who .. ': a table of tensors ({x =, y =}) expected', 2) end
  opts = opts or {}
  local n
  for k, v in pairs(d) do
    if brasa.is_tensor(v) and v.ndim > 0 then
      if n and v.shape[1] ~= n then
        error(('%s: the tensors have different numbers of rows (%s has %d, others %d)')
              :format(who, tostring(k), v.shape[1], n), 2)
      end
      n = v.shape[1]
    end
  end
  if not n then error(who .. ': the table holds no tensor to split', 2) end
  local n_test = count_of(opts.test_size or 0.25, n, who)
  local seed = opts.seed
  if seed == nil then seed = brasa.randint(0, 2147483647, {1})[1] end
  local rand = rng(math.tointeger(seed) or error(who .. ': seed must be an integer', 2))
  local train_idx, test_idx
  if opts.stratify then
    local strat = opts.stratify == true and d.y or opts.stratify
    if strat == nil then error(who .. ': stratify = true needs data.y', 2) end
    train_idx, test_idx = stratified(labels_of(strat, n, who), n_test, rand)
  else
    local all = {}
    for i = 1, n do all[i] = i end
    if opts.shuffle ~= false then shuffle(all, rand) end
    train_idx, test_idx = {}, {}
    for i = 1, n do
      if i <= n - n_test then train_idx[#train_idx + 1] = all[i] else test_idx[#test_idx + 1] = all[i] end
    end
  end
  local train, test = {}, {}
  local ti, si = brasa.tensor(train_idx, {dtype = 'i64'}), brasa.tensor(test_idx, {dtype = 'i64'})
  for k, v in pairs(d) do
    if brasa.is_tensor(v) and v.ndim > 0 then
      train[k], test[k] = v:index_select(1, ti), v:index_select(1, si)
    else
      train[k], test[k] = v, v
    end
  end
  return train, test
end

---------------------------------------------------------------------------
-- One-hot targets
---------------------------------------------------------------------------

--- one_hot(y, num_classes?) -> f32 N x K: row i has a 1 in column y[i].
-- y holds 1-based classes (a tensor or a list); num_classes defaults to
-- the largest label. to_categorical is the same function (Keras's name).
function M.one_hot(y, num_classes)
  local brasa = brasa_()
  if type(y) == 'table' and not brasa.is_tensor(y) then y = brasa.tensor(y, {dtype = 'i64'}) end
  if not brasa.is_tensor(y) then error('one_hot: a tensor or a list of 1-based labels expected', 2) end
  if y.dtype ~= 'i64' then
    if y.dtype:sub(1, 1) == 'f' and not y:eq(y:floor()):all():item() then
      error('one_hot: labels must be whole numbers (1-based classes)', 2)
    end
    y = y:long()
  end
  if y:numel() > 0 and y:min():item() < 1 then
    error(('one_hot: labels are 1-based: found %d'):format(y:min():item()), 2)
  end
  if num_classes ~= nil and y:numel() > 0 and y:max():item() > num_classes then
    error(('one_hot: label %d with num_classes = %d'):format(y:max():item(), num_classes), 2)
  end
  return y:one_hot(num_classes):float()
end

M.to_categorical = M.one_hot

---------------------------------------------------------------------------
-- Scalers
---------------------------------------------------------------------------

local function check_x(self, x, who)
  local brasa = brasa_()
  if not brasa.is_tensor(x) then error(who .. ': a tensor expected, got ' .. type(x), 3) end
  if x.ndim < 1 then error(who .. ': a tensor with a first dim of examples expected', 3) end
  if x.dtype:sub(1, 1) ~= 'f' and x.dtype ~= 'bf16' then x = x:float() end
  if self and self.n_features and not self._shape_ok(x) then
    error(('%s: fitted on %s features per example, got a %s tensor'):format(who,
          table.concat(self.feature_shape, 'x'), table.concat(x.shape, 'x')), 3)
  end
  return x
end

local function fitted(self, who)
  if not self.n_features then error(who .. ': call fit first', 3) end
end

local function feature_shape(self, x)
  local fs = {}
  for d = 2, x.ndim do fs[#fs + 1] = x.shape[d] end
  self.feature_shape = fs
  self.n_features = x.ndim > 1 and x.shape[2] or 1
  self._shape_ok = function(t)
    if t.ndim ~= #fs + 1 then return false end
    for d = 2, t.ndim do if t.shape[d] ~= fs[d - 1] then return false end end
    return true
  end
end

local MinMaxScaler = {}
MinMaxScaler.__index = MinMaxScaler
MinMaxScaler.__name = 'brasa.data.MinMaxScaler'

--- MinMaxScaler(opts?): maps each feature to feature_range ({0, 1}) with
-- the min and max seen by fit. opts.clip = true clamps transformed values
-- to the range (for test data outside the training range).
function M.MinMaxScaler(opts)
  opts = opts or {}
  local range = opts.feature_range or {0, 1}
  if type(range) ~= 'table' or type(range[1]) ~= 'number' or type(range[2]) ~= 'number'
     or range[1] >= range[2] then
    error('MinMaxScaler: feature_range must be {lo, hi} with lo < hi', 2)
  end
  return setmetatable({feature_range = {range[1], range[2]}, clip = opts.clip and true or false},
                      MinMaxScaler)
end

function MinMaxScaler:fit(x)
  x = check_x(nil, x, 'MinMaxScaler:fit')
  if x.shape[1] == 0 then error('MinMaxScaler:fit: no examples', 2) end
  feature_shape(self, x)
  local lo, hi = self.feature_range[1], self.feature_range[2]
  self.data_min = x:min(1)
  self.data_max = x:max(1)
  self.data_range = self.data_max - self.data_min
  -- A constant feature has range 0: scale it by 1 (scikit-learn's choice),
  -- so it maps to lo instead of dividing by zero.
  local range = self.data_range:masked_fill(self.data_range:eq(0), 1)
  self.scale = (hi - lo) / range
  self.min = -self.data_min * self.scale + lo
  return self
end

function MinMaxScaler:transform(x)
  fitted(self, 'MinMaxScaler:transform')
  x = check_x(self, x, 'MinMaxScaler:transform')
  local y = x * self.scale:to(x.dtype) + self.min:to(x.dtype)
  if self.clip then y = y:clamp(self.feature_range[1], self.feature_range[2]) end
  return y
end

function MinMaxScaler:fit_transform(x) return self:fit(x):transform(x) end

function MinMaxScaler:inverse_transform(x)
  fitted(self, 'MinMaxScaler:inverse_transform')
  x = check_x(self, x, 'MinMaxScaler:inverse_transform')
  return (x - self.min:to(x.dtype)) / self.scale:to(x.dtype)
end

function MinMaxScaler:__tostring()
  return ('MinMaxScaler{feature_range = {%g, %g}}%s'):format(self.feature_range[1],
    self.feature_range[2], self.n_features and ' fitted' or '')
end

local StandardScaler = {}
StandardScaler.__index = StandardScaler
StandardScaler.__name = 'brasa.data.StandardScaler'

--- StandardScaler(opts?): (x - mean) / std per feature, both from fit (the
-- population std, as scikit-learn). opts.with_mean, opts.with_std (true).
function M.StandardScaler(opts)
  opts = opts or {}
  return setmetatable({with_mean = opts.with_mean ~= false, with_std = opts.with_std ~= false},
                      StandardScaler)
end

function StandardScaler:fit(x)
  x = check_x(nil, x, 'StandardScaler:fit')
  if x.shape[1] == 0 then error('StandardScaler:fit: no examples', 2) end
  feature_shape(self, x)
  self.n_samples = x.shape[1]
  self.mean = x:mean(1)
  self.var = x:var(1, {correction = 0})
  local std = self.var:sqrt()
  -- A constant feature has std 0: scale it by 1 instead of dividing by 0.
  self.scale = std:masked_fill(std:eq(0), 1)
  return self
end

function StandardScaler:transform(x)
  fitted(self, 'StandardScaler:transform')
  x = check_x(self, x, 'StandardScaler:transform')
  if self.with_mean then x = x - self.mean:to(x.dtype) end
  if self.with_std then x = x / self.scale:to(x.dtype) end
  return x
end

function StandardScaler:fit_transform(x) return self:fit(x):transform(x) end

function StandardScaler:inverse_transform(x)
  fitted(self, 'StandardScaler:inverse_transform')
  x = check_x(self, x, 'StandardScaler:inverse_transform')
  if self.with_std then x = x * self.scale:to(x.dtype) end
  if self.with_mean then x = x + self.mean:to(x.dtype) end
  return x
end

function StandardScaler:__tostring()
  return ('StandardScaler{with_mean = %s, with_std = %s}%s'):format(self.with_mean, self.with_std,
    self.n_features and ' fitted' or '')
end

---------------------------------------------------------------------------
-- LabelEncoder
---------------------------------------------------------------------------

local LabelEncoder = {}
LabelEncoder.__index = LabelEncoder
LabelEncoder.__name = 'brasa.data.LabelEncoder'

--- LabelEncoder(): categories (strings or numbers) <-> 1-based ids, in
-- sorted order of the categories (as scikit-learn, but from 1).
function M.LabelEncoder()
  return setmetatable({}, LabelEncoder)
end

local function as_list(v, who)
  local brasa = brasa_()
  if brasa.is_tensor(v) then return v:reshape(-1):totable() end
  if type(v) ~= 'table' then error(who .. ': a list of labels (or a tensor) expected, got ' .. type(v), 3) end
  return v
end

function LabelEncoder:fit(labels)
  local list = as_list(labels, 'LabelEncoder:fit')
  local seen, classes, kind = {}, {}, nil
  for i, v in ipairs(list) do
    local t = type(v)
    if t ~= 'string' and t ~= 'number' then
      error(('LabelEncoder:fit: label %d is a %s (strings or numbers expected)'):format(i, t), 2)
    end
    if kind and t ~= kind then error('LabelEncoder:fit: labels mix strings and numbers', 2) end
    kind = t
    if v ~= v then error(('LabelEncoder:fit: label %d is NaN'):format(i), 2) end
    if not seen[v] then
      seen[v] = true
      classes[#classes + 1] = v
    end
  end
  if #classes == 0 then error('LabelEncoder:fit: no labels', 2) end
  table.sort(classes)
  self.classes = classes
  self.index = {}
  for i, c in ipairs(classes) do self.index[c] = i end
  return self
end

local function fitted_enc(self, who)
  if not self.classes then error(who .. ': call fit first', 3) end
end

local function preview(classes)
  local parts = {}
  for i = 1, math.min(#classes, 10) do parts[i] = tostring(classes[i]) end
  if #classes > 10 then parts[#parts + 1] = '... (' .. #classes .. ' classes)' end
  return table.concat(parts, ', ')
end

function LabelEncoder:transform(labels)
  fitted_enc(self, 'LabelEncoder:transform')
  local list = as_list(labels, 'LabelEncoder:transform')
  local ids = {}
  for i, v in ipairs(list) do
    local id = self.index[v]
    if not id then
      error(("LabelEncoder:transform: unknown label '%s' (item %d; known: %s)"):format(tostring(v), i,
            preview(self.classes)), 2)
    end
    ids[i] = id
  end
  return brasa_().tensor(ids, {dtype = 'i64'})
end

function LabelEncoder:fit_transform(labels) return self:fit(labels):transform(labels) end

function LabelEncoder:inverse_transform(ids)
  fitted_enc(self, 'LabelEncoder:inverse_transform')
  local list = as_list(ids, 'LabelEncoder:inverse_transform')
  local out = {}
  for i, id in ipairs(list) do
    local c = self.classes[id]
    if c == nil then
      error(('LabelEncoder:inverse_transform: id %s (item %d) is not in 1..%d'):format(tostring(id), i,
            #self.classes), 2)
    end
    out[i] = c
  end
  return out
end

function LabelEncoder:__tostring()
  return self.classes and ('LabelEncoder{' .. preview(self.classes) .. '}') or 'LabelEncoder{} (not fitted)'
end

return M
