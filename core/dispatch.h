/*
** dispatch.h: the op table. Each device has a backend: a table of kernels,
** one entry per kernel family. Ops (core/ops/) check arguments, compute the
** output shape and dtype, then call the kernel of the tensors' device. A
** backend that lacks a kernel leaves it NULL, and the op fails naming itself
** and the device (bt_no_kernel).
**
** Kernels receive tensors already checked: the shapes they expect are stated
** beside each entry. They may assume the dtype combinations stated there and
** return 0, or -1 with a message (interrupted, out of memory).
*/
#ifndef BRASA_DISPATCH_H
#define BRASA_DISPATCH_H

#include "brasa.h"

typedef enum { BT_RED_SUM, BT_RED_PROD, BT_RED_MAX, BT_RED_MIN, BT_RED_ANY, BT_RED_ALL } bt_ReduceOp;
typedef enum { BT_CUM_SUM, BT_CUM_PROD } bt_CumOp;

/* A random fill: uniform [a, b), normal(mean a, std b), bernoulli(p = a), or
** integers [lo, hi] (exact int64 bounds); element i (C order) uses Philox
** counter `counter + i` under `seed`. */
typedef enum { BT_RAND_UNIFORM, BT_RAND_NORMAL, BT_RAND_BERNOULLI, BT_RAND_INT } bt_RandKind;
typedef struct {
  bt_RandKind kind;
  double a, b;
  int64_t lo, hi;
  uint64_t seed, counter;
} bt_RandomArgs;

typedef struct bt_Backend {
  const char *name;
  /* dst and src have the same shape; any dtypes, any strides (src strides may be 0). */
  int (*copy)(bt_Tensor *dst, const bt_Tensor *src);
  int (*fill)(bt_Tensor *t, double value);
  /* out, a, b: same shape (a or b may also be 0-dim: broadcast to out);
  ** a and b of the compute dtype (strides may be 0);
  ** out of the compute dtype, or bool for comparisons and logical ops. */
  int (*binary)(bt_BinaryOp op, bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);
  /* out, a: same shape and dtype (bool for isnan/isinf/logical_not outputs). */
  int (*unary)(bt_UnaryOp op, bt_Tensor *out, const bt_Tensor *a);
  /* out, a: same shape and dtype. */
  int (*clamp)(bt_Tensor *out, const bt_Tensor *a, double lo, double hi);
  /* out, cond (bool), a, b: same shape or 0-dim; a, b of out's dtype. */
  int (*where)(bt_Tensor *out, const bt_Tensor *cond, const bt_Tensor *a, const bt_Tensor *b);
  /* out has in's ndim with size 1 on every dim in the mask; dtype of out is
  ** the accumulation result dtype (bool for any/all). */
  int (*reduce)(bt_ReduceOp op, bt_Tensor *out, const bt_Tensor *in, unsigned dims);
  /* values (in's dtype, may be NULL) and indices (i64) have in's shape with
  ** size 1 at dim; op is BT_RED_MAX or BT_RED_MIN. */
  int (*arg_reduce)(bt_ReduceOp op, bt_Tensor *values, bt_Tensor *indices,
                    const bt_Tensor *in, int dim);
  /* out, in: same shape and dtype. */
  int (*cumulative)(bt_CumOp op, bt_Tensor *out, const bt_Tensor *in, int dim);
  /* a [B,m,k], b [B,k,n], out [B,m,n] contiguous; a and b any strides
  ** (batch stride may be 0); all f32 or all f64. */
  int (*matmul)(bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);
  /* Random fill of t (any layout) as described by args. */
  int (*random)(bt_Tensor *t, const bt_RandomArgs *args);
  /* Indexing kernels: shapes as the ops in core/ops/index.c check them. */
  int (*index_select)(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index);
  int (*gather)(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index);
  /* out already holds a copy of the target; accumulate adds instead of sets. */
  int (*scatter)(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src, bool accumulate);
  int (*index_add)(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src);
  int (*sort)(bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in, int dim, bool descending);
  /* @section conv kernels */
  /* @end conv kernels */
  /* @section pool kernels */
  /* @end pool kernels */
  /* @section norm kernels */
  /* @end norm kernels */
  /* @section optim kernels */
  /* Optimiser updates (ops/optim.c checks): param, grad and the states
  ** contiguous, of one shape and one float dtype; optional states NULL. */
  int (*sgd_step)(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *buf, const bt_SGDOpts *o);
  int (*adam_step)(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *exp_avg,
                   bt_Tensor *exp_avg_sq, bt_Tensor *max_exp_avg_sq, const bt_AdamOpts *o);
  int (*rmsprop_step)(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                      bt_Tensor *grad_avg, bt_Tensor *buf, const bt_RMSpropOpts *o);
  int (*adagrad_step)(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *sum, const bt_AdagradOpts *o);
  int (*adadelta_step)(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                       bt_Tensor *acc_delta, const bt_AdadeltaOpts *o);
  /* g contiguous, float: *out = sum of |g|^p, or max |g| when p is infinite. */
  int (*grad_norm)(const bt_Tensor *g, double p, double *out);
  /* g contiguous, float: g = clamp(g * scale, lo, hi) in place (NaN stays). */
  int (*scale_clamp)(bt_Tensor *g, double scale, double lo, double hi);
  /* @end optim kernels */
} bt_Backend;

/* The backend of a device type (NULL when it is not loaded). */
const bt_Backend *bt_backend(bt_Device d);
/* Installs a backend (the CUDA library calls this when loaded). */
void bt_register_backend(bt_DeviceType type, const bt_Backend *be);
/* Sets "op: no kernel 'family' on <device>" and returns -1. */
int bt_no_kernel(const char *op, const char *family, bt_Device d);

/* Fetch a kernel or fail: `k = BT_KERNEL(op, dev, binary); if (!k) return NULL;` */
#define BT_KERNEL(op, dev, family) \
  (bt_backend(dev) && bt_backend(dev)->family ? bt_backend(dev)->family \
   : (bt_no_kernel(op, #family, dev), NULL))

extern const bt_Backend bt_cpu_backend;

#endif
