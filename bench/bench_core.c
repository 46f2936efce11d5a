/*
** bench_core.c: brasa's engine against what it is built on, side by side in
** one run.
**
**   SGEMM       bt_matmul (allocates its result)   vs  cblas_sgemm into a
**               preallocated matrix, square sizes 256..2048, GFLOP/s.
**   elementwise bt_add (into a new tensor), bt_binary_(BT_ADD) (in place)
**               and bt_sum over 1e7 f32 elements, in GB/s of bytes touched
**               (add: 2 reads + 1 write = 12 bytes/element; sum: 4), against
**               memcpy of the same number of bytes touched (half read, half
**               written), split over the same number of threads.
**
** Every figure is the median of REPEATS samples (env BENCH_REPEATS, default
** 7); the two sides alternate inside each repeat so drift hits both alike.
** Each sample is long enough (>= BENCH_MIN_MS, default 40 ms) to dwarf the
** clock. Both thread counts, 1 and 2, are run: bt_set_num_threads sets
** brasa's pool and OpenBLAS together, so cblas_sgemm sees the same count.
**
** Usage: bench_core [--quick]   (--quick: 3 repeats, sizes up to 1024)
** Targets: bt_matmul >= 95% of cblas_sgemm at 1024; bt_add >= 60% of memcpy.
*/
#include "brasa.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int repeats = 7;
static double min_sample_s = 0.040;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const char *what) {
  fprintf(stderr, "bench_core: %s failed: %s\n", what, bt_errmsg());
  exit(1);
}

/* A measured operation: run(ctx) does one call. */
typedef void (*RunFn)(void *ctx);

/* Seconds per call of a and of b: median over `repeats` samples of `inner`
** calls each, a and b alternating; inner is chosen from a warm-up so one
** sample of the slower side lasts at least min_sample_s. *ratio: the median
** of the per-repeat ratios tb/ta (b's time over a's, i.e. a's speed relative
** to b's): the two samples of a repeat are adjacent in time, so this cancels
** slow changes in the machine's load better than the ratio of the medians. */
static void measure_pair(RunFn a, void *ca, RunFn b, void *cb, double *ta, double *tb,
                         double *ratio) {
  double t0 = now();
  a(ca);
  double t1 = now();
  b(cb);
  double t2 = now();
  double one = t1 - t0 > t2 - t1 ? t1 - t0 : t2 - t1;
  int inner = one >= min_sample_s ? 1 : (int)(min_sample_s / (one > 1e-9 ? one : 1e-9)) + 1;
  double *sa = malloc(sizeof(double) * (size_t)repeats), *sb = malloc(sizeof(double) * (size_t)repeats);
  double *sr = malloc(sizeof(double) * (size_t)repeats);
  for (int r = 0; r < repeats; r++) {
    double s = now();
    for (int i = 0; i < inner; i++) a(ca);
    double m = now();
    for (int i = 0; i < inner; i++) b(cb);
    double e = now();
    sa[r] = (m - s) / inner;
    sb[r] = (e - m) / inner;
    sr[r] = sb[r] / sa[r];
  }
  *ta = median(sa, repeats);
  *tb = median(sb, repeats);
  *ratio = median(sr, repeats);
  free(sa);
  free(sb);
  free(sr);
}

/* ---- SGEMM --------------------------------------------------------------- */

typedef struct {
  bt_Tensor *a, *b;
  float *c;
  int n;
} Gemm;

static void run_bt_matmul(void *ctx) {
  Gemm *g = ctx;
  bt_Tensor *r = bt_matmul(g->a, g->b);
  if (!r) die("bt_matmul");
  bt_release(r);
}

static void run_cblas(void *ctx) {
  Gemm *g = ctx;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->n, g->n, g->n, 1.0f,
              (const float *)bt_data(g->a), g->n, (const float *)bt_data(g->b), g->n, 0.0f, g->c,
              g->n);
}

/* ---- elementwise ------------------------------------------------------------ */

typedef struct {
  bt_Tensor *a, *b;
} Ew;

static void run_bt_add(void *ctx) {
  Ew *e = ctx;
  bt_Tensor *r = bt_add(e->a, e->b);
  if (!r) die("bt_add");
  bt_release(r);
}

static void run_bt_add_(void *ctx) {
  Ew *e = ctx;
  if (bt_binary_(BT_ADD, e->a, e->b) < 0) die("bt_binary_");
}

static void run_bt_sum(void *ctx) {
  Ew *e = ctx;
  bt_Tensor *r = bt_sum(e->a, BT_REDUCE_ALL, false);
  if (!r) die("bt_sum");
  bt_release(r);
}

/* memcpy of n bytes, split over `threads` threads (the caller is one). */
typedef struct {
  char *dst;
  const char *src;
  size_t n;
  int threads;
} Copy;

typedef struct {
  char *dst;
  const char *src;
  size_t n;
} Piece;

static void *copy_piece(void *arg) {
  Piece *p = arg;
  memcpy(p->dst, p->src, p->n);
  return NULL;
}

static void run_memcpy(void *ctx) {
  Copy *c = ctx;
  if (c->threads <= 1) {
    memcpy(c->dst, c->src, c->n);
    return;
  }
  enum { MAXT = 16 };
  int nt = c->threads > MAXT ? MAXT : c->threads;
  Piece pieces[MAXT];
  pthread_t tid[MAXT];
  size_t per = (c->n / (size_t)nt + 63) & ~(size_t)63;
  for (int i = 0; i < nt; i++) {
    size_t b = per * (size_t)i, e = b + per > c->n ? c->n : b + per;
    pieces[i] = (Piece){c->dst + b, c->src + b, e > b ? e - b : 0};
  }
  for (int i = 1; i < nt; i++) pthread_create(&tid[i], NULL, copy_piece, &pieces[i]);
  copy_piece(&pieces[0]);
  for (int i = 1; i < nt; i++) pthread_join(tid[i], NULL);
}

/* ---- report --------------------------------------------------------------------- */

static int failures;

/* ratio: brasa's speed over the peer's (see measure_pair). */
static void row(const char *label, double brasa, double peer, double ratio, const char *unit,
                double target) {
  char verdict[48] = "";
  if (target > 0) {
    snprintf(verdict, sizeof verdict, "  target >= %.0f%%: %s", 100 * target,
             ratio >= target ? "met" : "MISSED");
    if (ratio < target) failures++;
  }
  printf("  %-26s %10.2f %-7s %10.2f %-7s %6.1f%%%s\n", label, brasa, unit, peer, unit, 100 * ratio,
         verdict);
}

int main(int argc, char **argv) {
  bool quick = argc > 1 && !strcmp(argv[1], "--quick");
  const char *env = getenv("BENCH_REPEATS");
  if (quick) repeats = 3;
  if (env && atoi(env) > 0) repeats = atoi(env);
  if ((env = getenv("BENCH_MIN_MS")) && atof(env) > 0) min_sample_s = atof(env) / 1000;

  const char *ct = getenv("OPENBLAS_CORETYPE");
  printf("bench_core: brasa %s, %s, OPENBLAS_CORETYPE=%s\n", BRASA_VERSION, bt_blas_info(),
         ct ? ct : "(unset)");
  printf("median of %d repeats per figure (samples >= %.0f ms), the two sides alternating;\n"
         "ratio = median over repeats of (brasa speed / peer speed) within each repeat\n",
         repeats, 1000 * min_sample_s);

  int sizes[] = {256, 512, 1024, 2048};
  int nsizes = quick ? 3 : 4;
  const int64_t N = 10000000;   /* elementwise: 1e7 f32 */
  bt_manual_seed(1);

  for (int threads = 1; threads <= 2; threads++) {
    bt_set_num_threads(threads);
    printf("\n== threads: %d (bt_set_num_threads, also OpenBLAS's) ==\n", bt_get_num_threads());
    printf("  %-26s %18s %18s %7s\n", "SGEMM n x n x n", "bt_matmul", "cblas_sgemm", "ratio");
    for (int s = 0; s < nsizes; s++) {
      int n = sizes[s];
      int64_t shape[2] = {n, n};
      Gemm g = {bt_randn(2, shape, BT_F32), bt_randn(2, shape, BT_F32), NULL, n};
      if (!g.a || !g.b) die("bt_randn");
      g.c = aligned_alloc(64, sizeof(float) * (size_t)n * (size_t)n);
      memset(g.c, 0, sizeof(float) * (size_t)n * (size_t)n);
      double tb, tp, ratio;
      measure_pair(run_bt_matmul, &g, run_cblas, &g, &tb, &tp, &ratio);
      double flop = 2.0 * n * n * (double)n;
      char label[40];
      snprintf(label, sizeof label, "%d", n);
      row(label, flop / tb / 1e9, flop / tp / 1e9, ratio, "GFLOP/s", n == 1024 ? 0.95 : 0);
      bt_release(g.a);
      bt_release(g.b);
      free(g.c);
    }

    printf("  %-26s %18s %18s %7s\n", "1e7 f32 elements, GB/s", "brasa", "memcpy", "ratio");
    int64_t shape[1] = {N};
    Ew e = {bt_randn(1, shape, BT_F32), bt_randn(1, shape, BT_F32)};
    if (!e.a || !e.b) die("bt_randn");
    /* memcpy buffers for the largest byte count (12 bytes/element touched). */
    size_t cap = (size_t)N * 6;
    char *src = aligned_alloc(64, cap), *dst = aligned_alloc(64, cap);
    memset(src, 1, cap);
    memset(dst, 0, cap);
    struct {
      const char *label;
      RunFn fn;
      double bytes;   /* touched per call */
      double target;
    } ew[] = {
      {"bt_add (new tensor)", run_bt_add, 12.0 * N, 0.60},
      {"bt_binary_ ADD (in place)", run_bt_add_, 12.0 * N, 0.60},
      {"bt_sum (all)", run_bt_sum, 4.0 * N, 0},
    };
    for (size_t k = 0; k < sizeof ew / sizeof ew[0]; k++) {
      Copy c = {dst, src, (size_t)(ew[k].bytes / 2), threads};
      double tb, tp, ratio;
      measure_pair(ew[k].fn, &e, run_memcpy, &c, &tb, &tp, &ratio);
      row(ew[k].label, ew[k].bytes / tb / 1e9, ew[k].bytes / tp / 1e9, ratio, "GB/s", ew[k].target);
    }
    bt_release(e.a);
    bt_release(e.b);
    free(src);
    free(dst);
  }
  printf("\n%s\n", failures ? "some targets missed (see MISSED above)" : "all targets met");
  return 0;
}
