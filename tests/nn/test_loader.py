#!/usr/bin/python3
"""Weight-file validation: malformed safetensors files (built here from the
upstream golden file) must each fail with their specific message, naming the
file; valid F16 and F32 versions must load with the spec's figures; random
header corruption must never crash.

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

INFER, SHARED = sys.argv[1], sys.argv[2]
GOLDEN = os.path.join(SHARED, "golden")
TMP = tempfile.mkdtemp(prefix="rv-loader-")
failures = []


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__")
    data = buf[8 + n:]
    tensors = {k: [v["dtype"], list(v["shape"]), data[v["data_offsets"][0]:v["data_offsets"][1]]]
               for k, v in header.items()}
    return tensors, meta


def raw_file(header_obj, data):
    text = json.dumps(header_obj).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def build(tensors, meta):
    """Contiguous offsets in dict order; meta None leaves __metadata__ out."""
    header, off, chunks = {}, 0, []
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        chunks.append(raw)
    return header, b"".join(chunks)


def run(blob, name):
    path = os.path.join(TMP, name + ".safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    p = subprocess.run([INFER, "--model", path, "--info"], capture_output=True, text=True, errors="replace")
    return path, p


def expect_error(name, blob, substring):
    path, p = run(blob, name)
    msg = p.stderr.strip()
    if p.returncode <= 0 or substring not in msg or path not in msg:
        failures.append(f"{name}: exit {p.returncode}, expected an error with "
                        f"'{substring}' naming the file, got: {msg!r}")
    else:
        print(f"ok   {name}: {msg[len(path) + len('repvit-infer: ') + 2:][:100]}")


def with_header(mutate, tensors=None, meta=None):
    t, m = read_st(SRC)
    header, data = build(tensors or t, meta if meta is not None else m)
    data = mutate(header, data)
    return raw_file(header, data)


SRC = os.path.join(GOLDEN, "m0_9-n-nc80.safetensors")
base_t, base_m = read_st(SRC)
good = raw_file(*build(base_t, base_m))

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
    f.write(raw_file(*build(f32, base_m)))
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

# ---- container -----------------------------------------------------------------
expect_error("empty", b"", "too short")
expect_error("truncated", good[:-100], "run past the end of the data")
expect_error("header-past-eof", struct.pack("<Q", len(good)) + good[8:], "runs past the end of the file")
expect_error("header-huge", struct.pack("<Q", 1 << 40) + good[8:], "out of range")
expect_error("header-tiny", struct.pack("<Q", 1) + good[8:], "out of range")
n = struct.unpack("<Q", good[:8])[0]
expect_error("header-not-object", good[:8] + b"[" + good[9:], "does not start with '{'")
expect_error("json-truncated", good[:8] + good[8:8 + n].rstrip()[:-1] + b" " + good[8 + n:],
             "malformed JSON header")
expect_error("json-bad-token", good[:8] + good[8:8 + n].replace(b'"dtype":', b'"dtype";', 1) + good[8 + n:],
             "malformed JSON header")
expect_error("json-bad-escape", good[:8] + good[8:8 + n].replace(b'"F16"', b'"\\x16"', 1) + good[8 + n:],
             "bad escape")
expect_error("json-trailing", good[:8] + good[8:8 + n].rstrip() + b"}" + b" " * (n - len(good[8:8 + n].rstrip()) - 1)
             + good[8 + n:], "trailing characters")
dup = good[8:8 + n].replace(b'"model.0.features.0.0.bn.bias"', b'"model.0.features.0.0.bn.weight"', 1)
many = b'{"a":[' + b"0," * (1 << 20) + b"0]}"
expect_error("json-too-many-values", struct.pack("<Q", len(many)) + many, "more than 1048576 values")
expect_error("json-duplicate-key", good[:8] + dup + good[8 + n:], "duplicate key")

first, second = "model.0.features.0.0.bn.weight", "model.0.features.0.0.bn.bias"


def overlap(h, d):
    h[second]["data_offsets"] = list(h[first]["data_offsets"])
    return d


def reversed_offsets(h, d):
    h[first]["data_offsets"] = h[first]["data_offsets"][::-1]
    return d


def gap(h, d):
    last = max((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])
    h[last]["data_offsets"] = [o + 2 for o in h[last]["data_offsets"]]
    return d + b"\0\0"


def set_entry(name, **kw):
    def mutate(h, d):
        h[name].update(kw)
        return d
    return mutate


expect_error("offsets-overlap", with_header(overlap), "overlap another tensor")
expect_error("offsets-reversed", with_header(reversed_offsets), "ending before they begin")
expect_error("offsets-gap", with_header(gap), "leave a gap")
expect_error("trailing-bytes", good + b"\0" * 8, "8 bytes after the last tensor")
expect_error("dtype-unknown", with_header(set_entry(first, dtype="BF16")), "unsupported dtype BF16")
expect_error("shape-size-mismatch", with_header(set_entry(first, shape=[25])), "data_offsets span")
expect_error("shape-overflow", with_header(set_entry(first, shape=[1 << 40, 1 << 40, 1 << 40])),
             "data_offsets span")
expect_error("shape-too-many-dims", with_header(set_entry(first, shape=[1] * 8 + [24])), "dimensions")
expect_error("shape-negative", with_header(set_entry(first, shape=[-24])), "non-negative integers")
expect_error("entry-extra-field", with_header(set_entry(first, extra=1)), "header entry must be")

# ---- tensors -------------------------------------------------------------------


def tensors_with(**changes):
    t = {k: list(v) for k, v in base_t.items()}
    for k, v in changes.items():
        k = k.replace("__", ".")
        if v is None:
            del t[k]
        else:
            t[k] = v
    return t


expect_error("missing-tensor", raw_file(*build(tensors_with(**{"model__15__cv2__0__2__bias": None}), base_m)),
             "missing tensor model.15.cv2.0.2.bias")
expect_error("unexpected-tensor",
             raw_file(*build(tensors_with(**{"model__99__foo": ["F16", [2], b"\0" * 4]}), base_m)),
             "unexpected tensor model.99.foo")
w9 = base_t["model.9.conv.weight"]
expect_error("wrong-shape",
             raw_file(*build(tensors_with(**{"model__9__conv__weight": ["F16", [64, 64, 1, 1], w9[2][:64 * 64 * 2]]}),
                             base_m)),
             "tensor model.9.conv.weight has shape [64, 64, 1, 1], expected [64, 64, 3, 3]")


def poke(name, index, value, dtype="<f2"):
    arr = np.frombuffer(base_t[name][2], dtype).copy()
    arr[index] = value
    return tensors_with(**{name.replace(".", "__"): [base_t[name][0], base_t[name][1], arr.tobytes()]})


expect_error("nan-value", raw_file(*build(poke("model.12.conv.weight", 7, np.nan), base_m)),
             "tensor model.12.conv.weight has a non-finite value at element 7")
expect_error("inf-value", raw_file(*build(poke("model.2.cv1.bn.bias", 3, np.inf), base_m)),
             "tensor model.2.cv1.bn.bias has a non-finite value")
expect_error("negative-var", raw_file(*build(poke("model.5.cv1.bn.running_var", 0, -1.0), base_m)),
             "model.5.cv1.bn.running_var has a negative value")
expect_error("dfl-not-arange", raw_file(*build(poke("model.15.dfl.conv.weight", 3, 2.0), base_m)),
             "model.15.dfl.conv.weight must be 0 .. 15")

# ---- metadata ------------------------------------------------------------------


def meta_with(**changes):
    m = dict(base_m)
    for k, v in changes.items():
        if v is None:
            del m[k]
        else:
            m[k] = v
    return m


expect_error("metadata-missing", raw_file(*build(base_t, None)), "missing __metadata__")
expect_error("metadata-not-strings", raw_file(*build(base_t, meta_with(nc=80))), "object of string values")
expect_error("metadata-no-nc", raw_file(*build(base_t, meta_with(nc=None))), "missing metadata nc")
expect_error("metadata-arch", raw_file(*build(base_t, meta_with(arch="yolo11"))), "metadata arch is 'yolo11'")
expect_error("metadata-variant-unknown", raw_file(*build(base_t, meta_with(variant="m3_0"))),
             "metadata variant 'm3_0' is not one of")
expect_error("metadata-nc-not-int", raw_file(*build(base_t, meta_with(nc="8O"))), "metadata nc '8O'")
expect_error("metadata-names-json", raw_file(*build(base_t, meta_with(names="[\"a\", "))),
             "metadata names is not valid JSON")
expect_error("metadata-names-count", raw_file(*build(base_t, meta_with(names='["a", "b", "c"]'))),
             "metadata names has 3 entries but nc is 80")
expect_error("metadata-bn-eps", raw_file(*build(base_t, meta_with(bn_eps="abc"))), "metadata bn_eps 'abc'")
expect_error("metadata-imgsz", raw_file(*build(base_t, meta_with(imgsz="650"))), "metadata imgsz '650'")
expect_error("inconsistent-nc",
             raw_file(*build(base_t, meta_with(nc="20", names=json.dumps([f"c{i}" for i in range(20)])))),
             "metadata nc is 20 but tensor model.15.cv3.0.2.bias has 80 classes")
expect_error("inconsistent-variant", raw_file(*build(base_t, meta_with(variant="m1_0"))),
             "metadata variant m1_0 does not match the tensors")
expect_error("inconsistent-variant-blocks", raw_file(*build(base_t, meta_with(variant="m1_1"))),
             "metadata variant m1_1 does not match the tensors")
expect_error("inconsistent-scale", raw_file(*build(base_t, meta_with(scale="s"))),
             "metadata scale s does not match the tensors")
expect_error("inconsistent-scale-depth", raw_file(*build(base_t, meta_with(scale="l"))),
             "metadata scale l does not match the tensors")

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
