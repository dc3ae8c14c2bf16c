/* test_qos.c — repvitoverlay and repvitjson pass on buffers that QoS
 * reports as late: drawing and writing are cheap, and a frame that
 * repvityolo kept on purpose must not be lost further down. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

static const gchar *elements[] = {
  "repvitoverlay",
  "repvitjson location=/dev/null",
};

GST_START_TEST (test_late_buffers_pass)
{
  GstHarness *h = gst_harness_new_parse (elements[__i__]);
  GstVideoInfo info;
  GstElement *element;
  gboolean qos = TRUE;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, 64, 48);
  info.fps_n = 30;
  gst_harness_set_src_caps (h, gst_video_info_to_caps (&info));

  /* downstream says it is 10 s behind: every frame below is late */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 0.5, GST_SECOND,
              10 * GST_SECOND)));
  for (gint i = 0; i < 5; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, info.size, NULL), *out;

    gst_buffer_memset (buf, 0, 0x40, info.size);
    GST_BUFFER_PTS (buf) = i * GST_SECOND / 30;
    GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
    gst_buffer_add_repvit_detection_meta (buf, "test", 64, 64);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    out = gst_harness_try_pull (h);
    fail_unless (out != NULL, "%s dropped late frame %d", elements[__i__], i);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), i * GST_SECOND / 30);
    gst_buffer_unref (out);
  }

  /* documented default, as seen by applications */
  element = gst_harness_find_element (h, "repvitoverlay");
  if (element == NULL)
    element = gst_harness_find_element (h, "repvitjson");
  g_object_get (element, "qos", &qos, NULL);
  fail_if (qos, "%s: qos is enabled by default", elements[__i__]);
  gst_object_unref (element);
  gst_harness_teardown (h);
}

GST_END_TEST;

static Suite *
qos_suite (void)
{
  Suite *s = suite_create ("repvit-qos");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_late_buffers_pass, 0, G_N_ELEMENTS (elements));
  return s;
}

GST_CHECK_MAIN (qos);
