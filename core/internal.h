/*
** internal.h: what the engine's own files share and users do not see.
*/
#ifndef BRASA_INTERNAL_H
#define BRASA_INTERNAL_H

#include "brasa.h"
#include "dispatch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- storage.c: the one allocation entry point per device ------------- */

/* Allocates nbytes (checked against the machine's memory) and reports the
** delta to the alloc hook. NULL and a message naming `op` on failure. */
bt_Storage *bt_storage_new(const char *op, int64_t nbytes, bt_Device dev);
void bt_storage_retain(bt_Storage *s);
void bt_storage_release(bt_Storage *s);
/* Raw allocation for kernel scratch space: same accounting, same checks. */
void *bt_alloc(const char *op, int64_t nbytes, bt_DeviceType dev);
void bt_free(void *p, int64_t nbytes, bt_DeviceType dev);

/* ---- cpu/block_cache.c: freed CPU blocks kept for reuse ---------------- */

size_t bt_block_size(size_t n);          /* bytes actually allocated for n */
void *bt_block_take(size_t n);           /* a cached block for n bytes, or NULL */
bool bt_block_put(void *p, size_t n);    /* keeps p (allocated for n); false: free it */
void bt_block_cache_clear(void);
int64_t bt_block_cache_bytes(void);

/* ---- tensor.c ----------------------------------------------------------- */

/* A tensor struct over an existing storage (retained); no data is touched. */
bt_Tensor *bt_tensor_wrap(bt_Storage *s, bt_DType dt, int ndim, const int64_t *shape,
                          const int64_t *stride, int64_t offset);
/* Contiguous strides for shape; returns numel. */
int64_t bt_contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
/* Product of sizes with overflow check; -1 and a message naming op. */
int64_t bt_checked_numel(const char *op, int ndim, const int64_t *shape);
bool bt_same_shape(const bt_Tensor *a, const bt_Tensor *b);
bool bt_shape_eq(const bt_Tensor *t, int ndim, const int64_t *shape);
/* Broadcast shapes a and b (NumPy rules) into out; -1 and message on error. */
int bt_broadcast_shapes(const char *op, int na, const int64_t *a, int nb,
                        const int64_t *b, int *nout, int64_t *out);
/* A view of t expanded to shape (no autograd, no checks beyond broadcast). */
bt_Tensor *bt_expand_raw(bt_Tensor *t, int ndim, const int64_t *shape);
/* A view of t with new shape/strides sharing storage (no autograd). */
bt_Tensor *bt_alias(bt_Tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                    int64_t offset);
/* Makes the storage of an in-place target known to autograd: bumps its version. */
static inline void bt_bump_version(bt_Tensor *t) { t->storage->version++; }

/* Element read/write of any dtype at a raw pointer (used by slow paths). */
double bt_load(const void *p, bt_DType dt);
void bt_store(void *p, bt_DType dt, double v);
int64_t bt_load_i64(const void *p, bt_DType dt);
/* Float to int64: truncated toward zero, saturated at the ends, NaN -> 0. */
int64_t bt_f2i(double v);
void bt_store_i64(void *p, bt_DType dt, int64_t v);

/* Copy of t in dtype dt and contiguous (t itself, retained, when already so). */
bt_Tensor *bt_contiguous_as(bt_Tensor *t, bt_DType dt);

/* ---- errors --------------------------------------------------------------- */

/* Format helpers for messages: "[2x3]" in a static rotating buffer. */
const char *bt_shp(const bt_Tensor *t);
const char *bt_shpn(int ndim, const int64_t *shape);

/* ---- random.c ------------------------------------------------------------ */

/* Reserves n counters from the global generator; returns the first. */
uint64_t bt_random_reserve(uint64_t n, uint64_t *seed);
/* Philox 4x32-10 block: 4 uint32 outputs for (seed, counter). */
void bt_philox(uint64_t seed, uint64_t counter, uint32_t out[4]);

/* ---- parallel.c ----------------------------------------------------------- */

/* Calls fn(ctx, begin, end) over [0, n) split into chunks of at least
** `grain` items across the pool's threads; runs inline when small. Returns
** -1 if interrupted (bt_interrupted) at a chunk boundary. */
typedef void (*bt_RangeFn)(void *ctx, int64_t begin, int64_t end);
int bt_parallel_for(int64_t n, int64_t grain, bt_RangeFn fn, void *ctx);

/* ---- small helpers the ops share ----------------------------------------- */

/* The device a tensor lives on. */
static inline bt_Device bt_dev(const bt_Tensor *t) { return t->storage->device; }

/* Hot CPU loops compiled three times on x86-64 Linux with GCC (AVX-512,
** AVX2 and the baseline), the loader picking the best the CPU has:
** `BT_TARGET_CLONES static void loop(...)`. Off with BT_NO_TARGET_CLONES
** (the ThreadSanitizer build: the loader runs the clones' resolvers before
** TSan has started, and instrumented resolvers crash). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(BT_NO_TARGET_CLONES)
#define BT_TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BT_TARGET_CLONES
#endif

/* The dtype kernels compute in: f16 and bf16 widen to f32. */
static inline bt_DType bt_compute_dtype(bt_DType d) {
  return d == BT_F16 || d == BT_BF16 ? BT_F32 : d;
}

/* Releases the temporaries of an op or a rule (NULLs are fine):
** BT_RELEASE(a, b, c). */
static inline void bt_release_n(int n, bt_Tensor **ts) {
  for (int i = 0; i < n; i++) bt_release(ts[i]);
}
#define BT_RELEASE(...)                                          \
  do {                                                           \
    bt_Tensor *bt_tmp_[] = {__VA_ARGS__};                        \
    bt_release_n((int)(sizeof bt_tmp_ / sizeof bt_tmp_[0]), bt_tmp_); \
  } while (0)

#define BT_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BT_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
