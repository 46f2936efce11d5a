-- brasa.docs.data: help entries of brasa.data (brasa.doc).
--
-- Loaded with the other documentation when brasa starts; the functions are
-- bound to their entries when brasa.data itself loads (M.bind, called at
-- the end of lua/brasa/data/init.lua), so starting brasa does not load the
-- data module. Examples follow docs/tensor.lua's conventions (`print(expr)
-- --> shown`); tests/lua/data_spec.lua runs every one of them (those that
-- read a data package are skipped, naming it, where it is absent).

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {name, sig, summary, text = text, example = example, see = see}
end

---------------------------------------------------------------------------
-- Readers
---------------------------------------------------------------------------

entry('brasa.data.read_csv', 'brasa.data.read_csv(path, opts?) -> table',
  'Reads a CSV file (plain or gzip): numeric columns as tensors, text columns as lists of strings.',
  [=[
The result: names (the column names, in order), columns (name -> a 1-D
tensor for a numeric column or a list of strings for a text one; columns[j]
by position too), kinds (name -> 'number' or 'string'), nrows, x (the
numeric columns side by side: N x k, opts.dtype) with x_names, missing
(name -> how many values were missing), dropped_lines.

A column is numeric when every value that is not missing is a number (a
decimal, with or without exponent, inf or nan); otherwise it is text.
Fields may be quoted ("a, b", with "" for a quote inside and line breaks
allowed); spaces around fields are dropped; \n and \r\n line ends, blank
lines skipped, a UTF-8 byte-order mark skipped. Files ending in .gz, or any
gzip file, are decompressed as they are read.

opts: header (true: the first line names the columns; false: V1, V2, ...),
sep (','), skip (lines to skip before anything), dtype ('f32': of numeric
columns; a float dtype), columns (a list of names or 1-based numbers: only
those, in that order), target (a column name or number: it becomes y, label-
encoded into 1-based classes with classes = names when it is text, and it is
left out of x), missing ('error', the default: a missing value raises an
error naming its line and column; 'nan': NaN in numeric columns, '' in text
ones; 'drop': rows with a missing value are left out and their line numbers
listed in dropped_lines), na_values (the strings that mean missing; default
'', NA, N/A, NaN, nan, null, NULL, ?; a quoted field is never missing).

Errors name the file and the line: a row with more or fewer fields than the
first (a ragged or truncated file), a quote that never closes, a quote in
the middle of an unquoted field, a character after a closing quote, a NUL
byte (a binary file).]=],
  [=[
local path = os.tmpname()
local f = assert(io.open(path, 'w'))
f:write('sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,NA,virginica\n')
f:close()
local t = brasa.data.read_csv(path, {missing = 'drop', target = 'species'})
os.remove(path)
print(t.nrows, t.dropped_lines[1], table.concat(t.x_names, ' '))  --> 2 4 sepal petal
print(t.x)  --> [[5.1000, 1.4000], [7.0000, 4.7000]]
print(t.y, t.classes[2])  --> [1, 2] versicolor]=], 'brasa.data.parse_csv')

entry('brasa.data.parse_csv', 'brasa.data.parse_csv(text, opts?) -> table',
  'read_csv on CSV text held in a Lua string.',
  'The same options and result as brasa.data.read_csv; errors name the source as (text).',
  [=[
local t = brasa.data.parse_csv('city,temp\n"Lima, PE",19.5\nOslo,-3\n')
print(t.columns.city[1], t.kinds.city, t.kinds.temp)  --> Lima, PE string number
print(t.columns.temp)  --> [19.5000, -3.0000]
print(select(2, pcall(brasa.data.parse_csv, 'a,b\n1,2\n3\n')))
--> read_csv: (text): line 3: 1 field where line 1 has 2 (a ragged row or a truncated file)]=],
  'brasa.data.read_csv')

entry('brasa.data.read_numbers', 'brasa.data.read_numbers(path) -> tensor',
  'All the numbers of a text file separated by white space, as a 1-D f64 tensor.',
  'Plain or gzip. A token that is not a number raises an error naming its line. brasa.data.fann uses it.',
  [=[
local path = os.tmpname()
local f = assert(io.open(path, 'w'))
f:write('2 1 1\n0.5\n1\n-0.5\n0\n')
f:close()
print(brasa.data.read_numbers(path))  --> [2.0000, 1.0000, 1.0000, 0.5000, 1.0000, -0.5000, 0.0000]
os.remove(path)]=])

entry('brasa.data.read_idx', 'brasa.data.read_idx(path) -> tensor',
  'Reads a tensor from an IDX file (the MNIST format), plain or gzip-compressed.',
  [=[
The same function as brasa.read_idx. A header announcing more data than the
file holds, a bad magic number, an unknown element type or absurd sizes
raise an error naming the path (before any memory is taken for the data).]=],
  [=[
local path = os.tmpname()
local f = assert(io.open(path, 'wb'))
f:write(string.char(0, 0, 0x08, 1), string.pack('>i4', 3), string.char(7, 8, 9))
f:close()
print(brasa.data.read_idx(path))  --> [7, 8, 9]
os.remove(path)]=], 'brasa.read_idx')

entry('brasa.data.read_safetensors', 'brasa.data.read_safetensors(path) -> tensors, metadata, names',
  'Reads a safetensors file: a table name -> tensor, the metadata strings, and the names in file order.',
  [=[
The format (Hugging Face's, read by PyTorch, JAX, ...): an 8-byte length,
a JSON header giving each tensor's dtype, shape and byte range, then the
data. Dtypes F32 F64 F16 BF16 I64 I32 U8 BOOL are read; others raise an
error naming them. The header is checked strictly: malformed JSON, unknown
fields, byte ranges that overlap, leave holes, do not match the shape or go
past the end of the file all raise an error naming the file and the
problem. Nothing in the file is ever executed.]=],
  [=[
local path = os.tmpname()
brasa.data.write_safetensors(path, {w = brasa.eye(2), steps = brasa.tensor({10}, {dtype = 'i64'})},
                             {note = 'hello'})
local t, meta, names = brasa.data.read_safetensors(path)
os.remove(path)
print(t.w, t.steps.dtype, meta.note, table.concat(names, ','))  --> [[1., 0.], [0., 1.]] i64 hello steps,w]=],
  'brasa.data.write_safetensors')

entry('brasa.data.write_safetensors', 'brasa.data.write_safetensors(path, tensors, metadata?)',
  'Writes tensors (and string metadata) to a safetensors file, atomically.',
  [=[
tensors is a table name -> tensor (written in sorted name order) or a list
of {name, tensor} pairs (written in that order); metadata a table of
strings (the format stores nothing else: encode other values, e.g. as
JSON). Tensors on a GPU are copied to the CPU; non-contiguous ones are
written in C order.

The file is written to a temporary file in the same directory, synced,
then renamed over path: a failed write (disk full, no permission) raises an
error and leaves any previous file at path untouched, and so does a process
killed while writing (its temporary file, named .NAME.tmp-XXXXXX, stays).]=],
  [=[
local path = os.tmpname()
brasa.data.write_safetensors(path, {{'layer1.weight', brasa.ones(2, 3)}, {'layer1.bias', brasa.zeros(2)}})
local _, _, names = brasa.data.read_safetensors(path)
print(names[1], names[2])  --> layer1.weight layer1.bias
print(pcall(brasa.data.write_safetensors, '/no/such/dir/m.safetensors', {w = brasa.ones(1)}))
os.remove(path)]=], 'brasa.data.read_safetensors')

---------------------------------------------------------------------------
-- Data sets
---------------------------------------------------------------------------

entry('brasa.data.fashion_mnist', 'brasa.data.fashion_mnist(opts?) -> train, test',
  'Fashion-MNIST: 60,000 + 10,000 grey 28x28 images of clothes in 10 classes.',
  [=[
Each split is {x = N x 1 x 28 x 28 f32 in [0, 1], y = i64 classes 1..10,
classes = the 10 names}. opts.n_train and opts.n_test keep the first n
examples; opts.dir reads another copy. The files come with the Debian
package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), installed
by tools/setup.sh; without it the error names the package.]=],
  [=[
local train, test = brasa.data.fashion_mnist{n_train = 100, n_test = 10}
print(train.x.shape[1], train.x.shape[4], test.y.dtype, train.classes[1])  --> 100 28 i64 T-shirt/top]=])

local SKLEARN = [=[
Read from scikit-learn's own data files (the Debian package python3-sklearn,
unpacked by tools/setup.sh without installing it; see brasa.data.sklearn_dirs
for where they are looked for). opts may be a path to the file, or a table
with path, dir or dtype ('f32'). y holds 1-based classes (scikit-learn's
class 0 is 1 here), classes their names, feature_names the column names.]=]

entry('brasa.data.iris', 'brasa.data.iris(opts?) -> {x, y, classes, feature_names}',
  'Fisher\'s iris flowers: 150 x 4 measurements, 3 species.', SKLEARN,
  [=[
local iris = brasa.data.iris()
print(iris.x[1], iris.y[1], iris.classes[3])  --> [5.1000, 3.5000, 1.4000, 0.2000] 1 virginica
print(iris.feature_names[1])  --> sepal length (cm)]=])

entry('brasa.data.wine', 'brasa.data.wine(opts?) -> {x, y, classes, feature_names}',
  'Wine recognition: 178 x 13 chemical measurements, 3 cultivars.', SKLEARN,
  [=[
local wine = brasa.data.wine()
print(wine.x.shape[1], wine.x.shape[2], wine.x[{1, 13}], wine.classes[1])  --> 178 13 1065.0 class_0]=])

entry('brasa.data.breast_cancer', 'brasa.data.breast_cancer(opts?) -> {x, y, classes, feature_names}',
  'Breast cancer Wisconsin (diagnostic): 569 x 30 features, malignant or benign.', SKLEARN,
  [=[
local bc = brasa.data.breast_cancer()
print(bc.x.shape[2], bc.classes[1], bc.classes[2], bc.y:eq(1):sum())  --> 30 malignant benign 212]=])

entry('brasa.data.digits', 'brasa.data.digits(opts?) -> {x, y, classes, feature_names, images}',
  'Hand-written digits: 1,797 images of 8 x 8 pixels (values 0..16), 10 classes.',
  SKLEARN .. [=[

x is 1797 x 64 (unscaled: divide by 16 or use MinMaxScaler); images is x
viewed as 1797 x 8 x 8; classes are '0'..'9' (digit d has class d + 1).
The file is gzipped and read directly.]=],
  [=[
local d = brasa.data.digits()
print(d.x.shape[1], d.images.shape[2], d.x:max(), d.y[1], d.classes[d.y[1]])  --> 1797 8 16. 1 0]=])

entry('brasa.data.sklearn_dirs', 'brasa.data.sklearn_dirs() -> {directories}',
  'Where scikit-learn\'s data files are looked for, in order.',
  [=[
$BRASA_SKLEARN_DATA; $BRASA_DATA_DIR/sklearn; build/datasets/sklearn in the
project brasa runs from (where tools/setup.sh puts them, no root needed);
$XDG_DATA_HOME (or ~/.local/share)/brasa/datasets/sklearn;
/var/cache/brasa/sklearn; and python3-sklearn's own directory when that
package is installed (/usr/lib/python3/dist-packages/sklearn/datasets/data).]=],
  [=[
local dirs = brasa.data.sklearn_dirs()
print(dirs[#dirs])  --> /usr/lib/python3/dist-packages/sklearn/datasets/data]=])

entry('brasa.data.fann', 'brasa.data.fann(name_or_path, opts?) -> train, test | set',
  'The FANN library\'s data sets (thyroid, mushroom, soybean, two-spiral, ...): {x, y, labels?}.',
  [=[
A name ('thyroid') reads NAME.train and NAME.test from brasa.data.fann_dir
(the Debian package libfann-doc) and returns both; a path (with a / or
ending in .train, .test, .data) returns that one set. The format: a line
"N n_in n_out", then for each example a line of inputs and a line of
targets. Each set is {x = N x n_in, y = N x n_out (opts.dtype, 'f32'),
n_in, n_out, path}, plus labels (i64 classes 1..K) when the targets are
one-hot rows or a single two-valued output (then class 2 is the high one).
A count of numbers that does not fit the header raises an error.]=],
  [=[
local train, test = brasa.data.fann('thyroid')
print(train.x.shape[1], train.x.shape[2], train.y.shape[2], train.labels[1])  --> 3600 21 3 3
print(#brasa.data.fann_names() >= 10)  --> true]=])

entry('brasa.data.fann_names', 'brasa.data.fann_names(dir?) -> {names}',
  'The names of the FANN data sets found (files NAME.train), sorted.',
  'dir defaults to brasa.data.fann_dir; an empty list when it does not exist.',
  [=[
print(#brasa.data.fann_names('/no/such/dir'))  --> 0]=])

entry('brasa.data.from_one_hot', 'brasa.data.from_one_hot(y) -> i64 classes',
  'Classes 1..K from one-hot (or score) rows: the column of each row\'s largest value.',
  [=[
The inverse of brasa.data.one_hot. y is N x K; N x 1 or N targets with two
values (0/1, -1/1) give class 2 where y is above the middle of its range.]=],
  [=[
print(brasa.data.from_one_hot(brasa.tensor{{0, 1, 0}, {1, 0, 0}}))  --> [2, 1]
print(brasa.data.from_one_hot(brasa.tensor{-1, 1, 1}))  --> [1, 2, 2]]=], 'brasa.data.one_hot')

---------------------------------------------------------------------------
-- Datasets and loaders
---------------------------------------------------------------------------

entry('brasa.data.TensorDataset', 'brasa.data.TensorDataset(x, y, ...) | TensorDataset{x =, y =}',
  'A data set of the rows of tensors that share their first size.',
  [=[
ds.len() is the number of rows, ds.get(i) the i-th row of each tensor (as
views), #ds the same as ds.len(). A DataLoader gathers the batches of a
TensorDataset in C (rows copied into new tensors), prefetching the next one
in a background thread. From a table, ds.names gives the tensors' names
({'x', 'y'}), so loader batches carry them.

Any table with two plain functions is a data set too:
  {len = function() return n end, get = function(i) return xi, yi end}
(get may return any values: tensors, numbers, strings, tables).]=],
  [=[
local ds = brasa.data.TensorDataset(brasa.arange(1, 6):view(3, 2), brasa.tensor({1, 2, 1}, {dtype = 'i64'}))
local x2, y2 = ds.get(2)
print(ds.len(), #ds, x2, y2)  --> 3 3 [3, 4] 2]=], 'brasa.data.DataLoader')

entry('brasa.data.is_dataset', 'brasa.data.is_dataset(v) -> boolean',
  'Whether v is a data set: a table with functions len and get.', nil,
  [=[
print(brasa.data.is_dataset({len = function() return 0 end, get = function() end}), brasa.data.is_dataset({}))  --> true false]=])

entry('brasa.data.DataLoader', 'brasa.data.DataLoader(dataset, opts?) -> loader',
  'Batches of a data set: in order or shuffled, with prefetching, collation and transforms.',
  [=[
dataset: a TensorDataset, any {len =, get =} table, or a table {x =, y =}
of tensors (then a TensorDataset). opts:
  batch_size (32);
  shuffle (false): a new order each epoch, drawn by the loader's own
    generator;
  seed: that generator's seed: the same orders, epoch after epoch, for the
    same seed, whatever else draws random numbers (default: drawn from
    brasa's generator when the loader is made, so brasa.manual_seed fixes
    it too);
  drop_last (false): leave out a last, smaller batch;
  collate: fn(samples) -> batch values, samples being the packed results of
    get(i) (default: tensors stacked along a new first dim, numbers into a
    tensor (i64 when all are integers), tables key by key, strings kept as
    lists);
  transform: fn(batch values...) -> new values, run on each batch on the
    main thread (augmentation, normalisation), after the move to device;
  prefetch (true): for a TensorDataset, a C thread gathers batch k + 1 while
    batch k is used. It only copies rows: no Lua runs there. Do not write
    into the data set's tensors while iterating;
  device ('cpu', 'cuda' or 'cuda:N'; default: batches stay where the data
    set is): batch tensors (and tables of them) are delivered there, so a
    training loop on a GPU keeps its data set in CPU memory. loader.device
    is the canonical name ('cuda' -> 'cuda:0');
  pin_memory (true for a CUDA device): a TensorDataset's rows are gathered
    by the prefetch thread into pinned (page-locked) host buffers, reused
    from batch to batch, and copied on a separate copy stream while the GPU
    runs the previous batch's kernels; the batch's first kernel waits for
    its copy on the GPU, not on the host. false: batches are gathered on the
    CPU and copied when handed over (the host waits for the GPU's queued
    work). model:fit moves batches to the model's device either way; a
    loader with device = the model's device saves that copy's wait.

Use:
  for xb, yb in loader:iter() do ... end       -- one epoch
  for k, b in ipairs(loader) do ... b.x, b.y (or b[1], b[2]) end
#loader is the number of batches.]=],
  [=[
local x = brasa.arange(1, 10):view(10, 1)
local loader = brasa.data.DataLoader({x = x, y = x:long()}, {batch_size = 4})
print(#loader)  --> 3
for xb, yb in loader:iter() do print(xb.shape[1], yb[1]) end
local shuffled = brasa.data.DataLoader({x = x}, {batch_size = 5, shuffle = true, seed = 1, drop_last = true})
for k, b in ipairs(shuffled) do print(k, b.x:sum()) end]=],
  'brasa.data.TensorDataset')

entry('DataLoader:iter', 'loader:iter() -> iterator',
  'Iterates over the batches of one new epoch: for xb, yb in loader:iter() do ... end.',
  'Each call starts an epoch (a new order when shuffling). The loop variables are the batch values.',
  [=[
local loader = brasa.data.DataLoader({x = brasa.zeros(5, 2), y = brasa.ones(5)}, {batch_size = 2})
local sizes = {}
for xb, yb in loader:iter() do sizes[#sizes + 1] = xb.shape[1] end
print(table.concat(sizes, ' '))  --> 2 2 1]=])

entry('DataLoader:batch', 'loader:batch(k) -> batch values',
  'Batch k of the current epoch (k = 1 starts a new one).', nil,
  [=[
local loader = brasa.data.DataLoader({x = brasa.arange(1, 6)}, {batch_size = 4})
print(loader:batch(2))  --> [5, 6]]=])

entry('DataLoader:close', 'loader:close()',
  'Stops the loader\'s prefetch thread now (the collector stops it otherwise).',
  'The loader stays usable: a later batch starts a new thread.',
  [=[
local loader = brasa.data.DataLoader({x = brasa.zeros(4, 1)}, {batch_size = 2})
for xb in loader:iter() do end
loader:close()]=])

entry('brasa.data.is_loader', 'brasa.data.is_loader(v) -> boolean', 'Whether v is a DataLoader.', nil,
  [=[
print(brasa.data.is_loader(brasa.data.DataLoader({x = brasa.zeros(2, 1)})))  --> true]=])

entry('brasa.data.default_collate', 'brasa.data.default_collate(samples) -> batch values...',
  'The DataLoader\'s default way of making a batch from samples.',
  [=[
samples is a list of packed samples (table.pack(get(i))). For each
position: tensors are stacked along a new first dim; numbers become a
tensor, i64 when all are integers, else f32; booleans a bool tensor; tables
are collated key by key; anything else (strings) is returned as a list.]=],
  [=[
local xb, yb, names = brasa.data.default_collate{table.pack(brasa.ones(2), 1, 'a'), table.pack(brasa.zeros(2), 3, 'b')}
print(xb, yb, names[2])  --> [[1., 1.], [0., 0.]] [1, 3] b]=])

---------------------------------------------------------------------------
-- Preprocessing
---------------------------------------------------------------------------

entry('brasa.data.train_test_split', 'brasa.data.train_test_split(data, opts?) -> train, test',
  'Splits a table of tensors by rows into a training and a test part, optionally stratified.',
  [=[
data is a table like {x =, y =, classes =}: every tensor field is split by
rows (the same rows for all), other fields are copied to both parts. opts:
test_size (0.25: a fraction, or a count of examples), seed (a number: the
same split every time; default drawn from brasa's generator), shuffle (true;
false keeps the order: the last rows are the test part), stratify (a tensor
or list of labels, or true for data.y: each class keeps its proportion in
both parts, as scikit-learn does).]=],
  [=[
local y = brasa.tensor({1, 1, 1, 1, 1, 1, 2, 2, 2, 2}, {dtype = 'i64'})
local data = {x = brasa.arange(1, 10):view(10, 1), y = y, classes = {'a', 'b'}}
local train, test = brasa.data.train_test_split(data, {test_size = 0.5, seed = 7, stratify = true})
print(train.x.shape[1], test.y:eq(2):sum(), train.y:eq(2):sum(), test.classes[2])  --> 5 2 2 b]=])

entry('brasa.data.one_hot', 'brasa.data.one_hot(y, num_classes?) -> f32 N x K',
  'One-hot rows of 1-based class labels (Keras\'s to_categorical).',
  [=[
y is a tensor or a list of labels 1..K; num_classes defaults to the largest
label. The result is f32 (ready for an MSE or BCE loss); y:one_hot(K) gives
the same as i64. Labels below 1 or above num_classes raise an error.]=],
  [=[
print(brasa.data.one_hot({2, 1, 3}))  --> [[0., 1., 0.], [1., 0., 0.], [0., 0., 1.]]]=],
  'brasa.data.to_categorical')

entry('brasa.data.to_categorical', 'brasa.data.to_categorical(y, num_classes?) -> f32 N x K',
  'The same function as brasa.data.one_hot (Keras\'s name).', nil,
  [=[
print(brasa.data.to_categorical(brasa.tensor({1, 2}, {dtype = 'i64'}), 3))  --> [[1., 0., 0.], [0., 1., 0.]]]=],
  'brasa.data.one_hot')

local SCALER = [=[

Methods: fit(x) learns from x (N examples along dim 1, any feature shape)
and returns the scaler; transform(x) applies what was learnt (x must have
the feature shape seen by fit); fit_transform(x); inverse_transform(x)
undoes transform. Fit on the training set only, then transform the training
and the test set.]=]

entry('brasa.data.MinMaxScaler', 'brasa.data.MinMaxScaler(opts?) -> scaler',
  'Scales each feature to [0, 1] (or opts.feature_range) using the min and max seen by fit.',
  [=[
transform(x) = (x - data_min) / (data_max - data_min) * (hi - lo) + lo,
stored as x * scale + min. A constant feature (max = min) is shifted to lo
instead of divided by zero. opts: feature_range ({0, 1}), clip (false: test
values outside the training range map outside feature_range; true clamps).
Fields after fit: data_min, data_max, data_range, scale, min.]=] .. SCALER,
  [=[
local train = brasa.tensor{{1, 10}, {3, 30}, {5, 20}}
local s = brasa.data.MinMaxScaler():fit(train)
print(s:transform(train))  --> [[0.0000, 0.0000], [0.5000, 1.0000], [1.0000, 0.5000]]
print(s:transform(brasa.tensor{{7, 0}}))  --> [[1.5000, -0.5000]]
print(s:inverse_transform(brasa.tensor{{0.5, 0.5}}))  --> [[3., 20.]]]=],
  'brasa.data.StandardScaler')

entry('brasa.data.StandardScaler', 'brasa.data.StandardScaler(opts?) -> scaler',
  'Standardises each feature: (x - mean) / std, with the mean and std seen by fit.',
  [=[
std is the population standard deviation (divided by N, as scikit-learn);
a constant feature (std 0) is divided by 1. opts: with_mean (true),
with_std (true). Fields after fit: mean, var, scale (the std used),
n_samples.]=] .. SCALER,
  [=[
local train = brasa.tensor{{1, 5}, {3, 5}}
local s = brasa.data.StandardScaler():fit(train)
print(s.mean, s.scale)  --> [2., 5.] [1., 1.]
print(s:transform(brasa.tensor{{4, 6}}))  --> [[2., 1.]]]=],
  'brasa.data.MinMaxScaler')

entry('brasa.data.LabelEncoder', 'brasa.data.LabelEncoder() -> encoder',
  'Categories (strings or numbers) to 1-based class ids and back.',
  [=[
fit(labels) learns the categories of a list (or tensor) and sorts them:
encoder.classes[id] is the category of id. transform(labels) gives an i64
tensor of ids; an unknown label raises an error naming it.
fit_transform(labels); inverse_transform(ids) gives the list of categories
(ids: a tensor or a list). For the text columns of read_csv (its target
option uses one).]=],
  [=[
local enc = brasa.data.LabelEncoder()
print(enc:fit_transform({'red', 'green', 'red', 'blue'}))  --> [3, 2, 3, 1]
print(table.concat(enc.classes, ' '), enc:inverse_transform({2})[1])  --> blue green red green
print(select(2, pcall(enc.transform, enc, {'pink'})))
--> LabelEncoder:transform: unknown label 'pink' (item 1; known: blue, green, red)]=])

-- Methods of the scalers and the encoder: one entry each, sharing the text.
for _, class in ipairs {'MinMaxScaler', 'StandardScaler', 'LabelEncoder'} do
  local make = class == 'LabelEncoder' and "brasa.data.LabelEncoder():fit({'b', 'a'})"
    or 'brasa.data.' .. class .. '():fit(brasa.tensor{{0}, {2}})'
  local arg = class == 'LabelEncoder' and "{'a'}" or 'brasa.tensor{{1}}'
  for _, m in ipairs {'fit', 'transform', 'fit_transform', 'inverse_transform'} do
    local a = (m == 'inverse_transform' and class == 'LabelEncoder') and '{1}' or arg
    entry(class .. ':' .. m, ('%s:%s(%s)'):format(class:sub(1, 1):lower() .. class:sub(2), m,
                                                   m == 'inverse_transform' and class == 'LabelEncoder' and 'ids' or 'x'),
      ({fit = 'Learns from the data (the training set); returns the object.',
        transform = 'Applies what fit learnt.',
        fit_transform = 'fit, then transform, on the same data.',
        inverse_transform = 'Undoes transform.'})[m],
      'See brasa.data.' .. class .. '.',
      ('local obj = %s\nlocal r = obj:%s(%s)'):format(make, m, a),
      'brasa.data.' .. class)
  end
end

doc.addall(list)

--- Binds the functions of brasa.data (and the methods of its classes) to
-- their entries, so help(f) finds them by value.
function M.bind(data)
  for _, e in ipairs(list) do
    local short = e[1]:match('^brasa%.data%.([%w_]+)$')
    if short and data[short] ~= nil then doc.bind(data[short], e[1]) end
  end
  local classes = {
    MinMaxScaler = data.MinMaxScaler and getmetatable(data.MinMaxScaler()),
    StandardScaler = data.StandardScaler and getmetatable(data.StandardScaler()),
    LabelEncoder = data.LabelEncoder and getmetatable(data.LabelEncoder()),
  }
  for class, mt in pairs(classes) do
    for _, m in ipairs {'fit', 'transform', 'fit_transform', 'inverse_transform'} do
      if mt and mt[m] then doc.bind(mt[m], class .. ':' .. m) end
    end
  end
  local ok, loader = pcall(function()
    return getmetatable(data.DataLoader({x = require('brasa').zeros(1, 1)}, {seed = 0}))
  end)
  if ok and loader then
    for _, m in ipairs {'iter', 'batch', 'close'} do
      local f = loader.__index({}, m)
      if f then doc.bind(f, 'DataLoader:' .. m) end
    end
  end
end

M.entries = list
return M
