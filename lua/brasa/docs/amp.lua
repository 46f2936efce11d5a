-- brasa.docs.amp: help entries of brasa.amp (autocast regions and the
-- GradScaler). Loaded with the other documentation (lua/brasa/docs.lua);
-- brasa.amp, which loads later, calls M.bind(amp) so help(brasa.amp.autocast)
-- finds its entry by value. Examples run on the CPU (bf16, or f16 where a
-- GPU's numbers are meant) and are checked by tests/lua/doc_spec.lua and
-- tests/lua/amp_spec.lua.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example)
  list[#list + 1] = {name, sig, summary, text = text, example = example}
end

entry('brasa.amp', 'brasa.amp',
  'Automatic mixed precision: autocast regions and loss scaling (GradScaler), as torch.amp.',
  [=[
Inside an autocast region, ops cast their inputs at entry: matmul, mm, bmm,
linear and the convolutions run in half precision (f16 or bf16); softmax,
log_softmax, the losses and the reductions (sum, mean, norm, var, std,
prod, logsumexp, cumsum, cumprod) run in f32; other ops run in their
inputs' dtypes. Parameters stay f32: the casts are differentiable and the
gradients arrive in f32. Backward runs with autocast off, even when called
inside the region. With f16, scale
the loss (GradScaler) so small gradients do not flush to zero; bf16 has
f32's range and needs no scaling. On a GPU the half products use tensor
cores; on the CPU halves are stored in 16 bits and computed in f32, so CPU
autocast is for checking results and saving memory, not for speed.
model:fit(data, {amp = true, ...}) does all of this for you.]=],
  [=[
local model = nn.Sequential{nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)}
local x, y = brasa.randn(16, 4), brasa.randint(1, 3, 16)
local opt = optim.SGD(model:parameters(), {lr = 0.1})
local scaler = brasa.amp.GradScaler()
opt:zero_grad()
local out, loss = brasa.amp.autocast(function()
  local o = model(x)
  return o, nn.CrossEntropyLoss()(o, y)
end, {device = 'cpu', dtype = 'f16'})
print(out.dtype, loss.dtype)  --> f16 f32
scaler:scale(loss):backward()
scaler:step(opt)
scaler:update()
print(model[1].weight.grad.dtype)  --> f32]=])

entry('brasa.amp.autocast', 'brasa.amp.autocast(fn, opts?, ...) -> fn(...) | brasa.amp.autocast(opts?) -> region',
  'Runs fn (or the code up to the end of a <close> variable) with autocast on.',
  [=[
opts: device ('cpu' or 'cuda'; default both), dtype ('f16' or 'bf16', also
'float16', 'half', 'bfloat16'; default bf16 on the CPU and f16 on CUDA, as
PyTorch), enabled (true; false turns autocast off inside a region). With a
function, autocast calls fn(...) and returns its results; the previous
state comes back when fn returns or raises. Without one it returns a region
to close: `local ac <close> = brasa.amp.autocast{dtype = 'bf16'}` keeps
autocast on until ac goes out of scope (or ac:close()). Regions nest; each
puts back the state it found. The state belongs to the thread, so
coroutines share it. Unknown options and other dtypes raise an error.]=],
  [=[
local x = brasa.randn(4, 3)
local w = brasa.randn(3, 2, {requires_grad = true})
local y = brasa.amp.autocast(function() return x:matmul(w) end, {device = 'cpu'})
print(y.dtype)  --> bf16
do
  local ac <close> = brasa.amp.autocast{device = 'cpu', dtype = 'f16'}
  local p = brasa.nn.functional.softmax(x:matmul(w), 2)
  print(x:matmul(w).dtype, p.dtype)  --> f16 f32
end
print(x:matmul(w).dtype)  --> f32
y:float():sum():backward()
print(w.grad.dtype)  --> f32]=])

entry('brasa.amp.is_autocast_enabled', 'brasa.amp.is_autocast_enabled(device?) -> boolean',
  'Whether autocast is on for device (\'cpu\' or \'cuda\'), or for either when none is given.', nil,
  [=[
print(brasa.amp.is_autocast_enabled())  --> false
brasa.amp.autocast(function()
  print(brasa.amp.is_autocast_enabled('cpu'), brasa.amp.is_autocast_enabled('cuda'))  --> true false
end, {device = 'cpu'})]=])

entry('brasa.amp.get_autocast_dtype', 'brasa.amp.get_autocast_dtype(device) -> \'f16\' | \'bf16\'',
  'The dtype autocast uses (or last used) for device \'cpu\' or \'cuda\'.', nil,
  [=[
print(brasa.amp.get_autocast_dtype('cpu'), brasa.amp.get_autocast_dtype('cuda'))  --> bf16 f16
brasa.amp.autocast(function() print(brasa.amp.get_autocast_dtype('cpu')) end, {dtype = 'f16'})  --> f16]=])

local SCALER_SETUP = [=[
local w = brasa.tensor({1.0, 2.0}, {requires_grad = true})
local opt = optim.SGD({w}, {lr = 0.1})
local scaler = brasa.amp.GradScaler{init_scale = 1024}
]=]

entry('brasa.amp.GradScaler', 'brasa.amp.GradScaler(opts?) -> scaler',
  'Dynamic loss scaling for f16 training (torch.cuda.amp.GradScaler).',
  [=[
opts: init_scale (2^16), growth_factor (2), backoff_factor (0.5),
growth_interval (2000), enabled (true; false makes every method a plain
pass-through). The loop: scaler:scale(loss):backward(); scaler:step(opt);
scaler:update(). step unscales the gradients in place and skips the
optimiser's step when one of them holds an inf or a NaN; update then
multiplies the scale by backoff_factor, and after growth_interval good
steps in a row by growth_factor (PyTorch's rules; the scale is kept in f32).
Checking the gradients takes one reduction each, and on a GPU one read of
the device per step. Unlike PyTorch's, it works on the CPU too. Methods:
scale, unscale_, step, update, get_scale, is_enabled, the getters and
setters of the options, state_dict, load_state_dict.]=],
  SCALER_SETUP .. [=[
for _ = 1, 3 do
  opt:zero_grad()
  scaler:scale((w * w):sum()):backward()
  scaler:step(opt)
  scaler:update()
end
print(w)  --> [0.5120, 1.0240]
print(scaler:get_scale())  --> 1024.0]=])

entry('brasa.amp.GradScaler:scale', 'scaler:scale(outputs) -> outputs * scale',
  'The loss (or a table of tensors) times the current scale; backward runs on it.',
  'With the scaler disabled, outputs itself.',
  SCALER_SETUP .. [=[
local loss = (w * w):sum()
print(scaler:scale(loss):item())  --> 5120.0
scaler:scale(loss):backward()
print(w.grad)  --> [2048., 4096.]]=])

entry('brasa.amp.GradScaler:unscale_', 'scaler:unscale_(optimizer)',
  'Divides the gradients of optimizer\'s parameters by the scale, in place, and notes any inf or NaN.',
  [=[
Call it before working on the true gradients (clipping them, say); step
then does not unscale again. Once per optimizer between two updates; not
after step.]=],
  SCALER_SETUP .. [=[
opt:zero_grad()
scaler:scale((w * w):sum()):backward()
scaler:unscale_(opt)
print(w.grad)  --> [2., 4.]
optim.clip_grad_norm({w}, 1.0)
scaler:step(opt)
scaler:update()]=])

entry('brasa.amp.GradScaler:step', 'scaler:step(optimizer) -> optimizer:step()\'s result, or nil',
  'Unscales the gradients (unless unscale_ did) and steps only if all of them are finite.',
  'Once per optimizer between two updates. Closures are not supported (as in PyTorch).',
  SCALER_SETUP .. [=[
opt:zero_grad()
scaler:scale((w * w):sum()):backward()
w.grad[1] = 1 / 0            -- an overflow
scaler:step(opt)             -- skipped
scaler:update()
print(w, scaler:get_scale())  --> [1., 2.] 512.0]=])

entry('brasa.amp.GradScaler:update', 'scaler:update(new_scale?)',
  'Sets the scale for the next iteration: backoff after an overflow, growth after growth_interval good steps.',
  'new_scale (a number) sets the scale directly.',
  [=[
local w = brasa.tensor({1.0}, {requires_grad = true})
local opt = optim.SGD({w}, {lr = 0.01})
local scaler = brasa.amp.GradScaler{init_scale = 8, growth_interval = 2}
for _ = 1, 4 do
  opt:zero_grad()
  scaler:scale(w:sum()):backward()
  scaler:step(opt)
  scaler:update()
end
print(scaler:get_scale())  --> 32.0
scaler:update(4)
print(scaler:get_scale())  --> 4.0]=])

entry('brasa.amp.GradScaler:get_scale', 'scaler:get_scale() -> number',
  'The current scale (1 when the scaler is disabled).', nil,
  [=[
print(brasa.amp.GradScaler():get_scale())  --> 65536.0
print(brasa.amp.GradScaler{enabled = false}:get_scale())  --> 1.0]=])

entry('brasa.amp.GradScaler:is_enabled', 'scaler:is_enabled() -> boolean',
  'Whether the scaler scales (enabled = false makes it a pass-through).', nil,
  [=[
print(brasa.amp.GradScaler{enabled = false}:is_enabled())  --> false]=])

entry('brasa.amp.GradScaler:get_growth_factor',
  'scaler:get_growth_factor(), set_growth_factor(v), get_backoff_factor(), set_backoff_factor(v), get_growth_interval(), set_growth_interval(n)',
  'Read or change the scaler\'s options (checked as at construction).', nil,
  [=[
local s = brasa.amp.GradScaler()
s:set_growth_factor(4)
s:set_backoff_factor(0.25)
s:set_growth_interval(100)
print(s:get_growth_factor(), s:get_backoff_factor(), s:get_growth_interval())  --> 4 0.25 100]=])

entry('brasa.amp.GradScaler:state_dict', 'scaler:state_dict() -> table',
  'The scaler\'s state: scale, growth_factor, backoff_factor, growth_interval, _growth_tracker (PyTorch\'s keys).',
  'A disabled scaler gives {}. Save it with a checkpoint and give it back to load_state_dict.',
  [=[
local sd = brasa.amp.GradScaler{init_scale = 128}:state_dict()
print(sd.scale, sd.growth_interval, sd._growth_tracker)  --> 128.0 2000 0]=])

entry('brasa.amp.GradScaler:load_state_dict', 'scaler:load_state_dict(state)',
  'Restores a state from state_dict.',
  'Raises an error on a disabled scaler, an empty state or a state lacking a key.',
  [=[
local a = brasa.amp.GradScaler{init_scale = 128}
local b = brasa.amp.GradScaler()
b:load_state_dict(a:state_dict())
print(b:get_scale())  --> 128.0]=])

for _, e in ipairs(list) do doc.add(e) end

--- Binds the values of brasa.amp to their entries (called by brasa.amp).
function M.bind(amp)
  doc.bind(amp, 'brasa.amp')
  for _, k in ipairs {'autocast', 'is_autocast_enabled', 'get_autocast_dtype', 'GradScaler'} do
    doc.bind(amp[k], 'brasa.amp.' .. k)
  end
  local G = amp.GradScaler
  for _, m in ipairs {'scale', 'unscale_', 'step', 'update', 'get_scale', 'is_enabled', 'state_dict',
                      'load_state_dict', 'get_growth_factor'} do
    doc.bind(G[m], 'brasa.amp.GradScaler:' .. m)
  end
  for _, m in ipairs {'set_growth_factor', 'get_backoff_factor', 'set_backoff_factor', 'get_growth_interval',
                      'set_growth_interval'} do
    doc.bind(G[m], 'brasa.amp.GradScaler:get_growth_factor')
  end
end

M.entries = list
return M
