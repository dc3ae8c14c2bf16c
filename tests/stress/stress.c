/* stress.c — the repvityolo element under stress: state changes landing
 * during inference, properties changed from another thread, resolution
 * changes, odd sizes and padded strides, broken buffers, EOS, flushing
 * seeks, meta copies and latency in a live pipeline. Each test counts the
 * buffers going in and out: none may be lost, and every one that comes out
 * carries a detection meta with finite boxes inside the frame.
 *
 * The golden model has random weights; a low confidence threshold makes it
 * detect something in any picture. */
#include <math.h>
#include <string.h>

#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "repvit.h"
#include "repvitmeta.h"

#define TARGET 96               /* input-size: fast */
#define TIMEOUT_US (180 * G_USEC_PER_SEC)

/* ---- frames and metas ---------------------------------------------------- */

/* Fills every component of a mapped frame with a pattern of seed. */
static void
fill_frame (GstVideoFrame * frame, guint seed)
{
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (frame); c++) {
    guint8 *data = GST_VIDEO_FRAME_COMP_DATA (frame, c);
    gint stride = GST_VIDEO_FRAME_COMP_STRIDE (frame, c);
    gint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c);
    gint cw = GST_VIDEO_FRAME_COMP_WIDTH (frame, c);
    gint ch = GST_VIDEO_FRAME_COMP_HEIGHT (frame, c);

    for (gint y = 0; y < ch; y++)
      for (gint x = 0; x < cw; x++)
        data[(gsize) y * stride + (gsize) x * pstride] =
            (guint8) ((x * 255 / cw) ^ (((x + seed * 8) / 8 + y / 8) & 1 ?
                200 : 30) ^ (c * 85));
  }
}

static GstBuffer *
make_frame (GstVideoFormat fmt, gint w, gint h, guint seed)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  GstBuffer *buf;

  fail_unless (gst_video_info_set_format (&info, fmt, w, h));
  buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_WRITE));
  fill_frame (&frame, seed);
  gst_video_frame_unmap (&frame);
  return buf;
}

static gchar *
caps_string (GstVideoFormat fmt, gint w, gint h)
{
  return g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,"
      "framerate=30/1", gst_video_format_to_string (fmt), w, h);
}

/* The detection meta of buf, its boxes finite and inside a w x h frame;
 * returns the number of detections. */
static guint
check_meta (GstBuffer * buf, gint w, gint h)
{
  GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);
  guint n;

  fail_unless (meta != NULL, "a buffer without detection meta");
  n = gst_repvit_detection_meta_get_count (meta);
  for (guint i = 0; i < n; i++) {
    const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);

    fail_unless (isfinite (d->x) && isfinite (d->y) && isfinite (d->w)
        && isfinite (d->h) && isfinite (d->confidence), "non-finite box");
    fail_unless (d->x >= 0 && d->y >= 0 && d->w >= 0 && d->h >= 0
        && d->x + d->w <= w + 1e-3f && d->y + d->h <= h + 1e-3f,
        "box %f,%f %fx%f outside the %dx%d frame", d->x, d->y, d->w, d->h,
        w, h);
  }
  return n;
}

/* ---- harness and pipelines ----------------------------------------------- */

static GstElement *
element_new (gint target)
{
  GstElement *el = gst_element_factory_make ("repvityolo", NULL);

  fail_unless (el != NULL);
  g_object_set (el, "model", GOLDEN_MODEL, "conf-threshold", 0.01f,
      "input-size", target, "threads", 1, NULL);
  return el;
}

static GstHarness *
harness_new (gint target)
{
  GstElement *el = element_new (target);
  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");

  gst_object_unref (el);
  return h;
}

static void
harness_set_caps (GstHarness * h, GstVideoFormat fmt, gint w, gint h_)
{
  gchar *caps = caps_string (fmt, w, h_);

  gst_harness_set_src_caps_str (h, caps);
  g_free (caps);
}

static GstBuffer *
push_pull (GstHarness * h, GstBuffer * buf)
{
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  return gst_harness_pull (h);
}

/* Buffers through the element of a pipeline, counted by pad probes. */
typedef struct
{
  gint in, out, no_meta, inferring, stale, flushes;
  gboolean first_stale;         /* of the first buffer after a flush */
  guint64 max_inference_ns;
} Flow;

static GstPadProbeReturn
count_in (G_GNUC_UNUSED GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Flow *flow = data;

  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    g_atomic_int_inc (&flow->in);
    g_atomic_int_set (&flow->inferring, 1);
  } else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) ==
      GST_EVENT_FLUSH_STOP) {
    g_atomic_int_set (&flow->in, 0);
  }
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
count_out (G_GNUC_UNUSED GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Flow *flow = data;
  GstRepvitDetectionMeta *meta;

  if (!(info->type & GST_PAD_PROBE_TYPE_BUFFER)) {
    if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) ==
        GST_EVENT_FLUSH_STOP) {
      g_atomic_int_set (&flow->out, 0);
      g_atomic_int_inc (&flow->flushes);
    }
    return GST_PAD_PROBE_OK;
  }
  meta = gst_buffer_get_repvit_detection_meta (GST_PAD_PROBE_INFO_BUFFER
      (info));
  if (meta == NULL) {
    g_atomic_int_inc (&flow->no_meta);
  } else {
    if (g_atomic_int_get (&flow->out) == 0)
      flow->first_stale = meta->stale;
    if (meta->stale)
      g_atomic_int_inc (&flow->stale);
    if (meta->inference_ns > flow->max_inference_ns)
      flow->max_inference_ns = meta->inference_ns;
  }
  g_atomic_int_set (&flow->inferring, 0);
  g_atomic_int_inc (&flow->out);
  return GST_PAD_PROBE_OK;
}

/* videotestsrc ! caps ! repvityolo name=det ! fakesink, probes on det. */
static GstElement *
pipeline_new (const gchar * src_props, const gchar * det_props,
    const gchar * sink_props, Flow * flow)
{
  gchar *launch = g_strdup_printf ("videotestsrc %s ! video/x-raw,"
      "format=RGB,width=160,height=120,framerate=30/1 ! repvityolo name=det "
      "model=\"%s\" input-size=%d threads=1 conf-threshold=0.01 %s ! "
      "fakesink %s", src_props, GOLDEN_MODEL, TARGET, det_props, sink_props);
  GstElement *pipeline = gst_parse_launch (launch, NULL);
  GstElement *det;
  GstPad *pad;

  fail_unless (pipeline != NULL);
  det = gst_bin_get_by_name (GST_BIN (pipeline), "det");
  pad = gst_element_get_static_pad (det, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_FLUSH, count_in, flow, NULL);
  gst_object_unref (pad);
  pad = gst_element_get_static_pad (det, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_EVENT_FLUSH, count_out, flow, NULL);
  gst_object_unref (pad);
  gst_object_unref (det);
  g_free (launch);
  return pipeline;
}

static void
wait_for_output (Flow * flow, gint at_least)
{
  gint64 end = g_get_monotonic_time () + TIMEOUT_US;

  while (g_atomic_int_get (&flow->out) < at_least
      && g_get_monotonic_time () < end)
    g_usleep (1000);
  fail_unless (g_atomic_int_get (&flow->out) >= at_least,
      "%d buffers out, %d expected", g_atomic_int_get (&flow->out), at_least);
}

static void
assert_no_error (GstElement * pipeline)
{
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

  if (msg) {
    GError *err;
    gchar *dbg;

    gst_message_parse_error (msg, &err, &dbg);
    fail ("error from %s: %s (%s)", GST_MESSAGE_SRC_NAME (msg), err->message,
        dbg);
  }
  gst_object_unref (bus);
}

/* ---- state changes ------------------------------------------------------- */

/* 40 NULL <-> PLAYING cycles of a pipeline, NULL landing at a random time,
 * mostly while a frame is inferred. A buffer taken in is pushed on, except
 * the one in flight when the source pad was deactivated (GStreamer drops it
 * at the flushing pad). */
GST_START_TEST (test_state_cycles_pipeline)
{
  Flow flow = { 0 };
  GstElement *pipeline = pipeline_new ("is-live=false", "", "sync=false",
      &flow);
  gint landed = 0, dropped = 0;

  for (gint cycle = 0; cycle < 40; cycle++) {
    g_atomic_int_set (&flow.in, 0);
    g_atomic_int_set (&flow.out, 0);
    fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    wait_for_output (&flow, 1 + cycle % 3);
    g_usleep (g_random_int_range (0, 8000));
    landed += g_atomic_int_get (&flow.inferring);
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_unless (flow.in - flow.out == 0 || flow.in - flow.out == 1,
        "cycle %d: %d buffers in, %d out", cycle, flow.in, flow.out);
    dropped += flow.in - flow.out;
    flow.inferring = 0;
    assert_no_error (pipeline);
  }
  fail_unless_equals_int (flow.no_meta, 0);
  fail_unless (landed > 0, "no state change landed during an inference");
  GST_INFO ("%d of 40 state changes landed during an inference, %d buffers "
      "dropped at the flushing pad", landed, dropped);
  gst_object_unref (pipeline);
}

GST_END_TEST;

typedef struct
{
  GstHarness *h;
  GstCaps *caps;
  gint stop, ok, flushing, renegotiated;
} Pusher;

/* gst_harness_set_src_caps without its assertions: the element may be
 * flushing again by now, and then the pad resends both on activation. */
static void
resend_caps_and_segment (GstHarness * h, GstCaps * caps)
{
  GstSegment segment;

  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (h->srcpad, gst_event_new_caps (caps));
  gst_pad_push_event (h->srcpad, gst_event_new_segment (&segment));
}

static gpointer
push_loop (gpointer data)
{
  Pusher *p = data;
  GstBuffer *frame = make_frame (GST_VIDEO_FORMAT_RGB, 96, 72, 1);
  guint64 n = 0;

  while (!g_atomic_int_get (&p->stop)) {
    GstBuffer *buf = gst_buffer_copy (frame);
    GstFlowReturn ret;

    GST_BUFFER_PTS (buf) = n++ * GST_SECOND / 30;
    ret = gst_harness_push (p->h, buf);
    if (ret == GST_FLOW_OK) {
      g_atomic_int_inc (&p->ok);
    } else if (ret == GST_FLOW_NOT_NEGOTIATED) {
      /* The caps landed in GStreamer's own window: gst_pad_activate_mode
       * accepts data (and has this pad resend its events) before it calls
       * GstBaseTransform's activate, which then forgets them
       * (priv->negotiated = FALSE). A pipeline never pushes into an element
       * it is still activating; this thread does, so it sends them again. */
      resend_caps_and_segment (p->h, p->caps);
      g_atomic_int_inc (&p->renegotiated);
    } else {
      /* the element is not PLAYING: the pad refuses the buffer */
      fail_unless_equals_int (ret, GST_FLOW_FLUSHING);
      g_atomic_int_inc (&p->flushing);
      g_usleep (500);
    }
  }
  gst_buffer_unref (frame);
  return NULL;
}

/* The same with a thread pushing into the element: each push that returned
 * OK gave exactly one buffer out, with its meta. */
GST_START_TEST (test_state_cycles_push_thread)
{
  gchar *caps = caps_string (GST_VIDEO_FORMAT_RGB, 96, 72);
  Pusher p = { harness_new (TARGET), gst_caps_from_string (caps), 0, 0, 0, 0 };
  GThread *thread;
  GstBuffer *buf;
  gint pulled = 0;

  g_free (caps);
  gst_harness_set_src_caps (p.h, gst_caps_ref (p.caps));
  thread = g_thread_new ("pusher", push_loop, &p);
  for (gint cycle = 0; cycle < 40; cycle++) {
    gint before = g_atomic_int_get (&p.ok);
    gint64 end = g_get_monotonic_time () + TIMEOUT_US;

    fail_if (gst_element_set_state (p.h->element, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE);
    while (g_atomic_int_get (&p.ok) == before && g_get_monotonic_time () < end)
      g_usleep (1000);
    fail_unless (g_atomic_int_get (&p.ok) > before, "cycle %d: no buffer",
        cycle);
    g_usleep (g_random_int_range (0, 8000));
    fail_unless_equals_int (gst_element_set_state (p.h->element,
            GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    while ((buf = gst_harness_try_pull (p.h))) {
      check_meta (buf, 96, 72);
      gst_buffer_unref (buf);
      pulled++;
    }
  }
  g_atomic_int_set (&p.stop, 1);
  g_thread_join (thread);
  while ((buf = gst_harness_try_pull (p.h))) {
    check_meta (buf, 96, 72);
    gst_buffer_unref (buf);
    pulled++;
  }
  fail_unless_equals_int (pulled, p.ok);
  GST_INFO ("%d buffers through, %d pushes refused while stopped, %d caps "
      "sent again", p.ok, p.flushing, p.renegotiated);
  gst_caps_unref (p.caps);
  gst_harness_teardown (p.h);
}

GST_END_TEST;

/* ---- properties changed while PLAYING ------------------------------------ */

typedef struct
{
  GstElement *det;
  gint stop, rounds;
} Hammer;

static gpointer
hammer_loop (gpointer data)
{
  Hammer *hm = data;
  static const gchar *classes[] = { NULL, "class1,class3", "0,5,79",
    "class0", "unicorn"
  };

  for (gint i = 0; !g_atomic_int_get (&hm->stop); i++) {
    GstStructure *info;

    g_object_set (hm->det, "conf-threshold", (i % 100) / 100.0f,
        "iou-threshold", (i % 97) / 97.0f, "inference-interval", 1 + i % 5,
        "max-detections", 1 + i % 300, "attach-roi-meta", i % 2,
        "threads", 1 + i % 2, NULL);
    /* an unknown class is warned about and the previous filter stays */
    if (i % 7 == 0)
      g_object_set (hm->det, "classes", classes[(i / 7) % 5], NULL);
    g_object_get (hm->det, "model-info", &info, NULL);
    if (info)
      gst_structure_free (info);
    g_atomic_int_inc (&hm->rounds);
    g_usleep (100);
  }
  return NULL;
}

GST_START_TEST (test_property_hammer)
{
  Flow flow = { 0 };
  GstElement *pipeline = pipeline_new ("is-live=false", "", "sync=false",
      &flow);
  Hammer hm = { gst_bin_get_by_name (GST_BIN (pipeline), "det"), 0, 0 };
  GThread *thread;

  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  wait_for_output (&flow, 1);
  thread = g_thread_new ("hammer", hammer_loop, &hm);
  wait_for_output (&flow, 15);
  g_atomic_int_set (&hm.stop, 1);
  g_thread_join (thread);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);

  assert_no_error (pipeline);
  fail_unless (flow.in - flow.out == 0 || flow.in - flow.out == 1);
  fail_unless_equals_int (flow.no_meta, 0);
  fail_unless (flow.stale > 0, "inference-interval never took effect");
  fail_unless (hm.rounds > 100, "only %d rounds of property changes",
      hm.rounds);
  GST_INFO ("%d frames while %d rounds of property changes", flow.out,
      hm.rounds);
  gst_object_unref (hm.det);
  gst_object_unref (pipeline);
}

GST_END_TEST;

/* ---- sizes and layouts --------------------------------------------------- */

static void
push_size (GstHarness * h, GstVideoFormat fmt, gint w, gint h_, gint target)
{
  GstBuffer *out;
  GstRepvitDetectionMeta *meta;
  gint in_w, in_h;

  harness_set_caps (h, fmt, w, h_);
  out = push_pull (h, make_frame (fmt, w, h_, (guint) (w + h_)));
  check_meta (out, w, h_);
  meta = gst_buffer_get_repvit_detection_meta (out);
  fail_unless (rv_input_size_for_frame (w, h_, target, true, &in_w,
          &in_h) == RV_OK);
  fail_unless (meta->input_width == (guint) in_w
      && meta->input_height == (guint) in_h && !meta->stale,
      "%dx%d frame: input %ux%u, %dx%d expected", w, h_, meta->input_width,
      meta->input_height, in_w, in_h);
  gst_buffer_unref (out);
}

GST_START_TEST (test_resolution_changes)
{
  static const gint sizes[][2] = { {640, 480}, {1280, 720}, {1, 1}, {4097, 3},
  {20, 20}, {1920, 1080}, {3, 4097}
  };
  GstHarness *h = harness_new (TARGET);

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    push_size (h, GST_VIDEO_FORMAT_RGB, sizes[i][0], sizes[i][1], TARGET);
    push_size (h, GST_VIDEO_FORMAT_I420, sizes[i][0], sizes[i][1], TARGET);
  }
  fail_unless_equals_int (gst_harness_buffers_received (h),
      2 * G_N_ELEMENTS (sizes));
  gst_harness_teardown (h);

  /* landscape and portrait: the network input (64x32, 32x64) changes every
   * frame */
  h = harness_new (64);
  for (gint i = 0; i < 500; i++)
    push_size (h, GST_VIDEO_FORMAT_BGRx, i % 2 ? 160 : 60, i % 2 ? 60 : 160,
        64);
  fail_unless_equals_int (gst_harness_buffers_received (h), 500);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* A copy of the tightly packed frame src with rows padded by extra bytes and
 * planes moved by offset bytes, described by a GstVideoMeta; the padding is
 * noise. */
static GstBuffer *
pad_frame (GstBuffer * src, GstVideoFormat fmt, gint w, gint h, gint extra,
    gint offset)
{
  GstVideoInfo info;
  GstVideoFrame in, out;
  gsize offsets[GST_VIDEO_MAX_PLANES] = { 0 }, size = 0;
  gint strides[GST_VIDEO_MAX_PLANES] = { 0 };
  GstBuffer *buf;
  GstMapInfo map;

  gst_video_info_set_format (&info, fmt, w, h);
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (&info); p++) {
    /* in these formats component p lies in plane p */
    gint rows = GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT (info.finfo, p, h);

    strides[p] = GST_VIDEO_INFO_PLANE_STRIDE (&info, p) + extra + 3 * p;
    offsets[p] = size + offset;
    size = offsets[p] + (gsize) strides[p] * rows;
  }
  buf = gst_buffer_new_allocate (NULL, size + 64, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++)
    map.data[i] = (guint8) (i * 131 + 7);
  gst_buffer_unmap (buf, &map);
  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE, fmt, w, h,
      GST_VIDEO_INFO_N_PLANES (&info), offsets, strides);

  fail_unless (gst_video_frame_map (&in, &info, src, GST_MAP_READ));
  fail_unless (gst_video_frame_map (&out, &info, buf, GST_MAP_WRITE));
  fail_unless_equals_int (GST_VIDEO_FRAME_PLANE_STRIDE (&out, 0), strides[0]);
  fail_unless (gst_video_frame_copy (&out, &in));
  gst_video_frame_unmap (&out);
  gst_video_frame_unmap (&in);
  return buf;
}

/* Odd sizes, rows padded, planes at offsets: the detections are those of
 * the same picture tightly packed. */
GST_START_TEST (test_padded_strides)
{
  static const struct
  {
    GstVideoFormat fmt;
    gint w, h, extra, offset;
  } cases[] = {
    {GST_VIDEO_FORMAT_RGB, 33, 17, 13, 7},
    {GST_VIDEO_FORMAT_BGRA, 161, 91, 64, 4096},
    {GST_VIDEO_FORMAT_I420, 35, 19, 9, 5},
    {GST_VIDEO_FORMAT_NV12, 127, 63, 33, 1},
    {GST_VIDEO_FORMAT_I420, 1, 1, 1, 3},
  };
  GstHarness *h = harness_new (TARGET);
  guint found = 0;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    GstBuffer *packed = make_frame (cases[i].fmt, cases[i].w, cases[i].h, i);
    GstBuffer *padded = pad_frame (packed, cases[i].fmt, cases[i].w,
        cases[i].h, cases[i].extra, cases[i].offset);
    GstBuffer *a, *b;
    GstRepvitDetectionMeta *ma, *mb;
    guint n;

    harness_set_caps (h, cases[i].fmt, cases[i].w, cases[i].h);
    a = push_pull (h, packed);
    b = push_pull (h, padded);
    n = check_meta (a, cases[i].w, cases[i].h);
    fail_unless_equals_int (check_meta (b, cases[i].w, cases[i].h), n);
    ma = gst_buffer_get_repvit_detection_meta (a);
    mb = gst_buffer_get_repvit_detection_meta (b);
    for (guint d = 0; d < n; d++) {
      const GstRepvitDetection *x = gst_repvit_detection_meta_get (ma, d);
      const GstRepvitDetection *y = gst_repvit_detection_meta_get (mb, d);

      fail_unless (x->class_id == y->class_id && x->confidence ==
          y->confidence && x->x == y->x && x->y == y->y && x->w == y->w
          && x->h == y->h, "%s %dx%d: detection %u differs with padding",
          gst_video_format_to_string (cases[i].fmt), cases[i].w, cases[i].h,
          d);
    }
    found += n;
    gst_buffer_unref (a);
    gst_buffer_unref (b);
  }
  fail_unless (found > 0, "nothing detected: a vacuous comparison");
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- broken buffers, EOS --------------------------------------------------- */

/* A buffer too small for the caps cannot be mapped as a frame: GstVideoFilter
 * posts a warning ("invalid video buffer received") and passes it on
 * untouched, so it comes out without a meta and nothing is lost. A buffer
 * without timestamps is inferred like any other. */
GST_START_TEST (test_bad_buffers)
{
  GstHarness *h = harness_new (TARGET);
  GstBus *bus = gst_bus_new ();
  GstBuffer *out, *frame = make_frame (GST_VIDEO_FORMAT_RGB, 64, 48, 0);
  GstMessage *msg;
  gsize sizes[] = { 0, 1, 100, gst_buffer_get_size (frame) - 1 };

  gst_element_set_bus (h->element, bus);
  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 64, 48);
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
    GstBuffer *buf = gst_buffer_copy_region (frame, GST_BUFFER_COPY_ALL, 0,
        sizes[i]);

    out = push_pull (h, buf);
    fail_unless_equals_uint64 (gst_buffer_get_size (out), sizes[i]);
    fail_unless (gst_buffer_get_repvit_detection_meta (out) == NULL);
    gst_buffer_unref (out);
    msg = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING | GST_MESSAGE_ERROR);
    fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING,
        "%" G_GSIZE_FORMAT "-byte buffer: no warning", sizes[i]);
    gst_message_unref (msg);
  }

  /* without timestamps: inferred, timestamps stay unset */
  GST_BUFFER_PTS (frame) = GST_BUFFER_DTS (frame) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (frame) = GST_CLOCK_TIME_NONE;
  out = push_pull (h, gst_buffer_ref (frame));
  check_meta (out, 64, 48);
  fail_if (gst_buffer_get_repvit_detection_meta (out)->stale);
  fail_if (GST_BUFFER_PTS_IS_VALID (out));
  gst_buffer_unref (out);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR) == NULL);

  fail_unless_equals_int (gst_harness_buffers_received (h),
      G_N_ELEMENTS (sizes) + 1);
  gst_buffer_unref (frame);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* N frames then EOS: N buffers with metas, then one EOS. */
GST_START_TEST (test_eos_after_n)
{
  GstHarness *h = harness_new (TARGET);
  GstEvent *ev;
  gint eos = 0, stale = 0;

  gst_util_set_object_arg (G_OBJECT (h->element), "inference-interval", "3");
  harness_set_caps (h, GST_VIDEO_FORMAT_I420, 80, 60);
  for (gint i = 0; i < 7; i++)
    fail_unless_equals_int (gst_harness_push (h,
            make_frame (GST_VIDEO_FORMAT_I420, 80, 60, i)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 7);
  for (gint i = 0; i < 7; i++) {
    GstBuffer *buf = gst_harness_pull (h);

    check_meta (buf, 80, 60);
    stale += gst_buffer_get_repvit_detection_meta (buf)->stale;
    gst_buffer_unref (buf);
  }
  fail_unless_equals_int (stale, 4);    /* frames 1, 2, 4, 5 */
  while ((ev = gst_harness_try_pull_event (h))) {
    eos += GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless_equals_int (eos, 1);
  fail_unless (gst_harness_try_pull (h) == NULL);
  gst_harness_teardown (h);
}

GST_END_TEST;

/* ---- flushing seeks -------------------------------------------------------- */

/* Flushing seeks while frames are inferred; after the last one, a segment of
 * one second gives its 30 frames out, the first inferred afresh (no stale
 * result from before the flush), then one EOS. */
GST_START_TEST (test_flushing_seeks)
{
  Flow flow = { 0 };
  GstElement *pipeline = pipeline_new ("is-live=false",
      "inference-interval=5", "sync=false", &flow);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg;

  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_element_get_state (pipeline, NULL, NULL,
          GST_CLOCK_TIME_NONE), GST_STATE_CHANGE_SUCCESS);
  for (gint i = 0; i < 20; i++) {
    wait_for_output (&flow, 1 + i % 3);
    g_usleep (g_random_int_range (0, 5000));
    fail_unless (gst_element_seek_simple (pipeline, GST_FORMAT_TIME,
            GST_SEEK_FLAG_FLUSH, g_random_int_range (0, 100) * GST_SECOND));
  }
  wait_for_output (&flow, 1);
  fail_unless (gst_element_seek (pipeline, 1.0, GST_FORMAT_TIME,
          GST_SEEK_FLAG_FLUSH | GST_SEEK_FLAG_ACCURATE, GST_SEEK_TYPE_SET,
          10 * GST_SECOND, GST_SEEK_TYPE_SET, 11 * GST_SECOND));
  msg = gst_bus_timed_pop_filtered (bus, 120 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS);
  gst_message_unref (msg);

  fail_unless (flow.flushes >= 21, "%d flushes", flow.flushes);
  fail_unless_equals_int (flow.in, 30);
  fail_unless_equals_int (flow.out, 30);
  fail_if (flow.first_stale, "a stale result survived the flush");
  fail_unless_equals_int (flow.no_meta, 0);
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_EOS) == NULL);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GST_END_TEST;

/* ---- metas, latency -------------------------------------------------------- */

static void
assert_metas_equal (GstBuffer * a, GstBuffer * b)
{
  GstRepvitDetectionMeta *ma = gst_buffer_get_repvit_detection_meta (a);
  GstRepvitDetectionMeta *mb = gst_buffer_get_repvit_detection_meta (b);
  guint n = gst_repvit_detection_meta_get_count (ma), rois = 0;
  gpointer state = NULL;

  fail_unless (mb != NULL && ma != mb);
  fail_unless_equals_int (gst_repvit_detection_meta_get_count (mb), n);
  fail_unless_equals_string (mb->model, ma->model);
  fail_unless (mb->input_width == ma->input_width && mb->input_height ==
      ma->input_height && mb->stale == ma->stale && mb->inference_ns ==
      ma->inference_ns);
  for (guint i = 0; i < n; i++)
    fail_unless (memcmp (gst_repvit_detection_meta_get (ma, i),
            gst_repvit_detection_meta_get (mb, i),
            sizeof (GstRepvitDetection)) == 0);
  while (gst_buffer_iterate_meta_filtered (b, &state,
          GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE))
    rois++;
  fail_unless_equals_int (rois, n);
}

/* The meta is copied with the buffer (shallow and deep) and outlives the
 * original. */
GST_START_TEST (test_meta_survives_copy)
{
  GstHarness *h = harness_new (TARGET);
  GstBuffer *out, *copy, *deep;

  harness_set_caps (h, GST_VIDEO_FORMAT_RGB, 200, 150);
  out = push_pull (h, make_frame (GST_VIDEO_FORMAT_RGB, 200, 150, 3));
  fail_unless (check_meta (out, 200, 150) > 0);
  copy = gst_buffer_copy (out);
  deep = gst_buffer_copy_deep (out);
  assert_metas_equal (out, copy);
  assert_metas_equal (out, deep);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  /* the element is gone: the copies hold everything they point to */
  assert_metas_equal (copy, deep);
  check_meta (deep, 200, 150);
  gst_buffer_unref (copy);
  gst_buffer_unref (deep);
}

GST_END_TEST;

/* A live pipeline: the LATENCY query is answered, live, with at least the
 * inference time of the frames seen so far. */
GST_START_TEST (test_latency_live_pipeline)
{
  Flow flow = { 0 };
  GstElement *pipeline = pipeline_new ("is-live=true", "", "sync=true", &flow);
  GstQuery *query = gst_query_new_latency ();
  GstClockTime min, max;
  guint64 seen;
  gboolean live;

  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  wait_for_output (&flow, 5);
  seen = flow.max_inference_ns;
  fail_unless (seen > 0);
  fail_unless (gst_element_query (pipeline, query));
  gst_query_parse_latency (query, &live, &min, &max);
  fail_unless (live);
  fail_unless (min >= seen, "latency %" GST_TIME_FORMAT " below an inference "
      "time of %" GST_TIME_FORMAT, GST_TIME_ARGS (min), GST_TIME_ARGS (seen));
  fail_unless (!GST_CLOCK_TIME_IS_VALID (max) || max >= min);
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  assert_no_error (pipeline);
  fail_unless (flow.in - flow.out == 0 || flow.in - flow.out == 1);
  fail_unless_equals_int (flow.no_meta, 0);
  gst_query_unref (query);
  gst_object_unref (pipeline);
}

GST_END_TEST;

static Suite *
repvityolo_stress_suite (void)
{
  Suite *s = suite_create ("repvityolo-stress");
  TCase *tc = tcase_create ("stress");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_state_cycles_pipeline);
  tcase_add_test (tc, test_state_cycles_push_thread);
  tcase_add_test (tc, test_property_hammer);
  tcase_add_test (tc, test_resolution_changes);
  tcase_add_test (tc, test_padded_strides);
  tcase_add_test (tc, test_bad_buffers);
  tcase_add_test (tc, test_eos_after_n);
  tcase_add_test (tc, test_flushing_seeks);
  tcase_add_test (tc, test_meta_survives_copy);
  tcase_add_test (tc, test_latency_live_pipeline);
  return s;
}

GST_CHECK_MAIN (repvityolo_stress);
