#!/usr/bin/env bash
# The checks of the CUDA path, for a machine with an NVIDIA GPU (the `device` tool's H200 here): builds the
# gpu_check example with `--features cuda` (toolkit from PyPI wheels, as scripts/cuda-check.sh), runs it on
# SmolLM2-135M (CUDA forward against the CPU within 1e-3, device against host moments, streamed against whole
# moments, a re-charted pair aligned on the GPU, tokens/s on both), and measures transformers/torch on the same
# GPU for the same batch. Writes $OUT/gpu.json (or benches/results/gpu.json without $OUT).
#
#   bash scripts/gpu-check.sh <SmolLM2 GGUF>
set -euo pipefail
cd "$(dirname "$0")/.."
GGUF="${1:-.cache/models/smollm2-135m-gguf/SmolLM2-135M-Instruct.Q4_1.gguf}"
CUDA_PIP_DIR="${CUDA_PIP_DIR:-/var/tmp/gauge-transport-cuda}"
if [ ! -x "$CUDA_PIP_DIR/nvidia/cu13/bin/nvcc" ]; then
  python3 -m pip install --quiet --no-deps --target "$CUDA_PIP_DIR" nvidia-cuda-nvcc==13.5.37 nvidia-cuda-runtime==13.5.37 \
    nvidia-cuda-crt==13.5.37 nvidia-nvvm==13.5.37 nvidia-cuda-cccl==13.3.5.0.6
fi
export CUDA_ROOT="$CUDA_PIP_DIR/nvidia/cu13" PATH="$CUDA_PIP_DIR/nvidia/cu13/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}" CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13040}"
cargo build --release -p gauge-models --features cuda --example gpu_check
ours=$(cargo run --quiet --release -p gauge-models --features cuda --example gpu_check -- "$GGUF" cuda)
torch=$(python3 - "$GGUF" <<'PY'
import json, os, sys, time
import torch
from transformers import AutoModelForCausalLM
path = sys.argv[1]
m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32).cuda().eval()
ids = torch.randint(0, m.config.vocab_size, (8, 256), device="cuda")
best = float("inf")
with torch.inference_mode():
    for _ in range(4):
        torch.cuda.synchronize(); t = time.perf_counter()
        m(ids, output_hidden_states=True)
        torch.cuda.synchronize(); best = min(best, time.perf_counter() - t)
print(json.dumps({"torch": torch.__version__, "tokens_per_second": 8 * 256 / best}))
PY
)
out="${OUT:-benches/results}/gpu.json"
python3 - "$ours" "$torch" "$out" <<'PY'
import json, sys
ours, torch, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
ours["torch_same_gpu"] = torch
ours["ratio_to_torch"] = ours["tokens_per_second"]["device"] / torch["tokens_per_second"]
open(out, "w").write(json.dumps(ours, indent=2) + "\n")
print(json.dumps(ours, indent=2))
PY
