/* ops_simd.c — SIMD kernels, built once per instruction set by nn/meson.build
 * (-mavx2 -mfma: table rv_kernels_avx2; -mavx512f -mfma: rv_kernels_avx512;
 * and -mavx512bf16 -mavx512bw: rv_kernels_avx512bf16, the same f32 kernels
 * plus bf16 GEMMs; HAVE_BF16 in isa.h); ops.c picks the table for this CPU once.
 * tests/nn/test-ops checks every table against double-precision references.
 *
 * Convolutions are GEMMs on register tiles of MR output channels x NR pixels:
 * the B panel (input pixels x NR, im2col'ed on the fly for k x k convs) is
 * packed into the scratch of the pool slot (pool.h) that runs the chunk, the
 * weights are read in place, and the bias, activation and residual are
 * applied to the tile in registers, so each output is written once. The residual FFN x + c1(act(c0(x))) runs both GEMMs
 * on one column chunk without writing the hidden activation out.
 *
 * bf16 (convs packed in RV_FORMAT_BF16): the panels hold pairs of K rows interleaved, each
 * column's (x[2i], x[2i+1]) rounded to bf16 in one 32-bit word, so that
 * vdpbf16ps multiplies them by a broadcast weight pair and adds both
 * products into f32 accumulators; the epilogue is the f32 one. */
#include "ops.h"

#include <assert.h>
#include <immintrin.h>
#include <string.h>

#if defined(__AVX512F__)
#define VL 16
#define MR 8
#define NV 3
typedef __m512 vf;
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#define vset1 _mm512_set1_ps
#define vmax _mm512_max_ps
#define vmin _mm512_min_ps
#define vfma _mm512_fmadd_ps
#define vfnma _mm512_fnmadd_ps
#define vrcp _mm512_rcp14_ps
#define vround(x) _mm512_roundscale_ps (x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
/* p 2^n for an integral n in the normal range, in one instruction */
#define vscale2(p, n) _mm512_scalef_ps (p, n)
/* the first m lanes of p, zeros after; the rest of p is not touched */
#define vload_m(p, m) _mm512_maskz_loadu_ps ((__mmask16) ((1u << (m)) - 1), p)
#define vstore_m(p, v, m) _mm512_mask_storeu_ps (p, (__mmask16) ((1u << (m)) - 1), v)
/* the even lanes of a then b: p[0], p[2], ... p[2 VL - 2] from two loads */
#define veven(a, b) _mm512_permutex2var_ps (a, _mm512_setr_epi32 (0, 2, 4, 6, 8, \
      10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b)
#else
#define VL 8
#define MR 6
#define NV 2
typedef __m256 vf;
#define vload _mm256_loadu_ps
#define vstore _mm256_storeu_ps
#define vset1 _mm256_set1_ps
#define vmax _mm256_max_ps
#define vmin _mm256_min_ps
#define vfma _mm256_fmadd_ps
#define vfnma _mm256_fnmadd_ps
#define vrcp _mm256_rcp_ps
#define vround(x) _mm256_round_ps (x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define vscale2(p, n) ((p) * _mm256_castsi256_ps (_mm256_slli_epi32 ( \
      _mm256_add_epi32 (_mm256_cvtps_epi32 (n), _mm256_set1_epi32 (127)), 23)))
static inline __m256i
lanes (int m)
{
  return _mm256_cmpgt_epi32 (_mm256_set1_epi32 (m), _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
}
#define vload_m(p, m) _mm256_maskload_ps (p, lanes (m))
#define vstore_m(p, v, m) _mm256_maskstore_ps (p, lanes (m), v)
#define veven(a, b) _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd ( \
      _mm256_shuffle_ps (a, b, _MM_SHUFFLE (2, 0, 2, 0))), _MM_SHUFFLE (3, 1, 2, 0)))
#endif
#define NR (NV * VL)
#define K_BLOCK 128                /* products summed apart, then added */
#define CHUNK_BYTES (256 << 10)   /* packed B per thread: about a quarter of L2 */
#define PREFETCH_CHANNELS 2       /* im2col: prefetch this many channels ahead */

/* ---- activations -------------------------------------------------------- */

/* exp (Cephes expf): 2^n e^r, |r| <= ln2 / 2; a few ulp. */
static inline vf
v_exp (vf x)
{
  x = vmin (vmax (x, vset1 (-87.3f)), vset1 (88.3f));
  vf n = vround (x * vset1 (1.44269504088896341f));
  vf r = vfma (n, vset1 (-0.693359375f), x);
  r = vfma (n, vset1 (2.12194440e-4f), r);
  vf p = vset1 (1.9875691500e-4f);
  p = vfma (p, r, vset1 (1.3981999507e-3f));
  p = vfma (p, r, vset1 (8.3334519073e-3f));
  p = vfma (p, r, vset1 (4.1665795894e-2f));
  p = vfma (p, r, vset1 (1.6666665459e-1f));
  p = vfma (p, r, vset1 (5.0000001201e-1f));
  p = vfma (p, r * r, r + vset1 (1.0f));
  return vscale2 (p, n);
}

/* a / b from the approximate reciprocal (14 or 12 bits) and a Newton step:
 * within a few ulp, at a fraction of a divide's cost (the activations are a
 * large part of a tile with a short K). */
static inline vf
v_div (vf a, vf b)
{
  vf r = vrcp (b);
  r = vfma (vfnma (b, r, vset1 (1.0f)), r, r);
  return a * r;
}

/* erf as a rational function on [-4, 4] (Eigen's float erf), +-1 beyond. */
static inline vf
v_erf (vf x)
{
  x = vmin (vmax (x, vset1 (-4.0f)), vset1 (4.0f));
  vf x2 = x * x;
  vf p = vset1 (-2.72614225801306e-10f);
  p = vfma (p, x2, vset1 (2.77068142495902e-08f));
  p = vfma (p, x2, vset1 (-2.10102402082508e-06f));
  p = vfma (p, x2, vset1 (-5.69250639462346e-05f));
  p = vfma (p, x2, vset1 (-7.34990630326855e-04f));
  p = vfma (p, x2, vset1 (-2.95459980854025e-03f));
  p = vfma (p, x2, vset1 (-1.60960333262415e-02f));
  vf q = vset1 (-1.45660718464996e-05f);
  q = vfma (q, x2, vset1 (-2.13374055278905e-04f));
  q = vfma (q, x2, vset1 (-1.68282697438203e-03f));
  q = vfma (q, x2, vset1 (-7.37332916720468e-03f));
  q = vfma (q, x2, vset1 (-1.42647390514189e-02f));
  return v_div (x * p, q);
}

static inline vf
v_act (vf v, rv_act act)
{
  switch (act) {
    case RV_ACT_NONE:
      return v;
    case RV_ACT_RELU:
      return vmax (v, vset1 (0.0f));
    case RV_ACT_SILU:
      return v_div (v, vset1 (1.0f) + v_exp (-v));
    case RV_ACT_GELU:
      return vset1 (0.5f) * v * (vset1 (1.0f) + v_erf (v * vset1 (0.70710678118654752f)));
    case RV_ACT_SIGMOID:
      return v_div (vset1 (1.0f), vset1 (1.0f) + v_exp (-v));
  }
  return v;
}

static inline void
store_n (float *p, vf v, int n)
{
  if (n == VL)
    vstore (p, v);
  else
    vstore_m (p, v, n);
}

static inline vf
load_n (const float *p, int n)
{
  return n == VL ? vload (p) : vload_m (p, n);
}

/* ---- GEMM tile ---------------------------------------------------------- */

typedef struct {
  const void *a[MR];          /* weight rows, k contiguous (f32 or bf16) */
  float bias[MR];
  float *c[MR];               /* output rows; NULL past the last channel
                                 (bf16 pack_out: even rows point at the
                                 row of pairs, odd ones only say it exists) */
  const float *res[MR];       /* residual rows or NULL */
} rv_tile;

/* act on every vector of a tile, in a loop of its own: the activations are
 * long chains of dependent instructions that only overlap without stores
 * and branches between them. */
static inline __attribute__ ((always_inline)) void
tile_act (vf sum[MR][NV], rv_act act)
{
  if (act != RV_ACT_NONE)
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NV; j++)
        sum[r][j] = v_act (sum[r][j], act);
}

/* The epilogue: c = act(sum) (+ res) for the first n columns. */
static inline __attribute__ ((always_inline)) void
tile_store (const rv_tile *t, vf sum[MR][NV], rv_act act, int n)
{
  tile_act (sum, act);
  for (int r = 0; r < MR && t->c[r]; r++)
    for (int j = 0, left = n; j < NV && left > 0; j++, left -= VL) {
      int m = left < VL ? left : VL;
      vf v = sum[r][j];
      if (t->res[r])
        v = v + load_n (t->res[r] + j * VL, m);
      store_n (t->c[r] + j * VL, v, m);
    }
}

/* c = act(a . bp + bias) (+ res) for n <= NR columns of the packed panel bp
 * (K x NR). */
static void
tile (const rv_tile *t, int K, const float *bp, rv_act act, int n)
{
  vf acc[MR][NV], sum[MR][NV];
  const float *a0 = t->a[0], *a1 = t->a[1], *a2 = t->a[2], *a3 = t->a[3],
      *a4 = t->a[4], *a5 = t->a[5];
#if MR == 8
  const float *a6 = t->a[6], *a7 = t->a[7];
#endif
  /* blocks of K_BLOCK products summed apart keep long sums accurate; the
   * first block starts from the bias, so that with K <= K_BLOCK the sums
   * never leave the registers */
  for (int k0 = 0; k0 < K; k0 += K_BLOCK) {
    int k1 = K - k0 < K_BLOCK ? K : k0 + K_BLOCK;
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NV; j++)
        acc[r][j] = vset1 (k0 ? 0.0f : t->bias[r]);
    for (int k = k0; k < k1; k++, bp += NR) {
      vf b[NV];
      for (int j = 0; j < NV; j++)
        b[j] = vload (bp + j * VL);
#define ROW(r) for (int j = 0; j < NV; j++) acc[r][j] = vfma (vset1 (a##r[k]), b[j], acc[r][j]);
      ROW (0) ROW (1) ROW (2) ROW (3) ROW (4) ROW (5)
#if MR == 8
      ROW (6) ROW (7)
#endif
#undef ROW
    }
    if (k0)
      for (int r = 0; r < MR; r++)
        for (int j = 0; j < NV; j++)
          sum[r][j] = sum[r][j] + acc[r][j];
    else if (K > K_BLOCK)
      memcpy (sum, acc, sizeof sum);
  }
  if (K > K_BLOCK)
    memcpy (acc, sum, sizeof acc);
  tile_store (t, acc, act, n);
}

#if HAVE_BF16
/* 16 columns of two K rows as bf16 pairs (lo in the low half), rounded to
 * nearest even. */
static inline __m512i
bf16_pairs (vf lo, vf hi)
{
  static const uint16_t order[32] = { 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5,
    21, 6, 22, 7, 23, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
    15, 31 };
  return _mm512_permutexvar_epi16 (_mm512_loadu_si512 (order),
      (__m512i) _mm512_cvtne2ps_pbh (hi, lo));
}

/* The FFN's hidden panel: act(sum) of rows 2i, 2i + 1 as pairs, a missing
 * odd row as zeros. */
static inline __attribute__ ((always_inline)) void
tile_store_pairs (const rv_tile *t, vf sum[MR][NV], rv_act act)
{
  tile_act (sum, act);
  for (int r = 0; r < MR && t->c[r]; r += 2)
    for (int j = 0; j < NV; j++) {
      vf hi = t->c[r + 1] ? sum[r + 1][j] : vset1 (0.0f);
      _mm512_storeu_si512 ((uint32_t *) t->c[r] + j * VL,
          bf16_pairs (sum[r][j], hi));
    }
}

/* tile () in bf16: a rows of kp weight pairs, bp kp x NR column pairs; into
 * pairs of the next GEMM's panel when pairs_out. f32 accumulation from the
 * bias on: K_BLOCK sums would not show beside the bf16 rounding. */
static void
tile_bf16 (const rv_tile *t, int kp, const uint32_t *bp, rv_act act, int n,
    int pairs_out)
{
  vf sum[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NV; j++)
      sum[r][j] = vset1 (t->bias[r]);
  const uint32_t *a0 = t->a[0], *a1 = t->a[1], *a2 = t->a[2], *a3 = t->a[3],
      *a4 = t->a[4], *a5 = t->a[5], *a6 = t->a[6], *a7 = t->a[7];
  for (int k = 0; k < kp; k++, bp += NR) {
    __m512bh b[NV];
    for (int j = 0; j < NV; j++)
      b[j] = (__m512bh) _mm512_loadu_si512 (bp + j * VL);
#define ROW(r) { \
      __m512bh w = (__m512bh) _mm512_set1_epi32 ((int) a##r[k]); \
      for (int j = 0; j < NV; j++) \
        sum[r][j] = _mm512_dpbf16_ps (sum[r][j], w, b[j]); \
    }
    ROW (0) ROW (1) ROW (2) ROW (3) ROW (4) ROW (5) ROW (6) ROW (7)
#undef ROW
  }
  if (pairs_out)
    tile_store_pairs (t, sum, act);
  else
    tile_store (t, sum, act, n);
}
#endif

/* Runs the tiles of output channels [m0, m1) against a chunk of packed panels
 * covering columns [n0, n0 + n) of an output whose rows are at y (stride ys,
 * plus n0) or, when pack_out, into packed panels (ys rows of NR words; bf16
 * rows hold pairs of channels). bf16 when cv is packed so. */
static void
gemm_chunk (const rv_conv *cv, int K, const void *bp, int m0, int m1, int n,
    float *y, size_t ys, int n0, const rv_tensor *res, int pack_out)
{
  const int kp = (K + 1) & ~1;       /* bf16 row length */
  const uint16_t *w16 = rv_conv_bf16 (cv);
  for (int mb = m0; mb < m1; mb += MR) {
    rv_tile t;
    for (int r = 0; r < MR; r++) {
      int m = mb + r < m1 ? mb + r : m1 - 1;
      t.a[r] = w16 ? (const void *) (w16 + (size_t) m * kp)
          : cv->w + (size_t) m * K;
      t.bias[r] = cv->b[m];
    }
    for (int p = 0; p < n; p += NR) {
      for (int r = 0; r < MR; r++) {
        int m = mb + r, row = w16 ? m / 2 : m;
        t.c[r] = m >= m1 ? NULL : pack_out ? y + (size_t) p * ys + (size_t) row * NR
            : y + (size_t) m * ys + n0 + p;
        t.res[r] = m < m1 && res ? res->d + (size_t) m * res->cs + n0 + p : NULL;
      }
      int w = n - p < NR ? n - p : NR;
#if HAVE_BF16
      if (w16) {
        tile_bf16 (&t, kp / 2, (const uint32_t *) bp + (size_t) p * kp / 2,
            cv->act, w, pack_out);
        continue;
      }
#endif
      tile (&t, K, (const float *) bp + (size_t) p * K, cv->act, w);
    }
  }
}

/* ---- packing ------------------------------------------------------------ */

/* Columns [n0, n0 + n) of a K x N row-major matrix (row stride xs >= N) into
 * panels of K x NR, zero-padded. The K rows are too many streams for the
 * hardware prefetchers, and a large input comes from L3 or memory: each
 * panel prefetches the next one's columns. */
static void
pack_rows (const float *x, size_t xs, int K, int n0, int n, float *bp)
{
  for (int p = 0; p < n; p += NR, bp += (size_t) K * NR) {
    int w = n - p < NR ? n - p : NR;
    const float *src = x + n0 + p;
    const int ahead = (size_t) (n0 + p + 2 * NR) <= xs;
    for (int k = 0; k < K; k++, src += xs) {
      for (int j = 0; j < NV; j++) {
        int m = w - j * VL < 0 ? 0 : w - j * VL < VL ? w - j * VL : VL;
        vstore (bp + (size_t) k * NR + j * VL, m == VL ? vload (src + j * VL) : vload_m (src + j * VL, m));
      }
      for (int f = 0; ahead && f < NR; f += 64 / (int) sizeof (float))
        _mm_prefetch ((const char *) (src + NR + f), _MM_HINT_T0);
    }
  }
}

/* The output pixels of a panel as runs along output rows: pixels j .. j +
 * len - 1 of the panel are (oy, ox .. ox + len - 1). Computed once per panel,
 * not per im2col row. */
typedef struct {
  int j, len, oy, ox;
} pixel_run;

typedef struct {
  int n;
  pixel_run run[NR];
} panel_runs;

/* The w <= NR output pixels from q0 on, of an output wo wide. */
static void
runs_of_panel (int wo, int q0, int w, panel_runs *pr)
{
  pr->n = 0;
  for (int j = 0; j < w;) {
    int q = q0 + j, oy = q / wo, ox = q % wo;
    int len = wo - ox < w - j ? wo - ox : w - j;
    pr->run[pr->n++] = (pixel_run) { j, len, oy, ox };
    j += len;
  }
}

/* dst[i] = src[s i] for i < n, n <= NR, by vectors with masked ends; s is
 * 1 or 2 (the strides of the spec's convs). */
static inline void
copy_strided (float *dst, const float *src, int s, int n)
{
  for (int i = 0; i < n; i += VL) {
    int m = n - i < VL ? n - i : VL;
    if (s == 1) {
      store_n (dst + i, load_n (src + i, m), m);
    } else {
      /* the 2 m - 1 floats src[2 i .. 2 (i + m - 1)] */
      const float *q = src + 2 * i;
      int lo = 2 * m - 1 < VL ? 2 * m - 1 : VL, hi = 2 * m - 1 - lo;
      store_n (dst + i, veven (load_n (q, lo), hi > 0 ? load_n (q + VL, hi)
              : vset1 (0.0f)), m);
    }
  }
}

/* The im2col row of input channel ci and tap (ky, kx) for the output pixels
 * in pr, zeros past them (NR floats). No divisions: this runs K times a
 * panel, and the stride is 1 or 2. */
static void
im2col_row (const rv_conv *cv, rv_tensor x, const panel_runs *pr, int ci,
    int ky, int kx, float *dst)
{
  const int s = cv->stride, sh = s - 1, pad = cv->k / 2;
  const float *src = x.d + ci * x.cs;
  assert (s == 1 || s == 2);
  for (int j = 0; j < NV; j++)
    vstore (dst + j * VL, vset1 (0.0f));
  for (int i = 0; i < pr->n; i++) {
    const int iy = pr->run[i].oy * s - pad + ky;
    if (iy < 0 || iy >= x.h)
      continue;
    /* ix = ix0 + t s is inside the row for t in [lo, hi) */
    const int ix0 = pr->run[i].ox * s - pad + kx;
    int lo = ix0 < 0 ? (s - 1 - ix0) >> sh : 0;
    int hi = (x.w - ix0 + s - 1) >> sh;
    if (hi > pr->run[i].len)
      hi = pr->run[i].len;
    if (hi <= lo)
      continue;
    const float *from = src + (size_t) iy * x.w + ix0 + lo * s;
    copy_strided (dst + pr->run[i].j + lo, from, s, hi - lo);
    /* the rows of a channel a few rows of K ahead: large inputs come from
     * L3 or memory, and the hardware prefetchers do not follow k x cin rows */
    if (kx == 0 && ci + PREFETCH_CHANNELS < x.c)
      for (int f = 0; f < (hi - lo) * s; f += 64 / (int) sizeof (float))
        _mm_prefetch ((const char *) (from + PREFETCH_CHANNELS * x.cs + f),
            _MM_HINT_T0);
  }
}

/* The next im2col row after (ci, ky, kx). */
static inline void
next_tap (int k, int *ci, int *ky, int *kx)
{
  if (++*kx == k) {
    *kx = 0;
    if (++*ky == k)
      *ky = 0, ++*ci;
  }
}

/* im2col of output pixels [n0, n0 + n) of a k x k conv into panels. */
static void
pack_im2col (const rv_conv *cv, rv_tensor x, int wo, int n0, int n, float *bp)
{
  const int K = cv->cin * cv->k * cv->k;
  for (int p = 0; p < n; p += NR, bp += (size_t) K * NR) {
    panel_runs pr;
    runs_of_panel (wo, n0 + p, n - p < NR ? n - p : NR, &pr);
    for (int r = 0, ci = 0, ky = 0, kx = 0; r < K; r++) {
      im2col_row (cv, x, &pr, ci, ky, kx, bp + (size_t) r * NR);
      next_tap (cv->k, &ci, &ky, &kx);
    }
  }
}

#if HAVE_BF16
/* K rows (stride ss) of w <= NR columns into (K + 1) / 2 rows of NR pairs,
 * zeros past w and past K. */
static void
pack_pairs (const float *src, size_t ss, int K, int w, uint32_t *dst)
{
  for (int k = 0; k < K; k += 2, src += 2 * ss, dst += NR)
    for (int j = 0; j < NV; j++) {
      int m = w - j * VL < 0 ? 0 : w - j * VL < VL ? w - j * VL : VL;
      vf lo = load_n (src + j * VL, m);
      vf hi = k + 1 < K ? load_n (src + ss + j * VL, m) : vset1 (0.0f);
      _mm512_storeu_si512 (dst + j * VL, bf16_pairs (lo, hi));
    }
}

/* bf16 panels of output pixels [n0, n0 + n): straight from the rows of x
 * (direct: 1x1, stride 1), else im2col'ed two rows at a time. */
static void
pack_bf16 (const rv_conv *cv, rv_tensor x, int wo, int n0, int n,
    uint32_t *bp, int direct)
{
  const int K = cv->cin * cv->k * cv->k;
  for (int p = 0; p < n; p += NR, bp += (size_t) (K + 1) / 2 * NR) {
    int w = n - p < NR ? n - p : NR;
    if (direct) {
      pack_pairs (x.d + n0 + p, x.cs, K, w, bp);
      continue;
    }
    panel_runs pr;
    runs_of_panel (wo, n0 + p, w, &pr);
    for (int r = 0, ci = 0, ky = 0, kx = 0; r < K; r += 2) {
      float rows[2 * NR];
      im2col_row (cv, x, &pr, ci, ky, kx, rows);
      next_tap (cv->k, &ci, &ky, &kx);
      if (r + 1 < K)
        im2col_row (cv, x, &pr, ci, ky, kx, rows + NR);
      next_tap (cv->k, &ci, &ky, &kx);
      pack_pairs (rows, NR, K - r < 2 ? 1 : 2, NR, bp + (size_t) r / 2 * NR);
    }
  }
}
#endif

/* ---- work split --------------------------------------------------------- */

/* 32-bit words per column of a conv's packed input: K floats or K / 2 bf16
 * pairs. */
static int
panel_words (const rv_conv *cv)
{
  int K = cv->cin * cv->k * cv->k;
  return rv_conv_bf16 (cv) ? (K + 1) / 2 : K;
}

/* Column chunk (a multiple of NR) whose packed panels of K words a column
 * fill about CHUNK_BYTES, shrunk so that every thread gets a few chunks. */
static int
chunk_cols (int K, int N, int nt)
{
  int nc = (int) (CHUNK_BYTES / (sizeof (float) * K)) / NR * NR;
  int fair = (N + 4 * nt - 1) / (4 * nt);
  fair = (fair + NR - 1) / NR * NR;
  if (nc > fair)
    nc = fair;
  return nc < NR ? NR : nc;
}

static size_t
conv_scratch_per_thread (const rv_conv *cv, int h_out, int w_out, int nt)
{
  int kw = panel_words (cv);
  return (size_t) kw * chunk_cols (kw, h_out * w_out, nt);
}

/* The packed panels of output pixels [n0, n0 + n) of a dense conv with output
 * width wo: f32 or bf16, straight from the rows of x (1x1, stride 1) or
 * im2col'ed. */
static void
pack_panels (const rv_conv *cv, rv_tensor x, int wo, int n0, int n, float *bp)
{
  const int direct = cv->k == 1 && cv->stride == 1;
#if HAVE_BF16
  if (rv_conv_bf16 (cv))
    pack_bf16 (cv, x, wo, n0, n, (uint32_t *) bp, direct);
  else
#endif
  if (direct)
    pack_rows (x.d, x.cs, cv->cin, n0, n, bp);
  else
    pack_im2col (cv, x, wo, n0, n, bp);
}

/* A dense conv (1x1 or k x k) as chunked GEMM: one item per chunk of nc
 * columns and part of the output channels. */
typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  float *scratch;
  size_t per;                   /* scratch floats per slot */
  int K, N, nc, parts;
} gemm_job;

static void
conv_gemm_item (void *arg, int item, int slot)
{
  const gemm_job *j = arg;
  const int n0 = item / j->parts * j->nc;
  const int n = j->N - n0 < j->nc ? j->N - n0 : j->nc;
  /* part p of the channels, in multiples of MR */
  const int mp = ((j->cv->cout + j->parts - 1) / j->parts + MR - 1) / MR * MR;
  const int m0 = item % j->parts * mp;
  const int m1 = m0 + mp < j->cv->cout ? m0 + mp : j->cv->cout;
  if (m0 >= m1)
    return;
  float *bp = j->scratch + j->per * slot;
  pack_panels (j->cv, j->x, j->y.w, n0, n, bp);
  gemm_chunk (j->cv, j->K, bp, m0, m1, n, j->y.d, j->y.cs, n0, j->res, 0);
}

/* With too few chunks to go round, the channels are parted as well (each
 * part packs the same panels). */
static void
conv_gemm (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  const int K = cv->cin * cv->k * cv->k, kw = panel_words (cv), N = y.h * y.w;
  const int nc = chunk_cols (kw, N, nt), chunks = (N + nc - 1) / nc;
  const int parts = nt > 1 && chunks < 2 * nt && cv->cout >= 4 * MR
      ? (2 * nt + chunks - 1) / chunks : 1;
  gemm_job j = { cv, x, y, res, scratch,
    (conv_scratch_per_thread (cv, y.h, y.w, nt) + 15) & ~(size_t) 15, K, N, nc,
    parts };
  rv_pool_for (chunks * parts, conv_gemm_item, &j, nt);
}

/* ---- residual FFN --------------------------------------------------------- */

/* words per column of the packed hidden activation */
static int
hidden_words (const rv_conv *c0)
{
  return rv_conv_bf16 (c0) ? (c0->cout + 1) / 2 : c0->cout;
}

static size_t
ffn_scratch_per_thread (const rv_conv *c0, int n, int nt)
{
  int K = panel_words (c0) + hidden_words (c0);   /* packed input and hidden */
  return (size_t) K * chunk_cols (K, n, nt);
}

/* y = x + c1(c0(x)) for 1x1 convs: per chunk of columns, c0 writes its tiles
 * straight into packed panels that c1 consumes. c0 and c1 are both packed in
 * bf16 or neither is. */
typedef struct {
  const rv_conv *c0, *c1;
  rv_tensor x, y;
  float *scratch;
  size_t per;                   /* scratch floats per slot */
  int N, nc;
} ffn_job;

static void
ffn_item (void *arg, int item, int slot)
{
  const ffn_job *j = arg;
  const rv_conv *c0 = j->c0, *c1 = j->c1;
  const int w0 = panel_words (c0), w1 = hidden_words (c0);
  const int n0 = item * j->nc, n = j->N - n0 < j->nc ? j->N - n0 : j->nc;
  float *bp = j->scratch + j->per * slot, *hp = bp + (size_t) w0 * j->nc;
  pack_panels (c0, j->x, j->x.w, n0, n, bp);
  gemm_chunk (c0, c0->cin, bp, 0, c0->cout, (n + NR - 1) / NR * NR, hp, w1, 0,
      NULL, 1);
  gemm_chunk (c1, c0->cout, hp, 0, c1->cout, n, j->y.d, j->y.cs, n0, &j->x, 0);
}

static void
ffn (const rv_conv *c0, const rv_conv *c1, rv_tensor x, rv_tensor y,
    float *scratch, int nt)
{
  const int N = x.h * x.w;
  const int nc = chunk_cols (panel_words (c0) + hidden_words (c0), N, nt);
  ffn_job j = { c0, c1, x, y, scratch,
    (ffn_scratch_per_thread (c0, N, nt) + 15) & ~(size_t) 15, N, nc };
  rv_pool_for ((N + nc - 1) / nc, ffn_item, &j, nt);
}

/* ---- depthwise 3x3 ------------------------------------------------------ */

/* One output row of a depthwise 3x3 from three zero-padded input rows
 * (pr[ky][i] = input column i - 1, readable up to i = w_in + 2 VL + 1). */
static void
dw_row (const float *const pr[3], const float *k, float bias, int s, int wo,
    rv_act act, float *o)
{
  vf w[9];
  for (int i = 0; i < 9; i++)
    w[i] = vset1 (k[i]);
  for (int ox = 0; ox < wo; ox += VL) {
    vf acc = vset1 (bias);
    for (int ky = 0; ky < 3; ky++) {
      const float *p = pr[ky] + ox * s;
      if (s == 1) {
        acc = vfma (w[ky * 3], vload (p), acc);
        acc = vfma (w[ky * 3 + 1], vload (p + 1), acc);
        acc = vfma (w[ky * 3 + 2], vload (p + 2), acc);
      } else {
        for (int kx = 0; kx < 3; kx++)
          acc = vfma (w[ky * 3 + kx], veven (vload (p + kx), vload (p + kx + VL)), acc);
      }
    }
    store_n (o + ox, v_act (acc, act), wo - ox < VL ? wo - ox : VL);
  }
}

static size_t
dw_scratch_per_thread (int w_in)
{
  return 4 * (size_t) (w_in + 2 + 2 * VL);   /* three padded rows and a zero row */
}

typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  float *scratch;
} dw_job;

/* Channel c, its input rows padded in the slot's scratch. */
static void
dw3x3_item (void *arg, int c, int slot)
{
  const dw_job *j = arg;
  const rv_conv *cv = j->cv;
  const rv_tensor x = j->x, y = j->y, *res = j->res;
  const int s = cv->stride, rl = x.w + 2 + 2 * VL;
  const size_t per = (dw_scratch_per_thread (x.w) + 15) & ~(size_t) 15;
  float *buf = j->scratch + per * slot, *zero = buf + 3 * rl;
  memset (zero, 0, (size_t) rl * sizeof *zero);
  int tag[3] = { -1, -1, -1 };
  const float *src = x.d + c * x.cs;
  for (int oy = 0; oy < y.h; oy++) {
    const float *pr[3];
    for (int ky = 0; ky < 3; ky++) {
      int iy = oy * s - 1 + ky;
      if (iy < 0 || iy >= x.h) {
        pr[ky] = zero;
        continue;
      }
      float *row = buf + (iy % 3) * rl;
      if (tag[iy % 3] != iy) {
        row[0] = 0.0f;
        memcpy (row + 1, src + (size_t) iy * x.w, (size_t) x.w * sizeof *row);
        memset (row + 1 + x.w, 0, (size_t) (rl - 1 - x.w) * sizeof *row);
        tag[iy % 3] = iy;
      }
      pr[ky] = row;
    }
    float *o = y.d + c * y.cs + (size_t) oy * y.w;
    dw_row (pr, cv->w + c * 9, cv->b[c], s, y.w, cv->act, o);
    if (res) {
      const float *r = res->d + c * res->cs + (size_t) oy * y.w;
      for (int i = 0; i < y.w; i++)
        o[i] += r[i];
    }
  }
}

static void
conv_dw3x3 (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  dw_job j = { cv, x, y, res, scratch };
  rv_pool_for (y.c, dw3x3_item, &j, nt);
}

/* ---- squeeze-excite ------------------------------------------------------ */

static void
se_mean_item (void *arg, int c, int slot)
{
  const rv_se_job *sj = arg;
  const int n = sj->x.h * sj->x.w;
  (void) slot;
  const float *p = sj->x.d + c * sj->x.cs;
  vf acc[4] = { vset1 (0.0f), vset1 (0.0f), vset1 (0.0f), vset1 (0.0f) };
  int i = 0;
  for (; i + 4 * VL <= n; i += 4 * VL)
    for (int j = 0; j < 4; j++)
      acc[j] = acc[j] + vload (p + i + j * VL);
  for (; i < n; i += VL)
    acc[0] = acc[0] + load_n (p + i, n - i < VL ? n - i : VL);
  float t[VL], sum = 0.0f;
  vstore (t, (acc[0] + acc[1]) + (acc[2] + acc[3]));
  for (int j = 0; j < VL; j++)
    sum += t[j];
  sj->gate[c] = sum / (float) n;
}

static void
se_scale_item (void *arg, int c, int slot)
{
  const rv_se_job *sj = arg;
  const int n = sj->x.h * sj->x.w;
  (void) slot;
  float *p = sj->x.d + c * sj->x.cs;
  vf g = vset1 (sj->gate[c]);
  for (int i = 0; i < n; i += VL) {
    int m = n - i < VL ? n - i : VL;
    store_n (p + i, load_n (p + i, m) * g, m);
  }
}

static void
squeeze_excite (const rv_se *se, rv_tensor x, float *scratch, int nt)
{
  rv_se_run (se, x, scratch, nt, se_mean_item, se_scale_item);
}

/* ---- int8 conv epilogue ---------------------------------------------------- */

static inline __attribute__ ((always_inline)) void
activate_as (float *y, int n, rv_act act, const float *res)
{
  for (int i = 0; i < n; i += VL) {
    int m = n - i < VL ? n - i : VL;
    vf v = v_act (load_n (y + i, m), act);
    if (res)
      v = v + load_n (res + i, m);
    store_n (y + i, v, m);
  }
}

/* one loop per activation: the switch in v_act stays out of it */
static void
activate (float *y, int n, rv_act act, const float *res)
{
  switch (act) {
    case RV_ACT_NONE: activate_as (y, n, RV_ACT_NONE, res); break;
    case RV_ACT_SILU: activate_as (y, n, RV_ACT_SILU, res); break;
    case RV_ACT_GELU: activate_as (y, n, RV_ACT_GELU, res); break;
    case RV_ACT_RELU: activate_as (y, n, RV_ACT_RELU, res); break;
    case RV_ACT_SIGMOID: activate_as (y, n, RV_ACT_SIGMOID, res); break;
  }
}

/* ---- table -------------------------------------------------------------- */

static size_t
conv_scratch (const rv_conv *cv, int w_in, int h_out, int w_out, int nt)
{
  size_t per = cv->groups != 1 ? dw_scratch_per_thread (w_in)
      : conv_scratch_per_thread (cv, h_out, w_out, nt);
  return ((per + 15) & ~(size_t) 15) * nt;
}

static void
conv2d (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  if (cv->groups != 1)
    conv_dw3x3 (cv, x, y, res, scratch, nt);
  else
    conv_gemm (cv, x, y, res, scratch, nt);
}

static size_t
ffn_scratch (const rv_conv *c0, int n, int nt)
{
  return ((ffn_scratch_per_thread (c0, n, nt) + 15) & ~(size_t) 15) * nt;
}

#if HAVE_BF16
const rv_kernels rv_kernels_avx512bf16 = {
  .name = "avx512bf16", .bf16 = true,
#elif defined(__AVX512F__)
const rv_kernels rv_kernels_avx512 = {
  .name = "avx512",
#else
const rv_kernels rv_kernels_avx2 = {
  .name = "avx2",
#endif
  .conv_scratch = conv_scratch, .conv2d = conv2d,
  .ffn_scratch = ffn_scratch, .ffn = ffn, .squeeze_excite = squeeze_excite,
  .activate = activate,
};
