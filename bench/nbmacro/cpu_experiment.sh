#!/usr/bin/env bash
# The method against ground truth on 2 CPU cores (docs: benchmarks/ground-truth.md): an nbmacro supernet on
# the real CIFAR-10 copy (experiment=nbmacro_cifar_cpu), sandwich + in-place distillation and,
# for comparison, uniform sampling; the rank fidelity of each against NAS-Bench-Macro's
# stand-alone accuracies; LaMOO vs random vs NSGA-II on the sandwich supernet, judged by the table.
# Usage: bash bench/nbmacro/cpu_experiment.sh [CIFAR_ROOT] [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-/tmp/cifar10}
run=${2:-runs/nbmacro_cpu}
python=${PYTHON:-.venv/bin/python}
table=${NBMACRO_DIR:-../shared/data/nbmacro}/nas-bench-macro_cifar10.json
[ -f "$root/.complete" ] || "$python" ../shared/tools/cifar10_imagefolder.py "$root"

train() {  # name, extra overrides; resume=true continues a killed run
  local resume=false
  [ -f "$run/$1/last.pt" ] && resume=true
  [ -f "$run/$1/final.pt" ] || "$python" -m lamoo_nas.commands.train_supernet experiment=nbmacro_cifar_cpu \
    data.root="$root" run_dir="$run/$1" resume=$resume progress=false "${@:2}"
}
# the recipes of the documented run (the preset's own recipe is uniform sampling for 24 epochs)
train sandwich sampler=sandwich distill=inplace schedule.epochs=6
train uniform sampler=uniform distill=none schedule.epochs=6

for name in sandwich uniform; do
  "$python" -m lamoo_nas.commands.evaluate mode=rank supernet="$run/$name" truth="$table" num_archs=100 \
    num_threads=1 out="$run/rank_$name/evaluation.json"
done
# the same 100 architectures scored on 10,000 images (val + never-trained holdout images)
"$python" -m lamoo_nas.commands.evaluate mode=rank supernet="$run/sandwich" truth="$table" num_archs=100 \
  num_threads=1 val_images=10000 out="$run/rank_sandwich_val10k/evaluation.json"
# the search benchmark's NAS problem is fitted on these (bench/search/data/nbmacro_inherited.json)
"$python" -m bench.search.nas_surrogate --export "$run/rank_sandwich_val10k/fidelity.json"
# how much of the shortfall is validation noise (simulated from the measured accuracies)
"$python" -m bench.evaluate.fidelity_noise "$run/rank_sandwich/fidelity.json" \
  "$run/rank_sandwich_val10k/fidelity.json" --images 2000 10000

# budget 10M MACs at 16x16 (40M at the benchmark's 32x32): 498 of the 3,969 networks fit
"$python" -m bench.evaluate.search_compare --supernet "$run/sandwich" --budget-macs 10e6 \
  --samples 100 --seeds 0 1 2 3 4 --strategies lamoo random nsga2 --calib-images 500 \
  --threads 1 --truth "$table" --name nbmacro_cpu --out "$run/search"
