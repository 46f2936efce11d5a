/*
** cpu/norm.c: batch and layer normalisation (forward, and the closed-form
** backward), dropout and embedding lookup.
**
** Tensors arrive contiguous and of one float dtype, f32 or f64 (the ops in
** core/ops/nn_norm.c see to it). Sums accumulate in double. A sum that
** crosses tasks is split into blocks whose size depends only on the shapes;
** the blocks' partial sums are combined in order, so results are the same
** on any number of threads.
*/
#include "kernels.h"

#include <stdio.h>

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

/* The hot loops are compiled three times on x86-64 Linux (AVX-512, AVX2 and
** the baseline) and the loader picks the best the CPU has; their helpers
** are inlined into each copy. */
#define ROW_KERNEL BT_TARGET_CLONES
#define ROW_HELPER static inline __attribute__((always_inline))

/* Work per task: about this many elements. */
#define GRAIN_ELEMS 16384

static int64_t grain_for(int64_t per_item) {
  return BT_MAX(1, GRAIN_ELEMS / BT_MAX(per_item, 1));
}

/* Scratch memory counted like tensors; NULL and a message on failure. */
static double *scratch(const char *op, int64_t n) {
  return bt_alloc(op, BT_MAX(n, 1) * (int64_t)sizeof(double), BT_CPU);
}

static void scratch_free(double *p, int64_t n) {
  if (p) bt_free(p, BT_MAX(n, 1) * (int64_t)sizeof(double), BT_CPU);
}

/* A [C] tensor (contiguous, f32 or f64) into doubles, or 1/0 when absent. */
static void load_vec(double *dst, const bt_Tensor *t, int64_t n, double absent) {
  if (!t) {
    for (int64_t i = 0; i < n; i++) dst[i] = absent;
    return;
  }
  const void *p = bt_data(t);
  if (t->dtype == BT_F64) memcpy(dst, p, (size_t)n * sizeof(double));
  else for (int64_t i = 0; i < n; i++) dst[i] = ((const float *)p)[i];
}

static void store_vec(bt_Tensor *t, const double *src, int64_t n) {
  if (!t) return;
  void *p = bt_data(t);
  if (t->dtype == BT_F64) memcpy(p, src, (size_t)n * sizeof(double));
  else for (int64_t i = 0; i < n; i++) ((float *)p)[i] = (float)src[i];
}

/* ---- run sums ------------------------------------------------------------------------- */

/* Sums over a contiguous run, in lanes of the data's type that the compiler
** vectorises, flushed into double every RUN_CHUNK elements (so float lanes
** never add up more than RUN_CHUNK / LANES values). */
#define LANES 8
#define RUN_CHUNK 1024

#define DEFINE_MOMENTS(T, SUF)                                                          \
  /* s1 += sum (p - k), s2 += sum (p - k)^2 */                                           \
  ROW_HELPER void moments_##SUF(const T *p, int64_t n, T k, double *s1, double *s2) {        \
    double A = 0, Q = 0;                                                                 \
    for (int64_t c0 = 0; c0 < n; c0 += RUN_CHUNK) {                                      \
      int64_t c1 = BT_MIN(n, c0 + RUN_CHUNK), i = c0;                                    \
      T a[LANES] = {0}, q[LANES] = {0};                                                  \
      for (; i + LANES <= c1; i += LANES)                                                \
        for (int j = 0; j < LANES; j++) {                                                \
          T d = p[i + j] - k;                                                            \
          a[j] += d;                                                                     \
          q[j] += d * d;                                                                 \
        }                                                                                \
      for (; i < c1; i++) {                                                              \
        double d = (double)p[i] - (double)k;                                             \
        A += d;                                                                          \
        Q += d * d;                                                                      \
      }                                                                                  \
      for (int j = 0; j < LANES; j++) {                                                  \
        A += a[j];                                                                       \
        Q += q[j];                                                                       \
      }                                                                                  \
    }                                                                                    \
    *s1 += A;                                                                            \
    *s2 += Q;                                                                            \
  }                                                                                      \
  /* s1 += sum g, s2 += sum g (x - m) */                                                 \
  ROW_HELPER void gmoments_##SUF(const T *g, const T *x, int64_t n, T m, double *s1,         \
                             double *s2) {                                               \
    double A = 0, Q = 0;                                                                 \
    for (int64_t c0 = 0; c0 < n; c0 += RUN_CHUNK) {                                      \
      int64_t c1 = BT_MIN(n, c0 + RUN_CHUNK), i = c0;                                    \
      T a[LANES] = {0}, q[LANES] = {0};                                                  \
      for (; i + LANES <= c1; i += LANES)                                                \
        for (int j = 0; j < LANES; j++) {                                                \
          a[j] += g[i + j];                                                              \
          q[j] += g[i + j] * (x[i + j] - m);                                             \
        }                                                                                \
      for (; i < c1; i++) {                                                              \
        A += g[i];                                                                       \
        Q += (double)g[i] * ((double)x[i] - (double)m);                                  \
      }                                                                                  \
      for (int j = 0; j < LANES; j++) {                                                  \
        A += a[j];                                                                       \
        Q += q[j];                                                                       \
      }                                                                                  \
    }                                                                                    \
    *s1 += A;                                                                            \
    *s2 += Q;                                                                            \
  }

DEFINE_MOMENTS(float, f32)
DEFINE_MOMENTS(double, f64)

#define MOMENTS(p, n, k, s1, s2) \
  _Generic((p), const float *: moments_f32, const double *: moments_f64)(p, n, k, s1, s2)
#define GMOMENTS(g, x, n, m, s1, s2) \
  _Generic((g), const float *: gmoments_f32, const double *: gmoments_f64)(g, x, n, m, s1, s2)

/* ---- batch norm ------------------------------------------------------------------------ */

/* Channels with runs at least this long are reduced one channel per task;
** shorter runs (N x C input: runs of 1) in blocks of rows, all channels at
** once. */
#define BN_LONG_RUN 32

typedef struct {
  int64_t N, C, S;
  bool f64;
  const void *x, *g;       /* g: the backward's incoming gradient */
  void *y;                 /* forward output or gx */
  const double *center;    /* per channel: the value subtracted before summing */
  double *s1, *s2;         /* per channel sums */
  double *partial;         /* per block: [2][C] sums (block mode) */
  int64_t rows_per_block, nblocks;
  const double *a, *b, *k; /* per channel: y = (x - center) a + b; gx = g a + (x - center) b + k */
} BN;

/* Forward sums of (x - center), or backward sums of g and g (x - center),
** over whole channels [c0, c1). */
ROW_KERNEL static void bn_sums_channels(void *ctx, int64_t c0, int64_t c1) {
  BN *w = ctx;
  int64_t N = w->N, C = w->C, S = w->S;
  for (int64_t c = c0; c < c1; c++) {
    double s1 = 0, s2 = 0;
    TYPED(w->f64, T, {
      T k = (T)w->center[c];
      for (int64_t n = 0; n < N; n++) {
        const T *x = (const T *)w->x + (n * C + c) * S;
        if (w->g) GMOMENTS((const T *)w->g + (n * C + c) * S, x, S, k, &s1, &s2);
        else MOMENTS(x, S, k, &s1, &s2);
      }
    });
    w->s1[c] = s1;
    w->s2[c] = s2;
  }
}

/* The same over blocks of rows: block j fills partial[j][0..C) and [C..2C). */
ROW_KERNEL static void bn_sums_blocks(void *ctx, int64_t j0, int64_t j1) {
  BN *w = ctx;
  int64_t C = w->C, S = w->S;
  for (int64_t j = j0; j < j1; j++) {
    double *s1 = w->partial + j * 2 * C, *s2 = s1 + C;
    for (int64_t c = 0; c < 2 * C; c++) s1[c] = 0;
    int64_t n1 = BT_MIN(w->N, (j + 1) * w->rows_per_block);
    TYPED(w->f64, T, {
      for (int64_t n = j * w->rows_per_block; n < n1; n++) {
        const T *x = (const T *)w->x + n * C * S, *g = w->g ? (const T *)w->g + n * C * S : NULL;
        if (S == 1 && g) {
          for (int64_t c = 0; c < C; c++) {
            double d = (double)x[c] - w->center[c];
            s1[c] += g[c];
            s2[c] += g[c] * d;
          }
        } else if (S == 1) {
          for (int64_t c = 0; c < C; c++) {
            double d = (double)x[c] - w->center[c];
            s1[c] += d;
            s2[c] += d * d;
          }
        } else {
          for (int64_t c = 0; c < C; c++) {
            T k = (T)w->center[c];
            if (g) GMOMENTS(g + c * S, x + c * S, S, k, &s1[c], &s2[c]);
            else MOMENTS(x + c * S, S, k, &s1[c], &s2[c]);
          }
        }
      }
    });
  }
}

/* Per-channel sums of the forward (g NULL) or the backward into s1, s2:
** channel tasks for long runs, else row blocks combined in order. */
static int bn_sums(BN *w, const char *op) {
  if (w->S >= BN_LONG_RUN || w->N == 1) return bt_parallel_for(w->C, 1, bn_sums_channels, w);
  w->rows_per_block = BT_MAX(1, grain_for(w->C * w->S));
  w->nblocks = (w->N + w->rows_per_block - 1) / w->rows_per_block;
  int64_t n = w->nblocks * 2 * w->C;
  if (!(w->partial = scratch(op, n))) return -1;
  int rc = bt_parallel_for(w->nblocks, 1, bn_sums_blocks, w);
  for (int64_t c = 0; c < w->C; c++) {
    double a = 0, q = 0;
    for (int64_t j = 0; j < w->nblocks; j++) {
      a += w->partial[j * 2 * w->C + c];
      q += w->partial[j * 2 * w->C + w->C + c];
    }
    w->s1[c] = a;
    w->s2[c] = q;
  }
  scratch_free(w->partial, n);
  w->partial = NULL;
  return rc;
}

/* y = (x - mean) a + b for rows n in [n0, n1), in the data's type. */
ROW_KERNEL static void bn_apply(void *ctx, int64_t n0, int64_t n1) {
  BN *w = ctx;
  int64_t C = w->C, S = w->S;
  TYPED(w->f64, T, {
    for (int64_t n = n0; n < n1; n++) {
      const T *x = (const T *)w->x + n * C * S;
      T *y = (T *)w->y + n * C * S;
      for (int64_t c = 0; c < C; c++) {
        T m = (T)w->center[c], a = (T)w->a[c], b = (T)w->b[c];
        const T *xp = x + c * S;
        T *yp = y + c * S;
        for (int64_t i = 0; i < S; i++) yp[i] = (xp[i] - m) * a + b;
      }
    }
  });
}

/* gx = g a + (x - mean) b + k for rows n in [n0, n1). */
ROW_KERNEL static void bn_apply_backward(void *ctx, int64_t n0, int64_t n1) {
  BN *w = ctx;
  int64_t C = w->C, S = w->S;
  TYPED(w->f64, T, {
    for (int64_t n = n0; n < n1; n++) {
      const T *x = (const T *)w->x + n * C * S, *g = (const T *)w->g + n * C * S;
      T *y = (T *)w->y + n * C * S;
      for (int64_t c = 0; c < C; c++) {
        T m = (T)w->center[c], a = (T)w->a[c], b = (T)w->b[c], k = (T)w->k[c];
        const T *xp = x + c * S, *gp = g + c * S;
        T *yp = y + c * S;
        if (b == 0 && k == 0) for (int64_t i = 0; i < S; i++) yp[i] = gp[i] * a;
        else for (int64_t i = 0; i < S; i++) yp[i] = gp[i] * a + (xp[i] - m) * b + k;
      }
    }
  });
}

/* Batch statistics (training) or the running ones, into mean and invstd. */
static int bn_statistics(BN *w, double *mean, double *invstd, bt_Tensor *running_mean,
                         bt_Tensor *running_var, bool training, double momentum, double eps) {
  int64_t C = w->C, M = w->N * w->S;
  if (!training) {
    load_vec(mean, running_mean, C, 0);
    load_vec(invstd, running_var, C, 1);
    for (int64_t c = 0; c < C; c++) invstd[c] = 1 / sqrt(invstd[c] + eps);
    return 0;
  }
  double *center = mean;   /* the first value of each channel: sums stay small */
  TYPED(w->f64, T, {
    for (int64_t c = 0; c < C; c++) center[c] = ((const T *)w->x)[c * w->S];
  });
  w->center = center;
  if (bn_sums(w, "batch_norm") < 0) return -1;
  double *rm = running_mean ? scratch("batch_norm", 2 * C) : NULL, *rv = rm ? rm + C : NULL;
  if (running_mean && !rm) return -1;
  if (rm) {
    load_vec(rm, running_mean, C, 0);
    load_vec(rv, running_var, C, 1);
  }
  for (int64_t c = 0; c < C; c++) {
    double d = w->s1[c] / (double)M, var = w->s2[c] / (double)M - d * d;
    if (var < 0) var = 0;
    mean[c] = center[c] + d;
    invstd[c] = 1 / sqrt(var + eps);
    if (rm) {
      rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
      rv[c] = (1 - momentum) * rv[c] + momentum * var * (double)M / (double)(M - 1);
    }
  }
  if (rm) {
    store_vec(running_mean, rm, C);
    store_vec(running_var, rv, C);
    scratch_free(rm, 2 * C);
  }
  return 0;
}

int bt_cpu_batch_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                      const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                      bt_Tensor *running_var, bool training, double momentum, double eps) {
  int64_t C = x->shape[1];
  double *buf = scratch("batch_norm", 6 * C);
  if (!buf) return -1;
  BN w = {.N = x->shape[0], .C = C, .S = x->shape[2], .f64 = x->dtype == BT_F64,
          .x = bt_data(x), .y = bt_data(y), .s1 = buf + 4 * C, .s2 = buf + 5 * C};
  double *m = buf, *is = buf + C, *a = buf + 2 * C, *b = buf + 3 * C;
  int rc = -1;
  if (bn_statistics(&w, m, is, running_mean, running_var, training, momentum, eps) == 0) {
    load_vec(a, weight, C, 1);
    load_vec(b, bias, C, 0);
    for (int64_t c = 0; c < C; c++) a[c] *= is[c];
    store_vec(mean, m, C);
    store_vec(invstd, is, C);
    w.center = m;
    w.a = a;
    w.b = b;
    rc = bt_parallel_for(w.N, grain_for(C * w.S), bn_apply, &w);
  }
  scratch_free(buf, 6 * C);
  return rc;
}

/* With xhat = (x - mean) invstd and M = N S values per channel:
**   gb = sum g, gw = sum g xhat,
**   training: gx = w invstd (g - gb / M - xhat gw / M),
**   otherwise gx = w invstd g. */
int bt_cpu_batch_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                               const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                               const bt_Tensor *invstd, bool training, double eps) {
  int64_t C = x->shape[1];
  double *buf = scratch("batch_norm_backward", 7 * C);
  if (!buf) return -1;
  double *m = buf, *is = buf + C, *a = buf + 2 * C, *b = buf + 3 * C, *k = buf + 4 * C;
  BN w = {.N = x->shape[0], .C = C, .S = x->shape[2], .f64 = x->dtype == BT_F64,
          .x = bt_data(x), .g = bt_data(g), .center = m, .s1 = buf + 5 * C, .s2 = buf + 6 * C};
  double M = (double)(w.N * w.S);
  load_vec(m, mean, C, 0);
  load_vec(is, invstd, C, 1);
  int rc = 0;
  if (training || gw || gb) rc = bn_sums(&w, "batch_norm_backward");
  if (rc == 0 && gx) {
    load_vec(a, weight, C, 1);
    for (int64_t c = 0; c < C; c++) {
      a[c] *= is[c];   /* w invstd */
      b[c] = training ? -a[c] * is[c] * is[c] * w.s2[c] / M : 0;
      k[c] = training ? -a[c] * w.s1[c] / M : 0;
    }
    w.y = bt_data(gx);
    w.a = a;
    w.b = b;
    w.k = k;
    rc = bt_parallel_for(w.N, grain_for(C * w.S), bn_apply_backward, &w);
  }
  if (rc == 0) {
    for (int64_t c = 0; c < C; c++) a[c] = w.s2[c] * is[c];
    store_vec(gw, a, C);
    store_vec(gb, w.s1, C);
  }
  scratch_free(buf, 7 * C);
  return rc;
}

/* ---- layer norm ------------------------------------------------------------------------- */

typedef struct {
  int64_t M, K;
  bool f64;
  const void *x, *g, *w, *b;
  void *y;
  void *mean, *invstd;          /* [M] of x's dtype */
  double eps;
  double *partial;              /* per block: [2][K] (gw, gb) */
  int64_t rows_per_block;
} LN;

/* Rows [r0, r1): mean and variance about the row's first value, then
** y = (x - mean) invstd w + b. */
ROW_KERNEL static void ln_forward_rows(void *ctx, int64_t r0, int64_t r1) {
  LN *L = ctx;
  int64_t K = L->K;
  TYPED(L->f64, T, {
    const T *wt = L->w, *bs = L->b;
    for (int64_t r = r0; r < r1; r++) {
      const T *x = (const T *)L->x + r * K;
      T *y = (T *)L->y + r * K;
      double s1 = 0, s2 = 0;
      T k = K ? x[0] : 0;
      MOMENTS(x, K, k, &s1, &s2);
      double d = s1 / (double)K, var = s2 / (double)K - d * d;
      double mean = k + d, is = 1 / sqrt((var > 0 ? var : 0) + L->eps);
      ((T *)L->mean)[r] = (T)mean;
      ((T *)L->invstd)[r] = (T)is;
      T m = (T)mean, s = (T)is;
      if (wt && bs) for (int64_t i = 0; i < K; i++) y[i] = (x[i] - m) * s * wt[i] + bs[i];
      else if (wt) for (int64_t i = 0; i < K; i++) y[i] = (x[i] - m) * s * wt[i];
      else if (bs) for (int64_t i = 0; i < K; i++) y[i] = (x[i] - m) * s + bs[i];
      else for (int64_t i = 0; i < K; i++) y[i] = (x[i] - m) * s;
    }
  });
}

int bt_cpu_layer_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                      const bt_Tensor *weight, const bt_Tensor *bias, double eps) {
  LN L = {.M = x->shape[0], .K = x->shape[1], .f64 = x->dtype == BT_F64, .x = bt_data(x),
          .w = weight ? bt_data(weight) : NULL, .b = bias ? bt_data(bias) : NULL,
          .y = bt_data(y), .mean = bt_data(mean), .invstd = bt_data(invstd), .eps = eps};
  return bt_parallel_for(L.M, grain_for(L.K), ln_forward_rows, &L);
}

/* Rows of one block: gx for each row (when y is set) and the block's
** partial sums of g xhat (gw) and g (gb). With gh = g w:
**   gx = invstd (gh - mean(gh) - xhat mean(gh xhat)). */
ROW_KERNEL static void ln_backward_blocks(void *ctx, int64_t j0, int64_t j1) {
  LN *L = ctx;
  int64_t K = L->K;
  for (int64_t j = j0; j < j1; j++) {
    double *pw = L->partial ? L->partial + j * 2 * K : NULL, *pb = pw ? pw + K : NULL;
    if (pw) for (int64_t i = 0; i < 2 * K; i++) pw[i] = 0;
    int64_t r1 = BT_MIN(L->M, (j + 1) * L->rows_per_block);
    TYPED(L->f64, T, {
      const T *wt = L->w;
      T *gh = NULL;
      for (int64_t r = j * L->rows_per_block; r < r1; r++) {
        const T *x = (const T *)L->x + r * K, *g = (const T *)L->g + r * K;
        T mean = ((const T *)L->mean)[r], is = ((const T *)L->invstd)[r];
        if (pw)
          for (int64_t i = 0; i < K; i++) {
            pw[i] += (double)g[i] * (double)((x[i] - mean) * is);
            pb[i] += g[i];
          }
        if (!L->y) continue;
        T *gx = (T *)L->y + r * K;
        /* gh = g w, kept in gx until gx is written */
        gh = wt ? gx : (T *)g;
        if (wt) for (int64_t i = 0; i < K; i++) gh[i] = g[i] * wt[i];
        double a = 0, b = 0;
        GMOMENTS((const T *)gh, x, K, mean, &a, &b);
        T am = (T)(a / (double)K), bm = (T)(b * (double)is / (double)K);
        for (int64_t i = 0; i < K; i++) {
          T xh = (x[i] - mean) * is;
          gx[i] = is * (gh[i] - am - xh * bm);
        }
      }
    });
  }
}
int bt_cpu_layer_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                               const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                               const bt_Tensor *invstd) {
  LN L = {.M = x->shape[0], .K = x->shape[1], .f64 = x->dtype == BT_F64, .x = bt_data(x),
          .g = bt_data(g), .w = weight ? bt_data(weight) : NULL, .y = gx ? bt_data(gx) : NULL,
          .mean = bt_data((bt_Tensor *)mean), .invstd = bt_data((bt_Tensor *)invstd)};
  /* Blocks of rows: at most 64 of them, each at least grain-sized. */
  L.rows_per_block = BT_MAX(grain_for(L.K), (L.M + 63) / 64);
  int64_t nblocks = (L.M + L.rows_per_block - 1) / L.rows_per_block, n = nblocks * 2 * L.K;
  bool sums = gw || gb;
  if (sums && !(L.partial = scratch("layer_norm_backward", n))) return -1;
  int rc = bt_parallel_for(nblocks, 1, ln_backward_blocks, &L);
  if (rc == 0 && sums) {
    double *tot = scratch("layer_norm_backward", 2 * L.K);
    if (!tot) rc = -1;
    for (int64_t i = 0; tot && i < 2 * L.K; i++) {
      double s = 0;
      for (int64_t j = 0; j < nblocks; j++) s += L.partial[j * 2 * L.K + i];
      tot[i] = s;
    }
    if (tot) {
      store_vec(gw, tot, L.K);
      store_vec(gb, tot + L.K, L.K);
    }
    scratch_free(tot, 2 * L.K);
  }
  if (sums) scratch_free(L.partial, n);
  return rc;
}

/* ---- dropout ------------------------------------------------------------------------------ */

typedef struct {
  int64_t n;
  bool f64;
  const void *x;
  void *y;
  bool *mask;
  const bool *cmask;
  uint64_t seed, counter, threshold;   /* kept when a 32-bit draw >= threshold */
  double scale;
} Drop;

/* Element i uses word i % 4 of Philox block counter + i / 4: the mask is a
** function of (seed, counter, i) alone. Tasks are groups of 4 elements. */
ROW_KERNEL static void dropout_groups(void *ctx, int64_t q0, int64_t q1) {
  Drop *d = ctx;
  TYPED(d->f64, T, {
    const T *x = d->x;
    T *y = d->y;
    for (int64_t q = q0; q < q1; q++) {
      uint32_t r[4];
      bt_philox(d->seed, d->counter + (uint64_t)q, r);
      int64_t i0 = 4 * q, i1 = BT_MIN(i0 + 4, d->n);
      for (int64_t i = i0; i < i1; i++) {
        bool keep = (uint64_t)r[i - i0] >= d->threshold;
        d->mask[i] = keep;
        y[i] = keep ? (T)(x[i] * d->scale) : (T)0;
      }
    }
  });
}

int bt_cpu_dropout(bt_Tensor *y, bt_Tensor *mask, const bt_Tensor *x, double p, uint64_t seed,
                   uint64_t counter) {
  Drop d = {.n = bt_numel(x), .f64 = x->dtype == BT_F64, .x = bt_data(x), .y = bt_data(y),
            .mask = bt_data(mask), .seed = seed, .counter = counter,
            .threshold = (uint64_t)llround(p * 4294967296.0), .scale = p < 1 ? 1 / (1 - p) : 0};
  return bt_parallel_for((d.n + 3) / 4, GRAIN_ELEMS / 4, dropout_groups, &d);
}

ROW_KERNEL static void dropout_backward_range(void *ctx, int64_t i0, int64_t i1) {
  Drop *d = ctx;
  TYPED(d->f64, T, {
    const T *g = d->x;
    T *gx = d->y;
    T s = (T)d->scale;
    for (int64_t i = i0; i < i1; i++) gx[i] = d->cmask[i] ? g[i] * s : (T)0;
  });
}

int bt_cpu_dropout_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *mask, double scale) {
  Drop d = {.n = bt_numel(g), .f64 = g->dtype == BT_F64, .x = bt_data(g), .y = bt_data(gx),
            .cmask = bt_data(mask), .scale = scale};
  return bt_parallel_for(d.n, GRAIN_ELEMS, dropout_backward_range, &d);
}

/* ---- embedding ------------------------------------------------------------------------------ */

typedef struct {
  int64_t n, V, D, es;
  const char *ids;
  bool ids32;
  const char *w;
  char *out;
  int bad;
  int64_t bad_value;
  /* backward */
  const int64_t *start, *pos;
  bool f64;
} Emb;

static inline int64_t id_at(const Emb *e, int64_t i) {
  return e->ids32 ? ((const int32_t *)e->ids)[i] : ((const int64_t *)e->ids)[i];
}

static void note_bad_id(Emb *e, int64_t v) {
  if (__atomic_exchange_n(&e->bad, 1, __ATOMIC_ACQ_REL) == 0) e->bad_value = v;
}

static int bad_id_error(const Emb *e) {
  return bt_seterr("embedding: id %lld is out of range for %lld embeddings (ids are 1..%lld, "
                   "and 0 for padding)", (long long)e->bad_value + 1, (long long)e->V,
                   (long long)e->V);
}

static void embedding_rows(void *ctx, int64_t i0, int64_t i1) {
  Emb *e = ctx;
  size_t row = (size_t)(e->D * e->es);
  for (int64_t i = i0; i < i1; i++) {
    int64_t v = id_at(e, i);
    char *dst = e->out + i * (int64_t)row;
    if (v == -1) {
      memset(dst, 0, row);
    } else if (v < 0 || v >= e->V) {
      note_bad_id(e, v);
      memset(dst, 0, row);
    } else {
      memcpy(dst, e->w + v * (int64_t)row, row);
    }
  }
}

int bt_cpu_embedding(bt_Tensor *out, const bt_Tensor *ids, const bt_Tensor *weight) {
  Emb e = {.n = bt_numel(ids), .V = weight->shape[0], .D = weight->shape[1],
           .es = (int64_t)bt_dtype_size(weight->dtype), .ids = bt_data(ids),
           .ids32 = ids->dtype == BT_I32, .w = bt_data(weight), .out = bt_data(out)};
  if (bt_parallel_for(e.n, grain_for(e.D), embedding_rows, &e) < 0) return -1;
  return e.bad ? bad_id_error(&e) : 0;
}

/* gw row v = the sum of g's rows whose id is v, in increasing position. */
ROW_KERNEL static void embedding_grad_rows(void *ctx, int64_t v0, int64_t v1) {
  Emb *e = ctx;
  int64_t D = e->D;
  TYPED(e->f64, T, {
    const T *g = (const T *)e->w;
    T *gw = (T *)e->out;
    for (int64_t v = v0; v < v1; v++) {
      T *dst = gw + v * D;
      for (int64_t k = 0; k < D; k++) dst[k] = 0;
      for (int64_t p = e->start[v]; p < e->start[v + 1]; p++) {
        const T *src = g + e->pos[p] * D;
        for (int64_t k = 0; k < D; k++) dst[k] += src[k];
      }
    }
  });
}

/* A counting sort of the positions by id, then one task per block of rows
** of gw: no two tasks write one row, and sums run in a fixed order. */
int bt_cpu_embedding_backward(bt_Tensor *gw, const bt_Tensor *g, const bt_Tensor *ids,
                              int64_t padding_idx) {
  const char *op = "embedding_backward";
  Emb e = {.n = bt_numel(ids), .V = gw->shape[0], .D = gw->shape[1], .ids = bt_data(ids),
           .ids32 = ids->dtype == BT_I32, .w = bt_data(g), .out = bt_data(gw),
           .f64 = g->dtype == BT_F64};
  int64_t nbytes = (e.V + 1 + e.n) * (int64_t)sizeof(int64_t);
  int64_t *start = bt_alloc(op, nbytes, BT_CPU);
  if (!start) return -1;
  int64_t *pos = start + e.V + 1;
  memset(start, 0, (size_t)(e.V + 1) * sizeof *start);
  for (int64_t i = 0; i < e.n; i++) {
    int64_t v = id_at(&e, i);
    if (v < -1 || v >= e.V) {
      bt_free(start, nbytes, BT_CPU);
      e.bad_value = v;
      return bad_id_error(&e);
    }
    if (v >= 0 && v != padding_idx) start[v + 1]++;
  }
  for (int64_t v = 0; v < e.V; v++) start[v + 1] += start[v];
  int64_t *fill = bt_alloc(op, e.V * (int64_t)sizeof(int64_t), BT_CPU);
  if (!fill) {
    bt_free(start, nbytes, BT_CPU);
    return -1;
  }
  memcpy(fill, start, (size_t)e.V * sizeof *fill);
  for (int64_t i = 0; i < e.n; i++) {
    int64_t v = id_at(&e, i);
    if (v >= 0 && v != padding_idx) pos[fill[v]++] = i;
  }
  bt_free(fill, e.V * (int64_t)sizeof(int64_t), BT_CPU);
  e.start = start;
  e.pos = pos;
  int64_t per_row = e.D * BT_MAX(1, e.n / BT_MAX(e.V, 1));
  int rc = bt_parallel_for(e.V, grain_for(per_row), embedding_grad_rows, &e);
  bt_free(start, nbytes, BT_CPU);
  return rc;
}
