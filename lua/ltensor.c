/*
** ltensor.c: the Tensor userdata: identity, garbage collection, fields,
** Torch7-style indexing and index assignment, metamethods.
*/
#include "lbinding.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  bt_Tensor *t;
} Box;

static int cache_ref = LUA_NOREF;      /* weak table: lightuserdata -> Box */
static int methods_ref = LUA_NOREF;    /* the methods table */
static int meta_ref = LUA_NOREF;       /* the metatable */

/* ---- memory and the collector -------------------------------------------- */

/* Bytes allocated since the collector was last told; the engine's hook may
** run on other threads (data loading), hence atomic. */
static _Atomic int64_t pending_bytes;
static int64_t soft_limit = 256 << 20;

static void alloc_hook(void *ud, bt_DeviceType dev, int64_t delta) {
  if (delta > 0) atomic_fetch_add(&pending_bytes, delta);
}

/* Small userdata alone never make Lua collect: step it by the bytes tensors
** allocated, and past a soft limit (which grows with what stays alive) run a
** full collection, as Torch7 finally did. */
static void drive_collector(lua_State *L) {
  /* A tensor's C-side structs (tensor, storage, small data) are about half a
  ** kilobyte that Lua does not see: count them too, or garbage from many
  ** small ops piles up between cycles and the heap keeps growing. */
  int64_t p = atomic_fetch_add(&pending_bytes, 512) + 512;
  if (p < 1 << 16) return;
  atomic_store(&pending_bytes, 0);
  int64_t in_use = bt_bytes_in_use(BT_CPU) + bt_bytes_in_use(BT_CUDA);
  if (in_use > soft_limit) {
    lua_gc(L, LUA_GCCOLLECT);
    in_use = bt_bytes_in_use(BT_CPU) + bt_bytes_in_use(BT_CUDA);
    int64_t next = 2 * in_use;
    soft_limit = next > ((int64_t)256 << 20) ? next : (int64_t)256 << 20;
  } else if (p >= 1 << 16) {
    lua_gc(L, LUA_GCSTEP, (int)(p >> 10 > 1 << 20 ? 1 << 20 : p >> 10));
  }
}

/* ---- identity ---------------------------------------------------------------- */

void lb_push(lua_State *L, bt_Tensor *t) {
  if (!t) lb_error(L);
  if (t->user) {   /* it may already have a Lua value */
    lua_rawgeti(L, LUA_REGISTRYINDEX, cache_ref);
    if (lua_rawgetp(L, -1, t) == LUA_TUSERDATA) {
      lua_remove(L, -2);
      bt_release(t);   /* the existing value holds its own reference */
      return;
    }
    lua_pop(L, 2);
  }
  Box *b = lua_newuserdatauv(L, sizeof *b, 0);
  b->t = t;
  t->user = b;
  lua_rawgeti(L, LUA_REGISTRYINDEX, meta_ref);
  lua_setmetatable(L, -2);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cache_ref);
  lua_pushvalue(L, -2);
  lua_rawsetp(L, -2, t);
  lua_pop(L, 1);
  drive_collector(L);
}

/* The Box at idx when it is a tensor, else NULL: luaL_testudata's test,
** with the metatable compared by address instead of looked up by name in
** the registry (a string lookup that cost ~500 instructions, a tenth of a
** tiny op, on every argument check and every __gc). Another Lua state's
** metatable has another address: it falls back to the lookup by name. */
static const void *meta_ptr;

static Box *test_box(lua_State *L, int idx) {
  Box *b = lua_touserdata(L, idx);
  if (!b || !lua_getmetatable(L, idx)) return NULL;
  const void *mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  return mt == meta_ptr ? b : luaL_testudata(L, idx, BT_TENSOR_MT);
}

static bt_Tensor *number_cache[4];   /* wrapped Lua numbers: i64, f64, bool, f32 */

/* Releases the cached wrapped numbers when the Lua state closes. */
static int release_number_cache(lua_State *L) {
  for (int k = 0; k < 4; k++) {
    bt_release(number_cache[k]);
    number_cache[k] = NULL;
  }
  return 0;
}

static int tensor_gc(lua_State *L) {
  Box *b = test_box(L, 1);
  if (!b) return luaL_typeerror(L, 1, "tensor");
  if (b->t) {
    if (b->t->user == b) b->t->user = NULL;
    bt_release(b->t);
    b->t = NULL;
  }
  return 0;
}

bt_Tensor *lb_test(lua_State *L, int idx) {
  Box *b = test_box(L, idx);
  return b ? b->t : NULL;
}

extern lua_State *lb_current_L;

bt_Tensor *lb_check(lua_State *L, int idx) {
  lb_current_L = L;
  Box *b = test_box(L, idx);
  if (!b) luaL_typeerror(L, idx, "tensor");   /* names the function */
  if (!b->t) luaL_error(L, "bad argument #%d: tensor already freed", idx);
  return b->t;
}

/* Wrapped Lua numbers are reused while nothing else holds them (an op that
** saves its operand for backward keeps it, and the next number gets a new
** one): `x + 1` in a loop allocates no scalar. */

static bt_Tensor *wrapped_number(lua_State *L, int idx, int kind) {
  static const bt_DType dts[4] = {BT_I64, BT_F64, BT_BOOL, BT_F32};
  bt_Tensor *t = number_cache[kind];
  if (!t || t->refcount != 1 || t->storage->refcount != 1) {
    bt_release(t);
    t = number_cache[kind] = bt_scalar(0, dts[kind]);
    if (!t) lb_error(L);
    t->wrapped_number = true;
  }
  void *p = t->storage->data;
  if (kind == 0) *(int64_t *)p = lua_tointeger(L, idx);
  else if (kind == 1) *(double *)p = lua_tonumber(L, idx);
  else if (kind == 3) *(float *)p = (float)lua_tonumber(L, idx);
  else *(uint8_t *)p = (uint8_t)lua_toboolean(L, idx);
  bt_retain(t);
  return t;
}

static int number_kind(lua_State *L, int idx) {
  return lua_type(L, idx) == LUA_TBOOLEAN ? 2 : lua_isinteger(L, idx) ? 0 : 1;
}

bt_Tensor *lb_check_or_number(lua_State *L, int idx, bool *owned) {
  *owned = false;
  if (lua_type(L, idx) == LUA_TNUMBER || lua_type(L, idx) == LUA_TBOOLEAN) {
    *owned = true;
    return wrapped_number(L, idx, number_kind(L, idx));
  }
  return lb_check(L, idx);
}

/* A number beside a float tensor (at `other`) is wrapped straight in the
** dtype the op computes in: f32 for f32/f16/bf16 tensors, f64 for f64. The
** result dtype is the tensor's either way (a float tensor wins over a Lua
** number), and the value goes through double as bt_binary's own conversion
** of an i64/f64 wrapped number does, so results are identical; what goes is
** that conversion's scalar allocation (`x + 1` was ~40% slower than x + y). */
bt_Tensor *lb_operand(lua_State *L, int idx, int other, bool *owned) {
  /* Both operands are checked before either is taken: an error raised for
  ** the second would otherwise leak the reference held on the first. */
  for (int k = 0; k < 2; k++) {
    int i = k ? other : idx, ty = lua_type(L, i);
    if (ty != LUA_TNUMBER && ty != LUA_TBOOLEAN) lb_check(L, i);
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    bt_Tensor *o = lb_test(L, other);
    if (o && (o->dtype == BT_F32 || o->dtype == BT_F16 || o->dtype == BT_BF16 || o->dtype == BT_F64)) {
      *owned = true;
      return wrapped_number(L, idx, o->dtype == BT_F64 ? 1 : 3);
    }
  }
  return lb_check_or_number(L, idx, owned);
}

/* The engine names the op it failed in, which may be a helper ("empty:
** cannot allocate ..." from zeros or contiguous): then the Lua function's
** name goes first ("contiguous: empty: ..."). In-place add_ counts as add;
** operators (metamethods: a % b is "remainder: ...") keep the engine's name. */
int lb_error(lua_State *L) {
  const char *msg = bt_errmsg();
  lua_Debug ar;
  if (lua_getstack(L, 0, &ar) && lua_getinfo(L, "n", &ar) && ar.name && strcmp(ar.namewhat, "metamethod") != 0) {
    size_t n = strlen(ar.name);
    if (n > 1 && ar.name[n - 1] == '_') n--;
    char base[64];
    snprintf(base, sizeof base, "%.*s", (int)n, ar.name);
    if (!strstr(msg, base)) return luaL_error(L, "%s: %s", ar.name, msg);
  }
  return luaL_error(L, "%s", msg);
}

/* ---- argument helpers ----------------------------------------------------------- */

static int to_c_dim(lua_State *L, int idx, lua_Integer d, int ndim) {
  if (d == 0)
    return luaL_argerror(L, idx, lua_pushfstring(L, "dim 0 is not valid: dims are 1-based (1..%d, or negative from the end)",
                                                 ndim ? ndim : 1));
  int64_t n = ndim ? ndim : 1;
  if (d > n || d < -n)
    return luaL_argerror(L, idx, lua_pushfstring(L, "dim %I out of range for a %d-dim tensor (valid: 1..%d or -%d..-1)",
                                                 d, ndim, (int)n, (int)n));
  return (int)(d > 0 ? d - 1 : d + n);
}

int lb_dim(lua_State *L, int idx, int ndim) {
  int ok;
  lua_Integer d = lua_tointegerx(L, idx, &ok);   /* 2.0 counts as 2 */
  if (!ok || lua_type(L, idx) != LUA_TNUMBER)
    return luaL_argerror(L, idx, lua_pushfstring(L, "dim (an integer) expected, got %s",
                         lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx)));
  return to_c_dim(L, idx, d, ndim);
}

int lb_optdim(lua_State *L, int idx, int ndim, int def) {
  return lua_isnoneornil(L, idx) ? def : lb_dim(L, idx, ndim);
}

int lb_shape(lua_State *L, int idx, int64_t *shape, int *next) {
  int n = 0;
  if (lua_istable(L, idx) && (lua_rawlen(L, idx) > 0 || (lua_pushnil(L), lua_next(L, idx) == 0) || (lua_pop(L, 2), 0))) {
    int len = (int)lua_rawlen(L, idx);
    if (len > BT_MAX_DIMS) luaL_argerror(L, idx, lua_pushfstring(L, "shape has %d dims (at most %d)", len, BT_MAX_DIMS));
    for (int i = 1; i <= len; i++) {
      int ok;
      lua_rawgeti(L, idx, i);
      lua_Integer v = lua_tointegerx(L, -1, &ok);
      if (!ok || lua_type(L, -1) != LUA_TNUMBER) luaL_argerror(L, idx, lua_pushfstring(L, "shape entry %d is not an integer", i));
      shape[n++] = v;
      lua_pop(L, 1);
    }
    *next = idx + 1;
    return n;
  }
  while (lua_type(L, idx) == LUA_TNUMBER) {
    int ok;
    if (n == BT_MAX_DIMS) luaL_argerror(L, idx, lua_pushfstring(L, "too many sizes (at most %d dims)", BT_MAX_DIMS));
    lua_Integer v = lua_tointegerx(L, idx, &ok);   /* 1e6 counts as 1000000 */
    if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "size must be an integer, got %s", lua_tostring(L, idx)));
    shape[n++] = v;
    idx++;
  }
  *next = idx;
  return n;
}

int lb_dtype_arg(lua_State *L, int idx) {
  const char *name = luaL_checkstring(L, idx);
  int dt = bt_dtype_parse(name);
  if (dt < 0)
    luaL_argerror(L, idx, lua_pushfstring(L, "unknown dtype '%s' (f32, f64, f16, bf16, i64, i32, u8, bool, or names like 'float32')", name));
  return dt;
}

bt_DType lb_opt_dtype(lua_State *L, int idx, bt_DType def) {
  if (!lua_istable(L, idx)) return def;
  bt_DType dt = def;
  if (lua_getfield(L, idx, "dtype") != LUA_TNIL) dt = (bt_DType)lb_dtype_arg(L, lua_gettop(L));
  lua_pop(L, 1);
  return dt;
}

bool lb_opt_bool(lua_State *L, int idx, const char *field, bool def) {
  if (!lua_istable(L, idx)) return def;
  bool v = def;
  if (lua_getfield(L, idx, field) != LUA_TNIL) v = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

void lb_push_shape(lua_State *L, const bt_Tensor *t) {
  lua_createtable(L, t->ndim, 0);
  for (int d = 0; d < t->ndim; d++) {
    lua_pushinteger(L, t->shape[d]);
    lua_rawseti(L, -2, d + 1);
  }
}

/* A Lua value for one element: float, integer or boolean by dtype. */
void lb_push_value(lua_State *L, const bt_Tensor *t, int64_t i) {
  if (t->storage->device.type != BT_CPU) {   /* device memory is not readable here */
    char dev[32];
    luaL_error(L, "reading elements of a %s tensor: move it with :cpu() first",
               bt_device_name(t->storage->device, dev));
  }
  if (t->dtype == BT_BOOL) lua_pushboolean(L, bt_get_flat_i64(t, i) != 0);
  else if (bt_dtype_is_float(t->dtype)) lua_pushnumber(L, bt_get_flat(t, i));
  else lua_pushinteger(L, bt_get_flat_i64(t, i));
}

void lb_setfuncs(lua_State *L, const luaL_Reg *l) {
  for (; l->name; l++) {
    lua_pushcfunction(L, l->func);
    lua_setfield(L, -2, l->name);
  }
}

/* ---- indexing ----------------------------------------------------------------------- */

static void need_cpu(lua_State *L, const bt_Tensor *t, const char *what) {
  if (t->storage->device.type != BT_CPU)
    luaL_error(L, "%s: reading or writing single elements needs a CPU tensor (call :cpu() first)", what);
}

/* An integer index at idx (2.0 is fine, 2.5 is an error). */
static lua_Integer int_at(lua_State *L, int idx, const char *what) {
  int ok;
  lua_Integer i = lua_tointegerx(L, idx, &ok);
  if (!ok) luaL_error(L, "%s: index must be an integer, got %s", what, luaL_tolstring(L, idx, NULL));
  return i;
}

/* Lua index i (1-based, negative from the end) into 0-based, checked. */
static int64_t to_c_index(lua_State *L, lua_Integer i, int64_t size, int dim) {
  /* (luaL_error knows %I for integers, not %lld) */
  if (i == 0) luaL_error(L, "index 0 is not valid: indices are 1-based (dim %d has size %I)", dim + 1, (lua_Integer)size);
  if (i > size || i < -size)
    luaL_error(L, "index %I out of range for dim %d of size %I", (lua_Integer)i, dim + 1, (lua_Integer)size);
  return i > 0 ? i - 1 : size + i;
}

/* Applies a table of indices and ranges; returns a new view. If every dim is
** named by a number, *element receives its 0-based flat position in the
** view's base and NULL is returned. */
static bt_Tensor *apply_index(lua_State *L, bt_Tensor *t, int key, bool *full, int64_t *elem) {
  int n = (int)lua_rawlen(L, key);
  if (n > t->ndim) luaL_error(L, "index: %d indices for a %d-dim tensor", n, t->ndim);
  *full = false;
  bool all_numbers = n == t->ndim && n > 0;
  for (int k = 1; k <= n; k++) {
    int ty = lua_rawgeti(L, key, k);
    lua_pop(L, 1);
    if (ty != LUA_TNUMBER) all_numbers = false;
  }
  if (all_numbers) {
    int64_t off = t->offset;
    for (int k = 1; k <= n; k++) {
      lua_rawgeti(L, key, k);
      off += to_c_index(L, int_at(L, -1, "index"), t->shape[k - 1], k - 1) * t->stride[k - 1];
      lua_pop(L, 1);
    }
    *full = true;
    *elem = off;
    return NULL;
  }
  /* Each intermediate view lives on the Lua stack, owned by the collector,
  ** so an error raised halfway (a bad index) leaks nothing. */
  lua_pushnil(L);
  int slot = lua_gettop(L);
  bt_Tensor *v = t;
  int d = 0;   /* dim of v that entry k addresses */
  for (int k = 1; k <= n; k++) {
    int ty = lua_rawgeti(L, key, k);
    bt_Tensor *next = NULL;
    if (ty == LUA_TNUMBER) {
      int ok;
      lua_Integer li = lua_tointegerx(L, -1, &ok);
      if (!ok) luaL_error(L, "index: entry %d is not an integer", k);
      int64_t i = to_c_index(L, li, v->shape[d], k - 1);
      next = bt_select(v, d, i);
    } else if (ty == LUA_TTABLE) {
      int len = (int)lua_rawlen(L, -1);
      int64_t size = v->shape[d], a = 0, b = size - 1;
      if (len >= 1) {
        lua_rawgeti(L, -1, 1);
        a = to_c_index(L, luaL_checkinteger(L, -1), size, k - 1);
        lua_pop(L, 1);
        b = a;
      }
      if (len >= 2) {
        lua_rawgeti(L, -1, 2);
        b = to_c_index(L, luaL_checkinteger(L, -1), size, k - 1);
        lua_pop(L, 1);
      }
      if (b < a) luaL_error(L, "index: empty range {%d, %d} at dim %d", (int)a + 1, (int)b + 1, k);
      next = bt_narrow(v, d, a, b - a + 1);
      d++;
    } else {
      luaL_error(L, "index: entry %d must be a number or a range table, got %s", k, lua_typename(L, ty));
    }
    lua_pop(L, 1);
    if (!next) lb_error(L);
    lb_push(L, next);
    lua_replace(L, slot);
    v = next;
  }
  bt_retain(v);
  lua_settop(L, slot - 1);
  return v;
}

static void push_element(lua_State *L, bt_Tensor *t, int64_t off) {
  need_cpu(L, t, "index");
  bt_Tensor *e = bt_as_strided(t, 0, NULL, NULL, off);
  if (!e) lb_error(L);
  lb_push_value(L, e, 0);
  bt_release(e);
}

static int index_tensor(lua_State *L, bt_Tensor *t) {
  if (lua_type(L, 2) == LUA_TNUMBER) {
    if (t->ndim == 0) return luaL_error(L, "index: cannot index a 0-dim tensor (use :item())");
    int64_t i = to_c_index(L, int_at(L, 2, "index"), t->shape[0], 0);
    if (t->ndim == 1) {
      push_element(L, t, t->offset + i * t->stride[0]);
      return 1;
    }
    lb_push(L, bt_select(t, 0, i));
    return 1;
  }
  if (lua_istable(L, 2)) {
    bool full;
    int64_t off;
    bt_Tensor *v = apply_index(L, t, 2, &full, &off);
    if (full) push_element(L, t, off);
    else lb_push(L, v);
    return 1;
  }
  bt_Tensor *k = lb_test(L, 2);
  if (k && k->dtype == BT_BOOL) {
    lb_push(L, bt_masked_select(t, k));
    return 1;
  }
  if (k && !bt_dtype_is_float(k->dtype)) {   /* 1-based ids along dim 1 */
    bt_Tensor *z = bt_binary_scalar(BT_SUB, k, 1, false);
    if (!z) lb_error(L);
    bt_Tensor *r = bt_index_select(t, 0, z);
    bt_release(z);
    lb_push(L, r);
    return 1;
  }
  return luaL_error(L, "index: a number, a table of indices/ranges, a bool mask or an integer tensor expected, got %s",
                    luaL_typename(L, 2));
}

static int push_field(lua_State *L, bt_Tensor *t, const char *k) {
  if (!strcmp(k, "shape")) lb_push_shape(L, t);
  else if (!strcmp(k, "dtype")) lua_pushstring(L, bt_dtype_name(t->dtype));
  else if (!strcmp(k, "device")) {
    char buf[32];
    lua_pushstring(L, bt_device_name(t->storage->device, buf));
  } else if (!strcmp(k, "ndim")) lua_pushinteger(L, t->ndim);
  else if (!strcmp(k, "grad")) {
    if (t->grad) {
      bt_retain(t->grad);
      lb_push(L, t->grad);
    } else lua_pushnil(L);
  } else if (!strcmp(k, "requires_grad")) lua_pushboolean(L, t->requires_grad);
  else if (!strcmp(k, "is_leaf")) lua_pushboolean(L, t->grad_fn == NULL);
  else if (!strcmp(k, "grad_fn")) {
    const char *n = bt_grad_fn_name(t);
    if (n) lua_pushstring(L, n);
    else lua_pushnil(L);
  } else if (!strcmp(k, "T")) lb_push(L, bt_t(t));
  else lua_pushnil(L);
  return 1;
}

static int tensor_index(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, methods_ref);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL) return 1;
    return push_field(L, t, lua_tostring(L, 2));
  }
  return index_tensor(L, t);
}

/* Writes value (at index 3) into view v: a number fills, a tensor copies. */
static void assign(lua_State *L, bt_Tensor *v) {
  int rc;
  bt_Tensor *src = lb_test(L, 3);
  if (src) rc = bt_copy_(v, src);
  else if (lua_type(L, 3) == LUA_TNUMBER) rc = bt_fill_(v, lua_tonumber(L, 3));
  else if (lua_type(L, 3) == LUA_TBOOLEAN) rc = bt_fill_(v, lua_toboolean(L, 3));
  else {
    bt_release(v);
    luaL_error(L, "index assignment: a number or a tensor expected, got %s", luaL_typename(L, 3));
    return;
  }
  bt_release(v);
  if (rc < 0) lb_error(L);
}

static void set_element(lua_State *L, bt_Tensor *t, int64_t off) {
  need_cpu(L, t, "index assignment");
  bt_Tensor *e = bt_as_strided(t, 0, NULL, NULL, off);
  if (!e) lb_error(L);
  /* Writing into a graph tensor would silently corrupt its gradients. */
  e->is_graph_view = t->requires_grad || t->is_graph_view;
  e->is_view = true;
  bt_Tensor *src = lb_test(L, 3);
  int rc;
  if (src) rc = bt_copy_(e, src);
  else if (lua_isinteger(L, 3) && !bt_dtype_is_float(t->dtype)) rc = bt_set_i64(e, NULL, lua_tointeger(L, 3));
  else if (lua_type(L, 3) == LUA_TNUMBER) rc = bt_set(e, NULL, lua_tonumber(L, 3));
  else if (lua_type(L, 3) == LUA_TBOOLEAN) rc = bt_set(e, NULL, lua_toboolean(L, 3));
  else {
    bt_release(e);
    luaL_error(L, "index assignment: a number or a tensor expected, got %s", luaL_typename(L, 3));
    return;
  }
  bt_release(e);
  if (rc < 0) lb_error(L);
}

static int tensor_newindex(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (lua_type(L, 2) == LUA_TSTRING) {
    const char *k = lua_tostring(L, 2);
    if (!strcmp(k, "grad")) {
      bt_Tensor *g = lua_isnil(L, 3) ? NULL : lb_test(L, 3);
      if (!g && !lua_isnil(L, 3))
        return luaL_error(L, "grad: a tensor or nil expected, got %s", luaL_typename(L, 3));
      if (bt_set_grad(t, g) < 0) lb_error(L);
      return 0;
    }
    if (!strcmp(k, "requires_grad")) {
      if (bt_requires_grad_(t, lua_toboolean(L, 3)) < 0) lb_error(L);
      return 0;
    }
    return luaL_error(L, "cannot set field '%s' of a tensor (fields: grad, requires_grad)", k);
  }
  if (t->requires_grad && !t->grad_fn && bt_grad_enabled())
    return luaL_error(L, "index assignment: a leaf tensor that requires grad cannot be modified in place "
                         "(do it inside brasa.no_grad, or work on a clone)");
  /* Views and masks are written by ops (any device); single elements need the CPU (set_element). */
  if (lua_type(L, 2) == LUA_TNUMBER) {
    if (t->ndim == 0) return luaL_error(L, "index assignment: cannot index a 0-dim tensor");
    int64_t i = to_c_index(L, int_at(L, 2, "index assignment"), t->shape[0], 0);
    if (t->ndim == 1) set_element(L, t, t->offset + i * t->stride[0]);
    else {
      bt_Tensor *v = bt_select(t, 0, i);
      if (!v) lb_error(L);
      assign(L, v);
    }
    return 0;
  }
  if (lua_istable(L, 2)) {
    bool full;
    int64_t off;
    bt_Tensor *v = apply_index(L, t, 2, &full, &off);
    if (full) set_element(L, t, off);
    else assign(L, v);
    return 0;
  }
  bt_Tensor *m = lb_test(L, 2);
  if (m && m->dtype == BT_BOOL) {
    if (lua_type(L, 3) != LUA_TNUMBER && lua_type(L, 3) != LUA_TBOOLEAN)
      return luaL_error(L, "masked assignment: a number expected, got %s", luaL_typename(L, 3));
    double v = lua_type(L, 3) == LUA_TBOOLEAN ? lua_toboolean(L, 3) : lua_tonumber(L, 3);
    if (bt_masked_fill_(t, m, v) < 0) lb_error(L);
    return 0;
  }
  return luaL_error(L, "index assignment: a number, a table of indices/ranges or a bool mask expected as key, got %s",
                    luaL_typename(L, 2));
}

/* ---- metamethods ----------------------------------------------------------------- */

static int binary_meta(lua_State *L, bt_BinaryOp op) {
  bool oa, ob;
  bt_Tensor *a = lb_operand(L, 1, 2, &oa), *b = lb_operand(L, 2, 1, &ob);
  bt_Tensor *r = bt_binary(op, a, b);
  if (oa) bt_release(a);
  if (ob) bt_release(b);
  lb_push(L, r);
  return 1;
}

static int tensor_add(lua_State *L) { return binary_meta(L, BT_ADD); }
static int tensor_sub(lua_State *L) { return binary_meta(L, BT_SUB); }
static int tensor_mul(lua_State *L) { return binary_meta(L, BT_MUL); }
static int tensor_div(lua_State *L) { return binary_meta(L, BT_DIV); }
static int tensor_pow(lua_State *L) { return binary_meta(L, BT_POW); }
static int tensor_mod(lua_State *L) { return binary_meta(L, BT_REMAINDER); }

static int tensor_unm(lua_State *L) {
  lb_push(L, bt_neg(lb_check(L, 1)));
  return 1;
}

static int tensor_len(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (t->ndim == 0) return luaL_error(L, "#: a 0-dim tensor has no length (use :item())");
  lua_pushinteger(L, t->shape[0]);
  return 1;
}

static int tensor_lt(lua_State *L) {
  return luaL_error(L, "'<' and '<=' cannot compare tensors elementwise in Lua (the result would "
                       "become a boolean): use x:lt(y) or x:le(y)");
}

/* __tostring and __name: printing lives in lua/brasa/tensor.lua, which sets
** the metatable's __tostring; this is the fallback before it loads. */
static int tensor_tostring(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  char buf[128];
  lua_pushfstring(L, "tensor %s %s", bt_shape_str(t, buf), bt_dtype_name(t->dtype));
  return 1;
}

void lb_open_tensor(lua_State *L) {
  bt_set_alloc_hook(alloc_hook, NULL);
  lua_newtable(L);                        /* cache with weak values */
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "v");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  cache_ref = luaL_ref(L, LUA_REGISTRYINDEX);

  lua_newuserdatauv(L, 0, 0);             /* a sentinel: its __gc runs at lua_close */
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, release_number_cache);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  luaL_ref(L, LUA_REGISTRYINDEX);

  luaL_newmetatable(L, BT_TENSOR_MT);
  static const luaL_Reg meta[] = {
    {"__index", tensor_index}, {"__newindex", tensor_newindex}, {"__gc", tensor_gc},
    {"__add", tensor_add}, {"__sub", tensor_sub}, {"__mul", tensor_mul}, {"__div", tensor_div},
    {"__pow", tensor_pow}, {"__mod", tensor_mod}, {"__unm", tensor_unm}, {"__len", tensor_len},
    {"__lt", tensor_lt}, {"__le", tensor_lt}, {"__tostring", tensor_tostring}, {NULL, NULL},
  };
  luaL_setfuncs(L, meta, 0);
  meta_ptr = lua_topointer(L, -1);        /* anchored in the registry: never moves */
  lua_pushvalue(L, -1);
  meta_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_newtable(L);                        /* methods */
  lua_pushvalue(L, -1);
  methods_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__methods");       /* for completion in the REPL */
  lua_remove(L, -2);                      /* leaves the methods table */
}
