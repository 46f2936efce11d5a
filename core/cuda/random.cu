/*
** cuda/random.cu: random fills, the same numbers as the CPU for a seed.
**
** Element i of t (C order, any strides) takes Philox 4x32-10 block
** (seed, counter + i) exactly as core/random.c and cpu/copy.c compute it:
** uniform from 53 random bits, normal by Box-Muller, bernoulli as 0/1,
** integers in [lo, hi] by a 64-bit modulo; all in double, then stored in
** t's dtype as bt_store does. (Double log and cos on the GPU may differ
** from the C library's in the last bit, which rounding to f32 hides.)
*/
#include "kernel.cuh"
#include "kernels.h"
#include "philox.cuh"

__device__ __forceinline__ double u01(const unsigned r[4], int k) {
  unsigned long long x = ((unsigned long long)r[k] << 21) ^ (r[(k + 1) & 3] >> 11);
  return (double)(x & ((1ULL << 53) - 1)) * (1.0 / 9007199254740992.0);
}

template <typename T>
__global__ void random_kernel(btc_Layout L, T *t, bt_RandomArgs r) {
  BTC_LOOP(i, L.numel) {
    long long off[1];
    layout_offsets<1>(L, i, off);
    unsigned w[4];
    btc_philox(r.seed, r.counter + (unsigned long long)i, w);
    double v;
    switch (r.kind) {
      /* _rn intrinsics: no fused multiply-add, so the bits match the CPU's. */
      case BT_RAND_UNIFORM: v = __dadd_rn(r.a, __dmul_rn(__dsub_rn(r.b, r.a), u01(w, 0))); break;
      case BT_RAND_NORMAL: {
        double u1 = 1.0 - u01(w, 0), u2 = u01(w, 2);
        v = r.a + r.b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        break;
      }
      case BT_RAND_BERNOULLI: v = u01(w, 0) < r.a; break;
      default: {
        unsigned long long range = (unsigned long long)r.hi - (unsigned long long)r.lo + 1;
        unsigned long long x = ((unsigned long long)w[0] << 32) | w[1];
        unsigned long long k = range ? x % range : x;
        t[off[0]] = st_i<T>((long long)((unsigned long long)r.lo + k));
        continue;
      }
    }
    t[off[0]] = st_f<T>(v);
  }
}

extern "C" int btc_random(bt_Tensor *t, const bt_RandomArgs *args) {
  if (btc_use(t) < 0) return -1;
  btc_Layout L;
  const bt_Tensor *ops[1] = {t};
  btc_layout(&L, 1, ops);
  if (L.numel == 0) return 0;
  unsigned blocks = btc_blocks(L.numel, BTC_THREADS);
  void *p = bt_data(t);
  bt_RandomArgs r = *args;
  BTC_DISPATCH_ALL(t->dtype, random_kernel<T><<<blocks, BTC_THREADS>>>(L, (T *)p, r));
  return btc_check_launch("random");
}
