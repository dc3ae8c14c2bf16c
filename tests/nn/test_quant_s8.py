#!/usr/bin/python3
"""The int8 path of the C core (nn/src/conv_s8.c through quant-driver) against
PyTorch's quantization: per-tensor u8 activation parameters from min/max
widened to 0, torch.quantize_per_tensor (quint8) of the activations,
symmetric per-channel s8 weights (scale max|w| / 127,
torch.quantize_per_channel), and the conv y = W x + b (1x1 and 3x3, stride 1
and 2, through rv_s8_im2col) in float64 from PyTorch's integers, with the
padding a real zero; for each table of kernels the CPU runs. Exits 77
(skip) where it runs none. The same cases through the int8 reference of the whole network
(tools/repvit_int8.py QConv2d): its parameters and codes equal C's, its y C's within float
rounding, in float32 and float64.

usage: test_quant_s8.py QUANT_DRIVER
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import repvit_int8  # noqa: E402

DRIVER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rv-quant-")


def run(table, w, b, x, stride):
    m, cin, k = w.shape[:3]
    h, wd = x.shape[1:]
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    path, out = os.path.join(TMP, "in.bin"), os.path.join(TMP, "out.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<6i", m, cin, k, stride, h, wd) + w.astype("<f4").tobytes()
                + b.astype("<f4").tobytes() + x.astype("<f4").tobytes())
    r = subprocess.run([DRIVER, table, path, out])
    if r.returncode == 77:
        return None
    assert r.returncode == 0, r.returncode
    d = open(out, "rb").read()
    sx, zx = struct.unpack_from("<fi", d)
    o = 8
    ws = np.frombuffer(d, "<f4", m, o)
    o += 4 * m
    wq = np.frombuffer(d, "i1", w.size, o).reshape(w.shape)
    o += w.size
    xq = np.frombuffer(d, "u1", x.size, o).reshape(x.shape)
    o += x.size
    y = np.frombuffer(d, "<f4", m * ho * wo, o).reshape(m, ho, wo)
    assert o + 4 * y.size == len(d)
    return np.float32(sx), zx, ws, wq, xq, y


def reference(w, b, x, stride):
    """PyTorch's integers; y from them in float64, the padding a real 0."""
    f32 = np.float32
    lo, hi = min(f32(x.min()), f32(0)), max(f32(x.max()), f32(0))
    sx = f32((hi - lo) / f32(255)) if hi > lo else f32(1)
    zx = int(np.clip(np.rint(-lo / sx), 0, 255))
    amax = np.abs(w).reshape(len(w), -1).max(1)
    ws = np.where(amax > 0, amax / f32(127), f32(1)).astype(np.float32)
    wq = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(ws.astype(np.float64)),
                                    torch.zeros(len(ws), dtype=torch.int64), 0, torch.qint8).int_repr().numpy()
    xq = torch.quantize_per_tensor(torch.from_numpy(x), float(sx), zx, torch.quint8).int_repr().numpy()

    def conv(a, v):
        return F.conv2d(torch.from_numpy(a)[None], torch.from_numpy(v), stride=stride,
                        padding=w.shape[2] // 2)[0].numpy()
    xd, wd = xq.astype(np.float64) - zx, wq.astype(np.float64)
    scale = float(sx) * ws.astype(np.float64)[:, None, None]
    y = scale * conv(xd, wd) + b[:, None, None]
    tol = 1e-6 * (scale * conv(np.abs(xd), np.abs(wd)) + np.abs(b)[:, None, None]) + 1e-6
    return sx, zx, ws, wq, xq, y, tol


def main():
    tables = [t for t in ("avx512-vnni", "avx-vnni") if check_all(t)]
    if not tables:
        sys.exit(77)
    print(f"{', '.join(tables)}: quantization parameters and integers equal to PyTorch's and the int8 reference's, "
          "y within float rounding")


def check_all(table):
    """False where the CPU lacks the table's instructions."""
    rng = np.random.default_rng(7)
    for m, cin, k, stride, h, w, kind in [
            (8, 64, 1, 1, 6, 8, "silu"), (13, 27, 1, 1, 10, 10, "signed"), (1, 1, 1, 1, 1, 1, "signed"),
            (64, 64, 3, 1, 13, 17, "silu"), (17, 130, 1, 1, 7, 7, "positive"), (9, 5, 1, 1, 1, 7, "negative"),
            (16, 3, 3, 2, 21, 32, "positive"), (24, 16, 3, 2, 10, 9, "silu"), (5, 7, 3, 1, 2, 3, "negative")]:
        wt = rng.normal(0, 0.1, (m, cin, k, k)).astype(np.float32)
        wt[m // 2] = 0  # a zero row: scale 1
        b = rng.normal(0, 1, m).astype(np.float32)
        x = rng.normal(0, 2, (cin, h, w)).astype(np.float32)
        if kind == "silu":
            x = x / (1 + np.exp(-x))
        elif kind == "positive":
            x = np.abs(x) + 0.5
        elif kind == "negative":
            x = -np.abs(x) - 0.5
        got = run(table, wt, b, x, stride)
        if got is None:
            return False
        want = reference(wt, b, x, stride)
        what = f"{table} {m}x{cin}x{k}x{k} stride {stride} on {w}x{h} {kind}"
        for name, g, r in zip(("sx", "zx", "weight scales", "weights", "activations"), got[:5], want[:5]):
            assert np.array_equal(np.asarray(g), np.asarray(r)), f"{what}: {name} differ: {g} vs {r}"
        err = np.abs(got[5] - want[5])
        assert (err <= want[6]).all(), f"{what}: y off by up to {err.max():.3g}"
        check_reference(got, wt, b, x, stride, want[6], what)
    return True


def check_reference(got, w, b, x, stride, tol, what):
    """tools/repvit_int8.py's QConv2d on the case C ran (got: run's tuple)."""
    conv = torch.nn.Conv2d(w.shape[1], len(w), w.shape[2], stride, w.shape[2] // 2)
    conv.weight.data, conv.bias.data = torch.from_numpy(w), torch.from_numpy(b)
    for dtype in (torch.float32, torch.float64):
        log = []
        q = repvit_int8.QConv2d(conv, "conv", log, keep_codes=True).to(dtype)
        with torch.no_grad():
            y = q(torch.from_numpy(x)[None].to(dtype))[0].double().numpy()
        _, sx, zx, xq = log[0]
        sw, wq = q.w_scale, q.wq.numpy().astype(np.int8)
        for name, g, r in zip(("sx", "zx", "weight scales", "weights", "activations"), got[:5],
                              (sx, zx, sw, wq, xq[0].numpy() + zx)):
            assert np.array_equal(np.asarray(g), np.asarray(r)), f"{what}: reference {dtype} {name} differ: {g} vs {r}"
        err = np.abs(got[5] - y)
        assert (err <= 2 * tol).all(), f"{what}: reference {dtype} y off by up to {err.max():.3g}"


if __name__ == "__main__":
    main()
