/* test_repvittrack.c — the repvittrack element: track ids into our meta and
 * into the ROI metas' "object_id", predicted boxes on stale frames (moved
 * by the objects' velocity, hand-derived), drop-untracked, ROI-only input,
 * and its properties. Metas are attached by hand, as repvityolo does. */
#include <math.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvitmeta.h"

#define W 640
#define H 480
#define CAPS "video/x-raw,format=GRAY8,width=640,height=480,framerate=30/1"

/* Object 0 (circle) moves 10 px right per frame, object 1 (square) 6 px
 * down; object 2 is a weak triangle that never gets a track. */
static void
object_at (guint obj, guint frame, GstRepvitDetection * d)
{
  static const gchar *labels[] = { "circle", "square", "triangle" };
  GstRepvitDetection o = { obj, labels[obj], obj == 2 ? 0.3f : 0.9f,
    obj == 0 ? 50.0f + 10 * frame : 400.0f, obj == 0 ? 100.0f : 50.0f + 6 *
        frame, 60, 40, -1, 0
  };

  *d = o;
}

/* A buffer with our meta for @frame (or, @stale, the detections of frame
 * @stale_of) and, @roi, one ROI meta per detection as repvityolo makes. */
static GstBuffer *
make_buffer (guint frame, gboolean stale, guint stale_of, gboolean ours,
    gboolean roi)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, W * H, NULL);
  GstRepvitDetectionMeta *meta = NULL;

  GST_BUFFER_PTS (buf) = frame * GST_SECOND / 30;
  if (ours) {
    meta = gst_buffer_add_repvit_detection_meta (buf, "test", 320, 256);
    meta->stale = stale;
  }
  for (guint i = 0; i < 3; i++) {
    GstRepvitDetection d;

    object_at (i, stale ? stale_of : frame, &d);
    if (meta)
      gst_repvit_detection_meta_add (meta, &d);
    if (roi) {
      GstVideoRegionOfInterestMeta *r =
          gst_buffer_add_video_region_of_interest_meta (buf, d.label, d.x,
          d.y, d.w, d.h);

      r->id = i;
      gst_video_region_of_interest_meta_add_param (r,
          gst_structure_new ("detection", "label_id", G_TYPE_INT, d.class_id,
              "confidence", G_TYPE_DOUBLE, (gdouble) d.confidence, NULL));
    }
  }
  return buf;
}

/* The ROI metas of @buf in order; each one's object_id, or -1. */
static guint
roi_ids (GstBuffer * buf, gint64 * ids, GstVideoRegionOfInterestMeta ** rois)
{
  GstVideoRegionOfInterestMeta *r;
  gpointer state = NULL;
  guint n = 0;

  while ((r = (GstVideoRegionOfInterestMeta *) gst_buffer_iterate_meta_filtered
          (buf, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstStructure *s = gst_video_region_of_interest_meta_get_param (r,
        "object_id");
    gint id = -1;

    if (s)
      fail_unless (gst_structure_get_int (s, "id", &id));
    rois[n] = r;
    ids[n++] = id;
  }
  return n;
}

static GstHarness *
track_harness (const gchar * props)
{
  gchar *desc = g_strdup_printf ("repvittrack %s", props ? props : "");
  GstHarness *h = gst_harness_new_parse (desc);

  g_free (desc);
  gst_harness_set_src_caps_str (h, CAPS);
  return h;
}

GST_START_TEST (test_ids_and_prediction)
{
  GstHarness *h = track_harness (NULL);
  gint64 ids[2] = { -1, -1 };
  guint f;

  /* fresh frames: ids from the stream's first frame on (confirmed at once
   * there, whatever min-hits), stable */
  for (f = 0; f < 20; f++) {
    GstBuffer *out = gst_harness_push_and_pull (h, make_buffer (f, FALSE, 0,
            TRUE, TRUE));
    GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (out);
    GstVideoRegionOfInterestMeta *rois[8];
    gint64 rids[8];
    guint n;

    fail_unless (meta != NULL);
    fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), 3);
    for (guint i = 0; i < 2; i++) {
      const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

      fail_unless (d->flags == 0);
      if (f == 0) {
        fail_unless (d->track_id > 0);
        ids[i] = d->track_id;
      } else {
        fail_unless_equals_int64 (d->track_id, ids[i]);
      }
    }
    fail_unless_equals_int64 (gst_repvit_detection_meta_get (meta,
            2)->track_id, -1);
    n = roi_ids (out, rids, rois);
    fail_unless_equals_int (n, 3);
    for (guint i = 0; i < n; i++) {
      const GstRepvitDetection *d =
          gst_repvit_detection_meta_get (meta, rois[i]->id);

      fail_unless_equals_int64 (rids[i], d->track_id);
      fail_unless_equals_int (rois[i]->x, (guint) (d->x + 0.5f));
    }
    gst_buffer_unref (out);
  }
  fail_unless (ids[0] != ids[1]);

  /* stale frames repeat frame 19's boxes; the tracker moves them on by the
   * velocity it has learnt: +10 px/frame in x for object 0, +6 in y for 1 */
  for (guint k = 1; k <= 2; k++) {
    GstBuffer *out = gst_harness_push_and_pull (h, make_buffer (19 + k, TRUE,
            19, TRUE, TRUE));
    GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (out);
    GstVideoRegionOfInterestMeta *rois[8];
    gint64 rids[8];
    GstRepvitDetection want;

    fail_unless (meta->stale);
    fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), 3);
    for (guint i = 0; i < 2; i++) {
      const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

      object_at (i, 19 + k, &want);
      fail_unless_equals_int64 (d->track_id, ids[i]);
      fail_unless (d->flags & GST_REPVIT_DETECTION_FLAG_PREDICTED);
      fail_unless (fabsf (d->x - want.x) < 1.5f && fabsf (d->y - want.y) <
          1.5f, "frame %u object %u at %.1f,%.1f, want %.1f,%.1f", 19 + k, i,
          d->x, d->y, want.x, want.y);
      fail_unless (fabsf (d->w - want.w) < 1.0f && fabsf (d->h - want.h) <
          1.0f);
    }
    /* the untracked weak one stays as it was, not predicted */
    object_at (2, 19, &want);
    fail_unless (gst_repvit_detection_meta_get (meta, 2)->flags == 0);
    fail_unless (gst_repvit_detection_meta_get (meta, 2)->y == want.y);
    fail_unless_equals_int (roi_ids (out, rids, rois), 3);
    for (guint i = 0; i < 3; i++)
      fail_unless_equals_int (rois[i]->y, (guint)
          (gst_repvit_detection_meta_get (meta, rois[i]->id)->y + 0.5f));
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_drop_untracked)
{
  GstHarness *h = track_harness ("drop-untracked=true min-hits=1");
  GstBuffer *out;
  GstRepvitDetectionMeta *meta;
  GstVideoRegionOfInterestMeta *rois[8];
  gint64 rids[8];

  out = gst_harness_push_and_pull (h, make_buffer (0, FALSE, 0, TRUE, TRUE));
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (meta), 2);
  fail_unless_equals_int (roi_ids (out, rids, rois), 2);
  for (guint i = 0; i < 2; i++) {
    fail_unless (gst_repvit_detection_meta_get (meta, i)->track_id > 0);
    fail_unless (rids[i] > 0);
  }
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* Without our meta: the ROI metas get "object_id" in place. */
GST_START_TEST (test_roi_only)
{
  GstHarness *h = track_harness ("min-hits=1");
  GstVideoRegionOfInterestMeta *rois[8];
  gint64 first[8], rids[8];

  for (guint f = 0; f < 3; f++) {
    GstBuffer *out = gst_harness_push_and_pull (h, make_buffer (f, FALSE, 0,
            FALSE, TRUE));

    fail_unless (gst_buffer_get_repvit_detection_meta (out) == NULL);
    fail_unless_equals_int (roi_ids (out, rids, rois), 3);
    fail_unless (rids[0] > 0 && rids[1] > 0 && rids[0] != rids[1]);
    fail_unless_equals_int64 (rids[2], -1);     /* weak: no track */
    if (f == 0)
      memcpy (first, rids, sizeof first);
    fail_unless (memcmp (first, rids, 3 * sizeof rids[0]) == 0);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}

GST_END_TEST;

GST_START_TEST (test_properties)
{
  GstElement *e = gst_element_factory_make ("repvittrack", NULL);
  gfloat high, low, newt, match, lmatch;
  guint hits, age;
  gboolean drop;

  fail_unless (e != NULL);
  g_object_get (e, "high-threshold", &high, "low-threshold", &low,
      "new-track-threshold", &newt, "match-threshold", &match,
      "low-match-threshold", &lmatch, "min-hits", &hits, "max-age", &age,
      "drop-untracked", &drop, NULL);
  fail_unless (high == 0.5f && low == 0.1f && newt == 0.6f && match == 0.2f
      && lmatch == 0.5f && hits == 2 && age == 30 && !drop);
  g_object_set (e, "max-age", 5, "min-hits", 1, NULL);
  g_object_get (e, "max-age", &age, "min-hits", &hits, NULL);
  fail_unless (age == 5 && hits == 1);
  gst_object_unref (e);
}

GST_END_TEST;

static Suite *
repvittrack_suite (void)
{
  Suite *s = suite_create ("repvittrack");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_ids_and_prediction);
  tcase_add_test (tc, test_drop_untracked);
  tcase_add_test (tc, test_roi_only);
  tcase_add_test (tc, test_properties);
  return s;
}

GST_CHECK_MAIN (repvittrack);
