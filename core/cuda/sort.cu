/*
** cuda/sort.cu: a stable sort along one dim, with the permutation.
**
** values (in's dtype) and indices (i64) have in's shape (ndim >= 1); each
** line along dim is sorted. As in cpu/sort.c, every value becomes a 64-bit
** key whose unsigned order is the values' order (floats by their bits,
** negatives flipped, -0 as +0, NaN the largest; integers with the sign bit
** flipped; all keys complemented for a descending sort), so NaN comes last
** ascending and first descending, and equal values keep their order.
**
** All lines are sorted together with two stable radix sorts (CUB): by key,
** then by line number, which groups the lines and keeps each one's order.
** The values are then moved bit for bit into place.
*/
#include "kernel.cuh"
#include "kernels.h"

#include <cub/device/device_radix_sort.cuh>

__device__ __forceinline__ unsigned long long float_key(double x) {
  if (x != x) return ~0ULL;
  if (x == 0) x = 0;   /* -0 sorts with +0 */
  unsigned long long b = (unsigned long long)__double_as_longlong(x);
  return b >> 63 ? ~b : b | (1ULL << 63);
}

template <typename T>
__device__ __forceinline__ unsigned long long sort_key(T x) {
  if (Traits<T>::is_float) return float_key(ld_f(x));
  if (sizeof(T) >= 4) return (unsigned long long)ld_i(x) ^ (1ULL << 63);
  return (unsigned long long)ld_i(x);   /* u8, bool */
}

template <typename T>
__global__ void keys_kernel(btc_Lines Ls, long long n, long long s, const T *in, bool descending,
                            unsigned long long *keys, long long *pos) {
  unsigned long long flip = descending ? ~0ULL : 0;
  long long total = Ls.nlines * n;
  BTC_LOOP(i, total) {
    long long off[3];
    line_offsets<3>(Ls, i / n, off);
    keys[i] = sort_key(in[off[0] + (i % n) * s]) ^ flip;
    pos[i] = i;
  }
}

__global__ void line_keys(long long total, long long n, const long long *pos, unsigned long long *keys) {
  BTC_LOOP(i, total) keys[i] = (unsigned long long)(pos[i] / n);
}

/* Sorted element r came from flat position pos[r] = line * n + j. */
template <typename T>
__global__ void write_sorted(btc_Lines Ls, long long n, long long s, long long sv, long long si,
                             const T *in, T *values, long long *indices, const long long *pos) {
  long long total = Ls.nlines * n;
  BTC_LOOP(r, total) {
    long long p = pos[r], line = p / n, j = p % n, at = r % n;
    long long off[3];
    line_offsets<3>(Ls, line, off);
    values[off[1] + at * sv] = in[off[0] + j * s];
    indices[off[2] + at * si] = j;
  }
}

static int bits_for(long long v) {
  int b = 1;
  while (b < 63 && (1LL << b) <= v) b++;
  return b;
}

extern "C" int btc_sort(bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in, int dim,
                        bool descending) {
  if (btc_use(values) < 0 || btc_check_operand("sort", values, in) < 0) return -1;
  if (in->storage->device.type == BT_CPU) return bt_seterr("sort: the input is on the CPU");
  long long n = in->shape[dim], total = bt_numel(in);
  if (n == 0 || total == 0) return 0;
  btc_Lines Ls;
  const bt_Tensor *ts[3] = {in, values, indices};
  btc_lines(&Ls, dim, 3, ts);
  /* Scratch: two key buffers, two position buffers, then CUB's own. */
  int64_t buf = total * 8, bytes = 4 * buf;
  char *scratch = (char *)btc_scratch("sort", bytes);
  if (!scratch) return -1;
  unsigned long long *k0 = (unsigned long long *)scratch, *k1 = (unsigned long long *)(scratch + buf);
  long long *p0 = (long long *)(scratch + 2 * buf), *p1 = (long long *)(scratch + 3 * buf);
  unsigned blocks = btc_blocks(total, BTC_THREADS);
  const void *pin = bt_data(in);
  BTC_DISPATCH_ALL(in->dtype, keys_kernel<T><<<blocks, BTC_THREADS>>>(Ls, n, in->stride[dim],
                                                                       (const T *)pin, descending, k0, p0));
  int rc = btc_check_launch("sort");
  cub::DoubleBuffer<unsigned long long> keys(k0, k1);
  cub::DoubleBuffer<long long> pos(p0, p1);
  size_t temp_bytes = 0;
  if (rc == 0)
    rc = btc_check(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, keys, pos, total), "sort");
  void *temp = rc == 0 ? btc_scratch("sort", (int64_t)temp_bytes + 1) : NULL;
  if (rc == 0 && !temp) rc = -1;
  if (rc == 0)
    rc = btc_check(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, pos, total), "sort");
  if (rc == 0 && Ls.nlines > 1) {   /* group by line, keeping each line's order */
    line_keys<<<blocks, BTC_THREADS>>>(total, n, pos.Current(), keys.Current());
    rc = btc_check_launch("sort");
    size_t need = 0;
    int end_bit = bits_for(Ls.nlines - 1);
    if (rc == 0)
      rc = btc_check(cub::DeviceRadixSort::SortPairs(NULL, need, keys, pos, total, 0, end_bit), "sort");
    if (rc == 0 && need > temp_bytes) rc = bt_seterr("sort: CUB asked for more scratch space");
    if (rc == 0)
      rc = btc_check(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, pos, total, 0, end_bit), "sort");
  }
  if (rc == 0) {
    void *pv = bt_data(values);
    long long *pi = (long long *)bt_data(indices);
    const long long *order = pos.Current();
    long long sv = values->stride[dim], si = indices->stride[dim];
    BTC_DISPATCH_SIZE(bt_dtype_size(in->dtype),
                      write_sorted<T><<<blocks, BTC_THREADS>>>(Ls, n, in->stride[dim], sv, si,
                                                                (const T *)pin, (T *)pv, pi, order));
    rc = btc_check_launch("sort");
  }
  if (temp) btc_scratch_free(temp, (int64_t)temp_bytes + 1);
  btc_scratch_free(scratch, bytes);
  return rc;
}
