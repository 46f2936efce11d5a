-- brasa.docs.optim: help entries of brasa.optim (optimisers, gradient
-- clipping, learning-rate schedules). Loaded with the other documentation
-- when brasa loads (lua/brasa/docs.lua); brasa.optim, which loads later,
-- calls M.bind(optim) so help(optim.Adam) finds its entry by value.
-- Examples follow the conventions of docs/tensor.lua (`print(expr)  --> shown`)
-- and are run by tests/lua/optim_spec.lua.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {name, sig, summary, text = text, example = example, see = see}
end

local COMMON = [=[
params is a list of tensors (model:parameters() gives one), one tensor, a
module (anything with a parameters() method), or a list of parameter groups
{{params = {...}, lr = ...}, ...}, each with its own options; options a
group leaves out come from opts, then from the defaults. The update runs in
C, one fused pass per parameter, and records no graph; parameters whose
.grad is nil are skipped. An unknown option, a value out of range or a
non-tensor among the parameters raises an error naming the optimiser and
the option. maximize = true ascends the objective instead.
Methods: step, zero_grad, state_dict, load_state_dict, add_param_group
(see brasa.optim.Optimizer:step and the others); fields param_groups,
state (per parameter), defaults.]=]

-- ---- the module and the base --------------------------------------------------------

entry('brasa.optim', 'brasa.optim',
  'Optimisers, gradient clipping and learning-rate schedules (the global optim in the REPL).',
  [=[
Optimisers: SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, with PyTorch
1.13's algorithms and defaults (SGD's lr defaults to 0.01). Gradient
clipping: clip_grad_norm, clip_grad_value. Schedules: StepLR, MultiStepLR,
ExponentialLR, CosineAnnealingLR, CosineAnnealingWarmRestarts, OneCycleLR,
LinearLR, LambdaLR, ReduceLROnPlateau (also as optim.lr_scheduler.X). The
training loop: opt:zero_grad(); loss:backward(); opt:step(); and, once per
epoch, sched:step().]=],
  [=[
local optim = require 'brasa.optim'
local w = brasa.tensor({1.0, -2.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.SGD({w}, {lr = 0.1})
for _ = 1, 3 do
  opt:zero_grad()
  local loss = (w * w):sum()   -- minimum at 0
  loss:backward()
  opt:step()
end
print(w)  --> [0.5120, -1.0240]]=])

entry('brasa.optim.Optimizer', 'brasa.optim.Optimizer',
  'The base of every optimiser: parameter groups, per-parameter state, step, zero_grad, state dicts.',
  [=[
opt.param_groups is a list of tables {params = {tensors}, lr = ..., ...}:
change an option there (group.lr = 0.01) and the next step uses it;
schedules do exactly that. opt.state[p] holds the state of parameter p
(step counts and moment tensors), created at the first step that sees a
gradient for it. opt.defaults holds the options given at construction.
Optimizer.subclass(name, spec) declares a new family (see the source of
lua/brasa/optim/sgd.lua for a short one).]=],
  [=[
local opt = optim.Adam({brasa.zeros(2, {requires_grad = true})}, {lr = 0.01})
print(#opt.param_groups, opt.param_groups[1].lr, opt.defaults.betas[2])  --> 1 0.01 0.999
opt.param_groups[1].lr = 0.001   -- what a schedule does
print(opt.param_groups[1].lr)  --> 0.001]=])

entry('brasa.optim.Optimizer:step', 'opt:step(closure?) -> closure\'s result',
  'Updates every parameter that has a gradient, one fused C pass per parameter.',
  [=[
Parameters whose .grad is nil are skipped (their state is not even
created). No graph is recorded, and the parameters' versions are bumped, so
a graph that saved a parameter's old value refuses to run backward
afterwards. Options changed by hand in param_groups are checked here, with
an error naming the group. closure, if given, is called first with
gradient recording on; it should clear the gradients, compute the loss,
call backward and return the loss, which step returns.]=],
  [=[
local w = brasa.tensor({3.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.SGD({w}, {lr = 0.25})
local loss = opt:step(function()
  opt:zero_grad()
  local l = (w * w):sum()
  l:backward()
  return l
end)
print(loss:item(), w[1])  --> 9.0 1.5]=])

entry('brasa.optim.Optimizer:zero_grad', 'opt:zero_grad(opts?)',
  'Clears the gradients of all parameters: sets .grad to nil, or to zeros with {set_to_none = false}.',
  [=[
Setting to nil (the default, as PyTorch 2 does) frees the memory and lets
the next backward write fresh gradients; {set_to_none = false} (or
zero_grad(false)) keeps the tensors and fills them with zeros.]=],
  [=[
local w = brasa.tensor({1, 2}, {requires_grad = true})
local opt = optim.SGD({w})
w.grad = brasa.tensor {5, 6}
opt:zero_grad({set_to_none = false})
print(w.grad)  --> [0., 0.]
opt:zero_grad()
print(w.grad)  --> nil]=])

entry('brasa.optim.Optimizer:state_dict', 'opt:state_dict() -> {state = ..., param_groups = ...}',
  'A snapshot of the optimiser: its groups\' options and each parameter\'s state.',
  [=[
Parameters are named by their 1-based position over all groups (PyTorch's
are 0-based): sd.state[i] = {step = n, exp_avg = tensor, ...} and
sd.param_groups[g] = {lr = ..., ..., params = {i, ...}}. State tensors are
copies, so the snapshot does not change as training goes on. Save it with
the model's state_dict to resume later with load_state_dict.]=],
  [=[
local w = brasa.tensor({1, 2}, {requires_grad = true})
local opt = optim.Adam({w}, {lr = 0.1})
w.grad = brasa.tensor {1, 1}
opt:step()
local sd = opt:state_dict()
print(sd.state[1].step, sd.param_groups[1].lr, sd.param_groups[1].params[1])  --> 1 0.1 1
print(sd.state[1].exp_avg)  --> [0.1000, 0.1000]]=])

entry('brasa.optim.Optimizer:load_state_dict', 'opt:load_state_dict(sd)',
  'Restores options and state saved by state_dict, so training resumes exactly.',
  [=[
The optimiser must have been built over the same parameters in the same
groups (same counts, same shapes). Everything is checked before anything
changes: a mismatch raises an error naming the group or the parameter and
the shapes, and leaves the optimiser as it was. State tensors are copied
into the parameters' dtypes; options come from sd, not from the
constructor.]=],
  [=[
local w = brasa.tensor({1, 2}, {requires_grad = true})
local opt = optim.Adam({w}, {lr = 0.1})
w.grad = brasa.tensor {1, 1}
opt:step()
local sd = opt:state_dict()
local opt2 = optim.Adam({w})        -- e.g. in a new session, after loading the model
opt2:load_state_dict(sd)
print(opt2.param_groups[1].lr, opt2.state[w].step)  --> 0.1 1]=])

entry('brasa.optim.Optimizer:add_param_group', 'opt:add_param_group(group)',
  'Adds a parameter group {params = {...}, <options>}, e.g. layers unfrozen during fine-tuning.',
  'Options the group leaves out come from the optimiser\'s defaults. A parameter may belong to one group only.',
  [=[
local a, b = brasa.zeros(2, {requires_grad = true}), brasa.zeros(3, {requires_grad = true})
local opt = optim.SGD({a}, {lr = 0.1, momentum = 0.9})
opt:add_param_group({params = {b}, lr = 0.01})
print(#opt.param_groups, opt.param_groups[2].lr, opt.param_groups[2].momentum)  --> 2 0.01 0.9]=])

entry('brasa.optim.Optimizer.subclass', 'brasa.optim.Optimizer.subclass(name, spec) -> class',
  'Declares an optimiser family: its options with defaults and checks, its state, its update.',
  [=[
spec.options = {{name, default, check}, ...} with check one of 'nonneg',
'positive', 'unit' ([0, 1]), 'bool', 'betas'; spec.validate(group) returns
a message for invalid combinations; spec.init_state(param, group) returns
the new state table; spec.update(param, grad, state, group) updates one
parameter (the built-in families call their C kernel there). The class is
called like the built-ins: Class(params, opts).]=],
  [=[
local SignSGD = optim.Optimizer.subclass('SignSGD', {
  options = {{'lr', 0.01, 'nonneg'}},
  update = function(p, grad, state, group)
    brasa.no_grad(function() p:sub_(grad:sign() * group.lr) end)
  end,
})
local w = brasa.tensor({1, -1}, {requires_grad = true})
local opt = SignSGD({w}, {lr = 0.5})
w.grad = brasa.tensor {3, -2}
opt:step()
print(w)  --> [0.5000, -0.5000]]=])

-- ---- optimisers -----------------------------------------------------------------------

entry('brasa.optim.SGD', 'brasa.optim.SGD(params, {lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false})',
  'Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay.',
  [=[
Per parameter p with gradient g: d = g + weight_decay * p; with momentum,
buf = d on the first step and momentum * buf + (1 - dampening) * d after,
and d = buf (or d + momentum * buf with nesterov); then p = p - lr * d.
This is PyTorch 1.13's torch.optim.SGD; its lr has no default there, here
0.01 (Keras's). nesterov needs momentum > 0 and dampening = 0. State:
momentum_buffer.

]=] .. COMMON,
  [=[
local w = brasa.tensor({1.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.SGD({w}, {lr = 0.1, momentum = 0.9})
for _ = 1, 2 do
  opt:zero_grad()
  local loss = ((w - 3) ^ 2):sum()   -- gradient 2 (w - 3)
  loss:backward()
  opt:step()
end
print(w)  --> [2.0800]]=])

entry('brasa.optim.Adam', 'brasa.optim.Adam(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false, maximize = false})',
  'Adam: adaptive moment estimation (Kingma and Ba), with L2 weight decay and AMSGrad.',
  [=[
Per parameter, at step t: g = grad + weight_decay * p; m = beta1 m + (1 -
beta1) g; v = beta2 v + (1 - beta2) g^2; with amsgrad vmax = max(vmax, v)
is used in place of v; p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 -
beta2^t) + eps). PyTorch 1.13's torch.optim.Adam. State: step, exp_avg,
exp_avg_sq, max_exp_avg_sq (amsgrad). For weight decay that does not pass
through the moments, use AdamW.

]=] .. COMMON,
  [=[
local w = brasa.tensor({1.0, -1.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.Adam({w}, {lr = 0.1})
w.grad = brasa.tensor({4.0, -0.5}, {dtype = 'f64'})
opt:step()   -- the first step moves every element by about lr
print(w)  --> [0.9000, -0.9000]
print(opt.state[w].step)  --> 1]=])

entry('brasa.optim.AdamW', 'brasa.optim.AdamW(params, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false})',
  'Adam with decoupled weight decay (Loshchilov and Hutter): p shrinks by lr * weight_decay each step.',
  [=[
As Adam, except that weight decay multiplies the parameter by (1 - lr *
weight_decay) before the update instead of being added to the gradient, so
it does not pass through the adaptive scaling. Default weight_decay 0.01.
PyTorch 1.13's torch.optim.AdamW.

]=] .. COMMON,
  [=[
local w = brasa.tensor({1.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.AdamW({w}, {lr = 0.1, weight_decay = 0.5})
w.grad = brasa.tensor({0.0}, {dtype = 'f64'})
opt:step()   -- no gradient: only the decay acts, w * (1 - 0.1 * 0.5)
print(w)  --> [0.9500]]=])

entry('brasa.optim.RMSprop', 'brasa.optim.RMSprop(params, {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false, maximize = false})',
  'RMSprop: divides the gradient by a running root mean square of recent gradients.',
  [=[
g = grad + weight_decay * p; s = alpha s + (1 - alpha) g^2; centered also
keeps c = alpha c + (1 - alpha) g and uses s - c^2 (the variance); avg =
sqrt(...) + eps; with momentum buf = momentum buf + g / avg and p = p - lr
buf, otherwise p = p - lr g / avg. PyTorch 1.13's torch.optim.RMSprop
(Keras's RMSprop uses rho = 0.9 and lr = 1e-3: pass alpha = 0.9, lr = 1e-3
for its behaviour). State: step, square_avg, grad_avg, momentum_buffer.

]=] .. COMMON,
  [=[
local w = brasa.tensor({1.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.RMSprop({w}, {lr = 0.01, alpha = 0.75})
w.grad = brasa.tensor({2.0}, {dtype = 'f64'})
opt:step()   -- s = 0.25 * 4 = 1: the step is lr * 2 / 1
print(w)  --> [0.9800]]=])

entry('brasa.optim.Adagrad', 'brasa.optim.Adagrad(params, {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10, maximize = false})',
  'Adagrad: per-element learning rates that shrink with the sum of squared past gradients.',
  [=[
g = grad + weight_decay * p; at step t, clr = lr / (1 + (t - 1) lr_decay);
sum = sum + g^2; p = p - clr g / (sqrt(sum) + eps). The sums start at
initial_accumulator_value, and the state exists from construction.
PyTorch 1.13's torch.optim.Adagrad. State: step, sum.

]=] .. COMMON,
  [=[
local w = brasa.tensor({1.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.Adagrad({w}, {lr = 0.5})
w.grad = brasa.tensor({3.0}, {dtype = 'f64'})
opt:step()   -- sum = 9: the step is 0.5 * 3 / 3
print(w, opt.state[w].sum)  --> [0.5000] [9.]]=])

entry('brasa.optim.Adadelta', 'brasa.optim.Adadelta(params, {lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0, maximize = false})',
  'Adadelta: steps scaled by the ratio of running RMS of past updates and of gradients.',
  [=[
g = grad + weight_decay * p; s = rho s + (1 - rho) g^2; delta = sqrt(acc +
eps) / sqrt(s + eps) * g; acc = rho acc + (1 - rho) delta^2; p = p - lr
delta. rho in [0, 1]. PyTorch 1.13's torch.optim.Adadelta. State: step,
square_avg, acc_delta.

]=] .. COMMON,
  [=[
local w = brasa.tensor({1.0}, {dtype = 'f64', requires_grad = true})
local opt = optim.Adadelta({w}, {rho = 0.9, eps = 1e-6})
w.grad = brasa.tensor({1.0}, {dtype = 'f64'})
opt:step()   -- the first steps are tiny: acc starts at 0
print(string.format('%.6f', w[1]))  --> 0.996838]=])

-- ---- clipping ----------------------------------------------------------------------------

entry('brasa.optim.clip_grad_norm', 'brasa.optim.clip_grad_norm(params, max_norm, norm_type = 2) -> total norm',
  'Scales the gradients of params together so that their joint norm is at most max_norm.',
  [=[
The norm is taken over all gradients together, as if concatenated
(norm_type a number > 0, or math.huge / 'inf' for the largest absolute
value); when it exceeds max_norm, every gradient is multiplied in place by
max_norm / (norm + 1e-6). Returns the norm before clipping, as a Lua
number (log it to watch for exploding gradients). params: a tensor, a list
of tensors or a module; parameters without a gradient are skipped.
torch.nn.utils.clip_grad_norm_. Call it between backward and step.]=],
  [=[
local w = brasa.tensor({0, 0}, {requires_grad = true})
w.grad = brasa.tensor {3, 4}
local total = optim.clip_grad_norm({w}, 1.0)
print(total, w.grad)  --> 5.0 [0.6000, 0.8000]]=])

entry('brasa.optim.clip_grad_value', 'brasa.optim.clip_grad_value(params, clip)',
  'Clamps every gradient element of params into [-clip, clip], in place.',
  'params: a tensor, a list of tensors or a module; parameters without a gradient are skipped. torch.nn.utils.clip_grad_value_.',
  [=[
local w = brasa.tensor({0, 0, 0}, {requires_grad = true})
w.grad = brasa.tensor {-3, 0.2, 5}
optim.clip_grad_value({w}, 1)
print(w.grad)  --> [-1.0000, 0.2000, 1.0000]]=])

-- ---- schedules ---------------------------------------------------------------------------

local SCHED = [=[

Common to the schedules (PyTorch 1.13's torch.optim.lr_scheduler, epoch
conventions included): creating one already counts as a first step
(last_epoch becomes 0 and the groups get the first rate); call
sched:step() after opt:step(), once per epoch (or per batch where the
schedule says so); sched:get_last_lr() gives the current rates, one per
group; the schedule decays from each group's initial_lr, which it sets from
group.lr when absent. The main option may be given positionally or in the
options table; options last_epoch (-1: start afresh; resuming needs the
groups' initial_lr) and verbose (print each change).]=]

entry('brasa.optim.StepLR', 'brasa.optim.StepLR(opt, step_size, {gamma = 0.1})',
  'Multiplies the learning rate by gamma every step_size epochs.', SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.StepLR(opt, 2, {gamma = 0.5})
local lrs = {}
for epoch = 1, 6 do
  opt:step()
  sched:step()
  lrs[epoch] = sched:get_last_lr()[1]
end
print(table.concat(lrs, ' '))  --> 1 0.5 0.5 0.25 0.25 0.125]=])

entry('brasa.optim.MultiStepLR', 'brasa.optim.MultiStepLR(opt, milestones, {gamma = 0.1})',
  'Multiplies the learning rate by gamma at each milestone epoch (a list; repeats count twice).', SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.MultiStepLR(opt, {2, 4}, {gamma = 0.1})
local lrs = {}
for epoch = 1, 5 do
  sched:step()
  lrs[epoch] = string.format('%g', sched:get_last_lr()[1])
end
print(table.concat(lrs, ' '))  --> 1 0.1 0.1 0.01 0.01]=])

entry('brasa.optim.ExponentialLR', 'brasa.optim.ExponentialLR(opt, gamma)',
  'Multiplies the learning rate by gamma every epoch.', SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.ExponentialLR(opt, 0.5)
sched:step()
sched:step()
print(sched:get_last_lr()[1])  --> 0.25]=])

entry('brasa.optim.CosineAnnealingLR', 'brasa.optim.CosineAnnealingLR(opt, T_max, {eta_min = 0})',
  'Anneals the learning rate along half a cosine from its initial value to eta_min over T_max epochs.',
  [=[
lr = eta_min + (initial - eta_min) (1 + cos(pi epoch / T_max)) / 2, computed
recursively as PyTorch does; past T_max the rate rises again along the
cosine (use CosineAnnealingWarmRestarts for restarts).]=] .. SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.CosineAnnealingLR(opt, 4)
local lrs = {}
for epoch = 1, 4 do
  sched:step()
  lrs[epoch] = string.format('%.3f', sched:get_last_lr()[1])
end
print(table.concat(lrs, ' '))  --> 0.854 0.500 0.146 0.000]=])

entry('brasa.optim.CosineAnnealingWarmRestarts', 'brasa.optim.CosineAnnealingWarmRestarts(opt, T_0, {T_mult = 1, eta_min = 0})',
  'Cosine annealing restarted every T_i epochs (SGDR), T_i = T_0 * T_mult^i.',
  [=[
sched:step(epoch) also takes a fractional epoch, so it can be called per
batch: sched:step(epoch - 1 + batch / batches).]=] .. SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.CosineAnnealingWarmRestarts(opt, 2)
local lrs = {}
for epoch = 1, 4 do
  sched:step()
  lrs[epoch] = string.format('%.2f', sched:get_last_lr()[1])
end
print(table.concat(lrs, ' '))  --> 0.50 1.00 0.50 1.00]=])

entry('brasa.optim.OneCycleLR', 'brasa.optim.OneCycleLR(opt, max_lr, {total_steps = n} or {epochs = e, steps_per_epoch = s}, ...)',
  'The 1cycle policy, stepped once per batch: lr warms up to max_lr and anneals far below the start.',
  [=[
The rate starts at max_lr / div_factor (default 25), rises to max_lr over
pct_start (0.3) of the steps, then anneals to start / final_div_factor
(1e4); anneal_strategy 'cos' (default) or 'linear'; three_phase = true
adds a symmetric descent before the final annealing. With cycle_momentum
(default true) the optimiser's momentum (SGD) or beta1 (Adam) moves the
other way between max_momentum (0.95) and base_momentum (0.85). max_lr and
the momenta may be lists, one per group. Stepping more than total_steps
times raises.]=] .. SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 0.1, momentum = 0.9})
local sched = optim.OneCycleLR(opt, 1.0, {total_steps = 10})
print(sched:get_last_lr()[1], opt.param_groups[1].momentum)  --> 0.04 0.95
for _ = 1, 2 do sched:step() end
print(sched:get_last_lr()[1], opt.param_groups[1].momentum)  --> 1.0 0.85]=])

entry('brasa.optim.LinearLR', 'brasa.optim.LinearLR(opt, {start_factor = 1/3, end_factor = 1, total_iters = 5})',
  'Changes the learning rate linearly from start_factor to end_factor times its initial value (a warm-up).',
  'The factor moves over total_iters epochs, then stays at end_factor. start_factor and end_factor are in (0, 1].' .. SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.LinearLR(opt, {start_factor = 0.25, total_iters = 3})
local lrs = {sched:get_last_lr()[1]}
for epoch = 1, 4 do
  sched:step()
  lrs[#lrs + 1] = sched:get_last_lr()[1]
end
print(table.concat(lrs, ' '))  --> 0.25 0.5 0.75 1.0 1.0]=])

entry('brasa.optim.LambdaLR', 'brasa.optim.LambdaLR(opt, fn or {fn per group})',
  'Sets the learning rate to its initial value times fn(epoch).',
  'fn receives the epoch number (0 at creation). Functions are not part of state_dict.' .. SCHED,
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 2})
local sched = optim.LambdaLR(opt, function(epoch) return 1 / (epoch + 1) end)
sched:step()
sched:step()
print(sched:get_last_lr()[1])  --> 0.66666666666667]=])

entry('brasa.optim.ReduceLROnPlateau', 'brasa.optim.ReduceLROnPlateau(opt, {mode = \'min\', factor = 0.1, patience = 10, threshold = 1e-4, threshold_mode = \'rel\', cooldown = 0, min_lr = 0, eps = 1e-8})',
  'Reduces the learning rate by factor when a monitored metric stops improving.',
  [=[
Call sched:step(metric) once per epoch with the validation loss (mode
'min') or accuracy ('max'), a number or a one-element tensor. A value
better than the best so far by more than threshold (relative: best * (1 -
threshold), or absolute) resets the count of bad epochs; after more than
patience bad epochs every group's lr becomes max(lr * factor, min_lr)
(min_lr may be a list, one per group), then cooldown epochs pass before
bad epochs count again. Changes smaller than eps are skipped. Unlike the
other schedules it does not step at creation. get_last_lr, state_dict and
load_state_dict as the others.]=],
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.ReduceLROnPlateau(opt, {patience = 1, factor = 0.5})
for _, loss in ipairs {1.0, 0.8, 0.8, 0.8, 0.8} do sched:step(loss) end
print(sched:get_last_lr()[1])  --> 0.5]=])

entry('brasa.optim.Scheduler:step', 'sched:step(epoch?)',
  'Advances the schedule one epoch (or to epoch) and sets every group\'s learning rate.',
  [=[
Call it after opt:step(). With an epoch number, schedules that have a
closed form (StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR,
LinearLR) jump there directly. ReduceLROnPlateau's step takes the metric
instead: sched:step(val_loss).]=],
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.ExponentialLR(opt, 0.5)
sched:step()
print(opt.param_groups[1].lr)  --> 0.5
sched:step(3)
print(opt.param_groups[1].lr)  --> 0.125]=])

entry('brasa.optim.Scheduler:get_last_lr', 'sched:get_last_lr() -> {lr per group}',
  'The learning rates the schedule set last, one per parameter group.', nil,
  [=[
local a, b = brasa.zeros(1, {requires_grad = true}), brasa.zeros(1, {requires_grad = true})
local opt = optim.SGD({{params = {a}, lr = 1}, {params = {b}, lr = 0.1}})
local sched = optim.StepLR(opt, 1, {gamma = 0.5})
sched:step()
print(sched:get_last_lr()[1], sched:get_last_lr()[2])  --> 0.5 0.05]=])

entry('brasa.optim.Scheduler:state_dict', 'sched:state_dict() -> table',
  'The schedule\'s counters and settings as a plain table (functions of LambdaLR left out).',
  'Save it beside the optimiser\'s state_dict; restore both to resume.',
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.StepLR(opt, 3)
sched:step()
print(sched:state_dict().last_epoch, sched:state_dict().step_size)  --> 1 3]=])

entry('brasa.optim.Scheduler:load_state_dict', 'sched:load_state_dict(sd)',
  'Restores the counters and settings saved by state_dict.',
  'Restore the optimiser too (opt:load_state_dict): the schedule reads and writes its groups\' lr.',
  [=[
local opt = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched = optim.StepLR(opt, 2, {gamma = 0.5})
for _ = 1, 3 do sched:step() end
local osd, ssd = opt:state_dict(), sched:state_dict()
local opt2 = optim.SGD({brasa.zeros(1, {requires_grad = true})}, {lr = 1})
local sched2 = optim.StepLR(opt2, 2, {gamma = 0.5})
opt2:load_state_dict(osd)
sched2:load_state_dict(ssd)
sched:step()
sched2:step()
print(sched:get_last_lr()[1], sched2:get_last_lr()[1])  --> 0.25 0.25]=])

local reflow = require('brasa.docs.tensor').reflow
for _, e in ipairs(list) do
  e.text = reflow(e.text)
  doc.add(e)
end

--- Binds the values of brasa.optim to their entries (called by brasa.optim).
function M.bind(optim)
  doc.bind(optim, 'brasa.optim')
  for k, v in pairs(optim) do
    if doc.get('brasa.optim.' .. k) then doc.bind(v, 'brasa.optim.' .. k) end
  end
  local O = optim.Optimizer
  for _, m in ipairs {'step', 'zero_grad', 'state_dict', 'load_state_dict', 'add_param_group'} do
    doc.bind(O[m], 'brasa.optim.Optimizer:' .. m)
  end
  doc.bind(O.subclass, 'brasa.optim.Optimizer.subclass')
  local S = require('brasa.optim.schedulers').Scheduler
  for _, m in ipairs {'step', 'get_last_lr', 'state_dict', 'load_state_dict'} do
    doc.bind(S[m], 'brasa.optim.Scheduler:' .. m)
  end
  doc.bind(optim.CosineAnnealingWarmRestarts.step, 'brasa.optim.Scheduler:step')
  doc.bind(optim.ReduceLROnPlateau.step, 'brasa.optim.ReduceLROnPlateau')
end

M.entries = list
return M
