/*
** cuda/softmax.cu: softmax and log_softmax along the middle dim of
** [A, C, B] (forward and backward), and the class losses: cross-entropy
** fused with its log_softmax, and NLL of log-probabilities (shapes:
** dispatch.h, `norm kernels`).
**
** Tensors arrive contiguous, f32 or f64 (ops/nn_softmax.c converts; f16
** and bf16 come as f32 for every device). Rows subtract their maximum before
** exponentiating, as the CPU does. B == 1 (the class dim last): a warp per
** row for rows up to BTC_WARP_ROW_MAX, else a block, with shuffle
** reductions. B > 1: a block covers bx adjacent columns (reads coalesced
** along B) and splits C over 256 / bx thread lanes combined in shared
** memory. Every reduction is a fixed tree, so results repeat run to run.
**
** class_loss writes each row's loss and counted weight into scratch, sums
** them on the device over fixed chunks (deterministic), and copies the two
** totals back once. A target outside [0, C) (not ignore_index) is noted in
** the report buffer (common.h) and fails naming it 1-based, as on the CPU;
** the report is moved next to the totals on the device, so that one copy
** (one wait for the GPU per loss, not two) brings both back.
*/
#include "rows.cuh"
#include "kernels.h"

#include <math.h>
#include <math_constants.h>

#define NEG_INF (-CUDART_INF)

static const void *data_or_null(const bt_Tensor *t) { return t ? bt_data((bt_Tensor *)t) : NULL; }

template <typename A> __device__ __forceinline__ A exp_(A x);
template <> __device__ __forceinline__ float exp_<float>(float x) { return expf(x); }
template <> __device__ __forceinline__ double exp_<double>(double x) { return exp(x); }
template <typename A> __device__ __forceinline__ A log_(A x);
template <> __device__ __forceinline__ float log_<float>(float x) { return logf(x); }
template <> __device__ __forceinline__ double log_<double>(double x) { return log(x); }

/* The max m of row xr (C elements) and s = sum e^(x - m), each reduced across
** the G lanes of the row's group (every lane gets both). */
template <typename T, int G>
__device__ __forceinline__ void row_max_sumexp(const T *xr, long long C, int lane, T &m, T &s) {
  m = (T)NEG_INF;
  for (long long i = lane; i < C; i += G) m = MaxF()(m, xr[i]);
  m = group_reduce<G>(m, MaxF());
  s = 0;
  for (long long i = lane; i < C; i += G) s += exp_(xr[i] - m);
  s = group_reduce<G>(s, SumF());
}

/* ---- softmax: rows (B == 1) ------------------------------------------------------------ */

template <typename T, int G, bool LOG>
__global__ void softmax_rows(long long R, long long C, const T *x, T *y) {
  const int RB = BTC_THREADS / G, lane = threadIdx.x % G;
  for (long long row = (long long)blockIdx.x * RB + threadIdx.x / G; row < R;
       row += (long long)gridDim.x * RB) {
    const T *xr = x + row * C;
    T *yr = y + row * C;
    T m, s;
    row_max_sumexp<T, G>(xr, C, lane, m, s);
    if (LOG) {
      T l = log_(s);
      for (long long i = lane; i < C; i += G) yr[i] = (xr[i] - m) - l;
    } else {
      T inv = 1 / s;
      for (long long i = lane; i < C; i += G) yr[i] = exp_(xr[i] - m) * inv;
    }
  }
}

/* softmax: gx = y (g - sum g y); log: gx = g - e^y sum g. */
template <typename T, int G, bool LOG>
__global__ void softmax_backward_rows(long long R, long long C, const T *g, const T *y, T *gx) {
  const int RB = BTC_THREADS / G, lane = threadIdx.x % G;
  for (long long row = (long long)blockIdx.x * RB + threadIdx.x / G; row < R;
       row += (long long)gridDim.x * RB) {
    const T *gr = g + row * C, *yr = y + row * C;
    T *out = gx + row * C;
    T s = 0;
    for (long long i = lane; i < C; i += G) s += LOG ? gr[i] : gr[i] * yr[i];
    s = group_reduce<G>(s, SumF());
    for (long long i = lane; i < C; i += G)
      out[i] = LOG ? gr[i] - exp_(yr[i]) * s : yr[i] * (gr[i] - s);
  }
}

/* ---- softmax: columns (B > 1) ---------------------------------------------------------- */

/* A block of bx columns (tx) by by = BTC_THREADS / bx lanes along C (ty).
** Combines v over the lanes of column tx by a fixed tree; every thread of
** the column gets the result. bx and by are powers of two. */
template <typename A, typename F>
__device__ __forceinline__ A column_reduce(A v, F f, int bx, int by, A *s) {
  int t = threadIdx.x;
  s[t] = v;
  __syncthreads();
  for (int st = by / 2; st > 0; st >>= 1) {
    if ((t / bx) < st) s[t] = f(s[t], s[t + st * bx]);
    __syncthreads();
  }
  A r = s[t % bx];
  __syncthreads();
  return r;
}

template <typename T, bool LOG>
__global__ void softmax_columns(long long A, long long C, long long B, int bx, const T *x, T *y) {
  __shared__ T s[BTC_THREADS];
  const int by = BTC_THREADS / bx, tx = threadIdx.x % bx, ty = threadIdx.x / bx;
  long long nbt = (B + bx - 1) / bx;
  for (long long task = blockIdx.x; task < A * nbt; task += gridDim.x) {
    long long a = task / nbt, b = (task % nbt) * bx + tx;
    bool valid = b < B;
    const T *xc = x + a * C * B + b;
    T *yc = y + a * C * B + b;
    T m = (T)NEG_INF;
    if (valid)
      for (long long c = ty; c < C; c += by) m = MaxF()(m, xc[c * B]);
    m = column_reduce(m, MaxF(), bx, by, s);
    T sum = 0;
    if (valid)
      for (long long c = ty; c < C; c += by) sum += exp_(xc[c * B] - m);
    sum = column_reduce(sum, SumF(), bx, by, s);
    if (!valid) continue;
    if (LOG) {
      T l = log_(sum);
      for (long long c = ty; c < C; c += by) yc[c * B] = (xc[c * B] - m) - l;
    } else {
      T inv = 1 / sum;
      for (long long c = ty; c < C; c += by) yc[c * B] = exp_(xc[c * B] - m) * inv;
    }
  }
}

template <typename T, bool LOG>
__global__ void softmax_backward_columns(long long A, long long C, long long B, int bx, const T *g,
                                         const T *y, T *gx) {
  __shared__ T s[BTC_THREADS];
  const int by = BTC_THREADS / bx, tx = threadIdx.x % bx, ty = threadIdx.x / bx;
  long long nbt = (B + bx - 1) / bx;
  for (long long task = blockIdx.x; task < A * nbt; task += gridDim.x) {
    long long a = task / nbt, b = (task % nbt) * bx + tx;
    bool valid = b < B;
    long long base = a * C * B + b;
    T sum = 0;
    if (valid)
      for (long long c = ty; c < C; c += by) {
        long long k = base + c * B;
        sum += LOG ? g[k] : g[k] * y[k];
      }
    sum = column_reduce(sum, SumF(), bx, by, s);
    if (!valid) continue;
    for (long long c = ty; c < C; c += by) {
      long long k = base + c * B;
      gx[k] = LOG ? g[k] - exp_(y[k]) * sum : y[k] * (g[k] - sum);
    }
  }
}

/* Columns per block: a power of two up to 32, no wider than B. */
static int column_width(long long B) {
  int bx = 1;
  while (bx < 32 && bx < B) bx *= 2;
  return bx;
}

template <typename T>
static void launch_softmax(long long A, long long C, long long B, bool log, const T *x, T *y) {
  if (B == 1) {
    bool warp = C <= BTC_WARP_ROW_MAX;
    unsigned blocks = btc_row_blocks(A, warp ? 32 : BTC_THREADS);
    if (warp && log) softmax_rows<T, 32, true><<<blocks, BTC_THREADS>>>(A, C, x, y);
    else if (warp) softmax_rows<T, 32, false><<<blocks, BTC_THREADS>>>(A, C, x, y);
    else if (log) softmax_rows<T, BTC_THREADS, true><<<blocks, BTC_THREADS>>>(A, C, x, y);
    else softmax_rows<T, BTC_THREADS, false><<<blocks, BTC_THREADS>>>(A, C, x, y);
    return;
  }
  int bx = column_width(B);
  unsigned blocks = btc_blocks(A * ((B + bx - 1) / bx), 1);
  if (log) softmax_columns<T, true><<<blocks, BTC_THREADS>>>(A, C, B, bx, x, y);
  else softmax_columns<T, false><<<blocks, BTC_THREADS>>>(A, C, B, bx, x, y);
}

template <typename T>
static void launch_softmax_backward(long long A, long long C, long long B, bool log, const T *g,
                                    const T *y, T *gx) {
  if (B == 1) {
    bool warp = C <= BTC_WARP_ROW_MAX;
    unsigned blocks = btc_row_blocks(A, warp ? 32 : BTC_THREADS);
    if (warp && log) softmax_backward_rows<T, 32, true><<<blocks, BTC_THREADS>>>(A, C, g, y, gx);
    else if (warp) softmax_backward_rows<T, 32, false><<<blocks, BTC_THREADS>>>(A, C, g, y, gx);
    else if (log) softmax_backward_rows<T, BTC_THREADS, true><<<blocks, BTC_THREADS>>>(A, C, g, y, gx);
    else softmax_backward_rows<T, BTC_THREADS, false><<<blocks, BTC_THREADS>>>(A, C, g, y, gx);
    return;
  }
  int bx = column_width(B);
  unsigned blocks = btc_blocks(A * ((B + bx - 1) / bx), 1);
  if (log) softmax_backward_columns<T, true><<<blocks, BTC_THREADS>>>(A, C, B, bx, g, y, gx);
  else softmax_backward_columns<T, false><<<blocks, BTC_THREADS>>>(A, C, B, bx, g, y, gx);
}

extern "C" int btc_softmax(bt_Tensor *y, const bt_Tensor *x, bool log) {
  const char *op = log ? "log_softmax" : "softmax";
  const bt_Tensor *ts[2] = {x, y};
  if (btc_nn_use(op, 2, ts) < 0) return -1;
  long long A = x->shape[0], C = x->shape[1], B = x->shape[2];
  if (A == 0 || C == 0 || B == 0) return 0;
  const void *px = bt_data(x);
  void *py = bt_data(y);
  BTC_DISPATCH_FLOAT(x->dtype, op, launch_softmax<T>(A, C, B, log, (const T *)px, (T *)py));
  return btc_check_launch(op);
}

extern "C" int btc_softmax_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *y, bool log) {
  const char *op = log ? "log_softmax_backward" : "softmax_backward";
  const bt_Tensor *ts[3] = {y, g, gx};
  if (btc_nn_use(op, 3, ts) < 0) return -1;
  long long A = y->shape[0], C = y->shape[1], B = y->shape[2];
  if (A == 0 || C == 0 || B == 0) return 0;
  const void *pg = bt_data(g), *py = bt_data(y);
  void *pgx = bt_data(gx);
  BTC_DISPATCH_FLOAT(y->dtype, op,
                     launch_softmax_backward<T>(A, C, B, log, (const T *)pg, (const T *)py, (T *)pgx));
  return btc_check_launch(op);
}

/* ---- class losses ------------------------------------------------------------------------- */

struct Cls {
  long long R, C;
  bool logp, t32;
  long long ignore;
  double smoothing;     /* forward: eps; the loss adds eps/C (lse sum(w) - sum(w x)) */
  double e, c1;         /* backward: e = eps / C and c1 = 1 - e C, as the CPU computes them */
};

__device__ __forceinline__ long long target_at(const void *t, bool t32, long long r) {
  return t32 ? (long long)((const int *)t)[r] : ((const long long *)t)[r];
}

/* Each row's loss (double), lse, and into rows[2r], rows[2r + 1] its loss
** and counted weight (0 for an ignored or bad row). wsum: the sum of the
** class weights (device), or NULL for C. */
template <typename T, int G>
__global__ void class_loss_rows(Cls k, const T *x, const void *target, const T *w,
                                const double *wsum, T *loss, T *lse, double *rows, btc_Report *rep) {
  const int RB = BTC_THREADS / G, lane = threadIdx.x % G;
  const long long C = k.C;
  for (long long r = (long long)blockIdx.x * RB + threadIdx.x / G; r < k.R;
       r += (long long)gridDim.x * RB) {
    const T *xr = x + r * C;
    long long t = target_at(target, k.t32, r);
    double l = 0, lr = 0, wt = 0;
    bool counted = t != k.ignore && t >= 0 && t < C;
    if (t != k.ignore && !counted && lane == 0 && atomicCAS(&rep->bad, 0, 1) == 0) rep->value = t;
    if (counted) {
      wt = w ? (double)w[t] : 1.0;
      double xt = (double)xr[t];
      if (k.logp) {
        lr = -wt * xt;
      } else {
        T m, s;
        row_max_sumexp<T, G>(xr, C, lane, m, s);
        /* all -inf: the answer is -inf (e^(x - m) would be NaN) */
        l = m == (T)NEG_INF ? (double)m : (double)m + log((double)s);
        lr = (1 - k.smoothing) * wt * (l - xt);
        if (k.smoothing > 0) {
          double sx = 0;   /* sum w x: in double, as the CPU (f32 rows of 1e5 classes) */
          for (long long i = lane; i < C; i += G)
            sx += w ? (double)w[i] * (double)xr[i] : (double)xr[i];
          sx = group_reduce<G>(sx, SumF());
          double ws = wsum ? *wsum : (double)C;
          lr += k.smoothing / (double)C * (l * ws - sx);
        }
      }
    }
    if (lane == 0) {
      if (loss) loss[r] = (T)lr;
      if (lse) lse[r] = (T)l;
      rows[2 * r] = lr;
      rows[2 * r + 1] = wt;
    }
  }
}

/* Sums pairs in[2 i], in[2 i + 1] over i in [0, n): block b takes the
** chunk [b chunk, (b + 1) chunk) and writes out[2 b], out[2 b + 1]. */
__global__ void sum_pairs(const double *in, long long n, long long chunk, double *out) {
  long long i0 = (long long)blockIdx.x * chunk, i1 = i0 + chunk < n ? i0 + chunk : n;
  double a = 0, b = 0;
  for (long long i = i0 + threadIdx.x; i < i1; i += BTC_THREADS) {
    a += in[2 * i];
    b += in[2 * i + 1];
  }
  a = group_reduce<BTC_THREADS>(a, SumF());
  b = group_reduce<BTC_THREADS>(b, SumF());
  if (threadIdx.x == 0) {
    out[2 * blockIdx.x] = a;
    out[2 * blockIdx.x + 1] = b;
  }
}

/* *out = *rep, and the report is cleared (one thread). */
__global__ void move_report(btc_Report *rep, btc_Report *out) {
  *out = *rep;
  rep->bad = 0;
  rep->value = 0;
}

/* *out = the sum of w [n] (one block). */
template <typename T>
__global__ void sum_vector(const T *w, long long n, double *out) {
  double a = 0;
  for (long long i = threadIdx.x; i < n; i += BTC_THREADS) a += (double)w[i];
  a = group_reduce<BTC_THREADS>(a, SumF());
  if (threadIdx.x == 0) *out = a;
}

static int bad_target_error(const char *op, long long v, long long C) {
  long long id = v + 1;
  if (id == 0)
    return bt_seterr("%s: targets are 1-based class ids 1..%lld; got 0: did you pass 0-based "
                     "labels?", op, C);
  return bt_seterr("%s: targets are 1-based class ids 1..%lld; got %lld", op, C, id);
}

#define SUM_CHUNK 8192

template <typename T>
static void launch_class_loss(const Cls &k, const T *x, const void *target, const T *w,
                              double *wsum, T *loss, T *lse, double *rows, btc_Report *rep,
                              double *partial, long long nchunks) {
  bool warp = k.logp || k.C <= BTC_WARP_ROW_MAX;
  unsigned blocks = btc_row_blocks(k.R, warp ? 32 : BTC_THREADS);
  if (w && k.smoothing > 0) sum_vector<T><<<1, BTC_THREADS>>>(w, k.C, wsum);
  if (warp)
    class_loss_rows<T, 32><<<blocks, BTC_THREADS>>>(k, x, target, w, w ? wsum : NULL, loss, lse,
                                                    rows, rep);
  else
    class_loss_rows<T, BTC_THREADS><<<blocks, BTC_THREADS>>>(k, x, target, w, w ? wsum : NULL, loss,
                                                             lse, rows, rep);
  /* rows [R] pairs -> partial [nchunks] pairs -> partial[2 nchunks ..] (the totals) */
  sum_pairs<<<(unsigned)nchunks, BTC_THREADS>>>(rows, k.R, SUM_CHUNK, partial);
  sum_pairs<<<1, BTC_THREADS>>>(partial, nchunks, nchunks, partial + 2 * nchunks);
}

/* What one copy brings back: the sums, then the moved report. */
typedef struct {
  double totals[2];
  btc_Report report;
} LossTotals;

extern "C" int btc_class_loss(bt_Tensor *loss, bt_Tensor *lse, double *totals, const bt_Tensor *x,
                              const bt_Tensor *target, const bt_Tensor *weight,
                              int64_t ignore_index, double smoothing, bool logp) {
  const char *op = logp ? "nll_loss" : "cross_entropy";
  const bt_Tensor *ts[5] = {x, target, weight, loss, lse};
  totals[0] = totals[1] = 0;
  if (btc_nn_use(op, 5, ts) < 0) return -1;
  Cls k = {x->shape[0], x->shape[1], logp, target->dtype == BT_I32, ignore_index, smoothing, 0, 0};
  if (k.R == 0) return 0;
  btc_Report *rep = btc_report_buffer();
  if (!rep) return bt_seterr("%s: cannot allocate the CUDA report buffer", op);
  /* Scratch: the rows' pairs, the chunks' pairs, the LossTotals, the weight sum. */
  long long nchunks = (k.R + SUM_CHUNK - 1) / SUM_CHUNK;
  if (nchunks > 0x7fffffffLL) return bt_seterr("%s: %lld rows are too many", op, k.R);
  const int64_t tot_doubles = sizeof(LossTotals) / sizeof(double);
  int64_t bytes = (2 * k.R + 2 * nchunks + tot_doubles + 1) * (int64_t)sizeof(double);
  double *scratch = (double *)btc_scratch(op, bytes);
  if (!scratch) return -1;
  double *rows = scratch, *partial = rows + 2 * k.R, *tot = partial + 2 * nchunks;
  double *wsum = tot + tot_doubles;
  const void *px = bt_data(x), *pt = bt_data(target), *pw = data_or_null(weight);
  void *pl = loss ? bt_data(loss) : NULL, *ps = lse ? bt_data(lse) : NULL;
  int rc = 0;
  switch (x->dtype) {
    BTC_CASE(BT_F32, float, launch_class_loss<T>(k, (const T *)px, pt, (const T *)pw, wsum, (T *)pl,
                                                 (T *)ps, rows, rep, partial, nchunks))
    BTC_CASE(BT_F64, double, launch_class_loss<T>(k, (const T *)px, pt, (const T *)pw, wsum, (T *)pl,
                                                  (T *)ps, rows, rep, partial, nchunks))
    default: rc = bt_seterr("%s: no CUDA kernel for %s (f32 and f64 only)", op, bt_dtype_name(x->dtype));
  }
  if (rc == 0) {
    move_report<<<1, 1>>>(rep, (btc_Report *)(tot + 2));
    rc = btc_check_launch(op);
  }
  LossTotals h;
  if (rc == 0) rc = btc_check(cudaMemcpy(&h, tot, sizeof h, cudaMemcpyDeviceToHost), op);
  btc_scratch_free(scratch, bytes);
  if (rc < 0) {
    cudaMemset(rep, 0, sizeof *rep);   /* a clear report for the next kernel; keeps rc's message */
    return -1;
  }
  if (h.report.bad) return bad_target_error(op, h.report.value, k.C);
  totals[0] = h.totals[0];
  totals[1] = h.totals[1];
  return 0;
}

/* gx [R, C] = scale[r] d loss[r] / dx: CE: (s a) p - s e w_c - [c = t] s c1 w_t with
** p = e^(x - lse), a = c1 w_t + e sum(w); NLL: -s w_t at t. Ignored and bad
** rows: 0. One thread per element. */
template <typename T>
__global__ void class_loss_backward_kernel(Cls k, const T *x, const T *lse, const void *target,
                                           const T *w, const double *wsum, const T *scale,
                                           bool scale_all, double scale_value, T *gx) {
  const long long C = k.C;
  BTC_LOOP(i, k.R * C) {
    long long r = i / C, c = i - r * C, t = target_at(target, k.t32, r);
    if (t == k.ignore || t < 0 || t >= C) {
      gx[i] = 0;
      continue;
    }
    double s = scale ? (double)scale[scale_all ? 0 : r] : scale_value;
    double wt = w ? (double)w[t] : 1.0;
    if (k.logp) {
      gx[i] = c == t ? (T)(-s * wt) : (T)0;
      continue;
    }
    double ws = wsum ? *wsum : (double)C;
    T a = (T)(s * (k.c1 * wt + k.e * ws));
    T v = (T)(a * exp_((T)(x[i] - lse[r])));
    if (k.e > 0) v -= (T)(s * k.e * (w ? (double)w[c] : 1.0));
    if (c == t) v -= (T)(s * k.c1 * wt);
    gx[i] = v;
  }
}

extern "C" int btc_class_loss_backward(bt_Tensor *gx, const bt_Tensor *scale, const bt_Tensor *x,
                                       const bt_Tensor *lse, const bt_Tensor *target,
                                       const bt_Tensor *weight, int64_t ignore_index,
                                       double smoothing, bool logp) {
  const char *op = logp ? "nll_loss_backward" : "cross_entropy_backward";
  bool scale_host = scale->storage->device.type == BT_CPU;
  const bt_Tensor *ts[6] = {x, gx, lse, target, weight, scale_host ? NULL : scale};
  if (btc_nn_use(op, 6, ts) < 0) return -1;
  if (scale_host && !btc_is_host_scalar(scale))
    return bt_seterr("%s: the gradient's scale %s is on the CPU", op, bt_shp(scale));
  Cls k = {x->shape[0], x->shape[1], logp, target->dtype == BT_I32, ignore_index, smoothing, 0, 0};
  k.e = smoothing / (double)k.C;
  k.c1 = 1 - k.e * (double)k.C;
  if (k.R == 0 || k.C == 0) return 0;
  double sv = 0;
  if (scale_host) sv = x->dtype == BT_F64 ? *(const double *)bt_data((bt_Tensor *)scale)
                                          : *(const float *)bt_data((bt_Tensor *)scale);
  bool need_wsum = weight && !logp && k.e > 0;
  double *wsum = need_wsum ? (double *)btc_scratch(op, sizeof(double)) : NULL;
  if (need_wsum && !wsum) return -1;
  const void *px = bt_data(x), *pt = bt_data(target), *pw = data_or_null(weight);
  const void *pl = lse ? bt_data((bt_Tensor *)lse) : NULL;
  const void *pscale = scale_host ? NULL : bt_data((bt_Tensor *)scale);
  void *pgx = bt_data(gx);
  bool all = scale->ndim == 0;
  unsigned blocks = btc_blocks(k.R * k.C, BTC_THREADS);
  int rc = 0;
  switch (x->dtype) {
    BTC_CASE(BT_F32, float, {
      if (need_wsum) sum_vector<T><<<1, BTC_THREADS>>>((const T *)pw, k.C, wsum);
      class_loss_backward_kernel<T><<<blocks, BTC_THREADS>>>(k, (const T *)px, (const T *)pl, pt,
                                                             (const T *)pw, wsum, (const T *)pscale,
                                                             all, sv, (T *)pgx);
    })
    BTC_CASE(BT_F64, double, {
      if (need_wsum) sum_vector<T><<<1, BTC_THREADS>>>((const T *)pw, k.C, wsum);
      class_loss_backward_kernel<T><<<blocks, BTC_THREADS>>>(k, (const T *)px, (const T *)pl, pt,
                                                             (const T *)pw, wsum, (const T *)pscale,
                                                             all, sv, (T *)pgx);
    })
    default: rc = bt_seterr("%s: no CUDA kernel for %s (f32 and f64 only)", op, bt_dtype_name(x->dtype));
  }
  if (rc == 0) rc = btc_check_launch(op);
  if (wsum) btc_scratch_free(wsum, sizeof(double));
  return rc;
}
