/*
** cuda/alloc.c: the caching allocator behind every device byte.
**
** cudaMalloc and cudaFree are slow (they synchronise the device) and a
** training loop frees and makes the same sizes again each step, so freed
** blocks are kept and reused:
** - Sizes are rounded to size classes: powers of two from 512 bytes to
**   1 MiB, then multiples of 2 MiB.
** - A request takes the smallest cached block of its class or larger, up to
**   1/8 more than needed (2 MiB more at least, for large blocks); blocks are
**   never split.
** - Freeing keeps the block in the cache; btc_empty_cache gives every cached
**   block back.
** - When cudaMalloc fails, the cache of that device is given back and the
**   allocation tried again; then the OOM hook runs (the binding runs Lua's
**   collector: unreachable tensors free their blocks) and it is tried once
**   more; if it fails still, the error states the bytes requested, free on
**   the device and cached.
** Work runs on one stream (common.h), so a block freed by one op can serve
** the next at once: the kernels that used it come first in the stream.
** The one exception, the DataLoader's copies to the device on a copy
** stream (stage.c), keeps that true: a copy waits for the compute-stream
** work queued before its destination was allocated, the compute stream
** waits for the copy before the batch is used, and a batch never used is
** released only after the host saw its copy finish.
*/
#include "common.h"
#include "stage.h"

#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdio.h>

#define MAX_DEVICES 64
#define SMALL_LIMIT ((int64_t)1 << 20)
#define LARGE_STEP ((int64_t)2 << 20)
#define NBUCKETS 4096

typedef struct Block {
  void *ptr;
  int64_t size;              /* the size class (bytes taken from the device) */
  int device;
  bool in_use;
  struct Block *hash_next;   /* blocks by pointer */
} Block;

typedef struct {
  Block **items;             /* free blocks, sorted by size */
  int n, cap;
  bt_CudaMemoryStats stats;
} Pool;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Block *buckets[NBUCKETS];
static Pool pools[MAX_DEVICES];

static int64_t size_class(int64_t n) {
  if (n <= 512) return 512;
  if (n <= SMALL_LIMIT) {
    int64_t c = 512;
    while (c < n) c <<= 1;
    return c;
  }
  return (n + LARGE_STEP - 1) / LARGE_STEP * LARGE_STEP;
}

static unsigned hash_ptr(const void *p) { return (unsigned)(((uintptr_t)p >> 9) % NBUCKETS); }

static void hash_insert(Block *b) {
  unsigned h = hash_ptr(b->ptr);
  b->hash_next = buckets[h];
  buckets[h] = b;
}

static Block *hash_find(const void *p) {
  for (Block *b = buckets[hash_ptr(p)]; b; b = b->hash_next)
    if (b->ptr == p) return b;
  return NULL;
}

static void hash_remove(Block *b) {
  Block **pp = &buckets[hash_ptr(b->ptr)];
  while (*pp && *pp != b) pp = &(*pp)->hash_next;
  if (*pp) *pp = b->hash_next;
}

/* First free block of at least `size` (binary search). */
static int lower_bound(const Pool *pool, int64_t size) {
  int lo = 0, hi = pool->n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (pool->items[mid]->size < size) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static bool pool_insert(Pool *pool, Block *b) {
  if (pool->n == pool->cap) {
    int cap = pool->cap ? pool->cap * 2 : 64;
    Block **items = realloc(pool->items, (size_t)cap * sizeof *items);
    if (!items) return false;
    pool->items = items;
    pool->cap = cap;
  }
  int at = lower_bound(pool, b->size);
  memmove(pool->items + at + 1, pool->items + at, (size_t)(pool->n - at) * sizeof *pool->items);
  pool->items[at] = b;
  pool->n++;
  return true;
}

static Block *pool_take(Pool *pool, int64_t size) {
  int at = lower_bound(pool, size);
  if (at == pool->n) return NULL;
  Block *b = pool->items[at];
  int64_t slack = size <= SMALL_LIMIT ? 0 : BT_MAX(size / 8, LARGE_STEP);
  if (b->size > size + slack) return NULL;
  memmove(pool->items + at, pool->items + at + 1, (size_t)(pool->n - at - 1) * sizeof *pool->items);
  pool->n--;
  return b;
}

/* Gives a device's cached blocks back (lock held). */
static int release_cached(int device) {
  Pool *pool = &pools[device];
  int rc = 0;
  for (int i = 0; i < pool->n; i++) {
    Block *b = pool->items[i];
    hash_remove(b);
    if (cudaFree(b->ptr) != cudaSuccess) {
      cudaGetLastError();
      rc = -1;
    }
    pool->stats.reserved -= b->size;
    pool->stats.cached -= b->size;
    free(b);
  }
  pool->n = 0;
  return rc;
}

static const char *human(int64_t n, char *buf) {
  if (n >= ((int64_t)1 << 30)) snprintf(buf, 32, "%.2f GiB", (double)n / (1 << 30));
  else if (n >= ((int64_t)1 << 20)) snprintf(buf, 32, "%.2f MiB", (double)n / (1 << 20));
  else snprintf(buf, 32, "%lld bytes", (long long)n);
  return buf;
}

void *btc_alloc(int64_t nbytes) {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= MAX_DEVICES) {
    cudaGetLastError();
    bt_seterr("CUDA allocation: no current device");
    return NULL;
  }
  int64_t size = size_class(nbytes);
  pthread_mutex_lock(&lock);
  Pool *pool = &pools[device];
  pool->stats.num_allocs++;
  Block *b = pool_take(pool, size);
  if (b) {
    pool->stats.num_cache_hits++;
    pool->stats.cached -= b->size;
  } else {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, (size_t)size);
    if (e == cudaErrorMemoryAllocation) {   /* give the cache back, then try again */
      cudaGetLastError();
      int64_t had = pool->stats.cached;
      release_cached(device);
      e = cudaMalloc(&p, (size_t)size);
      if (e == cudaErrorMemoryAllocation) {   /* run the collector (unlocked: it frees blocks), once more */
        cudaGetLastError();
        pthread_mutex_unlock(&lock);
        bt_run_oom_hook();
        pthread_mutex_lock(&lock);
        had += pool->stats.cached;
        release_cached(device);
        e = cudaMalloc(&p, (size_t)size);
      }
      if (e != cudaSuccess) {
        cudaGetLastError();
        size_t fr = 0, total = 0;
        cudaMemGetInfo(&fr, &total);
        pool->stats.num_ooms++;
        char r[32], f[32], t[32], c[32], a[32];
        bt_seterr("CUDA out of memory on cuda:%d: %s requested, %s free of %s, %s cached by brasa "
                  "(given back, and the collector run, before retrying), %s held by tensors",
                  device, human(nbytes, r), human((int64_t)fr, f), human((int64_t)total, t),
                  human(had, c), human(pool->stats.allocated, a));
        pthread_mutex_unlock(&lock);
        return NULL;
      }
    } else if (e != cudaSuccess) {
      cudaGetLastError();
      bt_seterr("CUDA allocation of %lld bytes: %s", (long long)nbytes, cudaGetErrorString(e));
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    b = malloc(sizeof *b);
    if (!b) {
      cudaFree(p);
      bt_seterr("CUDA allocation: out of host memory");
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    b->ptr = p;
    b->size = size;
    b->device = device;
    hash_insert(b);
    pool->stats.num_device_allocs++;
    pool->stats.reserved += size;
  }
  b->in_use = true;
  pool->stats.allocated += b->size;
  if (pool->stats.allocated > pool->stats.peak_allocated)
    pool->stats.peak_allocated = pool->stats.allocated;
  void *p = b->ptr;
  pthread_mutex_unlock(&lock);
  return p;
}

void btc_free(void *p) {
  if (!p) return;
  pthread_mutex_lock(&lock);
  Block *b = hash_find(p);
  if (b && b->in_use) {
    Pool *pool = &pools[b->device];
    b->in_use = false;
    pool->stats.allocated -= b->size;
    if (pool_insert(pool, b)) {
      pool->stats.cached += b->size;
    } else {   /* no room to cache it: give it back */
      hash_remove(b);
      cudaFree(b->ptr);
      pool->stats.reserved -= b->size;
      free(b);
    }
  }
  pthread_mutex_unlock(&lock);
}

int btc_empty_cache(void) {
  pthread_mutex_lock(&lock);
  int rc = 0, prev = -1;
  cudaGetDevice(&prev);
  for (int d = 0; d < MAX_DEVICES; d++) {
    if (pools[d].n == 0) continue;
    cudaSetDevice(d);
    if (release_cached(d) < 0) rc = -1;
  }
  if (prev >= 0) cudaSetDevice(prev);
  pthread_mutex_unlock(&lock);
  if (btc_pinned_empty_cache() < 0) rc = -1;   /* the staging buffers' cache too */
  return rc < 0 ? bt_seterr("empty_cache: cudaFree failed") : 0;
}

int btc_memory_stats(int index, bt_CudaMemoryStats *s) {
  if (index < 0 || index >= MAX_DEVICES) return bt_seterr("memory_stats: bad device %d", index);
  pthread_mutex_lock(&lock);
  *s = pools[index].stats;
  pthread_mutex_unlock(&lock);
  size_t fr = 0, total = 0;
  if (btc_set_device(index) == 0 && cudaMemGetInfo(&fr, &total) == cudaSuccess) {
    s->device_free = (int64_t)fr;
    s->device_total = (int64_t)total;
  } else {
    cudaGetLastError();
  }
  return 0;
}

void *btc_scratch(const char *op, int64_t nbytes) { return bt_alloc(op, nbytes, BT_CUDA); }

void btc_scratch_free(void *p, int64_t nbytes) { bt_free(p, nbytes, BT_CUDA); }
