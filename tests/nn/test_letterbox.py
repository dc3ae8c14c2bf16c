#!/usr/bin/python3
"""rv_input_size_for_frame / rv_letterbox_geometry / rv_letterbox_frame against
the numpy reference tools/ref_letterbox.py, for every pixel format, YUV
matrix, odd and extreme sizes, rect and fixed inputs, padded strides.

usage: test_letterbox.py PREPOST_DRIVER
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from ref_letterbox import YUV_MATRICES, geometry, letterbox, yuv420_to_rgb  # noqa: E402

DRIVER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rv-letterbox-")
RV_ERR_ARG = 6

# rv_pixel_format order; packed ones: bytes per pixel and offsets of R, G, B.
PACKED = {
    "RGB": (3, 0, 1, 2), "BGR": (3, 2, 1, 0), "RGBA": (4, 0, 1, 2), "BGRA": (4, 2, 1, 0),
    "RGBx": (4, 0, 1, 2), "BGRx": (4, 2, 1, 0), "xRGB": (4, 1, 2, 3), "xBGR": (4, 3, 2, 1),
    "ARGB": (4, 1, 2, 3), "ABGR": (4, 3, 2, 1),
}
FORMATS = list(PACKED) + ["I420", "NV12"]

failures = []


def frame_file(fmt, planes, strides, w, h, matrix=0):
    head = struct.pack("<7i", FORMATS.index(fmt), w, h, matrix, *strides)
    path = os.path.join(TMP, "frame.bin")
    with open(path, "wb") as f:
        f.write(head + b"".join(p.tobytes() for p in planes))
    return path


def padded(rng, rows, row_bytes, extra):
    """Plane with random bytes beyond row_bytes in every row."""
    plane = rng.integers(0, 256, (rows, row_bytes + extra), dtype=np.uint8)
    return plane, row_bytes + extra


def make_frame(rng, fmt, w, h, matrix, extra):
    """Frame file of random pixels and the RGB image it stands for."""
    if fmt in PACKED:
        bpp, ro, go, bo = PACKED[fmt]
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        plane, stride = padded(rng, h, w * bpp, extra)
        pix = plane[:, :w * bpp].reshape(h, w, bpp)
        pix[..., ro], pix[..., go], pix[..., bo] = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        return frame_file(fmt, [plane], [stride, 0, 0], w, h), rgb
    cw, ch = (w + 1) // 2, (h + 1) // 2
    y, ys = padded(rng, h, w, extra)
    u = rng.integers(0, 256, (ch, cw), dtype=np.uint8)
    v = rng.integers(0, 256, (ch, cw), dtype=np.uint8)
    if fmt == "I420":
        up, us = padded(rng, ch, cw, extra)
        vp, vs = padded(rng, ch, cw, extra)
        up[:, :cw], vp[:, :cw] = u, v
        planes, strides = [y, up, vp], [ys, us, vs]
    else:
        uv, uvs = padded(rng, ch, 2 * cw, extra)
        uv[:, 0:2 * cw:2], uv[:, 1:2 * cw:2] = u, v
        planes, strides = [y, uv], [ys, uvs, 0]
    rgb = yuv420_to_rgb(y[:, :w], u, v, YUV_MATRICES[matrix])
    return frame_file(fmt, planes, strides, w, h, matrix), rgb


def run(*args):
    p = subprocess.run([DRIVER, *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stdout.strip()


def check(name, cond, detail=""):
    if not cond:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}")
    return cond


def case(rng, fmt, w, h, shape, auto, matrix=0, extra=0):
    """shape: target (int, square) or fixed (in_h, in_w)."""
    new_shape = (shape, shape) if isinstance(shape, int) else shape
    name = f"{fmt} {w}x{h} -> {new_shape[1]}x{new_shape[0]} {'rect' if auto else 'fixed'}" \
        f" {YUV_MATRICES[matrix] if fmt in ('I420', 'NV12') else ''} stride+{extra}"
    g = geometry(w, h, new_shape, auto)
    if isinstance(shape, int):
        rc, out = run("size", w, h, shape, int(auto))
        if not check(name, rc == 0 and out == f"{g['in_w']} {g['in_h']}",
                     f"input size {out!r}, reference {g['in_w']} {g['in_h']}"):
            return
    path, rgb = make_frame(rng, fmt, w, h, matrix, extra)
    out_path = os.path.join(TMP, "out.f32")
    rc, out = run("letterbox", path, g["in_w"], g["in_h"], out_path)
    if not check(name, rc == 0, f"driver: {out}"):
        return
    rw, rh, left, top, scale = out.split()
    want = (g["resized_w"], g["resized_h"], g["pad_left"], g["pad_top"])
    if not check(name, (int(rw), int(rh), int(left), int(top)) == want,
                 f"geometry {out}, reference {want}"):
        return
    check(name, abs(float(scale) - g["r"]) <= 1e-6 * g["r"], f"scale {scale} vs {g['r']}")
    got = np.fromfile(out_path, np.float32).reshape(3, g["in_h"], g["in_w"])
    ref, _ = letterbox(rgb, new_shape, auto)
    t, l = g["pad_top"], g["pad_left"]
    content = np.zeros(ref.shape[1:], bool)
    content[t:t + g["resized_h"], l:l + g["resized_w"]] = True
    check(name, np.array_equal(got[:, ~content], ref[:, ~content]), "padding is not 114/255")
    diff = np.abs(got - ref)[:, content]
    off = np.count_nonzero(diff) / diff.size
    check(name, diff.max() <= 1.0001 / 255, f"max diff {diff.max() * 255:.3f} levels")
    # Only rounding of near-tie values may differ (fixed-point weights).
    check(name, off <= 0.05, f"{off:.2%} of the values differ by a level")
    print(f"ok   {name}: geometry {out}, {off:.3%} values one level off")


def expect_error(name, path, in_w, in_h):
    rc, out = run("letterbox", path, in_w, in_h, os.path.join(TMP, "out.f32"))
    check(name, rc == 1 and out == f"error {RV_ERR_ARG}", f"got rc {rc} {out!r}")


def bad_format(rgb):
    path = frame_file("RGB", [rgb], [15, 0, 0], 5, 4)
    with open(path, "r+b") as f:
        f.write(struct.pack("<i", 12))
    return path


def errors(rng):
    rgb = rng.integers(0, 256, (4, 5 * 3), dtype=np.uint8)
    expect_error("stride too small", frame_file("RGB", [rgb], [14, 0, 0], 5, 4), 32, 32)
    expect_error("unknown format", bad_format(rgb), 32, 32)
    y = rng.integers(0, 256, (4, 5), dtype=np.uint8)
    c = rng.integers(0, 256, (2, 3), dtype=np.uint8)
    expect_error("I420 without V plane", frame_file("I420", [y, c], [5, 3, 0], 5, 4), 32, 32)
    expect_error("I420 chroma stride", frame_file("I420", [y, c[:, :2], c[:, :2]], [5, 2, 2], 5, 4),
                 32, 32)
    expect_error("NV12 chroma stride", frame_file("NV12", [y, c[:, :2]], [5, 2, 0], 5, 4), 32, 32)
    expect_error("bad YUV matrix", frame_file("NV12", [y, np.zeros((2, 6), np.uint8)], [5, 6, 0],
                                              5, 4, matrix=7), 32, 32)
    expect_error("zero width", frame_file("RGB", [rgb], [15, 0, 0], 0, 4), 32, 32)
    for args in ((0, 720, 640, 1), (1280, 720, 600, 1), (1280, -1, 640, 0), (1280, 720, 0, 0)):
        rc, out = run("size", *args)
        check(f"size {args}", rc == 1 and out == f"error {RV_ERR_ARG}", f"got {out!r}")


def main():
    rng = np.random.default_rng(1234)
    # Every format on a small odd frame, rect and fixed, padded strides.
    for i, fmt in enumerate(FORMATS):
        for matrix in (range(4) if fmt in ("I420", "NV12") else [0]):
            case(rng, fmt, 333, 251, 320, True, matrix, extra=i % 5)
            case(rng, fmt, 97, 131, (128, 96), False, matrix, extra=3)
    # Sizes: tiny, odd, extreme aspect, exact 1:1 and 2:1, HD, portrait.
    sizes = [(1, 1), (2, 1), (4097, 3), (3, 4097), (17, 9), (641, 479), (640, 384),
             (1280, 768), (320, 192), (1280, 720), (1920, 1080), (720, 1280), (1667, 1001)]
    shapes = [(640, True), (640, False), (416, True), ((384, 640), False), (320, True)]
    for k, (w, h) in enumerate(sizes):
        for j, (shape, auto) in enumerate(shapes):
            fmt = FORMATS[(k + j) % len(FORMATS)]
            if w * h > 1 << 20 and j > 1:
                continue                        # HD frames: two shapes suffice
            case(rng, fmt, w, h, shape, auto, matrix=(k + j) % 4, extra=(k * 7 + j) % 9)
    for fmt in ("NV12", "I420", "RGB", "BGRx"):
        case(rng, fmt, 1920, 1080, 640, True, matrix=1, extra=64)
    errors(rng)
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)
    print("all letterbox cases pass")


main()
