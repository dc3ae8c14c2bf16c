/* sgemm_roof — OpenBLAS sgemm throughput on a large square product: the
 * practical FLOP/s ceiling of this machine for tools/bench_compare.sh.
 *
 *   cc -O2 -I/usr/include/x86_64-linux-gnu/openblas-pthread sgemm_roof.c -lopenblas
 *   ./a.out THREADS [N] [RUNS]     prints "sgemm N=... threads=... median_gflops=... best_gflops=..."
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

int main (int argc, char **argv)
{
  int threads = argc > 1 ? atoi (argv[1]) : 1;
  int n = argc > 2 ? atoi (argv[2]) : 2048;
  int runs = argc > 3 ? atoi (argv[3]) : 5;
  if (threads < 1 || n < 64 || runs < 1 || runs > 100) {
    fprintf (stderr, "usage: %s THREADS [N>=64] [RUNS 1..100]\n", argv[0]);
    return 2;
  }
  openblas_set_num_threads (threads);
  float *a = malloc (sizeof (float) * n * n), *b = malloc (sizeof (float) * n * n),
      *c = malloc (sizeof (float) * n * n);
  if (!a || !b || !c) {
    fprintf (stderr, "out of memory for N=%d\n", n);
    return 1;
  }
  for (long i = 0; i < (long) n * n; i++) {
    a[i] = (float) (i % 13) / 13.0f - 0.5f;
    b[i] = (float) (i % 7) / 7.0f - 0.5f;
  }
  double gf[100];
  for (int r = -1; r < runs; r++) {       /* r = -1: warm-up */
    double t = now_s ();
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    if (r >= 0)
      gf[r] = 2.0 * n * n * (double) n / (now_s () - t) / 1e9;
  }
  qsort (gf, runs, sizeof gf[0], cmp_double);
  printf ("sgemm N=%d threads=%d median_gflops=%.1f best_gflops=%.1f checksum=%g\n", n, threads,
      gf[runs / 2], gf[runs - 1], (double) c[n + 1]);
  free (a);
  free (b);
  free (c);
  return 0;
}
