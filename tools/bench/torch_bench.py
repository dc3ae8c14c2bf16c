#!/usr/bin/python3
"""PyTorch side of tools/bench_compare.sh: the reference network, deployment-folded, timed
eagerly and exported to ONNX with the same weights.

    torch_bench.py prepare WEIGHTS.safetensors OUT.onnx WxH INPUT.f32 REF.f32
        fold (BN into convs, RepVGGDW into one depthwise conv), export OUT.onnx (opset 17,
        fixed 1x3xHxW), write an image-like input and the output of the *unfolded* reference
        in float64 (raw float32 files), and check the folded model against it.
    torch_bench.py run WEIGHTS.safetensors WxH THREADS RUNS [WARMUP]
        time the folded model in eager mode with torch.set_num_threads(THREADS); prints
        "torch median_ms=… min_ms=… cpu_ms=… runs=… maxrss_kb=…" (cpu_ms: mean CPU time per run)
    torch_bench.py check REF.f32 OUT.f32 WxH NAME
        compare an engine's output with the reference: boxes within 1e-3 of the input size,
        class scores within 1e-3
    torch_bench.py macs WEIGHTS.safetensors WxH
        multiply-accumulates of the convolutions (repvit_yolo.count_macs)
"""
import os
import resource
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_golden  # noqa: E402
import repvit_yolo as ry  # noqa: E402
import safetensors_io  # noqa: E402

TOLERANCE = 1e-3


def load(path):
    tensors, meta = safetensors_io.load(path)
    model = ry.build_model(meta["variant"], meta["scale"], int(meta["nc"]), float(meta.get("bn_eps", 1e-3)))
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()},
                                                strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"{path}: missing tensors {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()


def _fold_repvggdw(m):
    """conv(x) + conv1(x) + x, then bn -> one depthwise 3x3 conv with bias."""
    conv = fuse_conv_bn_eval(m.conv.c, m.conv.bn)
    w = conv.weight.detach().clone()
    w[:, :, 1, 1] += m.conv1.weight.detach()[:, :, 0, 0] + 1.0
    conv.weight = nn.Parameter(w)
    conv.bias = nn.Parameter(conv.bias.detach() + m.conv1.bias.detach())
    return fuse_conv_bn_eval(conv, m.bn)


def fold(module):
    """Deployment re-parameterization of SPEC-model.md, in place; returns module."""
    for name, child in module.named_children():
        if isinstance(child, ry.RepVGGDW):
            setattr(module, name, _fold_repvggdw(child))
        elif isinstance(child, ry.Conv2d_BN):
            setattr(module, name, fuse_conv_bn_eval(child.c, child.bn))
        elif isinstance(child, ry.Conv):
            child.conv, child.bn = fuse_conv_bn_eval(child.conv, child.bn), nn.Identity()
        else:
            fold(child)
    return module


def parse_size(s):
    w, h = (int(v) for v in s.lower().split("x"))
    return w, h


def max_err(out, ref, size):
    """Largest difference of the [4+nc, A] outputs: boxes as a fraction of the input size, scores."""
    w, h = size
    anchors = sum((w // s) * (h // s) for s in ry.STRIDES)
    d = np.abs(out.reshape(-1, anchors) - ref.reshape(-1, anchors))
    return max(float(d[:4].max()) / max(w, h), float(d[4:].max()))


def prepare(weights, onnx_path, size, in_path, ref_path):
    w, h = parse_size(size)
    model = load(weights)
    x = make_golden.image_like(torch.Generator().manual_seed(1234), 1, h, w)
    with torch.no_grad():
        ref = model.double()(x.double()).float()
        folded = fold(model.float())
        err = max_err(folded(x).numpy(), ref.numpy(), (w, h))
        warnings.simplefilter("ignore")  # tracer and shape-inference chatter of torch.onnx
        torch.onnx.export(folded, x, onnx_path, opset_version=17, input_names=["images"], output_names=["output"],
                          do_constant_folding=True)
    x.numpy().astype("<f4").tofile(in_path)
    ref.numpy().astype("<f4").tofile(ref_path)
    print(f"prepare {os.path.basename(weights)} {size}: folded vs reference max error {err:.2e}")
    if not err <= TOLERANCE:
        raise SystemExit(f"folded model differs from the reference: {err:.2e} > {TOLERANCE}")


def run(weights, size, threads, runs, warmup):
    w, h = parse_size(size)
    torch.set_num_threads(threads)
    model = fold(load(weights))
    x = torch.arange(3 * h * w, dtype=torch.float32).remainder_(251).div_(250).view(1, 3, h, w)
    times, cpu = [], 0.0
    with torch.no_grad():
        for i in range(warmup + runs):
            t, c = time.perf_counter(), time.process_time()
            model(x)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1e3)
                cpu += (time.process_time() - c) * 1e3
    times.sort()
    print(f"torch median_ms={times[runs // 2]:.2f} min_ms={times[0]:.2f} cpu_ms={cpu / runs:.2f} runs={runs} "
          f"maxrss_kb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


def check(ref_path, out_path, size, name):
    ref, out = np.fromfile(ref_path, "<f4"), np.fromfile(out_path, "<f4")
    if ref.shape != out.shape:
        raise SystemExit(f"{name}: output has {out.size} values, the reference {ref.size}")
    err = max_err(out, ref, parse_size(size))
    print(f"check {name} {size}: max error {err:.2e} (boxes / input size, scores; "
          f"{'ok' if err <= TOLERANCE else 'FAIL'} at {TOLERANCE})")
    if not err <= TOLERANCE:
        raise SystemExit(1)


def main(argv):
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    if cmd == "prepare" and len(args) == 5:
        prepare(*args)
    elif cmd == "run" and len(args) in (4, 5):
        run(args[0], args[1], int(args[2]), int(args[3]), int(args[4]) if len(args) > 4 else 1)
    elif cmd == "check" and len(args) == 4:
        check(*args)
    elif cmd == "macs" and len(args) == 2:
        _, meta = safetensors_io.load(args[0])
        w, h = parse_size(args[1])
        print(ry.count_macs(meta["variant"], meta["scale"], int(meta["nc"]), h, w))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
