-- brasa.optim.adagrad: Adagrad (PyTorch 1.13's torch.optim.Adagrad).
--
--   g = grad + weight_decay * p;  clr = lr / (1 + (t - 1) lr_decay)
--   sum = sum + g^2;  p = p - clr g / (sqrt(sum) + eps)
--
-- State: step and sum, created with the optimiser (sum starts at
-- initial_accumulator_value).

local brasa = require 'brasa'
local C = require('brasa.core')._optim
local Optimizer = require('brasa.optim.optimizer').Optimizer

local adagrad_step = C.adagrad_step

return Optimizer.subclass('Adagrad', {
  options = {
    {'lr', 1e-2, 'nonneg'},
    {'lr_decay', 0, 'nonneg'},
    {'weight_decay', 0, 'nonneg'},
    {'initial_accumulator_value', 0, 'nonneg'},
    {'eps', 1e-10, 'nonneg'},
    {'maximize', false, 'bool'},
  },
  eager_state = true,
  init_state = function(p, g)
    return {step = 0, sum = brasa.full_like(p, g.initial_accumulator_value)}
  end,
  update = function(p, grad, st, g)
    local step = st.step + 1
    adagrad_step(p, grad, st.sum, step, g.lr, g.lr_decay, g.weight_decay, g.eps, g.maximize)
    st.step = step
  end,
})
