/* test_json.c — repvitjson writes one parsable JSON line per frame that says
 * what the metas say, passes buffers on untouched, and fails loudly. */
#include <math.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "repvitmeta.h"

#define W 640
#define H 480
#define CAPS "video/x-raw,format=RGB,width=640,height=480,framerate=30/1"

static gchar *tmp_dir;

static void
setup (void)
{
  tmp_dir = g_dir_make_tmp ("repvitjson-XXXXXX", NULL);
  fail_unless (tmp_dir != NULL);
}

static void
teardown (void)
{
  gchar *file = g_build_filename (tmp_dir, "out.jsonl", NULL);

  g_remove (file);
  fail_unless (g_rmdir (tmp_dir) == 0);
  g_free (file);
  g_clear_pointer (&tmp_dir, g_free);
}

static GstHarness *
json_harness (const gchar * props, gchar ** location)
{
  GstHarness *h;
  gchar *desc;

  *location = g_build_filename (tmp_dir, "out.jsonl", NULL);
  desc = g_strdup_printf ("repvitjson location=\"%s\" %s", *location,
      props ? props : "");
  h = gst_harness_new_parse (desc);
  g_free (desc);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

static GstBuffer *
make_buffer (GstClockTime pts)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, W * H * 3, NULL);

  gst_buffer_memset (buf, 0, 0x5a, W * H * 3);
  GST_BUFFER_PTS (buf) = pts;
  return buf;
}

static const GstRepvitDetection dets[] = {
  {2, "triangle", 0.875f, 10.4f, 20.6f, 300.0f, 200.25f, -1, 0},
  {0, "circle", 0.25f, 0.0f, 0.0f, 640.0f, 480.0f, 7, 0},
};

static void
add_our_meta (GstBuffer * buf, gboolean stale, guint n)
{
  GstRepvitDetectionMeta *meta = gst_buffer_add_repvit_detection_meta (buf,
      g_intern_static_string ("m0_9-n nc3 test"), 640, 480);

  meta->inference_ns = 12345678;
  meta->stale = stale;
  for (guint i = 0; i < n; i++) {
    GstRepvitDetection d = dets[i];

    d.label = g_intern_string (d.label);
    gst_repvit_detection_meta_add (meta, &d);
  }
}

/* The file's lines, each parsed; fails on a line that is not an object. */
static GList *
read_lines (const gchar * location)
{
  gchar *text, **lines;
  GList *objects = NULL;

  fail_unless (g_file_get_contents (location, &text, NULL, NULL));
  fail_unless (text[0] == '\0' || g_str_has_suffix (text, "\n"));
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] && lines[i][0]; i++) {
    JsonParser *parser = json_parser_new ();
    GError *err = NULL;

    fail_unless (json_parser_load_from_data (parser, lines[i], -1, &err),
        "line %u: %s", i, err ? err->message : "");
    fail_unless (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
    objects = g_list_append (objects,
        json_object_ref (json_node_get_object (json_parser_get_root (parser))));
    g_object_unref (parser);
  }
  g_strfreev (lines);
  g_free (text);
  return objects;
}

static gdouble
path_double (JsonObject * o, const gchar * a, const gchar * b)
{
  JsonObject *inner = json_object_get_object_member (o, a);

  return json_object_get_double_member (inner, b);
}

static void
check_object (JsonObject * obj, const GstRepvitDetection * d)
{
  JsonObject *det = json_object_get_object_member (obj, "detection");
  JsonObject *bb = json_object_get_object_member (det, "bounding_box");

  fail_unless_equals_int (json_object_get_int_member (obj, "x"),
      (gint) (d->x + 0.5));
  fail_unless_equals_int (json_object_get_int_member (obj, "y"),
      (gint) (d->y + 0.5));
  fail_unless_equals_int (json_object_get_int_member (obj, "w"),
      (gint) (d->w + 0.5));
  fail_unless_equals_int (json_object_get_int_member (obj, "h"),
      (gint) (d->h + 0.5));
  fail_unless_equals_string (json_object_get_string_member (obj, "roi_type"),
      d->label);
  fail_unless_equals_string (json_object_get_string_member (det, "label"),
      d->label);
  fail_unless_equals_int (json_object_get_int_member (det, "label_id"),
      d->class_id);
  fail_unless (fabs (json_object_get_double_member (det, "confidence") -
          d->confidence) < 1e-4);
  fail_unless (fabs (json_object_get_double_member (bb, "x_min") - d->x / W)
      < 1e-6);
  fail_unless (fabs (json_object_get_double_member (bb, "y_min") - d->y / H)
      < 1e-6);
  fail_unless (fabs (json_object_get_double_member (bb, "x_max") -
          (d->x + d->w) / W) < 1e-6);
  fail_unless (fabs (json_object_get_double_member (bb, "y_max") -
          (d->y + d->h) / H) < 1e-6);
  if (d->track_id >= 0) {
    fail_unless_equals_int (json_object_get_int_member (obj, "id"),
        d->track_id);
  } else {
    fail_if (json_object_has_member (obj, "id"));
  }
}

GST_START_TEST (test_lines_match_meta)
{
  gchar *location;
  GstHarness *h = json_harness (NULL, &location);
  GstBuffer *in, *out;
  GList *lines;
  JsonObject *o;
  JsonArray *objects;

  /* frame 0: two detections; 1: no meta; 2: stale, no timestamp */
  in = make_buffer (0);
  add_our_meta (in, FALSE, 2);
  out = gst_harness_push_and_pull (h, gst_buffer_ref (in));
  fail_unless (out == in, "not passed through in place");
  gst_buffer_unref (out);
  gst_buffer_unref (in);
  gst_buffer_unref (gst_harness_push_and_pull (h, make_buffer (GST_SECOND /
              30)));
  in = make_buffer (GST_CLOCK_TIME_NONE);
  add_our_meta (in, TRUE, 1);
  gst_buffer_unref (gst_harness_push_and_pull (h, in));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));

  /* Written out at EOS, before the element stops. */
  lines = read_lines (location);
  fail_unless_equals_int (g_list_length (lines), 3);

  o = g_list_nth_data (lines, 0);
  fail_unless_equals_int (path_double (o, "resolution", "width"), W);
  fail_unless_equals_int (path_double (o, "resolution", "height"), H);
  fail_unless_equals_int (json_object_get_int_member (o, "timestamp"), 0);
  fail_unless_equals_int (json_object_get_int_member (o, "frame"), 0);
  fail_unless_equals_string (json_object_get_string_member (o, "model"),
      "m0_9-n nc3 test");
  fail_unless_equals_int (path_double (o, "input", "width"), 640);
  fail_unless_equals_int (path_double (o, "input", "height"), 480);
  fail_unless (fabs (json_object_get_double_member (o, "inference_ms") -
          12.345678) < 1e-3);
  fail_unless (json_object_get_boolean_member (o, "stale") == FALSE);
  objects = json_object_get_array_member (o, "objects");
  fail_unless_equals_int (json_array_get_length (objects), 2);
  for (guint i = 0; i < 2; i++)
    check_object (json_array_get_object_element (objects, i), &dets[i]);

  o = g_list_nth_data (lines, 1);
  fail_unless_equals_int (json_object_get_int_member (o, "timestamp"),
      33333333);
  fail_unless_equals_int (json_object_get_int_member (o, "frame"), 1);
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member
          (o, "objects")), 0);
  fail_if (json_object_has_member (o, "model"));

  o = g_list_nth_data (lines, 2);
  fail_unless (json_object_get_null_member (o, "timestamp"));
  fail_unless_equals_int (json_object_get_int_member (o, "frame"), 2);
  fail_unless (json_object_get_boolean_member (o, "stale") == TRUE);
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member
          (o, "objects")), 1);

  g_list_free_full (lines, (GDestroyNotify) json_object_unref);
  gst_harness_teardown (h);
  g_free (location);
}

GST_END_TEST;

GST_START_TEST (test_skip_empty)
{
  gchar *location;
  GstHarness *h = json_harness ("skip-empty=true", &location);
  GstBuffer *buf;
  GList *lines;

  for (guint i = 0; i < 4; i++) {
    buf = make_buffer (i * GST_SECOND);
    if (i == 1 || i == 3)
      add_our_meta (buf, FALSE, 1);
    else if (i == 2)
      add_our_meta (buf, FALSE, 0);     /* a meta without detections */
    gst_buffer_unref (gst_harness_push_and_pull (h, buf));
  }
  gst_harness_teardown (h);     /* stop() flushes too */

  lines = read_lines (location);
  fail_unless_equals_int (g_list_length (lines), 2);
  fail_unless_equals_int (json_object_get_int_member (lines->data, "frame"), 1);
  fail_unless_equals_int (json_object_get_int_member (lines->next->data,
          "frame"), 3);
  g_list_free_full (lines, (GDestroyNotify) json_object_unref);
  g_free (location);
}

GST_END_TEST;

GST_START_TEST (test_region_of_interest_meta)
{
  gchar *location;
  GstHarness *h = json_harness (NULL, &location);
  GstBuffer *buf = make_buffer (0);
  GstVideoRegionOfInterestMeta *roi;
  GstRepvitDetection want = { 5, "person", 0.5f, 64, 48, 320, 240, -1, 0 };
  GList *lines;
  JsonArray *objects;

  roi = gst_buffer_add_video_region_of_interest_meta (buf, "person", 64, 48,
      320, 240);
  gst_video_region_of_interest_meta_add_param (roi,
      gst_structure_new ("detection", "confidence", G_TYPE_DOUBLE, 0.5,
          "label_id", G_TYPE_INT, 5, NULL));
  gst_buffer_add_video_region_of_interest_meta (buf, "face", 1, 2, 3, 4);
  gst_buffer_unref (gst_harness_push_and_pull (h, buf));
  gst_harness_teardown (h);

  lines = read_lines (location);
  fail_unless_equals_int (g_list_length (lines), 1);
  objects = json_object_get_array_member (lines->data, "objects");
  fail_unless_equals_int (json_array_get_length (objects), 2);
  check_object (json_array_get_object_element (objects, 0), &want);
  /* Without a "detection" parameter: no confidence, no label id. */
  {
    JsonObject *face = json_array_get_object_element (objects, 1);
    JsonObject *det = json_object_get_object_member (face, "detection");

    fail_unless_equals_string (json_object_get_string_member (face,
            "roi_type"), "face");
    fail_unless_equals_int (json_object_get_int_member (face, "h"), 4);
    fail_if (json_object_has_member (det, "confidence"));
    fail_if (json_object_has_member (det, "label_id"));
  }
  g_list_free_full (lines, (GDestroyNotify) json_object_unref);
  g_free (location);
}

GST_END_TEST;

/* Labels and model names that are not UTF-8 (another element's meta) or
 * hold control characters still give lines of valid JSON. */
GST_START_TEST (test_text_not_utf8)
{
  gchar *location;
  GstHarness *h = json_harness (NULL, &location);
  GstBuffer *buf = make_buffer (0);
  GstRepvitDetectionMeta *meta = gst_buffer_add_repvit_detection_meta (buf,
      "model\xfe", 640, 480);
  GstRepvitDetection d = dets[0];
  GList *lines;
  JsonObject *obj;

  d.label = "a\xff" "b\x01" "c\n";
  gst_repvit_detection_meta_add (meta, &d);
  gst_buffer_unref (gst_harness_push_and_pull (h, buf));
  buf = make_buffer (GST_SECOND);
  gst_buffer_add_video_region_of_interest_meta (buf, "roi\xc3", 1, 2, 3, 4);
  gst_buffer_unref (gst_harness_push_and_pull (h, buf));
  gst_harness_teardown (h);

  lines = read_lines (location);
  fail_unless_equals_int (g_list_length (lines), 2);
  fail_unless_equals_string (json_object_get_string_member (lines->data,
          "model"), "model\xef\xbf\xbd");
  obj = json_array_get_object_element (json_object_get_array_member
      (lines->data, "objects"), 0);
  fail_unless_equals_string (json_object_get_string_member (obj, "roi_type"),
      "a\xef\xbf\xbd" "b\x01" "c\n");
  obj = json_array_get_object_element (json_object_get_array_member
      (lines->next->data, "objects"), 0);
  fail_unless_equals_string (json_object_get_string_member (obj, "roi_type"),
      "roi\xef\xbf\xbd");
  g_list_free_full (lines, (GDestroyNotify) json_object_unref);
  g_free (location);
}

GST_END_TEST;

GST_START_TEST (test_data_untouched)
{
  gchar *location;
  GstHarness *h = json_harness (NULL, &location);
  GstBuffer *in = make_buffer (0), *out;
  GstMapInfo map;

  add_our_meta (in, FALSE, 2);
  out = gst_harness_push_and_pull (h, in);
  fail_unless (gst_buffer_map (out, &map, GST_MAP_READ));
  for (gsize i = 0; i < map.size; i++)
    fail_unless (map.data[i] == 0x5a);
  gst_buffer_unmap (out, &map);
  fail_unless (gst_buffer_get_repvit_detection_meta (out) != NULL);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (location);
}

GST_END_TEST;

GST_START_TEST (test_unwritable_location)
{
  GstElement *json = gst_element_factory_make ("repvitjson", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GError *err = NULL;
  gchar *debug = NULL;
  const gchar *location = "/nonexistent-dir/sub/out.jsonl";

  g_object_set (json, "location", location, NULL);
  gst_element_set_bus (json, bus);
  fail_unless (gst_element_set_state (json, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, &debug);
  fail_unless (strstr (err->message, location) != NULL, "%s", err->message);
  g_error_free (err);
  g_free (debug);
  gst_message_unref (msg);
  gst_element_set_state (json, GST_STATE_NULL);
  gst_element_set_bus (json, NULL);
  gst_object_unref (bus);
  gst_object_unref (json);
}

GST_END_TEST;

static Suite *
repvitjson_suite (void)
{
  Suite *s = suite_create ("repvitjson");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_lines_match_meta);
  tcase_add_test (tc, test_skip_empty);
  tcase_add_test (tc, test_region_of_interest_meta);
  tcase_add_test (tc, test_text_not_utf8);
  tcase_add_test (tc, test_data_untouched);
  tcase_add_test (tc, test_unwritable_location);
  return s;
}

GST_CHECK_MAIN (repvitjson);
