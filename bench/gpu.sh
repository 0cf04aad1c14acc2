#!/usr/bin/env bash
# The base-size pre-training benchmark on one NVIDIA GPU: HF Trainer (bf16 and fp32) vs `warmstart pretrain`,
# real tokens/s, MFU against this GPU's measured bf16 matmul peak, and the ratio. Under 8 minutes on an
# H100-class GPU.
#   bash bench/gpu.sh                      (repository root; uses .venv, bootstrapping it like `make test`)
#   PYTHON=/path/to/python bash bench/gpu.sh   (an environment that already has a CUDA build of torch)
# NOTE: `make`'s torch==2.13.0 pin resolves to a CUDA build on a GPU machine with PyPI access.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PYTHON:-}" ]; then
    make -s .venv/.installed
    PYTHON=.venv/bin/python
fi
"$PYTHON" -m pip install --quiet -e '.[bench]' || echo "note: could not install the bench extra; trying with what is installed"
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch: nothing to measure")'
exec "$PYTHON" bench/pretrain.py --device cuda --shape base --batch-size 64 --repeats 2 --steps 40 \
    --warmup-steps 10 --loss-tokens 0 --base-steps 0 --finetune-examples 0 --output bench/results/cuda/pretrain-gpu.md "$@"
