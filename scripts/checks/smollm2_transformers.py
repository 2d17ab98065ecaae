#!/usr/bin/env python3
"""Peer of `npm run experiment -- smollm2`: SmolLM2-135M-Instruct's GGUF read by Hugging Face `transformers`
(dequantized to f32), perplexity of the given ids and a greedy continuation. Prints JSON.

    python3 scripts/checks/smollm2_transformers.py <gguf> --text-ids 1,2,3 --prompt-ids 4,5 --max-tokens 24
"""
import argparse
import json
import math
import os

import torch
import transformers
from transformers import AutoModelForCausalLM

p = argparse.ArgumentParser()
p.add_argument("gguf")
p.add_argument("--text-ids", required=True)
p.add_argument("--prompt-ids", required=True)
p.add_argument("--max-tokens", type=int, default=24)
a = p.parse_args()

model = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(a.gguf), gguf_file=os.path.basename(a.gguf), dtype=torch.float32
).eval()
text = torch.tensor([[int(x) for x in a.text_ids.split(",")]])
prompt = torch.tensor([[int(x) for x in a.prompt_ids.split(",")]])
with torch.inference_mode():
    logits = model(text).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    nll = -logp[:-1].gather(1, text[0, 1:, None]).mean().item()
    ids = prompt
    for _ in range(a.max_tokens):
        nxt = model(ids).logits[0, -1].argmax().item()
        ids = torch.cat([ids, torch.tensor([[nxt]])], dim=1)
print(
    json.dumps(
        {
            "perplexity": math.exp(nll),
            "continuation": ids[0, prompt.shape[1] :].tolist(),
            "transformers": transformers.__version__,
        }
    )
)
