#!/usr/bin/python3
"""Malformed weight files, each with the error the loader must give.

Two bases: a tiny file of valid safetensors format (three small tensors and
the model metadata, so it only fails at the model level) for the format rules,
and the upstream golden model for the model rules (metadata, tensors, values).

usage: make_malformed.py GOLDEN_MODEL OUT_DIR    writes OUT_DIR/<name>.safetensors
                                                 and OUT_DIR/expected.tsv
       make_malformed.py --corpus OUT_DIR [GOLDEN_MODEL]
                                                 writes the small fuzz seeds

cases(golden) yields (name, file bytes, expected error substring, memory
checked); the substring is searched in repvit-infer's message.
"""
import json
import os
import struct
import sys

import numpy as np

MAX_HEADER = 100 << 20

TINY_META = {
    "arch": "repvit-yolo11", "variant": "m0_9", "scale": "n", "nc": "2",
    "names": '["cat", "dog"]', "bn_eps": "0.001", "imgsz": "640",
}
# name: (dtype, shape, values)
TINY = {
    "a": ("F32", [2, 3], np.arange(6, dtype="<f4")),
    "b": ("F16", [4], np.array([0.5, -1, 2, 6e-8], dtype="<f2")),   # a subnormal
    "c": ("F32", [1] * 7 + [2], np.array([3, 4], dtype="<f4")),     # 8 dims
}


def pack(header_text, data):
    """A file from the raw header bytes, padded with spaces to 8 bytes."""
    header_text += b" " * (-len(header_text) % 8)
    return struct.pack("<Q", len(header_text)) + header_text + data


def layout(tensors, meta):
    """Header dict (offsets contiguous, in order) and data of {name: (dtype, shape, raw bytes)}."""
    header, off, chunks = {}, 0, []
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        chunks.append(raw)
    return header, b"".join(chunks)


def tiny_tensors():
    return {k: (d, list(s), v.tobytes()) for k, (d, s, v) in TINY.items()}


def tiny(mutate=None, text=None):
    """The tiny file; mutate(header, data) may edit the header dict and return
    new data; text(header bytes) may then edit the JSON text."""
    header, data = layout(tiny_tensors(), dict(TINY_META))
    if mutate:
        data = mutate(header, data)
    raw = json.dumps(header).encode()
    if text:
        raw = text(raw)
    return pack(raw, data)


def replace_once(old, new):
    def edit(raw):
        assert old in raw, old
        return raw.replace(old, new, 1)
    return edit


def set_entry(name, **fields):
    def mutate(h, d):
        h[name].update(fields)
        return d
    return mutate


def read_st(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__")
    data = buf[8 + n:]
    tensors = {k: (v["dtype"], list(v["shape"]), data[v["data_offsets"][0]:v["data_offsets"][1]])
               for k, v in header.items()}
    return tensors, meta


def format_cases():
    good = tiny()
    hlen = struct.unpack("<Q", good[:8])[0]
    body, data = good[8:8 + hlen], good[8 + hlen:]
    yield "tiny-valid-format", good, "metadata variant m0_9 does not match the tensors", False

    # ---- container: length prefix and header bounds
    yield "empty", b"", "too short", False
    yield "seven-bytes", good[:7], "too short", False
    yield "header-len-0", struct.pack("<Q", 0) + good[8:], "out of range", False
    yield "header-len-1", struct.pack("<Q", 1) + good[8:], "out of range", False
    yield "header-len-over-100mb", struct.pack("<Q", MAX_HEADER + 1) + good[8:], "out of range", True
    yield "header-len-2^64-1", b"\xff" * 8 + good[8:], "out of range", True
    yield "header-past-eof", struct.pack("<Q", len(good)) + good[8:], "runs past the end of the file", True
    yield "header-len-2-past-eof", struct.pack("<Q", 2) + b"{", "runs past the end of the file", False
    yield "header-not-object", good[:8] + b"[" + good[9:], "does not start with '{'", False
    yield "header-leading-space", good[:8] + b" " + body[:-1] + data, "does not start with '{'", False
    yield "header-empty-object", pack(b"{}", b""), "missing __metadata__", False

    # ---- JSON syntax and text
    yield "json-truncated", good[:8] + body.rstrip()[:-1] + b" " * (hlen - len(body.rstrip()) + 1) + data, \
        "malformed JSON header", False
    yield "json-bad-token", tiny(text=replace_once(b'"dtype":', b'"dtype";')), "expected ':'", False
    yield "json-unterminated-string", pack(b'{"a": {"dtype": "F32', b""), "unterminated string", False
    yield "json-bad-escape", tiny(text=replace_once(b'"F32"', b'"\\x32"')), "bad escape", False
    yield "json-bad-u-escape", tiny(text=replace_once(b'"cat', b'"\\u00G0')), "bad \\u escape", False
    yield "json-lone-surrogate", tiny(text=replace_once(b'"cat', b'"\\ud800')), "bad \\u escape", False
    yield "json-low-surrogate-first", tiny(text=replace_once(b'"a"', b'"\\udc00"')), "bad \\u escape", False
    yield "json-nul-escape", tiny(text=replace_once(b'"a"', b'"a\\u0000"')), "bad \\u escape", False
    yield "json-control-char", tiny(text=replace_once(b'"a"', b'"a\x01"')), "control character", False
    yield "json-invalid-utf8", tiny(text=replace_once(b'"a"', b'"a\xff"')), "invalid UTF-8", False
    yield "json-overlong-utf8", tiny(text=replace_once(b'"a"', b'"\xc0\xaf"')), "invalid UTF-8", False
    yield "json-utf8-surrogate", tiny(text=replace_once(b'"a"', b'"\xed\xa0\x80"')), "invalid UTF-8", False
    yield "json-utf8-above-10ffff", tiny(text=replace_once(b'"a"', b'"\xf4\x90\x80\x80"')), "invalid UTF-8", False
    yield "json-truncated-utf8", tiny(text=replace_once(b'"a"', b'"a\xe2\x82"')), "invalid UTF-8", False
    yield "json-utf8-outside-string", tiny(text=replace_once(b'"F16"', b'\xc3\xa9')), "unexpected character", \
        False
    yield "json-trailing", tiny(text=lambda t: t + b"}"), "trailing characters", False
    yield "json-duplicate-key", tiny(text=replace_once(b'"b":', b'"a":')), "duplicate key \"a\"", False
    yield "json-duplicate-metadata-key", tiny(text=replace_once(b'"scale"', b'"variant"')), \
        "duplicate key \"variant\"", False
    yield "json-leading-zero", tiny(text=replace_once(b'[2, 3]', b'[02, 3]')), "expected ',' or ']'", False
    yield "json-deep-nesting", pack(b'{"x":' + b"[" * 40 + b"]" * 40 + b"}", b""), "nesting deeper", False
    yield "json-single-quotes", tiny(text=replace_once(b'"F16"', b"'F16'")), "unexpected character", False
    yield "json-nan-literal", tiny(text=replace_once(b'[2, 3]', b'[NaN, 3]')), "unexpected character", False

    # ---- data_offsets: contiguous from 0, no holes, overlaps or trailing bytes
    def overlap(h, d):
        h["b"]["data_offsets"] = [16, 24]
        return d
    yield "offsets-overlap", tiny(overlap), "overlap another tensor", False

    def gap(h, d):
        h["c"]["data_offsets"] = [o + 4 for o in h["c"]["data_offsets"]]
        return d[:32] + b"\0" * 4 + d[32:]
    yield "offsets-gap", tiny(gap), "leave a gap", False

    def not_from_zero(h, d):
        for k in "abc":
            h[k]["data_offsets"] = [o + 8 for o in h[k]["data_offsets"]]
        return b"\0" * 8 + d
    yield "offsets-not-from-zero", tiny(not_from_zero), "expected to begin at 0", False
    yield "offsets-reversed", tiny(set_entry("a", data_offsets=[24, 0])), "ending before they begin", False
    yield "offsets-past-end", tiny(lambda h, d: d[:-4]), "run past the end of the data", False
    yield "offsets-claim-2^42", tiny(set_entry("c", shape=[1 << 40], data_offsets=[32, 32 + (1 << 42)])), \
        "run past the end of the data", True
    yield "trailing-bytes", good + b"\0" * 8, "8 bytes after the last tensor", False
    yield "offsets-negative", tiny(set_entry("a", data_offsets=[-24, 0])), "header entry must be", False
    yield "offsets-float", tiny(set_entry("a", data_offsets=[0.0, 24])), "header entry must be", False
    yield "offsets-exponent", tiny(set_entry("a", data_offsets=[0, 2.4e1])), "header entry must be", False
    yield "offsets-three", tiny(set_entry("a", data_offsets=[0, 12, 24])), "header entry must be", False
    yield "offsets-2^64", tiny(set_entry("a", data_offsets=[0, 1 << 64])), "header entry must be", False
    yield "offsets-strings", tiny(set_entry("a", data_offsets=["0", "24"])), "header entry must be", False

    # ---- entries: dtype, shape
    yield "dtype-unknown", tiny(set_entry("a", dtype="BF16")), "unsupported dtype BF16", False
    yield "dtype-lowercase", tiny(set_entry("a", dtype="f32")), "unsupported dtype f32", False
    yield "dtype-not-string", tiny(set_entry("a", dtype=4)), "header entry must be", False
    yield "shape-size-mismatch", tiny(set_entry("a", shape=[2, 2])), "need 16 bytes but data_offsets span 24", False
    yield "shape-dtype-mismatch", tiny(set_entry("b", dtype="F32")), "need 16 bytes but data_offsets span 8", False
    yield "shape-overflow", tiny(set_entry("a", shape=[1 << 40, 1 << 40, 1 << 40])), "need more than", True
    # the product wraps modulo 2^64 to exactly the 24 bytes of the span
    wrap = [6, (1 << 31) + 1, (1 << 31) - 1, (1 << 31) + 1, (1 << 31) - 1]
    yield "shape-overflow-to-span", tiny(set_entry("a", shape=wrap)), "need more than", True
    yield "shape-9-dims", tiny(set_entry("c", shape=[1] * 8 + [2])), "has 9 dimensions (at most 8)", False
    yield "shape-negative", tiny(set_entry("a", shape=[-2, -3])), "non-negative integers", False
    yield "shape-above-2^53", tiny(set_entry("a", shape=[(1 << 53) + 1, 0])), "up to 2^53", False
    yield "shape-float", tiny(set_entry("a", shape=[2.0, 3])), "non-negative integers", False
    yield "shape-not-list", tiny(set_entry("a", shape=6)), "header entry must be", False
    yield "entry-extra-field", tiny(set_entry("a", extra=1)), "header entry must be", False

    def drop_field(h, d):
        del h["a"]["shape"]
        return d
    yield "entry-missing-field", tiny(drop_field), "header entry must be", False
    yield "entry-not-object", pack(b'{"a": [1, 2, 3]}', b""), "header entry must be", False
    yield "metadata-not-object", tiny(text=replace_once(b'"__metadata__": {', b'"__metadata__": 1, "z": {')), \
        "__metadata__ must be an object", False
    yield "metadata-not-strings", tiny(lambda h, d: (h["__metadata__"].update(nc=2), d)[1]), \
        "object of string values", False


def model_cases(golden):
    base_t, base_m = read_st(golden)

    def build(tensors=None, meta="same"):
        header, data = layout(tensors if tensors is not None else base_t, base_m if meta == "same" else meta)
        return pack(json.dumps(header).encode(), data)

    def tensors_with(**changes):
        t = dict(base_t)
        for k, v in changes.items():
            if v is None:
                del t[k]
            else:
                t[k] = v
        return t

    def meta_with(**changes):
        m = dict(base_m)
        for k, v in changes.items():
            if v is None:
                del m[k]
            else:
                m[k] = v
        return m

    def poke(name, index, value, dtype="F16"):
        """The tensor with one value changed, stored as dtype (F16 or F32)."""
        dt, shape, raw = base_t[name]
        arr = np.frombuffer(raw, "<f2").astype("<f2" if dtype == "F16" else "<f4")
        arr[index] = value
        return tensors_with(**{name: (dtype, shape, arr.tobytes())})

    def retype(tensors, name, index, value):
        """tensors with name converted to F32 and one value changed."""
        dt, shape, raw = tensors[name]
        arr = np.frombuffer(raw, "<f2").astype("<f4")
        arr[index] = value
        return {**tensors, name: ("F32", shape, arr.tobytes())}

    yield "model-missing-metadata", build(meta=None), "missing __metadata__", False
    yield "model-missing-tensor", build(tensors_with(**{"model.15.cv2.0.2.bias": None})), \
        "missing tensor model.15.cv2.0.2.bias", False
    yield "model-unexpected-tensor", build(tensors_with(**{"model.99.foo": ("F16", [2], b"\0" * 4)})), \
        "unexpected tensor model.99.foo", False
    w9 = base_t["model.9.conv.weight"]
    yield "model-wrong-shape", build(tensors_with(**{"model.9.conv.weight": ("F16", [64, 64, 1, 1],
                                                                              w9[2][:64 * 64 * 2])})), \
        "tensor model.9.conv.weight has shape [64, 64, 1, 1], expected [64, 64, 3, 3]", False
    yield "model-nan-weight", build(poke("model.12.conv.weight", 7, np.nan)), \
        "tensor model.12.conv.weight has a non-finite value at element 7", False
    yield "model-inf-bias", build(poke("model.2.cv1.bn.bias", 3, np.inf)), \
        "tensor model.2.cv1.bn.bias has a non-finite value at element 3", False
    yield "model-f32-nan", build(poke("model.9.conv.weight", 4, np.nan, "F32")), \
        "tensor model.9.conv.weight has a non-finite value at element 4", False
    yield "model-f32-inf", build(poke("model.5.cv1.bn.weight", 1, -np.inf, "F32")), \
        "tensor model.5.cv1.bn.weight has a non-finite value at element 1", False
    # finite in the file, but gamma / sqrt(var + eps) overflows a float when folded
    huge = retype(retype(base_t, "model.9.bn.weight", 0, 3e38), "model.9.bn.running_var", 0, 0.0)
    yield "model-bn-fold-overflow", build(huge), \
        "tensors model.9.bn.* folded into the convolution give a non-finite", False
    # names and shapes are checked before any value: the NaN is never reached
    yield "model-unexpected-before-nan", build(tensors_with(**{
        "model.12.conv.weight": poke("model.12.conv.weight", 7, np.nan)["model.12.conv.weight"],
        "zzz.extra": ("F16", [2], b"\0" * 4)})), "unexpected tensor zzz.extra", False
    # a block's tensor missing is named as such, not blamed on the variant
    yield "model-missing-block-tensor", \
        build(tensors_with(**{"model.0.features.5.channel_mixer.m.0.c.weight": None})), \
        "missing tensor model.0.features.5.channel_mixer.m.0.c.weight", False
    # names echoed in messages are escaped: no forged lines, no invisible names
    yield "model-tensor-name-newline", \
        build(tensors_with(**{"x\nrepvit-infer: model OK": ("F16", [2], b"\0" * 4)})), \
        "unexpected tensor x\\nrepvit-infer: model OK", False
    yield "model-tensor-name-empty", build(tensors_with(**{"": ("F16", [2], b"\0" * 4)})), \
        'unexpected tensor ""', False
    yield "model-tensor-name-escapes", build(tensors_with(**{"a\x7f\\\t\u00e9": ("F16", [2], b"\0" * 4)})), \
        "unexpected tensor a\\x7f\\\\\\t\u00e9", False
    yield "model-negative-var", build(poke("model.5.cv1.bn.running_var", 0, -1.0)), \
        "model.5.cv1.bn.running_var has a negative value", False
    yield "model-dfl-not-arange", build(poke("model.15.dfl.conv.weight", 3, 2.0)), \
        "model.15.dfl.conv.weight must be 0 .. 15", False
    yield "model-metadata-no-nc", build(meta=meta_with(nc=None)), "missing metadata nc", False
    yield "model-metadata-arch", build(meta=meta_with(arch="yolo11")), "metadata arch is 'yolo11'", False
    yield "model-metadata-variant", build(meta=meta_with(variant="m3_0")), "metadata variant 'm3_0' is not one of", \
        False
    yield "model-metadata-scale", build(meta=meta_with(scale="xl")), "metadata scale 'xl' is not one of", False
    yield "model-metadata-nc-not-int", build(meta=meta_with(nc="8O")), "metadata nc '8O'", False
    yield "model-metadata-nc-zero", build(meta=meta_with(nc="0")), "metadata nc '0'", False
    yield "model-metadata-names-json", build(meta=meta_with(names='["a", ')), "metadata names is not valid JSON", \
        False
    yield "model-metadata-names-not-strings", build(meta=meta_with(names=json.dumps(list(range(80))))), \
        "metadata names must be a JSON list of strings", False
    yield "model-metadata-names-count", build(meta=meta_with(names='["a", "b", "c"]')), \
        "metadata names has 3 entries but nc is 80", False
    yield "model-metadata-bn-eps", build(meta=meta_with(bn_eps="abc")), "metadata bn_eps 'abc'", False
    yield "model-metadata-bn-eps-nan", build(meta=meta_with(bn_eps="nan")), "metadata bn_eps 'nan'", False
    # a double > 0 that is 0 as the float the folding uses
    yield "model-metadata-bn-eps-float-zero", build(meta=meta_with(bn_eps="1e-50")), \
        "metadata bn_eps '1e-50' is not a number in (0, 1) as a float", False
    yield "model-metadata-imgsz", build(meta=meta_with(imgsz="650")), "metadata imgsz '650'", False
    yield "model-metadata-imgsz-over-input-limit", build(meta=meta_with(imgsz="8192")), \
        "metadata imgsz '8192' is not a multiple of 32 in 32 .. 4096 (the largest network input)", False
    names = [f"class{i}" for i in range(80)]
    for label, bad, shown in (("newline", "a\nb", "a\\nb"), ("bell", "a\x07", "a\\x07"),
                              ("c1-control", "a\x85", "a\\u0085"), ("empty", "", '""')):
        yield f"model-metadata-name-{label}", build(meta=meta_with(names=json.dumps([bad] + names[1:]))), \
            f"metadata names: class 0, {shown}, is empty or has a control character", False
    yield "model-metadata-variant-escaped", build(meta=meta_with(variant="m0_9\nrepvit-infer: model OK")), \
        "metadata variant 'm0_9\\nrepvit-infer: model OK' is not one of", False
    yield "model-inconsistent-nc", build(meta=meta_with(nc="20", names=json.dumps([f"c{i}" for i in range(20)]))), \
        "metadata nc is 20 but tensor model.15.cv3.0.2.bias has 80 classes", False
    yield "model-inconsistent-variant", build(meta=meta_with(variant="m1_0")), \
        "metadata variant m1_0 does not match the tensors", False
    yield "model-inconsistent-variant-blocks", build(meta=meta_with(variant="m1_1")), \
        "metadata variant m1_1 does not match the tensors", False
    yield "model-inconsistent-scale", build(meta=meta_with(scale="s")), \
        "metadata scale s does not match the tensors", False
    yield "model-inconsistent-depth", build(meta=meta_with(scale="l")), \
        "metadata scale l does not match the tensors", False


def cases(golden):
    yield from format_cases()
    yield from model_cases(golden)


def corpus(out_dir, golden=None):
    """Small seeds: the tiny file and a few of its variants, and (given the
    golden model) its header with the first 2 KiB of data."""
    os.makedirs(out_dir, exist_ok=True)
    keep = {"tiny-valid-format", "offsets-overlap", "shape-9-dims", "json-duplicate-key",
            "json-lone-surrogate", "header-empty-object"}
    seeds = [(n, b) for n, b, _, _ in format_cases() if n in keep]
    if golden:
        with open(golden, "rb") as f:
            seeds.append(("model-truncated", f.read(8 + struct.unpack("<Q", f.read(8))[0] + 2048)))
    for name, blob in seeds:
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(blob)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "--corpus":
        corpus(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    golden, out_dir = sys.argv[1:]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "expected.tsv"), "w") as table:
        for name, blob, expected, _ in cases(golden):
            with open(os.path.join(out_dir, name + ".safetensors"), "wb") as f:
                f.write(blob)
            table.write(f"{name}\t{expected}\n")


if __name__ == "__main__":
    main()
