-- brasa.autograd_registry: which ops are differentiable.
--
-- Every method of brasa.Tensor is listed exactly once, either in
-- `differentiable` (it records a backward rule, or is built from ops that do,
-- so gradients flow through it) or in `not_differentiable` (comparisons,
-- integer results, queries, random fills...). `functions` lists the
-- differentiable functions of the brasa module that are not methods, and
-- `metamethods` the differentiable operators and indexing.
--
-- The gradient-check suite (tests/lua/gradcheck_spec.lua) fails when a name
-- in `differentiable`, `functions` or `metamethods` has no gradient check,
-- and when a Tensor method is in neither list: a new op must be classified
-- here and, when differentiable, get a check.
--
-- `second_order` names the ops whose gradients must themselves be checked
-- (gradients of gradients).

local M = {}

M.differentiable = {
  -- elementwise unary, and their in-place forms (on non-leaves)
  'neg', 'abs', 'exp', 'log', 'log1p', 'expm1', 'sqrt', 'rsqrt', 'sin', 'cos', 'tan', 'tanh',
  'sigmoid', 'relu', 'sign', 'floor', 'ceil', 'round', 'trunc', 'reciprocal', 'square', 'erf',
  'asin', 'acos', 'atan', 'sinh', 'cosh', 'log2', 'log10', 'exp2',
  'neg_', 'abs_', 'exp_', 'log_', 'log1p_', 'expm1_', 'sqrt_', 'rsqrt_', 'sin_', 'cos_', 'tan_',
  'tanh_', 'sigmoid_', 'relu_', 'sign_', 'floor_', 'ceil_', 'round_', 'trunc_', 'reciprocal_',
  'square_', 'erf_', 'asin_', 'acos_', 'atan_', 'sinh_', 'cosh_', 'log2_', 'log10_', 'exp2_',
  -- elementwise binary
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'atan2', 'fmod', 'remainder',
  'add_', 'sub_', 'mul_', 'div_', 'pow_', 'maximum_', 'minimum_', 'atan2_', 'fmod_', 'remainder_',
  -- activations, clamp
  'clamp', 'leaky_relu', 'elu', 'softplus', 'gelu',
  -- reductions
  'sum', 'mean', 'prod', 'var', 'std', 'norm', 'logsumexp', 'max', 'min', 'cumsum', 'cumprod',
  -- linear algebra
  'matmul', 'mm', 'bmm', 'dot', 'outer',
  -- views and copies
  'view', 'reshape', 'view_as', 'flatten', 't', 'transpose', 'permute', 'narrow', 'select',
  'squeeze', 'unsqueeze', 'expand', 'expand_as', 'contiguous', 'clone', 'split', 'chunk',
  -- indexing, joining, sorting
  'index_select', 'gather', 'scatter', 'scatter_add', 'index_add', 'masked_fill', 'masked_fill_',
  'masked_select', 'sort', 'topk',
  -- casts between float dtypes, copies into non-leaves
  'to', 'type', 'float', 'double', 'half', 'bfloat16', 'copy', 'copy_',
  -- moves between devices (the gradient moves back)
  'cuda', 'cpu',
}

M.functions = {'cat', 'stack', 'where'}

-- Differentiable functions of brasa.nn.functional (conv, pooling, norms,
-- losses...): each needs a first-order check too.
M.nn_functional = {
  -- convolutions (lua/lnn_conv.c)
  'conv1d', 'conv2d', 'conv_transpose1d', 'conv_transpose2d',
  -- pooling and resampling (lua/lnn_pool.c)
  'max_pool1d', 'max_pool2d', 'avg_pool1d', 'avg_pool2d', 'adaptive_avg_pool1d',
  'adaptive_avg_pool2d', 'adaptive_max_pool1d', 'adaptive_max_pool2d', 'global_avg_pool1d',
  'global_avg_pool2d', 'global_max_pool1d', 'global_max_pool2d', 'interpolate', 'upsample',
  'upsample_nearest', 'upsample_bilinear',
  -- normalisation, dropout, embedding, softmax, class losses (lua/lnn_norm.c)
  'batch_norm', 'layer_norm', 'dropout', 'embedding', 'softmax', 'log_softmax', 'cross_entropy',
  'nll_loss',
  -- written in Lua by brasa.nn (lua/brasa/nn/layers.lua, losses.lua)
  'linear', 'selu', 'silu', 'mse_loss', 'l1_loss', 'huber_loss', 'smooth_l1_loss',
  'binary_cross_entropy', 'binary_cross_entropy_with_logits', 'kl_div', 'cosine_embedding_loss',
}

-- Operators and indexing (x[...] reads; x[...] = t writes).
M.metamethods = {'__add', '__sub', '__mul', '__div', '__pow', '__mod', '__unm', '__index'}

M.not_differentiable = {
  -- comparisons and logic (bool results)
  'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logical_and', 'logical_or', 'logical_xor', 'logical_not',
  'isnan', 'isinf', 'all', 'any', 'allclose', 'equal',
  -- integer results
  'argmax', 'argmin', 'nonzero', 'one_hot', 'long', 'int', 'byte', 'bool',
  -- Lua values and queries
  'item', 'totable', '_flat', 'size', 'stride', 'dim', 'numel', 'is_contiguous',
  -- fills: the result does not depend on the old values
  'fill', 'fill_', 'zero_', 'uniform_', 'normal_', 'bernoulli_',
  -- autograd itself
  'backward', 'requires_grad_', 'detach', 'zero_grad', 'register_hook',
  -- storage swaps: a leaf takes another tensor's memory (Module:to moves parameters so)
  'set_',
}

M.second_order = {
  'matmul', 'mm', 'bmm', 'mul', 'div', 'pow', 'exp', 'log', 'tanh', 'sigmoid', 'sqrt',
  'leaky_relu', 'elu', 'softplus', 'gelu', 'relu',
  'sum', 'mean', 'var', 'std', 'logsumexp', 'max', 'min', 'prod', 'norm',
}

local function set_of(list)
  local s = {}
  for _, k in ipairs(list) do s[k] = true end
  return s
end

--- True when `name` (a Tensor method) is differentiable.
function M.is_differentiable(name)
  M._diff = M._diff or set_of(M.differentiable)
  return M._diff[name] == true
end

M.set_of = set_of

return M
