/* simd_act.h — internal: the f32 vectors of the SIMD kernels and the
 * activations on them, for the translation units built once per instruction
 * set (512-bit with -mavx512f, else 256-bit with -mavx2 -mfma): ops_simd.c
 * and gemm_s8.c, whose int8 tiles end in the same f32 epilogue. */
#ifndef RV_SIMD_ACT_H
#define RV_SIMD_ACT_H

#include "model.h"

#include <immintrin.h>

#if defined(__AVX512F__)
#define VL 16
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
#else
#define VL 8
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
#endif

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

#endif
