/*
** cuda/elementwise.cu: binary, unary, clamp and where kernels.
**
** One kernel per (output type, input type, op functor): a grid-stride loop
** over the elements, with a dense path (element i at i, or at 0 for a
** broadcast operand) and a strided path through the layout (up to 8 dims).
** Operands that are CPU host scalars (a wrapped Lua number, common.h) come
** in by value instead of by pointer. Results match cpu/elementwise.c:
** integer arithmetic wraps around, maximum/minimum propagate NaN,
** remainder takes the divisor's sign, integer fmod/remainder by 0 give 0.
**
** f16 and bf16 are native: a kernel loads halves, computes in float (the
** functors run on Traits<T>::value) and rounds once when it stores, which
** gives the numbers of the CPU's widen, compute in f32, narrow. A host
** scalar comes in as its float value, never rounded to the half first
** (x * 0.1 on f16 multiplies by 0.1f, as the CPU does).
**
** Shapes (dispatch.h): binary: out, a, b of one shape (a or b may be 0-dim)
** and of the compute dtype (out bool for comparisons and logical ops), a
** host-scalar operand of any dtype (read as the compute dtype's value type);
** unary: out, a of one shape and dtype (out bool for isnan, isinf,
** logical_not); clamp: out, a of one shape and dtype; where: out, cond
** (bool), a, b of one shape or 0-dim, a and b of out's dtype (host
** scalars: any dtype, converted to out's).
*/
#include "kernel.cuh"
#include "kernels.h"

#include <math.h>

/* ---- kernels --------------------------------------------------------------------- */

/* A functor's result (of the value type, or uint8_t for a bool result) as
** the output's storage type: halves round here, once. */
template <typename TO, typename R> __device__ __forceinline__ TO result_as(R r) { return (TO)r; }
template <> __device__ __forceinline__ f16_t result_as<f16_t, float>(float r) {
  return from_value<f16_t>(r);
}
template <> __device__ __forceinline__ bf16_t result_as<bf16_t, float>(float r) {
  return from_value<bf16_t>(r);
}

/* T is the operands' storage type; the functor sees Traits<T>::value. */
template <typename TO, typename T, typename F>
__global__ void binary_kernel(btc_Layout L, bool dense, F f, TO *out, const T *a, const T *b,
                              typename Traits<T>::value sa, typename Traits<T>::value sb) {
  typedef typename Traits<T>::value V;
  BTC_LOOP(i, L.numel) {
    long long off[3];
    if (dense) dense_offsets<3>(L, i, off);
    else layout_offsets<3>(L, i, off);
    V x = a ? to_value(a[off[1]]) : sa;
    V y = b ? to_value(b[off[2]]) : sb;
    out[off[0]] = result_as<TO>(f(x, y));
  }
}

template <typename TO, typename T, typename F>
__global__ void unary_kernel(btc_Layout L, bool dense, F f, TO *out, const T *a) {
  BTC_LOOP(i, L.numel) {
    long long off[2];
    if (dense) dense_offsets<2>(L, i, off);
    else layout_offsets<2>(L, i, off);
    out[off[0]] = result_as<TO>(f(to_value(a[off[1]])));
  }
}

/* ---- binary functors ---------------------------------------------------------------- */

#define BFN(NAME, EXPR)                                                       \
  struct NAME {                                                               \
    template <typename T>                                                     \
    __device__ __forceinline__ T operator()(T x, T y) const { return EXPR; }  \
  };
#define CFN(NAME, EXPR)                                                             \
  struct NAME {                                                                     \
    template <typename T>                                                           \
    __device__ __forceinline__ uint8_t operator()(T x, T y) const { return EXPR; }  \
  };

BFN(AddF, x + y)
BFN(SubF, x - y)
BFN(MulF, x * y)
BFN(DivF, x / y)
BFN(PowF, pow(x, y))
BFN(MaxF, x != x || x > y ? x : y)
BFN(MinF, x != x || x < y ? x : y)
BFN(Atan2F, atan2(x, y))
BFN(FmodF, fmod(x, y))
BFN(RemF, fmod(x, y) != 0 && ((fmod(x, y) < 0) != (y < 0)) ? fmod(x, y) + y : fmod(x, y))

/* Integer arithmetic wraps: done in unsigned 64 bits, cast back. */
BFN(AddI, (T)((unsigned long long)x + (unsigned long long)y))
BFN(SubI, (T)((unsigned long long)x - (unsigned long long)y))
BFN(MulI, (T)((unsigned long long)x * (unsigned long long)y))
BFN(MaxI, x > y ? x : y)
BFN(MinI, x < y ? x : y)
BFN(OrB, (T)(x | y))
BFN(AndB, (T)(x & y))

struct PowI {
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T y) const {
    long long e = y, b0 = x;
    if (e < 0) return (T)(b0 == 1 ? 1 : b0 == -1 ? (e & 1 ? -1 : 1) : 0);
    unsigned long long r = 1, b = (unsigned long long)b0;
    while (e) {
      if (e & 1) r *= b;
      b *= b;
      e >>= 1;
    }
    return (T)(long long)r;
  }
};
struct FmodI {   /* C's %, 0 for y == 0 or -1 (INT_MIN % -1 traps) */
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T y) const {
    long long a = x, b = y;
    return (T)(b == 0 || b == -1 ? 0 : a % b);
  }
};
struct RemI {
  template <typename T>
  __device__ __forceinline__ T operator()(T x, T y) const {
    long long a = x, b = y;
    if (b == 0 || b == -1) return 0;
    long long r = a % b;
    return (T)(r != 0 && ((r < 0) != (b < 0)) ? r + b : r);
  }
};

CFN(EqF, x == y)
CFN(NeF, x != y)
CFN(LtF, x < y)
CFN(LeF, x <= y)
CFN(GtF, x > y)
CFN(GeF, x >= y)
CFN(AndF, (x != 0) && (y != 0))
CFN(OrF, (x != 0) || (y != 0))
CFN(XorF, (x != 0) != (y != 0))

/* ---- binary launch -------------------------------------------------------------------- */

struct BinArgs {
  btc_Layout L;
  bool dense;
  unsigned blocks;
  void *out;
  const void *a, *b;
  double sa, sb;           /* host scalar values (a or b NULL) */
  long long ia, ib;        /* the same, exact for integers */
};

/* A host scalar as the value type of T: halves take it as a float (the f32
** the op made of a Lua number), not rounded to the half. */
template <typename T> static typename Traits<T>::value host_value(double d, long long i);
template <> float host_value<float>(double d, long long) { return (float)d; }
template <> double host_value<double>(double d, long long) { return d; }
template <> float host_value<f16_t>(double d, long long) { return (float)d; }
template <> float host_value<bf16_t>(double d, long long) { return (float)d; }
template <> long long host_value<long long>(double, long long i) { return i; }
template <> int host_value<int>(double, long long i) { return (int)i; }
template <> uint8_t host_value<uint8_t>(double, long long i) { return (uint8_t)i; }

template <typename TO, typename T, typename F>
static void bin_launch(const BinArgs &p, F f) {
  binary_kernel<TO, T, F><<<p.blocks, BTC_THREADS>>>(p.L, p.dense, f, (TO *)p.out, (const T *)p.a,
                                                     (const T *)p.b, host_value<T>(p.sa, p.ia),
                                                     host_value<T>(p.sb, p.ib));
}

/* Comparisons and logical ops: every dtype, bool output. */
template <typename T>
static bool bin_compare(bt_BinaryOp op, const BinArgs &p) {
  switch (op) {
    case BT_EQ: bin_launch<uint8_t, T>(p, EqF()); return true;
    case BT_NE: bin_launch<uint8_t, T>(p, NeF()); return true;
    case BT_LT: bin_launch<uint8_t, T>(p, LtF()); return true;
    case BT_LE: bin_launch<uint8_t, T>(p, LeF()); return true;
    case BT_GT: bin_launch<uint8_t, T>(p, GtF()); return true;
    case BT_GE: bin_launch<uint8_t, T>(p, GeF()); return true;
    case BT_LOGICAL_AND: bin_launch<uint8_t, T>(p, AndF()); return true;
    case BT_LOGICAL_OR: bin_launch<uint8_t, T>(p, OrF()); return true;
    case BT_LOGICAL_XOR: bin_launch<uint8_t, T>(p, XorF()); return true;
    default: return false;
  }
}

template <typename T>
static bool bin_float(bt_BinaryOp op, const BinArgs &p) {
  switch (op) {
    case BT_ADD: bin_launch<T, T>(p, AddF()); return true;
    case BT_SUB: bin_launch<T, T>(p, SubF()); return true;
    case BT_MUL: bin_launch<T, T>(p, MulF()); return true;
    case BT_DIV: bin_launch<T, T>(p, DivF()); return true;
    case BT_POW: bin_launch<T, T>(p, PowF()); return true;
    case BT_MAXIMUM: bin_launch<T, T>(p, MaxF()); return true;
    case BT_MINIMUM: bin_launch<T, T>(p, MinF()); return true;
    case BT_ATAN2: bin_launch<T, T>(p, Atan2F()); return true;
    case BT_FMOD: bin_launch<T, T>(p, FmodF()); return true;
    case BT_REMAINDER: bin_launch<T, T>(p, RemF()); return true;
    default: return bin_compare<T>(op, p);
  }
}

template <typename T>
static bool bin_int(bt_BinaryOp op, const BinArgs &p) {
  switch (op) {
    case BT_ADD: bin_launch<T, T>(p, AddI()); return true;
    case BT_SUB: bin_launch<T, T>(p, SubI()); return true;
    case BT_MUL: bin_launch<T, T>(p, MulI()); return true;
    case BT_POW: bin_launch<T, T>(p, PowI()); return true;
    case BT_MAXIMUM: bin_launch<T, T>(p, MaxI()); return true;
    case BT_MINIMUM: bin_launch<T, T>(p, MinI()); return true;
    case BT_FMOD: bin_launch<T, T>(p, FmodI()); return true;
    case BT_REMAINDER: bin_launch<T, T>(p, RemI()); return true;
    default: return bin_compare<T>(op, p);
  }
}

/* bool: arithmetic was promoted away; maximum/minimum are or/and. */
static bool bin_bool(bt_BinaryOp op, const BinArgs &p) {
  switch (op) {
    case BT_MAXIMUM: bin_launch<uint8_t, uint8_t>(p, OrB()); return true;
    case BT_MINIMUM: bin_launch<uint8_t, uint8_t>(p, AndB()); return true;
    default: return bin_compare<uint8_t>(op, p);
  }
}

/* A host scalar operand's value (NULL pointer), or its device pointer. */
static const void *operand(const bt_Tensor *t, double *d, long long *i) {
  if (t->storage->device.type != BT_CPU) return bt_data(t);
  *d = bt_load(bt_data(t), t->dtype);
  *i = bt_load_i64(bt_data(t), t->dtype);
  return NULL;
}

extern "C" int btc_binary(bt_BinaryOp op, bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b) {
  const char *name = bt_binary_name(op);
  if (btc_use(out) < 0 || btc_check_operand(name, out, a) < 0 || btc_check_operand(name, out, b) < 0)
    return -1;
  BinArgs p;
  const bt_Tensor *ops[3] = {out, a, b};
  btc_layout(&p.L, 3, ops);
  if (p.L.numel == 0) return 0;
  p.dense = btc_layout_dense(&p.L, 3);
  p.blocks = btc_blocks(p.L.numel, BTC_THREADS);
  p.out = bt_data(out);
  p.sa = p.sb = 0;
  p.ia = p.ib = 0;
  p.a = operand(a, &p.sa, &p.ia);
  p.b = operand(b, &p.sb, &p.ib);
  /* The kernel's type is that of the device operand(s): a host scalar may
  ** be of another dtype (f32 beside halves), its value is passed in. */
  bt_DType dt = p.a ? a->dtype : b->dtype;
  bool ok;
  switch (dt) {
    case BT_F32: ok = bin_float<float>(op, p); break;
    case BT_F64: ok = bin_float<double>(op, p); break;
    case BT_F16: ok = bin_float<f16_t>(op, p); break;
    case BT_BF16: ok = bin_float<bf16_t>(op, p); break;
    case BT_I64: ok = bin_int<long long>(op, p); break;
    case BT_I32: ok = bin_int<int>(op, p); break;
    case BT_U8: ok = bin_int<uint8_t>(op, p); break;
    case BT_BOOL: ok = bin_bool(op, p); break;
    default: ok = false; break;
  }
  if (!ok) return bt_seterr("%s: no CUDA kernel for %s", name, bt_dtype_name(dt));
  return btc_check_launch(name);
}

/* ---- unary functors ------------------------------------------------------------------ */

#define UFN(NAME, EXPR)                                                    \
  struct NAME {                                                            \
    template <typename T>                                                  \
    __device__ __forceinline__ T operator()(T x) const { return EXPR; }    \
  };
#define UFB(NAME, EXPR)                                                         \
  struct NAME {                                                                 \
    template <typename T>                                                       \
    __device__ __forceinline__ uint8_t operator()(T x) const { return EXPR; }   \
  };

UFN(NegF, -x)
UFN(AbsF, fabs(x))
UFN(ExpF, exp(x))
UFN(LogF, log(x))
UFN(Log1pF, log1p(x))
UFN(Expm1F, expm1(x))
UFN(SqrtF, sqrt(x))
UFN(RsqrtF, (T)1 / sqrt(x))
UFN(SinF, sin(x))
UFN(CosF, cos(x))
UFN(TanF, tan(x))
UFN(TanhF, tanh(x))
UFN(SigmoidF, (T)1 / ((T)1 + exp(-x)))
UFN(ReluF, x > 0 ? x : (T)0)
UFN(SignF, x != x ? x : (T)(x > 0 ? 1 : x < 0 ? -1 : 0))
UFN(FloorF, floor(x))
UFN(CeilF, ceil(x))
UFN(RoundF, rint(x))
UFN(TruncF, trunc(x))
UFN(RecipF, (T)1 / x)
UFN(SquareF, x * x)
UFN(ErfF, erf(x))
UFN(AsinF, asin(x))
UFN(AcosF, acos(x))
UFN(AtanF, atan(x))
UFN(SinhF, sinh(x))
UFN(CoshF, cosh(x))
UFN(Log2F, log2(x))
UFN(Log10F, log10(x))
UFN(Exp2F, exp2(x))
UFB(IsnanF, x != x)
UFB(IsinfF, isinf(x))
UFB(NotF, x == 0)

UFN(NegI, (T)(0ULL - (unsigned long long)x))
UFN(AbsI, x < 0 ? (T)(0ULL - (unsigned long long)x) : x)
UFN(SignI, (T)(x > 0 ? 1 : x < 0 ? -1 : 0))
UFN(ReluI, x > 0 ? x : (T)0)
UFN(SquareI, (T)((unsigned long long)x * (unsigned long long)x))
UFN(Ident, x)
UFB(Zero, 0)
UFN(NegU, (T)(-x))
UFN(SignU, (T)(x != 0))
UFN(SquareU, (T)(x * x))

struct UnArgs {
  btc_Layout L;
  bool dense;
  unsigned blocks;
  void *out;
  const void *a;
};

template <typename TO, typename T, typename F>
static void un_launch(const UnArgs &p, F f) {
  unary_kernel<TO, T, F><<<p.blocks, BTC_THREADS>>>(p.L, p.dense, f, (TO *)p.out, (const T *)p.a);
}

template <typename T>
static void un_float(bt_UnaryOp op, const UnArgs &p) {
  switch (op) {
    case BT_NEG: un_launch<T, T>(p, NegF()); break;
    case BT_ABS: un_launch<T, T>(p, AbsF()); break;
    case BT_EXP: un_launch<T, T>(p, ExpF()); break;
    case BT_LOG: un_launch<T, T>(p, LogF()); break;
    case BT_LOG1P: un_launch<T, T>(p, Log1pF()); break;
    case BT_EXPM1: un_launch<T, T>(p, Expm1F()); break;
    case BT_SQRT: un_launch<T, T>(p, SqrtF()); break;
    case BT_RSQRT: un_launch<T, T>(p, RsqrtF()); break;
    case BT_SIN: un_launch<T, T>(p, SinF()); break;
    case BT_COS: un_launch<T, T>(p, CosF()); break;
    case BT_TAN: un_launch<T, T>(p, TanF()); break;
    case BT_TANH: un_launch<T, T>(p, TanhF()); break;
    case BT_SIGMOID: un_launch<T, T>(p, SigmoidF()); break;
    case BT_RELU: un_launch<T, T>(p, ReluF()); break;
    case BT_SIGN: un_launch<T, T>(p, SignF()); break;
    case BT_FLOOR: un_launch<T, T>(p, FloorF()); break;
    case BT_CEIL: un_launch<T, T>(p, CeilF()); break;
    case BT_ROUND: un_launch<T, T>(p, RoundF()); break;
    case BT_TRUNC: un_launch<T, T>(p, TruncF()); break;
    case BT_RECIPROCAL: un_launch<T, T>(p, RecipF()); break;
    case BT_SQUARE: un_launch<T, T>(p, SquareF()); break;
    case BT_ERF: un_launch<T, T>(p, ErfF()); break;
    case BT_ASIN: un_launch<T, T>(p, AsinF()); break;
    case BT_ACOS: un_launch<T, T>(p, AcosF()); break;
    case BT_ATAN: un_launch<T, T>(p, AtanF()); break;
    case BT_SINH: un_launch<T, T>(p, SinhF()); break;
    case BT_COSH: un_launch<T, T>(p, CoshF()); break;
    case BT_LOG2: un_launch<T, T>(p, Log2F()); break;
    case BT_LOG10: un_launch<T, T>(p, Log10F()); break;
    case BT_EXP2: un_launch<T, T>(p, Exp2F()); break;
    case BT_ISNAN: un_launch<uint8_t, T>(p, IsnanF()); break;
    case BT_ISINF: un_launch<uint8_t, T>(p, IsinfF()); break;
    case BT_LOGICAL_NOT: un_launch<uint8_t, T>(p, NotF()); break;
    default: break;
  }
}

/* Integer ops; the float-only ones were cast to float by the op. */
template <typename T>
static void un_int(bt_UnaryOp op, const UnArgs &p) {
  switch (op) {
    case BT_NEG: un_launch<T, T>(p, NegI()); break;
    case BT_ABS: un_launch<T, T>(p, AbsI()); break;
    case BT_SIGN: un_launch<T, T>(p, SignI()); break;
    case BT_RELU: un_launch<T, T>(p, ReluI()); break;
    case BT_SQUARE: un_launch<T, T>(p, SquareI()); break;
    case BT_ISNAN: case BT_ISINF: un_launch<uint8_t, T>(p, Zero()); break;
    case BT_LOGICAL_NOT: un_launch<uint8_t, T>(p, NotF()); break;
    default: un_launch<T, T>(p, Ident()); break;
  }
}

/* u8 and bool: abs and relu are the identity, sign is 0 or 1. */
static void un_u8(bt_UnaryOp op, const UnArgs &p) {
  switch (op) {
    case BT_NEG: un_launch<uint8_t, uint8_t>(p, NegU()); break;
    case BT_SIGN: un_launch<uint8_t, uint8_t>(p, SignU()); break;
    case BT_SQUARE: un_launch<uint8_t, uint8_t>(p, SquareU()); break;
    case BT_ISNAN: case BT_ISINF: un_launch<uint8_t, uint8_t>(p, Zero()); break;
    case BT_LOGICAL_NOT: un_launch<uint8_t, uint8_t>(p, NotF()); break;
    default: un_launch<uint8_t, uint8_t>(p, Ident()); break;
  }
}

extern "C" int btc_unary(bt_UnaryOp op, bt_Tensor *out, const bt_Tensor *a) {
  const char *name = bt_unary_name(op);
  if (btc_use(out) < 0 || btc_check_operand(name, out, a) < 0) return -1;
  if (a->storage->device.type == BT_CPU)
    return bt_seterr("%s: the operand is on the CPU (move it with :cuda())", name);
  UnArgs p;
  const bt_Tensor *ops[2] = {out, a};
  btc_layout(&p.L, 2, ops);
  if (p.L.numel == 0) return 0;
  p.dense = btc_layout_dense(&p.L, 2);
  p.blocks = btc_blocks(p.L.numel, BTC_THREADS);
  p.out = bt_data(out);
  p.a = bt_data(a);
  switch (a->dtype) {
    case BT_F32: un_float<float>(op, p); break;
    case BT_F64: un_float<double>(op, p); break;
    case BT_F16: un_float<f16_t>(op, p); break;
    case BT_BF16: un_float<bf16_t>(op, p); break;
    case BT_I64: un_int<long long>(op, p); break;
    case BT_I32: un_int<int>(op, p); break;
    case BT_U8: case BT_BOOL: un_u8(op, p); break;
    default: return bt_seterr("%s: no CUDA kernel for %s", name, bt_dtype_name(a->dtype));
  }
  return btc_check_launch(name);
}

/* ---- clamp ------------------------------------------------------------------------- */

/* NaN stays; floats (halves: their float value) clamp to lo and hi rounded
** to that type; integers to ceil(lo) and floor(hi) (u8 within 0..255). */
struct ClampF {
  double lo, hi;
  template <typename T>
  __device__ __forceinline__ T operator()(T x) const {
    T l = (T)lo, h = (T)hi;
    return x != x ? x : x < l ? l : x > h ? h : x;
  }
};
struct ClampI {
  double lo, hi;
  template <typename T>
  __device__ __forceinline__ T operator()(T x) const {
    double v = (double)x;
    return v < lo ? (T)ceil(lo) : v > hi ? (T)floor(hi) : x;
  }
};

extern "C" int btc_clamp(bt_Tensor *out, const bt_Tensor *a, double lo, double hi) {
  if (btc_use(out) < 0 || btc_check_operand("clamp", out, a) < 0) return -1;
  if (a->storage->device.type == BT_CPU)
    return bt_seterr("clamp: the operand is on the CPU (move it with :cuda())");
  UnArgs p;
  const bt_Tensor *ops[2] = {out, a};
  btc_layout(&p.L, 2, ops);
  if (p.L.numel == 0) return 0;
  p.dense = btc_layout_dense(&p.L, 2);
  p.blocks = btc_blocks(p.L.numel, BTC_THREADS);
  p.out = bt_data(out);
  p.a = bt_data(a);
  switch (a->dtype) {
    case BT_F32: un_launch<float, float>(p, ClampF{lo, hi}); break;
    case BT_F64: un_launch<double, double>(p, ClampF{lo, hi}); break;
    case BT_F16: un_launch<f16_t, f16_t>(p, ClampF{lo, hi}); break;   /* in float */
    case BT_BF16: un_launch<bf16_t, bf16_t>(p, ClampF{lo, hi}); break;
    case BT_I64: un_launch<long long, long long>(p, ClampI{lo, hi}); break;
    case BT_I32: un_launch<int, int>(p, ClampI{lo, hi}); break;
    case BT_U8:
      un_launch<uint8_t, uint8_t>(p, ClampI{lo < 0 ? 0 : lo, hi > 255 ? 255 : hi});
      break;
    default: return bt_seterr("clamp: no CUDA kernel for %s", bt_dtype_name(a->dtype));
  }
  return btc_check_launch("clamp");
}

/* ---- where ------------------------------------------------------------------------- */

/* out = cond ? a : b, moving bits (T by element size). */
template <typename T>
__global__ void where_kernel(btc_Layout L, bool dense, T *out, const uint8_t *cond, const T *a,
                             const T *b, uint8_t sc, T sa, T sb) {
  BTC_LOOP(i, L.numel) {
    long long off[4];
    if (dense) dense_offsets<4>(L, i, off);
    else layout_offsets<4>(L, i, off);
    uint8_t c = cond ? cond[off[1]] : sc;
    out[off[0]] = c ? (a ? a[off[2]] : sa) : (b ? b[off[3]] : sb);
  }
}

/* The bits of a host scalar in `dt` (its own dtype is converted as a copy would). */
static void host_bits(const bt_Tensor *t, bt_DType dt, void *bits) {
  const void *p = bt_data(t);
  if (!bt_dtype_is_float(dt) && !bt_dtype_is_float(t->dtype))
    bt_store_i64(bits, dt, bt_load_i64(p, t->dtype));
  else
    bt_store(bits, dt, bt_load(p, t->dtype));
}

extern "C" int btc_where(bt_Tensor *out, const bt_Tensor *cond, const bt_Tensor *a,
                         const bt_Tensor *b) {
  if (btc_use(out) < 0 || btc_check_operand("where", out, cond) < 0 ||
      btc_check_operand("where", out, a) < 0 || btc_check_operand("where", out, b) < 0)
    return -1;
  btc_Layout L;
  const bt_Tensor *ops[4] = {out, cond, a, b};
  btc_layout(&L, 4, ops);
  if (L.numel == 0) return 0;
  bool dense = btc_layout_dense(&L, 4);
  unsigned blocks = btc_blocks(L.numel, BTC_THREADS);
  bool hc = cond->storage->device.type == BT_CPU, ha = a->storage->device.type == BT_CPU,
       hb = b->storage->device.type == BT_CPU;
  uint8_t sc = 0;
  if (hc) host_bits(cond, BT_BOOL, &sc);
  unsigned char ba[8] = {0}, bb[8] = {0};
  if (ha) host_bits(a, out->dtype, ba);
  if (hb) host_bits(b, out->dtype, bb);
  BTC_DISPATCH_SIZE(bt_dtype_size(out->dtype), {
    T sa, sb;
    memcpy(&sa, ba, sizeof sa);
    memcpy(&sb, bb, sizeof sb);
    where_kernel<T><<<blocks, BTC_THREADS>>>(L, dense, (T *)bt_data(out),
                                             hc ? NULL : (const uint8_t *)bt_data(cond),
                                             ha ? NULL : (const T *)bt_data(a),
                                             hb ? NULL : (const T *)bt_data(b), sc, sa, sb);
  });
  return btc_check_launch("where");
}
