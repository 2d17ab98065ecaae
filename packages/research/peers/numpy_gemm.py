#!/usr/bin/env python3
"""Peer of `npm run bench -- moments`: numpy's float32 `x.T @ y` (its BLAS sgemm) on the same [N, d] matrices the
benchmark wrote as .npy, with a given thread count. Also returns a few Pearson correlations computed from that
product, so the benchmark can check both sides computed the same thing. Prints one JSON object.

    python3 packages/research/peers/numpy_gemm.py X.npy Y.npy --reps 1 --threads 2 --pairs 0,0,5,7,...
"""
import argparse
import json
import os
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("x")
p.add_argument("y")
p.add_argument("--reps", type=int, default=1)
p.add_argument("--threads", type=int, default=os.cpu_count())
p.add_argument("--pairs", default="", help="flat list i0,j0,i1,j1,... of correlations to return")
a = p.parse_args()

# The BLAS reads its thread count when numpy loads it.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(a.threads)

import numpy as np  # noqa: E402

x = np.load(a.x)
y = np.load(a.y)
if x.dtype != np.float32 or y.dtype != np.float32 or x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
    sys.exit(f"expected float32 [N, d1] and [N, d2], got {x.dtype} {x.shape} and {y.dtype} {y.shape}")
n = x.shape[0]
_ = x[:512].T @ y[:512]  # warm-up: starts the BLAS threads
times = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    c = x.T @ y
    times.append(time.perf_counter() - t0)

pairs = [int(v) for v in a.pairs.split(",") if v]
corr = []
if pairs:
    mx = x.mean(axis=0, dtype=np.float64)
    my = y.mean(axis=0, dtype=np.float64)
    sx = x.std(axis=0, dtype=np.float64)
    sy = y.std(axis=0, dtype=np.float64)
    for i, j in zip(pairs[0::2], pairs[1::2]):
        cov = float(c[i, j]) / n - mx[i] * my[j]
        corr.append(cov / (sx[i] * sy[j]))

blas = {}
try:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
except Exception:  # older numpy
    pass
print(
    json.dumps(
        {
            "numpy": np.__version__,
            "blas": f"{blas.get('name', '?')} {blas.get('version', '')}".strip(),
            "threads": a.threads,
            "shape": [n, x.shape[1], y.shape[1]],
            "times": times,
            "corr": corr,
        }
    )
)
