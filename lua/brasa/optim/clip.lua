-- brasa.optim.clip: gradient clipping (torch.nn.utils.clip_grad_norm_ and
-- clip_grad_value_). Both work in place on the .grad of the parameters
-- given, skip parameters without a gradient, and run in C (one threaded
-- pass per gradient for the norm, one for the scaling).

local brasa = require 'brasa'
local C = require('brasa.core')._optim
local base = require 'brasa.optim.optimizer'

local raise, describe = base.raise, base.describe

local M = {}

-- The gradients of params: a tensor, a list of tensors, or a module.
local function grads_of(params, who)
  if brasa.is_tensor(params) then params = {params} end
  if type(params) == 'table' and type(params.parameters) == 'function' then params = params:parameters() end
  if type(params) ~= 'table' then
    raise('%s: params must be a tensor or a list of tensors, got %s', who, describe(params))
  end
  local grads = {}
  for i, p in ipairs(params) do
    if not brasa.is_tensor(p) then raise('%s: params[%d] is %s, not a tensor', who, i, describe(p)) end
    local g = p.grad
    if g ~= nil then grads[#grads + 1] = g end
  end
  return grads
end

--- clip_grad_norm(params, max_norm, norm_type = 2) -> total norm (a number)
-- Scales all gradients together by max_norm / (total + 1e-6) when the
-- total norm exceeds max_norm. norm_type: a number > 0, or math.huge / 'inf'.
function M.clip_grad_norm(params, max_norm, norm_type)
  local who = 'clip_grad_norm'
  if type(max_norm) ~= 'number' or not (max_norm >= 0) then
    raise('%s: max_norm must be a number >= 0, got %s', who, describe(max_norm))
  end
  if norm_type == nil then norm_type = 2 end
  if norm_type == 'inf' then norm_type = math.huge end
  if type(norm_type) ~= 'number' or not (norm_type > 0) then
    raise("%s: norm_type must be a number > 0 or 'inf', got %s", who, describe(norm_type))
  end
  local grads = grads_of(params, who)
  if #grads == 0 then return 0.0 end
  return C.clip_grad_norm(grads, max_norm, norm_type)
end

--- clip_grad_value(params, clip): clamps every gradient into [-clip, clip].
function M.clip_grad_value(params, clip)
  local who = 'clip_grad_value'
  if type(clip) ~= 'number' or not (clip >= 0) then
    raise('%s: clip_value must be a number >= 0, got %s', who, describe(clip))
  end
  local grads = grads_of(params, who)
  if #grads > 0 then C.clip_grad_value(grads, clip) end
end

return M
