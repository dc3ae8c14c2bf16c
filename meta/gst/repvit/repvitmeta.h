/* repvitmeta.h — detection metadata attached by the repvityolo element.
 *
 * Reading detections in an application (pad probe or appsink):
 *
 *   GstRepvitDetectionMeta *meta = gst_buffer_get_repvit_detection_meta (buf);
 *   if (meta) {
 *     for (guint i = 0; i < gst_repvit_detection_meta_get_count (meta); i++) {
 *       const GstRepvitDetection *d = gst_repvit_detection_meta_get (meta, i);
 *       g_print ("%s %.2f at %.0f,%.0f %.0fx%.0f\n", d->label, d->confidence,
 *           d->x, d->y, d->w, d->h);
 *     }
 *   }
 *
 * Boxes are in pixels of the buffer the meta is attached to; the transform
 * function keeps the meta on copies and rescales it through videoscale.
 *
 * Include it as <gst/repvit/repvitmeta.h> (pkg-config gstrepvitmeta-1.0).
 * Python reads and edits the same fields through GObject Introspection
 * (namespace GstRepvit 1.0, see examples/python/detections.py).
 */
#ifndef GST_REPVIT_META_H
#define GST_REPVIT_META_H

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

#ifndef GST_REPVIT_META_API
# ifdef BUILDING_GST_REPVIT_META
#  define GST_REPVIT_META_API __attribute__ ((visibility ("default")))
# else
#  define GST_REPVIT_META_API
# endif
#endif

/**
 * GstRepvitDetectionFlags:
 * @GST_REPVIT_DETECTION_FLAG_NONE: no flag
 * @GST_REPVIT_DETECTION_FLAG_PREDICTED: the box is a tracker's prediction for
 *   a frame the detector did not run on (repvittrack on stale frames)
 */
typedef enum {
  GST_REPVIT_DETECTION_FLAG_NONE = 0,
  GST_REPVIT_DETECTION_FLAG_PREDICTED = (1 << 0),
} GstRepvitDetectionFlags;

/**
 * GstRepvitDetection:
 * @class_id: class index in the model
 * @label: class name, valid as long as the meta
 * @confidence: score 0..1
 * @x: left edge, pixels
 * @y: top edge, pixels
 * @w: width, pixels
 * @h: height, pixels
 * @track_id: -1 until a tracker fills it
 * @flags: #GstRepvitDetectionFlags; 0 for a box the detector found
 */
typedef struct {
  gint class_id;
  const gchar *label;
  gfloat confidence;
  gfloat x, y, w, h;
  gint64 track_id;
  GstRepvitDetectionFlags flags;
} GstRepvitDetection;

typedef struct _GstRepvitDetectionMeta GstRepvitDetectionMeta;

/**
 * GstRepvitDetectionMeta:
 * @meta: parent
 * @model: model identity (e.g. "m0_9-n nc3 shapes.safetensors"), valid as
 *   long as the meta
 * @input_width: network input width used for this frame
 * @input_height: network input height
 * @inference_ns: time spent in pre-processing + network + post-processing
 * @stale: TRUE when the detections were carried over from an earlier frame
 *   (inference-interval, or the element fell behind a live source)
 */
struct _GstRepvitDetectionMeta {
  GstMeta meta;
  const gchar *model;
  guint input_width, input_height;
  guint64 inference_ns;
  gboolean stale;
  /*< private >*/
  GArray *detections;   /* of GstRepvitDetection */
};

GST_REPVIT_META_API GType gst_repvit_detection_meta_api_get_type (void);
#define GST_REPVIT_DETECTION_META_API_TYPE (gst_repvit_detection_meta_api_get_type ())
GST_REPVIT_META_API const GstMetaInfo *gst_repvit_detection_meta_get_info (void);
#define GST_REPVIT_DETECTION_META_INFO (gst_repvit_detection_meta_get_info ())

GST_REPVIT_META_API GstRepvitDetectionMeta *gst_buffer_get_repvit_detection_meta (GstBuffer * buffer);

GST_REPVIT_META_API GstRepvitDetectionMeta *gst_buffer_add_repvit_detection_meta (GstBuffer * buffer,
    const gchar * model, guint input_width, guint input_height);
GST_REPVIT_META_API void gst_repvit_detection_meta_add (GstRepvitDetectionMeta * meta,
    const GstRepvitDetection * detection);
GST_REPVIT_META_API guint gst_repvit_detection_meta_get_count (const GstRepvitDetectionMeta * meta);
GST_REPVIT_META_API const GstRepvitDetection *gst_repvit_detection_meta_get (const GstRepvitDetectionMeta * meta,
    guint index);
GST_REPVIT_META_API gboolean gst_repvit_detection_meta_remove (GstRepvitDetectionMeta * meta,
    guint index);

G_END_DECLS
#endif
