/*
** test_pool.c: pooling and resampling ops (core/ops/nn_pool.c and
** core/cpu/pool.c): values against hand-computed results, indices, errors,
** gradients (first and second order) against central finite differences,
** dtypes and thread counts. PyTorch golden references are checked from Lua
** (tests/lua/nn_pool_spec.lua).
*/
#include "brasa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* ---- helpers --------------------------------------------------------------- */

static bt_Tensor *mk(bt_DType dt, int ndim, const int64_t *shape, const double *v) {
  bt_Tensor *t = bt_from_buffer(ndim, shape, dt, v, BT_F64);
  if (!t) printf("mk failed: %s\n", bt_errmsg());
  return t;
}

/* 1, 2, ..., n in shape. */
static bt_Tensor *iota(int ndim, const int64_t *shape, bt_DType dt) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  bt_Tensor *a = bt_arange(1, 1, n, dt);
  bt_Tensor *r = bt_reshape(a, ndim, shape);
  bt_release(a);
  return r;
}

/* Checks shape and values of t within tol (and releases it). */
static void expect(const char *label, bt_Tensor *t, int ndim, const int64_t *shape,
                   const double *v, double tol) {
  if (!t) {
    CHECK(false, "%s: returned NULL: %s", label, bt_errmsg());
    return;
  }
  bool shape_ok = t->ndim == ndim;
  for (int d = 0; shape_ok && d < ndim; d++) shape_ok = t->shape[d] == shape[d];
  char buf[128], want[128];
  CHECK(shape_ok, "%s: shape %s, expected %s", label, bt_shape_str(t, buf),
        bt_shape_str_n(ndim, shape, want));
  if (shape_ok) {
    int64_t n = bt_numel(t), bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
      if (!(fabs(bt_get_flat(t, i) - v[i]) <= tol)) bad = i;
    CHECK(bad < 0, "%s: element %lld is %.9g, expected %.9g", label, (long long)bad,
          bad >= 0 ? bt_get_flat(t, bad) : 0, bad >= 0 ? v[bad] : 0);
  }
  bt_release(t);
}

#define EXPECT(label, t, ndim, shape, ...) expect(label, t, ndim, shape, VALS(__VA_ARGS__), 1e-6)

/* A call that must fail: NULL and a message containing op and `also`. */
static void expect_error(const char *label, bt_Tensor *t, const char *op, const char *also) {
  CHECK(t == NULL, "%s: expected an error, got a tensor", label);
  bt_release(t);
  CHECK(strstr(bt_errmsg(), op) != NULL, "%s: message does not name %s: '%s'", label, op,
        bt_errmsg());
  if (also)
    CHECK(strstr(bt_errmsg(), also) != NULL, "%s: message lacks '%s': '%s'", label, also,
          bt_errmsg());
}

static bt_PoolOpts opts(int64_t k, int64_t s, int64_t p) {
  bt_PoolOpts o = {{k, k}, {s, s}, {p, p}, {1, 1}, false, true, 0};
  return o;
}

/* Deterministic weights in [-1, 1] (an LCG), f64, of t's shape. */
/* ---- values ------------------------------------------------------------------- */

static void test_max_pool(void) {
  bt_Tensor *x = iota(4, SHAPE(1, 1, 4, 4), BT_F32), *ix = NULL;
  bt_PoolOpts o = opts(2, 0, 0);
  bt_Tensor *y = bt_max_pool2d(x, &o, &ix);
  EXPECT("max_pool2d 2x2", y, 4, SHAPE(1, 1, 2, 2), 6, 8, 14, 16);
  EXPECT("max_pool2d 2x2 indices", ix, 4, SHAPE(1, 1, 2, 2), 5, 7, 13, 15);
  o = opts(3, 2, 1);
  o.ceil_mode = true;
  EXPECT("max_pool2d k3 s2 p1 ceil", bt_max_pool2d(x, &o, NULL), 4, SHAPE(1, 1, 3, 3),
         6, 8, 8, 14, 16, 16, 14, 16, 16);
  o = opts(2, 1, 0);
  o.dilation[0] = o.dilation[1] = 2;
  EXPECT("max_pool2d dilation 2", bt_max_pool2d(x, &o, NULL), 4, SHAPE(1, 1, 2, 2), 11, 12, 15, 16);
  bt_Tensor *x3 = iota(3, SHAPE(2, 3, 3), BT_F64);   /* unbatched [C, H, W] */
  o = opts(2, 1, 0);
  EXPECT("max_pool2d unbatched", bt_max_pool2d(x3, &o, NULL), 3, SHAPE(2, 2, 2),
         5, 6, 8, 9, 14, 15, 17, 18);
  bt_Tensor *l = mk(BT_F64, 3, SHAPE(1, 1, 7), VALS(3, 1, 4, 1, 5, 9, 2));
  bt_PoolOpts o1 = {{3}, {2}, {1}, {0}, false, true, 0};
  bt_Tensor *i1 = NULL;
  EXPECT("max_pool1d k3 s2 p1", bt_max_pool1d(l, &o1, &i1), 3, SHAPE(1, 1, 4), 3, 4, 9, 9);
  EXPECT("max_pool1d indices", i1, 3, SHAPE(1, 1, 4), 0, 2, 5, 5);
  /* ties: the first; NaN propagates */
  bt_Tensor *t = mk(BT_F32, 4, SHAPE(1, 1, 2, 2), VALS(2, 2, 2, 1)), *ti = NULL;
  o = opts(2, 0, 0);
  bt_release(bt_max_pool2d(t, &o, &ti));
  EXPECT("max_pool2d tie index", ti, 4, SHAPE(1, 1, 1, 1), 0);
  bt_Tensor *nan = mk(BT_F64, 4, SHAPE(1, 1, 2, 2), VALS(1, NAN, 5, 2));
  bt_Tensor *ny = bt_max_pool2d(nan, &o, NULL);
  CHECK(ny && isnan(bt_get_flat(ny, 0)), "max_pool2d propagates NaN");
  bt_release(ny);
  bt_Tensor *all[] = {x, x3, l, t, nan};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

static void test_avg_pool(void) {
  bt_Tensor *x = iota(4, SHAPE(1, 1, 4, 4), BT_F64);
  bt_PoolOpts o = opts(2, 0, 0);
  EXPECT("avg_pool2d 2x2", bt_avg_pool2d(x, &o), 4, SHAPE(1, 1, 2, 2), 3.5, 5.5, 11.5, 13.5);
  o = opts(3, 2, 1);
  EXPECT("avg_pool2d k3 s2 p1 include pad", bt_avg_pool2d(x, &o), 4, SHAPE(1, 1, 2, 2),
         14.0 / 9, 30.0 / 9, 57.0 / 9, 99.0 / 9);
  o.count_include_pad = false;
  EXPECT("avg_pool2d k3 s2 p1 exclude pad", bt_avg_pool2d(x, &o), 4, SHAPE(1, 1, 2, 2),
         3.5, 5, 9.5, 11);
  o = opts(2, 0, 0);
  o.divisor_override = 2;
  EXPECT("avg_pool2d divisor_override", bt_avg_pool2d(x, &o), 4, SHAPE(1, 1, 2, 2), 7, 11, 23, 27);
  bt_Tensor *l = iota(2, SHAPE(1, 5), BT_F32);   /* unbatched [C, L] */
  bt_PoolOpts o1 = {{2}, {0}, {0}, {0}, true, true, 0};
  EXPECT("avg_pool1d ceil (last window clipped)", bt_avg_pool1d(l, &o1), 2, SHAPE(1, 3), 1.5, 3.5, 5);
  bt_release(x);
  bt_release(l);
}

static void test_adaptive(void) {
  bt_Tensor *x = iota(4, SHAPE(1, 1, 3, 4), BT_F64);
  EXPECT("adaptive_avg_pool2d 2x2 of 3x4", bt_adaptive_avg_pool2d(x, SHAPE(2, 2)), 4,
         SHAPE(1, 1, 2, 2), 3.5, 5.5, 7.5, 9.5);
  EXPECT("adaptive_avg_pool2d keeps a dim", bt_adaptive_avg_pool2d(x, SHAPE(1, -1)), 4,
         SHAPE(1, 1, 1, 4), 5, 6, 7, 8);
  bt_Tensor *ix = NULL;
  EXPECT("adaptive_max_pool2d 2x3", bt_adaptive_max_pool2d(x, SHAPE(2, 3), &ix), 4,
         SHAPE(1, 1, 2, 3), 6, 7, 8, 10, 11, 12);
  EXPECT("adaptive_max_pool2d indices", ix, 4, SHAPE(1, 1, 2, 3), 5, 6, 7, 9, 10, 11);
  bt_Tensor *l = mk(BT_F64, 3, SHAPE(1, 1, 5), VALS(3, 1, 4, 1, 5));
  EXPECT("adaptive_avg_pool1d 2 of 5", bt_adaptive_avg_pool1d(l, 2), 3, SHAPE(1, 1, 2),
         8.0 / 3, 10.0 / 3);
  EXPECT("adaptive_max_pool1d 2 of 5", bt_adaptive_max_pool1d(l, 2, NULL), 3, SHAPE(1, 1, 2), 4, 5);
  EXPECT("adaptive_avg_pool1d grows", bt_adaptive_avg_pool1d(l, 7), 3, SHAPE(1, 1, 7),
         3, 2, 2.5, 4, 2.5, 3, 5);
  bt_release(x);
  bt_release(l);
}

static void test_upsample(void) {
  bt_Tensor *x = mk(BT_F64, 4, SHAPE(1, 1, 2, 2), VALS(1, 2, 3, 4));
  EXPECT("nearest x2", bt_upsample2d(x, BT_UPSAMPLE_NEAREST, NULL, VALS(2, 2), false), 4,
         SHAPE(1, 1, 4, 4), 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4);
  EXPECT("nearest to 2x3", bt_upsample2d(x, BT_UPSAMPLE_NEAREST, SHAPE(2, 3), NULL, false), 4,
         SHAPE(1, 1, 2, 3), 1, 1, 2, 3, 3, 4);
  EXPECT("bilinear align_corners to 3x3", bt_upsample2d(x, BT_UPSAMPLE_LINEAR, SHAPE(3, 3), NULL, true),
         4, SHAPE(1, 1, 3, 3), 1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4);
  EXPECT("bilinear to 1x4", bt_upsample2d(x, BT_UPSAMPLE_LINEAR, SHAPE(1, 4), NULL, false), 4,
         SHAPE(1, 1, 1, 4), 2, 2.25, 2.75, 3);
  bt_Tensor *l = mk(BT_F32, 3, SHAPE(1, 1, 2), VALS(0, 10));
  EXPECT("linear align_corners to 5", bt_upsample1d(l, BT_UPSAMPLE_LINEAR, SHAPE(5), NULL, true), 3,
         SHAPE(1, 1, 5), 0, 2.5, 5, 7.5, 10);
  EXPECT("linear x2", bt_upsample1d(l, BT_UPSAMPLE_LINEAR, NULL, VALS(2), false), 3, SHAPE(1, 1, 4),
         0, 2.5, 7.5, 10);
  bt_release(l);
  /* global pooling drops the pooled dims (or keeps them with size 1) */
  EXPECT("global max 2-d", bt_global_pool(x, 2, true, false), 2, SHAPE(1, 1), 4);
  EXPECT("global avg 2-d keepdim", bt_global_pool(x, 2, false, true), 4, SHAPE(1, 1, 1, 1), 2.5);
  bt_Tensor *x3 = iota(3, SHAPE(2, 2, 3), BT_F32);
  EXPECT("global max 1-d", bt_global_pool(x3, 1, true, false), 2, SHAPE(2, 2), 3, 6, 9, 12);
  EXPECT("global avg 1-d", bt_global_pool(x3, 1, false, false), 2, SHAPE(2, 2), 2, 5, 8, 11);
  bt_Tensor *v = bt_zeros(1, SHAPE(3), BT_F32, BT_CPU_DEVICE);
  expect_error("global of a wrong rank", bt_global_pool(v, 2, true, false), "global_max_pool2d", "[3]");
  bt_release(v);
  bt_release(x3);
  bt_release(x);
}

/* Global max pooling (adaptive to 1 x 1: cpu/pool.c's vectorised planes)
** against a plain scan with max_rows's rules: the first largest value, a
** NaN wins over numbers (the last NaN), all -inf gives position 0. Plane
** sizes around the 16 accumulators; values with many ties, +-0, +-inf and
** NaNs; f32 and f64; 1-d and 2-d (one or two rows); 1 and 3 threads. */
static void test_global_max_planes(void) {
  const int64_t sizes[] = {1, 5, 15, 16, 17, 31, 33, 48, 198};
  const bt_DType dts[] = {BT_F32, BT_F64};
  const int planes = 12;
  int saved = bt_get_num_threads();
  uint64_t state = 12345;
  int cases = 0, good = 0;
  for (int th = 1; th <= 3; th += 2) {
    bt_set_num_threads(th);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
      int64_t n = sizes[si];
      double *v = malloc((size_t)(planes * n) * sizeof *v);
      for (int p = 0; p < planes; p++) {
        for (int64_t i = 0; i < n; i++) {
          state = state * 6364136223846793005ULL + 1442695040888963407ULL;
          v[p * n + i] = (double)((state >> 33) % 7) - 3;   /* -3..3: many ties */
        }
        double *r = v + p * n;
        switch (p) {
          case 1: r[n - 1] = 9; break;                                    /* the max last */
          case 2: r[n / 2] = NAN; break;                                  /* one NaN */
          case 3: r[0] = NAN; r[n - 1 > 0 ? n - 1 : 0] = NAN; break;      /* two: the last wins */
          case 4: for (int64_t i = 0; i < n; i++) r[i] = -INFINITY; break;
          case 5: r[n / 3] = INFINITY; break;
          case 6: for (int64_t i = 0; i < n; i++) r[i] = i % 2 ? 0.0 : -0.0; break;
          case 7: for (int64_t i = 0; i < n; i++) r[i] = -5 - (double)i; break;   /* the max first */
          default: break;
        }
      }
      for (size_t di = 0; di < sizeof dts / sizeof dts[0]; di++) {
        bt_Tensor *x1 = mk(dts[di], 3, SHAPE(3, planes / 3, n), v);
        /* 2-d planes of 1 x n, or 2 x n/2 when n is even (flat positions either way) */
        bt_Tensor *x2 = n % 2 ? bt_reshape(x1, 4, SHAPE(3, planes / 3, 1, n))
                              : bt_reshape(x1, 4, SHAPE(3, planes / 3, 2, n / 2));
        bt_Tensor *ix1 = NULL, *ix2 = NULL;
        bt_Tensor *y1 = bt_adaptive_max_pool1d(x1, 1, &ix1);
        bt_Tensor *y2 = bt_adaptive_max_pool2d(x2, SHAPE(1, 1), &ix2);
        bool ok = y1 && y2 && ix1 && ix2;
        for (int p = 0; ok && p < planes; p++) {
          const double *r = v + p * n;
          double m = -INFINITY;
          int64_t mi = 0;
          for (int64_t i = 0; i < n; i++)
            if (r[i] > m || r[i] != r[i]) m = r[i], mi = i;
          double got1 = bt_get_flat(y1, p), got2 = bt_get_flat(y2, p);
          bool same = isnan(m) ? isnan(got1) && isnan(got2)
                               : got1 == m && got2 == m && signbit(got1) == signbit(m) &&
                                 signbit(got2) == signbit(m);
          ok = same && bt_get_flat(ix1, p) == (double)mi && bt_get_flat(ix2, p) == (double)mi;
          if (!ok)
            printf("  global max: n %lld, plane %d, %s: got %g / %g at %g / %g, expected %g at %lld\n",
                   (long long)n, p, dts[di] == BT_F32 ? "f32" : "f64", got1, got2,
                   bt_get_flat(ix1, p), bt_get_flat(ix2, p), m, (long long)mi);
        }
        cases++;
        if (ok) good++;
        bt_Tensor *all[] = {x1, x2, ix1, ix2, y1, y2};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
      }
      free(v);
    }
  }
  CHECK(good == cases, "global max planes: %d of %d cases right", good, cases);
  bt_set_num_threads(saved);
}

/* ---- errors -------------------------------------------------------------------- */

static void test_errors(void) {
  bt_Tensor *x = bt_zeros(4, SHAPE(2, 3, 4, 4), BT_F32, BT_CPU_DEVICE);
  bt_PoolOpts o = opts(5, 0, 0);
  expect_error("kernel larger than the input", bt_max_pool2d(x, &o, NULL), "max_pool2d",
               "larger than the padded input");
  o = opts(3, 1, 2);
  expect_error("padding above half the kernel", bt_avg_pool2d(x, &o), "avg_pool2d",
               "half the kernel size");
  o = opts(0, 1, 0);
  expect_error("zero kernel", bt_max_pool2d(x, &o, NULL), "max_pool2d", "must be positive");
  o = opts(2, 0, 0);
  bt_Tensor *v = bt_zeros(2, SHAPE(4, 4), BT_F32, BT_CPU_DEVICE);
  expect_error("wrong rank", bt_max_pool2d(v, &o, NULL), "max_pool2d", "[4x4]");
  expect_error("1-d of a 4-D input", bt_max_pool1d(x, &o, NULL), "max_pool1d", "[2x3x4x4]");
  bt_Tensor *i = bt_zeros(4, SHAPE(1, 1, 4, 4), BT_I64, BT_CPU_DEVICE);
  expect_error("integer input", bt_avg_pool2d(i, &o), "avg_pool2d", "i64");
  expect_error("adaptive size 0", bt_adaptive_avg_pool2d(x, SHAPE(0, 2)), "adaptive_avg_pool2d",
               "positive");
  expect_error("upsample of a 3-D input", bt_upsample2d(v, BT_UPSAMPLE_NEAREST, SHAPE(2, 2), NULL, false),
               "upsample_nearest2d", "4-D");
  expect_error("upsample without a size", bt_upsample2d(x, BT_UPSAMPLE_LINEAR, NULL, NULL, false),
               "upsample_bilinear2d", "scale");
  /* the backward op checks its indices */
  bt_Tensor *g = bt_ones(4, SHAPE(1, 1, 1, 1), BT_F32, BT_CPU_DEVICE);
  int64_t bad_ix = 16;
  bt_Tensor *bi = bt_from_buffer(4, SHAPE(1, 1, 1, 1), BT_I64, &bad_ix, BT_I64);
  expect_error("index out of range", bt_max_pool2d_backward(g, bi, 4, SHAPE(1, 1, 4, 4)),
               "max_pool2d_backward", "out of range");
  expect_error("shapes that do not match", bt_max_pool2d_backward(g, bi, 4, SHAPE(2, 1, 4, 4)),
               "max_pool2d_backward", "does not match");
  bt_Tensor *all[] = {x, v, i, g, bi};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- gradients ------------------------------------------------------------------- */

typedef struct {
  int kind;
  bt_PoolOpts o;
} G;

static bt_Tensor *f_pool(bt_Tensor *x, void *ud) {
  G *g = ud;
  switch (g->kind) {
    case 0: return bt_max_pool2d(x, &g->o, NULL);
    case 1: return bt_avg_pool2d(x, &g->o);
    case 2: return bt_adaptive_avg_pool2d(x, SHAPE(3, 2));
    case 3: return bt_adaptive_max_pool2d(x, SHAPE(2, 3), NULL);
    case 4: return bt_upsample2d(x, BT_UPSAMPLE_NEAREST, NULL, VALS(1.5, 2), false);
    case 5: return bt_upsample2d(x, BT_UPSAMPLE_LINEAR, SHAPE(7, 3), NULL, false);
    case 6: return bt_upsample2d(x, BT_UPSAMPLE_LINEAR, SHAPE(4, 9), NULL, true);
    case 7: return bt_max_pool1d(x, &g->o, NULL);
    default: return bt_avg_pool1d(x, &g->o);
  }
}

static void test_gradients(void) {
  bt_manual_seed(5);
  bt_Tensor *x = bt_randn(4, SHAPE(2, 2, 5, 6), BT_F64);
  static const char *labels[] = {"max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                                 "adaptive_max_pool2d", "upsample nearest", "upsample bilinear",
                                 "upsample bilinear align_corners"};
  for (int kind = 0; kind < 7; kind++) {
    G g = {kind, opts(3, 2, 1)};
    g.o.ceil_mode = true;
    g.o.count_include_pad = kind != 1;
    char label[96];
    snprintf(label, sizeof label, "%s: first order", labels[kind]);
    gradcheck(label, f_pool, x, &g);
    snprintf(label, sizeof label, "%s: second order", labels[kind]);
    gradgradcheck(label, f_pool, x, &g);
  }
  bt_Tensor *l = bt_randn(3, SHAPE(2, 3, 9), BT_F64);
  G g1 = {7, {{3}, {2}, {1}, {2}, false, true, 0}};
  gradcheck("max_pool1d dilation 2: first order", f_pool, l, &g1);
  gradgradcheck("max_pool1d dilation 2: second order", f_pool, l, &g1);
  G g2 = {8, {{4}, {3}, {2}, {0}, true, false, 0}};
  gradcheck("avg_pool1d ceil exclude: first order", f_pool, l, &g2);
  gradgradcheck("avg_pool1d ceil exclude: second order", f_pool, l, &g2);
  bt_release(x);
  bt_release(l);
}

/* ---- dtypes, threads, graphs ------------------------------------------------------- */

static void test_misc(void) {
  /* f16 computes in f32 and keeps its dtype */
  bt_Tensor *x = iota(4, SHAPE(1, 1, 4, 4), BT_F16);
  bt_PoolOpts o = opts(2, 0, 0);
  bt_Tensor *y = bt_avg_pool2d(x, &o);
  CHECK(y && y->dtype == BT_F16, "avg_pool2d of f16 is f16");
  EXPECT("avg_pool2d f16", y, 4, SHAPE(1, 1, 2, 2), 3.5, 5.5, 11.5, 13.5);
  bt_release(x);

  /* the same on 1 and 4 threads (backward adds within one plane per task) */
  int nt = bt_get_num_threads();
  bt_manual_seed(9);
  bt_Tensor *big = bt_randn(4, SHAPE(16, 8, 21, 19), BT_F32);
  bt_Tensor *res[2][2];
  for (int r = 0; r < 2; r++) {
    bt_set_num_threads(r ? 4 : 1);
    bt_Tensor *xb = bt_detach(big);
    bt_requires_grad_(xb, true);
    bt_PoolOpts p = opts(3, 2, 1);
    bt_Tensor *a = bt_max_pool2d(xb, &p, NULL), *b = bt_avg_pool2d(xb, &p);
    bt_Tensor *s = bt_add(a, b);
    bt_Tensor *u = bt_upsample2d(s, BT_UPSAMPLE_LINEAR, SHAPE(23, 17), NULL, false);
    bt_Tensor *w = bt_mul(u, u), *t = bt_sum(w, BT_REDUCE_ALL, false), *g = NULL;
    bt_grad(1, &t, NULL, 1, &xb, &g, NULL);
    res[r][0] = u;
    res[r][1] = g;
    bt_Tensor *tmp[] = {xb, a, b, s, w, t};
    for (size_t k = 0; k < sizeof tmp / sizeof tmp[0]; k++) bt_release(tmp[k]);
  }
  bt_set_num_threads(nt);
  for (int k = 0; k < 2; k++) {
    bool same = res[0][k] && res[1][k] && bt_numel(res[0][k]) == bt_numel(res[1][k]);
    for (int64_t i = 0; same && i < bt_numel(res[0][k]); i++)
      same = bt_get_flat(res[0][k], i) == bt_get_flat(res[1][k], i);
    CHECK(same, "%s identical on 1 and 4 threads", k ? "gradients" : "values");
    bt_release(res[0][k]);
    bt_release(res[1][k]);
  }
  bt_release(big);

  /* nodes only where needed */
  bt_Tensor *z = bt_randn(4, SHAPE(1, 1, 4, 4), BT_F32);
  bt_requires_grad_(z, true);
  bt_Tensor *m = bt_max_pool2d(z, &o, NULL);
  CHECK(m && strcmp(bt_grad_fn_name(m), "MaxPool2dBackward") == 0, "MaxPool2dBackward recorded");
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *m2 = bt_max_pool2d(z, &o, NULL);
  bt_set_grad_enabled(prev);
  CHECK(m2 && !m2->requires_grad && !m2->grad_fn, "no graph under no_grad");
  bt_release(m);
  bt_release(m2);
  bt_release(z);
}

int main(void) {
  test_max_pool();
  test_avg_pool();
  test_adaptive();
  test_upsample();
  test_global_max_planes();
  test_errors();
  test_gradients();
  test_misc();
  return check_report();
}
