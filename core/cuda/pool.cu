/*
** cuda/pool.cu: max and average pooling (fixed or adaptive windows), their
** backward passes, and nearest and (bi)linear resampling with its adjoint
** (shapes: dispatch.h, `pool kernels`).
**
** Every kernel sees contiguous [P, H, W] planes in f32 or f64 (ops/nn_pool.c
** converts; f16 and bf16 reach here as f32 for every device). Windows are
** cpu/pool.c's, computed per output position on the device by the same
** formulas: along each axis, output i reads taps[i] inputs first[i],
** first[i] + step, ... (padding is never read), and the average's divisor
** follows count_include_pad and divisor_override (PyTorch 1.13).
**
** Forward kernels: one thread per output, the window scanned in the CPU's
** order, so results are the CPU's bit for bit. Average pooling's and
** resampling's backward are gathers: one thread per input element sums,
** in the order the CPU adds them, the outputs whose windows hold it (no
** atomics; deterministic). Max pooling's backward gets only the saved
** indices (no window geometry), so it scatters with atomicAdd: where
** windows overlap, the order of the adds (and so the last bits of a float
** sum) may change from run to run. An index outside [0, H*W) (other than
** -1, a window without input) is noted in the report buffer and fails
** naming the op, as on the CPU.
*/
#include "kernel.cuh"
#include "kernels.h"

#include <math.h>
#include <math_constants.h>

/* ---- window geometry ----------------------------------------------------------------- */

enum { WIN_ADAPTIVE, WIN_MAX, WIN_AVG };

struct PoolGeom {
  long long P, H, W, OH, OW;
  long long kernel[2], stride[2], padding[2], dilation[2];
  int kind;
  bool count_include_pad;
  long long divisor_override;
};

struct Win {
  long long first, taps, span, step;
};

/* cpu/pool.c's axis_plan for output i along axis d (0: height, 1: width). */
__device__ __forceinline__ Win window(const PoolGeom &g, int d, long long i) {
  long long in = d ? g.W : g.H, out = d ? g.OW : g.OH;
  Win r;
  r.step = 1;
  if (g.kind == WIN_ADAPTIVE) {
    r.first = i * in / out;
    long long e = ((i + 1) * in + out - 1) / out;
    r.taps = r.span = e - r.first;
  } else if (g.kind == WIN_MAX) {
    long long k = g.kernel[d], dil = g.dilation[d], start = i * g.stride[d] - g.padding[d];
    long long end = start + (k - 1) * dil + 1;
    if (end > in) end = in;
    r.first = start < 0 ? start + (-start + dil - 1) / dil * dil : start;
    r.taps = r.span = r.first < end ? (end - r.first + dil - 1) / dil : 0;
    r.step = dil;
  } else {
    long long k = g.kernel[d], p = g.padding[d], start = i * g.stride[d] - p;
    long long endp = start + k < in + p ? start + k : in + p;
    r.span = endp - start;
    r.first = start > 0 ? start : 0;
    long long e = endp < in ? endp : in;
    r.taps = e - r.first > 0 ? e - r.first : 0;
  }
  return r;
}

/* The average's divisor for windows a (height) and b (width); 0: no input. */
__device__ __forceinline__ long long divisor(const PoolGeom &g, const Win &a, const Win &b) {
  long long n = a.taps * b.taps;
  if (n == 0) return 0;
  if (g.kind == WIN_ADAPTIVE) return n;
  if (g.divisor_override) return g.divisor_override;
  return g.count_include_pad ? a.span * b.span : n;
}

/* ---- kernels ---------------------------------------------------------------------------- */

/* Output (p, oh, ow): the first largest value wins; a NaN wins over
** numbers (the last NaN); index -1 for a window without input. */
template <typename T>
__global__ void max_pool_kernel(PoolGeom g, const T *in, T *out, long long *indices) {
  BTC_LOOP(o, g.P * g.OH * g.OW) {
    long long ow = o % g.OW, r = o / g.OW, oh = r % g.OH, p = r / g.OH;
    Win a = window(g, 0, oh), b = window(g, 1, ow);
    const T *src = in + p * g.H * g.W;
    T m = (T)(-CUDART_INF);
    long long mi = a.taps && b.taps ? a.first * g.W + b.first : -1;
    for (long long th = 0; th < a.taps; th++) {
      long long at = (a.first + th * a.step) * g.W + b.first;
      for (long long tw = 0; tw < b.taps; tw++, at += b.step) {
        T v = src[at];
        bool win = v > m || v != v;
        m = win ? v : m;
        mi = win ? at : mi;
      }
    }
    out[o] = m;
    if (indices) indices[o] = mi;
  }
}

/* Output (p, oh, ow): the window's sum (in the CPU's order) over its divisor. */
template <typename T>
__global__ void avg_pool_kernel(PoolGeom g, const T *in, T *out) {
  BTC_LOOP(o, g.P * g.OH * g.OW) {
    long long ow = o % g.OW, r = o / g.OW, oh = r % g.OH, p = r / g.OH;
    Win a = window(g, 0, oh), b = window(g, 1, ow);
    long long div = divisor(g, a, b);
    const T *src = in + p * g.H * g.W;
    T s = 0;
    for (long long th = 0; th < a.taps; th++) {
      const T *row = src + (a.first + th) * g.W + b.first;
      for (long long tw = 0; tw < b.taps; tw++) s += row[tw];
    }
    out[o] = div ? s / (T)div : (T)0;
  }
}

/* Floor division for a negative numerator too (b > 0). */
__device__ __forceinline__ long long floor_div(long long a, long long b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* The outputs along axis d whose windows may hold input position i: a
** range a little wider than the exact one (each is then checked). */
__device__ __forceinline__ void candidates(const PoolGeom &g, int d, long long i, long long *lo,
                                           long long *hi) {
  long long in = d ? g.W : g.H, out = d ? g.OW : g.OH;
  if (g.kind == WIN_ADAPTIVE) {
    *lo = i * out / in;
    *hi = ((i + 1) * out + in - 1) / in - 1;
  } else {   /* average: windows [o stride - pad, o stride - pad + kernel) */
    *lo = floor_div(i + g.padding[d] - g.kernel[d], g.stride[d]) + 1;
    *hi = (i + g.padding[d]) / g.stride[d];
  }
  *lo = *lo - 1 > 0 ? *lo - 1 : 0;
  *hi = *hi + 1 < out - 1 ? *hi + 1 : out - 1;
}

/* Input (p, h, w): the sum of gout / divisor over the windows that hold it,
** in increasing (oh, ow), the order in which the CPU adds them. */
template <typename T>
__global__ void avg_pool_backward_kernel(PoolGeom g, const T *gout, T *gin) {
  BTC_LOOP(e, g.P * g.H * g.W) {
    long long w = e % g.W, r = e / g.W, h = r % g.H, p = r / g.H;
    long long h0, h1, w0, w1;
    candidates(g, 0, h, &h0, &h1);
    candidates(g, 1, w, &w0, &w1);
    const T *go = gout + p * g.OH * g.OW;
    T s = 0;
    for (long long oh = h0; oh <= h1; oh++) {
      Win a = window(g, 0, oh);
      if (h < a.first || h >= a.first + a.taps) continue;
      for (long long ow = w0; ow <= w1; ow++) {
        Win b = window(g, 1, ow);
        if (w < b.first || w >= b.first + b.taps) continue;
        long long div = divisor(g, a, b);
        if (div) s += go[oh * g.OW + ow] / (T)div;
      }
    }
    gin[e] = s;
  }
}

/* gin (zeroed) += gout at the saved positions; -1 is skipped, other
** positions outside [0, H*W) are reported (skipped when rep is NULL). */
template <typename T>
__global__ void max_pool_backward_kernel(long long P, long long HW, long long OHW, const T *gout,
                                         const long long *indices, T *gin, btc_Report *rep) {
  BTC_LOOP(k, P * OHW) {
    long long i = indices[k];
    if ((unsigned long long)i < (unsigned long long)HW) {
      atomicAdd(gin + k / OHW * HW + i, gout[k]);
    } else if (rep && i != -1 && atomicCAS(&rep->bad, 0, 1) == 0) {
      rep->value = i;
    }
  }
}

/* ---- entry points ----------------------------------------------------------------------- */

static int on_device(const char *op, int n, const bt_Tensor *const *t) {
  for (int i = 0; i < n; i++)
    if (t[i] && t[i]->storage->device.type != BT_CUDA) {
      char a[32];
      return bt_seterr("%s: a tensor is on %s, expected a CUDA device", op,
                       bt_device_name(t[i]->storage->device, a));
    }
  return btc_use(t[0]);
}

static int float_only(const char *op, const bt_Tensor *t) {
  if (t->dtype == BT_F32 || t->dtype == BT_F64) return 0;
  return bt_seterr("%s: no CUDA kernel for %s (f32 and f64 only)", op, bt_dtype_name(t->dtype));
}

/* in [P, H, W] (or gin), out [P, OH, OW] (or gout); o NULL: adaptive. */
static void geom_init(PoolGeom *g, const bt_Tensor *in, const bt_Tensor *out,
                      const bt_PoolOpts *o, bool is_max) {
  memset(g, 0, sizeof *g);
  g->P = in->shape[0];
  g->H = in->shape[1];
  g->W = in->shape[2];
  g->OH = out->shape[1];
  g->OW = out->shape[2];
  g->kind = !o ? WIN_ADAPTIVE : is_max ? WIN_MAX : WIN_AVG;
  if (!o) return;
  for (int d = 0; d < 2; d++) {
    g->kernel[d] = o->kernel[d];
    g->stride[d] = o->stride[d];
    g->padding[d] = o->padding[d];
    g->dilation[d] = o->dilation[d] > 0 ? o->dilation[d] : 1;
  }
  g->count_include_pad = o->count_include_pad;
  g->divisor_override = o->divisor_override;
}

extern "C" int btc_max_pool2d(bt_Tensor *out, bt_Tensor *indices, const bt_Tensor *in,
                              const bt_PoolOpts *o) {
  const char *op = o ? "max_pool2d" : "adaptive_max_pool2d";
  const bt_Tensor *ts[3] = {in, out, indices};
  if (on_device(op, 3, ts) < 0 || float_only(op, in) < 0) return -1;
  PoolGeom g;
  geom_init(&g, in, out, o, true);
  long long n = g.P * g.OH * g.OW;
  if (n == 0) return 0;
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  long long *ix = indices ? (long long *)bt_data(indices) : NULL;
  if (in->dtype == BT_F32)
    max_pool_kernel<float><<<blocks, BTC_THREADS>>>(g, (const float *)bt_data(in),
                                                    (float *)bt_data(out), ix);
  else
    max_pool_kernel<double><<<blocks, BTC_THREADS>>>(g, (const double *)bt_data(in),
                                                     (double *)bt_data(out), ix);
  return btc_check_launch(op);
}

extern "C" int btc_avg_pool2d(bt_Tensor *out, const bt_Tensor *in, const bt_PoolOpts *o) {
  const char *op = o ? "avg_pool2d" : "adaptive_avg_pool2d";
  const bt_Tensor *ts[2] = {in, out};
  if (on_device(op, 2, ts) < 0 || float_only(op, in) < 0) return -1;
  PoolGeom g;
  geom_init(&g, in, out, o, false);
  long long n = g.P * g.OH * g.OW;
  if (n == 0) return 0;
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  if (in->dtype == BT_F32)
    avg_pool_kernel<float><<<blocks, BTC_THREADS>>>(g, (const float *)bt_data(in),
                                                    (float *)bt_data(out));
  else
    avg_pool_kernel<double><<<blocks, BTC_THREADS>>>(g, (const double *)bt_data(in),
                                                     (double *)bt_data(out));
  return btc_check_launch(op);
}

extern "C" int btc_max_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout,
                                       const bt_Tensor *indices, bool check) {
  const char *op = "max_pool2d_backward";
  const bt_Tensor *ts[3] = {gin, gout, indices};
  if (on_device(op, 3, ts) < 0 || float_only(op, gin) < 0) return -1;
  long long P = gin->shape[0], H = gin->shape[1], W = gin->shape[2];
  long long OHW = gout->shape[1] * gout->shape[2];
  size_t es = bt_dtype_size(gin->dtype);
  if (P * H * W > 0 && btc_check(cudaMemset(bt_data(gin), 0, (size_t)(P * H * W) * es), op) < 0)
    return -1;
  if (P * OHW == 0) return 0;
  btc_Report *rep = check ? btc_report_buffer() : NULL;   /* NULL: no report, no wait */
  if (check && !rep) return bt_seterr("%s: cannot allocate the CUDA report buffer", op);
  unsigned blocks = btc_blocks(P * OHW, BTC_THREADS);
  const long long *ix = (const long long *)bt_data(indices);
  if (gin->dtype == BT_F32)
    max_pool_backward_kernel<float><<<blocks, BTC_THREADS>>>(
        P, H * W, OHW, (const float *)bt_data(gout), ix, (float *)bt_data(gin), rep);
  else
    max_pool_backward_kernel<double><<<blocks, BTC_THREADS>>>(
        P, H * W, OHW, (const double *)bt_data(gout), ix, (double *)bt_data(gin), rep);
  if (btc_check_launch(op) < 0) {
    if (rep) cudaMemset(rep, 0, sizeof *rep);   /* a clear report for the next kernel; keeps the message */
    return -1;
  }
  if (!check) return 0;
  long long bad = 0;
  int got = btc_report_take(op, &bad);
  if (got < 0) return -1;
  if (got == 0) return 0;
  return bt_seterr("%s: index %lld is out of range for input planes of %lldx%lld = %lld "
                   "elements (indices are 1-based and flat within each plane)", op, bad + 1, H, W,
                   H * W);
}

extern "C" int btc_avg_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_PoolOpts *o) {
  const char *op = o ? "avg_pool2d_backward" : "adaptive_avg_pool2d_backward";
  const bt_Tensor *ts[2] = {gin, gout};
  if (on_device(op, 2, ts) < 0 || float_only(op, gin) < 0) return -1;
  PoolGeom g;
  geom_init(&g, gin, gout, o, false);
  long long n = g.P * g.H * g.W;
  if (n == 0) return 0;
  if (g.OH == 0 || g.OW == 0) {   /* no windows: a zero gradient */
    return btc_check(cudaMemset(bt_data(gin), 0, (size_t)n * bt_dtype_size(gin->dtype)), op);
  }
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  if (gin->dtype == BT_F32)
    avg_pool_backward_kernel<float><<<blocks, BTC_THREADS>>>(g, (const float *)bt_data(gout),
                                                             (float *)bt_data(gin));
  else
    avg_pool_backward_kernel<double><<<blocks, BTC_THREADS>>>(g, (const double *)bt_data(gout),
                                                              (double *)bt_data(gin));
  return btc_check_launch(op);
}

/* ---- resampling ------------------------------------------------------------------------------- */

/* One axis of a resampling (cpu/pool.c's Lerp): output i reads i0[i]
** (nearest) or l0[i] x[i0[i]] + l1[i] x[i1[i]] (linear). The tables are
** computed on the device by the CPU's formulas, without fused
** multiply-adds, so they hold the CPU's indices and weights. */
struct LerpAxis {
  long long in, out;
  bool nearest, align;
  float fs;       /* nearest: the scale in single precision */
  double s;       /* linear: the source step */
  long long *i0, *i1;
  double *l0, *l1;
};

__device__ __forceinline__ void lerp_entry(const LerpAxis &a, long long i) {
  if (a.nearest) {
    long long j = a.out == a.in ? i
                  : a.out == 2 * a.in ? i >> 1
                                      : (long long)floorf(__fmul_rn((float)i, a.fs));
    j = j < a.in - 1 ? j : a.in - 1;
    a.i0[i] = a.i1[i] = j;
    a.l0[i] = 1;
    a.l1[i] = 0;
    return;
  }
  double x = a.align ? __dmul_rn(a.s, (double)i)
                     : __dsub_rn(__dmul_rn(a.s, __dadd_rn((double)i, 0.5)), 0.5);
  if (!a.align) x = x > 0.0 ? x : 0.0;
  long long j = (long long)x;
  j = j < a.in - 1 ? j : a.in - 1;
  double l = __dsub_rn(x, (double)j);
  l = l > 0.0 ? l : 0.0;
  l = l < 1.0 ? l : 1.0;
  a.i0[i] = j;
  a.i1[i] = j + (j < a.in - 1 ? 1 : 0);
  a.l0[i] = __dsub_rn(1.0, l);
  a.l1[i] = l;
}

__global__ void lerp_tables(LerpAxis ah, LerpAxis aw) {
  BTC_LOOP(i, ah.out + aw.out) {
    if (i < ah.out) lerp_entry(ah, i);
    else lerp_entry(aw, i - ah.out);
  }
}

/* T arithmetic without fused multiply-adds (the CPU's roundings). */
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

/* Output (p, oh, ow) from in [P, H, W]. */
template <typename T>
__global__ void resample_kernel(long long P, long long H, long long W, LerpAxis ah, LerpAxis aw,
                                const T *in, T *out) {
  long long OH = ah.out, OW = aw.out;
  BTC_LOOP(o, P * OH * OW) {
    long long ow = o % OW, r = o / OW, oh = r % OH, p = r / OH;
    const T *src = in + p * H * W;
    const T *r0 = src + ah.i0[oh] * W, *r1 = src + ah.i1[oh] * W;
    long long j0 = aw.i0[ow], j1 = aw.i1[ow];
    if (ah.nearest) {
      out[o] = r0[j0];
      continue;
    }
    T a0 = (T)ah.l0[oh], a1 = (T)ah.l1[oh], b0 = (T)aw.l0[ow], b1 = (T)aw.l1[ow];
    T top = add_rn(mul_rn(b0, r0[j0]), mul_rn(b1, r0[j1]));
    T bot = add_rn(mul_rn(b0, r1[j0]), mul_rn(b1, r1[j1]));
    out[o] = add_rn(mul_rn(a0, top), mul_rn(a1, bot));
  }
}

/* The first position in the nondecreasing table t [n] whose value >= v. */
__device__ __forceinline__ long long lower_bound(const long long *t, long long n, long long v) {
  long long lo = 0, hi = n;
  while (lo < hi) {
    long long mid = lo + (hi - lo) / 2;
    if (t[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* The outputs along an axis that read input i: i0 is nondecreasing and
** i1 is i0 or i0 + 1, so they are those with i0 in [i - 1, i] (nearest: i). */
__device__ __forceinline__ void readers(const LerpAxis &a, long long i, long long *lo, long long *hi) {
  *lo = lower_bound(a.i0, a.out, a.nearest ? i : i - 1);
  *hi = lower_bound(a.i0, a.out, i + 1);
}

/* Input (p, h, w) of the adjoint: every output's value times the weights
** it read this input with, added in the CPU's order (oh, ow, then the
** four corners r0j0, r0j1, r1j0, r1j1). */
template <typename T>
__global__ void resample_backward_kernel(long long P, long long H, long long W, LerpAxis ah,
                                         LerpAxis aw, const T *gout, T *gin) {
  long long OH = ah.out, OW = aw.out;
  BTC_LOOP(e, P * H * W) {
    long long w = e % W, r = e / W, h = r % H, p = r / H;
    long long h0, h1, w0, w1;
    readers(ah, h, &h0, &h1);
    readers(aw, w, &w0, &w1);
    const T *go = gout + p * OH * OW;
    T s = 0;
    for (long long oh = h0; oh < h1; oh++) {
      bool u0 = ah.i0[oh] == h, u1 = ah.i1[oh] == h;
      if (ah.nearest) {
        if (!u0) continue;
        for (long long ow = w0; ow < w1; ow++)
          if (aw.i0[ow] == w) s = add_rn(s, go[oh * OW + ow]);
        continue;
      }
      if (!u0 && !u1) continue;
      T a0 = (T)ah.l0[oh], a1 = (T)ah.l1[oh];
      for (long long ow = w0; ow < w1; ow++) {
        bool v0 = aw.i0[ow] == w, v1 = aw.i1[ow] == w;
        if (!v0 && !v1) continue;
        T b0 = (T)aw.l0[ow], b1 = (T)aw.l1[ow], v = go[oh * OW + ow];
        if (u0 && v0) s = add_rn(s, mul_rn(mul_rn(a0, b0), v));
        if (u0 && v1) s = add_rn(s, mul_rn(mul_rn(a0, b1), v));
        if (u1 && v0) s = add_rn(s, mul_rn(mul_rn(a1, b0), v));
        if (u1 && v1) s = add_rn(s, mul_rn(mul_rn(a1, b1), v));
      }
    }
    gin[e] = s;
  }
}

/* PyTorch's compute_scales_value: 1 / scale when given, else in / out. */
static double scale_value(double scale, long long in, long long out) {
  return scale > 0 ? 1.0 / scale : (double)in / (double)out;
}

static void lerp_init(LerpAxis *a, long long in, long long out, bt_UpsampleMode mode, double scale,
                      bool align_corners) {
  memset(a, 0, sizeof *a);
  a->in = in;
  a->out = out;
  a->nearest = mode == BT_UPSAMPLE_NEAREST;
  a->align = align_corners;
  a->fs = (float)scale_value(scale, in, out);
  a->s = align_corners ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0)
                       : scale_value(scale, in, out);
}

/* Runs the resampling (backward: its adjoint) between small [P, H, W] and
** big [P, OH, OW]. */
static int resample(const char *op, bt_Tensor *small, bt_Tensor *big, bt_UpsampleMode mode,
                    const double *scales, bool align_corners, bool backward) {
  const bt_Tensor *ts[2] = {small, big};
  if (on_device(op, 2, ts) < 0 || float_only(op, small) < 0) return -1;
  long long P = small->shape[0], H = small->shape[1], W = small->shape[2];
  long long OH = big->shape[1], OW = big->shape[2];
  long long n = backward ? P * H * W : P * OH * OW;
  if (n == 0) return 0;
  if (H <= 0 || W <= 0 || OH <= 0 || OW <= 0)
    return bt_seterr("%s: sizes must be positive (input %s, output %s)", op, bt_shp(small), bt_shp(big));
  LerpAxis ah, aw;
  lerp_init(&ah, H, OH, mode, scales ? scales[0] : 0, align_corners);
  lerp_init(&aw, W, OW, mode, scales ? scales[1] : 0, align_corners);
  int64_t bytes = (OH + OW) * 2 * (int64_t)(sizeof(long long) + sizeof(double));
  char *mem = (char *)btc_scratch(op, bytes);
  if (!mem) return -1;
  long long *ix = (long long *)mem;
  double *lx = (double *)(ix + 2 * (OH + OW));
  ah.i0 = ix, ah.i1 = ix + OH, aw.i0 = ix + 2 * OH, aw.i1 = ix + 2 * OH + OW;
  ah.l0 = lx, ah.l1 = lx + OH, aw.l0 = lx + 2 * OH, aw.l1 = lx + 2 * OH + OW;
  lerp_tables<<<btc_blocks(OH + OW, BTC_THREADS), BTC_THREADS>>>(ah, aw);
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  const void *src = bt_data(backward ? big : small);
  void *dst = bt_data(backward ? small : big);
  if (small->dtype == BT_F32) {
    if (backward)
      resample_backward_kernel<float><<<blocks, BTC_THREADS>>>(P, H, W, ah, aw, (const float *)src,
                                                               (float *)dst);
    else
      resample_kernel<float><<<blocks, BTC_THREADS>>>(P, H, W, ah, aw, (const float *)src, (float *)dst);
  } else {
    if (backward)
      resample_backward_kernel<double><<<blocks, BTC_THREADS>>>(P, H, W, ah, aw,
                                                                (const double *)src, (double *)dst);
    else
      resample_kernel<double><<<blocks, BTC_THREADS>>>(P, H, W, ah, aw, (const double *)src,
                                                       (double *)dst);
  }
  int rc = btc_check_launch(op);
  btc_scratch_free(mem, bytes);   /* stream order: later work runs after these kernels */
  return rc;
}

extern "C" int btc_upsample2d(bt_Tensor *out, const bt_Tensor *in, bt_UpsampleMode mode,
                              const double *scales, bool align_corners) {
  return resample("upsample", (bt_Tensor *)in, out, mode, scales, align_corners, false);
}

extern "C" int btc_upsample2d_backward(bt_Tensor *gin, const bt_Tensor *gout, bt_UpsampleMode mode,
                                       const double *scales, bool align_corners) {
  return resample("upsample_backward", gin, (bt_Tensor *)gout, mode, scales, align_corners, true);
}
