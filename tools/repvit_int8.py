#!/usr/bin/python3
"""The C core's precision=int8 on the PyTorch reference (tools/repvit_yolo.py).

    folded = fold(ry.build_model(...).eval())        # the load-time re-parameterization
    q = quantize(fold(model), log=[])                # precision int8
    y = at_precision(model, "int8").double()(x)      # the same in one call

fold() is the deployment re-parameterization of SPEC-model.md with the C loader's arithmetic
(nn/src/model.c fold_bn: BN scale gamma / sqrt(var + eps) in double, weights and bias rounded
to float32; RepVGGDW: inner BN, then conv1 + identity added to the centre tap in float32, then
the outer BN), so that the int8 weight codes are computed from the same float32 numbers as C's.

quantize() replaces every dense conv (groups 1) except the squeeze-excite FCs and DFL's fixed
conv by QConv2d: fake quantization with the semantic of nn/src/conv_s8.c, i.e.
  weights   symmetric s8 per output channel: scale = max|w| / 127 (1 for a zero row),
            code = clamp(rint(w * (1 / scale)), -127, 127), all in float32;
  input     u8, per tensor, dynamic (each call): [lo, hi] = [min(0, min x), max(0, max x)]
            in float32, scale = (hi - lo) / 255 (1 when hi == lo), zero = clamp(rint(-lo /
            scale), 0, 255), code = clamp(rint(x * (1 / scale)) + zero, 0, 255); the zero
            padding of a k x k conv is the zero point (a real 0);
  output    float32(sx * sw[m]) * sum((xcode - zero) * wcode) + bias, then the activation
            and residual in floating point as before.
rint is round-half-even throughout, as lrintf and the CPU's conversions. The integer sum is
computed exactly (float64). Depthwise convs, SE, attention and DFL stay in floating point.
The floating-point parts run in the model's dtype: float64 for a golden reference, float32
for a C-like one (the two differ in a code here and there, as C and the reference do).
"""
import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import repvit_yolo as ry

F32 = np.float32


def _fold_bn(w, bias, bn):
    """float32 weights w [cout, ...] and bias (or None) through bn, as model.c's fold_bn."""
    g, beta, mean, var = (t.detach().double().numpy() for t in (bn.weight, bn.bias, bn.running_mean,
                                                                 bn.running_var))
    s = g / np.sqrt(var + float(F32(bn.eps)))
    w = (w.astype(np.float64) * s.reshape(-1, *[1] * (w.ndim - 1))).astype(F32)
    b = (((bias.astype(np.float64) if bias is not None else 0.0) - mean) * s + beta).astype(F32)
    return w, b


def _conv_with(conv, w, b):
    """A copy of conv's geometry with weights w and bias b (float32 arrays)."""
    out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    groups=conv.groups, bias=True)
    out.weight.data = torch.from_numpy(w)
    out.bias.data = torch.from_numpy(b)
    return out


def _weights(conv):
    return conv.weight.detach().float().numpy()


def _fold_repvggdw(m):
    """bn(conv(x) + conv1(x) + x) -> one depthwise 3x3 conv with bias."""
    w, b = _fold_bn(_weights(m.conv.c), None, m.conv.bn)
    w[:, 0, 1, 1] += _weights(m.conv1)[:, 0, 0, 0] + F32(1)
    b += m.conv1.bias.detach().float().numpy()
    return _conv_with(m.conv.c, *_fold_bn(w, b, m.bn))


def fold(module):
    """Deployment re-parameterization of SPEC-model.md, in place; returns module."""
    for name, child in module.named_children():
        if isinstance(child, ry.RepVGGDW):
            setattr(module, name, _fold_repvggdw(child))
        elif isinstance(child, ry.Conv2d_BN):
            setattr(module, name, _conv_with(child.c, *_fold_bn(_weights(child.c), None, child.bn)))
        elif isinstance(child, ry.Conv):
            child.conv = _conv_with(child.conv, *_fold_bn(_weights(child.conv), None, child.bn))
            child.bn = nn.Identity()
        else:
            fold(child)
    return module


def dense_convs(model):
    """(parent, name, conv) of the convs int8 covers: every dense (groups 1) conv except the
    squeeze-excite FCs and DFL's fixed expectation conv, which stay fp32."""
    out = []
    for parent in model.modules():
        if isinstance(parent, (ry.SqueezeExcite, ry.DFL)):
            continue
        out += [(parent, name, c) for name, c in parent.named_children()
                if isinstance(c, nn.Conv2d) and c.groups == 1]
    return out


def s8_weights(w):
    """(codes int8 [cout, K...], scales float32 [cout]) of float32 weights w [cout, ...]."""
    rows = w.reshape(len(w), -1)
    amax = np.abs(rows).max(1)
    scale = np.where(amax > 0, amax / F32(127), F32(1)).astype(F32)
    inv = (F32(1) / scale).astype(F32)
    codes = np.clip(np.rint(rows * inv[:, None]), -127, 127).astype(np.int8)
    return codes.reshape(w.shape), scale


def u8_params(lo, hi):
    """(scale float32, zero int) for a tensor whose min and max are lo and hi."""
    lo, hi = min(F32(lo), F32(0)), max(F32(hi), F32(0))
    scale = F32(hi - lo) / F32(255) if hi > lo else F32(1)
    return F32(scale), int(np.clip(np.rint(-lo / scale), 0, 255))


class QConv2d(nn.Module):
    """A folded dense conv in int8 (see the module doc). Every call appends (name, sx, zx,
    codes or None) to log, where log is a list; codes (xcode - zero) when keep_codes."""

    def __init__(self, conv, name, log=None, keep_codes=False):
        super().__init__()
        q, self.w_scale = s8_weights(_weights(conv))
        self.register_buffer("wq", torch.from_numpy(q.astype(np.float32)))  # exact in any float dtype
        self.register_buffer("b", conv.bias.detach().clone())
        self.stride, self.padding = conv.stride, conv.padding
        self.name, self.log, self.keep_codes = name, log, keep_codes

    def forward(self, x):
        sx, zx = u8_params(x.min().item(), x.max().item())
        inv = float(F32(1) / sx)
        xq = torch.clamp(torch.round(x * torch.tensor(inv, dtype=x.dtype)), -zx, 255 - zx).double()
        if self.log is not None:
            self.log.append((self.name, sx, zx, xq.to(torch.int16) if self.keep_codes else None))
        acc = F.conv2d(xq, self.wq.double(), None, self.stride, self.padding)
        scale = torch.from_numpy((sx * self.w_scale).astype(F32)).view(1, -1, 1, 1)
        return (acc.to(x.dtype) * scale.to(x.dtype) + self.b.view(1, -1, 1, 1)).to(x.dtype)


def quantize(folded, log=None, keep_codes=False):
    """Replaces the dense convs of a folded model by QConv2d, in place; returns the model."""
    names = {id(m): n for n, m in folded.named_modules()}
    for parent, name, conv in dense_convs(folded):
        setattr(parent, name, QConv2d(conv, names[id(conv)], log, keep_codes))
    return folded


def at_precision(model, precision, log=None):
    """A copy of model as the C core runs it at precision "fp32" (folded) or "int8"."""
    folded = fold(copy.deepcopy(model).float().eval())
    if precision == "fp32":
        return folded
    if precision == "int8":
        return quantize(folded, log)
    raise ValueError(f"precision {precision!r}: expected fp32 or int8")
