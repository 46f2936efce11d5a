/*
** lnn_conv.c: brasa.nn.functional.conv1d, conv2d, conv_transpose1d and
** conv_transpose2d.
**
**   F.conv2d(x, w, b?, opts?)      F.conv2d(x, w, opts) also works
**   opts = {stride =, padding =, dilation =, groups =, output_padding =}
**
** stride, dilation and output_padding: a number for every spatial dim or a
** list of one per dim. padding: a number, a list of one per dim, a list of
** two per dim ({top, bottom, left, right} in 2-d, {left, right} in 1-d),
** 'same' (stride 1) or 'valid'.
*/
#include "lbinding.h"

#include <string.h>

static const char *const option_names[] = {"stride", "padding", "dilation", "groups",
                                           "output_padding", NULL};

static int64_t check_int(lua_State *L, const char *op, const char *name, int idx, int64_t min) {
  int ok;
  lua_Integer v = lua_tointegerx(L, idx, &ok);
  if (!ok || lua_type(L, idx) != LUA_TNUMBER || v < min)
    luaL_error(L, "%s: %s must be %s, got %s", op, name,
               min > 0 ? "a positive integer" : "a non-negative integer",
               lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
  return (int64_t)v;
}

/* opts.name as nsp integers >= min (a number for all dims or a list). */
static void opt_ints(lua_State *L, int opts, const char *op, const char *name, int nsp,
                     int64_t min, int64_t *out) {
  int t = lua_getfield(L, opts, name);
  if (t == LUA_TNUMBER) {
    int64_t v = check_int(L, op, name, -1, min);
    for (int i = 0; i < nsp; i++) out[i] = v;
  } else if (t == LUA_TTABLE) {
    if ((int)lua_rawlen(L, -1) != nsp)
      luaL_error(L, "%s: %s must be a number or a list of %d, got a list of %d", op, name, nsp,
                 (int)lua_rawlen(L, -1));
    for (int i = 0; i < nsp; i++) {
      lua_rawgeti(L, -1, i + 1);
      out[i] = check_int(L, op, name, -1, min);
      lua_pop(L, 1);
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, "%s: %s must be a number or a list of numbers, got %s", op, name,
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

static void opt_padding(lua_State *L, int opts, const char *op, int nsp, bt_ConvOpts *o) {
  int t = lua_getfield(L, opts, "padding");
  if (t == LUA_TSTRING) {
    const char *s = lua_tostring(L, -1);
    if (strcmp(s, "same") == 0) o->pad_mode = BT_PAD_SAME;
    else if (strcmp(s, "valid") == 0) o->pad_mode = BT_PAD_VALID;
    else luaL_error(L, "%s: padding must be a number, a list, 'same' or 'valid', got '%s'", op, s);
  } else if (t == LUA_TNUMBER) {
    int64_t p = check_int(L, op, "padding", -1, 0);
    for (int i = 0; i < nsp; i++) o->padding[i][0] = o->padding[i][1] = p;
  } else if (t == LUA_TTABLE) {
    int n = (int)lua_rawlen(L, -1);
    if (n != nsp && n != 2 * nsp)
      luaL_error(L, "%s: padding must be a list of %d (one per dim) or %d (%s), got a list of %d",
                 op, nsp, 2 * nsp, nsp == 2 ? "top, bottom, left, right" : "left, right", n);
    for (int k = 0; k < n; k++) {
      lua_rawgeti(L, -1, k + 1);
      int64_t p = check_int(L, op, "padding", -1, 0);
      lua_pop(L, 1);
      if (n == nsp) o->padding[k][0] = o->padding[k][1] = p;
      else o->padding[k / 2][k % 2] = p;
    }
  } else if (t != LUA_TNIL) {
    luaL_error(L, "%s: padding must be a number, a list, 'same' or 'valid', got %s", op,
               luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* Reads the options table at idx (nil: defaults). */
static void read_opts(lua_State *L, int idx, const char *op, int nsp, bool transposed,
                      bt_ConvOpts *o) {
  memset(o, 0, sizeof *o);
  if (lua_isnoneornil(L, idx)) return;
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: options must be a table, got %s", op, luaL_typename(L, idx));
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool known = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (int i = 0; option_names[i]; i++)
        if (strcmp(lua_tostring(L, -1), option_names[i]) == 0) known = true;
    if (!known)
      luaL_error(L, "%s: unknown option '%s' (options: stride, padding, dilation, groups%s)", op,
                 luaL_tolstring(L, -1, NULL), transposed ? ", output_padding" : "");
  }
  opt_ints(L, idx, op, "stride", nsp, 1, o->stride);
  opt_ints(L, idx, op, "dilation", nsp, 1, o->dilation);
  opt_padding(L, idx, op, nsp, o);
  if (transposed) opt_ints(L, idx, op, "output_padding", nsp, 0, o->output_padding);
  else if (lua_getfield(L, idx, "output_padding") != LUA_TNIL)
    luaL_error(L, "%s: output_padding is only for transposed convolutions", op);
  else lua_pop(L, 1);
  if (lua_getfield(L, idx, "groups") != LUA_TNIL) o->groups = check_int(L, op, "groups", -1, 1);
  lua_pop(L, 1);
}

typedef bt_Tensor *(*ConvFn)(bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_ConvOpts *);

/* f(x, w, b?, opts?), or f(x, w, opts). */
static int conv_call(lua_State *L, const char *op, int nsp, bool transposed, ConvFn fn) {
  bt_Tensor *x = lb_check(L, 1), *w = lb_check(L, 2), *b = NULL;
  int opts = 4;
  if (lua_istable(L, 3) && !lb_test(L, 3) && lua_isnoneornil(L, 4)) {
    opts = 3;
  } else if (!lua_isnoneornil(L, 3)) {
    b = lb_test(L, 3);
    if (!b) luaL_error(L, "%s: bias must be a tensor or nil, got %s", op, luaL_typename(L, 3));
  }
  bt_ConvOpts o;
  read_opts(L, opts, op, nsp, transposed, &o);
  lb_push(L, fn(x, w, b, &o));
  return 1;
}

static int l_conv1d(lua_State *L) { return conv_call(L, "conv1d", 1, false, bt_conv1d); }
static int l_conv2d(lua_State *L) { return conv_call(L, "conv2d", 2, false, bt_conv2d); }
static int l_conv_transpose1d(lua_State *L) {
  return conv_call(L, "conv_transpose1d", 1, true, bt_conv_transpose1d);
}
static int l_conv_transpose2d(lua_State *L) {
  return conv_call(L, "conv_transpose2d", 2, true, bt_conv_transpose2d);
}

void lb_open_nn_conv(lua_State *L, int methods, int module, int nnf) {
  static const luaL_Reg fns[] = {
    {"conv1d", l_conv1d}, {"conv2d", l_conv2d},
    {"conv_transpose1d", l_conv_transpose1d}, {"conv_transpose2d", l_conv_transpose2d},
    {NULL, NULL},
  };
  for (const luaL_Reg *r = fns; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_setfield(L, nnf, r->name);
  }
  (void)methods;
  (void)module;
}
