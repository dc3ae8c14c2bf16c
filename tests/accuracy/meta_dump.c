/* meta-dump — runs a pipeline description that ends in "appsink name=sink"
 * and prints each buffer's detection meta at full float precision, for
 * parity_test.py (repvitjson rounds boxes to 1e-6 of the frame and scores
 * to 1e-4, too coarse for it):
 *
 *   meta-dump "PIPELINE ! appsink name=sink"
 *     -> per buffer a line "frame N COUNT", then COUNT lines
 *        "class score x1 y1 x2 y2" (frame pixels, %.9g)
 */
#include <stdio.h>

#include <gst/app/gstappsink.h>

#include "repvitmeta.h"

/* An error ends the stream early: say so instead of a short list. */
static int
report_error (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *e = NULL;

  gst_object_unref (bus);
  if (!msg)
    return 0;
  gst_message_parse_error (msg, &e, NULL);
  fprintf (stderr, "meta-dump: %s\n", e->message);
  g_error_free (e);
  gst_message_unref (msg);
  return 1;
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  GstElement *pipeline, *sink;
  GstSample *sample;
  int frame = 0, rc = 0;

  gst_init (&argc, &argv);
  if (argc != 2) {
    fprintf (stderr, "usage: meta-dump \"PIPELINE ! appsink name=sink\"\n");
    return 2;
  }
  pipeline = gst_parse_launch (argv[1], &err);
  if (!pipeline) {
    fprintf (stderr, "meta-dump: %s\n", err->message);
    return 2;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  if (!sink || !GST_IS_APP_SINK (sink)) {
    fprintf (stderr, "meta-dump: the pipeline has no appsink named sink\n");
    return 2;
  }
  g_object_set (sink, "sync", FALSE, NULL);
  /* A failed state change (e.g. a bad model) posts no EOS to wait for;
   * its error message is reported below. */
  rc = gst_element_set_state (pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE;
  while (!rc && (sample = gst_app_sink_pull_sample (GST_APP_SINK (sink)))) {
    GstRepvitDetectionMeta *meta =
        gst_buffer_get_repvit_detection_meta (gst_sample_get_buffer (sample));
    guint n = meta ? gst_repvit_detection_meta_get_count (meta) : 0;

    printf ("frame %d %u\n", frame++, n);
    for (guint i = 0; i < n; i++) {
      const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);
      printf ("%d %.9g %.9g %.9g %.9g %.9g\n", d->class_id, d->confidence,
          d->x, d->y, (double) d->x + d->w, (double) d->y + d->h);
    }
    rc |= !meta;
    gst_sample_unref (sample);
  }
  rc |= report_error (pipeline);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return rc;
}
