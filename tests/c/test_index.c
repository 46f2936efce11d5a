/*
** test_index.c: indexing, joining and sorting ops (core/ops/index.c and
** their CPU kernels): values against hand-computed results, errors, and
** gradients (first and second order) against central finite differences.
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

static bt_Tensor *idx(bt_DType dt, int ndim, const int64_t *shape, const int64_t *v) {
  return bt_from_buffer(ndim, shape, dt, v, BT_I64);
}

#define IDX(...) ((const int64_t[]){__VA_ARGS__})
#define IDX_N(...) ((int64_t)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
/* A 1-D i64 index tensor of the listed values. */
#define INDEX(...) idx(BT_I64, 1, SHAPE(IDX_N(__VA_ARGS__)), IDX(__VA_ARGS__))

static bt_Tensor *arange(int ndim, const int64_t *shape, bt_DType dt) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= shape[d];
  bt_Tensor *a = bt_arange(0, 1, n, dt);
  bt_Tensor *r = bt_reshape(a, ndim, shape);
  bt_release(a);
  return r;
}

static bool same_value(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* Checks shape and values of t (and releases it). */
static void expect(const char *label, bt_Tensor *t, int ndim, const int64_t *shape,
                   const double *v) {
  if (!t) {
    CHECK(false, "%s: returned NULL: %s", label, bt_errmsg());
    return;
  }
  bool shape_ok = t->ndim == ndim;
  for (int d = 0; shape_ok && d < ndim; d++) shape_ok = t->shape[d] == shape[d];
  char buf[128];
  CHECK(shape_ok, "%s: shape %s, expected %s", label, bt_shape_str(t, buf),
        bt_shape_str_n(ndim, shape, (char[128]){0}));
  if (shape_ok) {
    int64_t n = bt_numel(t), bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
      if (!same_value(bt_get_flat(t, i), v[i])) bad = i;
    CHECK(bad < 0, "%s: element %lld is %g, expected %g", label, (long long)bad,
          bad >= 0 ? bt_get_flat(t, bad) : 0, bad >= 0 ? v[bad] : 0);
  }
  bt_release(t);
}

#define EXPECT(label, t, ndim, shape, ...) expect(label, t, ndim, shape, VALS(__VA_ARGS__))

/* A call that must fail: NULL (or -1) and a message naming the op. */
static void expect_error(const char *label, bt_Tensor *t, const char *op, const char *also) {
  CHECK(t == NULL, "%s: expected an error, got a tensor", label);
  bt_release(t);
  CHECK(strstr(bt_errmsg(), op) != NULL, "%s: message does not name %s: '%s'", label, op,
        bt_errmsg());
  if (also)
    CHECK(strstr(bt_errmsg(), also) != NULL, "%s: message lacks '%s': '%s'", label, also,
          bt_errmsg());
}

static void expect_status_error(const char *label, int rc, const char *op, const char *also) {
  CHECK(rc < 0, "%s: expected an error status", label);
  CHECK(strstr(bt_errmsg(), op) != NULL, "%s: message does not name %s: '%s'", label, op,
        bt_errmsg());
  if (also)
    CHECK(strstr(bt_errmsg(), also) != NULL, "%s: message lacks '%s': '%s'", label, also,
          bt_errmsg());
}

/* Deterministic weights in [-1, 1] (an LCG), f64, of t's shape. */

/* ---- index_select ----------------------------------------------------------------- */

typedef struct {
  int dim;
  bt_Tensor *index, *other, *mask;
  double value;
  bool flag;
  int64_t k;
} Args;

static bt_Tensor *f_index_select(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_index_select(x, a->dim, a->index);
}

static bt_Tensor *f_index_select_t(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor *t = bt_transpose(x, 0, 1), *r = bt_index_select(t, a->dim, a->index);
  bt_release(t);
  return r;
}

static void test_index_select(void) {
  bt_Tensor *t = arange(2, SHAPE(3, 4), BT_F32);   /* 0..11 */
  bt_Tensor *i = INDEX(2, 0, 2);
  EXPECT("index_select rows", bt_index_select(t, 0, i), 2, SHAPE(3, 4),
         8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11);
  bt_Tensor *j = INDEX(3, 1);
  EXPECT("index_select cols", bt_index_select(t, 1, j), 2, SHAPE(3, 2), 3, 1, 7, 5, 11, 9);
  EXPECT("index_select dim -1", bt_index_select(t, -1, j), 2, SHAPE(3, 2), 3, 1, 7, 5, 11, 9);
  bt_Tensor *tt = bt_t(t);   /* [4x3], non-contiguous */
  EXPECT("index_select transposed", bt_index_select(tt, 0, j), 2, SHAPE(2, 3), 3, 7, 11, 1, 5, 9);
  EXPECT("index_select transposed dim 1", bt_index_select(tt, 1, i), 2, SHAPE(4, 3),
         8, 0, 8, 9, 1, 9, 10, 2, 10, 11, 3, 11);
  bt_Tensor *i32 = idx(BT_I32, 1, SHAPE(2), IDX(1, 1));
  EXPECT("index_select i32 index", bt_index_select(t, 0, i32), 2, SHAPE(2, 4),
         4, 5, 6, 7, 4, 5, 6, 7);
  bt_Tensor *s0 = idx(BT_I64, 0, NULL, IDX(2));
  EXPECT("index_select 0-dim index", bt_index_select(t, 1, s0), 2, SHAPE(3, 1), 2, 6, 10);
  bt_Tensor *empty = idx(BT_I64, 1, SHAPE(0), IDX(0));
  EXPECT("index_select empty index", bt_index_select(t, 0, empty), 2, SHAPE(0, 4), 0);
  bt_Tensor *scalar = bt_scalar(4.5, BT_F64), *zero = INDEX(0);
  EXPECT("index_select 0-dim input", bt_index_select(scalar, 0, zero), 0, NULL, 4.5);

  /* other dtypes move bits */
  bt_Tensor *ti = mk(BT_I64, 1, SHAPE(3), VALS(5, -6, 7));
  bt_Tensor *big = INDEX(1, 2, 0, 1);
  EXPECT("index_select i64", bt_index_select(ti, 0, big), 1, SHAPE(4), -6, 7, 5, -6);
  bt_Tensor *tb = mk(BT_BOOL, 1, SHAPE(3), VALS(1, 0, 1));
  EXPECT("index_select bool", bt_index_select(tb, 0, big), 1, SHAPE(4), 0, 1, 1, 0);
  bt_Tensor *th = mk(BT_F16, 1, SHAPE(3), VALS(0.5, -2, 1024));
  EXPECT("index_select f16", bt_index_select(th, 0, big), 1, SHAPE(4), -2, 1024, 0.5, -2);

  /* errors */
  bt_Tensor *fi = mk(BT_F32, 1, SHAPE(2), VALS(0, 1));
  expect_error("index_select float index", bt_index_select(t, 0, fi), "index_select", "integer");
  bt_Tensor *oob = INDEX(0, 6);
  bt_Tensor *t35 = arange(2, SHAPE(3, 5), BT_F32);
  expect_error("index_select out of range", bt_index_select(t35, 1, oob), "index_select",
               "index 7 out of range for dim 2 of size 5");
  CHECK(strstr(bt_errmsg(), "[3x5]") != NULL, "index_select error names the shape: %s", bt_errmsg());
  bt_Tensor *neg = INDEX(-1);
  expect_error("index_select negative", bt_index_select(t35, 0, neg), "index_select", "out of range");
  bt_Tensor *i2 = idx(BT_I64, 2, SHAPE(1, 2), IDX(0, 1));
  expect_error("index_select 2-D index", bt_index_select(t, 0, i2), "index_select", "1-D");
  expect_error("index_select bad dim", bt_index_select(t, 2, i), "index_select", "dim");

  /* a larger case, through the thread pool */
  int64_t rows = 1000, cols = 300;
  bt_Tensor *m = arange(2, SHAPE(rows, cols), BT_F64);
  int64_t *iv = malloc(500 * sizeof *iv);
  for (int k = 0; k < 500; k++) iv[k] = (k * 37) % rows;
  bt_Tensor *bi = idx(BT_I64, 1, SHAPE(500), iv);
  bt_Tensor *r = bt_index_select(m, 0, bi);
  bool ok = r != NULL;
  for (int k = 0; ok && k < 500; k++)
    for (int c = 0; c < cols; c += 7)
      if (bt_get(r, IDX(k, c)) != (double)(iv[k] * cols + c)) ok = false;
  CHECK(ok, "index_select large rows");
  bt_release(r);
  bt_Tensor *mt = bt_t(m);
  r = bt_index_select(mt, 1, bi);
  ok = r != NULL;
  for (int k = 0; ok && k < 500; k += 3)
    for (int c = 0; c < cols; c += 11)
      if (bt_get(r, IDX(c, k)) != (double)(iv[k] * cols + c)) ok = false;
  CHECK(ok, "index_select large transposed");
  bt_release(r);
  free(iv);

  /* gradients, with a duplicate index */
  bt_Tensor *x = arange(2, SHAPE(3, 4), BT_F64), *dup = INDEX(2, 0, 2, 1);
  Args a = {.dim = 0, .index = dup};
  gradcheck("index_select grad dim 0", f_index_select, x, &a);
  gradgradcheck("index_select grad grad", f_index_select, x, &a);
  Args b = {.dim = 1, .index = INDEX(3, 3, 0)};
  gradcheck("index_select grad dim 1", f_index_select, x, &b);
  Args c = {.dim = 0, .index = INDEX(3, 0, 3)};
  gradcheck("index_select grad transposed", f_index_select_t, x, &c);

  bt_release(b.index); bt_release(c.index);
  bt_Tensor *all[] = {t, i, j, tt, i32, s0, empty, scalar, zero, ti, big, tb, th, fi, oob, t35,
                      neg, i2, m, bi, mt, x, dup};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- gather / scatter --------------------------------------------------------------- */

static bt_Tensor *f_gather(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_gather(x, a->dim, a->index);
}

static bt_Tensor *f_scatter_target(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return a->flag ? bt_scatter_add(x, a->dim, a->index, a->other)
                 : bt_scatter(x, a->dim, a->index, a->other);
}

static bt_Tensor *f_scatter_source(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return a->flag ? bt_scatter_add(a->other, a->dim, a->index, x)
                 : bt_scatter(a->other, a->dim, a->index, x);
}

static void test_gather(void) {
  bt_Tensor *t = arange(2, SHAPE(3, 4), BT_F32);
  bt_Tensor *i1 = idx(BT_I64, 2, SHAPE(3, 2), IDX(0, 0, 3, 1, 2, 2));
  EXPECT("gather dim 1", bt_gather(t, 1, i1), 2, SHAPE(3, 2), 0, 0, 7, 5, 10, 10);
  bt_Tensor *i0 = idx(BT_I64, 2, SHAPE(2, 3), IDX(2, 0, 1, 1, 1, 0));
  EXPECT("gather dim 0 (index narrower)", bt_gather(t, 0, i0), 2, SHAPE(2, 3), 8, 1, 6, 4, 5, 2);
  bt_Tensor *tt = bt_t(t);   /* [4x3]: tt[r][c] = 4c + r */
  bt_Tensor *it = idx(BT_I32, 2, SHAPE(2, 2), IDX(2, 0, 1, 2));
  EXPECT("gather transposed, i32", bt_gather(tt, 1, it), 2, SHAPE(2, 2), 8, 0, 5, 9);
  bt_Tensor *it2 = bt_t(i1);   /* [2x3] non-contiguous index: [[0,3,2],[0,1,2]] */
  EXPECT("gather strided index", bt_gather(t, 1, it2), 2, SHAPE(2, 3), 0, 3, 2, 4, 5, 6);
  bt_Tensor *s = bt_scalar(3, BT_F64), *s0 = idx(BT_I64, 0, NULL, IDX(0));
  EXPECT("gather 0-dim", bt_gather(s, 0, s0), 0, NULL, 3);
  bt_Tensor *tl = arange(1, SHAPE(5), BT_I64);
  bt_Tensor *il = INDEX(4, 4, 0);
  EXPECT("gather i64 1-D", bt_gather(tl, 0, il), 1, SHAPE(3), 4, 4, 0);

  bt_Tensor *bad_nd = INDEX(0, 1);
  expect_error("gather ndim mismatch", bt_gather(t, 1, bad_nd), "gather", "dims");
  bt_Tensor *wide = idx(BT_I64, 2, SHAPE(4, 1), IDX(0, 0, 0, 0));
  expect_error("gather index too large", bt_gather(t, 1, wide), "gather", "larger");
  bt_Tensor *oob = idx(BT_I64, 2, SHAPE(1, 2), IDX(0, 4));
  expect_error("gather out of range", bt_gather(t, 1, oob), "gather",
               "index 5 out of range for dim 2 of size 4");
  bt_Tensor *fl = mk(BT_F64, 2, SHAPE(1, 1), VALS(0));
  expect_error("gather float index", bt_gather(t, 1, fl), "gather", "integer");

  bt_Tensor *x = arange(2, SHAPE(3, 4), BT_F64);
  Args a = {.dim = 1, .index = idx(BT_I64, 2, SHAPE(3, 3), IDX(0, 0, 3, 1, 2, 1, 3, 3, 3))};
  gradcheck("gather grad", f_gather, x, &a);
  gradgradcheck("gather grad grad", f_gather, x, &a);
  Args b = {.dim = 0, .index = i0};
  gradcheck("gather grad dim 0", f_gather, x, &b);

  bt_release(a.index);
  bt_Tensor *all[] = {t, i1, i0, tt, it, it2, s, s0, tl, il, bad_nd, wide, oob, fl, x};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

static void test_scatter(void) {
  bt_Tensor *z = bt_zeros(2, SHAPE(3, 5), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *i = idx(BT_I64, 2, SHAPE(3, 2), IDX(0, 1, 2, 3, 4, 0));
  bt_Tensor *src = mk(BT_F32, 2, SHAPE(3, 3), VALS(1, 2, 9, 3, 4, 9, 5, 6, 9));
  EXPECT("scatter (source larger than index)", bt_scatter(z, 1, i, src), 2, SHAPE(3, 5),
         1, 2, 0, 0, 0,
         0, 0, 3, 4, 0,
         6, 0, 0, 0, 5);
  CHECK(bt_get_flat(z, 0) == 0, "scatter is out of place");
  bt_Tensor *one = bt_ones(2, SHAPE(2, 3), BT_F64, BT_CPU_DEVICE);
  bt_Tensor *dup = idx(BT_I64, 2, SHAPE(1, 3), IDX(1, 1, 1));
  bt_Tensor *s3 = mk(BT_F64, 2, SHAPE(1, 3), VALS(1, 2, 3));
  EXPECT("scatter_add duplicates dim 0", bt_scatter_add(one, 0, dup, s3), 2, SHAPE(2, 3),
         1, 1, 1, 2, 3, 4);
  EXPECT("scatter_add duplicates dim 1", bt_scatter_add(one, 1, dup, s3), 2, SHAPE(2, 3),
         1, 7, 1, 1, 1, 1);
  bt_Tensor *li = mk(BT_I64, 1, SHAPE(4), VALS(10, 20, 30, 40));
  bt_Tensor *l3 = INDEX(3, 0, 3), *lv = mk(BT_I64, 1, SHAPE(3), VALS(1, 2, 3));
  EXPECT("scatter_add i64", bt_scatter_add(li, 0, l3, lv), 1, SHAPE(4), 12, 20, 30, 44);
  bt_Tensor *i32 = bt_to_dtype(li, BT_I32), *v32 = bt_to_dtype(lv, BT_I32);
  EXPECT("scatter_add i32", bt_scatter_add(i32, 0, l3, v32), 1, SHAPE(4), 12, 20, 30, 44);
  bt_Tensor *l2 = INDEX(3, 1);
  EXPECT("scatter i64", bt_scatter(li, 0, l2, lv), 1, SHAPE(4), 10, 2, 30, 1);
  /* into a transposed target */
  bt_Tensor *base = bt_zeros(2, SHAPE(2, 3), BT_F32, BT_CPU_DEVICE), *bt = bt_t(base);   /* [3x2] */
  bt_Tensor *ti = idx(BT_I64, 2, SHAPE(1, 2), IDX(2, 0)), *tv = mk(BT_F32, 2, SHAPE(1, 2), VALS(7, 8));
  EXPECT("scatter transposed target", bt_scatter(bt, 0, ti, tv), 2, SHAPE(3, 2), 0, 8, 0, 0, 7, 0);

  /* many duplicates across threads: every column gets count per row */
  int64_t R = 8, C = 5000, N = 800;
  bt_Tensor *acc = bt_zeros(2, SHAPE(R, C), BT_F32, BT_CPU_DEVICE);
  int64_t *iv = malloc((size_t)(N * C) * sizeof *iv);
  for (int64_t r = 0; r < N; r++)
    for (int64_t c = 0; c < C; c++) iv[r * C + c] = (r + c) % R;
  bt_Tensor *bi = idx(BT_I64, 2, SHAPE(N, C), iv);
  bt_Tensor *ones = bt_ones(2, SHAPE(N, C), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *r = bt_scatter_add(acc, 0, bi, ones);
  bool ok = r != NULL;
  for (int64_t k = 0; ok && k < R * C; k += 13) ok = bt_get_flat(r, k) == (double)(N / R);
  CHECK(ok, "scatter_add large dim 0 accumulates duplicates");
  bt_release(r);
  free(iv);
  int64_t W = 14000, K = 7;
  bt_Tensor *acc2 = bt_zeros(2, SHAPE(100, K), BT_F64, BT_CPU_DEVICE);
  iv = malloc((size_t)(100 * W) * sizeof *iv);
  for (int64_t k = 0; k < 100 * W; k++) iv[k] = k % K;
  bt_Tensor *bi2 = idx(BT_I64, 2, SHAPE(100, W), iv);
  bt_Tensor *ones2 = bt_ones(2, SHAPE(100, W), BT_F64, BT_CPU_DEVICE);
  r = bt_scatter_add(acc2, 1, bi2, ones2);
  ok = r != NULL;
  for (int64_t k = 0; ok && k < 100 * K; k++) ok = bt_get_flat(r, k) == (double)(W / K);
  CHECK(ok, "scatter_add large last dim accumulates duplicates");
  bt_release(r);
  free(iv);

  /* errors */
  bt_Tensor *f64src = mk(BT_F64, 2, SHAPE(3, 2), VALS(1, 2, 3, 4, 5, 6));
  expect_error("scatter dtype mismatch", bt_scatter(z, 1, i, f64src), "scatter", "dtype");
  bt_Tensor *oob = idx(BT_I64, 2, SHAPE(1, 1), IDX(5));
  expect_error("scatter out of range", bt_scatter(z, 1, oob, src), "scatter",
               "index 6 out of range for dim 2 of size 5");
  expect_error("scatter_add out of range", bt_scatter_add(z, 1, oob, src), "scatter_add", "index 6");
  bt_Tensor *small = mk(BT_F32, 2, SHAPE(3, 1), VALS(1, 2, 3));
  expect_error("scatter source too small", bt_scatter(z, 1, i, small), "scatter", "source");
  bt_Tensor *bz = bt_zeros(1, SHAPE(3), BT_BOOL, BT_CPU_DEVICE), *bs = bt_ones(1, SHAPE(3), BT_BOOL, BT_CPU_DEVICE);
  bt_Tensor *b3 = INDEX(0, 1, 2);
  expect_error("scatter_add bool", bt_scatter_add(bz, 0, b3, bs), "scatter_add", "bool");
  bt_Tensor *b2 = INDEX(2, 0);
  EXPECT("scatter bool", bt_scatter(bz, 0, b2, bs), 1, SHAPE(3), 1, 0, 1);
  bt_release(b2);

  /* gradients */
  bt_Tensor *x = arange(2, SHAPE(3, 5), BT_F64);
  bt_Tensor *sx = mk(BT_F64, 2, SHAPE(3, 3), VALS(1, 2, 3, 4, 5, 6, 7, 8, 9));
  Args a = {.dim = 1, .index = i, .other = sx};
  gradcheck("scatter grad target", f_scatter_target, x, &a);
  gradgradcheck("scatter grad grad target", f_scatter_target, x, &a);
  Args b = {.dim = 1, .index = i, .other = x};
  gradcheck("scatter grad source (padded)", f_scatter_source, sx, &b);
  gradgradcheck("scatter grad grad source", f_scatter_source, sx, &b);
  bt_Tensor *di = idx(BT_I64, 2, SHAPE(3, 3), IDX(0, 0, 4, 2, 2, 2, 1, 3, 1));
  Args c = {.dim = 1, .index = di, .other = sx, .flag = true};
  gradcheck("scatter_add grad target", f_scatter_target, x, &c);
  Args d = {.dim = 1, .index = di, .other = x, .flag = true};
  gradcheck("scatter_add grad source (duplicates)", f_scatter_source, sx, &d);
  gradgradcheck("scatter_add grad grad source", f_scatter_source, sx, &d);
  bt_Tensor *d0 = idx(BT_I64, 2, SHAPE(2, 3), IDX(2, 2, 0, 2, 1, 0));
  Args e = {.dim = 0, .index = d0, .other = x, .flag = true};
  gradcheck("scatter_add grad source dim 0", f_scatter_source, sx, &e);

  bt_Tensor *all[] = {z, i, src, one, dup, s3, li, l3, lv, i32, v32, l2, base, bt, ti, tv, acc, bi,
                      ones, acc2, bi2, ones2, f64src, oob, small, bz, bs, b3, x, sx, di, d0};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- index_add ---------------------------------------------------------------------- */

static bt_Tensor *f_index_add_target(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_index_add(x, a->dim, a->index, a->other);
}

static bt_Tensor *f_index_add_source(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_index_add(a->other, a->dim, a->index, x);
}

static void test_index_add(void) {
  bt_Tensor *t = bt_ones(2, SHAPE(5, 3), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *i = INDEX(0, 4, 0);
  bt_Tensor *src = arange(2, SHAPE(3, 3), BT_F32);
  EXPECT("index_add dim 0 duplicates", bt_index_add(t, 0, i, src), 2, SHAPE(5, 3),
         1 + 0 + 6, 1 + 1 + 7, 1 + 2 + 8, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 5, 6);
  bt_Tensor *j = INDEX(2, 2);
  bt_Tensor *src2 = arange(2, SHAPE(5, 2), BT_F32);   /* rows (0,1) (2,3) ... */
  EXPECT("index_add dim 1", bt_index_add(t, 1, j, src2), 2, SHAPE(5, 3),
         1, 1, 2, 1, 1, 6, 1, 1, 10, 1, 1, 14, 1, 1, 18);
  bt_Tensor *ti = mk(BT_I64, 1, SHAPE(3), VALS(1, 2, 3)), *vi = mk(BT_I64, 1, SHAPE(3), VALS(5, 6, 7));
  bt_Tensor *k3 = INDEX(2, 2, 0);
  EXPECT("index_add i64", bt_index_add(ti, 0, k3, vi), 1, SHAPE(3), 8, 2, 14);
  bt_Tensor *t32 = bt_to_dtype(ti, BT_I32), *v32 = bt_to_dtype(vi, BT_I32);
  bt_Tensor *k32 = idx(BT_I32, 1, SHAPE(3), IDX(2, 2, 0));
  EXPECT("index_add i32", bt_index_add(t32, 0, k32, v32), 1, SHAPE(3), 8, 2, 14);
  bt_Tensor *tt = bt_t(src2);   /* [2x5] */
  bt_Tensor *k2 = INDEX(1, 1);
  bt_Tensor *z25 = bt_zeros(2, SHAPE(2, 5), BT_F32, BT_CPU_DEVICE);
  bt_Tensor *tsrc = bt_transpose(tt, 0, 1);   /* back to [5x2], strided */
  bt_Tensor *zt = bt_t(z25);                    /* [5x2] strided target */
  EXPECT("index_add strided", bt_index_add(zt, 1, k2, tsrc), 2, SHAPE(5, 2),
         0, 1, 0, 5, 0, 9, 0, 13, 0, 17);

  bt_Tensor *bad = arange(2, SHAPE(2, 3), BT_F32);
  expect_error("index_add shape mismatch", bt_index_add(t, 0, i, bad), "index_add", "source");
  bt_Tensor *f64 = arange(2, SHAPE(3, 3), BT_F64);
  expect_error("index_add dtype", bt_index_add(t, 0, i, f64), "index_add", "dtype");
  bt_Tensor *oob = INDEX(0, 5, 1);
  expect_error("index_add out of range", bt_index_add(t, 0, oob, src), "index_add",
               "index 6 out of range for dim 1 of size 5");

  bt_Tensor *x = arange(2, SHAPE(5, 3), BT_F64), *s = arange(2, SHAPE(3, 3), BT_F64);
  Args a = {.dim = 0, .index = i, .other = s};
  gradcheck("index_add grad target", f_index_add_target, x, &a);
  Args b = {.dim = 0, .index = i, .other = x};
  gradcheck("index_add grad source", f_index_add_source, s, &b);
  gradgradcheck("index_add grad grad source", f_index_add_source, s, &b);

  bt_Tensor *all[] = {t, i, src, j, src2, ti, vi, k3, t32, v32, k32, tt, k2, z25, tsrc, zt, bad, f64,
                      oob, x, s};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- masked_fill / masked_select / nonzero --------------------------------------------- */

static bt_Tensor *f_masked_fill(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_masked_fill(x, a->mask, a->value);
}

static bt_Tensor *f_masked_fill_inplace(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor *y = bt_mul_scalar(x, 2);
  if (y && bt_masked_fill_(y, a->mask, a->value) < 0) {
    bt_release(y);
    return NULL;
  }
  return y;
}

static bt_Tensor *f_masked_select(bt_Tensor *x, void *ud) {
  Args *a = ud;
  return bt_masked_select(x, a->mask);
}

static void test_masked(void) {
  bt_Tensor *t = arange(2, SHAPE(2, 3), BT_F32);
  bt_Tensor *m = mk(BT_BOOL, 2, SHAPE(2, 3), VALS(1, 0, 0, 0, 1, 1));
  EXPECT("masked_fill", bt_masked_fill(t, m, -1), 2, SHAPE(2, 3), -1, 1, 2, 3, -1, -1);
  bt_Tensor *row = mk(BT_BOOL, 1, SHAPE(3), VALS(0, 1, 0));
  EXPECT("masked_fill broadcast mask", bt_masked_fill(t, row, 9), 2, SHAPE(2, 3), 0, 9, 2, 3, 9, 5);
  bt_Tensor *u8 = mk(BT_U8, 1, SHAPE(3), VALS(0, 2, 0));
  EXPECT("masked_fill u8 mask", bt_masked_fill(t, u8, 9), 2, SHAPE(2, 3), 0, 9, 2, 3, 9, 5);
  bt_Tensor *col = mk(BT_F32, 2, SHAPE(2, 1), VALS(5, 6));
  bt_Tensor *m23 = mk(BT_BOOL, 2, SHAPE(2, 3), VALS(0, 1, 0, 1, 1, 0));
  EXPECT("masked_fill broadcasts both", bt_masked_fill(col, m23, 0), 2, SHAPE(2, 3), 5, 0, 5, 0, 0, 6);
  bt_Tensor *ti = mk(BT_I64, 1, SHAPE(3), VALS(1, 2, 3));
  bt_Tensor *m3 = mk(BT_BOOL, 1, SHAPE(3), VALS(0, 1, 1));
  EXPECT("masked_fill i64", bt_masked_fill(ti, m3, -7), 1, SHAPE(3), 1, -7, -7);
  bt_Tensor *tt = bt_t(t);   /* [3x2]: 0 3 / 1 4 / 2 5 */
  bt_Tensor *mt = bt_t(m);   /* 1 0 / 0 1 / 0 1 */
  EXPECT("masked_fill transposed", bt_masked_fill(tt, mt, 8), 2, SHAPE(3, 2), 8, 3, 1, 8, 2, 8);

  bt_Tensor *fm = mk(BT_F32, 1, SHAPE(3), VALS(0, 1, 0));
  expect_error("masked_fill float mask", bt_masked_fill(t, fm, 0), "masked_fill", "bool");
  bt_Tensor *m4 = mk(BT_BOOL, 1, SHAPE(4), VALS(0, 1, 0, 1));
  expect_error("masked_fill bad broadcast", bt_masked_fill(t, m4, 0), "masked_fill", NULL);

  /* in place */
  bt_Tensor *c = arange(2, SHAPE(2, 3), BT_F32);
  uint32_t v0 = c->storage->version;
  CHECK(bt_masked_fill_(c, row, 4) == 0, "masked_fill_: %s", bt_errmsg());
  CHECK(c->storage->version != v0, "masked_fill_ bumps the version");
  bt_retain(c);
  EXPECT("masked_fill_ values", c, 2, SHAPE(2, 3), 0, 4, 2, 3, 4, 5);
  expect_status_error("masked_fill_ broadcast target", bt_masked_fill_(row, m, 0), "masked_fill_",
                      "target");
  bt_Tensor *leaf = arange(2, SHAPE(2, 3), BT_F64);
  bt_requires_grad_(leaf, true);
  expect_status_error("masked_fill_ on a leaf", bt_masked_fill_(leaf, m, 0), "masked_fill_", "leaf");

  /* masked_select and nonzero */
  EXPECT("masked_select", bt_masked_select(t, m), 1, SHAPE(3), 0, 4, 5);
  EXPECT("masked_select broadcast", bt_masked_select(t, row), 1, SHAPE(2), 1, 4);
  EXPECT("masked_select transposed", bt_masked_select(tt, mt), 1, SHAPE(3), 0, 4, 5);
  bt_Tensor *none = bt_zeros(2, SHAPE(2, 3), BT_BOOL, BT_CPU_DEVICE);
  EXPECT("masked_select none", bt_masked_select(t, none), 1, SHAPE(0), 0);
  expect_error("masked_select float mask", bt_masked_select(t, fm), "masked_select", "bool");
  bt_Tensor *nz = mk(BT_F32, 2, SHAPE(2, 3), VALS(0, 1.5, -0.0, NAN, 0, -2));
  EXPECT("nonzero (NaN counts, -0 does not)", bt_nonzero(nz), 2, SHAPE(3, 2), 0, 1, 1, 0, 1, 2);
  EXPECT("nonzero transposed", bt_nonzero(mt), 2, SHAPE(3, 2), 0, 0, 1, 1, 2, 1);
  bt_Tensor *sc = bt_scalar(2, BT_F32);
  EXPECT("nonzero 0-dim", bt_nonzero(sc), 2, SHAPE(1, 0), 0);
  EXPECT("nonzero none", bt_nonzero(none), 2, SHAPE(0, 2), 0);
  int64_t n = 200001;
  bt_Tensor *big = bt_zeros(1, &n, BT_I32, BT_CPU_DEVICE);
  for (int64_t k = 0; k < n; k += 1000) bt_set(big, &k, 1);
  bt_Tensor *bz = bt_nonzero(big);
  bool ok = bz && bz->shape[0] == 201;
  for (int64_t k = 0; ok && k < 201; k++) ok = bt_get_flat(bz, k) == (double)(k * 1000);
  CHECK(ok, "nonzero over several blocks");
  bt_release(bz);

  /* gradients */
  bt_Tensor *x = arange(2, SHAPE(2, 3), BT_F64);
  Args a = {.mask = m, .value = 3.5};
  gradcheck("masked_fill grad", f_masked_fill, x, &a);
  gradgradcheck("masked_fill grad grad", f_masked_fill, x, &a);
  Args b = {.mask = row, .value = 1};
  gradcheck("masked_fill_ grad in a graph", f_masked_fill_inplace, x, &b);
  bt_Tensor *xr = arange(2, SHAPE(1, 3), BT_F64);
  Args c2 = {.mask = m};
  gradcheck("masked_select grad (broadcast input)", f_masked_select, xr, &c2);
  gradcheck("masked_select grad", f_masked_select, x, &c2);
  gradgradcheck("masked_select grad grad", f_masked_select, x, &c2);

  bt_Tensor *all[] = {t, m, row, u8, col, m23, ti, m3, tt, mt, fm, m4, c, leaf, none, nz, sc, big,
                      x, xr};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

/* ---- cat / stack / split / chunk ----------------------------------------------------- */

static bt_Tensor *f_cat(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor *ts[3] = {x, a->other, x};
  return bt_cat(3, ts, a->dim);
}

static bt_Tensor *f_stack(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor *ts[2] = {a->other, x};
  return bt_stack(2, ts, a->dim);
}

static bt_Tensor *f_split(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor **parts;
  int n;
  if (bt_split(x, 2, a->dim, &parts, &n) < 0) return NULL;
  bt_Tensor *r = bt_mul(parts[1], parts[n - 1]);   /* two pieces in one graph */
  for (int i = 0; i < n; i++) bt_release(parts[i]);
  free(parts);
  return r;
}

static void test_cat(void) {
  bt_Tensor *a = arange(2, SHAPE(2, 3), BT_F32);
  bt_Tensor *b = mk(BT_F32, 2, SHAPE(1, 3), VALS(7, 8, 9));
  bt_Tensor *ab[] = {a, b};
  EXPECT("cat dim 0", bt_cat(2, ab, 0), 2, SHAPE(3, 3), 0, 1, 2, 3, 4, 5, 7, 8, 9);
  bt_Tensor *c = mk(BT_F32, 2, SHAPE(2, 1), VALS(-1, -2));
  bt_Tensor *ac[] = {a, c, a};
  EXPECT("cat dim -1", bt_cat(3, ac, -1), 2, SHAPE(2, 7),
         0, 1, 2, -1, 0, 1, 2, 3, 4, 5, -2, 3, 4, 5);
  bt_Tensor *at = bt_t(a);   /* [3x2] */
  bt_Tensor *d = mk(BT_I64, 2, SHAPE(3, 1), VALS(10, 11, 12));
  bt_Tensor *ad[] = {at, d};
  bt_Tensor *r = bt_cat(2, ad, 1);
  CHECK(r && r->dtype == BT_F32, "cat promotes i64 and f32 to f32");
  EXPECT("cat transposed + promotion", r, 2, SHAPE(3, 3), 0, 3, 10, 1, 4, 11, 2, 5, 12);
  bt_Tensor *e = bt_zeros(1, SHAPE(0), BT_F64, BT_CPU_DEVICE);
  bt_Tensor *ae[] = {e, a, e};
  r = bt_cat(3, ae, 1);
  CHECK(r && r->dtype == BT_F64, "cat result type counts skipped empty tensors (as PyTorch)");
  EXPECT("cat skips 1-D empty", r, 2, SHAPE(2, 3), 0, 1, 2, 3, 4, 5);
  bt_Tensor *ee[] = {e, e};
  EXPECT("cat of empties", bt_cat(2, ee, 0), 1, SHAPE(0), 0);
  bt_Tensor *bl = mk(BT_BOOL, 1, SHAPE(2), VALS(1, 0)), *bl2 = mk(BT_BOOL, 1, SHAPE(1), VALS(1));
  bt_Tensor *bb[] = {bl, bl2};
  EXPECT("cat bool", bt_cat(2, bb, 0), 1, SHAPE(3), 1, 0, 1);

  expect_error("cat empty list", bt_cat(0, NULL, 0), "cat", "non-empty");
  bt_Tensor *wrong = mk(BT_F32, 2, SHAPE(1, 2), VALS(1, 2));
  bt_Tensor *aw[] = {a, wrong};
  expect_error("cat shape mismatch", bt_cat(2, aw, 0), "cat", "[1x2]");
  bt_Tensor *s = bt_scalar(1, BT_F32);
  bt_Tensor *as[] = {a, s};
  expect_error("cat 0-dim", bt_cat(2, as, 0), "cat", "0-dim");
  expect_error("cat bad dim", bt_cat(2, ab, 2), "cat", "dim");

  /* stack */
  bt_Tensor *a2 = mk(BT_F32, 2, SHAPE(2, 3), VALS(6, 7, 8, 9, 10, 11));
  bt_Tensor *aa[] = {a, a2};
  EXPECT("stack dim 0", bt_stack(2, aa, 0), 3, SHAPE(2, 2, 3), 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
  EXPECT("stack dim -1", bt_stack(2, aa, -1), 3, SHAPE(2, 3, 2), 0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11);
  bt_Tensor *s2 = bt_scalar(2, BT_F32);
  bt_Tensor *ss[] = {s, s2};
  EXPECT("stack 0-dim", bt_stack(2, ss, 0), 1, SHAPE(2), 1, 2);
  expect_error("stack shape mismatch", bt_stack(2, ab, 0), "stack", "same shape");
  expect_error("stack empty list", bt_stack(0, NULL, 0), "stack", "non-empty");

  /* split / chunk */
  bt_Tensor *v = arange(2, SHAPE(5, 2), BT_F32), **parts;
  int n;
  CHECK(bt_split(v, 2, 0, &parts, &n) == 0 && n == 3, "split into 3: %s", bt_errmsg());
  if (n == 3) {
    EXPECT("split piece 1", parts[0], 2, SHAPE(2, 2), 0, 1, 2, 3);
    EXPECT("split piece 2", parts[1], 2, SHAPE(2, 2), 4, 5, 6, 7);
    EXPECT("split piece 3", parts[2], 2, SHAPE(1, 2), 8, 9);
    free(parts);
  }
  CHECK(bt_chunk(v, 3, 0, &parts, &n) == 0 && n == 3, "chunk 3 of 5");
  if (n == 3) {
    CHECK(parts[0]->shape[0] == 2 && parts[2]->shape[0] == 1, "chunk sizes 2,2,1");
    for (int i = 0; i < n; i++) bt_release(parts[i]);
    free(parts);
  }
  bt_Tensor *six = arange(1, SHAPE(6), BT_F32);
  CHECK(bt_chunk(six, 4, 0, &parts, &n) == 0 && n == 3, "chunk 4 of 6 gives 3 pieces of 2");
  if (n == 3) {
    EXPECT("chunk last piece", parts[2], 1, SHAPE(2), 4, 5);
    bt_release(parts[0]); bt_release(parts[1]);
    free(parts);
  }
  CHECK(bt_split(v, 1, 1, &parts, &n) == 0 && n == 2, "split along dim 1");
  if (n == 2) {
    EXPECT("split column", parts[1], 2, SHAPE(5, 1), 1, 3, 5, 7, 9);
    bt_release(parts[0]);
    free(parts);
  }
  expect_status_error("split size 0", bt_split(v, 0, 0, &parts, &n), "split", "positive");
  CHECK(parts == NULL && n == 0, "failed split leaves no pieces");
  expect_status_error("chunk 0", bt_chunk(v, 0, 0, &parts, &n), "chunk", "positive");
  expect_status_error("split 0-dim", bt_split(s, 1, 0, &parts, &n), "split", "0-dim");

  /* gradients */
  bt_Tensor *x = arange(2, SHAPE(2, 3), BT_F64), *k = mk(BT_F32, 2, SHAPE(2, 2), VALS(1, 2, 3, 4));
  Args g1 = {.dim = 1, .other = k};
  gradcheck("cat grad (input used twice)", f_cat, x, &g1);
  gradgradcheck("cat grad grad", f_cat, x, &g1);
  bt_Tensor *k3 = mk(BT_F64, 2, SHAPE(2, 3), VALS(1, 2, 3, 4, 5, 6));
  Args g2 = {.dim = 1, .other = k3};
  gradcheck("stack grad", f_stack, x, &g2);
  bt_Tensor *x5 = arange(2, SHAPE(5, 2), BT_F64);
  Args g3 = {.dim = 0};
  gradcheck("split grad", f_split, x5, &g3);

  bt_Tensor *all[] = {a, b, c, at, d, e, bl, bl2, wrong, s, a2, s2, v, six, x, k, k3, x5};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
}

/* ---- sort / topk -------------------------------------------------------------------- */

static bt_Tensor *f_sort(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor *v, *i;
  if (bt_sort(x, a->dim, a->flag, &v, &i) < 0) return NULL;
  bt_release(i);
  return v;
}

static bt_Tensor *f_topk(bt_Tensor *x, void *ud) {
  Args *a = ud;
  bt_Tensor *v, *i;
  if (bt_topk(x, a->k, a->dim, a->flag, true, &v, &i) < 0) return NULL;
  bt_release(i);
  return v;
}

static void expect_sort(const char *label, bt_Tensor *t, int dim, bool desc, int ndim,
                        const int64_t *shape, const double *values, const double *indices) {
  bt_Tensor *v = NULL, *i = NULL;
  if (bt_sort(t, dim, desc, &v, &i) < 0) {
    CHECK(false, "%s: %s", label, bt_errmsg());
    return;
  }
  CHECK(i->dtype == BT_I64, "%s: indices are i64", label);
  char buf[160];
  snprintf(buf, sizeof buf, "%s values", label);
  expect(buf, v, ndim, shape, values);
  snprintf(buf, sizeof buf, "%s indices", label);
  expect(buf, i, ndim, shape, indices);
}

static void test_sort(void) {
  bt_Tensor *t = mk(BT_F32, 1, SHAPE(5), VALS(3, 1, 2, 1, 3));
  expect_sort("sort ties ascending", t, 0, false, 1, SHAPE(5), VALS(1, 1, 2, 3, 3), VALS(1, 3, 2, 0, 4));
  expect_sort("sort ties descending", t, 0, true, 1, SHAPE(5), VALS(3, 3, 2, 1, 1), VALS(0, 4, 2, 1, 3));
  bt_Tensor *n = mk(BT_F64, 1, SHAPE(6), VALS(2, NAN, 1, NAN, -INFINITY, INFINITY));
  expect_sort("sort NaN last", n, 0, false, 1, SHAPE(6), VALS(-INFINITY, 1, 2, INFINITY, NAN, NAN),
              VALS(4, 2, 0, 5, 1, 3));
  expect_sort("sort NaN first descending", n, 0, true, 1, SHAPE(6),
              VALS(NAN, NAN, INFINITY, 2, 1, -INFINITY), VALS(1, 3, 5, 0, 2, 4));
  bt_Tensor *m = mk(BT_F32, 2, SHAPE(2, 3), VALS(5, 1, 4, 2, 6, 0));
  expect_sort("sort dim 0", m, 0, false, 2, SHAPE(2, 3), VALS(2, 1, 0, 5, 6, 4), VALS(1, 0, 1, 0, 1, 0));
  expect_sort("sort dim -1", m, -1, false, 2, SHAPE(2, 3), VALS(1, 4, 5, 0, 2, 6), VALS(1, 2, 0, 2, 0, 1));
  bt_Tensor *mt = bt_t(m);   /* [3x2]: 5 2 / 1 6 / 4 0 */
  expect_sort("sort transposed dim 0", mt, 0, true, 2, SHAPE(3, 2), VALS(5, 6, 4, 2, 1, 0),
              VALS(0, 1, 2, 0, 1, 2));
  int64_t big[3] = {(1LL << 60) + 1, 1LL << 60, -5};
  bt_Tensor *bi = idx(BT_I64, 1, SHAPE(3), big);
  bt_Tensor *v, *ix;
  CHECK(bt_sort(bi, 0, false, &v, &ix) == 0, "sort i64");
  CHECK(v && bt_get_flat_i64(v, 1) == (1LL << 60) && bt_get_flat_i64(v, 2) == (1LL << 60) + 1,
        "sort i64 is exact beyond 2^53");
  bt_release(v); bt_release(ix);
  bt_Tensor *s = bt_scalar(3, BT_F32);
  expect_sort("sort 0-dim", s, 0, false, 0, NULL, VALS(3), VALS(0));
  bt_Tensor *bl = mk(BT_BOOL, 1, SHAPE(4), VALS(1, 0, 1, 0));
  expect_sort("sort bool", bl, 0, false, 1, SHAPE(4), VALS(0, 0, 1, 1), VALS(1, 3, 0, 2));
  bt_Tensor *h = mk(BT_BF16, 1, SHAPE(3), VALS(0.5, -3, 2));
  expect_sort("sort bf16", h, 0, false, 1, SHAPE(3), VALS(-3, 0.5, 2), VALS(1, 0, 2));

  /* long rows with many ties: sorted, a permutation, stable */
  int64_t rows = 40, len = 1037;
  bt_Tensor *r = bt_randint(0, 9, 2, SHAPE(rows, len), BT_I32);
  for (int desc = 0; desc < 2; desc++) {
    bool ok = bt_sort(r, 1, desc, &v, &ix) == 0;
    for (int64_t a = 0; ok && a < rows; a++)
      for (int64_t b = 0; ok && b < len; b++) {
        int64_t src = bt_get_i64(ix, IDX(a, b));
        ok = bt_get_i64(v, IDX(a, b)) == bt_get_i64(r, IDX(a, src));
        if (ok && b > 0) {
          int64_t prev = bt_get_i64(v, IDX(a, b - 1)), cur = bt_get_i64(v, IDX(a, b));
          ok = desc ? prev >= cur : prev <= cur;
          if (ok && prev == cur) ok = bt_get_i64(ix, IDX(a, b - 1)) < src;
        }
      }
    CHECK(ok, "sort long rows (descending %d): sorted, permutation, stable", desc);
    bt_release(v); bt_release(ix);
  }
  expect_status_error("sort bad dim", bt_sort(m, 2, false, &v, &ix), "sort", "dim");

  /* topk */
  bt_Tensor *k = mk(BT_F32, 1, SHAPE(5), VALS(1, 5, 3, 5, 2));
  CHECK(bt_topk(k, 2, 0, true, true, &v, &ix) == 0, "topk largest");
  EXPECT("topk values", v, 1, SHAPE(2), 5, 5);
  EXPECT("topk indices (ties keep order)", ix, 1, SHAPE(2), 1, 3);
  CHECK(bt_topk(k, 2, 0, false, true, &v, &ix) == 0, "topk smallest");
  EXPECT("topk smallest values", v, 1, SHAPE(2), 1, 2);
  EXPECT("topk smallest indices", ix, 1, SHAPE(2), 0, 4);
  CHECK(bt_topk(m, 1, 1, true, true, &v, &ix) == 0, "topk 2-D");
  EXPECT("topk 2-D values", v, 2, SHAPE(2, 1), 5, 6);
  EXPECT("topk 2-D indices", ix, 2, SHAPE(2, 1), 0, 1);
  CHECK(bt_topk(n, 2, 0, true, true, &v, &ix) == 0, "topk NaN");
  EXPECT("topk NaN is largest", ix, 1, SHAPE(2), 1, 3);
  bt_release(v);
  CHECK(bt_topk(k, 0, 0, true, true, &v, &ix) == 0, "topk k = 0");
  EXPECT("topk k = 0", v, 1, SHAPE(0), 0);
  bt_release(ix);
  expect_status_error("topk k too large", bt_topk(k, 6, 0, true, true, &v, &ix), "topk", "k = 6");
  CHECK(v == NULL && ix == NULL, "failed topk leaves no results");
  expect_status_error("topk k negative", bt_topk(k, -1, 0, true, true, &v, &ix), "topk", NULL);

  /* gradients (distinct values, so the sort is locally constant) */
  bt_Tensor *x = mk(BT_F64, 2, SHAPE(3, 4), VALS(0.3, -1.2, 2.5, 0.7, 1.1, -0.4, 0.0, 3.3, -2.2, 0.9, 1.7, -0.8));
  Args a = {.dim = 1};
  gradcheck("sort grad", f_sort, x, &a);
  gradgradcheck("sort grad grad", f_sort, x, &a);
  Args b = {.dim = 0, .flag = true};
  gradcheck("sort grad descending dim 0", f_sort, x, &b);
  Args c = {.dim = 1, .flag = true, .k = 2};
  gradcheck("topk grad", f_topk, x, &c);
  gradgradcheck("topk grad grad", f_topk, x, &c);
  Args d = {.dim = 0, .flag = false, .k = 2};
  gradcheck("topk smallest grad dim 0", f_topk, x, &d);

  bt_Tensor *all[] = {t, n, m, mt, bi, s, bl, h, r, k, x};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
}

/* ---- one_hot --------------------------------------------------------------------------- */

static void test_one_hot(void) {
  bt_Tensor *c = INDEX(0, 2, 1);
  bt_Tensor *r = bt_one_hot(c, 4);
  CHECK(r && r->dtype == BT_I64, "one_hot is i64");
  EXPECT("one_hot", r, 2, SHAPE(3, 4), 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0);
  EXPECT("one_hot inferred classes", bt_one_hot(c, 0), 2, SHAPE(3, 3), 1, 0, 0, 0, 0, 1, 0, 1, 0);
  bt_Tensor *c2 = idx(BT_I64, 2, SHAPE(2, 2), IDX(1, 0, 1, 1)), *c2t = bt_t(c2);
  EXPECT("one_hot 2-D transposed", bt_one_hot(c2t, 2), 3, SHAPE(2, 2, 2), 0, 1, 0, 1, 1, 0, 0, 1);
  bt_Tensor *s = idx(BT_I64, 0, NULL, IDX(2));
  EXPECT("one_hot 0-dim", bt_one_hot(s, 3), 1, SHAPE(3), 0, 0, 1);
  bt_Tensor *c32 = idx(BT_I32, 1, SHAPE(2), IDX(1, 1));
  EXPECT("one_hot i32", bt_one_hot(c32, 2), 2, SHAPE(2, 2), 0, 1, 0, 1);
  bt_Tensor *e = idx(BT_I64, 1, SHAPE(0), IDX(0));
  EXPECT("one_hot empty", bt_one_hot(e, 3), 2, SHAPE(0, 3), 0);
  expect_error("one_hot empty without classes", bt_one_hot(e, 0), "one_hot", "empty");
  expect_error("one_hot class too large", bt_one_hot(c, 2), "one_hot", "class 3");
  bt_Tensor *neg = INDEX(0, -1);
  expect_error("one_hot negative class", bt_one_hot(neg, 3), "one_hot", "out of range");
  bt_Tensor *f = mk(BT_F32, 1, SHAPE(2), VALS(0, 1));
  expect_error("one_hot float", bt_one_hot(f, 2), "one_hot", "integer");
  bt_Tensor *all[] = {c, c2, c2t, s, c32, e, neg, f};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) bt_release(all[i]);
}

/* ---- no graph where none is asked for; threads agree -------------------------------- */

static void test_graph_hygiene(void) {
  bt_Tensor *x = arange(2, SHAPE(3, 4), BT_F32);
  bt_requires_grad_(x, true);
  bt_Tensor *i = INDEX(1, 2);
  bt_Tensor *y = bt_index_select(x, 0, i);
  CHECK(y && y->requires_grad && strcmp(bt_grad_fn_name(y), "IndexSelectBackward") == 0,
        "index_select records IndexSelectBackward");
  bool prev = bt_set_grad_enabled(false);
  bt_Tensor *z = bt_index_select(x, 0, i);
  CHECK(z && !z->requires_grad && !z->grad_fn, "no graph under no_grad");
  bt_set_grad_enabled(prev);
  bt_Tensor *m = mk(BT_BOOL, 2, SHAPE(3, 4), VALS(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  bt_Tensor *sel = bt_masked_select(x, m);
  CHECK(sel && strcmp(bt_grad_fn_name(sel), "MaskedSelectBackward") == 0, "masked_select's node name");
  bt_Tensor *ts[] = {x, x};
  bt_Tensor *st = bt_stack(2, ts, 0);
  CHECK(st && strcmp(bt_grad_fn_name(st), "StackBackward") == 0, "stack's node name");
  bt_Tensor *v, *ix;
  CHECK(bt_sort(x, 1, false, &v, &ix) == 0 && v->grad_fn && !ix->grad_fn && !ix->requires_grad,
        "sort records on values only");
  bt_release(v); bt_release(ix);
  bt_Tensor *oh = bt_one_hot(i, 3);
  CHECK(oh && !oh->requires_grad, "one_hot is outside the graph");

  /* the same results on 1 thread and on several */
  int nt = bt_get_num_threads();
  int64_t R = 64, C = 3000;
  bt_Tensor *src = bt_randn(2, SHAPE(R, C), BT_F64);
  bt_Tensor *ind = bt_randint(0, 9, 2, SHAPE(R, C), BT_I64);
  bt_Tensor *base = bt_zeros(2, SHAPE(10, C), BT_F64, BT_CPU_DEVICE);
  bt_set_num_threads(1);
  bt_Tensor *one = bt_scatter_add(base, 0, ind, src);
  bt_set_num_threads(nt > 1 ? nt : 4);
  bt_Tensor *many = bt_scatter_add(base, 0, ind, src);
  bt_set_num_threads(nt);
  bool same = one && many;
  for (int64_t k = 0; same && k < 10 * C; k++) same = bt_get_flat(one, k) == bt_get_flat(many, k);
  CHECK(same, "scatter_add gives bit-identical results on 1 and many threads");
  bt_Tensor *all[] = {x, i, y, z, m, sel, st, oh, src, ind, base, one, many};
  for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) bt_release(all[k]);
}

int main(void) {
  test_index_select();
  test_gather();
  test_scatter();
  test_index_add();
  test_masked();
  test_cat();
  test_sort();
  test_one_hot();
  test_graph_hygiene();
  return check_report();
}
