#!/usr/bin/env bash
# Compiles the `cuda` feature of gauge-models (candle's CUDA backend and its PTX kernels) on a machine without a
# GPU, with the CUDA toolkit from PyPI wheels. CI runs it so the CUDA path is at least built; running it needs a GPU
# (scripts/gpu-check.sh). Prebuilt npm binaries stay CPU-only.
#
# The toolkit (nvcc, the runtime headers, crt, nvvm, cccl) is installed once into $CUDA_PIP_DIR, and the build
# reuses $CUDA_TARGET_DIR, both outside the clone, so a second run on the same machine takes seconds; a cold build
# takes about 11 minutes on 2 cores, most of it compiling candle's kernels. cudarc 0.19 does not know CUDA 13.5 by
# name, so CUDARC_CUDA_VERSION pins the closest API it knows (13.4); CUDA_COMPUTE_CAP=90 targets Hopper (the H100
# and H200).
set -euo pipefail
cd "$(dirname "$0")/.."

CUDA_PIP_DIR="${CUDA_PIP_DIR:-/var/tmp/gauge-transport-cuda}"
CUDA_TARGET_DIR="${CUDA_TARGET_DIR:-/var/tmp/gauge-transport-cuda-target}"
PACKAGES=(
  nvidia-cuda-nvcc==13.5.37
  nvidia-cuda-runtime==13.5.37
  nvidia-cuda-crt==13.5.37
  nvidia-nvvm==13.5.37
  nvidia-cuda-cccl==13.3.5.0.6
)
if [ ! -x "$CUDA_PIP_DIR/nvidia/cu13/bin/nvcc" ]; then
  python3 -m pip install --quiet --no-deps --target "$CUDA_PIP_DIR.partial" "${PACKAGES[@]}"
  rm -rf "$CUDA_PIP_DIR"
  mv "$CUDA_PIP_DIR.partial" "$CUDA_PIP_DIR"
fi
export CUDA_ROOT="$CUDA_PIP_DIR/nvidia/cu13"
export PATH="$CUDA_ROOT/bin:$PATH"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CUDARC_CUDA_VERSION="${CUDARC_CUDA_VERSION:-13040}"
nvcc --version | tail -n 1
CARGO_TARGET_DIR="$CUDA_TARGET_DIR" cargo check -p gauge-models --features cuda --release
echo "cuda-check: gauge-models builds with --features cuda"
