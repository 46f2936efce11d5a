/*
** io/idx.c: the IDX format of the MNIST family (LeCun's), read directly
** from .gz files (zlib reads plain files too).
**
** Header: two zero bytes, a type code (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
** 0x0D f32, 0x0E f64), the number of dims, then each size as a big-endian
** uint32; the data follow in C order, big-endian.
*/
#include "../internal.h"

#include <errno.h>
#include <sys/stat.h>
#include <zlib.h>

static int read_exact(gzFile f, void *buf, size_t n, const char *path) {
  size_t got = 0;
  while (got < n) {
    int r = gzread(f, (char *)buf + got, (unsigned)BT_MIN(n - got, (size_t)1 << 30));
    if (r <= 0) {
      int zerr;
      const char *msg = gzerror(f, &zerr);
      return bt_seterr("read_idx: %s: file ends early (%s)", path, r < 0 ? msg : "truncated");
    }
    got += (size_t)r;
  }
  return 0;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Whether the file holds the `need` bytes of data the header announces,
** checked before memory is taken for them: a corrupt header may claim
** gigabytes. A plain file is checked by its size; a gzip stream, when the
** claim exceeds PROBE_MIN, by seeking to its last byte (zlib decompresses
** up to there), then coming back to the data. */
#define PROBE_MIN ((int64_t)64 << 20)

static int check_data_size(gzFile f, const char *path, int64_t hbytes, int64_t need) {
  if (gzdirect(f)) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size - hbytes < need)
      return bt_seterr("read_idx: %s: the header announces %lld bytes of data, the file holds %lld "
                       "(truncated or corrupt)", path, (long long)need, (long long)(sb.st_size - hbytes));
    return 0;
  }
  if (need <= PROBE_MIN) return 0;   /* small enough to allocate; reading will tell */
  char last;
  if (gzseek(f, (z_off_t)(need - 1), SEEK_CUR) < 0 || gzread(f, &last, 1) != 1)
    return bt_seterr("read_idx: %s: the header announces %lld bytes of data, the file holds fewer "
                     "(truncated or corrupt)", path, (long long)need);
  if (gzseek(f, (z_off_t)hbytes, SEEK_SET) != hbytes)
    return bt_seterr("read_idx: %s: cannot seek back to the data", path);
  return 0;
}

bt_Tensor *bt_read_idx(const char *path) {
  gzFile f = gzopen(path, "rb");
  if (!f) return bt_seterr("read_idx: cannot open %s: %s", path, strerror(errno)), NULL;
  bt_Tensor *t = NULL;
  unsigned char head[4], dimbuf[4 * BT_MAX_DIMS];
  if (read_exact(f, head, 4, path) < 0) goto done;
  if (head[0] != 0 || head[1] != 0) {
    bt_seterr("read_idx: %s is not an IDX file (bad magic number)", path);
    goto done;
  }
  int ndim = head[3];
  if (ndim < 1 || ndim > BT_MAX_DIMS) {
    bt_seterr("read_idx: %s: %d dims (1 to %d supported)", path, ndim, BT_MAX_DIMS);
    goto done;
  }
  bt_DType dt;
  size_t es;
  switch (head[2]) {
    case 0x08: dt = BT_U8; es = 1; break;
    case 0x0C: dt = BT_I32; es = 4; break;
    case 0x0D: dt = BT_F32; es = 4; break;
    case 0x0E: dt = BT_F64; es = 8; break;
    default:
      bt_seterr("read_idx: %s: unsupported element type 0x%02x", path, head[2]);
      goto done;
  }
  if (read_exact(f, dimbuf, 4 * (size_t)ndim, path) < 0) goto done;
  int64_t shape[BT_MAX_DIMS];
  for (int d = 0; d < ndim; d++) shape[d] = be32(dimbuf + 4 * d);
  int64_t n = bt_checked_numel("read_idx", ndim, shape);
  if (n < 0 || n > INT64_MAX / 8) {
    bt_seterr("read_idx: %s: sizes %s: too many elements (a corrupt header?)", path,
              bt_shpn(ndim, shape));
    goto done;
  }
  if (check_data_size(f, path, 4 + 4 * (int64_t)ndim, n * (int64_t)es) < 0) goto done;
  if (!(t = bt_empty(ndim, shape, dt, BT_CPU_DEVICE))) {
    bt_seterr("read_idx: %s: %s", path, bt_errmsg());
    goto done;
  }
  unsigned char *data = t->storage->data;
  if (read_exact(f, data, (size_t)n * es, path) < 0) {
    bt_release(t);
    t = NULL;
    goto done;
  }
  if (es > 1) {   /* big-endian to the machine's order */
    for (int64_t i = 0; i < n; i++) {
      unsigned char *p = data + i * (int64_t)es;
      for (size_t a = 0, b = es - 1; a < b; a++, b--) {
        unsigned char c = p[a]; p[a] = p[b]; p[b] = c;
      }
    }
  }
done:
  gzclose(f);
  return t;
}
