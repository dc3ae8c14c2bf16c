#!/usr/bin/python3
"""Export a RepViT-YOLO11 state dict to the safetensors weight file of SPEC-model.md.

    export.py IN OUT.safetensors [--fp16] [--names FILE] [--bn-eps E] [--imgsz N]

IN is a torch file (a state dict with the spec's names, possibly wrapped under "ema",
"model" or "state_dict", possibly an nn.Module, possibly with `module.` prefixes; a full
ultralytics checkpoint when ultralytics is importable) or a safetensors file. Variant,
scale and nc are inferred from the tensor shapes alone and every tensor is checked.
imgsz comes from --imgsz, else the checkpoint's train_args, else the model's args; names
from --names, else the checkpoint; where neither has them a note on stderr says which
default was used and which flag sets it.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import repvit_yolo as ry  # noqa: E402
import safetensors_io  # noqa: E402

# Without the training environment, a pickled checkpoint fails on the first module it
# references: say what provides it. Weights alone need none of them.
STATE_DICT_RECIPE = ("or, where the checkpoint loads, save its weights alone: torch.save((ckpt.get('ema') or "
                     "ckpt['model']).float().state_dict(), 'weights.pt'), then export that with --names and --imgsz")


class ExportError(Exception):
    pass


def _note(msg):
    print(f"export.py: note: {msg}", file=sys.stderr)


def _missing_module_hint(name):
    top = name.split(".")[0]
    if top == "ultralytics" and name != top:
        return (f"{name} is not part of ultralytics itself: it is the code that defined the model's modules "
                "(e.g. the RepViT backbone) at training time; put that file where it was (the same module path) "
                "in an ultralytics install")
    if top == "ultralytics":
        return "it is provided by ultralytics (pip install ultralytics, the version the model was trained with)"
    if top == "timm":
        return ("it is provided by timm (pip install timm), which the RepViT backbone's code imports; "
                "a stand-in module named timm that defines the classes the checkpoint references also works")
    return (f"it is the code that defined the model's modules (e.g. the RepViT backbone) at training time; "
            f"put the directory holding {top} on PYTHONPATH")


# ---- reading ---------------------------------------------------------------

def _bn_eps_of(module):
    import torch
    eps = {m.eps for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)}
    return eps.pop() if len(eps) == 1 else None


def _names_list(names):
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, (list, tuple)):
        return [str(n) for n in names]
    return None


def _take_imgsz(info, args, where):
    """info['imgsz'] from a training-arguments dict or namespace, unless already set.
    ultralytics' imgsz is an int or an [h, w] list; the spec's imgsz is one size."""
    if "imgsz" in info or args is None:
        return
    v = args.get("imgsz") if isinstance(args, dict) else getattr(args, "imgsz", None)
    if isinstance(v, (list, tuple)) and len(v) in (1, 2) and len(set(v)) == 1:
        v = v[0]
    if isinstance(v, int) and not isinstance(v, bool):
        info["imgsz"], info["imgsz_from"] = v, where
    elif v is not None:
        _note(f"{where} has imgsz {v!r}, not one size; ignored")


def read_torch(path):
    """Returns ({name: np.ndarray}, info) where info may hold names, bn_eps, imgsz."""
    import torch
    try:
        # full checkpoints pickle modules; torch >= 2.6 refuses them by default
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except ModuleNotFoundError as e:
        raise ExportError(f"{path}: pickled objects need module {e.name!r}, which is not importable here: "
                          f"{_missing_module_hint(e.name or '?')}; {STATE_DICT_RECIPE}") from None
    except Exception as e:
        raise ExportError(f"{path}: not a torch file ({e})") from None
    info = {}
    if isinstance(obj, dict):
        _take_imgsz(info, obj.get("train_args"), "train_args")
        if "names" in obj:
            info["names"] = _names_list(obj["names"])
        for key in ("ema", "model", "state_dict"):
            if obj.get(key) is not None:
                obj = obj[key]
                break
    if isinstance(obj, torch.nn.Module):
        if getattr(obj, "names", None) is not None and "names" not in info:
            info["names"] = _names_list(obj.names)
        # ultralytics keeps the training arguments on the model too (a dict or a namespace)
        _take_imgsz(info, getattr(obj, "args", None), "the model's args")
        info["bn_eps"] = _bn_eps_of(obj)
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ExportError(f"{path}: no state dict found (expected a dict of tensors, possibly under "
                          "'ema', 'model' or 'state_dict', or an nn.Module)")
    tensors = {}
    for k, v in obj.items():
        if not v.is_floating_point():
            if k.endswith("num_batches_tracked"):
                continue
            raise ExportError(f"{path}: tensor {k!r} has non-float dtype {v.dtype}")
        tensors[k] = v.detach().to("cpu", torch.float32).numpy()
    return tensors, info


def read_input(path):
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{":
        tensors, meta = safetensors_io.load(path)
        info = {}
        if "names" in meta:
            info["names"] = json.loads(meta["names"])
        if "bn_eps" in meta:
            info["bn_eps"] = float(meta["bn_eps"])
        if "imgsz" in meta:
            info["imgsz"] = int(meta["imgsz"])
        return {k: v.astype(np.float32) for k, v in tensors.items()}, info
    return read_torch(path)


def normalize_names(tensors):
    out = {}
    for k, v in tensors.items():
        while k.startswith("module."):
            k = k[len("module."):]
        if k.endswith("num_batches_tracked"):
            continue
        if k in out:
            raise ExportError(f"tensor {k!r} appears twice (with and without a 'module.' prefix)")
        out[k] = v
    return out


# ---- architecture inference -----------------------------------------------

def _shape(tensors, name, what):
    if name not in tensors:
        raise ExportError(f"cannot infer the {what}: tensor {name!r} is missing "
                          f"(is this a RepViT-YOLO11 state dict with the spec's names?)")
    return tensors[name].shape


def infer_variant(tensors):
    pre = "model.0.features."
    idx = {int(k[len(pre):].split(".")[0]) for k in tensors if k.startswith(pre)}
    if not idx:
        raise ExportError("no backbone tensors 'model.0.features.*' found "
                          f"(first tensors: {sorted(tensors)[:3]})")
    n_feat = max(idx) + 1
    widths = [_shape(tensors, pre + "0.2.c.weight", "backbone width")[0]]
    widths += [tensors[f"{pre}{i}.token_mixer.2.c.weight"].shape[0] for i in range(1, n_feat)
               if f"{pre}{i}.token_mixer.2.c.weight" in tensors]
    for v, (w, spec) in ry.BACKBONES.items():
        if tuple(widths) == w and len(ry.parse_blocks(spec)) + 1 == n_feat:
            return v
    known = ", ".join(f"{v}: {len(ry.parse_blocks(s)) + 1}, {list(w)}" for v, (w, s) in ry.BACKBONES.items())
    raise ExportError(f"backbone with {n_feat} model.0.features entries (stem included) and stage widths {widths} "
                      f"matches no variant ({known})")


def infer_scale(tensors):
    c1024 = _shape(tensors, "model.1.cv2.conv.weight", "scale")[0]
    c512 = _shape(tensors, "model.5.cv2.conv.weight", "scale")[0]
    reps = len({k.split(".")[3] for k in tensors if k.startswith("model.2.m.")})
    c3k = "model.5.m.0.cv3.conv.weight" in tensors
    seen = (c1024, c512, reps, c3k)
    for s in ry.SCALES:
        ch, r = ry.head_widths(s)
        if (ch(1024), ch(512), r, s in "mlx") == seen:
            return s
    raise ExportError(f"head widths {c1024}/{c512} with {reps} PSA block(s) and c3k={c3k} match no scale n/s/m/l/x")


def check_tensors(tensors, variant, scale, nc):
    """Every expected tensor present with its shape, nothing else; dfl = 0..15; finite."""
    expected = ry.state_dict_shapes(variant, scale, nc)
    what = f"{variant}-{scale} nc={nc}"
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise ExportError(f"tensors do not match {what}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                          f"unexpected {extra[:5]}{'...' if len(extra) > 5 else ''}")
    for k, s in expected.items():
        if tuple(tensors[k].shape) != s:
            raise ExportError(f"tensor {k!r}: shape {list(tensors[k].shape)}, {what} needs {list(s)}")
        if not np.isfinite(tensors[k]).all():
            raise ExportError(f"tensor {k!r} holds non-finite values")
    dfl = tensors["model.15.dfl.conv.weight"].ravel()
    if not np.array_equal(dfl, np.arange(ry.REG_MAX, dtype=np.float32)):
        raise ExportError(f"tensor 'model.15.dfl.conv.weight' must be 0..15, got {dfl.tolist()}")
    n_el = sum(math.prod(s) for s in expected.values())
    if nc == 80 and (n_el, len(expected)) != ry.SPEC_COUNTS_NC80[variant][ry.SCALES.index(scale)]:
        raise ExportError(f"internal: {what} has {n_el} elements / {len(expected)} tensors, "
                          f"the spec table says {ry.SPEC_COUNTS_NC80[variant][ry.SCALES.index(scale)]}")
    return n_el


# ---- export ----------------------------------------------------------------

def export(in_path, out_path, fp16=False, names=None, bn_eps=None, imgsz=None):
    """Writes out_path; returns its metadata dict. names: list or None."""
    tensors, info = read_input(in_path)
    tensors = normalize_names(tensors)
    variant, scale = infer_variant(tensors), infer_scale(tensors)
    nc = _shape(tensors, "model.15.cv3.0.2.weight", "number of classes")[0]
    check_tensors(tensors, variant, scale, nc)
    if not names and not info.get("names"):
        _note(f"{in_path} holds no class names; they will be class0..class{nc - 1} (set them with --names FILE)")
    names = names or info.get("names") or [f"class{i}" for i in range(nc)]
    if len(names) != nc:
        raise ExportError(f"{len(names)} class names for nc={nc}")
    bn_eps = bn_eps if bn_eps is not None else info.get("bn_eps") or 1e-3
    if imgsz and info.get("imgsz") not in (None, imgsz):
        _note(f"--imgsz {imgsz} replaces the training size {info['imgsz']} "
              f"from {info.get('imgsz_from', 'the input')}")
    if not imgsz and not info.get("imgsz"):
        _note(f"{in_path} holds no training size; imgsz will be 640 (set it with --imgsz N)")
    imgsz = imgsz or info.get("imgsz") or 640
    if bn_eps <= 0 or imgsz <= 0 or imgsz % 32:
        raise ExportError(f"bad bn_eps {bn_eps} or imgsz {imgsz} (imgsz must be a positive multiple of 32)")
    if fp16:
        big = [k for k, v in tensors.items() if np.abs(v).max(initial=0) > 65504]
        if big:
            raise ExportError(f"tensor {big[0]!r} exceeds the F16 range")
        tensors = {k: v.astype(np.float16) for k, v in tensors.items()}
    meta = {"arch": "repvit-yolo11", "variant": variant, "scale": scale, "nc": str(nc),
            "names": json.dumps(names), "bn_eps": repr(float(bn_eps)), "imgsz": str(int(imgsz))}
    safetensors_io.save(out_path, tensors, meta)
    return meta


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="torch checkpoint / state dict, or safetensors")
    ap.add_argument("output", help="OUT.safetensors")
    ap.add_argument("--fp16", action="store_true", help="store F16 (default F32)")
    ap.add_argument("--names", help="class names file, one per line")
    ap.add_argument("--bn-eps", type=float, help="BatchNorm eps (default: from the input, else 0.001)")
    ap.add_argument("--imgsz", type=int, help="training size (default: from the input, else 640)")
    a = ap.parse_args(argv)
    names = None
    if a.names:
        with open(a.names, encoding="utf-8") as f:
            names = [ln.strip() for ln in f if ln.strip()]
    try:
        meta = export(a.input, a.output, a.fp16, names, a.bn_eps, a.imgsz)
    except (ExportError, safetensors_io.SafetensorsError, OSError) as e:
        msg = str(e)
        print(f"export.py: {msg if msg.startswith(a.input) else a.input + ': ' + msg}", file=sys.stderr)
        return 1
    print(f"{a.output}: {meta['variant']}-{meta['scale']} nc={meta['nc']} "
          f"{'F16' if a.fp16 else 'F32'} bn_eps={meta['bn_eps']} imgsz={meta['imgsz']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
