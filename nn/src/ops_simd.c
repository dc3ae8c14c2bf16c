/* ops_simd.c — SIMD kernels, built once per instruction set by nn/meson.build
 * (-mavx2 -mfma: table rv_kernels_avx2; -mavx512f -mfma: rv_kernels_avx512;
 * and -mavx512bf16 -mavx512bw: rv_kernels_avx512bf16, the same f32 kernels
 * plus bf16 GEMMs; HAVE_BF16 in isa.h); ops.c picks the table for this CPU once.
 * tests/nn/test-ops checks every table against double-precision references.
 *
 * Convolutions are GEMMs on register tiles of MR output channels x NR pixels:
 * the B panel (input channels x NR pixels of a 1x1 conv; k x k convs read
 * their input from planes on a grid instead, see below) is packed into the
 * scratch of the pool slot (pool.h) that runs the chunk, the weights are
 * read in place, and the bias, activation and residual are applied to the
 * tile in registers, so each output is written once. The residual FFN x +
 * c1(act(c0(x))) runs both GEMMs on one column chunk without writing the
 * hidden activation out.
 *
 * bf16 (convs packed in RV_FORMAT_BF16): the panels and planes hold pairs of
 * channels interleaved, each pixel's (x[2i], x[2i+1]) rounded to bf16 in one
 * 32-bit word, so that vdpbf16ps multiplies them by a broadcast weight pair
 * and adds both products into f32 accumulators; the epilogue is the f32 one. */
#include "ops.h"
#include "simd_act.h"

#include <assert.h>
#include <immintrin.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#if defined(__AVX512F__)
#define MR 8
#define NV 3
/* the even lanes of a then b: p[0], p[2], ... p[2 VL - 2] from two loads */
#define veven(a, b) _mm512_permutex2var_ps (a, _mm512_setr_epi32 (0, 2, 4, 6, 8, \
      10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), b)
#define vodd(a, b) _mm512_permutex2var_ps (a, _mm512_setr_epi32 (1, 3, 5, 7, 9, \
      11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), b)
/* lanes l .. VL - 1 of v moved down to 0 .. VL - 1 - l (the rest undefined) */
#define vdown(v, l) _mm512_permutexvar_ps (_mm512_add_epi32 (_mm512_setr_epi32 ( \
      0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32 (l)), v)
#else
#define MR 6
#define NV 2
#define veven(a, b) _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd ( \
      _mm256_shuffle_ps (a, b, _MM_SHUFFLE (2, 0, 2, 0))), _MM_SHUFFLE (3, 1, 2, 0)))
#define vodd(a, b) _mm256_castpd_ps (_mm256_permute4x64_pd (_mm256_castps_pd ( \
      _mm256_shuffle_ps (a, b, _MM_SHUFFLE (3, 1, 3, 1))), _MM_SHUFFLE (3, 1, 2, 0)))
#define vdown(v, l) _mm256_permutevar8x32_ps (v, _mm256_add_epi32 ( \
      _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32 (l)))
#endif
#define NR (NV * VL)
#define K_BLOCK 512                /* products summed apart, then added: each
                                   block boundary costs a few % (Zen 1) */
#define CHUNK_BYTES (256 << 10)   /* packed B per thread: about a quarter of L2 */
#define GRID_BAND_BYTES (1 << 20) /* input planes per thread: about L2 */

/* ---- GEMM tile ---------------------------------------------------------- */

typedef struct {
  const void *a[MR];          /* weight rows, k contiguous (f32 or bf16) */
  float bias[MR];
  float *c[MR];               /* output rows; NULL past the last channel
                                 (bf16 pack_out: even rows point at the
                                 row of pairs, odd ones only say it exists) */
  const float *res[MR];       /* residual rows or NULL */
} rv_tile;

/* Vectors of a tile activated together (v_act_n): 6 measured best on AVX2
 * Zen 1 (more spill the 16 registers); a divisor of MR NV on both ISAs. */
#define ACT_GROUP 6

/* act on every vector of a tile, in a loop of its own: the activations are
 * long chains of dependent instructions that only overlap without stores
 * and branches between them. */
static inline __attribute__ ((always_inline)) void
tile_act (vf sum[MR][NV], rv_act act)
{
  _Static_assert (MR * NV % ACT_GROUP == 0 && ACT_GROUP <= ACT_MAX,
      "tile vectors in whole groups");
  if (act != RV_ACT_NONE)
    for (int g = 0; g < MR * NV; g += ACT_GROUP)
      v_act_n (&sum[0][0] + g, ACT_GROUP, act);
}

/* The epilogue: c = act(sum) (+ res) for the first n columns. */
static inline __attribute__ ((always_inline)) void
tile_store (const rv_tile *t, vf sum[MR][NV], rv_act act, int n)
{
  tile_act (sum, act);
  for (int r = 0; r < MR && t->c[r]; r++)
    for (int j = 0, left = n; j < NV && left > 0; j++, left -= VL) {
      int m = left < VL ? left : VL;
      store_n (t->c[r] + j * VL, add_res_n (sum[r][j], t->res[r], j * VL, m),
          m);
    }
}

/* acc = a . B + bias of a tile, B row k at b + off[k] (a conv's input grid)
 * or, with off NULL, at b + k NR (a packed panel). */
static inline __attribute__ ((always_inline)) void
tile_sums (const rv_tile *t, int K, const float *b, const int *off,
    vf acc[MR][NV])
{
  vf sum[MR][NV];
  /* one pointer steps along row 0, the other rows are at fixed distances
   * from it (all rows are in one weight array): fewer registers than six
   * row pointers and an index, which gcc had kept on the stack (a store
   * and a load each step) */
  const float *a0 = t->a[0];
  ptrdiff_t d[MR];
  for (int r = 0; r < MR; r++)
    d[r] = (const float *) t->a[r] - a0;
  /* blocks of K_BLOCK products summed apart keep long sums accurate; the
   * first block starts from the bias, so that with K <= K_BLOCK the sums
   * never leave the registers */
  for (int k0 = 0; k0 < K; k0 += K_BLOCK) {
    int k1 = K - k0 < K_BLOCK ? K : k0 + K_BLOCK;
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NV; j++)
        acc[r][j] = vset1 (k0 ? 0.0f : t->bias[r]);
    const float *bk = b + (size_t) k0 * NR;
    for (const float *ak = a0 + k0, *end = a0 + k1; ak != end;
        ak++, bk += NR) {
      const float *bb = off ? b + off[ak - a0] : bk;
      vf bv[NV];
      for (int j = 0; j < NV; j++)
        bv[j] = vload (bb + j * VL);
      for (int r = 0; r < MR; r++) {
        const vf w = vset1 (ak[d[r]]);
        for (int j = 0; j < NV; j++)
          acc[r][j] = vfma (w, bv[j], acc[r][j]);
      }
    }
    if (k0)
      for (int r = 0; r < MR; r++)
        for (int j = 0; j < NV; j++)
          sum[r][j] = sum[r][j] + acc[r][j];
    else if (K > K_BLOCK)
      memcpy (sum, acc, sizeof sum);
  }
  if (K > K_BLOCK)
    memcpy (acc, sum, sizeof sum);
}

/* c = act(a . bp + bias) (+ res) for n <= NR columns of the packed panel bp
 * (K x NR). */
static void
tile (const rv_tile *t, int K, const float *bp, rv_act act, int n)
{
  vf acc[MR][NV];
  tile_sums (t, K, bp, NULL, acc);
  tile_store (t, acc, act, n);
}

/* The output pixels among NR pixels of a conv's input grid (below): seg[j]
 * holds the n[j] runs of vector j, lanes [l, l + len) of the vector being
 * output pixels o .. o + len - 1. */
typedef struct {
  int l, len, o;
} grid_run;

typedef struct {
  int n[NV];
  grid_run seg[NV][VL];
} grid_runs;

/* The outputs of grid pixels q0 .. q0 + w - 1 on a grid wg wide whose first
 * wo columns are outputs. */
static void
runs_of_grid (int wg, int wo, int q0, int w, grid_runs *gr)
{
  int oy = q0 / wg, ox = q0 % wg;
  memset (gr->n, 0, sizeof gr->n);
  for (int l = 0; l < w;) {
    if (ox >= wo) {             /* past the output row: the next row */
      l += wg - ox;
      ox = 0, oy++;
      continue;
    }
    int j = l / VL, len = VL - l % VL;
    if (len > wo - ox)
      len = wo - ox;
    if (len > w - l)
      len = w - l;
    gr->seg[j][gr->n[j]++] = (grid_run) { l % VL, len, oy * wo + ox };
    l += len, ox += len;
  }
}

/* The epilogue of a tile whose columns are grid pixels: act(sum) (+ res)
 * stored by the runs gr to the output rows c. */
static inline __attribute__ ((always_inline)) void
tile_store_runs (const rv_tile *t, vf acc[MR][NV], rv_act act,
    const grid_runs *gr)
{
  tile_act (acc, act);
  for (int r = 0; r < MR && t->c[r]; r++)
    for (int j = 0; j < NV; j++)
      for (int i = 0; i < gr->n[j]; i++) {
        const grid_run *g = &gr->seg[j][i];
        const vf v = g->l ? vdown (acc[r][j], g->l) : acc[r][j];
        store_n (t->c[r] + g->o, add_res_n (v, t->res[r], g->o, g->len),
            g->len);
      }
}

/* tile () on a conv's input grid: B row k of the panel at b + off[k].
 * Not inlined, so that off is known not NULL in the K loop. */
static __attribute__ ((noinline, nonnull)) void
tile_grid (const rv_tile *t, int K, const float *b, const int *off, rv_act act,
    const grid_runs *gr)
{
  vf acc[MR][NV];
  tile_sums (t, K, b, off, acc);
  tile_store_runs (t, acc, act, gr);
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

/* tile_sums () in bf16: a rows of kp weight pairs, B row of pairs k at b +
 * off[k] or, with off NULL, b + k NR. f32 accumulation from the bias on:
 * K_BLOCK sums would not show beside the bf16 rounding. */
static inline __attribute__ ((always_inline)) void
tile_sums_bf16 (const rv_tile *t, int kp, const uint32_t *bp, const int *off,
    vf sum[MR][NV])
{
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NV; j++)
      sum[r][j] = vset1 (t->bias[r]);
  const uint32_t *a0 = t->a[0], *a1 = t->a[1], *a2 = t->a[2], *a3 = t->a[3],
      *a4 = t->a[4], *a5 = t->a[5], *a6 = t->a[6], *a7 = t->a[7];
  for (int k = 0; k < kp; k++) {
    const uint32_t *bk = off ? bp + off[k] : bp + (size_t) k * NR;
    __m512bh b[NV];
    for (int j = 0; j < NV; j++)
      b[j] = (__m512bh) _mm512_loadu_si512 (bk + j * VL);
#define ROW(r) { \
      __m512bh w = (__m512bh) _mm512_set1_epi32 ((int) a##r[k]); \
      for (int j = 0; j < NV; j++) \
        sum[r][j] = _mm512_dpbf16_ps (sum[r][j], w, b[j]); \
    }
    ROW (0) ROW (1) ROW (2) ROW (3) ROW (4) ROW (5) ROW (6) ROW (7)
#undef ROW
  }
}

/* tile () in bf16: bp kp x NR column pairs; into pairs of the next GEMM's
 * panel when pairs_out. */
static void
tile_bf16 (const rv_tile *t, int kp, const uint32_t *bp, rv_act act, int n,
    int pairs_out)
{
  vf sum[MR][NV];
  tile_sums_bf16 (t, kp, bp, NULL, sum);
  if (pairs_out)
    tile_store_pairs (t, sum, act);
  else
    tile_store (t, sum, act, n);
}

/* tile_grid () in bf16: the pairs of B row k at b + off[k]. */
static __attribute__ ((noinline, nonnull)) void
tile_grid_bf16 (const rv_tile *t, int kp, const uint32_t *b, const int *off,
    rv_act act, const grid_runs *gr)
{
  vf sum[MR][NV];
  tile_sums_bf16 (t, kp, b, off, sum);
  tile_store_runs (t, sum, act, gr);
}
#endif

/* 32-bit words per column of a 1x1 conv's packed input: cin floats or
 * (cin + 1) / 2 bf16 pairs (k x k convs read planes on a grid instead). */
static int
panel_words (const rv_conv *cv)
{
  return rv_conv_bf16 (cv) ? (cv->cin + 1) / 2 : cv->cin;
}

/* The weight rows and biases of output channels mb .. mb + MR - 1 of cv, the
 * last of [m0, m1) repeated past m1. */
static void
tile_weights (const rv_conv *cv, int K, int mb, int m1, rv_tile *t)
{
  const uint16_t *w16 = rv_conv_bf16 (cv);
  for (int r = 0; r < MR; r++) {
    int m = mb + r < m1 ? mb + r : m1 - 1;
    t->a[r] = w16 ? (const void *) (w16 + (size_t) m * 2 * rv_bf16_row_pairs (cv))
        : cv->w + (size_t) m * K;
    t->bias[r] = cv->b[m];
  }
}

/* One tile of gemm_chunk: channels mb .. mb + MR - 1 (< m1), panel p. */
static void
gemm_tile (const rv_conv *cv, int K, const void *bp, int mb, int m1, int p,
    int n, float *y, size_t ys, int n0, const rv_tensor *res, int pack_out)
{
  const uint16_t *w16 = rv_conv_bf16 (cv);
  rv_tile t;
  tile_weights (cv, K, mb, m1, &t);
  for (int r = 0; r < MR; r++) {
    int m = mb + r, row = w16 ? m / 2 : m;
    t.c[r] = m >= m1 ? NULL : pack_out ? y + (size_t) p * ys + (size_t) row * NR
        : y + (size_t) m * ys + n0 + p;
    t.res[r] = m < m1 && res ? res->d + (size_t) m * res->cs + n0 + p : NULL;
  }
  int w = n - p < NR ? n - p : NR;
#if HAVE_BF16
  if (w16) {
    const int kp = panel_words (cv);
    tile_bf16 (&t, kp, (const uint32_t *) bp + (size_t) p * kp, cv->act, w,
        pack_out);
    return;
  }
#endif
  tile (&t, K, (const float *) bp + (size_t) p * K, cv->act, w);
}

/* Runs the tiles of output channels [m0, m1) against a chunk of packed panels
 * covering columns [n0, n0 + n) of an output whose rows are at y (stride ys,
 * plus n0) or, when pack_out, into packed panels (ys rows of NR words; bf16
 * rows hold pairs of channels). bf16 when cv is packed so. */
static void
gemm_chunk (const rv_conv *cv, int K, const void *bp, int m0, int m1, int n,
    float *y, size_t ys, int n0, const rv_tensor *res, int pack_out)
{
  for (int mb = m0; mb < m1; mb += MR)
    for (int p = 0; p < n; p += NR)
      gemm_tile (cv, K, bp, mb, m1, p, n, y, ys, n0, res, pack_out);
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

/* dst[i] = src[s i] for i < n; s is 1 or 2 (the strides of the spec's
 * convs). */
static inline void
copy_strided (float *dst, const float *src, int s, int n)
{
  if (s == 1) {
    memcpy (dst, src, (size_t) n * sizeof *dst);
    return;
  }
  /* whole vectors while both loads stay within src[0 .. 2 (n - 1)] (masked
   * loads are slow on some cores), then one at a time */
  int i = 0;
  for (; 2 * (i + VL) - 1 <= 2 * (n - 1); i += VL)
    vstore (dst + i, veven (vload (src + 2 * i), vload (src + 2 * i + VL)));
  for (; i < n; i++)
    dst[i] = src[2 * i];
}

/* The next tap after (ci, ky, kx), in the order of the weights. */
static inline void
next_tap (int k, int *ci, int *ky, int *kx)
{
  if (++*kx == k) {
    *kx = 0;
    if (++*ky == k)
      *ky = 0, ++*ci;
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

#endif

/* ---- work split --------------------------------------------------------- */

/* The size of the parts of `units` equal units (the last part may be
 * short): the preferred size, held to 1 .. min (cap, units), then shrunk
 * by up to half where that shares the parts out more evenly among nt
 * threads: the fewest units for the busiest thread, the larger size of a
 * tie (m2_3-n's 40x24 FFNs ran 15 chunks of 4 panels on 2 threads, one of
 * them 8; now 20 of 3). */
static int
even_share (int units, int size, int cap, int nt)
{
  cap = cap < units ? cap : units;
  size = size > cap ? cap : size < 1 ? 1 : size;
  int best = size, least = INT_MAX;
  for (int q = size; nt > 1 && q >= (size + 1) / 2; q--) {
    const int most = ((units + q - 1) / q + nt - 1) / nt * q;
    if (most < least)
      best = q, least = most;
  }
  return best;
}

/* Column chunk (a multiple of NR) whose packed panels of K words a column
 * fill about CHUNK_BYTES, shrunk so that every thread gets a few chunks,
 * and evenly. */
static int
chunk_cols (int K, int N, int nt)
{
  const int pc = (int) (CHUNK_BYTES / (sizeof (float) * K)) / NR,
      fair = ((N + 4 * nt - 1) / (4 * nt) + NR - 1) / NR;
  return even_share ((N + NR - 1) / NR, pc, fair, nt) * NR;
}

static size_t
conv_scratch_per_thread (const rv_conv *cv, int h_out, int w_out, int nt)
{
  int kw = panel_words (cv);
  return (size_t) kw * chunk_cols (kw, h_out * w_out, nt);
}

/* The packed panels of pixels [n0, n0 + n) of x, the input of a 1x1 conv
 * with stride 1: f32 rows or bf16 pairs of rows. */
static void
pack_panels (const rv_conv *cv, rv_tensor x, int n0, int n, float *bp)
{
#if HAVE_BF16
  if (rv_conv_bf16 (cv)) {
    for (int p = 0; p < n; p += NR, bp += (size_t) panel_words (cv) * NR)
      pack_pairs (x.d + n0 + p, x.cs, cv->cin, n - p < NR ? n - p : NR,
          (uint32_t *) bp);
    return;
  }
#endif
  pack_rows (x.d, x.cs, cv->cin, n0, n, bp);
}

/* With too few chunks to go round, the output channels are parted as well
 * (each part packs the same input): the number of parts. */
static int
channel_parts (const rv_conv *cv, int chunks, int nt)
{
  return nt > 1 && chunks < 2 * nt && cv->cout >= 4 * MR
      ? (2 * nt + chunks - 1) / chunks : 1;
}

/* The channels [*m0, *m1) of part `part` of `parts`, in multiples of MR;
 * false when that part is empty. */
static bool
part_channels (const rv_conv *cv, int part, int parts, int *m0, int *m1)
{
  const int mp = ((cv->cout + parts - 1) / parts + MR - 1) / MR * MR;
  *m0 = part * mp;
  *m1 = *m0 + mp < cv->cout ? *m0 + mp : cv->cout;
  return *m0 < *m1;
}

/* A 1x1 stride-1 conv as chunked GEMM: one item per chunk of nc columns
 * and part of the output channels. */
typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  float *scratch;
  size_t per;                   /* scratch floats per slot */
  int N, nc, parts;
} gemm_job;

static void
conv_gemm_item (void *arg, int item, int slot)
{
  const gemm_job *j = arg;
  const int n0 = item / j->parts * j->nc;
  const int n = j->N - n0 < j->nc ? j->N - n0 : j->nc;
  int m0, m1;
  if (!part_channels (j->cv, item % j->parts, j->parts, &m0, &m1))
    return;
  float *bp = j->scratch + j->per * slot;
  pack_panels (j->cv, j->x, n0, n, bp);
  gemm_chunk (j->cv, j->cv->cin, bp, m0, m1, n, j->y.d, j->y.cs, n0, j->res,
      0);
}

static void
conv_gemm (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  const int N = y.h * y.w, nc = chunk_cols (panel_words (cv), N, nt);
  const int chunks = (N + nc - 1) / nc, parts = channel_parts (cv, chunks, nt);
  gemm_job j = { cv, x, y, res, scratch,
    rv_line_floats (conv_scratch_per_thread (cv, y.h, y.w, nt)), N, nc,
    parts };
  rv_pool_for (chunks * parts, conv_gemm_item, &j, nt);
}

/* ---- k x k convs on an input grid --------------------------------------- */

/* A conv other than 1x1 stride 1 reads its input without im2col: a band of
 * output rows copies the input rows it needs, zero-padded, into planes laid
 * out on a grid wg = wo + (k - 1) / s columns wide (s x s phases of each
 * channel when strided: plane (ci, a, b) holds x[ci][s i + a - pad][s j + b
 * - pad] at i wg + j), so that the tap (ci, ky, kx) of grid pixel q = oy wg
 * + ox is at q plus an offset of the tap alone. The tile reads its K rows at
 * the taps' offsets; the grid columns ox >= wo are computed and dropped. A
 * band's planes fill about GRID_BAND_BYTES: they stay in L2 while the tiles
 * read them, and the input is read once from memory. In bf16 a plane holds
 * the pairs of channels (2 cp, 2 cp + 1) that the weights pair per tap. */
typedef struct {
  int ph, d, wg;                /* phases per axis; halo rows; grid width */
  int cp, planes, taps;         /* channels (pairs in bf16), planes, B rows */
  int band;                     /* output rows a band */
  size_t plane;                 /* words a plane, with the last panel's reads */
} conv_grid;

static int
uses_grid (const rv_conv *cv)
{
  return cv->k != 1 || cv->stride != 1;
}

static conv_grid
grid_of (const rv_conv *cv, int h_out, int w_out, int nt)
{
  const int s = cv->stride, ph = cv->k < s ? cv->k : s, d = (cv->k - 1) / s;
  const int cp = rv_conv_bf16 (cv) ? (cv->cin + 1) / 2 : cv->cin;
  conv_grid g = { ph, d, w_out + d, cp, cp * ph * ph, cp * cv->k * cv->k, 0,
    0 };
  const size_t row = (size_t) g.planes * g.wg * sizeof (float);
  const int fair = (h_out + 4 * nt - 1) / (4 * nt);
  g.band = even_share (h_out, (int) (GRID_BAND_BYTES / row) - d, fair, nt);
  g.plane = rv_line_floats ((size_t) (g.band + d) * g.wg + NR + d);
  return g;
}

/* The scratch: the taps' offsets (ints), then each slot's planes and, in
 * bf16, a row of the odd channel. */
static size_t
grid_offsets_floats (const conv_grid *g)
{
  return rv_line_floats ((size_t) g->taps);
}

static size_t
grid_slot_floats (const conv_grid *g)
{
  return g->plane * g->planes + rv_line_floats ((size_t) g->wg);
}

static size_t
grid_scratch (const rv_conv *cv, int h_out, int w_out, int nt)
{
  const conv_grid g = grid_of (cv, h_out, w_out, nt);
  return grid_offsets_floats (&g) + grid_slot_floats (&g) * nt;
}

/* Grid row i of channel ci, phase (a, b), into dst (wg floats). */
static void
grid_row (const rv_conv *cv, rv_tensor x, const conv_grid *g, int ci, int a,
    int b, int i, float *dst)
{
  const int s = cv->stride, pad = cv->k / 2, wg = g->wg;
  const int iy = s * i + a - pad, ix0 = b - pad;
  /* the grid columns whose pixel s j + ix0 is inside the row: [lo, hi) */
  const int lo = ix0 < 0 ? (s - 1 - ix0) / s : 0;
  const int hi = (x.w - ix0 + s - 1) / s < wg ? (x.w - ix0 + s - 1) / s : wg;
  if (ci >= x.c || iy < 0 || iy >= x.h || hi <= lo) {
    memset (dst, 0, (size_t) wg * sizeof *dst);
    return;
  }
  memset (dst, 0, (size_t) lo * sizeof *dst);
  copy_strided (dst + lo, x.d + ci * x.cs + (size_t) iy * x.w + ix0 + lo * s,
      s, hi - lo);
  memset (dst + hi, 0, (size_t) (wg - hi) * sizeof *dst);
}

/* Plane (channel or pair, a, b) = item of the grid rows [i0, i0 + rows)
 * into dst; odd: a row of scratch (bf16). */
static void
grid_plane (const rv_conv *cv, rv_tensor x, const conv_grid *g, int item,
    int i0, int rows, float *dst, float *odd)
{
  const int c = item / (g->ph * g->ph), a = item / g->ph % g->ph,
      b = item % g->ph, wg = g->wg;
  for (int i = i0; i < i0 + rows; i++, dst += wg) {
#if HAVE_BF16
    if (rv_conv_bf16 (cv)) {
      grid_row (cv, x, g, 2 * c, a, b, i, dst);
      grid_row (cv, x, g, 2 * c + 1, a, b, i, odd);
      for (int j = 0; j < wg; j += VL) {
        const int m = wg - j < VL ? wg - j : VL;
        _mm512_mask_storeu_epi32 (dst + j, (__mmask16) ((1u << m) - 1),
            bf16_pairs (load_n (dst + j, m), load_n (odd + j, m)));
      }
      continue;
    }
#endif
    (void) odd;
    grid_row (cv, x, g, c, a, b, i, dst);
  }
  memset (dst, 0, (g->plane - (size_t) rows * wg) * sizeof *dst);
}

/* The two planes (c, a, 0) and (c, a, 1) = item, item + 1 of a 3x3 stride-2
 * conv, rows [i0, i0 + rows), in one pass over each input row: a pair of
 * loads gives a vector of each phase (grid_plane would read the row once
 * per phase, half of each load unused). Plane b holds input column 2 j + b
 * - 1: the odd columns from j = 1 on, the even ones from 0. */
static void
grid_planes_s2 (rv_tensor x, const conv_grid *g, int item, int i0, int rows,
    float *dst0, float *dst1)
{
  const int c = item / 4, a = item / 2 % 2, wg = g->wg, w = x.w;
  for (int i = i0; i < i0 + rows; i++, dst0 += wg, dst1 += wg) {
    const int iy = 2 * i + a - 1;
    int ne = 0, no = 0;         /* the even and odd columns copied */
    if (c < x.c && iy >= 0 && iy < x.h) {
      const float *src = x.d + c * x.cs + (size_t) iy * w;
      int m = 0;
      for (; 2 * (m + VL) <= w; m += VL) {
        const vf v0 = vload (src + 2 * m), v1 = vload (src + 2 * m + VL);
        vstore (dst1 + m, veven (v0, v1));
        vstore (dst0 + 1 + m, vodd (v0, v1));
      }
      for (; 2 * m < w; m++) {
        dst1[m] = src[2 * m];
        if (2 * m + 1 < w)
          dst0[1 + m] = src[2 * m + 1];
      }
      ne = (w + 1) / 2, no = w / 2;
    }
    dst0[0] = 0.0f;
    memset (dst0 + 1 + no, 0, (size_t) (wg - 1 - no) * sizeof *dst0);
    memset (dst1 + ne, 0, (size_t) (wg - ne) * sizeof *dst1);
  }
  memset (dst0, 0, (g->plane - (size_t) rows * wg) * sizeof *dst0);
  memset (dst1, 0, (g->plane - (size_t) rows * wg) * sizeof *dst1);
}

/* Output channels [m0, m1) of the grid pixels [0, n) of planes, into the
 * rows of y (and res) from output pixel o0 on. */
static void
grid_chunk (const rv_conv *cv, const conv_grid *g, const float *planes,
    const int *off, int m0, int m1, int n, rv_tensor y, const rv_tensor *res,
    size_t o0)
{
  const int K = cv->cin * cv->k * cv->k;
  for (int p = 0; p < n; p += NR) {
    grid_runs gr;
    runs_of_grid (g->wg, y.w, p, n - p < NR ? n - p : NR, &gr);
    for (int mb = m0; mb < m1; mb += MR) {
      rv_tile t;
      tile_weights (cv, K, mb, m1, &t);
      for (int r = 0; r < MR; r++) {
        int m = mb + r;
        t.c[r] = m < m1 ? y.d + (size_t) m * y.cs + o0 : NULL;
        t.res[r] = m < m1 && res ? res->d + (size_t) m * res->cs + o0 : NULL;
      }
#if HAVE_BF16
      if (rv_conv_bf16 (cv)) {
        tile_grid_bf16 (&t, g->taps, (const uint32_t *) planes + p, off,
            cv->act, &gr);
        continue;
      }
#endif
      tile_grid (&t, K, planes + p, off, cv->act, &gr);
    }
  }
}

typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  conv_grid g;
  const int *off;
  float *slots;
  int parts;
} grid_job;

/* Band item / parts, channel part item % parts. */
static void
grid_item (void *arg, int item, int slot)
{
  const grid_job *j = arg;
  const rv_conv *cv = j->cv;
  const conv_grid *g = &j->g;
  const int oy0 = item / j->parts * g->band;
  const int rows = j->y.h - oy0 < g->band ? j->y.h - oy0 : g->band;
  int m0, m1;
  if (!part_channels (cv, item % j->parts, j->parts, &m0, &m1))
    return;
  float *bp = j->slots + grid_slot_floats (g) * slot;
  if (cv->k == 3 && cv->stride == 2 && !rv_conv_bf16 (cv))
    for (int i = 0; i < g->planes; i += 2)
      grid_planes_s2 (j->x, g, i, oy0, rows + g->d, bp + g->plane * i,
          bp + g->plane * (i + 1));
  else
    for (int i = 0; i < g->planes; i++)
      grid_plane (cv, j->x, g, i, oy0, rows + g->d, bp + g->plane * i,
          bp + g->plane * g->planes);
  grid_chunk (cv, g, bp, j->off, m0, m1, rows * g->wg, j->y, j->res,
      (size_t) oy0 * j->y.w);
}

static void
conv_grid_gemm (const rv_conv *cv, rv_tensor x, rv_tensor y,
    const rv_tensor *res, float *scratch, int nt)
{
  const int s = cv->stride;
  const conv_grid g = grid_of (cv, y.h, y.w, nt);
  int *off = (int *) scratch;
  for (int k = 0, c = 0, ky = 0, kx = 0; k < g.taps; k++) {
    off[k] = (int) (((c * g.ph + ky % s) * g.ph + kx % s) * g.plane)
        + ky / s * g.wg + kx / s;
    next_tap (cv->k, &c, &ky, &kx);
  }
  const int bands = (y.h + g.band - 1) / g.band;
  const int parts = channel_parts (cv, bands, nt);
  grid_job j = { cv, x, y, res, g, off, scratch + grid_offsets_floats (&g),
    parts };
  rv_pool_for (bands * parts, grid_item, &j, nt);
}

/* ---- 3x3 stride-1 convs by Winograd F(2x2, 3x3) -------------------------- */

/* The 16 products of each 2x2 output tile (ops.h) are 16 GEMMs, one per
 * position xi of the 4x4 transforms: M_xi = U_xi (cout x cin) V_xi (cin x
 * tiles), on the GEMM tile with 2.25 times fewer multiply-adds than the
 * grid conv's K = 9 cin. A band of tile rows transforms its input, channel
 * by channel from zero-padded rows, into V: packed panels of NR tiles (a
 * row's tiles, then the next row's), each 16 x cin rows of NR, which stay
 * in L2 while the GEMM tiles read them, each panel in order. The tile
 * keeps the 16 sums of its MR channels x NR tiles, transforms them to the
 * 2x2 outputs, adds the bias (in the sums of xi = 5, whose weight in every
 * output is 1), activates, and stores the outputs' two rows interleaved. */
typedef struct {
  int tw, th;                   /* tiles per row, per column */
  int band;                     /* tile rows a band */
  int panels;                   /* panels of V */
  int wp;                       /* floats a padded input row */
} wino_grid;

static wino_grid
wino_of (const rv_conv *cv, int h_out, int w_out, int nt)
{
  wino_grid g = { (w_out + 1) / 2, (h_out + 1) / 2, 0, 0, 0 };
  const size_t row = (size_t) 16 * cv->cin * g.tw * sizeof (float);
  /* a fair share for every thread, but panels of whole tile rows where
   * rows are short (the last panel of a band is part empty) */
  const int fair = (g.th + 4 * nt - 1) / (4 * nt),
      least = (2 * NR + g.tw - 1) / g.tw;
  g.band = even_share (g.th, (int) (GRID_BAND_BYTES / row),
      fair > least ? fair : least, nt);
  g.panels = (g.band * g.tw + NR - 1) / NR;
  g.wp = 2 * ((g.tw + VL - 1) / VL * VL) + 2;
  return g;
}

/* floats from a panel's row xi cin + ci to row (xi + 1) cin + ci: a line
 * more than cin rows of NR, so that the 16 stores of a tile's V do not all
 * fall in one L1 set (cin NR floats apart, a multiple of 4 KB where cin is
 * one of 64, they did: the input transform took twice as long on Zen 1) */
static size_t
wino_xi_stride (const rv_conv *cv)
{
  return (size_t) cv->cin * NR + 16;
}

/* floats a panel of V */
static size_t
wino_panel (const rv_conv *cv)
{
  return 16 * wino_xi_stride (cv);
}

/* The scratch: each slot's V and padded input rows. */
static size_t
wino_slot_floats (const rv_conv *cv, const wino_grid *g)
{
  return wino_panel (cv) * g->panels
      + rv_line_floats ((size_t) (2 * g->band + 2) * g->wp);
}

static size_t
wino_scratch (const rv_conv *cv, int h_out, int w_out, int nt)
{
  const wino_grid g = wino_of (cv, h_out, w_out, nt);
  return wino_slot_floats (cv, &g) * nt;
}

/* Tiles [0, rows tw) of the band from tile row ty0 of channel ci into
 * their rows xi cin + ci of the panels v: the input rows 2 ty0 - 1 ...
 * padded by one zero column on the left and zeros on the right into pad,
 * then V = B^T d B of each tile's window, VL tiles of a row at a time. */
static void
wino_input (const rv_conv *cv, rv_tensor x, const wino_grid *g, int ci,
    int ty0, int rows, float *pad, float *v)
{
  const int wp = g->wp, tw = g->tw;
  const size_t ps = wino_panel (cv), vs = wino_xi_stride (cv);
  for (int i = 0; i < 2 * rows + 2; i++) {
    float *dst = pad + (size_t) i * wp;
    const int iy = 2 * ty0 - 1 + i;
    memset (dst, 0, (size_t) wp * sizeof *dst);
    if (iy >= 0 && iy < x.h)
      memcpy (dst + 1, x.d + ci * x.cs + (size_t) iy * x.w,
          (size_t) x.w * sizeof *dst);
  }
  for (int i = 0; i < rows; i++)
    for (int tx = 0; tx < tw; tx += VL) {
      /* w[r][j]: window row r times B, tiles tx ... in the lanes */
      vf w[4][4];
      for (int r = 0; r < 4; r++) {
        const float *src = pad + (size_t) (2 * i + r) * wp + 2 * tx;
        const vf a = vload (src), b = vload (src + VL),
            c = vload (src + 2), d = vload (src + 2 + VL);
        const vf d0 = veven (a, b), d1 = vodd (a, b), d2 = veven (c, d),
            d3 = vodd (c, d);
        w[r][0] = d0 - d2, w[r][1] = d1 + d2, w[r][2] = d2 - d1,
            w[r][3] = d1 - d3;
      }
      vf t[16];
      for (int j = 0; j < 4; j++) {
        t[0 + j] = w[0][j] - w[2][j], t[4 + j] = w[1][j] + w[2][j];
        t[8 + j] = w[2][j] - w[1][j], t[12 + j] = w[1][j] - w[3][j];
      }
      /* tiles q .. q + m - 1: lanes l ... of a panel, the last m - n of
       * them at the start of the next */
      const int q = i * tw + tx, m = tw - tx < VL ? tw - tx : VL,
          l = q % NR, n = NR - l < m ? NR - l : m;
      float *o = v + q / NR * ps + (size_t) ci * NR + l;
      for (int xi = 0; xi < 16; xi++) {
        store_n (o + xi * vs, t[xi], n);
        if (n < m)
          store_n (o + ps - l + xi * vs, vdown (t[xi], n), m - n);
      }
    }
  const int n = rows * tw, last = n % NR;  /* the last panel's unused lanes */
  for (int xi = 0; last && xi < 16; xi++)
    memset (v + n / NR * ps + xi * vs + (size_t) ci * NR + last, 0,
        (size_t) (NR - last) * sizeof *v);
}

/* The tiles of a panel: lanes [l, l + len) are tiles of one tile row, whose
 * top-left outputs are (oy, ox) ... (oy, ox + 2 len - 2). */
typedef struct {
  int l, len, oy, ox;
} wino_run;

typedef struct {
  int n;
  wino_run run[NR];
} wino_runs;

static void
runs_of_tiles (const wino_grid *g, int ty0, int t0, int n, wino_runs *wr)
{
  wr->n = 0;
  for (int l = 0; l < n;) {
    const int i = (t0 + l) / g->tw, tx = (t0 + l) % g->tw;
    const int len = g->tw - tx < n - l ? g->tw - tx : n - l;
    wr->run[wr->n++] = (wino_run) { l, len, 2 * (ty0 + i), 2 * tx };
    l += len;
  }
}

/* a0 b0 a1 b1 ... from the low halves of a and b, and from the high ones */
#if defined(__AVX512F__)
#define vzip_lo(a, b) _mm512_permutex2var_ps (a, _mm512_setr_epi32 (0, 16, 1, \
      17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), b)
#define vzip_hi(a, b) _mm512_permutex2var_ps (a, _mm512_setr_epi32 (8, 24, 9, \
      25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), b)
#else
#define vzip_lo(a, b) _mm256_permute2f128_ps (_mm256_unpacklo_ps (a, b), \
      _mm256_unpackhi_ps (a, b), 0x20)
#define vzip_hi(a, b) _mm256_permute2f128_ps (_mm256_unpacklo_ps (a, b), \
      _mm256_unpackhi_ps (a, b), 0x31)
#endif

/* Output channels mb ... mb + MR - 1 (< m1) of the tiles of the panel vp
 * into y (and res). */
static __attribute__ ((noinline, nonnull (1, 2, 5, 6))) void
wino_tile (const rv_conv *cv, const float *u, int mb, int m1,
    const float *vp, const wino_runs *wr, rv_tensor y, const rv_tensor *res)
{
  vf m[16][MR][NV], out[MR][4][NV];
  rv_tile t;
  for (int xi = 0; xi < 16; xi++) {
    for (int r = 0; r < MR; r++) {
      const int row = mb + r < m1 ? mb + r : m1 - 1;
      t.a[r] = u + ((size_t) xi * cv->cout + row) * cv->cin;
      t.bias[r] = xi == 5 ? cv->b[row] : 0.0f;
    }
    tile_sums (&t, cv->cin, vp + xi * wino_xi_stride (cv), NULL, m[xi]);
  }
  /* Y = A^T M A: rows s = M_0j + M_1j + M_2j, d = M_1j - M_2j - M_3j, then
   * the same on the columns of each */
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NV; j++) {
      vf s[4], d[4];
      for (int c = 0; c < 4; c++) {
        s[c] = m[c][r][j] + m[4 + c][r][j] + m[8 + c][r][j];
        d[c] = m[4 + c][r][j] - m[8 + c][r][j] - m[12 + c][r][j];
      }
      out[r][0][j] = s[0] + s[1] + s[2], out[r][1][j] = s[1] - s[2] - s[3];
      out[r][2][j] = d[0] + d[1] + d[2], out[r][3][j] = d[1] - d[2] - d[3];
    }
  _Static_assert (MR * 4 * NV % ACT_GROUP == 0, "outputs in whole groups");
  if (cv->act != RV_ACT_NONE)
    for (int g = 0; g < MR * 4 * NV; g += ACT_GROUP)
      v_act_n (&out[0][0][0] + g, ACT_GROUP, cv->act);
  for (int r = 0; r < MR && mb + r < m1; r++) {
    float rows[2][2 * NR];      /* the two output rows of the tiles */
    for (int dy = 0; dy < 2; dy++)
      for (int j = 0; j < NV; j++) {
        vstore (rows[dy] + 2 * j * VL, vzip_lo (out[r][2 * dy][j],
                out[r][2 * dy + 1][j]));
        vstore (rows[dy] + 2 * j * VL + VL, vzip_hi (out[r][2 * dy][j],
                out[r][2 * dy + 1][j]));
      }
    for (int i = 0; i < wr->n; i++)
      for (int dy = 0; dy < 2; dy++) {
        const int oy = wr->run[i].oy + dy, ox = wr->run[i].ox;
        if (oy >= y.h)
          continue;
        const int n = 2 * wr->run[i].len < y.w - ox ? 2 * wr->run[i].len
            : y.w - ox;
        const float *src = rows[dy] + 2 * wr->run[i].l;
        const size_t o = (size_t) oy * y.w + ox;
        float *dst = y.d + (size_t) (mb + r) * y.cs + o;
        const float *rs = res ? res->d + (size_t) (mb + r) * res->cs + o : NULL;
        for (int q = 0; q < n; q += VL) {
          const int k = n - q < VL ? n - q : VL;
          store_n (dst + q, add_res_n (load_n (src + q, k), rs, q, k), k);
        }
      }
  }
}

typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  wino_grid g;
  float *slots;
  int parts;
} wino_job;

/* Band item / parts, channel part item % parts. */
static void
wino_item (void *arg, int item, int slot)
{
  const wino_job *j = arg;
  const rv_conv *cv = j->cv;
  const wino_grid *g = &j->g;
  const int ty0 = item / j->parts * g->band;
  const int rows = g->th - ty0 < g->band ? g->th - ty0 : g->band;
  int m0, m1;
  if (!part_channels (cv, item % j->parts, j->parts, &m0, &m1))
    return;
  float *v = j->slots + wino_slot_floats (cv, g) * slot,
      *pad = v + wino_panel (cv) * g->panels;
  for (int ci = 0; ci < cv->cin; ci++)
    wino_input (cv, j->x, g, ci, ty0, rows, pad, v);
  const int n = rows * g->tw;
  for (int p = 0; p < n; p += NR) {
    wino_runs wr;
    runs_of_tiles (g, ty0, p, n - p < NR ? n - p : NR, &wr);
    for (int mb = m0; mb < m1; mb += MR)
      wino_tile (cv, rv_conv_winograd (cv), mb, m1,
          v + p / NR * wino_panel (cv), &wr, j->y, j->res);
  }
}

static void
conv_winograd (const rv_conv *cv, rv_tensor x, rv_tensor y,
    const rv_tensor *res, float *scratch, int nt)
{
  const wino_grid g = wino_of (cv, y.h, y.w, nt);
  const int bands = (g.th + g.band - 1) / g.band;
  const int parts = channel_parts (cv, bands, nt);
  wino_job j = { cv, x, y, res, g, scratch, parts };
  rv_pool_for (bands * parts, wino_item, &j, nt);
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
  pack_panels (c0, j->x, n0, n, bp);
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
    rv_line_floats (ffn_scratch_per_thread (c0, N, nt)), N, nc };
  rv_pool_for ((N + nc - 1) / nc, ffn_item, &j, nt);
}

/* ---- depthwise 3x3 ------------------------------------------------------ */

/* Lane masks: which lanes of a vector a load reads (the others read as zeros
 * and never fault) and a store writes. */
#if defined(__AVX512F__)
typedef __mmask16 vmask;
#define vload_k(p, k) _mm512_maskz_loadu_ps (k, p)
#define vstore_k(p, v, k) _mm512_mask_storeu_ps (p, k, v)
#define vmask_and(a, b) ((vmask) ((a) & (b)))
#define vmask_bits(b) ((vmask) (b))
#define vkeep(v, k) _mm512_maskz_mov_ps (k, v)  /* lanes k of v, zeros elsewhere */
#define vselect(k, a, b) _mm512_mask_blend_ps (k, b, a)  /* a in lanes k, else b */
#define v_iota() _mm512_setr_ps (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#else
typedef __m256i vmask;
#define vload_k(p, k) _mm256_maskload_ps (p, k)
#define vstore_k(p, v, k) _mm256_maskstore_ps (p, k, v)
#define vmask_and(a, b) _mm256_and_si256 (a, b)
#define vkeep(v, k) _mm256_and_ps (v, _mm256_castsi256_ps (k))
#define vselect(k, a, b) _mm256_blendv_ps (b, a, _mm256_castsi256_ps (k))
#define v_iota() _mm256_setr_ps (0, 1, 2, 3, 4, 5, 6, 7)
static inline vmask
vmask_bits (unsigned b)
{
  const __m256i bit = _mm256_setr_epi32 (1, 2, 4, 8, 16, 32, 64, 128);
  return _mm256_cmpeq_epi32 (_mm256_and_si256 (_mm256_set1_epi32 ((int) b), bit), bit);
}
#endif

/* lanes lo .. hi - 1, clamped to the vector */
static inline vmask
lanes_between (int lo, int hi)
{
  lo = lo < 0 ? 0 : lo;
  hi = hi > VL ? VL : hi;
  return vmask_bits (lo < hi ? ((1u << hi) - 1) & ~((1u << lo) - 1) : 0);
}

/* Output rows computed together: each input row loaded serves every one of
 * them that it is a tap row of (4 rows from 6 at stride 1), and each output
 * vector sums its nine taps in order, a chain of dependent FMAs, so it takes
 * several chains to fill the FMA units. */
#define DW_ROWS 4
/* input rows that n output rows read at stride s */
#define DW_IN_ROWS(n, s) (((n) - 1) * (s) + 3)
/* those of DW_ROWS output rows */
#define DW_BAND_ROWS(s) DW_IN_ROWS (DW_ROWS, s)

/* A band of output rows (a multiple of DW_ROWS) reads its input rows from
 * a copy with the padding made real (zeros), wide enough that every vector
 * of outputs, the last one of a row included, loads whole vectors: no
 * masked loads (which cost many times more than plain ones on some cores,
 * AVX2 on Zen), no edge cases. Row i of the band, input row s oy0 - 1 + i,
 * is 0, the input row's floats, then zeros to the band's width (the last
 * vector's taps reach column s wv + 1, wv the output width in whole
 * vectors). As many output rows as
 * fill about DW_BAND_BYTES: the copy is in L1 when the taps read it, and
 * the rows that bands share (2 at stride 1) are copied less often; a
 * 40 x 40 channel is one band. */
#define DW_BAND_BYTES (16 << 10)

typedef struct {
  int out_rows, rows, w;        /* output rows, input rows, floats a row */
} dw_band;

static dw_band
dw_band_of (int s, int w_out)
{
  const int wv = (w_out + VL - 1) / VL * VL, w = s * wv + 2;
  int out = ((int) (DW_BAND_BYTES / sizeof (float)) / w - 3) / s + 1;
  out = out / DW_ROWS * DW_ROWS;
  out = out < DW_ROWS ? DW_ROWS : out;
  return (dw_band) { out, DW_IN_ROWS (out, s), w };
}

static size_t
dw_scratch (const rv_conv *cv, int w_out, int nt)
{
  dw_band b = dw_band_of (cv->stride, w_out);
  return rv_line_floats ((size_t) b.rows * b.w) * nt;
}

/* the first n rows of a band */
static void
dw_band_fill (const float *x, int h, int w, int iy0, dw_band b, int n,
    float *band)
{
  for (int i = 0; i < n; i++, band += b.w) {
    int iy = iy0 + i;
    if (iy < 0 || iy >= h) {
      memset (band, 0, sizeof (float) * b.w);
      continue;
    }
    band[0] = 0.0f;
    memcpy (band + 1, x + (size_t) iy * w, sizeof (float) * w);
    memset (band + 1 + w, 0, sizeof (float) * (b.w - 1 - w));
  }
}

/* The DW_ROWS output rows from oy0 of one channel (rows of them stored, wo
 * wide), stride s (a constant where inlined), from its band: the taps of
 * output column ox are a load from band column s ox + kx on (at stride 2 the
 * even lanes of two). Sums only: a function of its own with the nine
 * weights, the accumulators and one tap in registers (16 on AVX2: any more
 * and the weights go to the stack, each FMA loading one). */
static inline __attribute__ ((always_inline)) void
dw3x3_band (const float *band, int band_w, const float *w9, float bias, int s,
    float *y, int rows, int wo)
{
  vf k[9];
  for (int i = 0; i < 9; i++)
    k[i] = vset1 (w9[i]);
  for (int ox = 0; ox < wo; ox += VL) {
    vf acc[DW_ROWS];
    for (int o = 0; o < DW_ROWS; o++)
      acc[o] = vset1 (bias);
    /* unrolled (the band's rows, written as a constant): everything stays
     * in registers */
#pragma GCC unroll 16
    for (int r = 0; r < DW_BAND_ROWS (s); r++) {
      const float *p = band + (size_t) r * band_w + s * ox;
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; kx++) {
        vf tap = s == 1 ? vload (p + kx)
            : veven (vload (p + kx), vload (p + kx + VL));
#pragma GCC unroll 16
        for (int o = 0; o < DW_ROWS; o++) {
          int ky = r - o * s;
          if (ky >= 0 && ky < 3)
            acc[o] = vfma (k[ky * 3 + kx], tap, acc[o]);
        }
      }
    }
    const int n = wo - ox < VL ? wo - ox : VL;
    for (int o = 0; o < rows; o++)
      store_n (y + (size_t) o * wo + ox, acc[o], n);
  }
}

static __attribute__ ((noinline)) void
dw3x3_band_s1 (const float *band, int band_w, const float *w9, float bias,
    float *y, int rows, int wo)
{
  dw3x3_band (band, band_w, w9, bias, 1, y, rows, wo);
}

static __attribute__ ((noinline)) void
dw3x3_band_s2 (const float *band, int band_w, const float *w9, float bias,
    float *y, int rows, int wo)
{
  dw3x3_band (band, band_w, w9, bias, 2, y, rows, wo);
}

/* y = act (y) (+ res) over n floats, ACT_GROUP vectors at a time (the
 * activation chains side by side, as in the GEMM tile) */
static void
act_res_run (float *y, const float *res, int n, rv_act act)
{
  int i = 0;
  for (; i + ACT_GROUP * VL <= n; i += ACT_GROUP * VL) {
    vf v[ACT_GROUP];
    for (int g = 0; g < ACT_GROUP; g++)
      v[g] = vload (y + i + g * VL);
    v_act_n (v, ACT_GROUP, act);
    for (int g = 0; g < ACT_GROUP; g++) {
      if (res)
        v[g] = v[g] + vload (res + i + g * VL);
      vstore (y + i + g * VL, v[g]);
    }
  }
  for (; i < n; i += VL) {
    const int m = n - i < VL ? n - i : VL;
    store_n (y + i, add_res_n (v_act (load_n (y + i, m), act), res, i, m), m);
  }
}

typedef struct {
  const rv_conv *cv;
  rv_tensor x, y;
  const rv_tensor *res;
  float *scratch;
  size_t slot_floats;
} dw_job;

/* Channel c: band by band, DW_ROWS output rows at a time, the sums, then
 * the activation and residual on the band's rows while they are in cache. */
static void
dw3x3_item (void *arg, int c, int slot)
{
  const dw_job *j = arg;
  const rv_conv *cv = j->cv;
  const rv_tensor x = j->x, y = j->y;
  const int s = cv->stride;
  const dw_band b = dw_band_of (s, y.w);
  float *band = j->scratch + j->slot_floats * slot;
  for (int oy0 = 0; oy0 < y.h; oy0 += b.out_rows) {
    const int rows = y.h - oy0 < b.out_rows ? y.h - oy0 : b.out_rows;
    float *out = y.d + c * y.cs + (size_t) oy0 * y.w;
    /* the input rows of the band's DW_ROWS-row steps */
    const int in_rows = DW_IN_ROWS ((rows + DW_ROWS - 1) / DW_ROWS * DW_ROWS, s);
    dw_band_fill (x.d + c * x.cs, x.h, x.w, s * oy0 - 1, b, in_rows, band);
    for (int o = 0; o < rows; o += DW_ROWS)
      (s == 1 ? dw3x3_band_s1 : dw3x3_band_s2) (band + (size_t) s * o * b.w,
          b.w, cv->w + c * 9, cv->b[c], out + (size_t) o * y.w,
          rows - o < DW_ROWS ? rows - o : DW_ROWS, y.w);
    if (cv->act != RV_ACT_NONE || j->res)
      act_res_run (out, j->res ? j->res->d + c * j->res->cs
          + (size_t) oy0 * y.w : NULL, rows * y.w, cv->act);
  }
}

static void
conv_dw3x3 (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  dw_job j = { cv, x, y, res, scratch, dw_scratch (cv, y.w, 1) };
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

/* ---- detect head, attention ---------------------------------------------- */

/* A row of anchors, a vector of them at a time: each side's distance is the
 * expected bin under the softmax over its 16 bins. */
static void
dfl_row (void *arg, int row, int slot)
{
  const rv_dfl_job *j = arg;
  const rv_tensor box = j->box;
  const vf stride = vset1 (j->stride), half = vset1 (0.5f);
  (void) slot;
  for (int x0 = 0; x0 < box.w; x0 += VL) {
    const vmask k = lanes_between (0, box.w - x0);
    const size_t i = (size_t) row * box.w + x0;
    vf d[4];
    for (int side = 0; side < 4; side++) {
      const float *l = box.d + side * 16 * box.cs + i;
      vf logit[16], m = vset1 (-INFINITY), sum = vset1 (0.0f),
          acc = vset1 (0.0f);
      for (int b = 0; b < 16; b++)
        m = vmax (m, logit[b] = vload_k (l + b * box.cs, k));
      for (int b = 0; b < 16; b++) {
        vf e = v_exp (logit[b] - m);
        sum = sum + e;
        acc = vfma (vset1 ((float) b), e, acc);
      }
      d[side] = acc / sum;
    }
    vf ax = v_iota () + vset1 ((float) x0 + 0.5f), ay = vset1 ((float) row + 0.5f);
    vf x1 = ax - d[0], y1 = ay - d[1], x2 = ax + d[2], y2 = ay + d[3];
    float *o = j->out + j->a0 + i;
    vstore_k (o, (x1 + x2) * half * stride, k);
    vstore_k (o + j->anchors, (y1 + y2) * half * stride, k);
    vstore_k (o + 2 * (size_t) j->anchors, (x2 - x1) * stride, k);
    vstore_k (o + 3 * (size_t) j->anchors, (y2 - y1) * stride, k);
  }
}

/* the lanes of v, reduced in lane order */
static inline float
lanes_max (vf v)
{
  float t[VL], m;
  vstore (t, v);
  m = t[0];
  for (int l = 1; l < VL; l++)
    m = t[l] > m ? t[l] : m;
  return m;
}

static inline float
lanes_sum (vf v)
{
  float t[VL], sum = 0.0f;
  vstore (t, v);
  for (int l = 0; l < VL; l++)
    sum += t[l];
  return sum;
}

static void
softmax_rows (float *rows, int n, int len, size_t ld)
{
  for (int i = 0; i < n; i++) {
    float *row = rows + i * ld;
    vf m = vset1 (-INFINITY), sum = vset1 (0.0f);
    for (int c = 0; c < len; c += VL) {
      vmask k = lanes_between (0, len - c);
      m = vmax (m, vselect (k, vload_k (row + c, k), vset1 (-INFINITY)));
    }
    m = vset1 (lanes_max (m));
    for (int c = 0; c < len; c += VL) {
      vmask k = lanes_between (0, len - c);
      vf e = vkeep (v_exp (vload_k (row + c, k) - m), k);
      vstore_k (row + c, e, k);
      sum = sum + e;
    }
    vf total = vset1 (lanes_sum (sum));
    for (int c = 0; c < len; c += VL) {
      vmask k = lanes_between (0, len - c);
      vstore_k (row + c, vload_k (row + c, k) / total, k);
    }
  }
}

/* ---- maxpool ------------------------------------------------------------ */

typedef struct {
  rv_tensor x, y;
} maxpool_job;

/* Channel c, separably: the row maxima of each input row go to the output
 * row, then each column of those, a vector of columns at a time, becomes its
 * running 5-row maximum in place (the two rows above are kept in registers
 * before they are overwritten). Off the image is -inf. */
static void
maxpool5_item (void *arg, int c, int slot)
{
  const maxpool_job *j = arg;
  const int h = j->x.h, w = j->x.w;
  const float *src = j->x.d + c * j->x.cs;
  float *dst = j->y.d + c * j->y.cs;
  const vf none = vset1 (-INFINITY);
  (void) slot;
  for (int iy = 0; iy < h; iy++)
    for (int ox = 0; ox < w; ox += VL) {
      const float *p = src + (size_t) iy * w + ox;
      vf m = none;
      for (int dx = -2; dx <= 2; dx++) {
        vmask k = lanes_between (-(ox + dx), w - (ox + dx));
        m = vmax (m, vselect (k, vload_k (p + dx, k), none));
      }
      vstore_k (dst + (size_t) iy * w + ox, m, lanes_between (0, w - ox));
    }
  for (int ox = 0; ox < w; ox += VL) {
    const vmask k = lanes_between (0, w - ox);
    float *col = dst + ox;
    vf above2 = none, above1 = none, row = vload_k (col, k),
        below1 = h > 1 ? vload_k (col + w, k) : none;
    for (int oy = 0; oy < h; oy++) {
      vf below2 = oy + 2 < h ? vload_k (col + (size_t) (oy + 2) * w, k) : none;
      vstore_k (col + (size_t) oy * w, vmax (vmax (vmax (above2, above1),
                  vmax (row, below1)), below2), k);
      above2 = above1;
      above1 = row;
      row = below1;
      below1 = below2;
    }
  }
}

static void
maxpool5 (rv_tensor x, rv_tensor y, int nt)
{
  maxpool_job j = { x, y };
  rv_pool_for (x.c, maxpool5_item, &j, nt);
}

/* ---- table -------------------------------------------------------------- */

static size_t
conv_scratch (const rv_conv *cv, int w_in, int h_out, int w_out, int nt)
{
  (void) w_in;
  if (cv->groups != 1)
    return dw_scratch (cv, w_out, nt);
  if (rv_conv_winograd (cv))
    return wino_scratch (cv, h_out, w_out, nt);
  if (uses_grid (cv))
    return grid_scratch (cv, h_out, w_out, nt);
  return rv_line_floats (conv_scratch_per_thread (cv, h_out, w_out, nt)) * nt;
}

static void
conv2d (const rv_conv *cv, rv_tensor x, rv_tensor y, const rv_tensor *res,
    float *scratch, int nt)
{
  if (cv->groups != 1)
    conv_dw3x3 (cv, x, y, res, scratch, nt);
  else if (rv_conv_winograd (cv))
    conv_winograd (cv, x, y, res, scratch, nt);
  else if (uses_grid (cv))
    conv_grid_gemm (cv, x, y, res, scratch, nt);
  else
    conv_gemm (cv, x, y, res, scratch, nt);
}

static size_t
ffn_scratch (const rv_conv *c0, int n, int nt)
{
  return rv_line_floats (ffn_scratch_per_thread (c0, n, nt)) * nt;
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
  .winograd = true, .conv_scratch = conv_scratch, .conv2d = conv2d,
  .ffn_scratch = ffn_scratch, .ffn = ffn, .squeeze_excite = squeeze_excite,
  .dfl_row = dfl_row, .softmax_rows = softmax_rows,
  .maxpool5 = maxpool5,
};
