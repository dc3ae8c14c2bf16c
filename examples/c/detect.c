/* detect.c — a minimal application around repvityolo.
 *
 *   repvit-example-detect MODEL URI-OR-FILE [SWITCH-FRAME CONF-THRESHOLD]
 *
 * Runs  uridecodebin ! videoconvert ! repvityolo ! appsink,  pulls every
 * frame from the appsink and prints its detections twice: through the
 * plugin's own meta (<gst/repvit/repvitmeta.h>) and through the standard
 * GstVideoRegionOfInterestMeta any GStreamer application understands. After
 * SWITCH-FRAME frames it sets repvityolo's conf-threshold to CONF-THRESHOLD
 * while the pipeline plays.
 *
 * Build outside this project (plugin and meta library installed):
 *
 *   cc detect.c -o detect $(pkg-config --cflags --libs gstrepvitmeta-1.0 \
 *       gstreamer-app-1.0)
 */
#include <stdlib.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <gst/repvit/repvitmeta.h>

static void
print_frame (guint n, GstBuffer * buf, gfloat conf_threshold)
{
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);
  gpointer state = NULL;
  GstMeta *m;

  if (meta == NULL) {
    g_print ("frame %u: no detection meta\n", n);
    return;
  }
  /* the frame: which model looked at it, how, and whether it is fresh */
  g_print ("frame %u: %u detections, conf-threshold %.2f, model %s, "
      "input %ux%u, %.1f ms, stale %s\n", n,
      gst_repvit_detection_meta_get_count (meta), conf_threshold, meta->model,
      meta->input_width, meta->input_height, meta->inference_ns / 1e6,
      meta->stale ? "yes" : "no");

  for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

    g_print ("  meta %d %s %.4f %.1f %.1f %.1f %.1f track %" G_GINT64_FORMAT
        "\n", d->class_id, d->label, d->confidence, d->x, d->y, d->w, d->h,
        d->track_id);
  }

  /* the same detections as standard region-of-interest metas */
  while ((m = gst_buffer_iterate_meta_filtered (buf, &state,
              GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))) {
    GstVideoRegionOfInterestMeta *roi = (GstVideoRegionOfInterestMeta *) m;
    GstStructure *s = gst_video_region_of_interest_meta_get_param (roi,
        "detection");
    gdouble confidence = -1.0;

    if (s)
      gst_structure_get_double (s, "confidence", &confidence);
    g_print ("  roi %s %.4f %u %u %u %u\n", g_quark_to_string (roi->roi_type),
        confidence, roi->x, roi->y, roi->w, roi->h);
  }
}

/* The first error on the bus, printed; FALSE when there is none. */
static gboolean
report_error (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  GError *err = NULL;
  gchar *debug = NULL;

  gst_object_unref (bus);
  if (msg == NULL)
    return FALSE;
  gst_message_parse_error (msg, &err, &debug);
  g_printerr ("error from %s: %s\n%s\n", GST_OBJECT_NAME (msg->src),
      err->message, debug ? debug : "");
  g_clear_error (&err);
  g_free (debug);
  gst_message_unref (msg);
  return TRUE;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *source, *detector, *sink;
  GstSample *sample;
  GError *err = NULL;
  gchar *uri;
  guint n = 0, switch_frame = G_MAXUINT;
  gfloat conf_threshold, new_threshold = 0.0f;
  gboolean failed;

  gst_init (&argc, &argv);
  if (argc != 3 && argc != 5) {
    g_printerr ("usage: %s MODEL URI-OR-FILE [SWITCH-FRAME CONF-THRESHOLD]\n",
        argv[0]);
    return 2;
  }
  if (argc == 5) {
    switch_frame = (guint) g_ascii_strtoull (argv[3], NULL, 10);
    new_threshold = (gfloat) g_ascii_strtod (argv[4], NULL);
  }

  pipeline = gst_parse_launch ("uridecodebin name=source ! videoconvert ! "
      "repvityolo name=detector ! appsink name=sink sync=false max-buffers=1",
      &err);
  if (pipeline == NULL) {
    g_printerr ("pipeline: %s (is the repvityolo plugin on GST_PLUGIN_PATH?)\n",
        err->message);
    g_clear_error (&err);
    return 1;
  }
  source = gst_bin_get_by_name (GST_BIN (pipeline), "source");
  detector = gst_bin_get_by_name (GST_BIN (pipeline), "detector");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");

  uri = gst_uri_is_valid (argv[2]) ? g_strdup (argv[2]) :
      gst_filename_to_uri (argv[2], NULL);
  g_object_set (source, "uri", uri, NULL);
  g_object_set (detector, "model", argv[1], NULL);
  g_object_get (detector, "conf-threshold", &conf_threshold, NULL);
  g_free (uri);

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  /* pull until end of stream; a short timeout lets an error end the loop */
  for (;;) {
    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        100 * GST_MSECOND);
    if (sample == NULL) {
      if (gst_app_sink_is_eos (GST_APP_SINK (sink)) || report_error (pipeline))
        break;
      continue;
    }
    print_frame (n, gst_sample_get_buffer (sample), conf_threshold);
    gst_sample_unref (sample);
    if (++n == switch_frame) {
      /* conf-threshold may change while playing; frames already under way
       * keep the old value */
      g_object_set (detector, "conf-threshold", new_threshold, NULL);
      g_object_get (detector, "conf-threshold", &conf_threshold, NULL);
      g_print ("set conf-threshold %.2f\n", conf_threshold);
    }
  }
  failed = report_error (pipeline);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (source);
  gst_object_unref (detector);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return failed || n == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
