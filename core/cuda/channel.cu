/*
** cuda/channel.cu: per-channel kernels beside cuDNN (channel.h): the bias
** of a convolution, and a complete batch normalisation for the cases
** cudnn.c does not hand to cuDNN.
**
** Layout: x [N, C, S] contiguous, so element i belongs to channel
** (i / S) % C, and the M = N * S elements of channel c are
** x[(n * C + c) * S + s]. Per-channel sums take one block per channel (a
** grid-stride loop over channels): each thread adds its elements in a fixed
** order, in double, and the block combines the threads in a fixed tree, so
** results do not change from run to run. That is one pass over x per
** statistic at one block per channel: fine for the shapes that come here
** ([N, C] inputs, where M is a batch) and a correct fallback for the rest.
*/
#include "kernel.cuh"
#include "channel.h"

/* ---- sums of a block ---------------------------------------------------------------- */

/* The sum of v over the block (blockDim.x a multiple of 32, at most 1024),
** returned to every thread; sh holds 33 doubles. Every thread must call it. */
static __device__ double block_sum(double v, double *sh) {
  for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  if (lane == 0) sh[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < nwarps ? sh[lane] : 0.0;
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    if (lane == 0) sh[32] = v;
  }
  __syncthreads();
  double r = sh[32];
  __syncthreads();   /* sh is free again for the next call */
  return r;
}

/* Offset of the i-th element (0 <= i < N * S) of channel c. */
static __device__ __forceinline__ long long chan_elem(long long i, long long c, long long C, long long S) {
  long long n = i / S;
  return (n * C + c) * S + (i - n * S);
}

/* ---- the bias of a convolution ------------------------------------------------------ */

template <typename T>
__global__ void bias_add_kernel(T *y, const T *bias, long long numel, long long C, long long S) {
  BTC_LOOP(i, numel) {
    long long c = (i / S) % C;
    y[i] = from_value<T>(to_value(y[i]) + to_value(bias[c]));
  }
}

extern "C" int btc_channel_bias_add(const char *op, bt_Tensor *y, const bt_Tensor *bias, int64_t N,
                                    int64_t C, int64_t S) {
  long long numel = (long long)N * C * S;
  if (numel == 0) return 0;
  unsigned blocks = btc_blocks(numel, BTC_THREADS);
  void *py = bt_data(y);
  const void *pb = bt_data(bias);
  switch (y->dtype) {
    case BT_F32: bias_add_kernel<float><<<blocks, BTC_THREADS>>>((float *)py, (const float *)pb, numel, C, S); break;
    case BT_F64: bias_add_kernel<double><<<blocks, BTC_THREADS>>>((double *)py, (const double *)pb, numel, C, S); break;
    case BT_F16: bias_add_kernel<f16_t><<<blocks, BTC_THREADS>>>((f16_t *)py, (const f16_t *)pb, numel, C, S); break;
    case BT_BF16: bias_add_kernel<bf16_t><<<blocks, BTC_THREADS>>>((bf16_t *)py, (const bf16_t *)pb, numel, C, S); break;
    default: return bt_seterr("%s: no CUDA bias kernel for %s", op, bt_dtype_name(y->dtype));
  }
  return btc_check_launch(op);
}

/* ---- batch normalisation --------------------------------------------------------- */

/* Blocks for a loop over C channels, one block per channel at a time. */
static unsigned channel_blocks(long long C) {
  long long cap = (long long)btc_sm_count() * 8;
  return (unsigned)(C < cap ? (C < 1 ? 1 : C) : cap);
}

/* Training statistics: mean, invstd = 1 / sqrt(biased var + eps); the
** running ones (both or neither) move by momentum toward the batch mean and
** the unbiased variance. Two passes over each channel (mean, then squared
** deviations) keep the variance accurate when the mean is large. */
template <typename T>
__global__ void bn_stats_kernel(const T *x, long long N, long long C, long long S, T *mean,
                                T *invstd, T *rm, T *rv, double momentum, double eps) {
  __shared__ double sh[33];
  long long M = N * S;
  for (long long c = blockIdx.x; c < C; c += gridDim.x) {
    double s = 0;
    for (long long i = threadIdx.x; i < M; i += blockDim.x) s += (double)x[chan_elem(i, c, C, S)];
    double mu = block_sum(s, sh) / (double)M;
    double q = 0;
    for (long long i = threadIdx.x; i < M; i += blockDim.x) {
      double d = (double)x[chan_elem(i, c, C, S)] - mu;
      q += d * d;
    }
    double var = block_sum(q, sh) / (double)M;
    if (threadIdx.x == 0) {
      mean[c] = (T)mu;
      invstd[c] = (T)(1.0 / sqrt(var + eps));
      if (rm && rv) {
        double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
        rm[c] = (T)((1 - momentum) * (double)rm[c] + momentum * mu);
        rv[c] = (T)((1 - momentum) * (double)rv[c] + momentum * unbiased);
      }
    }
  }
}

template <typename T>
__global__ void bn_eval_stats_kernel(T *mean, T *invstd, const T *rm, const T *rv, long long C,
                                     double eps) {
  BTC_LOOP(c, C) {
    mean[c] = rm[c];
    invstd[c] = (T)(1.0 / sqrt((double)rv[c] + eps));
  }
}

/* y = (x - mean) invstd weight + bias (weight 1 and bias 0 when NULL). */
template <typename T>
__global__ void bn_apply_kernel(T *y, const T *x, const T *mean, const T *invstd, const T *w,
                                const T *b, long long numel, long long C, long long S) {
  BTC_LOOP(i, numel) {
    long long c = (i / S) % C;
    double v = ((double)x[i] - (double)mean[c]) * (double)invstd[c];
    if (w) v *= (double)w[c];
    if (b) v += (double)b[c];
    y[i] = (T)v;
  }
}

/* Per channel: sums[c] = sum g, sums[C + c] = sum g xhat with xhat =
** (x - mean) invstd; gw and gb (each may be NULL) get them too. */
template <typename T>
__global__ void bn_sums_kernel(const T *g, const T *x, const T *mean, const T *invstd, long long N,
                               long long C, long long S, double *sums, T *gw, T *gb) {
  __shared__ double sh[33];
  long long M = N * S;
  for (long long c = blockIdx.x; c < C; c += gridDim.x) {
    double mu = (double)mean[c], sg = 0, sgx = 0;
    for (long long i = threadIdx.x; i < M; i += blockDim.x) {
      long long e = chan_elem(i, c, C, S);
      double gi = (double)g[e];
      sg += gi;
      sgx += gi * ((double)x[e] - mu);
    }
    sg = block_sum(sg, sh);
    sgx = block_sum(sgx, sh) * (double)invstd[c];
    if (threadIdx.x == 0) {
      sums[c] = sg;
      sums[C + c] = sgx;
      if (gw) gw[c] = (T)sgx;
      if (gb) gb[c] = (T)sg;
    }
  }
}

/* gx = weight invstd (g - sum g / M - xhat sum(g xhat) / M) when training
** (the statistics depend on x), else weight invstd g. */
template <typename T>
__global__ void bn_grad_input_kernel(T *gx, const T *g, const T *x, const T *mean, const T *invstd,
                                     const T *w, const double *sums, long long numel, long long C,
                                     long long S, long long M, bool training) {
  BTC_LOOP(i, numel) {
    long long c = (i / S) % C;
    double is = (double)invstd[c], a = w ? (double)w[c] * is : is, gi = (double)g[i];
    if (training) {
      double xhat = ((double)x[i] - (double)mean[c]) * is;
      gi = gi - sums[c] / (double)M - xhat * sums[C + c] / (double)M;
    }
    gx[i] = (T)(a * gi);
  }
}

template <typename T> static T *ptr(const bt_Tensor *t) { return t ? (T *)bt_data(t) : (T *)0; }

template <typename T>
static void bn_forward_t(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                         const bt_Tensor *w, const bt_Tensor *b, bt_Tensor *rm, bt_Tensor *rv,
                         bool training, double momentum, double eps) {
  long long N = x->shape[0], C = x->shape[1], S = x->shape[2], numel = N * C * S;
  if (training)
    bn_stats_kernel<T><<<channel_blocks(C), BTC_THREADS>>>(ptr<T>(x), N, C, S, ptr<T>(mean),
                                                          ptr<T>(invstd), ptr<T>(rm), ptr<T>(rv),
                                                          momentum, eps);
  else
    bn_eval_stats_kernel<T><<<btc_blocks(C, BTC_THREADS), BTC_THREADS>>>(
        ptr<T>(mean), ptr<T>(invstd), ptr<T>(rm), ptr<T>(rv), C, eps);
  if (numel > 0)
    bn_apply_kernel<T><<<btc_blocks(numel, BTC_THREADS), BTC_THREADS>>>(
        ptr<T>(y), ptr<T>(x), ptr<T>(mean), ptr<T>(invstd), ptr<T>(w), ptr<T>(b), numel, C, S);
}

extern "C" int btc_bn_forward(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                              const bt_Tensor *weight, const bt_Tensor *bias,
                              bt_Tensor *running_mean, bt_Tensor *running_var, bool training,
                              double momentum, double eps) {
  const char *op = "batch_norm";
  if (btc_use(x) < 0) return -1;
  if (x->shape[1] == 0) return 0;
  if (!training && (!running_mean || !running_var))
    return bt_seterr("%s: evaluation needs running_mean and running_var", op);
  if (training && x->shape[0] * x->shape[2] == 0)
    return bt_seterr("%s: no values per channel to train on (input %s)", op, bt_shp(x));
  switch (x->dtype) {
    case BT_F32: bn_forward_t<float>(y, mean, invstd, x, weight, bias, running_mean, running_var, training, momentum, eps); break;
    case BT_F64: bn_forward_t<double>(y, mean, invstd, x, weight, bias, running_mean, running_var, training, momentum, eps); break;
    default: return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(x->dtype));
  }
  return btc_check_launch(op);
}

extern "C" int btc_bn_eval_stats(bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *running_mean,
                                 const bt_Tensor *running_var, double eps) {
  const char *op = "batch_norm";
  long long C = mean->shape[0];
  if (btc_use(mean) < 0) return -1;
  if (C == 0) return 0;
  unsigned blocks = btc_blocks(C, BTC_THREADS);
  switch (mean->dtype) {
    case BT_F32:
      bn_eval_stats_kernel<float><<<blocks, BTC_THREADS>>>(ptr<float>(mean), ptr<float>(invstd),
                                                           ptr<float>(running_mean),
                                                           ptr<float>(running_var), C, eps);
      break;
    case BT_F64:
      bn_eval_stats_kernel<double><<<blocks, BTC_THREADS>>>(ptr<double>(mean), ptr<double>(invstd),
                                                            ptr<double>(running_mean),
                                                            ptr<double>(running_var), C, eps);
      break;
    default: return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(mean->dtype));
  }
  return btc_check_launch(op);
}

template <typename T>
static void bn_backward_t(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                          const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *mean,
                          const bt_Tensor *invstd, bool training, double *sums) {
  long long N = x->shape[0], C = x->shape[1], S = x->shape[2], numel = N * C * S;
  if (sums)
    bn_sums_kernel<T><<<channel_blocks(C), BTC_THREADS>>>(ptr<T>(g), ptr<T>(x), ptr<T>(mean),
                                                         ptr<T>(invstd), N, C, S, sums,
                                                         ptr<T>(gw), ptr<T>(gb));
  if (gx && numel > 0)
    bn_grad_input_kernel<T><<<btc_blocks(numel, BTC_THREADS), BTC_THREADS>>>(
        ptr<T>(gx), ptr<T>(g), ptr<T>(x), ptr<T>(mean), ptr<T>(invstd), ptr<T>(w), sums, numel,
        C, S, N * S, training);
}

extern "C" int btc_bn_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                               const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                               const bt_Tensor *invstd, bool training) {
  const char *op = "batch_norm_backward";
  if (btc_use(x) < 0) return -1;
  long long C = x->shape[1];
  if (C == 0) return 0;
  /* The sums: for gw and gb, and for gx when the statistics depend on x. */
  bool need_sums = gw || gb || (gx && training);
  int64_t nbytes = 2 * C * (int64_t)sizeof(double);
  double *sums = need_sums ? (double *)btc_scratch(op, nbytes) : NULL;
  if (need_sums && !sums) return -1;
  int rc = 0;
  switch (x->dtype) {
    case BT_F32: bn_backward_t<float>(gx, gw, gb, g, x, weight, mean, invstd, training, sums); break;
    case BT_F64: bn_backward_t<double>(gx, gw, gb, g, x, weight, mean, invstd, training, sums); break;
    default: rc = bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(x->dtype)); break;
  }
  if (rc == 0) rc = btc_check_launch(op);
  if (sums) btc_scratch_free(sums, nbytes);   /* stream-ordered: the kernels above run before any reuse */
  return rc;
}
