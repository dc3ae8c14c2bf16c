/* gstrepvityolo.c — RepViT-YOLO11 object detection as an in-place video filter.
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 */

/**
 * SECTION:element-repvityolo
 * @title: repvityolo
 * @see_also: repvitoverlay, repvitjson
 *
 * Runs a YOLO11 detector with a RepViT backbone on the CPU and attaches the
 * detections of each frame as a #GstRepvitDetectionMeta and, unless
 * #GstRepvitYolo:attach-roi-meta is %FALSE, one #GstVideoRegionOfInterestMeta
 * per detection whose "detection" parameter structure holds DL Streamer's
 * fields: `label_id` (int), `label`, `confidence` and the normalized box
 * `x_min`, `y_min`, `x_max`, `y_max`. The pixels are never changed: the frame
 * is mapped read-only and the buffer passes through.
 *
 * With #GstRepvitYolo:inference-interval N the network runs on every Nth
 * frame; the frames between, and frames that arrive late when QoS is
 * enabled, carry the last detections marked stale. No buffer is ever dropped.
 *
 * QoS (#GstBaseTransform:qos, on by default): when downstream reports that
 * frames arrive late, a late frame skips inference and passes on at once with
 * the last detections marked stale, and a QoS message counts it as dropped
 * (the frame itself is kept). repvitoverlay and repvitjson never drop late
 * frames.
 *
 * Latency: the one-time costs of the first inference (worker threads, the
 * pages of the working memory, weight packing) are paid in start(), by a
 * warm-up run of the network, and once more for the negotiated frame size
 * when caps arrive, so the first frame runs as fast as the rest. In a live
 * pipeline the element adds the 95th percentile of its last 50 inference
 * times to the reported latency, starting from the warm-up run; the figure
 * follows the load both ways, and the element posts a latency message
 * whenever it moves by more than 20% from the value last reported.
 *
 * The model is loaded when the element starts; elements of one process that
 * name the same file share the loaded weights (see
 * #GstRepvitYolo:model-info), each with its own working memory.
 *
 * #GstRepvitYolo:precision bf16 runs the dense convolutions in bfloat16 on
 * CPUs with AVX512-BF16 (about 1.6 times faster, boxes and scores within a
 * few percent of fp32), int8 runs them in 8-bit integers on CPUs with
 * AVX512-VNNI or AVX-VNNI (int8 weights per output channel, each input
 * tensor quantized per frame from its own range); on other CPUs the
 * element runs fp32 and says so in the debug log and in the "precision"
 * field of #GstRepvitYolo:model-info.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 v4l2src ! videoconvert ! repvityolo model=shapes.safetensors ! repvitoverlay ! videoconvert ! autovideosink
 * ]| Detects objects in a camera stream and draws the boxes.
 * |[
 * gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! repvityolo model=yolo.safetensors labels=coco.txt classes=person,car conf-threshold=0.4 ! repvitjson ! fakesink
 * ]| Keeps only people and cars.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

#include "gstrepvitdetections.h"
#include "gstrepvitelements.h"
#include "gstrepvitmodelcache.h"
#ifdef HAVE_GST_ANALYTICS
#include "gstrepvitanalytics.h"
#endif
#include "repvit.h"
#include "repvitmeta.h"

GST_DEBUG_CATEGORY_STATIC (gst_repvit_yolo_debug);
#define GST_CAT_DEFAULT gst_repvit_yolo_debug

#define MAX_DETECTIONS 10000

/* The reported latency: this percentile of the last LATENCY_WINDOW
 * inference times, re-posted when it moves by more than 1/LATENCY_SLACK. */
#define LATENCY_WINDOW 50
#define LATENCY_PERCENTILE 95
#define LATENCY_SLACK 5

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LABELS,
  PROP_CONF_THRESHOLD,
  PROP_IOU_THRESHOLD,
  PROP_MAX_DETECTIONS,
  PROP_INPUT_SIZE,
  PROP_RECT,
  PROP_INFERENCE_INTERVAL,
  PROP_CLASSES,
  PROP_THREADS,
  PROP_ATTACH_ROI_META,
  PROP_PRECISION,
  PROP_MODEL_INFO,
};

#define DEFAULT_CONF_THRESHOLD 0.25f
#define DEFAULT_IOU_THRESHOLD 0.7f
#define DEFAULT_MAX_DETECTIONS 300
#define DEFAULT_INPUT_SIZE 0
#define DEFAULT_RECT TRUE
#define DEFAULT_INFERENCE_INTERVAL 1
#define DEFAULT_THREADS 0
#define DEFAULT_ATTACH_ROI_META TRUE
#define DEFAULT_PRECISION RV_PRECISION_F32

#define GST_TYPE_REPVIT_YOLO_PRECISION (gst_repvit_yolo_precision_get_type ())
static GType
gst_repvit_yolo_precision_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {RV_PRECISION_F32, "32-bit floats", "fp32"},
    {RV_PRECISION_BF16, "bfloat16 dense convolutions where the CPU has "
          "AVX512-BF16, else fp32", "bf16"},
    {RV_PRECISION_INT8, "8-bit integer dense convolutions where the CPU has "
          "AVX512-VNNI or AVX-VNNI, else fp32", "int8"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("GstRepvitYoloPrecision",
            values));
  return (GType) type;
}

/* The property's name for p: fp32, bf16, int8. */
static const gchar *
precision_nick (rv_precision p)
{
  return g_enum_get_value (g_type_class_peek_static
      (GST_TYPE_REPVIT_YOLO_PRECISION), p)->value_nick;
}

#define VIDEO_CAPS GST_VIDEO_CAPS_MAKE ("{ RGB, BGR, RGBA, BGRA, RGBx, BGRx, " \
    "xRGB, xBGR, ARGB, ABGR, I420, NV12 }")

/* The pad templates' formats and how the core reads them. */
static const struct
{
  GstVideoFormat gst;
  rv_pixel_format rv;
} formats[] = {
  {GST_VIDEO_FORMAT_RGB, RV_FMT_RGB}, {GST_VIDEO_FORMAT_BGR, RV_FMT_BGR},
  {GST_VIDEO_FORMAT_RGBA, RV_FMT_RGBA}, {GST_VIDEO_FORMAT_BGRA, RV_FMT_BGRA},
  {GST_VIDEO_FORMAT_RGBx, RV_FMT_RGBX}, {GST_VIDEO_FORMAT_BGRx, RV_FMT_BGRX},
  {GST_VIDEO_FORMAT_xRGB, RV_FMT_XRGB}, {GST_VIDEO_FORMAT_xBGR, RV_FMT_XBGR},
  {GST_VIDEO_FORMAT_ARGB, RV_FMT_ARGB}, {GST_VIDEO_FORMAT_ABGR, RV_FMT_ABGR},
  {GST_VIDEO_FORMAT_I420, RV_FMT_I420}, {GST_VIDEO_FORMAT_NV12, RV_FMT_NV12},
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (VIDEO_CAPS));

#define GST_TYPE_REPVIT_YOLO (gst_repvit_yolo_get_type ())
G_DECLARE_FINAL_TYPE (GstRepvitYolo, gst_repvit_yolo, GST, REPVIT_YOLO,
    GstVideoFilter);

struct _GstRepvitYolo
{
  GstVideoFilter parent;

  /* settings and the fields read by other threads, under the object lock */
  gchar *model_path;
  gchar *labels_path;
  gfloat conf_threshold;
  gfloat iou_threshold;
  gint max_detections;
  gint input_size;
  gboolean rect;
  gboolean input_changed;       /* input-size or rect set while running */
  guint inference_interval;
  gchar *classes;
  gboolean classes_changed;     /* set in PLAYING, applied by the next frame */
  gint threads;
  gboolean attach_roi_meta;
  rv_precision precision;
  rv_precision precision_in_effect;     /* of the running context */
  GstClockTime earliest_time;   /* QoS: running time before which we are late */
  gdouble proportion;           /* QoS: as the last QoS event said */
  gboolean live;                /* as the last LATENCY query said */
  GstClockTime latency;         /* processing latency reported when live */
  GstClockTime recent_ns[LATENCY_WINDOW];       /* last inference times, */
  guint n_recent, next_recent;  /* a ring */
  rv_model *model;              /* also read by the model-info getter */
  gint in_w, in_h;              /* network input size */

  /* streaming state: written in start/stop/set_info and the streaming thread */
  rv_ctx *ctx;
  gchar *model_id;
  gint nc;
  gchar **labels;               /* nc GRefStrings, released in stop() */
  guint8 *class_mask;           /* nc bytes, NULL = every class */
  gint ctx_threads;
  rv_pixel_format format;
  rv_yuv_matrix yuv_matrix;
  rv_detection *dets;           /* MAX_DETECTIONS; the last result */
  gint n_dets;
  gboolean have_dets;
  gint dets_w, dets_h;          /* frame size of the last result */
  gint dets_in_w, dets_in_h;    /* its network input size */
  guint since_inference;        /* frames since the last result */
  guint64 n_inferences, n_skipped_late;
  GstClockTime pre_ns, forward_ns, post_ns;     /* sums, for the stop() log */
};

G_DEFINE_TYPE (GstRepvitYolo, gst_repvit_yolo, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (repvityolo, "repvityolo", GST_RANK_NONE,
    GST_TYPE_REPVIT_YOLO);

static void gst_repvit_yolo_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_repvit_yolo_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_repvit_yolo_finalize (GObject * object);
static gboolean gst_repvit_yolo_start (GstBaseTransform * trans);
static gboolean gst_repvit_yolo_stop (GstBaseTransform * trans);
static gboolean gst_repvit_yolo_src_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_repvit_yolo_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_repvit_yolo_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query);
static GstFlowReturn gst_repvit_yolo_prepare_output_buffer (GstBaseTransform *
    trans, GstBuffer * inbuf, GstBuffer ** outbuf);
static gboolean gst_repvit_yolo_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);
static GstFlowReturn gst_repvit_yolo_transform_frame_ip (GstVideoFilter *
    filter, GstVideoFrame * frame);

static void
gst_repvit_yolo_class_init (GstRepvitYoloClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS;

  GST_DEBUG_CATEGORY_INIT (gst_repvit_yolo_debug, "repvityolo", 0,
      "RepViT-YOLO11 object detection");

  gobject_class->set_property = gst_repvit_yolo_set_property;
  gobject_class->get_property = gst_repvit_yolo_get_property;
  gobject_class->finalize = gst_repvit_yolo_finalize;

  /**
   * GstRepvitYolo:model:
   *
   * The weight file (safetensors, SPEC-model.md) of the detector. Required;
   * elements of one process that name the same file share one loaded copy.
   * Set in NULL or READY.
   */
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Weight file (safetensors) of the RepViT-YOLO11 detector", NULL,
          rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstRepvitYolo:labels:
   *
   * A file of class names, one per line, exactly one per class of the model;
   * they replace the names stored in the model. Set in NULL or READY.
   */
  g_object_class_install_property (gobject_class, PROP_LABELS,
      g_param_spec_string ("labels", "Labels",
          "Optional file of class names, one per line, exactly one per "
          "class of the model (default: the names stored in the model)",
          NULL, rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstRepvitYolo:conf-threshold:
   *
   * Detections whose score is at or below this are dropped (0..1,
   * default 0.25). Takes effect from the next inference while playing.
   */
  g_object_class_install_property (gobject_class, PROP_CONF_THRESHOLD,
      g_param_spec_float ("conf-threshold", "Confidence threshold",
          "Keep detections whose score is above this", 0.0f, 1.0f,
          DEFAULT_CONF_THRESHOLD, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:iou-threshold:
   *
   * Class-aware non-maximum suppression: a box overlapping a better box
   * of its class by more than this IoU is dropped (0..1, default 0.7).
   */
  g_object_class_install_property (gobject_class, PROP_IOU_THRESHOLD,
      g_param_spec_float ("iou-threshold", "IoU threshold",
          "Non-maximum suppression removes boxes overlapping a better box of "
          "the same class by more than this", 0.0f, 1.0f,
          DEFAULT_IOU_THRESHOLD, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:max-detections:
   *
   * At most this many detections per frame, best first (default 300).
   */
  g_object_class_install_property (gobject_class, PROP_MAX_DETECTIONS,
      g_param_spec_int ("max-detections", "Maximum detections",
          "Keep at most this many detections per frame, best first", 1,
          MAX_DETECTIONS, DEFAULT_MAX_DETECTIONS,
          rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:input-size:
   *
   * The network input the frame is scaled to fit: 0 (default) for the
   * model's training size, else a multiple of 32 from 32 to 4096.
   */
  g_object_class_install_property (gobject_class, PROP_INPUT_SIZE,
      g_param_spec_int ("input-size", "Input size",
          "Network input size the frame is scaled to fit: 0 for the model's "
          "training size, else a multiple of 32 from 32 to 4096", 0, 4096,
          DEFAULT_INPUT_SIZE, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:rect:
   *
   * TRUE (default): letterbox to the smallest multiple-of-32 rectangle
   * holding the scaled frame (640x384 for 16:9 at 640); FALSE: a square.
   */
  g_object_class_install_property (gobject_class, PROP_RECT,
      g_param_spec_boolean ("rect", "Rectangular input",
          "Use the smallest multiple-of-32 rectangle holding the scaled "
          "frame instead of a square input", DEFAULT_RECT,
          rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:inference-interval:
   *
   * Run the network on every Nth frame (default 1); the frames between
   * carry the last detections with #GstRepvitDetectionMeta.stale set.
   */
  g_object_class_install_property (gobject_class, PROP_INFERENCE_INTERVAL,
      g_param_spec_uint ("inference-interval", "Inference interval",
          "Run the network on every Nth frame; frames between carry the last "
          "detections marked stale", 1, 1000, DEFAULT_INFERENCE_INTERVAL,
          rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:classes:
   *
   * Comma-separated class ids or names to keep, e.g. "person,car" or
   * "0,2"; NULL (default) keeps every class.
   */
  g_object_class_install_property (gobject_class, PROP_CLASSES,
      g_param_spec_string ("classes", "Classes",
          "Comma-separated class ids or names to keep (default: all)", NULL,
          rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:threads:
   *
   * At most this many threads run the network, taken from one pool that
   * every element of the process shares; 0 (default) takes as many as are
   * free, up to one per CPU.
   */
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "At most this many threads run the network, taken from one pool "
          "shared by every element of the process (0 = as many as are free, "
          "up to one per CPU)", 0, 256,
          DEFAULT_THREADS, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:attach-roi-meta:
   *
   * TRUE (default): besides the #GstRepvitDetectionMeta, attach one
   * #GstVideoRegionOfInterestMeta per detection (roi_type = label) with a
   * "detection" parameter structure: label_id, label, confidence and the
   * normalized box x_min, y_min, x_max, y_max.
   */
  g_object_class_install_property (gobject_class, PROP_ATTACH_ROI_META,
      g_param_spec_boolean ("attach-roi-meta", "Attach ROI meta",
          "Also attach one GstVideoRegionOfInterestMeta per detection",
          DEFAULT_ATTACH_ROI_META, rw | GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstRepvitYolo:precision:
   *
   * fp32 (default), bf16 or int8: bf16 rounds the dense convolutions'
   * weights and inputs to bfloat16 (f32 accumulation) on CPUs with
   * AVX512-BF16; int8 quantizes their weights (per output channel) and
   * inputs (per tensor and frame) to 8 bits (int32 accumulation) on CPUs
   * with AVX512-VNNI or AVX-VNNI. Either runs fp32 on other CPUs;
   * #GstRepvitYolo:model-info says which runs. Set in NULL or READY.
   */
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Arithmetic of the dense convolutions: bf16 needs a CPU with "
          "AVX512-BF16, int8 one with AVX512-VNNI or AVX-VNNI; both fall back "
          "to fp32 elsewhere (model-info tells which runs)", GST_TYPE_REPVIT_YOLO_PRECISION, DEFAULT_PRECISION,
          rw | GST_PARAM_MUTABLE_READY));
  /**
   * GstRepvitYolo:model-info:
   *
   * Read-only, NULL until the model is loaded (READY to PAUSED): a
   * "repvit-model" structure with variant, scale, classes (count),
   * class-names (the model's own names, an array), imgsz, parameters,
   * input-width, input-height, precision and shared-by (elements sharing
   * the weights).
   */
  g_object_class_install_property (gobject_class, PROP_MODEL_INFO,
      g_param_spec_boxed ("model-info", "Model information",
          "The loaded model (NULL when none): variant, scale, classes, "
          "class-names, imgsz, "
          "parameters, input-width, input-height, precision (fp32, bf16 or int8, "
          "as it runs), and shared-by, the number of elements sharing these "
          "weights", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  gst_type_mark_as_plugin_api (GST_TYPE_REPVIT_YOLO_PRECISION, 0);

  gst_element_class_set_static_metadata (element_class,
      "RepViT-YOLO11 object detection", "Filter/Analyzer/Video",
      "Detects objects with a YOLO11 network on a RepViT backbone on the CPU "
      "and attaches them as metadata: GstRepvitDetectionMeta (model, "
      "input_width, input_height, inference_ns, stale; per detection "
      "class_id, label, confidence, x, y, w, h in pixels, track_id; header "
      "<gst/repvit/repvitmeta.h>, pkg-config gstrepvitmeta-1.0, Python "
      "GstRepvit 1.0) and one GstVideoRegionOfInterestMeta per detection "
      "(\"detection\" params: label_id, label, confidence, normalized "
      "x_min, y_min, x_max, y_max)", "repvityolo developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_repvit_yolo_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_repvit_yolo_stop);
  trans_class->src_event = GST_DEBUG_FUNCPTR (gst_repvit_yolo_src_event);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_repvit_yolo_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_repvit_yolo_query);
  trans_class->prepare_output_buffer =
      GST_DEBUG_FUNCPTR (gst_repvit_yolo_prepare_output_buffer);
  /* Passthrough: the frame is mapped read-only and only metas are added. */
  trans_class->passthrough_on_same_caps = TRUE;
  trans_class->transform_ip_on_passthrough = TRUE;
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_repvit_yolo_set_info);
  filter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_repvit_yolo_transform_frame_ip);
}

static void
gst_repvit_yolo_init (GstRepvitYolo * self)
{
  self->conf_threshold = DEFAULT_CONF_THRESHOLD;
  self->iou_threshold = DEFAULT_IOU_THRESHOLD;
  self->max_detections = DEFAULT_MAX_DETECTIONS;
  self->input_size = DEFAULT_INPUT_SIZE;
  self->rect = DEFAULT_RECT;
  self->inference_interval = DEFAULT_INFERENCE_INTERVAL;
  self->threads = DEFAULT_THREADS;
  self->attach_roi_meta = DEFAULT_ATTACH_ROI_META;
  self->precision = DEFAULT_PRECISION;
  self->earliest_time = GST_CLOCK_TIME_NONE;
  self->proportion = 1.0;
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_repvit_yolo_finalize (GObject * object)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (object);

  g_free (self->model_path);
  g_free (self->labels_path);
  g_free (self->classes);

  G_OBJECT_CLASS (gst_repvit_yolo_parent_class)->finalize (object);
}

static void
gst_repvit_yolo_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (object);

  GST_OBJECT_LOCK (self);
  /* the others are read by start() and set_info() only */
  if (GST_STATE (self) > GST_STATE_READY
      && !(pspec->flags & GST_PARAM_MUTABLE_PLAYING)) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "%s can only be changed in the NULL or READY "
        "state", pspec->name);
    return;
  }
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_LABELS:
      g_free (self->labels_path);
      self->labels_path = g_value_dup_string (value);
      break;
    case PROP_CONF_THRESHOLD:
      self->conf_threshold = g_value_get_float (value);
      break;
    case PROP_IOU_THRESHOLD:
      self->iou_threshold = g_value_get_float (value);
      break;
    case PROP_MAX_DETECTIONS:
      self->max_detections = g_value_get_int (value);
      break;
    case PROP_INPUT_SIZE:
      self->input_size = g_value_get_int (value);
      self->input_changed = TRUE;
      break;
    case PROP_RECT:
      self->rect = g_value_get_boolean (value);
      self->input_changed = TRUE;
      break;
    case PROP_INFERENCE_INTERVAL:
      self->inference_interval = g_value_get_uint (value);
      break;
    case PROP_CLASSES:
      g_free (self->classes);
      self->classes = g_value_dup_string (value);
      self->classes_changed = TRUE;
      break;
    case PROP_THREADS:
      self->threads = g_value_get_int (value);
      break;
    case PROP_ATTACH_ROI_META:
      self->attach_roi_meta = g_value_get_boolean (value);
      break;
    case PROP_PRECISION:
      self->precision = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_repvit_yolo_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_LABELS:
      g_value_set_string (value, self->labels_path);
      break;
    case PROP_CONF_THRESHOLD:
      g_value_set_float (value, self->conf_threshold);
      break;
    case PROP_IOU_THRESHOLD:
      g_value_set_float (value, self->iou_threshold);
      break;
    case PROP_MAX_DETECTIONS:
      g_value_set_int (value, self->max_detections);
      break;
    case PROP_INPUT_SIZE:
      g_value_set_int (value, self->input_size);
      break;
    case PROP_RECT:
      g_value_set_boolean (value, self->rect);
      break;
    case PROP_INFERENCE_INTERVAL:
      g_value_set_uint (value, self->inference_interval);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, self->classes);
      break;
    case PROP_THREADS:
      g_value_set_int (value, self->threads);
      break;
    case PROP_ATTACH_ROI_META:
      g_value_set_boolean (value, self->attach_roi_meta);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, self->precision);
      break;
    case PROP_MODEL_INFO:
      if (self->model) {
        GstStructure *info = gst_structure_new ("repvit-model",
                "variant", G_TYPE_STRING, rv_model_variant (self->model),
                "scale", G_TYPE_STRING, rv_model_scale (self->model),
                "classes", G_TYPE_INT, rv_model_num_classes (self->model),
                "imgsz", G_TYPE_INT, rv_model_imgsz (self->model),
                "parameters", G_TYPE_UINT64, rv_model_num_params (self->model),
                "input-width", G_TYPE_INT, self->in_w,
                "input-height", G_TYPE_INT, self->in_h,
                "precision", G_TYPE_STRING,
                precision_nick (self->precision_in_effect),
                "shared-by", G_TYPE_UINT,
                gst_repvit_model_cache_users (self->model), NULL);
        GValue names = G_VALUE_INIT;

        gst_value_array_init (&names, rv_model_num_classes (self->model));
        for (gint c = 0; c < rv_model_num_classes (self->model); c++) {
          GValue name = G_VALUE_INIT;

          g_value_init (&name, G_TYPE_STRING);
          g_value_set_string (&name, rv_model_class_name (self->model, c));
          gst_value_array_append_and_take_value (&names, &name);
        }
        gst_structure_take_value (info, "class-names", &names);
        g_value_take_boxed (value, info);
      } else
        g_value_set_boxed (value, NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

#define MAX_LABELS_BYTES (1 << 20)

/* The whole of a small regular file. The type and size are checked on a
 * descriptor opened without blocking (a FIFO has no writer to wait for,
 * /dev/zero no end) before anything is read; a file that changes size while
 * read is refused. */
static gchar *
read_small_file (const gchar * path, gsize max, gsize * len, gchar ** err)
{
  struct stat st;
  gchar *buf = NULL;
  gsize got = 0;
  gssize k = 0;
  gint fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);

  if (fd < 0 || fstat (fd, &st) != 0) {
    *err = g_strdup_printf ("%s: %s", path, g_strerror (errno));
    goto done;
  }
  if (!S_ISREG (st.st_mode)) {
    *err = g_strdup_printf ("%s: not a regular file", path);
    goto done;
  }
  if ((guint64) st.st_size > max) {
    *err = g_strdup_printf ("%s: %" G_GUINT64_FORMAT " bytes, more than the "
        "%" G_GSIZE_FORMAT " bytes a labels file may have", path,
        (guint64) st.st_size, max);
    goto done;
  }
  /* one byte more than the size, to see a file that grew */
  buf = g_malloc ((gsize) st.st_size + 2);
  while (got <= (gsize) st.st_size && ((k = read (fd, buf + got,
                  (gsize) st.st_size + 1 - got)) > 0 || (k < 0
              && errno == EINTR)))
    got += k > 0 ? (gsize) k : 0;
  if (k < 0 || got != (gsize) st.st_size) {
    *err = k < 0 ? g_strdup_printf ("%s: %s", path, g_strerror (errno))
        : g_strdup_printf ("%s: the file changed while it was being read",
        path);
    g_clear_pointer (&buf, g_free);
    goto done;
  }
  buf[got] = '\0';
  *len = got;
done:
  if (fd >= 0)
    close (fd);
  return buf;
}

/* A label shows in captions, JSON and GStreamer structures: text without
 * control characters. */
static gboolean
label_ok (const gchar * s)
{
  for (; *s; s = g_utf8_next_char (s))
    if (g_unichar_iscntrl (g_utf8_get_char (s)))
      return FALSE;
  return TRUE;
}

static void
free_labels (gchar ** labels, gint n)
{
  for (gint i = 0; labels && i < n; i++)
    g_ref_string_release (labels[i]);
  g_free (labels);
}

/* Reads a labels file: UTF-8, one name per line, exactly nc of them (a BOM,
 * CR LF line ends and blank lines at the end are fine). Returns nc
 * GRefStrings, or NULL with a message in err. */
static gchar **
load_labels (const gchar * path, gint nc, gchar ** err)
{
  gchar **labels = NULL, **lines, *contents, *text;
  const gchar *bad;
  gsize len = 0;
  guint n;

  if (!(contents = read_small_file (path, MAX_LABELS_BYTES, &len, err)))
    return NULL;
  text = contents;
  if (len >= 2 && (memcmp (text, "\xff\xfe", 2) == 0
          || memcmp (text, "\xfe\xff", 2) == 0 || (text[0] == '\0') !=
          (text[1] == '\0'))) {
    *err = g_strdup_printf ("%s: the text is UTF-16; labels files are UTF-8",
        path);
    goto done;
  }
  if (len >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0) {
    text += 3;
    len -= 3;
  }
  if (memchr (text, '\0', len) != NULL) {
    *err = g_strdup_printf ("%s: a NUL byte at offset %" G_GSIZE_FORMAT
        "; labels files are UTF-8 text", path,
        (gsize) ((gchar *) memchr (text, '\0', len) - contents));
    goto done;
  }
  if (!g_utf8_validate (text, len, &bad)) {
    n = 1;
    for (const gchar * c = text; c < bad; c++)
      n += *c == '\n';
    *err = g_strdup_printf ("%s: line %u is not valid UTF-8", path, n);
    goto done;
  }
  lines = g_strsplit (text, "\n", -1);
  for (n = g_strv_length (lines); n > 0 && *g_strstrip (lines[n - 1]) == '\0';
      n--);                     /* blank lines after the last name */
  for (guint i = 0; i < n; i++) {
    const gchar *name = g_strstrip (lines[i]);

    if (*name == '\0' || !label_ok (name)) {
      *err = g_strdup_printf ("%s: line %u is %s", path, i + 1,
          *name ? "not text (it has a control character)" : "empty");
      goto split_done;
    }
  }
  if (n != (guint) nc) {
    *err = g_strdup_printf ("%s: %u names, but the model has %d classes",
        path, n, nc);
    goto split_done;
  }
  labels = g_new (gchar *, nc);
  for (guint i = 0; i < n; i++)
    labels[i] = g_ref_string_new_intern (lines[i]);
split_done:
  g_strfreev (lines);
done:
  g_free (contents);
  return labels;
}

/* Parses the classes setting ("0,person,2") into a mask of nc bytes. An
 * empty setting keeps every class: *mask is NULL. */
static gboolean
parse_classes (const gchar * classes, gchar ** labels, gint nc,
    guint8 ** mask, gchar ** err)
{
  gchar **tokens;
  gboolean ok = TRUE;

  *mask = NULL;
  if (classes == NULL || *classes == '\0')
    return TRUE;

  *mask = g_new0 (guint8, nc);
  tokens = g_strsplit (classes, ",", -1);
  for (guint i = 0; ok && tokens[i]; i++) {
    const gchar *token = g_strstrip (tokens[i]);
    guint64 id;
    gint c;

    if (g_ascii_string_to_unsigned (token, 10, 0, G_MAXINT, &id, NULL)) {
      ok = id < (guint64) nc;
      if (!ok)
        *err = g_strdup_printf ("classes: id %s out of range 0..%d", token,
            nc - 1);
      else
        (*mask)[id] = 1;
      continue;
    }
    for (c = 0; c < nc && strcmp (labels[c], token) != 0; c++);
    ok = c < nc;
    if (!ok)
      *err = g_strdup_printf ("classes: unknown class name \"%s\"", token);
    else
      (*mask)[c] = 1;
  }
  g_strfreev (tokens);
  if (!ok)
    g_clear_pointer (mask, g_free);
  return ok;
}

/* Frees everything start() made; safe on a half-started element. */
static void
gst_repvit_yolo_reset (GstRepvitYolo * self)
{
  rv_model *model;

  GST_OBJECT_LOCK (self);
  model = self->model;
  self->model = NULL;
  self->in_w = self->in_h = 0;
  GST_OBJECT_UNLOCK (self);

  g_clear_pointer (&self->ctx, rv_ctx_free);
  if (model)
    gst_repvit_model_cache_release (model);
  free_labels (self->labels, self->nc);
  self->labels = NULL;
  g_clear_pointer (&self->class_mask, g_free);
  g_clear_pointer (&self->dets, g_free);
  g_clear_pointer (&self->model_id, g_free);
  self->have_dets = FALSE;
  self->n_dets = 0;
  self->since_inference = 0;
  self->n_inferences = self->n_skipped_late = 0;
  self->pre_ns = self->forward_ns = self->post_ns = 0;
  GST_OBJECT_LOCK (self);
  self->latency = 0;
  self->n_recent = self->next_recent = 0;
  GST_OBJECT_UNLOCK (self);
}

static gint
compare_clock_time (gconstpointer a, gconstpointer b)
{
  GstClockTime x = *(const GstClockTime *) a, y = *(const GstClockTime *) b;

  return x < y ? -1 : x > y;
}

/* Adds an inference time to the window and updates the latency to report;
 * a live pipeline hears of a change by a latency message. */
static void
update_latency (GstRepvitYolo * self, GstClockTime inference_ns)
{
  GstClockTime sorted[LATENCY_WINDOW], latency;
  gboolean changed;
  guint rank;

  GST_OBJECT_LOCK (self);
  self->recent_ns[self->next_recent] = inference_ns;
  self->next_recent = (self->next_recent + 1) % LATENCY_WINDOW;
  self->n_recent = MIN (self->n_recent + 1, LATENCY_WINDOW);
  memcpy (sorted, self->recent_ns, self->n_recent * sizeof sorted[0]);
  qsort (sorted, self->n_recent, sizeof sorted[0], compare_clock_time);
  /* nearest rank: the smallest time at or above the percentile */
  rank = (self->n_recent * LATENCY_PERCENTILE + 99) / 100;
  latency = sorted[MAX (rank, 1) - 1];
  changed = self->latency == 0
      || latency > self->latency + self->latency / LATENCY_SLACK
      || latency < self->latency - self->latency / LATENCY_SLACK;
  if (changed)
    self->latency = latency;
  changed = changed && self->live;
  GST_OBJECT_UNLOCK (self);

  if (changed) {
    GST_INFO_OBJECT (self, "processing latency now %" GST_TIME_FORMAT,
        GST_TIME_ARGS (latency));
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_latency (GST_OBJECT (self)));
  }
}

/* Runs the network once on a blank input of the planned size, so that the
 * first frame does not pay for thread start, page faults or packing.
 * Returns the time it took, or GST_CLOCK_TIME_NONE when it failed. */
static GstClockTime
warm_up (GstRepvitYolo * self)
{
  GstClockTime start = gst_util_get_timestamp (), took;
  gint in_w, in_h;

  rv_ctx_get_input_size (self->ctx, &in_w, &in_h);
  memset (rv_ctx_input (self->ctx), 0, sizeof (float) * 3 * in_w * in_h);
  if (rv_ctx_forward (self->ctx) != RV_OK)
    return GST_CLOCK_TIME_NONE;
  took = gst_util_get_timestamp () - start;
  GST_DEBUG_OBJECT (self, "warm-up at %dx%d took %.1f ms", in_w, in_h,
      took / 1e6);
  return took;
}

/* Loads the model and sets up inference; start() runs it and posts the
 * error once no lock is held. */
static gboolean
gst_repvit_yolo_setup (GstRepvitYolo * self, GError ** error)
{
  gchar *model_path, *labels_path, *classes, *msg = NULL, *base;
  gint input_size, threads, nc, in_size;
  rv_precision precision;
  rv_model *model;
  rv_status status;
  gchar err[512];

  GST_OBJECT_LOCK (self);
  model_path = g_strdup (self->model_path);
  labels_path = g_strdup (self->labels_path);
  classes = g_strdup (self->classes);
  self->classes_changed = FALSE;
  input_size = self->input_size;
  threads = self->threads;
  precision = self->precision;
  self->earliest_time = GST_CLOCK_TIME_NONE;
  GST_OBJECT_UNLOCK (self);

  if (model_path == NULL || *model_path == '\0')
    goto no_model;
  if (input_size != 0 && (input_size < 32 || input_size % 32 != 0))
    goto bad_input_size;

  status = gst_repvit_model_cache_acquire (model_path, &model, err, sizeof err);
  if (status != RV_OK)
    goto load_failed;
  GST_OBJECT_LOCK (self);
  self->model = model;
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "model %s (%s-%s, %d classes) used by %u element(s)",
      model_path, rv_model_variant (model), rv_model_scale (model),
      rv_model_num_classes (model), gst_repvit_model_cache_users (model));

  if (rv_ctx_init (model, threads, &self->ctx, err, sizeof err) != RV_OK
      || rv_ctx_set_precision (self->ctx, precision, err, sizeof err) != RV_OK)
    goto ctx_failed;
  self->ctx_threads = threads;
  GST_OBJECT_LOCK (self);
  self->precision_in_effect = rv_ctx_get_precision (self->ctx);
  GST_OBJECT_UNLOCK (self);
  if (self->precision_in_effect != precision)
    GST_WARNING_OBJECT (self, "precision %s needs a CPU with %s: running "
        "fp32", precision_nick (precision), precision == RV_PRECISION_INT8
        ? "AVX512-VNNI or AVX-VNNI" : "AVX512-BF16");
  /* the frame size is not known yet: warm up at the square input size */
  in_size = input_size ? input_size : rv_model_imgsz (model);
  if (rv_ctx_set_input_size (self->ctx, in_size, in_size, err,
          sizeof err) != RV_OK || !GST_CLOCK_TIME_IS_VALID (warm_up (self)))
    goto ctx_failed;

  self->nc = nc = rv_model_num_classes (model);
  if (labels_path) {
    self->labels = load_labels (labels_path, nc, &msg);
    if (self->labels == NULL)
      goto bad_labels;
  } else {
    self->labels = g_new (gchar *, nc);
    for (gint c = 0; c < nc; c++)
      self->labels[c] = g_ref_string_new_intern (rv_model_class_name (model,
              c));
  }
  if (!parse_classes (classes, self->labels, nc, &self->class_mask, &msg))
    goto bad_classes;

  base = g_path_get_basename (model_path);
  self->model_id = g_strdup_printf ("%s-%s nc%d %s", rv_model_variant (model),
      rv_model_scale (model), nc, base);
  g_free (base);
  self->dets = g_new (rv_detection, MAX_DETECTIONS);

  g_free (model_path);
  g_free (labels_path);
  g_free (classes);
  return TRUE;

  /* ERRORS */
no_model:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        "No model file: set the \"model\" property");
    goto failed;
  }
bad_input_size:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid input-size %d: must be 0 or a multiple of 32 from 32 to "
        "4096", input_size);
    goto failed;
  }
load_failed:
  {
    if (!g_file_test (model_path, G_FILE_TEST_EXISTS))
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
          "Model file \"%s\" not found", model_path);
    else
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
          "Could not load the model file: %s (%s)", err,
          rv_status_string (status));
    goto failed;
  }
ctx_failed:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT,
        "Could not set up inference for model \"%s\": %s", model_path, err);
    goto failed;
  }
bad_labels:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid labels file: %s", msg);
    goto failed;
  }
bad_classes:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid classes property \"%s\": %s", classes, msg);
    goto failed;
  }
failed:
  {
    gst_repvit_yolo_reset (self);
    g_free (msg);
    g_free (model_path);
    g_free (labels_path);
    g_free (classes);
    return FALSE;
  }
}

/* GStreamer unflushes the sink pad before it calls start(): caps or a buffer
 * pushed from another thread could arrive before the model is loaded. The
 * stream lock holds them back until it is. */
static gboolean
gst_repvit_yolo_start (GstBaseTransform * trans)
{
  GstPad *sinkpad = GST_BASE_TRANSFORM_SINK_PAD (trans);
  GError *error = NULL;
  gboolean ok;

  GST_PAD_STREAM_LOCK (sinkpad);
  ok = gst_repvit_yolo_setup (GST_REPVIT_YOLO (trans), &error);
  GST_PAD_STREAM_UNLOCK (sinkpad);

  if (!ok) {
    gst_element_message_full (GST_ELEMENT (trans), GST_MESSAGE_ERROR,
        error->domain, error->code, g_strdup (error->message), NULL, __FILE__,
        GST_FUNCTION, __LINE__);
    g_error_free (error);
  }
  return ok;
}

static gboolean
gst_repvit_yolo_stop (GstBaseTransform * trans)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (trans);

  if (self->n_inferences > 0)
    GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " inferences (%"
        G_GUINT64_FORMAT " frames late), mean ms: pre %.2f network %.2f "
        "post %.2f", self->n_inferences, self->n_skipped_late,
        self->pre_ns / 1e6 / self->n_inferences,
        self->forward_ns / 1e6 / self->n_inferences,
        self->post_ns / 1e6 / self->n_inferences);
  gst_repvit_yolo_reset (self);
  return TRUE;
}

static gboolean
gst_repvit_yolo_src_event (GstBaseTransform * trans, GstEvent * event)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (trans);
  GstClockTimeDiff diff;
  GstClockTime timestamp;
  gdouble proportion;

  if (GST_EVENT_TYPE (event) != GST_EVENT_QOS)
    return GST_BASE_TRANSFORM_CLASS (gst_repvit_yolo_parent_class)->src_event
        (trans, event);

  /* Late frames skip inference instead of being dropped by the base class,
   * so the base class never sees the QoS event. */
  gst_event_parse_qos (event, NULL, &proportion, &diff, &timestamp);
  GST_OBJECT_LOCK (self);
  self->proportion = proportion;
  if (diff < 0 && timestamp < (GstClockTime) (-diff))
    self->earliest_time = 0;
  else
    self->earliest_time = timestamp + diff;
  GST_OBJECT_UNLOCK (self);
  return gst_pad_push_event (GST_BASE_TRANSFORM_SINK_PAD (trans), event);
}

static gboolean
gst_repvit_yolo_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    GST_OBJECT_LOCK (self);
    self->earliest_time = GST_CLOCK_TIME_NONE;
    GST_OBJECT_UNLOCK (self);
    self->have_dets = FALSE;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_repvit_yolo_parent_class)->sink_event
      (trans, event);
}

static gboolean
gst_repvit_yolo_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (trans);
  GstClockTime min, max;
  gboolean live;

  if (!GST_BASE_TRANSFORM_CLASS (gst_repvit_yolo_parent_class)->query (trans,
          direction, query))
    return FALSE;

  if (direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    /* An inferred frame leaves this element later by the inference time. */
    gst_query_parse_latency (query, &live, &min, &max);
    GST_OBJECT_LOCK (self);
    self->live = live;
    if (live) {
      min += self->latency;
      if (GST_CLOCK_TIME_IS_VALID (max))
        max += self->latency;
    }
    GST_OBJECT_UNLOCK (self);
    gst_query_set_latency (query, live, min, max);
  }
  return TRUE;
}

/* Makes the buffer writable for the metas (a shallow copy at most: the
 * memory is shared, never copied) while the frame stays mapped read-only. */
static GstFlowReturn
gst_repvit_yolo_prepare_output_buffer (G_GNUC_UNUSED GstBaseTransform *
    trans, GstBuffer * inbuf, GstBuffer ** outbuf)
{
  *outbuf = gst_buffer_is_writable (inbuf) ? inbuf : gst_buffer_copy (inbuf);
  return GST_FLOW_OK;
}

/* Sizes the network input for w x h frames and plans the context for it. */
static gboolean
plan_input (GstRepvitYolo * self, gint w, gint h, gint input_size,
    gboolean rect, gchar * err, gsize err_size)
{
  gint target = input_size ? input_size : rv_model_imgsz (self->model);
  gint in_w, in_h;

  if (rv_input_size_for_frame (w, h, target, rect, &in_w, &in_h) != RV_OK) {
    g_snprintf (err, err_size, "input-size %d: must be 0 or a multiple of 32 "
        "from 32 to 4096", input_size);
    return FALSE;
  }
  if (rv_ctx_set_input_size (self->ctx, in_w, in_h, err, err_size) != RV_OK)
    return FALSE;

  GST_OBJECT_LOCK (self);
  self->in_w = in_w;
  self->in_h = in_h;
  GST_OBJECT_UNLOCK (self);
  GST_INFO_OBJECT (self, "network input %dx%d for %dx%d frames", in_w, in_h,
      w, h);
  return TRUE;
}

static gboolean
gst_repvit_yolo_set_info (GstVideoFilter * filter,
    G_GNUC_UNUSED GstCaps * incaps, GstVideoInfo * in_info,
    G_GNUC_UNUSED GstCaps * outcaps, G_GNUC_UNUSED GstVideoInfo * out_info)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (filter);
  gint input_size, w = GST_VIDEO_INFO_WIDTH (in_info),
      h = GST_VIDEO_INFO_HEIGHT (in_info);
  gboolean rect, full_range;
  GstClockTime warm_ns;
  gchar err[256];
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats)
      && formats[i].gst != GST_VIDEO_INFO_FORMAT (in_info); i++);
  g_return_val_if_fail (i < G_N_ELEMENTS (formats), FALSE);     /* templates */
  self->format = formats[i].rv;

  /* BT.2020 and other matrices are rare in analytics; BT.601 is the default */
  full_range = in_info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255;
  if (in_info->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709)
    self->yuv_matrix = full_range ? RV_YUV_BT709_FULL : RV_YUV_BT709_LIMITED;
  else
    self->yuv_matrix = full_range ? RV_YUV_BT601_FULL : RV_YUV_BT601_LIMITED;

  GST_OBJECT_LOCK (self);
  input_size = self->input_size;
  rect = self->rect;
  self->input_changed = FALSE;
  GST_OBJECT_UNLOCK (self);

  if (!plan_input (self, w, h, input_size, rect, err, sizeof err))
    goto input_failed;
  GST_INFO_OBJECT (self, "%dx%d %s frames", w, h,
      gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (in_info)));

  /* pages of the arena planned for this size; the time starts the latency
   * window, so a live pipeline knows it before the first frame */
  warm_ns = warm_up (self);
  if (!GST_CLOCK_TIME_IS_VALID (warm_ns))
    goto warm_up_failed;
  update_latency (self, warm_ns);
  return TRUE;

  /* ERRORS */
input_failed:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Cannot run the network on %dx%d frames: %s", w, h, err), (NULL));
    return FALSE;
  }
warm_up_failed:
  {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Warm-up inference for %dx%d frames failed", w, h), (NULL));
    return FALSE;
  }
}

/* Runs the network on the frame into self->dets. */
static gboolean
infer (GstRepvitYolo * self, GstVideoFrame * frame,
    const rv_post_params * params, gint max_dets)
{
  rv_frame f = { self->format, GST_VIDEO_FRAME_WIDTH (frame),
    GST_VIDEO_FRAME_HEIGHT (frame), {NULL}, {0}, self->yuv_matrix
  };
  rv_letterbox lb;
  rv_status status;
  GstClockTime t0, t1, t2, t3;
  gint in_w, in_h;

  for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (frame); p++) {
    f.planes[p] = GST_VIDEO_FRAME_PLANE_DATA (frame, p);
    f.strides[p] = GST_VIDEO_FRAME_PLANE_STRIDE (frame, p);
  }
  rv_ctx_get_input_size (self->ctx, &in_w, &in_h);
  rv_letterbox_geometry (f.width, f.height, in_w, in_h, &lb);

  t0 = gst_util_get_timestamp ();
  status = rv_letterbox_frame (&f, &lb, rv_ctx_input (self->ctx));
  t1 = gst_util_get_timestamp ();
  if (status == RV_OK)
    status = rv_ctx_forward (self->ctx);
  t2 = gst_util_get_timestamp ();
  if (status == RV_OK)
    status = rv_ctx_postprocess (self->ctx, &lb, params, self->dets, max_dets,
        &self->n_dets);
  t3 = gst_util_get_timestamp ();
  if (status != RV_OK) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Inference failed: %s",
            rv_status_string (status)), (NULL));
    return FALSE;
  }

  self->have_dets = TRUE;
  self->dets_w = f.width;
  self->dets_h = f.height;
  self->dets_in_w = in_w;
  self->dets_in_h = in_h;
  self->n_inferences++;
  self->pre_ns += t1 - t0;
  self->forward_ns += t2 - t1;
  self->post_ns += t3 - t2;
  GST_LOG_OBJECT (self, "%d detections; ms: pre %.2f network %.2f post %.2f",
      self->n_dets, (t1 - t0) / 1e6, (t2 - t1) / 1e6, (t3 - t2) / 1e6);
  return TRUE;
}

/* Attaches self->dets, scaled to this frame's size, to the buffer. */
static void
attach_metas (GstRepvitYolo * self, GstBuffer * buf, gint w, gint h,
    gboolean stale, GstClockTime inference_ns, gboolean roi)
{
  GstRepvitDetectionMeta *meta;
  gfloat sx = (gfloat) w / self->dets_w, sy = (gfloat) h / self->dets_h;

  meta = gst_buffer_add_repvit_detection_meta (buf, self->model_id,
      self->dets_in_w, self->dets_in_h);
  meta->stale = stale;
  meta->inference_ns = inference_ns;

  for (gint i = 0; i < self->n_dets; i++) {
    const rv_detection *d = &self->dets[i];
    GstRepvitDetection det = { d->class_id, self->labels[d->class_id],
      d->score, d->x1 * sx, d->y1 * sy, (d->x2 - d->x1) * sx,
      (d->y2 - d->y1) * sy, -1, 0
    };

    gst_repvit_detection_meta_add (meta, &det);
    if (roi)
      gst_repvit_buffer_add_roi_meta (buf, &det, i, w, h);
  }
#ifdef HAVE_GST_ANALYTICS
  gst_repvit_attach_analytics_meta (buf, meta);
#endif
}

/* Applies a classes setting changed while running; a bad one is reported and
 * the previous filter stays. */
static void
update_classes (GstRepvitYolo * self, const gchar * classes)
{
  guint8 *mask;
  gchar *msg = NULL;

  if (!parse_classes (classes, self->labels, self->nc, &mask, &msg)) {
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("Invalid classes property \"%s\", keeping the previous filter: %s",
            classes, msg), (NULL));
    g_free (msg);
    return;
  }
  g_free (self->class_mask);
  self->class_mask = mask;
}

/* A late frame skipped inference: tell the application as elements that drop
 * late buffers do, counting inferences as processed and skips as dropped. */
static void
post_qos_skip (GstRepvitYolo * self, GstBuffer * buf, gboolean live,
    GstClockTime running_time, GstClockTime earliest, gdouble proportion)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstMessage *msg = gst_message_new_qos (GST_OBJECT (self), live,
      running_time, gst_segment_to_stream_time (&trans->segment,
          GST_FORMAT_TIME, GST_BUFFER_PTS (buf)), GST_BUFFER_PTS (buf),
      GST_BUFFER_DURATION (buf));

  gst_message_set_qos_values (msg, GST_CLOCK_DIFF (running_time, earliest),
      proportion, 1000000);
  gst_message_set_qos_stats (msg, GST_FORMAT_BUFFERS, self->n_inferences,
      self->n_skipped_late);
  gst_element_post_message (GST_ELEMENT (self), msg);
}

static GstFlowReturn
gst_repvit_yolo_transform_frame_ip (GstVideoFilter * filter,
    GstVideoFrame * frame)
{
  GstRepvitYolo *self = GST_REPVIT_YOLO (filter);
  GstBaseTransform *trans = GST_BASE_TRANSFORM (filter);
  GstBuffer *buf = frame->buffer;
  rv_post_params params = rv_post_params_default ();
  GstClockTime running_time, earliest, inference_ns = 0;
  gint max_dets, threads, w = GST_VIDEO_FRAME_WIDTH (frame),
      h = GST_VIDEO_FRAME_HEIGHT (frame);
  guint interval;
  gint input_size = 0;
  gboolean roi, late, run, rect = FALSE, live;
  gboolean input_changed;
  gdouble proportion;
  gchar *classes = NULL, err[256];

  GST_OBJECT_LOCK (self);
  params.conf_threshold = self->conf_threshold;
  params.iou_threshold = self->iou_threshold;
  max_dets = self->max_detections;
  interval = self->inference_interval;
  threads = self->threads;
  roi = self->attach_roi_meta;
  earliest = self->earliest_time;
  proportion = self->proportion;
  live = self->live;
  if (self->classes_changed) {
    classes = g_strdup (self->classes);
    self->classes_changed = FALSE;
  }
  input_changed = self->input_changed;
  if (input_changed) {
    input_size = self->input_size;
    rect = self->rect;
    self->input_changed = FALSE;
  }
  GST_OBJECT_UNLOCK (self);

  if (G_UNLIKELY (classes != NULL)) {
    update_classes (self, classes);
    g_free (classes);
  }
  if (G_UNLIKELY (input_changed)) {
    gint in_w, in_h;

    rv_ctx_get_input_size (self->ctx, &in_w, &in_h);
    if (!plan_input (self, w, h, input_size, rect, err, sizeof err)) {
      GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
          ("Keeping the network input size %dx%d: %s", in_w, in_h, err),
          (NULL));
      /* the context may have dropped its arena: plan the old size again */
      if (rv_ctx_set_input_size (self->ctx, in_w, in_h, err,
              sizeof err) != RV_OK)
        goto input_failed;
    }
  }
  if (G_UNLIKELY (threads != self->ctx_threads)) {
    rv_ctx_set_threads (self->ctx, threads);
    self->ctx_threads = threads;
  }
  params.max_detections = max_dets;
  params.class_mask = self->class_mask;

  /* No TIME segment (none yet, or reset by a restart racing with upstream):
   * no QoS for this frame. */
  running_time = trans->segment.format != GST_FORMAT_TIME ? GST_CLOCK_TIME_NONE
      : gst_segment_to_running_time (&trans->segment, GST_FORMAT_TIME,
      GST_BUFFER_PTS (buf));
  late = gst_base_transform_is_qos_enabled (trans)
      && GST_CLOCK_TIME_IS_VALID (earliest)
      && GST_CLOCK_TIME_IS_VALID (running_time) && running_time <= earliest;
  run = !self->have_dets || (self->since_inference + 1 >= interval && !late);
  if (late && self->have_dets && self->since_inference + 1 >= interval) {
    self->n_skipped_late++;
    GST_DEBUG_OBJECT (self, "frame at %" GST_TIME_FORMAT " is late, "
        "skipping inference", GST_TIME_ARGS (running_time));
    post_qos_skip (self, buf, live, running_time, earliest, proportion);
  }

  if (run) {
    GstClockTime start = gst_util_get_timestamp ();

    if (!infer (self, frame, &params, max_dets))
      return GST_FLOW_ERROR;
    inference_ns = gst_util_get_timestamp () - start;
    self->since_inference = 0;

    update_latency (self, inference_ns);
  } else {
    self->since_inference++;
  }

  attach_metas (self, buf, w, h, !run, inference_ns, roi);
  return GST_FLOW_OK;

  /* ERRORS */
input_failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Cannot plan the network input: %s", err), (NULL));
    return GST_FLOW_ERROR;
  }
}
