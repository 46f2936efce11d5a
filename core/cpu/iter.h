/*
** cpu/iter.h: strided iteration over up to four operands of one shape.
**
** bt_iter_run collapses dims that are contiguous in every operand, then
** splits the elements across the thread pool; each chunk calls `row` on runs
** along the last (collapsed) dim, with byte strides for that dim. Kernels
** write `row` as a tight loop with fast paths for contiguous (stride ==
** element size) and broadcast (stride 0) operands.
*/
#ifndef BRASA_CPU_ITER_H
#define BRASA_CPU_ITER_H

#include "../internal.h"

#define BT_ITER_MAX_OPS 4

/* ptrs: one pointer per operand at the start of the run; strides: the byte
** stride of each operand along the run; n: elements in the run. */
typedef void (*bt_RowFn)(void *ctx, char **ptrs, const int64_t *strides, int64_t n);

/* Runs `row` over every element of the operands (all of shape `t[0]`'s
** shape, or 0-dim: broadcast; t[0] is usually the output). grain: elements per chunk below which
** the work stays on one thread. Returns -1 if interrupted. */
int bt_iter_run(int nops, const bt_Tensor *const *t, bt_RowFn row, void *ctx, int64_t grain);

/* Default grain: about 32k elements per task. */
#define BT_GRAIN 32768

#endif
