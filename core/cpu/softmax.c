/*
** cpu/softmax.c: softmax and log_softmax along one dim (forward and
** backward), and the class losses: cross-entropy fused with its
** log_softmax, and NLL of log-probabilities.
**
** Tensors arrive contiguous and of one float dtype, f32 or f64 (the ops in
** core/ops/nn_softmax.c see to it). Every row subtracts its maximum before
** exponentiating, so large scores neither overflow nor lose precision.
** f32 rows use exp_f32 below, a branch-free exponential the compiler
** vectorises (within 2 ulp of expf); f64 rows use exp().
*/
#include "kernels.h"

/* Let GCC turn the selects of exp_f32 and the max loops into vector
** blends: brasa never enables floating-point traps. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

/* The row loops are compiled three times on x86-64 Linux (AVX-512, AVX2 and
** the baseline) and the loader picks the best the CPU has; their helpers
** are inlined into each copy. */
#define ROW_KERNEL BT_TARGET_CLONES
#define ROW_HELPER static inline __attribute__((always_inline))

/* Runs the statements with T = double when f64, else T = float. */
#define TYPED(f64, T, ...)                                          \
  do {                                                              \
    if (f64) {                                                      \
      typedef double T;                                             \
      __VA_ARGS__                                                   \
    } else {                                                        \
      typedef float T;                                              \
      __VA_ARGS__                                                   \
    }                                                               \
  } while (0)

#define GRAIN_ELEMS 16384

static int64_t grain_for(int64_t per_item) {
  return BT_MAX(1, GRAIN_ELEMS / BT_MAX(per_item, 1));
}

/* e^x for floats: x = n ln2 + r with |r| <= ln2 / 2, e^r by Cephes' degree-6
** polynomial, 2^n through the exponent bits. Below -87.3 the result is 0
** (e^-87.3 is the smallest normal float); above 88.72, inf; NaN stays NaN. */
ROW_HELPER float exp_f32(float x) {
  /* Written so that a NaN clamps too (every comparison with it is false):
  ** converting a NaN n to int32_t below would be undefined. */
  float xc = x > -87.3f ? x : -87.3f;
  xc = xc < 88.72f ? xc : 88.72f;
  float n = (xc * 1.44269504f + 12582912.0f) - 12582912.0f;   /* round to nearest */
  float r = xc - n * 0.693359375f - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;   /* n in [-126, 128] */
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  float e = p * scale;
  e = x < -87.3f ? 0.0f : e;
  return x != x ? x : e;
}

ROW_HELPER double exp_any(double x, bool f64) { return f64 ? exp(x) : exp_f32((float)x); }

/* ---- row helpers: one contiguous row of n values ------------------------------------------ */

ROW_HELPER float max_f32(const float *x, int64_t n) {
  float m[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                -INFINITY, -INFINITY, -INFINITY, -INFINITY};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) m[k] = x[i + k] > m[k] ? x[i + k] : m[k];
  for (; i < n; i++) m[0] = x[i] > m[0] ? x[i] : m[0];
  float r = m[0];
  for (int k = 1; k < 8; k++) r = m[k] > r ? m[k] : r;
  return r;
}

ROW_HELPER double max_f64(const double *x, int64_t n) {
  double m = -INFINITY;
  for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
  return m;
}

/* y = e^(x - m), returns the sum (eight float lanes, combined in double). */
ROW_HELPER double expsum_f32(float *y, const float *x, int64_t n, float m) {
  float s[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) {
      float e = exp_f32(x[i + k] - m);
      y[i + k] = e;
      s[k] += e;
    }
  double t = 0;
  for (; i < n; i++) {
    y[i] = exp_f32(x[i] - m);
    t += y[i];
  }
  for (int k = 0; k < 8; k++) t += s[k];
  return t;
}

/* The sum of e^(x - m) without storing it. */
ROW_HELPER double expsum_only_f32(const float *x, int64_t n, float m) {
  float s[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) s[k] += exp_f32(x[i + k] - m);
  double t = 0;
  for (; i < n; i++) t += exp_f32(x[i] - m);
  for (int k = 0; k < 8; k++) t += s[k];
  return t;
}

ROW_HELPER double expsum_f64(double *y, const double *x, int64_t n, double m) {
  double t = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = exp(x[i] - m);
    if (y) y[i] = e;
    t += e;
  }
  return t;
}

/* log(sum e^x) of a row, with its max subtracted; -inf rows give -inf... */
ROW_HELPER double row_lse(const void *row, int64_t n, bool f64) {
  double m = f64 ? max_f64(row, n) : max_f32(row, n);
  if (isinf(m) || m != m) {
    /* all -inf (or an inf, or NaN): e^(x - m) would be NaN; the answer is m. */
    if (m == -INFINITY || m != m) return m;
  }
  double s = f64 ? expsum_f64(NULL, row, n, m) : expsum_only_f32(row, n, (float)m);
  return m + log(s);
}

/* ---- softmax ----------------------------------------------------------------------------- */

typedef struct {
  int64_t A, C, B;
  bool f64, log;
  const void *x, *g;
  void *y;
} Soft;

#define SOFT_BCHUNK 64

/* Rows along C when B == 1: one task per block of rows. */
ROW_KERNEL static void softmax_rows(void *ctx, int64_t r0, int64_t r1) {
  Soft *s = ctx;
  int64_t C = s->C;
  for (int64_t r = r0; r < r1; r++) {
    if (s->f64) {
      const double *x = (const double *)s->x + r * C;
      double *y = (double *)s->y + r * C;
      double m = max_f64(x, C), sum = expsum_f64(y, x, C, m);
      if (s->log) {
        double l = log(sum);
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) - l;
      } else {
        double inv = 1 / sum;
        for (int64_t i = 0; i < C; i++) y[i] *= inv;
      }
    } else {
      const float *x = (const float *)s->x + r * C;
      float *y = (float *)s->y + r * C;
      float m = max_f32(x, C);
      if (s->log) {
        float l = (float)log(expsum_only_f32(x, C, m));
        for (int64_t i = 0; i < C; i++) y[i] = (x[i] - m) - l;
      } else {
        float inv = (float)(1 / expsum_f32(y, x, C, m));
        for (int64_t i = 0; i < C; i++) y[i] *= inv;
      }
    }
  }
}

/* B > 1: task t covers outer index a = t / nb and SOFT_BCHUNK columns of B;
** loops run along B (contiguous) for each c. */
ROW_KERNEL static void softmax_columns(void *ctx, int64_t t0, int64_t t1) {
  Soft *s = ctx;
  int64_t C = s->C, B = s->B, nb = (B + SOFT_BCHUNK - 1) / SOFT_BCHUNK;
  double m[SOFT_BCHUNK], sum[SOFT_BCHUNK];
  for (int64_t t = t0; t < t1; t++) {
    int64_t a = t / nb, b0 = (t % nb) * SOFT_BCHUNK, nbk = BT_MIN(SOFT_BCHUNK, B - b0);
    TYPED(s->f64, T, {
      const T *x = (const T *)s->x + a * C * B + b0;
      T *y = (T *)s->y + a * C * B + b0;
      for (int64_t j = 0; j < nbk; j++) m[j] = -INFINITY, sum[j] = 0;
      for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nbk; j++) m[j] = x[c * B + j] > m[j] ? x[c * B + j] : m[j];
      for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nbk; j++) {
          double e = exp_any(x[c * B + j] - m[j], s->f64);
          if (!s->log) y[c * B + j] = (T)e;
          sum[j] += e;
        }
      if (s->log) {
        for (int64_t j = 0; j < nbk; j++) sum[j] = log(sum[j]);
        for (int64_t c = 0; c < C; c++)
          for (int64_t j = 0; j < nbk; j++) y[c * B + j] = (T)((x[c * B + j] - (T)m[j]) - sum[j]);
      } else {
        for (int64_t j = 0; j < nbk; j++) sum[j] = 1 / sum[j];
        for (int64_t c = 0; c < C; c++)
          for (int64_t j = 0; j < nbk; j++) y[c * B + j] = (T)(y[c * B + j] * sum[j]);
      }
    });
  }
}

int bt_cpu_softmax(bt_Tensor *y, const bt_Tensor *x, bool log) {
  Soft s = {.A = x->shape[0], .C = x->shape[1], .B = x->shape[2], .f64 = x->dtype == BT_F64,
            .log = log, .x = bt_data(x), .y = bt_data(y)};
  if (s.C == 0) return 0;
  if (s.B == 1) return bt_parallel_for(s.A, grain_for(s.C), softmax_rows, &s);
  int64_t nb = (s.B + SOFT_BCHUNK - 1) / SOFT_BCHUNK;
  return bt_parallel_for(s.A * nb, grain_for(s.C * BT_MIN(s.B, SOFT_BCHUNK)), softmax_columns, &s);
}

/* softmax: gx = y (g - sum g y); log_softmax: gx = g - e^y sum g. B == 1. */
ROW_KERNEL static void softmax_backward_rows(void *ctx, int64_t r0, int64_t r1) {
  Soft *s = ctx;
  int64_t C = s->C;
  TYPED(s->f64, T, {
    for (int64_t r = r0; r < r1; r++) {
      const T *g = (const T *)s->g + r * C, *y = (const T *)s->x + r * C;
      T *gx = (T *)s->y + r * C;
      double a0 = 0, a1 = 0;
      int64_t i = 0;
      if (s->log) {
        for (; i + 2 <= C; i += 2) { a0 += g[i]; a1 += g[i + 1]; }
        for (; i < C; i++) a0 += g[i];
        T sum = (T)(a0 + a1);
        for (i = 0; i < C; i++) gx[i] = g[i] - (T)exp_any(y[i], s->f64) * sum;
      } else {
        for (; i + 2 <= C; i += 2) { a0 += g[i] * y[i]; a1 += g[i + 1] * y[i + 1]; }
        for (; i < C; i++) a0 += g[i] * y[i];
        T sum = (T)(a0 + a1);
        for (i = 0; i < C; i++) gx[i] = y[i] * (g[i] - sum);
      }
    }
  });
}

ROW_KERNEL static void softmax_backward_columns(void *ctx, int64_t t0, int64_t t1) {
  Soft *s = ctx;
  int64_t C = s->C, B = s->B, nb = (B + SOFT_BCHUNK - 1) / SOFT_BCHUNK;
  double sum[SOFT_BCHUNK];
  for (int64_t t = t0; t < t1; t++) {
    int64_t a = t / nb, b0 = (t % nb) * SOFT_BCHUNK, nbk = BT_MIN(SOFT_BCHUNK, B - b0);
    TYPED(s->f64, T, {
      const T *g = (const T *)s->g + a * C * B + b0, *y = (const T *)s->x + a * C * B + b0;
      T *gx = (T *)s->y + a * C * B + b0;
      for (int64_t j = 0; j < nbk; j++) sum[j] = 0;
      for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nbk; j++)
          sum[j] += s->log ? g[c * B + j] : g[c * B + j] * (double)y[c * B + j];
      for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < nbk; j++) {
          int64_t k = c * B + j;
          gx[k] = s->log ? (T)(g[k] - exp_any(y[k], s->f64) * sum[j]) : (T)(y[k] * (g[k] - sum[j]));
        }
    });
  }
}

int bt_cpu_softmax_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *y, bool log) {
  Soft s = {.A = y->shape[0], .C = y->shape[1], .B = y->shape[2], .f64 = y->dtype == BT_F64,
            .log = log, .x = bt_data(y), .g = bt_data(g), .y = bt_data(gx)};
  if (s.C == 0) return 0;
  if (s.B == 1) return bt_parallel_for(s.A, grain_for(s.C), softmax_backward_rows, &s);
  int64_t nb = (s.B + SOFT_BCHUNK - 1) / SOFT_BCHUNK;
  return bt_parallel_for(s.A * nb, grain_for(s.C * BT_MIN(s.B, SOFT_BCHUNK)),
                         softmax_backward_columns, &s);
}

/* ---- class losses: cross-entropy and NLL ------------------------------------------------------ */

typedef struct {
  int64_t R, C;
  bool f64, logp;
  const void *x, *w, *scale;
  const char *target;
  bool t32;
  int64_t ignore;
  double smoothing, wsum;        /* wsum: the sum of the class weights (C without) */
  void *loss, *lse, *gx;
  bool scale_all;                /* one scale for every row */
  int64_t rows_per_block;
  double *partial;               /* per block: loss sum, weight sum */
  int bad;
  int64_t bad_value;
} Cls;

ROW_HELPER int64_t target_at(const Cls *k, int64_t r) {
  return k->t32 ? ((const int32_t *)k->target)[r] : ((const int64_t *)k->target)[r];
}

ROW_HELPER double class_weight(const Cls *k, int64_t c) {
  if (!k->w) return 1;
  return k->f64 ? ((const double *)k->w)[c] : ((const float *)k->w)[c];
}

/* The row's loss; *lse gets its logsumexp (CE). */
ROW_HELPER double row_loss(const Cls *k, const void *row, int64_t t, double wt, double *lse) {
  int64_t C = k->C;
  double xt = k->f64 ? ((const double *)row)[t] : ((const float *)row)[t];
  if (k->logp) return -wt * xt;
  double l = row_lse(row, C, k->f64);
  *lse = l;
  double loss = (1 - k->smoothing) * wt * (l - xt);
  if (k->smoothing > 0) {
    double s = 0;
    TYPED(k->f64, T, {
      const T *x = row;
      if (k->w) for (int64_t c = 0; c < C; c++) s += class_weight(k, c) * x[c];
      else for (int64_t c = 0; c < C; c++) s += x[c];
    });
    loss += k->smoothing / (double)C * (l * k->wsum - s);
  }
  return loss;
}

ROW_KERNEL static void class_loss_blocks(void *ctx, int64_t j0, int64_t j1) {
  Cls *k = ctx;
  int64_t es = k->f64 ? 8 : 4;
  for (int64_t j = j0; j < j1; j++) {
    double sl = 0, sw = 0;
    int64_t r1 = BT_MIN(k->R, (j + 1) * k->rows_per_block);
    for (int64_t r = j * k->rows_per_block; r < r1; r++) {
      int64_t t = target_at(k, r);
      double loss = 0, lse = 0;
      if (t != k->ignore) {
        if (t < 0 || t >= k->C) {
          if (__atomic_exchange_n(&k->bad, 1, __ATOMIC_ACQ_REL) == 0) k->bad_value = t;
        } else {
          double wt = class_weight(k, t);
          loss = row_loss(k, (const char *)k->x + r * k->C * es, t, wt, &lse);
          sl += loss;
          sw += wt;
        }
      }
      TYPED(k->f64, T, {
        if (k->loss) ((T *)k->loss)[r] = (T)loss;
        if (k->lse) ((T *)k->lse)[r] = (T)lse;
      });
    }
    k->partial[2 * j] = sl;
    k->partial[2 * j + 1] = sw;
  }
}

static int bad_target_error(const char *op, int64_t v, int64_t C) {
  long long id = (long long)v + 1, nc = (long long)C;
  if (id == 0)
    return bt_seterr("%s: targets are 1-based class ids 1..%lld; got 0: did you pass 0-based "
                     "labels?", op, nc);
  return bt_seterr("%s: targets are 1-based class ids 1..%lld; got %lld", op, nc, id);
}

static void cls_init(Cls *k, const bt_Tensor *x, const bt_Tensor *target, const bt_Tensor *weight,
                     int64_t ignore_index, double smoothing, bool logp) {
  *k = (Cls){.R = x->shape[0], .C = x->shape[1], .f64 = x->dtype == BT_F64, .logp = logp,
             .x = bt_data(x), .w = weight ? bt_data(weight) : NULL, .target = bt_data(target),
             .t32 = target->dtype == BT_I32, .ignore = ignore_index, .smoothing = smoothing};
  k->wsum = weight ? 0 : (double)k->C;
  for (int64_t c = 0; weight && c < k->C; c++) k->wsum += class_weight(k, c);
}

int bt_cpu_class_loss(bt_Tensor *loss, bt_Tensor *lse, double *totals, const bt_Tensor *x,
                      const bt_Tensor *target, const bt_Tensor *weight, int64_t ignore_index,
                      double smoothing, bool logp) {
  const char *op = logp ? "nll_loss" : "cross_entropy";
  Cls k;
  cls_init(&k, x, target, weight, ignore_index, smoothing, logp);
  k.loss = loss ? bt_data(loss) : NULL;
  k.lse = lse ? bt_data(lse) : NULL;
  k.rows_per_block = grain_for(k.C);
  int64_t nblocks = (k.R + k.rows_per_block - 1) / k.rows_per_block;
  int64_t nbytes = BT_MAX(nblocks, 1) * 2 * (int64_t)sizeof(double);
  if (!(k.partial = bt_alloc(op, nbytes, BT_CPU))) return -1;
  int rc = bt_parallel_for(nblocks, 1, class_loss_blocks, &k);
  totals[0] = totals[1] = 0;
  for (int64_t j = 0; j < nblocks; j++) {
    totals[0] += k.partial[2 * j];
    totals[1] += k.partial[2 * j + 1];
  }
  bt_free(k.partial, nbytes, BT_CPU);
  if (rc == 0 && k.bad) rc = bad_target_error(op, k.bad_value, k.C);
  return rc;
}

/* gx of one row at scale s: CE: s (a p - b_c) - [c = t] s (1 - eps) w_t with
** p = e^(x - lse), a = (1 - eps) w_t + eps/C sum(w), b_c = eps/C w_c;
** NLL: -s w_t at t, 0 elsewhere. */
ROW_KERNEL static void class_loss_backward_rows(void *ctx, int64_t r0, int64_t r1) {
  Cls *k = ctx;
  int64_t C = k->C;
  double e = k->smoothing / (double)C;
  TYPED(k->f64, T, {
    for (int64_t r = r0; r < r1; r++) {
      T *gx = (T *)k->gx + r * C;
      const T *x = (const T *)k->x + r * C;
      int64_t t = target_at(k, r);
      if (t == k->ignore || t < 0 || t >= C) {
        for (int64_t c = 0; c < C; c++) gx[c] = 0;
        continue;
      }
      double s = ((const T *)k->scale)[k->scale_all ? 0 : r], wt = class_weight(k, t);
      if (k->logp) {
        for (int64_t c = 0; c < C; c++) gx[c] = 0;
        gx[t] = (T)(-s * wt);
        continue;
      }
      T lse = ((const T *)k->lse)[r];
      T a = (T)(s * ((1 - e * C) * wt + e * k->wsum));
      if (k->f64) {
        for (int64_t c = 0; c < C; c++) gx[c] = (T)(a * exp((double)(x[c] - lse)));
      } else {
        for (int64_t c = 0; c < C; c++) gx[c] = (T)(a * exp_f32((float)(x[c] - lse)));
      }
      if (e > 0) for (int64_t c = 0; c < C; c++) gx[c] -= (T)(s * e * class_weight(k, c));
      gx[t] -= (T)(s * (1 - e * C) * wt);
    }
  });
}

int bt_cpu_class_loss_backward(bt_Tensor *gx, const bt_Tensor *scale, const bt_Tensor *x,
                               const bt_Tensor *lse, const bt_Tensor *target,
                               const bt_Tensor *weight, int64_t ignore_index, double smoothing,
                               bool logp) {
  Cls k;
  cls_init(&k, x, target, weight, ignore_index, smoothing, logp);
  k.lse = lse ? bt_data((bt_Tensor *)lse) : NULL;
  k.gx = bt_data(gx);
  k.scale = bt_data(scale);
  k.scale_all = scale->ndim == 0;
  return bt_parallel_for(k.R, grain_for(k.C), class_loss_backward_rows, &k);
}
