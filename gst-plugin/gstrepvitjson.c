/* gstrepvitjson.c — writes each frame's detections as one line of JSON. */
/**
 * SECTION:element-repvitjson
 * @title: repvitjson
 * @short_description: writes detections as JSON Lines
 *
 * Writes one JSON object per frame, one per line, to a file (or to standard
 * output), and passes the buffers on unchanged. The detections come from the
 * #GstRepvitDetectionMeta that repvityolo attaches or, on buffers without one,
 * from each #GstVideoRegionOfInterestMeta. The layout is that of DL Streamer's
 * gvametaconvert, plus a frame counter and, with our meta, the model, its
 * input size, the inference time and whether the detections are stale:
 *
 * |[
 * {"resolution":{"width":1280,"height":720},"timestamp":33333333,"frame":1,
 *  "model":"m0_9-n nc3 shapes.safetensors","input":{"width":640,"height":384},
 *  "inference_ms":21.5,"stale":false,
 *  "objects":[{"x":100,"y":50,"w":200,"h":120,"roi_type":"circle",
 *    "detection":{"bounding_box":{"x_min":0.078125,"y_min":0.069444,
 *      "x_max":0.234375,"y_max":0.236111},"confidence":0.91,"label_id":0,
 *      "label":"circle"}}]}
 * ]|
 *
 * (one line in the file). Downstream of repvittrack a tracked object also
 * has "id", its track id (where gvametaconvert writes the "object_id" of
 * DL Streamer's gvatrack), and a box the tracker predicted for a frame the
 * detector skipped has "predicted":true. Confidences are written with 4
 * decimals, normalized coordinates with 6 (a hundredth of a pixel at 4K).
 * "timestamp" is the buffer's PTS in nanoseconds, or
 * null; "frame" counts the buffers since the element started, written or not.
 * Lines are buffered and flushed at EOS and when the element stops. Writing
 * to standard output, run gst-launch-1.0 with -q to keep its messages out.
 *
 * Every buffer gets its line and passes on: #GstBaseTransform:qos is %FALSE
 * (a late buffer is never dropped here).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \
 *     repvityolo model=model.safetensors ! repvitjson location=out.jsonl ! \
 *     fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdio.h>

#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>
#include <json-glib/json-glib.h>

#include "gstrepvitdetections.h"
#include "gstrepvitelements.h"

GST_DEBUG_CATEGORY_STATIC (gst_repvit_json_debug);
#define GST_CAT_DEFAULT gst_repvit_json_debug

#define DEFAULT_LOCATION NULL
#define DEFAULT_SKIP_EMPTY FALSE

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_SKIP_EMPTY,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw(ANY)"));

#define GST_TYPE_REPVIT_JSON (gst_repvit_json_get_type ())
G_DECLARE_FINAL_TYPE (GstRepvitJson, gst_repvit_json, GST, REPVIT_JSON,
    GstBaseTransform);

struct _GstRepvitJson
{
  GstBaseTransform parent;

  /* settings, under the object lock */
  gchar *location;
  gboolean skip_empty;

  /* streaming state */
  FILE *file;                   /* stdout without a location */
  gchar *file_name;             /* for messages */
  gint width, height;
  guint64 frame;
  GArray *detections;
  JsonGenerator *generator;
};

G_DEFINE_TYPE (GstRepvitJson, gst_repvit_json, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (repvitjson, "repvitjson", GST_RANK_NONE,
    GST_TYPE_REPVIT_JSON);

static void gst_repvit_json_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_repvit_json_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_repvit_json_finalize (GObject * object);
static gboolean gst_repvit_json_start (GstBaseTransform * trans);
static gboolean gst_repvit_json_stop (GstBaseTransform * trans);
static gboolean gst_repvit_json_set_caps (GstBaseTransform * trans,
    GstCaps * incaps, GstCaps * outcaps);
static gboolean gst_repvit_json_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static GstFlowReturn gst_repvit_json_transform_ip (GstBaseTransform * trans,
    GstBuffer * buf);

static void
gst_repvit_json_class_init (GstRepvitJsonClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = gst_repvit_json_set_property;
  gobject_class->get_property = gst_repvit_json_get_property;
  gobject_class->finalize = gst_repvit_json_finalize;

  /**
   * GstRepvitJson:location:
   *
   * File the JSON lines are written to; NULL (default) writes to standard
   * output. Set in NULL or READY.
   */
  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "File to write the JSON lines to (standard output when NULL)",
          DEFAULT_LOCATION,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_READY |
          G_PARAM_STATIC_STRINGS));
  /**
   * GstRepvitJson:skip-empty:
   *
   * Write no line for frames without detections (default FALSE).
   */
  g_object_class_install_property (gobject_class, PROP_SKIP_EMPTY,
      g_param_spec_boolean ("skip-empty", "Skip empty frames",
          "Write no line for frames without detections", DEFAULT_SKIP_EMPTY,
          G_PARAM_READWRITE | GST_PARAM_MUTABLE_PLAYING |
          G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "RepViT-YOLO detections to JSON", "Filter/Analyzer/Video",
      "Writes each frame's detections as a line of JSON in DL Streamer's "
      "gvametaconvert layout, from GstRepvitDetectionMeta "
      "(<gst/repvit/repvitmeta.h>, pkg-config gstrepvitmeta-1.0; adds model, "
      "input size, inference_ms and stale) or else from "
      "GstVideoRegionOfInterestMeta",
      "repvityolo developers");

  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->transform_ip_on_passthrough = TRUE;
  trans_class->start = GST_DEBUG_FUNCPTR (gst_repvit_json_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_repvit_json_stop);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_repvit_json_set_caps);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_repvit_json_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_repvit_json_transform_ip);

  GST_DEBUG_CATEGORY_INIT (gst_repvit_json_debug, "repvitjson", 0,
      "RepViT-YOLO detections to JSON");
}

static void
gst_repvit_json_init (GstRepvitJson * self)
{
  self->location = g_strdup (DEFAULT_LOCATION);
  self->skip_empty = DEFAULT_SKIP_EMPTY;
  self->detections = g_array_new (FALSE, FALSE, sizeof (GstRepvitDetection));
  self->generator = json_generator_new ();
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), FALSE);
}

static void
gst_repvit_json_finalize (GObject * object)
{
  GstRepvitJson *self = GST_REPVIT_JSON (object);

  g_free (self->location);
  g_array_unref (self->detections);
  g_object_unref (self->generator);

  G_OBJECT_CLASS (gst_repvit_json_parent_class)->finalize (object);
}

static void
gst_repvit_json_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstRepvitJson *self = GST_REPVIT_JSON (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      break;
    case PROP_SKIP_EMPTY:
      self->skip_empty = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_repvit_json_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstRepvitJson *self = GST_REPVIT_JSON (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_SKIP_EMPTY:
      g_value_set_boolean (value, self->skip_empty);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_repvit_json_start (GstBaseTransform * trans)
{
  GstRepvitJson *self = GST_REPVIT_JSON (trans);

  GST_OBJECT_LOCK (self);
  self->file_name = g_strdup (self->location);
  GST_OBJECT_UNLOCK (self);

  self->frame = 0;
  self->width = self->height = 0;
  if (!self->file_name) {
    self->file = stdout;
    return TRUE;
  }
  self->file = fopen (self->file_name, "w");
  if (!self->file)
    goto open_failed;
  GST_INFO_OBJECT (self, "writing to %s", self->file_name);
  return TRUE;

  /* ERRORS */
open_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("Could not open file \"%s\" for writing.", self->file_name),
        GST_ERROR_SYSTEM);
    g_clear_pointer (&self->file_name, g_free);
    return FALSE;
  }
}

/* Writes out what stdio holds; FALSE (and an element error) if that fails. */
static gboolean
gst_repvit_json_flush (GstRepvitJson * self)
{
  if (!self->file || fflush (self->file) == 0)
    return TRUE;
  GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
      ("Could not write to file \"%s\".", self->file_name ? self->file_name :
          "stdout"), GST_ERROR_SYSTEM);
  return FALSE;
}

static gboolean
gst_repvit_json_stop (GstBaseTransform * trans)
{
  GstRepvitJson *self = GST_REPVIT_JSON (trans);
  gboolean ok = gst_repvit_json_flush (self);

  if (self->file && self->file != stdout && fclose (self->file) != 0 && ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, CLOSE,
        ("Could not close file \"%s\".", self->file_name), GST_ERROR_SYSTEM);
    ok = FALSE;
  }
  self->file = NULL;
  g_clear_pointer (&self->file_name, g_free);
  return ok;
}

static gboolean
gst_repvit_json_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    G_GNUC_UNUSED GstCaps * outcaps)
{
  GstRepvitJson *self = GST_REPVIT_JSON (trans);
  GstVideoInfo info;

  if (!gst_video_info_from_caps (&info, incaps))
    return FALSE;
  self->width = GST_VIDEO_INFO_WIDTH (&info);
  self->height = GST_VIDEO_INFO_HEIGHT (&info);
  return TRUE;
}

static gboolean
gst_repvit_json_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstRepvitJson *self = GST_REPVIT_JSON (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !gst_repvit_json_flush (self)) {
    gst_event_unref (event);
    return FALSE;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_repvit_json_parent_class)->sink_event
      (trans, event);
}

/* @v rounded to @decimals decimal places, so that JSON shows "0.87" rather
 * than the float's "0.87000000476837158". */
static gdouble
rounded (gdouble v, gint decimals)
{
  gdouble scale = 1.0;

  while (decimals--)
    scale *= 10.0;
  return (gdouble) (gint64) (v * scale + (v < 0 ? -0.5 : 0.5)) / scale;
}

static void
add_int_member (JsonBuilder * b, const gchar * name, gint64 value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_int_value (b, value);
}

static void
add_double_member (JsonBuilder * b, const gchar * name, gdouble value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_double_value (b, value);
}

/* Labels from other elements' metas need not be UTF-8; a JSON line must be
 * (invalid bytes become U+FFFD, control characters are escaped). */
static void
add_text (JsonBuilder * b, const gchar * s)
{
  gchar *valid = g_utf8_make_valid (s, -1);

  json_builder_add_string_value (b, valid);
  g_free (valid);
}

static void
add_object (GstRepvitJson * self, JsonBuilder * b, const GstRepvitDetection * d)
{
  const gchar *label = d->label ? d->label : "";
  gdouble w = MAX (self->width, 1), h = MAX (self->height, 1);

  json_builder_begin_object (b);
  add_int_member (b, "x", (gint64) rounded (d->x, 0));
  add_int_member (b, "y", (gint64) rounded (d->y, 0));
  add_int_member (b, "w", (gint64) rounded (d->w, 0));
  add_int_member (b, "h", (gint64) rounded (d->h, 0));
  if (d->track_id >= 0)
    add_int_member (b, "id", d->track_id);
  if (d->flags & GST_REPVIT_DETECTION_FLAG_PREDICTED) {
    json_builder_set_member_name (b, "predicted");
    json_builder_add_boolean_value (b, TRUE);
  }
  json_builder_set_member_name (b, "roi_type");
  add_text (b, label);

  json_builder_set_member_name (b, "detection");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "bounding_box");
  json_builder_begin_object (b);
  add_double_member (b, "x_min", rounded (d->x / w, 6));
  add_double_member (b, "y_min", rounded (d->y / h, 6));
  add_double_member (b, "x_max", rounded ((d->x + d->w) / w, 6));
  add_double_member (b, "y_max", rounded ((d->y + d->h) / h, 6));
  json_builder_end_object (b);
  if (d->confidence >= 0)
    add_double_member (b, "confidence", rounded (d->confidence, 4));
  if (d->class_id >= 0)
    add_int_member (b, "label_id", d->class_id);
  json_builder_set_member_name (b, "label");
  add_text (b, label);
  json_builder_end_object (b);

  json_builder_end_object (b);
}

static JsonNode *
frame_to_json (GstRepvitJson * self, GstBuffer * buf,
    const GstRepvitDetectionMeta * meta, guint64 frame)
{
  JsonBuilder *b = json_builder_new ();
  JsonNode *root;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "resolution");
  json_builder_begin_object (b);
  add_int_member (b, "width", self->width);
  add_int_member (b, "height", self->height);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "timestamp");
  if (GST_BUFFER_PTS_IS_VALID (buf))
    json_builder_add_int_value (b, GST_BUFFER_PTS (buf));
  else
    json_builder_add_null_value (b);
  add_int_member (b, "frame", frame);

  if (meta) {
    json_builder_set_member_name (b, "model");
    add_text (b, meta->model ? meta->model : "");
    json_builder_set_member_name (b, "input");
    json_builder_begin_object (b);
    add_int_member (b, "width", meta->input_width);
    add_int_member (b, "height", meta->input_height);
    json_builder_end_object (b);
    add_double_member (b, "inference_ms", rounded (meta->inference_ns / 1e6,
            3));
    json_builder_set_member_name (b, "stale");
    json_builder_add_boolean_value (b, meta->stale);
  }

  json_builder_set_member_name (b, "objects");
  json_builder_begin_array (b);
  for (guint i = 0; i < self->detections->len; i++)
    add_object (self, b, &g_array_index (self->detections, GstRepvitDetection,
            i));
  json_builder_end_array (b);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  g_object_unref (b);
  return root;
}

/* Appends @node as JSON. json-glib writes every double with 17 significant
 * digits ("0.48520000000000002"); the values rounded() made print exactly
 * with 15, so doubles are written here and everything else by json-glib. */
static void
append_node (JsonGenerator * gen, GString * out, JsonNode * node)
{
  gchar num[G_ASCII_DTOSTR_BUF_SIZE];

  if (JSON_NODE_HOLDS_OBJECT (node)) {
    JsonObject *o = json_node_get_object (node);
    GList *members = json_object_get_members (o);

    g_string_append_c (out, '{');
    for (GList * m = members; m; m = m->next) {
      /* member names are ours: plain ASCII */
      g_string_append_printf (out, "%s\"%s\":", m == members ? "" : ",",
          (const gchar *) m->data);
      append_node (gen, out, json_object_get_member (o, m->data));
    }
    g_string_append_c (out, '}');
    g_list_free (members);
  } else if (JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *a = json_node_get_array (node);

    g_string_append_c (out, '[');
    for (guint i = 0; i < json_array_get_length (a); i++) {
      if (i)
        g_string_append_c (out, ',');
      append_node (gen, out, json_array_get_element (a, i));
    }
    g_string_append_c (out, ']');
  } else if (json_node_get_value_type (node) == G_TYPE_DOUBLE) {
    g_string_append (out, g_ascii_formatd (num, sizeof num, "%.15g",
            json_node_get_double (node)));
  } else {
    json_generator_set_root (gen, node);
    json_generator_to_gstring (gen, out);
  }
}

/* @root as one line of JSON; free with g_free. */
static gchar *
node_to_line (JsonGenerator * gen, JsonNode * root, gsize * len)
{
  GString *out = g_string_sized_new (1024);

  append_node (gen, out, root);
  *len = out->len;
  return g_string_free (out, FALSE);
}

static GstFlowReturn
gst_repvit_json_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstRepvitJson *self = GST_REPVIT_JSON (trans);
  GstRepvitDetectionMeta *meta;
  JsonNode *root;
  gchar *line;
  gboolean skip_empty;
  gsize len;
  guint64 frame = self->frame++;

  GST_OBJECT_LOCK (self);
  skip_empty = self->skip_empty;
  GST_OBJECT_UNLOCK (self);

  meta = gst_repvit_buffer_collect_detections (buf, self->detections);
  if (skip_empty && self->detections->len == 0)
    return GST_FLOW_OK;

  root = frame_to_json (self, buf, meta, frame);
  line = node_to_line (self->generator, root, &len);
  json_node_unref (root);
  if (fwrite (line, 1, len, self->file) != len
      || fputc ('\n', self->file) == EOF)
    goto write_failed;
  g_free (line);
  return GST_FLOW_OK;

  /* ERRORS */
write_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write to file \"%s\".", self->file_name ? self->file_name :
            "stdout"), GST_ERROR_SYSTEM);
    g_free (line);
    return GST_FLOW_ERROR;
  }
}
