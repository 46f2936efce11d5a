/*
** mock_cuda_stage.c: a stand-in for libbrasa_cuda.so that checks how the
** core drives the staging API (cuda_api.h) on machines without a GPU. Used
** by test_loader_stage.c through $BRASA_CUDA_LIBRARY.
**
** "Device" memory is host memory, tracked block by block. A transfer's
** copies are queued, not done: they land only when the transfer is used or
** dropped, as the compute stream would see them. So a batch handed over
** without transfer_use holds garbage, and the test's comparison fails.
** Protocol violations are counted (mock_violations), each with a message:
** - a copy outside a transfer's begin..end, or to memory that is not a
**   live device block, or from memory that is not a pinned block in use;
** - a device block freed while a queued copy still targets it (the race
**   the real library prevents with its events);
** - a pinned block freed twice; transfer_use before transfer_end;
** - begin, use or drop from a thread other than the one that loaded the
**   library (the loader allocates and hands over on the caller's thread).
*/
#include "cuda_api.h"
#include "dispatch.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef struct Block {
  char *p;
  int64_t n;
  bool live;
  struct Block *next;
} Block;

typedef struct Copy {
  void *dst;
  const void *src;
  int64_t n;
  struct Copy *next;
} Copy;

struct bt_CudaTransfer {
  bool ended;
  Copy *copies;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static Block *device_blocks, *pinned_blocks;
static pthread_t main_thread;
static int violations, transfers_live, transfers_total, copies_done, worker_copies;
static bt_CudaPinnedStats pstats;
static bt_CudaTransfer *live[64];   /* transfers begun and not used or dropped */

static void violation(const char *fmt, const char *what) {
  violations++;
  fprintf(stderr, "mock_cuda_stage: protocol violation: ");
  fprintf(stderr, fmt, what);
  fputc('\n', stderr);
}

static Block *find(Block *list, const void *p, int64_t n) {
  for (Block *b = list; b; b = b->next)
    if (b->live && (const char *)p >= b->p && (const char *)p + n <= b->p + b->n) return b;
  return NULL;
}

static Block *add_block(Block **list, int64_t n) {
  Block *b = calloc(1, sizeof *b);
  b->p = malloc(n > 0 ? (size_t)n : 1);
  memset(b->p, 0xA5, n > 0 ? (size_t)n : 1);   /* garbage until a copy lands */
  b->n = n;
  b->live = true;
  b->next = *list;
  *list = b;
  return b;
}

/* ---- the device allocator -------------------------------------------------- */

static void *dev_alloc(int64_t n) {
  pthread_mutex_lock(&mu);
  void *p = add_block(&device_blocks, n)->p;
  pthread_mutex_unlock(&mu);
  return p;
}

static void dev_free(void *p) {
  pthread_mutex_lock(&mu);
  Block *b = find(device_blocks, p, 0);
  if (!b) violation("%s", "freeing a device block that is not live");
  for (int i = 0; b && i < 64; i++)
    for (Copy *c = live[i] ? live[i]->copies : NULL; c; c = c->next)
      if ((char *)c->dst >= b->p && (char *)c->dst < b->p + b->n)
        violation("%s", "a device block freed while a queued copy targets it");
  if (b) b->live = false;   /* kept, so a later use of it is caught */
  pthread_mutex_unlock(&mu);
}

/* ---- host services ------------------------------------------------------------ */

static int device_name(int index, char *buf, size_t len) {
  snprintf(buf, len, "mock device %d", index);
  return 0;
}
static int set_device(int index) { return 0; }
static int synchronize(void) { return 0; }
static int copy_bytes(void *dst, const void *src, int64_t n) {
  memcpy(dst, src, (size_t)n);
  return 0;
}
static int copy_to_device(void *dst, int i, const void *src, int64_t n) { return copy_bytes(dst, src, n); }
static int copy_to_host(void *dst, const void *src, int i, int64_t n) { return copy_bytes(dst, src, n); }
static int copy_d2d(void *dst, int di, const void *src, int si, int64_t n) { return copy_bytes(dst, src, n); }
static int memory_stats(int index, bt_CudaMemoryStats *s) {
  memset(s, 0, sizeof *s);
  return 0;
}
static int empty_cache(void) { return 0; }

/* ---- staging ------------------------------------------------------------------------ */

static void *pinned_alloc(int64_t n) {
  pthread_mutex_lock(&mu);
  pstats.num_allocs++;
  pstats.num_host_allocs++;
  pstats.allocated += n;
  void *p = add_block(&pinned_blocks, n)->p;
  pthread_mutex_unlock(&mu);
  return p;
}

static void pinned_free(void *p) {
  pthread_mutex_lock(&mu);
  Block *b = find(pinned_blocks, p, 0);
  if (!b || b->p != p) {
    violation("%s", "freeing pinned memory that is not a live block");
  } else {
    /* The real pool waits for copies still reading the block before
    ** reusing it; the mock never reuses, but keeps the bytes until then. */
    b->live = false;
    pstats.allocated -= b->n;
  }
  pthread_mutex_unlock(&mu);
}

static int pinned_stats(bt_CudaPinnedStats *s) {
  pthread_mutex_lock(&mu);
  *s = pstats;
  pthread_mutex_unlock(&mu);
  return 0;
}

static void check_main(const char *op) {
  if (!pthread_equal(pthread_self(), main_thread)) violation("%s called from another thread", op);
}

static bt_CudaTransfer *transfer_begin(int index) {
  check_main("transfer_begin");
  bt_CudaTransfer *x = calloc(1, sizeof *x);
  pthread_mutex_lock(&mu);
  int i = 0;
  while (i < 64 && live[i]) i++;
  if (i == 64) violation("%s", "more than 64 transfers alive (leaked?)");
  else live[i] = x;
  transfers_live++;
  transfers_total++;
  pthread_mutex_unlock(&mu);
  return x;
}

static int transfer_copy(bt_CudaTransfer *x, void *dst, const void *src, int64_t n) {
  if (n <= 0) return 0;
  pthread_mutex_lock(&mu);
  if (x->ended) violation("%s", "a copy after transfer_end");
  if (!find(device_blocks, dst, n)) violation("%s", "a copy to memory that is not a live device block");
  if (!find(pinned_blocks, src, n)) violation("%s", "a copy from memory that is not a pinned block in use");
  if (!pthread_equal(pthread_self(), main_thread)) worker_copies++;
  Copy *c = calloc(1, sizeof *c);
  c->dst = dst;
  c->src = src;
  c->n = n;
  c->next = x->copies;
  x->copies = c;
  pthread_mutex_unlock(&mu);
  return 0;
}

static int transfer_end(bt_CudaTransfer *x) {
  pthread_mutex_lock(&mu);
  if (x->ended) violation("%s", "transfer_end twice");
  x->ended = true;
  pthread_mutex_unlock(&mu);
  return 0;
}

/* The queued copies land (lock held); the sources must still hold their
** bytes: a pinned block freed before is kept by the mock, as the real
** pool keeps it from reuse until its copies are done. */
static void land(bt_CudaTransfer *x) {
  for (Copy *c = x->copies, *next; c; c = next) {
    next = c->next;
    memcpy(c->dst, c->src, (size_t)c->n);
    copies_done++;
    free(c);
  }
  x->copies = NULL;
  for (int i = 0; i < 64; i++)
    if (live[i] == x) live[i] = NULL;
  transfers_live--;
  free(x);
}

static int transfer_use(bt_CudaTransfer *x) {
  check_main("transfer_use");
  pthread_mutex_lock(&mu);
  if (!x->ended) violation("%s", "transfer_use before transfer_end");
  land(x);
  pthread_mutex_unlock(&mu);
  return 0;
}

static void transfer_drop(bt_CudaTransfer *x) {
  check_main("transfer_drop");
  pthread_mutex_lock(&mu);
  land(x);
  pthread_mutex_unlock(&mu);
}

static const bt_Backend mock_backend = {.name = "mock"};

EXPORT int bt_cuda_backend_init(bt_CudaApi *api) {
  main_thread = pthread_self();
  api->abi = BT_CUDA_ABI;
  api->device_count = 1;
  api->device_name = device_name;
  api->set_device = set_device;
  api->synchronize = synchronize;
  api->copy_to_device = copy_to_device;
  api->copy_to_host = copy_to_host;
  api->copy_device_to_device = copy_d2d;
  api->memory_stats = memory_stats;
  api->empty_cache = empty_cache;
  api->pinned_alloc = pinned_alloc;
  api->pinned_free = pinned_free;
  api->pinned_stats = pinned_stats;
  api->transfer_begin = transfer_begin;
  api->transfer_copy = transfer_copy;
  api->transfer_end = transfer_end;
  api->transfer_use = transfer_use;
  api->transfer_drop = transfer_drop;
  bt_register_device_allocator(BT_CUDA, dev_alloc, dev_free);
  bt_register_backend(BT_CUDA, &mock_backend);
  return 0;
}

/* What the test reads (through dlsym). */
EXPORT void mock_cuda_stage_counts(int *viol, int *live_transfers, int *total, int *copies, int *from_worker) {
  pthread_mutex_lock(&mu);
  *viol = violations;
  *live_transfers = transfers_live;
  *total = transfers_total;
  *copies = copies_done;
  *from_worker = worker_copies;
  pthread_mutex_unlock(&mu);
}
