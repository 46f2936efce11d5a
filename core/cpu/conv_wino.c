/*
** cpu/conv_wino.c: Winograd convolutions for 3x3 kernels at stride 1 with
** AVX-512 (part of the kernels of conv_avx512.h; mode C512_WINO).
**
** Forward and input gradient: F(2x2, 3x3). Every 2x2 block of outputs (a
** tile) is y = A^T [(G g G^T) .* (B^T d B)] A, d the 4x4 block of input
** under it, summed over the input channels. So an image takes 16 matrix
** products, one per position xi of the 4x4 transformed tile:
**   M_xi [tiles, out] = V_xi [tiles, in] @ U_xi [in, out]
** with V = B^T d B (the input, transformed 16 channels at a time from a
** channels-last copy of the image) and U = G g G^T (the weights, once per
** call): 2.25 times fewer multiplications than the direct sum. The products
** run on the direct-by-channels micro-kernel of conv_avx512.c; the output
** transform writes the tiles channels-last and one transpose gives NCHW.
**
** Weight gradient: F(3x3, 2x2). The 3x3 kernel's gradient is the
** correlation of each 4x4 input block d with the 2x2 block e of gy over it,
** w = A'^T [(G' e G'^T) .* (B'^T d B')] A', so it sums 16 products over the
** tiles of every image, X_xi [in, out] += D_xi^T @ E_xi, on the weight
** micro-kernel, and the A' transform runs once at the end.
**
** Matrices (Lavin and Gray's, checked against the direct sums):
**   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; h h h; h -h h; 0 0 1]
**   A^T = [1 1 1 0; 0 1 -1 -1]                          (h = 1/2)
**   B'^T = B^T with its last row negated               G' = [1 0; h h; h -h; 0 1]
**   A'^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1]
** In f32 the results agree with the direct sums to the same relative error
** (about 3e-7 rms on the course's layers; tests/c/test_conv.c compares).
*/
#include "conv_avx512.h"

#include <stdlib.h>

#define C512_MR 12          /* tiles per micro-kernel call */
#define C512_SPLIT_PARTS 8  /* units per block when one image is split over the pool */

/* Winograd for a 3x3 kernel at stride and dilation 1 with m output and kc
** input channels per group (16 or more each, to fill the vectors), when an
** image's transformed tiles (16 per tile, on both sides) take at most 8 MB
** of workspace. BRASA_CONV_NOWINO=1 turns it off (tests compare). */
bool c512_wino_fits(const bt_ConvGeom *g, int64_t m, int64_t kc, int64_t positions) {
  const char *off = getenv("BRASA_CONV_NOWINO");
  if (off && *off && strcmp(off, "0") != 0) return false;
  int64_t tiles = (positions + 3) / 4, vectors = (kc + 15) / 16 + (m + 15) / 16;
  return g->sh == 1 && g->sw == 1 && g->kh == 3 && g->kw == 3 && g->dh == 1 && g->dw == 1 &&
         m >= 16 && kc >= 16 && tiles * vectors * 16 * 16 * 4 <= (8 << 20);
}

/* Winograd's transform of a 3x3 kernel: u [4x4] = G g G^T with
** G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
static void wino_weight(const float *g, float *u) {
  float t[4][3];
  for (int j = 0; j < 3; j++) {
    t[0][j] = g[j];
    t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
    t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
    t[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; i++) {
    u[4 * i] = t[i][0];
    u[4 * i + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
    u[4 * i + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
    u[4 * i + 3] = t[i][2];
  }
}

/* U [16][kc][mp] of one group from A [M][kc * 9] (the kernels of each
** output channel m, taps in input-channel order), zeros past M. */
void c512_wino_pack(const C512 *c, const float *A, float *dst) {
  for (int64_t k = 0; k < c->kc; k++)
    for (int64_t m = 0; m < c->mp; m++) {
      float u[16];
      if (m < c->M) wino_weight(A + m * c->K + k * 9, u);
      else memset(u, 0, sizeof u);
      for (int xi = 0; xi < 16; xi++) dst[(xi * c->kc + k) * c->mp + m] = u[xi];
    }
}

#if C512_BUILT

/* The source image channels-last and padded: sT [Hp][Wp][groups * kcp]
** (each group's channels padded to kcp with zeros), by 16 x 16 transposes. */
C512_TARGET static void transpose_in(const C512 *c, const float *src, float *sT) {
  int64_t ct = c->g.groups * c->kcp, hw = c->src_h * c->src_w;
  for (int64_t gr = 0; gr < c->g.groups; gr++)
    for (int64_t c0 = 0; c0 < c->kcp; c0 += 16) {
      int64_t nc = BT_MIN(16, c->kc - c0);
      const float *sc = src + (gr * c->kc + c0) * hw;
      for (int64_t r = 0; r < c->Hp; r++) {
        int64_t sr = r - c->top;
        bool row = sr >= 0 && sr < c->src_h;
        for (int64_t s0 = 0; s0 < c->Wp; s0 += 16) {
          /* columns s0 + l read source column s0 + l - left */
          int64_t lo = BT_MAX(c->left - s0, 0), hi = BT_MIN(c->src_w + c->left - s0, 16);
          __mmask16 m = !row || hi <= lo ? 0
                        : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
          __m512 v[16];
          int64_t at = sr * c->src_w + s0 - c->left;   /* of lane 0 in each channel */
          for (int i = 0; i < 16; i++)
            v[i] = m && i < nc ? _mm512_maskz_loadu_ps(m, c512_at((float *)sc, i * hw + at))
                               : _mm512_setzero_ps();
          c512_transpose16(v);
          int64_t ns = BT_MIN(16, c->Wp - s0);
          for (int64_t l = 0; l < ns; l++)
            _mm512_storeu_ps(sT + (r * c->Wp + s0 + l) * ct + gr * c->kcp + c0, v[l]);
        }
      }
    }
}

/* V [groups][16][T][kcp] = B^T d B of every 4x4 tile d, 16 channels at a time,
** with B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 s 0 -s]: s = 1 for F(2x2, 3x3),
** -1 for F(3x3, 2x2) (the weight gradient). */
C512_TARGET static void transform_in(const C512 *c, const float *sT, float *V) {
  bool f32 = c->kind == C512_WEIGHT;
  int64_t ct = c->g.groups * c->kcp, T = c->th * c->tw;
  for (int64_t gr = 0; gr < c->g.groups; gr++)
    for (int64_t ti = 0; ti < c->th; ti++)
      for (int64_t tj = 0; tj < c->tw; tj++) {
        int64_t t = ti * c->tw + tj;
        for (int64_t c0 = 0; c0 < c->kcp; c0 += 16) {
          const float *d = sT + (2 * ti * c->Wp + 2 * tj) * ct + gr * c->kcp + c0;
          __m512 x[4][4], u[4][4];
          for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++) x[r][q] = _mm512_loadu_ps(d + (r * c->Wp + q) * ct);
          for (int q = 0; q < 4; q++) {   /* B^T d */
            u[0][q] = _mm512_sub_ps(x[0][q], x[2][q]);
            u[1][q] = _mm512_add_ps(x[1][q], x[2][q]);
            u[2][q] = _mm512_sub_ps(x[2][q], x[1][q]);
            u[3][q] = f32 ? _mm512_sub_ps(x[3][q], x[1][q]) : _mm512_sub_ps(x[1][q], x[3][q]);
          }
          float *o = V + (gr * 16 * T + t) * c->kcp + c0;
          int64_t step = T * c->kcp;   /* from one of the 16 products to the next */
          for (int r = 0; r < 4; r++) {   /* (B^T d) B */
            _mm512_storeu_ps(o + (4 * r) * step, _mm512_sub_ps(u[r][0], u[r][2]));
            _mm512_storeu_ps(o + (4 * r + 1) * step, _mm512_add_ps(u[r][1], u[r][2]));
            _mm512_storeu_ps(o + (4 * r + 2) * step, _mm512_sub_ps(u[r][2], u[r][1]));
            _mm512_storeu_ps(o + (4 * r + 3) * step, f32 ? _mm512_sub_ps(u[r][3], u[r][1])
                                                          : _mm512_sub_ps(u[r][1], u[r][3]));
          }
        }
      }
}

/* Unit u: product xi of group gr for 32 output channels: M [T][mp] = V
** [T][kc] @ U [kc][mp], on the direct-by-channels micro-kernel (its
** "positions" are tiles kcp apart, its taps the channels). */
void c512_wino_unit(const C512 *c, int64_t u, const float *work, C512Drip *d) {
  int64_t nmb = c512_ceil_div(c->mp, 32), mb = u % nmb, xi = u / nmb % 16, gr = u / nmb / 16;
  int64_t T = c->th * c->tw, m0 = mb * 32, ntl = c512_ceil_div(T, C512_MR);
  int nv = c->mp - m0 >= 32 ? 2 : 1;
  const float *V = work + c->wv + (gr * 16 + xi) * T * c->kcp;
  const float *U = c->apack + (gr * 16 + xi) * c->kc * c->mp + m0;
  float *M = (float *)work + c->wm + (gr * 16 + xi) * T * c->mp + m0;
  for (int64_t t = 0, t0 = 0; t < ntl; t++) {
    int pr = (int)(T / ntl + (t < T % ntl ? 1 : 0));
    c512_ocv_fns[1][nv - 1][pr](V + t0 * c->kcp, c->kcp, c->off, c->kc, U, c->mp, M + t0 * c->mp,
                           c->mp, false);
    c512_drip(d);
    t0 += pr;
  }
}

/* Finish unit f: 16 output channels of group gr: y = A^T m A of every tile
** (A^T = [1 1 1 0; 0 1 -1 -1]) into the [P][mp] buffer, then transposed into
** out with the bias. */
C512_TARGET void c512_wino_finish(const C512 *c, int64_t f, const float *work, const float *bias,
                                  float *out) {
  int64_t nb = c512_ceil_div(c->M, 16), gr = f / nb, m0 = f % nb * 16;
  int64_t T = c->th * c->tw, P = c->out_h * c->out_w;
  const float *M = work + c->wm + gr * 16 * T * c->mp + m0;
  float *yT = (float *)work + c->wy + gr * (P + 16) * c->mp;
  for (int64_t ti = 0; ti < c->th; ti++)
    for (int64_t tj = 0; tj < c->tw; tj++) {
      int64_t t = ti * c->tw + tj;
      __m512 s[2][4];
      for (int q = 0; q < 4; q++) {   /* A^T m */
        const float *m = M + t * c->mp + q * T * c->mp;
        __m512 m0v = _mm512_loadu_ps(m), m1 = _mm512_loadu_ps(m + 4 * T * c->mp);
        __m512 m2 = _mm512_loadu_ps(m + 8 * T * c->mp), m3 = _mm512_loadu_ps(m + 12 * T * c->mp);
        s[0][q] = _mm512_add_ps(_mm512_add_ps(m0v, m1), m2);
        s[1][q] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
      }
      for (int a = 0; a < 2; a++) {   /* (A^T m) A */
        int64_t i = 2 * ti + a, j = 2 * tj;
        if (i >= c->out_h) break;
        float *row = yT + (i * c->out_w + j) * c->mp + m0;
        _mm512_storeu_ps(row, _mm512_add_ps(_mm512_add_ps(s[a][0], s[a][1]), s[a][2]));
        if (j + 1 < c->out_w)
          _mm512_storeu_ps(row + c->mp, _mm512_sub_ps(_mm512_sub_ps(s[a][1], s[a][2]), s[a][3]));
      }
    }
  c512_transpose_out(out + (gr * c->M + m0) * P, yT + m0, BT_MIN(16, c->M - m0), P, c->mp,
                bias ? bias + gr * c->M + m0 : NULL);
}

/* Weight gradient, F(3x3, 2x2): E [groups][16][T][ocp] = G e G^T of every
** 2x2 tile e of gy (zeros past its edges), with G = [1 0; 1/2 1/2; 1/2 -1/2;
** 0 1], from gy^T [P][ocp] (16 output channels at a time). */
C512_TARGET static void transform_gy(const C512 *c, const float *gT, float *E, int64_t gr) {
  int64_t T = c->th * c->tw, step = T * c->ocp;
  __m512 half = _mm512_set1_ps(0.5f);
  for (int64_t ti = 0; ti < c->th; ti++)
    for (int64_t tj = 0; tj < c->tw; tj++) {
      int64_t t = ti * c->tw + tj;
      for (int64_t o0 = 0; o0 < c->ocp; o0 += 16) {
        __m512 e[2][2], u[4][2];
        for (int p = 0; p < 2; p++)
          for (int q = 0; q < 2; q++) {
            int64_t i = 2 * ti + p, j = 2 * tj + q;
            e[p][q] = i < c->out_h && j < c->out_w
                      ? _mm512_loadu_ps(gT + (i * c->out_w + j) * c->ocp + o0)
                      : _mm512_setzero_ps();
          }
        for (int q = 0; q < 2; q++) {   /* G e */
          u[0][q] = e[0][q];
          u[1][q] = _mm512_mul_ps(half, _mm512_add_ps(e[0][q], e[1][q]));
          u[2][q] = _mm512_mul_ps(half, _mm512_sub_ps(e[0][q], e[1][q]));
          u[3][q] = e[1][q];
        }
        float *o = E + (gr * 16 * T + t) * c->ocp + o0;
        for (int r = 0; r < 4; r++) {   /* (G e) G^T */
          _mm512_storeu_ps(o + (4 * r) * step, u[r][0]);
          __m512 a = _mm512_add_ps(u[r][0], u[r][1]), b = _mm512_sub_ps(u[r][0], u[r][1]);
          _mm512_storeu_ps(o + (4 * r + 1) * step, _mm512_mul_ps(half, a));
          _mm512_storeu_ps(o + (4 * r + 2) * step, _mm512_mul_ps(half, b));
          _mm512_storeu_ps(o + (4 * r + 3) * step, u[r][1]);
        }
      }
    }
}

/* Unit u of a Winograd weight gradient: product xi of group gr, one block
** of output channels by a part of the input channels: acc [kc][ocp] +=
** D [T][kc]^T @ E [T][ocp], on the weight micro-kernel (its "positions" are
** the tiles, its taps the input channels). */
void c512_wino_weight_unit(const C512 *c, bool split, int64_t u, const float *work, float *acc,
                           C512Drip *d) {
  int64_t parts = split ? C512_SPLIT_PARTS : 1, nob = c512_oc_blocks(c);
  int64_t part = u % parts, ob = u / parts % nob, xi = u / parts / nob % 16;
  int64_t gr = u / parts / nob / 16, o0, T = c->th * c->tw;
  int nv;
  c512_oc_block(c, ob, &o0, &nv);
  int kmax = nv == 4 ? C512_KR4 : C512_KR;
  int64_t ntk = c512_ceil_div(c->kc, kmax), t0 = part * ntk / parts, t1 = (part + 1) * ntk / parts;
  const float *D = work + c->wv + (gr * 16 + xi) * T * c->kcp;
  const float *E = work + c->wm + (gr * 16 + xi) * T * c->ocp;
  float *a = acc + (gr * 16 + xi) * c->kc * c->ocp;
  for (int64_t t = t0; t < t1; t++) {
    int64_t k0 = t * kmax;
    int kr = (int)BT_MIN(kmax, c->kc - k0);
    c512_weight_fns[nv == 4 ? 2 : nv - 1][kr](D, c->off + k0, E + o0, c->ocp, a + k0 * c->ocp + o0,
                                         1, T, 0, c->kcp);
    c512_drip(d);
  }
}

/* The padded channels-last image and its transform V (weight gradient:
** also gy^T and its transform E, adding gy's sums into bias_acc). */
void c512_wino_prepare(const C512 *c, const float *in, const float *gy, float *work,
                       double *bias_acc) {
  transpose_in(c, in, work);
  transform_in(c, work, work + c->wv);
  if (c->kind != C512_WEIGHT) return;
  int64_t P = c->out_h * c->out_w, ocg = c->M;
  float *gT = work + c->wy;
  for (int64_t gr = 0; gr < c->g.groups; gr++) {
    c512_transpose_gy(gT, gy + gr * ocg * P, ocg, P, c->ocp, bias_acc ? bias_acc + gr * ocg : NULL);
    transform_gy(c, gT, work + c->wm, gr);
  }
}

#else

void c512_wino_prepare(const C512 *c, const float *in, const float *gy, float *work,
                       double *bias_acc) {
  (void)c, (void)in, (void)gy, (void)work, (void)bias_acc;
}
void c512_wino_unit(const C512 *c, int64_t u, const float *work, C512Drip *d) {
  (void)c, (void)u, (void)work, (void)d;
}
void c512_wino_weight_unit(const C512 *c, bool split, int64_t u, const float *work, float *acc,
                           C512Drip *d) {
  (void)c, (void)split, (void)u, (void)work, (void)acc, (void)d;
}
void c512_wino_finish(const C512 *c, int64_t f, const float *work, const float *bias, float *out) {
  (void)c, (void)f, (void)work, (void)bias, (void)out;
}

#endif

/* w [oc][c][3][3] = A'^T X A' of the summed products X [groups][16][kc][ocp]. */
void c512_wino_weight_out(const C512 *c, const float *sums, float *w) {
  static const float AT[3][4] = {{1, 1, 1, 0}, {0, 1, -1, 0}, {0, 1, 1, 1}};
  int64_t ocg = c->M, kc = c->kc;
  for (int64_t gr = 0; gr < c->g.groups; gr++)
    for (int64_t o = 0; o < ocg; o++)
      for (int64_t k = 0; k < kc; k++) {
        float x[16], t[3][4];
        for (int xi = 0; xi < 16; xi++) x[xi] = sums[((gr * 16 + xi) * kc + k) * c->ocp + o];
        for (int a = 0; a < 3; a++)
          for (int q = 0; q < 4; q++)
            t[a][q] = AT[a][0] * x[q] + AT[a][1] * x[4 + q] + AT[a][2] * x[8 + q] +
                      AT[a][3] * x[12 + q];
        float *dst = w + ((gr * ocg + o) * kc + k) * 9;
        for (int a = 0; a < 3; a++)
          for (int b = 0; b < 3; b++)
            dst[3 * a + b] = AT[b][0] * t[a][0] + AT[b][1] * t[a][1] + AT[b][2] * t[a][2] +
                             AT[b][3] * t[a][3];
      }
}
