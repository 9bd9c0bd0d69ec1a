#!/usr/bin/env bash
# The data of the benchmark's high-dimensional NAS problem (cifar-supernet, docs:
# benchmarks/search-engine.md): a supernet of the cifar space (45 decisions) trained on the embedded digits at 16x16
# inputs on 2 CPU cores (~40 min; the search ~25 min), a random search that scores 200 of its architectures with
# inherited weights (BN recalibrated on 512 training images) on the 457 validation images, and the export of those
# accuracies to bench/search/data/cifar_inherited.json (then the regressors' cross-validation).
# Usage: bash bench/search/cifar_surrogate.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
run=${1:-runs/cifar_digits}
python=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=1
data=(data.val_fraction=0.3)
resume=false
[ -f "$run/last.pt" ] && resume=true
[ -f "$run/final.pt" ] || "$python" -m lamoo_nas.commands.train_supernet space=cifar 'space.resolutions=[16]' \
  "${data[@]}" schedule.epochs=20 num_threads=1 run_dir="$run" resume=$resume progress=false
"$python" -m lamoo_nas.commands.search supernet="$run" strategy=random num_samples=200 batch_size=10 \
  num_init=10 calib_images=512 num_threads=1 progress=false run_dir="$run/random200"
"$python" -m bench.search.space_surrogate --export "$run/random200/history.json" --space cifar \
  --num-classes 10 --about "Top-1 accuracy (%) on the 457 validation digits (val_fraction 0.3) of \
200 random cifar-space architectures with weights inherited from a sandwich supernet trained \
20 epochs on the digits at 16x16 inputs, after BN recalibration on 512 training images \
(bash bench/search/cifar_surrogate.sh)"
