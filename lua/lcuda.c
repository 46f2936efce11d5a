/*
** lcuda.c: brasa.cuda (the GPU: availability, devices, memory, TF32,
** cuDNN's benchmark mode) and the tensor methods x:cuda(), x:cpu() and
** x:set_(y) (moving a tensor in place, keeping its identity).
** Nothing here loads CUDA until a function is called; with no GPU,
** is_available() is false and the rest raise an error saying why (or, for
** memory_stats and empty_cache, answer with nothing cached). Device indices
** are 0-based, as in 'cuda:0'.
*/
#include "lbinding.h"

#include <string.h>

/* A device index argument (0-based, default 0). */
static int device_arg(lua_State *L, int idx) {
  lua_Integer i = luaL_optinteger(L, idx, 0);
  if (i < 0 || i > 1023) luaL_argerror(L, idx, "a device index (0-based) expected");
  return (int)i;
}

static int l_is_available(lua_State *L) {
  lua_pushboolean(L, bt_cuda_available());
  return 1;
}

static int l_status(lua_State *L) {
  lua_pushstring(L, bt_cuda_available() ? "available" : bt_cuda_status());
  return 1;
}

static int l_device_count(lua_State *L) {
  lua_pushinteger(L, bt_cuda_device_count());
  return 1;
}

static int l_device_name(lua_State *L) {
  char buf[256];
  if (bt_cuda_device_name(device_arg(L, 1), buf, sizeof buf) < 0) return lb_error(L);
  lua_pushstring(L, buf);
  return 1;
}

static int l_synchronize(lua_State *L) {
  if (bt_cuda_synchronize() < 0) return lb_error(L);
  return 0;
}

static void set_int(lua_State *L, const char *k, int64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

static int l_memory_stats(lua_State *L) {
  bt_CudaMemoryStats s;
  int dev = device_arg(L, 1);
  if (bt_cuda_available() && bt_cuda_memory_stats(dev, &s) < 0) return lb_error(L);
  if (!bt_cuda_available()) memset(&s, 0, sizeof s);
  lua_createtable(L, 0, 18);
  lua_pushboolean(L, bt_cuda_available());
  lua_setfield(L, -2, "available");
  set_int(L, "allocated", s.allocated);
  set_int(L, "peak_allocated", s.peak_allocated);
  set_int(L, "reserved", s.reserved);
  set_int(L, "cached", s.cached);
  set_int(L, "device_free", s.device_free);
  set_int(L, "device_total", s.device_total);
  set_int(L, "num_allocs", s.num_allocs);
  set_int(L, "num_cache_hits", s.num_cache_hits);
  set_int(L, "num_device_allocs", s.num_device_allocs);
  set_int(L, "num_ooms", s.num_ooms);
  set_int(L, "bytes_in_use", bt_bytes_in_use(BT_CUDA));
  bt_CudaPinnedStats p;   /* page-locked staging buffers (the process's, not per device) */
  if (!bt_cuda_available() || bt_cuda_pinned_stats(&p) < 0) memset(&p, 0, sizeof p);
  set_int(L, "pinned_allocated", p.allocated);
  set_int(L, "pinned_reserved", p.reserved);
  set_int(L, "pinned_cached", p.cached);
  set_int(L, "pinned_num_allocs", p.num_allocs);
  set_int(L, "pinned_num_cache_hits", p.num_cache_hits);
  set_int(L, "pinned_num_host_allocs", p.num_host_allocs);
  return 1;
}

static int l_empty_cache(lua_State *L) {
  lua_gc(L, LUA_GCCOLLECT);   /* tensors no longer referenced give their blocks back first */
  if (bt_cuda_empty_cache() < 0) return lb_error(L);
  return 0;
}

/* A boolean setting: f(on) sets it and returns the previous value; f() reads it. */
static int bool_setting(lua_State *L, bool (*get)(void), bool (*set)(bool)) {
  if (lua_isnoneornil(L, 1)) {
    lua_pushboolean(L, get());
  } else {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lua_pushboolean(L, set(lua_toboolean(L, 1)));
  }
  return 1;
}

/* allow_tf32(on?): TF32 tensor-core math for f32 matmuls and convolutions. */
static int l_allow_tf32(lua_State *L) {
  return bool_setting(L, bt_cuda_allow_tf32, bt_cuda_set_allow_tf32);
}

/* benchmark(on?): cuDNN's algorithm search. */
static int l_benchmark(lua_State *L) {
  return bool_setting(L, bt_cuda_benchmark, bt_cuda_set_benchmark);
}

/* ---- moving tensors ----------------------------------------------------------------- */

int lb_device_arg(lua_State *L, int idx, bt_Device *d) {
  if (lua_isinteger(L, idx)) {
    lua_Integer i = lua_tointeger(L, idx);
    if (i < 0 || i > 1023) return luaL_argerror(L, idx, "a device index (0-based) expected");
    *d = (bt_Device){BT_CUDA, (int)i};
    return 0;
  }
  if (bt_device_parse(luaL_checkstring(L, idx), d) < 0) return lb_error(L);
  return 0;
}

/* x:cuda(device?): device an index (0-based) or a name; default cuda:0. */
static int l_cuda(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  bt_Device d = {BT_CUDA, 0};
  if (!lua_isnoneornil(L, 2)) lb_device_arg(L, 2, &d);
  if (d.type != BT_CUDA) return luaL_argerror(L, 2, "a CUDA device expected");
  lb_push(L, bt_to_device(t, d));
  return 1;
}

static int l_cpu(lua_State *L) {
  lb_push(L, bt_to_device(lb_check(L, 1), BT_CPU_DEVICE));
  return 1;
}

static bool same_device(bt_Device a, bt_Device b) { return a.type == b.type && a.index == b.index; }

/* The number of set_ calls so far: optimisers compare it with the count
** they saw to know when their state may have to follow moved parameters. */
static lua_Integer set_count;

static int l_set_count(lua_State *L) {
  lua_pushinteger(L, set_count);
  return 1;
}

/* x:set_(y) -> x: x takes y's storage, dtype, shape, strides and offset
** (sharing y's memory) and keeps its identity: the same Lua value, the same
** C tensor, its requires_grad and hooks. This moves a parameter to another
** device or dtype in place (Module:to), so that lists holding it (an
** optimiser's) stay valid. x must be a leaf. A gradient that no longer
** fits (shape, dtype or device) is dropped. A graph that saved x refuses
** to run backward afterwards, as after an in-place write. */
static int l_set_(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1), *src = lb_check(L, 2);
  lua_settop(L, 2);
  if (t == src) return 1;
  if (t->grad_fn)
    return luaL_error(L, "set_: the tensor is the result of an op (%s), not a leaf: only leaves "
                         "can take another tensor's storage", bt_grad_fn_name(t));
  if (t->requires_grad && !bt_dtype_is_float(src->dtype))
    return luaL_error(L, "set_: the tensor requires grad and the source is %s: only "
                         "floating-point tensors can require gradients", bt_dtype_name(src->dtype));
  bt_Tensor *d = bt_detach(src);   /* a new tensor on src's storage: its reference is swapped in */
  if (!d) return lb_error(L);
  if (d == src) {                  /* (bt_detach makes a new struct; never swap src's own) */
    bt_release(d);
    return luaL_error(L, "set_: internal error: detach returned its argument");
  }
  uint32_t old_version = t->storage->version;
  bt_Storage *s = t->storage;
  t->storage = d->storage;
  d->storage = s;                  /* released with d */
  t->dtype = src->dtype;
  t->ndim = src->ndim;
  for (int k = 0; k < src->ndim; k++) {
    t->shape[k] = src->shape[k];
    t->stride[k] = src->stride[k];
  }
  t->offset = src->offset;
  t->is_view = src->is_view;
  t->is_graph_view = src->requires_grad || src->is_graph_view;
  if (t->storage->version <= old_version) t->storage->version = old_version + 1;
  bt_release(d);
  set_count++;
  bt_Tensor *g = t->grad;
  if (g && (g->dtype != t->dtype || g->ndim != t->ndim || memcmp(g->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) ||
            !same_device(g->storage->device, t->storage->device)))
    bt_set_grad(t, NULL);
  lua_pushvalue(L, 1);
  return 1;
}

/* Out of GPU memory: a full collection frees the blocks of unreachable
** tensors (as Lua's own allocator may collect at any allocation). */
static void oom_collect(void *ud) { lua_gc((lua_State *)ud, LUA_GCCOLLECT); }

void lb_open_cuda(lua_State *L, int methods, int module) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  bt_set_oom_hook(oom_collect, lua_tothread(L, -1));
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {
    {"is_available", l_is_available}, {"status", l_status}, {"device_count", l_device_count},
    {"device_name", l_device_name}, {"synchronize", l_synchronize},
    {"memory_stats", l_memory_stats}, {"empty_cache", l_empty_cache},
    {"allow_tf32", l_allow_tf32}, {"benchmark", l_benchmark}, {NULL, NULL},
  };
  lua_newtable(L);
  lb_setfuncs(L, funcs);
  lua_setfield(L, module, "cuda");
  lua_pushcfunction(L, l_cuda);
  lua_setfield(L, methods, "cuda");
  lua_pushcfunction(L, l_cpu);
  lua_setfield(L, methods, "cpu");
  lua_pushcfunction(L, l_set_);
  lua_setfield(L, methods, "set_");
  lua_pushcfunction(L, l_set_count);
  lua_setfield(L, module, "_set_count");
}
