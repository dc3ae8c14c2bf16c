/* bench_overlay.c — time repvitoverlay drawing 20 boxes with captions on a
 * 1280x720 frame: median of N runs per format.
 *
 *   meson test -C build --benchmark overlay      (or run ./bench_overlay [N]
 *   with GST_PLUGIN_PATH pointing at the plugin)
 */
#include <stdlib.h>

#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

#define W 1280
#define H 720
#define BOXES 20

static const gchar *labels[] = { "circle", "square", "triangle", "person" };

static int
compare_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return (x > y) - (x < y);
}

static gdouble
median_ms (const gchar * format, guint runs)
{
  GstVideoInfo info;
  GstHarness *h = gst_harness_new ("repvitoverlay");
  gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1", format, W, H);
  GRand *rand = g_rand_new_with_seed (1);
  GstBuffer *buf;
  GstRepvitDetectionMeta *meta;
  gdouble *ms = g_new (gdouble, runs), median;

  gst_video_info_set_format (&info, gst_video_format_from_string (format), W,
      H);
  buf = gst_buffer_new_allocate (NULL, info.size, NULL);
  gst_buffer_memset (buf, 0, 0x80, info.size);
  meta = gst_buffer_add_repvit_detection_meta (buf, "bench", 640, 384);
  for (gint i = 0; i < BOXES; i++) {
    gfloat w = g_rand_double_range (rand, 40, 400);
    gfloat h = g_rand_double_range (rand, 40, 300);
    GstRepvitDetection d = { i, g_intern_static_string (labels[i % 4]),
      g_rand_double (rand), g_rand_double_range (rand, 0, W - w),
      g_rand_double_range (rand, 0, H - h), w, h, -1
    };
    gst_repvit_detection_meta_add (meta, &d);
  }

  gst_harness_set_src_caps_str (h, caps);
  buf = gst_harness_push_and_pull (h, buf);     /* warm-up: fonts, scratch */
  for (guint r = 0; r < runs; r++) {
    gint64 t0 = g_get_monotonic_time ();

    buf = gst_harness_push_and_pull (h, buf);   /* writable: drawn in place */
    ms[r] = (g_get_monotonic_time () - t0) / 1000.0;
  }
  qsort (ms, runs, sizeof *ms, compare_double);
  median = ms[runs / 2];

  gst_buffer_unref (buf);
  gst_harness_teardown (h);
  g_rand_free (rand);
  g_free (caps);
  g_free (ms);
  return median;
}

int
main (int argc, char **argv)
{
  const gchar *formats[] = { "BGRx", "RGB", "I420", "NV12" };
  guint runs = argc > 1 ? (guint) atoi (argv[1]) : 100;

  gst_init (&argc, &argv);
  if (runs == 0) {
    g_printerr ("usage: %s [RUNS]\n", argv[0]);
    return 1;
  }
  g_print ("repvitoverlay, %d boxes with captions, %dx%d, median of %u\n",
      BOXES, W, H, runs);
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    g_print ("  %-5s %6.3f ms\n", formats[i], median_ms (formats[i], runs));
  return 0;
}
