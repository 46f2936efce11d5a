/*
** cuda/stage.h: pinned host staging and asynchronous host-to-device copies
** (stage.c), served to the core through bt_CudaApi (cuda_api.h).
*/
#ifndef BRASA_CUDA_STAGE_H
#define BRASA_CUDA_STAGE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Page-locked host memory from a cache; NULL and a message on failure. A
** block may be freed while a copy still reads it: it is handed out again
** only after that copy. */
void *btc_pinned_alloc(int64_t nbytes);
void btc_pinned_free(void *p);
/* Gives cached pinned blocks back (waiting for copies that read them). */
int btc_pinned_empty_cache(void);
int btc_pinned_stats(bt_CudaPinnedStats *s);

/* One batch's copies to a device, ordered against the compute stream (see
** stage.c for the protocol and why it is safe with the caching allocator). */
typedef bt_CudaTransfer btc_Transfer;
btc_Transfer *btc_transfer_begin(int device);
/* src: inside a block from btc_pinned_alloc, in use. Any host thread. */
int btc_transfer_copy(btc_Transfer *x, void *dst, const void *src, int64_t nbytes);
int btc_transfer_end(btc_Transfer *x);
/* Frees x: the compute stream waits for the copies (use), or the host does (drop). */
int btc_transfer_use(btc_Transfer *x);
void btc_transfer_drop(btc_Transfer *x);

/* Fills the staging members of the host services (device.c calls it). */
void btc_stage_api(bt_CudaApi *api);

#ifdef __cplusplus
}
#endif
#endif
