/*
** cuda/philox.cuh: Philox 4x32-10 on the device, bit for bit core/random.c's
** bt_philox (the CPU's generator), so that a (seed, counter) pair gives the
** same four words on both devices (random.cu's fills, nn.cu's dropout).
*/
#ifndef BRASA_CUDA_PHILOX_CUH
#define BRASA_CUDA_PHILOX_CUH

__device__ __forceinline__ void btc_philox(unsigned long long seed, unsigned long long counter,
                                           unsigned out[4]) {
  unsigned c0 = (unsigned)counter, c1 = (unsigned)(counter >> 32), c2 = 0, c3 = 0;
  unsigned k0 = (unsigned)seed, k1 = (unsigned)(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; r++) {
    unsigned long long p0 = (unsigned long long)0xD2511F53u * c0,
                       p1 = (unsigned long long)0xCD9E8D57u * c2;
    unsigned n0 = (unsigned)(p1 >> 32) ^ c1 ^ k0, n2 = (unsigned)(p0 >> 32) ^ c3 ^ k1;
    c1 = (unsigned)p1;
    c3 = (unsigned)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

#endif
