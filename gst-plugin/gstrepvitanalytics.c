/* gstrepvitanalytics.c — detections as GStreamer >= 1.24 analytics metadata.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/analytics/analytics.h>

#include "gstrepvitanalytics.h"

/*
 * gst_repvit_attach_analytics_meta:
 * @buffer: a writable buffer
 * @meta: @buffer's detection meta
 *
 * Adds one object-detection mtd per detection of @meta (type = the label's
 * quark, box rounded to whole pixels, confidence) to @buffer's
 * #GstAnalyticsRelationMeta, creating it when missing, so that 1.24+
 * analytics elements (objectdetectionoverlay, ...) read our detections.
 */
void
gst_repvit_attach_analytics_meta (GstBuffer * buffer,
    const GstRepvitDetectionMeta * meta)
{
  GstAnalyticsRelationMeta *rmeta;

  rmeta = gst_buffer_get_analytics_relation_meta (buffer);
  if (rmeta == NULL)
    rmeta = gst_buffer_add_analytics_relation_meta (buffer);
  if (rmeta == NULL)
    return;

  for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);
    GstAnalyticsODMtd od;

    gst_analytics_relation_meta_add_od_mtd (rmeta,
        g_quark_from_string (d->label), (gint) (d->x + 0.5f),
        (gint) (d->y + 0.5f), (gint) (d->w + 0.5f), (gint) (d->h + 0.5f),
        d->confidence, &od);
  }
}
