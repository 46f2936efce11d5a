/*
** lio.c: file readers exposed to Lua (the readers themselves are in core/io/).
*/
#include "lbinding.h"

/* brasa.read_idx(path): the tensor stored in an IDX file (.gz or plain). */
static int l_read_idx(lua_State *L) {
  lb_push(L, bt_read_idx(luaL_checkstring(L, 1)));
  return 1;
}

void lb_open_io(lua_State *L, int module) {
  lua_pushcfunction(L, l_read_idx);
  lua_setfield(L, module, "read_idx");
}
