/*
** lautograd.c: backward, brasa.grad, grad mode, hooks, anomaly detection.
*/
#include "lbinding.h"

#include <stdlib.h>
#include <string.h>

/* The state that runs the current backward: hooks call Lua through it. */
static lua_State *backward_L;
/* The state of the most recent op call: anomaly traces are taken from it. */
lua_State *lb_current_L;

/* Reads tensors: a tensor or a list of tensors at idx into an array that is
** a userdata pushed on the stack (the collector frees it, also on errors). */
static bt_Tensor **tensor_list(lua_State *L, int idx, int *n, const char *what) {
  bt_Tensor *one = lb_test(L, idx);
  if (one) {
    bt_Tensor **a = lua_newuserdatauv(L, sizeof *a, 0);
    a[0] = one;
    *n = 1;
    return a;
  }
  if (!lua_istable(L, idx))
    luaL_error(L, "grad: %s must be a tensor or a list of tensors, got %s", what, luaL_typename(L, idx));
  int len = (int)lua_rawlen(L, idx);
  bt_Tensor **a = lua_newuserdatauv(L, sizeof *a * (size_t)(len ? len : 1), 0);
  for (int i = 0; i < len; i++) {
    lua_rawgeti(L, idx, i + 1);
    a[i] = lb_test(L, -1);
    lua_pop(L, 1);
    if (!a[i]) luaL_error(L, "grad: %s[%d] is not a tensor", what, i + 1);
  }
  *n = len;
  return a;
}

static void read_opts(lua_State *L, int idx, bt_BackwardOpts *o) {
  o->retain_graph = lb_opt_bool(L, idx, "retain_graph", false);
  o->create_graph = lb_opt_bool(L, idx, "create_graph", false);
  o->allow_unused = lb_opt_bool(L, idx, "allow_unused", false);
}

/* x:backward(grad?, opts?) */
static int l_backward(lua_State *L) {
  bt_Tensor *y = lb_check(L, 1);
  bt_Tensor *g = lb_test(L, 2);
  int opts = g || lua_isnil(L, 2) ? 3 : 2;
  if (!g && !lua_isnoneornil(L, 2) && !lua_istable(L, 2))
    return luaL_error(L, "backward: a gradient tensor or an options table expected, got %s", luaL_typename(L, 2));
  bt_BackwardOpts o;
  read_opts(L, opts, &o);
  lua_State *prev = backward_L;
  backward_L = L;
  int rc = bt_backward(1, &y, g ? &g : NULL, &o);
  backward_L = prev;
  if (rc < 0) return lb_error(L);
  return 0;
}

/* brasa.grad(outputs, inputs, opts?) -> a table of gradients, one per input. */
static int l_grad(lua_State *L) {
  int no, ni, ng = 0;
  lua_settop(L, 3);
  bt_Tensor **outs = tensor_list(L, 1, &no, "outputs");
  bt_Tensor **ins = NULL, **gouts = NULL, **grads = NULL;
  ins = tensor_list(L, 2, &ni, "inputs");
  bt_BackwardOpts o;
  read_opts(L, 3, &o);
  if (lua_istable(L, 3) && lua_getfield(L, 3, "grad_outputs") != LUA_TNIL) {
    gouts = tensor_list(L, lua_gettop(L), &ng, "grad_outputs");
    if (ng != no) return luaL_error(L, "grad: %d grad_outputs for %d outputs", ng, no);
  }
  grads = lua_newuserdatauv(L, sizeof *grads * (size_t)(ni ? ni : 1), 0);
  lua_State *prev = backward_L;
  backward_L = L;
  int rc = bt_grad(no, outs, gouts, ni, ins, grads, &o);
  backward_L = prev;
  if (rc < 0) return lb_error(L);
  lua_createtable(L, ni, 0);
  for (int i = 0; i < ni; i++) {
    lb_push(L, grads[i]);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int l_set_grad_enabled(lua_State *L) {
  lua_pushboolean(L, bt_set_grad_enabled(lua_toboolean(L, 1)));
  return 1;
}

static int l_is_grad_enabled(lua_State *L) {
  lua_pushboolean(L, bt_grad_enabled());
  return 1;
}

static int l_requires_grad_(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_requires_grad_(t, lua_isnone(L, 2) ? true : lua_toboolean(L, 2)) < 0) return lb_error(L);
  lua_settop(L, 1);
  return 1;
}

static int l_detach(lua_State *L) {
  lb_push(L, bt_detach(lb_check(L, 1)));
  return 1;
}

static int l_zero_grad(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  if (bt_set_grad(t, NULL) < 0) return lb_error(L);
  return 0;
}

/* ---- hooks --------------------------------------------------------------------- */

typedef struct {
  lua_State *L;   /* the main state: owns the registry reference */
  int ref;
} LuaHook;

static bt_Tensor *call_hook(void *ud, bt_Tensor *grad, bool *failed) {
  LuaHook *h = ud;
  lua_State *L = backward_L ? backward_L : h->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, h->ref);
  bt_retain(grad);
  lb_push(L, grad);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    bt_seterr("gradient hook failed: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    *failed = true;
    return NULL;
  }
  bt_Tensor *r = NULL;
  if (!lua_isnil(L, -1)) {
    r = lb_test(L, -1);
    if (!r) {
      bt_seterr("gradient hook must return nil or a tensor, got %s", luaL_typename(L, -1));
      *failed = true;
    } else if (!(r->ndim == grad->ndim && !memcmp(r->shape, grad->shape, sizeof(int64_t) * (size_t)r->ndim))) {
      char a[200], b[200];
      bt_seterr("gradient hook returned shape %s for a gradient of shape %s", bt_shape_str(r, a),
                bt_shape_str(grad, b));
      *failed = true;
      r = NULL;
    } else {
      bt_retain(r);
    }
  }
  lua_pop(L, 1);
  return r;
}

static void free_hook(void *ud) {
  LuaHook *h = ud;
  luaL_unref(h->L, LUA_REGISTRYINDEX, h->ref);
  free(h);
}

/* x:register_hook(fn): fn(grad) may return a tensor that replaces grad. */
static int l_register_hook(lua_State *L) {
  bt_Tensor *t = lb_check(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  LuaHook *h = malloc(sizeof *h);
  lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
  h->L = lua_tothread(L, -1);
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  h->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (bt_register_hook(t, call_hook, free_hook, h) < 0) {
    free_hook(h);
    return lb_error(L);
  }
  return 0;
}

/* ---- anomaly detection ------------------------------------------------------------ */

static char *lua_trace(void *ud) {
  lua_State *L = lb_current_L;
  if (!L) return NULL;
  luaL_traceback(L, L, NULL, 1);
  char *s = strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  return s;
}

static int l_detect_anomaly(lua_State *L) {
  bool prev = bt_anomaly_detection();
  if (!lua_isnone(L, 1)) bt_set_anomaly_detection(lua_toboolean(L, 1));
  lua_pushboolean(L, prev);
  return 1;
}

void lb_open_autograd(lua_State *L, int methods, int module) {
  bt_set_trace_fn(lua_trace, NULL);
  static const luaL_Reg m[] = {
    {"backward", l_backward}, {"requires_grad_", l_requires_grad_}, {"detach", l_detach},
    {"zero_grad", l_zero_grad}, {"register_hook", l_register_hook}, {NULL, NULL},
  };
  for (const luaL_Reg *r = m; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_setfield(L, methods, r->name);
  }
  static const luaL_Reg f[] = {
    {"grad", l_grad}, {"set_grad_enabled", l_set_grad_enabled},
    {"is_grad_enabled", l_is_grad_enabled}, {"detect_anomaly", l_detect_anomaly},
    {"detach", l_detach}, {NULL, NULL},
  };
  for (const luaL_Reg *r = f; r->name; r++) {
    lua_pushcfunction(L, r->func);
    lua_setfield(L, module, r->name);
  }
}
