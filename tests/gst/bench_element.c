/* bench_element.c — the elements' per-frame cost besides the network, median
 * of N runs per case, at 1280x720 and 1920x1080:
 *   - pre-processing: the letterbox repvityolo runs on the mapped frame
 *     (rv_letterbox_frame) into the 640 rect input, per input format;
 *   - meta: attaching a detection meta with 20 detections, and a buffer
 *     copy carrying it;
 *   - overlay: repvitoverlay drawing 20 boxes with captions, per format.
 *
 *   meson test -C build --benchmark element-overhead -v
 *   (or ./bench-element [N] with GST_PLUGIN_PATH pointing at the plugin)
 */
#include <stdlib.h>

#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvit.h"
#include "repvitmeta.h"

#define BOXES 20
#define TARGET 640

static const gchar *labels[] = { "circle", "square", "triangle", "person" };

static const struct
{
  gint width, height;
} sizes[] = { {1280, 720}, {1920, 1080} };

static const struct
{
  const gchar *caps_format;
  rv_pixel_format format;
} formats[] = {
  {"NV12", RV_FMT_NV12}, {"I420", RV_FMT_I420}, {"RGB", RV_FMT_RGB},
  {"BGRx", RV_FMT_BGRX},
};

static int
compare_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return (x > y) - (x < y);
}

static gdouble
median (gdouble * ms, guint runs)
{
  qsort (ms, runs, sizeof *ms, compare_double);
  return ms[runs / 2];
}

static gdouble
elapsed_ms (gint64 t0)
{
  return (g_get_monotonic_time () - t0) / 1000.0;
}

/* A mid-grey frame of this format and size. */
static GstBuffer *
grey_frame (GstVideoInfo * info)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);

  gst_buffer_memset (buf, 0, 0x80, info->size);
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_INFO_FORMAT (info), info->width, info->height,
      GST_VIDEO_INFO_N_PLANES (info), info->offset, info->stride);
  return buf;
}

/* BOXES detections of a fixed random layout inside width x height. */
static void
random_detections (gint width, gint height, GstRepvitDetection * dets)
{
  GRand *rand = g_rand_new_with_seed (1);

  for (gint i = 0; i < BOXES; i++) {
    gfloat w = g_rand_double_range (rand, 40, width / 3.0);
    gfloat h = g_rand_double_range (rand, 40, height / 3.0);
    GstRepvitDetection d = { i, g_intern_static_string (labels[i % 4]),
      g_rand_double (rand), g_rand_double_range (rand, 0, width - w),
      g_rand_double_range (rand, 0, height - h), w, h, -1, 0
    };
    dets[i] = d;
  }
  g_rand_free (rand);
}

static void
attach_detections (GstBuffer * buf, const GstRepvitDetection * dets)
{
  GstRepvitDetectionMeta *meta =
      gst_buffer_add_repvit_detection_meta (buf, "bench", TARGET, TARGET);

  for (gint i = 0; i < BOXES; i++)
    gst_repvit_detection_meta_add (meta, &dets[i]);
}

static gdouble
letterbox_ms (GstVideoInfo * info, rv_pixel_format format, guint runs)
{
  GstBuffer *buf = grey_frame (info);
  GstVideoFrame frame;
  rv_frame src = { format, info->width, info->height, {NULL}, {0},
    RV_YUV_BT709_LIMITED
  };
  rv_letterbox lb;
  gint in_w, in_h;
  gfloat *dst;
  gdouble *ms = g_new (gdouble, runs), result;

  rv_input_size_for_frame (info->width, info->height, TARGET, TRUE, &in_w,
      &in_h);
  rv_letterbox_geometry (info->width, info->height, in_w, in_h, &lb);
  dst = g_new (gfloat, 3 * (gsize) in_w * in_h);
  gst_video_frame_map (&frame, info, buf, GST_MAP_READ);
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
    src.planes[p] = GST_VIDEO_FRAME_PLANE_DATA (&frame, p);
    src.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p);
  }
  rv_letterbox_frame (&src, &lb, dst);  /* warm-up: page faults */
  for (guint r = 0; r < runs; r++) {
    gint64 t0 = g_get_monotonic_time ();

    rv_letterbox_frame (&src, &lb, dst);
    ms[r] = elapsed_ms (t0);
  }
  result = median (ms, runs);

  gst_video_frame_unmap (&frame);
  gst_buffer_unref (buf);
  g_free (dst);
  g_free (ms);
  return result;
}

/* Attaching the meta, and copying a buffer that carries it. */
static void
meta_ms (gint width, gint height, guint runs, gdouble * attach, gdouble * copy)
{
  gdouble *a = g_new (gdouble, runs), *c = g_new (gdouble, runs);
  GstRepvitDetection dets[BOXES];

  random_detections (width, height, dets);
  for (guint r = 0; r < runs; r++) {
    GstBuffer *buf = gst_buffer_new (), *dup;
    gint64 t0 = g_get_monotonic_time ();

    attach_detections (buf, dets);
    a[r] = elapsed_ms (t0);
    t0 = g_get_monotonic_time ();
    dup = gst_buffer_copy (buf);
    c[r] = elapsed_ms (t0);
    gst_buffer_unref (dup);
    gst_buffer_unref (buf);
  }
  *attach = median (a, runs);
  *copy = median (c, runs);
  g_free (a);
  g_free (c);
}

static gdouble
overlay_ms (GstVideoInfo * info, const gchar * caps_format, guint runs)
{
  GstHarness *h = gst_harness_new ("repvitoverlay");
  gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1", caps_format, info->width, info->height);
  GstBuffer *buf = grey_frame (info);
  gdouble *ms = g_new (gdouble, runs), result;
  GstRepvitDetection dets[BOXES];

  random_detections (info->width, info->height, dets);
  attach_detections (buf, dets);
  gst_harness_set_src_caps_str (h, caps);
  buf = gst_harness_push_and_pull (h, buf);     /* warm-up: fonts, scratch */
  for (guint r = 0; r < runs; r++) {
    gint64 t0 = g_get_monotonic_time ();

    buf = gst_harness_push_and_pull (h, buf);   /* writable: drawn in place */
    ms[r] = elapsed_ms (t0);
  }
  result = median (ms, runs);

  gst_buffer_unref (buf);
  gst_harness_teardown (h);
  g_free (caps);
  g_free (ms);
  return result;
}

int
main (int argc, char **argv)
{
  guint runs = argc > 1 ? (guint) atoi (argv[1]) : 100;

  gst_init (&argc, &argv);
  if (runs == 0) {
    g_printerr ("usage: %s [RUNS]\n", argv[0]);
    return 1;
  }
  g_print ("per-frame cost besides the network, median of %u runs (ms); "
      "letterbox into the %d rect input, overlay of %d boxes with captions\n",
      runs, TARGET, BOXES);
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    gint width = sizes[s].width, height = sizes[s].height;
    gdouble attach, copy;

    for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
      GstVideoInfo info;

      gst_video_info_set_format (&info,
          gst_video_format_from_string (formats[f].caps_format), width, height);
      g_print ("%4dx%-4d %-4s  letterbox %6.3f   overlay %6.3f\n", width,
          height, formats[f].caps_format, letterbox_ms (&info,
              formats[f].format, runs), overlay_ms (&info,
              formats[f].caps_format, runs));
    }
    meta_ms (width, height, runs, &attach, &copy);
    g_print ("%4dx%-4d meta  attach %d detections %.1f us, buffer copy "
        "%.1f us\n", width, height, BOXES, 1000 * attach, 1000 * copy);
  }
  return 0;
}
