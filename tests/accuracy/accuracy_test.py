#!/usr/bin/python3
"""Accuracy of the shipped model through the GStreamer pipeline (suite 'accuracy').

The held-out set of tools/synth.py (fixed seed, 6 frame sizes x 50 frames) goes through
    filesrc ! rawvideoparse ! repvityolo ! repvitjson ! fakesink
one raw RGB stream per frame size; the JSON Lines are scored with tools/eval_map.py and
compared with the PyTorch reference (tools/ref_detect.py) on the same frames:
pipeline mAP@0.5 >= 0.90 and |pipeline - reference| <= 0.01 at IoU 0.5 and 0.5:0.95.

    accuracy_test.py --model MODEL.safetensors [--gst-launch gst-launch-1.0]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import synth  # noqa: E402
from eval_map import average_precision  # noqa: E402

MIN_MAP50 = 0.90
MAX_DELTA = 0.01


def pipeline_detections(gst_launch, model, conf, w, h, frames, tmp):
    """Run the element on one raw stream; per frame [(class, score, x1, y1, x2, y2)]."""
    raw = os.path.join(tmp, f"{w}x{h}.rgb")
    out = os.path.join(tmp, f"{w}x{h}.jsonl")
    with open(raw, "wb") as f:
        for img, _ in frames:
            f.write(np.ascontiguousarray(img).tobytes())
    cmd = [gst_launch, "-q", "filesrc", f"location={raw}", "!",
           "rawvideoparse", "format=rgb", f"width={w}", f"height={h}", "framerate=30/1", "!",
           "repvityolo", f"model={model}", f"conf-threshold={conf}", "!", "repvitjson", f"location={out}", "!", "fakesink"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited with {res.returncode}:\n{res.stdout}{res.stderr}")
    with open(out) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    if len(lines) != len(frames):
        sys.exit(f"FAIL: {out}: {len(lines)} JSON lines for {len(frames)} frames")
    dets = []
    for rec in lines:
        res_w, res_h = rec["resolution"]["width"], rec["resolution"]["height"]
        if (res_w, res_h) != (w, h):
            sys.exit(f"FAIL: {out}: resolution {res_w}x{res_h}, expected {w}x{h}")
        d = []
        for o in rec["objects"]:
            det, bb = o["detection"], o["detection"]["bounding_box"]
            d.append((det["label_id"], det["confidence"],
                      bb["x_min"] * w, bb["y_min"] * h, bb["x_max"] * w, bb["y_max"] * h))
        dets.append(d)
    return dets


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--gst-launch", default="gst-launch-1.0")
    ap.add_argument("--conf", type=float, default=0.001,
                    help="confidence threshold of both paths (mAP is measured over the whole ranking, as ultralytics' val)")
    args = ap.parse_args()
    import torch
    from ref_detect import Detector
    torch.set_num_threads(2)
    ref = Detector(args.model, conf=args.conf)
    nc = len(synth.CLASSES)
    if ref.names != list(synth.CLASSES):
        sys.exit(f"FAIL: {args.model}: class names {ref.names}, expected {list(synth.CLASSES)}")
    gts, pipe, torch_dets = [], [], []
    with tempfile.TemporaryDirectory(prefix="accuracy-") as tmp:
        for w, h, frames in synth.heldout():
            p = pipeline_detections(args.gst_launch, args.model, args.conf, w, h, frames, tmp)
            r = [ref.detect(img) for img, _ in frames]
            g = [lab for _, lab in frames]
            print(f"{w}x{h}: pipeline mAP@0.5 {average_precision(p, g, nc)[0]:.4f}, "
                  f"reference {average_precision(r, g, nc)[0]:.4f}", flush=True)
            gts += g
            pipe += p
            torch_dets += r
    p50, p5095 = average_precision(pipe, gts, nc)
    r50, r5095 = average_precision(torch_dets, gts, nc)
    print(f"{len(gts)} frames, {sum(map(len, gts))} objects, imgsz {ref.imgsz}, conf {args.conf}")
    print(f"pipeline : mAP@0.5 {p50:.4f}  mAP@0.5:0.95 {p5095:.4f}")
    print(f"reference: mAP@0.5 {r50:.4f}  mAP@0.5:0.95 {r5095:.4f}")
    failures = []
    if p50 < MIN_MAP50:
        failures.append(f"pipeline mAP@0.5 {p50:.4f} < {MIN_MAP50}")
    for what, a, b in (("mAP@0.5", p50, r50), ("mAP@0.5:0.95", p5095, r5095)):
        if abs(a - b) > MAX_DELTA:
            failures.append(f"{what}: pipeline {a:.4f} vs reference {b:.4f} differ by more than {MAX_DELTA}")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
