/*
** cpu/kernels.h: the CPU backend's kernels, one entry per family of the op
** table (dispatch.h states the shapes each expects). cpu/backend.c lists them.
*/
#ifndef BRASA_CPU_KERNELS_H
#define BRASA_CPU_KERNELS_H

#include "../internal.h"

int bt_cpu_copy(bt_Tensor *dst, const bt_Tensor *src);
int bt_cpu_fill(bt_Tensor *t, double value);
int bt_cpu_binary(bt_BinaryOp op, bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);
int bt_cpu_unary(bt_UnaryOp op, bt_Tensor *out, const bt_Tensor *a);
int bt_cpu_clamp(bt_Tensor *out, const bt_Tensor *a, double lo, double hi);
int bt_cpu_where(bt_Tensor *out, const bt_Tensor *cond, const bt_Tensor *a, const bt_Tensor *b);
int bt_cpu_reduce(bt_ReduceOp op, bt_Tensor *out, const bt_Tensor *in, unsigned dims);
int bt_cpu_arg_reduce(bt_ReduceOp op, bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in,
                      int dim);
int bt_cpu_cumulative(bt_CumOp op, bt_Tensor *out, const bt_Tensor *in, int dim);
int bt_cpu_matmul(bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);
int bt_cpu_random(bt_Tensor *t, const bt_RandomArgs *args);
int bt_cpu_index_select(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index);
int bt_cpu_gather(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index);
int bt_cpu_scatter(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src,
                   bool accumulate);
int bt_cpu_index_add(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src);
int bt_cpu_sort(bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in, int dim,
                bool descending);

/* @section conv kernels */
/* cpu/conv.c (+ conv_avx512.c): convolutions (shapes: dispatch.h) */
int bt_cpu_conv2d(bt_Tensor *y, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *bias,
                  const bt_ConvGeom *g);
int bt_cpu_conv2d_input(bt_Tensor *x, const bt_Tensor *y, const bt_Tensor *w,
                        const bt_Tensor *bias, const bt_ConvGeom *g);
int bt_cpu_conv2d_weight(bt_Tensor *w, bt_Tensor *bias, const bt_Tensor *x, const bt_Tensor *y,
                         const bt_ConvGeom *g);
/* @end conv kernels */
/* @section pool kernels */
int bt_cpu_max_pool2d(bt_Tensor *out, bt_Tensor *indices, const bt_Tensor *in, const bt_PoolOpts *o);
int bt_cpu_avg_pool2d(bt_Tensor *out, const bt_Tensor *in, const bt_PoolOpts *o);
int bt_cpu_max_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_Tensor *indices,
                               bool check);
int bt_cpu_avg_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_PoolOpts *o);
int bt_cpu_upsample2d(bt_Tensor *out, const bt_Tensor *in, bt_UpsampleMode mode,
                      const double *scales, bool align_corners);
int bt_cpu_upsample2d_backward(bt_Tensor *gin, const bt_Tensor *gout, bt_UpsampleMode mode,
                               const double *scales, bool align_corners);
/* @end pool kernels */
/* @section norm kernels */
/* cpu/norm.c: batch and layer norm, dropout, embedding */
int bt_cpu_batch_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                      const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                      bt_Tensor *running_var, bool training, double momentum, double eps);
int bt_cpu_batch_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                               const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                               const bt_Tensor *invstd, bool training, double eps);
int bt_cpu_layer_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                      const bt_Tensor *weight, const bt_Tensor *bias, double eps);
int bt_cpu_layer_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                               const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                               const bt_Tensor *invstd);
int bt_cpu_dropout(bt_Tensor *y, bt_Tensor *mask, const bt_Tensor *x, double p, uint64_t seed,
                   uint64_t counter);
int bt_cpu_dropout_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *mask, double scale);
int bt_cpu_embedding(bt_Tensor *out, const bt_Tensor *ids, const bt_Tensor *weight);
int bt_cpu_embedding_backward(bt_Tensor *gw, const bt_Tensor *g, const bt_Tensor *ids,
                              int64_t padding_idx);
/* cpu/softmax.c: softmax, log_softmax, cross-entropy and NLL */
int bt_cpu_softmax(bt_Tensor *y, const bt_Tensor *x, bool log);
int bt_cpu_softmax_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *y, bool log);
int bt_cpu_class_loss(bt_Tensor *loss, bt_Tensor *lse, double *totals, const bt_Tensor *x,
                      const bt_Tensor *target, const bt_Tensor *weight, int64_t ignore_index,
                      double smoothing, bool logp);
int bt_cpu_class_loss_backward(bt_Tensor *gx, const bt_Tensor *scale, const bt_Tensor *x,
                               const bt_Tensor *lse, const bt_Tensor *target,
                               const bt_Tensor *weight, int64_t ignore_index, double smoothing,
                               bool logp);
/* @end norm kernels */
/* @section optim kernels */
int bt_cpu_sgd_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *buf, const bt_SGDOpts *o);
int bt_cpu_adam_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *exp_avg,
                     bt_Tensor *exp_avg_sq, bt_Tensor *max_exp_avg_sq, const bt_AdamOpts *o);
int bt_cpu_rmsprop_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                        bt_Tensor *grad_avg, bt_Tensor *buf, const bt_RMSpropOpts *o);
int bt_cpu_adagrad_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *sum,
                        const bt_AdagradOpts *o);
int bt_cpu_adadelta_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                         bt_Tensor *acc_delta, const bt_AdadeltaOpts *o);
int bt_cpu_grad_norm(const bt_Tensor *g, double p, double *out);
int bt_cpu_scale_clamp(bt_Tensor *g, double scale, double lo, double hi);
/* @end optim kernels */
/* @section nonzero kernels */
int bt_cpu_nonzero(bt_Tensor **out, const bt_Tensor *mask, bool flat);
/* @end nonzero kernels */

#endif
