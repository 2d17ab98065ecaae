#!/usr/bin/env python3
"""Peer of `npm run bench -- forward`: Hugging Face `transformers` on the CPU (torch), the same checkpoint directory,
the same token ids and batch shape as gauge-transport's candle forward pass. Prints JSON.

    python3 packages/research/peers/forward_transformers.py <model-dir> --batch 4 --seq 128 --reps 5 --threads 2 --seed 1
"""
import argparse
import json
import time

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--batch", type=int, default=4)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--reps", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--ids", help="a .npy of uint32 ids [batch*seq] (the exact ids the candle side ran)")
p.add_argument("--logits-out", help="writes the last position's logits [batch, vocab] as float32 .npy here")
a = p.parse_args()

torch.set_num_threads(a.threads)
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
ids = torch.from_numpy(np.load(a.ids).astype(np.int64).reshape(a.batch, a.seq))
times = []
with torch.inference_mode():
    model(ids)  # warm-up
    for _ in range(a.reps):
        t0 = time.perf_counter()
        out = model(ids)
        times.append(time.perf_counter() - t0)
times.sort()
if a.logits_out:
    np.save(a.logits_out, out.logits[:, -1, :].float().numpy())
med = times[len(times) // 2]
print(
    json.dumps(
        {
            "times": times,
            "median": med,
            "tokens_per_s": a.batch * a.seq / med,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
    )
)
