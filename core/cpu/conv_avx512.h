/*
** cpu/conv_avx512.h: direct f32 convolution kernels for CPUs with AVX-512
** (cpu/conv_avx512.c), used by cpu/conv.c when they apply.
**
** Two register-blocked micro-kernels, no im2col:
**
**   direct   out[m, i, j] = bias[m] + sum_k A[m, k] * src[off[k] + i * Wp + j]
**            over a zero-padded copy of one image (src [channels, Hp, Wp]):
**            the forward convolution (A = the weight) and, for stride 1, its
**            adjoint in x (src = the padded output gradient, A = the weight
**            transposed and flipped). Vectors run along output positions.
**   weight   W^T [k, oc] += sum over positions of col [k, p] * gy^T [p, oc],
**            col read straight from the padded image, gy transposed per image.
**            Vectors run along output channels. Any stride.
*/
#ifndef BRASA_CONV_AVX512_H
#define BRASA_CONV_AVX512_H

#include "kernels.h"

typedef enum { C512_FORWARD, C512_INPUT, C512_WEIGHT } C512Kind;
/* How a direct kind vectorises: along positions or along output channels. */
typedef enum { C512_NONE, C512_POS, C512_OCV } C512Mode;

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
  int32_t *off;                /* [K]: offsets of the reduction's taps in src */
  float *apack;                /* direct: the packed weights (POS [groups][tiles][K][mr],
                                  OCV [groups][K][mp]) */
  int32_t *seg_start;          /* POS: [nvec + 1] the first segment of each vector */
  int32_t *seg;                /* POS: (mask, offset) pairs */
  void *mem;                   /* the shared tables (one bt_alloc) */
  int64_t mem_bytes;
  int64_t work_floats;         /* scratch of one image, per thread */
  int64_t drip_calls;          /* tiles of one image (prefetches are spread over them) */
  int64_t partial_floats;      /* weight: one accumulator [groups][K][ocp] */
  int64_t partial_stride;      /* weight: floats from one task's partial to the next (set by the caller) */
} C512;

/* True when this CPU runs AVX-512 (F, VL) and the kernel of `kind` handles g. */
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

#endif
