/*
** ops/nn_pool.c: pooling and resampling ops and their backward rules:
** max_pool1d/2d (with argmax indices), avg_pool1d/2d, adaptive average and
** max pooling, nearest and (bi)linear upsampling.
**
** Semantics are PyTorch 1.13's: output sizes (floor or ceil mode, with
** PyTorch's rule that the last window must start inside the input or its
** left padding), padding at most half the kernel, count_include_pad and
** divisor_override, adaptive windows [floor(i*in/out), ceil((i+1)*in/out)),
** argmax ties to the first position and NaN propagation, and F.interpolate's
** source coordinates. The 2-d ops work on the last two dims of any leading
** shape (the public functions accept [N, C, H, W] and [C, H, W]); the 1-d
** ops are the 2-d ones on a height-1 view. The kernels (cpu/pool.c) see
** contiguous [P, H, W] planes in f32 or f64; f16 and bf16 inputs compute in
** f32 and are cast back.
**
** Backward rules are differentiable ops: max pooling scatters the gradient
** to the argmax positions (bt_max_pool2d_backward, whose own gradient
** gathers at the same positions); average pooling and upsampling are
** linear, so each backward is the adjoint op, and the adjoint's backward is
** the forward op again.
*/
#include "internal.h"
#include "autograd.h"

#include <stdio.h>

static bool is_half(bt_DType dt) { return dt == BT_F16 || dt == BT_BF16; }

/* ---- options and shapes ------------------------------------------------------------- */

/* "3x3" (or "3" for a 1-d op) into buf. */
static const char *pair_str(const int64_t *v, bool one_d, char *buf) {
  if (one_d)
    snprintf(buf, 48, "%lld", (long long)v[1]);
  else
    snprintf(buf, 48, "%lldx%lld", (long long)v[0], (long long)v[1]);
  return buf;
}

/* Fills in PyTorch's defaults: stride = kernel, dilation 1. */
static bt_PoolOpts normalized(const bt_PoolOpts *o) {
  bt_PoolOpts n = *o;
  for (int d = 0; d < 2; d++) {
    if (n.stride[d] == 0) n.stride[d] = n.kernel[d];
    if (n.dilation[d] == 0) n.dilation[d] = 1;
  }
  return n;
}

/* The 2-d options of a 1-d op: height 1, the 1-d values along the width. */
static bt_PoolOpts lifted_1d(const bt_PoolOpts *o) {
  bt_PoolOpts n = *o;
  n.kernel[0] = 1, n.kernel[1] = o->kernel[0];
  n.stride[0] = 1, n.stride[1] = o->stride[0];
  n.padding[0] = 0, n.padding[1] = o->padding[0];
  n.dilation[0] = 1, n.dilation[1] = o->dilation[0];
  return n;
}

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* PyTorch's pooling_output_shape. */
static int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dil,
                             bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dil * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) out--;
  return out;
}

/* Checks a float input of rank lo or hi (the batched form) with non-empty
** dims after the batch dim. `forms` describes the ranks for the message. */
static int check_input(const char *op, const bt_Tensor *x, int lo, int hi, const char *forms) {
  if (!bt_dtype_is_float(x->dtype))
    return bt_seterr("%s: expects a floating-point input (f32 or f64), got %s of shape %s", op,
                     bt_dtype_name(x->dtype), bt_shp(x));
  if (x->ndim != lo && x->ndim != hi)
    return bt_seterr("%s: expects a %s input, got shape %s", op, forms, bt_shp(x));
  for (int d = x->ndim == hi ? 1 : 0; d < x->ndim; d++)
    if (x->shape[d] == 0)
      return bt_seterr("%s: input %s is empty at dim %d (only the batch dim may be 0)", op,
                       bt_shp(x), d + 1);
  return 0;
}

/* Checks normalized options against an input of spatial size hw and sets
** the output size. one_d: messages show the width values only. */
static int check_pool(const char *op, const bt_Tensor *x, const bt_PoolOpts *o, bool is_max,
                      bool one_d, int64_t *out_hw) {
  char a[48], b[48], c[48], e[48];
  const int64_t *hw = x->shape + x->ndim - 2;
  for (int d = 0; d < 2; d++) {
    if (o->kernel[d] > INT32_MAX || o->stride[d] > INT32_MAX || o->dilation[d] > INT32_MAX ||
        o->padding[d] > INT32_MAX)
      return bt_seterr("%s: kernel size %s, stride %s, padding %s or dilation is too large", op,
                       pair_str(o->kernel, one_d, a), pair_str(o->stride, one_d, b),
                       pair_str(o->padding, one_d, c));
    if (o->kernel[d] <= 0 || o->stride[d] <= 0 || o->dilation[d] <= 0)
      return bt_seterr("%s: kernel size %s, stride %s and dilation %s must be positive", op,
                       pair_str(o->kernel, one_d, a), pair_str(o->stride, one_d, b),
                       pair_str(o->dilation, one_d, c));
    if (o->padding[d] < 0 || o->padding[d] > o->kernel[d] / 2)
      return bt_seterr("%s: padding %s must be between 0 and half the kernel size %s "
                       "(input %s)", op, pair_str(o->padding, one_d, a),
                       pair_str(o->kernel, one_d, b), bt_shp(x));
  }
  if (!is_max && o->divisor_override < 0)
    return bt_seterr("%s: divisor_override must be positive, got %lld", op,
                     (long long)o->divisor_override);
  for (int d = 0; d < 2; d++)
    out_hw[d] = pool_out_size(hw[d], o->kernel[d], o->padding[d], o->stride[d], o->dilation[d],
                              o->ceil_mode);
  if (out_hw[0] < 1 || out_hw[1] < 1) {
    int64_t shown[2] = {out_hw[0], out_hw[1]};
    return bt_seterr("%s: input %s is too small for kernel %s with padding %s and dilation %s "
                     "(output size %s): the kernel is larger than the padded input", op,
                     bt_shp(x), pair_str(o->kernel, one_d, a), pair_str(o->padding, one_d, b),
                     pair_str(o->dilation, one_d, c), pair_str(shown, one_d, e));
  }
  return 0;
}

/* The planes of a [..., H, W] contiguous tensor as [P, H, W] (raw alias). */
static bt_Tensor *planes(bt_Tensor *t) {
  int64_t H = t->shape[t->ndim - 2], W = t->shape[t->ndim - 1];
  int64_t shape[3] = {H * W != 0 ? bt_numel(t) / (H * W) : 0, H, W};
  int64_t stride[3] = {H * W, W, 1};
  return bt_alias(t, 3, shape, stride, t->offset);
}

/* t's shape with the last two sizes replaced by hw. */
static void with_hw(const bt_Tensor *t, const int64_t *hw, int64_t *shape) {
  memcpy(shape, t->shape, sizeof(int64_t) * BT_MAX_DIMS);
  shape[t->ndim - 2] = hw[0];
  shape[t->ndim - 1] = hw[1];
}

/* Runs a function of x in f32 and casts its result back (f16, bf16). */
typedef bt_Tensor *(*Fn32)(bt_Tensor *x32, void *ud);
static bt_Tensor *via_f32(bt_Tensor *x, Fn32 fn, void *ud) {
  bt_Tensor *x32 = bt_to_dtype(x, BT_F32), *y = x32 ? fn(x32, ud) : NULL;
  bt_Tensor *r = y ? bt_to_dtype(y, x->dtype) : NULL;
  bt_release(x32);
  bt_release(y);
  return r;
}

static void release2(bt_Tensor *a, bt_Tensor *b) {
  bt_release(a);
  bt_release(b);
}

/* Records fn for out when x needs a gradient; releases out on failure. */
static bt_Node *record(bt_Tensor **out, const char *name, bt_BackwardFn fn, bt_Tensor *x) {
  if (!*out || !bt_ag_needs(1, &x)) return NULL;
  bt_Node *n = bt_ag_record(name, fn, 1, &x, *out);
  if (!n) {
    bt_release(*out);
    *out = NULL;
  }
  return n;
}

/* Options kept in a node's integer slots (average pooling's windows). */
static void save_opts(bt_Node *n, const bt_PoolOpts *o) {
  n->i[7] = o ? 1 : 0;
  if (!o) return;
  for (int d = 0; d < 2; d++) {
    n->i[d] = o->kernel[d];
    n->i[2 + d] = o->stride[d];
    n->i[4 + d] = o->padding[d];
  }
  n->i[6] = o->count_include_pad ? -1 - o->divisor_override : o->divisor_override;
}

/* The options back from a node: NULL for adaptive windows. */
static const bt_PoolOpts *load_opts(const bt_Node *n, bt_PoolOpts *o) {
  if (!n->i[7]) return NULL;
  memset(o, 0, sizeof *o);
  for (int d = 0; d < 2; d++) {
    o->kernel[d] = n->i[d];
    o->stride[d] = n->i[2 + d];
    o->padding[d] = n->i[4 + d];
    o->dilation[d] = 1;
  }
  o->count_include_pad = n->i[6] < 0;
  o->divisor_override = n->i[6] < 0 ? -1 - n->i[6] : n->i[6];
  return o;
}

/* ---- max pooling -------------------------------------------------------------------- */

static bt_Tensor *max_backward(bt_Tensor *grad, bt_Tensor *indices, int ndim,
                               const int64_t *shape, bool check);

/* The saved indices are the forward's own (the version check keeps them
** so), so they need no check: on a GPU that saves a wait per step. */
static int max_pool_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_Edge *e = &n->next[0];
  gin[0] = max_backward(g, n->saved[0], e->ndim, e->shape, false);
  return gin[0] ? 0 : -1;
}

typedef struct {
  const char *op;
  const bt_PoolOpts *o;
  const int64_t *out_hw;
  bt_Tensor **indices;
} MaxArgs;

/* Max pooling of the last two dims of x (checked) to out_hw; o NULL:
** adaptive. Indices are computed when asked for or needed by backward. */
static bt_Tensor *max_pool(bt_Tensor *x, void *ud) {
  MaxArgs *a = ud;
  if (is_half(x->dtype)) return via_f32(x, max_pool, ud);
  int (*k)(bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_PoolOpts *) =
      BT_KERNEL(a->op, bt_dev(x), max_pool2d);
  if (!k) return NULL;
  bool grad = bt_ag_needs(1, &x);
  int64_t shape[BT_MAX_DIMS];
  with_hw(x, a->out_hw, shape);
  if (bt_checked_numel(a->op, x->ndim, shape) < 0) return NULL;
  bt_Tensor *xc = bt_contiguous_as(x, x->dtype);
  bt_Tensor *out = xc ? bt_empty(x->ndim, shape, x->dtype, bt_dev(x)) : NULL;
  bt_Tensor *ix = out && (grad || a->indices) ? bt_empty(x->ndim, shape, BT_I64, bt_dev(x)) : NULL;
  bt_Tensor *pi = xc ? planes(xc) : NULL, *po = out ? planes(out) : NULL;
  bt_Tensor *pix = ix ? planes(ix) : NULL;
  int rc = po && (pix || !(grad || a->indices)) ? k(po, pix, pi, a->o) : -1;
  release2(xc, pi);
  release2(po, pix);
  if (rc < 0) {
    release2(out, ix);
    return NULL;
  }
  bt_Node *n = record(&out, a->o ? "MaxPool2dBackward" : "AdaptiveMaxPool2dBackward",
                      max_pool_backward, x);
  if (n) bt_ag_save(n, ix);
  if (out && a->indices) *a->indices = ix;
  else bt_release(ix);
  return out;
}

/* A view v of a result that this op alone holds (the 4-D output of a 1-d
** op, the pooled [N, C, 1, 1] of a global one) stands for a fresh result:
** it may be written in place like any op's output (its base is unreachable,
** and no rule saved the base), so it is not marked as a view. */
static bt_Tensor *as_fresh(bt_Tensor *v) {
  if (v) v->is_view = v->is_graph_view = false;
  return v;
}

/* Removes the height-1 dim a 1-d op added (dim -2); names the node. */
static bt_Tensor *squeeze_1d(bt_Tensor *t, const char *node_name) {
  if (!t) return NULL;
  bt_Tensor *s = bt_squeeze(t, t->ndim - 2);
  bt_release(t);
  if (s && s->grad_fn && node_name) s->grad_fn->name = node_name;
  return as_fresh(s);
}

static bt_Tensor *max_pool_2d_or_1d(const char *op, bt_Tensor *x, const bt_PoolOpts *o,
                                    bt_Tensor **indices, bool one_d) {
  if (indices) *indices = NULL;
  if (!o) return bt_seterr("%s: options expected", op), NULL;
  if (one_d ? check_input(op, x, 2, 3, "2-D [C, L] or 3-D [N, C, L]")
            : check_input(op, x, 3, 4, "3-D [C, H, W] or 4-D [N, C, H, W]"))
    return NULL;
  bt_PoolOpts n = one_d ? lifted_1d(o) : *o;
  n = normalized(&n);
  bt_Tensor *xv = one_d ? bt_unsqueeze(x, x->ndim - 1) : (bt_retain(x), x);
  int64_t out_hw[2];
  if (!xv || check_pool(op, xv, &n, true, one_d, out_hw) < 0) {
    bt_release(xv);
    return NULL;
  }
  bt_Tensor *ix = NULL;
  MaxArgs a = {op, &n, out_hw, indices ? &ix : NULL};
  bt_Tensor *out = max_pool(xv, &a);
  bt_release(xv);
  if (one_d) {
    out = squeeze_1d(out, "MaxPool1dBackward");
    ix = out ? squeeze_1d(ix, NULL) : (bt_release(ix), NULL);
  }
  if (indices) *indices = out ? ix : NULL;
  if (!out) bt_release(ix);
  return out;
}

bt_Tensor *bt_max_pool2d(bt_Tensor *x, const bt_PoolOpts *o, bt_Tensor **indices) {
  return max_pool_2d_or_1d("max_pool2d", x, o, indices, false);
}

bt_Tensor *bt_max_pool1d(bt_Tensor *x, const bt_PoolOpts *o, bt_Tensor **indices) {
  return max_pool_2d_or_1d("max_pool1d", x, o, indices, true);
}

/* ---- the max backward op: scatter at the indices, gather back ----------------------- */

/* The gradient of a scatter at the indices is a gather at them: g is
** [..., H, W] like the scatter's output, the result [..., OH, OW]. */
static int max_pool_backward_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *ix = n->saved[0];
  const bt_Edge *e = &n->next[0];
  int64_t H = g->shape[g->ndim - 2], W = g->shape[g->ndim - 1];
  int64_t OHW = ix->shape[ix->ndim - 2] * ix->shape[ix->ndim - 1];
  int64_t P = OHW ? bt_numel(ix) / OHW : 0;
  int64_t gs[2] = {P, H * W}, is[2] = {P, OHW};
  bt_Tensor *g2 = bt_reshape(g, 2, gs), *i2 = g2 ? bt_reshape(ix, 2, is) : NULL;
  bt_Tensor *r = i2 ? bt_gather(g2, 1, i2) : NULL;
  gin[0] = r ? bt_reshape(r, e->ndim, e->shape) : NULL;
  release2(g2, i2);
  bt_release(r);
  return gin[0] ? 0 : -1;
}

/* grad and indices [..., OH, OW] against shape [..., H, W]. */
static int check_backward_shapes(const char *op, const bt_Tensor *grad, int ndim,
                                 const int64_t *shape) {
  if (!bt_dtype_is_float(grad->dtype))
    return bt_seterr("%s: expects a floating-point gradient, got %s", op,
                     bt_dtype_name(grad->dtype));
  bool ok = ndim >= 2 && ndim == grad->ndim && ndim <= BT_MAX_DIMS;
  for (int d = 0; ok && d < ndim - 2; d++) ok = grad->shape[d] == shape[d];
  for (int d = 0; ok && d < ndim; d++) ok = shape[d] >= 0;
  if (!ok)
    return bt_seterr("%s: gradient %s does not match the input shape %s (same dims but the last "
                     "two expected)", op, bt_shp(grad), bt_shpn(ndim, shape));
  return 0;
}

typedef struct {
  bt_Tensor *indices;
  int ndim;
  const int64_t *shape;
  bool check;
} MaxBackArgs;

static bt_Tensor *max_backward_f32(bt_Tensor *g32, void *ud) {
  MaxBackArgs *a = ud;
  return max_backward(g32, a->indices, a->ndim, a->shape, a->check);
}

bt_Tensor *bt_max_pool2d_backward(bt_Tensor *grad, bt_Tensor *indices, int ndim,
                                  const int64_t *shape) {
  return max_backward(grad, indices, ndim, shape, true);
}

/* check: fail on an index outside the plane (indices from outside). */
static bt_Tensor *max_backward(bt_Tensor *grad, bt_Tensor *indices, int ndim,
                               const int64_t *shape, bool check) {
  const char *op = "max_pool2d_backward";
  if (check_backward_shapes(op, grad, ndim, shape) < 0) return NULL;
  if (indices->dtype != BT_I64 || !bt_same_shape(indices, grad))
    return bt_seterr("%s: indices must be i64 of the gradient's shape %s, got %s %s", op,
                     bt_shp(grad), bt_dtype_name(indices->dtype), bt_shp(indices)), NULL;
  if (is_half(grad->dtype)) {
    MaxBackArgs a = {indices, ndim, shape, check};
    return via_f32(grad, max_backward_f32, &a);
  }
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, bool) =
      BT_KERNEL(op, bt_dev(grad), max_pool2d_backward);
  if (!k) return NULL;
  bt_Tensor *out = bt_empty(ndim, shape, grad->dtype, bt_dev(grad));
  bt_Tensor *gc = out ? bt_contiguous_as(grad, grad->dtype) : NULL;
  bt_Tensor *ic = gc ? bt_contiguous_as(indices, BT_I64) : NULL;
  bt_Tensor *po = ic ? planes(out) : NULL, *pg = po ? planes(gc) : NULL;
  bt_Tensor *pi = pg ? planes(ic) : NULL;
  int rc = pi ? k(po, pg, pi, check) : -1;
  release2(gc, ic);
  release2(po, pg);
  bt_release(pi);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Node *n = record(&out, "MaxPool2dBackwardBackward", max_pool_backward_backward, grad);
  if (n) bt_ag_save(n, indices);
  return out;
}

/* ---- average pooling ------------------------------------------------------------------ */

static int avg_pool_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_Edge *e = &n->next[0];
  bt_PoolOpts o;
  gin[0] = bt_avg_pool2d_backward(g, load_opts(n, &o), e->ndim, e->shape);
  return gin[0] ? 0 : -1;
}

typedef struct {
  const char *op;
  const bt_PoolOpts *o;      /* normalized; NULL: adaptive */
  const int64_t *out_hw;
} AvgArgs;

/* Average pooling of the last two dims of x (checked) to out_hw. */
static bt_Tensor *avg_pool(bt_Tensor *x, void *ud) {
  AvgArgs *a = ud;
  if (is_half(x->dtype)) return via_f32(x, avg_pool, ud);
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_PoolOpts *) =
      BT_KERNEL(a->op, bt_dev(x), avg_pool2d);
  if (!k) return NULL;
  int64_t shape[BT_MAX_DIMS];
  with_hw(x, a->out_hw, shape);
  if (bt_checked_numel(a->op, x->ndim, shape) < 0) return NULL;
  bt_Tensor *xc = bt_contiguous_as(x, x->dtype);
  bt_Tensor *out = xc ? bt_empty(x->ndim, shape, x->dtype, bt_dev(x)) : NULL;
  bt_Tensor *pi = out ? planes(xc) : NULL, *po = pi ? planes(out) : NULL;
  int rc = po ? k(po, pi, a->o) : -1;
  release2(xc, pi);
  bt_release(po);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Node *n = record(&out, a->o ? "AvgPool2dBackward" : "AdaptiveAvgPool2dBackward",
                      avg_pool_backward, x);
  if (n) save_opts(n, a->o);
  return out;
}

static bt_Tensor *avg_pool_2d_or_1d(const char *op, bt_Tensor *x, const bt_PoolOpts *o,
                                    bool one_d) {
  if (!o) return bt_seterr("%s: options expected", op), NULL;
  if (one_d ? check_input(op, x, 2, 3, "2-D [C, L] or 3-D [N, C, L]")
            : check_input(op, x, 3, 4, "3-D [C, H, W] or 4-D [N, C, H, W]"))
    return NULL;
  bt_PoolOpts n = one_d ? lifted_1d(o) : *o;
  n = normalized(&n);
  n.dilation[0] = n.dilation[1] = 1;   /* average pooling has none */
  bt_Tensor *xv = one_d ? bt_unsqueeze(x, x->ndim - 1) : (bt_retain(x), x);
  int64_t out_hw[2];
  if (!xv || check_pool(op, xv, &n, false, one_d, out_hw) < 0) {
    bt_release(xv);
    return NULL;
  }
  AvgArgs a = {op, &n, out_hw};
  bt_Tensor *out = avg_pool(xv, &a);
  bt_release(xv);
  return one_d ? squeeze_1d(out, "AvgPool1dBackward") : out;
}

bt_Tensor *bt_avg_pool2d(bt_Tensor *x, const bt_PoolOpts *o) {
  return avg_pool_2d_or_1d("avg_pool2d", x, o, false);
}

bt_Tensor *bt_avg_pool1d(bt_Tensor *x, const bt_PoolOpts *o) {
  return avg_pool_2d_or_1d("avg_pool1d", x, o, true);
}

/* The adjoint's gradient is average pooling of g to the adjoint's input
** size, with the same windows. */
static int avg_pool_backward_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_Edge *e = &n->next[0];
  bt_PoolOpts o;
  int64_t out_hw[2] = {e->shape[e->ndim - 2], e->shape[e->ndim - 1]};
  AvgArgs a = {n->i[7] ? "avg_pool2d" : "adaptive_avg_pool2d", load_opts(n, &o), out_hw};
  gin[0] = avg_pool(g, &a);
  return gin[0] ? 0 : -1;
}

typedef struct {
  const bt_PoolOpts *o;
  int ndim;
  const int64_t *shape;
} AvgBackArgs;

static bt_Tensor *avg_backward_f32(bt_Tensor *g32, void *ud) {
  AvgBackArgs *a = ud;
  return bt_avg_pool2d_backward(g32, a->o, a->ndim, a->shape);
}

bt_Tensor *bt_avg_pool2d_backward(bt_Tensor *grad, const bt_PoolOpts *o, int ndim,
                                  const int64_t *shape) {
  const char *op = o ? "avg_pool2d_backward" : "adaptive_avg_pool2d_backward";
  if (check_backward_shapes(op, grad, ndim, shape) < 0) return NULL;
  bt_PoolOpts n;
  if (o) {
    n = normalized(o);
    n.dilation[0] = n.dilation[1] = 1;
    for (int d = 0; d < 2; d++) {
      int64_t in = shape[ndim - 2 + d], og = grad->shape[ndim - 2 + d];
      bool ok = n.kernel[d] > 0 && n.stride[d] > 0 && n.padding[d] >= 0 &&
                n.padding[d] <= n.kernel[d] / 2 && n.divisor_override >= 0;
      if (ok)
        ok = og == pool_out_size(in, n.kernel[d], n.padding[d], n.stride[d], 1, false) ||
             og == pool_out_size(in, n.kernel[d], n.padding[d], n.stride[d], 1, true);
      if (!ok)
        return bt_seterr("%s: gradient %s does not fit the pooling of input %s with kernel "
                         "%lldx%lld, stride %lldx%lld, padding %lldx%lld", op, bt_shp(grad),
                         bt_shpn(ndim, shape), (long long)n.kernel[0], (long long)n.kernel[1],
                         (long long)n.stride[0], (long long)n.stride[1],
                         (long long)n.padding[0], (long long)n.padding[1]), NULL;
    }
  }
  if (is_half(grad->dtype)) {
    AvgBackArgs a = {o ? &n : NULL, ndim, shape};
    return via_f32(grad, avg_backward_f32, &a);
  }
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_PoolOpts *) =
      BT_KERNEL(op, bt_dev(grad), avg_pool2d_backward);
  if (!k) return NULL;
  bt_Tensor *out = bt_empty(ndim, shape, grad->dtype, bt_dev(grad));
  bt_Tensor *gc = out ? bt_contiguous_as(grad, grad->dtype) : NULL;
  bt_Tensor *po = gc ? planes(out) : NULL, *pg = po ? planes(gc) : NULL;
  int rc = pg ? k(po, pg, o ? &n : NULL) : -1;
  release2(gc, po);
  bt_release(pg);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Node *node = record(&out, o ? "AvgPool2dBackwardBackward" : "AdaptiveAvgPool2dBackwardBackward",
                         avg_pool_backward_backward, grad);
  if (node) save_opts(node, o ? &n : NULL);
  return out;
}

/* ---- adaptive pooling ---------------------------------------------------------------- */

/* The output size of an adaptive op: size[d] < 0 keeps the input's. */
static int adaptive_size(const char *op, const bt_Tensor *x, const int64_t *size, bool one_d,
                         int64_t *out_hw) {
  const int64_t *hw = x->shape + x->ndim - 2;
  for (int d = 0; d < 2; d++) {
    out_hw[d] = size[d] < 0 ? hw[d] : size[d];
    if (out_hw[d] == 0)
      return bt_seterr("%s: output size must be positive, got %s (input %s)", op,
                       one_d ? "0" : (d ? "0 for the width" : "0 for the height"), bt_shp(x));
  }
  return 0;
}

static bt_Tensor *adaptive(const char *op, bt_Tensor *x, const int64_t *size, bool one_d,
                           bool is_max, bt_Tensor **indices) {
  if (indices) *indices = NULL;
  if (one_d ? check_input(op, x, 2, 3, "2-D [C, L] or 3-D [N, C, L]")
            : check_input(op, x, 3, 4, "3-D [C, H, W] or 4-D [N, C, H, W]"))
    return NULL;
  int64_t size2[2] = {one_d ? 1 : size[0], one_d ? size[0] : size[1]};
  bt_Tensor *xv = one_d ? bt_unsqueeze(x, x->ndim - 1) : (bt_retain(x), x);
  int64_t out_hw[2];
  if (!xv || adaptive_size(op, xv, size2, one_d, out_hw) < 0) {
    bt_release(xv);
    return NULL;
  }
  bt_Tensor *out, *ix = NULL;
  if (is_max) {
    MaxArgs a = {op, NULL, out_hw, indices ? &ix : NULL};
    out = max_pool(xv, &a);
  } else {
    AvgArgs a = {op, NULL, out_hw};
    out = avg_pool(xv, &a);
  }
  bt_release(xv);
  if (one_d) {
    out = squeeze_1d(out, is_max ? "AdaptiveMaxPool1dBackward" : "AdaptiveAvgPool1dBackward");
    ix = out ? squeeze_1d(ix, NULL) : (bt_release(ix), NULL);
  }
  if (indices) *indices = out ? ix : NULL;
  if (!out) bt_release(ix);
  return out;
}

bt_Tensor *bt_adaptive_avg_pool1d(bt_Tensor *x, int64_t size) {
  return adaptive("adaptive_avg_pool1d", x, &size, true, false, NULL);
}

bt_Tensor *bt_adaptive_avg_pool2d(bt_Tensor *x, const int64_t size[2]) {
  return adaptive("adaptive_avg_pool2d", x, size, false, false, NULL);
}

bt_Tensor *bt_adaptive_max_pool1d(bt_Tensor *x, int64_t size, bt_Tensor **indices) {
  return adaptive("adaptive_max_pool1d", x, &size, true, true, indices);
}

bt_Tensor *bt_adaptive_max_pool2d(bt_Tensor *x, const int64_t size[2], bt_Tensor **indices) {
  return adaptive("adaptive_max_pool2d", x, size, false, true, indices);
}

bt_Tensor *bt_global_pool(bt_Tensor *x, int spatial_dims, bool is_max, bool keepdim) {
  static const char *const names[2][2] = {{"global_avg_pool1d", "global_avg_pool2d"},
                                          {"global_max_pool1d", "global_max_pool2d"}};
  static const char *const nodes[2][2] = {{"GlobalAvgPool1dBackward", "GlobalAvgPool2dBackward"},
                                          {"GlobalMaxPool1dBackward", "GlobalMaxPool2dBackward"}};
  if (spatial_dims != 1 && spatial_dims != 2)
    return bt_seterr("global pooling: spatial_dims must be 1 or 2, got %d", spatial_dims), NULL;
  bool one_d = spatial_dims == 1;
  const char *op = names[is_max][spatial_dims - 1];
  int64_t one[2] = {1, 1};
  bt_Tensor *y = adaptive(op, x, one, one_d, is_max, NULL);
  if (!y || keepdim) return y;
  bt_Tensor *r = bt_reshape(y, y->ndim - spatial_dims, y->shape);
  bt_release(y);
  if (r && r->grad_fn) r->grad_fn->name = nodes[is_max][spatial_dims - 1];
  return as_fresh(r);
}

/* ---- upsampling ------------------------------------------------------------------------ */

typedef struct {
  bt_UpsampleMode mode;
  const int64_t *out_hw;
  const double *scales;      /* 2 values, 0 where not given; or NULL */
  bool align_corners;
} UpArgs;

static int upsample_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_Edge *e = &n->next[0];
  gin[0] = bt_upsample2d_backward(g, (bt_UpsampleMode)n->i[0], e->ndim, e->shape, n->d,
                                  n->i[1] != 0);
  return gin[0] ? 0 : -1;
}

static void save_up(bt_Node *n, const UpArgs *a) {
  n->i[0] = a->mode;
  n->i[1] = a->align_corners;
  n->d[0] = a->scales ? a->scales[0] : 0;
  n->d[1] = a->scales ? a->scales[1] : 0;
}

/* Resampling of the last two dims of x (checked) to out_hw. */
static bt_Tensor *upsample(bt_Tensor *x, void *ud) {
  UpArgs *a = ud;
  if (is_half(x->dtype)) return via_f32(x, upsample, ud);
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_UpsampleMode, const double *, bool) =
      BT_KERNEL("upsample", bt_dev(x), upsample2d);
  if (!k) return NULL;
  int64_t shape[BT_MAX_DIMS];
  with_hw(x, a->out_hw, shape);
  if (bt_checked_numel("upsample", x->ndim, shape) < 0) return NULL;
  bt_Tensor *xc = bt_contiguous_as(x, x->dtype);
  bt_Tensor *out = xc ? bt_empty(x->ndim, shape, x->dtype, bt_dev(x)) : NULL;
  bt_Tensor *pi = out ? planes(xc) : NULL, *po = pi ? planes(out) : NULL;
  int rc = po ? k(po, pi, a->mode, a->scales, a->align_corners) : -1;
  release2(xc, pi);
  bt_release(po);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Node *n = record(&out, a->mode == BT_UPSAMPLE_NEAREST ? "UpsampleNearestBackward"
                                                           : "UpsampleLinearBackward",
                      upsample_backward, x);
  if (n) save_up(n, a);
  return out;
}

/* Output sizes from size or scales (floor(in * scale), as F.interpolate). */
static int upsample_size(const char *op, const bt_Tensor *x, const int64_t *size,
                         const double *scales, int64_t *out_hw, int nd) {
  const int64_t *hw = x->shape + x->ndim - nd;
  for (int d = 0; d < nd; d++) {
    if (size) {
      out_hw[d] = size[d];
    } else if (scales && scales[d] > 0 && (double)hw[d] * scales[d] < 0x1p62) {
      out_hw[d] = (int64_t)floor((double)hw[d] * scales[d]);
    } else {
      return bt_seterr("%s: give an output size or a positive (and not huge) scale factor "
                       "(input %s)", op,
                       bt_shp(x));
    }
    if (out_hw[d] <= 0)
      return bt_seterr("%s: input %s and output size %lld: sizes must be positive", op,
                       bt_shp(x), (long long)out_hw[d]);
  }
  return 0;
}

bt_Tensor *bt_upsample2d(bt_Tensor *x, bt_UpsampleMode mode, const int64_t size[2],
                         const double scales[2], bool align_corners) {
  const char *op = mode == BT_UPSAMPLE_NEAREST ? "upsample_nearest2d" : "upsample_bilinear2d";
  if (check_input(op, x, 4, 4, "4-D [N, C, H, W]") < 0) return NULL;
  int64_t out_hw[2];
  if (upsample_size(op, x, size, scales, out_hw, 2) < 0) return NULL;
  double sc[2] = {0, 0};
  if (!size && scales) sc[0] = scales[0], sc[1] = scales[1];
  UpArgs a = {mode, out_hw, sc, align_corners};
  return upsample(x, &a);
}

bt_Tensor *bt_upsample1d(bt_Tensor *x, bt_UpsampleMode mode, const int64_t *size,
                         const double *scale, bool align_corners) {
  const char *op = mode == BT_UPSAMPLE_NEAREST ? "upsample_nearest1d" : "upsample_linear1d";
  if (check_input(op, x, 3, 3, "3-D [N, C, L]") < 0) return NULL;
  int64_t out_l = 0;
  if (upsample_size(op, x, size, scale, &out_l, 1) < 0) return NULL;
  int64_t out_hw[2] = {1, out_l};
  double sc[2] = {0, !size && scale ? scale[0] : 0};
  bt_Tensor *xv = bt_unsqueeze(x, x->ndim - 1);
  UpArgs a = {mode, out_hw, sc, align_corners};
  bt_Tensor *out = xv ? upsample(xv, &a) : NULL;
  bt_release(xv);
  return squeeze_1d(out, mode == BT_UPSAMPLE_NEAREST ? "UpsampleNearest1dBackward"
                                                     : "UpsampleLinear1dBackward");
}

/* The adjoint's gradient: the forward resampling of g to the adjoint's
** input size. */
static int upsample_backward_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_Edge *e = &n->next[0];
  int64_t out_hw[2] = {e->shape[e->ndim - 2], e->shape[e->ndim - 1]};
  UpArgs a = {(bt_UpsampleMode)n->i[0], out_hw, n->d, n->i[1] != 0};
  gin[0] = upsample(g, &a);
  return gin[0] ? 0 : -1;
}

typedef struct {
  bt_UpsampleMode mode;
  int ndim;
  const int64_t *shape;
  const double *scales;
  bool align_corners;
} UpBackArgs;

static bt_Tensor *up_backward_f32(bt_Tensor *g32, void *ud) {
  UpBackArgs *a = ud;
  return bt_upsample2d_backward(g32, a->mode, a->ndim, a->shape, a->scales, a->align_corners);
}

bt_Tensor *bt_upsample2d_backward(bt_Tensor *grad, bt_UpsampleMode mode, int ndim,
                                  const int64_t *shape, const double scales[2],
                                  bool align_corners) {
  const char *op = "upsample2d_backward";
  if (check_backward_shapes(op, grad, ndim, shape) < 0) return NULL;
  for (int d = ndim - 2; d < ndim; d++)
    if (shape[d] <= 0 || grad->shape[d] <= 0)
      return bt_seterr("%s: sizes must be positive (gradient %s, input %s)", op, bt_shp(grad),
                       bt_shpn(ndim, shape)), NULL;
  if (is_half(grad->dtype)) {
    UpBackArgs a = {mode, ndim, shape, scales, align_corners};
    return via_f32(grad, up_backward_f32, &a);
  }
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_UpsampleMode, const double *, bool) =
      BT_KERNEL(op, bt_dev(grad), upsample2d_backward);
  if (!k) return NULL;
  bt_Tensor *out = bt_empty(ndim, shape, grad->dtype, bt_dev(grad));
  bt_Tensor *gc = out ? bt_contiguous_as(grad, grad->dtype) : NULL;
  bt_Tensor *po = gc ? planes(out) : NULL, *pg = po ? planes(gc) : NULL;
  int rc = pg ? k(po, pg, mode, scales, align_corners) : -1;
  release2(gc, po);
  bt_release(pg);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Node *n = record(&out, "UpsampleBackwardBackward", upsample_backward_backward, grad);
  if (n) {
    double sc[2] = {scales ? scales[0] : 0, scales ? scales[1] : 0};
    UpArgs a = {mode, NULL, sc, align_corners};
    save_up(n, &a);
  }
  return out;
}
