/* repvitmeta.c — detection metadata attached by the repvityolo element.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:gstrepvitmeta
 * @title: GstRepvitDetectionMeta
 * @short_description: object detections of one video frame
 *
 * #GstRepvitDetectionMeta carries the detections the repvityolo element
 * found in a frame, together with the model that found them, the network
 * input size and the time the inference took. Boxes are in pixels of the
 * buffer the meta is attached to.
 *
 * The meta API is tagged video, size and orientation: it survives copies
 * unchanged, is rescaled by scaling elements such as videoscale (through
 * the #GST_VIDEO_META_TRANSFORM_IS_SCALE transform) and is dropped by
 * elements that rotate or crop the picture.
 *
 * When a scale changes the display aspect ratio, the boxes are placed on
 * the picture centred between borders, as videoscale and videoconvertscale
 * draw it with their default add-borders=true. GStreamer 1.22 passes the
 * scaled frame's size but not the borders to the transform, so the meta
 * repeats videoscale's border arithmetic; with add-borders=false (the
 * picture stretched instead) the boxes are misplaced by the border: scale
 * before repvityolo or keep the display aspect ratio in that case.
 *
 * pkg-config name: `gstrepvitmeta-1.0`; installed header:
 * `<gst/repvit/repvitmeta.h>`.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gst/repvit/repvitmeta.h"

static gboolean
gst_repvit_detection_meta_init (GstMeta * meta,
    G_GNUC_UNUSED gpointer params, G_GNUC_UNUSED GstBuffer * buffer)
{
  GstRepvitDetectionMeta *dmeta = (GstRepvitDetectionMeta *) meta;

  dmeta->model = NULL;
  dmeta->input_width = dmeta->input_height = 0;
  dmeta->inference_ns = 0;
  dmeta->stale = FALSE;
  dmeta->detections = g_array_new (FALSE, FALSE, sizeof (GstRepvitDetection));

  return TRUE;
}

/* The model and the labels are reference-counted strings the meta holds
 * (not interned for the life of the process: each distinct label set
 * loaded would stay). */
static void
gst_repvit_detection_meta_free (GstMeta * meta,
    G_GNUC_UNUSED GstBuffer * buffer)
{
  GstRepvitDetectionMeta *dmeta = (GstRepvitDetectionMeta *) meta;

  for (guint i = 0; i < dmeta->detections->len; i++)
    g_ref_string_release ((gchar *) g_array_index (dmeta->detections,
            GstRepvitDetection, i).label);
  g_array_unref (dmeta->detections);
  if (dmeta->model)
    g_ref_string_release ((gchar *) dmeta->model);
}

/* Where a scaler that keeps the display aspect ratio puts the picture in
 * the out frame: the arithmetic of videoscale's add-borders (borders split
 * evenly, the odd pixel after the picture). */
static void
scaled_picture (const GstVideoInfo * in, const GstVideoInfo * out,
    gint * x, gint * y, gint * w, gint * h)
{
  gint from_n, from_d, to_n, to_d, n, d, to_w, to_h;

  *x = *y = 0;
  *w = GST_VIDEO_INFO_WIDTH (out);
  *h = GST_VIDEO_INFO_HEIGHT (out);
  if (!gst_util_fraction_multiply (GST_VIDEO_INFO_WIDTH (in),
          GST_VIDEO_INFO_HEIGHT (in), GST_VIDEO_INFO_PAR_N (in),
          GST_VIDEO_INFO_PAR_D (in), &from_n, &from_d)
      || !gst_util_fraction_multiply (*w, *h, GST_VIDEO_INFO_PAR_N (out),
          GST_VIDEO_INFO_PAR_D (out), &to_n, &to_d)
      || (from_n == to_n && from_d == to_d)
      || !gst_util_fraction_multiply (from_n, from_d,
          GST_VIDEO_INFO_PAR_D (out), GST_VIDEO_INFO_PAR_N (out), &n, &d))
    return;                     /* same display aspect ratio: no borders */

  to_h = gst_util_uint64_scale_int (*w, d, n);
  if (to_h <= *h) {
    *y = (*h - to_h) / 2;
    *h = to_h;
  } else {
    to_w = gst_util_uint64_scale_int (*h, n, d);
    *x = (*w - to_w) / 2;
    *w = to_w;
  }
}

static gboolean
gst_repvit_detection_meta_transform (GstBuffer * dest, GstMeta * meta,
    G_GNUC_UNUSED GstBuffer * buffer, GQuark type, gpointer data)
{
  GstRepvitDetectionMeta *smeta = (GstRepvitDetectionMeta *) meta;
  GstRepvitDetectionMeta *dmeta;
  gdouble sx = 1.0, sy = 1.0;
  gint ox = 0, oy = 0;
  guint i;

  if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type)) {
    GstVideoMetaTransform *trans = data;
    gint in_w = GST_VIDEO_INFO_WIDTH (trans->in_info);
    gint in_h = GST_VIDEO_INFO_HEIGHT (trans->in_info);
    gint pic_w, pic_h;

    if (in_w <= 0 || in_h <= 0)
      return FALSE;
    scaled_picture (trans->in_info, trans->out_info, &ox, &oy, &pic_w, &pic_h);
    sx = (gdouble) pic_w / in_w;
    sy = (gdouble) pic_h / in_h;
  } else if (!GST_META_TRANSFORM_IS_COPY (type)) {
    /* unknown transform: the boxes may no longer match the picture */
    return FALSE;
  }

  dmeta = gst_buffer_add_repvit_detection_meta (dest, smeta->model,
      smeta->input_width, smeta->input_height);
  if (dmeta == NULL)
    return FALSE;
  dmeta->inference_ns = smeta->inference_ns;
  dmeta->stale = smeta->stale;

  for (i = 0; i < smeta->detections->len; i++) {
    GstRepvitDetection d =
        g_array_index (smeta->detections, GstRepvitDetection, i);

    d.x = d.x * sx + ox;
    d.y = d.y * sy + oy;
    d.w *= sx;
    d.h *= sy;
    d.label = g_ref_string_acquire ((gchar *) d.label);
    g_array_append_val (dmeta->detections, d);
  }

  return TRUE;
}

/**
 * gst_repvit_detection_meta_api_get_type:
 *
 * Returns: the #GType of the detection meta API, tagged
 * %GST_META_TAG_VIDEO_STR, %GST_META_TAG_VIDEO_SIZE_STR and
 * %GST_META_TAG_VIDEO_ORIENTATION_STR.
 */
GType
gst_repvit_detection_meta_api_get_type (void)
{
  static gsize type = 0;
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR,
    GST_META_TAG_VIDEO_SIZE_STR, GST_META_TAG_VIDEO_ORIENTATION_STR, NULL
  };

  if (g_once_init_enter (&type)) {
    GType api = gst_meta_api_type_register ("GstRepvitDetectionMetaAPI", tags);

    g_once_init_leave (&type, api);
  }
  return type;
}

/**
 * gst_repvit_detection_meta_get_info:
 *
 * Returns: the #GstMetaInfo of #GstRepvitDetectionMeta (registered once).
 */
const GstMetaInfo *
gst_repvit_detection_meta_get_info (void)
{
  static gsize info = 0;

  if (g_once_init_enter (&info)) {
    const GstMetaInfo *mi =
        gst_meta_register (GST_REPVIT_DETECTION_META_API_TYPE,
        "GstRepvitDetectionMeta", sizeof (GstRepvitDetectionMeta),
        gst_repvit_detection_meta_init, gst_repvit_detection_meta_free,
        gst_repvit_detection_meta_transform);

    g_once_init_leave (&info, (gsize) mi);
  }
  return (const GstMetaInfo *) info;
}

/**
 * gst_buffer_get_repvit_detection_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the detection meta of @buffer, or
 * %NULL when it has none.
 */
GstRepvitDetectionMeta *
gst_buffer_get_repvit_detection_meta (GstBuffer * buffer)
{
  return (GstRepvitDetectionMeta *) gst_buffer_get_meta (buffer,
      GST_REPVIT_DETECTION_META_API_TYPE);
}

/**
 * gst_buffer_add_repvit_detection_meta:
 * @buffer: a writable #GstBuffer
 * @model: model identity, e.g. "m0_9-n nc3 shapes.safetensors" (copied)
 * @input_width: network input width used for this frame
 * @input_height: network input height used for this frame
 *
 * Attaches an empty detection meta to @buffer; fill it with
 * gst_repvit_detection_meta_add(). @stale and @inference_ns start as
 * %FALSE and 0.
 *
 * Returns: (transfer none): the new meta.
 */
GstRepvitDetectionMeta *
gst_buffer_add_repvit_detection_meta (GstBuffer * buffer, const gchar * model,
    guint input_width, guint input_height)
{
  GstRepvitDetectionMeta *meta;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);

  meta = (GstRepvitDetectionMeta *) gst_buffer_add_meta (buffer,
      GST_REPVIT_DETECTION_META_INFO, NULL);
  if (meta == NULL)
    return NULL;

  meta->model = model ? g_ref_string_new_intern (model) : NULL;
  meta->input_width = input_width;
  meta->input_height = input_height;
  return meta;
}

/**
 * gst_repvit_detection_meta_add:
 * @meta: a #GstRepvitDetectionMeta
 * @detection: the detection to append (copied, its label too: the meta
 *   keeps a reference-counted copy as long as it lives)
 *
 * Appends one detection.
 */
void
gst_repvit_detection_meta_add (GstRepvitDetectionMeta * meta,
    const GstRepvitDetection * detection)
{
  GstRepvitDetection d;

  g_return_if_fail (meta != NULL && detection != NULL);

  d = *detection;
  d.label = g_ref_string_new_intern (detection->label);
  g_array_append_val (meta->detections, d);
}

/**
 * gst_repvit_detection_meta_get_count:
 * @meta: a #GstRepvitDetectionMeta
 *
 * Returns: the number of detections in @meta.
 */
guint
gst_repvit_detection_meta_get_count (const GstRepvitDetectionMeta * meta)
{
  g_return_val_if_fail (meta != NULL, 0);

  return meta->detections->len;
}

/**
 * gst_repvit_detection_meta_get:
 * @meta: a #GstRepvitDetectionMeta
 * @index: 0 .. gst_repvit_detection_meta_get_count() - 1
 *
 * Returns: (transfer none) (nullable): the detection at @index, valid as
 * long as the meta is, or %NULL when @index is out of range.
 */
const GstRepvitDetection *
gst_repvit_detection_meta_get (const GstRepvitDetectionMeta * meta, guint index)
{
  g_return_val_if_fail (meta != NULL, NULL);
  g_return_val_if_fail (index < meta->detections->len, NULL);

  return &g_array_index (meta->detections, GstRepvitDetection, index);
}

/**
 * gst_repvit_detection_meta_remove:
 * @meta: a #GstRepvitDetectionMeta
 * @index: 0 .. gst_repvit_detection_meta_get_count() - 1
 *
 * Removes the detection at @index; the detections after it move down one
 * place, in the same order. The meta's buffer should be writable.
 *
 * Returns: %TRUE if @index was in range.
 */
gboolean
gst_repvit_detection_meta_remove (GstRepvitDetectionMeta * meta, guint index)
{
  g_return_val_if_fail (meta != NULL, FALSE);
  g_return_val_if_fail (index < meta->detections->len, FALSE);

  g_array_remove_index (meta->detections, index);
  return TRUE;
}
