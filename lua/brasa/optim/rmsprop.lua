-- brasa.optim.rmsprop: RMSprop (PyTorch 1.13's torch.optim.RMSprop).
--
--   g = grad + weight_decay * p;  s = alpha s + (1 - alpha) g^2
--   centered: c = alpha c + (1 - alpha) g;  avg = sqrt(s - c^2) + eps
--   otherwise avg = sqrt(s) + eps
--   momentum > 0: buf = momentum buf + g / avg;  p = p - lr buf
--   otherwise p = p - lr g / avg
--
-- State: step, square_avg, grad_avg (centered), momentum_buffer (momentum > 0).

local brasa = require 'brasa'
local C = require('brasa.core')._optim
local Optimizer = require('brasa.optim.optimizer').Optimizer

local rmsprop_step = C.rmsprop_step

return Optimizer.subclass('RMSprop', {
  options = {
    {'lr', 1e-2, 'nonneg'},
    {'alpha', 0.99, 'nonneg'},
    {'eps', 1e-8, 'nonneg'},
    {'weight_decay', 0, 'nonneg'},
    {'momentum', 0, 'nonneg'},
    {'centered', false, 'bool'},
    {'maximize', false, 'bool'},
  },
  init_state = function(p) return {step = 0, square_avg = brasa.zeros_like(p)} end,
  update = function(p, grad, st, g)
    if g.centered and st.grad_avg == nil then st.grad_avg = brasa.zeros_like(p) end
    if g.momentum > 0 and st.momentum_buffer == nil then st.momentum_buffer = brasa.zeros_like(p) end
    rmsprop_step(p, grad, st.square_avg, g.centered and st.grad_avg or nil,
                 g.momentum > 0 and st.momentum_buffer or nil, g.lr, g.alpha, g.eps, g.weight_decay,
                 g.momentum, g.centered, g.maximize)
    st.step = st.step + 1
  end,
})
