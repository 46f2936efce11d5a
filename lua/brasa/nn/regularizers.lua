-- brasa.nn.regularizers: weight penalties per layer, as Keras's
-- kernel_regularizer.
--
--   local reg = nn.regularizers
--   local layer = nn.Linear(64, 10, {weight_regularizer = reg.l2(0.01)})
--   local loss = criterion(model(x), y) + model:regularization_loss()
--
-- l2(c) adds c * sum(w^2), as Keras does; this is not PyTorch's weight
-- decay (an optimiser option that adds wd * w to the gradient, the
-- gradient of (wd / 2) * sum(w^2)): l2(c) corresponds to weight decay 2c
-- for SGD, and differs from AdamW's decoupled decay altogether.

local R = {}

local Reg = {}
Reg.__index = Reg
Reg.__name = 'Regularizer'

function Reg.__call(self, w)
  local out
  if self.l1 ~= 0 then out = w:abs():sum() * self.l1 end
  if self.l2 ~= 0 then
    local t = w:square():sum() * self.l2
    out = out and out + t or t
  end
  return out or (w:sum() * 0)
end

function Reg.__tostring(self)
  if self.l1 ~= 0 and self.l2 ~= 0 then return string.format('l1_l2(%g, %g)', self.l1, self.l2) end
  if self.l1 ~= 0 then return string.format('l1(%g)', self.l1) end
  return string.format('l2(%g)', self.l2)
end

local function make(fn, l1, l2)
  for _, v in ipairs {l1, l2} do
    if type(v) ~= 'number' or v < 0 then
      error(string.format('regularizers.%s: factors must be numbers >= 0, got %s', fn, tostring(v)), 3)
    end
  end
  return setmetatable({l1 = l1, l2 = l2}, Reg)
end

--- regularizers.l1(c?) -> reg: reg(w) = c * sum(|w|) (c = 0.01 by default).
function R.l1(c) return make('l1', c or 0.01, 0) end

--- regularizers.l2(c?) -> reg: reg(w) = c * sum(w^2) (c = 0.01 by default).
function R.l2(c) return make('l2', 0, c or 0.01) end

--- regularizers.l1_l2(l1?, l2?) -> reg: l1 * sum(|w|) + l2 * sum(w^2) (0.01 each by default).
function R.l1_l2(l1, l2) return make('l1_l2', l1 or 0.01, l2 or 0.01) end

--- Whether v is a regulariser made here.
function R.is_regularizer(v) return getmetatable(v) == Reg end

return R
