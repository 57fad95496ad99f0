"""safetensors read and write by hand (struct + json), for the interop scripts.

Debian's python3-torch comes without the `safetensors` package; the format is simple enough:
an 8-byte little-endian header length N, N bytes of JSON (tensor name -> dtype, shape,
data_offsets into the data that follows; "__metadata__" -> a string map), padded with spaces
so that the data starts at a multiple of 8, then the tensors' little-endian bytes."""
import json
import struct

import numpy as np

_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4",
           "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (written in the given order, as its dtype)."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks, offset = [], 0
    rev = {v: k for k, v in _DTYPES.items()}
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        code = a.dtype.newbyteorder("<").str if a.dtype.itemsize > 1 else a.dtype.str
        code = {"|i1": "i1", "|u1": "u1", "|b1": "?"}.get(code, code)
        a = a.astype(code)
        raw = a.tobytes()
        header[name] = {"dtype": rev[code], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def load(path):
    """Returns (dict name -> numpy array, metadata dict), checking the layout."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file")
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = buf[8 + n:]
    out, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, t = e["data_offsets"]
        if b != end:
            raise ValueError(f"{path}: tensor {name} is not contiguous")
        end = t
        a = np.frombuffer(data[b:t], dtype=_DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = a.copy()
    if end != len(data):
        raise ValueError(f"{path}: the tensors do not cover the data section")
    return out, meta
