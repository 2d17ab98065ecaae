#!/usr/bin/env python3
"""Tokenizes the paragraph and the prompt of `smollm2_ids.py` with Gemma 3 270M's own tokenizer (read from its
GGUF metadata by transformers; needs `pip install transformers gguf`), and with `--fixture` writes
`crates/gauge-models/tests/fixtures/gemma3_ids.json`: those ids, the ids of a few short strings for a tokenizer
test (with and without BOS, and their decodes), and the reference numbers of `gemma3_transformers.py` (needs
torch and accelerate too) for them: perplexity of the text, the greedy continuation of the prompt, and the last
position's logits and hidden states for the prompt.

    python3 scripts/fetch_models.py
    python3 scripts/checks/gemma3_ids.py > /tmp/ids.json
    python3 scripts/checks/gemma3_ids.py --fixture             # rewrites the fixture (a few minutes on 2 cores)
    python3 scripts/checks/gemma3_ids.py --decode 9079 236761 ...   # to read a greedy continuation
"""
import json
import os
import subprocess
import sys

from transformers import AutoTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(HERE, "..", "..", ".cache", "models", "gemma3-270m-gguf")
FILE = "gemma-3-270m-q4_k_m.gguf"
OUT = os.path.join(HERE, "..", "..", "crates", "gauge-models", "tests", "fixtures", "gemma3_ids.json")
TEXT = (
    "The city council met on Tuesday evening to discuss the new budget. After a long debate, the members agreed to "
    "increase funding for public libraries and to repair several roads that had been damaged during the winter."
)
PROMPT = "The capital of France is"
# Short strings for a tokenizer test: plain words and punctuation; runs of spaces, a newline and a tab (user-defined
# tokens in Gemma's vocabulary); accents, CJK, an emoji, a character only byte fallback spells (U+A66E) and a
# control token written in the text.
STRINGS = [
    "Hello, world! It's 2024.",
    "  two  spaces\nnew line\tand a tab",
    "naïve café 東京 🙂 \ua66e <start_of_turn>user",
]
MAX_TOKENS = 24

tok = AutoTokenizer.from_pretrained(DIR, gguf_file=FILE)
if len(sys.argv) > 1 and sys.argv[1] == "--decode":
    print(repr(tok.decode([int(x) for x in sys.argv[2:]])))
    sys.exit()
ids = {"text": tok(TEXT)["input_ids"], "prompt": tok(PROMPT)["input_ids"]}
if len(sys.argv) == 1:
    print(json.dumps(ids))
    sys.exit()
if sys.argv[1:] != ["--fixture"]:
    sys.exit(__doc__)

reference = json.loads(
    subprocess.run(
        [
            sys.executable,
            os.path.join(HERE, "gemma3_transformers.py"),
            os.path.join(DIR, FILE),
            "--text-ids", ",".join(map(str, ids["text"])),
            "--prompt-ids", ",".join(map(str, ids["prompt"])),
            "--max-tokens", str(MAX_TOKENS),
            "--probe-ids", ",".join(map(str, ids["prompt"])),
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
)
cases = []
for s in STRINGS:
    plain, special = tok(s, add_special_tokens=False)["input_ids"], tok(s)["input_ids"]
    cases.append({
        "text": s,
        "ids": plain,
        "ids_special": special,
        "decoded": tok.decode(plain),
        "decoded_special": tok.decode(special),
    })
probe = reference.pop("probe")
bare = tok(PROMPT, add_special_tokens=False)["input_ids"]
fixture = {
    "source": f"scripts/checks/gemma3_ids.py --fixture (transformers {reference['transformers']}, {FILE}, f32)",
    **ids,
    "tokenizer": {
        "vocab_size": len(tok),
        "bos_id": tok.bos_token_id,
        "eos_id": tok.eos_token_id,
        "pad_id": tok.pad_token_id,
        "adds_bos": ids["prompt"] == [tok.bos_token_id] + bare,
        "adds_eos": ids["prompt"][-1] == tok.eos_token_id,
        "cases": cases,
    },
    "transformers": {
        **reference,
        "max_tokens": MAX_TOKENS,
        "continuation_text": tok.decode(reference["continuation"]),
    },
    "probe": {
        "note": (
            "last position of `ids` (the prompt ids): the first 16 logits, and the first 16 coordinates of the "
            "embeddings times sqrt(hidden_size) (hidden_states[0]), the outputs of layers 0 and 1 "
            "(hidden_states[1], [2]), the raw output of the last layer, and that after the final norm "
            "(hidden_states[-1]); *_l2 are the norms of the whole vectors, for scaling a tolerance"
        ),
        **probe,
    },
}


def dump(v, depth=0):
    """JSON with objects opened to two levels and lists on one line."""
    if isinstance(v, dict) and depth < 2:
        pad = " " * (depth + 1)
        items = ",\n".join(f"{pad}{json.dumps(k)}: {dump(x, depth + 1)}" for k, x in v.items())
        return "{\n" + items + "\n" + " " * depth + "}"
    return json.dumps(v, ensure_ascii=False)


with open(OUT, "w") as f:
    f.write(dump(fixture) + "\n")
print(os.path.relpath(OUT), file=sys.stderr)
