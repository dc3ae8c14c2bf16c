#!/usr/bin/python3
"""repvityolo ! repvittrack end to end on the rendered shapes clip (suite 'track').

tools/synth.py's moving-shapes clip (1280x720, 7 shapes bouncing off the frame's edges and
passing over each other; its labels give every shape's box, the shape's index is its
identity) goes through

    filesrc ! rawvideoparse ! repvityolo conf-threshold=0.1 inference-interval=N !
        repvitjson (detections) ! repvittrack ! repvitjson (tracks) ! fakesink

once with N = 1 and once with N = 3. The tracks (the objects with an "id", what
drop-untracked=true would keep) are scored with the CLEAR MOT metrics (MOTA, id switches)
and IDF1 at IoU 0.5, as py-motmetrics does; printed, and asserted against thresholds set
from the measurement with a margin (see THRESHOLDS). With N = 3, on the frames the detector
skipped, each box repvittrack predicted must on average overlap its shape's true box more
than the box repvityolo repeated there (same object: the same place in both JSON lines).
The JSON numbers must have at most 6 decimals.

    track_e2e.py --model MODEL.safetensors [--gst-launch gst-launch-1.0] [--seconds 4]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import synth  # noqa: E402

FPS = 30
SEED = 7
IOU = 0.5
# Measured on the 4 s clip (120 frames, 840 true boxes; 2026-12-02, the first frame's tracks
# confirmed at once): interval 1 MOTA 0.8929, IDF1 0.9320, 1 id switch (83 misses: shapes
# hidden under others); interval 3 MOTA 0.8917, IDF1 0.9323, 1 id switch; on its stale
# frames predicted boxes IoU 0.9357 vs repeated 0.9080. The margins absorb small changes of
# the network's numerics (other kernels, bf16), not a broken tracker.
THRESHOLDS = {1: dict(mota=0.86, idf1=0.89, idsw=4), 3: dict(mota=0.86, idf1=0.89, idsw=4)}


def iou_matrix(a, b):
    """IoU of boxes a (n x 4) and b (m x 4), x1 y1 x2 y2."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    a, b = np.asarray(a, float)[:, None], np.asarray(b, float)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])
    return inter / (area(a) + area(b) - inter)


def assign(weight):
    """Maximum-weight matching of a small matrix (rows x cols): list of (row, col) pairs
    with positive weight. Hungarian method on the cost -weight, squared up with zeros."""
    n = max(weight.shape) if weight.size else 0
    if n == 0:
        return []
    cost = np.zeros((n, n))
    cost[:weight.shape[0], :weight.shape[1]] = -weight
    u, v, p, way = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1, int), np.zeros(n + 1, int)
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(n + 1, np.inf), np.zeros(n + 1, bool)
        while True:
            used[j0] = True
            i0 = p[j0]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            upd = free & (cur < minv[1:])
            minv[1:][upd] = cur[upd]
            way[1:][upd] = j0
            j1 = 1 + int(np.argmin(np.where(free, minv[1:], np.inf)))
            delta = minv[j1]
            u[p[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    pairs = [(p[j] - 1, j - 1) for j in range(1, n + 1) if p[j]]
    return [(r, c) for r, c in pairs if r < weight.shape[0] and c < weight.shape[1] and weight[r, c] > 0]


def mot_metrics(gt, hyp):
    """gt, hyp: per frame {id: box}. CLEAR MOT (MOTA, id switches) and IDF1 at IoU 0.5."""
    fn = fp = idsw = n_gt = n_hyp = 0
    last = {}                              # gt id -> hyp id it was last matched to
    co = {}                                # (gt id, hyp id) -> frames with IoU >= 0.5
    for g, h in zip(gt, hyp):
        gids, hids = list(g), list(h)
        n_gt += len(gids)
        n_hyp += len(hids)
        ious = iou_matrix([g[i] for i in gids], [h[i] for i in hids])
        for a, gi in enumerate(gids):
            for b, hi in enumerate(hids):
                if ious[a, b] >= IOU:
                    co[gi, hi] = co.get((gi, hi), 0) + 1
        matched = {}
        # correspondences of the previous frame are kept while they still hold
        for a, gi in enumerate(gids):
            hi = last.get(gi)
            if hi in hids and ious[a, hids.index(hi)] >= IOU and hi not in matched.values():
                matched[gi] = hi
        rest_g = [a for a, gi in enumerate(gids) if gi not in matched]
        rest_h = [b for b, hi in enumerate(hids) if hi not in matched.values()]
        w = np.where(ious[np.ix_(rest_g, rest_h)] >= IOU, ious[np.ix_(rest_g, rest_h)], 0.0)
        for r, c in assign(w):
            gi, hi = gids[rest_g[r]], hids[rest_h[c]]
            if gi in last and last[gi] != hi:
                idsw += 1
            matched[gi] = hi
        for gi, hi in matched.items():
            last[gi] = hi
        fn += len(gids) - len(matched)
        fp += len(hids) - len(matched)
    gset = sorted({k[0] for k in co})
    hset = sorted({k[1] for k in co})
    w = np.array([[co.get((gi, hi), 0) for hi in hset] for gi in gset], float).reshape(len(gset), len(hset))
    idtp = sum(w[r, c] for r, c in assign(w))
    return dict(mota=1 - (fn + fp + idsw) / n_gt, idf1=2 * idtp / (n_gt + n_hyp), idsw=idsw,
                fn=fn, fp=fp, gt=n_gt)


def read_jsonl(path, frames):
    with open(path) as f:
        text = f.read()
    long_decimals = [m for m in re.findall(r"\d+\.(\d+)", text) if len(m) > 6]
    if long_decimals:
        sys.exit(f"FAIL: {path}: numbers with more than 6 decimals, e.g. ...{long_decimals[0]}")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    if len(lines) != frames:
        sys.exit(f"FAIL: {path}: {len(lines)} JSON lines for {frames} frames")
    return lines


def box(o):
    """An object's box in pixels, from the normalized one (the pixel one is rounded)."""
    bb = o["detection"]["bounding_box"]
    return (bb["x_min"] * synth.CLIP_W, bb["y_min"] * synth.CLIP_H,
            bb["x_max"] * synth.CLIP_W, bb["y_max"] * synth.CLIP_H)


def tracks(rec):
    """{track id: box} of a JSON line."""
    return {o["id"]: box(o) for o in rec["objects"] if "id" in o}


def stale_overlap(gt, dets, trks):
    """Mean IoU with the true box, over the boxes repvittrack predicted on stale frames:
    (predicted, repeated). The true box is the one either overlaps most."""
    pred, frozen = [], []
    for g, d, t in zip(gt, dets, trks):
        if not d["stale"]:
            continue
        truth = list(g.values())
        for od, ot in zip(d["objects"], t["objects"]):
            if not ot.get("predicted"):
                continue
            ious = iou_matrix([box(ot), box(od)], truth)
            k = int(np.argmax(ious.max(0)))
            pred.append(ious[0, k])
            frozen.append(ious[1, k])
    return float(np.mean(pred)), float(np.mean(frozen)), len(pred)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--gst-launch", default="gst-launch-1.0")
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()
    n = round(args.seconds * FPS)
    failures = []
    with tempfile.TemporaryDirectory(prefix="track-") as tmp:
        raw = os.path.join(tmp, "clip.rgb")
        gt = []
        with open(raw, "wb") as f:
            for i in range(n):
                img, labels = synth.clip_frame(SEED, i / FPS)
                f.write(np.ascontiguousarray(img).tobytes())
                gt.append({k: tuple(lab[1:]) for k, lab in enumerate(labels)})
        for interval in (1, 3):
            dets_path = os.path.join(tmp, f"dets{interval}.jsonl")
            tracks_path = os.path.join(tmp, f"tracks{interval}.jsonl")
            cmd = [args.gst_launch, "-q", "filesrc", f"location={raw}", "!",
                   "rawvideoparse", "format=rgb", f"width={synth.CLIP_W}", f"height={synth.CLIP_H}",
                   f"framerate={FPS}/1", "!",
                   "repvityolo", f"model={args.model}", "conf-threshold=0.1", f"inference-interval={interval}", "!",
                   "repvitjson", f"location={dets_path}", "!",
                   "repvittrack", "!",
                   "repvitjson", f"location={tracks_path}", "!", "fakesink"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"FAIL: {' '.join(cmd)} exited with {res.returncode}:\n{res.stdout}{res.stderr}")
            dets = read_jsonl(dets_path, n)
            trks = read_jsonl(tracks_path, n)
            m = mot_metrics(gt, [tracks(r) for r in trks])
            print(f"inference-interval {interval}: {n} frames, {m['gt']} true boxes: MOTA {m['mota']:.4f}  "
                  f"IDF1 {m['idf1']:.4f}  id switches {m['idsw']}  misses {m['fn']}  false {m['fp']}")
            t = THRESHOLDS[interval]
            if m["mota"] < t["mota"] or m["idf1"] < t["idf1"] or m["idsw"] > t["idsw"]:
                failures.append(f"inference-interval {interval}: MOTA {m['mota']:.4f} (>= {t['mota']}), IDF1 "
                                f"{m['idf1']:.4f} (>= {t['idf1']}), id switches {m['idsw']} (<= {t['idsw']})")
            if any(len(d["objects"]) != len(t["objects"]) for d, t in zip(dets, trks)):
                failures.append(f"inference-interval {interval}: repvittrack changed the number of objects")
            if interval > 1:
                pred, frozen, count = stale_overlap(gt, dets, trks)
                print(f"  stale frames: {count} predicted boxes, mean IoU with the truth {pred:.4f} "
                      f"(the repeated boxes: {frozen:.4f})")
                if count == 0 or pred <= frozen:
                    failures.append(f"stale frames: predicted boxes (IoU {pred:.4f}) no closer than repeated "
                                    f"ones ({frozen:.4f})")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
