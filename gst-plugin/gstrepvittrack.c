/* gstrepvittrack.c — gives detections track ids and moves stale boxes on.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-repvittrack
 * @title: repvittrack
 * @see_also: repvityolo, repvitoverlay, repvitjson
 *
 * Tracks the detected objects from frame to frame and writes each one's
 * track id into the `track_id` of its #GstRepvitDetection and, where
 * repvityolo attached #GstVideoRegionOfInterestMeta, into an "object_id"
 * parameter structure (field `id`) of the ROI, as DL Streamer's gvatrack
 * does. On buffers without a #GstRepvitDetectionMeta the tracker works on the
 * ROI metas alone (e.g. from other analytics elements).
 *
 * The tracker is of the ByteTrack family: a constant-velocity Kalman filter
 * on each track's box; detections of at least #GstRepvitTrack:high-threshold
 * are matched first to all tracks, then those between
 * #GstRepvitTrack:low-threshold and the high threshold to the tracks still
 * unmatched, by the overlap (IoU) of the detection with the track's predicted
 * box, with an optimal (Hungarian) assignment. A track only matches
 * detections of its own class. A new track gets its id after
 * #GstRepvitTrack:min-hits frames in a row with a match (on the stream's
 * first frame, and the first after a seek, at once, as in ByteTrack) and is
 * removed after #GstRepvitTrack:max-age frames with detections in a row
 * without one.
 * The second stage pays off when repvityolo's conf-threshold is lowered to
 * the low threshold: a partly hidden object with a weak score then keeps its
 * track.
 *
 * On frames the detector did not run on (repvityolo inference-interval > 1,
 * or a late frame; the meta's `stale` is set) the detections repeat those of
 * the last inference; repvittrack replaces each tracked one by its track's
 * predicted box for this frame and sets #GST_REPVIT_DETECTION_FLAG_PREDICTED
 * in its flags, so boxes keep moving between inferences.
 *
 * Detections without a track (too weak, or a track not yet confirmed) keep
 * `track_id` -1; #GstRepvitTrack:drop-untracked removes them.
 *
 * With GStreamer >= 1.24, on buffers with a #GstAnalyticsRelationMeta (as
 * repvityolo attaches there), it also adds one tracking mtd per track with
 * an id, as 1.24's trackers do: the track id, first seen (running time when
 * it got its id), last seen (when it last matched a fresh detection) and a
 * relation RELATE_TO from the object-detection mtd of its detection on this
 * frame, if any; a track removed on this frame gets a last one marked lost.
 * Object-detection mtds cannot be moved or removed: on stale frames they keep
 * the detector's boxes (the predicted ones are in our meta), and
 * drop-untracked leaves them.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     repvityolo model=model.safetensors conf-threshold=0.1 \
 *     inference-interval=3 ! repvittrack drop-untracked=true ! \
 *     repvitoverlay trail-length=30 ! videoconvert ! autovideosink
 * ]| Detects on every third frame, tracks, and draws boxes with "#id" and
 * each track's recent path.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include "gstrepvitdetections.h"
#include "gstrepvitelements.h"
#include "rvtrack.h"
#ifdef HAVE_GST_ANALYTICS
#include "gstrepvitanalytics.h"
#endif

GST_DEBUG_CATEGORY_STATIC (gst_repvit_track_debug);
#define GST_CAT_DEFAULT gst_repvit_track_debug

#define DEFAULT_HIGH_THRESHOLD 0.5f
#define DEFAULT_LOW_THRESHOLD 0.1f
#define DEFAULT_NEW_TRACK_THRESHOLD 0.6f
#define DEFAULT_MATCH_THRESHOLD 0.2f
#define DEFAULT_LOW_MATCH_THRESHOLD 0.5f
#define DEFAULT_MIN_HITS 2
#define DEFAULT_MAX_AGE 30
#define DEFAULT_DROP_UNTRACKED FALSE

enum
{
  PROP_0,
  PROP_HIGH_THRESHOLD,
  PROP_LOW_THRESHOLD,
  PROP_NEW_TRACK_THRESHOLD,
  PROP_MATCH_THRESHOLD,
  PROP_LOW_MATCH_THRESHOLD,
  PROP_MIN_HITS,
  PROP_MAX_AGE,
  PROP_DROP_UNTRACKED,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));

#define GST_TYPE_REPVIT_TRACK (gst_repvit_track_get_type ())
G_DECLARE_FINAL_TYPE (GstRepvitTrack, gst_repvit_track, GST, REPVIT_TRACK,
    GstBaseTransform);

struct _GstRepvitTrack
{
  GstBaseTransform parent;

  /* settings, under the object lock */
  rv_tracker_params params;
  gboolean drop_untracked;

  /* streaming state */
  rv_tracker *tracker;
  gint width, height;
  GArray *detections;           /* GstRepvitDetection of the current frame */
  GArray *boxes;                /* rv_track_box of the current frame */
  GArray *ids;                  /* gint64: ids of the last fresh frame */
  GPtrArray *doomed;            /* metas of the current buffer to remove */
#ifdef HAVE_GST_ANALYTICS
  GstRepvitTrackAnalytics *analytics;
#endif
};

G_DEFINE_TYPE (GstRepvitTrack, gst_repvit_track, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (repvittrack, "repvittrack", GST_RANK_NONE,
    GST_TYPE_REPVIT_TRACK);

static void gst_repvit_track_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_repvit_track_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_repvit_track_finalize (GObject * object);
static gboolean gst_repvit_track_start (GstBaseTransform * trans);
static gboolean gst_repvit_track_stop (GstBaseTransform * trans);
static gboolean gst_repvit_track_set_caps (GstBaseTransform * trans,
    GstCaps * incaps, GstCaps * outcaps);
static gboolean gst_repvit_track_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static GstFlowReturn gst_repvit_track_transform_ip (GstBaseTransform * trans,
    GstBuffer * buf);

static void
install_score (GObjectClass * gobject_class, guint prop_id, const gchar * name,
    const gchar * nick, const gchar * blurb, gfloat def)
{
  g_object_class_install_property (gobject_class, prop_id,
      g_param_spec_float (name, nick, blurb, 0.0f, 1.0f, def,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
}

static void
gst_repvit_track_class_init (GstRepvitTrackClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_repvit_track_set_property;
  gobject_class->get_property = gst_repvit_track_get_property;
  gobject_class->finalize = gst_repvit_track_finalize;

  /**
   * GstRepvitTrack:high-threshold:
   *
   * Detections with at least this confidence are matched first, to all
   * tracks, and only they can start a track.
   */
  install_score (gobject_class, PROP_HIGH_THRESHOLD, "high-threshold",
      "High threshold", "Detections with at least this confidence are "
      "matched first, to all tracks", DEFAULT_HIGH_THRESHOLD);
  /**
   * GstRepvitTrack:low-threshold:
   *
   * Detections below this confidence are ignored; those between it and
   * #GstRepvitTrack:high-threshold are matched second, to the tracks that
   * were matched on the previous frame with detections and not in the
   * first stage.
   */
  install_score (gobject_class, PROP_LOW_THRESHOLD, "low-threshold",
      "Low threshold", "Detections below this confidence are ignored; "
      "weaker ones than high-threshold only continue tracks",
      DEFAULT_LOW_THRESHOLD);
  /**
   * GstRepvitTrack:new-track-threshold:
   *
   * Least confidence of an unmatched detection to start a new track (it
   * must reach #GstRepvitTrack:high-threshold, too).
   */
  install_score (gobject_class, PROP_NEW_TRACK_THRESHOLD,
      "new-track-threshold", "New track threshold",
      "Least confidence of an unmatched detection to start a track",
      DEFAULT_NEW_TRACK_THRESHOLD);
  /**
   * GstRepvitTrack:match-threshold:
   *
   * Least overlap (intersection over union) between a track's predicted box
   * and a high-confidence detection for them to match.
   */
  install_score (gobject_class, PROP_MATCH_THRESHOLD, "match-threshold",
      "Match threshold", "Least IoU of a track's predicted box and a "
      "high-confidence detection to match them", DEFAULT_MATCH_THRESHOLD);
  /**
   * GstRepvitTrack:low-match-threshold:
   *
   * Least overlap (IoU) between a track's predicted box and a
   * low-confidence detection for them to match; higher than
   * #GstRepvitTrack:match-threshold because weak detections are less sure.
   */
  install_score (gobject_class, PROP_LOW_MATCH_THRESHOLD,
      "low-match-threshold", "Low match threshold",
      "Least IoU of a track's predicted box and a low-confidence detection "
      "to match them", DEFAULT_LOW_MATCH_THRESHOLD);
  /**
   * GstRepvitTrack:min-hits:
   *
   * Frames with detections in a row in which a new track must be matched
   * before it gets an id (1: at once). Tracks that start on the stream's
   * first frame get theirs at once.
   */
  g_object_class_install_property (gobject_class, PROP_MIN_HITS,
      g_param_spec_uint ("min-hits", "Minimum hits",
          "Frames with a match in a row before a new track gets an id",
          1, 1000, DEFAULT_MIN_HITS,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitTrack:max-age:
   *
   * Frames with detections in a row without a match after which a track is
   * removed; until then it is kept (predicted on) and can be matched again,
   * e.g. after an occlusion. Stale frames do not count.
   */
  g_object_class_install_property (gobject_class, PROP_MAX_AGE,
      g_param_spec_uint ("max-age", "Maximum age",
          "Frames with detections in a row without a match before a track "
          "is removed", 1, 100000, DEFAULT_MAX_AGE,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitTrack:drop-untracked:
   *
   * Removes the detections that belong to no confirmed track (and their ROI
   * metas), so that downstream sees tracks only.
   */
  g_object_class_install_property (gobject_class, PROP_DROP_UNTRACKED,
      g_param_spec_boolean ("drop-untracked", "Drop untracked",
          "Remove detections that belong to no confirmed track",
          DEFAULT_DROP_UNTRACKED,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "RepViT-YOLO object tracker", "Filter/Analyzer/Video",
      "Gives detected objects track ids (Kalman filter, ByteTrack "
      "association) and predicts their boxes on frames without inference",
      "repvityolo developers");

  trans_class->start = GST_DEBUG_FUNCPTR (gst_repvit_track_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_repvit_track_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_repvit_track_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_repvit_track_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_repvit_track_transform_ip);

  GST_DEBUG_CATEGORY_INIT (gst_repvit_track_debug, "repvittrack", 0,
      "RepViT-YOLO object tracker");
}

static void
gst_repvit_track_init (GstRepvitTrack * self)
{
  self->params = rv_tracker_params_default ();
  self->params.high_score = DEFAULT_HIGH_THRESHOLD;
  self->params.low_score = DEFAULT_LOW_THRESHOLD;
  self->params.new_track_score = DEFAULT_NEW_TRACK_THRESHOLD;
  self->params.match_iou = DEFAULT_MATCH_THRESHOLD;
  self->params.low_match_iou = DEFAULT_LOW_MATCH_THRESHOLD;
  self->params.min_hits = DEFAULT_MIN_HITS;
  self->params.max_age = DEFAULT_MAX_AGE;
  self->drop_untracked = DEFAULT_DROP_UNTRACKED;
  self->detections = g_array_new (FALSE, FALSE, sizeof (GstRepvitDetection));
  self->boxes = g_array_new (FALSE, FALSE, sizeof (rv_track_box));
  self->ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->doomed = g_ptr_array_new ();
#ifdef HAVE_GST_ANALYTICS
  self->analytics = gst_repvit_track_analytics_new ();
#endif
  /* the metas change, the pixels never */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_repvit_track_finalize (GObject * object)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (object);

  g_array_unref (self->detections);
  g_array_unref (self->boxes);
  g_array_unref (self->ids);
  g_ptr_array_unref (self->doomed);
#ifdef HAVE_GST_ANALYTICS
  gst_repvit_track_analytics_free (self->analytics);
#endif

  G_OBJECT_CLASS (gst_repvit_track_parent_class)->finalize (object);
}

static void
gst_repvit_track_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_HIGH_THRESHOLD:
      self->params.high_score = g_value_get_float (value);
      break;
    case PROP_LOW_THRESHOLD:
      self->params.low_score = g_value_get_float (value);
      break;
    case PROP_NEW_TRACK_THRESHOLD:
      self->params.new_track_score = g_value_get_float (value);
      break;
    case PROP_MATCH_THRESHOLD:
      self->params.match_iou = g_value_get_float (value);
      break;
    case PROP_LOW_MATCH_THRESHOLD:
      self->params.low_match_iou = g_value_get_float (value);
      break;
    case PROP_MIN_HITS:
      self->params.min_hits = g_value_get_uint (value);
      break;
    case PROP_MAX_AGE:
      self->params.max_age = g_value_get_uint (value);
      break;
    case PROP_DROP_UNTRACKED:
      self->drop_untracked = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_repvit_track_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_HIGH_THRESHOLD:
      g_value_set_float (value, self->params.high_score);
      break;
    case PROP_LOW_THRESHOLD:
      g_value_set_float (value, self->params.low_score);
      break;
    case PROP_NEW_TRACK_THRESHOLD:
      g_value_set_float (value, self->params.new_track_score);
      break;
    case PROP_MATCH_THRESHOLD:
      g_value_set_float (value, self->params.match_iou);
      break;
    case PROP_LOW_MATCH_THRESHOLD:
      g_value_set_float (value, self->params.low_match_iou);
      break;
    case PROP_MIN_HITS:
      g_value_set_uint (value, self->params.min_hits);
      break;
    case PROP_MAX_AGE:
      g_value_set_uint (value, self->params.max_age);
      break;
    case PROP_DROP_UNTRACKED:
      g_value_set_boolean (value, self->drop_untracked);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_repvit_track_start (GstBaseTransform * trans)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (trans);

  self->tracker = rv_tracker_new (NULL);
  if (!self->tracker)
    goto no_memory;
  self->width = self->height = 0;
  g_array_set_size (self->ids, 0);
#ifdef HAVE_GST_ANALYTICS
  gst_repvit_track_analytics_reset (self->analytics);
#endif
  return TRUE;

  /* ERRORS */
no_memory:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Not enough memory for the tracker."), (NULL));
    return FALSE;
  }
}

static gboolean
gst_repvit_track_stop (GstBaseTransform * trans)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (trans);

  g_clear_pointer (&self->tracker, rv_tracker_free);
  return TRUE;
}

static gboolean
gst_repvit_track_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    G_GNUC_UNUSED GstCaps * outcaps)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (trans);
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, incaps))
    return FALSE;
  self->width = GST_VIDEO_INFO_WIDTH (&info);
  self->height = GST_VIDEO_INFO_HEIGHT (&info);
  return TRUE;
}

static gboolean
gst_repvit_track_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (trans);

  /* a seek or a new stream: the old tracks say nothing about what comes */
  if ((GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP ||
          GST_EVENT_TYPE (event) == GST_EVENT_STREAM_START) && self->tracker) {
    rv_tracker_reset (self->tracker);
    g_array_set_size (self->ids, 0);
#ifdef HAVE_GST_ANALYTICS
    gst_repvit_track_analytics_reset (self->analytics);
#endif
  }
  return GST_BASE_TRANSFORM_CLASS (gst_repvit_track_parent_class)->sink_event
      (trans, event);
}

/* A frame with fresh detections: match them, remember their ids. */
static gboolean
track_fresh (GstRepvitTrack * self)
{
  GArray *dets = self->detections;

  g_array_set_size (self->boxes, dets->len);
  g_array_set_size (self->ids, dets->len);
  for (guint i = 0; i < dets->len; i++) {
    const GstRepvitDetection *d = &g_array_index (dets, GstRepvitDetection, i);
    rv_track_box *b = &g_array_index (self->boxes, rv_track_box, i);

    b->class_id = d->class_id;
    b->score = d->confidence;
    b->x1 = d->x;
    b->y1 = d->y;
    b->x2 = d->x + d->w;
    b->y2 = d->y + d->h;
  }
  if (!rv_tracker_update (self->tracker, (rv_track_box *) self->boxes->data,
          dets->len, (int64_t *) self->ids->data))
    return FALSE;
  for (guint i = 0; i < dets->len; i++) {
    GstRepvitDetection *d = &g_array_index (dets, GstRepvitDetection, i);

    d->track_id = g_array_index (self->ids, gint64, i);
    d->flags &= ~GST_REPVIT_DETECTION_FLAG_PREDICTED;
  }
  return TRUE;
}

/* A stale frame: its detections repeat those of the last fresh frame, in the
 * same order; move each tracked one to its track's prediction. */
static void
track_stale (GstRepvitTrack * self)
{
  rv_tracker_predict (self->tracker);
  for (guint i = 0; i < self->detections->len; i++) {
    GstRepvitDetection *d = &g_array_index (self->detections,
        GstRepvitDetection, i);
    gint64 id = i < self->ids->len ? g_array_index (self->ids, gint64, i) : -1;
    rv_track_box b;

    d->track_id = -1;
    if (id < 0 || !rv_tracker_get_box (self->tracker, id, &b))
      continue;
    d->track_id = id;
    d->flags |= GST_REPVIT_DETECTION_FLAG_PREDICTED;
    d->x = b.x1;
    d->y = b.y1;
    d->w = b.x2 - b.x1;
    d->h = b.y2 - b.y1;
  }
}

/* Removes the metas collected in self->doomed from the buffer. */
static void
remove_doomed (GstRepvitTrack * self, GstBuffer * buf)
{
  for (guint i = 0; i < self->doomed->len; i++)
    gst_buffer_remove_meta (buf, g_ptr_array_index (self->doomed, i));
  g_ptr_array_set_size (self->doomed, 0);
}

/* Replaces @meta (and the ROI metas that mirror it) by one with the tracked
 * detections. */
static void
rewrite_meta (GstRepvitTrack * self, GstBuffer * buf,
    GstRepvitDetectionMeta * meta, gboolean drop_untracked)
{
  GstRepvitDetectionMeta *out;
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;
  guint n = gst_repvit_detection_meta_get_count (meta), kept = 0;
  gboolean had_rois;

  /* repvityolo's ROI metas: id = index in our meta, type = its label */
  while ((roi = (GstVideoRegionOfInterestMeta *) gst_buffer_iterate_meta_filtered
          (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    if (roi->id >= 0 && (guint) roi->id < n && roi->roi_type ==
        g_quark_try_string (gst_repvit_detection_meta_get (meta,
                roi->id)->label))
      g_ptr_array_add (self->doomed, roi);
  }
  had_rois = self->doomed->len > 0;
  out = gst_buffer_add_repvit_detection_meta (buf, meta->model,
      meta->input_width, meta->input_height);
  out->stale = meta->stale;
  out->inference_ns = meta->inference_ns;

  for (guint i = 0; i < self->detections->len; i++) {
    const GstRepvitDetection *d = &g_array_index (self->detections,
        GstRepvitDetection, i);

    if (drop_untracked && d->track_id < 0)
      continue;
    gst_repvit_detection_meta_add (out, d);
    if (had_rois)
      gst_repvit_buffer_add_roi_meta (buf, d, kept, self->width,
          self->height);
    kept++;
  }
  /* only now: the labels copied above may belong to the old meta alone */
  g_ptr_array_add (self->doomed, meta);
  remove_doomed (self, buf);
}

/* Without our meta: the ROI metas, in the order they were collected. */
static void
rewrite_rois (GstRepvitTrack * self, GstBuffer * buf, gboolean drop_untracked)
{
  GstVideoRegionOfInterestMeta *roi;
  gpointer state = NULL;
  guint i = 0;

  while ((roi = (GstVideoRegionOfInterestMeta *) gst_buffer_iterate_meta_filtered
          (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    gint64 id = g_array_index (self->detections, GstRepvitDetection,
        i++).track_id;

    if (id >= 0)
      gst_repvit_roi_set_object_id (roi, id);
    else if (drop_untracked)
      g_ptr_array_add (self->doomed, roi);
  }
  remove_doomed (self, buf);
}

static GstFlowReturn
gst_repvit_track_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstRepvitTrack *self = GST_REPVIT_TRACK (trans);
  GstRepvitDetectionMeta *meta;
  rv_tracker_params params;
  gboolean drop_untracked, stale;

  GST_OBJECT_LOCK (self);
  params = self->params;
  drop_untracked = self->drop_untracked;
  GST_OBJECT_UNLOCK (self);
  rv_tracker_set_params (self->tracker, &params);

  meta = gst_repvit_buffer_collect_detections (buf, self->detections);
  stale = meta && meta->stale;
#ifdef HAVE_GST_ANALYTICS
  gst_repvit_track_analytics_find_od_mtds (self->analytics, buf,
      self->detections);
#endif
  if (stale)
    track_stale (self);
  else if (!track_fresh (self))
    goto no_memory;
#ifdef HAVE_GST_ANALYTICS
  gst_repvit_track_analytics_add_tracking_mtds (self->analytics, buf,
      self->detections, self->tracker, &trans->segment, !stale);
#endif

  if (meta)
    rewrite_meta (self, buf, meta, drop_untracked);
  else
    rewrite_rois (self, buf, drop_untracked);
  GST_LOG_OBJECT (self, "%u detections%s, %d tracks", self->detections->len,
      stale ? " (stale)" : "",
      rv_tracker_num_tracks (self->tracker));
  return GST_FLOW_OK;

  /* ERRORS */
no_memory:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Not enough memory to track %u detections.", self->detections->len),
        (NULL));
    return GST_FLOW_ERROR;
  }
}
