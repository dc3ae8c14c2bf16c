#!/usr/bin/python3
"""PyTorch reference of the RepViT-YOLO11 detector (SPEC-model.md).

Written from the spec; the module tree mirrors the state-dict names of a model
trained with ultralytics (`model.0.features.{i}...`, `model.1` ... `model.15`).

    model = build_model("m0_9", "n", nc=80).eval()
    out = model(x)              # [B, 4+nc, A]: cx, cy, w, h (pixels), sigmoid scores
    raw = model.forward_raw(x)  # 3 x [B, 64+nc, Hi, Wi] logits, for losses
"""
import math

import torch
from torch import nn
import torch.nn.functional as F

VARIANTS = ("m0_9", "m1_0", "m1_1", "m1_5", "m2_3")
SCALES = ("n", "s", "m", "l", "x")

# Stage widths (stride 4, 8, 16, 32) and blocks: S = SE, - = no SE, v = stride 2.
BACKBONES = {
    "m0_9": ((48, 96, 192, 384),
             "S - - v- S - - v- S - S - S - S - S - S - S - - v- S -"),
    "m1_0": ((56, 112, 224, 448),
             "S - - v- S - - v- S - S - S - S - S - S - S - - v- S -"),
    "m1_1": ((64, 128, 256, 512),
             "S - - v- S - - v- S - S - S - S - S - S - - v- S -"),
    "m1_5": ((64, 128, 256, 512),
             "S - S - - v- S - S - - v- S - S - S - S - S - S - S - S - S - S - S - S - - "
             "v- S - S -"),
    # SPEC-model.md's m2_3 row lists 16 "S -" pairs at stride 16; its taps (15, 51, 54), its
    # element counts and its MACs, like upstream repvit_m2_3, have 17.
    "m2_3": ((80, 160, 320, 640),
             "S - S - S - - v- S - S - S - - v- " + "S - " * 17 + "- v- S -"),
}

# depth multiple, width multiple, max channels
SCALE_CONSTANTS = {
    "n": (0.50, 0.25, 1024),
    "s": (0.50, 0.50, 1024),
    "m": (0.50, 1.00, 512),
    "l": (1.00, 1.00, 512),
    "x": (1.00, 1.50, 512),
}

# SPEC-model.md self-check table (nc = 80): (elements, tensors) per variant, scales n s m l x.
SPEC_COUNTS_NC80 = {
    "m0_9": ((6561504, 856), (10224304, 856), (15747120, 931), (18998576, 1096), (36175664, 1096)),
    "m1_0": ((8319188, 856), (12019876, 856), (17552932, 931), (20804388, 1096), (38024484, 1096)),
    "m1_1": ((9762496, 810), (13501072, 810), (19044368, 885), (22295824, 1050), (39558928, 1050)),
    "m1_5": ((15648816, 1224), (19387392, 1224), (24930688, 1299), (28182144, 1464), (45445248, 1464)),
    "m2_3": ((24636008, 1500), (28450360, 1500), (34014136, 1575), (37265592, 1740), (54614712, 1740)),
}
# SPEC-model.md: convolution MACs at 640x640, n scale, in G.
SPEC_MACS_N_640 = {"m0_9": 8.6, "m1_0": 11.0, "m1_1": 12.9, "m1_5": 20.6, "m2_3": 39.0}

REG_MAX = 16
STRIDES = (8, 16, 32)


def _round_up8(v):
    return int(math.ceil(v / 8) * 8)


def se_width(c):
    """Reduced SE width: c/4 rounded to the nearest multiple of 8, at least 8."""
    return max(8, int(c / 4 + 4) // 8 * 8)


class Conv2d_BN(nn.Sequential):
    """RepViT conv: `c` (no bias) then `bn`."""

    def __init__(self, a, b, k=1, s=1, groups=1, bn_eps=1e-3):
        super().__init__()
        self.add_module("c", nn.Conv2d(a, b, k, s, k // 2, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(b, eps=bn_eps))


class Conv(nn.Module):
    """ultralytics Conv: `conv` (no bias), `bn`, SiLU unless act=False."""

    def __init__(self, a, b, k=1, s=1, groups=1, act=True, bn_eps=1e-3):
        super().__init__()
        self.conv = nn.Conv2d(a, b, k, s, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(b, eps=bn_eps)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class RepVGGDW(nn.Module):
    def __init__(self, c, bn_eps):
        super().__init__()
        self.conv = Conv2d_BN(c, c, 3, 1, groups=c, bn_eps=bn_eps)
        self.conv1 = nn.Conv2d(c, c, 1, 1, 0, groups=c, bias=True)
        self.bn = nn.BatchNorm2d(c, eps=bn_eps)

    def forward(self, x):
        return self.bn(self.conv(x) + self.conv1(x) + x)


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        r = se_width(c)
        self.fc1 = nn.Conv2d(c, r, 1, bias=True)
        self.fc2 = nn.Conv2d(r, c, 1, bias=True)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class Residual(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return x + self.m(x)


def _ffn(c, bn_eps):
    return Residual(nn.Sequential(Conv2d_BN(c, 2 * c, 1, bn_eps=bn_eps),
                                  nn.GELU(),
                                  Conv2d_BN(2 * c, c, 1, bn_eps=bn_eps)))


class RepViTBlock(nn.Module):
    def __init__(self, c_in, c_out, stride, se, bn_eps):
        super().__init__()
        if stride == 2:
            self.token_mixer = nn.Sequential(
                Conv2d_BN(c_in, c_in, 3, 2, groups=c_in, bn_eps=bn_eps),
                SqueezeExcite(c_in) if se else nn.Identity(),
                Conv2d_BN(c_in, c_out, 1, bn_eps=bn_eps))
        else:
            assert c_in == c_out
            self.token_mixer = nn.Sequential(
                RepVGGDW(c_in, bn_eps),
                SqueezeExcite(c_in) if se else nn.Identity())
        self.channel_mixer = _ffn(c_out, bn_eps)

    def forward(self, x):
        return self.channel_mixer(self.token_mixer(x))


def parse_blocks(spec):
    """'S - v- ...' -> [(stride, se), ...]"""
    return [(2 if t.startswith("v") else 1, t.endswith("S")) for t in spec.split()]


class RepViTBackbone(nn.Module):
    """`features` list; returns the outputs of the last block at stride 8, 16, 32."""

    def __init__(self, variant, bn_eps=1e-3):
        super().__init__()
        widths, spec = BACKBONES[variant]
        c = widths[0]
        feats = [nn.Sequential(Conv2d_BN(3, c // 2, 3, 2, bn_eps=bn_eps), nn.GELU(),
                               Conv2d_BN(c // 2, c, 3, 2, bn_eps=bn_eps))]
        stage = 0
        stage_of = []
        for stride, se in parse_blocks(spec):
            if stride == 2:
                stage += 1
            feats.append(RepViTBlock(c, widths[stage], stride, se, bn_eps))
            c = widths[stage]
            stage_of.append(stage)
        self.features = nn.ModuleList(feats)
        # feature index of the last block of stages 1, 2, 3 (stride 8, 16, 32)
        self.taps = tuple(max(i + 1 for i, s in enumerate(stage_of) if s == k) for k in (1, 2, 3))
        self.widths = widths

    def forward(self, x):
        outs = []
        for i, f in enumerate(self.features):
            x = f(x)
            if i in self.taps:
                outs.append(x)
        return outs


class SPPF(nn.Module):
    def __init__(self, a, b, bn_eps):
        super().__init__()
        h = a // 2
        self.cv1 = Conv(a, h, 1, bn_eps=bn_eps)
        self.cv2 = Conv(4 * h, b, 1, bn_eps=bn_eps)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], 5, 1, 2))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    def __init__(self, h, bn_eps):
        super().__init__()
        self.heads = h // 64
        self.head_dim = h // self.heads
        self.key_dim = self.head_dim // 2
        self.qkv = Conv(h, h + 2 * self.heads * self.key_dim, 1, act=False, bn_eps=bn_eps)
        self.proj = Conv(h, h, 1, act=False, bn_eps=bn_eps)
        self.pe = Conv(h, h, 3, groups=h, act=False, bn_eps=bn_eps)

    def forward(self, x):
        B, C, H, W = x.shape
        q, k, v = self.qkv(x).view(B, self.heads, 2 * self.key_dim + self.head_dim, H * W).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2)
        a = ((q.transpose(-2, -1) @ k) * self.key_dim ** -0.5).softmax(dim=-1)
        y = (v @ a.transpose(-2, -1)).view(B, C, H, W) + self.pe(v.reshape(B, C, H, W))
        return self.proj(y)


class PSABlock(nn.Module):
    def __init__(self, h, bn_eps):
        super().__init__()
        self.attn = Attention(h, bn_eps)
        self.ffn = nn.Sequential(Conv(h, 2 * h, 1, bn_eps=bn_eps),
                                 Conv(2 * h, h, 1, act=False, bn_eps=bn_eps))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.ffn(x)


class C2PSA(nn.Module):
    def __init__(self, c, n, bn_eps):
        super().__init__()
        self.h = c // 2
        self.cv1 = Conv(c, 2 * self.h, 1, bn_eps=bn_eps)
        self.cv2 = Conv(2 * self.h, c, 1, bn_eps=bn_eps)
        self.m = nn.Sequential(*(PSABlock(self.h, bn_eps) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).split((self.h, self.h), 1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class Bottleneck(nn.Module):
    def __init__(self, c, hidden, bn_eps):
        super().__init__()
        self.cv1 = Conv(c, hidden, 3, bn_eps=bn_eps)
        self.cv2 = Conv(hidden, c, 3, bn_eps=bn_eps)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class C3k(nn.Module):
    def __init__(self, c, bn_eps):
        super().__init__()
        h = c // 2
        self.cv1 = Conv(c, h, 1, bn_eps=bn_eps)
        self.cv2 = Conv(c, h, 1, bn_eps=bn_eps)
        self.cv3 = Conv(2 * h, c, 1, bn_eps=bn_eps)
        self.m = nn.Sequential(Bottleneck(h, h, bn_eps), Bottleneck(h, h, bn_eps))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k2(nn.Module):
    def __init__(self, a, b, n, c3k, bn_eps):
        super().__init__()
        self.c = b // 2
        self.cv1 = Conv(a, 2 * self.c, 1, bn_eps=bn_eps)
        self.cv2 = Conv((2 + n) * self.c, b, 1, bn_eps=bn_eps)
        self.m = nn.ModuleList(C3k(self.c, bn_eps) if c3k else Bottleneck(self.c, self.c // 2, bn_eps)
                               for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(REG_MAX, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(REG_MAX, dtype=torch.float).view(1, REG_MAX, 1, 1)

    def forward(self, x):  # [B, 64, A] -> [B, 4, A]
        B, _, A = x.shape
        return self.conv(x.view(B, 4, REG_MAX, A).transpose(2, 1).softmax(1)).view(B, 4, A)


class Detect(nn.Module):
    def __init__(self, nc, ch, bn_eps):
        super().__init__()
        self.nc = nc
        c2 = max(16, ch[0] // 4, REG_MAX * 4)
        c3 = max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(c, c2, 3, bn_eps=bn_eps), Conv(c2, c2, 3, bn_eps=bn_eps),
                          nn.Conv2d(c2, 4 * REG_MAX, 1))
            for c in ch)
        self.cv3 = nn.ModuleList(
            nn.Sequential(nn.Sequential(Conv(c, c, 3, groups=c, bn_eps=bn_eps), Conv(c, c3, 1, bn_eps=bn_eps)),
                          nn.Sequential(Conv(c3, c3, 3, groups=c3, bn_eps=bn_eps),
                                        Conv(c3, c3, 1, bn_eps=bn_eps)),
                          nn.Conv2d(c3, nc, 1))
            for c in ch)
        self.dfl = DFL()

    def forward_raw(self, xs):
        return [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]

    def decode(self, raw):
        B = raw[0].shape[0]
        anchors, strides = [], []
        for r, s in zip(raw, STRIDES):
            h, w = r.shape[2:]
            sy, sx = torch.meshgrid(torch.arange(h, dtype=r.dtype, device=r.device) + 0.5,
                                    torch.arange(w, dtype=r.dtype, device=r.device) + 0.5, indexing="ij")
            anchors.append(torch.stack((sx, sy), -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), s, dtype=r.dtype, device=r.device))
        anchors = torch.cat(anchors).transpose(0, 1).unsqueeze(0)  # [1, 2, A]
        strides = torch.cat(strides).transpose(0, 1)               # [1, A]
        flat = torch.cat([r.view(B, 4 * REG_MAX + self.nc, -1) for r in raw], 2)
        box, cls = flat.split((4 * REG_MAX, self.nc), 1)
        lt, rb = self.dfl(box).chunk(2, 1)
        p1, p2 = anchors - lt, anchors + rb
        xywh = torch.cat(((p1 + p2) / 2, p2 - p1), 1) * strides
        return torch.cat((xywh, cls.sigmoid()), 1)


class Concat(nn.Module):
    """Placeholder for the weightless concat rows (3, 4, 6, 7, 10, 13): keeps the numbering."""

    def forward(self, xs):
        return torch.cat(xs, 1)


def head_widths(scale):
    """(ch, reps) of a scale: ch(c) is the head width for the nominal width c."""
    depth, width, max_ch = SCALE_CONSTANTS[scale]
    ch = lambda c: _round_up8(min(c, max_ch) * width)
    reps = max(round(2 * depth), 1)
    return ch, reps


class RepViTYOLO(nn.Module):
    def __init__(self, variant, scale, nc, bn_eps=1e-3):
        super().__init__()
        if variant not in BACKBONES:
            raise ValueError(f"unknown variant {variant!r} (expected one of {VARIANTS})")
        if scale not in SCALE_CONSTANTS:
            raise ValueError(f"unknown scale {scale!r} (expected one of {SCALES})")
        if nc < 1:
            raise ValueError(f"nc must be >= 1, got {nc}")
        self.variant, self.scale, self.nc = variant, scale, nc
        self.reg_max, self.strides, self.bn_eps = REG_MAX, STRIDES, bn_eps
        ch, reps = head_widths(scale)
        c3k_all = scale in "mlx"
        bb = RepViTBackbone(variant, bn_eps)
        _, p3, p4, p5 = bb.widths
        c1024, c512, c256 = ch(1024), ch(512), ch(256)
        self.model = nn.ModuleList([
            bb,                                                      # 0
            SPPF(p5, c1024, bn_eps),                                 # 1
            C2PSA(c1024, reps, bn_eps),                              # 2
            nn.Upsample(scale_factor=2, mode="nearest"),             # 3
            Concat(),                                                # 4
            C3k2(c1024 + p4, c512, reps, c3k_all, bn_eps),           # 5
            nn.Upsample(scale_factor=2, mode="nearest"),             # 6
            Concat(),                                                # 7
            C3k2(c512 + p3, c256, reps, c3k_all, bn_eps),            # 8
            Conv(c256, c256, 3, 2, bn_eps=bn_eps),                   # 9
            Concat(),                                                # 10
            C3k2(c256 + c512, c512, reps, c3k_all, bn_eps),          # 11
            Conv(c512, c512, 3, 2, bn_eps=bn_eps),                   # 12
            Concat(),                                                # 13
            C3k2(c512 + c1024, c1024, reps, True, bn_eps),           # 14
            Detect(nc, (c256, c512, c1024), bn_eps),                 # 15
        ])

    def forward_raw(self, x):
        m = self.model
        if x.shape[2] % 32 or x.shape[3] % 32:
            raise ValueError(f"input size {tuple(x.shape[2:])} is not a multiple of 32")
        p3, p4, p5 = m[0](x)
        x2 = m[2](m[1](p5))
        x5 = m[5](m[4]([m[3](x2), p4]))
        o3 = m[8](m[7]([m[6](x5), p3]))
        o4 = m[11](m[10]([m[9](o3), x5]))
        o5 = m[14](m[13]([m[12](o4), x2]))
        return m[15].forward_raw([o3, o4, o5])

    def forward(self, x):
        return self.model[15].decode(self.forward_raw(x))


def build_model(variant: str, scale: str, nc: int, bn_eps: float = 1e-3) -> nn.Module:
    return RepViTYOLO(variant, scale, nc, bn_eps)


def state_dict_shapes(variant, scale, nc):
    """{name: shape} of the state dict, num_batches_tracked excluded."""
    m = build_model(variant, scale, nc)
    return {k: tuple(v.shape) for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}


def count_params(variant, scale, nc):
    """(elements, tensors) of the state dict, BN stats and dfl included, num_batches_tracked excluded."""
    shapes = state_dict_shapes(variant, scale, nc)
    return sum(math.prod(s) for s in shapes.values()), len(shapes)


def count_macs(variant, scale, nc, h=640, w=640):
    """Multiply-accumulates of the convolutions (attention excluded)."""
    m = build_model(variant, scale, nc).eval()
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        k = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
        total += out.numel() * k

    hs = [mod.register_forward_hook(hook) for mod in m.modules() if isinstance(mod, nn.Conv2d)]
    with torch.no_grad():
        m.forward_raw(torch.zeros(1, 3, h, w))
    for hd in hs:
        hd.remove()
    return total


if __name__ == "__main__":
    import sys
    for v in VARIANTS:
        print(v, " ".join("%s=%d/%d" % ((s,) + count_params(v, s, 80)) for s in SCALES))
    if "--macs" in sys.argv:
        for v in VARIANTS:
            print(v, "n MACs %.2f G" % (count_macs(v, "n", 80) / 1e9))
