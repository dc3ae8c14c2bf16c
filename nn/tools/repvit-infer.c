/* repvit-infer — run the detector on a .npy input, or describe a model.
 *
 *   repvit-infer --model FILE --input-npy X.npy --output-npy Y.npy [--threads N]
 *                [--precision f32|bf16|int8]
 *       X: float32 [1, 3, H, W] C-order (H, W multiples of 32);
 *       Y: float32 [1, 4 + nc, anchors], the raw Detect output.
 *   repvit-infer --model FILE --info
 *       variant, scale, nc, names, imgsz, params, macs (at imgsz x imgsz).
 */
#include "repvit.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RV_STR_(x) #x
#define RV_STR(x) RV_STR_ (x)

static int
die (const char *fmt, const char *a, const char *b)
{
  fprintf (stderr, "repvit-infer: ");
  fprintf (stderr, fmt, a, b);
  fprintf (stderr, "\n");
  return 1;
}

/* Reads a float32 C-order .npy of 4 dimensions into *data (malloc'd). */
static int
read_npy (const char *path, float **data, long shape[4])
{
  FILE *f = fopen (path, "rb");
  if (!f)
    return die ("%s: cannot open", path, "");
  unsigned char pre[12];
  size_t got = fread (pre, 1, sizeof pre, f);
  size_t hlen = 0, hoff = 0;
  if (got >= 10 && !memcmp (pre, "\x93NUMPY", 6)) {
    if (pre[6] == 1) {
      hlen = pre[8] | (size_t) pre[9] << 8;
      hoff = 10;
    } else if ((pre[6] == 2 || pre[6] == 3) && got == 12) {
      hlen = pre[8] | (size_t) pre[9] << 8 | (size_t) pre[10] << 16
          | (size_t) pre[11] << 24;
      hoff = 12;
    }
  }
  char *hdr = hoff && hlen < 65536 ? calloc (1, hlen + 1) : NULL;
  if (!hdr || fseek (f, (long) hoff, SEEK_SET) || fread (hdr, 1, hlen, f) != hlen) {
    free (hdr);
    fclose (f);
    return die ("%s: not a .npy file (bad magic, version or header)", path, "");
  }
  const char *descr = strstr (hdr, "'descr':"), *fo = strstr (hdr, "'fortran_order':"),
      *sh = strstr (hdr, "'shape':");
  int n = -1;
  if (sh)
    n = sscanf (sh + 8, " (%ld, %ld, %ld, %ld )", &shape[0], &shape[1],
        &shape[2], &shape[3]);
  int bad = !descr || !fo || !sh;
  if (!bad && !strstr (descr, "'<f4'") && !strstr (descr, "'=f4'"))
    bad = 2;
  else if (!bad && strncmp (fo + 16, " False", 6))
    bad = 3;
  else if (!bad && n != 4)
    bad = 4;
  free (hdr);
  if (bad) {
    fclose (f);
    return die ("%s: %s", path, bad == 2 ? "dtype must be float32 ('<f4')"
        : bad == 3 ? "array must be C-order (fortran_order False)"
        : bad == 4 ? "shape must have 4 dimensions [1, 3, H, W]"
        : "malformed .npy header");
  }
  if (shape[0] != 1 || shape[1] != 3 || shape[2] <= 0 || shape[3] <= 0
      || shape[2] > 4096 || shape[3] > 4096) {
    fclose (f);
    return die ("%s: shape must be [1, 3, H, W] with 0 < H, W <= 4096%s", path, "");
  }
  size_t count = (size_t) 3 * shape[2] * shape[3];
  *data = malloc (count * sizeof **data);
  got = *data ? fread (*data, sizeof **data, count, f) : 0;
  int extra = fgetc (f) != EOF;
  fclose (f);
  if (got != count || extra) {
    free (*data);
    *data = NULL;
    return die ("%s: data size does not match the shape in the header%s", path, "");
  }
  for (size_t i = 0; i < count; i++)
    if (!isfinite ((*data)[i])) {
      free (*data);
      *data = NULL;
      return die ("%s: input has a non-finite value%s", path, "");
    }
  return 0;
}

static int
write_npy (const char *path, const float *data, int rows, int cols)
{
  char hdr[128];
  int n = snprintf (hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, "
      "'shape': (1, %d, %d), }", rows, cols);
  int total = (10 + n + 1 + 63) / 64 * 64;     /* header padded to 64 bytes */
  memset (hdr + n, ' ', (size_t) (total - 10 - n));
  hdr[total - 11] = '\n';
  unsigned char pre[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
    (unsigned char) ((total - 10) & 0xff), (unsigned char) ((total - 10) >> 8) };
  FILE *f = fopen (path, "wb");
  size_t count = (size_t) rows * cols;
  int ok = f && fwrite (pre, 1, 10, f) == 10
      && fwrite (hdr, 1, (size_t) (total - 10), f) == (size_t) (total - 10)
      && fwrite (data, sizeof *data, count, f) == count;
  if (f && fclose (f))
    ok = 0;
  return ok ? 0 : die ("%s: cannot write%s", path, "");
}

static void
print_info (const rv_model *m)
{
  int nc = rv_model_num_classes (m), sz = rv_model_imgsz (m);
  printf ("variant: %s\nscale: %s\nnc: %d\nnames: ", rv_model_variant (m),
      rv_model_scale (m), nc);
  for (int i = 0; i < nc; i++)
    printf ("%s%s", i ? ", " : "", rv_model_class_name (m, i));
  printf ("\nimgsz: %d\nparams: %llu\nmacs: %.0f\n", sz,
      (unsigned long long) rv_model_num_params (m), rv_model_macs (m, sz, sz));
}

int
main (int argc, char **argv)
{
  const char *model_path = NULL, *in_path = NULL, *out_path = NULL;
  int threads = 1, info = 0;
  rv_precision precision = RV_PRECISION_F32;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp (a, "--info")) {
      info = 1;
      continue;
    }
    if (!v)
      return die ("%s needs a value%s", a, "");
    if (!strcmp (a, "--model"))
      model_path = v;
    else if (!strcmp (a, "--input-npy"))
      in_path = v;
    else if (!strcmp (a, "--output-npy"))
      out_path = v;
    else if (!strcmp (a, "--threads") && !parse_int (v, 0, RV_MAX_THREADS,
            &threads))
      return die ("--threads %s: must be an integer from 0 (one per CPU) to "
          "%s", v, RV_STR (RV_MAX_THREADS));
    else if (!strcmp (a, "--threads"))
      ;
    else if (!strcmp (a, "--precision") && !parse_precision (v, &precision))
      return die ("--precision %s: must be f32, bf16 or int8%s", v, "");
    else if (!strcmp (a, "--precision"))
      ;
    else
      return die ("unknown option %s%s", a, "");
    i++;
  }
  if (!model_path || (!info && (!in_path || !out_path))) {
    fprintf (stderr, "usage: repvit-infer --model FILE --input-npy X.npy "
        "--output-npy Y.npy [--threads N] [--precision " PRECISION_CHOICES "]\n"
        "       repvit-infer --model FILE --info\n");
    return 2;
  }

  char err[512];
  rv_model *model;
  if (rv_model_load (model_path, &model, err, sizeof err) != RV_OK)
    return die ("%s%s", err, "");
  if (info) {
    print_info (model);
    rv_model_free (model);
    return 0;
  }
  float *input = NULL;
  long shape[4];
  rv_ctx *ctx = NULL;
  int rc = read_npy (in_path, &input, shape);
  if (!rc && (rv_ctx_init (model, threads, &ctx, err, sizeof err)
          || rv_ctx_set_precision (ctx, precision, err, sizeof err)
          || rv_ctx_set_input_size (ctx, (int) shape[3], (int) shape[2], err,
              sizeof err)))
    rc = die ("%s%s", err, "");
  if (!rc && rv_ctx_get_precision (ctx) != precision)
    fprintf (stderr, "repvit-infer: no %s on this CPU: precision f32\n",
        precision_needs (precision));
  if (!rc) {
    memcpy (rv_ctx_input (ctx), input, sizeof *input * 3 * shape[2] * shape[3]);
    rv_status st = rv_ctx_forward (ctx);
    int rows, anchors;
    const float *out = rv_ctx_output (ctx, &rows, &anchors);
    rc = st ? die ("forward failed: %s%s", rv_status_string (st), "")
        : write_npy (out_path, out, rows, anchors);
  }
  free (input);
  rv_ctx_free (ctx);
  rv_model_free (model);
  return rc;
}
