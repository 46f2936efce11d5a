/*
** cuda/kernels.h: the CUDA backend's kernel families (shapes: dispatch.h).
** Each sets the tensors' device current, accepts CPU operands only where
** they are host scalars (common.h), and returns 0 or -1 with a message.
*/
#ifndef BRASA_CUDA_KERNELS_H
#define BRASA_CUDA_KERNELS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

int btc_copy(bt_Tensor *dst, const bt_Tensor *src);      /* copy.cu */
int btc_fill(bt_Tensor *t, double value);
int btc_binary(bt_BinaryOp op, bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);   /* elementwise.cu */
int btc_unary(bt_UnaryOp op, bt_Tensor *out, const bt_Tensor *a);
int btc_clamp(bt_Tensor *out, const bt_Tensor *a, double lo, double hi);
int btc_where(bt_Tensor *out, const bt_Tensor *cond, const bt_Tensor *a, const bt_Tensor *b);
int btc_reduce(bt_ReduceOp op, bt_Tensor *out, const bt_Tensor *in, unsigned dims);   /* reduce.cu */
int btc_arg_reduce(bt_ReduceOp op, bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in, int dim);
int btc_cumulative(bt_CumOp op, bt_Tensor *out, const bt_Tensor *in, int dim);
int btc_random(bt_Tensor *t, const bt_RandomArgs *args);                            /* random.cu */
int btc_matmul(bt_Tensor *out, const bt_Tensor *a, const bt_Tensor *b);             /* blas.c */
int btc_index_select(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index);   /* index.cu */
int btc_gather(bt_Tensor *out, const bt_Tensor *in, int dim, const bt_Tensor *index);
int btc_scatter(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src, bool accumulate);
int btc_index_add(bt_Tensor *out, int dim, const bt_Tensor *index, const bt_Tensor *src);
int btc_sort(bt_Tensor *values, bt_Tensor *indices, const bt_Tensor *in, int dim, bool descending);   /* sort.cu */
/* @section optim kernels (optim.cu) */
int btc_sgd_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *buf, const bt_SGDOpts *o);
int btc_adam_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *exp_avg, bt_Tensor *exp_avg_sq,
                  bt_Tensor *max_exp_avg_sq, const bt_AdamOpts *o);
int btc_rmsprop_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                     bt_Tensor *grad_avg, bt_Tensor *buf, const bt_RMSpropOpts *o);
int btc_adagrad_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *sum, const bt_AdagradOpts *o);
int btc_adadelta_step(bt_Tensor *param, const bt_Tensor *grad, bt_Tensor *square_avg,
                      bt_Tensor *acc_delta, const bt_AdadeltaOpts *o);
int btc_grad_norm(const bt_Tensor *g, double p, double *out);
int btc_scale_clamp(bt_Tensor *g, double scale, double lo, double hi);
/* @end optim kernels */
int btc_nonzero(bt_Tensor **out, const bt_Tensor *mask, bool flat);   /* nonzero.cu */
/* @section conv kernels (cudnn.c: cuDNN; batch norm falls back to channel.cu) */
int btc_conv2d(bt_Tensor *y, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *bias,
               const bt_ConvGeom *g);
int btc_conv2d_input(bt_Tensor *x, const bt_Tensor *y, const bt_Tensor *w, const bt_Tensor *bias,
                     const bt_ConvGeom *g);
int btc_conv2d_weight(bt_Tensor *w, bt_Tensor *bias, const bt_Tensor *x, const bt_Tensor *y,
                      const bt_ConvGeom *g);
int btc_batch_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                   const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                   bt_Tensor *running_var, bool training, double momentum, double eps);
int btc_batch_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                            const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                            const bt_Tensor *invstd, bool training, double eps);
/* @end conv kernels */
/* @section pool kernels */
int btc_max_pool2d(bt_Tensor *out, bt_Tensor *indices, const bt_Tensor *in, const bt_PoolOpts *o);   /* pool.cu */
int btc_avg_pool2d(bt_Tensor *out, const bt_Tensor *in, const bt_PoolOpts *o);
int btc_max_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_Tensor *indices,
                            bool check);
int btc_avg_pool2d_backward(bt_Tensor *gin, const bt_Tensor *gout, const bt_PoolOpts *o);
int btc_upsample2d(bt_Tensor *out, const bt_Tensor *in, bt_UpsampleMode mode, const double *scales,
                   bool align_corners);
int btc_upsample2d_backward(bt_Tensor *gin, const bt_Tensor *gout, bt_UpsampleMode mode,
                            const double *scales, bool align_corners);
/* @end pool kernels */
/* @section norm kernels (layer norm, dropout, embedding: nn.cu; softmax, class losses: softmax.cu) */
int btc_layer_norm(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                   const bt_Tensor *weight, const bt_Tensor *bias, double eps);
int btc_layer_norm_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                            const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                            const bt_Tensor *invstd);
int btc_dropout(bt_Tensor *y, bt_Tensor *mask, const bt_Tensor *x, double p, uint64_t seed,
                uint64_t counter);
int btc_dropout_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *mask, double scale);
int btc_embedding(bt_Tensor *out, const bt_Tensor *ids, const bt_Tensor *weight);
int btc_embedding_backward(bt_Tensor *gw, const bt_Tensor *g, const bt_Tensor *ids, int64_t padding_idx);
int btc_softmax(bt_Tensor *y, const bt_Tensor *x, bool log);
int btc_softmax_backward(bt_Tensor *gx, const bt_Tensor *g, const bt_Tensor *y, bool log);
int btc_class_loss(bt_Tensor *loss, bt_Tensor *lse, double *totals, const bt_Tensor *x,
                   const bt_Tensor *target, const bt_Tensor *weight, int64_t ignore_index,
                   double smoothing, bool logp);
int btc_class_loss_backward(bt_Tensor *gx, const bt_Tensor *scale, const bt_Tensor *x,
                            const bt_Tensor *lse, const bt_Tensor *target, const bt_Tensor *weight,
                            int64_t ignore_index, double smoothing, bool logp);
/* @end norm kernels */

#ifdef __cplusplus
}
#endif
#endif
