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
 * tests/nn/test-gemm-s8 checks both against a double-precision reference. */
#include "gemm_s8.h"

#include <assert.h>
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__AVX512VNNI__)
#define VL 16
#define MR 8
#define NV 3
typedef __m512i vi;
#define vload(p) _mm512_loadu_si512 (p)
#define vset1 _mm512_set1_epi32
#define vdot(acc, b, w) __asm__ ("vpdpbusd %2, %1, %0" : "+v" (acc) : "v" (b), "v" (w))
#define vaffine(acc, corr, scale, bias) _mm512_fmadd_ps (_mm512_cvtepi32_ps ( \
      _mm512_sub_epi32 (acc, _mm512_set1_epi32 (corr))), _mm512_set1_ps (scale), \
      _mm512_set1_ps (bias))
#define vstore_m(p, v, m) _mm512_mask_storeu_ps (p, (__mmask16) ((1u << (m)) - 1), v)
typedef __m512 vf;
#define vloadf _mm512_loadu_ps
#define vsetf _mm512_set1_ps
#define vminf _mm512_min_ps
#define vmaxf _mm512_max_ps
#define vmulf _mm512_mul_ps
#define vadd _mm512_add_epi32
#define vcvt _mm512_cvtps_epi32
#define vreduce_min _mm512_reduce_min_ps
#define vreduce_max _mm512_reduce_max_ps
#define vstore_u8(p, v) _mm_storeu_si128 ((__m128i *) (p), _mm512_cvtepi32_epi8 (v))
#define KERNELS rv_s8_avx512vnni
#define NAME "avx512-vnni"
#elif defined(__AVXVNNI__)
#define VL 8
#define MR 6
#define NV 2
typedef __m256i vi;
#define vload(p) _mm256_loadu_si256 ((const __m256i *) (p))
#define vset1 _mm256_set1_epi32
#define vdot(acc, b, w) __asm__ ("%{vex%} vpdpbusd %2, %1, %0" : "+x" (acc) : "x" (b), "x" (w))
#define vaffine(acc, corr, scale, bias) _mm256_fmadd_ps (_mm256_cvtepi32_ps ( \
      _mm256_sub_epi32 (acc, _mm256_set1_epi32 (corr))), _mm256_set1_ps (scale), \
      _mm256_set1_ps (bias))
#define vstore_m(p, v, m) _mm256_maskstore_ps (p, _mm256_cmpgt_epi32 ( \
      _mm256_set1_epi32 (m), _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7)), v)
typedef __m256 vf;
#define vloadf _mm256_loadu_ps
#define vsetf _mm256_set1_ps
#define vminf _mm256_min_ps
#define vmaxf _mm256_max_ps
#define vmulf _mm256_mul_ps
#define vadd _mm256_add_epi32
#define vcvt _mm256_cvtps_epi32
#define vstore_u8(p, v) _mm_storel_epi64 ((__m128i *) (p), _mm_packus_epi16 ( \
      _mm_packus_epi32 (_mm256_castsi256_si128 (v), _mm256_extracti128_si256 (v, 1)), \
      _mm_setzero_si128 ()))
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

static void
tile (const rv_s8_tile *t, int kq, const uint32_t *bp, int n)
{
  vi acc[MR][NV];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NV; j++)
      acc[r][j] = vset1 (0);
  const int8_t *a0 = t->a[0], *a1 = t->a[1], *a2 = t->a[2], *a3 = t->a[3],
      *a4 = t->a[4], *a5 = t->a[5];
#if MR == 8
  const int8_t *a6 = t->a[6], *a7 = t->a[7];
#endif
  for (int q = 0; q < kq; q++, bp += NR) {
    vi b[NV];
    for (int j = 0; j < NV; j++)
      b[j] = vload (bp + j * VL);
    /* rows spelled out, as in ops_simd.c: a loop over r leaves acc in memory */
#define ROW(r) { \
      vi w = vset1 (quad (a##r, q)); \
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
  for (int r = 0; r < MR && t->c[r]; r++)
    for (int j = 0; j < NV && j * VL < n; j++) {
      int m = n - j * VL < VL ? n - j * VL : VL;
      vstore_m (t->c[r] + j * VL,
          vaffine (acc[r][j], t->corr[r], t->scale[r], t->bias[r]), m);
    }
}

static void
range (const float *x, size_t n, float *lo, float *hi)
{
  vf l = vsetf (0.0f), h = vsetf (0.0f);
  size_t i = 0;
  for (; i + VL <= n; i += VL) {
    l = vminf (vloadf (x + i), l);
    h = vmaxf (vloadf (x + i), h);
  }
  float a = vreduce_min (l), b = vreduce_max (h);
  for (; i < n; i++) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *lo = a;
  *hi = b;
}

/* x * inv clamped to the integers [-zero, 255 - zero] (max, min return the
 * bound for NaN: their second operand), converted in the default rounding
 * mode (nearest even) */
static void
quantize (const float *x, size_t n, float inv, int zero, uint8_t *q)
{
  const vf s = vsetf (inv), a = vsetf ((float) -zero), b = vsetf ((float) (255 - zero));
  const vi z = vset1 (zero);
  size_t i = 0;
  for (; i + VL <= n; i += VL)
    vstore_u8 (q + i, vadd (vcvt (vminf (vmaxf (vmulf (vloadf (x + i), s), a), b)), z));
  for (; i < n; i++) {
    float v = x[i] * inv;
    v = v > -zero ? v : -zero;
    v = v < 255 - zero ? v : 255 - zero;
    q[i] = (uint8_t) (lrintf (v) + zero);
  }
}

/* 16 columns of four rows at a time through quantize, into their quads;
 * along the rows, which are longer than a panel: the panels of a chunk
 * stay in cache, the float rows stream. */
static void
quantize_pack (const float *x, size_t xs, int K, int n0, int n, float inv,
    int zero, uint32_t *bp)
{
  const int kq = (K + 3) / 4;
  for (int q = 0; q < kq; q++)
    for (int p = 0; p < n; p += NR)
      for (int j = 0; j < NR; j += 16) {
        const int m = n - p - j < 16 ? n - p - j : 16;
        uint8_t part[4][16];
        __m128i r[4];
        for (int i = 0; i < 4; i++) {
          const float *src = x + (size_t) (4 * q + i) * xs + n0 + p + j;
          if (4 * q + i < K && m == 16)
            quantize (src, 16, inv, zero, part[i]);
          else {
            memset (part[i], 0, 16);
            if (4 * q + i < K && m > 0)
              quantize (src, m, inv, zero, part[i]);
          }
          r[i] = _mm_loadu_si128 ((const __m128i *) part[i]);
        }
        store_quads (r, bp + ((size_t) p * kq + q * NR) + j);
      }
}

const rv_s8_kernels KERNELS = { NAME, MR, NR, pack, pack_im2col, tile, range,
  quantize, quantize_pack
};
