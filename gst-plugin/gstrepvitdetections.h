/* gstrepvitdetections.h — the detections of a buffer, from our meta or from
 * the GstVideoRegionOfInterestMeta that other analytics elements attach. */
#ifndef GST_REPVIT_DETECTIONS_H
#define GST_REPVIT_DETECTIONS_H

#include <gst/video/video.h>

#include "repvitmeta.h"

G_BEGIN_DECLS

/*
 * gst_repvit_buffer_collect_detections:
 * @buffer: a video buffer
 * @out: a #GArray of #GstRepvitDetection, cleared first
 *
 * Copies the detections of @buffer's #GstRepvitDetectionMeta into @out or,
 * without one, one detection per #GstVideoRegionOfInterestMeta: label from
 * the roi_type, class id and confidence from the "label_id" and "confidence"
 * fields of its "detection" parameter (as DL Streamer and gst-plugins-bad
 * write it); class_id -1 and confidence -1 where these are missing.
 *
 * Returns: (nullable): the buffer's #GstRepvitDetectionMeta, if any
 */
static inline GstRepvitDetectionMeta *
gst_repvit_buffer_collect_detections (GstBuffer * buffer, GArray * out)
{
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buffer);
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;

  g_array_set_size (out, 0);
  if (meta) {
    for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++)
      g_array_append_vals (out, gst_repvit_detection_meta_get (meta, i), 1);
    return meta;
  }

  while ((roi = (GstVideoRegionOfInterestMeta *) gst_buffer_iterate_meta_filtered
          (buffer, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
        "detection");
    GstRepvitDetection d = { -1, g_quark_to_string (roi->roi_type), -1.0f,
      roi->x, roi->y, roi->w, roi->h, -1, 0
    };
    gdouble confidence;

    if (s) {
      gst_structure_get_int (s, "label_id", &d.class_id);
      if (gst_structure_get_double (s, "confidence", &confidence))
        d.confidence = confidence;
    }
    g_array_append_val (out, d);
  }
  return NULL;
}

/*
 * gst_repvit_roi_set_object_id:
 * @roi: a #GstVideoRegionOfInterestMeta
 * @id: a track id
 *
 * Sets the "id" of @roi's "object_id" parameter, adding one if there is
 * none: where DL Streamer's gvatrack puts a track id and gvametaconvert reads
 * it from.
 */
static inline void
gst_repvit_roi_set_object_id (GstVideoRegionOfInterestMeta * roi, gint64 id)
{
  GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
      "object_id");

  if (s)
    gst_structure_set (s, "id", G_TYPE_INT, (gint) id, NULL);
  else
    gst_video_region_of_interest_meta_add_param (roi,
        gst_structure_new ("object_id", "id", G_TYPE_INT, (gint) id, NULL));
}

/*
 * gst_repvit_buffer_add_roi_meta:
 * @buffer: a writable video buffer, @width x @height pixels
 * @d: a detection of the buffer's #GstRepvitDetectionMeta
 * @index: @d's index there, which becomes the ROI's id
 *
 * Attaches the #GstVideoRegionOfInterestMeta that mirrors @d: its box, a
 * "detection" parameter with DL Streamer's fields (`label_id`, `label`,
 * `confidence`, the normalized `x_min`, `y_min`, `x_max`, `y_max`) and, for a
 * tracked detection, an "object_id" parameter.
 */
static inline void
gst_repvit_buffer_add_roi_meta (GstBuffer * buffer,
    const GstRepvitDetection * d, guint index, gint width, gint height)
{
  GstVideoRegionOfInterestMeta *roi =
      gst_buffer_add_video_region_of_interest_meta_id (buffer,
      g_quark_from_string (d->label), (guint) (d->x + 0.5f),
      (guint) (d->y + 0.5f), (guint) (d->w + 0.5f), (guint) (d->h + 0.5f));

  roi->id = index;
  gst_video_region_of_interest_meta_add_param (roi,
      gst_structure_new ("detection",
          "label_id", G_TYPE_INT, d->class_id,
          "label", G_TYPE_STRING, d->label,
          "confidence", G_TYPE_DOUBLE, (gdouble) d->confidence,
          "x_min", G_TYPE_DOUBLE, (gdouble) d->x / width,
          "y_min", G_TYPE_DOUBLE, (gdouble) d->y / height,
          "x_max", G_TYPE_DOUBLE, (gdouble) (d->x + d->w) / width,
          "y_max", G_TYPE_DOUBLE, (gdouble) (d->y + d->h) / height, NULL));
  if (d->track_id >= 0)
    gst_repvit_roi_set_object_id (roi, d->track_id);
}

G_END_DECLS
#endif
