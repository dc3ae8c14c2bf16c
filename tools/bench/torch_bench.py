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
    torch_bench.py qdq WEIGHTS.safetensors OUT.onnx WxH INPUT.f32 FQ.f32 [reduce-range]
        the int8 anchor: the folded model with QuantizeLinear/DequantizeLinear around every dense
        conv (see quantize), activation ranges calibrated on INPUT.f32, exported to OUT.onnx;
        writes the output of the same fake-quantized model in PyTorch to FQ.f32. With
        reduce-range the weights use 7 bits (codes -63..63, ORT's reduce_range), for CPUs
        without VNNI: ONNX Runtime's u8 x s8 kernel there (vpmaddubsw) adds pairs of products in
        saturating 16-bit lanes, which full-range weights overflow (on a Zen 1 core, m0_9-n
        640x640: mean error 6.3e-2 against the fake-quantized model with 8-bit weights, 2.9e-2
        with 7-bit ones)
    torch_bench.py check REF.f32 OUT.f32 WxH NAME [TOLERANCE [mean]]
        compare an engine's output with the reference: boxes within TOLERANCE (default 1e-3) of
        the input size, class scores within TOLERANCE; with "mean" the mean differences are held
        to it, not the largest. For int8 (ORT vs the fake-quantized model): ORT's integer
        arithmetic rounds some values the other way than the float simulation, and through ~100
        random-weight layers that grows to about the quantization error itself (mean 0.027 here,
        fp32 vs int8 0.033), so this check only catches a broken export (scales, missing convs)
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
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import make_golden  # noqa: E402
from repvit_int8 import dense_convs, fold  # noqa: E402
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


class QDQConv(nn.Module):
    """A dense conv as ONNX Runtime's static int8 quantization lays it out: u8 input with a
    per-tensor scale and zero point, s8 weights with a symmetric per-output-channel scale (range
    -128..127, scale max|w| / w_max: 127, or 63 with reduce_range), and the output quantized to
    u8 right after the conv, before the activation: ORT fuses DQ -> Conv -> Q into an int8 conv
    only then (../shared/FACTS.md)."""

    def __init__(self, conv, x_range, y_range, w_max):
        super().__init__()
        w = conv.weight.detach()
        self.register_buffer("w", w.clone())
        self.register_buffer("w_scale", (w.abs().amax((1, 2, 3)) / w_max).clamp_min(1e-12))
        self.register_buffer("w_zero", torch.zeros(w.shape[0], dtype=torch.int32))
        self.register_buffer("b", conv.bias.detach().clone() if conv.bias is not None else None)
        self.stride, self.padding = conv.stride, conv.padding
        self.xq, self.yq = self.u8_params(*x_range), self.u8_params(*y_range)

    @staticmethod
    def u8_params(lo, hi):
        """Asymmetric u8 over [lo, hi] widened to hold 0 (zero padding must stay exact)."""
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        scale = max(hi - lo, 1e-8) / 255
        return scale, int(round(-lo / scale))

    def forward(self, x):
        x = torch.fake_quantize_per_tensor_affine(x, *self.xq, 0, 255)
        w = torch.fake_quantize_per_channel_affine(self.w, self.w_scale, self.w_zero, 0, -128, 127)
        y = F.conv2d(x, w, self.b, self.stride, self.padding)
        return torch.fake_quantize_per_tensor_affine(y, *self.yq, 0, 255)


def quantize(model, x, w_max=127):
    """Replaces the dense convs of a folded model by QDQConv, activation ranges from the min
    and max seen on x, weight codes within +-w_max; returns the model."""
    convs = dense_convs(model)
    ranges = {}

    def hook(conv, inp, out):
        ranges[conv] = ((inp[0].min().item(), inp[0].max().item()), (out.min().item(), out.max().item()))
    handles = [conv.register_forward_hook(hook) for _, _, conv in convs]
    model(x)
    for h in handles:
        h.remove()
    for parent, name, conv in convs:
        setattr(parent, name, QDQConv(conv, *ranges[conv], w_max))
    return model


def parse_size(s):
    w, h = (int(v) for v in s.lower().split("x"))
    return w, h


def out_err(out, ref, size, stat=np.max):
    """Largest (or stat) difference of the [4+nc, A] outputs: boxes as a fraction of the input
    size, scores; the larger of the two."""
    w, h = size
    anchors = sum((w // s) * (h // s) for s in ry.STRIDES)
    d = np.abs(out.reshape(-1, anchors) - ref.reshape(-1, anchors))
    return max(float(stat(d[:4])) / max(w, h), float(stat(d[4:])))


def prepare(weights, onnx_path, size, in_path, ref_path):
    w, h = parse_size(size)
    model = load(weights)
    x = make_golden.image_like(torch.Generator().manual_seed(1234), 1, h, w)
    with torch.no_grad():
        ref = model.double()(x.double()).float()
        folded = fold(model.float())
        err = out_err(folded(x).numpy(), ref.numpy(), (w, h))
        warnings.simplefilter("ignore")  # tracer and shape-inference chatter of torch.onnx
        torch.onnx.export(folded, x, onnx_path, opset_version=17, input_names=["images"], output_names=["output"],
                          do_constant_folding=True)
    x.numpy().astype("<f4").tofile(in_path)
    ref.numpy().astype("<f4").tofile(ref_path)
    print(f"prepare {os.path.basename(weights)} {size}: folded vs reference max error {err:.2e}")
    if not err <= TOLERANCE:
        raise SystemExit(f"folded model differs from the reference: {err:.2e} > {TOLERANCE}")


def qdq(weights, onnx_path, size, in_path, fq_path, mode="full-range"):
    if mode not in ("full-range", "reduce-range"):
        raise SystemExit(f"qdq: unknown mode {mode!r} (full-range or reduce-range)")
    w, h = parse_size(size)
    x = torch.from_numpy(np.fromfile(in_path, "<f4").reshape(1, 3, h, w))
    with torch.no_grad():
        model = quantize(fold(load(weights)), x, 63 if mode == "reduce-range" else 127)
        model(x).numpy().astype("<f4").tofile(fq_path)
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, onnx_path, opset_version=17, input_names=["images"], output_names=["output"],
                          do_constant_folding=True)
    print(f"qdq {os.path.basename(weights)} {size}: "
          f"{sum(isinstance(m, QDQConv) for m in model.modules())} dense convs in int8, weights {mode}")


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


def check(ref_path, out_path, size, name, tolerance=TOLERANCE, stat="max"):
    ref, out = np.fromfile(ref_path, "<f4"), np.fromfile(out_path, "<f4")
    if ref.shape != out.shape:
        raise SystemExit(f"{name}: output has {out.size} values, the reference {ref.size}")
    err = out_err(out, ref, parse_size(size), np.mean if stat == "mean" else np.max)
    print(f"check {name} {size}: {stat} error {err:.2e} (boxes / input size, scores; "
          f"{'ok' if err <= tolerance else 'FAIL'} at {tolerance})")
    if not err <= tolerance:
        raise SystemExit(1)


def main(argv):
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    if cmd == "prepare" and len(args) == 5:
        prepare(*args)
    elif cmd == "run" and len(args) in (4, 5):
        run(args[0], args[1], int(args[2]), int(args[3]), int(args[4]) if len(args) > 4 else 1)
    elif cmd == "qdq" and len(args) in (5, 6):
        qdq(*args)
    elif cmd == "check" and (len(args) in (4, 5) or len(args) == 6 and args[5] in ("max", "mean")):
        check(*args[:4], *(float(t) for t in args[4:5]), *args[5:])
    elif cmd == "macs" and len(args) == 2:
        _, meta = safetensors_io.load(args[0])
        w, h = parse_size(args[1])
        print(ry.count_macs(meta["variant"], meta["scale"], int(meta["nc"]), h, w))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
