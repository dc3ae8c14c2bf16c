/* nonfinite.c — NaN and infinities never reach a detection: the network run
 * on inputs holding NaN or +-Inf, and Detect outputs holding them (boxes,
 * scores), give only finite boxes inside the frame and finite scores.
 *
 * usage: test-nonfinite MODEL */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "post.h"
#include "repvit.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; \
      fprintf (stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } } while (0)

/* Every detection finite, inside the w x h frame, score above conf. */
static void
check_dets (const char *what, const rv_detection *d, int n, int w, int h,
    float conf)
{
  for (int i = 0; i < n; i++)
    CHECK (isfinite (d[i].x1) && isfinite (d[i].y1) && isfinite (d[i].x2)
        && isfinite (d[i].y2) && isfinite (d[i].score) && d[i].score > conf
        && d[i].x1 >= 0 && d[i].x2 <= w && d[i].y1 >= 0 && d[i].y2 <= h,
        "%s: detection %d: %g,%g,%g,%g score %g", what, i, d[i].x1, d[i].y1,
        d[i].x2, d[i].y2, d[i].score);
}

/* The network on an input whose pixels are replaced by v in a block (or
 * everywhere). */
static void
forward_with (rv_ctx *ctx, float v, int everywhere, const char *what)
{
  int w, h, n;
  rv_ctx_get_input_size (ctx, &w, &h);
  float *in = rv_ctx_input (ctx);
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        in[((size_t) c * h + y) * w + x] =
            everywhere || (x > w / 3 && x < w / 2 && y > h / 4 && y < h / 2)
            ? v : (float) ((x * 7 + y * 3 + c * 50) % 256) / 255;
  CHECK (rv_ctx_forward (ctx) == RV_OK, "%s: forward failed", what);
  rv_letterbox lb;
  rv_letterbox_geometry (300, 200, w, h, &lb);
  rv_post_params pp = rv_post_params_default ();
  pp.conf_threshold = 0.0f;     /* keep every finite score */
  rv_detection dets[300];
  CHECK (rv_ctx_postprocess (ctx, &lb, &pp, dets, 300, &n) == RV_OK,
      "%s: postprocess failed", what);
  check_dets (what, dets, n, 300, 200, 0.0f);
  printf ("ok   %-28s %d detections, all finite\n", what, n);
}

/* Detect outputs with non-finite boxes and NaN scores (class scores come
 * out of a sigmoid: NaN or within 0 .. 1) straight into the post-processing. */
static void
raw_outputs (void)
{
  enum { NC = 3, A = 64 };
  static float raw[(4 + NC) * A];
  static const float specials[] = { NAN, INFINITY, -INFINITY, 1e38f, -1e38f };
  const int ns = sizeof specials / sizeof specials[0];
  for (int a = 0; a < A; a++) {
    float s = specials[a % ns];
    int row = a / ns % (4 + NC);        /* the row that gets the special */
    raw[a] = 16 + a % 8 * 8;            /* cx */
    raw[A + a] = 16 + a / 8 * 8;        /* cy */
    raw[2 * A + a] = 20;
    raw[3 * A + a] = 12;
    for (int c = 0; c < NC; c++)
      raw[(4 + c) * A + a] = (float) ((a * 37 + c * 11) % 100) / 100;
    raw[row * A + a] = row < 4 || isnan (s) ? s : s > 0;
  }
  rv_letterbox lb;
  rv_letterbox_geometry (640, 480, 96, 64, &lb);
  rv_post_params pp = rv_post_params_default ();
  pp.conf_threshold = 0.05f;
  pp.iou_threshold = 0.5f;
  rv_detection dets[A];
  void *scratch = aligned_alloc (64, (rv_post_scratch_size (A) + 63) / 64 * 64);
  int n = rv_postprocess_raw (raw, NC, A, &lb, &pp, dets, A, scratch);
  free (scratch);
  CHECK (n > 0, "raw outputs: nothing kept, a vacuous test");
  check_dets ("raw outputs", dets, n, 640, 480, pp.conf_threshold);
  printf ("ok   %-28s %d detections, all finite\n", "NaN/Inf Detect outputs", n);
}

int
main (int argc, char **argv)
{
  if (argc != 2) {
    fprintf (stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  char err[256];
  rv_model *model;
  rv_ctx *ctx;
  if (rv_model_load (argv[1], &model, err, sizeof err)
      || rv_ctx_init (model, 1, &ctx, err, sizeof err)
      || rv_ctx_set_input_size (ctx, 96, 64, err, sizeof err)) {
    fprintf (stderr, "%s\n", err);
    return 1;
  }
  forward_with (ctx, NAN, 0, "NaN block");
  forward_with (ctx, INFINITY, 0, "+Inf block");
  forward_with (ctx, -INFINITY, 0, "-Inf block");
  forward_with (ctx, NAN, 1, "NaN everywhere");
  forward_with (ctx, INFINITY, 1, "+Inf everywhere");
  forward_with (ctx, 1e30f, 1, "1e30 everywhere");
  raw_outputs ();
  rv_ctx_free (ctx);
  rv_model_free (model);
  return failures != 0;
}
