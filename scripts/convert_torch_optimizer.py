#!/usr/bin/env python3
"""Converts a PyTorch AdamW `optimizer.state_dict()` file of a Hugging Face model into the optimizer-state layout
of gauge-transport (GAUGE.md §4), so that `gauge-transport transport optimizer` can move it.

    python3 scripts/convert_torch_optimizer.py optimizer.pt --model <HF checkpoint dir> --out optimizer.safetensors
        [--order model|hf-trainer | --names names.json] [--overwrite]

PyTorch keys the state by the position of each parameter in the list given to the optimizer, not by name. The
names are recovered from that order:

- `--order model` (default): `model.parameters()` order, as `torch.optim.AdamW(model.parameters())` sees it
  (`named_parameters()`, tied weights once);
- `--order hf-trainer`: the two groups `transformers.Trainer` builds (parameters with weight decay, then those
  without), in `named_parameters()` order within each;
- `--names names.json`: an explicit JSON list of parameter names in the optimizer's order.

The model is built from `config.json` on the meta device (no weights are read). Every state entry is checked: its
shape must be its parameter's, and the names must be the checkpoint's tensors (read from its safetensors headers).
Written: `P.exp_avg`, `P.exp_avg_sq` (F32) for each parameter `P`, and metadata `format =
"gauge-transport/adamw"`, `step`, `lr`, `betas` ("b1,b2"), `eps`, `weight_decay` of the first parameter group
(the other groups' hyper-parameters go in `param_groups`, JSON). The output is written to a temporary file and
renamed; an existing file is kept unless --overwrite.

Needs torch, transformers and safetensors (PyPI).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

FORMAT = "gauge-transport/adamw"


def fail(msg: str) -> None:
    print(f"convert_torch_optimizer: {msg}", file=sys.stderr)
    sys.exit(2)


def checkpoint_tensors(model_dir: Path) -> dict[str, list[int]]:
    """Tensor names and shapes of the checkpoint's safetensors files (headers only)."""
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    files = [f for f in files if f.name not in ("optimizer.safetensors", "gauge.safetensors")]
    if not files:
        fail(f"{model_dir}: no model .safetensors files")
    out: dict[str, list[int]] = {}
    for f in files:
        with safe_open(str(f), "pt") as st:
            for k in st.keys():
                out[k] = list(st.get_slice(k).get_shape())
    return out


def parameter_order(model_dir: Path, order: str, names_file: str | None) -> tuple[list[str], dict[str, list[int]]]:
    """Parameter names in the optimizer's order, and every parameter's shape, from the config alone."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    shapes = {n: list(p.shape) for n, p in named}
    if names_file:
        names = json.loads(Path(names_file).read_text())
        if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            fail(f"{names_file}: expected a JSON list of parameter names")
        unknown = [n for n in names if n not in shapes]
        if unknown:
            fail(f"{names_file}: {len(unknown)} names are not parameters of the model, e.g. {unknown[:3]}")
        return names, shapes
    if order == "model":
        return [n for n, _ in named], shapes
    if order == "hf-trainer":
        from transformers import Trainer

        try:
            decay = set(Trainer.get_decay_parameter_names(None, model))
        except Exception as e:  # the helper's signature moves between transformers versions
            fail(f"cannot reproduce transformers.Trainer's parameter groups with this version: {e}; pass --names")
        return [n for n, _ in named if n in decay] + [n for n, _ in named if n not in decay], shapes
    fail(f"--order {order!r}: expected model or hf-trainer")
    raise AssertionError


def convert(optimizer: Path, model_dir: Path, out: Path, order: str, names_file: str | None, overwrite: bool) -> dict:
    import torch
    from safetensors.torch import save_file

    if out.exists() and not overwrite:
        fail(f"{out}: already exists; not replacing it (pass --overwrite)")
    sd = torch.load(optimizer, map_location="cpu", weights_only=True)
    if not (isinstance(sd, dict) and "state" in sd and "param_groups" in sd):
        fail(f"{optimizer}: not an optimizer.state_dict() (no 'state' and 'param_groups')")
    groups = sd["param_groups"]
    ids = [i for g in groups for i in g["params"]]
    names, shapes = parameter_order(model_dir, order, names_file)
    if len(ids) != len(names):
        fail(f"{optimizer}: the optimizer holds {len(ids)} parameters but the model's order lists {len(names)}; "
             "choose --order or pass --names")
    tensors = checkpoint_tensors(model_dir)
    state = sd["state"]
    out_tensors: dict[str, torch.Tensor] = {}
    steps = set()
    for i, name in zip(ids, names):
        if name not in tensors:
            fail(f"{model_dir}: parameter {name!r} is not a tensor of the checkpoint")
        st = state.get(i)
        if st is None:
            fail(f"{optimizer}: no state for parameter {i} ({name}); was the optimizer stepped?")
        for key in ("exp_avg", "exp_avg_sq", "step"):
            if key not in st:
                fail(f"{optimizer}: state of parameter {i} ({name}) has no {key!r}: not AdamW or Adam state")
        for key in ("exp_avg", "exp_avg_sq"):
            if list(st[key].shape) != shapes[name] or list(st[key].shape) != tensors[name]:
                fail(f"{optimizer}: {key} of parameter {i} has shape {list(st[key].shape)} but {name} has "
                     f"{tensors[name]}: the order does not match (choose --order or pass --names)")
            out_tensors[f"{name}.{key}"] = st[key].detach().to(torch.float32).contiguous()
        steps.add(int(float(st["step"])))
    if len(steps) != 1:
        fail(f"{optimizer}: parameters were stepped different numbers of times: {sorted(steps)}")
    g0 = groups[0]
    meta = {
        "format": FORMAT,
        "step": str(steps.pop()),
        "lr": str(g0["lr"]),
        "betas": f"{g0['betas'][0]},{g0['betas'][1]}",
        "eps": str(g0["eps"]),
        "weight_decay": str(g0.get("weight_decay", 0.0)),
        "source": optimizer.name,
    }
    if len(groups) > 1:
        meta["param_groups"] = json.dumps([
            {k: v for k, v in g.items() if k != "params"} | {"parameters": len(g["params"])} for g in groups
        ], default=str)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        save_file(out_tensors, str(tmp), metadata=meta)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"parameters": len(names), "step": meta["step"], "groups": len(groups), "out": str(out)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("optimizer", type=Path, help="optimizer.state_dict() saved with torch.save")
    ap.add_argument("--model", type=Path, required=True, help="the Hugging Face checkpoint directory")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--order", default="model", choices=["model", "hf-trainer"])
    ap.add_argument("--names", help="JSON list of parameter names in the optimizer's order")
    ap.add_argument("--overwrite", action="store_true")
    a = ap.parse_args()
    print(json.dumps(convert(a.optimizer, a.model, a.out, a.order, a.names, a.overwrite)))


if __name__ == "__main__":
    main()
