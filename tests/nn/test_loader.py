#!/usr/bin/python3
"""Weight-file validation: valid F16 and F32 versions of the upstream golden
file load with the spec's figures; a missing file is named; random header
corruption never crashes. (Each malformed case with its own message is in
tests/fuzz/make_malformed.py.)

usage: test_loader.py REPVIT_INFER SHARED_DIR
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fuzz"))
from make_malformed import layout, pack, read_st  # noqa: E402

INFER, SHARED = sys.argv[1], sys.argv[2]
GOLDEN = os.path.join(SHARED, "golden")
TMP = tempfile.mkdtemp(prefix="rv-loader-")
failures = []


def serialize(tensors, meta):
    header, data = layout(tensors, meta)
    return pack(json.dumps(header).encode(), data)


def run(blob, name):
    path = os.path.join(TMP, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    p = subprocess.run([INFER, "--model", path, "--info"], capture_output=True, text=True, errors="replace")
    return path, p






SRC = os.path.join(GOLDEN, "m0_9-n-nc80.safetensors")
base_t, base_m = read_st(SRC)
good = serialize(base_t, base_m)

# ---- valid files: F16 as given, and F32 --------------------------------------
path, p = run(good, "valid-f16")
info = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)
# spec figures: m0_9-n has 6,561,504 elements; 8.6 G MACs at 640x640
if (p.returncode != 0 or info.get("variant") != "m0_9" or info.get("scale") != "n"
        or info.get("nc") != "80" or info.get("params") != "6561504"
        or info.get("names", "").split(", ")[:2] != ["class0", "class1"]
        or abs(float(info.get("macs", 0)) / 1e9 - 8.6) > 0.05):
    failures.append(f"valid-f16: exit {p.returncode}, info {info}, stderr {p.stderr!r}")
else:
    print(f"ok   valid-f16: params {info['params']}, macs {float(info['macs']) / 1e9:.2f} G")

f32 = {k: ["F32", s, np.frombuffer(raw, "<f2").astype("<f4").tobytes()]
       for k, (d, s, raw) in base_t.items()}
f32_path = os.path.join(TMP, "valid-f32.safetensors")
with open(f32_path, "wb") as f:
    f.write(serialize(f32, base_m))
out = os.path.join(TMP, "f32-out.npy")
p = subprocess.run([INFER, "--model", f32_path, "--input-npy",
                    os.path.join(GOLDEN, "m0_9-n-nc80.input-128x160.npy"),
                    "--output-npy", out], capture_output=True, text=True, errors="replace")
ref = np.load(os.path.join(GOLDEN, "m0_9-n-nc80.output-128x160.npy"))
if p.returncode != 0 or np.abs(np.load(out) - ref).max() > 1e-2 \
        or np.abs(np.load(out)[:, 4:] - ref[:, 4:]).max() > 1e-4:
    failures.append(f"valid-f32: exit {p.returncode} {p.stderr!r}, or output differs from the golden one")
else:
    print("ok   valid-f32: output matches the golden one")

# The malformed-file table (each case with its message) is tests/fuzz/make_malformed.py.
n = struct.unpack("<Q", good[:8])[0]

p = subprocess.run([INFER, "--model", os.path.join(TMP, "does-not-exist.safetensors"), "--info"],
                   capture_output=True, text=True, errors="replace")
if p.returncode <= 0 or "does-not-exist.safetensors: cannot open" not in p.stderr:
    failures.append(f"missing-file: exit {p.returncode}, {p.stderr!r}")

# ---- random corruption of the header: errors, never a crash ---------------------
rng = random.Random(1)
header = bytearray(good[8:8 + n])
for i in range(60):
    h = bytearray(header)
    for _ in range(rng.randint(1, 4)):
        h[rng.randrange(len(h))] = rng.choice(b'{}[]",:0123456789-eE.\\u ' + bytes([rng.randrange(256)]))
    path, p = run(good[:8] + bytes(h) + good[8 + n:], "fuzz")
    if p.returncode not in (0, 1) or "Sanitizer" in p.stderr \
            or (p.returncode == 1 and not p.stderr.startswith("repvit-infer: ")):
        failures.append(f"fuzz case {i}: exit {p.returncode}, {p.stderr[-300:]!r}")

for f in failures:
    print("FAIL", f)
sys.exit(1 if failures else 0)
