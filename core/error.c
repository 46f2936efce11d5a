/*
** error.c: the per-thread error message, interruption flag, shape strings.
*/
#include "internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char errbuf[1024];
static volatile sig_atomic_t interrupt_flag;

const char *bt_errmsg(void) { return errbuf; }

int bt_seterr(const char *fmt, ...) {
  char tmp[sizeof errbuf];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);   /* tmp: fmt may print errbuf itself */
  va_end(ap);
  memcpy(errbuf, tmp, sizeof errbuf);
  return -1;
}

void bt_interrupt(void) { interrupt_flag = 1; }
void bt_clear_interrupt(void) { interrupt_flag = 0; }
bool bt_interrupted(void) { return interrupt_flag != 0; }

char *bt_shape_str_n(int ndim, const int64_t *shape, char *buf) {
  char *p = buf;
  *p++ = '[';
  for (int d = 0; d < ndim; d++)
    p += sprintf(p, d ? "x%lld" : "%lld", (long long)shape[d]);
  *p++ = ']';
  *p = '\0';
  return buf;
}

char *bt_shape_str(const bt_Tensor *t, char *buf) {
  return bt_shape_str_n(t->ndim, t->shape, buf);
}

/* Eight rotating buffers: a message may name several shapes. */
const char *bt_shpn(int ndim, const int64_t *shape) {
  static _Thread_local char bufs[8][200];
  static _Thread_local int next;
  char *b = bufs[next++ & 7];
  return bt_shape_str_n(ndim, shape, b);
}

const char *bt_shp(const bt_Tensor *t) { return bt_shpn(t->ndim, t->shape); }

int bt_wrap_dim(const char *op, int64_t dim, int ndim) {
  int64_t n = ndim == 0 ? 1 : ndim;    /* a 0-dim tensor accepts dim 0 and -1 */
  if (dim < -n || dim >= n)
    return bt_seterr("%s: dim %lld out of range for a %d-dim tensor (valid: %lld..%lld)", op,
                     (long long)dim, ndim, (long long)-n, (long long)(n - 1));
  return (int)(dim < 0 ? dim + n : dim);
}

const char *bt_device_name(bt_Device d, char *buf) {
  if (d.type == BT_CPU) strcpy(buf, "cpu");
  else sprintf(buf, "cuda:%d", d.index);
  return buf;
}
