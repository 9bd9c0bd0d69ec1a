#!/usr/bin/env bash
# The whole pipeline on the real CIFAR-10 copy, on CPU, with a reduced schedule (documented in
# docs/benchmarks/cifar10-cpu.md): 4,000 training images, 2 supernet epochs, 24 searched architectures, the winner
# retrained from scratch for 3 epochs. Then LaMOO vs random search on that supernet at equal
# samples over 3 seeds. Usage: bash bench/cifar/cpu_pipeline.sh [CIFAR_ROOT] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-/tmp/cifar10}
run=${2:-outputs/cifar_cpu}
python=${PYTHON:-.venv/bin/python}
shared=../shared/tools/cifar10_imagefolder.py
[ -f "$root/.complete" ] || "$python" "$shared" "$root"

"$python" -m lamoo_nas.commands.pipeline run_dir="$run" num_threads=2 progress=false \
  data=imagefolder data.root="$root" data.max_train_images=4000 data.val_fraction=0.02 \
  data.calib_images=256 data.batch_size=64 data.num_workers=0 \
  space=cifar schedule.epochs=2 schedule.warmup_epochs=0.2 supernet.eval.every_epochs=1 \
  search.budget.macs=100e6 search.num_samples=24 search.batch_size=4 search.num_init=8 \
  search.calib_images=128 \
  recipe=cifar recipe.epochs=3 recipe.warmup_epochs=0.3 recipe.randaugment=null \
  recipe.mixup_alpha=0 recipe.cutmix_alpha=0 recipe.ema_decay=0 retrain.top_k=1 \
  retrain.latency.repeats=20

mkdir -p "$run/compare"
[ -e "$run/compare/lamoo_seed0" ] || cp -r "$run/search" "$run/compare/lamoo_seed0"
"$python" -m bench.evaluate.search_compare --supernet "$run/supernet" --budget-macs 100e6 \
  --samples 24 --batch-size 4 --num-init 8 --seeds 0 1 2 --strategies lamoo random --calib-images 128 \
  --val-fraction 0.02 --data-root "$root" --threads 2 --name cifar_cpu --out "$run/compare"
