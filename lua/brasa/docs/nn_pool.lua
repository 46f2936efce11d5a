-- brasa.docs.nn_pool: help entries of pooling and resampling in
-- brasa.nn.functional (lua/lnn_pool.c): max, average, adaptive and global
-- pooling, interpolate and the upsample helpers. Examples follow the
-- conventions of docs/tensor.lua (`print(expr)  --> shown`); they are run by
-- tests/lua/nn_pool_spec.lua.

local doc = require 'brasa.doc'

local M = {}

local list = {}
local function entry(name, sig, summary, text, example, see)
  list[#list + 1] = {'brasa.nn.functional.' .. name, sig, summary, text = text, example = example,
                     see = see}
end

local LAYOUT = [=[
Layouts are PyTorch's: the 2-d functions take [N, C, H, W] or an unbatched
[C, H, W] and pool the last two dims; the 1-d functions take [N, C, L] or
[C, L]. Inputs are f32 or f64 (f16 and bf16 compute in f32 and keep their
dtype). Work is split over the N*C planes across brasa's threads, and the
result is differentiable (gradients of gradients too).]=]

local POOL_OPTS = [=[
Sizes are a number or a list ({kh, kw} for the 2-d forms). The stride may
follow the kernel size as a plain argument (F.max_pool2d(x, 3, 2)) or come
in the options table; the kernel size may also be given there
(kernel_size = ...). Options: stride (default: the kernel size), padding
(default 0; at most half the kernel, as in PyTorch), ceil_mode (default
false: the output size rounds down; true rounds up, with PyTorch's rule
that the last window must start inside the input or its left padding).
An unknown option is an error.]=]

local MAX_TEXT = [=[
Each output is the largest value of its window; padding counts as -inf
(it never wins). Further options: dilation (spacing of the window's taps,
default 1) and return_indices: when true the call returns the values and
an i64 tensor of the positions of the maxima, 1-based and flat within each
input plane (PyTorch's are the same positions, 0-based). Of equal values
the first wins; a NaN wins over numbers. The gradient goes to the position
of each maximum.

]=] .. POOL_OPTS .. '\n\n' .. LAYOUT

local AVG_TEXT = [=[
Each output is the mean of its window. Further options: count_include_pad
(default true: the zeros of the padding count in the divisor; false
divides by the number of input values in the window) and divisor_override
(divide every window's sum by this number instead). Windows that ceil_mode
adds at the end are clipped to the padded input. The gradient spreads each
output's gradient evenly over its window.

]=] .. POOL_OPTS .. '\n\n' .. LAYOUT

entry('max_pool2d', 'F.max_pool2d(x, kernel_size, stride_or_opts?, opts?) -> y [, indices]',
  'Max pooling over the last two dims of [N, C, H, W] (or [C, H, W]).', MAX_TEXT,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{{1, 9, 2, 3}, {4, 5, 8, 6}, {0, 1, 7, 2}, {3, 2, 1, 0}}}}
print(F.max_pool2d(x, 2))  --> [[[[9., 8.], [3., 7.]]]]
local y, i = F.max_pool2d(x, 2, {return_indices = true})
print(i)  --> [[[[2, 7], [13, 11]]]]
print(table.concat(F.max_pool2d(x, 3, {stride = 1, padding = 1}).shape, 'x'))  --> 1x1x4x4]=])

entry('max_pool1d', 'F.max_pool1d(x, kernel_size, stride_or_opts?, opts?) -> y [, indices]',
  'Max pooling over the last dim of [N, C, L] (or [C, L]).', MAX_TEXT,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{3, 1, 4, 1, 5, 9, 2}}}
print(F.max_pool1d(x, 2))  --> [[[3., 4., 9.]]]
local y, i = F.max_pool1d(x, 3, {stride = 2, padding = 1, return_indices = true})
print(y, i)  --> [[[3., 4., 9., 9.]]] [[[1, 3, 6, 6]]]]=])

entry('avg_pool2d', 'F.avg_pool2d(x, kernel_size, stride_or_opts?, opts?) -> y',
  'Average pooling over the last two dims of [N, C, H, W] (or [C, H, W]).', AVG_TEXT,
  [=[
local F = brasa.nn.functional
local x = brasa.arange(1, 16):reshape(1, 1, 4, 4):float()
print(F.avg_pool2d(x, 2))  --> [[[[3.5000, 5.5000], [11.5000, 13.5000]]]]
print(F.avg_pool2d(x, 3, {stride = 2, padding = 1, count_include_pad = false}))  --> [[[[3.5000, 5.0000], [9.5000, 11.0000]]]]
print(F.avg_pool2d(x, 2, {divisor_override = 2}))  --> [[[[7., 11.], [23., 27.]]]]]=])

entry('avg_pool1d', 'F.avg_pool1d(x, kernel_size, stride_or_opts?, opts?) -> y',
  'Average pooling over the last dim of [N, C, L] (or [C, L]).', AVG_TEXT,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{1, 2, 3, 4, 5}}}
print(F.avg_pool1d(x, 2))  --> [[[1.5000, 3.5000]]]
print(F.avg_pool1d(x, 2, {ceil_mode = true}))  --> [[[1.5000, 3.5000, 5.0000]]]
print(F.avg_pool1d(x, 3, {stride = 1, padding = 1}))  --> [[[1., 2., 3., 4., 3.]]]]=])

local ADAPTIVE = [=[
The windows are chosen for the output size: output i along a dim of input
size n and output size m covers [floor(i*n/m), ceil((i+1)*n/m)), so the
windows cover the input even when m does not divide n (they may overlap,
and m may exceed n). output_size is a number or a list; nil, false or -1
in the list keeps that dim's input size ({4, false}: height 4, width
kept); it may also be given as {output_size = ...}.]=]

entry('adaptive_avg_pool2d', 'F.adaptive_avg_pool2d(x, output_size) -> y',
  'Average pooling to a given output size ([N, C, H, W] or [C, H, W]).',
  ADAPTIVE .. '\n\n' .. LAYOUT,
  [=[
local F = brasa.nn.functional
local x = brasa.arange(1, 12):reshape(1, 1, 3, 4):float()
print(F.adaptive_avg_pool2d(x, 1))  --> [[[[6.5000]]]]
print(F.adaptive_avg_pool2d(x, {2, 2}))  --> [[[[3.5000, 5.5000], [7.5000, 9.5000]]]]
print(table.concat(F.adaptive_avg_pool2d(x, {1, false}).shape, 'x'))  --> 1x1x1x4]=])

entry('adaptive_avg_pool1d', 'F.adaptive_avg_pool1d(x, output_size) -> y',
  'Average pooling to a given output length ([N, C, L] or [C, L]).', ADAPTIVE .. '\n\n' .. LAYOUT,
  [=[
local F = brasa.nn.functional
print(F.adaptive_avg_pool1d(brasa.tensor{{{1, 2, 3, 4, 5}}}, 2))  --> [[[2., 4.]]]]=])

entry('adaptive_max_pool2d', 'F.adaptive_max_pool2d(x, output_size, opts?) -> y [, indices]',
  'Max pooling to a given output size ([N, C, H, W] or [C, H, W]).',
  ADAPTIVE .. [=[ With opts.return_indices = true the positions of the maxima
come back too, 1-based and flat within each input plane.]=] .. '\n\n' .. LAYOUT,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{{1, 9, 2}, {4, 5, 8}, {0, 1, 7}}}}
local y, i = F.adaptive_max_pool2d(x, 2, {return_indices = true})
print(y, i)  --> [[[[9., 9.], [5., 8.]]]] [[[[2, 2], [5, 6]]]]]=])

entry('adaptive_max_pool1d', 'F.adaptive_max_pool1d(x, output_size, opts?) -> y [, indices]',
  'Max pooling to a given output length ([N, C, L] or [C, L]).',
  ADAPTIVE .. ' opts.return_indices = true also returns the 1-based positions of the maxima.\n\n'
    .. LAYOUT,
  [=[
local F = brasa.nn.functional
print(F.adaptive_max_pool1d(brasa.tensor{{{3, 1, 4, 1, 5}}}, 2))  --> [[[4., 5.]]]]=])

local GLOBAL = [=[
Pooling over the whole spatial extent, as Keras's global pooling layers:
the result drops the pooled dims ([N, C] from [N, C, L] or [N, C, H, W];
[C] from an unbatched input) unless opts.keepdim = true keeps them with
size 1 (PyTorch's adaptive pooling to size 1). The 1-d forms pool the last
dim of [N, C, L]: for a sequence model whose features are [N, L, C], pool
x:transpose(2, 3) instead.]=]

entry('global_max_pool1d', 'F.global_max_pool1d(x, opts?) -> y',
  'The maximum over the last dim of [N, C, L]: [N, C] (GlobalMaxPooling1D).', GLOBAL,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{1, 5, 2}, {7, 0, 3}}}   -- N = 1, C = 2, L = 3
print(F.global_max_pool1d(x))  --> [[5., 7.]]
print(table.concat(F.global_max_pool1d(x, {keepdim = true}).shape, 'x'))  --> 1x2x1]=])

entry('global_avg_pool1d', 'F.global_avg_pool1d(x, opts?) -> y',
  'The mean over the last dim of [N, C, L]: [N, C] (GlobalAveragePooling1D).', GLOBAL,
  [=[
local F = brasa.nn.functional
print(F.global_avg_pool1d(brasa.tensor{{{1, 5, 3}, {7, 0, 2}}}))  --> [[3., 3.]]]=])

entry('global_max_pool2d', 'F.global_max_pool2d(x, opts?) -> y',
  'The maximum over the last two dims of [N, C, H, W]: [N, C] (GlobalMaxPooling2D).', GLOBAL,
  [=[
local F = brasa.nn.functional
local x = brasa.arange(1, 8):reshape(1, 2, 2, 2):float()
print(F.global_max_pool2d(x))  --> [[4., 8.]]]=])

entry('global_avg_pool2d', 'F.global_avg_pool2d(x, opts?) -> y',
  'The mean over the last two dims of [N, C, H, W]: [N, C] (GlobalAveragePooling2D).', GLOBAL,
  [=[
local F = brasa.nn.functional
local x = brasa.arange(1, 8):reshape(1, 2, 2, 2):float()
print(F.global_avg_pool2d(x))  --> [[2.5000, 6.5000]]
print(table.concat(F.global_avg_pool2d(x, {keepdim = true}).shape, 'x'))  --> 1x2x1x1]=])

local INTERP = [=[
Resamples [N, C, L] (1-d) or [N, C, H, W] (2-d) to a new size, as
PyTorch's F.interpolate (a 3-D input is always [N, C, L], never an
unbatched image). Give exactly one of size (a number or a list) and
scale_factor (a number or a list; the output size is floor(in * scale)),
either as the second argument (a size) or in the options table.

Modes: 'nearest' (default: output i copies input floor(i * in / out), or
floor(i / scale) when scale_factor is given), 'linear' (3-D input),
'bilinear' (4-D input) and 'area' (adaptive average pooling). For the
linear modes align_corners (default false) chooses the grid: with false,
pixels are small squares whose centres line up (src = (i + 0.5) * in / out
- 0.5, clamped at 0; with scale_factor, in / out is 1 / scale), PyTorch's
default and what image libraries do; with true the corner pixels of input
and output coincide (src = i * (in - 1) / (out - 1)) and the scale factor
is not used. align_corners with 'nearest' or 'area' is an error, as in
PyTorch. recompute_scale_factor = true computes the output size from
scale_factor and then resamples as if that size had been given.

The gradient sums each output's gradient back into the inputs it was made
from (with the same weights).]=]

entry('interpolate', 'F.interpolate(x, size_or_opts, opts?) -> y',
  'Resizes [N, C, L] or [N, C, H, W]: nearest, linear, bilinear or area.', INTERP,
  [=[
local F = brasa.nn.functional
local x = brasa.tensor{{{{1, 2}, {3, 4}}}}
print(F.interpolate(x, {scale_factor = 2}))  --> [[[[1., 1., 2., 2.], [1., 1., 2., 2.], [3., 3., 4., 4.], [3., 3., 4., 4.]]]]
print(F.interpolate(x, {size = 3, mode = 'bilinear', align_corners = true}))  --> [[[[1.0000, 1.5000, 2.0000], [2.0000, 2.5000, 3.0000], [3.0000, 3.5000, 4.0000]]]]
print(F.interpolate(x, {size = {1, 4}, mode = 'bilinear'}))  --> [[[[2.0000, 2.2500, 2.7500, 3.0000]]]]
print(F.interpolate(brasa.tensor{{{0, 10}}}, 5, {mode = 'linear', align_corners = true}))  --> [[[0.0000, 2.5000, 5.0000, 7.5000, 10.0000]]]]=])

entry('upsample', 'F.upsample(x, size_or_opts, opts?) -> y',
  'The same as F.interpolate (PyTorch\'s older name).', INTERP,
  [=[
local F = brasa.nn.functional
print(F.upsample(brasa.tensor{{{1, 2}}}, {scale_factor = 2}))  --> [[[1., 1., 2., 2.]]]]=],
  'brasa.nn.functional.interpolate')

entry('upsample_nearest', 'F.upsample_nearest(x, size_or_opts) -> y',
  'Nearest-neighbour upsampling: F.interpolate with mode \'nearest\'.',
  [=[
Options: size or scale_factor (exactly one), as for F.interpolate.]=],
  [=[
local F = brasa.nn.functional
print(F.upsample_nearest(brasa.tensor{{{{1, 2}}}}, {size = {2, 3}}))  --> [[[[1., 1., 2.], [1., 1., 2.]]]]]=],
  'brasa.nn.functional.interpolate')

entry('upsample_bilinear', 'F.upsample_bilinear(x, size_or_opts) -> y',
  'Bilinear upsampling of [N, C, H, W] with align_corners = true (as PyTorch\'s).',
  [=[
F.interpolate with mode 'bilinear' and align_corners = true, as PyTorch's
F.upsample_bilinear (note: F.interpolate's default is align_corners =
false). Options: size or scale_factor (exactly one).]=],
  [=[
local F = brasa.nn.functional
print(F.upsample_bilinear(brasa.tensor{{{{0, 3}}}}, {size = {1, 4}}))  --> [[[[0., 1., 2., 3.]]]]]=],
  'brasa.nn.functional.interpolate')

local reflow = require('brasa.docs.tensor').reflow
for _, e in ipairs(list) do
  e.text = reflow(e.text)
  doc.add(e)
end

-- Bind the functions of brasa.nn.functional (the core's table, filled by
-- lua/lnn_pool.c) to their entries.
local core = package.loaded['brasa.core']
if core and core._nnf then
  for _, e in ipairs(list) do
    local name = e[1]:match('^brasa%.nn%.functional%.(.+)$')
    doc.bind(core._nnf[name], e[1])
  end
end

M.entries = list
return M
