/*
** cpu/conv_avx512.c: direct f32 convolution kernels with AVX-512 (see
** conv_avx512.h for the formulations; Winograd is in conv_wino.c). Compiled
** for every x86-64 CPU: the functions that use AVX-512 carry a target
** attribute, and bt_c512_applies checks the CPU at run time, so other
** machines take the im2col + OpenBLAS path of conv.c.
**
** Every kernel reads a zero-padded copy of one image (src [channels, Hp,
** Wp]), so that tap k of output position (i, j) is src[off[k] + i * sh * Wp
** + j * sw]: no im2col, no bounds checks.
**
** Which kernel: 3x3 at stride 1 with 16 or more channels on both sides goes
** to Winograd (2.25 times fewer multiplications); otherwise the direct
** kernel by channels when its lanes are better filled than by positions.
** Measured on the course's 32 -> 64 layer (batch 128, one thread of an AMD
** EPYC at about 260 GFLOP/s peak): 34 us per image and pass by channels,
** 22-23 us by Winograd; im2col + OpenBLAS (Haswell kernels) takes 70-80.
**
** Direct, by positions (POS; stride 1). A tile is MR <= 12 output channels
** by 2 to 8 vectors of 16 consecutive positions of the padded output plane
** (rows of width Wp): per tap the vectors of src and MR broadcasts of the
** packed weights. Lanes that fall in the Wp - ow padding columns are
** computed and dropped: each vector stores through precomputed (mask,
** offset) segments.
**
** Direct, by channels (OCV; any stride for the forward pass). A tile is PR
** <= 12 positions of one output row by 16 or 32 output channels: per tap
** one or two loads of the packed weights [K][mp] and PR broadcasts of src.
** No lane is wasted when the channels are a multiple of 16; the tiles land
** in a [positions][mp] buffer that is transposed into the output at the end
** of the image (adding the bias). The taps go in chunks whose slice of the
** weights stays in L1.
**
** Weight kernel. A tile is KR <= 12 taps by 32 output channels (6 by 64):
** per valid output position, the vectors of gy^T (positions by channels,
** transposed per image) and KR broadcasts of src at the taps' offsets. The
** partial [groups][K][ocp] sums over the images of a task.
**
** The inputs of the next image of a task are prefetched a few cache lines
** per tile while the current one is computed (c512_drip).
*/
#include "conv_avx512.h"

#include <stdlib.h>

#if C512_BUILT
#define AVX512 C512_TARGET
#define INLINE static inline __attribute__((always_inline))
#endif

#define MR 12   /* direct: output channels per tile */
#define KR C512_KR    /* weight: taps per tile (16 or 32 channels) */
#define KR4 C512_KR4  /* weight: taps per tile with 64 channels */
#define NP 32   /* direct by positions: positions per tile (with 4 or more channels) */
#define NVMAX 8  /* direct by positions: most vectors of positions in a tile (1 channel) */
#define KCHUNK 128   /* direct by channels: taps per pass over the output */

/* ---- when the kernels apply ------------------------------------------------ */

static bool cpu_has_avx512(void) {
#if C512_BUILT
  static int have = -1;
  if (have < 0) {
    __builtin_cpu_init();
    have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
  }
  return have;
#else
  return false;
#endif
}

/* POS or OCV for a direct kind (NONE when neither fits). */
static C512Mode direct_mode(C512Kind kind, const bt_ConvGeom *g) {
  int64_t cg = g->c / g->groups, ocg = g->oc / g->groups;
  int64_t M = kind == C512_FORWARD ? ocg : cg;
  int64_t K = (kind == C512_FORWARD ? cg : ocg) * g->kh * g->kw;
  int64_t oh = kind == C512_FORWARD ? g->oh : g->h, ow = kind == C512_FORWARD ? g->ow : g->w;
  bool stride1 = g->sh == 1 && g->sw == 1;
  if (c512_wino_fits(g, M, K / (g->kh * g->kw), oh * ow)) return C512_WINO;
  bool pos = stride1;
  bool ocv = M >= 8 && (kind == C512_FORWARD || stride1) && K >= 16;
  if (!ocv) return pos ? C512_POS : C512_NONE;
  if (!pos) return C512_OCV;
  int64_t wp = ow + (g->kw - 1) * g->dw, tiles = (oh * wp + NP - 1) / NP;
  double pos_eff = (double)(oh * ow) / (double)(tiles * NP);
  double ocv_eff = (double)M / (double)((M + 15) / 16 * 16);
  return ocv_eff > pos_eff + 0.02 ? C512_OCV : C512_POS;
}

/* WINO or NONE (the direct weight kernel) for the weight gradient. */
static C512Mode weight_mode(const bt_ConvGeom *g) {
  int64_t cg = g->c / g->groups, ocg = g->oc / g->groups;
  return c512_wino_fits(g, ocg, cg, g->oh * g->ow) ? C512_WINO : C512_NONE;
}

bool bt_c512_applies(C512Kind kind, const bt_ConvGeom *g) {
  /* BRASA_CONV_GENERIC=1 forces the im2col path (tests compare the two). */
  const char *e = getenv("BRASA_CONV_GENERIC");
  if ((e && *e && strcmp(e, "0") != 0) || !cpu_has_avx512()) return false;
  int64_t hp = BT_MAX(g->h + 2 * g->ph, (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1) +
               g->kh * g->dh;
  int64_t wp = BT_MAX(g->w + 2 * g->pw, (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1) +
               g->kw * g->dw;
  int64_t chans = BT_MAX(g->c, g->oc);
  if (hp * wp * chans + wp + 64 >= INT32_MAX / 2) return false;   /* offsets are int32 */
  if (kind == C512_WEIGHT) return g->oc / g->groups >= 8;
  return direct_mode(kind, g) != C512_NONE;
}

/* ---- tables --------------------------------------------------------------- */

static int64_t slack_of(const C512 *c) {
  return c->mode == C512_POS ? (c->g.kw - 1) * c->g.dw + 16 * NVMAX : 0;
}

/* Vectors of 16 positions in a POS tile of mr channels: with few channels,
** more positions keep enough accumulators in flight. */
static int pos_width(int mr) { return mr >= 4 ? 2 : mr >= 2 ? 4 : NVMAX; }

/* The (mask, offset) segments through which each vector of 16 positions
** stores: lanes of one output row, skipping the padding columns. Returns the
** count; fills the tables when seg is not NULL. Vectors past the plane (a
** wide tile's last ones) have none. */
static int64_t build_segments(const C512 *c, int32_t *start, int32_t *seg) {
  int64_t n = 0, np = c->out_h * c->Wp;
  for (int64_t q = 0; q < c->nvec; q++) {
    if (start) start[q] = (int32_t)n;
    int64_t p0 = q * 16;
    int64_t row = -1;
    uint32_t mask = 0;
    for (int64_t l = 0; l <= 16; l++) {
      int64_t p = p0 + l, i = p / c->Wp, j = p % c->Wp;
      bool valid = l < 16 && p < np && j < c->out_w;
      if (mask && (!valid || i != row)) {   /* close the segment of `row` */
        if (seg) {
          seg[2 * n] = (int32_t)mask;
          seg[2 * n + 1] = (int32_t)(p0 + row * (c->out_w - c->Wp));
        }
        n++;
        mask = 0;
      }
      if (valid) {
        row = i;
        mask |= 1u << l;
      }
    }
  }
  if (start) start[c->nvec] = (int32_t)n;
  return n;
}

/* ---- work units ----------------------------------------------------------------- */

#define SPLIT_PARTS 8


/* WEIGHT: block ob of the output channels: 64 wide (taps KR4 at a time),
** then 32 and 16 (taps KR at a time). */
int64_t c512_oc_blocks(const C512 *c) {
  int64_t n64 = c->ocp / 64, left = c->ocp % 64;
  return n64 + (left >= 32) + (left % 32 != 0);
}
void c512_oc_block(const C512 *c, int64_t ob, int64_t *o0, int *nv) {
  int64_t n64 = c->ocp / 64, left = c->ocp % 64;
  if (ob < n64) *o0 = ob * 64, *nv = 4;
  else if (ob == n64 && left >= 32) *o0 = n64 * 64, *nv = 2;
  else *o0 = c->ocp - 16, *nv = 1;
}

static inline int64_t ocv_rows_per_unit(const C512 *c, bool split) { return split ? 1 : c->out_h; }

static inline int64_t units(const C512 *c, bool split) {
  int64_t parts = split ? SPLIT_PARTS : 1, gr = c->g.groups;
  if (c->kind == C512_WEIGHT)
    return gr * (c->mode == C512_WINO ? 16 : 1) * c512_oc_blocks(c) * parts;
  if (c->mode == C512_POS) return gr * c512_ceil_div(c->M, MR) * parts;
  if (c->mode == C512_WINO) return gr * 16 * c512_ceil_div(c->mp, 32);
  return gr * c512_ceil_div(c->mp, 32) * c512_ceil_div(c->out_h, ocv_rows_per_unit(c, split));
}

/* The padded image's floats, rounded to whole vectors (what follows it in
** the workspace stays aligned). */
static int64_t padded_floats(const C512 *c) {
  return (c->src_c * c->Hp * c->Wp + slack_of(c) + 15) / 16 * 16;
}

/* Tiles of one image in units run one after the other (the prefetches of
** the next image are spread over them). */
static int64_t drip_calls(const C512 *c) {
  int64_t n = 0;
  if (c->kind == C512_WEIGHT) {
    for (int64_t ob = 0; ob < c512_oc_blocks(c); ob++) {
      int64_t o0;
      int nv;
      c512_oc_block(c, ob, &o0, &nv);
      n += c->mode == C512_WINO ? 16 * c512_ceil_div(c->kc, nv == 4 ? KR4 : KR)
                                : c512_ceil_div(c->K, nv == 4 ? KR4 : KR);
    }
  } else if (c->mode == C512_POS) {
    for (int64_t m0 = 0; m0 < c->M; m0 += MR)
      n += c512_ceil_div(c->nvec - NVMAX, pos_width((int)BT_MIN(MR, c->M - m0)));
  } else if (c->mode == C512_WINO) {
    n = 16 * c512_ceil_div(c->mp, 32) * c512_ceil_div(c->th * c->tw, MR);
  } else {
    n = c512_ceil_div(c->mp, 32) * c512_ceil_div(c->K, KCHUNK) * c->out_h *
        c512_ceil_div(c->out_w, MR);
  }
  return n * c->g.groups;
}

/* A [M, K] of group gr into dst (rows K apart): the forward weight itself,
** or for the input gradient A[c][(oc, a, b)] = w[oc][c][kh-1-a][kw-1-b]. */
static void a_matrix(const C512 *c, const float *w, int64_t gr, float *dst) {
  const bt_ConvGeom *g = &c->g;
  int64_t kk = g->kh * g->kw, cg = g->c / g->groups, ocg = g->oc / g->groups;
  if (c->kind == C512_FORWARD) {
    memcpy(dst, w + gr * ocg * c->K, (size_t)(ocg * c->K) * sizeof *dst);
    return;
  }
  for (int64_t oc = 0; oc < ocg; oc++)
    for (int64_t m = 0; m < cg; m++) {
      const float *src = w + ((gr * ocg + oc) * cg + m) * kk;
      float *d = dst + m * c->K + oc * kk;
      for (int64_t t = 0; t < kk; t++) d[t] = src[kk - 1 - t];   /* flipped in both dims */
    }
}

/* POS: A of each group in tiles of MR rows, [tile][K][mr]. OCV: A^T of each
** group, [K][mp], zeros in the channels past M. WINO: the transformed
** kernels, [16][kc][mp]. scratch: M * K floats. */
static void pack_weights(const C512 *c, const float *w, float *scratch) {
  int64_t M = c->M, K = c->K;
  float *dst = c->apack;
  for (int64_t gr = 0; gr < c->g.groups; gr++) {
    a_matrix(c, w, gr, scratch);
    if (c->mode == C512_WINO) {
      c512_wino_pack(c, scratch, dst);
      dst += 16 * c->kc * c->mp;
      continue;
    }
    if (c->mode == C512_OCV) {
      for (int64_t k = 0; k < K; k++)
        for (int64_t m = 0; m < c->mp; m++) *dst++ = m < M ? scratch[m * K + k] : 0.0f;
      continue;
    }
    for (int64_t m0 = 0; m0 < M; m0 += MR) {
      int64_t mr = BT_MIN(MR, M - m0);
      for (int64_t k = 0; k < K; k++)
        for (int64_t r = 0; r < mr; r++) *dst++ = scratch[(m0 + r) * K + k];
    }
  }
}

int bt_c512_init(C512 *c, C512Kind kind, const bt_ConvGeom *g, const float *w) {
  memset(c, 0, sizeof *c);
  c->kind = kind;
  c->g = *g;
  int64_t cg = g->c / g->groups, ocg = g->oc / g->groups, kk = g->kh * g->kw, kc;
  if (kind == C512_FORWARD || kind == C512_WEIGHT) {
    c->src_c = g->c, c->src_h = g->h, c->src_w = g->w, c->top = g->ph, c->left = g->pw;
    c->out_c = g->oc, c->out_h = g->oh, c->out_w = g->ow;
    c->sh = g->sh, c->sw = g->sw;
    kc = cg;
  } else {   /* stride 1: a convolution of the padded gradient with the flipped weight */
    c->src_c = g->oc, c->src_h = g->oh, c->src_w = g->ow;
    c->top = (g->kh - 1) * g->dh - g->ph, c->left = (g->kw - 1) * g->dw - g->pw;
    c->out_c = g->c, c->out_h = g->h, c->out_w = g->w;
    c->sh = c->sw = 1;
    kc = ocg;
  }
  c->K = kc * kk;
  c->M = kind == C512_INPUT ? cg : ocg;
  c->mp = (c->M + 15) / 16 * 16;
  c->Hp = (c->out_h - 1) * c->sh + (g->kh - 1) * g->dh + 1;
  c->Wp = (c->out_w - 1) * c->sw + (g->kw - 1) * g->dw + 1;
  c->mode = kind == C512_WEIGHT ? weight_mode(g) : direct_mode(kind, g);
  c->kc = kc;
  c->kcp = (kc + 15) / 16 * 16;
  if (c->mode == C512_WINO) {   /* 4x4 input tiles 2 apart cover the padded image */
    c->th = (c->out_h + 1) / 2, c->tw = (c->out_w + 1) / 2;
    c->Hp = 2 * c->th + 2, c->Wp = 2 * c->tw + 2;
  }
  c->ocp = kind == C512_WEIGHT ? c->mp : 0;
  if (c->mode == C512_POS) c->nvec = (c->out_h * c->Wp + 15) / 16 + NVMAX;
  int64_t nseg = c->mode == C512_POS ? build_segments(c, NULL, NULL) : 0;
  int64_t nstart = c->mode == C512_POS ? c->nvec + 1 : 0;
  int64_t napack = c->mode == C512_POS ? g->groups * c->M * c->K
                   : c->mode == C512_OCV ? g->groups * c->K * c->mp
                   : c->mode == C512_WINO && kind != C512_WEIGHT ? g->groups * 16 * kc * c->mp
                   : 0;
  int64_t bytes = c->K * 4 + nstart * 4 + nseg * 8 + 64 + napack * 4;
  c->mem = bt_alloc("conv2d", bytes, BT_CPU);
  if (!c->mem) return -1;
  c->mem_bytes = bytes;
  c->apack = c->mem;   /* first: 64-byte aligned */
  c->off = (int32_t *)(c->apack + napack);
  c->seg_start = c->off + c->K;
  c->seg = c->seg_start + nstart;
  for (int64_t k = 0; k < c->K; k++) {
    int64_t ch = k / kk, a = k % kk / g->kw, b = k % g->kw;
    /* WINO: the products read channel k of a tile's row: offsets 0, 1, ... */
    c->off[k] = c->mode == C512_WINO ? (int32_t)k
                : (int32_t)(ch * c->Hp * c->Wp + a * g->dh * c->Wp + b * g->dw);
  }
  if (c->mode == C512_POS) build_segments(c, c->seg_start, c->seg);
  if (c->mode != C512_NONE && kind != C512_WEIGHT) {
    float *scratch = bt_alloc("conv2d", c->M * c->K * 4, BT_CPU);
    if (!scratch) {
      bt_c512_free(c);
      return -1;
    }
    pack_weights(c, w, scratch);
    bt_free(scratch, c->M * c->K * 4, BT_CPU);
  }
  c->work_floats = padded_floats(c);
  int64_t P = c->out_h * c->out_w;
  if (c->mode == C512_OCV) c->work_floats += g->groups * (P + 16) * c->mp;   /* the tiles */
  if (c->mode == C512_WINO) {
    /* channels-last image, V, M (weight: E) and the output tiles (weight: gy^T) */
    int64_t T = c->th * c->tw;
    c->wv = (c->Hp * c->Wp * g->groups * c->kcp + 15) / 16 * 16;
    c->wm = c->wv + g->groups * 16 * T * c->kcp;
    c->wy = c->wm + g->groups * 16 * T * c->mp;
    c->work_floats = c->wy + g->groups * (P + 16) * c->mp;
  }
  if (kind == C512_WEIGHT && c->mode == C512_WINO) {
    c->partial_floats = g->groups * 16 * kc * c->ocp;
    c->drip_calls = drip_calls(c);
    return 0;
  }
  if (kind == C512_WEIGHT) {
    c->work_floats += g->groups * P * c->ocp;      /* gy^T */
    c->partial_floats = g->groups * c->K * c->ocp;
  }
  c->drip_calls = drip_calls(c);
  return 0;
}

void bt_c512_free(C512 *c) {
  bt_free(c->mem, c->mem_bytes, BT_CPU);
  c->mem = NULL;
}

#if C512_BUILT

#define at c512_at

static void drip_init(C512Drip *d, const C512Next *next, int64_t calls) {
  memset(d, 0, sizeof *d);
  if (!next) return;
  int64_t lines = 0;
  for (int i = 0; i < 2; i++) {
    d->p[i] = next->p[i];
    d->left[i] = next->p[i] ? next->bytes[i] : 0;
    lines += (d->left[i] + 63) / 64;
  }
  d->per = calls > 0 ? (lines + calls - 1) / calls : lines;
}

void c512_drip(C512Drip *d) {
  if (!d) return;
  for (int64_t n = d->per; n > 0;) {
    int i = d->left[0] > 0 ? 0 : 1;
    if (d->left[i] <= 0) return;
    __builtin_prefetch(d->p[i], 0, 2);
    d->p[i] += 64;
    d->left[i] -= 64;
    n--;
  }
}

/* dst [c, hp, wp] = src [c, h, w] shifted by (top, left), zeros elsewhere,
** then `slack` zeros. Rows go by vectors: one masked load and one store per
** 16 columns. */
AVX512 static void pad_image(float *dst, const float *src, int64_t c, int64_t h, int64_t w,
                             int64_t hp, int64_t wp, int64_t top, int64_t left, int64_t slack) {
  int64_t s0 = BT_MAX(0, left), s1 = BT_MIN(wp, w + left);
  for (int64_t ch = 0; ch < c; ch++) {
    const float *sc = src + ch * h * w;
    for (int64_t r = 0; r < hp; r++, dst += wp) {
      int64_t sr = r - top;
      bool empty = sr < 0 || sr >= h || s1 <= s0;
      const float *srow = empty ? NULL : sc + sr * w - left;   /* column s reads srow[s] */
      for (int64_t j = 0; j < wp; j += 16) {
        int64_t lo = BT_MAX(s0 - j, 0), hi = BT_MIN(s1 - j, 16), n = BT_MIN(16, wp - j);
        __mmask16 keep = (__mmask16)((1u << n) - 1);
        __mmask16 m = empty || hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
        __m512 v = m ? _mm512_maskz_loadu_ps(m, at((float *)srow, j)) : _mm512_setzero_ps();
        if (n == 16) _mm512_storeu_ps(dst + j, v);
        else _mm512_mask_storeu_ps(dst + j, keep, v);
      }
    }
  }
  memset(dst, 0, (size_t)slack * sizeof *dst);
}

/* ---- the direct kernel ------------------------------------------------------ */

/* One tile: mr channels (rows of ap, packed [K][mr]) by nv vectors of 16
** positions of the padded plane starting at src (the group's padded image +
** p0). Stores into out (the first channel's plane, `plane` floats apart)
** through the segments of its vectors: vector v has those from start[v] to
** start[v + 1] of seg. */
AVX512 INLINE void direct_tile(const int mr, const int nv, const float *restrict ap,
                               const float *restrict src, const int32_t *restrict off,
                               int64_t K, const float *bias, float *out, int64_t plane,
                               const int32_t *seg, const int32_t *start) {
  __m512 acc[MR][NVMAX];
#pragma GCC unroll 12
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k++) {
    const float *s = src + off[k];
    __m512 b[NVMAX];
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) b[v] = _mm512_loadu_ps(s + 16 * v);
    const float *a = ap + k * mr;
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
      __m512 w = _mm512_set1_ps(a[r]);
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_fmadd_ps(w, b[v], acc[r][v]);
    }
  }
  if (bias) {
#pragma GCC unroll 12
    for (int r = 0; r < mr; r++) {
      __m512 bb = _mm512_set1_ps(bias[r]);
#pragma GCC unroll 8
      for (int v = 0; v < nv; v++) acc[r][v] = _mm512_add_ps(acc[r][v], bb);
    }
  }
#pragma GCC unroll 8
  for (int v = 0; v < nv; v++)
    for (int s = start[v]; s < start[v + 1]; s++) {
      __mmask16 m = (__mmask16)seg[2 * s];
      float *base = at(out, seg[2 * s + 1]);
#pragma GCC unroll 12
      for (int r = 0; r < mr; r++) _mm512_mask_storeu_ps(at(base, r * plane), m, acc[r][v]);
    }
}

typedef void (*DirectFn)(const float *, const float *, const int32_t *, int64_t, const float *,
                         float *, int64_t, const int32_t *, const int32_t *);
#define DIRECT_MR(N)                                                                          \
  AVX512 static void direct_mr##N(const float *ap, const float *src, const int32_t *off,     \
                                  int64_t K, const float *bias, float *out, int64_t plane,    \
                                  const int32_t *seg, const int32_t *start) {                 \
    direct_tile(N, N >= 4 ? 2 : N >= 2 ? 4 : NVMAX, ap, src, off, K, bias, out, plane, seg,  \
                start);                                                                       \
  }
DIRECT_MR(1) DIRECT_MR(2) DIRECT_MR(3) DIRECT_MR(4) DIRECT_MR(5) DIRECT_MR(6)
DIRECT_MR(7) DIRECT_MR(8) DIRECT_MR(9) DIRECT_MR(10) DIRECT_MR(11) DIRECT_MR(12)
static const DirectFn direct_fns[MR + 1] = {
  NULL, direct_mr1, direct_mr2, direct_mr3, direct_mr4, direct_mr5, direct_mr6,
  direct_mr7, direct_mr8, direct_mr9, direct_mr10, direct_mr11, direct_mr12,
};

/* ---- the weight kernel ------------------------------------------------------- */

/* One tile: kr taps (offsets off[0..kr)) by nv * 16 output channels. For each
** valid output position (i, j), reads the image at src + i*sh*Wp + j*sw +
** off[r] and gT's row of the position (ocp floats apart); adds the sums into
** acc [kr][ocp]. kr * nv <= 24. */
AVX512 INLINE void weight_tile(const int kr, const int nv, const float *restrict src,
                               const int32_t *restrict off, const float *restrict gT,
                               int64_t ocp, float *acc, int64_t oh, int64_t ow, int64_t rs,
                               int64_t cs) {
  __m512 a[KR][4];
  int64_t o[KR];
#pragma GCC unroll 12
  for (int r = 0; r < kr; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) a[r][v] = _mm512_setzero_ps();
    o[r] = off[r];
  }
  for (int64_t i = 0; i < oh; i++) {
    const float *s = src + i * rs;
    for (int64_t j = 0; j < ow; j++, s += cs, gT += ocp) {
      __m512 g[4];
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) g[v] = _mm512_loadu_ps(gT + 16 * v);
#pragma GCC unroll 12
      for (int r = 0; r < kr; r++) {
        __m512 x = _mm512_set1_ps(s[o[r]]);
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) a[r][v] = _mm512_fmadd_ps(x, g[v], a[r][v]);
      }
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < kr; r++) {
    float *d = acc + r * ocp;
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++)
      _mm512_storeu_ps(d + 16 * v, _mm512_add_ps(_mm512_loadu_ps(d + 16 * v), a[r][v]));
  }
}

#define WEIGHT_KR(N, V)                                                                        \
  AVX512 static void weight_kr##N##_##V(const float *src, const int32_t *off, const float *gT, \
                                        int64_t ocp, float *acc, int64_t oh, int64_t ow,        \
                                        int64_t rs, int64_t cs) {                               \
    weight_tile(N, V, src, off, gT, ocp, acc, oh, ow, rs, cs);                                 \
  }
#define WEIGHT_KR2(N) WEIGHT_KR(N, 1) WEIGHT_KR(N, 2)
WEIGHT_KR2(1) WEIGHT_KR2(2) WEIGHT_KR2(3) WEIGHT_KR2(4) WEIGHT_KR2(5) WEIGHT_KR2(6)
WEIGHT_KR2(7) WEIGHT_KR2(8) WEIGHT_KR2(9) WEIGHT_KR2(10) WEIGHT_KR2(11) WEIGHT_KR2(12)
WEIGHT_KR(1, 4) WEIGHT_KR(2, 4) WEIGHT_KR(3, 4) WEIGHT_KR(4, 4) WEIGHT_KR(5, 4) WEIGHT_KR(6, 4)
const C512WeightFn c512_weight_fns[3][KR + 1] = {   /* [nv 1, 2, 4][kr] */
  {NULL, weight_kr1_1, weight_kr2_1, weight_kr3_1, weight_kr4_1, weight_kr5_1, weight_kr6_1,
   weight_kr7_1, weight_kr8_1, weight_kr9_1, weight_kr10_1, weight_kr11_1, weight_kr12_1},
  {NULL, weight_kr1_2, weight_kr2_2, weight_kr3_2, weight_kr4_2, weight_kr5_2, weight_kr6_2,
   weight_kr7_2, weight_kr8_2, weight_kr9_2, weight_kr10_2, weight_kr11_2, weight_kr12_2},
  {NULL, weight_kr1_4, weight_kr2_4, weight_kr3_4, weight_kr4_4, weight_kr5_4, weight_kr6_4},
};

/* gT [P, ocp] = gy [ocg, P] transposed, zeros in the channels past ocg; adds
** the row sums of gy into bias (ocg doubles) when it is not NULL. */
AVX512 void c512_transpose_gy(float *gT, const float *gy, int64_t ocg, int64_t P,
                                int64_t ocp, double *bias) {
  for (int64_t o0 = 0; o0 < ocp; o0 += 16) {
    __m512 sum = _mm512_setzero_ps();
    for (int64_t p0 = 0; p0 < P; p0 += 16) {
      int64_t np = BT_MIN(16, P - p0);
      __mmask16 pm = (__mmask16)((1u << np) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; i++) {
        const float *row = gy + (o0 + i) * P + p0;
        if (o0 + i < ocg) _mm_prefetch((const char *)(row + 64), _MM_HINT_T0);
        r[i] = o0 + i < ocg ? _mm512_maskz_loadu_ps(pm, row) : _mm512_setzero_ps();
      }
      c512_transpose16(r);
      for (int64_t l = 0; l < np; l++) {
        _mm512_storeu_ps(gT + (p0 + l) * ocp + o0, r[l]);
        sum = _mm512_add_ps(sum, r[l]);
      }
    }
    if (bias) {
      float s[16];
      _mm512_storeu_ps(s, sum);
      for (int64_t i = 0; i < 16 && o0 + i < ocg; i++) bias[o0 + i] += s[i];
    }
  }
}

/* ---- one image ----------------------------------------------------------------- */

/* ---- the direct kernel by channels ------------------------------------------------- */

/* One tile: pr positions of one output row (src: the group's padded image
** at the row's first tap, positions sw apart) by nv * 16 channels of the
** packed A^T (at, rows mp apart). Writes the tile into outT (rows ldo apart). */
AVX512 INLINE void ocv_tile(const int pr, const int nv, const bool unit, const float *restrict src,
                            int64_t sw, const int32_t *restrict off, int64_t K,
                            const float *restrict at, int64_t mp, float *outT, int64_t ldo,
                            bool add) {
  __m512 acc[MR][2];
  if (add) {
#pragma GCC unroll 12
    for (int r = 0; r < pr; r++) {
      acc[r][0] = _mm512_loadu_ps(outT + r * ldo);
      acc[r][1] = nv > 1 ? _mm512_loadu_ps(outT + r * ldo + 16) : acc[r][0];
    }
  } else {
#pragma GCC unroll 12
    for (int r = 0; r < pr; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < K; k++) {
    const float *s = src + off[k], *a = at + k * mp;
    __m512 a0 = _mm512_loadu_ps(a), a1 = nv > 1 ? _mm512_loadu_ps(a + 16) : a0;
#pragma GCC unroll 12
    for (int r = 0; r < pr; r++) {
      __m512 v = _mm512_set1_ps(unit ? s[r] : s[r * sw]);
      acc[r][0] = _mm512_fmadd_ps(v, a0, acc[r][0]);
      if (nv > 1) acc[r][1] = _mm512_fmadd_ps(v, a1, acc[r][1]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < pr; r++) {
    _mm512_storeu_ps(outT + r * ldo, acc[r][0]);
    if (nv > 1) _mm512_storeu_ps(outT + r * ldo + 16, acc[r][1]);
  }
}

#define OCV_FN(N, V, U, NAME)                                                                  \
  AVX512 static void NAME(const float *src, int64_t sw, const int32_t *off, int64_t K,        \
                          const float *at, int64_t mp, float *outT, int64_t ldo, bool add) {   \
    ocv_tile(N, V, U, src, sw, off, K, at, mp, outT, ldo, add);                               \
  }
#define OCV_N(N) OCV_FN(N, 1, true, ocv##N##_1u) OCV_FN(N, 2, true, ocv##N##_2u)             \
                 OCV_FN(N, 1, false, ocv##N##_1s) OCV_FN(N, 2, false, ocv##N##_2s)
OCV_N(1) OCV_N(2) OCV_N(3) OCV_N(4) OCV_N(5) OCV_N(6)
OCV_N(7) OCV_N(8) OCV_N(9) OCV_N(10) OCV_N(11) OCV_N(12)
#define OCV_ROW(S) {NULL, ocv1_##S, ocv2_##S, ocv3_##S, ocv4_##S, ocv5_##S, ocv6_##S, ocv7_##S, \
                    ocv8_##S, ocv9_##S, ocv10_##S, ocv11_##S, ocv12_##S}
const C512OcvFn c512_ocv_fns[2][2][MR + 1] = {   /* [strided][nv - 1][pr] */
  {OCV_ROW(1u), OCV_ROW(2u)},
  {OCV_ROW(1s), OCV_ROW(2s)},
};

/* out [M, P] (+ bias) = outT [P, mp] transposed. */
AVX512 void c512_transpose_out(float *out, const float *outT, int64_t M, int64_t P, int64_t mp,
                                 const float *bias) {
  for (int64_t m0 = 0; m0 < M; m0 += 16) {
    int64_t nm = BT_MIN(16, M - m0);
    for (int64_t p0 = 0; p0 < P; p0 += 16) {
      int64_t np = BT_MIN(16, P - p0);
      __mmask16 pm = (__mmask16)((1u << np) - 1);
      __m512 r[16];
      for (int i = 0; i < 16; i++)
        r[i] = i < np ? _mm512_loadu_ps(outT + (p0 + i) * mp + m0) : _mm512_setzero_ps();
      c512_transpose16(r);
      for (int64_t q = 0; q < nm; q++) {
        __m512 v = bias ? _mm512_add_ps(r[q], _mm512_set1_ps(bias[m0 + q])) : r[q];
        if (np == 16) _mm512_storeu_ps(out + (m0 + q) * P + p0, v);   /* masked stores are slower */
        else _mm512_mask_storeu_ps(out + (m0 + q) * P + p0, pm, v);
      }
    }
  }
}

/* The tiles of one image come in units, run one after the other when
** threads share the batch, or spread over the pool for a single image
** (split): POS (group, block of MR channels, part of the tiles), OCV (group,
** block of 32 channels, block of rows), WEIGHT (group, block of output
** channels, part of the taps). */
/* Unit u of a POS image: tiles of one channel block into out (the image). */
static void pos_unit(const C512 *c, bool split, int64_t u, const float *work, const float *bias,
                     float *out, C512Drip *d) {
  int64_t parts = split ? SPLIT_PARTS : 1, nmb = c512_ceil_div(c->M, MR);
  int64_t part = u % parts, mb = u / parts % nmb, gr = u / parts / nmb;
  int64_t plane = c->out_h * c->out_w, kc = c->K / (c->g.kh * c->g.kw);
  int64_t m0 = mb * MR, nq = c->nvec - NVMAX;   /* vectors with positions */
  int mr = (int)BT_MIN(MR, c->M - m0), nv = pos_width(mr);
  int64_t ntq = c512_ceil_div(nq, nv), t0 = part * ntq / parts, t1 = (part + 1) * ntq / parts;
  const float *src = work + gr * kc * c->Hp * c->Wp;
  const float *ap = c->apack + gr * c->M * c->K + m0 * c->K;
  const float *b = bias ? bias + gr * c->M + m0 : NULL;
  float *o = out + (gr * c->M + m0) * plane;
  for (int64_t t = t0; t < t1; t++) {
    direct_fns[mr](ap, src + t * nv * 16, c->off, c->K, b, o, plane, c->seg,
                   c->seg_start + t * nv);
    c512_drip(d);
  }
}

/* Unit u of an OCV image: the tiles of one block of channels and rows into
** outT (the image's [P][mp] buffer), the taps in chunks whose slice of A^T
** stays in L1 (16 KB). */
static void ocv_unit(const C512 *c, bool split, int64_t u, const float *work, float *outT,
                     C512Drip *d) {
  int64_t rows = ocv_rows_per_unit(c, split), nrb = c512_ceil_div(c->out_h, rows);
  int64_t nmb = c512_ceil_div(c->mp, 32), rb = u % nrb, mb = u / nrb % nmb, gr = u / nrb / nmb;
  int64_t kc = c->K / (c->g.kh * c->g.kw), m0 = mb * 32;
  int64_t ntl = c512_ceil_div(c->out_w, MR);   /* tiles per row, as even as can be */
  int64_t nchunks = c512_ceil_div(c->K, KCHUNK), i0 = rb * rows, i1 = BT_MIN(i0 + rows, c->out_h);
  int nv = c->mp - m0 >= 32 ? 2 : 1;
  bool unit = c->sw == 1;
  const float *src = work + gr * kc * c->Hp * c->Wp;
  float *ot = outT + gr * (c->out_h * c->out_w + 16) * c->mp;
  for (int64_t ch = 0; ch < nchunks; ch++) {
    int64_t k0 = ch * c->K / nchunks, k1 = (ch + 1) * c->K / nchunks;
    const float *at = c->apack + gr * c->K * c->mp + k0 * c->mp + m0;
    for (int64_t i = i0; i < i1; i++) {
      const float *row = src + i * c->sh * c->Wp;
      for (int64_t t = 0, j0 = 0; t < ntl; t++) {
        int pr = (int)(c->out_w / ntl + (t < c->out_w % ntl ? 1 : 0));
        c512_ocv_fns[!unit][nv - 1][pr](row + j0 * c->sw, c->sw, c->off + k0, k1 - k0, at, c->mp,
                                   ot + (i * c->out_w + j0) * c->mp + m0, c->mp, ch > 0);
        c512_drip(d);
        j0 += pr;
      }
    }
  }
}

/* Unit u of a WEIGHT image: one block of output channels by a part of the
** taps, added into acc. */
static void weight_unit(const C512 *c, bool split, int64_t u, const float *work, float *acc,
                        C512Drip *d) {
  int64_t parts = split ? SPLIT_PARTS : 1, nob = c512_oc_blocks(c);
  int64_t part = u % parts, ob = u / parts % nob, gr = u / parts / nob, o0;
  int nv;
  c512_oc_block(c, ob, &o0, &nv);
  int kmax = nv == 4 ? KR4 : KR;
  int64_t ntk = c512_ceil_div(c->K, kmax), t0 = part * ntk / parts, t1 = (part + 1) * ntk / parts;
  int64_t P = c->out_h * c->out_w, cg = c->g.c / c->g.groups;
  const float *src = work + gr * cg * c->Hp * c->Wp;
  const float *gT = work + padded_floats(c) + gr * P * c->ocp;
  float *a = acc + gr * c->K * c->ocp;
  for (int64_t t = t0; t < t1; t++) {
    int64_t k0 = t * kmax;
    int kr = (int)BT_MIN(kmax, c->K - k0);
    c512_weight_fns[nv == 4 ? 2 : nv - 1][kr](src, c->off + k0, gT + o0, c->ocp,
                                              a + k0 * c->ocp + o0,
                                         c->out_h, c->out_w, c->sh * c->Wp, c->sw);
    c512_drip(d);
  }
}

static void run_units(const C512 *c, bool split, int64_t u0, int64_t u1, const float *work,
                      const float *bias, float *out, C512Drip *d) {
  for (int64_t u = u0; u < u1; u++) {
    if (c->kind == C512_WEIGHT && c->mode == C512_WINO)
      c512_wino_weight_unit(c, split, u, work, out, d);
    else if (c->kind == C512_WEIGHT) weight_unit(c, split, u, work, out, d);
    else if (c->mode == C512_POS) pos_unit(c, split, u, work, bias, out, d);
    else if (c->mode == C512_WINO) c512_wino_unit(c, u, work, d);
    else ocv_unit(c, split, u, work, (float *)work + padded_floats(c), d);
  }
}

/* The padded image (and for WEIGHT gy^T of every group, adding the bias's
** sums into bias_acc). */
static void prepare(const C512 *c, const float *in, const float *gy, float *work,
                    double *bias_acc) {
  if (c->mode == C512_WINO) {
    c512_wino_prepare(c, in, gy, work, bias_acc);
    return;
  }
  pad_image(work, in, c->src_c, c->src_h, c->src_w, c->Hp, c->Wp, c->top, c->left, slack_of(c));
  if (c->kind != C512_WEIGHT) return;
  int64_t P = c->out_h * c->out_w, ocg = c->M;
  float *gT = work + padded_floats(c);
  for (int64_t gr = 0; gr < c->g.groups; gr++)
    c512_transpose_gy(gT + gr * P * c->ocp, gy + gr * ocg * P, ocg, P, c->ocp,
                 bias_acc ? bias_acc + gr * ocg : NULL);
}

/* OCV: the [P][mp] tiles of each group into out, by blocks of 16 channels. */
static int64_t finish_units(const C512 *c) {
  if (c->kind == C512_WEIGHT) return 0;
  return c->mode == C512_OCV || c->mode == C512_WINO ? c->g.groups * c512_ceil_div(c->M, 16) : 0;
}

static void run_finish(const C512 *c, int64_t f0, int64_t f1, const float *work, const float *bias,
                       float *out) {
  int64_t nb = c512_ceil_div(c->M, 16), P = c->out_h * c->out_w;
  const float *outT = work + padded_floats(c);
  for (int64_t f = f0; f < f1; f++) {
    if (c->mode == C512_WINO) {
      c512_wino_finish(c, f, work, bias, out);
      continue;
    }
    int64_t gr = f / nb, m0 = f % nb * 16;
    c512_transpose_out(out + (gr * c->M + m0) * P, outT + gr * (P + 16) * c->mp + m0,
                  BT_MIN(16, c->M - m0), P, c->mp, bias ? bias + gr * c->M + m0 : NULL);
  }
}

/* ---- one image on one thread ------------------------------------------------------ */

void bt_c512_direct(const C512 *c, const float *in, const float *bias, float *out, float *work,
                    const C512Next *next) {
  prepare(c, in, NULL, work, NULL);
  C512Drip d;
  drip_init(&d, next, units(c, false) > 0 ? c->drip_calls : 0);
  run_units(c, false, 0, units(c, false), work, bias, out, &d);
  run_finish(c, 0, finish_units(c), work, bias, out);
}

void bt_c512_weight(const C512 *c, const float *x, const float *gy, float *acc,
                    double *bias_acc, float *work, const C512Next *next) {
  prepare(c, x, gy, work, bias_acc);
  C512Drip d;
  drip_init(&d, next, c->drip_calls);
  run_units(c, false, 0, units(c, false), work, NULL, acc, &d);
}

/* ---- one image over the pool --------------------------------------------------------- */

void bt_c512_prepare(const C512 *c, const float *in, const float *gy, float *work,
                     double *bias_acc) {
  prepare(c, in, gy, work, bias_acc);
}

int64_t bt_c512_units(const C512 *c) { return units(c, true); }

void bt_c512_run(const C512 *c, int64_t u0, int64_t u1, const float *work, const float *bias,
                 float *out) {
  run_units(c, true, u0, u1, work, bias, out, NULL);
}

int64_t bt_c512_finish_units(const C512 *c) { return finish_units(c); }

void bt_c512_finish(const C512 *c, int64_t f0, int64_t f1, const float *work, const float *bias,
                    float *out) {
  run_finish(c, f0, f1, work, bias, out);
}

#else

void bt_c512_direct(const C512 *c, const float *in, const float *bias, float *out, float *work,
                    const C512Next *next) {
  (void)c, (void)in, (void)bias, (void)out, (void)work, (void)next;
}
void bt_c512_weight(const C512 *c, const float *x, const float *gy, float *acc,
                    double *bias_acc, float *work, const C512Next *next) {
  (void)c, (void)x, (void)gy, (void)acc, (void)bias_acc, (void)work, (void)next;
}
void bt_c512_prepare(const C512 *c, const float *in, const float *gy, float *work,
                     double *bias_acc) {
  (void)c, (void)in, (void)gy, (void)work, (void)bias_acc;
}
int64_t bt_c512_units(const C512 *c) { return (void)c, 0; }
void bt_c512_run(const C512 *c, int64_t u0, int64_t u1, const float *work, const float *bias,
                 float *out) {
  (void)c, (void)u0, (void)u1, (void)work, (void)bias, (void)out;
}
int64_t bt_c512_finish_units(const C512 *c) { return (void)c, 0; }
void bt_c512_finish(const C512 *c, int64_t f0, int64_t f1, const float *work, const float *bias,
                    float *out) {
  (void)c, (void)f0, (void)f1, (void)work, (void)bias, (void)out;
}

#endif

void bt_c512_weight_finish(const C512 *c, float *partials, int64_t n, float *w) {
  const bt_ConvGeom *g = &c->g;
  int64_t ocg = c->M, K = c->K, len = c->partial_floats;
  for (int64_t t = 1; t < n; t++) {   /* in task order: the result is deterministic */
    const float *src = partials + t * c->partial_stride;
    for (int64_t i = 0; i < len; i++) partials[i] += src[i];
  }
  if (c->mode == C512_WINO) {
    c512_wino_weight_out(c, partials, w);
    return;
  }
  for (int64_t gr = 0; gr < g->groups; gr++)
    for (int64_t k = 0; k < K; k++) {
      const float *p = partials + (gr * K + k) * c->ocp;
      for (int64_t o = 0; o < ocg; o++) w[(gr * ocg + o) * K + k] = p[o];
    }
}
