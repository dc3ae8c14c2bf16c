/* gstrepvitanalytics.h — detections and tracks as GStreamer >= 1.24 analytics
 * metadata. Built only when configure finds gstreamer-analytics-1.0
 * (HAVE_GST_ANALYTICS). */
#ifndef GST_REPVIT_ANALYTICS_H
#define GST_REPVIT_ANALYTICS_H

#include "repvitmeta.h"
#include "rvtrack.h"

G_BEGIN_DECLS

void gst_repvit_attach_analytics_meta (GstBuffer * buffer,
    const GstRepvitDetectionMeta * meta);

typedef struct _GstRepvitTrackAnalytics GstRepvitTrackAnalytics;

GstRepvitTrackAnalytics *gst_repvit_track_analytics_new (void);
void gst_repvit_track_analytics_free (GstRepvitTrackAnalytics * analytics);
void gst_repvit_track_analytics_reset (GstRepvitTrackAnalytics * analytics);
void gst_repvit_track_analytics_find_od_mtds (GstRepvitTrackAnalytics *
    analytics, GstBuffer * buffer, const GArray * detections);
void gst_repvit_track_analytics_add_tracking_mtds (GstRepvitTrackAnalytics *
    analytics, GstBuffer * buffer, const GArray * detections,
    const rv_tracker * tracker, const GstSegment * segment, gboolean fresh);

G_END_DECLS
#endif
