/*
** lbinding.h: what the binding's files share. The binding is thin: it
** converts between Lua values and engine calls (1-based indices at the Lua
** surface, 0-based in C), raises engine errors as Lua errors, and keeps one
** Lua value per tensor. User-facing behaviour lives in the Lua files of lua/brasa/.
*/
#ifndef BRASA_LBINDING_H
#define BRASA_LBINDING_H

#include <lua.h>
#include <lauxlib.h>

#include "brasa.h"

#define BT_TENSOR_MT "brasa.Tensor"

/* ltensor.c */
/* Pushes t (taking over the caller's reference): the same Lua value as
** before if t already has one. NULL raises the engine's error. */
void lb_push(lua_State *L, bt_Tensor *t);
/* The tensor at idx, or a Lua error naming the argument. */
bt_Tensor *lb_check(lua_State *L, int idx);
bt_Tensor *lb_test(lua_State *L, int idx);
/* The tensor at idx; a Lua number becomes a new wrapped 0-dim tensor
** (*owned = true: release it). */
bt_Tensor *lb_check_or_number(lua_State *L, int idx, bool *owned);
/* The same for a binary op's operand whose partner is at `other`: a number
** beside a float tensor is wrapped in that tensor's compute dtype. */
bt_Tensor *lb_operand(lua_State *L, int idx, int other, bool *owned);
/* Raises the engine's last error as a Lua error. */
int lb_error(lua_State *L);
/* Lua 1-based dim (negative from the end) to a C dim; raises on 0. */
int lb_dim(lua_State *L, int idx, int ndim);
int lb_optdim(lua_State *L, int idx, int ndim, int def);
/* Reads a shape: numbers from idx on, or one table; returns ndim. */
int lb_shape(lua_State *L, int idx, int64_t *shape, int *next);
/* Options table: dtype (or default), requires_grad. */
bt_DType lb_opt_dtype(lua_State *L, int idx, bt_DType def);
bool lb_opt_bool(lua_State *L, int idx, const char *field, bool def);
int lb_dtype_arg(lua_State *L, int idx);
void lb_push_shape(lua_State *L, const bt_Tensor *t);
void lb_push_value(lua_State *L, const bt_Tensor *t, int64_t flat_index);
void lb_setfuncs(lua_State *L, const luaL_Reg *l);

void lb_open_tensor(lua_State *L);   /* metatable, methods table at -1 */
void lb_open_create(lua_State *L);   /* module table at -1 */
void lb_open_ops(lua_State *L, int methods, int module);
void lb_open_autograd(lua_State *L, int methods, int module);
void lb_open_index(lua_State *L, int methods, int module);
void lb_open_io(lua_State *L, int module);
void lb_open_data(lua_State *L, int module);   /* ldata.c: brasa.core._data */
void lb_open_cuda(lua_State *L, int methods, int module);   /* lcuda.c: brasa.cuda, x:cuda(), x:cpu() */
void lb_open_amp(lua_State *L, int module);   /* lamp.c: brasa.core._amp (autocast, loss scaling) */
/* A device at idx: a name ('cpu', 'cuda', 'cuda:1') or a CUDA index; raises otherwise. */
int lb_device_arg(lua_State *L, int idx, bt_Device *d);
/* @section nn bindings */
void lb_open_nn_norm(lua_State *L, int methods, int module, int nnf);   /* lnn_norm.c */
void lb_open_nn_conv(lua_State *L, int methods, int module, int nnf);
void lb_open_nn_pool(lua_State *L, int methods, int module, int nnf);
void lb_open_optim(lua_State *L, int methods, int module, int nnf);
/* @end nn bindings */

#endif
