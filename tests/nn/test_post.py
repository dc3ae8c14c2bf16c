#!/usr/bin/python3
"""rv_postprocess_raw against tools/ref_post.py (spec section 4 in torch) on
random Detect outputs: tied scores, class masks, detection limits, boxes
beyond the frame, rect and fixed letterboxes.

usage: test_post.py PREPOST_DRIVER
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from ref_letterbox import geometry  # noqa: E402
from ref_post import postprocess  # noqa: E402

DRIVER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rv-post-")


def anchors_for(in_w, in_h):
    return sum((in_w // s) * (in_h // s) for s in (8, 16, 32))


def random_raw(rng, nc, in_w, in_h):
    """Detect-like output: clusters of overlapping boxes whose anchors agree
    on a class, scores mostly low, some quantized (ties within and across
    anchors)."""
    a = anchors_for(in_w, in_h)
    k = max(1, a // 40)
    centres = rng.uniform(-20, [in_w + 20, in_h + 20], (k, 2))
    sizes = rng.uniform(4, 200, (k, 2))
    cluster = rng.integers(0, k, a)
    xy = centres[cluster] + rng.normal(0, 0.15, (a, 2)) * sizes[cluster]
    wh = sizes[cluster] * rng.uniform(0.8, 1.25, (a, 2))
    logits = rng.normal(-7, 1.5, (nc, a))
    logits[cluster % nc, np.arange(a)] += rng.uniform(0, 9, a) * (rng.uniform(size=a) < 0.3)
    scores = 1 / (1 + np.exp(-logits))
    scores = np.where(rng.uniform(size=(1, a)) < 0.3, np.round(scores * 32) / 32, scores)
    tied = np.nonzero(rng.uniform(size=a) < 0.1)[0]        # two classes share the best
    scores[rng.integers(0, nc, len(tied)), tied] = scores[:, tied].max(0)
    return np.concatenate([xy.T, wh.T, scores]).astype(np.float32)


def rv_post(raw, nc, frame_w, frame_h, in_w, in_h, max_detections, max_dets, conf, iou, mask):
    path, out = os.path.join(TMP, "in.bin"), os.path.join(TMP, "out.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<8i2fi", nc, raw.shape[1], frame_w, frame_h, in_w, in_h,
                            max_detections, max_dets, conf, iou, mask is not None))
        if mask is not None:
            f.write(np.asarray(mask, np.uint8).tobytes())
        f.write(raw.astype("<f4").tobytes())
    subprocess.run([DRIVER, "post", path, out], check=True)
    data = np.fromfile(out, "<f4")
    count = data[:1].view("<i4")[0]
    return data[1:].reshape(count, 6)


def main():
    failures = 0
    frames = [(1920, 1080, 640, True), (1280, 720, 640, False), (480, 640, 320, True),
              (641, 479, 416, True), (333, 1001, 640, False)]
    for seed in range(60):
        rng = np.random.default_rng(seed)
        frame_w, frame_h, target, auto = frames[seed % len(frames)]
        nc = [80, 1, 3, 20][seed // 5 % 4]
        g = geometry(frame_w, frame_h, (target, target), auto)
        raw = random_raw(rng, nc, g["in_w"], g["in_h"])
        mask = None if seed % 3 == 0 else rng.uniform(size=nc) < 0.6
        max_detections, max_dets = [(300, 300), (300, 17), (5, 300), (1, 1)][seed // 15 % 4 if seed % 2 else 0]
        conf = [0.25, 0.25, 0.5, 0.05][seed % 4]
        iou = float(np.float32([0.7, 0.7, 0.45][seed % 3]))
        want = postprocess(raw, frame_w, frame_h, g["pad_left"], g["pad_top"], g["r"],
                           conf=float(np.float32(conf)), iou=iou,
                           max_det=min(max_detections, max_dets), class_mask=mask)
        got = rv_post(raw, nc, frame_w, frame_h, g["in_w"], g["in_h"], max_detections,
                      max_dets, conf, iou, mask)
        name = (f"seed {seed} {frame_w}x{frame_h} in {g['in_w']}x{g['in_h']} nc {nc} conf {conf}"
                f" iou {iou:.2f} limits {max_detections}/{max_dets} mask {mask is not None}")
        ok = (len(got) == len(want) and np.array_equal(got[:, 4:], want[:, 4:])
              and np.allclose(got[:, :4], want[:, :4], rtol=1e-6, atol=1e-3))
        if not ok:
            failures += 1
            print(f"FAIL {name}: {len(got)} detections, reference {len(want)}")
            for a, b in zip(got[:5], want[:5]):
                print("  ", a, "\n  ", b)
        else:
            print(f"ok   {name}: {len(want)} detections")
    if failures:
        print(f"{failures} cases fail")
        sys.exit(1)
    print("all post-processing cases match the reference")


main()
