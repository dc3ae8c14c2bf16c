/* test_overlay.c — repvitoverlay draws outlines and captions where the
 * detections are, in every format, and nothing elsewhere. */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

#define W 320
#define H 240
#define FILL 0x40               /* every byte of the input frame */

/* The box drawn in every test; wide enough that its caption fits above it. */
#define BX 60
#define BY 60
#define BW 160
#define BH 120

static const gchar *formats[] = {
  "BGRx", "BGRA", "RGB", "BGR", "RGBA", "RGBx", "xRGB", "xBGR", "ARGB", "ABGR",
  "I420", "NV12",
};

typedef struct
{
  gint r, g, b;
} Rgb;

static GstBuffer *
make_frame (const GstVideoInfo * info)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);

  gst_buffer_memset (buf, 0, FILL, info->size);
  return buf;
}

static void
add_detection (GstBuffer * buf, gint class_id, const gchar * label)
{
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);
  GstRepvitDetection d = { class_id, g_intern_string (label), 0.87f,
    BX, BY, BW, BH, -1, 0
  };

  if (!meta)
    meta = gst_buffer_add_repvit_detection_meta (buf, "test", 320, 256);
  gst_repvit_detection_meta_add (meta, &d);
}

/* Runs @buf, a frame described by @info, through a repvitoverlay with
 * @props; maps the output frame into @frame (gst_video_frame_unmap it). */
static void
overlay (const gchar * props, GstBuffer * buf, GstVideoInfo * info,
    GstVideoFrame * frame)
{
  gchar *desc = g_strdup_printf ("repvitoverlay %s", props ? props : "");
  GstHarness *h = gst_harness_new_parse (desc);
  GstBuffer *out;

  info->fps_n = 30;
  gst_harness_set_src_caps (h, gst_video_info_to_caps (info));
  out = gst_harness_push_and_pull (h, buf);
  fail_unless (out != NULL);
  fail_unless (gst_video_frame_map (frame, info, out, GST_MAP_READ));
  gst_buffer_unref (out);       /* the frame holds its own reference */
  gst_harness_teardown (h);
  g_free (desc);
}

static guint8
comp_at (const GstVideoFrame * f, guint c, gint x, gint y)
{
  const GstVideoFormatInfo *fi = f->info.finfo;
  gint sx = x >> GST_VIDEO_FORMAT_INFO_W_SUB (fi, c);
  gint sy = y >> GST_VIDEO_FORMAT_INFO_H_SUB (fi, c);

  return ((const guint8 *) GST_VIDEO_FRAME_COMP_DATA (f, c))[sy *
      GST_VIDEO_FRAME_COMP_STRIDE (f, c) +
      sx * GST_VIDEO_FRAME_COMP_PSTRIDE (f, c)];
}

/* The pixel at (x, y) in RGB: read directly, or from BT.601 limited-range
 * YUV with the textbook formulas. */
static Rgb
rgb_at (const GstVideoFrame * f, gint x, gint y)
{
  gdouble yy, u, v;
  Rgb p;

  if (GST_VIDEO_INFO_IS_RGB (&f->info)) {
    p.r = comp_at (f, 0, x, y);
    p.g = comp_at (f, 1, x, y);
    p.b = comp_at (f, 2, x, y);
    return p;
  }
  yy = 1.164 * (comp_at (f, 0, x, y) - 16);
  u = comp_at (f, 1, x, y) - 128;
  v = comp_at (f, 2, x, y) - 128;
  p.r = CLAMP ((gint) (yy + 1.596 * v + 0.5), 0, 255);
  p.g = CLAMP ((gint) (yy - 0.392 * u - 0.813 * v + 0.5), 0, 255);
  p.b = CLAMP ((gint) (yy + 2.017 * u + 0.5), 0, 255);
  return p;
}

/* Whether any component byte of (x, y), alpha included, left FILL. */
static gboolean
changed (const GstVideoFrame * f, gint x, gint y)
{
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (f); c++)
    if (comp_at (f, c, x, y) != FILL)
      return TRUE;
  return FALSE;
}

static gint
count_changed (const GstVideoFrame * f, gint x0, gint y0, gint x1, gint y1)
{
  gint n = 0;

  for (gint y = y0; y < y1; y++)
    for (gint x = x0; x < x1; x++)
      n += changed (f, x, y);
  return n;
}

/* Chroma of subsampled formats may spill one pixel beyond what is drawn. */
#define SPILL 2

static void
check_untouched_far_from_box (const GstVideoFrame * f)
{
  for (gint y = 0; y < H; y++)
    for (gint x = 0; x < W; x++) {
      gboolean left_right = x < BX - SPILL || x >= BX + BW + SPILL;
      gboolean below = y >= BY + BH + SPILL;
      gboolean above_caption = y < BY - 32;     /* a 12 pt caption is ~22 px */
      gboolean inside = x >= BX + 2 + SPILL && x < BX + BW - 2 - SPILL &&
          y >= BY + 2 + SPILL && y < BY + BH - 2 - SPILL;

      if (left_right || below || above_caption || inside)
        fail_if (changed (f, x, y), "%s: pixel %d,%d changed",
            gst_video_format_to_string (GST_VIDEO_FRAME_FORMAT (f)), x, y);
    }
}

static void
info_for (const gchar * format, GstVideoInfo * info)
{
  gst_video_info_set_format (info, gst_video_format_from_string (format), W, H);
  if (GST_VIDEO_INFO_IS_YUV (info))
    gst_video_colorimetry_from_string (&info->colorimetry, "bt601");
}

/* The RGB colour at (x, y) of a class-1 box drawn in @format. */
static Rgb
drawn_colour (const gchar * format, gint x, gint y)
{
  GstVideoInfo info;
  GstVideoFrame f;
  GstBuffer *buf;
  Rgb p;

  info_for (format, &info);
  buf = make_frame (&info);
  add_detection (buf, 1, "square");
  overlay (NULL, buf, &info, &f);
  p = rgb_at (&f, x, y);
  gst_video_frame_unmap (&f);
  return p;
}

GST_START_TEST (test_outline_and_caption_in_every_format)
{
  const gchar *format = formats[__i__];
  gboolean yuv;
  GstVideoInfo info;
  GstVideoFrame f;
  GstBuffer *buf;
  Rgb want, got;

  info_for (format, &info);
  yuv = GST_VIDEO_INFO_IS_YUV (&info);
  buf = make_frame (&info);
  add_detection (buf, 1, "square");
  overlay (NULL, buf, &info, &f);

  /* Every edge is drawn, two pixels wide (the default line-width). */
  for (gint y = BY; y < BY + BH; y += 7) {
    fail_unless (changed (&f, BX, y) && changed (&f, BX + 1, y), "%s y %d",
        format, y);
    fail_unless (changed (&f, BX + BW - 1, y), "%s y %d", format, y);
  }
  for (gint x = BX; x < BX + BW; x += 7) {
    fail_unless (changed (&f, x, BY) && changed (&f, x, BY + 1), "%s x %d",
        format, x);
    fail_unless (changed (&f, x, BY + BH - 1), "%s x %d", format, x);
  }
  if (!yuv)                     /* no chroma spill: the line ends exactly */
    fail_if (changed (&f, BX + 2, BY + BH / 2), "%s", format);

  /* A caption above the box, starting at its left edge. */
  fail_unless (count_changed (&f, BX, BY - 20, BX + 40, BY) > 200, "%s",
      format);
  check_untouched_far_from_box (&f);

  /* The outline has the class colour that Cairo draws in BGRx. */
  got = rgb_at (&f, BX, BY + BH / 2);
  gst_video_frame_unmap (&f);
  want = drawn_colour ("BGRx", BX, BY + BH / 2);
  fail_if (want.r == FILL && want.g == FILL && want.b == FILL);
  fail_unless (ABS (got.r - want.r) <= (yuv ? 6 : 0) &&
      ABS (got.g - want.g) <= (yuv ? 6 : 0) &&
      ABS (got.b - want.b) <= (yuv ? 6 : 0),
      "%s: outline %d,%d,%d, BGRx has %d,%d,%d", format, got.r, got.g, got.b,
      want.r, want.g, want.b);
}

GST_END_TEST;

GST_START_TEST (test_classes_differ)
{
  Rgb a, b;
  GstVideoInfo info;
  GstVideoFrame f;
  GstBuffer *buf;

  a = drawn_colour ("RGB", BX, BY + BH / 2);
  info_for ("RGB", &info);
  buf = make_frame (&info);
  add_detection (buf, 2, "triangle");
  overlay (NULL, buf, &info, &f);
  b = rgb_at (&f, BX, BY + BH / 2);
  gst_video_frame_unmap (&f);
  fail_if (a.r == b.r && a.g == b.g && a.b == b.b);
}

GST_END_TEST;

static gint
caption_pixels (const gchar * format, const gchar * props)
{
  GstVideoInfo info;
  GstVideoFrame f;
  GstBuffer *buf;
  gint n;

  info_for (format, &info);
  buf = make_frame (&info);
  add_detection (buf, 0, "circle");
  overlay (props, buf, &info, &f);
  n = count_changed (&f, 0, 0, W, BY - SPILL);
  gst_video_frame_unmap (&f);
  return n;
}

GST_START_TEST (test_caption_properties)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i += 10) {      /* BGRx, I420 */
    gint both = caption_pixels (formats[i], NULL);
    gint label = caption_pixels (formats[i], "show-confidence=false");
    gint confidence = caption_pixels (formats[i], "show-labels=false");
    gint none = caption_pixels (formats[i],
        "show-labels=false show-confidence=false");
    gint big = caption_pixels (formats[i], "font-desc=\"Sans 20\"");

    fail_unless (both > label && both > confidence && label > 0 &&
        confidence > 0, "%s: %d %d %d", formats[i], both, label, confidence);
    fail_unless (none == 0, "%s", formats[i]);
    fail_unless (big > both, "%s", formats[i]);
  }
}

GST_END_TEST;

static gint pango_warnings;

/* Pango logs structured: counted here, not by gst-check's handlers. */
static GLogWriterOutput
count_pango_warnings (GLogLevelFlags level, const GLogField * fields,
    gsize n_fields, gpointer user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0
        && strcmp (fields[i].value, "Pango") == 0
        && (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_CRITICAL)))
      g_atomic_int_inc (&pango_warnings);
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* A caption of a long multi-byte label is cut at a character boundary, one
 * with bytes that are not UTF-8 (another element's meta) before them: Pango
 * gets valid text (else it warns on every frame) and the caption is drawn. */
GST_START_TEST (test_caption_text_cut)
{
  GString *accents = g_string_new (NULL);
  const gchar *props[] = { NULL, "show-confidence=false" };

  g_log_set_writer_func (count_pango_warnings, NULL, NULL);

  for (gint i = 0; i < 100; i++)
    g_string_append (accents, "\xc3\xa9");    /* e acute, 2 bytes */
  for (guint i = 0; i < 2; i++)
    for (guint p = 0; p < G_N_ELEMENTS (props); p++) {
      GstVideoInfo info;
      GstVideoFrame f;
      GstBuffer *buf;

      info_for ("BGRx", &info);
      buf = make_frame (&info);
      add_detection (buf, 0, i ? "ok\xff\xfe" "bad" : accents->str);
      overlay (props[p], buf, &info, &f);
      fail_unless (count_changed (&f, 0, 0, W, BY - SPILL) > 0);
      gst_video_frame_unmap (&f);
    }
  fail_unless_equals_int (g_atomic_int_get (&pango_warnings), 0);
  g_string_free (accents, TRUE);
}

GST_END_TEST;

GST_START_TEST (test_line_width)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i += 2) {
    GstVideoInfo info;
    GstVideoFrame f;
    GstBuffer *buf;

    info_for (formats[i], &info);
    buf = make_frame (&info);
    add_detection (buf, 0, "circle");
    overlay ("line-width=8", buf, &info, &f);
    fail_unless (changed (&f, BX + 7, BY + BH / 2), "%s", formats[i]);
    fail_unless (changed (&f, BX + BW / 2, BY + BH - 8), "%s", formats[i]);
    fail_if (changed (&f, BX + 10, BY + BH / 2), "%s", formats[i]);
    gst_video_frame_unmap (&f);
  }
}

GST_END_TEST;

GST_START_TEST (test_no_detections_untouched)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    GstVideoInfo info;
    GstVideoFrame f;

    info_for (formats[i], &info);
    overlay (NULL, make_frame (&info), &info, &f);
    fail_unless (count_changed (&f, 0, 0, W, H) == 0, "%s", formats[i]);
    gst_video_frame_unmap (&f);
  }
}

GST_END_TEST;

/* Boxes partly or wholly outside the frame, degenerate or NaN: clipped or
 * skipped, never a write out of bounds (valgrind/ASan would tell). */
GST_START_TEST (test_boxes_at_and_beyond_edges)
{
  const gfloat boxes[][4] = {
    {-50, -50, 100, 100}, {W - 30, H - 20, 100, 100}, {-10, 100, W + 20, 3},
    {W + 5, 10, 20, 20}, {10, 10, 0, 5}, {NAN, 10, 10, 10}, {10, 10, 1, 1},
  };

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    GstVideoInfo info;
    GstVideoFrame f;
    GstBuffer *buf;
    GstRepvitDetectionMeta *meta;

    info_for (formats[i], &info);
    buf = make_frame (&info);
    meta = gst_buffer_add_repvit_detection_meta (buf, "test", 320, 256);
    for (guint b = 0; b < G_N_ELEMENTS (boxes); b++) {
      GstRepvitDetection d =
          { b, g_intern_static_string ("a-rather-long-label"),
        0.5f, boxes[b][0], boxes[b][1], boxes[b][2], boxes[b][3], -1, 0
      };
      gst_repvit_detection_meta_add (meta, &d);
    }
    overlay ("line-width=50", buf, &info, &f);
    fail_unless (changed (&f, 0, 0), "%s", formats[i]);
    fail_unless (changed (&f, W - 1, H - 1), "%s", formats[i]);
    gst_video_frame_unmap (&f);
  }
}

GST_END_TEST;

/* Odd sizes: the last chroma sample covers one pixel only. */
GST_START_TEST (test_odd_frame_size)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
    GstVideoInfo info;
    GstVideoFrame f;
    GstBuffer *buf;
    GstRepvitDetectionMeta *meta;
    GstRepvitDetection d = { 0, g_intern_static_string ("circle"), 0.5f,
      W - 59, H - 39, 100, 100, -1, 0
    };

    gst_video_info_set_format (&info, gst_video_format_from_string
        (formats[i]), W + 1, H + 1);
    buf = gst_buffer_new_allocate (NULL, info.size, NULL);
    gst_buffer_memset (buf, 0, FILL, info.size);
    meta = gst_buffer_add_repvit_detection_meta (buf, "test", 320, 256);
    gst_repvit_detection_meta_add (meta, &d);
    overlay ("line-width=3", buf, &info, &f);
    fail_unless (changed (&f, W, H), "%s", formats[i]);
    fail_unless (changed (&f, W - 59, H), "%s", formats[i]);
    fail_if (changed (&f, W - 62, H), "%s", formats[i]);
    gst_video_frame_unmap (&f);
  }
}

GST_END_TEST;

GST_START_TEST (test_region_of_interest_meta)
{
  for (guint i = 0; i < G_N_ELEMENTS (formats); i += 10) {      /* BGRx, I420 */
    GstVideoInfo info;
    GstVideoFrame f;
    GstBuffer *buf;
    GstVideoRegionOfInterestMeta *roi;

    info_for (formats[i], &info);
    buf = make_frame (&info);
    roi = gst_buffer_add_video_region_of_interest_meta (buf, "person", BX, BY,
        BW, BH);
    gst_video_region_of_interest_meta_add_param (roi,
        gst_structure_new ("detection", "confidence", G_TYPE_DOUBLE, 0.5,
            "label_id", G_TYPE_INT, 3, NULL));
    overlay (NULL, buf, &info, &f);
    fail_unless (changed (&f, BX, BY + BH / 2), "%s", formats[i]);
    fail_unless (changed (&f, BX + BW - 1, BY + BH / 2), "%s", formats[i]);
    fail_unless (count_changed (&f, BX, BY - 20, BX + 40, BY) > 200, "%s",
        formats[i]);
    check_untouched_far_from_box (&f);
    gst_video_frame_unmap (&f);
  }
}

GST_END_TEST;

/* With our meta present the ROI metas are not drawn a second time. */
GST_START_TEST (test_own_meta_wins_over_roi)
{
  GstVideoInfo info;
  GstVideoFrame f;
  GstBuffer *buf;

  info_for ("BGRx", &info);
  buf = make_frame (&info);
  add_detection (buf, 0, "circle");
  gst_buffer_add_video_region_of_interest_meta (buf, "person", 5, 200, 50, 30);
  overlay (NULL, buf, &info, &f);
  fail_unless (changed (&f, BX, BY + BH / 2));
  fail_unless (count_changed (&f, 0, 190, 60, H) == 0);
  gst_video_frame_unmap (&f);
}

GST_END_TEST;

static Suite *
repvitoverlay_suite (void)
{
  Suite *s = suite_create ("repvitoverlay");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_outline_and_caption_in_every_format, 0,
      G_N_ELEMENTS (formats));
  tcase_add_test (tc, test_classes_differ);
  tcase_add_test (tc, test_caption_properties);
  tcase_add_test (tc, test_caption_text_cut);
  tcase_add_test (tc, test_line_width);
  tcase_add_test (tc, test_no_detections_untouched);
  tcase_add_test (tc, test_boxes_at_and_beyond_edges);
  tcase_add_test (tc, test_odd_frame_size);
  tcase_add_test (tc, test_region_of_interest_meta);
  tcase_add_test (tc, test_own_meta_wins_over_roi);
  return s;
}

GST_CHECK_MAIN (repvitoverlay);
