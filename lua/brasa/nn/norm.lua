-- brasa.nn.norm: BatchNorm1d, BatchNorm2d and LayerNorm, on the functionals
-- batch_norm and layer_norm of brasa.nn.functional.
--
-- PyTorch's defaults: eps 1e-5, momentum 0.1 (running = (1 - momentum) *
-- running + momentum * batch statistic, the variance unbiased), weight 1 and
-- bias 0; buffers running_mean (0), running_var (1) and num_batches_tracked
-- (an i64 count), saved in state_dict but not parameters.

local brasa = require 'brasa'
local mod = require 'brasa.nn.module'
local init = require 'brasa.nn.initializers'
local layers = require 'brasa.nn.layers'
local F = require 'brasa.nn.functional'

local Module, fail, shape_str = mod.Module, mod.fail, mod.shape_str
local options, check_count, param = layers.options, layers.check_count, layers.param

local M = {}

---------------------------------------------------------------------------
-- BatchNorm1d / BatchNorm2d
---------------------------------------------------------------------------

local function bn_class(name, ranks, expect)
  local cls = Module:extend(name)

  cls.init = function(self, num_features, opts)
    opts = options(opts, name)
    self.num_features = check_count(name, 'num_features', num_features)
    self.eps = opts.eps or 1e-5
    self.momentum = opts.momentum == nil and 0.1 or opts.momentum
    if type(self.eps) ~= 'number' or self.eps < 0 then fail(name .. ': eps must be a number >= 0') end
    if type(self.momentum) ~= 'number' or self.momentum < 0 or self.momentum > 1 then
      fail(name .. ': momentum must be a number in [0, 1]')
    end
    self.affine = opts.affine ~= false
    self.track_running_stats = opts.track_running_stats ~= false
    local dtype = opts.dtype or 'f32'
    if self.affine then
      self.weight = param({num_features}, dtype)
      self.bias = param({num_features}, dtype)
    end
    if self.track_running_stats then
      self:register_buffer('running_mean', brasa.zeros(num_features, {dtype = dtype}))
      self:register_buffer('running_var', brasa.ones(num_features, {dtype = dtype}))
      self:register_buffer('num_batches_tracked', brasa.zeros({}, {dtype = 'i64'}))
    end
    self:reset_parameters()
    self:_regularizers_from(opts)
  end

  --- reset_parameters(): weight 1, bias 0, running statistics reset.
  cls.reset_parameters = function(self)
    self:reset_running_stats()
    if self.affine then
      init.ones_(self.weight)
      init.zeros_(self.bias)
    end
  end

  --- reset_running_stats(): running_mean 0, running_var 1, count 0.
  cls.reset_running_stats = function(self)
    if self.track_running_stats then
      brasa.no_grad(function()
        self.running_mean:fill_(0)
        self.running_var:fill_(1)
        self.num_batches_tracked:fill_(0)
      end)
    end
  end

  cls.extra_repr = function(self)
    local s = tostring(self.num_features)
    if self.eps ~= 1e-5 then s = s .. ', eps=' .. self.eps end
    if self.momentum ~= 0.1 then s = s .. ', momentum=' .. self.momentum end
    if not self.affine then s = s .. ', affine=false' end
    if not self.track_running_stats then s = s .. ', track_running_stats=false' end
    return s
  end

  cls.forward = function(self, x)
    local who = self
    mod.check_float(who, x)
    local nd = #x.shape
    local ok = false
    for _, r in ipairs(ranks) do if nd == r then ok = true end end
    if not ok then
      fail(string.format('%s: input %s has %s, expected %s', self:_name(), shape_str(x.shape), mod.dims_str(nd), expect))
    end
    if x.shape[2] ~= self.num_features then
      fail(string.format('%s: input %s has %d channels, expected %d', self:_name(), shape_str(x.shape), x.shape[2],
        self.num_features))
    end
    local use_batch = self.training or not self.track_running_stats
    if self.training and x:numel() // self.num_features <= 1 then
      fail(string.format('%s: input %s has 1 value per channel: batch statistics need more than one in training '
        .. '(use a larger batch, or eval())', self:_name(), shape_str(x.shape)))
    end
    if self.training and self.track_running_stats then
      brasa.no_grad(function() self.num_batches_tracked:add_(1) end)
    end
    return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
      {training = use_batch, momentum = self.momentum, eps = self.eps})
  end

  M[name] = cls
  return cls
end

bn_class('BatchNorm1d', {2, 3}, '2 (N x C) or 3 (N x C x L)')
bn_class('BatchNorm2d', {4}, '4 (N x C x H x W)')

---------------------------------------------------------------------------
-- LayerNorm
---------------------------------------------------------------------------

local LayerNorm = Module:extend('LayerNorm')
M.LayerNorm = LayerNorm

--- nn.LayerNorm(normalized_shape, opts?): normalises over the last dims
-- (normalized_shape: a number or a table of sizes), then scales by weight
-- and shifts by bias (of that shape; opts.elementwise_affine = false
-- drops them). opts.eps (1e-5), opts.dtype.
function LayerNorm:init(shape, opts)
  opts = options(opts, 'LayerNorm')
  if type(shape) == 'number' then shape = {shape} end
  if type(shape) ~= 'table' or #shape == 0 then
    fail('LayerNorm: normalized_shape must be a number or a non-empty table of sizes')
  end
  local s = {}
  for i, v in ipairs(shape) do s[i] = check_count('LayerNorm', 'normalized_shape', v) end
  self.normalized_shape = s
  self.eps = opts.eps or 1e-5
  self.elementwise_affine = opts.elementwise_affine ~= false
  if self.elementwise_affine then
    self.weight = param(s, opts.dtype)
    self.bias = param(s, opts.dtype)
  end
  self:reset_parameters()
  self:_regularizers_from(opts)
end

--- LayerNorm:reset_parameters(): weight 1, bias 0.
function LayerNorm:reset_parameters()
  if self.elementwise_affine then
    init.ones_(self.weight)
    init.zeros_(self.bias)
  end
end

function LayerNorm:extra_repr()
  local s = mod.size_str(self.normalized_shape)
  if self.eps ~= 1e-5 then s = s .. ', eps=' .. self.eps end
  if not self.elementwise_affine then s = s .. ', elementwise_affine=false' end
  return s
end

function LayerNorm:forward(x)
  local who = self
  mod.check_float(who, x)
  local ns, xs = self.normalized_shape, x.shape
  local ok = #xs >= #ns
  for i = 1, #ns do
    if not ok then break end
    if xs[#xs - #ns + i] ~= ns[i] then ok = false end
  end
  if not ok then
    fail(string.format('%s: input %s does not end with the normalized shape %s', self:_name(), shape_str(xs), shape_str(ns)))
  end
  return F.layer_norm(x, ns, self.weight, self.bias, self.eps)
end

return M
