-- brasa.optim.sgd: stochastic gradient descent with momentum, dampening,
-- Nesterov momentum and weight decay (PyTorch 1.13's torch.optim.SGD).
--
--   d = grad + weight_decay * p
--   buf = d (first step) or momentum * buf + (1 - dampening) * d
--   d = nesterov and d + momentum * buf or buf        (when momentum ~= 0)
--   p = p - lr * d
--
-- lr defaults to 0.01 (Keras's default; PyTorch 1.13 has none and requires it).

local brasa = require 'brasa'
local C = require('brasa.core')._optim
local Optimizer = require('brasa.optim.optimizer').Optimizer

local sgd_step = C.sgd_step

return Optimizer.subclass('SGD', {
  options = {
    {'lr', 0.01, 'nonneg'},
    {'momentum', 0, 'nonneg'},
    {'dampening', 0, 'nonneg'},
    {'weight_decay', 0, 'nonneg'},
    {'nesterov', false, 'bool'},
    {'maximize', false, 'bool'},
  },
  validate = function(g)
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      return 'nesterov needs momentum > 0 and dampening = 0'
    end
  end,
  update = function(p, grad, st, g)
    local buf, first = nil, false
    if g.momentum ~= 0 then
      buf = st.momentum_buffer
      if buf == nil then
        buf = brasa.zeros_like(p)
        st.momentum_buffer = buf
        first = true
      end
    end
    sgd_step(p, grad, buf, g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov, g.maximize, first)
  end,
})
