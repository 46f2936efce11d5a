/*
** cuda/common.h: what the CUDA backend's files share (C and CUDA C++).
**
** Kernel families (copy.cu, elementwise.cu, ...) are extern "C" functions
** with the signatures of the op table (dispatch.h); backend.c lists them.
** Host-side helpers live in C files: the device state (device.c), the
** caching allocator (alloc.c), operand layouts (layout.c).
**
** Streams: every kernel, copy and cuBLAS call runs on the legacy default
** stream, so work is ordered and a freed block may be reused at once by
** the next kernel; host copies (cudaMemcpy) wait for the work before them.
*/
#ifndef BRASA_CUDA_COMMON_H
#define BRASA_CUDA_COMMON_H

#ifdef __cplusplus
extern "C" {
#endif

#include "../internal.h"
#include "../cuda_api.h"

/* ---- device.c ------------------------------------------------------------------ */

/* Makes device index current (cached: cheap when it already is). */
int btc_set_device(int index);
/* Makes t's device current. */
int btc_use(const bt_Tensor *t);
/* Multiprocessors of the current device (for grid sizes). */
int btc_sm_count(void);
/* Turns a CUDA error code (an int: cudaError_t) into -1 and "op: what
** (name)", or returns 0 for success. Also picks up a pending launch error
** when code is 0 and check_launch is set. */
int btc_check(int code, const char *op);
int btc_check_launch(const char *op);
/* A small device buffer for kernels that report a bad index: {flag, value}. */
typedef struct {
  int bad;
  int pad;
  long long value;
} btc_Report;
btc_Report *btc_report_buffer(void);
/* Reads and clears the report after a kernel (waits for it): 1 when an
** index was bad (*value: the first one seen), 0 otherwise, -1 on error. */
int btc_report_take(const char *op, long long *value);

/* ---- alloc.c: the caching allocator --------------------------------------------- */

void *btc_alloc(int64_t nbytes);
void btc_free(void *p);
int btc_empty_cache(void);
int btc_memory_stats(int index, bt_CudaMemoryStats *s);
/* Scratch space for a kernel, counted like tensors (bt_alloc). */
void *btc_scratch(const char *op, int64_t nbytes);
void btc_scratch_free(void *p, int64_t nbytes);

/* ---- layout.c: operands of one shape, collapsed ------------------------------ */

#define BTC_MAX_OPS 4

/* The element offsets of up to BTC_MAX_OPS operands over one shape, with
** dims of size 1 dropped and dims that are contiguous in every operand
** merged: often a single dim remains. Strides are in elements (0:
** broadcast). */
typedef struct {
  int ndim;                               /* 0: a single element */
  int small;                              /* numel and every size fit 32 bits */
  long long numel;
  long long shape[BT_MAX_DIMS];
  long long stride[BTC_MAX_OPS][BT_MAX_DIMS];
} btc_Layout;

/* Fills L for the operands t[0..n) (t[0]'s shape; an operand of numel 1
** or a NULL one broadcasts with stride 0). */
void btc_layout(btc_Layout *L, int n, const bt_Tensor *const *t);
/* Every operand reads/writes its elements in order, densely (stride 1). */
bool btc_layout_contiguous(const btc_Layout *L, int n);
/* At most one dim, each operand of stride 1 or 0 (a broadcast value):
** element i is at i * stride (kernel.cuh: dense_offsets). */
bool btc_layout_dense(const btc_Layout *L, int n);

/* A CPU tensor whose every element is the same (numel 1, or all strides 0):
** a number that joins a device op (a wrapped Lua number, an expanded
** constant). Other CPU tensors cannot join. */
bool btc_is_host_scalar(const bt_Tensor *t);
/* Fails naming both devices when t is on the CPU and not a host scalar. */
int btc_check_operand(const char *op, const bt_Tensor *out, const bt_Tensor *t);

/* The layout of "lines": every dim but `dim` of t (kept dims), with the
** strides of up to three tensors of t's shape along them, in elements. */
typedef struct {
  int ndim;
  long long nlines;
  long long shape[BT_MAX_DIMS];
  long long stride[3][BT_MAX_DIMS];
} btc_Lines;
void btc_lines(btc_Lines *L, int dim, int n, const bt_Tensor *const *t);

#ifdef __cplusplus
}
#endif
#endif
