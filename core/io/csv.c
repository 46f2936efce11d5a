/*
** io/csv.c: CSV files (RFC 4180 and what real files do), and plain text
** files of numbers (the FANN data sets).
**
** A file is read whole (through zlib, so .gz files and plain ones alike),
** cut into records and fields in place, and then each column is typed:
** numeric when every value that is not missing parses as a number, text
** otherwise. Numeric columns become 1-D tensors, text columns lists of
** strings.
**
** What is accepted: fields separated by opts.sep; fields in double quotes
** may hold separators, newlines and doubled quotes (""); spaces around a
** field are dropped unless the separator is a space or a tab; \n and \r\n
** line ends; blank lines are skipped; a UTF-8 byte-order mark is skipped.
** What is refused, with the line named: a record with a different number
** of fields than the first one (ragged rows, truncated files), a quote that
** never closes, a character after a closing quote, a quote inside an
** unquoted field, a NUL byte, and (unless opts.missing says otherwise) a
** missing value.
*/
#include "../internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <zlib.h>

/* ---- reading a whole file --------------------------------------------- */

/* Reads all of path (gunzipped when compressed) into a malloc'ed buffer
** with a NUL after its *len bytes. */
static int read_all(const char *op, const char *path, char **out, size_t *len) {
  gzFile f = gzopen(path, "rb");
  if (!f) return bt_seterr("%s: cannot open %s: %s", op, path, strerror(errno));
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  int status = 0;
  if (!buf) {
    status = bt_seterr("%s: %s: out of memory", op, path);
    goto done;
  }
  for (;;) {
    if (n == cap) {
      if (cap > ((size_t)1 << 40)) {   /* a bound against a runaway stream */
        status = bt_seterr("%s: %s: file too large", op, path);
        goto done;
      }
      char *bigger = realloc(buf, 2 * cap + 1);
      if (!bigger) {
        status = bt_seterr("%s: %s: out of memory reading %zu bytes", op, path, 2 * cap);
        goto done;
      }
      buf = bigger;
      cap *= 2;
    }
    int r = gzread(f, buf + n, (unsigned)BT_MIN(cap - n, (size_t)1 << 30));
    if (r < 0) {
      int zerr;
      status = bt_seterr("%s: %s: corrupt or truncated file (%s)", op, path, gzerror(f, &zerr));
      goto done;
    }
    if (r == 0) {
      /* zlib returns the data it has at the end of the input: a stream cut
      ** short is only told by the error state (Z_BUF_ERROR). */
      int zerr;
      gzerror(f, &zerr);
      if (zerr == Z_BUF_ERROR)
        status = bt_seterr("%s: %s: the compressed file is truncated", op, path);
      break;
    }
    n += (size_t)r;
  }
done:
  gzclose(f);
  if (status < 0) {
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

/* ---- numbers ------------------------------------------------------------ */

static bool ieq(const char *a, size_t n, const char *b) {
  if (strlen(b) != n) return false;
  for (size_t i = 0; i < n; i++)
    if ((a[i] | 0x20) != b[i]) return false;
  return true;
}

/* Parses s[0..n) (no surrounding spaces) as a decimal number: an optional
** sign, digits with an optional point, an optional exponent; or inf,
** infinity, nan. Hexadecimal and other strtod extensions are refused, so a
** column of ids like 0x1F stays text. */
static bool parse_number(const char *s, size_t n, double *v) {
  size_t i = 0, digits = 0;
  if (n == 0 || n > 400) return false;
  if (s[i] == '+' || s[i] == '-') i++;
  if (ieq(s + i, n - i, "inf") || ieq(s + i, n - i, "infinity")) {
    *v = s[0] == '-' ? -INFINITY : INFINITY;
    return true;
  }
  if (ieq(s + i, n - i, "nan")) {
    *v = NAN;
    return true;
  }
  while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++, digits++;
  }
  if (digits == 0) return false;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    size_t e = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == e) return false;
  }
  if (i != n) return false;
  char tmp[402];   /* strtod needs a terminated string; s may not be one */
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  *v = strtod(tmp, NULL);
  return true;
}

/* ---- options ------------------------------------------------------------ */

static const char *const default_na[] = {"", "NA", "N/A", "NaN", "nan", "null", "NULL", "?"};

void bt_csv_options_init(bt_CsvOptions *o) {
  memset(o, 0, sizeof *o);
  o->sep = ',';
  o->header = true;
  o->dtype = BT_F32;
  o->missing = BT_MISSING_ERROR;
}

/* ---- cutting the text into records and fields ---------------------------- */

typedef struct {
  char *s;          /* the field's text, NUL-terminated in place */
  uint32_t len;
  bool quoted;
} Cell;

typedef struct {
  const char *op, *name;   /* for messages */
  char *buf;
  size_t len, pos;
  int64_t line;            /* physical line at pos, 1-based */
  char sep;
  bool trim;               /* drop spaces and tabs around fields */
  Cell *cells;             /* all fields, record after record */
  int64_t ncells, capcells;
  int64_t *row_line;       /* line where each record starts */
  int64_t nrows, caprows;
  int ncols;               /* fields per record, from the first one */
  char term;               /* what ended the last field: sep, '\n' or 0 at the end */
} Parser;

static int grow(void **p, int64_t *cap, int64_t need, size_t elsize) {
  if (need <= *cap) return 0;
  int64_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  if ((uint64_t)c > SIZE_MAX / elsize) return -1;
  void *q = realloc(*p, (size_t)c * elsize);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

/* An error naming the file and the line: "read_csv: a.csv: line 7: ...". */
static int perr(Parser *p, int64_t line, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return bt_seterr("%s: %s: line %lld: %s", p->op, p->name, (long long)line, msg);
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static int add_cell(Parser *p, char *s, size_t len, bool quoted) {
  if (len > UINT32_MAX) return perr(p, p->line, "a field longer than 4 GB");
  if (grow((void **)&p->cells, &p->capcells, p->ncells + 1, sizeof(Cell)) < 0)
    return bt_seterr("%s: %s: out of memory", p->op, p->name);
  s[len] = '\0';   /* may overwrite the terminator: p->term remembers it */
  p->cells[p->ncells++] = (Cell){s, (uint32_t)len, quoted};
  return 0;
}

/* A quoted field from the opening quote at p->pos; its text, with doubled
** quotes made single, is written back over itself. */
static int quoted_field(Parser *p) {
  int64_t start_line = p->line;
  char *out = p->buf + p->pos + 1, *w = out;
  size_t i = p->pos + 1;
  for (;;) {
    if (i >= p->len)
      return perr(p, start_line, "a quoted field never closes (the file ends inside it)");
    char c = p->buf[i];
    if (c == '"') {
      if (i + 1 < p->len && p->buf[i + 1] == '"') {
        *w++ = '"';
        i += 2;
        continue;
      }
      i++;
      break;
    }
    if (c == '\0') return perr(p, p->line, "a NUL byte (is this a binary file?)");
    if (c == '\n') p->line++;
    *w++ = c;
    i++;
  }
  while (i < p->len && p->trim && is_blank(p->buf[i])) i++;
  if (i < p->len && p->buf[i] == '\r' && i + 1 < p->len && p->buf[i + 1] == '\n') i++;
  if (i < p->len && p->buf[i] != p->sep && p->buf[i] != '\n') {
    char what[16];
    unsigned char c = (unsigned char)p->buf[i];
    snprintf(what, sizeof what, c >= 32 && c < 127 ? "'%c'" : "byte 0x%02x", c);
    return perr(p, p->line, "%s after a closing quote (a quote inside a quoted field is written \"\")",
                what);
  }
  p->pos = i;
  p->term = i < p->len ? p->buf[i] : 0;
  return add_cell(p, out, (size_t)(w - out), true);
}

/* An unquoted field from p->pos to the next separator or line end. */
static int plain_field(Parser *p) {
  size_t i = p->pos;
  char *s = p->buf + i;
  while (i < p->len && p->buf[i] != p->sep && p->buf[i] != '\n') {
    if (p->buf[i] == '"')
      return perr(p, p->line, "a quote inside an unquoted field (quote the whole field)");
    if (p->buf[i] == '\0') return perr(p, p->line, "a NUL byte (is this a binary file?)");
    i++;
  }
  size_t end = i;
  if (end > p->pos && p->buf[end - 1] == '\r' && (end == p->len || p->buf[end] == '\n')) end--;
  while (p->trim && end > p->pos && is_blank(p->buf[end - 1])) end--;
  p->pos = i;
  p->term = i < p->len ? p->buf[i] : 0;
  return add_cell(p, s, end - (size_t)(s - p->buf), false);
}

/* True when the line at pos holds nothing but spaces (or nothing). */
static bool blank_line(const Parser *p, size_t pos, size_t *next) {
  size_t i = pos;
  while (i < p->len && (is_blank(p->buf[i]) || p->buf[i] == '\r') && p->buf[i] != p->sep) i++;
  if (i < p->len && p->buf[i] != '\n') return false;
  *next = i < p->len ? i + 1 : i;
  return true;
}

/* One record: 1 when read, 0 at the end of the text, -1 on error. */
static int next_record(Parser *p) {
  size_t next;
  while (p->pos < p->len && blank_line(p, p->pos, &next)) {
    p->pos = next;
    p->line++;
  }
  if (p->pos >= p->len) return 0;
  int64_t record_line = p->line, first = p->ncells;
  for (;;) {
    while (p->trim && p->pos < p->len && is_blank(p->buf[p->pos])) p->pos++;
    int r = p->pos < p->len && p->buf[p->pos] == '"' ? quoted_field(p)
                                                     : plain_field(p);
    if (r < 0) return -1;
    if (p->term == p->sep) {
      p->pos++;
      continue;
    }
    if (p->term == '\n') {
      p->pos++;
      p->line++;
    }
    break;
  }
  int64_t nf = p->ncells - first;
  if (p->nrows == 0) {
    if (nf > (1 << 24)) return perr(p, record_line, "more than 16 million fields");
    p->ncols = (int)nf;
  } else if (nf != p->ncols) {
    return perr(p, record_line, "%lld field%s where line %lld has %d (a ragged row or a truncated file)",
                (long long)nf, nf == 1 ? "" : "s", (long long)p->row_line[0], p->ncols);
  }
  if (grow((void **)&p->row_line, &p->caprows, p->nrows + 1, sizeof(int64_t)) < 0)
    return bt_seterr("%s: %s: out of memory", p->op, p->name);
  p->row_line[p->nrows++] = record_line;
  return 1;
}

static int skip_lines(Parser *p, int64_t n) {
  for (int64_t k = 0; k < n; k++) {
    while (p->pos < p->len && p->buf[p->pos] != '\n') p->pos++;
    if (p->pos >= p->len) return bt_seterr("%s: %s: fewer than %lld lines to skip", p->op, p->name,
                                           (long long)n);
    p->pos++;
    p->line++;
  }
  return 0;
}

/* ---- building the columns -------------------------------------------------- */

static Cell *cell(const Parser *p, int64_t row, int col) {
  return &p->cells[row * p->ncols + col];
}

static bool is_missing(const Cell *c, const bt_CsvOptions *o) {
  if (c->quoted) return false;   /* "" in quotes is an empty string, on purpose */
  int n = o->na_values ? o->nna : (int)(sizeof default_na / sizeof default_na[0]);
  const char *const *na = o->na_values ? o->na_values : default_na;
  for (int i = 0; i < n; i++)
    if (strcmp(c->s, na[i]) == 0) return true;
  return false;
}

/* The columns chosen by the options, as 0-based indices into the records. */
static int select_columns(Parser *p, const bt_CsvOptions *o, char **names, int *sel, int *nsel) {
  if (o->nselect <= 0) {
    for (int j = 0; j < p->ncols; j++) sel[j] = j;
    *nsel = p->ncols;
    return 0;
  }
  for (int k = 0; k < o->nselect; k++) {
    const char *want = o->select_names ? o->select_names[k] : NULL;
    int j = -1;
    if (want) {
      for (int c = 0; c < p->ncols && j < 0; c++)
        if (strcmp(names[c], want) == 0) j = c;
      if (j < 0) return bt_seterr("%s: %s: no column named '%s'", p->op, p->name, want);
    } else {
      j = o->select_index[k];
      if (j < 0 || j >= p->ncols)
        return bt_seterr("%s: %s: column %d out of range (the file has %d columns)", p->op,
                         p->name, j + 1, p->ncols);
    }
    sel[k] = j;
  }
  *nsel = o->nselect;
  return 0;
}

/* Names from the header record, or V1, V2, ... Duplicates get a suffix
** (x, x.1, x.2, as pandas does) so every column has its own key. */
static char **column_names(Parser *p, bool header) {
  char **names = calloc((size_t)p->ncols, sizeof *names);
  if (!names) return NULL;
  for (int j = 0; j < p->ncols; j++) {
    char tmp[32];
    const char *base = header ? cell(p, 0, j)->s : NULL;
    if (!base || !*base) {
      snprintf(tmp, sizeof tmp, "V%d", j + 1);
      base = tmp;
    }
    size_t n = strlen(base);
    char *name = malloc(n + 16);
    if (!name) goto fail;
    memcpy(name, base, n + 1);
    for (int dup = 1;; dup++) {
      bool taken = false;
      for (int k = 0; k < j && !taken; k++) taken = strcmp(names[k], name) == 0;
      if (!taken) break;
      snprintf(name + n, 16, ".%d", dup);
    }
    names[j] = name;
  }
  return names;
fail:
  for (int j = 0; j < p->ncols; j++) free(names[j]);
  free(names);
  return NULL;
}

void bt_csv_free(bt_Csv *csv) {
  if (!csv) return;
  for (int j = 0; j < csv->ncols; j++) {
    bt_CsvColumn *c = &csv->cols[j];
    free(c->name);
    bt_release(c->values);
    free(c->strings);
    free(c->arena);
  }
  free(csv->cols);
  free(csv->dropped_lines);
  free(csv);
}

/* Fills column c from record column j over the kept rows. */
static int build_column(Parser *p, const bt_CsvOptions *o, int j, const int64_t *rows,
                        int64_t nrows, int64_t first, bt_CsvColumn *c) {
  bool numeric = true;
  for (int64_t r = 0; r < nrows && numeric; r++) {
    Cell *x = cell(p, first + rows[r], j);
    double v;
    if (!is_missing(x, o) && !parse_number(x->s, x->len, &v)) numeric = false;
  }
  if (numeric) {
    double *v = malloc((size_t)BT_MAX(nrows, 1) * sizeof *v);
    if (!v) return bt_seterr("%s: %s: out of memory", p->op, p->name);
    for (int64_t r = 0; r < nrows; r++) {
      Cell *x = cell(p, first + rows[r], j);
      if (is_missing(x, o)) {
        v[r] = NAN;
        c->nmissing++;
      } else {
        parse_number(x->s, x->len, &v[r]);
      }
    }
    c->values = bt_from_buffer(1, &nrows, o->dtype, v, BT_F64);
    free(v);
    return c->values ? 0 : -1;
  }
  size_t total = 0;
  for (int64_t r = 0; r < nrows; r++) total += cell(p, first + rows[r], j)->len + 1;
  c->strings = malloc((size_t)BT_MAX(nrows, 1) * sizeof(char *));
  c->arena = malloc(BT_MAX(total, 1));
  if (!c->strings || !c->arena) return bt_seterr("%s: %s: out of memory", p->op, p->name);
  char *w = c->arena;
  for (int64_t r = 0; r < nrows; r++) {
    Cell *x = cell(p, first + rows[r], j);
    bool miss = is_missing(x, o);
    if (miss) c->nmissing++;
    c->strings[r] = w;
    size_t n = miss ? 0 : x->len;
    memcpy(w, x->s, n);
    w[n] = '\0';
    w += n + 1;
  }
  return 0;
}

/* The data rows to keep (indices from the first data record): all of them,
** or those without a missing value; an error names the first missing one
** when opts.missing is BT_MISSING_ERROR. */
static int64_t *keep_rows(Parser *p, const bt_CsvOptions *o, char **names, const int *sel,
                          int nsel, int64_t first, int64_t *nkeep, bt_Csv *csv) {
  int64_t ndata = p->nrows - first;
  int64_t *rows = malloc((size_t)BT_MAX(ndata, 1) * sizeof *rows);
  if (!rows) return bt_seterr("%s: %s: out of memory", p->op, p->name), NULL;
  int64_t n = 0;
  for (int64_t r = 0; r < ndata; r++) {
    int miss = -1;
    for (int k = 0; k < nsel && miss < 0; k++)
      if (is_missing(cell(p, first + r, sel[k]), o)) miss = sel[k];
    if (miss >= 0 && o->missing == BT_MISSING_ERROR) {
      perr(p, p->row_line[first + r],
           "column '%.200s' (%d): missing value (opts.missing = 'nan' or 'drop' accepts them)",
           names[miss], miss + 1);
      free(rows);
      return NULL;
    }
    if (miss >= 0 && o->missing == BT_MISSING_DROP) {
      int64_t cap = csv->ndropped;   /* grown by doubling: cap tracks count */
      if ((cap & (cap - 1)) == 0) {
        int64_t *d = realloc(csv->dropped_lines, (size_t)BT_MAX(2 * cap, 1) * sizeof *d);
        if (!d) {
          free(rows);
          return bt_seterr("%s: %s: out of memory", p->op, p->name), NULL;
        }
        csv->dropped_lines = d;
      }
      csv->dropped_lines[csv->ndropped++] = p->row_line[first + r];
      continue;
    }
    rows[n++] = r;
  }
  *nkeep = n;
  return rows;
}

static bt_Csv *build(Parser *p, const bt_CsvOptions *o) {
  bt_Csv *csv = calloc(1, sizeof *csv);
  char **names = NULL;
  int *sel = NULL;
  int64_t *rows = NULL;
  int nsel = 0;
  if (!csv) return bt_seterr("%s: out of memory", p->op), NULL;
  if (!(names = column_names(p, o->header))) {
    bt_seterr("%s: out of memory", p->op);
    goto fail;
  }
  sel = malloc((size_t)BT_MAX(p->ncols, o->nselect) * sizeof *sel + 1);
  if (!sel || select_columns(p, o, names, sel, &nsel) < 0) {
    if (!sel) bt_seterr("%s: out of memory", p->op);
    goto fail;
  }
  int64_t first = o->header ? 1 : 0, nkeep = 0;
  if (!(rows = keep_rows(p, o, names, sel, nsel, first, &nkeep, csv))) goto fail;
  csv->cols = calloc((size_t)BT_MAX(nsel, 1), sizeof *csv->cols);
  if (!csv->cols) {
    bt_seterr("%s: out of memory", p->op);
    goto fail;
  }
  csv->nrows = nkeep;
  for (int k = 0; k < nsel; k++) {
    csv->ncols = k + 1;
    csv->cols[k].name = strdup(names[sel[k]]);
    if (!csv->cols[k].name) {
      bt_seterr("%s: out of memory", p->op);
      goto fail;
    }
    if (build_column(p, o, sel[k], rows, nkeep, first, &csv->cols[k]) < 0) goto fail;
  }
  goto done;
fail:
  bt_csv_free(csv);
  csv = NULL;
done:
  if (names)
    for (int j = 0; j < p->ncols; j++) free(names[j]);
  free(names);
  free(sel);
  free(rows);
  return csv;
}

bt_Csv *bt_parse_csv(char *text, size_t len, const char *name, const bt_CsvOptions *opts) {
  bt_CsvOptions defaults;
  if (!opts) {
    bt_csv_options_init(&defaults);
    opts = &defaults;
  }
  const char *op = "read_csv";
  if (!bt_dtype_is_float(opts->dtype))
    return bt_seterr("%s: dtype %s: numeric columns are read as a float dtype (f32, f64, f16, bf16)",
                     op, bt_dtype_name(opts->dtype)), NULL;
  if (opts->sep == '"' || opts->sep == '\n' || opts->sep == '\r' || opts->sep == '\0')
    return bt_seterr("%s: the separator cannot be a quote, a line end or NUL", op), NULL;
  Parser p = {.op = op, .name = name, .buf = text, .len = len, .line = 1, .sep = opts->sep};
  p.trim = !is_blank(opts->sep);
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.pos = 3;   /* UTF-8 BOM */
  bt_Csv *csv = NULL;
  if (skip_lines(&p, opts->skip_lines) < 0) goto done;
  int r;
  while ((r = next_record(&p)) > 0) {}
  if (r < 0) goto done;
  if (p.nrows == 0) {
    bt_seterr("%s: %s: no data (an empty file)", op, name);
    goto done;
  }
  csv = build(&p, opts);
done:
  free(p.cells);
  free(p.row_line);
  return csv;
}

bt_Csv *bt_read_csv(const char *path, const bt_CsvOptions *opts) {
  char *text;
  size_t len;
  if (read_all("read_csv", path, &text, &len) < 0) return NULL;
  bt_Csv *csv = bt_parse_csv(text, len, path, opts);
  free(text);
  return csv;
}

/* ---- plain files of numbers ---------------------------------------------- */

bt_Tensor *bt_read_numbers(const char *path) {
  char *text;
  size_t len;
  if (read_all("read_numbers", path, &text, &len) < 0) return NULL;
  int64_t n = 0, cap = 0, line = 1;
  double *v = NULL;
  bt_Tensor *t = NULL;
  for (size_t i = 0; i < len;) {
    char c = text[i];
    if (c == '\n') line++;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      i++;
      continue;
    }
    size_t s = i;
    while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
      i++;
    if (grow((void **)&v, &cap, n + 1, sizeof *v) < 0) {
      bt_seterr("read_numbers: %s: out of memory", path);
      goto done;
    }
    if (!parse_number(text + s, i - s, &v[n])) {
      bt_seterr("read_numbers: %s: line %lld: '%.*s' is not a number", path, (long long)line,
                (int)BT_MIN(i - s, (size_t)40), text + s);
      goto done;
    }
    n++;
  }
  t = bt_from_buffer(1, &n, BT_F64, v ? v : (double[1]){0}, BT_F64);
done:
  free(v);
  free(text);
  return t;
}
