/*
** ops/index.c: indexing, joining and sorting ops and their backward rules:
** index_select, gather, scatter, scatter_add, index_add, masked_fill(_),
** masked_select, nonzero, cat, stack, split, chunk, sort, topk, one_hot.
**
** Semantics are PyTorch's (1.13), with 0-based indices in C. Index tensors
** are i64 or i32; every index value must lie in [0, size) (no negative
** indices, as in PyTorch): the kernels check them and fail with a message
** that names the op and shows the index 1-based, as Lua users see it.
**
** A 0-dim tensor takes part as if it had one dim of size 1 ("lifted"), so
** kernels always see ndim >= 1.
**
** Backward rules use differentiable ops only, so gradients of gradients
** work: index_select and index_add are each other's adjoints, as are gather
** and scatter_add; cat narrows; sort and topk scatter back by their indices.
*/
#include "internal.h"
#include "autograd.h"

typedef int (*CopyKernel)(bt_Tensor *, const bt_Tensor *);

/* ---- checks and small helpers ------------------------------------------------ */

static int same_device(const char *op, const bt_Tensor *a, const bt_Tensor *b) {
  bt_Device x = bt_dev(a), y = bt_dev(b);
  if (x.type == y.type && x.index == y.index) return 0;
  char nx[32], ny[32];
  return bt_seterr("%s: tensors are on different devices (%s and %s)", op, bt_device_name(x, nx),
                   bt_device_name(y, ny));
}

static int check_index_dtype(const char *op, const bt_Tensor *index) {
  if (index->dtype == BT_I64 || index->dtype == BT_I32) return 0;
  return bt_seterr("%s: index must be an integer tensor (i64 or i32) of 0-based indices, got %s "
                   "of shape %s", op, bt_dtype_name(index->dtype), bt_shp(index));
}

static int check_same_dtype(const char *op, const bt_Tensor *t, const bt_Tensor *src) {
  if (t->dtype == src->dtype) return 0;
  return bt_seterr("%s: source dtype %s differs from the target's %s (cast one first)", op,
                   bt_dtype_name(src->dtype), bt_dtype_name(t->dtype));
}

/* t itself (retained) or, for a 0-dim t, a raw alias of shape [1]. */
static bt_Tensor *lifted(bt_Tensor *t) {
  if (t->ndim > 0) {
    bt_retain(t);
    return t;
  }
  int64_t one = 1;
  return bt_alias(t, 1, &one, &one, t->offset);
}

static int64_t size_at(const bt_Tensor *t, int dim) { return t->ndim ? t->shape[dim] : 1; }

/* A fresh copy of t outside any graph. */
static bt_Tensor *raw_copy(const char *op, bt_Tensor *t, bt_DType dt) {
  CopyKernel copy = BT_KERNEL(op, bt_dev(t), copy);
  if (!copy) return NULL;
  bt_Tensor *out = bt_empty(t->ndim, t->shape, dt, bt_dev(t));
  if (out && copy(out, t) < 0) {
    bt_release(out);
    return NULL;
  }
  return out;
}

/* Records rule fn for out (float outputs only) with the op's dim and one
** saved tensor. Releases out and returns NULL when recording fails. */
static bt_Tensor *record(bt_Tensor *out, const char *name, bt_BackwardFn fn, int n,
                         bt_Tensor *const *in, int dim, bt_Tensor *save) {
  if (!out || !bt_dtype_is_float(out->dtype) || !bt_ag_needs(n, in)) return out;
  bt_Node *node = bt_ag_record(name, fn, n, in, out);
  if (!node) {
    bt_release(out);
    return NULL;
  }
  node->i[0] = dim;
  if (save) bt_ag_save(node, save);
  return out;
}

/* Zeros of an edge's shape, in g's dtype and on g's device. */
static bt_Tensor *zeros_of_edge(const bt_Node *n, int i, const bt_Tensor *g) {
  const bt_Edge *e = &n->next[i];
  return bt_zeros(e->ndim, e->shape, g->dtype, bt_dev(g));
}

/* g padded with zeros (at the end of each dim) up to shape: differentiable. */
static bt_Tensor *pad_to(bt_Tensor *g, int ndim, const int64_t *shape) {
  bt_retain(g);
  for (int d = 0; d < ndim && g; d++) {
    if (g->shape[d] == shape[d]) continue;
    int64_t s[BT_MAX_DIMS];
    memcpy(s, g->shape, sizeof s);
    s[d] = shape[d];
    bt_Tensor *p = bt_narrow_backward(g, ndim, s, d, 0);
    bt_release(g);
    g = p;
  }
  return g;
}

/* ---- index_select / index_add ------------------------------------------------ */

static int index_select_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *z = zeros_of_edge(n, 0, g);
  gin[0] = z ? bt_index_add(z, (int)n->i[0], n->saved[0], g) : NULL;
  bt_release(z);
  return gin[0] ? 0 : -1;
}

/* Checks an index_select/index_add index: integer, at most 1-D, t's device. */
static int check_vector_index(const char *op, const bt_Tensor *t, const bt_Tensor *index) {
  if (check_index_dtype(op, index) < 0 || same_device(op, t, index) < 0) return -1;
  if (index->ndim > 1)
    return bt_seterr("%s: index must be 1-D, got shape %s (input %s)", op, bt_shp(index),
                     bt_shp(t));
  return 0;
}

/* index_select of a 0-dim tensor: one index, a 0-dim result. */
static bt_Tensor *index_select_scalar(bt_Tensor *t, bt_Tensor *index) {
  if (bt_numel(index) != 1)
    return bt_seterr("index_select: a 0-dim input takes exactly one index, got shape %s",
                     bt_shp(index)), NULL;
  int64_t one = 1;
  bt_Tensor *r = bt_reshape(t, 1, &one), *s = r ? bt_index_select(r, 0, index) : NULL;
  bt_Tensor *out = s ? bt_reshape(s, 0, NULL) : NULL;
  BT_RELEASE(r, s);
  return out;
}

bt_Tensor *bt_index_select(bt_Tensor *t, int dim, bt_Tensor *index) {
  const char *op = "index_select";
  if (check_vector_index(op, t, index) < 0) return NULL;
  if ((dim = bt_wrap_dim(op, dim, t->ndim)) < 0) return NULL;
  if (t->ndim == 0) return index_select_scalar(t, index);
  int (*k)(bt_Tensor *, const bt_Tensor *, int, const bt_Tensor *) =
      BT_KERNEL(op, bt_dev(t), index_select);
  if (!k) return NULL;
  int64_t shape[BT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[dim] = bt_numel(index);
  bt_Tensor *out = bt_empty(t->ndim, shape, t->dtype, bt_dev(t));
  bt_Tensor *ix = out ? lifted(index) : NULL;
  int rc = ix ? k(out, t, dim, ix) : -1;
  bt_release(ix);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  return record(out, "IndexSelectBackward", index_select_backward, 1, &t, dim, index);
}

/* index_add's adjoint: g for the target, index_select of g for the source. */
static int index_add_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_wants(n, 0)) {
    bt_retain(g);
    gin[0] = g;
  }
  if (bt_ag_wants(n, 1) && !(gin[1] = bt_index_select(g, (int)n->i[0], n->saved[0]))) return -1;
  return 0;
}

static int check_index_add(const char *op, const bt_Tensor *t, int dim, const bt_Tensor *index,
                           const bt_Tensor *src) {
  if (check_vector_index(op, t, index) < 0 || same_device(op, t, src) < 0) return -1;
  if (check_same_dtype(op, t, src) < 0) return -1;
  if (t->dtype == BT_BOOL) return bt_seterr("%s: not defined for bool tensors", op);
  bool ok = src->ndim == t->ndim && size_at(src, dim) == bt_numel(index);
  for (int d = 0; ok && d < t->ndim; d++)
    if (d != dim && src->shape[d] != t->shape[d]) ok = false;
  if (!ok)
    return bt_seterr("%s: source %s does not match target %s with %lld indices along dim %d "
                     "(the source must have the target's shape, with the index's length at dim %d)",
                     op, bt_shp(src), bt_shp(t), (long long)bt_numel(index), dim + 1, dim + 1);
  return 0;
}

bt_Tensor *bt_index_add(bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src) {
  const char *op = "index_add";
  if ((dim = bt_wrap_dim(op, dim, t->ndim)) < 0) return NULL;
  if (check_index_add(op, t, dim, index, src) < 0) return NULL;
  int (*k)(bt_Tensor *, int, const bt_Tensor *, const bt_Tensor *) =
      BT_KERNEL(op, bt_dev(t), index_add);
  if (!k) return NULL;
  bt_Tensor *out = raw_copy(op, t, t->dtype);
  bt_Tensor *lo = out ? lifted(out) : NULL, *li = lo ? lifted(index) : NULL;
  bt_Tensor *ls = li ? lifted(src) : NULL;
  int rc = ls ? k(lo, dim, li, ls) : -1;
  BT_RELEASE(lo, li, ls);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Tensor *in[2] = {t, src};
  return record(out, "IndexAddBackward", index_add_backward, 2, in, dim, index);
}

/* ---- gather / scatter / scatter_add ---------------------------------------------- */

static int gather_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *z = zeros_of_edge(n, 0, g);
  gin[0] = z ? bt_scatter_add(z, (int)n->i[0], n->saved[0], g) : NULL;
  bt_release(z);
  return gin[0] ? 0 : -1;
}

/* index must have t's ndim and fit inside t at every dim but `dim`. */
static int check_index_fits(const char *op, const bt_Tensor *t, const char *what, int dim,
                            const bt_Tensor *index, bool all_dims) {
  if (index->ndim != t->ndim)
    return bt_seterr("%s: index %s must have as many dims as the %s %s", op, bt_shp(index), what,
                     bt_shp(t));
  for (int d = 0; d < t->ndim; d++)
    if ((all_dims || d != dim) && index->shape[d] > t->shape[d])
      return bt_seterr("%s: index %s is larger than the %s %s at dim %d (%lld > %lld)", op,
                       bt_shp(index), what, bt_shp(t), d + 1, (long long)index->shape[d],
                       (long long)t->shape[d]);
  return 0;
}

bt_Tensor *bt_gather(bt_Tensor *t, int dim, bt_Tensor *index) {
  const char *op = "gather";
  if (check_index_dtype(op, index) < 0 || same_device(op, t, index) < 0) return NULL;
  if ((dim = bt_wrap_dim(op, dim, t->ndim)) < 0) return NULL;
  if (check_index_fits(op, t, "input", dim, index, false) < 0) return NULL;
  int (*k)(bt_Tensor *, const bt_Tensor *, int, const bt_Tensor *) =
      BT_KERNEL(op, bt_dev(t), gather);
  if (!k) return NULL;
  bt_Tensor *out = bt_empty(index->ndim, index->shape, t->dtype, bt_dev(t));
  bt_Tensor *lo = out ? lifted(out) : NULL, *lt = lo ? lifted(t) : NULL;
  bt_Tensor *li = lt ? lifted(index) : NULL;
  int rc = li ? k(lo, lt, dim, li) : -1;
  BT_RELEASE(lo, lt, li);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  return record(out, "GatherBackward", gather_backward, 1, &t, dim, index);
}

/* For scatter: the target's gradient is g with the written places zeroed;
** for scatter_add it is g. The source's is gather(g), padded with zeros
** where the source is larger than the index (those elements are unused). */
static int scatter_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  int dim = (int)n->i[0];
  bool accumulate = n->i[1];
  bt_Tensor *index = n->saved[0];
  if (bt_ag_wants(n, 0)) {
    if (accumulate) {
      bt_retain(g);
      gin[0] = g;
    } else {
      bt_Tensor *z = bt_zeros(index->ndim, index->shape, g->dtype, bt_dev(g));
      gin[0] = z ? bt_scatter(g, dim, index, z) : NULL;
      bt_release(z);
      if (!gin[0]) return -1;
    }
  }
  if (bt_ag_wants(n, 1)) {
    const bt_Edge *e = &n->next[1];
    bt_Tensor *gs = bt_gather(g, dim, index);
    gin[1] = gs ? pad_to(gs, e->ndim, e->shape) : NULL;
    bt_release(gs);
    if (!gin[1]) return -1;
  }
  return 0;
}

static bt_Tensor *scatter(const char *op, bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src,
                          bool accumulate) {
  if (check_index_dtype(op, index) < 0 || same_device(op, t, index) < 0 ||
      same_device(op, t, src) < 0 || check_same_dtype(op, t, src) < 0)
    return NULL;
  if (accumulate && t->dtype == BT_BOOL) return bt_seterr("%s: not defined for bool tensors", op), NULL;
  if ((dim = bt_wrap_dim(op, dim, t->ndim)) < 0) return NULL;
  if (check_index_fits(op, t, "target", dim, index, false) < 0 ||
      check_index_fits(op, src, "source", dim, index, true) < 0)
    return NULL;
  int (*k)(bt_Tensor *, int, const bt_Tensor *, const bt_Tensor *, bool) =
      BT_KERNEL(op, bt_dev(t), scatter);
  if (!k) return NULL;
  bt_Tensor *out = raw_copy(op, t, t->dtype);
  bt_Tensor *lo = out ? lifted(out) : NULL, *li = lo ? lifted(index) : NULL;
  bt_Tensor *ls = li ? lifted(src) : NULL;
  int rc = ls ? k(lo, dim, li, ls, accumulate) : -1;
  BT_RELEASE(lo, li, ls);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  bt_Tensor *in[2] = {t, src};
  out = record(out, accumulate ? "ScatterAddBackward" : "ScatterBackward", scatter_backward, 2, in,
               dim, index);
  if (out && out->grad_fn && out->grad_fn->backward == scatter_backward)
    out->grad_fn->i[1] = accumulate;
  return out;
}

bt_Tensor *bt_scatter(bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src) {
  return scatter("scatter", t, dim, index, src, false);
}

bt_Tensor *bt_scatter_add(bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src) {
  return scatter("scatter_add", t, dim, index, src, true);
}

/* ---- masked_fill / masked_select / nonzero --------------------------------------- */

static int check_mask(const char *op, const bt_Tensor *t, const bt_Tensor *mask) {
  if (mask->dtype != BT_BOOL && mask->dtype != BT_U8)
    return bt_seterr("%s: mask must be a bool tensor, got %s of shape %s", op,
                     bt_dtype_name(mask->dtype), bt_shp(mask));
  return same_device(op, t, mask);
}

/* The mask as bool, copied when it is u8 or shares t's storage (so that
** writing t cannot change it midway). */
static bt_Tensor *mask_as_bool(const char *op, bt_Tensor *mask, const bt_Tensor *t) {
  if (mask->dtype == BT_BOOL && mask->storage != t->storage) {
    bt_retain(mask);
    return mask;
  }
  return raw_copy(op, mask, BT_BOOL);
}

/* out = mask ? value : t, with t and mask broadcast to out's shape. */
static int masked_fill_into(const char *op, bt_Tensor *out, bt_Tensor *t, bt_Tensor *mask,
                            double value) {
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, const bt_Tensor *) =
      BT_KERNEL(op, bt_dev(t), where);
  if (!k) return -1;
  bt_Tensor *mb = mask_as_bool(op, mask, t);
  bt_Tensor *me = mb ? bt_expand_raw(mb, out->ndim, out->shape) : NULL;
  bt_Tensor *te = me ? bt_expand_raw(t, out->ndim, out->shape) : NULL;
  bt_Tensor *v = te ? bt_full(0, NULL, value, out->dtype, bt_dev(out)) : NULL;
  bt_Tensor *ve = v ? bt_expand_raw(v, out->ndim, out->shape) : NULL;
  int rc = ve ? k(out, me, ve, te) : -1;
  BT_RELEASE(mb, me, te, v, ve);
  return rc;
}

static int masked_fill_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = bt_masked_fill(g, n->saved[0], 0);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_masked_fill(bt_Tensor *t, bt_Tensor *mask, double value) {
  const char *op = "masked_fill";
  if (check_mask(op, t, mask) < 0) return NULL;
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  if (bt_broadcast_shapes(op, t->ndim, t->shape, mask->ndim, mask->shape, &ndim, shape) < 0)
    return NULL;
  bt_Tensor *out = bt_empty(ndim, shape, t->dtype, bt_dev(t));
  if (!out) return NULL;
  if (masked_fill_into(op, out, t, mask, value) < 0) {
    bt_release(out);
    return NULL;
  }
  return record(out, "MaskedFillBackward", masked_fill_backward, 1, &t, 0, mask);
}

/* In place in a graph: compute out of place (recording the rule), copy the
** result into t, and let t take the result's place in the graph. */
static int masked_fill_graph(const char *op, bt_Tensor *t, bt_Tensor *mask, double value) {
  bt_Tensor *r = bt_masked_fill(t, mask, value);
  CopyKernel copy = r ? BT_KERNEL(op, bt_dev(t), copy) : NULL;
  int rc = copy ? copy(t, r) : -1;
  if (rc == 0) bt_bump_version(t);
  if (rc == 0 && r->grad_fn) {
    bt_node_retain(r->grad_fn);
    bt_node_release(t->grad_fn);
    t->grad_fn = r->grad_fn;
    t->requires_grad = true;
  }
  bt_release(r);
  return rc;
}

int bt_masked_fill_(bt_Tensor *t, bt_Tensor *mask, double value) {
  const char *op = "masked_fill_";
  if (bt_ag_check_inplace(op, t) < 0 || check_mask(op, t, mask) < 0) return -1;
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  if (bt_broadcast_shapes(op, t->ndim, t->shape, mask->ndim, mask->shape, &ndim, shape) < 0)
    return -1;
  if (!bt_shape_eq(t, ndim, shape))
    return bt_seterr("%s: mask %s would broadcast the target %s to %s; in place, the mask must "
                     "broadcast to the target's shape", op, bt_shp(mask), bt_shp(t),
                     bt_shpn(ndim, shape));
  if (bt_ag_needs(1, &t) && bt_dtype_is_float(t->dtype)) return masked_fill_graph(op, t, mask, value);
  if (masked_fill_into(op, t, t, mask, value) < 0) return -1;
  bt_bump_version(t);
  return 0;
}

/* The true elements of a contiguous bool mask on its device (the nonzero
** kernel, dispatch.h): flat positions [k], or coordinates [k, ndim]. */
static bt_Tensor *true_elements(const char *op, const bt_Tensor *mask, bool flat) {
  int (*k)(bt_Tensor **, const bt_Tensor *, bool) = BT_KERNEL(op, bt_dev(mask), nonzero);
  bt_Tensor *out = NULL;
  if (k && k(&out, mask, flat) < 0) {
    bt_release(out);
    return NULL;
  }
  return out;
}

/* The mask broadcast to shape, as a contiguous bool tensor. */
static bt_Tensor *dense_mask(const char *op, bt_Tensor *mask, int ndim, const int64_t *shape) {
  bt_Tensor *e = bt_expand_raw(mask, ndim, shape);
  bt_Tensor *d = e ? bt_contiguous_as(e, BT_BOOL) : NULL;
  bt_release(e);
  return d;
}

/* The differentiable part is index_select on the flattened (broadcast) t:
** its backward index_adds the gradient into zeros at the saved positions. */
bt_Tensor *bt_masked_select(bt_Tensor *t, bt_Tensor *mask) {
  const char *op = "masked_select";
  if (check_mask(op, t, mask) < 0) return NULL;
  int ndim;
  int64_t shape[BT_MAX_DIMS], all = -1;
  if (bt_broadcast_shapes(op, t->ndim, t->shape, mask->ndim, mask->shape, &ndim, shape) < 0)
    return NULL;
  bt_Tensor *m = dense_mask(op, mask, ndim, shape);
  bt_Tensor *pos = m ? true_elements(op, m, true) : NULL;
  bt_Tensor *te = pos ? bt_expand(t, ndim, shape) : NULL;
  bt_Tensor *flat = te ? bt_reshape(te, 1, &all) : NULL;
  bt_Tensor *out = flat ? bt_index_select(flat, 0, pos) : NULL;
  if (out && out->grad_fn) out->grad_fn->name = "MaskedSelectBackward";
  BT_RELEASE(m, pos, te, flat);
  return out;
}

bt_Tensor *bt_nonzero(bt_Tensor *t) {
  const char *op = "nonzero";
  bt_Tensor *m = bt_contiguous_as(t, BT_BOOL);
  bt_Tensor *out = m ? true_elements(op, m, false) : NULL;
  bt_release(m);
  return out;
}

/* ---- cat / stack ----------------------------------------------------------------- */

/* PyTorch still skips 1-D empty tensors in cat, whatever their shape. */
static bool legacy_empty(const bt_Tensor *t) { return t->ndim == 1 && t->shape[0] == 0; }

/* Each input's gradient is its window of g. Where the windows start is a
** saved CPU i64 tensor (-1 for a skipped empty input, which gets zeros). */
static int cat_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const int64_t *offset = bt_data(n->saved[0]);
  int dim = (int)n->i[0];
  for (int i = 0; i < n->n_next; i++) {
    if (!bt_ag_wants(n, i)) continue;
    const bt_Edge *e = &n->next[i];
    gin[i] = offset[i] < 0 ? bt_zeros(e->ndim, e->shape, g->dtype, bt_dev(g))
                           : bt_narrow(g, dim, offset[i], e->shape[dim]);
    if (!gin[i]) return -1;
  }
  return 0;
}

/* Checks the inputs of cat; sets *ref (the tensor giving the shape), the
** wrapped dim, the result dtype and the output shape. */
static int check_cat(int n, bt_Tensor *const *ts, int *dim, const bt_Tensor **ref, bt_DType *dt,
                     int64_t *shape) {
  const char *op = "cat";
  if (n <= 0 || !ts) return bt_seterr("cat: expects a non-empty list of tensors");
  *ref = NULL;
  for (int i = 0; i < n; i++) {
    if (!ts[i]) return bt_seterr("cat: tensor %d is missing", i + 1);
    if (ts[i]->ndim == 0)
      return bt_seterr("cat: tensor %d is 0-dim and cannot be concatenated (use stack)", i + 1);
    if (!*ref && !legacy_empty(ts[i])) *ref = ts[i];
  }
  if (!*ref) *ref = ts[0];
  const bt_Tensor *r = *ref;
  if ((*dim = bt_wrap_dim(op, *dim, r->ndim)) < 0) return -1;
  memcpy(shape, r->shape, sizeof(int64_t) * BT_MAX_DIMS);
  shape[*dim] = 0;
  *dt = ts[0]->dtype;
  for (int i = 0; i < n; i++) {
    const bt_Tensor *t = ts[i];
    *dt = bt_promote(*dt, t->dtype);
    if (same_device(op, r, t) < 0) return -1;
    if (legacy_empty(t) && t != r) continue;
    bool ok = t->ndim == r->ndim;
    for (int d = 0; ok && d < r->ndim; d++)
      if (d != *dim && t->shape[d] != r->shape[d]) ok = false;
    if (!ok)
      return bt_seterr("cat: tensor %d has shape %s but tensor 1 has %s: sizes must match "
                       "except at dim %d", i + 1, bt_shp(t), bt_shp(r), *dim + 1);
    shape[*dim] += t->shape[*dim];
  }
  return 0;
}

/* Copies each input into its window of out; offset[i] gets where it starts. */
static int cat_copy(bt_Tensor *out, int n, bt_Tensor *const *ts, const bt_Tensor *ref, int dim,
                    int64_t *offset) {
  CopyKernel copy = BT_KERNEL("cat", bt_dev(out), copy);
  if (!copy) return -1;
  int64_t at = 0;
  for (int i = 0; i < n; i++) {
    const bt_Tensor *t = ts[i];
    if (legacy_empty(t) && t != ref) {
      offset[i] = -1;
      continue;
    }
    offset[i] = at;
    bt_Tensor *window = bt_alias(out, t->ndim, t->shape, out->stride, out->offset + at * out->stride[dim]);
    int rc = window ? copy(window, t) : -1;
    bt_release(window);
    if (rc < 0) return -1;
    at += t->shape[dim];
  }
  return 0;
}

bt_Tensor *bt_cat(int n, bt_Tensor *const *ts, int dim) {
  const bt_Tensor *ref = NULL;
  bt_DType dt = BT_F32;
  int64_t shape[BT_MAX_DIMS], count = n;
  if (check_cat(n, ts, &dim, &ref, &dt, shape) < 0) return NULL;
  bt_Tensor *out = bt_empty(ref->ndim, shape, dt, bt_dev(ref));
  bt_Tensor *offsets = out ? bt_empty(1, &count, BT_I64, BT_CPU_DEVICE) : NULL;
  if (!offsets || cat_copy(out, n, ts, ref, dim, bt_data(offsets)) < 0) {
    BT_RELEASE(out, offsets);
    return NULL;
  }
  out = record(out, "CatBackward", cat_backward, n, ts, dim, offsets);
  bt_release(offsets);
  return out;
}

bt_Tensor *bt_stack(int n, bt_Tensor *const *ts, int dim) {
  const char *op = "stack";
  if (n <= 0 || !ts) return bt_seterr("stack: expects a non-empty list of tensors"), NULL;
  for (int i = 0; i < n; i++) {
    if (!ts[i]) return bt_seterr("stack: tensor %d is missing", i + 1), NULL;
    if (!bt_same_shape(ts[i], ts[0]))
      return bt_seterr("stack: tensor %d has shape %s but tensor 1 has %s: all must have the "
                       "same shape", i + 1, bt_shp(ts[i]), bt_shp(ts[0])), NULL;
  }
  if (ts[0]->ndim >= BT_MAX_DIMS)
    return bt_seterr("stack: tensors of shape %s already have %d dims", bt_shp(ts[0]),
                     BT_MAX_DIMS), NULL;
  if ((dim = bt_wrap_dim(op, dim, ts[0]->ndim + 1)) < 0) return NULL;
  bt_Tensor **u = calloc((size_t)n, sizeof *u);
  if (!u) return bt_seterr("stack: out of memory"), NULL;
  bt_Tensor *out = NULL;
  int i = 0;
  while (i < n && (u[i] = bt_unsqueeze(ts[i], dim))) i++;
  if (i == n) out = bt_cat(n, u, dim);
  if (out && out->grad_fn) out->grad_fn->name = "StackBackward";
  bt_release_n(i, u);
  free(u);
  return out;
}

/* ---- split / chunk ----------------------------------------------------------------- */

/* count narrows of `size` along dim (the last may be shorter). */
static int pieces(bt_Tensor *t, int dim, int64_t size, int count, bt_Tensor ***out, int *n) {
  bt_Tensor **arr = calloc((size_t)BT_MAX(count, 1), sizeof *arr);
  if (!arr) return bt_seterr("split: out of memory");
  int64_t len = t->shape[dim];
  for (int i = 0; i < count; i++) {
    int64_t start = BT_MIN((int64_t)i * size, len);
    if (!(arr[i] = bt_narrow(t, dim, start, BT_MIN(size, len - start)))) {
      bt_release_n(i, arr);
      free(arr);
      return -1;
    }
  }
  *out = arr;
  *n = count;
  return 0;
}

int bt_split(bt_Tensor *t, int64_t size, int dim, bt_Tensor ***out, int *n) {
  *out = NULL;
  *n = 0;
  if (t->ndim == 0) return bt_seterr("split: cannot split a 0-dim tensor");
  if ((dim = bt_wrap_dim("split", dim, t->ndim)) < 0) return -1;
  int64_t len = t->shape[dim];
  if (size <= 0 && !(size == 0 && len == 0))
    return bt_seterr("split: piece size must be positive, got %lld (shape %s)", (long long)size,
                     bt_shp(t));
  int64_t count = len == 0 ? 1 : (len + size - 1) / size;
  if (count > INT32_MAX) return bt_seterr("split: %lld pieces are too many", (long long)count);
  return pieces(t, dim, size, (int)count, out, n);
}

int bt_chunk(bt_Tensor *t, int chunks, int dim, bt_Tensor ***out, int *n) {
  *out = NULL;
  *n = 0;
  if (t->ndim == 0) return bt_seterr("chunk: cannot chunk a 0-dim tensor");
  if ((dim = bt_wrap_dim("chunk", dim, t->ndim)) < 0) return -1;
  if (chunks <= 0) return bt_seterr("chunk: number of chunks must be positive, got %d", chunks);
  int64_t len = t->shape[dim];
  if (len == 0) return pieces(t, dim, 0, chunks, out, n);   /* chunks empty pieces */
  int64_t size = (len + chunks - 1) / chunks;
  return pieces(t, dim, size, (int)((len + size - 1) / size), out, n);
}

/* ---- sort / topk ----------------------------------------------------------------- */

/* Values came from t at the saved indices: send g back there. */
static int sort_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *z = zeros_of_edge(n, 0, g);
  gin[0] = z ? bt_scatter_add(z, (int)n->i[0], n->saved[0], g) : NULL;
  bt_release(z);
  return gin[0] ? 0 : -1;
}

/* Sorted values and indices of t along dim, outside any graph. */
static int sort_raw(const char *op, bt_Tensor *t, int dim, bool descending, bt_Tensor **values,
                    bt_Tensor **indices) {
  int (*k)(bt_Tensor *, bt_Tensor *, const bt_Tensor *, int, bool) = BT_KERNEL(op, bt_dev(t), sort);
  if (!k) return -1;
  bt_Tensor *v = bt_empty(t->ndim, t->shape, t->dtype, bt_dev(t));
  bt_Tensor *ix = v ? bt_zeros(t->ndim, t->shape, BT_I64, bt_dev(t)) : NULL;
  int rc = -1;
  if (ix && t->ndim == 0) {
    CopyKernel copy = BT_KERNEL(op, bt_dev(t), copy);
    rc = copy ? copy(v, t) : -1;
  } else if (ix) {
    rc = k(v, ix, t, dim, descending);
  }
  if (rc < 0) {
    BT_RELEASE(v, ix);
    return -1;
  }
  *values = v;
  *indices = ix;
  return 0;
}

int bt_sort(bt_Tensor *t, int dim, bool descending, bt_Tensor **values, bt_Tensor **indices) {
  *values = *indices = NULL;
  if ((dim = bt_wrap_dim("sort", dim, t->ndim)) < 0) return -1;
  bt_Tensor *v, *ix;
  if (sort_raw("sort", t, dim, descending, &v, &ix) < 0) return -1;
  if (!(v = record(v, "SortBackward", sort_backward, 1, &t, dim, ix))) {
    bt_release(ix);
    return -1;
  }
  *values = v;
  *indices = ix;
  return 0;
}

/* The first k along dim of a sorted result, as a contiguous tensor. */
static bt_Tensor *first_k(bt_Tensor *s, int dim, int64_t k) {
  if (s->ndim == 0) {
    bt_retain(s);
    return s;
  }
  int64_t shape[BT_MAX_DIMS];
  memcpy(shape, s->shape, sizeof shape);
  shape[dim] = k;
  bt_Tensor *window = bt_alias(s, s->ndim, shape, s->stride, s->offset);
  bt_Tensor *c = window ? bt_contiguous_as(window, s->dtype) : NULL;
  bt_release(window);
  return c;
}

int bt_topk(bt_Tensor *t, int64_t k, int dim, bool largest, bool sorted, bt_Tensor **values,
            bt_Tensor **indices) {
  *values = *indices = NULL;
  (void)sorted;   /* the result is always sorted, which PyTorch allows either way */
  if ((dim = bt_wrap_dim("topk", dim, t->ndim)) < 0) return -1;
  int64_t len = size_at(t, dim);
  if (k < 0 || k > len || (t->ndim == 0 && k != 1))
    return bt_seterr("topk: k = %lld is out of range for dim %d of size %lld (shape %s)",
                     (long long)k, dim + 1, (long long)len, bt_shp(t));
  bt_Tensor *sv, *si;
  if (sort_raw("topk", t, dim, largest, &sv, &si) < 0) return -1;
  bt_Tensor *v = first_k(sv, dim, k), *ix = v ? first_k(si, dim, k) : NULL;
  BT_RELEASE(sv, si);
  if (!ix) {
    bt_release(v);
    return -1;
  }
  if (!(v = record(v, "TopkBackward", sort_backward, 1, &t, dim, ix))) {
    bt_release(ix);
    return -1;
  }
  *values = v;
  *indices = ix;
  return 0;
}

/* ---- one_hot ----------------------------------------------------------------------- */

/* Smallest and largest class id of a non-empty integer tensor. */
static int class_range(bt_Tensor *t, int64_t *lo, int64_t *hi) {
  bt_Tensor *mn = bt_min_all(t), *mx = mn ? bt_max_all(t) : NULL;
  bt_Tensor *hn = mx ? bt_to_device(mn, BT_CPU_DEVICE) : NULL;   /* read on the host */
  bt_Tensor *hx = hn ? bt_to_device(mx, BT_CPU_DEVICE) : NULL;
  if (hx) {
    *lo = bt_get_flat_i64(hn, 0);
    *hi = bt_get_flat_i64(hx, 0);
  }
  BT_RELEASE(mn, mx, hn, hx);
  return hx ? 0 : -1;
}

/* Ones written by the scatter kernel at [..., t[...]] of a zero [..., C]. */
static bt_Tensor *one_hot_fill(bt_Tensor *t, int64_t classes) {
  const char *op = "one_hot";
  int nd = t->ndim + 1;
  int64_t shape[BT_MAX_DIMS], ishape[BT_MAX_DIMS], istride[BT_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) {
    shape[d] = ishape[d] = t->shape[d];
    istride[d] = t->stride[d];
  }
  shape[nd - 1] = classes;
  ishape[nd - 1] = 1;
  istride[nd - 1] = 1;
  int (*k)(bt_Tensor *, int, const bt_Tensor *, const bt_Tensor *, bool) =
      BT_KERNEL(op, bt_dev(t), scatter);
  if (!k) return NULL;
  bt_Tensor *out = bt_zeros(nd, shape, BT_I64, bt_dev(t));
  bt_Tensor *ix = out ? bt_alias(t, nd, ishape, istride, t->offset) : NULL;
  bt_Tensor *one = ix ? bt_full(0, NULL, 1, BT_I64, bt_dev(t)) : NULL;
  bt_Tensor *ones = one ? bt_expand_raw(one, nd, ishape) : NULL;
  int rc = ones ? k(out, nd - 1, ix, ones, false) : -1;
  BT_RELEASE(ix, one, ones);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  return out;
}

bt_Tensor *bt_one_hot(bt_Tensor *t, int64_t num_classes) {
  const char *op = "one_hot";
  if (t->dtype != BT_I64 && t->dtype != BT_I32)
    return bt_seterr("one_hot: expects an integer tensor (i64) of class ids, got %s of shape %s",
                     bt_dtype_name(t->dtype), bt_shp(t)), NULL;
  if (t->ndim >= BT_MAX_DIMS)
    return bt_seterr("one_hot: a tensor of shape %s already has %d dims", bt_shp(t), BT_MAX_DIMS), NULL;
  int64_t lo = 0, hi = -1;
  if (bt_numel(t) > 0 && class_range(t, &lo, &hi) < 0) return NULL;
  if (num_classes <= 0) {
    if (bt_numel(t) == 0)
      return bt_seterr("one_hot: cannot infer the number of classes from an empty tensor %s; "
                       "pass it", bt_shp(t)), NULL;
    num_classes = hi + 1;
  }
  if (lo < 0 || hi >= num_classes)
    return bt_seterr("%s: class %lld is out of range for %lld classes (valid: 1..%lld; shape %s)",
                     op, (long long)(lo < 0 ? lo : hi) + 1, (long long)num_classes,
                     (long long)num_classes, bt_shp(t)), NULL;
  return one_hot_fill(t, num_classes);
}
