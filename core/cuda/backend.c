/*
** cuda/backend.c: the CUDA backend's op table. A family left out here
** makes its ops fail naming the family and the device (dispatch.h).
*/
#include "common.h"
#include "kernels.h"

const bt_Backend btc_backend = {
  .name = "cuda",
  .copy = btc_copy,
  .fill = btc_fill,
  .binary = btc_binary,
  .unary = btc_unary,
  .clamp = btc_clamp,
  .where = btc_where,
  .reduce = btc_reduce,
  .arg_reduce = btc_arg_reduce,
  .cumulative = btc_cumulative,
  .matmul = btc_matmul,
  .random = btc_random,
  .index_select = btc_index_select,
  .gather = btc_gather,
  .scatter = btc_scatter,
  .index_add = btc_index_add,
  .sort = btc_sort,
  /* @section optim kernels */
  .sgd_step = btc_sgd_step,
  .adam_step = btc_adam_step,
  .rmsprop_step = btc_rmsprop_step,
  .adagrad_step = btc_adagrad_step,
  .adadelta_step = btc_adadelta_step,
  .grad_norm = btc_grad_norm,
  .scale_clamp = btc_scale_clamp,
  /* @end optim kernels */
  .nonzero = btc_nonzero,
  /* @section conv kernels (cudnn.c) */
  .conv2d = btc_conv2d,
  .conv2d_input = btc_conv2d_input,
  .conv2d_weight = btc_conv2d_weight,
  /* @end conv kernels */
  /* @section pool kernels */
  .max_pool2d = btc_max_pool2d,
  .avg_pool2d = btc_avg_pool2d,
  .max_pool2d_backward = btc_max_pool2d_backward,
  .avg_pool2d_backward = btc_avg_pool2d_backward,
  .upsample2d = btc_upsample2d,
  .upsample2d_backward = btc_upsample2d_backward,
  /* @end pool kernels */
  /* @section norm kernels (batch_norm: the cuDNN entries) */
  .batch_norm = btc_batch_norm,
  .batch_norm_backward = btc_batch_norm_backward,
  .layer_norm = btc_layer_norm,
  .layer_norm_backward = btc_layer_norm_backward,
  .dropout = btc_dropout,
  .dropout_backward = btc_dropout_backward,
  .embedding = btc_embedding,
  .embedding_backward = btc_embedding_backward,
  .softmax = btc_softmax,
  .softmax_backward = btc_softmax_backward,
  .class_loss = btc_class_loss,
  .class_loss_backward = btc_class_loss_backward,
  /* @end norm kernels */
};
