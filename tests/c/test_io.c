/*
** test_io.c: the readers and writers of core/io/ and the loader's batch
** gathering:
**   CSV: values, quotes, line ends, missing values, column selection, and
**     errors naming the line (ragged rows, bad quotes, NUL bytes);
**   text files of numbers (FANN);
**   IDX: every element type, big-endian data, and corrupt headers (bad
**     magic, bad types, absurd dims, truncation) refused before any memory
**     is taken for the data;
**   safetensors: round trips of every dtype and several shapes, a file
**     written by hand from the format's description, corrupt headers
**     (each a clear error), and atomic writes: a failed write and a killed
**     one leave the previous file intact;
**   fuzz-ish: random truncations and byte flips of valid CSV, IDX (plain
**     and gzip) and safetensors files give a clean error or a valid
**     result, never a crash (run under the ASan build too);
**   the loader: gathered rows, background batches equal to direct ones,
**     dropped and pending batches, errors.
** Gzip files are written by hand (stored deflate blocks), so the test needs
** no zlib of its own.
** Prints "N passed, M failed"; exits nonzero on any failure.
*/
#include "brasa.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIN(a, b) ((a) < (b) ? (a) : (b))

static int passed, failed;
static const char *current_test = "";

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (cond) passed++;                                                                   \
    else {                                                                                \
      failed++;                                                                           \
      fprintf(stderr, "FAIL %s (%s:%d): %s\n", current_test, __FILE__, __LINE__, #cond); \
    }                                                                                     \
  } while (0)

#define CHECK_MSG(cond, ...)                                                              \
  do {                                                                                    \
    if (cond) passed++;                                                                   \
    else {                                                                                \
      failed++;                                                                           \
      fprintf(stderr, "FAIL %s (%s:%d): %s: ", current_test, __FILE__, __LINE__, #cond);  \
      fprintf(stderr, __VA_ARGS__);                                                       \
      fputc('\n', stderr);                                                                \
    }                                                                                     \
  } while (0)

/* The call failed (NULL or < 0) and its message has each given string. */
static bool err_has(const char *a, const char *b, const char *c) {
  const char *m = bt_errmsg();
  return m && (!a || strstr(m, a)) && (!b || strstr(m, b)) && (!c || strstr(m, c));
}

#define CHECK_ERR(failed_, a, b, c) \
  CHECK_MSG((failed_) && err_has(a, b, c), "message: '%s'", bt_errmsg())

/* ---- files ------------------------------------------------------------------- */

static char dir[64];

static const char *tmp_path(const char *name) {
  static char bufs[4][256];
  static int next;
  char *b = bufs[next++ & 3];
  if (snprintf(b, 256, "%s/%s", dir, name) >= 256) abort();
  return b;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  if (n) fwrite(data, 1, n, f);
  fclose(f);
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  *n = fread(b, 1, (size_t)len, f);
  fclose(f);
  return b;
}

/* Files in dir whose name contains s. */
static int count_files(const char *s) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, s) != NULL;
  if (d) closedir(d);
  return n;
}

static void remove_dir(void) {
  DIR *d = opendir(dir);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
    const char *p = tmp_path(e->d_name);
    if (remove(p) != 0) rmdir(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

/* ---- gzip by hand: stored deflate blocks, CRC-32 ------------------------------ */

static uint32_t crc32_of(const unsigned char *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xEDB88320u : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

/* A gzip file of data; *n gets its size. */
static unsigned char *gzip_stored(const unsigned char *data, size_t len, size_t *n) {
  size_t blocks = len / 65535 + 1;
  unsigned char *g = malloc(10 + len + 5 * blocks + 8), *w = g;
  static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  memcpy(w, head, 10);
  w += 10;
  size_t at = 0;
  do {
    size_t k = len - at < 65535 ? len - at : 65535;
    *w++ = at + k == len;   /* BFINAL, BTYPE 00 */
    *w++ = (unsigned char)k;
    *w++ = (unsigned char)(k >> 8);
    *w++ = (unsigned char)~k;
    *w++ = (unsigned char)(~k >> 8);
    memcpy(w, data + at, k);
    w += k;
    at += k;
  } while (at < len);
  uint32_t crc = crc32_of(data, len), size = (uint32_t)len;
  for (int k = 0; k < 4; k++) *w++ = (unsigned char)(crc >> (8 * k));
  for (int k = 0; k < 4; k++) *w++ = (unsigned char)(size >> (8 * k));
  *n = (size_t)(w - g);
  return g;
}

/* ---- a small deterministic generator for the fuzz tests ------------------ */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A copy of data (len bytes) with random damage: a truncation, or 1 to 4
** bytes changed (to random values or to characters that matter to the
** parsers). */
static unsigned char *damage(const unsigned char *data, size_t len, size_t *out_len) {
  static const unsigned char special[] = {'"', ',', '\n', '\r', '\0', '{', '}', '[', ']', ':',
                                          '\\', ' ', 0xFF, 0x80, '0', '9'};
  unsigned char *d = malloc(len + 1);
  memcpy(d, data, len);
  size_t n = len;
  if (rnd() % 3 == 0) {
    n = (size_t)(rnd() % len);
  } else {
    int flips = 1 + (int)(rnd() % 4);
    for (int k = 0; k < flips; k++) {
      size_t at = (size_t)(rnd() % len);
      d[at] = rnd() % 2 ? (unsigned char)rnd() : special[rnd() % sizeof special];
    }
  }
  d[n] = 0;
  *out_len = n;
  return d;
}

/* ---- CSV ------------------------------------------------------------------------ */

/* bt_parse_csv on a copy of a C string (with its NUL). */
static bt_Csv *csv_of(const char *text, const bt_CsvOptions *o) {
  size_t n = strlen(text);
  char *copy = malloc(n + 1);
  memcpy(copy, text, n + 1);
  bt_Csv *c = bt_parse_csv(copy, n, "t.csv", o);
  free(copy);
  return c;
}

static bool column_is(const bt_Csv *c, int j, const double *want) {
  const bt_Tensor *v = c->cols[j].values;
  if (!v || bt_numel(v) != c->nrows) return false;
  for (int64_t i = 0; i < c->nrows; i++) {
    double got = bt_get_flat(v, i);
    if (!(got == want[i] || (isnan(got) && isnan(want[i])))) return false;
  }
  return true;
}

static void test_csv_values(void) {
  current_test = "csv_values";
  bt_Csv *c = csv_of("\xEF\xBB\xBFname,age , score\r\n"
                     "\"Smith, J\",42,3.5\r\n"
                     "\n"
                     "  Doe  , 7 ,-1e3\r\n"
                     "\"say \"\"hi\"\"\nthere\",0,inf\r\n", NULL);
  CHECK_MSG(c != NULL, "%s", bt_errmsg());
  if (!c) return;
  CHECK(c->nrows == 3 && c->ncols == 3);
  CHECK(strcmp(c->cols[0].name, "name") == 0 && strcmp(c->cols[1].name, "age") == 0 &&
        strcmp(c->cols[2].name, "score") == 0);
  CHECK(c->cols[0].strings && !c->cols[0].values);
  CHECK(strcmp(c->cols[0].strings[0], "Smith, J") == 0);
  CHECK(strcmp(c->cols[0].strings[1], "Doe") == 0);
  CHECK(strcmp(c->cols[0].strings[2], "say \"hi\"\nthere") == 0);
  CHECK(column_is(c, 1, (double[]){42, 7, 0}));
  CHECK(column_is(c, 2, (double[]){3.5, -1000, INFINITY}));
  CHECK(c->cols[1].values->dtype == BT_F32);
  bt_csv_free(c);

  /* No header, another separator, f64, hexadecimal stays text. */
  bt_CsvOptions o;
  bt_csv_options_init(&o);
  o.header = false;
  o.sep = ';';
  o.dtype = BT_F64;
  c = csv_of("1;0x1F;2.5\n2;0x20;0.1\n", &o);
  CHECK(c && c->ncols == 3 && strcmp(c->cols[0].name, "V1") == 0);
  CHECK(c && c->cols[1].strings && c->cols[2].values && c->cols[2].values->dtype == BT_F64);
  CHECK(c && bt_get_flat(c->cols[2].values, 1) == 0.1);
  bt_csv_free(c);

  /* Duplicate and empty names are made unique; skip_lines; selection. */
  bt_csv_options_init(&o);
  o.skip_lines = 2;
  c = csv_of("# a comment\n# another\na,a,,b\n1,2,3,4\n", &o);
  CHECK(c && strcmp(c->cols[1].name, "a.1") == 0 && strcmp(c->cols[2].name, "V3") == 0);
  bt_csv_free(c);
  const char *names[] = {"b", NULL};
  const int index[] = {0, 0};
  bt_csv_options_init(&o);
  o.nselect = 2;
  o.select_names = names;
  o.select_index = index;
  c = csv_of("a,b,c\n1,2,x\n3,4,y\n", &o);
  CHECK(c && c->ncols == 2 && strcmp(c->cols[0].name, "b") == 0 && strcmp(c->cols[1].name, "a") == 0);
  CHECK(c && column_is(c, 0, (double[]){2, 4}));
  bt_csv_free(c);
  const char *bad_name[] = {"nope"};
  o.nselect = 1;
  o.select_names = bad_name;
  CHECK_ERR(!csv_of("a,b\n1,2\n", &o), "no column named 'nope'", NULL, NULL);
  o.select_names = NULL;
  o.select_index = (const int[]){5};
  CHECK_ERR(!csv_of("a,b\n1,2\n", &o), "column 6 out of range", NULL, NULL);
}

static void test_csv_missing(void) {
  current_test = "csv_missing";
  const char *text = "a,b,c\n1,x,2\n2,,3\n3,y,NA\n4,z,5\n";
  CHECK_ERR(!csv_of(text, NULL), "t.csv: line 3", "column 'b' (2): missing value", NULL);
  bt_CsvOptions o;
  bt_csv_options_init(&o);
  o.missing = BT_MISSING_NAN;
  bt_Csv *c = csv_of(text, &o);
  CHECK(c && c->nrows == 4);
  CHECK(c && column_is(c, 2, (double[]){2, 3, NAN, 5}) && c->cols[2].nmissing == 1);
  CHECK(c && strcmp(c->cols[1].strings[1], "") == 0 && c->cols[1].nmissing == 1);
  bt_csv_free(c);
  o.missing = BT_MISSING_DROP;
  c = csv_of(text, &o);
  CHECK(c && c->nrows == 2 && c->ndropped == 2);
  CHECK(c && c->dropped_lines[0] == 3 && c->dropped_lines[1] == 4);
  CHECK(c && column_is(c, 0, (double[]){1, 4}));
  bt_csv_free(c);
  /* A quoted empty field is an empty string, not a missing value. */
  c = csv_of("a,b\n1,\"\"\n2,x\n", NULL);
  CHECK(c && c->cols[1].strings && c->cols[1].nmissing == 0);
  bt_csv_free(c);
  /* Custom missing markers. */
  bt_csv_options_init(&o);
  o.missing = BT_MISSING_NAN;
  o.nna = 1;
  o.na_values = (const char *const[]){"-999"};
  c = csv_of("a\n1\n-999\nNA\n", &o);
  CHECK(c && c->cols[0].strings != NULL);   /* NA is text now */
  bt_csv_free(c);
  c = csv_of("a\n1\n-999\n", &o);
  CHECK(c && column_is(c, 0, (double[]){1, NAN}));
  bt_csv_free(c);
}

static void test_csv_errors(void) {
  current_test = "csv_errors";
  CHECK_ERR(!csv_of("a,b,c\n1,2,3\n4,5\n", NULL), "line 3", "2 fields where line 1 has 3", NULL);
  CHECK_ERR(!csv_of("a,b\n1,2\n3,4,5\n", NULL), "line 3", "3 fields", NULL);
  CHECK_ERR(!csv_of("a,b\n1,2\n3,\"4\n5,6\n", NULL), "line 3", "never closes", NULL);
  CHECK_ERR(!csv_of("a,b\n1,2\n3,4\"5\n", NULL), "line 3", "quote inside an unquoted field", NULL);
  CHECK_ERR(!csv_of("a,b\n1,\"2\"x\n", NULL), "line 2", "'x' after a closing quote", NULL);
  CHECK_ERR(!csv_of("", NULL), "no data", NULL, NULL);
  CHECK_ERR(!csv_of("\n\n  \n", NULL), "no data", NULL, NULL);
  char nul[] = "a,b\n1,2\n3,\0\n";
  CHECK_ERR(!bt_parse_csv(nul, sizeof nul - 1, "n.csv", NULL), "n.csv: line 3", "NUL byte", NULL);
  bt_CsvOptions o;
  bt_csv_options_init(&o);
  o.skip_lines = 5;
  CHECK_ERR(!csv_of("a\n1\n", &o), "fewer than 5 lines", NULL, NULL);
  bt_csv_options_init(&o);
  o.dtype = BT_I64;
  CHECK_ERR(!csv_of("a\n1\n", &o), "float dtype", NULL, NULL);
  bt_csv_options_init(&o);
  o.sep = '"';
  CHECK_ERR(!csv_of("a\n1\n", &o), "separator", NULL, NULL);
  CHECK_ERR(!bt_read_csv(tmp_path("missing.csv"), NULL), "cannot open", "missing.csv", NULL);
  /* The last record without a line end, and a record truncated mid-way. */
  bt_Csv *c = csv_of("a,b\n1,2", NULL);
  CHECK(c && c->nrows == 1);
  bt_csv_free(c);
  CHECK_ERR(!csv_of("a,b\n1,2\n3", NULL), "line 3", "1 field", NULL);
}

static const char *CSV_SAMPLE =
  "id,name,height,weight,note\n"
  "1,\"Ada, L\",1.65,60.5,\"said \"\"hi\"\"\"\n"
  "2,Bob,1.80,80,\"two\nlines\"\n"
  "3,Cy,1.72,NA,plain\n"
  "4,\"Dee\",1.55,50.25,\"\"\n";

static void test_csv_gzip(void) {
  current_test = "csv_gzip";
  size_t len = strlen(CSV_SAMPLE), n;
  unsigned char *gz = gzip_stored((const unsigned char *)CSV_SAMPLE, len, &n);
  write_file(tmp_path("s.csv.gz"), gz, n);
  write_file(tmp_path("s.csv"), CSV_SAMPLE, len);
  bt_CsvOptions o;
  bt_csv_options_init(&o);
  o.missing = BT_MISSING_NAN;
  bt_Csv *a = bt_read_csv(tmp_path("s.csv.gz"), &o), *b = bt_read_csv(tmp_path("s.csv"), &o);
  CHECK_MSG(a && b, "%s", bt_errmsg());
  CHECK(a && b && a->nrows == 4 && b->nrows == 4 && a->ncols == 5);
  CHECK(a && column_is(a, 3, (double[]){60.5, 80, NAN, 50.25}));
  CHECK(a && strcmp(a->cols[4].strings[1], "two\nlines") == 0);
  bt_csv_free(a);
  bt_csv_free(b);
  /* A gzip file cut short, and one with a wrong checksum. */
  write_file(tmp_path("cut.csv.gz"), gz, n - 20);
  CHECK_ERR(!bt_read_csv(tmp_path("cut.csv.gz"), &o), "read_csv", "cut.csv.gz", NULL);
  gz[n - 6] ^= 0x55;
  write_file(tmp_path("crc.csv.gz"), gz, n);
  CHECK_ERR(!bt_read_csv(tmp_path("crc.csv.gz"), &o), "corrupt", NULL, NULL);
  free(gz);
}

/* Damaged copies of a valid CSV give a result or an error naming the
** reader (and a line, for errors found while parsing), never a crash. */
static void test_csv_fuzz(void) {
  current_test = "csv_fuzz";
  size_t len = strlen(CSV_SAMPLE);
  int errors = 0, results = 0, bad = 0;
  for (int it = 0; it < 3000; it++) {
    size_t n;
    unsigned char *d = damage((const unsigned char *)CSV_SAMPLE, len, &n);
    bt_CsvOptions o;
    bt_csv_options_init(&o);
    o.missing = (bt_MissingPolicy)(it % 3);
    bt_Csv *c = bt_parse_csv((char *)d, n, "f.csv", &o);
    if (c) {
      results++;
      for (int j = 0; j < c->ncols; j++)
        if (!c->cols[j].values == !c->cols[j].strings) bad++;
      bt_csv_free(c);
    } else {
      errors++;
      const char *m = bt_errmsg();
      if (!strstr(m, "read_csv: f.csv: ") || !(strstr(m, "line ") || strstr(m, "no data"))) {
        if (bad++ < 5) fprintf(stderr, "  unexpected message: %s\n", m);
      }
    }
    free(d);
  }
  CHECK_MSG(bad == 0, "%d bad results or messages", bad);
  CHECK(errors > 100 && results > 100);
  /* A gzip file cut at any point past its 10-byte header is an error (the
  ** stream ends early); cut inside the header it reads as a plain file. */
  size_t gn;
  unsigned char *gz = gzip_stored((const unsigned char *)CSV_SAMPLE, len, &gn);
  bt_CsvOptions o;
  bt_csv_options_init(&o);
  o.missing = BT_MISSING_NAN;
  int cut_errors = 0;
  for (size_t cut = 0; cut < gn; cut++) {
    write_file(tmp_path("fz.csv.gz"), gz, cut);
    bt_Csv *c = bt_read_csv(tmp_path("fz.csv.gz"), &o);
    if (cut >= 10) cut_errors += c == NULL && strstr(bt_errmsg(), "read_csv") != NULL;
    bt_csv_free(c);
  }
  CHECK_MSG(cut_errors == (int)gn - 10, "%d of %d", cut_errors, (int)gn - 10);
  free(gz);
}

static void test_read_numbers(void) {
  current_test = "read_numbers";
  const char *text = "3 2 1\n0.5 -1 \n1\n1e2\t2\r\n0\n\n0 0\n1\n";
  write_file(tmp_path("n.train"), text, strlen(text));
  bt_Tensor *t = bt_read_numbers(tmp_path("n.train"));
  CHECK_MSG(t != NULL, "%s", bt_errmsg());
  if (t) {
    CHECK(t->dtype == BT_F64 && bt_numel(t) == 12);
    CHECK(bt_get_flat(t, 3) == 0.5 && bt_get_flat(t, 4) == -1 && bt_get_flat(t, 6) == 100);
  }
  bt_release(t);
  write_file(tmp_path("bad.train"), "1 2 1\n0.5 x1\n", 13);
  CHECK_ERR(!bt_read_numbers(tmp_path("bad.train")), "line 2", "'x1' is not a number", NULL);
  write_file(tmp_path("empty.train"), "", 0);
  t = bt_read_numbers(tmp_path("empty.train"));
  CHECK(t && bt_numel(t) == 0);
  bt_release(t);
}

/* ---- IDX ------------------------------------------------------------------------- */

/* An IDX file: type code, dims, then data already big-endian. */
static unsigned char *idx_file(int type, int ndim, const uint32_t *dims, const void *data,
                               size_t nbytes, size_t *n) {
  unsigned char *b = malloc(4 + 4 * (size_t)ndim + nbytes), *w = b;
  *w++ = 0;
  *w++ = 0;
  *w++ = (unsigned char)type;
  *w++ = (unsigned char)ndim;
  for (int d = 0; d < ndim; d++) {
    *w++ = (unsigned char)(dims[d] >> 24);
    *w++ = (unsigned char)(dims[d] >> 16);
    *w++ = (unsigned char)(dims[d] >> 8);
    *w++ = (unsigned char)dims[d];
  }
  memcpy(w, data, nbytes);
  *n = 4 + 4 * (size_t)ndim + nbytes;
  return b;
}

static void test_idx(void) {
  current_test = "idx";
  unsigned char u8[24];
  for (int i = 0; i < 24; i++) u8[i] = (unsigned char)(i * 10);
  size_t n;
  unsigned char *f = idx_file(0x08, 3, (uint32_t[]){2, 3, 4}, u8, 24, &n);
  write_file(tmp_path("a.idx"), f, n);
  bt_Tensor *t = bt_read_idx(tmp_path("a.idx"));
  CHECK_MSG(t && t->dtype == BT_U8 && t->ndim == 3 && t->shape[2] == 4, "%s", bt_errmsg());
  CHECK(t && bt_get_flat(t, 23) == 230);
  bt_release(t);
  size_t gn;
  unsigned char *gz = gzip_stored(f, n, &gn);
  write_file(tmp_path("a.idx.gz"), gz, gn);
  t = bt_read_idx(tmp_path("a.idx.gz"));
  CHECK(t && bt_numel(t) == 24 && bt_get_flat(t, 5) == 50);
  bt_release(t);
  free(gz);
  free(f);

  /* i32, f32 and f64 are big-endian in the file. */
  unsigned char i32be[8] = {0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 0};
  f = idx_file(0x0C, 1, (uint32_t[]){2}, i32be, 8, &n);
  write_file(tmp_path("i.idx"), f, n);
  free(f);
  t = bt_read_idx(tmp_path("i.idx"));
  CHECK(t && t->dtype == BT_I32 && bt_get_flat(t, 0) == -2 && bt_get_flat(t, 1) == 256);
  bt_release(t);
  unsigned char f32be[4] = {0x3F, 0xC0, 0, 0};   /* 1.5 */
  f = idx_file(0x0D, 2, (uint32_t[]){1, 1}, f32be, 4, &n);
  write_file(tmp_path("f.idx"), f, n);
  free(f);
  t = bt_read_idx(tmp_path("f.idx"));
  CHECK(t && t->dtype == BT_F32 && bt_get_flat(t, 0) == 1.5);
  bt_release(t);
  unsigned char f64be[8] = {0xC0, 0x04, 0, 0, 0, 0, 0, 0};   /* -2.5 */
  f = idx_file(0x0E, 1, (uint32_t[]){1}, f64be, 8, &n);
  write_file(tmp_path("d.idx"), f, n);
  free(f);
  t = bt_read_idx(tmp_path("d.idx"));
  CHECK(t && t->dtype == BT_F64 && bt_get_flat(t, 0) == -2.5);
  bt_release(t);
}

static void test_idx_corrupt(void) {
  current_test = "idx_corrupt";
  unsigned char u8[24] = {0};
  size_t n;
  unsigned char *f = idx_file(0x08, 3, (uint32_t[]){2, 3, 4}, u8, 24, &n);
  unsigned char *c = malloc(n);

  memcpy(c, f, n);
  c[1] = 1;
  write_file(tmp_path("c.idx"), c, n);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "not an IDX file", NULL, NULL);
  memcpy(c, f, n);
  c[2] = 0x42;
  write_file(tmp_path("c.idx"), c, n);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "unsupported element type 0x42", NULL, NULL);
  memcpy(c, f, n);
  c[3] = 0;
  write_file(tmp_path("c.idx"), c, n);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "0 dims", NULL, NULL);
  c[3] = 200;
  write_file(tmp_path("c.idx"), c, n);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "200 dims", NULL, NULL);
  write_file(tmp_path("c.idx"), f, 2);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "read_idx", "ends early", NULL);
  write_file(tmp_path("c.idx"), f, 9);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "read_idx", "ends early", NULL);
  write_file(tmp_path("c.idx"), f, n - 1);
  CHECK_ERR(!bt_read_idx(tmp_path("c.idx")), "read_idx", "c.idx", NULL);
  CHECK_ERR(!bt_read_idx(tmp_path("none.idx")), "cannot open", "none.idx", NULL);

  /* Absurd dims: more elements than int64 holds, and sizes far beyond the
  ** data present. The second must fail without taking memory for the
  ** claimed size: with every allocation made to fail, the message still
  ** speaks of the file, not of memory. */
  unsigned char *big = idx_file(0x08, 3, (uint32_t[]){0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, u8, 24, &n);
  write_file(tmp_path("big.idx"), big, n);
  CHECK_ERR(!bt_read_idx(tmp_path("big.idx")), "read_idx", NULL, NULL);
  free(big);
  big = idx_file(0x0E, 2, (uint32_t[]){0x40000000u, 8}, u8, 24, &n);   /* claims 64 GB */
  write_file(tmp_path("big.idx"), big, n);
  bt_fail_alloc_after(0);
  bool failed_read = bt_read_idx(tmp_path("big.idx")) == NULL;
  bt_fail_alloc_after(-1);
  CHECK_ERR(failed_read, "read_idx", "big.idx", NULL);
  CHECK_MSG(!strstr(bt_errmsg(), "memory") && !strstr(bt_errmsg(), "allocat"), "%s", bt_errmsg());
  size_t gn;
  unsigned char *gz = gzip_stored(big, n, &gn);
  write_file(tmp_path("big.idx.gz"), gz, gn);
  bt_fail_alloc_after(0);
  failed_read = bt_read_idx(tmp_path("big.idx.gz")) == NULL;
  bt_fail_alloc_after(-1);
  CHECK_ERR(failed_read, "read_idx", "big.idx.gz", NULL);
  CHECK_MSG(!strstr(bt_errmsg(), "memory") && !strstr(bt_errmsg(), "allocat"), "%s", bt_errmsg());
  free(gz);
  free(big);
  free(c);
  free(f);
}

static void test_idx_fuzz(void) {
  current_test = "idx_fuzz";
  unsigned char data[2 * 5 * 6 * 4];
  for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)(i * 7);
  size_t n;
  unsigned char *f = idx_file(0x0D, 3, (uint32_t[]){2, 5, 6}, data, sizeof data, &n);
  int bad = 0, errors = 0;
  for (int it = 0; it < 1500; it++) {
    size_t dn;
    unsigned char *d = damage(f, n, &dn);
    bool gz = it % 2;
    const char *path = tmp_path(gz ? "fz.idx.gz" : "fz.idx");
    if (gz) {
      size_t gn;
      unsigned char *g = gzip_stored(d, dn, &gn);
      write_file(path, g, gn);
      free(g);
    } else {
      write_file(path, d, dn);
    }
    bt_Tensor *t = bt_read_idx(path);
    if (!t) {
      errors++;
      if (!strstr(bt_errmsg(), "read_idx") && bad++ < 5) fprintf(stderr, "  message: %s\n", bt_errmsg());
    }
    bt_release(t);
    free(d);
  }
  /* Damage inside the gzip stream itself. */
  size_t gn;
  unsigned char *g = gzip_stored(f, n, &gn);
  for (int it = 0; it < 500; it++) {
    size_t dn;
    unsigned char *d = damage(g, gn, &dn);
    write_file(tmp_path("fz2.idx.gz"), d, dn);
    bt_Tensor *t = bt_read_idx(tmp_path("fz2.idx.gz"));
    if (!t && !strstr(bt_errmsg(), "read_idx") && bad++ < 5) fprintf(stderr, "  message: %s\n", bt_errmsg());
    bt_release(t);
    free(d);
  }
  free(g);
  CHECK_MSG(bad == 0, "%d messages not naming the reader", bad);
  CHECK(errors > 200);
  free(f);
}

/* ---- safetensors ------------------------------------------------------------------ */

static bool same_tensor(const bt_Tensor *a, const bt_Tensor *b) {
  if (a->dtype != b->dtype || a->ndim != b->ndim) return false;
  for (int d = 0; d < a->ndim; d++)
    if (a->shape[d] != b->shape[d]) return false;
  int64_t n = bt_numel(a);
  if (a->dtype == BT_F16 || a->dtype == BT_BF16 || a->dtype == BT_F32 || a->dtype == BT_F64) {
    for (int64_t i = 0; i < n; i++) {
      double x = bt_get_flat(a, i), y = bt_get_flat(b, i);
      if (!(x == y || (isnan(x) && isnan(y)))) return false;
    }
  } else {
    for (int64_t i = 0; i < n; i++)
      if (bt_get_flat_i64(a, i) != bt_get_flat_i64(b, i)) return false;
  }
  return true;
}

static bt_Tensor *filled(bt_DType dt, int ndim, const int64_t *shape) {
  bt_Tensor *t = bt_empty(ndim, shape, dt, BT_CPU_DEVICE);
  int64_t n = bt_numel(t);
  for (int64_t i = 0; i < n; i++) {
    int64_t idx[BT_MAX_DIMS], r = i;
    for (int d = ndim - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r /= shape[d];
    }
    double v = dt == BT_BOOL ? (double)(i % 3 == 0) : dt == BT_U8 ? (double)(i * 7 % 256)
             : bt_dtype_is_float(dt) ? (i - 3.25) * 0.5 : (double)(i * 1000003 - 77);
    bt_set(t, idx, v);
  }
  return t;
}

static void test_safetensors_roundtrip(void) {
  current_test = "safetensors_roundtrip";
  bt_Tensor *ts[10];
  const char *names[10] = {"a.f32", "b.f64", "c.f16", "d.bf16", "e.i64", "f.i32", "g.u8", "h.bool",
                           "scalar", "empty"};
  ts[0] = filled(BT_F32, 2, (int64_t[]){3, 4});
  ts[1] = filled(BT_F64, 3, (int64_t[]){2, 1, 3});
  ts[2] = filled(BT_F16, 1, (int64_t[]){5});
  ts[3] = filled(BT_BF16, 2, (int64_t[]){2, 2});
  ts[4] = filled(BT_I64, 1, (int64_t[]){4});
  ts[5] = filled(BT_I32, 4, (int64_t[]){1, 2, 1, 2});
  ts[6] = filled(BT_U8, 1, (int64_t[]){7});
  ts[7] = filled(BT_BOOL, 1, (int64_t[]){5});
  ts[8] = bt_scalar(2.75, BT_F32);
  ts[9] = bt_empty(2, (int64_t[]){0, 3}, BT_F32, BT_CPU_DEVICE);
  const char *keys[] = {"format", "arch"}, *values[] = {"pt", "{\"layers\": [\"Linear\"], \"é\": \"\\n\"}"};
  const char *path = tmp_path("m.safetensors");
  int r = bt_safetensors_write(path, 10, names, ts, 2, keys, values);
  CHECK_MSG(r == 0, "%s", bt_errmsg());
  CHECK(count_files(".tmp-") == 0);
  size_t n;
  unsigned char *raw = read_file(path, &n);
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; k--) hlen = hlen << 8 | raw[k];
  CHECK(hlen % 8 == 0 && raw[8] == '{' && 8 + hlen <= n);
  free(raw);
  bt_SafeTensors *st = bt_safetensors_read(path);
  CHECK_MSG(st != NULL, "%s", bt_errmsg());
  if (st) {
    CHECK(st->n == 10 && st->nmeta == 2);
    for (int i = 0; i < st->n && i < 10; i++) {
      CHECK_MSG(strcmp(st->names[i], names[i]) == 0, "%s", st->names[i]);
      CHECK_MSG(same_tensor(st->tensors[i], ts[i]), "tensor %s", names[i]);
    }
    bool meta_ok = true;
    for (int i = 0; i < st->nmeta; i++) {
      int k = strcmp(st->meta_keys[i], "format") == 0 ? 0 : 1;
      meta_ok &= strcmp(st->meta_keys[i], keys[k]) == 0 && strcmp(st->meta_values[i], values[k]) == 0;
    }
    CHECK(meta_ok);
  }
  bt_safetensors_free(st);

  /* A non-contiguous tensor is written in C order. */
  bt_Tensor *tr = bt_transpose(ts[0], 0, 1);
  const char *one[] = {"t"};
  CHECK(bt_safetensors_write(path, 1, one, &tr, 0, NULL, NULL) == 0);
  st = bt_safetensors_read(path);
  CHECK(st && st->n == 1 && same_tensor(st->tensors[0], tr) && st->nmeta == 0);
  bt_safetensors_free(st);
  bt_release(tr);
  /* No tensors at all. */
  CHECK(bt_safetensors_write(path, 0, NULL, NULL, 0, NULL, NULL) == 0);
  st = bt_safetensors_read(path);
  CHECK(st && st->n == 0);
  bt_safetensors_free(st);

  /* Arguments the writer refuses. */
  const char *dup[] = {"x", "x"};
  CHECK_ERR(bt_safetensors_write(path, 2, dup, ts, 0, NULL, NULL) < 0, "two tensors named 'x'", NULL, NULL);
  const char *meta_name[] = {"__metadata__"};
  CHECK_ERR(bt_safetensors_write(path, 1, meta_name, ts, 0, NULL, NULL) < 0, "__metadata__", NULL, NULL);
  const char *bad_utf8[] = {"a\xff"};
  CHECK_ERR(bt_safetensors_write(path, 1, bad_utf8, ts, 0, NULL, NULL) < 0, "UTF-8", NULL, NULL);
  const char *dkeys[] = {"k", "k"};
  CHECK_ERR(bt_safetensors_write(path, 0, NULL, NULL, 2, dkeys, dkeys) < 0, "given twice", NULL, NULL);
  for (int i = 0; i < 10; i++) bt_release(ts[i]);
}

/* A file built from the format's description: length, header, data. */
static void write_st(const char *path, const char *header, const void *data, size_t nbytes) {
  size_t h = strlen(header);
  unsigned char *b = malloc(8 + h + nbytes);
  for (int k = 0; k < 8; k++) b[k] = (unsigned char)((uint64_t)h >> (8 * k));
  memcpy(b + 8, header, h);
  if (nbytes) memcpy(b + 8 + h, data, nbytes);
  write_file(path, b, 8 + h + nbytes);
  free(b);
}

static void test_safetensors_by_hand(void) {
  current_test = "safetensors_by_hand";
  const char *path = tmp_path("h.safetensors");
  /* The example of the format's documentation, with spaces and escapes. */
  int32_t v[4] = {1, -2, 3, 400000};   /* little-endian on this machine */
  write_st(path, " { \"te\\u0073t\" : {\"dtype\":\"I32\", \"shape\" : [2,2], \"data_offsets\":[0,16]},"
                 "\"__metadata__\":{\"foo\":\"bar\\n\\u00e9\\ud83d\\ude00\"}}   ", v, 16);
  bt_SafeTensors *st = bt_safetensors_read(path);
  CHECK_MSG(st != NULL, "%s", bt_errmsg());
  if (st) {
    CHECK(st->n == 1 && strcmp(st->names[0], "test") == 0);
    CHECK(st->tensors[0]->dtype == BT_I32 && st->tensors[0]->shape[1] == 2);
    CHECK(bt_get_flat(st->tensors[0], 3) == 400000 && bt_get_flat(st->tensors[0], 1) == -2);
    CHECK(st->nmeta == 1 && strcmp(st->meta_values[0], "bar\n\xc3\xa9\xf0\x9f\x98\x80") == 0);
  }
  bt_safetensors_free(st);
  /* Tensors listed out of order in the header, data in offset order. */
  float two[2] = {1.5f, 2.5f};
  write_st(path, "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"__metadata__\":null}", two, 8);
  st = bt_safetensors_read(path);
  CHECK(st && st->n == 2 && strcmp(st->names[0], "a") == 0 && bt_get_flat(st->tensors[0], 0) == 1.5);
  bt_safetensors_free(st);
  /* A bool byte other than 0 and 1 reads as true (1). */
  unsigned char bools[2] = {0, 7};
  write_st(path, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", bools, 2);
  st = bt_safetensors_read(path);
  CHECK(st && ((unsigned char *)bt_data(st->tensors[0]))[1] == 1);
  bt_safetensors_free(st);
}

static void test_safetensors_corrupt(void) {
  current_test = "safetensors_corrupt";
  const char *path = tmp_path("bad.safetensors");
  static const unsigned char data[64];
  static const struct {
    const char *header;
    size_t nbytes;
    const char *expect;
  } cases[] = {
    {"[]", 0, "'{' expected"},
    {"{", 0, "too short"},
    {"{ ", 0, "'\"' expected"},
    {"{}x", 0, "data after the header"},
    {"{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F33'"},
    {"{\"a\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "dtype I8 is not supported"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, "has no data_offsets"},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "has no shape"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "has no dtype"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4, "unknown field 'x'"},
    {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "given twice"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "tensor 'a' given twice"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "needs 2 numbers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "needs 8 bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before they begin"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}", 10, "overlap"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "belong to no tensor"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 2, "go past the end"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 12, "8 bytes after the last"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "non-negative integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "not a fraction"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", 4, "leading zero"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999],\"data_offsets\":[0,4]}}", 4, "too large"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "more than 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4, "too large"},
    {"{\"a\nb\":{}}", 0, "control character"},
    {"{\"a\\q\":{}}", 0, "bad escape"},
    {"{\"a\\ud800\":{}}", 0, "surrogate"},
    {"{\"a\\u0000\":{}}", 0, "\\u0000"},
    {"{\"\xff\":{}}", 0, "not valid UTF-8"},
    {"{\"__metadata__\":{\"k\":1}}", 0, "must be strings"},
    {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "metadata key 'k' given twice"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ given twice"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]} \"b\":1}", 4, "',' or '}' expected"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_st(path, cases[i].header, data, cases[i].nbytes);
    bt_SafeTensors *st = bt_safetensors_read(path);
    CHECK_MSG(!st && err_has("read_safetensors", "bad.safetensors", cases[i].expect),
              "case %zu (%s): message '%s'", i, cases[i].expect, bt_errmsg());
    bt_safetensors_free(st);
  }
  /* Broken lengths. */
  write_file(path, "\x02\0\0\0\0\0\0", 7);
  CHECK_ERR(!bt_safetensors_read(path), "too short", NULL, NULL);
  write_file(path, "\xff\xff\xff\xff\0\0\0\0{}", 10);
  CHECK_ERR(!bt_safetensors_read(path), "header length", NULL, NULL);
  write_file(path, "\x40\0\0\0\0\0\0\0{}", 10);
  CHECK_ERR(!bt_safetensors_read(path), "past the end of the file", NULL, NULL);
  CHECK_ERR(!bt_safetensors_read(dir), "not a regular file", NULL, NULL);
  CHECK_ERR(!bt_safetensors_read(tmp_path("nothing")), "cannot open", NULL, NULL);
}

static void test_safetensors_fuzz(void) {
  current_test = "safetensors_fuzz";
  bt_Tensor *ts[3] = {filled(BT_F32, 2, (int64_t[]){2, 3}), filled(BT_I64, 1, (int64_t[]){3}),
                      filled(BT_BF16, 1, (int64_t[]){4})};
  const char *names[3] = {"layer.weight", "steps", "h"};
  const char *k[1] = {"arch"}, *v[1] = {"{\"a\": [1, 2]}"};
  const char *path = tmp_path("z.safetensors");
  CHECK(bt_safetensors_write(path, 3, names, ts, 1, k, v) == 0);
  size_t n;
  unsigned char *raw = read_file(path, &n);
  int bad = 0, errors = 0;
  for (int it = 0; it < 3000; it++) {
    size_t dn;
    unsigned char *d = damage(raw, n, &dn);
    write_file(tmp_path("fz.safetensors"), d, dn);
    bt_SafeTensors *st = bt_safetensors_read(tmp_path("fz.safetensors"));
    if (!st) {
      errors++;
      if (!strstr(bt_errmsg(), "read_safetensors") && bad++ < 5) fprintf(stderr, "  %s\n", bt_errmsg());
    }
    bt_safetensors_free(st);
    free(d);
  }
  CHECK_MSG(bad == 0, "%d messages not naming the reader", bad);
  CHECK(errors > 1000);
  free(raw);
  for (int i = 0; i < 3; i++) bt_release(ts[i]);
}

/* A write that fails, or a process killed while writing, leaves the
** previous file as it was. */
static void test_safetensors_atomic(void) {
  current_test = "safetensors_atomic";
  const char *path = tmp_path("keep.safetensors");
  bt_Tensor *small = filled(BT_F32, 1, (int64_t[]){3});
  const char *name[] = {"w"};
  CHECK(bt_safetensors_write(path, 1, name, &small, 0, NULL, NULL) == 0);
  size_t n0;
  unsigned char *before = read_file(path, &n0);

  /* A directory that does not exist. */
  CHECK_ERR(bt_safetensors_write(tmp_path("no/such/dir/x.safetensors"), 1, name, &small, 0, NULL, NULL) < 0,
            "cannot create a temporary file", NULL, NULL);
  /* The target is a directory: the rename fails, the temporary file goes. */
  mkdir(tmp_path("adir"), 0755);
  CHECK_ERR(bt_safetensors_write(tmp_path("adir"), 1, name, &small, 0, NULL, NULL) < 0,
            "cannot replace", NULL, NULL);
  CHECK(count_files(".tmp-") == 0);

  /* A big write in a child limited to 64 kB files: once with SIGXFSZ
  ** ignored (the write fails, the function reports it and removes its
  ** temporary file), once killed by the signal mid-write. */
  int64_t shape[1] = {1 << 20};
  bt_Tensor *big = bt_zeros(1, shape, BT_F32, BT_CPU_DEVICE);
  for (int killed = 0; killed < 2; killed++) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      struct rlimit rl = {65536, 65536};
      setrlimit(RLIMIT_FSIZE, &rl);
      signal(SIGXFSZ, killed ? SIG_DFL : SIG_IGN);
      int r = bt_safetensors_write(path, 1, name, &big, 0, NULL, NULL);
      bool reported = r < 0 && strstr(bt_errmsg(), "failed") && strstr(bt_errmsg(), "unchanged");
      _exit(reported && count_files(".tmp-") == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (killed) {
      CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ, "status %d", status);
    } else {
      CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    }
    size_t n1;
    unsigned char *after = read_file(path, &n1);
    CHECK(after && n1 == n0 && memcmp(before, after, n0) == 0);
    free(after);
    bt_SafeTensors *st = bt_safetensors_read(path);
    CHECK(st && st->n == 1 && same_tensor(st->tensors[0], small));
    bt_safetensors_free(st);
  }
  /* The killed writer left its temporary file behind: only it. */
  CHECK(count_files(".tmp-") <= 1);
  bt_release(big);
  bt_release(small);
  free(before);
}

/* ---- loader ------------------------------------------------------------------------- */

static void test_loader(void) {
  current_test = "loader";
  int64_t n = 50;
  bt_Tensor *x = filled(BT_F32, 3, (int64_t[]){n, 2, 3});
  bt_Tensor *y = filled(BT_I64, 1, (int64_t[]){n});
  bt_Tensor *xt = bt_transpose(x, 1, 2);   /* not contiguous: the loader copies it */
  bt_Tensor *src[3] = {x, y, xt};
  bt_Loader *l = bt_loader_new(3, src);
  CHECK_MSG(l != NULL, "%s", bt_errmsg());
  CHECK(bt_loader_rows(l) == n && bt_loader_ntensors(l) == 3);
  int64_t idx[5] = {49, 0, 7, 7, 13};
  bt_Tensor *out[3], *bg[3];
  CHECK(bt_loader_gather(l, 5, idx, out) == 0);
  bool ok = out[0]->shape[0] == 5 && out[0]->shape[1] == 2 && out[2]->shape[1] == 3;
  for (int i = 0; i < 5 && ok; i++) {
    bt_Tensor *row = bt_select(x, 0, idx[i]), *got = bt_select(out[0], 0, i);
    bt_Tensor *rowt = bt_select(xt, 0, idx[i]), *gott = bt_select(out[2], 0, i);
    ok = same_tensor(row, got) && same_tensor(rowt, gott) &&
         bt_get_flat_i64(out[1], i) == bt_get_flat_i64(y, idx[i]);
    bt_release(row); bt_release(got); bt_release(rowt); bt_release(gott);
  }
  CHECK(ok);
  /* The background thread gives the same batch. */
  CHECK(!bt_loader_pending(l));
  CHECK(bt_loader_start(l, 5, idx) == 0);
  CHECK(bt_loader_finish(l, bg) == 0);
  for (int k = 0; k < 3; k++) {
    CHECK(same_tensor(out[k], bg[k]));
    bt_release(out[k]);
    bt_release(bg[k]);
  }
  /* Many batches in a row, each started while the previous one is used. */
  int64_t order[50];
  for (int i = 0; i < 50; i++) order[i] = (i * 17) % 50;
  bool all_same = true;
  for (int epoch = 0; epoch < 20; epoch++) {
    CHECK(bt_loader_start(l, 8, order) == 0);
    for (int b = 0; b * 8 < 50; b++) {
      int64_t cnt = MIN(8, 50 - b * 8);
      if (bt_loader_finish(l, bg) < 0) {
        all_same = false;
        break;
      }
      if ((b + 1) * 8 < 50) bt_loader_start(l, MIN(8, 50 - (b + 1) * 8), order + (b + 1) * 8);
      bt_loader_gather(l, cnt, order + b * 8, out);
      for (int k = 0; k < 3; k++) {
        all_same &= same_tensor(out[k], bg[k]);
        bt_release(out[k]);
        bt_release(bg[k]);
      }
    }
  }
  CHECK(all_same);
  /* A started batch that is never finished is dropped by the next start
  ** and by freeing the loader. */
  CHECK(bt_loader_start(l, 5, idx) == 0);
  CHECK(bt_loader_start(l, 2, idx) == 0);
  CHECK(bt_loader_finish(l, bg) == 0 && bg[0]->shape[0] == 2);
  for (int k = 0; k < 3; k++) bt_release(bg[k]);
  CHECK_ERR(bt_loader_finish(l, bg) < 0, "no batch was started", NULL, NULL);
  int64_t bad[2] = {3, 50};
  CHECK_ERR(bt_loader_gather(l, 2, bad, out) < 0, "row 51 out of range", NULL, NULL);
  CHECK_ERR(bt_loader_start(l, 2, bad) < 0, "row 51 out of range", NULL, NULL);
  CHECK(bt_loader_gather(l, 0, idx, out) == 0 && out[0]->shape[0] == 0);
  for (int k = 0; k < 3; k++) bt_release(out[k]);
  CHECK(bt_loader_start(l, 5, idx) == 0);
  bt_loader_free(l);   /* with a batch in flight */

  /* Errors at creation. */
  bt_Tensor *short_y = filled(BT_I64, 1, (int64_t[]){n - 1});
  bt_Tensor *two[2] = {x, short_y};
  CHECK_ERR(!bt_loader_new(2, two), "50 and 49 rows", NULL, NULL);
  bt_Tensor *s = bt_scalar(1, BT_F32);
  CHECK_ERR(!bt_loader_new(1, &s), "0-dim", NULL, NULL);
  CHECK_ERR(!bt_loader_new(0, NULL), "no tensors", NULL, NULL);
  bt_release(s);
  bt_release(short_y);
  bt_release(xt);
  bt_release(x);
  bt_release(y);
}

int main(void) {
  snprintf(dir, sizeof dir, "/tmp/brasa_test_io_XXXXXX");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 2;
  }
  int64_t start = bt_bytes_in_use(BT_CPU);
  test_csv_values();
  test_csv_missing();
  test_csv_errors();
  test_csv_gzip();
  test_csv_fuzz();
  test_read_numbers();
  test_idx();
  test_idx_corrupt();
  test_idx_fuzz();
  test_safetensors_roundtrip();
  test_safetensors_by_hand();
  test_safetensors_corrupt();
  test_safetensors_fuzz();
  test_safetensors_atomic();
  test_loader();
  current_test = "end";
  CHECK_MSG(bt_bytes_in_use(BT_CPU) == start, "%lld bytes left at the end",
            (long long)(bt_bytes_in_use(BT_CPU) - start));
  remove_dir();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
