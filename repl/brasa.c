/*
** brasa.c: main() of the `brasa` executable: Lua 5.4 with the brasa library
** loaded, a readline REPL, and lua.c's command line.
**
**   brasa [options] [script [args]]
**     -e chunk   run the chunk          -l mod    require mod into global mod
**     -i         prompt after the rest  -v        print the version
**     -q         no banner              -E        ignore BRASA_INIT, LUA_PATH...
**     -W         turn warnings on       --        stop handling options
**     -          run stdin (as when stdin is not a terminal)
**     --lesson id  run a lesson (brasa.lesson), then the REPL; with it
**     --auto, --fast, --lang xx  (every step at once; quick mode; language)
**
** With no script and no -e/-v the REPL starts if stdin is a terminal;
** otherwise stdin runs without prompts (see repl_run_stdin). The globals
** `brasa`, `nn`, `optim`, `plot`, `help`, `apropos` and `time` are set in
** every mode, so a tutorial runs the same typed or piped.
**
** Start-up order: library paths, brasa.repl.setup (which requires brasa),
** banner, BRASA_INIT (a chunk, or a file given as @path or as a plain path),
** ~/.brasarc when a REPL will run, -e/-l in order, the lesson, the script,
** the REPL. With --lesson the REPL follows unless a script is given, so the
** lesson's variables can be looked at afterwards (on a terminal, at the
** prompt; otherwise what is left of stdin runs as REPL input).
**
** The structure follows lua.c from Lua 5.4 (collectargs, runargs, pmain run
** inside lua_pcall so that even a memory error is reported).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "repl.h"

#ifndef BRASA_VERSION_STRING
#define BRASA_VERSION_STRING "0.0.0"
#endif
#ifndef BRASA_BUILD_LUA_DIR
#define BRASA_BUILD_LUA_DIR ""
#endif
#ifndef BRASA_BUILD_CLUA_DIR
#define BRASA_BUILD_CLUA_DIR ""
#endif
#ifndef BRASA_INSTALL_LUA_DIR
#define BRASA_INSTALL_LUA_DIR "share/lua/5.4"
#endif
#ifndef BRASA_INSTALL_CLUA_DIR
#define BRASA_INSTALL_CLUA_DIR "lib/lua/5.4"
#endif

/* Bits of collectargs's result. */
#define has_error 1  /* bad option */
#define has_i 2      /* -i */
#define has_v 4      /* -v */
#define has_e 8      /* -e */
#define has_E 16     /* -E */
#define has_q 32     /* -q */
#define has_h 64     /* --help */

/* --lesson and its companions (long options, kept here by collectargs). */
static struct {
  const char *id, *lang;
  bool autorun, fast;
} lesson;

static void print_usage(FILE *f, const char *badoption) {
  if (badoption != NULL) {
    if (badoption[1] == 'e' || badoption[1] == 'l' ||
        strcmp(badoption, "--lesson") == 0 || strcmp(badoption, "--lang") == 0)
      fprintf(f, "%s: '%s' needs an argument\n", BRASA_PROGNAME, badoption);
    else
      fprintf(f, "%s: unrecognized option '%s'\n", BRASA_PROGNAME, badoption);
  }
  fprintf(f,
          "usage: %s [options] [script [args]]\n"
          "Available options are:\n"
          "  -e chunk  execute string 'chunk'\n"
          "  -i        enter the REPL after running the script or -e\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -q        start the REPL without the banner\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables (BRASA_INIT, LUA_PATH...)\n"
          "  -W        turn warnings on\n"
          "  --        stop handling options\n"
          "  -         execute stdin and stop handling options\n"
          "  --lesson id  run the lesson id step by step (brasa.lessons() lists\n"
          "               them), then stay in the REPL with its variables\n"
          "  --auto       with --lesson: run every step without stopping\n"
          "  --fast       with --lesson: the quick mode (a subset, one epoch)\n"
          "  --lang xx    with --lesson: es or en (default: BRASA_LANG, locale)\n"
          "With no script, brasa starts the REPL on a terminal and runs stdin\n"
          "otherwise. ~/.brasarc and BRASA_INIT run at start-up.\n",
          BRASA_PROGNAME);
}

static void print_version(void) {
  printf("brasa %s (%s)\n", BRASA_VERSION_STRING, LUA_RELEASE);
  fflush(stdout);
}

/* Scans the options (lua.c's rules). *first gets the index of the script
** (0 if none); returns the has_* bits, or has_error with *first at the bad
** option. */
static int collectargs(char **argv, int *first) {
  int args = 0;
  *first = 0;
  if (argv[0] == NULL) return 0;
  for (int i = 1; argv[i] != NULL; i++) {
    *first = i;
    if (argv[i][0] != '-') return args;  /* the script */
    switch (argv[i][1]) {
      case '-':
        if (strcmp(argv[i], "--help") == 0) return args | has_h;
        if (strcmp(argv[i], "--version") == 0) {
          args |= has_v;
          break;
        }
        if (strcmp(argv[i], "--lesson") == 0 || strcmp(argv[i], "--lang") == 0) {
          if (argv[i + 1] == NULL) return has_error;
          if (argv[i][3] == 'e')  /* --lesson */
            lesson.id = argv[++i];
          else
            lesson.lang = argv[++i];
          break;
        }
        if (strcmp(argv[i], "--auto") == 0 || strcmp(argv[i], "--fast") == 0) {
          if (argv[i][2] == 'a')
            lesson.autorun = true;
          else
            lesson.fast = true;
          break;
        }
        if (argv[i][2] != '\0') return has_error;
        *first = argv[i + 1] != NULL ? i + 1 : 0;
        return args;
      case '\0':  /* '-': the script is stdin */
        return args;
      case 'E': case 'W': case 'i': case 'q': case 'v': case 'h':
        if (argv[i][2] != '\0') return has_error;
        args |= argv[i][1] == 'E' ? has_E : argv[i][1] == 'i' ? has_i
              : argv[i][1] == 'q' ? has_q : argv[i][1] == 'v' ? has_v
              : argv[i][1] == 'h' ? has_h : 0;
        break;
      case 'e':
        args |= has_e;
        /* FALLTHROUGH */
      case 'l':  /* both need an argument, attached or next */
        if (argv[i][2] == '\0') {
          i++;
          if (argv[i] == NULL || argv[i][0] == '-') {
            *first = i - 1;
            return has_error;
          }
        }
        break;
      default:
        return has_error;
    }
  }
  *first = 0;
  return args;
}

/* The global `arg`: script name at 0, its arguments at 1.., the interpreter
** and options at negative indices (as lua.c does). */
static void createargtable(lua_State *L, char **argv, int argc, int script) {
  int narg = argc - (script + 1);
  lua_createtable(L, narg > 0 ? narg : 0, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int dochunk(lua_State *L, int status) {
  if (status == LUA_OK) status = repl_docall(L, 0, 0);
  return repl_report(L, status);
}

static int dofile(lua_State *L, const char *name) {
  return dochunk(L, luaL_loadfile(L, name));
}

static int dostring(lua_State *L, const char *s, const char *name) {
  return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* -l mod or -l g=mod: require mod and store it in a global. */
static int dolibrary(lua_State *L, char *globname) {
  char *modname = strchr(globname, '=');
  if (modname == NULL)
    modname = globname;
  else
    *modname++ = '\0';
  lua_getglobal(L, "require");
  lua_pushstring(L, modname);
  int status = repl_docall(L, 1, 1);
  if (status == LUA_OK) lua_setglobal(L, globname);
  return repl_report(L, status);
}

/* Runs -e and -l (and -W) in command-line order; false on the first error. */
static bool runargs(lua_State *L, char **argv, int n) {
  for (int i = 1; i < n; i++) {
    if (strcmp(argv[i], "--lesson") == 0 || strcmp(argv[i], "--lang") == 0) {
      i++;  /* its argument is no option */
      continue;
    }
    int option = argv[i][1];
    if (option == 'e' || option == 'l') {
      char *extra = argv[i] + 2;
      if (*extra == '\0') extra = argv[++i];
      int status = option == 'e' ? dostring(L, extra, "=(command line)")
                                 : dolibrary(L, extra);
      if (status != LUA_OK) return false;
    } else if (option == 'W')
      lua_warning(L, "@on", 0);
  }
  return true;
}

/* Pushes the script's arguments (those after its name); returns how many. */
static int pushargs(lua_State *L) {
  if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
  int n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(n + 1));
  return n;
}

static int handle_script(lua_State *L, char **argv) {
  const char *fname = argv[0];
  if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
    return repl_run_stdin(L);
  int status = luaL_loadfile(L, fname);
  if (status == LUA_OK) {
    int n = pushargs(L);
    status = repl_docall(L, n, 0);
  }
  return repl_report(L, status);
}

/* --lesson: calls brasa.lesson.cli{id =, auto =, fast =, lang =}. Returns
** LUA_OK, or an error status (already reported) when the lesson could not
** run or, with --auto, a step failed. */
static int handle_lesson(lua_State *L) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "brasa.lesson");
  int status = repl_docall(L, 1, 1);
  if (status != LUA_OK) return repl_report(L, status);
  lua_getfield(L, -1, "cli");
  lua_remove(L, -2);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, lesson.id);
  lua_setfield(L, -2, "id");
  lua_pushboolean(L, lesson.autorun);
  lua_setfield(L, -2, "auto");
  lua_pushboolean(L, lesson.fast);
  lua_setfield(L, -2, "fast");
  if (lesson.lang != NULL) {
    lua_pushstring(L, lesson.lang);
    lua_setfield(L, -2, "lang");
  }
  status = repl_docall(L, 1, 1);
  if (status != LUA_OK) return repl_report(L, status);
  bool ok = lua_toboolean(L, -1);
  lua_pop(L, 1);
  return ok ? LUA_OK : LUA_ERRRUN;
}

/* BRASA_INIT: "@file", a readable file's path, or a chunk of Lua. */
static int handle_init(lua_State *L) {
  const char *init = getenv("BRASA_INIT");
  if (init == NULL || *init == '\0') return LUA_OK;
  if (init[0] == '@') return dofile(L, init + 1);
  if (strchr(init, '\n') == NULL && access(init, R_OK) == 0)
    return dofile(L, init);
  return dostring(L, init, "=BRASA_INIT");
}

/* ~/.brasarc, if it exists. */
static int handle_rc(lua_State *L) {
  const char *home = getenv("HOME");
  if (home == NULL || *home == '\0') return LUA_OK;
  lua_pushfstring(L, "%s/.brasarc", home);
  const char *path = lua_tostring(L, -1);
  int status = access(path, R_OK) == 0 ? dofile(L, path) : LUA_OK;
  lua_pop(L, 1);
  return status;
}

/* Prepends dir-based templates to package.path or package.cpath. */
static void prepend_path(lua_State *L, const char *field, const char *paths) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, field);
  lua_pushfstring(L, "%s;%s", paths, lua_tostring(L, -1));
  lua_setfield(L, -3, field);
  lua_pop(L, 2);
}

/* Makes `require 'brasa'` find the library with no environment variables:
** when installed, next to the executable (<prefix>/bin/brasa finds
** <prefix>/share/lua/5.4 and <prefix>/lib/lua/5.4); otherwise in the build
** tree it was built from. The defaults stay after ours. */
static void set_paths(lua_State *L) {
  char exe[PATH_MAX];
  const char *luadir = BRASA_BUILD_LUA_DIR, *cluadir = BRASA_BUILD_CLUA_DIR;
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  int base = lua_gettop(L);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash != NULL) {
      *slash = '\0';  /* exe is now <prefix>/bin */
      const char *inst = lua_pushfstring(L, "%s/../%s", exe, BRASA_INSTALL_LUA_DIR);
      lua_pushfstring(L, "%s/brasa/repl.lua", inst);
      if (access(lua_tostring(L, -1), R_OK) == 0) {
        luadir = inst;
        cluadir = lua_pushfstring(L, "%s/../%s", exe, BRASA_INSTALL_CLUA_DIR);
      }
    }
  }
  if (*luadir != '\0') {
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", luadir, luadir);
    prepend_path(L, "path", lua_tostring(L, -1));
  }
  if (*cluadir != '\0') {
    lua_pushfstring(L, "%s/?.so", cluadir);
    prepend_path(L, "cpath", lua_tostring(L, -1));
  }
  lua_settop(L, base);
}

/* Colour only on a terminal that takes it (https://no-color.org). */
static bool color_allowed(void) {
  const char *term = getenv("TERM");
  return isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) &&
         getenv("NO_COLOR") == NULL && term != NULL && strcmp(term, "dumb") != 0;
}

static int terminal_width(void) {
  struct winsize ws;
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

/* Loads brasa.repl and calls its setup, which requires brasa and sets the
** globals. The REPL still starts when either fails, with a warning. */
static void setup_library(lua_State *L, bool interactive) {
  lua_getglobal(L, "require");
  lua_pushliteral(L, "brasa.repl");
  if (repl_docall(L, 1, 1) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "%s: warning: cannot load brasa.repl: %.*s\n",
            BRASA_PROGNAME, msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
    lua_pop(L, 1);
    return;
  }
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, BRASA_REPL_KEY);
  lua_getfield(L, -1, "setup");
  lua_createtable(L, 0, 3);
  lua_pushboolean(L, interactive);
  lua_setfield(L, -2, "interactive");
  lua_pushboolean(L, repl_color);
  lua_setfield(L, -2, "color");
  lua_pushinteger(L, interactive ? terminal_width() : 80);
  lua_setfield(L, -2, "width");
  int status = repl_docall(L, 1, 1);
  if (status == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
    fprintf(stderr, "%s: warning: %s\n", BRASA_PROGNAME, lua_tostring(L, -1));
  if (status == LUA_OK) lua_pop(L, 1);
  repl_report(L, status);
  lua_pop(L, 1);  /* the module */
  interrupt_find_engine();  /* libbrasa is loaded now, if it could be */
}

/* The one-line banner, from brasa.repl.banner. */
static void print_banner(lua_State *L) {
  if (repl_getfield(L, "banner")) {
    lua_pushliteral(L, BRASA_VERSION_STRING);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
      printf("%s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
      fflush(stdout);
      return;
    }
    lua_pop(L, 1);
  }
  print_version();
}

/* The whole program, run in protected mode. */
static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = (char **)lua_touserdata(L, 2);
  int script;
  int args = collectargs(argv, &script);
  int optlim = script > 0 ? script : argc;
  luaL_checkversion(L);
  if (args == has_error) {
    print_usage(stderr, argv[script]);
    return 0;
  }
  if (args & has_h) {
    print_usage(stdout, NULL);
    lua_pushboolean(L, 1);
    return 1;
  }
  if (args & has_v) {
    print_version();
    if (script == 0 && !(args & (has_e | has_i))) {  /* nothing else to do */
      lua_pushboolean(L, 1);
      return 1;
    }
  }
  if (lesson.id == NULL && (lesson.autorun || lesson.fast || lesson.lang)) {
    fprintf(stderr, "%s: --auto, --fast and --lang go with --lesson id\n", BRASA_PROGNAME);
    return 0;
  }
  if (args & has_E) {  /* as lua.c: the package library reads no env vars */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  createargtable(L, argv, argc, script);
  lua_gc(L, LUA_GCRESTART);
  lua_gc(L, LUA_GCGEN, 0, 0);
  set_paths(L);
  interrupt_install(L);
  interrupt_open_lib(L);
  bool tty = isatty(STDIN_FILENO);
  bool repl = (args & has_i) ||
              (script == 0 && (lesson.id != NULL || !(args & (has_e | has_v))));
  bool interactive = repl && tty;
  repl_color = interactive && color_allowed();
  setup_library(L, interactive);
  if (interactive && !(args & has_q)) print_banner(L);
  if (!(args & has_E) && handle_init(L) != LUA_OK && !interactive) return 0;
  if (interactive) handle_rc(L);  /* an error in it is reported, not fatal */
  if (!runargs(L, argv, optlim)) return 0;
  /* A lesson that fails ends the run, except on a terminal: the prompt
  ** that follows is where its variables can be looked at. */
  if (lesson.id != NULL) {
    /* On a terminal the lesson's prompt is the REPL's line editor. */
    if (interactive) repl_terminal_begin(L);
    if (handle_lesson(L) != LUA_OK && !interactive) return 0;
  }
  if (script > 0 && handle_script(L, argv + script) != LUA_OK) return 0;
  if (interactive)
    repl_interactive(L);
  else if (repl && repl_run_stdin(L) != LUA_OK)
    return 0;
  lua_pushboolean(L, 1);
  return 1;
}

int main(int argc, char **argv) {
  lua_State *L = luaL_newstate();
  if (L == NULL) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", BRASA_PROGNAME);
    return EXIT_FAILURE;
  }
  lua_gc(L, LUA_GCSTOP);  /* stop the collector while building the state */
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  int status = lua_pcall(L, 2, 1, 0);
  int ok = lua_toboolean(L, -1);
  repl_report(L, status);
  lua_close(L);
  return (ok && status == LUA_OK) ? EXIT_SUCCESS : EXIT_FAILURE;
}
