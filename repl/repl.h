/*
** repl.h: the pieces of the `brasa` executable and how they talk.
**
**   brasa.c      main(): command line, library paths, start-up files, scripts
**   repl.c       the read-eval-print loop: chunks, auto-printing, errors, stdin
**   interrupt.c  Ctrl-C: the Lua hook, the engine's interrupt flag, and the
**                `brasa_repl` table of C helpers exposed to Lua
**   complete.c   readline tab completion (candidates come from brasa.repl)
**   history.c    ~/.brasa_history: loading, appending under a lock, trimming
**
** The Lua side of the REPL lives in lua/brasa/repl.lua (printing, completion
** candidates, %time, line rewriting) and lua/brasa/help.lua (help, apropos);
** the C side only reads lines, runs chunks and handles signals.
*/
#ifndef BRASA_REPL_H
#define BRASA_REPL_H

#include <stdbool.h>

#include <lua.h>

#define BRASA_PROGNAME "brasa"

/* Registry key of the brasa.repl module table (absent if it failed to load). */
#define BRASA_REPL_KEY "brasa.repl.module"

/* ---- repl.c -------------------------------------------------------------- */

/* Message handler for lua_pcall: adds a traceback to the error message. */
int repl_msghandler(lua_State *L);

/* Calls the function on the stack (below its narg arguments) with the message
** handler and the Ctrl-C machinery armed; leaves nres results (or the error
** message). Returns the lua_pcall status. */
int repl_docall(lua_State *L, int narg, int nres);

/* Prints the error message on top of the stack to stderr (trimmed traceback,
** red when colour is on) and pops it. Returns status unchanged. */
int repl_report(lua_State *L, int status);

/* Gets field `name` of the brasa.repl module and pushes it; returns false
** (pushing nothing) when the module or the field is missing. */
bool repl_getfield(lua_State *L, const char *name);

/* The interactive loop on a terminal, with readline. Returns at end of input. */
void repl_interactive(lua_State *L);

/* Sets up the terminal for readline (signals, history, completion) and
** installs brasa_repl.readline, the line editor for Lua code (a lesson's
** prompt); repl_interactive calls it, as does a lesson run from the
** command line before the REPL. Idempotent; repl_terminal_end undoes it
** (saving the history). */
void repl_terminal_begin(lua_State *L);
void repl_terminal_end(lua_State *L);

/* Runs stdin when it is not a terminal (or for `brasa -`): as a script when
** it compiles as one (as lua.c does), as an expression whose values print
** (`echo 1+1 | brasa`), otherwise as REPL entries, as if typed. Returns
** LUA_OK or the status of the first error (already reported). */
int repl_run_stdin(lua_State *L);

/* True when messages and prompts may use ANSI colour. */
extern bool repl_color;

/* ---- interrupt.c --------------------------------------------------------- */

/* Installs the SIGINT handler once; L is the state whose hook it sets. */
void interrupt_install(lua_State *L);

/* Looks for the engine's bt_interrupt / bt_clear_interrupt in the loaded
** libbrasa (call after `require 'brasa'`). Returns true if found. */
bool interrupt_find_engine(void);

/* Brackets the run of one chunk of user code: resets the counters, clears the
** engine flag, and makes SIGINT interrupt the running code. */
void interrupt_begin_chunk(void);
void interrupt_end_chunk(lua_State *L);

/* Ctrl-C presses during the last (or current) chunk. */
int interrupt_count(void);

/* Consumes a Ctrl-C that arrived while the prompt was showing. */
bool interrupt_take_prompt_signal(void);

/* Registers the global table `brasa_repl` of C helpers. */
void interrupt_open_lib(lua_State *L);

/* ---- complete.c ---------------------------------------------------------- */

/* Configures readline completion for the state L. */
void complete_init(lua_State *L);

/* ---- history.c ----------------------------------------------------------- */

/* Opens the history file (~/.brasa_history) and loads it into readline. */
void history_open(void);

/* Adds a complete entry (possibly several lines) to the history, skipping
** blanks and a repeat of the previous entry, and appends it to the file. */
void history_add(const char *entry);

/* Trims the file to the size limit (at exit). */
void history_close(void);

#endif
