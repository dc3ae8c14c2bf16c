/* quant-driver — the int8 path of the C core (conv_s8.h) on data from a
 * file, for test_quant_s8.py, which compares it with PyTorch's quantization.
 *
 *   quant-driver TABLE IN.bin OUT.bin
 *       TABLE: avx512-vnni or avx-vnni (the kernels' names).
 *       IN: int32 cout, cin, k, stride, h, w; weights cout x cin x k x k f32,
 *       bias cout f32, x cin x h x w f32.
 *       OUT: f32 sx, int32 zx, weight scales cout f32, weights cout x K s8
 *       (K = cin k k), x cin x h x w u8, y = conv(x) + bias (padding k / 2)
 *       cout x ho x wo f32.
 * Exits 77 where the CPU lacks TABLE's instructions. */
#include "conv_s8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
io (void *p, size_t n, FILE *f, int out)
{
  if ((out ? fwrite (p, 1, n, f) : fread (p, 1, n, f)) != n) {
    fprintf (stderr, "quant-driver: short %s\n", out ? "write" : "read");
    exit (2);
  }
}

int
main (int argc, char **argv)
{
  if (argc != 4 || (strcmp (argv[1], "avx512-vnni") && strcmp (argv[1], "avx-vnni"))) {
    fprintf (stderr, "usage: quant-driver avx512-vnni|avx-vnni IN.bin OUT.bin\n");
    return 2;
  }
  const int v512 = !strcmp (argv[1], "avx512-vnni");
  __builtin_cpu_init ();
  if (!(v512 ? __builtin_cpu_supports ("avx512vnni") : __builtin_cpu_supports ("avxvnni"))) {
    printf ("SKIP: no %s on this CPU\n", argv[1]);
    return 77;
  }
  const rv_s8_kernels *kn = v512 ? &rv_s8_avx512vnni : &rv_s8_avxvnni;
  FILE *in = fopen (argv[2], "rb"), *out = fopen (argv[3], "wb");
  int32_t d[6];
  if (!in || !out) {
    fprintf (stderr, "quant-driver: cannot open %s\n", in ? argv[3] : argv[2]);
    return 2;
  }
  io (d, sizeof d, in, 0);
  const int M = d[0], cin = d[1], k = d[2], stride = d[3], h = d[4], wd = d[5];
  const int K = cin * k * k, ho = (h - 1) / stride + 1, wo = (wd - 1) / stride + 1, N = ho * wo;
  const size_t nx = (size_t) cin * h * wd;
  float *w = malloc (sizeof (float) * M * K), *b = malloc (sizeof (float) * M),
      *x = malloc (sizeof (float) * nx), *y = malloc (sizeof (float) * M * N);
  uint8_t *xq = malloc (nx), *col = malloc ((size_t) K * N);
  uint32_t *panels = malloc (sizeof (uint32_t) * rv_s8_panel_words (kn, K, N));
  rv_s8_weights qw;
  if (!w || !b || !x || !y || !xq || !col || !panels) {
    fprintf (stderr, "quant-driver: out of memory\n");
    return 2;
  }
  io (w, sizeof (float) * M * K, in, 0);
  io (b, sizeof (float) * M, in, 0);
  io (x, sizeof (float) * nx, in, 0);
  if (!rv_s8_weights_init (&qw, w, M, K)) {
    fprintf (stderr, "quant-driver: out of memory\n");
    return 2;
  }
  float sx;
  int32_t zx;
  int z;
  rv_u8_params (kn, x, nx, &sx, &z);
  zx = z;
  rv_quantize_u8 (kn, x, nx, sx, zx, xq);
  rv_s8_im2col (xq, cin, h, wd, k, stride, zx, ho, wo, col);
  kn->pack (col, N, K, 0, N, panels);
  rv_s8_gemm (kn, &qw, b, RV_ACT_NONE, panels, N, sx, zx, y, N, NULL, 0);
  io (&sx, sizeof sx, out, 1);
  io (&zx, sizeof zx, out, 1);
  io (qw.scale, sizeof (float) * M, out, 1);
  for (int m = 0; m < M; m++)
    io (qw.q + (size_t) m * ((K + 3) / 4 * 4), K, out, 1);
  io (xq, nx, out, 1);
  io (y, sizeof (float) * M * N, out, 1);
  fclose (in);
  if (fclose (out)) {
    fprintf (stderr, "quant-driver: cannot write %s\n", argv[3]);
    return 2;
  }
  rv_s8_weights_clear (&qw);
  free (w);
  free (b);
  free (x);
  free (y);
  free (xq);
  free (col);
  free (panels);
  printf ("%s: cout %d cin %d k %d stride %d %dx%d sx %g zx %d\n", kn->name, M, cin, k,
      stride, wd, h, sx, zx);
  return 0;
}
