/*
** ops/view.c: views (no copy) and their backward rules: view, reshape,
** flatten, transpose, permute, narrow, select, squeeze, unsqueeze, expand;
** and contiguous, clone, detach.
**
** A view shares its input's storage; it is marked as a graph view when the
** input requires grad, so in-place writes through it are refused instead of
** silently giving wrong gradients.
*/
#include "internal.h"
#include "autograd.h"

/* A differentiable view of t: records `name` with `fn` when needed. */
static bt_Tensor *make_view(bt_Tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                            int64_t offset, const char *name, bt_BackwardFn fn) {
  bt_Tensor *out = bt_alias(t, ndim, shape, stride, offset);
  if (!out) return NULL;
  bt_ag_mark_view(out, t);
  if (bt_ag_needs(1, &t) && !bt_ag_record(name, fn, 1, &t, out)) {
    bt_release(out);
    return NULL;
  }
  return out;
}

/* ---- view / reshape ----------------------------------------------------- */

static int reshape_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = bt_reshape(g, n->next[0].ndim, n->next[0].shape);
  return gin[0] ? 0 : -1;
}

/* Resolves one -1 and checks the element count. */
static int infer_shape(const char *op, const bt_Tensor *t, int ndim, const int64_t *shape,
                       int64_t *out) {
  if (ndim < 0 || ndim > BT_MAX_DIMS)
    return bt_seterr("%s: %d dims (at most %d)", op, ndim, BT_MAX_DIMS);
  int infer = -1;
  int64_t known = 1, numel = bt_numel(t);
  for (int d = 0; d < ndim; d++) {
    out[d] = shape[d];
    if (shape[d] == -1) {
      if (infer >= 0) return bt_seterr("%s: only one size may be -1, got %s", op, bt_shpn(ndim, shape));
      infer = d;
    } else if (shape[d] < 0) {
      return bt_seterr("%s: negative size in shape %s", op, bt_shpn(ndim, shape));
    } else {
      if (shape[d] && known > INT64_MAX / shape[d])
        return bt_seterr("%s: shape %s has too many elements", op, bt_shpn(ndim, shape));
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      return bt_seterr("%s: cannot view a tensor of shape %s (%lld elements) as %s", op, bt_shp(t),
                       (long long)numel, bt_shpn(ndim, shape));
    out[infer] = numel / known;
    known = numel;
  }
  if (known != numel)
    return bt_seterr("%s: cannot view a tensor of shape %s (%lld elements) as %s (%lld elements)",
                     op, bt_shp(t), (long long)numel, bt_shpn(ndim, shape), (long long)known);
  return 0;
}

/* Strides that let t be seen with the new shape without a copy, as
** PyTorch's computeStride does; false when impossible. */
static bool view_strides(const bt_Tensor *t, int ndim, const int64_t *shape, int64_t *stride) {
  if (bt_numel(t) == 0 || t->ndim == 0) {
    bt_contiguous_strides(ndim, shape, stride);
    return true;
  }
  int view_d = ndim - 1;
  int64_t base = t->stride[t->ndim - 1];   /* stride of the current chunk's last dim */
  int64_t tensor_numel = 1, view_numel = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    tensor_numel *= t->shape[d];
    /* At the end of a contiguous chunk of the old shape, map it onto new dims. */
    if (d == 0 || (t->shape[d - 1] != 1 && t->stride[d - 1] != tensor_numel * base)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        stride[view_d] = view_numel * base;
        view_numel *= shape[view_d];
        view_d--;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        base = t->stride[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  return view_d == -1;
}

bt_Tensor *bt_view(bt_Tensor *t, int ndim, const int64_t *shape) {
  int64_t s[BT_MAX_DIMS], st[BT_MAX_DIMS];
  if (infer_shape("view", t, ndim, shape, s) < 0) return NULL;
  if (!view_strides(t, ndim, s, st))
    return bt_seterr("view: a tensor of shape %s with these strides cannot be viewed as %s "
                     "without a copy; use reshape", bt_shp(t), bt_shpn(ndim, s)), NULL;
  return make_view(t, ndim, s, st, t->offset, "ViewBackward", reshape_backward);
}

bt_Tensor *bt_reshape(bt_Tensor *t, int ndim, const int64_t *shape) {
  int64_t s[BT_MAX_DIMS], st[BT_MAX_DIMS];
  if (infer_shape("reshape", t, ndim, shape, s) < 0) return NULL;
  if (view_strides(t, ndim, s, st))
    return make_view(t, ndim, s, st, t->offset, "ViewBackward", reshape_backward);
  bt_Tensor *c = bt_clone(t);   /* differentiable copy, then a view of it */
  if (!c) return NULL;
  bt_Tensor *out = bt_view(c, ndim, s);
  bt_release(c);
  return out;
}

bt_Tensor *bt_flatten(bt_Tensor *t, int start, int end) {
  if (t->ndim == 0) {
    int64_t one = 1;
    return bt_reshape(t, 1, &one);
  }
  if ((start = bt_wrap_dim("flatten", start, t->ndim)) < 0) return NULL;
  if ((end = bt_wrap_dim("flatten", end, t->ndim)) < 0) return NULL;
  if (start > end)
    return bt_seterr("flatten: start dim %d comes after end dim %d", start + 1, end + 1), NULL;
  int64_t shape[BT_MAX_DIMS];
  int n = 0;
  for (int d = 0; d < start; d++) shape[n++] = t->shape[d];
  int64_t m = 1;
  for (int d = start; d <= end; d++) m *= t->shape[d];
  shape[n++] = m;
  for (int d = end + 1; d < t->ndim; d++) shape[n++] = t->shape[d];
  return bt_reshape(t, n, shape);
}

/* ---- transpose / permute ------------------------------------------------ */

static int transpose_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = bt_transpose(g, (int)n->i[0], (int)n->i[1]);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_transpose(bt_Tensor *t, int d0, int d1) {
  if ((d0 = bt_wrap_dim("transpose", d0, t->ndim)) < 0) return NULL;
  if ((d1 = bt_wrap_dim("transpose", d1, t->ndim)) < 0) return NULL;
  int64_t shape[BT_MAX_DIMS], stride[BT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  memcpy(stride, t->stride, sizeof stride);
  if (t->ndim > 0) {
    shape[d0] = t->shape[d1]; shape[d1] = t->shape[d0];
    stride[d0] = t->stride[d1]; stride[d1] = t->stride[d0];
  }
  bt_Tensor *out = make_view(t, t->ndim, shape, stride, t->offset, "TransposeBackward",
                             transpose_backward);
  if (out && out->grad_fn && out->grad_fn->backward == transpose_backward) {
    out->grad_fn->i[0] = d0;
    out->grad_fn->i[1] = d1;
  }
  return out;
}

bt_Tensor *bt_t(bt_Tensor *t) {
  if (t->ndim > 2)
    return bt_seterr("t: expects a tensor with at most 2 dims, got %s (use transpose)", bt_shp(t)), NULL;
  if (t->ndim < 2) {
    bt_retain(t);
    return t;
  }
  return bt_transpose(t, 0, 1);
}

static int permute_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  int inv[BT_MAX_DIMS];
  for (int d = 0; d < g->ndim; d++) inv[n->i[d]] = d;
  gin[0] = bt_permute(g, inv);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_permute(bt_Tensor *t, const int *dims) {
  int64_t shape[BT_MAX_DIMS], stride[BT_MAX_DIMS];
  int seen[BT_MAX_DIMS] = {0}, wrapped[BT_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) {
    int s = bt_wrap_dim("permute", dims[d], t->ndim);
    if (s < 0) return NULL;
    if (seen[s]++) return bt_seterr("permute: dim %d appears twice", s + 1), NULL;
    wrapped[d] = s;
    shape[d] = t->shape[s];
    stride[d] = t->stride[s];
  }
  bt_Tensor *out = make_view(t, t->ndim, shape, stride, t->offset, "PermuteBackward",
                             permute_backward);
  if (out && out->grad_fn && out->grad_fn->backward == permute_backward)
    for (int d = 0; d < t->ndim; d++) out->grad_fn->i[d] = wrapped[d];
  return out;
}

/* ---- narrow / select ---------------------------------------------------- */

static int narrow_backward_rule(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = bt_narrow_backward(g, n->next[0].ndim, n->next[0].shape, (int)n->i[0], n->i[1]);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_narrow(bt_Tensor *t, int dim, int64_t start, int64_t length) {
  if (t->ndim == 0) return bt_seterr("narrow: cannot narrow a 0-dim tensor"), NULL;
  if ((dim = bt_wrap_dim("narrow", dim, t->ndim)) < 0) return NULL;
  if (start < 0 || length < 0 || start + length > t->shape[dim])
    return bt_seterr("narrow: range %lld..%lld is outside dim %d of size %lld (shape %s)",
                     (long long)start + 1, (long long)(start + length), dim + 1,
                     (long long)t->shape[dim], bt_shp(t)), NULL;
  int64_t shape[BT_MAX_DIMS];
  memcpy(shape, t->shape, sizeof shape);
  shape[dim] = length;
  bt_Tensor *out = make_view(t, t->ndim, shape, t->stride, t->offset + start * t->stride[dim],
                             "NarrowBackward", narrow_backward_rule);
  if (out && out->grad_fn && out->grad_fn->backward == narrow_backward_rule) {
    out->grad_fn->i[0] = dim;
    out->grad_fn->i[1] = start;
  }
  return out;
}

static int select_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  int dim = (int)n->i[0];
  bt_Tensor *u = bt_unsqueeze(g, dim);
  if (!u) return -1;
  gin[0] = bt_narrow_backward(u, n->next[0].ndim, n->next[0].shape, dim, n->i[1]);
  bt_release(u);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_select(bt_Tensor *t, int dim, int64_t index) {
  if (t->ndim == 0) return bt_seterr("select: cannot index a 0-dim tensor"), NULL;
  if ((dim = bt_wrap_dim("select", dim, t->ndim)) < 0) return NULL;
  int64_t size = t->shape[dim];
  if (index < -size || index >= size)
    return bt_seterr("select: index %lld out of range for dim %d of size %lld (shape %s)",
                     (long long)(index < 0 ? index : index + 1), dim + 1, (long long)size,
                     bt_shp(t)), NULL;
  if (index < 0) index += size;
  int64_t shape[BT_MAX_DIMS], stride[BT_MAX_DIMS];
  int n = 0;
  for (int d = 0; d < t->ndim; d++)
    if (d != dim) {
      shape[n] = t->shape[d];
      stride[n++] = t->stride[d];
    }
  bt_Tensor *out = make_view(t, n, shape, stride, t->offset + index * t->stride[dim],
                             "SelectBackward", select_backward);
  if (out && out->grad_fn && out->grad_fn->backward == select_backward) {
    out->grad_fn->i[0] = dim;
    out->grad_fn->i[1] = index;
  }
  return out;
}

/* ---- squeeze / unsqueeze / expand ------------------------------------------ */

bt_Tensor *bt_squeeze(bt_Tensor *t, int dim) {
  int64_t shape[BT_MAX_DIMS], stride[BT_MAX_DIMS];
  int n = 0;
  if (dim != BT_ALL_DIMS && (dim = bt_wrap_dim("squeeze", dim, t->ndim)) < 0) return NULL;
  for (int d = 0; d < t->ndim; d++) {
    bool drop = t->shape[d] == 1 && (dim == BT_ALL_DIMS || dim == d);
    if (!drop) {
      shape[n] = t->shape[d];
      stride[n++] = t->stride[d];
    }
  }
  return make_view(t, n, shape, stride, t->offset, "SqueezeBackward", reshape_backward);
}

bt_Tensor *bt_unsqueeze(bt_Tensor *t, int dim) {
  if (t->ndim >= BT_MAX_DIMS)
    return bt_seterr("unsqueeze: a tensor of shape %s already has %d dims", bt_shp(t), BT_MAX_DIMS), NULL;
  if ((dim = bt_wrap_dim("unsqueeze", dim, t->ndim + 1)) < 0) return NULL;
  int64_t shape[BT_MAX_DIMS], stride[BT_MAX_DIMS];
  int n = 0;
  for (int d = 0; d <= t->ndim; d++) {
    if (d == dim) {
      shape[n] = 1;
      stride[n++] = d < t->ndim ? t->stride[d] * t->shape[d] : 1;
    }
    if (d < t->ndim) {
      shape[n] = t->shape[d];
      stride[n++] = t->stride[d];
    }
  }
  return make_view(t, n, shape, stride, t->offset, "UnsqueezeBackward", reshape_backward);
}

bt_Tensor *bt_expand_raw(bt_Tensor *t, int ndim, const int64_t *shape) {
  int64_t stride[BT_MAX_DIMS];
  int off = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int sd = d - off;
    stride[d] = sd < 0 || t->shape[sd] != shape[d] ? 0 : t->stride[sd];
  }
  return bt_alias(t, ndim, shape, stride, t->offset);
}

/* The engine reduces the gradient to the input's shape: nothing to do here. */
static int identity_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_retain(g);
  gin[0] = g;
  return 0;
}

bt_Tensor *bt_expand(bt_Tensor *t, int ndim, const int64_t *shape) {
  int64_t s[BT_MAX_DIMS];
  if (ndim < t->ndim || ndim > BT_MAX_DIMS)
    return bt_seterr("expand: cannot expand %s to %d dims", bt_shp(t), ndim), NULL;
  int off = ndim - t->ndim;
  for (int d = 0; d < ndim; d++) {
    int sd = d - off;
    s[d] = shape[d] == -1 && sd >= 0 ? t->shape[sd] : shape[d];
    if (s[d] < 0 || (sd >= 0 && t->shape[sd] != 1 && t->shape[sd] != s[d]))
      return bt_seterr("expand: cannot expand %s to %s", bt_shp(t), bt_shpn(ndim, shape)), NULL;
  }
  if (bt_checked_numel("expand", ndim, s) < 0) return NULL;   /* numel must fit int64 */
  bt_Tensor *raw = bt_expand_raw(t, ndim, s);
  if (!raw) return NULL;
  bt_Tensor *out = make_view(t, ndim, raw->shape, raw->stride, t->offset, "ExpandBackward",
                             identity_backward);
  bt_release(raw);
  return out;
}

bt_Tensor *bt_as_strided(bt_Tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                         int64_t offset) {
  int64_t es = (int64_t)bt_dtype_size(t->dtype), last = offset;
  if (bt_checked_numel("as_strided", ndim, shape) < 0) return NULL;
  for (int d = 0; d < ndim; d++) {
    if (stride[d] < 0) return bt_seterr("as_strided: negative stride"), NULL;
    if (shape[d] == 0) last = offset - 1;
    else if (last >= offset) last += (shape[d] - 1) * stride[d];
  }
  if (offset < 0 || (last >= offset && (last + 1) * es > t->storage->nbytes))
    return bt_seterr("as_strided: view of shape %s reaches outside its storage", bt_shpn(ndim, shape)), NULL;
  return bt_alias(t, ndim, shape, stride, offset);
}

/* ---- copies that stay in the graph ----------------------------------------- */

bt_Tensor *bt_clone(bt_Tensor *t) {
  bt_Tensor *out = bt_empty_like(t);
  if (!out) return NULL;
  int (*k)(bt_Tensor *, const bt_Tensor *) = BT_KERNEL("clone", t->storage->device, copy);
  if (!k || k(out, t) < 0) {
    bt_release(out);
    return NULL;
  }
  if (bt_ag_needs(1, &t) && !bt_ag_record("CloneBackward", identity_backward, 1, &t, out)) {
    bt_release(out);
    return NULL;
  }
  return out;
}

bt_Tensor *bt_contiguous(bt_Tensor *t) {
  if (bt_is_contiguous(t)) {
    bt_retain(t);
    return t;
  }
  return bt_clone(t);
}

bt_Tensor *bt_detach(bt_Tensor *t) {
  return bt_alias(t, t->ndim, t->shape, t->stride, t->offset);
}

bt_Tensor *bt_contiguous_as(bt_Tensor *t, bt_DType dt) {
  if (t->dtype == dt && bt_is_contiguous(t)) {
    bt_retain(t);
    return t;
  }
  bt_Tensor *out = bt_empty(t->ndim, t->shape, dt, t->storage->device);
  if (!out) return NULL;
  int (*k)(bt_Tensor *, const bt_Tensor *) = BT_KERNEL("contiguous", t->storage->device, copy);
  if (!k || k(out, t) < 0) {
    bt_release(out);
    return NULL;
  }
  return out;
}

bt_Tensor *bt_to_dtype(bt_Tensor *t, bt_DType dt) {
  if ((unsigned)dt >= BT_NUM_DTYPES) return bt_seterr("to: bad dtype"), NULL;
  if (t->dtype == dt) {
    bt_retain(t);
    return t;
  }
  bt_Tensor *out = bt_empty(t->ndim, t->shape, dt, t->storage->device);
  if (!out) return NULL;
  int (*k)(bt_Tensor *, const bt_Tensor *) = BT_KERNEL("to", t->storage->device, copy);
  if (!k || k(out, t) < 0) {
    bt_release(out);
    return NULL;
  }
  /* Casting between float dtypes keeps the graph; the engine casts the
  ** gradient back to the input's dtype. */
  if (bt_dtype_is_float(dt) && bt_ag_needs(1, &t) &&
      !bt_ag_record("ToBackward", identity_backward, 1, &t, out)) {
    bt_release(out);
    return NULL;
  }
  return out;
}

/* ---- the gradient of narrow (itself differentiable) ------------------------- */

static int narrow_backward_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  gin[0] = bt_narrow(g, (int)n->i[0], n->i[1], n->next[0].shape[n->i[0]]);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_narrow_backward(bt_Tensor *grad, int ndim, const int64_t *shape, int dim,
                              int64_t start) {
  bt_Tensor *out = bt_zeros(ndim, shape, grad->dtype, grad->storage->device);
  if (!out) return NULL;
  int64_t off = start * out->stride[dim];
  bt_Tensor *window = bt_alias(out, grad->ndim, grad->shape, out->stride, off);
  int (*k)(bt_Tensor *, const bt_Tensor *) = BT_KERNEL("narrow_backward", grad->storage->device, copy);
  int rc = window && k ? k(window, grad) : -1;
  bt_release(window);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  if (bt_ag_needs(1, &grad)) {
    bt_Node *n = bt_ag_record("NarrowBackwardBackward", narrow_backward_backward, 1, &grad, out);
    if (!n) {
      bt_release(out);
      return NULL;
    }
    n->i[0] = dim;
    n->i[1] = start;
  }
  return out;
}
