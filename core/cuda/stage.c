/*
** cuda/stage.c: pinned host staging and asynchronous host-to-device copies,
** the GPU side of the DataLoader's device path (core/io/loader.c).
**
** Pinned (page-locked) host memory is what the copy engine reads on its own,
** so a copy from it runs while kernels run; a copy from pageable memory is
** staged by the driver and blocks the host. cudaHostAlloc is slow (it maps
** and locks pages), so blocks are cached by size class (as device blocks are
** in alloc.c) and a training loop allocates none after its first batches.
**
** Copies run on a copy stream: one non-blocking stream per device, made on
** first use. Non-blocking: it does not synchronise with the legacy default
** stream on which every kernel runs (the compute stream, common.h), so the
** copy of batch k+1 overlaps the kernels of batch k. A transfer (one batch)
** orders itself against the compute stream with two events:
**
**   btc_transfer_begin  (the caller's thread, just after the destination
**                        blocks were allocated) records `fence` on the
**                        compute stream;
**   btc_transfer_copy   (any thread: the loader's prefetch thread) makes the
**                        copy stream wait for `fence` (first copy only), then
**                        queues cudaMemcpyAsync; records the source block's
**                        `last_copy` event after it;
**   btc_transfer_end    records `done` on the copy stream;
**   btc_transfer_use    (when the batch is handed over) makes the compute
**                        stream wait for `done`: no host wait;
**   btc_transfer_drop   (a batch never handed over) waits on the host.
**
** Why this is safe with the caching allocator (alloc.c), which hands out a
** freed block at once because all work used to run in order on the compute
** stream:
** 1. A destination block may have been freed an instant before
**    btc_transfer_begin by a tensor whose last kernels are still queued on
**    the compute stream. The copy waits for `fence`, recorded after the
**    allocation, so it writes only after every kernel queued before, among
**    them the last readers of the block's previous tenant.
** 2. After btc_transfer_use, all later work on the compute stream waits for
**    `done`: the batch's blocks are then ordinary compute-stream blocks,
**    freed and reused in stream order.
** 3. A batch never handed over (a new epoch, the loader closed, an error) is
**    released only after btc_transfer_drop saw its copies finish on the host,
**    so its blocks go back to the cache idle.
** 4. The allocator cudaFree's only cached blocks, never a block in use, and
**    an in-flight destination is in use (the loader holds its tensor).
** 5. A pinned block freed while a copy still reads it keeps its `last_copy`
**    event: btc_pinned_alloc waits for it before handing the block out
**    again, so the host never overwrites bytes the copy engine has yet to
**    read, and btc_pinned_empty_cache waits before cudaFreeHost.
*/
#include "common.h"
#include "stage.h"

#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdio.h>

#define MAX_DEVICES 64
#define SMALL_LIMIT ((int64_t)1 << 20)
#define LARGE_STEP ((int64_t)2 << 20)

/* ---- pinned host blocks ------------------------------------------------------ */

typedef struct Pinned {
  void *ptr;
  int64_t size;              /* the size class */
  bool in_use;
  bool copy_pending;         /* last_copy was recorded and not yet waited for */
  int event_device;          /* the device last_copy belongs to (-1: none made) */
  cudaEvent_t last_copy;
  struct Pinned *next;
} Pinned;

static pthread_mutex_t pin_lock = PTHREAD_MUTEX_INITIALIZER;
static Pinned *pinned;       /* every block, in use or cached (a few per loader) */
static bt_CudaPinnedStats pin_stats;

static int64_t size_class(int64_t n) {
  if (n <= 4096) return 4096;
  if (n <= SMALL_LIMIT) {
    int64_t c = 4096;
    while (c < n) c <<= 1;
    return c;
  }
  return (n + LARGE_STEP - 1) / LARGE_STEP * LARGE_STEP;
}

/* The block that holds host address p (lock held), or NULL. */
static Pinned *pinned_find(const void *p) {
  const char *c = p;
  for (Pinned *b = pinned; b; b = b->next)
    if (c >= (const char *)b->ptr && c < (const char *)b->ptr + b->size) return b;
  return NULL;
}

/* Waits until no copy reads b (b is owned by the caller: in use, or being
** given back under the lock). The flag stays set when the wait fails: the
** copy may still be reading, so the block must not be handed out as idle. */
static int pinned_settle(Pinned *b, const char *op) {
  if (!b->copy_pending) return 0;
  if (btc_check(cudaEventSynchronize(b->last_copy), op) < 0) return -1;
  b->copy_pending = false;
  return 0;
}

/* Gives the cached blocks back to the driver (lock held). */
static int pinned_release_cached(void) {
  int rc = 0;
  for (Pinned **pp = &pinned; *pp;) {
    Pinned *b = *pp;
    if (b->in_use) {
      pp = &b->next;
      continue;
    }
    if (pinned_settle(b, "pinned staging: empty_cache") < 0) {   /* a copy may read it: keep it */
      rc = -1;
      pp = &b->next;
      continue;
    }
    if (b->event_device >= 0 && cudaEventDestroy(b->last_copy) != cudaSuccess) cudaGetLastError();
    if (cudaFreeHost(b->ptr) != cudaSuccess) {
      cudaGetLastError();
      rc = -1;
    }
    pin_stats.reserved -= b->size;
    pin_stats.cached -= b->size;
    *pp = b->next;
    free(b);
  }
  return rc;
}

void *btc_pinned_alloc(int64_t nbytes) {
  if (nbytes < 0) return bt_seterr("pinned staging: negative size %lld", (long long)nbytes), NULL;
  int64_t size = size_class(nbytes);
  int64_t slack = size <= SMALL_LIMIT ? 0 : BT_MAX(size / 8, LARGE_STEP);
  pthread_mutex_lock(&pin_lock);
  pin_stats.num_allocs++;
  Pinned *best = NULL;
  for (Pinned *b = pinned; b; b = b->next)
    if (!b->in_use && b->size >= size && b->size <= size + slack && (!best || b->size < best->size))
      best = b;
  if (best) {
    best->in_use = true;
    pin_stats.num_cache_hits++;
    pin_stats.cached -= best->size;
    pin_stats.allocated += best->size;
    pthread_mutex_unlock(&pin_lock);
    if (pinned_settle(best, "pinned staging") < 0) {
      btc_pinned_free(best->ptr);
      return NULL;
    }
    return best->ptr;
  }
  pthread_mutex_unlock(&pin_lock);

  /* cudaHostAllocPortable: usable with every device, not only the current one. */
  void *p = NULL;
  cudaError_t e = cudaHostAlloc(&p, (size_t)size, cudaHostAllocPortable);
  if (e != cudaSuccess) {   /* give the cached blocks back, try once more */
    cudaGetLastError();
    pthread_mutex_lock(&pin_lock);
    pinned_release_cached();
    pthread_mutex_unlock(&pin_lock);
    e = cudaHostAlloc(&p, (size_t)size, cudaHostAllocPortable);
  }
  if (e != cudaSuccess) {
    cudaGetLastError();
    return bt_seterr("pinned staging: cannot allocate %lld bytes of page-locked host memory: %s",
                     (long long)size, cudaGetErrorString(e)), NULL;
  }
  Pinned *b = calloc(1, sizeof *b);
  if (!b) {
    cudaFreeHost(p);
    return bt_seterr("pinned staging: out of host memory"), NULL;
  }
  b->ptr = p;
  b->size = size;
  b->in_use = true;
  b->event_device = -1;
  pthread_mutex_lock(&pin_lock);
  b->next = pinned;
  pinned = b;
  pin_stats.num_host_allocs++;
  pin_stats.reserved += size;
  pin_stats.allocated += size;
  pthread_mutex_unlock(&pin_lock);
  return p;
}

void btc_pinned_free(void *p) {
  if (!p) return;
  pthread_mutex_lock(&pin_lock);
  Pinned *b = pinned_find(p);
  if (b && b->in_use && b->ptr == p) {   /* a copy may still read it: see pinned_settle */
    b->in_use = false;
    pin_stats.allocated -= b->size;
    pin_stats.cached += b->size;
  }
  pthread_mutex_unlock(&pin_lock);
}

int btc_pinned_empty_cache(void) {
  pthread_mutex_lock(&pin_lock);
  int rc = pinned_release_cached();
  pthread_mutex_unlock(&pin_lock);
  return rc;
}

int btc_pinned_stats(bt_CudaPinnedStats *s) {
  pthread_mutex_lock(&pin_lock);
  *s = pin_stats;
  pthread_mutex_unlock(&pin_lock);
  return 0;
}

/* ---- the copy streams ---------------------------------------------------------- */

static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;
static cudaStream_t copy_streams[MAX_DEVICES];

/* The copy stream of device dev (the current device), made on first use. */
static int copy_stream(int dev, cudaStream_t *s) {
  if (dev < 0 || dev >= MAX_DEVICES) return bt_seterr("transfer: bad device %d", dev);
  pthread_mutex_lock(&stream_lock);
  int rc = 0;
  if (!copy_streams[dev])
    rc = btc_check(cudaStreamCreateWithFlags(&copy_streams[dev], cudaStreamNonBlocking),
                   "transfer: creating the copy stream");
  *s = copy_streams[dev];
  pthread_mutex_unlock(&stream_lock);
  return rc;
}

/* ---- transfers -------------------------------------------------------------------- */

struct bt_CudaTransfer {
  int device;
  cudaEvent_t fence;         /* on the compute stream, after the destinations' allocation */
  cudaEvent_t done;          /* on the copy stream, after the copies */
  bool waited;               /* the copy stream waits for fence already */
  bool ended;
};

static void transfer_free(btc_Transfer *x) {
  /* Resources go when the events complete; waits already queued on them
  ** stand. An error left pending would fail the caller's next launch check. */
  if (cudaEventDestroy(x->fence) != cudaSuccess) cudaGetLastError();
  if (cudaEventDestroy(x->done) != cudaSuccess) cudaGetLastError();
  free(x);
}

btc_Transfer *btc_transfer_begin(int device) {
  if (btc_set_device(device) < 0) return NULL;
  btc_Transfer *x = calloc(1, sizeof *x);
  if (!x) return bt_seterr("transfer: out of host memory"), NULL;
  x->device = device;
  if (btc_check(cudaEventCreateWithFlags(&x->fence, cudaEventDisableTiming), "transfer: event") < 0) {
    free(x);
    return NULL;
  }
  if (btc_check(cudaEventCreateWithFlags(&x->done, cudaEventDisableTiming), "transfer: event") < 0) {
    cudaEventDestroy(x->fence);
    free(x);
    return NULL;
  }
  /* 0: the compute stream (the legacy default stream, common.h). */
  if (btc_check(cudaEventRecord(x->fence, 0), "transfer: recording the fence") < 0) {
    transfer_free(x);
    return NULL;
  }
  return x;
}

int btc_transfer_copy(btc_Transfer *x, void *dst, const void *src, int64_t nbytes) {
  if (nbytes <= 0) return 0;
  if (btc_set_device(x->device) < 0) return -1;   /* per host thread: the prefetch thread too */
  cudaStream_t s;
  if (copy_stream(x->device, &s) < 0) return -1;
  if (x->ended) return bt_seterr("transfer: copy after the transfer ended");
  pthread_mutex_lock(&pin_lock);
  Pinned *b = pinned_find(src);
  bool fits = b && b->in_use && (const char *)src + nbytes <= (const char *)b->ptr + b->size;
  pthread_mutex_unlock(&pin_lock);
  if (!fits)
    return bt_seterr("transfer: the source of a %lld-byte copy is not pinned staging memory",
                     (long long)nbytes);
  if (!x->waited) {
    if (btc_check(cudaStreamWaitEvent(s, x->fence, 0), "transfer: waiting for the fence") < 0) return -1;
    x->waited = true;
  }
  if (btc_check(cudaMemcpyAsync(dst, src, (size_t)nbytes, cudaMemcpyHostToDevice, s),
                "transfer: copy to the device") < 0)
    return -1;
  /* Mark the source block as read by this copy (it is in use by our caller,
  ** so it stays in the list; the lock guards its fields). */
  pthread_mutex_lock(&pin_lock);
  int rc = 0;
  if (b->event_device != x->device) {   /* an event is recorded on a stream of its own device */
    if (b->event_device >= 0) {
      if (b->copy_pending && cudaEventSynchronize(b->last_copy) != cudaSuccess) cudaGetLastError();
      if (cudaEventDestroy(b->last_copy) != cudaSuccess) cudaGetLastError();
      b->event_device = -1;
      b->copy_pending = false;
    }
    rc = btc_check(cudaEventCreateWithFlags(&b->last_copy, cudaEventDisableTiming), "transfer: event");
    if (rc == 0) b->event_device = x->device;
  }
  if (rc == 0) rc = btc_check(cudaEventRecord(b->last_copy, s), "transfer: recording a copy");
  if (rc == 0) b->copy_pending = true;
  pthread_mutex_unlock(&pin_lock);
  if (rc < 0 && cudaStreamSynchronize(s) != cudaSuccess) cudaGetLastError();   /* no event to wait on later: wait now */
  return rc;
}

int btc_transfer_end(btc_Transfer *x) {
  if (btc_set_device(x->device) < 0) return -1;
  cudaStream_t s;
  if (copy_stream(x->device, &s) < 0) return -1;
  if (btc_check(cudaEventRecord(x->done, s), "transfer: recording the end") < 0) return -1;
  x->ended = true;
  return 0;
}

int btc_transfer_use(btc_Transfer *x) {
  if (!x) return 0;
  int rc;
  if (!x->ended) {
    rc = bt_seterr("transfer: the batch is used before its copies were all queued");
    btc_transfer_drop(x);
    return rc;
  }
  rc = btc_set_device(x->device);
  if (rc == 0) rc = btc_check(cudaStreamWaitEvent(0, x->done, 0), "transfer: waiting for the copies");
  if (rc < 0) {   /* the compute stream does not wait: the host does */
    cudaEventSynchronize(x->done);
    cudaGetLastError();
  }
  transfer_free(x);
  return rc;
}

void btc_transfer_drop(btc_Transfer *x) {
  if (!x) return;
  cudaStream_t s;
  /* Record done again: it then covers every copy queued so far, also when
  ** the prefetch thread stopped before btc_transfer_end. Whatever fails,
  ** the host waits before the batch's blocks can be reused. */
  if (btc_set_device(x->device) == 0 && copy_stream(x->device, &s) == 0 &&
      cudaEventRecord(x->done, s) == cudaSuccess && cudaEventSynchronize(x->done) == cudaSuccess) {
    transfer_free(x);
    return;
  }
  cudaGetLastError();
  cudaDeviceSynchronize();
  cudaGetLastError();
  transfer_free(x);
}

void btc_stage_api(bt_CudaApi *api) {
  api->pinned_alloc = btc_pinned_alloc;
  api->pinned_free = btc_pinned_free;
  api->pinned_stats = btc_pinned_stats;
  api->transfer_begin = btc_transfer_begin;
  api->transfer_copy = btc_transfer_copy;
  api->transfer_end = btc_transfer_end;
  api->transfer_use = btc_transfer_use;
  api->transfer_drop = btc_transfer_drop;
}
