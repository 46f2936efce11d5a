/*
** test_repl_pty.c: the REPL as a user sees it, through a pseudo-terminal.
**
** One session types what a user would and checks the screen: auto-printing
** (and `_`, `;`, `=`), a multi-line function, completion of globals,
** keywords, nested fields, methods and file names, help and ?x, %time,
** errors, Ctrl-C (in a Lua loop, at the prompt, in a continuation), and
** Ctrl-D. The tensor checks skip, saying so, when the brasa library does
** not load.
*/
#include "repl_pty.h"

/* Types text, presses Tab, and checks the cursor line then reads `want`. */
static void complete(Pty *p, const char *text, const char *want, int srcline) {
  char line[512];
  pty_set_mark(p);
  pty_send(p, text);
  pty_send(p, "\t");
  snprintf(line, sizeof line, PTY_PROMPT "%s", want);
  if (!pty_wait_cursor_line(p, line)) {
    fprintf(stderr, "line %d: completing `%s` should give `%s`\n", srcline, text, want);
    pty_dump(p);
    pty_failures++;
  }
}
#define COMPLETE(p, text, want) complete(p, text, want, __LINE__)

/* True when the word stands alone (between blanks) on a line since the mark,
** as in a completion listing. */
static bool listed_word(Pty *p, const char *word) {
  size_t n = strlen(word);
  for (int r = p->mark + 1; r < p->nlines; r++) {
    const char *t = pty_text(p, r);
    for (const char *s = strstr(t, word); s != NULL; s = strstr(s + 1, word))
      if ((s == t || s[-1] == ' ') && (s[n] == ' ' || s[n] == '\0')) return true;
  }
  return false;
}

/* True when all the words are listed since the mark. */
static bool listed(Pty *p, const char *const *words) {
  for (int i = 0; words[i]; i++)
    if (!listed_word(p, words[i])) return false;
  return true;
}

static void test_printing(Pty *p) {
  PTY_EXPECT(p, "1 + 41", "42");
  PTY_EXPECT(p, "'a' .. 'b'", "\"ab\"");
  PTY_EXPECT(p, "_ .. 'c'", "\"abc\"");
  /* a trailing ; prints nothing (and leaves _ alone) */
  PTY_CHECK(p, pty_run(p, "123400 + 56;"), "no prompt after `123400 + 56;`");
  PTY_CHECK(p, pty_find(p, "123456", false) < 0, "`123400 + 56;` printed its value");
  PTY_EXPECT(p, "print('unchanged: ' .. tostring(_))", "unchanged: abc");
  PTY_EXPECT(p, "{1, 'x', k = true, t = {y = 2.5}}", "{1, \"x\", k = true, t = {y = 2.5}}");
  PTY_EXPECT(p, "=10, nil, false", "10      nil     false");  /* tabs */
  PTY_EXPECT(p, "cyc = {}; cyc.me = cyc", "brasa> cyc = {}; cyc.me = cyc");
  PTY_EXPECT(p, "cyc", "{me = <cycle>}");
  PTY_EXPECT(p, "sq3 = {}; for i = 1, 3 do sq3[i] = i * i end; sq3", "{1, 4, 9}");
  PTY_EXPECT(p, "error('boom')", "stdin:1: boom");
  PTY_EXPECT(p, "print('still ' .. 'here')", "still here");
}

static void test_multiline(Pty *p) {
  pty_set_mark(p);
  pty_send(p, "function sq(x)\r");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT2), "no continuation prompt after `function sq(x)`");
  pty_send(p, "  return x * x\r");
  PTY_CHECK(p, pty_wait(p, PTY_PROMPT2 "  return x * x", true), "second line not shown");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT2), "no continuation prompt after the body");
  pty_send(p, "end\r");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after `end`");
  PTY_EXPECT(p, "sq(12)", "144");
  /* an incomplete expression continues too */
  pty_set_mark(p);
  pty_send(p, "{1,\r");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT2), "no continuation prompt after `{1,`");
  pty_send(p, "2}\r");
  PTY_CHECK(p, pty_wait(p, "{1, 2}", true), "multi-line table not printed");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after the table");
}

static void test_completion(Pty *p, bool have_brasa) {
  COMPLETE(p, "string.for", "string.format");
  pty_send(p, "\025");  /* Ctrl-U: clear the line */
  COMPLETE(p, "brasa_repl.pend", "brasa_repl.pending_interrupts");
  pty_send(p, "\025");
  PTY_CHECK(p, pty_run(p, "tbl = {alpha = {beta_gamma = 7}}"), "no prompt");
  COMPLETE(p, "tbl.alpha.be", "tbl.alpha.beta_gamma");
  pty_set_mark(p);
  pty_send(p, "\r");
  PTY_CHECK(p, pty_wait(p, "7", true) && pty_wait_prompt(p), "completed field did not run");
  COMPLETE(p, "whi", "while");
  pty_send(p, "\025");
  /* methods through the metatable of a string */
  PTY_CHECK(p, pty_run(p, "s = 'hello'"), "no prompt");
  COMPLETE(p, "s:up", "s:upper");
  pty_set_mark(p);
  pty_send(p, "()\r");
  PTY_CHECK(p, pty_wait(p, "\"HELLO\"", true) && pty_wait_prompt(p), "s:upper() did not run");
  /* file names inside a string literal (HOME is the working directory) */
  COMPLETE(p, "f = io.open('data_fi", "f = io.open('data_file_for_test.csv'");
  pty_send(p, ")\r");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after io.open");
  PTY_EXPECT(p, "io.type(f)", "\"file\"");
  if (!have_brasa) {
    printf("SKIP: brasa did not load: no completion of brasa.* or tensor methods\n");
    return;
  }
  COMPLETE(p, "brasa.doc.se", "brasa.doc.search");
  pty_send(p, "\025");
  COMPLETE(p, "brasa.zer", "brasa.zeros");
  pty_send(p, "\025");
  PTY_CHECK(p, pty_run(p, "x = brasa.zeros(2, 3)"), "no prompt after creating a tensor");
  /* x:m is ambiguous: one Tab lists the methods */
  pty_set_mark(p);
  pty_send(p, "x:m\t");
  static const char *const methods[] = {"matmul", "max", "mean", NULL};
  double end = pty_now() + PTY_TIMEOUT;
  while (!listed(p, methods) && pty_now() < end) pty_pump(p, 0.05);
  PTY_CHECK(p, listed(p, methods), "x:m<Tab> should list matmul, max and mean");
  pty_send(p, "\025");
  COMPLETE(p, "x:matm", "x:matmul");
  pty_send(p, "\025");
}

static void test_help(Pty *p) {
  PTY_CHECK(p, pty_run(p, "help(help)"), "no prompt after help(help)");
  PTY_CHECK(p, pty_find(p, "help(x)", true) >= 0, "help(help) should show its signature");
  PTY_CHECK(p, pty_find(p, "Shows the documentation of x", false) >= 0,
            "help(help) should show its summary");
  PTY_CHECK(p, pty_find(p, "Example:", true) >= 0, "help(help) should show an example");
  PTY_CHECK(p, pty_run(p, "?apropos"), "no prompt after ?apropos");
  PTY_CHECK(p, pty_find(p, "apropos(word)", true) >= 0, "?apropos should show its signature");
  PTY_CHECK(p, pty_run(p, "help()"), "no prompt after help()");
  PTY_CHECK(p, pty_find(p, "Topics:", true) >= 0, "help() should list topics");
  PTY_CHECK(p, pty_run(p, "apropos('median')"), "no prompt after apropos");
  PTY_CHECK(p, pty_find(p, "time ", false) >= 0, "apropos('median') should find time");
  PTY_CHECK(p, pty_run(p, "require('brasa.repl').options.time_budget = 0.05"), "no prompt");
  PTY_CHECK(p, pty_run(p, "%time math.sqrt(2)"), "no prompt after %%time");
  PTY_CHECK(p, pty_find(p, "median ", false) >= 0 && pty_find(p, " per loop (", false) >= 0,
            "%%time should print the median");
}

static void test_interrupt(Pty *p) {
  /* Ctrl-C in a running loop: the loop stops, the state stays */
  PTY_CHECK(p, pty_run(p, "kept = 41"), "no prompt");
  pty_set_mark(p);
  pty_send(p, "while true do end\r");
  PTY_CHECK(p, pty_wait(p, PTY_PROMPT "while true do end", true), "loop not echoed");
  usleep(300 * 1000);  /* let it spin */
  pty_send(p, "\003");
  PTY_CHECK(p, pty_wait(p, "interrupted!", false), "Ctrl-C did not interrupt the loop");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after the interruption");
  PTY_EXPECT(p, "kept + 1", "42");
  /* Ctrl-C at the prompt clears the line */
  pty_set_mark(p);
  pty_send(p, "garbage text");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT "garbage text"), "typed text not shown");
  pty_send(p, "\003");
  PTY_CHECK(p, pty_wait_prompt(p), "no fresh prompt after Ctrl-C at the prompt");
  PTY_EXPECT(p, "print('cc' .. 'ok')", "ccok");
  /* Ctrl-C in a continuation drops the half-typed entry */
  pty_set_mark(p);
  pty_send(p, "function half()\r");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT2), "no continuation prompt");
  pty_send(p, "\003");
  PTY_CHECK(p, pty_wait_prompt(p), "no primary prompt after Ctrl-C in a continuation");
  PTY_EXPECT(p, "print(half == nil)", "true");
  /* The protocol of fit: with deferral on, the first Ctrl-C only counts
  ** (the loop sees it and stops cleanly), the second interrupts at once. */
  pty_set_mark(p);
  pty_send(p, "brasa_repl.defer_interrupts(true); while brasa_repl.pending_interrupts() == 0 do end; "
              "print('stopped ' .. 'cleanly')\r");
  usleep(300 * 1000);
  pty_send(p, "\003");
  PTY_CHECK(p, pty_wait(p, "stopped cleanly", false), "a deferred Ctrl-C should be counted");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after the deferred Ctrl-C");
  PTY_CHECK(p, pty_find(p, "interrupted!", false) < 0, "a deferred Ctrl-C should not interrupt");
  pty_set_mark(p);
  pty_send(p, "brasa_repl.defer_interrupts(true); while true do end\r");
  usleep(300 * 1000);
  pty_send(p, "\003");
  usleep(300 * 1000);
  pty_send(p, "\003");
  PTY_CHECK(p, pty_wait(p, "interrupted!", false), "the second Ctrl-C should interrupt");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after two Ctrl-C");
  PTY_EXPECT(p, "brasa_repl.pending_interrupts()", "0");  /* reset for each entry */
}

int main(void) {
  char *home = pty_tempdir();
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/data_file_for_test.csv", home);
  FILE *f = fopen(path, "w");
  if (f) fclose(f);
  snprintf(path, sizeof path, "%s/.brasarc", home);
  f = fopen(path, "w");
  if (f) {
    fputs("rc_value = 'from ' .. 'brasarc'\n", f);
    fclose(f);
  }
  Pty *p = calloc(1, sizeof *p);
  const char *args[] = {NULL};
  if (p == NULL || !pty_start(p, home, args)) return 1;
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt at start-up");
  PTY_CHECK(p, pty_find(p, "brasa ", false) >= 0 && pty_find(p, "Lua 5.4", false) >= 0,
            "the banner should name brasa and Lua 5.4");
  PTY_CHECK(p, pty_run(p, "print(type(brasa) == 'table' and brasa.zeros and 'HAVE' .. 'BRASA' or 'NO' .. 'BRASA')"),
            "no prompt");
  bool have_brasa = pty_find(p, "HAVEBRASA", true) >= 0;
  PTY_EXPECT(p, "rc_value", "\"from brasarc\"");
  test_printing(p);
  test_multiline(p);
  test_completion(p, have_brasa);
  test_help(p);
  test_interrupt(p);
  pty_set_mark(p);
  pty_send(p, "\004");  /* Ctrl-D: a clean exit */
  int status = pty_wait_exit(p, PTY_TIMEOUT);
  PTY_CHECK(p, status == 0, "Ctrl-D should exit with status 0, got %d", status);
  free(p);
  pty_rmdir(home);
  if (pty_failures) fprintf(stderr, "%d check(s) failed\n", pty_failures);
  else printf("all REPL checks passed\n");
  return pty_failures ? 1 : 0;
}
