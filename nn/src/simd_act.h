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

/* Each activation works on n vectors at once (n a constant where inlined,
 * at most ACT_MAX), one step for all of them before the next: n independent
 * chains of dependent instructions side by side, which the core overlaps.
 * One vector after another, a chain of ~20 long-latency steps fills the
 * out-of-order window alone (AVX2 on Zen 1: SiLU 37 cycles a vector alone,
 * 25 six at a time). Each lane's arithmetic is the same either way. */
#define ACT_MAX 8

/* exp (Cephes expf), in place: 2^k e^r, |r| <= ln2 / 2; a few ulp. */
static inline __attribute__ ((always_inline)) void
v_exp_n (vf *x, int n)
{
  vf k[ACT_MAX], r[ACT_MAX], p[ACT_MAX];
  for (int i = 0; i < n; i++)
    x[i] = vmin (vmax (x[i], vset1 (-87.3f)), vset1 (88.3f));
  for (int i = 0; i < n; i++)
    k[i] = vround (x[i] * vset1 (1.44269504088896341f));
  for (int i = 0; i < n; i++)
    r[i] = vfma (k[i], vset1 (-0.693359375f), x[i]);
  for (int i = 0; i < n; i++)
    r[i] = vfma (k[i], vset1 (2.12194440e-4f), r[i]);
  for (int i = 0; i < n; i++)
    p[i] = vfma (vset1 (1.9875691500e-4f), r[i], vset1 (1.3981999507e-3f));
  for (int i = 0; i < n; i++)
    p[i] = vfma (p[i], r[i], vset1 (8.3334519073e-3f));
  for (int i = 0; i < n; i++)
    p[i] = vfma (p[i], r[i], vset1 (4.1665795894e-2f));
  for (int i = 0; i < n; i++)
    p[i] = vfma (p[i], r[i], vset1 (1.6666665459e-1f));
  for (int i = 0; i < n; i++)
    p[i] = vfma (p[i], r[i], vset1 (5.0000001201e-1f));
  for (int i = 0; i < n; i++)
    x[i] = vscale2 (vfma (p[i], r[i] * r[i], r[i] + vset1 (1.0f)), k[i]);
}

/* a /= b from the approximate reciprocal (14 or 12 bits) and a Newton step:
 * within a few ulp, at a fraction of a divide's cost (the activations are a
 * large part of a tile with a short K). */
static inline __attribute__ ((always_inline)) void
v_div_n (vf *a, const vf *b, int n)
{
  vf r[ACT_MAX];
  for (int i = 0; i < n; i++)
    r[i] = vrcp (b[i]);
  for (int i = 0; i < n; i++)
    r[i] = vfma (vfnma (b[i], r[i], vset1 (1.0f)), r[i], r[i]);
  for (int i = 0; i < n; i++)
    a[i] = a[i] * r[i];
}

/* erf in place, as a rational function on [-4, 4] (Eigen's float erf), +-1
 * beyond. */
static inline __attribute__ ((always_inline)) void
v_erf_n (vf *x, int n)
{
  vf x2[ACT_MAX], p[ACT_MAX], q[ACT_MAX];
  for (int i = 0; i < n; i++) {
    x[i] = vmin (vmax (x[i], vset1 (-4.0f)), vset1 (4.0f));
    x2[i] = x[i] * x[i];
  }
  static const float pc[] = { 2.77068142495902e-08f, -2.10102402082508e-06f,
    -5.69250639462346e-05f, -7.34990630326855e-04f, -2.95459980854025e-03f,
    -1.60960333262415e-02f
  }, qc[] = { -2.13374055278905e-04f, -1.68282697438203e-03f,
    -7.37332916720468e-03f, -1.42647390514189e-02f
  };
  for (int i = 0; i < n; i++) {
    p[i] = vset1 (-2.72614225801306e-10f);
    q[i] = vset1 (-1.45660718464996e-05f);
  }
  for (int c = 0; c < 6; c++)
    for (int i = 0; i < n; i++)
      p[i] = vfma (p[i], x2[i], vset1 (pc[c]));
  for (int c = 0; c < 4; c++)
    for (int i = 0; i < n; i++)
      q[i] = vfma (q[i], x2[i], vset1 (qc[c]));
  for (int i = 0; i < n; i++)
    x[i] = x[i] * p[i];
  v_div_n (x, q, n);
}

/* act on v[0 .. n) in place */
static inline __attribute__ ((always_inline)) void
v_act_n (vf *v, int n, rv_act act)
{
  vf e[ACT_MAX];
  switch (act) {
    case RV_ACT_NONE:
      return;
    case RV_ACT_RELU:
      for (int i = 0; i < n; i++)
        v[i] = vmax (v[i], vset1 (0.0f));
      return;
    case RV_ACT_SILU:
    case RV_ACT_SIGMOID:       /* v / (1 + e^-v), 1 / (1 + e^-v) */
      for (int i = 0; i < n; i++)
        e[i] = -v[i];
      v_exp_n (e, n);
      for (int i = 0; i < n; i++) {
        e[i] = vset1 (1.0f) + e[i];
        if (act == RV_ACT_SIGMOID)
          v[i] = vset1 (1.0f);
      }
      v_div_n (v, e, n);
      return;
    case RV_ACT_GELU:          /* v (1 + erf (v / sqrt 2)) / 2 */
      for (int i = 0; i < n; i++)
        e[i] = v[i] * vset1 (0.70710678118654752f);
      v_erf_n (e, n);
      for (int i = 0; i < n; i++)
        v[i] = vset1 (0.5f) * v[i] * (vset1 (1.0f) + e[i]);
      return;
  }
}

static inline vf
v_exp (vf x)
{
  v_exp_n (&x, 1);
  return x;
}

static inline vf
v_act (vf v, rv_act act)
{
  v_act_n (&v, 1, act);
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

/* v plus the n floats of the residual res from res[off] on, or v where res
 * is NULL (then no pointer is formed from it) */
static inline vf
add_res_n (vf v, const float *res, size_t off, int n)
{
  if (res)
    v = v + load_n (res + off, n);
  return v;
}

#endif
