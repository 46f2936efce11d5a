/*
** test_autocast.c: the autocast state and casts (core/autocast.c): defaults,
** bad dtypes, which dtypes each op class casts, ops under autocast, gradients
** in the parameters' dtype, the state being per thread, and the gradient
** unscaling of loss scaling (values, found infs and NaNs, strided
** gradients, refusals). The Lua surface is tested by tests/lua/amp_spec.lua.
*/
#include "brasa.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static bt_Tensor *vec(bt_DType dt, int64_t n, const double *v) {
  return bt_from_buffer(1, &n, dt, v, BT_F64);
}

static void test_state(void) {
  CHECK(!bt_autocast_enabled(BT_CPU) && !bt_autocast_enabled(BT_CUDA), "autocast on at start");
  CHECK(bt_autocast_dtype(BT_CPU) == BT_BF16, "CPU default %s", bt_dtype_name(bt_autocast_dtype(BT_CPU)));
  CHECK(bt_autocast_dtype(BT_CUDA) == BT_F16, "CUDA default %s", bt_dtype_name(bt_autocast_dtype(BT_CUDA)));
  CHECK(bt_autocast_set(BT_CPU, true, BT_F32) < 0 && strstr(bt_errmsg(), "f16 or bf16"),
        "f32 accepted: %s", bt_errmsg());
  CHECK(!bt_autocast_enabled(BT_CPU) && bt_autocast_dtype(BT_CPU) == BT_BF16, "a refused set changed the state");
  CHECK(bt_autocast_set(BT_CUDA, true, BT_BF16) == 0 && bt_autocast_enabled(BT_CUDA) &&
        bt_autocast_dtype(BT_CUDA) == BT_BF16 && !bt_autocast_enabled(BT_CPU), "set CUDA");
  CHECK(bt_autocast_set(BT_CUDA, false, BT_F16) == 0 && !bt_autocast_enabled(BT_CUDA), "unset CUDA");
}

static void test_casts(void) {
  bt_Tensor *f = bt_ones(1, (int64_t[]){3}, BT_F32, BT_CPU_DEVICE);
  bt_Tensor *h = bt_ones(1, (int64_t[]){3}, BT_BF16, BT_CPU_DEVICE);
  bt_Tensor *d = bt_ones(1, (int64_t[]){3}, BT_F64, BT_CPU_DEVICE);
  bt_Tensor *i = bt_ones(1, (int64_t[]){3}, BT_I64, BT_CPU_DEVICE);
  bt_Tensor *r = bt_autocast_cast(BT_AUTOCAST_LOWER, f);
  CHECK(r == f, "autocast off: a cast was made");
  bt_release(r);
  bt_autocast_set(BT_CPU, true, BT_F16);
  struct { bt_AutocastClass cls; bt_Tensor *t; bt_DType want; } cases[] = {
    {BT_AUTOCAST_LOWER, f, BT_F16}, {BT_AUTOCAST_LOWER, h, BT_F16}, {BT_AUTOCAST_LOWER, d, BT_F64},
    {BT_AUTOCAST_LOWER, i, BT_I64}, {BT_AUTOCAST_F32, f, BT_F32}, {BT_AUTOCAST_F32, h, BT_F32},
    {BT_AUTOCAST_F32, d, BT_F64}, {BT_AUTOCAST_F32, i, BT_I64},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    r = bt_autocast_cast(cases[k].cls, cases[k].t);
    CHECK(r && r->dtype == cases[k].want, "case %zu: %s", k, r ? bt_dtype_name(r->dtype) : bt_errmsg());
    CHECK(r && (r->dtype != cases[k].t->dtype || r == cases[k].t), "case %zu: a copy of the same dtype", k);
    bt_release(r);
  }
  bt_autocast_set(BT_CPU, false, BT_BF16);
  bt_release(f);
  bt_release(h);
  bt_release(d);
  bt_release(i);
}

/* matmul in bf16, sum in f32, and gradients in f32 equal to casting by hand. */
static void test_ops(void) {
  double av[6] = {0.1, -1.3, 2.2, 0.7, 1.9, -0.4}, bv[6] = {1.1, 0.3, -0.8, 2.5, 0.6, -1.7};
  bt_Tensor *a = bt_from_buffer(2, (int64_t[]){2, 3}, BT_F32, av, BT_F64);
  bt_Tensor *b = bt_from_buffer(2, (int64_t[]){3, 2}, BT_F32, bv, BT_F64);
  bt_requires_grad_(b, true);
  bt_autocast_set(BT_CPU, true, BT_BF16);
  bt_Tensor *y = bt_matmul(a, b), *s = y ? bt_sum(y, BT_REDUCE_ALL, false) : NULL;
  bt_Tensor *m = y ? bt_mm(a, b) : NULL;
  bt_autocast_set(BT_CPU, false, BT_BF16);
  CHECK(y && y->dtype == BT_BF16, "matmul: %s", y ? bt_dtype_name(y->dtype) : bt_errmsg());
  CHECK(m && m->dtype == BT_BF16, "mm: %s", m ? bt_dtype_name(m->dtype) : bt_errmsg());
  CHECK(s && s->dtype == BT_F32, "sum: %s", s ? bt_dtype_name(s->dtype) : bt_errmsg());
  CHECK(s && bt_backward(1, &s, NULL, NULL) == 0, "backward: %s", bt_errmsg());
  CHECK(b->grad && b->grad->dtype == BT_F32, "the gradient is not f32");
  /* by hand: sum(a16 @ b16) -> d/db = a16^T @ ones, rounded to bf16 then widened */
  bt_Tensor *a16 = bt_to_dtype(a, BT_BF16);
  if (b->grad) {
    bool ok = true;
    for (int64_t k = 0; k < 3; k++) {
      double col = bt_get_flat(a16, k) + bt_get_flat(a16, 3 + k);
      double want = bt_bf16_to_f32(bt_f32_to_bf16((float)col));
      for (int64_t j = 0; j < 2; j++) ok = ok && bt_get_flat(b->grad, k * 2 + j) == want;
    }
    CHECK(ok, "gradient differs from the hand-cast one");
  }
  bt_release(a16);
  bt_release(y);
  bt_release(s);
  bt_release(m);
  bt_release(a);
  bt_release(b);
}

static void *other_thread(void *arg) {
  bool *seen = arg;
  seen[0] = bt_autocast_enabled(BT_CPU);
  bt_Tensor *t = bt_ones(2, (int64_t[]){2, 2}, BT_F32, BT_CPU_DEVICE);
  bt_Tensor *p = t ? bt_matmul(t, t) : NULL;
  seen[1] = p && p->dtype == BT_F32;
  bt_release(p);
  bt_release(t);
  return NULL;
}

static void test_threads(void) {
  bt_autocast_set(BT_CPU, true, BT_BF16);
  bool seen[2] = {true, false};
  pthread_t th;
  CHECK(pthread_create(&th, NULL, other_thread, seen) == 0, "pthread_create");
  pthread_join(th, NULL);
  CHECK(!seen[0] && seen[1], "another thread saw this thread's autocast");
  CHECK(bt_autocast_enabled(BT_CPU), "the state changed under this thread");
  bt_autocast_set(BT_CPU, false, BT_BF16);
}

static void test_unscale(void) {
  bt_Tensor *a = vec(BT_F32, 3, (double[]){2, -4, 8});
  bt_Tensor *b = bt_from_buffer(2, (int64_t[]){2, 3}, BT_F64, (double[]){1, 2, 3, 4, 5, 6}, BT_F64);
  bt_Tensor *bt = bt_t(b);   /* a strided gradient */
  bt_Tensor *gs[3] = {a, NULL, bt};
  bool found = true;
  CHECK(bt_amp_unscale_(3, gs, 0.5, &found) == 0 && !found, "finite gradients: %s", bt_errmsg());
  CHECK(bt_get_flat(a, 0) == 1 && bt_get_flat(a, 1) == -2 && bt_get_flat(a, 2) == 4, "a not unscaled");
  CHECK(bt_get_flat(b, 0) == 0.5 && bt_get_flat(b, 5) == 3, "the strided gradient not unscaled");
  const double bad[3] = {INFINITY, -INFINITY, NAN};
  for (int k = 0; k < 3; k++) {
    bt_Tensor *c = vec(BT_F32, 4, (double[]){1, 2, bad[k], 4});
    bt_Tensor *gs2[2] = {a, c};
    found = false;
    CHECK(bt_amp_unscale_(2, gs2, 1, &found) == 0 && found, "value %g not found", bad[k]);
    bt_release(c);
  }
  bt_Tensor *big = vec(BT_F32, 2, (double[]){3e38, 3e38});
  found = false;   /* finite values that become infinite once unscaled: found */
  CHECK(bt_amp_unscale_(1, &big, 2, &found) == 0 && found, "an overflow by unscaling was missed");
  bt_Tensor *h = vec(BT_F16, 2, (double[]){1, 2});
  CHECK(bt_amp_unscale_(1, &h, 0.5, &found) < 0 && strstr(bt_errmsg(), "f16"), "f16 accepted: %s",
        bt_errmsg());
  CHECK(bt_amp_unscale_(1, &a, 0, &found) < 0 && strstr(bt_errmsg(), "inverse scale"),
        "inv_scale 0 accepted: %s", bt_errmsg());
  bt_Tensor *i = vec(BT_I64, 2, (double[]){1, 2});
  CHECK(bt_amp_unscale_(1, &i, 1, &found) < 0 && strstr(bt_errmsg(), "i64"), "i64 accepted: %s", bt_errmsg());
  CHECK(bt_amp_unscale_(0, NULL, 1, &found) == 0 && !found, "no gradients");
  bt_release(a);
  bt_release(b);
  bt_release(bt);
  bt_release(big);
  bt_release(h);
  bt_release(i);
}

int main(void) {
  test_state();
  test_casts();
  test_ops();
  test_threads();
  test_unscale();
  printf("test_autocast: ");
  return check_report();
}
