/*
** repl_pty.h: drive the real `brasa` executable through a pseudo-terminal
** and look at what its screen shows (used by tests/c/test_repl_*.c).
**
** A small terminal emulator keeps the screen as text: printable characters,
** CR, LF, BS, TAB, and the ANSI sequences readline sends for xterm (erase in
** line, cursor motion, insert/delete characters, insert mode); colours and
** modes it does not need are ignored. Lines that scroll off stay in the
** buffer, so a test can look at everything since a mark.
**
** The executable: $BRASA_EXE, else ../brasa next to the test binary's own
** directory (the build tree puts tests in build/tests and brasa in build/).
** Waits poll with a deadline (default 15 s) so a loaded CI machine is slow,
** not flaky. Header-only: each test includes it once.
*/
#ifndef REPL_PTY_H
#define REPL_PTY_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PTY_COLS 200   /* wide, so nothing wraps */
#define PTY_ROWS 50    /* what the child is told */
#define PTY_LINES 4000 /* lines kept, scrollback included */
#define PTY_TIMEOUT 15.0
#define PTY_PROMPT "brasa> "
#define PTY_PROMPT2 "  ...> "

typedef struct {
  pid_t pid;
  int fd;
  int status;                       /* exit status once exited, else -1 */
  char lines[PTY_LINES][PTY_COLS + 1];
  int nlines;                       /* lines in use */
  int row, col;                     /* cursor (row counts from line 0) */
  int mark;                         /* searches start at this line */
  bool fresh;                       /* nothing typed yet (see pty_wait_prompt) */
  bool insert_mode;
  int esc;                          /* parser state: 0 text, 1 ESC, 2 CSI, 3 OSC, 4 charset */
  char params[64];
  int nparams;
} Pty;

static int pty_failures;

/* ---- the terminal emulator ----------------------------------------------- */

static inline double pty_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void pty_clamp(Pty *p) {
  int top = p->nlines > PTY_ROWS ? p->nlines - PTY_ROWS : 0;
  if (p->row < top) p->row = top;
  if (p->row >= PTY_LINES) p->row = PTY_LINES - 1;
  if (p->col < 0) p->col = 0;
  if (p->col >= PTY_COLS) p->col = PTY_COLS - 1;
  if (p->row >= p->nlines) p->nlines = p->row + 1;
}

static inline char *pty_line(Pty *p, int row) {
  char *l = p->lines[row];
  if (l[0] == '\0') {  /* fresh line: blanks */
    memset(l, ' ', PTY_COLS);
    l[PTY_COLS] = '\0';
  }
  return l;
}

/* The n-th numeric parameter of the CSI sequence (def when absent). */
static inline int pty_param(Pty *p, int n, int def) {
  const char *s = p->params;
  if (*s == '?') s++;
  for (int i = 0; i < n; i++) {
    s = strchr(s, ';');
    if (s == NULL) return def;
    s++;
  }
  return (*s >= '0' && *s <= '9') ? atoi(s) : def;
}

static inline void pty_csi(Pty *p, char final) {
  char *l = pty_line(p, p->row);
  int n = pty_param(p, 0, 1);
  switch (final) {
    case 'A': p->row -= n; break;
    case 'B': p->row += n; break;
    case 'C': p->col += n; break;
    case 'D': p->col -= n; break;
    case 'G': p->col = n - 1; break;
    case 'H': case 'f': {
      int top = p->nlines > PTY_ROWS ? p->nlines - PTY_ROWS : 0;
      p->row = top + pty_param(p, 0, 1) - 1;
      p->col = pty_param(p, 1, 1) - 1;
      break;
    }
    case 'K': {
      int mode = pty_param(p, 0, 0);
      int from = mode == 0 ? p->col : 0, to = mode == 1 ? p->col + 1 : PTY_COLS;
      memset(l + from, ' ', (size_t)(to - from));
      break;
    }
    case 'J':
      if (pty_param(p, 0, 0) == 2)
        for (int r = p->nlines > PTY_ROWS ? p->nlines - PTY_ROWS : 0; r < p->nlines; r++)
          memset(pty_line(p, r), ' ', PTY_COLS);
      else {
        memset(l + p->col, ' ', (size_t)(PTY_COLS - p->col));
        for (int r = p->row + 1; r < p->nlines; r++) memset(pty_line(p, r), ' ', PTY_COLS);
      }
      break;
    case 'P':  /* delete n characters */
      if (n > PTY_COLS - p->col) n = PTY_COLS - p->col;
      memmove(l + p->col, l + p->col + n, (size_t)(PTY_COLS - p->col - n));
      memset(l + PTY_COLS - n, ' ', (size_t)n);
      break;
    case '@':  /* insert n blanks */
      if (n > PTY_COLS - p->col) n = PTY_COLS - p->col;
      memmove(l + p->col + n, l + p->col, (size_t)(PTY_COLS - p->col - n));
      memset(l + p->col, ' ', (size_t)n);
      break;
    case 'X':
      if (n > PTY_COLS - p->col) n = PTY_COLS - p->col;
      memset(l + p->col, ' ', (size_t)n);
      break;
    case 'h': case 'l':
      if (p->params[0] != '?' && pty_param(p, 0, 0) == 4) p->insert_mode = final == 'h';
      break;
    default:  /* colours (m) and modes: nothing to show */
      break;
  }
  pty_clamp(p);
}

static inline void pty_putc(Pty *p, unsigned char c) {
  switch (p->esc) {
    case 1:  /* after ESC */
      p->esc = c == '[' ? 2 : c == ']' ? 3 : (c == '(' || c == ')') ? 4 : 0;
      p->nparams = 0;
      p->params[0] = '\0';
      return;
    case 2:  /* CSI: parameters, then a final byte */
      if (c >= 0x40 && c <= 0x7e) {
        p->esc = 0;
        pty_csi(p, (char)c);
      } else if (p->nparams < (int)sizeof p->params - 1) {
        p->params[p->nparams++] = (char)c;
        p->params[p->nparams] = '\0';
      }
      return;
    case 3:  /* OSC: up to BEL (or ESC \) */
      if (c == 7 || c == 0x1b) p->esc = c == 0x1b ? 1 : 0;
      return;
    case 4:  /* charset designation: one byte */
      p->esc = 0;
      return;
  }
  switch (c) {
    case 0x1b: p->esc = 1; return;
    case '\r': p->col = 0; return;
    case '\n': p->row++; pty_clamp(p); return;
    case '\b': if (p->col > 0) p->col--; return;
    case '\t': p->col = (p->col / 8 + 1) * 8; pty_clamp(p); return;
    case 7: return;  /* bell */
  }
  if (c < 0x20) return;
  char *l = pty_line(p, p->row);
  if (p->insert_mode)
    memmove(l + p->col + 1, l + p->col, (size_t)(PTY_COLS - p->col - 1));
  l[p->col++] = (char)c;
  pty_clamp(p);
}

/* ---- the child --------------------------------------------------------------- */

/* Path of the brasa executable under test. */
static inline const char *pty_exe(void) {
  static char path[PATH_MAX + 16];
  const char *env = getenv("BRASA_EXE");
  if (env != NULL && *env != '\0') return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "brasa";
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  snprintf(path, sizeof path, "%s/../brasa", self);
  return path;
}

/* Starts brasa with the given arguments in a pty of PTY_ROWS x PTY_COLS, in
** directory home with HOME=home, TERM=xterm and no start-up files of the
** caller's own environment. Returns false (and says why) if it cannot. */
static inline bool pty_start(Pty *p, const char *home, const char *const *args) {
  memset(p, 0, sizeof *p);
  p->status = -1;
  p->fresh = true;
  struct winsize ws = {.ws_row = PTY_ROWS, .ws_col = PTY_COLS};
  const char *exe = pty_exe();
  if (access(exe, X_OK) != 0) {
    fprintf(stderr, "cannot run %s (set BRASA_EXE)\n", exe);
    return false;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = forkpty(&p->fd, NULL, NULL, &ws);
  if (pid < 0) {
    perror("forkpty");
    return false;
  }
  if (pid == 0) {
    char inputrc[PATH_MAX];
    snprintf(inputrc, sizeof inputrc, "%s/.inputrc", home);
    if (chdir(home) != 0) _exit(126);
    setenv("HOME", home, 1);
    setenv("TERM", "xterm", 1);
    setenv("INPUTRC", inputrc, 1);  /* none: readline's defaults */
    unsetenv("BRASA_INIT");
    unsetenv("BRASA_HISTORY");
    unsetenv("LUA_INIT");
    unsetenv("LUA_INIT_5_4");
    unsetenv("NO_COLOR");
    unsetenv("COLUMNS");
    unsetenv("LINES");
    const char *argv[16] = {exe};
    int n = 1;
    for (; args && args[n - 1] && n < 15; n++) argv[n] = args[n - 1];
    argv[n] = NULL;
    execv(exe, (char *const *)argv);
    _exit(127);
  }
  p->pid = pid;
  fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
  return true;
}

/* Reads what the child wrote, waiting at most `wait` seconds for the first
** byte. Returns false once the child has gone. */
static inline bool pty_pump(Pty *p, double wait) {
  struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
  if (poll(&pfd, 1, (int)(wait * 1000)) <= 0) return true;
  unsigned char buf[4096];
  for (;;) {
    ssize_t n = read(p->fd, buf, sizeof buf);
    if (n > 0) {
      for (ssize_t i = 0; i < n; i++) pty_putc(p, buf[i]);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    return false;  /* EIO: the child closed the terminal */
  }
}

static inline void pty_send(Pty *p, const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(p->fd, s, len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) {
        pty_pump(p, 0.01);
        continue;
      }
      return;
    }
    s += n;
    len -= (size_t)n;
  }
}

/* Line `row` without its trailing blanks (into a static buffer). */
static inline const char *pty_text(Pty *p, int row) {
  static char buf[PTY_COLS + 1];
  snprintf(buf, sizeof buf, "%s", row < p->nlines ? pty_line(p, row) : "");
  for (int n = (int)strlen(buf); n > 0 && buf[n - 1] == ' '; n--) buf[n - 1] = '\0';
  return buf;
}

/* Shows the screen since the mark (for failure messages). */
static inline void pty_dump(Pty *p) {
  fprintf(stderr, "---- screen since mark (cursor at row %d col %d) ----\n",
          p->row - p->mark, p->col);
  for (int r = p->mark; r < p->nlines; r++) fprintf(stderr, "|%s\n", pty_text(p, r));
  fprintf(stderr, "----\n");
}

/* Searches start at the cursor's line from now on. */
static inline void pty_set_mark(Pty *p) {
  p->mark = p->row;
  p->fresh = false;
}

/* The first line at or after the mark containing s (exact: equal to s). */
static inline int pty_find(Pty *p, const char *s, bool exact) {
  for (int r = p->mark; r < p->nlines; r++) {
    const char *t = pty_text(p, r);
    if (exact ? strcmp(t, s) == 0 : strstr(t, s) != NULL) return r;
  }
  return -1;
}

/* Waits until a line since the mark contains (or equals) s. */
static inline bool pty_wait(Pty *p, const char *s, bool exact) {
  double end = pty_now() + PTY_TIMEOUT;
  while (pty_find(p, s, exact) < 0) {
    if (pty_now() > end || !pty_pump(p, 0.05)) return pty_find(p, s, exact) >= 0;
  }
  return true;
}

/* Waits until the cursor's line, after the mark, is exactly s (ignoring
** trailing blanks) with the cursor at its end. */
static inline bool pty_wait_cursor_line(Pty *p, const char *s) {
  double end = pty_now() + PTY_TIMEOUT;
  size_t len = strlen(s);
  while (len > 0 && s[len - 1] == ' ') len--;
  for (;;) {
    const char *t = pty_text(p, p->row);
    if (p->row > p->mark - 1 && strlen(t) == len && strncmp(t, s, len) == 0 &&
        p->col == (int)strlen(s))
      return true;
    if (pty_now() > end || !pty_pump(p, 0.05)) return false;
  }
}

/* Waits for a new, empty primary prompt below the mark (at start-up, the
** first prompt anywhere). */
static inline bool pty_wait_prompt(Pty *p) {
  double end = pty_now() + PTY_TIMEOUT;
  for (;;) {
    if ((p->row > p->mark || p->fresh) && strcmp(pty_text(p, p->row), "brasa>") == 0 &&
        p->col == (int)strlen(PTY_PROMPT))
      return true;
    if (pty_now() > end || !pty_pump(p, 0.05)) return false;
  }
}

/* Waits up to `timeout` seconds for the child to exit; returns its exit
** status (or -1, after killing it). */
static inline int pty_wait_exit(Pty *p, double timeout) {
  double end = pty_now() + timeout;
  for (;;) {
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
      pty_pump(p, 0);
      close(p->fd);
      p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return p->status;
    }
    if (pty_now() > end) {
      kill(p->pid, SIGKILL);
      waitpid(p->pid, &st, 0);
      close(p->fd);
      return -1;
    }
    pty_pump(p, 0.05);
  }
}

/* ---- checks -------------------------------------------------------------------- */

#define PTY_CHECK(p, cond, ...)                                   \
  do {                                                            \
    if (!(cond)) {                                                \
      fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);     \
      fprintf(stderr, __VA_ARGS__);                               \
      fprintf(stderr, "\n");                                      \
      pty_dump(p);                                                \
      pty_failures++;                                             \
    }                                                             \
  } while (0)

/* Types a line and waits for it to show and for the next prompt below it;
** the mark is left at the typed line, so checks see the line and its output. */
static inline bool pty_run(Pty *p, const char *line) {
  char shown[PTY_COLS + 1];
  snprintf(shown, sizeof shown, PTY_PROMPT "%s", line);
  pty_set_mark(p);
  pty_send(p, line);
  pty_send(p, "\r");
  if (!pty_wait(p, shown, true)) return false;
  p->mark = pty_find(p, shown, true);
  return pty_wait_prompt(p);
}

/* Runs a line and checks that its output contains the exact line `want`. */
static inline void pty_expect(Pty *p, const char *line, const char *want, int srcline) {
  bool ok = pty_run(p, line);
  if (!ok || pty_find(p, want, true) < 0) {
    fprintf(stderr, "line %d: after typing `%s`, expected the line `%s`%s\n", srcline,
            line, want, ok ? "" : " (and no new prompt came)");
    pty_dump(p);
    pty_failures++;
  }
}
#define PTY_EXPECT(p, line, want) pty_expect(p, line, want, __LINE__)

/* A fresh directory for HOME (mkdtemp under $TMPDIR or /tmp). */
static inline char *pty_tempdir(void) {
  static char dirs[8][PATH_MAX];
  static int n;
  const char *tmp = getenv("TMPDIR");
  char *d = dirs[n++ % 8];
  snprintf(d, PATH_MAX, "%s/brasa_repl_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(d) == NULL) {
    perror("mkdtemp");
    exit(1);
  }
  return d;
}

/* Removes the temporary HOME and what is in it. */
static inline void pty_rmdir(const char *dir) {
  char cmd[PATH_MAX + 32];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
static inline char *pty_read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s != NULL) s[fread(s, 1, (size_t)n, f)] = '\0';
  fclose(f);
  return s;
}

#endif
