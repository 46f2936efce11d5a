/*
** interrupt.c: Ctrl-C while user code runs, and the `brasa_repl` helpers.
**
** As in lua.c, a SIGINT that arrives while a chunk runs sets a Lua hook that
** raises "interrupted!" at the next Lua instruction. A hook alone cannot stop
** a long C kernel (a big matmul, a convolution), so the handler also raises
** the engine's own flag (bt_interrupt in libbrasa), which kernels poll at
** chunk boundaries; the flag is cleared before each new chunk.
**
** Cooperative loops (fit) may ask for the two-step protocol of the training
** issue: after brasa_repl.defer_interrupts(true), the first Ctrl-C of a chunk
** is only counted (the loop reads brasa_repl.pending_interrupts() after each
** batch and stops cleanly), and the second interrupts at once. Counter and
** deferral are reset before each chunk, so a loop that dies without undoing
** its deferral cannot leave the next chunk uninterruptible.
**
** At the prompt no chunk runs: the handler only records the signal, and the
** line reader (repl.c) clears the line.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "repl.h"

static lua_State *volatile interrupt_L;        /* state whose hook we set */
static volatile sig_atomic_t running;          /* 1 while user code runs */
static volatile sig_atomic_t pending;          /* SIGINTs during this chunk */
static volatile sig_atomic_t deferred;         /* first SIGINT only counts */
static volatile sig_atomic_t at_prompt;        /* SIGINT seen at the prompt */

/* The engine's flag, found in libbrasa once it is loaded (may stay NULL). */
static void (*engine_interrupt)(void);
static void (*engine_clear)(void);

/* The hook set by the handler: raises the error in the running code. */
static void interrupt_stop(lua_State *L, lua_Debug *ar) {
  if (ar->event == LUA_HOOKCALL || ar->event == LUA_HOOKRET) {
    /* A C kernel that saw the engine flag is raising its own error (say
    ** "matmul: interrupted"): let the message handler run and return, or
    ** our error would replace that more useful message. */
    lua_getinfo(L, "f", ar);
    bool handler = lua_tocfunction(L, -1) == repl_msghandler;
    lua_pop(L, 1);
    if (handler) return;
  }
  lua_sethook(L, NULL, 0, 0);
  luaL_error(L, "interrupted!");
}

/* Makes the running code stop as soon as possible. Async-signal-safe:
** lua_sethook is meant to be called from a signal handler (lua.c does), and
** bt_interrupt only sets a flag. */
static void interrupt_now(void) {
  int mask = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
  if (engine_interrupt) engine_interrupt();
  lua_sethook(interrupt_L, interrupt_stop, mask, 1);
}

/* The SIGINT handler. */
static void interrupt_handler(int sig) {
  int saved_errno = errno;
  (void)sig;
  if (!running)
    at_prompt = 1;
  else {
    int n = pending < 1000 ? ++pending : pending;
    if (!(deferred && n == 1))
      interrupt_now();
    if (n == 3) {  /* probably stuck in C code that does not poll the flag */
      static const char msg[] =
          "\n(brasa: still busy in a C call; Ctrl-\\ quits the process)\n";
      ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
      (void)w;
    }
  }
  errno = saved_errno;
}

void interrupt_install(lua_State *L) {
  struct sigaction sa;
  interrupt_L = L;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = interrupt_handler;
  sigemptyset(&sa.sa_mask);
  /* No SA_RESTART: a blocking read in user code (io.read) or the prompt's
  ** select() must return so the interruption is seen. */
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, NULL);
}

/* Finds a function of libbrasa. Lua loads C modules with RTLD_LOCAL, so the
** engine library that brasa/core.so pulls in is not in the global scope: ask
** the dynamic linker for the already loaded library by name instead. */
static void *find_engine_symbol(const char *name) {
  static const char *const libs[] = {"libbrasa.so.0", "libbrasa.so", NULL};
  void *sym = dlsym(RTLD_DEFAULT, name);
  for (int i = 0; sym == NULL && libs[i] != NULL; i++) {
    void *lib = dlopen(libs[i], RTLD_NOW | RTLD_NOLOAD);
    if (lib != NULL) sym = dlsym(lib, name);  /* the handle is kept open */
  }
  return sym;
}

bool interrupt_find_engine(void) {
  /* POSIX's way to turn a void* into a function pointer. */
  *(void **)(&engine_interrupt) = find_engine_symbol("bt_interrupt");
  *(void **)(&engine_clear) = find_engine_symbol("bt_clear_interrupt");
  if (engine_interrupt == NULL || engine_clear == NULL)
    engine_interrupt = engine_clear = NULL;
  return engine_interrupt != NULL;
}

void interrupt_begin_chunk(void) {
  pending = 0;
  deferred = 0;
  if (engine_clear) engine_clear();
  at_prompt = 0;
  running = 1;
}

void interrupt_end_chunk(lua_State *L) {
  running = 0;
  /* A signal may have set the hook after the code finished; remove it, but
  ** leave alone a hook the user set with debug.sethook. */
  if (lua_gethook(L) == interrupt_stop) lua_sethook(L, NULL, 0, 0);
  if (engine_clear) engine_clear();
  deferred = 0;
}

int interrupt_count(void) { return pending; }

bool interrupt_take_prompt_signal(void) {
  if (!at_prompt) return false;
  at_prompt = 0;
  return true;
}

/* ---- the brasa_repl table ------------------------------------------------ */

/* brasa_repl.pending_interrupts() -> number of Ctrl-C since the chunk began. */
static int l_pending_interrupts(lua_State *L) {
  lua_pushinteger(L, pending);
  return 1;
}

/* brasa_repl.defer_interrupts(on) -> previous setting. While on, the first
** Ctrl-C of the chunk is only counted; the second interrupts at once. */
static int l_defer_interrupts(lua_State *L) {
  int old = deferred;
  deferred = lua_toboolean(L, 1);
  /* Already pressed twice while we were not deferring: honour it now. */
  if (!deferred && pending > 0 && running) interrupt_now();
  lua_pushboolean(L, old);
  return 1;
}

/* brasa_repl.clock() -> seconds of a monotonic wall clock (for time()). */
static int l_clock(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
  return 1;
}

/* brasa_repl.engine_interrupt() -> true when Ctrl-C reaches C kernels. */
static int l_engine_interrupt(lua_State *L) {
  lua_pushboolean(L, engine_interrupt != NULL);
  return 1;
}

void interrupt_open_lib(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"pending_interrupts", l_pending_interrupts},
      {"defer_interrupts", l_defer_interrupts},
      {"clock", l_clock},
      {"engine_interrupt", l_engine_interrupt},
      {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setglobal(L, "brasa_repl");
}
