-- Gradient checks of pooling and resampling (brasa.nn.functional), loaded by
-- tests/lua/gradcheck_spec.lua: first order for every function, second
-- order through each backward op (max pooling's scatter, whose gradient
-- gathers; average pooling's and resampling's adjoints, whose gradients are
-- the forward ops). A second-order check needs the first gradient to depend
-- on the input, so those cases square the pooled output.
--
-- Max pooling is not differentiable where two values of a window tie: the
-- inputs are normal draws, whose gaps are far wider than the step h.

return function(case, case2, G)
  local F = require('brasa.nn.functional')
  local randn, strided = G.randn, G.strided

  -- ---- max pooling ----------------------------------------------------------------
  case('F.max_pool2d 2x2', {'F.max_pool2d'}, function() return {randn{2, 2, 4, 6}} end,
    function(x) return F.max_pool2d(x, 2) end)
  case('F.max_pool2d k3 s2 p1 ceil', {'F.max_pool2d'}, function() return {randn{1, 2, 7, 6}} end,
    function(x) return F.max_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true}) end)
  case('F.max_pool2d overlapping, dilation, rectangular', {'F.max_pool2d'},
    function() return {randn{1, 2, 7, 6}} end,
    function(x) return F.max_pool2d(x, {2, 3}, {stride = 1, dilation = {2, 1}, padding = {1, 1}}) end)
  case('F.max_pool2d unbatched of a strided view', {'F.max_pool2d'},
    function() return {strided(randn{2, 5, 5})} end,
    function(x) return F.max_pool2d(x, 2, {ceil_mode = true}) end)
  case('F.max_pool2d with indices', {'F.max_pool2d'}, function() return {randn{2, 1, 5, 5}} end,
    function(x) return (F.max_pool2d(x, 3, {stride = 2, return_indices = true})) end)
  case('F.max_pool1d k3 s2 p1', {'F.max_pool1d'}, function() return {randn{2, 3, 9}} end,
    function(x) return F.max_pool1d(x, 3, {stride = 2, padding = 1}) end)
  case('F.max_pool1d unbatched, dilation, ceil', {'F.max_pool1d'}, function() return {randn{3, 10}} end,
    function(x) return F.max_pool1d(x, 2, {dilation = 2, ceil_mode = true}) end)

  -- ---- average pooling --------------------------------------------------------------
  case('F.avg_pool2d 2x2', {'F.avg_pool2d'}, function() return {randn{2, 2, 4, 6}} end,
    function(x) return F.avg_pool2d(x, 2) end)
  case('F.avg_pool2d 2x2 of 5x7 (odd edges get no gradient)', {'F.avg_pool2d'},
    function() return {randn{2, 2, 5, 7}} end, function(x) return F.avg_pool2d(x, 2) end)
  case('F.max_pool2d 2x2 of 5x7', {'F.max_pool2d'}, function() return {randn{1, 2, 5, 7}} end,
    function(x) return F.max_pool2d(x, 2) end)
  case('F.avg_pool2d k3 s2 p1 ceil, padding counted', {'F.avg_pool2d'},
    function() return {randn{1, 2, 8, 7}} end,
    function(x) return F.avg_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true}) end)
  case('F.avg_pool2d k3 s2 p1 ceil, padding not counted', {'F.avg_pool2d'},
    function() return {randn{1, 2, 8, 7}} end,
    function(x) return F.avg_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true,
                                            count_include_pad = false}) end)
  case('F.avg_pool2d divisor_override, unbatched strided', {'F.avg_pool2d'},
    function() return {strided(randn{2, 5, 6})} end,
    function(x) return F.avg_pool2d(x, {3, 2}, {stride = {1, 2}, padding = {1, 0}, divisor_override = 4}) end)
  case('F.avg_pool1d k4 s3 p2 ceil exclude', {'F.avg_pool1d'}, function() return {randn{2, 2, 11}} end,
    function(x) return F.avg_pool1d(x, 4, {stride = 3, padding = 2, ceil_mode = true,
                                            count_include_pad = false}) end)

  -- ---- adaptive and global ------------------------------------------------------------
  case('F.adaptive_avg_pool2d 3x4 of 7x9', {'F.adaptive_avg_pool2d'},
    function() return {randn{2, 2, 7, 9}} end, function(x) return F.adaptive_avg_pool2d(x, {3, 4}) end)
  case('F.adaptive_avg_pool2d growing, keeping a dim', {'F.adaptive_avg_pool2d'},
    function() return {randn{1, 2, 3, 4}} end, function(x) return F.adaptive_avg_pool2d(x, {5, false}) end)
  case('F.adaptive_avg_pool1d 4 of 10', {'F.adaptive_avg_pool1d'},
    function() return {randn{2, 2, 10}} end, function(x) return F.adaptive_avg_pool1d(x, 4) end)
  case('F.adaptive_max_pool2d 3x2 of 7x5', {'F.adaptive_max_pool2d'},
    function() return {randn{2, 2, 7, 5}} end, function(x) return F.adaptive_max_pool2d(x, {3, 2}) end)
  case('F.adaptive_max_pool1d 3 of 8, unbatched', {'F.adaptive_max_pool1d'},
    function() return {randn{3, 8}} end, function(x) return F.adaptive_max_pool1d(x, 3) end)
  case('F.global pools', {'F.global_avg_pool1d', 'F.global_avg_pool2d', 'F.global_max_pool1d',
                          'F.global_max_pool2d'},
    function() return {randn{2, 3, 4, 5}} end,
    function(x)
      local s = x:reshape(2, 3, 20)
      return {F.global_avg_pool2d(x), F.global_max_pool2d(x, {keepdim = true}),
              F.global_avg_pool1d(s), F.global_max_pool1d(s)}
    end)

  -- ---- resampling ------------------------------------------------------------------------
  case('F.interpolate nearest x2 and to 5x7', {'F.interpolate'}, function() return {randn{1, 2, 3, 4}} end,
    function(x) return {F.interpolate(x, {scale_factor = 2}), F.interpolate(x, {size = {5, 7}})} end)
  case('F.interpolate bilinear, both align_corners', {'F.interpolate'},
    function() return {randn{2, 1, 3, 4}} end,
    function(x)
      return {F.interpolate(x, {scale_factor = 2, mode = 'bilinear'}),
              F.interpolate(x, {size = {5, 7}, mode = 'bilinear', align_corners = true}),
              F.interpolate(x, {scale_factor = {1.5, 0.5}, mode = 'bilinear'})}
    end)
  case('F.interpolate of a strided view: linear, nearest, area', {'F.interpolate'},
    function() return {strided(randn{2, 2, 5})} end,
    function(x)
      return {F.interpolate(x, {size = 8, mode = 'linear'}),
              F.interpolate(x, {scale_factor = 2.5, mode = 'linear', align_corners = true}),
              F.interpolate(x, {scale_factor = 3}), F.interpolate(x, {size = 3, mode = 'area'})}
    end)
  case('F.upsample, upsample_nearest, upsample_bilinear', {'F.upsample', 'F.upsample_nearest',
                                                           'F.upsample_bilinear'},
    function() return {randn{1, 2, 3, 3}} end,
    function(x)
      return {F.upsample(x, {scale_factor = 2, mode = 'bilinear'}), F.upsample_nearest(x, {size = {4, 5}}),
              F.upsample_bilinear(x, {scale_factor = 2})}
    end)

  -- ---- second order -------------------------------------------------------------------------
  case2('F.max_pool2d squared (scatter, then gather)', {'F.max_pool2d'},
    function() return {randn{1, 2, 5, 5}} end,
    function(x) return F.max_pool2d(x, 3, {stride = 2, padding = 1}):square() end)
  case2('F.max_pool1d squared', {'F.max_pool1d'}, function() return {randn{2, 2, 7}} end,
    function(x) return F.max_pool1d(x, 2, {stride = 1}):square() end)
  case2('F.adaptive_max_pool2d of a product', {'F.adaptive_max_pool2d'},
    function() return {randn{1, 2, 5, 4}} end,
    function(x) return F.adaptive_max_pool2d(x * x:exp(), {2, 3}) end)
  case2('F.avg_pool2d squared (adjoint, then pooling)', {'F.avg_pool2d'},
    function() return {randn{1, 2, 6, 5}} end,
    function(x) return F.avg_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true,
                                            count_include_pad = false}):square() end)
  case2('F.avg_pool1d squared', {'F.avg_pool1d'}, function() return {randn{2, 2, 7}} end,
    function(x) return F.avg_pool1d(x, 3, {stride = 2, padding = 1}):square() end)
  case2('F.adaptive_avg_pool2d and 1d squared', {'F.adaptive_avg_pool2d', 'F.adaptive_avg_pool1d'},
    function() return {randn{1, 2, 5, 7}} end,
    function(x)
      return {F.adaptive_avg_pool2d(x, {3, 4}):square(), F.adaptive_avg_pool1d(x:reshape(2, 35), 6):square()}
    end)
  case2('F.interpolate squared: nearest, bilinear, linear', {'F.interpolate'},
    function() return {randn{1, 2, 3, 4}} end,
    function(x)
      return {F.interpolate(x, {scale_factor = 1.5}):square(),
              F.interpolate(x, {size = {5, 6}, mode = 'bilinear', align_corners = true}):square(),
              F.interpolate(x:reshape(1, 2, 12), {size = 17, mode = 'linear'}):square()}
    end)
end
