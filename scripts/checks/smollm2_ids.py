#!/usr/bin/env python3
"""Tokenizes a paragraph of ordinary English and a prompt with SmolLM2-135M-Instruct's own tokenizer (read from its
GGUF metadata by transformers; needs `pip install transformers gguf`), for the candle sanity check:

    python3 scripts/fetch_models.py
    python3 scripts/checks/smollm2_ids.py > /tmp/ids.json
    cargo run --release -p gauge-models --example perplexity -- .cache/models/smollm2-135m-gguf/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/ids.json
    python3 scripts/checks/smollm2_ids.py --decode 504 3575 ...   # to read a greedy continuation
"""
import json
import os
import sys

from transformers import AutoTokenizer

DIR = os.path.join(os.path.dirname(__file__), "..", "..", ".cache", "models", "smollm2-135m-gguf")
TEXT = (
    "The city council met on Tuesday evening to discuss the new budget. After a long debate, the members agreed to "
    "increase funding for public libraries and to repair several roads that had been damaged during the winter."
)
PROMPT = "The capital of France is"

tok = AutoTokenizer.from_pretrained(DIR, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
if len(sys.argv) > 1 and sys.argv[1] == "--decode":
    print(repr(tok.decode([int(x) for x in sys.argv[2:]])))
else:
    print(json.dumps({"text": tok(TEXT)["input_ids"], "prompt": tok(PROMPT)["input_ids"]}))
