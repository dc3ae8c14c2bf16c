#!/usr/bin/python3
"""The int8 path of the C core (nn/src/conv_s8.c through quant-driver) against
PyTorch's quantization: per-tensor u8 activation parameters from min/max
widened to 0, torch.quantize_per_tensor (quint8) of the activations,
symmetric per-channel s8 weights (scale max|w| / 127,
torch.quantize_per_channel), and y = W x + b in float64 from PyTorch's
integers. Exits 77 (skip) where the CPU has no int8 kernels.

usage: test_quant_s8.py QUANT_DRIVER
"""
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

DRIVER = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="rv-quant-")


def run(w, b, x):
    (m, k), n = w.shape, x.shape[1]
    path, out = os.path.join(TMP, "in.bin"), os.path.join(TMP, "out.bin")
    with open(path, "wb") as f:
        f.write(struct.pack("<3i", m, k, n) + w.astype("<f4").tobytes() + b.astype("<f4").tobytes()
                + x.astype("<f4").tobytes())
    r = subprocess.run([DRIVER, path, out])
    if r.returncode == 77:
        sys.exit(77)
    assert r.returncode == 0, r.returncode
    d = open(out, "rb").read()
    sx, zx = struct.unpack_from("<fi", d)
    o = 8
    ws = np.frombuffer(d, "<f4", m, o)
    o += 4 * m
    wq = np.frombuffer(d, "i1", m * k, o).reshape(m, k)
    o += m * k
    xq = np.frombuffer(d, "u1", k * n, o).reshape(k, n)
    o += k * n
    y = np.frombuffer(d, "<f4", m * n, o).reshape(m, n)
    assert o + 4 * m * n == len(d)
    return np.float32(sx), zx, ws, wq, xq, y


def reference(w, b, x):
    f32 = np.float32
    lo, hi = min(f32(x.min()), f32(0)), max(f32(x.max()), f32(0))
    sx = f32((hi - lo) / f32(255)) if hi > lo else f32(1)
    zx = int(np.clip(np.rint(-lo / sx), 0, 255))
    amax = np.abs(w).max(1)
    ws = np.where(amax > 0, amax / f32(127), f32(1)).astype(np.float32)
    wq = torch.quantize_per_channel(torch.from_numpy(w), torch.from_numpy(ws.astype(np.float64)),
                                    torch.zeros(len(ws), dtype=torch.int64), 0, torch.qint8).int_repr().numpy()
    xq = torch.quantize_per_tensor(torch.from_numpy(x), float(sx), zx, torch.quint8).int_repr().numpy()
    acc = wq.astype(np.float64) @ (xq.astype(np.float64) - zx)
    y = f32(sx) * ws.astype(np.float64)[:, None] * acc + b[:, None]
    mag = np.abs(wq.astype(np.float64)) @ np.abs(xq.astype(np.float64) - zx)
    tol = 1e-6 * (float(sx) * ws.astype(np.float64)[:, None] * mag + np.abs(b)[:, None]) + 1e-6
    return sx, zx, ws, wq, xq, y, tol


def main():
    rng = np.random.default_rng(7)
    cases = 0
    for m, k, n, kind in [(8, 64, 48, "silu"), (13, 27, 100, "signed"), (1, 1, 1, "signed"),
                          (64, 576, 201, "silu"), (17, 130, 49, "positive"), (9, 5, 7, "negative")]:
        w = rng.normal(0, 0.1, (m, k)).astype(np.float32)
        w[m // 2] = 0  # a zero row: scale 1
        b = rng.normal(0, 1, m).astype(np.float32)
        x = rng.normal(0, 2, (k, n)).astype(np.float32)
        if kind == "silu":
            x = x / (1 + np.exp(-x))
        elif kind == "positive":
            x = np.abs(x) + 0.5
        elif kind == "negative":
            x = -np.abs(x) - 0.5
        got, want = run(w, b, x), reference(w, b, x)
        names = ("sx", "zx", "weight scales", "weights", "activations")
        for name, g, r in zip(names, got[:5], want[:5]):
            assert np.array_equal(np.asarray(g), np.asarray(r)), f"{m}x{k}x{n} {kind}: {name} differ: {g} vs {r}"
        err = np.abs(got[5] - want[5])
        assert (err <= want[6]).all(), f"{m}x{k}x{n} {kind}: y off by up to {err.max():.3g}"
        cases += 1
    print(f"{cases} cases: quantization parameters and integers equal to PyTorch's, y within float rounding")


if __name__ == "__main__":
    main()
