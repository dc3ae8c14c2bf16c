/* repvityolo.c — the repvityolo element: caps, metas, detections equal to
 * the core's own result on the same pixels, inference-interval, QoS,
 * renegotiation, errors (labels files that are no clean text, long paths),
 * state cycles, model sharing (by file identity), labels' lifetime and
 * precision.
 *
 * The golden model has random weights; a low confidence threshold makes it
 * detect something in any picture. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
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

/* The 95th percentile (nearest rank) of the last @last times: the
 * smallest of them that at least 95% of them do not exceed. */
static GstClockTime
percentile95 (GArray * times, guint last)
{
  const GstClockTime *t = &g_array_index (times, GstClockTime,
      times->len - last);
  GstClockTime best = G_MAXUINT64;

  for (guint i = 0; i < last; i++) {
    guint at_most = 0;

    for (guint j = 0; j < last; j++)
      at_most += t[j] <= t[i];
    if (at_most * 100 >= last * 95 && t[i] < best)
      best = t[i];
  }
  return best;
}

static GstClockTime
push_timed (GstHarness * h, gint n, GArray * times)
{
  for (gint i = 0; i < n; i++) {
    GstBuffer *out = push_pull (h, make_frame (GST_VIDEO_FORMAT_BGRx, 320,
            240, i, NULL), (times->len + i) * GST_SECOND / 30);
    GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (out);
    GstClockTime t = meta->inference_ns;

    fail_if (meta->stale);
    g_array_append_val (times, t);
    gst_buffer_unref (out);
  }
  return gst_harness_query_latency (h) - 5 * GST_MSECOND;
}

static guint
pop_latency_messages (GstBus * bus)
{
  GstMessage *msg;
  guint n = 0;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_LATENCY))) {
    n++;
    gst_message_unref (msg);
  }
  return n;
}

GST_START_TEST (test_latency_query)
{
  GstHarness *h = harness_new ("input-size", "320", NULL);
  GArray *times = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  GstBus *bus = gst_bus_new ();
  GstClockTime latency, p;

  gst_element_set_bus (h->element, bus);
  gst_harness_set_upstream_latency (h, 5 * GST_MSECOND);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 5 * GST_MSECOND);
  harness_set_caps (h, GST_VIDEO_FORMAT_BGRx, 320, 240, NULL);

  /* the percentile of the frames seen is within 20% of the latency last
   * reported (a smaller move re-posts nothing) */
  latency = push_timed (h, 50, times);
  p = percentile95 (times, 50);
  fail_unless (p >= latency - latency / 5 && p <= latency + latency / 5,
      "latency %" G_GUINT64_FORMAT " vs p95 %" G_GUINT64_FORMAT, latency, p);
  pop_latency_messages (bus);

  /* 25 times fewer pixels: the latency goes down, and says so */
  g_object_set (h->element, "input-size", 64, NULL);
  latency = push_timed (h, 50, times);
  p = percentile95 (times, 50);
  fail_unless (p >= latency - latency / 5 && p <= latency + latency / 5,
      "latency %" G_GUINT64_FORMAT " vs p95 %" G_GUINT64_FORMAT, latency, p);
  fail_unless (pop_latency_messages (bus) > 0);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  g_array_unref (times);
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

/* Writes len bytes to path (a temporary file renamed over it). */
static void
write_file (const gchar * path, const gchar * bytes, gssize len)
{
  fail_unless (g_file_set_contents (path, bytes, len, NULL));
}

/* Labels files that are no small UTF-8 text are refused with the reason,
 * without blocking on a FIFO (a model either) or reading /dev/zero without
 * end; a BOM, CR LF line ends and blank lines after the names are
 * accepted. */
GST_START_TEST (test_labels_files)
{
  gchar *dir = g_dir_make_tmp ("repvityolo-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "labels.txt", NULL);
  gchar *fifo = g_build_filename (dir, "fifo.txt", NULL);
  GString *text = g_string_new ("\xef\xbb\xbf");
  gchar *big = g_malloc ((1 << 20) + 1);
  static const struct
  {
    const gchar *bytes;
    gsize len;
    const gchar *expected;
  } cases[] = {
    {"\xff\xfe" "a\0\n\0", 6, "UTF-16; labels files are UTF-8"},
    {"\xfe\xff" "\0a\0\n", 6, "UTF-16; labels files are UTF-8"},
    {"a\0\n\0b\0", 6, "UTF-16; labels files are UTF-8"},
    {"x\ny\nbad\xff\n", 9, "line 3 is not valid UTF-8"},
    {"x\ny\0z\n", 6, "a NUL byte at offset 3"},
    {"x\na\x07" "b\n", 6, "line 2 is not text"},
    {"x\n\xc2\x85\n", 5, "line 2 is not text"},
    {"x\n\ny\n", 5, "line 2 is empty"},
    {"x\ny\n\n \r\n", 7, "2 names, but the model has 80 classes"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    write_file (path, cases[i].bytes, cases[i].len);
    expect_start_error (cases[i].expected, GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "labels", path,
        NULL);
  }
  memset (big, 'a', (1 << 20) + 1);
  write_file (path, big, (1 << 20) + 1);
  expect_start_error ("1048577 bytes, more than the 1048576 bytes",
      GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL,
      "labels", path, NULL);
  fail_unless (mkfifo (fifo, 0600) == 0);
  expect_start_error ("fifo.txt: not a regular file", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "labels", fifo,
      NULL);
  expect_start_error ("/dev/zero: not a regular file", GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_SETTINGS, "model", GOLDEN_MODEL, "labels",
      "/dev/zero", NULL);
  /* the same for a model */
  expect_start_error ("fifo.txt: is a FIFO, not a regular file",
      GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED, "model", fifo, NULL);

  /* accepted: the BOM is no part of the first name ("classes" finds it) */
  for (gint c = 0; c < 80; c++)
    g_string_append_printf (text, "name %d\r\n", c);
  g_string_append (text, "\n \r\n\n");
  write_file (path, text->str, text->len);
  {
    GstHarness *h = harness_new ("labels", path, "classes", "name 0", NULL);

    harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 64, 64, NULL);
    gst_buffer_unref (push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 64, 64,
                0, NULL), 0));
    gst_harness_teardown (h);
  }

  g_unlink (path);
  g_unlink (fifo);
  g_rmdir (dir);
  g_string_free (text, TRUE);
  g_free (big);
  g_free (path);
  g_free (fifo);
  g_free (dir);
}

GST_END_TEST;

/* With a path longer than the element's message buffer, the reason comes
 * whole, and the path (shortened from the left) once. */
GST_START_TEST (test_long_path_message)
{
  gchar *top = g_dir_make_tmp ("repvityolo-XXXXXX", NULL), *dir = g_strdup (top);
  gchar *path, *pipeline_desc;
  GstElement *pipeline;
  GstBus *bus;
  GstMessage *msg;
  GError *err = NULL;
  const gchar *p;
  gint count = 0;

  for (gint i = 0; i < 10; i++) {
    gchar *d = g_strdup_printf ("%s/%060d", dir, i);

    g_free (dir);
    dir = d;
  }
  fail_unless (g_mkdir_with_parents (dir, 0700) == 0);
  path = g_build_filename (dir, "garbage.safetensors", NULL);
  write_file (path, "this is not a model", -1);
  pipeline_desc = g_strdup_printf ("videotestsrc ! repvityolo model=\"%s\" ! "
      "fakesink", path);
  pipeline = gst_parse_launch (pipeline_desc, NULL);
  bus = gst_element_get_bus (pipeline);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PAUSED),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (strstr (err->message, "is out of range (2 .. 104857600) "
          "(invalid safetensors file)") != NULL, "%s", err->message);
  for (p = err->message; (p = strstr (p, "garbage.safetensors")); p++)
    count++;
  fail_unless_equals_int (count, 1);

  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_unlink (path);
  for (gint i = 0; i <= 10; i++) {
    gchar *up = g_path_get_dirname (dir);

    g_rmdir (dir);
    g_free (dir);
    dir = up;
  }
  g_free (dir);
  g_free (top);
  g_free (path);
  g_free (pipeline_desc);
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

/* Class names live as long as the element and the metas that use them, and
 * are not interned for the life of the process (each label set loaded would
 * stay): after the element stops, none of them is a quark. With GStreamer
 * 1.24's analytics metadata the detected ones are: its object-detection mtds
 * name their class by quark. */
GST_START_TEST (test_labels_not_interned)
{
  gchar *dir = g_dir_make_tmp ("repvityolo-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "labels.txt", NULL);
  GString *text = g_string_new (NULL);
  GstRepvitDetectionMeta *meta;
  GstHarness *h;
  GstBuffer *out;
  gboolean detected[80] = { FALSE };

  for (gint c = 0; c < 80; c++)
    g_string_append_printf (text, "never interned %d\n", c);
  write_file (path, text->str, text->len);
  h = harness_new ("labels", path, "attach-roi-meta", "false", NULL);
  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 330, 186, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 330, 186, 0, NULL), 0);
  gst_harness_teardown (h);
  /* the meta outlives the element */
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless (meta != NULL && gst_repvit_detection_meta_get_count (meta) > 0);
  fail_unless (g_str_has_prefix (gst_repvit_detection_meta_get (meta,
              0)->label, "never interned "));
#ifdef HAVE_GST_ANALYTICS
  for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++)
    detected[gst_repvit_detection_meta_get (meta, i)->class_id] = TRUE;
#endif
  gst_buffer_unref (out);
  for (gint c = 0; c < 80; c++) {
    gchar *name = g_strdup_printf ("never interned %d", c);

    fail_unless ((g_quark_try_string (name) != 0) == detected[c],
        "%s: quark %d", name, g_quark_try_string (name) != 0);
    g_free (name);
  }

  g_unlink (path);
  g_rmdir (dir);
  g_string_free (text, TRUE);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

/* Starts a pipeline with one repvityolo called name on path. */
static GstElement *
start_one (const gchar * name, const gchar * path)
{
  gchar *desc = g_strdup_printf ("videotestsrc ! repvityolo name=%s "
      "model=\"%s\" input-size=64 ! fakesink", name, path);
  GstElement *pipeline = gst_parse_launch (desc, NULL);

  fail_unless (pipeline != NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
          GST_CLOCK_TIME_NONE), GST_STATE_CHANGE_SUCCESS);
  g_free (desc);
  return pipeline;
}

/* The model cache tells contents apart, not just path, size and mtime: a
 * same-size file rewritten in place under the same mtime (another header),
 * or renamed over the path (another inode), is loaded anew. */
GST_START_TEST (test_model_cache_identity)
{
  gchar *dir = g_dir_make_tmp ("repvityolo-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "model.safetensors", NULL);
  gchar *next = g_build_filename (dir, "next.safetensors", NULL);
  GstElement *a, *b, *c;
  gchar *contents, *name;
  struct stat st;
  struct timespec times[2];
  gsize size;
  FILE *f;

  fail_unless (g_file_get_contents (GOLDEN_MODEL, &contents, &size, NULL));
  write_file (path, contents, size);
  fail_unless (stat (path, &st) == 0);
  times[0] = st.st_atim;
  times[1] = st.st_mtim;
  a = start_one ("a", path);
  fail_unless_equals_int (shared_by (a, "a"), 1);

  /* retrained: a class renamed, same length; written in place, old mtime */
  name = memmem (contents, size, "class10", 7);
  fail_unless (name != NULL);
  name[4] = 'z';
  f = fopen (path, "r+b");
  fail_unless (f != NULL && fwrite (contents, 1, size, f) == size);
  fail_unless (fclose (f) == 0);
  fail_unless (utimensat (AT_FDCWD, path, times, 0) == 0);
  b = start_one ("b", path);
  fail_unless_equals_int (shared_by (a, "a"), 1);
  fail_unless_equals_int (shared_by (b, "b"), 1);

  /* the same bytes renamed over the path, mtime set back */
  write_file (next, contents, size);
  fail_unless (utimensat (AT_FDCWD, next, times, 0) == 0);
  fail_unless (g_rename (next, path) == 0);
  c = start_one ("c", path);
  fail_unless_equals_int (shared_by (b, "b"), 1);
  fail_unless_equals_int (shared_by (c, "c"), 1);

  for (GstElement ** p = (GstElement *[]) { a, b, c, NULL }; *p; p++) {
    gst_element_set_state (*p, GST_STATE_NULL);
    gst_object_unref (*p);
  }
  g_unlink (path);
  g_rmdir (dir);
  g_free (contents);
  g_free (path);
  g_free (next);
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

/* precision=bf16 and int8: exactly the core's detections in that precision
 * (fp32 ones where the CPU lacks AVX512-BF16 / VNNI, as model-info then
 * says), and close to fp32: most of the ten best fp32 detections have one
 * of the same class with IoU > 0.9 and a score within 0.05. (At 128 pixels;
 * on larger inputs this random-weight model saturates on the synthetic
 * frame, scores of 1.0 and frame-sized boxes, where any rounding reorders
 * the detections.) */
static const struct
{
  const gchar *nick;
  rv_precision precision;
} precisions[] = { {"bf16", RV_PRECISION_BF16}, {"int8", RV_PRECISION_INT8} };

GST_START_TEST (test_precision)
{
  const gint w = 330, h_ = 186, target = 128;
  GstHarness *h = harness_new ("precision", precisions[__i__].nick,
      "input-size", "128", NULL);
  GstRepvitDetectionMeta *meta;
  GstStructure *info;
  GstBuffer *out;
  Core f32, low;
  guint8 *rgb;
  gint matched = 0, best;
  gchar err[256];

  core_init (&f32);
  core_init (&low);
  fail_unless (rv_ctx_set_precision (low.ctx, precisions[__i__].precision,
          err, sizeof err) == RV_OK, "%s", err);
  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, w, h_, NULL);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, w, h_, 0, &rgb), 0);
  core_detect_rgb (&f32, rgb, w, h_, target, NULL);
  core_detect_rgb (&low, rgb, w, h_, target, NULL);
  meta = check_equals_core (out, &low);
  g_object_get (h->element, "model-info", &info, NULL);
  fail_unless_equals_string (gst_structure_get_string (info, "precision"),
      rv_ctx_get_precision (low.ctx) == precisions[__i__].precision
      ? precisions[__i__].nick : "fp32");
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
  GST_INFO ("%d of the %d best fp32 detections found in %s", matched, best,
      precisions[__i__].nick);
  fail_unless (matched >= best * 8 / 10, "only %d of the %d best fp32 "
      "detections have a %s twin", matched, best, precisions[__i__].nick);

  gst_buffer_unref (out);
  g_free (rgb);
  gst_harness_teardown (h);
  core_clear (&f32);
  core_clear (&low);
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
  tcase_add_test (tc, test_labels_files);
  tcase_add_test (tc, test_long_path_message);
  tcase_add_test (tc, test_state_cycles);
  tcase_add_test (tc, test_shared_model);
  tcase_add_test (tc, test_labels_not_interned);
  tcase_add_test (tc, test_model_cache_identity);
  tcase_add_loop_test (tc, test_precision, 0, G_N_ELEMENTS (precisions));
  return s;
}

GST_CHECK_MAIN (repvityolo);
