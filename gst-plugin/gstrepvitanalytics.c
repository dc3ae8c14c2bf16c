/* gstrepvitanalytics.c — detections and tracks as GStreamer >= 1.24 analytics
 * metadata.
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

/* The box of @d's object-detection mtd: rounded to whole pixels. */
static void
od_location (const GstRepvitDetection * d, gint * x, gint * y, gint * w,
    gint * h)
{
  *x = (gint) (d->x + 0.5f);
  *y = (gint) (d->y + 0.5f);
  *w = (gint) (d->w + 0.5f);
  *h = (gint) (d->h + 0.5f);
}

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
    gint x, y, w, h;

    od_location (d, &x, &y, &w, &h);
    gst_analytics_relation_meta_add_od_mtd (rmeta,
        g_quark_from_string (d->label), x, y, w, h, d->confidence, &od);
  }
}

/* What a tracking mtd says about a track besides its id. */
typedef struct
{
  gint64 id;
  GstClockTime first_seen, last_seen;
} TrackTimes;

#define NO_MTD G_MAXUINT

/* repvittrack's side: the tracks' first and last sightings, and per
 * detection of the current frame its object-detection mtd. */
struct _GstRepvitTrackAnalytics
{
  GArray *tracks;               /* TrackTimes of the tracks with an id */
  GArray *od_ids;               /* guint per detection: its OD mtd or NO_MTD */
};

GstRepvitTrackAnalytics *
gst_repvit_track_analytics_new (void)
{
  GstRepvitTrackAnalytics *analytics = g_new0 (GstRepvitTrackAnalytics, 1);

  analytics->tracks = g_array_new (FALSE, FALSE, sizeof (TrackTimes));
  analytics->od_ids = g_array_new (FALSE, FALSE, sizeof (guint));
  return analytics;
}

void
gst_repvit_track_analytics_free (GstRepvitTrackAnalytics * analytics)
{
  g_array_unref (analytics->tracks);
  g_array_unref (analytics->od_ids);
  g_free (analytics);
}

/* A new stream: the tracker forgot its tracks. */
void
gst_repvit_track_analytics_reset (GstRepvitTrackAnalytics * analytics)
{
  g_array_set_size (analytics->tracks, 0);
}

/*
 * gst_repvit_track_analytics_find_od_mtds:
 * @analytics: repvittrack's analytics state
 * @buffer: the buffer
 * @detections: #GstRepvitDetection of @buffer, before the tracker moves them
 *
 * Finds each detection's object-detection mtd in @buffer's
 * #GstAnalyticsRelationMeta: the one with its label, box (as
 * gst_repvit_attach_analytics_meta() rounds it) and confidence; after
 * non-maximum suppression no two detections share all three.
 */
void
gst_repvit_track_analytics_find_od_mtds (GstRepvitTrackAnalytics * analytics,
    GstBuffer * buffer, const GArray * detections)
{
  GstAnalyticsRelationMeta *rmeta =
      gst_buffer_get_analytics_relation_meta (buffer);

  g_array_set_size (analytics->od_ids, detections->len);
  for (guint i = 0; i < detections->len; i++) {
    const GstRepvitDetection *d = &g_array_index (detections,
        GstRepvitDetection, i);
    GQuark type = g_quark_try_string (d->label);
    gpointer state = NULL;
    GstAnalyticsMtd od;
    gint x, y, w, h;

    g_array_index (analytics->od_ids, guint, i) = NO_MTD;
    if (rmeta == NULL)
      continue;
    od_location (d, &x, &y, &w, &h);
    while (gst_analytics_relation_meta_iterate (rmeta, &state,
            gst_analytics_od_mtd_get_mtd_type (), &od)) {
      gint ox, oy, ow, oh;
      gfloat confidence;

      if (gst_analytics_od_mtd_get_obj_type (&od) == type &&
          gst_analytics_od_mtd_get_location (&od, &ox, &oy, &ow, &oh,
              &confidence) && ox == x && oy == y && ow == w && oh == h &&
          confidence == d->confidence) {
        g_array_index (analytics->od_ids, guint, i) = od.id;
        break;
      }
    }
  }
}

/* The detection of track @id in this frame, or -1. */
static gint
find_detection (const GArray * detections, gint64 id)
{
  for (guint i = 0; i < detections->len; i++)
    if (g_array_index (detections, GstRepvitDetection, i).track_id == id)
      return i;
  return -1;
}

/* Records this fresh frame's sightings: new tracks start, matched ones are
 * seen @now. */
static void
update_track_times (GstRepvitTrackAnalytics * analytics,
    const GArray * detections, GstClockTime now)
{
  for (guint i = 0; i < detections->len; i++) {
    gint64 id = g_array_index (detections, GstRepvitDetection, i).track_id;
    TrackTimes *t = NULL;

    if (id < 0)
      continue;
    for (guint k = 0; k < analytics->tracks->len && t == NULL; k++)
      if (g_array_index (analytics->tracks, TrackTimes, k).id == id)
        t = &g_array_index (analytics->tracks, TrackTimes, k);
    if (t == NULL) {
      TrackTimes start = { id, now, now };

      g_array_append_val (analytics->tracks, start);
    } else {
      t->last_seen = now;
    }
  }
}

/*
 * gst_repvit_track_analytics_add_tracking_mtds:
 * @analytics: repvittrack's analytics state
 * @buffer: the buffer, writable
 * @detections: #GstRepvitDetection of @buffer with their track ids, in the
 *   order gst_repvit_track_analytics_find_od_mtds() saw them
 * @tracker: the tracker, after this frame
 * @segment: the segment of @buffer
 * @fresh: whether the detector ran on @buffer (else the tracks were only
 *   predicted)
 *
 * Adds to @buffer's #GstAnalyticsRelationMeta one tracking mtd per track with
 * an id, as 1.24's trackers do: first seen when it got its id, last seen when
 * it last matched a fresh detection (running times; GST_CLOCK_TIME_NONE
 * outside a time segment), related (RELATE_TO) from the
 * object-detection mtd of its detection in this frame if it has one. A track
 * that this frame removed gets a last mtd with its lost flag set. Buffers
 * without a #GstAnalyticsRelationMeta (no 1.24 detector upstream) get none.
 */
void
gst_repvit_track_analytics_add_tracking_mtds (GstRepvitTrackAnalytics *
    analytics, GstBuffer * buffer, const GArray * detections,
    const rv_tracker * tracker, const GstSegment * segment, gboolean fresh)
{
  GstAnalyticsRelationMeta *rmeta =
      gst_buffer_get_analytics_relation_meta (buffer);
  guint k = 0;

  if (fresh)
    update_track_times (analytics, detections,
        segment->format == GST_FORMAT_TIME ?
        gst_segment_to_running_time (segment, GST_FORMAT_TIME,
            GST_BUFFER_PTS (buffer)) : GST_CLOCK_TIME_NONE);
  while (k < analytics->tracks->len) {
    const TrackTimes *t = &g_array_index (analytics->tracks, TrackTimes, k);
    rv_track_box box;
    gboolean removed = !rv_tracker_get_box (tracker, t->id, &box);
    gint det = find_detection (detections, t->id);
    GstAnalyticsTrackingMtd trk;

    if (rmeta && gst_analytics_relation_meta_add_tracking_mtd (rmeta, t->id,
            t->first_seen, &trk)) {
      gst_analytics_tracking_mtd_update_last_seen (&trk, t->last_seen);
      if (removed)
        gst_analytics_tracking_mtd_set_lost (&trk);
      if (det >= 0 && g_array_index (analytics->od_ids, guint, det) != NO_MTD)
        gst_analytics_relation_meta_set_relation (rmeta,
            GST_ANALYTICS_REL_TYPE_RELATE_TO,
            g_array_index (analytics->od_ids, guint, det), trk.id);
    }
    if (removed)
      g_array_remove_index_fast (analytics->tracks, k);
    else
      k++;
  }
}
