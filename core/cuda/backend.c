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
};
