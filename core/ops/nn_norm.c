/*
** ops/nn_norm.c: batch normalisation, layer normalisation, dropout and
** embedding lookup, with their backward rules (PyTorch 1.13 semantics).
**
** Each op checks its arguments, runs one fused kernel (cpu/norm.c) on
** contiguous f32 or f64 data (f16 and bf16 go through f32 by differentiable
** casts) and records one node. Its backward rule runs the fused backward
** kernel; while a backward with create_graph runs, the rule computes the
** same closed form from differentiable ops instead, so gradients of
** gradients work (gradient penalties through a normalised network).
*/
#include "internal.h"
#include "autograd.h"

static int same_device(const char *op, const bt_Tensor *a, const bt_Tensor *b) {
  if (!a || !b) return 0;
  bt_Device x = bt_dev(a), y = bt_dev(b);
  if (x.type == y.type && x.index == y.index) return 0;
  char nx[32], ny[32];
  return bt_seterr("%s: tensors are on different devices (%s and %s)", op, bt_device_name(x, nx),
                   bt_device_name(y, ny));
}

static int check_float(const char *op, const char *what, const bt_Tensor *t) {
  if (!t || bt_dtype_is_float(t->dtype)) return 0;
  return bt_seterr("%s: %s must be a float tensor, got %s of shape %s", op, what,
                   bt_dtype_name(t->dtype), bt_shp(t));
}

/* A raw view of contiguous t as [a, b, c] (no graph). */
static bt_Tensor *as3(bt_Tensor *t, int64_t a, int64_t b, int64_t c) {
  int64_t shape[3] = {a, b, c}, stride[3] = {b * c, c, 1};
  return bt_alias(t, 3, shape, stride, t->offset);
}

static bt_Tensor *as2(bt_Tensor *t, int64_t a, int64_t b) {
  int64_t shape[2] = {a, b}, stride[2] = {b, 1};
  return bt_alias(t, 2, shape, stride, t->offset);
}

/* t (retained) when it is contiguous of dtype dt, else a copy; NULL stays NULL. */
static bt_Tensor *dense(bt_Tensor *t, bt_DType dt) {
  return t ? bt_contiguous_as(t, dt) : NULL;
}

/* A differentiable cast of t to dt (t itself, retained, when it has it). */
static bt_Tensor *cast(bt_Tensor *t, bt_DType dt) {
  return t ? bt_to_dtype(t, dt) : NULL;
}

/* ---- batch norm ------------------------------------------------------------------------- */

/* The dims reduced by batch norm: all but dim 1. */
static unsigned bn_mask(int ndim) { return (((1u << ndim) - 1) & ~2u); }

/* Shape [1, C, 1, ...] of ndim dims. */
static void channel_shape(int ndim, int64_t C, int64_t *shape) {
  for (int d = 0; d < ndim; d++) shape[d] = d == 1 ? C : 1;
}

/* The closed form from differentiable ops (create_graph). Training: the
** statistics are recomputed from x so that they take part in the graph. */
static int batch_norm_backward_graph(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0], *mean = n->saved[1], *invstd = n->saved[2];
  bt_Tensor *w = n->i[1] ? n->saved[3] : NULL;
  bool training = n->i[0];
  unsigned mask = bn_mask(x->ndim);
  int64_t cs[BT_MAX_DIMS];
  channel_shape(x->ndim, x->shape[1], cs);
  bt_Tensor *mu = NULL, *xc = NULL, *x2 = NULL, *var = NULL, *ve = NULL, *is = NULL;
  if (training) {
    mu = bt_mean(x, mask, true);
    xc = mu ? bt_sub(x, mu) : NULL;
    x2 = xc ? bt_mul(xc, xc) : NULL;
    var = x2 ? bt_mean(x2, mask, true) : NULL;
    ve = var ? bt_add_scalar(var, n->d[0]) : NULL;
    is = ve ? bt_unary(BT_RSQRT, ve) : NULL;
  } else {
    mu = bt_reshape(mean, x->ndim, cs);
    xc = mu ? bt_sub(x, mu) : NULL;
    is = xc ? bt_reshape(invstd, x->ndim, cs) : NULL;
  }
  bt_Tensor *xhat = is ? bt_mul(xc, is) : NULL;
  bt_Tensor *gxh = xhat ? bt_mul(g, xhat) : NULL;
  int rc = gxh ? 0 : -1;
  if (rc == 0 && bt_ag_wants(n, 1) && !(gin[1] = bt_sum(gxh, mask, false))) rc = -1;
  if (rc == 0 && bt_ag_wants(n, 2) && !(gin[2] = bt_sum(g, mask, false))) rc = -1;
  if (rc == 0 && bt_ag_wants(n, 0)) {
    bt_Tensor *wv = w ? bt_reshape(w, x->ndim, cs) : NULL;
    bt_Tensor *gh = w ? (wv ? bt_mul(g, wv) : NULL) : (bt_retain(g), g);
    bt_Tensor *a = NULL, *ghx = NULL, *b = NULL, *bx = NULL, *d1 = NULL, *d2 = NULL;
    if (gh && training) {
      a = bt_mean(gh, mask, true);
      ghx = a ? bt_mul(gh, xhat) : NULL;
      b = ghx ? bt_mean(ghx, mask, true) : NULL;
      bx = b ? bt_mul(xhat, b) : NULL;
      d1 = bx ? bt_sub(gh, a) : NULL;
      d2 = d1 ? bt_sub(d1, bx) : NULL;
      gin[0] = d2 ? bt_mul(d2, is) : NULL;
    } else if (gh) {
      gin[0] = bt_mul(gh, is);
    }
    if (!gin[0]) rc = -1;
    BT_RELEASE(wv, gh, a, ghx, b, bx, d1, d2);
  }
  BT_RELEASE(mu, xc, x2, var, ve, is, xhat, gxh);
  return rc;
}

/* saved: x, mean, invstd, weight (when i[1]); i[0]: training; d[0]: eps. */
static int batch_norm_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_create_graph()) return batch_norm_backward_graph(n, g, gin);
  const char *op = "batch_norm_backward";
  bt_Tensor *x = n->saved[0], *mean = n->saved[1], *invstd = n->saved[2];
  bt_Tensor *w = n->i[1] ? n->saved[3] : NULL;
  int (*k)(bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
           const bt_Tensor *, const bt_Tensor *, const bt_Tensor *, bool, double) =
      BT_KERNEL(op, bt_dev(x), batch_norm_backward);
  if (!k) return -1;
  int64_t N = x->shape[0], C = x->shape[1], S = N && C ? bt_numel(x) / (N * C) : 0;
  bt_Tensor *xc = dense(x, x->dtype), *gc = xc ? dense(g, x->dtype) : NULL;
  bt_Tensor *wc = gc && w ? dense(w, x->dtype) : NULL;
  bt_Tensor *x3 = gc ? as3(xc, N, C, S) : NULL, *g3 = x3 ? as3(gc, N, C, S) : NULL;
  bt_Tensor *gx = NULL, *gx3 = NULL, *gw = NULL, *gb = NULL;
  int rc = g3 && (!w || wc) ? 0 : -1;
  if (rc == 0 && bt_ag_wants(n, 0)) {
    gx = bt_empty(x->ndim, x->shape, x->dtype, bt_dev(x));
    if (!gx || !(gx3 = as3(gx, N, C, S))) rc = -1;
  }
  if (rc == 0 && bt_ag_wants(n, 1) && !(gw = bt_empty(1, &C, x->dtype, bt_dev(x)))) rc = -1;
  if (rc == 0 && bt_ag_wants(n, 2) && !(gb = bt_empty(1, &C, x->dtype, bt_dev(x)))) rc = -1;
  if (rc == 0) rc = k(gx3, gw, gb, g3, x3, wc, mean, invstd, n->i[0], n->d[0]);
  if (rc == 0) {
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
  } else {
    BT_RELEASE(gx, gw, gb);
  }
  BT_RELEASE(xc, gc, wc, x3, g3, gx3);
  return rc;
}

static int check_channel_vec(const char *op, const char *what, const bt_Tensor *v,
                             const bt_Tensor *x) {
  if (!v) return 0;
  if (check_float(op, what, v) < 0 || same_device(op, v, x) < 0) return -1;
  if (v->ndim != 1 || v->shape[0] != x->shape[1])
    return bt_seterr("%s: %s %s does not match the %lld channels of input %s (expected [%lld])",
                     op, what, bt_shp(v), (long long)x->shape[1], bt_shp(x),
                     (long long)x->shape[1]);
  return 0;
}

static int check_batch_norm(const bt_Tensor *x, const bt_Tensor *rm, const bt_Tensor *rv,
                            const bt_Tensor *w, const bt_Tensor *b, bool training,
                            double momentum, double eps) {
  const char *op = "batch_norm";
  if (check_float(op, "input", x) < 0) return -1;
  if (x->ndim < 2)
    return bt_seterr("%s: expects input of shape [N, C] or [N, C, ...] (batch first, channels "
                     "second), got %s", op, bt_shp(x));
  if (check_channel_vec(op, "weight", w, x) < 0 || check_channel_vec(op, "bias", b, x) < 0 ||
      check_channel_vec(op, "running_mean", rm, x) < 0 ||
      check_channel_vec(op, "running_var", rv, x) < 0)
    return -1;
  if (!rm != !rv)
    return bt_seterr("%s: give both running_mean and running_var, or neither", op);
  if (!training && !rm)
    return bt_seterr("%s: evaluation (training = false) normalises with running_mean and "
                     "running_var: pass them, or set training = true", op);
  if (!(eps >= 0) || !isfinite(momentum))
    return bt_seterr("%s: eps must be >= 0 and momentum finite (got eps %g, momentum %g)", op, eps,
                     momentum);
  int64_t C = x->shape[1], per_channel = C ? bt_numel(x) / C : 0;
  if (training && C > 0 && per_channel <= 1)
    return bt_seterr("%s: expected more than 1 value per channel when training, got input %s",
                     op, bt_shp(x));
  return 0;
}

/* The running statistic as the kernel updates it: r itself when contiguous
** of dtype dt, else a copy that is written back afterwards. */
static int write_back(bt_Tensor *dst, bt_Tensor *src) {
  if (!dst || dst == src) {
    if (dst) bt_bump_version(dst);
    return 0;
  }
  bool prev = bt_set_grad_enabled(false);
  int rc = bt_copy_(dst, src);
  bt_set_grad_enabled(prev);
  return rc;
}

/* x, weight and bias of one dtype dt (f32 or f64). */
static bt_Tensor *batch_norm_fused(bt_Tensor *x, bt_Tensor *rm, bt_Tensor *rv, bt_Tensor *w,
                                   bt_Tensor *b, bool training, double momentum, double eps) {
  const char *op = "batch_norm";
  int (*k)(bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
           const bt_Tensor *, bt_Tensor *, bt_Tensor *, bool, double, double) =
      BT_KERNEL(op, bt_dev(x), batch_norm);
  if (!k) return NULL;
  if (training && ((rm && bt_ag_check_inplace(op, rm) < 0) || (rv && bt_ag_check_inplace(op, rv) < 0)))
    return NULL;
  bt_DType dt = x->dtype;
  int64_t N = x->shape[0], C = x->shape[1], S = N && C ? bt_numel(x) / (N * C) : 0;
  bt_Tensor *xc = dense(x, dt), *wc = dense(w, dt), *bc = dense(b, dt);
  bt_Tensor *rmc = dense(rm, dt), *rvc = dense(rv, dt);
  bt_Tensor *y = bt_empty(x->ndim, x->shape, dt, bt_dev(x));
  bt_Tensor *mean = bt_empty(1, &C, dt, bt_dev(x)), *invstd = bt_empty(1, &C, dt, bt_dev(x));
  bt_Tensor *x3 = xc && y ? as3(xc, N, C, S) : NULL, *y3 = x3 ? as3(y, N, C, S) : NULL;
  bool ok = y3 && mean && invstd && (!w || wc) && (!b || bc) && (!rm || rmc) && (!rv || rvc);
  if (ok) ok = k(y3, mean, invstd, x3, wc, bc, rmc, rvc, training, momentum, eps) == 0;
  if (ok && training) ok = write_back(rm, rmc) == 0 && write_back(rv, rvc) == 0;
  BT_RELEASE(xc, wc, bc, rmc, rvc, x3, y3);
  bt_Tensor *in[3] = {x, w, b};
  if (ok && bt_ag_needs(3, in)) {
    bt_Node *node = bt_ag_record("BatchNormBackward", batch_norm_backward, 3, in, y);
    if (!node) {
      ok = false;
    } else {
      node->i[0] = training;
      node->i[1] = w != NULL;
      node->d[0] = eps;
      bt_ag_save(node, x);
      bt_ag_save(node, mean);
      bt_ag_save(node, invstd);
      if (w) bt_ag_save(node, w);
    }
  }
  BT_RELEASE(mean, invstd);
  if (!ok) {
    bt_release(y);
    return NULL;
  }
  return y;
}

bt_Tensor *bt_batch_norm(bt_Tensor *x, bt_Tensor *running_mean, bt_Tensor *running_var,
                         bt_Tensor *weight, bt_Tensor *bias, bool training, double momentum,
                         double eps) {
  if (check_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps) < 0)
    return NULL;
  bt_DType dt = bt_compute_dtype(x->dtype);
  if (x->dtype == dt && (!weight || weight->dtype == dt) && (!bias || bias->dtype == dt))
    return batch_norm_fused(x, running_mean, running_var, weight, bias, training, momentum, eps);
  /* Mixed or half dtypes: compute in dt through differentiable casts. The
  ** GPU too: cuDNN wants f32 statistics and parameters for half inputs, and
  ** AMP keeps BatchNorm's parameters f32, so only x and y change dtype (two
  ** elementwise passes) and every kernel sees one dtype. */
  bt_Tensor *xc = cast(x, dt), *wc = cast(weight, dt), *bc = cast(bias, dt), *y = NULL;
  if (xc && (!weight || wc) && (!bias || bc))
    y = batch_norm_fused(xc, running_mean, running_var, wc, bc, training, momentum, eps);
  bt_Tensor *r = y ? cast(y, x->dtype) : NULL;
  BT_RELEASE(xc, wc, bc, y);
  return r;
}

/* ---- layer norm --------------------------------------------------------------------------- */

/* The normalised dims: the last i[2] of x. */
static unsigned ln_mask(int ndim, int nnorm) {
  unsigned m = 0;
  for (int d = ndim - nnorm; d < ndim; d++) m |= 1u << d;
  return m;
}

/* gx = invstd (gh - mean(gh) - xhat mean(gh xhat)) with gh = g w; gw = g
** xhat and gb = g, which the engine sums down to the weight's shape. */
static int layer_norm_backward_graph(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0], *w = n->i[0] ? n->saved[3] : NULL;
  unsigned mask = ln_mask(x->ndim, (int)n->i[1]);
  bt_Tensor *mu = bt_mean(x, mask, true), *xc = mu ? bt_sub(x, mu) : NULL;
  bt_Tensor *x2 = xc ? bt_mul(xc, xc) : NULL, *var = x2 ? bt_mean(x2, mask, true) : NULL;
  bt_Tensor *ve = var ? bt_add_scalar(var, n->d[0]) : NULL;
  bt_Tensor *is = ve ? bt_unary(BT_RSQRT, ve) : NULL, *xhat = is ? bt_mul(xc, is) : NULL;
  int rc = xhat ? 0 : -1;
  if (rc == 0 && bt_ag_wants(n, 1) && !(gin[1] = bt_mul(g, xhat))) rc = -1;
  if (rc == 0 && bt_ag_wants(n, 2)) {
    bt_retain(g);
    gin[2] = g;
  }
  if (rc == 0 && bt_ag_wants(n, 0)) {
    bt_Tensor *gh = w ? bt_mul(g, w) : (bt_retain(g), g);
    bt_Tensor *a = gh ? bt_mean(gh, mask, true) : NULL, *ghx = a ? bt_mul(gh, xhat) : NULL;
    bt_Tensor *b = ghx ? bt_mean(ghx, mask, true) : NULL, *bx = b ? bt_mul(xhat, b) : NULL;
    bt_Tensor *d1 = bx ? bt_sub(gh, a) : NULL, *d2 = d1 ? bt_sub(d1, bx) : NULL;
    if (!d2 || !(gin[0] = bt_mul(d2, is))) rc = -1;
    BT_RELEASE(gh, a, ghx, b, bx, d1, d2);
  }
  BT_RELEASE(mu, xc, x2, var, ve, is, xhat);
  return rc;
}

/* saved: x, mean, invstd, weight (when i[0]); i[1]: normalised dims; d[0]: eps. */
static int layer_norm_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_create_graph()) return layer_norm_backward_graph(n, g, gin);
  const char *op = "layer_norm_backward";
  bt_Tensor *x = n->saved[0], *mean = n->saved[1], *invstd = n->saved[2];
  bt_Tensor *w = n->i[0] ? n->saved[3] : NULL;
  int (*k)(bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
           const bt_Tensor *, const bt_Tensor *, const bt_Tensor *) =
      BT_KERNEL(op, bt_dev(x), layer_norm_backward);
  if (!k) return -1;
  int nn = (int)n->i[1], lead = x->ndim - nn;
  int64_t M = 1, K = 1;
  for (int d = 0; d < x->ndim; d++) *(d < lead ? &M : &K) *= x->shape[d];
  bt_Tensor *xc = dense(x, x->dtype), *gc = xc ? dense(g, x->dtype) : NULL;
  bt_Tensor *wc = gc && w ? dense(w, x->dtype) : NULL;
  bt_Tensor *x2 = gc ? as2(xc, M, K) : NULL, *g2 = x2 ? as2(gc, M, K) : NULL;
  bt_Tensor *gx = NULL, *gx2 = NULL, *gw = NULL, *gb = NULL;
  int rc = g2 && (!w || wc) ? 0 : -1;
  if (rc == 0 && bt_ag_wants(n, 0)) {
    gx = bt_empty(x->ndim, x->shape, x->dtype, bt_dev(x));
    if (!gx || !(gx2 = as2(gx, M, K))) rc = -1;
  }
  if (rc == 0 && bt_ag_wants(n, 1) && !(gw = bt_empty(nn, x->shape + lead, x->dtype, bt_dev(x))))
    rc = -1;
  if (rc == 0 && bt_ag_wants(n, 2) && !(gb = bt_empty(nn, x->shape + lead, x->dtype, bt_dev(x))))
    rc = -1;
  if (rc == 0) rc = k(gx2, gw, gb, g2, x2, wc, mean, invstd);
  if (rc == 0) {
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
  } else {
    BT_RELEASE(gx, gw, gb);
  }
  BT_RELEASE(xc, gc, wc, x2, g2, gx2);
  return rc;
}

static int check_layer_norm(const bt_Tensor *x, int nnorm, const int64_t *shape,
                            const bt_Tensor *w, const bt_Tensor *b, double eps) {
  const char *op = "layer_norm";
  if (check_float(op, "input", x) < 0) return -1;
  if (nnorm < 1 || nnorm > x->ndim)
    return bt_seterr("%s: normalized_shape %s must name 1 to %d trailing dims of input %s", op,
                     bt_shpn(BT_MAX(0, BT_MIN(nnorm, BT_MAX_DIMS)), shape), x->ndim, bt_shp(x));
  for (int d = 0; d < nnorm; d++)
    if (x->shape[x->ndim - nnorm + d] != shape[d])
      return bt_seterr("%s: input %s does not end with normalized_shape %s", op, bt_shp(x),
                       bt_shpn(nnorm, shape));
  const bt_Tensor *v[2] = {w, b};
  const char *names[2] = {"weight", "bias"};
  for (int i = 0; i < 2; i++) {
    if (!v[i]) continue;
    if (check_float(op, names[i], v[i]) < 0 || same_device(op, v[i], x) < 0) return -1;
    if (!bt_shape_eq(v[i], nnorm, shape))
      return bt_seterr("%s: %s %s does not match normalized_shape %s", op, names[i],
                       bt_shp(v[i]), bt_shpn(nnorm, shape));
  }
  if (!(eps >= 0)) return bt_seterr("%s: eps must be >= 0, got %g", op, eps);
  return 0;
}

static bt_Tensor *layer_norm_fused(bt_Tensor *x, int nnorm, bt_Tensor *w, bt_Tensor *b,
                                   double eps) {
  const char *op = "layer_norm";
  int (*k)(bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
           const bt_Tensor *, double) = BT_KERNEL(op, bt_dev(x), layer_norm);
  if (!k) return NULL;
  bt_DType dt = x->dtype;
  int lead = x->ndim - nnorm;
  int64_t M = 1, K = 1;
  for (int d = 0; d < x->ndim; d++) *(d < lead ? &M : &K) *= x->shape[d];
  bt_Tensor *xc = dense(x, dt), *wc = dense(w, dt), *bc = dense(b, dt);
  bt_Tensor *y = bt_empty(x->ndim, x->shape, dt, bt_dev(x));
  bt_Tensor *mean = bt_empty(1, &M, dt, bt_dev(x)), *invstd = bt_empty(1, &M, dt, bt_dev(x));
  bt_Tensor *x2 = xc && y ? as2(xc, M, K) : NULL, *y2 = x2 ? as2(y, M, K) : NULL;
  bool ok = y2 && mean && invstd && (!w || wc) && (!b || bc);
  if (ok) ok = k(y2, mean, invstd, x2, wc, bc, eps) == 0;
  BT_RELEASE(xc, wc, bc, x2, y2);
  bt_Tensor *in[3] = {x, w, b};
  if (ok && bt_ag_needs(3, in)) {
    bt_Node *node = bt_ag_record("LayerNormBackward", layer_norm_backward, 3, in, y);
    if (!node) {
      ok = false;
    } else {
      node->i[0] = w != NULL;
      node->i[1] = nnorm;
      node->d[0] = eps;
      bt_ag_save(node, x);
      bt_ag_save(node, mean);
      bt_ag_save(node, invstd);
      if (w) bt_ag_save(node, w);
    }
  }
  BT_RELEASE(mean, invstd);
  if (!ok) {
    bt_release(y);
    return NULL;
  }
  return y;
}

bt_Tensor *bt_layer_norm(bt_Tensor *x, int nnorm, const int64_t *normalized_shape,
                         bt_Tensor *weight, bt_Tensor *bias, double eps) {
  if (check_layer_norm(x, nnorm, normalized_shape, weight, bias, eps) < 0) return NULL;
  bt_DType dt = bt_compute_dtype(x->dtype);
  if (x->dtype == dt && (!weight || weight->dtype == dt) && (!bias || bias->dtype == dt))
    return layer_norm_fused(x, nnorm, weight, bias, eps);
  bt_Tensor *xc = cast(x, dt), *wc = cast(weight, dt), *bc = cast(bias, dt), *y = NULL;
  if (xc && (!weight || wc) && (!bias || bc)) y = layer_norm_fused(xc, nnorm, wc, bc, eps);
  bt_Tensor *r = y ? cast(y, x->dtype) : NULL;
  BT_RELEASE(xc, wc, bc, y);
  return r;
}

/* ---- dropout ---------------------------------------------------------------------------- */

/* saved: the mask (bool); d[0]: the scale 1/(1-p). */
static int dropout_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *mask = n->saved[0];
  double scale = n->d[0];
  if (bt_ag_create_graph()) {
    bt_Tensor *m = bt_to_dtype(mask, g->dtype), *gm = m ? bt_mul(g, m) : NULL;
    gin[0] = gm ? bt_mul_scalar(gm, scale) : NULL;
    BT_RELEASE(m, gm);
    return gin[0] ? 0 : -1;
  }
  const char *op = "dropout_backward";
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, double) =
      BT_KERNEL(op, bt_dev(g), dropout_backward);
  if (!k) return -1;
  bt_DType dt = bt_compute_dtype(g->dtype);
  bt_Tensor *gc = dense(g, dt), *gx = gc ? bt_empty(g->ndim, g->shape, dt, bt_dev(g)) : NULL;
  if (gx && k(gx, gc, mask, scale) < 0) {
    bt_release(gx);
    gx = NULL;
  }
  bt_release(gc);
  gin[0] = gx;
  return gx ? 0 : -1;
}

static bt_Tensor *dropout_fused(bt_Tensor *x, double p) {
  const char *op = "dropout";
  int (*k)(bt_Tensor *, bt_Tensor *, const bt_Tensor *, double, uint64_t, uint64_t) =
      BT_KERNEL(op, bt_dev(x), dropout);
  if (!k) return NULL;
  bt_Tensor *xc = dense(x, x->dtype);
  bt_Tensor *y = xc ? bt_empty(x->ndim, x->shape, x->dtype, bt_dev(x)) : NULL;
  bt_Tensor *mask = y ? bt_empty(x->ndim, x->shape, BT_BOOL, bt_dev(x)) : NULL;
  bool ok = mask != NULL;
  if (ok) {
    uint64_t seed, counter = bt_random_reserve((uint64_t)bt_numel(x), &seed);
    ok = k(y, mask, xc, p, seed, counter) == 0;
  }
  if (ok && bt_ag_needs(1, &x)) {
    bt_Node *node = bt_ag_record("DropoutBackward", dropout_backward, 1, &x, y);
    if (!node) {
      ok = false;
    } else {
      node->d[0] = p < 1 ? 1 / (1 - p) : 0;
      bt_ag_save(node, mask);
    }
  }
  BT_RELEASE(xc, mask);
  if (!ok) {
    bt_release(y);
    return NULL;
  }
  return y;
}

bt_Tensor *bt_dropout(bt_Tensor *x, double p, bool training) {
  const char *op = "dropout";
  if (!(p >= 0 && p <= 1))
    return bt_seterr("%s: probability p must be in [0, 1], got %g", op, p), NULL;
  if (check_float(op, "input", x) < 0) return NULL;
  if (!training || p == 0) {
    bt_retain(x);
    return x;
  }
  bt_DType dt = bt_compute_dtype(x->dtype);
  if (dt == x->dtype) return dropout_fused(x, p);
  bt_Tensor *xc = cast(x, dt), *y = xc ? dropout_fused(xc, p) : NULL;
  bt_Tensor *r = y ? cast(y, x->dtype) : NULL;
  BT_RELEASE(xc, y);
  return r;
}

/* ---- embedding -------------------------------------------------------------------------- */

/* From differentiable ops: rows of g whose id counts are index_added into
** zeros (ids of -1 and padding_idx masked out). */
static int embedding_backward_graph(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *ids = n->saved[0];
  int64_t V = n->i[1], D = g->shape[g->ndim - 1], rows = bt_numel(ids);
  int64_t s2[2] = {rows, D}, s1[2] = {rows, 1}, ws[2] = {V, D};
  bt_Tensor *keep = bt_binary_scalar(BT_GE, ids, 0, false);
  bt_Tensor *notpad = keep ? bt_binary_scalar(BT_NE, ids, (double)n->i[0], false) : NULL;
  bt_Tensor *valid = notpad ? bt_binary(BT_LOGICAL_AND, keep, notpad) : NULL;
  bt_Tensor *vf = valid ? bt_to_dtype(valid, g->dtype) : NULL;
  bt_Tensor *vcol = vf ? bt_reshape(vf, 2, s1) : NULL;
  bt_Tensor *g2 = vcol ? bt_reshape(g, 2, s2) : NULL, *gm = g2 ? bt_mul(g2, vcol) : NULL;
  bt_Tensor *idc = gm ? bt_clamp(ids, 0, (double)(V - 1)) : NULL;
  bt_Tensor *idf = idc ? bt_reshape(idc, 1, &rows) : NULL;
  bt_Tensor *z = idf ? bt_zeros(2, ws, g->dtype, bt_dev(g)) : NULL;
  gin[0] = z ? bt_index_add(z, 0, idf, gm) : NULL;
  BT_RELEASE(keep, notpad, valid, vf, vcol, g2, gm, idc, idf, z);
  return gin[0] ? 0 : -1;
}

/* saved: ids (contiguous); i[0]: padding_idx; i[1]: the number of rows V. */
static int embedding_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_create_graph()) return embedding_backward_graph(n, g, gin);
  const char *op = "embedding_backward";
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, int64_t) =
      BT_KERNEL(op, bt_dev(g), embedding_backward);
  if (!k) return -1;
  bt_Tensor *ids = n->saved[0];
  int64_t V = n->i[1], D = g->shape[g->ndim - 1], rows = bt_numel(ids), ws[2] = {V, D};
  bt_DType dt = bt_compute_dtype(g->dtype);
  bt_Tensor *gc = dense(g, dt), *g2 = gc ? as2(gc, rows, D) : NULL;
  bt_Tensor *gw = g2 ? bt_empty(2, ws, dt, bt_dev(g)) : NULL;
  if (gw && k(gw, g2, ids, n->i[0]) < 0) {
    bt_release(gw);
    gw = NULL;
  }
  BT_RELEASE(gc, g2);
  gin[0] = gw;
  return gw ? 0 : -1;
}

bt_Tensor *bt_embedding(bt_Tensor *ids, bt_Tensor *weight, int64_t padding_idx) {
  const char *op = "embedding";
  if (ids->dtype != BT_I64 && ids->dtype != BT_I32)
    return bt_seterr("%s: ids must be an integer tensor (i64) of 1-based ids, got %s of shape %s",
                     op, bt_dtype_name(ids->dtype), bt_shp(ids)), NULL;
  if (weight->ndim != 2)
    return bt_seterr("%s: weight must be 2-D [num_embeddings x embedding_dim], got %s", op,
                     bt_shp(weight)), NULL;
  if (same_device(op, ids, weight) < 0) return NULL;
  int64_t V = weight->shape[0], D = weight->shape[1];
  if (padding_idx < -1 || padding_idx >= V)
    return bt_seterr("%s: padding_idx %lld is out of range for %lld embeddings (1..%lld)", op,
                     (long long)padding_idx + 1, (long long)V, (long long)V), NULL;
  if (ids->ndim >= BT_MAX_DIMS)
    return bt_seterr("%s: ids of shape %s already have %d dims", op, bt_shp(ids), BT_MAX_DIMS), NULL;
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *) = BT_KERNEL(op, bt_dev(ids), embedding);
  if (!k) return NULL;
  int64_t shape[BT_MAX_DIMS], rows = bt_numel(ids);
  memcpy(shape, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
  shape[ids->ndim] = D;
  bt_Tensor *ic = dense(ids, ids->dtype), *wc = ic ? dense(weight, weight->dtype) : NULL;
  bt_Tensor *out = wc ? bt_empty(ids->ndim + 1, shape, weight->dtype, bt_dev(weight)) : NULL;
  bt_Tensor *i1 = out ? bt_alias(ic, 1, &rows, (int64_t[]){1}, ic->offset) : NULL;
  bt_Tensor *o2 = i1 ? as2(out, rows, D) : NULL;
  bool ok = o2 && k(o2, i1, wc) == 0;
  if (ok && bt_dtype_is_float(weight->dtype) && bt_ag_needs(1, &weight)) {
    bt_Node *node = bt_ag_record("EmbeddingBackward", embedding_backward, 1, &weight, out);
    if (!node) {
      ok = false;
    } else {
      node->i[0] = padding_idx;
      node->i[1] = V;
      bt_ag_save(node, i1);
    }
  }
  BT_RELEASE(ic, wc, i1, o2);
  if (!ok) {
    bt_release(out);
    return NULL;
  }
  return out;
}
