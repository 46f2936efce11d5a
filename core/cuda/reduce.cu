/*
** cuda/reduce.cu: reductions over a set of dims (sum, prod, max, min, any,
** all), max/min with indices along one dim, cumulative sums and products.
**
** Results follow cpu/reduce.c: float sums and products accumulate in
** double, integer ones in int64 (wrapping), max/min propagate NaN, any/all
** give bool; arg max/min take the first index on ties and the first NaN.
** Every reduction is deterministic: each output is combined in a fixed
** order (a fixed tree within a block, fixed chunks across blocks), so a
** result does not change from run to run.
**
** reduce: out has in's ndim with size 1 at the reduced dims (any strides);
** its dtype is in's for floats, i64 for integer sums and products, in's for
** max/min, bool for any/all. arg_reduce: values (in's dtype, or NULL) and
** indices (i64) of in's shape with size 1 at dim. cumulative: out and in of
** one shape and dtype (f32, f64, f16, bf16 or i64).
*/
#include "kernel.cuh"
#include "kernels.h"

#include <float.h>
#include <math_constants.h>

/* ---- op policies: the accumulator, its identity, load, combine, store --------- */

template <typename Tin, typename Tout, bool FLOAT = Traits<Tin>::is_float>
struct SumOp {
  typedef double acc;
  static __device__ acc identity() { return 0; }
  static __device__ acc load(Tin x) { return ld_f(x); }
  static __device__ acc combine(acc a, acc b) { return a + b; }
  static __device__ Tout store(acc a) { return st_f<Tout>(a); }
};
template <typename Tin, typename Tout>
struct SumOp<Tin, Tout, false> {
  typedef long long acc;
  static __device__ acc identity() { return 0; }
  static __device__ acc load(Tin x) { return ld_i(x); }
  static __device__ acc combine(acc a, acc b) { return (acc)((unsigned long long)a + (unsigned long long)b); }
  static __device__ Tout store(acc a) { return st_i<Tout>(a); }
};

template <typename Tin, typename Tout, bool FLOAT = Traits<Tin>::is_float>
struct ProdOp {
  typedef double acc;
  static __device__ acc identity() { return 1; }
  static __device__ acc load(Tin x) { return ld_f(x); }
  static __device__ acc combine(acc a, acc b) { return a * b; }
  static __device__ Tout store(acc a) { return st_f<Tout>(a); }
};
template <typename Tin, typename Tout>
struct ProdOp<Tin, Tout, false> {
  typedef long long acc;
  static __device__ acc identity() { return 1; }
  static __device__ acc load(Tin x) { return ld_i(x); }
  static __device__ acc combine(acc a, acc b) { return (acc)((unsigned long long)a * (unsigned long long)b); }
  static __device__ Tout store(acc a) { return st_i<Tout>(a); }
};

template <typename Tin, typename Tout, bool MAX, bool FLOAT = Traits<Tin>::is_float>
struct MaxMinOp {
  typedef double acc;
  static __device__ acc identity() { return MAX ? -CUDART_INF : CUDART_INF; }
  static __device__ acc load(Tin x) { return ld_f(x); }
  static __device__ acc combine(acc a, acc b) {
    if (a != a || b != b) return CUDART_NAN;
    return MAX ? (b > a ? b : a) : (b < a ? b : a);
  }
  static __device__ Tout store(acc a) { return st_f<Tout>(a); }
};
template <typename Tin, typename Tout, bool MAX>
struct MaxMinOp<Tin, Tout, MAX, false> {
  typedef long long acc;
  static __device__ acc identity() { return MAX ? (acc)0x8000000000000000ULL : 0x7fffffffffffffffLL; }
  static __device__ acc load(Tin x) { return ld_i(x); }
  static __device__ acc combine(acc a, acc b) { return MAX ? (b > a ? b : a) : (b < a ? b : a); }
  static __device__ Tout store(acc a) { return st_i<Tout>(a); }
};

template <typename Tin, typename Tout, bool ANY>
struct AnyAllOp {
  typedef int acc;
  static __device__ acc identity() { return ANY ? 0 : 1; }
  static __device__ acc load(Tin x) {
    return Traits<Tin>::is_float ? ld_f(x) != 0 : ld_i(x) != 0;
  }
  static __device__ acc combine(acc a, acc b) { return ANY ? (a || b) : (a && b); }
  static __device__ Tout store(acc a) { return st_i<Tout>(a); }
};

/* ---- the layout of a reduction ------------------------------------------------------- */

struct RedLayout {
  int nkeep, nred;
  long long kshape[BT_MAX_DIMS], kstride[BT_MAX_DIMS], ostride[BT_MAX_DIMS];
  long long rshape[BT_MAX_DIMS], rstride[BT_MAX_DIMS];
  long long nout, rsize;
};

/* As cpu/reduce.c: size-1 dims dropped, adjacent reduced dims merged. */
static void red_layout(RedLayout *R, const bt_Tensor *in, const bt_Tensor *out, unsigned dims) {
  memset(R, 0, sizeof *R);
  R->rsize = R->nout = 1;
  for (int d = 0; d < in->ndim; d++) {
    if (in->shape[d] == 1) continue;
    if ((dims >> d) & 1) {
      int k = R->nred;
      if (k > 0 && R->rstride[k - 1] == in->stride[d] * in->shape[d]) {
        R->rshape[k - 1] *= in->shape[d];
        R->rstride[k - 1] = in->stride[d];
      } else {
        R->rshape[k] = in->shape[d];
        R->rstride[k] = in->stride[d];
        R->nred++;
      }
      R->rsize *= in->shape[d];
    } else {
      R->kshape[R->nkeep] = in->shape[d];
      R->kstride[R->nkeep] = in->stride[d];
      R->ostride[R->nkeep++] = out->stride[d];
      R->nout *= in->shape[d];
    }
  }
}

__device__ __forceinline__ void red_out_offsets(const RedLayout &R, long long o, long long *in_off,
                                                long long *out_off) {
  long long a = 0, b = 0;
  for (int d = R.nkeep - 1; d >= 0; d--) {
    long long c = o % R.kshape[d];
    o /= R.kshape[d];
    a += c * R.kstride[d];
    b += c * R.ostride[d];
  }
  *in_off = a;
  *out_off = b;
}

__device__ __forceinline__ long long red_offset(const RedLayout &R, long long j) {
  if (R.nred == 1) return j * R.rstride[0];
  long long off = 0;
  for (int d = R.nred - 1; d >= 0; d--) {
    off += (j % R.rshape[d]) * R.rstride[d];
    j /= R.rshape[d];
  }
  return off;
}

/* ---- kernels -------------------------------------------------------------------------- */

template <typename A>
__device__ __forceinline__ A shfl_down(A v, int delta) { return __shfl_down_sync(0xffffffffu, v, delta); }

/* Combines the values of a block: thread 0 gets the result. */
template <typename Op>
__device__ typename Op::acc block_reduce(typename Op::acc v) {
  typedef typename Op::acc A;
  __shared__ A warp_vals[BTC_THREADS / 32];
  for (int d = 16; d > 0; d >>= 1) v = Op::combine(v, shfl_down(v, d));
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? warp_vals[lane] : Op::identity();
    for (int d = 16; d > 0; d >>= 1) v = Op::combine(v, shfl_down(v, d));
  }
  __syncthreads();
  return v;
}

/* One block per (output, chunk): the chunk's elements are spread over the
** threads, then combined by the block. With splits > 1, partial[task]
** receives the chunk's value instead of the output. */
template <typename Tin, typename Tout, typename Op>
__global__ void reduce_blocks(RedLayout R, const Tin *in, Tout *out, typename Op::acc *partial,
                              long long splits, long long chunk) {
  for (long long task = blockIdx.x; task < R.nout * splits; task += gridDim.x) {
    long long o = task / splits, s = task % splits, in_off, out_off;
    red_out_offsets(R, o, &in_off, &out_off);
    long long j0 = s * chunk, j1 = j0 + chunk < R.rsize ? j0 + chunk : R.rsize;
    typename Op::acc v = Op::identity();
    for (long long j = j0 + threadIdx.x; j < j1; j += blockDim.x)
      v = Op::combine(v, Op::load(in[in_off + red_offset(R, j)]));
    v = block_reduce<Op>(v);
    if (threadIdx.x == 0) {
      if (splits == 1) out[out_off] = Op::store(v);
      else partial[task] = v;
    }
  }
}

/* The outputs of split reductions: partial [nout, splits] combined in order. */
template <typename Tout, typename Op>
__global__ void reduce_partials(RedLayout R, const typename Op::acc *partial, long long splits,
                                Tout *out) {
  BTC_LOOP(o, R.nout) {
    long long in_off, out_off;
    red_out_offsets(R, o, &in_off, &out_off);
    typename Op::acc v = Op::identity();
    for (long long s = 0; s < splits; s++) v = Op::combine(v, partial[o * splits + s]);
    out[out_off] = Op::store(v);
  }
}

/* One thread per output: for many outputs whose reduced elements are not
** contiguous (a column sum), where neighbouring threads read neighbours. */
template <typename Tin, typename Tout, typename Op>
__global__ void reduce_threads(RedLayout R, const Tin *in, Tout *out) {
  BTC_LOOP(o, R.nout) {
    long long in_off, out_off;
    red_out_offsets(R, o, &in_off, &out_off);
    typename Op::acc v = Op::identity();
    for (long long j = 0; j < R.rsize; j++) v = Op::combine(v, Op::load(in[in_off + red_offset(R, j)]));
    out[out_off] = Op::store(v);
  }
}

template <typename Tin, typename Tout, typename Op>
static int reduce_launch(const RedLayout &R, const void *in, void *out) {
  const Tin *pin = (const Tin *)in;
  Tout *pout = (Tout *)out;
  long long sms = btc_sm_count();
  bool inner = R.nred > 0 && R.rstride[R.nred - 1] == 1;
  if ((!inner && R.nout >= 2048) || (R.rsize <= 32 && R.nout >= 1024)) {
    reduce_threads<Tin, Tout, Op><<<btc_blocks(R.nout, BTC_THREADS), BTC_THREADS>>>(R, pin, pout);
    return btc_check_launch("reduce");
  }
  /* Enough blocks to fill the GPU; each chunk at least 4096 elements. */
  long long splits = 1;
  if (R.nout < 4 * sms) {
    long long want = (4 * sms + R.nout - 1) / R.nout, most = (R.rsize + 4095) / 4096;
    splits = want < most ? want : most;
    if (splits > 1024) splits = 1024;
    if (splits < 1) splits = 1;
  }
  long long chunk = (R.rsize + splits - 1) / splits;
  long long tasks = R.nout * splits;
  unsigned blocks = (unsigned)(tasks < sms * 32 ? tasks : sms * 32);
  if (splits == 1) {
    reduce_blocks<Tin, Tout, Op><<<blocks, BTC_THREADS>>>(R, pin, pout, NULL, 1, chunk);
    return btc_check_launch("reduce");
  }
  int64_t bytes = tasks * (int64_t)sizeof(typename Op::acc);
  typename Op::acc *partial = (typename Op::acc *)btc_scratch("reduce", bytes);
  if (!partial) return -1;
  reduce_blocks<Tin, Tout, Op><<<blocks, BTC_THREADS>>>(R, pin, pout, partial, splits, chunk);
  reduce_partials<Tout, Op><<<btc_blocks(R.nout, BTC_THREADS), BTC_THREADS>>>(R, partial, splits, pout);
  int rc = btc_check_launch("reduce");
  btc_scratch_free(partial, bytes);   /* stream order: later work runs after these kernels */
  return rc;
}

template <bool B, typename X, typename Y> struct Pick { typedef X type; };
template <typename X, typename Y> struct Pick<false, X, Y> { typedef Y type; };

template <typename Tin>
static int reduce_typed(bt_ReduceOp op, const RedLayout &R, const void *in, void *out) {
  typedef typename Pick<Traits<Tin>::is_float, Tin, long long>::type SumOut;   /* sum_dtype */
  switch (op) {
    case BT_RED_SUM: return reduce_launch<Tin, SumOut, SumOp<Tin, SumOut> >(R, in, out);
    case BT_RED_PROD: return reduce_launch<Tin, SumOut, ProdOp<Tin, SumOut> >(R, in, out);
    case BT_RED_MAX: return reduce_launch<Tin, Tin, MaxMinOp<Tin, Tin, true> >(R, in, out);
    case BT_RED_MIN: return reduce_launch<Tin, Tin, MaxMinOp<Tin, Tin, false> >(R, in, out);
    case BT_RED_ANY: return reduce_launch<Tin, bool_t, AnyAllOp<Tin, bool_t, true> >(R, in, out);
    default: return reduce_launch<Tin, bool_t, AnyAllOp<Tin, bool_t, false> >(R, in, out);
  }
}

extern "C" int btc_reduce(bt_ReduceOp op, bt_Tensor *out, const bt_Tensor *in, unsigned dims) {
  if (btc_use(out) < 0 || btc_check_operand("reduce", out, in) < 0) return -1;
  RedLayout R;
  red_layout(&R, in, out, dims);
  if (R.nout == 0) return 0;
  bt_DType want = op == BT_RED_ANY || op == BT_RED_ALL ? BT_BOOL
                  : (op == BT_RED_SUM || op == BT_RED_PROD) && !bt_dtype_is_float(in->dtype) ? BT_I64
                  : in->dtype;
  if (out->dtype != want) {   /* another output dtype (logsumexp's max of integers): reduce, then cast */
    bt_Tensor *tmp = bt_empty(out->ndim, out->shape, want, out->storage->device);
    int rc = tmp ? btc_reduce(op, tmp, in, dims) : -1;
    if (rc == 0) rc = btc_copy(out, tmp);
    bt_release(tmp);
    return rc;
  }
  const void *pin = bt_data(in);
  void *pout = bt_data(out);
  int rc = -1;
  BTC_DISPATCH_ALL(in->dtype, rc = reduce_typed<T>(op, R, pin, pout));
  return rc;
}

/* ---- max/min with indices along one dim ------------------------------------------- */

/* Is (a, ia) a better pick than (b, ib)? ib < 0: b is empty. NaN wins;
** ties take the lower index. */
template <bool FLOAT, typename C>
__device__ __forceinline__ bool arg_better(C a, long long ia, C b, long long ib, bool is_max) {
  if (ib < 0) return ia >= 0;
  if (ia < 0) return false;
  if (FLOAT) {
    bool an = a != a, bn = b != b;
    if (an || bn) return an && bn ? ia < ib : an;
  }
  if (a == b) return ia < ib;
  return is_max ? a > b : a < b;
}

/* One warp per line: lanes stride along dim, then the warp picks. C
** compares: double for floats (exact for every float dtype), int64 else. */
template <typename T, typename C>
__global__ void arg_warps(btc_Lines Ls, long long n, long long s, const T *in, T *values,
                          long long *indices, bool is_max) {
  const bool FL = Traits<T>::is_float;
  long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
  int lane = threadIdx.x & 31;
  for (long long line = warp; line < Ls.nlines; line += nwarps) {
    long long off[3];
    line_offsets<3>(Ls, line, off);
    C bv = 0;
    long long bi = -1;
    for (long long j = lane; j < n; j += 32) {
      T x = in[off[0] + j * s];
      C v = FL ? (C)ld_f(x) : (C)ld_i(x);
      if (arg_better<FL, C>(v, j, bv, bi, is_max)) {
        bv = v;
        bi = j;
      }
    }
    for (int d = 16; d > 0; d >>= 1) {
      C ov = __shfl_down_sync(0xffffffffu, bv, d);
      long long oi = __shfl_down_sync(0xffffffffu, bi, d);
      if (arg_better<FL, C>(ov, oi, bv, bi, is_max)) {
        bv = ov;
        bi = oi;
      }
    }
    if (lane == 0) {
      if (bi < 0) bi = 0;
      if (values) values[off[1]] = in[off[0] + bi * s];
      indices[off[2]] = bi;
    }
  }
}

/* One thread per line: neighbouring threads read neighbouring lines (dim
** is not the innermost). A NaN wins and stops the scan, as on the CPU. */
template <typename T>
__global__ void arg_threads(btc_Lines Ls, long long n, long long s, const T *in, T *values,
                            long long *indices, bool is_max) {
  const bool FL = Traits<T>::is_float;
  BTC_LOOP(line, Ls.nlines) {
    long long off[3];
    line_offsets<3>(Ls, line, off);
    long long best = 0;
    if (FL) {
      double bv = ld_f(in[off[0]]);
      for (long long j = 1; j < n && bv == bv; j++) {
        double x = ld_f(in[off[0] + j * s]);
        if (x != x || (is_max ? x > bv : x < bv)) {
          bv = x;
          best = j;
        }
      }
    } else {
      long long bv = ld_i(in[off[0]]);
      for (long long j = 1; j < n; j++) {
        long long x = ld_i(in[off[0] + j * s]);
        if (is_max ? x > bv : x < bv) {
          bv = x;
          best = j;
        }
      }
    }
    if (values) values[off[1]] = in[off[0] + best * s];
    indices[off[2]] = best;
  }
}

extern "C" int btc_arg_reduce(bt_ReduceOp op, bt_Tensor *values, bt_Tensor *indices,
                              const bt_Tensor *in, int dim) {
  const char *name = op == BT_RED_MAX ? "max" : "min";
  if (btc_use(indices) < 0 || btc_check_operand(name, indices, in) < 0) return -1;
  long long n = in->shape[dim], s = in->stride[dim];
  if (n == 0) return bt_seterr("%s: cannot reduce an empty dim", name);
  btc_Lines Ls;
  const bt_Tensor *ts[3] = {in, values, indices};
  btc_lines(&Ls, dim, 3, ts);
  if (Ls.nlines == 0) return 0;
  bool is_max = op == BT_RED_MAX;
  const void *pin = bt_data(in);
  void *pv = values ? bt_data(values) : NULL;
  long long *pi = (long long *)bt_data(indices);
  bool warps = s == 1 || Ls.nlines < 1024;
  unsigned blocks = warps ? btc_blocks(Ls.nlines * 32, BTC_THREADS) : btc_blocks(Ls.nlines, BTC_THREADS);
  BTC_DISPATCH_ALL(in->dtype, {
    if (warps && Traits<T>::is_float)
      arg_warps<T, double><<<blocks, BTC_THREADS>>>(Ls, n, s, (const T *)pin, (T *)pv, pi, is_max);
    else if (warps)
      arg_warps<T, long long><<<blocks, BTC_THREADS>>>(Ls, n, s, (const T *)pin, (T *)pv, pi, is_max);
    else
      arg_threads<T><<<blocks, BTC_THREADS>>>(Ls, n, s, (const T *)pin, (T *)pv, pi, is_max);
  });
  return btc_check_launch(name);
}

/* ---- cumulative ------------------------------------------------------------------------ */

/* Lines along dim of a contiguous [outer, n, inner] tensor; line l starts at
** (l / inner) * n * inner + l % inner, with stride inner. */
template <typename T, bool PROD>
__global__ void cum_warps(long long nlines, long long n, long long inner, const T *in, T *out) {
  const bool FL = Traits<T>::is_float;
  long long warp = ((long long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  long long nwarps = ((long long)gridDim.x * blockDim.x) >> 5;
  int lane = threadIdx.x & 31;
  for (long long l = warp; l < nlines; l += nwarps) {
    long long base = (l / inner) * n * inner + l % inner;
    double carry = PROD ? 1 : 0;
    long long icarry = PROD ? 1 : 0;
    for (long long j0 = 0; j0 < n; j0 += 32) {
      long long j = j0 + lane;
      bool in_range = j < n;
      if (FL) {
        double v = in_range ? ld_f(in[base + j * inner]) : (PROD ? 1.0 : 0.0);
        for (int d = 1; d < 32; d <<= 1) {
          double o = __shfl_up_sync(0xffffffffu, v, d);
          if (lane >= d) v = PROD ? v * o : v + o;
        }
        v = PROD ? carry * v : carry + v;
        if (in_range) out[base + j * inner] = st_f<T>(v);
        carry = __shfl_sync(0xffffffffu, v, 31);
      } else {
        long long v = in_range ? ld_i(in[base + j * inner]) : (PROD ? 1 : 0);
        for (int d = 1; d < 32; d <<= 1) {
          long long o = __shfl_up_sync(0xffffffffu, v, d);
          if (lane >= d)
            v = (long long)(PROD ? (unsigned long long)v * (unsigned long long)o
                                 : (unsigned long long)v + (unsigned long long)o);
        }
        v = (long long)(PROD ? (unsigned long long)icarry * (unsigned long long)v
                             : (unsigned long long)icarry + (unsigned long long)v);
        if (in_range) out[base + j * inner] = st_i<T>(v);
        icarry = __shfl_sync(0xffffffffu, v, 31);
      }
    }
  }
}

template <typename T, bool PROD>
__global__ void cum_threads(long long nlines, long long n, long long inner, const T *in, T *out) {
  const bool FL = Traits<T>::is_float;
  BTC_LOOP(l, nlines) {
    long long base = (l / inner) * n * inner + l % inner;
    double acc = PROD ? 1 : 0;
    long long iacc = PROD ? 1 : 0;
    for (long long j = 0; j < n; j++) {
      long long at = base + j * inner;
      if (FL) {
        double x = ld_f(in[at]);
        acc = PROD ? acc * x : acc + x;
        out[at] = st_f<T>(acc);
      } else {
        long long x = ld_i(in[at]);
        iacc = (long long)(PROD ? (unsigned long long)iacc * (unsigned long long)x
                                : (unsigned long long)iacc + (unsigned long long)x);
        out[at] = st_i<T>(iacc);
      }
    }
  }
}

extern "C" int btc_cumulative(bt_CumOp op, bt_Tensor *out, const bt_Tensor *in, int dim) {
  const char *name = op == BT_CUM_SUM ? "cumsum" : "cumprod";
  if (btc_use(out) < 0 || btc_check_operand(name, out, in) < 0) return -1;
  if (!bt_is_contiguous(in) || !bt_is_contiguous(out) || in->dtype != out->dtype)
    return bt_seterr("%s: the CUDA kernel takes contiguous tensors of one dtype", name);
  long long n = in->shape[dim], inner = 1;
  for (int d = dim + 1; d < in->ndim; d++) inner *= in->shape[d];
  long long total = bt_numel(in);
  if (total == 0 || n == 0) return 0;
  long long nlines = total / n;
  const void *pin = bt_data(in);
  void *pout = bt_data(out);
  bool prod = op == BT_CUM_PROD, warps = inner == 1;
  unsigned blocks = warps ? btc_blocks(nlines * 32, BTC_THREADS) : btc_blocks(nlines, BTC_THREADS);
  switch (in->dtype) {
#define CUM_CASE(DT, TYPE)                                                                    \
  case DT:                                                                                    \
    if (warps && prod) cum_warps<TYPE, true><<<blocks, BTC_THREADS>>>(nlines, n, inner, (const TYPE *)pin, (TYPE *)pout); \
    else if (warps) cum_warps<TYPE, false><<<blocks, BTC_THREADS>>>(nlines, n, inner, (const TYPE *)pin, (TYPE *)pout); \
    else if (prod) cum_threads<TYPE, true><<<blocks, BTC_THREADS>>>(nlines, n, inner, (const TYPE *)pin, (TYPE *)pout); \
    else cum_threads<TYPE, false><<<blocks, BTC_THREADS>>>(nlines, n, inner, (const TYPE *)pin, (TYPE *)pout); \
    break;
    CUM_CASE(BT_F32, float)
    CUM_CASE(BT_F64, double)
    CUM_CASE(BT_F16, f16_t)
    CUM_CASE(BT_BF16, bf16_t)
    CUM_CASE(BT_I64, long long)
#undef CUM_CASE
    default: return bt_seterr("%s: no CUDA kernel for %s", name, bt_dtype_name(in->dtype));
  }
  return btc_check_launch(name);
}
