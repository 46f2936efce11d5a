/*
** dtype.c: dtype names, sizes, promotion, and f16/bf16 conversions.
*/
#include "internal.h"

static const struct {
  const char *name;
  size_t size;
} dtypes[BT_NUM_DTYPES] = {
  [BT_F32] = {"f32", 4}, [BT_F64] = {"f64", 8}, [BT_F16] = {"f16", 2},
  [BT_BF16] = {"bf16", 2}, [BT_I64] = {"i64", 8}, [BT_I32] = {"i32", 4},
  [BT_U8] = {"u8", 1}, [BT_BOOL] = {"bool", 1},
};

/* Long names accepted by bt_dtype_parse (PyTorch's and NumPy's spellings). */
static const struct {
  const char *name;
  bt_DType dt;
} aliases[] = {
  {"float32", BT_F32}, {"float", BT_F32}, {"float64", BT_F64}, {"double", BT_F64},
  {"float16", BT_F16}, {"half", BT_F16}, {"bfloat16", BT_BF16}, {"int64", BT_I64},
  {"long", BT_I64}, {"int32", BT_I32}, {"int", BT_I32}, {"uint8", BT_U8},
  {"byte", BT_U8}, {"boolean", BT_BOOL},
};

const bt_Device BT_CPU_DEVICE = {BT_CPU, 0};

const char *bt_dtype_name(bt_DType dt) {
  return (unsigned)dt < BT_NUM_DTYPES ? dtypes[dt].name : "?";
}

size_t bt_dtype_size(bt_DType dt) { return dtypes[dt].size; }

int bt_dtype_parse(const char *name) {
  for (int i = 0; i < BT_NUM_DTYPES; i++)
    if (strcmp(name, dtypes[i].name) == 0) return i;
  for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
    if (strcmp(name, aliases[i].name) == 0) return aliases[i].dt;
  return -1;
}

bool bt_dtype_is_float(bt_DType dt) {
  return dt == BT_F32 || dt == BT_F64 || dt == BT_F16 || dt == BT_BF16;
}

bool bt_dtype_is_integer(bt_DType dt) {
  return dt == BT_I64 || dt == BT_I32 || dt == BT_U8;
}

/* Rank within a category: a wider type wins. f16 and bf16 promote to f32. */
static int float_rank(bt_DType d) {
  switch (d) {
    case BT_F16: return 1;
    case BT_BF16: return 2;
    case BT_F32: return 3;
    default: return 4;   /* f64 */
  }
}

static int int_rank(bt_DType d) {
  switch (d) {
    case BT_U8: return 1;
    case BT_I32: return 2;
    default: return 3;   /* i64 */
  }
}

bt_DType bt_promote(bt_DType a, bt_DType b) {
  if (a == b) return a;
  bool fa = bt_dtype_is_float(a), fb = bt_dtype_is_float(b);
  if (fa && fb) {
    if ((a == BT_F16 && b == BT_BF16) || (a == BT_BF16 && b == BT_F16)) return BT_F32;
    return float_rank(a) >= float_rank(b) ? a : b;
  }
  if (fa) return a;
  if (fb) return b;
  if (a == BT_BOOL) return b;
  if (b == BT_BOOL) return a;
  return int_rank(a) >= int_rank(b) ? a : b;
}

/* ---- half precision ---------------------------------------------------- */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t bt_f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40);   /* NaN stays NaN */
  u += 0x7fff + ((u >> 16) & 1);                                             /* round to nearest even */
  return (uint16_t)(u >> 16);
}

float bt_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t bt_f32_to_f16(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  uint32_t mag = u & 0x7fffffff;
  if (mag >= 0x7f800000)                                  /* Inf or NaN */
    return (uint16_t)(sign | 0x7c00 | (mag > 0x7f800000 ? 0x200 : 0));
  if (mag >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  /* overflows to Inf */
  if (mag < 0x38800000) {                                 /* subnormal or zero in f16 */
    /* Add 0.5 so the float adder rounds the bits we keep to nearest even. */
    float r = bits_f32(mag) + 0.5f;
    return (uint16_t)(sign | (f32_bits(r) - 0x3f000000));
  }
  uint32_t odd = (mag >> 13) & 1;
  mag += 0xc8000fff + odd;      /* rebias exponent (-112 << 23) and round */
  return (uint16_t)(sign | (mag >> 13));
}

float bt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0) {                          /* zero or subnormal: man * 2^-24 */
    float f = (float)man * 5.9604644775390625e-8f;
    return bits_f32(f32_bits(f) | sign);
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000 | (man << 13));
  return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}
