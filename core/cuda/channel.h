/*
** cuda/channel.h: per-channel kernels of channel.cu that cudnn.c needs
** beside cuDNN: a convolution's bias, and batch normalisation where cuDNN
** does not serve (no cuDNN, [N, C] inputs, sizes past its limits) or has no
** entry point (the backward of evaluation mode).
**
** Tensors are contiguous and shaped [N, C, S] (any split of the trailing
** dims into S); [C] vectors are contiguous. Each returns 0, or -1 with a
** message naming op.
*/
#ifndef BRASA_CUDA_CHANNEL_H
#define BRASA_CUDA_CHANNEL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[n, c, s] += bias[c]; y and bias of one dtype (f32, f64, f16, bf16). */
int btc_channel_bias_add(const char *op, bt_Tensor *y, const bt_Tensor *bias, int64_t N,
                         int64_t C, int64_t S);

/* Batch normalisation forward with the contract of dispatch.h (norm
** kernels): f32 or f64 throughout, x and y [N, C, S]; weight, bias,
** running_mean, running_var [C] or NULL; mean and invstd [C] written. The
** statistics accumulate in double in a fixed order (deterministic). */
int btc_bn_forward(bt_Tensor *y, bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *x,
                   const bt_Tensor *weight, const bt_Tensor *bias, bt_Tensor *running_mean,
                   bt_Tensor *running_var, bool training, double momentum, double eps);

/* Its closed-form backward (dispatch.h): gx [N, C, S], gw and gb [C], any of
** them NULL. */
int btc_bn_backward(bt_Tensor *gx, bt_Tensor *gw, bt_Tensor *gb, const bt_Tensor *g,
                    const bt_Tensor *x, const bt_Tensor *weight, const bt_Tensor *mean,
                    const bt_Tensor *invstd, bool training);

/* mean = running_mean, invstd = 1 / sqrt(running_var + eps), all [C] of one
** dtype (f32 or f64): the statistics of evaluation mode. */
int btc_bn_eval_stats(bt_Tensor *mean, bt_Tensor *invstd, const bt_Tensor *running_mean,
                      const bt_Tensor *running_var, double eps);

#ifdef __cplusplus
}
#endif
#endif
