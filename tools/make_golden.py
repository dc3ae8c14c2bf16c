#!/usr/bin/python3
"""Make a golden case: random-weight model file, image-like input, reference output.

    make_golden.py --variant m0_9 --scale n --nc 80 --seed 1 --size 96x160 [--fp16] OUTDIR

Writes OUTDIR/model.pt (torch state dict), OUTDIR/model.safetensors (through export.py),
OUTDIR/input.npy [1,3,H,W] float32 and OUTDIR/output.npy [1,4+nc,A] float32, the reference
computed in float64 from the weights read back from model.safetensors.

Random weights alone give dead or exploding activations, so BatchNorm statistics are
calibrated: each BN takes the mean/var of its actual input on three image-like pictures,
the test input among them (in the same pass, before it runs), perturbed by 10-20%, with a
random affine; the last 1x1 convs of the head are scaled so the logits stay within a few
units. The result is well conditioned: float32 and float64 forwards differ by about 1e-3 px
and 1e-5 in the scores, a tenth of the tolerances of tests/golden.
"""
import argparse
import os
import sys

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import repvit_yolo as ry  # noqa: E402
import safetensors_io  # noqa: E402


def image_like(gen, n, h, w):
    """Smooth gradient + coloured blobs and boxes + a little noise, in 0..1."""
    yy = torch.linspace(0, 1, h).view(1, h, 1)
    xx = torch.linspace(0, 1, w).view(1, 1, w)
    out = []
    for _ in range(n):
        img = torch.rand(3, 1, 1, generator=gen) * 0.5 + 0.2 \
            + (torch.rand(3, 1, 1, generator=gen) - 0.5) * (xx + yy)
        for _ in range(6):
            cy, cx, s = torch.rand(3, generator=gen).tolist()
            blob = torch.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.03 + 0.15 * s) ** 2))
            img = img + (torch.rand(3, 1, 1, generator=gen) - 0.5) * blob
        for _ in range(3):
            y0, x0, bh, bw = torch.rand(4, generator=gen).tolist()
            box = ((yy > y0) & (yy < y0 + bh / 3) & (xx > x0) & (xx < x0 + bw / 3)).float()
            img = img * (1 - box) + box * torch.rand(3, 1, 1, generator=gen)
        img = img + 0.02 * torch.randn(3, h, w, generator=gen)
        out.append(img.clamp(0, 1))
    return torch.stack(out)


# BN gains of the main path and of the branches added to their input; BN biases are
# positive (times the gain): SiLU/GELU then work mostly in their near-linear part, which
# keeps the random net out of the chaotic regime where float32 rounding explodes.
MAIN_GAIN = (0.6, 1.2)
BRANCH_GAIN = (0.1, 0.3)
BIAS = (0.5, 1.0)


@torch.no_grad()
def calibrate(model, images, gen):
    """One forward pass in eval mode; hooks set each BN's statistics and the head's logit scale."""
    def u(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=gen)

    # Branches that are added to their input get small gains, as in a trained net (RepViT
    # even starts its FFN's last BN at 0).
    branch_ends = set()
    for m in model.modules():
        if isinstance(m, ry.RepViTBlock):
            branch_ends.add(m.channel_mixer.m[2].bn)
        elif isinstance(m, ry.RepVGGDW):
            branch_ends.add(m.conv.bn)
            # a 1x1 weight near -1 would cancel the identity and leave rounding noise
            m.conv1.weight.copy_(u(m.conv1.weight.shape, 0.1, 0.5))
            m.conv1.bias.copy_(u(m.conv1.bias.shape, -0.2, 0.2))
        elif isinstance(m, ry.Bottleneck):
            branch_ends.add(m.cv2.bn)
        elif isinstance(m, ry.PSABlock):
            branch_ends.update((m.attn.proj.bn, m.ffn[1].bn))

    def bn_hook(bn, inp):
        x = inp[0].detach()
        c = x.shape[1]
        mean = x.mean((0, 2, 3))
        var = x.var((0, 2, 3), unbiased=False)
        # A channel with a tiny variance (or one small next to its mean) would be
        # scaled up with its float32 rounding: floor it.
        var = torch.maximum(var, torch.maximum(0.1 * var.mean(), 0.01 * mean ** 2))
        sign = torch.where(torch.rand(c, generator=gen) < 0.5, -1.0, 1.0)
        bn.running_mean.copy_(mean + sign * u(c, 0.1, 0.2) * var.sqrt())
        bn.running_var.copy_(var * (1 + sign * u(c, 0.1, 0.2)) + 1e-4)
        g = BRANCH_GAIN if bn in branch_ends else MAIN_GAIN
        bn.weight.copy_(u(c, *g))
        bn.bias.copy_(u(c, *BIAS) * g[1])

    def logit_hook(target, bias_lo, bias_hi):
        def hook(conv, inp):
            z = F.conv2d(inp[0].detach(), conv.weight)
            conv.weight.mul_(target / (z.std() + 1e-6))
            conv.bias.copy_(u(conv.bias.shape, bias_lo, bias_hi))
        return hook

    # Logits within about +-2: larger box logits would turn the float32 rounding of the
    # features (relative 1e-5 in the deep models) into box errors near the test tolerance.
    detect = model.model[15]
    hooks = [m.register_forward_pre_hook(bn_hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for i in range(3):
        hooks.append(detect.cv2[i][2].register_forward_pre_hook(logit_hook(0.8, -0.5, 0.5)))
        hooks.append(detect.cv3[i][2].register_forward_pre_hook(logit_hook(1.0, -1.5, 0.5)))
    model.eval().forward_raw(images)
    for h in hooks:
        h.remove()


def load_reference(path):
    """The reference model (float32, eval mode) of a model file."""
    tensors, meta = safetensors_io.load(path)
    ref = ry.build_model(meta["variant"], meta["scale"], int(meta["nc"]), float(meta["bn_eps"]))
    ref.load_state_dict({k: torch.from_numpy(v.astype(np.float32)) for k, v in tensors.items()})
    return ref.eval()


def make_golden(variant, scale, nc, seed, height, width, fp16, out_dir):
    """Returns the dict of written paths."""
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ry.build_model(variant, scale, nc)
    # The test input is one of the calibration pictures: a random deep net amplifies any
    # shift between calibration and test statistics, this keeps the test activations O(1).
    images = image_like(gen, 3, height, width)
    calibrate(model, images, gen)
    sd = model.state_dict()
    if fp16:
        sd = {k: v.half().float() if v.is_floating_point() else v for k, v in sd.items()}
    paths = {k: os.path.join(out_dir, f) for k, f in
             (("pt", "model.pt"), ("model", "model.safetensors"), ("input", "input.npy"), ("output", "output.npy"))}
    torch.save(sd, paths["pt"])
    meta = export.export(paths["pt"], paths["model"], fp16=fp16)
    assert (meta["variant"], meta["scale"], meta["nc"]) == (variant, scale, str(nc)), meta

    # The reference runs on what the file holds.
    ref = load_reference(paths["model"])
    x = images[:1]
    with torch.no_grad():
        y = ref.double().eval()(x.double())
    np.save(paths["input"], x.numpy().astype(np.float32))
    np.save(paths["output"], y.numpy().astype(np.float32))
    return paths


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--variant", default="m0_9", choices=ry.VARIANTS)
    ap.add_argument("--scale", default="n", choices=ry.SCALES)
    ap.add_argument("--nc", type=int, default=80)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", default="96x160", help="HxW, multiples of 32")
    ap.add_argument("--fp16", action="store_true", help="round the weights to F16 (file and reference)")
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.split("x"))
    if h % 32 or w % 32 or h <= 0 or w <= 0:
        ap.error(f"--size {a.size}: H and W must be positive multiples of 32")
    paths = make_golden(a.variant, a.scale, a.nc, a.seed, h, w, a.fp16, a.out_dir)
    print(" ".join(paths.values()))


if __name__ == "__main__":
    main()
