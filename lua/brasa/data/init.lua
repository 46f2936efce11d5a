-- brasa.data: data sets and the readers behind them.
--
--   local train, test = brasa.data.fashion_mnist()
--   -- train.x: N x 1 x 28 x 28 f32 in [0, 1]; train.y: i64 classes 1..10;
--   -- train.classes: the class names
--   local iris = brasa.data.iris()            -- {x = 150 x 4 f32, y = 1..3, classes, feature_names}
--   local tr, te = brasa.data.train_test_split(iris, {test_size = 0.2, seed = 1, stratify = true})
--   local loader = brasa.data.DataLoader(tr, {batch_size = 16, shuffle = true, seed = 1})
--   for xb, yb in loader:iter() do ... end
--
-- The readers (CSV, safetensors, text files of numbers) and the loader's
-- background batch gathering are C (core/io/, lua/ldata.c); this file and
-- its neighbours (loader.lua: datasets and loaders; preprocess.lua: splits,
-- scalers, encoders) build the API on them. Documentation:
-- lua/brasa/docs/data.lua (help(brasa.data.read_csv) in the REPL).

local core = require 'brasa.core'
local C = core._data

local data = {}

-- Calls a C reader; its error is raised again at the level of the caller
-- of the function calling this one (pcall keeps the C error free of a
-- position, error(msg, 3) gives the user's).
local function checked(fn, ...)
  local r = table.pack(pcall(fn, ...))
  if not r[1] then error(r[2], 3) end
  return table.unpack(r, 2, r.n)
end

local FASHION_DIR = '/usr/share/datasets/fashion-mnist'
local FASHION_CLASSES = {
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
  'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
}

--- Reads an IDX file (the MNIST family), gzipped or not, into a tensor.
data.read_idx = core.read_idx

local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() end
  return f ~= nil
end

-- One split of an MNIST-style set: x scaled to [0, 1] as N x 1 x H x W f32,
-- y as 1-based i64 classes.
local function mnist_split(dir, prefix, classes, limit)
  local images = core.read_idx(dir .. '/' .. prefix .. '-images-idx3-ubyte.gz')
  local labels = core.read_idx(dir .. '/' .. prefix .. '-labels-idx1-ubyte.gz')
  if limit and limit < images.shape[1] then
    images = images:narrow(1, 1, limit)
    labels = labels:narrow(1, 1, limit)
  end
  local n, h, w = images.shape[1], images.shape[2], images.shape[3]
  local x = images:float():reshape(n, 1, h, w)
  x:div_(255)   -- in place: no second copy of the images at load time
  local y = labels:long() + 1
  return {x = x, y = y, classes = classes}
end

--- brasa.data.fashion_mnist(opts?) -> train, test
-- opts.n_train / opts.n_test keep the first n examples (fast lessons and tests).
function data.fashion_mnist(opts)
  opts = opts or {}
  local dir = opts.dir or FASHION_DIR
  if not exists(dir .. '/train-images-idx3-ubyte.gz') then
    error('fashion_mnist: ' .. dir .. ' not found: install the Debian package dataset-fashion-mnist '
          .. '(sudo apt-get install dataset-fashion-mnist, or run tools/setup.sh)', 2)
  end
  return mnist_split(dir, 'train', FASHION_CLASSES, opts.n_train),
         mnist_split(dir, 't10k', FASHION_CLASSES, opts.n_test)
end

---------------------------------------------------------------------------
-- CSV
---------------------------------------------------------------------------

-- Adds x (the numeric columns side by side), x_names, and y / classes when
-- opts.target names a column.
local function csv_result(r, opts)
  local brasa = require 'brasa'
  local target = opts.target
  if target ~= nil then
    if type(target) == 'number' then target = r.names[target] end
    if r.columns[target] == nil then
      error(("read_csv: no column '%s' to use as the target (columns: %s)"):format(
        tostring(opts.target), table.concat(r.names, ', ')), 3)
    end
    local col = r.columns[target]
    if r.kinds[target] == 'string' then
      local enc = data.LabelEncoder()
      r.y = enc:fit_transform(col)
      r.classes = enc.classes
    else
      r.y = col
    end
    r.target = target
  end
  local cols, names = {}, {}
  for _, name in ipairs(r.names) do
    if r.kinds[name] == 'number' and name ~= r.target then
      cols[#cols + 1] = r.columns[name]
      names[#names + 1] = name
    end
  end
  r.x_names = names
  if #cols > 0 then
    r.x = brasa.stack(cols, 2)
  end
  return r
end

--- brasa.data.read_csv(path, opts?) -> {names, columns, kinds, x, x_names, nrows, ...}
function data.read_csv(path, opts)
  if type(path) ~= 'string' then error('read_csv: a path (a string) expected', 2) end
  opts = opts or {}
  return csv_result(checked(C.read_csv, path, opts), opts)
end

--- brasa.data.parse_csv(text, opts?): read_csv on text in memory.
function data.parse_csv(text, opts)
  if type(text) ~= 'string' then error('parse_csv: the CSV text (a string) expected', 2) end
  opts = opts or {}
  return csv_result(checked(C.parse_csv, text, opts), opts)
end

--- brasa.data.read_numbers(path) -> 1-D f64 tensor of all the numbers of a text file.
function data.read_numbers(path)
  return checked(C.read_numbers, path)
end

---------------------------------------------------------------------------
-- safetensors
---------------------------------------------------------------------------

--- brasa.data.read_safetensors(path) -> tensors (name -> tensor), metadata, names
function data.read_safetensors(path)
  return checked(C.read_safetensors, path)
end

--- brasa.data.write_safetensors(path, tensors, metadata?)
-- tensors: name -> tensor (written in sorted name order), or a list of
-- {name, tensor} pairs (written in that order).
function data.write_safetensors(path, tensors, metadata)
  if type(path) ~= 'string' then error('write_safetensors: a path (a string) expected', 2) end
  if type(tensors) ~= 'table' then error('write_safetensors: a table of tensors expected', 2) end
  local names, list = {}, {}
  if #tensors > 0 then
    for i, pair in ipairs(tensors) do
      if type(pair) ~= 'table' or type(pair[1]) ~= 'string' then
        error(('write_safetensors: entry %d must be {name, tensor}'):format(i), 2)
      end
      names[i], list[i] = pair[1], pair[2]
    end
  else
    for k in pairs(tensors) do
      if type(k) ~= 'string' then
        error('write_safetensors: tensor names must be strings, got a ' .. type(k), 2)
      end
      names[#names + 1] = k
    end
    table.sort(names)
    for i, k in ipairs(names) do list[i] = tensors[k] end
  end
  for i, t in ipairs(list) do
    if type(t) == 'userdata' and t.device and t.device ~= 'cpu' then list[i] = t:to('cpu') end
  end
  if metadata ~= nil and type(metadata) ~= 'table' then
    error('write_safetensors: metadata must be a table of strings', 2)
  end
  checked(C.write_safetensors, path, names, list, metadata)
end

---------------------------------------------------------------------------
-- Small real data sets: scikit-learn's CSV files and FANN's text files
---------------------------------------------------------------------------

-- Where this file lives: the project root is three directories up
-- (lua/brasa/data/init.lua) when brasa runs from its source tree.
local function project_root()
  local src = debug.getinfo(1, 'S').source
  if src:sub(1, 1) ~= '@' then return nil end
  local path = src:sub(2)
  if path:sub(1, 1) ~= '/' then path = (os.getenv('PWD') or '.') .. '/' .. path end
  return (path:match('^(.*)/lua/brasa/data/init%.lua$'))
end

--- The directories searched for scikit-learn's data files, in order.
function data.sklearn_dirs()
  local dirs = {}
  local function add(d) if d and d ~= '' then dirs[#dirs + 1] = d end end
  add(os.getenv('BRASA_SKLEARN_DATA'))
  local base = os.getenv('BRASA_DATA_DIR')
  if base then add(base .. '/sklearn') end
  local root = project_root()
  if root then add(root .. '/build/datasets/sklearn') end
  local home = os.getenv('XDG_DATA_HOME') or (os.getenv('HOME') and os.getenv('HOME') .. '/.local/share')
  if home then add(home .. '/brasa/datasets/sklearn') end
  add('/var/cache/brasa/sklearn')
  add('/usr/lib/python3/dist-packages/sklearn/datasets/data')   -- python3-sklearn installed
  return dirs
end

local SKLEARN_HELP = 'scikit-learn\'s data files were not found (looked for %s in: %s). They come ' ..
  'from the Debian package python3-sklearn: run tools/setup.sh, or by hand: apt-get download ' ..
  'python3-sklearn && dpkg -x python3-sklearn_*.deb /tmp/skl && mkdir -p build/datasets/sklearn && ' ..
  'cp /tmp/skl/usr/lib/python3/dist-packages/sklearn/datasets/data/* build/datasets/sklearn/ ' ..
  '(or set BRASA_SKLEARN_DATA to a directory holding them, or pass opts.path)'

local function sklearn_file(name, opts, fn)
  if opts.path then return opts.path end
  local dirs = opts.dir and {opts.dir} or data.sklearn_dirs()
  for _, d in ipairs(dirs) do
    if exists(d .. '/' .. name) then return d .. '/' .. name end
  end
  error(fn .. ': ' .. SKLEARN_HELP:format(name, table.concat(dirs, ', ')), 3)
end

-- A scikit-learn CSV: first line "n,n_features,class names...", then rows
-- of features and a 0-based class last.
local function sklearn_csv(file, fn, opts, feature_names)
  local path = sklearn_file(file, opts, fn)
  local f = assert(io.open(path, 'rb'))
  local first = f:read('l') or ''
  f:close()
  local fields = {}
  for s in (first:gsub('\r$', '') .. ','):gmatch('([^,]*),') do fields[#fields + 1] = s end
  local n, nf = tonumber(fields[1]), tonumber(fields[2])
  if not n or not nf then
    error(('%s: %s does not start with the line "n,n_features,class names" of scikit-learn\'s files')
          :format(fn, path), 3)
  end
  local classes = {table.unpack(fields, 3)}
  local r = C.read_csv(path, {header = false, skip = 1, dtype = opts.dtype or 'f32'})
  if r.nrows ~= n or #r.names ~= nf + 1 then
    error(('%s: %s: the first line announces %d rows of %d features, the file has %d rows of %d columns')
          :format(fn, path, n, nf, r.nrows, #r.names), 3)
  end
  return r, classes, path
end

-- {x, y, classes, feature_names} from a table read with the label last.
local function features_and_labels(r, fn, path, classes, feature_names)
  local brasa = require 'brasa'
  local nf = #r.names - 1
  local cols = {}
  for j = 1, nf do
    if r.kinds[r.names[j]] ~= 'number' then
      error(('%s: %s: column %d is not numeric'):format(fn, path, j), 3)
    end
    cols[j] = r.columns[j]
  end
  local label = r.columns[nf + 1]
  if type(label) == 'table' then error(('%s: %s: the label column is not numeric'):format(fn, path), 3) end
  local y = label:long() + 1
  local k = classes and #classes or y:max():item()
  if y:min():item() < 1 or y:max():item() > k then
    error(('%s: %s: labels outside 0..%d'):format(fn, path, k - 1), 3)
  end
  if not classes then
    classes = {}
    for c = 1, k do classes[c] = tostring(c - 1) end
  end
  return {x = brasa.stack(cols, 2), y = y, classes = classes, feature_names = feature_names}
end

local IRIS_FEATURES = {'sepal length (cm)', 'sepal width (cm)', 'petal length (cm)', 'petal width (cm)'}
local WINE_FEATURES = {
  'alcohol', 'malic_acid', 'ash', 'alcalinity_of_ash', 'magnesium', 'total_phenols', 'flavanoids',
  'nonflavanoid_phenols', 'proanthocyanins', 'color_intensity', 'hue',
  'od280/od315_of_diluted_wines', 'proline',
}
local CANCER_FEATURES = {}
for _, group in ipairs {'mean', 'error', 'worst'} do
  for _, f in ipairs {'radius', 'texture', 'perimeter', 'area', 'smoothness', 'compactness',
                      'concavity', 'concave points', 'symmetry', 'fractal dimension'} do
    CANCER_FEATURES[#CANCER_FEATURES + 1] = group == 'mean' and 'mean ' .. f
      or group == 'error' and f .. ' error' or 'worst ' .. f
  end
end

local function sklearn_loader(file, fn, features)
  return function(opts)
    if type(opts) == 'string' then opts = {path = opts} end
    opts = opts or {}
    local r, classes, path = sklearn_csv(file, fn, opts)
    return features_and_labels(r, fn, path, classes, features)
  end
end

--- brasa.data.iris(opts?), wine(opts?), breast_cancer(opts?) ->
-- {x = N x F f32, y = i64 1..K, classes, feature_names}
data.iris = sklearn_loader('iris.csv', 'iris', IRIS_FEATURES)
data.wine = sklearn_loader('wine_data.csv', 'wine', WINE_FEATURES)
data.breast_cancer = sklearn_loader('breast_cancer.csv', 'breast_cancer', CANCER_FEATURES)

--- brasa.data.digits(opts?) -> {x = 1797 x 64 f32 (0..16), y = 1..10, classes = '0'..'9',
-- feature_names, images = 1797 x 8 x 8 (a view of x)}
function data.digits(opts)
  if type(opts) == 'string' then opts = {path = opts} end
  opts = opts or {}
  local path = sklearn_file('digits.csv.gz', opts, 'digits')
  local r = C.read_csv(path, {header = false, dtype = opts.dtype or 'f32'})
  if #r.names ~= 65 then
    error(('digits: %s: %d columns, expected 64 pixels and a label'):format(path, #r.names), 2)
  end
  local names = {}
  for i = 0, 7 do for j = 0, 7 do names[#names + 1] = ('pixel_%d_%d'):format(i, j) end end
  local classes = {}
  for c = 0, 9 do classes[c + 1] = tostring(c) end
  local set = features_and_labels(r, 'digits', path, classes, names)
  set.images = set.x:view(r.nrows, 8, 8)
  return set
end

local FANN_DIR = '/usr/share/doc/libfann-dev/examples/datasets'

--- The directory of the FANN data sets (Debian package libfann-doc).
data.fann_dir = FANN_DIR

--- brasa.data.from_one_hot(y) -> i64 classes 1..K: the inverse of one_hot.
-- y is N x K (the class is the column of the largest value) or N x 1 / N
-- (binary targets: class 2 where y is above the middle of its range).
function data.from_one_hot(y)
  local brasa = require 'brasa'
  if not brasa.is_tensor(y) then error('from_one_hot: a tensor expected', 2) end
  if y.ndim == 2 and y.shape[2] > 1 then return y:argmax(2) end
  local v = y.ndim == 2 and y:select(2, 1) or y
  if v.ndim ~= 1 then error('from_one_hot: N x K, N x 1 or N targets expected, got a ' ..
                            #y.shape .. '-dim tensor', 2) end
  local lo, hi = v:min():item(), v:max():item()
  return (v:gt((lo + hi) / 2)):long() + 1
end

-- One FANN file: "N n_in n_out", then N pairs of lines (inputs, targets).
local function fann_file(path, fn, dtype)
  if not exists(path) then
    error(('%s: %s not found: FANN\'s data sets come with the Debian package libfann-doc ' ..
           '(sudo apt-get install libfann-doc, or run tools/setup.sh)'):format(fn, path), 3)
  end
  local v = C.read_numbers(path)
  local total = v.shape[1]
  if total < 3 then error(('%s: %s: no "N n_in n_out" header'):format(fn, path), 3) end
  local n, nin, nout = v[1], v[2], v[3]
  if n ~= math.floor(n) or nin ~= math.floor(nin) or nout ~= math.floor(nout) or n < 0 or nin < 1 or nout < 1 then
    error(('%s: %s: the header "%s %s %s" is not "N n_in n_out"'):format(fn, path, v[1], v[2], v[3]), 3)
  end
  n, nin, nout = math.tointeger(n), math.tointeger(nin), math.tointeger(nout)
  if total - 3 ~= n * (nin + nout) then
    error(('%s: %s: %d numbers after the header, %d x (%d + %d) = %d expected (a truncated file?)')
          :format(fn, path, total - 3, n, nin, nout, n * (nin + nout)), 3)
  end
  local rows = v:narrow(1, 4, total - 3):view(n, nin + nout):to(dtype or 'f32')
  local set = {x = rows:narrow(2, 1, nin):contiguous(), y = rows:narrow(2, nin + 1, nout):contiguous(),
               n_in = nin, n_out = nout, path = path}
  return set
end

-- Targets that are one-hot rows (or one 0/1 or -1/1 output) also as classes.
local function add_labels(set)
  local y = set.y
  local lo, hi = y:min():item(), y:max():item()
  local two = ((y:eq(lo)):logical_or(y:eq(hi))):all():item()
  if not two or lo == hi then return set end
  if set.n_out == 1 or (y:eq(hi):long():sum(2):eq(1)):all():item() then
    set.labels = data.from_one_hot(y)
  end
  return set
end

--- brasa.data.fann(name_or_path, opts?) -> train, test (a name) | set (a path)
function data.fann(what, opts)
  opts = opts or {}
  if type(what) ~= 'string' then error('fann: a data set name (e.g. "thyroid") or a path expected', 2) end
  if what:find('/', 1, true) or what:match('%.train$') or what:match('%.test$') or what:match('%.data$') then
    return add_labels(fann_file(what, 'fann', opts.dtype))
  end
  local dir = opts.dir or FANN_DIR
  return add_labels(fann_file(dir .. '/' .. what .. '.train', 'fann', opts.dtype)),
         add_labels(fann_file(dir .. '/' .. what .. '.test', 'fann', opts.dtype))
end

--- The names of the FANN data sets found in opts.dir or the default directory.
function data.fann_names(dir)
  dir = dir or FANN_DIR
  local names = {}
  local p = io.popen('ls "' .. dir:gsub('"', '\\"') .. '" 2>/dev/null')
  if p then
    for line in p:lines() do
      local base = line:match('^(.*)%.train$')
      if base then names[#names + 1] = base end
    end
    p:close()
  end
  table.sort(names)
  return names
end

-- Data sets, loaders, preprocessing: in their own files, merged here.
for _, part in ipairs {'brasa.data.loader', 'brasa.data.preprocess'} do
  for k, v in pairs(require(part)) do data[k] = v end
end

data.fortunes = require('brasa.data.fortunes').fortunes   -- the Debian fortune files (text)

require('brasa.docs.data').bind(data)

return data
