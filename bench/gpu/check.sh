#!/usr/bin/env bash
# The GPU check (bench/gpu/check.py): on a machine with one CUDA GPU, the gpu-marked tests,
# supernet-step throughput (fp32, bf16, fp16, torch.compile), a short NAS-Bench-Macro supernet at
# 32x32 with its rank fidelity on 100 networks and a CUDA latency table, in under 8 minutes;
# writes OUT/summary.json and OUT/summary.md (OUT: bench/results/gpu_check).
# Usage: bash bench/gpu/check.sh [--dry-run] [--out DIR] [--shared DIR] [--cifar-root DIR]
#   --dry-run runs nothing and needs no GPU: it checks every step's command, imports and inputs.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}
exec "$python" -m bench.gpu.check --python "$python" "$@"
