-- brasa.optim.adadelta: Adadelta (PyTorch 1.13's torch.optim.Adadelta).
--
--   g = grad + weight_decay * p;  s = rho s + (1 - rho) g^2
--   delta = sqrt(acc + eps) / sqrt(s + eps) * g
--   acc = rho acc + (1 - rho) delta^2;  p = p - lr delta
--
-- State: step, square_avg, acc_delta.

local brasa = require 'brasa'
local C = require('brasa.core')._optim
local Optimizer = require('brasa.optim.optimizer').Optimizer

local adadelta_step = C.adadelta_step

return Optimizer.subclass('Adadelta', {
  options = {
    {'lr', 1.0, 'nonneg'},
    {'rho', 0.9, 'unit'},
    {'eps', 1e-6, 'nonneg'},
    {'weight_decay', 0, 'nonneg'},
    {'maximize', false, 'bool'},
  },
  init_state = function(p)
    return {step = 0, square_avg = brasa.zeros_like(p), acc_delta = brasa.zeros_like(p)}
  end,
  update = function(p, grad, st, g)
    adadelta_step(p, grad, st.square_avg, st.acc_delta, g.lr, g.rho, g.eps, g.weight_decay, g.maximize)
    st.step = st.step + 1
  end,
})
