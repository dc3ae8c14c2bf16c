/* repvit-bench — time the forward pass.
 *
 *   repvit-bench --model FILE [--size WxH] [--threads N] [--runs K]
 *                [--precision f32|bf16|int8]
 *
 * Fills the input with a fixed pseudo-random image, runs two warm-up
 * forwards, then K timed ones; prints the median and minimum time and the
 * effective GFLOP/s (2 x conv MACs / median time), and the CPU time per
 * forward (all threads; on a loaded machine the steadier figure), and the
 * precision in effect (bf16 falls back to f32 without AVX512-BF16, int8
 * without AVX512-VNNI or AVX-VNNI). */
#include "repvit.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
now_ms (clockid_t clock)
{
  struct timespec ts;
  clock_gettime (clock, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL;
  int w = 640, h = 640, threads = 1, runs = 10;
  rv_precision precision = RV_PRECISION_F32;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp (a, "--model"))
      model_path = v;
    else if (!strcmp (a, "--size") && sscanf (v, "%dx%d", &w, &h) == 2
        && w > 0 && h > 0 && w % 32 == 0 && h % 32 == 0
        && w <= RV_MAX_INPUT_SIZE && h <= RV_MAX_INPUT_SIZE)
      ;
    else if (!strcmp (a, "--threads") && parse_int (v, 0, RV_MAX_THREADS, &threads))
      ;
    else if (!strcmp (a, "--runs") && parse_int (v, 1, 1000000, &runs))
      ;
    else if (!strcmp (a, "--precision") && parse_precision (v, &precision))
      ;
    else
      model_path = NULL, i = argc;
  }
  if (!model_path || argc % 2 == 0) {
    fprintf (stderr, "usage: repvit-bench --model FILE [--size WxH] "
        "[--threads N] [--runs K] [--precision " PRECISION_CHOICES "]\n"
        "  W, H: multiples of 32 up to %d; N: 0 (one per CPU) to %d; "
        "K: 1 to 1000000\n", RV_MAX_INPUT_SIZE, RV_MAX_THREADS);
    return 2;
  }
  char err[512];
  rv_model *model = NULL;
  rv_ctx *ctx = NULL;
  if (rv_model_load (model_path, &model, err, sizeof err)
      || rv_ctx_init (model, threads, &ctx, err, sizeof err)
      || rv_ctx_set_precision (ctx, precision, err, sizeof err)
      || rv_ctx_set_input_size (ctx, w, h, err, sizeof err)) {
    fprintf (stderr, "repvit-bench: %s\n", err);
    rv_ctx_free (ctx);
    rv_model_free (model);
    return 1;
  }
  float *in = rv_ctx_input (ctx);
  unsigned s = 12345;
  for (size_t i = 0; i < (size_t) 3 * w * h; i++) {
    s = s * 1103515245u + 12345u;
    in[i] = (float) (s >> 8 & 0xffff) / 65535.0f;
  }
  double *t = malloc ((size_t) runs * sizeof *t), cpu = 0;
  if (!t) {
    fprintf (stderr, "repvit-bench: out of memory\n");
    rv_ctx_free (ctx);
    rv_model_free (model);
    return 1;
  }
  for (int i = -2; i < runs; i++) {
    double t0 = now_ms (CLOCK_MONOTONIC), c0 = now_ms (CLOCK_PROCESS_CPUTIME_ID);
    rv_ctx_forward (ctx);
    if (i >= 0) {
      t[i] = now_ms (CLOCK_MONOTONIC) - t0;
      cpu += now_ms (CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
  }
  qsort (t, (size_t) runs, sizeof *t, cmp_double);
  double med = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
  double macs = rv_model_macs (model, w, h);
  printf ("model: %s-%s %dx%d threads %d runs %d\nprecision: %s\n",
      rv_model_variant (model), rv_model_scale (model), w, h, threads, runs,
      precision_names[rv_ctx_get_precision (ctx)]);
  printf ("median: %.2f ms\nmin: %.2f ms\ncpu: %.2f ms\nmacs: %.3f G\n"
      "gflops: %.1f\n", med, t[0], cpu / runs, macs * 1e-9,
      2 * macs / (med * 1e6));
  free (t);
  rv_ctx_free (ctx);
  rv_model_free (model);
  return 0;
}
