/*
** cuda/index.cu: index_select, gather, scatter (set or add) and index_add.
**
** As in cpu/index.c, all four are one walk: an iteration space (the shape
** of the output, of the index or of the source), a destination and a source
** that move through it, and an index read at each position that replaces,
** along `dim`, the coordinate of one of them: of the source for
** index_select and gather (a read), of the destination for scatter and
** index_add (a write). One thread per position. Sums use atomics, so their
** order (and the last bits of float results) may vary from run to run; a
** scatter that writes one place twice keeps one of the values.
**
** An index outside [0, size) is skipped and reported: the kernel notes the
** first one in a small device buffer, which is read back after the launch
** (one synchronisation) so the op fails with a message naming the index
** (1-based) and the shapes, as on the CPU.
*/
#include "kernel.cuh"
#include "kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdio.h>

struct Walk {
  btc_Layout L;            /* iteration space; operands 0 dst, 1 src, 2 index (dim excluded for the picked one) */
  int dim;
  bool picks_dst;
  long long limit;         /* size of the indexed operand's dim */
  long long step;          /* its stride along dim, in elements */
  bool idx_i32;
};

__device__ __forceinline__ long long load_index(const void *p, long long off, bool i32) {
  return i32 ? (long long)((const int *)p)[off] : ((const long long *)p)[off];
}

__device__ __forceinline__ void note_bad(btc_Report *r, long long v) {
  if (atomicCAS(&r->bad, 0, 1) == 0) r->value = v;
}

/* Offsets of position i in the walk: dims in their original order (no
** collapsing: `dim` must stay apart). */
__device__ __forceinline__ void walk_offsets(const Walk &w, long long i, long long *off) {
  layout_offsets<3>(w.L, i, off);
}

template <typename T>
__global__ void set_kernel(Walk w, T *dst, const T *src, const void *index, btc_Report *r) {
  BTC_LOOP(i, w.L.numel) {
    long long off[3];
    walk_offsets(w, i, off);
    long long v = load_index(index, off[2], w.idx_i32);
    if ((unsigned long long)v >= (unsigned long long)w.limit) {
      note_bad(r, v);
      continue;
    }
    if (w.picks_dst) dst[off[0] + v * w.step] = src[off[1]];
    else dst[off[0]] = src[off[1] + v * w.step];
  }
}

/* Atomic adds for every dtype but bool. */
__device__ __forceinline__ void atomic_add(float *p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(double *p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(long long *p, long long v) {
  atomicAdd((unsigned long long *)p, (unsigned long long)v);
}
__device__ __forceinline__ void atomic_add(int *p, int v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_add(f16_t *p, f16_t v) {
  atomicAdd((__half *)p, __ushort_as_half(v.bits));
}
__device__ __forceinline__ void atomic_add(bf16_t *p, bf16_t v) {
  atomicAdd((__nv_bfloat16 *)p, __ushort_as_bfloat16(v.bits));
}
/* u8: a compare-and-swap on the aligned 32-bit word that holds the byte. */
__device__ __forceinline__ void atomic_add(uint8_t *p, uint8_t v) {
  unsigned *word = (unsigned *)((uintptr_t)p & ~(uintptr_t)3);
  unsigned shift = ((uintptr_t)p & 3) * 8, old = *word, assumed;
  do {
    assumed = old;
    unsigned b = ((assumed >> shift) + v) & 0xff;
    old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (b << shift));
  } while (old != assumed);
}
__device__ __forceinline__ void atomic_add(bool_t *, bool_t) {}

template <typename T>
__global__ void add_kernel(Walk w, T *dst, const T *src, const void *index, btc_Report *r) {
  BTC_LOOP(i, w.L.numel) {
    long long off[3];
    walk_offsets(w, i, off);
    long long v = load_index(index, off[2], w.idx_i32);
    if ((unsigned long long)v >= (unsigned long long)w.limit) {
      note_bad(r, v);
      continue;
    }
    atomic_add(dst + off[0] + v * w.step, src[off[1]]);   /* the add walks pick dst */
  }
}

/* Builds a walk over `shape` (ndim dims). Strides in elements; the picked
** operand's stride along dim is moved to w.step. */
static void walk_init(Walk *w, int ndim, const int64_t *shape, int dim, const int64_t *dst_st,
                      const int64_t *src_st, const int64_t *idx_st, bool picks_dst,
                      long long limit, const bt_Tensor *index) {
  memset(w, 0, sizeof *w);
  btc_Layout *L = &w->L;
  L->ndim = ndim;
  L->numel = 1;
  for (int d = 0; d < ndim; d++) {
    L->shape[d] = shape[d];
    L->numel *= shape[d];
    L->stride[0][d] = dst_st[d];
    L->stride[1][d] = src_st[d];
    L->stride[2][d] = idx_st[d];
  }
  L->small = L->numel <= 0x7fffffffLL;
  w->dim = dim;
  w->picks_dst = picks_dst;
  w->limit = limit;
  int k = picks_dst ? 0 : 1;
  w->step = L->stride[k][dim];
  L->stride[k][dim] = 0;
  w->idx_i32 = index->dtype == BT_I32;
}

/* Runs the walk, reads the report, and words a bad index as the CPU does. */
static int walk_run(const char *op, Walk *w, bt_Tensor *dst, const bt_Tensor *src,
                    const bt_Tensor *index, bool add, const char *what, const bt_Tensor *shown) {
  if (w->L.numel == 0) return 0;
  btc_Report *r = btc_report_buffer();
  if (!r) return bt_seterr("%s: cannot allocate the CUDA report buffer", op);
  unsigned blocks = btc_blocks(w->L.numel, BTC_THREADS);
  void *d = bt_data(dst);
  const void *s = bt_data(src), *ix = bt_data(index);
  if (add) {
    BTC_DISPATCH_ALL(dst->dtype, add_kernel<T><<<blocks, BTC_THREADS>>>(*w, (T *)d, (const T *)s, ix, r));
  } else {
    BTC_DISPATCH_SIZE(bt_dtype_size(dst->dtype),
                      set_kernel<T><<<blocks, BTC_THREADS>>>(*w, (T *)d, (const T *)s, ix, r));
  }
  if (btc_check_launch(op) < 0) return -1;
  long long bad = 0;
  int got = btc_report_take(op, &bad);
  if (got < 0) return -1;
  if (got == 0) return 0;
  char a[96], b[96];
  return bt_seterr("%s: index %lld out of range for dim %d of size %lld (%s %s, index %s)", op,
                   bad + 1, w->dim + 1, w->limit, what, bt_shape_str(shown, a),
                   bt_shape_str(index, b));
}

static int check_all(const char *op, const bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b) {
  if (btc_use(out) < 0) return -1;
  const bt_Tensor *ts[2] = {a, b};
  for (int k = 0; k < 2; k++)
    if (ts[k]->storage->device.type == BT_CPU) {
      char x[32], y[32];
      return bt_seterr("%s: tensors are on different devices (%s and %s)", op,
                       bt_device_name(out->storage->device, x), bt_device_name(ts[k]->storage->device, y));
    }
  return 0;
}

/* index_select: in [..., n, ...], index [k], out [..., k, ...]. */
extern "C" int btc_index_select(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index) {
  if (check_all("index_select", out, in, index) < 0) return -1;
  int64_t ist[BT_MAX_DIMS] = {0};
  ist[dim] = index->stride[0];
  Walk w;
  walk_init(&w, out->ndim, out->shape, dim, out->stride, in->stride, ist, false, in->shape[dim], index);
  return walk_run("index_select", &w, out, in, index, false, "input", in);
}

/* gather: out and index of one shape; out[.., j, ..] = in[.., index[.., j, ..], ..]. */
extern "C" int btc_gather(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index) {
  if (check_all("gather", out, in, index) < 0) return -1;
  Walk w;
  walk_init(&w, index->ndim, index->shape, dim, out->stride, in->stride, index->stride, false,
            in->shape[dim], index);
  return walk_run("gather", &w, out, in, index, false, "input", in);
}

/* scatter: out[.., index[.., j, ..], ..] = (or +=) src[.., j, ..]. */
extern "C" int btc_scatter(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src,
                           bool accumulate) {
  const char *op = accumulate ? "scatter_add" : "scatter";
  if (check_all(op, out, index, src) < 0) return -1;
  if (accumulate && out->dtype == BT_BOOL) return bt_seterr("%s: no CUDA kernel for bool", op);
  Walk w;
  walk_init(&w, index->ndim, index->shape, dim, out->stride, src->stride, index->stride, true,
            out->shape[dim], index);
  return walk_run(op, &w, out, src, index, accumulate, "target", out);
}

/* index_add: out[.., index[j], ..] += src[.., j, ..]. */
extern "C" int btc_index_add(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src) {
  if (check_all("index_add", out, index, src) < 0) return -1;
  if (out->dtype == BT_BOOL) return bt_seterr("index_add: no CUDA kernel for bool");
  int64_t ist[BT_MAX_DIMS] = {0};
  ist[dim] = index->stride[0];
  Walk w;
  walk_init(&w, src->ndim, src->shape, dim, out->stride, src->stride, ist, true, out->shape[dim], index);
  return walk_run("index_add", &w, out, src, index, true, "target", out);
}
