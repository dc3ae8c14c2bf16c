/* quant-driver — the int8 path of the C core (conv_s8.h) on data from a
 * file, for test_quant_s8.py, which compares it with PyTorch's quantization.
 *
 *   quant-driver IN.bin OUT.bin
 *       IN: int32 cout, K, N; weights cout x K f32, bias cout f32, x K x N f32.
 *       OUT: f32 sx, int32 zx, weight scales cout f32, weights cout x K s8,
 *       x K x N u8, y = W x + bias cout x N f32.
 * Exits 77 where the CPU has no int8 kernels. */
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
  const rv_s8_kernels *kn = rv_s8_kernels_for_cpu ();
  if (argc != 3) {
    fprintf (stderr, "usage: quant-driver IN.bin OUT.bin\n");
    return 2;
  }
  if (!kn) {
    printf ("SKIP: no AVX512-VNNI or AVX-VNNI on this CPU\n");
    return 77;
  }
  FILE *in = fopen (argv[1], "rb"), *out = fopen (argv[2], "wb");
  int32_t dims[3];
  if (!in || !out) {
    fprintf (stderr, "quant-driver: cannot open %s\n", in ? argv[2] : argv[1]);
    return 2;
  }
  io (dims, sizeof dims, in, 0);
  const int M = dims[0], K = dims[1], N = dims[2];
  float *w = malloc (sizeof (float) * M * K), *b = malloc (sizeof (float) * M),
      *x = malloc (sizeof (float) * K * N), *y = malloc (sizeof (float) * M * N);
  uint8_t *xq = malloc ((size_t) K * N);
  uint32_t *panels = malloc (sizeof (uint32_t) * rv_s8_panel_words (kn, K, N));
  rv_s8_weights qw;
  if (!w || !b || !x || !y || !xq || !panels) {
    fprintf (stderr, "quant-driver: out of memory\n");
    return 2;
  }
  io (w, sizeof (float) * M * K, in, 0);
  io (b, sizeof (float) * M, in, 0);
  io (x, sizeof (float) * K * N, in, 0);
  if (!rv_s8_weights_init (&qw, w, M, K)) {
    fprintf (stderr, "quant-driver: out of memory\n");
    return 2;
  }
  float sx;
  int32_t zx;
  int z;
  rv_u8_params (x, (size_t) K * N, &sx, &z);
  zx = z;
  rv_quantize_u8 (x, (size_t) K * N, sx, zx, xq);
  kn->pack (xq, N, K, 0, N, panels);
  rv_s8_gemm (kn, &qw, b, panels, N, sx, zx, y, N);
  io (&sx, sizeof sx, out, 1);
  io (&zx, sizeof zx, out, 1);
  io (qw.scale, sizeof (float) * M, out, 1);
  for (int m = 0; m < M; m++)
    io (qw.q + (size_t) m * ((K + 3) / 4 * 4), K, out, 1);
  io (xq, (size_t) K * N, out, 1);
  io (y, sizeof (float) * M * N, out, 1);
  fclose (in);
  if (fclose (out)) {
    fprintf (stderr, "quant-driver: cannot write %s\n", argv[2]);
    return 2;
  }
  rv_s8_weights_clear (&qw);
  free (w);
  free (b);
  free (x);
  free (y);
  free (xq);
  free (panels);
  printf ("%s: cout %d K %d N %d sx %g zx %d\n", kn->name, M, K, N, sx, zx);
  return 0;
}
