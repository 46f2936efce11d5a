/*
** cpu/backend.c: the CPU backend's op table.
*/
#include "kernels.h"

const bt_Backend bt_cpu_backend = {
  .name = "cpu",
  .copy = bt_cpu_copy,
  .fill = bt_cpu_fill,
  .binary = bt_cpu_binary,
  .unary = bt_cpu_unary,
  .clamp = bt_cpu_clamp,
  .where = bt_cpu_where,
  .reduce = bt_cpu_reduce,
  .arg_reduce = bt_cpu_arg_reduce,
  .cumulative = bt_cpu_cumulative,
  .matmul = bt_cpu_matmul,
  .random = bt_cpu_random,
  .index_select = bt_cpu_index_select,
  .gather = bt_cpu_gather,
  .scatter = bt_cpu_scatter,
  .index_add = bt_cpu_index_add,
  .sort = bt_cpu_sort,
  /* @section conv kernels */
  .conv2d = bt_cpu_conv2d,
  .conv2d_input = bt_cpu_conv2d_input,
  .conv2d_weight = bt_cpu_conv2d_weight,
  /* @end conv kernels */
  /* @section pool kernels */
  .max_pool2d = bt_cpu_max_pool2d,
  .avg_pool2d = bt_cpu_avg_pool2d,
  .max_pool2d_backward = bt_cpu_max_pool2d_backward,
  .avg_pool2d_backward = bt_cpu_avg_pool2d_backward,
  .upsample2d = bt_cpu_upsample2d,
  .upsample2d_backward = bt_cpu_upsample2d_backward,
  /* @end pool kernels */
  /* @section norm kernels */
  .batch_norm = bt_cpu_batch_norm,
  .batch_norm_backward = bt_cpu_batch_norm_backward,
  .layer_norm = bt_cpu_layer_norm,
  .layer_norm_backward = bt_cpu_layer_norm_backward,
  .dropout = bt_cpu_dropout,
  .dropout_backward = bt_cpu_dropout_backward,
  .embedding = bt_cpu_embedding,
  .embedding_backward = bt_cpu_embedding_backward,
  .softmax = bt_cpu_softmax,
  .softmax_backward = bt_cpu_softmax_backward,
  .class_loss = bt_cpu_class_loss,
  .class_loss_backward = bt_cpu_class_loss_backward,
  /* @end norm kernels */
  /* @section optim kernels */
  .sgd_step = bt_cpu_sgd_step,
  .adam_step = bt_cpu_adam_step,
  .rmsprop_step = bt_cpu_rmsprop_step,
  .adagrad_step = bt_cpu_adagrad_step,
  .adadelta_step = bt_cpu_adadelta_step,
  .grad_norm = bt_cpu_grad_norm,
  .scale_clamp = bt_cpu_scale_clamp,
  /* @end optim kernels */
  /* @section nonzero kernels */
  .nonzero = bt_cpu_nonzero,
  /* @end nonzero kernels */
};
