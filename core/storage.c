/*
** storage.c: refcounted storage and the one allocation entry point per
** device. Every byte tensors hold passes through bt_alloc, so the total is
** known, the Lua collector is told (the alloc hook), sizes that overflow or
** exceed the machine's memory are refused with an error, and tests can make
** an allocation fail on purpose.
*/
#include "internal.h"
#include "cuda_api.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

static bt_AllocHook alloc_hook;
static void *alloc_hook_ud;
static _Atomic int64_t bytes_in_use[BT_NUM_DEVICE_TYPES];
static _Atomic int64_t fail_countdown = -1;

/* Device allocators: the CUDA backend installs its own through
** bt_register_device_allocator (see core/cuda/). */
typedef void *(*DevAlloc)(int64_t nbytes);
typedef void (*DevFree)(void *p);
static DevAlloc dev_alloc[BT_NUM_DEVICE_TYPES];
static DevFree dev_free[BT_NUM_DEVICE_TYPES];

void bt_register_device_allocator(bt_DeviceType type, DevAlloc a, DevFree f) {
  dev_alloc[type] = a;
  dev_free[type] = f;
}

void bt_set_alloc_hook(bt_AllocHook hook, void *ud) {
  alloc_hook = hook;
  alloc_hook_ud = ud;
}

int64_t bt_bytes_in_use(bt_DeviceType dev) { return atomic_load(&bytes_in_use[dev]); }

void bt_fail_alloc_after(int64_t n) { atomic_store(&fail_countdown, n); }

static int64_t physical_memory(void) {
  static int64_t mem;
  if (!mem) {
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    mem = pages > 0 && size > 0 ? (int64_t)pages * size : INT64_MAX;
  }
  return mem;
}

static void report(bt_DeviceType dev, int64_t delta) {
  atomic_fetch_add(&bytes_in_use[dev], delta);
  if (alloc_hook) alloc_hook(alloc_hook_ud, dev, delta);
}

static bool injected_failure(void) {
  int64_t n = atomic_load(&fail_countdown);
  if (n < 0) return false;
  atomic_store(&fail_countdown, n - 1);
  return n == 0;
}

/* CPU blocks are 64-byte aligned for SIMD. Blocks of BIG_BLOCK bytes or
** more (glibc always serves them with a fresh mmap, and unmaps them on free)
** are 2 MB aligned and advised as transparent huge pages: a new 40 MB tensor
** then takes 20 page faults instead of 10,000, which made bt_add of two 1e7
** f32 tensors into a new one 6x slower than the in-place add (bench/). */
#define BIG_BLOCK ((size_t)32 << 20)
#define HUGE_PAGE ((size_t)2 << 20)

static void *cpu_alloc_fresh(size_t nbytes) {
  nbytes = bt_block_size(nbytes);   /* a size class when the block may be cached */
  if (nbytes >= BIG_BLOCK) {
    size_t n = (nbytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    void *p = aligned_alloc(HUGE_PAGE, n);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, n, MADV_HUGEPAGE);   /* advice only: failure is harmless */
#endif
    return p;
  }
  size_t n = (nbytes + 63) & ~(size_t)63;
  return aligned_alloc(64, n ? n : 64);
}

/* A cached block if one fits, else a fresh one; on failure the cache is
** emptied and the allocation tried again. */
static void *cpu_alloc(size_t nbytes) {
  void *p = bt_block_take(nbytes);
  if (p) return p;
  p = cpu_alloc_fresh(nbytes);
  if (!p && bt_block_cache_bytes() > 0) {
    bt_block_cache_clear();
    p = cpu_alloc_fresh(nbytes);
  }
  return p;
}

void *bt_alloc(const char *op, int64_t nbytes, bt_DeviceType dev) {
  if (nbytes < 0)
    return bt_seterr("%s: negative allocation size %lld", op, (long long)nbytes), NULL;
  if (dev == BT_CPU && nbytes > physical_memory())
    return bt_seterr("%s: cannot allocate %.3g GB: more than this machine's %.3g GB of memory",
                     op, nbytes / 1e9, physical_memory() / 1e9), NULL;
  if (injected_failure())
    return bt_seterr("%s: out of memory allocating %lld bytes (injected failure)", op,
                     (long long)nbytes), NULL;
  void *p;
  if (dev == BT_CPU) {
    p = cpu_alloc((size_t)nbytes);
  } else if (dev_alloc[dev]) {
    p = dev_alloc[dev](nbytes);
  } else {
    return bt_seterr("%s: the CUDA backend is not loaded", op), NULL;
  }
  if (!p && dev != BT_CPU)   /* the device allocator said why (requested, free, cached) */
    return bt_seterr("%s: %s", op, bt_errmsg()), NULL;
  if (!p)
    return bt_seterr("%s: out of memory allocating %lld bytes", op, (long long)nbytes), NULL;
  report(dev, nbytes);
  return p;
}

void bt_free(void *p, int64_t nbytes, bt_DeviceType dev) {
  if (!p) return;
  if (dev == BT_CPU) {
    if (!bt_block_put(p, (size_t)nbytes)) free(p);
  } else {
    dev_free[dev](p);
  }
  report(dev, -nbytes);
}

/* Small CPU storages keep their data in the same block as the struct: one
** allocation instead of two for the scalars and tiny tensors that dominate
** op-by-op code. */
#define INLINE_MAX 256

bt_Storage *bt_storage_new(const char *op, int64_t nbytes, bt_Device dev) {
  bt_Storage *s;
  if (dev.type == BT_CPU && nbytes >= 0 && nbytes <= INLINE_MAX) {
    if (injected_failure())
      return bt_seterr("%s: out of memory allocating %lld bytes (injected failure)", op,
                       (long long)nbytes), NULL;
    /* malloc, not aligned_alloc: glibc's memalign path costs ~600
    ** instructions (a tenth of a tiny op from Lua); the data, 64 bytes in,
    ** keeps malloc's 16-byte alignment, enough for every dtype. */
    s = malloc(64 + INLINE_MAX);
    if (!s) return bt_seterr("%s: out of memory", op), NULL;
    s->data = (char *)s + 64;
    s->inline_data = true;
    report(BT_CPU, nbytes);
  } else {
    /* A device storage loads the CUDA backend on first use and selects the device. */
    if (dev.type != BT_CPU && bt_cuda_use_device(op, dev.index) < 0) return NULL;
    s = malloc(sizeof *s);
    if (!s) return bt_seterr("%s: out of memory", op), NULL;
    s->data = bt_alloc(op, nbytes, dev.type);
    if (!s->data) {
      free(s);
      return NULL;
    }
    s->inline_data = false;
  }
  s->refcount = 1;
  s->device = dev;
  s->nbytes = nbytes;
  s->version = 0;
  return s;
}

void bt_storage_retain(bt_Storage *s) { __atomic_add_fetch(&s->refcount, 1, __ATOMIC_RELAXED); }

void bt_storage_release(bt_Storage *s) {
  if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
  if (s->inline_data) report(BT_CPU, -s->nbytes);
  else bt_free(s->data, s->nbytes, s->device.type);
  free(s);
}
