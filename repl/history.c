/*
** history.c: the REPL's persistent history, ~/.brasa_history.
**
** Several REPLs may run at once (two terminals, a tutorial and a session), so
** the file is never rewritten from one process's memory: each entry is
** appended as soon as it is accepted (append_history), and the file is trimmed
** to HISTORY_SIZE entries at exit (history_truncate_file, which writes a
** temporary file and renames it). Both run under an exclusive flock on a
** separate lock file: the rename replaces the history file's inode, so a lock
** on the history file itself would not exclude anybody.
**
** Entries are written with timestamps so multi-line entries (a function typed
** over several lines) come back as one entry. BRASA_HISTORY overrides the
** path; set it empty to keep no history.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "repl.h"

#define HISTORY_SIZE 1000

static char *history_path;   /* NULL: no history file */
static char *lock_path;

/* Returns a malloc'd copy of a + b. */
static char *concat(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (s == NULL) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

/* Takes the lock; returns its descriptor (or -1, and we go on unlocked: a
** lost entry is better than a REPL that refuses to start). */
static int lock_history(void) {
  int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) flock(fd, LOCK_EX);
  return fd;
}

static void unlock_history(int fd) {
  if (fd >= 0) close(fd);  /* closing releases the flock */
}

void history_open(void) {
  const char *env = getenv("BRASA_HISTORY");
  if (env != NULL) {
    if (*env == '\0') return;
    history_path = concat(env, "");
  } else {
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0') return;
    history_path = concat(home, "/.brasa_history");
  }
  lock_path = history_path ? concat(history_path, ".lock") : NULL;
  if (history_path == NULL || lock_path == NULL) {
    free(history_path);
    history_path = NULL;
    return;
  }
  history_comment_char = '#';  /* timestamps are written as #<seconds> */
  history_write_timestamps = 1;
  history_multiline_entries = 1;
  using_history();
  stifle_history(HISTORY_SIZE);
  int fd = lock_history();
  read_history(history_path);  /* a missing file is fine */
  unlock_history(fd);
}

/* True when s holds only white space. */
static int blank(const char *s) {
  return s[strspn(s, " \t\r\n")] == '\0';
}

void history_add(const char *entry) {
  if (blank(entry)) return;
  HIST_ENTRY *last = history_length > 0
                         ? history_get(history_base + history_length - 1)
                         : NULL;
  if (last != NULL && strcmp(last->line, entry) == 0) return;
  add_history(entry);
  if (history_path == NULL) return;
  int fd = lock_history();
  /* append_history does not create the file. */
  int hf = open(history_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (hf >= 0) {
    close(hf);
    append_history(1, history_path);
  }
  unlock_history(fd);
}

void history_close(void) {
  if (history_path == NULL) return;
  int fd = lock_history();
  history_truncate_file(history_path, HISTORY_SIZE);
  unlock_history(fd);
}
