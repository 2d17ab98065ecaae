#!/usr/bin/env python3
"""Peer of `npm run bench -- train`: AdamW training steps of Hugging Face `transformers` with `torch.optim.AdamW` on
the CPU, from the same checkpoint directory, on the same token ids and batch shape as gauge-transport's trainer.
Every step trains on the `[batch, seq]` ids in `--ids` (one sequence repeated, as the trainer draws it from a
corpus of exactly one window), with the mean next-token cross-entropy (`labels = input_ids`), gradient-norm clip,
and the same AdamW hyper-parameters. Prints JSON: per-step seconds and losses, peak RSS.

    python3 packages/research/peers/train_torch.py <model-dir> --ids ids.npy --batch 2 --seq 128 --steps 6 --threads 2
"""
import argparse
import json
import resource
import time

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

p = argparse.ArgumentParser()
p.add_argument("model")
p.add_argument("--ids", required=True, help=".npy of the seq ids of the one training window")
p.add_argument("--batch", type=int, default=2)
p.add_argument("--seq", type=int, default=128)
p.add_argument("--steps", type=int, default=6)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--lr", type=float, default=1e-4)
p.add_argument("--clip", type=float, default=1.0)
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32, attn_implementation="eager")
model.train()
window = torch.from_numpy(np.load(a.ids).astype(np.int64).reshape(1, a.seq))
ids = window.repeat(a.batch, 1)
opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
times, losses = [], []
for _ in range(a.steps):
    t0 = time.perf_counter()
    out = model(input_ids=ids, labels=ids)
    out.loss.backward()
    if a.clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t0)
    losses.append(out.loss.item())
print(
    json.dumps(
        {
            "times": times,
            "losses": losses,
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        }
    )
)
