/*
** test_cuda_loader.c: the CUDA loader (core/cuda_loader.c) and device API,
** on whatever machine runs it.
**
** Without a GPU (or without the CUDA backend built) every GPU call must
** fail cleanly: is_available false, a reason given, no device counted,
** tensors refused on 'cuda' with a message that names the op and says no
** device is available, nothing crashing. With a GPU, a round trip through
** the device keeps values, dtypes and gradients.
*/
#include "brasa.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static const bt_Device CUDA0 = {BT_CUDA, 0};

static void test_parse(void) {
  bt_Device d;
  CHECK(bt_device_parse("cpu", &d) == 0 && d.type == BT_CPU, "parse cpu");
  CHECK(bt_device_parse("cuda", &d) == 0 && d.type == BT_CUDA && d.index == 0, "parse cuda");
  CHECK(bt_device_parse("cuda:3", &d) == 0 && d.type == BT_CUDA && d.index == 3, "parse cuda:3");
  CHECK(bt_device_parse("cuda:", &d) < 0 && strstr(bt_errmsg(), "cuda:"), "parse cuda: -> %s", bt_errmsg());
  CHECK(bt_device_parse("gpu", &d) < 0 && strstr(bt_errmsg(), "unknown device"), "parse gpu");
  CHECK(bt_device_parse("cuda:1x", &d) < 0, "parse cuda:1x");
}

static void test_tf32_flag(void) {
  bool old = bt_cuda_set_allow_tf32(true);
  CHECK(!old, "tf32 off by default");
  CHECK(bt_cuda_allow_tf32(), "tf32 set");
  bt_cuda_set_allow_tf32(false);
  CHECK(!bt_cuda_allow_tf32(), "tf32 cleared");
}

static void test_without_gpu(void) {
  printf("no GPU here: %s\n", bt_cuda_status());
  CHECK(strlen(bt_cuda_status()) > 0, "a reason is given");
  CHECK(bt_cuda_device_count() == 0, "no device counted");
  char name[64];
  CHECK(bt_cuda_device_name(0, name, sizeof name) < 0 && strstr(bt_errmsg(), "no CUDA device"),
        "device_name fails: %s", bt_errmsg());
  CHECK(bt_cuda_synchronize() < 0 && strstr(bt_errmsg(), "no CUDA device"), "synchronize fails");
  bt_CudaMemoryStats s;
  CHECK(bt_cuda_memory_stats(0, &s) < 0 && s.allocated == 0, "memory_stats fails, zeroed");
  CHECK(bt_cuda_empty_cache() == 0, "empty_cache is a no-op");
  int64_t shape[2] = {2, 3};
  bt_Tensor *z = bt_zeros(2, shape, BT_F32, CUDA0);
  CHECK(!z && strstr(bt_errmsg(), "empty: no CUDA device is available"), "zeros on cuda: %s", bt_errmsg());
  bt_Tensor *x = bt_ones(2, shape, BT_F32, BT_CPU_DEVICE);
  bt_Tensor *y = bt_to_device(x, CUDA0);
  CHECK(!y && strstr(bt_errmsg(), "to: no CUDA device is available"), "to_device: %s", bt_errmsg());
  bt_Tensor *same = bt_to_device(x, BT_CPU_DEVICE);
  CHECK(same == x, "to the same device gives the tensor itself");
  bt_release(same);
  bt_release(x);
  /* The answer stays the same on a second call (loaded once). */
  CHECK(!bt_cuda_available() && bt_cuda_device_count() == 0, "stable answer");
}

static double max_abs_diff(bt_Tensor *a, bt_Tensor *b) {
  double m = 0;
  for (int64_t i = 0; i < bt_numel(a); i++) m = fmax(m, fabs(bt_get_flat(a, i) - bt_get_flat(b, i)));
  return m;
}

static void test_with_gpu(void) {
  char name[256];
  CHECK(bt_cuda_device_count() >= 1, "a device");
  CHECK(bt_cuda_device_name(0, name, sizeof name) == 0, "device_name: %s", bt_errmsg());
  printf("GPU: %s (%d device%s)\n", name, bt_cuda_device_count(), bt_cuda_device_count() == 1 ? "" : "s");
  int64_t shape[2] = {3, 4};
  bt_Tensor *x = bt_rand(2, shape, BT_F32);
  bt_requires_grad_(x, true);
  bt_Tensor *xt = bt_t(x);                       /* non-contiguous */
  bt_Tensor *g = bt_to_device(xt, CUDA0);        /* [4x3] on the GPU */
  CHECK(g && g->storage->device.type == BT_CUDA, "moved: %s", bt_errmsg());
  bt_Tensor *g2 = g ? bt_mul(g, g) : NULL;
  bt_Tensor *s = g2 ? bt_sum(g2, BT_REDUCE_ALL, false) : NULL;
  bt_Tensor *h = g ? bt_to_device(g, BT_CPU_DEVICE) : NULL;
  CHECK(h && max_abs_diff(h, xt) == 0, "round trip keeps values");
  CHECK(s && bt_backward(1, &s, NULL, NULL) == 0, "backward: %s", bt_errmsg());
  if (x->grad) {
    bt_Tensor *two = bt_mul_scalar(x, 2);
    CHECK(x->grad->storage->device.type == BT_CPU && max_abs_diff(x->grad, two) < 1e-6,
          "gradient came back to the CPU");
    bt_release(two);
  } else {
    CHECK(false, "no gradient");
  }
  bt_Tensor *huge = bt_empty(1, (int64_t[]){(int64_t)1 << 50}, BT_F32, CUDA0);
  CHECK(!huge && strstr(bt_errmsg(), "out of memory") && strstr(bt_errmsg(), "requested"),
        "OOM message: %s", bt_errmsg());
  bt_CudaMemoryStats st;
  CHECK(bt_cuda_memory_stats(0, &st) == 0 && st.num_ooms >= 1, "OOM counted");
  CHECK(bt_cuda_synchronize() == 0, "synchronize: %s", bt_errmsg());
  bt_release(x); bt_release(xt); bt_release(g); bt_release(g2); bt_release(s); bt_release(h);
}

int main(void) {
  test_parse();
  test_tf32_flag();
  if (bt_cuda_available()) test_with_gpu();
  else test_without_gpu();
  return check_report();
}
