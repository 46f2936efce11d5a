/*
** cpu/conv_avx512.h: direct f32 convolution kernels for CPUs with AVX-512
** (cpu/conv_avx512.c), used by cpu/conv.c when they apply.
**
** Register-blocked micro-kernels, no im2col:
**
**   direct   out[m, i, j] = bias[m] + sum_k A[m, k] * src[off[k] + i * Wp + j]
**            over a zero-padded copy of one image (src [channels, Hp, Wp]):
**            the forward convolution (A = the weight) and, for stride 1, its
**            adjoint in x (src = the padded output gradient, A = the weight
**            transposed and flipped).
**            Vectors run along output positions (POS) or, with the tiles
**            transposed at the end, along output channels (OCV; any stride
**            for the forward pass).
**   wino     3x3 stride 1 (conv_wino.c): Winograd F(2x2, 3x3) for the forward
**            pass and its adjoint in x, F(3x3, 2x2) for the weight: 16
**            products of transformed tiles (2.25 times fewer
**            multiplications), on the micro-kernels above and below.
**   weight   W^T [k, oc] += sum over positions of col [k, p] * gy^T [p, oc],
**            col read straight from the padded image, gy transposed per image.
**            Vectors run along output channels. Any stride.
**
** The bt_c512_* functions serve conv.c; the c512_* ones are shared by
** conv_avx512.c and conv_wino.c.
*/
#ifndef BRASA_CONV_AVX512_H
#define BRASA_CONV_AVX512_H

#include "kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define C512_BUILT 1
#include <immintrin.h>
#define C512_TARGET __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,fma")))
#else
#define C512_BUILT 0
#endif

typedef enum { C512_FORWARD, C512_INPUT, C512_WEIGHT } C512Kind;
/* How a kind computes: direct by positions or by output channels, Winograd
** (NONE for weight: the direct weight kernel). */
typedef enum { C512_NONE, C512_POS, C512_OCV, C512_WINO } C512Mode;

typedef struct {
  C512Kind kind;
  C512Mode mode;
  bt_ConvGeom g;
  int64_t M, K;                /* per group: rows of A (outputs), reduction length */
  int64_t src_c, src_h, src_w; /* the image that gets padded: channels (all groups), size */
  int64_t top, left;           /* its padding (may be negative: cropping) */
  int64_t Hp, Wp;              /* the padded size */
  int64_t sh, sw;              /* the strides over it */
  int64_t mp;                  /* M rounded up to 16 */
  int64_t out_c, out_h, out_w; /* the output image (weight: the gradient's) */
  int64_t nvec;                /* POS: vectors of 16 positions with segments (+ NVMAX empty) */
  int64_t ocp;                 /* weight: output channels per group, padded to 16 */
  int64_t kc, kcp;             /* WINO: input channels per group, padded to 16 */
  int64_t th, tw;              /* WINO: tiles of 2 x 2 outputs down and across */
  int64_t wv, wm, wy;          /* WINO: where V, M and the output tiles start in work */
  int32_t *off;                /* [K]: offsets of the reduction's taps in src */
  float *apack;                /* direct: the packed weights (POS [groups][tiles][K][mr],
                                  OCV [groups][K][mp], WINO [groups][16][kc][mp]) */
  int32_t *seg_start;          /* POS: [nvec + 1] the first segment of each vector */
  int32_t *seg;                /* POS: (mask, offset) pairs */
  void *mem;                   /* the shared tables (one bt_alloc) */
  int64_t mem_bytes;
  int64_t work_floats;         /* scratch of one image, per thread */
  int64_t drip_calls;          /* tiles of one image (prefetches are spread over them) */
  int64_t partial_floats;      /* weight: one accumulator [groups][K][ocp]
                                  (WINO: [groups][16][kc][ocp]) */
  int64_t partial_stride;      /* weight: floats from one partial to the next (the caller's) */
} C512;

/* True when this CPU runs AVX-512 (F, VL, DQ, BW) and a kernel of `kind`
** handles g. BRASA_CONV_GENERIC=1 in the environment makes it false. */
bool bt_c512_applies(C512Kind kind, const bt_ConvGeom *g);
/* Builds the tables (w is the weight for direct kinds, NULL for weight). */
int bt_c512_init(C512 *c, C512Kind kind, const bt_ConvGeom *g, const float *w);
void bt_c512_free(C512 *c);
/* One image. direct: in = x (forward) or y (input), out = y or x, bias or
** NULL. weight: in = x, gy = y, acc a partial (kept across images; zeroed
** by the caller), bias_acc NULL or [oc] doubles adding the sums of gy.
** next: the inputs of the image that comes next on this thread (or NULL),
** prefetched a little at a time while this one is computed. */
typedef struct {
  const char *p[2];
  int64_t bytes[2];
} C512Next;
void bt_c512_direct(const C512 *c, const float *in, const float *bias, float *out, float *work,
                    const C512Next *next);
void bt_c512_weight(const C512 *c, const float *x, const float *gy, float *acc,
                    double *bias_acc, float *work, const C512Next *next);
/* One image over the pool (a batch smaller than the threads): prepare it
** (pad; for weight, also transpose gy and add the bias's sums), then run its
** units [0, bt_c512_units) from any threads (out: the output image, or the
** weight's accumulator), then its finish units (direct: the output image). */
void bt_c512_prepare(const C512 *c, const float *in, const float *gy, float *work,
                     double *bias_acc);
int64_t bt_c512_units(const C512 *c);
void bt_c512_run(const C512 *c, int64_t u0, int64_t u1, const float *work, const float *bias,
                 float *out);
int64_t bt_c512_finish_units(const C512 *c);
void bt_c512_finish(const C512 *c, int64_t f0, int64_t f1, const float *work, const float *bias,
                    float *out);
/* w [oc, c/groups, kh, kw] = the sum of n partials (partial_stride apart;
** the first is overwritten). */
void bt_c512_weight_finish(const C512 *c, float *partials, int64_t n, float *w);

/* ---- shared by conv_avx512.c and conv_wino.c ---------------------------- */

/* Prefetches of the next image, a few cache lines per tile (c512_drip). */
typedef struct {
  const char *p[2];
  int64_t left[2];
  int64_t per;
} C512Drip;
void c512_drip(C512Drip *d);   /* NULL: nothing */
static inline int64_t c512_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
/* The weight gradient's blocks of output channels: 64 wide (taps KR4 at a
** time), then 32 and 16 (taps KR at a time). */
#define C512_KR 12
#define C512_KR4 6
int64_t c512_oc_blocks(const C512 *c);
void c512_oc_block(const C512 *c, int64_t ob, int64_t *o0, int *nv);
/* The micro-kernels: direct by channels [strided][nv - 1][pr] (pr <= 12) and
** weight [nv 1, 2, 4][kr] (see conv_avx512.c for their arguments). */
typedef void (*C512OcvFn)(const float *src, int64_t sw, const int32_t *off, int64_t K,
                          const float *at, int64_t mp, float *outT, int64_t ldo, bool add);
typedef void (*C512WeightFn)(const float *src, const int32_t *off, const float *gT, int64_t ocp,
                             float *acc, int64_t oh, int64_t ow, int64_t rs, int64_t cs);
extern const C512OcvFn c512_ocv_fns[2][2][13];
extern const C512WeightFn c512_weight_fns[3][13];
/* gT [P, ocp] = gy [ocg, P] transposed (adding row sums into bias, if any);
** out [M, P] (+ bias) = outT [P, mp] transposed. */
void c512_transpose_gy(float *gT, const float *gy, int64_t ocg, int64_t P, int64_t ocp,
                       double *bias);
void c512_transpose_out(float *out, const float *outT, int64_t M, int64_t P, int64_t mp,
                        const float *bias);

#if C512_BUILT
/* 16 x 16 transpose in registers: r[i] becomes column i. */
C512_TARGET static inline __attribute__((always_inline)) void c512_transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; i++) {
    __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int q = 0; q < 4; q++) {
    t[q] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0x88);
    t[q + 4] = _mm512_shuffle_f32x4(r[q], r[4 + q], 0xdd);
    t[q + 8] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0x88);
    t[q + 12] = _mm512_shuffle_f32x4(r[8 + q], r[12 + q], 0xdd);
  }
  for (int q = 0; q < 4; q++) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0x88);
    r[q + 8] = _mm512_shuffle_f32x4(t[q], t[q + 8], 0xdd);
    r[q + 4] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0x88);
    r[q + 12] = _mm512_shuffle_f32x4(t[q + 4], t[q + 12], 0xdd);
  }
}

/* Address arithmetic that may point outside a buffer for masked lanes. */
static inline float *c512_at(float *p, int64_t i) {
  return (float *)((uintptr_t)p + (uintptr_t)(i * 4));
}
#endif

/* conv_wino.c: Winograd F(2x2, 3x3) (forward and input gradient) and
** F(3x3, 2x2) (weight gradient) for 3x3 kernels at stride 1. */
bool c512_wino_fits(const bt_ConvGeom *g, int64_t m, int64_t kc, int64_t positions);
void c512_wino_pack(const C512 *c, const float *A, float *dst);
void c512_wino_prepare(const C512 *c, const float *in, const float *gy, float *work,
                       double *bias_acc);
void c512_wino_unit(const C512 *c, int64_t u, const float *work, C512Drip *d);
void c512_wino_weight_unit(const C512 *c, bool split, int64_t u, const float *work, float *acc,
                           C512Drip *d);
void c512_wino_finish(const C512 *c, int64_t f, const float *work, const float *bias, float *out);
void c512_wino_weight_out(const C512 *c, const float *sums, float *w);

#endif
