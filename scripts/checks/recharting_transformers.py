#!/usr/bin/env python3
"""Independent check of `gauge-transport apply` with Hugging Face transformers.

For each tiny architecture (Llama, Qwen2, GPT-2) this script writes a random checkpoint with generic gains
(`gauge-transport init`); for every further family (Llama 3 and linear RoPE scaling, Mistral, Qwen3, Gemma 2,
Gemma 3, Phi-3, OLMo 2, GPT-NeoX, BERT) it takes the fixture that transformers' own classes built
(`crates/gauge-models/tests/fixtures/tiny-*`, from `scripts/fixtures/families_transformers.py`). It re-charts each
with random gauges (`gauge-transport apply`), loads both directories in `transformers` (CPU, float32) and compares
on fixed token ids:

- the logits (equal within 1e-4 when the gauge is in the model's group),
- every hidden state of `output_hidden_states` (h' = g·h, i.e. h'[..., perm[i]] = sign[i] * h[..., i]).

Gauges outside the group (a Bd gauge on GPT-2, a random rotation is not expressible as a file) are applied with
--force and must change the logits. Needs `pip install torch transformers safetensors`; run from the repository
root after `npm install`:  python3 scripts/checks/recharting_transformers.py [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForCausalLM

CLI = [os.environ.get("NODE", "node"), os.path.join(os.path.dirname(__file__), "..", "..", "dist", "cli.js")]


def cli(*args):
    subprocess.run([*CLI, *args], check=True, stdout=subprocess.DEVNULL)


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "gauge-models", "tests", "fixtures")
# (fixture, gauges): RMSNorm families in Bd, LayerNorm ones in ±Sd and, forced, Bd.
FAMILY_FIXTURES = [
    ("tiny-llama3", ["Bd"]),
    ("tiny-llama-linear", ["Bd"]),
    ("tiny-mistral", ["Bd"]),
    ("tiny-qwen3", ["Bd"]),
    ("tiny-gemma2", ["Bd"]),
    ("tiny-gemma3", ["Bd"]),
    ("tiny-phi3", ["Bd"]),
    ("tiny-olmo2", ["Bd"]),
    ("tiny-gpt-neox", ["±Sd", "Bd"]),
    ("tiny-bert", ["±Sd", "Bd"]),
]
LAYERNORM = {"tiny-gpt2", "tiny-gpt-neox", "tiny-bert"}


def load(path):
    with open(os.path.join(path, "config.json")) as f:
        encoder = json.load(f).get("architectures") == ["BertModel"]
    cls = AutoModel if encoder else AutoModelForCausalLM
    model = cls.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


def run(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    # An encoder without a head (BERT) has no logits; its output is the last hidden state, compared moved by g.
    return getattr(out, "logits", None), out.hidden_states


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        presets = [("tiny", ["Bd", "Sd"]), ("tiny-qwen2", ["Bd"]), ("tiny-gpt2", ["±Sd", "Sd", "Bd"])]
        for preset, groups in presets + FAMILY_FIXTURES:
            if (preset, groups) in presets:
                base = os.path.join(tmp, preset)
                cli("init", "--config", preset, "--seed", "11", "--out", base)
            else:
                base = os.path.join(FIXTURES, preset)
            model = load(base)
            d = model.config.hidden_size
            vocab = model.config.vocab_size
            # 12 positions: past the 3-position windows of the Mistral and Gemma fixtures, within BERT's 16.
            ids = torch.randint(0, vocab, (2, 12), generator=torch.Generator().manual_seed(3))
            logits, hidden = run(model, ids)
            for group in groups:
                gfile = os.path.join(tmp, f"{preset}-{group}.safetensors")
                cli("random-gauge", "--d", str(d), "--seed", "5", "--group", group, "--out", gfile)
                g = load_file(gfile)
                perm, sign = g["perm"].long(), g["sign"].float()
                out_dir = os.path.join(tmp, f"{preset}-{group}")
                in_group = not (group == "Bd" and preset in LAYERNORM)
                cli("apply", base, "--gauge", gfile, "--out", out_dir, *([] if in_group else ["--force"]))
                logits2, hidden2 = run(load(out_dir), ids)
                if logits is None:
                    moved_last = torch.empty_like(hidden[-1])
                    moved_last[..., perm] = hidden[-1] * sign
                    logit_diff = (hidden2[-1] - moved_last).abs().max().item()
                else:
                    logit_diff = (logits2 - logits).abs().max().item()
                # h'[..., perm[i]] = sign[i] * h[..., i], checked on every site transformers returns.
                hidden_diff = 0.0
                for h, h2 in zip(hidden, hidden2):
                    moved = torch.empty_like(h)
                    moved[..., perm] = h * sign
                    hidden_diff = max(hidden_diff, (h2 - moved).abs().max().item())
                rows.append(
                    {
                        "model": preset,
                        "gauge": group,
                        "in_group": in_group,
                        "max_logit_diff": logit_diff,
                        "max_hidden_diff": hidden_diff,
                        "logit_scale": (hidden[-1] if logits is None else logits).abs().max().item(),
                    }
                )
    ok = all(
        (r["max_logit_diff"] < 1e-4 and r["max_hidden_diff"] < 1e-4) if r["in_group"] else (r["max_logit_diff"] > 1e-3)
        for r in rows
    )
    if args.json:
        print(json.dumps({"transformers": __import__("transformers").__version__, "rows": rows, "ok": ok}, indent=2))
    else:
        for r in rows:
            print(
                f"{r['model']:>11} gauge {r['gauge']:>3} ({'in group' if r['in_group'] else 'forced  '}): "
                f"max |logit diff| {r['max_logit_diff']:.2e}, max |h' - g·h| {r['max_hidden_diff']:.2e}"
            )
        print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
