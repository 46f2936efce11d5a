/*
** cuda_loader.c: finds and loads the CUDA backend on first use.
**
** libbrasa never links CUDA. The first call that needs a GPU (bt_cuda_*,
** a tensor made on or moved to a CUDA device) dlopens libbrasa_cuda.so from
** the directory libbrasa.so was loaded from (dladdr on one of our own
** functions), or from $BRASA_CUDA_LIBRARY when set, and calls its entry
** point bt_cuda_backend_init (cuda_api.h). The attempt is made once: its
** outcome, and the reason when there is no usable GPU (no library built,
** CUDA libraries missing, no driver, no device), stay for the session.
*/
#include "internal.h"
#include "cuda_api.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bt_CudaApi api;
static bool loaded;              /* the library is loaded and has a device */
static char status[768];         /* why not, when !loaded */
static bool allow_tf32;
static bool benchmark;

/* The path of libbrasa_cuda.so: beside the object that holds this code. */
static int library_path(char *path, size_t len) {
  const char *env = getenv("BRASA_CUDA_LIBRARY");
  if (env && *env) {
    snprintf(path, len, "%s", env);
    return 0;
  }
  Dl_info info;
  if (!dladdr((void *)&bt_cuda_available, &info) || !info.dli_fname) return -1;
  snprintf(path, len, "%s", info.dli_fname);
  char *slash = strrchr(path, '/');
  if (slash) slash[1] = '\0';
  else path[0] = '\0';
  size_t n = strlen(path);
  snprintf(path + n, len - n, "libbrasa_cuda.so");
  return 0;
}

static void load(void) {
  char path[PATH_MAX];
  if (library_path(path, sizeof path) < 0) {
    snprintf(status, sizeof status, "cannot locate libbrasa.so to find libbrasa_cuda.so beside it");
    return;
  }
  if (access(path, R_OK) != 0) {
    snprintf(status, sizeof status,
             "this build has no CUDA backend (%s not found; build with -DBRASA_CUDA=ON)", path);
    return;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(status, sizeof status, "cannot load the CUDA backend: %s", dlerror());
    return;
  }
  bt_CudaInitFn init;
  *(void **)&init = dlsym(h, "bt_cuda_backend_init");
  if (!init) {
    snprintf(status, sizeof status, "%s has no entry point bt_cuda_backend_init", path);
    return;
  }
  bt_CudaApi a;
  memset(&a, 0, sizeof a);
  if (init(&a) < 0) {
    snprintf(status, sizeof status, "%s", bt_errmsg());
    return;
  }
  if (a.abi != BT_CUDA_ABI) {
    snprintf(status, sizeof status, "%s was built for another version of brasa (ABI %d, expected %d)",
             path, a.abi, BT_CUDA_ABI);
    return;
  }
  api = a;
  if (a.device_count <= 0) {
    snprintf(status, sizeof status, "%s", bt_errmsg());
    return;
  }
  loaded = true;
  status[0] = '\0';
  /* The library stays loaded for the process: its CUDA state is never torn down. */
}

static bool ensure(void) {
  pthread_once(&once, load);
  return loaded;
}

const bt_CudaApi *bt_cuda_api(void) { return ensure() ? &api : NULL; }

bool bt_cuda_available(void) { return ensure(); }

int bt_cuda_device_count(void) { return ensure() ? api.device_count : 0; }

const char *bt_cuda_status(void) {
  ensure();
  return status;
}

int bt_cuda_use_device(const char *op, int index) {
  if (!ensure()) return bt_seterr("%s: no CUDA device is available (%s)", op, status);
  if (index < 0 || index >= api.device_count)
    return bt_seterr("%s: no device cuda:%d (this machine has %d CUDA device%s: cuda:0%s)", op,
                     index, api.device_count, api.device_count == 1 ? "" : "s",
                     api.device_count == 1 ? "" : " and up");
  return api.set_device(index);
}

int bt_cuda_device_name(int index, char *buf, size_t len) {
  if (bt_cuda_use_device("device_name", index) < 0) return -1;
  return api.device_name(index, buf, len);
}

int bt_cuda_synchronize(void) {
  if (!ensure()) return bt_seterr("synchronize: no CUDA device is available (%s)", status);
  return api.synchronize();
}

int bt_cuda_memory_stats(int index, bt_CudaMemoryStats *s) {
  memset(s, 0, sizeof *s);
  if (bt_cuda_use_device("memory_stats", index) < 0) return -1;
  return api.memory_stats(index, s);
}

int bt_cuda_empty_cache(void) {
  if (!ensure()) return 0;   /* nothing cached */
  return api.empty_cache();
}

int bt_cuda_pinned_stats(bt_CudaPinnedStats *s) {
  memset(s, 0, sizeof *s);
  if (!ensure() || !api.pinned_stats) return 0;   /* nothing pinned */
  return api.pinned_stats(s);
}

/* The flag lives here, so setting it loads nothing; the library reads it at
** each matmul and convolution. */
bool bt_cuda_set_allow_tf32(bool on) {
  bool old = allow_tf32;
  allow_tf32 = on;
  return old;
}

bool bt_cuda_allow_tf32(void) { return allow_tf32; }

/* The same for cuDNN's algorithm search (read at each convolution). */
bool bt_cuda_set_benchmark(bool on) {
  bool old = benchmark;
  benchmark = on;
  return old;
}

bool bt_cuda_benchmark(void) { return benchmark; }

static bt_OomHook oom_hook;
static void *oom_ud;

void bt_set_oom_hook(bt_OomHook hook, void *ud) {
  oom_hook = hook;
  oom_ud = ud;
}

void bt_run_oom_hook(void) {
  if (oom_hook) oom_hook(oom_ud);
}
