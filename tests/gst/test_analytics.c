/* test_analytics.c — the GStreamer >= 1.24 analytics metadata, read back
 * through the gstreamer-analytics-1.0 API: videotestsrc's moving ball !
 * repvityolo (shapes model, every second frame) ! repvittrack, then black
 * frames until the ball's track is removed. Built only where configure found
 * gstreamer-analytics-1.0 (on Debian 12: scripts/gst-analytics-1.24.sh).
 *
 * Checked per frame: one object-detection mtd per detection of our meta, with
 * its label's quark, its box rounded to whole pixels and its confidence (on
 * stale frames: those of the last inference, which repvityolo repeats); one
 * tracking mtd for the ball's track with our meta's track id, first seen on
 * frame 0 (the stream's first frame confirms at once), last seen on the last
 * frame with an inference that found it, related RELATE_TO from its
 * detection's mtd; on the black frames no relation, and on the frame that
 * removes the track (max-age=2 frames with inference) the lost flag. */
#include <math.h>

#include <gst/analytics/analytics.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

#define W 320
#define H 240
#define CAPS "video/x-raw,format=RGB,width=320,height=240,framerate=30/1"
#define BALL_FRAMES 6           /* frames 0, 2, 4 have inference */
#define BLACK_FRAMES 4          /* 6 and 8 with inference: 8 removes the track */

static gint
rounded (gfloat v)
{
  return (gint) floorf (v + 0.5f);
}

/* The OD mtds of @rmeta are @dets, in order. */
static void
check_od_mtds (GstAnalyticsRelationMeta * rmeta, const GArray * dets,
    guint frame)
{
  gpointer state = NULL;
  GstAnalyticsMtd od;
  guint n = 0;

  while (gst_analytics_relation_meta_iterate (rmeta, &state,
          gst_analytics_od_mtd_get_mtd_type (), &od)) {
    const GstRepvitDetection *d;
    gint x, y, w, h;
    gfloat confidence;

    fail_unless (n < dets->len, "frame %u: more OD mtds than %u detections",
        frame, dets->len);
    d = &g_array_index (dets, GstRepvitDetection, n++);
    fail_unless_equals_int (gst_analytics_od_mtd_get_obj_type (&od),
        g_quark_from_string (d->label));
    fail_unless (gst_analytics_od_mtd_get_location (&od, &x, &y, &w, &h,
            &confidence));
    fail_unless (x == rounded (d->x) && y == rounded (d->y) &&
        w == rounded (d->w) && h == rounded (d->h),
        "frame %u: OD box %d %d %d %d, detection %.2f %.2f %.2f %.2f", frame,
        x, y, w, h, d->x, d->y, d->w, d->h);
    fail_unless_equals_float (confidence, d->confidence);
  }
  fail_unless_equals_int (n, dets->len);
}

/* The tracking mtds of @rmeta: returns their count, the last in @trk. */
static guint
get_tracking_mtds (GstAnalyticsRelationMeta * rmeta,
    GstAnalyticsTrackingMtd * trk)
{
  gpointer state = NULL;
  guint n = 0;

  while (gst_analytics_relation_meta_iterate (rmeta, &state,
          gst_analytics_tracking_mtd_get_mtd_type (), trk))
    n++;
  return n;
}

static GstBuffer *
black_frame (guint frame)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, W * 3 * H, NULL);

  gst_buffer_memset (buf, 0, 0, W * 3 * H);
  GST_BUFFER_PTS (buf) = gst_util_uint64_scale (frame, GST_SECOND, 30);
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

GST_START_TEST (test_od_and_tracking_mtds)
{
  GstHarness *h = gst_harness_new_parse ("repvityolo model=" SHAPES_MODEL
      " inference-interval=2 ! repvittrack max-age=2");
  GArray *fresh_dets = g_array_new (FALSE, FALSE, sizeof (GstRepvitDetection));
  GstClockTime first_seen = GST_CLOCK_TIME_NONE, last_seen =
      GST_CLOCK_TIME_NONE;
  guint64 ball_id = 0;
  GstHarness *src = gst_harness_new_parse ("videotestsrc pattern=ball "
      "num-buffers=6 ! capsfilter caps=" CAPS);
  GstBuffer *ball[BALL_FRAMES];

  /* the ball's frames made first, so that no source thread competes with
   * the network (under valgrind it missed the harness's pull timeout) */
  gst_harness_play (src);
  for (guint f = 0; f < BALL_FRAMES; f++)
    ball[f] = gst_harness_pull (src);
  gst_harness_teardown (src);
  gst_harness_set_src_caps_str (h, CAPS);
  for (guint f = 0; f < BALL_FRAMES + BLACK_FRAMES; f++) {
    GstBuffer *out;
    GstRepvitDetectionMeta *meta;
    GstAnalyticsRelationMeta *rmeta;
    GstAnalyticsTrackingMtd trk;
    GstClockTime pts, trk_first, trk_last;
    guint64 trk_id;
    gboolean lost, fresh = f % 2 == 0;
    guint n_trk;

    fail_unless_equals_int (gst_harness_push (h, f < BALL_FRAMES ? ball[f] :
            black_frame (f)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    pts = GST_BUFFER_PTS (out);
    meta = gst_buffer_get_repvit_detection_meta (out);
    rmeta = gst_buffer_get_analytics_relation_meta (out);
    fail_unless (meta != NULL && rmeta != NULL, "frame %u: metas missing", f);
    fail_unless_equals_int (meta->stale, !fresh);

    if (fresh) {
      g_array_set_size (fresh_dets, 0);
      for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++)
        g_array_append_vals (fresh_dets, gst_repvit_detection_meta_get (meta,
                i), 1);
    }
    check_od_mtds (rmeta, fresh_dets, f);
    fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta),
        f < BALL_FRAMES ? 1 : 0);

    n_trk = get_tracking_mtds (rmeta, &trk);
    if (f == BALL_FRAMES + BLACK_FRAMES - 1) {
      fail_unless_equals_int (n_trk, 0);        /* removed on the frame before */
      gst_buffer_unref (out);
      continue;
    }
    fail_unless_equals_int (n_trk, 1);
    fail_unless (gst_analytics_tracking_mtd_get_info (&trk, &trk_id,
            &trk_first, &trk_last, &lost));
    if (f == 0) {
      const GstRepvitDetection *ball = gst_repvit_detection_meta_get (meta, 0);

      fail_unless_equals_string (ball->label, "circle");
      fail_unless (ball->track_id > 0, "no id on the first frame");
      ball_id = ball->track_id;
      first_seen = pts;
    }
    if (f < BALL_FRAMES) {
      const GstRepvitDetection *ball = gst_repvit_detection_meta_get (meta, 0);
      gpointer state = NULL;
      GstAnalyticsMtd od, related;

      if (fresh)
        last_seen = pts;
      fail_unless_equals_int64 (ball->track_id, ball_id);
      fail_unless_equals_int (ball->flags &
          GST_REPVIT_DETECTION_FLAG_PREDICTED,
          fresh ? 0 : GST_REPVIT_DETECTION_FLAG_PREDICTED);
      fail_unless (gst_analytics_relation_meta_iterate (rmeta, &state,
              gst_analytics_od_mtd_get_mtd_type (), &od));
      fail_unless_equals_int (gst_analytics_relation_meta_get_relation (rmeta,
              od.id, trk.id), GST_ANALYTICS_REL_TYPE_RELATE_TO);
      state = NULL;
      fail_unless (gst_analytics_relation_meta_get_direct_related (rmeta,
              od.id, GST_ANALYTICS_REL_TYPE_RELATE_TO,
              gst_analytics_tracking_mtd_get_mtd_type (), &state, &related));
      fail_unless_equals_int (related.id, trk.id);
    }
    fail_unless_equals_uint64 (trk_id, ball_id);
    fail_unless_equals_uint64 (trk_first, first_seen);
    fail_unless_equals_uint64 (trk_last, last_seen);
    /* frames 6 and 8 miss it: max-age=2 removes it on frame 8 */
    fail_unless_equals_int (lost, f == BALL_FRAMES + 2);
    GST_INFO ("frame %u: track %" G_GUINT64_FORMAT " first %" GST_TIME_FORMAT
        " last %" GST_TIME_FORMAT " lost %d", f, trk_id,
        GST_TIME_ARGS (trk_first), GST_TIME_ARGS (trk_last), lost);
    gst_buffer_unref (out);
  }
  g_array_unref (fresh_dets);
  gst_harness_teardown (h);
}

GST_END_TEST;

static Suite *
analytics_suite (void)
{
  Suite *s = suite_create ("repvitanalytics");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_od_and_tracking_mtds);
  return s;
}

GST_CHECK_MAIN (analytics);
