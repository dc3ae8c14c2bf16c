#!/usr/bin/python3
"""Every int8 dense conv of one C forward against the int8 reference (tools/repvit_int8.py),
each from C's own input to that layer, so that differences do not compound from layer to layer.

    int8_layers_test.py --driver EXE --variant V --scale S [--nc N] [--seed K] [--size HxW]
        a random model with calibrated BatchNorm statistics (tools/make_golden.py)
    int8_layers_test.py --driver EXE --model FILE [--seed K] [--size HxW]
        a model file as it is (the shipped one) on an image-like input

EXE is int8-layers-driver: it runs the model with --precision int8 and dumps, per int8 conv,
C's f32 input, the scale, zero point and u8 codes C's quantization gives it, and C's output
(activation and residual applied). Each C conv is matched to the reference conv with the same
folded weights (repvit_int8.fold does the C loader's float32 arithmetic, so they are equal bit
for bit). Then, in float64 from C's input x:
  - scale and zero point: repvit_int8.u8_params of x's min and max; C's must be equal (both
    are defined in float32 arithmetic, so exactly);
  - codes: rint(x * float32(1 / scale)) + zero, clamped; C forms the product in float32, so
    its code may differ by 1 where the exact product lies within a float32 ulp of a .5
    boundary, and nowhere else;
  - output: the int32 sum of the reference's codes with the reference's s8 weight codes,
    times float32(sx * sw[m]), plus the bias, the layer's activation, plus its residual (the
    input of the first conv of the residual branch, as the reference's forward adds it: C's
    tensor, taken from the dump of that conv, not from C's residual argument).
|C - reference| must be within
    L (sx sw[m] sum over the taps of the flipped input codes of |w code|)
    + ROUND_ULPS u (L (|sx sw acc| + |pre|) + |pre| + |act| + |y|),       u = 2^-24
where pre = sx sw acc + bias, act its activation, y the layer's output, and L the activation's
largest slope (1, SiLU 1.1, GELU 1.13, sigmoid 1/4): flipped codes move the sum by
|w code| each; C's int32 sum is exact, its conversion to float, the FMA with scale and bias,
the activation (a few ulp: tests/nn/test_ops.c) and the residual add each round in float32.
Exits 77 where int8 falls back to f32 on this CPU.
"""
import argparse
import collections
import copy
import os
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import make_golden  # noqa: E402
import repvit_int8  # noqa: E402
import repvit_yolo as ry  # noqa: E402

F32 = np.float32
U = 2.0 ** -24
ROUND_ULPS = 4
ACTS = ("none", "silu", "gelu", "relu", "sigmoid")   # rv_act's order (nn/src/model.h)
SLOPE = {"none": 1.0, "silu": 1.1, "gelu": 1.13, "relu": 1.0, "sigmoid": 0.25}


def activation(v, act):
    if act == "silu":
        return v * torch.sigmoid(v)
    if act == "gelu":
        return F.gelu(v)
    if act == "relu":
        return torch.relu(v)
    if act == "sigmoid":
        return torch.sigmoid(v)
    return v


def read_dump(path):
    """The driver's records: dicts of the conv's geometry and arrays."""
    d, o, out = open(path, "rb").read(), 0, []

    def take(dtype, n, shape):
        nonlocal o
        a = np.frombuffer(d, dtype, n, o).reshape(shape)
        o += a.nbytes
        return a
    while o < len(d):
        cout, cin, k, stride, act, h, w, ho, wo = struct.unpack_from("<9i", d, o)
        sx, zx = struct.unpack_from("<fi", d, o + 36)
        o += 44
        out.append({"act": ACTS[act], "stride": stride, "sx": F32(sx), "zx": zx,
                    "w": take("<f4", cout * cin * k * k, (cout, cin, k, k)), "b": take("<f4", cout, (cout,)),
                    "x": take("<f4", cin * h * w, (cin, h, w)), "xq": take("u1", cin * h * w, (cin, h, w)),
                    "y": take("<f4", cout * ho * wo, (cout, ho, wo))})
    return out


def reference_convs(model):
    """name -> (folded conv, activation, name of the conv whose input is added as the residual,
    or None) for every conv int8 covers, in the folded model as repvit_int8 quantizes it."""
    folded = repvit_int8.fold(copy.deepcopy(model).float().eval())
    names = {id(m): n for n, m in folded.named_modules()}
    dense = {id(c) for _, _, c in repvit_int8.dense_convs(folded)}
    sigmoid = {id(s[-1]) for s in folded.model[15].cv3}   # Detect.decode's class scores
    # the branches whose input their forward adds to their output: x + f(x)
    branches = []
    for m in folded.modules():
        if isinstance(m, ry.Residual):
            branches.append(m.m)
        elif isinstance(m, ry.Bottleneck):
            branches.append(m)
        elif isinstance(m, ry.PSABlock):
            branches += [m.attn, m.ffn]
    residual = {}
    for br in branches:
        convs = [c for c in br.modules() if id(c) in dense]
        residual[id(convs[-1])] = names[id(convs[0])]
    out = {}
    for parent, name, conv in repvit_int8.dense_convs(folded):
        if isinstance(parent, ry.Conv):
            act = "silu" if isinstance(parent.act, nn.SiLU) else "none"
        elif id(conv) in sigmoid:
            act = "sigmoid"
        else:   # a Sequential: the module after the conv, if an activation
            kids = list(parent.children())
            nxt = kids[kids.index(conv) + 1] if kids.index(conv) + 1 < len(kids) else None
            act = "gelu" if isinstance(nxt, nn.GELU) else "none"
        out[names[id(conv)]] = (conv, act, residual.get(id(conv)))
    return out


def match(records, ref):
    """name of the reference conv of each C record (the same folded weights and bias)."""
    by_weights = {(c.weight.detach().numpy().tobytes(), c.bias.detach().numpy().tobytes()): n
                  for n, (c, _, _) in ref.items()}
    assert len(by_weights) == len(ref), "two reference convs have the same weights"
    names = []
    for i, r in enumerate(records):
        n = by_weights.get((r["w"].tobytes(), r["b"].tobytes()))
        assert n is not None, f"C conv #{i} {r['w'].shape}: its folded weights are no reference conv's"
        names.append(n)
    assert sorted(names) == sorted(ref), "C's int8 convs are not the reference's"
    return names


def check_layer(r, conv, act, res):
    """(failures, flipped codes, worst |C - ref| / bound, worst |C - ref| / rounding part)."""
    bad = []
    x = r["x"].astype(np.float64)
    sx, zx = repvit_int8.u8_params(r["x"].min(), r["x"].max())
    if (r["sx"], r["zx"]) != (sx, zx):
        bad.append(f"scale, zero point {r['sx']!r}, {r['zx']} (reference {sx!r}, {zx})")
    p = x * float(F32(1) / sx)      # exact in float64
    q = np.clip(np.rint(p), -zx, 255 - zx)
    flip = r["xq"].astype(np.float64) - zx - q
    off = flip != 0
    to_half = np.abs(p - np.floor(p) - 0.5)
    near = to_half <= np.spacing(np.abs(p).astype(F32)).astype(np.float64)
    if np.abs(flip).max(initial=0) > 1 or (off & ~near).any():
        i = np.argmax(off & ~near) if (off & ~near).any() else np.argmax(np.abs(flip))
        bad.append(f"{int(off.sum())} input codes differ, e.g. {r['xq'].flat[i]} vs {int(q.flat[i]) + zx} at "
                   f"x * inv {p.flat[i]!r}, not within float32 rounding of .5")
    wq, sw = repvit_int8.s8_weights(conv.weight.detach().numpy())
    s = torch.from_numpy((sx * sw).astype(F32).astype(np.float64)).view(-1, 1, 1)
    t = torch.from_numpy
    pad, stride = conv.padding, conv.stride
    wd = t(wq.astype(np.float64))
    acc = F.conv2d(t(q)[None], wd, None, stride, pad)[0]
    moved = s * F.conv2d(t(np.abs(flip))[None], wd.abs(), None, stride, pad)[0]
    pre = s * acc + conv.bias.detach().double().view(-1, 1, 1)
    a = activation(pre, act)
    y = a + (t(res.astype(np.float64)) if res is not None else 0)
    L = SLOPE[act]
    rounding = ROUND_ULPS * U * (L * ((s * acc).abs() + pre.abs()) + pre.abs() + a.abs() + y.abs())
    bound = L * moved + rounding + 1e-30
    err = (t(r["y"].astype(np.float64)) - y).abs()
    if not (err <= bound).all():
        i = int(torch.argmax(err - bound))
        bad.append(f"output off by {err.flatten()[i]:.3g} where the bound is {bound.flatten()[i]:.3g} "
                   f"(reference {y.flatten()[i]:.6g}, C {r['y'].flat[i]:.6g}); {int((err > bound).sum())} of "
                   f"{err.numel()} outside")
    clean = moved == 0
    tight = float((err[clean] / (rounding[clean] + 1e-30)).max()) if clean.any() else 0.0
    return bad, int(off.sum()), float((err / bound).max()), tight


def run(a, model, x, d):
    inp, dump = os.path.join(d, "x.f32"), os.path.join(d, "layers.bin")
    x.astype("<f4").tofile(inp)
    h, w = x.shape[2:]
    t = time.time()
    r = subprocess.run([a.driver, model, f"{w}x{h}", "2", inp, dump], capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    if r.returncode == 77:
        sys.exit(77)
    if r.returncode:
        sys.exit(f"FAIL: int8-layers-driver exited with {r.returncode}")
    records = read_dump(dump)
    print(f"int8-layers-driver {time.time() - t:.1f}s: {len(records)} int8 convs")
    t = time.time()
    ref = reference_convs(make_golden.load_reference(model))
    names = match(records, ref)
    rec = dict(zip(names, records))
    failures, flips, codes, worst, tight = [], 0, 0, 0.0, 0.0
    kinds = collections.Counter()
    for i, (n, r) in enumerate(zip(names, records)):
        conv, act, res_of = ref[n]
        kinds[act + (" + residual" if res_of else "")] += 1
        if r["act"] != act:
            failures.append(f"#{i} {n}: C's activation {r['act']}, the reference's {act}")
        bad, f, ratio, tgt = check_layer(r, conv, act, rec[res_of]["x"] if res_of else None)
        failures += [f"#{i} {n}: {b}" for b in bad]
        flips, codes = flips + f, codes + r["xq"].size
        worst, tight = max(worst, ratio), max(tight, tgt)
    print("layers: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print(f"reference {time.time() - t:.1f}s: {flips} of {codes} input codes differ from the reference's; "
          f"worst |C - ref| / bound {worst:.3g}; where no code flipped, worst |C - ref| / rounding part "
          f"{tight:.3g}")
    for f in failures[:20]:
        print("FAIL:", f)
    if failures:
        sys.exit(f"FAIL: {len(failures)} layer checks failed")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--driver", required=True)
    ap.add_argument("--model", help="a model file; else a random one of --variant, --scale")
    ap.add_argument("--variant", choices=ry.VARIANTS)
    ap.add_argument("--scale", choices=ry.SCALES)
    ap.add_argument("--nc", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="96x160", help="HxW, multiples of 32")
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.split("x"))
    if not a.model and not (a.variant and a.scale):
        ap.error("--model or --variant and --scale")
    with tempfile.TemporaryDirectory(prefix="int8-layers-") as d:
        if a.model:
            model = a.model
            x = make_golden.image_like(torch.Generator().manual_seed(a.seed), 1, h, w).numpy()
        else:
            p = make_golden.make_golden(a.variant, a.scale, a.nc, a.seed, h, w, False, d)
            model, x = p["model"], np.load(p["input"])
        run(a, model, x, d)
    print("PASS")


if __name__ == "__main__":
    main()
