/* test-conv-s8: the context's threaded int8 conv (rv_s8_conv2d) on both VNNI
 * tables and 1, 2, 3 threads, against
 *  - the single-threaded steps of conv_s8.h (range, quantize, whole-matrix
 *    im2col, pack, rv_s8_gemm with the activation and residual), which
 *    quant-s8 checks against PyTorch: the same bytes;
 *  - a double-precision conv of the dequantized u8 input and int8 weights,
 *    written from the conv's definition (padding, stride) rather than from
 *    im2col: within the f32 rounding of the sums.
 * Cases: 1x1, 3x3 stride 1 and 2 (odd sizes, partial tiles, output rows
 * narrower and wider than 16 columns), activations,
 * a residual, the output at a channel stride wider than the plane, and the
 * FFN as the context runs it in int8 (c0 with GELU into a hidden tensor,
 * then c1 on that tensor's own u8 parameters plus the residual). Skips (77)
 * where the CPU has neither AVX512-VNNI nor AVX-VNNI. */
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static uint32_t rng = 2024;

static float
frand (float lo, float hi)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return lo + (hi - lo) * (float) (rng >> 8) / 16777216.0f;
}

static double
act_ref (double v, rv_act act)
{
  switch (act) {
    case RV_ACT_NONE: return v;
    case RV_ACT_RELU: return v > 0 ? v : 0;
    case RV_ACT_SILU: return v / (1 + exp (-v));
    case RV_ACT_GELU: return 0.5 * v * (1 + erf (v / sqrt (2.0)));
    case RV_ACT_SIGMOID: return 1 / (1 + exp (-v));
  }
  return v;
}

/* A conv with random weights and biases; free with conv_free. */
static rv_conv
conv_new (int cin, int cout, int k, int s, rv_act act)
{
  const size_t nw = (size_t) cout * cin * k * k;
  float *w = malloc (nw * sizeof *w), *b = malloc (cout * sizeof *b);
  for (size_t i = 0; i < nw; i++)
    w[i] = frand (-1, 1) / sqrtf ((float) cin * k * k);
  for (int i = 0; i < cout; i++)
    b[i] = frand (-0.5f, 0.5f);
  rv_packed *p = malloc (sizeof *p);
  rv_conv cv = { cin, cout, k, s, 1, act, w, b, p };
  rv_packed_init (p, &cv, RV_FORMAT_S8);
  return cv;
}

static void
conv_free (rv_conv *cv)
{
  rv_packed_clear ((rv_packed *) cv->packed);
  free ((void *) cv->packed), free ((void *) cv->w), free ((void *) cv->b);
}

/* y (cout rows at stride ys) by the single-threaded steps; returns the
 * input's scale and zero point in *sx, *zx. */
static void
steps (const rv_s8_kernels *s8, const rv_conv *cv, const float *x, int h,
    int w, const float *res, float *y, size_t ys, float *sx, int *zx)
{
  const int K = cv->cin * cv->k * cv->k, ho = (h - 1) / cv->stride + 1,
      wo = (w - 1) / cv->stride + 1, N = ho * wo;
  const size_t nx = (size_t) cv->cin * h * w;
  uint8_t *xq = malloc (nx), *col = malloc ((size_t) K * N);
  uint32_t *bp = malloc (rv_s8_panel_words (s8, K, N) * sizeof *bp);
  rv_u8_params (s8, x, nx, sx, zx);
  rv_quantize_u8 (s8, x, nx, *sx, *zx, xq);
  rv_s8_im2col (xq, cv->cin, h, w, cv->k, cv->stride, *zx, ho, wo, col);
  s8->pack (col, N, K, 0, N, bp);
  rv_s8_gemm (s8, &cv->packed->s8, cv->b, cv->act, bp, N, *sx, *zx, y, ys,
      res, N);
  free (xq), free (col), free (bp);
}

/* The double-precision conv of what the steps quantized: weights q * scale
 * per channel, input sx (xq - zx) with xq recomputed by rv_quantize_u8. */
static void
check_ref (const char *what, const rv_s8_kernels *s8, const rv_conv *cv,
    const float *x, int h, int w, const float *res, const float *y, size_t ys,
    float sx, int zx)
{
  const int k = cv->k, s = cv->stride, ho = (h - 1) / s + 1, wo = (w - 1) / s + 1;
  const int K = cv->cin * k * k, k4 = (K + 3) / 4 * 4;
  const rv_s8_weights *qw = &cv->packed->s8;
  uint8_t *xq = malloc ((size_t) cv->cin * h * w);
  rv_quantize_u8 (s8, x, (size_t) cv->cin * h * w, sx, zx, xq);
  int bad = 0;
  for (int m = 0; m < cv->cout; m++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++) {
        double acc = 0, mag = 0;
        for (int c = 0; c < cv->cin; c++)
          for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
              int iy = oy * s + ky - k / 2, ix = ox * s + kx - k / 2;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w)
                continue;
              double d = (double) qw->q[(size_t) m * k4 + (c * k + ky) * k + kx]
                  * (xq[((size_t) c * h + iy) * w + ix] - zx);
              acc += d;
              mag += fabs (d);
            }
        double sc = (double) sx * qw->scale[m], v = sc * acc + cv->b[m];
        double tol = 2e-7 * (sc * mag + fabs (cv->b[m])) + 2e-6 * fabs (v) + 1e-6;
        size_t i = (size_t) oy * wo + ox;
        double want = act_ref (v, cv->act) + (res ? res[(size_t) m * ho * wo + i] : 0);
        double got = y[m * ys + i];
        if (!(fabs (got - want) <= tol) && bad++ < 3)
          printf ("FAIL %s: y[%d][%zu] = %.9g, double reference %.9g\n", what,
              m, i, got, want);
      }
  failures += bad > 0;
  free (xq);
}

/* rv_s8_conv2d with nt threads into y (cout rows at stride ys). */
static void
threaded (const rv_s8_kernels *s8, const rv_conv *cv, float *x, int h, int w,
    float *res, float *y, size_t ys, int nt)
{
  const int ho = (h - 1) / cv->stride + 1, wo = (w - 1) / cv->stride + 1;
  void *scratch = malloc (rv_s8_conv_scratch (s8, cv, h, w, ho, wo, nt));
  rv_tensor tx = { x, cv->cin, h, w, (size_t) h * w, 0, 0 };
  rv_tensor ty = { y, cv->cout, ho, wo, ys, 0, 0 };
  rv_tensor tr = { res, cv->cout, ho, wo, (size_t) ho * wo, 0, 0 };
  rv_s8_conv2d (s8, cv, tx, ty, res ? &tr : NULL, scratch, nt);
  free (scratch);
}

static void
conv_case (const rv_s8_kernels *s8, int cin, int cout, int k, int s, int h,
    int w, rv_act act, int with_res, int extra_cs)
{
  rv_conv cv = conv_new (cin, cout, k, s, act);
  const int ho = (h - 1) / s + 1, wo = (w - 1) / s + 1, N = ho * wo;
  const size_t ys = (size_t) N + extra_cs;
  float *x = malloc ((size_t) cin * h * w * sizeof *x);
  float *res = with_res ? malloc ((size_t) cout * N * sizeof *res) : NULL;
  float *want = malloc (cout * ys * sizeof *want), *y = malloc (cout * ys * sizeof *y);
  for (size_t i = 0; i < (size_t) cin * h * w; i++)
    x[i] = frand (-0.7f, 2.3f);         /* an asymmetric range: zero point != 0 */
  for (size_t i = 0; with_res && i < (size_t) cout * N; i++)
    res[i] = frand (-1, 1);
  float sx;
  int zx;
  memset (want, 0, cout * ys * sizeof *want);
  steps (s8, &cv, x, h, w, res, want, ys, &sx, &zx);
  char what[160];
  snprintf (what, sizeof what, "%s conv cin %d cout %d k %d s %d %dx%d act %d "
      "res %d cs+%d", s8->name, cin, cout, k, s, h, w, act, with_res, extra_cs);
  check_ref (what, s8, &cv, x, h, w, res, want, ys, sx, zx);
  for (int nt = 1; nt <= 3; nt++) {
    memset (y, 0, cout * ys * sizeof *y);
    threaded (s8, &cv, x, h, w, res, y, ys, nt);
    if (memcmp (y, want, cout * ys * sizeof *y)) {
      printf ("FAIL %s threads %d: not the single-threaded steps' bytes\n",
          what, nt);
      failures++;
    }
  }
  conv_free (&cv);
  free (x), free (res), free (want), free (y);
}

/* y = x + c1(gelu(c0(x))) with the hidden tensor materialized. */
static void
ffn_case (const rv_s8_kernels *s8, int c, int hidden, int h, int w)
{
  rv_conv c0 = conv_new (c, hidden, 1, 1, RV_ACT_GELU),
      c1 = conv_new (hidden, c, 1, 1, RV_ACT_NONE);
  const size_t n = (size_t) h * w;
  float *x = malloc (c * n * sizeof *x), *hid = malloc (hidden * n * sizeof *hid),
      *want = malloc (c * n * sizeof *want), *y = malloc (c * n * sizeof *y);
  for (size_t i = 0; i < c * n; i++)
    x[i] = frand (-2, 1);
  float sx;
  int zx;
  steps (s8, &c0, x, h, w, NULL, hid, n, &sx, &zx);
  steps (s8, &c1, hid, h, w, x, want, n, &sx, &zx);
  char what[96];
  snprintf (what, sizeof what, "%s ffn c %d hidden %d %dx%d", s8->name, c,
      hidden, h, w);
  check_ref (what, s8, &c1, hid, h, w, x, want, n, sx, zx);
  for (int nt = 1; nt <= 3; nt++) {
    threaded (s8, &c0, x, h, w, NULL, hid, n, nt);
    threaded (s8, &c1, hid, h, w, x, y, n, nt);
    if (memcmp (y, want, c * n * sizeof *y)) {
      printf ("FAIL %s threads %d: not the single-threaded steps' bytes\n",
          what, nt);
      failures++;
    }
  }
  conv_free (&c0), conv_free (&c1);
  free (x), free (hid), free (want), free (y);
}

int
main (void)
{
  const rv_s8_kernels *tables[2];
  int n = 0;
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512vnni"))
    tables[n++] = &rv_s8_avx512vnni;
  if (__builtin_cpu_supports ("avxvnni"))
    tables[n++] = &rv_s8_avxvnni;
  if (n == 0) {
    printf ("SKIP: no AVX512-VNNI or AVX-VNNI on this CPU\n");
    return 77;
  }
  for (int i = 0; i < n; i++) {
    const rv_s8_kernels *s8 = tables[i];
    conv_case (s8, 3, 16, 3, 2, 34, 30, RV_ACT_SILU, 0, 0);     /* a stem */
    conv_case (s8, 16, 24, 3, 1, 13, 11, RV_ACT_SILU, 1, 0);
    conv_case (s8, 17, 9, 3, 2, 15, 20, RV_ACT_NONE, 0, 5);
    /* output rows of 16 columns and more: the packing's whole-row loads */
    conv_case (s8, 7, 16, 3, 1, 9, 70, RV_ACT_SILU, 0, 0);
    conv_case (s8, 5, 24, 3, 2, 11, 101, RV_ACT_NONE, 1, 0);
    conv_case (s8, 40, 72, 1, 1, 9, 14, RV_ACT_NONE, 1, 0);
    conv_case (s8, 33, 5, 1, 1, 21, 19, RV_ACT_SIGMOID, 0, 7);
    conv_case (s8, 64, 64, 1, 1, 40, 40, RV_ACT_RELU, 0, 0);    /* many chunks */
    conv_case (s8, 8, 48, 1, 2, 16, 16, RV_ACT_SILU, 0, 0);
    ffn_case (s8, 24, 48, 10, 13);
    ffn_case (s8, 80, 160, 7, 5);       /* channels parted among threads */
    printf ("%s: done\n", s8->name);
  }
  printf ("%s\n", failures ? "some cases FAILED" : "all cases match");
  return failures != 0;
}
