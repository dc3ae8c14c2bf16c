#!/usr/bin/python3
"""Reference post-processing of SPEC-model.md section 4, in torch, from the spec.

Detect output (4 + nc) x anchors (cx, cy, w, h in input pixels, then class
scores) to detections as ultralytics' predictor makes them: best class per
anchor (one label), kept if its score > conf and the class is allowed;
class-aware NMS (torchvision's nms per class: boxes of different classes never
suppress each other); at most max_det, highest score first (ties by anchor, as
a stable sort); boxes mapped back through the letterbox and clipped.

    from ref_post import postprocess
    dets = postprocess(raw, frame_w, frame_h, pad_left, pad_top, r)  # N x 6
"""
import numpy as np
import torch
import torchvision


def nms(boxes, scores, classes, iou):
    """Kept indices of class-aware greedy NMS, highest score first, ties by
    index. boxes N x 4 (x1, y1, x2, y2) float32 tensors."""
    keep = [torch.zeros(0, dtype=torch.int64)]
    for c in torch.unique(classes):
        members = torch.nonzero(classes == c).flatten()
        keep.append(members[torchvision.ops.nms(boxes[members], scores[members], iou)])
    keep = torch.cat(keep).numpy()
    return keep[np.lexsort((keep, -scores.numpy()[keep]))]


def postprocess(raw, frame_w, frame_h, pad_left, pad_top, r, conf=0.25, iou=0.7,
                max_det=300, class_mask=None):
    """Detections (x1, y1, x2, y2, score, class) as an N x 6 float32 array.
    raw: (4 + nc) x anchors float32; class_mask: nc booleans or None."""
    raw = torch.as_tensor(np.asarray(raw, np.float32))
    score, cls = raw[4:].max(0)
    keep = score > conf
    if class_mask is not None:
        keep &= torch.as_tensor(np.asarray(class_mask, bool))[cls]
    idx = torch.nonzero(keep).flatten()
    xy, half = raw[:2, idx].T, raw[2:4, idx].T / 2
    boxes = torch.cat((xy - half, xy + half), 1)
    score, cls = score[idx], cls[idx]
    k = torch.as_tensor(nms(boxes, score, cls, iou)[:max_det], dtype=torch.int64)
    boxes = boxes[k]
    boxes[:, 0::2] = ((boxes[:, 0::2] - pad_left) / np.float32(r)).clamp(0, frame_w)
    boxes[:, 1::2] = ((boxes[:, 1::2] - pad_top) / np.float32(r)).clamp(0, frame_h)
    return torch.cat((boxes, score[k, None], cls[k, None].float()), 1).numpy()
