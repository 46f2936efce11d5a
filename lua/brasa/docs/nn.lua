-- brasa.docs.nn: help entries of brasa.nn (brasa.doc): the Module class and
-- its methods, the containers, every layer, activation and loss, the loss
-- functionals written in Lua, nn.init and nn.regularizers. Examples follow
-- the conventions of docs/tensor.lua (`print(expr)  --> shown`, checked by
-- tests/lua/doc_spec.lua).
--
-- This file only adds entries: brasa.nn loads on first use and then binds
-- its classes and functions to them (M.bind, called by brasa/nn/init.lua).

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {name, sig, summary, text = text, example = example, see = see}
end

---------------------------------------------------------------------------
-- Overview and the Module class
---------------------------------------------------------------------------

entry('brasa.nn', 'brasa.nn',
  'Neural network modules: layers, containers, losses, initialisers, regularisers.',
  [=[
A model is a module: a layer (nn.Linear, nn.Conv2d...), a container of
modules (nn.Sequential), or a class of your own (nn.Module:extend). Calling
a module runs its forward pass: model(x). Layers keep PyTorch's parameter
shapes and default initialisation; sizes are in PyTorch's order (N x C x H x
W); every index and dim a user gives is 1-based (Softmax{dim = 2}, class ids
1..C, Embedding ids from 1 with 0 for padding). Options come in a table as
the last argument. Tables: nn.functional (the ops as functions), nn.init
(initialisers), nn.regularizers (l1, l2, l1_l2 per layer).]=],
  [=[
local nn = brasa.nn
local model = nn.Sequential{
  nn.Conv2d(1, 8, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Linear(8 * 14 * 14, 10),
}
local x = brasa.randn(4, 1, 28, 28)
local y = brasa.tensor({1, 5, 2, 10}, {dtype = 'i64'})
local loss = nn.CrossEntropyLoss()(model(x), y)
loss:backward()
print(#loss.shape, model[1].weight.grad ~= nil)  --> 0 true]=])

entry('brasa.nn.Module', 'nn.Module:extend(name) -> class',
  'The base class of every module; extend it to write your own.',
  [=[
A class made with nn.Module:extend('Name') is called to build an instance:
its init(self, ...) method receives the arguments. Calling the instance runs
forward(self, ...). Assigning a module to a field registers a child;
assigning a leaf tensor that requires grad (nn.Parameter(t)) registers a
parameter; register_buffer adds a tensor saved in state_dict but not
trained; anything else is a plain field. Classes derive further
(nn.Linear:extend('MyLinear')) and reach the parent's methods through
Class.super. Every module has a field training (true after construction).]=],
  [=[
local nn = brasa.nn
local MyNet = nn.Module:extend('MyNet')
function MyNet:init(n_in, n_hidden)
  self.fc1 = nn.Linear(n_in, n_hidden)
  self.fc2 = nn.Linear(n_hidden, 1)
end
function MyNet:forward(x)
  return self.fc2(self.fc1(x):relu()):sigmoid()
end
local net = MyNet(4, 8)
print(net(brasa.randn(3, 4)).shape[2], #net:parameters())  --> 1 4
print(net)]=])

local function method(name, sig, summary, text, example)
  entry('brasa.nn.Module:' .. name, sig, summary, text, example)
end

method('extend', 'nn.Module:extend(name) -> class | Class:extend(name) -> subclass',
  'A new module class deriving from this one.',
  [=[
The class has the parent's methods; define init and forward (and
extra_repr, what printing shows inside the parentheses). Class.super is the
parent class: Class.super.init(self, ...) runs the parent's init.]=],
  [=[
local nn = brasa.nn
local Scaled = nn.Linear:extend('Scaled')
function Scaled:init(n_in, n_out, s)
  Scaled.super.init(self, n_in, n_out)
  self.s = s
end
function Scaled:forward(x) return Scaled.super.forward(self, x) * self.s end
local m = Scaled(3, 2, 10)
print(m:type_name(), #m:parameters())  --> Scaled 2]=])

method('init', 'Module:init(...)',
  'Builds an instance: override it in your class (called with the arguments given to the class).',
  nil,
  [=[
local nn = brasa.nn
local Bias = nn.Module:extend('Bias')
function Bias:init(n) self.b = nn.Parameter(brasa.zeros(n)) end
function Bias:forward(x) return x + self.b end
print(#Bias(3):parameters())  --> 1]=])

method('forward', 'Module:forward(...) -> outputs',
  'The computation of a module; model(x) calls it (and records the output shape for summary).',
  'Every layer defines it; a class of your own must. It may take and return several values.',
  [=[
local nn = brasa.nn
local m = nn.Linear(2, 1)
local x = brasa.ones(1, 2)
print(m(x):equal(m:forward(x)))  --> true]=])

method('extra_repr', 'Module:extra_repr() -> string',
  'What printing shows between the parentheses after the class name (override it).',
  nil,
  [=[
local nn = brasa.nn
print(nn.Linear(3, 2):extra_repr())  --> 3 -> 2
local Gate = nn.Module:extend('Gate')
function Gate:init(k) self.k = k end
function Gate:extra_repr() return 'k=' .. self.k end
print(Gate(5))  --> Gate(k=5)]=])

method('type_name', 'Module:type_name() -> string', "The module's class name.", nil,
  [=[
print(brasa.nn.Conv2d(1, 2, 3):type_name())  --> Conv2d]=])

method('register_parameter', 'Module:register_parameter(name, tensor) -> tensor',
  'Adds a parameter (the tensor becomes a leaf that requires grad).',
  'The same as assigning nn.Parameter(t) to the field. A tensor that is the result of an op is detached first.',
  [=[
local m = brasa.nn.Module:extend('Scale')()
m:register_parameter('w', brasa.ones(2))
print(m.w.requires_grad, #m:parameters())  --> true 1]=])

method('register_buffer', 'Module:register_buffer(name, tensor, opts?) -> tensor',
  'Adds a buffer: a tensor saved in state_dict, not trained (running statistics).',
  'opts.persistent = false leaves it out of state_dict. to(dtype) converts floating buffers.',
  [=[
local m = brasa.nn.Module:extend('Counter')()
m:register_buffer('count', brasa.zeros({}, {dtype = 'i64'}))
print(#m:parameters(), #m:buffers(), m:state_dict().count ~= nil)  --> 0 1 true]=])

method('add_module', 'Module:add_module(name, module) -> module',
  'Adds a child module (the same as self[name] = module).', nil,
  [=[
local nn = brasa.nn
local m = nn.Sequential()
m:add_module('head', nn.Linear(2, 1))
print(#m:children(), m.head:type_name())  --> 1 Linear]=])

method('children', 'Module:children() -> {modules}', 'The direct children, in registration order.', nil,
  [=[
local nn = brasa.nn
local m = nn.Sequential{nn.Linear(2, 2), nn.ReLU()}
print(#m:children(), m:children()[2]:type_name())  --> 2 ReLU]=])

method('named_children', 'Module:named_children() -> iterator of name, module',
  'The direct children with their names (for name, m in model:named_children() do ... end).', nil,
  [=[
local nn = brasa.nn
for name, m in nn.Sequential{nn.Linear(2, 2), nn.Tanh()}:named_children() do print(name, m:type_name()) end]=])

method('modules', 'Module:modules() -> {modules}', 'The module itself and every descendant, each once.', nil,
  [=[
local nn = brasa.nn
print(#nn.Sequential{nn.Linear(2, 2), nn.Sequential{nn.ReLU()}}:modules())  --> 4]=])

method('named_modules', "Module:named_modules() -> iterator of dotted name, module",
  "Every module with its dotted name ('' for the module itself).", nil,
  [=[
local nn = brasa.nn
for name, m in nn.Sequential{nn.Sequential{nn.ReLU()}}:named_modules() do print(name, m:type_name()) end]=])

method('parameters', 'Module:parameters() -> {tensors}',
  "Every parameter, each once, in registration order (a module's own, then its children's).",
  'Give it to an optimiser: optim.Adam(model:parameters(), {lr = 1e-3}).',
  [=[
local nn = brasa.nn
local m = nn.Sequential{nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)}
local ps = m:parameters()
print(#ps, table.concat(ps[1].shape, 'x'))  --> 4 4x3]=])

method('named_parameters', "Module:named_parameters() -> iterator of name, tensor",
  "Every parameter with its dotted name ('1.weight', 'encoder.fc.bias'), as PyTorch.",
  'Children of Sequential and ModuleList are named 1, 2, ... (1-based, as model[1]).',
  [=[
local nn = brasa.nn
for name, p in nn.Sequential{nn.Linear(3, 2)}:named_parameters() do
  print(name, table.concat(p.shape, 'x'))
end]=])

method('buffers', 'Module:buffers() -> {tensors}', 'Every buffer (running statistics...), each once.', nil,
  [=[
print(#brasa.nn.BatchNorm1d(4):buffers())  --> 3]=])

method('named_buffers', 'Module:named_buffers() -> iterator of name, tensor',
  'Every buffer with its dotted name.', nil,
  [=[
for name in brasa.nn.BatchNorm1d(4):named_buffers() do print(name) end]=])

method('num_parameters', 'Module:num_parameters(trainable_only?) -> integer',
  'The number of parameter elements (only those that require grad when asked).', nil,
  [=[
local m = brasa.nn.Conv2d(1, 32, 3)
print(m:num_parameters())  --> 320]=])

method('train', 'Module:train(mode?) -> self',
  'Training mode (true by default) for the module and all its descendants (field training).',
  'Dropout drops and BatchNorm uses batch statistics only in training mode.',
  [=[
local nn = brasa.nn
local m = nn.Sequential{nn.Dropout(0.5)}
m:eval()
print(m.training, m[1].training)  --> false false
m:train()
print(m[1].training)  --> true]=])

method('eval', 'Module:eval() -> self', 'Evaluation mode for the module and its descendants (train(false)).', nil,
  [=[
local d = brasa.nn.Dropout(0.5):eval()
local x = brasa.ones(4)
print(d(x))  --> [1., 1., 1., 1.]]=])

method('zero_grad', 'Module:zero_grad()', 'Clears the gradient of every parameter (sets .grad to nil).', nil,
  [=[
local m = brasa.nn.Linear(2, 1)
m(brasa.ones(1, 2)):sum():backward()
m:zero_grad()
print(m.weight.grad)  --> nil]=])

method('freeze', 'Module:freeze() -> self',
  'Stops training every parameter (requires_grad = false): transfer learning keeps a base fixed.', nil,
  [=[
local nn = brasa.nn
local base = nn.Linear(4, 3)
local model = nn.Sequential{base, nn.ReLU(), nn.Linear(3, 2)}
base:freeze()
print(base.weight.requires_grad, model:num_parameters(true))  --> false 8]=])

method('unfreeze', 'Module:unfreeze() -> self', 'Makes every parameter trainable again.', nil,
  [=[
local m = brasa.nn.Linear(2, 2):freeze():unfreeze()
print(m.weight.requires_grad)  --> true]=])

method('apply', 'Module:apply(fn) -> self',
  'Calls fn(m) on every descendant, then on the module itself (custom initialisation).', nil,
  [=[
local nn = brasa.nn
local m = nn.Sequential{nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1)}
m:apply(function(l)
  if l:type_name() == 'Linear' then nn.init.xavier_uniform_(l.weight); nn.init.zeros_(l.bias) end
end)
print(m[3].bias:sum():item())  --> 0.0]=])

method('to', 'Module:to(dtype | device) -> self',
  'Converts floating parameters and buffers to a dtype, or moves parameters and buffers to a device.',
  [=[
A device is 'cpu', 'cuda', 'cuda:N' or a GPU index; integer buffers keep
their dtype. In place: every parameter and buffer stays the same tensor (it
takes the converted memory, x:set_), so an optimiser built before still
updates the model, and its state (Adam's moments...) follows the
parameters at its next step. Gradients are converted too.]=],
  [=[
local m = brasa.nn.Linear(2, 2)
local w = m.weight
local opt = brasa.optim.SGD(m:parameters(), {lr = 0.1})
m:to('f64')
print(m.weight == w, w.dtype, w.is_leaf)  --> true f64 true
m(brasa.ones(1, 2, {dtype = 'f64'})):sum():backward()
opt:step()
print(w.grad.dtype)  --> f64]=])

method('cuda', 'Module:cuda(device?) -> self',
  "Moves parameters and buffers to a GPU ('cuda:0', or device, an index or a name), in place.",
  [=[
The same as to('cuda'): the tensors keep their identity, so optimisers
built before stay valid. fit, evaluate and predict then move each batch to
the model's device; outside fit, inputs must be moved by hand
(x:cuda()), or the first op fails naming both devices.]=],
  [=[
local m = brasa.nn.Linear(3, 1)
if brasa.cuda.is_available() then
  m:cuda()
  print(m.weight.device)   -- cuda:0
  print(m(brasa.ones(2, 3):cuda()):cpu())
end]=])

method('cpu', 'Module:cpu() -> self', 'Moves parameters and buffers back to the CPU, in place.', nil,
  [=[
local m = brasa.nn.Linear(3, 1):cpu()
print(m.weight.device)  --> cpu]=])

method('double', 'Module:double() -> self', "The same as to('f64').", nil,
  [=[
print(brasa.nn.Linear(2, 2):double().bias.dtype)  --> f64]=])

method('float', 'Module:float() -> self', "The same as to('f32').", nil,
  [=[
print(brasa.nn.Linear(2, 2):double():float().bias.dtype)  --> f32]=])

method('state_dict', 'Module:state_dict() -> {name = tensor}',
  'Every parameter and persistent buffer by dotted name, detached (sharing memory with the model).',
  'pairs() walks it in registration order. Clone the tensors for a snapshot that later training does not change.',
  [=[
local nn = brasa.nn
local sd = nn.Sequential{nn.Linear(2, 3), nn.BatchNorm1d(3)}:state_dict()
for k, v in pairs(sd) do print(k, table.concat(v.shape, 'x')) end]=])

method('load_state_dict', 'Module:load_state_dict(sd, opts?) -> {missing_keys =, unexpected_keys =}',
  'Copies tensors into the parameters and buffers of the same names.',
  [=[
Shapes must agree: a difference is an error naming the key and both shapes.
With opts.strict (true by default) missing and unexpected keys are errors
too; strict = false reports them in the result. Everything is checked
before anything is copied, so a failed load changes nothing.]=],
  [=[
local nn = brasa.nn
local a, b = nn.Linear(3, 2), nn.Linear(3, 2)
b:load_state_dict(a:state_dict())
print(b.weight:equal(a.weight))  --> true
local ok, err = pcall(b.load_state_dict, b, nn.Linear(3, 5):state_dict())
print(ok)  --> false]=])

method('set_regularizer', 'Module:set_regularizer(param_name, reg) -> self',
  'Adds reg(param) to regularization_loss() for one parameter of this module (nil removes it).',
  'Layers also take weight_regularizer and bias_regularizer options (see brasa.nn.regularizers).',
  [=[
local nn = brasa.nn
local m = nn.Linear(2, 2)
m:set_regularizer('bias', nn.regularizers.l1(1))
print(math.abs(m:regularization_loss():item() - m.bias:abs():sum():item()) < 1e-6)  --> true]=])

method('regularization_loss', 'Module:regularization_loss() -> 0-dim tensor',
  "The sum of every layer's regulariser penalties (differentiable; 0 without regularisers).",
  'Add it to the training loss: loss = criterion(model(x), y) + model:regularization_loss().',
  [=[
local nn = brasa.nn
local m = nn.Sequential{nn.Linear(4, 2, {weight_regularizer = nn.regularizers.l2(0.01)})}
local r = m:regularization_loss()
local w = m[1].weight
print(#r.shape, math.abs(r:item() - 0.01 * (w * w):sum():item()) < 1e-6)  --> 0 true]=])

method('summary', 'Module:summary(input_shape?, opts?)',
  'Prints a Keras-style table: each layer, its output shape and parameter count, and the totals.',
  [=[
input_shape leaves out the batch dim ({1, 28, 28}): a forward pass on zeros
of batch 1 runs under no_grad in evaluation mode (each module's mode is
restored) to find the output shapes; without it the shapes of the last
forward pass show, or '?'. The batch dim shows as None. Non-trainable
counts frozen parameters and floating buffers (BatchNorm's statistics, as
Keras). opts.print_fn replaces print; opts.dtype the input's dtype (for
Embedding models: 'i64'). Returns nothing: summary_table gives the data.]=],
  [=[
local nn = brasa.nn
local model = nn.Sequential{
  nn.Conv2d(1, 32, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Linear(32 * 14 * 14, 10),
}
model:summary({1, 28, 28})]=])

method('summary_table', 'Module:summary_table(input_shape?, opts?) -> {rows =, total =, trainable =, non_trainable =, text =}',
  'What summary prints, as data: rows of {name, type, output_shape, params}, the totals and the text.', nil,
  [=[
local nn = brasa.nn
local t = nn.Sequential{nn.Conv2d(1, 32, 3), nn.Flatten()}:summary_table({1, 28, 28})
print(t.rows[1].params, t.total, table.concat(t.rows[2].output_shape, 'x'))  --> 320 320 1x21632]=])

entry('brasa.nn.Module.training', 'module.training -> boolean',
  'Whether the module is in training mode (set by train() and eval()).', nil,
  [=[
print(brasa.nn.Linear(2, 2):eval().training)  --> false]=])

entry('brasa.nn.Parameter', 'nn.Parameter(t) -> t',
  'Makes t a leaf that requires grad, so that assigning it to a module field registers a parameter.', nil,
  [=[
local nn = brasa.nn
local m = nn.Module:extend('Affine')()
m.scale = nn.Parameter(brasa.ones(3))
m.note = brasa.zeros(3)   -- a plain tensor is just a field
print(#m:parameters())  --> 1]=])

entry('brasa.nn.is_module', 'nn.is_module(v) -> boolean', 'Whether v is a module instance.', nil,
  [=[
print(brasa.nn.is_module(brasa.nn.ReLU()), brasa.nn.is_module({}))  --> true false]=])

---------------------------------------------------------------------------
-- Containers
---------------------------------------------------------------------------

entry('brasa.nn.Sequential', 'nn.Sequential{m1, m2, ...} | nn.Sequential(m1, m2, ...)',
  "Applies modules in order: each one's output is the next one's input.",
  [=[
Children are named 1, 2, ...: model[1] is the first layer, '1.weight' its
weight in state_dict; #model is the number of layers and ipairs(model)
walks them.]=],
  [=[
local nn = brasa.nn
local model = nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)}
print(#model, model[3]:type_name())  --> 3 Linear
print(table.concat(model(brasa.randn(5, 4)).shape, 'x'))  --> 5x3]=])

entry('brasa.nn.Sequential:add', 'Sequential:add(module) -> self', 'Appends a module.', nil,
  [=[
local nn = brasa.nn
local m = nn.Sequential():add(nn.Linear(2, 4)):add(nn.Tanh())
print(#m)  --> 2]=])

entry('brasa.nn.ModuleList', 'nn.ModuleList{m1, m2, ...}',
  "A list of modules whose parameters belong to the owner (index list[i], #list, ipairs).",
  'It has no forward: call its items. Children are named 1, 2, ...', [=[
local nn = brasa.nn
local Deep = nn.Module:extend('Deep')
function Deep:init(n)
  self.layers = nn.ModuleList{}
  for _ = 1, n do self.layers:add(nn.Linear(4, 4)) end
end
function Deep:forward(x)
  for _, l in ipairs(self.layers) do x = l(x):relu() end
  return x
end
print(#Deep(3):parameters())  --> 6]=])

entry('brasa.nn.ModuleList:add', 'ModuleList:add(module) -> self', 'Appends a module.', nil,
  [=[
local l = brasa.nn.ModuleList():add(brasa.nn.ReLU())
print(#l)  --> 1]=])

entry('brasa.nn.ModuleList:append', 'ModuleList:append(module) -> self', 'The same as add.', nil,
  [=[
local l = brasa.nn.ModuleList{brasa.nn.ReLU()}:append(brasa.nn.Tanh())
print(l[2]:type_name())  --> Tanh]=])

entry('brasa.nn.ModuleDict', 'nn.ModuleDict{name = module, ...}',
  'Modules by name (in sorted order, so parameters keep a stable order).', nil,
  [=[
local nn = brasa.nn
local heads = nn.ModuleDict{class = nn.Linear(8, 10), box = nn.Linear(8, 4)}
print(table.concat(heads:keys(), ' '), heads.box.out_features)  --> box class 4]=])

entry('brasa.nn.ModuleDict:keys', 'ModuleDict:keys() -> {names}', 'The names, in order.', nil,
  [=[
print(#brasa.nn.ModuleDict{a = brasa.nn.ReLU()}:keys())  --> 1]=])

entry('brasa.nn.ModuleDict:items', 'ModuleDict:items() -> iterator of name, module', 'The modules with their names.',
  nil, [=[
for name, m in brasa.nn.ModuleDict{a = brasa.nn.ReLU()}:items() do print(name, m:type_name()) end  --> a ReLU]=])

---------------------------------------------------------------------------
-- Layers
---------------------------------------------------------------------------

local REG_OPTS = [=[
Regularisers: weight_regularizer (alias kernel_regularizer) and
bias_regularizer take nn.regularizers.l1/l2/l1_l2 (or any function of the
tensor), added by model:regularization_loss(). weight_init and bias_init
replace the default initialisation (an nn.init name such as
'glorot_uniform', or a function of the tensor). dtype = 'f64' builds f64
parameters.]=]

entry('brasa.nn.Linear', 'nn.Linear(in_features, out_features, opts?)',
  'A fully connected layer: y = x @ weight^T + bias (also nn.Dense).',
  [=[
weight is [out_features x in_features], bias [out_features] (opts.bias =
false leaves it out). Input [..., in_features] -> [..., out_features].
Initialisation as PyTorch: kaiming_uniform_ with a = sqrt(5), which is
U(-1/sqrt(in), 1/sqrt(in)), and a bias U(-1/sqrt(in), 1/sqrt(in)).
opts.activation (a name: 'relu', 'sigmoid', 'tanh', 'softmax', ... or a
module) applies it after the affine map, as Keras's Dense(units,
activation).
]=] .. REG_OPTS,
  [=[
local nn = brasa.nn
local fc = nn.Linear(784, 10)
print(table.concat(fc.weight.shape, 'x'), fc.bias.shape[1])  --> 10x784 10
print(table.concat(fc(brasa.randn(32, 784)).shape, 'x'))  --> 32x10
local dense = nn.Dense(4, 3, {activation = 'softmax', weight_regularizer = nn.regularizers.l2(0.01)})
print(math.abs(dense(brasa.randn(2, 4)):sum(2)[1] - 1) < 1e-5)  --> true]=])

entry('brasa.nn.Dense', 'nn.Dense(in_features, out_features, opts?)', 'The same class as nn.Linear (Keras\'s name).',
  nil, [=[
print(brasa.nn.Dense == brasa.nn.Linear)  --> true]=], 'brasa.nn.Linear')

local function reset_entry(cls, what)
  entry('brasa.nn.' .. cls .. ':reset_parameters', cls .. ':reset_parameters()',
    "Initialises the parameters again as PyTorch's default: " .. what .. '.', nil,
    ('local m = brasa.nn.%s\nbrasa.nn.init.zeros_(m.weight)\nm:reset_parameters()\nprint(m.weight:abs():sum():item() > 0)  --> true')
      :format(cls == 'Linear' and 'Linear(3, 2)' or cls == 'Embedding' and 'Embedding(5, 2)'
        or cls == 'LayerNorm' and 'LayerNorm(4)' or cls:match('BatchNorm') and cls .. '(4)'
        or cls .. '(2, 4, 3)'))
end
reset_entry('Linear', 'kaiming_uniform_ with a = sqrt(5) and a bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))')

local CONV_TEXT = [=[
Options: stride (a number or one per spatial dim), padding (a number, one
per dim, two per dim as {top, bottom, left, right}, 'same' or 'valid'),
dilation, groups (in and out channels divisible by it), bias (true).
Initialisation as PyTorch: kaiming_uniform_ with a = sqrt(5) and a bias
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels / groups x kernel
size. Inputs without the batch dim are accepted. A wrong channel count is
an error naming the layer and the shapes.
]=] .. REG_OPTS

entry('brasa.nn.Conv2d', 'nn.Conv2d(in_channels, out_channels, kernel_size, opts?)',
  'A 2-d convolution over [N x C x H x W] (cross-correlation, as PyTorch).',
  'weight is [out_channels x in_channels/groups x kh x kw], bias [out_channels].\n' .. CONV_TEXT,
  [=[
local nn = brasa.nn
local conv = nn.Conv2d(1, 32, 3, {padding = 1})
print(conv)  --> Conv2d(1 -> 32, 3x3, padding=1)  -- 320 parameters
print(table.concat(conv(brasa.randn(8, 1, 28, 28)).shape, 'x'))  --> 8x32x28x28
local strided = nn.Conv2d(32, 64, {3, 3}, {stride = 2, padding = 'valid', groups = 2})
print(table.concat(strided.weight.shape, 'x'))  --> 64x16x3x3]=])

entry('brasa.nn.Conv1d', 'nn.Conv1d(in_channels, out_channels, kernel_size, opts?)',
  'A 1-d convolution over [N x C x L] (sequences: text CNNs).',
  'weight is [out_channels x in_channels/groups x k], bias [out_channels].\n' .. CONV_TEXT .. [=[

With {input_channels_last = true} (Conv1d and ConvTranspose1d) the input is
[N x L x C] or [L x C], the layout an Embedding yields and Keras's Conv1D
reads; forward transposes it to [N x C x L]. The output stays
[N x C_out x L'], so MaxPool1d and GlobalMaxPool1d follow unchanged:
Sequential{Embedding(V, D), Conv1d(D, F, k, {input_channels_last = true}),
ReLU(), GlobalMaxPool1d()} needs no manual transpose.]=],
  [=[
local conv = brasa.nn.Conv1d(16, 32, 5, {padding = 2})
print(table.concat(conv(brasa.randn(4, 16, 50)).shape, 'x'))  --> 4x32x50
local text = brasa.nn.Conv1d(8, 4, 3, {input_channels_last = true})
print(table.concat(text(brasa.randn(2, 10, 8)).shape, 'x'))  --> 2x4x8]=])

local TCONV_TEXT = [=[
weight is [in_channels x out_channels/groups x kernel...] (PyTorch's
layout), bias [out_channels]. Options: stride, padding (removed from the
output), output_padding (extra size at the end, below the stride), dilation,
groups, bias. The output size is (in - 1) x stride - 2 x padding +
dilation x (kernel - 1) + output_padding + 1. Initialisation as PyTorch
(fan_in taken from the weight: out_channels/groups x kernel size).
]=] .. REG_OPTS

entry('brasa.nn.ConvTranspose2d', 'nn.ConvTranspose2d(in_channels, out_channels, kernel_size, opts?)',
  'A transposed 2-d convolution (upsampling in decoders and GAN generators).', TCONV_TEXT,
  [=[
local up = brasa.nn.ConvTranspose2d(64, 32, 4, {stride = 2, padding = 1})
print(table.concat(up(brasa.randn(2, 64, 7, 7)).shape, 'x'))  --> 2x32x14x14
print(table.concat(up.weight.shape, 'x'))  --> 64x32x4x4]=])

entry('brasa.nn.ConvTranspose1d', 'nn.ConvTranspose1d(in_channels, out_channels, kernel_size, opts?)',
  'A transposed 1-d convolution over [N x C x L].', TCONV_TEXT,
  [=[
local up = brasa.nn.ConvTranspose1d(8, 4, 3, {stride = 2, padding = 1, output_padding = 1})
print(table.concat(up(brasa.randn(2, 8, 10)).shape, 'x'))  --> 2x4x20]=])

for _, c in ipairs {'Conv1d', 'Conv2d', 'ConvTranspose1d', 'ConvTranspose2d'} do
  reset_entry(c, 'kaiming_uniform_ with a = sqrt(5) and a bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))')
end

local POOL_TEXT = [=[
kernel_size is a number or one per spatial dim; options: stride (the kernel
size by default), padding (at most half the kernel), ceil_mode (false)%s.
Inputs [N x C x %s] or without the batch dim; no parameters.]=]

entry('brasa.nn.MaxPool2d', 'nn.MaxPool2d(kernel_size, opts?)', 'The maximum over each window of [N x C x H x W].',
  POOL_TEXT:format(', dilation (1)', 'H x W'),
  [=[
local pool = brasa.nn.MaxPool2d(2)
local x = brasa.arange(1, 16):float():view(1, 1, 4, 4)
print(pool(x))  --> [[[[6., 8.], [14., 16.]]]]
print(table.concat(brasa.nn.MaxPool2d(3, {stride = 2, padding = 1})(brasa.randn(1, 2, 7, 7)).shape, 'x'))  --> 1x2x4x4]=])

entry('brasa.nn.MaxPool1d', 'nn.MaxPool1d(kernel_size, opts?)', 'The maximum over each window of [N x C x L].',
  POOL_TEXT:format(', dilation (1)', 'L'),
  [=[
print(brasa.nn.MaxPool1d(2)(brasa.tensor{{{1, 3, 2, 5, 4, 0}}}))  --> [[[3., 5., 4.]]]]=])

entry('brasa.nn.AvgPool2d', 'nn.AvgPool2d(kernel_size, opts?)', 'The mean over each window of [N x C x H x W].',
  POOL_TEXT:format(', count_include_pad (true: padded zeros count in the mean), divisor_override', 'H x W'),
  [=[
local x = brasa.arange(1, 16):float():view(1, 1, 4, 4)
print(brasa.nn.AvgPool2d(2)(x))  --> [[[[3.5000, 5.5000], [11.5000, 13.5000]]]]]=])

entry('brasa.nn.AvgPool1d', 'nn.AvgPool1d(kernel_size, opts?)', 'The mean over each window of [N x C x L].',
  POOL_TEXT:format(', count_include_pad (true), divisor_override', 'L'),
  [=[
print(brasa.nn.AvgPool1d(2)(brasa.tensor{{{1, 3, 2, 6}}}))  --> [[[2., 4.]]]]=])

local ADAPTIVE = 'The output has the given size whatever the input size (windows as PyTorch\'s); -1 keeps a dim.'

entry('brasa.nn.AdaptiveAvgPool2d', 'nn.AdaptiveAvgPool2d(output_size)',
  'Average pooling to a fixed output size (a number or {h, w}).', ADAPTIVE,
  [=[
print(table.concat(brasa.nn.AdaptiveAvgPool2d({2, 3})(brasa.randn(1, 4, 9, 10)).shape, 'x'))  --> 1x4x2x3]=])

entry('brasa.nn.AdaptiveAvgPool1d', 'nn.AdaptiveAvgPool1d(output_size)', 'Average pooling to a fixed length.',
  ADAPTIVE, [=[
print(brasa.nn.AdaptiveAvgPool1d(2)(brasa.tensor{{{1, 3, 5, 7}}}))  --> [[[2., 6.]]]]=])

entry('brasa.nn.AdaptiveMaxPool2d', 'nn.AdaptiveMaxPool2d(output_size)', 'Max pooling to a fixed output size.',
  ADAPTIVE, [=[
print(table.concat(brasa.nn.AdaptiveMaxPool2d(1)(brasa.randn(2, 3, 5, 5)).shape, 'x'))  --> 2x3x1x1]=])

entry('brasa.nn.AdaptiveMaxPool1d', 'nn.AdaptiveMaxPool1d(output_size)', 'Max pooling to a fixed length.',
  ADAPTIVE, [=[
print(brasa.nn.AdaptiveMaxPool1d(2)(brasa.tensor{{{1, 3, 5, 7}}}))  --> [[[3., 7.]]]]=])

local GLOBAL = 'Keras\'s Global...Pooling: [N x C x ...] -> [N x C] (the spatial dims are removed).'

entry('brasa.nn.GlobalAvgPool2d', 'nn.GlobalAvgPool2d()', 'The mean over H and W: [N x C x H x W] -> [N x C].',
  GLOBAL, [=[
print(table.concat(brasa.nn.GlobalAvgPool2d()(brasa.randn(8, 64, 7, 7)).shape, 'x'))  --> 8x64]=])

entry('brasa.nn.GlobalAvgPool1d', 'nn.GlobalAvgPool1d()', 'The mean over L: [N x C x L] -> [N x C].', GLOBAL,
  [=[
print(brasa.nn.GlobalAvgPool1d()(brasa.tensor{{{1, 3}, {2, 6}}}))  --> [[2., 4.]]]=])

entry('brasa.nn.GlobalMaxPool1d', 'nn.GlobalMaxPool1d()', 'The maximum over L: [N x C x L] -> [N x C] (text CNNs).',
  GLOBAL, [=[
print(brasa.nn.GlobalMaxPool1d()(brasa.tensor{{{1, 3}, {2, 6}}}))  --> [[3., 6.]]]=])

entry('brasa.nn.GlobalMaxPool2d', 'nn.GlobalMaxPool2d()', 'The maximum over H and W: [N x C x H x W] -> [N x C].',
  GLOBAL, [=[
print(table.concat(brasa.nn.GlobalMaxPool2d()(brasa.randn(2, 3, 4, 4)).shape, 'x'))  --> 2x3]=])

entry('brasa.nn.Upsample', 'nn.Upsample{size =, scale_factor =, mode =, align_corners =} | nn.Upsample(scale_factor)',
  'Resamples [N x C x L] or [N x C x H x W] to a size or by a factor.',
  [=[
Give one of size (a number or one per dim) and scale_factor. mode:
'nearest' (the default), 'linear' (1-d) or 'bilinear' (2-d).
align_corners (for the linear modes, false by default as PyTorch): true
maps the corner pixels of input and output onto each other; false treats
pixels as areas (half-pixel centres), which keeps sizes and scale factors
consistent.]=],
  [=[
local x = brasa.tensor{{{{1, 2}, {3, 4}}}}
print(brasa.nn.Upsample(2)(x))  --> [[[[1., 1., 2., 2.], [1., 1., 2., 2.], [3., 3., 4., 4.], [3., 3., 4., 4.]]]]
local y = brasa.nn.Upsample{size = {3, 3}, mode = 'bilinear', align_corners = true}(x)
print(y[{1, 1, 2, 2}])  --> 2.5]=])

entry('brasa.nn.Flatten', 'nn.Flatten(start_dim?, end_dim?)',
  'Merges dims start_dim..end_dim (2 and -1 by default: everything but the batch dim).', nil,
  [=[
print(table.concat(brasa.nn.Flatten()(brasa.zeros(8, 32, 14, 14)).shape, 'x'))  --> 8x6272]=])

entry('brasa.nn.Reshape', 'nn.Reshape(sizes...) | nn.Reshape{sizes}',
  "Reshapes each example, keeping the batch dim (Keras's Reshape); one size may be -1.", nil,
  [=[
print(table.concat(brasa.nn.Reshape(1, 28, 28)(brasa.zeros(4, 784)).shape, 'x'))  --> 4x1x28x28]=])

entry('brasa.nn.Identity', 'nn.Identity()', 'Returns its input (a placeholder, e.g. for a removed head).', nil,
  [=[
local x = brasa.ones(2)
print(brasa.nn.Identity()(x) == x)  --> true]=])

entry('brasa.nn.Dropout', 'nn.Dropout(p?)',
  'In training, zeroes each element with probability p (0.5) and scales the rest by 1/(1-p).',
  'In evaluation mode (model:eval()) it returns its input. Seeded by brasa.manual_seed.',
  [=[
local d = brasa.nn.Dropout(0.25)
brasa.manual_seed(0)
local y = d(brasa.ones(1000))
print(math.abs(y:max():item() - 1 / 0.75) < 1e-6, y:eq(0):sum():item() > 150)  --> true true
print(d:eval()(brasa.ones(3)))  --> [1., 1., 1.]]=])

entry('brasa.nn.Embedding', 'nn.Embedding(num_embeddings, embedding_dim, opts?)',
  'A table of vectors looked up by id: ids [...] (i64) -> [... x embedding_dim].',
  [=[
weight is [num_embeddings x embedding_dim], N(0, 1) as PyTorch's default.
Ids are 1-based (1..num_embeddings); id 0 is padding: it gives a zero vector
and no gradient, so the output of brasa.text.pad_sequences goes in as it is.
opts: dtype, weight_init, weight_regularizer (alias embeddings_regularizer).]=],
  [=[
local emb = brasa.nn.Embedding(100, 8)
local ids = brasa.tensor({{5, 2, 0}, {7, 0, 0}}, {dtype = 'i64'})
local v = emb(ids)
print(table.concat(v.shape, 'x'), v[{1, 3}]:abs():sum():item())  --> 2x3x8 0.0]=])
reset_entry('Embedding', 'N(0, 1)')

local BN_TEXT = [=[
In training mode it normalises with the batch's mean and (biased) variance
over every dim but the channels, then scales by weight and shifts by bias;
running_mean and running_var follow (1 - momentum) x running + momentum x
batch value (the variance unbiased), and num_batches_tracked counts the
steps. In evaluation mode it uses the running statistics. PyTorch's
defaults: eps 1e-5, momentum 0.1, weight 1, bias 0, running_mean 0,
running_var 1. opts: eps, momentum, affine (false: no weight and bias),
track_running_stats (false: always batch statistics), dtype. The buffers are
saved in state_dict, not trained, and count as non-trainable in summary.]=]

entry('brasa.nn.BatchNorm2d', 'nn.BatchNorm2d(num_features, opts?)',
  'Batch normalisation of [N x C x H x W] per channel.', BN_TEXT,
  [=[
local bn = brasa.nn.BatchNorm2d(16)
print(bn.eps, bn.momentum, bn.running_mean:sum():item())  --> 1e-05 0.1 0.0
local y = bn(brasa.randn(8, 16, 5, 5) * 3 + 2)
print(math.abs(y:mean():item()) < 1e-4, bn.num_batches_tracked:item())  --> true 1]=])

entry('brasa.nn.BatchNorm1d', 'nn.BatchNorm1d(num_features, opts?)',
  'Batch normalisation of [N x C] or [N x C x L] per feature.', BN_TEXT,
  [=[
local bn = brasa.nn.BatchNorm1d(4)
bn(brasa.randn(32, 4) + 5)
print(bn.running_mean:mean():item() > 0.4)  --> true
bn:eval()
print(table.concat(bn(brasa.randn(1, 4)).shape, 'x'))  --> 1x4]=])

for _, c in ipairs {'BatchNorm1d', 'BatchNorm2d'} do
  reset_entry(c, 'weight 1 and bias 0, and the running statistics reset')
  entry('brasa.nn.' .. c .. ':reset_running_stats', c .. ':reset_running_stats()',
    'running_mean 0, running_var 1, num_batches_tracked 0.', nil,
    ('local bn = brasa.nn.%s(3)\nbn.running_mean:fill_(2)\nbn:reset_running_stats()\nprint(bn.running_mean:sum():item())  --> 0.0')
      :format(c))
end

entry('brasa.nn.LayerNorm', 'nn.LayerNorm(normalized_shape, opts?)',
  'Normalises over the last dims (normalized_shape: a number or a table of sizes), then scales and shifts.',
  'weight and bias have the normalized shape (1 and 0 at first; opts.elementwise_affine = false drops them). opts.eps (1e-5), dtype.',
  [=[
local ln = brasa.nn.LayerNorm(6)
local y = ln(brasa.randn(2, 5, 6) * 4 + 1)
print(math.abs(y[{1, 1}]:mean():item()) < 1e-5, table.concat(ln.weight.shape, 'x'))  --> true 6]=])
reset_entry('LayerNorm', 'weight 1 and bias 0')

---------------------------------------------------------------------------
-- Activations
---------------------------------------------------------------------------

local ACT = {
  {'ReLU', 'nn.ReLU()', 'max(0, x).', nil, 'print(brasa.nn.ReLU()(brasa.tensor{-1, 0, 2}))  --> [0., 0., 2.]'},
  {'LeakyReLU', 'nn.LeakyReLU(negative_slope?) | nn.LeakyReLU{negative_slope =}',
    'x where x > 0, negative_slope * x elsewhere (0.01 by default).', nil,
    'print(brasa.nn.LeakyReLU(0.1)(brasa.tensor{-1, 0, 2}))  --> [-0.1000, 0.0000, 2.0000]'},
  {'ELU', 'nn.ELU(alpha?) | nn.ELU{alpha =}', 'x where x > 0, alpha * (exp(x) - 1) elsewhere (alpha 1).', nil,
    'print(brasa.nn.ELU()(brasa.tensor{-1, 0, 2}))  --> [-0.6321, 0.0000, 2.0000]'},
  {'SELU', 'nn.SELU()', 'scale * elu(x, alpha) with the self-normalising constants (PyTorch\'s).',
    'alpha = 1.6732632423543772, scale = 1.0507009873554805; pair it with nn.init.kaiming_normal_(w, {nonlinearity = \'linear\'}) or lecun-normal weights.',
    'print(brasa.nn.SELU()(brasa.tensor{-1, 0, 2}))  --> [-1.1113, 0.0000, 2.1014]'},
  {'GELU', "nn.GELU(approximate?) | nn.GELU{approximate = 'tanh'}",
    'x * Phi(x) (exact with erf; approximate = \'tanh\' for the tanh form).', nil,
    'print(brasa.nn.GELU()(brasa.tensor{-1, 0, 2}))  --> [-0.1587, 0.0000, 1.9545]'},
  {'SiLU', 'nn.SiLU()', 'x * sigmoid(x) (swish).', nil,
    'print(brasa.nn.SiLU()(brasa.tensor{-1, 0, 2}))  --> [-0.2689, 0.0000, 1.7616]'},
  {'Sigmoid', 'nn.Sigmoid()', '1 / (1 + exp(-x)).', nil,
    'print(brasa.nn.Sigmoid()(brasa.tensor{0}))  --> [0.5000]'},
  {'Tanh', 'nn.Tanh()', 'The hyperbolic tangent.', nil,
    'print(brasa.nn.Tanh()(brasa.tensor{0, 100}))  --> [0., 1.]'},
  {'Softplus', 'nn.Softplus(beta?) | nn.Softplus{beta =, threshold =}',
    'log(1 + exp(beta * x)) / beta (beta 1); x itself where beta * x > threshold (20).', nil,
    'print(brasa.nn.Softplus()(brasa.tensor{-1, 0, 2}))  --> [0.3133, 0.6931, 2.1269]'},
  {'Softmax', 'nn.Softmax(dim?) | nn.Softmax{dim =}',
    'exp(x) / sum(exp(x)) along dim (1-based; the last dim, -1, by default), computed stably.',
    'For classification losses prefer raw scores with nn.CrossEntropyLoss (it applies log_softmax itself); a final Softmax needs CrossEntropyLoss{from_logits = false}.',
    'print(brasa.nn.Softmax{dim = 2}(brasa.tensor{{1, 1}, {0, math.log(3)}}))  --> [[0.5000, 0.5000], [0.2500, 0.7500]]'},
  {'LogSoftmax', 'nn.LogSoftmax(dim?) | nn.LogSoftmax{dim =}',
    'log(softmax(x)) along dim (the last by default), computed stably; pair it with nn.NLLLoss.', nil,
    'print(brasa.nn.LogSoftmax()(brasa.tensor{{0, 0}}):exp())  --> [[0.5000, 0.5000]]'},
}
for _, a in ipairs(ACT) do
  entry('brasa.nn.' .. a[1], a[2], 'Activation: ' .. a[3],
    (a[4] and (a[4] .. '\n') or '') .. 'Elementwise on floating inputs of any shape; no parameters.', a[5])
end

---------------------------------------------------------------------------
-- Losses
---------------------------------------------------------------------------

local RED = [=[
opts.reduction: 'mean' (the default) or 'sum' give a 0-dim tensor, 'none'
the loss of each element.]=]

entry('brasa.nn.Loss', 'nn.Loss', 'The base class of the loss modules: loss(output, target) -> loss.',
  'Derive a loss of your own with nn.Loss:extend(name) and a forward(output, target).\n' .. RED,
  [=[
local nn = brasa.nn
local MAPE = nn.Loss:extend('MAPE')
function MAPE:forward(y, t) return ((y - t) / t):abs():mean() * 100 end
print(MAPE()(brasa.tensor{110, 90}, brasa.tensor{100, 100}))  --> 10.]=])

entry('brasa.nn.MSELoss', 'nn.MSELoss(opts?)', 'Mean squared error: mean((output - target)^2).',
  'output and target have the same shape (a mismatch is an error: broadcasting [N x 1] with [N] is a classic bug); an integer target is cast to the output\'s dtype.\n' .. RED,
  [=[
local loss = brasa.nn.MSELoss()
print(loss(brasa.tensor{1, 2, 3}, brasa.tensor{1, 2, 5}))  --> 1.3333
print(brasa.nn.MSELoss{reduction = 'sum'}(brasa.tensor{1, 2}, brasa.tensor{0, 0}))  --> 5.]=])

entry('brasa.nn.L1Loss', 'nn.L1Loss(opts?)', 'Mean absolute error (MAE): mean(|output - target|).', RED,
  [=[
print(brasa.nn.L1Loss()(brasa.tensor{1, 2, 3}, brasa.tensor{2, 2, 5}))  --> 1.]=])

entry('brasa.nn.HuberLoss', 'nn.HuberLoss(opts?)',
  'Quadratic for small errors, linear for large: 0.5 d^2 where |d| < delta, delta (|d| - delta/2) elsewhere.',
  'opts.delta (1). ' .. RED,
  [=[
print(brasa.nn.HuberLoss{reduction = 'none'}(brasa.tensor{0.5, 3}, brasa.tensor{0, 0}))  --> [0.1250, 2.5000]]=])

entry('brasa.nn.SmoothL1Loss', 'nn.SmoothL1Loss(opts?)',
  "Huber's loss divided by beta: 0.5 d^2 / beta where |d| < beta, |d| - beta/2 elsewhere.",
  'opts.beta (1; 0 gives L1). ' .. RED,
  [=[
print(brasa.nn.SmoothL1Loss{beta = 2, reduction = 'none'}(brasa.tensor{1, 3}, brasa.tensor{0, 0}))  --> [0.2500, 2.0000]]=])

entry('brasa.nn.BCELoss', 'nn.BCELoss(opts?)',
  'Binary cross-entropy of probabilities: -(t log(p) + (1 - t) log(1 - p)).',
  'Outputs must be in [0, 1] (after a sigmoid) and targets in [0, 1]; logs are clamped at -100 as PyTorch. opts.weight rescales each element. For raw scores use BCEWithLogitsLoss (more stable).\n' .. RED,
  [=[
print(brasa.nn.BCELoss()(brasa.tensor{0.8, 0.4}, brasa.tensor{1, 0}))  --> 0.3670]=])

entry('brasa.nn.BCEWithLogitsLoss', 'nn.BCEWithLogitsLoss(opts?)',
  'Binary cross-entropy of raw scores (a sigmoid inside, computed stably).',
  'opts.pos_weight (one per class, broadcast over the last dim) weighs the positive examples; opts.weight each element.\n' .. RED,
  [=[
local z = brasa.tensor{1.3863, -0.4055}   -- logits of 0.8 and 0.4
print(brasa.nn.BCEWithLogitsLoss()(z, brasa.tensor{1, 0}))  --> 0.3670
print(brasa.nn.BCEWithLogitsLoss{pos_weight = brasa.tensor{2}}(z, brasa.tensor{1, 0}))  --> 0.4785]=])

entry('brasa.nn.CrossEntropyLoss', 'nn.CrossEntropyLoss(opts?)',
  'Cross-entropy of class scores [N x C] (or [N x C x d...], or [C]) against classes or probabilities.',
  [=[
Outputs are raw scores by default (the loss applies log_softmax). Targets:
integer class ids 1..C of shape [N] (or [N x d...]), or floating class
probabilities of the output's shape (one-hot labels, as in the course;
y:one_hot(C) works too). Options:
  weight           a tensor [C] of class weights ('mean' divides by their sum over the targets)
  ignore_index     a class id whose targets count for nothing (none by default;
                   0 suits padded sequence targets)
  label_smoothing  in [0, 1]: the target mixes with the uniform distribution
  from_logits      false: outputs already went through a softmax (Keras's
                   Dense(softmax) + categorical_crossentropy); they are
                   renormalised, clamped to [1e-7, 1 - 1e-7] and logged
  reduction        'mean', 'sum' or 'none'
A label 0 (a 0-based label given to this 1-based loss) is an error that
says so; so is a class past C. When outputs look like probabilities (all in
[0, 1], summing to 1) while from_logits is true, a warning is written once
to stderr.]=],
  [=[
local nn = brasa.nn
local scores = brasa.tensor{{2, 0, -1}, {0, 3, 0}}
local y = brasa.tensor({1, 2}, {dtype = 'i64'})
print(nn.CrossEntropyLoss()(scores, y))  --> 0.1324
print(nn.CrossEntropyLoss()(scores, y:one_hot(3):float()))  --> 0.1324
print(nn.CrossEntropyLoss{label_smoothing = 0.1}(scores, y))  --> 0.3157
local probs = nn.Softmax{dim = 2}(scores)
print(nn.CrossEntropyLoss{from_logits = false}(probs, y))  --> 0.1324
local ok, err = pcall(nn.CrossEntropyLoss(), scores, y - 1)   -- 0-based labels
print(ok, err:match('classes are 1%-based') ~= nil)  --> false true]=])

entry('brasa.nn.NLLLoss', 'nn.NLLLoss(opts?)',
  'Negative log-likelihood of log-probabilities [N x C] (from LogSoftmax) against class ids 1..C.',
  'opts: weight, ignore_index, reduction (as CrossEntropyLoss).',
  [=[
local nn = brasa.nn
local logp = nn.LogSoftmax{dim = 2}(brasa.tensor{{2, 0, -1}, {0, 3, 0}})
print(nn.NLLLoss()(logp, brasa.tensor({1, 2}, {dtype = 'i64'})))  --> 0.1324]=])

entry('brasa.nn.KLDivLoss', 'nn.KLDivLoss(opts?)',
  'Kullback-Leibler divergence KL(target || p) with input = log(p): target * (log(target) - input).',
  [=[
Terms with target 0 count 0. opts.log_target = true takes the target as
log-probabilities too. reduction: 'mean' (PyTorch's default: over every
element), 'batchmean' (the sum divided by the batch size: the true KL per
example, as Keras's KLDivergence), 'sum', 'none'.]=],
  [=[
local nn = brasa.nn
local p = brasa.tensor{{0.5, 0.5}}
local q = brasa.tensor{{0.9, 0.1}}
print(nn.KLDivLoss{reduction = 'batchmean'}(p:log(), q))  --> 0.3681]=])

entry('brasa.nn.CosineEmbeddingLoss', 'nn.CosineEmbeddingLoss(opts?)',
  'loss(x1, x2, y): 1 - cos(x1, x2) where y = 1, max(0, cos - margin) where y = -1.',
  'x1, x2 are [N x D] (or [D]); y holds 1 or -1 per pair. opts.margin (0). ' .. RED,
  [=[
local a = brasa.tensor{{1, 0}, {1, 0}}
local b = brasa.tensor{{0, 1}, {1, 0}}
print(brasa.nn.CosineEmbeddingLoss()(a, b, brasa.tensor{1, -1}))  --> 1.]=])

---------------------------------------------------------------------------
-- Functionals written in Lua
---------------------------------------------------------------------------

local function fn(name, sig, summary, text, example)
  entry('brasa.nn.functional.' .. name, sig, summary, text, example)
end

fn('linear', 'F.linear(x, weight, bias?)', 'x @ weight^T + bias, with weight [out x in] (what nn.Linear computes).',
  nil, [=[
local F = brasa.nn.functional
print(F.linear(brasa.tensor{{1, 2}}, brasa.tensor{{1, 1}, {0, 1}}, brasa.tensor{10, 20}))  --> [[13., 22.]]]=])

fn('selu', 'F.selu(x)', 'scale * elu(x, alpha) with the SELU constants (nn.SELU).', nil,
  [=[
print(brasa.nn.functional.selu(brasa.tensor{1}))  --> [1.0507]]=])

fn('silu', 'F.silu(x)', 'x * sigmoid(x) (nn.SiLU, swish).', nil,
  [=[
print(brasa.nn.functional.silu(brasa.tensor{0, 2}))  --> [0.0000, 1.7616]]=])

local FOPTS = "opts is a table of the module's options, or the reduction as a string ('sum')."

fn('mse_loss', 'F.mse_loss(output, target, opts?)', 'Mean squared error (nn.MSELoss).', FOPTS,
  [=[
print(brasa.nn.functional.mse_loss(brasa.tensor{1, 3}, brasa.tensor{0, 0}, 'sum'))  --> 10.]=])

fn('l1_loss', 'F.l1_loss(output, target, opts?)', 'Mean absolute error (nn.L1Loss).', FOPTS,
  [=[
print(brasa.nn.functional.l1_loss(brasa.tensor{1, -3}, brasa.tensor{0, 0}))  --> 2.]=])

fn('huber_loss', 'F.huber_loss(output, target, opts?)', "Huber's loss with opts.delta (nn.HuberLoss).", FOPTS,
  [=[
print(brasa.nn.functional.huber_loss(brasa.tensor{3}, brasa.tensor{0}, {delta = 2}))  --> 4.]=])

fn('smooth_l1_loss', 'F.smooth_l1_loss(output, target, opts?)', 'Smooth L1 with opts.beta (nn.SmoothL1Loss).',
  FOPTS, [=[
print(brasa.nn.functional.smooth_l1_loss(brasa.tensor{0.5}, brasa.tensor{0}))  --> 0.1250]=])

fn('binary_cross_entropy', 'F.binary_cross_entropy(output, target, opts?)',
  'Binary cross-entropy of probabilities (nn.BCELoss; opts.weight).', FOPTS,
  [=[
print(brasa.nn.functional.binary_cross_entropy(brasa.tensor{0.5}, brasa.tensor{1}))  --> 0.6931]=])

fn('binary_cross_entropy_with_logits', 'F.binary_cross_entropy_with_logits(output, target, opts?)',
  'Binary cross-entropy of raw scores (nn.BCEWithLogitsLoss; opts.weight, opts.pos_weight).', FOPTS,
  [=[
print(brasa.nn.functional.binary_cross_entropy_with_logits(brasa.tensor{0}, brasa.tensor{1}))  --> 0.6931]=])

fn('kl_div', 'F.kl_div(input, target, opts?)',
  'KL divergence with input log-probabilities (nn.KLDivLoss; opts.log_target, reduction batchmean).', FOPTS,
  [=[
local q = brasa.tensor{0.25, 0.75}
print(brasa.nn.functional.kl_div(q:log(), q, 'sum'))  --> 0.]=])

fn('cosine_embedding_loss', 'F.cosine_embedding_loss(x1, x2, y, opts?)',
  'The cosine embedding loss (nn.CosineEmbeddingLoss; opts.margin).', FOPTS,
  [=[
local a = brasa.tensor{{1, 1}}
print(brasa.nn.functional.cosine_embedding_loss(a, a, brasa.tensor{1}))  --> 0.]=])

---------------------------------------------------------------------------
-- Initialisers
---------------------------------------------------------------------------

local function ini(name, sig, summary, text, example)
  entry('brasa.nn.init.' .. name, sig, summary, text, example)
end

local FANS = [=[
fan_in and fan_out follow PyTorch: a weight [out x in x k...] has fan_in =
in x k... and fan_out = out x k... . The tensor is filled in place, outside
the graph (parameters stay leaves), and returned.]=]

ini('calculate_gain', 'nn.init.calculate_gain(nonlinearity, param?) -> number',
  "PyTorch's recommended gain for a nonlinearity.",
  "linear, conv1d/2d, sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + slope^2)) (param: the slope, 0.01); selu: 3/4.",
  [=[
print(brasa.nn.init.calculate_gain('tanh'), brasa.nn.init.calculate_gain('relu'))  --> 1.6666666666667 1.4142135623731]=])

ini('calculate_fan_in_and_fan_out', 'nn.init.calculate_fan_in_and_fan_out(t) -> fan_in, fan_out',
  "The fans of a weight tensor, as PyTorch's.", nil,
  [=[
print(brasa.nn.init.calculate_fan_in_and_fan_out(brasa.empty(32, 16, 3, 3)))  --> 144 288]=])

ini('uniform_', 'nn.init.uniform_(t, a?, b?) -> t', 'Fills t with U(a, b) (0 and 1 by default).', nil,
  [=[
local w = brasa.nn.init.uniform_(brasa.empty(100), -2, 2)
print(w:min():item() >= -2 and w:max():item() < 2)  --> true]=])

ini('normal_', 'nn.init.normal_(t, mean?, std?) -> t', 'Fills t with N(mean, std^2) (0 and 1 by default).', nil,
  [=[
local w = brasa.nn.init.normal_(brasa.empty(10000), 1, 0.1)
print(math.abs(w:mean():item() - 1) < 0.01)  --> true]=])

ini('constant_', 'nn.init.constant_(t, value) -> t', 'Fills t with a value.', nil,
  [=[
print(brasa.nn.init.constant_(brasa.empty(3), 0.5))  --> [0.5000, 0.5000, 0.5000]]=])

ini('zeros_', 'nn.init.zeros_(t) -> t', 'Fills t with zeros.', nil,
  [=[
local l = brasa.nn.Linear(2, 2)
brasa.nn.init.zeros_(l.bias)
print(l.bias, l.bias.is_leaf)  --> [0., 0.] true]=])

ini('ones_', 'nn.init.ones_(t) -> t', 'Fills t with ones.', nil,
  [=[
print(brasa.nn.init.ones_(brasa.empty(2)))  --> [1., 1.]]=])

ini('xavier_uniform_', 'nn.init.xavier_uniform_(t, gain?) -> t',
  'Glorot uniform: U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).', FANS,
  [=[
local w = brasa.nn.init.xavier_uniform_(brasa.empty(100, 200))
print(w:abs():max():item() <= math.sqrt(6 / 300))  --> true]=])

ini('xavier_normal_', 'nn.init.xavier_normal_(t, gain?) -> t',
  'Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).', FANS,
  [=[
local w = brasa.nn.init.xavier_normal_(brasa.empty(300, 500))
print(math.abs(w:std():item() - math.sqrt(2 / 800)) < 0.002)  --> true]=])

ini('glorot_uniform_', 'nn.init.glorot_uniform_(t, gain?) -> t', "Keras's name of xavier_uniform_.", nil,
  [=[
print(brasa.nn.init.glorot_uniform_ == brasa.nn.init.xavier_uniform_)  --> true]=])

ini('glorot_normal_', 'nn.init.glorot_normal_(t, gain?) -> t', "Keras's name of xavier_normal_.", nil,
  [=[
print(brasa.nn.init.glorot_normal_ == brasa.nn.init.xavier_normal_)  --> true]=])

local KAIMING = [=[
opts: a (the negative slope of leaky_relu, 0), mode ('fan_in', the
default, preserves the forward pass's variance; 'fan_out' the backward's),
nonlinearity ('leaky_relu' by default, which with a = 0 is relu's gain
sqrt(2)). A number for opts is a.
]=] .. FANS

ini('kaiming_uniform_', 'nn.init.kaiming_uniform_(t, opts?) -> t',
  'He uniform: U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).', KAIMING,
  [=[
local w = brasa.nn.init.kaiming_uniform_(brasa.empty(64, 100), {nonlinearity = 'relu'})
print(w:abs():max():item() <= math.sqrt(6 / 100))  --> true]=])

ini('kaiming_normal_', 'nn.init.kaiming_normal_(t, opts?) -> t',
  'He normal: N(0, std^2), std = gain / sqrt(fan).', KAIMING,
  [=[
local w = brasa.nn.init.kaiming_normal_(brasa.empty(400, 200), {mode = 'fan_out', nonlinearity = 'relu'})
print(math.abs(w:std():item() - math.sqrt(2 / 400)) < 0.003)  --> true]=])

ini('he_uniform_', 'nn.init.he_uniform_(t, opts?) -> t',
  "Keras's he_uniform: kaiming_uniform_ with the relu gain (opts.mode).", nil,
  [=[
local w = brasa.nn.init.he_uniform_(brasa.empty(10, 50))
print(w:abs():max():item() <= math.sqrt(6 / 50))  --> true]=])

ini('he_normal_', 'nn.init.he_normal_(t, opts?) -> t',
  "Keras's he_normal: kaiming_normal_ with the relu gain (opts.mode).", nil,
  [=[
local w = brasa.nn.init.he_normal_(brasa.empty(500, 400))
print(math.abs(w:std():item() - math.sqrt(2 / 400)) < 0.003)  --> true]=])

ini('orthogonal_', 'nn.init.orthogonal_(t, gain?) -> t',
  'A (semi-)orthogonal matrix times gain: orthonormal rows or columns, whichever are fewer.',
  [=[
As PyTorch: the Q factor of the QR factorisation of a standard normal
matrix, with R's diagonal made positive (computed here by Gram-Schmidt with
reorthogonalisation, in f64). A tensor of more than 2 dims is seen as
[size(1) x the rest]. Recurrent weights often start this way.]=],
  [=[
local w = brasa.nn.init.orthogonal_(brasa.empty(4, 6))
print(w:matmul(w:t()):allclose(brasa.eye(4), 1e-5, 1e-5))  --> true]=])

ini('get', 'nn.init.get(name | fn) -> fn',
  "An initialiser by name ('glorot_uniform', 'he_normal', 'zeros', with or without the final _), or fn itself.",
  'Layers use it for their weight_init and bias_init options.',
  [=[
print(brasa.nn.init.get('he_normal') == brasa.nn.init.he_normal_)  --> true]=])

---------------------------------------------------------------------------
-- Regularisers
---------------------------------------------------------------------------

local REGS = [=[
A regulariser is called on a tensor and returns a 0-dim penalty. Give it to
a layer (weight_regularizer / kernel_regularizer, bias_regularizer) and add
model:regularization_loss() to the training loss. l2(c) adds c * sum(w^2),
as Keras; this is not PyTorch's weight decay (an optimiser option adding
wd * w to the gradient: for SGD, l2(c) equals weight decay 2c).]=]

entry('brasa.nn.regularizers.l1', 'nn.regularizers.l1(c?) -> reg', 'reg(w) = c * sum(|w|) (c = 0.01 by default).',
  REGS, [=[
print(brasa.nn.regularizers.l1(0.5)(brasa.tensor{-2, 2}))  --> 2.]=])

entry('brasa.nn.regularizers.l2', 'nn.regularizers.l2(c?) -> reg', 'reg(w) = c * sum(w^2) (c = 0.01 by default).',
  REGS, [=[
local nn = brasa.nn
local layer = nn.Linear(64, 10, {kernel_regularizer = nn.regularizers.l2(0.01)})
print(nn.regularizers.l2(0.5)(brasa.tensor{1, 2}))  --> 2.5000]=])

entry('brasa.nn.regularizers.l1_l2', 'nn.regularizers.l1_l2(l1?, l2?) -> reg',
  'reg(w) = l1 * sum(|w|) + l2 * sum(w^2) (0.01 each by default).', REGS,
  [=[
print(brasa.nn.regularizers.l1_l2(1, 1)(brasa.tensor{-1, 2}))  --> 8.]=])

entry('brasa.nn.regularizers.is_regularizer', 'nn.regularizers.is_regularizer(v) -> boolean',
  'Whether v was made by l1, l2 or l1_l2.', nil,
  [=[
print(brasa.nn.regularizers.is_regularizer(brasa.nn.regularizers.l2()))  --> true]=])

doc.addall(list)

--- Binds the classes, methods and functions of nn to their entries.
function M.bind(nn)
  for k, v in pairs(nn) do
    if type(k) == 'string' and k:sub(1, 1) ~= '_' then
      local name = 'brasa.nn.' .. k
      if type(v) == 'function' then
        doc.bind(v, name)
      elseif type(v) == 'table' and rawget(v, '__name') then   -- a class
        doc.bind(v, name)
        for m, f in pairs(v) do
          if type(f) == 'function' and type(m) == 'string' and m:sub(1, 1) ~= '_' then
            doc.bind(f, name .. ':' .. m)
          end
        end
      elseif type(v) == 'table' then   -- functional, init, regularizers
        for m, f in pairs(v) do
          if type(f) == 'function' and type(m) == 'string' and doc.get(name .. '.' .. m) then
            doc.bind(f, name .. '.' .. m)
          end
        end
      end
    end
  end
end

M.entries = list
return M
