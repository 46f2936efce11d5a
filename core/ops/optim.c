/*
** ops/optim.c: fused optimiser updates and gradient clipping.
**
** These are not differentiable ops: they write parameters and optimiser
** state in place, outside autograd, as torch.optim does under no_grad. Each
** checks its tensors (shapes, dtypes, devices), brings them to the layout
** the kernels expect (contiguous, one dtype), calls the kernel of the
** parameter's device, writes back the tensors that had to be copied, and
** bumps the versions of what it wrote. The optimisers' bookkeeping (state
** creation, step counts, parameter groups) lives in lua/brasa/optim/.
*/
#include "internal.h"

#define MAX_T 5   /* param, grad and up to three states */

/* The tensors of one update: given[i] as the caller passed them (NULL: an
** absent optional state), work[i] what the kernel sees. given[0] is the
** parameter, given[1] the gradient (read only), the rest states (written). */
typedef struct {
  const char *op;
  int n;
  bt_Tensor *given[MAX_T];
  bt_Tensor *work[MAX_T];
} Update;

static bool overlapping(const bt_Tensor *t) {
  for (int d = 0; d < t->ndim; d++)
    if (t->stride[d] == 0 && t->shape[d] > 1) return true;
  return false;
}

/* A contiguous tensor for the kernel to write: t itself, or a copy that
** update_finish copies back. */
static bt_Tensor *writable(const char *op, const char *what, bt_Tensor *t) {
  if (bt_is_contiguous(t)) {
    bt_retain(t);
    return t;
  }
  if (overlapping(t)) {
    bt_seterr("%s: the %s %s is an expanded view (several elements share memory) and cannot "
              "be updated in place", op, what, bt_shp(t));
    return NULL;
  }
  return bt_contiguous_as(t, t->dtype);
}

static bool same_device(const bt_Tensor *a, const bt_Tensor *b) {
  return a->storage->device.type == b->storage->device.type &&
         a->storage->device.index == b->storage->device.index;
}

/* Checks a state tensor against the parameter. */
static int check_state(const char *op, const char *what, const bt_Tensor *s, const bt_Tensor *p) {
  if (!bt_same_shape(s, p))
    return bt_seterr("%s: %s has shape %s but the parameter has shape %s", op, what, bt_shp(s),
                     bt_shp(p));
  if (s->dtype != p->dtype)
    return bt_seterr("%s: %s is %s but the parameter is %s", op, what, bt_dtype_name(s->dtype),
                     bt_dtype_name(p->dtype));
  if (!same_device(s, p)) return bt_seterr("%s: %s is on another device than the parameter", op, what);
  return 0;
}

static void update_release(Update *u) {
  for (int i = 0; i < u->n; i++) bt_release(u->work[i]);
}

/* Fills u->work from the given tensors (names[i] for messages; need[i]:
** must be present). Returns -1 with a message on a bad argument. */
static int update_prepare(Update *u, const char *const *names, const bool *need) {
  bt_Tensor *p = u->given[0], *g = u->given[1];
  if (!p || !g) return bt_seterr("%s: a parameter and its gradient are needed", u->op);
  if (!bt_dtype_is_float(p->dtype))
    return bt_seterr("%s: the parameter must have a floating-point dtype, not %s", u->op,
                     bt_dtype_name(p->dtype));
  if (!bt_same_shape(g, p))
    return bt_seterr("%s: the gradient has shape %s but the parameter has shape %s", u->op,
                     bt_shp(g), bt_shp(p));
  if (!same_device(g, p)) return bt_seterr("%s: the gradient is on another device than the parameter", u->op);
  for (int i = 2; i < u->n; i++) {
    if (!u->given[i]) {
      if (need[i]) return bt_seterr("%s: the state %s is missing", u->op, names[i]);
    } else if (check_state(u->op, names[i], u->given[i], p) < 0) {
      return -1;
    }
  }
  for (int i = 0; i < u->n; i++) {
    if (!u->given[i]) continue;
    u->work[i] = i == 1 ? bt_contiguous_as(g, p->dtype) : writable(u->op, names[i], u->given[i]);
    if (!u->work[i]) {
      update_release(u);
      return -1;
    }
  }
  return 0;
}

/* After the kernel ran (rc its status): copies back what was updated in a
** copy, bumps versions, releases. */
static int update_finish(Update *u, int rc) {
  const bt_Backend *be = bt_backend(u->given[0]->storage->device);
  for (int i = 0; i < u->n; i++) {
    if (i == 1 || !u->given[i]) continue;
    if (rc == 0 && u->work[i] != u->given[i]) rc = be->copy(u->given[i], u->work[i]);
    bt_bump_version(u->given[i]);
  }
  update_release(u);
  return rc;
}

int bt_sgd_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *momentum_buf, const bt_SGDOpts *o) {
  static const char *const names[] = {"parameter", "gradient", "momentum_buffer"};
  const bool need[] = {true, true, o->momentum != 0};
  Update u = {.op = "SGD", .n = 3,
              .given = {param, grad, o->momentum != 0 ? momentum_buf : NULL}};
  if (!param) return bt_seterr("SGD: a parameter is needed");
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_Tensor *, const bt_SGDOpts *) =
      BT_KERNEL("SGD", param->storage->device, sgd_step);
  if (!k || update_prepare(&u, names, need) < 0) return -1;
  return update_finish(&u, k(u.work[0], u.work[1], u.work[2], o));
}

int bt_adam_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *exp_avg, bt_Tensor *exp_avg_sq,
                 bt_Tensor *max_exp_avg_sq, const bt_AdamOpts *o) {
  static const char *const names[] = {"parameter", "gradient", "exp_avg", "exp_avg_sq",
                                      "max_exp_avg_sq"};
  const bool need[] = {true, true, true, true, o->amsgrad};
  const char *op = o->decoupled ? "AdamW" : "Adam";
  Update u = {.op = op, .n = 5, .given = {param, grad, exp_avg, exp_avg_sq,
                                           o->amsgrad ? max_exp_avg_sq : NULL}};
  if (!param) return bt_seterr("%s: a parameter is needed", op);
  if (o->step < 1) return bt_seterr("%s: the step number must be >= 1, got %lld", op, (long long)o->step);
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_AdamOpts *) =
      BT_KERNEL(op, param->storage->device, adam_step);
  if (!k || update_prepare(&u, names, need) < 0) return -1;
  return update_finish(&u, k(u.work[0], u.work[1], u.work[2], u.work[3], u.work[4], o));
}

int bt_rmsprop_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *square_avg, bt_Tensor *grad_avg,
                    bt_Tensor *momentum_buf, const bt_RMSpropOpts *o) {
  static const char *const names[] = {"parameter", "gradient", "square_avg", "grad_avg",
                                      "momentum_buffer"};
  const bool need[] = {true, true, true, o->centered, o->momentum > 0};
  Update u = {.op = "RMSprop", .n = 5, .given = {param, grad, square_avg,
                                                  o->centered ? grad_avg : NULL,
                                                  o->momentum > 0 ? momentum_buf : NULL}};
  if (!param) return bt_seterr("RMSprop: a parameter is needed");
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_RMSpropOpts *) =
      BT_KERNEL("RMSprop", param->storage->device, rmsprop_step);
  if (!k || update_prepare(&u, names, need) < 0) return -1;
  return update_finish(&u, k(u.work[0], u.work[1], u.work[2], u.work[3], u.work[4], o));
}

int bt_adagrad_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *sum, const bt_AdagradOpts *o) {
  static const char *const names[] = {"parameter", "gradient", "sum"};
  static const bool need[] = {true, true, true};
  Update u = {.op = "Adagrad", .n = 3, .given = {param, grad, sum}};
  if (!param) return bt_seterr("Adagrad: a parameter is needed");
  if (o->step < 1) return bt_seterr("Adagrad: the step number must be >= 1, got %lld", (long long)o->step);
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_Tensor *, const bt_AdagradOpts *) =
      BT_KERNEL("Adagrad", param->storage->device, adagrad_step);
  if (!k || update_prepare(&u, names, need) < 0) return -1;
  return update_finish(&u, k(u.work[0], u.work[1], u.work[2], o));
}

int bt_adadelta_step(bt_Tensor *param, bt_Tensor *grad, bt_Tensor *square_avg, bt_Tensor *acc_delta,
                     const bt_AdadeltaOpts *o) {
  static const char *const names[] = {"parameter", "gradient", "square_avg", "acc_delta"};
  static const bool need[] = {true, true, true, true};
  Update u = {.op = "Adadelta", .n = 4, .given = {param, grad, square_avg, acc_delta}};
  if (!param) return bt_seterr("Adadelta: a parameter is needed");
  int (*k)(bt_Tensor *, const bt_Tensor *, bt_Tensor *, bt_Tensor *, const bt_AdadeltaOpts *) =
      BT_KERNEL("Adadelta", param->storage->device, adadelta_step);
  if (!k || update_prepare(&u, names, need) < 0) return -1;
  return update_finish(&u, k(u.work[0], u.work[1], u.work[2], u.work[3], o));
}

/* ---- clipping ---------------------------------------------------------------------- */

static int check_grads(const char *op, int n, bt_Tensor *const *grads) {
  for (int i = 0; i < n; i++) {
    if (!grads[i]) return bt_seterr("%s: gradient %d is missing", op, i + 1);
    if (!bt_dtype_is_float(grads[i]->dtype))
      return bt_seterr("%s: gradient %d has dtype %s, not a floating-point one", op, i + 1,
                       bt_dtype_name(grads[i]->dtype));
  }
  return 0;
}

/* g = clamp(g * scale, lo, hi) in place, whatever g's layout. */
static int scale_clamp(const char *op, bt_Tensor *g, double scale, double lo, double hi) {
  int (*k)(bt_Tensor *, double, double, double) = BT_KERNEL(op, g->storage->device, scale_clamp);
  if (!k) return -1;
  bt_Tensor *w = writable(op, "gradient", g);
  if (!w) return -1;
  int rc = k(w, scale, lo, hi);
  if (rc == 0 && w != g) rc = bt_backend(g->storage->device)->copy(g, w);
  bt_release(w);
  bt_bump_version(g);
  return rc;
}

/* The values of t (f64, any device) into out. */
static int read_doubles(bt_Tensor *t, double *out) {
  bt_Tensor *h = bt_to_device(t, BT_CPU_DEVICE);
  if (!h) return -1;
  for (int64_t i = 0; i < bt_numel(h); i++) out[i] = bt_get_flat(h, i);
  bt_release(h);
  return 0;
}

/* *out = g's term of the norm (the grad_norm kernel of g's device); out
** points into that device's memory. */
static int norm_term(const char *op, bt_Tensor *g, double p, double *out) {
  int (*k)(const bt_Tensor *, double, double *) = BT_KERNEL(op, g->storage->device, grad_norm);
  bt_Tensor *c = k ? bt_contiguous_as(g, g->dtype) : NULL;
  int rc = c ? k(c, p, out) : -1;
  bt_release(c);
  return rc;
}

/* terms[i] = gradient i's term of the norm. The terms of the gradients on
** the first one's device fill one [n] f64 tensor there and come back in one
** copy: on a GPU one wait, not one per parameter. A gradient on another
** device (a model partly moved) is read alone. */
static int norm_terms(const char *op, int n, bt_Tensor *const *grads, double p, double *terms) {
  int64_t len = n;
  bt_Tensor *slots = bt_zeros(1, &len, BT_F64, grads[0]->storage->device);
  if (!slots) return -1;
  int rc = 0;
  for (int i = 0; rc == 0 && i < n; i++)
    if (same_device(grads[i], grads[0])) rc = norm_term(op, grads[i], p, (double *)bt_data(slots) + i);
  if (rc == 0) rc = read_doubles(slots, terms);   /* the other devices' slots hold 0 */
  bt_release(slots);
  for (int i = 0; rc == 0 && i < n; i++) {
    if (same_device(grads[i], grads[0])) continue;
    bt_Tensor *one = bt_empty(0, NULL, BT_F64, grads[i]->storage->device);
    rc = one ? norm_term(op, grads[i], p, (double *)bt_data(one)) : -1;
    if (rc == 0) rc = read_doubles(one, &terms[i]);
    bt_release(one);
  }
  return rc;
}

int bt_clip_grad_norm_(int n, bt_Tensor *const *grads, double max_norm, double p, double *total) {
  const char *op = "clip_grad_norm";
  *total = 0;
  if (!(p > 0)) return bt_seterr("%s: norm_type must be > 0 (or inf), got %g", op, p);
  if (check_grads(op, n, grads) < 0) return -1;
  if (n == 0) return 0;
  double *terms = bt_alloc(op, n * (int64_t)sizeof(double), BT_CPU);
  if (!terms) return -1;
  int rc = norm_terms(op, n, grads, p, terms);
  double acc = 0;
  for (int i = 0; rc == 0 && i < n; i++) {
    double s = terms[i];
    if (isinf(p)) acc = s > acc || s != s ? s : acc;   /* a NaN stays (torch.max) */
    else acc += s;
  }
  bt_free(terms, n * (int64_t)sizeof(double), BT_CPU);
  if (rc < 0) return -1;
  *total = isinf(p) ? acc : p == 2 ? sqrt(acc) : p == 1 ? acc : pow(acc, 1 / p);
  double coef = max_norm / (*total + 1e-6);
  if (!(coef >= 1)) {   /* PyTorch multiplies by min(coef, 1); by 1 changes nothing */
    for (int i = 0; i < n; i++)
      if (scale_clamp(op, grads[i], coef, -INFINITY, INFINITY) < 0) return -1;
  }
  return 0;
}

int bt_clip_grad_value_(int n, bt_Tensor *const *grads, double clip) {
  const char *op = "clip_grad_value";
  if (!(clip >= 0)) return bt_seterr("%s: clip_value must be >= 0, got %g", op, clip);
  if (check_grads(op, n, grads) < 0) return -1;
  for (int i = 0; i < n; i++)
    if (scale_clamp(op, grads[i], 1, -clip, clip) < 0) return -1;
  return 0;
}
