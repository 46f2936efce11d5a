/*
** dispatch.c: which backend serves which device type.
*/
#include "internal.h"

static const bt_Backend *backends[BT_NUM_DEVICE_TYPES] = {[BT_CPU] = &bt_cpu_backend};

const bt_Backend *bt_backend(bt_Device d) {
  return (unsigned)d.type < BT_NUM_DEVICE_TYPES ? backends[d.type] : NULL;
}

void bt_register_backend(bt_DeviceType type, const bt_Backend *be) { backends[type] = be; }

int bt_no_kernel(const char *op, const char *family, bt_Device d) {
  char dev[32];
  bt_device_name(d, dev);
  if (!backends[d.type])
    return bt_seterr("%s: the %s backend is not loaded", op, d.type == BT_CUDA ? "CUDA" : dev);
  return bt_seterr("%s: the %s backend has no '%s' kernel", op, backends[d.type]->name, family);
}
