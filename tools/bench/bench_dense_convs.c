/* bench-dense-convs: one core's rate of the fp32 dense-conv kernels (the
 * active kernel table's conv2d and ffn, 1 thread) on the shapes read from
 * stdin, beside the 512-bit (else 256-bit) FMA peak measured in the same
 * process, the weights packed as a f32 context packs them (3x3 stride-1
 * convs in Winograd form where the table runs it); with the argument bf16,
 * of its bf16 kernels (weights packed in RV_FORMAT_BF16) beside the bf16
 * dot peak. tools/bench/dense_convs.py feeds
 * it the shapes of the networks;
 *   meson test -C build --benchmark dense-convs -v
 * Input lines (H x W is the input size, COUNT how often the network runs it):
 *   NET conv CIN COUT K STRIDE H W ACT COUNT
 *   NET ffn C HIDDEN H W COUNT
 * Prints per shape the median GFLOP/s (2 per multiply-add) of REPS reps of
 * thread CPU time and its % of the median peak, the best rep beside the best
 * peak (less disturbed by other processes on a shared core), then per
 * network the total of the medians. */
#include "cpu_peak.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { REPS = 7 };
#define MIN_REP_S 0.004         /* calls per rep: at least this long */

typedef struct {
  rv_conv c0, c1;               /* c1: the FFN's second conv */
  int ffn;
  rv_tensor x, y;
  float *scratch;
} shape;

static float *
random_floats (size_t n, float scale)
{
  float *p = malloc (sizeof (float) * n);
  unsigned s = 12345;
  for (size_t i = 0; p && i < n; i++) {
    s = s * 1103515245u + 12345u;
    p[i] = ((float) (s >> 9 & 0xffff) / 65536.0f - 0.5f) * scale;
  }
  return p;
}

static rv_conv
dense (int cin, int cout, int k, int stride, rv_act act)
{
  return (rv_conv) { cin, cout, k, stride, 1, act,
    random_floats ((size_t) cout * cin * k * k, 2.0f / (float) (cin * k * k)),
    random_floats ((size_t) cout, 0.1f), NULL };
}

static rv_tensor
tensor (int c, int h, int w, float scale)
{
  return (rv_tensor) { random_floats ((size_t) c * h * w, scale), c, h, w,
    (size_t) h * w, 0, 0 };
}

static void
run (const rv_kernels * kn, const shape * s)
{
  if (s->ffn)
    kn->ffn (&s->c0, &s->c1, s->x, s->y, s->scratch, 1);
  else
    kn->conv2d (&s->c0, s->x, s->y, NULL, s->scratch, 1);
}

/* median seconds per call, the least in *least */
static double
time_shape (const rv_kernels * kn, const shape * s, double *least)
{
  int calls = 1;
  double t = thread_cpu_s ();
  run (kn, s);                  /* warm-up, and the calls a rep needs */
  t = thread_cpu_s () - t;
  if (t < MIN_REP_S)
    calls = (int) (MIN_REP_S / (t > 1e-7 ? t : 1e-7)) + 1;
  double per[REPS];
  for (int r = 0; r < REPS; r++) {
    t = thread_cpu_s ();
    for (int i = 0; i < calls; i++)
      run (kn, s);
    per[r] = (thread_cpu_s () - t) / calls;
  }
  qsort (per, REPS, sizeof per[0], cmp_double);
  *least = per[0];
  return per[REPS / 2];
}

static void
free_shape (shape * s)
{
  if (s->c0.packed)
    rv_packed_clear ((rv_packed *) s->c0.packed);
  if (s->c1.packed)
    rv_packed_clear ((rv_packed *) s->c1.packed);
  free ((void *) s->c0.w);
  free ((void *) s->c0.b);
  free ((void *) s->c1.w);
  free ((void *) s->c1.b);
  free (s->x.d);
  free (s->y.d);
  free (s->scratch);
}

static void
print_total (const char *net, double flops, double s, double peak)
{
  if (s > 0)
    printf ("%-16s total: %.2f GFLOP in %.2f ms, %.1f GFLOP/s, %.0f%% of peak\n",
        net, flops / 1e9, s * 1e3, flops / s / 1e9, 100 * flops / s / 1e9 / peak);
}

int
main (int argc, char **argv)
{
  cpu_info c;
  cpu_probe (&c);
  cpu_print (&c);
  const rv_kernels *kn = rv_kernels_active ();
  const int bf16 = argc > 1 && !strcmp (argv[1], "bf16");
  if (bf16 && !kn->bf16) {
    fprintf (stderr, "bench-dense-convs: kernels %s have no bf16\n", kn->name);
    return 77;
  }
  const peak_kind pk = bf16 ? PEAK_BF16_DOT_512
      : c.avx512f ? PEAK_FP32_FMA_512 : PEAK_FP32_FMA_256;
  double best, peak = peak_measure (&c, pk, 5, &best);
  rv_packed packed[2];
  const rv_format format = bf16 ? RV_FORMAT_BF16
      : kn->winograd ? RV_FORMAT_WINOGRAD : RV_FORMAT_F32;
  printf ("peak %s median_gops=%.1f best_gops=%.1f; kernels %s, 1 thread, "
      "%% of the median peak\n", peak_name (pk), peak, best, kn->name);
  char line[256], net[64], prev[64] = "";
  double net_flops = 0, net_s = 0;
  while (fgets (line, sizeof line, stdin)) {
    shape s = { 0 };
    int cin, cout, k, stride, h, w, act, count, ho, wo;
    char desc[96];
    if (sscanf (line, "%63s conv %d %d %d %d %d %d %d %d", net, &cin, &cout, &k,
            &stride, &h, &w, &act, &count) == 9) {
      s.c0 = dense (cin, cout, k, stride, act ? RV_ACT_SILU : RV_ACT_NONE);
      ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
      if (format != RV_FORMAT_F32 && rv_packed_init (&packed[0], &s.c0, format))
        s.c0.packed = &packed[0];
      s.scratch = malloc (sizeof (float) * kn->conv_scratch (&s.c0, w, ho, wo, 1));
      snprintf (desc, sizeof desc, "conv %dx%d/%d %4d->%-4d", k, k, stride, cin, cout);
    } else if (sscanf (line, "%63s ffn %d %d %d %d %d", net, &cin, &cout, &h, &w,
            &count) == 6) {
      s.ffn = 1;
      s.c0 = dense (cin, cout, 1, 1, RV_ACT_GELU);
      s.c1 = dense (cout, cin, 1, 1, RV_ACT_NONE);
      ho = h, wo = w;
      if (bf16 && rv_packed_init (&packed[0], &s.c0, RV_FORMAT_BF16)
          && rv_packed_init (&packed[1], &s.c1, RV_FORMAT_BF16))
        s.c0.packed = &packed[0], s.c1.packed = &packed[1];
      s.scratch = malloc (sizeof (float) * kn->ffn_scratch (&s.c0, h * w, 1));
      snprintf (desc, sizeof desc, "ffn  %4d->%-4d->%-4d", cin, cout, cin);
    } else {
      fprintf (stderr, "bench-dense-convs: bad line: %s", line);
      return 2;
    }
    if (strcmp (net, prev)) {
      print_total (prev, net_flops, net_s, peak);
      net_flops = net_s = 0;
      snprintf (prev, sizeof prev, "%s", net);
    }
    s.x = tensor (cin, h, w, 2.0f);
    s.y = tensor (s.ffn ? cin : cout, ho, wo, 0.0f);
    double flops = 2.0 * ho * wo * (s.ffn ? 2.0 * cin * cout
        : (double) cout * cin * k * k);
    double least, t = time_shape (kn, &s, &least);
    printf ("%-16s %s at %3dx%-3d x%-2d %7.1f MFLOP %6.1f GFLOP/s %3.0f%% "
        "(best %6.1f, %3.0f%% of the best peak)\n", net, desc, w, h, count,
        flops / 1e6, flops / t / 1e9, 100 * flops / t / 1e9 / peak,
        flops / least / 1e9, 100 * flops / least / 1e9 / best);
    net_flops += count * flops;
    net_s += count * t;
    free_shape (&s);
  }
  print_total (prev, net_flops, net_s, peak);
  return 0;
}
