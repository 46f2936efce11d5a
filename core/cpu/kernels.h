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
/* @end conv kernels */
/* @section pool kernels */
/* @end pool kernels */
/* @section norm kernels */
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

#endif
