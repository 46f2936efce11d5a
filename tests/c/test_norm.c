/*
** test_norm.c: batch_norm, layer_norm, dropout, embedding, softmax,
** log_softmax, cross_entropy and nll_loss (core/ops/nn_norm.c,
** core/ops/nn_softmax.c and their CPU kernels): values against
** hand-computed results, errors (messages naming the op and the shapes,
** class ids shown 1-based), running statistics, dropout's mask statistics
** and thread independence, and gradients (first and second order) against
** float64 central differences.
** Prints "N passed, M failed"; exits nonzero on any failure.
*/
#include "brasa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* ---- helpers --------------------------------------------------------------------------- */

static bt_Tensor *mk(bt_DType dt, int ndim, const int64_t *shape, const double *v) {
  bt_Tensor *t = bt_from_buffer(ndim, shape, dt, v, BT_F64);
  if (!t) printf("mk failed: %s\n", bt_errmsg());
  return t;
}

static bt_Tensor *ids(int ndim, const int64_t *shape, const int64_t *v) {
  return bt_from_buffer(ndim, shape, BT_I64, v, BT_I64);
}
#define IDS(n, ...) ids(1, SHAPE(n), (const int64_t[]){__VA_ARGS__})

/* Deterministic values in [-1, 1] (an LCG), f64. */
static bt_Tensor *lcg(int ndim, const int64_t *shape, uint64_t seed, double scale, double shift) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = ((double)(s >> 11) / 9007199254740992.0 * 2 - 1) * scale + shift;
  }
  bt_Tensor *t = bt_from_buffer(ndim, shape, BT_F64, v, BT_F64);
  free(v);
  return t;
}

static bool near(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

static void expect_near(const char *label, bt_Tensor *t, int ndim, const int64_t *shape,
                        const double *v, double tol) {
  if (!t) {
    CHECK(false, "%s: returned NULL: %s", label, bt_errmsg());
    return;
  }
  bool ok = t->ndim == ndim;
  for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
  CHECK(ok, "%s: shape", label);
  int64_t n = bt_numel(t), bad = -1;
  for (int64_t i = 0; ok && i < n && bad < 0; i++)
    if (!near(bt_get_flat(t, i), v[i], tol)) bad = i;
  CHECK(bad < 0, "%s: element %lld is %.9g, expected %.9g", label, (long long)bad,
        bad >= 0 ? bt_get_flat(t, bad) : 0, bad >= 0 ? v[bad] : 0);
  bt_release(t);
}

static void expect_error(const char *label, bt_Tensor *t, const char *text) {
  CHECK(t == NULL, "%s: expected an error, got a tensor", label);
  bt_release(t);
  CHECK(strstr(bt_errmsg(), text) != NULL, "%s: message lacks '%s': '%s'", label, text, bt_errmsg());
}

static double max_abs_diff(const bt_Tensor *a, const bt_Tensor *b) {
  double m = 0;
  for (int64_t i = 0; i < bt_numel(a); i++) m = fmax(m, fabs(bt_get_flat(a, i) - bt_get_flat(b, i)));
  return m;
}

/* Arguments of the ops: slot `which` of t[] is replaced by the checked input. */
typedef struct {
  bt_Tensor *t[5];
  int which;
  bool training;
  double eps, momentum, p, smoothing;
  int dim, nnorm;
  int64_t shape[BT_MAX_DIMS], ignore, pad;
  bt_Reduction red;
} Args;

static bt_Tensor *slot(Args *a, int k, bt_Tensor *x) { return a->which == k ? x : a->t[k]; }

/* ---- batch norm ----------------------------------------------------------------------------- */

static bt_Tensor *f_batch_norm(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_batch_norm(slot(a, 0, x), NULL, NULL, slot(a, 1, x), slot(a, 2, x), true, 0.1, a->eps);
}

static bt_Tensor *f_batch_norm_eval(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_batch_norm(slot(a, 0, x), a->t[3], a->t[4], slot(a, 1, x), slot(a, 2, x), false, 0.1,
                       a->eps);
}

static void test_batch_norm(void) {
  /* [3 x 2]: channel 0 holds 1 3 5 (mean 3, var 8/3), channel 1 holds 10 20 30. */
  bt_Tensor *x = mk(BT_F64, 2, SHAPE(3, 2), VALS(1, 10, 3, 20, 5, 30));
  bt_Tensor *rm = bt_zeros(1, SHAPE(2), BT_F32, BT_CPU_DEVICE), *rv = bt_ones(1, SHAPE(2), BT_F32, BT_CPU_DEVICE);
  double a = 2 / sqrt(8.0 / 3 + 1e-5), b = 10 / sqrt(200.0 / 3 + 1e-5);
  expect_near("batch_norm training", bt_batch_norm(x, rm, rv, NULL, NULL, true, 0.1, 1e-5), 2,
              SHAPE(3, 2), VALS(-a, -b, 0, 0, a, b), 1e-12);
  /* running stats of another dtype are updated through a copy: mean 0.1*3, var 0.9 + 0.1*4 */
  expect_near("running_mean", (bt_retain(rm), rm), 1, SHAPE(2), VALS(0.3, 2), 1e-6);
  expect_near("running_var", (bt_retain(rv), rv), 1, SHAPE(2), VALS(1.3, 10.9), 1e-6);
  bt_Tensor *w = mk(BT_F64, 1, SHAPE(2), VALS(2, -1)), *bias = mk(BT_F64, 1, SHAPE(2), VALS(0.5, 1));
  bt_Tensor *rm64 = mk(BT_F64, 1, SHAPE(2), VALS(1, 2)), *rv64 = mk(BT_F64, 1, SHAPE(2), VALS(4, 9));
  expect_near("batch_norm eval", bt_batch_norm(x, rm64, rv64, w, bias, false, 0.1, 0), 2, SHAPE(3, 2),
              VALS(0.5, 1 - 8.0 / 3, 2.5, 1 - 18.0 / 3, 4.5, 1 - 28.0 / 3), 1e-12);

  /* gradients: x, weight and bias; training and evaluation; N x C, N x C x L, N x C x H x W,
  ** long runs (one channel per task) and short ones (blocks of rows) */
  const int64_t shapes[4][4] = {{5, 3}, {3, 3, 4}, {2, 3, 2, 3}, {2, 3, 40}};
  const int nd[4] = {2, 3, 4, 3};
  for (int s = 0; s < 4; s++) {
    Args A = {.eps = 1e-5};
    A.t[0] = lcg(nd[s], shapes[s], 1 + s, 2, 0.5);
    A.t[1] = lcg(1, SHAPE(3), 20 + s, 1, 0.2);
    A.t[2] = lcg(1, SHAPE(3), 30 + s, 1, 0);
    A.t[3] = mk(BT_F64, 1, SHAPE(3), VALS(0.1, -0.2, 0.3));
    A.t[4] = mk(BT_F64, 1, SHAPE(3), VALS(0.5, 1.5, 2));
    char label[64];
    for (int k = 0; k < 3; k++) {
      A.which = k;
      snprintf(label, sizeof label, "batch_norm training shape %d input %d", s, k);
      gradcheck(label, f_batch_norm, A.t[k], &A);
      snprintf(label, sizeof label, "batch_norm eval shape %d input %d", s, k);
      gradcheck(label, f_batch_norm_eval, A.t[k], &A);
      if (s < 3) {
        snprintf(label, sizeof label, "batch_norm second order shape %d input %d", s, k);
        gradgradcheck(label, f_batch_norm, A.t[k], &A);
      }
    }
    for (int k = 0; k < 5; k++) bt_release(A.t[k]);
  }

  /* errors */
  expect_error("batch_norm 1-D", bt_batch_norm(w, NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
               "batch_norm: expects input of shape [N, C]");
  bt_Tensor *w3 = bt_ones(1, SHAPE(3), BT_F64, BT_CPU_DEVICE);
  expect_error("batch_norm weight size", bt_batch_norm(x, NULL, NULL, w3, NULL, true, 0.1, 1e-5),
               "batch_norm: weight [3] does not match the 2 channels of input [3x2]");
  expect_error("batch_norm eval without stats", bt_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5),
               "running_mean and running_var");
  bt_Tensor *one = mk(BT_F64, 2, SHAPE(1, 2), VALS(1, 2));
  expect_error("batch_norm one value", bt_batch_norm(one, NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
               "expected more than 1 value per channel when training, got input [1x2]");
  bt_Tensor *xi = bt_ones(2, SHAPE(3, 2), BT_I64, BT_CPU_DEVICE);
  expect_error("batch_norm integer", bt_batch_norm(xi, NULL, NULL, NULL, NULL, true, 0.1, 1e-5),
               "batch_norm: input must be a float tensor, got i64");
  bt_Tensor *all[] = {x, rm, rv, w, bias, rm64, rv64, w3, one, xi};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- layer norm ------------------------------------------------------------------------------- */

static bt_Tensor *f_layer_norm(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_layer_norm(slot(a, 0, x), a->nnorm, a->shape, slot(a, 1, x), slot(a, 2, x), a->eps);
}

static void test_layer_norm(void) {
  bt_Tensor *x = mk(BT_F32, 2, SHAPE(2, 3), VALS(1, 2, 3, 2, 4, 9));
  double a = 1 / sqrt(2.0 / 3 + 1e-5);
  /* row 2: mean 5, var (9 + 1 + 16) / 3 */
  double s2 = 1 / sqrt(26.0 / 3 + 1e-5);
  expect_near("layer_norm", bt_layer_norm(x, 1, SHAPE(3), NULL, NULL, 1e-5), 2, SHAPE(2, 3),
              VALS(-a, 0, a, -3 * s2, -s2, 4 * s2), 1e-6);
  Args A = {.eps = 1e-5, .nnorm = 2, .shape = {3, 4}};
  A.t[0] = lcg(3, SHAPE(2, 3, 4), 3, 1.5, 0.3);
  A.t[1] = lcg(2, SHAPE(3, 4), 4, 1, 0.5);
  A.t[2] = lcg(2, SHAPE(3, 4), 5, 1, 0);
  for (int k = 0; k < 3; k++) {
    char label[64];
    A.which = k;
    snprintf(label, sizeof label, "layer_norm input %d", k);
    gradcheck(label, f_layer_norm, A.t[k], &A);
    snprintf(label, sizeof label, "layer_norm second order input %d", k);
    gradgradcheck(label, f_layer_norm, A.t[k], &A);
  }
  expect_error("layer_norm shape", bt_layer_norm(A.t[0], 1, SHAPE(3), NULL, NULL, 1e-5),
               "layer_norm: input [2x3x4] does not end with normalized_shape [3]");
  expect_error("layer_norm weight", bt_layer_norm(A.t[0], 1, SHAPE(4), A.t[1], NULL, 1e-5),
               "layer_norm: weight [3x4] does not match normalized_shape [4]");
  for (int k = 0; k < 3; k++) bt_release(A.t[k]);
  bt_release(x);
}

/* ---- softmax ------------------------------------------------------------------------------------ */

static bt_Tensor *f_softmax(bt_Tensor *x, void *ud) { return bt_softmax(x, ((Args *)ud)->dim); }
static bt_Tensor *f_log_softmax(bt_Tensor *x, void *ud) { return bt_log_softmax(x, ((Args *)ud)->dim); }

static void test_softmax(void) {
  bt_Tensor *x = mk(BT_F32, 2, SHAPE(2, 3), VALS(1, 2, 3, 1000, 1000, 1000));
  double z = exp(1) + exp(2) + exp(3);
  expect_near("softmax", bt_softmax(x, 1), 2, SHAPE(2, 3),
              VALS(exp(1) / z, exp(2) / z, exp(3) / z, 1.0 / 3, 1.0 / 3, 1.0 / 3), 1e-6);
  expect_near("log_softmax", bt_log_softmax(x, -1), 2, SHAPE(2, 3),
              VALS(1 - log(z), 2 - log(z), 3 - log(z), -log(3), -log(3), -log(3)), 1e-6);
  expect_near("softmax dim 0", bt_softmax(x, 0), 2, SHAPE(2, 3), VALS(0, 0, 0, 1, 1, 1), 1e-6);
  bt_Tensor *m = mk(BT_F32, 1, SHAPE(3), VALS(0, -INFINITY, 0));
  expect_near("softmax of -inf", bt_softmax(m, 0), 1, SHAPE(3), VALS(0.5, 0, 0.5), 0);
  bt_Tensor *xi = bt_ones(1, SHAPE(3), BT_I64, BT_CPU_DEVICE);
  expect_error("softmax integer", bt_softmax(xi, 0), "softmax: expects a float tensor, got i64");
  expect_error("softmax dim", bt_softmax(x, 2), "softmax");

  /* f32 (vectorised exp) against f64, rows and columns */
  bt_Tensor *big = lcg(3, SHAPE(4, 37, 70), 9, 30, 0), *big32 = bt_to_dtype(big, BT_F32);
  for (int d = 0; d < 3; d++) {
    bt_Tensor *a = bt_softmax(big32, d), *b = bt_softmax(big, d);
    CHECK(a && b && max_abs_diff(a, b) < 1e-6, "softmax f32 vs f64 along dim %d", d);
    bt_release(a); bt_release(b);
    a = bt_log_softmax(big32, d), b = bt_log_softmax(big, d);
    CHECK(a && b && max_abs_diff(a, b) < 2e-4, "log_softmax f32 vs f64 along dim %d", d);
    bt_release(a); bt_release(b);
  }
  Args A = {0};
  bt_Tensor *x3 = lcg(3, SHAPE(2, 3, 4), 10, 2, 0);
  for (int d = 0; d < 3; d++) {
    char label[64];
    A.dim = d;
    snprintf(label, sizeof label, "softmax dim %d", d);
    gradcheck(label, f_softmax, x3, &A);
    gradgradcheck(label, f_softmax, x3, &A);
    snprintf(label, sizeof label, "log_softmax dim %d", d);
    gradcheck(label, f_log_softmax, x3, &A);
    gradgradcheck(label, f_log_softmax, x3, &A);
  }
  bt_Tensor *all[] = {x, m, xi, big, big32, x3};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- cross_entropy, nll_loss ------------------------------------------------------------------- */

static bt_Tensor *f_cross_entropy(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_cross_entropy(x, a->t[1], a->t[2], a->ignore, a->smoothing, a->red);
}

static bt_Tensor *f_nll_loss(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_nll_loss(x, a->t[1], a->t[2], a->ignore, a->red);
}

/* -sum of log_softmax at the targets, written by hand for [2 x 3]. */
static void test_cross_entropy_values(void) {
  bt_Tensor *x = mk(BT_F64, 2, SHAPE(2, 3), VALS(2, 1, 0.1, 0.5, 2.5, 0.3));
  bt_Tensor *t = IDS(2, 0, 1);
  double l0 = log(exp(2) + exp(1) + exp(0.1)) - 2, l1 = log(exp(0.5) + exp(2.5) + exp(0.3)) - 2.5;
  expect_near("cross_entropy mean", bt_cross_entropy(x, t, NULL, BT_NO_IGNORE, 0, BT_REDUCTION_MEAN),
              0, NULL, VALS((l0 + l1) / 2), 1e-12);
  expect_near("cross_entropy none", bt_cross_entropy(x, t, NULL, BT_NO_IGNORE, 0, BT_REDUCTION_NONE),
              1, SHAPE(2), VALS(l0, l1), 1e-12);
  bt_Tensor *w = mk(BT_F64, 1, SHAPE(3), VALS(2, 0.5, 1));
  expect_near("cross_entropy weighted mean", bt_cross_entropy(x, t, w, BT_NO_IGNORE, 0, BT_REDUCTION_MEAN),
              0, NULL, VALS((2 * l0 + 0.5 * l1) / 2.5), 1e-12);
  expect_near("cross_entropy ignore", bt_cross_entropy(x, t, NULL, 1, 0, BT_REDUCTION_SUM), 0, NULL,
              VALS(l0), 1e-12);
  bt_Tensor *bad = IDS(2, 0, -1), *bad2 = IDS(2, 3, 0);
  expect_error("cross_entropy target 0", bt_cross_entropy(x, bad, NULL, BT_NO_IGNORE, 0, BT_REDUCTION_MEAN),
               "cross_entropy: targets are 1-based class ids 1..3; got 0: did you pass 0-based labels?");
  expect_error("nll_loss target 4", bt_nll_loss(x, bad2, NULL, BT_NO_IGNORE, BT_REDUCTION_MEAN),
               "nll_loss: targets are 1-based class ids 1..3; got 4");
  bt_Tensor *t3 = IDS(3, 0, 1, 2);
  expect_error("cross_entropy target shape", bt_cross_entropy(x, t3, NULL, BT_NO_IGNORE, 0, BT_REDUCTION_MEAN),
               "cross_entropy: target [3] does not match input [2x3]: expected target [2]");
  bt_Tensor *all[] = {x, t, w, bad, bad2, t3};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

static void test_cross_entropy_grads(void) {
  bt_Tensor *x = lcg(2, SHAPE(5, 4), 21, 2, 0), *x3 = lcg(3, SHAPE(2, 4, 3), 22, 2, 0);
  bt_Tensor *w = mk(BT_F64, 1, SHAPE(4), VALS(0.5, 2, 1, 1.5));
  bt_Tensor *t = IDS(5, 3, 0, 1, 3, 2), *t3 = ids(2, SHAPE(2, 3), (const int64_t[]){0, 3, 1, 2, 2, 0});
  const bt_Reduction reds[3] = {BT_REDUCTION_MEAN, BT_REDUCTION_SUM, BT_REDUCTION_NONE};
  for (int r = 0; r < 3; r++)
    for (int cfg = 0; cfg < 3; cfg++) {
      Args A = {.red = reds[r], .ignore = cfg == 0 ? BT_NO_IGNORE : 3, .smoothing = cfg == 2 ? 0.2 : 0};
      A.t[2] = cfg > 0 ? w : NULL;
      char label[96];
      A.t[1] = t;
      snprintf(label, sizeof label, "cross_entropy [5x4] reduction %d config %d", r, cfg);
      gradcheck(label, f_cross_entropy, x, &A);
      gradgradcheck(label, f_cross_entropy, x, &A);
      A.t[1] = t3;
      snprintf(label, sizeof label, "cross_entropy [2x4x3] reduction %d config %d", r, cfg);
      gradcheck(label, f_cross_entropy, x3, &A);
      if (cfg != 2) {
        snprintf(label, sizeof label, "nll_loss [2x4x3] reduction %d config %d", r, cfg);
        gradcheck(label, f_nll_loss, x3, &A);
        gradgradcheck(label, f_nll_loss, x3, &A);
      }
    }
  bt_Tensor *all[] = {x, x3, w, t, t3};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- dropout ---------------------------------------------------------------------------------- */

static void test_dropout(void) {
  int threads = bt_get_num_threads();
  int64_t n = 100001;
  bt_Tensor *x = bt_ones(1, &n, BT_F32, BT_CPU_DEVICE), *y[3];
  for (int k = 0; k < 3; k++) {
    bt_set_num_threads(k == 0 ? 1 : 2);
    bt_manual_seed(k == 2 ? 8 : 7);
    y[k] = bt_dropout(x, 0.25, true);
  }
  bt_set_num_threads(threads);
  CHECK(y[0] && y[1] && y[2], "dropout: %s", bt_errmsg());
  if (y[0] && y[1] && y[2]) {
    CHECK(max_abs_diff(y[0], y[1]) == 0, "dropout: the same mask on 1 and 2 threads");
    CHECK(max_abs_diff(y[0], y[2]) > 0, "dropout: another seed, another mask");
    int64_t kept = 0;
    bool scaled = true;
    for (int64_t i = 0; i < n; i++) {
      double v = bt_get_flat(y[0], i);
      kept += v != 0;
      if (v != 0 && fabs(v - 1 / 0.75) > 1e-6) scaled = false;
    }
    CHECK(fabs((double)kept / (double)n - 0.75) < 0.01, "dropout keeps %lld of %lld", (long long)kept,
          (long long)n);
    CHECK(scaled, "dropout scales kept values by 1/(1-p)");
  }
  /* backward: the same mask, scaled */
  bt_Tensor *xs = lcg(2, SHAPE(30, 20), 5, 1, 0);
  bt_requires_grad_(xs, true);
  bt_manual_seed(3);
  bt_Tensor *d = bt_dropout(xs, 0.5, true), *s = d ? bt_sum(d, BT_REDUCE_ALL, false) : NULL;
  CHECK(s && bt_backward(1, &s, NULL, NULL) == 0, "dropout backward: %s", bt_errmsg());
  bool same = xs->grad != NULL;
  for (int64_t i = 0; same && i < 600; i++)
    same = bt_get_flat(xs->grad, i) == (bt_get_flat(d, i) != 0 ? 2 : 0);
  CHECK(same, "dropout backward multiplies by the mask and 1/(1-p)");
  bt_Tensor *e = bt_dropout(xs, 0.5, false);
  CHECK(e == xs, "dropout in evaluation returns its input");
  bt_release(e);
  expect_error("dropout p", bt_dropout(xs, -0.1, true), "dropout: probability p must be in [0, 1], got -0.1");
  bt_Tensor *all[] = {x, y[0], y[1], y[2], xs, d, s};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- embedding ------------------------------------------------------------------------------------- */

static bt_Tensor *f_embedding(bt_Tensor *w, void *ud) {
  Args *a = ud;
  return bt_embedding(a->t[0], w, a->pad);
}

static void test_embedding(void) {
  bt_Tensor *w = mk(BT_F64, 2, SHAPE(3, 2), VALS(1, 2, 3, 4, 5, 6));
  bt_Tensor *i = ids(2, SHAPE(2, 2), (const int64_t[]){2, -1, 0, 2});
  expect_near("embedding", bt_embedding(i, w, -1), 3, SHAPE(2, 2, 2), VALS(5, 6, 0, 0, 1, 2, 5, 6), 0);
  Args A = {.pad = -1};
  A.t[0] = ids(2, SHAPE(2, 3), (const int64_t[]){2, 0, 2, -1, 3, 0});
  bt_Tensor *w4 = lcg(2, SHAPE(4, 3), 17, 1, 0);
  gradcheck("embedding", f_embedding, w4, &A);
  gradgradcheck("embedding", f_embedding, w4, &A);
  /* padding_idx: looked up, no gradient */
  bt_Tensor *wl = copy_of(w);
  bt_requires_grad_(wl, true);
  bt_Tensor *e = bt_embedding(i, wl, 2), *s = e ? bt_sum(e, BT_REDUCE_ALL, false) : NULL;
  CHECK(s && bt_backward(1, &s, NULL, NULL) == 0, "embedding backward: %s", bt_errmsg());
  if (wl->grad) {
    double g[6];
    bt_to_doubles(wl->grad, g);
    CHECK(g[0] == 1 && g[1] == 1 && g[2] == 0 && g[4] == 0 && g[5] == 0, "embedding padding_idx gets no gradient");
  }
  bt_Tensor *bad = IDS(1, 3);
  expect_error("embedding id", bt_embedding(bad, w, -1),
               "embedding: id 4 is out of range for 3 embeddings (ids are 1..3, and 0 for padding)");
  expect_error("embedding float ids", bt_embedding(w, w, -1), "embedding: ids must be an integer tensor");
  bt_Tensor *all[] = {w, i, A.t[0], w4, wl, e, s, bad};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- half precision, threads --------------------------------------------------------------------- */

static void test_half_and_threads(void) {
  bt_Tensor *x = lcg(2, SHAPE(6, 5), 31, 2, 0), *h = bt_to_dtype(x, BT_F16);
  bt_Tensor *y = bt_softmax(h, 1), *l = bt_layer_norm(h, 1, SHAPE(5), NULL, NULL, 1e-5);
  CHECK(y && y->dtype == BT_F16 && l && l->dtype == BT_F16, "half in, half out: %s", bt_errmsg());
  bt_Tensor *ref = bt_softmax(x, 1);
  CHECK(y && ref && max_abs_diff(y, ref) < 2e-3, "f16 softmax close to f64");
  bt_Tensor *all[] = {x, h, y, l, ref};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);

  /* batch norm backward sums over blocks of rows: the same on 1 and 2 threads */
  int threads = bt_get_num_threads();
  bt_Tensor *g[2];
  for (int k = 0; k < 2; k++) {
    bt_set_num_threads(k + 1);
    bt_Tensor *xs = lcg(2, SHAPE(4000, 3), 41, 1, 0.5), *ws = lcg(1, SHAPE(3), 42, 1, 1);
    bt_requires_grad_(ws, true);
    bt_Tensor *b = bt_batch_norm(xs, NULL, NULL, ws, NULL, true, 0.1, 1e-5);
    bt_Tensor *b2 = b ? bt_mul(b, b) : NULL, *s = b2 ? bt_sum(b2, BT_REDUCE_ALL, false) : NULL;
    g[k] = NULL;
    if (s && bt_grad(1, &s, NULL, 1, &ws, &g[k], NULL) < 0) g[k] = NULL;
    bt_Tensor *tmp[] = {xs, ws, b, b2, s};
    for (size_t j = 0; j < sizeof tmp / sizeof tmp[0]; j++) bt_release(tmp[j]);
  }
  bt_set_num_threads(threads);
  CHECK(g[0] && g[1] && max_abs_diff(g[0], g[1]) == 0, "batch_norm weight gradient on 1 and 2 threads");
  bt_release(g[0]);
  bt_release(g[1]);
}

int main(void) {
  test_batch_norm();
  test_layer_norm();
  test_softmax();
  test_cross_entropy_values();
  test_cross_entropy_grads();
  test_dropout();
  test_embedding();
  test_half_and_threads();
  return check_report();
}
