/* test_overlay_track.c — repvitoverlay with track ids: "#id" in front of the
 * caption (a wider caption than without an id), and trail-length dots at
 * the earlier centres of a track, none where it is now or without a trail. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

#define W 320
#define H 240
#define CAPS "video/x-raw,format=RGB,width=320,height=240,framerate=30/1"
#define GREY 0x40
/* repvitoverlay's colour of class 0 */
#define R0 0x00
#define G0 0xc2
#define B0 0xff

static GstBuffer *
frame_with (gfloat x, gint64 track_id)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, W * H * 3, NULL);
  GstRepvitDetectionMeta *meta;
  GstRepvitDetection d = { 0, "circle", 0.9f, x, 100, 60, 60, track_id, 0 };

  gst_buffer_memset (buf, 0, GREY, W * H * 3);
  meta = gst_buffer_add_repvit_detection_meta (buf, "test", 320, 256);
  gst_repvit_detection_meta_add (meta, &d);
  return buf;
}

static const guint8 *
pixel (GstMapInfo * map, gint x, gint y)
{
  return map->data + (y * W + x) * 3;
}

/* Changed pixels in the rows above the box (where the caption goes). */
static guint
caption_pixels (const gchar * props, gint64 track_id)
{
  gchar *desc = g_strdup_printf ("repvitoverlay %s", props);
  GstHarness *h = gst_harness_new_parse (desc);
  GstBuffer *out;
  GstMapInfo map;
  guint n = 0;

  gst_harness_set_src_caps_str (h, CAPS);
  out = gst_harness_push_and_pull (h, frame_with (100, track_id));
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  for (gint y = 60; y < 100; y++)
    for (gint x = 0; x < W; x++)
      n += pixel (&map, x, y)[0] != GREY || pixel (&map, x, y)[1] != GREY;
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (desc);
  return n;
}

GST_START_TEST (test_caption_id)
{
  guint plain = caption_pixels ("", -1), tracked = caption_pixels ("", 42);

  fail_unless (plain > 0);
  fail_unless (tracked > plain + 100, "caption with #42: %u changed pixels, "
      "without: %u", tracked, plain);
  /* with neither label nor confidence the id alone is written */
  fail_unless (caption_pixels ("show-labels=false show-confidence=false",
          -1) == 0);
  fail_unless (caption_pixels ("show-labels=false show-confidence=false",
          42) > 0);
}

GST_END_TEST;

static gboolean
is_class0 (const guint8 * p)
{
  return ABS (p[0] - R0) <= 2 && ABS (p[1] - G0) <= 2 && ABS (p[2] - B0) <= 2;
}

GST_START_TEST (test_trail)
{
  for (guint len = 0; len <= 5; len += 5) {
    gchar *desc = g_strdup_printf ("repvitoverlay trail-length=%u "
        "show-labels=false show-confidence=false", len);
    GstHarness *h = gst_harness_new_parse (desc);
    GstBuffer *out = NULL;
    GstMapInfo map;

    gst_harness_set_src_caps_str (h, CAPS);
    /* the box moves 20 px per frame: centres 50, 70, 90, 110, 130 */
    for (guint f = 0; f < 5; f++) {
      if (out)
        gst_buffer_unref (out);
      out = gst_harness_push_and_pull (h, frame_with (20 + 20 * f, 7));
    }
    fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
    for (guint f = 2; f < 4; f++)       /* inside the box, off its outline */
      fail_unless (is_class0 (pixel (&map, 50 + 20 * f, 130)) == (len > 0),
          "trail-length %u: centre of frame %u", len, f);
    fail_if (is_class0 (pixel (&map, 130, 130)), "a dot where the box is");
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
    g_free (desc);
  }
}

GST_END_TEST;

static Suite *
overlay_track_suite (void)
{
  Suite *s = suite_create ("repvitoverlay-track");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caption_id);
  tcase_add_test (tc, test_trail);
  return s;
}

GST_CHECK_MAIN (overlay_track);
