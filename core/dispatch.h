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
  /* Compute dtype: the op's result dtype, but f16 and bf16 widen to f32 on
  ** the CPU (ops/elementwise.c narrows the result back). On CUDA the compute
  ** dtype of halves is the half dtype itself (the kernels load halves,
  ** compute in float, store halves) when the tensor operands all hold it.
  ** binary: out, a, b: same shape (a or b may also be 0-dim: broadcast to out);
  ** a and b of the compute dtype (strides may be 0), except that a host
  ** scalar (a 0-dim CPU tensor beside device tensors) comes in the widened
  ** dtype (f32 beside halves: a Lua number is not rounded to the half);
  ** out of the compute dtype, or bool for comparisons and logical ops. */
  int (*binary)(bt_BinaryOp op, bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);
  /* out, a: same shape and compute dtype (bool for isnan/isinf/logical_not outputs). */
  int (*unary)(bt_UnaryOp op, bt_Tensor *out, const bt_Tensor *a);
  /* out, a: same shape and compute dtype. */
  int (*clamp)(bt_Tensor *out, const bt_Tensor *a, double lo, double hi);
  /* out, cond (bool), a, b: same shape or 0-dim; a, b of out's dtype (the
  ** compute dtype), a host scalar a or b in the widened dtype as for binary. */
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
  ** (batch stride may be 0); all f32 or all f64 (CUDA: also all f16 or all bf16). */
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
  /* Convolution (cpu/conv.c, cuda/cudnn.c): tensors contiguous and of one
  ** dtype (f32 or f64; CUDA: also f16 or bf16), shaped as g states
  ** (bt_ConvGeom in brasa.h): x [n, c, h, w],
  ** y [n, oc, oh, ow], w [oc, c/groups, kh, kw]; bias NULL or [oc] (conv2d)
  ** or [c] (conv2d_input). conv2d: y = conv(x, w) + bias. conv2d_input: x =
  ** the adjoint of conv in x applied to y (a transposed convolution) + bias.
  ** conv2d_weight: w = the adjoint of conv in w, summed over the batch, and
  ** bias (NULL or [oc]) = the sum of y over every dim but 1 (the bias's
  ** gradient). Outputs are overwritten (their old values are never read). */
  int (*conv2d)(bt_Tensor *y, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *bias,
                const bt_ConvGeom *g);
  int (*conv2d_input)(bt_Tensor *x, const bt_Tensor *y, const bt_Tensor *w,
                      const bt_Tensor *bias, const bt_ConvGeom *g);
  int (*conv2d_weight)(bt_Tensor *w, bt_Tensor *bias, const bt_Tensor *x, const bt_Tensor *y,
                       const bt_ConvGeom *g);
  /* @end conv kernels */
  /* @section pool kernels */
  /* Pooling (cpu/pool.c): in [P, H, W] and out [P, OH, OW], contiguous, f32
  ** or f64; indices i64 [P, OH, OW] (flat in each plane) or NULL. o has its
  ** defaults filled in (stride, dilation >= 1); o NULL: adaptive windows. */
  int (*max_pool2d)(bt_Tensor *out, bt_Tensor *indices, const bt_Tensor *in, const bt_PoolOpts *o);
  int (*avg_pool2d)(bt_Tensor *out, const bt_Tensor *in, const bt_PoolOpts *o);
  /* gin [P, H, W] (overwritten); gout, indices [P, OH, OW]; all contiguous.
  ** With check, an index outside [0, H*W) fails naming the op. Without it
  ** (indices saved by brasa's own forward, which autograd's version check
  ** keeps unchanged) such an index is skipped: a GPU need not wait to read
  ** its report. */
  int (*max_pool2d_backward)(bt_Tensor *gin, const bt_Tensor *gout, const bt_Tensor *indices,
                             bool check);
  int (*avg_pool2d_backward)(bt_Tensor *gin, const bt_Tensor *gout, const bt_PoolOpts *o);
  /* out [P, OH, OW] from in [P, H, W] (and the adjoint); scales[d] > 0 when given. */
  int (*upsample2d)(bt_Tensor *out, const bt_Tensor *in, bt_UpsampleMode mode,
                    const double *scales, bool align_corners);
  int (*upsample2d_backward)(bt_Tensor *gin, const bt_Tensor *gout, bt_UpsampleMode mode,
                             const double *scales, bool align_corners);
  /* @end pool kernels */
  /* @section norm kernels */
  /* All f32 or all f64, contiguous. x, y [N, C, S]; weight, bias [C] or NULL;
  ** mean, invstd [C]: written when training (batch mean, 1/sqrt(biased var +
  ** eps)), and then running_mean/running_var ([C] or NULL) are updated with
  ** momentum and the unbiased variance; not training: computed from
  ** running_mean and running_var (both given). */
  int (*batch_norm)(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                    const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                    bt_Tensor *running_var, bool training, double momentum, double eps);
  /* Closed-form backward; g, x and gx [N, C, S]; gx, gw, gb ([C]) may be NULL.
  ** training: the statistics depend on x; otherwise they are constants.
  ** eps: the forward's (invstd already holds it; cuDNN asks for it again). */
  int (*batch_norm_backward)(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                             const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                             const bt_Tensor *invstd, bool training, double eps);
  /* x, y [M, K] (rows normalised); weight, bias [K] or NULL; mean, invstd [M]. */
  int (*layer_norm)(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                    const bt_Tensor *weight, const bt_Tensor *bias, double eps);
  /* g, x, gx [M, K]; gw, gb [K]; any of gx, gw, gb may be NULL. */
  int (*layer_norm_backward)(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                             const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                             const bt_Tensor *invstd);
  /* x, y of one shape, any float dtype; mask (bool) too: element i is kept
  ** (y = x / (1 - p)) when Philox uniform number i of (seed, counter) >= p. */
  int (*dropout)(bt_Tensor *y, bt_Tensor *mask, const bt_Tensor *x, double p, uint64_t seed,
                 uint64_t counter);
  /* gx = g * mask * scale; all of one shape, g and gx of one float dtype. */
  int (*dropout_backward)(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *mask, double scale);
  /* ids [n] (i64/i32, 0-based, -1: a zero row, else in [0, V)); weight [V, D];
  ** out [n, D] of weight's dtype. */
  int (*embedding)(bt_Tensor *out, const bt_Tensor *ids, const bt_Tensor *weight);
  /* gw [V, D] = rows of g [n, D] summed by id, skipping -1 and padding_idx. */
  int (*embedding_backward)(bt_Tensor *gw, const bt_Tensor *g, const bt_Tensor *ids,
                            int64_t padding_idx);
  /* x, y [A, C, B], softmax over C (log: log_softmax). */
  int (*softmax)(bt_Tensor *y, const bt_Tensor *x, bool log);
  /* g, y, gx [A, C, B]: gx = y (g - sum_C g y), or (log) g - exp(y) sum_C g. */
  int (*softmax_backward)(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *y, bool log);
  /* x [R, C] (R rows of C class scores); target [R] (i64/i32, 0-based);
  ** weight [C] or NULL. Rows whose target is ignore_index count nothing
  ** (loss 0). Writes loss [R] (or NULL), lse [R] (logsumexp of each row),
  ** totals[0] = the sum of the losses and totals[1] = the sum of the counted
  ** targets' weights. logp: x holds log-probabilities (NLL: lse is NULL,
  ** smoothing 0). A target outside [0, C) fails naming it (1-based). */
  int (*class_loss)(bt_Tensor *loss, bt_Tensor *lse, double *totals, const bt_Tensor *x,
                    const bt_Tensor *target, const bt_Tensor *weight, int64_t ignore_index,
                    double smoothing, bool logp);
  /* gx [R, C] = scale[r] * d loss[r] / dx for the loss above; scale is [R],
  ** or 0-dim for every row. */
  int (*class_loss_backward)(bt_Tensor *gx, const bt_Tensor *scale, const bt_Tensor *x,
                             const bt_Tensor *lse, const bt_Tensor *target,
                             const bt_Tensor *weight, int64_t ignore_index, double smoothing,
                             bool logp);
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
  /* g contiguous, float: *out = sum of |g|^p, or max |g| when p is infinite.
  ** out points into g's device memory (for a GPU: not waited for, so that
  ** clip_grad_norm reads every parameter's term back in one copy). */
  int (*grad_norm)(const bt_Tensor *g, double p, double *out);
  /* g contiguous, float: g = clamp(g * scale, lo, hi) in place (NaN stays). */
  int (*scale_clamp)(bt_Tensor *g, double scale, double lo, double hi);
  /* @end optim kernels */
  /* @section nonzero kernels */
  /* mask contiguous bool, any shape (ndim >= 0). *out gets a new i64 tensor
  ** on mask's device: flat: [k], the C-order positions of the k true
  ** elements; else [k, ndim], their coordinates (row r: the r-th true
  ** element's). 0-based, ascending. k is known only after a pass over the
  ** mask: a device kernel reads it back before allocating (one sync). */
  int (*nonzero)(bt_Tensor **out, const bt_Tensor *mask, bool flat);
  /* @end nonzero kernels */
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
