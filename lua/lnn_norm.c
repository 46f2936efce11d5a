/*
** lnn_norm.c: brasa.nn.functional's normalisation, dropout, embedding,
** softmax and class-loss functions (core/ops/nn_norm.c, nn_softmax.c).
**
** Class ids, embedding ids, ignore_index and padding_idx are 1-based here
** and 0-based in the engine: this file converts them. Embedding id 0 is the
** padding id (a zero vector that gets no gradient), as Keras' Tokenizer
** reserves 0 for padding.
*/
#include "lbinding.h"

#include <string.h>

/* ---- argument helpers -------------------------------------------------------------------- */

/* The tensor at idx, or NULL for nil/none; anything else raises. */
static bt_Tensor *opt_tensor(lua_State *L, int idx, const char *fn, const char *what) {
  if (lua_isnoneornil(L, idx)) return NULL;
  bt_Tensor *t = lb_test(L, idx);
  if (!t)
    luaL_error(L, "%s: %s (argument %d) must be a tensor or nil, got %s", fn, what, idx,
               luaL_typename(L, idx));
  return t;
}

/* An options table at idx (or nil) whose keys are all in `known` (a list
** of names ending with NULL): a misspelt option is an error. */
static bool has_opts(lua_State *L, int idx, const char *fn, const char *const *known) {
  if (lua_isnoneornil(L, idx)) return false;
  if (!lua_istable(L, idx) || lb_test(L, idx))
    luaL_error(L, "%s: options (argument %d) must be a table, got %s", fn, idx, luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    bool ok = false;
    for (int i = 0; k && known[i]; i++) ok = ok || strcmp(k, known[i]) == 0;
    if (!ok) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (int i = 0; known[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, known[i]);
      }
      luaL_pushresult(&b);
      luaL_error(L, "%s: unknown option '%s' (options: %s)", fn,
                 k ? k : luaL_typename(L, -2), lua_tostring(L, -1));
    }
  }
  return true;
}

static double opt_number(lua_State *L, int idx, const char *field, double def, const char *fn) {
  if (!lua_istable(L, idx)) return def;
  double v = def;
  if (lua_getfield(L, idx, field) != LUA_TNIL) {
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "%s: option %s must be a number, got %s", fn, field, luaL_typename(L, -1));
    v = lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

/* A 1-based id option (nil: none) as a 0-based engine value, or def. */
static int64_t opt_id(lua_State *L, int idx, const char *field, int64_t def, const char *fn) {
  if (!lua_istable(L, idx)) return def;
  int64_t v = def;
  if (lua_getfield(L, idx, field) != LUA_TNIL) {
    int ok;
    lua_Integer i = lua_tointegerx(L, -1, &ok);
    if (!ok) luaL_error(L, "%s: option %s must be an integer id, got %s", fn, field,
                        lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
    v = (int64_t)i - 1;
  }
  lua_pop(L, 1);
  return v;
}

/* A field of the options that holds a tensor (or nil). */
static bt_Tensor *opt_tensor_field(lua_State *L, int idx, const char *field, const char *fn) {
  if (!lua_istable(L, idx)) return NULL;
  lua_getfield(L, idx, field);
  bt_Tensor *t = NULL;
  if (!lua_isnil(L, -1) && !(t = lb_test(L, -1)))
    luaL_error(L, "%s: option %s must be a tensor, got %s", fn, field, luaL_typename(L, -1));
  lua_pop(L, 1);   /* the options table keeps it alive */
  return t;
}

static bt_Reduction opt_reduction(lua_State *L, int idx, const char *fn) {
  if (!lua_istable(L, idx)) return BT_REDUCTION_MEAN;
  bt_Reduction r = BT_REDUCTION_MEAN;
  if (lua_getfield(L, idx, "reduction") != LUA_TNIL) {
    const char *s = lua_tostring(L, -1);
    if (s && strcmp(s, "none") == 0) r = BT_REDUCTION_NONE;
    else if (s && strcmp(s, "sum") == 0) r = BT_REDUCTION_SUM;
    else if (!s || strcmp(s, "mean") != 0)
      luaL_error(L, "%s: reduction must be 'mean', 'sum' or 'none', got %s", fn,
                 s ? s : luaL_typename(L, -1));
  }
  lua_pop(L, 1);
  return r;
}

/* 1-based integer ids as a new 0-based tensor (other dtypes: t retained, for
** the engine to refuse with its message). NULL: the engine's error. */
static bt_Tensor *zero_based(bt_Tensor *t) {
  if (t->dtype == BT_I64 || t->dtype == BT_I32) return bt_binary_scalar(BT_SUB, t, 1, false);
  if (t->dtype == BT_U8) {   /* u8 ids (0..255) widen to i64 first */
    bt_Tensor *w = bt_to_dtype(t, BT_I64), *z = w ? bt_binary_scalar(BT_SUB, w, 1, false) : NULL;
    bt_release(w);
    return z;
  }
  bt_retain(t);
  return t;
}

/* ---- normalisation ------------------------------------------------------------------------- */

/* batch_norm(x, running_mean?, running_var?, weight?, bias?, opts?) with
** opts {training = false, momentum = 0.1, eps = 1e-5}; the options table may
** come right after the last tensor given. */
static int l_batch_norm(lua_State *L) {
  const char *fn = "batch_norm";
  static const char *what[] = {"running_mean", "running_var", "weight", "bias"};
  bt_Tensor *x = lb_check(L, 1), *t[4] = {NULL, NULL, NULL, NULL};
  int opts = 6;
  for (int i = 0; i < 4; i++) {
    int idx = i + 2;
    if (lua_istable(L, idx) && !lb_test(L, idx)) {
      opts = idx;
      break;
    }
    t[i] = opt_tensor(L, idx, fn, what[i]);
  }
  static const char *const known[] = {"training", "momentum", "eps", NULL};
  has_opts(L, opts, fn, known);
  bool training = lb_opt_bool(L, opts, "training", false);
  double momentum = opt_number(L, opts, "momentum", 0.1, fn);
  double eps = opt_number(L, opts, "eps", 1e-5, fn);
  lb_push(L, bt_batch_norm(x, t[0], t[1], t[2], t[3], training, momentum, eps));
  return 1;
}

/* layer_norm(x, normalized_shape, weight?, bias?, eps?) where
** normalized_shape is a number or a list and eps a number or {eps = }. */
static int l_layer_norm(lua_State *L) {
  const char *fn = "layer_norm";
  bt_Tensor *x = lb_check(L, 1);
  int64_t shape[BT_MAX_DIMS];
  int n = 0, next;
  if (lua_type(L, 2) == LUA_TNUMBER) {
    shape[0] = luaL_checkinteger(L, 2);
    n = 1;
  } else if (lua_istable(L, 2) && !lb_test(L, 2)) {
    n = lb_shape(L, 2, shape, &next);
  }
  if (n == 0)
    return luaL_error(L, "%s: normalized_shape (argument 2) must be a size or a list of sizes "
                      "(the trailing dims of the input), got %s", fn, luaL_typename(L, 2));
  static const char *what[] = {"weight", "bias"};
  bt_Tensor *t[2] = {NULL, NULL};
  int opts = 5;
  for (int i = 0; i < 2; i++) {
    int idx = i + 3;
    if (lua_type(L, idx) == LUA_TNUMBER || (lua_istable(L, idx) && !lb_test(L, idx))) {
      opts = idx;
      break;
    }
    t[i] = opt_tensor(L, idx, fn, what[i]);
  }
  double eps = 1e-5;
  if (lua_type(L, opts) == LUA_TNUMBER) eps = lua_tonumber(L, opts);
  else if (has_opts(L, opts, fn, (const char *const[]){"eps", NULL}))
    eps = opt_number(L, opts, "eps", 1e-5, fn);
  lb_push(L, bt_layer_norm(x, n, shape, t[0], t[1], eps));
  return 1;
}

/* dropout(x, p = 0.5, training = true), or dropout(x, {p =, training =}). */
static int l_dropout(lua_State *L) {
  const char *fn = "dropout";
  bt_Tensor *x = lb_check(L, 1);
  double p = 0.5;
  bool training = true;
  if (lua_istable(L, 2) && !lb_test(L, 2)) {
    has_opts(L, 2, fn, (const char *const[]){"p", "training", NULL});
    p = opt_number(L, 2, "p", 0.5, fn);
    training = lb_opt_bool(L, 2, "training", true);
  } else {
    p = luaL_optnumber(L, 2, 0.5);
    if (!lua_isnoneornil(L, 3)) {
      luaL_checktype(L, 3, LUA_TBOOLEAN);
      training = lua_toboolean(L, 3);
    }
  }
  lb_push(L, bt_dropout(x, p, training));
  return 1;
}

/* embedding(ids, weight, {padding_idx = }): ids 1..V, 0 gives zeros. */
static int l_embedding(lua_State *L) {
  const char *fn = "embedding";
  bt_Tensor *ids = lb_check(L, 1), *w = lb_check(L, 2);
  has_opts(L, 3, fn, (const char *const[]){"padding_idx", NULL});
  int64_t pad = opt_id(L, 3, "padding_idx", -1, fn);   /* 0 (always padding) gives -1 */
  bt_Tensor *z = zero_based(ids), *r = z ? bt_embedding(z, w, pad) : NULL;
  bt_release(z);
  lb_push(L, r);
  return 1;
}

/* ---- softmax ----------------------------------------------------------------------------------- */

static int softmax_common(lua_State *L, bool log) {
  bt_Tensor *x = lb_check(L, 1);
  int dim = lb_optdim(L, 2, x->ndim, -1);
  lb_push(L, log ? bt_log_softmax(x, dim) : bt_softmax(x, dim));
  return 1;
}

static int l_softmax(lua_State *L) { return softmax_common(L, false); }
static int l_log_softmax(lua_State *L) { return softmax_common(L, true); }

/* ---- class losses ---------------------------------------------------------------------------- */

static int class_loss(lua_State *L, bool nll) {
  const char *fn = nll ? "nll_loss" : "cross_entropy";
  bt_Tensor *x = lb_check(L, 1), *target = lb_check(L, 2);
  static const char *const ce[] = {"weight", "ignore_index", "label_smoothing", "reduction", NULL};
  static const char *const nl[] = {"weight", "ignore_index", "reduction", NULL};
  has_opts(L, 3, fn, nll ? nl : ce);
  bt_Tensor *w = opt_tensor_field(L, 3, "weight", fn);
  int64_t ignore = opt_id(L, 3, "ignore_index", BT_NO_IGNORE, fn);
  double eps = nll ? 0 : opt_number(L, 3, "label_smoothing", 0, fn);
  bt_Reduction red = opt_reduction(L, 3, fn);
  bt_Tensor *t = bt_dtype_is_float(target->dtype) ? (bt_retain(target), target) : zero_based(target);
  bt_Tensor *r = !t ? NULL
                 : nll ? bt_nll_loss(x, t, w, ignore, red)
                       : bt_cross_entropy(x, t, w, ignore, eps, red);
  bt_release(t);
  lb_push(L, r);
  return 1;
}

static int l_cross_entropy(lua_State *L) { return class_loss(L, false); }
static int l_nll_loss(lua_State *L) { return class_loss(L, true); }

void lb_open_nn_norm(lua_State *L, int methods, int module, int nnf) {
  (void)methods;
  (void)module;
  static const luaL_Reg fns[] = {
    {"batch_norm", l_batch_norm},
    {"layer_norm", l_layer_norm},
    {"dropout", l_dropout},
    {"embedding", l_embedding},
    {"softmax", l_softmax},
    {"log_softmax", l_log_softmax},
    {"cross_entropy", l_cross_entropy},
    {"nll_loss", l_nll_loss},
    {NULL, NULL},
  };
  lua_pushvalue(L, nnf);
  lb_setfuncs(L, fns);
  lua_pop(L, 1);
}
