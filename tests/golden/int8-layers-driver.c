/* int8-layers-driver — one int8 forward of the C core with every int8 dense
 * conv observed (rv_s8_conv_observer, ops.h), for int8_layers_test.py, which
 * checks each layer against the int8 reference from C's own input.
 *
 *   int8-layers-driver MODEL WxH THREADS IN.f32 OUT.bin
 *       IN: the network input, 3 x H x W f32.
 *       OUT: per int8 conv in the order the forward runs them: int32 cout,
 *       cin, k, stride, act, h, w, ho, wo; f32 sx; int32 zx; weights
 *       cout x cin x k x k f32 (folded); bias cout f32; x cin x h x w f32;
 *       its u8 codes cin x h x w; y cout x ho x wo f32.
 * sx, zx and the codes are those of conv_s8.h's rv_u8_params and
 * rv_quantize_u8 on the conv's input with the context's int8 kernels. Exits
 * 77 where int8 falls back to f32 on this CPU. */
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *out;

static void
put (const void *p, size_t n)
{
  if (fwrite (p, 1, n, out) != n) {
    fprintf (stderr, "int8-layers-driver: short write\n");
    exit (2);
  }
}

static void *
alloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (!p) {
    fprintf (stderr, "int8-layers-driver: out of memory\n");
    exit (2);
  }
  return p;
}

/* The planes of t, one after the other (t's channels may be cs apart). */
static float *
planes (rv_tensor t)
{
  const size_t n = (size_t) t.h * t.w;
  float *p = alloc (sizeof (float) * t.c * n);
  for (int c = 0; c < t.c; c++)
    memcpy (p + c * n, t.d + c * t.cs, sizeof (float) * n);
  return p;
}

static void
dump (const rv_s8_kernels *s8, const rv_conv *cv, rv_tensor x, rv_tensor y)
{
  const size_t nx = (size_t) x.c * x.h * x.w, K = (size_t) cv->cin * cv->k * cv->k;
  int32_t hdr[] = { cv->cout, cv->cin, cv->k, cv->stride, (int32_t) cv->act,
    x.h, x.w, y.h, y.w };
  float *xf = planes (x), *yf = planes (y), sx;
  uint8_t *xq = alloc (nx);
  int zx;
  rv_u8_params (s8, xf, nx, &sx, &zx);
  rv_quantize_u8 (s8, xf, nx, sx, zx, xq);
  int32_t z = zx;
  put (hdr, sizeof hdr);
  put (&sx, sizeof sx);
  put (&z, sizeof z);
  put (cv->w, sizeof (float) * cv->cout * K);
  put (cv->b, sizeof (float) * cv->cout);
  put (xf, sizeof (float) * nx);
  put (xq, nx);
  put (yf, sizeof (float) * y.c * y.h * y.w);
  free (xf);
  free (yf);
  free (xq);
}

int
main (int argc, char **argv)
{
  int w, h;
  if (argc != 6 || sscanf (argv[2], "%dx%d", &w, &h) != 2) {
    fprintf (stderr, "usage: int8-layers-driver MODEL WxH THREADS IN.f32 OUT.bin\n");
    return 2;
  }
  char err[256];
  rv_model *model;
  rv_ctx *ctx;
  if (rv_model_load (argv[1], &model, err, sizeof err)
      || rv_ctx_init (model, atoi (argv[3]), &ctx, err, sizeof err)
      || rv_ctx_set_input_size (ctx, w, h, err, sizeof err)
      || rv_ctx_set_precision (ctx, RV_PRECISION_INT8, err, sizeof err)) {
    fprintf (stderr, "int8-layers-driver: %s\n", err);
    return 2;
  }
  if (rv_ctx_get_precision (ctx) != RV_PRECISION_INT8) {
    printf ("SKIP: int8 runs f32 on this CPU\n");
    return 77;
  }
  FILE *in = fopen (argv[4], "rb");
  out = fopen (argv[5], "wb");
  if (!in || !out) {
    fprintf (stderr, "int8-layers-driver: cannot open %s\n", in ? argv[5] : argv[4]);
    return 2;
  }
  const size_t n = (size_t) 3 * w * h;
  if (fread (rv_ctx_input (ctx), sizeof (float), n, in) != n) {
    fprintf (stderr, "int8-layers-driver: short read\n");
    return 2;
  }
  fclose (in);
  rv_s8_conv_observer = dump;
  rv_ctx_forward (ctx);
  if (fclose (out)) {
    fprintf (stderr, "int8-layers-driver: cannot write %s\n", argv[5]);
    return 2;
  }
  rv_ctx_free (ctx);
  rv_model_free (model);
  return 0;
}
