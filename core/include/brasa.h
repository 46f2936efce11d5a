/*
** brasa.h: the public C API of libbrasa, the tensor engine.
**
** Conventions (see shared/DESIGN.md, "Engine principles"):
** - Every function that can fail returns NULL (for tensors) or a negative
**   status (for ints) and leaves a message in bt_errmsg() naming the op and
**   the shapes. Nothing aborts.
** - A function returning bt_Tensor* returns a NEW reference: the caller owns
**   it and drops it with bt_release(). Arguments are borrowed.
** - Dims and indices are 0-based here; negative dims count from the end.
**   (The Lua surface is 1-based; the binding converts.)
** - Sizes, strides and offsets are int64_t; strides count elements.
*/
#ifndef BRASA_H
#define BRASA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRASA_VERSION "0.1.0"
#define BT_MAX_DIMS 8

/* ---- dtypes and devices ------------------------------------------------ */

typedef enum {
  BT_F32, BT_F64, BT_F16, BT_BF16, BT_I64, BT_I32, BT_U8, BT_BOOL,
  BT_NUM_DTYPES
} bt_DType;

typedef enum { BT_CPU, BT_CUDA, BT_NUM_DEVICE_TYPES } bt_DeviceType;

typedef struct {
  bt_DeviceType type;
  int index;
} bt_Device;

extern const bt_Device BT_CPU_DEVICE;

/* Short name of a dtype ("f32"); parse accepts long names too ("float32",
** "float", "half", "int64", "long", ...). Returns -1 for an unknown name. */
const char *bt_dtype_name(bt_DType dt);
int bt_dtype_parse(const char *name);
size_t bt_dtype_size(bt_DType dt);
bool bt_dtype_is_float(bt_DType dt);     /* f32 f64 f16 bf16 */
bool bt_dtype_is_integer(bt_DType dt);   /* i64 i32 u8 (not bool) */
/* PyTorch's promotion of two dtypes (category bool < integer < float). */
bt_DType bt_promote(bt_DType a, bt_DType b);

/* f16/bf16 conversions (round to nearest even). */
uint16_t bt_f32_to_f16(float f);
float bt_f16_to_f32(uint16_t h);
uint16_t bt_f32_to_bf16(float f);
float bt_bf16_to_f32(uint16_t h);

/* ---- errors, interruption, threads -------------------------------------- */

/* The message of the last failed call on this thread. */
const char *bt_errmsg(void);
/* Sets the message (printf-style); always returns -1 for convenience. */
int bt_seterr(const char *fmt, ...);

/* Long kernels poll this flag at chunk boundaries; a signal handler may set
** it. An op that sees it fails with "interrupted" and clears nothing: the
** caller clears it with bt_clear_interrupt(). */
void bt_interrupt(void);
void bt_clear_interrupt(void);
bool bt_interrupted(void);

/* One pool serves brasa's kernels and OpenBLAS: n threads for both. */
void bt_set_num_threads(int n);
int bt_get_num_threads(void);
const char *bt_blas_info(void);   /* e.g. "OpenBLAS 0.3.21 (Haswell)" */

/* ---- memory --------------------------------------------------------------- */

/* Called with the change in bytes held by tensors on a device (+ on
** allocation, - on free). The Lua binding uses it to drive the collector. */
typedef void (*bt_AllocHook)(void *ud, bt_DeviceType dev, int64_t delta);
void bt_set_alloc_hook(bt_AllocHook hook, void *ud);
int64_t bt_bytes_in_use(bt_DeviceType dev);
/* Tests: make the allocation after the next n succeed calls fail (-1 off). */
void bt_fail_alloc_after(int64_t n);

/* ---- storage and tensors ------------------------------------------------- */

typedef struct bt_Storage {
  int refcount;
  bt_Device device;
  void *data;
  int64_t nbytes;
  uint32_t version;    /* bumped by every in-place write (autograd checks) */
  bool inline_data;    /* data lives in the same block as this struct */
} bt_Storage;

typedef struct bt_Node bt_Node;
typedef struct bt_Hook bt_Hook;

typedef struct bt_Tensor {
  int refcount;
  bt_DType dtype;
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  int64_t stride[BT_MAX_DIMS];
  int64_t offset;             /* in elements */
  bt_Storage *storage;
  /* autograd */
  bool requires_grad;         /* a leaf that wants .grad, or a graph output */
  bool wrapped_number;        /* a 0-dim tensor made from a Lua number (promotion) */
  struct bt_Tensor *grad;     /* accumulated gradient of a leaf (owned) */
  bool is_view;               /* a view made from another tensor (shares its storage) */
  bool is_graph_view;         /* a view of a tensor that requires grad */
  bt_Node *grad_fn;           /* the node that produced it, NULL for leaves */
  bt_Hook *hooks;             /* gradient hooks of a leaf (bt_register_hook) */
  void *user;                 /* free for the binding (never touched here) */
} bt_Tensor;

void bt_retain(bt_Tensor *t);
void bt_release(bt_Tensor *t);   /* NULL is fine */

int64_t bt_numel(const bt_Tensor *t);
bool bt_is_contiguous(const bt_Tensor *t);
/* Pointer to the first element (storage data + offset * elsize). */
void *bt_data(const bt_Tensor *t);
/* "[2x3]" into buf (at least 96 bytes); returns buf. "[]" for 0-dim. */
char *bt_shape_str(const bt_Tensor *t, char *buf);
char *bt_shape_str_n(int ndim, const int64_t *shape, char *buf);
/* Wrap a dim (negative from the end) into [0, ndim); -1 and a message if out
** of range. 'op' names the caller in the message. */
int bt_wrap_dim(const char *op, int64_t dim, int ndim);

/* Creation. shape may be NULL when ndim is 0. */
bt_Tensor *bt_empty(int ndim, const int64_t *shape, bt_DType dt, bt_Device dev);
bt_Tensor *bt_zeros(int ndim, const int64_t *shape, bt_DType dt, bt_Device dev);
bt_Tensor *bt_ones(int ndim, const int64_t *shape, bt_DType dt, bt_Device dev);
bt_Tensor *bt_full(int ndim, const int64_t *shape, double value, bt_DType dt, bt_Device dev);
bt_Tensor *bt_scalar(double value, bt_DType dt);          /* 0-dim, CPU */
bt_Tensor *bt_scalar_i64(int64_t value, bt_DType dt);     /* exact integers */
/* start, start+step, ... n values. */
bt_Tensor *bt_arange(double start, double step, int64_t n, bt_DType dt);
bt_Tensor *bt_linspace(double a, double b, int64_t n, bt_DType dt);
bt_Tensor *bt_eye(int64_t n, int64_t m, bt_DType dt);
/* Copies n elements of src_dtype from src (C order) into a new tensor. */
bt_Tensor *bt_from_buffer(int ndim, const int64_t *shape, bt_DType dt,
                          const void *src, bt_DType src_dtype);
bt_Tensor *bt_empty_like(const bt_Tensor *t);
bt_Tensor *bt_zeros_like(const bt_Tensor *t);
bt_Tensor *bt_ones_like(const bt_Tensor *t);
bt_Tensor *bt_full_like(const bt_Tensor *t, double value);

/* Element access by linear index in C order (0-based), any layout. */
double bt_get_flat(const bt_Tensor *t, int64_t i);
int64_t bt_get_flat_i64(const bt_Tensor *t, int64_t i);
/* Element access by full 0-based index. */
double bt_get(const bt_Tensor *t, const int64_t *index);
int64_t bt_get_i64(const bt_Tensor *t, const int64_t *index);
int bt_set(bt_Tensor *t, const int64_t *index, double v);
int bt_set_i64(bt_Tensor *t, const int64_t *index, int64_t v);
/* Copies all elements in C order into dst as doubles (n = numel). */
int bt_to_doubles(const bt_Tensor *t, double *dst);

/* ---- random ------------------------------------------------------------- */

/* Counter-based (Philox 4x32-10): the same numbers for a seed whatever the
** number of threads. */
void bt_manual_seed(uint64_t seed);
uint64_t bt_initial_seed(void);
bt_Tensor *bt_rand(int ndim, const int64_t *shape, bt_DType dt);
bt_Tensor *bt_randn(int ndim, const int64_t *shape, bt_DType dt);
/* Integers uniform in [lo, hi] (both included). */
bt_Tensor *bt_randint(int64_t lo, int64_t hi, int ndim, const int64_t *shape, bt_DType dt);
/* In place: uniform [a, b), normal(mean, std), bernoulli(p) as 0/1. */
int bt_uniform_(bt_Tensor *t, double a, double b);
int bt_normal_(bt_Tensor *t, double mean, double std);
int bt_bernoulli_(bt_Tensor *t, double p);
/* A random permutation of 0..n-1 (i64). */
bt_Tensor *bt_randperm(int64_t n);

/* ---- views (no copy; differentiable) -------------------------------------- */

/* shape may contain one -1, inferred. view fails when strides do not allow;
** reshape copies only then. */
bt_Tensor *bt_view(bt_Tensor *t, int ndim, const int64_t *shape);
bt_Tensor *bt_reshape(bt_Tensor *t, int ndim, const int64_t *shape);
bt_Tensor *bt_flatten(bt_Tensor *t, int start_dim, int end_dim);
bt_Tensor *bt_transpose(bt_Tensor *t, int d0, int d1);
bt_Tensor *bt_t(bt_Tensor *t);                 /* 2-D (or <2-D: itself) */
bt_Tensor *bt_permute(bt_Tensor *t, const int *dims);   /* t->ndim dims */
bt_Tensor *bt_narrow(bt_Tensor *t, int dim, int64_t start, int64_t length);
bt_Tensor *bt_select(bt_Tensor *t, int dim, int64_t index);
bt_Tensor *bt_squeeze(bt_Tensor *t, int dim);   /* dim = BT_ALL_DIMS: all size-1 dims */
bt_Tensor *bt_unsqueeze(bt_Tensor *t, int dim);
bt_Tensor *bt_expand(bt_Tensor *t, int ndim, const int64_t *shape);  /* -1 keeps */
bt_Tensor *bt_contiguous(bt_Tensor *t);       /* t itself (retained) if already */
bt_Tensor *bt_clone(bt_Tensor *t);
/* A new tensor sharing storage with t but outside any graph. */
bt_Tensor *bt_detach(bt_Tensor *t);
/* Shape/stride view primitive (not differentiable); checks bounds. */
bt_Tensor *bt_as_strided(bt_Tensor *t, int ndim, const int64_t *shape,
                         const int64_t *stride, int64_t offset);

#define BT_ALL_DIMS 1000

/* ---- copies and casts --------------------------------------------------- */

bt_Tensor *bt_to_dtype(bt_Tensor *t, bt_DType dt);    /* t itself if same dtype */
/* dst[...] = src, broadcasting src to dst's shape, casting dtypes. In place:
** bumps dst's version. Differentiable w.r.t. src when dst is not a leaf. */
int bt_copy_(bt_Tensor *dst, bt_Tensor *src);
int bt_fill_(bt_Tensor *t, double value);
int bt_zero_(bt_Tensor *t);

/* ---- elementwise -------------------------------------------------------- */

typedef enum {
  BT_ADD, BT_SUB, BT_MUL, BT_DIV, BT_POW, BT_MAXIMUM, BT_MINIMUM,
  BT_ATAN2, BT_FMOD, BT_REMAINDER,   /* fmod: sign of a (C); remainder: sign of b (Python, Lua's %) */
  BT_EQ, BT_NE, BT_LT, BT_LE, BT_GT, BT_GE,
  BT_LOGICAL_AND, BT_LOGICAL_OR, BT_LOGICAL_XOR,
  BT_NUM_BINARY
} bt_BinaryOp;

typedef enum {
  BT_NEG, BT_ABS, BT_EXP, BT_LOG, BT_LOG1P, BT_EXPM1, BT_SQRT, BT_RSQRT,
  BT_SIN, BT_COS, BT_TAN, BT_TANH, BT_SIGMOID, BT_RELU, BT_SIGN,
  BT_FLOOR, BT_CEIL, BT_ROUND, BT_TRUNC, BT_RECIPROCAL, BT_SQUARE,
  BT_LOGICAL_NOT, BT_ERF, BT_ASIN, BT_ACOS, BT_ATAN, BT_SINH, BT_COSH,
  BT_LOG2, BT_LOG10, BT_EXP2, BT_ISNAN, BT_ISINF,
  BT_NUM_UNARY
} bt_UnaryOp;

const char *bt_binary_name(bt_BinaryOp op);
const char *bt_unary_name(bt_UnaryOp op);

/* Broadcasting binary op with PyTorch promotion; comparisons and logical ops
** return bool. */
bt_Tensor *bt_binary(bt_BinaryOp op, bt_Tensor *a, bt_Tensor *b);
/* a op s, or s op a when scalar_first; s acts as a wrapped Lua number. */
bt_Tensor *bt_binary_scalar(bt_BinaryOp op, bt_Tensor *a, double s, bool scalar_first);
bt_Tensor *bt_unary(bt_UnaryOp op, bt_Tensor *a);
/* In place: a = a op b (b broadcast to a's shape, result cast to a's dtype). */
int bt_binary_(bt_BinaryOp op, bt_Tensor *a, bt_Tensor *b);
int bt_unary_(bt_UnaryOp op, bt_Tensor *a);

bt_Tensor *bt_add(bt_Tensor *a, bt_Tensor *b);
bt_Tensor *bt_sub(bt_Tensor *a, bt_Tensor *b);
bt_Tensor *bt_mul(bt_Tensor *a, bt_Tensor *b);
bt_Tensor *bt_div(bt_Tensor *a, bt_Tensor *b);
bt_Tensor *bt_neg(bt_Tensor *a);
bt_Tensor *bt_mul_scalar(bt_Tensor *a, double s);
bt_Tensor *bt_add_scalar(bt_Tensor *a, double s);
bt_Tensor *bt_pow_scalar(bt_Tensor *a, double s);

/* Clamp to [lo, hi]; pass -INFINITY / INFINITY for no bound. */
bt_Tensor *bt_clamp(bt_Tensor *a, double lo, double hi);
/* cond ? a : b with broadcasting; cond is bool (or nonzero). */
bt_Tensor *bt_where(bt_Tensor *cond, bt_Tensor *a, bt_Tensor *b);
/* Activations with a parameter, differentiable. */
bt_Tensor *bt_leaky_relu(bt_Tensor *a, double slope);
bt_Tensor *bt_elu(bt_Tensor *a, double alpha);
bt_Tensor *bt_softplus(bt_Tensor *a, double beta, double threshold);
bt_Tensor *bt_gelu(bt_Tensor *a, bool tanh_approx);

/* ---- reductions ------------------------------------------------------------ */

/* dims: a bit mask of the dims to reduce (bit d = dim d); 0 or
** BT_REDUCE_ALL reduces every dim (and returns a 0-dim tensor unless
** keepdim). */
#define BT_REDUCE_ALL (~0u)
bt_Tensor *bt_sum(bt_Tensor *t, unsigned dims, bool keepdim);
bt_Tensor *bt_mean(bt_Tensor *t, unsigned dims, bool keepdim);
bt_Tensor *bt_prod(bt_Tensor *t, unsigned dims, bool keepdim);
/* correction: 1 for the unbiased estimate (PyTorch's default), 0 biased. */
bt_Tensor *bt_var(bt_Tensor *t, unsigned dims, int correction, bool keepdim);
bt_Tensor *bt_std(bt_Tensor *t, unsigned dims, int correction, bool keepdim);
bt_Tensor *bt_norm(bt_Tensor *t, double p, unsigned dims, bool keepdim);
bt_Tensor *bt_logsumexp(bt_Tensor *t, unsigned dims, bool keepdim);
/* Over all elements (0-dim result). */
bt_Tensor *bt_max_all(bt_Tensor *t);
bt_Tensor *bt_min_all(bt_Tensor *t);
/* Over one dim: values and 0-based i64 indices (first occurrence on ties). */
int bt_max_dim(bt_Tensor *t, int dim, bool keepdim, bt_Tensor **values, bt_Tensor **indices);
int bt_min_dim(bt_Tensor *t, int dim, bool keepdim, bt_Tensor **values, bt_Tensor **indices);
/* dim = BT_ALL_DIMS: index into the flattened tensor. */
bt_Tensor *bt_argmax(bt_Tensor *t, int dim, bool keepdim);
bt_Tensor *bt_argmin(bt_Tensor *t, int dim, bool keepdim);
bt_Tensor *bt_cumsum(bt_Tensor *t, int dim);
bt_Tensor *bt_cumprod(bt_Tensor *t, int dim);
/* Reduce a (broadcast) gradient back to shape by summing. */
bt_Tensor *bt_sum_to(bt_Tensor *t, int ndim, const int64_t *shape);
bt_Tensor *bt_all(bt_Tensor *t);   /* bool 0-dim */
bt_Tensor *bt_any(bt_Tensor *t);

/* ---- linear algebra ------------------------------------------------------------ */

/* NumPy matmul: 1-D and 2-D cases, batched with broadcast batch dims. */
bt_Tensor *bt_matmul(bt_Tensor *a, bt_Tensor *b);
bt_Tensor *bt_mm(bt_Tensor *a, bt_Tensor *b);     /* 2-D only */
bt_Tensor *bt_bmm(bt_Tensor *a, bt_Tensor *b);    /* 3-D only, same batch */
bt_Tensor *bt_dot(bt_Tensor *a, bt_Tensor *b);    /* 1-D only */
bt_Tensor *bt_outer(bt_Tensor *a, bt_Tensor *b);

/* ---- indexing, joining ------------------------------------------------------- */

/* index: 1-D integer tensor of 0-based indices, each in [0, size). */
bt_Tensor *bt_index_select(bt_Tensor *t, int dim, bt_Tensor *index);
/* out[i][j] = t[index[i][j]][j] (dim 0), PyTorch semantics. */
bt_Tensor *bt_gather(bt_Tensor *t, int dim, bt_Tensor *index);
/* Out of place: copy of t with src scattered at index along dim. */
bt_Tensor *bt_scatter(bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src);
bt_Tensor *bt_scatter_add(bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src);
/* index_add: t with src added at index (1-D) along dim. */
bt_Tensor *bt_index_add(bt_Tensor *t, int dim, bt_Tensor *index, bt_Tensor *src);
bt_Tensor *bt_masked_fill(bt_Tensor *t, bt_Tensor *mask, double value);
int bt_masked_fill_(bt_Tensor *t, bt_Tensor *mask, double value);
bt_Tensor *bt_masked_select(bt_Tensor *t, bt_Tensor *mask);   /* 1-D result */
/* N x ndim i64 tensor of 0-based indices of nonzero elements. */
bt_Tensor *bt_nonzero(bt_Tensor *t);
bt_Tensor *bt_cat(int n, bt_Tensor *const *ts, int dim);
bt_Tensor *bt_stack(int n, bt_Tensor *const *ts, int dim);
/* Splits into pieces of `size` along dim (last may be smaller): *out gets a
** malloc'ed array of *n new references (free with bt_release + free). */
int bt_split(bt_Tensor *t, int64_t size, int dim, bt_Tensor ***out, int *n);
int bt_chunk(bt_Tensor *t, int chunks, int dim, bt_Tensor ***out, int *n);
/* Sorted values and 0-based indices along dim (stable). */
int bt_sort(bt_Tensor *t, int dim, bool descending, bt_Tensor **values, bt_Tensor **indices);
int bt_topk(bt_Tensor *t, int64_t k, int dim, bool largest, bool sorted,
            bt_Tensor **values, bt_Tensor **indices);
/* One-hot of 0-based class ids: shape [..., num_classes], i64. */
bt_Tensor *bt_one_hot(bt_Tensor *t, int64_t num_classes);
/* Pads with zeros: gradient of narrow (used by autograd, differentiable). */
bt_Tensor *bt_narrow_backward(bt_Tensor *grad, int ndim, const int64_t *shape,
                              int dim, int64_t start);

/* ---- neural network ops (ops/nn_*.c): one section per file ---------------- */

/* @section conv (ops/nn_conv.c) */
/* Convolutions of x [N, C, H, W] (2-d) or [N, C, L] (1-d) with PyTorch 1.13's
** semantics (cross-correlation), f32 and f64 (f16/bf16 compute in f32).
** Weights: conv [OC, C/groups, KH, KW]; transposed [C, OC/groups, KH, KW]
** (PyTorch's layouts); bias [OC] or NULL. A zeroed bt_ConvOpts means stride
** 1, no padding, dilation 1, groups 1 (0 counts as the default). Arrays hold
** one entry per spatial dim (H then W; 1-d uses entry 0). */
typedef enum { BT_PAD_EXPLICIT, BT_PAD_SAME, BT_PAD_VALID } bt_PadMode;
typedef struct bt_ConvOpts {
  int64_t stride[2];
  int64_t padding[2][2];       /* per dim {before, after}: {top, bottom}, {left, right} */
  int64_t dilation[2];
  int64_t output_padding[2];   /* transposed only: extra rows/cols at the end */
  int64_t groups;
  bt_PadMode pad_mode;         /* SAME: PyTorch's 'same' (stride 1; the odd pad goes after);
                                  VALID: no padding; EXPLICIT: padding above */
} bt_ConvOpts;

bt_Tensor *bt_conv1d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o);
bt_Tensor *bt_conv2d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o);
bt_Tensor *bt_conv_transpose1d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o);
bt_Tensor *bt_conv_transpose2d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o);
/* The adjoints of bt_conv2d (differentiable; its backward uses them): the
** gradient for the input [N, C, H, W] (x_shape) and for the weight
** (w_shape) from grad [N, OC, OH, OW] of conv2d(x, w, o). */
bt_Tensor *bt_conv2d_input_grad(bt_Tensor *grad, bt_Tensor *w, const int64_t x_shape[4],
                                const bt_ConvOpts *o);
bt_Tensor *bt_conv2d_weight_grad(bt_Tensor *x, bt_Tensor *grad, const int64_t w_shape[4],
                                 const bt_ConvOpts *o);

/* For backends: the geometry of one 2-d convolution (1-d: h = oh = kh = 1).
** The input side (x) is [n, c, h, w], the output side (y) [n, oc, oh, ow],
** the weight [oc, c / groups, kh, kw]; output (i, j) reads input rows
** i * sh - ph + a * dh (a < kh) and columns j * sw - pw + b * dw (b < kw). */
typedef struct bt_ConvGeom {
  int64_t n, groups;
  int64_t c, h, w;
  int64_t oc, oh, ow;
  int64_t kh, kw;
  int64_t sh, sw, ph, pw, dh, dw;
} bt_ConvGeom;
/* @end conv */

/* @section pool (ops/nn_pool.c) */
/* Pooling and resampling with PyTorch 1.13's semantics, f32 and f64 (f16 and
** bf16 compute in f32). The 2-d ops take [N, C, H, W] or an unbatched
** [C, H, W] and work on the last two dims; the 1-d ops take [N, C, L] or
** [C, L]. Every op is threaded over the N*C planes and differentiable. */
typedef struct {
  int64_t kernel[2];           /* (h, w); the 1-d ops read element 0 only */
  int64_t stride[2];           /* 0: the kernel size (PyTorch's default) */
  int64_t padding[2];          /* implicit -inf (max) or 0 (average) on both sides */
  int64_t dilation[2];         /* max pooling only; 0 counts as 1 */
  bool ceil_mode;              /* ceil instead of floor for the output size */
  bool count_include_pad;      /* average: padding counts in the divisor */
  int64_t divisor_override;    /* average: divide by this instead (0: none) */
} bt_PoolOpts;

/* Max pooling. When indices is not NULL it receives the argmax positions,
** i64 of the output's shape, 0-based and flat within each input plane. */
bt_Tensor *bt_max_pool1d(bt_Tensor *x, const bt_PoolOpts *o, bt_Tensor **indices);
bt_Tensor *bt_max_pool2d(bt_Tensor *x, const bt_PoolOpts *o, bt_Tensor **indices);
bt_Tensor *bt_avg_pool1d(bt_Tensor *x, const bt_PoolOpts *o);
bt_Tensor *bt_avg_pool2d(bt_Tensor *x, const bt_PoolOpts *o);
/* Adaptive pooling to an output size; a negative size keeps the input's. */
bt_Tensor *bt_adaptive_avg_pool1d(bt_Tensor *x, int64_t size);
bt_Tensor *bt_adaptive_avg_pool2d(bt_Tensor *x, const int64_t size[2]);
bt_Tensor *bt_adaptive_max_pool1d(bt_Tensor *x, int64_t size, bt_Tensor **indices);
bt_Tensor *bt_adaptive_max_pool2d(bt_Tensor *x, const int64_t size[2], bt_Tensor **indices);
/* Global pooling over the last spatial_dims (1 or 2) dims: [N, C] from
** [N, C, L] or [N, C, H, W] ([C] unbatched), or size 1 there with keepdim. */
bt_Tensor *bt_global_pool(bt_Tensor *x, int spatial_dims, bool is_max, bool keepdim);
/* Backward ops (differentiable, used by the rules). Max: grad [..., OH, OW]
** scattered into zeros of shape [..., H, W] at indices (flat in each plane);
** its own gradient gathers. Average: grad spread over the windows of o (NULL:
** adaptive windows), the adjoint of average pooling, whose gradient is
** average pooling again. */
bt_Tensor *bt_max_pool2d_backward(bt_Tensor *grad, bt_Tensor *indices, int ndim,
                                  const int64_t *shape);
bt_Tensor *bt_avg_pool2d_backward(bt_Tensor *grad, const bt_PoolOpts *o, int ndim,
                                  const int64_t *shape);

/* Resampling of [N, C, H, W] (2-d) or [N, C, L] (1-d), as F.interpolate:
** the output size is `size`, or floor(input size * scales) when size is
** NULL. Scales, when given (> 0), also set the source coordinates as in
** PyTorch (src = dst / scale); otherwise in/out is used. align_corners is
** for the linear modes only. */
typedef enum { BT_UPSAMPLE_NEAREST, BT_UPSAMPLE_LINEAR } bt_UpsampleMode;
bt_Tensor *bt_upsample1d(bt_Tensor *x, bt_UpsampleMode mode, const int64_t *size,
                         const double *scale, bool align_corners);
bt_Tensor *bt_upsample2d(bt_Tensor *x, bt_UpsampleMode mode, const int64_t size[2],
                         const double scales[2], bool align_corners);
/* The adjoint: grad [..., OH, OW] summed back into [..., H, W] (shape);
** differentiable (its gradient is bt_upsample2d). */
bt_Tensor *bt_upsample2d_backward(bt_Tensor *grad, bt_UpsampleMode mode, int ndim,
                                  const int64_t *shape, const double scales[2],
                                  bool align_corners);
/* @end pool */

/* @section norm (ops/nn_norm.c: batch/layer norm, dropout, embedding, softmax, losses) */
/* PyTorch 1.13 semantics; f32 and f64 (f16/bf16 compute in f32). Softmax and
** the class losses are in ops/nn_softmax.c. */

/* Batch normalisation of x [N, C, *] over every dim but dim 1. weight, bias
** ([C]) and the running statistics ([C], float) may be NULL. training: uses
** the batch's mean and biased variance, and updates running_mean and
** running_var in place (when given) with momentum and the unbiased variance,
** outside the graph; otherwise normalises with the running statistics. */
bt_Tensor *bt_batch_norm(bt_Tensor *x, bt_Tensor *running_mean, bt_Tensor *running_var,
                         bt_Tensor *weight, bt_Tensor *bias, bool training, double momentum,
                         double eps);
/* Layer normalisation over the last nnorm dims of x, which must equal
** normalized_shape; weight and bias (that shape) may be NULL. */
bt_Tensor *bt_layer_norm(bt_Tensor *x, int nnorm, const int64_t *normalized_shape,
                         bt_Tensor *weight, bt_Tensor *bias, double eps);
/* Zeroes each element with probability p (a seeded Philox mask: the same for
** a seed whatever the number of threads) and scales the rest by 1/(1-p).
** Not training, or p == 0: x itself (a new reference). */
bt_Tensor *bt_dropout(bt_Tensor *x, double p, bool training);
/* Rows of weight [V, D] at ids (any shape, i64/i32, 0-based): a result of
** shape [ids..., D]. An id of -1 (0 at the Lua surface) gives a zero row;
** padding_idx (0-based, or -1 for none) names a row that gets no gradient. */
bt_Tensor *bt_embedding(bt_Tensor *ids, bt_Tensor *weight, int64_t padding_idx);
/* Softmax and its logarithm along dim, computed stably (max subtracted). */
bt_Tensor *bt_softmax(bt_Tensor *x, int dim);
bt_Tensor *bt_log_softmax(bt_Tensor *x, int dim);

typedef enum { BT_REDUCTION_NONE, BT_REDUCTION_MEAN, BT_REDUCTION_SUM } bt_Reduction;
#define BT_NO_IGNORE INT64_MIN   /* ignore_index: no class is ignored */

/* Cross-entropy of raw scores x [N, C, d...] (or [C]) against 0-based class
** ids target [N, d...] (or 0-dim), fused log_softmax + NLL. weight: [C] class
** weights or NULL (constants: no gradient); positions whose target equals
** ignore_index contribute nothing; label_smoothing in [0, 1]. 'mean' divides
** by the summed weights of the counted targets (PyTorch). A target outside
** [0, C) fails with a message that shows it 1-based. A float target of x's
** shape holds class probabilities instead ('mean' divides by the number of
** rows, ignore_index must be BT_NO_IGNORE; differentiable in the target). */
bt_Tensor *bt_cross_entropy(bt_Tensor *x, bt_Tensor *target, bt_Tensor *weight,
                            int64_t ignore_index, double label_smoothing, bt_Reduction reduction);
/* Negative log-likelihood of log-probabilities logp [N, C, d...] (or [C]). */
bt_Tensor *bt_nll_loss(bt_Tensor *logp, bt_Tensor *target, bt_Tensor *weight,
                       int64_t ignore_index, bt_Reduction reduction);
/* @end norm */

/* @section optim (ops/optim.c: fused optimiser updates) */
/* One fused pass per parameter and step, PyTorch 1.13's single-tensor
** algorithms (torch.optim.*, foreach=False). Each updates param and its state
** tensors in place, outside autograd: no graph is recorded, and the versions
** of the tensors written are bumped (a graph that saved the old values
** refuses to run backward). param has a float dtype; grad and every state
** tensor have param's shape (grad is cast to param's dtype if needed; states
** have that dtype). A state marked "or NULL" is passed only when the option
** that needs it is on. `maximize` ascends instead of descending. Returns 0,
** or -1 with a message naming the optimiser and the shapes. */
typedef struct {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first;          /* the momentum buffer is fresh: it takes the gradient */
} bt_SGDOpts;
int bt_sgd_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *momentum_buf /* or NULL */,
                const bt_SGDOpts *o);

typedef struct {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;        /* the number of this update: 1 on the first */
  bool amsgrad, maximize;
  bool decoupled;      /* AdamW: param *= 1 - lr * weight_decay, not grad += */
} bt_AdamOpts;
int bt_adam_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *exp_avg, bt_Tensor *exp_avg_sq,
                 bt_Tensor *max_exp_avg_sq /* or NULL: amsgrad */, const bt_AdamOpts *o);

typedef struct {
  double lr, alpha, eps, weight_decay, momentum;
  bool centered, maximize;
} bt_RMSpropOpts;
int bt_rmsprop_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *square_avg,
                    bt_Tensor *grad_avg /* or NULL: centered */,
                    bt_Tensor *momentum_buf /* or NULL: momentum > 0 */, const bt_RMSpropOpts *o);

typedef struct {
  double lr, lr_decay, weight_decay, eps;
  int64_t step;        /* the number of this update: 1 on the first */
  bool maximize;
} bt_AdagradOpts;
int bt_adagrad_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *sum, const bt_AdagradOpts *o);

typedef struct {
  double lr, rho, eps, weight_decay;
  bool maximize;
} bt_AdadeltaOpts;
int bt_adadelta_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *square_avg,
                     bt_Tensor *acc_delta, const bt_AdadeltaOpts *o);

/* Gradient clipping, in place, as torch.nn.utils.clip_grad_norm_: *total
** gets the p-norm of the n gradients taken together (p = INFINITY: the
** largest |g|); when max_norm / (total + 1e-6) < 1 every gradient is scaled
** by it. p > 0. */
int bt_clip_grad_norm_(int n, bt_Tensor *const *grads, double max_norm, double p, double *total);
/* Clamps every gradient into [-clip, clip] in place (clip >= 0). */
int bt_clip_grad_value_(int n, bt_Tensor *const *grads, double clip);
/* @end optim */

/* @section autocast (autocast.c: automatic mixed precision) */
/* Autocast, as torch.autocast: while it is on for a device type, two
** classes of ops cast their float arguments that live there at entry,
** through differentiable casts (the gradient of an f32 parameter comes
** back in f32):
** - BT_AUTOCAST_LOWER: matmul, mm, bmm, conv1d/2d and the transposed
**   convolutions run in the autocast dtype (f32, f16 and bf16 arguments
**   are cast; f64 ones are left alone);
** - BT_AUTOCAST_F32: softmax, log_softmax, cross_entropy, nll_loss and the
**   reductions sum, mean, prod, var, std, norm, logsumexp, cumsum and
**   cumprod take f16 and bf16 arguments in f32 (so they return f32).
** Other ops run in their inputs' dtypes. The state is per thread, like grad
** mode, and off at start; the dtypes default to bf16 on the CPU and f16 on
** CUDA (PyTorch's). Backward (bt_backward, bt_grad) runs with autocast off. */
typedef enum { BT_AUTOCAST_LOWER, BT_AUTOCAST_F32 } bt_AutocastClass;
/* Turns autocast on or off for a device type, with its dtype (f16 or
** bf16; -1 and a message for another). */
int bt_autocast_set(bt_DeviceType dev, bool enabled, bt_DType dtype);
bool bt_autocast_enabled(bt_DeviceType dev);
bt_DType bt_autocast_dtype(bt_DeviceType dev);
/* t as an op of class cls takes it now: a new reference (t itself when
** autocast leaves it alone, else a differentiable cast). */
bt_Tensor *bt_autocast_cast(bt_AutocastClass cls, bt_Tensor *t);
/* Loss scaling (torch's _amp_foreach_non_finite_check_and_unscale_): every
** gradient is multiplied by inv_scale in place, and *found_inf tells
** whether any of them holds an infinity or a NaN (or sums beyond f32's
** range). On a GPU the check stays on the device until one read per
** device at the end. f16 gradients are refused (as PyTorch: loss scaling
** wants f32 parameters); NULL entries are skipped. */
int bt_amp_unscale_(int n, bt_Tensor *const *grads, double inv_scale, bool *found_inf);
/* @end autocast */

/* ---- reading data ------------------------------------------------------- */

/* An IDX file (MNIST family), gzipped or not: u8, i32, f32 or f64. */
bt_Tensor *bt_read_idx(const char *path);

/* CSV (io/csv.c). Each column is numeric when every value that is not
** missing is a number (a 1-D tensor of opts.dtype, NaN where missing), text
** otherwise (nrows strings, "" where missing). Errors name the file and the
** line: ragged rows, unclosed or stray quotes, NUL bytes, missing values
** (unless opts.missing accepts them). */
typedef enum { BT_MISSING_ERROR, BT_MISSING_NAN, BT_MISSING_DROP } bt_MissingPolicy;

typedef struct {
  char sep;                          /* ',' by default */
  bool header;                       /* the first record names the columns (true) */
  int64_t skip_lines;                /* lines skipped before the header or data */
  bt_DType dtype;                    /* of numeric columns: a float dtype (f32) */
  bt_MissingPolicy missing;
  int nselect;                       /* > 0: keep only these columns, in this order: */
  const char *const *select_names;   /*   by name, or NULL to use select_index */
  const int *select_index;           /*   0-based */
  int nna;                           /* values that mean missing; na_values NULL: */
  const char *const *na_values;      /*   "", NA, N/A, NaN, nan, null, NULL, ? */
} bt_CsvOptions;

typedef struct {
  char *name;              /* from the header (made unique), or V1, V2, ... */
  bt_Tensor *values;       /* a numeric column, or NULL */
  char **strings;          /* a text column (nrows strings), or NULL */
  char *arena;             /* where the strings live */
  int64_t nmissing;        /* missing values kept (NaN or "") */
} bt_CsvColumn;

typedef struct {
  int64_t nrows;
  int ncols;
  bt_CsvColumn *cols;
  int64_t ndropped;        /* records dropped for a missing value (BT_MISSING_DROP) */
  int64_t *dropped_lines;  /* their line numbers */
} bt_Csv;

void bt_csv_options_init(bt_CsvOptions *opts);
bt_Csv *bt_read_csv(const char *path, const bt_CsvOptions *opts);   /* opts NULL: defaults */
/* The same from text in memory: len bytes, changed in place, with one more
** byte writable at text[len]; name is used in messages. */
bt_Csv *bt_parse_csv(char *text, size_t len, const char *name, const bt_CsvOptions *opts);
void bt_csv_free(bt_Csv *csv);
/* Every number of a text file separated by white space (FANN data files),
** gzipped or not: a 1-D f64 tensor. A token that is not a number fails,
** naming its line. */
bt_Tensor *bt_read_numbers(const char *path);

/* safetensors (io/safetensors.c): an 8-byte little-endian header length, a
** JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {string:
** string}}, then the tensors' bytes, little-endian. Reading checks the
** header strictly (dtypes, shapes, offsets in range, neither overlapping nor
** leaving holes); writing goes to a temporary file in the same directory,
** renamed over path only when complete, so a failed write leaves the
** previous file as it was. */
typedef struct {
  int n;                   /* tensors, in the order of their data in the file */
  char **names;
  bt_Tensor **tensors;     /* CPU, contiguous */
  int nmeta;
  char **meta_keys, **meta_values;
} bt_SafeTensors;

bt_SafeTensors *bt_safetensors_read(const char *path);
void bt_safetensors_free(bt_SafeTensors *st);
/* Tensors on the CPU; names unique; metadata may be empty (nmeta 0). */
int bt_safetensors_write(const char *path, int n, const char *const *names,
                         bt_Tensor *const *tensors, int nmeta, const char *const *meta_keys,
                         const char *const *meta_values);

/* Batches for a data loader (io/loader.c): rows (dim 0) of n CPU tensors
** that share their first size, gathered into new tensors, either now or in
** a background thread while the caller works on the previous batch. The
** thread only copies bytes: it takes no lock of the caller's and never
** calls back. The loader keeps references to (contiguous copies of) the
** tensors; writing into them while a batch is gathered is the caller's
** race. */
typedef struct bt_Loader bt_Loader;

bt_Loader *bt_loader_new(int n, bt_Tensor *const *tensors);
void bt_loader_free(bt_Loader *l);            /* waits for a batch in flight */
int64_t bt_loader_rows(const bt_Loader *l);
int bt_loader_ntensors(const bt_Loader *l);
/* The rows idx[0..count) (0-based) of each tensor: out[0..n) new references. */
int bt_loader_gather(bt_Loader *l, int64_t count, const int64_t *idx, bt_Tensor **out);
/* Starts gathering in the background (idx is copied) and returns at once;
** bt_loader_finish waits for it and hands over the tensors. Starting while
** a batch is in flight waits for that one and drops it. */
int bt_loader_start(bt_Loader *l, int64_t count, const int64_t *idx);
int bt_loader_finish(bt_Loader *l, bt_Tensor **out);
bool bt_loader_pending(const bt_Loader *l);   /* started and not finished */
/* Batches delivered on dev (a batch in flight is dropped first). For a
** CUDA device, bt_loader_start gathers the rows into pinned host memory in
** the background and queues their copy on a copy stream, so the copy
** overlaps the kernels of the batch in use; bt_loader_finish makes the
** compute stream wait for it (no host wait). bt_loader_gather copies
** synchronously. BT_CPU_DEVICE: back to CPU batches. */
int bt_loader_set_device(bt_Loader *l, bt_Device dev);
bt_Device bt_loader_device(const bt_Loader *l);

/* ---- autograd ----------------------------------------------------------------- */

bool bt_grad_enabled(void);
/* Returns the previous mode. */
bool bt_set_grad_enabled(bool on);
void bt_set_anomaly_detection(bool on);
bool bt_anomaly_detection(void);

/* Marks a leaf as requiring a gradient (error for non-leaves / integer dtypes). */
int bt_requires_grad_(bt_Tensor *t, bool on);
bool bt_is_leaf(const bt_Tensor *t);
/* Sets t->grad (a new reference is taken; NULL clears). */
int bt_set_grad(bt_Tensor *t, bt_Tensor *g);

typedef struct {
  bool retain_graph;
  bool create_graph;
  bool allow_unused;     /* bt_grad: unused inputs get zeros instead of an error */
} bt_BackwardOpts;

/* Accumulate d(sum of outputs[i] * grad_outputs[i])/d(leaf) into the leaves'
** .grad. grad_outputs may be NULL for 0-dim outputs (then 1). */
int bt_backward(int n, bt_Tensor *const *outputs, bt_Tensor *const *grad_outputs,
                const bt_BackwardOpts *opts);
/* Gradients of outputs w.r.t. inputs, returned as new references in
** grads[0..ni-1] (never NULL on success). */
int bt_grad(int no, bt_Tensor *const *outputs, bt_Tensor *const *grad_outputs,
            int ni, bt_Tensor *const *inputs, bt_Tensor **grads,
            const bt_BackwardOpts *opts);

/* A gradient hook: returns NULL to keep the gradient, or a new reference
** that replaces it. Set *failed on error (with bt_seterr). */
typedef bt_Tensor *(*bt_HookFn)(void *ud, bt_Tensor *grad, bool *failed);
typedef void (*bt_HookFree)(void *ud);
int bt_register_hook(bt_Tensor *t, bt_HookFn fn, bt_HookFree free_ud, void *ud);

/* Where anomaly mode attaches the creation trace of a node (the binding
** registers a function giving the current Lua traceback). */
typedef char *(*bt_TraceFn)(void *ud);   /* malloc'ed string or NULL */
void bt_set_trace_fn(bt_TraceFn fn, void *ud);

/* The name of the op that produced t ("MulBackward"), NULL for leaves. */
const char *bt_grad_fn_name(const bt_Tensor *t);

/* ---- devices and CUDA (cuda_loader.c, ops/device.c) ----------------------- */

/* "cpu", "cuda" (= "cuda:0") or "cuda:N" into *d; -1 and a message otherwise. */
int bt_device_parse(const char *s, bt_Device *d);
/* t on device dev: t itself (a new reference) when it is there already,
** else a contiguous copy. Differentiable: the gradient moves back. */
bt_Tensor *bt_to_device(bt_Tensor *t, bt_Device dev);

/* The CUDA backend is its own library (libbrasa_cuda.so, beside
** libbrasa.so), loaded by the first of these calls or the first tensor made
** on a CUDA device; a CPU-only session never loads it. Without the library,
** a driver or a device, bt_cuda_available() is false and bt_cuda_status()
** says why; the other calls then fail with that message. Device indices are
** 0-based, as in "cuda:0". */
bool bt_cuda_available(void);
int bt_cuda_device_count(void);            /* 0 when not available */
const char *bt_cuda_status(void);          /* "" when available, else why not */
int bt_cuda_device_name(int index, char *buf, size_t len);
int bt_cuda_synchronize(void);             /* waits for the queued GPU work */
typedef struct {
  int64_t allocated;          /* bytes held by tensors (in the allocator's blocks) */
  int64_t peak_allocated;
  int64_t reserved;           /* taken from the device: allocated + cached */
  int64_t cached;             /* free blocks kept for reuse */
  int64_t device_free, device_total;   /* what the driver reports */
  int64_t num_allocs, num_cache_hits, num_device_allocs, num_ooms;
} bt_CudaMemoryStats;
int bt_cuda_memory_stats(int index, bt_CudaMemoryStats *s);
int bt_cuda_empty_cache(void);             /* gives cached blocks back (pinned ones too) */
/* Page-locked host memory of the GPU data path (a DataLoader's staging
** buffers), for the whole process; zeros while CUDA is not loaded. */
typedef struct {
  int64_t allocated;          /* bytes in use by batches being staged */
  int64_t reserved;           /* taken with cudaHostAlloc: allocated + cached */
  int64_t cached;
  int64_t num_allocs, num_cache_hits, num_host_allocs;
} bt_CudaPinnedStats;
int bt_cuda_pinned_stats(bt_CudaPinnedStats *s);
/* TF32 tensor cores for f32 matmul and cuDNN convolutions (off by default);
** returns the old setting. */
bool bt_cuda_set_allow_tf32(bool on);
bool bt_cuda_allow_tf32(void);
/* cuDNN convolutions: time the algorithms once per problem and keep the
** fastest (on), or take cuDNN's heuristics' choice (off, the default), as
** torch.backends.cudnn.benchmark; returns the old setting. */
bool bt_cuda_set_benchmark(bool on);
bool bt_cuda_benchmark(void);
/* Called by the device allocator when the device is out of memory, after
** it gave its cache back and before its last try: the binding runs Lua's
** collector there, so tensors nothing refers to free their blocks. */
typedef void (*bt_OomHook)(void *ud);
void bt_set_oom_hook(bt_OomHook hook, void *ud);

/* ---- dispatch table (for backends) ------------------------------------- */

/* A backend registers kernels per op family; an op on a device whose backend
** lacks the kernel fails naming the op and the device. See core/dispatch.h. */
const char *bt_device_name(bt_Device d, char *buf);   /* "cpu", "cuda:0" */

#ifdef __cplusplus
}
#endif
#endif
