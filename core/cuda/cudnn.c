/*
** cuda/cudnn.c: convolutions and batch normalisation through cuDNN 9
** (the conv and norm kernel families of dispatch.h).
**
** Loading. cuDNN is opened with dlopen on the first convolution or batch
** norm ($BRASA_CUDNN_LIBRARY, else libcudnn.so.9 through the usual search:
** LD_LIBRARY_PATH, then this library's RUNPATH, which names the toolkit's
** lib folder; last, beside a cuBLAS from PyTorch's wheels), not linked: cuDNN is a separate, large install (the toolkit
** or PyTorch's nvidia-cudnn-cu13 wheel), and a machine with CUDA and cuBLAS
** but no cuDNN should still run every other GPU op. Without it,
** convolutions fail saying why and batch norm runs on channel.cu's kernels.
** The pointers are typed from cuDNN's own header (__typeof__), so their
** signatures are cuDNN's.
**
** API. The legacy descriptor API (cudnnConvolutionForward and friends). It
** is marked deprecated in cuDNN 9 but complete and stable through 9.x; the
** graph API is the way forward for fused kernels, at several times the code.
**
** Layout. Tensors arrive contiguous NCHW and go to cuDNN as NCHW. NHWC runs
** faster on tensor cores for f16/bf16, but would cost a transpose of every
** input and output here: worth it only once tensors can live channels-last.
**
** Precision. f32 is exact (CUDNN_FMA_MATH) unless bt_cuda_allow_tf32() is
** on (then CUDNN_DEFAULT_MATH, which allows TF32); f16 and bf16 use tensor
** cores with f32 accumulation; f64 computes in f64.
**
** Padding. bt_ConvGeom keeps the leading pads (ph, pw) and the output size;
** the trailing pad is whatever the output size implies. cuDNN pads both
** sides alike, and derives the output size from that. Per spatial axis (in,
** pad p, dilated kernel span, stride s, out): the windows cover E = (out -
** 1) s + span padded positions, so the trailing pad in effect is q = E - in
** - p (negative when the last input rows are never read). cuDNN with pad p
** gives out + floor((p - q) / s) outputs: exact when 0 <= p - q < s, and
** then it is used as is. Otherwise the axis is padded here: the input is
** copied into a zeroed buffer of E positions (rows [p, p + in) of it, cut at
** E) and cuDNN runs unpadded; the input gradient is computed into such a
** buffer and its rows cut back out (rows past E get 0).
**
** Sizes. The legacy API indexes with 32 bits, so the batch is split into
** chunks whose tensors hold at most INT32_MAX elements (the weight gradient
** accumulates over them with beta = 1).
**
** Alignment. Operands whose data does not start 16-byte aligned (views at
** an offset) are copied to aligned buffers for cuDNN (conv_call); batch
** norm on such tensors runs on channel.cu's kernels.
**
** Algorithms. Chosen per problem (pass, device, dtype, math, the shapes and
** the geometry of a chunk) and kept in a small hash table: by default from
** cuDNN's heuristics (cudnnGet*_v7), or, when brasa.cuda.benchmark(true),
** by timing them (cudnnFind*Ex, once per problem, as PyTorch's
** cudnn.benchmark). The candidates are kept in order and the first whose
** workspace can be allocated, and that accepts the problem, runs.
** Workspaces come from the caching allocator per call: the same block comes
** back the next step, and empty_cache() can give it back, which a
** workspace held here could not.
**
** Streams: cuDNN runs on the legacy default stream, as every kernel of the
** backend (common.h), so buffers freed after a call are safe to reuse.
*/
#include "common.h"
#include "kernels.h"
#include "channel.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>

#ifdef BTC_HAVE_CUDNN
#include <cublas_v2.h>
#include <cudnn.h>
#endif

#define MAX_DEVICES 64

#if defined(BTC_HAVE_CUDNN) && !defined(CUDNN_STATUS_CATEGORY)
/* cuDNN 9's status codes are grouped by thousands (older 9.x headers may
** lack the macro). */
#define CUDNN_STATUS_CATEGORY(s) ((s) / 1000 * 1000)
#endif

#ifndef BTC_HAVE_CUDNN
/* Built without cuDNN's headers: convolutions fail saying so, batch norm
** runs on channel.cu's kernels. */
static int no_cudnn(const char *op) {
  return bt_seterr("%s: this build of the CUDA backend has no cuDNN (its headers were not found "
                   "at build time); convolutions on the GPU need cuDNN 9", op);
}
int btc_conv2d(bt_Tensor *y, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *bias,
               const bt_ConvGeom *g) {
  return no_cudnn("conv2d");
}
int btc_conv2d_input(bt_Tensor *x, const bt_Tensor *y, const bt_Tensor *w, const bt_Tensor *bias,
                     const bt_ConvGeom *g) {
  return no_cudnn("conv_transpose2d");
}
int btc_conv2d_weight(bt_Tensor *w, bt_Tensor *bias, const bt_Tensor *x, const bt_Tensor *y,
                      const bt_ConvGeom *g) {
  return no_cudnn("conv2d (weight gradient)");
}
int btc_batch_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                   const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                   bt_Tensor *running_var, bool training, double momentum, double eps) {
  return btc_bn_forward(y, mean, invstd, x, weight, bias, running_mean, running_var, training,
                        momentum, eps);
}
int btc_batch_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                            const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                            const bt_Tensor *invstd, bool training, double eps) {
  return btc_bn_backward(gx, gw, gb, g, x, weight, mean, invstd, training);
}
#else

/* ---- loading ------------------------------------------------------------------------ */

/* Every cuDNN function used here, once. */
#define CUDNN_FUNCS(X)                                                                         \
  X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnCreate) X(cudnnDestroy) X(cudnnSetStream)   \
  X(cudnnCreateTensorDescriptor) X(cudnnSetTensor4dDescriptor) X(cudnnDestroyTensorDescriptor) \
  X(cudnnCreateFilterDescriptor) X(cudnnSetFilter4dDescriptor) X(cudnnDestroyFilterDescriptor) \
  X(cudnnCreateConvolutionDescriptor) X(cudnnSetConvolution2dDescriptor)                       \
  X(cudnnSetConvolutionGroupCount) X(cudnnSetConvolutionMathType)                              \
  X(cudnnDestroyConvolutionDescriptor)                                                         \
  X(cudnnGetConvolutionForwardAlgorithm_v7) X(cudnnFindConvolutionForwardAlgorithmEx)          \
  X(cudnnConvolutionForward)                                                                   \
  X(cudnnGetConvolutionBackwardDataAlgorithm_v7) X(cudnnFindConvolutionBackwardDataAlgorithmEx) \
  X(cudnnConvolutionBackwardData)                                                              \
  X(cudnnGetConvolutionBackwardFilterAlgorithm_v7)                                             \
  X(cudnnFindConvolutionBackwardFilterAlgorithmEx) X(cudnnConvolutionBackwardFilter)           \
  X(cudnnDeriveBNTensorDescriptor) X(cudnnBatchNormalizationForwardTraining)                   \
  X(cudnnBatchNormalizationForwardInference) X(cudnnBatchNormalizationBackward)

#define DECLARE_FN(f) __typeof__(&f) f;
static struct {
  CUDNN_FUNCS(DECLARE_FN)
  __typeof__(&cudnnGetLastErrorString) last_error;   /* optional */
} dn;

static pthread_once_t dn_once = PTHREAD_ONCE_INIT;
static bool dn_loaded;
static char dn_why[640];

/* PyTorch's wheels put cuDNN beside cuBLAS (site-packages/nvidia/cublas/lib
** and nvidia/cudnn/lib): the path it would have there, from where cuBLAS
** was loaded from, or "" (the last place tried). */
static void beside_cublas(char *path, size_t len) {
  Dl_info info;
  path[0] = '\0';
  if (!dladdr((void *)&cublasCreate_v2, &info) || !info.dli_fname) return;
  snprintf(path, len, "%s", info.dli_fname);
  char *slash = strrchr(path, '/');
  if (!slash) {
    path[0] = '\0';
    return;
  }
  size_t n = (size_t)(slash - path);
  snprintf(path + n, len - n, "/../../cudnn/lib/libcudnn.so.9");
}

static void dn_load(void) {
  const char *env = getenv("BRASA_CUDNN_LIBRARY");
  char wheel[PATH_MAX];
  beside_cublas(wheel, sizeof wheel);
  const char *names[4] = {env && *env ? env : NULL, "libcudnn.so.9", "libcudnn.so",
                          wheel[0] ? wheel : NULL};
  void *h = NULL;
  char first[400] = "";
  for (int i = 0; i < 4 && !h; i++) {
    if (!names[i]) continue;
    h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!h && !first[0]) snprintf(first, sizeof first, "%s", dlerror());
  }
  if (!h) {
    snprintf(dn_why, sizeof dn_why,
             "cuDNN 9 could not be loaded (%s); install it (the CUDA toolkit's, or PyTorch's "
             "nvidia-cudnn-cu13 wheel) and put its lib folder on LD_LIBRARY_PATH, or set "
             "BRASA_CUDNN_LIBRARY to libcudnn.so.9", first);
    return;
  }
#define LOAD_FN(f)                                                                  \
  if (!(*(void **)&dn.f = dlsym(h, #f))) {                                          \
    snprintf(dn_why, sizeof dn_why, "the cuDNN library loaded lacks %s (cuDNN 9 needed)", #f); \
    return;                                                                         \
  }
  CUDNN_FUNCS(LOAD_FN)
#undef LOAD_FN
  *(void **)&dn.last_error = dlsym(h, "cudnnGetLastErrorString");
  size_t v = dn.cudnnGetVersion();
  if (v / 10000 != 9) {   /* before 9.0 the version was major * 1000 + minor * 100 + patch */
    snprintf(dn_why, sizeof dn_why, "cuDNN %zu.%zu was loaded; this build needs cuDNN 9",
             v < 10000 ? v / 1000 : v / 10000, v / 100 % (v < 10000 ? 10 : 100));
    return;
  }
  dn_loaded = true;   /* the library stays loaded for the process */
}

static bool dn_ready(void) {
  pthread_once(&dn_once, dn_load);
  return dn_loaded;
}

/* -1 and "op: status (what; cuDNN's last error)"; desc describes the shapes. */
static int dn_fail(cudnnStatus_t s, const char *op, const char *call, const char *desc) {
  char last[256] = "";
  if (dn.last_error) dn.last_error(last, sizeof last);
  return bt_seterr("%s: cuDNN %s failed: %s (%s)%s%s", op, call, dn.cudnnGetErrorString(s), desc,
                   last[0] ? ": " : "", last);
}

static cudnnHandle_t handles[MAX_DEVICES];
static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;

/* The handle of device dev (made on first use, on the legacy default
** stream), or NULL with cuDNN's status in *s. */
static cudnnHandle_t device_handle(int dev, cudnnStatus_t *s) {
  pthread_mutex_lock(&handle_lock);
  *s = CUDNN_STATUS_SUCCESS;
  if (!handles[dev]) {
    cudnnHandle_t h = NULL;
    *s = dn.cudnnCreate(&h);
    if (*s == CUDNN_STATUS_SUCCESS) *s = dn.cudnnSetStream(h, NULL);   /* NULL: the legacy stream */
    if (*s == CUDNN_STATUS_SUCCESS) handles[dev] = h;
    else if (h) dn.cudnnDestroy(h);
  }
  cudnnHandle_t h = handles[dev];
  pthread_mutex_unlock(&handle_lock);
  return h;
}

/* The handle of the current device, or NULL with a message. */
static cudnnHandle_t dn_handle(const char *op) {
  if (!dn_ready()) return bt_seterr("%s: %s", op, dn_why), NULL;
  int dev = 0;
  if (btc_check(cudaGetDevice(&dev), op) < 0) return NULL;
  if (dev < 0 || dev >= MAX_DEVICES) return bt_seterr("%s: device %d out of range", op, dev), NULL;
  cudnnStatus_t s;
  cudnnHandle_t h = device_handle(dev, &s);
  if (!h) dn_fail(s, op, "cudnnCreate", "making the cuDNN handle");
  return h;
}

/* Whether cuDNN is loaded and makes a handle on the current device (batch
** norm asks: without one its own kernels serve, conv fails saying why). */
static bool dn_usable(void) {
  int dev = 0;
  cudnnStatus_t s;
  if (!dn_ready()) return false;
  if (cudaGetDevice(&dev) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return dev >= 0 && dev < MAX_DEVICES && device_handle(dev, &s) != NULL;
}

static cudnnDataType_t dn_dtype(bt_DType dt) {
  switch (dt) {
    case BT_F64: return CUDNN_DATA_DOUBLE;
    case BT_F16: return CUDNN_DATA_HALF;
    case BT_BF16: return CUDNN_DATA_BFLOAT16;
    default: return CUDNN_DATA_FLOAT;
  }
}

/* alpha = 1 and beta = 0 or 1 in the type cuDNN reads them (double for
** f64 data, float otherwise). */
typedef struct {
  float f;
  double d;
} Scalar;
static const void *scalar(bt_DType dt, Scalar *s, double v) {
  s->f = (float)v;
  s->d = v;
  return dt == BT_F64 ? (const void *)&s->d : (const void *)&s->f;
}

/* ---- convolution problems ------------------------------------------------------------- */

typedef enum { PASS_FWD, PASS_DATA, PASS_FILTER } Pass;
static const char *pass_call[] = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData",
                                  "cudnnConvolutionBackwardFilter"};

/* One spatial axis: how cuDNN sees it. */
typedef struct {
  int64_t len;     /* the input length cuDNN sees: in, or E when padded here */
  int64_t pad;     /* cuDNN's symmetric padding */
  int64_t off;     /* padded here: input row r sits at row r + off of the buffer */
  int64_t count;   /* ... for r in [0, count) */
  bool padded;     /* padded here */
} Axis;

static void plan_axis(Axis *a, int64_t in, int64_t p, int64_t k, int64_t d, int64_t s,
                      int64_t out) {
  int64_t E = (out - 1) * s + d * (k - 1) + 1, q = E - in - p;
  if (in > 0 && p - q >= 0 && p - q < s) {
    *a = (Axis){.len = in, .pad = p, .off = 0, .count = in, .padded = false};
  } else {
    int64_t count = BT_MIN(E - p, in);
    *a = (Axis){.len = E, .pad = 0, .off = p, .count = count > 0 ? count : 0, .padded = true};
  }
}

/* A chunk of the batch as cuDNN sees it: the key of the algorithm cache. */
typedef struct {
  int pass, device, benchmark, dtype, math;
  int n, c, h, w, oc, oh, ow, kh, kw, groups, ph, pw, sh, sw, dh, dw;
} Problem;

typedef struct {
  cudnnTensorDescriptor_t x, y;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
} Desc;

static void desc_free(Desc *d) {
  if (d->x) dn.cudnnDestroyTensorDescriptor(d->x);
  if (d->y) dn.cudnnDestroyTensorDescriptor(d->y);
  if (d->w) dn.cudnnDestroyFilterDescriptor(d->w);
  if (d->conv) dn.cudnnDestroyConvolutionDescriptor(d->conv);
  memset(d, 0, sizeof *d);
}

static cudnnStatus_t desc_make(Desc *d, const Problem *p, const char **call) {
  memset(d, 0, sizeof *d);
  cudnnDataType_t dt = dn_dtype((bt_DType)p->dtype);
  /* f16/bf16 accumulate in f32 (cuDNN's "pseudo half" configuration). */
  cudnnDataType_t ct = dt == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  cudnnStatus_t s;
  *call = "cudnnCreateTensorDescriptor";
  if ((s = dn.cudnnCreateTensorDescriptor(&d->x)) || (s = dn.cudnnCreateTensorDescriptor(&d->y)))
    return s;
  *call = "cudnnCreateFilterDescriptor";
  if ((s = dn.cudnnCreateFilterDescriptor(&d->w))) return s;
  *call = "cudnnCreateConvolutionDescriptor";
  if ((s = dn.cudnnCreateConvolutionDescriptor(&d->conv))) return s;
  *call = "cudnnSetTensor4dDescriptor";
  if ((s = dn.cudnnSetTensor4dDescriptor(d->x, CUDNN_TENSOR_NCHW, dt, p->n, p->c, p->h, p->w)) ||
      (s = dn.cudnnSetTensor4dDescriptor(d->y, CUDNN_TENSOR_NCHW, dt, p->n, p->oc, p->oh, p->ow)))
    return s;
  *call = "cudnnSetFilter4dDescriptor";
  if ((s = dn.cudnnSetFilter4dDescriptor(d->w, dt, CUDNN_TENSOR_NCHW, p->oc, p->c / p->groups,
                                         p->kh, p->kw)))
    return s;
  *call = "cudnnSetConvolution2dDescriptor";
  if ((s = dn.cudnnSetConvolution2dDescriptor(d->conv, p->ph, p->pw, p->sh, p->sw, p->dh, p->dw,
                                              CUDNN_CROSS_CORRELATION, ct)))
    return s;
  *call = "cudnnSetConvolutionGroupCount";
  if ((s = dn.cudnnSetConvolutionGroupCount(d->conv, p->groups))) return s;
  *call = "cudnnSetConvolutionMathType";
  return dn.cudnnSetConvolutionMathType(d->conv, (cudnnMathType_t)p->math);
}

/* "x [8x3x32x32] w [16x3x3x3] y [8x16x30x30] f32, stride 1x1, ..." */
static const char *describe(const Problem *p, char *buf, size_t len) {
  snprintf(buf, len,
           "input [%dx%dx%dx%d], weight [%dx%dx%dx%d], output [%dx%dx%dx%d], %s, stride %dx%d, "
           "padding %dx%d, dilation %dx%d, groups %d%s",
           p->n, p->c, p->h, p->w, p->oc, p->c / p->groups, p->kh, p->kw, p->n, p->oc, p->oh,
           p->ow, bt_dtype_name((bt_DType)p->dtype), p->sh, p->sw, p->ph, p->pw, p->dh, p->dw,
           p->groups, p->dtype == BT_F32 && p->math != CUDNN_FMA_MATH ? ", TF32 allowed" : "");
  return buf;
}

/* ---- the algorithm cache ----------------------------------------------------------------- */

#define MAX_ALGOS 16

/* Candidates in order of preference. */
typedef struct {
  int count;
  struct {
    int algo, math;
    size_t memory;
  } c[MAX_ALGOS];
} Choice;

typedef struct {
  bool used;
  Problem key;
  Choice choice;
} Slot;

static Slot *slots;
static size_t nslots, nused;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t hash_problem(const Problem *p) {
  const unsigned char *b = (const unsigned char *)p;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < sizeof *p; i++) h = (h ^ b[i]) * 1099511628211ull;
  return (size_t)h;
}

/* The slot of key, or the empty one where it would go (lock held). */
static Slot *cache_find(Slot *tab, size_t n, const Problem *key) {
  size_t i = hash_problem(key) & (n - 1);
  while (tab[i].used && memcmp(&tab[i].key, key, sizeof *key) != 0) i = (i + 1) & (n - 1);
  return &tab[i];
}

static bool cache_get(const Problem *key, Choice *out) {
  pthread_mutex_lock(&cache_lock);
  Slot *s = nslots ? cache_find(slots, nslots, key) : NULL;
  bool hit = s && s->used;
  if (hit) *out = s->choice;
  pthread_mutex_unlock(&cache_lock);
  return hit;
}

/* Remembers a choice; without memory to grow the table it is just not kept. */
static void cache_put(const Problem *key, const Choice *c) {
  pthread_mutex_lock(&cache_lock);
  if (2 * (nused + 1) > nslots) {
    size_t n = nslots ? 2 * nslots : 64;
    Slot *tab = calloc(n, sizeof *tab);
    if (tab) {
      for (size_t i = 0; i < nslots; i++)
        if (slots[i].used) *cache_find(tab, n, &slots[i].key) = slots[i];
      free(slots);
      slots = tab;
      nslots = n;
    }
  }
  if (2 * (nused + 1) <= nslots) {
    Slot *s = cache_find(slots, nslots, key);
    if (!s->used) nused++;
    s->used = true;
    s->key = *key;
    s->choice = *c;
  }
  pthread_mutex_unlock(&cache_lock);
}

/* ---- choosing and running an algorithm ------------------------------------------------- */

/* One call of a pass on one chunk. */
typedef struct {
  const char *op;
  cudnnHandle_t h;
  Problem p;
  Desc d;
  const void *x, *w, *y;   /* inputs of the pass (the output's pointer is `out`) */
  void *out;
  int64_t out_bytes;       /* size of the output (the weight gradient's scratch for Find) */
  double beta;             /* 0: overwrite; 1: accumulate (weight gradient chunks) */
} Call;

/* Keeps the usable results of a query, in cuDNN's order. Exact f32 skips
** tensor-core algorithms; nothing may convert f32 to f16. */
static void keep(Choice *c, const Problem *p, int algo, cudnnStatus_t status, size_t memory,
                 cudnnMathType_t math) {
  if (status != CUDNN_STATUS_SUCCESS || c->count == MAX_ALGOS) return;
  /* cuDNN has reported absurd sizes (past 2^63; PyTorch guards the same
  ** way): one past INT64_MAX would turn negative in btc_alloc's int64_t
  ** and come back as a tiny block that cuDNN then overruns. */
  if (memory > ((size_t)1 << 40)) return;
  if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return;
  if (p->math == CUDNN_FMA_MATH && math == CUDNN_TENSOR_OP_MATH) return;
  c->c[c->count].algo = algo;
  c->c[c->count].math = p->math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : (int)math;
  c->c[c->count].memory = memory;
  c->count++;
}

/* Asks cuDNN's heuristics, or times the algorithms with a workspace of ws
** bytes (benchmark: ws non-NULL or wsize 0). */
static cudnnStatus_t query(Call *k, bool timed, void *ws, size_t wsize, void *scratch_out,
                           Choice *c) {
  int got = 0;
  cudnnStatus_t s;
  Desc *d = &k->d;
  memset(c, 0, sizeof *c);
  switch ((Pass)k->p.pass) {
    case PASS_FWD: {
      cudnnConvolutionFwdAlgoPerf_t r[MAX_ALGOS];
      s = timed ? dn.cudnnFindConvolutionForwardAlgorithmEx(k->h, d->x, k->x, d->w, k->w, d->conv,
                                                           d->y, scratch_out, MAX_ALGOS, &got, r,
                                                           ws, wsize)
                : dn.cudnnGetConvolutionForwardAlgorithm_v7(k->h, d->x, d->w, d->conv, d->y,
                                                            MAX_ALGOS, &got, r);
      for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < got; i++)
        keep(c, &k->p, r[i].algo, r[i].status, r[i].memory, r[i].mathType);
      break;
    }
    case PASS_DATA: {
      cudnnConvolutionBwdDataAlgoPerf_t r[MAX_ALGOS];
      s = timed ? dn.cudnnFindConvolutionBackwardDataAlgorithmEx(k->h, d->w, k->w, d->y, k->y,
                                                                d->conv, d->x, scratch_out,
                                                                MAX_ALGOS, &got, r, ws, wsize)
                : dn.cudnnGetConvolutionBackwardDataAlgorithm_v7(k->h, d->w, d->y, d->conv, d->x,
                                                                 MAX_ALGOS, &got, r);
      for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < got; i++)
        keep(c, &k->p, r[i].algo, r[i].status, r[i].memory, r[i].mathType);
      break;
    }
    default: {
      cudnnConvolutionBwdFilterAlgoPerf_t r[MAX_ALGOS];
      s = timed ? dn.cudnnFindConvolutionBackwardFilterAlgorithmEx(k->h, d->x, k->x, d->y, k->y,
                                                                  d->conv, d->w, scratch_out,
                                                                  MAX_ALGOS, &got, r, ws, wsize)
                : dn.cudnnGetConvolutionBackwardFilterAlgorithm_v7(k->h, d->x, d->y, d->conv,
                                                                   d->w, MAX_ALGOS, &got, r);
      for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < got; i++)
        keep(c, &k->p, r[i].algo, r[i].status, r[i].memory, r[i].mathType);
      break;
    }
  }
  return s;
}

/* Times the algorithms (benchmark mode): with the largest workspace the
** heuristics' candidates ask for that can be allocated, into a scratch
** output for the weight gradient (whose chunks accumulate). */
static int benchmark(Call *k, Choice *c) {
  char buf[400];
  Choice h;
  cudnnStatus_t s = query(k, false, NULL, 0, NULL, &h);
  if (s) return dn_fail(s, k->op, "heuristics", describe(&k->p, buf, sizeof buf));
  size_t wsize = 0;
  for (int i = 0; i < h.count; i++) wsize = BT_MAX(wsize, h.c[i].memory);
  void *ws = NULL;
  while (wsize > 0 && !(ws = btc_alloc((int64_t)wsize))) {   /* too big: the next size down */
    size_t next = 0;
    for (int i = 0; i < h.count; i++)
      if (h.c[i].memory < wsize) next = BT_MAX(next, h.c[i].memory);
    wsize = next;
  }
  void *out = k->out, *scratch = NULL;
  if (k->p.pass == PASS_FILTER) {
    if (!(scratch = btc_alloc(k->out_bytes))) {
      btc_free(ws);
      return -1;
    }
    out = scratch;
  }
  s = query(k, true, ws, wsize, out, c);
  btc_free(ws);
  btc_free(scratch);
  if (s) return dn_fail(s, k->op, "algorithm search", describe(&k->p, buf, sizeof buf));
  /* Find measured within wsize; the heuristics' picks stay as a fallback. */
  for (int i = 0; i < h.count && c->count < MAX_ALGOS; i++) c->c[c->count++] = h.c[i];
  return 0;
}

static int choose(Call *k, Choice *c) {
  if (cache_get(&k->p, c)) return 0;
  char buf[400];
  if (k->p.benchmark) {
    if (benchmark(k, c) < 0) return -1;
  } else {
    cudnnStatus_t s = query(k, false, NULL, 0, NULL, c);
    if (s) return dn_fail(s, k->op, "heuristics", describe(&k->p, buf, sizeof buf));
  }
  if (c->count == 0)
    return bt_seterr("%s: cuDNN offers no algorithm for %s", k->op,
                     describe(&k->p, buf, sizeof buf));
  cache_put(&k->p, c);
  return 0;
}

/* Runs the pass: the first candidate whose workspace can be allocated. */
static int run(Call *k) {
  Choice c;
  if (choose(k, &c) < 0) return -1;
  char buf[400];
  Scalar one, beta;
  const void *pone = scalar((bt_DType)k->p.dtype, &one, 1);
  const void *pbeta = scalar((bt_DType)k->p.dtype, &beta, k->beta);
  cudnnStatus_t unsupported = CUDNN_STATUS_SUCCESS;   /* the first candidate's that could not run */
  for (int i = 0; i < c.count; i++) {
    size_t wsize = c.c[i].memory;
    void *ws = wsize ? btc_alloc((int64_t)wsize) : NULL;
    if (wsize && !ws) continue;   /* out of memory: try one that needs less */
    cudnnStatus_t s = dn.cudnnSetConvolutionMathType(k->d.conv, (cudnnMathType_t)c.c[i].math);
    if (s == CUDNN_STATUS_SUCCESS) {
      Desc *d = &k->d;
      switch ((Pass)k->p.pass) {
        case PASS_FWD:
          s = dn.cudnnConvolutionForward(k->h, pone, d->x, k->x, d->w, k->w, d->conv,
                                         (cudnnConvolutionFwdAlgo_t)c.c[i].algo, ws, wsize, pbeta,
                                         d->y, k->out);
          break;
        case PASS_DATA:
          s = dn.cudnnConvolutionBackwardData(k->h, pone, d->w, k->w, d->y, k->y, d->conv,
                                              (cudnnConvolutionBwdDataAlgo_t)c.c[i].algo, ws,
                                              wsize, pbeta, d->x, k->out);
          break;
        default:
          s = dn.cudnnConvolutionBackwardFilter(k->h, pone, d->x, k->x, d->y, k->y, d->conv,
                                                (cudnnConvolutionBwdFilterAlgo_t)c.c[i].algo, ws,
                                                wsize, pbeta, d->w, k->out);
          break;
      }
    }
    btc_free(ws);   /* stream-ordered: reused only by work queued after this call */
    /* The heuristics can offer an algorithm that then refuses the problem
    ** (NOT_SUPPORTED, before it writes anything): the next one is tried. */
    if (CUDNN_STATUS_CATEGORY(s) == CUDNN_STATUS_NOT_SUPPORTED) {
      if (!unsupported) unsupported = s;
      continue;
    }
    if (s != CUDNN_STATUS_SUCCESS)
      return dn_fail(s, k->op, pass_call[k->p.pass], describe(&k->p, buf, sizeof buf));
    if (i > 0) {   /* the ones before did not fit or refused: next time, start here (each miss frees the cache) */
      Choice rest = {.count = c.count - i};
      memcpy(rest.c, c.c + i, (size_t)rest.count * sizeof c.c[0]);
      cache_put(&k->p, &rest);
    }
    return 0;
  }
  if (unsupported)
    return dn_fail(unsupported, k->op, pass_call[k->p.pass], describe(&k->p, buf, sizeof buf));
  size_t least = c.c[0].memory;
  for (int i = 1; i < c.count; i++) least = BT_MIN(least, c.c[i].memory);
  return bt_seterr("%s: no cuDNN algorithm's workspace fits in GPU memory (%s; the smallest "
                   "asks %zu bytes): %s", k->op, describe(&k->p, buf, sizeof buf), least,
                   bt_errmsg());
}

/* ---- the three kernels ----------------------------------------------------------------- */

/* A convolution of geometry g split into chunks for cuDNN. */
typedef struct {
  const char *op;
  const bt_ConvGeom *g;
  bt_DType dtype;
  Axis ah, aw;
  int64_t nb;          /* images per chunk */
  bt_Tensor *pad;      /* [nb, c, ah.len, aw.len] when an axis is padded here */
} Conv;

static int conv_setup(Conv *cv, const char *op, const bt_ConvGeom *g, bt_DType dt, bt_Device dev) {
  memset(cv, 0, sizeof *cv);
  cv->op = op;
  cv->g = g;
  cv->dtype = dt;
  plan_axis(&cv->ah, g->h, g->ph, g->kh, g->dh, g->sh, g->oh);
  plan_axis(&cv->aw, g->w, g->pw, g->kw, g->dw, g->sw, g->ow);
  int64_t in_img = g->c * cv->ah.len * cv->aw.len, out_img = g->oc * g->oh * g->ow;
  int64_t img = BT_MAX(in_img, BT_MAX(out_img, g->c * g->h * g->w));
  int64_t wsize = g->oc * (g->c / g->groups) * g->kh * g->kw;
  if (img > INT32_MAX || wsize > INT32_MAX || cv->ah.pad > INT32_MAX || cv->aw.pad > INT32_MAX ||
      g->sh > INT32_MAX || g->sw > INT32_MAX || g->dh > INT32_MAX || g->dw > INT32_MAX)
    return bt_seterr("%s: one image (%lld elements in, %lld out) or the weight (%lld) exceeds "
                     "cuDNN's 32-bit indexing", op, (long long)in_img, (long long)out_img,
                     (long long)wsize);
  cv->nb = BT_MAX(1, BT_MIN(g->n, INT32_MAX / BT_MAX(img, 1)));
  /* Chunks of a multiple of 16 images start 16-byte aligned (see stage_in). */
  if (cv->nb < g->n && cv->nb >= 16) cv->nb -= cv->nb % 16;
  if (cv->ah.padded || cv->aw.padded) {
    int64_t shape[4] = {cv->nb, g->c, cv->ah.len, cv->aw.len};
    if (!(cv->pad = bt_empty(4, shape, dt, dev))) return -1;
  }
  return 0;
}

/* The problem of a chunk of nb images. */
static void conv_problem(const Conv *cv, Pass pass, int64_t nb, Problem *p) {
  const bt_ConvGeom *g = cv->g;
  memset(p, 0, sizeof *p);
  int dev = 0;
  cudaGetDevice(&dev);
  p->pass = pass;
  p->device = dev;
  p->benchmark = bt_cuda_benchmark();
  p->dtype = cv->dtype;
  p->math = cv->dtype == BT_F32 ? (bt_cuda_allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH)
            : cv->dtype == BT_F64 ? CUDNN_DEFAULT_MATH
                                  : CUDNN_TENSOR_OP_MATH;
  p->n = (int)nb, p->c = (int)g->c, p->h = (int)cv->ah.len, p->w = (int)cv->aw.len;
  p->oc = (int)g->oc, p->oh = (int)g->oh, p->ow = (int)g->ow;
  p->kh = (int)g->kh, p->kw = (int)g->kw, p->groups = (int)g->groups;
  p->ph = (int)cv->ah.pad, p->pw = (int)cv->aw.pad;
  p->sh = (int)g->sh, p->sw = (int)g->sw, p->dh = (int)g->dh, p->dw = (int)g->dw;
}

/* Alignment. cuDNN's kernels use vector loads, and cuDNN 9 has a status
** for operands they cannot take (CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER).
** Allocator blocks are 256-byte aligned, but a tensor may start at an
** offset in its storage (a view of part of a batch), and so may a chunk of
** a batch: such an operand goes through an aligned copy. */
#define DN_ALIGN 16
static bool misaligned(const void *p) { return (uintptr_t)p % DN_ALIGN != 0; }

/* Leaves *p when aligned (or NULL), else points it to an aligned copy of
** its `bytes` bytes made in *tmp (the caller frees *tmp). */
static int stage_in(const char *op, const void **p, int64_t bytes, void **tmp) {
  *tmp = NULL;
  if (!*p || !misaligned(*p) || bytes <= 0) return 0;
  if (!(*tmp = btc_alloc(bytes))) return -1;
  if (btc_check(cudaMemcpyAsync(*tmp, *p, (size_t)bytes, cudaMemcpyDeviceToDevice, 0), op) < 0)
    return -1;
  *p = *tmp;
  return 0;
}

/* Runs one pass on images [n0, n0 + nb): the data pointers given for it
** (x: the input cuDNN sees, padded or not; out: out_bytes bytes). */
static int conv_call(const Conv *cv, Pass pass, int64_t nb, const void *x, const void *w,
                     const void *y, void *out, int64_t out_bytes, double beta) {
  const bt_ConvGeom *g = cv->g;
  int64_t es = (int64_t)bt_dtype_size(cv->dtype);
  int64_t xbytes = nb * g->c * cv->ah.len * cv->aw.len * es, ybytes = nb * g->oc * g->oh * g->ow * es;
  int64_t wbytes = g->oc * (g->c / g->groups) * g->kh * g->kw * es;
  void *tx = NULL, *tw = NULL, *ty = NULL, *tout = NULL, *dst = out;
  int rc = stage_in(cv->op, &x, xbytes, &tx);
  if (rc == 0) rc = stage_in(cv->op, &w, wbytes, &tw);
  if (rc == 0) rc = stage_in(cv->op, &y, ybytes, &ty);
  if (rc == 0 && misaligned(out)) {   /* beta = 1 adds to what out holds: copy that in too */
    const void *o = out;
    if (beta != 0) rc = stage_in(cv->op, &o, out_bytes, &tout);
    else if (!(tout = btc_alloc(out_bytes))) rc = -1;
    dst = tout;
  }
  Call k;
  memset(&k, 0, sizeof k);
  k.op = cv->op;
  if (rc == 0 && !(k.h = dn_handle(cv->op))) rc = -1;
  if (rc == 0) {
    conv_problem(cv, pass, nb, &k.p);
    k.x = x, k.w = w, k.y = y, k.out = dst, k.out_bytes = out_bytes, k.beta = beta;
    const char *call = "";
    char buf[400];
    cudnnStatus_t s = desc_make(&k.d, &k.p, &call);
    rc = s ? dn_fail(s, cv->op, call, describe(&k.p, buf, sizeof buf)) : run(&k);
    desc_free(&k.d);
  }
  if (rc == 0 && dst != out)
    rc = btc_check(cudaMemcpyAsync(out, dst, (size_t)out_bytes, cudaMemcpyDeviceToDevice, 0),
                   cv->op);
  btc_free(tx);   /* stream-ordered, as the workspaces */
  btc_free(tw);
  btc_free(ty);
  btc_free(tout);
  return rc;
}

/* A raw 4-D view [nb, c, rows, cols] of t's storage with the strides of an
** image [c, H, W], starting at element `at` of t (no graph, no checks). */
static bt_Tensor *view4(const bt_Tensor *t, int64_t nb, int64_t c, int64_t rows, int64_t cols,
                        int64_t H, int64_t W, int64_t at) {
  int64_t shape[4] = {nb, c, rows, cols}, stride[4] = {c * H * W, H * W, W, 1};
  return bt_alias((bt_Tensor *)t, 4, shape, stride, t->offset + at);
}

/* Copies images [n0, n0 + nb) of x (contiguous [n, c, h, w]) into the
** padded buffer at their offsets (its border stays zero). */
static int pad_in(const Conv *cv, const bt_Tensor *x, int64_t n0, int64_t nb) {
  const bt_ConvGeom *g = cv->g;
  int64_t rows = cv->ah.count, cols = cv->aw.count, H = cv->ah.len, W = cv->aw.len;
  if (rows <= 0 || cols <= 0) return 0;
  bt_Tensor *src = view4(x, nb, g->c, rows, cols, g->h, g->w, n0 * g->c * g->h * g->w);
  bt_Tensor *dst = src ? view4(cv->pad, nb, g->c, rows, cols, H, W, cv->ah.off * W + cv->aw.off) : NULL;
  int rc = dst ? btc_copy(dst, src) : -1;
  BT_RELEASE(src, dst);
  return rc;
}

/* The input of the chunk of images [n0, n0 + nb) as cuDNN reads it: x's own
** memory, or the padded buffer filled from it. NULL on failure. */
static const void *chunk_in(const Conv *cv, const bt_Tensor *x, int64_t n0, int64_t nb) {
  const bt_ConvGeom *g = cv->g;
  int64_t img_bytes = g->c * g->h * g->w * (int64_t)bt_dtype_size(x->dtype);
  if (!cv->pad) return (const char *)bt_data(x) + n0 * img_bytes;
  return pad_in(cv, x, n0, nb) == 0 ? bt_data(cv->pad) : NULL;
}

/* The reverse: images [n0, n0 + nb) of x from the buffer; rows and columns
** past its end are 0. */
static int crop_out(const Conv *cv, bt_Tensor *x, int64_t n0, int64_t nb) {
  const bt_ConvGeom *g = cv->g;
  int64_t rows = cv->ah.count, cols = cv->aw.count, H = cv->ah.len, W = cv->aw.len;
  int64_t img = g->c * g->h * g->w;
  size_t es = bt_dtype_size(x->dtype);
  if ((rows < g->h || cols < g->w) &&
      btc_check(cudaMemsetAsync((char *)bt_data(x) + n0 * img * es, 0, (size_t)(nb * img) * es, 0),
                cv->op) < 0)
    return -1;
  if (rows <= 0 || cols <= 0) return 0;
  bt_Tensor *dst = view4(x, nb, g->c, rows, cols, g->h, g->w, n0 * img);
  bt_Tensor *src = dst ? view4(cv->pad, nb, g->c, rows, cols, H, W, cv->ah.off * W + cv->aw.off) : NULL;
  int rc = src ? btc_copy(dst, src) : -1;
  BT_RELEASE(src, dst);
  return rc;
}

static int zero_pad_buffer(const Conv *cv) {
  if (!cv->pad) return 0;
  return btc_check(cudaMemsetAsync(bt_data(cv->pad), 0,
                                   (size_t)bt_numel(cv->pad) * bt_dtype_size(cv->dtype), 0),
                   cv->op);
}

static int check_dtype(const char *op, bt_DType dt) {
  if (dt == BT_F32 || dt == BT_F64 || dt == BT_F16 || dt == BT_BF16) return 0;
  return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(dt));
}

int btc_conv2d(bt_Tensor *y, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *bias,
               const bt_ConvGeom *g) {
  const char *op = "conv2d";
  if (btc_use(y) < 0 || check_dtype(op, y->dtype) < 0) return -1;
  Conv cv;
  if (conv_setup(&cv, op, g, y->dtype, bt_dev(y)) < 0) return -1;
  size_t es = bt_dtype_size(y->dtype);
  int64_t yimg = g->oc * g->oh * g->ow;
  int rc = zero_pad_buffer(&cv);
  for (int64_t n0 = 0; rc == 0 && n0 < g->n; n0 += cv.nb) {
    int64_t nb = BT_MIN(cv.nb, g->n - n0);
    const void *xin = chunk_in(&cv, x, n0, nb);
    rc = xin ? conv_call(&cv, PASS_FWD, nb, xin, bt_data(w), NULL,
                         (char *)bt_data(y) + n0 * yimg * es, nb * yimg * (int64_t)es, 0)
             : -1;
  }
  bt_release(cv.pad);
  if (rc == 0 && bias) rc = btc_channel_bias_add(op, y, bias, g->n, g->oc, g->oh * g->ow);
  return rc;
}

int btc_conv2d_input(bt_Tensor *x, const bt_Tensor *y, const bt_Tensor *w, const bt_Tensor *bias,
                     const bt_ConvGeom *g) {
  const char *op = "conv_transpose2d";
  if (btc_use(x) < 0 || check_dtype(op, x->dtype) < 0) return -1;
  int64_t ximg = g->c * g->h * g->w, yimg = g->oc * g->oh * g->ow;
  if (ximg == 0) return 0;
  size_t es = bt_dtype_size(x->dtype);
  if (yimg == 0) {   /* a transposed conv of an empty image: x = bias (cuDNN takes no 0 dims) */
    int rc = btc_check(cudaMemsetAsync(bt_data(x), 0, (size_t)(g->n * ximg) * es, 0), op);
    if (rc == 0 && bias) rc = btc_channel_bias_add(op, x, bias, g->n, g->c, g->h * g->w);
    return rc;
  }
  Conv cv;
  if (conv_setup(&cv, op, g, x->dtype, bt_dev(x)) < 0) return -1;
  int rc = 0;
  for (int64_t n0 = 0; rc == 0 && n0 < g->n; n0 += cv.nb) {
    int64_t nb = BT_MIN(cv.nb, g->n - n0);
    void *xout = cv.pad ? bt_data(cv.pad) : (char *)bt_data(x) + n0 * ximg * es;
    int64_t bytes = nb * g->c * cv.ah.len * cv.aw.len * (int64_t)es;
    rc = conv_call(&cv, PASS_DATA, nb, NULL, bt_data(w), (const char *)bt_data(y) + n0 * yimg * es,
                   xout, bytes, 0);
    if (rc == 0 && cv.pad) rc = crop_out(&cv, x, n0, nb);
  }
  bt_release(cv.pad);
  if (rc == 0 && bias) rc = btc_channel_bias_add(op, x, bias, g->n, g->c, g->h * g->w);
  return rc;
}

int btc_conv2d_weight(bt_Tensor *w, bt_Tensor *bias, const bt_Tensor *x, const bt_Tensor *y,
                      const bt_ConvGeom *g) {
  const char *op = "conv2d (weight gradient)";
  if (btc_use(w) < 0 || check_dtype(op, w->dtype) < 0) return -1;
  size_t es = bt_dtype_size(w->dtype);
  int rc = 0;
  if (g->n == 0 || g->oh * g->ow == 0) {   /* no products to sum (cuDNN takes no 0 dims) */
    rc = btc_check(cudaMemsetAsync(bt_data(w), 0, (size_t)bt_numel(w) * es, 0), op);
  } else {
    Conv cv;
    if (conv_setup(&cv, op, g, w->dtype, bt_dev(w)) < 0) return -1;
    int64_t yimg = g->oc * g->oh * g->ow;
    rc = zero_pad_buffer(&cv);
    for (int64_t n0 = 0; rc == 0 && n0 < g->n; n0 += cv.nb) {
      int64_t nb = BT_MIN(cv.nb, g->n - n0);
      const void *xin = chunk_in(&cv, x, n0, nb);
      rc = xin ? conv_call(&cv, PASS_FILTER, nb, xin, NULL, (const char *)bt_data(y) + n0 * yimg * es,
                           bt_data(w), bt_numel(w) * (int64_t)es, n0 == 0 ? 0 : 1)
               : -1;
    }
    bt_release(cv.pad);
  }
  if (rc == 0 && bias) {   /* the sum of y over every dim but 1 */
    int64_t shape[4] = {1, g->oc, 1, 1}, stride[4] = {g->oc, 1, 1, 1};
    bt_Tensor *b4 = bt_alias(bias, 4, shape, stride, bias->offset);
    rc = b4 ? btc_reduce(BT_RED_SUM, b4, y, (1u << 0) | (1u << 2) | (1u << 3)) : -1;
    bt_release(b4);
  }
  return rc;
}

/* ---- batch normalisation ------------------------------------------------------------------ */

/* Where cuDNN's batch norm serves (else channel.cu's kernels): spatial
** inputs (S > 1; for [N, C] PyTorch too uses its own kernels), 32-bit
** sizes, and batches within the limits PyTorch observes for cuDNN's
** kernels (880801 images training, 65535 in evaluation). */
static bool bn_by_cudnn(const bt_Tensor *x, bool training, double eps) {
  int64_t N = x->shape[0], C = x->shape[1], S = x->shape[2];
  if (S <= 1 || N < 1 || C < 1 || N * C * S >= INT32_MAX) return false;
  if (N > (training ? 880801 : 65535) || !(eps >= CUDNN_BN_MIN_EPSILON)) return false;
  return dn_usable();
}

/* Every tensor given (NULL or not) starts aligned for cuDNN (see
** misaligned): else channel.cu's kernels serve, which take any offset. */
static bool bn_aligned(int n, const bt_Tensor *const *t) {
  for (int i = 0; i < n; i++)
    if (t[i] && misaligned(bt_data(t[i]))) return false;
  return true;
}

/* C rounded up to a multiple of 4: [C] vectors placed one after another at
** this stride in a scratch buffer stay 16-byte aligned (f32 and f64). */
static int64_t bn_stride(int64_t C) { return (C + 3) / 4 * 4; }

static void bn_descs_free(cudnnTensorDescriptor_t xd, cudnnTensorDescriptor_t pd) {
  if (xd) dn.cudnnDestroyTensorDescriptor(xd);
  if (pd) dn.cudnnDestroyTensorDescriptor(pd);
}

/* x's descriptor as N, C, S, 1 and the derived [1, C, 1, 1] one; on
** failure both are freed (and NULL). */
static int bn_descs(const char *op, const bt_Tensor *x, cudnnTensorDescriptor_t *xd,
                    cudnnTensorDescriptor_t *pd) {
  *xd = *pd = NULL;
  cudnnStatus_t s = dn.cudnnCreateTensorDescriptor(xd);
  if (!s) s = dn.cudnnCreateTensorDescriptor(pd);
  if (!s)
    s = dn.cudnnSetTensor4dDescriptor(*xd, CUDNN_TENSOR_NCHW, dn_dtype(x->dtype), (int)x->shape[0],
                                      (int)x->shape[1], (int)x->shape[2], 1);
  if (!s) s = dn.cudnnDeriveBNTensorDescriptor(*pd, *xd, CUDNN_BATCHNORM_SPATIAL);
  if (s) {
    int rc = dn_fail(s, op, "descriptors", bt_shp(x));   /* first: it reads cuDNN's last message */
    bn_descs_free(*xd, *pd);
    *xd = *pd = NULL;
    return rc;
  }
  return 0;
}

/* t, or a [C] stand-in filled with v (weight 1, bias 0 when affine is off). */
static bt_Tensor *or_filled(const bt_Tensor *t, const bt_Tensor *x, double v, bt_Tensor **made) {
  *made = NULL;
  if (t) return (bt_Tensor *)t;
  int64_t C = x->shape[1];
  bt_Tensor *f = bt_empty(1, &C, x->dtype, bt_dev(x));
  if (f && btc_fill(f, v) < 0) {
    bt_release(f);
    f = NULL;
  }
  return *made = f;
}

int btc_batch_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                   const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                   bt_Tensor *running_var, bool training, double momentum, double eps) {
  const char *op = "batch_norm";
  if (btc_use(x) < 0) return -1;
  if (x->dtype != BT_F32 && x->dtype != BT_F64)
    return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(x->dtype));
  const bt_Tensor *ops[8] = {y, mean, invstd, x, weight, bias, running_mean, running_var};
  if (!bn_by_cudnn(x, training, eps) || !bn_aligned(8, ops))
    return btc_bn_forward(y, mean, invstd, x, weight, bias, running_mean, running_var, training,
                          momentum, eps);
  cudnnHandle_t h = dn_handle(op);
  if (!h) return -1;
  cudnnTensorDescriptor_t xd, pd;
  if (bn_descs(op, x, &xd, &pd) < 0) return -1;
  bt_Tensor *w1 = NULL, *b0 = NULL, *rstat = NULL;
  bt_Tensor *w = or_filled(weight, x, 1, &w1), *b = w ? or_filled(bias, x, 0, &b0) : NULL;
  int rc = b ? 0 : -1;
  Scalar one, zero;
  const void *pone = scalar(x->dtype, &one, 1), *pzero = scalar(x->dtype, &zero, 0);
  cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
  if (rc == 0 && training) {
    /* No running statistics: cuDNN still gets somewhere to write them. */
    void *rm = running_mean ? bt_data(running_mean) : NULL;
    void *rv = running_var ? bt_data(running_var) : NULL;
    if (!rm || !rv) {
      int64_t two_c = 2 * bn_stride(x->shape[1]);
      if (!(rstat = bt_empty(1, &two_c, x->dtype, bt_dev(x))) || btc_fill(rstat, 0) < 0) {
        rc = -1;
      } else {
        rm = bt_data(rstat);
        rv = (char *)rm + bn_stride(x->shape[1]) * bt_dtype_size(x->dtype);
      }
    }
    if (rc == 0)
      s = dn.cudnnBatchNormalizationForwardTraining(
          h, CUDNN_BATCHNORM_SPATIAL, pone, pzero, xd, bt_data(x), xd, bt_data(y), pd, bt_data(w),
          bt_data(b), momentum, rm, rv, eps, bt_data(mean), bt_data(invstd));
  } else if (rc == 0) {
    s = dn.cudnnBatchNormalizationForwardInference(
        h, CUDNN_BATCHNORM_SPATIAL, pone, pzero, xd, bt_data(x), xd, bt_data(y), pd, bt_data(w),
        bt_data(b), bt_data(running_mean), bt_data(running_var), eps);
    if (s == CUDNN_STATUS_SUCCESS) rc = btc_bn_eval_stats(mean, invstd, running_mean, running_var, eps);
  }
  if (rc == 0 && s)
    rc = dn_fail(s, op, training ? "cudnnBatchNormalizationForwardTraining"
                                 : "cudnnBatchNormalizationForwardInference", bt_shp(x));
  BT_RELEASE(w1, b0, rstat);
  bn_descs_free(xd, pd);
  return rc;
}

int btc_batch_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                            const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                            const bt_Tensor *invstd, bool training, double eps) {
  const char *op = "batch_norm_backward";
  if (btc_use(x) < 0) return -1;
  if (x->dtype != BT_F32 && x->dtype != BT_F64)
    return bt_seterr("%s: no CUDA kernel for %s", op, bt_dtype_name(x->dtype));
  /* cuDNN's backward is for batch statistics and always writes gx; the
  ** rest (evaluation mode, or only gw/gb wanted) is channel.cu's. cuDNN
  ** reads the saved mean and invstd, and gets the forward's eps too (its
  ** documentation asks for the same value in both passes). */
  const bt_Tensor *ops[8] = {gx, gw, gb, g, x, weight, mean, invstd};
  if (!training || !gx || !bn_by_cudnn(x, true, eps) || !bn_aligned(8, ops))
    return btc_bn_backward(gx, gw, gb, g, x, weight, mean, invstd, training);
  cudnnHandle_t h = dn_handle(op);
  if (!h) return -1;
  cudnnTensorDescriptor_t xd, pd;
  if (bn_descs(op, x, &xd, &pd) < 0) return -1;
  bt_Tensor *w1 = NULL, *scratch = NULL;
  bt_Tensor *w = or_filled(weight, x, 1, &w1);
  int rc = w ? 0 : -1;
  int64_t C = x->shape[1], two_c = 2 * bn_stride(C);
  void *pgw = gw ? bt_data(gw) : NULL, *pgb = gb ? bt_data(gb) : NULL;
  if (rc == 0 && (!pgw || !pgb)) {
    if (!(scratch = bt_empty(1, &two_c, x->dtype, bt_dev(x)))) {
      rc = -1;
    } else {
      if (!pgw) pgw = bt_data(scratch);
      if (!pgb) pgb = (char *)bt_data(scratch) + bn_stride(C) * bt_dtype_size(x->dtype);
    }
  }
  if (rc == 0) {
    Scalar one, zero;
    const void *pone = scalar(x->dtype, &one, 1), *pzero = scalar(x->dtype, &zero, 0);
    cudnnStatus_t s = dn.cudnnBatchNormalizationBackward(
        h, CUDNN_BATCHNORM_SPATIAL, pone, pzero, pone, pzero, xd, bt_data(x), xd, bt_data(g), xd,
        bt_data(gx), pd, bt_data(w), pgw, pgb, eps, bt_data(mean), bt_data(invstd));
    if (s) rc = dn_fail(s, op, "cudnnBatchNormalizationBackward", bt_shp(x));
  }
  BT_RELEASE(w1, scratch);
  bn_descs_free(xd, pd);
  return rc;
}

#endif /* BTC_HAVE_CUDNN */
