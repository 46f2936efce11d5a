/*
** ldata.c: the readers and the loader of brasa.data, exposed in the hidden
** table brasa.core._data (lua/brasa/data/ builds the user-facing API on it):
**   read_csv(path, opts), parse_csv(text, opts) -> {names, columns, nrows, ...}
**   read_numbers(path) -> f64 tensor
**   read_safetensors(path) -> tensors (name -> tensor), metadata, names in file order
**   write_safetensors(path, names, tensors, metadata)
**   loader(tensors, device?) -> a Loader: gather(idx, first, count), start(...), finish(), pending()
** Indices arriving from Lua are 1-based; the C side takes 0-based ones.
*/
#include "lbinding.h"

#include <stdlib.h>
#include <string.h>

#define LOADER_MT "brasa.Loader"

/* ---- a box that frees a C result if Lua raises before it is converted --- */

typedef struct {
  void *p;
  void (*free)(void *);
} Owner;

static int owner_gc(lua_State *L) {
  Owner *o = lua_touserdata(L, 1);
  if (o->p) o->free(o->p);
  o->p = NULL;
  return 0;
}

/* Pushes a userdata owning p until owner_done; its __gc frees p. */
static Owner *owner_new(lua_State *L, void *p, void (*f)(void *)) {
  Owner *o = lua_newuserdatauv(L, sizeof *o, 0);
  o->p = NULL;
  o->free = f;
  if (luaL_newmetatable(L, "brasa.data.Owner")) {
    lua_pushcfunction(L, owner_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  o->p = p;
  return o;
}

static void owner_done(Owner *o) {
  if (o->p) o->free(o->p);
  o->p = NULL;
}

static void csv_free(void *p) { bt_csv_free(p); }
static void st_free(void *p) { bt_safetensors_free(p); }

/* ---- CSV --------------------------------------------------------------------- */

/* Options from the table at idx: sep, header, skip, dtype, missing,
** columns, na_values. String lists live on the Lua stack meanwhile (the
** caller keeps them there until the read is done). */
typedef struct {
  bt_CsvOptions o;
  const char **names;
  int *index;
  const char **na;
} CsvArgs;

static void csv_args_free(void *p) {
  CsvArgs *a = p;
  free(a->names);
  free(a->index);
  free(a->na);
  free(a);
}

static void check_csv_opts(lua_State *L, int idx, CsvArgs *a) {
  bt_CsvOptions *o = &a->o;
  bt_csv_options_init(o);
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  if (lua_getfield(L, idx, "sep") != LUA_TNIL) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    if (!s || n != 1) luaL_error(L, "read_csv: opts.sep must be one character");
    o->sep = s[0];
  }
  lua_pop(L, 1);
  o->header = lb_opt_bool(L, idx, "header", true);
  if (lua_getfield(L, idx, "skip") != LUA_TNIL) {
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
      luaL_error(L, "read_csv: opts.skip must be a count of lines (0 or more)");
    o->skip_lines = lua_tointeger(L, -1);
  }
  lua_pop(L, 1);
  o->dtype = lb_opt_dtype(L, idx, BT_F32);
  if (lua_getfield(L, idx, "missing") != LUA_TNIL) {
    const char *m = lua_tostring(L, -1);
    if (m && strcmp(m, "error") == 0) o->missing = BT_MISSING_ERROR;
    else if (m && strcmp(m, "nan") == 0) o->missing = BT_MISSING_NAN;
    else if (m && strcmp(m, "drop") == 0) o->missing = BT_MISSING_DROP;
    else luaL_error(L, "read_csv: opts.missing must be 'error', 'nan' or 'drop'");
  }
  lua_pop(L, 1);
  if (lua_getfield(L, idx, "columns") != LUA_TNIL) {
    if (!lua_istable(L, -1)) luaL_error(L, "read_csv: opts.columns must be a list of names or numbers");
    int n = (int)luaL_len(L, -1);
    if (n < 1) luaL_error(L, "read_csv: opts.columns is empty");
    size_t cnt = n > 0 ? (size_t)n : 1;   /* n >= 1 here; said so for the compiler */
    a->names = calloc(cnt, sizeof *a->names);
    a->index = calloc(cnt, sizeof *a->index);
    if (!a->names || !a->index) luaL_error(L, "read_csv: out of memory");
    for (int k = 0; k < n; k++) {
      lua_rawgeti(L, -1, k + 1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        a->names[k] = lua_tostring(L, -1);   /* anchored: the list stays on the stack */
      } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
                 lua_tointeger(L, -1) <= 1 << 24) {
        a->index[k] = (int)lua_tointeger(L, -1) - 1;
      } else {
        luaL_error(L, "read_csv: opts.columns[%d] must be a name or a column number (1-based)", k + 1);
      }
      lua_pop(L, 1);
    }
    o->nselect = n;
    o->select_names = a->names;
    o->select_index = a->index;
  }
  /* the columns list (or nil) stays on the stack, anchoring its strings */
  if (lua_getfield(L, idx, "na_values") != LUA_TNIL) {
    if (!lua_istable(L, -1)) luaL_error(L, "read_csv: opts.na_values must be a list of strings");
    int n = (int)luaL_len(L, -1);
    a->na = calloc(n > 0 ? (size_t)n + 1 : 1, sizeof *a->na);
    if (!a->na) luaL_error(L, "read_csv: out of memory");
    for (int k = 0; k < n; k++) {
      lua_rawgeti(L, -1, k + 1);
      if (lua_type(L, -1) != LUA_TSTRING) luaL_error(L, "read_csv: opts.na_values[%d] is not a string", k + 1);
      a->na[k] = lua_tostring(L, -1);
      lua_pop(L, 1);
    }
    o->nna = n;
    o->na_values = a->na;
  }
}

/* The result table: {names = {...}, columns = {name -> tensor or list,
** [j] -> the same}, kinds = {name -> 'number' | 'string'}, nrows,
** missing = {name -> count}, dropped_lines = {...}}. */
static void push_csv(lua_State *L, const bt_Csv *csv) {
  lua_createtable(L, 0, 6);
  int res = lua_gettop(L);
  lua_createtable(L, csv->ncols, 0);
  lua_createtable(L, csv->ncols, csv->ncols);
  lua_createtable(L, 0, csv->ncols);
  lua_createtable(L, 0, csv->ncols);
  int names = res + 1, cols = res + 2, kinds = res + 3, missing = res + 4;
  for (int j = 0; j < csv->ncols; j++) {
    const bt_CsvColumn *c = &csv->cols[j];
    lua_pushstring(L, c->name);
    lua_rawseti(L, names, j + 1);
    if (c->values) {
      bt_retain(c->values);
      lb_push(L, c->values);
    } else {
      lua_createtable(L, (int)csv->nrows, 0);
      for (int64_t r = 0; r < csv->nrows; r++) {
        lua_pushstring(L, c->strings[r]);
        lua_rawseti(L, -2, r + 1);
      }
    }
    lua_pushvalue(L, -1);
    lua_rawseti(L, cols, j + 1);
    lua_setfield(L, cols, c->name);
    lua_pushstring(L, c->values ? "number" : "string");
    lua_setfield(L, kinds, c->name);
    lua_pushinteger(L, c->nmissing);
    lua_setfield(L, missing, c->name);
  }
  lua_setfield(L, res, "missing");
  lua_setfield(L, res, "kinds");
  lua_setfield(L, res, "columns");
  lua_setfield(L, res, "names");
  lua_pushinteger(L, csv->nrows);
  lua_setfield(L, res, "nrows");
  lua_createtable(L, (int)csv->ndropped, 0);
  for (int64_t k = 0; k < csv->ndropped; k++) {
    lua_pushinteger(L, csv->dropped_lines[k]);
    lua_rawseti(L, -2, k + 1);
  }
  lua_setfield(L, res, "dropped_lines");
}

static int csv_common(lua_State *L, bool from_text) {
  size_t len;
  const char *src = luaL_checklstring(L, 1, &len);
  lua_settop(L, 2);
  CsvArgs *a = calloc(1, sizeof *a);
  if (!a) return luaL_error(L, "read_csv: out of memory");
  Owner *args = owner_new(L, a, csv_args_free);
  int top = lua_gettop(L);
  check_csv_opts(L, 2, a);
  bt_Csv *csv;
  if (from_text) {
    char *copy = malloc(len + 1);   /* the parser writes into its text */
    if (!copy) return luaL_error(L, "parse_csv: out of memory");
    memcpy(copy, src, len + 1);
    csv = bt_parse_csv(copy, len, "(text)", &a->o);
    free(copy);
  } else {
    csv = bt_read_csv(src, &a->o);
  }
  if (!csv) return lb_error(L);
  lua_settop(L, top);
  owner_done(args);
  Owner *o = owner_new(L, csv, csv_free);
  push_csv(L, csv);
  owner_done(o);
  return 1;
}

static int l_read_csv(lua_State *L) { return csv_common(L, false); }
static int l_parse_csv(lua_State *L) { return csv_common(L, true); }

static int l_read_numbers(lua_State *L) {
  lb_push(L, bt_read_numbers(luaL_checkstring(L, 1)));
  return 1;
}

/* ---- safetensors ----------------------------------------------------------------- */

static int l_read_safetensors(lua_State *L) {
  bt_SafeTensors *st = bt_safetensors_read(luaL_checkstring(L, 1));
  if (!st) return lb_error(L);
  Owner *o = owner_new(L, st, st_free);
  lua_createtable(L, 0, st->n);
  lua_createtable(L, 0, st->nmeta);
  lua_createtable(L, st->n, 0);
  for (int i = 0; i < st->n; i++) {
    lua_pushstring(L, st->names[i]);
    lua_rawseti(L, -2, i + 1);
    bt_retain(st->tensors[i]);
    lb_push(L, st->tensors[i]);
    lua_setfield(L, -4, st->names[i]);
  }
  for (int i = 0; i < st->nmeta; i++) {
    lua_pushstring(L, st->meta_values[i]);
    lua_setfield(L, -3, st->meta_keys[i]);
  }
  owner_done(o);
  return 3;
}

/* write_safetensors(path, names, tensors, metadata): names and tensors are
** parallel lists; metadata a table of strings (or nil). */
static int l_write_safetensors(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  luaL_checktype(L, 3, LUA_TTABLE);
  int n = (int)luaL_len(L, 2);
  if (luaL_len(L, 3) != n) return luaL_error(L, "write_safetensors: %d names for %d tensors", n,
                                            (int)luaL_len(L, 3));
  lua_settop(L, 4);
  /* Arrays owned by a userdata: a Lua error below cannot leak them. */
  int nmeta = 0;
  if (!lua_isnil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    for (lua_pushnil(L); lua_next(L, 4); lua_pop(L, 1)) nmeta++;
  }
  size_t slots = (size_t)(2 * n + 2 * nmeta + 1);
  void **mem = lua_newuserdatauv(L, slots * sizeof(void *), 0);
  const char **names = (const char **)mem;
  bt_Tensor **tensors = (bt_Tensor **)(mem + n);
  const char **keys = (const char **)(mem + 2 * n), **values = keys + nmeta;
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 2, i + 1);
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "write_safetensors: name %d is not a string", i + 1);
    names[i] = lua_tostring(L, -1);   /* anchored in table 2 */
    lua_pop(L, 1);
    lua_rawgeti(L, 3, i + 1);
    tensors[i] = lb_check(L, -1);     /* anchored in table 3 */
    lua_pop(L, 1);
  }
  int k = 0;
  if (nmeta) {
    for (lua_pushnil(L); lua_next(L, 4); lua_pop(L, 1)) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
        return luaL_error(L, "write_safetensors: metadata keys and values must be strings "
                             "(safetensors stores strings only; encode other values, e.g. as JSON)");
      keys[k] = lua_tostring(L, -2);
      values[k++] = lua_tostring(L, -1);
    }
  }
  if (bt_safetensors_write(path, n, names, (bt_Tensor *const *)tensors, k, keys, values) < 0)
    return lb_error(L);
  return 0;
}

/* ---- the loader ------------------------------------------------------------------- */

typedef struct {
  bt_Loader *l;
  int64_t *idx;     /* scratch for one batch's 0-based indices */
  int64_t capidx;
} LuaLoader;

static LuaLoader *check_loader(lua_State *L) {
  LuaLoader *u = luaL_checkudata(L, 1, LOADER_MT);
  if (!u->l) luaL_error(L, "loader: already closed");
  return u;
}

static int loader_gc(lua_State *L) {
  LuaLoader *u = luaL_checkudata(L, 1, LOADER_MT);
  bt_loader_free(u->l);
  free(u->idx);
  u->l = NULL;
  u->idx = NULL;
  return 0;
}

/* loader(tensors, device?): a list of tensors with the same number of
** rows; batches on device (a name: 'cuda:0' stages them, loader.c). */
static int l_loader(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)luaL_len(L, 1);
  if (n < 1 || n > 64) return luaL_error(L, "loader: 1 to 64 tensors expected, got %d", n);
  bt_Tensor *ts[64];
  for (int i = 0; i < n; i++) {
    lua_rawgeti(L, 1, i + 1);
    ts[i] = lb_check(L, -1);
    lua_pop(L, 1);
  }
  LuaLoader *u = lua_newuserdatauv(L, sizeof *u, 0);
  memset(u, 0, sizeof *u);
  luaL_setmetatable(L, LOADER_MT);
  if (!(u->l = bt_loader_new(n, ts))) return lb_error(L);
  if (!lua_isnoneornil(L, 2)) {
    bt_Device d;
    if (bt_device_parse(luaL_checkstring(L, 2), &d) < 0 || bt_loader_set_device(u->l, d) < 0)
      return lb_error(L);
  }
  return 1;
}

/* Reads idx[first .. first+count-1] (1-based positions of a Lua list of
** 1-based row numbers) into u->idx as 0-based rows. */
static int64_t read_batch(lua_State *L, LuaLoader *u) {
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_Integer first = luaL_checkinteger(L, 3), count = luaL_checkinteger(L, 4);
  if (count < 0 || first < 1) return luaL_error(L, "loader: bad batch range");
  if (count > u->capidx) {
    int64_t *p = realloc(u->idx, (size_t)count * sizeof *p);
    if (!p) return luaL_error(L, "loader: out of memory");
    u->idx = p;
    u->capidx = count;
  }
  for (lua_Integer i = 0; i < count; i++) {
    lua_rawgeti(L, 2, first + i);
    int ok;
    lua_Integer r = lua_tointegerx(L, -1, &ok);
    if (!ok) return luaL_error(L, "loader: index %d of the order is not an integer", (int)(first + i));
    u->idx[i] = r - 1;
    lua_pop(L, 1);
  }
  return count;
}

static int push_batch(lua_State *L, LuaLoader *u, bt_Tensor **out) {
  int n = bt_loader_ntensors(u->l);
  luaL_checkstack(L, n, "loader: too many tensors");
  for (int k = 0; k < n; k++) lb_push(L, out[k]);
  return n;
}

static int loader_gather(lua_State *L) {
  LuaLoader *u = check_loader(L);
  int64_t count = read_batch(L, u);
  bt_Tensor *out[64];
  if (bt_loader_gather(u->l, count, u->idx, out) < 0) return lb_error(L);
  return push_batch(L, u, out);
}

static int loader_start(lua_State *L) {
  LuaLoader *u = check_loader(L);
  int64_t count = read_batch(L, u);
  if (bt_loader_start(u->l, count, u->idx) < 0) return lb_error(L);
  return 0;
}

static int loader_finish(lua_State *L) {
  LuaLoader *u = check_loader(L);
  bt_Tensor *out[64];
  if (bt_loader_finish(u->l, out) < 0) return lb_error(L);
  return push_batch(L, u, out);
}

static int loader_pending(lua_State *L) {
  lua_pushboolean(L, bt_loader_pending(check_loader(L)->l));
  return 1;
}

static int loader_rows(lua_State *L) {
  lua_pushinteger(L, bt_loader_rows(check_loader(L)->l));
  return 1;
}

void lb_open_data(lua_State *L, int module) {
  static const luaL_Reg loader_methods[] = {
    {"gather", loader_gather}, {"start", loader_start}, {"finish", loader_finish},
    {"pending", loader_pending}, {"rows", loader_rows}, {"close", loader_gc}, {NULL, NULL},
  };
  static const luaL_Reg funcs[] = {
    {"read_csv", l_read_csv}, {"parse_csv", l_parse_csv}, {"read_numbers", l_read_numbers},
    {"read_safetensors", l_read_safetensors}, {"write_safetensors", l_write_safetensors},
    {"loader", l_loader}, {NULL, NULL},
  };
  luaL_newmetatable(L, LOADER_MT);
  lua_pushcfunction(L, loader_gc);
  lua_setfield(L, -2, "__gc");
  luaL_newlib(L, loader_methods);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  lua_setfield(L, module, "_data");
}
