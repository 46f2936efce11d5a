/*
** lcore.c: luaopen_brasa_core, the C module behind `require 'brasa'`.
** lua/brasa/init.lua builds the user-facing module on top of it.
*/
#include "lbinding.h"

int luaopen_brasa_core(lua_State *L) {
  lua_newtable(L);                         /* the module */
  int module = lua_gettop(L);
  lb_open_tensor(L);                       /* pushes the methods table */
  int methods = lua_gettop(L);
  lua_pushvalue(L, methods);
  lua_setfield(L, module, "Tensor");       /* brasa.Tensor: the methods table */
  lua_pushvalue(L, module);
  lb_open_create(L);
  lua_pop(L, 1);
  lb_open_ops(L, methods, module);
  lb_open_autograd(L, methods, module);
  lb_open_index(L, methods, module);
  lb_open_io(L, module);
  lb_open_data(L, module);
  lb_open_cuda(L, methods, module);
  lb_open_amp(L, module);
  /* The functional neural network ops: brasa.nn.functional (lua/brasa/nn/
  ** functional.lua) starts from this table. */
  lua_newtable(L);
  int nnf = lua_gettop(L);
  lua_pushvalue(L, nnf);
  lua_setfield(L, module, "_nnf");
  /* @section nn bindings: one line per file, lb_open_X(L, methods, module, nnf) */
  lb_open_nn_norm(L, methods, module, nnf);
  lb_open_nn_conv(L, methods, module, nnf);
  lb_open_nn_pool(L, methods, module, nnf);
  lb_open_optim(L, methods, module, nnf);
  /* @end nn bindings */
  (void)nnf;
  luaL_getmetatable(L, BT_TENSOR_MT);
  lua_setfield(L, module, "_tensor_mt");   /* init.lua sets __tostring on it */
  lua_pushliteral(L, BRASA_VERSION);
  lua_setfield(L, module, "version");
  lua_settop(L, module);
  return 1;
}
