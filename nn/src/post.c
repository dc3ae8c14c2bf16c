/* post.c — Detect output to detections: confidence filter, class-aware NMS
 * (same result as torchvision.ops.batched_nms), mapping back to the frame. */
#include "post.h"

#include <math.h>

rv_post_params
rv_post_params_default (void)
{
  return (rv_post_params) { 0.25f, 0.7f, 300, NULL };
}

/* Score order: higher first, NaN last, ties by index (a stable sort's order),
 * so any correct sort gives torchvision's sequence. */
static bool
before (const float *scores, int a, int b)
{
  float sa = isnan (scores[a]) ? -INFINITY : scores[a];
  float sb = isnan (scores[b]) ? -INFINITY : scores[b];
  return sa > sb || (sa == sb && a < b);
}

/* In-place heap sort of idx[0..n) by before(); needs no extra memory. */
static void
sift_down (int *idx, int root, int n, const float *scores)
{
  for (int child; (child = 2 * root + 1) < n; root = child) {
    /* Max-heap on "after": the last element in order rises to the top. */
    if (child + 1 < n && before (scores, idx[child], idx[child + 1]))
      child++;
    if (!before (scores, idx[root], idx[child]))
      return;
    int t = idx[root];
    idx[root] = idx[child];
    idx[child] = t;
  }
}

static void
sort_by_score (int *idx, int n, const float *scores)
{
  for (int i = n / 2 - 1; i >= 0; i--)
    sift_down (idx, i, n, scores);
  for (int end = n - 1; end > 0; end--) {
    int t = idx[0];
    idx[0] = idx[end];
    idx[end] = t;
    sift_down (idx, 0, end, scores);
  }
}

/* IoU exactly as torchvision's CPU nms kernel computes it (float, no +1). */
static float
iou (const float *a, const float *b)
{
  float w = fmaxf (0.0f, fminf (a[2], b[2]) - fmaxf (a[0], b[0]));
  float h = fmaxf (0.0f, fminf (a[3], b[3]) - fmaxf (a[1], b[1]));
  float inter = w * h;
  float area_a = (a[2] - a[0]) * (a[3] - a[1]);
  float area_b = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (area_a + area_b - inter);
}

int
rv_nms (const float *boxes, const float *scores, const int *classes, int n,
    float iou_threshold, int max_keep, int *keep, int *scratch)
{
  int n_keep = 0;

  for (int i = 0; i < n; i++)
    scratch[i] = i;
  sort_by_score (scratch, n, scores);
  /* Greedy: each kept box suppresses the later boxes of its class (marked
   * -1); a box never suppressed by an earlier kept one is kept. The work is
   * at most max_keep scans. */
  for (int i = 0; i < n && n_keep < max_keep; i++) {
    int k = scratch[i];
    if (k < 0)
      continue;
    keep[n_keep++] = k;
    for (int j = i + 1; j < n; j++) {
      int m = scratch[j];
      if (m >= 0 && classes[m] == classes[k]
          && iou (boxes + 4 * k, boxes + 4 * m) > iou_threshold)
        scratch[j] = -1;
    }
  }
  return n_keep;
}

/* Scratch: per-anchor best score and class, the candidates' boxes, NMS
 * order and kept indices, each array 64-byte aligned. */
static size_t
align64 (size_t n)
{
  return (n + 63) & ~(size_t) 63;
}

size_t
rv_post_scratch_size (int anchors)
{
  size_t n = anchors > 0 ? (size_t) anchors : 0;
  return 4 * align64 (n * sizeof (float)) + align64 (4 * n * sizeof (float));
}

/* Input pixels to frame pixels: undo the letterbox, clip to the frame. */
static float
to_frame (float v, int pad, float scale, int size)
{
  return fminf (fmaxf ((v - pad) / scale, 0.0f), (float) size);
}

int
rv_postprocess_raw (const float *raw, int nc, int anchors,
    const rv_letterbox *lb, const rv_post_params *params,
    rv_detection *dets, int max_dets, void *scratch)
{
  size_t stride = align64 ((size_t) anchors * sizeof (float));
  char *base = scratch;
  float *score = (float *) base;
  int *cls = (int *) (base + stride);
  int *order = (int *) (base + 2 * stride);
  int *keep = (int *) (base + 3 * stride);
  float *boxes = (float *) (base + 4 * stride);
  int limit = max_dets < params->max_detections ? max_dets
      : params->max_detections;
  int n = 0, n_keep;

  if (nc <= 0 || anchors <= 0 || limit <= 0)
    return 0;
  /* Best class per anchor, first maximum, class-major for streaming reads. */
  for (int a = 0; a < anchors; a++) {
    score[a] = raw[4 * (size_t) anchors + a];
    cls[a] = 0;
  }
  for (int c = 1; c < nc; c++) {
    const float *row = raw + (size_t) (4 + c) * anchors;
    for (int a = 0; a < anchors; a++)
      if (row[a] > score[a]) {
        score[a] = row[a];
        cls[a] = c;
      }
  }
  /* Compact the candidates in anchor order (ties keep torchvision's order). */
  for (int a = 0; a < anchors; a++) {
    float cx, cy, hw, hh;
    if (!(score[a] > params->conf_threshold)
        || (params->class_mask && !params->class_mask[cls[a]]))
      continue;
    cx = raw[a];
    cy = raw[(size_t) anchors + a];
    hw = raw[2 * (size_t) anchors + a] / 2;
    hh = raw[3 * (size_t) anchors + a] / 2;
    boxes[4 * n] = cx - hw;
    boxes[4 * n + 1] = cy - hh;
    boxes[4 * n + 2] = cx + hw;
    boxes[4 * n + 3] = cy + hh;
    score[n] = score[a];
    cls[n] = cls[a];
    n++;
  }
  n_keep = rv_nms (boxes, score, cls, n, params->iou_threshold, limit, keep,
      order);
  for (int i = 0; i < n_keep; i++) {
    const float *b = boxes + 4 * keep[i];
    dets[i] = (rv_detection) {
      to_frame (b[0], lb->pad_left, lb->scale, lb->frame_w),
      to_frame (b[1], lb->pad_top, lb->scale, lb->frame_h),
      to_frame (b[2], lb->pad_left, lb->scale, lb->frame_w),
      to_frame (b[3], lb->pad_top, lb->scale, lb->frame_h),
      score[keep[i]], cls[keep[i]]
    };
  }
  return n_keep;
}
