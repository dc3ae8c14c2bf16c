#!/usr/bin/python3
"""rv_input_size_for_frame / rv_letterbox_geometry / rv_letterbox_frame against
the reference tools/ref_letterbox.py (ultralytics' LetterBox: cv2.resize of
Debian's python3-opencv), for every pixel format, YUV matrix, odd and extreme
sizes, a ladder of resizes, rect and fixed inputs, padded strides.

Packed RGB frames must give cv2.resize's values exactly. YUV frames are
converted to RGB, then resized: the output must be exactly cv2.resize of the
core's own conversion (read back from a 1:1 letterbox of the frame), and that
conversion within one level of the float formula, at near-ties only.

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


def driver_letterbox(path, in_w, in_h):
    """(rc, geometry line, 3 x in_h x in_w float32 output or None)."""
    out_path = os.path.join(TMP, "out.f32")
    rc, out = run("letterbox", path, in_w, in_h, out_path)
    got = np.fromfile(out_path, np.float32).reshape(3, in_h, in_w) if rc == 0 else None
    return rc, out, got


def core_rgb(name, path, rgb):
    """The core's RGB conversion of a YUV frame file (its letterbox at 1:1,
    where the resize is the identity), checked against the float formula's
    rgb; None on failure."""
    h, w = rgb.shape[:2]
    rc, out, got = driver_letterbox(path, w, h)
    if not check(name, rc == 0 and out.split()[:4] == [str(w), str(h), "0", "0"],
                 f"1:1 letterbox: {out}"):
        return None
    conv = np.rint(got.transpose(1, 2, 0) * 255).astype(np.uint8)
    diff = np.abs(conv.astype(int) - rgb)
    check(name, diff.max() <= 1 and np.count_nonzero(diff) <= max(1, diff.size // 10000),
          f"YUV -> RGB: {np.count_nonzero(diff)} of {diff.size} values off, max {diff.max()} levels")
    return conv


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
    if fmt not in PACKED:
        rgb = core_rgb(name, path, rgb)
        if rgb is None:
            return
    rc, out, got = driver_letterbox(path, g["in_w"], g["in_h"])
    if not check(name, rc == 0, f"driver: {out}"):
        return
    rw, rh, left, top, scale = out.split()
    want = (g["resized_w"], g["resized_h"], g["pad_left"], g["pad_top"])
    if not check(name, (int(rw), int(rh), int(left), int(top)) == want,
                 f"geometry {out}, reference {want}"):
        return
    check(name, abs(float(scale) - g["r"]) <= 1e-6 * g["r"], f"scale {scale} vs {g['r']}")
    ref, _ = letterbox(rgb, new_shape, auto)
    t, l = g["pad_top"], g["pad_left"]
    content = np.zeros(ref.shape[1:], bool)
    content[t:t + g["resized_h"], l:l + g["resized_w"]] = True
    check(name, np.array_equal(got[:, ~content], ref[:, ~content]), "padding is not 114/255")
    diff = np.abs(got - ref)[:, content]
    off = np.count_nonzero(diff)
    if check(name, off == 0, f"{off} of {diff.size} values differ from cv2.resize, "
             f"max {diff.max() * 255:.3f} levels"):
        print(f"ok   {name}: geometry {out}, {diff.size} values as cv2.resize")


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
    # The resize ladder: cv2's vectorized path handles widths in blocks, so
    # source and resized widths of every remainder mod 8/16/32; down- and
    # upscales, 1-pixel sides, exact halves (which cv2 runs as INTER_AREA).
    ladder = [(1, 997), (2, 997), (3, 997), (5, 997), (9, 997), (17, 997), (31, 997),
              (45, 997), (63, 997), (100, 997), (127, 997), (211, 997), (333, 997),
              (500, 997), (641, 997), (997, 1), (997, 2), (997, 7), (997, 29), (997, 997),
              (1994, 997), (640, 480), (1280, 720), (1282, 722), (160, 96), (320, 200),
              (1, 500), (500, 1), (13, 11), (2, 3), (959, 541), (1023, 575)]
    for k, (w, h) in enumerate(ladder):
        fmt = ("RGB", "BGRA", "xBGR", "BGR", "NV12", "I420")[k % 6]
        for shape, auto in ((320, True), (640, False)):
            case(rng, fmt, w, h, shape, auto, matrix=k % 4, extra=k % 3)
    errors(rng)
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)
    print("all letterbox cases pass")


main()
