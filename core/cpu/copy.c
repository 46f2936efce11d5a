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

/* ---- transposing copy ---------------------------------------------------------- */

/* dst contiguous [..., R, C] from a src whose last two dims are a transpose:
** dst[i][j] = src[j * s + i] (src steps by one element along dim nd-2 and by
** s > 1 along dim nd-1). x:transpose(2, 3):contiguous() of an Embedding's
** [N x L x D] output is one (3.8M floats a batch in the course's text CNN,
** and as many for the gradient on its way back). The iterator's runs walk
** dst's rows with a strided read per element: 2-3 ms for those 3.8M floats
** on one core of the AMD EPYC used for the benchmarks (a plain copy: 0.4
** ms). 4-byte elements go instead through 8 x 8 blocks transposed in AVX2
** registers (8 loads of 8 consecutive elements of src, 8 stores into dst):
** 1.1-1.2 ms. Other sizes, and CPUs without AVX2, read src in order. A unit
** of work is JB rows of src (columns of dst) of one matrix. */
#define JB 64

typedef struct {
  char *dst;
  const char *src;
  int64_t R, C, s;                 /* rows and columns of dst; src's stride along dim nd-1 */
  int64_t jblocks;                 /* JB-column blocks per matrix */
  int nb;                          /* batch dims */
  int64_t bshape[BT_MAX_DIMS], bstride[BT_MAX_DIMS];   /* src's, in elements */
  size_t es;
  bool avx2;
} Transpose;

/* dst[i][j] = src[j * s + i] for j in [j0, j1), every i. */
#define DEFINE_TRANSPOSE_COLS(NAME, T)                                                 \
  static void NAME(T *restrict dst, const T *restrict src, int64_t R, int64_t C,       \
                   int64_t s, int64_t j0, int64_t j1) {                                \
    for (int64_t j = j0; j < j1; j++) {                                                \
      const T *sj = src + j * s;                                                       \
      for (int64_t i = 0; i < R; i++) dst[i * C + j] = sj[i];                          \
    }                                                                                  \
  }
DEFINE_TRANSPOSE_COLS(cols_8, uint64_t)
DEFINE_TRANSPOSE_COLS(cols_4, uint32_t)
DEFINE_TRANSPOSE_COLS(cols_2, uint16_t)
DEFINE_TRANSPOSE_COLS(cols_1, uint8_t)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2")))

static bool cpu_has_avx2(void) {
  static int have = -1;   /* a benign race: every thread computes the same */
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx2");
  }
  return have;
}

/* One 8 x 8 block: d[c * ldd + a] = s[a * lds + c]. Moves bits (the float
** type only names the registers: no arithmetic, NaN payloads kept). */
AVX2 static inline void block8(uint32_t *d, int64_t ldd, const uint32_t *s, int64_t lds) {
  const float *f = (const float *)s;
  __m256 r0 = _mm256_loadu_ps(f), r1 = _mm256_loadu_ps(f + lds);
  __m256 r2 = _mm256_loadu_ps(f + 2 * lds), r3 = _mm256_loadu_ps(f + 3 * lds);
  __m256 r4 = _mm256_loadu_ps(f + 4 * lds), r5 = _mm256_loadu_ps(f + 5 * lds);
  __m256 r6 = _mm256_loadu_ps(f + 6 * lds), r7 = _mm256_loadu_ps(f + 7 * lds);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  float *o = (float *)d;
  _mm256_storeu_ps(o, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(o + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(o + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(o + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(o + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(o + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(o + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(o + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* cols_4 for j in [j0, j1): whole 8 x 8 blocks, the rest element by element. */
AVX2 static void cols_4_avx2(uint32_t *dst, const uint32_t *src, int64_t R, int64_t C, int64_t s,
                             int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + 8 <= j1; j += 8) {
    int64_t i = 0;
    for (; i + 8 <= R; i += 8) block8(dst + i * C + j, C, src + j * s + i, s);
    for (; i < R; i++)
      for (int64_t k = j; k < j + 8; k++) dst[i * C + k] = src[k * s + i];
  }
  if (j < j1) cols_4(dst, src, R, C, s, j, j1);
}
#else
static bool cpu_has_avx2(void) { return false; }
#endif

/* Units [u0, u1): unit u is column block u % jblocks of matrix u / jblocks. */
static void transpose_range(void *ctx, int64_t u0, int64_t u1) {
  const Transpose *t = ctx;
  for (int64_t u = u0; u < u1; u++) {
    int64_t b = u / t->jblocks, j0 = u % t->jblocks * JB, j1 = BT_MIN(j0 + JB, t->C);
    int64_t off = 0, rem = b;
    for (int d = t->nb - 1; d >= 0; d--) {
      off += rem % t->bshape[d] * t->bstride[d];
      rem /= t->bshape[d];
    }
    char *dm = t->dst + (size_t)(b * t->R * t->C) * t->es;
    const char *sm = t->src + off * (int64_t)t->es;
    switch (t->es) {
      case 8: cols_8((uint64_t *)dm, (const uint64_t *)sm, t->R, t->C, t->s, j0, j1); break;
      case 4:
#if defined(__x86_64__) && defined(__GNUC__)
        if (t->avx2) {
          cols_4_avx2((uint32_t *)dm, (const uint32_t *)sm, t->R, t->C, t->s, j0, j1);
          break;
        }
#endif
        cols_4((uint32_t *)dm, (const uint32_t *)sm, t->R, t->C, t->s, j0, j1);
        break;
      case 2: cols_2((uint16_t *)dm, (const uint16_t *)sm, t->R, t->C, t->s, j0, j1); break;
      default: cols_1((uint8_t *)dm, (const uint8_t *)sm, t->R, t->C, t->s, j0, j1); break;
    }
  }
}

/* Whether copy(dst, src) is a transposing copy (see Transpose), once dims of
** size 1 are dropped (conv1d views [N, C, L] as [N, C, 1, L]); fills t. */
static bool transpose_plan(Transpose *t, bt_Tensor *dst, const bt_Tensor *src) {
  if (dst->dtype != src->dtype || dst->ndim != src->ndim || !bt_is_contiguous(dst) ||
      dst->storage == src->storage)   /* overlapping copies keep the iterator's order */
    return false;
  int64_t shape[BT_MAX_DIMS], stride[BT_MAX_DIMS];
  int nd = 0;
  for (int d = 0; d < src->ndim; d++) {
    if (dst->shape[d] != src->shape[d]) return false;
    if (src->shape[d] == 1) continue;
    shape[nd] = src->shape[d];
    stride[nd++] = src->stride[d];
  }
  if (nd < 2) return false;
  int64_t R = shape[nd - 2], C = shape[nd - 1], s = stride[nd - 1];
  if (stride[nd - 2] != 1 || s <= 1 || R < 8 || C < 8) return false;
  if (bt_numel(src) < BT_GRAIN) return false;   /* small: the iterator is as good */
  *t = (Transpose){.dst = bt_data(dst), .src = bt_data(src), .R = R, .C = C, .s = s,
                   .jblocks = (C + JB - 1) / JB, .nb = nd - 2,
                   .es = bt_dtype_size(src->dtype), .avx2 = cpu_has_avx2()};
  for (int d = 0; d < nd - 2; d++) {
    t->bshape[d] = shape[d];
    t->bstride[d] = stride[d];
  }
  return true;
}

int bt_cpu_copy(bt_Tensor *dst, const bt_Tensor *src) {
  bt_RowFn fn;
  bt_DType dt[2] = {dst->dtype, src->dtype};
  Transpose tr;
  if (transpose_plan(&tr, dst, src)) {
    int64_t units = bt_numel(src) / (tr.R * tr.C) * tr.jblocks;
    return bt_parallel_for(units, BT_MAX(1, BT_GRAIN / (JB * tr.R)), transpose_range, &tr);
  }
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
