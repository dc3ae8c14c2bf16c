#!/usr/bin/python3
"""rv_nms against torchvision.ops.batched_nms on random boxes: many seeds,
tied scores, many classes, degenerate (empty, inverted, identical) boxes,
both of batched_nms's code paths, max_keep limits.

usage: test_nms.py PREPOST_DRIVER
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

DRIVER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rv-nms-")


def rv_nms(boxes, scores, classes, iou, max_keep):
    path, out = os.path.join(TMP, "in.bin"), os.path.join(TMP, "out.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<ifi", len(scores), iou, max_keep))
        f.write(boxes.astype("<f4").tobytes() + scores.astype("<f4").tobytes()
                + classes.astype("<i4").tobytes())
    subprocess.run([DRIVER, "nms", path, out], check=True)
    data = np.fromfile(out, "<i4")
    assert data[0] == len(data) - 1
    return data[1:]


def random_case(rng, n, nc, grid):
    """n boxes in clusters (so that NMS suppresses), some degenerate. grid:
    coordinates on a 1/16 grid, >= 0, so that batched_nms's coordinate trick
    (used up to 1000 boxes) is exact; else continuous, negatives too."""
    centres = rng.uniform(0, 640, (max(1, n // 8), 2))
    cluster = rng.integers(0, len(centres), n)
    sizes = rng.uniform(2, 120, (len(centres), 2))
    wh = sizes[cluster] * rng.uniform(0.8, 1.25, (n, 2))
    c = centres[cluster] + rng.normal(0, 0.15, (n, 2)) * wh
    boxes = np.concatenate([c - wh / 2, c + wh / 2], 1)
    if grid:
        boxes = np.round(np.clip(boxes, 0, 700) * 16) / 16
    else:
        boxes -= 40
    kinds = rng.integers(0, 20, n)
    boxes[kinds == 0, 2] = boxes[kinds == 0, 0]                     # zero width
    boxes[kinds == 1] = boxes[kinds == 1][:, [2, 3, 0, 1]]         # inverted
    boxes[kinds == 2, 2:] = boxes[kinds == 2, :2]                  # a point
    dup = np.nonzero(kinds == 3)[0]
    boxes[dup] = boxes[rng.integers(0, n, len(dup))]               # identical
    scores = rng.uniform(0, 1, n)
    scores = np.where(rng.uniform(size=n) < 0.5, np.round(scores * 16) / 16, scores)  # ties
    classes = np.where(rng.uniform(size=n) < 0.7, cluster % nc, rng.integers(0, nc, n))
    return boxes.astype(np.float32), scores.astype(np.float32), classes.astype(np.int32)


def main():
    failures = 0
    cases = 0
    for seed in range(240):
        rng = np.random.default_rng(seed)
        n = [0, 1, 2, 7, 50, 300, 999, 1000, 1001, 3000][seed % 10]
        nc = [1, 3, 80, 1000][seed // 10 % 4]
        grid = n <= 1000
        iou = float(np.float32([0.7, 0.5, 0.0, 0.95, 1.0, 0.3][seed // 40]))
        boxes, scores, classes = random_case(rng, n, nc, grid)
        tb, ts = torch.from_numpy(boxes), torch.from_numpy(scores)
        want = torchvision.ops.batched_nms(tb, ts, torch.from_numpy(classes).long(), iou).numpy()
        # batched_nms orders by score; order its ties by index, as a stable sort.
        want = want[np.lexsort((want, -scores[want]))]
        for max_keep in (n + 5, 10, 0):
            got = rv_nms(boxes, scores, classes, iou, max_keep)
            cases += 1
            if not np.array_equal(got, want[:max_keep]):
                failures += 1
                print(f"FAIL seed {seed} n {n} nc {nc} iou {iou} max_keep {max_keep}: "
                      f"got {len(got)} kept, torchvision {len(want[:max_keep])}; first "
                      f"difference at {np.argmax(np.resize(got, len(want)) != want)}")
                break
        else:
            print(f"ok   seed {seed} n {n} nc {nc} iou {iou:.2f}: {len(want)} kept")
    if failures:
        print(f"{failures} of {cases} cases fail")
        sys.exit(1)
    print(f"all {cases} NMS cases equal torchvision.ops.batched_nms")


main()
