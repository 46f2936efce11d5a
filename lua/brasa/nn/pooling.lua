-- brasa.nn.pooling: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d,
-- AdaptiveMaxPool1d/2d, GlobalAvgPool1d/2d, GlobalMaxPool1d/2d and Upsample,
-- on the functionals of brasa.nn.functional. No parameters.
--
-- Inputs are [N x C x L] (1-d) or [N x C x H x W] (2-d), or the same without
-- the batch dim.

local mod = require 'brasa.nn.module'
local layers = require 'brasa.nn.layers'
local F = require 'brasa.nn.functional'

local Module, fail, shape_str = mod.Module, mod.fail, mod.shape_str
local options, check_count = layers.options, layers.check_count

local M = {}

local SPATIAL = {[1] = 'L', [2] = 'H x W'}

local function functional(who, name)
  local f = F[name]
  if not f then fail(mod.name_of(who) .. ': brasa.nn.functional.' .. name .. ' is not available in this build') end
  return f
end

-- Rank and dtype of a pooling input over n spatial dims.
local function check_input(self, x, n)
  local who = self
  mod.check_float(who, x)
  local nd = #x.shape
  if nd ~= n + 2 and nd ~= n + 1 then
    fail(string.format('%s: input %s has %s, expected %d (N x C x %s) or %d (C x %s)', self:_name(),
      shape_str(x.shape), mod.dims_str(nd), n + 2, SPATIAL[n], n + 1, SPATIAL[n]))
  end
  return nd
end

---------------------------------------------------------------------------
-- Max and average pooling
---------------------------------------------------------------------------

local function pool_class(name, n, kind)
  local cls = Module:extend(name)
  local fname = kind .. '_pool' .. n .. 'd'

  cls.init = function(self, kernel_size, opts)
    if type(kernel_size) == 'table' and kernel_size.kernel_size then
      opts, kernel_size = kernel_size, kernel_size.kernel_size
    end
    opts = options(opts, name)
    local k = mod.ntuple(kernel_size, n, name, 'kernel_size')
    for i = 1, n do k[i] = check_count(name, 'kernel_size', k[i]) end
    self.kernel_size = k
    self.stride = mod.ntuple(opts.stride or k, n, name, 'stride')
    for i = 1, n do check_count(name, 'stride', self.stride[i]) end
    self.padding = mod.ntuple(opts.padding or 0, n, name, 'padding')
    for i = 1, n do
      local p = self.padding[i]
      if p < 0 or p ~= math.floor(p) or p > k[i] // 2 then
        fail(string.format('%s: padding %s must be between 0 and half the kernel size (%d)', name,
          tostring(p), k[i] // 2))
      end
    end
    self.ceil_mode = opts.ceil_mode and true or false
    if kind == 'max' then
      self.dilation = mod.ntuple(opts.dilation or 1, n, name, 'dilation')
      for i = 1, n do check_count(name, 'dilation', self.dilation[i]) end
    else
      self.count_include_pad = opts.count_include_pad ~= false
      self.divisor_override = opts.divisor_override
    end
  end

  cls.extra_repr = function(self)
    local s = mod.size_str(self.kernel_size)
    if mod.size_str(self.stride) ~= s then s = s .. ', stride=' .. mod.compact_str(self.stride) end
    if not mod.all_equal(self.padding, 0) then s = s .. ', padding=' .. mod.compact_str(self.padding) end
    if self.dilation and not mod.all_equal(self.dilation, 1) then
      s = s .. ', dilation=' .. mod.compact_str(self.dilation)
    end
    if self.ceil_mode then s = s .. ', ceil_mode=true' end
    if kind == 'avg' and not self.count_include_pad then s = s .. ', count_include_pad=false' end
    return s
  end

  cls.forward = function(self, x)
    local nd = check_input(self, x, n)
    for d = 1, n do
      local size = x.shape[nd - n + d] + 2 * self.padding[d]
      local span = (self.kernel_size[d] - 1) * (self.dilation and self.dilation[d] or 1) + 1
      if size < span then
        fail(string.format('%s: input %s is too small: spatial size %d (padded) is smaller than the kernel span %d',
          self:_name(), shape_str(x.shape), size, span))
      end
    end
    local opts = {stride = self.stride, padding = self.padding, ceil_mode = self.ceil_mode}
    if kind == 'max' then
      opts.dilation = self.dilation
    else
      opts.count_include_pad = self.count_include_pad
      opts.divisor_override = self.divisor_override
    end
    return functional(name, fname)(x, self.kernel_size, opts)
  end

  M[name] = cls
  return cls
end

pool_class('MaxPool1d', 1, 'max')
pool_class('MaxPool2d', 2, 'max')
pool_class('AvgPool1d', 1, 'avg')
pool_class('AvgPool2d', 2, 'avg')

---------------------------------------------------------------------------
-- Adaptive pooling
---------------------------------------------------------------------------

local function adaptive_class(name, n, kind)
  local cls = Module:extend(name)
  local fname = 'adaptive_' .. kind .. '_pool' .. n .. 'd'

  cls.init = function(self, output_size)
    if type(output_size) == 'table' and output_size.output_size then output_size = output_size.output_size end
    if n == 1 and type(output_size) == 'number' then
      self.output_size = check_count(name, 'output_size', output_size)
    else
      local s = mod.ntuple(output_size, n, name, 'output_size')
      local c = {}
      for i = 1, n do
        -- nil or -1 in PyTorch keeps the input's size; here a negative number does
        c[i] = s[i] < 0 and -1 or check_count(name, 'output_size', s[i])
      end
      self.output_size = c
    end
  end

  cls.extra_repr = function(self)
    return 'output_size=' .. mod.size_str(self.output_size)
  end

  cls.forward = function(self, x)
    check_input(self, x, n)
    return functional(name, fname)(x, self.output_size)
  end

  M[name] = cls
  return cls
end

adaptive_class('AdaptiveAvgPool1d', 1, 'avg')
adaptive_class('AdaptiveAvgPool2d', 2, 'avg')
adaptive_class('AdaptiveMaxPool1d', 1, 'max')
adaptive_class('AdaptiveMaxPool2d', 2, 'max')

---------------------------------------------------------------------------
-- Global pooling (Keras's GlobalAveragePooling2D...): [N x C x ...] -> [N x C]
---------------------------------------------------------------------------

local function global_class(name, n, kind)
  local cls = Module:extend(name)
  local fname = 'global_' .. kind .. '_pool' .. n .. 'd'

  --- [N x C x spatial] -> [N x C]: the mean or maximum over the spatial dims.
  cls.init = function() end

  cls.forward = function(self, x)
    check_input(self, x, n)
    return functional(name, fname)(x)
  end

  M[name] = cls
  return cls
end

global_class('GlobalAvgPool1d', 1, 'avg')
global_class('GlobalAvgPool2d', 2, 'avg')
global_class('GlobalMaxPool1d', 1, 'max')
global_class('GlobalMaxPool2d', 2, 'max')

---------------------------------------------------------------------------
-- Upsample
---------------------------------------------------------------------------

local Upsample = Module:extend('Upsample')
M.Upsample = Upsample

local MODES = {nearest = true, linear = true, bilinear = true}

--- nn.Upsample{size =, scale_factor =, mode = 'nearest', align_corners =}:
-- resamples [N x C x L] or [N x C x H x W] (F.interpolate). Give size or
-- scale_factor (a number or one per spatial dim); mode 'nearest' (the
-- default), 'linear' (1-d) or 'bilinear' (2-d); align_corners as PyTorch
-- (false by default, for the linear modes).
function Upsample:init(opts)
  if type(opts) == 'number' then opts = {scale_factor = opts} end
  opts = options(opts, 'Upsample')
  if (opts.size == nil) == (opts.scale_factor == nil) then
    fail('Upsample: give exactly one of size and scale_factor')
  end
  local mode = opts.mode or 'nearest'
  if not MODES[mode] then
    fail("Upsample: mode must be 'nearest', 'linear' or 'bilinear', got '" .. tostring(mode) .. "'")
  end
  if mode == 'nearest' and opts.align_corners ~= nil then
    fail("Upsample: align_corners is for the modes 'linear' and 'bilinear', not 'nearest'")
  end
  self.size, self.scale_factor, self.mode = opts.size, opts.scale_factor, mode
  self.align_corners = opts.align_corners
end

function Upsample:extra_repr()
  local s = self.size and ('size=' .. mod.size_str(self.size)) or ('scale_factor=' .. mod.size_str(self.scale_factor))
  s = s .. ", mode='" .. self.mode .. "'"
  if self.align_corners then s = s .. ', align_corners=true' end
  return s
end

function Upsample:forward(x)
  local who = self
  mod.check_float(who, x)
  local nd = #x.shape
  local want = (self.mode == 'linear') and {3} or (self.mode == 'bilinear') and {4} or {3, 4}
  local ok = false
  for _, r in ipairs(want) do if nd == r then ok = true end end
  if not ok then
    fail(string.format('%s: input %s has %s, expected %s', self:_name(), shape_str(x.shape), mod.dims_str(nd),
      #want == 2 and '3 (N x C x L) or 4 (N x C x H x W)' or (want[1] == 3 and '3 (N x C x L)' or '4 (N x C x H x W)')))
  end
  return functional(who, 'interpolate')(x, {size = self.size, scale_factor = self.scale_factor,
    mode = self.mode, align_corners = self.align_corners})
end

return M
