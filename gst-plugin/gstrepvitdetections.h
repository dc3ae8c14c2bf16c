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
      roi->x, roi->y, roi->w, roi->h, -1
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

G_END_DECLS
#endif
