/*
** test_repl_lesson_pty.c: a lesson started from the shell, as a learner
** meets it on a terminal (`brasa --lesson id`).
**
** The lesson's prompt is the REPL's own line editor: a line of Lua typed
** there runs in the REPL's globals and joins the history (the up arrow
** brings it back), while the lesson's commands (n, q...) stay out of it;
** after `q` the REPL prompt follows with the lesson's variables in place,
** and the history file keeps the Lua lines when brasa exits. Skips, saying
** so, when the brasa library does not load.
*/
#include "repl_pty.h"

#define LESSON_PROMPT "tensors_and_autograd 1/7> "

int main(void) {
  char *home = pty_tempdir();
  Pty *p = calloc(1, sizeof *p);
  const char *args[] = {"--lesson", "tensors_and_autograd", "--lang", "en", NULL};
  if (p == NULL || home == NULL || !pty_start(p, home, args)) return 1;
  if (!pty_wait_cursor_line(p, LESSON_PROMPT)) {
    if (pty_find(p, "module 'brasa", false) >= 0) {
      printf("SKIP: the brasa library does not load here\n");
      return 0;
    }
    PTY_CHECK(p, false, "no lesson prompt after start-up");
    pty_dump(p);
    return 1;
  }
  PTY_CHECK(p, pty_find(p, "Step 1 of 7", false) >= 0, "the first step is not shown");

  /* Lua at the lesson's prompt runs, and the up arrow recalls it. */
  pty_set_mark(p);
  pty_send(p, "x = 40 + 2\r");
  PTY_CHECK(p, pty_wait_cursor_line(p, LESSON_PROMPT), "no lesson prompt after a Lua line");
  pty_send(p, "\033[A");
  PTY_CHECK(p, pty_wait_cursor_line(p, LESSON_PROMPT "x = 40 + 2"),
            "the up arrow does not bring back the Lua line (no readline history in the lesson)");
  pty_send(p, "\025");   /* Ctrl-U: clear the recalled line */
  PTY_CHECK(p, pty_wait_cursor_line(p, LESSON_PROMPT), "Ctrl-U did not clear the line");

  /* A command: the lesson ends, the REPL follows with x defined. */
  pty_set_mark(p);
  pty_send(p, "q\r");
  PTY_CHECK(p, pty_wait(p, "You left the lesson at step 1", false), "q did not leave the lesson");
  PTY_CHECK(p, pty_wait_prompt(p), "no REPL prompt after the lesson");
  PTY_EXPECT(p, "x", "42");
  PTY_EXPECT(p, "type(brasa_repl.readline)", "\"function\"");

  pty_set_mark(p);
  pty_send(p, "\004");
  int status = pty_wait_exit(p, PTY_TIMEOUT);
  PTY_CHECK(p, status == 0, "Ctrl-D should exit with status 0, got %d", status);

  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/.brasa_history", home);
  char *hist = pty_read_file(path);
  PTY_CHECK(p, hist != NULL, "no history file at %s", path);
  if (hist) {
    PTY_CHECK(p, strstr(hist, "\nx = 40 + 2\n") != NULL || strncmp(hist, "x = 40 + 2\n", 11) == 0,
              "the Lua line typed in the lesson is not in the history:\n%s", hist);
    PTY_CHECK(p, strstr(hist, "\nq\n") == NULL, "the lesson command q went into the history:\n%s", hist);
    free(hist);
  }
  free(p);
  pty_rmdir(home);
  if (pty_failures) fprintf(stderr, "%d check(s) failed\n", pty_failures);
  else printf("all lesson-prompt checks passed\n");
  return pty_failures ? 1 : 0;
}
