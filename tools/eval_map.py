#!/usr/bin/python3
"""COCO-style box mAP (101-point interpolated precision) at IoU 0.5 and 0.5:0.95.

    average_precision(dets, gts, nc) -> (mAP@0.5, mAP@0.5:0.95)
        dets: per frame [(class, score, x1, y1, x2, y2)], gts: per frame [(class, x1, y1, x2, y2)]

CLI: eval_map.py MODEL.safetensors [CONF]   the PyTorch reference on the held-out set (tools/synth.py),
     keeping detections above CONF (default 0.001: mAP ranks all of them, as ultralytics' val)
"""
import sys
import time

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0, 1, 101)


def box_iou(a, b):
    """[n, 4] x [m, 4] xyxy -> [n, m]."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def _match(dets, gts, cls, thr):
    """Scores and true-positive flags of class `cls` detections over all frames, and the gt count.

    As COCO: per frame, detections by falling score take the unmatched gt they overlap most.
    """
    scores, tps, n_gt = [], [], 0
    for d, g in zip(dets, gts):
        d = sorted((x for x in d if x[0] == cls), key=lambda x: -x[1])
        g = [x[1:] for x in g if x[0] == cls]
        n_gt += len(g)
        iou = box_iou([x[2:] for x in d], g)
        taken = np.zeros(len(g), bool)
        for i, x in enumerate(d):
            j = -1
            if len(g):
                cand = np.where(taken, -1.0, iou[i])
                j = int(cand.argmax())
                if cand[j] < thr:
                    j = -1
            if j >= 0:
                taken[j] = True
            scores.append(x[1])
            tps.append(j >= 0)
    return np.array(scores), np.array(tps, bool), n_gt


def _ap(scores, tps, n_gt):
    if n_gt == 0:
        return None
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(tps[order])
    fp = np.cumsum(~tps[order])
    recall = tp / n_gt
    precision = tp / np.maximum(tp + fp, 1e-12)
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision  # envelope
    idx = np.searchsorted(recall, RECALL_POINTS, side="left")
    return float(np.mean([precision[i] if i < len(precision) else 0.0 for i in idx]))


def average_precision(dets, gts, nc):
    """(mAP@0.5, mAP@0.5:0.95) over the classes that have ground truth."""
    table = []
    for thr in IOU_THRESHOLDS:
        aps = [_ap(*_match(dets, gts, c, thr)) for c in range(nc)]
        table.append([a for a in aps if a is not None])
    per_thr = [float(np.mean(a)) if a else 0.0 for a in table]
    return per_thr[0], float(np.mean(per_thr))


def main(argv):
    import torch
    import synth
    from ref_detect import Detector
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    det = Detector(argv[1], conf=float(argv[2]) if len(argv) == 3 else 0.001)
    dets, gts = [], []
    t = time.time()
    for w, h, frames in synth.heldout():
        d = [det.detect(img) for img, _ in frames]
        g = [lab for _, lab in frames]
        m50, m = average_precision(d, g, len(synth.CLASSES))
        print(f"{w}x{h}: mAP@0.5 {m50:.4f} mAP@0.5:0.95 {m:.4f}", flush=True)
        dets += d
        gts += g
    m50, m = average_precision(dets, gts, len(synth.CLASSES))
    print(f"all {len(gts)} frames ({sum(map(len, gts))} objects, imgsz {det.imgsz}, "
          f"{time.time() - t:.0f} s): mAP@0.5 {m50:.4f} mAP@0.5:0.95 {m:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
