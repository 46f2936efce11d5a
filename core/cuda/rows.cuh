/*
** cuda/rows.cuh: what the neural-network kernels share (nn.cu, softmax.cu):
** reductions over the threads that share one row, a float-only dtype
** dispatch, and the checks every kernel family makes first.
**
** A row is handled by a group of G threads: G = 32 (a warp, eight rows per
** block of BTC_THREADS) for short rows, G = BTC_THREADS (the block) for long
** ones. Reductions combine in a fixed tree and give every thread of the
** group the value of lane 0, so results do not change from run to run and
** all threads of a row use the same number.
*/
#ifndef BRASA_CUDA_ROWS_CUH
#define BRASA_CUDA_ROWS_CUH

#include "kernel.cuh"

struct SumF {
  template <typename A> __device__ __forceinline__ A operator()(A a, A b) const { return a + b; }
};
/* NaN never wins (as the CPU's `x > m ? x : m` scans). */
struct MaxF {
  template <typename A> __device__ __forceinline__ A operator()(A a, A b) const { return b > a ? b : a; }
};

/* Combines v over the G threads of a group (G = 32 or BTC_THREADS; the
** block must be BTC_THREADS wide, and with G = BTC_THREADS every thread of
** the block must call it). */
template <int G, typename A, typename F>
__device__ __forceinline__ A group_reduce(A v, F f) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v = f(v, __shfl_down_sync(0xffffffffu, v, d));
  if constexpr (G == 32) {
    return __shfl_sync(0xffffffffu, v, 0);
  } else {
    __shared__ A part[BTC_THREADS / 32];
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    A r = part[0];
#pragma unroll
    for (int k = 1; k < BTC_THREADS / 32; k++) r = f(r, part[k]);
    __syncthreads();   /* part may be written again by the next call */
    return r;
  }
}

/* Rows of n elements: a warp per row up to this length, else a block. */
#define BTC_WARP_ROW_MAX 1024

/* Runs the statements with T = float or double; other dtypes fail naming op. */
#define BTC_DISPATCH_FLOAT(dt, op, ...)                                                       \
  switch (dt) {                                                                               \
    BTC_CASE(BT_F32, float, __VA_ARGS__) BTC_CASE(BT_F64, double, __VA_ARGS__)                \
    default:                                                                                  \
      return bt_seterr("%s: no CUDA kernel for %s (f32 and f64 only)", op, bt_dtype_name(dt)); \
  }

/* Makes the first tensor's device current and checks that every tensor
** given (NULLs skipped) is on a CUDA device. */
static inline int btc_nn_use(const char *op, int n, const bt_Tensor *const *t) {
  const bt_Tensor *first = NULL;
  for (int i = 0; i < n; i++) {
    if (!t[i]) continue;
    if (t[i]->storage->device.type != BT_CUDA) {
      char a[32];
      return bt_seterr("%s: a tensor is on %s, expected a CUDA device", op,
                       bt_device_name(t[i]->storage->device, a));
    }
    if (!first) first = t[i];
  }
  return first ? btc_use(first) : 0;
}

/* Blocks of BTC_THREADS for n rows handled by groups of g threads. */
static inline unsigned btc_row_blocks(long long n, int g) {
  return btc_blocks(n, BTC_THREADS / g);
}

#endif
