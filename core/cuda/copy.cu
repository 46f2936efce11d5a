/*
** cuda/copy.cu: copy (with dtype conversion, any strides) and fill.
**
** copy: dst and src of one shape, any dtypes and strides (src strides may
** be 0). Same dtype and both dense: one cudaMemcpyAsync; same dtype
** otherwise: bits moved by element size; different dtypes: converted as the
** CPU converts (kernel.cuh). A CPU source whose elements are all one value
** (a wrapped number, an expanded constant) becomes a fill.
** fill: t of any dtype and strides gets the bits of value in its dtype.
*/
#include "kernel.cuh"

template <typename T>
__global__ void move_kernel(btc_Layout L, T *dst, const T *src) {
  BTC_LOOP(i, L.numel) {
    long long off[2];
    layout_offsets<2>(L, i, off);
    dst[off[0]] = src[off[1]];
  }
}

template <typename D, typename S>
__global__ void convert_kernel(btc_Layout L, bool dense, D *dst, const S *src) {
  BTC_LOOP(i, L.numel) {
    long long off[2] = {i, i};
    if (!dense) layout_offsets<2>(L, i, off);
    dst[off[0]] = convert<D, S>(src[off[1]]);
  }
}

template <typename T>
__global__ void fill_kernel(btc_Layout L, T *dst, T v) {
  BTC_LOOP(i, L.numel) {
    long long off[1];
    layout_offsets<1>(L, i, off);
    dst[off[0]] = v;
  }
}

template <typename T>
__global__ void fill_dense(long long n, T *dst, T v) {
  BTC_LOOP(i, n) dst[i] = v;
}

/* Fills t with the element-size bits in `bits`. */
static int fill_bits(bt_Tensor *t, const unsigned char *bits) {
  btc_Layout L;
  const bt_Tensor *ops[1] = {t};
  btc_layout(&L, 1, ops);
  if (L.numel == 0) return 0;
  size_t es = bt_dtype_size(t->dtype);
  bool zero = true;
  for (size_t k = 0; k < es; k++) zero = zero && bits[k] == 0;
  if (btc_layout_contiguous(&L, 1) && zero)
    return btc_check(cudaMemsetAsync(bt_data(t), 0, (size_t)L.numel * es, 0), "fill_");
  unsigned blocks = btc_blocks(L.numel, BTC_THREADS);
  BTC_DISPATCH_SIZE(es, {
    T v;
    memcpy(&v, bits, sizeof v);
    if (btc_layout_contiguous(&L, 1))
      fill_dense<T><<<blocks, BTC_THREADS>>>(L.numel, (T *)bt_data(t), v);
    else
      fill_kernel<T><<<blocks, BTC_THREADS>>>(L, (T *)bt_data(t), v);
  });
  return btc_check_launch("fill_");
}

extern "C" int btc_fill(bt_Tensor *t, double value) {
  if (btc_use(t) < 0) return -1;
  unsigned char bits[8] = {0};
  bt_store(bits, t->dtype, value);   /* the value's bit pattern in t's dtype */
  return fill_bits(t, bits);
}

template <typename D>
static void launch_convert(bt_DType sdt, unsigned blocks, const btc_Layout &L, bool dense, void *dst,
                           const void *src) {
  BTC_DISPATCH_ALL(sdt, convert_kernel<D, T><<<blocks, BTC_THREADS>>>(L, dense, (D *)dst, (const T *)src));
}

extern "C" int btc_copy(bt_Tensor *dst, const bt_Tensor *src) {
  if (btc_use(dst) < 0 || btc_check_operand("copy_", dst, src) < 0) return -1;
  if (src->storage->device.type == BT_CPU) {   /* one value: a fill */
    unsigned char bits[8] = {0};
    const void *p = bt_data(src);
    if (!bt_dtype_is_float(dst->dtype) && !bt_dtype_is_float(src->dtype))
      bt_store_i64(bits, dst->dtype, bt_load_i64(p, src->dtype));
    else
      bt_store(bits, dst->dtype, bt_load(p, src->dtype));
    return bt_numel(dst) ? fill_bits(dst, bits) : 0;
  }
  btc_Layout L;
  const bt_Tensor *ops[2] = {dst, src};
  btc_layout(&L, 2, ops);
  if (L.numel == 0) return 0;
  bool dense = btc_layout_contiguous(&L, 2);
  unsigned blocks = btc_blocks(L.numel, BTC_THREADS);
  size_t es = bt_dtype_size(dst->dtype);
  if (dst->dtype == src->dtype) {
    if (dense)
      return btc_check(cudaMemcpyAsync(bt_data(dst), bt_data(src), (size_t)L.numel * es,
                                       cudaMemcpyDeviceToDevice, 0), "copy_");
    BTC_DISPATCH_SIZE(es, move_kernel<T><<<blocks, BTC_THREADS>>>(L, (T *)bt_data(dst),
                                                                   (const T *)bt_data(src)));
  } else {
    void *d = bt_data(dst);
    const void *s = bt_data(src);
    BTC_DISPATCH_ALL(dst->dtype, launch_convert<T>(src->dtype, blocks, L, dense, d, s));
  }
  return btc_check_launch("copy_");
}
