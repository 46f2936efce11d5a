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

#ifdef __cplusplus
}
#endif
#endif
