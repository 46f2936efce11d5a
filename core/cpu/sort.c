/*
** cpu/sort.c: a stable sort along one dim, with the permutation.
**
** Each line along `dim` is sorted on its own (lines go to the thread pool).
** Its values are read once into (key, position) pairs, where the key is an
** unsigned integer whose order is the values' order: floats by their bits
** (negatives flipped, -0 counted as +0, every NaN the largest key), integers
** with the sign bit flipped, and all keys complemented for a descending
** sort. The pairs are sorted by a bottom-up merge sort (insertion sort on
** short runs first), which is stable: equal values keep their order. The
** values are then copied bit for bit in the sorted order.
**
** So NaN counts as larger than every number, as in PyTorch: last when
** ascending, first when descending.
*/
#include "kernels.h"

typedef struct {
  uint64_t key;
  int64_t pos;
} Item;

static inline uint64_t float_key(double x) {
  if (x != x) return UINT64_MAX;
  if (x == 0) x = 0;   /* -0 sorts with +0 */
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  return b >> 63 ? ~b : b | (1ULL << 63);
}

static inline uint64_t int_key(int64_t v) { return (uint64_t)v ^ (1ULL << 63); }

/* Reads the n keys of a line starting at p (byte stride s). */
static void read_items(bt_DType dt, const char *p, int64_t s, int64_t n, bool descending,
                       Item *items) {
  uint64_t flip = descending ? UINT64_MAX : 0;
  for (int64_t j = 0; j < n; j++) {
    const char *q = p + j * s;
    uint64_t k;
    switch (dt) {
      case BT_F32: k = float_key(*(const float *)q); break;
      case BT_F64: k = float_key(*(const double *)q); break;
      case BT_F16: case BT_BF16: k = float_key(bt_load(q, dt)); break;
      case BT_I64: k = int_key(*(const int64_t *)q); break;
      case BT_I32: k = int_key(*(const int32_t *)q); break;
      default: k = dt == BT_BOOL ? *(const uint8_t *)q != 0 : *(const uint8_t *)q; break;
    }
    items[j].key = k ^ flip;
    items[j].pos = j;
  }
}

/* Stable insertion sort of a[lo, hi). */
static void insertion_sort(Item *a, int64_t lo, int64_t hi) {
  for (int64_t i = lo + 1; i < hi; i++) {
    Item x = a[i];
    int64_t j = i;
    while (j > lo && x.key < a[j - 1].key) {
      a[j] = a[j - 1];
      j--;
    }
    a[j] = x;
  }
}

/* Merges the sorted runs a[lo, mid) and a[mid, hi) into out[lo, hi); ties
** take the left run first (stability). */
static void merge(const Item *a, Item *out, int64_t lo, int64_t mid, int64_t hi) {
  int64_t i = lo, j = mid, o = lo;
  while (i < mid && j < hi) {   /* branch-free: the comparison is unpredictable */
    bool right = a[j].key < a[i].key;
    out[o++] = a[right ? j : i];
    j += right;
    i += !right;
  }
  while (i < mid) out[o++] = a[i++];
  while (j < hi) out[o++] = a[j++];
}

#define RUN 16

/* Sorts a[0, n) using tmp (room for n); returns the array holding the result. */
static Item *merge_sort(Item *a, Item *tmp, int64_t n) {
  for (int64_t lo = 0; lo < n; lo += RUN) insertion_sort(a, lo, BT_MIN(lo + RUN, n));
  for (int64_t width = RUN; width < n; width *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * width)
      merge(a, tmp, lo, BT_MIN(lo + width, n), BT_MIN(lo + 2 * width, n));
    Item *t = a;
    a = tmp;
    tmp = t;
  }
  return a;
}

#define GATHER_LINE(T)                                                          \
  for (int64_t j = 0; j < n; j++)                                             \
    *(T *)(v + j * sv) = *(const T *)(p + sorted[j].pos * si)

/* Copies the values of a line (at p, byte stride si) in sorted order to v
** (byte stride sv), moving bits by element size. */
static void write_sorted(const Item *sorted, int64_t n, const char *p, int64_t si, char *v,
                         int64_t sv, size_t es) {
  switch (es) {
    case 8: GATHER_LINE(uint64_t); break;
    case 4: GATHER_LINE(uint32_t); break;
    case 2: GATHER_LINE(uint16_t); break;
    default: GATHER_LINE(uint8_t); break;
  }
}

typedef struct {
  const bt_Tensor *in;
  bt_Tensor *values, *indices;
  int dim;
  bool descending;
  bool failed;          /* a task could not get scratch memory */
} SortCtx;

/* Element offset of line o (every dim but `dim`) in t. */
static int64_t line_offset(const bt_Tensor *t, int dim, int64_t o) {
  int64_t off = t->offset;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (d == dim) continue;
    off += (o % t->shape[d]) * t->stride[d];
    o /= t->shape[d];
  }
  return off;
}

static void sort_lines(void *ctx, int64_t begin, int64_t end) {
  SortCtx *c = ctx;
  const bt_Tensor *in = c->in;
  int dim = c->dim;
  int64_t n = in->shape[dim];
  size_t es = bt_dtype_size(in->dtype);
  Item *items = malloc((size_t)n * 2 * sizeof *items);
  if (!items) {
    __atomic_store_n(&c->failed, true, __ATOMIC_RELAXED);
    return;
  }
  int64_t si = in->stride[dim] * (int64_t)es, sv = c->values->stride[dim] * (int64_t)es;
  int64_t sx = c->indices->stride[dim];
  for (int64_t o = begin; o < end; o++) {
    const char *p = (const char *)in->storage->data + line_offset(in, dim, o) * (int64_t)es;
    read_items(in->dtype, p, si, n, c->descending, items);
    const Item *sorted = merge_sort(items, items + n, n);
    char *v = (char *)c->values->storage->data + line_offset(c->values, dim, o) * (int64_t)es;
    int64_t *x = (int64_t *)c->indices->storage->data + line_offset(c->indices, dim, o);
    write_sorted(sorted, n, p, si, v, sv, es);
    for (int64_t j = 0; j < n; j++) x[j * sx] = sorted[j].pos;
  }
  free(items);
}

/* values (in's dtype) and indices (i64) have in's shape (ndim >= 1); they
** get each line along dim sorted, and where each value came from. */
int bt_cpu_sort(bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in, int dim,
                bool descending) {
  SortCtx c = {in, values, indices, dim, descending, false};
  int64_t n = in->shape[dim];
  if (n == 0 || bt_numel(in) == 0) return 0;
  int64_t lines = bt_numel(in) / n;
  if (bt_parallel_for(lines, BT_MAX(1, 8192 / n), sort_lines, &c) < 0) return -1;
  if (c.failed)
    return bt_seterr("sort: out of memory for a line of %lld elements", (long long)n);
  return 0;
}
