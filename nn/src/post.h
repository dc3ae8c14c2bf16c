/* post.h — internal: Detect-output decoding to detections (spec section 4). */
#ifndef RV_POST_H
#define RV_POST_H

#include "repvit.h"

/* Bytes of scratch rv_postprocess_raw needs for this many anchors. */
size_t rv_post_scratch_size (int anchors);

/* raw: (4 + nc) x anchors as rv_ctx_output. Keeps anchors whose best class
 * score > conf (one label each, the best class), class-aware NMS, at most
 * min(max_dets, params->max_detections) highest first, boxes mapped back
 * through lb and clipped to the frame. scratch: rv_post_scratch_size bytes,
 * 64-byte aligned. Returns the number of detections written. */
int rv_postprocess_raw (const float *raw, int nc, int anchors,
    const rv_letterbox *lb, const rv_post_params *params,
    rv_detection *dets, int max_dets, void *scratch);

#endif
