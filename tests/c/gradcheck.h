/*
** gradcheck.h: gradient checks of an op against float64 central
** differences, first order (gradcheck) and second order (gradgradcheck),
** counted by check.h's CHECK. Include it once, from one test file.
*/
#ifndef BRASA_TEST_GRADCHECK_H
#define BRASA_TEST_GRADCHECK_H

#include "check.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/* ---- tensors for gradient checks --------------------------------------------- */

static bt_Tensor *weights_like(const bt_Tensor *t, uint64_t seed) {
  int64_t n = bt_numel(t);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  uint64_t s = seed * 6364136223846793005ULL + 1442695040888963407ULL;
  for (int64_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = (double)(s >> 11) / 9007199254740992.0 * 2 - 1;
  }
  bt_Tensor *w = bt_from_buffer(t->ndim, t->shape, BT_F64, v, BT_F64);
  free(v);
  return w;
}

static bt_Tensor *copy_of(const bt_Tensor *t) {
  int64_t n = bt_numel(t);
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  bt_to_doubles(t, v);
  bt_Tensor *c = bt_from_buffer(t->ndim, t->shape, BT_F64, v, BT_F64);
  free(v);
  return c;
}

/* ---- gradient checks -------------------------------------------------------- */

/* The op under test as a function of the checked input x; ud holds the rest. */
typedef bt_Tensor *(*OpFn)(bt_Tensor *x, void *ud);

/* sum(op(x) * w), or sum(op(x)^2 * w) when squared (for second order). */
static bt_Tensor *objective(OpFn f, bt_Tensor *x, void *ud, uint64_t seed, bool squared) {
  bt_Tensor *y = f(x, ud);
  if (!y) return NULL;
  bt_Tensor *w = weights_like(y, seed);
  bt_Tensor *y2 = squared ? bt_mul(y, y) : (bt_retain(y), y);
  bt_Tensor *p = bt_mul(y2, w), *s = p ? bt_sum(p, BT_REDUCE_ALL, false) : NULL;
  bt_release(y); bt_release(w); bt_release(y2); bt_release(p);
  return s;
}

static double objective_value(OpFn f, bt_Tensor *x, void *ud, uint64_t seed, bool squared) {
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *s = objective(f, x, ud, seed, squared);
  bt_set_grad_enabled(prev);
  double v = s ? bt_get_flat(s, 0) : NAN;
  bt_release(s);
  return v;
}

static bool close_enough(double a, double b) { return fabs(a - b) <= 1e-6 * (1 + fabs(b)); }

/* Compares an analytic gradient (of x's shape) with central differences of
** value(x), element by element. */
typedef double (*ValueFn)(OpFn f, bt_Tensor *x, void *ud);

static void compare_fd(const char *label, const bt_Tensor *x0, const bt_Tensor *grad, OpFn f,
                       void *ud, ValueFn value) {
  if (!grad) {
    CHECK(false, "%s: no gradient: %s", label, bt_errmsg());
    return;
  }
  bool same = grad->ndim == x0->ndim;
  for (int d = 0; same && d < x0->ndim; d++) same = grad->shape[d] == x0->shape[d];
  CHECK(same, "%s: gradient shape", label);
  const double h = 1e-6;
  int64_t n = bt_numel(x0);
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    bt_Tensor *xp = copy_of(x0), *xm = copy_of(x0);
    double v = bt_get_flat(x0, i);
    int64_t at[BT_MAX_DIMS], r = i;
    for (int d = x0->ndim - 1; d >= 0; d--) {
      at[d] = r % x0->shape[d];
      r /= x0->shape[d];
    }
    bt_set(xp, at, v + h);
    bt_set(xm, at, v - h);
    double num = (value(f, xp, ud) - value(f, xm, ud)) / (2 * h), ana = bt_get_flat(grad, i);
    if (!close_enough(ana, num) && bad++ < 3)
      printf("  %s: d/dx[%lld]: analytic %.9g, numeric %.9g\n", label, (long long)i, ana, num);
    bt_release(xp);
    bt_release(xm);
  }
  CHECK(bad == 0, "%s: %d of %lld gradient elements differ from finite differences", label, bad,
        (long long)n);
}

static double first_value(OpFn f, bt_Tensor *x, void *ud) {
  return objective_value(f, x, ud, 7, false);
}

/* d/dx sum(op(x) * w) by backward vs central differences. */
static void gradcheck(const char *label, OpFn f, const bt_Tensor *x0, void *ud) {
  bt_Tensor *x = copy_of(x0);
  bt_requires_grad_(x, true);
  bt_Tensor *s = objective(f, x, ud, 7, false);
  if (!s || bt_backward(1, &s, NULL, NULL) < 0) {
    CHECK(false, "%s: forward/backward failed: %s", label, bt_errmsg());
  } else {
    compare_fd(label, x0, x->grad, f, ud, first_value);
  }
  bt_release(s);
  bt_release(x);
}

/* H(x) = sum(grad_x sum(op(x)^2 w) * v): its gradient needs the backward
** rules to be differentiable. */
static bt_Tensor *grad_objective(OpFn f, bt_Tensor *x, void *ud, bool create) {
  bt_Tensor *s = objective(f, x, ud, 11, true), *g = NULL;
  bt_BackwardOpts opts = {.create_graph = create};
  if (!s || bt_grad(1, &s, NULL, 1, &x, &g, &opts) < 0) {
    bt_release(s);
    return NULL;
  }
  bt_Tensor *v = weights_like(x, 13);
  bt_Tensor *p = bt_mul(g, v), *h = p ? bt_sum(p, BT_REDUCE_ALL, false) : NULL;
  bt_release(s); bt_release(g); bt_release(v); bt_release(p);
  return h;
}

static double second_value(OpFn f, bt_Tensor *x, void *ud) {
  bt_requires_grad_(x, true);
  bt_Tensor *h = grad_objective(f, x, ud, false);
  double v = h ? bt_get_flat(h, 0) : NAN;
  bt_release(h);
  return v;
}

static void gradgradcheck(const char *label, OpFn f, const bt_Tensor *x0, void *ud) {
  bt_Tensor *x = copy_of(x0);
  bt_requires_grad_(x, true);
  bt_Tensor *h = grad_objective(f, x, ud, true);
  if (!h || bt_backward(1, &h, NULL, NULL) < 0) {
    CHECK(false, "%s: double backward failed: %s", label, bt_errmsg());
  } else {
    compare_fd(label, x0, x->grad, f, ud, second_value);
  }
  bt_release(h);
  bt_release(x);
}

#endif
