-- brasa.docs.nn_conv: help entries of the convolutions in
-- brasa.nn.functional (lua/lnn_conv.c): conv1d, conv2d, conv_transpose1d,
-- conv_transpose2d. Examples follow the conventions of docs/tensor.lua
-- (`print(expr)  --> shown`); tests/lua/nn_conv_spec.lua runs them.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {'brasa.nn.functional.' .. name, sig, summary, text = text, example = example,
                     see = see}
end

local OPTS = [=[
Options (a table, the last argument; F.conv2d(x, w, opts) works when there
is no bias): stride (default 1), dilation (spacing of the kernel's taps,
default 1) and groups (default 1: the channels are split into groups
convolved separately; groups = channels is a depthwise convolution), each
stride or dilation a number for every spatial dim or a list with one per
dim. padding: a number (every side), a list with one per dim, a list with
two per dim ({top, bottom, left, right} in 2-d, {left, right} in 1-d:
PyTorch needs F.pad for that), 'valid' (none, the default) or 'same' (the
output keeps the input's size; stride 1 only, as in PyTorch, and with an
even kernel the extra row or column of padding goes after). An unknown
option is an error.]=]

local LAYOUT = [=[
Layouts are PyTorch's: x is [N, C, H, W] (2-d) or [N, C, L] (1-d), or
unbatched without N. Inputs are f32 or f64 (f16 and bf16 compute in f32 and
keep their dtype); x, weight and bias share one dtype. The result is
differentiable with respect to x, the weight and the bias, to any order:
the gradients are convolutions again.

On the CPU the work is split over the batch across brasa's threads (a
batch smaller than the threads splits each image instead). Where the CPU
has AVX-512, f32 convolutions run direct kernels that read a padded copy
of each image (no column matrix): all of stride 1, strided ones with 8 or
more output channels per group, and the weight gradients of layers with 8
or more; 3x3 layers at stride 1 with 16 or more channels use Winograd's
F(2x2, 3x3), which needs 2.25 times fewer multiplications for the same
results (to f32 rounding). The others, f64 and other CPUs build column
matrices (im2col) and multiply them with OpenBLAS; a 1x1 convolution is a
plain matrix product.]=]

entry('conv2d', 'F.conv2d(x, weight, bias?, opts?) -> y',
  'Convolves [N, C, H, W] with weight [OC, C/groups, KH, KW]: [N, OC, OH, OW].',
  [=[
The cross-correlation of PyTorch's F.conv2d: y[n, o, i, j] = bias[o] + the
sum over the channels c of o's group and the taps (a, b) of
weight[o, c, a, b] * x[n, c, i * sh - pt + a * dh, j * sw - pl + b * dw],
zeros outside x. Output size: OH = floor((H + pt + pb - dh * (KH - 1) - 1)
/ sh) + 1, and so for OW. bias is [OC] or nil.

]=] .. OPTS .. '\n\n' .. LAYOUT,
  [=[
local F = brasa.nn.functional
local x = brasa.arange(1, 16):reshape(1, 1, 4, 4):float()
local w = brasa.ones(1, 1, 3, 3)
print(F.conv2d(x, w))  --> [[[[54., 63.], [90., 99.]]]]
print(F.conv2d(x, w, brasa.tensor{10}, {stride = 2, padding = 1}))  --> [[[[24., 40.], [67., 109.]]]]
print(table.concat(F.conv2d(x, w, {padding = 'same'}).shape, 'x'))  --> 1x1x4x4
print(table.concat(F.conv2d(x, w, {padding = {1, 0, 0, 2}}).shape, 'x'))  --> 1x1x3x4]=],
  'brasa.nn.functional.conv_transpose2d')

entry('conv1d', 'F.conv1d(x, weight, bias?, opts?) -> y',
  'Convolves [N, C, L] with weight [OC, C/groups, K]: [N, OC, OL].',
  [=[
The 1-d form of F.conv2d (PyTorch's F.conv1d), for sequences such as
embedded text: y[n, o, i] = bias[o] + the sum over c and the taps a of
weight[o, c, a] * x[n, c, i * s - pl + a * d].

]=] .. OPTS .. '\n\n' .. LAYOUT,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{1, 2, 3, 4, 5}}}
local w = brasa.tensor{{{1, -1}}}
print(F.conv1d(x, w))  --> [[[-1., -1., -1., -1.]]]
print(F.conv1d(x, w, {padding = {1, 2}}))  --> [[[-1., -1., -1., -1., -1., 5., 0.]]]]=],
  'brasa.nn.functional.conv2d')

local TRANSPOSED = [=[
Options: stride, padding, dilation, groups as for the convolution it
transposes (padding here crops the output: a number, one per dim, or two
per dim; 'valid' is none; 'same' is not supported, as in PyTorch), and
output_padding (default 0, one number or one per dim): extra rows or
columns added at the end of the output, to reach a size the stride would
otherwise make ambiguous; it must be smaller than the stride or the
dilation. An unknown option is an error.

]=] .. LAYOUT

entry('conv_transpose2d', 'F.conv_transpose2d(x, weight, bias?, opts?) -> y',
  'The transposed convolution of [N, C, H, W] with weight [C, OC/groups, KH, KW].',
  [=[
PyTorch's F.conv_transpose2d (sometimes called a deconvolution): the
gradient of F.conv2d with respect to its input, used to upsample in
decoders and GANs. Each input value spreads weight[c, o, :, :] into the
output at stride s. Output size: OH = (H - 1) * sh - pt - pb + dh * (KH - 1)
+ output_padding + 1, and so for OW. bias is [OC] (OC = weight's second
size times groups) or nil.

]=] .. TRANSPOSED,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{{1, 2}, {3, 4}}}}
print(F.conv_transpose2d(x, brasa.ones(1, 1, 2, 2)))  --> [[[[1., 3., 2.], [4., 10., 6.], [3., 7., 4.]]]]
print(F.conv_transpose2d(x, brasa.tensor{{{{2}}}}, brasa.tensor{10}, {stride = 2, output_padding = 1}))  --> [[[[12., 10., 14., 10.], [10., 10., 10., 10.], [16., 10., 18., 10.], [10., 10., 10., 10.]]]]]=],
  'brasa.nn.functional.conv2d')

entry('conv_transpose1d', 'F.conv_transpose1d(x, weight, bias?, opts?) -> y',
  'The transposed convolution of [N, C, L] with weight [C, OC/groups, K].',
  [=[
The 1-d form of F.conv_transpose2d (PyTorch's F.conv_transpose1d): output
length (L - 1) * s - pl - pr + d * (K - 1) + output_padding + 1.

]=] .. TRANSPOSED,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{1, 2, 3}}}
print(F.conv_transpose1d(x, brasa.tensor{{{1, 1}}}))  --> [[[1., 3., 5., 3.]]]
print(F.conv_transpose1d(x, brasa.tensor{{{1, 1}}}, {stride = 2}))  --> [[[1., 1., 2., 2., 3., 3.]]]]=],
  'brasa.nn.functional.conv1d')

local reflow = require('brasa.docs.tensor').reflow
for _, e in ipairs(list) do
  e.text = reflow(e.text)
  doc.add(e)
end

-- Bind the functions of brasa.nn.functional (the core's table, filled by
-- lua/lnn_conv.c) to their entries.
local core = package.loaded['brasa.core']
if core and core._nnf then
  for _, e in ipairs(list) do
    local name = e[1]:match('^brasa%.nn%.functional%.(.+)$')
    doc.bind(core._nnf[name], e[1])
  end
end

M.entries = list
return M
