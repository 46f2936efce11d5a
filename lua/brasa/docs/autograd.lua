-- brasa.docs.autograd: help entries of automatic differentiation (brasa.doc):
-- brasa.grad, the grad-mode helpers, anomaly detection, brasa.autograd.*,
-- and the tensor methods backward, requires_grad_, detach, zero_grad and
-- register_hook. Examples follow the conventions of docs/tensor.lua
-- (`print(expr)  --> shown`, checked by tests/lua/doc_spec.lua).

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {name, sig, summary, text = text, example = example, see = see}
end

local GRAD_OPTS = [=[
opts: retain_graph = true keeps the graph's saved tensors so it can be
walked again (otherwise a second pass raises); create_graph = true records
the backward pass itself, so the gradients are differentiable (gradients of
gradients: gradient penalties, Hessian-vector products; implies
retain_graph); allow_unused = true gives zeros for an input the outputs do
not depend on (otherwise that raises).]=]

local GRAD_TEXT = [=[
outputs is a tensor or a list of tensors, inputs likewise; the result is a
Lua list with one gradient per input, shaped like it: the sum over outputs
of d output / d input, each output weighted by its entry of
opts.grad_outputs (a tensor or list shaped like the outputs; it may be left
out for outputs with one element). Unlike x:backward(), .grad fields are
left alone.

]=] .. GRAD_OPTS

entry('brasa.grad', 'brasa.grad(outputs, inputs, opts?) -> {gradients}',
  'Gradients of outputs with respect to inputs, returned in a table (one per input).',
  GRAD_TEXT,
  [=[
local x = brasa.tensor({1, 2, 3}, {requires_grad = true})
local y = (x ^ 3):sum()
local g = brasa.grad(y, x, {create_graph = true})[1]   -- 3 x^2, itself in the graph
print(g)  --> [3., 12., 27.]
local h = brasa.grad(g:sum(), x)[1]                    -- d/dx sum(3 x^2) = 6 x
print(h)  --> [6., 12., 18.]
local a, b = brasa.tensor({2}, {requires_grad = true}), brasa.tensor({5}, {requires_grad = true})
local gs = brasa.grad(a * b, {a, b})
print(gs[1], gs[2])  --> [5.] [2.]]=])

entry('brasa.autograd.grad', 'brasa.autograd.grad(outputs, inputs, opts?) -> {gradients}',
  'The same function as brasa.grad.', GRAD_TEXT,
  [=[
local x = brasa.tensor({1, 2}, {requires_grad = true})
print(brasa.autograd.grad((x * x):sum(), {x})[1])  --> [2., 4.]]=], 'brasa.grad')

local NO_GRAD = [=[
Two forms. brasa.no_grad(fn, ...) calls fn(...) with recording off and
returns what it returns (the previous mode comes back even if fn raises).
brasa.no_grad() returns a to-be-closed guard for a block:
  do local _ <close> = brasa.no_grad() ... end
Inside, results of ops do not require grad and no graph is kept: use it for
evaluation, for updating parameters by hand, and for in-place changes to
leaves that require grad.]=]

entry('brasa.no_grad', 'brasa.no_grad(fn, ...) -> fn\'s results | brasa.no_grad() -> guard',
  'Runs code without recording operations for automatic differentiation.', NO_GRAD,
  [=[
local w = brasa.tensor({1, 2}, {requires_grad = true})
local y = brasa.no_grad(function() return w * 2 end)
print(y.requires_grad)  --> false
do
  local _ <close> = brasa.no_grad()
  w:sub_(0.5)                     -- an in-place update of a leaf: allowed here
  print(brasa.is_grad_enabled())  --> false
end
print(w, brasa.is_grad_enabled())  --> [0.5000, 1.5000] true]=])

entry('brasa.enable_grad', 'brasa.enable_grad(fn, ...) -> fn\'s results | brasa.enable_grad() -> guard',
  'Turns recording back on inside a no_grad region (the opposite of brasa.no_grad).',
  'The same two forms as brasa.no_grad: a function to call, or a to-be-closed guard.',
  [=[
local x = brasa.tensor({1, 2}, {requires_grad = true})
local y = brasa.no_grad(function()
  return brasa.enable_grad(function() return x * 2 end)
end)
print(y.requires_grad)  --> true
do
  local _ <close> = brasa.no_grad()
  do
    local _ <close> = brasa.enable_grad()
    print(brasa.is_grad_enabled())  --> true
  end
  print(brasa.is_grad_enabled())  --> false
end]=])

local SET = [=[
Returns the previous mode, so the caller can restore it. Prefer
brasa.no_grad / brasa.enable_grad, which restore the mode themselves.]=]

entry('brasa.set_grad_enabled', 'brasa.set_grad_enabled(enabled) -> previous',
  'Turns recording of operations on or off; returns the previous setting.', SET,
  [=[
local prev = brasa.set_grad_enabled(false)
print(prev, brasa.is_grad_enabled())  --> true false
brasa.set_grad_enabled(prev)]=])

entry('brasa.autograd.set_grad_enabled', 'brasa.autograd.set_grad_enabled(enabled) -> previous',
  'The same function as brasa.set_grad_enabled.', SET,
  [=[
local prev = brasa.autograd.set_grad_enabled(false)
print(brasa.autograd.is_grad_enabled())  --> false
brasa.autograd.set_grad_enabled(prev)]=], 'brasa.set_grad_enabled')

entry('brasa.is_grad_enabled', 'brasa.is_grad_enabled() -> boolean',
  'Whether operations are being recorded for automatic differentiation (true by default).', nil,
  [=[
print(brasa.is_grad_enabled())  --> true
print(brasa.no_grad(brasa.is_grad_enabled))  --> false]=])

entry('brasa.autograd.is_grad_enabled', 'brasa.autograd.is_grad_enabled() -> boolean',
  'The same function as brasa.is_grad_enabled.', nil,
  [=[
print(brasa.autograd.is_grad_enabled())  --> true]=], 'brasa.is_grad_enabled')

local ANOMALY = [=[
detect_anomaly(true) turns checking on, detect_anomaly(false) off; either
returns the previous setting, and detect_anomaly() only reads it. While on,
each op remembers the Lua traceback where it was created, and backward
raises as soon as a gradient holds NaN or Inf, naming the op and showing
that traceback. It slows everything down: use it to hunt a NaN, then turn
it off.]=]

entry('brasa.detect_anomaly', 'brasa.detect_anomaly(enabled?) -> previous',
  'Turns on checks that find the op whose gradient first became NaN or Inf.', ANOMALY,
  [=[
local prev = brasa.detect_anomaly(true)
local x = brasa.tensor({0, 1}, {requires_grad = true})
local y = x:sqrt():sum()                       -- d sqrt(x) / dx is inf at 0
local ok, err = pcall(function() y:backward() end)
brasa.detect_anomaly(prev)
print(ok, err:match('anomaly: %a+'))  --> false anomaly: sqrt]=])

entry('brasa.autograd.detect_anomaly', 'brasa.autograd.detect_anomaly(enabled?) -> previous',
  'The same function as brasa.detect_anomaly.', ANOMALY,
  [=[
print(brasa.autograd.detect_anomaly())  --> false]=], 'brasa.detect_anomaly')

entry('brasa.autograd', 'brasa.autograd',
  'The autograd functions in one table: grad, set_grad_enabled, is_grad_enabled, detect_anomaly.',
  'Each is the same function as brasa.NAME; brasa.no_grad and brasa.enable_grad are on the module.',
  [=[
print(brasa.autograd.grad == brasa.grad)  --> true]=])

local DETACH = [=[
The result shares x's memory (writes into one show in the other) but is
outside the graph: it does not require grad and gradients do not flow
through it. Use it to stop gradients (targets, running statistics) or to
keep a value without its graph; x:detach():clone() gives an independent
copy.]=]

entry('Tensor:detach', 'x:detach()\nbrasa.detach(x)',
  'A tensor with x\'s values that is cut from the graph (shares x\'s memory).', DETACH,
  [=[
local x = brasa.tensor({1, 2}, {requires_grad = true})
local y = x * 2
local d = y:detach()
print(d.requires_grad, d.is_leaf, d)  --> false true [2., 4.]]=])

entry('brasa.detach', 'brasa.detach(x)\nx:detach()',
  'A tensor with x\'s values that is cut from the graph (the same function as x:detach()).', DETACH,
  [=[
local x = brasa.tensor({1, 2}, {requires_grad = true})
print(brasa.detach(x).requires_grad)  --> false]=], 'Tensor:detach')

entry('Tensor:backward', 'x:backward(grad?, opts?)',
  'Computes the gradients of x with respect to the leaves it came from and adds them into their .grad.',
  [=[
x must be in a graph (made from tensors that require grad). Without grad,
x must have one element (a loss); otherwise grad is a tensor of x's shape
that weights each element. Gradients accumulate: a second backward adds to
.grad (clear it with x:zero_grad() or an optimiser's zero_grad). Hooks
registered with register_hook run on the way.

opts: retain_graph = true keeps the graph's saved tensors so backward can
go through it again (otherwise a second pass raises); create_graph = true
records the backward pass itself, so the .grad values are differentiable
(implies retain_graph). opts may come alone, without grad:
  loss:backward{retain_graph = true}]=],
  [=[
local w = brasa.tensor({1, 2, 3}, {requires_grad = true})
local loss = (w * w):sum()
loss:backward({retain_graph = true})
print(w.grad)  --> [2., 4., 6.]
loss:backward()                           -- accumulates
print(w.grad)  --> [4., 8., 12.]
local y = w * 3                           -- not a single element: give the weights
w.grad = nil
y:backward(brasa.tensor{1, 0, 1})
print(w.grad)  --> [3., 0., 3.]]=])

entry('Tensor:requires_grad_', 'x:requires_grad_(flag?) -> x',
  'Makes x a leaf that collects gradients (flag true by default), or stops it; returns x.',
  [=[
Only float tensors can require gradients. Only leaves can stop requiring
grad (for a result, use x:detach()). x.requires_grad = flag is the same.]=],
  [=[
local w = brasa.randn(3, 2):requires_grad_()
print(w.requires_grad, w.is_leaf)  --> true true
w:requires_grad_(false)
print(w.requires_grad)  --> false]=])

entry('Tensor:zero_grad', 'x:zero_grad()',
  'Clears x.grad (sets it to nil), so the next backward starts from zero.', nil,
  [=[
local w = brasa.tensor({1, 2}, {requires_grad = true})
w:sum():backward()
print(w.grad)  --> [1., 1.]
w:zero_grad()
print(w.grad)  --> nil]=])

entry('Tensor:register_hook', 'x:register_hook(fn)',
  'Calls fn(grad) when the gradient with respect to x is computed; fn may return a replacement.',
  [=[
x is a tensor in the graph (a leaf that requires grad or an intermediate
result). During backward, fn receives the gradient flowing into x; if fn
returns a tensor (of the same shape), that tensor is used instead, also
for what is accumulated into a leaf's .grad; returning nil keeps the
gradient. Use it to inspect, clip or scale gradients. An error in fn stops
the backward with a message naming the hook. Hooks stay for the life of x.]=],
  [=[
local x = brasa.tensor({1, 2, 3}, {requires_grad = true})
local h = x * 2
h:register_hook(function(g) print('grad of h', g) end)  --> grad of h [1., 1., 1.]
x:register_hook(function(g) return g * 10 end)           -- scales x's gradient
h:sum():backward()
print(x.grad)  --> [20., 20., 20.]]=])

local reflow = require('brasa.docs.tensor').reflow
for _, e in ipairs(list) do
  e.text = reflow(e.text)
  doc.add(e)
end

-- Bind what exists now (the C functions and methods); brasa.no_grad and
-- enable_grad are bound by require('brasa.docs.tensor').bind_all(brasa).
local core = package.loaded['brasa.core']
if core then require('brasa.docs.tensor').bind(core, core.Tensor) end

M.entries = list
return M
