#!/usr/bin/env python3
"""Seed inputs for scripts/fuzz.sh: one small valid file per target, written into fuzz/corpus/<target>/seed-*
(the fuzzer grows the corpus from there). Needs numpy only."""
import json
import struct
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "fuzz" / "corpus"


def safetensors(tensors, metadata=None):
    """Bytes of a safetensors file: tensors is a list of (name, dtype, shape, raw bytes)."""
    header, offset, data = {}, 0, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


d = 8
perm = np.array([3, 1, 0, 2, 7, 5, 4, 6], dtype=np.int64)
sign = np.array([1, -1, 1, 1, -1, 1, -1, 1], dtype=np.int8)
gauge = safetensors(
    [("perm", "I64", [d], perm.tobytes()), ("sign", "I8", [d], sign.tobytes())],
    {"format": "gauge-transport/gauge", "version": "1", "group": "Bd"},
)
put("gauge_file", "bd8", gauge)
put("safetensors_header", "gauge", gauge)
w = np.arange(12, dtype=np.float32).reshape(3, 4)
put("safetensors_header", "f32", safetensors([("w", "F32", [3, 4], w.tobytes()), ("b", "BF16", [2], b"\x80\x3f\x00\x40")]))
for name, arr in [("f32", w), ("i64", np.arange(5, dtype=np.int64)), ("f16", w.astype(np.float16)), ("fortran", np.asfortranarray(w))]:
    path = CORPUS / "npy" / f"seed-{name}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.save(f, arr)
put("sae_config", "standard", json.dumps({"d_in": 4, "d_sae": 2, "hook_name": "blocks.1.hook_resid_post", "architecture": "standard"}).encode())
put("sae_config", "metadata", json.dumps({"d_in": 4, "metadata": {"hook_name": "blocks.0.hook_resid_pre"}}).encode())
put("gguf", "control", (ROOT / "crates" / "gauge-models" / "tests" / "fixtures" / "control_vector" / "control.gguf").read_bytes())
put("npz", "gemma-scope", (ROOT / "crates" / "gauge-core" / "tests" / "fixtures" / "gemma_scope" / "params.npz").read_bytes())
