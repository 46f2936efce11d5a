/*
** io/loader.c: the C side of brasa.data.DataLoader: gathering the rows of a
** batch (dim 0 of every tensor of a data set) into new tensors, now or in a
** background thread that prepares batch k+1 while the caller uses batch k.
**
** The thread does nothing but allocate tensors and copy bytes:
** - it never calls Lua (the binding runs transforms on the main thread);
** - it does not use the engine's thread pool, so it never competes with
**   the main thread's kernels for it (a row copy is memory-bound anyway);
** - it touches the source tensors only by reading their storage, which the
**   loader keeps alive with its own references (reference counts are
**   atomic, so the main thread may retain and release the same tensors);
** - its errors (an allocation failure) are carried back as a message and
**   raised by bt_loader_finish on the caller's thread.
**
** The sources are detached, contiguous views (a copy only when a source is
** not contiguous), so a row is one memcpy.
**
** On a CUDA device (bt_loader_set_device) a started batch is staged: the
** caller's thread allocates the batch's device tensors and pinned host
** buffers and begins a transfer (cuda_api.h); the thread gathers the rows
** into the pinned buffers and queues their copies on the copy stream; the
** finish makes the compute stream wait for them. All allocation stays on
** the caller's thread (a device allocation may run the binding's
** out-of-memory hook, Lua's collector); the thread only copies bytes and
** queues copies.
*/
#include "../internal.h"
#include "../cuda_api.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

typedef enum { IDLE, REQUESTED, DONE } State;

struct bt_Loader {
  int n;
  bt_Tensor **src;          /* detached, contiguous */
  int64_t *row_bytes;       /* bytes per row of each source */
  int64_t rows;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  bool has_thread, stop;
  State state;              /* guarded by mu */
  int64_t count, capidx;
  int64_t *idx;             /* the batch being gathered (a copy) */
  bt_Tensor **out;          /* its result once DONE (staged: allocated at start) */
  int status;
  char err[512];

  bt_Device device;         /* where batches go */
  void **pinned;            /* staged: the batch's pinned buffer per tensor */
  void **held;              /* staged: the last handed-over batch's buffers (finish_staged) */
  bt_CudaTransfer *xfer;    /* staged: its copies */
};

static bool staged(const bt_Loader *l) { return l->device.type == BT_CUDA; }

/* ---- gathering ------------------------------------------------------------ */

static int check_indices(const bt_Loader *l, int64_t count, const int64_t *idx) {
  if (count < 0) return bt_seterr("loader: negative batch size %lld", (long long)count);
  for (int64_t i = 0; i < count; i++)
    if (idx[i] < 0 || idx[i] >= l->rows)
      return bt_seterr("loader: row %lld out of range (the data set has %lld rows)",
                       (long long)idx[i] + 1, (long long)l->rows);
  return 0;
}

/* The rows idx of every source into new tensors out[0..n). Thread-safe: it
** reads the sources and allocates, nothing else. */
static int gather(const bt_Loader *l, int64_t count, const int64_t *idx, bt_Tensor **out) {
  for (int k = 0; k < l->n; k++) out[k] = NULL;
  for (int k = 0; k < l->n; k++) {
    const bt_Tensor *s = l->src[k];
    int64_t shape[BT_MAX_DIMS];
    memcpy(shape, s->shape, sizeof shape);
    shape[0] = count;
    bt_Tensor *t = bt_empty(s->ndim, shape, s->dtype, BT_CPU_DEVICE);
    if (!t) {
      for (int j = 0; j < k; j++) bt_release(out[j]);
      return -1;
    }
    const char *from = bt_data(s);
    char *to = bt_data(t);
    size_t rb = (size_t)l->row_bytes[k];
    for (int64_t i = 0; i < count; i++) memcpy(to + (size_t)i * rb, from + (size_t)idx[i] * rb, rb);
    out[k] = t;
  }
  return 0;
}

/* The rows idx of every source into the pinned buffers, then their copies
** queued (the thread, staged). */
static int gather_staged(bt_Loader *l) {
  const bt_CudaApi *api = bt_cuda_api();
  for (int k = 0; k < l->n; k++) {
    const char *from = bt_data(l->src[k]);
    char *to = l->pinned[k];
    size_t rb = (size_t)l->row_bytes[k];
    for (int64_t i = 0; i < l->count; i++)
      memcpy(to + (size_t)i * rb, from + (size_t)l->idx[i] * rb, rb);
    if (api->transfer_copy(l->xfer, bt_data(l->out[k]), to, l->count * l->row_bytes[k]) < 0)
      return -1;
  }
  return api->transfer_end(l->xfer);
}

int bt_loader_gather(bt_Loader *l, int64_t count, const int64_t *idx, bt_Tensor **out) {
  if (check_indices(l, count, idx) < 0) return -1;
  if (gather(l, count, idx, out) < 0) return -1;
  if (!staged(l)) return 0;
  for (int k = 0; k < l->n; k++) {   /* synchronous: no overlap to win */
    bt_Tensor *d = bt_to_device(out[k], l->device);
    bt_release(out[k]);
    out[k] = d;
    if (!d) {
      for (int j = 0; j < l->n; j++) bt_release(out[j]);
      return -1;
    }
  }
  return 0;
}

/* ---- the background thread ---------------------------------------------------- */

static void *worker(void *arg) {
  bt_Loader *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->stop && l->state != REQUESTED) pthread_cond_wait(&l->cv, &l->mu);
    if (l->stop) break;
    pthread_mutex_unlock(&l->mu);
    int status = staged(l) ? gather_staged(l) : gather(l, l->count, l->idx, l->out);
    pthread_mutex_lock(&l->mu);
    l->status = status;
    if (status < 0) snprintf(l->err, sizeof l->err, "%s", bt_errmsg());
    l->state = DONE;
    pthread_cond_broadcast(&l->cv);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

/* Gives the held pinned buffers back to their cache (mu held or the
** loader private). */
static void release_held(bt_Loader *l) {
  for (int k = 0; k < l->n; k++) {
    if (l->held[k]) bt_cuda_api()->pinned_free(l->held[k]);
    l->held[k] = NULL;
  }
}

/* Ends a staged batch (mu held, the thread idle): when it is handed over,
** the compute stream waits for its copies; else the host waits, before its
** device tensors can be released. The pinned buffers go back to their
** cache, which hands a block out again only after its last copy finished.
** A handed-over batch's buffers are held until the next batch is handed
** over: the batch started right after this one then gathers into other
** blocks, whose copies (two batches back) are usually long done, instead
** of waiting on the host for this batch's copy, which may still wait for
** the kernels queued before it. So the host can run two batches ahead of
** the GPU, for one more batch of pinned memory. */
static int finish_staged(bt_Loader *l, bool use) {
  const bt_CudaApi *api = bt_cuda_api();
  int status = 0;
  if (use) status = api->transfer_use(l->xfer);
  else api->transfer_drop(l->xfer);
  l->xfer = NULL;
  bool hold = use && status == 0;   /* else the host waited for the copies */
  if (hold) release_held(l);
  for (int k = 0; k < l->n; k++) {
    if (hold) l->held[k] = l->pinned[k];
    else api->pinned_free(l->pinned[k]);
    l->pinned[k] = NULL;
  }
  return status;
}

/* Waits for the batch in flight (mu held); its tensors go to out, or are
** released when out is NULL. */
static int wait_done(bt_Loader *l, bt_Tensor **out) {
  while (l->state == REQUESTED) pthread_cond_wait(&l->cv, &l->mu);
  int status = l->status;
  if (status < 0) bt_seterr("%s", l->err);
  if (l->xfer && finish_staged(l, out && status == 0) < 0) status = -1;
  for (int k = 0; k < l->n; k++) {
    if (out && status == 0) out[k] = l->out[k];
    else bt_release(l->out[k]);
    l->out[k] = NULL;
  }
  l->state = IDLE;
  return status;
}

/* Allocates a staged batch's device tensors and pinned buffers and begins
** its transfer (mu held, the thread idle). */
static int stage_begin(bt_Loader *l, int64_t count) {
  const bt_CudaApi *api = bt_cuda_api();
  if (bt_cuda_use_device("loader", l->device.index) < 0) return -1;
  for (int k = 0; k < l->n; k++) {
    const bt_Tensor *s = l->src[k];
    int64_t shape[BT_MAX_DIMS];
    memcpy(shape, s->shape, sizeof shape);
    shape[0] = count;
    l->out[k] = bt_empty(s->ndim, shape, s->dtype, l->device);
    l->pinned[k] = l->out[k] ? api->pinned_alloc(count * l->row_bytes[k]) : NULL;
    if (!l->pinned[k]) goto fail;
  }
  /* After the allocations: the copies wait for the kernels queued before,
  ** the last users of blocks just freed and handed to this batch. */
  if (!(l->xfer = api->transfer_begin(l->device.index))) goto fail;
  return 0;
fail:
  for (int k = 0; k < l->n; k++) {
    if (l->pinned[k]) api->pinned_free(l->pinned[k]);
    bt_release(l->out[k]);
    l->pinned[k] = NULL;
    l->out[k] = NULL;
  }
  return -1;
}

int bt_loader_start(bt_Loader *l, int64_t count, const int64_t *idx) {
  if (check_indices(l, count, idx) < 0) return -1;
  pthread_mutex_lock(&l->mu);
  if (l->state != IDLE) wait_done(l, NULL);   /* an unclaimed batch: dropped */
  int status = 0;
  if (count > l->capidx) {
    int64_t *p = realloc(l->idx, (size_t)count * sizeof *p);
    if (!p) {
      status = bt_seterr("loader: out of memory");
      goto done;
    }
    l->idx = p;
    l->capidx = count;
  }
  if (count) memcpy(l->idx, idx, (size_t)count * sizeof *idx);
  l->count = count;
  if (staged(l) && stage_begin(l, count) < 0) {
    status = -1;
    goto done;
  }
  if (!l->has_thread) {
    /* Signals (Ctrl-C in the REPL) go to the caller's thread: the worker
    ** starts with all of them blocked. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&l->thread, NULL, worker, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
      status = bt_seterr("loader: cannot start the prefetch thread");
      if (l->xfer) {   /* staged: nothing was queued; give the batch back */
        l->status = 0;
        l->state = DONE;
        wait_done(l, NULL);
      }
      goto done;
    }
    l->has_thread = true;
  }
  l->state = REQUESTED;
  pthread_cond_broadcast(&l->cv);
done:
  pthread_mutex_unlock(&l->mu);
  return status;
}

int bt_loader_finish(bt_Loader *l, bt_Tensor **out) {
  pthread_mutex_lock(&l->mu);
  int status = l->state == IDLE ? bt_seterr("loader: no batch was started") : wait_done(l, out);
  pthread_mutex_unlock(&l->mu);
  return status;
}

bool bt_loader_pending(const bt_Loader *l) {
  bt_Loader *m = (bt_Loader *)l;   /* the lock is not part of the value */
  pthread_mutex_lock(&m->mu);
  bool pending = m->state != IDLE;
  pthread_mutex_unlock(&m->mu);
  return pending;
}

/* ---- life ------------------------------------------------------------------ */

bt_Loader *bt_loader_new(int n, bt_Tensor *const *tensors) {
  if (n < 1) return bt_seterr("loader: no tensors"), NULL;
  for (int k = 0; k < n; k++) {
    const bt_Tensor *t = tensors[k];
    if (t->storage->device.type != BT_CPU)
      return bt_seterr("loader: tensor %d is on a GPU (data sets stay on the CPU; move batches "
                       "to the GPU instead)", k + 1), NULL;
    if (t->ndim < 1) return bt_seterr("loader: tensor %d is 0-dim (no rows)", k + 1), NULL;
    if (t->shape[0] != tensors[0]->shape[0])
      return bt_seterr("loader: tensors 1 and %d have %lld and %lld rows", k + 1,
                       (long long)tensors[0]->shape[0], (long long)t->shape[0]), NULL;
  }
  bt_Loader *l = calloc(1, sizeof *l);
  if (!l) return bt_seterr("loader: out of memory"), NULL;
  l->src = calloc((size_t)n, sizeof *l->src);
  l->out = calloc((size_t)n, sizeof *l->out);
  l->row_bytes = calloc((size_t)n, sizeof *l->row_bytes);
  l->pinned = calloc((size_t)n, sizeof *l->pinned);
  l->held = calloc((size_t)n, sizeof *l->held);
  l->device = BT_CPU_DEVICE;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  if (!l->src || !l->out || !l->row_bytes || !l->pinned || !l->held) {
    bt_loader_free(l);
    return bt_seterr("loader: out of memory"), NULL;
  }
  l->n = n;
  l->rows = tensors[0]->shape[0];
  bool grad = bt_set_grad_enabled(false);   /* the copies stay outside any graph */
  for (int k = 0; k < n; k++) {
    bt_Tensor *c = bt_contiguous(tensors[k]);
    l->src[k] = c ? bt_detach(c) : NULL;
    bt_release(c);
    if (!l->src[k]) {
      bt_set_grad_enabled(grad);
      bt_loader_free(l);
      return NULL;
    }
    int64_t per_row = 1;
    for (int d = 1; d < l->src[k]->ndim; d++) per_row *= l->src[k]->shape[d];
    l->row_bytes[k] = per_row * (int64_t)bt_dtype_size(l->src[k]->dtype);
  }
  bt_set_grad_enabled(grad);
  return l;
}

void bt_loader_free(bt_Loader *l) {
  if (!l) return;
  if (l->has_thread) {
    pthread_mutex_lock(&l->mu);
    if (l->state != IDLE) wait_done(l, NULL);
    l->stop = true;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
  }
  if (l->held) release_held(l);
  if (l->src)
    for (int k = 0; k < l->n; k++) bt_release(l->src[k]);
  free(l->src);
  free(l->out);
  free(l->row_bytes);
  free(l->pinned);
  free(l->held);
  free(l->idx);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  free(l);
}

int64_t bt_loader_rows(const bt_Loader *l) { return l->rows; }
int bt_loader_ntensors(const bt_Loader *l) { return l->n; }

int bt_loader_set_device(bt_Loader *l, bt_Device dev) {
  if (dev.type == BT_CUDA) {
    if (bt_cuda_use_device("loader", dev.index) < 0) return -1;
    const bt_CudaApi *api = bt_cuda_api();
    if (!api->pinned_alloc || !api->transfer_begin)
      return bt_seterr("loader: this CUDA backend has no staging for batches (rebuild libbrasa_cuda)");
  } else if (dev.type != BT_CPU) {
    return bt_seterr("loader: batches go to the CPU or a CUDA device");
  }
  pthread_mutex_lock(&l->mu);
  if (l->state != IDLE) wait_done(l, NULL);   /* on the old device: dropped */
  release_held(l);
  l->device = dev.type == BT_CPU ? BT_CPU_DEVICE : dev;
  pthread_mutex_unlock(&l->mu);
  return 0;
}

bt_Device bt_loader_device(const bt_Loader *l) { return l->device; }
