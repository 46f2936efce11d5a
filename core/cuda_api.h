/*
** cuda_api.h: the contract between the core and libbrasa_cuda.
**
** The core never links CUDA. On the first use of a GPU feature,
** cuda_loader.c dlopens libbrasa_cuda.so (from the directory of libbrasa.so,
** or $BRASA_CUDA_LIBRARY) and calls its entry point bt_cuda_backend_init,
** which registers the CUDA op table (bt_register_backend) and the device
** allocator (bt_register_device_allocator), then fills a bt_CudaApi with
** the host services the core needs: device queries, copies between host and
** device memory, memory statistics. Plain C: both sides read it without
** CUDA headers.
*/
#ifndef BRASA_CUDA_API_H
#define BRASA_CUDA_API_H

#include "brasa.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BT_CUDA_ABI 3   /* 2: the op table grew (conv, pool, norm, optim, nonzero) and staging; 3: max_pool2d_backward check, grad_norm into device memory */

/* A batch's host-to-device copies in flight (cuda/stage.c). */
typedef struct bt_CudaTransfer bt_CudaTransfer;

typedef struct {
  int abi;              /* BT_CUDA_ABI of the library */
  int device_count;     /* 0: no device (the library then says why in bt_errmsg) */
  int (*device_name)(int index, char *buf, size_t len);
  int (*set_device)(int index);
  int (*synchronize)(void);
  /* Synchronous copies of nbytes; host memory may be pageable. */
  int (*copy_to_device)(void *dst, int dst_index, const void *src, int64_t nbytes);
  int (*copy_to_host)(void *dst, const void *src, int src_index, int64_t nbytes);
  int (*copy_device_to_device)(void *dst, int dst_index, const void *src, int src_index,
                               int64_t nbytes);
  int (*memory_stats)(int index, bt_CudaMemoryStats *s);
  int (*empty_cache)(void);
  /* Staging for batches (cuda/stage.c: the protocol, and why it is safe
  ** with the caching allocator). NULL in a library without it. Pinned
  ** (page-locked) host memory from a cache; a block freed while a copy
  ** still reads it is handed out again only after that copy. */
  void *(*pinned_alloc)(int64_t nbytes);
  void (*pinned_free)(void *p);
  int (*pinned_stats)(bt_CudaPinnedStats *s);
  /* One batch's asynchronous copies to cuda:dst_index: begin on the
  ** caller's thread just after allocating the destinations (the copies wait
  ** for the work queued before); copy from pinned memory (any thread: on
  ** a copy stream, overlapping kernels); end once all are queued; then use
  ** (the compute stream waits for the copies: call it before the batch is
  ** used) or drop (the host waits: call it before releasing a batch never
  ** used). use and drop free the transfer. */
  bt_CudaTransfer *(*transfer_begin)(int dst_index);
  int (*transfer_copy)(bt_CudaTransfer *x, void *dst, const void *src, int64_t nbytes);
  int (*transfer_end)(bt_CudaTransfer *x);
  int (*transfer_use)(bt_CudaTransfer *x);
  void (*transfer_drop)(bt_CudaTransfer *x);
} bt_CudaApi;

/* The library's entry point, named "bt_cuda_backend_init": 0 on success
** (even with no device: api->device_count is 0 then), -1 with a message. */
typedef int (*bt_CudaInitFn)(bt_CudaApi *api);

/* ---- the core's side (cuda_loader.c) ------------------------------------- */

/* Loads the backend if needed, checks that cuda:index exists and makes it
** the current device. -1 and "op: ..." (why there is no such device). */
int bt_cuda_use_device(const char *op, int index);
/* The loaded library's services (NULL before a successful load). */
const bt_CudaApi *bt_cuda_api(void);
/* Runs the hook of bt_set_oom_hook, if any (the allocator, out of memory). */
void bt_run_oom_hook(void);

/* ---- storage.c (installed by the library) -------------------------------- */

void bt_register_device_allocator(bt_DeviceType type, void *(*alloc)(int64_t nbytes),
                                  void (*free_fn)(void *p));

#ifdef __cplusplus
}
#endif
#endif
