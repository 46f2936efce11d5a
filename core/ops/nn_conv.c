/*
** ops/nn_conv.c: convolutions (conv1d, conv2d) and transposed convolutions
** (conv_transpose1d, conv_transpose2d), PyTorch 1.13's semantics.
**
** Everything is a 2-d convolution underneath: a 1-d one views [N, C, L] as
** [N, C, 1, L]. Three primitives, each bilinear in its two tensors, share one
** geometry (bt_ConvGeom) and differentiate into each other:
**
**   y = C(x, w)     conv2d                  (kernel conv2d)
**   x = T(y, w)     its adjoint in x        (kernel conv2d_input)
**   w = W(x, y)     its adjoint in w        (kernel conv2d_weight)
**
** Since <y, C(x, w)> = <T(y, w), x> = <W(x, y), w>, the rules are
**   C: dx = T(g, w)      dw = W(x, g)
**   T: dy = C(g, w)      dw = W(g, y)
**   W: dx = T(y, g)      dy = C(x, g)
** (as PyTorch's convolution_backward), and the bias's gradient is a sum, so
** gradients of any order work. A transposed convolution is T with the
** geometry of the convolution it transposes.
**
** Padding may differ per side (top, bottom, left, right): the geometry keeps
** the leading pad, and the trailing one only changes the output size.
*/
#include "internal.h"
#include "autograd.h"
#include "autocast.h"

typedef enum { PRIM_C, PRIM_T, PRIM_W } Prim;

static bt_Tensor *prim(Prim p, bt_Tensor *a, bt_Tensor *b, bt_Tensor *bias,
                       const bt_ConvGeom *g);
static int weight_and_bias(bt_Tensor *x, bt_Tensor *g, const bt_ConvGeom *geo, bt_Tensor **gw,
                           bt_Tensor **gb);

/* ---- backward rules ------------------------------------------------------------ */

/* The geometry a node keeps (its batch size is the tensors'). */
static const bt_ConvGeom *geom_of(const bt_Node *n) { return n->extra; }

/* Sum of g over every dim but 1: the gradient of a per-channel bias. */
static bt_Tensor *bias_grad(bt_Tensor *g) {
  return bt_sum(g, (1u << 0) | (1u << 2) | (1u << 3), false);
}

/* C(x, w) + bias: inputs x, w, bias; saved x, w. */
static int conv_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_ConvGeom *geo = geom_of(n);
  if (bt_ag_wants(n, 0) && !(gin[0] = prim(PRIM_T, g, n->saved[1], NULL, geo))) return -1;
  /* No graph to build: the weight's and the bias's gradients in one pass. */
  if (bt_ag_wants(n, 1) && bt_ag_wants(n, 2) && !bt_ag_create_graph())
    return weight_and_bias(n->saved[0], g, geo, &gin[1], &gin[2]);
  if (bt_ag_wants(n, 1) && !(gin[1] = prim(PRIM_W, n->saved[0], g, NULL, geo))) return -1;
  if (bt_ag_wants(n, 2) && !(gin[2] = bias_grad(g))) return -1;
  return 0;
}

/* T(y, w) + bias: inputs y, w, bias; saved y, w. */
static int conv_t_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_ConvGeom *geo = geom_of(n);
  if (bt_ag_wants(n, 0) && !(gin[0] = prim(PRIM_C, g, n->saved[1], NULL, geo))) return -1;
  if (bt_ag_wants(n, 1) && !(gin[1] = prim(PRIM_W, g, n->saved[0], NULL, geo))) return -1;
  if (bt_ag_wants(n, 2) && !(gin[2] = bias_grad(g))) return -1;
  return 0;
}

/* W(x, y): inputs x, y; saved x, y. */
static int conv_w_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  const bt_ConvGeom *geo = geom_of(n);
  if (bt_ag_wants(n, 0) && !(gin[0] = prim(PRIM_T, n->saved[1], g, NULL, geo))) return -1;
  if (bt_ag_wants(n, 1) && !(gin[1] = prim(PRIM_C, n->saved[0], g, NULL, geo))) return -1;
  return 0;
}

/* ---- the primitives ------------------------------------------------------------------ */

static const char *prim_name(Prim p) {
  return p == PRIM_C ? "conv2d" : p == PRIM_T ? "conv_transpose2d" : "conv2d (weight gradient)";
}

/* The shape of each side under geometry g (n images). */
static void x_shape(const bt_ConvGeom *g, int64_t n, int64_t *s) {
  s[0] = n, s[1] = g->c, s[2] = g->h, s[3] = g->w;
}
static void y_shape(const bt_ConvGeom *g, int64_t n, int64_t *s) {
  s[0] = n, s[1] = g->oc, s[2] = g->oh, s[3] = g->ow;
}
static void w_shape(const bt_ConvGeom *g, int64_t *s) {
  s[0] = g->oc, s[1] = g->c / g->groups, s[2] = g->kh, s[3] = g->kw;
}

/* Records the rule of primitive p for out; releases out on failure. */
static bt_Tensor *record(Prim p, bt_Tensor *out, bt_Tensor *a, bt_Tensor *b, bt_Tensor *bias,
                         const bt_ConvGeom *g) {
  bt_Tensor *in[3] = {a, b, bias};
  int nin = p == PRIM_W ? 2 : 3;
  if (!bt_ag_needs(nin, in)) return out;
  static const char *names[] = {"ConvolutionBackward", "ConvTransposeBackward",
                                "ConvWeightBackward"};
  static const bt_BackwardFn fns[] = {conv_backward, conv_t_backward, conv_w_backward};
  bt_ConvGeom *copy = malloc(sizeof *copy);
  bt_Node *node = copy ? bt_ag_record(names[p], fns[p], nin, in, out) : NULL;
  if (!node) {
    free(copy);
    if (!copy) bt_seterr("%s: out of memory recording the graph", prim_name(p));
    bt_release(out);
    return NULL;
  }
  *copy = *g;
  node->extra = copy;
  node->free_extra = free;
  bt_ag_save(node, a);
  bt_ag_save(node, b);
  return out;
}

/* The dtype the kernels of device d compute a convolution of dt in: f16 and
** bf16 widen to f32 on the CPU, and stay as they are on the GPU (cuDNN,
** tensor cores, f32 accumulation). */
static bt_DType conv_dtype(bt_DType dt, bt_Device d) {
  if (d.type == BT_CUDA && (dt == BT_F16 || dt == BT_BF16)) return dt;
  return dt == BT_F64 ? BT_F64 : BT_F32;
}

/* Runs primitive p on tensors already checked against g (any strides, any
** float dtype: see conv_dtype) and records its rule.
**   C: a = x, b = w, bias [oc]    -> y
**   T: a = y, b = w, bias [c]     -> x
**   W: a = x, b = y               -> w */
static bt_Tensor *prim(Prim p, bt_Tensor *a, bt_Tensor *b, bt_Tensor *bias,
                       const bt_ConvGeom *g0) {
  const char *op = prim_name(p);
  bt_ConvGeom g = *g0;
  g.n = a->shape[0];
  bt_DType dt = a->dtype, cdt = conv_dtype(dt, bt_dev(a));
  int64_t shape[4];
  if (p == PRIM_C) y_shape(&g, g.n, shape);
  else if (p == PRIM_T) x_shape(&g, g.n, shape);
  else w_shape(&g, shape);
  bt_Tensor *ca = bt_contiguous_as(a, cdt), *cb = ca ? bt_contiguous_as(b, cdt) : NULL;
  bt_Tensor *cbias = cb && bias ? bt_contiguous_as(bias, cdt) : NULL;
  bt_Tensor *out = cb && (cbias || !bias) ? bt_empty(4, shape, cdt, bt_dev(a)) : NULL;
  int rc = out ? 0 : -1;
  if (out && bt_numel(out) > 0) {
    if (p == PRIM_C) {
      int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
               const bt_ConvGeom *) = BT_KERNEL(op, bt_dev(a), conv2d);
      rc = k ? k(out, ca, cb, cbias, &g) : -1;
    } else if (p == PRIM_T) {
      int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
               const bt_ConvGeom *) = BT_KERNEL(op, bt_dev(a), conv2d_input);
      rc = k ? k(out, ca, cb, cbias, &g) : -1;
    } else if (g.n == 0) {
      rc = bt_zero_(out);
    } else {
      int (*k)(bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
               const bt_ConvGeom *) = BT_KERNEL(op, bt_dev(a), conv2d_weight);
      rc = k ? k(out, NULL, ca, cb, &g) : -1;
    }
  }
  bt_release(ca);
  bt_release(cb);
  bt_release(cbias);
  if (rc == 0 && cdt != dt) {
    bt_Tensor *c = bt_contiguous_as(out, dt);
    bt_release(out);
    if (!(out = c)) rc = -1;
  }
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  return record(p, out, a, b, bias, g0);
}

/* The gradients of the weight and the bias of C(x, w) + bias for grad g,
** outside any graph (no rule is recorded). */
static int weight_and_bias(bt_Tensor *x, bt_Tensor *g, const bt_ConvGeom *geo, bt_Tensor **gw,
                           bt_Tensor **gb) {
  const char *op = "conv2d (weight gradient)";
  bt_ConvGeom gm = *geo;
  gm.n = x->shape[0];
  bt_DType dt = x->dtype, cdt = conv_dtype(dt, bt_dev(x));
  int64_t ws[4];
  w_shape(&gm, ws);
  bt_Tensor *cx = bt_contiguous_as(x, cdt), *cg = cx ? bt_contiguous_as(g, cdt) : NULL;
  bt_Tensor *w = cg ? bt_empty(4, ws, cdt, bt_dev(x)) : NULL;
  bt_Tensor *b = w ? bt_empty(1, &gm.oc, cdt, bt_dev(x)) : NULL;
  int rc = b ? 0 : -1;
  if (b && gm.n == 0) {
    rc = bt_zero_(w) < 0 || bt_zero_(b) < 0 ? -1 : 0;
  } else if (b) {
    int (*k)(bt_Tensor *, bt_Tensor *, const bt_Tensor *, const bt_Tensor *,
             const bt_ConvGeom *) = BT_KERNEL(op, bt_dev(x), conv2d_weight);
    rc = k ? k(w, b, cx, cg, &gm) : -1;
  }
  bt_release(cx);
  bt_release(cg);
  if (rc < 0) {
    bt_release(w);
    bt_release(b);
    return -1;
  }
  *gw = w;   /* the engine casts f32 gradients back to an f16/bf16 input's dtype */
  *gb = b;
  return 0;
}

/* ---- checks and geometry -------------------------------------------------------------- */

/* What the user asked for: nsp spatial dims (1 or 2), transposed or not. */
typedef struct {
  const char *op;
  int nsp;
  bool transposed;
} Kind;

static const char *layout_of(int nsp) { return nsp == 1 ? "[N, C, L]" : "[N, C, H, W]"; }
static const char *unbatched_of(int nsp) { return nsp == 1 ? "[C, L]" : "[C, H, W]"; }

static int check_tensors(const Kind *k, const bt_Tensor *x, const bt_Tensor *w,
                         const bt_Tensor *b) {
  int nd = k->nsp + 2;
  if (x->ndim != nd)
    return bt_seterr("%s: input %s must be %d-D %s (or %d-D %s)", k->op, bt_shp(x), nd,
                     layout_of(k->nsp), nd - 1, unbatched_of(k->nsp));
  if (w->ndim != nd)
    return bt_seterr("%s: weight %s must be %d-D %s", k->op, bt_shp(w), nd,
                     k->transposed
                         ? (k->nsp == 1 ? "[C, OC/groups, K]" : "[C, OC/groups, KH, KW]")
                         : (k->nsp == 1 ? "[OC, C/groups, K]" : "[OC, C/groups, KH, KW]"));
  if (!bt_dtype_is_float(x->dtype))
    return bt_seterr("%s: input must be a float tensor, got %s (convert with :float())", k->op,
                     bt_dtype_name(x->dtype));
  if (w->dtype != x->dtype || (b && b->dtype != x->dtype))
    return bt_seterr("%s: input (%s), weight (%s)%s%s must have one dtype", k->op,
                     bt_dtype_name(x->dtype), bt_dtype_name(w->dtype), b ? " and bias " : "",
                     b ? bt_dtype_name(b->dtype) : "");
  bt_Device dx = bt_dev(x), dw = bt_dev(w);
  if (dx.type != dw.type || dx.index != dw.index || (b && (bt_dev(b).type != dx.type ||
                                                           bt_dev(b).index != dx.index)))
    return bt_seterr("%s: input, weight and bias must be on one device", k->op);
  return 0;
}

/* Fills the geometry of op k from x, w and the options; checks everything. */
static int make_geom(const Kind *k, const bt_Tensor *x, const bt_Tensor *w, const bt_Tensor *b,
                     const bt_ConvOpts *o, bt_ConvGeom *g) {
  static const bt_ConvOpts defaults;
  if (!o) o = &defaults;
  const char *op = k->op;
  if (check_tensors(k, x, w, b) < 0) return -1;
  int64_t groups = o->groups ? o->groups : 1;
  if (groups < 1) return bt_seterr("%s: groups must be >= 1, got %lld", op, (long long)groups);
  int64_t cin = x->shape[1], cw = k->transposed ? w->shape[0] : w->shape[1] * groups;
  if (cin != cw) {
    if (k->transposed)
      return bt_seterr("%s: input %s has %lld channels but the weight %s expects %lld", op,
                       bt_shp(x), (long long)cin, bt_shp(w), (long long)cw);
    return bt_seterr("%s: input %s has %lld channels but the weight %s expects %lld "
                     "(%lld per group x %lld groups)", op, bt_shp(x), (long long)cin, bt_shp(w),
                     (long long)cw, (long long)w->shape[1], (long long)groups);
  }
  int64_t cout = k->transposed ? w->shape[1] * groups : w->shape[0];
  if (cin % groups || (k->transposed ? 0 : w->shape[0] % groups))
    return bt_seterr("%s: %s channels (%lld) must be divisible by groups (%lld); weight %s", op,
                     cin % groups ? "input" : "output", (long long)(cin % groups ? cin : cout),
                     (long long)groups, bt_shp(w));
  if (cin == 0 || cout == 0)
    return bt_seterr("%s: input %s and weight %s must have channels", op, bt_shp(x), bt_shp(w));
  if (b && (b->ndim != 1 || b->shape[0] != cout))
    return bt_seterr("%s: bias %s must be 1-D with %lld elements (the output channels)", op,
                     bt_shp(b), (long long)cout);
  if (o->pad_mode == BT_PAD_SAME && k->transposed)
    return bt_seterr("%s: padding 'same' is not supported for transposed convolutions", op);
  /* Per spatial axis (0 = H, 1 = W; 1-d uses W only). */
  int64_t in[2] = {1, 1}, ks[2] = {1, 1}, s[2] = {1, 1}, d[2] = {1, 1}, pb[2] = {0, 0},
          pa[2] = {0, 0}, opad[2] = {0, 0}, out[2] = {1, 1};
  for (int i = 0; i < k->nsp; i++) {
    int ax = i + 2 - k->nsp;
    in[ax] = x->shape[2 + i];
    ks[ax] = w->shape[2 + i];
    s[ax] = o->stride[i] ? o->stride[i] : 1;
    d[ax] = o->dilation[i] ? o->dilation[i] : 1;
    if (o->pad_mode == BT_PAD_EXPLICIT) pb[ax] = o->padding[i][0], pa[ax] = o->padding[i][1];
    opad[ax] = o->output_padding[i];
    if (s[ax] < 1 || d[ax] < 1)
      return bt_seterr("%s: stride and dilation must be >= 1, got stride %lld and dilation %lld",
                       op, (long long)s[ax], (long long)d[ax]);
    if (pb[ax] < 0 || pa[ax] < 0)
      return bt_seterr("%s: padding must be >= 0, got %lld and %lld", op, (long long)pb[ax],
                       (long long)pa[ax]);
    if (ks[ax] < 1) return bt_seterr("%s: weight %s has an empty kernel", op, bt_shp(w));
    if (o->pad_mode == BT_PAD_SAME) {
      if (s[ax] != 1)
        return bt_seterr("%s: padding 'same' needs stride 1 (as in PyTorch), got stride %lld",
                         op, (long long)s[ax]);
      int64_t total = d[ax] * (ks[ax] - 1);
      pb[ax] = total / 2;
      pa[ax] = total - pb[ax];
    }
    if (opad[ax] < 0 || (opad[ax] && !k->transposed))
      return bt_seterr("%s: output_padding %s", op, k->transposed ? "must be >= 0"
                       : "is only for transposed convolutions");
    if (opad[ax] >= s[ax] && opad[ax] >= d[ax])
      return bt_seterr("%s: output_padding (%lld) must be smaller than the stride (%lld) or the "
                       "dilation (%lld)", op, (long long)opad[ax], (long long)s[ax],
                       (long long)d[ax]);
    int64_t span = d[ax] * (ks[ax] - 1) + 1;   /* the dilated kernel */
    if (k->transposed) {
      out[ax] = (in[ax] - 1) * s[ax] - pb[ax] - pa[ax] + span + opad[ax];
      if (out[ax] < 1)
        return bt_seterr("%s: input %s and weight %s give an empty output (size %lld) with this "
                         "padding", op, bt_shp(x), bt_shp(w), (long long)out[ax]);
    } else {
      if (in[ax] + pb[ax] + pa[ax] < span)
        return bt_seterr("%s: input %s (padded size %lld) is smaller than the %skernel of weight "
                         "%s (size %lld)", op, bt_shp(x), (long long)(in[ax] + pb[ax] + pa[ax]),
                         d[ax] > 1 ? "dilated " : "", bt_shp(w), (long long)span);
      out[ax] = (in[ax] + pb[ax] + pa[ax] - span) / s[ax] + 1;
    }
  }
  /* The geometry is the convolution's: its x side is a transposed conv's output. */
  g->n = x->shape[0];
  g->groups = groups;
  g->kh = ks[0], g->kw = ks[1];
  g->sh = s[0], g->sw = s[1], g->dh = d[0], g->dw = d[1], g->ph = pb[0], g->pw = pb[1];
  if (k->transposed) {
    g->c = cout, g->h = out[0], g->w = out[1];
    g->oc = cin, g->oh = in[0], g->ow = in[1];
  } else {
    g->c = cin, g->h = in[0], g->w = in[1];
    g->oc = cout, g->oh = out[0], g->ow = out[1];
  }
  int64_t os[4];
  if (k->transposed) x_shape(g, g->n, os);
  else y_shape(g, g->n, os);
  if (bt_checked_numel(op, 4, os) < 0) return -1;
  return 0;
}

/* A view of t with a size-1 dim inserted at dim (no graph: not a leaf of one). */
static bt_Tensor *unsqueezed(bt_Tensor *t, int dim) {
  return t ? bt_unsqueeze(t, dim) : NULL;
}

/* The user-facing ops: checks, then the primitive on 4-D views. */
static bt_Tensor *conv_any(const Kind *k, bt_Tensor *x, bt_Tensor *w, bt_Tensor *b,
                           const bt_ConvOpts *o) {
  bt_Tensor *ac[3] = {x, w, b};   /* autocast: a lower-precision op (autocast.h) */
  int acr = bt_autocast_args(BT_AUTOCAST_LOWER, 3, ac);
  if (acr) return bt_autocast_done(3, ac, acr > 0 ? conv_any(k, ac[0], ac[1], ac[2], o) : NULL);
  if (x->ndim == k->nsp + 1) {   /* unbatched: a batch of one */
    bt_Tensor *x1 = bt_unsqueeze(x, 0);
    bt_Tensor *r = x1 ? conv_any(k, x1, w, b, o) : NULL;
    bt_release(x1);
    bt_Tensor *s = r ? bt_squeeze(r, 0) : NULL;
    bt_release(r);
    return s;
  }
  bt_ConvGeom g;
  if (make_geom(k, x, w, b, o, &g) < 0) return NULL;
  bt_Tensor *x4 = x, *w4 = w;
  if (k->nsp == 1) {
    x4 = unsqueezed(x, 2);
    w4 = x4 ? unsqueezed(w, 2) : NULL;
    if (!w4) {
      bt_release(x4);
      return NULL;
    }
  }
  bt_Tensor *r = prim(k->transposed ? PRIM_T : PRIM_C, x4, w4, b, &g);
  if (k->nsp == 1) {
    bt_release(x4);
    bt_release(w4);
    bt_Tensor *s = r ? bt_squeeze(r, 2) : NULL;
    bt_release(r);
    r = s;
  }
  return r;
}

bt_Tensor *bt_conv1d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o) {
  Kind k = {"conv1d", 1, false};
  return conv_any(&k, x, w, b, o);
}

bt_Tensor *bt_conv2d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o) {
  Kind k = {"conv2d", 2, false};
  return conv_any(&k, x, w, b, o);
}

bt_Tensor *bt_conv_transpose1d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o) {
  Kind k = {"conv_transpose1d", 1, true};
  return conv_any(&k, x, w, b, o);
}

bt_Tensor *bt_conv_transpose2d(bt_Tensor *x, bt_Tensor *w, bt_Tensor *b, const bt_ConvOpts *o) {
  Kind k = {"conv_transpose2d", 2, true};
  return conv_any(&k, x, w, b, o);
}

/* ---- the adjoints as public ops -------------------------------------------------------- */

/* The geometry of conv2d(x, w, o) for shapes only; checks grad against it. */
static int adjoint_geom(const char *op, const int64_t xs[4], const int64_t ws[4],
                        const bt_Tensor *ref, const bt_Tensor *grad, const bt_ConvOpts *o,
                        bt_ConvGeom *g) {
  for (int i = 0; i < 4; i++)
    if (xs[i] < 0 || ws[i] < 0) return bt_seterr("%s: negative size in a shape", op);
  /* Shape-only stand-ins for x and w: 0-stride aliases of ref (never read). */
  int64_t zero[4] = {0, 0, 0, 0};
  bt_Tensor *x = bt_alias((bt_Tensor *)ref, 4, xs, zero, ref->offset);
  bt_Tensor *w = x ? bt_alias((bt_Tensor *)ref, 4, ws, zero, ref->offset) : NULL;
  Kind k = {op, 2, false};
  int rc = w ? make_geom(&k, x, w, NULL, o, g) : -1;
  bt_release(x);
  bt_release(w);
  if (rc < 0) return -1;
  int64_t ys[4];
  y_shape(g, xs[0], ys);
  if (grad->ndim != 4 || !bt_shape_eq(grad, 4, ys))
    return bt_seterr("%s: grad %s must have conv2d's output shape %s", op, bt_shp(grad),
                     bt_shpn(4, ys));
  if (grad->dtype != ref->dtype)
    return bt_seterr("%s: grad (%s) and %s (%s) must have one dtype", op,
                     bt_dtype_name(grad->dtype), ref == grad ? "input" : "the other operand",
                     bt_dtype_name(ref->dtype));
  bt_Device dg = bt_dev(grad), dr = bt_dev(ref);
  if (dg.type != dr.type || dg.index != dr.index) {
    char ng[32], nr[32];
    return bt_seterr("%s: grad (%s) and the other operand (%s) must be on one device", op,
                     bt_device_name(dg, ng), bt_device_name(dr, nr));
  }
  return 0;
}

bt_Tensor *bt_conv2d_input_grad(bt_Tensor *grad, bt_Tensor *w, const int64_t xs[4],
                                const bt_ConvOpts *o) {
  bt_ConvGeom g;
  if (w->ndim != 4)
    return bt_seterr("conv2d_input_grad: weight %s must be 4-D", bt_shp(w)), NULL;
  if (adjoint_geom("conv2d_input_grad", xs, w->shape, w, grad, o, &g) < 0) return NULL;
  return prim(PRIM_T, grad, w, NULL, &g);
}

bt_Tensor *bt_conv2d_weight_grad(bt_Tensor *x, bt_Tensor *grad, const int64_t ws[4],
                                 const bt_ConvOpts *o) {
  bt_ConvGeom g;
  if (x->ndim != 4)
    return bt_seterr("conv2d_weight_grad: input %s must be 4-D", bt_shp(x)), NULL;
  if (adjoint_geom("conv2d_weight_grad", x->shape, ws, x, grad, o, &g) < 0) return NULL;
  return prim(PRIM_W, x, grad, NULL, &g);
}
