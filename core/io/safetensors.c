/*
** io/safetensors.c: the safetensors format (Hugging Face's), read and
** written.
**
** A file is: an 8-byte little-endian unsigned header length N; N bytes of
** JSON, an object whose members are tensors
**   "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
** and an optional "__metadata__": {"key": "value", ...} (strings only);
** then the data: each tensor's bytes, C order, little-endian, at
** [begin, end) counted from the end of the header.
**
** The reader trusts nothing: the header is parsed by a strict JSON reader
** that knows only this shape of document (no recursion, a size bound of 100
** MB as the reference implementation has), every dtype must be known, every
** shape's byte size must equal its offsets' span, and the spans must tile
** the data exactly: no overlap, no hole, nothing past the end and nothing
** left over. Any violation is an error naming the file and what is wrong.
**
** The writer writes a temporary file beside the target (same directory, so
** the rename cannot cross file systems), syncs it, and renames it over the
** target: a failed or killed write leaves the previous file untouched.
*/
#include "../internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_MAX ((uint64_t)100 << 20)

static const struct {
  const char *name;
  bt_DType dt;
} dtypes[] = {
  {"F32", BT_F32}, {"F64", BT_F64}, {"F16", BT_F16}, {"BF16", BT_BF16},
  {"I64", BT_I64}, {"I32", BT_I32}, {"U8", BT_U8}, {"BOOL", BT_BOOL},
};

/* In the format, not in brasa: named in a clearer message than unknown ones. */
static const char *const unsupported[] = {
  "I8", "I16", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "F6_E2M3", "F6_E3M2", "F4", "E8M0",
  "C64",
};

static const char *st_name(bt_DType dt) {
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (dtypes[i].dt == dt) return dtypes[i].name;
  return NULL;
}

static bool little_endian(void) {
  uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Reverses the bytes of each of n elements of size es (big-endian hosts). */
static void swap_bytes(void *p, int64_t n, size_t es) {
  unsigned char *b = p;
  for (int64_t i = 0; i < n && es > 1; i++, b += es)
    for (size_t x = 0, y = es - 1; x < y; x++, y--) {
      unsigned char c = b[x]; b[x] = b[y]; b[y] = c;
    }
}

/* ---- the JSON header ------------------------------------------------------- */

typedef struct {
  const char *s, *path;
  size_t n, i;
} Json;

typedef struct {
  char *name;
  bt_DType dt;
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  int64_t begin, end;
} Entry;

static int jerr(Json *j, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return bt_seterr("read_safetensors: %s: corrupt header at byte %zu: %s", j->path, j->i + 8, msg);
}

static void skip_ws(Json *j) {
  while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
                         j->s[j->i] == '\r'))
    j->i++;
}

/* Skips white space, then requires c. */
static int expect(Json *j, char c) {
  skip_ws(j);
  if (j->i >= j->n) return jerr(j, "'%c' expected, the header ends", c);
  if (j->s[j->i] != c) {
    unsigned char g = (unsigned char)j->s[j->i];
    return jerr(j, g >= 32 && g < 127 ? "'%c' expected, found '%c'" : "'%c' expected, found byte %d",
                c, g);
  }
  j->i++;
  return 0;
}

/* The next non-blank character, not consumed (0 at the end). */
static char peek(Json *j) {
  skip_ws(j);
  return j->i < j->n ? j->s[j->i] : 0;
}

static int hex4(Json *j, unsigned *u) {
  if (j->n - j->i < 4) return jerr(j, "a \\u escape is cut short");
  *u = 0;
  for (int k = 0; k < 4; k++) {
    char c = j->s[j->i++];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (d < 0) return jerr(j, "a bad \\u escape");
    *u = *u * 16 + (unsigned)d;
  }
  return 0;
}

static size_t put_utf8(char *w, unsigned u) {
  if (u < 0x80) { w[0] = (char)u; return 1; }
  if (u < 0x800) { w[0] = (char)(0xC0 | u >> 6); w[1] = (char)(0x80 | (u & 63)); return 2; }
  if (u < 0x10000) {
    w[0] = (char)(0xE0 | u >> 12); w[1] = (char)(0x80 | (u >> 6 & 63));
    w[2] = (char)(0x80 | (u & 63));
    return 3;
  }
  w[0] = (char)(0xF0 | u >> 18); w[1] = (char)(0x80 | (u >> 12 & 63));
  w[2] = (char)(0x80 | (u >> 6 & 63)); w[3] = (char)(0x80 | (u & 63));
  return 4;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid
** (overlong forms, surrogates and values past U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned u, min;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) len = 2, u = c & 0x1F, min = 0x80;
  else if ((c & 0xF0) == 0xE0) len = 3, u = c & 0x0F, min = 0x800;
  else if ((c & 0xF8) == 0xF0) len = 4, u = c & 0x07, min = 0x10000;
  else return 0;
  if (len > n) return 0;
  for (size_t k = 1; k < len; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    u = u << 6 | (s[k] & 0x3F);
  }
  if (u < min || u > 0x10FFFF || (u >= 0xD800 && u <= 0xDFFF)) return 0;
  return len;
}

static bool valid_utf8(const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t k = utf8_len((const unsigned char *)s + i, n - i);
    if (!k) return false;
    i += k;
  }
  return true;
}

/* A JSON string into a new malloc'ed, NUL-terminated UTF-8 string. A \u0000
** escape is refused: names and metadata are C strings here. */
static int parse_string(Json *j, char **out) {
  *out = NULL;
  if (expect(j, '"') < 0) return -1;
  size_t span = 0;   /* up to the closing quote: the decoded text is never longer */
  while (j->i + span < j->n && j->s[j->i + span] != '"')
    span += j->s[j->i + span] == '\\' ? 2 : 1;
  char *w0 = malloc(span + 1), *w = w0;
  if (!w0) return bt_seterr("read_safetensors: %s: out of memory", j->path);
  for (;;) {
    if (j->i >= j->n) goto bad_end;
    unsigned char c = (unsigned char)j->s[j->i];
    if (c == '"') {
      j->i++;
      break;
    }
    if (c < 0x20) {
      jerr(j, "a control character (byte %d) inside a string", c);
      goto fail;
    }
    if (c != '\\') {
      size_t k = utf8_len((const unsigned char *)j->s + j->i, j->n - j->i);
      if (!k) {
        jerr(j, "a string is not valid UTF-8");
        goto fail;
      }
      memcpy(w, j->s + j->i, k);
      w += k;
      j->i += k;
      continue;
    }
    if (++j->i >= j->n) goto bad_end;
    char e = j->s[j->i++];
    unsigned u;
    switch (e) {
      case '"': *w++ = '"'; break;
      case '\\': *w++ = '\\'; break;
      case '/': *w++ = '/'; break;
      case 'b': *w++ = '\b'; break;
      case 'f': *w++ = '\f'; break;
      case 'n': *w++ = '\n'; break;
      case 'r': *w++ = '\r'; break;
      case 't': *w++ = '\t'; break;
      case 'u':
        if (hex4(j, &u) < 0) goto fail;
        if (u >= 0xD800 && u <= 0xDBFF) {   /* a surrogate pair */
          unsigned lo;
          if (j->n - j->i < 6 || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') {
            jerr(j, "a lone surrogate in a \\u escape");
            goto fail;
          }
          j->i += 2;
          if (hex4(j, &lo) < 0) goto fail;
          if (lo < 0xDC00 || lo > 0xDFFF) {
            jerr(j, "a bad surrogate pair in a \\u escape");
            goto fail;
          }
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        } else if (u >= 0xDC00 && u <= 0xDFFF) {
          jerr(j, "a lone surrogate in a \\u escape");
          goto fail;
        } else if (u == 0) {
          jerr(j, "\\u0000 in a string");
          goto fail;
        }
        w += put_utf8(w, u);
        break;
      default:
        jerr(j, "a bad escape \\%c", e >= 32 && e < 127 ? e : '?');
        goto fail;
    }
  }
  *w = '\0';
  *out = w0;
  return 0;
bad_end:
  jerr(j, "a string is not closed");
fail:
  free(w0);
  return -1;
}

/* A non-negative integer: JSON's syntax (no leading zeros), no fraction or
** exponent, below 2^53 (what every JSON reader holds exactly). */
static int parse_uint(Json *j, int64_t *v) {
  skip_ws(j);
  size_t start = j->i;
  int64_t x = 0;
  while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
    x = x * 10 + (j->s[j->i++] - '0');
    if (x >= ((int64_t)1 << 53)) return jerr(j, "a number too large");
  }
  if (j->i == start) return jerr(j, "a non-negative integer expected");
  if (j->i - start > 1 && j->s[start] == '0') return jerr(j, "a number with a leading zero");
  if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
    return jerr(j, "an integer expected, not a fraction");
  *v = x;
  return 0;
}

/* [a, b, ...] of at most max integers. */
static int parse_uint_array(Json *j, int64_t *v, int max, int *count) {
  if (expect(j, '[') < 0) return -1;
  *count = 0;
  if (peek(j) == ']') {
    j->i++;
    return 0;
  }
  for (;;) {
    if (*count == max) return jerr(j, "more than %d numbers in an array", max);
    if (parse_uint(j, &v[(*count)++]) < 0) return -1;
    char c = peek(j);
    j->i++;
    if (c == ']') return 0;
    if (c != ',') {
      j->i--;
      return jerr(j, "',' or ']' expected in an array");
    }
  }
}

static int parse_dtype(Json *j, const char *tensor, bt_DType *dt) {
  char *s;
  if (parse_string(j, &s) < 0) return -1;
  int status = -1;
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp(s, dtypes[i].name) == 0) {
      *dt = dtypes[i].dt;
      status = 0;
    }
  if (status < 0) {
    bool known = false;
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++)
      known |= strcmp(s, unsupported[i]) == 0;
    bt_seterr(known ? "read_safetensors: %s: tensor '%.200s': dtype %.40s is not supported by "
                      "brasa (F32 F64 F16 BF16 I64 I32 U8 BOOL are)"
                    : "read_safetensors: %s: tensor '%.200s': unknown dtype '%.40s'",
              j->path, tensor, s);
  }
  free(s);
  return status;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]}, each once. */
static int parse_entry(Json *j, Entry *e) {
  bool seen[3] = {false, false, false};
  if (expect(j, '{') < 0) return -1;
  for (;;) {
    char *key;
    if (parse_string(j, &key) < 0) return -1;
    int which = strcmp(key, "dtype") == 0 ? 0 : strcmp(key, "shape") == 0 ? 1
              : strcmp(key, "data_offsets") == 0 ? 2 : -1;
    if (which < 0 || seen[which]) {
      jerr(j, which < 0 ? "tensor '%.200s': unknown field '%.100s'"
                        : "tensor '%.200s': field '%.100s' given twice", e->name, key);
      free(key);
      return -1;
    }
    free(key);
    seen[which] = true;
    if (expect(j, ':') < 0) return -1;
    int status, n;
    int64_t offs[3];
    if (which == 0) {
      status = parse_dtype(j, e->name, &e->dt);
    } else if (which == 1) {
      status = parse_uint_array(j, e->shape, BT_MAX_DIMS, &e->ndim);
    } else {
      status = parse_uint_array(j, offs, 3, &n);
      if (status == 0 && n != 2)
        status = jerr(j, "tensor '%.200s': data_offsets needs 2 numbers, not %d", e->name, n);
      e->begin = offs[0];
      e->end = offs[1];
    }
    if (status < 0) return -1;
    char c = peek(j);
    j->i++;
    if (c == '}') break;
    if (c != ',') {
      j->i--;
      return jerr(j, "',' or '}' expected");
    }
  }
  for (int k = 0; k < 3; k++)
    if (!seen[k])
      return jerr(j, "tensor '%.200s' has no %s", e->name,
                  k == 0 ? "dtype" : k == 1 ? "shape" : "data_offsets");
  return 0;
}

typedef struct {
  Entry *e;
  int n, cap;
  char **keys, **values;
  int nmeta, capmeta;
} Header;

static void header_free(Header *h) {
  for (int i = 0; i < h->n; i++) free(h->e[i].name);
  for (int i = 0; i < h->nmeta; i++) {
    free(h->keys[i]);
    free(h->values[i]);
  }
  free(h->e);
  free(h->keys);
  free(h->values);
}

static int add_meta(Json *j, Header *h, char *k, char *v) {
  for (int i = 0; i < h->nmeta; i++)
    if (strcmp(h->keys[i], k) == 0) {
      jerr(j, "metadata key '%.200s' given twice", k);
      free(k);
      free(v);
      return -1;
    }
  if (h->nmeta == h->capmeta) {
    int cap = h->capmeta ? 2 * h->capmeta : 8;
    char **nk = realloc(h->keys, (size_t)cap * sizeof *nk);
    if (nk) h->keys = nk;
    char **nv = realloc(h->values, (size_t)cap * sizeof *nv);
    if (nv) h->values = nv;
    if (!nk || !nv) {
      free(k);
      free(v);
      return bt_seterr("read_safetensors: out of memory");
    }
    h->capmeta = cap;
  }
  h->keys[h->nmeta] = k;
  h->values[h->nmeta++] = v;
  return 0;
}

/* "__metadata__": {"k": "v", ...} or null. */
static int parse_metadata(Json *j, Header *h) {
  if (peek(j) == 'n') {
    if (j->n - j->i >= 4 && memcmp(j->s + j->i, "null", 4) == 0) {
      j->i += 4;
      return 0;
    }
    return jerr(j, "__metadata__ must be an object of strings");
  }
  if (expect(j, '{') < 0) return -1;
  if (peek(j) == '}') {
    j->i++;
    return 0;
  }
  for (;;) {
    char *k, *v;
    if (parse_string(j, &k) < 0) return -1;
    if (expect(j, ':') < 0) {
      free(k);
      return -1;
    }
    if (peek(j) != '"') {
      jerr(j, "__metadata__ values must be strings ('%.200s' is not)", k);
      free(k);
      return -1;
    }
    if (parse_string(j, &v) < 0) {
      free(k);
      return -1;
    }
    if (add_meta(j, h, k, v) < 0) return -1;
    char c = peek(j);
    j->i++;
    if (c == '}') return 0;
    if (c != ',') {
      j->i--;
      return jerr(j, "',' or '}' expected in __metadata__");
    }
  }
}

static int parse_header(Json *j, Header *h) {
  if (expect(j, '{') < 0) return -1;
  bool meta_seen = false;
  if (peek(j) == '}') {
    j->i++;
  } else {
    for (;;) {
      char *name;
      if (parse_string(j, &name) < 0) return -1;
      if (expect(j, ':') < 0) {
        free(name);
        return -1;
      }
      if (strcmp(name, "__metadata__") == 0) {
        free(name);
        if (meta_seen) return jerr(j, "__metadata__ given twice");
        meta_seen = true;
        if (parse_metadata(j, h) < 0) return -1;
      } else {
        for (int i = 0; i < h->n; i++)
          if (strcmp(h->e[i].name, name) == 0) {
            jerr(j, "tensor '%.200s' given twice", name);
            free(name);
            return -1;
          }
        if (h->n == h->cap) {
          int cap = h->cap ? 2 * h->cap : 16;
          Entry *e = realloc(h->e, (size_t)cap * sizeof *e);
          if (!e) {
            free(name);
            return bt_seterr("read_safetensors: out of memory");
          }
          h->e = e;
          h->cap = cap;
        }
        Entry *e = &h->e[h->n++];
        memset(e, 0, sizeof *e);
        e->name = name;
        if (parse_entry(j, e) < 0) return -1;
      }
      char c = peek(j);
      j->i++;
      if (c == '}') break;
      if (c != ',') {
        j->i--;
        return jerr(j, "',' or '}' expected");
      }
    }
  }
  skip_ws(j);   /* writers pad the header with spaces */
  if (j->i != j->n) return jerr(j, "data after the header's closing brace");
  return 0;
}

/* ---- reading ---------------------------------------------------------------- */

static int by_begin(const void *a, const void *b) {
  const Entry *x = *(Entry *const *)a, *y = *(Entry *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* Sizes agree with offsets, and the spans tile [0, data_len) exactly.
** sorted receives the entries in file order. */
static int check_layout(const char *path, Header *h, int64_t data_len, Entry **sorted) {
  for (int i = 0; i < h->n; i++) {
    Entry *e = &h->e[i];
    int64_t n = bt_checked_numel("read_safetensors", e->ndim, e->shape);
    if (n < 0 || n > INT64_MAX / 8)
      return bt_seterr("read_safetensors: %s: tensor '%.200s': shape %s is too large", path,
                       e->name, bt_shpn(e->ndim, e->shape));
    int64_t bytes = n * (int64_t)bt_dtype_size(e->dt);
    if (e->end < e->begin)
      return bt_seterr("read_safetensors: %s: tensor '%.200s': data_offsets [%lld, %lld] end "
                       "before they begin", path, e->name, (long long)e->begin, (long long)e->end);
    if (e->end - e->begin != bytes)
      return bt_seterr("read_safetensors: %s: tensor '%.200s': %s %s needs %lld bytes, its "
                       "data_offsets [%lld, %lld] hold %lld", path, e->name, st_name(e->dt),
                       bt_shpn(e->ndim, e->shape), (long long)bytes, (long long)e->begin,
                       (long long)e->end, (long long)(e->end - e->begin));
    if (e->end > data_len)
      return bt_seterr("read_safetensors: %s: tensor '%.200s': data_offsets [%lld, %lld] go past "
                       "the end of the data (%lld bytes; a truncated file?)", path, e->name,
                       (long long)e->begin, (long long)e->end, (long long)data_len);
    sorted[i] = e;
  }
  qsort(sorted, (size_t)h->n, sizeof *sorted, by_begin);
  int64_t at = 0;
  for (int i = 0; i < h->n; i++) {
    Entry *e = sorted[i];
    if (e->begin < at)
      return bt_seterr("read_safetensors: %s: tensors '%.200s' and '%.200s' overlap", path,
                       sorted[i - 1]->name, e->name);
    if (e->begin > at)
      return bt_seterr("read_safetensors: %s: bytes %lld to %lld belong to no tensor (before "
                       "'%.200s')", path, (long long)at, (long long)e->begin, e->name);
    at = e->end;
  }
  if (at != data_len)
    return bt_seterr("read_safetensors: %s: %lld bytes after the last tensor's data", path,
                     (long long)(data_len - at));
  return 0;
}

static int read_bytes(FILE *f, void *buf, size_t n, const char *path) {
  if (n && fread(buf, 1, n, f) != n)
    return bt_seterr("read_safetensors: %s: %s", path,
                     ferror(f) ? strerror(errno) : "the file ends early (truncated)");
  return 0;
}

void bt_safetensors_free(bt_SafeTensors *st) {
  if (!st) return;
  for (int i = 0; i < st->n; i++) {
    free(st->names[i]);
    bt_release(st->tensors[i]);
  }
  for (int i = 0; i < st->nmeta; i++) {
    free(st->meta_keys[i]);
    free(st->meta_values[i]);
  }
  free(st->names);
  free(st->tensors);
  free(st->meta_keys);
  free(st->meta_values);
  free(st);
}

/* Moves the parsed header into st and reads the tensors' data. */
static int load_tensors(FILE *f, const char *path, Header *h, Entry **sorted, bt_SafeTensors *st) {
  int n = h->n;
  st->names = calloc((size_t)BT_MAX(n, 1), sizeof *st->names);
  st->tensors = calloc((size_t)BT_MAX(n, 1), sizeof *st->tensors);
  if (!st->names || !st->tensors) return bt_seterr("read_safetensors: out of memory");
  st->meta_keys = h->keys;
  st->meta_values = h->values;
  st->nmeta = h->nmeta;
  h->keys = h->values = NULL;
  h->nmeta = 0;
  for (int i = 0; i < n; i++) {
    Entry *e = sorted[i];
    st->names[i] = e->name;
    e->name = NULL;
    st->n = i + 1;
    bt_Tensor *t = bt_empty(e->ndim, e->shape, e->dt, BT_CPU_DEVICE);
    if (!t) return -1;
    st->tensors[i] = t;
    if (read_bytes(f, bt_data(t), (size_t)(e->end - e->begin), path) < 0) return -1;
    int64_t numel = bt_numel(t);
    if (!little_endian()) swap_bytes(bt_data(t), numel, bt_dtype_size(e->dt));
    if (e->dt == BT_BOOL) {   /* any nonzero byte means true; brasa keeps 0/1 */
      unsigned char *b = bt_data(t);
      for (int64_t k = 0; k < numel; k++) b[k] = b[k] != 0;
    }
  }
  return 0;
}

bt_SafeTensors *bt_safetensors_read(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return bt_seterr("read_safetensors: cannot open %s: %s", path, strerror(errno)), NULL;
  bt_SafeTensors *st = NULL;
  char *text = NULL;
  Header h = {0};
  Entry **sorted = NULL;
  struct stat sb;
  unsigned char lenbuf[8];
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    bt_seterr("read_safetensors: %s is not a regular file", path);
    goto done;
  }
  if (sb.st_size < 8) {
    bt_seterr("read_safetensors: %s: %lld bytes, too short for a safetensors file", path,
              (long long)sb.st_size);
    goto done;
  }
  if (read_bytes(f, lenbuf, 8, path) < 0) goto done;
  uint64_t hlen = 0;
  for (int k = 7; k >= 0; k--) hlen = hlen << 8 | lenbuf[k];
  if (hlen > HEADER_MAX || hlen > (uint64_t)sb.st_size - 8) {
    bt_seterr("read_safetensors: %s: the header length %llu is %s (not a safetensors file, or a "
              "truncated one)", path, (unsigned long long)hlen,
              hlen > HEADER_MAX ? "over 100 MB" : "past the end of the file");
    goto done;
  }
  if (hlen < 2) {
    bt_seterr("read_safetensors: %s: a header of %llu bytes is too short", path,
              (unsigned long long)hlen);
    goto done;
  }
  text = malloc(hlen);
  if (!text) {
    bt_seterr("read_safetensors: %s: out of memory", path);
    goto done;
  }
  if (read_bytes(f, text, hlen, path) < 0) goto done;
  Json j = {text, path, hlen, 0};
  if (parse_header(&j, &h) < 0) goto done;
  sorted = malloc((size_t)BT_MAX(h.n, 1) * sizeof *sorted);
  if (!sorted) {
    bt_seterr("read_safetensors: out of memory");
    goto done;
  }
  if (check_layout(path, &h, (int64_t)(sb.st_size - 8 - (int64_t)hlen), sorted) < 0) goto done;
  st = calloc(1, sizeof *st);
  if (!st) {
    bt_seterr("read_safetensors: out of memory");
    goto done;
  }
  if (load_tensors(f, path, &h, sorted, st) < 0) {
    bt_safetensors_free(st);
    st = NULL;
  }
done:
  header_free(&h);
  free(sorted);
  free(text);
  fclose(f);
  return st;
}

/* ---- writing ----------------------------------------------------------------- */

typedef struct {
  char *s;
  size_t n, cap;
  bool failed;
} Buf;

static void put(Buf *b, const char *s, size_t n) {
  if (b->failed) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
      b->failed = true;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = '\0';
}

static void puts_(Buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_json_string(Buf *b, const char *s) {
  put(b, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    char esc[8];
    if (*p == '"' || *p == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*p;
      put(b, esc, 2);
    } else if (*p < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *p);
      put(b, esc, 6);
    } else {
      put(b, (const char *)p, 1);
    }
  }
  put(b, "\"", 1);
}

static int check_write_args(int n, const char *const *names, bt_Tensor *const *tensors,
                            int nmeta, const char *const *keys, const char *const *values) {
  for (int i = 0; i < n; i++) {
    if (!names[i] || !tensors[i]) return bt_seterr("write_safetensors: tensor %d has no name", i + 1);
    if (!valid_utf8(names[i]))
      return bt_seterr("write_safetensors: the name of tensor %d is not valid UTF-8", i + 1);
    if (strcmp(names[i], "__metadata__") == 0)
      return bt_seterr("write_safetensors: '__metadata__' cannot name a tensor");
    for (int k = 0; k < i; k++)
      if (strcmp(names[k], names[i]) == 0)
        return bt_seterr("write_safetensors: two tensors named '%.200s'", names[i]);
    if (tensors[i]->storage->device.type != BT_CPU)
      return bt_seterr("write_safetensors: tensor '%.200s' is on a GPU (move it to the CPU first)",
                       names[i]);
    if (!st_name(tensors[i]->dtype))
      return bt_seterr("write_safetensors: tensor '%.200s': dtype %s cannot be written", names[i],
                       bt_dtype_name(tensors[i]->dtype));
  }
  for (int i = 0; i < nmeta; i++) {
    if (!keys[i] || !values[i]) return bt_seterr("write_safetensors: metadata entry %d is empty", i + 1);
    if (!valid_utf8(keys[i]) || !valid_utf8(values[i]))
      return bt_seterr("write_safetensors: metadata '%.200s' is not valid UTF-8", keys[i]);
    for (int k = 0; k < i; k++)
      if (strcmp(keys[k], keys[i]) == 0)
        return bt_seterr("write_safetensors: metadata key '%.200s' given twice", keys[i]);
  }
  return 0;
}

/* The header: tensors in the given order, data in the same order; padded
** with spaces so the data start at a multiple of 8 bytes. */
static int build_header(Buf *b, int n, const char *const *names, bt_Tensor *const *tensors,
                        int nmeta, const char *const *keys, const char *const *values) {
  char num[64];
  int64_t at = 0;
  puts_(b, "{");
  if (nmeta > 0) {
    puts_(b, "\"__metadata__\":{");
    for (int i = 0; i < nmeta; i++) {
      if (i) puts_(b, ",");
      put_json_string(b, keys[i]);
      puts_(b, ":");
      put_json_string(b, values[i]);
    }
    puts_(b, n ? "}," : "}");
  }
  for (int i = 0; i < n; i++) {
    const bt_Tensor *t = tensors[i];
    if (i) puts_(b, ",");
    put_json_string(b, names[i]);
    puts_(b, ":{\"dtype\":\"");
    puts_(b, st_name(t->dtype));
    puts_(b, "\",\"shape\":[");
    for (int d = 0; d < t->ndim; d++) {
      snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)t->shape[d]);
      puts_(b, num);
    }
    int64_t bytes = bt_numel(t) * (int64_t)bt_dtype_size(t->dtype);
    snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)at,
             (long long)(at + bytes));
    puts_(b, num);
    at += bytes;
  }
  puts_(b, "}");
  while (b->n % 8) puts_(b, " ");
  return b->failed ? bt_seterr("write_safetensors: out of memory") : 0;
}

static int write_tensor(FILE *f, bt_Tensor *t) {
  bool grad = bt_set_grad_enabled(false);
  bt_Tensor *c = bt_contiguous(t);
  bt_set_grad_enabled(grad);
  if (!c) return -1;
  size_t es = bt_dtype_size(c->dtype), bytes = (size_t)bt_numel(c) * es;
  const char *p = bt_data(c);
  int status = 0;
  if (little_endian()) {
    if (bytes && fwrite(p, 1, bytes, f) != bytes) status = -1;
  } else {   /* swap through a small buffer */
    char tmp[4096];
    for (size_t at = 0; at < bytes && status == 0; at += sizeof tmp) {
      size_t k = BT_MIN(sizeof tmp, bytes - at);
      memcpy(tmp, p + at, k);
      swap_bytes(tmp, (int64_t)(k / es), es);
      if (fwrite(tmp, 1, k, f) != k) status = -1;
    }
  }
  bt_release(c);
  return status;
}

/* The temporary file's name: ".<base>.tmp-XXXXXX" in path's directory. */
static char *temp_name(const char *path) {
  size_t n = strlen(path);
  char *tmpl = malloc(n + 32);
  if (!tmpl) return NULL;
  const char *slash = strrchr(path, '/');
  size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
  memcpy(tmpl, path, dirlen);
  snprintf(tmpl + dirlen, n + 32 - dirlen, ".%s.tmp-XXXXXX", path + dirlen);
  return tmpl;
}

static void sync_dir(const char *path) {
  char *copy = strdup(path);
  if (!copy) return;
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);   /* makes the rename durable; a failure here loses nothing */
    close(fd);
  }
  free(copy);
}

int bt_safetensors_write(const char *path, int n, const char *const *names,
                         bt_Tensor *const *tensors, int nmeta, const char *const *meta_keys,
                         const char *const *meta_values) {
  if (check_write_args(n, names, tensors, nmeta, meta_keys, meta_values) < 0) return -1;
  Buf b = {0};
  if (build_header(&b, n, names, tensors, nmeta, meta_keys, meta_values) < 0) {
    free(b.s);
    return -1;
  }
  char *tmp = temp_name(path);
  if (!tmp) {
    free(b.s);
    return bt_seterr("write_safetensors: out of memory");
  }
  int status = 0;
  FILE *f = NULL;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    status = bt_seterr("write_safetensors: cannot create a temporary file beside %s: %s", path,
                       strerror(errno));
    goto done;
  }
  struct stat old;   /* keep the mode of the file replaced, else 0644 */
  fchmod(fd, stat(path, &old) == 0 && S_ISREG(old.st_mode) ? (old.st_mode & 07777) : 0644);
  if (!(f = fdopen(fd, "wb"))) {
    close(fd);
    status = bt_seterr("write_safetensors: %s: %s", tmp, strerror(errno));
    goto done;
  }
  unsigned char lenbuf[8];
  for (int k = 0; k < 8; k++) lenbuf[k] = (unsigned char)((uint64_t)b.n >> (8 * k));
  bool ok = fwrite(lenbuf, 1, 8, f) == 8 && fwrite(b.s, 1, b.n, f) == b.n;
  for (int i = 0; i < n && ok; i++) {
    if (write_tensor(f, tensors[i]) < 0) {
      if (!ferror(f)) {   /* not a write error: the contiguous copy failed */
        status = -1;
        goto done;
      }
      ok = false;
    }
  }
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  f = NULL;
  if (!ok) {
    status = bt_seterr("write_safetensors: writing %s failed: %s (the previous file is unchanged)",
                       path, strerror(err));
    goto done;
  }
  if (rename(tmp, path) != 0) {
    status = bt_seterr("write_safetensors: cannot replace %s: %s", path, strerror(errno));
    goto done;
  }
  sync_dir(path);
done:
  if (f) fclose(f);
  if (status < 0 && fd >= 0) unlink(tmp);
  free(tmp);
  free(b.s);
  return status;
}
