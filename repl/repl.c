/*
** repl.c: the read-eval-print loop, and running stdin when it is no terminal.
**
** An entry is what the user types before it runs: one line, or several when
** the first is an incomplete chunk (`function f(x)` continues on the
** secondary prompt until `end`), as lua.c does. Each entry is compiled first
** as `return <entry>` and, if that fails, as a statement, so an expression
** typed alone prints its values; whatever the chunk returns is printed (so
** `=x` and `return x` work too), unless the entry ends with ';'. Printing,
** `_`, error trimming and the `?x` / `%time` shorthands are Lua code in
** brasa.repl; this file only reads, compiles, runs and reports.
**
** Lines are read with readline's callback interface: select() waits for a
** key or a signal, so Ctrl-C at the prompt clears the line (and abandons a
** half-typed multi-line entry) instead of killing the process, without
** jumping out of readline with longjmp.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include <lauxlib.h>
#include <lua.h>

#include "repl.h"

#define PROMPT1 "brasa> "
#define PROMPT2 "  ...> "
#define EOFMARK "<eof>"  /* the end of a syntax error on incomplete input */

bool repl_color = false;

/* Prefix of error messages: the program name, except at the prompt. */
static const char *msg_prefix = BRASA_PROGNAME ": ";

/* ---- a growable string ----------------------------------------------------- */

typedef struct {
  char *s;
  size_t len, cap;
} Text;

static void text_add(Text *t, const char *s, size_t n) {
  if (t->len + n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + n + 1) cap *= 2;
    char *p = realloc(t->s, cap);
    if (p == NULL) {
      fputs(BRASA_PROGNAME ": out of memory\n", stderr);
      exit(EXIT_FAILURE);
    }
    t->s = p;
    t->cap = cap;
  }
  memcpy(t->s + t->len, s, n);
  t->len += n;
  t->s[t->len] = '\0';
}

static void text_addstr(Text *t, const char *s) { text_add(t, s, strlen(s)); }

static void text_clear(Text *t) {
  t->len = 0;
  if (t->s) t->s[0] = '\0';
}

static void text_free(Text *t) {
  free(t->s);
  t->s = NULL;
  t->len = t->cap = 0;
}

/* ---- running code and reporting errors ------------------------------------ */

int repl_msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (msg == NULL) {  /* an error object that is not a string */
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)",
                            luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

int repl_docall(lua_State *L, int narg, int nres) {
  int base = lua_gettop(L) - narg;  /* the function's index */
  lua_pushcfunction(L, repl_msghandler);
  lua_insert(L, base);
  interrupt_begin_chunk();
  int status = lua_pcall(L, narg, nres, base);
  interrupt_end_chunk(L);
  lua_remove(L, base);
  return status;
}

bool repl_getfield(lua_State *L, const char *name) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, BRASA_REPL_KEY) != LUA_TTABLE) {
    lua_pop(L, 1);
    return false;
  }
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return false;
  }
  return true;
}

int repl_report(lua_State *L, int status) {
  if (status == LUA_OK) return status;
  int top = lua_gettop(L);
  const char *msg = lua_tostring(L, -1);
  if (msg == NULL) msg = "(error object is not a string)";
  /* brasa.repl trims the traceback to the user's code. */
  if (repl_getfield(L, "format_error")) {
    lua_pushstring(L, msg);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
  }
  size_t first = strcspn(msg, "\n");
  fflush(stdout);
  /* After Ctrl-C the terminal has echoed ^C: start on a fresh line. */
  if (interrupt_count() > 0 && isatty(STDERR_FILENO)) fputc('\n', stderr);
  fprintf(stderr, "%s%s%.*s%s%s\n", msg_prefix, repl_color ? "\033[31m" : "",
          (int)first, msg, repl_color ? "\033[0m" : "", msg + first);
  fflush(stderr);
  lua_settop(L, top - 1);
  return status;
}

/* Prints the n values on top of the stack with brasa.repl.print_results
** (which also sets `_`), or with print when brasa.repl is missing. */
static int print_results(lua_State *L, int n) {
  if (!repl_getfield(L, "print_results")) lua_getglobal(L, "print");
  lua_insert(L, -(n + 1));
  return repl_docall(L, n, 0);
}

/* Runs the compiled entry on top of the stack and prints what it returns
** unless quiet. Reports errors; returns the status. */
static int run_entry(lua_State *L, bool quiet) {
  int base = lua_gettop(L);  /* the function */
  int status = repl_docall(L, 0, LUA_MULTRET);
  if (status == LUA_OK) {
    int n = lua_gettop(L) - base + 1;
    if (n > 0 && !quiet) status = print_results(L, n);
  }
  repl_report(L, status);
  lua_settop(L, base - 1);
  fflush(stdout);
  return status;
}

/* ---- compiling an entry ------------------------------------------------------ */

enum { ENTRY_READY, ENTRY_INCOMPLETE, ENTRY_ERROR };

/* True when the error on top of the stack says the input ended too soon. */
static bool is_incomplete(lua_State *L, int status) {
  size_t len;
  const char *msg = lua_tolstring(L, -1, &len);
  size_t mark = sizeof(EOFMARK) - 1;
  return status == LUA_ERRSYNTAX && msg != NULL && len >= mark &&
         strcmp(msg + len - mark, EOFMARK) == 0;
}

/* Loads prefix + code as chunk "=stdin", first shifted down by `line - 1`
** blank lines so that messages give line numbers of the whole input. */
static int load_entry(lua_State *L, const char *prefix, const char *code,
                      size_t len, int line) {
  Text t = {0};
  for (int i = 1; i < line; i++) text_add(&t, "\n", 1);
  text_addstr(&t, prefix);
  text_add(&t, code, len);
  int status = luaL_loadbuffer(L, t.s, t.len, "=stdin");
  text_free(&t);
  return status;
}

/* True when the error on top of the stack is Lua's complaint about an
** expression used as a statement at the very end (`x = f(); x`): it ends
** with <eof> but more input would not help, so it is no reason to wait for
** another line. */
static bool ends_with_bare_expression(lua_State *L) {
  static const char tail[] = "syntax error near " EOFMARK;
  size_t len, n = sizeof tail - 1;
  const char *msg = lua_tolstring(L, -1, &len);
  return msg != NULL && len >= n && strcmp(msg + len - n, tail) == 0;
}

/* `stats; expr`: tries again with `return` after the last ';', so the value
** of the final expression prints. If that ';' sits in a string or comment,
** the tokens stay the same and the code fails as before, so a success
** always means the intended reading. Pushes the function and returns true, or
** pushes nothing. */
static bool compile_last_as_return(lua_State *L, const char *code, size_t len,
                                   int line) {
  const char *semi = NULL;
  size_t end = len;  /* not the ';' that ends `x = 1; x;` */
  while (end > 0 && strchr(" \t\r\n", code[end - 1]) != NULL) end--;
  if (end > 0 && code[end - 1] == ';') end--;
  for (size_t i = end; i > 0 && semi == NULL; i--)
    if (code[i - 1] == ';') semi = code + i - 1;
  if (semi == NULL) return false;
  Text t = {0};
  size_t head = (size_t)(semi - code) + 1;
  text_add(&t, code, head);
  text_addstr(&t, " return ");
  text_add(&t, semi + 1, len - head);
  bool ok = load_entry(L, "", t.s, t.len, line) == LUA_OK;
  if (!ok) lua_pop(L, 1);
  text_free(&t);
  return ok;
}

/* Compiles an entry: as `return <code>` first (an expression prints its
** values), then as statements. READY leaves the function on the stack, ERROR
** the statement form's message, INCOMPLETE nothing. */
static int compile_entry(lua_State *L, const char *code, size_t len, int line) {
  int status = load_entry(L, "return ", code, len, line);
  if (status == LUA_OK) return ENTRY_READY;
  bool incomplete = is_incomplete(L, status);
  lua_pop(L, 1);
  status = load_entry(L, "", code, len, line);
  if (status == LUA_OK) return ENTRY_READY;
  if (compile_last_as_return(L, code, len, line)) {
    lua_remove(L, -2);  /* the statement form's error */
    return ENTRY_READY;
  }
  if (incomplete || (is_incomplete(L, status) && !ends_with_bare_expression(L))) {
    lua_pop(L, 1);
    return ENTRY_INCOMPLETE;
  }
  return ENTRY_ERROR;
}

/* Appends the first line of an entry to t, rewritten by brasa.repl.rewrite
** (`?x` asks for help, `%time expr` times, `=x` returns). */
static void add_first_line(lua_State *L, Text *t, const char *line) {
  if (repl_getfield(L, "rewrite")) {
    lua_pushstring(L, line);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING) {
      size_t n;
      const char *s = lua_tolstring(L, -1, &n);
      text_add(t, s, n);
      lua_pop(L, 1);
      return;
    }
    lua_pop(L, 1);
  }
  text_addstr(t, line);
}

/* True when the text ends with ';' (ignoring trailing blanks): the entry's
** values are not printed, as in Torch7's trepl and MATLAB. */
static bool ends_with_semicolon(const char *s, size_t len) {
  while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL) len--;
  return len > 0 && s[len - 1] == ';';
}

static bool blank(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (strchr(" \t\r\n", s[i]) == NULL) return false;
  return true;
}

/* ---- reading lines on a terminal --------------------------------------------- */

static char *line_read;  /* the line readline handed over (malloc'd) */
static bool line_done;   /* the line (or end of input) has arrived */
static volatile sig_atomic_t resized;

static void winch_handler(int sig) {
  (void)sig;
  resized = 1;
}

/* readline's callback for a complete line (NULL at end of input). */
static void line_handler(char *line) {
  line_read = line;
  line_done = true;
  rl_callback_handler_remove();  /* no new prompt until we ask for one */
}

/* Abandons the line being edited after a Ctrl-C: shows ^C after it and
** leaves the terminal as readline found it. */
static void cancel_line(void) {
  rl_free_line_state();
  rl_callback_sigcleanup();
  rl_point = rl_end;
  rl_redisplay();
  /* Before the handler goes: restoring the terminal ends with a '\r'
  ** (when bracketed paste was on), which would put ^C over the prompt. */
  fputs("^C\n", rl_outstream);
  fflush(rl_outstream);
  rl_replace_line("", 0);
  rl_callback_handler_remove();
}

/* The prompt: the global _PROMPT / _PROMPT2 if set (as in lua.c), otherwise
** the default. Copied, so the Lua value may go. */
static const char *get_prompt(lua_State *L, bool first) {
  static char buf[256];
  const char *p = first ? PROMPT1 : PROMPT2;
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") == LUA_TSTRING)
    p = lua_tostring(L, -1);
  snprintf(buf, sizeof buf, "%s", p);
  lua_pop(L, 1);
  return buf;
}

/* Reads a line with readline. Returns it (malloc'd), or NULL at end of
** input or, with *cancelled set, after Ctrl-C. */
static char *read_line(const char *prompt, bool *cancelled) {
  int fd = fileno(rl_instream ? rl_instream : stdin);
  *cancelled = false;
  line_read = NULL;
  line_done = false;
  /* SIGINT and SIGWINCH stay blocked except inside pselect, which unblocks
  ** them atomically: a signal that lands while readline works on a key is
  ** then seen at the next pselect, instead of after it has gone to sleep. */
  sigset_t block, orig;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGWINCH);
  sigprocmask(SIG_BLOCK, &block, &orig);
  fflush(stdout);
  interrupt_take_prompt_signal();  /* forget a Ctrl-C from before the prompt */
  rl_callback_handler_install(prompt, line_handler);
  while (!line_done) {
    if (interrupt_take_prompt_signal()) {
      cancel_line();
      *cancelled = true;
      break;
    }
    if (resized) {
      resized = 0;
      rl_resize_terminal();
    }
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(fd, &fds);
    int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &orig);
    if (r > 0)
      rl_callback_read_char();
    else if (r < 0 && errno != EINTR) {
      rl_callback_handler_remove();
      break;
    }
  }
  sigprocmask(SIG_SETMASK, &orig, NULL);
  return line_read;
}

/* ---- the interactive loop ------------------------------------------------------ */

enum { READ_ENTRY, READ_EMPTY, READ_CANCEL, READ_EOF };

/* Reads the lines of one entry into src (as typed, for the history) and code
** (first line rewritten). Returns READ_ENTRY with the compiled function, or
** its syntax error, on the stack (*state says which). */
static int read_entry(lua_State *L, Text *src, Text *code, int *state) {
  *state = ENTRY_INCOMPLETE;
  while (*state == ENTRY_INCOMPLETE) {
    bool cancelled;
    bool first = src->len == 0;
    char *line = read_line(get_prompt(L, first), &cancelled);
    if (line == NULL) {
      if (cancelled) return READ_CANCEL;
      if (!first) {  /* Ctrl-D inside an entry drops it, like Ctrl-C */
        fputs("\n", stdout);
        return READ_CANCEL;
      }
      return READ_EOF;
    }
    if (first && blank(line, strlen(line))) {
      free(line);
      return READ_EMPTY;
    }
    if (!first) {
      text_add(src, "\n", 1);
      text_add(code, "\n", 1);
      text_addstr(code, line);
    } else
      add_first_line(L, code, line);
    text_addstr(src, line);
    free(line);
    *state = compile_entry(L, code->s, code->len, 1);
  }
  return READ_ENTRY;
}

/* brasa_repl.readline(prompt) -> the line typed; nil at end of input
** (Ctrl-D), false after Ctrl-C. The REPL's own line editor (history,
** completion, Ctrl-C handling) for Lua code that asks the user something,
** such as a lesson's prompt. The line joins the history only through
** brasa_repl.add_history (the caller knows which lines are worth it). */
static int l_readline(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, "");
  bool cancelled;
  char *line = read_line(prompt, &cancelled);
  if (line == NULL) {
    if (cancelled)
      lua_pushboolean(L, 0);
    else
      lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, line);
  free(line);
  return 1;
}

/* brasa_repl.add_history(line): adds a line to the REPL's history. */
static int l_add_history(lua_State *L) {
  size_t len;
  const char *line = luaL_checklstring(L, 1, &len);
  if (!blank(line, len)) history_add(line);
  return 0;
}

static bool terminal_ready;

void repl_terminal_begin(lua_State *L) {
  if (terminal_ready) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = winch_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGWINCH, &sa, NULL);
  rl_catch_signals = 0;  /* our handlers: see interrupt.c */
  rl_catch_sigwinch = 0;
  history_open();
  complete_init(L);
  if (lua_getglobal(L, "brasa_repl") == LUA_TTABLE) {
    lua_pushcfunction(L, l_readline);
    lua_setfield(L, -2, "readline");
    lua_pushcfunction(L, l_add_history);
    lua_setfield(L, -2, "add_history");
  }
  lua_pop(L, 1);
  terminal_ready = true;
}

void repl_terminal_end(lua_State *L) {
  if (!terminal_ready) return;
  if (lua_getglobal(L, "brasa_repl") == LUA_TTABLE) {
    lua_pushnil(L);
    lua_setfield(L, -2, "readline");
    lua_pushnil(L);
    lua_setfield(L, -2, "add_history");
  }
  lua_pop(L, 1);
  history_close();
  terminal_ready = false;
}

void repl_interactive(lua_State *L) {
  repl_terminal_begin(L);
  msg_prefix = "";
  Text src = {0}, code = {0};
  for (;;) {
    int state;
    text_clear(&src);
    text_clear(&code);
    int r = read_entry(L, &src, &code, &state);
    if (r == READ_EOF) break;
    if (r != READ_ENTRY) continue;
    history_add(src.s);
    if (state == ENTRY_READY)
      run_entry(L, ends_with_semicolon(src.s, src.len));
    else
      repl_report(L, LUA_ERRSYNTAX);
  }
  fputs("\n", stdout);
  fflush(stdout);
  text_free(&src);
  text_free(&code);
  repl_terminal_end(L);
  msg_prefix = BRASA_PROGNAME ": ";
}

/* ---- stdin that is not a terminal ------------------------------------------------ */

/* Runs text as a transcript of REPL entries, as if typed at the prompt. All
** entries are compiled before any runs, so a syntax error anywhere runs
** nothing; the first runtime error stops the run. */
static int run_transcript(lua_State *L, const char *s, size_t len) {
  Text src = {0}, code = {0};
  int status = LUA_OK, n = 0, startline = 1, line = 1;
  lua_newtable(L);  /* entries: function, quiet, function, quiet, ... */
  int entries = lua_gettop(L);
  const char *p = s, *end = s + len;
  while (p < end && status == LUA_OK) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (src.len == 0 && blank(p, l)) {
      /* skip blank lines between entries */
    } else {
      Text one = {0};
      text_add(&one, p, l);
      if (src.len == 0) {
        startline = line;
        add_first_line(L, &code, one.s);
      } else {
        text_add(&src, "\n", 1);
        text_add(&code, "\n", 1);
        text_add(&code, p, l);
      }
      text_add(&src, p, l);
      text_free(&one);
      int state = compile_entry(L, code.s, code.len, startline);
      if (state == ENTRY_READY) {
        lua_rawseti(L, entries, ++n);
        lua_pushboolean(L, ends_with_semicolon(src.s, src.len));
        lua_rawseti(L, entries, ++n);
        text_clear(&src);
        text_clear(&code);
      } else if (state == ENTRY_ERROR)
        status = repl_report(L, LUA_ERRSYNTAX);
    }
    p += l + 1;
    line++;
  }
  if (status == LUA_OK && src.len > 0)  /* input ended inside an entry */
    status = repl_report(L, load_entry(L, "", code.s, code.len, startline));
  for (int i = 1; status == LUA_OK && i < n; i += 2) {
    lua_rawgeti(L, entries, i + 1);
    bool quiet = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_rawgeti(L, entries, i);
    status = run_entry(L, quiet);
  }
  lua_settop(L, entries - 1);
  text_free(&src);
  text_free(&code);
  return status;
}

/* See repl.h. A script and REPL input differ in two ways: a script's call
** statements print nothing, and its top-level locals span lines; input
** that does not compile as a script cannot be relying on either. */
int repl_run_stdin(lua_State *L) {
  Text in = {0};
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) text_add(&in, buf, n);
  text_add(&in, "", 0);
  if (interrupt_take_prompt_signal()) {  /* Ctrl-C while typing into `brasa -` */
    fputs(BRASA_PROGNAME ": interrupted\n", stderr);
    text_free(&in);
    return LUA_ERRRUN;
  }
  const char *s = in.s;
  size_t len = in.len;
  if (len > 0 && s[0] == '#') {  /* skip a '#!' line, keeping its newline */
    size_t l = strcspn(s, "\n");
    s += l;
    len -= l;
  }
  /* A valid script runs as lua.c would run it, printing nothing of its own
  ** (so `echo 'io.write("x")' | brasa` does not print a file handle). */
  int status = load_entry(L, "", s, len, 1);
  if (status == LUA_OK)
    status = run_entry(L, true);
  else if (status != LUA_ERRSYNTAX)
    status = repl_report(L, status);
  else {
    lua_pop(L, 1);
    if (load_entry(L, "return ", s, len, 1) == LUA_OK)  /* `echo 1+1 | brasa` */
      status = run_entry(L, ends_with_semicolon(s, len));
    else {  /* REPL input: entries run as if typed */
      lua_pop(L, 1);
      status = run_transcript(L, s, len);
    }
  }
  text_free(&in);
  return status;
}
