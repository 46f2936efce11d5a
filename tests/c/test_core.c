/*
** test_core.c: checks of libbrasa's public C API (and of two internals the
** kernels rely on: the Philox generator and bt_parallel_for).
**   creation and release, views sharing storage, reference counts and bytes
**   returning to their start value, errors (NULL + bt_errmsg naming the op),
**   shape overflow refused before any allocation, injected allocation
**   failures, f16/bf16 conversions (inf, nan, subnormals, ties to even),
**   Philox known answers and thread-count independence, bt_parallel_for
**   covering every index exactly once, and transposing copies (the blocked
**   path of contiguous()) putting every element in its place.
** Prints "N passed, M failed"; exits nonzero on any failure.
*/
#include "brasa.h"
#include "internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;
static const char *current_test = "";

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (cond) passed++;                                                                   \
    else {                                                                                \
      failed++;                                                                           \
      fprintf(stderr, "FAIL %s (%s:%d): %s\n", current_test, __FILE__, __LINE__, #cond); \
    }                                                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                                         \
  do {                                                                               \
    if (cond) passed++;                                                              \
    else {                                                                           \
      failed++;                                                                      \
      fprintf(stderr, "FAIL %s (%s:%d): %s: ", current_test, __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                  \
      fputc('\n', stderr);                                                           \
    }                                                                                \
  } while (0)

/* The last error mentions every one of the given strings. */
static bool err_has(const char *a, const char *b, const char *c) {
  const char *m = bt_errmsg();
  if (!m) return false;
  return (!a || strstr(m, a)) && (!b || strstr(m, b)) && (!c || strstr(m, c));
}

#define CHECK_ERR(expr_null, a, b, c)                                                  \
  do {                                                                                  \
    bool is_null_ = (expr_null);                                                        \
    CHECK_MSG(is_null_ && err_has(a, b, c), "message: '%s'", bt_errmsg() ? bt_errmsg() : "(null)"); \
  } while (0)

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static bt_Tensor *from_doubles(int ndim, const int64_t *shape, const double *v, bt_DType dt) {
  return bt_from_buffer(ndim, shape, dt, v, BT_F64);
}

static bool values_are(const bt_Tensor *t, const double *want, int64_t n) {
  if (bt_numel(t) != n) return false;
  for (int64_t i = 0; i < n; i++)
    if (bt_get_flat(t, i) != want[i]) return false;
  return true;
}

/* ---- creation, access, release ------------------------------------------ */

static void test_create_release(void) {
  current_test = "create_release";
  int64_t start = bt_bytes_in_use(BT_CPU);
  int64_t shape[2] = {2, 3};
  bt_Tensor *z = bt_zeros(2, shape, BT_F32, BT_CPU_DEVICE);
  CHECK(z != NULL);
  CHECK(z->refcount == 1 && z->storage->refcount == 1);
  CHECK(z->ndim == 2 && z->shape[0] == 2 && z->shape[1] == 3);
  CHECK(z->stride[0] == 3 && z->stride[1] == 1 && z->offset == 0);
  CHECK(z->dtype == BT_F32 && bt_numel(z) == 6 && bt_is_contiguous(z));
  CHECK(bt_bytes_in_use(BT_CPU) - start == 6 * 4);
  double zeros[6] = {0};
  CHECK(values_are(z, zeros, 6));

  bt_Tensor *f = bt_full(2, shape, 2.5, BT_F64, BT_CPU_DEVICE);
  double twos[6] = {2.5, 2.5, 2.5, 2.5, 2.5, 2.5};
  CHECK(values_are(f, twos, 6));
  CHECK(bt_bytes_in_use(BT_CPU) - start == 6 * 4 + 6 * 8);

  double v[6] = {1, 2, 3, 4, 5, 6};
  bt_Tensor *a = from_doubles(2, shape, v, BT_I64);
  int64_t idx[2] = {1, 2};
  CHECK(bt_get_i64(a, idx) == 6);
  CHECK(bt_set_i64(a, idx, 60) == 0 && bt_get_i64(a, idx) == 60);
  CHECK(bt_get_flat_i64(a, 5) == 60);
  double out[6];
  CHECK(bt_to_doubles(a, out) == 0 && out[0] == 1 && out[5] == 60);

  bt_Tensor *s = bt_scalar(3.25, BT_F32);
  CHECK(s->ndim == 0 && bt_numel(s) == 1 && bt_get_flat(s, 0) == 3.25);
  bt_Tensor *big = bt_scalar_i64(INT64_C(9007199254740993), BT_I64);
  CHECK(bt_get_flat_i64(big, 0) == INT64_C(9007199254740993));

  bt_Tensor *e = bt_eye(2, 3, BT_F32);
  double eye[6] = {1, 0, 0, 0, 1, 0};
  CHECK(e->shape[0] == 2 && e->shape[1] == 3 && values_are(e, eye, 6));
  bt_Tensor *r = bt_arange(1, 2, 4, BT_I64);
  double ar[4] = {1, 3, 5, 7};
  CHECK(values_are(r, ar, 4) && r->dtype == BT_I64);
  bt_Tensor *l = bt_linspace(0, 1, 5, BT_F64);
  double ls[5] = {0, 0.25, 0.5, 0.75, 1};
  CHECK(values_are(l, ls, 5));
  bt_Tensor *like = bt_ones_like(f);
  CHECK(like->dtype == BT_F64 && like->ndim == 2 && bt_get_flat(like, 4) == 1);

  char buf[96];
  CHECK(strcmp(bt_shape_str(z, buf), "[2x3]") == 0);
  CHECK(strcmp(bt_shape_str(s, buf), "[]") == 0);

  /* retain/release */
  bt_retain(z);
  CHECK(z->refcount == 2);
  bt_release(z);
  CHECK(z->refcount == 1);
  bt_release(NULL);   /* fine */

  bt_Tensor *all[] = {z, f, a, s, big, e, r, l, like};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left", (long long)(bt_bytes_in_use(BT_CPU) - start));
}

/* ---- views ------------------------------------------------------------------- */

static void test_views_share_storage(void) {
  current_test = "views_share_storage";
  int64_t start = bt_bytes_in_use(BT_CPU);
  int64_t shape[2] = {3, 4};
  double v[12];
  for (int i = 0; i < 12; i++) v[i] = i + 1;
  bt_Tensor *x = from_doubles(2, shape, v, BT_F32);
  int64_t before = bt_bytes_in_use(BT_CPU);

  int64_t vs[2] = {2, -1};
  bt_Tensor *vw = bt_view(x, 2, vs);
  CHECK(vw && vw->shape[0] == 2 && vw->shape[1] == 6);
  CHECK(vw->storage == x->storage && x->storage->refcount == 2);
  bt_Tensor *tr = bt_t(x);
  CHECK(tr->storage == x->storage && tr->stride[0] == 1 && tr->stride[1] == 4);
  CHECK(!bt_is_contiguous(tr));
  bt_Tensor *nr = bt_narrow(x, 1, 1, 2);
  CHECK(nr->storage == x->storage && nr->offset == 1 && nr->shape[1] == 2);
  bt_Tensor *sl = bt_select(x, 0, 2);
  CHECK(sl->storage == x->storage && sl->ndim == 1 && sl->offset == 8);
  bt_Tensor *un = bt_unsqueeze(x, 0);
  CHECK(un->ndim == 3 && un->shape[0] == 1 && un->storage == x->storage);
  int64_t es[3] = {5, 3, 4};
  bt_Tensor *ex = bt_expand(x, 3, es);
  CHECK(ex && ex->stride[0] == 0 && ex->storage == x->storage);
  int perm[2] = {1, 0};
  bt_Tensor *pm = bt_permute(x, perm);
  CHECK(pm->storage == x->storage && pm->shape[0] == 4);
  CHECK(x->storage->refcount == 8);
  CHECK(bt_bytes_in_use(BT_CPU) == before);   /* no view allocated data */

  /* writing through a view is visible in the base */
  int64_t i01[2] = {0, 1};
  CHECK(bt_set(nr, i01, 100) == 0);
  int64_t i02[2] = {0, 2};
  CHECK(bt_get(x, i02) == 100);
  int64_t i1[1] = {3};
  CHECK(bt_set(sl, i1, -12) == 0 && bt_get_flat(x, 11) == -12);
  int64_t t32[2] = {3, 2};
  CHECK(bt_get(tr, t32) == -12);

  /* contiguous: itself when already, a copy otherwise */
  bt_Tensor *c1 = bt_contiguous(x);
  CHECK(c1 == x && x->refcount == 2);
  bt_Tensor *c2 = bt_contiguous(tr);
  CHECK(c2 != tr && c2->storage != x->storage && bt_is_contiguous(c2));
  CHECK(bt_get_flat(c2, 1) == 5 && bt_get_flat(c2, 11) == -12);
  /* reshape: a view when possible, a copy of a transpose */
  int64_t flat[1] = {12};
  bt_Tensor *r1 = bt_reshape(x, 1, flat);
  CHECK(r1->storage == x->storage);
  bt_Tensor *r2 = bt_reshape(tr, 1, flat);
  CHECK(r2->storage != x->storage && bt_get_flat(r2, 1) == 5);
  CHECK_ERR(bt_view(tr, 1, flat) == NULL, "view", NULL, NULL);

  /* clone and detach */
  bt_Tensor *cl = bt_clone(x);
  CHECK(cl->storage != x->storage && bt_get_flat(cl, 2) == 100);
  bt_Tensor *dt = bt_detach(x);
  CHECK(dt->storage == x->storage);

  bt_Tensor *all[] = {vw, tr, nr, sl, un, ex, pm, c1, c2, r1, r2, cl, dt};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
  CHECK(x->refcount == 1 && x->storage->refcount == 1);
  bt_release(x);
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left", (long long)(bt_bytes_in_use(BT_CPU) - start));
}

/* ---- ops and autograd give every byte back ------------------------------------ */

static void test_graph_releases_everything(void) {
  current_test = "graph_releases_everything";
  int64_t start = bt_bytes_in_use(BT_CPU);
  int64_t shape[2] = {4, 3};
  bt_manual_seed(11);
  bt_Tensor *w = bt_randn(2, shape, BT_F32);
  CHECK(bt_requires_grad_(w, true) == 0 && w->requires_grad);
  int64_t xs[2] = {5, 4};
  bt_Tensor *x = bt_rand(2, xs, BT_F32);
  bt_Tensor *h = bt_matmul(x, w);               /* 5x3 */
  bt_Tensor *a = bt_unary(BT_TANH, h);
  bt_Tensor *b = bt_mul_scalar(a, 3);
  bt_Tensor *s = bt_sum(b, BT_REDUCE_ALL, false);
  CHECK(s && s->ndim == 0 && s->grad_fn != NULL);
  CHECK(bt_grad_fn_name(s) != NULL && bt_grad_fn_name(w) == NULL);
  CHECK(bt_backward(1, &s, NULL, NULL) == 0);
  CHECK(w->grad && w->grad->shape[0] == 4 && w->grad->shape[1] == 3);
  /* d/dw sum(3 tanh(x w)) = x^T (3 (1 - tanh^2)) */
  double g00 = 0;
  for (int i = 0; i < 5; i++) {
    int64_t xi[2] = {i, 0}, ai[2] = {i, 0};
    double t = bt_get(a, ai);
    g00 += bt_get(x, xi) * 3 * (1 - t * t);
  }
  int64_t z[2] = {0, 0};
  CHECK_MSG(fabs(bt_get(w->grad, z) - g00) < 1e-5 * (1 + fabs(g00)), "%g vs %g", bt_get(w->grad, z), g00);

  /* brasa.grad-style call with create_graph, then everything released */
  bt_Tensor *sq = bt_unary(BT_SQUARE, w);
  bt_Tensor *s2 = bt_sum(sq, BT_REDUCE_ALL, false);
  bt_Tensor *g = NULL;
  bt_BackwardOpts o = {.create_graph = true};
  CHECK(bt_grad(1, &s2, NULL, 1, &w, &g, &o) == 0 && g != NULL);
  CHECK(g && fabs(bt_get(g, z) - 2 * bt_get(w, z)) < 1e-6);

  bt_release(g);
  bt_release(s2);
  bt_release(sq);
  bt_Tensor *all[] = {w, x, h, a, b, s};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left", (long long)(bt_bytes_in_use(BT_CPU) - start));
}

/* ---- errors -------------------------------------------------------------------- */

static void test_errors(void) {
  current_test = "errors";
  int64_t start = bt_bytes_in_use(BT_CPU);
  int64_t s34[2] = {3, 4}, s52[2] = {5, 2}, s23[2] = {2, 3}, s4[1] = {4};
  bt_Tensor *a = bt_ones(2, s34, BT_F32, BT_CPU_DEVICE);
  bt_Tensor *b = bt_ones(2, s52, BT_F32, BT_CPU_DEVICE);
  bt_Tensor *c = bt_ones(2, s23, BT_F32, BT_CPU_DEVICE);
  bt_Tensor *d = bt_ones(1, s4, BT_F32, BT_CPU_DEVICE);

  CHECK(bt_matmul(a, b) == NULL);
  CHECK_MSG(strcmp(bt_errmsg(), "matmul: [3x4] @ [5x2]: inner sizes 4 and 5 differ") == 0, "'%s'", bt_errmsg());
  CHECK_ERR(bt_mm(a, b) == NULL, "[3x4]", "[5x2]", NULL);
  CHECK_ERR(bt_add(c, d) == NULL, "add", "[2x3]", "[4]");
  CHECK_ERR(bt_binary(BT_MUL, c, d) == NULL, "mul", NULL, NULL);
  CHECK_ERR(bt_binary(BT_ATAN2, c, d) == NULL, "atan2", NULL, NULL);
  int64_t bad[1] = {5};
  CHECK_ERR(bt_view(c, 1, bad) == NULL, "view", NULL, NULL);
  int64_t two_m1[2] = {-1, -1};
  CHECK_ERR(bt_view(c, 2, two_m1) == NULL, "view", NULL, NULL);
  CHECK_ERR(bt_narrow(c, 1, 2, 2) == NULL, "narrow", NULL, NULL);
  CHECK_ERR(bt_narrow(c, 1, -1, 1) == NULL, "narrow", NULL, NULL);
  CHECK_ERR(bt_select(c, 0, 2) == NULL, "select", NULL, NULL);
  CHECK_ERR(bt_transpose(c, 0, 2) == NULL, "transpose", NULL, NULL);
  CHECK(bt_wrap_dim("sum", 2, 2) < 0 && strstr(bt_errmsg(), "sum"));
  CHECK(bt_wrap_dim("sum", -1, 2) == 1 && bt_wrap_dim("sum", 1, 2) == 1 && bt_wrap_dim("sum", -2, 2) == 0);
  CHECK(bt_wrap_dim("sum", -3, 2) < 0);
  CHECK_ERR(bt_dot(a, a) == NULL, "dot", NULL, NULL);
  CHECK_ERR(bt_bmm(a, a) == NULL, "bmm", NULL, NULL);
  int64_t neg[2] = {2, -3};
  CHECK_ERR(bt_empty(2, neg, BT_F32, BT_CPU_DEVICE) == NULL, "negative", NULL, NULL);
  CHECK_ERR(bt_zeros(2, neg, BT_F32, BT_CPU_DEVICE) == NULL, "-3", NULL, NULL);
  int64_t many[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK(bt_empty(9, many, BT_F32, BT_CPU_DEVICE) == NULL);
  bt_Tensor *cats[2] = {c, d};
  CHECK_ERR(bt_cat(2, cats, 0) == NULL, "cat", NULL, NULL);
  CHECK_ERR(bt_stack(2, cats, 0) == NULL, "stack", NULL, NULL);

  /* integer tensors cannot require grad; in-place on a leaf that requires grad */
  bt_Tensor *i = bt_zeros(2, s23, BT_I64, BT_CPU_DEVICE);
  CHECK(bt_requires_grad_(i, true) < 0 && !i->requires_grad);
  bt_Tensor *w = bt_ones(2, s23, BT_F32, BT_CPU_DEVICE);
  CHECK(bt_requires_grad_(w, true) == 0);
  CHECK(bt_binary_(BT_ADD, w, c) < 0 && strstr(bt_errmsg(), "add"));
  CHECK(bt_get_flat(w, 0) == 1);
  bt_Tensor *y = bt_mul_scalar(w, 2);
  CHECK(bt_requires_grad_(y, true) == 0 && bt_requires_grad_(y, false) < 0);   /* not a leaf */
  /* in-place would broadcast the target */
  int64_t s13[2] = {1, 3};
  bt_Tensor *row = bt_ones(2, s13, BT_F32, BT_CPU_DEVICE);
  CHECK(bt_binary_(BT_ADD, row, c) < 0 && strstr(bt_errmsg(), "add_"));
  CHECK(bt_get_flat(row, 0) == 1 && bt_get_flat(row, 2) == 1);

  /* the inputs are untouched by all of the above */
  CHECK(a->shape[0] == 3 && a->shape[1] == 4 && bt_get_flat(a, 11) == 1);
  CHECK(c->refcount == 1 && c->storage->refcount == 1 && bt_get_flat(c, 5) == 1);
  CHECK(d->refcount == 1 && bt_get_flat(d, 3) == 1);

  /* dtype names */
  CHECK(bt_dtype_parse("float32") == BT_F32 && bt_dtype_parse("float") == BT_F32);
  CHECK(bt_dtype_parse("half") == BT_F16 && bt_dtype_parse("bfloat16") == BT_BF16);
  CHECK(bt_dtype_parse("int64") == BT_I64 && bt_dtype_parse("long") == BT_I64);
  CHECK(bt_dtype_parse("f64") == BT_F64 && bt_dtype_parse("double") == BT_F64);
  CHECK(bt_dtype_parse("bogus") == -1 && bt_dtype_parse("") == -1);
  CHECK(strcmp(bt_dtype_name(BT_BF16), "bf16") == 0 && strcmp(bt_dtype_name(BT_U8), "u8") == 0);
  CHECK(bt_dtype_size(BT_F16) == 2 && bt_dtype_size(BT_I64) == 8 && bt_dtype_size(BT_BOOL) == 1);
  CHECK(bt_promote(BT_I32, BT_I64) == BT_I64 && bt_promote(BT_BOOL, BT_U8) == BT_U8);
  CHECK(bt_promote(BT_F16, BT_BF16) == BT_F32 && bt_promote(BT_I64, BT_F16) == BT_F16);
  CHECK(bt_promote(BT_F32, BT_F64) == BT_F64 && bt_promote(BT_BOOL, BT_BOOL) == BT_BOOL);

  /* wrapped numbers: i64 tensor * 0.5 is f32, i64 / i64 is f32 */
  bt_Tensor *ip = bt_arange(1, 1, 3, BT_I64);
  bt_Tensor *h = bt_binary_scalar(BT_MUL, ip, 0.5, false);
  CHECK(h && h->dtype == BT_F32 && bt_get_flat(h, 2) == 1.5);
  bt_Tensor *q = bt_div(ip, ip);
  CHECK(q && q->dtype == BT_F32 && bt_get_flat(q, 0) == 1);

  bt_Tensor *all[] = {a, b, c, d, i, w, y, row, ip, h, q};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left", (long long)(bt_bytes_in_use(BT_CPU) - start));
}

/* ---- shape overflow and allocation failures -------------------------------- */

static void test_overflow_and_alloc_failures(void) {
  current_test = "overflow_and_alloc_failures";
  int64_t start = bt_bytes_in_use(BT_CPU);
  /* Arm an injected failure: an overflow must be refused before allocating,
  ** so the message is the overflow's and the injection stays armed. */
  bt_fail_alloc_after(0);
  int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
  CHECK_ERR(bt_empty(2, huge, BT_F32, BT_CPU_DEVICE) == NULL, "too many elements", NULL, NULL);
  int64_t huge3[3] = {INT64_C(1) << 31, INT64_C(1) << 31, INT64_C(1) << 2};
  CHECK_ERR(bt_zeros(3, huge3, BT_F32, BT_CPU_DEVICE) == NULL, "too many elements", NULL, NULL);
  int64_t bytes_ovf[1] = {INT64_C(1) << 62};   /* numel fits, bytes do not */
  CHECK_ERR(bt_empty(1, bytes_ovf, BT_F64, BT_CPU_DEVICE) == NULL, "too many elements", NULL, NULL);
  /* the injection is still armed: the next real allocation fails */
  int64_t s2[1] = {2};
  CHECK_ERR(bt_ones(1, s2, BT_F32, BT_CPU_DEVICE) == NULL, "injected", NULL, NULL);
  bt_fail_alloc_after(-1);
  CHECK(bt_bytes_in_use(BT_CPU) == start);
  /* a zero size makes the product 0 however large the others */
  int64_t zero_and_huge[3] = {0, INT64_MAX, INT64_MAX};
  bt_Tensor *empty0 = bt_empty(3, zero_and_huge, BT_F32, BT_CPU_DEVICE);
  CHECK(empty0 != NULL && bt_numel(empty0) == 0);

  /* more than the machine's memory: a clear error, nothing allocated */
  int64_t tera[2] = {1000000, 1000000};
  CHECK_ERR(bt_zeros(2, tera, BT_F32, BT_CPU_DEVICE) == NULL, "memory", NULL, NULL);
  CHECK(bt_bytes_in_use(BT_CPU) == start);

  /* injected failures inside ops leave a message and no leak */
  int64_t sh[2] = {8, 8};
  bt_Tensor *a = bt_ones(2, sh, BT_F32, BT_CPU_DEVICE), *b = bt_ones(2, sh, BT_F32, BT_CPU_DEVICE);
  int64_t mid = bt_bytes_in_use(BT_CPU);
  struct { const char *name; int kind; } ops[] = {{"add", 0}, {"matmul", 1}, {"sum", 2}, {"cat", 3}, {"exp", 4}};
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
    for (int n = 0; n < 4; n++) {
      bt_fail_alloc_after(n);
      bt_Tensor *r = NULL;
      bt_Tensor *ab[2] = {a, b};
      switch (ops[k].kind) {
        case 0: r = bt_add(a, b); break;
        case 1: r = bt_matmul(a, b); break;
        case 2: r = bt_sum(a, 1, false); break;
        case 3: r = bt_cat(2, ab, 0); break;
        default: r = bt_unary(BT_EXP, a); break;
      }
      bt_fail_alloc_after(-1);
      if (!r) CHECK_MSG(strstr(bt_errmsg(), "injected") != NULL, "%s: '%s'", ops[k].name, bt_errmsg());
      bt_release(r);
      CHECK_MSG(bt_bytes_in_use(BT_CPU) == mid, "%s after %d: %lld bytes left", ops[k].name, n,
                (long long)(bt_bytes_in_use(BT_CPU) - mid));
    }
    /* with n = 0 the op must have failed */
    bt_fail_alloc_after(0);
    bt_Tensor *ab[2] = {a, b};
    bt_Tensor *r = ops[k].kind == 0 ? bt_add(a, b) : ops[k].kind == 1 ? bt_matmul(a, b)
                 : ops[k].kind == 2 ? bt_sum(a, 1, false) : ops[k].kind == 3 ? bt_cat(2, ab, 0)
                 : bt_unary(BT_EXP, a);
    bt_fail_alloc_after(-1);
    CHECK_MSG(r == NULL, "%s succeeded with the first allocation failing", ops[k].name);
    bt_release(r);
  }
  /* the engine works afterwards, inputs untouched */
  bt_Tensor *m = bt_matmul(a, b);
  CHECK(m && bt_get_flat(m, 63) == 8 && bt_get_flat(a, 0) == 1 && bt_get_flat(b, 63) == 1);
  bt_release(m);
  bt_release(a);
  bt_release(b);
  bt_release(empty0);
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left", (long long)(bt_bytes_in_use(BT_CPU) - start));
}

/* ---- f16 and bf16 ----------------------------------------------------------------- */

static void test_half_conversions(void) {
  current_test = "half_conversions";
  /* f32 -> f16 */
  CHECK(bt_f32_to_f16(0.0f) == 0x0000);
  CHECK(bt_f32_to_f16(-0.0f) == 0x8000);
  CHECK(bt_f32_to_f16(1.0f) == 0x3c00);
  CHECK(bt_f32_to_f16(-2.0f) == 0xc000);
  CHECK(bt_f32_to_f16(65504.0f) == 0x7bff);          /* largest finite */
  CHECK(bt_f32_to_f16(65519.0f) == 0x7bff);          /* below the halfway point */
  CHECK(bt_f32_to_f16(65520.0f) == 0x7c00);          /* halfway: ties to even = inf */
  CHECK(bt_f32_to_f16(1e10f) == 0x7c00);
  CHECK(bt_f32_to_f16(INFINITY) == 0x7c00);
  CHECK(bt_f32_to_f16(-INFINITY) == 0xfc00);
  uint16_t hn = bt_f32_to_f16(NAN);
  CHECK((hn & 0x7c00) == 0x7c00 && (hn & 0x03ff) != 0);
  uint16_t hn2 = bt_f32_to_f16(bits_f32(0x7f800001));   /* a NaN with only low bits */
  CHECK((hn2 & 0x7c00) == 0x7c00 && (hn2 & 0x03ff) != 0);
  CHECK(bt_f32_to_f16(6.103515625e-05f) == 0x0400);  /* 2^-14, smallest normal */
  CHECK(bt_f32_to_f16(ldexpf(1, -24)) == 0x0001);     /* smallest subnormal */
  CHECK(bt_f32_to_f16(ldexpf(1023, -24)) == 0x03ff);  /* largest subnormal */
  CHECK(bt_f32_to_f16(ldexpf(1, -25)) == 0x0000);     /* tie: to even (0) */
  CHECK(bt_f32_to_f16(ldexpf(3, -25)) == 0x0002);     /* tie: to even (2) */
  CHECK(bt_f32_to_f16(ldexpf(5, -26)) == 0x0001);     /* 1.25 units: down */
  CHECK(bt_f32_to_f16(-ldexpf(1, -24)) == 0x8001);
  CHECK(bt_f32_to_f16(ldexpf(1, -30)) == 0x0000);     /* underflow */
  CHECK(bt_f32_to_f16(bits_f32(1)) == 0x0000);        /* f32 subnormal */
  CHECK(bt_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00);      /* tie to even: down */
  CHECK(bt_f32_to_f16(1.0f + ldexpf(3, -11)) == 0x3c02);      /* tie to even: up */
  CHECK(bt_f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01);   /* above the tie */
  CHECK(bt_f32_to_f16(2047.0f) == 0x67ff && bt_f32_to_f16(2049.0f) == 0x6800);
  CHECK(bt_f32_to_f16(1.0f / 3) == 0x3555);
  /* f16 -> f32 */
  CHECK(bt_f16_to_f32(0x3555) == 0.333251953125f);
  CHECK(bt_f16_to_f32(0x0001) == ldexpf(1, -24));
  CHECK(bt_f16_to_f32(0x03ff) == ldexpf(1023, -24));
  CHECK(bt_f16_to_f32(0x0400) == ldexpf(1, -14));
  CHECK(bt_f16_to_f32(0x7bff) == 65504.0f);
  CHECK(bt_f16_to_f32(0x7c00) == INFINITY && bt_f16_to_f32(0xfc00) == -INFINITY);
  CHECK(isnan(bt_f16_to_f32(0x7e00)) && isnan(bt_f16_to_f32(0x7c01)));
  float nz = bt_f16_to_f32(0x8000);
  CHECK(nz == 0 && signbit(nz));
  CHECK(bt_f16_to_f32(0x8001) == -ldexpf(1, -24));
  /* every finite f16 survives a round trip */
  int bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) == 0x7c00) continue;
    if (bt_f32_to_f16(bt_f16_to_f32((uint16_t)h)) != h) bad++;
  }
  CHECK_MSG(bad == 0, "%d f16 values do not round-trip", bad);

  /* f32 -> bf16 */
  CHECK(bt_f32_to_bf16(1.0f) == 0x3f80);
  CHECK(bt_f32_to_bf16(-0.0f) == 0x8000);
  CHECK(bt_f32_to_bf16(1.0f / 3) == 0x3eab);
  CHECK(bt_bf16_to_f32(0x3eab) == 0.333984375f);
  CHECK(bt_f32_to_bf16(INFINITY) == 0x7f80 && bt_f32_to_bf16(-INFINITY) == 0xff80);
  uint16_t bn = bt_f32_to_bf16(NAN);
  CHECK((bn & 0x7f80) == 0x7f80 && (bn & 0x7f) != 0);
  uint16_t bn2 = bt_f32_to_bf16(bits_f32(0x7f800001));      /* must not round to inf */
  CHECK((bn2 & 0x7f80) == 0x7f80 && (bn2 & 0x7f) != 0);
  uint16_t bn3 = bt_f32_to_bf16(bits_f32(0xffffffff));      /* must not wrap to +0 */
  CHECK((bn3 & 0x7f80) == 0x7f80 && (bn3 & 0x7f) != 0);
  CHECK(bt_f32_to_bf16(bits_f32(0x7f7fffff)) == 0x7f80);    /* FLT_MAX rounds to inf */
  CHECK(bt_f32_to_bf16(bits_f32(0x3f808000)) == 0x3f80);    /* tie: to even, down */
  CHECK(bt_f32_to_bf16(bits_f32(0x3f818000)) == 0x3f82);    /* tie: to even, up */
  CHECK(bt_f32_to_bf16(bits_f32(0x3f808001)) == 0x3f81);    /* above the tie */
  CHECK(bt_f32_to_bf16(bits_f32(0x00010000)) == 0x0001);    /* subnormal kept */
  CHECK(bt_f32_to_bf16(bits_f32(0x00008000)) == 0x0000);    /* tie to even */
  CHECK(bt_f32_to_bf16(bits_f32(0x00018000)) == 0x0002);
  /* bf16 -> f32 is exact: every bf16 round-trips */
  bad = 0;
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = bt_bf16_to_f32((uint16_t)h);
    if (f32_bits(f) != h << 16) bad++;
    if (!isnan(f) && bt_f32_to_bf16(f) != h) bad++;
  }
  CHECK_MSG(bad == 0, "%d bf16 values do not round-trip", bad);

  /* tensors of f16 store rounded values */
  double v[3] = {1.0 / 3, 70000, 1e-8};
  int64_t n3[1] = {3};
  bt_Tensor *h = bt_from_buffer(1, n3, BT_F16, v, BT_F64);
  CHECK(bt_get_flat(h, 0) == 0.333251953125 && isinf(bt_get_flat(h, 1)) && bt_get_flat(h, 2) == 0);
  bt_Tensor *hf = bt_to_dtype(h, BT_F32);
  CHECK(hf->dtype == BT_F32 && bt_get_flat(hf, 0) == 0.333251953125);
  bt_release(hf);
  bt_release(h);
}

/* ---- random --------------------------------------------------------------------- */

static void test_philox(void) {
  current_test = "philox";
  /* Known answer (Random123's kat_vectors: philox4x32 10, counter 0, key 0) */
  uint32_t out[4];
  bt_philox(0, 0, out);
  CHECK_MSG(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u,
            "%08x %08x %08x %08x", out[0], out[1], out[2], out[3]);
  uint32_t o2[4];
  bt_philox(0, 1, o2);
  CHECK(memcmp(out, o2, sizeof out) != 0);
  bt_philox(1, 0, o2);
  CHECK(memcmp(out, o2, sizeof out) != 0);

  int saved = bt_get_num_threads();
  int64_t n[1] = {200003};
  bt_Tensor *r[4][3];
  int threads[4] = {1, 2, 3, 4};
  for (int k = 0; k < 4; k++) {
    bt_set_num_threads(threads[k]);
    bt_manual_seed(2024);
    r[k][0] = bt_rand(1, n, BT_F32);
    r[k][1] = bt_randn(1, n, BT_F64);
    r[k][2] = bt_randint(-3, 3, 1, n, BT_I64);
  }
  bt_set_num_threads(saved);
  CHECK(bt_initial_seed() == 2024);
  for (int j = 0; j < 3; j++) {
    bool same = true;
    for (int k = 1; k < 4; k++) {
      double *a = bt_data(r[0][j]), *b = bt_data(r[k][j]);
      size_t bytes = (size_t)n[0] * bt_dtype_size(r[0][j]->dtype);
      if (memcmp(a, b, bytes) != 0) same = false;
    }
    CHECK_MSG(same, "stream %d depends on the thread count", j);
  }
  /* ranges: rand in [0, 1), randint in [-3, 3] with both ends drawn */
  double mn = 1, mx = 0, sum = 0;
  for (int64_t i = 0; i < n[0]; i++) {
    double u = bt_get_flat(r[0][0], i);
    mn = fmin(mn, u);
    mx = fmax(mx, u);
    sum += u;
  }
  CHECK(mn >= 0 && mx < 1 && fabs(sum / n[0] - 0.5) < 0.01);
  int64_t lo = 100, hi = -100;
  for (int64_t i = 0; i < n[0]; i++) {
    int64_t v = bt_get_flat_i64(r[0][2], i);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  CHECK(lo == -3 && hi == 3);
  double m = 0, s = 0;
  for (int64_t i = 0; i < n[0]; i++) {
    double v = bt_get_flat(r[0][1], i);
    m += v;
    s += v * v;
  }
  m /= n[0];
  s = s / n[0] - m * m;
  CHECK_MSG(fabs(m) < 0.01 && fabs(s - 1) < 0.02, "mean %g var %g", m, s);
  /* a new seed gives a new stream; the same seed the same stream */
  bt_manual_seed(2025);
  bt_Tensor *o = bt_rand(1, n, BT_F32);
  CHECK(memcmp(bt_data(o), bt_data(r[0][0]), 4 * (size_t)n[0]) != 0);
  bt_manual_seed(2024);
  bt_Tensor *p = bt_rand(1, n, BT_F32);
  CHECK(memcmp(bt_data(p), bt_data(r[0][0]), 4 * (size_t)n[0]) == 0);
  bt_Tensor *q = bt_rand(1, n, BT_F32);   /* the generator moved on */
  CHECK(memcmp(bt_data(q), bt_data(r[0][0]), 4 * (size_t)n[0]) != 0);
  bt_release(o);
  bt_release(p);
  bt_release(q);
  for (int k = 0; k < 4; k++)
    for (int j = 0; j < 3; j++) bt_release(r[k][j]);
  /* randperm is a permutation */
  bt_Tensor *perm = bt_randperm(1000);
  char seen[1000] = {0};
  bool ok = perm && bt_numel(perm) == 1000;
  for (int64_t i = 0; ok && i < 1000; i++) {
    int64_t v = bt_get_flat_i64(perm, i);
    if (v < 0 || v >= 1000 || seen[v]) ok = false;
    else seen[v] = 1;
  }
  CHECK(ok);
  bt_release(perm);
}

/* ---- bt_parallel_for ------------------------------------------------------------- */

typedef struct {
  atomic_int *count;
  int64_t n;
  atomic_int bad_range;
} Cover;

static void cover_fn(void *ctx, int64_t b, int64_t e) {
  Cover *c = ctx;
  if (b < 0 || e > c->n || b >= e) atomic_fetch_add(&c->bad_range, 1);
  for (int64_t i = b; i < e && i < c->n; i++)
    if (i >= 0) atomic_fetch_add(&c->count[i], 1);
}

static void test_parallel_for(void) {
  current_test = "parallel_for";
  int saved = bt_get_num_threads();
  int64_t sizes[] = {0, 1, 2, 7, 63, 64, 65, 1000, 100003, 1 << 18};
  int64_t grains[] = {1, 3, 16, 1000, 1 << 20};
  int threads[] = {1, 2, 3, 4, 8};
  int combos = 0, good = 0;
  for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
    bt_set_num_threads(threads[t]);
    CHECK(bt_get_num_threads() == threads[t]);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
      for (size_t g = 0; g < sizeof grains / sizeof grains[0]; g++) {
        int64_t n = sizes[s];
        Cover c = {calloc((size_t)(n ? n : 1), sizeof(atomic_int)), n, 0};
        int rc = bt_parallel_for(n, grains[g], cover_fn, &c);
        bool ok = rc == 0 && atomic_load(&c.bad_range) == 0;
        for (int64_t i = 0; ok && i < n; i++)
          if (atomic_load(&c.count[i]) != 1) ok = false;
        combos++;
        if (ok) good++;
        else fprintf(stderr, "  parallel_for: n=%lld grain=%lld threads=%d wrong\n", (long long)n,
                     (long long)grains[g], threads[t]);
        free(c.count);
      }
    }
  }
  CHECK_MSG(good == combos, "%d of %d combinations cover every index once", good, combos);
  /* an interrupt stops it with an error; clearing lets it run again */
  bt_set_num_threads(2);
  int64_t n = 1 << 20;
  Cover c = {calloc((size_t)n, sizeof(atomic_int)), n, 0};
  bt_interrupt();
  CHECK(bt_interrupted());
  CHECK(bt_parallel_for(n, 1, cover_fn, &c) < 0 && strstr(bt_errmsg(), "interrupt"));
  bt_clear_interrupt();
  CHECK(!bt_interrupted());
  memset(c.count, 0, (size_t)n * sizeof(atomic_int));
  CHECK(bt_parallel_for(n, 1, cover_fn, &c) == 0 && atomic_load(&c.count[n - 1]) == 1);
  free(c.count);
  bt_set_num_threads(saved);
}

/* ---- transposing copies (cpu/copy.c's blocked path) ----------------------------------- */

/* dst == src element by element, src read through its strides by bt_get. */
static bool same_elements(const bt_Tensor *dst, const bt_Tensor *src) {
  int64_t idx[BT_MAX_DIMS], n = bt_numel(src);
  if (bt_numel(dst) != n || !bt_is_contiguous(dst)) return false;
  for (int64_t k = 0; k < n; k++) {
    int64_t rem = k;
    for (int d = src->ndim - 1; d >= 0; d--) {
      idx[d] = rem % src->shape[d];
      rem /= src->shape[d];
    }
    if (bt_get(src, idx) != bt_get_flat(dst, k)) return false;
  }
  return true;
}

/* A tensor of the given shape holding k % 251 at flat position k (exact in every dtype). */
static bt_Tensor *counting(int ndim, const int64_t *shape, bt_DType dt) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  double *v = malloc((size_t)n * sizeof *v);
  for (int64_t k = 0; k < n; k++) v[k] = (double)(k % 251);
  bt_Tensor *t = from_doubles(ndim, shape, v, dt);
  free(v);
  return t;
}

/* contiguous() of views whose last two dims are transposed (the blocked
** path, AVX2 for 4-byte elements where the CPU has it) gives every element
** at its place: every element size, sizes that are not multiples of 8,
** batch dims with odd strides, an offset, a dim of size 1, 1 and 3 threads. */
static void test_transposing_copy(void) {
  current_test = "transposing_copy";
  int64_t start = bt_bytes_in_use(BT_CPU);
  int saved = bt_get_num_threads();
  bt_DType dts[] = {BT_F32, BT_I32, BT_F64, BT_I64, BT_F16, BT_U8};
  int threads[] = {1, 3};
  int cases = 0, good = 0;
  for (size_t t = 0; t < sizeof threads / sizeof threads[0]; t++) {
    bt_set_num_threads(threads[t]);
    for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++) {
      bt_Tensor *src[5] = {NULL};
      /* [5, 3, 67, 41] transposed to [5, 3, 41, 67] */
      int64_t s4[4] = {5, 3, 67, 41};
      bt_Tensor *a = counting(4, s4, dts[k]);
      src[0] = bt_transpose(a, 2, 3);
      /* a plain matrix [211, 200] -> [200, 211] */
      int64_t s2[2] = {211, 200};
      bt_Tensor *b = counting(2, s2, dts[k]);
      src[1] = bt_transpose(b, 0, 1);
      /* [C, B, R] = [64, 9, 72] permuted to [B, R, C]: batch stride R, src stride B * R */
      int64_t s3[3] = {64, 9, 72};
      bt_Tensor *c = counting(3, s3, dts[k]);
      int perm[3] = {1, 2, 0};
      src[2] = bt_permute(c, perm);
      /* [B, C, R + 3] narrowed to R from 2, transposed: an offset and s = R + 3 */
      int64_t s3b[3] = {7, 90, 61};
      bt_Tensor *e = counting(3, s3b, dts[k]);
      bt_Tensor *en = bt_narrow(e, 2, 2, 58);
      src[3] = bt_transpose(en, 1, 2);
      /* as conv1d sees a transposed [N, L, C]: [N, C, 1, L], a dim of size 1 inside */
      int64_t s3c[3] = {6, 70, 80};
      bt_Tensor *f = counting(3, s3c, dts[k]);
      bt_Tensor *ft = bt_transpose(f, 1, 2);
      src[4] = ft ? bt_unsqueeze(ft, 2) : NULL;
      for (int i = 0; i < 5; i++) {
        bt_Tensor *out = src[i] ? bt_contiguous(src[i]) : NULL;
        bool ok = out && out != src[i] && same_elements(out, src[i]);
        cases++;
        if (ok) good++;
        else fprintf(stderr, "  transposing copy: case %d, dtype %s, %d threads wrong\n", i,
                     bt_dtype_name(dts[k]), threads[t]);
        bt_release(out);
      }
      bt_Tensor *all[] = {src[0], src[1], src[2], src[3], src[4], a, b, c, e, en, f, ft};
      for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
    }
  }
  CHECK_MSG(good == cases, "%d of %d transposing copies right", good, cases);
  bt_set_num_threads(saved);
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left", (long long)(bt_bytes_in_use(BT_CPU) - start));
}

int main(void) {
  int64_t start = bt_bytes_in_use(BT_CPU);
  test_create_release();
  test_views_share_storage();
  test_graph_releases_everything();
  test_errors();
  test_overflow_and_alloc_failures();
  test_half_conversions();
  test_philox();
  test_parallel_for();
  test_transposing_copy();
  current_test = "end";
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left at the end",
            (long long)(bt_bytes_in_use(BT_CPU) - start));
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
