-- brasa.metrics against hand-computed examples, closed forms and the values
-- scikit-learn gives for the same inputs (quoted from its documentation and
-- computed by hand where noted).

local brasa = require 'brasa'
local m = brasa.metrics

local function near(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-12) * math.max(1, math.abs(b))
end

local function i64(t) return brasa.tensor(t, {dtype = 'i64'}) end

describe('accuracy', function()
  it('compares argmax of scores and probabilities with 1-based labels', function()
    local scores = brasa.tensor{{2, 1, 0}, {0, 3, 1}, {1, 0, 5}, {9, 8, 7}}
    assert.are.equal(0.75, m.accuracy(i64{1, 2, 3, 2}, scores))
    assert.are.equal(0.75, m.accuracy({1, 2, 3, 2}, scores))
    local probs = brasa.tensor{{0.7, 0.2, 0.1}, {0.1, 0.8, 0.1}}
    assert.are.equal(1, m.accuracy({1, 2}, probs))
    assert.are.equal(0.5, m.accuracy(brasa.tensor{1, 1}:long(), probs))
  end)

  it('thresholds binary probabilities (N and N x 1) at 0.5, or opts.threshold', function()
    local p = brasa.tensor{0.1, 0.6, 0.5, 0.49}
    assert.are.equal(1, m.accuracy({0, 1, 1, 0}, p))
    assert.are.equal(1, m.accuracy(brasa.tensor{0, 1, 1, 0}, p:view(4, 1)))
    assert.are.equal(0.75, m.accuracy({0, 1, 0, 0}, p))
    assert.are.equal(1, m.accuracy({0, 1, 1, 0}, p - 0.05, {threshold = 0.45}))
    assert.are.equal(1, m.accuracy({0, 1}, brasa.tensor{-2, 3}, {threshold = 0}))   -- logits
    assert.are.equal(1, m.accuracy(brasa.tensor({false, true}, {dtype = 'bool'}), brasa.tensor{0.2, 0.8}))
  end)

  it('takes predicted labels and one-hot truths', function()
    assert.are.equal(0.5, m.accuracy(i64{1, 2, 3, 4}, i64{1, 2, 4, 3}))
    local onehot = brasa.tensor{{0, 1}, {1, 0}, {0, 1}}
    assert.are.equal(2 / 3, m.accuracy(onehot, brasa.tensor{{0.2, 0.8}, {0.6, 0.4}, {0.9, 0.1}}))
    local c, n = m.accuracy_count(onehot, brasa.tensor{{0.2, 0.8}, {0.6, 0.4}, {0.9, 0.1}})
    assert.are.equal(2, c)
    assert.are.equal(3, n)
    assert.are.equal('integer', math.type(c))
  end)

  it('top-k accuracy', function()
    local s = brasa.tensor{{0.1, 0.5, 0.4}, {0.6, 0.3, 0.1}, {0.2, 0.3, 0.5}, {0.3, 0.3, 0.4}}
    local y = i64{3, 2, 1, 1}
    -- by hand: no row's best score is its class; the first two rows have it second
    assert.are.equal(0, m.top_k_accuracy(y, s, 1))
    assert.are.equal(1, m.top_k_accuracy(y:narrow(1, 1, 2), s:narrow(1, 1, 2), 2))
    assert.are.equal(1, m.top_k_accuracy(y, s, 3))
    assert.are.equal(1, m.top_k_accuracy(y, s, 10))
    assert.are.equal(m.accuracy(y, s), m.top_k_accuracy(y, s, 1))
  end)

  it('explains mismatched arguments', function()
    local ok, err = pcall(m.accuracy, {1, 2, 3}, brasa.tensor{{1, 0}, {0, 1}})
    assert.is_false(ok)
    assert.matches('y_true has 3 examples and y_pred 2', err)
    ok, err = pcall(m.accuracy, 'x', {1})
    assert.is_false(ok)
    assert.matches('y_true must be a tensor or a list', err)
    ok, err = pcall(m.accuracy, {1}, brasa.zeros(1, 2, 3))
    assert.matches('expected N x C scores', err)
  end)
end)

describe('confusion_matrix', function()
  it('puts true classes in rows and predictions in columns (i64)', function()
    -- scikit-learn's example, shifted to 1-based labels:
    -- confusion_matrix([2, 0, 2, 2, 0, 1], [0, 0, 2, 2, 0, 2])
    local cm = m.confusion_matrix({3, 1, 3, 3, 1, 2}, {1, 1, 3, 3, 1, 3})
    assert.are.equal('i64', cm.dtype)
    assert.are.same({{2, 0, 0}, {0, 0, 1}, {1, 0, 2}}, cm:totable())
    assert.are.equal(1, cm[{3, 1}])          -- one example of class 3 predicted as 1
  end)

  it('takes scores, a number of classes, and counts every example once', function()
    brasa.manual_seed(0)
    local y = brasa.randint(1, 5, {200})
    local s = brasa.randn(200, 5)
    local cm = m.confusion_matrix(y, s)
    assert.are.same({5, 5}, cm.shape)
    assert.are.equal(200, cm:sum():item())
    local diagonal = 0
    for i = 1, 5 do diagonal = diagonal + cm[{i, i}] end
    assert.are.equal(m.accuracy_count(y, s), diagonal)
    local row_sums = cm:sum(2):totable()
    for c = 1, 5 do assert.are.equal(y:eq(c):sum():item(), row_sums[c]) end
    assert.are.same({7, 7}, m.confusion_matrix({1}, {1}, 7).shape)
  end)

  it('rejects labels out of range, 0 especially', function()
    local ok, err = pcall(m.confusion_matrix, {0, 1}, {1, 1})
    assert.is_false(ok)
    assert.matches('label 0 at position 1: classes are 1%-based', err)
    ok, err = pcall(m.confusion_matrix, {1, 2}, {1, 5}, 3)
    assert.matches('predicted label 5 at position 2 is outside 1..3', err)
  end)

  it('prints as a table with class names, recall and precision', function()
    local cm = m.confusion_matrix({1, 1, 2, 3, 3, 3}, {1, 2, 2, 3, 3, 1})
    local s = m.format_confusion(cm, {'T-shirt/top', 'Trouser', 'Ankle boot'})
    local lines = {}
    for line in s:gmatch('[^\n]+') do lines[#lines + 1] = line end
    assert.matches('^true \\ predicted +1 +2 +3 +recall$', lines[1])
    assert.matches('^1 T%-shirt/top +1 +1 +0 +0%.500$', lines[2])
    assert.matches('^3 Ankle boot +1 +0 +2 +0%.667$', lines[4])
    assert.matches('^precision %% +50 +50 +100$', lines[5])
    assert.are.equal('accuracy 0.6667 (4 of 6)', lines[6])
    assert.matches('^1  ', m.format_confusion(cm):match('\n([^\n]+)'))
  end)
end)

describe('precision, recall and F1', function()
  -- scikit-learn's precision_recall_fscore_support example:
  -- y_true = [cat, dog, pig, cat, dog, pig], y_pred = [cat, pig, dog, cat, cat, dog]
  local yt = {1, 2, 3, 1, 2, 3}
  local yp = {1, 3, 2, 1, 1, 2}

  it('per class', function()
    assert.are.same({2 / 3, 0, 0}, m.precision(yt, yp))
    assert.are.same({1, 0, 0}, m.recall(yt, yp))
    assert.are.same({0.8, 0, 0}, m.f1(yt, yp))
  end)

  it('averaged: macro, weighted, micro (scikit-learn values)', function()
    assert.is_true(near(m.precision(yt, yp, {average = 'macro'}), 0.2222222222222222))
    assert.is_true(near(m.recall(yt, yp, {average = 'macro'}), 0.3333333333333333))
    assert.is_true(near(m.f1(yt, yp, {average = 'macro'}), 0.26666666666666666))
    assert.is_true(near(m.precision(yt, yp, {average = 'weighted'}), 0.2222222222222222))
    assert.is_true(near(m.f1(yt, yp, {average = 'weighted'}), 0.26666666666666666))
    assert.is_true(near(m.precision(yt, yp, {average = 'micro'}), 1 / 3))
    assert.is_true(near(m.recall(yt, yp, {average = 'micro'}), 1 / 3))
  end)

  it('F1 is the harmonic mean of precision and recall; macro skips absent classes', function()
    brasa.manual_seed(1)
    local y, p = brasa.randint(1, 4, {300}), brasa.randint(1, 4, {300})
    local r = m.precision_recall_f1(y, p)
    for c = 1, 4 do
      local pr, rc = r.precision[c], r.recall[c]
      assert.is_true(near(r.f1[c], 2 * pr * rc / (pr + rc), 1e-12))
      assert.are.equal(y:eq(c):sum():item(), r.support[c])
    end
    local with_absent = m.precision_recall_f1({1, 1, 3}, {1, 3, 3}, {num_classes = 4})
    assert.are.equal(4, #with_absent.precision)
    assert.is_true(near(with_absent.macro.precision, (1 + 0.5) / 2))
  end)

  it('work from a confusion matrix, and report like scikit-learn', function()
    local cm = m.confusion_matrix(yt, yp)
    assert.are.same(m.recall(yt, yp), m.recall(nil, nil, {cm = cm}))
    local report = m.classification_report(yt, yp, {class_names = {'cat', 'dog', 'pig'}})
    assert.matches('cat +0%.67 +1%.00 +0%.80 +2', report)
    assert.matches('accuracy +0%.33 +6', report)
    assert.matches('macro avg +0%.22 +0%.33 +0%.27 +6', report)
    local ok, err = pcall(m.f1, yt, yp, {average = 'mean'})
    assert.matches("average must be nil, 'macro', 'weighted' or 'micro'", err)
  end)
end)

describe('regression metrics', function()
  -- scikit-learn's examples: y_true = [3, -0.5, 2, 7], y_pred = [2.5, 0.0, 2, 8]
  local yt, yp = {3, -0.5, 2, 7}, {2.5, 0.0, 2, 8}

  it('MAE, MSE, RMSE and R2', function()
    assert.are.equal(0.5, m.mae(yt, yp))
    assert.are.equal(0.375, m.mse(yt, yp))
    assert.is_true(near(m.rmse(yt, yp), math.sqrt(0.375)))
    assert.is_true(near(m.r2(yt, yp), 0.9486081370449679, 1e-12))
  end)

  it('R2 over several outputs is their mean; constant truths give 1 or 0', function()
    -- scikit-learn: r2_score([[0.5, 1], [-1, 1], [7, -6]], [[0, 2], [-1, 2], [8, -5]]) = 0.936...
    local v = m.r2(brasa.tensor{{0.5, 1}, {-1, 1}, {7, -6}}, brasa.tensor{{0, 2}, {-1, 2}, {8, -5}})
    assert.is_true(near(v, 0.9368005266622779, 1e-12))
    assert.are.equal(1, m.r2({2, 2, 2}, {2, 2, 2}))
    assert.are.equal(0, m.r2({2, 2, 2}, {2, 2, 3}))
    assert.are.equal(1, m.r2(yt, yt))
    -- predicting the mean gives 0
    assert.is_true(near(m.r2({1, 2, 3}, {2, 2, 2}), 0))
  end)

  it('accepts N x 1 predictions for N truths', function()
    assert.are.equal(0.5, m.mae(brasa.tensor(yt), brasa.tensor(yp):view(4, 1)))
    local ok, err = pcall(m.mse, {1, 2, 3}, {1, 2})
    assert.matches('differ in size', err)
  end)
end)

describe('ROC', function()
  it('matches scikit-learn on its example', function()
    -- roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], drop_intermediate=False)
    local fpr, tpr, thr = m.roc_curve({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8})
    assert.are.same({0, 0, 0.5, 0.5, 1}, fpr)
    assert.are.same({0, 0.5, 0.5, 1, 1}, tpr)
    assert.are.equal(math.huge, thr[1])
    assert.is_true(near(thr[2], 0.8, 1e-7) and near(thr[5], 0.1, 1e-7))
    assert.are.equal(0.75, m.roc_auc({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8}))
  end)

  it('equals the Mann-Whitney statistic (ties count one half)', function()
    brasa.manual_seed(2)
    local n = 200
    local y = brasa.randint(0, 1, {n})
    local s = (brasa.rand(n) * 10):floor()     -- many ties
    local yl, sl = y:totable(), s:totable()
    local wins, pairs_ = 0, 0
    for i = 1, n do
      for j = 1, n do
        if yl[i] == 1 and yl[j] == 0 then
          pairs_ = pairs_ + 1
          if sl[i] > sl[j] then wins = wins + 1 elseif sl[i] == sl[j] then wins = wins + 0.5 end
        end
      end
    end
    assert.is_true(near(m.roc_auc(y, s), wins / pairs_, 1e-12))
  end)

  it('closed forms: separated 1, reversed 0, constant 0.5; 1/2 labels; N x 2 scores', function()
    assert.are.equal(1, m.roc_auc({0, 0, 1, 1}, {0.1, 0.2, 0.8, 0.9}))
    assert.are.equal(0, m.roc_auc({1, 1, 0, 0}, {0.1, 0.2, 0.8, 0.9}))
    assert.are.equal(0.5, m.roc_auc({0, 1, 0, 1}, {0.3, 0.3, 0.3, 0.3}))
    assert.are.equal(1, m.roc_auc(i64{1, 1, 2, 2}, {0.1, 0.2, 0.8, 0.9}))
    assert.are.equal(1, m.roc_auc({0, 0, 1, 1}, brasa.tensor{{0.9, 0.1}, {0.8, 0.2}, {0.2, 0.8}, {0.1, 0.9}}))
    local ok, err = pcall(m.roc_auc, {1, 1}, {0.1, 0.2})
    assert.matches('needs both classes', err)
  end)

  it('one-vs-rest for several classes', function()
    local y = {1, 2, 3, 1, 2, 3}
    local s = brasa.tensor{{0.8, 0.1, 0.1}, {0.1, 0.8, 0.1}, {0.1, 0.1, 0.8},
                           {0.6, 0.3, 0.1}, {0.3, 0.6, 0.1}, {0.1, 0.3, 0.6}}
    assert.are.equal(1, m.roc_auc(y, s))
    local per = {}
    for c = 1, 3 do
      local b = {}
      for i, v in ipairs(y) do b[i] = v == c and 1 or 0 end
      per[c] = m.roc_auc(b, s:select(2, c))
    end
    local shuffled = brasa.tensor{{0.1, 0.8, 0.1}, {0.8, 0.1, 0.1}, {0.1, 0.1, 0.8},
                                  {0.6, 0.3, 0.1}, {0.3, 0.6, 0.1}, {0.3, 0.1, 0.6}}
    local per2 = 0
    for c = 1, 3 do
      local b = {}
      for i, v in ipairs(y) do b[i] = v == c and 1 or 0 end
      per2 = per2 + m.roc_auc(b, shuffled:select(2, c))
    end
    assert.is_true(near(m.roc_auc(y, shuffled), per2 / 3))
  end)
end)

describe('metric accumulators', function()
  it('add up batches to the value over the whole data', function()
    brasa.manual_seed(3)
    local y = brasa.randint(1, 4, {100})
    local s = brasa.randn(100, 4)
    for _, name in ipairs {'accuracy', 'top2_accuracy', 'mae', 'mse', 'rmse'} do
      local acc = m.get(name)
      local sum, count = 0, 0
      for first = 1, 100, 30 do
        local n = math.min(30, 101 - first)
        local yb, sb = y:narrow(1, first, n), s:narrow(1, first, n)
        if name == 'mae' or name == 'mse' or name == 'rmse' then yb = yb:float():view(-1, 1):expand(n, 4) end
        local a, b = acc.batch(yb, sb)
        sum, count = sum + a, count + b
      end
      local whole
      if name == 'accuracy' then whole = m.accuracy(y, s)
      elseif name == 'top2_accuracy' then whole = m.top_k_accuracy(y, s, 2)
      else
        local yf = y:float():view(-1, 1):expand(100, 4)
        whole = m[name](yf, s)
      end
      assert.is_true(near(acc.value(sum, count), whole, 1e-6), name)
    end
    assert.is_true(m.get('f1').epoch)
    assert.are.equal('auc', m.get('auc').name)
    local ok, err = pcall(m.get, 'accuracyy')
    assert.matches("unknown metric 'accuracyy'", err)
  end)
end)
