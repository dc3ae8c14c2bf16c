#!/usr/bin/python3
"""tools/export.py and tools/safetensors_io.py: layouts it must accept, inputs it must refuse."""
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


if __name__ == "__main__":
    main()
