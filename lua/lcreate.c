/*
** lcreate.c: creating tensors from Lua (brasa.tensor, zeros, rand, ...),
** the random generator, threads, and engine information.
*/
#include "lbinding.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Applies opts.requires_grad and opts.device to a new tensor, then pushes it.
** A tensor for another device is made on the CPU, then moved (so seeded
** random tensors hold the same numbers on every device). */
static int finish(lua_State *L, bt_Tensor *t, int opts) {
  if (!t) return lb_error(L);
  if (lua_istable(L, opts)) {
    if (lua_getfield(L, opts, "device") != LUA_TNIL) {
      bt_Device d;
      bool ok = lua_type(L, -1) == LUA_TSTRING && bt_device_parse(lua_tostring(L, -1), &d) == 0;
      bt_Tensor *m = ok ? bt_to_device(t, d) : NULL;
      bt_release(t);
      if (!m && lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "device: a name expected ('cpu', 'cuda' or 'cuda:N'), got %s", luaL_typename(L, -1));
      if (!m) return lb_error(L);
      t = m;
    }
    lua_pop(L, 1);
    if (lb_opt_bool(L, opts, "requires_grad", false) && bt_requires_grad_(t, true) < 0) {
      bt_release(t);
      return lb_error(L);
    }
  }
  lb_push(L, t);
  return 1;
}

/* ---- brasa.tensor(data, opts) -------------------------------------------- */

typedef struct {
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  bool has_bool, has_number;
} Nested;

static void nested_shape(lua_State *L, int idx, Nested *n) {
  n->ndim = 0;
  lua_pushvalue(L, idx);
  while (lua_istable(L, -1)) {
    if (n->ndim == BT_MAX_DIMS) luaL_error(L, "tensor: data nested deeper than %d levels", BT_MAX_DIMS);
    int64_t len = (int64_t)lua_rawlen(L, -1);
    n->shape[n->ndim++] = len;
    if (len == 0) break;
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  lua_pop(L, 1);
}

typedef struct {
  bt_DType dt;
  double *d;
  int64_t *i;
  int64_t pos;
} Fill;

/* Walks the nested table at the top of the stack, checking every length. */
static void nested_fill(lua_State *L, const Nested *n, int depth, Fill *f, int64_t *path) {
  int64_t len = (int64_t)lua_rawlen(L, -1);
  if (len != n->shape[depth] || (depth + 1 < n->ndim && !lua_istable(L, -1)))
    luaL_error(L, "tensor: ragged data: expected %I elements at depth %d, got %I",
               (lua_Integer)n->shape[depth], depth + 1, (lua_Integer)len);
  for (int64_t k = 1; k <= len; k++) {
    int ty = lua_rawgeti(L, -1, k);
    path[depth] = k;
    if (depth + 1 < n->ndim) {
      if (ty != LUA_TTABLE)
        luaL_error(L, "tensor: ragged data: element %I at depth %d is a %s, expected a table",
                   (lua_Integer)k, depth + 1, lua_typename(L, ty));
      nested_fill(L, n, depth + 1, f, path);
    } else if (ty == LUA_TNUMBER) {
      if (f->i) {
        if (!lua_isinteger(L, -1))
          f->i[f->pos++] = (int64_t)lua_tonumber(L, -1);
        else
          f->i[f->pos++] = lua_tointeger(L, -1);
      } else {
        f->d[f->pos++] = lua_tonumber(L, -1);
      }
    } else if (ty == LUA_TBOOLEAN) {
      if (f->i) f->i[f->pos++] = lua_toboolean(L, -1);
      else f->d[f->pos++] = lua_toboolean(L, -1);
    } else {
      luaL_error(L, "tensor: element %I at depth %d is a %s, expected a number or a boolean%s",
                 (lua_Integer)k, depth + 1, lua_typename(L, ty),
                 ty == LUA_TTABLE ? " (ragged data: deeper than the first element)" : "");
    }
    lua_pop(L, 1);
  }
}

/* Is the first leaf a boolean? (then the default dtype is bool) */
static bool first_leaf_is_bool(lua_State *L, int idx) {
  lua_pushvalue(L, idx);
  while (lua_istable(L, -1) && lua_rawlen(L, -1) > 0) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
  }
  bool b = lua_isboolean(L, -1);
  lua_pop(L, 1);
  return b;
}

static int l_tensor(lua_State *L) {
  int ty = lua_type(L, 1);
  if (ty == LUA_TNUMBER || ty == LUA_TBOOLEAN) {
    bt_DType dt = lb_opt_dtype(L, 2, ty == LUA_TBOOLEAN ? BT_BOOL : BT_F32);
    bt_Tensor *t = lua_isinteger(L, 1) && !bt_dtype_is_float(dt) ? bt_scalar_i64(lua_tointeger(L, 1), dt)
                                                                  : bt_scalar(ty == LUA_TBOOLEAN ? lua_toboolean(L, 1) : lua_tonumber(L, 1), dt);
    return finish(L, t, 2);
  }
  bt_Tensor *src = lb_test(L, 1);
  if (src) {
    /* A copy outside the graph, like torch.tensor(t). */
    bt_DType dt = lb_opt_dtype(L, 2, src->dtype);
    bool prev = bt_set_grad_enabled(false);
    bt_Tensor *d = bt_to_dtype(src, dt), *t = d;
    if (d == src) {
      t = bt_clone(src);
      bt_release(d);
    }
    bt_set_grad_enabled(prev);
    return finish(L, t, 2);
  }
  if (ty != LUA_TTABLE)
    return luaL_error(L, "tensor: a number, a (nested) table of numbers or a tensor expected, got %s",
                      luaL_typename(L, 1));
  Nested n;
  nested_shape(L, 1, &n);
  bt_DType dt = lb_opt_dtype(L, 2, first_leaf_is_bool(L, 1) ? BT_BOOL : BT_F32);
  int64_t count = 1;
  for (int d = 0; d < n.ndim; d++) count *= n.shape[d];
  bool exact = !bt_dtype_is_float(dt);
  /* A userdata buffer: the collector frees it if ragged data raises. */
  void *buf = lua_newuserdatauv(L, (size_t)(count ? count : 1) * 8, 0);
  Fill f = {dt, exact ? NULL : buf, exact ? buf : NULL, 0};
  int64_t path[BT_MAX_DIMS];
  lua_pushvalue(L, 1);
  if (n.ndim > 0) nested_fill(L, &n, 0, &f, path);
  lua_pop(L, 1);
  bt_Tensor *t = bt_from_buffer(n.ndim, n.shape, dt, buf, exact ? BT_I64 : BT_F64);
  lua_pop(L, 1);
  return finish(L, t, 2);
}

/* ---- shapes and fills -------------------------------------------------------- */

/* zeros(2, 3, opts) or zeros({2, 3}, opts) */
static int make_filled(lua_State *L, double value, int kind) {
  int64_t shape[BT_MAX_DIMS];
  int next;
  int ndim = lb_shape(L, 1, shape, &next);
  bt_DType dt = lb_opt_dtype(L, next, BT_F32);
  if (!lua_isnoneornil(L, next) && !lua_istable(L, next))
    return luaL_typeerror(L, next, "sizes (integers) or an options table");
  bt_Tensor *t;
  switch (kind) {
    case 0: t = bt_full(ndim, shape, value, dt, BT_CPU_DEVICE); break;
    case 1: t = bt_empty(ndim, shape, dt, BT_CPU_DEVICE); break;
    case 2: t = bt_rand(ndim, shape, dt); break;
    default: t = bt_randn(ndim, shape, dt); break;
  }
  return finish(L, t, next);
}

static int l_zeros(lua_State *L) { return make_filled(L, 0, 0); }
static int l_ones(lua_State *L) { return make_filled(L, 1, 0); }
static int l_empty(lua_State *L) { return make_filled(L, 0, 1); }
static int l_rand(lua_State *L) { return make_filled(L, 0, 2); }
static int l_randn(lua_State *L) { return make_filled(L, 0, 3); }

/* full(sizes..., value, opts) or full({sizes}, value, opts) */
static int l_full(lua_State *L) {
  int64_t shape[BT_MAX_DIMS];
  int next, ndim;
  if (lua_istable(L, 1)) {
    ndim = lb_shape(L, 1, shape, &next);
  } else {   /* the last number before opts is the value */
    int top = lua_gettop(L);
    while (top > 0 && !lua_isnumber(L, top)) top--;
    if (top < 1) return luaL_error(L, "full: a value expected");
    ndim = 0;
    for (int i = 1; i < top; i++) shape[ndim++] = luaL_checkinteger(L, i);
    next = top;
  }
  double v = luaL_checknumber(L, next);
  bt_DType dt = lb_opt_dtype(L, next + 1, BT_F32);
  return finish(L, bt_full(ndim, shape, v, dt, BT_CPU_DEVICE), next + 1);
}

static int like(lua_State *L, int kind) {
  bt_Tensor *t = lb_check(L, 1);
  bt_DType dt = lb_opt_dtype(L, kind == 2 ? 3 : 2, t->dtype);
  bt_Tensor *r;
  switch (kind) {
    case 0: r = bt_zeros(t->ndim, t->shape, dt, t->storage->device); break;
    case 1: r = bt_full(t->ndim, t->shape, 1, dt, t->storage->device); break;
    case 2: r = bt_full(t->ndim, t->shape, luaL_checknumber(L, 2), dt, t->storage->device); break;
    case 3: r = bt_rand(t->ndim, t->shape, dt); break;
    default: r = bt_randn(t->ndim, t->shape, dt); break;
  }
  return finish(L, r, kind == 2 ? 3 : 2);
}

static int l_zeros_like(lua_State *L) { return like(L, 0); }
static int l_ones_like(lua_State *L) { return like(L, 1); }
static int l_full_like(lua_State *L) { return like(L, 2); }
static int l_rand_like(lua_State *L) { return like(L, 3); }
static int l_randn_like(lua_State *L) { return like(L, 4); }

/* arange(a, b, step?) includes b, like `for i = a, b, step`; arange(n) is 1..n. */
static int l_arange(lua_State *L) {
  int nargs = 0;
  while (lua_isnumber(L, nargs + 1)) nargs++;
  if (nargs == 0) return luaL_error(L, "arange: expects (n), (a, b) or (a, b, step)");
  double a = nargs >= 2 ? lua_tonumber(L, 1) : 1, b = nargs >= 2 ? lua_tonumber(L, 2) : lua_tonumber(L, 1);
  double step = nargs >= 3 ? lua_tonumber(L, 3) : 1;
  if (step == 0) return luaL_error(L, "arange: step must not be 0");
  bool ints = lua_isinteger(L, 1) && (nargs < 2 || lua_isinteger(L, 2)) && (nargs < 3 || lua_isinteger(L, 3));
  double span = (b - a) / step;
  int64_t n = span < 0 ? 0 : (int64_t)floor(span + 1e-9) + 1;
  bt_DType dt = lb_opt_dtype(L, nargs + 1, ints ? BT_I64 : BT_F32);
  return finish(L, bt_arange(a, step, n, dt), nargs + 1);
}

static int l_linspace(lua_State *L) {
  double a = luaL_checknumber(L, 1), b = luaL_checknumber(L, 2);
  lua_Integer n = luaL_checkinteger(L, 3);
  return finish(L, bt_linspace(a, b, n, lb_opt_dtype(L, 4, BT_F32)), 4);
}

static int l_eye(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_Integer m = lua_isinteger(L, 2) ? lua_tointeger(L, 2) : n;
  int opts = lua_isinteger(L, 2) ? 3 : 2;
  if (n < 0 || m < 0) return luaL_error(L, "eye: sizes must be >= 0, got %d x %d", (int)n, (int)m);
  return finish(L, bt_eye(n, m, lb_opt_dtype(L, opts, BT_F32)), opts);
}

/* randint(lo, hi, sizes..., opts): integers in [lo, hi], both included. */
static int l_randint(lua_State *L) {
  lua_Integer lo = luaL_checkinteger(L, 1), hi = luaL_checkinteger(L, 2);
  int64_t shape[BT_MAX_DIMS];
  int next;
  int ndim = lb_shape(L, 3, shape, &next);
  return finish(L, bt_randint(lo, hi, ndim, shape, lb_opt_dtype(L, next, BT_I64)), next);
}

/* randperm(n): a random permutation of 1..n (i64). */
static int l_randperm(lua_State *L) {
  bt_Tensor *p = bt_randperm(luaL_checkinteger(L, 1));
  bt_Tensor *r = p ? bt_binary_scalar(BT_ADD, p, 1, false) : NULL;
  bt_release(p);
  return finish(L, r, 2);
}

static int l_manual_seed(lua_State *L) {
  bt_manual_seed((uint64_t)luaL_checkinteger(L, 1));
  return 0;
}

static int l_initial_seed(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)bt_initial_seed());
  return 1;
}

static int l_set_num_threads(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  if (n < 1) return luaL_error(L, "set_num_threads: n must be >= 1, got %d", (int)n);
  bt_set_num_threads((int)n);
  return 0;
}

static int l_get_num_threads(lua_State *L) {
  lua_pushinteger(L, bt_get_num_threads());
  return 1;
}

static int l_blas_info(lua_State *L) {
  lua_pushstring(L, bt_blas_info());
  return 1;
}

/* brasa.clock(): seconds of CLOCK_MONOTONIC (os.clock is CPU time summed
** over threads, useless for timing threaded kernels). */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

static int l_bytes_in_use(lua_State *L) {
  lua_pushinteger(L, bt_bytes_in_use(BT_CPU));
  return 1;
}

static int l_interrupt(lua_State *L) {
  bt_interrupt();
  return 0;
}

static int l_clear_interrupt(lua_State *L) {
  bt_clear_interrupt();
  return 0;
}

/* Tests: the allocation after the next n succeeds fails (-1: never). */
static int l_fail_alloc_after(lua_State *L) {
  bt_fail_alloc_after(luaL_checkinteger(L, 1));
  return 0;
}

static int l_dtype_name(lua_State *L) {
  lua_pushstring(L, bt_dtype_name((bt_DType)lb_dtype_arg(L, 1)));
  return 1;
}

void lb_open_create(lua_State *L) {
  static const luaL_Reg funcs[] = {
    {"tensor", l_tensor}, {"zeros", l_zeros}, {"ones", l_ones}, {"empty", l_empty},
    {"full", l_full}, {"rand", l_rand}, {"randn", l_randn}, {"randint", l_randint},
    {"randperm", l_randperm}, {"arange", l_arange}, {"linspace", l_linspace}, {"eye", l_eye},
    {"zeros_like", l_zeros_like}, {"ones_like", l_ones_like}, {"full_like", l_full_like},
    {"rand_like", l_rand_like}, {"randn_like", l_randn_like}, {"manual_seed", l_manual_seed},
    {"initial_seed", l_initial_seed}, {"set_num_threads", l_set_num_threads},
    {"get_num_threads", l_get_num_threads}, {"blas_info", l_blas_info},
    {"bytes_in_use", l_bytes_in_use}, {"clock", l_clock}, {"interrupt", l_interrupt},
    {"clear_interrupt", l_clear_interrupt}, {"_fail_alloc_after", l_fail_alloc_after},
    {"dtype_name", l_dtype_name}, {NULL, NULL},
  };
  lb_setfuncs(L, funcs);
}
