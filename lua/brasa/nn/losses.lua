-- brasa.nn.losses: loss modules and the loss functionals written in Lua.
--
-- A loss called as loss(output, target) returns a 0-dim tensor (reduction
-- 'mean', the default, or 'sum') or the per-element losses ('none').
-- Functionals take the same options as a table (or the reduction as a
-- string): F.mse_loss(output, target, {reduction = 'sum'}).
--
-- Written here from differentiable tensor ops: mse_loss, l1_loss,
-- huber_loss, smooth_l1_loss, binary_cross_entropy,
-- binary_cross_entropy_with_logits, kl_div, cosine_embedding_loss. The
-- cross-entropy and NLL modules call the fused C functionals cross_entropy
-- and nll_loss (class ids; 1-based) and add what they lack in Lua (outputs
-- that are probabilities: from_logits = false).

local brasa = require 'brasa'
local mod = require 'brasa.nn.module'
local F = require 'brasa.nn.functional'

local Module, fail, shape_str = mod.Module, mod.fail, mod.shape_str

local M = {}

local FLOAT = {f32 = true, f64 = true, f16 = true, bf16 = true}
local INTEGER = {i64 = true, i32 = true, u8 = true}

---------------------------------------------------------------------------
-- Shared checks
---------------------------------------------------------------------------

-- The options table of a loss (nil, a reduction name, or a table).
local function loss_opts(o, who, allowed)
  if o == nil then return {} end
  if type(o) == 'string' then return {reduction = o} end
  if type(o) ~= 'table' or brasa.is_tensor(o) or mod.is_module(o) then
    fail(string.format('%s: options must be a table (or a reduction name), got %s', who, type(o)))
  end
  if allowed then
    for k in pairs(o) do
      if not allowed[k] then fail(string.format("%s: unknown option '%s'", who, tostring(k))) end
    end
  end
  return o
end

local REDUCTIONS = {mean = true, sum = true, none = true}

local function reduction_of(o, who, extra)
  local r = o.reduction or 'mean'
  if not (REDUCTIONS[r] or r == extra) then
    fail(string.format("%s: reduction must be 'mean', 'sum'%s or 'none', got %s", who,
      extra and (", '" .. extra .. "'") or '', tostring(r)))
  end
  return r
end

local function reduce(l, r)
  if r == 'mean' then return l:mean() end
  if r == 'sum' then return l:sum() end
  return l
end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local amp_cast = require('brasa.core')._amp.cast

-- Checks output (float) and target (a tensor of the same shape); returns
-- both, the target cast to the output's dtype. Under autocast (brasa.amp) a
-- half output is taken in f32 first: losses run in f32, as PyTorch's do.
local function check_pair(who, output, target, names)
  names = names or {'output', 'target'}
  mod.check_float(who, output, names[1])
  mod.check_tensor(who, target, names[2])
  if not same_shape(output.shape, target.shape) then
    fail(string.format('%s: %s %s and %s %s have different shapes (broadcasting them is almost always a bug: '
      .. 'reshape one, e.g. %s:view(-1))', who, names[1], shape_str(output.shape), names[2],
      shape_str(target.shape), names[2]))
  end
  output = amp_cast(output, 'f32')
  if target.dtype ~= output.dtype then target = target:to(output.dtype) end
  return output, target
end

local function minmax(t)
  return brasa.no_grad(function()
    if t:numel() == 0 then return 0, 0 end
    return t:min():item(), t:max():item()
  end)
end

local function opt_tensor(who, o, name, dtype)
  local v = o[name]
  if v == nil then return nil end
  if type(v) == 'table' and not brasa.is_tensor(v) then v = brasa.tensor(v) end
  if not brasa.is_tensor(v) then fail(string.format('%s: %s must be a tensor', who, name)) end
  if dtype and v.dtype ~= dtype then v = v:to(dtype) end
  return v
end

---------------------------------------------------------------------------
-- Regression losses
---------------------------------------------------------------------------

local R_OPTS = {reduction = true}

local function mse(who, x, t, o)
  o = loss_opts(o, who, R_OPTS)
  local r = reduction_of(o, who)
  x, t = check_pair(who, x, t)
  return reduce((x - t):square(), r)
end

local function l1(who, x, t, o)
  o = loss_opts(o, who, R_OPTS)
  local r = reduction_of(o, who)
  x, t = check_pair(who, x, t)
  return reduce((x - t):abs(), r)
end

-- Huber with threshold delta: 0.5 d^2 where |d| < delta, delta (|d| - delta/2)
-- elsewhere; smooth L1 with beta: Huber(beta) / beta (beta 0: L1).
local function huber(who, x, t, o, key, smooth)
  local allowed = {reduction = true, [key] = true}
  o = loss_opts(o, who, allowed)
  local r = reduction_of(o, who)
  local delta = o[key] == nil and 1 or o[key]
  if type(delta) ~= 'number' or delta < 0 or (not smooth and delta == 0) then
    fail(string.format('%s: %s must be a number %s 0, got %s', who, key, smooth and '>=' or '>', tostring(delta)))
  end
  x, t = check_pair(who, x, t)
  local d = x - t
  if smooth and delta == 0 then return reduce(d:abs(), r) end
  local a = d:abs()
  local quad = d:square() * 0.5
  local lin = (a - 0.5 * delta) * delta
  local l = brasa.where(a:lt(delta), quad, lin)
  if smooth then l = l / delta end
  return reduce(l, r)
end

--- F.mse_loss(output, target, opts?): mean of (output - target)^2.
function F.mse_loss(x, t, o) return mse('mse_loss', x, t, o) end

--- F.l1_loss(output, target, opts?): mean of |output - target| (MAE).
function F.l1_loss(x, t, o) return l1('l1_loss', x, t, o) end

--- F.huber_loss(output, target, opts?): opts.delta (1).
function F.huber_loss(x, t, o) return huber('huber_loss', x, t, o, 'delta', false) end

--- F.smooth_l1_loss(output, target, opts?): opts.beta (1).
function F.smooth_l1_loss(x, t, o) return huber('smooth_l1_loss', x, t, o, 'beta', true) end

---------------------------------------------------------------------------
-- Binary cross-entropy
---------------------------------------------------------------------------

local LOG_MIN = math.exp(-100)   -- PyTorch clamps log(p) at -100

local function check_binary_target(who, t)
  local lo, hi = minmax(t)
  if lo < 0 or hi > 1 then
    fail(string.format('%s: target values must lie in [0, 1], found %s: binary targets are 0 and 1 '
      .. '(not classes 1 and 2)', who, string.format('%.6g', lo < 0 and lo or hi)))
  end
end

local function bce(who, x, t, o)
  o = loss_opts(o, who, {reduction = true, weight = true})
  local r = reduction_of(o, who)
  x, t = check_pair(who, x, t)
  local lo, hi = minmax(x)
  if lo < 0 or hi > 1 then
    fail(string.format('%s: output values must be probabilities in [0, 1], found %s: for raw scores '
      .. '(no sigmoid) use BCEWithLogitsLoss', who, string.format('%.6g', lo < 0 and lo or hi)))
  end
  check_binary_target(who, t)
  local w = opt_tensor(who, o, 'weight', x.dtype)
  local l = -(t * x:clamp(LOG_MIN):log() + (1 - t) * (1 - x):clamp(LOG_MIN):log())
  if w then l = l * w end
  return reduce(l, r)
end

-- (1 - t) x + (1 + (pw - 1) t) softplus(-x), PyTorch's stable form.
local function bce_logits(who, x, t, o)
  o = loss_opts(o, who, {reduction = true, weight = true, pos_weight = true})
  local r = reduction_of(o, who)
  x, t = check_pair(who, x, t)
  check_binary_target(who, t)
  local w = opt_tensor(who, o, 'weight', x.dtype)
  local pw = opt_tensor(who, o, 'pos_weight', x.dtype)
  local sp = (-x):softplus()
  local l
  if pw then
    l = (1 - t) * x + (1 + (pw - 1) * t) * sp
  else
    l = (1 - t) * x + sp
  end
  if w then l = l * w end
  return reduce(l, r)
end

--- F.binary_cross_entropy(output, target, opts?): output probabilities.
function F.binary_cross_entropy(x, t, o) return bce('binary_cross_entropy', x, t, o) end

--- F.binary_cross_entropy_with_logits(output, target, opts?): raw scores.
function F.binary_cross_entropy_with_logits(x, t, o)
  return bce_logits('binary_cross_entropy_with_logits', x, t, o)
end

---------------------------------------------------------------------------
-- KL divergence, cosine embedding
---------------------------------------------------------------------------

-- input holds log-probabilities; target probabilities (log ones with
-- log_target): pointwise target * (log(target) - input), 0 where target is 0.
local function kl(who, x, t, o)
  o = loss_opts(o, who, {reduction = true, log_target = true})
  local r = reduction_of(o, who, 'batchmean')
  x, t = check_pair(who, x, t)
  local l
  if o.log_target then
    l = t:exp() * (t - x)
  else
    local safe = brasa.where(t:gt(0), t, 1)   -- log(1) = 0 where the target is 0
    l = t * (safe:log() - x)
  end
  if r == 'batchmean' then
    local n = #x.shape > 0 and x.shape[1] or 1
    return l:sum() / n
  end
  return reduce(l, r)
end

--- F.kl_div(input, target, opts?): KL(target || exp(input)), input log-probabilities.
function F.kl_div(x, t, o) return kl('kl_div', x, t, o) end

local COS_EPS = 1e-12

local function cosine_embedding(who, x1, x2, y, o)
  o = loss_opts(o, who, {reduction = true, margin = true})
  local r = reduction_of(o, who)
  local margin = o.margin or 0
  if type(margin) ~= 'number' then fail(who .. ': margin must be a number') end
  mod.check_float(who, x1, 'input1')
  x1, x2 = check_pair(who, x1, x2, {'input1', 'input2'})
  local nd = #x1.shape
  if nd ~= 1 and nd ~= 2 then
    fail(string.format('%s: inputs %s must have 1 (D) or 2 (N x D) dims', who, shape_str(x1.shape)))
  end
  mod.check_tensor(who, y, 'target')
  local want = nd == 2 and {x1.shape[1]} or {}
  if not same_shape(y.shape, want) then
    fail(string.format('%s: target %s must have shape %s (one 1 or -1 per pair)', who, shape_str(y.shape),
      shape_str(want)))
  end
  local bad = brasa.no_grad(function() return y:ne(1):logical_and(y:ne(-1)):any():item() end)
  if bad then fail(who .. ': target values must be 1 (similar) or -1 (dissimilar)') end
  local dim = nd
  local prod = (x1 * x2):sum(dim)
  local m1 = (x1 * x1):sum(dim) + COS_EPS
  local m2 = (x2 * x2):sum(dim) + COS_EPS
  local cos = prod / (m1 * m2):sqrt()
  local pos = 1 - cos
  local neg = (cos - margin):clamp(0)
  local l = brasa.where(y:eq(1), pos, 0) + brasa.where(y:eq(-1), neg, 0)
  return reduce(l, r)
end

--- F.cosine_embedding_loss(input1, input2, target, opts?): opts.margin (0).
function F.cosine_embedding_loss(x1, x2, y, o)
  return cosine_embedding('cosine_embedding_loss', x1, x2, y, o)
end

---------------------------------------------------------------------------
-- Cross-entropy and NLL
---------------------------------------------------------------------------

-- The class dim of an output: 2 for [N x C x ...], 1 for an unbatched [C].
local function class_dim(x) return #x.shape == 1 and 1 or 2 end

-- The shape of class-id targets for output x.
local function id_shape(x)
  local s, cd = {}, class_dim(x)
  for i, v in ipairs(x.shape) do if i ~= cd then s[#s + 1] = v end end
  return s
end

-- Checks class-id targets: shape and 1-based range (ignore_index aside).
local function check_ids(who, x, t, ignore_index)
  local cd = class_dim(x)
  local C = x.shape[cd]
  local want = id_shape(x)
  if not same_shape(t.shape, want) then
    fail(string.format('%s: target %s must hold class ids of shape %s (or probabilities of the output\'s shape %s)',
      who, shape_str(t.shape), shape_str(want), shape_str(x.shape)))
  end
  local lo, hi = brasa.no_grad(function()
    if t:numel() == 0 then return 1, 1 end
    local tt = t
    if ignore_index ~= nil then
      local keep = t:ne(ignore_index)
      if not keep:any():item() then return 1, 1 end
      tt = brasa.where(keep, t, t:masked_select(keep):min())
    end
    return tt:min():item(), tt:max():item()
  end)
  if lo == 0 then
    fail(string.format('%s: target holds class 0, but classes are 1-based (1..%d): add 1 to 0-based labels '
      .. '(y + 1)%s', who, C, ignore_index == nil and ', or set ignore_index = 0 for padding' or ''))
  end
  if lo < 1 or hi > C then
    fail(string.format('%s: target holds class %d, outside 1..%d (the output %s has %d classes in dim %d)', who,
      lo < 1 and lo or hi, C, shape_str(x.shape), C, cd))
  end
end

-- The class weights [C] (broadcast along the class dim of x when asked).
local function class_weight(who, o, x)
  local w = opt_tensor(who, o, 'weight', x.dtype)
  if w then
    local C = x.shape[class_dim(x)]
    if #w.shape ~= 1 or w.shape[1] ~= C then
      fail(string.format('%s: weight %s must have one entry per class: [%d]', who, shape_str(w.shape), C))
    end
  end
  return w
end

local function broadcast_weight(w, x)
  local cd = class_dim(x)
  if #x.shape == 1 then return w end
  local s = {}
  for i = 1, #x.shape do s[i] = (i == cd) and x.shape[cd] or 1 end
  return w:view(s)
end

-- The loss of log-probabilities logp against class probabilities t
-- (PyTorch's cross_entropy with probability targets).
local function prob_loss(logp, t, w, ls, r)
  local cd = class_dim(logp)
  local C = logp.shape[cd]
  if ls > 0 then t = t * (1 - ls) + ls / C end
  local prod = logp * t
  if w then prod = prod * broadcast_weight(w, logp) end
  if r == 'none' then return -prod:sum(cd) end
  local total = -prod:sum()
  if r == 'sum' then return total end
  return total / (logp:numel() // C)
end

-- The loss of log-probabilities logp against class ids t, with PyTorch's
-- label smoothing, class weights and ignore_index.
local function ids_loss(logp, t, w, ignore_index, ls, r)
  local cd = class_dim(logp)
  local C = logp.shape[cd]
  local nll_opts = {weight = w, ignore_index = ignore_index, reduction = r}
  local nll = F.nll_loss(logp, t, nll_opts)
  if ls == 0 then return nll end
  local smooth
  if w then
    smooth = -(logp * broadcast_weight(w, logp)):sum(cd)
  else
    smooth = -logp:sum(cd)
  end
  local keep
  if ignore_index ~= nil then
    keep = t:ne(ignore_index)
    smooth = smooth:masked_fill(keep:logical_not(), 0)
  end
  if r == 'mean' then
    local denom
    if w then
      local ids = keep and t:masked_select(keep) or t:reshape(-1)
      denom = w:index_select(1, ids):sum()
    else
      denom = keep and keep:sum():item() or t:numel()
    end
    smooth = smooth:sum() / denom
  elseif r == 'sum' then
    smooth = smooth:sum()
  end
  return nll * (1 - ls) + smooth * (ls / C)
end

local PROB_EPS = 1e-7   -- Keras's epsilon for outputs that are probabilities

local warned_probabilities = false

-- Warns once (per process) when outputs given as scores look like
-- probabilities: every value in [0, 1] and every row summing to 1.
local function maybe_warn_probabilities(who, x)
  if warned_probabilities then return end
  local looks = brasa.no_grad(function()
    if x:numel() == 0 then return false end
    local lo, hi = x:min():item(), x:max():item()
    if lo < 0 or hi > 1 then return false end
    local s = x:sum(class_dim(x)) - 1
    return s:abs():max():item() < 1e-3
  end)
  if looks then
    warned_probabilities = true
    io.stderr:write(string.format('brasa warning: %s: the outputs look like probabilities (in [0, 1], summing to '
      .. '1 over the classes), but from_logits is true, so the loss applies a softmax of its own. Remove the final '
      .. 'Softmax, or pass {from_logits = false}.\n', who))
  end
end

-- Cross-entropy with every option; who names the caller in messages.
local CE_OPTS = {reduction = true, weight = true, ignore_index = true, label_smoothing = true, from_logits = true}

local function cross_entropy(who, x, t, o)
  o = loss_opts(o, who, CE_OPTS)
  local r = reduction_of(o, who)
  mod.check_float(who, x, 'output')
  mod.check_tensor(who, t, 'target')
  if #x.shape == 0 then fail(who .. ': output is 0-dim: scores of shape [N x C] (or [C]) expected') end
  local ls = o.label_smoothing or 0
  if type(ls) ~= 'number' or ls < 0 or ls > 1 then
    fail(string.format('%s: label_smoothing must be in [0, 1], got %s', who, tostring(ls)))
  end
  local ignore_index = o.ignore_index
  if ignore_index ~= nil and math.type(ignore_index) ~= 'integer' then
    fail(who .. ': ignore_index must be an integer (0 for padding), got ' .. tostring(ignore_index))
  end
  local w = class_weight(who, o, x)
  local from_logits = o.from_logits ~= false
  local probs = FLOAT[t.dtype] or same_shape(t.shape, x.shape) and INTEGER[t.dtype]
  if probs then
    if not same_shape(t.shape, x.shape) then
      fail(string.format('%s: a floating target %s must hold class probabilities of the output\'s shape %s '
        .. '(class ids are integers: y:long())', who, shape_str(t.shape), shape_str(x.shape)))
    end
    if t.dtype ~= x.dtype then t = t:to(x.dtype) end
  else
    if not INTEGER[t.dtype] then
      fail(string.format('%s: target %s has dtype %s: class ids (i64) or probabilities (float) expected', who,
        shape_str(t.shape), t.dtype))
    end
    check_ids(who, x, t, ignore_index)
    if t.dtype ~= 'i64' then t = t:long() end
  end
  if from_logits then
    if probs then
      return prob_loss(F.log_softmax(x, class_dim(x)), t, w, ls, r)
    end
    return F.cross_entropy(x, t, {weight = w, ignore_index = ignore_index, label_smoothing = ls, reduction = r})
  end
  -- outputs that went through a softmax: renormalise, clamp, log (as Keras)
  local lo, hi = minmax(x)
  if lo < 0 or hi > 1 then
    fail(string.format('%s: from_logits = false expects probabilities in [0, 1], found %s (for raw scores leave '
      .. 'from_logits out)', who, string.format('%.6g', lo < 0 and lo or hi)))
  end
  local cd = class_dim(x)
  local p = (x / x:sum(cd, true)):clamp(PROB_EPS, 1 - PROB_EPS)
  local logp = p:log()
  if probs then return prob_loss(logp, t, w, ls, r) end
  return ids_loss(logp, t, w, ignore_index, ls, r)
end

local function nll(who, x, t, o)
  o = loss_opts(o, who, {reduction = true, weight = true, ignore_index = true})
  local r = reduction_of(o, who)
  mod.check_float(who, x, 'input')
  mod.check_tensor(who, t, 'target')
  if #x.shape == 0 then fail(who .. ': input is 0-dim: log-probabilities [N x C] (or [C]) expected') end
  if not INTEGER[t.dtype] then
    fail(string.format('%s: target %s has dtype %s: class ids (i64) expected', who, shape_str(t.shape), t.dtype))
  end
  local ignore_index = o.ignore_index
  check_ids(who, x, t, ignore_index)
  if t.dtype ~= 'i64' then t = t:long() end
  local w = class_weight(who, o, x)
  return F.nll_loss(x, t, {weight = w, ignore_index = ignore_index, reduction = r})
end

---------------------------------------------------------------------------
-- Loss modules
---------------------------------------------------------------------------

local Loss = Module:extend('Loss')
M.Loss = Loss

-- A loss class: impl(who, output, target, opts) computes; allowed names
-- the options (besides reduction).
local function loss_class(name, impl, nargs)
  local cls = Loss:extend(name)
  cls.init = function(self, o)
    o = loss_opts(o, name)
    self.options = o
    reduction_of(o, name, name == 'KLDivLoss' and 'batchmean' or nil)
    self.reduction = o.reduction or 'mean'
  end
  if nargs == 3 then
    cls.forward = function(self, a, b, c) return impl(name, a, b, c, self.options) end
  else
    cls.forward = function(self, a, b) return impl(name, a, b, self.options) end
  end
  cls.extra_repr = function(self)
    local keys = {}
    for k in pairs(self.options) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
      local v = self.options[k]
      parts[#parts + 1] = k .. '=' .. (brasa.is_tensor(v) and shape_str(v.shape) or
        type(v) == 'string' and ("'" .. v .. "'") or tostring(v))
    end
    return table.concat(parts, ', ')
  end
  M[name] = cls
  return cls
end

loss_class('MSELoss', mse)
loss_class('L1Loss', l1)
loss_class('HuberLoss', function(who, x, t, o) return huber(who, x, t, o, 'delta', false) end)
loss_class('SmoothL1Loss', function(who, x, t, o) return huber(who, x, t, o, 'beta', true) end)
loss_class('BCELoss', bce)
loss_class('BCEWithLogitsLoss', bce_logits)
loss_class('NLLLoss', nll)
loss_class('KLDivLoss', kl)
loss_class('CosineEmbeddingLoss', cosine_embedding, 3)

local CrossEntropyLoss = loss_class('CrossEntropyLoss', cross_entropy)

-- The probability check runs on the first calls of each instance only.
local CHECK_CALLS = 3

function CrossEntropyLoss:forward(output, target)
  local o = self.options
  local n = self._calls or 0
  if n < CHECK_CALLS and o.from_logits ~= false and brasa.is_tensor(output) and #output.shape > 0 then
    self._calls = n + 1
    maybe_warn_probabilities('CrossEntropyLoss', output)
  end
  return cross_entropy('CrossEntropyLoss', output, target, o)
end

return M
