#!/usr/bin/python3
"""The element's detections against ultralytics' predictor path, rebuilt from the project's
PyTorch reference (suite 'accuracy'): cv2 letterbox (tools/ref_letterbox.py, as LetterBox)
-> the network (tools/repvit_yolo.py) -> NMS as ultralytics.utils.ops.non_max_suppression
does it (below; ultralytics itself is not installed here) -> boxes mapped back with the
letterbox's scale and padding (SPEC-model.md sections 1 and 4).

Frames of several aspect ratios (odd sizes, up- and downscaled) go through
    filesrc ! rawvideoparse format=rgb ! repvityolo conf-threshold=0.05 ! appsink
and meta-dump prints the meta. Every detection must pair with one of the reference of the
same class within 1e-3 px on each box side and 1e-5 in score; one without a partner fails
unless its score is within 1e-4 of the threshold.

    parity_test.py META_DUMP MODEL.safetensors
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import ref_letterbox  # noqa: E402
import synth  # noqa: E402
from ref_detect import load_model  # noqa: E402

SIZES = ((256, 256), (320, 192), (200, 300), (333, 250), (1280, 720), (720, 1280), (97, 211))
FRAMES = 3
CONF = 0.05                                           # many detections, near-ties too
IOU = 0.7
BOX_TOL, SCORE_TOL, NEAR_CONF = 1e-3, 1e-5, 1e-4


def ultralytics_nms(raw, conf, iou, max_det=300, max_nms=30000, max_wh=7680):
    """non_max_suppression of ultralytics 8.3 for one image as predict calls it (one label
    per box, class-aware by offsetting each class's boxes by class * max_wh, one
    torchvision nms): N x 6 (x1, y1, x2, y2, score, class) in input pixels."""
    x = torch.from_numpy(raw).T                       # anchors x (4 + nc)
    x = x[x[:, 4:].amax(1) > conf]
    xy, half = x[:, :2], x[:, 2:4] / 2
    box = torch.cat((xy - half, xy + half), 1)
    score, j = x[:, 4:].max(1, keepdim=True)
    x = torch.cat((box, score, j.float()), 1)[score.view(-1) > conf]
    x = x[x[:, 4].argsort(descending=True)[:max_nms]]
    keep = torchvision.ops.nms(x[:, :4] + x[:, 5:6] * max_wh, x[:, 4], iou)[:max_det]
    return x[keep].numpy()


def reference(model, imgsz, rgb, conf):
    h, w = rgb.shape[:2]
    x, g = ref_letterbox.letterbox(rgb, (imgsz, imgsz), auto=True)
    with torch.no_grad():
        raw = model(torch.from_numpy(x)[None])[0].numpy()
    d = ultralytics_nms(raw, conf, IOU)
    r = np.float32(g["r"])
    d[:, 0:4:2] = np.clip((d[:, 0:4:2] - g["pad_left"]) / r, 0, w)
    d[:, 1:4:2] = np.clip((d[:, 1:4:2] - g["pad_top"]) / r, 0, h)
    return [(int(c), float(s), *map(float, b)) for *b, s, c in d]


def element(meta_dump, model, conf, w, h, frames, tmp):
    """Per frame [(class, score, x1, y1, x2, y2)] from the element's meta."""
    stride = (w * 3 + 3) & ~3                         # rawvideoparse's default RGB stride
    raw = os.path.join(tmp, f"{w}x{h}.rgb")
    with open(raw, "wb") as f:
        for img in frames:
            rows = np.zeros((h, stride), np.uint8)
            rows[:, :w * 3] = img.reshape(h, w * 3)
            f.write(rows.tobytes())
    desc = (f"filesrc location={raw} ! rawvideoparse format=rgb width={w} height={h} framerate=30/1 ! "
            f"repvityolo model={model} conf-threshold={conf} iou-threshold={IOU} ! appsink name=sink")
    p = subprocess.run([meta_dump, desc], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"FAIL: meta-dump {desc!r}: exit {p.returncode}\n{p.stderr}")
    out, lines = [], iter(p.stdout.splitlines())
    for line in lines:
        n = int(line.split()[2])
        out.append([(int(c), *map(float, rest)) for c, *rest in (next(lines).split() for _ in range(n))])
    if len(out) != len(frames):
        sys.exit(f"FAIL: {len(out)} frames out of the element for {len(frames)}")
    return out


def compare(got, ref, conf):
    """(max box diff, max score diff, failures) pairing each reference detection with the
    closest unused element detection of its class."""
    fails, used, dbox, dscore = [], set(), 0.0, 0.0
    for rd in ref:
        cand = [(max(abs(a - b) for a, b in zip(gd[2:], rd[2:])), i) for i, gd in enumerate(got)
                if i not in used and gd[0] == rd[0]]
        best = min(cand, default=None)
        if best is None or best[0] > BOX_TOL or abs(got[best[1]][1] - rd[1]) > SCORE_TOL:
            if abs(rd[1] - conf) > NEAR_CONF:
                near = got[best[1]] if best else None
                fails.append(f"reference {rd} has no match (nearest {near})")
            continue
        used.add(best[1])
        dbox, dscore = max(dbox, best[0]), max(dscore, abs(got[best[1]][1] - rd[1]))
    for i, gd in enumerate(got):
        if i not in used and abs(gd[1] - conf) > NEAR_CONF:
            fails.append(f"element's {gd} is not in the reference")
    return dbox, dscore, fails


def main():
    meta_dump, model_path = sys.argv[1:3]
    torch.set_num_threads(2)
    model, meta = load_model(model_path)
    imgsz = int(meta["imgsz"])
    rng = np.random.default_rng(4711)
    failures, n_dets, dbox, dscore = 0, 0, 0.0, 0.0
    with tempfile.TemporaryDirectory(prefix="parity-") as tmp:
        for w, h in SIZES:
            frames = [synth.render(rng, w, h)[0] for _ in range(FRAMES)]
            got = element(meta_dump, model_path, CONF, w, h, frames, tmp)
            for k, img in enumerate(frames):
                ref = reference(model, imgsz, img, CONF)
                b, s, fails = compare(got[k], ref, CONF)
                n_dets += len(ref)
                dbox, dscore = max(dbox, b), max(dscore, s)
                for f in fails:
                    print(f"FAIL {w}x{h} frame {k}: {f}")
                failures += len(fails)
                print(f"{'ok  ' if not fails else 'FAIL'} {w}x{h} frame {k}: {len(got[k])} detections, "
                      f"reference {len(ref)}, max box diff {b:.2e} px, score {s:.2e}")
    print(f"{n_dets} reference detections; max box diff {dbox:.3e} px, max score diff {dscore:.3e}; "
          f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
