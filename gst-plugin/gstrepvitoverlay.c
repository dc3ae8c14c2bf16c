/* gstrepvitoverlay.c — draws detection boxes and their captions into frames. */
/**
 * SECTION:element-repvitoverlay
 * @title: repvitoverlay
 * @short_description: draws object-detection boxes with "label 0.87" captions
 *
 * Draws the boxes of the #GstRepvitDetectionMeta that repvityolo attaches
 * (or, on buffers without one, of each #GstVideoRegionOfInterestMeta, e.g. from
 * other analytics elements) into the frame, each with a caption made of its
 * label and confidence, in one colour per class. Stale detections (carried
 * over from an earlier frame) are drawn the same way. A tracked detection
 * (repvittrack upstream) has "#id" in front of its caption and, with
 * #GstRepvitOverlay:trail-length N, dots at its centres of the last N frames.
 *
 * On BGRx and BGRA (the native 32-bit formats of Cairo) the element draws
 * with Cairo on the frame itself; on the other formats it writes the outline
 * rectangles into each plane and blends each caption, rendered by Cairo and
 * Pango into a small scratch surface, into the frame — no full-frame copy.
 *
 * Drawing is cheap next to inference, so the element never drops a buffer
 * because it is late: #GstBaseTransform:qos is %FALSE by default (unlike other
 * video filters), and repvityolo upstream handles QoS by skipping inference
 * instead.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     repvityolo model=model.safetensors ! repvitoverlay line-width=3 \
 *     font-desc="Sans Bold 14" ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <cairo.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/video.h>
#include <pango/pangocairo.h>

#include "gstrepvitdetections.h"
#include "gstrepvitelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_repvit_overlay_debug);
#define GST_CAT_DEFAULT gst_repvit_overlay_debug

#define DEFAULT_FONT_DESC "Sans 12"
#define DEFAULT_LINE_WIDTH 2
#define DEFAULT_SHOW_LABELS TRUE
#define DEFAULT_SHOW_CONFIDENCE TRUE
#define DEFAULT_TRAIL_LENGTH 0
#define MAX_TRAIL_LENGTH 100

/* Padding around the caption text, pixels. */
#define CAPTION_PAD 2

enum
{
  PROP_0,
  PROP_FONT_DESC,
  PROP_LINE_WIDTH,
  PROP_SHOW_LABELS,
  PROP_SHOW_CONFIDENCE,
  PROP_TRAIL_LENGTH,
};

#define OVERLAY_FORMATS "{ BGRx, BGRA, RGB, BGR, RGBA, RGBx, xRGB, xBGR, ARGB, " \
  "ABGR, I420, NV12 }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (OVERLAY_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (OVERLAY_FORMATS)));

/* Ultralytics' 20 annotation colours, reordered so that the first classes
 * differ most. */
static const guint32 palette[] = {
  0x00c2ff, 0xff701f, 0x48f90a, 0xff37c7, 0xffb21d, 0x6473ff, 0x00d4bb,
  0xff3838, 0xcfd231, 0x8438ff, 0x3ddb86, 0xff95c8, 0x1a9334, 0x0018ec,
  0x92cc17, 0xcb38ff, 0x2c99a8, 0xff9d97, 0x344593, 0x520085,
};

typedef struct
{
  gint x0, y0, x1, y1;          /* pixels, x1 and y1 excluded */
} Rect;

/* The last centres of one track, a ring of up to MAX_TRAIL_LENGTH. */
typedef struct
{
  guint64 seen;                 /* frame it was last seen in */
  guint n, head;
  gint x[MAX_TRAIL_LENGTH], y[MAX_TRAIL_LENGTH];
} Trail;

#define GST_TYPE_REPVIT_OVERLAY (gst_repvit_overlay_get_type ())
G_DECLARE_FINAL_TYPE (GstRepvitOverlay, gst_repvit_overlay, GST,
    REPVIT_OVERLAY, GstVideoFilter);

struct _GstRepvitOverlay
{
  GstVideoFilter parent;

  /* settings, under the object lock */
  gchar *font_desc;
  guint line_width;
  gboolean show_labels;
  gboolean show_confidence;
  guint trail_length;
  gboolean font_changed;

  /* streaming state, used by the streaming thread only (and start/stop) */
  PangoFontMap *font_map;
  PangoLayout *layout;
  cairo_format_t cairo_format;  /* of the frame; CAIRO_FORMAT_INVALID: per plane */
  gint32 to_comp[3][4];         /* 8-bit RGB to component, 16.16 fixed point */
  cairo_surface_t *scratch;     /* captions for the per-plane formats */
  cairo_t *scratch_cr;
  GArray *detections;
  GHashTable *trails;           /* track id -> Trail */
  guint64 frame;
};

G_DEFINE_TYPE (GstRepvitOverlay, gst_repvit_overlay, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (repvitoverlay, "repvitoverlay", GST_RANK_NONE,
    GST_TYPE_REPVIT_OVERLAY);

static void gst_repvit_overlay_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_repvit_overlay_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_repvit_overlay_finalize (GObject * object);
static gboolean gst_repvit_overlay_start (GstBaseTransform * trans);
static gboolean gst_repvit_overlay_stop (GstBaseTransform * trans);
static gboolean gst_repvit_overlay_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);
static GstFlowReturn gst_repvit_overlay_transform_frame_ip (GstVideoFilter *
    filter, GstVideoFrame * frame);

static void
gst_repvit_overlay_class_init (GstRepvitOverlayClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->set_property = gst_repvit_overlay_set_property;
  gobject_class->get_property = gst_repvit_overlay_get_property;
  gobject_class->finalize = gst_repvit_overlay_finalize;

  /**
   * GstRepvitOverlay:font-desc:
   *
   * Pango font description of the captions (default "Sans 12").
   */
  g_object_class_install_property (gobject_class, PROP_FONT_DESC,
      g_param_spec_string ("font-desc", "Font description",
          "Pango font description of the captions, e.g. \"Sans Bold 14\"",
          DEFAULT_FONT_DESC,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitOverlay:line-width:
   *
   * Box outline width in pixels, 1..50 (default 2).
   */
  g_object_class_install_property (gobject_class, PROP_LINE_WIDTH,
      g_param_spec_uint ("line-width", "Line width",
          "Width of the box outlines in pixels", 1, 50, DEFAULT_LINE_WIDTH,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitOverlay:show-labels:
   *
   * Write the class name in the caption (default TRUE).
   */
  g_object_class_install_property (gobject_class, PROP_SHOW_LABELS,
      g_param_spec_boolean ("show-labels", "Show labels",
          "Write the class label in each box's caption", DEFAULT_SHOW_LABELS,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitOverlay:show-confidence:
   *
   * Write the score in the caption (default TRUE).
   */
  g_object_class_install_property (gobject_class, PROP_SHOW_CONFIDENCE,
      g_param_spec_boolean ("show-confidence", "Show confidence",
          "Write the confidence in each box's caption",
          DEFAULT_SHOW_CONFIDENCE,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitOverlay:trail-length:
   *
   * Number of frames whose centres each tracked object leaves as dots
   * behind it (its recent path); 0 draws none. Needs track ids, i.e.
   * repvittrack upstream.
   */
  g_object_class_install_property (gobject_class, PROP_TRAIL_LENGTH,
      g_param_spec_uint ("trail-length", "Trail length",
          "Frames of each tracked object's path to draw as dots (0: none)",
          0, MAX_TRAIL_LENGTH, DEFAULT_TRAIL_LENGTH,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "RepViT-YOLO detection overlay", "Filter/Effect/Video",
      "Draws detected objects' boxes and captions into the video, from "
      "GstRepvitDetectionMeta (<gst/repvit/repvitmeta.h>, pkg-config "
      "gstrepvitmeta-1.0) or else from GstVideoRegionOfInterestMeta (label "
      "= roi_type, \"detection\" params label_id and confidence)",
      "repvityolo developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_repvit_overlay_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_repvit_overlay_stop);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_repvit_overlay_set_info);
  filter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_repvit_overlay_transform_frame_ip);

  GST_DEBUG_CATEGORY_INIT (gst_repvit_overlay_debug, "repvitoverlay", 0,
      "RepViT-YOLO detection overlay");
}

static void
gst_repvit_overlay_init (GstRepvitOverlay * self)
{
  self->font_desc = g_strdup (DEFAULT_FONT_DESC);
  self->line_width = DEFAULT_LINE_WIDTH;
  self->show_labels = DEFAULT_SHOW_LABELS;
  self->show_confidence = DEFAULT_SHOW_CONFIDENCE;
  self->trail_length = DEFAULT_TRAIL_LENGTH;
  self->detections = g_array_new (FALSE, FALSE, sizeof (GstRepvitDetection));
  /* late frames are still drawn: dropping them would lose frames that
   * repvityolo kept on purpose */
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
  self->trails = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
      g_free);
}

static void
gst_repvit_overlay_finalize (GObject * object)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (object);

  g_free (self->font_desc);
  g_array_unref (self->detections);
  g_hash_table_unref (self->trails);

  G_OBJECT_CLASS (gst_repvit_overlay_parent_class)->finalize (object);
}

static void
gst_repvit_overlay_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_FONT_DESC:
      g_free (self->font_desc);
      self->font_desc = g_value_dup_string (value);
      self->font_changed = TRUE;
      break;
    case PROP_LINE_WIDTH:
      self->line_width = g_value_get_uint (value);
      break;
    case PROP_SHOW_LABELS:
      self->show_labels = g_value_get_boolean (value);
      break;
    case PROP_SHOW_CONFIDENCE:
      self->show_confidence = g_value_get_boolean (value);
      break;
    case PROP_TRAIL_LENGTH:
      self->trail_length = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_repvit_overlay_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_FONT_DESC:
      g_value_set_string (value, self->font_desc);
      break;
    case PROP_LINE_WIDTH:
      g_value_set_uint (value, self->line_width);
      break;
    case PROP_SHOW_LABELS:
      g_value_set_boolean (value, self->show_labels);
      break;
    case PROP_SHOW_CONFIDENCE:
      g_value_set_boolean (value, self->show_confidence);
      break;
    case PROP_TRAIL_LENGTH:
      g_value_set_uint (value, self->trail_length);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_repvit_overlay_start (GstBaseTransform * trans)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (trans);
  PangoContext *context;

  /* A font map of our own: Pango's default one is per thread. */
  self->font_map = pango_cairo_font_map_new ();
  context = pango_font_map_create_context (self->font_map);
  self->layout = pango_layout_new (context);
  g_object_unref (context);

  GST_OBJECT_LOCK (self);
  self->font_changed = TRUE;
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_repvit_overlay_stop (GstBaseTransform * trans)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (trans);

  g_clear_pointer (&self->scratch_cr, cairo_destroy);
  g_clear_pointer (&self->scratch, cairo_surface_destroy);
  g_clear_object (&self->layout);
  g_clear_object (&self->font_map);
  g_hash_table_remove_all (self->trails);
  return TRUE;
}

/* Cairo's 32-bit formats are native-endian words: BGRx/BGRA in memory on a
 * little-endian machine. */
static cairo_format_t
cairo_format_for (GstVideoFormat format)
{
  switch (format) {
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
    case GST_VIDEO_FORMAT_BGRx:
      return CAIRO_FORMAT_RGB24;
    case GST_VIDEO_FORMAT_BGRA:
      return CAIRO_FORMAT_ARGB32;
#else
    case GST_VIDEO_FORMAT_xRGB:
      return CAIRO_FORMAT_RGB24;
    case GST_VIDEO_FORMAT_ARGB:
      return CAIRO_FORMAT_ARGB32;
#endif
    default:
      return CAIRO_FORMAT_INVALID;
  }
}

static gboolean
gst_repvit_overlay_set_info (GstVideoFilter * filter,
    G_GNUC_UNUSED GstCaps * incaps,
    GstVideoInfo * in_info, G_GNUC_UNUSED GstCaps * outcaps,
    G_GNUC_UNUSED GstVideoInfo * out_info)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (filter);
  gint offset[GST_VIDEO_MAX_COMPONENTS], scale[GST_VIDEO_MAX_COMPONENTS];
  gdouble kr = 0.299, kb = 0.114, kg;
  gdouble m[3][3] = { {1, 0, 0}, {0, 1, 0}, {0, 0, 1} };

  self->cairo_format = cairo_format_for (GST_VIDEO_INFO_FORMAT (in_info));

  /* RGB to the frame's components (identity for RGB formats), in the
   * frame's matrix and range; BT.601 where the matrix is unknown. */
  gst_video_color_range_offsets (in_info->colorimetry.range, in_info->finfo,
      offset, scale);
  if (GST_VIDEO_INFO_IS_YUV (in_info)) {
    gst_video_color_matrix_get_Kr_Kb (in_info->colorimetry.matrix, &kr, &kb);
    kg = 1.0 - kr - kb;
    m[0][0] = kr;
    m[0][1] = kg;
    m[0][2] = kb;
    m[1][0] = -kr / (2 * (1 - kb));
    m[1][1] = -kg / (2 * (1 - kb));
    m[1][2] = 0.5;
    m[2][0] = 0.5;
    m[2][1] = -kg / (2 * (1 - kr));
    m[2][2] = -kb / (2 * (1 - kr));
  }
  for (gint c = 0; c < 3; c++) {
    for (gint j = 0; j < 3; j++)
      self->to_comp[c][j] = (gint32) (m[c][j] * scale[c] / 255.0 * 65536.0 +
          (m[c][j] < 0 ? -0.5 : 0.5));
    self->to_comp[c][3] = offset[c] * 65536 + 32768;
  }

  GST_DEBUG_OBJECT (self, "drawing on %s %s",
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)),
      self->cairo_format != CAIRO_FORMAT_INVALID ? "with cairo" : "per plane");
  return TRUE;
}

static inline guint8
rgb_to_comp (const gint32 * row, guint r, guint g, guint b)
{
  gint32 v = (row[0] * (gint32) r + row[1] * (gint32) g + row[2] * (gint32) b +
      row[3]) >> 16;

  return CLAMP (v, 0, 255);
}

/* Byte of component @comp at (@sx, @sy) in that component's subsampled grid. */
static inline guint8 *
comp_pixel (GstVideoFrame * frame, guint comp, gint sx, gint sy)
{
  return (guint8 *) GST_VIDEO_FRAME_COMP_DATA (frame, comp) +
      sy * GST_VIDEO_FRAME_COMP_STRIDE (frame, comp) +
      sx * GST_VIDEO_FRAME_COMP_PSTRIDE (frame, comp);
}

/* Subsampled rows or columns [*first, *end) that overlap [lo, hi). */
static inline void
sub_range (gint lo, gint hi, guint sub, gint * first, gint * end)
{
  *first = lo >> sub;
  *end = ((hi - 1) >> sub) + 1;
}

/* Fills @r with colour @rgb in every component of a per-plane format. */
static void
fill_rect_planes (GstRepvitOverlay * self, GstVideoFrame * frame,
    const Rect * r, guint32 rgb)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;

  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (frame); c++) {
    guint8 v = c == 3 ? 255 : rgb_to_comp (self->to_comp[c], rgb >> 16,
        (rgb >> 8) & 0xff, rgb & 0xff);
    guint ws = GST_VIDEO_FORMAT_INFO_W_SUB (finfo, c);
    guint hs = GST_VIDEO_FORMAT_INFO_H_SUB (finfo, c);
    gint ps = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c);
    gint x0, x1, y0, y1;

    sub_range (r->x0, r->x1, ws, &x0, &x1);
    sub_range (r->y0, r->y1, hs, &y0, &y1);
    for (gint y = y0; y < y1; y++) {
      guint8 *p = comp_pixel (frame, c, x0, y);

      if (ps == 1)
        memset (p, v, x1 - x0);
      else
        for (gint x = x0; x < x1; x++, p += ps)
          *p = v;
    }
  }
}

/* Copies the opaque caption of size @w x @h at the scratch surface's origin
 * into the frame at (@x, @y), converting it to the frame's components. */
static void
blit_caption_planes (GstRepvitOverlay * self, GstVideoFrame * frame,
    gint x, gint y, gint w, gint h)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  const guint8 *src = cairo_image_surface_get_data (self->scratch);
  gint src_stride = cairo_image_surface_get_stride (self->scratch);

  cairo_surface_flush (self->scratch);
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (frame); c++) {
    guint ws = GST_VIDEO_FORMAT_INFO_W_SUB (finfo, c);
    guint hs = GST_VIDEO_FORMAT_INFO_H_SUB (finfo, c);
    gint ps = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c);
    const gint32 *row = self->to_comp[MIN (c, 2)];
    gint x0, x1, y0, y1;

    sub_range (x, x + w, ws, &x0, &x1);
    sub_range (y, y + h, hs, &y0, &y1);
    for (gint sy = y0; sy < y1; sy++) {
      /* A sample that straddles the caption's edge takes its edge pixel. */
      const guint32 *s = (const guint32 *) (src + MAX ((sy << hs) - y, 0) *
          src_stride);
      guint8 *p = comp_pixel (frame, c, x0, sy);

      for (gint sx = x0; sx < x1; sx++, p += ps) {
        guint32 px = s[MAX ((sx << ws) - x, 0)];

        *p = c == 3 ? 255 : rgb_to_comp (row, (px >> 16) & 0xff,
            (px >> 8) & 0xff, px & 0xff);
      }
    }
  }
}

static inline void
set_rect (Rect * r, gint x0, gint y0, gint x1, gint y1)
{
  r->x0 = x0;
  r->y0 = y0;
  r->x1 = x1;
  r->y1 = y1;
}

static void
set_source_rgb (cairo_t * cr, guint32 rgb)
{
  cairo_set_source_rgb (cr, (rgb >> 16) / 255.0, ((rgb >> 8) & 0xff) / 255.0,
      (rgb & 0xff) / 255.0);
}

/* Bytes of @label (NULL: "?") that go into a caption of at most @max bytes:
 * cut at a character boundary, and before any byte that is not UTF-8 (from
 * another element's meta), so that Pango gets valid text. */
static gint
caption_label (const gchar * label, gsize max)
{
  const gchar *end;

  if (label == NULL)
    return 1;
  g_utf8_validate (label, MIN (strlen (label), max), &end);
  return (gint) (end - label);
}

/* Draws the caption box of size @w x @h at (@x, @y) with the layout's text,
 * black or white, whichever reads better on @rgb. */
static void
draw_caption (GstRepvitOverlay * self, cairo_t * cr, guint32 rgb, gint x,
    gint y, gint w, gint h)
{
  guint luma = 299 * (rgb >> 16) + 587 * ((rgb >> 8) & 0xff) +
      114 * (rgb & 0xff);

  set_source_rgb (cr, rgb);
  cairo_rectangle (cr, x, y, w, h);
  cairo_fill (cr);
  set_source_rgb (cr, luma > 150 * 1000 ? 0x000000 : 0xffffff);
  cairo_move_to (cr, x + CAPTION_PAD, y + CAPTION_PAD);
  pango_cairo_show_layout (cr, self->layout);
}

/* Makes sure the scratch surface holds at least @w x @h pixels. */
static void
ensure_scratch (GstRepvitOverlay * self, gint w, gint h)
{
  if (self->scratch && cairo_image_surface_get_width (self->scratch) >= w &&
      cairo_image_surface_get_height (self->scratch) >= h)
    return;
  if (self->scratch) {
    w = MAX (w, cairo_image_surface_get_width (self->scratch));
    h = MAX (h, cairo_image_surface_get_height (self->scratch));
    cairo_destroy (self->scratch_cr);
    cairo_surface_destroy (self->scratch);
  }
  self->scratch = cairo_image_surface_create (CAIRO_FORMAT_RGB24, w, h);
  self->scratch_cr = cairo_create (self->scratch);
}

/* Adds this frame's centre of every tracked detection to its trail, keeping
 * the last @len, and forgets the tracks not seen for @len frames. */
static void
update_trails (GstRepvitOverlay * self, guint len)
{
  GHashTableIter iter;
  Trail *t;

  self->frame++;
  for (guint i = 0; i < self->detections->len && len > 0; i++) {
    const GstRepvitDetection *d = &g_array_index (self->detections,
        GstRepvitDetection, i);

    if (d->track_id < 0)
      continue;
    t = g_hash_table_lookup (self->trails, &d->track_id);
    if (!t) {
      t = g_new0 (Trail, 1);
      g_hash_table_insert (self->trails, g_memdup2 (&d->track_id,
              sizeof d->track_id), t);
    }
    t->head = (t->head + 1) % MAX_TRAIL_LENGTH;
    t->x[t->head] = (gint) (d->x + d->w / 2);
    t->y[t->head] = (gint) (d->y + d->h / 2);
    t->n = MIN (t->n + 1, len);
    t->seen = self->frame;
  }
  g_hash_table_iter_init (&iter, self->trails);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) & t))
    if (self->frame - t->seen >= MAX (len, 1))
      g_hash_table_iter_remove (&iter);
}

/* Dots of side @size at the earlier centres of @d's track. */
static void
draw_trail (GstRepvitOverlay * self, GstVideoFrame * frame, cairo_t * cr,
    const GstRepvitDetection * d, guint len, gint size, guint32 rgb)
{
  gint width = GST_VIDEO_FRAME_WIDTH (frame);
  gint height = GST_VIDEO_FRAME_HEIGHT (frame);
  const Trail *t = d->track_id >= 0 ? g_hash_table_lookup (self->trails,
      &d->track_id) : NULL;

  for (guint k = 1; t && k < MIN (t->n, len); k++) {
    guint at = (t->head + MAX_TRAIL_LENGTH - k) % MAX_TRAIL_LENGTH;
    Rect r = { CLAMP (t->x[at] - size / 2, 0, width),
      CLAMP (t->y[at] - size / 2, 0, height),
      CLAMP (t->x[at] - size / 2 + size, 0, width),
      CLAMP (t->y[at] - size / 2 + size, 0, height)
    };

    if (r.x1 <= r.x0 || r.y1 <= r.y0)
      continue;
    if (cr)
      cairo_rectangle (cr, r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0);
    else
      fill_rect_planes (self, frame, &r, rgb);
  }
}

static GstFlowReturn
gst_repvit_overlay_transform_frame_ip (GstVideoFilter * filter,
    GstVideoFrame * frame)
{
  GstRepvitOverlay *self = GST_REPVIT_OVERLAY (filter);
  gint width = GST_VIDEO_FRAME_WIDTH (frame);
  gint height = GST_VIDEO_FRAME_HEIGHT (frame);
  cairo_surface_t *surface = NULL;
  cairo_t *cr = NULL;
  PangoFontDescription *font = NULL;
  gboolean show_labels, show_confidence;
  gint lw;
  guint trail_length;

  GST_OBJECT_LOCK (self);
  trail_length = self->trail_length;
  GST_OBJECT_UNLOCK (self);
  gst_repvit_buffer_collect_detections (frame->buffer, self->detections);
  update_trails (self, trail_length);
  if (self->detections->len == 0)
    return GST_FLOW_OK;

  GST_OBJECT_LOCK (self);
  lw = self->line_width;
  show_labels = self->show_labels;
  show_confidence = self->show_confidence;
  if (self->font_changed) {
    font = pango_font_description_from_string (self->font_desc ?
        self->font_desc : DEFAULT_FONT_DESC);
    self->font_changed = FALSE;
  }
  GST_OBJECT_UNLOCK (self);

  if (font) {
    pango_layout_set_font_description (self->layout, font);
    pango_font_description_free (font);
  }

  if (self->cairo_format != CAIRO_FORMAT_INVALID) {
    surface = cairo_image_surface_create_for_data (GST_VIDEO_FRAME_PLANE_DATA
        (frame, 0), self->cairo_format, width, height,
        GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0));
    cr = cairo_create (surface);
  }

  for (guint i = 0; i < self->detections->len; i++) {
    const GstRepvitDetection *d = &g_array_index (self->detections,
        GstRepvitDetection, i);
    guint32 rgb;
    Rect box, edges[4];
    gint t;

    /* Round to whole pixels, clipped; rejects NaN too. */
    if (!(d->w > 0 && d->h > 0 && d->x < width && d->y < height &&
            d->x + d->w > 0 && d->y + d->h > 0))
      continue;
    box.x0 = (gint) (CLAMP (d->x, 0, width) + 0.5f);
    box.y0 = (gint) (CLAMP (d->y, 0, height) + 0.5f);
    box.x1 = (gint) (CLAMP (d->x + d->w, 0, width) + 0.5f);
    box.y1 = (gint) (CLAMP (d->y + d->h, 0, height) + 0.5f);
    if (box.x1 <= box.x0 || box.y1 <= box.y0)
      continue;

    rgb = palette[(d->class_id >= 0 ? (guint) d->class_id :
            (d->label ? g_str_hash (d->label) : 0)) % G_N_ELEMENTS (palette)];

    /* The outline lies inside the box: top, bottom, left, right. */
    t = MIN (lw, (MIN (box.x1 - box.x0, box.y1 - box.y0) + 1) / 2);
    set_rect (&edges[0], box.x0, box.y0, box.x1, box.y0 + t);
    set_rect (&edges[1], box.x0, box.y1 - t, box.x1, box.y1);
    set_rect (&edges[2], box.x0, box.y0 + t, box.x0 + t, box.y1 - t);
    set_rect (&edges[3], box.x1 - t, box.y0 + t, box.x1, box.y1 - t);
    for (gint e = 0; e < 4; e++) {
      if (edges[e].x1 <= edges[e].x0 || edges[e].y1 <= edges[e].y0)
        continue;               /* a box thinner than two lines */
      if (cr)
        cairo_rectangle (cr, edges[e].x0, edges[e].y0,
            edges[e].x1 - edges[e].x0, edges[e].y1 - edges[e].y0);
      else
        fill_rect_planes (self, frame, &edges[e], rgb);
    }
    draw_trail (self, frame, cr, d, trail_length, lw + 2, rgb);
    if (cr) {
      set_source_rgb (cr, rgb);
      cairo_fill (cr);
    }

    if (show_labels || show_confidence || d->track_id >= 0) {
      gchar text[128];
      PangoRectangle logical;
      gint cw, ch, cx, cy, n = 0;

      if (d->track_id >= 0)
        n = g_snprintf (text, sizeof text, "#%" G_GINT64_FORMAT "%s",
            d->track_id, show_labels || show_confidence ? " " : "");
      if (show_labels && show_confidence && d->confidence >= 0)
        g_snprintf (text + n, sizeof text - n, "%.*s %.2f",
            caption_label (d->label, sizeof text - n - 8),
            d->label ? d->label : "?", d->confidence);
      else if (show_labels)
        g_snprintf (text + n, sizeof text - n, "%.*s",
            caption_label (d->label, sizeof text - n - 1),
            d->label ? d->label : "?");
      else if (show_confidence && d->confidence >= 0)
        g_snprintf (text + n, sizeof text - n, "%.2f", d->confidence);
      else if (n == 0)
        continue;
      pango_layout_set_text (self->layout, text, -1);
      pango_layout_get_pixel_extents (self->layout, NULL, &logical);
      cw = MIN (logical.width + 2 * CAPTION_PAD, width);
      ch = MIN (logical.height + 2 * CAPTION_PAD, height);

      /* Above the box if it fits, else inside its top edge; kept in frame. */
      cx = CLAMP (box.x0, 0, width - cw);
      cy = box.y0 >= ch ? box.y0 - ch : MIN (box.y0, height - ch);
      if (cr) {
        draw_caption (self, cr, rgb, cx, cy, cw, ch);
      } else {
        ensure_scratch (self, cw, ch);
        draw_caption (self, self->scratch_cr, rgb, 0, 0, cw, ch);
        blit_caption_planes (self, frame, cx, cy, cw, ch);
      }
    }
  }

  if (cr) {
    cairo_destroy (cr);
    cairo_surface_flush (surface);
    cairo_surface_destroy (surface);
  }
  return GST_FLOW_OK;
}
