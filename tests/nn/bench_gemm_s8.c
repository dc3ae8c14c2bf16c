/* bench-gemm-s8: one core's rate of the int8 GEMM (rv_s8_gemm) on a dense
 * conv's GEMM held in cache (M 64 channels, K 576 = 3x3x64, N 1920 columns
 * packed once), to set beside tools/bench/peak's vpdpbusd peak; and the rates
 * of packing, and of the activation range and quantization of K x N floats.
 * Medians of 9 reps of thread CPU time.
 *   meson test -C build --benchmark gemm-s8 -v */
#include "conv_s8.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { M = 64, K = 576, N = 1920, KQ = (K + 3) / 4, REPS = 9 };

static double
cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
run (const rv_s8_kernels *kn)
{
  uint8_t *x = malloc ((size_t) K * N);
  int8_t *w = malloc ((size_t) M * KQ * 4);
  uint32_t *bp = malloc (sizeof (uint32_t) * rv_s8_panel_words (kn, K, N));
  float *y = malloc (sizeof (float) * M * N), scale[M], bias[M];
  int32_t sum[M] = { 0 };
  const rv_s8_weights qw = { M, K, w, scale, sum };
  for (size_t i = 0; i < (size_t) K * N; i++)
    x[i] = (uint8_t) (i * 7 + 3);
  for (size_t i = 0; i < (size_t) M * KQ * 4; i++)
    w[i] = (int8_t) (i * 5 + 1);
  for (int m = 0; m < M; m++)
    scale[m] = 1.0f, bias[m] = 0.5f;
  float *xf = malloc (sizeof (float) * K * N);
  for (size_t i = 0; i < (size_t) K * N; i++)
    xf[i] = (float) (i % 1000) / 100.0f - 2.0f;
  double pack_gbs[REPS], gops[REPS], range_gfs[REPS], quant_gfs[REPS];
  for (int rep = -1; rep < REPS; rep++) {       /* -1: warm-up */
    double t0 = cpu_s ();
    kn->pack (x, N, K, 0, N, bp);
    double t1 = cpu_s ();
    rv_s8_gemm (kn, &qw, bias, RV_ACT_NONE, bp, N, 1e-3f, 0, y, N, NULL, 0);
    double t2 = cpu_s ();
    float sx;
    int zx;
    rv_u8_params (kn, xf, (size_t) K * N, &sx, &zx);
    double t3 = cpu_s ();
    rv_quantize_u8 (kn, xf, (size_t) K * N, sx, zx, x);
    double t4 = cpu_s ();
    if (rep >= 0) {
      pack_gbs[rep] = (double) K * N / (t1 - t0) / 1e9;
      gops[rep] = 2.0 * M * K * N / (t2 - t1) / 1e9;
      range_gfs[rep] = (double) K * N / (t3 - t2) / 1e9;
      quant_gfs[rep] = (double) K * N / (t4 - t3) / 1e9;
    }
  }
  qsort (pack_gbs, REPS, sizeof (double), cmp_double);
  qsort (gops, REPS, sizeof (double), cmp_double);
  qsort (range_gfs, REPS, sizeof (double), cmp_double);
  qsort (quant_gfs, REPS, sizeof (double), cmp_double);
  printf ("%s tile %dx%d: M %d K %d N %d: %.1f GOP/s (best %.1f), pack %.2f GB/s, "
      "range %.2f Gfloat/s, quantize %.2f Gfloat/s, y[1] %g\n", kn->name, kn->mr, kn->nr, M, K,
      N, gops[REPS / 2], gops[REPS - 1], pack_gbs[REPS / 2], range_gfs[REPS / 2],
      quant_gfs[REPS / 2], (double) y[1]);
  free (x);
  free (xf);
  free (w);
  free (bp);
  free (y);
}

int
main (void)
{
  __builtin_cpu_init ();
  int any = 0;
  if (__builtin_cpu_supports ("avx512vnni"))
    run (&rv_s8_avx512vnni), any = 1;
  if (__builtin_cpu_supports ("avxvnni"))
    run (&rv_s8_avxvnni), any = 1;
  if (!any)
    printf ("SKIP: no AVX512-VNNI or AVX-VNNI on this CPU\n");
  return any ? 0 : 77;
}
