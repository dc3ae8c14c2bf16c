/* prepost-driver — runs the C core's letterbox, NMS and post-processing on
 * data from files, for the Python tests that compare them to references.
 *
 *   prepost-driver size FRAME_W FRAME_H TARGET RECT     -> "in_w in_h"
 *   prepost-driver letterbox FRAME.bin IN_W IN_H OUT.f32
 *       FRAME.bin: int32 format, width, height, yuv_matrix, stride0..2, then
 *       the planes (stride * rows bytes each); prints the geometry
 *       "resized_w resized_h pad_left pad_top scale" or the status.
 *   prepost-driver nms IN.bin OUT.bin
 *       IN: int32 n, float iou, int32 max_keep, boxes n x 4 f32, scores n f32,
 *       classes n int32; OUT: int32 count, indices.
 *   prepost-driver post IN.bin OUT.bin
 *       IN: int32 nc, anchors, frame_w, frame_h, in_w, in_h, max_detections,
 *       max_dets; float conf, iou; int32 has_mask; mask (nc bytes if any);
 *       raw (4 + nc) x anchors f32. OUT: int32 count, count x (x1 y1 x2 y2
 *       score class) f32.
 *   prepost-driver bench     -> letterbox timings (median of 50 runs)
 */
#include "repvit.h"
#include "post.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *
read_file (const char *path, size_t *size)
{
  FILE *f = fopen (path, "rb");
  char *data;
  long n;

  if (!f || fseek (f, 0, SEEK_END) || (n = ftell (f)) < 0
      || fseek (f, 0, SEEK_SET)) {
    fprintf (stderr, "%s: cannot read\n", path);
    exit (2);
  }
  data = malloc ((size_t) n + 1);
  if (!data || fread (data, 1, (size_t) n, f) != (size_t) n) {
    fprintf (stderr, "%s: short read\n", path);
    exit (2);
  }
  fclose (f);
  *size = (size_t) n;
  return data;
}

static void
write_file (const char *path, const void *a, size_t na, const void *b,
    size_t nb)
{
  FILE *f = fopen (path, "wb");

  if (!f || fwrite (a, 1, na, f) != na || (nb && fwrite (b, 1, nb, f) != nb)
      || fclose (f)) {
    fprintf (stderr, "%s: cannot write\n", path);
    exit (2);
  }
}

/* Sequential reader over a file image. */
typedef struct { const char *p, *end; } cursor;

static const void *
take (cursor *c, size_t n)
{
  const void *p = c->p;

  if ((size_t) (c->end - c->p) < n) {
    fprintf (stderr, "input file too short\n");
    exit (2);
  }
  c->p += n;
  return p;
}

static int32_t
take_i32 (cursor *c)
{
  int32_t v;
  memcpy (&v, take (c, 4), 4);
  return v;
}

static float
take_f32 (cursor *c)
{
  float v;
  memcpy (&v, take (c, 4), 4);
  return v;
}

static int
plane_rows (rv_pixel_format format, int plane, int height)
{
  if (plane == 0)
    return height;
  if (format == RV_FMT_I420 || (format == RV_FMT_NV12 && plane == 1))
    return (height + 1) / 2;
  return 0;
}

static int
cmd_letterbox (char **argv)
{
  size_t size;
  char *data = read_file (argv[0], &size);
  cursor c = { data, data + size };
  rv_frame frame = { 0 };
  rv_letterbox lb;
  rv_status status;
  float *out;
  size_t n;

  frame.format = (rv_pixel_format) take_i32 (&c);
  frame.width = take_i32 (&c);
  frame.height = take_i32 (&c);
  frame.yuv_matrix = (rv_yuv_matrix) take_i32 (&c);
  for (int p = 0; p < 3; p++)
    frame.strides[p] = (size_t) take_i32 (&c);
  for (int p = 0; p < 3; p++) {
    size_t bytes = frame.strides[p]
        * plane_rows (frame.format, p, frame.height);
    frame.planes[p] = bytes ? take (&c, bytes) : NULL;
  }
  rv_letterbox_geometry (frame.width, frame.height, atoi (argv[1]),
      atoi (argv[2]), &lb);
  n = (size_t) 3 * lb.in_w * lb.in_h;
  out = malloc (n * sizeof (float) + 1);
  status = rv_letterbox_frame (&frame, &lb, out);
  if (status != RV_OK) {
    printf ("error %d\n", status);
  } else {
    printf ("%d %d %d %d %.9g\n", lb.resized_w, lb.resized_h, lb.pad_left,
        lb.pad_top, lb.scale);
    write_file (argv[3], out, n * sizeof (float), NULL, 0);
  }
  free (out);
  free (data);
  return status != RV_OK;
}

static int
cmd_nms (char **argv)
{
  size_t size;
  char *data = read_file (argv[0], &size);
  cursor c = { data, data + size };
  int n = take_i32 (&c);
  float iou = take_f32 (&c);
  int max_keep = take_i32 (&c);
  const float *boxes = take (&c, (size_t) n * 16);
  const float *scores = take (&c, (size_t) n * 4);
  const int *classes = take (&c, (size_t) n * 4);
  int *keep = malloc ((size_t) (n + 1) * sizeof (int));
  int *scratch = malloc ((size_t) (n + 1) * sizeof (int));
  int32_t count = rv_nms (boxes, scores, classes, n, iou, max_keep, keep,
      scratch);

  write_file (argv[1], &count, 4, keep, (size_t) count * sizeof (int));
  free (keep);
  free (scratch);
  free (data);
  return 0;
}

static int
cmd_post (char **argv)
{
  size_t size;
  char *data = read_file (argv[0], &size);
  cursor c = { data, data + size };
  int nc = take_i32 (&c), anchors = take_i32 (&c);
  int frame_w = take_i32 (&c), frame_h = take_i32 (&c);
  int in_w = take_i32 (&c), in_h = take_i32 (&c);
  rv_post_params pp = rv_post_params_default ();
  int max_dets;
  rv_letterbox lb;
  rv_detection *dets;
  float *out;
  void *scratch;
  float *raw;
  int32_t count;

  pp.max_detections = take_i32 (&c);
  max_dets = take_i32 (&c);
  pp.conf_threshold = take_f32 (&c);
  pp.iou_threshold = take_f32 (&c);
  if (take_i32 (&c))
    pp.class_mask = take (&c, (size_t) nc);
  rv_letterbox_geometry (frame_w, frame_h, in_w, in_h, &lb);
  dets = malloc ((size_t) (max_dets + 1) * sizeof *dets);
  out = malloc ((size_t) (max_dets + 1) * 6 * sizeof (float));
  scratch = aligned_alloc (64,
      (rv_post_scratch_size (anchors) + 63) & ~(size_t) 63);
  /* Copied: after the mask bytes the floats in the file image are unaligned. */
  raw = malloc ((size_t) (4 + nc) * anchors * sizeof (float));
  memcpy (raw, take (&c, (size_t) (4 + nc) * anchors * 4),
      (size_t) (4 + nc) * anchors * sizeof (float));
  count = rv_postprocess_raw (raw, nc, anchors, &lb, &pp, dets, max_dets,
      scratch);
  for (int i = 0; i < count; i++) {
    float row[6] = { dets[i].x1, dets[i].y1, dets[i].x2, dets[i].y2,
      dets[i].score, (float) dets[i].class_id };
    memcpy (out + 6 * i, row, sizeof row);
  }
  write_file (argv[1], &count, 4, out, (size_t) count * 6 * sizeof (float));
  free (scratch);
  free (raw);
  free (out);
  free (dets);
  free (data);
  return 0;
}

static double
ms_between (struct timespec a, struct timespec b)
{
  return (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) * 1e-6;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Median wall and CPU milliseconds of 50 letterboxes of a w x h noise frame
 * into the rect input for target 640. */
static void
bench_one (rv_pixel_format format, int w, int h)
{
  bool yuv = format == RV_FMT_I420 || format == RV_FMT_NV12;
  size_t stride = yuv ? (size_t) w : (size_t) w * 3;
  size_t bytes = stride * h * (yuv ? 2 : 1);
  uint8_t *pixels = malloc (bytes);
  rv_frame frame = { format, w, h, { pixels, pixels + stride * h },
    { stride, stride }, RV_YUV_BT709_LIMITED };
  rv_letterbox lb;
  int in_w, in_h;
  double ms[50], cpu[50];
  float *dst;

  for (size_t i = 0; i < bytes; i++)
    pixels[i] = (uint8_t) (i * 2654435761u >> 24);
  rv_input_size_for_frame (w, h, 640, true, &in_w, &in_h);
  rv_letterbox_geometry (w, h, in_w, in_h, &lb);
  dst = malloc ((size_t) 3 * in_w * in_h * sizeof (float));
  for (int i = 0; i < 50; i++) {
    struct timespec t[4];
    clock_gettime (CLOCK_MONOTONIC, &t[0]);
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &t[1]);
    rv_letterbox_frame (&frame, &lb, dst);
    clock_gettime (CLOCK_MONOTONIC, &t[2]);
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &t[3]);
    ms[i] = ms_between (t[0], t[2]);
    cpu[i] = ms_between (t[1], t[3]);
  }
  qsort (ms, 50, sizeof ms[0], cmp_double);
  qsort (cpu, 50, sizeof cpu[0], cmp_double);
  printf ("%s %dx%d -> %dx%d: %.3f ms wall, %.3f ms thread CPU"
      " (medians of 50)\n",
      yuv ? "NV12" : "RGB", w, h, in_w, in_h, ms[25], cpu[25]);
  free (dst);
  free (pixels);
}

int
main (int argc, char **argv)
{
  if (argc == 6 && !strcmp (argv[1], "size")) {
    int in_w, in_h;
    rv_status s = rv_input_size_for_frame (atoi (argv[2]), atoi (argv[3]),
        atoi (argv[4]), atoi (argv[5]) != 0, &in_w, &in_h);
    if (s != RV_OK) {
      printf ("error %d\n", s);
      return 1;
    }
    printf ("%d %d\n", in_w, in_h);
    return 0;
  }
  if (argc == 6 && !strcmp (argv[1], "letterbox"))
    return cmd_letterbox (argv + 2);
  if (argc == 4 && !strcmp (argv[1], "nms"))
    return cmd_nms (argv + 2);
  if (argc == 4 && !strcmp (argv[1], "post"))
    return cmd_post (argv + 2);
  if (argc == 2 && !strcmp (argv[1], "bench")) {
    bench_one (RV_FMT_NV12, 1920, 1080);
    bench_one (RV_FMT_RGB, 1280, 720);
    return 0;
  }
  fprintf (stderr, "usage: see the comment at the top of prepost-driver.c\n");
  return 2;
}
