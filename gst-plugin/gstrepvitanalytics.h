/* gstrepvitanalytics.h — detections as GStreamer >= 1.24 analytics metadata.
 * Built only when configure finds gstreamer-analytics-1.0 (HAVE_GST_ANALYTICS). */
#ifndef GST_REPVIT_ANALYTICS_H
#define GST_REPVIT_ANALYTICS_H

#include "repvitmeta.h"

G_BEGIN_DECLS

void gst_repvit_attach_analytics_meta (GstBuffer * buffer,
    const GstRepvitDetectionMeta * meta);

G_END_DECLS
#endif
