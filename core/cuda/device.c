/*
** cuda/device.c: the library's entry point and device state.
**
** bt_cuda_backend_init (called once by core/cuda_loader.c) counts the
** devices; with at least one it registers the op table and the caching
** allocator, and hands the core its host services (cuda_api.h). Without a
** driver or a device it registers nothing and says why.
*/
#include "common.h"
#include "stage.h"

#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdio.h>

extern const bt_Backend btc_backend;   /* backend.c */

#define MAX_DEVICES 64

static int ndevices;
static int sm_count[MAX_DEVICES];
static _Thread_local int current = -1;   /* cudaSetDevice is per host thread */
static btc_Report *report[MAX_DEVICES];
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;

int btc_check(int code, const char *op) {
  if (code == cudaSuccess) return 0;
  cudaError_t e = (cudaError_t)code;
  if (e != cudaErrorMemoryAllocation) cudaGetLastError();   /* clear a non-sticky error */
  return bt_seterr("%s: CUDA error: %s (%s)", op, cudaGetErrorString(e), cudaGetErrorName(e));
}

int btc_check_launch(const char *op) { return btc_check(cudaGetLastError(), op); }

int btc_set_device(int index) {
  if (index == current) return 0;
  if (index < 0 || index >= ndevices)
    return bt_seterr("CUDA: no device cuda:%d (%d device%s)", index, ndevices, ndevices == 1 ? "" : "s");
  if (btc_check(cudaSetDevice(index), "cudaSetDevice") < 0) return -1;
  current = index;
  return 0;
}

int btc_use(const bt_Tensor *t) {
  return t->storage->device.type == BT_CUDA ? btc_set_device(t->storage->device.index) : 0;
}

int btc_sm_count(void) { return current >= 0 ? sm_count[current] : sm_count[0]; }

btc_Report *btc_report_buffer(void) {
  int dev = current < 0 ? 0 : current;
  pthread_mutex_lock(&report_lock);
  if (!report[dev]) {
    void *p = NULL;
    if (cudaMalloc(&p, sizeof(btc_Report)) == cudaSuccess) {
      cudaMemset(p, 0, sizeof(btc_Report));
      report[dev] = p;
    } else {
      cudaGetLastError();
    }
  }
  btc_Report *r = report[dev];
  pthread_mutex_unlock(&report_lock);
  return r;
}

int btc_report_take(const char *op, long long *value) {
  btc_Report *r = btc_report_buffer(), h;
  if (!r) return bt_seterr("%s: cannot allocate the report buffer", op);
  if (btc_check(cudaMemcpy(&h, r, sizeof h, cudaMemcpyDeviceToHost), op) < 0) return -1;
  if (!h.bad) return 0;
  *value = h.value;
  if (btc_check(cudaMemset(r, 0, sizeof h), op) < 0) return -1;
  return 1;
}

/* ---- the host services (cuda_api.h) ------------------------------------------ */

static int device_name(int index, char *buf, size_t len) {
  struct cudaDeviceProp p;
  if (btc_check(cudaGetDeviceProperties(&p, index), "device_name") < 0) return -1;
  snprintf(buf, len, "%s", p.name);
  return 0;
}

static int synchronize(void) { return btc_check(cudaDeviceSynchronize(), "synchronize"); }

static int copy_to_device(void *dst, int dst_index, const void *src, int64_t nbytes) {
  if (btc_set_device(dst_index) < 0) return -1;
  return btc_check(cudaMemcpy(dst, src, (size_t)nbytes, cudaMemcpyHostToDevice), "copy to device");
}

static int copy_to_host(void *dst, const void *src, int src_index, int64_t nbytes) {
  if (btc_set_device(src_index) < 0) return -1;
  return btc_check(cudaMemcpy(dst, src, (size_t)nbytes, cudaMemcpyDeviceToHost), "copy to host");
}

static int copy_device_to_device(void *dst, int dst_index, const void *src, int src_index,
                                 int64_t nbytes) {
  if (btc_set_device(dst_index) < 0) return -1;
  return btc_check(cudaMemcpyPeer(dst, dst_index, src, src_index, (size_t)nbytes), "copy between devices");
}

__attribute__((visibility("default"))) int bt_cuda_backend_init(bt_CudaApi *api) {
  api->abi = BT_CUDA_ABI;
  api->device_count = 0;
  api->device_name = device_name;
  api->set_device = btc_set_device;
  api->synchronize = synchronize;
  api->copy_to_device = copy_to_device;
  api->copy_to_host = copy_to_host;
  api->copy_device_to_device = copy_device_to_device;
  api->memory_stats = btc_memory_stats;
  api->empty_cache = btc_empty_cache;
  btc_stage_api(api);   /* stage.c: pinned staging and transfers */
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n <= 0) {
    cudaGetLastError();
    if (e == cudaSuccess || e == cudaErrorNoDevice)
      bt_seterr("no CUDA device (the driver reports none)");
    else if (e == cudaErrorInsufficientDriver)
      bt_seterr("no usable CUDA driver: none is installed, or it is older than this CUDA %d.%d "
                "build needs (%s)", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10,
                cudaGetErrorName(e));
    else
      bt_seterr("no CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    return 0;
  }
  ndevices = n < MAX_DEVICES ? n : MAX_DEVICES;
  for (int i = 0; i < ndevices; i++) {
    int sms = 0;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, i);
    sm_count[i] = sms > 0 ? sms : 1;
  }
  bt_register_device_allocator(BT_CUDA, btc_alloc, btc_free);
  bt_register_backend(BT_CUDA, &btc_backend);
  api->device_count = ndevices;
  return 0;
}
