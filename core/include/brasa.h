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
/* @end conv */

/* @section pool (ops/nn_pool.c) */
/* @end pool */

/* @section norm (ops/nn_norm.c: batch/layer norm, dropout, embedding, softmax, losses) */
/* @end norm */

/* @section optim (ops/optim.c: fused optimiser updates) */
/* @end optim */

/* ---- reading data ------------------------------------------------------- */

/* An IDX file (MNIST family), gzipped or not: u8, i32, f32 or f64. */
bt_Tensor *bt_read_idx(const char *path);

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

/* ---- dispatch table (for backends) ------------------------------------- */

/* A backend registers kernels per op family; an op on a device whose backend
** lacks the kernel fails naming the op and the device. See core/dispatch.h. */
const char *bt_device_name(bt_Device d, char *buf);   /* "cpu", "cuda:0" */

#ifdef __cplusplus
}
#endif
#endif
