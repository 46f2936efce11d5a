/*
** lops.c: tensor methods for the engine's ops (elementwise, reductions,
** views, casts, linear algebra). Each is also a function of the module:
** x:exp() and brasa.exp(x) are the same call.
*/
#include "lbinding.h"

#include <math.h>
#include <string.h>

/* ---- elementwise --------------------------------------------------------- */

static int unary_method(lua_State *L) {
  bt_UnaryOp op = (bt_UnaryOp)lua_tointeger(L, lua_upvalueindex(1));
  lb_push(L, bt_unary(op, lb_check(L, 1)));
  return 1;
}

static int unary_inplace(lua_State *L) {
  bt_UnaryOp op = (bt_UnaryOp)lua_tointeger(L, lua_upvalueindex(1));
  if (bt_unary_(op, lb_check(L, 1)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int binary_method(lua_State *L) {
  bt_BinaryOp op = (bt_BinaryOp)lua_tointeger(L, lua_upvalueindex(1));
  bool oa, ob;
  bt_Tensor *a = lb_operand(L, 1, 2, &oa), *b = lb_operand(L, 2, 1, &ob);
  bt_Tensor *r = bt_binary(op, a, b);
  if (oa) bt_release(a);
  if (ob) bt_release(b);
  lb_push(L, r);
  return 1;
}

static int binary_inplace(lua_State *L) {
  bt_BinaryOp op = (bt_BinaryOp)lua_tointeger(L, lua_upvalueindex(1));
  bool ob;
  bt_Tensor *a = lb_check(L, 1), *b = lb_operand(L, 2, 1, &ob);
  int rc = bt_binary_(op, a, b);
  if (ob) bt_release(b);
  if (rc < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_clamp(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  double lo = luaL_optnumber(L, 2, -INFINITY), hi = luaL_optnumber(L, 3, INFINITY);
  lb_push(L, bt_clamp(t, lo, hi));
  return 1;
}

/* brasa.where(cond, a, b); numbers allowed for a and b. */
static int l_where(lua_State *L) {
  bt_Tensor *c = lb_check(L, 1);
  bool oa, ob;
  if (!lua_isnumber(L, 3) && !lua_isboolean(L, 3)) lb_check(L, 3);   /* before a is taken */
  bt_Tensor *a = lb_check_or_number(L, 2, &oa), *b = lb_check_or_number(L, 3, &ob);
  bt_Tensor *r = bt_where(c, a, b);
  if (oa) bt_release(a);
  if (ob) bt_release(b);
  lb_push(L, r);
  return 1;
}

static int l_leaky_relu(lua_State *L) {
  lb_push(L, bt_leaky_relu(lb_check(L, 1), luaL_optnumber(L, 2, 0.01)));
  return 1;
}
static int l_elu(lua_State *L) {
  lb_push(L, bt_elu(lb_check(L, 1), luaL_optnumber(L, 2, 1.0)));
  return 1;
}
static int l_softplus(lua_State *L) {
  lb_push(L, bt_softplus(lb_check(L, 1), luaL_optnumber(L, 2, 1.0), luaL_optnumber(L, 3, 20.0)));
  return 1;
}
static int l_gelu(lua_State *L) {
  const char *approx = luaL_optstring(L, 2, "none");
  lb_push(L, bt_gelu(lb_check(L, 1), strcmp(approx, "tanh") == 0));
  return 1;
}

/* ---- reductions -------------------------------------------------------------- */

/* A dim or a table of dims at idx as a bit mask; nil: all dims. */
static unsigned dims_mask(lua_State *L, int idx, int ndim) {
  if (lua_isnoneornil(L, idx)) return BT_REDUCE_ALL;
  if (lua_istable(L, idx)) {
    unsigned m = 0;
    int n = (int)lua_rawlen(L, idx);
    if (n == 0) return BT_REDUCE_ALL;
    for (int k = 1; k <= n; k++) {
      lua_rawgeti(L, idx, k);
      m |= 1u << lb_dim(L, lua_gettop(L), ndim);
      lua_pop(L, 1);
    }
    return m;
  }
  if (ndim == 0) {
    lb_dim(L, idx, ndim);
    return BT_REDUCE_ALL;
  }
  return 1u << lb_dim(L, idx, ndim);
}

static int reduce_method(lua_State *L) {
  int kind = (int)lua_tointeger(L, lua_upvalueindex(1));
  bt_Tensor *t = lb_check(L, 1);
  unsigned m = dims_mask(L, 2, t->ndim);
  bool keep = lua_toboolean(L, 3);
  bt_Tensor *r;
  switch (kind) {
    case 0: r = bt_sum(t, m, keep); break;
    case 1: r = bt_mean(t, m, keep); break;
    case 2: r = bt_prod(t, m, keep); break;
    default: r = bt_logsumexp(t, m, keep); break;
  }
  lb_push(L, r);
  return 1;
}

/* var(dim?, {correction = 1, keepdim = false}) or var(dim?, unbiased?, keepdim?) */
static int var_method(lua_State *L) {
  bool is_std = (lua_tointeger(L, lua_upvalueindex(1)) != 0);
  bt_Tensor *t = lb_check(L, 1);
  unsigned m = dims_mask(L, 2, t->ndim);
  int correction = 1;
  bool keep = false;
  if (lua_istable(L, 3)) {
    if (lua_getfield(L, 3, "correction") != LUA_TNIL) correction = (int)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    keep = lb_opt_bool(L, 3, "keepdim", false);
    if (lua_getfield(L, 3, "unbiased") != LUA_TNIL) correction = lua_toboolean(L, -1);
    lua_pop(L, 1);
  } else {
    if (lua_isboolean(L, 3)) correction = lua_toboolean(L, 3);
    keep = lua_toboolean(L, 4);
  }
  lb_push(L, is_std ? bt_std(t, m, correction, keep) : bt_var(t, m, correction, keep));
  return 1;
}

/* norm(p?, dim?, keepdim?): p = 2 by default; math.huge for the max norm. */
static int l_norm(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  double p = luaL_optnumber(L, 2, 2);
  lb_push(L, bt_norm(t, p, dims_mask(L, 3, t->ndim), lua_toboolean(L, 4)));
  return 1;
}

/* Adds 1 to an index tensor (C's 0-based to Lua's 1-based), taking it. */
static bt_Tensor *one_based(bt_Tensor *ix) {
  if (!ix) return NULL;
  bt_Tensor *r = bt_binary_scalar(BT_ADD, ix, 1, false);
  bt_release(ix);
  return r;
}

/* max() -> 0-dim; max(dim, keepdim?) -> values, 1-based indices;
** max(other_tensor) -> elementwise maximum. */
static int minmax_method(lua_State *L) {
  bool is_max = (lua_tointeger(L, lua_upvalueindex(1)) != 0);
  bt_Tensor *t = lb_check(L, 1);
  if (lb_test(L, 2)) {
    lb_push(L, bt_binary(is_max ? BT_MAXIMUM : BT_MINIMUM, t, lb_test(L, 2)));
    return 1;
  }
  if (lua_isnoneornil(L, 2)) {
    lb_push(L, is_max ? bt_max_all(t) : bt_min_all(t));
    return 1;
  }
  int dim = lb_dim(L, 2, t->ndim);
  bt_Tensor *v, *ix;
  int rc = is_max ? bt_max_dim(t, dim, lua_toboolean(L, 3), &v, &ix)
                  : bt_min_dim(t, dim, lua_toboolean(L, 3), &v, &ix);
  if (rc < 0) return lb_error(L);
  lb_push(L, v);
  lb_push(L, one_based(ix));
  return 2;
}

static int argminmax_method(lua_State *L) {
  bool is_max = (lua_tointeger(L, lua_upvalueindex(1)) != 0);
  bt_Tensor *t = lb_check(L, 1);
  int dim = lua_isnoneornil(L, 2) ? BT_ALL_DIMS : lb_dim(L, 2, t->ndim);
  bool keep = lua_toboolean(L, 3);
  lb_push(L, one_based(is_max ? bt_argmax(t, dim, keep) : bt_argmin(t, dim, keep)));
  return 1;
}

static int cumulative_method(lua_State *L) {
  bool is_sum = (lua_tointeger(L, lua_upvalueindex(1)) != 0);
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_optdim(L, 2, t->ndim, 0);
  lb_push(L, is_sum ? bt_cumsum(t, dim) : bt_cumprod(t, dim));
  return 1;
}

/* all(dim?, keepdim?) and any(dim?, keepdim?): bool results. Along dims
** they count the zeros (all) or nonzeros (any) of each slice. */
static int all_any(lua_State *L, bool is_all) {
  bt_Tensor *t = lb_check(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lb_push(L, is_all ? bt_all(t) : bt_any(t));
    return 1;
  }
  unsigned m = dims_mask(L, 2, t->ndim);
  bt_Tensor *hits = bt_binary_scalar(is_all ? BT_EQ : BT_NE, t, 0, false);
  bt_Tensor *n = hits ? bt_sum(hits, m, lua_toboolean(L, 3)) : NULL;
  bt_Tensor *r = n ? bt_binary_scalar(is_all ? BT_EQ : BT_GT, n, 0, false) : NULL;
  bt_release(hits);
  bt_release(n);
  lb_push(L, r);
  return 1;
}

static int l_all(lua_State *L) { return all_any(L, true); }
static int l_any(lua_State *L) { return all_any(L, false); }

/* ---- views -------------------------------------------------------------------- */

static int view_method(lua_State *L) {
  bool reshape = (lua_tointeger(L, lua_upvalueindex(1)) != 0);
  bt_Tensor *t = lb_check(L, 1);
  int64_t shape[BT_MAX_DIMS];
  int next;
  int n = lb_shape(L, 2, shape, &next);
  if (!lua_isnone(L, next))
    return luaL_error(L, "%s: sizes (integers, one may be -1) or one table of sizes expected",
                      reshape ? "reshape" : "view");
  lb_push(L, reshape ? bt_reshape(t, n, shape) : bt_view(t, n, shape));
  return 1;
}

static int l_view_as(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1), *o = lb_check(L, 2);
  lb_push(L, bt_view(t, o->ndim, o->shape));
  return 1;
}

static int l_flatten(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int s = lb_optdim(L, 2, t->ndim, 0), e = lb_optdim(L, 3, t->ndim, t->ndim ? t->ndim - 1 : 0);
  lb_push(L, bt_flatten(t, s, e));
  return 1;
}

static int l_t(lua_State *L) {
  lb_push(L, bt_t(lb_check(L, 1)));
  return 1;
}

static int l_transpose(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int a = lb_optdim(L, 2, t->ndim, 0), b = lb_optdim(L, 3, t->ndim, 1);
  lb_push(L, bt_transpose(t, a, b));
  return 1;
}

static int l_permute(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int dims[BT_MAX_DIMS];
  int64_t d64[BT_MAX_DIMS];
  int next, n = lb_shape(L, 2, d64, &next);
  if (n != t->ndim) return luaL_error(L, "permute: %d dims given for a %d-dim tensor", n, t->ndim);
  for (int i = 0; i < n; i++) {
    lua_pushinteger(L, d64[i]);
    dims[i] = lb_dim(L, lua_gettop(L), t->ndim);
    lua_pop(L, 1);
  }
  lb_push(L, bt_permute(t, dims));
  return 1;
}

/* narrow(dim, start, length): start is 1-based. */
static int l_narrow(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_dim(L, 2, t->ndim);
  lua_Integer start = luaL_checkinteger(L, 3), len = luaL_checkinteger(L, 4);
  if (start == 0) return luaL_error(L, "narrow: start 0 is not valid (indices are 1-based)");
  int64_t size = t->ndim ? t->shape[dim] : 0;
  int64_t s0 = start > 0 ? start - 1 : size + start;
  lb_push(L, bt_narrow(t, dim, s0, len));
  return 1;
}

/* select(dim, index): index 1-based, negative from the end. */
static int l_select(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int dim = lb_dim(L, 2, t->ndim);
  lua_Integer i = luaL_checkinteger(L, 3);
  if (i == 0) return luaL_error(L, "select: index 0 is not valid (indices are 1-based)");
  lb_push(L, bt_select(t, dim, i > 0 ? i - 1 : i));
  return 1;
}

static int l_squeeze(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  lb_push(L, bt_squeeze(t, lua_isnoneornil(L, 2) ? BT_ALL_DIMS : lb_dim(L, 2, t->ndim)));
  return 1;
}

static int l_unsqueeze(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  lb_push(L, bt_unsqueeze(t, lb_dim(L, 2, t->ndim + 1)));
  return 1;
}

static int l_expand(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  int64_t shape[BT_MAX_DIMS];
  int next, n = lb_shape(L, 2, shape, &next);
  lb_push(L, bt_expand(t, n, shape));
  return 1;
}

static int l_expand_as(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1), *o = lb_check(L, 2);
  lb_push(L, bt_expand(t, o->ndim, o->shape));
  return 1;
}

static int l_contiguous(lua_State *L) {
  lb_push(L, bt_contiguous(lb_check(L, 1)));
  return 1;
}

static int l_clone(lua_State *L) {
  lb_push(L, bt_clone(lb_check(L, 1)));
  return 1;
}

/* ---- casts -------------------------------------------------------------------------- */

/* to(dtype) or to('cpu') or to(other_tensor) (its dtype). */
static int l_to(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  bt_Tensor *o = lb_test(L, 2);
  if (o) {
    lb_push(L, bt_to_dtype(t, o->dtype));
    return 1;
  }
  const char *s = luaL_checkstring(L, 2);
  if (!strcmp(s, "cpu") || !strncmp(s, "cuda", 4)) {   /* a device (lcuda.c) */
    bt_Device d;
    lb_device_arg(L, 2, &d);
    lb_push(L, bt_to_device(t, d));
    return 1;
  }
  lb_push(L, bt_to_dtype(t, (bt_DType)lb_dtype_arg(L, 2)));
  return 1;
}

static int cast_method(lua_State *L) {
  bt_DType dt = (bt_DType)lua_tointeger(L, lua_upvalueindex(1));
  lb_push(L, bt_to_dtype(lb_check(L, 1), dt));
  return 1;
}

/* ---- linear algebra -------------------------------------------------------------- */

static int linalg_method(lua_State *L) {
  int kind = (int)lua_tointeger(L, lua_upvalueindex(1));
  bt_Tensor *a = lb_check(L, 1), *b = lb_check(L, 2), *r;
  switch (kind) {
    case 0: r = bt_matmul(a, b); break;
    case 1: r = bt_mm(a, b); break;
    case 2: r = bt_bmm(a, b); break;
    case 3: r = bt_dot(a, b); break;
    default: r = bt_outer(a, b); break;
  }
  lb_push(L, r);
  return 1;
}

/* ---- data access ------------------------------------------------------------------ */

static int l_item(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_numel(t) != 1)
    return luaL_error(L, "item: the tensor has %d elements (shape %s); item() needs exactly one",
                      (int)bt_numel(t), bt_shape_str(t, (char[200]){0}));
  if (t->storage->device.type != BT_CPU) {   /* read through a host copy */
    bt_Tensor *h = bt_to_device(t, BT_CPU_DEVICE);
    if (!h) return lb_error(L);
    lb_push_value(L, h, 0);
    bt_release(h);
    return 1;
  }
  lb_push_value(L, t, 0);
  return 1;
}

static void push_nested(lua_State *L, const bt_Tensor *t, int dim, int64_t *flat) {
  int64_t n = t->shape[dim];
  lua_createtable(L, (int)n, 0);
  for (int64_t i = 0; i < n; i++) {
    if (dim + 1 == t->ndim) lb_push_value(L, t, (*flat)++);
    else push_nested(L, t, dim + 1, flat);
    lua_rawseti(L, -2, i + 1);
  }
}

/* Nested Lua tables of values (a plain value for a 0-dim tensor). */
static int l_totable(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (t->storage->device.type != BT_CPU) {   /* read through a host copy */
    lua_pushcfunction(L, l_totable);
    lb_push(L, bt_to_device(t, BT_CPU_DEVICE));
    lua_call(L, 1, 1);
    return 1;
  }
  if (t->ndim == 0) {
    lb_push_value(L, t, 0);
    return 1;
  }
  luaL_checkstack(L, t->ndim + 4, "totable");
  int64_t flat = 0;
  push_nested(L, t, 0, &flat);
  return 1;
}

/* Element i (1-based, C order) as a Lua value: used by printing. */
static int l_flat(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  lua_Integer i = luaL_checkinteger(L, 2);
  if (i < 1 || i > bt_numel(t)) return luaL_error(L, "flat index %d out of range", (int)i);
  lb_push_value(L, t, i - 1);
  return 1;
}

/* size() -> table of sizes; size(dim) -> number. */
static int l_size(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lb_push_shape(L, t);
    return 1;
  }
  int d = lb_dim(L, 2, t->ndim);
  lua_pushinteger(L, t->ndim ? t->shape[d] : 1);
  return 1;
}

static int l_stride(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (lua_isnoneornil(L, 2)) {
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
      lua_pushinteger(L, t->stride[d]);
      lua_rawseti(L, -2, d + 1);
    }
    return 1;
  }
  lua_pushinteger(L, t->stride[lb_dim(L, 2, t->ndim)]);
  return 1;
}

static int l_dim(lua_State *L) {
  lua_pushinteger(L, lb_check(L, 1)->ndim);
  return 1;
}

static int l_numel(lua_State *L) {
  lua_pushinteger(L, bt_numel(lb_check(L, 1)));
  return 1;
}

static int l_is_contiguous(lua_State *L) {
  lua_pushboolean(L, bt_is_contiguous(lb_check(L, 1)));
  return 1;
}

/* copy(src): copies src's values into x in place (broadcast, cast). */
static int l_copy(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_copy_(t, lb_check(L, 2)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_fill(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  double v = lua_isboolean(L, 2) ? lua_toboolean(L, 2) : luaL_checknumber(L, 2);
  if (bt_fill_(t, v) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_zero(lua_State *L) {
  if (bt_zero_(lb_check(L, 1)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_uniform(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_uniform_(t, luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_normal(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_normal_(t, luaL_optnumber(L, 2, 0), luaL_optnumber(L, 3, 1)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_bernoulli(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_bernoulli_(t, luaL_optnumber(L, 2, 0.5)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

/* ---- registration ---------------------------------------------------------------- */

/* Sets name = fn (with one integer upvalue) in both methods and module. */
static void reg(lua_State *L, int methods, int module, const char *name, lua_CFunction f, lua_Integer up) {
  lua_pushinteger(L, up);
  lua_pushcclosure(L, f, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, methods, name);
  if (module) lua_setfield(L, module, name);
  else lua_pop(L, 1);
}

void lb_open_ops(lua_State *L, int methods, int module) {
  char name[64];
  for (int op = 0; op < BT_NUM_UNARY; op++) {
    reg(L, methods, module, bt_unary_name((bt_UnaryOp)op), unary_method, op);
    snprintf(name, sizeof name, "%s_", bt_unary_name((bt_UnaryOp)op));
    if (op != BT_ISNAN && op != BT_ISINF && op != BT_LOGICAL_NOT) reg(L, methods, 0, name, unary_inplace, op);
  }
  for (int op = 0; op < BT_NUM_BINARY; op++) {
    reg(L, methods, module, bt_binary_name((bt_BinaryOp)op), binary_method, op);
    snprintf(name, sizeof name, "%s_", bt_binary_name((bt_BinaryOp)op));
    if (op < BT_EQ) reg(L, methods, 0, name, binary_inplace, op);
  }
  static const char *reductions[] = {"sum", "mean", "prod", "logsumexp"};
  for (int k = 0; k < 4; k++) reg(L, methods, module, reductions[k], reduce_method, k);
  reg(L, methods, module, "var", var_method, 0);
  reg(L, methods, module, "std", var_method, 1);
  reg(L, methods, module, "max", minmax_method, 1);
  reg(L, methods, module, "min", minmax_method, 0);
  reg(L, methods, module, "argmax", argminmax_method, 1);
  reg(L, methods, module, "argmin", argminmax_method, 0);
  reg(L, methods, module, "cumsum", cumulative_method, 1);
  reg(L, methods, module, "cumprod", cumulative_method, 0);
  reg(L, methods, module, "view", view_method, 0);
  reg(L, methods, module, "reshape", view_method, 1);
  static const char *linalg[] = {"matmul", "mm", "bmm", "dot", "outer"};
  for (int k = 0; k < 5; k++) reg(L, methods, module, linalg[k], linalg_method, k);
  static const struct {
    const char *name;
    bt_DType dt;
  } casts[] = {
    {"float", BT_F32}, {"double", BT_F64}, {"half", BT_F16}, {"bfloat16", BT_BF16},
    {"long", BT_I64}, {"int", BT_I32}, {"byte", BT_U8}, {"bool", BT_BOOL},
  };
  for (size_t k = 0; k < sizeof casts / sizeof casts[0]; k++)
    reg(L, methods, 0, casts[k].name, cast_method, casts[k].dt);
  static const luaL_Reg both[] = {
    {"clamp", l_clamp}, {"leaky_relu", l_leaky_relu}, {"elu", l_elu},
    {"softplus", l_softplus}, {"gelu", l_gelu}, {"norm", l_norm}, {"all", l_all}, {"any", l_any},
    {"view_as", l_view_as}, {"flatten", l_flatten}, {"t", l_t}, {"transpose", l_transpose},
    {"permute", l_permute}, {"narrow", l_narrow}, {"select", l_select}, {"squeeze", l_squeeze},
    {"unsqueeze", l_unsqueeze}, {"expand", l_expand}, {"expand_as", l_expand_as},
    {"contiguous", l_contiguous}, {"clone", l_clone}, {"numel", l_numel}, {NULL, NULL},
  };
  static const luaL_Reg only_methods[] = {
    {"to", l_to}, {"item", l_item}, {"totable", l_totable}, {"_flat", l_flat}, {"size", l_size},
    {"stride", l_stride}, {"dim", l_dim}, {"is_contiguous", l_is_contiguous}, {"copy", l_copy},
    {"copy_", l_copy}, {"fill", l_fill}, {"fill_", l_fill}, {"zero_", l_zero},
    {"uniform_", l_uniform}, {"normal_", l_normal}, {"bernoulli_", l_bernoulli}, {NULL, NULL},
  };
  for (const luaL_Reg *r = both; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_pushvalue(L, -1);
    lua_setfield(L, methods, r->name);
    lua_setfield(L, module, r->name);
  }
  lua_pushcfunction(L, l_where);   /* brasa.where(cond, a, b): a function only */
  lua_setfield(L, module, "where");
  for (const luaL_Reg *r = only_methods; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_setfield(L, methods, r->name);
  }
}
