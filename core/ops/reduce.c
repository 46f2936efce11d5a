/*
** ops/reduce.c: reductions and their backward rules: sum, mean, prod, var,
** std, norm, logsumexp, max/min (all, or one dim with indices), argmax,
** argmin, cumsum, cumprod, sum_to, any, all.
**
** Dims to reduce are a bit mask (bit d = dim d); BT_REDUCE_ALL or 0 reduces
** every dim. Without keepdim the reduced dims are dropped.
**
** Under autocast (autocast.h) sum, mean, prod, var, std, norm, logsumexp,
** cumsum and cumprod are f32 ops: they take f16 and bf16 inputs in f32.
*/
#include "internal.h"
#include "autograd.h"
#include "autocast.h"

static unsigned all_dims(int ndim) { return ndim >= 32 ? ~0u : (1u << ndim) - 1; }

static unsigned norm_mask(unsigned dims, int ndim) {
  return dims == 0 || dims == BT_REDUCE_ALL ? all_dims(ndim) : dims & all_dims(ndim);
}

/* Shape with reduced dims set to 1 (keep) or dropped. */
static int reduced_shape(const bt_Tensor *t, unsigned mask, bool keepdim, int64_t *shape) {
  int n = 0;
  for (int d = 0; d < t->ndim; d++) {
    if ((mask >> d) & 1) {
      if (keepdim) shape[n++] = 1;
    } else {
      shape[n++] = t->shape[d];
    }
  }
  return n;
}

static int64_t reduced_count(const bt_Tensor *t, unsigned mask) {
  int64_t c = 1;
  for (int d = 0; d < t->ndim; d++)
    if ((mask >> d) & 1) c *= t->shape[d];
  return c;
}

/* Runs the reduce kernel into a new tensor of dtype dt. */
static bt_Tensor *reduce_raw(const char *name, bt_ReduceOp op, bt_Tensor *t, unsigned mask,
                             bool keepdim, bt_DType dt) {
  int64_t kshape[BT_MAX_DIMS], shape[BT_MAX_DIMS];
  reduced_shape(t, mask, true, kshape);
  int n = reduced_shape(t, mask, keepdim, shape);
  int (*k)(bt_ReduceOp, bt_Tensor *, const bt_Tensor *, unsigned) = BT_KERNEL(name, t->storage->device, reduce);
  if (!k) return NULL;
  if ((op == BT_RED_MAX || op == BT_RED_MIN) && reduced_count(t, mask) == 0)
    return bt_seterr("%s: cannot reduce an empty tensor of shape %s", name, bt_shp(t)), NULL;
  bt_Tensor *out = bt_empty(n, shape, dt, t->storage->device);
  if (!out) return NULL;
  int64_t kstride[BT_MAX_DIMS];
  bt_contiguous_strides(t->ndim, kshape, kstride);
  bt_Tensor *kview = bt_alias(out, t->ndim, kshape, kstride, 0);
  int rc = kview ? k(op, kview, t, mask) : -1;
  bt_release(kview);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  return out;
}

/* The gradient of a reduction, broadcast back: g reshaped to keepdim shape
** and expanded to the input's shape. */
static bt_Tensor *expand_back(bt_Tensor *g, const bt_Node *n) {
  const bt_Edge *e = &n->next[0];
  unsigned mask = (unsigned)n->i[0];
  int64_t kshape[BT_MAX_DIMS];
  for (int d = 0; d < e->ndim; d++) kshape[d] = (mask >> d) & 1 ? 1 : e->shape[d];
  bt_Tensor *r = bt_reshape(g, e->ndim, kshape);
  bt_Tensor *x = r ? bt_expand(r, e->ndim, e->shape) : NULL;
  bt_release(r);
  return x;
}

static int sum_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = expand_back(g, n);
  return gin[0] ? 0 : -1;
}

static int mean_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = expand_back(g, n);
  gin[0] = x ? bt_mul_scalar(x, n->d[0]) : NULL;
  bt_release(x);
  return gin[0] ? 0 : -1;
}

static bt_Tensor *record_reduce(bt_Tensor *out, bt_Tensor *t, const char *name, bt_BackwardFn fn,
                                unsigned mask, double d0) {
  if (!out || !bt_ag_needs(1, &t)) return out;
  bt_Node *node = bt_ag_record(name, fn, 1, &t, out);
  if (!node) {
    bt_release(out);
    return NULL;
  }
  node->i[0] = mask;
  node->d[0] = d0;
  return out;
}

static bt_DType sum_dtype(bt_DType d) { return bt_dtype_is_float(d) ? d : BT_I64; }

bt_Tensor *bt_sum(bt_Tensor *t, unsigned dims, bool keepdim) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? bt_sum(ac[0], dims, keepdim) : NULL);
  unsigned mask = norm_mask(dims, t->ndim);
  bt_Tensor *out = reduce_raw("sum", BT_RED_SUM, t, mask, keepdim, sum_dtype(t->dtype));
  return record_reduce(out, t, "SumBackward", sum_backward, mask, 0);
}

bt_Tensor *bt_mean(bt_Tensor *t, unsigned dims, bool keepdim) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? bt_mean(ac[0], dims, keepdim) : NULL);
  unsigned mask = norm_mask(dims, t->ndim);
  if (!bt_dtype_is_float(t->dtype))   /* as PyTorch: an integer sum could wrap */
    return bt_seterr("mean: needs a float tensor, got %s (cast with :float() or :double())",
                     bt_dtype_name(t->dtype)), NULL;
  bt_DType dt = bt_dtype_is_float(t->dtype) ? t->dtype : BT_F32;
  bt_Tensor *out = reduce_raw("mean", BT_RED_SUM, t, mask, keepdim, dt);
  if (!out) return NULL;
  int64_t count = reduced_count(t, mask);
  double scale = count ? 1.0 / (double)count : NAN;
  bt_Tensor *m = bt_mul_scalar(out, scale);   /* out is not in the graph: plain scaling */
  bt_release(out);
  return record_reduce(m, t, "MeanBackward", mean_backward, mask, scale);
}

/* A 0-dim constant of dtype dt that broadcasts like a Lua number. */
static bt_Tensor *constant(double v, bt_DType dt) {
  bt_Tensor *c = bt_scalar(v, dt);
  if (c) c->wrapped_number = true;
  return c;
}

/* d prod / d x_i is the product of the other elements of x_i's slice: with
** no zero in the slice, prod / x_i; with exactly one zero, the product of the
** nonzeros at the zero and 0 elsewhere; with more zeros, 0 everywhere. */
static int prod_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0];
  unsigned mask = (unsigned)n->i[0];
  bt_Tensor *one = constant(1, x->dtype), *zero = constant(0, x->dtype);
  bt_Tensor *z = bt_binary_scalar(BT_EQ, x, 0, false);
  bt_Tensor *x_nz = z && one ? bt_where(z, one, x) : NULL;
  bt_Tensor *p_nz = x_nz ? bt_prod(x_nz, mask, true) : NULL;
  bt_Tensor *count = z ? bt_sum(z, mask, true) : NULL;
  bt_Tensor *none = count ? bt_binary_scalar(BT_EQ, count, 0, false) : NULL;
  bt_Tensor *single = count ? bt_binary_scalar(BT_EQ, count, 1, false) : NULL;
  bt_Tensor *at_zero = single && z ? bt_binary(BT_LOGICAL_AND, single, z) : NULL;
  bt_Tensor *others = p_nz ? bt_div(p_nz, x_nz) : NULL;
  bt_Tensor *r1 = at_zero && p_nz && zero ? bt_where(at_zero, p_nz, zero) : NULL;
  bt_Tensor *r = none && others && r1 ? bt_where(none, others, r1) : NULL;
  bt_Tensor *gx = r ? expand_back(g, n) : NULL;
  gin[0] = gx ? bt_mul(gx, r) : NULL;
  bt_Tensor *tmp[] = {one, zero, z, x_nz, p_nz, count, none, single, at_zero, others, r1, r, gx};
  for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) bt_release(tmp[i]);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_prod(bt_Tensor *t, unsigned dims, bool keepdim) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? bt_prod(ac[0], dims, keepdim) : NULL);
  unsigned mask = norm_mask(dims, t->ndim);
  bt_Tensor *out = reduce_raw("prod", BT_RED_PROD, t, mask, keepdim, sum_dtype(t->dtype));
  out = record_reduce(out, t, "ProdBackward", prod_backward, mask, 0);
  if (out && out->grad_fn && out->grad_fn->backward == prod_backward) bt_ag_save(out->grad_fn, t);
  return out;
}

/* ---- composites (differentiable through their parts) ------------------------ */

bt_Tensor *bt_var(bt_Tensor *t, unsigned dims, int correction, bool keepdim) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? bt_var(ac[0], dims, correction, keepdim) : NULL);
  unsigned mask = norm_mask(dims, t->ndim);
  bt_Tensor *x = bt_dtype_is_float(t->dtype) ? (bt_retain(t), t) : bt_to_dtype(t, BT_F32);
  bt_Tensor *m = x ? bt_mean(x, mask, true) : NULL;
  bt_Tensor *d = m ? bt_sub(x, m) : NULL;
  bt_Tensor *d2 = d ? bt_mul(d, d) : NULL;
  bt_Tensor *s = d2 ? bt_sum(d2, mask, keepdim) : NULL;
  int64_t n = reduced_count(t, mask) - correction;
  bt_Tensor *v = s ? bt_mul_scalar(s, n > 0 ? 1.0 / (double)n : NAN) : NULL;
  bt_release(x); bt_release(m); bt_release(d); bt_release(d2); bt_release(s);
  return v;
}

bt_Tensor *bt_std(bt_Tensor *t, unsigned dims, int correction, bool keepdim) {
  bt_Tensor *v = bt_var(t, dims, correction, keepdim);
  bt_Tensor *s = v ? bt_unary(BT_SQRT, v) : NULL;
  bt_release(v);
  return s;
}

/* d ||x|| / dx = x / ||x||, taken as 0 where the norm is 0 (PyTorch's
** choice: a subgradient, and no NaN in gradient penalties). */
static int norm2_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0];
  unsigned mask = (unsigned)n->i[0];
  bt_Tensor *nrm = bt_norm(x, 2, mask, true);   /* differentiable, for double backward */
  bt_Tensor *zero = constant(0, x->dtype);
  bt_Tensor *is0 = nrm ? bt_binary_scalar(BT_EQ, nrm, 0, false) : NULL;
  bt_Tensor *one = constant(1, x->dtype);
  bt_Tensor *safe = is0 && one ? bt_where(is0, one, nrm) : NULL;
  bt_Tensor *q = safe ? bt_div(x, safe) : NULL;
  bt_Tensor *ratio = q && zero ? bt_where(is0, zero, q) : NULL;
  bt_Tensor *gx = ratio ? expand_back(g, n) : NULL;
  gin[0] = gx ? bt_mul(gx, ratio) : NULL;
  bt_Tensor *tmp[] = {nrm, zero, is0, one, safe, q, ratio, gx};
  for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) bt_release(tmp[i]);
  return gin[0] ? 0 : -1;
}

static bt_Tensor *norm2(bt_Tensor *t, unsigned mask, bool keepdim) {
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *x = bt_dtype_is_float(t->dtype) ? (bt_retain(t), t) : bt_to_dtype(t, BT_F32);
  bt_Tensor *x2 = x ? bt_mul(x, x) : NULL, *s = x2 ? bt_sum(x2, mask, keepdim) : NULL;
  bt_Tensor *r = s ? bt_unary(BT_SQRT, s) : NULL;
  bt_set_grad_enabled(prev);
  bt_release(x2);
  bt_release(s);
  if (r && bt_dtype_is_float(t->dtype) && bt_ag_needs(1, &t)) {
    bt_Node *node = bt_ag_record("NormBackward", norm2_backward, 1, &t, r);
    if (!node) {
      bt_release(r);
      r = NULL;
    } else {
      node->i[0] = mask;
      bt_ag_save(node, t);
    }
  }
  bt_release(x);
  return r;
}

bt_Tensor *bt_norm(bt_Tensor *t, double p, unsigned dims, bool keepdim) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? bt_norm(ac[0], p, dims, keepdim) : NULL);
  unsigned mask = norm_mask(dims, t->ndim);
  bt_Tensor *a = bt_unary(BT_ABS, t), *r = NULL;
  if (!a) return NULL;
  if (isinf(p)) {
    bt_Tensor *m = NULL, *idx = NULL;
    if (mask == all_dims(t->ndim)) {
      r = p > 0 ? bt_max_all(a) : bt_min_all(a);
      if (r && keepdim) {
        int64_t ones[BT_MAX_DIMS];
        for (int d = 0; d < t->ndim; d++) ones[d] = 1;
        bt_Tensor *k = bt_reshape(r, t->ndim, ones);
        bt_release(r);
        r = k;
      }
    } else {
      bt_seterr("norm: the infinity norm reduces one dim or all");
      for (int d = 0; d < t->ndim; d++)
        if (mask == 1u << d) {
          if ((p > 0 ? bt_max_dim(a, d, keepdim, &m, &idx) : bt_min_dim(a, d, keepdim, &m, &idx)) == 0) r = m;
          bt_release(idx);
        }
    }
  } else if (p == 2) {
    r = norm2(t, mask, keepdim);
  } else if (p == 1) {
    r = bt_sum(a, mask, keepdim);
  } else {
    bt_Tensor *ap = bt_pow_scalar(a, p), *s = ap ? bt_sum(ap, mask, keepdim) : NULL;
    r = s ? bt_pow_scalar(s, 1 / p) : NULL;
    bt_release(ap);
    bt_release(s);
  }
  bt_release(a);
  return r;
}

/* log(sum(exp(x - m))) + m with m = max (held constant: the gradient of the
** shift cancels), so large values do not overflow. */
bt_Tensor *bt_logsumexp(bt_Tensor *t, unsigned dims, bool keepdim) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? bt_logsumexp(ac[0], dims, keepdim) : NULL);
  unsigned mask = norm_mask(dims, t->ndim);
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *m = reduce_raw("logsumexp", BT_RED_MAX, t, mask, true,
                            bt_dtype_is_float(t->dtype) ? t->dtype : BT_F32);
  bt_set_grad_enabled(prev);
  if (!m) return NULL;
  /* An infinite max would give inf - inf: shift by 0 there. */
  bt_Tensor *fin = bt_unary(BT_ISINF, m);
  bt_Tensor *zero = bt_zeros(0, NULL, m->dtype, BT_CPU_DEVICE);
  if (zero) zero->wrapped_number = true;   /* joins m on any device */
  bt_Tensor *ms = fin && zero ? bt_where(fin, zero, m) : NULL;
  bt_Tensor *d = ms ? bt_sub(t, ms) : NULL, *e = d ? bt_unary(BT_EXP, d) : NULL;
  bt_Tensor *s = e ? bt_sum(e, mask, keepdim) : NULL, *l = s ? bt_unary(BT_LOG, s) : NULL;
  bt_Tensor *msq = NULL;
  if (ms && !keepdim) {
    int64_t shape[BT_MAX_DIMS];
    int n = reduced_shape(t, mask, false, shape);
    msq = bt_reshape(ms, n, shape);
  }
  bt_Tensor *r = l ? bt_add(l, keepdim ? ms : msq) : NULL;
  bt_release(m); bt_release(fin); bt_release(zero); bt_release(ms); bt_release(d);
  bt_release(e); bt_release(s); bt_release(l); bt_release(msq);
  return r;
}

/* ---- max / min ------------------------------------------------------------------- */

/* Over all elements: ties share the gradient equally (PyTorch's rule). */
static int maxall_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0], *y = n->saved[1];
  bt_Tensor *eq = bt_binary(BT_EQ, x, y), *mask = eq ? bt_to_dtype(eq, g->dtype) : NULL;
  bt_Tensor *cnt = mask ? bt_sum(mask, BT_REDUCE_ALL, false) : NULL;
  bt_Tensor *share = cnt ? bt_div(g, cnt) : NULL;
  gin[0] = share ? bt_mul(mask, share) : NULL;
  bt_release(eq); bt_release(mask); bt_release(cnt); bt_release(share);
  return gin[0] ? 0 : -1;
}

static bt_Tensor *minmax_all(bt_Tensor *t, bt_ReduceOp op, const char *name) {
  bt_Tensor *out = reduce_raw(name, op, t, all_dims(t->ndim), false, t->dtype);
  if (out && bt_dtype_is_float(t->dtype) && bt_ag_needs(1, &t)) {
    bt_Node *node = bt_ag_record(op == BT_RED_MAX ? "MaxBackward" : "MinBackward", maxall_backward,
                                 1, &t, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    bt_ag_save(node, t);
    bt_ag_save_output(node, out);
  }
  return out;
}

bt_Tensor *bt_max_all(bt_Tensor *t) { return minmax_all(t, BT_RED_MAX, "max"); }
bt_Tensor *bt_min_all(bt_Tensor *t) { return minmax_all(t, BT_RED_MIN, "min"); }

/* Along a dim: the gradient goes to the chosen index (the first on ties). */
static int maxdim_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_Edge *e = &n->next[0];
  int dim = (int)n->i[0];
  bool keepdim = n->i[1];
  bt_Tensor *idx = n->saved[0];   /* keepdim-shaped i64 */
  int64_t ashape[BT_MAX_DIMS];
  for (int d = 0; d < e->ndim; d++) ashape[d] = d == dim ? e->shape[d] : 1;
  bt_Tensor *ar0 = bt_arange(0, 1, e->shape[dim], BT_I64);
  bt_Tensor *ar = ar0 ? bt_to_device(ar0, idx->storage->device) : NULL;   /* idx's device */
  bt_release(ar0);
  bt_Tensor *arv = ar ? bt_reshape(ar, e->ndim, ashape) : NULL;
  bt_Tensor *hit = arv ? bt_binary(BT_EQ, arv, idx) : NULL;
  bt_Tensor *mask = hit ? bt_to_dtype(hit, g->dtype) : NULL;
  bt_Tensor *gk = keepdim ? (bt_retain(g), g) : bt_unsqueeze(g, dim);
  gin[0] = mask && gk ? bt_mul(mask, gk) : NULL;
  bt_release(ar); bt_release(arv); bt_release(hit); bt_release(mask); bt_release(gk);
  return gin[0] ? 0 : -1;
}

static int minmax_dim(bt_Tensor *t, int dim, bool keepdim, bt_ReduceOp op, bt_Tensor **values,
                      bt_Tensor **indices) {
  const char *name = op == BT_RED_MAX ? "max" : "min";
  *values = *indices = NULL;
  if ((dim = bt_wrap_dim(name, dim, t->ndim)) < 0) return -1;
  int64_t shape[BT_MAX_DIMS], kshape[BT_MAX_DIMS];
  unsigned mask = t->ndim ? 1u << dim : 0;
  int n = reduced_shape(t, mask, keepdim, shape);
  reduced_shape(t, mask, true, kshape);
  if (t->ndim && t->shape[dim] == 0)
    return bt_seterr("%s: cannot reduce dim %d of size 0 (shape %s)", name, dim + 1, bt_shp(t));
  int (*k)(bt_ReduceOp, bt_Tensor *, bt_Tensor *, const bt_Tensor *, int) =
      BT_KERNEL(name, t->storage->device, arg_reduce);
  if (!k) return -1;
  bt_Tensor *v = bt_empty(t->ndim, kshape, t->dtype, t->storage->device);
  bt_Tensor *ix = bt_empty(t->ndim, kshape, BT_I64, t->storage->device);
  int rc = -1;
  if (v && ix) {
    if (t->ndim == 0) {
      rc = bt_copy_(v, t);
      if (rc == 0) rc = bt_fill_(ix, 0);
    } else {
      rc = k(op, v, ix, t, dim);
    }
  }
  bt_Tensor *vo = NULL, *io = NULL;
  if (rc == 0) {
    vo = bt_reshape(v, n, shape);
    io = bt_reshape(ix, n, shape);
  }
  if (vo && io && bt_dtype_is_float(t->dtype) && bt_ag_needs(1, &t)) {
    bt_Node *node = bt_ag_record(op == BT_RED_MAX ? "MaxBackward" : "MinBackward",
                                 maxdim_backward, 1, &t, vo);
    if (!node) rc = -1;
    else {
      node->i[0] = dim;
      node->i[1] = keepdim;
      bt_ag_save(node, ix);
    }
  }
  bt_release(v);
  bt_release(ix);
  if (rc < 0 || !vo || !io) {
    bt_release(vo);
    bt_release(io);
    return -1;
  }
  *values = vo;
  *indices = io;
  return 0;
}

int bt_max_dim(bt_Tensor *t, int dim, bool keepdim, bt_Tensor **values, bt_Tensor **indices) {
  return minmax_dim(t, dim, keepdim, BT_RED_MAX, values, indices);
}

int bt_min_dim(bt_Tensor *t, int dim, bool keepdim, bt_Tensor **values, bt_Tensor **indices) {
  return minmax_dim(t, dim, keepdim, BT_RED_MIN, values, indices);
}

static bt_Tensor *arg_minmax(bt_Tensor *t, int dim, bool keepdim, bt_ReduceOp op) {
  bt_Tensor *v = NULL, *ix = NULL;
  bool prev = bt_set_grad_enabled(false);
  int rc;
  if (dim == BT_ALL_DIMS) {
    int64_t n = bt_numel(t);
    bt_Tensor *flat = bt_reshape(t, 1, &n);
    rc = flat ? minmax_dim(flat, 0, false, op, &v, &ix) : -1;
    bt_release(flat);
    if (rc == 0 && keepdim) {
      int64_t ones[BT_MAX_DIMS];
      for (int d = 0; d < t->ndim; d++) ones[d] = 1;
      bt_Tensor *k = bt_reshape(ix, t->ndim, ones);
      bt_release(ix);
      ix = k;
    }
  } else {
    rc = minmax_dim(t, dim, keepdim, op, &v, &ix);
  }
  bt_set_grad_enabled(prev);
  bt_release(v);
  return rc < 0 ? NULL : ix;
}

bt_Tensor *bt_argmax(bt_Tensor *t, int dim, bool keepdim) { return arg_minmax(t, dim, keepdim, BT_RED_MAX); }
bt_Tensor *bt_argmin(bt_Tensor *t, int dim, bool keepdim) { return arg_minmax(t, dim, keepdim, BT_RED_MIN); }

/* ---- cumulative --------------------------------------------------------------------- */

/* d cumsum: the reversed cumulative sum of g, = sum(g) - cumsum(g) + g. */
static bt_Tensor *reverse_cumsum(bt_Tensor *g, int dim) {
  bt_Tensor *tot = bt_sum(g, 1u << dim, true), *cs = bt_cumsum(g, dim);
  bt_Tensor *d = tot && cs ? bt_sub(tot, cs) : NULL, *r = d ? bt_add(d, g) : NULL;
  bt_release(tot); bt_release(cs); bt_release(d);
  return r;
}

static int cumsum_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = reverse_cumsum(g, (int)n->i[0]);
  return gin[0] ? 0 : -1;
}

/* d cumprod (no zero inputs): reverse_cumsum(g * out) / x. */
static int cumprod_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *x = n->saved[0], *y = bt_cumprod(x, (int)n->i[0]);
  bt_Tensor *gy = y ? bt_mul(g, y) : NULL, *r = gy ? reverse_cumsum(gy, (int)n->i[0]) : NULL;
  gin[0] = r ? bt_div(r, x) : NULL;
  bt_release(y); bt_release(gy); bt_release(r);
  return gin[0] ? 0 : -1;
}

static bt_Tensor *cumulative(bt_Tensor *t, int dim, bt_CumOp op) {
  bt_Tensor *ac[1] = {t};   /* autocast: an f32 op */
  int acr = bt_autocast_args(BT_AUTOCAST_F32, 1, ac);
  if (acr) return bt_autocast_done(1, ac, acr > 0 ? cumulative(ac[0], dim, op) : NULL);
  const char *name = op == BT_CUM_SUM ? "cumsum" : "cumprod";
  if ((dim = bt_wrap_dim(name, dim, t->ndim)) < 0) return NULL;
  if (t->ndim == 0) return bt_clone(t);
  int (*k)(bt_CumOp, bt_Tensor *, const bt_Tensor *, int) = BT_KERNEL(name, t->storage->device, cumulative);
  if (!k) return NULL;
  bt_DType dt = sum_dtype(t->dtype);
  bt_Tensor *in = bt_contiguous_as(t, dt);
  bt_Tensor *out = in ? bt_empty(t->ndim, t->shape, dt, t->storage->device) : NULL;
  int rc = out ? k(op, out, in, dim) : -1;
  bt_release(in);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  if (bt_dtype_is_float(dt) && bt_ag_needs(1, &t)) {
    bt_Node *node = bt_ag_record(op == BT_CUM_SUM ? "CumsumBackward" : "CumprodBackward",
                                 op == BT_CUM_SUM ? cumsum_backward : cumprod_backward, 1, &t, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    node->i[0] = dim;
    if (op == BT_CUM_PROD) bt_ag_save(node, t);
  }
  return out;
}

bt_Tensor *bt_cumsum(bt_Tensor *t, int dim) { return cumulative(t, dim, BT_CUM_SUM); }
bt_Tensor *bt_cumprod(bt_Tensor *t, int dim) { return cumulative(t, dim, BT_CUM_PROD); }

/* ---- sum_to, any, all ---------------------------------------------------------------- */

bt_Tensor *bt_sum_to(bt_Tensor *t, int ndim, const int64_t *shape) {
  if (ndim > t->ndim)
    return bt_seterr("sum_to: cannot reduce %s to the larger %s", bt_shp(t), bt_shpn(ndim, shape)), NULL;
  int lead = t->ndim - ndim;
  unsigned mask = 0;
  for (int d = 0; d < t->ndim; d++) {
    if (d < lead) mask |= 1u << d;
    else if (shape[d - lead] == 1 && t->shape[d] != 1) mask |= 1u << d;
    else if (shape[d - lead] != t->shape[d])
      return bt_seterr("sum_to: cannot reduce %s to %s", bt_shp(t), bt_shpn(ndim, shape)), NULL;
  }
  if (!mask) return bt_reshape(t, ndim, shape);
  bt_Tensor *s = bt_sum(t, mask, true);
  bt_Tensor *r = s ? bt_reshape(s, ndim, shape) : NULL;
  bt_release(s);
  return r;
}

bt_Tensor *bt_any(bt_Tensor *t) {
  return reduce_raw("any", BT_RED_ANY, t, all_dims(t->ndim), false, BT_BOOL);
}

bt_Tensor *bt_all(bt_Tensor *t) {
  return reduce_raw("all", BT_RED_ALL, t, all_dims(t->ndim), false, BT_BOOL);
}
