/*
** loptim.c: the fused optimiser updates and gradient clipping, as internal
** functions of the core (brasa.core._optim.*). lua/brasa/optim/ builds the
** optimiser classes on them; users never call these directly. Arguments
** are positional (one C call per parameter and step): tensors first, then
** the step number where the algorithm needs one, then the hyperparameters.
** An optional state is nil when its option is off.
*/
#include "lbinding.h"

/* An optional tensor argument: nil gives NULL. */
static bt_Tensor *opt_tensor(lua_State *L, int idx, const char *op, const char *what) {
  if (lua_isnoneornil(L, idx)) return NULL;
  bt_Tensor *t = lb_test(L, idx);
  if (!t) luaL_error(L, "%s: %s must be a tensor or nil, got %s", op, what, luaL_typename(L, idx));
  return t;
}

static int64_t step_arg(lua_State *L, int idx, const char *op) {
  int ok;
  lua_Integer step = lua_tointegerx(L, idx, &ok);   /* 3.0 is fine, 2.5 is not */
  if (!ok) luaL_error(L, "%s: the step number must be an integer, got %s", op, luaL_typename(L, idx));
  return (int64_t)step;
}

static int done(lua_State *L, int rc) {
  if (rc < 0) return lb_error(L);
  return 0;
}

/* sgd_step(param, grad, buf|nil, lr, momentum, dampening, weight_decay,
**          nesterov, maximize, first) */
static int l_sgd_step(lua_State *L) {
  bt_Tensor *p = lb_check(L, 1), *g = lb_check(L, 2), *buf = opt_tensor(L, 3, "SGD", "momentum_buffer");
  bt_SGDOpts o = {
    .lr = luaL_checknumber(L, 4), .momentum = luaL_checknumber(L, 5),
    .dampening = luaL_checknumber(L, 6), .weight_decay = luaL_checknumber(L, 7),
    .nesterov = lua_toboolean(L, 8), .maximize = lua_toboolean(L, 9), .first = lua_toboolean(L, 10),
  };
  return done(L, bt_sgd_step(p, g, buf, &o));
}

/* adam_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
**           weight_decay, amsgrad, max_exp_avg_sq|nil, maximize); adamw_step
** the same with decoupled weight decay. */
static int adam_common(lua_State *L, bool decoupled) {
  const char *op = decoupled ? "AdamW" : "Adam";
  bt_Tensor *p = lb_check(L, 1), *g = lb_check(L, 2), *m = lb_check(L, 3), *v = lb_check(L, 4);
  bt_AdamOpts o = {
    .step = step_arg(L, 5, op), .lr = luaL_checknumber(L, 6), .beta1 = luaL_checknumber(L, 7),
    .beta2 = luaL_checknumber(L, 8), .eps = luaL_checknumber(L, 9),
    .weight_decay = luaL_checknumber(L, 10), .amsgrad = lua_toboolean(L, 11),
    .maximize = lua_toboolean(L, 13), .decoupled = decoupled,
  };
  bt_Tensor *vmax = opt_tensor(L, 12, op, "max_exp_avg_sq");
  return done(L, bt_adam_step(p, g, m, v, vmax, &o));
}

static int l_adam_step(lua_State *L) { return adam_common(L, false); }
static int l_adamw_step(lua_State *L) { return adam_common(L, true); }

/* rmsprop_step(param, grad, square_avg, grad_avg|nil, buf|nil, lr, alpha, eps,
**              weight_decay, momentum, centered, maximize) */
static int l_rmsprop_step(lua_State *L) {
  bt_Tensor *p = lb_check(L, 1), *g = lb_check(L, 2), *sq = lb_check(L, 3);
  bt_Tensor *ga = opt_tensor(L, 4, "RMSprop", "grad_avg");
  bt_Tensor *buf = opt_tensor(L, 5, "RMSprop", "momentum_buffer");
  bt_RMSpropOpts o = {
    .lr = luaL_checknumber(L, 6), .alpha = luaL_checknumber(L, 7), .eps = luaL_checknumber(L, 8),
    .weight_decay = luaL_checknumber(L, 9), .momentum = luaL_checknumber(L, 10),
    .centered = lua_toboolean(L, 11), .maximize = lua_toboolean(L, 12),
  };
  return done(L, bt_rmsprop_step(p, g, sq, ga, buf, &o));
}

/* adagrad_step(param, grad, sum, step, lr, lr_decay, weight_decay, eps, maximize) */
static int l_adagrad_step(lua_State *L) {
  bt_Tensor *p = lb_check(L, 1), *g = lb_check(L, 2), *sum = lb_check(L, 3);
  bt_AdagradOpts o = {
    .step = step_arg(L, 4, "Adagrad"), .lr = luaL_checknumber(L, 5),
    .lr_decay = luaL_checknumber(L, 6), .weight_decay = luaL_checknumber(L, 7),
    .eps = luaL_checknumber(L, 8), .maximize = lua_toboolean(L, 9),
  };
  return done(L, bt_adagrad_step(p, g, sum, &o));
}

/* adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize) */
static int l_adadelta_step(lua_State *L) {
  bt_Tensor *p = lb_check(L, 1), *g = lb_check(L, 2), *sq = lb_check(L, 3), *acc = lb_check(L, 4);
  bt_AdadeltaOpts o = {
    .lr = luaL_checknumber(L, 5), .rho = luaL_checknumber(L, 6), .eps = luaL_checknumber(L, 7),
    .weight_decay = luaL_checknumber(L, 8), .maximize = lua_toboolean(L, 9),
  };
  return done(L, bt_adadelta_step(p, g, sq, acc, &o));
}

/* A list of tensors at idx into a scratch array owned by a userdata pushed
** on the stack (so an error frees it). */
static bt_Tensor **grad_list(lua_State *L, int idx, const char *op, int *n) {
  luaL_checktype(L, idx, LUA_TTABLE);
  *n = (int)lua_rawlen(L, idx);
  bt_Tensor **a = lua_newuserdatauv(L, sizeof *a * (size_t)(*n ? *n : 1), 0);
  for (int i = 0; i < *n; i++) {
    lua_rawgeti(L, idx, i + 1);
    a[i] = lb_test(L, -1);
    lua_pop(L, 1);
    if (!a[i]) luaL_error(L, "%s: gradient %d is not a tensor", op, i + 1);
  }
  return a;
}

/* clip_grad_norm(grads, max_norm, norm_type) -> total norm (a number) */
static int l_clip_grad_norm(lua_State *L) {
  double max_norm = luaL_checknumber(L, 2), p = luaL_checknumber(L, 3), total;
  int n;
  bt_Tensor **g = grad_list(L, 1, "clip_grad_norm", &n);
  if (bt_clip_grad_norm_(n, g, max_norm, p, &total) < 0) return lb_error(L);
  lua_pushnumber(L, total);
  return 1;
}

/* clip_grad_value(grads, clip) */
static int l_clip_grad_value(lua_State *L) {
  double clip = luaL_checknumber(L, 2);
  int n;
  bt_Tensor **g = grad_list(L, 1, "clip_grad_value", &n);
  return done(L, bt_clip_grad_value_(n, g, clip));
}

void lb_open_optim(lua_State *L, int methods, int module, int nnf) {
  static const luaL_Reg fns[] = {
    {"sgd_step", l_sgd_step}, {"adam_step", l_adam_step}, {"adamw_step", l_adamw_step},
    {"rmsprop_step", l_rmsprop_step}, {"adagrad_step", l_adagrad_step},
    {"adadelta_step", l_adadelta_step}, {"clip_grad_norm", l_clip_grad_norm},
    {"clip_grad_value", l_clip_grad_value}, {NULL, NULL},
  };
  (void)methods;
  (void)nnf;
  lua_newtable(L);
  luaL_setfuncs(L, fns, 0);
  lua_setfield(L, module, "_optim");
}
