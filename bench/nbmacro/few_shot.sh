#!/usr/bin/env bash
# Few-shot supernets on the ground truth (docs: benchmarks/few-shot.md): the uniform-sampling
# NAS-Bench-Macro supernet of cpu_experiment.sh split into K sub-supernets, each fine-tuned
# from it on its region, against the same supernet fine-tuned over the whole space for the same
# total epochs (the one-shot control), all scored by rank fidelity on the same 100 stratified
# networks against the table's stand-alone accuracies.
# Usage: bash bench/nbmacro/few_shot.sh [CIFAR_ROOT] [RUN_DIR] [PARENT]
# Each step is skipped when its output exists, so a killed run resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${1:-/tmp/cifar10}
run=${2:-runs/nbmacro_cpu/few_shot}
parent=${3:-runs/nbm_uniform}   # from cpu_experiment.sh: uniform sampling, 6 epochs
python=${PYTHON:-.venv/bin/python}
table=${NBMACRO_DIR:-../shared/data/nbmacro}/nas-bench-macro_cifar10.json
common=(experiment=nbmacro_cifar_cpu sampler=uniform distill=none data.root="$root"
        progress=false tensorboard=false)
[ -f "$root/.complete" ] || "$python" ../shared/tools/cifar10_imagefolder.py "$root"

trained() { [ -f "$1/final.pt" ] || [ -f "$1/partition.json" ] && [ -f "$1/run.json" ] &&
            grep -q '"status": "finished"' "$1/run.json"; }
resume_flag() { [ -f "$1/run.json" ] && echo resume=true || echo resume=false; }

control() {  # the one-shot supernet trained on for $1 more epochs, the same recipe
  local dir="$run/oneshot_plus$1"
  trained "$dir" || "$python" -m lamoo_nas.commands.train_supernet "${common[@]}" init_from="$parent" \
    init_classifier=keep schedule.epochs="$1" run_dir="$dir" "$(resume_flag "$dir")"
}
few() {  # name, total epochs, few-shot overrides
  local dir="$run/$1"
  trained "$dir" || "$python" -m lamoo_nas.commands.train_supernet "${common[@]}" few_shot.parent="$parent" \
    few_shot.epochs="$2" run_dir="$dir" "$(resume_flag "$dir")" "${@:3}"
}
rank() {  # supernet, output folder
  [ -f "$2/evaluation.json" ] || "$python" -m lamoo_nas.commands.evaluate mode=rank supernet="$1" \
    truth="$table" num_archs=100 num_threads=1 out="$2/evaluation.json"
}

few choices_k3 3 few_shot=choices 'few_shot.split=[stages.0.layers.0.op]'
rank "$run/choices_k3" "$run/rank_choices_k3"
control 3
rank "$run/oneshot_plus3" "$run/rank_oneshot_plus3"
few learned_k3 3 few_shot=learned few_shot.num_regions=3 few_shot.num_archs=200 \
  few_shot.calib_images=500
rank "$run/learned_k3" "$run/rank_learned_k3"
few choices_k2 2 few_shot=choices 'few_shot.split=[stages.0.depth]'
rank "$run/choices_k2" "$run/rank_choices_k2"
control 2
rank "$run/oneshot_plus2" "$run/rank_oneshot_plus2"
few learned_k2 2 few_shot=learned few_shot.num_regions=2 few_shot.num_archs=200 \
  few_shot.calib_images=500
rank "$run/learned_k2" "$run/rank_learned_k2"
rank "$parent" "$run/rank_parent"
"$python" -m bench.nbmacro.few_shot_report "$run"
