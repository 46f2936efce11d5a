-- scripts/demo.lua: the main job. A tour of brasa's tensor API, then a
-- two-layer network trained on Fashion-MNIST (real data, from the Debian
-- package dataset-fashion-mnist) with tensors and autograd alone, showing
-- progress each epoch and plotting the curves (in the terminal, and to
-- demo_curves.png).
--
--   build/brasa scripts/demo.lua [epochs] [n_train]

local brasa = brasa or require 'brasa'
local plot = brasa.plot

local epochs = tonumber(arg and arg[1]) or 5
local n_train = tonumber(arg and arg[2]) or 20000

print('== Tensors ==')
local x = brasa.tensor{{1, 2, 3}, {4, 5, 6}}
print(x)
print('x[2] =', x[2], ' x[{2, 3}] =', x[{2, 3}])
print('column 2:', x[{{}, 2}])
print('x:matmul(ones(3, 1)):', x:matmul(brasa.ones(3, 1)))
print('sum over dim 2, keepdim:', x:sum(2, true))
local m, i = x:max(2)
print('row maxima', m, 'at (1-based)', i)

print('\n== Autograd ==')
brasa.manual_seed(1)
local w = brasa.randn(3, 2, {requires_grad = true})
local y = (x:matmul(w) + 1):tanh():sum()
y:backward()
print('y =', y:item())
print('dy/dw =', w.grad)

print('\n== Fashion-MNIST: a 784-128-10 network ==')
local train, test = brasa.data.fashion_mnist{n_train = n_train, n_test = 10000}
print(string.format('%d training and %d test images of %s', train.x.shape[1], test.x.shape[1],
                    table.concat(train.classes, ', ')))
local N = train.x.shape[1]
local X = train.x:reshape(N, 784)
local Xt = test.x:reshape(test.x.shape[1], 784)

-- Parameters, initialised as PyTorch's nn.Linear does: U(-1/sqrt(fan_in), +).
local function linear(fan_in, fan_out)
  local bound = 1 / math.sqrt(fan_in)
  local W = (brasa.rand(fan_in, fan_out) * 2 - 1) * bound
  local b = (brasa.rand(fan_out) * 2 - 1) * bound
  return W:requires_grad_(), b:requires_grad_()
end
local W1, b1 = linear(784, 128)
local W2, b2 = linear(128, 10)
local params = {W1, b1, W2, b2}

local function forward(xb)
  return (xb:matmul(W1) + b1):relu():matmul(W2) + b2
end

-- Cross-entropy from log-softmax: -log p[class], classes 1-based.
local classes = brasa.arange(1, 10):view(1, 10)
local function cross_entropy(logits, yb)
  local logp = logits - logits:logsumexp(2, true)
  local onehot = classes:eq(yb:view(-1, 1)):float()
  return -(logp * onehot):sum() / logits.shape[1]
end

local function accuracy(logits, yb)
  return logits:argmax(2):eq(yb):float():mean():item()
end

-- Adam, written out.
local lr, beta1, beta2, eps = 1e-3, 0.9, 0.999, 1e-8
local mom, vel = {}, {}
for k, p in ipairs(params) do mom[k] = brasa.zeros_like(p); vel[k] = brasa.zeros_like(p) end
local step = 0
local function adam_step()
  step = step + 1
  brasa.no_grad(function()
    for k, p in ipairs(params) do
      local g = p.grad
      mom[k]:mul_(beta1):add_(g * (1 - beta1))
      vel[k]:mul_(beta2):add_(g * g * (1 - beta2))
      local mhat = mom[k] / (1 - beta1 ^ step)
      local vhat = vel[k] / (1 - beta2 ^ step)
      p:sub_(mhat / (vhat:sqrt() + eps) * lr)
      p.grad = nil
    end
  end)
end

local batch = 128
local history = {loss = {}, accuracy = {}, val_loss = {}, val_accuracy = {}}
local t0 = os.clock()
for epoch = 1, epochs do
  local perm = brasa.randperm(N)
  local total, correct, seen = 0, 0, 0
  local nb = math.ceil(N / batch)
  for b = 1, nb do
    local first = (b - 1) * batch + 1
    local size = math.min(batch, N - first + 1)
    local idx = perm:narrow(1, first, size)
    local xb, yb = X:index_select(1, idx), train.y:index_select(1, idx)
    local logits = forward(xb)
    local loss = cross_entropy(logits, yb)
    loss:backward()
    adam_step()
    total = total + loss:item() * size
    correct = correct + accuracy(logits, yb) * size
    seen = seen + size
    if b % 20 == 0 or b == nb then
      io.write(string.format('\repoch %d/%d  [%-30s] %3d%%  loss %.4f  accuracy %.4f',
        epoch, epochs, string.rep('=', math.floor(30 * b / nb)), math.floor(100 * b / nb),
        total / seen, correct / seen))
      io.flush()
    end
  end
  local val_logits = brasa.no_grad(forward, Xt)
  local val_loss = brasa.no_grad(cross_entropy, val_logits, test.y):item()
  local val_acc = accuracy(val_logits, test.y)
  history.loss[epoch], history.accuracy[epoch] = total / seen, correct / seen
  history.val_loss[epoch], history.val_accuracy[epoch] = val_loss, val_acc
  print(string.format('  val_loss %.4f  val_accuracy %.4f  (%.1f s)', val_loss, val_acc, os.clock() - t0))
end

local hist = {history = history, epoch = {}}
for e = 1, epochs do hist.epoch[e] = e end
local ok, err = pcall(function()
  plot.terminal('dumb')
  plot.history(hist)
  plot.save('demo_curves.png')
end)
if ok then
  print('curves saved to demo_curves.png')
else
  print('plot skipped: ' .. tostring(err))
end
print(string.format('test accuracy %.4f', history.val_accuracy[epochs]))
