/* isa_emulation.h — the AVX-512 (F, BW, BF16, VNNI) and AVX-VNNI intrinsics
 * the kernels use, in C on AVX2 and GCC vector types, so that the kernels
 * built for those instruction sets run, and are tested, on any x86-64 core
 * with AVX2 + FMA (tests/nn/meson.build: the "emulated" test programs).
 *
 * Force-included (-include) into every file of the emulated build, after
 * <immintrin.h> (whose own functions, for -mavx512*, stay unused), it
 *  - makes __builtin_cpu_supports answer yes for the emulated sets (the
 *    kernel tables are then chosen as on a Zen 4/5 or Sapphire Rapids core);
 *  - in a kernel file built with -DRV_EMULATE_<SET>, defines that set's
 *    feature macro and replaces its intrinsics by the functions below.
 *
 * Each function follows the instruction's operation in the Intel SDM,
 * including what the kernels rely on: masked loads read no byte of a
 * masked-off lane (ASan checks it here), vcvtne2ps2bf16 rounds to nearest
 * even and flushes denormals, vrcp14ps is only 14 bits exact (the kernels'
 * Newton step must make up the rest), vpdpbusd wraps. The kernel files are
 * built with -mavx2 -mfma, so a lane-wise 512-bit operation is the AVX2 one
 * on each 256-bit half (the same lanes, rounding and NaN rules), and the
 * emulated kernels run a few times slower than the real ones, not a hundred. */
#ifndef RV_ISA_EMULATION_H
#define RV_ISA_EMULATION_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- the CPU's answer ---------------------------------------------------- */

/* The emulated kernels are built with -mavx2 -mfma: they need those for real. */
static inline int
rv_emulated_isa (const char *feature)
{
  static const char *const emulated[] = { "avx512f", "avx512bw",
    "avx512bf16", "avx512vnni", "avxvnni"
  };
  for (size_t i = 0; i < sizeof emulated / sizeof emulated[0]; i++)
    if (strcmp (feature, emulated[i]) == 0)
      return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
  return 0;
}

/* (a macro's own name is not replaced again in its expansion: the second
 * call is the compiler's builtin) */
#define __builtin_cpu_supports(feature) \
  (rv_emulated_isa (feature) || __builtin_cpu_supports (feature))

/* ---- the intrinsics ------------------------------------------------------ */

#if defined(RV_EMULATE_AVX512F) || defined(RV_EMULATE_AVX512BF16) \
  || defined(RV_EMULATE_AVX512VNNI) || defined(RV_EMULATE_AVXVNNI)

/* gemm_s8.c takes the dot-product intrinsic instead of its inline asm */
#define RV_ISA_EMULATED 1

#define RV_EMU static inline __attribute__ ((always_inline, unused))

typedef int rv_emu_i32x16 __attribute__ ((vector_size (64)));
typedef short rv_emu_i16x32 __attribute__ ((vector_size (64)));
typedef unsigned short rv_emu_u16x32 __attribute__ ((vector_size (64)));

/* a 512-bit register and its two 256-bit halves */
typedef union
{
  __m512 ps;
  __m512i si;
  __m256 ps2[2];
  __m256i si2[2];
} rv_emu_zmm;

/* a lane-wise operation of one, two or three 512-bit operands: the AVX2
 * one on each half (the same lanes, rounding and NaN rules) */
#define RV_EMU_CONVERT(name, to_type, to, from_type, from, avx2) \
  RV_EMU to_type rv_emu_##name (from_type a) \
  { \
    rv_emu_zmm x = {.from = a }; \
    for (int h = 0; h < 2; h++) \
      x.to##2[h] = avx2 (x.from##2[h]); \
    return x.to; \
  }
#define RV_EMU_HALVES2(name, type, field, avx2) \
  RV_EMU type rv_emu_##name (type a, type b) \
  { \
    rv_emu_zmm x = {.field = a }, y = {.field = b }; \
    for (int h = 0; h < 2; h++) \
      x.field##2[h] = avx2 (x.field##2[h], y.field##2[h]); \
    return x.field; \
  }
#define RV_EMU_HALVES3(name, type, field, avx2) \
  RV_EMU type rv_emu_##name (type a, type b, type c) \
  { \
    rv_emu_zmm x = {.field = a }, y = {.field = b }, z = {.field = c }; \
    for (int h = 0; h < 2; h++) \
      x.field##2[h] = avx2 (x.field##2[h], y.field##2[h], z.field##2[h]); \
    return x.field; \
  }

/* vpdpbusd on 8 lanes: src + the four u8 x s8 products of each lane's
 * bytes, exact in 16 bits and summed in 32 (vpmaddubsw would saturate),
 * the last add wrapping */
RV_EMU __m256i
rv_emu_dpbusd8 (__m256i src, __m256i a, __m256i b)
{
  /* lanes 0-3, then 4-7: pairs of products summed, [l0 b01, l0 b23, ...] */
  __m256i lo = _mm256_madd_epi16 (
      _mm256_cvtepu8_epi16 (_mm256_castsi256_si128 (a)),
      _mm256_cvtepi8_epi16 (_mm256_castsi256_si128 (b)));
  __m256i hi = _mm256_madd_epi16 (
      _mm256_cvtepu8_epi16 (_mm256_extracti128_si256 (a, 1)),
      _mm256_cvtepi8_epi16 (_mm256_extracti128_si256 (b, 1)));
  /* hadd per 128 bits gives lanes 0 1 4 5 | 2 3 6 7 */
  __m256i sums = _mm256_permute4x64_epi64 (_mm256_hadd_epi32 (lo, hi),
      _MM_SHUFFLE (3, 1, 2, 0));
  return _mm256_add_epi32 (src, sums);
}

#ifdef RV_EMULATE_AVXVNNI
#define __AVXVNNI__ 1
#define _mm256_dpbusd_avx_epi32 rv_emu_dpbusd8
#else /* the 512-bit sets */

#define __AVX512F__ 1
#ifdef RV_EMULATE_AVX512BF16
#define __AVX512BW__ 1
#define __AVX512BF16__ 1
#endif
#ifdef RV_EMULATE_AVX512VNNI
#define __AVX512VNNI__ 1
#endif

/* unaligned loads and stores, as memcpy */
#define RV_EMU_LOAD(name, type) \
  RV_EMU type rv_emu_##name (const void *p) \
  { \
    type v; \
    memcpy (&v, p, sizeof v); \
    return v; \
  }
#define RV_EMU_STORE(name, type) \
  RV_EMU void rv_emu_##name (void *p, type v) \
  { \
    memcpy (p, &v, sizeof v); \
  }
#define _mm512_loadu_ps rv_emu_mm512_loadu_ps
RV_EMU_LOAD (mm512_loadu_ps, __m512)
#define _mm512_loadu_si512 rv_emu_mm512_loadu_si512
RV_EMU_LOAD (mm512_loadu_si512, __m512i)
#define _mm512_storeu_ps rv_emu_mm512_storeu_ps
RV_EMU_STORE (mm512_storeu_ps, __m512)
#define _mm512_storeu_si512 rv_emu_mm512_storeu_si512
RV_EMU_STORE (mm512_storeu_si512, __m512i)

/* masked-off lanes are neither read nor written */
#define _mm512_maskz_loadu_ps rv_emu_mm512_maskz_loadu_ps
RV_EMU __m512
rv_emu_mm512_maskz_loadu_ps (__mmask16 k, const void *p)
{
  __m512 v = { 0 };
  for (int i = 0; i < 16; i++)
    if (k >> i & 1)
      memcpy ((float *) &v + i, (const float *) p + i, sizeof (float));
  return v;
}

/* the 32-bit lanes of v in k to p */
RV_EMU void
rv_emu_mask_store32 (void *p, __mmask16 k, const void *v)
{
  for (int i = 0; i < 16; i++)
    if (k >> i & 1)
      memcpy ((char *) p + 4 * i, (const char *) v + 4 * i, 4);
}
#define _mm512_mask_storeu_ps(p, k, v) rv_emu_mask_store32 (p, k, (__m512[]) { v })
#define _mm512_mask_storeu_epi32(p, k, v) rv_emu_mask_store32 (p, k, (__m512i[]) { v })

#define _mm512_set1_ps rv_emu_mm512_set1_ps
RV_EMU __m512
rv_emu_mm512_set1_ps (float x)
{
  return (__m512) { x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x };
}

#undef _mm512_setr_ps
#define _mm512_setr_ps(...) ((__m512) { __VA_ARGS__ })
#undef _mm512_setr_epi32
#define _mm512_setr_epi32(...) ((__m512i) (rv_emu_i32x16) { __VA_ARGS__ })

#define _mm512_set1_epi32 rv_emu_mm512_set1_epi32
RV_EMU __m512i
rv_emu_mm512_set1_epi32 (int x)
{
  return (__m512i) (rv_emu_i32x16) { x, x, x, x, x, x, x, x, x, x, x, x, x, x,
    x, x
  };
}

#define _mm512_add_epi32 rv_emu_mm512_add_epi32
RV_EMU_HALVES2 (mm512_add_epi32, __m512i, si, _mm256_add_epi32)

#define _mm512_sub_epi32 rv_emu_mm512_sub_epi32
RV_EMU_HALVES2 (mm512_sub_epi32, __m512i, si, _mm256_sub_epi32)

/* vmaxps / vminps: the second operand where either is NaN or both are 0 */
#define _mm512_max_ps rv_emu_mm512_max_ps
RV_EMU_HALVES2 (mm512_max_ps, __m512, ps, _mm256_max_ps)

#define _mm512_min_ps rv_emu_mm512_min_ps
RV_EMU_HALVES2 (mm512_min_ps, __m512, ps, _mm256_min_ps)

#define _mm512_fmadd_ps rv_emu_mm512_fmadd_ps
RV_EMU_HALVES3 (mm512_fmadd_ps, __m512, ps, _mm256_fmadd_ps)

#define _mm512_fnmadd_ps rv_emu_mm512_fnmadd_ps
RV_EMU_HALVES3 (mm512_fnmadd_ps, __m512, ps, _mm256_fnmadd_ps)

/* 1/x to 14 bits: the exact reciprocal with its mantissa cut to 14 bits
 * (relative error < 2^-14, vrcp14ps's bound) */
#define _mm512_rcp14_ps rv_emu_mm512_rcp14_ps
RV_EMU __m512
rv_emu_mm512_rcp14_ps (__m512 a)
{
  for (int i = 0; i < 16; i++) {
    float r = 1.0f / a[i];
    uint32_t bits;
    memcpy (&bits, &r, sizeof bits);
    if ((bits & 0x7f800000u) != 0x7f800000u)
      bits &= ~((1u << (23 - 14)) - 1);
    memcpy (&r, &bits, sizeof bits);
    a[i] = r;
  }
  return a;
}

/* only the mode the kernels use: to nearest even, no exceptions */
#undef _mm512_roundscale_ps
#define _mm512_roundscale_ps(a, mode) rv_emu_mm512_roundscale_ps (a, mode)
RV_EMU __m512
rv_emu_mm512_roundscale_ps (__m512 a, int mode)
{
  (void) mode;
  rv_emu_zmm x = {.ps = a };
  for (int h = 0; h < 2; h++)
    x.ps2[h] = _mm256_round_ps (x.ps2[h], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  return x.ps;
}

/* a 2^floor(b) */
#define _mm512_scalef_ps rv_emu_mm512_scalef_ps
RV_EMU __m512
rv_emu_mm512_scalef_ps (__m512 a, __m512 b)
{
  for (int i = 0; i < 16; i++)
    a[i] = ldexpf (a[i], (int) floorf (b[i]));
  return a;
}

#define _mm512_reduce_min_ps rv_emu_mm512_reduce_min_ps
RV_EMU float
rv_emu_mm512_reduce_min_ps (__m512 a)
{
  float m = a[0];
  for (int i = 1; i < 16; i++)
    m = a[i] < m ? a[i] : m;
  return m;
}

#define _mm512_reduce_max_ps rv_emu_mm512_reduce_max_ps
RV_EMU float
rv_emu_mm512_reduce_max_ps (__m512 a)
{
  float m = a[0];
  for (int i = 1; i < 16; i++)
    m = a[i] > m ? a[i] : m;
  return m;
}

/* lane i: (idx bit 4 ? b : a)[idx & 15]; per half of the result, each of
 * the four halves of a and b permuted by the low 3 bits, then chosen by
 * bits 3 and 4 */
#define _mm512_permutex2var_ps rv_emu_mm512_permutex2var_ps
RV_EMU __m512
rv_emu_mm512_permutex2var_ps (__m512 a, __m512i idx, __m512 b)
{
  rv_emu_zmm x = {.ps = a }, y = {.ps = b }, ix = {.si = idx }, r;
  for (int h = 0; h < 2; h++) {
    __m256i i = ix.si2[h];
    __m256 bit3 = _mm256_castsi256_ps (_mm256_slli_epi32 (i, 31 - 3));
    __m256 bit4 = _mm256_castsi256_ps (_mm256_slli_epi32 (i, 31 - 4));
    __m256 from_a = _mm256_blendv_ps (_mm256_permutevar8x32_ps (x.ps2[0], i),
        _mm256_permutevar8x32_ps (x.ps2[1], i), bit3);
    __m256 from_b = _mm256_blendv_ps (_mm256_permutevar8x32_ps (y.ps2[0], i),
        _mm256_permutevar8x32_ps (y.ps2[1], i), bit3);
    r.ps2[h] = _mm256_blendv_ps (from_a, from_b, bit4);
  }
  return r.ps;
}

/* lane i: a[idx & 15] */
#define _mm512_permutexvar_ps rv_emu_mm512_permutexvar_ps
RV_EMU __m512
rv_emu_mm512_permutexvar_ps (__m512i idx, __m512 a)
{
  return rv_emu_mm512_permutex2var_ps (a, idx, a);
}

/* lane i: k bit i ? b : a */
#define _mm512_mask_blend_ps rv_emu_mm512_mask_blend_ps
RV_EMU __m512
rv_emu_mm512_mask_blend_ps (__mmask16 k, __m512 a, __m512 b)
{
  for (int i = 0; i < 16; i++)
    a[i] = (k >> i & 1) ? b[i] : a[i];
  return a;
}

#define _mm512_maskz_mov_ps rv_emu_mm512_maskz_mov_ps
RV_EMU __m512
rv_emu_mm512_maskz_mov_ps (__mmask16 k, __m512 a)
{
  for (int i = 0; i < 16; i++)
    a[i] = (k >> i & 1) ? a[i] : 0.0f;
  return a;
}

#define _mm512_cvtepi32_ps rv_emu_mm512_cvtepi32_ps
RV_EMU_CONVERT (mm512_cvtepi32_ps, __m512, ps, __m512i, si, _mm256_cvtepi32_ps)

/* to nearest even; NaN and out of range give INT32_MIN ("integer
 * indefinite"), as in AVX2 */
#define _mm512_cvtps_epi32 rv_emu_mm512_cvtps_epi32
RV_EMU_CONVERT (mm512_cvtps_epi32, __m512i, si, __m512, ps, _mm256_cvtps_epi32)

/* vpmovdb: the low byte of each lane */
#define _mm512_cvtepi32_epi8 rv_emu_mm512_cvtepi32_epi8
RV_EMU __m128i
rv_emu_mm512_cvtepi32_epi8 (__m512i a)
{
  rv_emu_i32x16 x = (rv_emu_i32x16) a;
  unsigned char b[16];
  for (int i = 0; i < 16; i++)
    b[i] = (unsigned char) x[i];
  __m128i r;
  memcpy (&r, b, sizeof r);
  return r;
}

#ifdef RV_EMULATE_AVX512BF16
#define _mm512_permutexvar_epi16 rv_emu_mm512_permutexvar_epi16
RV_EMU __m512i
rv_emu_mm512_permutexvar_epi16 (__m512i idx, __m512i a)
{
  rv_emu_i16x32 ix = (rv_emu_i16x32) idx, x = (rv_emu_i16x32) a, r;
  for (int i = 0; i < 32; i++)
    r[i] = x[ix[i] & 31];
  return (__m512i) r;
}

/* f32 to bf16: to nearest even, denormals to zero, NaN stays NaN */
RV_EMU unsigned short
rv_emu_bf16 (float x)
{
  uint32_t u;
  memcpy (&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0)
    return (unsigned short) (u >> 16 & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (unsigned short) (u >> 16 | 0x40u);
  return (unsigned short) ((u + 0x7fffu + (u >> 16 & 1)) >> 16);
}

/* lanes 0-15 from b, 16-31 from a */
#define _mm512_cvtne2ps_pbh rv_emu_mm512_cvtne2ps_pbh
RV_EMU __m512bh
rv_emu_mm512_cvtne2ps_pbh (__m512 a, __m512 b)
{
  rv_emu_u16x32 r;
  for (int i = 0; i < 16; i++) {
    r[i] = rv_emu_bf16 (b[i]);
    r[i + 16] = rv_emu_bf16 (a[i]);
  }
  return (__m512bh) r;
}

/* the bf16 numbers in the high halves of 8 lanes (low halves 0) as f32,
 * denormals as zero */
RV_EMU __m256
rv_emu_f32_of_bf16_high (__m256i x)
{
  __m256i denormal = _mm256_cmpeq_epi32 (_mm256_and_si256 (x,
          _mm256_set1_epi32 (0x7f800000)), _mm256_setzero_si256 ());
  return _mm256_castsi256_ps (_mm256_andnot_si256 (denormal, x));
}

/* src + a[2i+1] b[2i+1] + a[2i] b[2i], added in that order (each bf16
 * product is exact in f32) */
#define _mm512_dpbf16_ps rv_emu_mm512_dpbf16_ps
RV_EMU __m512
rv_emu_mm512_dpbf16_ps (__m512 src, __m512bh a, __m512bh b)
{
  rv_emu_zmm s = {.ps = src }, x = {.si = (__m512i) a }, y = {.si = (__m512i) b };
  const __m256i high = _mm256_set1_epi32 ((int) 0xffff0000u);
  for (int h = 0; h < 2; h++) {
    __m256 odd = _mm256_mul_ps (
        rv_emu_f32_of_bf16_high (_mm256_and_si256 (x.si2[h], high)),
        rv_emu_f32_of_bf16_high (_mm256_and_si256 (y.si2[h], high)));
    __m256 even = _mm256_mul_ps (
        rv_emu_f32_of_bf16_high (_mm256_slli_epi32 (x.si2[h], 16)),
        rv_emu_f32_of_bf16_high (_mm256_slli_epi32 (y.si2[h], 16)));
    s.ps2[h] = _mm256_add_ps (_mm256_add_ps (s.ps2[h], odd), even);
  }
  return s.ps;
}
#endif /* RV_EMULATE_AVX512BF16 */

#ifdef RV_EMULATE_AVX512VNNI
#define _mm512_dpbusd_epi32 rv_emu_mm512_dpbusd_epi32
RV_EMU_HALVES3 (mm512_dpbusd_epi32, __m512i, si, rv_emu_dpbusd8)
#endif

#endif /* the 512-bit sets */
#endif /* a kernel file */
#endif
