/*
** ops/device.c: parsing device names, and moving tensors between devices.
**
** bt_to_device copies through the CUDA library's host services
** (cuda_api.h): the source is made contiguous on its own device first (the
** staging copy), then its bytes move with one synchronous copy. The move is
** differentiable: its backward moves the gradient back to the source's
** device.
*/
#include "internal.h"
#include "autograd.h"
#include "cuda_api.h"

int bt_device_parse(const char *s, bt_Device *d) {
  if (!s) return bt_seterr("device: a name expected ('cpu', 'cuda' or 'cuda:N')");
  if (!strcmp(s, "cpu")) {
    *d = BT_CPU_DEVICE;
    return 0;
  }
  if (!strncmp(s, "cuda", 4)) {
    const char *p = s + 4;
    if (*p == '\0') {
      *d = (bt_Device){BT_CUDA, 0};
      return 0;
    }
    char *end;
    long n = *p == ':' && p[1] >= '0' && p[1] <= '9' ? strtol(p + 1, &end, 10) : -1;
    if (n >= 0 && n < 1024 && *end == '\0') {
      *d = (bt_Device){BT_CUDA, (int)n};
      return 0;
    }
  }
  return bt_seterr("device: unknown device '%s' (expected 'cpu', 'cuda' or 'cuda:N')", s);
}

static bool same_device(bt_Device a, bt_Device b) {
  return a.type == b.type && (a.type == BT_CPU || a.index == b.index);
}

static int to_device_backward(bt_Node *n, bt_Tensor *g, bt_Tensor **gin) {
  bt_Device src = {(bt_DeviceType)n->i[0], (int)n->i[1]};
  gin[0] = bt_to_device(g, src);
  return gin[0] ? 0 : -1;
}

/* Copies the bytes of contiguous c (on its device) into out (on its own). */
static int move_bytes(bt_Tensor *out, const bt_Tensor *c) {
  int64_t nbytes = bt_numel(c) * (int64_t)bt_dtype_size(c->dtype);
  if (nbytes == 0) return 0;
  const bt_CudaApi *api = bt_cuda_api();
  if (!api) return bt_seterr("to: no CUDA device is available (%s)", bt_cuda_status());
  bt_Device from = c->storage->device, to = out->storage->device;
  if (from.type == BT_CPU) return api->copy_to_device(bt_data(out), to.index, bt_data(c), nbytes);
  if (to.type == BT_CPU) return api->copy_to_host(bt_data(out), bt_data(c), from.index, nbytes);
  return api->copy_device_to_device(bt_data(out), to.index, bt_data(c), from.index, nbytes);
}

bt_Tensor *bt_to_device(bt_Tensor *t, bt_Device dev) {
  bt_Device from = t->storage->device;
  if (same_device(from, dev)) {
    bt_retain(t);
    return t;
  }
  if (dev.type != BT_CPU && bt_cuda_use_device("to", dev.index) < 0) return NULL;
  bt_Tensor *c = bt_contiguous_as(t, t->dtype);   /* staging, on the source's device */
  if (!c) return NULL;
  if (dev.type != BT_CPU && bt_cuda_use_device("to", dev.index) < 0) {
    bt_release(c);
    return NULL;
  }
  bt_Tensor *out = bt_empty(t->ndim, t->shape, t->dtype, dev);
  int rc = out ? move_bytes(out, c) : -1;
  bt_release(c);
  if (rc < 0) {
    if (out) {
      char a[32], b[32];
      bt_seterr("to: moving %s from %s to %s: %s", bt_shp(t), bt_device_name(from, a),
                bt_device_name(dev, b), bt_errmsg());
    }
    bt_release(out);
    return NULL;
  }
  if (bt_dtype_is_float(t->dtype) && bt_ag_needs(1, &t)) {
    bt_Node *node = bt_ag_record("ToDeviceBackward", to_device_backward, 1, &t, out);
    if (!node) {
      bt_release(out);
      return NULL;
    }
    node->i[0] = from.type;
    node->i[1] = from.index;
  }
  return out;
}
