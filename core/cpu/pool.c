/*
** cpu/pool.c: pooling and resampling kernels over planes: max and average
** pooling (fixed or adaptive windows), their backward passes, and nearest
** and (bi)linear upsampling with its adjoint.
**
** Every kernel sees contiguous [P, H, W] tensors, P = N * C planes, f32 or
** f64 (the op in ops/nn_pool.c has checked shapes and converted). A window
** is separable: along each axis, output position i reads `taps[i]` input
** positions first[i], first[i] + step, ... (all inside the input; padding
** is simply never read), so a plan of three small arrays per axis serves
** fixed windows (kernel, stride, padding, dilation, ceil mode) and
** adaptive ones alike, and the average's divisor is a product of per-axis
** factors. The formulas are PyTorch 1.13's (aten/src/ATen/native/cpu).
**
** Forward kernels write disjoint output rows and are split over P * OH
** rows; backward kernels add into overlapping input windows and are split
** over whole planes, so no two tasks write the same element and results do
** not depend on the number of threads.
*/
#include "kernels.h"

/* ---- window plans ---------------------------------------------------------------- */

typedef struct {
  int64_t n;         /* output positions along the axis */
  int64_t step;      /* distance between taps (the dilation) */
  int64_t *first;    /* first tap inside the input */
  int64_t *taps;     /* taps inside the input (>= 0) */
  int64_t *span;     /* the window clipped to the padded input: count_include_pad's divisor */
} Axis;

static void axis_free(Axis *a) {
  if (a->first) bt_free(a->first, 3 * a->n * (int64_t)sizeof(int64_t), BT_CPU);
  a->first = NULL;
}

/* Plans one axis: `in` input and `out` output positions; d selects the
** axis in o; o NULL gives adaptive windows [floor(i*in/out), ceil((i+1)*in/out)). */
static int axis_plan(Axis *a, const char *op, int64_t in, int64_t out, const bt_PoolOpts *o, int d,
                     bool is_max) {
  a->n = out;
  a->step = 1;
  a->first = bt_alloc(op, 3 * BT_MAX(out, 1) * (int64_t)sizeof(int64_t), BT_CPU);
  if (!a->first) return -1;
  a->n = BT_MAX(out, 1);
  a->taps = a->first + a->n;
  a->span = a->taps + a->n;
  for (int64_t i = 0; i < out; i++) {
    int64_t f, t, s;
    if (!o) {
      f = i * in / out;
      int64_t e = ((i + 1) * in + out - 1) / out;
      t = s = e - f;
    } else if (is_max) {
      int64_t k = o->kernel[d], dil = o->dilation[d], start = i * o->stride[d] - o->padding[d];
      int64_t end = BT_MIN(start + (k - 1) * dil + 1, in);
      f = start < 0 ? start + (-start + dil - 1) / dil * dil : start;
      t = s = f < end ? (end - f + dil - 1) / dil : 0;
      a->step = dil;
    } else {
      int64_t k = o->kernel[d], p = o->padding[d], start = i * o->stride[d] - p;
      int64_t endp = BT_MIN(start + k, in + p);
      s = endp - start;
      f = BT_MAX(start, 0);
      t = BT_MAX(BT_MIN(endp, in) - f, 0);
    }
    a->first[i] = f;
    a->taps[i] = t;
    a->span[i] = s;
  }
  return 0;
}

typedef struct {
  const char *op;
  Axis ah, aw;
  int64_t H, W, OH, OW;
  const void *in;
  void *out;
  int64_t *indices;              /* max: argmax positions, or NULL */
  const int64_t *cindices;       /* max backward */
  const bt_PoolOpts *o;          /* average: divisor rules (NULL: adaptive) */
  int bad;                       /* max backward: an index out of range */
  int64_t bad_value;
} Pool;

static int plan(Pool *c, const char *op, const bt_Tensor *in, const bt_Tensor *out,
                const bt_PoolOpts *o, bool is_max) {
  memset(c, 0, sizeof *c);
  c->op = op;
  c->H = in->shape[1];
  c->W = in->shape[2];
  c->OH = out->shape[1];
  c->OW = out->shape[2];
  c->o = o;
  if (axis_plan(&c->ah, op, c->H, c->OH, o, 0, is_max) < 0) return -1;
  if (axis_plan(&c->aw, op, c->W, c->OW, o, 1, is_max) < 0) {
    axis_free(&c->ah);
    return -1;
  }
  return 0;
}

static void unplan(Pool *c) {
  axis_free(&c->ah);
  axis_free(&c->aw);
}

/* The average's divisor at (oh, ow); 0 when the window has no input. */
static inline int64_t divisor(const Pool *c, int64_t oh, int64_t ow) {
  int64_t n = c->ah.taps[oh] * c->aw.taps[ow];
  if (n == 0) return 0;
  if (!c->o) return n;
  if (c->o->divisor_override) return c->o->divisor_override;
  return c->o->count_include_pad ? c->ah.span[oh] * c->aw.span[ow] : n;
}

/* Items of at least ~32k element visits per task. */
static int64_t grain_for(int64_t work_per_item) {
  return BT_MAX(1, 32768 / BT_MAX(work_per_item, 1));
}

/* ---- max pooling ------------------------------------------------------------------- */

/* Rows [begin, end) of out [P, OH, OW] (row r = p * OH + oh). The first
** largest value wins; a NaN wins over numbers (the last NaN, as PyTorch). */
#define DEFINE_MAX_ROWS(NAME, T)                                                         \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Pool *c = ctx;                                                                 \
    const int64_t W = c->W, OH = c->OH, OW = c->OW, sh = c->ah.step, sw = c->aw.step;   \
    for (int64_t r = begin; r < end; r++) {                                              \
      int64_t p = r / OH, oh = r % OH;                                                   \
      const T *src = (const T *)c->in + p * c->H * W;                                    \
      T *dst = (T *)c->out + r * OW;                                                     \
      int64_t *ix = c->indices ? c->indices + r * OW : NULL;                             \
      int64_t h0 = c->ah.first[oh], nh = c->ah.taps[oh];                                 \
      for (int64_t ow = 0; ow < OW; ow++) {                                              \
        int64_t w0 = c->aw.first[ow], nw = c->aw.taps[ow];                               \
        T m = (T)-INFINITY;                                                              \
        int64_t mi = nh && nw ? h0 * W + w0 : -1;                                        \
        for (int64_t th = 0; th < nh; th++) {                                            \
          int64_t row = (h0 + th * sh) * W + w0;                                         \
          for (int64_t tw = 0, at = row; tw < nw; tw++, at += sw) {                      \
            T v = src[at];                                                               \
            bool win = v > m || v != v;                                                  \
            m = win ? v : m;                                                             \
            mi = win ? at : mi;                                                          \
          }                                                                              \
        }                                                                                \
        dst[ow] = m;                                                                     \
        if (ix) ix[ow] = mi;                                                             \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_MAX_ROWS(max_rows_f32, float)
DEFINE_MAX_ROWS(max_rows_f64, double)

/* Global windows (adaptive pooling to 1 x 1: GlobalMaxPool1d/2d): planes
** [begin, end), each one window of H * W contiguous values, with the
** result of max_rows (the first largest value; a NaN wins, the last one).
** max_rows's scan carries its value and index from one element to the next
** (4 ms on one core for the course's text CNN's 128 x 64 x 198 in a batch);
** here the maximum comes from LANES independent accumulators, which the
** compiler vectorises, with a flag per lane for NaNs, then a short scan
** finds its first position (or the last NaN's): 0.8 ms. */
#define LANES 16
#define DEFINE_MAX_PLANES(NAME, T, I)                                                    \
  MAX_PLANES_KERNEL static void NAME(void *ctx, int64_t begin, int64_t end) {            \
    const Pool *c = ctx;                                                                 \
    const int64_t n = c->H * c->W;                                                       \
    for (int64_t p = begin; p < end; p++) {                                              \
      const T *src = (const T *)c->in + p * n;                                           \
      T acc[LANES];                                                                      \
      I nan[LANES];                                                                      \
      for (int k = 0; k < LANES; k++) acc[k] = (T)-INFINITY, nan[k] = 0;                 \
      int64_t i = 0;                                                                     \
      for (; i + LANES <= n; i += LANES)                                                 \
        for (int k = 0; k < LANES; k++) {                                                \
          T v = src[i + k];                                                              \
          acc[k] = v > acc[k] ? v : acc[k];                                              \
          nan[k] |= v != v;                                                              \
        }                                                                                \
      T m = (T)-INFINITY;                                                                \
      I any_nan = 0;                                                                     \
      for (int k = 0; k < LANES; k++) {                                                  \
        m = acc[k] > m ? acc[k] : m;                                                     \
        any_nan |= nan[k];                                                               \
      }                                                                                  \
      for (; i < n; i++) {                                                               \
        T v = src[i];                                                                    \
        m = v > m ? v : m;                                                               \
        any_nan |= v != v;                                                               \
      }                                                                                  \
      int64_t mi = 0;                                                                    \
      if (any_nan) {                                                                     \
        for (mi = n - 1; mi > 0 && src[mi] == src[mi]; mi--) {}                          \
      } else {                                                                           \
        while (mi < n - 1 && src[mi] != m) mi++;                                         \
      }                                                                                  \
      ((T *)c->out)[p] = src[mi];                                                        \
      if (c->indices) c->indices[p] = mi;                                                \
    }                                                                                    \
  }

#define MAX_PLANES_KERNEL BT_TARGET_CLONES
DEFINE_MAX_PLANES(max_planes_f32, float, int32_t)
DEFINE_MAX_PLANES(max_planes_f64, double, int64_t)

/* The common case of 2x2 windows, stride 2, no padding or dilation, inside
** the input (no bounds to consult). Written so that GCC vectorises both
** loops (conditional selects, no branches: a scan's branches mispredict
** half of the time on random data, which made this 5x slower). */
#define DEFINE_MAX_2X2(NAME, T)                                                          \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Pool *c = ctx;                                                                 \
    const int64_t W = c->W, OH = c->OH, OW = c->OW;                                      \
    for (int64_t r = begin; r < end; r++) {                                              \
      int64_t p = r / OH, oh = r % OH;                                                   \
      const T *a = (const T *)c->in + p * c->H * W + 2 * oh * W, *b = a + W;             \
      T *dst = (T *)c->out + r * OW;                                                     \
      if (!c->indices) {                                                                 \
        for (int64_t ow = 0; ow < OW; ow++) {                                            \
          T v0 = a[2 * ow], v1 = a[2 * ow + 1], v2 = b[2 * ow], v3 = b[2 * ow + 1];      \
          T m = v0;                                                                      \
          if (v1 > m || v1 != v1) m = v1;                                                \
          if (v2 > m || v2 != v2) m = v2;                                                \
          if (v3 > m || v3 != v3) m = v3;                                                \
          dst[ow] = m;                                                                   \
        }                                                                                \
        continue;                                                                        \
      }                                                                                  \
      int64_t *ix = c->indices + r * OW, top = 2 * oh * W;                               \
      for (int64_t ow = 0; ow < OW; ow++) {                                              \
        T v0 = a[2 * ow], v1 = a[2 * ow + 1], v2 = b[2 * ow], v3 = b[2 * ow + 1];        \
        int64_t k = top + 2 * ow, mi = k;                                                \
        T m = v0;                                                                        \
        if (v1 > m || v1 != v1) m = v1, mi = k + 1;                                      \
        if (v2 > m || v2 != v2) m = v2, mi = k + W;                                      \
        if (v3 > m || v3 != v3) m = v3, mi = k + W + 1;                                  \
        dst[ow] = m;                                                                     \
        ix[ow] = mi;                                                                     \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_MAX_2X2(max_2x2_f32, float)
DEFINE_MAX_2X2(max_2x2_f64, double)

static bool is_plain_2x2(const Pool *c, const bt_PoolOpts *o) {
  return o && o->kernel[0] == 2 && o->kernel[1] == 2 && o->stride[0] == 2 && o->stride[1] == 2 &&
         o->padding[0] == 0 && o->padding[1] == 0 && o->dilation[0] == 1 &&
         o->dilation[1] == 1 && 2 * c->OH <= c->H && 2 * c->OW <= c->W;
}

int bt_cpu_max_pool2d(bt_Tensor *out, bt_Tensor *indices, const bt_Tensor *in, const bt_PoolOpts *o) {
  const char *op = o ? "max_pool2d" : "adaptive_max_pool2d";
  Pool c;
  if (plan(&c, op, in, out, o, true) < 0) return -1;
  c.in = bt_data(in);
  c.out = bt_data(out);
  c.indices = indices ? bt_data(indices) : NULL;
  bool f32 = in->dtype == BT_F32, fast = is_plain_2x2(&c, o);
  bt_RangeFn fn = fast ? (f32 ? max_2x2_f32 : max_2x2_f64) : (f32 ? max_rows_f32 : max_rows_f64);
  if (!o && c.OH == 1 && c.OW == 1 && c.H * c.W > 0) fn = f32 ? max_planes_f32 : max_planes_f64;
  int64_t per_row = c.OW * (o ? o->kernel[0] * o->kernel[1] : (c.H / BT_MAX(c.OH, 1) + 1) * (c.W / BT_MAX(c.OW, 1) + 1));
  int rc = bt_parallel_for(out->shape[0] * c.OH, grain_for(per_row), fn, &c);
  unplan(&c);
  return rc < 0 ? bt_seterr("%s: interrupted", op) : 0;
}

/* Planes [begin, end) of gin [P, H, W]: zeroed, then gout added at the
** saved positions (-1: a window without input, skipped). */
#define DEFINE_MAX_BACKWARD(NAME, T)                                                     \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    Pool *c = ctx;                                                                       \
    const int64_t HW = c->H * c->W, OHW = c->OH * c->OW;                                 \
    for (int64_t p = begin; p < end; p++) {                                              \
      T *g = (T *)c->out + p * HW;                                                       \
      const T *go = (const T *)c->in + p * OHW;                                          \
      const int64_t *ix = c->cindices + p * OHW;                                         \
      memset(g, 0, (size_t)HW * sizeof(T));                                              \
      for (int64_t k = 0; k < OHW; k++) {                                                \
        int64_t i = ix[k];                                                               \
        if ((uint64_t)i < (uint64_t)HW) {                                                \
          g[i] += go[k];                                                                 \
        } else if (i != -1) {                                                            \
          if (__atomic_exchange_n(&c->bad, 1, __ATOMIC_ACQ_REL) == 0) c->bad_value = i;  \
          return;                                                                        \
        }                                                                                \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_MAX_BACKWARD(max_backward_f32, float)
DEFINE_MAX_BACKWARD(max_backward_f64, double)

/* Checks every index whatever `check` says: here it costs no wait. */
int bt_cpu_max_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_Tensor *indices,
                               bool check) {
  const char *op = "max_pool2d_backward";
  (void)check;
  Pool c;
  memset(&c, 0, sizeof c);
  c.H = gin->shape[1];
  c.W = gin->shape[2];
  c.OH = gout->shape[1];
  c.OW = gout->shape[2];
  c.in = bt_data(gout);
  c.out = bt_data(gin);
  c.cindices = bt_data(indices);
  bt_RangeFn fn = gin->dtype == BT_F32 ? max_backward_f32 : max_backward_f64;
  int rc = bt_parallel_for(gin->shape[0], grain_for(c.H * c.W + c.OH * c.OW), fn, &c);
  if (c.bad)
    return bt_seterr("%s: index %lld is out of range for input planes of %lldx%lld = %lld "
                     "elements (indices are 1-based and flat within each plane)", op,
                     (long long)c.bad_value + 1, (long long)c.H, (long long)c.W,
                     (long long)(c.H * c.W));
  return rc < 0 ? bt_seterr("%s: interrupted", op) : 0;
}

/* ---- average pooling ---------------------------------------------------------------- */

/* Rows [begin, end) of out [P, OH, OW]: the window's sum over its divisor
** (0 for a window without input). */
#define DEFINE_AVG_ROWS(NAME, T)                                                         \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Pool *c = ctx;                                                                 \
    const int64_t W = c->W, OH = c->OH, OW = c->OW;                                      \
    for (int64_t r = begin; r < end; r++) {                                              \
      int64_t p = r / OH, oh = r % OH;                                                   \
      const T *src = (const T *)c->in + p * c->H * W;                                    \
      T *dst = (T *)c->out + r * OW;                                                     \
      int64_t h0 = c->ah.first[oh], nh = c->ah.taps[oh];                                 \
      for (int64_t ow = 0; ow < OW; ow++) {                                              \
        int64_t w0 = c->aw.first[ow], nw = c->aw.taps[ow], div = divisor(c, oh, ow);     \
        T s = 0;                                                                         \
        for (int64_t th = 0; th < nh; th++) {                                            \
          const T *row = src + (h0 + th) * W + w0;                                       \
          for (int64_t tw = 0; tw < nw; tw++) s += row[tw];                              \
        }                                                                                \
        dst[ow] = div ? s / (T)div : (T)0;                                               \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_AVG_ROWS(avg_rows_f32, float)
DEFINE_AVG_ROWS(avg_rows_f64, double)

/* Rows of out for 2x2 windows, stride 2, no padding, inside the input: the
** divisor is 4 or the override (vectorised). */
#define DEFINE_AVG_2X2(NAME, T)                                                          \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Pool *c = ctx;                                                                 \
    const int64_t W = c->W, OH = c->OH, OW = c->OW;                                      \
    const T div = (T)(c->o->divisor_override ? c->o->divisor_override : 4);              \
    for (int64_t r = begin; r < end; r++) {                                              \
      int64_t p = r / OH, oh = r % OH;                                                   \
      const T *a = (const T *)c->in + p * c->H * W + 2 * oh * W, *b = a + W;             \
      T *dst = (T *)c->out + r * OW;                                                     \
      for (int64_t ow = 0; ow < OW; ow++)                                                \
        dst[ow] = (a[2 * ow] + a[2 * ow + 1] + b[2 * ow] + b[2 * ow + 1]) / div;         \
    }                                                                                    \
  }

DEFINE_AVG_2X2(avg_2x2_f32, float)
DEFINE_AVG_2X2(avg_2x2_f64, double)

int bt_cpu_avg_pool2d(bt_Tensor *out, const bt_Tensor *in, const bt_PoolOpts *o) {
  const char *op = o ? "avg_pool2d" : "adaptive_avg_pool2d";
  Pool c;
  if (plan(&c, op, in, out, o, false) < 0) return -1;
  c.in = bt_data(in);
  c.out = bt_data(out);
  bool f32 = in->dtype == BT_F32;
  bt_RangeFn fn = is_plain_2x2(&c, o) ? (f32 ? avg_2x2_f32 : avg_2x2_f64)
                                      : (f32 ? avg_rows_f32 : avg_rows_f64);
  int64_t per_row = c.OW * (o ? o->kernel[0] * o->kernel[1] : (c.H / BT_MAX(c.OH, 1) + 1) * (c.W / BT_MAX(c.OW, 1) + 1));
  int rc = bt_parallel_for(out->shape[0] * c.OH, grain_for(per_row), fn, &c);
  unplan(&c);
  return rc < 0 ? bt_seterr("%s: interrupted", op) : 0;
}

/* Planes [begin, end) of gin [P, H, W]: zeroed, then each gout element
** over its divisor added to every input of its window. */
#define DEFINE_AVG_BACKWARD(NAME, T)                                                     \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Pool *c = ctx;                                                                 \
    const int64_t W = c->W, OH = c->OH, OW = c->OW;                                      \
    for (int64_t p = begin; p < end; p++) {                                              \
      T *g = (T *)c->out + p * c->H * W;                                                 \
      const T *go = (const T *)c->in + p * OH * OW;                                      \
      memset(g, 0, (size_t)(c->H * W) * sizeof(T));                                      \
      for (int64_t oh = 0; oh < OH; oh++) {                                              \
        int64_t h0 = c->ah.first[oh], nh = c->ah.taps[oh];                               \
        for (int64_t ow = 0; ow < OW; ow++) {                                            \
          int64_t w0 = c->aw.first[ow], nw = c->aw.taps[ow], div = divisor(c, oh, ow);   \
          if (!div) continue;                                                            \
          T v = go[oh * OW + ow] / (T)div;                                               \
          for (int64_t th = 0; th < nh; th++) {                                          \
            T *row = g + (h0 + th) * W + w0;                                             \
            for (int64_t tw = 0; tw < nw; tw++) row[tw] += v;                            \
          }                                                                              \
        }                                                                                \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_AVG_BACKWARD(avg_backward_f32, float)
DEFINE_AVG_BACKWARD(avg_backward_f64, double)

/* Planes of gin for 2x2 windows, stride 2, no padding: every input is in at
** most one window, so each gets its window's share or (a last odd row or
** column) zero: one write per element, no accumulation. */
#define DEFINE_AVG_BACKWARD_2X2(NAME, T)                                                 \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Pool *c = ctx;                                                                 \
    const int64_t H = c->H, W = c->W, OH = c->OH, OW = c->OW;                            \
    const T div = (T)(c->o->divisor_override ? c->o->divisor_override : 4);              \
    for (int64_t p = begin; p < end; p++) {                                              \
      T *g = (T *)c->out + p * H * W;                                                    \
      const T *go = (const T *)c->in + p * OH * OW;                                      \
      for (int64_t oh = 0; oh < OH; oh++) {                                              \
        T *a = g + 2 * oh * W, *b = a + W;                                               \
        const T *gr = go + oh * OW;                                                      \
        for (int64_t ow = 0; ow < OW; ow++) {                                            \
          T v = gr[ow] / div;                                                            \
          a[2 * ow] = a[2 * ow + 1] = b[2 * ow] = b[2 * ow + 1] = v;                     \
        }                                                                                \
        for (int64_t w = 2 * OW; w < W; w++) a[w] = b[w] = 0;                            \
      }                                                                                  \
      if (2 * OH < H) memset(g + 2 * OH * W, 0, (size_t)((H - 2 * OH) * W) * sizeof(T));  \
    }                                                                                    \
  }

DEFINE_AVG_BACKWARD_2X2(avg_backward_2x2_f32, float)
DEFINE_AVG_BACKWARD_2X2(avg_backward_2x2_f64, double)

int bt_cpu_avg_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_PoolOpts *o) {
  const char *op = o ? "avg_pool2d_backward" : "adaptive_avg_pool2d_backward";
  Pool c;
  if (plan(&c, op, gin, gout, o, false) < 0) return -1;
  c.in = bt_data(gout);
  c.out = bt_data(gin);
  bool f32 = gin->dtype == BT_F32;
  bt_RangeFn fn = is_plain_2x2(&c, o) ? (f32 ? avg_backward_2x2_f32 : avg_backward_2x2_f64)
                                      : (f32 ? avg_backward_f32 : avg_backward_f64);
  int64_t per_plane = c.H * c.W + c.OH * c.OW * (o ? o->kernel[0] * o->kernel[1] : 4);
  int rc = bt_parallel_for(gin->shape[0], grain_for(per_plane), fn, &c);
  unplan(&c);
  return rc < 0 ? bt_seterr("%s: interrupted", op) : 0;
}

/* ---- upsampling ----------------------------------------------------------------------- */

/* One axis of a resampling: output i reads i0[i] (nearest: only that) or
** l0[i] * x[i0[i]] + l1[i] * x[i1[i]] (linear). */
typedef struct {
  int64_t n;
  int64_t *i0, *i1;
  double *l0, *l1;
} Lerp;

/* PyTorch's compute_scales_value: 1 / scale when given, else in / out. */
static double scale_value(double scale, int64_t in, int64_t out) {
  return scale > 0 ? 1.0 / scale : (double)in / (double)out;
}

static int lerp_plan(Lerp *a, int64_t in, int64_t out, bt_UpsampleMode mode, double scale,
                     bool align_corners) {
  a->n = BT_MAX(out, 1);
  int64_t bytes = 2 * a->n * (int64_t)(sizeof(int64_t) + sizeof(double));
  char *mem = bt_alloc("upsample", bytes, BT_CPU);
  if (!mem) return -1;
  a->i0 = (int64_t *)mem;
  a->i1 = a->i0 + a->n;
  a->l0 = (double *)(a->i1 + a->n);
  a->l1 = a->l0 + a->n;
  if (mode == BT_UPSAMPLE_NEAREST) {
    /* nearest_idx: exact copies for out == in and out == 2 in; else
    ** floor(i * s) in single precision, as PyTorch computes it. */
    float s = (float)scale_value(scale, in, out);
    for (int64_t i = 0; i < out; i++) {
      int64_t j = out == in ? i : out == 2 * in ? i >> 1 : (int64_t)floorf((float)i * s);
      a->i0[i] = a->i1[i] = BT_MIN(j, in - 1);
      a->l0[i] = 1;
      a->l1[i] = 0;
    }
    return 0;
  }
  double s = align_corners ? (out > 1 ? (double)(in - 1) / (double)(out - 1) : 0)
                           : scale_value(scale, in, out);
  for (int64_t i = 0; i < out; i++) {
    double x = align_corners ? s * (double)i : BT_MAX(s * ((double)i + 0.5) - 0.5, 0.0);
    int64_t j = BT_MIN((int64_t)x, in - 1);
    double l = BT_MIN(BT_MAX(x - (double)j, 0.0), 1.0);
    a->i0[i] = j;
    a->i1[i] = j + (j < in - 1 ? 1 : 0);
    a->l0[i] = 1 - l;
    a->l1[i] = l;
  }
  return 0;
}

static void lerp_free(Lerp *a) {
  if (a->i0) bt_free(a->i0, 2 * a->n * (int64_t)(sizeof(int64_t) + sizeof(double)), BT_CPU);
  a->i0 = NULL;
}

typedef struct {
  Lerp ah, aw;
  int64_t H, W, OH, OW;
  bool nearest;
  const void *in;
  void *out;
} Resample;

static int resample_plan(Resample *c, const bt_Tensor *small, const bt_Tensor *big,
                         bt_UpsampleMode mode, const double *scales, bool align_corners) {
  memset(c, 0, sizeof *c);
  c->H = small->shape[1];
  c->W = small->shape[2];
  c->OH = big->shape[1];
  c->OW = big->shape[2];
  c->nearest = mode == BT_UPSAMPLE_NEAREST;
  double sh = scales ? scales[0] : 0, sw = scales ? scales[1] : 0;
  if (lerp_plan(&c->ah, c->H, c->OH, mode, sh, align_corners) < 0) return -1;
  if (lerp_plan(&c->aw, c->W, c->OW, mode, sw, align_corners) < 0) {
    lerp_free(&c->ah);
    return -1;
  }
  return 0;
}

static void resample_unplan(Resample *c) {
  lerp_free(&c->ah);
  lerp_free(&c->aw);
}

/* Rows [begin, end) of out [P, OH, OW] from in [P, H, W]. */
#define DEFINE_RESAMPLE_ROWS(NAME, T)                                                    \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Resample *c = ctx;                                                             \
    const int64_t W = c->W, OH = c->OH, OW = c->OW;                                      \
    const Lerp *aw = &c->aw;                                                             \
    for (int64_t r = begin; r < end; r++) {                                              \
      int64_t p = r / OH, oh = r % OH;                                                   \
      const T *src = (const T *)c->in + p * c->H * W;                                    \
      const T *r0 = src + c->ah.i0[oh] * W, *r1 = src + c->ah.i1[oh] * W;                \
      T *dst = (T *)c->out + r * OW;                                                     \
      if (c->nearest) {                                                                  \
        for (int64_t ow = 0; ow < OW; ow++) dst[ow] = r0[aw->i0[ow]];                    \
        continue;                                                                        \
      }                                                                                  \
      T a0 = (T)c->ah.l0[oh], a1 = (T)c->ah.l1[oh];                                      \
      for (int64_t ow = 0; ow < OW; ow++) {                                              \
        int64_t j0 = aw->i0[ow], j1 = aw->i1[ow];                                        \
        T b0 = (T)aw->l0[ow], b1 = (T)aw->l1[ow];                                        \
        dst[ow] = a0 * (b0 * r0[j0] + b1 * r0[j1]) + a1 * (b0 * r1[j0] + b1 * r1[j1]);   \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_RESAMPLE_ROWS(resample_rows_f32, float)
DEFINE_RESAMPLE_ROWS(resample_rows_f64, double)

int bt_cpu_upsample2d(bt_Tensor *out, const bt_Tensor *in, bt_UpsampleMode mode,
                      const double *scales, bool align_corners) {
  Resample c;
  if (resample_plan(&c, in, out, mode, scales, align_corners) < 0) return -1;
  c.in = bt_data(in);
  c.out = bt_data(out);
  bt_RangeFn fn = in->dtype == BT_F32 ? resample_rows_f32 : resample_rows_f64;
  int rc = bt_parallel_for(out->shape[0] * c.OH, grain_for(4 * c.OW), fn, &c);
  resample_unplan(&c);
  return rc < 0 ? bt_seterr("upsample: interrupted") : 0;
}

/* Planes [begin, end) of gin [P, H, W]: zeroed, then every gout element
** added back to the inputs it was made of, with the same weights. */
#define DEFINE_RESAMPLE_BACKWARD(NAME, T)                                                \
  static void NAME(void *ctx, int64_t begin, int64_t end) {                             \
    const Resample *c = ctx;                                                             \
    const int64_t W = c->W, OH = c->OH, OW = c->OW;                                      \
    const Lerp *aw = &c->aw;                                                             \
    for (int64_t p = begin; p < end; p++) {                                              \
      T *g = (T *)c->out + p * c->H * W;                                                 \
      const T *go = (const T *)c->in + p * OH * OW;                                      \
      memset(g, 0, (size_t)(c->H * W) * sizeof(T));                                      \
      for (int64_t oh = 0; oh < OH; oh++) {                                              \
        T *r0 = g + c->ah.i0[oh] * W, *r1 = g + c->ah.i1[oh] * W;                        \
        const T *gr = go + oh * OW;                                                      \
        if (c->nearest) {                                                                \
          for (int64_t ow = 0; ow < OW; ow++) r0[aw->i0[ow]] += gr[ow];                  \
          continue;                                                                      \
        }                                                                                \
        T a0 = (T)c->ah.l0[oh], a1 = (T)c->ah.l1[oh];                                    \
        for (int64_t ow = 0; ow < OW; ow++) {                                            \
          int64_t j0 = aw->i0[ow], j1 = aw->i1[ow];                                      \
          T b0 = (T)aw->l0[ow], b1 = (T)aw->l1[ow], v = gr[ow];                          \
          r0[j0] += a0 * b0 * v;                                                         \
          r0[j1] += a0 * b1 * v;                                                         \
          r1[j0] += a1 * b0 * v;                                                         \
          r1[j1] += a1 * b1 * v;                                                         \
        }                                                                                \
      }                                                                                  \
    }                                                                                    \
  }

DEFINE_RESAMPLE_BACKWARD(resample_backward_f32, float)
DEFINE_RESAMPLE_BACKWARD(resample_backward_f64, double)

int bt_cpu_upsample2d_backward(bt_Tensor *gin, const bt_Tensor *gout, bt_UpsampleMode mode,
                               const double *scales, bool align_corners) {
  Resample c;
  if (resample_plan(&c, gin, gout, mode, scales, align_corners) < 0) return -1;
  c.in = bt_data(gout);
  c.out = bt_data(gin);
  bt_RangeFn fn = gin->dtype == BT_F32 ? resample_backward_f32 : resample_backward_f64;
  int rc = bt_parallel_for(gin->shape[0], grain_for(c.H * c.W + 4 * c.OH * c.OW), fn, &c);
  resample_unplan(&c);
  return rc < 0 ? bt_seterr("upsample_backward: interrupted") : 0;
}
