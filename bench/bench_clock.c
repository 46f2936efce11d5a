/*
** bench_clock.c: a monotonic wall clock for bench/bench_lua.lua under plain
** lua5.4 (the standard library has only os.clock, which is CPU time summed
** over every thread, and os.time, in whole seconds).
**
**   local clock = require 'bench_clock'.clock   -- seconds, CLOCK_MONOTONIC
*/
#include <lauxlib.h>
#include <lua.h>
#include <time.h>

static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

int luaopen_bench_clock(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_clock);
  lua_setfield(L, -2, "clock");
  return 1;
}
