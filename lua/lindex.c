/*
** lindex.c: indexing, joining and sorting methods. Indices users give and
** see are 1-based; the engine's are 0-based: this file converts both ways.
*/
#include "lbinding.h"

#include <stdlib.h>

/* A 0-based i64 index tensor from a 1-based tensor or Lua list at idx. */
static bt_Tensor *zero_based(lua_State *L, int idx, const char *op) {
  bt_Tensor *t = lb_test(L, idx), *owned = NULL;
  if (!t) {
    if (!lua_istable(L, idx))
      luaL_error(L, "%s: an index tensor or a list of indices expected, got %s", op, luaL_typename(L, idx));
    int64_t n = (int64_t)lua_rawlen(L, idx);
    int64_t *buf = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *buf, 0);
    for (int64_t i = 0; i < n; i++) {
      lua_rawgeti(L, idx, i + 1);
      if (!lua_isinteger(L, -1)) luaL_error(L, "%s: index %d is not an integer", op, (int)i + 1);
      buf[i] = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
    owned = t = bt_from_buffer(1, &n, BT_I64, buf, BT_I64);
    lua_pop(L, 1);
    if (!t) lb_error(L);
  }
  if (bt_dtype_is_float(t->dtype) || t->dtype == BT_BOOL) {
    bt_release(owned);
    luaL_error(L, "%s: indices must be integers, got a %s tensor", op, bt_dtype_name(t->dtype));
  }
  bt_Tensor *z = bt_binary_scalar(BT_SUB, t, 1, false);
  bt_release(owned);
  if (!z) lb_error(L);
  /* 0 (now -1) is never a valid 1-based index. */
  bt_Tensor *bad = bt_binary_scalar(BT_LT, z, 0, false), *any = bad ? bt_any(bad) : NULL;
  bt_Tensor *host = any ? bt_to_device(any, BT_CPU_DEVICE) : NULL;   /* read on the host */
  bool has_zero = host && bt_get_flat_i64(host, 0);
  bt_release(bad);
  bt_release(any);
  bt_release(host);
  if (has_zero) {
    bt_release(z);
    luaL_error(L, "%s: index 0 or a negative index found: indices are 1-based", op);
  }
  return z;
}

static bt_Tensor *one_based(bt_Tensor *ix) {
  if (!ix) return NULL;
  bt_Tensor *r = bt_binary_scalar(BT_ADD, ix, 1, false);
  bt_release(ix);
  return r;
}

static int l_index_select(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_dim(L, 2, t->ndim);
  bt_Tensor *ix = zero_based(L, 3, "index_select");
  bt_Tensor *r = bt_index_select(t, dim, ix);
  bt_release(ix);
  lb_push(L, r);
  return 1;
}

static int l_gather(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_dim(L, 2, t->ndim);
  bt_Tensor *ix = zero_based(L, 3, "gather");
  bt_Tensor *r = bt_gather(t, dim, ix);
  bt_release(ix);
  lb_push(L, r);
  return 1;
}

/* scatter(dim, index, src) and scatter_add; src may be a number (scatter). */
static int scatter_common(lua_State *L, int kind) {
  static const char *names[] = {"scatter", "scatter_add", "index_add"};
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_dim(L, 2, t->ndim);
  bt_Tensor *ix = zero_based(L, 3, names[kind]);
  bt_Tensor *src = lb_test(L, 4), *owned = NULL;
  if (!src) {
    if (kind != 0 || !lua_isnumber(L, 4)) {
      bt_release(ix);
      return luaL_error(L, "%s: a source tensor expected, got %s", names[kind], luaL_typename(L, 4));
    }
    owned = src = bt_full(ix->ndim, ix->shape, lua_tonumber(L, 4), t->dtype, t->storage->device);
  }
  bt_Tensor *r = !src ? NULL
                 : kind == 0 ? bt_scatter(t, dim, ix, src)
                 : kind == 1 ? bt_scatter_add(t, dim, ix, src)
                             : bt_index_add(t, dim, ix, src);
  bt_release(ix);
  bt_release(owned);
  lb_push(L, r);
  return 1;
}

static int l_scatter(lua_State *L) { return scatter_common(L, 0); }
static int l_scatter_add(lua_State *L) { return scatter_common(L, 1); }
static int l_index_add(lua_State *L) { return scatter_common(L, 2); }

static double fill_value(lua_State *L, int idx) {
  return lua_isboolean(L, idx) ? lua_toboolean(L, idx) : luaL_checknumber(L, idx);
}

static int l_masked_fill(lua_State *L) {
  lb_push(L, bt_masked_fill(lb_check(L, 1), lb_check(L, 2), fill_value(L, 3)));
  return 1;
}

static int l_masked_fill_(lua_State *L) {
  if (bt_masked_fill_(lb_check(L, 1), lb_check(L, 2), fill_value(L, 3)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_masked_select(lua_State *L) {
  lb_push(L, bt_masked_select(lb_check(L, 1), lb_check(L, 2)));
  return 1;
}

/* nonzero(): N x ndim, 1-based. */
static int l_nonzero(lua_State *L) {
  lb_push(L, one_based(bt_nonzero(lb_check(L, 1))));
  return 1;
}

/* brasa.cat(list, dim?) and brasa.stack(list, dim?): dim 1 by default. */
static int join(lua_State *L, bool stack) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);   /* dim at 2 (maybe nil): the scratch userdata goes above it */
  int n = (int)lua_rawlen(L, 1);
  if (n == 0) return luaL_error(L, "%s: the list of tensors is empty", stack ? "stack" : "cat");
  bt_Tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)n, 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    ts[i] = lb_test(L, -1);
    lua_pop(L, 1);
    if (!ts[i]) return luaL_error(L, "%s: element %d of the list is not a tensor", stack ? "stack" : "cat", i + 1);
  }
  int nd = ts[0]->ndim + (stack ? 1 : 0);
  int dim = lb_optdim(L, 2, nd, 0);
  lb_push(L, stack ? bt_stack(n, ts, dim) : bt_cat(n, ts, dim));
  return 1;
}

static int l_cat(lua_State *L) { return join(L, false); }
static int l_stack(lua_State *L) { return join(L, true); }

static int push_pieces(lua_State *L, int rc, bt_Tensor **pieces, int n) {
  if (rc < 0) return lb_error(L);
  lua_createtable(L, n, 0);
  for (int i = 0; i < n; i++) {
    lb_push(L, pieces[i]);
    lua_rawseti(L, -2, i + 1);
  }
  free(pieces);
  return 1;
}

/* split(size, dim?) -> list of views; chunk(n, dim?) likewise. */
static int l_split(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  lua_Integer size = luaL_checkinteger(L, 2);
  int dim = lb_optdim(L, 3, t->ndim, 0);
  bt_Tensor **p = NULL;
  int n = 0;
  int rc = bt_split(t, size, dim, &p, &n);
  return push_pieces(L, rc, p, n);
}

static int l_chunk(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  lua_Integer chunks = luaL_checkinteger(L, 2);
  int dim = lb_optdim(L, 3, t->ndim, 0);
  bt_Tensor **p = NULL;
  int n = 0;
  int rc = bt_chunk(t, (int)chunks, dim, &p, &n);
  return push_pieces(L, rc, p, n);
}

/* sort(dim?, descending?) -> values, indices (1-based); dim: last by default. */
static int l_sort(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_optdim(L, 2, t->ndim, t->ndim ? t->ndim - 1 : 0);
  bt_Tensor *v, *ix;
  if (bt_sort(t, dim, lua_toboolean(L, 3), &v, &ix) < 0) return lb_error(L);
  lb_push(L, v);
  lb_push(L, one_based(ix));
  return 2;
}

/* topk(k, dim?, largest = true, sorted = true) -> values, indices (1-based). */
static int l_topk(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  lua_Integer k = luaL_checkinteger(L, 2);
  int dim = lb_optdim(L, 3, t->ndim, t->ndim ? t->ndim - 1 : 0);
  bool largest = lua_isnoneornil(L, 4) ? true : lua_toboolean(L, 4);
  bool sorted = lua_isnoneornil(L, 5) ? true : lua_toboolean(L, 5);
  bt_Tensor *v, *ix;
  if (bt_topk(t, k, dim, largest, sorted, &v, &ix) < 0) return lb_error(L);
  lb_push(L, v);
  lb_push(L, one_based(ix));
  return 2;
}

/* one_hot(num_classes?): classes 1..C -> [..., C] (i64). */
static int l_one_hot(lua_State *L) {
  lua_settop(L, 2);
  bt_Tensor *t = lb_check(L, 1);
  lua_Integer classes = luaL_optinteger(L, 2, -1);   /* before z is held */
  lua_pushvalue(L, 1);
  bt_Tensor *z = zero_based(L, lua_gettop(L), "one_hot");
  bt_Tensor *r = bt_one_hot(z, classes);
  bt_release(z);
  (void)t;
  lb_push(L, r);
  return 1;
}

void lb_open_index(lua_State *L, int methods, int module) {
  static const luaL_Reg both[] = {
    {"index_select", l_index_select}, {"gather", l_gather}, {"scatter", l_scatter},
    {"scatter_add", l_scatter_add}, {"index_add", l_index_add}, {"masked_fill", l_masked_fill},
    {"masked_select", l_masked_select}, {"nonzero", l_nonzero}, {"split", l_split},
    {"chunk", l_chunk}, {"sort", l_sort}, {"topk", l_topk}, {"one_hot", l_one_hot},
    {NULL, NULL},
  };
  for (const luaL_Reg *r = both; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_pushvalue(L, -1);
    lua_setfield(L, methods, r->name);
    lua_setfield(L, module, r->name);
  }
  lua_pushcfunction(L, l_masked_fill_);
  lua_setfield(L, methods, "masked_fill_");
  lua_pushcfunction(L, l_cat);
  lua_setfield(L, module, "cat");
  lua_pushcfunction(L, l_stack);
  lua_setfield(L, module, "stack");
}
