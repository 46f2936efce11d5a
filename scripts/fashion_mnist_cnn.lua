-- scripts/fashion_mnist_cnn.lua: a convolutional network on Fashion-MNIST.
--
--   conv 1->32 3x3 pad 1, ReLU, max pool 2, conv 32->64 3x3 pad 1, ReLU,
--   max pool 2, Linear 3136->128, ReLU, Linear 128->10; Adam (lr 1e-3),
--   batches of 128. Prints progress, the test accuracy and the confusion
--   matrix, saves the curves (fashion_mnist_cnn.png) and the model
--   (fashion_mnist_cnn.safetensors).
--
--   build/brasa scripts/fashion_mnist_cnn.lua [--epochs 5] [--threads 2]
--       [--n-train 60000] [--seed 1] [--out .] [--no-plot]
--
-- The data come from the Debian package dataset-fashion-mnist.

local brasa = brasa or require 'brasa'
local nn, optim, plot, metrics = brasa.nn, brasa.optim, brasa.plot, brasa.metrics

local opts = require('brasa.flags').parse(arg or {}, {
  epochs = 5, threads = 2, n_train = 60000, seed = 1, out = '.',
  batch_size = 128, plot = true})
brasa.set_num_threads(opts.threads)
brasa.manual_seed(opts.seed)

local train, test = brasa.data.fashion_mnist{n_train = opts.n_train}
print(string.format('Fashion-MNIST: %d training and %d test images; %d threads',
  train.x.shape[1], test.x.shape[1], brasa.get_num_threads()))

local model = nn.Sequential{
  nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),    -- 32 x 14 x 14
  nn.Conv2d(32, 64, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),   -- 64 x 7 x 7
  nn.Flatten(),
  nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
  nn.Linear(128, 10),
}
model:summary({1, 28, 28})

local hist = model:fit(train, {
  loss = nn.CrossEntropyLoss(),
  optimizer = optim.Adam(model:parameters(), {lr = 1e-3}),
  epochs = opts.epochs, batch_size = opts.batch_size, metrics = {'accuracy'},
  validation_data = test,
})

local result = model:evaluate(test)
print(string.format('test accuracy: %.4f', result.accuracy))

local predicted = model:predict(test.x):argmax(2)
local cm = metrics.confusion_matrix(test.y, predicted, 10)
print(metrics.format_confusion(cm, test.classes))

local base = opts.out .. '/fashion_mnist_cnn'
model:save(base .. '.safetensors')
print('model saved to ' .. base .. '.safetensors (brasa.load reads it back)')

if opts.plot then
  local ok, err = pcall(function()
    hist:plot({title = 'Fashion-MNIST CNN'})
    plot.save(base .. '.png')
    plot.heatmap(cm, {labels = test.classes, title = 'Confusion matrix (rows: true class)'})
    plot.save(base .. '_confusion.png')
  end)
  print(ok and ('curves and confusion matrix saved to ' .. base .. '.png and ' .. base .. '_confusion.png')
        or ('no plots: ' .. tostring(err)))
end
