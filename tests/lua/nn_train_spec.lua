-- A real training run: a small CNN (Conv2d 1->8, ReLU, MaxPool2d 2,
-- Flatten, Linear) trained with Adam for 2 epochs on the first 2,000
-- Fashion-MNIST images, in a manual loop over mini-batches, reaches a test
-- accuracy above 0.6 on the first 500 test images. Skipped (with a message)
-- when the data set package is absent.

local brasa = require 'brasa'
local nn, optim = brasa.nn, brasa.optim

local have_data, train, test = pcall(brasa.data.fashion_mnist, {n_train = 2000, n_test = 500})

describe('training a CNN on Fashion-MNIST', function()
  if not have_data then
    pending('Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist): ' .. tostring(train))
    return
  end

  it('reaches a test accuracy above 0.6 in 2 epochs of 2,000 images', function()
    brasa.manual_seed(0)
    local model = nn.Sequential{
      nn.Conv2d(1, 8, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(8 * 14 * 14, 10),
    }
    local criterion = nn.CrossEntropyLoss()
    local opt = optim.Adam(model:parameters(), {lr = 1e-3})
    local n, bs = train.x.shape[1], 64
    local t0 = os.clock()
    local losses = {}
    for epoch = 1, 2 do
      model:train()
      local perm = brasa.randperm(n)
      local total, batches = 0, 0
      for first = 1, n, bs do
        local idx = perm:narrow(1, first, math.min(bs, n - first + 1))
        local xb, yb = train.x:index_select(1, idx), train.y:index_select(1, idx)
        opt:zero_grad()
        local loss = criterion(model(xb), yb)
        loss:backward()
        opt:step()
        total, batches = total + loss:item(), batches + 1
      end
      losses[epoch] = total / batches
    end
    model:eval()
    local pred = brasa.no_grad(function() return model(test.x):argmax(2) end)
    local acc = pred:eq(test.y):float():mean():item()
    io.stderr:write(string.format('\n  nn_train_spec: losses %.3f, %.3f; test accuracy %.3f; %.1f s of CPU\n',
      losses[1], losses[2], acc, os.clock() - t0))
    assert.is_true(losses[2] < losses[1], 'the loss falls')
    assert.is_true(acc > 0.6, 'test accuracy ' .. acc)
  end)
end)
