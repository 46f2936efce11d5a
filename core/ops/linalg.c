/*
** ops/linalg.c: matmul (NumPy semantics), mm, bmm, dot, outer.
**
** bmm is the one primitive with a backward rule; mm, dot and the batched and
** broadcast cases of matmul are views around it, so their gradients come
** from the view ops' rules. Under autocast (autocast.h) matmul, mm and bmm
** cast their operands at entry: they are lower-precision ops.
*/
#include "internal.h"
#include "autograd.h"
#include "autocast.h"

static int check_pair(const char *op, bt_Tensor *a, bt_Tensor *b) {
  if (a->dtype != b->dtype)
    return bt_seterr("%s: both operands need the same dtype, got %s and %s (cast one with :to())",
                     op, bt_dtype_name(a->dtype), bt_dtype_name(b->dtype));
  if (!bt_dtype_is_float(a->dtype))
    return bt_seterr("%s: needs float tensors, got %s (cast with :float())", op, bt_dtype_name(a->dtype));
  bt_Device da = a->storage->device, db = b->storage->device;
  if (da.type != db.type || da.index != db.index) {
    char x[32], y[32];
    return bt_seterr("%s: operands on different devices (%s and %s)", op, bt_device_name(da, x),
                     bt_device_name(db, y));
  }
  return 0;
}

static int bmm_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *a = n->saved[0], *b = n->saved[1];
  if (bt_ag_wants(n, 0)) {
    bt_Tensor *bt = bt_transpose(b, 1, 2);
    gin[0] = bt ? bt_bmm(g, bt) : NULL;
    bt_release(bt);
    if (!gin[0]) return -1;
  }
  if (bt_ag_wants(n, 1)) {
    bt_Tensor *at = bt_transpose(a, 1, 2);
    gin[1] = at ? bt_bmm(at, g) : NULL;
    bt_release(at);
    if (!gin[1]) return -1;
  }
  return 0;
}

bt_Tensor *bt_bmm(bt_Tensor *a, bt_Tensor *b) {
  bt_Tensor *ac[2] = {a, b};   /* autocast: a lower-precision op */
  int acr = bt_autocast_args(BT_AUTOCAST_LOWER, 2, ac);
  if (acr) return bt_autocast_done(2, ac, acr > 0 ? bt_bmm(ac[0], ac[1]) : NULL);
  if (a->ndim != 3 || b->ndim != 3)
    return bt_seterr("bmm: expects 3-D tensors, got %s and %s", bt_shp(a), bt_shp(b)), NULL;
  if (a->shape[0] != b->shape[0])
    return bt_seterr("bmm: %s @ %s: batch sizes %lld and %lld differ", bt_shp(a), bt_shp(b),
                     (long long)a->shape[0], (long long)b->shape[0]), NULL;
  if (a->shape[2] != b->shape[1])
    return bt_seterr("bmm: %s @ %s: inner sizes %lld and %lld differ", bt_shp(a), bt_shp(b),
                     (long long)a->shape[2], (long long)b->shape[1]), NULL;
  if (check_pair("bmm", a, b) < 0) return NULL;
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *) = BT_KERNEL("bmm", a->storage->device, matmul);
  if (!k) return NULL;
  /* f16/bf16 compute in f32 on CPU; the CUDA kernel takes them as they are. */
  bt_DType cdt = a->dtype == BT_F64 ? BT_F64 : a->storage->device.type == BT_CUDA ? a->dtype : BT_F32;
  bt_Tensor *pa = a->dtype == cdt ? (bt_retain(a), a) : bt_contiguous_as(a, cdt);
  bt_Tensor *pb = b->dtype == cdt ? (bt_retain(b), b) : bt_contiguous_as(b, cdt);
  int64_t shape[3] = {a->shape[0], a->shape[1], b->shape[2]};
  bt_Tensor *out = pa && pb ? bt_empty(3, shape, cdt, a->storage->device) : NULL;
  int rc = out ? k(out, pa, pb) : -1;
  bt_release(pa);
  bt_release(pb);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  if (cdt != a->dtype) {
    bt_Tensor *c = bt_contiguous_as(out, a->dtype);
    bt_release(out);
    if (!(out = c)) return NULL;
  }
  bt_Tensor *in[2] = {a, b};
  if (bt_ag_needs(2, in)) {
    bt_Node *node = bt_ag_record("BmmBackward", bmm_backward, 2, in, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    bt_ag_save(node, a);
    bt_ag_save(node, b);
  }
  return out;
}

bt_Tensor *bt_mm(bt_Tensor *a, bt_Tensor *b) {
  bt_Tensor *ac[2] = {a, b};   /* autocast: a lower-precision op */
  int acr = bt_autocast_args(BT_AUTOCAST_LOWER, 2, ac);
  if (acr) return bt_autocast_done(2, ac, acr > 0 ? bt_mm(ac[0], ac[1]) : NULL);
  if (a->ndim != 2 || b->ndim != 2)
    return bt_seterr("mm: expects 2-D tensors, got %s and %s", bt_shp(a), bt_shp(b)), NULL;
  if (a->shape[1] != b->shape[0])
    return bt_seterr("mm: %s @ %s: inner sizes %lld and %lld differ", bt_shp(a), bt_shp(b),
                     (long long)a->shape[1], (long long)b->shape[0]), NULL;
  bt_Tensor *a3 = bt_unsqueeze(a, 0), *b3 = a3 ? bt_unsqueeze(b, 0) : NULL;
  bt_Tensor *c3 = b3 ? bt_bmm(a3, b3) : NULL;
  bt_Tensor *c = c3 ? bt_squeeze(c3, 0) : NULL;
  bt_release(a3);
  bt_release(b3);
  bt_release(c3);
  return c;
}

bt_Tensor *bt_dot(bt_Tensor *a, bt_Tensor *b) {
  if (a->ndim != 1 || b->ndim != 1 || a->shape[0] != b->shape[0])
    return bt_seterr("dot: expects two 1-D tensors of the same size, got %s and %s", bt_shp(a),
                     bt_shp(b)), NULL;
  int64_t r[2] = {1, a->shape[0]}, c[2] = {b->shape[0], 1}, none[1];
  bt_Tensor *ar = bt_reshape(a, 2, r), *bc = ar ? bt_reshape(b, 2, c) : NULL;
  bt_Tensor *m = bc ? bt_mm(ar, bc) : NULL, *s = m ? bt_reshape(m, 0, none) : NULL;
  bt_release(ar);
  bt_release(bc);
  bt_release(m);
  return s;
}

bt_Tensor *bt_outer(bt_Tensor *a, bt_Tensor *b) {
  if (a->ndim != 1 || b->ndim != 1)
    return bt_seterr("outer: expects two 1-D tensors, got %s and %s", bt_shp(a), bt_shp(b)), NULL;
  bt_Tensor *ac = bt_unsqueeze(a, 1), *br = ac ? bt_unsqueeze(b, 0) : NULL;
  bt_Tensor *r = br ? bt_mul(ac, br) : NULL;
  bt_release(ac);
  bt_release(br);
  return r;
}

bt_Tensor *bt_matmul(bt_Tensor *a, bt_Tensor *b) {
  bt_Tensor *ac[2] = {a, b};   /* autocast: a lower-precision op (cast before any reshape) */
  int acr = bt_autocast_args(BT_AUTOCAST_LOWER, 2, ac);
  if (acr) return bt_autocast_done(2, ac, acr > 0 ? bt_matmul(ac[0], ac[1]) : NULL);
  if (a->ndim == 0 || b->ndim == 0)
    return bt_seterr("matmul: both operands need at least 1 dim, got %s and %s", bt_shp(a),
                     bt_shp(b)), NULL;
  int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim == 1 ? 0 : b->ndim - 2];
  if (ka != kb)
    return bt_seterr("matmul: %s @ %s: inner sizes %lld and %lld differ", bt_shp(a), bt_shp(b),
                     (long long)ka, (long long)kb), NULL;
  if (a->ndim == 1 && b->ndim == 1) return bt_dot(a, b);
  if (a->ndim <= 2 && b->ndim <= 2) {
    bt_Tensor *a2 = a->ndim == 1 ? bt_unsqueeze(a, 0) : (bt_retain(a), a);
    bt_Tensor *b2 = !a2 ? NULL : b->ndim == 1 ? bt_unsqueeze(b, 1) : (bt_retain(b), b);
    bt_Tensor *c = b2 ? bt_mm(a2, b2) : NULL, *r = c;
    if (c && (a->ndim == 1 || b->ndim == 1)) {
      r = bt_squeeze(c, a->ndim == 1 ? 0 : 1);
      bt_release(c);
    }
    bt_release(a2);
    bt_release(b2);
    return r;
  }
  if (b->ndim == 2) {
    /* [..., m, k] @ [k, n]: one GEMM over the folded leading dims. */
    int64_t flat[2] = {-1, ka}, out[BT_MAX_DIMS];
    for (int d = 0; d < a->ndim - 1; d++) out[d] = a->shape[d];
    out[a->ndim - 1] = b->shape[1];
    bt_Tensor *af = bt_reshape(a, 2, flat), *c = af ? bt_mm(af, b) : NULL;
    bt_Tensor *r = c ? bt_reshape(c, a->ndim, out) : NULL;
    bt_release(af);
    bt_release(c);
    return r;
  }
  /* Batched: a [..., m, k] @ b [..., k, n] with broadcast batch dims. */
  bt_Tensor *a2 = a->ndim == 1 ? bt_unsqueeze(a, 0) : (bt_retain(a), a);
  bt_Tensor *b2 = !a2 ? NULL : b->ndim == 1 ? bt_unsqueeze(b, 1) : (bt_retain(b), b);
  if (!b2) {
    bt_release(a2);
    return NULL;
  }
  int nba = a2->ndim - 2, nbb = b2->ndim - 2, nb;
  int64_t batch[BT_MAX_DIMS];
  bt_Tensor *r = NULL;
  if (bt_broadcast_shapes("matmul", nba, a2->shape, nbb, b2->shape, &nb, batch) == 0) {
    int64_t m = a2->shape[a2->ndim - 2], k = ka, n = b2->shape[b2->ndim - 1], B = 1;
    for (int d = 0; d < nb; d++) B *= batch[d];
    int64_t ea[BT_MAX_DIMS], eb[BT_MAX_DIMS], s3a[3] = {B, m, k}, s3b[3] = {B, k, n};
    memcpy(ea, batch, sizeof(int64_t) * (size_t)nb);
    memcpy(eb, batch, sizeof(int64_t) * (size_t)nb);
    ea[nb] = m; ea[nb + 1] = k;
    eb[nb] = k; eb[nb + 1] = n;
    bt_Tensor *xa = bt_expand(a2, nb + 2, ea), *xb = xa ? bt_expand(b2, nb + 2, eb) : NULL;
    bt_Tensor *ra = xb ? bt_reshape(xa, 3, s3a) : NULL, *rb = ra ? bt_reshape(xb, 3, s3b) : NULL;
    bt_Tensor *c = rb ? bt_bmm(ra, rb) : NULL;
    int64_t out[BT_MAX_DIMS];
    int no = 0;
    for (int d = 0; d < nb; d++) out[no++] = batch[d];
    if (a->ndim > 1) out[no++] = m;
    if (b->ndim > 1) out[no++] = n;
    r = c ? bt_reshape(c, no, out) : NULL;
    bt_release(xa); bt_release(xb); bt_release(ra); bt_release(rb); bt_release(c);
  }
  bt_release(a2);
  bt_release(b2);
  return r;
}
