#!/usr/bin/env python3
"""The sgemm roofline of `npm run bench -- collect`: numpy's float32 matmul (its BLAS) on the GEMM shapes of a
forward pass, `[tokens, k] @ [k, n]` for each `(k, n)` given, best of `--reps` after a warm-up, with a given thread
count. Prints JSON: GFLOP/s per shape and their FLOP-weighted mean.

    python3 packages/research/peers/sgemm_roofline.py --m 2048 --shapes 576x1536,1536x576,576x576 --threads 2
"""
import argparse
import json
import os
import time

p = argparse.ArgumentParser()
p.add_argument("--m", type=int, default=2048)
p.add_argument("--shapes", default="576x1536,1536x576,576x576,576x192")
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=os.cpu_count())
a = p.parse_args()
# The BLAS reads its thread count when numpy loads it.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(a.threads)

import numpy as np  # noqa: E402

rng = np.random.default_rng(0)
rows = []
for shape in a.shapes.split(","):
    k, n = (int(v) for v in shape.split("x"))
    x = rng.standard_normal((a.m, k), dtype=np.float32)
    w = rng.standard_normal((k, n), dtype=np.float32)
    x @ w  # warm-up
    best = float("inf")
    for _ in range(a.reps):
        t0 = time.perf_counter()
        x @ w
        best = min(best, time.perf_counter() - t0)
    rows.append({"m": a.m, "k": k, "n": n, "seconds": best, "gflops": 2 * a.m * k * n / best / 1e9})
flops = sum(2 * r["m"] * r["k"] * r["n"] for r in rows)
print(
    json.dumps(
        {
            "numpy": np.__version__,
            "threads": a.threads,
            "shapes": rows,
            "gflops": flops / sum(r["seconds"] for r in rows) / 1e9,
        }
    )
)
