#!/usr/bin/python3
"""tools/export.py and tools/safetensors_io.py: layouts it must accept, inputs it must refuse,
and the checkpoint kinds ultralytics writes (with stand-in ultralytics / timm / backbone
modules made here, as ultralytics itself is not installed)."""
import copy
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import export  # noqa: E402
import repvit_yolo as ry  # noqa: E402
import safetensors_io  # noqa: E402

failures = 0


def expect(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += not ok


def expect_error(fn, fragment, what):
    try:
        fn()
    except (export.ExportError, safetensors_io.SafetensorsError) as e:
        expect(fragment in str(e), f"{what}: {e}")
        return
    expect(False, f"{what}: no error")


def main():
    with tempfile.TemporaryDirectory(prefix="export-test-") as d:
        run(d)
    with tempfile.TemporaryDirectory(prefix="export-test-") as d:
        checkpoint_kinds(d)
    print(f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


def run(d):
    p = lambda name: os.path.join(d, name)  # noqa: E731
    torch.manual_seed(0)
    model = ry.build_model("m1_1", "s", 3)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    ref = {k: v.numpy() for k, v in sd.items() if not k.endswith("num_batches_tracked")}

    def roundtrip(obj, what, fp16=False, **kw):
        torch.save(obj, p("in.pt"))
        meta = export.export(p("in.pt"), p("out.safetensors"), fp16=fp16, **kw)
        t, m = safetensors_io.load(p("out.safetensors"))
        same = t.keys() == ref.keys() and all(
            np.array_equal(t[k], ref[k].astype(np.float16) if fp16 else ref[k]) for k in ref)
        expect(same and m == meta and (m["variant"], m["scale"], m["nc"]) == ("m1_1", "s", "3")
               and m["arch"] == "repvit-yolo11", f"{what}: tensors and metadata")
        return m

    m = roundtrip(sd, "plain state dict")
    expect(json.loads(m["names"]) == ["class0", "class1", "class2"] and m["bn_eps"] == "0.001"
           and m["imgsz"] == "640", "default names, bn_eps, imgsz")
    roundtrip({"model": {"module." + k: v for k, v in sd.items()}}, "'model' wrapper, 'module.' prefix")
    roundtrip({"ema": None, "state_dict": sd}, "'state_dict' wrapper after an empty 'ema'")
    module = ry.build_model("m1_1", "s", 3, bn_eps=1e-5)
    module.load_state_dict(sd)
    module.names = {0: "cat", 1: "dog", 2: "bird"}
    m = roundtrip({"ema": module, "train_args": {"imgsz": 320}}, "nn.Module under 'ema'", fp16=True)
    expect(json.loads(m["names"]) == ["cat", "dog", "bird"] and float(m["bn_eps"]) == 1e-5 and m["imgsz"] == "320",
           "names, bn_eps and imgsz taken from the checkpoint")

    # safetensors in, CLI with --names / --bn-eps / --imgsz
    with open(p("names.txt"), "w") as f:
        f.write("a\nb b\nc\n")
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "export.py"), p("out.safetensors"), p("cli.safetensors"),
                        "--names", p("names.txt"), "--bn-eps", "0.0001", "--imgsz", "416"],
                       capture_output=True, text=True)
    t, m = safetensors_io.load(p("cli.safetensors")) if r.returncode == 0 else ({}, {})
    expect(r.returncode == 0 and json.loads(m.get("names", "[]")) == ["a", "b b", "c"]
           and float(m["bn_eps"]) == 1e-4 and m["imgsz"] == "416"
           and all(t[k].dtype == np.float32 for k in t), "CLI on a safetensors input, F16 -> F32, options")

    def bad(mutate, fragment, what):
        s = {k: v.clone() for k, v in sd.items()}
        mutate(s)
        torch.save(s, p("bad.pt"))
        expect_error(lambda: export.export(p("bad.pt"), p("bad.safetensors")), fragment, what)

    bad(lambda s: s.pop("model.0.features.3.token_mixer.0.conv1.bias"), "missing", "missing tensor")
    bad(lambda s: s.__setitem__("model.16.extra", torch.zeros(3)), "unexpected", "unexpected tensor")
    bad(lambda s: s.__setitem__("model.15.cv3.1.2.weight", torch.zeros(3, 7, 1, 1)), "model.15.cv3.1.2.weight",
        "wrong shape")
    bad(lambda s: s["model.15.dfl.conv.weight"].mul_(2), "0..15", "learned dfl weights")
    bad(lambda s: s["model.9.bn.running_var"].fill_(float("nan")), "non-finite", "NaN weights")
    bad(lambda s: [s.pop(k) for k in list(s) if k.startswith("model.0.features.24")], "matches no variant",
        "backbone with a block less")
    bad(lambda s: [s.pop(k) for k in list(s) if k.startswith("model.0.")], "model.0.features", "no backbone")
    bad(lambda s: s.__setitem__("model.1.cv2.conv.weight", torch.zeros(200, 512, 1, 1)), "scale", "unknown head width")
    expect_error(lambda: export.export(p("in.pt"), p("x.safetensors"), names=["one"]), "1 class names for nc=3",
                 "names count")
    torch.save([1, 2, 3], p("list.pt"))
    expect_error(lambda: export.export(p("list.pt"), p("x.safetensors")), "no state dict", "a list, not a state dict")
    with open(p("junk.safetensors"), "wb") as f:
        f.write((1000).to_bytes(8, "little") + b"{")
    expect_error(lambda: safetensors_io.load(p("junk.safetensors")), "exceeds", "truncated safetensors")
    big = {k: v.clone() for k, v in sd.items()}
    big["model.9.conv.weight"][0, 0, 0, 0] = 1e6
    torch.save(big, p("big.pt"))
    expect_error(lambda: export.export(p("big.pt"), p("x.safetensors"), fp16=True), "F16 range", "F16 overflow")



# Stand-ins for the modules a checkpoint pickled by ultralytics' trainer references: its
# DetectionModel and argument namespace, the backbone's own module (registered in
# parse_model at training time) and timm, which the RepViT code imports.
STANDIN = {
    "ultralytics/__init__.py": "",
    "ultralytics/nn/__init__.py": "",
    "ultralytics/nn/tasks.py": "from repvit_yolo import RepViTYOLO\n\n\nclass DetectionModel(RepViTYOLO):\n    pass\n",
    "ultralytics/nn/backbone.py": "from repvit_yolo import RepViTBackbone\n\n\nclass RepViT(RepViTBackbone):\n    pass\n",
    "ultralytics/utils/__init__.py": "import types\n\n\nclass IterableSimpleNamespace(types.SimpleNamespace):\n    pass\n",
    "timm/__init__.py": "",
    "timm/models/__init__.py": "",
    "timm/models/layers.py": "from repvit_yolo import SqueezeExcite as _SE\n\n\nclass SqueezeExcite(_SE):\n    pass\n",
}


def write_standin(root, skip=()):
    for rel, text in STANDIN.items():
        if not any(rel.startswith(k) for k in skip):
            os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w") as f:
                f.write(text)


def cli(inp, out, pythonpath, *flags):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([pythonpath, TOOLS]))
    return subprocess.run([sys.executable, os.path.join(TOOLS, "export.py"), inp, out, *flags],
                          capture_output=True, text=True, env=env)


def checkpoint_kinds(d):
    p = lambda name: os.path.join(d, name)  # noqa: E731
    write_standin(p("full"))
    write_standin(p("no-backbone"), skip=("ultralytics/nn/backbone.py",))
    write_standin(p("no-timm"), skip=("timm",))
    os.makedirs(p("none"))
    sys.path.insert(0, p("full"))
    from ultralytics.nn.backbone import RepViT
    from ultralytics.nn.tasks import DetectionModel
    from ultralytics.utils import IterableSimpleNamespace
    from timm.models.layers import SqueezeExcite

    torch.manual_seed(1)
    model = ry.build_model("m0_9", "n", 3)
    model.__class__ = DetectionModel
    model.model[0].__class__ = RepViT
    next(m for m in model.modules() if isinstance(m, ry.SqueezeExcite)).__class__ = SqueezeExcite
    model.names = {0: "cat", 1: "dog", 2: "bird"}
    model.args = IterableSimpleNamespace(imgsz=320, epochs=3)
    f32 = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    f16 = {k: v.half().float() for k, v in f32.items()}

    def check(name, r, weights, names, imgsz, notes=()):
        t, m = safetensors_io.load(p("out.safetensors")) if r.returncode == 0 else ({}, {})
        ok = (r.returncode == 0 and t.keys() == weights.keys()
              and all(np.array_equal(t[k], weights[k].numpy()) for k in weights)
              and json.loads(m["names"]) == names and m["imgsz"] == str(imgsz)
              and all(n in r.stderr for n in notes) and ("note:" in r.stderr) == bool(notes))
        expect(ok, f"{name}: names {m.get('names')} imgsz {m.get('imgsz')}, stderr {r.stderr.strip()!r}")

    kinds = {
        # strip_optimizer's output: weights under 'model' (F16), 'ema' None
        "best.pt": ({"epoch": -1, "model": copy.deepcopy(model).half(), "ema": None, "updates": None,
                     "train_args": {"imgsz": 256, "epochs": 3}}, f16, 256),
        # a checkpoint saved during training: 'ema' holds the weights, 'model' None
        "epoch2.pt": ({"epoch": 2, "model": None, "ema": copy.deepcopy(model).half(),
                       "train_args": {"imgsz": 256}}, f16, 256),
        # torch.save(model.float()): imgsz only on the model's args
        "model.pt": (copy.deepcopy(model).float(), f32, 320),
    }
    for name, (obj, weights, imgsz) in kinds.items():
        torch.save(obj, p(name))
        check(name, cli(p(name), p("out.safetensors"), p("full")), weights, ["cat", "dog", "bird"], imgsz)
    model.args = {"imgsz": [384, 384]}
    torch.save(model, p("dictargs.pt"))
    check("model with args as a dict, imgsz [384, 384]", cli(p("dictargs.pt"), p("out.safetensors"), p("full")),
          f32, ["cat", "dog", "bird"], 384)
    check("--imgsz over the checkpoint's", cli(p("best.pt"), p("out.safetensors"), p("full"), "--imgsz", "640"),
          f16, ["cat", "dog", "bird"], 640, ["--imgsz 640 replaces the training size 256 from train_args"])

    # Without the training environment: the error names the missing module and what provides it.
    for where, module, fragment in (("none", "'ultralytics'", "pip install ultralytics"),
                                    ("no-backbone", "'ultralytics.nn.backbone'", "defined the model's modules"),
                                    ("no-timm", "'timm'", "stand-in module named timm")):
        r = cli(p("best.pt"), p("x.safetensors"), p(where))
        expect(r.returncode == 1 and module in r.stderr and fragment in r.stderr
               and "(ckpt.get('ema') or ckpt['model']).float().state_dict()" in r.stderr,
               f"best.pt without {module}: {r.stderr.strip()!r}")

    # The README's recipe, for stripped and unstripped checkpoints alike; a plain state dict
    # has no names or imgsz: notes name the flags, and the flags set them.
    with open(p("names.txt"), "w") as f:
        f.write("cat\ndog\nbird\n")
    for name in ("best.pt", "epoch2.pt"):
        ckpt = torch.load(p(name), map_location="cpu", weights_only=False)
        torch.save((ckpt.get('ema') or ckpt['model']).float().state_dict(), p("weights.pt"))
        check(f"README recipe on {name}, --names --imgsz",
              cli(p("weights.pt"), p("out.safetensors"), p("none"), "--names", p("names.txt"), "--imgsz", "256"),
              f16, ["cat", "dog", "bird"], 256)
    check("plain state dict, no flags", cli(p("weights.pt"), p("out.safetensors"), p("none")),
          f16, ["class0", "class1", "class2"], 640, ["--names FILE", "--imgsz N"])
    sys.path.remove(p("full"))


if __name__ == "__main__":
    main()
