/*
** cpu/reduce.c: reductions over a set of dims (sum, prod, max, min, any,
** all), max/min with indices along one dim, and cumulative sums/products.
**
** Sums of floats accumulate in double, in fixed-size chunks combined in a
** fixed order, so a result does not depend on the number of threads.
*/
#include "kernels.h"

/* The reduced sub-space of one output element, as collapsed (size, stride). */
typedef struct {
  int nred;
  int64_t rshape[BT_MAX_DIMS], rstride[BT_MAX_DIMS];   /* elements */
  int nkeep;
  int64_t kshape[BT_MAX_DIMS], kstride[BT_MAX_DIMS], ostride[BT_MAX_DIMS];
  int64_t rsize;
} Layout;

static void layout_init(Layout *L, const bt_Tensor *in, const bt_Tensor *out, unsigned dims) {
  L->nred = L->nkeep = 0;
  L->rsize = 1;
  for (int d = 0; d < in->ndim; d++) {
    bool red = (dims >> d) & 1;
    if (in->shape[d] == 1) continue;
    if (red) {
      int k = L->nred;
      if (k > 0 && L->rstride[k - 1] == in->stride[d] * in->shape[d]) {   /* merge */
        L->rshape[k - 1] *= in->shape[d];
        L->rstride[k - 1] = in->stride[d];
      } else {
        L->rshape[k] = in->shape[d];
        L->rstride[k] = in->stride[d];
        L->nred++;
      }
      L->rsize *= in->shape[d];
    } else {
      L->kshape[L->nkeep] = in->shape[d];
      L->kstride[L->nkeep] = in->stride[d];
      L->ostride[L->nkeep++] = out->stride[d];
    }
  }
}

/* Input offset of reduced element j (0 <= j < rsize) relative to the base. */
static int64_t red_offset(const Layout *L, int64_t j) {
  int64_t off = 0;
  for (int d = L->nred - 1; d >= 0; d--) {
    off += (j % L->rshape[d]) * L->rstride[d];
    j /= L->rshape[d];
  }
  return off;
}

typedef struct {
  bt_ReduceOp op;
  const bt_Tensor *in;
  bt_Tensor *out;
  const Layout *L;
  int64_t chunk;          /* reduced elements per partial (parallel reduce) */
  double *partial;        /* one per chunk, for a single output */
  int64_t base_in;        /* input offset of the output being reduced */
} Ctx;

static double combine(bt_ReduceOp op, double acc, double x) {
  switch (op) {
    case BT_RED_SUM: return acc + x;
    case BT_RED_PROD: return acc * x;
    case BT_RED_MAX: return acc != acc || x != x ? NAN : x > acc ? x : acc;
    case BT_RED_MIN: return acc != acc || x != x ? NAN : x < acc ? x : acc;
    case BT_RED_ANY: return acc || x != 0;
    default: return acc && x != 0;   /* ALL */
  }
}

static double identity(bt_ReduceOp op) {
  switch (op) {
    case BT_RED_SUM: case BT_RED_ANY: return 0;
    case BT_RED_PROD: case BT_RED_ALL: return 1;
    case BT_RED_MAX: return -INFINITY;
    default: return INFINITY;
  }
}

/* Sum of a run of n f32 values with stride s: four double accumulators. */
static double sum_run_f32(const float *p, int64_t n, int64_t s) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  if (s == 1) {
    for (; i + 4 <= n; i += 4) {
      a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
    }
    for (; i < n; i++) a0 += p[i];
  } else {
    for (; i < n; i++) a0 += p[i * s];
  }
  return (a0 + a1) + (a2 + a3);
}

static double sum_run_f64(const double *p, int64_t n, int64_t s) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  if (s == 1) {
    for (; i + 4 <= n; i += 4) {
      a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
    }
    for (; i < n; i++) a0 += p[i];
  } else {
    for (; i < n; i++) a0 += p[i * s];
  }
  return (a0 + a1) + (a2 + a3);
}

/* Reduces reduced elements [j0, j1) of the output at input offset base. */
static double reduce_span(const Ctx *c, int64_t base, int64_t j0, int64_t j1) {
  const Layout *L = c->L;
  const bt_Tensor *in = c->in;
  size_t es = bt_dtype_size(in->dtype);
  const char *data = (const char *)in->storage->data;
  double acc = identity(c->op);
  int last = L->nred - 1;
  int64_t run = last >= 0 ? L->rshape[last] : 1, rs = last >= 0 ? L->rstride[last] : 0;
  int64_t j = j0;
  while (j < j1) {
    int64_t pos = j % run, n = BT_MIN(run - pos, j1 - j);
    int64_t off = base + red_offset(L, j);
    const char *p = data + off * (int64_t)es;
    if (c->op == BT_RED_SUM && in->dtype == BT_F32) {
      acc += sum_run_f32((const float *)p, n, rs);
    } else if (c->op == BT_RED_SUM && in->dtype == BT_F64) {
      acc += sum_run_f64((const double *)p, n, rs);
    } else {
      for (int64_t i = 0; i < n; i++) acc = combine(c->op, acc, bt_load(p + i * rs * (int64_t)es, in->dtype));
    }
    j += n;
  }
  return acc;
}

/* Integer sums and products stay exact in int64. */
static int64_t reduce_span_i64(const Ctx *c, int64_t base) {
  const Layout *L = c->L;
  size_t es = bt_dtype_size(c->in->dtype);
  const char *data = (const char *)c->in->storage->data;
  int64_t acc = c->op == BT_RED_PROD ? 1 : 0;
  for (int64_t j = 0; j < L->rsize; j++) {
    int64_t x = bt_load_i64(data + (base + red_offset(L, j)) * (int64_t)es, c->in->dtype);
    /* overflow wraps around (in uint64_t, where C defines it) */
    acc = (int64_t)(c->op == BT_RED_PROD ? (uint64_t)acc * (uint64_t)x : (uint64_t)acc + (uint64_t)x);
  }
  return acc;
}

static void output_offsets(const Layout *L, int64_t o, int64_t *in_off, int64_t *out_off) {
  int64_t a = 0, b = 0;
  for (int d = L->nkeep - 1; d >= 0; d--) {
    int64_t i = o % L->kshape[d];
    o /= L->kshape[d];
    a += i * L->kstride[d];
    b += i * L->ostride[d];
  }
  *in_off = a;
  *out_off = b;
}

static bool exact_int(const Ctx *c) {
  return (c->op == BT_RED_SUM || c->op == BT_RED_PROD) && !bt_dtype_is_float(c->in->dtype);
}

static void store_result(const Ctx *c, int64_t out_off, double v, int64_t iv) {
  char *p = (char *)c->out->storage->data + (c->out->offset + out_off) * (int64_t)bt_dtype_size(c->out->dtype);
  if (exact_int(c)) bt_store_i64(p, c->out->dtype, iv);
  else bt_store(p, c->out->dtype, v);
}

static void reduce_outputs(void *ctx, int64_t begin, int64_t end) {
  const Ctx *c = ctx;
  for (int64_t o = begin; o < end; o++) {
    int64_t in_off, out_off;
    output_offsets(c->L, o, &in_off, &out_off);
    int64_t base = c->in->offset + in_off;
    if (exact_int(c)) store_result(c, out_off, 0, reduce_span_i64(c, base));
    else store_result(c, out_off, reduce_span(c, base, 0, c->L->rsize), 0);
  }
}

static void reduce_chunks(void *ctx, int64_t begin, int64_t end) {
  const Ctx *c = ctx;
  for (int64_t k = begin; k < end; k++) {
    int64_t j0 = k * c->chunk, j1 = BT_MIN(j0 + c->chunk, c->L->rsize);
    c->partial[k] = reduce_span(c, c->base_in, j0, j1);
  }
}

int bt_cpu_reduce(bt_ReduceOp op, bt_Tensor *out, const bt_Tensor *in, unsigned dims) {
  Layout L;
  layout_init(&L, in, out, dims);
  Ctx c = {.op = op, .in = in, .out = out, .L = &L};
  int64_t nout = bt_numel(out);
  if (nout == 0) return 0;
  const int64_t chunk = 1 << 15;
  if (nout >= 4 || L.rsize <= chunk || exact_int(&c)) {
    int64_t grain = BT_MAX(1, (1 << 15) / BT_MAX(L.rsize, 1));
    return bt_parallel_for(nout, grain, reduce_outputs, &c);
  }
  /* Few outputs, long reductions: split each into fixed chunks. */
  int64_t nchunks = (L.rsize + chunk - 1) / chunk;
  c.chunk = chunk;
  c.partial = malloc((size_t)nchunks * sizeof(double));
  if (!c.partial) return bt_seterr("reduce: out of memory");
  for (int64_t o = 0; o < nout; o++) {
    int64_t in_off, out_off;
    output_offsets(&L, o, &in_off, &out_off);
    c.base_in = in->offset + in_off;
    if (bt_parallel_for(nchunks, 1, reduce_chunks, &c) < 0) {
      free(c.partial);
      return -1;
    }
    double acc = identity(op);
    for (int64_t k = 0; k < nchunks; k++) acc = combine(op, acc, c.partial[k]);
    store_result(&c, out_off, acc, 0);
  }
  free(c.partial);
  return 0;
}

/* ---- max/min with indices along one dim ---------------------------------------- */

typedef struct {
  bt_ReduceOp op;
  const bt_Tensor *in;
  bt_Tensor *values, *indices;
  int dim;
} ArgCtx;

/* Offset of line o (all dims but `dim`) in a tensor, in elements. */
static int64_t line_offset(const bt_Tensor *t, int dim, int64_t o) {
  int64_t off = t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (d == dim) continue;
    off += (o % t->shape[d]) * t->stride[d];
    o /= t->shape[d];
  }
  return off;
}

static void arg_lines(void *ctx, int64_t begin, int64_t end) {
  const ArgCtx *c = ctx;
  const bt_Tensor *in = c->in;
  size_t es = bt_dtype_size(in->dtype);
  int64_t n = in->shape[c->dim], s = in->stride[c->dim];
  bool is_max = c->op == BT_RED_MAX, exact = !bt_dtype_is_float(in->dtype);
  for (int64_t o = begin; o < end; o++) {
    const char *p = (const char *)in->storage->data + line_offset(in, c->dim, o) * (int64_t)es;
    int64_t best = 0;
    if (exact) {
      int64_t bv = bt_load_i64(p, in->dtype);
      for (int64_t i = 1; i < n; i++) {
        int64_t x = bt_load_i64(p + i * s * (int64_t)es, in->dtype);
        if (is_max ? x > bv : x < bv) { bv = x; best = i; }
      }
    } else {
      double bv = bt_load(p, in->dtype);
      for (int64_t i = 1; i < n && bv == bv; i++) {   /* a NaN wins and stops the scan */
        double x = bt_load(p + i * s * (int64_t)es, in->dtype);
        if (x != x || (is_max ? x > bv : x < bv)) { bv = x; best = i; }
      }
    }
    if (c->values) {
      size_t ves = bt_dtype_size(c->values->dtype);
      char *vp = (char *)c->values->storage->data + line_offset(c->values, c->dim, o) * (int64_t)ves;
      memcpy(vp, p + best * s * (int64_t)es, es);
    }
    int64_t *ip = (int64_t *)c->indices->storage->data + line_offset(c->indices, c->dim, o);
    *ip = best;
  }
}

int bt_cpu_arg_reduce(bt_ReduceOp op, bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in,
                      int dim) {
  ArgCtx c = {op, in, values, indices, dim};
  int64_t lines = bt_numel(in) / BT_MAX(in->shape[dim], 1);
  if (in->shape[dim] == 0)
    return bt_seterr("%s: cannot reduce an empty dim", op == BT_RED_MAX ? "max" : "min");
  return bt_parallel_for(lines, BT_MAX(1, 8192 / in->shape[dim]), arg_lines, &c);
}

/* ---- cumulative ---------------------------------------------------------------------- */

typedef struct {
  bt_CumOp op;
  const bt_Tensor *in;
  bt_Tensor *out;
  int dim;
} CumCtx;

static void cum_lines(void *ctx, int64_t begin, int64_t end) {
  const CumCtx *c = ctx;
  bt_DType dt = c->in->dtype;
  size_t es = bt_dtype_size(dt);
  int64_t n = c->in->shape[c->dim], si = c->in->stride[c->dim], so = c->out->stride[c->dim];
  bool exact = !bt_dtype_is_float(dt);
  for (int64_t o = begin; o < end; o++) {
    const char *p = (const char *)c->in->storage->data + line_offset(c->in, c->dim, o) * (int64_t)es;
    char *q = (char *)c->out->storage->data + line_offset(c->out, c->dim, o) * (int64_t)es;
    double acc = c->op == BT_CUM_SUM ? 0 : 1;
    int64_t iacc = c->op == BT_CUM_SUM ? 0 : 1;
    for (int64_t i = 0; i < n; i++) {
      if (exact) {
        int64_t x = bt_load_i64(p + i * si * (int64_t)es, dt);
        iacc = (int64_t)(c->op == BT_CUM_SUM ? (uint64_t)iacc + (uint64_t)x : (uint64_t)iacc * (uint64_t)x);
        bt_store_i64(q + i * so * (int64_t)es, dt, iacc);
      } else {
        double x = bt_load(p + i * si * (int64_t)es, dt);
        acc = c->op == BT_CUM_SUM ? acc + x : acc * x;
        bt_store(q + i * so * (int64_t)es, dt, acc);
      }
    }
  }
}

int bt_cpu_cumulative(bt_CumOp op, bt_Tensor *out, const bt_Tensor *in, int dim) {
  CumCtx c = {op, in, out, dim};
  int64_t n = BT_MAX(in->shape[dim], 1);
  return bt_parallel_for(bt_numel(in) / n, BT_MAX(1, 8192 / n), cum_lines, &c);
}
