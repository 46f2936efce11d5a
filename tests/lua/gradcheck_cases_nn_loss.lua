-- Gradient checks of the functionals written in Lua by brasa.nn (losses,
-- linear, selu, silu: lua/brasa/nn/losses.lua and layers.lua), and of the
-- Lua paths of CrossEntropyLoss (probability targets, outputs that are
-- probabilities), loaded by tests/lua/gradcheck_spec.lua. Inputs stay away
-- from the kinks of |x| and of Huber's switch, where the loss is not
-- differentiable. Second order for the smooth ones.

return function(case, case2, G)
  local brasa = require('brasa')
  local nn = brasa.nn
  local F = require('brasa.nn.functional')
  local randn, uniform, away, strided = G.randn, G.uniform, G.away, G.strided
  local F64 = {dtype = 'f64'}
  local I64 = {dtype = 'i64'}

  local REDS = {'mean', 'sum', 'none'}

  -- ---- linear, selu, silu --------------------------------------------------------------------
  case('F.linear [4x3] -> [4x2]', {'F.linear'}, function() return {randn{4, 3}, randn{2, 3}, randn{2}} end,
    function(x, w, b) return F.linear(x, w, b) end)
  case('F.linear without bias, batched [2x3x4]', {'F.linear'}, function() return {randn{2, 3, 4}, randn{5, 4}} end,
    function(x, w) return F.linear(x, w) end)
  case('F.linear of a strided input', {'F.linear'}, function() return {strided(randn{3, 4}), randn{2, 4}} end,
    function(x, w) return F.linear(x, w) end)
  case2('F.linear', {'F.linear'}, function() return {randn{3, 2}, randn{2, 2}, randn{2}} end,
    function(x, w, b) return F.linear(x, w, b):tanh() end)
  case('F.selu', {'F.selu'}, function() return {away({3, 4}, -2, 2, {0}, 0.1)} end, function(x) return F.selu(x) end)
  case2('F.selu', {'F.selu'}, function() return {away({3, 2}, -2, 2, {0}, 0.1)} end, function(x) return F.selu(x) end)
  case('F.silu', {'F.silu'}, function() return {randn{3, 4}} end, function(x) return F.silu(x) end)
  case2('F.silu', {'F.silu'}, function() return {randn{3, 2}} end, function(x) return F.silu(x) end)

  -- ---- regression losses -----------------------------------------------------------------------
  for _, r in ipairs(REDS) do
    case('F.mse_loss ' .. r, {'F.mse_loss'}, function() return {randn{3, 4}, randn{3, 4}} end,
      function(x, t) return F.mse_loss(x, t, r) end)
    case('F.l1_loss ' .. r, {'F.l1_loss'}, function() return {away({3, 4}, -2, 2, {0}, 0.1)} end,
      function(x) return F.l1_loss(x, brasa.zeros({3, 4}, F64), r) end)
    for _, d in ipairs {0.5, 1, 2} do
      -- |x - 0| kept away from delta (the switch) and from 0
      case(('F.huber_loss %s delta %g'):format(r, d), {'F.huber_loss'},
        function() return {away({3, 4}, -3, 3, {-d, 0, d}, 0.1)} end,
        function(x) return F.huber_loss(x, brasa.zeros({3, 4}, F64), {reduction = r, delta = d}) end)
      case(('F.smooth_l1_loss %s beta %g'):format(r, d), {'F.smooth_l1_loss'},
        function() return {away({3, 4}, -3, 3, {-d, 0, d}, 0.1)} end,
        function(x) return F.smooth_l1_loss(x, brasa.zeros({3, 4}, F64), {reduction = r, beta = d}) end)
    end
    case('F.smooth_l1_loss beta 0 (L1) ' .. r, {'F.smooth_l1_loss'},
      function() return {away({2, 3}, -2, 2, {0}, 0.1)} end,
      function(x) return F.smooth_l1_loss(x, brasa.zeros({2, 3}, F64), {reduction = r, beta = 0}) end)
  end
  case('F.mse_loss of a strided output and a 0-dim pair', {'F.mse_loss'},
    function() return {strided(randn{2, 3}), randn{2, 3}} end,
    function(x, t) return F.mse_loss(x, t) + F.mse_loss(x:select(1, 1):select(1, 1), t:select(1, 1):select(1, 1)) end)
  case2('F.mse_loss', {'F.mse_loss'}, function() return {randn{3, 2}, randn{3, 2}} end,
    function(x, t) return F.mse_loss(x, t) end)
  case2('F.huber_loss', {'F.huber_loss'}, function() return {away({3, 2}, -3, 3, {-1, 0, 1}, 0.1)} end,
    function(x) return F.huber_loss(x:tanh() * 3, brasa.zeros({3, 2}, F64)) end)

  -- ---- binary cross-entropy ----------------------------------------------------------------------
  for _, r in ipairs(REDS) do
    case('F.binary_cross_entropy ' .. r, {'F.binary_cross_entropy'},
      function() return {uniform({3, 4}, 0.05, 0.95), uniform({3, 4}, 0, 1)} end,
      function(p, t) return F.binary_cross_entropy(p, t, r) end)
    case('F.binary_cross_entropy with weight ' .. r, {'F.binary_cross_entropy'},
      function() return {uniform({3, 4}, 0.05, 0.95)} end,
      function(p)
        local t = brasa.tensor({{1, 0, 1, 0}, {0, 0, 1, 1}, {1, 1, 1, 0}}, F64)
        return F.binary_cross_entropy(p, t, {reduction = r, weight = brasa.tensor({0.5, 1, 2, 3}, F64)})
      end)
    case('F.binary_cross_entropy_with_logits ' .. r, {'F.binary_cross_entropy_with_logits'},
      function() return {randn{3, 4}, uniform({3, 4}, 0, 1)} end,
      function(z, t) return F.binary_cross_entropy_with_logits(z, t, r) end)
    case('F.binary_cross_entropy_with_logits pos_weight and weight ' .. r, {'F.binary_cross_entropy_with_logits'},
      function() return {randn{3, 4}, uniform({3, 4}, 0, 1), uniform({4}, 0.5, 3)} end,
      function(z, t, pw)
        return F.binary_cross_entropy_with_logits(z, t, {reduction = r, pos_weight = pw,
          weight = brasa.tensor({{1}, {2}, {0.5}}, F64)})
      end)
  end
  case2('F.binary_cross_entropy', {'F.binary_cross_entropy'},
    function() return {uniform({3, 2}, 0.1, 0.9), uniform({3, 2}, 0, 1)} end,
    function(p, t) return F.binary_cross_entropy(p, t) end)
  case2('F.binary_cross_entropy_with_logits', {'F.binary_cross_entropy_with_logits'},
    function() return {randn{3, 2}, uniform({3, 2}, 0, 1), uniform({2}, 0.5, 2)} end,
    function(z, t, pw) return F.binary_cross_entropy_with_logits(z, t, {pos_weight = pw}) end)

  -- ---- KL divergence, cosine embedding -------------------------------------------------------------
  for _, r in ipairs {'mean', 'sum', 'none', 'batchmean'} do
    case('F.kl_div ' .. r, {'F.kl_div'},
      function() return {randn{3, 4}, uniform({3, 4}, 0.05, 1)} end,
      function(x, t) return F.kl_div(x, t, r) end)
    case('F.kl_div log_target ' .. r, {'F.kl_div'},
      function() return {randn{3, 4}, randn{3, 4}} end,
      function(x, t) return F.kl_div(x, t, {reduction = r, log_target = true}) end)
  end
  case('F.kl_div with zero targets', {'F.kl_div'}, function() return {randn{2, 3}} end,
    function(x) return F.kl_div(x, brasa.tensor({{0, 0.5, 0.5}, {1, 0, 0}}, F64), 'sum') end)
  case2('F.kl_div', {'F.kl_div'}, function() return {randn{2, 3}, uniform({2, 3}, 0.1, 1)} end,
    function(x, t) return F.kl_div(x, t, 'batchmean') end)
  for _, r in ipairs(REDS) do
    for _, m in ipairs {0, 0.3} do
      -- cos - margin kept away from 0 for the dissimilar pairs: built from angles
      case(('F.cosine_embedding_loss %s margin %g'):format(r, m), {'F.cosine_embedding_loss'},
        function() return {randn{4, 3}, randn{4, 3}} end,
        function(a, b)
          local y = brasa.tensor({1, -1, 1, -1}, F64)
          local cos = brasa.no_grad(function()
            return (a * b):sum(2) / ((a * a):sum(2) * (b * b):sum(2)):sqrt()
          end)
          for i = 1, 4 do assert(math.abs(cos[i] - m) > 1e-3, 'cos at the margin: draw again') end
          return F.cosine_embedding_loss(a, b, y, {reduction = r, margin = m})
        end)
    end
  end
  case('F.cosine_embedding_loss of one pair [D]', {'F.cosine_embedding_loss'},
    function() return {randn{5}, randn{5}} end,
    function(a, b) return F.cosine_embedding_loss(a, b, brasa.tensor(1, F64)) end)
  case2('F.cosine_embedding_loss', {'F.cosine_embedding_loss'},
    function() return {randn{3, 3}, randn{3, 3}} end,
    function(a, b) return F.cosine_embedding_loss(a, b, brasa.tensor({1, 1, 1}, F64)) end)

  -- ---- the Lua paths of CrossEntropyLoss (they compose the ops named) ------------------------------
  local function soft(s)   -- a leaf of class probabilities along dim 2
    return G.leaf(brasa.no_grad(function() return F.softmax(brasa.randn(s, F64), 2) end))
  end
  for _, r in ipairs(REDS) do
    case('CrossEntropyLoss probability targets, smoothing, weights ' .. r, {'F.log_softmax'},
      function() return {randn{4, 3}, soft{4, 3}} end,
      function(x, t)
        return nn.CrossEntropyLoss{reduction = r, label_smoothing = 0.1,
          weight = brasa.tensor({1, 2, 0.5}, F64)}(x, t)
      end)
    case('CrossEntropyLoss from_logits = false, class ids ' .. r, {'F.nll_loss'},
      function() return {uniform({4, 3}, 0.1, 1)} end,
      function(p)
        local y = brasa.tensor({1, 3, 0, 2}, I64)
        return nn.CrossEntropyLoss{reduction = r, from_logits = false, ignore_index = 0, label_smoothing = 0.2,
          weight = brasa.tensor({1, 2, 0.5}, F64)}(p, y)
      end)
    case('CrossEntropyLoss from_logits = false, probabilities [N x C x d] ' .. r, {'clamp', 'log'},
      function() return {uniform({2, 3, 2}, 0.1, 1), soft{2, 3, 2}} end,
      function(p, t) return nn.CrossEntropyLoss{reduction = r, from_logits = false}(p, t) end)
  end
  case2('CrossEntropyLoss from_logits = false', {'F.nll_loss'},
    function() return {uniform({3, 3}, 0.1, 1)} end,
    function(p) return nn.CrossEntropyLoss{from_logits = false}(p, brasa.tensor({1, 3, 2}, I64)) end)
end
