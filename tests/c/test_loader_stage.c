/*
** test_loader_stage.c: the loader's staged device path (core/io/loader.c,
** bt_loader_set_device) against a mock CUDA backend (mock_cuda_stage.c,
** loaded through $BRASA_CUDA_LIBRARY, which CTest sets), so the protocol
** runs on machines without a GPU: device tensors and pinned buffers
** allocated on the caller's thread, copies queued by the prefetch thread
** between transfer_begin and transfer_end, transfer_use before a batch is
** handed over (the mock's copies land only then), transfer_drop before a
** batch never handed over is released, no transfer or pinned buffer left
** behind. tests/gpu/test_gpu_loader.lua checks the real library on a GPU.
*/
#include "brasa.h"
#include "cuda_api.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const bt_Device CUDA0 = {BT_CUDA, 0};

typedef void (*CountsFn)(int *viol, int *live, int *total, int *copies, int *from_worker);
static CountsFn counts;

/* a equals b (b on the CPU), a on device dev: same shape, dtype, bytes. */
static bool same(bt_Tensor *a, bt_Tensor *b, bt_Device dev) {
  if (!a || !b || a->storage->device.type != dev.type || a->dtype != b->dtype || a->ndim != b->ndim)
    return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  bt_Tensor *h = bt_to_device(a, BT_CPU_DEVICE);
  bool eq = h && bt_is_contiguous(b) &&
            memcmp(bt_data(h), bt_data(b), (size_t)(bt_numel(b) * (int64_t)bt_dtype_size(b->dtype))) == 0;
  bt_release(h);
  return eq;
}

static void release_all(bt_Tensor **t, int n) {
  for (int k = 0; k < n; k++) bt_release(t[k]);
}

/* Batch idx[0..count) from the staged loader l equals the CPU loader's. */
static bool batch_ok(bt_Loader *ref, bt_Tensor **got, int64_t count, const int64_t *idx) {
  bt_Tensor *want[2];
  if (bt_loader_gather(ref, count, idx, want) < 0) return false;
  bool ok = same(got[0], want[0], CUDA0) && same(got[1], want[1], CUDA0);
  release_all(want, 2);
  return ok;
}

static void test_staged(bt_Tensor **src) {
  bt_Loader *ref = bt_loader_new(2, src);
  bt_Loader *l = bt_loader_new(2, src);
  CHECK(ref && l, "loaders: %s", bt_errmsg());
  CHECK(bt_loader_set_device(l, CUDA0) == 0, "set_device: %s", bt_errmsg());
  CHECK(bt_loader_device(l).type == BT_CUDA, "device kept");
  const int64_t a[5] = {4, 0, 36, 2, 2}, b[3] = {10, 11, 12}, c[7] = {1, 3, 5, 7, 9, 11, 13};
  bt_Tensor *out[2];

  /* start, finish: the batch on the device, its copies landed */
  CHECK(bt_loader_start(l, 5, a) == 0, "start: %s", bt_errmsg());
  CHECK(bt_loader_pending(l), "pending");
  CHECK(bt_loader_finish(l, out) == 0, "finish: %s", bt_errmsg());
  CHECK(batch_ok(ref, out, 5, a), "staged batch a equals the CPU batch");
  release_all(out, 2);

  /* a batch in flight dropped by the next start; the next is right */
  CHECK(bt_loader_start(l, 3, b) == 0, "start b");
  CHECK(bt_loader_start(l, 7, c) == 0, "start c drops b");
  CHECK(bt_loader_finish(l, out) == 0, "finish c");
  CHECK(batch_ok(ref, out, 7, c), "staged batch c equals the CPU batch");
  release_all(out, 2);

  /* the synchronous path */
  CHECK(bt_loader_gather(l, 3, b, out) == 0, "gather: %s", bt_errmsg());
  CHECK(batch_ok(ref, out, 3, b), "gathered batch on the device equals the CPU batch");
  release_all(out, 2);

  /* an empty batch, a bad index (nothing begun), finish without a start */
  CHECK(bt_loader_start(l, 0, a) == 0 && bt_loader_finish(l, out) == 0, "empty batch");
  CHECK(out[0]->shape[0] == 0 && out[0]->storage->device.type == BT_CUDA, "empty batch on the device");
  release_all(out, 2);
  const int64_t bad[2] = {1, 37};
  CHECK(bt_loader_start(l, 2, bad) < 0 && strstr(bt_errmsg(), "row 38 out of range"), "bad row: %s",
        bt_errmsg());
  CHECK(bt_loader_finish(l, out) < 0 && strstr(bt_errmsg(), "no batch was started"), "finish alone");

  /* many steps in a row, as an epoch */
  for (int step = 0; step < 40; step++) {
    int64_t idx[6];
    for (int i = 0; i < 6; i++) idx[i] = (step * 7 + i * 5) % 37;
    if (bt_loader_start(l, 6, idx) < 0 || bt_loader_finish(l, out) < 0) {
      CHECK(false, "step %d: %s", step, bt_errmsg());
      break;
    }
    if (!batch_ok(ref, out, 6, idx)) CHECK(false, "step %d: batch differs", step);
    release_all(out, 2);
  }

  /* The last handed-over batch's pinned buffers are held until the next
  ** one is handed over (so the next start gathers into other blocks), and
  ** given back when the loader leaves the device. */
  bt_CudaPinnedStats ps;
  int64_t held = 6 * (3 * 5 * 4) + 6 * 8;   /* a batch of 6 rows of x (f32 3x5) and y (i64) */
  CHECK(bt_cuda_pinned_stats(&ps) == 0 && ps.allocated == held,
        "pinned bytes in use between batches: %lld, expected %lld (one batch held)",
        (long long)ps.allocated, (long long)held);

  /* back to the CPU */
  CHECK(bt_loader_set_device(l, BT_CPU_DEVICE) == 0, "back to the CPU");
  CHECK(bt_cuda_pinned_stats(&ps) == 0 && ps.allocated == 0,
        "pinned bytes in use on the CPU: %lld (the held batch given back)", (long long)ps.allocated);
  CHECK(bt_loader_start(l, 3, b) == 0 && bt_loader_finish(l, out) == 0, "CPU batch");
  CHECK(out[0]->storage->device.type == BT_CPU, "CPU batch on the CPU");
  release_all(out, 2);

  /* freed with a batch in flight */
  CHECK(bt_loader_set_device(l, CUDA0) == 0, "to the device again");
  CHECK(bt_loader_start(l, 7, c) == 0, "start before free");
  bt_loader_free(l);
  bt_loader_free(ref);
}

int main(void) {
  const char *lib = getenv("BRASA_CUDA_LIBRARY");
  if (!lib || !strstr(lib, "mock_cuda_stage")) {
    printf("skip: needs BRASA_CUDA_LIBRARY=.../libmock_cuda_stage.so (ctest sets it)\n");
    return 0;
  }
  CHECK(bt_cuda_available(), "the mock backend loads: %s", bt_cuda_status());
  void *h = dlopen(lib, RTLD_NOW | RTLD_NOLOAD);
  if (h) *(void **)&counts = dlsym(h, "mock_cuda_stage_counts");
  CHECK(counts != NULL, "the mock's counters");
  if (!counts || !bt_cuda_available()) return 1;

  /* x: 37 x 3 x 5 f32, not contiguous; y: 37 i64 */
  bt_Tensor *base = bt_randn(3, SHAPE(3, 37, 5), BT_F32);
  bt_Tensor *x = bt_transpose(base, 0, 1);
  bt_Tensor *y = bt_arange(0, 3, 37, BT_I64);
  CHECK(x && !bt_is_contiguous(x) && y, "sources");
  bt_Tensor *src[2] = {x, y};
  test_staged(src);
  bt_release(x);
  bt_release(y);
  bt_release(base);

  int viol, live, total, copies, from_worker;
  counts(&viol, &live, &total, &copies, &from_worker);
  printf("mock: %d transfers, %d copies (%d queued by the prefetch thread)\n", total, copies, from_worker);
  CHECK(viol == 0, "%d protocol violations (see above)", viol);
  CHECK(live == 0, "%d transfers never used nor dropped", live);
  CHECK(total == 45, "transfers: %d, expected 45 (one per staged start)", total);
  CHECK(from_worker > 0, "copies queued by the prefetch thread");
  bt_CudaPinnedStats ps;
  CHECK(bt_cuda_pinned_stats(&ps) == 0 && ps.allocated == 0 && ps.num_allocs == 2 * total,
        "pinned buffers: %lld bytes still in use, %lld allocations", (long long)ps.allocated,
        (long long)ps.num_allocs);
  return check_report();
}
