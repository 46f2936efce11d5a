/*
** autocast.c: automatic mixed precision (brasa.h, @section autocast): the
** autocast state, the casts ops make at entry, and the gradient unscaling
** of loss scaling.
**
** The state is per thread, as grad mode is (autograd.c) and as PyTorch's
** autocast is: an op runs on the thread that called it, and a second
** thread (a data loader's) never sees the first one's regions. Each device
** type has its own switch and dtype; bf16 on the CPU and f16 on CUDA are
** PyTorch's defaults. Both dtypes are allowed on both devices: the CPU
** computes f16 and bf16 in f32 and stores them rounded, so f16 on the CPU
** reproduces a GPU's f16 numerics (the GPU tests' CPU stand-in uses it).
**
** The two op classes follow PyTorch 1.13's autocast lists, one policy for
** both devices: LOWER ops (matmul, mm, bmm, conv*, linear's bias) cast f32,
** f16 and bf16 arguments to the autocast dtype (never f64: PyTorch leaves
** doubles alone); F32 ops (softmax, log_softmax, the class losses, the
** reductions) cast f16 and bf16 arguments to f32. Casts go through
** bt_to_dtype, which records a ToBackward node: the gradient of an f32
** parameter used by a half matmul comes back through the cast and the
** engine gives it the parameter's own dtype. PyTorch also caches the half
** copy of a weight used several times in one region; here each use casts
** again (the cost is a copy of the weight per use).
**
** Backward rules call ops too (bmm's rule calls bmm). The engine does not
** switch autocast off, so a backward run inside a region casts like the
** forward did; as PyTorch recommends, run backward outside the region
** (brasa.amp's GradScaler and fit do).
*/
#include "internal.h"
#include "autocast.h"

typedef struct {
  bool enabled;
  bt_DType dtype;
} DeviceState;

static _Thread_local DeviceState state[BT_NUM_DEVICE_TYPES] = {
    [BT_CPU] = {false, BT_BF16}, [BT_CUDA] = {false, BT_F16}};
static _Thread_local int nenabled;   /* device types with autocast on: the fast check */

static const char *type_name(bt_DeviceType dev) { return dev == BT_CUDA ? "cuda" : "cpu"; }

int bt_autocast_set(bt_DeviceType dev, bool enabled, bt_DType dtype) {
  if ((unsigned)dev >= BT_NUM_DEVICE_TYPES) return bt_seterr("autocast: unknown device type %d", (int)dev);
  if (dtype != BT_F16 && dtype != BT_BF16)
    return bt_seterr("autocast: the dtype must be f16 or bf16, got %s for %s",
                     (unsigned)dtype < BT_NUM_DTYPES ? bt_dtype_name(dtype) : "an unknown dtype",
                     type_name(dev));
  if (state[dev].enabled != enabled) nenabled += enabled ? 1 : -1;
  state[dev].enabled = enabled;
  state[dev].dtype = dtype;
  return 0;
}

bool bt_autocast_enabled(bt_DeviceType dev) {
  return (unsigned)dev < BT_NUM_DEVICE_TYPES && state[dev].enabled;
}

bt_DType bt_autocast_dtype(bt_DeviceType dev) {
  return (unsigned)dev < BT_NUM_DEVICE_TYPES ? state[dev].dtype : BT_F32;
}

/* The dtype t takes in an op of class cls, or t's own when none applies. */
static bt_DType target_dtype(bt_AutocastClass cls, const bt_Tensor *t) {
  bt_DeviceType dev = t->storage->device.type;
  if ((unsigned)dev >= BT_NUM_DEVICE_TYPES || !state[dev].enabled) return t->dtype;
  if (t->dtype != BT_F32 && t->dtype != BT_F16 && t->dtype != BT_BF16)
    return t->dtype;   /* f64 and integers: left alone */
  return cls == BT_AUTOCAST_LOWER ? state[dev].dtype : BT_F32;
}

#define MAX_ARGS 8

int bt_autocast_args(bt_AutocastClass cls, int n, bt_Tensor **args) {
  if (nenabled == 0) return 0;
  int first = -1;
  for (int i = 0; i < n && first < 0; i++)
    if (args[i] && target_dtype(cls, args[i]) != args[i]->dtype) first = i;
  if (first < 0) return 0;
  bt_Tensor *cast[MAX_ARGS];
  if (n > MAX_ARGS) return bt_seterr("autocast: too many arguments (%d)", n);
  for (int i = 0; i < n; i++) {
    cast[i] = NULL;
    if (!args[i]) continue;
    bt_DType dt = target_dtype(cls, args[i]);
    cast[i] = dt == args[i]->dtype ? (bt_retain(args[i]), args[i]) : bt_to_dtype(args[i], dt);
    if (!cast[i]) {
      bt_release_n(i, cast);
      return -1;
    }
  }
  memcpy(args, cast, sizeof(bt_Tensor *) * (size_t)n);
  return 1;
}

bt_Tensor *bt_autocast_done(int n, bt_Tensor **args, bt_Tensor *r) {
  bt_release_n(n, args);
  return r;
}

bt_Tensor *bt_autocast_cast(bt_AutocastClass cls, bt_Tensor *t) {
  bt_DType dt = target_dtype(cls, t);
  if (dt == t->dtype) {
    bt_retain(t);
    return t;
  }
  return bt_to_dtype(t, dt);
}

/* ---- loss scaling: unscaling gradients ------------------------------------------------ */

/* g *= inv_scale in place through the backend's fused scale_clamp (which
** wants contiguous data: other layouts go through a copy). */
static int scale_in_place(bt_Tensor *g, double inv_scale) {
  const char *op = "amp unscale";
  int (*k)(bt_Tensor *, double, double, double) = BT_KERNEL(op, bt_dev(g), scale_clamp);
  if (!k) return -1;
  if (bt_is_contiguous(g)) {
    if (k(g, inv_scale, -INFINITY, INFINITY) < 0) return -1;
  } else {
    bt_Tensor *c = bt_contiguous_as(g, g->dtype);
    int rc = c ? k(c, inv_scale, -INFINITY, INFINITY) : -1;
    if (rc == 0) rc = bt_backend(bt_dev(g))->copy(g, c);
    bt_release(c);
    if (rc < 0) return -1;
  }
  bt_bump_version(g);
  return 0;
}

#define MAX_DEVICES 16

/* One accumulator per device: 0 while every gradient on it is finite, NaN
** once one is not. It stays on its device, so the check costs no
** synchronisation per gradient; each is read once at the end. */
typedef struct {
  bt_Device dev;
  bt_Tensor *acc;
} Flag;

static int add_flag(Flag *flags, int *nflags, bt_Tensor *z) {
  bt_Device d = bt_dev(z);
  for (int i = 0; i < *nflags; i++) {
    if (flags[i].dev.type == d.type && flags[i].dev.index == d.index) {
      bt_Tensor *s = bt_add(flags[i].acc, z);
      if (!s) return -1;
      bt_release(flags[i].acc);
      flags[i].acc = s;
      return 0;
    }
  }
  if (*nflags == MAX_DEVICES) return bt_seterr("amp unscale: gradients on more than %d devices", MAX_DEVICES);
  bt_retain(z);
  flags[(*nflags)++] = (Flag){d, z};
  return 0;
}

/* Scales, then sums each gradient: the sum of the scaled values is finite
** exactly when they all are, unless it overflows (a total beyond 3.4e38
** in f32, which counts as an overflow too: such a step would be garbage).
** One reduction per gradient; s * 0 is 0 for a finite sum and NaN
** otherwise, and those add up per device. */
static int unscale_all(int n, bt_Tensor *const *grads, double inv_scale, Flag *flags, int *nflags) {
  for (int i = 0; i < n; i++) {
    bt_Tensor *g = grads[i];
    if (!g) continue;
    if (!bt_dtype_is_float(g->dtype))
      return bt_seterr("amp unscale: gradient %d has dtype %s, not a float one", i + 1, bt_dtype_name(g->dtype));
    if (g->dtype == BT_F16)
      return bt_seterr("amp unscale: gradient %d is f16: loss scaling needs f32 parameters (and so "
                       "f32 gradients); autocast runs the ops in f16 (PyTorch refuses f16 gradients too)",
                       i + 1);
    if (inv_scale != 1 && scale_in_place(g, inv_scale) < 0) return -1;
    bt_Tensor *s = bt_sum(g, BT_REDUCE_ALL, false);
    bt_Tensor *z = s ? bt_mul_scalar(s, 0.0) : NULL;
    int rc = z ? add_flag(flags, nflags, z) : -1;
    BT_RELEASE(s, z);
    if (rc < 0) return -1;
  }
  return 0;
}

int bt_amp_unscale_(int n, bt_Tensor *const *grads, double inv_scale, bool *found_inf) {
  *found_inf = false;
  if (n < 0) return bt_seterr("amp unscale: negative number of gradients");
  if (!(inv_scale > 0) || isinf(inv_scale))
    return bt_seterr("amp unscale: the inverse scale must be a finite number > 0, got %g", inv_scale);
  Flag flags[MAX_DEVICES];
  int nflags = 0;
  bool prev = bt_set_grad_enabled(false);
  int rc = unscale_all(n, grads, inv_scale, flags, &nflags);
  for (int i = 0; i < nflags; i++) {
    if (rc == 0) {
      bt_Tensor *h = bt_to_device(flags[i].acc, BT_CPU_DEVICE);   /* the one synchronisation */
      if (!h) rc = -1;
      else if (isnan(bt_get_flat(h, 0))) *found_inf = true;
      bt_release(h);
    }
    bt_release(flags[i].acc);
  }
  bt_set_grad_enabled(prev);
  return rc;
}
