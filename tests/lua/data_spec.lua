-- brasa.data: readers (CSV, IDX, safetensors, FANN text), the small real
-- data sets against their files, datasets and loaders (batching, seeded
-- shuffling, drop_last, prefetching giving the same batches), splits,
-- one-hot targets, scalers against closed forms, label encoding, atomic
-- safetensors writes, and the documentation's examples.
--
-- Tests that read a data package are pending, naming the package, where it
-- is absent: python3-sklearn (unpacked by tools/setup.sh), libfann-doc,
-- dataset-fashion-mnist.

local brasa = require 'brasa'
local data = brasa.data
local doc = require 'brasa.doc'
local examples = require 'doc_examples'

-- ---- helpers ---------------------------------------------------------------

local tmpfiles = {}
local function tmpname(suffix)
  local p = os.tmpname()
  os.remove(p)
  p = p .. (suffix or '')
  tmpfiles[#tmpfiles + 1] = p
  return p
end

local function write(path, text)
  local f = assert(io.open(path, 'wb'))
  f:write(text)
  f:close()
end

local function readall(path)
  local f = io.open(path, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end

local function exists(path) return readall(path) ~= nil end

-- A gzip file of text, written with stored deflate blocks (no zlib needed).
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do
    c = c ~ s:byte(i)
    for _ = 1, 8 do
      if c & 1 == 1 then c = (c >> 1) ~ 0xEDB88320 else c = c >> 1 end
    end
  end
  return c ~ 0xFFFFFFFF
end

local function gzip(text)
  local parts = {string.char(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff)}
  local at = 1
  repeat
    local chunk = text:sub(at, at + 65534)
    at = at + #chunk
    parts[#parts + 1] = string.pack('<BI2I2', at > #text and 1 or 0, #chunk, (~#chunk) & 0xFFFF) .. chunk
  until at > #text
  parts[#parts + 1] = string.pack('<I4I4', crc32(text), #text & 0xFFFFFFFF)
  return table.concat(parts)
end

local function expect_error(fn, ...)
  local ok, err = pcall(fn)
  assert(not ok, 'expected an error, the call succeeded')
  assert(type(err) == 'string', 'the error is a ' .. type(err) .. ', not a string')
  for _, s in ipairs{...} do
    assert(err:find(s, 1, true), ('the message does not mention %q: %s'):format(s, err))
  end
  return err
end

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * math.max(1, math.abs(b))
end

local function all_close(t, want, tol)
  local got = t:reshape(-1):totable()
  if #got ~= #want then return false end
  for i = 1, #want do if not close(got[i], want[i], tol) then return false end end
  return true
end

local function numbers_of(line)
  local t = {}
  for v in line:gmatch('[^,%s]+') do t[#t + 1] = tonumber(v) end
  return t
end

local function sklearn_file(name)
  for _, d in ipairs(data.sklearn_dirs()) do
    if exists(d .. '/' .. name) then return d .. '/' .. name end
  end
end

local HAVE_SKLEARN = sklearn_file('iris.csv') ~= nil
local HAVE_FANN = exists(data.fann_dir .. '/thyroid.train')
local HAVE_FASHION = exists('/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz')
local SKLEARN_MSG = 'needs scikit-learn\'s data files: the Debian package python3-sklearn, unpacked by tools/setup.sh'
local FANN_MSG = 'needs the Debian package libfann-doc'

local function with_sklearn(name, fn)
  if HAVE_SKLEARN then it(name, fn) else pending(name .. ': ' .. SKLEARN_MSG) end
end

local function with_fann(name, fn)
  if HAVE_FANN then it(name, fn) else pending(name .. ': ' .. FANN_MSG) end
end

teardown(function()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
end)

-- ---- CSV ---------------------------------------------------------------------

describe('read_csv', function()
  local CSV = 'name,age,height,city\n' ..
              '"Smith, Ann",34,1.62,Lima\n' ..
              'Bob,,1.80,"New\nYork"\n' ..
              'Cy,51,NA,Oslo\n' ..
              '"Dee ""D""",28,1.55,Lima\n'

  it('types columns, unquotes fields and stacks the numeric ones into x', function()
    local t = data.parse_csv(CSV, {missing = 'nan'})
    assert.are.same({'name', 'age', 'height', 'city'}, t.names)
    assert.are.equal(4, t.nrows)
    assert.are.same({name = 'string', age = 'number', height = 'number', city = 'string'}, t.kinds)
    assert.are.same({'Smith, Ann', 'Bob', 'Cy', 'Dee "D"'}, t.columns.name)
    assert.are.equal('New\nYork', t.columns.city[2])
    assert.are.same({'age', 'height'}, t.x_names)
    assert.are.same({4, 2}, t.x.shape)
    assert.are.equal('f32', t.x.dtype)
    assert.is_true(t.x[{2, 1}] ~= t.x[{2, 1}])   -- NaN where missing
    assert.is_true(close(t.x[{1, 2}], 1.62))
    assert.are.same({age = 1, height = 1, name = 0, city = 0}, t.missing)
    assert.are.equal(t.columns.age, t.columns[2])
  end)

  it('reports a missing value with its line by default, drops rows with missing = drop', function()
    expect_error(function() data.parse_csv(CSV) end, 'line 3', "column 'age'", 'missing value')
    local t = data.parse_csv(CSV, {missing = 'drop'})
    assert.are.equal(2, t.nrows)
    assert.are.same({3, 5}, t.dropped_lines)   -- Bob (line 3) and Cy (line 5: Bob's record spans two)
    assert.are.same({'Smith, Ann', 'Dee "D"'}, t.columns.name)
  end)

  it('reads files, gzipped ones directly, and selects columns and a target', function()
    local path, gz = tmpname('.csv'), tmpname('.csv.gz')
    write(path, CSV)
    write(gz, gzip(CSV))
    local a = data.read_csv(path, {missing = 'nan', columns = {'city', 3}, dtype = 'f64'})
    local b = data.read_csv(gz, {missing = 'nan', columns = {'city', 3}, dtype = 'f64'})
    assert.are.same({'city', 'height'}, a.names)
    assert.are.same(a.columns.city, b.columns.city)
    assert.are.equal('f64', b.x.dtype)
    assert.is_true(a.x:eq(b.x):logical_or(a.x:isnan()):all():item())
    local t = data.read_csv(path, {missing = 'nan', target = 'city'})
    assert.are.same({'Lima', 'New\nYork', 'Oslo'}, t.classes)
    assert.are.same({1, 2, 3, 1}, t.y:totable())
    assert.are.same({'age', 'height'}, t.x_names)
  end)

  it('rejects ragged rows, bad quotes and truncated files, naming the line', function()
    expect_error(function() data.parse_csv('a,b\n1,2\n3,4,5\n') end, 'line 3', '3 fields where line 1 has 2')
    expect_error(function() data.parse_csv('a,b\n1,2\n3,"4\n') end, 'line 3', 'never closes')
    expect_error(function() data.parse_csv('a,b\n1,2\n3,4"\n') end, 'line 3', 'quote inside an unquoted field')
    expect_error(function() data.parse_csv('a,b\n1,"2"3\n') end, 'line 2', 'after a closing quote')
    local path = tmpname('.csv')
    write(path, CSV:sub(1, 60))   -- cut inside the third record
    expect_error(function() data.read_csv(path, {missing = 'nan'}) end, path, 'line 3')
    local gz = tmpname('.csv.gz')
    write(gz, gzip(CSV):sub(1, 50))
    expect_error(function() data.read_csv(gz, {missing = 'nan'}) end, gz, 'truncated')
    expect_error(function() data.read_csv(tmpname('.csv')) end, 'cannot open')
    expect_error(function() data.parse_csv('a\n1\n', {missing = 'maybe'}) end, 'missing')
    expect_error(function() data.parse_csv('a\n1\n', {target = 'b'}) end, "no column 'b'")
  end)
end)

-- ---- IDX and FANN text --------------------------------------------------------------

describe('read_idx', function()
  it('reads IDX files and rejects truncated and corrupt ones, naming the file', function()
    local good = string.char(0, 0, 0x08, 2) .. string.pack('>I4I4', 2, 3) .. string.char(1, 2, 3, 4, 5, 6)
    local path = tmpname('.idx')
    write(path, good)
    assert.are.same({{1, 2, 3}, {4, 5, 6}}, data.read_idx(path):totable())
    write(path, good:sub(1, #good - 2))
    expect_error(function() data.read_idx(path) end, 'read_idx', path)
    write(path, '\1' .. good:sub(2))
    expect_error(function() data.read_idx(path) end, 'not an IDX file')
    write(path, string.char(0, 0, 0x08, 2) .. string.pack('>I4I4', 0x7FFFFFFF, 0x7FFFFFFF) .. 'xx')
    expect_error(function() data.read_idx(path) end, 'read_idx', path)
    local gz = tmpname('.idx.gz')
    write(gz, gzip(good):sub(1, 22))
    expect_error(function() data.read_idx(gz) end, 'read_idx', gz)
  end)
end)

describe('fann', function()
  it('reads a FANN file and refuses one whose numbers do not fit its header', function()
    local path = tmpname('.train')
    write(path, '3 2 1\n0 0\n0\n0 1\n1\n1 1\n0\n')
    local s = data.fann(path)
    assert.are.same({3, 2}, s.x.shape)
    assert.are.same({{0}, {1}, {0}}, s.y:totable())
    assert.are.same({1, 2, 1}, s.labels:totable())
    write(path, '3 2 1\n0 0\n0\n0 1\n1\n1 1\n')
    expect_error(function() data.fann(path) end, 'truncated')
    write(path, '3 2 1\n0 0\n0\n0 x\n1\n1 1\n0\n')
    expect_error(function() data.fann(path) end, 'line 4', "'x' is not a number")
    expect_error(function() data.fann('/no/such/file.train') end, 'libfann-doc')
  end)

  with_fann('loads the Debian package\'s sets with their first rows as in the files', function()
    local train, test = data.fann('thyroid')
    assert.are.same({3600, 21}, train.x.shape)
    assert.are.same({3600, 3}, train.y.shape)
    assert.are.equal(3600, test.x.shape[1])
    local f = assert(io.open(data.fann_dir .. '/thyroid.train'))
    f:read('l')
    local x1, y1 = numbers_of(f:read('l')), numbers_of(f:read('l'))
    f:close()
    assert.is_true(all_close(train.x[1], x1))
    assert.is_true(all_close(train.y[1], y1))
    assert.are.equal(data.from_one_hot(train.y:narrow(1, 1, 1))[1], train.labels[1])
    local mushroom = data.fann('mushroom')
    assert.are.same({1, 2}, {mushroom.labels:min():item(), mushroom.labels:max():item()})
  end)
end)

-- ---- the scikit-learn sets ---------------------------------------------------------

describe('scikit-learn data sets', function()
  local function first_row(name)
    local f = assert(io.open(sklearn_file(name)))
    local header = f:read('l')
    local row = numbers_of(f:read('l'))
    f:close()
    return header, row
  end

  with_sklearn('iris: 150 x 4, classes 1..3 with 50 each, first row as in the file', function()
    local iris = data.iris()
    local _, row = first_row('iris.csv')
    assert.are.same({150, 4}, iris.x.shape)
    assert.is_true(all_close(iris.x[1], {row[1], row[2], row[3], row[4]}))
    assert.are.equal(row[5] + 1, iris.y[1])
    assert.are.same({'setosa', 'versicolor', 'virginica'}, iris.classes)
    for c = 1, 3 do assert.are.equal(50, iris.y:eq(c):sum():item()) end
    assert.are.equal('petal width (cm)', iris.feature_names[4])
  end)

  with_sklearn('wine and breast_cancer: shapes, first rows and class names', function()
    local wine = data.wine()
    local _, row = first_row('wine_data.csv')
    assert.are.same({178, 13}, wine.x.shape)
    assert.is_true(all_close(wine.x[1], {table.unpack(row, 1, 13)}))
    assert.are.equal(row[14] + 1, wine.y[1])
    assert.are.equal(13, #wine.feature_names)
    local bc = data.breast_cancer()
    local _, brow = first_row('breast_cancer.csv')
    assert.are.same({569, 30}, bc.x.shape)
    assert.is_true(all_close(bc.x[1], {table.unpack(brow, 1, 30)}))
    assert.are.same({'malignant', 'benign'}, bc.classes)
    assert.are.equal('mean radius', bc.feature_names[1])
  end)

  with_sklearn('digits: the gzipped file read directly, 1797 x 64, first row as published', function()
    local d = data.digits()
    assert.are.same({1797, 64}, d.x.shape)
    assert.are.same({1797, 8, 8}, d.images.shape)
    assert.are.same({0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0},
                    d.x[1]:narrow(1, 1, 16):totable())
    assert.are.equal(1, d.y[1])   -- the digit 0
    -- the whole first row against the file, through gzip (Debian's essential package)
    local p = io.popen('gzip -dc "' .. sklearn_file('digits.csv.gz') .. '" 2>/dev/null | head -n 1')
    local line = p and p:read('l')
    if p then p:close() end
    if line then
      local row = numbers_of(line)
      assert.are.equal(65, #row)
      assert.is_true(all_close(d.x[1], {table.unpack(row, 1, 64)}))
      assert.are.equal(row[65] + 1, d.y[1])
    end
    assert.are.equal(10, d.y:max():item())
    assert.are.equal('pixel_7_7', d.feature_names[64])
  end)

  with_sklearn('a given path or a missing file', function()
    local iris = data.iris(sklearn_file('iris.csv'))
    assert.are.equal(150, iris.x.shape[1])
    expect_error(function() data.iris{dir = '/no/such/dir'} end, 'python3-sklearn', 'iris.csv')
  end)
end)

-- ---- datasets and loaders -------------------------------------------------------------

describe('DataLoader', function()
  local n = 23
  local x = brasa.arange(1, n):float():view(n, 1) * brasa.ones(1, 3)
  local y = brasa.arange(1, n)

  local function epoch(loader)
    local xs, ys = {}, {}
    for xb, yb in loader:iter() do
      xs[#xs + 1] = xb
      ys[#ys + 1] = yb
    end
    return xs, ys
  end

  local function ids(ys)
    local t = {}
    for _, yb in ipairs(ys) do for _, v in ipairs(yb:totable()) do t[#t + 1] = v end end
    return t
  end

  it('cuts a data set into batches; #loader counts them; drop_last leaves the short one out', function()
    local loader = data.DataLoader({x = x, y = y}, {batch_size = 5})
    assert.are.equal(5, #loader)
    local xs, ys = epoch(loader)
    assert.are.equal(5, #xs)
    assert.are.same({3, 3}, {xs[5].shape[1], ys[5].shape[1]})
    assert.are.same({5, 3}, xs[1].shape)
    local all = ids(ys)
    for i = 1, n do assert.are.equal(i, all[i]) end
    local dl = data.DataLoader({x = x, y = y}, {batch_size = 5, drop_last = true})
    assert.are.equal(4, #dl)
    local dxs = epoch(dl)
    assert.are.equal(4, #dxs)
    assert.are.equal(5, dxs[4].shape[1])
  end)

  it('shuffles reproducibly for a seed, differently each epoch, covering every example once', function()
    local a = data.DataLoader(data.TensorDataset(x, y), {batch_size = 4, shuffle = true, seed = 42})
    local b = data.DataLoader(data.TensorDataset(x, y), {batch_size = 4, shuffle = true, seed = 42})
    local c = data.DataLoader(data.TensorDataset(x, y), {batch_size = 4, shuffle = true, seed = 43})
    local _, ya1 = epoch(a)
    local _, ya2 = epoch(a)
    local _, yb1 = epoch(b)
    local _, yb2 = epoch(b)
    local _, yc1 = epoch(c)
    assert.are.same(ids(ya1), ids(yb1))
    assert.are.same(ids(ya2), ids(yb2))
    assert.are_not.same(ids(ya1), ids(ya2))
    assert.are_not.same(ids(ya1), ids(yc1))
    local sorted = ids(ya1)
    table.sort(sorted)
    for i = 1, n do assert.are.equal(i, sorted[i]) end
    -- Without a seed, brasa.manual_seed fixes the order.
    brasa.manual_seed(5)
    local _, d1 = epoch(data.DataLoader({x = x, y = y}, {batch_size = 4, shuffle = true}))
    brasa.manual_seed(5)
    local _, d2 = epoch(data.DataLoader({x = x, y = y}, {batch_size = 4, shuffle = true}))
    assert.are.same(ids(d1), ids(d2))
  end)

  it('prefetching gives the same batches as gathering on demand', function()
    local big = brasa.randn(1000, 7, 3)
    local lbl = brasa.randint(1, 10, 1000)
    local p = data.DataLoader({x = big, y = lbl}, {batch_size = 64, shuffle = true, seed = 9, prefetch = true})
    local q = data.DataLoader({x = big, y = lbl}, {batch_size = 64, shuffle = true, seed = 9, prefetch = false})
    for _ = 1, 3 do
      local px, py = epoch(p)
      local qx, qy = epoch(q)
      assert.are.equal(#qx, #px)
      for i = 1, #px do
        assert.is_true(px[i]:equal(qx[i]) and py[i]:equal(qy[i]))
      end
    end
    -- the rows are the data set's rows
    local xb, yb = p:batch(1)
    local first = yb[1]
    assert.is_true(type(first) == 'number')
    -- a loop left early, then a new epoch
    for xb2 in p:iter() do break end
    local again = epoch(p)
    assert.are.equal(16, #again)
    p:close()
    assert.are.equal(16, #epoch(p))
  end)

  it('walks an epoch with ipairs, batches named after the data set\'s fields', function()
    local loader = data.DataLoader({x = x, y = y}, {batch_size = 10})
    local seen = {}
    for k, b in ipairs(loader) do
      seen[k] = b.x.shape[1]
      assert.are.equal(b[1], b.x)
      assert.are.equal(b[2], b.y)
    end
    assert.are.same({10, 10, 3}, seen)
    assert.is_nil(loader[4])
  end)

  it('takes any {len, get} data set, with default or custom collation and a transform', function()
    local words = {'a', 'b', 'c', 'd', 'e'}
    local ds = {len = function() return 5 end,
                get = function(i) return brasa.full({2}, i), i, words[i], {w = i * 0.5} end}
    local loader = data.DataLoader(ds, {batch_size = 2})
    local batches = {}
    for xb, yb, wb, tb in loader:iter() do batches[#batches + 1] = {xb, yb, wb, tb} end
    assert.are.equal(3, #batches)
    assert.are.same({{1, 1}, {2, 2}}, batches[1][1]:totable())
    assert.are.equal('i64', batches[1][2].dtype)
    assert.are.same({'c', 'd'}, batches[2][3])
    assert.are.same({2.5}, batches[3][4].w:totable())
    local custom = data.DataLoader(ds, {batch_size = 5, collate = function(samples)
      local s = 0
      for _, smp in ipairs(samples) do s = s + smp[2] end
      return s
    end, transform = function(v) return v * 10 end})
    assert.are.equal(150, custom:batch(1))
    local t = data.DataLoader({x = x, y = y}, {batch_size = 23, transform = function(xb, yb) return xb * 2, yb end})
    local xb = t:batch(1)
    assert.are.equal(46, xb[{23, 1}])
  end)

  it('refuses bad arguments with clear errors', function()
    expect_error(function() data.DataLoader({x = x}, {batch_size = 0}) end, 'batch_size')
    expect_error(function() data.DataLoader(42) end, 'DataLoader', 'data set')
    expect_error(function() data.DataLoader({x = x}, {collate = 3}) end, 'collate')
    expect_error(function() data.TensorDataset(x, brasa.zeros(3)) end, '23 and 3 rows')
    expect_error(function() data.TensorDataset(x).get(24) end, 'out of range')
    expect_error(function() data.DataLoader({x = x}):batch(9) end, 'out of range')
  end)
end)

-- ---- splits, encodings, scalers ---------------------------------------------------------------

describe('train_test_split', function()
  local n = 100
  local labels = {}
  for i = 1, n do labels[i] = i <= 70 and 1 or (i <= 90 and 2 or 3) end
  local d = {x = brasa.arange(1, n):float():view(n, 1), y = brasa.tensor(labels, {dtype = 'i64'}),
             classes = {'a', 'b', 'c'}}

  it('splits every tensor by the same rows, disjoint and complete, reproducibly', function()
    local tr, te = data.train_test_split(d, {test_size = 0.2, seed = 3})
    assert.are.equal(80, tr.x.shape[1])
    assert.are.equal(20, te.y.shape[1])
    assert.are.equal(d.classes, te.classes)
    local seen = {}
    for _, part in ipairs{tr, te} do
      local xs, ys = part.x:view(-1):totable(), part.y:totable()
      for i, v in ipairs(xs) do
        assert.is_nil(seen[v])
        seen[v] = true
        assert.are.equal(labels[v], ys[i])
      end
    end
    local tr2 = data.train_test_split(d, {test_size = 0.2, seed = 3})
    assert.is_true(tr.x:equal(tr2.x))
    local tr3 = data.train_test_split(d, {test_size = 0.2, seed = 4})
    assert.is_false(tr.x:equal(tr3.x))
    local a, b = data.train_test_split(d, {test_size = 10, shuffle = false})
    assert.are.same({91, 100}, {b.x[{1, 1}], b.x[{10, 1}]})
    assert.are.equal(90, a.x.shape[1])
  end)

  it('keeps class proportions when stratified', function()
    for _, seed in ipairs{1, 2, 3} do
      local tr, te = data.train_test_split(d, {test_size = 0.3, seed = seed, stratify = true})
      assert.are.same({21, 6, 3}, {te.y:eq(1):sum():item(), te.y:eq(2):sum():item(), te.y:eq(3):sum():item()})
      assert.are.same({49, 14, 7}, {tr.y:eq(1):sum():item(), tr.y:eq(2):sum():item(), tr.y:eq(3):sum():item()})
    end
    local _, te = data.train_test_split(d, {test_size = 0.25, seed = 1, stratify = labels})
    assert.are.equal(25, te.y.shape[1])
  end)

  with_sklearn('stratifies iris into equal thirds', function()
    local tr, te = data.train_test_split(data.iris(), {test_size = 0.2, seed = 0, stratify = true})
    for c = 1, 3 do
      assert.are.equal(10, te.y:eq(c):sum():item())
      assert.are.equal(40, tr.y:eq(c):sum():item())
    end
  end)

  it('refuses sizes that leave a part empty', function()
    expect_error(function() data.train_test_split(d, {test_size = 100}) end, 'test_size')
    expect_error(function() data.train_test_split(d, {test_size = 0}) end, 'test_size')
    expect_error(function() data.train_test_split({x = brasa.zeros(3), y = brasa.zeros(4)}) end, 'rows')
  end)
end)

describe('one_hot and from_one_hot', function()
  it('make one-hot f32 rows of 1-based labels and back', function()
    local y = brasa.tensor({3, 1, 2, 3}, {dtype = 'i64'})
    local oh = data.one_hot(y)
    assert.are.equal('f32', oh.dtype)
    assert.are.same({{0, 0, 1}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, oh:totable())
    assert.are.same({4, 5}, data.to_categorical(y, 5).shape)
    assert.is_true(data.from_one_hot(oh):equal(y))
    expect_error(function() data.one_hot({0, 1}) end, '1-based')
    expect_error(function() data.one_hot({1, 4}, 3) end, 'num_classes')
  end)
end)

describe('scalers', function()
  local x = brasa.tensor{{1, 10, 5}, {2, 30, 5}, {4, 20, 5}, {5, -10, 5}}

  it('MinMaxScaler maps the training range to [0, 1] (or feature_range)', function()
    local s = data.MinMaxScaler():fit(x)
    local lo, hi = {1, -10, 5}, {5, 30, 5}
    local t = s:transform(x):totable()
    for i, row in ipairs(x:totable()) do
      for j, v in ipairs(row) do
        local want = hi[j] > lo[j] and (v - lo[j]) / (hi[j] - lo[j]) or 0
        assert.is_true(close(t[i][j], want))
      end
    end
    assert.is_true(s:inverse_transform(s:transform(x)):allclose(x))
    local r = data.MinMaxScaler{feature_range = {-1, 1}}:fit_transform(x)
    assert.are.same({-1, -1, -1}, r:min(1):totable())
    assert.are.same({1, 1, -1}, r:max(1):totable())
    local clipped = data.MinMaxScaler{clip = true}:fit(x):transform(brasa.tensor{{9, 40, 5}})
    assert.are.same({{1, 1, 0}}, clipped:totable())
    expect_error(function() data.MinMaxScaler():transform(x) end, 'fit first')
    expect_error(function() s:transform(brasa.zeros(2, 4)) end, 'MinMaxScaler:transform', '3 features')
  end)

  it('StandardScaler: mean 0, population std 1; with_mean / with_std', function()
    local s = data.StandardScaler():fit(x)
    local cols = {{1, 2, 4, 5}, {10, 30, 20, -10}}
    for j, col in ipairs(cols) do
      local m, v = 0, 0
      for _, c in ipairs(col) do m = m + c / #col end
      for _, c in ipairs(col) do v = v + (c - m) ^ 2 / #col end
      assert.is_true(close(s.mean[j], m) and close(s.scale[j], math.sqrt(v)))
      local z = s:transform(x):select(2, j):totable()
      for i, c in ipairs(col) do assert.is_true(close(z[i], (c - m) / math.sqrt(v))) end
    end
    assert.are.equal(1, s.scale[3])   -- a constant column is not divided by 0
    assert.is_true(s:inverse_transform(s:transform(x)):allclose(x, 1e-5, 1e-5))
    local only_mean = data.StandardScaler{with_std = false}:fit_transform(x)
    assert.is_true(only_mean:allclose(x - x:mean(1)))
    local only_std = data.StandardScaler{with_mean = false}:fit_transform(x)
    assert.is_true(close(only_std[{2, 2}], 30 / s.scale[2]))
  end)
end)

describe('LabelEncoder', function()
  it('encodes to sorted 1-based ids and back; an unknown label is named', function()
    local enc = data.LabelEncoder()
    local ids = enc:fit_transform{'cat', 'dog', 'ant', 'dog'}
    assert.are.same({'ant', 'cat', 'dog'}, enc.classes)
    assert.are.same({2, 3, 1, 3}, ids:totable())
    assert.are.same({'dog', 'ant'}, enc:inverse_transform(brasa.tensor({3, 1}, {dtype = 'i64'})))
    expect_error(function() enc:transform{'cat', 'emu'} end, "unknown label 'emu'")
    expect_error(function() enc:inverse_transform{4} end, 'not in 1..3')
    expect_error(function() data.LabelEncoder():transform{'a'} end, 'fit first')
    expect_error(function() data.LabelEncoder():fit{'a', 1} end, 'mix')
    local nums = data.LabelEncoder():fit(brasa.tensor{10, 5, 10})
    assert.are.same({5, 10}, nums.classes)
  end)
end)

-- ---- safetensors ------------------------------------------------------------------------------

describe('safetensors', function()
  local function tensors()
    return {
      w32 = brasa.randn(3, 4),
      w64 = brasa.randn(2, 2, 2, {dtype = 'f64'}),
      half = brasa.randn(5, {dtype = 'f16'}),
      bhalf = brasa.randn(2, 3, {dtype = 'bf16'}),
      steps = brasa.tensor({1, -2, 2 ^ 40}, {dtype = 'i64'}),
      ids = brasa.tensor({{7, 8}}, {dtype = 'i32'}),
      pixels = brasa.tensor({0, 128, 255}, {dtype = 'u8'}),
      mask = brasa.tensor({true, false, true}),
      scalar = brasa.tensor(3.5),
      empty = brasa.zeros(0, 4),
      transposed = brasa.randn(3, 2):t(),
    }
  end

  it('round-trips several dtypes and shapes, with metadata', function()
    local path = tmpname('.safetensors')
    local ts = tensors()
    data.write_safetensors(path, ts, {format = 'pt', arch = '{"layers": ["Linear", "ReLU"]}'})
    local back, meta, names = data.read_safetensors(path)
    for k, t in pairs(ts) do
      assert.are.equal(t.dtype, back[k].dtype, k)
      assert.are.same(t.shape, back[k].shape, k)
      assert.is_true(t:equal(back[k]), k)
    end
    assert.are.same({format = 'pt', arch = '{"layers": ["Linear", "ReLU"]}'}, meta)
    local sorted = {}
    for k in pairs(ts) do sorted[#sorted + 1] = k end
    table.sort(sorted)
    assert.are.same(sorted, names)
    -- The list form keeps its order; the header length is a multiple of 8.
    data.write_safetensors(path, {{'z', brasa.ones(1)}, {'a', brasa.ones(2)}})
    local _, _, order = data.read_safetensors(path)
    assert.are.same({'z', 'a'}, order)
    local raw = readall(path)
    assert.are.equal(0, string.unpack('<I8', raw) % 8)
  end)

  it('raises clear errors for bad arguments and corrupt files', function()
    local path = tmpname('.safetensors')
    expect_error(function() data.write_safetensors(path, {w = brasa.ones(1)}, {n = 1}) end, 'strings')
    expect_error(function() data.write_safetensors(path, {[1] = 'x'}) end, 'write_safetensors')
    data.write_safetensors(path, {w = brasa.ones(4)})
    local raw = readall(path)
    write(path, raw:sub(1, #raw - 3))
    expect_error(function() data.read_safetensors(path) end, 'read_safetensors', path, 'past the end')
    write(path, raw:sub(1, 8) .. raw:sub(9):gsub('F32', 'Q32', 1))
    expect_error(function() data.read_safetensors(path) end, "unknown dtype 'Q32'")
  end)

  it('leaves the previous file intact when a write fails or is killed', function()
    local path = tmpname('.safetensors')
    data.write_safetensors(path, {w = brasa.arange(1, 4):float()})
    local before = readall(path)
    -- a write that cannot start
    expect_error(function() data.write_safetensors('/no/such/dir/m.safetensors', {w = brasa.ones(1)}) end,
                 'cannot create a temporary file')
    -- the target is a directory: the rename fails
    local dir = tmpname('.dir')
    os.execute('mkdir ' .. dir)
    expect_error(function() data.write_safetensors(dir, {w = brasa.ones(1)}) end, 'cannot replace')
    os.execute('rmdir ' .. dir)
    -- a process killed mid-write (file size limit: SIGXFSZ) while replacing path
    local script = tmpname('.lua')
    write(script, ("package.path = %q; package.cpath = %q; local brasa = require 'brasa'\n" ..
                   "brasa.data.write_safetensors(%q, {w = brasa.zeros(1000000)})\n")
                  :format(package.path, package.cpath, path))
    local ok, how = os.execute("sh -c 'ulimit -f 64; exec lua5.4 " .. script .. "' 2>/dev/null")
    assert.is_falsy(ok)
    assert.are.equal(before, readall(path))
    assert.is_true(data.read_safetensors(path).w:equal(brasa.arange(1, 4):float()))
    local p = io.popen('ls -a "' .. path:match('^(.*)/') .. '"')
    local leftover = p:read('a'):match('%.' .. path:match('[^/]+$'):gsub('%p', '%%%0') .. '%.tmp%-%w+')
    p:close()
    if leftover then os.remove(path:match('^(.*)/') .. '/' .. leftover) end
    assert.is_truthy(how)
  end)
end)

-- ---- fashion-mnist ------------------------------------------------------------------------------

describe('fashion_mnist', function()
  if not HAVE_FASHION then
    pending('needs the Debian package dataset-fashion-mnist')
    return
  end
  it('loads the first examples as N x 1 x 28 x 28 in [0, 1] with classes 1..10', function()
    local train, test = data.fashion_mnist{n_train = 200, n_test = 50}
    assert.are.same({200, 1, 28, 28}, train.x.shape)
    assert.is_true(train.x:min():item() >= 0 and train.x:max():item() <= 1)
    assert.are.same({50}, test.y.shape)
    assert.is_true(test.y:min():item() >= 1 and test.y:max():item() <= 10)
  end)
end)

-- ---- documentation --------------------------------------------------------------------------------

describe('brasa.data documentation', function()
  local NEEDS = {   -- examples reading a data package
    ['brasa.data.iris'] = SKLEARN_MSG, ['brasa.data.wine'] = SKLEARN_MSG,
    ['brasa.data.breast_cancer'] = SKLEARN_MSG, ['brasa.data.digits'] = SKLEARN_MSG,
    ['brasa.data.fann'] = FANN_MSG, ['brasa.data.fashion_mnist'] = 'needs dataset-fashion-mnist',
  }
  local AVAILABLE = {[SKLEARN_MSG] = HAVE_SKLEARN, [FANN_MSG] = HAVE_FANN,
                     ['needs dataset-fashion-mnist'] = HAVE_FASHION}

  local function entries()
    local es = {}
    for _, name in ipairs(doc.names()) do
      if name:match('^brasa%.data%.') or name:match('^DataLoader:') or name:match('^MinMaxScaler:')
         or name:match('^StandardScaler:') or name:match('^LabelEncoder:') then
        es[#es + 1] = doc.get(name)
      end
    end
    return es
  end

  it('has an entry for every public function, bound to it', function()
    local missing = {}
    for k, v in pairs(data) do
      if type(v) == 'function' and k:sub(1, 1) ~= '_' then
        local e = doc.get('brasa.data.' .. k)
        -- (one function under two names, one_hot and to_categorical, is bound to one of them)
        if not e or not doc.get(v) then missing[#missing + 1] = k end
      end
    end
    table.sort(missing)
    assert(#missing == 0, 'without a bound entry: ' .. table.concat(missing, ', '))
    for _, m in ipairs {'fit', 'transform', 'fit_transform', 'inverse_transform'} do
      assert.is_truthy(doc.get(data.MinMaxScaler()[m]))
      assert.is_truthy(doc.get(data.LabelEncoder()[m]))
    end
    assert.is_truthy(doc.get(data.DataLoader({x = brasa.zeros(1, 1)}, {seed = 1}).iter))
  end)

  for _, e in ipairs(entries()) do
    local need = NEEDS[e.name]
    if need and not AVAILABLE[need] then
      pending(e.name .. ' example: ' .. need)
    else
      it('runs the example of ' .. e.name .. ' and shows what it prints', function()
        local ok, err, printed = examples.run(e, {brasa = brasa})
        assert(ok, tostring(err))
        local wrong = examples.compare(e, printed, {})
        assert(#wrong == 0, table.concat(wrong, '\n'))
      end)
    end
  end
end)

-- ---- bad input: every function raises a string, never crashes ------------------------------------

describe('bad input to brasa.data', function()
  it('gives error messages for nonsense arguments', function()
    local junk = {{}, {nil}, {42}, {'/no/such/file'}, {brasa.zeros(2)}, {{x = 1}}, {true, false}}
    local problems = {}
    for k, f in pairs(data) do
      if type(f) == 'function' and k ~= 'sklearn_dirs' and k ~= 'fann_names' and k ~= 'is_dataset'
         and k ~= 'is_loader' and k ~= 'fashion_mnist' and k:sub(1, 1) ~= '_' then
        for _, args in ipairs(junk) do
          local ok, err = pcall(f, table.unpack(args, 1, 2))
          if not ok and type(err) ~= 'string' then
            problems[#problems + 1] = k .. ' raised a ' .. type(err)
          end
        end
      end
    end
    assert(#problems == 0, table.concat(problems, '\n'))
  end)
end)
