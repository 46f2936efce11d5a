-- brasa.optim.adam: Adam and AdamW (PyTorch 1.13's torch.optim.Adam and
-- torch.optim.AdamW, single-tensor algorithm), one fused C pass per
-- parameter:
--
--   Adam:  g = grad + weight_decay * p        AdamW: p = p * (1 - lr * weight_decay)
--   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
--   vmax = max(vmax, v) (amsgrad);  v^ = amsgrad and vmax or v
--   p = p - lr / (1 - beta1^t) * m / (sqrt(v^) / sqrt(1 - beta2^t) + eps)
--
-- State per parameter: step (a number), exp_avg, exp_avg_sq, and
-- max_exp_avg_sq with amsgrad.

local brasa = require 'brasa'
local C = require('brasa.core')._optim
local Optimizer = require('brasa.optim.optimizer').Optimizer

local function init_state(p, g)
  local st = {step = 0, exp_avg = brasa.zeros_like(p), exp_avg_sq = brasa.zeros_like(p)}
  if g.amsgrad then st.max_exp_avg_sq = brasa.zeros_like(p) end
  return st
end

local function make(name, fused, weight_decay)
  return Optimizer.subclass(name, {
    options = {
      {'lr', 1e-3, 'nonneg'},
      {'betas', {0.9, 0.999}, 'betas'},
      {'eps', 1e-8, 'nonneg'},
      {'weight_decay', weight_decay, 'nonneg'},
      {'amsgrad', false, 'bool'},
      {'maximize', false, 'bool'},
    },
    init_state = init_state,
    update = function(p, grad, st, g)
      if g.amsgrad and st.max_exp_avg_sq == nil then st.max_exp_avg_sq = brasa.zeros_like(p) end
      local step = st.step + 1
      local betas = g.betas
      fused(p, grad, st.exp_avg, st.exp_avg_sq, step, g.lr, betas[1], betas[2], g.eps, g.weight_decay,
            g.amsgrad, st.max_exp_avg_sq, g.maximize)
      st.step = step
    end,
  })
end

return {
  Adam = make('Adam', C.adam_step, 0),
  AdamW = make('AdamW', C.adamw_step, 1e-2),
}
