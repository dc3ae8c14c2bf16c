#!/usr/bin/python3
"""Minimal safetensors reader/writer (F32, F16; `__metadata__` of strings), numpy only.

Format: 8-byte little-endian header length, JSON header
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor bytes.
"""
import json
import struct

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class SafetensorsError(ValueError):
    pass


def load(path):
    """Returns ({name: np.ndarray}, {metadata key: str})."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise SafetensorsError(f"{path}: too short for a safetensors file")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > len(data) - 8:
        raise SafetensorsError(f"{path}: header length {hlen} exceeds the file size {len(data)}")
    try:
        header = json.loads(data[8:8 + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    if not all(isinstance(v, str) for v in meta.values()):
        raise SafetensorsError(f"{path}: __metadata__ values must be strings")
    body = memoryview(data)[8 + hlen:]
    tensors = {}
    for name, info in header.items():
        try:
            dt = DTYPES[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise SafetensorsError(f"{path}: tensor {name!r}: bad or unsupported entry {info!r} ({e})") from None
        n = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(body) or end - begin != n * dt.itemsize:
            raise SafetensorsError(f"{path}: tensor {name!r}: data offsets [{begin}, {end}] do not match "
                                   f"shape {list(shape)} {info['dtype']} (data size {len(body)})")
        tensors[name] = np.frombuffer(body[begin:end], dtype=dt).reshape(shape).copy()
    return tensors, dict(meta)


def save(path, tensors, metadata=None):
    """tensors: {name: array-like of float32/float16}; metadata: {str: str}."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype.newbyteorder("<") not in DTYPE_NAMES:
            raise SafetensorsError(f"tensor {name!r}: dtype {a.dtype} is not F32 or F16")
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        b = a.tobytes()
        header[name] = {"dtype": DTYPE_NAMES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise SafetensorsError("metadata keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # keeps the tensor data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
