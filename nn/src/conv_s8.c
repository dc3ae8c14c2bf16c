/* conv_s8.c — int8 dense convolutions: quantization and the tile loop over
 * the kernels of gemm_s8.c (see conv_s8.h). */
#include "conv_s8.h"

#include <math.h>
#include <stdlib.h>

bool
rv_s8_weights_init (rv_s8_weights *qw, const float *w, int cout, int K)
{
  const int k4 = (K + 3) / 4 * 4;
  qw->cout = cout;
  qw->K = K;
  qw->q = calloc ((size_t) cout * k4, 1);
  qw->scale = malloc (sizeof (float) * cout);
  qw->sum = malloc (sizeof (int32_t) * cout);
  if (!qw->q || !qw->scale || !qw->sum) {
    rv_s8_weights_clear (qw);
    return false;
  }
  for (int m = 0; m < cout; m++) {
    const float *row = w + (size_t) m * K;
    float amax = 0.0f;
    for (int k = 0; k < K; k++)
      amax = fmaxf (amax, fabsf (row[k]));
    float s = amax > 0.0f ? amax / 127.0f : 1.0f, inv = 1.0f / s;
    int32_t sum = 0;
    for (int k = 0; k < K; k++) {
      long v = lrintf (row[k] * inv);   /* nearest even, the default mode */
      v = v < -127 ? -127 : v > 127 ? 127 : v;
      qw->q[(size_t) m * k4 + k] = (int8_t) v;
      sum += (int32_t) v;
    }
    qw->scale[m] = s;
    qw->sum[m] = sum;
  }
  return true;
}

void
rv_s8_weights_clear (rv_s8_weights *qw)
{
  free (qw->q);
  free (qw->scale);
  free (qw->sum);
  qw->q = NULL;
  qw->scale = NULL;
  qw->sum = NULL;
}

void
rv_u8_params (const rv_s8_kernels *kn, const float *x, size_t n,
    float *scale, int *zero)
{
  float lo, hi;
  kn->range (x, n, &lo, &hi);
  *scale = hi > lo ? (hi - lo) / 255.0f : 1.0f;
  long z = lrintf (-lo / *scale);
  *zero = (int) (z < 0 ? 0 : z > 255 ? 255 : z);
}

void
rv_quantize_u8 (const rv_s8_kernels *kn, const float *x, size_t n,
    float scale, int zero, uint8_t *q)
{
  kn->quantize (x, n, 1.0f / scale, zero, q);
}

void
rv_s8_im2col (const uint8_t *x, int cin, int h, int w, int k, int stride,
    int zx, int ho, int wo, uint8_t *col)
{
  const int pad = k / 2;
  for (int c = 0; c < cin; c++)
    for (int ky = 0; ky < k; ky++)
      for (int kx = 0; kx < k; kx++)
        for (int oy = 0; oy < ho; oy++) {
          int iy = oy * stride + ky - pad;
          const uint8_t *src = x + ((size_t) c * h + iy) * w;
          for (int ox = 0; ox < wo; ox++) {
            int ix = ox * stride + kx - pad;
            *col++ = iy >= 0 && iy < h && ix >= 0 && ix < w ? src[ix] : (uint8_t) zx;
          }
        }
}

size_t
rv_s8_panel_words (const rv_s8_kernels *kn, int K, int N)
{
  return (size_t) (N + kn->nr - 1) / kn->nr * kn->nr * ((K + 3) / 4);
}

void
rv_s8_gemm (const rv_s8_kernels *kn, const rv_s8_weights *qw,
    const float *bias, const uint32_t *panels, int N, float sx, int zx,
    float *y, size_t ys)
{
  const int kq = (qw->K + 3) / 4, M = qw->cout;
  for (int mb = 0; mb < M; mb += kn->mr) {
    rv_s8_tile t;
    for (int r = 0; r < kn->mr; r++) {
      int m = mb + r < M ? mb + r : M - 1;
      t.a[r] = qw->q + (size_t) m * kq * 4;
      t.scale[r] = sx * qw->scale[m];
      t.bias[r] = bias[m];
      t.corr[r] = zx * qw->sum[m];
    }
    for (int p = 0; p < N; p += kn->nr) {
      for (int r = 0; r < kn->mr; r++)
        t.c[r] = mb + r < M ? y + (size_t) (mb + r) * ys + p : NULL;
      kn->tile (&t, kq, panels + (size_t) p * kq, N - p < kn->nr ? N - p : kn->nr);
    }
  }
}
