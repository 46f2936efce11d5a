/*
** cuda/nn.cu: layer normalisation (forward and closed-form backward),
** dropout and embedding lookup (shapes: dispatch.h, `norm kernels`).
**
** Tensors arrive contiguous, f32 or f64 (ops/nn_norm.c converts; f16 and
** bf16 reach these kernels as f32 for every device, because the op layer
** computes in bt_compute_dtype). Per-row statistics accumulate in double
** (as the CPU's) over a fixed tree (rows.cuh), two passes for the
** variance; the weight and bias gradients are column sums (double) over
** fixed chunks of rows combined in order. No sum uses atomics, so every
** result is the same from run to run.
**
** Dropout draws exactly the CPU's mask: element i keeps its value when word
** i % 4 of Philox block (seed, counter + i / 4) is >= round(p 2^32)
** (cpu/norm.c). Embedding's backward sorts the positions by id (a stable
** CUB radix sort) and sums each id's rows in increasing position, the
** CPU's order, so its sums are the CPU's bit for bit.
*/
#include "rows.cuh"
#include "philox.cuh"
#include "kernels.h"

#include <cub/device/device_radix_sort.cuh>
#include <math.h>

/* ---- layer norm ---------------------------------------------------------------------- */

/* Rows of x [M, K]: mean, invstd = 1/sqrt(biased var + eps), y = (x - mean)
** invstd w + b. G threads per row. The sums accumulate in double, as the
** CPU's do: with f32 sums a thread adds K / G values (4000 for K = 1e6),
** and rows far from 0 (a mean of 1000) would lose the mean's last digits. */
template <typename T, int G>
__global__ void ln_forward(long long M, long long K, const T *x, const T *w, const T *b, T *y,
                           T *mean, T *invstd, double eps) {
  const int R = BTC_THREADS / G, lane = threadIdx.x % G;
  for (long long row = (long long)blockIdx.x * R + threadIdx.x / G; row < M;
       row += (long long)gridDim.x * R) {
    const T *xr = x + row * K;
    T *yr = y + row * K;
    double s = 0;
    for (long long i = lane; i < K; i += G) s += (double)xr[i];
    double mu = group_reduce<G>(s, SumF()) / (double)K;
    double q = 0;
    for (long long i = lane; i < K; i += G) {
      double d = (double)xr[i] - mu;
      q += d * d;
    }
    double var = group_reduce<G>(q, SumF()) / (double)K;
    T m = (T)mu, is = (T)(1 / sqrt((var > 0 ? var : 0) + eps));
    if (lane == 0) {
      mean[row] = m;
      invstd[row] = is;
    }
    for (long long i = lane; i < K; i += G) {   /* in T, as the CPU */
      T o = (xr[i] - m) * is;
      if (w) o = o * w[i];
      if (b) o = o + b[i];
      yr[i] = o;
    }
  }
}

/* gx of each row: with gh = g w and xhat = (x - mean) invstd,
** gx = invstd (gh - mean(gh) - xhat mean(gh xhat)). */
template <typename T, int G>
__global__ void ln_backward_rows(long long M, long long K, const T *g, const T *x, const T *w,
                                 const T *mean, const T *invstd, T *gx) {
  const int R = BTC_THREADS / G, lane = threadIdx.x % G;
  for (long long row = (long long)blockIdx.x * R + threadIdx.x / G; row < M;
       row += (long long)gridDim.x * R) {
    const T *xr = x + row * K, *gr = g + row * K;
    T *out = gx + row * K;
    T m = mean[row], is = invstd[row];
    double a = 0, c = 0;   /* in double, as the CPU (see ln_forward) */
    for (long long i = lane; i < K; i += G) {
      T gh = w ? gr[i] * w[i] : gr[i];
      a += (double)gh;
      c += (double)gh * (double)(xr[i] - m);
    }
    a = group_reduce<G>(a, SumF());
    c = group_reduce<G>(c, SumF());
    T am = (T)(a / (double)K), bm = (T)(c * (double)is / (double)K);
    for (long long i = lane; i < K; i += G) {
      T gh = w ? gr[i] * w[i] : gr[i];
      T xh = (xr[i] - m) * is;
      out[i] = is * (gh - am - xh * bm);
    }
  }
}

/* Column sums over a chunk of rows: partial[chunk][0][k] = sum g xhat,
** partial[chunk][1][k] = sum g, in double (the CPU's sums). Blocks of 32
** columns x 8 row lanes; the lanes are combined by a fixed tree. */
#define LN_COLS 32
#define LN_LANES (BTC_THREADS / LN_COLS)

template <typename T>
__global__ void ln_param_partials(long long M, long long K, long long rows_per_chunk,
                                  long long nchunks, const T *g, const T *x, const T *mean,
                                  const T *invstd, double *partial) {
  __shared__ double sw[LN_LANES][LN_COLS], sb[LN_LANES][LN_COLS];
  const int tx = threadIdx.x % LN_COLS, ty = threadIdx.x / LN_COLS;
  long long ncol = (K + LN_COLS - 1) / LN_COLS;
  for (long long task = blockIdx.x; task < ncol * nchunks; task += gridDim.x) {
    long long chunk = task / ncol, k = (task % ncol) * LN_COLS + tx;
    long long r0 = chunk * rows_per_chunk, r1 = r0 + rows_per_chunk < M ? r0 + rows_per_chunk : M;
    double a = 0, c = 0;
    if (k < K)
      for (long long r = r0 + ty; r < r1; r += LN_LANES) {
        T gv = g[r * K + k];
        a += (double)gv * (double)((x[r * K + k] - mean[r]) * invstd[r]);
        c += (double)gv;
      }
    sw[ty][tx] = a;
    sb[ty][tx] = c;
    __syncthreads();
    for (int s = LN_LANES / 2; s > 0; s >>= 1) {
      if (ty < s) {
        sw[ty][tx] += sw[ty + s][tx];
        sb[ty][tx] += sb[ty + s][tx];
      }
      __syncthreads();
    }
    if (ty == 0 && k < K) {
      partial[chunk * 2 * K + k] = sw[0][tx];
      partial[chunk * 2 * K + K + k] = sb[0][tx];
    }
    __syncthreads();
  }
}

/* gw[k], gb[k]: the chunks' partial sums in chunk order. */
template <typename T>
__global__ void ln_param_final(long long K, long long nchunks, const double *partial, T *gw, T *gb) {
  BTC_LOOP(k, K) {
    double a = 0, c = 0;
    for (long long j = 0; j < nchunks; j++) {
      a += partial[j * 2 * K + k];
      c += partial[j * 2 * K + K + k];
    }
    if (gw) gw[k] = (T)a;
    if (gb) gb[k] = (T)c;
  }
}

static const void *data_or_null(const bt_Tensor *t) { return t ? bt_data((bt_Tensor *)t) : NULL; }

extern "C" int btc_layer_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                              const bt_Tensor *weight, const bt_Tensor *bias, double eps) {
  const char *op = "layer_norm";
  const bt_Tensor *ts[6] = {x, y, mean, invstd, weight, bias};
  if (btc_nn_use(op, 6, ts) < 0) return -1;
  long long M = x->shape[0], K = x->shape[1];
  if (M == 0) return 0;
  bool warp = K <= BTC_WARP_ROW_MAX;
  unsigned blocks = btc_row_blocks(M, warp ? 32 : BTC_THREADS);
  const void *px = bt_data(x), *pw = data_or_null(weight), *pb = data_or_null(bias);
  void *py = bt_data(y), *pm = bt_data(mean), *pi = bt_data(invstd);
  BTC_DISPATCH_FLOAT(x->dtype, op, {
    if (warp)
      ln_forward<T, 32><<<blocks, BTC_THREADS>>>(M, K, (const T *)px, (const T *)pw, (const T *)pb,
                                                 (T *)py, (T *)pm, (T *)pi, eps);
    else
      ln_forward<T, BTC_THREADS><<<blocks, BTC_THREADS>>>(M, K, (const T *)px, (const T *)pw,
                                                          (const T *)pb, (T *)py, (T *)pm,
                                                          (T *)pi, eps);
  });
  return btc_check_launch(op);
}

extern "C" int btc_layer_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb,
                                       const bt_Tensor *g, const bt_Tensor *x,
                                       const bt_Tensor *weight, const bt_Tensor *mean,
                                       const bt_Tensor *invstd) {
  const char *op = "layer_norm_backward";
  const bt_Tensor *ts[8] = {g, x, gx, gw, gb, weight, mean, invstd};
  if (btc_nn_use(op, 8, ts) < 0) return -1;
  long long M = x->shape[0], K = x->shape[1];
  const void *pg = bt_data(g), *px = bt_data(x), *pw = data_or_null(weight);
  const void *pm = bt_data(mean), *pi = bt_data(invstd);
  if (gx && M > 0 && K > 0) {
    bool warp = K <= BTC_WARP_ROW_MAX;
    unsigned blocks = btc_row_blocks(M, warp ? 32 : BTC_THREADS);
    void *pgx = bt_data(gx);
    BTC_DISPATCH_FLOAT(x->dtype, op, {
      if (warp)
        ln_backward_rows<T, 32><<<blocks, BTC_THREADS>>>(M, K, (const T *)pg, (const T *)px,
                                                         (const T *)pw, (const T *)pm,
                                                         (const T *)pi, (T *)pgx);
      else
        ln_backward_rows<T, BTC_THREADS><<<blocks, BTC_THREADS>>>(
            M, K, (const T *)pg, (const T *)px, (const T *)pw, (const T *)pm, (const T *)pi,
            (T *)pgx);
    });
    if (btc_check_launch(op) < 0) return -1;
  }
  if ((!gw && !gb) || K == 0) return 0;
  /* Chunks of rows: at most 512 of them, depending on M only. */
  long long rows_per_chunk = (M + 511) / 512;
  if (rows_per_chunk < 32) rows_per_chunk = 32;
  long long nchunks = M > 0 ? (M + rows_per_chunk - 1) / rows_per_chunk : 0;
  int64_t bytes = (nchunks > 0 ? nchunks : 1) * 2 * K * (int64_t)sizeof(double);
  void *partial = btc_scratch(op, bytes);
  if (!partial) return -1;
  void *pgw = gw ? bt_data(gw) : NULL, *pgb = gb ? bt_data(gb) : NULL;
  long long ncol = (K + LN_COLS - 1) / LN_COLS;
  unsigned pblocks = btc_blocks(ncol * nchunks, 1);
  int rc = 0;
  switch (x->dtype) {
    BTC_CASE(BT_F32, float, {
      if (nchunks > 0)
        ln_param_partials<T><<<pblocks, BTC_THREADS>>>(M, K, rows_per_chunk, nchunks,
                                                       (const T *)pg, (const T *)px, (const T *)pm,
                                                       (const T *)pi, (double *)partial);
      ln_param_final<T><<<btc_blocks(K, BTC_THREADS), BTC_THREADS>>>(
          K, nchunks, (const double *)partial, (T *)pgw, (T *)pgb);
    })
    BTC_CASE(BT_F64, double, {
      if (nchunks > 0)
        ln_param_partials<T><<<pblocks, BTC_THREADS>>>(M, K, rows_per_chunk, nchunks,
                                                       (const T *)pg, (const T *)px, (const T *)pm,
                                                       (const T *)pi, (double *)partial);
      ln_param_final<T><<<btc_blocks(K, BTC_THREADS), BTC_THREADS>>>(
          K, nchunks, (const double *)partial, (T *)pgw, (T *)pgb);
    })
    default: rc = bt_seterr("%s: no CUDA kernel for %s (f32 and f64 only)", op, bt_dtype_name(x->dtype));
  }
  if (rc == 0) rc = btc_check_launch(op);
  btc_scratch_free(partial, bytes);   /* stream order: later work runs after these kernels */
  return rc;
}

/* ---- dropout ----------------------------------------------------------------------------- */

/* Group q of four elements takes Philox block counter + q; element i keeps
** its value when its word is >= threshold. y = x scale in double, rounded
** to T, as the CPU does. */
template <typename T>
__global__ void dropout_kernel(long long n, const T *x, T *y, uint8_t *mask, unsigned long long seed,
                               unsigned long long counter, unsigned long long threshold,
                               double scale) {
  BTC_LOOP(q, (n + 3) / 4) {
    unsigned r[4];
    btc_philox(seed, counter + (unsigned long long)q, r);
    long long i0 = 4 * q;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      long long i = i0 + j;
      if (i >= n) break;
      bool keep = (unsigned long long)r[j] >= threshold;
      mask[i] = keep;
      y[i] = keep ? (T)__dmul_rn((double)x[i], scale) : (T)0;
    }
  }
}

template <typename T>
__global__ void dropout_backward_kernel(long long n, const T *g, const uint8_t *mask, T *gx, T s) {
  BTC_LOOP(i, n) gx[i] = mask[i] ? g[i] * s : (T)0;
}

static int check_dense(const char *op, int n, const bt_Tensor *const *t) {
  for (int i = 0; i < n; i++)
    if (!bt_is_contiguous(t[i]))
      return bt_seterr("%s: the CUDA kernel expects contiguous tensors (got %s)", op, bt_shp(t[i]));
  return 0;
}

extern "C" int btc_dropout(bt_Tensor *y, bt_Tensor *mask, const bt_Tensor *x, double p,
                           uint64_t seed, uint64_t counter) {
  const char *op = "dropout";
  const bt_Tensor *ts[3] = {x, y, mask};
  if (btc_nn_use(op, 3, ts) < 0 || check_dense(op, 3, ts) < 0) return -1;
  long long n = bt_numel(x);
  if (n == 0) return 0;
  unsigned long long threshold = (unsigned long long)llround(p * 4294967296.0);
  double scale = p < 1 ? 1 / (1 - p) : 0;
  unsigned blocks = btc_blocks((n + 3) / 4, BTC_THREADS);
  const void *px = bt_data(x);
  void *py = bt_data(y), *pm = bt_data(mask);
  BTC_DISPATCH_FLOAT(x->dtype, op,
                     dropout_kernel<T><<<blocks, BTC_THREADS>>>(n, (const T *)px, (T *)py,
                                                                (uint8_t *)pm, seed, counter,
                                                                threshold, scale));
  return btc_check_launch(op);
}

extern "C" int btc_dropout_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *mask,
                                    double scale) {
  const char *op = "dropout_backward";
  const bt_Tensor *ts[3] = {g, gx, mask};
  if (btc_nn_use(op, 3, ts) < 0 || check_dense(op, 3, ts) < 0) return -1;
  long long n = bt_numel(g);
  if (n == 0) return 0;
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  const void *pg = bt_data(g), *pm = bt_data(mask);
  void *pgx = bt_data(gx);
  BTC_DISPATCH_FLOAT(g->dtype, op,
                     dropout_backward_kernel<T><<<blocks, BTC_THREADS>>>(
                         n, (const T *)pg, (const uint8_t *)pm, (T *)pgx, (T)scale));
  return btc_check_launch(op);
}

/* ---- embedding ----------------------------------------------------------------------------- */

__device__ __forceinline__ long long id_at(const void *ids, bool i32, long long i) {
  return i32 ? (long long)((const int *)ids)[i] : ((const long long *)ids)[i];
}

__device__ __forceinline__ void note_bad_id(btc_Report *r, long long v) {
  if (atomicCAS(&r->bad, 0, 1) == 0) r->value = v;
}

/* out [n, D] = rows of weight [V, D] (moved as bits: any dtype); id -1 gives
** a zero row, an id outside [-1, V) a zero row and a report. */
template <typename U>
__global__ void embedding_kernel(long long n, long long V, long long D, const void *ids, bool i32,
                                 const U *w, U *out, btc_Report *r) {
  BTC_LOOP(e, n * D) {
    long long i = e / D, k = e - i * D, v = id_at(ids, i32, i);
    if (v >= 0 && v < V) {
      out[e] = w[v * D + k];
    } else {
      out[e] = U(0);
      if (v != -1 && k == 0) note_bad_id(r, v);
    }
  }
}

static int bad_id_error(long long v, long long V) {
  return bt_seterr("embedding: id %lld is out of range for %lld embeddings (ids are 1..%lld, "
                   "and 0 for padding)", v + 1, V, V);
}

extern "C" int btc_embedding(bt_Tensor *out, const bt_Tensor *ids, const bt_Tensor *weight) {
  const char *op = "embedding";
  const bt_Tensor *ts[3] = {weight, ids, out};
  if (btc_nn_use(op, 3, ts) < 0 || check_dense(op, 3, ts) < 0) return -1;
  long long n = bt_numel(ids), V = weight->shape[0], D = weight->shape[1];
  if (n == 0 || D == 0) return 0;
  btc_Report *r = btc_report_buffer();
  if (!r) return bt_seterr("%s: cannot allocate the CUDA report buffer", op);
  unsigned blocks = btc_blocks(n * D, BTC_THREADS);
  const void *pi = bt_data(ids), *pw = bt_data(weight);
  void *po = bt_data(out);
  bool i32 = ids->dtype == BT_I32;
  BTC_DISPATCH_SIZE(bt_dtype_size(weight->dtype),
                    embedding_kernel<T><<<blocks, BTC_THREADS>>>(n, V, D, pi, i32, (const T *)pw,
                                                                 (T *)po, r));
  if (btc_check_launch(op) < 0) {
    cudaMemset(r, 0, sizeof *r);   /* a clear report for the next kernel; keeps the message */
    return -1;
  }
  long long bad = 0;
  int got = btc_report_take(op, &bad);
  if (got < 0) return -1;
  return got ? bad_id_error(bad, V) : 0;
}

/* Sort keys: the id of each position, or V (sorted last, skipped) for -1,
** padding_idx and bad ids (reported). */
__global__ void embedding_keys(long long n, long long V, long long padding_idx, const void *ids,
                               bool i32, unsigned long long *keys, long long *pos, btc_Report *r) {
  BTC_LOOP(i, n) {
    long long v = id_at(ids, i32, i);
    if (v < -1 || v >= V) note_bad_id(r, v);
    bool counted = v >= 0 && v < V && v != padding_idx;
    keys[i] = (unsigned long long)(counted ? v : V);
    pos[i] = i;
  }
}

/* One block per run of equal keys (found at its first sorted position j):
** gw row key = the rows of g at the run's positions, summed in increasing
** position (the stable sort kept them in order). Other rows stay zero. */
template <typename T>
__global__ void embedding_grad_runs(long long n, long long V, long long D,
                                    const unsigned long long *keys, const long long *pos,
                                    const T *g, T *gw) {
  for (long long j = blockIdx.x; j < n; j += gridDim.x) {
    unsigned long long key = keys[j];
    if (key >= (unsigned long long)V || (j > 0 && keys[j - 1] == key)) continue;
    for (long long k = threadIdx.x; k < D; k += blockDim.x) {
      T s = 0;
      for (long long q = j; q < n && keys[q] == key; q++) s += g[pos[q] * D + k];
      gw[(long long)key * D + k] = s;
    }
  }
}

static int bits_for(long long v) {
  int b = 1;
  while (b < 63 && (1LL << b) <= v) b++;
  return b;
}

extern "C" int btc_embedding_backward(bt_Tensor *gw, const bt_Tensor *g, const bt_Tensor *ids,
                                      int64_t padding_idx) {
  const char *op = "embedding_backward";
  const bt_Tensor *ts[3] = {gw, g, ids};
  if (btc_nn_use(op, 3, ts) < 0 || check_dense(op, 3, ts) < 0) return -1;
  if (gw->dtype != BT_F32 && gw->dtype != BT_F64)
    return bt_seterr("%s: no CUDA kernel for %s (f32 and f64 only)", op, bt_dtype_name(gw->dtype));
  long long n = bt_numel(ids), V = gw->shape[0], D = gw->shape[1];
  size_t es = bt_dtype_size(gw->dtype);
  if (V * D > 0 && btc_check(cudaMemset(bt_data(gw), 0, (size_t)(V * D) * es), op) < 0) return -1;
  if (n == 0) return 0;   /* V == 0 goes on: any id but -1 is then reported, as on the CPU */
  btc_Report *r = btc_report_buffer();
  if (!r) return bt_seterr("%s: cannot allocate the CUDA report buffer", op);
  /* Scratch: two key buffers, two position buffers, then CUB's own. */
  int64_t buf = n * 8, bytes = 4 * buf;
  char *scratch = (char *)btc_scratch(op, bytes);
  if (!scratch) return -1;
  unsigned long long *k0 = (unsigned long long *)scratch, *k1 = (unsigned long long *)(scratch + buf);
  long long *p0 = (long long *)(scratch + 2 * buf), *p1 = (long long *)(scratch + 3 * buf);
  embedding_keys<<<btc_blocks(n, BTC_THREADS), BTC_THREADS>>>(n, V, padding_idx, bt_data(ids),
                                                              ids->dtype == BT_I32, k0, p0, r);
  int rc = btc_check_launch(op);
  cub::DoubleBuffer<unsigned long long> keys(k0, k1);
  cub::DoubleBuffer<long long> pos(p0, p1);
  int end_bit = bits_for(V);
  size_t temp_bytes = 0;
  if (rc == 0)
    rc = btc_check(cub::DeviceRadixSort::SortPairs(NULL, temp_bytes, keys, pos, n, 0, end_bit), op);
  void *temp = rc == 0 ? btc_scratch(op, (int64_t)temp_bytes + 1) : NULL;
  if (rc == 0 && !temp) rc = -1;
  if (rc == 0)
    rc = btc_check(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, keys, pos, n, 0, end_bit), op);
  if (rc == 0) {
    unsigned blocks = btc_blocks(n, 1);
    int threads = D >= 128 ? 128 : D > 32 ? 64 : 32;
    const void *pg = bt_data(g);
    void *pgw = bt_data(gw);
    if (gw->dtype == BT_F32)
      embedding_grad_runs<float><<<blocks, threads>>>(n, V, D, keys.Current(), pos.Current(),
                                                      (const float *)pg, (float *)pgw);
    else
      embedding_grad_runs<double><<<blocks, threads>>>(n, V, D, keys.Current(), pos.Current(),
                                                       (const double *)pg, (double *)pgw);
    rc = btc_check_launch(op);
  }
  if (temp) btc_scratch_free(temp, (int64_t)temp_bytes + 1);
  btc_scratch_free(scratch, bytes);
  if (rc < 0) {
    cudaMemset(r, 0, sizeof *r);   /* a clear report for the next kernel; keeps rc's message */
    return -1;
  }
  long long bad = 0;
  int got = btc_report_take(op, &bad);
  if (got < 0) return -1;
  return got ? bad_id_error(bad, V) : 0;
}
