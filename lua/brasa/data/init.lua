-- brasa.data: data sets and the readers behind them.
--
--   local train, test = brasa.data.fashion_mnist()
--   -- train.x: N x 1 x 28 x 28 f32 in [0, 1]; train.y: i64 classes 1..10;
--   -- train.classes: the class names

local core = require 'brasa.core'

local data = {}

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
  local x = images:float():reshape(n, 1, h, w) / 255
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

return data
