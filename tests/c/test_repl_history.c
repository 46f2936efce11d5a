/*
** test_repl_history.c: ~/.brasa_history across sessions, through a pty.
**
** Session 1 types entries (one twice in a row, one over several lines) and
** quits with Ctrl-D; the file must hold each once, the multi-line one whole.
** Session 2 finds an entry with reverse search (Ctrl-R) and runs it again.
** Two sessions at once both keep their entries; a history longer than the
** limit is trimmed to it at exit.
*/
#include "repl_pty.h"

#define HISTORY_LIMIT 1000

/* How many times `needle` occurs in s. */
static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
  return n;
}

/* Entries in a history file: lines that are not "#<timestamp>" lines. */
static int entries(const char *s) {
  int n = 0;
  for (const char *p = s; *p;) {
    const char *nl = strchr(p, '\n');
    if (!(p[0] == '#' && p[1] >= '0' && p[1] <= '9')) n++;
    if (nl == NULL) break;
    p = nl + 1;
  }
  return n;
}

static Pty *start(const char *home) {
  static Pty sessions[2];
  static int next;
  Pty *p = &sessions[next++ % 2];
  const char *args[] = {"-q", NULL};
  if (!pty_start(p, home, args)) exit(1);
  if (!pty_wait_prompt(p)) {
    fprintf(stderr, "no prompt at start-up\n");
    pty_dump(p);
    exit(1);
  }
  return p;
}

static void quit(Pty *p) {
  pty_send(p, "\004");
  int status = pty_wait_exit(p, PTY_TIMEOUT);
  PTY_CHECK(p, status == 0, "Ctrl-D should exit with status 0, got %d", status);
}

static void test_two_sessions(const char *home, const char *file) {
  Pty *p = start(home);
  PTY_CHECK(p, pty_run(p, "histmark = 12345"), "no prompt");
  PTY_CHECK(p, pty_run(p, "dup = 1"), "no prompt");
  PTY_CHECK(p, pty_run(p, "dup = 1"), "no prompt");
  pty_send(p, "function hf()\r");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT2), "no continuation prompt");
  pty_send(p, "  return 7\r");
  PTY_CHECK(p, pty_wait_cursor_line(p, PTY_PROMPT2), "no continuation prompt");
  pty_set_mark(p);
  pty_send(p, "end\r");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after the function");
  quit(p);

  char *s = pty_read_file(file);
  PTY_CHECK(p, s != NULL, "no history file %s after the first session", file);
  if (s == NULL) return;
  PTY_CHECK(p, count(s, "histmark = 12345\n") == 1, "histmark entry missing:\n%s", s);
  PTY_CHECK(p, count(s, "dup = 1\n") == 1, "a repeated entry should be kept once:\n%s", s);
  PTY_CHECK(p, count(s, "function hf()\n  return 7\nend\n") == 1,
            "the multi-line entry should be kept whole:\n%s", s);
  free(s);

  p = start(home);
  pty_set_mark(p);
  pty_send(p, "\022histm");  /* Ctrl-R: reverse search */
  PTY_CHECK(p, pty_wait(p, "histmark = 12345", false), "reverse search did not find histmark");
  pty_send(p, "\r");
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after running the found entry");
  PTY_EXPECT(p, "print(histmark + 1)", "12346");
  pty_set_mark(p);
  pty_send(p, "\020\020\020\r");  /* Ctrl-P thrice: back to the function */
  PTY_CHECK(p, pty_wait_prompt(p), "no prompt after recalling an entry");
  PTY_EXPECT(p, "hf and hf() + 1", "8");
  quit(p);
}

static void test_concurrent(const char *home, const char *file) {
  Pty *a = start(home), *b = start(home);
  PTY_CHECK(a, pty_run(a, "from_a = 1"), "no prompt in session a");
  PTY_CHECK(b, pty_run(b, "from_b = 2"), "no prompt in session b");
  PTY_CHECK(a, pty_run(a, "again_a = 3"), "no prompt in session a");
  quit(b);
  quit(a);
  char *s = pty_read_file(file);
  PTY_CHECK(a, s && count(s, "from_a = 1\n") == 1 && count(s, "from_b = 2\n") == 1 &&
                   count(s, "again_a = 3\n") == 1,
            "both sessions' entries should be kept:\n%s", s ? s : "(no file)");
  free(s);
}

static void test_limit(const char *home, const char *file) {
  FILE *f = fopen(file, "w");
  if (f == NULL) return;
  for (int i = 0; i < HISTORY_LIMIT + 500; i++) fprintf(f, "#1700000000\nold_entry_%d = %d\n", i, i);
  fclose(f);
  Pty *p = start(home);
  PTY_CHECK(p, pty_run(p, "newest = 1"), "no prompt");
  quit(p);
  char *s = pty_read_file(file);
  int n = s ? entries(s) : -1;
  PTY_CHECK(p, n > 0 && n <= HISTORY_LIMIT, "history should be trimmed to %d entries, has %d",
            HISTORY_LIMIT, n);
  PTY_CHECK(p, s && strstr(s, "newest = 1\n") && !strstr(s, "old_entry_0 ="),
            "trimming should keep the newest entries");
  free(s);
}

int main(void) {
  char *home = pty_tempdir();
  char file[PATH_MAX];
  snprintf(file, sizeof file, "%s/.brasa_history", home);
  test_two_sessions(home, file);
  test_concurrent(home, file);
  test_limit(home, file);
  pty_rmdir(home);
  if (pty_failures) fprintf(stderr, "%d check(s) failed\n", pty_failures);
  else printf("all history checks passed\n");
  return pty_failures ? 1 : 0;
}
