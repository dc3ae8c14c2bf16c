#!/usr/bin/python3
"""Reference letterbox of SPEC-model.md section 1, as ultralytics runs it.

ultralytics' LetterBox (scaleup, center, auto = rect mode) on an 8-bit RGB
image, resized with cv2.resize INTER_LINEAR as LetterBox calls it, 114
padding, then /255 into a 3 x H x W float32 tensor. YUV 4:2:0 frames are
converted to 8-bit RGB first (chroma nearest, BT.601/BT.709, limited or full
range, each value rounded to a whole level), then resized, as decode -> convert
-> cv2 would.

    from ref_letterbox import geometry, letterbox, yuv420_to_rgb
    g = geometry(1920, 1080, (640, 640), auto=True)   # in_w 640, in_h 384 ...
    x = letterbox(rgb, (640, 640), auto=True)         # float32 3 x 384 x 640
"""
import cv2
import numpy as np

PAD = 114
YUV_MATRICES = ("bt601-limited", "bt709-limited", "bt601-full", "bt709-full")


def geometry(frame_w, frame_h, new_shape, auto, stride=32):
    """LetterBox's numbers for a frame of frame_w x frame_h and new_shape
    (h, w): in_w, in_h, resized_w, resized_h, pad_left, pad_top, r. The
    resized size is at least 1 x 1."""
    r = min(new_shape[0] / frame_h, new_shape[1] / frame_w)
    # At least one pixel: ultralytics would fail on a 4097 x 3 frame instead.
    unpad_w = max(1, int(round(frame_w * r)))
    unpad_h = max(1, int(round(frame_h * r)))
    dw, dh = new_shape[1] - unpad_w, new_shape[0] - unpad_h
    if auto:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    return dict(in_w=unpad_w + left + right, in_h=unpad_h + top + bottom,
                resized_w=unpad_w, resized_h=unpad_h,
                pad_left=left, pad_top=top, r=r)


def resize_linear(img, w, h):
    """An H x W x C uint8 image resized to w x h as ultralytics' LetterBox
    does it: cv2.resize INTER_LINEAR, skipped where the size is already
    right."""
    if img.shape[1] == w and img.shape[0] == h:
        return img.copy()
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)


def yuv420_to_rgb(y, u, v, matrix):
    """8-bit RGB (H x W x 3) of 4:2:0 planes: y H x W, u and v the chroma
    planes ((H+1)/2 x (W+1)/2); pixel (x, y) uses chroma (x/2, y/2)."""
    bt709 = matrix.startswith("bt709")
    full = matrix.endswith("full")
    kr, kb = (0.2126, 0.0722) if bt709 else (0.299, 0.114)
    kg = 1 - kr - kb
    h, w = y.shape
    yy = y.astype(np.float64)
    cb = u[np.arange(h) // 2][:, np.arange(w) // 2].astype(np.float64) - 128
    cr = v[np.arange(h) // 2][:, np.arange(w) // 2].astype(np.float64) - 128
    luma = yy if full else (yy - 16) * 255 / 219
    if not full:
        cb, cr = cb * 255 / 224, cr * 255 / 224
    r = luma + 2 * (1 - kr) * cr
    g = luma - 2 * kb * (1 - kb) / kg * cb - 2 * kr * (1 - kr) / kg * cr
    b = luma + 2 * (1 - kb) * cb
    rgb = np.stack([r, g, b], axis=-1)
    return np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)


def letterbox(rgb, new_shape, auto):
    """3 x in_h x in_w float32 network input of an H x W x 3 uint8 RGB image
    (ultralytics' predictor preprocessing), and its geometry."""
    g = geometry(rgb.shape[1], rgb.shape[0], new_shape, auto)
    canvas = np.full((g["in_h"], g["in_w"], 3), PAD, np.uint8)
    t, l = g["pad_top"], g["pad_left"]
    canvas[t:t + g["resized_h"], l:l + g["resized_w"]] = resize_linear(
        rgb, g["resized_w"], g["resized_h"])
    x = canvas.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    return x, g
