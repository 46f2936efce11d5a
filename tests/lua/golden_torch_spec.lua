-- Golden references from PyTorch 1.13: composite functions whose values and
-- gradients (float64) must match torch's within 1e-6 relative. The inputs
-- and torch's results are in tests/golden/torch_ref.lua, written by
-- tests/golden/gen_torch.py (which alone needs torch; this spec does not).

local here = debug.getinfo(1, 'S').source:match('^@(.*/)') or './'
local ref = dofile(here .. '../golden/torch_ref.lua')

local brasa = require 'brasa'

local F64 = {dtype = 'f64'}
local RTOL, ATOL = 1e-6, 1e-9

-- A tensor from {shape =, data =}; a leaf that requires grad when asked.
local function T(r, requires_grad)
  local t = brasa.tensor(r.data, F64):reshape(r.shape)
  if requires_grad then t = t:detach():requires_grad_() end
  return t
end
local function I(r) return brasa.tensor(r.data, {dtype = 'i64'}):reshape(r.shape) end

local function check_number(name, got, want)
  assert(math.abs(got - want) <= RTOL * math.abs(want) + ATOL,
    string.format('%s: brasa %.17g, torch %.17g', name, got, want))
end

local function check_tensor(name, got, want)
  assert(brasa.is_tensor(got), name .. ': no tensor')
  assert.are.same(want.shape, got.shape, name .. ': shape')
  local worst, at = 0, 0
  for k = 1, #want.data do
    local g, w = got:_flat(k), want.data[k]
    local err = math.abs(g - w) - (RTOL * math.abs(w) + ATOL)
    if g ~= g or err > worst then worst, at = g ~= g and math.huge or err, k end
  end
  assert(worst <= 0, string.format('%s: element %d: brasa %.17g, torch %.17g', name, at,
    at > 0 and got:_flat(at) or 0, at > 0 and want.data[at] or 0))
end

-- Gradients of value with respect to the named leaves, checked against ref.
local function check_grads(label, value, leaves, want)
  local names = {}
  for k in pairs(want) do names[#names + 1] = k end
  table.sort(names)
  local list = {}
  for i, k in ipairs(names) do list[i] = leaves[k] end
  local gs = brasa.grad(value, list, {retain_graph = true})
  for i, k in ipairs(names) do check_tensor(label .. ' d/d' .. k, gs[i], want[k]) end
end

describe('golden gradients from PyTorch ' .. ref.torch_version, function()
  it('an MLP with softmax cross-entropy (logsumexp and gather)', function()
    local c = ref.mlp_cross_entropy
    local p = {}
    for _, k in ipairs({'x', 'W1', 'b1', 'W2', 'b2'}) do p[k] = T(c.inputs[k], true) end
    local target = I(c.inputs.target)
    local function forward()
      local h = (p.x:matmul(p.W1) + p.b1):tanh()
      return h:matmul(p.W2) + p.b2
    end
    local logits = forward()
    local lse = logits:logsumexp(2)
    local picked = logits:gather(2, target:view(-1, 1)):squeeze(2)
    local loss = (lse - picked):mean()
    check_number('loss', loss:item(), c.loss)
    check_grads('cross-entropy', loss, p, c.grads)
  end)

  it('the same loss through a one-hot target and log-softmax', function()
    local c = ref.mlp_cross_entropy
    local p = {}
    for _, k in ipairs({'x', 'W1', 'b1', 'W2', 'b2'}) do p[k] = T(c.inputs[k], true) end
    local target = I(c.inputs.target)
    local logits = (p.x:matmul(p.W1) + p.b1):tanh():matmul(p.W2) + p.b2
    local onehot = target:one_hot(3):double()
    local log_softmax = logits - logits:logsumexp(2, true)
    local loss = -(onehot * log_softmax):sum(2):mean()
    check_number('loss', loss:item(), c.loss_onehot)
    check_grads('one-hot cross-entropy', loss, p, c.grads_onehot)
  end)

  it('a Hessian-vector product of the cross-entropy w.r.t. W1', function()
    local c = ref.mlp_cross_entropy
    local p = {}
    for _, k in ipairs({'x', 'W1', 'b1', 'W2', 'b2'}) do p[k] = T(c.inputs[k], true) end
    local target, v = I(c.inputs.target), T(c.inputs.v)
    local logits = (p.x:matmul(p.W1) + p.b1):tanh():matmul(p.W2) + p.b2
    local loss = (logits:logsumexp(2) - logits:gather(2, target:view(-1, 1)):squeeze(2)):mean()
    local gW1 = brasa.grad(loss, {p.W1}, {create_graph = true})[1]
    local hv = brasa.grad((gW1 * v):sum(), {p.W1})[1]
    check_tensor('hvp', hv, c.hvp_W1)
  end)

  it('a WGAN-GP gradient penalty and its gradients', function()
    local c = ref.gradient_penalty
    local p = {}
    for _, k in ipairs({'x', 'W1', 'b1', 'w2'}) do p[k] = T(c.inputs[k], true) end
    local out = (p.x:matmul(p.W1) + p.b1):tanh():matmul(p.w2):sum()
    local gx = brasa.grad(out, {p.x}, {create_graph = true})[1]
    check_tensor('d out / d x', gx, c.gx)
    local penalty = ((gx:norm(2, 2) - 1) ^ 2):mean()
    check_number('penalty', penalty:item(), c.penalty)
    check_grads('penalty', penalty, p, c.grads)
  end)

  it('a chain of views and indexing', function()
    local c = ref.view_chain
    local x, w = T(c.inputs.x, true), T(c.inputs.w)
    local idx = I(c.inputs.idx)
    local y = x:transpose(1, 3)          -- [5, 3, 4]
    y = y:narrow(1, 2, 3)                -- [3, 3, 4]
    y = y:select(2, 3)                   -- [3, 4]
    y = y:index_select(2, idx)           -- [3, 3]
    y = y:reshape(9):expand(2, 9)        -- [2, 9]
    local value = (y:sin() * w):sum() + (x:permute(3, 1, 2)[{{2, 3}, {}, 1}] ^ 2):sum()
    check_number('value', value:item(), c.value)
    check_grads('views', value, {x = x}, c.grads)
  end)

  it('a small attention: softmax(Q K^T / sqrt d) V', function()
    local c = ref.attention
    local p = {}
    for _, k in ipairs({'Q', 'K', 'V'}) do p[k] = T(c.inputs[k], true) end
    local w = T(c.inputs.w)
    local scores = p.Q:matmul(p.K:transpose(2, 3)) / math.sqrt(3)
    local attn = (scores - scores:logsumexp(-1, true)):exp()
    local value = (attn:matmul(p.V) * w):sum()
    check_number('value', value:item(), c.value)
    check_grads('attention', value, p, c.grads)
  end)

  it('a layer norm from primitives, with cumsum, sort, max, min, std and norm', function()
    local c = ref.layer_norm
    local p = {}
    for _, k in ipairs({'x', 'gamma', 'beta'}) do p[k] = T(c.inputs[k], true) end
    local w = T(c.inputs.w)
    local x = p.x
    local mu = x:mean(2, true)
    local var = x:var(2, {correction = 0, keepdim = true})
    local y = (x - mu) / (var + 1e-5):sqrt() * p.gamma + p.beta
    local sorted = y:sort(2)
    local value = (y * w):sum() + (y:cumsum(2) ^ 2):mean() + sorted:select(2, -2):sum()
      + y:max(1):sum() - y:min() + x:std(1):sum() + x:norm(2, 2):sum()
    check_number('value', value:item(), c.value)
    check_grads('layer norm', value, p, c.grads)
  end)
end)
