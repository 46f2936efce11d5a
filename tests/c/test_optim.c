/*
** test_optim.c: the fused optimiser updates and gradient clipping
** (core/ops/optim.c and core/cpu/optim.c): values against the formulas
** written out in plain C, every dtype, non-contiguous tensors, results
** independent of the number of threads, version bumps, and errors that
** name the optimiser and leave the tensors untouched. PyTorch agreement is
** checked from Lua (tests/lua/optim_spec.lua, golden trajectories).
*/
#include "brasa.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static bt_Tensor *vec(bt_DType dt, int64_t n, const double *v) {
  return bt_from_buffer(1, &n, dt, v, BT_F64);
}

static bool close_to(double a, double b, double tol) { return fabs(a - b) <= tol * (1 + fabs(b)); }

static bool same_tensor(const bt_Tensor *a, const bt_Tensor *b) {
  int64_t n = bt_numel(a);
  if (n != bt_numel(b)) return false;
  for (int64_t i = 0; i < n; i++)
    if (bt_get_flat(a, i) != bt_get_flat(b, i)) return false;
  return true;
}

static void expect_error(const char *label, int rc, const char *a, const char *b) {
  const char *m = bt_errmsg();
  CHECK(rc < 0 && strstr(m, a) && (!b || strstr(m, b)), "%s: expected an error with '%s' and '%s', got rc %d '%s'",
        label, a, b ? b : "", rc, rc < 0 ? m : "");
}

/* ---- values against the formulas ------------------------------------------------- */

#define N 5
static const double W0[N] = {0.5, -1.0, 2.0, 0.0, -0.25};
static const double G[N] = {0.1, -2.0, 0.5, 1.0, -0.3};

static void test_adam_formula(void) {
  for (int amsgrad = 0; amsgrad < 2; amsgrad++)
    for (int decoupled = 0; decoupled < 2; decoupled++) {
      bt_Tensor *p = vec(BT_F64, N, W0), *g = vec(BT_F64, N, G);
      bt_Tensor *m = bt_zeros(1, SHAPE(N), BT_F64, BT_CPU_DEVICE), *v = bt_zeros_like(m), *vm = bt_zeros_like(m);
      double w[N], mm[N] = {0}, vv[N] = {0}, vmax[N] = {0};
      memcpy(w, W0, sizeof w);
      bt_AdamOpts o = {.lr = 0.1, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-3, .weight_decay = 0.2,
                       .amsgrad = amsgrad, .decoupled = decoupled};
      for (int t = 1; t <= 3; t++) {
        double scale = t == 2 ? 0.1 : 1.0;   /* a smaller gradient: amsgrad keeps the max */
        bt_Tensor *gt = bt_mul_scalar(g, scale);
        o.step = t;
        int rc = bt_adam_step(p, gt, m, v, amsgrad ? vm : NULL, &o);
        CHECK(rc == 0, "adam_step: %s", bt_errmsg());
        bt_release(gt);
        for (int i = 0; i < N; i++) {
          double gi = G[i] * scale;
          if (decoupled) w[i] *= 1 - o.lr * o.weight_decay;
          else gi += o.weight_decay * w[i];
          mm[i] = o.beta1 * mm[i] + (1 - o.beta1) * gi;
          vv[i] = o.beta2 * vv[i] + (1 - o.beta2) * gi * gi;
          vmax[i] = fmax(vmax[i], vv[i]);
          double vh = amsgrad ? vmax[i] : vv[i];
          double denom = sqrt(vh) / sqrt(1 - pow(o.beta2, t)) + o.eps;
          w[i] -= o.lr / (1 - pow(o.beta1, t)) * mm[i] / denom;
        }
      }
      bool ok = true;
      for (int i = 0; i < N; i++) ok = ok && close_to(bt_get_flat(p, i), w[i], 1e-12);
      CHECK(ok, "Adam (amsgrad %d, decoupled %d) matches the formula", amsgrad, decoupled);
      bt_Tensor *all[] = {p, g, m, v, vm};
      for (int i = 0; i < 5; i++) bt_release(all[i]);
    }
}

static void test_sgd_formula(void) {
  for (int nesterov = 0; nesterov < 2; nesterov++) {
    bt_Tensor *p = vec(BT_F64, N, W0), *g = vec(BT_F64, N, G), *buf = bt_full(1, SHAPE(N), 99, BT_F64, BT_CPU_DEVICE);
    double w[N], b[N];
    memcpy(w, W0, sizeof w);
    bt_SGDOpts o = {.lr = 0.1, .momentum = 0.9, .dampening = nesterov ? 0 : 0.3, .weight_decay = 0.05,
                    .nesterov = nesterov};
    for (int t = 1; t <= 3; t++) {
      o.first = t == 1;   /* the 99s in the buffer must be ignored */
      CHECK(bt_sgd_step(p, g, buf, &o) == 0, "sgd_step: %s", bt_errmsg());
      for (int i = 0; i < N; i++) {
        double d = G[i] + o.weight_decay * w[i];
        b[i] = t == 1 ? d : o.momentum * b[i] + (1 - o.dampening) * d;
        d = nesterov ? d + o.momentum * b[i] : b[i];
        w[i] -= o.lr * d;
      }
    }
    bool ok = true;
    for (int i = 0; i < N; i++) ok = ok && close_to(bt_get_flat(p, i), w[i], 1e-12);
    CHECK(ok, "SGD (nesterov %d) matches the formula", nesterov);
    /* No momentum: no buffer needed, plain descent; maximize ascends. */
    bt_SGDOpts plain = {.lr = 0.5, .maximize = true};
    bt_Tensor *q = vec(BT_F64, N, W0);
    CHECK(bt_sgd_step(q, g, NULL, &plain) == 0 && close_to(bt_get_flat(q, 1), W0[1] + 0.5 * G[1], 1e-15),
          "SGD maximize without momentum");
    bt_release(q);
    bt_release(p);
    bt_release(g);
    bt_release(buf);
  }
}

static void test_rmsprop_adagrad_adadelta_formulas(void) {
  bt_Tensor *p = vec(BT_F64, N, W0), *g = vec(BT_F64, N, G);
  bt_Tensor *sq = bt_zeros(1, SHAPE(N), BT_F64, BT_CPU_DEVICE), *ga = bt_zeros_like(sq), *buf = bt_zeros_like(sq);
  bt_RMSpropOpts ro = {.lr = 0.01, .alpha = 0.9, .eps = 1e-8, .weight_decay = 0.1, .momentum = 0.5, .centered = true};
  double w[N], s[N] = {0}, c[N] = {0}, b[N] = {0};
  memcpy(w, W0, sizeof w);
  for (int t = 0; t < 3; t++) {
    CHECK(bt_rmsprop_step(p, g, sq, ga, buf, &ro) == 0, "rmsprop_step: %s", bt_errmsg());
    for (int i = 0; i < N; i++) {
      double gi = G[i] + ro.weight_decay * w[i];
      s[i] = ro.alpha * s[i] + (1 - ro.alpha) * gi * gi;
      c[i] = ro.alpha * c[i] + (1 - ro.alpha) * gi;
      double avg = sqrt(s[i] - c[i] * c[i]) + ro.eps;
      b[i] = ro.momentum * b[i] + gi / avg;
      w[i] -= ro.lr * b[i];
    }
  }
  bool ok = true;
  for (int i = 0; i < N; i++) ok = ok && close_to(bt_get_flat(p, i), w[i], 1e-12);
  CHECK(ok, "centered RMSprop with momentum matches the formula");

  bt_Tensor *q = vec(BT_F64, N, W0), *sum = bt_full(1, SHAPE(N), 0.1, BT_F64, BT_CPU_DEVICE);
  bt_AdagradOpts ao = {.lr = 0.2, .lr_decay = 0.05, .eps = 1e-10};
  double u[N], acc[N];
  memcpy(u, W0, sizeof u);
  for (int i = 0; i < N; i++) acc[i] = 0.1;
  for (int t = 1; t <= 3; t++) {
    ao.step = t;
    CHECK(bt_adagrad_step(q, g, sum, &ao) == 0, "adagrad_step: %s", bt_errmsg());
    double clr = ao.lr / (1 + (t - 1) * ao.lr_decay);
    for (int i = 0; i < N; i++) {
      acc[i] += G[i] * G[i];
      u[i] -= clr * G[i] / (sqrt(acc[i]) + ao.eps);
    }
  }
  ok = true;
  for (int i = 0; i < N; i++) ok = ok && close_to(bt_get_flat(q, i), u[i], 1e-12);
  CHECK(ok, "Adagrad with lr_decay matches the formula");

  bt_Tensor *r = vec(BT_F64, N, W0), *s2 = bt_zeros_like(sq), *ad = bt_zeros_like(sq);
  bt_AdadeltaOpts dd = {.lr = 1.0, .rho = 0.9, .eps = 1e-6};
  double x[N], e2[N] = {0}, d2[N] = {0};
  memcpy(x, W0, sizeof x);
  for (int t = 0; t < 3; t++) {
    CHECK(bt_adadelta_step(r, g, s2, ad, &dd) == 0, "adadelta_step: %s", bt_errmsg());
    for (int i = 0; i < N; i++) {
      e2[i] = dd.rho * e2[i] + (1 - dd.rho) * G[i] * G[i];
      double delta = sqrt(d2[i] + dd.eps) / sqrt(e2[i] + dd.eps) * G[i];
      d2[i] = dd.rho * d2[i] + (1 - dd.rho) * delta * delta;
      x[i] -= dd.lr * delta;
    }
  }
  ok = true;
  for (int i = 0; i < N; i++) ok = ok && close_to(bt_get_flat(r, i), x[i], 1e-12);
  CHECK(ok, "Adadelta matches the formula");
  bt_Tensor *all[] = {p, g, sq, ga, buf, q, sum, r, s2, ad};
  for (int i = 0; i < 10; i++) bt_release(all[i]);
}

/* ---- dtypes, layouts, threads ---------------------------------------------------------- */

/* Three Adam steps on a [rows x cols] parameter of dtype dt (transposed
** view of a [cols x rows] tensor when transposed); returned as f64. */
static bt_Tensor *adam_run(bt_DType dt, int64_t rows, int64_t cols, bool transposed, uint64_t seed) {
  bt_manual_seed(seed);
  bt_Tensor *w64 = bt_randn(2, SHAPE(rows, cols), BT_F64), *g64 = bt_randn(2, SHAPE(rows, cols), BT_F64);
  bt_Tensor *p;
  if (transposed) {
    bt_Tensor *wt = bt_t(w64), *c = bt_contiguous(wt), *cd = bt_to_dtype(c, dt);   /* [cols x rows] */
    p = bt_t(cd);
    bt_release(wt);
    bt_release(c);
    bt_release(cd);
  } else {
    p = bt_to_dtype(w64, dt);
  }
  bt_Tensor *g = bt_to_dtype(g64, dt);
  bt_Tensor *m = bt_zeros(2, SHAPE(rows, cols), dt, BT_CPU_DEVICE), *v = bt_zeros_like(m), *vm = bt_zeros_like(m);
  bt_AdamOpts o = {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .amsgrad = true};
  for (int t = 1; t <= 3; t++) {
    o.step = t;
    if (bt_adam_step(p, g, m, v, vm, &o) < 0) printf("adam_run: %s\n", bt_errmsg());
  }
  bt_Tensor *r = bt_to_dtype(p, BT_F64), *rc = bt_contiguous(r);
  bt_Tensor *all[] = {w64, g64, p, g, m, v, vm, r};
  for (int i = 0; i < 8; i++) bt_release(all[i]);
  return rc;
}

static double max_diff(const bt_Tensor *a, const bt_Tensor *b) {
  double d = 0;
  for (int64_t i = 0; i < bt_numel(a); i++) d = fmax(d, fabs(bt_get_flat(a, i) - bt_get_flat(b, i)));
  return d;
}

static void test_dtypes_and_layouts(void) {
  bt_Tensor *ref = adam_run(BT_F64, 7, 9, false, 11);
  bt_Tensor *tr = adam_run(BT_F64, 7, 9, true, 11);
  CHECK(same_tensor(ref, tr), "a transposed (non-contiguous) parameter gives the same result");
  bt_Tensor *f32 = adam_run(BT_F32, 7, 9, false, 11);
  CHECK(max_diff(ref, f32) < 1e-5, "f32 close to f64 (%g)", max_diff(ref, f32));
  bt_Tensor *f16 = adam_run(BT_F16, 7, 9, false, 11);
  CHECK(max_diff(ref, f16) < 1e-2, "f16 close to f64 (%g)", max_diff(ref, f16));
  bt_Tensor *bf = adam_run(BT_BF16, 7, 9, true, 11);
  CHECK(max_diff(ref, bf) < 5e-2, "bf16 (transposed) close to f64 (%g)", max_diff(ref, bf));
  bt_Tensor *all[] = {ref, tr, f32, f16, bf};
  for (int i = 0; i < 5; i++) bt_release(all[i]);

  /* A gradient of another dtype is cast to the parameter's. */
  bt_Tensor *p = vec(BT_F64, N, W0), *g32 = vec(BT_F32, N, G), *s = bt_zeros(1, SHAPE(N), BT_F64, BT_CPU_DEVICE);
  bt_AdagradOpts ao = {.lr = 0.1, .eps = 1e-10, .step = 1};
  CHECK(bt_adagrad_step(p, g32, s, &ao) == 0 && close_to(bt_get_flat(p, 0), W0[0] - 0.1, 1e-6),
        "an f32 gradient updates an f64 parameter: %s", bt_errmsg());
  bt_release(p);
  bt_release(g32);
  bt_release(s);
}

static void test_threads(void) {
  int nt = bt_get_num_threads();
  bt_set_num_threads(1);
  bt_Tensor *one = adam_run(BT_F32, 513, 1001, false, 5);
  bt_Tensor *one16 = adam_run(BT_BF16, 300, 1001, false, 6);
  bt_set_num_threads(nt > 1 ? nt : 4);
  bt_Tensor *many = adam_run(BT_F32, 513, 1001, false, 5);
  bt_Tensor *many16 = adam_run(BT_BF16, 300, 1001, false, 6);
  bt_set_num_threads(nt);
  CHECK(same_tensor(one, many), "Adam over 513k elements: bit-identical on 1 and many threads");
  CHECK(same_tensor(one16, many16), "bf16 Adam: bit-identical on 1 and many threads");
  bt_release(one);
  bt_release(many);
  bt_release(one16);
  bt_release(many16);
}

/* ---- versions and errors ---------------------------------------------------------------- */

static void test_versions_and_errors(void) {
  bt_Tensor *p = vec(BT_F64, N, W0), *g = vec(BT_F64, N, G);
  bt_Tensor *m = bt_zeros(1, SHAPE(N), BT_F64, BT_CPU_DEVICE), *v = bt_zeros_like(m);
  uint32_t pv = p->storage->version, mv = m->storage->version, gv = g->storage->version;
  bt_AdamOpts o = {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .step = 1};
  CHECK(bt_adam_step(p, g, m, v, NULL, &o) == 0, "adam_step: %s", bt_errmsg());
  CHECK(p->storage->version != pv && m->storage->version != mv && g->storage->version == gv,
        "the parameter's and states' versions are bumped, the gradient's not");

  double before = bt_get_flat(p, 0);
  bt_Tensor *short_m = bt_zeros(1, SHAPE(3), BT_F64, BT_CPU_DEVICE);
  expect_error("state shape", bt_adam_step(p, g, short_m, v, NULL, &o), "Adam: exp_avg has shape [3]", "[5]");
  bt_Tensor *g2 = bt_zeros(2, SHAPE(5, 1), BT_F64, BT_CPU_DEVICE);
  expect_error("gradient shape", bt_adam_step(p, g2, m, v, NULL, &o), "Adam: the gradient has shape [5x1]", "[5]");
  o.amsgrad = true;
  expect_error("missing state", bt_adam_step(p, g, m, v, NULL, &o), "Adam: the state max_exp_avg_sq is missing", NULL);
  o.amsgrad = false;
  o.decoupled = true;
  o.step = 0;
  expect_error("step 0", bt_adam_step(p, g, m, v, NULL, &o), "AdamW: the step number", NULL);
  bt_Tensor *m32 = bt_zeros(1, SHAPE(N), BT_F32, BT_CPU_DEVICE);
  bt_SGDOpts so = {.lr = 0.1, .momentum = 0.9, .first = true};
  expect_error("state dtype", bt_sgd_step(p, g, m32, &so), "SGD: momentum_buffer is f32", "f64");
  expect_error("no buffer", bt_sgd_step(p, g, NULL, &so), "SGD: the state momentum_buffer is missing", NULL);
  bt_Tensor *pi = bt_zeros(1, SHAPE(N), BT_I64, BT_CPU_DEVICE);
  bt_AdadeltaOpts dd = {.lr = 1, .rho = 0.9, .eps = 1e-6};
  expect_error("integer parameter", bt_adadelta_step(pi, pi, pi, pi, &dd), "Adadelta: the parameter must have a floating-point dtype", "i64");
  CHECK(bt_get_flat(p, 0) == before, "failed calls leave the parameter untouched");
  bt_Tensor *all[] = {p, g, m, v, short_m, g2, m32, pi};
  for (int i = 0; i < 8; i++) bt_release(all[i]);
}

/* ---- clipping ------------------------------------------------------------------------------ */

static void test_clipping(void) {
  double a[] = {3, -4, 0, 1}, b[] = {-2, 2, 0.5};
  double pnorm2 = sqrt(9 + 16 + 1 + 4 + 4 + 0.25), pnorm1 = 3 + 4 + 1 + 2 + 2 + 0.5, pinf = 4;
  double p3 = pow(27 + 64 + 1 + 8 + 8 + 0.125, 1.0 / 3);
  struct { double p, max, want; } cases[] = {{2, 1, pnorm2}, {1, 2, pnorm1}, {INFINITY, 0.5, pinf}, {3, 1, p3}, {2, 100, pnorm2}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    for (int f = 0; f < 2; f++) {
      bt_DType dt = f ? BT_F32 : BT_F64;
      bt_Tensor *ga = vec(dt, 4, a), *gb = vec(dt, 3, b);
      bt_Tensor *gs[] = {ga, gb};
      double total;
      int rc = bt_clip_grad_norm_(2, gs, cases[k].max, cases[k].p, &total);
      CHECK(rc == 0 && close_to(total, cases[k].want, 1e-6), "clip_grad_norm p=%g (%s): total %g, want %g", cases[k].p,
            bt_dtype_name(dt), total, cases[k].want);
      double coef = fmin(cases[k].max / (cases[k].want + 1e-6), 1);
      CHECK(close_to(bt_get_flat(ga, 1), -4 * coef, 1e-6) && close_to(bt_get_flat(gb, 2), 0.5 * coef, 1e-6),
            "clip_grad_norm p=%g scales by %g", cases[k].p, coef);
      bt_release(ga);
      bt_release(gb);
    }
  }
  /* A large gradient: the norm does not depend on the number of threads. */
  int nt = bt_get_num_threads();
  bt_manual_seed(3);
  bt_Tensor *big = bt_randn(1, SHAPE(2100003), BT_F32);   /* > 64 blocks: allocated partials */
  double t1, t2;
  bt_Tensor *c1 = bt_clone(big), *c2 = bt_clone(big);
  bt_set_num_threads(1);
  bt_clip_grad_norm_(1, &c1, 1.0, 2, &t1);
  bt_set_num_threads(nt > 1 ? nt : 4);
  bt_clip_grad_norm_(1, &c2, 1.0, 2, &t2);
  bt_set_num_threads(nt);
  CHECK(t1 == t2 && same_tensor(c1, c2), "clip_grad_norm: same on 1 and many threads");
  bt_release(big);
  bt_release(c1);
  bt_release(c2);

  double vals[] = {-3, 0.2, NAN, 5};
  bt_Tensor *g = vec(BT_F32, 4, vals);
  CHECK(bt_clip_grad_value_(1, &g, 1) == 0, "clip_grad_value: %s", bt_errmsg());
  CHECK(bt_get_flat(g, 0) == -1 && fabs(bt_get_flat(g, 1) - 0.2) < 1e-7 && isnan(bt_get_flat(g, 2)) &&
        bt_get_flat(g, 3) == 1, "clip_grad_value clamps and keeps NaN");
  expect_error("negative clip", bt_clip_grad_value_(1, &g, -1), "clip_grad_value", NULL);
  double total;
  expect_error("norm type 0", bt_clip_grad_norm_(1, &g, 1, 0, &total), "clip_grad_norm: norm_type", NULL);
  bt_Tensor *one = bt_ones(1, SHAPE(1), BT_F32, BT_CPU_DEVICE), *ex = bt_expand(one, 1, SHAPE(4));
  expect_error("expanded gradient", bt_clip_grad_norm_(1, &ex, 0.1, 2, &total), "clip_grad_norm", "expanded view");
  bt_Tensor *ints = bt_zeros(1, SHAPE(2), BT_I32, BT_CPU_DEVICE);
  expect_error("integer gradient", bt_clip_grad_value_(1, &ints, 1), "clip_grad_value: gradient 1 has dtype i32", NULL);
  bt_release(g);
  bt_release(one);
  bt_release(ex);
  bt_release(ints);
  /* A non-contiguous (transposed) gradient is clipped in place. */
  double m[] = {1, 2, 3, 4, 5, 6};
  bt_Tensor *mat = bt_from_buffer(2, SHAPE(2, 3), BT_F64, m, BT_F64), *mt = bt_t(mat);
  CHECK(bt_clip_grad_value_(1, &mt, 2.5) == 0 && bt_get_flat(mat, 5) == 2.5 && bt_get_flat(mat, 1) == 2,
        "a transposed gradient is clipped in place");
  bt_release(mat);
  bt_release(mt);
}

int main(void) {
  test_adam_formula();
  test_sgd_formula();
  test_rmsprop_adagrad_adadelta_formulas();
  test_dtypes_and_layouts();
  test_threads();
  test_versions_and_errors();
  test_clipping();
  int status = check_report();
  if (bt_bytes_in_use(BT_CPU) != 0) {
    printf("FAIL: %lld bytes still in use\n", (long long)bt_bytes_in_use(BT_CPU));
    return 1;
  }
  return status;
}
