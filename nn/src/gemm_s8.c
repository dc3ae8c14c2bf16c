/* gemm_s8.c — int8 GEMM micro-kernels, built once per instruction set by
 * nn/meson.build: -mavx512vnni gives rv_s8_avx512vnni (512-bit vpdpbusd),
 * -mavxvnni rv_s8_avxvnni (its 256-bit VEX form, Intel client cores).
 *
 * The layout is that of the bf16 GEMMs in ops_simd.c with quads for pairs:
 * a panel holds each column's four consecutive K values as the bytes of one
 * 32-bit word, so vpdpbusd multiplies them (u8) by a broadcast quad of one
 * weight row (s8) and adds the four products into the column's int32 lane.
 * vdot (acc += u8 quads b . s8 quads w) is inline asm: GCC 12 copies (512-bit)
 * or spills (256-bit) the accumulators of the dpbusd builtins on every step.
 * A tile ends in the f32 epilogue of ops_simd.c's tiles (simd_act.h), so the
 * outputs are written once, already activated.
 * tests/nn/test-gemm-s8 checks both against a double-precision reference. */
#include "gemm_s8.h"
#include "simd_act.h"

#include <assert.h>
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#if defined(__AVX512VNNI__)
#define MR 8
#define NV 3
typedef __m512i vi;
#define vloadi(p) _mm512_loadu_si512 (p)
#define vset1i _mm512_set1_epi32
#ifdef RV_ISA_EMULATED           /* tests/nn/isa_emulation.h: no asm there */
#define vdot(acc, b, w) ((acc) = _mm512_dpbusd_epi32 (acc, b, w))
#else
#define vdot(acc, b, w) __asm__ ("vpdpbusd %2, %1, %0" : "+v" (acc) : "v" (b), "v" (w))
#endif
#define vsubi _mm512_sub_epi32
#define vaddi _mm512_add_epi32
#define vcvt_ps _mm512_cvtepi32_ps
#define vcvt_epi32 _mm512_cvtps_epi32
#define vreduce_min _mm512_reduce_min_ps
#define vreduce_max _mm512_reduce_max_ps
/* 16 int32 codes of 0 .. 255 as bytes */
#define vbytes16(c) _mm512_cvtepi32_epi8 ((c)[0])
#define KERNELS rv_s8_avx512vnni
#define NAME "avx512-vnni"
#elif defined(__AVXVNNI__)
#define MR 6
#define NV 2
typedef __m256i vi;
#define vloadi(p) _mm256_loadu_si256 ((const __m256i *) (p))
#define vset1i _mm256_set1_epi32
#ifdef RV_ISA_EMULATED
#define vdot(acc, b, w) ((acc) = _mm256_dpbusd_avx_epi32 (acc, b, w))
#else
#define vdot(acc, b, w) __asm__ ("%{vex%} vpdpbusd %2, %1, %0" : "+x" (acc) : "x" (b), "x" (w))
#endif
#define vsubi _mm256_sub_epi32
#define vaddi _mm256_add_epi32
#define vcvt_ps _mm256_cvtepi32_ps
#define vcvt_epi32 _mm256_cvtps_epi32
static inline __m128i
vbytes16 (const __m256i c[2])
{
  return _mm_packus_epi16 (
      _mm_packus_epi32 (_mm256_castsi256_si128 (c[0]), _mm256_extracti128_si256 (c[0], 1)),
      _mm_packus_epi32 (_mm256_castsi256_si128 (c[1]), _mm256_extracti128_si256 (c[1], 1)));
}
static inline float
vreduce_min (__m256 v)
{
  __m128 m = _mm_min_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  m = _mm_min_ps (m, _mm_movehl_ps (m, m));
  return _mm_cvtss_f32 (_mm_min_ss (m, _mm_shuffle_ps (m, m, 1)));
}
static inline float
vreduce_max (__m256 v)
{
  __m128 m = _mm_max_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  m = _mm_max_ps (m, _mm_movehl_ps (m, m));
  return _mm_cvtss_f32 (_mm_max_ss (m, _mm_shuffle_ps (m, m, 1)));
}
#define KERNELS rv_s8_avxvnni
#define NAME "avx-vnni"
#else
#error "gemm_s8.c needs -mavx512vnni or -mavxvnni"
#endif
#define NR (VL * NV)

_Static_assert (MR <= RV_S8_MR_MAX, "rv_s8_tile holds RV_S8_MR_MAX rows");

/* Four K rows of 16 columns into 16 quads: interleaving bytes, then byte
 * pairs, is a 4 x 16 transpose. */
static inline void
store_quads (const __m128i r[4], uint32_t *bp)
{
  __m128i lo01 = _mm_unpacklo_epi8 (r[0], r[1]), hi01 = _mm_unpackhi_epi8 (r[0], r[1]),
      lo23 = _mm_unpacklo_epi8 (r[2], r[3]), hi23 = _mm_unpackhi_epi8 (r[2], r[3]);
  __m128i *dst = (__m128i *) bp;
  _mm_storeu_si128 (dst, _mm_unpacklo_epi16 (lo01, lo23));
  _mm_storeu_si128 (dst + 1, _mm_unpackhi_epi16 (lo01, lo23));
  _mm_storeu_si128 (dst + 2, _mm_unpacklo_epi16 (hi01, hi23));
  _mm_storeu_si128 (dst + 3, _mm_unpackhi_epi16 (hi01, hi23));
}

static void
pack (const uint8_t *x, size_t xs, int K, int n0, int n, uint32_t *bp)
{
  const int kq = (K + 3) / 4;
  for (int p = 0; p < n; p += NR, bp += (size_t) kq * NR) {
    int w = n - p < NR ? n - p : NR;
    for (int q = 0; q < kq; q++)
      for (int j = 0; j < NR; j += 16) {
        __m128i r[4];
        for (int i = 0; i < 4; i++) {
          const uint8_t *src = 4 * q + i < K && j < w
              ? x + (size_t) (4 * q + i) * xs + n0 + p + j : NULL;
          uint8_t part[16] = { 0 };
          if (src && w - j >= 16)
            r[i] = _mm_loadu_si128 ((const __m128i *) src);
          else {
            if (src)
              memcpy (part, src, w - j);
            r[i] = _mm_loadu_si128 ((const __m128i *) part);
          }
        }
        store_quads (r, bp + (size_t) q * NR + j);
      }
  }
}

static inline __m128i
lanes_between (int lo, int hi)
{
  const __m128i lane = _mm_setr_epi8 (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
      12, 13, 14, 15);
  return _mm_and_si128 (_mm_cmpgt_epi8 (lane, _mm_set1_epi8 ((char) (lo - 1))),
      _mm_cmpgt_epi8 (_mm_set1_epi8 ((char) hi), lane));
}

/* x * inv clamped to the integers [-zero, 255 - zero] (max, min return the
 * bound for NaN: their second operand), converted in the default rounding
 * mode (nearest even), plus zero: the u8 code */
typedef struct {
  vf inv, lo, hi;
  vi zero;
} u8_map;

static inline u8_map
u8_map_of (float inv, int zero)
{
  return (u8_map) { vset1 (inv), vset1 ((float) -zero),
    vset1 ((float) (255 - zero)), vset1i (zero) };
}

/* The codes of the first m <= 16 floats of x, zeros after. */
static inline __m128i
codes16 (const float *x, int m, const u8_map *u)
{
  vi c[16 / VL];
  for (int i = 0; i < 16 / VL; i++) {
    const int left = m - i * VL;
    vf v = left > 0 ? load_n (x + i * VL, left < VL ? left : VL) : vset1 (0.0f);
    c[i] = vaddi (vcvt_epi32 (vmin (vmax (v * u->inv, u->lo), u->hi)), u->zero);
  }
  const __m128i b = vbytes16 (c);
  return m < 16 ? _mm_and_si128 (b, lanes_between (0, m)) : b;
}

/* ceil (a / s) */
static inline int
ceil_div (int a, int s)
{
  return a >= 0 ? (a + s - 1) / s : -(-a / s);
}

/* 16 taps from src at a stride of s (1 or 2) bytes. */
static inline __m128i
load_taps (const uint8_t *src, int s)
{
  if (s == 1)
    return _mm_loadu_si128 ((const __m128i *) src);
  const __m128i even = _mm_set1_epi16 (0xff);   /* the even bytes of 32 */
  return _mm_packus_epi16 (
      _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) src), even),
      _mm_and_si128 (_mm_loadu_si128 ((const __m128i *) (src + 16)), even));
}

/* 16 columns at a time. Their pieces in one output row each (one where a
 * row holds all 16) are, for each of the k k taps, a load at one offset
 * into every channel's plane, of which the lanes inside the image are kept
 * (the rest stay zx); the loads may start before a row or end past it, into
 * the image's slack. */
static void
pack_im2col (const rv_u8_image *im, int K, int n0, int n, uint32_t *bp)
{
  const int kq = (K + 3) / 4, k = im->k, s = im->stride, pad = k / 2;
  const size_t plane = (size_t) im->h * im->w;
  assert (k <= RV_S8_IM2COL_K_MAX && s <= 2);
  for (int p = 0; p < n; p += NR, bp += (size_t) kq * NR)
    for (int j = 0; j < NR; j += 16) {
      const int c0 = n0 + p + j, cols = n - p - j < 16 ? n - p - j : 16;
      /* piece c: lanes [t, end) of output row oy from column ox */
      int pieces = 0;
      ptrdiff_t off[16][RV_S8_IM2COL_K_MAX * RV_S8_IM2COL_K_MAX];
      __m128i keep[16][RV_S8_IM2COL_K_MAX * RV_S8_IM2COL_K_MAX];
      for (int t = 0; t < cols; pieces++) {
        const int c = c0 + t, oy = c / im->wo, ox = c % im->wo;
        const int end = t + im->wo - ox < cols ? t + im->wo - ox : cols;
        for (int tap = 0; tap < k * k; tap++) {
          const int iy = oy * s - pad + tap / k, ix = (ox - t) * s - pad + tap % k;
          const int first = ceil_div (-ix, s), past = ceil_div (im->w - ix, s);
          const int lo = first > t ? first : t, hi = past < end ? past : end;
          const bool inside = iy >= 0 && iy < im->h && lo < hi;
          off[pieces][tap] = inside ? (ptrdiff_t) iy * im->w + ix : 0;
          keep[pieces][tap] = inside ? lanes_between (lo, hi) : _mm_setzero_si128 ();
        }
        t = end;
      }
      const __m128i outside = _mm_and_si128 (_mm_set1_epi8 ((char) im->zx),
          lanes_between (0, cols));
      const uint8_t *x = im->x;   /* the plane of row 4 q + i */
      int tap = 0;
      for (int q = 0; q < kq; q++) {
        __m128i r[4];
        for (int i = 0; i < 4; i++) {
          r[i] = 4 * q + i < K ? outside : _mm_setzero_si128 ();
          if (4 * q + i >= K)
            continue;
          for (int c = 0; c < pieces; c++)
            r[i] = _mm_blendv_epi8 (r[i], load_taps (x + off[c][tap], s),
                keep[c][tap]);
          if (++tap == k * k) {
            tap = 0;
            x += plane;
          }
        }
        store_quads (r, bp + (size_t) q * NR + j);
      }
    }
}

static inline int32_t
quad (const int8_t *a, int q)
{
  int32_t v;
  memcpy (&v, a + 4 * q, 4);
  return v;
}

static inline __attribute__ ((always_inline)) void
tile_as (const rv_s8_tile *t, int kq, const uint32_t *bp, int n, rv_act act)
{
  vi acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NV; j++)
      acc[r][j] = vset1i (0);
  const int8_t *a0 = t->a[0], *a1 = t->a[1], *a2 = t->a[2], *a3 = t->a[3],
      *a4 = t->a[4], *a5 = t->a[5];
#if MR == 8
  const int8_t *a6 = t->a[6], *a7 = t->a[7];
#endif
  for (int q = 0; q < kq; q++, bp += NR) {
    vi b[NV];
    for (int j = 0; j < NV; j++)
      b[j] = vloadi (bp + j * VL);
    /* rows spelled out, as in ops_simd.c: a loop over r leaves acc in memory */
#define ROW(r) { \
      vi w = vset1i (quad (a##r, q)); \
      for (int j = 0; j < NV; j++) { \
        vi s = acc[r][j]; \
        vdot (s, b[j], w); \
        acc[r][j] = s; \
      } \
    }
    ROW (0) ROW (1) ROW (2) ROW (3) ROW (4) ROW (5)
#if MR == 8
    ROW (6) ROW (7)
#endif
#undef ROW
  }
  /* the f32 epilogue of ops_simd.c's tiles on the registers, a row at a
   * time: the rows' chains are independent, so they overlap anyway */
  for (int r = 0; r < MR && t->c[r]; r++)
    for (int j = 0; j < NV && j * VL < n; j++) {
      int m = n - j * VL < VL ? n - j * VL : VL;
      vf v = v_act (vfma (vcvt_ps (vsubi (acc[r][j], vset1i (t->corr[r]))),
              vset1 (t->scale[r]), vset1 (t->bias[r])), act);
      store_n (t->c[r] + j * VL, add_res_n (v, t->res[r], j * VL, m), m);
    }
}

/* one tile per activation: the switch in v_act stays out of the epilogue */
static void
tile (const rv_s8_tile *t, int kq, const uint32_t *bp, int n)
{
  switch (t->act) {
    case RV_ACT_NONE: tile_as (t, kq, bp, n, RV_ACT_NONE); break;
    case RV_ACT_SILU: tile_as (t, kq, bp, n, RV_ACT_SILU); break;
    case RV_ACT_GELU: tile_as (t, kq, bp, n, RV_ACT_GELU); break;
    case RV_ACT_RELU: tile_as (t, kq, bp, n, RV_ACT_RELU); break;
    case RV_ACT_SIGMOID: tile_as (t, kq, bp, n, RV_ACT_SIGMOID); break;
  }
}

/* NaN are ignored: min and max return their second operand for them; the
 * lanes past n load as 0, which the range holds anyway. */
static void
range (const float *x, size_t n, float *lo, float *hi)
{
  vf l = vset1 (0.0f), h = vset1 (0.0f);
  for (size_t i = 0; i < n; i += VL) {
    vf v = load_n (x + i, n - i < VL ? (int) (n - i) : VL);
    l = vmin (v, l);
    h = vmax (v, h);
  }
  *lo = vreduce_min (l);
  *hi = vreduce_max (h);
}

static void
quantize (const float *x, size_t n, float inv, int zero, uint8_t *q)
{
  const u8_map u = u8_map_of (inv, zero);
  for (size_t i = 0; i < n; i += 16) {
    const int m = n - i < 16 ? (int) (n - i) : 16;
    __m128i c = codes16 (x + i, m, &u);
    if (m == 16)
      _mm_storeu_si128 ((__m128i *) (q + i), c);
    else {
      uint8_t part[16];
      _mm_storeu_si128 ((__m128i *) part, c);
      memcpy (q + i, part, (size_t) m);
    }
  }
}

/* 16 columns of four rows at a time, quantized in registers into their
 * quads; along the rows, which are longer than a panel: the panels of a
 * chunk stay in cache, the float rows stream. */
static void
quantize_pack (const float *x, size_t xs, int K, int n0, int n, float inv,
    int zero, uint32_t *bp)
{
  const int kq = (K + 3) / 4;
  const u8_map u = u8_map_of (inv, zero);
  for (int q = 0; q < kq; q++)
    for (int p = 0; p < n; p += NR)
      for (int j = 0; j < NR; j += 16) {
        const int m = n - p - j < 16 ? n - p - j : 16;
        __m128i r[4];
        for (int i = 0; i < 4; i++)
          r[i] = 4 * q + i < K && m > 0
              ? codes16 (x + (size_t) (4 * q + i) * xs + n0 + p + j, m, &u)
              : _mm_setzero_si128 ();
        store_quads (r, bp + ((size_t) p * kq + q * NR) + j);
      }
}

const rv_s8_kernels KERNELS = { NAME, MR, NR, pack, pack_im2col, tile, range,
  quantize, quantize_pack
};
