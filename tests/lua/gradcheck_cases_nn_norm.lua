-- Gradient checks of normalisation, dropout, embedding, softmax and the
-- class losses (brasa.nn.functional, lua/lnn_norm.c), loaded by
-- tests/lua/gradcheck_spec.lua: first order for every function and
-- configuration, second order for softmax, log_softmax, layer_norm,
-- batch_norm in training, cross_entropy (and, being cheap, dropout, nll_loss
-- and embedding, whose first gradients are linear).
--
-- Class ids, embedding ids, ignore_index and padding_idx are 1-based.
-- Dropout reseeds inside the function under test, so every evaluation of
-- the central differences draws the same mask.

return function(case, case2, G)
  local brasa = require('brasa')
  local F = require('brasa.nn.functional')
  local randn, uniform, strided, transposed = G.randn, G.uniform, G.strided, G.transposed
  local I64 = {dtype = 'i64'}
  local function ids(t) return brasa.tensor(t, I64) end
  local F64 = {dtype = 'f64'}

  -- ---- batch norm ------------------------------------------------------------------------
  local bn_shapes = {{5, 3}, {3, 2, 5}, {2, 3, 2, 3}}
  for _, s in ipairs(bn_shapes) do
    local C = s[2]
    local name = G.shape_str(s)
    case('F.batch_norm training ' .. name, {'F.batch_norm'},
      function() return {randn(s), randn{C}, randn{C}} end,
      function(x, w, b) return F.batch_norm(x, nil, nil, w, b, {training = true}) end)
    case('F.batch_norm eval ' .. name, {'F.batch_norm'},
      function() return {randn(s), randn{C}, randn{C}} end,
      function(x, w, b)
        local rm, rv = brasa.tensor({0.3, -0.2, 0.1}, F64):narrow(1, 1, C), brasa.tensor({0.5, 2, 1.5}, F64):narrow(1, 1, C)
        return F.batch_norm(x, rm, rv, w, b, {eps = 1e-3})
      end)
  end
  case('F.batch_norm training, no affine, running stats updated, eps 1e-3', {'F.batch_norm'},
    function() return {randn{4, 3, 5}} end,
    function(x)
      local rm, rv = brasa.zeros(3, F64), brasa.ones(3, F64)
      return F.batch_norm(x, rm, rv, nil, nil, {training = true, momentum = 0.3, eps = 1e-3})
    end)
  case('F.batch_norm training of a strided view, weight only', {'F.batch_norm'},
    function() return {strided(randn{3, 4, 3}), randn{4}} end,
    function(x, w) return F.batch_norm(x, nil, nil, w, nil, {training = true}) end)
  case('F.batch_norm training with long runs (one channel per task)', {'F.batch_norm'},
    function() return {randn{2, 2, 40}, randn{2}, randn{2}} end,
    function(x, w, b) return F.batch_norm(x, nil, nil, w, b, {training = true}) end)
  case2('F.batch_norm training [4x3]', {'F.batch_norm'},
    function() return {randn{4, 3}, randn{3}, randn{3}} end,
    function(x, w, b) return F.batch_norm(x, nil, nil, w, b, {training = true}) end)
  case2('F.batch_norm training [2x2x2x3]', {'F.batch_norm'},
    function() return {randn{2, 2, 2, 3}, randn{2}, randn{2}} end,
    function(x, w, b) return F.batch_norm(x, nil, nil, w, b, {training = true}):tanh() end)
  case2('F.batch_norm eval', {'F.batch_norm'},
    function() return {randn{3, 2, 2}, randn{2}, randn{2}} end,
    function(x, w, b)
      local rm, rv = brasa.tensor({0.3, -0.2}, F64), brasa.tensor({0.5, 2}, F64)
      return F.batch_norm(x * x, rm, rv, w, b)
    end)

  -- ---- layer norm ---------------------------------------------------------------------------
  case('F.layer_norm [3x5] over 5', {'F.layer_norm'},
    function() return {randn{3, 5}, randn{5}, randn{5}} end,
    function(x, w, b) return F.layer_norm(x, 5, w, b) end)
  case('F.layer_norm [2x3x4] over {3, 4}, eps 1e-3', {'F.layer_norm'},
    function() return {randn{2, 3, 4}, randn{3, 4}, randn{3, 4}} end,
    function(x, w, b) return F.layer_norm(x, {3, 4}, w, b, 1e-3) end)
  case('F.layer_norm without affine, strided', {'F.layer_norm'},
    function() return {strided(randn{4, 3})} end,
    function(x) return F.layer_norm(x, {3}) end)
  case('F.layer_norm weight only, transposed', {'F.layer_norm'},
    function() return {transposed(randn{4, 3}), randn{3}} end,
    function(x, w) return F.layer_norm(x, 3, w) end)
  case2('F.layer_norm [3x4]', {'F.layer_norm'},
    function() return {randn{3, 4}, randn{4}, randn{4}} end,
    function(x, w, b) return F.layer_norm(x, 4, w, b) end)
  case2('F.layer_norm [2x2x3] over {2, 3}, no affine', {'F.layer_norm'},
    function() return {randn{2, 2, 3}} end,
    function(x) return F.layer_norm(x, {2, 3}):sin() end)

  -- ---- dropout ---------------------------------------------------------------------------
  case('F.dropout p 0.4', {'F.dropout'}, function() return {randn{4, 5}} end,
    function(x) brasa.manual_seed(11); return F.dropout(x, 0.4) end)
  case('F.dropout of a transposed view, p 0.25', {'F.dropout'}, function() return {transposed(randn{3, 4})} end,
    function(x) brasa.manual_seed(12); return F.dropout(x, {p = 0.25}) end)
  case('F.dropout in evaluation is the identity', {'F.dropout'}, function() return {randn{2, 3}} end,
    function(x) return F.dropout(x, 0.5, false) end)
  case2('F.dropout of a square', {'F.dropout'}, function() return {randn{3, 4}} end,
    function(x) brasa.manual_seed(13); return F.dropout(x * x, 0.3) end)

  -- ---- embedding -------------------------------------------------------------------------
  case('F.embedding with repeats and padding 0', {'F.embedding'}, function() return {randn{5, 3}} end,
    function(w) return F.embedding(ids{{1, 3, 0}, {3, 5, 1}}, w) end)
  -- padding_idx's row is looked up but gets no gradient: checked against
  -- the closed form (rows of W summed by id, that row and id 0 left out).
  local pad_ids = {2, 1, 2, 4, 0}
  case('F.embedding with padding_idx 2', {'F.embedding'}, function() return {randn{4, 2}} end,
    function(w) return F.embedding(ids(pad_ids), w, {padding_idx = 2}) end,
    {expected = function(W)
      local g = {}
      for v = 1, 4 do g[v] = {0, 0} end
      for i, v in ipairs(pad_ids) do
        if v ~= 0 and v ~= 2 then
          for k = 1, 2 do g[v][k] = g[v][k] + W[1][{i, k}] end
        end
      end
      return {brasa.tensor(g, F64)}
    end})
  case('F.embedding of 0-dim ids, strided weight', {'F.embedding'}, function() return {strided(randn{3, 4})} end,
    function(w) return F.embedding(brasa.tensor(2, I64), w) end)
  case2('F.embedding of a nonlinear weight', {'F.embedding'}, function() return {randn{4, 3}} end,
    function(w) return F.embedding(ids{{1, 4}, {4, 0}}, w:tanh()) end)

  -- ---- softmax, log_softmax ----------------------------------------------------------------
  for _, fname in ipairs({'softmax', 'log_softmax'}) do
    local f = F[fname]
    local op = {'F.' .. fname}
    case('F.' .. fname .. ' [3x5] dim 2', op, function() return {randn{3, 5}} end,
      function(x) return f(x, 2) end)
    case('F.' .. fname .. ' [3x5] dim 1', op, function() return {randn{3, 5}} end,
      function(x) return f(x, 1) end)
    case('F.' .. fname .. ' [2x3x4] dim 2 (inner columns)', op, function() return {randn{2, 3, 4}} end,
      function(x) return f(x, 2) end)
    case('F.' .. fname .. ' of a transposed view, last dim', op, function() return {transposed(randn{4, 3})} end,
      function(x) return f(x, -1) end)
    case('F.' .. fname .. ' 0-dim and 1-D', op, function() return {randn{}, randn{6}} end,
      function(a, b) return {f(a), f(b, 1)} end)
    case('F.' .. fname .. ' of large scores (stable)', op, function() return {randn{2, 4}} end,
      function(x) return f(x + 1000, 2) end)
    case2('F.' .. fname .. ' [3x4] dim 2', op, function() return {randn{3, 4}} end,
      function(x) return f(x, 2) end)
    case2('F.' .. fname .. ' [2x3x2] dim 2', op, function() return {randn{2, 3, 2}} end,
      function(x) return f(x, 2) end)
  end

  -- ---- cross_entropy, nll_loss ------------------------------------------------------------------
  local t4 = function() return ids{2, 5, 1, 5} end
  local cw = function() return brasa.tensor({0.5, 2, 1, 0.3, 1.5}, F64) end
  for _, red in ipairs({'mean', 'sum', 'none'}) do
    case('F.cross_entropy [4x5] ' .. red, {'F.cross_entropy'}, function() return {randn{4, 5}} end,
      function(x) return F.cross_entropy(x, t4(), {reduction = red}) end)
    case('F.cross_entropy weights, ignore_index, smoothing ' .. red, {'F.cross_entropy'},
      function() return {randn{4, 5}} end,
      function(x)
        return F.cross_entropy(x, t4(), {weight = cw(), ignore_index = 1, label_smoothing = 0.2,
                                         reduction = red})
      end)
    case('F.nll_loss weights, ignore_index ' .. red, {'F.nll_loss'}, function() return {randn{4, 5}} end,
      function(x) return F.nll_loss(x, t4(), {weight = cw(), ignore_index = 5, reduction = red}) end)
  end
  case('F.cross_entropy [2x3x4] class dim 2, smoothing 0.1', {'F.cross_entropy'},
    function() return {randn{2, 3, 4}} end,
    function(x) return F.cross_entropy(x, ids{{1, 3, 2, 2}, {3, 3, 1, 2}}, {label_smoothing = 0.1}) end)
  case('F.cross_entropy [2x3x2x2] none, ignore 0 (padding)', {'F.cross_entropy'},
    function() return {randn{2, 3, 2, 2}} end,
    function(x) return F.cross_entropy(x, ids{{{1, 0}, {3, 2}}, {{0, 3}, {1, 1}}}, {ignore_index = 0, reduction = 'none'}) end)
  case('F.cross_entropy unbatched [5]', {'F.cross_entropy'}, function() return {randn{5}} end,
    function(x) return F.cross_entropy(x, brasa.tensor(3, I64)) end)
  case('F.cross_entropy of a transposed view', {'F.cross_entropy'}, function() return {transposed(randn{5, 3})} end,
    function(x) return F.cross_entropy(x, ids{3, 1, 2, 2, 1}, {label_smoothing = 0.3}) end)
  case('F.cross_entropy probability targets, weights, smoothing', {'F.cross_entropy'},
    function() return {randn{3, 4}, uniform({3, 4}, 0, 1)} end,
    function(x, p)
      return F.cross_entropy(x, p, {weight = brasa.tensor({1, 2, 0.5, 1}, F64), label_smoothing = 0.1})
    end)
  case('F.nll_loss of log_softmax, [2x3x3]', {'F.nll_loss', 'F.log_softmax'},
    function() return {randn{2, 3, 3}} end,
    function(x) return F.nll_loss(F.log_softmax(x, 2), ids{{1, 2, 3}, {3, 3, 1}}) end)
  case2('F.cross_entropy [3x4] mean', {'F.cross_entropy'}, function() return {randn{3, 4}} end,
    function(x) return F.cross_entropy(x, ids{4, 1, 2}) end)
  case2('F.cross_entropy weights, ignore_index, smoothing, none', {'F.cross_entropy'},
    function() return {randn{4, 5}} end,
    function(x)
      return F.cross_entropy(x, t4(), {weight = cw(), ignore_index = 1, label_smoothing = 0.2,
                                       reduction = 'none'})
    end)
  case2('F.cross_entropy [2x3x2] sum, smoothing', {'F.cross_entropy'}, function() return {randn{2, 3, 2}} end,
    function(x) return F.cross_entropy(x, ids{{1, 3}, {2, 2}}, {reduction = 'sum', label_smoothing = 0.1}) end)
  case2('F.nll_loss of a nonlinear input', {'F.nll_loss'}, function() return {randn{3, 4}} end,
    function(x) return F.nll_loss(x:tanh(), ids{2, 4, 4}, {weight = brasa.tensor({1, 2, 3, 4}, F64)}) end)
end
