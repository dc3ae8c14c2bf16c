#!/usr/bin/python3
"""PyTorch reference of the whole detection path: letterbox (SPEC-model.md section 1, rect
mode at the model's imgsz, tools/ref_letterbox.py), the network (tools/repvit_yolo.py) and
post-processing (section 4, tools/ref_post.py).

    det = Detector("models/shapes-m0_9-n.safetensors")
    det.detect(rgb) -> [(class, score, x1, y1, x2, y2), ...] in frame pixels, best first

CLI: ref_detect.py MODEL.safetensors FRAMES.rgb WIDTH HEIGHT   (one JSON list per frame)
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_letterbox  # noqa: E402
import ref_post  # noqa: E402
import safetensors_io  # noqa: E402
from repvit_yolo import build_model  # noqa: E402


def load_model(path):
    """A spec weight file (F32/F16) -> (eval-mode model, metadata)."""
    tensors, meta = safetensors_io.load(path)
    try:
        model = build_model(meta["variant"], meta["scale"], int(meta["nc"]), float(meta.get("bn_eps", 1e-3)))
    except KeyError as e:
        raise ValueError(f"{path}: metadata lacks {e}") from None
    missing, unexpected = model.load_state_dict(
        {k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: missing tensors {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), meta


class Detector:
    def __init__(self, path, imgsz=None, conf=0.25, iou=0.7):
        self.model, meta = load_model(path)
        self.imgsz = imgsz or int(meta.get("imgsz", 640))
        self.names = json.loads(meta.get("names", "null")) or [str(i) for i in range(self.model.nc)]
        self.conf, self.iou = conf, iou

    @torch.no_grad()
    def detect(self, rgb):
        """RGB uint8 HxWx3 frame -> [(class, score, x1, y1, x2, y2)] in frame pixels."""
        h, w = rgb.shape[:2]
        x, g = ref_letterbox.letterbox(rgb, (self.imgsz, self.imgsz), auto=True)
        raw = self.model(torch.from_numpy(x)[None])[0].numpy()
        det = ref_post.postprocess(raw, w, h, g["pad_left"], g["pad_top"], g["r"], self.conf, self.iou)
        return [(int(d[5]), float(d[4]), *map(float, d[:4])) for d in det]


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    torch.set_num_threads(2)
    det = Detector(argv[1])
    w, h = int(argv[3]), int(argv[4])
    frames = np.fromfile(argv[2], np.uint8)
    if w <= 0 or h <= 0 or frames.size % (w * h * 3):
        print(f"{argv[2]}: {frames.size} bytes are not a whole number of {w}x{h} RGB frames", file=sys.stderr)
        return 1
    for img in frames.reshape(-1, h, w, 3):
        print(json.dumps(det.detect(img)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
