/*
** complete.c: tab completion for the REPL.
**
** readline finds the word under the cursor; brasa.repl.complete (Lua) turns
** it into candidates, because only Lua can look inside values: globals,
** nested fields (`brasa.nn.Con`), methods through metatables (`x:ma`),
** keywords. Inside a string literal the word starts after the quote, and the
** Lua side answers "files" to ask for readline's own file-name completion.
**
** '.' and ':' are not word breaks, so the word is the whole dotted path and
** every candidate is a full path; the list shown on a double Tab keeps only
** the part after the last '.' or ':' (as IPython does), which is easier to
** scan than forty copies of "brasa.nn.".
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <readline/readline.h>

#include <lauxlib.h>
#include <lua.h>

#include "repl.h"

static lua_State *complete_L;

/* Candidates of the current completion, handed to readline one by one. */
static char **candidates;
static int ncandidates;

static void free_candidates(void) {
  for (int i = 0; i < ncandidates; i++) free(candidates[i]);
  free(candidates);
  candidates = NULL;
  ncandidates = 0;
}

/* Copies the strings of the table at the top of the stack into candidates. */
static void take_candidates(lua_State *L) {
  lua_Integer n = luaL_len(L, -1);
  free_candidates();
  if (n <= 0) return;
  candidates = calloc((size_t)n, sizeof *candidates);
  if (candidates == NULL) return;
  for (lua_Integer i = 1; i <= n; i++) {
    if (lua_geti(L, -1, i) == LUA_TSTRING) {
      char *s = strdup(lua_tostring(L, -1));
      if (s != NULL) candidates[ncandidates++] = s;
    }
    lua_pop(L, 1);
  }
}

/* readline's generator: returns the next candidate (readline frees it). */
static char *next_candidate(const char *text, int state) {
  static int i;
  (void)text;  /* the Lua side already filtered by prefix */
  if (state == 0) i = 0;
  return i < ncandidates ? strdup(candidates[i++]) : NULL;
}

/* Shows the candidates of a double Tab by their last component only. */
static void show_matches(char **matches, int num, int max_length) {
  char **shown = calloc((size_t)num + 2, sizeof *shown);
  (void)max_length;
  if (shown == NULL) return;
  int longest = 0;
  shown[0] = matches[0];
  for (int i = 1; i <= num; i++) {
    char *s = matches[i];
    char *sep = strpbrk(s, ".:");
    for (char *p = sep; p != NULL; p = strpbrk(p + 1, ".:")) sep = p;
    shown[i] = sep ? sep + 1 : s;
    int len = (int)strlen(shown[i]);
    if (len > longest) longest = len;
  }
  rl_display_match_list(shown, num, longest);
  rl_forced_update_display();
  free(shown);
}

/* readline's attempted-completion function: the whole completion logic. */
static char **attempt_completion(const char *text, int start, int end) {
  lua_State *L = complete_L;
  int top = lua_gettop(L);
  int use_files = rl_completion_quote_character != 0;
  char **matches = NULL;
  (void)end;
  rl_attempted_completion_over = 1;       /* no file names unless asked */
  rl_completion_append_character = '\0';  /* `brasa.zeros` + no space */
  rl_completion_display_matches_hook = NULL;
  if (repl_getfield(L, "complete")) {
    lua_pushstring(L, text);
    lua_pushlstring(L, rl_line_buffer, (size_t)start);
    if (rl_completion_quote_character != 0) {
      char q = (char)rl_completion_quote_character;
      lua_pushlstring(L, &q, 1);
    } else
      lua_pushnil(L);
    if (lua_pcall(L, 3, 1, 0) == LUA_OK) {
      if (lua_istable(L, -1)) {
        use_files = 0;
        take_candidates(L);
        if (ncandidates > 0) {
          matches = rl_completion_matches(text, next_candidate);
          rl_completion_display_matches_hook = show_matches;
        }
        free_candidates();
      } else if (lua_isstring(L, -1))  /* "files" */
        use_files = 1;
    }
  }
  lua_settop(L, top);
  if (use_files) {
    rl_filename_completion_desired = 1;
    matches = rl_completion_matches(text, rl_filename_completion_function);
  }
  return matches;
}

void complete_init(lua_State *L) {
  complete_L = L;
  rl_readline_name = "brasa";
  rl_attempted_completion_function = attempt_completion;
  /* Lua's operators and brackets end a word; '.' and ':' do not. */
  rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{}()[],+-*/%^~#?!";
  rl_completer_word_break_characters = rl_basic_word_break_characters;
  rl_completer_quote_characters = "\"'";
  /* One Tab both extends the common prefix and lists the choices, as in
  ** IPython. Set before readline reads ~/.inputrc, which may undo it. */
  rl_variable_bind("show-all-if-ambiguous", "on");
}
