/*
** cpu/block_cache.c: a cache of freed CPU blocks.
**
** Training loops free and allocate the same sizes every step. Without a
** cache, glibc returns large blocks to the kernel (munmap, or heap
** trimming) and the next allocation faults fresh zeroed pages back in: at a
** few hundred megabytes per step that costs more than the arithmetic.
** Blocks of 64 KB or more are therefore rounded up to a size class (steps of
** a quarter of a power of two: at most 25% slack) and kept on a free list
** per class when freed, up to 256 MB (or 1/64 of the machine's memory if
** that is less): enough for a training step's temporaries without growing
** the peak resident memory much. An allocation that fails empties the cache and retries.
** Builds with sanitizers define BT_NO_BLOCK_CACHE, so ASan sees every free.
*/
#include "../internal.h"

#include <pthread.h>
#include <unistd.h>

#define MIN_CACHED ((size_t)64 << 10)
#define MAX_CACHED_BLOCK ((size_t)512 << 20)
#define SLOTS 8                         /* blocks kept per size class */
#define NCLASSES 96

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *slots[NCLASSES][SLOTS];
static int counts[NCLASSES];
static size_t cached_bytes;

/* The class of n bytes (n >= MIN_CACHED) and its size. */
static int size_class(size_t n, size_t *size) {
  int e = 63 - __builtin_clzll((unsigned long long)(n - 1));   /* 2^e < n <= 2^(e+1) */
  size_t base = (size_t)1 << e, quarter = base >> 2;
  size_t q = (n - base + quarter - 1) / quarter;                 /* 1..4 quarters above 2^e */
  *size = base + q * quarter;
  return (e - 16) * 4 + (int)q - 1;                              /* 2^16 = MIN_CACHED */
}

#ifndef BT_NO_BLOCK_CACHE
static size_t cache_limit(void) {
  static size_t limit;
  if (!limit) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    size_t mem = pages > 0 && size > 0 ? (size_t)pages * (size_t)size : (size_t)4 << 30;
    limit = mem / 64 < ((size_t)256 << 20) ? mem / 64 : (size_t)256 << 20;
  }
  return limit;
}
#endif

/* Bytes to allocate for a request of n bytes (a class size when cached). */
size_t bt_block_size(size_t n) {
  if (n < MIN_CACHED || n > MAX_CACHED_BLOCK) return n;
  size_t size;
  size_class(n, &size);
  return size;
}

void *bt_block_take(size_t n) {
#ifdef BT_NO_BLOCK_CACHE
  (void)n;
  return NULL;
#else
  if (n < MIN_CACHED || n > MAX_CACHED_BLOCK) return NULL;
  size_t size;
  int c = size_class(n, &size);
  void *p = NULL;
  pthread_mutex_lock(&lock);
  if (counts[c] > 0) {
    p = slots[c][--counts[c]];
    cached_bytes -= size;
  }
  pthread_mutex_unlock(&lock);
  return p;
#endif
}

bool bt_block_put(void *p, size_t n) {
#ifdef BT_NO_BLOCK_CACHE
  (void)p; (void)n;
  return false;
#else
  if (n < MIN_CACHED || n > MAX_CACHED_BLOCK) return false;
  size_t size;
  int c = size_class(n, &size);
  bool kept = false;
  pthread_mutex_lock(&lock);
  if (counts[c] < SLOTS && cached_bytes + size <= cache_limit()) {
    slots[c][counts[c]++] = p;
    cached_bytes += size;
    kept = true;
  }
  pthread_mutex_unlock(&lock);
  return kept;
#endif
}

void bt_block_cache_clear(void) {
  pthread_mutex_lock(&lock);
  for (int c = 0; c < NCLASSES; c++) {
    while (counts[c] > 0) free(slots[c][--counts[c]]);
  }
  cached_bytes = 0;
  pthread_mutex_unlock(&lock);
}

int64_t bt_block_cache_bytes(void) {
  pthread_mutex_lock(&lock);
  size_t n = cached_bytes;
  pthread_mutex_unlock(&lock);
  return (int64_t)n;
}
