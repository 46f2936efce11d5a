/*
** parallel.c: the one thread pool that serves brasa's kernels.
**
** bt_parallel_for splits [0, n) into chunks that the calling thread and the
** pool's workers take from a shared counter. Workers sleep on a condition
** variable between jobs (no busy waiting: on 2 cores spinning threads steal
** time from OpenBLAS). OpenBLAS gets the same thread count, and the two never
** run at once because jobs are issued from one thread, one at a time.
*/
#include "internal.h"

#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#define MAX_THREADS 64

typedef struct {
  bt_RangeFn fn;
  void *ctx;
  int64_t n, chunk;
  atomic_llong next;        /* next unclaimed start */
  atomic_int active;        /* workers still inside this job */
  atomic_bool stopped;      /* interrupted */
} Job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static pthread_t workers[MAX_THREADS];
static int nworkers;            /* threads started (num_threads - 1) */
static int num_threads;         /* 0: not yet initialised */
static Job *current;
static uint64_t generation;     /* bumped for every job, so workers see new ones */
static bool job_running;        /* a job is in flight (guarded by lock) */

/* Set while a job runs on this thread: a nested call (a kernel calling a
** kernel) or a call from a worker runs inline instead of clobbering the job. */
static _Thread_local bool inside_job;


/* Takes chunks until none is left. */
static void run_chunks(Job *job) {
  for (;;) {
    if (bt_interrupted()) {
      atomic_store(&job->stopped, true);
      return;
    }
    int64_t b = atomic_fetch_add(&job->next, job->chunk);
    if (b >= job->n) return;
    int64_t e = BT_MIN(b + job->chunk, job->n);
    job->fn(job->ctx, b, e);
  }
}

static void run_chunks_in_worker(Job *job) {
  inside_job = true;
  run_chunks(job);
  inside_job = false;
}

static void *worker_main(void *arg) {
  uint64_t seen = 0;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (generation == seen) pthread_cond_wait(&wake, &lock);
    seen = generation;
    Job *job = current;
    if (!job) continue;
    atomic_fetch_add(&job->active, 1);
    pthread_mutex_unlock(&lock);
    run_chunks_in_worker(job);
    pthread_mutex_lock(&lock);
    if (atomic_fetch_sub(&job->active, 1) == 1) pthread_cond_broadcast(&done);
  }
  return arg;
}

static int default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

void bt_set_num_threads(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  pthread_mutex_lock(&lock);
  /* Workers are only ever added: extra ones simply find no chunks left. */
  while (nworkers < n - 1) {
    if (pthread_create(&workers[nworkers], NULL, worker_main, NULL) != 0) break;
    pthread_detach(workers[nworkers]);
    nworkers++;
  }
  num_threads = n;
  pthread_mutex_unlock(&lock);
  openblas_set_num_threads(n);
}

int bt_get_num_threads(void) {
  if (!num_threads) bt_set_num_threads(default_threads());
  return num_threads;
}

const char *bt_blas_info(void) {
  static char buf[160];
  snprintf(buf, sizeof buf, "%s", openblas_get_config());
  char *nl = strchr(buf, '\n');
  if (nl) *nl = 0;
  return buf;
}

int bt_parallel_for(int64_t n, int64_t grain, bt_RangeFn fn, void *ctx) {
  if (n <= 0) return 0;
  if (grain < 1) grain = 1;
  int nt = bt_get_num_threads();
  if (nt == 1 || n <= grain || inside_job) {
    /* Inline, still in chunks so an interrupt is seen in a long run. */
    int64_t chunk = BT_MAX(grain, (int64_t)1 << 16);
    if (n <= grain) chunk = n;
    for (int64_t b = 0; b < n; b += chunk) {
      if (bt_interrupted()) return bt_seterr("interrupted");
      fn(ctx, b, BT_MIN(b + chunk, n));
    }
    return 0;
  }
  Job job = {.fn = fn, .ctx = ctx, .n = n};
  /* Four chunks per thread balance load without too much overhead. */
  job.chunk = BT_MAX(grain, (n + 4 * nt - 1) / (4 * nt));
  atomic_init(&job.next, 0);
  atomic_init(&job.active, 0);
  atomic_init(&job.stopped, false);
  pthread_mutex_lock(&lock);
  if (job_running) {   /* another thread (a data loader) holds the pool: go inline */
    pthread_mutex_unlock(&lock);
    for (int64_t b = 0; b < n; b += grain) {
      if (bt_interrupted()) return bt_seterr("interrupted");
      fn(ctx, b, BT_MIN(b + grain, n));
    }
    return 0;
  }
  job_running = true;
  current = &job;
  generation++;
  pthread_cond_broadcast(&wake);
  pthread_mutex_unlock(&lock);
  inside_job = true;
  run_chunks(&job);
  inside_job = false;
  pthread_mutex_lock(&lock);
  current = NULL;   /* late workers find no job */
  while (atomic_load(&job.active) > 0) pthread_cond_wait(&done, &lock);
  job_running = false;
  pthread_mutex_unlock(&lock);
  if (atomic_load(&job.stopped)) return bt_seterr("interrupted");
  return 0;
}
