/* isa_emulation.h — the AVX-512 (F, BW, BF16, VNNI) and AVX-VNNI intrinsics
 * the kernels use, in portable C on GCC vector types, so that the kernels
 * built for those instruction sets run, and are tested, on any x86-64 core
 * with AVX2 + FMA (tests/nn/meson.build: the "emulated" test programs).
 *
 * Force-included (-include) into every file of the emulated build, it
 *  - makes __builtin_cpu_supports answer yes for the emulated sets (the
 *    kernel tables are then chosen as on a Zen 4/5 or Sapphire Rapids core);
 *  - in a kernel file built with -DRV_EMULATE_<SET>, defines that set's
 *    feature macro and replaces its intrinsics by the functions below.
 *
 * Each function follows the instruction's operation in the Intel SDM lane
 * by lane, including what the kernels rely on: masked loads read no byte of
 * a masked-off lane (ASan checks it here), vcvtne2ps2bf16 rounds to nearest
 * even and flushes denormals, vrcp14ps is only 14 bits exact (the kernels'
 * Newton step must make up the rest), vpdpbusd wraps. */
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
typedef int rv_emu_i32x8 __attribute__ ((vector_size (32)));

/* four u8 x s8 products of the bytes of one 32-bit lane, added to acc */
RV_EMU int32_t
rv_emu_dot4 (int32_t acc, const unsigned char *u, const signed char *s)
{
  int32_t sum = 0;
  for (int b = 0; b < 4; b++)
    sum += (int32_t) u[b] * (int32_t) s[b];
  return (int32_t) ((uint32_t) acc + (uint32_t) sum);   /* wraps */
}

#ifdef RV_EMULATE_AVXVNNI
#define __AVXVNNI__ 1
#undef _mm256_dpbusd_avx_epi32
#define _mm256_dpbusd_avx_epi32 rv_emu_mm256_dpbusd_avx_epi32
RV_EMU __m256i
rv_emu_mm256_dpbusd_avx_epi32 (__m256i src, __m256i a, __m256i b)
{
  rv_emu_i32x8 s = (rv_emu_i32x8) src;
  unsigned char ub[32];
  signed char wb[32];
  memcpy (ub, &a, 32);
  memcpy (wb, &b, 32);
  for (int i = 0; i < 8; i++)
    s[i] = rv_emu_dot4 (s[i], ub + 4 * i, wb + 4 * i);
  return (__m256i) s;
}
#else /* the 512-bit sets */

#define __AVX512F__ 1
#ifdef RV_EMULATE_AVX512BF16
#define __AVX512BW__ 1
#define __AVX512BF16__ 1
#endif
#ifdef RV_EMULATE_AVX512VNNI
#define __AVX512VNNI__ 1
#endif

#undef _mm512_loadu_ps
#define _mm512_loadu_ps rv_emu_mm512_loadu_ps
RV_EMU __m512
rv_emu_mm512_loadu_ps (const void *p)
{
  __m512 v;
  memcpy (&v, p, sizeof v);
  return v;
}

#undef _mm512_storeu_ps
#define _mm512_storeu_ps rv_emu_mm512_storeu_ps
RV_EMU void
rv_emu_mm512_storeu_ps (void *p, __m512 v)
{
  memcpy (p, &v, sizeof v);
}

#undef _mm512_loadu_si512
#define _mm512_loadu_si512 rv_emu_mm512_loadu_si512
RV_EMU __m512i
rv_emu_mm512_loadu_si512 (const void *p)
{
  __m512i v;
  memcpy (&v, p, sizeof v);
  return v;
}

#undef _mm512_storeu_si512
#define _mm512_storeu_si512 rv_emu_mm512_storeu_si512
RV_EMU void
rv_emu_mm512_storeu_si512 (void *p, __m512i v)
{
  memcpy (p, &v, sizeof v);
}

/* masked-off lanes are neither read nor written */
#undef _mm512_maskz_loadu_ps
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

#undef _mm512_mask_storeu_ps
#define _mm512_mask_storeu_ps rv_emu_mm512_mask_storeu_ps
RV_EMU void
rv_emu_mm512_mask_storeu_ps (void *p, __mmask16 k, __m512 v)
{
  for (int i = 0; i < 16; i++)
    if (k >> i & 1)
      memcpy ((float *) p + i, (float *) &v + i, sizeof (float));
}

#undef _mm512_mask_storeu_epi32
#define _mm512_mask_storeu_epi32 rv_emu_mm512_mask_storeu_epi32
RV_EMU void
rv_emu_mm512_mask_storeu_epi32 (void *p, __mmask16 k, __m512i v)
{
  for (int i = 0; i < 16; i++)
    if (k >> i & 1)
      memcpy ((int32_t *) p + i, (int32_t *) &v + i, sizeof (int32_t));
}

#undef _mm512_set1_ps
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

#undef _mm512_set1_epi32
#define _mm512_set1_epi32 rv_emu_mm512_set1_epi32
RV_EMU __m512i
rv_emu_mm512_set1_epi32 (int x)
{
  return (__m512i) (rv_emu_i32x16) { x, x, x, x, x, x, x, x, x, x, x, x, x, x,
    x, x
  };
}

#undef _mm512_add_epi32
#define _mm512_add_epi32 rv_emu_mm512_add_epi32
RV_EMU __m512i
rv_emu_mm512_add_epi32 (__m512i a, __m512i b)
{
  return (__m512i) ((rv_emu_i32x16) a + (rv_emu_i32x16) b);
}

#undef _mm512_sub_epi32
#define _mm512_sub_epi32 rv_emu_mm512_sub_epi32
RV_EMU __m512i
rv_emu_mm512_sub_epi32 (__m512i a, __m512i b)
{
  return (__m512i) ((rv_emu_i32x16) a - (rv_emu_i32x16) b);
}

/* vmaxps / vminps: the second operand where either is NaN or both are 0 */
#undef _mm512_max_ps
#define _mm512_max_ps rv_emu_mm512_max_ps
RV_EMU __m512
rv_emu_mm512_max_ps (__m512 a, __m512 b)
{
  for (int i = 0; i < 16; i++)
    a[i] = a[i] > b[i] ? a[i] : b[i];
  return a;
}

#undef _mm512_min_ps
#define _mm512_min_ps rv_emu_mm512_min_ps
RV_EMU __m512
rv_emu_mm512_min_ps (__m512 a, __m512 b)
{
  for (int i = 0; i < 16; i++)
    a[i] = a[i] < b[i] ? a[i] : b[i];
  return a;
}

#undef _mm512_fmadd_ps
#define _mm512_fmadd_ps rv_emu_mm512_fmadd_ps
RV_EMU __m512
rv_emu_mm512_fmadd_ps (__m512 a, __m512 b, __m512 c)
{
  for (int i = 0; i < 16; i++)
    a[i] = fmaf (a[i], b[i], c[i]);
  return a;
}

#undef _mm512_fnmadd_ps
#define _mm512_fnmadd_ps rv_emu_mm512_fnmadd_ps
RV_EMU __m512
rv_emu_mm512_fnmadd_ps (__m512 a, __m512 b, __m512 c)
{
  for (int i = 0; i < 16; i++)
    a[i] = fmaf (-a[i], b[i], c[i]);
  return a;
}

/* 1/x to 14 bits: the exact reciprocal with its mantissa cut to 14 bits
 * (relative error < 2^-14, vrcp14ps's bound) */
#undef _mm512_rcp14_ps
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
  for (int i = 0; i < 16; i++)
    a[i] = nearbyintf (a[i]);
  return a;
}

/* a 2^floor(b) */
#undef _mm512_scalef_ps
#define _mm512_scalef_ps rv_emu_mm512_scalef_ps
RV_EMU __m512
rv_emu_mm512_scalef_ps (__m512 a, __m512 b)
{
  for (int i = 0; i < 16; i++)
    a[i] = ldexpf (a[i], (int) floorf (b[i]));
  return a;
}

#undef _mm512_reduce_min_ps
#define _mm512_reduce_min_ps rv_emu_mm512_reduce_min_ps
RV_EMU float
rv_emu_mm512_reduce_min_ps (__m512 a)
{
  float m = a[0];
  for (int i = 1; i < 16; i++)
    m = a[i] < m ? a[i] : m;
  return m;
}

#undef _mm512_reduce_max_ps
#define _mm512_reduce_max_ps rv_emu_mm512_reduce_max_ps
RV_EMU float
rv_emu_mm512_reduce_max_ps (__m512 a)
{
  float m = a[0];
  for (int i = 1; i < 16; i++)
    m = a[i] > m ? a[i] : m;
  return m;
}

/* lane i: (idx bit 4 ? b : a)[idx & 15] */
#undef _mm512_permutex2var_ps
#define _mm512_permutex2var_ps rv_emu_mm512_permutex2var_ps
RV_EMU __m512
rv_emu_mm512_permutex2var_ps (__m512 a, __m512i idx, __m512 b)
{
  rv_emu_i32x16 ix = (rv_emu_i32x16) idx;
  __m512 r;
  for (int i = 0; i < 16; i++)
    r[i] = (ix[i] & 16) ? b[ix[i] & 15] : a[ix[i] & 15];
  return r;
}

#undef _mm512_permutexvar_ps
#define _mm512_permutexvar_ps rv_emu_mm512_permutexvar_ps
RV_EMU __m512
rv_emu_mm512_permutexvar_ps (__m512i idx, __m512 a)
{
  rv_emu_i32x16 ix = (rv_emu_i32x16) idx;
  __m512 r;
  for (int i = 0; i < 16; i++)
    r[i] = a[ix[i] & 15];
  return r;
}

/* lane i: k bit i ? b : a */
#undef _mm512_mask_blend_ps
#define _mm512_mask_blend_ps rv_emu_mm512_mask_blend_ps
RV_EMU __m512
rv_emu_mm512_mask_blend_ps (__mmask16 k, __m512 a, __m512 b)
{
  for (int i = 0; i < 16; i++)
    a[i] = (k >> i & 1) ? b[i] : a[i];
  return a;
}

#undef _mm512_maskz_mov_ps
#define _mm512_maskz_mov_ps rv_emu_mm512_maskz_mov_ps
RV_EMU __m512
rv_emu_mm512_maskz_mov_ps (__mmask16 k, __m512 a)
{
  for (int i = 0; i < 16; i++)
    a[i] = (k >> i & 1) ? a[i] : 0.0f;
  return a;
}

#undef _mm512_cvtepi32_ps
#define _mm512_cvtepi32_ps rv_emu_mm512_cvtepi32_ps
RV_EMU __m512
rv_emu_mm512_cvtepi32_ps (__m512i a)
{
  rv_emu_i32x16 x = (rv_emu_i32x16) a;
  __m512 r;
  for (int i = 0; i < 16; i++)
    r[i] = (float) x[i];
  return r;
}

/* to nearest even; NaN and out of range give INT32_MIN ("integer
 * indefinite") */
#undef _mm512_cvtps_epi32
#define _mm512_cvtps_epi32 rv_emu_mm512_cvtps_epi32
RV_EMU __m512i
rv_emu_mm512_cvtps_epi32 (__m512 a)
{
  rv_emu_i32x16 r;
  for (int i = 0; i < 16; i++) {
    float x = nearbyintf (a[i]);
    r[i] = x >= -2147483648.0f && x < 2147483648.0f ? (int) x : INT32_MIN;
  }
  return (__m512i) r;
}

/* vpmovdb: the low byte of each lane */
#undef _mm512_cvtepi32_epi8
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
#undef _mm512_permutexvar_epi16
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

RV_EMU float
rv_emu_f32_of_bf16 (unsigned short h)
{
  uint32_t u = (uint32_t) h << 16;
  if ((u & 0x7f800000u) == 0)
    u &= 0x80000000u;           /* denormals as zero */
  float x;
  memcpy (&x, &u, sizeof x);
  return x;
}

/* lanes 0-15 from b, 16-31 from a */
#undef _mm512_cvtne2ps_pbh
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

/* src + a[2i+1] b[2i+1] + a[2i] b[2i], added in that order (each bf16
 * product is exact in f32) */
#undef _mm512_dpbf16_ps
#define _mm512_dpbf16_ps rv_emu_mm512_dpbf16_ps
RV_EMU __m512
rv_emu_mm512_dpbf16_ps (__m512 src, __m512bh a, __m512bh b)
{
  rv_emu_u16x32 x = (rv_emu_u16x32) a, y = (rv_emu_u16x32) b;
  for (int i = 0; i < 16; i++) {
    float s = src[i] + rv_emu_f32_of_bf16 (x[2 * i + 1])
        * rv_emu_f32_of_bf16 (y[2 * i + 1]);
    src[i] = s + rv_emu_f32_of_bf16 (x[2 * i]) * rv_emu_f32_of_bf16 (y[2 * i]);
  }
  return src;
}
#endif /* RV_EMULATE_AVX512BF16 */

#ifdef RV_EMULATE_AVX512VNNI
#undef _mm512_dpbusd_epi32
#define _mm512_dpbusd_epi32 rv_emu_mm512_dpbusd_epi32
RV_EMU __m512i
rv_emu_mm512_dpbusd_epi32 (__m512i src, __m512i a, __m512i b)
{
  rv_emu_i32x16 s = (rv_emu_i32x16) src;
  unsigned char ub[64];
  signed char wb[64];
  memcpy (ub, &a, 64);
  memcpy (wb, &b, 64);
  for (int i = 0; i < 16; i++)
    s[i] = rv_emu_dot4 (s[i], ub + 4 * i, wb + 4 * i);
  return (__m512i) s;
}
#endif

#endif /* the 512-bit sets */
#endif /* a kernel file */
#endif
