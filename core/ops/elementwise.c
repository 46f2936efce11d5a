/*
** ops/elementwise.c: binary and unary elementwise ops, clamp, where, and
** their backward rules. Broadcasting follows NumPy; dtypes follow PyTorch's
** promotion (a Lua number is a "wrapped" 0-dim tensor of lowest priority);
** f16 and bf16 store in their own dtype and compute in f32: on the CPU the
** operands widen to f32 and the result narrows back, on CUDA one kernel
** loads halves, computes in float and stores halves (compute_dtype_on).
*/
#include "internal.h"
#include "autograd.h"

static const char *binary_names[BT_NUM_BINARY] = {
  "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "fmod", "remainder",
  "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
};

static const char *unary_names[BT_NUM_UNARY] = {
  "neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan",
  "tanh", "sigmoid", "relu", "sign", "floor", "ceil", "round", "trunc", "reciprocal",
  "square", "logical_not", "erf", "asin", "acos", "atan", "sinh", "cosh", "log2",
  "log10", "exp2", "isnan", "isinf",
};

const char *bt_binary_name(bt_BinaryOp op) {
  return (unsigned)op < BT_NUM_BINARY ? binary_names[op] : "?";
}
const char *bt_unary_name(bt_UnaryOp op) {
  return (unsigned)op < BT_NUM_UNARY ? unary_names[op] : "?";
}

static bool is_comparison(bt_BinaryOp op) { return op >= BT_EQ; }

/* ---- promotion ------------------------------------------------------------ */

#define UNDEF (-1)

static int promote_defined(int a, int b) {
  if (a == UNDEF) return b;
  if (b == UNDEF) return a;
  return bt_promote((bt_DType)a, (bt_DType)b);
}

/* PyTorch's combine_categories: the higher-priority class wins unless the
** lower one is of a higher category (bool < integer < float). */
static int combine(int higher, int lower) {
  if (higher != UNDEF && bt_dtype_is_float((bt_DType)higher)) return higher;
  if (higher == BT_BOOL || (lower != UNDEF && bt_dtype_is_float((bt_DType)lower)))
    return promote_defined(higher, lower);
  return higher != UNDEF ? higher : lower;
}

/* The dtype of an op on these tensors: dimensioned tensors first, then 0-dim
** tensors, then wrapped Lua numbers (a float number counts as f32). */
static bt_DType result_type(int n, bt_Tensor *const *t) {
  int dim = UNDEF, zero = UNDEF, wrapped = UNDEF;
  for (int i = 0; i < n; i++) {
    bt_DType d = t[i]->dtype;
    if (t[i]->wrapped_number)
      wrapped = promote_defined(wrapped, bt_dtype_is_float(d) ? BT_F32 : d == BT_BOOL ? BT_BOOL : BT_I64);
    else if (t[i]->ndim == 0) zero = promote_defined(zero, d);
    else dim = promote_defined(dim, d);
  }
  return (bt_DType)combine(dim, combine(zero, wrapped));
}

static bt_Tensor *wrap_number(double s) {
  bt_Tensor *t = s == floor(s) && fabs(s) < 9.2e18 ? bt_scalar_i64((int64_t)s, BT_I64) : bt_scalar(s, BT_F64);
  if (t) t->wrapped_number = true;
  return t;
}

/* Wrapped numbers and 0-dim CPU tensors may join tensors on any device
** (as in PyTorch): kernels read them on the host. */
static bool host_scalar(const bt_Tensor *t) {
  return t->wrapped_number || (t->ndim == 0 && t->storage->device.type == BT_CPU);
}

static int check_devices(const char *op, int n, bt_Tensor *const *t) {
  for (int i = 1; i < n; i++) {
    bt_Device a = t[0]->storage->device, b = t[i]->storage->device;
    if (host_scalar(t[i]) || host_scalar(t[0])) continue;
    if (a.type != b.type || a.index != b.index) {
      char da[32], db[32];
      return bt_seterr("%s: tensors are on different devices (%s and %s)", op,
                       bt_device_name(a, da), bt_device_name(b, db));
    }
  }
  return 0;
}

/* The device of the first operand that is not a host scalar. */
static bt_Device op_device(int n, bt_Tensor *const *t) {
  for (int i = 0; i < n; i++)
    if (!host_scalar(t[i])) return t[i]->storage->device;
  return t[0]->storage->device;
}

/* t as `dt`, expanded to shape (a view, no copy when t already has dt). */
static bt_Tensor *prepare(bt_Tensor *t, bt_DType dt, int ndim, const int64_t *shape) {
  /* The common cases need no view: same shape, or a 0-dim operand (kernels
  ** broadcast 0-dim operands themselves, see dispatch.h). */
  if (t->dtype == dt && (t->ndim == 0 || bt_shape_eq(t, ndim, shape))) {
    bt_retain(t);
    return t;
  }
  if (t->ndim == 0 && t->storage->device.type == BT_CPU)   /* often a Lua number */
    return bt_dtype_is_float(dt) ? bt_scalar(bt_get_flat(t, 0), dt)
                                 : bt_scalar_i64(bt_get_flat_i64(t, 0), dt);
  bt_Tensor *c = t->dtype == dt ? (bt_retain(t), t) : bt_contiguous_as(t, dt);
  if (!c) return NULL;
  bt_Tensor *e = bt_expand_raw(c, ndim, shape);
  bt_release(c);
  return e;
}

/* The dtype the kernel of an op with result dtype rdt computes in, on dev,
** given its operands t: the CPU widens f16 and bf16 to f32 (the result is
** narrowed back, finish_dtype); CUDA kernels take halves natively (load,
** compute in float, round once on store: the same numbers, without two
** extra kernels and tensors per op), when every operand that is not a host
** scalar holds rdt itself; with mixed dtypes (f16 + i64) they widen too, so
** no operand is rounded to the half before the arithmetic. */
static bt_DType compute_dtype_on(bt_DType rdt, bt_Device dev, int n, bt_Tensor *const *t) {
  bt_DType wide = bt_compute_dtype(rdt);
  if (wide == rdt || dev.type != BT_CUDA) return wide;
  for (int i = 0; i < n; i++)
    if (!host_scalar(t[i]) && t[i]->dtype != rdt) return wide;
  return rdt;
}

/* The dtype a host-scalar operand is prepared in: the widened compute dtype
** even where the kernel takes halves, so x * 0.1 multiplies by 0.1f, not by
** 0.1 rounded to the half (the CUDA kernels read a host scalar's value). */
static bt_DType scalar_dtype(bt_DType rdt) { return bt_compute_dtype(rdt); }

/* Casts a kernel result back to the dtype the op promised (f16/bf16). */
static bt_Tensor *finish_dtype(bt_Tensor *out, bt_DType dt) {
  if (out->dtype == dt) return out;
  bt_Tensor *r = bt_contiguous_as(out, dt);
  bt_release(out);
  return r;
}

/* ---- binary backward rules ------------------------------------------------ */

#define A (n->saved[0])
#define B (n->saved[1])

static int check_gin(const bt_Node *n, bt_Tensor **gin) {
  for (int i = 0; i < n->n_next; i++)
    if (bt_ag_wants(n, i) && !gin[i]) return -1;
  return 0;
}

static int add_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_retain(g);
  gin[0] = g;
  bt_retain(g);
  gin[1] = g;
  return 0;
}

static int sub_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_retain(g);
  gin[0] = g;
  if (bt_ag_wants(n, 1)) gin[1] = bt_neg(g);
  return check_gin(n, gin);
}

static int mul_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_wants(n, 0)) gin[0] = bt_mul(g, B);
  if (bt_ag_wants(n, 1)) gin[1] = bt_mul(g, A);
  return check_gin(n, gin);
}

static int div_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_wants(n, 0)) gin[0] = bt_div(g, B);
  if (bt_ag_wants(n, 1)) {   /* -g * a / b^2 */
    bt_Tensor *ga = bt_mul(g, A), *b2 = bt_mul(B, B), *q = ga && b2 ? bt_div(ga, b2) : NULL;
    gin[1] = q ? bt_neg(q) : NULL;
    BT_RELEASE(ga, b2, q);
  }
  return check_gin(n, gin);
}

static int pow_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (bt_ag_wants(n, 0)) {   /* g * b * a^(b-1) */
    bt_Tensor *bm1 = bt_add_scalar(B, -1), *p = bm1 ? bt_binary(BT_POW, A, bm1) : NULL;
    bt_Tensor *bp = p ? bt_mul(B, p) : NULL;
    gin[0] = bp ? bt_mul(g, bp) : NULL;
    BT_RELEASE(bm1, p, bp);
  }
  if (bt_ag_wants(n, 1)) {   /* g * a^b * log(a), taken as 0 where a == 0 */
    bt_Tensor *p = bt_binary(BT_POW, A, B), *l = bt_unary(BT_LOG, A);
    bt_Tensor *pl = p && l ? bt_mul(p, l) : NULL;
    bt_Tensor *z = bt_binary_scalar(BT_EQ, A, 0, false);
    bt_Tensor *zero = bt_zeros(0, NULL, pl ? pl->dtype : BT_F32, BT_CPU_DEVICE);
    if (zero) zero->wrapped_number = true;
    bt_Tensor *safe = pl && z && zero ? bt_where(z, zero, pl) : NULL;
    gin[1] = safe ? bt_mul(g, safe) : NULL;
    BT_RELEASE(p, l, pl, z, zero, safe);
  }
  return check_gin(n, gin);
}

/* Weight of the gradient for maximum/minimum: 1 where this side wins, 1/2
** on ties (PyTorch's rule), 0 where it loses. */
static bt_Tensor *tie_weight(bt_Tensor *a, bt_Tensor *b, bt_BinaryOp wins, bt_DType dt) {
  bt_Tensor *w = bt_binary(wins, a, b), *eq = bt_binary(BT_EQ, a, b);
  bt_Tensor *wf = w ? bt_to_dtype(w, dt) : NULL, *ef = eq ? bt_to_dtype(eq, dt) : NULL;
  bt_Tensor *half = ef ? bt_mul_scalar(ef, 0.5) : NULL;
  bt_Tensor *r = wf && half ? bt_add(wf, half) : NULL;
  BT_RELEASE(w, eq, wf, ef, half);
  return r;
}

static int maxmin_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bool is_max = n->i[0] == BT_MAXIMUM;
  for (int side = 0; side < 2; side++) {
    if (!bt_ag_wants(n, side)) continue;
    bt_Tensor *x = n->saved[side], *y = n->saved[1 - side];
    bt_Tensor *w = tie_weight(x, y, is_max ? BT_GT : BT_LT, g->dtype);
    gin[side] = w ? bt_mul(g, w) : NULL;
    bt_release(w);
  }
  return check_gin(n, gin);
}

static int atan2_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *a2 = bt_mul(A, A), *b2 = bt_mul(B, B), *d = a2 && b2 ? bt_add(a2, b2) : NULL;
  bt_Tensor *gd = d ? bt_div(g, d) : NULL;
  if (gd && bt_ag_wants(n, 0)) gin[0] = bt_mul(gd, B);
  if (gd && bt_ag_wants(n, 1)) {
    bt_Tensor *t = bt_mul(gd, A);
    gin[1] = t ? bt_neg(t) : NULL;
    bt_release(t);
  }
  BT_RELEASE(a2, b2, d, gd);
  return check_gin(n, gin);
}

/* fmod: d/db = -trunc(a / b); remainder: -floor(a / b). */
static int fmod_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_retain(g);
  gin[0] = g;
  if (bt_ag_wants(n, 1)) {
    bt_UnaryOp round = n->i[0] == BT_REMAINDER ? BT_FLOOR : BT_TRUNC;
    bt_Tensor *q = bt_div(A, B), *t = q ? bt_unary(round, q) : NULL;
    bt_Tensor *gt = t ? bt_mul(g, t) : NULL;
    gin[1] = gt ? bt_neg(gt) : NULL;
    BT_RELEASE(q, t, gt);
  }
  return check_gin(n, gin);
}

static const struct {
  const char *name;
  bt_BackwardFn fn;
  bool saves;
} binary_rules[BT_NUM_BINARY] = {
  [BT_ADD] = {"AddBackward", add_backward, false},
  [BT_SUB] = {"SubBackward", sub_backward, false},
  [BT_MUL] = {"MulBackward", mul_backward, true},
  [BT_DIV] = {"DivBackward", div_backward, true},
  [BT_POW] = {"PowBackward", pow_backward, true},
  [BT_MAXIMUM] = {"MaximumBackward", maxmin_backward, true},
  [BT_MINIMUM] = {"MinimumBackward", maxmin_backward, true},
  [BT_ATAN2] = {"Atan2Backward", atan2_backward, true},
  [BT_FMOD] = {"FmodBackward", fmod_backward, true},
  [BT_REMAINDER] = {"RemainderBackward", fmod_backward, true},
};

/* ---- binary ----------------------------------------------------------------- */

/* Does b hold a zero? (integer fmod/remainder raise instead of dividing.)
** A device tensor answers through any(b == 0), read back on the host. */
static bool has_zero(bt_Tensor *b) {
  if (b->storage->device.type != BT_CPU) {
    bt_Tensor *z = bt_binary_scalar(BT_EQ, b, 0, false), *a = z ? bt_any(z) : NULL;
    bt_Tensor *h = a ? bt_to_device(a, BT_CPU_DEVICE) : NULL;
    bool r = h && bt_get_flat_i64(h, 0) != 0;
    bt_release(z);
    bt_release(a);
    bt_release(h);
    return r;
  }
  int64_t n = bt_numel(b);
  for (int64_t i = 0; i < n; i++)
    if (bt_get_flat_i64(b, i) == 0) return true;
  return false;
}

bt_Tensor *bt_binary(bt_BinaryOp op, bt_Tensor *a, bt_Tensor *b) {
  if ((unsigned)op >= BT_NUM_BINARY) return bt_seterr("binary: bad op %d", (int)op), NULL;
  const char *name = binary_names[op];
  bt_Tensor *in[2] = {a, b};
  if (check_devices(name, 2, in) < 0) return NULL;
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  if (bt_broadcast_shapes(name, a->ndim, a->shape, b->ndim, b->shape, &ndim, shape) < 0)
    return NULL;
  bt_DType rdt = result_type(2, in);
  if (op == BT_DIV && !bt_dtype_is_float(rdt)) rdt = BT_F32;   /* true division */
  if (op == BT_ATAN2 && !bt_dtype_is_float(rdt)) rdt = BT_F32;
  if (rdt == BT_BOOL && op <= BT_REMAINDER && op != BT_MAXIMUM && op != BT_MINIMUM) rdt = BT_I64;
  if ((op == BT_FMOD || op == BT_REMAINDER) && !bt_dtype_is_float(rdt) && has_zero(b))
    return bt_seterr("%s: integer division by zero", name), NULL;
  bt_Device dev = op_device(2, in);
  bt_DType cdt = compute_dtype_on(rdt, dev, 2, in), sdt = scalar_dtype(rdt);
  int (*k)(bt_BinaryOp, bt_Tensor *, const bt_Tensor *, const bt_Tensor *) = BT_KERNEL(name, dev, binary);
  if (!k) return NULL;
  bt_Tensor *pa = prepare(a, host_scalar(a) ? sdt : cdt, ndim, shape);
  bt_Tensor *pb = pa ? prepare(b, host_scalar(b) ? sdt : cdt, ndim, shape) : NULL;
  bt_Tensor *out = pb ? bt_empty(ndim, shape, is_comparison(op) ? BT_BOOL : cdt, dev) : NULL;
  int rc = out ? k(op, out, pa, pb) : -1;
  BT_RELEASE(pa, pb);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  if (!is_comparison(op)) out = finish_dtype(out, rdt);
  if (out && !is_comparison(op) && bt_dtype_is_float(rdt) && bt_ag_needs(2, in)) {
    bt_Node *node = bt_ag_record(binary_rules[op].name, binary_rules[op].fn, 2, in, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    node->i[0] = op;
    if (binary_rules[op].saves) {
      bt_ag_save(node, a);
      bt_ag_save(node, b);
    }
  }
  return out;
}

bt_Tensor *bt_binary_scalar(bt_BinaryOp op, bt_Tensor *a, double s, bool scalar_first) {
  bt_Tensor *w = wrap_number(s);
  if (!w) return NULL;
  bt_Tensor *out = scalar_first ? bt_binary(op, w, a) : bt_binary(op, a, w);
  bt_release(w);
  return out;
}

bt_Tensor *bt_add(bt_Tensor *a, bt_Tensor *b) { return bt_binary(BT_ADD, a, b); }
bt_Tensor *bt_sub(bt_Tensor *a, bt_Tensor *b) { return bt_binary(BT_SUB, a, b); }
bt_Tensor *bt_mul(bt_Tensor *a, bt_Tensor *b) { return bt_binary(BT_MUL, a, b); }
bt_Tensor *bt_div(bt_Tensor *a, bt_Tensor *b) { return bt_binary(BT_DIV, a, b); }
bt_Tensor *bt_mul_scalar(bt_Tensor *a, double s) { return bt_binary_scalar(BT_MUL, a, s, false); }
bt_Tensor *bt_add_scalar(bt_Tensor *a, double s) { return bt_binary_scalar(BT_ADD, a, s, false); }
bt_Tensor *bt_pow_scalar(bt_Tensor *a, double s) { return bt_binary_scalar(BT_POW, a, s, false); }
bt_Tensor *bt_neg(bt_Tensor *a) { return bt_unary(BT_NEG, a); }

/* ---- unary backward rules ----------------------------------------------------- */

/* The op's output, or (while building a graph for higher derivatives) the
** same value recomputed from the input so the graph sees its dependence. */
static bt_Tensor *output_of(bt_Node *n) {
  if (!bt_ag_create_graph() && n->saved[1]) {
    bt_retain(n->saved[1]);
    return n->saved[1];
  }
  return bt_unary((bt_UnaryOp)n->i[0], A);
}

/* g * f where f is a new reference (consumed). */
static bt_Tensor *mul_take(bt_Tensor *g, bt_Tensor *f) {
  bt_Tensor *r = f ? bt_mul(g, f) : NULL;
  bt_release(f);
  return r;
}

static bt_Tensor *scale_take(bt_Tensor *f, double s) {
  bt_Tensor *r = f ? bt_mul_scalar(f, s) : NULL;
  bt_release(f);
  return r;
}

static bt_Tensor *unary_take(bt_UnaryOp op, bt_Tensor *f) {
  bt_Tensor *r = f ? bt_unary(op, f) : NULL;
  bt_release(f);
  return r;
}

/* 1 - x^2 (for tanh, asin, acos). */
static bt_Tensor *one_minus_sq(bt_Tensor *x) {
  bt_Tensor *x2 = bt_mul(x, x);
  bt_Tensor *r = x2 ? bt_binary_scalar(BT_SUB, x2, 1, true) : NULL;
  bt_release(x2);
  return r;
}

static bt_Tensor *one_minus_sq_take(bt_Tensor *x) {
  bt_Tensor *r = x ? one_minus_sq(x) : NULL;
  bt_release(x);
  return r;
}

static bt_Tensor *div_take(bt_Tensor *g, bt_Tensor *f) {
  bt_Tensor *r = f ? bt_div(g, f) : NULL;
  bt_release(f);
  return r;
}

static int unary_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *a = A, *r = NULL;
  switch ((bt_UnaryOp)n->i[0]) {
    case BT_NEG: r = bt_neg(g); break;
    case BT_ABS: r = mul_take(g, bt_unary(BT_SIGN, a)); break;
    case BT_EXP: r = mul_take(g, output_of(n)); break;
    case BT_EXP2: r = scale_take(mul_take(g, output_of(n)), M_LN2); break;
    case BT_EXPM1: r = mul_take(g, bt_unary(BT_EXP, a)); break;
    case BT_LOG: r = bt_div(g, a); break;
    case BT_LOG2: r = scale_take(bt_div(g, a), 1 / M_LN2); break;
    case BT_LOG10: r = scale_take(bt_div(g, a), 1 / M_LN10); break;
    case BT_LOG1P: {
      bt_Tensor *a1 = bt_add_scalar(a, 1);
      r = a1 ? bt_div(g, a1) : NULL;
      bt_release(a1);
      break;
    }
    case BT_SQRT: {   /* g / (2 sqrt(a)) */
      bt_Tensor *y2 = scale_take(output_of(n), 2);
      r = y2 ? bt_div(g, y2) : NULL;
      bt_release(y2);
      break;
    }
    case BT_RSQRT: {  /* -g y^3 / 2 */
      bt_Tensor *y3 = bt_pow_scalar(A, -1.5);
      r = scale_take(mul_take(g, y3), -0.5);
      break;
    }
    case BT_SIN: r = mul_take(g, bt_unary(BT_COS, a)); break;
    case BT_COS: r = scale_take(mul_take(g, bt_unary(BT_SIN, a)), -1); break;
    case BT_TAN: {    /* g (1 + tan^2) */
      bt_Tensor *y = output_of(n), *y2 = y ? bt_mul(y, y) : NULL;
      r = mul_take(g, y2 ? bt_add_scalar(y2, 1) : NULL);
      BT_RELEASE(y, y2);
      break;
    }
    case BT_TANH: r = mul_take(g, one_minus_sq_take(output_of(n))); break;
    case BT_SIGMOID: {   /* g y (1 - y) */
      bt_Tensor *y = output_of(n), *om = y ? bt_binary_scalar(BT_SUB, y, 1, true) : NULL;
      r = mul_take(g, y && om ? bt_mul(y, om) : NULL);
      BT_RELEASE(y, om);
      break;
    }
    case BT_RELU: {
      bt_Tensor *m = bt_binary_scalar(BT_GT, a, 0, false);
      r = mul_take(g, m ? bt_to_dtype(m, g->dtype) : NULL);
      bt_release(m);
      break;
    }
    case BT_RECIPROCAL: {   /* -g / a^2 */
      bt_Tensor *a2 = bt_mul(a, a);
      r = scale_take(a2 ? bt_div(g, a2) : NULL, -1);
      bt_release(a2);
      break;
    }
    case BT_SQUARE: r = scale_take(bt_mul(g, a), 2); break;
    case BT_ERF: {    /* g 2/sqrt(pi) exp(-a^2) */
      bt_Tensor *e = unary_take(BT_EXP, unary_take(BT_NEG, bt_mul(a, a)));
      r = scale_take(mul_take(g, e), 1.1283791670955126);
      break;
    }
    case BT_ASIN: r = div_take(g, unary_take(BT_SQRT, one_minus_sq(a))); break;
    case BT_ACOS: r = scale_take(div_take(g, unary_take(BT_SQRT, one_minus_sq(a))), -1); break;
    case BT_ATAN: {
      bt_Tensor *a2 = bt_mul(a, a);
      r = div_take(g, a2 ? bt_add_scalar(a2, 1) : NULL);
      bt_release(a2);
      break;
    }
    case BT_SINH: r = mul_take(g, bt_unary(BT_COSH, a)); break;
    case BT_COSH: r = mul_take(g, bt_unary(BT_SINH, a)); break;
    default:   /* sign, floor, ceil, round, trunc: zero almost everywhere */
      r = bt_zeros_like(g);
      break;
  }
  gin[0] = r;
  return r ? 0 : -1;
}

/* ---- unary ------------------------------------------------------------------ */

/* Ops whose result is float even for integer inputs. */
static bool float_only(bt_UnaryOp op) {
  switch (op) {
    case BT_NEG: case BT_ABS: case BT_SIGN: case BT_RELU: case BT_SQUARE: case BT_FLOOR:
    case BT_CEIL: case BT_ROUND: case BT_TRUNC: case BT_LOGICAL_NOT: case BT_ISNAN:
    case BT_ISINF:
      return false;
    default:
      return true;
  }
}

static bool bool_result(bt_UnaryOp op) {
  return op == BT_LOGICAL_NOT || op == BT_ISNAN || op == BT_ISINF;
}

/* Ops whose backward is cheaper from the saved output. */
static bool saves_output(bt_UnaryOp op) {
  return op == BT_EXP || op == BT_EXP2 || op == BT_SQRT || op == BT_TAN || op == BT_TANH ||
         op == BT_SIGMOID;
}

bt_Tensor *bt_unary(bt_UnaryOp op, bt_Tensor *a) {
  if ((unsigned)op >= BT_NUM_UNARY) return bt_seterr("unary: bad op %d", (int)op), NULL;
  const char *name = unary_names[op];
  bt_DType rdt = a->dtype;
  if (float_only(op) && !bt_dtype_is_float(rdt)) rdt = BT_F32;
  if (a->dtype == BT_BOOL && (op == BT_NEG || op == BT_SQUARE))
    return bt_seterr("%s: not defined for bool tensors (use logical_not, or cast first)", name), NULL;
  bt_Device dev = a->storage->device;
  bt_DType cdt = compute_dtype_on(rdt, dev, 1, &a);
  int (*k)(bt_UnaryOp, bt_Tensor *, const bt_Tensor *) = BT_KERNEL(name, dev, unary);
  if (!k) return NULL;
  bt_Tensor *pa = a->dtype == cdt ? (bt_retain(a), a) : bt_contiguous_as(a, cdt);
  bt_Tensor *out = pa ? bt_empty(a->ndim, a->shape, bool_result(op) ? BT_BOOL : cdt, dev) : NULL;
  int rc = out ? k(op, out, pa) : -1;
  bt_release(pa);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  if (bool_result(op)) return out;
  out = finish_dtype(out, rdt);
  if (out && bt_dtype_is_float(rdt) && bt_ag_needs(1, &a)) {
    bt_Node *node = bt_ag_record("UnaryBackward", unary_backward, 1, &a, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    node->name = name;   /* anomaly messages and grad_fn name the op itself */
    node->i[0] = op;
    bt_ag_save(node, a);
    if (saves_output(op)) bt_ag_save_output(node, out);
    else node->saved[1] = NULL;
  }
  return out;
}

/* ---- in place ----------------------------------------------------------------- */

/* Writes r into a: a keeps its dtype, storage and identity, and takes r's
** place in the graph. */
static int assign_result(const char *op, bt_Tensor *a, bt_Tensor *r) {
  int (*k)(bt_Tensor *, const bt_Tensor *) = BT_KERNEL(op, a->storage->device, copy);
  if (!k) return -1;
  bt_Tensor *src = r;
  if (!bt_same_shape(r, a)) {
    bt_release(r);
    return bt_seterr("%s: in place, the result's shape %s differs from the target's %s", op,
                     bt_shp(r), bt_shp(a));
  }
  if (k(a, src) < 0) {
    bt_release(r);
    return -1;
  }
  bt_bump_version(a);
  if (r->grad_fn) {
    bt_Tensor *cast = r->dtype == a->dtype ? (bt_retain(r), r) : bt_to_dtype(r, a->dtype);
    if (!cast) {
      bt_release(r);
      return -1;
    }
    bt_node_retain(cast->grad_fn);
    bt_node_release(a->grad_fn);
    a->grad_fn = cast->grad_fn;
    a->requires_grad = true;
    bt_release(cast);
  }
  bt_release(r);
  return 0;
}

/* b, cloned when it overlaps a in a different layout (a += a:t()). */
static bt_Tensor *unaliased(bt_Tensor *a, bt_Tensor *b) {
  if (b->storage == a->storage &&
      (b->offset != a->offset || b->ndim != a->ndim ||
       memcmp(b->stride, a->stride, sizeof(int64_t) * (size_t)a->ndim) != 0)) {
    bool prev = bt_set_grad_enabled(false);
    bt_Tensor *c = bt_clone(b);
    bt_set_grad_enabled(prev);
    return c;
  }
  bt_retain(b);
  return b;
}

int bt_binary_(bt_BinaryOp op, bt_Tensor *a, bt_Tensor *b) {
  const char *name = bt_binary_name(op);
  if (is_comparison(op)) return bt_seterr("%s_: comparisons have no in-place form", name);
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  if (bt_broadcast_shapes(name, a->ndim, a->shape, b->ndim, b->shape, &ndim, shape) < 0) return -1;
  if (!bt_shape_eq(a, ndim, shape))
    return bt_seterr("%s_: in place on %s, the other operand %s would broadcast it to %s", name,
                     bt_shp(a), bt_shp(b), bt_shpn(ndim, shape));
  if (bt_ag_check_inplace(name, a) < 0 || bt_ag_check_write_from(name, a, b) < 0) return -1;
  bt_Tensor *in[2] = {a, b};
  if (check_devices(name, 2, in) < 0) return -1;   /* a kernel must not read another device's memory */
  bt_DType rdt = result_type(2, in);
  if (op == BT_DIV && !bt_dtype_is_float(rdt)) rdt = BT_F32;
  if (bt_dtype_is_float(rdt) && !bt_dtype_is_float(a->dtype))
    return bt_seterr("%s_: result type %s cannot be stored in place in a %s tensor", name,
                     bt_dtype_name(rdt), bt_dtype_name(a->dtype));
  bt_Tensor *bb = unaliased(a, b);
  if (!bb) return -1;
  int rc;
  if (bt_ag_needs(2, in)) {
    /* Compute on a clone so the rule's saved input keeps its value. */
    bt_Tensor *ac = bt_clone(a), *r = ac ? bt_binary(op, ac, bb) : NULL;
    bt_release(ac);
    rc = r ? assign_result(name, a, r) : -1;
  } else if (a->dtype == compute_dtype_on(rdt, a->storage->device, 2, in) &&
             a->dtype == b->dtype && !is_comparison(op)) {
    /* Fast path: the kernel writes straight into a. */
    int (*k)(bt_BinaryOp, bt_Tensor *, const bt_Tensor *, const bt_Tensor *) =
        BT_KERNEL(name, a->storage->device, binary);
    bt_Tensor *eb = k ? bt_expand_raw(bb, a->ndim, a->shape) : NULL;
    rc = eb ? k(op, a, a, eb) : -1;
    bt_release(eb);
    if (rc == 0) bt_bump_version(a);
  } else {
    bt_Tensor *r = bt_binary(op, a, bb);
    rc = r ? assign_result(name, a, r) : -1;
  }
  bt_release(bb);
  return rc;
}

int bt_unary_(bt_UnaryOp op, bt_Tensor *a) {
  const char *name = bt_unary_name(op);
  if (bt_ag_check_inplace(name, a) < 0) return -1;
  if (bool_result(op) || (float_only(op) && !bt_dtype_is_float(a->dtype)))
    return bt_seterr("%s_: the result cannot be stored in place in a %s tensor", name,
                     bt_dtype_name(a->dtype));
  bt_Tensor *src = a;
  bt_Tensor *ac = NULL;
  if (bt_ag_needs(1, &a) && !(ac = bt_clone(a))) return -1;
  bt_Tensor *r = bt_unary(op, ac ? ac : src);
  bt_release(ac);
  return r ? assign_result(name, a, r) : -1;
}

/* ---- clamp, where -------------------------------------------------------------- */

static int clamp_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *ge = bt_binary_scalar(BT_GE, A, n->d[0], false);
  bt_Tensor *le = bt_binary_scalar(BT_LE, A, n->d[1], false);
  bt_Tensor *in = ge && le ? bt_binary(BT_LOGICAL_AND, ge, le) : NULL;
  gin[0] = mul_take(g, in ? bt_to_dtype(in, g->dtype) : NULL);
  BT_RELEASE(ge, le, in);
  return gin[0] ? 0 : -1;
}

bt_Tensor *bt_clamp(bt_Tensor *a, double lo, double hi) {
  if (lo > hi) return bt_seterr("clamp: min %g is greater than max %g", lo, hi), NULL;
  if (a->dtype == BT_BOOL) return bt_seterr("clamp: not defined for bool tensors"), NULL;
  bt_DType cdt = compute_dtype_on(a->dtype, a->storage->device, 1, &a);
  int (*k)(bt_Tensor *, const bt_Tensor *, double, double) = BT_KERNEL("clamp", a->storage->device, clamp);
  if (!k) return NULL;
  bt_Tensor *pa = bt_contiguous_as(a, cdt);
  bt_Tensor *out = pa ? bt_empty(a->ndim, a->shape, cdt, a->storage->device) : NULL;
  int rc = out ? k(out, pa, lo, hi) : -1;
  bt_release(pa);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  out = finish_dtype(out, a->dtype);
  if (out && bt_ag_needs(1, &a)) {
    bt_Node *node = bt_ag_record("ClampBackward", clamp_backward, 1, &a, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    node->d[0] = lo;
    node->d[1] = hi;
    bt_ag_save(node, a);
  }
  return out;
}

static int where_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Tensor *zero = bt_zeros(0, NULL, g->dtype, BT_CPU_DEVICE);
  if (!zero) return -1;
  zero->wrapped_number = true;
  if (bt_ag_wants(n, 1)) gin[1] = bt_where(A, g, zero);
  if (bt_ag_wants(n, 2)) gin[2] = bt_where(A, zero, g);
  bt_release(zero);
  return check_gin(n, gin);
}

bt_Tensor *bt_where(bt_Tensor *cond, bt_Tensor *a, bt_Tensor *b) {
  bt_Tensor *in[3] = {cond, a, b};
  if (check_devices("where", 3, in) < 0) return NULL;
  int n1, ndim;
  int64_t s1[BT_MAX_DIMS], shape[BT_MAX_DIMS];
  if (bt_broadcast_shapes("where", cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1) < 0 ||
      bt_broadcast_shapes("where", n1, s1, b->ndim, b->shape, &ndim, shape) < 0)
    return NULL;
  bt_DType rdt = result_type(2, in + 1);
  bt_Device dev = op_device(3, in);
  bt_DType cdt = compute_dtype_on(rdt, dev, 2, in + 1), sdt = scalar_dtype(rdt);
  int (*k)(bt_Tensor *, const bt_Tensor *, const bt_Tensor *, const bt_Tensor *) = BT_KERNEL("where", dev, where);
  if (!k) return NULL;
  bt_Tensor *pc = prepare(cond, BT_BOOL, ndim, shape);
  bt_Tensor *pa = pc ? prepare(a, host_scalar(a) ? sdt : cdt, ndim, shape) : NULL;
  bt_Tensor *pb = pa ? prepare(b, host_scalar(b) ? sdt : cdt, ndim, shape) : NULL;
  bt_Tensor *out = pb ? bt_empty(ndim, shape, cdt, dev) : NULL;
  int rc = out ? k(out, pc, pa, pb) : -1;
  BT_RELEASE(pc, pa, pb);
  if (rc < 0) {
    bt_release(out);
    return NULL;
  }
  out = finish_dtype(out, rdt);
  if (out && bt_dtype_is_float(rdt) && bt_ag_needs(2, in + 1)) {
    bt_Node *node = bt_ag_record("WhereBackward", where_backward, 3, in, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    bt_ag_save(node, cond);
  }
  return out;
}

/* ---- activations with a parameter (composites of differentiable ops) ------ */

bt_Tensor *bt_leaky_relu(bt_Tensor *a, double slope) {
  bt_Tensor *pos = bt_binary_scalar(BT_GT, a, 0, false), *neg = bt_mul_scalar(a, slope);
  bt_Tensor *r = pos && neg ? bt_where(pos, a, neg) : NULL;
  BT_RELEASE(pos, neg);
  return r;
}

bt_Tensor *bt_elu(bt_Tensor *a, double alpha) {
  bt_Tensor *pos = bt_binary_scalar(BT_GT, a, 0, false), *em1 = bt_unary(BT_EXPM1, a);
  bt_Tensor *neg = em1 ? bt_mul_scalar(em1, alpha) : NULL;
  bt_Tensor *r = pos && neg ? bt_where(pos, a, neg) : NULL;
  BT_RELEASE(pos, em1, neg);
  return r;
}

/* log(1 + exp(beta x)) / beta, and x itself above threshold (PyTorch's rule). */
bt_Tensor *bt_softplus(bt_Tensor *a, double beta, double threshold) {
  bt_Tensor *bx = bt_mul_scalar(a, beta);
  bt_Tensor *lin = bx ? bt_binary_scalar(BT_GT, bx, threshold, false) : NULL;
  /* log1p(exp(x)) = max(x, 0) + log1p(exp(-|x|)): no overflow. */
  bt_Tensor *r0 = bx ? bt_unary(BT_RELU, bx) : NULL, *ab = bx ? bt_unary(BT_ABS, bx) : NULL;
  bt_Tensor *e = ab ? unary_take(BT_EXP, bt_neg(ab)) : NULL;
  bt_Tensor *l = e ? bt_unary(BT_LOG1P, e) : NULL;
  bt_Tensor *sp = r0 && l ? bt_add(r0, l) : NULL;
  bt_Tensor *spb = sp ? bt_mul_scalar(sp, 1 / beta) : NULL;
  bt_Tensor *r = lin && spb ? bt_where(lin, a, spb) : NULL;
  BT_RELEASE(bx, lin, r0, ab, e, l, sp, spb);
  return r;
}

bt_Tensor *bt_gelu(bt_Tensor *a, bool tanh_approx) {
  bt_Tensor *inner, *r = NULL;
  if (tanh_approx) {   /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    bt_Tensor *x3 = bt_pow_scalar(a, 3), *t = x3 ? bt_mul_scalar(x3, 0.044715) : NULL;
    bt_Tensor *s = t ? bt_add(a, t) : NULL;
    inner = s ? unary_take(BT_TANH, bt_mul_scalar(s, 0.7978845608028654)) : NULL;
    BT_RELEASE(x3, t, s);
  } else {             /* 0.5 x (1 + erf(x / sqrt 2)) */
    inner = unary_take(BT_ERF, bt_mul_scalar(a, 0.7071067811865476));
  }
  bt_Tensor *one = inner ? bt_add_scalar(inner, 1) : NULL, *h = bt_mul_scalar(a, 0.5);
  if (one && h) r = bt_mul(h, one);
  BT_RELEASE(inner, one, h);
  return r;
}

/* ---- copy_, fill_ ---------------------------------------------------------------- */

static int copy_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  if (n->n_next == 0) return 0;   /* overwritten by a constant (fill_, copy_ of a plain tensor) */
  bt_retain(g);
  gin[0] = g;   /* the engine sums to src's shape and casts to its dtype */
  return 0;
}

int bt_copy_(bt_Tensor *dst, bt_Tensor *src) {
  if (bt_ag_check_inplace("copy_", dst) < 0 || bt_ag_check_write_from("copy_", dst, src) < 0)
    return -1;
  int ndim;
  int64_t shape[BT_MAX_DIMS];
  if (bt_broadcast_shapes("copy_", dst->ndim, dst->shape, src->ndim, src->shape, &ndim, shape) < 0)
    return -1;
  if (!bt_shape_eq(dst, ndim, shape))
    return bt_seterr("copy_: source of shape %s does not broadcast to the target's shape %s",
                     bt_shp(src), bt_shp(dst));
  bt_Device dd = dst->storage->device, sd = src->storage->device;
  if (dd.type != sd.type || dd.index != sd.index) {
    char a[32], b[32];
    return bt_seterr("copy_: source on %s and target on %s (move one with :to())",
                     bt_device_name(sd, b), bt_device_name(dd, a));
  }
  int (*k)(bt_Tensor *, const bt_Tensor *) = BT_KERNEL("copy_", dd, copy);
  if (!k) return -1;
  bt_Tensor *s = unaliased(dst, src), *e = s ? bt_expand_raw(s, ndim, shape) : NULL;
  int rc = e ? k(dst, e) : -1;
  BT_RELEASE(s, e);
  if (rc < 0) return -1;
  bt_bump_version(dst);
  if (bt_ag_needs(1, &src) && bt_dtype_is_float(dst->dtype)) {
    if (!bt_ag_record("CopyBackward", copy_backward, 1, &src, dst)) return -1;
  } else if (dst->grad_fn && bt_grad_enabled()) {
    /* Overwritten by a constant: nothing flows back to its old history. */
    if (!bt_ag_record("CopyBackward", copy_backward, 0, NULL, dst)) return -1;
  }
  return 0;
}

int bt_fill_(bt_Tensor *t, double value) {
  if (bt_ag_check_inplace("fill_", t) < 0) return -1;
  int (*k)(bt_Tensor *, double) = BT_KERNEL("fill_", t->storage->device, fill);
  if (!k || k(t, value) < 0) return -1;
  bt_bump_version(t);
  if (t->grad_fn && bt_grad_enabled() && !bt_ag_record("FillBackward", copy_backward, 0, NULL, t))
    return -1;
  return 0;
}

int bt_zero_(bt_Tensor *t) { return bt_fill_(t, 0); }
