#!/usr/bin/env bash
# The supernet recipe against the block model it feeds (docs: block-model.md, "recipe"):
# nbmacro supernets of the CPU experiment trained with several recipes and seeds, each scored
# by `bench.nbmacro.block_model --fidelity-only` (block models from 30/50/100 uniform and 100
# stratified evaluations, Kendall tau against NAS-Bench-Macro), then one table.
# Recipes: sandwich (6 epochs, in-place distillation; the preset until 3 seeds said otherwise),
# uniform24 (uniform sampling, no distillation, 24 epochs: about the sandwich's wall-clock; the
# experiment's preset now), uniform12
# (the same for half the time), and calib100 (uniform24's weights, BN calibrated on 100 images
# instead of 500 per scored network: cheaper scoring, no training).
# Usage: bash bench/nbmacro/recipes.sh [CIFAR_ROOT] [RUN_DIR] [RECIPE:SEED ...]
#   e.g. bash bench/nbmacro/recipes.sh /tmp/cifar10 runs/recipes sandwich:0 uniform24:0 uniform12:0
# A killed run resumes (training from last.pt, scoring from its accuracy cache).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-/tmp/cifar10}
run=${2:-runs/recipes}
shift 2 || true
pairs=("$@")
[ ${#pairs[@]} -gt 0 ] || pairs=(sandwich:0 uniform24:0 uniform12:0 calib100:0 sandwich:1
  uniform24:1 uniform12:1 calib100:1 sandwich:2 uniform24:2 uniform12:2 calib100:2)
python=${PYTHON:-.venv/bin/python}
table=${NBMACRO_DIR:-../shared/data/nbmacro}/nas-bench-macro_cifar10.json
[ -f "$root/.complete" ] || "$python" ../shared/tools/cifar10_imagefolder.py "$root"

train() {  # dir, seed, overrides; resume=true continues a killed run
  local resume=false
  [ -f "$1/last.pt" ] && resume=true
  [ -f "$1/final.pt" ] || "$python" -m lamoo_nas.commands.train_supernet experiment=nbmacro_cifar_cpu \
    data.root="$root" run_dir="$1" seed="$2" resume=$resume progress=false "${@:3}"
}

for pair in "${pairs[@]}"; do
  recipe=${pair%%:*} seed=${pair##*:}
  supernet="$run/$recipe-s$seed" calib=()
  case $recipe in
    sandwich) train "$supernet" "$seed" sampler=sandwich distill=inplace schedule.epochs=6 ;;
    uniform24) train "$supernet" "$seed" sampler=uniform distill=none schedule.epochs=24 ;;
    uniform12) train "$supernet" "$seed" sampler=uniform distill=none schedule.epochs=12 ;;
    calib100) supernet="$run/uniform24-s$seed" calib=(--calib-images 100)
      train "$supernet" "$seed" sampler=uniform distill=none schedule.epochs=24 ;;
    *) echo "error: unknown recipe '$recipe' (sandwich, uniform24, uniform12, calib100)" >&2; exit 2 ;;
  esac
  [ -f "$run/score-$recipe-s$seed/block_model.json" ] || "$python" -m bench.nbmacro.block_model \
    --supernet "$supernet" --truth "$table" --fidelity-only "${calib[@]}" \
    --out "$run/score-$recipe-s$seed"
done
"$python" -m bench.nbmacro.recipes_report "$run"
