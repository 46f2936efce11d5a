/*
** random.c: the seeded generator. Philox 4x32-10 (Salmon et al., 2011) is
** counter-based: element i of a random tensor is a pure function of (seed,
** counter + i), so results do not depend on the number of threads, and the
** CUDA backend can produce the same streams.
*/
#include "internal.h"
#include "autograd.h"

#include <pthread.h>

static uint64_t gen_seed = 0x2545F4914F6CDD1DULL;
static uint64_t gen_counter;
static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;

void bt_manual_seed(uint64_t seed) {
  pthread_mutex_lock(&gen_lock);
  gen_seed = seed;
  gen_counter = 0;
  pthread_mutex_unlock(&gen_lock);
}

uint64_t bt_initial_seed(void) { return gen_seed; }

uint64_t bt_random_reserve(uint64_t n, uint64_t *seed) {
  pthread_mutex_lock(&gen_lock);
  uint64_t c = gen_counter;
  gen_counter += (n + 3) / 4 * 4;   /* whole Philox blocks, so streams never overlap */
  *seed = gen_seed;
  pthread_mutex_unlock(&gen_lock);
  return c;
}

void bt_philox(uint64_t seed, uint64_t counter, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* ---- ops ----------------------------------------------------------------- */

/* Fills t as args say (dispatch.h); each element takes one counter. */
static int random_fill(const char *op, bt_Tensor *t, bt_RandomArgs args) {
  int (*k)(bt_Tensor *, const bt_RandomArgs *) = BT_KERNEL(op, t->storage->device, random);
  if (!k) return -1;
  if (bt_ag_check_inplace(op, t) < 0) return -1;   /* uniform_ on a leaf that requires grad */
  args.counter = bt_random_reserve((uint64_t)bt_numel(t), &args.seed);
  if (k(t, &args) < 0) return -1;
  bt_bump_version(t);
  return 0;
}

int bt_uniform_(bt_Tensor *t, double a, double b) {
  if (!bt_dtype_is_float(t->dtype))
    return bt_seterr("uniform_: needs a float tensor, got %s", bt_dtype_name(t->dtype));
  return random_fill("uniform_", t, (bt_RandomArgs){.kind = BT_RAND_UNIFORM, .a = a, .b = b});
}

int bt_normal_(bt_Tensor *t, double mean, double std) {
  if (!bt_dtype_is_float(t->dtype))
    return bt_seterr("normal_: needs a float tensor, got %s", bt_dtype_name(t->dtype));
  if (std < 0) return bt_seterr("normal_: std must be >= 0, got %g", std);
  return random_fill("normal_", t, (bt_RandomArgs){.kind = BT_RAND_NORMAL, .a = mean, .b = std});
}

int bt_bernoulli_(bt_Tensor *t, double p) {
  if (!(p >= 0 && p <= 1)) return bt_seterr("bernoulli_: p must be in [0, 1], got %g", p);
  return random_fill("bernoulli_", t, (bt_RandomArgs){.kind = BT_RAND_BERNOULLI, .a = p});
}

static bt_Tensor *random_new(const char *op, int ndim, const int64_t *shape, bt_DType dt,
                             bt_RandomArgs args) {
  if (args.kind != BT_RAND_INT && !bt_dtype_is_float(dt))
    return bt_seterr("%s: needs a float dtype, got %s", op, bt_dtype_name(dt)), NULL;
  bt_Tensor *t = bt_empty(ndim, shape, dt, BT_CPU_DEVICE);
  if (t && random_fill(op, t, args) < 0) {
    bt_release(t);
    return NULL;
  }
  return t;
}

bt_Tensor *bt_rand(int ndim, const int64_t *shape, bt_DType dt) {
  return random_new("rand", ndim, shape, dt, (bt_RandomArgs){.kind = BT_RAND_UNIFORM, .a = 0, .b = 1});
}

bt_Tensor *bt_randn(int ndim, const int64_t *shape, bt_DType dt) {
  return random_new("randn", ndim, shape, dt, (bt_RandomArgs){.kind = BT_RAND_NORMAL, .a = 0, .b = 1});
}

bt_Tensor *bt_randint(int64_t lo, int64_t hi, int ndim, const int64_t *shape, bt_DType dt) {
  if (hi < lo)
    return bt_seterr("randint: empty range [%lld, %lld]", (long long)lo, (long long)hi), NULL;
  if (dt == BT_BOOL || dt == BT_F16 || dt == BT_BF16)
    return bt_seterr("randint: unsupported dtype %s", bt_dtype_name(dt)), NULL;
  return random_new("randint", ndim, shape, dt, (bt_RandomArgs){.kind = BT_RAND_INT, .lo = lo, .hi = hi});
}

bt_Tensor *bt_randperm(int64_t n) {
  if (n < 0) return bt_seterr("randperm: negative size %lld", (long long)n), NULL;
  bt_Tensor *t = bt_arange(0, 1, n, BT_I64);
  if (!t) return NULL;
  int64_t *p = t->storage->data;
  uint64_t seed, counter = bt_random_reserve((uint64_t)n, &seed);
  /* Fisher-Yates with one Philox output per step. */
  for (int64_t i = n - 1; i > 0; i--) {
    uint32_t r[4];
    bt_philox(seed, counter + (uint64_t)i, r);
    uint64_t x = ((uint64_t)r[0] << 32) | r[1];
    int64_t j = (int64_t)(x % (uint64_t)(i + 1));
    int64_t tmp = p[i]; p[i] = p[j]; p[j] = tmp;
  }
  return t;
}
