#!/usr/bin/env python3
"""Peer of `npm run bench -- collect`: the paired-statistics pass done with Hugging Face `transformers` on the CPU.
Two copies of the checkpoint run on the same ids (`output_hidden_states`, no output head), and at every returned
site the float32 products `x.T @ y` and the sums of x, x², y, y² are added into float64 totals, batch by batch:
the job `collectPairStats` does. Prints JSON; `--corr-out` writes the Pearson correlation at `--corr-site`.

    python3 packages/research/peers/collect_transformers.py <model-dir> --ids ids.npy --seq 256 --batch 8 \
        --reps 3 --threads 2 [--corr-site 5 --corr-out corr.npy]
"""
import argparse
import json
import resource
import time

import numpy as np
import torch
import transformers
from transformers import AutoModel

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--ids", required=True, help="a .npy of ids [tokens] (the exact ids the candle side ran)")
p.add_argument("--seq", type=int, default=256)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--reps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--corr-site", type=int, default=5, help="index into hidden_states (h_i for i < L)")
p.add_argument("--corr-out")
a = p.parse_args()

torch.set_num_threads(a.threads)
models = [AutoModel.from_pretrained(a.model, dtype=torch.float32).eval() for _ in range(2)]
ids = torch.from_numpy(np.load(a.ids).astype(np.int64).reshape(-1, a.seq))


def collect(rows):
    acc = None
    with torch.inference_mode():
        for b0 in range(0, rows.shape[0], a.batch):
            chunk = rows[b0 : b0 + a.batch]
            hx = models[0](chunk, output_hidden_states=True).hidden_states
            hy = models[1](chunk, output_hidden_states=True).hidden_states
            if acc is None:
                d = hx[0].shape[-1]
                acc = [
                    {k: torch.zeros(shape, dtype=torch.float64) for k, shape in
                     [("xy", (d, d)), ("x", d), ("xx", d), ("y", d), ("yy", d)]}
                    for _ in hx
                ]
            for s, (x, y) in enumerate(zip(hx, hy)):
                x, y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
                acc[s]["xy"] += (x.T @ y).double()
                acc[s]["x"] += x.sum(0).double()
                acc[s]["xx"] += (x * x).sum(0).double()
                acc[s]["y"] += y.sum(0).double()
                acc[s]["yy"] += (y * y).sum(0).double()
    return acc


collect(ids[: a.batch])  # warm-up
times = []
for _ in range(a.reps):
    t0 = time.perf_counter()
    acc = collect(ids)
    times.append(time.perf_counter() - t0)
times.sort()
if a.corr_out:
    n = ids.numel()
    s = acc[a.corr_site]
    mx, my = s["x"] / n, s["y"] / n
    sx = (s["xx"] / n - mx * mx).clamp_min(0).sqrt()
    sy = (s["yy"] / n - my * my).clamp_min(0).sqrt()
    corr = (s["xy"] / n - torch.outer(mx, my)) / torch.outer(sx, sy)
    np.save(a.corr_out, corr.float().numpy())
med = times[len(times) // 2]
print(
    json.dumps(
        {
            "times": times,
            "median": med,
            "tokens_per_s": ids.numel() / med,
            "sites": len(acc),
            "threads": torch.get_num_threads(),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
    )
)
