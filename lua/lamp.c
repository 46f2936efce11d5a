/*
** lamp.c: the autocast state and loss-scaling helper of the core, as
** internal functions (brasa.core._amp.*). lua/brasa/amp.lua builds
** brasa.amp (autocast regions, GradScaler) on them; lua/brasa/nn/layers.lua
** uses cast for linear's bias.
*/
#include "lbinding.h"

/* A device type from a name: 'cpu', 'cuda' or 'cuda:N'. */
static bt_DeviceType device_type_arg(lua_State *L, int idx) {
  bt_Device d;
  lb_device_arg(L, idx, &d);
  return d.type;
}

/* set(device, enabled, dtype) */
static int l_set(lua_State *L) {
  bt_DeviceType dev = device_type_arg(L, 1);
  luaL_checktype(L, 2, LUA_TBOOLEAN);
  bt_DType dt = (bt_DType)lb_dtype_arg(L, 3);
  if (bt_autocast_set(dev, lua_toboolean(L, 2), dt) < 0) return lb_error(L);
  return 0;
}

/* get(device) -> enabled, dtype */
static int l_get(lua_State *L) {
  bt_DeviceType dev = device_type_arg(L, 1);
  lua_pushboolean(L, bt_autocast_enabled(dev));
  lua_pushstring(L, bt_dtype_name(bt_autocast_dtype(dev)));
  return 2;
}

/* cast(t, 'lower' | 'f32') -> t as an op of that class takes it now */
static int l_cast(lua_State *L) {
  static const char *const classes[] = {"lower", "f32", NULL};
  bt_Tensor *t = lb_check(L, 1);
  int cls = luaL_checkoption(L, 2, NULL, classes);
  lb_push(L, bt_autocast_cast(cls == 0 ? BT_AUTOCAST_LOWER : BT_AUTOCAST_F32, t));
  return 1;
}

/* unscale(grads, inv_scale) -> found_inf (a boolean): grads a list of tensors */
static int l_unscale(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  double inv = luaL_checknumber(L, 2);
  int n = (int)lua_rawlen(L, 1);
  /* scratch owned by a userdata on the stack, so an error frees it */
  bt_Tensor **g = lua_newuserdatauv(L, sizeof *g * (size_t)(n ? n : 1), 0);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    g[i] = lb_test(L, -1);
    lua_pop(L, 1);
    if (!g[i]) return luaL_error(L, "amp unscale: gradient %d is not a tensor", i + 1);
  }
  bool found;
  if (bt_amp_unscale_(n, g, inv, &found) < 0) return lb_error(L);
  lua_pushboolean(L, found);
  return 1;
}

void lb_open_amp(lua_State *L, int module) {
  static const luaL_Reg fns[] = {
    {"set", l_set}, {"get", l_get}, {"cast", l_cast}, {"unscale", l_unscale}, {NULL, NULL},
  };
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, module, "_amp");
}
