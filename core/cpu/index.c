/*
** cpu/index.c: the indexing kernels: index_select, gather, scatter (set or
** add) and index_add; and nonzero (at the end: the true elements of a mask).
**
** All four are one walk: an iteration space (the shape of the output, of the
** index or of the source), two operands that move through it (dst and src),
** and an index read at each position that replaces, along `dim`, the
** coordinate of one of them: of src for index_select and gather (a read at
** the index), of dst for scatter and index_add (a write at the index).
**
** Work is split over the positions before `dim` (outer), blocks of `dim`
** and chunks of the positions after it (inner). A read splits anywhere; a
** write (scatter, index_add) keeps all of `dim` in one task, so two tasks
** never write the same dst element, even with duplicate indices:
** accumulation needs no atomics and gives the same result on any number of
** threads. An index outside [0, size) stops its task; the kernel then fails
** with a message naming the op, the index (1-based) and the shapes.
*/
#include "iter.h"
#include "kernels.h"

#include <stdio.h>

typedef struct {
  const char *op;
  int ndim, dim;
  int64_t shape[BT_MAX_DIMS];                     /* the iteration space */
  int64_t dst_st[BT_MAX_DIMS], src_st[BT_MAX_DIMS], idx_st[BT_MAX_DIMS];   /* bytes */
  char *dst;
  const char *src, *idx;
  bool idx_i32;                                   /* else i64 */
  bool picks_dst;                                 /* the index chooses the dst position */
  int64_t limit;                                  /* size of the indexed operand's dim */
  int64_t dst_step, src_step;                     /* bytes per index unit (0 for the other) */
  int64_t outer, inner;                           /* positions before and after dim */
  int64_t inner_chunk, nchunks;                   /* inner positions per task, chunks */
  int64_t jchunk, njblocks;                       /* dim coordinates per task, blocks */
  bool along_dim;                                 /* runs go along dim (nothing after it) */
  int64_t drun, srun, irun;                       /* byte strides along a run */
  int64_t es;                                     /* element size */
  int bad;                                        /* set once a task saw a bad index */
  int64_t bad_value;
} Walk;

/* Applies the op to n elements of a run; returns the position of the first
** bad index, or n. */
typedef int64_t (*RunFn)(const Walk *w, char *d, const char *s, const char *ix, int64_t n);

static inline int64_t load_index(const char *p, bool i32) {
  return i32 ? (int64_t)*(const int32_t *)p : *(const int64_t *)p;
}

#define DEFINE_RUN(NAME, T, APPLY)                                                    \
  static int64_t NAME(const Walk *w, char *d, const char *s, const char *ix, int64_t n) { \
    for (int64_t k = 0; k < n; k++) {                                                 \
      int64_t v = load_index(ix + k * w->irun, w->idx_i32);                           \
      if ((uint64_t)v >= (uint64_t)w->limit) return k;                                \
      T *dp = (T *)(d + k * w->drun + v * w->dst_step);                               \
      const T *sp = (const T *)(s + k * w->srun + v * w->src_step);                   \
      APPLY;                                                                          \
    }                                                                                 \
    return n;                                                                         \
  }

/* Copies move bits, so one loop per element size serves every dtype. */
DEFINE_RUN(set_1, uint8_t, *dp = *sp)
DEFINE_RUN(set_2, uint16_t, *dp = *sp)
DEFINE_RUN(set_4, uint32_t, *dp = *sp)
DEFINE_RUN(set_8, uint64_t, *dp = *sp)

DEFINE_RUN(add_f32, float, *dp += *sp)
DEFINE_RUN(add_f64, double, *dp += *sp)
DEFINE_RUN(add_i64, int64_t, *dp += *sp)
DEFINE_RUN(add_i32, int32_t, *dp += *sp)
DEFINE_RUN(add_u8, uint8_t, *dp = (uint8_t)(*dp + *sp))
DEFINE_RUN(add_f16, uint16_t, *dp = bt_f32_to_f16(bt_f16_to_f32(*dp) + bt_f16_to_f32(*sp)))
DEFINE_RUN(add_bf16, uint16_t, *dp = bt_f32_to_bf16(bt_bf16_to_f32(*dp) + bt_bf16_to_f32(*sp)))

/* A whole run at one index (index_select of contiguous rows): one memcpy. */
static int64_t set_row(const Walk *w, char *d, const char *s, const char *ix, int64_t n) {
  int64_t v = load_index(ix, w->idx_i32);
  if ((uint64_t)v >= (uint64_t)w->limit) return 0;
  memcpy(d + v * w->dst_step, s + v * w->src_step, (size_t)(n * w->es));
  return n;
}

static RunFn set_fn(bt_DType dt) {
  switch (bt_dtype_size(dt)) {
    case 8: return set_8;
    case 4: return set_4;
    case 2: return set_2;
    default: return set_1;
  }
}

static RunFn add_fn(bt_DType dt) {
  switch (dt) {
    case BT_F32: return add_f32;
    case BT_F64: return add_f64;
    case BT_I64: return add_i64;
    case BT_I32: return add_i32;
    case BT_U8: return add_u8;
    case BT_F16: return add_f16;
    case BT_BF16: return add_bf16;
    default: return NULL;   /* bool: no sum */
  }
}

typedef struct {
  Walk w;
  RunFn run;
  bool is_set;      /* a copy (not a sum): contiguous rows may use set_row */
} Job;

static void note_bad(Walk *w, const char *ix) {
  int64_t v = load_index(ix, w->idx_i32);
  if (__atomic_exchange_n(&w->bad, 1, __ATOMIC_ACQ_REL) == 0) w->bad_value = v;
}

/* Byte offsets of outer position o (the dims before dim). */
static void outer_offsets(const Walk *w, int64_t o, int64_t *od, int64_t *os, int64_t *oi) {
  int64_t d = 0, s = 0, i = 0;
  for (int k = w->dim - 1; k >= 0; k--) {
    int64_t c = o % w->shape[k];
    o /= w->shape[k];
    d += c * w->dst_st[k];
    s += c * w->src_st[k];
    i += c * w->idx_st[k];
  }
  *od = d; *os = s; *oi = i;
}

/* Byte offsets of inner position p (the dims after dim). */
static void inner_offsets(const Walk *w, int64_t p, int64_t *od, int64_t *os, int64_t *oi) {
  int64_t d = 0, s = 0, i = 0;
  for (int k = w->ndim - 1; k > w->dim; k--) {
    int64_t c = p % w->shape[k];
    p /= w->shape[k];
    d += c * w->dst_st[k];
    s += c * w->src_st[k];
    i += c * w->idx_st[k];
  }
  *od = d; *os = s; *oi = i;
}

/* Inner positions [p0, p1) at dim coordinate j, in runs along the last dim. */
static bool walk_inner(Job *job, char *d, const char *s, const char *ix, int64_t p0, int64_t p1) {
  Walk *w = &job->w;
  int64_t last = w->shape[w->ndim - 1];
  for (int64_t p = p0; p < p1;) {
    int64_t n = BT_MIN(last - p % last, p1 - p), od, os, oi;
    inner_offsets(w, p, &od, &os, &oi);
    int64_t done = job->run(w, d + od, s + os, ix + oi, n);
    if (done < n) {
      note_bad(w, ix + oi + done * w->irun);
      return false;
    }
    p += n;
  }
  return true;
}

/* Task t covers outer position o, a block of dim coordinates [j0, j1) and a
** chunk of inner positions [p0, p1). */
static void walk_tasks(void *ctx, int64_t begin, int64_t end) {
  Job *job = ctx;
  Walk *w = &job->w;
  int64_t size = w->shape[w->dim];
  /* Along dim, the operand that the index does not place moves with j. */
  int64_t jd = w->picks_dst ? 0 : w->dst_st[w->dim];
  int64_t js = w->picks_dst ? w->src_st[w->dim] : 0;
  int64_t ji = w->idx_st[w->dim];
  for (int64_t t = begin; t < end; t++) {
    int64_t c = t % w->nchunks, jb = t / w->nchunks % w->njblocks, o = t / w->nchunks / w->njblocks;
    int64_t j0 = jb * w->jchunk, j1 = BT_MIN(j0 + w->jchunk, size), od, os, oi;
    outer_offsets(w, o, &od, &os, &oi);
    char *d = w->dst + od + j0 * jd;
    const char *s = w->src + os + j0 * js, *ix = w->idx + oi + j0 * ji;
    if (w->along_dim) {
      int64_t done = job->run(w, d, s, ix, j1 - j0);
      if (done < j1 - j0) {
        note_bad(w, ix + done * w->irun);
        return;
      }
      continue;
    }
    int64_t p0 = c * w->inner_chunk, p1 = BT_MIN(p0 + w->inner_chunk, w->inner);
    for (int64_t j = j0; j < j1; j++, d += jd, s += js, ix += ji)
      if (!walk_inner(job, d, s, ix, p0, p1)) return;
  }
}

/* Fills the walk's strides (bytes) from the operands' element strides; idx
** strides are given in elements of the index tensor. */
static void walk_init(Walk *w, const char *op, int ndim, const int64_t *shape, int dim,
                      const bt_Tensor *dst, const int64_t *dst_st, const bt_Tensor *src,
                      const int64_t *src_st, const bt_Tensor *index, const int64_t *idx_st,
                      bool picks_dst) {
  memset(w, 0, sizeof *w);
  int64_t es = (int64_t)bt_dtype_size(dst->dtype), ies = (int64_t)bt_dtype_size(index->dtype);
  w->op = op;
  w->ndim = ndim;
  w->dim = dim;
  for (int k = 0; k < ndim; k++) {
    w->shape[k] = shape[k];
    w->dst_st[k] = dst_st[k] * es;
    w->src_st[k] = src_st[k] * es;
    w->idx_st[k] = idx_st[k] * ies;
  }
  w->dst = bt_data(dst);
  w->src = bt_data(src);
  w->idx = bt_data(index);
  w->es = es;
  w->idx_i32 = index->dtype == BT_I32;
  w->picks_dst = picks_dst;
  w->limit = picks_dst ? dst->shape[dim] : src->shape[dim];
  w->dst_step = picks_dst ? w->dst_st[dim] : 0;
  w->src_step = picks_dst ? 0 : w->src_st[dim];
  w->outer = w->inner = 1;
  for (int k = 0; k < dim; k++) w->outer *= shape[k];
  for (int k = dim + 1; k < ndim; k++) w->inner *= shape[k];
}

/* Inner elements a writing task keeps together, so that its runs stay long. */
#define MIN_WRITE_CHUNK 256

/* Chooses runs and tasks. Reads (index_select, gather) split anywhere; a
** write (scatter, index_add) keeps all of dim in one task, since two
** positions along dim may hit the same dst element. */
static void walk_plan(Walk *w) {
  int64_t size = w->shape[w->dim];
  w->along_dim = w->inner == 1;
  if (w->along_dim) {
    w->drun = w->picks_dst ? 0 : w->dst_st[w->dim];
    w->srun = w->picks_dst ? w->src_st[w->dim] : 0;
    w->irun = w->idx_st[w->dim];
    w->inner_chunk = 1;
    w->jchunk = w->picks_dst ? size : BT_MIN(size, BT_GRAIN);
  } else {
    int last = w->ndim - 1;
    w->drun = w->dst_st[last];
    w->srun = w->src_st[last];
    w->irun = w->idx_st[last];
    if (w->picks_dst) {
      w->inner_chunk = BT_MIN(w->inner, BT_MAX(MIN_WRITE_CHUNK, BT_GRAIN / size));
      w->jchunk = size;
    } else {
      w->inner_chunk = BT_MIN(w->inner, BT_GRAIN);
      w->jchunk = BT_MIN(size, BT_MAX(1, BT_GRAIN / w->inner_chunk));
    }
  }
  w->nchunks = (w->inner + w->inner_chunk - 1) / w->inner_chunk;
  w->njblocks = (size + w->jchunk - 1) / w->jchunk;
}

/* Runs the walk over the thread pool; -1 with a message on a bad index or
** an interrupt. */
static int walk_run(Job *job) {
  Walk *w = &job->w;
  if (w->outer * w->shape[w->dim] * w->inner == 0) return 0;
  walk_plan(w);
  if (job->is_set && !w->along_dim && w->irun == 0 && w->drun == w->es && w->srun == w->es)
    job->run = set_row;
  int64_t tasks = w->outer * w->njblocks * w->nchunks;
  int64_t grain = BT_MAX(1, BT_GRAIN / (w->jchunk * w->inner_chunk));
  if (bt_parallel_for(tasks, grain, walk_tasks, job) < 0) return -1;
  if (w->bad)
    return bt_seterr("%s: index %lld out of range for dim %d of size %lld", w->op,
                     (long long)w->bad_value + 1, w->dim + 1, (long long)w->limit);
  return 0;
}

/* Adds the shapes to a bad-index message. */
static int with_shapes(int rc, const char *what, const bt_Tensor *a, const bt_Tensor *index) {
  if (rc < 0 && !bt_interrupted()) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", bt_errmsg());
    bt_seterr("%s (%s %s, index %s)", msg, what, bt_shp(a), bt_shp(index));
  }
  return rc;
}

/* ---- the kernels ------------------------------------------------------------ */

/* index_select: in [..., n, ...], index [k] (i64 or i32, any stride),
** out [..., k, ...] of in's dtype; out[.., j, ..] = in[.., index[j], ..]. */
int bt_cpu_index_select(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index) {
  Job job = {.run = set_fn(out->dtype), .is_set = true};
  int64_t ist[BT_MAX_DIMS] = {0};
  ist[dim] = index->stride[0];
  walk_init(&job.w, "index_select", out->ndim, out->shape, dim, out, out->stride, in, in->stride,
            index, ist, false);
  return with_shapes(walk_run(&job), "input", in, index);
}

/* gather: in [..., n, ...], index and out of one shape with index.size(d) <=
** in.size(d) for d != dim; out[.., j, ..] = in[.., index[.., j, ..], ..]. */
int bt_cpu_gather(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index) {
  Job job = {.run = set_fn(out->dtype), .is_set = true};
  walk_init(&job.w, "gather", index->ndim, index->shape, dim, out, out->stride, in, in->stride,
            index, index->stride, false);
  return with_shapes(walk_run(&job), "input", in, index);
}

/* scatter: out (already a copy of the target), index and src of out's ndim;
** index.size(d) <= src.size(d) for every d and <= out.size(d) for d != dim;
** src of out's dtype. out[.., index[.., j, ..], ..] = (or +=) src[.., j, ..]. */
int bt_cpu_scatter(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src,
                   bool accumulate) {
  Job job = {.run = accumulate ? add_fn(out->dtype) : set_fn(out->dtype), .is_set = !accumulate};
  const char *op = accumulate ? "scatter_add" : "scatter";
  if (!job.run) return bt_seterr("%s: no CPU kernel for %s", op, bt_dtype_name(out->dtype));
  walk_init(&job.w, op, index->ndim, index->shape, dim, out, out->stride, src, src->stride, index,
            index->stride, true);
  return with_shapes(walk_run(&job), "target", out, index);
}

/* index_add: out (already a copy of the target) [..., n, ...], index [k],
** src [..., k, ...] of out's dtype; out[.., index[j], ..] += src[.., j, ..]. */
int bt_cpu_index_add(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src) {
  Job job = {.run = add_fn(out->dtype)};
  if (!job.run) return bt_seterr("index_add: no CPU kernel for %s", bt_dtype_name(out->dtype));
  int64_t ist[BT_MAX_DIMS] = {0};
  ist[dim] = index->stride[0];
  walk_init(&job.w, "index_add", src->ndim, src->shape, dim, out, out->stride, src, src->stride,
            index, ist, true);
  return with_shapes(walk_run(&job), "target", out, index);
}

/* ---- nonzero ------------------------------------------------------------------------- */

/* The true elements of a contiguous bool mask: counted per block in
** parallel, then written per block at offsets from a prefix sum, so the
** positions come out in order on any number of threads. */
#define POS_BLOCK 65536

typedef struct {
  const uint8_t *m;
  int64_t n;
  int64_t *counts;    /* per block; then the block's first output slot */
  int64_t *out;
} PosCtx;

static void count_blocks(void *ctx, int64_t begin, int64_t end) {
  PosCtx *c = ctx;
  for (int64_t b = begin; b < end; b++) {
    int64_t lo = b * POS_BLOCK, hi = BT_MIN(lo + POS_BLOCK, c->n), k = 0;
    for (int64_t i = lo; i < hi; i++) k += c->m[i] != 0;
    c->counts[b] = k;
  }
}

static void fill_blocks(void *ctx, int64_t begin, int64_t end) {
  PosCtx *c = ctx;
  for (int64_t b = begin; b < end; b++) {
    int64_t lo = b * POS_BLOCK, hi = BT_MIN(lo + POS_BLOCK, c->n), k = c->counts[b];
    for (int64_t i = lo; i < hi; i++)
      if (c->m[i]) c->out[k++] = i;
  }
}

/* The flat positions of the true elements of mask, as an i64 tensor [k]. */
static bt_Tensor *true_positions(const bt_Tensor *mask) {
  int64_t n = bt_numel(mask), nblocks = (n + POS_BLOCK - 1) / POS_BLOCK;
  PosCtx c = {bt_data(mask), n, calloc((size_t)BT_MAX(nblocks, 1), sizeof(int64_t)), NULL};
  if (!c.counts) return bt_seterr("nonzero: out of memory"), NULL;
  bt_Tensor *out = NULL;
  if (bt_parallel_for(nblocks, 1, count_blocks, &c) == 0) {
    int64_t total = 0;
    for (int64_t b = 0; b < nblocks; b++) {
      int64_t k = c.counts[b];
      c.counts[b] = total;
      total += k;
    }
    out = bt_empty(1, &total, BT_I64, BT_CPU_DEVICE);
    if (out) {
      c.out = bt_data(out);
      if (bt_parallel_for(nblocks, 1, fill_blocks, &c) < 0) {
        bt_release(out);
        out = NULL;
      }
    }
  }
  free(c.counts);
  return out;
}

typedef struct {
  const int64_t *pos;
  int64_t *out;
  int ndim;
  const int64_t *shape;
} CoordCtx;

static void coords_of(void *ctx, int64_t begin, int64_t end) {
  const CoordCtx *c = ctx;
  for (int64_t r = begin; r < end; r++) {
    int64_t p = c->pos[r];
    for (int d = c->ndim - 1; d >= 0; d--) {
      c->out[r * c->ndim + d] = p % c->shape[d];
      p /= c->shape[d];
    }
  }
}

/* nonzero (dispatch.h): mask contiguous bool; *out [k] flat positions or
** [k, ndim] coordinates of its true elements, 0-based, in C order. */
int bt_cpu_nonzero(bt_Tensor **out, const bt_Tensor *mask, bool flat) {
  *out = NULL;
  bt_Tensor *pos = true_positions(mask);
  if (!pos || flat) {
    *out = pos;
    return pos ? 0 : -1;
  }
  int64_t shape[2] = {pos->shape[0], mask->ndim};
  bt_Tensor *r = bt_empty(2, shape, BT_I64, BT_CPU_DEVICE);
  if (r && mask->ndim > 0) {
    CoordCtx c = {bt_data(pos), bt_data(r), mask->ndim, mask->shape};
    if (bt_parallel_for(shape[0], 4096, coords_of, &c) < 0) {
      bt_release(r);
      r = NULL;
    }
  }
  bt_release(pos);
  *out = r;
  return r ? 0 : -1;
}
