/*
** cpu/copy.c: copy with dtype conversion, fill, and random fills.
*/
#include "iter.h"
#include "kernels.h"

/* Same dtype: copy bits by element size. */
#define COPY_SAME(NAME, T)                                                   \
  static void NAME(void *ctx, char **p, const int64_t *s, int64_t n) {       \
    if (s[0] == sizeof(T) && s[1] == sizeof(T)) {                            \
      memcpy(p[0], p[1], (size_t)n * sizeof(T));                             \
    } else {                                                                 \
      for (int64_t i = 0; i < n; i++)                                        \
        *(T *)(p[0] + i * s[0]) = *(const T *)(p[1] + i * s[1]);             \
    }                                                                        \
  }
COPY_SAME(copy_8, uint64_t)
COPY_SAME(copy_4, uint32_t)
COPY_SAME(copy_2, uint16_t)
COPY_SAME(copy_1, uint8_t)

/* A conversion loop from TS to TD through CONV(x). */
#define CAST(NAME, TD, TS, CONV)                                             \
  static void NAME(void *ctx, char **p, const int64_t *s, int64_t n) {       \
    for (int64_t i = 0; i < n; i++) {                                        \
      TS x = *(const TS *)(p[1] + i * s[1]);                                 \
      *(TD *)(p[0] + i * s[0]) = CONV;                                       \
    }                                                                        \
  }
CAST(f64_from_f32, double, float, x)
CAST(f32_from_f64, float, double, (float)x)
CAST(f32_from_f16, float, uint16_t, bt_f16_to_f32(x))
CAST(f16_from_f32, uint16_t, float, bt_f32_to_f16(x))
CAST(f32_from_bf16, float, uint16_t, bt_bf16_to_f32(x))
CAST(bf16_from_f32, uint16_t, float, bt_f32_to_bf16(x))
CAST(f32_from_i64, float, int64_t, (float)x)
CAST(f64_from_i64, double, int64_t, (double)x)
CAST(f32_from_i32, float, int32_t, (float)x)
CAST(f32_from_u8, float, uint8_t, (float)x)
CAST(f64_from_u8, double, uint8_t, (double)x)
CAST(i64_from_i32, int64_t, int32_t, x)
CAST(i32_from_i64, int32_t, int64_t, (int32_t)x)
CAST(i64_from_u8, int64_t, uint8_t, x)
CAST(bool_from_f32, uint8_t, float, x != 0)
CAST(i64_from_f32, int64_t, float, bt_f2i(x))
CAST(i64_from_f64, int64_t, double, bt_f2i(x))
CAST(bool_from_i64, uint8_t, int64_t, x != 0)
CAST(bool_from_u8, uint8_t, uint8_t, x != 0)

/* Any other pair: through double, or int64 between integer types. */
static void cast_generic(void *ctx, char **p, const int64_t *s, int64_t n) {
  const bt_DType *dt = ctx;
  bool exact = !bt_dtype_is_float(dt[0]) && !bt_dtype_is_float(dt[1]);
  for (int64_t i = 0; i < n; i++) {
    if (exact) bt_store_i64(p[0] + i * s[0], dt[0], bt_load_i64(p[1] + i * s[1], dt[1]));
    else bt_store(p[0] + i * s[0], dt[0], bt_load(p[1] + i * s[1], dt[1]));
  }
}

static bt_RowFn cast_fn(bt_DType d, bt_DType s) {
  static const struct {
    bt_DType d, s;
    bt_RowFn fn;
  } table[] = {
    {BT_F64, BT_F32, f64_from_f32}, {BT_F32, BT_F64, f32_from_f64},
    {BT_F32, BT_F16, f32_from_f16}, {BT_F16, BT_F32, f16_from_f32},
    {BT_F32, BT_BF16, f32_from_bf16}, {BT_BF16, BT_F32, bf16_from_f32},
    {BT_F32, BT_I64, f32_from_i64}, {BT_F64, BT_I64, f64_from_i64},
    {BT_F32, BT_I32, f32_from_i32}, {BT_F32, BT_U8, f32_from_u8},
    {BT_F32, BT_BOOL, f32_from_u8}, {BT_F64, BT_U8, f64_from_u8},
    {BT_F64, BT_BOOL, f64_from_u8}, {BT_I64, BT_I32, i64_from_i32},
    {BT_I32, BT_I64, i32_from_i64}, {BT_I64, BT_U8, i64_from_u8},
    {BT_I64, BT_BOOL, i64_from_u8}, {BT_BOOL, BT_F32, bool_from_f32},
    {BT_I64, BT_F32, i64_from_f32}, {BT_I64, BT_F64, i64_from_f64},
    {BT_BOOL, BT_I64, bool_from_i64}, {BT_BOOL, BT_U8, bool_from_u8},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].d == d && table[i].s == s) return table[i].fn;
  return NULL;
}

int bt_cpu_copy(bt_Tensor *dst, const bt_Tensor *src) {
  bt_RowFn fn;
  bt_DType dt[2] = {dst->dtype, src->dtype};
  if (dst->dtype == src->dtype) {
    switch (bt_dtype_size(dst->dtype)) {
      case 8: fn = copy_8; break;
      case 4: fn = copy_4; break;
      case 2: fn = copy_2; break;
      default: fn = copy_1; break;
    }
  } else if (!(fn = cast_fn(dst->dtype, src->dtype))) {
    fn = cast_generic;
  }
  const bt_Tensor *ops[2] = {dst, src};
  return bt_iter_run(2, ops, fn, dt, BT_GRAIN * 2);
}

#define FILL(NAME, T)                                                        \
  static void NAME(void *ctx, char **p, const int64_t *s, int64_t n) {       \
    T v = *(const T *)ctx;                                                   \
    for (int64_t i = 0; i < n; i++) *(T *)(p[0] + i * s[0]) = v;             \
  }
FILL(fill_8, uint64_t)
FILL(fill_4, uint32_t)
FILL(fill_2, uint16_t)
FILL(fill_1, uint8_t)

int bt_cpu_fill(bt_Tensor *t, double value) {
  unsigned char bits[8];
  bt_store(bits, t->dtype, value);   /* the value's bit pattern in t's dtype */
  bt_RowFn fn;
  switch (bt_dtype_size(t->dtype)) {
    case 8: fn = fill_8; break;
    case 4: fn = fill_4; break;
    case 2: fn = fill_2; break;
    default: fn = fill_1; break;
  }
  const bt_Tensor *ops[1] = {t};
  return bt_iter_run(1, ops, fn, bits, BT_GRAIN * 2);
}

/* ---- random ------------------------------------------------------------------ */

typedef struct {
  const bt_RandomArgs *args;
  bt_Tensor *t;
} RandomCtx;

/* Uniform in [0, 1) with 53 random bits. */
static double u01(const uint32_t r[4], int k) {
  uint64_t x = ((uint64_t)r[k] << 21) ^ (r[(k + 1) & 3] >> 11);
  return (double)(x & ((1ULL << 53) - 1)) * (1.0 / 9007199254740992.0);
}

/* Element i of the tensor (C order) uses Philox block (counter + i): the
** value depends only on the seed and i, never on threads. */
static void random_range(void *ctx, int64_t begin, int64_t end) {
  const RandomCtx *c = ctx;
  const bt_RandomArgs *r = c->args;
  bt_Tensor *t = c->t;
  size_t es = bt_dtype_size(t->dtype);
  char *base = t->storage->data;
  for (int64_t i = begin; i < end; i++) {
    uint32_t w[4];
    bt_philox(r->seed, r->counter + (uint64_t)i, w);
    double v;
    switch (r->kind) {
      case BT_RAND_UNIFORM: v = r->a + (r->b - r->a) * u01(w, 0); break;
      case BT_RAND_NORMAL: {   /* Box-Muller */
        double u1 = 1.0 - u01(w, 0), u2 = u01(w, 2);
        v = r->a + r->b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        break;
      }
      case BT_RAND_BERNOULLI: v = u01(w, 0) < r->a; break;
      default: {   /* integers in [lo, hi]: unsigned arithmetic, no overflow */
        uint64_t range = (uint64_t)r->hi - (uint64_t)r->lo + 1;   /* 0: the whole int64 range */
        uint64_t x = ((uint64_t)w[0] << 32) | w[1];
        uint64_t k = range ? x % range : x;
        /* t is contiguous here: see bt_cpu_random. */
        bt_store_i64(base + (t->offset + i) * (int64_t)es, t->dtype, (int64_t)((uint64_t)r->lo + k));
        continue;
      }
    }
    bt_store(base + (t->offset + i) * (int64_t)es, t->dtype, v);
  }
}

int bt_cpu_random(bt_Tensor *t, const bt_RandomArgs *args) {
  if (!bt_is_contiguous(t)) {
    /* Fill a contiguous temporary, then copy: same numbers as a contiguous fill. */
    bt_Tensor *tmp = bt_empty(t->ndim, t->shape, t->dtype, t->storage->device);
    if (!tmp) return -1;
    int rc = bt_cpu_random(tmp, args);
    if (rc == 0) rc = bt_cpu_copy(t, tmp);
    bt_release(tmp);
    return rc;
  }
  RandomCtx c = {args, t};
  return bt_parallel_for(bt_numel(t), 4096, random_range, &c);
}
