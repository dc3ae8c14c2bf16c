/* repvit.h — RepViT-YOLO11 object detector on the CPU (C11 + OpenBLAS).
 *
 * The network is the one of SPEC-model.md: a YOLO11 detector (scales n/s/m/l/x)
 * on a RepViT backbone (m0_9, m1_0, m1_1, m1_5, m2_3), loaded from a safetensors
 * file and re-parameterized at load (BatchNorm folded, RepVGGDW collapsed).
 *
 * Usage:
 *
 *   char err[256];
 *   rv_model *model;
 *   if (rv_model_load ("model.safetensors", &model, err, sizeof err) != RV_OK)
 *     fprintf (stderr, "%s\n", err);
 *   rv_ctx *ctx;
 *   rv_ctx_init (model, 2, &ctx, err, sizeof err);          // 2 threads
 *   int in_w, in_h;
 *   rv_input_size_for_frame (1280, 720, 640, true, &in_w, &in_h);  // 640x384
 *   rv_ctx_set_input_size (ctx, in_w, in_h, err, sizeof err);  // plans the arena
 *   rv_frame frame = { RV_FMT_RGB, 1280, 720, { pixels }, { 1280 * 3 } };
 *   rv_detection dets[300];
 *   int n;
 *   rv_post_params pp = rv_post_params_default ();
 *   rv_ctx_detect (ctx, &frame, &pp, dets, 300, &n);
 *   rv_ctx_free (ctx);
 *   rv_model_free (model);
 *
 * A model is immutable after load and may be shared by several contexts (and
 * threads); it is reference counted. A context owns all per-run memory (one
 * arena planned by rv_ctx_set_input_size); the per-frame path never allocates.
 * A context is used by one thread at a time.
 */
#ifndef REPVIT_H
#define REPVIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  RV_OK = 0,
  RV_ERR_IO,         /* file cannot be opened or read */
  RV_ERR_FORMAT,     /* not a valid safetensors file */
  RV_ERR_METADATA,   /* missing or inconsistent __metadata__ */
  RV_ERR_TENSOR,     /* missing/unexpected tensor, wrong shape or dtype */
  RV_ERR_VALUE,      /* non-finite weights or inputs */
  RV_ERR_ARG,        /* invalid argument (size, format, null) */
  RV_ERR_NOMEM
} rv_status;

const char *rv_status_string (rv_status status);

/* Largest network input side (and metadata imgsz); largest thread count. */
#define RV_MAX_INPUT_SIZE 4096
#define RV_MAX_THREADS 1024

/* ---- model ------------------------------------------------------------ */

typedef struct rv_model rv_model;

/* Loads and validates a weight file. On failure returns the status, writes a
 * message naming the file and the offending tensor/field into err, and leaves
 * *out NULL. Names and shapes are checked before any tensor data is read;
 * the file must be a regular file (a FIFO or device is refused without
 * blocking) that does not change while it is read. */
rv_status rv_model_load (const char *path, rv_model **out, char *err, size_t err_size);
/* Same, from a file image in memory (used by the fuzz target). */
rv_status rv_model_load_memory (const void *data, size_t size, rv_model **out,
    char *err, size_t err_size);
rv_model *rv_model_ref (rv_model *model);
void rv_model_free (rv_model *model);   /* drops one reference */

const char *rv_model_variant (const rv_model *model);   /* "m0_9" ... */
const char *rv_model_scale (const rv_model *model);     /* "n" ... */
int rv_model_num_classes (const rv_model *model);
const char *rv_model_class_name (const rv_model *model, int class_id);
int rv_model_imgsz (const rv_model *model);             /* training size */
uint64_t rv_model_num_params (const rv_model *model);   /* as in the file */
/* Multiply-accumulates of the convolutions for an input of w x h. */
double rv_model_macs (const rv_model *model, int w, int h);

/* ---- pre-processing (letterbox) ----------------------------------------- */

typedef enum {
  RV_FMT_RGB, RV_FMT_BGR,
  RV_FMT_RGBA, RV_FMT_BGRA, RV_FMT_RGBX, RV_FMT_BGRX,
  RV_FMT_XRGB, RV_FMT_XBGR, RV_FMT_ARGB, RV_FMT_ABGR,
  RV_FMT_I420,  /* planes Y, U, V */
  RV_FMT_NV12   /* planes Y, UV */
} rv_pixel_format;

typedef enum {
  RV_YUV_BT601_LIMITED = 0, RV_YUV_BT709_LIMITED,
  RV_YUV_BT601_FULL, RV_YUV_BT709_FULL
} rv_yuv_matrix;

typedef struct {
  rv_pixel_format format;
  int width, height;
  const uint8_t *planes[3];
  size_t strides[3];          /* bytes per row of each plane */
  rv_yuv_matrix yuv_matrix;   /* I420 / NV12 only */
} rv_frame;

/* Where a frame lands in the network input (ultralytics LetterBox). */
typedef struct {
  int frame_w, frame_h;       /* source frame */
  int in_w, in_h;             /* network input */
  int resized_w, resized_h;   /* frame size after scaling */
  int pad_left, pad_top;      /* offset of the scaled frame in the input */
  float scale;                /* r = resized / frame */
} rv_letterbox;

/* Input size for a frame: with rect, the smallest multiple-of-32 rectangle
 * holding the frame scaled to fit target x target; else target x target.
 * target must be a positive multiple of 32. */
rv_status rv_input_size_for_frame (int frame_w, int frame_h, int target,
    bool rect, int *in_w, int *in_h);
void rv_letterbox_geometry (int frame_w, int frame_h, int in_w, int in_h,
    rv_letterbox *lb);
/* Writes the planar RGB float input (3 x in_h x in_w, 0..1) in one pass. */
rv_status rv_letterbox_frame (const rv_frame *frame, const rv_letterbox *lb,
    float *dst);

/* ---- post-processing ---------------------------------------------------- */

typedef struct {
  float x1, y1, x2, y2;       /* frame pixels */
  float score;
  int class_id;
} rv_detection;

typedef struct {
  float conf_threshold;       /* 0.25 */
  float iou_threshold;        /* 0.7 */
  int max_detections;         /* 300 */
  const uint8_t *class_mask;  /* NULL = all; else nc bytes, nonzero = keep */
} rv_post_params;

rv_post_params rv_post_params_default (void);

/* Class-aware NMS of n boxes (x1,y1,x2,y2 interleaved); writes the indices
 * kept, highest score first, into keep (at most max_keep) and returns their
 * count. scratch holds at least n ints. */
int rv_nms (const float *boxes, const float *scores, const int *classes, int n,
    float iou_threshold, int max_keep, int *keep, int *scratch);

/* ---- per-run context ---------------------------------------------------- */

typedef struct rv_ctx rv_ctx;

rv_status rv_ctx_init (rv_model *model, int n_threads, rv_ctx **out,
    char *err, size_t err_size);   /* takes a model reference */
void rv_ctx_free (rv_ctx *ctx);
/* At most n_threads threads per forward, the calling one included, taken
 * from one thread pool that every context in the process shares: workers
 * busy with another context's forward are not waited for. n_threads <= 0
 * means whatever is free, up to one per CPU this process may run on. Idle
 * workers spin for about 50 us, then sleep. Outputs do not depend on it. */
void rv_ctx_set_threads (rv_ctx *ctx, int n_threads);
/* Plans and allocates the arena for this input size (multiples of 32). A no-op
 * when the size is unchanged. */
rv_status rv_ctx_set_input_size (rv_ctx *ctx, int in_w, int in_h,
    char *err, size_t err_size);
void rv_ctx_get_input_size (const rv_ctx *ctx, int *in_w, int *in_h);
/* Arithmetic of the dense convolutions (1x1 and k x k, about 90% of the
 * multiply-accumulates). RV_PRECISION_BF16 rounds their weights and inputs
 * to bfloat16 (8 significant bits) and accumulates in f32, on CPUs with
 * AVX512-BF16. RV_PRECISION_INT8 quantizes their weights to int8, symmetric
 * per output channel, and each one's input tensor to u8 with a scale and
 * zero point from that tensor's own min and max (widened to hold 0), per
 * frame; int32 accumulation, f32 outputs. It runs on CPUs with AVX512-VNNI
 * or AVX-VNNI, and gives the same bytes at any thread count. In both,
 * depthwise convs, squeeze-excite, attention and the box decode stay f32.
 * Where the CPU lacks the instructions a request leaves the context in F32
 * and returns RV_OK: rv_ctx_get_precision tells the precision in effect. A
 * change packs the weights (BF16, INT8) or drops the copy (F32) and
 * re-plans the arena, never per frame. The default is RV_PRECISION_F32. */
typedef enum {
  RV_PRECISION_F32 = 0,
  RV_PRECISION_BF16,
  RV_PRECISION_INT8
} rv_precision;

rv_status rv_ctx_set_precision (rv_ctx *ctx, rv_precision precision,
    char *err, size_t err_size);
rv_precision rv_ctx_get_precision (const rv_ctx *ctx);
/* The network input tensor (3 x in_h x in_w, planar RGB 0..1). */
float *rv_ctx_input (rv_ctx *ctx);
/* Runs the network on rv_ctx_input. */
rv_status rv_ctx_forward (rv_ctx *ctx);
/* Raw Detect output (4 + nc) x anchors: cx, cy, w, h in input pixels, then
 * the class scores after sigmoid; anchors level by level, row-major. */
const float *rv_ctx_output (const rv_ctx *ctx, int *rows, int *anchors);
/* Filters rv_ctx_output and maps boxes back through lb into frame pixels. */
rv_status rv_ctx_postprocess (rv_ctx *ctx, const rv_letterbox *lb,
    const rv_post_params *params, rv_detection *dets, int max_dets, int *n_dets);
/* Letterbox (input size must already be set) + forward + postprocess. */
rv_status rv_ctx_detect (rv_ctx *ctx, const rv_frame *frame,
    const rv_post_params *params, rv_detection *dets, int max_dets, int *n_dets);

#ifdef __cplusplus
}
#endif
#endif /* REPVIT_H */
