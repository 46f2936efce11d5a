-- brasa.metrics: how good are the predictions?
--
--   local metrics = brasa.metrics
--   local scores = model:predict(test.x)                 -- N x C
--   print(metrics.accuracy(test.y, scores))              -- 0.897
--   local cm = metrics.confusion_matrix(test.y, scores:argmax(2))
--   print(metrics.format_confusion(cm, test.classes))    -- rows true, columns predicted
--   print(metrics.f1(test.y, scores, {average = 'macro'}))
--
-- Every function takes (y_true, y_pred) in that order, as scikit-learn and
-- Keras do (a loss module is called the other way round, loss(output,
-- target), as in PyTorch). Arguments are tensors or Lua lists of numbers
-- (a list of Lua integers is read as labels: an i64 tensor);
-- results are Lua numbers (or Lua lists, one value per class).
--
-- Class labels are 1-based (1..C), as everywhere in brasa. Predictions
-- may be given as
--   * scores or probabilities, N x C (C > 1): the predicted class is the
--     argmax of each row;
--   * binary probabilities, N or N x 1 floats: class 1 when >= threshold
--     (0.5; pass opts.threshold = 0 for logits), compared with 0/1 truths;
--   * predicted labels: an integer tensor of N classes.
-- Truths may also be one-hot (N x C), like Keras's categorical targets.
--
-- The same metrics run inside model:fit (metrics = {'accuracy', 'mae'}):
-- metrics.get(spec) turns a name, a function or {name, fn} into the
-- accumulator that fit updates batch after batch.

local brasa = require 'brasa'

local metrics = {}

local is_tensor = brasa.is_tensor
local FLOAT = {f32 = true, f64 = true, f16 = true, bf16 = true}

---------------------------------------------------------------------------
-- Arguments
---------------------------------------------------------------------------

-- v as a tensor: a tensor as it is, a Lua list (or list of lists) through
-- brasa.tensor.
local function as_tensor(v, who, what)
  if is_tensor(v) then return v end
  if type(v) == 'table' then
    local integers = #v > 0
    for _, x in ipairs(v) do if math.type(x) ~= 'integer' then integers = false; break end end
    local ok, t = pcall(brasa.tensor, v, integers and {dtype = 'i64'} or nil)
    if ok then return t end
    error(string.format('%s: %s: %s', who, what, tostring(t)), 3)
  end
  error(string.format('%s: %s must be a tensor or a list of numbers, got %s', who, what, type(v)), 3)
end

local function shape_str(s)
  local parts = {}
  for i, n in ipairs(s) do parts[i] = tostring(n) end
  return '[' .. table.concat(parts, 'x') .. ']'
end

-- Whether t holds one value per example for N examples (N or N x 1).
local function is_column(t)
  local s = t.shape
  return #s == 1 or (#s == 2 and s[2] == 1)
end

-- Class labels (1-D i64) from truths: labels, or one-hot rows.
local function true_labels(y, who)
  y = as_tensor(y, who, 'y_true')
  if #y.shape == 2 and y.shape[2] > 1 then return y:argmax(2) end
  if not is_column(y) then
    error(string.format('%s: y_true %s: expected N labels or N x C one-hot rows', who, shape_str(y.shape)), 3)
  end
  y = y:reshape(-1)
  if FLOAT[y.dtype] then y = y:long() end
  return y
end

-- Predicted labels (1-D i64) from scores, probabilities or labels.
local function pred_labels(p, who, opts)
  p = as_tensor(p, who, 'y_pred')
  if #p.shape == 2 and p.shape[2] > 1 then return p:argmax(2) end
  if not is_column(p) then
    error(string.format('%s: y_pred %s: expected N x C scores, N probabilities or N labels',
      who, shape_str(p.shape)), 3)
  end
  p = p:reshape(-1)
  if FLOAT[p.dtype] then   -- binary: 1 when >= threshold
    return p:ge(opts and opts.threshold or 0.5):long()
  end
  if p.dtype == 'bool' then return p:long() end
  return p
end

-- Binary truths (0/1, i64) for binary predictions.
local function binary_truths(y)
  if y.dtype == 'bool' then return y:long() end
  return y:ne(0):long()
end

local function check_same_count(who, a, b)
  if a.shape[1] ~= b.shape[1] then
    error(string.format('%s: y_true has %d examples and y_pred %d', who, a.shape[1], b.shape[1]), 3)
  end
end

-- (y_true labels, y_pred labels) as 1-D i64 tensors of the same length.
-- Binary probabilities are compared with binary truths.
local function label_pair(y_true, y_pred, who, opts)
  local p = as_tensor(y_pred, who, 'y_pred')
  local binary = is_column(p) and FLOAT[p.dtype]
  local t = true_labels(y_true, who)
  local q = pred_labels(p, who, opts)
  if binary then t = binary_truths(t) end
  check_same_count(who, t, q)
  return t, q
end

---------------------------------------------------------------------------
-- Classification
---------------------------------------------------------------------------

--- metrics.accuracy_count(y_true, y_pred, opts?) -> correct, total: the
-- two integers accuracy divides (what fit adds up batch after batch).
function metrics.accuracy_count(y_true, y_pred, opts)
  local t, q = label_pair(y_true, y_pred, 'metrics.accuracy', opts)
  local n = t.shape[1]
  if n == 0 then return 0, 0 end
  return q:eq(t):sum():item(), n
end

--- metrics.accuracy(y_true, y_pred, opts?) -> the fraction of correct
-- predictions, in [0, 1]. y_pred: N x C scores or probabilities, N binary
-- probabilities (opts.threshold, 0.5), or N predicted labels.
function metrics.accuracy(y_true, y_pred, opts)
  local c, n = metrics.accuracy_count(y_true, y_pred, opts)
  if n == 0 then return 0 / 0 end
  return c / n
end

--- metrics.top_k_count(y_true, scores, k) -> hits, total.
function metrics.top_k_count(y_true, scores, k)
  local who = 'metrics.top_k_accuracy'
  k = k or 5
  scores = as_tensor(scores, who, 'scores')
  if #scores.shape ~= 2 then
    error(string.format('%s: scores %s: expected N x C', who, shape_str(scores.shape)), 2)
  end
  local t = true_labels(y_true, who)
  check_same_count(who, t, scores)
  local n, c = scores.shape[1], scores.shape[2]
  if n == 0 then return 0, 0 end
  if k >= c then return n, n end
  local _, idx = scores:topk(k, 2)
  return idx:eq(t:view(-1, 1)):sum():item(), n
end

--- metrics.top_k_accuracy(y_true, scores, k?) -> the fraction of examples
-- whose true class is among the k highest scores (k = 5 by default).
function metrics.top_k_accuracy(y_true, scores, k)
  local c, n = metrics.top_k_count(y_true, scores, k)
  if n == 0 then return 0 / 0 end
  return c / n
end

-- The largest value of a 1-D i64 tensor (0 when empty).
local function max_label(t)
  if t.shape[1] == 0 then return 0 end
  return t:max():item()
end

-- Checks labels are within 1..C; names the first one that is not.
local function check_labels(who, t, c, what)
  if t.shape[1] == 0 then return end
  local lo, hi = t:min():item(), t:max():item()
  if lo >= 1 and hi <= c then return end
  local bad = t:lt(1):logical_or(t:gt(c)):nonzero()
  local pos = bad:reshape(-1)[1]
  local v = t[pos]
  if v == 0 then
    error(string.format('%s: %s label 0 at position %d: classes are 1-based (1..C); for 0/1 labels pass y + 1',
      who, what, pos), 3)
  end
  error(string.format('%s: %s label %d at position %d is outside 1..%d', who, what, v, pos, c), 3)
end

--- metrics.confusion_matrix(y_true, y_pred, num_classes?) -> C x C i64
-- tensor: rows are the true classes, columns the predicted ones, so
-- cm[{i, j}] counts examples of class i predicted as j (scikit-learn's
-- layout). y_pred: labels or N x C scores. num_classes defaults to the
-- largest label seen.
function metrics.confusion_matrix(y_true, y_pred, num_classes)
  local who = 'metrics.confusion_matrix'
  local t = true_labels(y_true, who)
  local p = as_tensor(y_pred, who, 'y_pred')
  local q = pred_labels(p, who)
  check_same_count(who, t, q)
  local c = num_classes or math.max(max_label(t), max_label(q), #p.shape == 2 and p.shape[2] or 0)
  c = math.tointeger(c)
  if not c or c < 1 then error(who .. ': num_classes must be a positive integer', 2) end
  check_labels(who, t, c, 'true')
  check_labels(who, q, c, 'predicted')
  local cell = (t - 1) * c + q        -- 1-based index of the cell
  local flat = brasa.zeros(c * c, {dtype = 'i64'})
  if t.shape[1] > 0 then
    flat = flat:index_add(1, cell, brasa.ones(t.shape[1], {dtype = 'i64'}))
  end
  return flat:view(c, c)
end

-- The confusion matrix as a Lua table of rows.
local function cm_rows(cm, who)
  if is_tensor(cm) then
    if #cm.shape ~= 2 or cm.shape[1] ~= cm.shape[2] then
      error(string.format('%s: a C x C confusion matrix expected, got %s', who, shape_str(cm.shape)), 3)
    end
    return cm:totable()
  end
  return cm
end

-- Per-class counts of a confusion matrix: tp, predicted, support.
local function class_counts(rows)
  local c = #rows
  local tp, predicted, support = {}, {}, {}
  for i = 1, c do
    tp[i], support[i], predicted[i] = rows[i][i], 0, 0
  end
  for i = 1, c do
    for j = 1, c do
      support[i] = support[i] + rows[i][j]
      predicted[j] = predicted[j] + rows[i][j]
    end
  end
  return tp, predicted, support
end

local function ratio(a, b) return b > 0 and a / b or 0 end

-- Precision, recall and F1 of every class (lists), and the supports.
local function per_class(rows)
  local tp, predicted, support = class_counts(rows)
  local p, r, f = {}, {}, {}
  for i = 1, #rows do
    p[i] = ratio(tp[i], predicted[i])
    r[i] = ratio(tp[i], support[i])
    f[i] = ratio(2 * tp[i], predicted[i] + support[i])
  end
  return p, r, f, support, predicted, tp
end

-- Averages a per-class list: 'macro' (classes seen in y_true or y_pred,
-- as scikit-learn), 'weighted' (by support) or 'micro'.
local function average(values, support, predicted, tp, how, who)
  if how == 'macro' then
    local s, n = 0, 0
    for i, v in ipairs(values) do
      if support[i] + predicted[i] > 0 then s, n = s + v, n + 1 end
    end
    return ratio(s, n)
  elseif how == 'weighted' then
    local s, total = 0, 0
    for i, v in ipairs(values) do s, total = s + v * support[i], total + support[i] end
    return ratio(s, total)
  elseif how == 'micro' then
    local hits, total = 0, 0
    for i = 1, #values do hits, total = hits + tp[i], total + support[i] end
    return ratio(hits, total)
  end
  error(string.format("%s: average must be nil, 'macro', 'weighted' or 'micro', got %s", who, tostring(how)), 3)
end

-- The confusion matrix of (y_true, y_pred), or opts.cm when given.
local function confusion_for(y_true, y_pred, opts, who)
  if opts.cm then return cm_rows(opts.cm, who) end
  return metrics.confusion_matrix(y_true, y_pred, opts.num_classes):totable()
end

local function class_metric(index, name)
  local who = 'metrics.' .. name
  return function(y_true, y_pred, opts)
    opts = opts or {}
    local rows = confusion_for(y_true, y_pred, opts, who)
    local lists = table.pack(per_class(rows))
    local values = lists[index]
    if opts.average == nil or opts.average == 'none' then return values end
    return average(values, lists[4], lists[5], lists[6], opts.average, who)
  end
end

--- metrics.precision(y_true, y_pred, opts?) -> a list with one precision
-- per class (tp / predicted; 0 when a class is never predicted), or one
-- number with opts.average = 'macro' | 'weighted' | 'micro'.
-- opts.num_classes; opts.cm: a confusion matrix instead of y_true, y_pred.
metrics.precision = class_metric(1, 'precision')

--- metrics.recall(y_true, y_pred, opts?) -> recall per class (tp / support),
-- or averaged as precision is.
metrics.recall = class_metric(2, 'recall')

--- metrics.f1(y_true, y_pred, opts?) -> F1 per class (2 tp / (predicted +
-- support)), or averaged as precision is.
metrics.f1 = class_metric(3, 'f1')

--- metrics.precision_recall_f1(y_true, y_pred, opts?) -> {precision =,
-- recall =, f1 =, support =} lists per class, plus macro and weighted
-- averages in .macro and .weighted ({precision, recall, f1}).
function metrics.precision_recall_f1(y_true, y_pred, opts)
  opts = opts or {}
  local who = 'metrics.precision_recall_f1'
  local rows = confusion_for(y_true, y_pred, opts, who)
  local p, r, f, support, predicted, tp = per_class(rows)
  local out = {precision = p, recall = r, f1 = f, support = support}
  for _, how in ipairs {'macro', 'weighted'} do
    out[how] = {
      precision = average(p, support, predicted, tp, how, who),
      recall = average(r, support, predicted, tp, how, who),
      f1 = average(f, support, predicted, tp, how, who),
    }
  end
  return out
end

---------------------------------------------------------------------------
-- Regression
---------------------------------------------------------------------------

-- (y_true, y_pred) as f64 tensors of the same number of elements, with
-- y_pred in y_true's shape.
local function regression_pair(y_true, y_pred, who)
  local t = as_tensor(y_true, who, 'y_true'):double()
  local p = as_tensor(y_pred, who, 'y_pred'):double()
  if t:numel() ~= p:numel() then
    error(string.format('%s: y_true %s and y_pred %s differ in size', who,
      shape_str(t.shape), shape_str(p.shape)), 3)
  end
  return t, p:reshape(t.shape)
end

--- metrics.abs_error_sum(y_true, y_pred) -> sum |y - p|, count.
function metrics.abs_error_sum(y_true, y_pred)
  local t, p = regression_pair(y_true, y_pred, 'metrics.mae')
  return (t - p):abs():sum():item(), t:numel()
end

--- metrics.sq_error_sum(y_true, y_pred) -> sum (y - p)^2, count.
function metrics.sq_error_sum(y_true, y_pred)
  local t, p = regression_pair(y_true, y_pred, 'metrics.mse')
  local d = t - p
  return (d * d):sum():item(), t:numel()
end

--- metrics.mae(y_true, y_pred) -> mean absolute error.
function metrics.mae(y_true, y_pred)
  local s, n = metrics.abs_error_sum(y_true, y_pred)
  return s / n
end

--- metrics.mse(y_true, y_pred) -> mean squared error.
function metrics.mse(y_true, y_pred)
  local s, n = metrics.sq_error_sum(y_true, y_pred)
  return s / n
end

--- metrics.rmse(y_true, y_pred) -> square root of the mean squared error.
function metrics.rmse(y_true, y_pred)
  return math.sqrt(metrics.mse(y_true, y_pred))
end

--- metrics.r2(y_true, y_pred) -> the coefficient of determination,
-- 1 - sum (y - p)^2 / sum (y - mean y)^2. With several outputs (N x K) the
-- mean of the K scores (scikit-learn's 'uniform_average'). A constant y_true
-- gives 1 for a perfect prediction, else 0 (scikit-learn's force_finite).
function metrics.r2(y_true, y_pred)
  local t, p = regression_pair(y_true, y_pred, 'metrics.r2')
  if #t.shape <= 1 then t, p = t:reshape(-1, 1), p:reshape(-1, 1) end
  t, p = t:reshape(t.shape[1], -1), p:reshape(t.shape[1], -1)
  local d = t - p
  local ss_res = (d * d):sum(1):totable()
  local c = t - t:mean(1, true)
  local ss_tot = (c * c):sum(1):totable()
  local s = 0
  for k = 1, #ss_res do
    if ss_tot[k] == 0 then
      s = s + (ss_res[k] == 0 and 1 or 0)
    else
      s = s + 1 - ss_res[k] / ss_tot[k]
    end
  end
  return s / #ss_res
end

---------------------------------------------------------------------------
-- ROC
---------------------------------------------------------------------------

-- Binary truths (true for positive) and scores as Lua lists. Truths are
-- 0/1 (or false/true), or 1-based 1/2 with class 2 positive; scores are N,
-- N x 1, or N x 2 (column 2 scores the positive class).
local function binary_lists(y_true, scores, who)
  local t = as_tensor(y_true, who, 'y_true'):reshape(-1)
  local s = as_tensor(scores, who, 'scores')
  if #s.shape == 2 and s.shape[2] == 2 then s = s:select(2, 2) end
  if not is_column(s) then
    error(string.format('%s: scores %s: expected N or N x 1 (or N x 2) for binary truths',
      who, shape_str(s.shape)), 3)
  end
  s = s:reshape(-1)
  check_same_count(who, t, s)
  local tv, sv = t:double():totable(), s:double():totable()
  local lo, hi = math.huge, -math.huge
  for _, v in ipairs(tv) do lo, hi = math.min(lo, v), math.max(hi, v) end
  local positive = (lo >= 1 and hi <= 2 and hi == 2) and 2 or 1
  local pos = {}
  for i, v in ipairs(tv) do pos[i] = (v == positive) end
  return pos, sv
end

-- The ROC points of binary truths and scores: fpr, tpr, thresholds.
local function roc_points(pos, scores, who)
  local n = #scores
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b) return scores[a] > scores[b] end)
  local npos = 0
  for i = 1, n do if pos[i] then npos = npos + 1 end end
  local nneg = n - npos
  if npos == 0 or nneg == 0 then
    error(string.format('%s: needs both classes in y_true (got %d positive and %d negative)',
      who, npos, nneg), 3)
  end
  local fpr, tpr, thr = {0}, {0}, {math.huge}
  local tp, fp = 0, 0
  for k = 1, n do
    local i = order[k]
    if pos[i] then tp = tp + 1 else fp = fp + 1 end
    local nxt = order[k + 1]
    if nxt == nil or scores[nxt] ~= scores[i] then   -- the last of a run of ties
      fpr[#fpr + 1], tpr[#tpr + 1], thr[#thr + 1] = fp / nneg, tp / npos, scores[i]
    end
  end
  return fpr, tpr, thr
end

-- The area under a curve given by points (trapezoids).
local function trapezoid(x, y)
  local a = 0
  for i = 2, #x do a = a + (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2 end
  return a
end

--- metrics.roc_curve(y_true, scores) -> fpr, tpr, thresholds: Lua lists of
-- the ROC curve's points, one per distinct score (highest first) after a
-- first point (0, 0) at threshold math.huge; a point at threshold s counts
-- scores >= s as positive. Truths: 0/1 (or 1/2 with 2 positive).
function metrics.roc_curve(y_true, scores)
  local who = 'metrics.roc_curve'
  local pos, s = binary_lists(y_true, scores, who)
  return roc_points(pos, s, who)
end

--- metrics.roc_auc(y_true, scores) -> the area under the ROC curve. Binary:
-- truths 0/1 and N scores (or N x 2); several classes: 1-based labels and
-- N x C scores, averaged one-vs-rest over the classes present (scikit-
-- learn's multi_class = 'ovr', average = 'macro').
function metrics.roc_auc(y_true, scores)
  local who = 'metrics.roc_auc'
  local s = as_tensor(scores, who, 'scores')
  if #s.shape == 2 and s.shape[2] > 2 then
    local t = true_labels(y_true, who)
    check_same_count(who, t, s)
    local total, n = 0, 0
    for c = 1, s.shape[2] do
      local pos = t:eq(c)
      local np = pos:sum():item()
      if np > 0 and np < t.shape[1] then
        local fpr, tpr = roc_points(pos:totable(), s:select(2, c):double():totable(), who)
        total, n = total + trapezoid(fpr, tpr), n + 1
      end
    end
    if n == 0 then error(who .. ': no class has both positive and negative examples', 2) end
    return total / n
  end
  local pos, sv = binary_lists(y_true, s, who)
  local fpr, tpr = roc_points(pos, sv, who)
  return trapezoid(fpr, tpr)
end

---------------------------------------------------------------------------
-- Printing
---------------------------------------------------------------------------

local function pad_left(s, w) return string.rep(' ', w - #s) .. s end
local function pad_right(s, w) return s .. string.rep(' ', w - #s) end

--- metrics.format_confusion(cm, class_names?) -> a string: the matrix as a
-- table, a row per true class (named) and a column per predicted class
-- (numbered as the rows), each row's recall at the right, each column's
-- precision (in percent) below, and the accuracy.
function metrics.format_confusion(cm, class_names)
  local who = 'metrics.format_confusion'
  local rows = cm_rows(cm, who)
  local c = #rows
  local names = {}
  for i = 1, c do
    local nm = class_names and class_names[i]
    names[i] = string.format('%d %s', i, nm and tostring(nm) or '')
  end
  local name_w = #'true \\ predicted'
  for i = 1, c do name_w = math.max(name_w, #names[i]) end
  local cell_w = #tostring(c)
  for i = 1, c do
    for j = 1, c do cell_w = math.max(cell_w, #tostring(math.tointeger(rows[i][j]) or rows[i][j])) end
  end
  cell_w = math.max(cell_w + 1, 4)
  local lines = {}
  local head = {pad_right('true \\ predicted', name_w)}
  for j = 1, c do head[#head + 1] = pad_left(tostring(j), cell_w) end
  head[#head + 1] = '  recall'
  lines[1] = table.concat(head, ' ')
  local _, predicted, support = class_counts(rows)
  local correct, total = 0, 0
  for i = 1, c do
    local line = {pad_right(names[i], name_w)}
    for j = 1, c do
      line[#line + 1] = pad_left(tostring(math.tointeger(rows[i][j]) or rows[i][j]), cell_w)
    end
    line[#line + 1] = string.format('  %6.3f', ratio(rows[i][i], support[i]))
    lines[#lines + 1] = table.concat(line, ' ')
    correct, total = correct + rows[i][i], total + support[i]
  end
  local prec = {pad_right('precision %', name_w)}
  for j = 1, c do
    prec[#prec + 1] = pad_left(string.format('%.0f', 100 * ratio(rows[j][j], predicted[j])), cell_w)
  end
  lines[#lines + 1] = table.concat(prec, ' ')
  lines[#lines + 1] = string.format('accuracy %.4f (%d of %d)', ratio(correct, total),
    math.tointeger(correct) or correct, math.tointeger(total) or total)
  return table.concat(lines, '\n')
end

--- metrics.classification_report(y_true, y_pred, opts?) -> a string:
-- precision, recall, F1 and support per class, then accuracy and the
-- macro and weighted averages (scikit-learn's report). opts.class_names,
-- opts.num_classes, opts.digits (2).
function metrics.classification_report(y_true, y_pred, opts)
  opts = opts or {}
  local r = metrics.precision_recall_f1(y_true, y_pred, opts)
  local digits = opts.digits or 2
  local names = {}
  local w = #'weighted avg'
  for i = 1, #r.support do
    names[i] = opts.class_names and tostring(opts.class_names[i]) or tostring(i)
    w = math.max(w, #names[i])
  end
  local cw = math.max(digits + 3, 9)
  local num = '%' .. cw .. '.' .. digits .. 'f'
  local function row(name, p, rc, f, s)
    return pad_left(name, w) .. ' ' .. string.format(num .. num .. num, p, rc, f) ..
      pad_left(tostring(math.tointeger(s) or s), cw + 1)
  end
  local lines = {pad_left('', w) .. ' ' .. pad_left('precision', cw) .. pad_left('recall', cw) ..
    pad_left('f1-score', cw) .. pad_left('support', cw + 1), ''}
  local total, correct = 0, 0
  for i = 1, #r.support do
    lines[#lines + 1] = row(names[i], r.precision[i], r.recall[i], r.f1[i], r.support[i])
    total = total + r.support[i]
    correct = correct + r.recall[i] * r.support[i]
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = pad_left('accuracy', w) .. ' ' .. string.rep(' ', 2 * cw) ..
    string.format(num, ratio(correct, total)) .. pad_left(tostring(math.tointeger(total) or total), cw + 1)
  lines[#lines + 1] = row('macro avg', r.macro.precision, r.macro.recall, r.macro.f1, total)
  lines[#lines + 1] = row('weighted avg', r.weighted.precision, r.weighted.recall, r.weighted.f1, total)
  return table.concat(lines, '\n')
end

---------------------------------------------------------------------------
-- Metrics inside fit
---------------------------------------------------------------------------

-- Accumulators: batch(y_true, y_pred) -> sum, count, added up over the
-- epoch; value(sum, count) -> the metric. Or epoch = true: fit keeps the
-- outputs of the whole epoch and calls value_all(y_true, y_pred) once.
local function mean_of(s, n) return n > 0 and s / n or 0 / 0 end

local BUILTIN = {
  accuracy = function() return {batch = metrics.accuracy_count, value = mean_of} end,
  mae = function() return {batch = metrics.abs_error_sum, value = mean_of} end,
  mse = function() return {batch = metrics.sq_error_sum, value = mean_of} end,
  rmse = function()
    return {batch = metrics.sq_error_sum, value = function(s, n) return math.sqrt(mean_of(s, n)) end}
  end,
  r2 = function() return {epoch = true, value_all = metrics.r2} end,
  roc_auc = function() return {epoch = true, value_all = metrics.roc_auc} end,
  precision = function()
    return {epoch = true, value_all = function(t, p) return metrics.precision(t, p, {average = 'macro'}) end}
  end,
  recall = function()
    return {epoch = true, value_all = function(t, p) return metrics.recall(t, p, {average = 'macro'}) end}
  end,
  f1 = function()
    return {epoch = true, value_all = function(t, p) return metrics.f1(t, p, {average = 'macro'}) end}
  end,
}
local ALIASES = {acc = 'accuracy', auc = 'roc_auc', mean_absolute_error = 'mae',
                 mean_squared_error = 'mse', f1_score = 'f1'}

-- A top-k accumulator for names like 'top5_accuracy' or 'top_k_accuracy'.
local function top_k(name)
  local k = tonumber(name:match('^top(%d+)_accuracy$') or name:match('^top(%d+)$'))
  if name == 'top_k_accuracy' then k = 5 end
  if not k then return nil end
  return {batch = function(t, p) return metrics.top_k_count(t, p, k) end, value = mean_of}
end

-- A user function fn(y_true, y_pred) -> number or 0-dim tensor: averaged
-- over the batches, weighted by their sizes.
local function from_function(fn)
  return {
    batch = function(t, p)
      local v = fn(t, p)
      if is_tensor(v) then v = v:item() end
      local n = is_tensor(t) and (t.shape[1] or 1) or 1
      return v * n, n
    end,
    value = mean_of,
  }
end

--- metrics.get(spec) -> an accumulator for fit: spec is a name
-- ('accuracy', 'acc', 'top5_accuracy', 'mae', 'mse', 'rmse', 'r2', 'auc',
-- 'precision', 'recall', 'f1' — the last three macro-averaged), a function
-- fn(y_true, y_pred) -> number, or {name, fn} / {name = , fn = }.
-- The accumulator has .name and either batch/value or epoch/value_all.
function metrics.get(spec, index)
  local name, acc
  if type(spec) == 'string' then
    name = spec
    local key = ALIASES[spec] or spec
    acc = BUILTIN[key] and BUILTIN[key]() or top_k(key)
    if not acc then
      local known = {}
      for k in pairs(BUILTIN) do known[#known + 1] = k end
      table.sort(known)
      error(string.format("metrics: unknown metric '%s' (known: %s, topK_accuracy, or a function)",
        spec, table.concat(known, ', ')), 2)
    end
  elseif type(spec) == 'function' then
    name, acc = 'metric' .. (index or 1), from_function(spec)
  elseif type(spec) == 'table' then
    name = spec.name or spec[1]
    local fn = spec.fn or spec[2]
    if type(name) ~= 'string' or type(fn) ~= 'function' then
      error('metrics: a metric table is {name, fn} or {name = , fn = }', 2)
    end
    acc = from_function(fn)
  else
    error('metrics: a metric is a name, a function or {name, fn}; got ' .. type(spec), 2)
  end
  acc.name = name
  return acc
end

--- metrics.list(specs) -> a list of accumulators (names of the form
-- {'accuracy', my_fn} or {'accuracy', f1 = my_fn}: string keys name functions).
function metrics.list(specs)
  local out = {}
  if specs == nil then return out end
  if type(specs) ~= 'table' then specs = {specs} end
  for i, s in ipairs(specs) do out[#out + 1] = metrics.get(s, i) end
  local named = {}
  for k, fn in pairs(specs) do
    if type(k) == 'string' then named[#named + 1] = k end
  end
  table.sort(named)
  for _, k in ipairs(named) do out[#out + 1] = metrics.get({k, specs[k]}) end
  return out
end

return metrics
