/*
** cpu/conv.c: 2-d convolutions and their two adjoints. 1-d convolutions
** arrive here as 2-d ones with h = oh = kh = 1 (see ops/nn_conv.c).
**
** f32 on a CPU with AVX-512: the direct kernels of conv_avx512.c, when they
** handle the geometry (bt_c512_applies). Otherwise im2col/col2im and GEMM
** through OpenBLAS. For one image and one group (cg = c / groups input
** channels, ocg = oc / groups output channels, K = cg * kh * kw):
**   conv2d         col [K, P] = im2col(x)           y [ocg, P] = W [ocg, K] @ col
**   conv2d_input   col [K, P] = W^T @ y              x = col2im(col)
**   conv2d_weight  col [K, P] = im2col(x)           W [ocg, K] += y @ col^T
** where P = oh * ow output positions. The column matrix is built for a band
** of output rows at a time so that it stays small (COL_BUDGET) and in cache
** between im2col and the GEMM. A 1x1 convolution with stride 1 and no
** padding needs no column matrix: the image itself is one. The output is
** written once: a bias fills it and the GEMM adds (beta = 1); col2im adds
** into an image zeroed (or filled with the bias) just before.
**
** Threads: with enough images, tasks (ranges of images) are spread over the
** pool and every GEMM (or direct kernel) runs single-threaded on its task's
** workspace; measured on the course's shapes, per-image GEMMs on one thread
** each beat one GEMM over the whole batch on two (117 against 72 GFLOP/s for
** 64x288 @ 288x196), and keep the column matrix in L2. The weight gradient
** sums one partial per task in task order, so its value does not depend on
** the scheduling or the number of threads. With fewer images than threads
** (batch 1 in the REPL), the images go one by one: the direct kernels split
** each image into units over the pool; the GEMM path uses threaded GEMMs and
** threaded im2col/col2im.
*/
#include "kernels.h"
#include "conv_avx512.h"

#include <cblas.h>
#include <stdatomic.h>

/* Bytes of column matrix per band (the L2 cache of one core is 1-2 MB). */
#define COL_BUDGET (512 * 1024)
/* At most this many bytes of per-task weight partials. */
#define PARTIAL_BUDGET (64 * 1024 * 1024)

/* ---- typed loops: im2col, col2im, fills ----------------------------------- */

/* Output columns j in [lo, hi) read input columns j * s + off inside [0, n). */
static void valid_range(int64_t off, int64_t s, int64_t n, int64_t count, int64_t *lo,
                        int64_t *hi) {
  int64_t l = off < 0 ? (-off + s - 1) / s : 0;
  int64_t h = n - 1 - off < 0 ? 0 : (n - 1 - off) / s + 1;
  l = BT_MIN(l, count);
  h = BT_MIN(h, count);
  *lo = l;
  *hi = BT_MAX(h, l);
}

/* IM2COL: rows [r0, r1) of the column matrix col [K, (i1 - i0) * ow] for
** output rows [i0, i1), from the image x [cg, h, w] of one group.
** COL2IM: the adjoint for the channels [c0, c1) of x: adds rows
** [c0 * kh * kw, c1 * kh * kw) of col into x.
** FILL: x [c, hw] = bias[c] (or 0 when bias is NULL). */
#define DEFINE_CONV_LOOPS(T, SFX)                                                              \
  static void im2col_##SFX(T *col, const T *x, const bt_ConvGeom *g, int64_t i0, int64_t i1,  \
                           int64_t r0, int64_t r1) {                                           \
    const int64_t kk = g->kh * g->kw, ow = g->ow, ncols = (i1 - i0) * ow, sw = g->sw;        \
    for (int64_t r = r0; r < r1; r++) {                                                        \
      const int64_t c = r / kk, a = r % kk / g->kw, b = r % g->kw;                           \
      const int64_t off = b * g->dw - g->pw;                                                   \
      const T *xc = x + c * g->h * g->w;                                                       \
      T *dst = col + r * ncols;                                                                \
      int64_t lo, hi;                                                                          \
      valid_range(off, sw, g->w, ow, &lo, &hi);                                                \
      for (int64_t i = i0; i < i1; i++, dst += ow) {                                           \
        const int64_t ih = i * g->sh - g->ph + a * g->dh;                                      \
        if (ih < 0 || ih >= g->h) {                                                            \
          for (int64_t j = 0; j < ow; j++) dst[j] = 0;                                         \
          continue;                                                                            \
        }                                                                                      \
        const T *src = xc + ih * g->w + off;                                                   \
        for (int64_t j = 0; j < lo; j++) dst[j] = 0;                                           \
        if (sw == 1)                                                                           \
          for (int64_t j = lo; j < hi; j++) dst[j] = src[j];                                   \
        else                                                                                   \
          for (int64_t j = lo; j < hi; j++) dst[j] = src[j * sw];                              \
        for (int64_t j = hi; j < ow; j++) dst[j] = 0;                                          \
      }                                                                                        \
    }                                                                                          \
  }                                                                                            \
  static void col2im_##SFX(T *x, const T *col, const bt_ConvGeom *g, int64_t i0, int64_t i1,  \
                           int64_t c0, int64_t c1) {                                           \
    const int64_t ow = g->ow, ncols = (i1 - i0) * ow, sw = g->sw;                             \
    for (int64_t c = c0; c < c1; c++) {                                                        \
      T *xc = x + c * g->h * g->w;                                                             \
      for (int64_t a = 0; a < g->kh; a++)                                                      \
        for (int64_t b = 0; b < g->kw; b++) {                                                  \
          const int64_t off = b * g->dw - g->pw;                                               \
          const T *src = col + ((c * g->kh + a) * g->kw + b) * ncols;                          \
          int64_t lo, hi;                                                                      \
          valid_range(off, sw, g->w, ow, &lo, &hi);                                            \
          for (int64_t i = i0; i < i1; i++, src += ow) {                                       \
            const int64_t ih = i * g->sh - g->ph + a * g->dh;                                  \
            if (ih < 0 || ih >= g->h) continue;                                                \
            T *dst = xc + ih * g->w + off;                                                     \
            if (sw == 1)                                                                       \
              for (int64_t j = lo; j < hi; j++) dst[j] += src[j];                              \
            else                                                                               \
              for (int64_t j = lo; j < hi; j++) dst[j * sw] += src[j];                         \
          }                                                                                    \
        }                                                                                      \
    }                                                                                          \
  }                                                                                            \
  static void fill_##SFX(T *x, const T *bias, int64_t c, int64_t hw) {                         \
    for (int64_t k = 0; k < c; k++, x += hw) {                                                 \
      T v = bias ? bias[k] : 0;                                                                \
      for (int64_t j = 0; j < hw; j++) x[j] = v;                                               \
    }                                                                                          \
  }

DEFINE_CONV_LOOPS(float, f32)
DEFINE_CONV_LOOPS(double, f64)

static void im2col(bt_DType dt, void *col, const void *x, const bt_ConvGeom *g, int64_t i0,
                   int64_t i1, int64_t r0, int64_t r1) {
  if (dt == BT_F32) im2col_f32(col, x, g, i0, i1, r0, r1);
  else im2col_f64(col, x, g, i0, i1, r0, r1);
}

static void col2im(bt_DType dt, void *x, const void *col, const bt_ConvGeom *g, int64_t i0,
                   int64_t i1, int64_t c0, int64_t c1) {
  if (dt == BT_F32) col2im_f32(x, col, g, i0, i1, c0, c1);
  else col2im_f64(x, col, g, i0, i1, c0, c1);
}

static void fill(bt_DType dt, void *x, const void *bias, int64_t c, int64_t hw) {
  if (dt == BT_F32) fill_f32(x, bias, c, hw);
  else fill_f64(x, bias, c, hw);
}

/* c [m, n] (ldc) = a [m, k] @ b [k, n], or += when accumulate; ta/tb: a or b
** is stored transposed (lda, ldb are the strides of the stored rows). */
static void gemm(bt_DType dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a,
                 int64_t lda, const void *b, int64_t ldb, bool accumulate, void *c, int64_t ldc) {
  CBLAS_TRANSPOSE TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
  if (dt == BT_F32)
    cblas_sgemm(CblasRowMajor, TA, TB, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb,
                accumulate ? 1.0f : 0.0f, c, (int)ldc);
  else
    cblas_dgemm(CblasRowMajor, TA, TB, (int)m, (int)n, (int)k, 1.0, a, (int)lda, b, (int)ldb,
                accumulate ? 1.0 : 0.0, c, (int)ldc);
}

/* Adds the sums of the rows of y [rows, P] into dst (doubles). */
static void add_row_sums(bt_DType dt, double *dst, const void *y, int64_t rows, int64_t P) {
  for (int64_t r = 0; r < rows; r++) {
    double s[4] = {0, 0, 0, 0};
    int64_t j = 0;
    if (dt == BT_F32) {
      const float *v = (const float *)y + r * P;
      for (; j + 4 <= P; j += 4)
        for (int q = 0; q < 4; q++) s[q] += v[j + q];
      for (; j < P; j++) s[0] += v[j];
    } else {
      const double *v = (const double *)y + r * P;
      for (; j + 4 <= P; j += 4)
        for (int q = 0; q < 4; q++) s[q] += v[j + q];
      for (; j < P; j++) s[0] += v[j];
    }
    dst[r] += (s[0] + s[1]) + (s[2] + s[3]);
  }
}

/* ---- the plan of one call -------------------------------------------------- */

typedef enum { FORWARD, INPUT, WEIGHT } Kind;

typedef struct {
  Kind kind;
  const bt_ConvGeom *g;
  bt_DType dt;
  int64_t es;                   /* element size */
  int64_t cg, ocg, K, P;        /* per group: channels in and out, rows of col, positions */
  bool direct;                  /* 1x1, stride 1, no padding: col is the image itself */
  int64_t band;                 /* output rows per column matrix */
  bool fast;                    /* the AVX-512 kernels of conv_avx512.c */
  C512 c5;
  char *x, *y, *w;              /* x-side, y-side, weight data (the output is one of them) */
  const char *bias;             /* FORWARD, INPUT: the bias added */
  char *bias_out;               /* WEIGHT: where the bias gradient goes, or NULL */
  /* tasks: ranges of images */
  int64_t ntasks;
  char *partials;               /* WEIGHT: one weight partial per task */
  int64_t partial_bytes;
  double *bias_partials;        /* WEIGHT with bias_out: [ntasks][oc] */
  /* workspaces: one per concurrent task (a slot), taken from a bit mask */
  char *work;
  int64_t work_bytes;           /* per slot */
  atomic_ullong free_slots;
  bool threaded_inner;          /* images one by one: im2col and col2im use the pool */
} Plan;

static const C512Kind c512_kind[] = {C512_FORWARD, C512_INPUT, C512_WEIGHT};

static void plan_init(Plan *p, Kind kind, const bt_ConvGeom *g, bt_DType dt) {
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->g = g;
  p->dt = dt;
  p->es = (int64_t)bt_dtype_size(dt);
  p->cg = g->c / g->groups;
  p->ocg = g->oc / g->groups;
  p->K = p->cg * g->kh * g->kw;
  p->P = g->oh * g->ow;
  p->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
              g->pw == 0 && g->oh == g->h && g->ow == g->w;
  int64_t row_bytes = BT_MAX(p->K * g->ow * p->es, 1);
  p->band = BT_MAX(1, BT_MIN(g->oh, COL_BUDGET / row_bytes));
  p->fast = dt == BT_F32 && bt_c512_applies(c512_kind[kind], g);
}

static void *slot_take(Plan *p) {
  if (p->work_bytes == 0) return NULL;
  for (;;) {
    unsigned long long m = atomic_load(&p->free_slots);
    if (!m) continue;   /* cannot happen: no more tasks run at once than slots */
    int s = __builtin_ctzll(m);
    if (atomic_compare_exchange_weak(&p->free_slots, &m, m & ~(1ull << s)))
      return p->work + (int64_t)s * p->work_bytes;
  }
}

static void slot_give(Plan *p, void *ws) {
  if (!ws) return;
  int s = (int)(((char *)ws - p->work) / p->work_bytes);
  atomic_fetch_or(&p->free_slots, 1ull << s);
}

/* ---- one image --------------------------------------------------------------- */

/* im2col (rows of col) or col2im (channels of x) over a range, on the
** pool when the plan says so: dst is col or x, src x or col. */
typedef struct {
  const Plan *p;
  void *dst;
  const void *src;
  int64_t i0, i1;
} ColJob;

static void im2col_range(void *ctx, int64_t r0, int64_t r1) {
  ColJob *j = ctx;
  im2col(j->p->dt, j->dst, j->src, j->p->g, j->i0, j->i1, r0, r1);
}

static void col2im_range(void *ctx, int64_t c0, int64_t c1) {
  ColJob *j = ctx;
  col2im(j->p->dt, j->dst, j->src, j->p->g, j->i0, j->i1, c0, c1);
}

static void run_im2col(const Plan *p, void *col, const void *x, int64_t i0, int64_t i1) {
  ColJob j = {p, col, x, i0, i1};
  int64_t per_row = (i1 - i0) * p->g->ow;
  if (p->threaded_inner) bt_parallel_for(p->K, BT_MAX(1, 16384 / per_row), im2col_range, &j);
  else im2col_range(&j, 0, p->K);
}

static void run_col2im(const Plan *p, void *x, const void *col, int64_t i0, int64_t i1) {
  ColJob j = {p, x, col, i0, i1};
  int64_t per_channel = p->g->kh * p->g->kw * (i1 - i0) * p->g->ow;
  if (p->threaded_inner) bt_parallel_for(p->cg, BT_MAX(1, 16384 / per_channel), col2im_range, &j);
  else col2im_range(&j, 0, p->cg);
}

/* Image n with the AVX-512 kernels; the inputs of image n + 1 (when it is
** before end) are prefetched meanwhile: the first touch of each image would
** otherwise wait on memory. */
static void one_image_fast(Plan *p, int64_t n, int64_t end, void *ws, char *wacc, double *bacc) {
  const bt_ConvGeom *g = p->g;
  int64_t xn = g->c * g->h * g->w, yn = g->oc * p->P;
  float *x = (float *)p->x + n * xn, *y = (float *)p->y + n * yn;
  const float *bias = (const float *)p->bias;
  C512Next next = {{NULL, NULL}, {0, 0}}, *nx = n + 1 < end ? &next : NULL;
  if (p->kind != INPUT) next.p[0] = (const char *)(x + xn), next.bytes[0] = xn * 4;
  if (p->kind != FORWARD) next.p[1] = (const char *)(y + yn), next.bytes[1] = yn * 4;
  if (p->kind == FORWARD) bt_c512_direct(&p->c5, x, bias, y, ws, nx);
  else if (p->kind == INPUT) bt_c512_direct(&p->c5, y, bias, x, ws, nx);
  else bt_c512_weight(&p->c5, x, y, (float *)wacc, bacc, ws, nx);
}

/* Image n (of a run of images ending before end), every group. ws: a
** workspace of one band of col; wacc: where the weight gradient accumulates
** (WEIGHT), already holding earlier images; bacc: where the bias gradient
** does, or NULL. */
static void one_image(Plan *p, int64_t n, int64_t end, void *ws, char *wacc, double *bacc) {
  if (p->fast) {
    one_image_fast(p, n, end, ws, wacc, bacc);
    return;
  }
  const bt_ConvGeom *g = p->g;
  const int64_t es = p->es, hw = g->h * g->w, P = p->P, K = p->K, ocg = p->ocg;
  char *x = p->x + n * g->c * hw * es, *y = p->y + n * g->oc * P * es;
  if (p->kind == FORWARD && p->bias) fill(p->dt, y, p->bias, g->oc, P);
  if (p->kind == INPUT && (p->bias || !p->direct)) fill(p->dt, x, p->bias, g->c, hw);
  if (bacc) add_row_sums(p->dt, bacc, y, g->oc, P);
  bool acc_out = p->bias != NULL || p->kind == WEIGHT;
  for (int64_t gr = 0; gr < g->groups; gr++) {
    char *xg = x + gr * p->cg * hw * es, *yg = y + gr * ocg * P * es;
    char *wg = (p->kind == WEIGHT ? wacc : p->w) + gr * ocg * K * es;
    if (p->direct) {   /* x [cg, hw] is the column matrix */
      if (p->kind == FORWARD) gemm(p->dt, false, false, ocg, P, K, wg, K, xg, hw, acc_out, yg, P);
      else if (p->kind == INPUT) gemm(p->dt, true, false, K, P, ocg, wg, K, yg, P, acc_out, xg, hw);
      else gemm(p->dt, false, true, ocg, K, P, yg, P, xg, hw, true, wg, K);
      continue;
    }
    for (int64_t i0 = 0; i0 < g->oh; i0 += p->band) {
      int64_t i1 = BT_MIN(i0 + p->band, g->oh), cols = (i1 - i0) * g->ow;
      char *yb = yg + i0 * g->ow * es;
      if (p->kind == INPUT) {
        gemm(p->dt, true, false, K, cols, ocg, wg, K, yb, P, false, ws, cols);
        run_col2im(p, xg, ws, i0, i1);
        continue;
      }
      run_im2col(p, ws, xg, i0, i1);
      if (p->kind == FORWARD)
        gemm(p->dt, false, false, ocg, cols, K, wg, K, ws, cols, acc_out, yb, P);
      else gemm(p->dt, false, true, ocg, K, cols, yb, P, ws, cols, true, wg, K);
    }
  }
}

/* ---- driving the images ------------------------------------------------------- */

static int64_t task_begin(const Plan *p, int64_t t) { return t * p->g->n / p->ntasks; }

static void run_tasks(void *ctx, int64_t t0, int64_t t1) {
  Plan *p = ctx;
  void *ws = slot_take(p);
  for (int64_t t = t0; t < t1; t++) {
    char *acc = p->partials ? p->partials + t * p->partial_bytes : NULL;
    double *bacc = p->bias_partials ? p->bias_partials + t * p->g->oc : NULL;
    if (acc) memset(acc, 0, (size_t)p->partial_bytes);
    if (bacc) memset(bacc, 0, (size_t)p->g->oc * sizeof *bacc);
    int64_t end = task_begin(p, t + 1);
    for (int64_t n = task_begin(p, t); n < end; n++) one_image(p, n, end, ws, acc, bacc);
  }
  slot_give(p, ws);
}

/* Sums the partials of the tasks, in task order, into w (and the bias). */
static void sum_partials(Plan *p) {
  if (p->bias_out) {
    int64_t oc = p->g->oc;
    for (int64_t o = 0; o < oc; o++) {
      double s = 0;
      for (int64_t t = 0; t < p->ntasks; t++) s += p->bias_partials[t * oc + o];
      if (p->dt == BT_F32) ((float *)p->bias_out)[o] = (float)s;
      else ((double *)p->bias_out)[o] = s;
    }
  }
  if (p->fast) {
    p->c5.partial_stride = p->partial_bytes / 4;
    bt_c512_weight_finish(&p->c5, (float *)p->partials, p->ntasks, (float *)p->w);
    return;
  }
  int64_t wn = p->g->oc * p->K;
  memcpy(p->w, p->partials, (size_t)(wn * p->es));
  for (int64_t t = 1; t < p->ntasks; t++) {
    const char *src = p->partials + t * p->partial_bytes;
    if (p->dt == BT_F32)
      for (int64_t k = 0; k < wn; k++) ((float *)p->w)[k] += ((const float *)src)[k];
    else
      for (int64_t k = 0; k < wn; k++) ((double *)p->w)[k] += ((const double *)src)[k];
  }
}

static const char *kind_name(Kind k) {
  return k == FORWARD ? "conv2d"
         : k == INPUT ? "conv2d (input gradient)" : "conv2d (weight gradient)";
}

/* Should the images be spread over the pool (single-threaded GEMMs)? */
static bool spread_images(const Plan *p, int nt) {
  return nt > 1 && (p->g->n >= 2 * nt || p->g->n % nt == 0);
}

/* The AVX-512 kernels, one image at a time over the pool. */
typedef struct {
  Plan *p;
  float *work, *out;
  const float *bias;
} SplitJob;

static void split_units(void *ctx, int64_t u0, int64_t u1) {
  SplitJob *j = ctx;
  bt_c512_run(&j->p->c5, u0, u1, j->work, j->bias, j->out);
}

static void split_finish(void *ctx, int64_t f0, int64_t f1) {
  SplitJob *j = ctx;
  bt_c512_finish(&j->p->c5, f0, f1, j->work, j->bias, j->out);
}

static int run_split(Plan *p) {
  const bt_ConvGeom *g = p->g;
  const C512 *c = &p->c5;
  const char *op = kind_name(p->kind);
  int64_t wbytes = p->kind == WEIGHT ? c->partial_floats * 4 : 0;
  int64_t bbytes = p->bias_out ? g->oc * (int64_t)sizeof(double) : 0;
  int64_t total = p->work_bytes + wbytes + bbytes;
  char *mem = bt_alloc(op, total, BT_CPU);
  if (!mem) return -1;
  float *work = (float *)mem, *acc = wbytes ? (float *)(mem + p->work_bytes) : NULL;
  double *bacc = bbytes ? (double *)(mem + p->work_bytes + wbytes) : NULL;
  if (acc) memset(acc, 0, (size_t)wbytes);
  if (bacc) memset(bacc, 0, (size_t)bbytes);
  int rc = 0;
  int64_t xn = g->c * g->h * g->w, yn = g->oc * p->P;
  for (int64_t n = 0; n < g->n && rc == 0; n++) {
    float *x = (float *)p->x + n * xn, *y = (float *)p->y + n * yn;
    SplitJob j = {p, work, NULL, (const float *)p->bias};
    if (p->kind == FORWARD) bt_c512_prepare(c, x, NULL, work, NULL), j.out = y;
    else if (p->kind == INPUT) bt_c512_prepare(c, y, NULL, work, NULL), j.out = x;
    else bt_c512_prepare(c, x, y, work, bacc), j.out = acc;
    rc = bt_parallel_for(bt_c512_units(c), 1, split_units, &j);
    if (rc == 0) rc = bt_parallel_for(bt_c512_finish_units(c), 1, split_finish, &j);
  }
  if (rc == 0 && p->kind == WEIGHT) {
    p->partials = (char *)acc;
    p->partial_bytes = wbytes;
    p->bias_partials = bacc;
    p->ntasks = 1;
    sum_partials(p);
  }
  bt_free(mem, total, BT_CPU);
  return rc;
}

/* Tasks over the pool, one workspace per thread. */
static int run_spread(Plan *p, int nt) {
  const bt_ConvGeom *g = p->g;
  const char *op = kind_name(p->kind);
  p->ntasks = BT_MIN(g->n, BT_MAX(16, 4 * (int64_t)nt));
  if (p->kind == WEIGHT) {
    p->partial_bytes = p->fast ? p->c5.partial_floats * 4 : g->oc * p->K * p->es;
    p->partial_bytes = (p->partial_bytes + 63) / 64 * 64;
    if (p->ntasks * p->partial_bytes > PARTIAL_BUDGET)
      p->ntasks = BT_MAX(BT_MIN(nt, g->n), BT_MIN(p->ntasks, PARTIAL_BUDGET / p->partial_bytes));
  }
  int nslots = (int)BT_MIN(BT_MIN(nt, 64), p->ntasks);
  int64_t pbytes = p->kind == WEIGHT ? p->ntasks * p->partial_bytes : 0;
  int64_t bbytes = p->bias_out ? p->ntasks * g->oc * (int64_t)sizeof(double) : 0;
  int64_t total = nslots * p->work_bytes + pbytes + bbytes;
  char *mem = total ? bt_alloc(op, total, BT_CPU) : NULL;
  if (total && !mem) return -1;
  p->work = mem;
  p->partials = pbytes ? mem + nslots * p->work_bytes : NULL;
  p->bias_partials = bbytes ? (double *)(mem + nslots * p->work_bytes + pbytes) : NULL;
  atomic_init(&p->free_slots, nslots == 64 ? ~0ull : (1ull << nslots) - 1);
  if (!p->fast) openblas_set_num_threads(1);
  int rc = bt_parallel_for(p->ntasks, 1, run_tasks, p);
  if (!p->fast) openblas_set_num_threads(nt);
  if (rc == 0 && p->kind == WEIGHT) sum_partials(p);
  bt_free(mem, total, BT_CPU);
  return rc;
}

/* Images one by one, threaded GEMMs and im2col/col2im. */
static int run_serial(Plan *p, int nt) {
  const bt_ConvGeom *g = p->g;
  const char *op = kind_name(p->kind);
  p->ntasks = 1;
  p->threaded_inner = nt > 1;
  int64_t bbytes = p->bias_out ? g->oc * (int64_t)sizeof(double) : 0;
  int64_t total = p->work_bytes + bbytes;
  char *mem = total ? bt_alloc(op, total, BT_CPU) : NULL;
  if (total && !mem) return -1;
  p->work = mem;
  p->bias_partials = bbytes ? (double *)(mem + p->work_bytes) : NULL;
  if (p->bias_partials) memset(p->bias_partials, 0, (size_t)bbytes);
  atomic_init(&p->free_slots, 1);
  if (p->kind == WEIGHT) memset(p->w, 0, (size_t)(g->oc * p->K * p->es));
  int rc = 0;
  for (int64_t n = 0; n < g->n && rc == 0; n++) {
    if (bt_interrupted()) rc = bt_seterr("%s: interrupted", op);
    else one_image(p, n, g->n, mem, p->kind == WEIGHT ? p->w : NULL, p->bias_partials);
  }
  if (rc == 0 && p->bias_out) {   /* the weight is already summed in place */
    p->partials = NULL;
    int64_t oc = g->oc;
    for (int64_t o = 0; o < oc; o++) {
      if (p->dt == BT_F32) ((float *)p->bias_out)[o] = (float)p->bias_partials[o];
      else ((double *)p->bias_out)[o] = p->bias_partials[o];
    }
  }
  bt_free(mem, total, BT_CPU);
  return rc;
}

static int run(Plan *p) {
  const char *op = kind_name(p->kind);
  int nt = bt_get_num_threads();
  if (p->fast) {
    const float *w = p->kind == WEIGHT ? NULL : (const float *)p->w;
    if (bt_c512_init(&p->c5, c512_kind[p->kind], p->g, w) < 0) return -1;
    p->work_bytes = p->c5.work_floats * 4;
  } else {
    p->work_bytes = p->direct ? 0 : p->K * p->band * p->g->ow * p->es;
  }
  p->work_bytes = (p->work_bytes + 63) / 64 * 64;
  int rc;
  if (p->fast) {   /* the AVX-512 kernels: images over the pool, or one image over the pool */
    int64_t n = p->g->n;
    bool split = nt > 1 && (n < nt || (n < 4 * nt && n % nt != 0));
    rc = split ? run_split(p) : run_spread(p, nt);
  } else {
    rc = spread_images(p, nt) ? run_spread(p, nt) : run_serial(p, nt);
  }
  if (p->fast) bt_c512_free(&p->c5);
  if (rc < 0 && strstr(bt_errmsg(), op) == NULL) bt_seterr("%s: interrupted", op);
  return rc;
}

/* ---- the kernels --------------------------------------------------------------- */

int bt_cpu_conv2d(bt_Tensor *y, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *bias,
                  const bt_ConvGeom *g) {
  Plan p;
  plan_init(&p, FORWARD, g, y->dtype);
  p.x = bt_data(x);
  p.y = bt_data(y);
  p.w = bt_data(w);
  p.bias = bias ? bt_data(bias) : NULL;
  return run(&p);
}

int bt_cpu_conv2d_input(bt_Tensor *x, const bt_Tensor *y, const bt_Tensor *w,
                        const bt_Tensor *bias, const bt_ConvGeom *g) {
  Plan p;
  plan_init(&p, INPUT, g, x->dtype);
  p.x = bt_data(x);
  p.y = bt_data(y);
  p.w = bt_data(w);
  p.bias = bias ? bt_data(bias) : NULL;
  return run(&p);
}

int bt_cpu_conv2d_weight(bt_Tensor *w, bt_Tensor *bias, const bt_Tensor *x, const bt_Tensor *y,
                         const bt_ConvGeom *g) {
  Plan p;
  plan_init(&p, WEIGHT, g, w->dtype);
  p.x = bt_data(x);
  p.y = bt_data(y);
  p.w = bt_data(w);
  p.bias_out = bias ? bt_data(bias) : NULL;
  return run(&p);
}
