/*
** cuda/kernel.cuh: what the .cu files share: dtype traits and conversions
** (bit for bit those of the CPU: core/dtype.c, core/tensor.c), offsets
** through a btc_Layout, launch sizes, and dtype dispatch.
*/
#ifndef BRASA_CUDA_KERNEL_CUH
#define BRASA_CUDA_KERNEL_CUH

#include "common.h"

#include <cuda_runtime.h>
#include <stdint.h>

/* f16 and bf16 travel as their bits; arithmetic is in float. */
struct f16_t { uint16_t bits; };
struct bf16_t { uint16_t bits; };

__device__ __forceinline__ uint32_t btc_fbits(float f) { return __float_as_uint(f); }
__device__ __forceinline__ float btc_bitsf(uint32_t u) { return __uint_as_float(u); }

/* core/dtype.c's conversions, the same bits. */
__device__ __forceinline__ uint16_t btc_f32_to_bf16(float f) {
  uint32_t u = btc_fbits(f);
  if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float btc_bf16_to_f32(uint16_t h) { return btc_bitsf((uint32_t)h << 16); }

__device__ __forceinline__ uint16_t btc_f32_to_f16(float f) {
  uint32_t u = btc_fbits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t mag = u & 0x7fffffff;
  if (mag >= 0x7f800000) return (uint16_t)(sign | 0x7c00 | (mag > 0x7f800000 ? 0x200 : 0));
  if (mag >= 0x477ff000) return (uint16_t)(sign | 0x7c00);
  if (mag < 0x38800000) {
    float r = __fadd_rn(btc_bitsf(mag), 0.5f);
    return (uint16_t)(sign | (btc_fbits(r) - 0x3f000000));
  }
  uint32_t odd = (mag >> 13) & 1;
  mag += 0xc8000fff + odd;
  return (uint16_t)(sign | (mag >> 13));
}

__device__ __forceinline__ float btc_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) {
    float f = __fmul_rn((float)man, 5.9604644775390625e-8f);
    return btc_bitsf(btc_fbits(f) | sign);
  }
  if (exp == 31) return btc_bitsf(sign | 0x7f800000 | (man << 13));
  return btc_bitsf(sign | ((exp + 112) << 23) | (man << 13));
}

/* Float to int64 as bt_f2i: truncated, saturated, NaN -> 0. */
__device__ __forceinline__ long long btc_f2i(double v) {
  if (!(v == v)) return 0;
  if (v >= 9223372036854775807.0) return 0x7fffffffffffffffLL;
  if (v <= -9223372036854775808.0) return (long long)0x8000000000000000ULL;
  return (long long)v;
}

/* ---- traits: the value type each storage type computes in ------------------ */

template <typename T> struct Traits;
template <> struct Traits<float> { typedef float value; static const bool is_float = true; };
template <> struct Traits<double> { typedef double value; static const bool is_float = true; };
template <> struct Traits<f16_t> { typedef float value; static const bool is_float = true; };
template <> struct Traits<bf16_t> { typedef float value; static const bool is_float = true; };
template <> struct Traits<long long> { typedef long long value; static const bool is_float = false; };
template <> struct Traits<int> { typedef int value; static const bool is_float = false; };
template <> struct Traits<uint8_t> { typedef uint8_t value; static const bool is_float = false; };
struct bool_t { uint8_t v; };
template <> struct Traits<bool_t> { typedef uint8_t value; static const bool is_float = false; };

/* Loads as double (floats) or int64 (integers), stores from them: the
** CPU's bt_load/bt_store and bt_load_i64/bt_store_i64. */
__device__ __forceinline__ double ld_f(float x) { return x; }
__device__ __forceinline__ double ld_f(double x) { return x; }
__device__ __forceinline__ double ld_f(f16_t x) { return btc_f16_to_f32(x.bits); }
__device__ __forceinline__ double ld_f(bf16_t x) { return btc_bf16_to_f32(x.bits); }
__device__ __forceinline__ double ld_f(long long x) { return (double)x; }
__device__ __forceinline__ double ld_f(int x) { return x; }
__device__ __forceinline__ double ld_f(uint8_t x) { return x; }
__device__ __forceinline__ double ld_f(bool_t x) { return x.v != 0; }

__device__ __forceinline__ long long ld_i(float x) { return btc_f2i(x); }
__device__ __forceinline__ long long ld_i(double x) { return btc_f2i(x); }
__device__ __forceinline__ long long ld_i(f16_t x) { return btc_f2i(btc_f16_to_f32(x.bits)); }
__device__ __forceinline__ long long ld_i(bf16_t x) { return btc_f2i(btc_bf16_to_f32(x.bits)); }
__device__ __forceinline__ long long ld_i(long long x) { return x; }
__device__ __forceinline__ long long ld_i(int x) { return x; }
__device__ __forceinline__ long long ld_i(uint8_t x) { return x; }
__device__ __forceinline__ long long ld_i(bool_t x) { return x.v != 0; }

template <typename T> __device__ __forceinline__ T st_f(double v);
template <> __device__ __forceinline__ float st_f<float>(double v) { return (float)v; }
template <> __device__ __forceinline__ double st_f<double>(double v) { return v; }
template <> __device__ __forceinline__ f16_t st_f<f16_t>(double v) { return f16_t{btc_f32_to_f16((float)v)}; }
template <> __device__ __forceinline__ bf16_t st_f<bf16_t>(double v) { return bf16_t{btc_f32_to_bf16((float)v)}; }
template <> __device__ __forceinline__ long long st_f<long long>(double v) { return btc_f2i(v); }
template <> __device__ __forceinline__ int st_f<int>(double v) { return (int)(unsigned)(unsigned long long)btc_f2i(v); }
template <> __device__ __forceinline__ uint8_t st_f<uint8_t>(double v) { return (uint8_t)(unsigned long long)btc_f2i(v); }
template <> __device__ __forceinline__ bool_t st_f<bool_t>(double v) { return bool_t{(uint8_t)(v != 0)}; }

template <typename T> __device__ __forceinline__ T st_i(long long v);
template <> __device__ __forceinline__ float st_i<float>(long long v) { return (float)(double)v; }
template <> __device__ __forceinline__ double st_i<double>(long long v) { return (double)v; }
template <> __device__ __forceinline__ f16_t st_i<f16_t>(long long v) { return st_f<f16_t>((double)v); }
template <> __device__ __forceinline__ bf16_t st_i<bf16_t>(long long v) { return st_f<bf16_t>((double)v); }
template <> __device__ __forceinline__ long long st_i<long long>(long long v) { return v; }
template <> __device__ __forceinline__ int st_i<int>(long long v) { return (int)v; }
template <> __device__ __forceinline__ uint8_t st_i<uint8_t>(long long v) { return (uint8_t)v; }
template <> __device__ __forceinline__ bool_t st_i<bool_t>(long long v) { return bool_t{(uint8_t)(v != 0)}; }

/* A value of storage type S converted to storage type D as the CPU copy
** does: between integer types exactly (through int64), else through double
** (i64 to f32 directly, as cpu/copy.c). */
template <typename D, typename S> __device__ __forceinline__ D convert(S x) {
  if (!Traits<D>::is_float && !Traits<S>::is_float) return st_i<D>(ld_i(x));
  return st_f<D>(ld_f(x));
}
template <> __device__ __forceinline__ float convert<float, long long>(long long x) { return (float)x; }

/* value type <-> storage type, for kernels that compute in Traits<T>::value */
template <typename T> __device__ __forceinline__ typename Traits<T>::value to_value(T x) { return x; }
template <> __device__ __forceinline__ float to_value(f16_t x) { return btc_f16_to_f32(x.bits); }
template <> __device__ __forceinline__ float to_value(bf16_t x) { return btc_bf16_to_f32(x.bits); }
template <> __device__ __forceinline__ uint8_t to_value(bool_t x) { return x.v; }
template <typename T> __device__ __forceinline__ T from_value(typename Traits<T>::value v) { return v; }
template <> __device__ __forceinline__ f16_t from_value<f16_t>(float v) { return f16_t{btc_f32_to_f16(v)}; }
template <> __device__ __forceinline__ bf16_t from_value<bf16_t>(float v) { return bf16_t{btc_f32_to_bf16(v)}; }
template <> __device__ __forceinline__ bool_t from_value<bool_t>(uint8_t v) { return bool_t{v}; }

/* ---- offsets --------------------------------------------------------------------- */

/* Element offsets of linear index i (C order over L's shape) for N operands. */
template <int N>
__device__ __forceinline__ void layout_offsets(const btc_Layout &L, long long i, long long *off) {
#pragma unroll
  for (int k = 0; k < N; k++) off[k] = 0;
  if (L.small) {
    unsigned r = (unsigned)i;
    for (int d = L.ndim - 1; d >= 0; d--) {
      unsigned s = (unsigned)L.shape[d], c = r % s;
      r /= s;
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += (long long)c * L.stride[k][d];
    }
  } else {
    long long r = i;
    for (int d = L.ndim - 1; d >= 0; d--) {
      long long c = r % L.shape[d];
      r /= L.shape[d];
#pragma unroll
      for (int k = 0; k < N; k++) off[k] += c * L.stride[k][d];
    }
  }
}

/* The same for a dense layout (btc_layout_dense): strides 1 or 0. */
template <int N>
__device__ __forceinline__ void dense_offsets(const btc_Layout &L, long long i, long long *off) {
#pragma unroll
  for (int k = 0; k < N; k++) off[k] = L.ndim ? i * L.stride[k][0] : 0;
}

/* Offsets of line o of a btc_Lines for N tensors. */
template <int N>
__device__ __forceinline__ void line_offsets(const btc_Lines &L, long long o, long long *off) {
#pragma unroll
  for (int k = 0; k < N; k++) off[k] = 0;
  for (int d = L.ndim - 1; d >= 0; d--) {
    long long c = o % L.shape[d];
    o /= L.shape[d];
#pragma unroll
    for (int k = 0; k < N; k++) off[k] += c * L.stride[k][d];
  }
}

/* ---- launches ---------------------------------------------------------------------- */

#define BTC_THREADS 256
#define BTC_UNROLL 4

/* Blocks for a grid-stride loop over n items, each block taking `per_block`. */
static inline unsigned btc_blocks(long long n, long long per_block) {
  long long b = (n + per_block - 1) / per_block;
  long long cap = (long long)btc_sm_count() * 16;
  if (b > cap) b = cap;
  return (unsigned)(b < 1 ? 1 : b);
}

/* Grid-stride loops (64-bit indices). */
#define BTC_LOOP(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (long long)blockDim.x * gridDim.x)

/* ---- dtype dispatch: T names the storage type inside BODY ------------------- */

#define BTC_CASE(DT, TYPE, ...) \
  case DT: {                    \
    typedef TYPE T;             \
    __VA_ARGS__;                \
    break;                      \
  }

#define BTC_DISPATCH_ALL(dt, ...)                                                             \
  switch (dt) {                                                                               \
    BTC_CASE(BT_F32, float, __VA_ARGS__) BTC_CASE(BT_F64, double, __VA_ARGS__)                \
    BTC_CASE(BT_F16, f16_t, __VA_ARGS__) BTC_CASE(BT_BF16, bf16_t, __VA_ARGS__)               \
    BTC_CASE(BT_I64, long long, __VA_ARGS__) BTC_CASE(BT_I32, int, __VA_ARGS__)               \
    BTC_CASE(BT_U8, uint8_t, __VA_ARGS__) BTC_CASE(BT_BOOL, bool_t, __VA_ARGS__)              \
    default: break;                                                                           \
  }

/* Storage types by size, for kernels that move bits. */
#define BTC_DISPATCH_SIZE(size, ...)                                                          \
  switch (size) {                                                                             \
    BTC_CASE(8, unsigned long long, __VA_ARGS__) BTC_CASE(4, unsigned, __VA_ARGS__)           \
    BTC_CASE(2, unsigned short, __VA_ARGS__) default: {                                       \
      typedef unsigned char T;                                                                \
      __VA_ARGS__;                                                                            \
      break;                                                                                  \
    }                                                                                         \
  }

#endif
