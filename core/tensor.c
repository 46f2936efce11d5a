/*
** tensor.c: the tensor struct: creation, reference counts, shapes,
** element access. Ops live in ops/; kernels in cpu/.
*/
#include "internal.h"
#include "autograd.h"

#include <stdio.h>

/* ---- shapes ------------------------------------------------------------- */

int64_t bt_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride) {
  int64_t n = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    stride[d] = n;
    if (__builtin_mul_overflow(n, shape[d], &n)) n = INT64_MAX;   /* callers check sizes */
  }
  return n;
}

int64_t bt_checked_numel(const char *op, int ndim, const int64_t *shape) {
  if (ndim < 0 || ndim > BT_MAX_DIMS)
    return bt_seterr("%s: %d dims (at most %d)", op, ndim, BT_MAX_DIMS);
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] < 0)
      return bt_seterr("%s: negative size %lld in shape %s", op, (long long)shape[d],
                       bt_shpn(ndim, shape));
    if (shape[d] && n > INT64_MAX / shape[d])
      return bt_seterr("%s: shape %s has too many elements", op, bt_shpn(ndim, shape));
    n *= shape[d];
  }
  return n;
}

int64_t bt_numel(const bt_Tensor *t) {
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
  return n;
}

bool bt_is_contiguous(const bt_Tensor *t) {
  int64_t expect = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->shape[d] != 1 && t->stride[d] != expect) return false;
    expect *= t->shape[d];
  }
  return true;
}

bool bt_shape_eq(const bt_Tensor *t, int ndim, const int64_t *shape) {
  if (t->ndim != ndim) return false;
  for (int d = 0; d < ndim; d++)
    if (t->shape[d] != shape[d]) return false;
  return true;
}

bool bt_same_shape(const bt_Tensor *a, const bt_Tensor *b) {
  return bt_shape_eq(a, b->ndim, b->shape);
}

int bt_broadcast_shapes(const char *op, int na, const int64_t *a, int nb, const int64_t *b,
                        int *nout, int64_t *out) {
  int n = BT_MAX(na, nb);
  for (int i = 0; i < n; i++) {
    int64_t sa = i < na ? a[na - 1 - i] : 1;
    int64_t sb = i < nb ? b[nb - 1 - i] : 1;
    if (sa != sb && sa != 1 && sb != 1)
      return bt_seterr("%s: shapes %s and %s cannot be broadcast (size %lld vs %lld at dim %d)",
                       op, bt_shpn(na, a), bt_shpn(nb, b), (long long)sa, (long long)sb,
                       n - i);
    out[n - 1 - i] = sa == 1 ? sb : sa;
  }
  *nout = n;
  return 0;
}

void *bt_data(const bt_Tensor *t) {
  return (char *)t->storage->data + t->offset * (int64_t)bt_dtype_size(t->dtype);
}

/* ---- creation --------------------------------------------------------- */

bt_Tensor *bt_tensor_wrap(bt_Storage *s, bt_DType dt, int ndim, const int64_t *shape,
                          const int64_t *stride, int64_t offset) {
  bt_Tensor *t = calloc(1, sizeof *t);
  if (!t) return bt_seterr("out of memory"), NULL;
  t->refcount = 1;
  t->dtype = dt;
  t->ndim = ndim;
  for (int d = 0; d < ndim; d++) {
    t->shape[d] = shape[d];
    t->stride[d] = stride[d];
  }
  t->offset = offset;
  t->storage = s;
  bt_storage_retain(s);
  return t;
}

bt_Tensor *bt_alias(bt_Tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset) {
  return bt_tensor_wrap(t->storage, t->dtype, ndim, shape, stride, offset);
}

bt_Tensor *bt_empty(int ndim, const int64_t *shape, bt_DType dt, bt_Device dev) {
  if ((unsigned)dt >= BT_NUM_DTYPES) return bt_seterr("empty: bad dtype %d", (int)dt), NULL;
  int64_t n = bt_checked_numel("empty", ndim, shape);
  if (n < 0) return NULL;
  size_t es = bt_dtype_size(dt);
  if (n > INT64_MAX / (int64_t)es)
    return bt_seterr("empty: shape %s has too many elements", bt_shpn(ndim, shape)), NULL;
  bt_Storage *s = bt_storage_new("empty", n * (int64_t)es, dev);
  if (!s) return NULL;
  int64_t stride[BT_MAX_DIMS];
  bt_contiguous_strides(ndim, shape, stride);
  bt_Tensor *t = bt_tensor_wrap(s, dt, ndim, shape, stride, 0);
  bt_storage_release(s);
  return t;
}

bt_Tensor *bt_full(int ndim, const int64_t *shape, double v, bt_DType dt, bt_Device dev) {
  bt_Tensor *t = bt_empty(ndim, shape, dt, dev);
  if (t && bt_fill_(t, v) < 0) {
    bt_release(t);
    return NULL;
  }
  return t;
}

bt_Tensor *bt_zeros(int ndim, const int64_t *shape, bt_DType dt, bt_Device dev) {
  bt_Tensor *t = bt_empty(ndim, shape, dt, dev);
  if (t && dev.type == BT_CPU) memset(t->storage->data, 0, (size_t)t->storage->nbytes);
  else if (t && bt_fill_(t, 0) < 0) {
    bt_release(t);
    return NULL;
  }
  return t;
}

bt_Tensor *bt_ones(int ndim, const int64_t *shape, bt_DType dt, bt_Device dev) {
  return bt_full(ndim, shape, 1, dt, dev);
}

bt_Tensor *bt_scalar(double v, bt_DType dt) {
  bt_Tensor *t = bt_empty(0, NULL, dt, BT_CPU_DEVICE);
  if (t) bt_store(t->storage->data, dt, v);
  return t;
}

bt_Tensor *bt_scalar_i64(int64_t v, bt_DType dt) {
  bt_Tensor *t = bt_empty(0, NULL, dt, BT_CPU_DEVICE);
  if (t) bt_store_i64(t->storage->data, dt, v);
  return t;
}

bt_Tensor *bt_empty_like(const bt_Tensor *t) {
  return bt_empty(t->ndim, t->shape, t->dtype, t->storage->device);
}
bt_Tensor *bt_zeros_like(const bt_Tensor *t) {
  return bt_zeros(t->ndim, t->shape, t->dtype, t->storage->device);
}
bt_Tensor *bt_ones_like(const bt_Tensor *t) {
  return bt_full(t->ndim, t->shape, 1, t->dtype, t->storage->device);
}
bt_Tensor *bt_full_like(const bt_Tensor *t, double v) {
  return bt_full(t->ndim, t->shape, v, t->dtype, t->storage->device);
}

bt_Tensor *bt_arange(double start, double step, int64_t n, bt_DType dt) {
  int64_t shape[1] = {n};
  bt_Tensor *t = bt_empty(1, shape, dt, BT_CPU_DEVICE);
  if (!t) return NULL;
  char *p = t->storage->data;
  size_t es = bt_dtype_size(dt);
  bool integral = !bt_dtype_is_float(dt) && start == floor(start) && step == floor(step);
  for (int64_t i = 0; i < n; i++) {
    if (integral) bt_store_i64(p + i * es, dt, (int64_t)start + i * (int64_t)step);
    else bt_store(p + i * es, dt, start + (double)i * step);
  }
  return t;
}

bt_Tensor *bt_linspace(double a, double b, int64_t n, bt_DType dt) {
  if (n < 0) return bt_seterr("linspace: negative count %lld", (long long)n), NULL;
  int64_t shape[1] = {n};
  bt_Tensor *t = bt_empty(1, shape, dt, BT_CPU_DEVICE);
  if (!t) return NULL;
  double step = n > 1 ? (b - a) / (double)(n - 1) : 0;
  size_t es = bt_dtype_size(dt);
  for (int64_t i = 0; i < n; i++) {
    /* Fill from both ends so the last value is exactly b, as PyTorch does. */
    double v = i < n / 2 ? a + step * (double)i : b - step * (double)(n - 1 - i);
    bt_store((char *)t->storage->data + i * es, dt, v);
  }
  return t;
}

bt_Tensor *bt_eye(int64_t n, int64_t m, bt_DType dt) {
  int64_t shape[2] = {n, m};
  bt_Tensor *t = bt_zeros(2, shape, dt, BT_CPU_DEVICE);
  if (!t) return NULL;
  size_t es = bt_dtype_size(dt);
  for (int64_t i = 0; i < BT_MIN(n, m); i++)
    bt_store((char *)t->storage->data + (i * m + i) * es, dt, 1);
  return t;
}

bt_Tensor *bt_from_buffer(int ndim, const int64_t *shape, bt_DType dt, const void *src,
                          bt_DType src_dtype) {
  bt_Tensor *t = bt_empty(ndim, shape, dt, BT_CPU_DEVICE);
  if (!t) return NULL;
  int64_t n = bt_numel(t);
  size_t es = bt_dtype_size(dt), ses = bt_dtype_size(src_dtype);
  char *p = t->storage->data;
  const char *q = src;
  if (dt == src_dtype) {
    memcpy(p, q, (size_t)n * es);
  } else if (bt_dtype_is_float(dt) || bt_dtype_is_float(src_dtype)) {
    for (int64_t i = 0; i < n; i++) bt_store(p + i * es, dt, bt_load(q + i * ses, src_dtype));
  } else {
    for (int64_t i = 0; i < n; i++)
      bt_store_i64(p + i * es, dt, bt_load_i64(q + i * ses, src_dtype));
  }
  return t;
}

/* ---- reference counts ------------------------------------------------------ */

void bt_retain(bt_Tensor *t) { __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED); }

void bt_release(bt_Tensor *t) {
  if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
  bt_release(t->grad);
  bt_node_release(t->grad_fn);
  for (bt_Hook *h = t->hooks, *next; h; h = next) {
    next = h->next;
    if (h->free_ud) h->free_ud(h->ud);
    free(h);
  }
  bt_storage_release(t->storage);
  free(t);
}

/* ---- element access --------------------------------------------------------- */

double bt_load(const void *p, bt_DType dt) {
  switch (dt) {
    case BT_F32: return *(const float *)p;
    case BT_F64: return *(const double *)p;
    case BT_F16: return bt_f16_to_f32(*(const uint16_t *)p);
    case BT_BF16: return bt_bf16_to_f32(*(const uint16_t *)p);
    case BT_I64: return (double)*(const int64_t *)p;
    case BT_I32: return *(const int32_t *)p;
    case BT_U8: return *(const uint8_t *)p;
    case BT_BOOL: return *(const uint8_t *)p != 0;
    default: return 0;
  }
}

/* Float to int64 the defined way: truncate toward zero, saturate at the
** ends of the range, NaN gives 0 (a plain C cast of 1e300 is undefined). */
int64_t bt_f2i(double v) {
  if (!(v == v)) return 0;
  if (v >= 9223372036854775807.0) return INT64_MAX;
  if (v <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)v;
}

void bt_store(void *p, bt_DType dt, double v) {
  switch (dt) {
    case BT_F32: *(float *)p = (float)v; break;
    case BT_F64: *(double *)p = v; break;
    case BT_F16: *(uint16_t *)p = bt_f32_to_f16((float)v); break;
    case BT_BF16: *(uint16_t *)p = bt_f32_to_bf16((float)v); break;
    /* Float to integer: truncate toward zero like a C cast (PyTorch's .long()). */
    case BT_I64: *(int64_t *)p = bt_f2i(v); break;
    case BT_I32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)bt_f2i(v); break;   /* wraps like C */
    case BT_U8: *(uint8_t *)p = (uint8_t)(uint64_t)bt_f2i(v); break;
    case BT_BOOL: *(uint8_t *)p = v != 0; break;
    default: break;
  }
}

int64_t bt_load_i64(const void *p, bt_DType dt) {
  switch (dt) {
    case BT_I64: return *(const int64_t *)p;
    case BT_I32: return *(const int32_t *)p;
    case BT_U8: return *(const uint8_t *)p;
    case BT_BOOL: return *(const uint8_t *)p != 0;
    default: {
      return bt_f2i(bt_load(p, dt));
    }
  }
}

void bt_store_i64(void *p, bt_DType dt, int64_t v) {
  switch (dt) {
    case BT_I64: *(int64_t *)p = v; break;
    case BT_I32: *(int32_t *)p = (int32_t)v; break;
    case BT_U8: *(uint8_t *)p = (uint8_t)v; break;
    case BT_BOOL: *(uint8_t *)p = v != 0; break;
    default: bt_store(p, dt, (double)v); break;
  }
}

/* Offset (in elements) of the i-th element in C order. */
static int64_t flat_offset(const bt_Tensor *t, int64_t i) {
  int64_t off = t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    off += (i % t->shape[d]) * t->stride[d];
    i /= t->shape[d];
  }
  return off;
}

static const void *elem_ptr(const bt_Tensor *t, int64_t off) {
  return (const char *)t->storage->data + off * (int64_t)bt_dtype_size(t->dtype);
}

/* Element reads go through the host copy for non-CPU tensors: callers that
** read a GPU tensor move it to the CPU first (the binding does). */
double bt_get_flat(const bt_Tensor *t, int64_t i) {
  return bt_load(elem_ptr(t, flat_offset(t, i)), t->dtype);
}

int64_t bt_get_flat_i64(const bt_Tensor *t, int64_t i) {
  return bt_load_i64(elem_ptr(t, flat_offset(t, i)), t->dtype);
}

static int64_t index_offset(const bt_Tensor *t, const int64_t *index) {
  int64_t off = t->offset;
  for (int d = 0; d < t->ndim; d++) off += index[d] * t->stride[d];
  return off;
}

double bt_get(const bt_Tensor *t, const int64_t *index) {
  return bt_load(elem_ptr(t, index_offset(t, index)), t->dtype);
}

int64_t bt_get_i64(const bt_Tensor *t, const int64_t *index) {
  return bt_load_i64(elem_ptr(t, index_offset(t, index)), t->dtype);
}

static int check_index(const char *op, const bt_Tensor *t, const int64_t *index) {
  if (t->storage->device.type != BT_CPU)
    return bt_seterr("%s: element access needs a CPU tensor (use :cpu())", op);
  for (int d = 0; d < t->ndim; d++)
    if (index[d] < 0 || index[d] >= t->shape[d])
      return bt_seterr("%s: index %lld out of range for dim %d of size %lld (shape %s)", op,
                       (long long)index[d] + 1, d + 1, (long long)t->shape[d], bt_shp(t));
  return 0;
}

int bt_set(bt_Tensor *t, const int64_t *index, double v) {
  if (check_index("set", t, index) < 0 || bt_ag_check_inplace("set", t) < 0) return -1;
  bt_store((void *)elem_ptr(t, index_offset(t, index)), t->dtype, v);
  bt_bump_version(t);
  return 0;
}

int bt_set_i64(bt_Tensor *t, const int64_t *index, int64_t v) {
  if (check_index("set", t, index) < 0 || bt_ag_check_inplace("set", t) < 0) return -1;
  bt_store_i64((void *)elem_ptr(t, index_offset(t, index)), t->dtype, v);
  bt_bump_version(t);
  return 0;
}

int bt_to_doubles(const bt_Tensor *t, double *dst) {
  int64_t n = bt_numel(t);
  if (t->dtype == BT_F32 && bt_is_contiguous(t)) {
    const float *p = bt_data(t);
    for (int64_t i = 0; i < n; i++) dst[i] = p[i];
    return 0;
  }
  for (int64_t i = 0; i < n; i++) dst[i] = bt_get_flat(t, i);
  return 0;
}
