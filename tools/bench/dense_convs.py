#!/usr/bin/python3
"""The dense convolutions of the networks at an input size, from the PyTorch
reference (forward hooks), fed to the C benchmark bench-dense-convs, which
times our kernels on each shape; the residual FFNs (two 1x1 convs run as one
kernel) as pairs.

  dense_convs.py BENCH [VARIANT:SCALE:WxH ...]   (default m0_9:n and m2_3:n at 640x640)

One input line per distinct shape: "NET conv CIN COUT K STRIDE H W ACT COUNT"
or "NET ffn C HIDDEN H W COUNT"; H x W is the input, COUNT how often the
network runs it. ACT: 0 none, 1 SiLU (rv_act)."""
import os
import subprocess
import sys
from collections import Counter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch  # noqa: E402
from torch import nn  # noqa: E402
from repvit_yolo import DFL, SqueezeExcite, build_model  # noqa: E402


def shapes(variant, scale, w, h):
    m = build_model(variant, scale, nc=80).eval()
    found, skip, hooks = Counter(), set(), []
    for mod in m.modules():
        # RepViT's Residual(Conv2d_BN, GELU, Conv2d_BN) and PSABlock.ffn
        pair = (mod.m if type(mod).__name__ == "Residual" else mod.ffn
                if type(mod).__name__ == "PSABlock" else None)
        if pair is not None:
            convs = [c for c in pair.modules() if isinstance(c, nn.Conv2d)]
            skip.update(map(id, convs))

            def ffn_hook(_, inp, out, convs=convs):
                x = inp[0]
                found[("ffn", x.shape[1], convs[0].out_channels, x.shape[2], x.shape[3])] += 1
            hooks.append((pair if type(mod).__name__ == "PSABlock" else mod)
                         .register_forward_hook(ffn_hook))
        if isinstance(mod, (SqueezeExcite, DFL)):
            skip.update(id(c) for c in mod.modules() if isinstance(c, nn.Conv2d))
    silu = {id(mod.conv) for mod in m.modules()
            if hasattr(mod, "act") and isinstance(mod.act, nn.SiLU)}
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d) and mod.groups == 1 and id(mod) not in skip:
            def conv_hook(c, inp, out):
                x = inp[0]
                found[("conv", c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0],
                       x.shape[2], x.shape[3], int(id(c) in silu))] += 1
            hooks.append(mod.register_forward_hook(conv_hook))
    with torch.no_grad():
        m.forward_raw(torch.zeros(1, 3, h, w))
    for hk in hooks:
        hk.remove()
    return found


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    nets = sys.argv[2:] or ["m0_9:n:640x640", "m2_3:n:640x640"]
    lines = []
    for net in nets:
        variant, scale, size = net.split(":")
        w, h = map(int, size.split("x"))
        name = f"{variant}-{scale}@{w}x{h}"
        for key, count in sorted(shapes(variant, scale, w, h).items(), key=str):
            lines.append(" ".join(map(str, (name,) + key + (count,))))
    sys.exit(subprocess.run([sys.argv[1]], input="\n".join(lines) + "\n", text=True).returncode)


if __name__ == "__main__":
    main()
