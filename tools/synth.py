#!/usr/bin/python3
"""Synthetic shapes task for the shipped demo model: circle, square, triangle.

Filled shapes in solid colours that contrast with what lies under them, squares and
triangles at any rotation, 4%..60% of the frame's short side, partly overlapping or cut
off by the frame edge, on varied backgrounds (solid, gradients, blotches, noise, stripes,
checkers) with clutter that belongs to no class (eccentric ellipses, stars, crosses, lines).

    render(rng, width, height) -> (uint8 HxWx3 RGB, [(class, x1, y1, x2, y2), ...])
    heldout() -> [(width, height, [(image, labels), ...]), ...]   fixed seed, 6 x 50 frames
    clip_frame(seed, t) -> (image, labels)                          1280x720 moving-shapes demo

CLI:
    synth.py heldout OUTDIR                  WxH.rgb raw streams + labels.json
    synth.py clip OUT.rgb [--seconds 10] [--fps 30] [--seed 7]   raw RGB 1280x720 frames
"""
import argparse
import json
import math
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
HELDOUT_SEED = 90210
HELDOUT_SIZES = ((1280, 720), (1920, 1080), (640, 480), (480, 640), (720, 1280), (512, 512))
HELDOUT_FRAMES = 50
MIN_SIZE, MAX_SIZE = 0.04, 0.60   # shape extent as a fraction of the frame's short side
MIN_CONTRAST = 110.0              # RGB distance between a shape and the mean under it


# ---------------------------------------------------------------- backgrounds

def _colour(rng):
    return rng.integers(0, 256, 3)


def _smooth_field(rng, w, h, cells, channels=3):
    """Low-resolution random grid blown up bilinearly: gradients (2 cells) to blotches."""
    gw = max(2, round(cells * w / max(w, h)))
    gh = max(2, round(cells * h / max(w, h)))
    small = rng.integers(0, 256, (gh, gw, channels), dtype=np.uint8)
    return np.asarray(Image.fromarray(small.squeeze()).resize((w, h), Image.BILINEAR), np.float32)


def _pattern(rng, w, h):
    """Stripes or checkers at a random angle and period, in [-1, 1]."""
    a = rng.uniform(0, math.pi)
    period = rng.uniform(6, 0.25 * min(w, h))
    y, x = np.ogrid[:h, :w]
    u = (x * math.cos(a) + y * math.sin(a)).astype(np.float32) * (2 * math.pi / period)
    if rng.random() < 0.5:
        return np.sin(u)
    v = (y * math.cos(a) - x * math.sin(a)).astype(np.float32) * (2 * math.pi / period)
    return np.sign(np.sin(u) * np.sin(v))


def _background(rng, w, h):
    kind = rng.integers(0, 4)
    if kind == 0:    # solid
        img = np.empty((h, w, 3), np.float32)
        img[:] = _colour(rng)
    elif kind == 1:  # gradient
        img = _smooth_field(rng, w, h, 2)
    elif kind == 2:  # blotches
        img = _smooth_field(rng, w, h, int(rng.integers(3, 12)))
    else:            # texture: stripes / checkers between two colours
        c0, c1 = _colour(rng).astype(np.float32), _colour(rng).astype(np.float32)
        c1 = c0 + (c1 - c0) * rng.uniform(0.15, 0.5)  # keep textures low contrast
        t = (_pattern(rng, w, h)[..., None] + 1) / 2
        img = c0 + t * (c1 - c0)
    if rng.random() < 0.4:  # grain
        sigma = rng.uniform(3, 18)
        img = img + rng.standard_normal((h, w, 1), np.float32) * sigma
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


# ---------------------------------------------------------------- shapes

def _regular(cx, cy, r, n, rot):
    a = rot + np.arange(n) * (2 * math.pi / n)
    return np.stack((cx + r * np.cos(a), cy + r * np.sin(a)), 1)


def _shape_polygon(rng, cls, cx, cy, d):
    """Vertices of a class shape whose nominal extent is d pixels."""
    rot = rng.uniform(0, 2 * math.pi)
    if cls == 0:
        return _regular(cx, cy, d / 2, max(24, int(d)), 0.0)
    if cls == 1:
        return _regular(cx, cy, d * 0.85 / math.sqrt(2), 4, rot)   # side 0.85 d
    pts = _regular(cx, cy, d / math.sqrt(3), 3, rot)                # side d
    return pts + rng.uniform(-0.06, 0.06, pts.shape) * d


def _distractor_polygon(rng, cx, cy, d):
    kind = rng.integers(0, 3)
    rot = rng.uniform(0, 2 * math.pi)
    if kind == 0:    # ellipse, clearly not a circle
        a = np.linspace(0, 2 * math.pi, max(24, int(d)), endpoint=False)
        ratio = rng.uniform(2.5, 5.0)
        x, y = d / 2 * np.cos(a), d / 2 / ratio * np.sin(a)
    elif kind == 1:  # star
        n = int(rng.integers(5, 9))
        a = np.arange(2 * n) * (math.pi / n)
        r = np.where(np.arange(2 * n) % 2 == 0, d / 2, d / 2 * rng.uniform(0.35, 0.5))
        x, y = r * np.cos(a), r * np.sin(a)
    else:            # cross / plus
        t = d * rng.uniform(0.1, 0.18)
        s = d / 2
        x = np.array([-t, t, t, s, s, t, t, -t, -t, -s, -s, -t])
        y = np.array([-s, -s, -t, -t, t, t, s, s, t, t, -t, -t])
    c, s_ = math.cos(rot), math.sin(rot)
    return np.stack((cx + x * c - y * s_, cy + x * s_ + y * c), 1)


def _contrasting(rng, under):
    """A solid colour at least MIN_CONTRAST away from the mean colour under the shape."""
    for _ in range(100):
        c = _colour(rng)
        if np.linalg.norm(c - under) >= MIN_CONTRAST:
            return c
    return np.where(under > 127, 0, 255)


def _box(pts):
    return np.concatenate((pts.min(0), pts.max(0)))


def _overlap(a, b):
    """Intersection over the smaller of the two boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])
    return iw * ih / min(area(a), area(b))


def _fill(draw, pts, colour):
    draw.polygon([tuple(p) for p in pts], fill=tuple(int(v) for v in colour))


def render(rng, width, height, n_shapes=None):
    """One frame and its labels [(class index, x1, y1, x2, y2)] in pixels (x2, y2 exclusive)."""
    img = _background(rng, width, height)
    draw = ImageDraw.Draw(img)
    short = min(width, height)
    for _ in range(int(rng.integers(0, 5))):          # clutter first: under the shapes
        d = short * math.exp(rng.uniform(math.log(MIN_SIZE), math.log(0.5)))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        _fill(draw, _distractor_polygon(rng, cx, cy, d), _colour(rng))
    for _ in range(int(rng.integers(0, 6))):
        p = rng.uniform(0, 1, 4) * [width, height, width, height]
        draw.line(tuple(p), fill=tuple(int(v) for v in _colour(rng)), width=int(rng.integers(1, 4)))
    arr = np.asarray(img)
    labels = []
    n = int(rng.integers(0, 9)) if n_shapes is None else n_shapes
    for _ in range(n):
        for _try in range(20):
            cls = int(rng.integers(0, 3))
            d = short * (MIN_SIZE + (MAX_SIZE - MIN_SIZE) * rng.random() ** 1.5)  # median 24%
            cx, cy = rng.uniform(-0.25 * d, width + 0.25 * d), rng.uniform(-0.25 * d, height + 0.25 * d)
            pts = _shape_polygon(rng, cls, cx, cy, d)
            full = _box(pts)
            vis = np.clip(full, 0, [width, height, width, height])
            area = (full[2] - full[0]) * (full[3] - full[1])
            if (vis[2] - vis[0]) * (vis[3] - vis[1]) < 0.6 * area or min(vis[2] - vis[0], vis[3] - vis[1]) < 4:
                continue   # mostly outside the frame
            if any(_overlap(vis, np.array(b[1:])) > 0.3 for b in labels):
                continue   # would hide too much of a shape already placed
            x1, y1, x2, y2 = (int(v) for v in np.round(vis))
            under = arr[y1:y2, x1:x2].reshape(-1, 3).mean(0)
            _fill(draw, pts, _contrasting(rng, under))
            arr = np.asarray(img)
            labels.append((cls, *(float(v) for v in vis)))
            break
    return np.array(img), labels


# ---------------------------------------------------------------- data sets

def heldout(seed=HELDOUT_SEED, sizes=HELDOUT_SIZES, frames=HELDOUT_FRAMES):
    """The fixed held-out set: per size group, `frames` (image, labels) pairs."""
    groups = []
    for gi, (w, h) in enumerate(sizes):
        rng = np.random.default_rng([seed, gi])
        groups.append((w, h, [render(rng, w, h) for _ in range(frames)]))
    return groups


def write_heldout(outdir, groups):
    """WxH.rgb (frames back to back, raw RGB) and labels.json {"WxH": [[[cls,x1,y1,x2,y2],...],...]}."""
    os.makedirs(outdir, exist_ok=True)
    labels = {}
    for w, h, frames in groups:
        key = f"{w}x{h}"
        with open(os.path.join(outdir, key + ".rgb"), "wb") as f:
            for img, _ in frames:
                f.write(np.ascontiguousarray(img).tobytes())
        labels[key] = [[list(b) for b in lab] for _, lab in frames]
    with open(os.path.join(outdir, "labels.json"), "w") as f:
        json.dump({"classes": CLASSES, "groups": labels}, f)


# ---------------------------------------------------------------- demo clip

CLIP_W, CLIP_H = 1280, 720


def _clip_scene(seed):
    rng = np.random.default_rng([seed, 7])
    bg = np.asarray(_background(rng, CLIP_W, CLIP_H)).copy()
    actors = []
    for i in range(7):
        d = CLIP_H * rng.uniform(0.1, 0.35)
        p = rng.uniform([d, d], [CLIP_W - d, CLIP_H - d])
        a = rng.uniform(0, 2 * math.pi)
        x1, y1 = (int(v) for v in p - d / 2)
        under = bg[y1:y1 + int(d), x1:x1 + int(d)].reshape(-1, 3).mean(0)
        actors.append(dict(cls=i % 3, d=d, p=p, v=rng.uniform(40, 140) * np.array([math.cos(a), math.sin(a)]),
                           rot=rng.uniform(0, 2 * math.pi), spin=rng.uniform(-1.2, 1.2),
                           colour=_contrasting(rng, under)))
    return bg, actors


def _bounce(p0, v, t, lo, hi):
    """Position at time t of a point moving at v, reflected between lo and hi."""
    span = hi - lo
    q = np.mod(p0 - lo + v * t, 2 * span)
    return lo + np.where(q > span, 2 * span - q, q)


def clip_frame(seed, t):
    """Frame at time t (seconds) of the 1280x720 demo clip, and its labels; deterministic."""
    bg, actors = _clip_scene(seed)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    labels = []
    for a in actors:
        d = a["d"]
        cx, cy = _bounce(a["p"], a["v"], t, d / 2, np.array([CLIP_W, CLIP_H]) - d / 2)
        rot = a["rot"] + a["spin"] * t
        if a["cls"] == 0:
            pts = _regular(cx, cy, d / 2, 96, 0.0)
        elif a["cls"] == 1:
            pts = _regular(cx, cy, d * 0.85 / math.sqrt(2), 4, rot)
        else:
            pts = _regular(cx, cy, d / math.sqrt(3), 3, rot)
        box = np.clip(_box(pts), 0, [CLIP_W, CLIP_H, CLIP_W, CLIP_H])
        _fill(draw, pts, a["colour"])
        labels.append((a["cls"], *(float(v) for v in box)))
    return np.array(img), labels


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("heldout", help="write the held-out set")
    h.add_argument("outdir")
    c = sub.add_parser("clip", help="write the demo clip as raw RGB 1280x720 frames")
    c.add_argument("out")
    c.add_argument("--seconds", type=float, default=10.0)
    c.add_argument("--fps", type=int, default=30)
    c.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    if args.cmd == "heldout":
        write_heldout(args.outdir, heldout())
    else:
        with open(args.out, "wb") as f:
            for i in range(round(args.seconds * args.fps)):
                f.write(clip_frame(args.seed, i / args.fps)[0].tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
