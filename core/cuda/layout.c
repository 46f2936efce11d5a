/*
** cuda/layout.c: operand layouts for the kernels (host side).
**
** Kernels see a btc_Layout: the shape of the iteration and each operand's
** strides, with size-1 dims dropped and dims merged where every operand is
** contiguous across them, so the common cases (same-shape contiguous
** operands, a broadcast row) reach the kernel with one or two dims and cost
** few divisions per element.
*/
#include "common.h"

bool btc_is_host_scalar(const bt_Tensor *t) {
  if (t->storage->device.type != BT_CPU) return false;
  for (int d = 0; d < t->ndim; d++)
    if (t->shape[d] != 1 && t->stride[d] != 0) return false;
  return true;
}

int btc_check_operand(const char *op, const bt_Tensor *out, const bt_Tensor *t) {
  if (t->storage->device.type != BT_CPU || btc_is_host_scalar(t)) return 0;
  char a[32], b[32];
  return bt_seterr("%s: tensors are on different devices (%s and %s)", op,
                   bt_device_name(out->storage->device, a), bt_device_name(t->storage->device, b));
}

void btc_layout(btc_Layout *L, int n, const bt_Tensor *const *t) {
  const bt_Tensor *o = t[0];
  memset(L, 0, sizeof *L);
  L->numel = bt_numel(o);
  int nd = 0;
  for (int d = 0; d < o->ndim; d++) {
    if (o->shape[d] == 1) continue;
    long long st[BTC_MAX_OPS];
    for (int k = 0; k < n; k++) {
      const bt_Tensor *x = t[k];
      bool bcast = !x || x->ndim != o->ndim || btc_is_host_scalar(x);
      st[k] = bcast ? 0 : x->stride[d];
    }
    /* Merge into the previous kept dim when every operand continues it. */
    bool merge = nd > 0;
    for (int k = 0; merge && k < n; k++)
      if (L->stride[k][nd - 1] != st[k] * o->shape[d]) merge = false;
    if (merge) {
      L->shape[nd - 1] *= o->shape[d];
      for (int k = 0; k < n; k++) L->stride[k][nd - 1] = st[k];
    } else {
      L->shape[nd] = o->shape[d];
      for (int k = 0; k < n; k++) L->stride[k][nd] = st[k];
      nd++;
    }
  }
  L->ndim = nd;
  L->small = L->numel <= 0x7fffffffLL;
}

bool btc_layout_contiguous(const btc_Layout *L, int n) {
  if (L->ndim > 1) return false;
  for (int k = 0; k < n; k++)
    if (L->ndim == 1 && L->stride[k][0] != 1) return false;
  return true;
}

bool btc_layout_dense(const btc_Layout *L, int n) {
  if (L->ndim > 1) return false;
  for (int k = 0; k < n; k++)
    if (L->ndim == 1 && L->stride[k][0] != 1 && L->stride[k][0] != 0) return false;
  return true;
}

void btc_lines(btc_Lines *L, int dim, int n, const bt_Tensor *const *t) {
  const bt_Tensor *o = t[0];
  memset(L, 0, sizeof *L);
  L->nlines = 1;
  int nd = 0;
  for (int d = 0; d < o->ndim; d++) {
    if (d == dim || o->shape[d] == 1) continue;
    L->shape[nd] = o->shape[d];
    for (int k = 0; k < n; k++) L->stride[k][nd] = t[k] ? t[k]->stride[d] : 0;
    L->nlines *= o->shape[d];
    nd++;
  }
  L->ndim = nd;
}
