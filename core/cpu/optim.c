/*
** cpu/optim.c: fused optimiser updates and the reductions of gradient
** clipping.
**
** Every update kernel is one pass over a parameter: it reads the gradient
** and the state once, and writes the parameter and the state once. The
** tensors arrive contiguous, of one shape and one float dtype (ops/optim.c
** sees to that). Each family writes its arithmetic once as a "span" over n
** elements, instantiated for float and double by a macro; f16 and bf16 are
** converted to float in blocks on the stack, updated by the float span and
** converted back. Spans follow PyTorch 1.13's single-tensor code operation
** by operation, so float64 results agree to the last bits or nearly.
**
** Large parameters are split across the thread pool (bt_parallel_for);
** every element is independent, so the result does not depend on the
** number of threads.
*/
#include "kernels.h"

/* The spans are compiled three times on x86-64 Linux with GCC (AVX-512,
** AVX2 and the baseline) and the loader picks the best the CPU has. C11
** mode does not contract a * b + c into fused multiply-adds, so every copy
** rounds exactly as the baseline does: results do not depend on the CPU. */
#define SPAN_KERNEL BT_TARGET_CLONES

#define NT 5                  /* tensors per update at most: param, grad, 3 states */
#define GRAIN 16384           /* elements per task below which one thread works */
#define HALF_BLOCK 256        /* f16/bf16 elements converted at a time */

typedef void (*SpanF)(float *const *p, int64_t n, const void *k);
typedef void (*SpanD)(double *const *p, int64_t n, const void *k);

/* One update over tensors t[0..nt-1] (NULL: an absent optional state). */
typedef struct {
  bt_DType dt;
  int nt;
  char *base[NT];            /* first element of each tensor, NULL if absent */
  bool written[NT];          /* converted back after a half-precision block */
  SpanF f;
  SpanD d;
  const void *k;             /* the family's scalars */
} Update;

/* ---- half precision blocks ---------------------------------------------------- */

static void load_block(bt_DType dt, const void *src, float *dst, int64_t n) {
  const uint16_t *s = src;
  if (dt == BT_F16)
    for (int64_t i = 0; i < n; i++) dst[i] = bt_f16_to_f32(s[i]);
  else
    for (int64_t i = 0; i < n; i++) dst[i] = bt_bf16_to_f32(s[i]);
}

static void store_block(bt_DType dt, const float *src, void *dst, int64_t n) {
  uint16_t *d = dst;
  if (dt == BT_F16)
    for (int64_t i = 0; i < n; i++) d[i] = bt_f32_to_f16(src[i]);
  else
    for (int64_t i = 0; i < n; i++) d[i] = bt_f32_to_bf16(src[i]);
}

/* Elements [b, e) of every tensor, in blocks of float copies. */
static void update_half(const Update *u, int64_t b, int64_t e) {
  float buf[NT][HALF_BLOCK];
  float *p[NT];
  for (int64_t s = b; s < e; s += HALF_BLOCK) {
    int64_t n = BT_MIN(HALF_BLOCK, e - s);
    for (int k = 0; k < u->nt; k++) {
      p[k] = u->base[k] ? buf[k] : NULL;
      if (p[k]) load_block(u->dt, u->base[k] + 2 * s, buf[k], n);
    }
    u->f(p, n, u->k);
    for (int k = 0; k < u->nt; k++)
      if (p[k] && u->written[k]) store_block(u->dt, buf[k], u->base[k] + 2 * s, n);
  }
}

static void update_range(void *ctx, int64_t b, int64_t e) {
  const Update *u = ctx;
  if (u->dt == BT_F32) {
    float *p[NT];
    for (int k = 0; k < u->nt; k++) p[k] = u->base[k] ? (float *)u->base[k] + b : NULL;
    u->f(p, e - b, u->k);
  } else if (u->dt == BT_F64) {
    double *p[NT];
    for (int k = 0; k < u->nt; k++) p[k] = u->base[k] ? (double *)u->base[k] + b : NULL;
    u->d(p, e - b, u->k);
  } else {
    update_half(u, b, e);
  }
}

/* Runs the update over all elements. ts[0] is the parameter (written),
** ts[1] the gradient (read), the rest states (written). */
static int run_update(int nt, bt_Tensor *const *ts, SpanF f, SpanD d, const void *k) {
  Update u = {.dt = ts[0]->dtype, .nt = nt, .f = f, .d = d, .k = k};
  for (int i = 0; i < nt; i++) {
    u.base[i] = ts[i] ? bt_data(ts[i]) : NULL;
    u.written[i] = i != 1;
  }
  return bt_parallel_for(bt_numel(ts[0]), GRAIN, update_range, &u);
}

/* ---- SGD ------------------------------------------------------------------------ */

typedef struct {
  double lr, momentum, dampening, weight_decay, sign;
  bool nesterov, first;
} SGDK;

/* p[0] param, p[1] grad, p[2] momentum buffer (NULL without momentum).
**   d = sign * g + wd * w;  b = first ? d : momentum * b + (1 - dampening) * d
**   d = nesterov ? d + momentum * b : b;  w -= lr * d
** Options are read into locals and tested as values, never around a store,
** so the loops vectorise. */
#define SGD_SPAN(T)                                                                  \
  SPAN_KERNEL static void sgd_span_##T(T *const *p, int64_t n, const void *ctx) {                \
    const SGDK *k = ctx;                                                             \
    T *w = p[0], *buf = p[2];                                                        \
    const T *g = p[1];                                                               \
    const T sign = (T)k->sign, wd = (T)k->weight_decay, mom = (T)k->momentum;        \
    const T damp = (T)(1 - k->dampening), neg_lr = (T)-k->lr;                        \
    const bool has_wd = k->weight_decay != 0, first = k->first, nesterov = k->nesterov; \
    if (!buf) {                                                                      \
      for (int64_t i = 0; i < n; i++) {                                              \
        T d = sign * g[i];                                                           \
        if (has_wd) d = d + wd * w[i];                                               \
        w[i] = w[i] + neg_lr * d;                                                    \
      }                                                                              \
      return;                                                                        \
    }                                                                                \
    for (int64_t i = 0; i < n; i++) {                                                \
      T d = sign * g[i];                                                             \
      if (has_wd) d = d + wd * w[i];                                                 \
      T b = first ? d : buf[i] * mom + damp * d;                                     \
      buf[i] = b;                                                                    \
      w[i] = w[i] + neg_lr * (nesterov ? d + mom * b : b);                           \
    }                                                                                \
  }
SGD_SPAN(float)
SGD_SPAN(double)

int bt_cpu_sgd_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *buf, const bt_SGDOpts *o) {
  SGDK k = {o->lr, o->momentum, o->dampening, o->weight_decay, o->maximize ? -1 : 1,
            o->nesterov, o->first};
  bt_Tensor *ts[] = {param, (bt_Tensor *)grad, buf};
  return run_update(3, ts, sgd_span_float, sgd_span_double, &k);
}

/* ---- Adam and AdamW ------------------------------------------------------------- */

typedef struct {
  double beta1, beta2, eps, weight_decay, sign;
  double step_size;          /* lr / (1 - beta1^step) */
  double bc2_sqrt;           /* sqrt(1 - beta2^step) */
  double decay;              /* AdamW: 1 - lr * weight_decay; Adam: 1 */
  bool decoupled;
} AdamK;

/* p[0] param, p[1] grad, p[2] exp_avg, p[3] exp_avg_sq, p[4] max_exp_avg_sq
** (amsgrad, else NULL).
**   AdamW: w *= 1 - lr wd;  Adam: g += wd w
**   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  vmax = max(vmax, v)
**   w -= step_size * m / (sqrt(v or vmax) / bc2_sqrt + eps)
** ADAM_LOOP is the loop for one setting of amsgrad (AMS: 0 or 1). */
#define ADAM_LOOP(T, SQRT, AMS)                                                      \
  for (int64_t i = 0; i < n; i++) {                                                  \
    T wi = w[i];                                                                     \
    if (decoupled) wi = wi * decay;                                                  \
    T gi = sign * g[i];                                                              \
    if (coupled) gi = gi + wd * wi;                                                  \
    T mi = m[i] * b1 + c1 * gi;                                                      \
    T vi = v[i] * b2 + c2 * gi * gi;                                                 \
    m[i] = mi;                                                                       \
    v[i] = vi;                                                                       \
    if (AMS) {                                                                       \
      T mx = vmax[i];                                /* torch.maximum: NaN wins */   \
      vi = mx > vi || mx != mx ? mx : vi;                                            \
      vmax[i] = vi;                                                                  \
    }                                                                                \
    w[i] = wi + neg_step * (mi / (SQRT(vi) / bc2 + eps));                            \
  }
#define ADAM_SPAN(T, SQRT)                                                           \
  SPAN_KERNEL static void adam_span_##T(T *const *p, int64_t n, const void *ctx) {               \
    const AdamK *k = ctx;                                                            \
    T *w = p[0], *m = p[2], *v = p[3], *vmax = p[4];                                 \
    const T *g = p[1];                                                               \
    const T sign = (T)k->sign, wd = (T)k->weight_decay, decay = (T)k->decay;         \
    const T b1 = (T)k->beta1, b2 = (T)k->beta2;                                      \
    const T c1 = (T)(1 - k->beta1), c2 = (T)(1 - k->beta2);                          \
    const T bc2 = (T)k->bc2_sqrt, eps = (T)k->eps, neg_step = (T)-k->step_size;      \
    const bool decoupled = k->decoupled, coupled = !k->decoupled && k->weight_decay != 0; \
    if (vmax) ADAM_LOOP(T, SQRT, 1)                                                  \
    else ADAM_LOOP(T, SQRT, 0)                                                       \
  }
ADAM_SPAN(float, sqrtf)
ADAM_SPAN(double, sqrt)

int bt_cpu_adam_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *exp_avg,
                     bt_Tensor *exp_avg_sq, bt_Tensor *max_exp_avg_sq, const bt_AdamOpts *o) {
  double step = (double)o->step;
  AdamK k = {
    .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .weight_decay = o->weight_decay,
    .sign = o->maximize ? -1 : 1,
    .step_size = o->lr / (1 - pow(o->beta1, step)),
    .bc2_sqrt = sqrt(1 - pow(o->beta2, step)),
    .decay = o->decoupled ? 1 - o->lr * o->weight_decay : 1,
    .decoupled = o->decoupled,
  };
  bt_Tensor *ts[] = {param, (bt_Tensor *)grad, exp_avg, exp_avg_sq, max_exp_avg_sq};
  return run_update(5, ts, adam_span_float, adam_span_double, &k);
}

/* ---- RMSprop -------------------------------------------------------------------- */

typedef struct {
  double lr, alpha, eps, weight_decay, momentum, sign;
} RMSK;

/* p[0] param, p[1] grad, p[2] square_avg, p[3] grad_avg (centered, else
** NULL), p[4] momentum buffer (momentum > 0, else NULL).
**   g += wd w;  s = a s + (1 - a) g^2;  c = a c + (1 - a) g
**   avg = sqrt(s - c^2 or s) + eps
**   b = momentum b + g / avg; w -= lr b   (without momentum: w -= lr g / avg)
** RMSPROP_LOOP is the loop for one setting of centered and momentum (0 or 1). */
#define RMSPROP_LOOP(T, SQRT, CENTERED, MOMENTUM)                                    \
  for (int64_t i = 0; i < n; i++) {                                                  \
    T gi = sign * g[i];                                                              \
    if (has_wd) gi = gi + wd * w[i];                                                 \
    T si = sq[i] * a + c * gi * gi;                                                  \
    sq[i] = si;                                                                      \
    T avg;                                                                           \
    if (CENTERED) {                                                                  \
      T ci = ga[i] * a + c * gi;                                                     \
      ga[i] = ci;                                                                    \
      avg = SQRT(si + (T)-1 * ci * ci) + eps;                                        \
    } else {                                                                         \
      avg = SQRT(si) + eps;                                                          \
    }                                                                                \
    if (MOMENTUM) {                                                                  \
      T b = buf[i] * mom + gi / avg;                                                 \
      buf[i] = b;                                                                    \
      w[i] = w[i] + neg_lr * b;                                                      \
    } else {                                                                         \
      w[i] = w[i] + neg_lr * (gi / avg);                                             \
    }                                                                                \
  }
#define RMSPROP_SPAN(T, SQRT)                                                        \
  SPAN_KERNEL static void rmsprop_span_##T(T *const *p, int64_t n, const void *ctx) {            \
    const RMSK *k = ctx;                                                             \
    T *w = p[0], *sq = p[2], *ga = p[3], *buf = p[4];                                \
    const T *g = p[1];                                                               \
    const T sign = (T)k->sign, wd = (T)k->weight_decay, a = (T)k->alpha;             \
    const T c = (T)(1 - k->alpha), eps = (T)k->eps, mom = (T)k->momentum;            \
    const T neg_lr = (T)-k->lr;                                                      \
    const bool has_wd = k->weight_decay != 0;                                        \
    if (ga && buf) RMSPROP_LOOP(T, SQRT, 1, 1)                                       \
    else if (ga) RMSPROP_LOOP(T, SQRT, 1, 0)                                         \
    else if (buf) RMSPROP_LOOP(T, SQRT, 0, 1)                                        \
    else RMSPROP_LOOP(T, SQRT, 0, 0)                                                 \
  }
RMSPROP_SPAN(float, sqrtf)
RMSPROP_SPAN(double, sqrt)

int bt_cpu_rmsprop_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                        bt_Tensor *grad_avg, bt_Tensor *buf, const bt_RMSpropOpts *o) {
  RMSK k = {o->lr, o->alpha, o->eps, o->weight_decay, o->momentum, o->maximize ? -1 : 1};
  bt_Tensor *ts[] = {param, (bt_Tensor *)grad, square_avg, grad_avg, buf};
  return run_update(5, ts, rmsprop_span_float, rmsprop_span_double, &k);
}

/* ---- Adagrad -------------------------------------------------------------------- */

typedef struct {
  double clr, eps, weight_decay, sign;
} AdagradK;

/* p[0] param, p[1] grad, p[2] sum of squares.
**   g += wd w;  s += g^2;  w -= clr * g / (sqrt(s) + eps) */
#define ADAGRAD_SPAN(T, SQRT)                                                        \
  SPAN_KERNEL static void adagrad_span_##T(T *const *p, int64_t n, const void *ctx) {            \
    const AdagradK *k = ctx;                                                         \
    T *w = p[0], *sum = p[2];                                                        \
    const T *g = p[1];                                                               \
    const T sign = (T)k->sign, wd = (T)k->weight_decay, eps = (T)k->eps;             \
    const T neg_clr = (T)-k->clr;                                                    \
    const bool has_wd = k->weight_decay != 0;                                        \
    for (int64_t i = 0; i < n; i++) {                                                \
      T gi = sign * g[i];                                                            \
      if (has_wd) gi = gi + wd * w[i];                                               \
      T si = sum[i] + gi * gi;                                                       \
      sum[i] = si;                                                                   \
      w[i] = w[i] + neg_clr * (gi / (SQRT(si) + eps));                               \
    }                                                                                \
  }
ADAGRAD_SPAN(float, sqrtf)
ADAGRAD_SPAN(double, sqrt)

int bt_cpu_adagrad_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *sum,
                        const bt_AdagradOpts *o) {
  AdagradK k = {o->lr / (1 + (double)(o->step - 1) * o->lr_decay), o->eps, o->weight_decay,
                o->maximize ? -1 : 1};
  bt_Tensor *ts[] = {param, (bt_Tensor *)grad, sum};
  return run_update(3, ts, adagrad_span_float, adagrad_span_double, &k);
}

/* ---- Adadelta ------------------------------------------------------------------- */

typedef struct {
  double lr, rho, eps, weight_decay, sign;
} AdadeltaK;

/* p[0] param, p[1] grad, p[2] square_avg, p[3] acc_delta.
**   g += wd w;  s = rho s + (1 - rho) g^2
**   delta = sqrt(acc + eps) / sqrt(s + eps) * g
**   acc = rho acc + (1 - rho) delta^2;  w -= lr delta */
#define ADADELTA_SPAN(T, SQRT)                                                       \
  SPAN_KERNEL static void adadelta_span_##T(T *const *p, int64_t n, const void *ctx) {           \
    const AdadeltaK *k = ctx;                                                        \
    T *w = p[0], *sq = p[2], *acc = p[3];                                            \
    const T *g = p[1];                                                               \
    const T sign = (T)k->sign, wd = (T)k->weight_decay, eps = (T)k->eps;             \
    const T rho = (T)k->rho, c = (T)(1 - k->rho), neg_lr = (T)-k->lr;                \
    const bool has_wd = k->weight_decay != 0;                                        \
    for (int64_t i = 0; i < n; i++) {                                                \
      T gi = sign * g[i];                                                            \
      if (has_wd) gi = gi + wd * w[i];                                               \
      T si = sq[i] * rho + c * gi * gi;                                              \
      sq[i] = si;                                                                    \
      T delta = SQRT(acc[i] + eps) / SQRT(si + eps) * gi;                            \
      acc[i] = acc[i] * rho + c * delta * delta;                                     \
      w[i] = w[i] + neg_lr * delta;                                                  \
    }                                                                                \
  }
ADADELTA_SPAN(float, sqrtf)
ADADELTA_SPAN(double, sqrt)

int bt_cpu_adadelta_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                         bt_Tensor *acc_delta, const bt_AdadeltaOpts *o) {
  AdadeltaK k = {o->lr, o->rho, o->eps, o->weight_decay, o->maximize ? -1 : 1};
  bt_Tensor *ts[] = {param, (bt_Tensor *)grad, square_avg, acc_delta};
  return run_update(4, ts, adadelta_span_float, adadelta_span_double, &k);
}

/* ---- clipping --------------------------------------------------------------------- */

/* Partial sums over fixed blocks, added in order afterwards: the norm is the
** same whatever the number of threads. */
#define NORM_BLOCK 32768

typedef struct {
  const bt_Tensor *g;
  double p;
  double *part;              /* one per block */
} NormJob;

/* sum |x|^p over x[0..n-1] (max |x| for infinite p; NaN propagates), in
** eight interleaved accumulators so the loops vectorise without
** reassociating: the result does not depend on the machine. */
#define NORM_ACC 8
#define NORM_LOOP(INIT, UPDATE, COMBINE)                                             \
  do {                                                                               \
    double acc[NORM_ACC];                                                            \
    for (int j = 0; j < NORM_ACC; j++) acc[j] = INIT;                                \
    int64_t i = 0;                                                                   \
    for (; i + NORM_ACC <= n; i += NORM_ACC)                                         \
      for (int j = 0; j < NORM_ACC; j++) UPDATE(acc[j], (double)x[i + j]);           \
    for (; i < n; i++) UPDATE(acc[0], (double)x[i]);                                 \
    s = acc[0];                                                                      \
    for (int j = 1; j < NORM_ACC; j++) COMBINE(s, acc[j]);                           \
  } while (0)
#define ADD_SQUARE(s, a) ((s) += (a) * (a))
#define ADD_ABS(s, a) ((s) += fabs(a))
#define ADD_POW(s, a) ((s) += pow(fabs(a), p))
#define ADD(s, a) ((s) += (a))
#define MAX_ABS(s, a) ((s) = fabs(a) > (s) || (a) != (a) ? fabs(a) : (s))
#define MAX_OF(s, a) ((s) = (a) > (s) || (a) != (a) ? (a) : (s))
#define NORM_SPAN(T)                                                                 \
  SPAN_KERNEL static double norm_span_##T(const T *x, int64_t n, double p) {                     \
    double s;                                                                        \
    if (isinf(p)) NORM_LOOP(0, MAX_ABS, MAX_OF);                                     \
    else if (p == 2) NORM_LOOP(0, ADD_SQUARE, ADD);                                  \
    else if (p == 1) NORM_LOOP(0, ADD_ABS, ADD);                                     \
    else NORM_LOOP(0, ADD_POW, ADD);                                                 \
    return s;                                                                        \
  }
NORM_SPAN(float)
NORM_SPAN(double)

static void norm_blocks(void *ctx, int64_t b, int64_t e) {
  NormJob *j = ctx;
  int64_t n = bt_numel(j->g);
  bt_DType dt = j->g->dtype;
  char *base = bt_data(j->g);
  for (int64_t blk = b; blk < e; blk++) {
    int64_t s = blk * NORM_BLOCK, len = BT_MIN(NORM_BLOCK, n - s);
    if (dt == BT_F32) {
      j->part[blk] = norm_span_float((const float *)base + s, len, j->p);
    } else if (dt == BT_F64) {
      j->part[blk] = norm_span_double((const double *)base + s, len, j->p);
    } else {
      float buf[HALF_BLOCK];
      double acc = 0;
      for (int64_t o = 0; o < len; o += HALF_BLOCK) {
        int64_t m = BT_MIN(HALF_BLOCK, len - o);
        load_block(dt, base + 2 * (s + o), buf, m);
        double part = norm_span_float(buf, m, j->p);
        if (isinf(j->p)) MAX_OF(acc, part);
        else acc += part;
      }
      j->part[blk] = acc;
    }
  }
}

int bt_cpu_grad_norm(const bt_Tensor *g, double p, double *out) {
  int64_t n = bt_numel(g), nblocks = (n + NORM_BLOCK - 1) / NORM_BLOCK;
  double small[64], *part = small;   /* gradients up to 2M elements need no allocation */
  *out = 0;
  if (n == 0) return 0;
  if (nblocks > 64) part = bt_alloc("clip_grad_norm", nblocks * (int64_t)sizeof(double), BT_CPU);
  if (!part) return -1;
  NormJob j = {g, p, part};
  int rc = bt_parallel_for(nblocks, 1, norm_blocks, &j);
  double s = 0;
  for (int64_t b = 0; rc == 0 && b < nblocks; b++) {
    if (isinf(p)) MAX_OF(s, part[b]);
    else s += part[b];
  }
  if (part != small) bt_free(part, nblocks * (int64_t)sizeof(double), BT_CPU);
  *out = s;
  return rc;
}

typedef struct {
  double scale, lo, hi;
} ClampK;

/* p[0] the gradient: g = clamp(g * scale, lo, hi); NaN stays NaN. The
** layout of Update puts it where a parameter goes. */
#define CLAMP_SPAN(T)                                                                \
  SPAN_KERNEL static void clamp_span_##T(T *const *p, int64_t n, const void *ctx) {              \
    const ClampK *k = ctx;                                                           \
    T *g = p[0];                                                                     \
    const T s = (T)k->scale, lo = (T)k->lo, hi = (T)k->hi;                           \
    for (int64_t i = 0; i < n; i++) {                                                \
      T x = g[i] * s;                                                                \
      g[i] = x < lo ? lo : x > hi ? hi : x;                                          \
    }                                                                                \
  }
CLAMP_SPAN(float)
CLAMP_SPAN(double)

int bt_cpu_scale_clamp(bt_Tensor *g, double scale, double lo, double hi) {
  ClampK k = {scale, lo, hi};
  bt_Tensor *ts[] = {g};
  return run_update(1, ts, clamp_span_float, clamp_span_double, &k);
}
