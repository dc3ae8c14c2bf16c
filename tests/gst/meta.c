/* meta.c — GstRepvitDetectionMeta without the detector: add, get, copy and
 * the scale transform, directly and through real videoscale/videoconvert. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

static const GstRepvitDetection dets[] = {
  {3, "circle", 0.9f, 10.0f, 20.0f, 30.0f, 40.0f, -1, 0},
  {0, "square", 0.5f, 100.0f, 60.0f, 50.0f, 20.0f, 7, 0},
};

static GstBuffer *
buffer_with_meta (gsize size)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, size, NULL);
  GstRepvitDetectionMeta *meta;

  gst_buffer_memset (buf, 0, 0x80, size);
  meta = gst_buffer_add_repvit_detection_meta (buf, "m0_9-n nc3 x", 640, 384);
  fail_unless (meta != NULL);
  meta->inference_ns = 1234;
  meta->stale = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (dets); i++)
    gst_repvit_detection_meta_add (meta, &dets[i]);
  return buf;
}

/* Checks meta against dets scaled by sx, sy and moved by ox, oy. */
static void
check_meta_at (GstBuffer * buf, gdouble sx, gdouble sy, gdouble ox,
    gdouble oy)
{
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);

  fail_unless (meta != NULL);
  fail_unless_equals_string (meta->model, "m0_9-n nc3 x");
  fail_unless_equals_int (meta->input_width, 640);
  fail_unless_equals_int (meta->input_height, 384);
  fail_unless_equals_uint64 (meta->inference_ns, 1234);
  fail_unless (meta->stale);
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta),
      G_N_ELEMENTS (dets));
  for (guint i = 0; i < G_N_ELEMENTS (dets); i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

    fail_unless_equals_int (d->class_id, dets[i].class_id);
    fail_unless_equals_string (d->label, dets[i].label);
    fail_unless_equals_float (d->confidence, dets[i].confidence);
    fail_unless (fabs (d->x - (dets[i].x * sx + ox)) < 1e-3, "x %f", d->x);
    fail_unless (fabs (d->y - (dets[i].y * sy + oy)) < 1e-3, "y %f", d->y);
    fail_unless (fabs (d->w - dets[i].w * sx) < 1e-3, "w %f", d->w);
    fail_unless (fabs (d->h - dets[i].h * sy) < 1e-3, "h %f", d->h);
    fail_unless_equals_int64 (d->track_id, dets[i].track_id);
  }
}

static void
check_meta (GstBuffer * buf, gdouble sx, gdouble sy)
{
  check_meta_at (buf, sx, sy, 0.0, 0.0);
}

GST_START_TEST (test_add_get)
{
  GstBuffer *buf = buffer_with_meta (16);
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);
  gchar *label = g_strdup ("dynamic label");
  GstRepvitDetection d = { 1, label, 0.1f, 0, 0, 1, 1, -1, 0 };

  check_meta (buf, 1.0, 1.0);
  /* the meta keeps its own copy of a label, as long as it lives, and does
   * not intern it for the life of the process */
  gst_repvit_detection_meta_add (meta, &d);
  g_free (label);
  fail_unless_equals_string (gst_repvit_detection_meta_get (meta, 2)->label,
      "dynamic label");
  fail_unless (g_quark_try_string ("dynamic label") == 0);
  ASSERT_CRITICAL (fail_unless (gst_repvit_detection_meta_get (meta,
              3) == NULL));

  fail_unless (gst_meta_api_type_has_tag (GST_REPVIT_DETECTION_META_API_TYPE,
          g_quark_from_string (GST_META_TAG_VIDEO_STR)));
  fail_unless (gst_meta_api_type_has_tag (GST_REPVIT_DETECTION_META_API_TYPE,
          g_quark_from_string (GST_META_TAG_VIDEO_SIZE_STR)));
  fail_unless (gst_meta_api_type_has_tag (GST_REPVIT_DETECTION_META_API_TYPE,
          g_quark_from_string (GST_META_TAG_VIDEO_ORIENTATION_STR)));
  gst_buffer_unref (buf);
}

GST_END_TEST;

GST_START_TEST (test_remove)
{
  GstBuffer *buf = buffer_with_meta (16);
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);
  GstBuffer *bare = gst_buffer_new ();

  fail_unless (gst_buffer_get_repvit_detection_meta (bare) == NULL);
  gst_buffer_unref (bare);

  /* removing the first moves the second into its place */
  fail_unless (gst_repvit_detection_meta_remove (meta, 0));
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), 1);
  fail_unless_equals_string (gst_repvit_detection_meta_get (meta, 0)->label,
      dets[1].label);
  ASSERT_CRITICAL (fail_if (gst_repvit_detection_meta_remove (meta, 1)));
  fail_unless (gst_repvit_detection_meta_remove (meta, 0));
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), 0);
  gst_buffer_unref (buf);
}

GST_END_TEST;

GST_START_TEST (test_copy)
{
  GstBuffer *buf = buffer_with_meta (16), *copy;

  copy = gst_buffer_copy (buf);
  gst_buffer_unref (buf);       /* the copy owns its own detections */
  check_meta (copy, 1.0, 1.0);
  gst_buffer_unref (copy);
}

GST_END_TEST;

GST_START_TEST (test_scale_transform)
{
  GstBuffer *buf = buffer_with_meta (16), *dest = gst_buffer_new ();
  GstMeta *meta = (GstMeta *) gst_buffer_get_repvit_detection_meta (buf);
  GstVideoInfo in, out;
  GstVideoMetaTransform trans = { &in, &out };

  /* pixels 1:5 keep the 4:3 picture: a plain scale */
  gst_video_info_set_format (&in, GST_VIDEO_FORMAT_RGB, 320, 240);
  gst_video_info_set_format (&out, GST_VIDEO_FORMAT_RGB, 800, 120);
  out.par_d = 5;
  fail_unless (meta->info->transform_func (dest, meta, buf,
          gst_video_meta_transform_scale_get_quark (), &trans));
  check_meta (dest, 800.0 / 320.0, 120.0 / 240.0);

  /* square pixels, 4:3 into 16:9: a 480x360 picture 80 px from the left */
  gst_buffer_unref (dest);
  dest = gst_buffer_new ();
  gst_video_info_set_format (&out, GST_VIDEO_FORMAT_RGB, 640, 360);
  fail_unless (meta->info->transform_func (dest, meta, buf,
          gst_video_meta_transform_scale_get_quark (), &trans));
  check_meta_at (dest, 1.5, 1.5, 80.0, 0.0);

  /* a transform the meta cannot follow leaves no meta behind */
  gst_buffer_unref (dest);
  dest = gst_buffer_new ();
  fail_if (meta->info->transform_func (dest, meta, buf,
          g_quark_from_static_string ("rotate"), NULL));
  fail_unless (gst_buffer_get_repvit_detection_meta (dest) == NULL);
  gst_buffer_unref (dest);
  gst_buffer_unref (buf);
}

GST_END_TEST;

/* Pushes an RGB frame with the meta through the elements of @launch, caps
 * "video/x-raw,@in" and "video/x-raw,@out"; returns the buffer out. */
static GstBuffer *
push_through (const gchar * launch, gint in_w, gint in_h, const gchar * in,
    const gchar * out)
{
  GstHarness *h = gst_harness_new_parse (launch);
  GstVideoInfo info;
  GstBuffer *buf;
  gchar *in_caps = g_strdup_printf ("video/x-raw,%s", in);
  gchar *out_caps = g_strdup_printf ("video/x-raw,%s", out);

  gst_harness_set_caps_str (h, in_caps, out_caps);
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, in_w, in_h);
  fail_unless_equals_int (gst_harness_push (h,
          buffer_with_meta (GST_VIDEO_INFO_SIZE (&info))), GST_FLOW_OK);
  buf = gst_harness_pull (h);
  g_free (in_caps);
  g_free (out_caps);
  gst_harness_teardown (h);
  return buf;
}

/* Through the real elements: videoconvert keeps the boxes, videoscale
 * rescales them as the frame. */
static void
check_through (const gchar * launch, gint in_w, gint in_h, gint out_w,
    gint out_h)
{
  gchar *in = g_strdup_printf ("format=RGB,width=%d,height=%d,framerate=30/1",
      in_w, in_h);
  gchar *out = g_strdup_printf ("format=I420,width=%d,height=%d,"
      "framerate=30/1", out_w, out_h);
  GstBuffer *buf = push_through (launch, in_w, in_h, in, out);

  check_meta (buf, (gdouble) out_w / in_w, (gdouble) out_h / in_h);
  gst_buffer_unref (buf);
  g_free (in);
  g_free (out);
}

GST_START_TEST (test_videoscale)
{
  check_through ("videoconvert ! videoscale", 320, 240, 640, 360);
  check_through ("videoconvert ! videoscale", 320, 240, 100, 480);
  check_through ("videoconvert", 320, 240, 320, 240);
}

GST_END_TEST;

/* Returns the first and one past the last index along a row (dx = 1) or a
 * column (dx = stride) of RGB pixels whose red is not black. */
static void
picture_span (const guint8 * p, gint n, gint step, gint * first, gint * end)
{
  *first = 0;
  while (*first < n && p[*first * step] < 0x40)
    (*first)++;
  *end = n;
  while (*end > *first && p[(*end - 1) * step] < 0x40)
    (*end)--;
}

/* videoscale add-borders=true (its default) with square pixels on both
 * sides: the boxes follow the picture that videoscale drew, found in the
 * output pixels (grey picture, black borders). */
static void
check_borders (gint in_w, gint in_h, gint out_w, gint out_h)
{
  gchar *in = g_strdup_printf ("format=RGB,width=%d,height=%d,"
      "pixel-aspect-ratio=1/1,framerate=30/1", in_w, in_h);
  gchar *out = g_strdup_printf ("format=RGB,width=%d,height=%d,"
      "pixel-aspect-ratio=1/1,framerate=30/1", out_w, out_h);
  GstBuffer *buf = push_through ("videoscale", in_w, in_h, in, out);
  GstVideoInfo info;
  GstVideoFrame frame;
  gint x0, x1, y0, y1, stride;
  const guint8 *p;

  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_RGB, out_w, out_h);
  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_READ));
  p = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
  stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
  picture_span (p + (gsize) (out_h / 2) * stride, out_w, 3, &x0, &x1);
  picture_span (p + (gsize) (out_w / 2) * 3, out_h, stride, &y0, &y1);
  gst_video_frame_unmap (&frame);
  fail_unless (x0 > 0 || y0 > 0, "no border in %dx%d", out_w, out_h);

  check_meta_at (buf, (gdouble) (x1 - x0) / in_w, (gdouble) (y1 - y0) / in_h,
      x0, y0);
  gst_buffer_unref (buf);
  g_free (in);
  g_free (out);
}

GST_START_TEST (test_videoscale_borders)
{
  check_borders (320, 240, 640, 360);   /* borders left and right */
  check_borders (320, 240, 400, 600);   /* above and below */
  check_borders (333, 250, 641, 361);   /* odd sizes */
}

GST_END_TEST;

static Suite *
repvitmeta_suite (void)
{
  Suite *s = suite_create ("repvitmeta");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_add_get);
  tcase_add_test (tc, test_remove);
  tcase_add_test (tc, test_copy);
  tcase_add_test (tc, test_scale_transform);
  tcase_add_test (tc, test_videoscale);
  tcase_add_test (tc, test_videoscale_borders);
  return s;
}

GST_CHECK_MAIN (repvitmeta);
