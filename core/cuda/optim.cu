/*
** cuda/optim.cu: fused optimiser updates and the reductions of gradient
** clipping (the "optim kernels" of dispatch.h).
**
** Every update is one elementwise kernel over a parameter: each thread
** reads its element of the gradient and of the states once and writes the
** parameter and the states once. Tensors arrive contiguous, of one shape
** and one float dtype (ops/optim.c sees to that); optional states are NULL.
**
** The arithmetic follows cpu/optim.c's spans operation by operation, so
** results agree with the CPU bit for bit:
** - the scalars derived from the options (1 - beta, lr / (1 - beta1^t),
**   sqrt(1 - beta2^t), ...) are computed once on the host in double, with
**   the C library the CPU kernels use, and passed to the kernel in a small
**   struct by value; the kernel rounds them to the compute type as the CPU
**   does ((T)k.x);
** - every product, sum, quotient and square root goes through an explicit
**   round-to-nearest intrinsic (__fmul_rn, __dadd_rn, ...): nvcc would
**   otherwise contract a * b + c into a fused multiply-add, which the CPU
**   build (C11, no contraction) never does;
** - f32 and f64 compute in their own type; f16 and bf16 load to float,
**   update in float and store back rounded to nearest even, as the CPU's
**   half-precision blocks do.
**
** grad_norm reduces sum |g|^p (or max |g|, NaN winning) in double as the
** CPU does, but in another order: per-thread partial sums, a fixed tree in
** each block, then the block results in order by one block. The result is
** the same from run to run; its last bits may differ from the CPU's. One
** double comes back to the host (a synchronisation, as the CPU's caller
** needs the number).
*/
#include "kernel.cuh"
#include "kernels.h"

#include <math.h>
#include <math_constants.h>

/* ---- arithmetic rounded as on the CPU ---------------------------------------------- */

__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float dvd(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double dvd(double a, double b) { return __ddiv_rn(a, b); }
__device__ __forceinline__ float root(float a) { return __fsqrt_rn(a); }
__device__ __forceinline__ double root(double a) { return __dsqrt_rn(a); }

/* Storage type S computes in V (float for f32, f16, bf16; double for f64). */
#define VALUE(S) typename Traits<S>::value

/* Runs BODY with S the storage type of float dtype dt; -1 for others. */
#define OPT_DISPATCH(op, dt, ...)                                                \
  switch (dt) {                                                                  \
    BTC_CASE(BT_F32, float, __VA_ARGS__) BTC_CASE(BT_F64, double, __VA_ARGS__)   \
    BTC_CASE(BT_F16, f16_t, __VA_ARGS__) BTC_CASE(BT_BF16, bf16_t, __VA_ARGS__)  \
    default: return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(dt)); \
  }

template <typename S>
static S *ptr(bt_Tensor *t) { return t ? (S *)bt_data(t) : NULL; }

/* a * b rounded to a double before the add that follows it. cpu/optim.c
** computes its host scalars in C11 mode, which never fuses a * b + c; this
** file's host code goes through g++ in GNU mode (-ffp-contract=fast),
** which fuses them wherever the target has FMA (aarch64 hosts, -march
** builds): the volatile makes the product a rounded value of its own. */
static double host_mul(double a, double b) {
  volatile double p = a * b;
  return p;
}

/* ---- SGD ----------------------------------------------------------------------------- */

struct SGDK {
  double lr, momentum, dampening, weight_decay, sign;
  bool nesterov, first;
};

/* buf NULL without momentum.
**   d = sign * g + wd * w;  b = first ? d : momentum * b + (1 - dampening) * d
**   d = nesterov ? d + momentum * b : b;  w -= lr * d */
template <typename S>
__global__ void sgd_kernel(long long n, S *w, const S *g, S *buf, SGDK k) {
  typedef VALUE(S) T;
  const T sign = (T)k.sign, wd = (T)k.weight_decay, mom = (T)k.momentum;
  const T damp = (T)(1 - k.dampening), neg_lr = (T)-k.lr;
  const bool has_wd = k.weight_decay != 0;
  BTC_LOOP(i, n) {
    T wi = to_value(w[i]);
    T d = mul(sign, to_value(g[i]));
    if (has_wd) d = add(d, mul(wd, wi));
    if (buf) {
      T b = k.first ? d : add(mul(to_value(buf[i]), mom), mul(damp, d));
      buf[i] = from_value<S>(b);
      d = k.nesterov ? add(d, mul(mom, b)) : b;
    }
    w[i] = from_value<S>(add(wi, mul(neg_lr, d)));
  }
}

extern "C" int btc_sgd_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *buf,
                            const bt_SGDOpts *o) {
  if (btc_use(param) < 0) return -1;
  long long n = bt_numel(param);
  if (n == 0) return 0;
  SGDK k = {o->lr, o->momentum, o->dampening, o->weight_decay, o->maximize ? -1.0 : 1.0,
            o->nesterov, o->first};
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  OPT_DISPATCH("SGD", param->dtype,
               sgd_kernel<T><<<blocks, BTC_THREADS>>>(n, ptr<T>(param), ptr<T>((bt_Tensor *)grad),
                                                       ptr<T>(buf), k));
  return btc_check_launch("SGD");
}

/* ---- Adam and AdamW ------------------------------------------------------------------- */

struct AdamK {
  double beta1, beta2, eps, weight_decay, sign;
  double step_size;          /* lr / (1 - beta1^step) */
  double bc2_sqrt;           /* sqrt(1 - beta2^step) */
  double decay;              /* AdamW: 1 - lr * weight_decay; Adam: 1 */
  bool decoupled;
};

/* vmax: max_exp_avg_sq with amsgrad, else NULL.
**   AdamW: w *= 1 - lr wd;  Adam: g += wd w
**   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  vmax = max(vmax, v)
**   w -= step_size * m / (sqrt(v or vmax) / bc2_sqrt + eps) */
template <typename S>
__global__ void adam_kernel(long long n, S *w, const S *g, S *m, S *v, S *vmax, AdamK k) {
  typedef VALUE(S) T;
  const T sign = (T)k.sign, wd = (T)k.weight_decay, decay = (T)k.decay;
  const T b1 = (T)k.beta1, b2 = (T)k.beta2;
  const T c1 = (T)(1 - k.beta1), c2 = (T)(1 - k.beta2);
  const T bc2 = (T)k.bc2_sqrt, eps = (T)k.eps, neg_step = (T)-k.step_size;
  const bool decoupled = k.decoupled, coupled = !k.decoupled && k.weight_decay != 0;
  BTC_LOOP(i, n) {
    T wi = to_value(w[i]);
    if (decoupled) wi = mul(wi, decay);
    T gi = mul(sign, to_value(g[i]));
    if (coupled) gi = add(gi, mul(wd, wi));
    T mi = add(mul(to_value(m[i]), b1), mul(c1, gi));
    T vi = add(mul(to_value(v[i]), b2), mul(mul(c2, gi), gi));
    m[i] = from_value<S>(mi);
    v[i] = from_value<S>(vi);
    if (vmax) {
      T mx = to_value(vmax[i]);   /* torch.maximum: NaN wins */
      vi = mx > vi || mx != mx ? mx : vi;
      vmax[i] = from_value<S>(vi);
    }
    w[i] = from_value<S>(add(wi, mul(neg_step, dvd(mi, add(dvd(root(vi), bc2), eps)))));
  }
}

extern "C" int btc_adam_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *exp_avg,
                             bt_Tensor *exp_avg_sq, bt_Tensor *max_exp_avg_sq, const bt_AdamOpts *o) {
  const char *op = o->decoupled ? "AdamW" : "Adam";
  if (btc_use(param) < 0) return -1;
  long long n = bt_numel(param);
  if (n == 0) return 0;
  double step = (double)o->step;
  AdamK k;
  k.beta1 = o->beta1;
  k.beta2 = o->beta2;
  k.eps = o->eps;
  k.weight_decay = o->weight_decay;
  k.sign = o->maximize ? -1 : 1;
  k.step_size = o->lr / (1 - pow(o->beta1, step));
  k.bc2_sqrt = sqrt(1 - pow(o->beta2, step));
  k.decay = o->decoupled ? 1 - host_mul(o->lr, o->weight_decay) : 1;
  k.decoupled = o->decoupled;
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  OPT_DISPATCH(op, param->dtype,
               adam_kernel<T><<<blocks, BTC_THREADS>>>(n, ptr<T>(param), ptr<T>((bt_Tensor *)grad),
                                                        ptr<T>(exp_avg), ptr<T>(exp_avg_sq),
                                                        ptr<T>(max_exp_avg_sq), k));
  return btc_check_launch(op);
}

/* ---- RMSprop ---------------------------------------------------------------------------- */

struct RMSK {
  double lr, alpha, eps, weight_decay, momentum, sign;
};

/* ga: grad_avg (centered, else NULL); buf: momentum buffer (momentum > 0,
** else NULL).
**   g += wd w;  s = a s + (1 - a) g^2;  c = a c + (1 - a) g
**   avg = sqrt(s - c^2 or s) + eps
**   b = momentum b + g / avg; w -= lr b   (without momentum: w -= lr g / avg) */
template <typename S>
__global__ void rmsprop_kernel(long long n, S *w, const S *g, S *sq, S *ga, S *buf, RMSK k) {
  typedef VALUE(S) T;
  const T sign = (T)k.sign, wd = (T)k.weight_decay, a = (T)k.alpha;
  const T c = (T)(1 - k.alpha), eps = (T)k.eps, mom = (T)k.momentum;
  const T neg_lr = (T)-k.lr;
  const bool has_wd = k.weight_decay != 0;
  BTC_LOOP(i, n) {
    T wi = to_value(w[i]);
    T gi = mul(sign, to_value(g[i]));
    if (has_wd) gi = add(gi, mul(wd, wi));
    T si = add(mul(to_value(sq[i]), a), mul(mul(c, gi), gi));
    sq[i] = from_value<S>(si);
    T avg;
    if (ga) {
      T ci = add(mul(to_value(ga[i]), a), mul(c, gi));
      ga[i] = from_value<S>(ci);
      avg = add(root(add(si, mul(mul((T)-1, ci), ci))), eps);
    } else {
      avg = add(root(si), eps);
    }
    if (buf) {
      T b = add(mul(to_value(buf[i]), mom), dvd(gi, avg));
      buf[i] = from_value<S>(b);
      w[i] = from_value<S>(add(wi, mul(neg_lr, b)));
    } else {
      w[i] = from_value<S>(add(wi, mul(neg_lr, dvd(gi, avg))));
    }
  }
}

extern "C" int btc_rmsprop_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                                bt_Tensor *grad_avg, bt_Tensor *buf, const bt_RMSpropOpts *o) {
  if (btc_use(param) < 0) return -1;
  long long n = bt_numel(param);
  if (n == 0) return 0;
  RMSK k = {o->lr, o->alpha, o->eps, o->weight_decay, o->momentum, o->maximize ? -1.0 : 1.0};
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  OPT_DISPATCH("RMSprop", param->dtype,
               rmsprop_kernel<T><<<blocks, BTC_THREADS>>>(n, ptr<T>(param), ptr<T>((bt_Tensor *)grad),
                                                           ptr<T>(square_avg), ptr<T>(grad_avg),
                                                           ptr<T>(buf), k));
  return btc_check_launch("RMSprop");
}

/* ---- Adagrad ------------------------------------------------------------------------------ */

struct AdagradK {
  double clr, eps, weight_decay, sign;
};

/*   g += wd w;  s += g^2;  w -= clr * g / (sqrt(s) + eps) */
template <typename S>
__global__ void adagrad_kernel(long long n, S *w, const S *g, S *sum, AdagradK k) {
  typedef VALUE(S) T;
  const T sign = (T)k.sign, wd = (T)k.weight_decay, eps = (T)k.eps;
  const T neg_clr = (T)-k.clr;
  const bool has_wd = k.weight_decay != 0;
  BTC_LOOP(i, n) {
    T wi = to_value(w[i]);
    T gi = mul(sign, to_value(g[i]));
    if (has_wd) gi = add(gi, mul(wd, wi));
    T si = add(to_value(sum[i]), mul(gi, gi));
    sum[i] = from_value<S>(si);
    w[i] = from_value<S>(add(wi, mul(neg_clr, dvd(gi, add(root(si), eps)))));
  }
}

extern "C" int btc_adagrad_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *sum,
                                const bt_AdagradOpts *o) {
  if (btc_use(param) < 0) return -1;
  long long n = bt_numel(param);
  if (n == 0) return 0;
  AdagradK k = {o->lr / (1 + host_mul((double)(o->step - 1), o->lr_decay)), o->eps, o->weight_decay,
                o->maximize ? -1.0 : 1.0};
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  OPT_DISPATCH("Adagrad", param->dtype,
               adagrad_kernel<T><<<blocks, BTC_THREADS>>>(n, ptr<T>(param), ptr<T>((bt_Tensor *)grad),
                                                           ptr<T>(sum), k));
  return btc_check_launch("Adagrad");
}

/* ---- Adadelta ------------------------------------------------------------------------------ */

struct AdadeltaK {
  double lr, rho, eps, weight_decay, sign;
};

/*   g += wd w;  s = rho s + (1 - rho) g^2
**   delta = sqrt(acc + eps) / sqrt(s + eps) * g
**   acc = rho acc + (1 - rho) delta^2;  w -= lr delta */
template <typename S>
__global__ void adadelta_kernel(long long n, S *w, const S *g, S *sq, S *acc, AdadeltaK k) {
  typedef VALUE(S) T;
  const T sign = (T)k.sign, wd = (T)k.weight_decay, eps = (T)k.eps;
  const T rho = (T)k.rho, c = (T)(1 - k.rho), neg_lr = (T)-k.lr;
  const bool has_wd = k.weight_decay != 0;
  BTC_LOOP(i, n) {
    T wi = to_value(w[i]);
    T gi = mul(sign, to_value(g[i]));
    if (has_wd) gi = add(gi, mul(wd, wi));
    T si = add(mul(to_value(sq[i]), rho), mul(mul(c, gi), gi));
    sq[i] = from_value<S>(si);
    T ai = to_value(acc[i]);
    T delta = mul(dvd(root(add(ai, eps)), root(add(si, eps))), gi);
    acc[i] = from_value<S>(add(mul(ai, rho), mul(mul(c, delta), delta)));
    w[i] = from_value<S>(add(wi, mul(neg_lr, delta)));
  }
}

extern "C" int btc_adadelta_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                                 bt_Tensor *acc_delta, const bt_AdadeltaOpts *o) {
  if (btc_use(param) < 0) return -1;
  long long n = bt_numel(param);
  if (n == 0) return 0;
  AdadeltaK k = {o->lr, o->rho, o->eps, o->weight_decay, o->maximize ? -1.0 : 1.0};
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  OPT_DISPATCH("Adadelta", param->dtype,
               adadelta_kernel<T><<<blocks, BTC_THREADS>>>(n, ptr<T>(param), ptr<T>((bt_Tensor *)grad),
                                                            ptr<T>(square_avg), ptr<T>(acc_delta), k));
  return btc_check_launch("Adadelta");
}

/* ---- clipping ---------------------------------------------------------------------------- */

/* g = clamp(g * scale, lo, hi) in place; NaN stays NaN. */
template <typename S>
__global__ void scale_clamp_kernel(long long n, S *g, double scale, double lo, double hi) {
  typedef VALUE(S) T;
  const T s = (T)scale, l = (T)lo, h = (T)hi;
  BTC_LOOP(i, n) {
    T x = mul(to_value(g[i]), s);
    g[i] = from_value<S>(x < l ? l : x > h ? h : x);
  }
}

extern "C" int btc_scale_clamp(bt_Tensor *g, double scale, double lo, double hi) {
  if (btc_use(g) < 0) return -1;
  long long n = bt_numel(g);
  if (n == 0) return 0;
  unsigned blocks = btc_blocks(n, BTC_THREADS);
  OPT_DISPATCH("clip_grad", g->dtype,
               scale_clamp_kernel<T><<<blocks, BTC_THREADS>>>(n, ptr<T>(g), scale, lo, hi));
  return btc_check_launch("clip_grad");
}

/* The norm's accumulation: sum of |x|^p (kind 1: p = 1, 2: p = 2, 3: any
** other p) or the largest |x| (kind 0, p infinite), NaN propagating. */
__device__ __forceinline__ double norm_term(double x, int kind, double p) {
  double a = fabs(x);
  return kind == 2 ? x * x : kind == 1 ? a : kind == 3 ? pow(a, p) : a;
}

__device__ __forceinline__ double norm_combine(double s, double a, int kind) {
  if (kind != 0) return s + a;
  return a > s || a != a ? a : s;   /* as cpu/optim.c's MAX_OF: a NaN stays */
}

/* Combines the values of a block (blockDim.x == BTC_THREADS); thread 0
** gets the result. A fixed tree: the same inputs give the same bits. */
__device__ double norm_block(double v, int kind) {
  __shared__ double warp_vals[BTC_THREADS / 32];
  for (int d = 16; d > 0; d >>= 1) v = norm_combine(v, __shfl_down_sync(0xffffffffu, v, d), kind);
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_vals[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < BTC_THREADS / 32 ? warp_vals[lane] : 0;
    for (int d = 16; d > 0; d >>= 1) v = norm_combine(v, __shfl_down_sync(0xffffffffu, v, d), kind);
  }
  return v;
}

/* part[b] = block b's share of a grid-stride pass over g[0..n). The
** identity is 0 for both kinds (|x| >= 0). */
template <typename S>
__global__ void norm_partial(long long n, const S *g, int kind, double p, double *part) {
  double acc = 0;
  BTC_LOOP(i, n) acc = norm_combine(acc, norm_term((double)to_value(g[i]), kind, p), kind);
  acc = norm_block(acc, kind);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

/* *out = the parts combined: strided over the threads of one block, then
** the block's tree. */
__global__ void norm_final(int nparts, const double *part, int kind, double *out) {
  double acc = 0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) acc = norm_combine(acc, part[i], kind);
  acc = norm_block(acc, kind);
  if (threadIdx.x == 0) *out = acc;
}

/* out is device memory (dispatch.h): the caller reads every parameter's
** term back at once. */
extern "C" int btc_grad_norm(const bt_Tensor *g, double p, double *out) {
  const char *op = "clip_grad_norm";
  if (btc_use(g) < 0) return -1;
  long long n = bt_numel(g);
  if (n == 0) return btc_check(cudaMemsetAsync(out, 0, sizeof *out, 0), op);
  if (!bt_dtype_is_float(g->dtype)) return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(g->dtype));
  int kind = isinf(p) ? 0 : p == 1 ? 1 : p == 2 ? 2 : 3;
  unsigned blocks = btc_blocks(n, BTC_THREADS * 4);
  int64_t bytes = (int64_t)blocks * (int64_t)sizeof(double);
  double *part = (double *)btc_scratch(op, bytes);
  if (!part) return -1;
  OPT_DISPATCH(op, g->dtype,
               norm_partial<T><<<blocks, BTC_THREADS>>>(n, (const T *)bt_data(g), kind, p, part));
  int rc = btc_check_launch(op);
  if (rc == 0) {
    norm_final<<<1, BTC_THREADS>>>((int)blocks, part, kind, out);
    rc = btc_check_launch(op);
  }
  btc_scratch_free(part, bytes);   /* stream-ordered: the kernels above run before any reuse */
  return rc;
}
