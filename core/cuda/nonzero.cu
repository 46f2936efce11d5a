/*
** cuda/nonzero.cu: the true elements of a mask (nonzero, masked_select,
** boolean indexing x[mask]).
**
** mask: contiguous bool, any shape. *out: a new i64 tensor on the mask's
** device, [k] flat C-order positions (flat) or [k, ndim] coordinates,
** 0-based and ascending, as cpu/index.c's kernel gives them.
**
** Three passes over chunks of CHUNK mask bytes:
**   1. count: one block per chunk counts its true bytes;
**   2. scan: one block turns the counts into each chunk's first output row
**      (an exclusive prefix sum) and the total k;
**   3. write: one block per chunk walks it in tiles of BTC_THREADS bytes; a
**      ballot in each warp and the warps' totals give every true element
**      its row, so rows come out in order.
** The output's size is k, which the host needs before allocating it: k is
** copied back between passes 2 and 3 (one synchronisation, as PyTorch's
** nonzero does).
*/
#include "kernel.cuh"
#include "kernels.h"

#define CHUNK 4096            /* mask bytes per chunk (a multiple of BTC_THREADS) */
#define SCAN_THREADS 1024

/* The sum of v over a block of BTC_THREADS threads, in every thread. Ends
** with a barrier so that the shared array can be used again at once. */
__device__ int block_count(int v) {
  __shared__ int warp_sums[BTC_THREADS / 32];
  for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = v;
  __syncthreads();
  int s = 0;
  for (int w = 0; w < BTC_THREADS / 32; w++) s += warp_sums[w];
  __syncthreads();
  return s;
}

/* counts[c] = the number of true bytes in chunk c. */
__global__ void count_chunks(long long n, long long nchunks, const uint8_t *m, long long *counts) {
  for (long long c = blockIdx.x; c < nchunks; c += gridDim.x) {
    long long lo = c * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
    int k = 0;
    for (long long i = lo + threadIdx.x; i < hi; i += BTC_THREADS) k += m[i] != 0;
    k = block_count(k);
    if (threadIdx.x == 0) counts[c] = k;
  }
}

/* counts[0..nc) becomes its exclusive prefix sum and counts[nc] the total:
** one block of SCAN_THREADS threads, each summing a run of counts, then a
** scan of the runs' sums in shared memory. */
__global__ void scan_counts(long long nc, long long *counts) {
  __shared__ long long sums[SCAN_THREADS];
  long long per = (nc + SCAN_THREADS - 1) / SCAN_THREADS;
  long long lo = threadIdx.x * per, hi = lo + per < nc ? lo + per : nc;
  long long s = 0;
  for (long long i = lo; i < hi; i++) s += counts[i];
  sums[threadIdx.x] = s;
  __syncthreads();
  for (int off = 1; off < SCAN_THREADS; off <<= 1) {   /* inclusive scan (Hillis-Steele) */
    long long v = threadIdx.x >= (unsigned)off ? sums[threadIdx.x - off] : 0;
    __syncthreads();
    sums[threadIdx.x] += v;
    __syncthreads();
  }
  long long base = threadIdx.x ? sums[threadIdx.x - 1] : 0;
  for (long long i = lo; i < hi; i++) {
    long long c = counts[i];
    counts[i] = base;
    base += c;
  }
  if (threadIdx.x == SCAN_THREADS - 1) counts[nc] = sums[SCAN_THREADS - 1];
}

struct Coords {
  int ndim;                   /* 0: write flat positions */
  long long shape[BT_MAX_DIMS];
};

/* Writes the rows of the true elements of each chunk, from its first row
** first[c]: out[r] = i (flat) or out[r * ndim + d] = coordinate d of i. */
__global__ void write_chunks(long long n, long long nchunks, const uint8_t *m,
                             const long long *first, Coords c, long long *out) {
  __shared__ int warp_totals[BTC_THREADS / 32];
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (long long ch = blockIdx.x; ch < nchunks; ch += gridDim.x) {
    long long lo = ch * CHUNK, hi = lo + CHUNK < n ? lo + CHUNK : n;
    long long base = first[ch];
    for (long long t0 = lo; t0 < hi; t0 += BTC_THREADS) {   /* the same trips in every thread */
      long long i = t0 + threadIdx.x;
      bool on = i < hi && m[i] != 0;
      unsigned ballot = __ballot_sync(0xffffffffu, on);
      if (lane == 0) warp_totals[warp] = __popc(ballot);
      __syncthreads();
      int before = 0, total = 0;
      for (int w = 0; w < BTC_THREADS / 32; w++) {
        int x = warp_totals[w];
        if (w < warp) before += x;
        total += x;
      }
      if (on) {
        long long r = base + before + __popc(ballot & ((1u << lane) - 1));
        if (c.ndim == 0) {
          out[r] = i;
        } else {
          long long p = i;
          for (int d = c.ndim - 1; d >= 0; d--) {
            out[r * c.ndim + d] = p % c.shape[d];
            p /= c.shape[d];
          }
        }
      }
      base += total;
      __syncthreads();   /* warp_totals is written again in the next tile */
    }
  }
}

extern "C" int btc_nonzero(bt_Tensor **out, const bt_Tensor *mask, bool flat) {
  const char *op = "nonzero";
  *out = NULL;
  if (btc_use(mask) < 0) return -1;
  if (mask->dtype != BT_BOOL) return bt_seterr("%s: the mask must be bool, not %s", op, bt_dtype_name(mask->dtype));
  bt_Device dev = mask->storage->device;
  long long n = bt_numel(mask);
  long long k = 0;
  long long nchunks = (n + CHUNK - 1) / CHUNK;
  int64_t bytes = (nchunks + 1) * (int64_t)sizeof(long long);
  long long *counts = NULL;
  const uint8_t *m = (const uint8_t *)bt_data(mask);
  if (n > 0) {
    counts = (long long *)btc_scratch(op, bytes);
    if (!counts) return -1;
    unsigned blocks = btc_blocks(nchunks, 1);
    count_chunks<<<blocks, BTC_THREADS>>>(n, nchunks, m, counts);
    int rc = btc_check_launch(op);
    if (rc == 0) {
      scan_counts<<<1, SCAN_THREADS>>>(nchunks, counts);
      rc = btc_check_launch(op);
    }
    if (rc == 0) rc = btc_check(cudaMemcpy(&k, counts + nchunks, sizeof k, cudaMemcpyDeviceToHost), op);
    if (rc < 0) {
      btc_scratch_free(counts, bytes);
      return -1;
    }
  }
  int64_t shape[2] = {k, mask->ndim};
  bt_Tensor *r = bt_empty(flat ? 1 : 2, shape, BT_I64, dev);
  if (r && k > 0 && (flat || mask->ndim > 0)) {
    Coords c;
    memset(&c, 0, sizeof c);
    c.ndim = flat ? 0 : mask->ndim;
    for (int d = 0; d < c.ndim; d++) c.shape[d] = mask->shape[d];
    write_chunks<<<btc_blocks(nchunks, 1), BTC_THREADS>>>(n, nchunks, m, counts, c,
                                                          (long long *)bt_data(r));
    if (btc_check_launch(op) < 0) {
      bt_release(r);
      r = NULL;
    }
  }
  if (counts) btc_scratch_free(counts, bytes);   /* stream order: after the kernels */
  *out = r;
  return r ? 0 : -1;
}
