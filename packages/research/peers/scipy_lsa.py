#!/usr/bin/env python3
"""Peer for `npm run bench -- assignment`: times scipy.optimize.linear_sum_assignment(maximize=True) on .npy
matrices written by the benchmark, so both solvers see the same bytes.

Usage: scipy_lsa.py --reps 3 FILE.npy [FILE.npy ...]
Prints one JSON object: {"scipy": version, "numpy": version, "results": {FILE: {"times": [...], "objective": x}}}.
"""
import argparse
import json
import time

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()
    results = {}
    for f in args.files:
        m = np.load(f)
        times = []
        objective = None
        for _ in range(args.reps):
            t0 = time.perf_counter()
            rows, cols = linear_sum_assignment(m, maximize=True)
            times.append(time.perf_counter() - t0)
            objective = float(m[rows, cols].astype(np.float64).sum())
        results[f] = {"times": times, "objective": objective}
    print(json.dumps({"scipy": scipy.__version__, "numpy": np.__version__, "results": results}))


if __name__ == "__main__":
    main()
