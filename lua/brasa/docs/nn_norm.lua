-- brasa.docs.nn_norm: help entries of normalisation, dropout, embedding,
-- softmax and the class losses in brasa.nn.functional (lua/lnn_norm.c).
-- Examples follow the conventions of docs/tensor.lua (`print(expr)  -->
-- shown`); they are run by tests/lua/nn_norm_spec.lua.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {'brasa.nn.functional.' .. name, sig, summary, text = text, example = example,
                     see = see}
end

local DTYPES = [=[
Inputs are f32 or f64; f16 and bf16 compute in f32 and give their own dtype
back. The work is threaded, and results do not depend on the number of
threads.]=]

entry('batch_norm', 'F.batch_norm(x, running_mean?, running_var?, weight?, bias?, opts?) -> y',
  'Batch normalisation of [N, C], [N, C, L] or [N, C, H, W] over every dim but the channels (dim 2).',
  [=[
Each channel c is normalised, y = (x - mean_c) / sqrt(var_c + eps) *
weight_c + bias_c, with PyTorch 1.13's semantics. Options (a table, which
may follow the last tensor given): training (default false), momentum
(default 0.1), eps (default 1e-5).

With training = true the statistics are the batch's: its mean and biased
variance; running_mean and running_var ([C], when given) are then updated in
place, outside the graph, as running = (1 - momentum) running + momentum
batch, with the unbiased variance (as PyTorch). More than one value per
channel is needed. With training = false the running statistics are used
(and must be given): the layer's evaluation mode.

weight and bias ([C]) may be nil. The gradients with respect to x, weight
and bias come from one fused backward kernel (the closed form); gradients
of gradients work too (in training, the statistics depend on x).

]=] .. DTYPES,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{1, 10}, {3, 20}, {5, 30}}      -- N = 3 rows, C = 2 channels
local rm, rv = brasa.zeros(2), brasa.ones(2)
print(F.batch_norm(x, rm, rv, nil, nil, {training = true}))  --> [[-1.2247, -1.2247], [0.0000, 0.0000], [1.2247, 1.2247]]
print(rm, rv)  --> [0.3000, 2.0000] [1.3000, 10.9000]
local w, b = brasa.tensor{2, 1}, brasa.tensor{0, 5}
print(F.batch_norm(x, rm, rv, w, b))  --> [[1.2279, 7.4231], [4.7361, 10.4520], [8.2443, 13.4810]]]=])

entry('layer_norm', 'F.layer_norm(x, normalized_shape, weight?, bias?, eps_or_opts?) -> y',
  'Layer normalisation over the trailing dims of x given by normalized_shape.',
  [=[
normalized_shape is a size or a list of sizes: the last dims of x. Each
slice over them is normalised with its own mean and biased variance,
y = (x - mean) / sqrt(var + eps) * weight + bias, where weight and bias
(of normalized_shape, optional) are applied elementwise. eps (default
1e-5) is a number or {eps = ...}. The statistics are the same in training
and evaluation. Fused forward and backward kernels; gradients of gradients
work.

]=] .. DTYPES,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{1, 2, 3}, {2, 4, 9}}
print(F.layer_norm(x, 3))  --> [[-1.2247, 0.0000, 1.2247], [-1.0190, -0.3397, 1.3587]]
local w, b = brasa.tensor{1, 1, 2}, brasa.tensor{0, 0, 1}
print(F.layer_norm(x, {3}, w, b, 1e-3))  --> [[-1.2238, 0.0000, 3.4477], [-1.0190, -0.3397, 3.7173]]]=])

entry('dropout', 'F.dropout(x, p = 0.5, training = true) or F.dropout(x, {p =, training =}) -> y',
  'Zeroes each element with probability p and scales the others by 1/(1 - p).',
  [=[
The mask comes from brasa's seeded generator (Philox, counter-based):
after brasa.manual_seed(n) the same elements are dropped, whatever the
number of threads. The gradient is multiplied by the same mask and scale.
With training = false, or p = 0, the result is x itself; p = 1 gives
zeros. p must lie in [0, 1].

]=] .. DTYPES,
  [=[
local F = brasa.nn.functional
brasa.manual_seed(7)
local y = F.dropout(brasa.ones(2, 5), 0.5)     -- each element is 0 or 2
print(y:ne(0):sum():item() + y:eq(0):sum():item())  --> 10
print(y:max():item())  --> 2.0
local x = brasa.randn(3)
print(F.dropout(x, 0.5, false) == x)  --> true]=])

entry('embedding', 'F.embedding(ids, weight, {padding_idx =}?) -> rows',
  'The rows of weight [V, D] at 1-based integer ids (any shape): a result of shape [ids..., D].',
  [=[
ids are i64 (or i32) tensors of ids 1..V. Id 0 is padding: it gives a
zero vector and no gradient (as Keras' Tokenizer reserves 0 for padding,
brasa.text.pad_sequences pads with 0). An id outside 0..V is an error.

padding_idx (an id 1..V, optional) is PyTorch's: that row is looked up as
usual but gets no gradient. The gradient of weight sums the gradient rows
of every occurrence of an id (index_add), in a fixed order.]=],
  [=[
local F = brasa.nn.functional
local w = brasa.tensor({{1, 1}, {2, 2}, {3, 3}}, {requires_grad = true})
local ids = brasa.tensor({{3, 1}, {3, 0}}, {dtype = 'i64'})
local e = F.embedding(ids, w)
print(e)  --> [[[3., 3.], [1., 1.]], [[3., 3.], [0., 0.]]]
e:sum():backward()
print(w.grad)  --> [[1., 1.], [0., 0.], [2., 2.]]]=])

entry('softmax', 'F.softmax(x, dim = -1) -> y',
  'exp(x) / sum(exp(x)) along dim (1-based; default the last), computed stably.',
  [=[
Each slice along dim sums to 1. The maximum of the slice is subtracted
before exponentiating, so large scores neither overflow nor lose
precision; -inf scores get probability 0. The backward is one fused
kernel, y (g - sum(g y)); gradients of gradients work. (PyTorch's implicit
dim is deprecated; brasa's default is the last dim, as Keras'.)

]=] .. DTYPES,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{1, 2, 3}, {1000, 1000, 1000}}
print(F.softmax(x))  --> [[0.0900, 0.2447, 0.6652], [0.3333, 0.3333, 0.3333]]
print(F.softmax(brasa.tensor{{0, 0}, {2, 0}}, 1))  --> [[0.1192, 0.5000], [0.8808, 0.5000]]]=],
  'brasa.nn.functional.log_softmax')

entry('log_softmax', 'F.log_softmax(x, dim = -1) -> y',
  'log(softmax(x)) along dim (1-based; default the last): x - logsumexp(x), computed stably.',
  [=[
More accurate than log(softmax(x)) for very negative values, and the
input that nll_loss expects. The backward is one fused kernel,
g - exp(y) sum(g); gradients of gradients work.

]=] .. DTYPES,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{1, 2, 3}, {-20, 0, 0}}
print(F.log_softmax(x, 2))  --> [[-2.4076, -1.4076, -0.4076], [-20.6931, -0.6931, -0.6931]]]=],
  'brasa.nn.functional.softmax')

local CLASS_TARGETS = [=[
Targets are 1-based class ids 1..C (i64 or i32) of the input's shape
without its class dim: x [N, C] with target [N], x [N, C, d1, ...] with
target [N, d1, ...] (the class dim is 2), or an unbatched x [C] with a
0-dim target. A target 0 or above C is an error that says so (0 usually
means 0-based labels).

Options: weight (a [C] tensor of class weights, constants: no gradient),
ignore_index (a class id whose targets contribute nothing and get zero
gradient; nil by default, 0 is the natural choice for padded sequences),
reduction: 'mean' (default; divides by the summed weights of the counted
targets, as PyTorch), 'sum', or 'none' (one loss per target position).]=]

entry('cross_entropy', 'F.cross_entropy(x, target, opts?) -> loss',
  'Cross-entropy of raw scores x against class ids: log_softmax and NLL fused in one kernel.',
  CLASS_TARGETS .. [=[


Further option: label_smoothing (in [0, 1], default 0): the target
becomes (1 - s) one_hot + s / C, as PyTorch 1.13 computes it (with class
weights, the smoothing term is weighted too).

A float target of x's shape holds class probabilities instead (soft or
one-hot labels): loss = -sum(w p log_softmax(x)) over the classes, 'mean'
dividing by the number of rows; differentiable in both arguments;
ignore_index does not apply.

The forward computes each row's logsumexp once and keeps it; the backward
is one fused kernel (softmax minus the smoothed one-hot, scaled), and
gradients of gradients work. ]=] .. DTYPES,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor({{2, 1, 0.1}, {0.5, 2.5, 0.3}}, {requires_grad = true})
local t = brasa.tensor({1, 2}, {dtype = 'i64'})
local loss = F.cross_entropy(x, t)
print(loss)  --> 0.3185
loss:backward()
print(x.grad)  --> [[-0.1705, 0.1212, 0.0493], [0.0543, -0.0988, 0.0445]]
print(F.cross_entropy(x, t, {reduction = 'none', label_smoothing = 0.1}))  --> [0.5137, 0.3600]
print(F.cross_entropy(x, brasa.tensor({1, 0}, {dtype = 'i64'}), {ignore_index = 0}))  --> 0.4170]=],
  'brasa.nn.functional.nll_loss')

entry('nll_loss', 'F.nll_loss(logp, target, opts?) -> loss',
  'Negative log-likelihood of log-probabilities logp (such as log_softmax\'s) at 1-based class ids.',
  CLASS_TARGETS .. [=[


loss = -weight[t] logp[t] per target position. F.cross_entropy(x, t) equals
F.nll_loss(F.log_softmax(x, 2), t) and is faster.]=],
  [=[
local F = brasa.nn.functional
local logp = brasa.tensor{{-0.1, -2.5, -3}, {-1.2, -0.4, -2}}
print(F.nll_loss(logp, brasa.tensor({1, 3}, {dtype = 'i64'})))  --> 1.0500
print(F.nll_loss(logp, brasa.tensor({1, 3}, {dtype = 'i64'}), {reduction = 'none'}))  --> [0.1000, 2.0000]]=],
  'brasa.nn.functional.cross_entropy')

local reflow = require('brasa.docs.tensor').reflow
for _, e in ipairs(list) do
  e.text = reflow(e.text)
  doc.add(e)
end

-- Bind the functions of brasa.nn.functional (the core's table, filled by
-- lua/lnn_norm.c) to their entries.
local core = package.loaded['brasa.core']
if core and core._nnf then
  for _, e in ipairs(list) do
    local name = e[1]:match('^brasa%.nn%.functional%.(.+)$')
    doc.bind(core._nnf[name], e[1])
  end
end

M.entries = list
return M
