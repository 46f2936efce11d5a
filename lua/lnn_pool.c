/*
** lnn_pool.c: pooling and resampling in brasa.nn.functional: max_pool1d/2d,
** avg_pool1d/2d, adaptive_{avg,max}_pool1d/2d, global_{avg,max}_pool1d/2d,
** interpolate, upsample, upsample_nearest, upsample_bilinear.
**
** Calls follow PyTorch's functional API with the keyword arguments in an
** options table:
**
**   F.max_pool2d(x, 2)                            -- kernel 2, stride 2
**   F.max_pool2d(x, 3, 2)                         -- kernel 3, stride 2
**   F.max_pool2d(x, 3, {stride = 2, padding = 1, ceil_mode = true})
**   F.max_pool2d(x, {kernel_size = {3, 2}, return_indices = true}) -> y, indices
**   F.interpolate(x, {scale_factor = 2, mode = 'bilinear', align_corners = false})
**
** Sizes are a number or a list ({h, w}). Indices returned to Lua are 1-based
** and flat within each plane (PyTorch's are 0-based); options are checked,
** and an unknown name is an error (a typo should not pass silently).
*/
#include "lbinding.h"

#include <math.h>
#include <string.h>

/* ---- argument parsing ----------------------------------------------------------------- */

/* A list ({2, 3}) rather than an options table ({stride = 2}). */
static bool is_list(lua_State *L, int idx) {
  if (!lua_istable(L, idx)) return false;
  bool list = lua_rawgeti(L, idx, 1) != LUA_TNIL;
  lua_pop(L, 1);
  return list;
}

static bool is_opts(lua_State *L, int idx) { return lua_istable(L, idx) && !is_list(L, idx); }

/* An integer at idx (a number with an integral value), or an error. */
static int64_t int_at(lua_State *L, int idx, const char *op, const char *what) {
  int ok;
  lua_Integer v = lua_tointegerx(L, idx, &ok);
  if (!ok || lua_type(L, idx) != LUA_TNUMBER)
    luaL_error(L, "%s: %s must be an integer, got %s", op, what,
               lua_type(L, idx) == LUA_TNUMBER ? lua_tostring(L, idx) : luaL_typename(L, idx));
  return v;
}

/* n sizes (1 or 2) at idx: a number (repeated) or a list of 1 or n numbers.
** With keep_nil, nil or false items (and a nil or false value) give -1. */
static void sizes_at(lua_State *L, int idx, const char *op, const char *what, int n,
                     bool keep_nil, int64_t *out) {
  idx = lua_absindex(L, idx);
  if (keep_nil && (lua_isnil(L, idx) || (lua_isboolean(L, idx) && !lua_toboolean(L, idx)))) {
    for (int i = 0; i < n; i++) out[i] = -1;
    return;
  }
  if (lua_type(L, idx) == LUA_TNUMBER) {
    out[0] = int_at(L, idx, op, what);
    for (int i = 1; i < n; i++) out[i] = out[0];
    return;
  }
  if (!lua_istable(L, idx))
    luaL_error(L, "%s: %s must be a number or a list of %d numbers, got %s", op, what, n,
               luaL_typename(L, idx));
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
  if (keep_nil) len = n;   /* {nil, 5} has no reliable length */
  if (len != n && len != 1)
    luaL_error(L, "%s: %s must be a number or a list of %d numbers, got a list of %d", op, what,
               n, (int)len);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, idx, len == 1 ? 1 : i + 1);
    bool none = lua_isnil(L, -1) || (lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    out[i] = keep_nil && none ? -1 : int_at(L, -1, op, what);
    lua_pop(L, 1);
  }
}

/* Numbers (scale factors) like sizes_at, as doubles. */
static void numbers_at(lua_State *L, int idx, const char *op, const char *what, int n,
                       double *out) {
  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) == LUA_TNUMBER) {
    for (int i = 0; i < n; i++) out[i] = lua_tonumber(L, idx);
    return;
  }
  lua_Integer len = lua_istable(L, idx) ? (lua_Integer)lua_rawlen(L, idx) : -1;
  if (len != n && len != 1)
    luaL_error(L, "%s: %s must be a number or a list of %d numbers", op, what, n);
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, idx, len == 1 ? 1 : i + 1);
    if (lua_type(L, -1) != LUA_TNUMBER)
      luaL_error(L, "%s: %s must be a number or a list of %d numbers", op, what, n);
    out[i] = lua_tonumber(L, -1);
    lua_pop(L, 1);
  }
}

/* Raises for a key of the options table at idx that is not in known. */
static void check_keys(lua_State *L, int idx, const char *op, const char *const *known) {
  if (idx == 0 || !lua_istable(L, idx)) return;
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    bool ok = false;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = known; *k && !ok; k++) ok = strcmp(*k, lua_tostring(L, -1)) == 0;
    if (!ok) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char *const *k = known; *k; k++) {
        if (k != known) luaL_addstring(&b, ", ");
        luaL_addstring(&b, *k);
      }
      luaL_pushresult(&b);
      luaL_error(L, "%s: unknown option '%s' (options: %s)", op,
                 lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2),
                 lua_tostring(L, -1));
    }
  }
}

/* Pushes field `name` of the options table at opts (nil when there is none). */
static int opt_field(lua_State *L, int opts, const char *name) {
  if (opts == 0 || !lua_istable(L, opts)) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  return lua_getfield(L, opts, name);
}

static bool opt_bool(lua_State *L, int opts, const char *name, bool def) {
  bool v = opt_field(L, opts, name) == LUA_TNIL ? def : lua_toboolean(L, -1);
  lua_pop(L, 1);
  return v;
}

/* ---- pooling ---------------------------------------------------------------------------- */

static const char *const MAX_KEYS[] = {"kernel_size", "stride", "padding", "dilation",
                                       "ceil_mode", "return_indices", NULL};
static const char *const AVG_KEYS[] = {"kernel_size", "stride", "padding", "ceil_mode",
                                       "count_include_pad", "divisor_override", NULL};

/* Reads (x, kernel_size, stride_or_opts?, opts?) into o; returns the index
** of the options table (or 0). The 1-d forms fill element 0 only. */
static int pool_args(lua_State *L, const char *op, int n, bool is_max, bt_PoolOpts *o) {
  memset(o, 0, sizeof *o);
  o->count_include_pad = true;
  int opts = 0, kpos = 2, spos = 0;
  if (is_opts(L, 2)) {
    opts = 2, kpos = 0;
  } else if (is_opts(L, 3)) {
    opts = 3;
  } else {
    if (!lua_isnoneornil(L, 3)) spos = 3;
    if (is_opts(L, 4)) opts = 4;
    else if (!lua_isnoneornil(L, 4))
      luaL_error(L, "%s: argument 4 must be an options table, got %s", op, luaL_typename(L, 4));
  }
  if (opts) check_keys(L, opts, op, is_max ? MAX_KEYS : AVG_KEYS);
  if (kpos && !lua_isnoneornil(L, kpos)) {
    if (opts && opt_field(L, opts, "kernel_size") != LUA_TNIL)
      luaL_error(L, "%s: kernel_size given twice", op);
    if (opts) lua_pop(L, 1);
    sizes_at(L, kpos, op, "kernel_size", n, false, o->kernel);
  } else {
    if (opt_field(L, opts, "kernel_size") == LUA_TNIL)
      luaL_error(L, "%s: kernel_size expected (a number or a list of %d)", op, n);
    sizes_at(L, -1, op, "kernel_size", n, false, o->kernel);
    lua_pop(L, 1);
  }
  bool have_stride = spos != 0;
  if (spos) {
    sizes_at(L, spos, op, "stride", n, false, o->stride);
  } else if (opt_field(L, opts, "stride") != LUA_TNIL) {
    sizes_at(L, -1, op, "stride", n, false, o->stride);
    have_stride = true;
  }
  lua_settop(L, 4);   /* drops the field, if any; keeps arguments 1 to 4 */
  for (int i = 0; have_stride && i < n; i++)
    if (o->stride[i] <= 0) luaL_error(L, "%s: stride must be positive, got %d", op, (int)o->stride[i]);
  if (opt_field(L, opts, "padding") != LUA_TNIL) sizes_at(L, -1, op, "padding", n, false, o->padding);
  lua_pop(L, 1);
  if (is_max) {
    if (opt_field(L, opts, "dilation") != LUA_TNIL) {
      sizes_at(L, -1, op, "dilation", n, false, o->dilation);
      for (int i = 0; i < n; i++)
        if (o->dilation[i] == 0) luaL_error(L, "%s: dilation must be positive, got 0", op);
    }
    lua_pop(L, 1);
  } else {
    o->count_include_pad = opt_bool(L, opts, "count_include_pad", true);
    if (opt_field(L, opts, "divisor_override") != LUA_TNIL) {
      o->divisor_override = int_at(L, -1, op, "divisor_override");
      if (o->divisor_override <= 0)
        luaL_error(L, "%s: divisor_override must be positive, got %d", op, (int)o->divisor_override);
    }
    lua_pop(L, 1);
  }
  o->ceil_mode = opt_bool(L, opts, "ceil_mode", false);
  return opts;
}

static bt_Tensor *one_based(bt_Tensor *ix) {
  if (!ix) return NULL;
  bt_Tensor *r = bt_binary_scalar(BT_ADD, ix, 1, false);
  bt_release(ix);
  return r;
}

/* Pushes y, and the indices (1-based) when asked for. */
static int push_pooled(lua_State *L, bt_Tensor *y, bt_Tensor *ix, bool with_indices) {
  if (!y) {
    bt_release(ix);
    return lb_error(L);
  }
  lb_push(L, y);
  if (!with_indices) {
    bt_release(ix);
    return 1;
  }
  lb_push(L, one_based(ix));
  return 2;
}

static int max_pool(lua_State *L, int n) {
  const char *op = n == 1 ? "max_pool1d" : "max_pool2d";
  bt_Tensor *x = lb_check(L, 1);
  bt_PoolOpts o;
  int opts = pool_args(L, op, n, true, &o);
  bool want = opts && opt_bool(L, opts, "return_indices", false);
  bt_Tensor *ix = NULL;
  bt_Tensor *y = n == 1 ? bt_max_pool1d(x, &o, want ? &ix : NULL)
                        : bt_max_pool2d(x, &o, want ? &ix : NULL);
  return push_pooled(L, y, ix, want);
}

static int l_max_pool1d(lua_State *L) { return max_pool(L, 1); }
static int l_max_pool2d(lua_State *L) { return max_pool(L, 2); }

static int avg_pool(lua_State *L, int n) {
  const char *op = n == 1 ? "avg_pool1d" : "avg_pool2d";
  bt_Tensor *x = lb_check(L, 1);
  bt_PoolOpts o;
  pool_args(L, op, n, false, &o);
  lb_push(L, n == 1 ? bt_avg_pool1d(x, &o) : bt_avg_pool2d(x, &o));
  return 1;
}

static int l_avg_pool1d(lua_State *L) { return avg_pool(L, 1); }
static int l_avg_pool2d(lua_State *L) { return avg_pool(L, 2); }

/* adaptive_*(x, output_size, opts?): nil (or false) keeps a dim. */
static int adaptive(lua_State *L, int n, bool is_max) {
  static const char *const names[2][2] = {{"adaptive_avg_pool1d", "adaptive_avg_pool2d"},
                                          {"adaptive_max_pool1d", "adaptive_max_pool2d"}};
  static const char *const keys[] = {"output_size", "return_indices", NULL};
  const char *op = names[is_max][n - 1];
  bt_Tensor *x = lb_check(L, 1);
  int opts = is_opts(L, 2) ? 2 : is_opts(L, 3) ? 3 : 0;
  if (opts) check_keys(L, opts, op, keys);
  int64_t size[2];
  if (opts == 2) {
    opt_field(L, opts, "output_size");
    sizes_at(L, -1, op, "output_size", n, true, size);
    lua_pop(L, 1);
  } else {
    if (lua_isnone(L, 2)) luaL_error(L, "%s: output_size expected", op);
    sizes_at(L, 2, op, "output_size", n, true, size);
  }
  for (int i = 0; i < n; i++)
    if (size[i] < -1)
      luaL_error(L, "%s: output size must be positive, got %d", op, (int)size[i]);
  bool want = is_max && opts && opt_bool(L, opts, "return_indices", false);
  bt_Tensor *ix = NULL, *y;
  if (is_max)
    y = n == 1 ? bt_adaptive_max_pool1d(x, size[0], want ? &ix : NULL)
               : bt_adaptive_max_pool2d(x, size, want ? &ix : NULL);
  else
    y = n == 1 ? bt_adaptive_avg_pool1d(x, size[0]) : bt_adaptive_avg_pool2d(x, size);
  return push_pooled(L, y, ix, want);
}

static int l_adaptive_avg_pool1d(lua_State *L) { return adaptive(L, 1, false); }
static int l_adaptive_avg_pool2d(lua_State *L) { return adaptive(L, 2, false); }
static int l_adaptive_max_pool1d(lua_State *L) { return adaptive(L, 1, true); }
static int l_adaptive_max_pool2d(lua_State *L) { return adaptive(L, 2, true); }

/* global_*(x, opts?): pooling over all of the last n dims; the result drops
** them ([N, C] from [N, C, H, W]) unless opts.keepdim keeps them as size 1. */
static int global(lua_State *L, int n, bool is_max) {
  static const char *const names[2][2] = {{"global_avg_pool1d", "global_avg_pool2d"},
                                          {"global_max_pool1d", "global_max_pool2d"}};
  static const char *const keys[] = {"keepdim", NULL};
  const char *op = names[is_max][n - 1];
  bt_Tensor *x = lb_check(L, 1);
  if (!lua_isnoneornil(L, 2) && !is_opts(L, 2))
    luaL_error(L, "%s: argument 2 must be an options table, got %s", op, luaL_typename(L, 2));
  check_keys(L, 2, op, keys);
  bool keepdim = opt_bool(L, 2, "keepdim", false);
  lb_push(L, bt_global_pool(x, n, is_max, keepdim));
  return 1;
}

static int l_global_avg_pool1d(lua_State *L) { return global(L, 1, false); }
static int l_global_avg_pool2d(lua_State *L) { return global(L, 2, false); }
static int l_global_max_pool1d(lua_State *L) { return global(L, 1, true); }
static int l_global_max_pool2d(lua_State *L) { return global(L, 2, true); }

/* ---- interpolate -------------------------------------------------------------------------- */

typedef enum { MODE_NEAREST, MODE_LINEAR, MODE_BILINEAR, MODE_AREA } Mode;

/* interpolate(x, size_or_opts?, opts?) with fixed mode and align_corners
** when mode >= 0 (upsample_nearest, upsample_bilinear). */
static int resample(lua_State *L, const char *op, int fixed_mode, bool fixed_align) {
  static const char *const keys[] = {"size", "scale_factor", "mode", "align_corners",
                                     "recompute_scale_factor", NULL};
  static const char *const fixed_keys[] = {"size", "scale_factor", NULL};
  bt_Tensor *x = lb_check(L, 1);
  int opts = is_opts(L, 2) ? 2 : is_opts(L, 3) ? 3 : 0;
  int size_at = opts == 2 || lua_isnoneornil(L, 2) ? 0 : 2;
  if (opts) check_keys(L, opts, op, fixed_mode >= 0 ? fixed_keys : keys);
  char shp[96];
  bt_shape_str(x, shp);
  int nd = x->ndim - 2;
  if (nd != 1 && nd != 2)
    luaL_error(L, "%s: expects a 3-D [N, C, L] or 4-D [N, C, H, W] input, got %s", op, shp);
  /* mode */
  Mode mode = MODE_NEAREST;
  if (fixed_mode >= 0) {
    mode = (Mode)fixed_mode;
  } else if (opt_field(L, opts, "mode") != LUA_TNIL) {
    const char *m = lua_tostring(L, -1);
    if (!m) luaL_error(L, "%s: mode must be a string", op);
    if (strcmp(m, "nearest") == 0) mode = MODE_NEAREST;
    else if (strcmp(m, "linear") == 0) mode = MODE_LINEAR;
    else if (strcmp(m, "bilinear") == 0) mode = MODE_BILINEAR;
    else if (strcmp(m, "area") == 0) mode = MODE_AREA;
    else luaL_error(L, "%s: mode '%s' is not supported (nearest, linear, bilinear, area)", op, m);
    lua_pop(L, 1);
  } else {
    lua_pop(L, 1);
  }
  if (mode == MODE_LINEAR && nd != 1)
    luaL_error(L, "%s: mode 'linear' needs a 3-D input [N, C, L], got %s (use 'bilinear')", op, shp);
  if (mode == MODE_BILINEAR && nd != 2)
    luaL_error(L, "%s: mode 'bilinear' needs a 4-D input [N, C, H, W], got %s (use 'linear')", op, shp);
  /* align_corners */
  bool align = fixed_align;
  if (fixed_mode < 0 && opt_field(L, opts, "align_corners") != LUA_TNIL) {
    if (mode == MODE_NEAREST || mode == MODE_AREA)
      luaL_error(L, "%s: align_corners can only be set with the interpolating modes "
                 "linear and bilinear", op);
    align = lua_toboolean(L, -1);
  }
  if (fixed_mode < 0) lua_pop(L, 1);
  /* size or scale_factor */
  int64_t size[2] = {0, 0};
  double scales[2] = {0, 0};
  bool have_size = false, have_scale = false;
  if (size_at) {
    sizes_at(L, size_at, op, "size", nd, false, size);
    have_size = true;
  }
  if (opt_field(L, opts, "size") != LUA_TNIL) {
    if (have_size) luaL_error(L, "%s: size given twice", op);
    sizes_at(L, -1, op, "size", nd, false, size);
    have_size = true;
  }
  lua_pop(L, 1);
  if (opt_field(L, opts, "scale_factor") != LUA_TNIL) {
    numbers_at(L, -1, op, "scale_factor", nd, scales);
    have_scale = true;
  }
  lua_pop(L, 1);
  if (have_size == have_scale)
    luaL_error(L, "%s: give exactly one of size and scale_factor", op);
  const int64_t *hw = x->shape + 2;
  for (int d = 0; d < nd; d++) {
    if (have_size && size[d] <= 0)
      luaL_error(L, "%s: output size must be positive, got %d (input %s)", op, (int)size[d], shp);
    if (have_scale && !(scales[d] > 0 && (double)hw[d] * scales[d] < 0x1p53))
      luaL_error(L, "%s: scale_factor must be positive (and not huge), got %f (input %s)", op,
                 scales[d], shp);
    if (have_scale && (int64_t)floor((double)hw[d] * scales[d]) <= 0)
      luaL_error(L, "%s: scale_factor %f gives an empty output for input %s", op, scales[d], shp);
  }
  bool recompute = fixed_mode < 0 && opt_bool(L, opts, "recompute_scale_factor", false);
  if (have_scale && (recompute || mode == MODE_AREA)) {
    for (int d = 0; d < nd; d++) size[d] = (int64_t)floor((double)hw[d] * scales[d]);
    have_size = true;
  }
  bt_Tensor *y;
  if (mode == MODE_AREA) {
    y = nd == 1 ? bt_adaptive_avg_pool1d(x, size[0]) : bt_adaptive_avg_pool2d(x, size);
  } else {
    bt_UpsampleMode m = mode == MODE_NEAREST ? BT_UPSAMPLE_NEAREST : BT_UPSAMPLE_LINEAR;
    const int64_t *sz = have_size ? size : NULL;
    y = nd == 1 ? bt_upsample1d(x, m, sz, scales, align) : bt_upsample2d(x, m, sz, scales, align);
  }
  lb_push(L, y);
  return 1;
}

static int l_interpolate(lua_State *L) { return resample(L, "interpolate", -1, false); }
static int l_upsample(lua_State *L) { return resample(L, "upsample", -1, false); }
static int l_upsample_nearest(lua_State *L) {
  return resample(L, "upsample_nearest", MODE_NEAREST, false);
}
static int l_upsample_bilinear(lua_State *L) {
  bt_Tensor *x = lb_check(L, 1);
  if (x->ndim != 4)
    luaL_error(L, "upsample_bilinear: expects a 4-D input [N, C, H, W], got %s",
               bt_shape_str(x, (char[96]){0}));
  return resample(L, "upsample_bilinear", MODE_BILINEAR, true);
}

void lb_open_nn_pool(lua_State *L, int methods, int module, int nnf) {
  (void)methods;
  (void)module;
  static const luaL_Reg fns[] = {
    {"max_pool1d", l_max_pool1d},
    {"max_pool2d", l_max_pool2d},
    {"avg_pool1d", l_avg_pool1d},
    {"avg_pool2d", l_avg_pool2d},
    {"adaptive_avg_pool1d", l_adaptive_avg_pool1d},
    {"adaptive_avg_pool2d", l_adaptive_avg_pool2d},
    {"adaptive_max_pool1d", l_adaptive_max_pool1d},
    {"adaptive_max_pool2d", l_adaptive_max_pool2d},
    {"global_avg_pool1d", l_global_avg_pool1d},
    {"global_avg_pool2d", l_global_avg_pool2d},
    {"global_max_pool1d", l_global_max_pool1d},
    {"global_max_pool2d", l_global_max_pool2d},
    {"interpolate", l_interpolate},
    {"upsample", l_upsample},
    {"upsample_nearest", l_upsample_nearest},
    {"upsample_bilinear", l_upsample_bilinear},
    {NULL, NULL},
  };
  lua_pushvalue(L, nnf);
  lb_setfuncs(L, fns);
  lua_pop(L, 1);
}
