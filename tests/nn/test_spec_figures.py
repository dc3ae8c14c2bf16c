#!/usr/bin/python3
"""Spec self-check figures through the C loader: for every variant at scale n
and every scale of m0_9, a weight file with the reference model's state-dict
names and shapes (tools/repvit_yolo.py, zero weights) must load, report the
spec's element count, and at scale n the spec's MACs at 640x640.

usage: test_spec_figures.py REPVIT_INFER SPEC-model.md
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import repvit_yolo as ry  # noqa: E402
import safetensors_io  # noqa: E402

infer, spec_path = sys.argv[1], sys.argv[2]
spec = open(spec_path).read()
counts = {}
for row in re.findall(r"^\| (m\d_\d) ((?:\| [\d,]+ / \d+ )+)\|", spec, re.M):
    for scale, cell in zip("nsmlx", re.findall(r"([\d,]+) / (\d+)", row[1])):
        counts[row[0], scale] = (int(cell[0].replace(",", "")), int(cell[1]))
macs = {v: float(g) for v, g in re.findall(r"(m\d_\d) (\d+\.\d) G", spec)}
assert len(counts) == 25 and len(macs) == 5, "spec tables not found"

path = os.path.join(tempfile.mkdtemp(prefix="rv-spec-"), "model.safetensors")
failed = False
cases = [(v, "n") for v in ry.VARIANTS] + [("m0_9", s) for s in ry.SCALES if s != "n"]
for variant, scale in cases:
    shapes = ry.state_dict_shapes(variant, scale, 80)
    tensors = {k: np.arange(16, dtype=np.float16).reshape(s) if k.endswith("dfl.conv.weight")
               else np.zeros(s, np.float16) for k, s in shapes.items()}
    safetensors_io.save(path, tensors, {"arch": "repvit-yolo11", "variant": variant, "scale": scale,
                                        "nc": "80", "names": json.dumps([f"c{i}" for i in range(80)])})
    p = subprocess.run([infer, "--model", path, "--info"], capture_output=True, text=True)
    info = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)
    want = counts[variant, scale]
    ok = p.returncode == 0 and int(info["params"]) == want[0] and len(tensors) == want[1]
    got_macs = float(info.get("macs", 0)) / 1e9
    if scale == "n":     # the spec rounds to 0.1 G and counts ~0.03 G of attention on top
        ok = ok and abs(got_macs - macs[variant]) <= 0.08
    print(f"{variant}-{scale}: params {info.get('params')} (spec {want[0]}, {want[1]} tensors), "
          f"macs {got_macs:.2f} G {'ok' if ok else 'FAIL'} {p.stderr.strip()}")
    failed |= not ok
os.remove(path)
sys.exit(1 if failed else 0)
