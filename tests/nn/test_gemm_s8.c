/* test-gemm-s8: the int8 GEMM (rv_s8_gemm on the micro-kernels of
 * nn/src/gemm_s8.c) against a
 * double-precision reference that subtracts the zero point from each
 * activation, c = sx sw[m] sum_k (x[k][n] - zx) w[m][k] + bias[m], where the
 * kernels fold it into a per-row correction. Sizes cover K not a multiple of
 * 4, partial tiles in both directions and u8/s8 extremes (255 x -128); the
 * output rows are framed by canaries that must stay untouched. Skips (77)
 * where the CPU has neither AVX512-VNNI nor AVX-VNNI. */
#include "conv_s8.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t rng = 12345;

static uint32_t
next (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/* Returns the number of wrong or clobbered values. */
static int
check (const rv_s8_kernels *kn, int M, int K, int N, int extremes)
{
  const int kq = (K + 3) / 4, pad = 16;
  const size_t ys = (size_t) N + 2 * pad;
  uint8_t *x = malloc ((size_t) K * N);
  int8_t *w = calloc ((size_t) M * kq * 4, 1);
  float *sw = malloc (sizeof (float) * M), *bias = malloc (sizeof (float) * M);
  float *y = malloc (sizeof (float) * M * ys);
  uint32_t *bp = malloc (sizeof (uint32_t) * rv_s8_panel_words (kn, K, N));
  const float sx = 0.0173f;
  const int zx = (int) (next () % 256);
  for (size_t i = 0; i < (size_t) K * N; i++)
    x[i] = extremes ? 255 : (uint8_t) next ();
  for (int m = 0; m < M; m++) {
    for (int k = 0; k < K; k++)
      w[(size_t) m * kq * 4 + k] = extremes ? -128 : (int8_t) next ();
    sw[m] = 1e-3f * (1 + (int) (next () % 100));
    bias[m] = (float) ((int) (next () % 2001) - 1000) / 100;
  }
  for (size_t i = 0; i < (size_t) M * ys; i++)
    y[i] = -777.0f;

  int32_t *sum = calloc (M, sizeof (int32_t));
  for (int m = 0; m < M; m++)
    for (int k = 0; k < K; k++)
      sum[m] += w[(size_t) m * kq * 4 + k];
  const rv_s8_weights qw = { M, K, w, sw, sum };
  kn->pack (x, N, K, 0, N, bp);
  rv_s8_gemm (kn, &qw, bias, RV_ACT_NONE, bp, N, sx, zx, y + pad, ys, NULL, 0);

  int bad = 0;
  for (int m = 0; m < M; m++)
    for (int n = -pad; n < N + pad; n++) {
      float got = y[(size_t) m * ys + pad + n];
      double want = -777.0, tol = 0.0;
      if (n >= 0 && n < N) {
        double s = 0.0, mag = 0.0;
        for (int k = 0; k < K; k++) {
          double d = (double) (x[(size_t) k * N + n] - zx) * w[(size_t) m * kq * 4 + k];
          s += d;
          mag += fabs (d);
        }
        want = (double) sx * sw[m] * s + bias[m];
        /* f32 conversion of the sum and one fused multiply-add */
        tol = 2e-7 * ((double) sx * sw[m] * mag + fabs (bias[m])) + 1e-6;
      }
      if (!(fabs (got - want) <= tol)) {
        if (bad++ < 5)
          fprintf (stderr, "%s M=%d K=%d N=%d: c[%d][%d] = %.9g, want %.9g\n",
              kn->name, M, K, N, m, n, got, want);
      }
    }
  free (x);
  free (w);
  free (sw);
  free (bias);
  free (y);
  free (bp);
  free (sum);
  return bad;
}

int
main (void)
{
  const rv_s8_kernels *tables[2];
  int nt = 0;
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512vnni"))
    tables[nt++] = &rv_s8_avx512vnni;
  if (__builtin_cpu_supports ("avxvnni"))
    tables[nt++] = &rv_s8_avxvnni;
  if (nt == 0) {
    printf ("SKIP: no AVX512-VNNI or AVX-VNNI on this CPU\n");
    return 77;
  }
  static const int Ms[] = { 1, 5, 6, 8, 9, 17 }, Ks[] = { 1, 3, 4, 7, 27, 64, 289 },
      Ns[] = { 1, 7, 8, 16, 17, 47, 48, 49, 100 };
  int bad = 0, cases = 0;
  for (int i = 0; i < nt; i++) {
    for (size_t a = 0; a < sizeof Ms / sizeof Ms[0]; a++)
      for (size_t b = 0; b < sizeof Ks / sizeof Ks[0]; b++)
        for (size_t c = 0; c < sizeof Ns / sizeof Ns[0]; c++, cases++)
          bad += check (tables[i], Ms[a], Ks[b], Ns[c], 0);
    /* the largest products, summed over a long row: 255 x -128 x 2304 */
    bad += check (tables[i], 9, 2304, 49, 1);
    cases++;
    printf ("%s: mr %d nr %d\n", tables[i]->name, tables[i]->mr, tables[i]->nr);
  }
  printf ("%d cases, %d wrong values\n", cases, bad);
  return bad != 0;
}
