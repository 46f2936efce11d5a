/*
** test_conv.c: convolutions (core/ops/nn_conv.c, core/cpu/conv.c and
** conv_avx512.c): hand-computed values; the three primitives (conv2d, its
** input and weight adjoints) against a plain-loop reference on many random
** geometries, through both CPU paths (AVX-512 where the CPU has it, and the
** im2col + OpenBLAS path forced with BRASA_CONV_GENERIC=1), on 1 and 2
** threads; the fused weight + bias backward; 1-d and transposed forms;
** gradients (first and second order) against central finite differences;
** and the errors bad arguments give.
*/
#include "brasa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- helpers --------------------------------------------------------------- */

static bt_Tensor *mk(bt_DType dt, int ndim, const int64_t *shape, const double *v) {
  bt_Tensor *t = bt_from_buffer(ndim, shape, dt, v, BT_F64);
  if (!t) printf("mk failed: %s\n", bt_errmsg());
  return t;
}

static uint64_t rng_state = 12345;
static double urand(void) {   /* in [-1, 1) */
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (double)(rng_state >> 11) / 9007199254740992.0 * 2 - 1;
}
static int64_t irand(int64_t lo, int64_t hi) {   /* in [lo, hi] */
  return lo + (int64_t)((urand() + 1) / 2 * (double)(hi - lo + 1)) % (hi - lo + 1);
}

/* A tensor of random values in [-1, 1) (also returned as doubles in *v). */
static bt_Tensor *rand_tensor(bt_DType dt, int ndim, const int64_t *shape, double **v) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  double *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
  for (int64_t i = 0; i < n; i++) buf[i] = urand();
  bt_Tensor *t = mk(dt, ndim, shape, buf);
  if (v) *v = buf;
  else free(buf);
  return t;
}

static double *doubles_of(const bt_Tensor *t) {
  int64_t n = bt_numel(t);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  bt_to_doubles(t, v);
  return v;
}

/* Largest |a - b| / (1 + |b|) over n elements. */
static double max_err(const double *a, const double *b, int64_t n) {
  double e = 0;
  for (int64_t i = 0; i < n; i++) e = fmax(e, fabs(a[i] - b[i]) / (1 + fabs(b[i])));
  return e;
}

static void expect(const char *label, bt_Tensor *t, int ndim, const int64_t *shape,
                   const double *v, double tol) {
  if (!t) {
    CHECK(false, "%s: returned NULL: %s", label, bt_errmsg());
    return;
  }
  bool ok = t->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
  char b1[128], b2[128];
  CHECK(ok, "%s: shape %s, expected %s", label, bt_shape_str(t, b1), bt_shape_str_n(ndim, shape, b2));
  if (ok) {
    double *got = doubles_of(t);
    double e = max_err(got, v, bt_numel(t));
    CHECK(e <= tol, "%s: values differ (max relative error %g)", label, e);
    free(got);
  }
  bt_release(t);
}

static void expect_error(const char *label, bt_Tensor *t, const char *also) {
  CHECK(t == NULL, "%s: expected an error, got a tensor", label);
  bt_release(t);
  if (also)
    CHECK(strstr(bt_errmsg(), also) != NULL, "%s: message lacks '%s': '%s'", label, also,
          bt_errmsg());
}

/* ---- a plain-loop reference ------------------------------------------------ */

/* The geometry in the terms of the test (independent of the library's). */
typedef struct {
  int64_t n, groups, c, h, w, oc, oh, ow, kh, kw, sh, sw, ph, pw, pb, pr, dh, dw;
} Geo;

static int64_t out_size(int64_t in, int64_t pa, int64_t pb, int64_t k, int64_t s, int64_t d) {
  return (in + pa + pb - d * (k - 1) - 1) / s + 1;
}

static bt_ConvOpts opts_of(const Geo *g) {
  bt_ConvOpts o;
  memset(&o, 0, sizeof o);
  o.stride[0] = g->sh, o.stride[1] = g->sw;
  o.padding[0][0] = g->ph, o.padding[0][1] = g->pb;
  o.padding[1][0] = g->pw, o.padding[1][1] = g->pr;
  o.dilation[0] = g->dh, o.dilation[1] = g->dw;
  o.groups = g->groups;
  return o;
}

/* y = conv(x, w) + b, x-gradient (T) and w-gradient (W) by their definitions. */
static void ref_all(const Geo *g, const double *x, const double *w, const double *b,
                    const double *gy, double *y, double *gx, double *gw) {
  int64_t cg = g->c / g->groups, ocg = g->oc / g->groups;
  memset(gx, 0, sizeof *gx * (size_t)(g->n * g->c * g->h * g->w));
  memset(gw, 0, sizeof *gw * (size_t)(g->oc * cg * g->kh * g->kw));
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oc = 0; oc < g->oc; oc++)
      for (int64_t i = 0; i < g->oh; i++)
        for (int64_t j = 0; j < g->ow; j++) {
          int64_t yi = ((n * g->oc + oc) * g->oh + i) * g->ow + j;
          double s = b ? b[oc] : 0;
          for (int64_t c = 0; c < cg; c++)
            for (int64_t a = 0; a < g->kh; a++)
              for (int64_t e = 0; e < g->kw; e++) {
                int64_t ih = i * g->sh - g->ph + a * g->dh, iw = j * g->sw - g->pw + e * g->dw;
                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                int64_t xi = ((n * g->c + oc / ocg * cg + c) * g->h + ih) * g->w + iw;
                int64_t wi = ((oc * cg + c) * g->kh + a) * g->kw + e;
                s += w[wi] * x[xi];
                gx[xi] += w[wi] * gy[yi];
                gw[wi] += x[xi] * gy[yi];
              }
          y[yi] = s;
        }
}

static Geo random_geo(void) {
  Geo g;
  for (;;) {
    g.n = irand(1, 5);
    g.groups = irand(1, 3);
    g.c = g.groups * irand(1, 5);
    int64_t big = irand(0, 3);   /* sometimes enough channels for every fast kernel */
    g.oc = g.groups * (big == 0 ? irand(16, 40) : irand(1, 12));
    g.kh = irand(1, 4), g.kw = irand(1, 4);
    g.sh = irand(0, 2) ? 1 : irand(2, 3), g.sw = irand(0, 2) ? 1 : irand(2, 3);
    g.dh = irand(0, 3) ? 1 : 2, g.dw = irand(0, 3) ? 1 : 2;
    g.ph = irand(0, 2), g.pb = irand(0, 2), g.pw = irand(0, 2), g.pr = irand(0, 2);
    g.h = irand(1, 12), g.w = irand(1, 19);
    if (g.h + g.ph + g.pb < g.dh * (g.kh - 1) + 1 || g.w + g.pw + g.pr < g.dw * (g.kw - 1) + 1)
      continue;
    g.oh = out_size(g.h, g.ph, g.pb, g.kh, g.sh, g.dh);
    g.ow = out_size(g.w, g.pw, g.pr, g.kw, g.sw, g.dw);
    return g;
  }
}

static void geo_str(const Geo *g, char *buf, size_t n) {
  snprintf(buf, n, "n%lld g%lld c%lld %lldx%lld -> oc%lld %lldx%lld k%lldx%lld s%lld,%lld "
           "p%lld,%lld,%lld,%lld d%lld,%lld", (long long)g->n, (long long)g->groups,
           (long long)g->c, (long long)g->h, (long long)g->w, (long long)g->oc, (long long)g->oh,
           (long long)g->ow, (long long)g->kh, (long long)g->kw, (long long)g->sh,
           (long long)g->sw, (long long)g->ph, (long long)g->pb, (long long)g->pw,
           (long long)g->pr, (long long)g->dh, (long long)g->dw);
}

/* The three primitives (and the fused weight + bias backward) on one
** geometry against the reference, in dtype dt. */
static void check_geo(const Geo *g, bt_DType dt, const char *path) {
  char label[256];
  geo_str(g, label, sizeof label);
  double tol = dt == BT_F64 ? 1e-12 : 2e-5;
  int64_t cg = g->c / g->groups;
  const int64_t xs[4] = {g->n, g->c, g->h, g->w}, ws[4] = {g->oc, cg, g->kh, g->kw};
  const int64_t ys[4] = {g->n, g->oc, g->oh, g->ow};
  double *xv, *wv, *bv, *gyv;
  bt_Tensor *x = rand_tensor(dt, 4, xs, &xv), *w = rand_tensor(dt, 4, ws, &wv);
  bt_Tensor *b = rand_tensor(dt, 1, &g->oc, &bv), *gy = rand_tensor(dt, 4, ys, &gyv);
  int64_t nx = bt_numel(x), nw = bt_numel(w), ny = bt_numel(gy);
  double *y = malloc(sizeof *y * (size_t)ny), *gx = malloc(sizeof *gx * (size_t)nx);
  double *gw = malloc(sizeof *gw * (size_t)nw), *gb = calloc((size_t)g->oc, sizeof *gb);
  ref_all(g, xv, wv, bv, gyv, y, gx, gw);
  for (int64_t i = 0; i < ny; i++) gb[i / (g->oh * g->ow) % g->oc] += gyv[i];
  bt_ConvOpts o = opts_of(g);
  char l2[320];
  snprintf(l2, sizeof l2, "%s %s conv2d [%s]", path, bt_dtype_name(dt), label);
  expect(l2, bt_conv2d(x, w, b, &o), 4, ys, y, tol);
  snprintf(l2, sizeof l2, "%s %s input grad [%s]", path, bt_dtype_name(dt), label);
  expect(l2, bt_conv2d_input_grad(gy, w, xs, &o), 4, xs, gx, tol);
  snprintf(l2, sizeof l2, "%s %s weight grad [%s]", path, bt_dtype_name(dt), label);
  expect(l2, bt_conv2d_weight_grad(x, gy, ws, &o), 4, ws, gw, tol * 4);
  /* backward through the op: the fused weight + bias pass */
  bt_requires_grad_(w, true);
  bt_requires_grad_(b, true);
  bt_Tensor *out = bt_conv2d(x, w, b, &o);
  if (!out || bt_backward(1, &out, &gy, NULL) < 0) {
    CHECK(false, "%s: backward failed: %s", label, bt_errmsg());
  } else {
    snprintf(l2, sizeof l2, "%s %s backward weight [%s]", path, bt_dtype_name(dt), label);
    bt_retain(w->grad);
    expect(l2, w->grad, 4, ws, gw, tol * 4);
    snprintf(l2, sizeof l2, "%s %s backward bias [%s]", path, bt_dtype_name(dt), label);
    bt_retain(b->grad);
    expect(l2, b->grad, 1, &g->oc, gb, tol * 4);
  }
  bt_release(out);
  bt_release(x); bt_release(w); bt_release(b); bt_release(gy);
  free(xv); free(wv); free(bv); free(gyv); free(y); free(gx); free(gw); free(gb);
}

static void test_random_geometries(void) {
  int nt = bt_get_num_threads();
  for (int path = 0; path < 2; path++) {
    if (path) setenv("BRASA_CONV_GENERIC", "1", 1);
    else unsetenv("BRASA_CONV_GENERIC");
    const char *name = path ? "generic" : "default";
    rng_state = 777;
    for (int t = 0; t < 120; t++) {
      Geo g = random_geo();
      bt_set_num_threads(t % 3 == 0 ? 1 : 2);
      check_geo(&g, BT_F32, name);
      if (t % 4 == 0) check_geo(&g, BT_F64, name);
    }
  }
  unsetenv("BRASA_CONV_GENERIC");
  bt_set_num_threads(nt);
  /* the course's shapes, smaller batches */
  Geo c1 = {8, 1, 1, 28, 28, 32, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  Geo c2 = {6, 1, 32, 14, 14, 64, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  Geo s2 = {4, 1, 16, 15, 15, 24, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1};
  Geo one = {3, 1, 24, 7, 9, 40, 7, 9, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1};
  /* Winograd (3x3, stride 1, 16 or more channels): odd sizes, per-side
  ** padding, groups, more output than input channels and the reverse */
  Geo w1 = {3, 1, 16, 9, 11, 24, 8, 12, 3, 3, 1, 1, 1, 2, 0, 1, 1, 1};
  Geo w2 = {2, 2, 32, 7, 7, 48, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  Geo w3 = {5, 1, 40, 5, 6, 20, 3, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1};
  Geo w4 = {1, 1, 17, 13, 3, 33, 13, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  Geo *named[] = {&c1, &c2, &s2, &one, &w1, &w2, &w3, &w4};
  for (int i = 0; i < 8; i++) {
    check_geo(named[i], BT_F32, "named");
    setenv("BRASA_CONV_GENERIC", "1", 1);
    check_geo(named[i], BT_F32, "named generic");
    unsetenv("BRASA_CONV_GENERIC");
  }
}

/* ---- hand-computed values ------------------------------------------------------ */

static void test_values(void) {
  /* x = 1..16 as [1, 1, 4, 4], w = ones 3x3 */
  double xv[16];
  for (int i = 0; i < 16; i++) xv[i] = i + 1;
  bt_Tensor *x = mk(BT_F32, 4, SHAPE(1, 1, 4, 4), xv);
  bt_Tensor *w = bt_ones(4, SHAPE(1, 1, 3, 3), BT_F32, BT_CPU_DEVICE);
  bt_ConvOpts o = {0};
  expect("conv2d valid", bt_conv2d(x, w, NULL, &o), 4, SHAPE(1, 1, 2, 2), VALS(54, 63, 90, 99), 0);
  o.padding[0][0] = o.padding[0][1] = o.padding[1][0] = o.padding[1][1] = 1;
  expect("conv2d padding 1", bt_conv2d(x, w, NULL, &o), 4, SHAPE(1, 1, 4, 4),
         VALS(14, 24, 30, 22, 33, 54, 63, 45, 57, 90, 99, 69, 46, 72, 78, 54), 0);
  o.stride[0] = o.stride[1] = 2;
  bt_Tensor *b = mk(BT_F32, 1, SHAPE(1), VALS(10));
  expect("conv2d stride 2 with bias", bt_conv2d(x, w, b, &o), 4, SHAPE(1, 1, 2, 2),
         VALS(24, 40, 67, 109), 0);
  /* per side: top 1, bottom 0, left 0, right 2 */
  bt_ConvOpts ps = {0};
  ps.padding[0][0] = 1, ps.padding[1][1] = 2;
  expect("conv2d per-side padding", bt_conv2d(x, w, NULL, &ps), 4, SHAPE(1, 1, 3, 4),
         VALS(24, 30, 22, 12, 54, 63, 45, 24, 90, 99, 69, 36), 0);
  bt_ConvOpts same = {.pad_mode = BT_PAD_SAME};
  expect("conv2d 'same'", bt_conv2d(x, w, NULL, &same), 4, SHAPE(1, 1, 4, 4),
         VALS(14, 24, 30, 22, 33, 54, 63, 45, 57, 90, 99, 69, 46, 72, 78, 54), 0);
  /* 'same' with an even kernel: the extra pad goes after (as PyTorch) */
  bt_Tensor *w2 = bt_ones(4, SHAPE(1, 1, 2, 2), BT_F32, BT_CPU_DEVICE);
  expect("conv2d 'same' 2x2", bt_conv2d(x, w2, NULL, &same), 4, SHAPE(1, 1, 4, 4),
         VALS(14, 18, 22, 12, 30, 34, 38, 20, 46, 50, 54, 28, 27, 29, 31, 16), 0);
  /* dilation 2 on 5x5 = 1..25: taps at 0, 2, 4 */
  double x5[25];
  for (int i = 0; i < 25; i++) x5[i] = i + 1;
  bt_Tensor *xx = mk(BT_F64, 4, SHAPE(1, 1, 5, 5), x5);
  bt_Tensor *w3 = bt_ones(4, SHAPE(1, 1, 3, 3), BT_F64, BT_CPU_DEVICE);
  bt_ConvOpts dil = {.dilation = {2, 2}};
  expect("conv2d dilation 2", bt_conv2d(xx, w3, NULL, &dil), 4, SHAPE(1, 1, 1, 1), VALS(117), 0);
  /* transposed: the adjoint of the valid conv above */
  expect("conv_transpose2d", bt_conv_transpose2d(x, w, NULL, &(bt_ConvOpts){0}), 4,
         SHAPE(1, 1, 6, 6),
         VALS(1, 3, 6, 9, 7, 4, 6, 14, 24, 30, 22, 12, 15, 33, 54, 63, 45, 24, 27, 57, 90, 99,
              69, 36, 22, 46, 72, 78, 54, 28, 13, 27, 42, 45, 31, 16), 0);
  /* transposed, stride 2, output_padding 1: [1,1,2,2] -> [1,1,4,4] with a 1x1 kernel */
  bt_Tensor *x2 = mk(BT_F32, 4, SHAPE(1, 1, 2, 2), VALS(1, 2, 3, 4));
  bt_Tensor *w1 = mk(BT_F32, 4, SHAPE(1, 1, 1, 1), VALS(2));
  bt_ConvOpts op = {.stride = {2, 2}, .output_padding = {1, 1}};
  expect("conv_transpose2d output_padding", bt_conv_transpose2d(x2, w1, b, &op), 4,
         SHAPE(1, 1, 4, 4), VALS(12, 10, 14, 10, 10, 10, 10, 10, 16, 10, 18, 10, 10, 10, 10, 10), 0);
  /* 1-d */
  bt_Tensor *x1 = mk(BT_F32, 3, SHAPE(1, 1, 5), VALS(1, 2, 3, 4, 5));
  bt_Tensor *k1 = mk(BT_F32, 3, SHAPE(1, 1, 2), VALS(1, -1));
  expect("conv1d", bt_conv1d(x1, k1, NULL, &(bt_ConvOpts){0}), 3, SHAPE(1, 1, 4),
         VALS(-1, -1, -1, -1), 0);
  bt_ConvOpts p1 = {.padding = {{1, 2}}};
  expect("conv1d padding {1, 2}", bt_conv1d(x1, k1, NULL, &p1), 3, SHAPE(1, 1, 7),
         VALS(-1, -1, -1, -1, -1, 5, 0), 0);
  expect("conv_transpose1d", bt_conv_transpose1d(x1, k1, NULL, &(bt_ConvOpts){0}), 3,
         SHAPE(1, 1, 6), VALS(1, 1, 1, 1, 1, -5), 0);
  /* unbatched input */
  bt_Tensor *xu = mk(BT_F32, 2, SHAPE(1, 5), VALS(1, 2, 3, 4, 5));
  expect("conv1d unbatched", bt_conv1d(xu, k1, NULL, NULL), 2, SHAPE(1, 4), VALS(-1, -1, -1, -1), 0);
  /* groups: two channels, each with its own 1x1 weight */
  bt_Tensor *xg = mk(BT_F32, 4, SHAPE(1, 2, 1, 2), VALS(1, 2, 3, 4));
  bt_Tensor *wg = mk(BT_F32, 4, SHAPE(2, 1, 1, 1), VALS(10, 100));
  bt_ConvOpts gr = {.groups = 2};
  expect("conv2d groups 2", bt_conv2d(xg, wg, NULL, &gr), 4, SHAPE(1, 2, 1, 2), VALS(10, 20, 300, 400), 0);
  /* f16 computes in f32 */
  bt_Tensor *xh = bt_to_dtype(x, BT_F16), *wh = bt_to_dtype(w, BT_F16);
  bt_Tensor *yh = bt_conv2d(xh, wh, NULL, &(bt_ConvOpts){0});
  CHECK(yh && yh->dtype == BT_F16, "conv2d of f16 is f16");
  expect("conv2d f16", yh, 4, SHAPE(1, 1, 2, 2), VALS(54, 63, 90, 99), 0);
  bt_Tensor *all[] = {x, w, b, w2, xx, w3, x2, w1, x1, k1, xu, xg, wg, xh, wh};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
}

/* ---- gradients by finite differences ---------------------------------------------- */

/* A conv of three f64 leaves; which = the one the checks perturb. */
typedef struct {
  int kind;   /* 0 conv2d, 1 conv1d, 2 conv_transpose2d, 3 conv_transpose1d */
  bt_ConvOpts o;
  bt_Tensor *in[3];
} Case;

static bt_Tensor *run_case(const Case *c, bt_Tensor *const *in) {
  switch (c->kind) {
  case 0: return bt_conv2d(in[0], in[1], in[2], &c->o);
  case 1: return bt_conv1d(in[0], in[1], in[2], &c->o);
  case 2: return bt_conv_transpose2d(in[0], in[1], in[2], &c->o);
  default: return bt_conv_transpose1d(in[0], in[1], in[2], &c->o);
  }
}

/* f = sum(conv(in)^2 * R) (squared: so that second derivatives are not all 0). */
static bt_Tensor *objective(const Case *c, bt_Tensor *const *in, bool squared) {
  bt_Tensor *y = run_case(c, in);
  if (!y) return NULL;
  uint64_t s0 = rng_state;
  rng_state = 99;
  bt_Tensor *r = rand_tensor(BT_F64, y->ndim, y->shape, NULL);
  rng_state = s0;
  bt_Tensor *y2 = squared ? bt_mul(y, y) : (bt_retain(y), y);
  bt_Tensor *p = bt_mul(y2, r), *s = p ? bt_sum(p, BT_REDUCE_ALL, false) : NULL;
  bt_release(y); bt_release(r); bt_release(y2); bt_release(p);
  return s;
}

/* order 1: f; order 2: sum_i sum(df/din_i * V_i), V fixed. */
static double value(const Case *c, bt_Tensor *const *in, int order, bool want[3]) {
  if (order == 1) {
    bool prev = bt_set_grad_enabled(false);
    bt_Tensor *s = objective(c, in, false);
    bt_set_grad_enabled(prev);
    double v = s ? bt_get_flat(s, 0) : NAN;
    bt_release(s);
    return v;
  }
  bt_Tensor *s = objective(c, in, true);
  bt_Tensor *g[3] = {NULL, NULL, NULL}, *w[3];
  int nw = 0;
  for (int i = 0; i < 3; i++) if (want[i]) w[nw++] = in[i];
  bt_BackwardOpts bo = {.create_graph = false};
  double v = NAN;
  if (s && bt_grad(1, &s, NULL, nw, w, g, &bo) == 0) {
    v = 0;
    uint64_t s0 = rng_state;
    rng_state = 4242;
    for (int i = 0; i < nw; i++) {
      double *gv = doubles_of(g[i]);
      for (int64_t k = 0; k < bt_numel(g[i]); k++) v += gv[k] * urand();
      free(gv);
      bt_release(g[i]);
    }
    rng_state = s0;
  }
  bt_release(s);
  return v;
}

/* The analytic gradient of value(order) w.r.t. input i. */
static bt_Tensor *analytic(const Case *c, bt_Tensor *const *in, int order, bool want[3], int i) {
  bt_Tensor *s = objective(c, in, order == 2), *g = NULL;
  if (!s) return NULL;
  if (order == 1) {
    bt_grad(1, &s, NULL, 1, (bt_Tensor **)&in[i], &g, &(bt_BackwardOpts){0});
    bt_release(s);
    return g;
  }
  bt_Tensor *gs[3] = {NULL, NULL, NULL}, *w[3];
  int nw = 0;
  for (int k = 0; k < 3; k++) if (want[k]) w[nw++] = in[k];
  bt_BackwardOpts bo = {.create_graph = true};
  bt_Tensor *h = NULL;
  if (bt_grad(1, &s, NULL, nw, w, gs, &bo) == 0) {
    uint64_t s0 = rng_state;
    rng_state = 4242;
    for (int k = 0; k < nw; k++) {
      bt_Tensor *v = rand_tensor(BT_F64, gs[k]->ndim, gs[k]->shape, NULL);
      bt_Tensor *p = bt_mul(gs[k], v), *t = p ? bt_sum(p, BT_REDUCE_ALL, false) : NULL;
      bt_Tensor *hn = h ? bt_add(h, t) : (bt_retain(t), t);
      bt_release(h); bt_release(v); bt_release(p); bt_release(t); bt_release(gs[k]);
      h = hn;
    }
    rng_state = s0;
    if (h) bt_grad(1, &h, NULL, 1, (bt_Tensor **)&in[i], &g, &(bt_BackwardOpts){.allow_unused = true});
  }
  bt_release(s);
  bt_release(h);
  return g;
}

static void gradcheck(const char *label, Case *c, int order) {
  bool want[3];
  for (int i = 0; i < 3; i++) {
    want[i] = c->in[i] != NULL;
    if (c->in[i]) bt_requires_grad_(c->in[i], true);
  }
  for (int i = 0; i < 3; i++) {
    if (!c->in[i]) continue;
    bt_Tensor *g = analytic(c, c->in, order, want, i);
    if (!g) {
      CHECK(false, "%s: order %d input %d: no gradient: %s", label, order, i + 1, bt_errmsg());
      continue;
    }
    int64_t n = bt_numel(c->in[i]);
    int bad = 0;
    for (int64_t k = 0; k < n; k++) {
      int64_t at[BT_MAX_DIMS], r = k;
      for (int d = c->in[i]->ndim - 1; d >= 0; d--) {
        at[d] = r % c->in[i]->shape[d];
        r /= c->in[i]->shape[d];
      }
      double v0 = bt_get(c->in[i], at), h = 1e-6;
      bool prev = bt_set_grad_enabled(false);
      bt_set(c->in[i], at, v0 + h);
      bt_set_grad_enabled(prev);
      double fp = value(c, c->in, order, want);
      prev = bt_set_grad_enabled(false);
      bt_set(c->in[i], at, v0 - h);
      bt_set_grad_enabled(prev);
      double fm = value(c, c->in, order, want);
      prev = bt_set_grad_enabled(false);
      bt_set(c->in[i], at, v0);
      bt_set_grad_enabled(prev);
      double num = (fp - fm) / (2 * h), ana = bt_get_flat(g, k);
      if (fabs(num - ana) > 1e-6 * fabs(num) + 1e-6 && bad++ < 3)
        printf("  %s: order %d input %d [%lld]: analytic %.9g, numeric %.9g\n", label, order,
               i + 1, (long long)k, ana, num);
    }
    CHECK(bad == 0, "%s: order %d, input %d: %d of %lld elements differ", label, order, i + 1,
          bad, (long long)n);
    bt_release(g);
  }
}

static void test_gradients(void) {
  struct {
    const char *name;
    int kind;
    int64_t xs[4], ws[4];
    int nd;
    bool bias;
    bt_ConvOpts o;
  } cs[] = {
    {"conv2d padding 1", 0, {2, 2, 4, 3}, {3, 2, 3, 3}, 4, true, {.padding = {{1, 1}, {1, 1}}}},
    {"conv2d stride 2 per-side", 0, {1, 2, 5, 4}, {2, 2, 2, 3}, 4, true,
     {.stride = {2, 2}, .padding = {{1, 0}, {0, 2}}}},
    {"conv2d dilation groups", 0, {1, 4, 5, 5}, {4, 2, 2, 2}, 4, false,
     {.dilation = {2, 1}, .groups = 2}},
    {"conv2d 'same'", 0, {1, 1, 4, 4}, {2, 1, 2, 3}, 4, true, {.pad_mode = BT_PAD_SAME}},
    {"conv1d stride 2", 1, {2, 2, 7}, {3, 2, 3}, 3, true, {.stride = {2}, .padding = {{1, 1}}}},
    {"conv_transpose2d output_padding", 2, {1, 2, 3, 2}, {2, 3, 3, 2}, 4, true,
     {.stride = {2, 2}, .padding = {{1, 1}, {0, 0}}, .output_padding = {1, 0}}},
    {"conv_transpose2d groups", 2, {1, 4, 2, 3}, {4, 1, 2, 2}, 4, false, {.groups = 2}},
    {"conv_transpose1d dilation", 3, {2, 2, 4}, {2, 2, 3}, 3, true, {.dilation = {2}}},
  };
  rng_state = 2024;
  for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
    Case c = {.kind = cs[k].kind, .o = cs[k].o};
    c.in[0] = rand_tensor(BT_F64, cs[k].nd, cs[k].xs, NULL);
    c.in[1] = rand_tensor(BT_F64, cs[k].nd, cs[k].ws, NULL);
    int64_t nb = cs[k].kind >= 2 ? cs[k].ws[1] * (cs[k].o.groups ? cs[k].o.groups : 1) : cs[k].ws[0];
    c.in[2] = cs[k].bias ? rand_tensor(BT_F64, 1, &nb, NULL) : NULL;
    gradcheck(cs[k].name, &c, 1);
    gradcheck(cs[k].name, &c, 2);
    for (int i = 0; i < 3; i++) bt_release(c.in[i]);
  }
}

/* ---- errors ------------------------------------------------------------------------ */

static void test_errors(void) {
  bt_Tensor *x = bt_zeros(4, SHAPE(8, 3, 28, 28), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *w = bt_zeros(4, SHAPE(32, 1, 3, 3), BT_F32, BT_CPU_DEVICE);
  expect_error("channels", bt_conv2d(x, w, NULL, NULL), "conv2d: input [8x3x28x28] has 3 channels but the weight [32x1x3x3] expects 1");
  bt_Tensor *x3 = bt_zeros(3, SHAPE(3, 28, 28), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *w3 = bt_zeros(3, SHAPE(4, 3, 3), BT_F32, BT_CPU_DEVICE);
  expect_error("weight rank", bt_conv2d(x3, w3, NULL, NULL), "weight [4x3x3] must be 4-D");
  bt_Tensor *x5 = bt_zeros(5, SHAPE(1, 1, 1, 4, 4), BT_F32, BT_CPU_DEVICE);
  expect_error("input rank", bt_conv2d(x5, w, NULL, NULL), "must be 4-D");
  bt_Tensor *wd = bt_zeros(4, SHAPE(32, 3, 3, 3), BT_F64, BT_CPU_DEVICE);
  expect_error("dtypes", bt_conv2d(x, wd, NULL, NULL), "one dtype");
  bt_Tensor *xi = bt_zeros(4, SHAPE(1, 3, 4, 4), BT_I64, BT_CPU_DEVICE);
  expect_error("integer input", bt_conv2d(xi, wd, NULL, NULL), "float");
  bt_Tensor *w5 = bt_zeros(4, SHAPE(2, 3, 5, 5), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *xs = bt_zeros(4, SHAPE(1, 3, 4, 4), BT_F32, BT_CPU_DEVICE);
  expect_error("kernel too big", bt_conv2d(xs, w5, NULL, NULL), "smaller than the kernel");
  bt_ConvOpts same2 = {.pad_mode = BT_PAD_SAME, .stride = {2, 2}};
  bt_Tensor *w33 = bt_zeros(4, SHAPE(2, 3, 3, 3), BT_F32, BT_CPU_DEVICE);
  expect_error("'same' strided", bt_conv2d(xs, w33, NULL, &same2), "'same' needs stride 1");
  bt_Tensor *bb = bt_zeros(1, SHAPE(3), BT_F32, BT_CPU_DEVICE);
  expect_error("bias size", bt_conv2d(xs, w33, bb, NULL), "bias [3]");
  bt_ConvOpts g2 = {.groups = 2};
  expect_error("groups", bt_conv2d(xs, w33, NULL, &g2), "groups");
  bt_ConvOpts opad = {.stride = {2, 2}, .output_padding = {2, 0}};
  bt_Tensor *wt = bt_zeros(4, SHAPE(3, 2, 3, 3), BT_F32, BT_CPU_DEVICE);
  expect_error("output_padding", bt_conv_transpose2d(xs, wt, NULL, &opad), "output_padding");
  bt_ConvOpts op1 = {.output_padding = {1, 1}};
  expect_error("output_padding on conv", bt_conv2d(xs, w33, NULL, &op1), "output_padding");
  bt_ConvOpts neg = {.padding = {{-1, 0}, {0, 0}}};
  expect_error("negative padding", bt_conv2d(xs, w33, NULL, &neg), "padding must be >= 0");
  bt_Tensor *all[] = {x, w, x3, w3, x5, wd, xi, w5, xs, w33, bb, wt};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
}

/* ---- threads agree; graph hygiene -------------------------------------------------------- */

static void test_threads_and_graph(void) {
  int nt = bt_get_num_threads();
  rng_state = 5;
  bt_Tensor *x = rand_tensor(BT_F32, 4, SHAPE(40, 16, 10, 10), NULL);
  bt_Tensor *w = rand_tensor(BT_F32, 4, SHAPE(24, 16, 3, 3), NULL);
  bt_Tensor *gy = rand_tensor(BT_F32, 4, SHAPE(40, 24, 10, 10), NULL);
  bt_ConvOpts o = {.padding = {{1, 1}, {1, 1}}};
  bt_set_num_threads(1);
  bt_Tensor *w1 = bt_conv2d_weight_grad(x, gy, w->shape, &o);
  bt_set_num_threads(nt > 1 ? nt : 2);
  bt_Tensor *w2 = bt_conv2d_weight_grad(x, gy, w->shape, &o);
  bt_set_num_threads(nt);
  bool same = w1 && w2;
  for (int64_t k = 0; same && k < bt_numel(w1); k++) same = bt_get_flat(w1, k) == bt_get_flat(w2, k);
  CHECK(same, "the weight gradient is bit-identical on 1 and several threads");
  bt_requires_grad_(w, true);
  bt_Tensor *y = bt_conv2d(x, w, NULL, &o);
  CHECK(y && strcmp(bt_grad_fn_name(y), "ConvolutionBackward") == 0, "conv2d records ConvolutionBackward");
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *z = bt_conv2d(x, w, NULL, &o);
  bt_set_grad_enabled(prev);
  CHECK(z && !z->requires_grad && !z->grad_fn, "no graph under no_grad");
  bt_Tensor *all[] = {x, w, gy, w1, w2, y, z};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
}

int main(void) {
  test_values();
  test_random_geometries();
  test_gradients();
  test_errors();
  test_threads_and_graph();
  return check_report();
}
