/*
** cpu/iter.c: the strided N-d iterator behind elementwise kernels.
*/
#include "iter.h"

typedef struct {
  int nops, ndim;
  int64_t shape[BT_MAX_DIMS];
  int64_t stride[BT_ITER_MAX_OPS][BT_MAX_DIMS];   /* bytes */
  char *base[BT_ITER_MAX_OPS];
  bt_RowFn row;
  void *ctx;
} Iter;

/* Merges dim d into d+1 when every operand steps through them as one. */
static void collapse(Iter *it) {
  int nd = 0;
  int64_t shape[BT_MAX_DIMS], stride[BT_ITER_MAX_OPS][BT_MAX_DIMS];
  for (int d = 0; d < it->ndim; d++) {
    if (it->shape[d] == 1) continue;        /* size-1 dims never move */
    if (nd > 0) {
      bool merge = true;
      for (int k = 0; k < it->nops; k++)
        if (stride[k][nd - 1] != it->stride[k][d] * it->shape[d]) merge = false;
      if (merge) {
        shape[nd - 1] *= it->shape[d];
        for (int k = 0; k < it->nops; k++) stride[k][nd - 1] = it->stride[k][d];
        continue;
      }
    }
    shape[nd] = it->shape[d];
    for (int k = 0; k < it->nops; k++) stride[k][nd] = it->stride[k][d];
    nd++;
  }
  if (nd == 0) {   /* a single element */
    shape[0] = 1;
    for (int k = 0; k < it->nops; k++) stride[k][0] = 0;
    nd = 1;
  }
  it->ndim = nd;
  memcpy(it->shape, shape, sizeof shape);
  for (int k = 0; k < it->nops; k++) memcpy(it->stride[k], stride[k], sizeof stride[k]);
}

static void run_range(void *ctx, int64_t begin, int64_t end) {
  const Iter *it = ctx;
  int last = it->ndim - 1;
  int64_t idx[BT_MAX_DIMS];
  int64_t rem = begin;
  for (int d = last; d >= 0; d--) {
    idx[d] = rem % it->shape[d];
    rem /= it->shape[d];
  }
  char *ptrs[BT_ITER_MAX_OPS];
  int64_t inner[BT_ITER_MAX_OPS];
  for (int k = 0; k < it->nops; k++) inner[k] = it->stride[k][last];
  int64_t pos = begin;
  while (pos < end) {
    int64_t n = BT_MIN(it->shape[last] - idx[last], end - pos);
    for (int k = 0; k < it->nops; k++) {
      char *p = it->base[k];
      for (int d = 0; d <= last; d++) p += idx[d] * it->stride[k][d];
      ptrs[k] = p;
    }
    it->row(it->ctx, ptrs, inner, n);
    pos += n;
    idx[last] += n;
    for (int d = last; d > 0 && idx[d] >= it->shape[d]; d--) {
      idx[d] = 0;
      idx[d - 1]++;
    }
  }
}

/* Small operands that are all contiguous (the common case of tiny ops from
** Lua): one run, on this thread, without collapsing dims or splitting. */
static bool small_contiguous(int nops, const bt_Tensor *const *t, int64_t n, int64_t grain) {
  if (n > grain) return false;
  for (int k = 0; k < nops; k++)
    if (!bt_is_contiguous(t[k]) || bt_numel(t[k]) != n) return false;
  return true;
}

int bt_iter_run(int nops, const bt_Tensor *const *t, bt_RowFn row, void *ctx, int64_t grain) {
  int64_t n = bt_numel(t[0]);
  if (n == 0) return 0;
  if (small_contiguous(nops, t, n, grain)) {
    char *ptrs[BT_ITER_MAX_OPS];
    int64_t strides[BT_ITER_MAX_OPS];
    for (int k = 0; k < nops; k++) {
      ptrs[k] = bt_data(t[k]);
      strides[k] = (int64_t)bt_dtype_size(t[k]->dtype);
    }
    if (bt_interrupted()) return bt_seterr("interrupted");   /* as bt_parallel_for does */
    row(ctx, ptrs, strides, n);
    return 0;
  }
  Iter it = {.nops = nops, .ndim = t[0]->ndim, .row = row, .ctx = ctx};
  for (int d = 0; d < it.ndim; d++) it.shape[d] = t[0]->shape[d];
  for (int k = 0; k < nops; k++) {
    int64_t es = (int64_t)bt_dtype_size(t[k]->dtype);
    it.base[k] = bt_data(t[k]);
    /* A 0-dim operand broadcasts: stride 0 along every dim. */
    for (int d = 0; d < it.ndim; d++) it.stride[k][d] = t[k]->ndim ? t[k]->stride[d] * es : 0;
  }
  collapse(&it);
  return bt_parallel_for(n, grain, run_range, &it);
}
