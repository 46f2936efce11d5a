/*
** cpu/elementwise.c: binary, unary, clamp and where kernels.
**
** Each dtype has one small function per family; inside, a switch on the op
** selects a tight loop (LOOP2/LOOP1 below) whose contiguous and broadcast
** cases the compiler vectorises. <tgmath.h> makes exp, pow, ... pick the
** float or double version from the argument type, so one body serves both.
*/
#include "iter.h"
#include "kernels.h"

#include <tgmath.h>

/* Binary loop over a run: o = EXPR(x, y). Byte strides so, sa, sb. */
#define LOOP2(TO, T, EXPR)                                                     \
  do {                                                                         \
    TO *o = (TO *)p[0];                                                        \
    const T *a = (const T *)p[1], *b = (const T *)p[2];                        \
    if (s[0] == sizeof(TO) && s[1] == sizeof(T) && s[2] == sizeof(T)) {        \
      for (int64_t i = 0; i < n; i++) { T x = a[i], y = b[i]; o[i] = (TO)(EXPR); } \
    } else if (s[0] == sizeof(TO) && s[1] == sizeof(T) && s[2] == 0) {         \
      T y = b[0];                                                              \
      for (int64_t i = 0; i < n; i++) { T x = a[i]; o[i] = (TO)(EXPR); }       \
    } else if (s[0] == sizeof(TO) && s[1] == 0 && s[2] == sizeof(T)) {         \
      T x = a[0];                                                              \
      for (int64_t i = 0; i < n; i++) { T y = b[i]; o[i] = (TO)(EXPR); }       \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        T x = *(const T *)((const char *)a + i * s[1]);                        \
        T y = *(const T *)((const char *)b + i * s[2]);                        \
        *(TO *)((char *)o + i * s[0]) = (TO)(EXPR);                            \
      }                                                                        \
    }                                                                          \
  } while (0)

/* Unary loop over a run: o = EXPR(x). */
#define LOOP1(TO, T, EXPR)                                                     \
  do {                                                                         \
    TO *o = (TO *)p[0];                                                        \
    const T *a = (const T *)p[1];                                              \
    if (s[0] == sizeof(TO) && s[1] == sizeof(T)) {                             \
      for (int64_t i = 0; i < n; i++) { T x = a[i]; (void)x; o[i] = (TO)(EXPR); } \
    } else {                                                                   \
      for (int64_t i = 0; i < n; i++) {                                        \
        T x = *(const T *)((const char *)a + i * s[1]);                        \
        (void)x;                                                               \
        *(TO *)((char *)o + i * s[0]) = (TO)(EXPR);                            \
      }                                                                        \
    }                                                                          \
  } while (0)

/* Comparisons and logical ops, shared by every dtype: they output bool. */
#define COMPARE_CASES(T)                                          \
  case BT_EQ: LOOP2(uint8_t, T, x == y); break;                   \
  case BT_NE: LOOP2(uint8_t, T, x != y); break;                   \
  case BT_LT: LOOP2(uint8_t, T, x < y); break;                    \
  case BT_LE: LOOP2(uint8_t, T, x <= y); break;                   \
  case BT_GT: LOOP2(uint8_t, T, x > y); break;                    \
  case BT_GE: LOOP2(uint8_t, T, x >= y); break;                   \
  case BT_LOGICAL_AND: LOOP2(uint8_t, T, (x != 0) && (y != 0)); break; \
  case BT_LOGICAL_OR: LOOP2(uint8_t, T, (x != 0) || (y != 0)); break;  \
  case BT_LOGICAL_XOR: LOOP2(uint8_t, T, (x != 0) != (y != 0)); break

/* ---- float binary ------------------------------------------------------------ */

/* remainder takes the sign of the divisor, like Python's and Lua's %. */
#define FREM(x, y) (fmod(x, y) != 0 && ((fmod(x, y) < 0) != ((y) < 0)) ? fmod(x, y) + (y) : fmod(x, y))

/* NaN-propagating max/min (PyTorch's maximum/minimum). */
#define FMAXNAN(x, y) ((x) != (x) || (x) > (y) ? (x) : (y))
#define FMINNAN(x, y) ((x) != (x) || (x) < (y) ? (x) : (y))

#define FLOAT_BINARY_BODY(T)                                       \
  switch (op) {                                                    \
    case BT_ADD: LOOP2(T, T, x + y); break;                        \
    case BT_SUB: LOOP2(T, T, x - y); break;                        \
    case BT_MUL: LOOP2(T, T, x * y); break;                        \
    case BT_DIV: LOOP2(T, T, x / y); break;                        \
    case BT_POW: LOOP2(T, T, pow(x, y)); break;                    \
    case BT_MAXIMUM: LOOP2(T, T, FMAXNAN(x, y)); break;            \
    case BT_MINIMUM: LOOP2(T, T, FMINNAN(x, y)); break;            \
    case BT_ATAN2: LOOP2(T, T, atan2(x, y)); break;                \
    case BT_FMOD: LOOP2(T, T, fmod(x, y)); break;                  \
    case BT_REMAINDER: LOOP2(T, T, FREM(x, y)); break;             \
    COMPARE_CASES(T);                                              \
    default: break;                                                \
  }

static void binary_f32(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  FLOAT_BINARY_BODY(float)
}

static void binary_f64(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  FLOAT_BINARY_BODY(double)
}

/* ---- integer binary ------------------------------------------------------------ */

/* Integer overflow wraps around (two's complement, as in PyTorch): the
** arithmetic is done in uint64_t, where C defines it, then cast back. */
#define WRAP(T, e) ((T)(e))
#define UADD(x, y) ((uint64_t)(x) + (uint64_t)(y))
#define USUB(x, y) ((uint64_t)(x) - (uint64_t)(y))
#define UMUL(x, y) ((uint64_t)(x) * (uint64_t)(y))

static int64_t ipow(int64_t x, int64_t y) {
  if (y < 0) return x == 1 ? 1 : x == -1 ? (y & 1 ? -1 : 1) : 0;
  uint64_t r = 1, b = (uint64_t)x;
  while (y) {
    if (y & 1) r *= b;
    b *= b;
    y >>= 1;
  }
  return (int64_t)r;
}

/* C's % truncates; PyTorch's fmod does too. Division by zero gives 0
** instead of a crash. */
/* y == -1: INT64_MIN % -1 traps (SIGFPE) on x86; the result is 0 anyway. */
static int64_t imod(int64_t x, int64_t y) { return y == 0 || y == -1 ? 0 : x % y; }
#define IMOD(x, y) imod(x, y)
static int64_t irem(int64_t x, int64_t y) {
  if (y == 0 || y == -1) return 0;
  int64_t r = x % y;
  return r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
}
#define IREM(x, y) irem(x, y)

#define INT_BINARY_BODY(T)                                         \
  switch (op) {                                                    \
    case BT_ADD: LOOP2(T, T, WRAP(T, UADD(x, y))); break;         \
    case BT_SUB: LOOP2(T, T, WRAP(T, USUB(x, y))); break;         \
    case BT_MUL: LOOP2(T, T, WRAP(T, UMUL(x, y))); break;         \
    case BT_POW: LOOP2(T, T, ipow(x, y)); break;                   \
    case BT_MAXIMUM: LOOP2(T, T, x > y ? x : y); break;            \
    case BT_MINIMUM: LOOP2(T, T, x < y ? x : y); break;            \
    case BT_FMOD: LOOP2(T, T, IMOD(x, y)); break;                  \
    case BT_REMAINDER: LOOP2(T, T, IREM(x, y)); break;             \
    COMPARE_CASES(T);                                              \
    default: break;                                                \
  }

static void binary_i64(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  INT_BINARY_BODY(int64_t)
}

static void binary_i32(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  INT_BINARY_BODY(int32_t)
}

static void binary_u8(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  INT_BINARY_BODY(uint8_t)
}

/* bool: arithmetic was promoted away; maximum/minimum are or/and. */
static void binary_bool(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  switch (op) {
    case BT_MAXIMUM: LOOP2(uint8_t, uint8_t, x | y); break;
    case BT_MINIMUM: LOOP2(uint8_t, uint8_t, x & y); break;
    COMPARE_CASES(uint8_t);
    default: break;
  }
}

int bt_cpu_binary(bt_BinaryOp op, bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b) {
  bt_RowFn fn;
  switch (a->dtype) {
    case BT_F32: fn = binary_f32; break;
    case BT_F64: fn = binary_f64; break;
    case BT_I64: fn = binary_i64; break;
    case BT_I32: fn = binary_i32; break;
    case BT_U8: fn = binary_u8; break;
    case BT_BOOL: fn = binary_bool; break;
    default: return bt_seterr("%s: no CPU kernel for %s", bt_binary_name(op), bt_dtype_name(a->dtype));
  }
  const bt_Tensor *ops[3] = {out, a, b};
  int iop = op;
  return bt_iter_run(3, ops, fn, &iop, BT_GRAIN);
}

/* ---- unary ----------------------------------------------------------------------- */

#define SIGN(x) ((x) > 0 ? 1 : (x) < 0 ? -1 : 0)

#define FLOAT_UNARY_BODY(T)                                             \
  switch (op) {                                                         \
    case BT_NEG: LOOP1(T, T, -x); break;                                \
    case BT_ABS: LOOP1(T, T, fabs(x)); break;                           \
    case BT_EXP: LOOP1(T, T, exp(x)); break;                            \
    case BT_LOG: LOOP1(T, T, log(x)); break;                            \
    case BT_LOG1P: LOOP1(T, T, log1p(x)); break;                        \
    case BT_EXPM1: LOOP1(T, T, expm1(x)); break;                        \
    case BT_SQRT: LOOP1(T, T, sqrt(x)); break;                          \
    case BT_RSQRT: LOOP1(T, T, 1 / sqrt(x)); break;                     \
    case BT_SIN: LOOP1(T, T, sin(x)); break;                            \
    case BT_COS: LOOP1(T, T, cos(x)); break;                            \
    case BT_TAN: LOOP1(T, T, tan(x)); break;                            \
    case BT_TANH: LOOP1(T, T, tanh(x)); break;                          \
    case BT_SIGMOID: LOOP1(T, T, 1 / (1 + exp(-x))); break;             \
    case BT_RELU: LOOP1(T, T, x > 0 ? x : 0); break;                    \
    case BT_SIGN: LOOP1(T, T, x != x ? x : SIGN(x)); break;             \
    case BT_FLOOR: LOOP1(T, T, floor(x)); break;                        \
    case BT_CEIL: LOOP1(T, T, ceil(x)); break;                          \
    case BT_ROUND: LOOP1(T, T, nearbyint(x)); break;                    \
    case BT_TRUNC: LOOP1(T, T, trunc(x)); break;                        \
    case BT_RECIPROCAL: LOOP1(T, T, 1 / x); break;                      \
    case BT_SQUARE: LOOP1(T, T, x * x); break;                          \
    case BT_ERF: LOOP1(T, T, erf(x)); break;                            \
    case BT_ASIN: LOOP1(T, T, asin(x)); break;                          \
    case BT_ACOS: LOOP1(T, T, acos(x)); break;                          \
    case BT_ATAN: LOOP1(T, T, atan(x)); break;                          \
    case BT_SINH: LOOP1(T, T, sinh(x)); break;                          \
    case BT_COSH: LOOP1(T, T, cosh(x)); break;                          \
    case BT_LOG2: LOOP1(T, T, log2(x)); break;                          \
    case BT_LOG10: LOOP1(T, T, log10(x)); break;                        \
    case BT_EXP2: LOOP1(T, T, exp2(x)); break;                          \
    case BT_ISNAN: LOOP1(uint8_t, T, x != x); break;                    \
    case BT_ISINF: LOOP1(uint8_t, T, isinf(x) != 0); break;             \
    case BT_LOGICAL_NOT: LOOP1(uint8_t, T, x == 0); break;              \
    default: break;                                                     \
  }

static void unary_f32(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  FLOAT_UNARY_BODY(float)
}

static void unary_f64(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  FLOAT_UNARY_BODY(double)
}

/* Integer unary ops: the float-only ones were cast to float by the op. */
#define INT_UNARY_BODY(T)                                               \
  switch (op) {                                                         \
    case BT_NEG: LOOP1(T, T, WRAP(T, USUB(0, x))); break;               \
    case BT_ABS: LOOP1(T, T, x < 0 ? WRAP(T, USUB(0, x)) : x); break;   \
    case BT_SIGN: LOOP1(T, T, SIGN(x)); break;                          \
    case BT_RELU: LOOP1(T, T, x > 0 ? x : 0); break;                    \
    case BT_SQUARE: LOOP1(T, T, WRAP(T, UMUL(x, x))); break;                          \
    case BT_FLOOR: case BT_CEIL: case BT_ROUND: case BT_TRUNC:          \
      LOOP1(T, T, x); break;                                            \
    case BT_ISNAN: case BT_ISINF: LOOP1(uint8_t, T, 0); break;          \
    case BT_LOGICAL_NOT: LOOP1(uint8_t, T, x == 0); break;              \
    default: break;                                                     \
  }

static void unary_i64(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  INT_UNARY_BODY(int64_t)
}
static void unary_i32(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  INT_UNARY_BODY(int32_t)
}
/* Unsigned: abs and relu are the identity, sign is 0 or 1. */
static void unary_u8(void *ctx, char **p, const int64_t *s, int64_t n) {
  int op = *(int *)ctx;
  switch (op) {
    case BT_NEG: LOOP1(uint8_t, uint8_t, -x); break;
    case BT_SIGN: LOOP1(uint8_t, uint8_t, x != 0); break;
    case BT_SQUARE: LOOP1(uint8_t, uint8_t, x * x); break;
    case BT_ISNAN: case BT_ISINF: LOOP1(uint8_t, uint8_t, 0); break;
    case BT_LOGICAL_NOT: LOOP1(uint8_t, uint8_t, x == 0); break;
    default: LOOP1(uint8_t, uint8_t, x); break;
  }
}

int bt_cpu_unary(bt_UnaryOp op, bt_Tensor *out, const bt_Tensor *a) {
  bt_RowFn fn;
  switch (a->dtype) {
    case BT_F32: fn = unary_f32; break;
    case BT_F64: fn = unary_f64; break;
    case BT_I64: fn = unary_i64; break;
    case BT_I32: fn = unary_i32; break;
    case BT_U8: case BT_BOOL: fn = unary_u8; break;
    default: return bt_seterr("%s: no CPU kernel for %s", bt_unary_name(op), bt_dtype_name(a->dtype));
  }
  const bt_Tensor *ops[2] = {out, a};
  int iop = op;
  /* Transcendental functions cost more per element: smaller chunks. */
  return bt_iter_run(2, ops, fn, &iop, BT_GRAIN / 4);
}

/* ---- clamp, where --------------------------------------------------------------- */

typedef struct {
  double lo, hi;
} ClampArgs;

#define CLAMP(x, lo, hi) ((x) != (x) ? (x) : (x) < (lo) ? (lo) : (x) > (hi) ? (hi) : (x))

static void clamp_f32(void *ctx, char **p, const int64_t *s, int64_t n) {
  const ClampArgs *c = ctx;
  float lo = (float)c->lo, hi = (float)c->hi;
  LOOP1(float, float, CLAMP(x, lo, hi));
}
static void clamp_f64(void *ctx, char **p, const int64_t *s, int64_t n) {
  const ClampArgs *c = ctx;
  double lo = c->lo, hi = c->hi;
  LOOP1(double, double, CLAMP(x, lo, hi));
}
static void clamp_i64(void *ctx, char **p, const int64_t *s, int64_t n) {
  const ClampArgs *c = ctx;
  LOOP1(int64_t, int64_t, (double)x < c->lo ? (int64_t)ceil(c->lo) : (double)x > c->hi ? (int64_t)floor(c->hi) : x);
}
static void clamp_i32(void *ctx, char **p, const int64_t *s, int64_t n) {
  const ClampArgs *c = ctx;
  LOOP1(int32_t, int32_t, x < c->lo ? (int32_t)ceil(c->lo) : x > c->hi ? (int32_t)floor(c->hi) : x);
}
static void clamp_u8(void *ctx, char **p, const int64_t *s, int64_t n) {
  const ClampArgs *c = ctx;
  double lo = c->lo < 0 ? 0 : c->lo, hi = c->hi > 255 ? 255 : c->hi;
  LOOP1(uint8_t, uint8_t, x < lo ? (uint8_t)ceil(lo) : x > hi ? (uint8_t)floor(hi) : x);
}

int bt_cpu_clamp(bt_Tensor *out, const bt_Tensor *a, double lo, double hi) {
  bt_RowFn fn;
  switch (a->dtype) {
    case BT_F32: fn = clamp_f32; break;
    case BT_F64: fn = clamp_f64; break;
    case BT_I64: fn = clamp_i64; break;
    case BT_I32: fn = clamp_i32; break;
    case BT_U8: fn = clamp_u8; break;
    default: return bt_seterr("clamp: no CPU kernel for %s", bt_dtype_name(a->dtype));
  }
  ClampArgs c = {lo, hi};
  const bt_Tensor *ops[2] = {out, a};
  return bt_iter_run(2, ops, fn, &c, BT_GRAIN);
}

#define WHERE_ROW(NAME, T)                                                      \
  static void NAME(void *ctx, char **p, const int64_t *s, int64_t n) {          \
    for (int64_t i = 0; i < n; i++) {                                           \
      uint8_t c = *(const uint8_t *)(p[1] + i * s[1]);                          \
      *(T *)(p[0] + i * s[0]) = c ? *(const T *)(p[2] + i * s[2]) : *(const T *)(p[3] + i * s[3]); \
    }                                                                           \
  }
WHERE_ROW(where_8, uint64_t)
WHERE_ROW(where_4, uint32_t)
WHERE_ROW(where_2, uint16_t)
WHERE_ROW(where_1, uint8_t)

int bt_cpu_where(bt_Tensor *out, const bt_Tensor *cond, const bt_Tensor *a, const bt_Tensor *b) {
  bt_RowFn fn;
  switch (bt_dtype_size(out->dtype)) {   /* a select copies bits: size is all that matters */
    case 8: fn = where_8; break;
    case 4: fn = where_4; break;
    case 2: fn = where_2; break;
    default: fn = where_1; break;
  }
  const bt_Tensor *ops[4] = {out, cond, a, b};
  return bt_iter_run(4, ops, fn, NULL, BT_GRAIN);
}

