/*
** ops/nn_softmax.c: softmax and log_softmax along a dim, and the class
** losses: cross_entropy (log_softmax fused with the negative
** log-likelihood, class weights, ignore_index, label smoothing) and
** nll_loss, with their backward rules (PyTorch 1.13 semantics).
**
** The kernels (cpu/softmax.c) see rows: softmax takes x as [A, C, B] and
** works along C; the losses take [R, C] with the class dim last, so an
** input [N, C, d1, ...] is first permuted to [N, d1, ..., C]. Backward rules
** run fused kernels; under create_graph they use differentiable ops
** instead, so second derivatives work.
*/
#include "internal.h"
#include "autograd.h"
#include "autocast.h"

static bt_Tensor *dense(bt_Tensor *t, bt_DType dt) { return t ? bt_contiguous_as(t, dt) : NULL; }
static bt_Tensor *cast(bt_Tensor *t, bt_DType dt) { return t ? bt_to_dtype(t, dt) : NULL; }

static bt_Tensor *as3(bt_Tensor *t, int64_t a, int64_t b, int64_t c) {
  int64_t shape[3] = {a, b, c}, stride[3] = {b * c, c, 1};
  return bt_alias(t, 3, shape, stride, t->offset);
}

static int same_device(const char *op, const bt_Tensor *a, const bt_Tensor *b) {
  if (!a || !b) return 0;
  bt_Device x = bt_dev(a), y = bt_dev(b);
  if (x.type == y.type && x.index == y.index) return 0;
  char nx[32], ny[32];
  return bt_seterr("%s: tensors are on different devices (%s and %s)", op, bt_device_name(x, nx),
                   bt_device_name(y, ny));
}

/* ---- softmax, log_softmax ------------------------------------------------------------------ */

static void split_at(const bt_Tensor *t, int dim, int64_t *A, int64_t *C, int64_t *B) {
  *A = *B = 1;
  for (int d = 0; d < dim; d++) *A *= t->shape[d];
  for (int d = dim + 1; d < t->ndim; d++) *B *= t->shape[d];
  *C = t->shape[dim];
}

/* softmax: gx = y (g - sum(g y)); log_softmax: gx = g - softmax(x) sum(g),
** with y recomputed from x so that it takes part in the graph. */
static int softmax_backward_graph(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0];
  int dim = (int)n->i[0];
  unsigned mask = 1u << dim;
  bt_Tensor *p = bt_softmax(x, dim), *s = NULL, *t = NULL, *gy = NULL;
  if (p && n->i[1]) {
    s = bt_sum(g, mask, true);
    t = s ? bt_mul(p, s) : NULL;
    gin[0] = t ? bt_sub(g, t) : NULL;
  } else if (p) {
    gy = bt_mul(g, p);
    s = gy ? bt_sum(gy, mask, true) : NULL;
    t = s ? bt_sub(g, s) : NULL;
    gin[0] = t ? bt_mul(p, t) : NULL;
  }
  BT_RELEASE(p, s, t, gy);
  return gin[0] ? 0 : -1;
}

/* saved: x, the output y; i[0]: dim; i[1]: log. */
static int softmax_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_create_graph()) return softmax_backward_graph(n, g, gin);
  bt_Tensor *y = n->saved[1];
  bool log = n->i[1];
  const char *op = log ? "log_softmax_backward" : "softmax_backward";
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, bool) =
      BT_KERNEL(op, bt_dev(y), softmax_backward);
  if (!k) return -1;
  int64_t A, C, B;
  split_at(y, (int)n->i[0], &A, &C, &B);
  bt_Tensor *gc = dense(g, y->dtype), *gx = gc ? bt_empty(y->ndim, y->shape, y->dtype, bt_dev(y)) : NULL;
  bt_Tensor *g3 = gx ? as3(gc, A, C, B) : NULL, *y3 = g3 ? as3(y, A, C, B) : NULL;
  bt_Tensor *gx3 = y3 ? as3(gx, A, C, B) : NULL;
  if (!gx3 || k(gx3, g3, y3, log) < 0) {
    bt_release(gx);
    gx = NULL;
  }
  BT_RELEASE(gc, g3, y3, gx3);
  gin[0] = gx;
  return gx ? 0 : -1;
}

static bt_Tensor *softmax_fused(bt_Tensor *x, int dim, bool log) {
  const char *op = log ? "log_softmax" : "softmax";
  int (*k)(bt_Tensor *, const bt_Tensor *, bool) = BT_KERNEL(op, bt_dev(x), softmax);
  if (!k) return NULL;
  int64_t A, C, B;
  split_at(x, dim, &A, &C, &B);
  bt_Tensor *xc = dense(x, x->dtype), *y = xc ? bt_empty(x->ndim, x->shape, x->dtype, bt_dev(x)) : NULL;
  bt_Tensor *x3 = y ? as3(xc, A, C, B) : NULL, *y3 = x3 ? as3(y, A, C, B) : NULL;
  bool ok = y3 && k(y3, x3, log) == 0;
  BT_RELEASE(xc, x3, y3);
  if (ok && bt_ag_needs(1, &x)) {
    bt_Node *node = bt_ag_record(log ? "LogSoftmaxBackward" : "SoftmaxBackward", softmax_backward,
                                 1, &x, y);
    if (!node) {
      ok = false;
    } else {
      node->i[0] = dim;
      node->i[1] = log;
      bt_ag_save(node, x);
      bt_ag_save_output(node, y);
    }
  }
  if (!ok) {
    bt_release(y);
    return NULL;
  }
  return y;
}

static bt_Tensor *softmax_op(bt_Tensor *x, int dim, bool log) {
  const char *op = log ? "log_softmax" : "softmax";
  bt_Tensor *ac[1] = {x};   /* autocast: an f32 op (autocast.h) */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? softmax_op(ac[0], dim, log) : NULL);
  if (!bt_dtype_is_float(x->dtype))
    return bt_seterr("%s: expects a float tensor, got %s of shape %s (convert it with :float())",
                     op, bt_dtype_name(x->dtype), bt_shp(x)), NULL;
  if (x->ndim == 0) {   /* one element: as a [1] tensor */
    if (bt_wrap_dim(op, dim, 1) < 0) return NULL;
    int64_t one = 1;
    bt_Tensor *r = bt_reshape(x, 1, &one), *y = r ? softmax_op(r, 0, log) : NULL;
    bt_Tensor *out = y ? bt_reshape(y, 0, NULL) : NULL;
    BT_RELEASE(r, y);
    return out;
  }
  if ((dim = bt_wrap_dim(op, dim, x->ndim)) < 0) return NULL;
  bt_DType dt = bt_compute_dtype(x->dtype);
  if (dt == x->dtype) return softmax_fused(x, dim, log);
  bt_Tensor *xc = cast(x, dt), *y = xc ? softmax_fused(xc, dim, log) : NULL;
  bt_Tensor *r = y ? cast(y, x->dtype) : NULL;
  BT_RELEASE(xc, y);
  return r;
}

bt_Tensor *bt_softmax(bt_Tensor *x, int dim) { return softmax_op(x, dim, false); }
bt_Tensor *bt_log_softmax(bt_Tensor *x, int dim) { return softmax_op(x, dim, true); }

/* ---- class losses: layout ------------------------------------------------------------------- */

/* The class dim: 0 for an unbatched [C] input, else 1. */
static int class_dim(const bt_Tensor *x) { return x->ndim == 1 ? 0 : 1; }

/* x as [R, C] rows: [N, C, d...] is permuted to [N, d..., C] first. */
static bt_Tensor *to_rows(bt_Tensor *x, int64_t R, int64_t C) {
  int64_t shape[2] = {R, C};
  if (x->ndim < 3) return bt_reshape(x, 2, shape);
  int perm[BT_MAX_DIMS], k = 0;
  perm[k++] = 0;
  for (int d = 2; d < x->ndim; d++) perm[k++] = d;
  perm[k++] = 1;
  bt_Tensor *p = bt_permute(x, perm), *r = p ? bt_reshape(p, 2, shape) : NULL;
  bt_release(p);
  return r;
}

/* Rows [R, C] back to the layout of an input of shape (ndim, shape). */
static bt_Tensor *from_rows(bt_Tensor *r, int ndim, const int64_t *shape) {
  if (ndim < 3) return bt_reshape(r, ndim, shape);
  int64_t s[BT_MAX_DIMS];
  int perm[BT_MAX_DIMS], k = 0;
  s[k++] = shape[0];
  for (int d = 2; d < ndim; d++) s[k++] = shape[d];
  s[k++] = shape[1];
  perm[0] = 0;
  perm[1] = ndim - 1;
  for (int d = 2; d < ndim; d++) perm[d] = d - 1;
  bt_Tensor *v = bt_reshape(r, ndim, s), *p = v ? bt_permute(v, perm) : NULL;
  bt_release(v);
  return p;
}

/* ---- class losses: checks ------------------------------------------------------------------- */

static int check_class_loss(const char *op, const bt_Tensor *x, const bt_Tensor *target,
                            const bt_Tensor *weight, double smoothing, bt_Reduction red) {
  if (!bt_dtype_is_float(x->dtype))
    return bt_seterr("%s: input must be a float tensor of scores, got %s of shape %s", op,
                     bt_dtype_name(x->dtype), bt_shp(x));
  if (x->ndim < 1)
    return bt_seterr("%s: input must be [N, C] (or [C], or [N, C, d1, ...]), got a 0-dim tensor", op);
  if (same_device(op, x, target) < 0 || same_device(op, x, weight) < 0) return -1;
  if ((unsigned)red > BT_REDUCTION_SUM) return bt_seterr("%s: unknown reduction %d", op, (int)red);
  if (!(smoothing >= 0 && smoothing <= 1))
    return bt_seterr("%s: label_smoothing must be in [0, 1], got %g", op, smoothing);
  int64_t C = x->shape[class_dim(x)];
  if (weight && (!bt_dtype_is_float(weight->dtype) || weight->ndim != 1 || weight->shape[0] != C))
    return bt_seterr("%s: weight must be a float tensor of one weight per class [%lld], got %s %s",
                     op, (long long)C, bt_dtype_name(weight->dtype), bt_shp(weight));
  return 0;
}

/* Integer targets: the input's shape without its class dim. */
static int check_class_target(const char *op, const bt_Tensor *x, const bt_Tensor *target) {
  if (target->dtype != BT_I64 && target->dtype != BT_I32)
    return bt_seterr("%s: target must hold integer class ids (i64, 1-based)%s, got %s of shape %s",
                     op, strcmp(op, "cross_entropy") == 0 ? " or probabilities of the input's shape" : "",
                     bt_dtype_name(target->dtype), bt_shp(target));
  int64_t want[BT_MAX_DIMS];
  int nd = 0, cd = class_dim(x);
  for (int d = 0; d < x->ndim; d++)
    if (d != cd) want[nd++] = x->shape[d];
  if (!bt_shape_eq(target, nd, want))
    return bt_seterr("%s: target %s does not match input %s: expected target %s (the input's "
                     "shape without its class dim %d)", op, bt_shp(target), bt_shp(x),
                     bt_shpn(nd, want), cd + 1);
  return 0;
}

/* ---- class losses: backward ------------------------------------------------------------------- */

/* Node layout: saved x, target ([R], contiguous), lse (CE), weight (when
** i[3]); i[0]: ignore_index; i[1]: reduction; i[2]: logp (NLL); d[0]:
** label smoothing; d[1]: the summed target weights (the mean's divisor). */
static bt_Tensor *saved_weight(const bt_Node *n) {
  return n->i[3] ? n->saved[n->i[2] ? 2 : 3] : NULL;
}

/* The gradient's scale per row: g itself ([R] for 'none'), or g / W (mean). */
static bt_Tensor *loss_scale(const bt_Node *n, bt_Tensor *g, int64_t R, bool column) {
  if (n->i[1] == BT_REDUCTION_NONE) {
    int64_t shape[2] = {R, 1};
    return bt_reshape(g, column ? 2 : 1, shape);
  }
  if (n->i[1] == BT_REDUCTION_SUM) {
    bt_retain(g);
    return g;
  }
  return bt_mul_scalar(g, 1 / n->d[1]);
}

/* The weights of the rows' targets times `valid` ([R]; 0 where ignored). */
static bt_Tensor *target_weights(bt_Tensor *w, bt_Tensor *tc, bt_Tensor *vf) {
  if (!w) {
    bt_retain(vf);
    return vf;
  }
  bt_Tensor *wt = bt_index_select(w, 0, tc), *r = wt ? bt_mul(wt, vf) : NULL;
  bt_release(wt);
  return r;
}

/* gx = s (a softmax(x) - B) from differentiable ops (s depends on g, the
** softmax on x); a ([R]) and B ([R, C]) are constants of the targets:
**   B = (1 - eps) w_t onehot(t) + eps/C w,  a = (1 - eps) w_t + eps/C sum(w)
** on counted rows (zero on ignored ones); NLL: gx = -s w_t onehot(t). */
static int class_loss_backward_graph(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0], *t = n->saved[1], *wsv = saved_weight(n);
  bool logp = n->i[2];
  double eps = n->d[0];
  int64_t C = x->shape[class_dim(x)], R = bt_numel(t), col[2] = {R, 1}, row[2] = {1, C};
  bt_DType dt = x->dtype;
  bt_Tensor *w = wsv ? bt_detach(wsv) : NULL;
  bt_Tensor *valid = n->i[0] == BT_NO_IGNORE ? bt_ones(1, &R, BT_BOOL, bt_dev(t))
                                             : bt_binary_scalar(BT_NE, t, (double)n->i[0], false);
  bt_Tensor *zero = valid ? bt_zeros(0, NULL, t->dtype, bt_dev(t)) : NULL;
  bt_Tensor *tc = zero ? bt_where(valid, t, zero) : NULL;
  bt_Tensor *oh = tc ? bt_one_hot(tc, C) : NULL, *ohf = oh ? bt_to_dtype(oh, dt) : NULL;
  bt_Tensor *vf = ohf ? bt_to_dtype(valid, dt) : NULL;
  bt_Tensor *wt = vf ? target_weights(w, tc, vf) : NULL;
  bt_Tensor *wtc = wt ? bt_reshape(wt, 2, col) : NULL;
  bt_Tensor *b1 = wtc ? bt_mul(ohf, wtc) : NULL, *B = b1 ? bt_mul_scalar(b1, 1 - eps) : NULL;
  bt_Tensor *sm = NULL, *smw = NULL, *B2 = NULL;
  if (B && eps > 0) {   /* + eps/C valid w */
    bt_Tensor *vc = bt_reshape(vf, 2, col), *wr = w ? bt_reshape(w, 2, row) : NULL;
    sm = vc && (!w || wr) ? (w ? bt_mul(vc, wr) : (bt_retain(vc), vc)) : NULL;
    smw = sm ? bt_mul_scalar(sm, eps / (double)C) : NULL;
    B2 = smw ? bt_add(B, smw) : NULL;
    BT_RELEASE(vc, wr);
  } else if (B) {
    bt_retain(B);
    B2 = B;
  }
  bt_Tensor *s = B2 ? loss_scale(n, g, R, true) : NULL, *inner = NULL;
  bt_Tensor *p = NULL, *p2 = NULL, *a = NULL, *a1 = NULL, *a2 = NULL, *ac = NULL, *ap = NULL;
  if (s && logp) {
    inner = bt_neg(B2);
  } else if (s) {
    double wsum = (double)C;
    if (w) {
      bt_Tensor *ws = bt_sum(w, BT_REDUCE_ALL, false);
      wsum = ws ? bt_get_flat(ws, 0) : NAN;
      bt_release(ws);
    }
    p = bt_softmax(x, class_dim(x));
    p2 = p ? to_rows(p, R, C) : NULL;
    a1 = p2 ? bt_mul_scalar(wt, 1 - eps) : NULL;
    a2 = a1 ? bt_mul_scalar(vf, eps / (double)C * wsum) : NULL;
    a = a2 ? bt_add(a1, a2) : NULL;
    ac = a ? bt_reshape(a, 2, col) : NULL;
    ap = ac ? bt_mul(ac, p2) : NULL;
    inner = ap ? bt_sub(ap, B2) : NULL;
  }
  bt_Tensor *gx2 = inner ? bt_mul(s, inner) : NULL;
  gin[0] = gx2 ? from_rows(gx2, x->ndim, x->shape) : NULL;
  BT_RELEASE(w, valid, zero, tc, oh, ohf, vf, wt, wtc, b1, B, sm, smw, B2, s, inner, p, p2, a, a1,
          a2, ac, ap, gx2);
  return gin[0] ? 0 : -1;
}

static int class_loss_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_create_graph()) return class_loss_backward_graph(n, g, gin);
  bool logp = n->i[2];
  const char *op = logp ? "nll_loss_backward" : "cross_entropy_backward";
  bt_Tensor *x = n->saved[0], *t = n->saved[1], *lse = logp ? NULL : n->saved[2];
  bt_Tensor *w = saved_weight(n);
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
           const bt_Tensor *, int64_t, double, bool) = BT_KERNEL(op, bt_dev(x), class_loss_backward);
  if (!k) return -1;
  bt_DType dt = x->dtype;
  int64_t C = x->shape[class_dim(x)], R = bt_numel(t), shape[2] = {R, C};
  bt_Tensor *xr = to_rows(x, R, C), *x2 = xr ? dense(xr, dt) : NULL;
  bt_Tensor *sr = x2 ? loss_scale(n, g, R, false) : NULL, *s = sr ? dense(sr, dt) : NULL;
  bt_Tensor *gx2 = s ? bt_empty(2, shape, dt, bt_dev(x)) : NULL;
  if (gx2 && k(gx2, s, x2, lse, t, w, n->i[0], n->d[0], logp) == 0)
    gin[0] = from_rows(gx2, x->ndim, x->shape);
  BT_RELEASE(xr, x2, sr, s, gx2);
  return gin[0] ? 0 : -1;
}

/* ---- class losses: forward --------------------------------------------------------------------- */

/* The reduced loss from the kernel's totals, or the rows' losses. */
static bt_Tensor *reduce_loss(bt_Tensor *rows, const double *totals, const bt_Tensor *target,
                              bt_Reduction red, bt_DType dt, bt_Device dev) {
  if (red == BT_REDUCTION_NONE) return bt_reshape(rows, target->ndim, target->shape);
  double v = red == BT_REDUCTION_SUM ? totals[0] : totals[0] / totals[1];
  return bt_full(0, NULL, v, dt, dev);
}

/* x of a compute dtype (f32 or f64), integer targets. */
static bt_Tensor *class_loss_fused(const char *op, bt_Tensor *x, bt_Tensor *target,
                                   bt_Tensor *weight, int64_t ignore, double eps,
                                   bt_Reduction red, bool logp) {
  int (*k)(bt_Tensor *, bt_Tensor *, double *, const bt_Tensor *, const bt_Tensor *,
           const bt_Tensor *, int64_t, double, bool) = BT_KERNEL(op, bt_dev(x), class_loss);
  if (!k) return NULL;
  bt_DType dt = x->dtype;
  int64_t C = x->shape[class_dim(x)], R = bt_numel(target);
  bool needs = bt_ag_needs(1, &x);
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *xr = to_rows(x, R, C), *x2 = xr ? dense(xr, dt) : NULL;
  bt_Tensor *tc = x2 ? dense(target, target->dtype) : NULL;
  bt_Tensor *t1 = tc ? bt_alias(tc, 1, &R, (int64_t[]){1}, tc->offset) : NULL;
  bt_Tensor *wc = t1 && weight ? dense(weight, dt) : NULL;
  bt_Tensor *rows = t1 && red == BT_REDUCTION_NONE ? bt_empty(1, &R, dt, bt_dev(x)) : NULL;
  bt_Tensor *lse = t1 && needs && !logp ? bt_empty(1, &R, dt, bt_dev(x)) : NULL;
  double totals[2] = {0, 0};
  bool ok = t1 && (!weight || wc) && (red != BT_REDUCTION_NONE || rows) && (!needs || logp || lse);
  if (ok) ok = k(rows, lse, totals, x2, t1, wc, ignore, eps, logp) == 0;
  bt_Tensor *out = ok ? reduce_loss(rows, totals, target, red, dt, bt_dev(x)) : NULL;
  bt_set_grad_enabled(prev);
  if (out && needs) {
    bt_Node *node = bt_ag_record(logp ? "NllLossBackward" : "CrossEntropyBackward",
                                 class_loss_backward, 1, &x, out);
    if (!node) {
      bt_release(out);
      out = NULL;
    } else {
      node->i[0] = ignore;
      node->i[1] = red;
      node->i[2] = logp;
      node->i[3] = weight != NULL;
      node->d[0] = eps;
      node->d[1] = totals[1];
      bt_ag_save(node, x);
      bt_ag_save(node, t1);
      if (!logp) bt_ag_save(node, lse);
      if (weight) bt_ag_save(node, wc);
    }
  }
  BT_RELEASE(xr, x2, tc, t1, wc, rows, lse);
  return out;
}

static bt_Tensor *class_loss(const char *op, bt_Tensor *x, bt_Tensor *target, bt_Tensor *weight,
                             int64_t ignore, double eps, bt_Reduction red, bool logp) {
  if (check_class_target(op, x, target) < 0) return NULL;
  bt_DType dt = bt_compute_dtype(x->dtype);
  if (dt == x->dtype) return class_loss_fused(op, x, target, weight, ignore, eps, red, logp);
  bt_Tensor *xc = cast(x, dt), *y = xc ? class_loss_fused(op, xc, target, weight, ignore, eps, red, logp) : NULL;
  bt_Tensor *r = y ? cast(y, x->dtype) : NULL;
  BT_RELEASE(xc, y);
  return r;
}

/* Probability targets of x's shape: -sum(t' w log_softmax(x)) over the class
** dim with t' = (1 - eps) t + eps/C; 'mean' divides by the number of rows
** (PyTorch). Differentiable in x and in the targets. */
static bt_Tensor *cross_entropy_probs(bt_Tensor *x, bt_Tensor *target, bt_Tensor *weight,
                                      int64_t ignore, double eps, bt_Reduction red) {
  const char *op = "cross_entropy";
  if (!bt_same_shape(x, target))
    return bt_seterr("%s: probability targets must have the input's shape %s, got %s", op,
                     bt_shp(x), bt_shp(target)), NULL;
  if (ignore != BT_NO_IGNORE)
    return bt_seterr("%s: ignore_index applies to class-id targets, not to probabilities", op), NULL;
  int cd = class_dim(x);
  int64_t C = x->shape[cd], R = C ? bt_numel(x) / C : 0, ws[BT_MAX_DIMS];
  for (int d = 0; d < x->ndim; d++) ws[d] = d == cd ? C : 1;
  bt_Tensor *lp = bt_log_softmax(x, cd), *t1 = NULL, *t = NULL, *w = NULL, *tw = NULL;
  if (lp && eps > 0) {
    t1 = bt_mul_scalar(target, 1 - eps);
    t = t1 ? bt_add_scalar(t1, eps / (double)C) : NULL;
  } else if (lp) {
    bt_retain(target);
    t = target;
  }
  if (t && weight) {
    w = bt_reshape(weight, x->ndim, ws);
    tw = w ? bt_mul(t, w) : NULL;
  } else if (t) {
    bt_retain(t);
    tw = t;
  }
  bt_Tensor *pr = tw ? bt_mul(tw, lp) : NULL, *s = pr ? bt_sum(pr, 1u << cd, false) : NULL;
  bt_Tensor *loss = s ? bt_neg(s) : NULL, *out = NULL;
  if (loss && red == BT_REDUCTION_NONE) {
    bt_retain(loss);
    out = loss;
  } else if (loss) {
    bt_Tensor *tot = bt_sum(loss, BT_REDUCE_ALL, false);
    out = tot && red == BT_REDUCTION_MEAN ? bt_mul_scalar(tot, 1 / (double)R) : tot;
    if (out != tot) bt_release(tot);
  }
  BT_RELEASE(lp, t1, t, w, tw, pr, s, loss);
  return out;
}

bt_Tensor *bt_cross_entropy(bt_Tensor *x, bt_Tensor *target, bt_Tensor *weight,
                            int64_t ignore_index, double label_smoothing, bt_Reduction reduction) {
  const char *op = "cross_entropy";
  bt_Tensor *ac[3] = {x, target, weight};   /* autocast: an f32 op (autocast.h) */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 3, ac);
  if (acr)
    return bt_autocast_done(3, ac, acr > 0 ? bt_cross_entropy(ac[0], ac[1], ac[2], ignore_index,
                                                              label_smoothing, reduction) : NULL);
  if (check_class_loss(op, x, target, weight, label_smoothing, reduction) < 0) return NULL;
  if (bt_dtype_is_float(target->dtype))
    return cross_entropy_probs(x, target, weight, ignore_index, label_smoothing, reduction);
  return class_loss(op, x, target, weight, ignore_index, label_smoothing, reduction, false);
}

bt_Tensor *bt_nll_loss(bt_Tensor *logp, bt_Tensor *target, bt_Tensor *weight,
                       int64_t ignore_index, bt_Reduction reduction) {
  const char *op = "nll_loss";
  bt_Tensor *ac[3] = {logp, target, weight};   /* autocast: an f32 op (autocast.h) */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 3, ac);
  if (acr)
    return bt_autocast_done(3, ac, acr > 0 ? bt_nll_loss(ac[0], ac[1], ac[2], ignore_index, reduction)
                                           : NULL);
  if (check_class_loss(op, logp, target, weight, 0, reduction) < 0) return NULL;
  return class_loss(op, logp, target, weight, ignore_index, 0, reduction, true);
}
