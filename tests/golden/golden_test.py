#!/usr/bin/python3
"""Whole-model tests of repvit-infer against the PyTorch reference (tools/repvit_yolo.py).

    golden_test.py counts
        the reference's state-dict counts and MACs against SPEC-model.md's table
    golden_test.py model --infer EXE --variant V --scale S [--nc N] [--seed K] [--size HxW] [--fp16] [--info]
                   [--bf16]
        random calibrated model (tools/make_golden.py, through tools/export.py) -> repvit-infer
    golden_test.py upstream --infer EXE --golden DIR [--bf16]
        the upstream golden case (exported again with tools/export.py) -> repvit-infer

--bf16 runs repvit-infer in f32 and with --precision bf16. The f32 output must pass the f32
tolerances; the bf16 one is held to the model's own conditioning: our f32 forward rounds
every operation to 24 significant bits (unit roundoff 2^-24) and lands e32 away from the
float64 reference; bf16 rounds the dense convs' weights and inputs to 8 bits (2^-9), so the
same amplification gives at most 2^15 e32 (measured: 2e3 .. 1.5e4 e32, i.e. 0.25 .. 11 px
and 0.003 .. 0.13 in the scores on these random models). Scores must also stay within 0.25.
Where the CPU has no AVX512-BF16, repvit-infer says so and the bf16 output must equal the
f32 one bit for bit.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import repvit_yolo as ry  # noqa: E402

SCORE_TOL = 1e-4  # absolute, on the sigmoid scores
BOX_TOL = 1e-2    # input pixels
BF16_GAIN = 2.0 ** 15   # bf16 / f32 unit roundoff: 2^-9 / 2^-24
BF16_SCORE_CAP = 0.25


def check(ok, msg):
    if not ok:
        print("FAIL:", msg)
        sys.exit(1)


def run_infer(exe, model, x_path, y_path, precision="f32"):
    """Seconds taken, and whether bf16 fell back to f32."""
    t = time.time()
    r = subprocess.run([exe, "--model", model, "--input-npy", x_path, "--output-npy", y_path, "--threads", "2",
                        "--precision", precision], capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    check(r.returncode == 0, f"repvit-infer exited with {r.returncode}")
    return time.time() - t, "no AVX512-BF16" in r.stderr


def errors(y, ref, nc):
    check(y.shape == ref.shape, f"output shape {y.shape}, reference {ref.shape}")
    check(ref.shape[1] == 4 + nc, f"reference rows {ref.shape[1]} != 4 + nc")
    check(np.isfinite(y).all(), "output holds non-finite values")
    return np.abs(y[0, :4] - ref[0, :4]).max(), np.abs(y[0, 4:] - ref[0, 4:]).max()


def compare(y_path, ref_path, nc):
    y, ref = np.load(y_path), np.load(ref_path)
    box_err, score_err = errors(y, ref, nc)
    print(f"max abs error: boxes {box_err:.3g} px (tol {BOX_TOL}), scores {score_err:.3g} (tol {SCORE_TOL}); "
          f"anchors {ref.shape[2]}, score range {ref[0, 4:].min():.3f}..{ref[0, 4:].max():.3f}")
    check(box_err <= BOX_TOL and score_err <= SCORE_TOL, "outputs differ from the reference")


def compare_bf16(exe, model, x_path, ref_path, nc, d):
    """f32 and bf16 runs against the reference (see the module doc)."""
    y32, y16 = os.path.join(d, "y32.npy"), os.path.join(d, "y16.npy")
    run_infer(exe, model, x_path, y32)
    compare(y32, ref_path, nc)
    secs, fell_back = run_infer(exe, model, x_path, y16, "bf16")
    print(f"repvit-infer bf16 {secs:.1f}s")
    a, b, ref = np.load(y32), np.load(y16), np.load(ref_path)
    if fell_back:
        check(np.array_equal(a, b), "bf16 fell back to f32 but its output differs from f32")
        print("no AVX512-BF16 here: bf16 fell back to f32, same output")
        return
    check(not np.array_equal(a, b), "bf16 in effect but the output equals the f32 one")
    (b32, s32), (b16, s16) = errors(a, ref, nc), errors(b, ref, nc)
    box_tol, score_tol = BF16_GAIN * max(b32, 1e-4), min(BF16_GAIN * max(s32, 1e-6), BF16_SCORE_CAP)
    print(f"bf16 max abs error: boxes {b16:.3g} px (tol {box_tol:.3g}, {b16 / max(b32, 1e-4):.0f} x f32), "
          f"scores {s16:.3g} (tol {score_tol:.3g}, {s16 / max(s32, 1e-6):.0f} x f32)")
    check(b16 <= box_tol and s16 <= score_tol, "bf16 outputs differ from the reference beyond the bf16 tolerance")


def check_info(exe, model, variant, scale, nc):
    r = subprocess.run([exe, "--model", model, "--info"], capture_output=True, text=True)
    print(r.stdout + r.stderr, end="")
    check(r.returncode == 0, f"repvit-infer --info exited with {r.returncode}")
    info = dict(ln.split(": ", 1) for ln in r.stdout.splitlines() if ": " in ln)
    elements, _ = ry.count_params(variant, scale, nc)
    want = {"variant": variant, "scale": scale, "nc": str(nc), "imgsz": "640", "params": str(elements),
            "names": ", ".join(f"class{i}" for i in range(nc))}
    for k, v in want.items():
        check(info.get(k) == v, f"--info {k}: {info.get(k)!r}, expected {v!r}")
    macs = ry.count_macs(variant, scale, nc, 640, 640)
    # the reference counts the convolutions only; attention may add ~0.5%
    check(abs(float(info.get("macs", "nan")) - macs) <= 0.01 * macs, f"--info macs {info.get('macs')}, reference {macs}")


def cmd_counts(_):
    bad = 0
    for v in ry.VARIANTS:
        for i, s in enumerate(ry.SCALES):
            got, want = ry.count_params(v, s, 80), ry.SPEC_COUNTS_NC80[v][i]
            print(f"{v}-{s}: {got[0]} elements / {got[1]} tensors, spec {want[0]} / {want[1]}")
            bad += got != want
        macs = ry.count_macs(v, "n", 80) / 1e9
        print(f"{v}-n: {macs:.2f} GMACs at 640x640, spec {ry.SPEC_MACS_N_640[v]}")
        bad += abs(macs - ry.SPEC_MACS_N_640[v]) > 0.05
    check(bad == 0, f"{bad} figures differ from SPEC-model.md")


def cmd_model(a):
    import make_golden
    h, w = (int(v) for v in a.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="golden-") as d:
        t = time.time()
        p = make_golden.make_golden(a.variant, a.scale, a.nc, a.seed, h, w, a.fp16, d)
        print(f"{a.variant}-{a.scale} nc={a.nc} {h}x{w}{' F16' if a.fp16 else ''}: "
              f"reference {time.time() - t:.1f}s")
        if a.bf16:
            compare_bf16(a.infer, p["model"], p["input"], p["output"], a.nc, d)
            return
        y = os.path.join(d, "y.npy")
        print(f"repvit-infer {run_infer(a.infer, p['model'], p['input'], y)[0]:.1f}s")
        compare(y, p["output"], a.nc)
        if a.info:
            check_info(a.infer, p["model"], a.variant, a.scale, a.nc)


def cmd_upstream(a):
    src = os.path.join(a.golden, "m0_9-n-nc80.safetensors")
    with tempfile.TemporaryDirectory(prefix="golden-") as d:
        model = os.path.join(d, "model.safetensors")
        r = subprocess.run([sys.executable, os.path.join(TOOLS, "export.py"), src, model], capture_output=True, text=True)
        print(r.stdout + r.stderr, end="")
        check(r.returncode == 0, "export.py failed on the upstream state dict")
        x, ref = (os.path.join(a.golden, f"m0_9-n-nc80.{f}-128x160.npy") for f in ("input", "output"))
        if a.bf16:
            compare_bf16(a.infer, model, x, ref, 80, d)
            return
        y = os.path.join(d, "y.npy")
        run_infer(a.infer, model, x, y)
        compare(y, ref, 80)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("counts").set_defaults(fn=cmd_counts)
    m = sub.add_parser("model")
    m.set_defaults(fn=cmd_model)
    m.add_argument("--infer", required=True)
    m.add_argument("--variant", required=True, choices=ry.VARIANTS)
    m.add_argument("--scale", required=True, choices=ry.SCALES)
    m.add_argument("--nc", type=int, default=80)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--size", default="96x160")
    m.add_argument("--fp16", action="store_true")
    m.add_argument("--info", action="store_true", help="also check repvit-infer --info")
    m.add_argument("--bf16", action="store_true", help="f32 and bf16 runs, bf16 tolerance")
    u = sub.add_parser("upstream")
    u.set_defaults(fn=cmd_upstream)
    u.add_argument("--infer", required=True)
    u.add_argument("--golden", required=True)
    u.add_argument("--bf16", action="store_true", help="f32 and bf16 runs, bf16 tolerance")
    a = ap.parse_args()
    a.fn(a)
    print("PASS")


if __name__ == "__main__":
    main()
