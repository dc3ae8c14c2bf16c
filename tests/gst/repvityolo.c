/* repvityolo.c — the repvityolo element: caps, metas, detections equal to
 * the core's own result on the same pixels, inference-interval, QoS,
 * renegotiation, errors, state cycles, model sharing and precision.
 *
 * The golden model has random weights; a low confidence threshold makes it
 * detect something in any picture. */
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvit.h"
#include "repvitmeta.h"

#define CONF 0.01f
#define TARGET 96               /* input-size of most tests: fast */

static const GstVideoFormat packed_formats[] = {
  GST_VIDEO_FORMAT_RGB, GST_VIDEO_FORMAT_BGR, GST_VIDEO_FORMAT_RGBA,
  GST_VIDEO_FORMAT_BGRA, GST_VIDEO_FORMAT_RGBx, GST_VIDEO_FORMAT_BGRx,
  GST_VIDEO_FORMAT_xRGB, GST_VIDEO_FORMAT_xBGR, GST_VIDEO_FORMAT_ARGB,
  GST_VIDEO_FORMAT_ABGR,
};

/* ---- frames ------------------------------------------------------------ */

/* Gradients, a checker board and a bright box: something for the network. */
static void
pattern (gint x, gint y, gint w, gint h, guint seed, guint8 px[3])
{
  gboolean box = x > w / 4 && x < w / 2 && y > h / 3 && y < 2 * h / 3;

  px[0] = box ? 250 : (guint8) (x * 255 / w);
  px[1] = box ? 30 : (guint8) (y * 255 / h);
  px[2] = (((x + seed * 8) / 16 + y / 16) & 1) ? 200 : 40;
}

/* A frame of format fmt; for packed formats *rgb (if not NULL) receives the
 * same picture as packed RGB, w * 3 bytes per row. The bytes that are not
 * R, G or B (alpha, padding) are noise the element must ignore. */
static GstBuffer *
make_frame (GstVideoFormat fmt, gint w, gint h, guint seed, guint8 ** rgb)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  GstBuffer *buf;
  guint8 px[3];

  gst_video_info_set_format (&info, fmt, w, h);
  buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  /* row padding too, so that whole-buffer comparisons compare set bytes */
  gst_buffer_memset (buf, 0, 0xa5, GST_VIDEO_INFO_SIZE (&info));
  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_WRITE));
  if (rgb)
    *rgb = g_malloc ((gsize) w * h * 3);

  if (GST_VIDEO_INFO_IS_RGB (&info)) {
    guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
    gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    gint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, 0);

    for (gint y = 0; y < h; y++)
      for (gint x = 0; x < w; x++) {
        guint8 *p = data + (gsize) y * stride + (gsize) x * pstride;

        pattern (x, y, w, h, seed, px);
        for (gint b = 0; b < pstride; b++)
          p[b] = (guint8) (x * 37 + y * 11 + b * 101);
        for (gint c = 0; c < 3; c++) {
          p[GST_VIDEO_FRAME_COMP_POFFSET (&frame, c)] = px[c];
          if (rgb)
            (*rgb)[((gsize) y * w + x) * 3 + c] = px[c];
        }
      }
  } else {
    /* YUV: Y from the pattern's luma, chroma from gradients */
    for (guint c = 0; c < 3; c++) {
      guint8 *data = GST_VIDEO_FRAME_COMP_DATA (&frame, c);
      gint stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, c);
      gint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, c);
      gint cw = GST_VIDEO_FRAME_COMP_WIDTH (&frame, c);
      gint ch = GST_VIDEO_FRAME_COMP_HEIGHT (&frame, c);

      for (gint y = 0; y < ch; y++)
        for (gint x = 0; x < cw; x++) {
          guint8 *p = data + (gsize) y * stride + (gsize) x * pstride;

          pattern (x * w / cw, y * h / ch, w, h, seed, px);
          *p = c == 0 ? (guint8) (16 + (px[0] + 2 * px[1] + px[2]) * 219 / 1020)
              : (guint8) (16 + (c == 1 ? x * 224 / cw : y * 224 / ch));
        }
    }
  }
  gst_video_frame_unmap (&frame);
  return buf;
}

static gchar *
caps_string (GstVideoFormat fmt, gint w, gint h, const gchar * colorimetry)
{
  return g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1%s%s", gst_video_format_to_string (fmt), w, h,
      colorimetry ? ",colorimetry=" : "", colorimetry ? colorimetry : "");
}

/* ---- the core, run by the test on the same pixels ----------------------- */

typedef struct
{
  rv_model *model;
  rv_ctx *ctx;
  rv_detection dets[300];
  gint n, in_w, in_h;
} Core;

static void
core_init (Core * core)
{
  char err[256];

  fail_unless (rv_model_load (GOLDEN_MODEL, &core->model, err,
          sizeof err) == RV_OK, "%s", err);
  fail_unless (rv_ctx_init (core->model, 1, &core->ctx, err,
          sizeof err) == RV_OK, "%s", err);
}

static void
core_clear (Core * core)
{
  rv_ctx_free (core->ctx);
  rv_model_free (core->model);
}

static void
core_detect (Core * core, const rv_frame * f, gint target,
    const uint8_t * class_mask)
{
  rv_post_params pp = rv_post_params_default ();
  char err[256];

  pp.conf_threshold = CONF;
  pp.class_mask = class_mask;
  fail_unless (rv_input_size_for_frame (f->width, f->height, target, true,
          &core->in_w, &core->in_h) == RV_OK);
  fail_unless (rv_ctx_set_input_size (core->ctx, core->in_w, core->in_h, err,
          sizeof err) == RV_OK, "%s", err);
  fail_unless (rv_ctx_detect (core->ctx, f, &pp, core->dets, 300,
          &core->n) == RV_OK);
  fail_unless (core->n > 0, "the core found nothing: a vacuous test");
}

/* An rv_frame of a mapped YUV buffer or of a packed RGB picture. */
static void
core_detect_buffer (Core * core, GstBuffer * buf, GstVideoFormat fmt, gint w,
    gint h, rv_yuv_matrix matrix, gint target)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  rv_frame f = { fmt == GST_VIDEO_FORMAT_I420 ? RV_FMT_I420 : RV_FMT_NV12,
    w, h, {NULL}, {0}, matrix
  };

  fail_unless (fmt == GST_VIDEO_FORMAT_I420 || fmt == GST_VIDEO_FORMAT_NV12);
  gst_video_info_set_format (&info, fmt, w, h);
  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_READ));
  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
    f.planes[p] = GST_VIDEO_FRAME_PLANE_DATA (&frame, p);
    f.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p);
  }
  core_detect (core, &f, target, NULL);
  gst_video_frame_unmap (&frame);
}

static void
core_detect_rgb (Core * core, const guint8 * rgb, gint w, gint h, gint target,
    const uint8_t * class_mask)
{
  rv_frame f = { RV_FMT_RGB, w, h, {rgb}, {(size_t) w * 3}, 0 };

  core_detect (core, &f, target, class_mask);
}

/* The buffer's detection meta holds exactly the core's detections. */
static GstRepvitDetectionMeta *
check_equals_core (GstBuffer * buf, const Core * core)
{
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);

  fail_unless (meta != NULL);
  fail_if (meta->stale);
  fail_unless (meta->inference_ns > 0);
  fail_unless_equals_int (meta->input_width, core->in_w);
  fail_unless_equals_int (meta->input_height, core->in_h);
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), core->n);
  for (gint i = 0; i < core->n; i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);
    const rv_detection *e = &core->dets[i];

    fail_unless_equals_int (d->class_id, e->class_id);
    fail_unless_equals_string (d->label,
        rv_model_class_name (core->model, e->class_id));
    fail_unless (fabsf (d->confidence - e->score) < 1e-6f);
    fail_unless (fabsf (d->x - e->x1) < 1e-3f && fabsf (d->y - e->y1) < 1e-3f
        && fabsf (d->w - (e->x2 - e->x1)) < 1e-3f
        && fabsf (d->h - (e->y2 - e->y1)) < 1e-3f,
        "box %d: %f,%f %fx%f, core %f,%f,%f,%f", i, d->x, d->y, d->w, d->h,
        e->x1, e->y1, e->x2, e->y2);
    fail_unless_equals_int64 (d->track_id, -1);
  }
  return meta;
}

/* ---- harness ------------------------------------------------------------ */

/* A harness around a repvityolo with the test defaults and then the given
 * "property", "value" pairs (as gst-launch would parse them). */
static GstHarness *
harness_new (const gchar * first_property, ...)
{
  GstElement *el = gst_element_factory_make ("repvityolo", NULL);
  const gchar *prop;
  GstHarness *h;
  gchar *target = g_strdup_printf ("%d", TARGET);
  va_list args;

  fail_unless (el != NULL);
  g_object_set (el, "model", GOLDEN_MODEL, "conf-threshold", CONF, "threads",
      1, NULL);
  gst_util_set_object_arg (G_OBJECT (el), "input-size", target);
  g_free (target);
  va_start (args, first_property);
  for (prop = first_property; prop; prop = va_arg (args, const gchar *))
      gst_util_set_object_arg (G_OBJECT (el), prop, va_arg (args,
            const gchar *));
  va_end (args);

  h = gst_harness_new_with_element (el, "sink", "src");
  gst_object_unref (el);
  return h;
}

static void
harness_set_caps (GstHarness * h, GstVideoFormat fmt, gint w, gint h_,
    const gchar * colorimetry)
{
  gchar *caps = caps_string (fmt, w, h_, colorimetry);

  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
}

static GstBuffer *
push_pull (GstHarness * h, GstBuffer * buf, GstClockTime pts)
{
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  return gst_harness_pull (h);
}

/* ---- tests -------------------------------------------------------------- */

/* Every packed RGB layout gives the detections of the same picture as RGB:
 * the element reads the channels where GStreamer says they are. */
GST_START_TEST (test_packed_formats_equal_core)
{
  const gint w = 330, h_ = 186; /* non-square, rows padded to 4 bytes */
  Core core;
  guint8 *rgb;

  core_init (&core);
  for (guint i = 0; i < G_N_ELEMENTS (packed_formats); i++) {
    GstHarness *h = harness_new (NULL);
    GstBuffer *in = make_frame (packed_formats[i], w, h_, i, &rgb), *out;
    GstBuffer *ref = gst_buffer_copy_deep (in);
    GstMapInfo map;
    GstCaps *caps;

    GST_INFO ("format %s", gst_video_format_to_string (packed_formats[i]));
    harness_set_caps (h, packed_formats[i], w, h_, NULL);
    out = push_pull (h, in, 0);

    /* negotiated unchanged, detections of the RGB picture, pixels untouched */
    caps = gst_pad_get_current_caps (h->sinkpad);
    fail_unless_equals_string (gst_structure_get_string
        (gst_caps_get_structure (caps, 0), "format"),
        gst_video_format_to_string (packed_formats[i]));
    gst_caps_unref (caps);
    core_detect_rgb (&core, rgb, w, h_, TARGET, NULL);
    check_equals_core (out, &core);
    fail_unless (gst_buffer_map (ref, &map, GST_MAP_READ));
    fail_unless (gst_buffer_memcmp (out, 0, map.data, map.size) == 0);
    gst_buffer_unmap (ref, &map);

    gst_buffer_unref (ref);
    gst_buffer_unref (out);
    g_free (rgb);
    gst_harness_teardown (h);
  }
  core_clear (&core);
}

GST_END_TEST;

/* YUV: the planes, strides and the matrix of the caps' colorimetry. */
GST_START_TEST (test_yuv_formats_equal_core)
{
  const struct
  {
    GstVideoFormat fmt;
    const gchar *colorimetry;
    rv_yuv_matrix matrix;
  } cases[] = {
    {GST_VIDEO_FORMAT_I420, "bt709", RV_YUV_BT709_LIMITED},
    {GST_VIDEO_FORMAT_NV12, "bt601", RV_YUV_BT601_LIMITED},
    {GST_VIDEO_FORMAT_I420, "1:4:0:0", RV_YUV_BT601_FULL},
    {GST_VIDEO_FORMAT_NV12, "1:3:5:1", RV_YUV_BT709_FULL},
  };
  const gint w = 330, h_ = 186;
  Core core;

  core_init (&core);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstHarness *h = harness_new (NULL);
    GstBuffer *in = make_frame (cases[i].fmt, w, h_, i, NULL), *out;

    harness_set_caps (h, cases[i].fmt, w, h_, cases[i].colorimetry);
    out = push_pull (h, in, 0);
    core_detect_buffer (&core, out, cases[i].fmt, w, h_, cases[i].matrix,
        TARGET);
    check_equals_core (out, &core);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  core_clear (&core);
}

GST_END_TEST;

/* A buffer that is not writable is shallow-copied: new metas, same memory. */
GST_START_TEST (test_read_only_no_pixel_copy)
{
  GstHarness *h = harness_new (NULL);
  GstBuffer *in = make_frame (GST_VIDEO_FORMAT_RGBx, 160, 120, 0, NULL), *out;

  harness_set_caps (h, GST_VIDEO_FORMAT_RGBx, 160, 120, NULL);
  gst_buffer_ref (in);          /* not writable any more */
  out = push_pull (h, in, 0);
  fail_unless (out != in);
  fail_unless (gst_buffer_peek_memory (out, 0) == gst_buffer_peek_memory (in,
          0));
  fail_unless (gst_buffer_get_repvit_detection_meta (out) != NULL);
  fail_unless (gst_buffer_get_repvit_detection_meta (in) == NULL);
  gst_buffer_unref (out);
  gst_buffer_unref (in);

  /* a writable one passes itself */
  in = make_frame (GST_VIDEO_FORMAT_RGBx, 160, 120, 0, NULL);
  out = push_pull (h, in, GST_SECOND);
  fail_unless (out == in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

static void
check_stale_pattern (guint interval, guint n_frames)
{
  gchar *iv = g_strdup_printf ("%u", interval);
  GstHarness *h = harness_new ("inference-interval", iv, NULL);
  GstRepvitDetectionMeta *fresh = NULL;
  GstBuffer *fresh_buf = NULL;

  harness_set_caps (h, GST_VIDEO_FORMAT_I420, 320, 240, NULL);
  for (guint i = 0; i < n_frames; i++) {
    GstBuffer *out = push_pull (h, make_frame (GST_VIDEO_FORMAT_I420, 320,
            240, i, NULL), i * GST_SECOND / 30);
    GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (out);
    gboolean expect_stale = i % interval != 0;

    fail_unless (meta != NULL, "frame %u has no meta", i);
    fail_unless_equals_int (meta->stale, expect_stale);
    if (!expect_stale) {
      fail_unless (meta->inference_ns > 0);
      gst_clear_buffer (&fresh_buf);
      fresh_buf = gst_buffer_ref (out);
      fresh = meta;
    } else {
      /* the last result, carried over unchanged (same frame size) */
      fail_unless_equals_uint64 (meta->inference_ns, 0);
      fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta),
          gst_repvit_detection_meta_get_count (fresh));
      for (guint d = 0; d < gst_repvit_detection_meta_get_count (meta); d++) {
        const GstRepvitDetection *a = gst_repvit_detection_meta_get (meta, d);
        const GstRepvitDetection *b = gst_repvit_detection_meta_get (fresh, d);

        fail_unless (a->class_id == b->class_id && a->label == b->label
            && a->confidence == b->confidence && a->x == b->x && a->y == b->y
            && a->w == b->w && a->h == b->h && a->track_id == b->track_id);
      }
    }
    gst_buffer_unref (out);
  }
  gst_clear_buffer (&fresh_buf);
  gst_harness_teardown (h);
  g_free (iv);
}

GST_START_TEST (test_meta_on_every_buffer)
{
  check_stale_pattern (1, 4);
}

GST_END_TEST;

GST_START_TEST (test_interval_stale)
{
  check_stale_pattern (3, 7);
}

GST_END_TEST;

/* 640x480 -> 1280x720 mid-stream: new network input size, detections still
 * equal to the core's; a stale frame after the change has its boxes
 * rescaled to the new frame size. */
GST_START_TEST (test_renegotiation)
{
  GstHarness *h = harness_new ("input-size", "160", "inference-interval", "2",
      NULL);
  GstStructure *info;
  GstBuffer *out;
  GstRepvitDetectionMeta *meta;
  const GValue *names;
  Core core;
  gint in_w, in_h;

  core_init (&core);
  harness_set_caps (h, GST_VIDEO_FORMAT_I420, 640, 480, "bt601");
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_I420, 640, 480, 0, NULL), 0);
  core_detect_buffer (&core, out, GST_VIDEO_FORMAT_I420, 640, 480,
      RV_YUV_BT601_LIMITED, 160);
  check_equals_core (out, &core);
  g_object_get (h->element, "model-info", &info, NULL);
  fail_unless (gst_structure_get (info, "input-width", G_TYPE_INT, &in_w,
          "input-height", G_TYPE_INT, &in_h, NULL));
  fail_unless_equals_int (in_w, core.in_w);
  fail_unless_equals_int (in_h, core.in_h);
  /* the golden file's metadata names its 80 classes class0 .. class79 */
  names = gst_structure_get_value (info, "class-names");
  fail_unless (names != NULL && GST_VALUE_HOLDS_ARRAY (names));
  fail_unless_equals_int (gst_value_array_get_size (names), 80);
  fail_unless_equals_string (g_value_get_string (gst_value_array_get_value
          (names, 79)), "class79");
  gst_structure_free (info);
  gst_buffer_unref (out);

  /* stale frame at the new size: the 640x480 boxes scaled by 2 and 1.5 */
  harness_set_caps (h, GST_VIDEO_FORMAT_I420, 1280, 720, "bt601");
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_I420, 1280, 720, 1, NULL),
      GST_SECOND / 30);
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless (meta != NULL && meta->stale);
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), core.n);
  for (gint i = 0; i < core.n; i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

    fail_unless (fabsf (d->x - core.dets[i].x1 * 2.0f) < 1e-2f);
    fail_unless (fabsf (d->y - core.dets[i].y1 * 1.5f) < 1e-2f);
    fail_unless (fabsf (d->w - (core.dets[i].x2 - core.dets[i].x1) * 2.0f) <
        1e-2f);
    fail_unless (fabsf (d->h - (core.dets[i].y2 - core.dets[i].y1) * 1.5f) <
        1e-2f);
  }
  gst_buffer_unref (out);

  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_I420, 1280, 720, 2, NULL),
      2 * GST_SECOND / 30);
  core_detect_buffer (&core, out, GST_VIDEO_FORMAT_I420, 1280, 720,
      RV_YUV_BT601_LIMITED, 160);
  fail_if (core.in_h == in_h, "the input size should change with the aspect");
  check_equals_core (out, &core);
  gst_buffer_unref (out);

  core_clear (&core);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* One GstVideoRegionOfInterestMeta per detection, DL Streamer's fields. */
GST_START_TEST (test_roi_meta)
{
  GstHarness *h = harness_new (NULL);
  GstBuffer *out;
  GstRepvitDetectionMeta *meta;
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;
  guint n = 0;

  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 330, 186, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, NULL), 0);
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless (meta != NULL && gst_repvit_detection_meta_get_count (meta) > 0);

  while ((roi = (GstVideoRegionOfInterestMeta *)
          gst_buffer_iterate_meta_filtered (out, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, n++);
    GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
        "detection");
    gdouble conf, x0, y0, x1, y1;
    gint label_id;

    fail_unless (d != NULL);
    fail_unless_equals_string (g_quark_to_string (roi->roi_type), d->label);
    fail_unless (fabs (roi->x - d->x) <= 1.0 && fabs (roi->w - d->w) <= 1.0);
    fail_unless (fabs (roi->y - d->y) <= 1.0 && fabs (roi->h - d->h) <= 1.0);
    fail_unless (s != NULL);
    fail_unless (gst_structure_get (s, "label_id", G_TYPE_INT, &label_id,
            "confidence", G_TYPE_DOUBLE, &conf, "x_min", G_TYPE_DOUBLE, &x0,
            "y_min", G_TYPE_DOUBLE, &y0, "x_max", G_TYPE_DOUBLE, &x1,
            "y_max", G_TYPE_DOUBLE, &y1, NULL));
    fail_unless_equals_int (label_id, d->class_id);
    fail_unless_equals_string (gst_structure_get_string (s, "label"), d->label);
    fail_unless (fabs (conf - d->confidence) < 1e-6);
    fail_unless (fabs (x0 - d->x / 330.0) < 1e-5);
    fail_unless (fabs (y0 - d->y / 186.0) < 1e-5);
    fail_unless (fabs (x1 - (d->x + d->w) / 330.0) < 1e-5);
    fail_unless (fabs (y1 - (d->y + d->h) / 186.0) < 1e-5);
    fail_unless (x0 >= 0.0 && x1 <= 1.0 && y0 >= 0.0 && y1 <= 1.0);
  }
  fail_unless_equals_int (n, gst_repvit_detection_meta_get_count (meta));
  gst_buffer_unref (out);

  g_object_set (h->element, "attach-roi-meta", FALSE, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, NULL),
      GST_SECOND);
  fail_unless (gst_buffer_get_meta (out,
          GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE) == NULL);
  fail_unless (gst_buffer_get_repvit_detection_meta (out) != NULL);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* classes, changed while PLAYING: by name and id; a bad value keeps the
 * previous filter. A labels file renames the classes. */
GST_START_TEST (test_classes_and_labels)
{
  gchar *dir = g_dir_make_tmp ("repvityolo-XXXXXX", NULL);
  gchar *labels_path = g_build_filename (dir, "labels.txt", NULL);
  GString *labels = g_string_new (NULL);
  GstHarness *h;
  GstBuffer *out;
  GstRepvitDetectionMeta *meta;
  guint8 *rgb, mask[80] = { 0 };
  Core core;
  gchar *classes;
  gint keep;

  for (gint c = 0; c < 80; c++)
    g_string_append_printf (labels, "thing %d\n", c);
  fail_unless (g_file_set_contents (labels_path, labels->str, -1, NULL));
  g_string_free (labels, TRUE);

  core_init (&core);
  h = harness_new ("labels", labels_path, NULL);
  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 330, 186, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, &rgb), 0);
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless (meta != NULL && gst_repvit_detection_meta_get_count (meta) > 0);
  keep = gst_repvit_detection_meta_get (meta, 0)->class_id;
  for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);
    gchar *expected = g_strdup_printf ("thing %d", d->class_id);

    fail_unless_equals_string (d->label, expected);
    g_free (expected);
  }
  gst_buffer_unref (out);

  /* by name (from the labels file) and by id, while playing */
  classes = g_strdup_printf ("thing %d, 79", keep);
  g_object_set (h->element, "classes", classes, NULL);
  mask[keep] = mask[79] = 1;
  for (gint round = 0; round < 2; round++) {
    out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, NULL),
        (round + 1) * GST_SECOND);
    meta = gst_buffer_get_repvit_detection_meta (out);
    core_detect_rgb (&core, rgb, 330, 186, TARGET, mask);
    fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), core.n);
    for (gint i = 0; i < core.n; i++) {
      const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

      fail_unless (d->class_id == keep || d->class_id == 79);
      fail_unless_equals_int (d->class_id, core.dets[i].class_id);
    }
    gst_buffer_unref (out);
    /* a bad setting is reported and the filter stays */
    g_object_set (h->element, "classes", "no such thing", NULL);
  }

  g_free (classes);
  g_free (rgb);
  core_clear (&core);
  gst_harness_teardown (h);
  g_unlink (labels_path);
  g_rmdir (dir);
  g_free (labels_path);
  g_free (dir);
}

GST_END_TEST;

/* While playing, thresholds, limits and the input size apply from the next
 * frame (a bad input size is reported and the previous one stays); the
 * model and labels wait for the next start. */
GST_START_TEST (test_properties_while_playing)
{
  GstHarness *h = harness_new (NULL);
  GstRepvitDetectionMeta *meta;
  GstBuffer *out;
  gchar *model;
  gint in_w, in_h;

  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 330, 186, NULL);
  g_object_set (h->element, "max-detections", 3, "conf-threshold", 0.02f, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, NULL), 0);
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), 3);
  for (guint i = 0; i < 3; i++)
    fail_unless (gst_repvit_detection_meta_get (meta, i)->confidence > 0.02f);
  gst_buffer_unref (out);

  g_object_set (h->element, "model", "/nonexistent", "input-size", 160, NULL);
  g_object_get (h->element, "model", &model, NULL);
  fail_unless_equals_string (model, GOLDEN_MODEL);
  g_free (model);
  fail_unless (rv_input_size_for_frame (330, 186, 160, true, &in_w,
          &in_h) == RV_OK);
  for (gint round = 0; round < 2; round++) {
    out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, NULL),
        (round + 1) * GST_SECOND);
    meta = gst_buffer_get_repvit_detection_meta (out);
    fail_unless_equals_int (meta->input_width, in_w);
    fail_unless_equals_int (meta->input_height, in_h);
    gst_buffer_unref (out);
    g_object_set (h->element, "input-size", 33, NULL);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

/* QoS: a frame that is late skips inference, carries the last result marked
 * stale, is never dropped, and the skip is posted as a QoS message; with
 * qos=false it is processed. */
GST_START_TEST (test_qos_late_frames)
{
  GstHarness *h = harness_new (NULL);
  GstBus *bus = gst_bus_new ();
  GstBuffer *out;
  GstRepvitDetectionMeta *meta;
  GstMessage *msg;
  GstFormat format;
  guint64 processed, dropped;
  GstClockTime running_time;
  gdouble proportion;

  gst_element_set_bus (h->element, bus);
  harness_set_caps (h, GST_VIDEO_FORMAT_NV12, 320, 240, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_NV12, 320, 240, 0, NULL), 0);
  fail_if (gst_buffer_get_repvit_detection_meta (out)->stale);
  gst_buffer_unref (out);

  /* the sink says: everything before 1 s is late */
  fail_unless (gst_harness_push_upstream_event (h,
          gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 1.5, GST_SECOND / 2,
              GST_SECOND / 2)));
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_NV12, 320, 240, 1, NULL),
      GST_SECOND / 30);
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless (meta != NULL && meta->stale);
  gst_buffer_unref (out);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_QOS);
  fail_unless (msg != NULL);
  gst_message_parse_qos (msg, NULL, &running_time, NULL, NULL, NULL);
  fail_unless_equals_uint64 (running_time, GST_SECOND / 30);
  gst_message_parse_qos_values (msg, NULL, &proportion, NULL);
  fail_unless_equals_float (proportion, 1.5);
  gst_message_parse_qos_stats (msg, &format, &processed, &dropped);
  fail_unless_equals_int (format, GST_FORMAT_BUFFERS);
  fail_unless_equals_uint64 (processed, 1);
  fail_unless_equals_uint64 (dropped, 1);
  gst_message_unref (msg);

  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_NV12, 320, 240, 2, NULL),
      2 * GST_SECOND);
  fail_if (gst_buffer_get_repvit_detection_meta (out)->stale);
  gst_buffer_unref (out);

  g_object_set (h->element, "qos", FALSE, NULL);
  fail_unless (gst_harness_push_upstream_event (h,
          gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 1.5, GST_SECOND,
              3 * GST_SECOND)));
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_NV12, 320, 240, 3, NULL),
      3 * GST_SECOND);
  fail_if (gst_buffer_get_repvit_detection_meta (out)->stale);
  gst_buffer_unref (out);
  /* frames that were inferred posted nothing */
  fail_if (gst_bus_have_pending (bus));
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Live upstream: the inference time is added to the latency. */
GST_START_TEST (test_latency_query)
{
  GstHarness *h = harness_new (NULL);
  GstBuffer *out;
  guint64 inference_ns;

  gst_harness_set_upstream_latency (h, 5 * GST_MSECOND);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 5 * GST_MSECOND);
  harness_set_caps (h, GST_VIDEO_FORMAT_BGRx, 320, 240, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_BGRx, 320, 240, 0, NULL), 0);
  inference_ns = gst_buffer_get_repvit_detection_meta (out)->inference_ns;
  fail_unless (gst_harness_query_latency (h) >= 5 * GST_MSECOND + inference_ns);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- errors: READY -> PAUSED fails, the message names the culprit ------- */

static void
expect_start_error (const gchar * expected, GQuark domain, gint code,
    const gchar * first_property, ...)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *el = gst_element_factory_make ("repvityolo", NULL);
  GstBus *bus = gst_element_get_bus (pipeline);
  const gchar *prop;
  GstMessage *msg;
  GError *err = NULL;
  va_list args;

  va_start (args, first_property);
  for (prop = first_property; prop; prop = va_arg (args, const gchar *))
      gst_util_set_object_arg (G_OBJECT (el), prop, va_arg (args,
            const gchar *));
  va_end (args);
  gst_bin_add (GST_BIN (pipeline), el);

  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error message");
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, expected) != NULL,
      "\"%s\" does not name \"%s\"", err->message, expected);
  fail_unless (g_error_matches (err, domain, code), "%s", err->message);
  GST_INFO ("%s", err->message);

  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GST_START_TEST (test_errors)
{
  gchar *dir = g_dir_make_tmp ("repvityolo-XXXXXX", NULL);
  gchar *missing = g_build_filename (dir, "missing.safetensors", NULL);
  gchar *garbage = g_build_filename (dir, "garbage.safetensors", NULL);
  gchar *labels = g_build_filename (dir, "labels.txt", NULL);

  fail_unless (g_file_set_contents (garbage, "this is not a model", -1, NULL));
  fail_unless (g_file_set_contents (labels, "a\nb\nc\n", -1, NULL));

  expect_start_error ("\"model\"", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_NOT_FOUND, NULL);
  expect_start_error (missing, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_NOT_FOUND, "model", missing, NULL);
  expect_start_error (garbage, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
      "model", garbage, NULL);
  expect_start_error (labels, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "model", GOLDEN_MODEL, "labels", labels, NULL);
  expect_start_error (missing, GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "labels", missing,
      NULL);
  expect_start_error ("input-size", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "input-size", "33",
      NULL);
  expect_start_error ("classes", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "classes",
      "class1,unicorn", NULL);
  expect_start_error ("unicorn", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "classes",
      "class1,unicorn", NULL);
  expect_start_error ("classes", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "classes", "80",
      NULL);

  g_unlink (garbage);
  g_unlink (labels);
  g_rmdir (dir);
  g_free (missing);
  g_free (garbage);
  g_free (labels);
  g_free (dir);
}

GST_END_TEST;

/* ---- pipelines ---------------------------------------------------------- */

static GstPadProbeReturn
count_buffers (G_GNUC_UNUSED GstPad * pad, GstPadProbeInfo * info,
    gpointer user_data)
{
  gint *counts = user_data;     /* [buffers, without meta] */
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);

  g_atomic_int_inc (&counts[0]);
  if (gst_buffer_get_repvit_detection_meta (buf) == NULL)
    g_atomic_int_inc (&counts[1]);
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_state_cycles)
{
  gchar *launch = g_strdup_printf ("videotestsrc ! video/x-raw,format=I420,"
      "width=160,height=120 ! repvityolo model=\"%s\" input-size=64 "
      "threads=1 ! fakesink name=sink sync=false", GOLDEN_MODEL);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstPad *pad = gst_element_get_static_pad (sink, "sink");
  gint counts[2] = { 0, 0 };

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffers, counts,
      NULL);
  for (gint cycle = 0; cycle < 50; cycle++) {
    gint before = g_atomic_int_get (&counts[0]);

    fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
            GST_CLOCK_TIME_NONE), GST_STATE_CHANGE_SUCCESS);
    for (gint wait = 0; wait < 6000 && g_atomic_int_get (&counts[0]) == before;
        wait++)
      g_usleep (5000);
    fail_unless (g_atomic_int_get (&counts[0]) > before, "cycle %d", cycle);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
  }
  fail_unless_equals_int (g_atomic_int_get (&counts[1]), 0);

  gst_object_unref (pad);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  g_free (launch);
}

GST_END_TEST;

static guint
shared_by (GstElement * pipeline, const gchar * name)
{
  GstElement *el = gst_bin_get_by_name (GST_BIN (pipeline), name);
  GstStructure *info;
  guint users = 0;

  g_object_get (el, "model-info", &info, NULL);
  if (info) {
    fail_unless (gst_structure_get_uint (info, "shared-by", &users));
    fail_unless_equals_string (gst_structure_get_string (info, "variant"),
        "m0_9");
    gst_structure_free (info);
  }
  gst_object_unref (el);
  return users;
}

/* Elements naming the same file (here once through a symlink) share one
 * loaded model; a copy of the file is another model. */
GST_START_TEST (test_shared_model)
{
  gchar *dir = g_dir_make_tmp ("repvityolo-XXXXXX", NULL);
  gchar *link = g_build_filename (dir, "link.safetensors", NULL);
  gchar *copy = g_build_filename (dir, "copy.safetensors", NULL);
  gchar *contents, *launch;
  gsize size;
  GstElement *pipeline;

  fail_unless (symlink (GOLDEN_MODEL, link) == 0);
  fail_unless (g_file_get_contents (GOLDEN_MODEL, &contents, &size, NULL));
  fail_unless (g_file_set_contents (copy, contents, size, NULL));
  g_free (contents);

  launch = g_strdup_printf ("videotestsrc ! repvityolo name=a model=\"%s\" "
      "input-size=64 ! fakesink videotestsrc ! repvityolo name=b "
      "model=\"%s\" input-size=64 ! fakesink videotestsrc ! repvityolo "
      "name=c model=\"%s\" input-size=64 ! fakesink", GOLDEN_MODEL, link, copy);
  pipeline = gst_parse_launch (launch, NULL);
  fail_unless (pipeline != NULL);
  fail_unless_equals_int (shared_by (pipeline, "a"), 0);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
          GST_CLOCK_TIME_NONE), GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (shared_by (pipeline, "a"), 2);
  fail_unless_equals_int (shared_by (pipeline, "b"), 2);
  fail_unless_equals_int (shared_by (pipeline, "c"), 1);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  fail_unless_equals_int (shared_by (pipeline, "a"), 0);

  gst_object_unref (pipeline);
  g_unlink (link);
  g_unlink (copy);
  g_rmdir (dir);
  g_free (launch);
  g_free (link);
  g_free (copy);
  g_free (dir);
}

GST_END_TEST;

static gfloat
iou (gfloat ax, gfloat ay, gfloat aw, gfloat ah, const rv_detection * b)
{
  gfloat iw = MIN (ax + aw, b->x2) - MAX (ax, b->x1);
  gfloat ih = MIN (ay + ah, b->y2) - MAX (ay, b->y1);
  gfloat inter = MAX (iw, 0.0f) * MAX (ih, 0.0f);

  return inter / (aw * ah + (b->x2 - b->x1) * (b->y2 - b->y1) - inter);
}

/* precision=bf16: exactly the core's bf16 detections (fp32 ones where the
 * CPU lacks AVX512-BF16, as model-info then says), and close to fp32: most
 * of the ten best fp32 detections have a bf16 one of the same class with
 * IoU > 0.9 and a score within 0.05. (At 128 pixels; on larger inputs this
 * random-weight model saturates on the synthetic frame, scores of 1.0 and
 * frame-sized boxes, where any rounding reorders the detections.) */
GST_START_TEST (test_precision_bf16)
{
  const gint w = 330, h_ = 186, target = 128;
  GstHarness *h = harness_new ("precision", "bf16", "input-size", "128", NULL);
  GstRepvitDetectionMeta *meta;
  GstStructure *info;
  GstBuffer *out;
  Core f32, bf16;
  guint8 *rgb;
  gint matched = 0, best;
  gchar err[256];

  core_init (&f32);
  core_init (&bf16);
  fail_unless (rv_ctx_set_precision (bf16.ctx, RV_PRECISION_BF16, err,
          sizeof err) == RV_OK, "%s", err);
  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, w, h_, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, w, h_, 0, &rgb), 0);
  core_detect_rgb (&f32, rgb, w, h_, target, NULL);
  core_detect_rgb (&bf16, rgb, w, h_, target, NULL);
  meta = check_equals_core (out, &bf16);
  g_object_get (h->element, "model-info", &info, NULL);
  fail_unless_equals_string (gst_structure_get_string (info, "precision"),
      rv_ctx_get_precision (bf16.ctx) == RV_PRECISION_BF16 ? "bf16" : "fp32");
  gst_structure_free (info);

  best = MIN (f32.n, 10);
  for (gint i = 0; i < best; i++)
    for (guint j = 0; j < gst_repvit_detection_meta_get_count (meta); j++) {
      const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, j);
      const rv_detection *e = &f32.dets[i];

      if (d->class_id == e->class_id && iou (d->x, d->y, d->w, d->h, e) > 0.9f
          && fabsf (d->confidence - e->score) < 0.05f) {
        matched++;
        break;
      }
    }
  GST_INFO ("%d of the %d best fp32 detections found in bf16", matched, best);
  fail_unless (matched >= best * 8 / 10, "only %d of the %d best fp32 "
      "detections have a bf16 twin", matched, best);

  gst_buffer_unref (out);
  g_free (rgb);
  gst_harness_teardown (h);
  core_clear (&f32);
  core_clear (&bf16);
}

GST_END_TEST;

static Suite *
repvityolo_suite (void)
{
  Suite *s = suite_create ("repvityolo");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_packed_formats_equal_core);
  tcase_add_test (tc, test_yuv_formats_equal_core);
  tcase_add_test (tc, test_read_only_no_pixel_copy);
  tcase_add_test (tc, test_meta_on_every_buffer);
  tcase_add_test (tc, test_interval_stale);
  tcase_add_test (tc, test_renegotiation);
  tcase_add_test (tc, test_roi_meta);
  tcase_add_test (tc, test_classes_and_labels);
  tcase_add_test (tc, test_properties_while_playing);
  tcase_add_test (tc, test_qos_late_frames);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_state_cycles);
  tcase_add_test (tc, test_shared_model);
  tcase_add_test (tc, test_precision_bf16);
  return s;
}

GST_CHECK_MAIN (repvityolo);
