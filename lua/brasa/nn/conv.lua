-- brasa.nn.conv: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, on the
-- functionals of brasa.nn.functional (conv1d, conv2d, conv_transpose1d,
-- conv_transpose2d).
--
-- Parameters keep PyTorch's layouts: a convolution's weight is
-- [out_channels x in_channels/groups x kernel...], a transposed one's
-- [in_channels x out_channels/groups x kernel...]; bias [out_channels].
-- Both start as PyTorch's: kaiming_uniform_ with a = sqrt(5) and a bias
-- U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in computed from the weight.
--
-- Conv1d and ConvTranspose1d take {input_channels_last = true}: the input
-- is then [N x L x C] (or [L x C]), as an Embedding yields (Keras's
-- Conv1D layout), and is transposed to [N x C x L] inside forward; the
-- output stays [N x C_out x L'], so MaxPool1d / GlobalMaxPool1d follow
-- unchanged.

local mod = require 'brasa.nn.module'
local init = require 'brasa.nn.initializers'
local layers = require 'brasa.nn.layers'
local F = require 'brasa.nn.functional'

local Module, fail, shape_str = mod.Module, mod.fail, mod.shape_str
local options, check_count, param = layers.options, layers.check_count, layers.param

local M = {}

local function brasa_is_tensor(x) return require('brasa').is_tensor(x) end

local SPATIAL = {[1] = 'L', [2] = 'H x W'}

-- The padding option as given, checked: a number, a list of n (one per
-- spatial dim), a list of 2n (before and after each dim: {top, bottom,
-- left, right} in 2-d), 'same' or 'valid'.
local function check_padding(who, p, n)
  if p == 'same' or p == 'valid' then return p end
  local function ok(v) return type(v) == 'number' and v >= 0 and v == math.floor(v) end
  if type(p) == 'number' then
    if not ok(p) then fail(who .. ': padding must be a non-negative integer, got ' .. tostring(p)) end
    return p
  end
  if type(p) == 'table' and (#p == n or #p == 2 * n) then
    local c = {}
    for i, v in ipairs(p) do
      if not ok(v) then fail(who .. ': padding entries must be non-negative integers') end
      c[i] = v
    end
    return c
  end
  fail(string.format("%s: padding must be a number, a list of %d or %d numbers, 'same' or 'valid'", who, n, 2 * n))
end

-- Padding before + after along spatial dim d of n (nil for 'same').
local function total_pad(p, d, n)
  if p == 'valid' then return 0 end
  if p == 'same' then return nil end
  if type(p) == 'number' then return 2 * p end
  if #p == 2 * n then return p[2 * d - 1] + p[2 * d] end
  return 2 * p[d]
end

local function pad_repr(p)
  if p == 'same' or p == 'valid' then return "'" .. p .. "'" end
  if type(p) == 'number' then return tostring(p) end
  if mod.all_equal(p, p[1]) then return tostring(p[1]) end
  local parts = {}
  for i, v in ipairs(p) do parts[i] = tostring(v) end
  return '{' .. table.concat(parts, ', ') .. '}'
end

-- A convolution class over n spatial dims; transposed for ConvTranspose.
local function conv_class(name, n, transposed)
  local cls = Module:extend(name)
  local fname = (transposed and 'conv_transpose' or 'conv') .. n .. 'd'

  cls.init = function(self, in_ch, out_ch, kernel_size, opts)
    opts = options(opts, name)
    self.in_channels = check_count(name, 'in_channels', in_ch)
    self.out_channels = check_count(name, 'out_channels', out_ch)
    local k = mod.ntuple(kernel_size, n, name, 'kernel_size')
    for i = 1, n do k[i] = check_count(name, 'kernel_size', k[i]) end
    self.kernel_size = k
    self.stride = mod.ntuple(opts.stride or 1, n, name, 'stride')
    for i = 1, n do check_count(name, 'stride', self.stride[i]) end
    self.padding = check_padding(name, opts.padding or 0, n)
    self.dilation = mod.ntuple(opts.dilation or 1, n, name, 'dilation')
    for i = 1, n do check_count(name, 'dilation', self.dilation[i]) end
    self.groups = check_count(name, 'groups', opts.groups or 1)
    if transposed then
      self.output_padding = mod.ntuple(opts.output_padding or 0, n, name, 'output_padding')
      if type(self.padding) == 'string' then
        fail(name .. ": padding 'same' and 'valid' are for convolutions, not transposed ones")
      end
    end
    if opts.input_channels_last then
      if n ~= 1 then fail(name .. ': input_channels_last is for the 1-d layers (Conv1d, ConvTranspose1d)') end
      self.input_channels_last = true
    end
    if opts.padding_mode and opts.padding_mode ~= 'zeros' then
      fail(name .. ": only padding_mode = 'zeros' is supported")
    end
    if self.in_channels % self.groups ~= 0 or self.out_channels % self.groups ~= 0 then
      fail(string.format('%s: in_channels (%d) and out_channels (%d) must be divisible by groups (%d)',
        name, self.in_channels, self.out_channels, self.groups))
    end
    local wshape
    if transposed then
      wshape = {self.in_channels, self.out_channels // self.groups}
    else
      wshape = {self.out_channels, self.in_channels // self.groups}
    end
    for i = 1, n do wshape[#wshape + 1] = k[i] end
    self.weight = param(wshape, opts.dtype)
    if opts.bias ~= false then self.bias = param({self.out_channels}, opts.dtype) end
    self:reset_parameters()
    layers.custom_init(self, opts)
    self:_regularizers_from(opts)
  end

  --- reset_parameters(): PyTorch's default initialisation again.
  cls.reset_parameters = function(self)
    init.kaiming_uniform_(self.weight, {a = math.sqrt(5)})
    if self.bias then
      local fan_in = init.calculate_fan_in_and_fan_out(self.weight)
      local b = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
      init.uniform_(self.bias, -b, b)
    end
  end

  cls.extra_repr = function(self)
    local s = string.format('%d -> %d, %s', self.in_channels, self.out_channels, mod.size_str(self.kernel_size))
    if not mod.all_equal(self.stride, 1) then s = s .. ', stride=' .. mod.compact_str(self.stride) end
    if self.padding ~= 0 and not mod.all_equal(self.padding, 0) then
      s = s .. ', padding=' .. pad_repr(self.padding)
    end
    if transposed and not mod.all_equal(self.output_padding, 0) then
      s = s .. ', output_padding=' .. mod.compact_str(self.output_padding)
    end
    if not mod.all_equal(self.dilation, 1) then s = s .. ', dilation=' .. mod.compact_str(self.dilation) end
    if self.groups ~= 1 then s = s .. ', groups=' .. self.groups end
    if not self.bias then s = s .. ', bias=false' end
    if self.input_channels_last then s = s .. ', input_channels_last=true' end
    return s
  end

  -- The checks of an input: rank, dtype, channels, size against the kernel.
  local function check_input(self, x)
    local who = self
    mod.check_float(who, x)
    local nd = #x.shape
    if nd ~= n + 2 and nd ~= n + 1 then
      fail(string.format('%s: input %s has %s, expected %d (N x C x %s) or %d (C x %s)', self:_name(),
        shape_str(x.shape), mod.dims_str(nd), n + 2, SPATIAL[n], n + 1, SPATIAL[n]))
    end
    local c = x.shape[nd - n]
    if c ~= self.in_channels then
      if nd == n + 1 then   -- read as one unbatched example: maybe a batch without its channel dim
        fail(string.format('%s: input %s has %d channels (with %d dims it is read as one example, C x %s), '
          .. 'expected %d%s', self:_name(), shape_str(x.shape), c, nd, SPATIAL[n], self.in_channels,
          self.in_channels == 1 and ': for a batch of one-channel inputs add the channel dim, x:unsqueeze(2)' or ''))
      end
      if self.input_channels_last then
        fail(string.format('%s: input %s (input_channels_last: N x L x C) has %d channels, expected %d',
          self:_name(), shape_str(x:transpose(nd - 1, nd).shape), c, self.in_channels))
      end
      fail(string.format('%s: input %s has %d channels, expected %d', self:_name(), shape_str(x.shape), c, self.in_channels))
    end
    if not transposed then
      for d = 1, n do
        local size = x.shape[nd - n + d]
        local pad = total_pad(self.padding, d, n)
        local span = (self.kernel_size[d] - 1) * self.dilation[d] + 1
        if pad and size + pad < span then
          fail(string.format('%s: input %s is too small: spatial size %d (padded: %d) is smaller than the kernel span %d',
            self:_name(), shape_str(x.shape), size, size + pad, span))
        end
      end
    end
  end

  cls.forward = function(self, x)
    if self.input_channels_last and brasa_is_tensor(x) and (#x.shape == 3 or #x.shape == 2) then
      x = x:transpose(#x.shape - 1, #x.shape)   -- [N x L x C] -> [N x C x L]
    end
    check_input(self, x)
    local opts = {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = self.groups,
                  output_padding = self.output_padding}
    local f = F[fname]
    if not f then fail(name .. ': brasa.nn.functional.' .. fname .. ' is not available in this build') end
    return f(x, self.weight, self.bias, opts)
  end

  M[name] = cls
  return cls
end

conv_class('Conv1d', 1, false)
conv_class('Conv2d', 2, false)
conv_class('ConvTranspose1d', 1, true)
conv_class('ConvTranspose2d', 2, true)

return M
