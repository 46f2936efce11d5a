-- Gradient checks of the convolutions (brasa.nn.functional conv1d, conv2d,
-- conv_transpose1d, conv_transpose2d), loaded by tests/lua/gradcheck_spec.lua:
-- first order for every option family (stride, per-side and 'same'
-- padding, dilation, groups and depthwise, 1x1, odd sizes, output_padding,
-- unbatched and strided inputs), with respect to input, weight and bias;
-- second order through the backward ops (the input and weight adjoints are
-- convolutions again), the outputs squared so that second derivatives are
-- not zero.
--
-- The inputs are f64, so these run the im2col + GEMM path; the f32 kernels
-- (AVX-512 where the CPU has it) are checked against a plain-loop reference
-- by tests/c/test_conv.c and against PyTorch by tests/lua/nn_conv_spec.lua.

return function(case, case2, G)
  local F = require('brasa.nn.functional')
  local randn, strided = G.randn, G.strided

  -- ---- conv2d --------------------------------------------------------------------------
  case('F.conv2d 3x3 padding 1 with bias', {'F.conv2d'},
    function() return {randn{2, 2, 5, 4}, randn{3, 2, 3, 3}, randn{3}} end,
    function(x, w, b) return F.conv2d(x, w, b, {padding = 1}) end)
  case('F.conv2d stride 2 of an odd size', {'F.conv2d'},
    function() return {randn{1, 3, 7, 5}, randn{2, 3, 3, 2}, randn{2}} end,
    function(x, w, b) return F.conv2d(x, w, b, {stride = 2, padding = {1, 0}}) end)
  case('F.conv2d per-side padding {top, bottom, left, right}', {'F.conv2d'},
    function() return {randn{1, 2, 4, 4}, randn{2, 2, 3, 3}} end,
    function(x, w) return F.conv2d(x, w, nil, {padding = {2, 0, 1, 3}, stride = {1, 2}}) end)
  case("F.conv2d padding 'same' with an even kernel", {'F.conv2d'},
    function() return {randn{1, 2, 5, 4}, randn{2, 2, 2, 4}, randn{2}} end,
    function(x, w, b) return F.conv2d(x, w, b, {padding = 'same'}) end)
  case("F.conv2d padding 'valid', dilation 2", {'F.conv2d'},
    function() return {randn{1, 2, 7, 6}, randn{2, 2, 3, 2}} end,
    function(x, w) return F.conv2d(x, w, {padding = 'valid', dilation = 2}) end)
  case('F.conv2d groups 2', {'F.conv2d'},
    function() return {randn{2, 4, 4, 4}, randn{6, 2, 3, 3}, randn{6}} end,
    function(x, w, b) return F.conv2d(x, w, b, {groups = 2, padding = 1}) end)
  case('F.conv2d depthwise (groups = channels)', {'F.conv2d'},
    function() return {randn{1, 3, 5, 5}, randn{3, 1, 3, 3}} end,
    function(x, w) return F.conv2d(x, w, nil, {groups = 3, stride = 2, padding = 1}) end)
  case('F.conv2d 1x1', {'F.conv2d'},
    function() return {randn{2, 3, 3, 4}, randn{4, 3, 1, 1}, randn{4}} end,
    function(x, w, b) return F.conv2d(x, w, b) end)
  case('F.conv2d unbatched of a strided view', {'F.conv2d'},
    function() return {strided(randn{2, 4, 5}), randn{2, 2, 2, 3}} end,
    function(x, w) return F.conv2d(x, w, {padding = 1}) end)
  case('F.conv2d of a transposed weight view', {'F.conv2d'},
    function() return {randn{1, 2, 4, 4}, randn{2, 3, 3, 2}} end,
    function(x, w) return F.conv2d(x, w:transpose(1, 2)) end)

  -- ---- conv1d --------------------------------------------------------------------------
  case('F.conv1d stride 2 padding 1 with bias', {'F.conv1d'},
    function() return {randn{2, 3, 9}, randn{4, 3, 3}, randn{4}} end,
    function(x, w, b) return F.conv1d(x, w, b, {stride = 2, padding = 1}) end)
  case("F.conv1d 'same', dilation 2, groups 2", {'F.conv1d'},
    function() return {randn{1, 4, 7}, randn{2, 2, 3}} end,
    function(x, w) return F.conv1d(x, w, {padding = 'same', dilation = 2, groups = 2}) end)
  case('F.conv1d per-side padding, unbatched', {'F.conv1d'},
    function() return {randn{2, 5}, randn{3, 2, 2}, randn{3}} end,
    function(x, w, b) return F.conv1d(x, w, b, {padding = {0, 2}}) end)

  -- ---- transposed ---------------------------------------------------------------------
  case('F.conv_transpose2d stride 2 output_padding 1', {'F.conv_transpose2d'},
    function() return {randn{2, 2, 3, 3}, randn{2, 3, 3, 3}, randn{3}} end,
    function(x, w, b) return F.conv_transpose2d(x, w, b, {stride = 2, padding = 1, output_padding = 1}) end)
  case('F.conv_transpose2d groups 2, dilation, per-dim stride', {'F.conv_transpose2d'},
    function() return {randn{1, 4, 3, 2}, randn{4, 1, 2, 3}} end,
    function(x, w) return F.conv_transpose2d(x, w, nil, {groups = 2, dilation = {2, 1}, stride = {1, 2}}) end)
  case('F.conv_transpose2d per-side padding (cropping)', {'F.conv_transpose2d'},
    function() return {randn{1, 2, 3, 3}, randn{2, 2, 3, 3}, randn{2}} end,
    function(x, w, b) return F.conv_transpose2d(x, w, b, {padding = {1, 0, 0, 2}}) end)
  case('F.conv_transpose1d stride 3 output_padding 2', {'F.conv_transpose1d'},
    function() return {randn{2, 2, 4}, randn{2, 3, 3}, randn{3}} end,
    function(x, w, b) return F.conv_transpose1d(x, w, b, {stride = 3, output_padding = 2}) end)
  case('F.conv_transpose1d unbatched, padding 1', {'F.conv_transpose1d'},
    function() return {randn{3, 5}, randn{3, 2, 3}} end,
    function(x, w) return F.conv_transpose1d(x, w, {padding = 1}) end)

  -- ---- second order --------------------------------------------------------------------
  case2('F.conv2d squared: stride 2, padding 1, groups 2', {'F.conv2d'},
    function() return {randn{1, 4, 5, 4}, randn{4, 2, 3, 3}, randn{4}} end,
    function(x, w, b)
      local y = F.conv2d(x, w, b, {stride = 2, padding = 1, groups = 2})
      return y * y
    end)
  case2("F.conv2d squared: 'same', dilation 2", {'F.conv2d'},
    function() return {randn{1, 2, 5, 5}, randn{2, 2, 2, 3}} end,
    function(x, w)
      local y = F.conv2d(x, w, {padding = 'same', dilation = 2})
      return y * y
    end)
  case2('F.conv1d squared: stride 2, per-side padding', {'F.conv1d'},
    function() return {randn{2, 2, 7}, randn{3, 2, 3}, randn{3}} end,
    function(x, w, b)
      local y = F.conv1d(x, w, b, {stride = 2, padding = {1, 2}})
      return y * y
    end)
  case2('F.conv_transpose2d squared: stride 2, output_padding 1', {'F.conv_transpose2d'},
    function() return {randn{1, 2, 3, 2}, randn{2, 2, 3, 3}, randn{2}} end,
    function(x, w, b)
      local y = F.conv_transpose2d(x, w, b, {stride = 2, padding = 1, output_padding = 1})
      return y * y
    end)
  case2('F.conv_transpose1d squared: groups 2', {'F.conv_transpose1d'},
    function() return {randn{1, 4, 4}, randn{4, 1, 3}} end,
    function(x, w)
      local y = F.conv_transpose1d(x, w, {groups = 2, stride = 2})
      return y * y
    end)
  case2('F.conv2d then F.conv_transpose2d (an autoencoder)', {'F.conv2d', 'F.conv_transpose2d'},
    function() return {randn{1, 1, 5, 5}, randn{2, 1, 3, 3}, randn{2, 1, 3, 3}} end,
    function(x, w1, w2)
      local h = F.conv2d(x, w1, {stride = 2}):tanh()
      return F.conv_transpose2d(h, w2, {stride = 2})
    end)
end
