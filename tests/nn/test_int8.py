#!/usr/bin/python3
"""int8 against fp32 on the shipped shapes model: repvit-infer --precision int8
and f32 on synthetic frames of its task (tools/synth.py, 640x640 and 640x384),
post-processed by the reference (tools/ref_post.py). Each fp32 detection
above 0.5 must have an int8 one of the same class with IoU >= 0.85 and a
score within 0.1, and the ground-truth recall at IoU 0.5 may drop by at
most one shape in twenty. Skips (77) where int8 falls back to f32.

usage: test_int8.py REPVIT_INFER MODEL
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
import ref_post  # noqa: E402
import synth  # noqa: E402

INFER, MODEL = sys.argv[1:3]


def infer(x_path, y_path, precision):
    r = subprocess.run([INFER, "--model", MODEL, "--input-npy", x_path, "--output-npy", y_path,
                        "--threads", "2", "--precision", precision],
                       capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"repvit-infer --precision {precision}: {r.stderr}")
    return r.stderr, np.load(y_path)[0]


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0) * max(h, 0)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def found(dets, labels):
    return sum(any(d[5] == c and iou(d[:4], box) >= 0.5 for d in dets)
               for c, *box in labels)


def main():
    rng = np.random.default_rng(16)
    bad, pairs, truths, hits = 0, 0, 0, {"f32": 0, "int8": 0}
    worst_iou, worst_score = 1.0, 0.0
    with tempfile.TemporaryDirectory() as d:
        x_path, y_path = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
        for w, h in ((640, 640), (640, 384)) * 6:
            img, labels = synth.render(rng, w, h)
            np.save(x_path, (img.astype(np.float32) / 255).transpose(2, 0, 1)[None].copy())
            dets = {}
            for p in ("f32", "int8"):
                err, raw = infer(x_path, y_path, p)
                if p == "int8" and "precision f32" in err:
                    print("SKIP: " + err.strip())
                    return 77
                dets[p] = ref_post.postprocess(raw, w, h, 0, 0, 1.0)
                hits[p] += found(dets[p], labels)
            truths += len(labels)
            for a in dets["f32"][dets["f32"][:, 4] > 0.5]:
                same = [b for b in dets["int8"] if b[5] == a[5]]
                best = max(same, key=lambda b: iou(a[:4], b[:4]), default=None)
                pairs += 1
                if best is None:
                    bad += 1
                    print(f"{w}x{h}: no int8 detection of class {int(a[5])} near {a[:4]}")
                    continue
                o, ds = iou(a[:4], best[:4]), abs(a[4] - best[4])
                worst_iou, worst_score = min(worst_iou, o), max(worst_score, ds)
                if o < 0.85 or ds > 0.1:
                    bad += 1
                    print(f"{w}x{h}: fp32 {a} vs int8 {best}: IoU {o:.3f}, score {ds:.3f}")
    print(f"{pairs} fp32 detections > 0.5: {bad} without an int8 twin; worst IoU "
          f"{worst_iou:.3f}, score difference {worst_score:.3f}; recall of {truths} shapes: "
          f"fp32 {hits['f32']}, int8 {hits['int8']}")
    if pairs == 0:
        print("FAIL: no fp32 detections to compare")
        return 1
    if bad or hits["int8"] < hits["f32"] - truths // 20:
        print("FAIL")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
