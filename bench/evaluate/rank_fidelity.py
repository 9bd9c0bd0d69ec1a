"""Rank fidelity of a trained supernet: inherited accuracy vs accuracy retrained from scratch.

    nice python -m bench.evaluate.rank_fidelity --supernet RUN_DIR [--num-archs 12] [--seed 0]

Draws ``--num-archs`` architectures (the smallest, the largest and uniform samples of the space,
optionally under ``--budget-macs``), scores each with inherited weights + BN recalibration on
the validation split (what the search sees), retrains each from scratch with the recipe of the
supernet's dataset and measures test top-1, then reports Kendall tau and Spearman rho with
p-values. Writes ``bench/results/rank_fidelity_<name>.json`` and a scatter PNG beside it, and
prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.rank import plot_rank_scatter, rank_fidelity
from lamoo_nas.runtime.data import build_data
from lamoo_nas.supernet import CostModel
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.train.checkpoint import load_supernet
from lamoo_nas.train.recipes import load_recipe
from lamoo_nas.train.retrain import RetrainOptions, retrain

RESULTS = Path(__file__).resolve().parents[1] / "results"


def draw_archs(
    space: SearchSpace, count: int, seed: int, cost: CostModel, max_macs: float | None
) -> list[ArchConfig]:
    """The smallest, the largest (when within budget) and distinct uniform samples."""
    rng = np.random.default_rng(seed)
    archs = [space.smallest(), space.largest()]
    archs = [a for a in archs if max_macs is None or cost(a).macs <= max_macs]
    for _ in range(100 * count):
        if len(archs) >= count:
            break
        arch = space.sample(rng)
        if arch not in archs and (max_macs is None or cost(arch).macs <= max_macs):
            archs.append(arch)
    return archs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", required=True, help="supernet run dir or checkpoint")
    parser.add_argument("--num-archs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-macs", type=float, default=None)
    parser.add_argument("--recipe", default=None, help="default: the supernet dataset's recipe")
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--calib-images", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="digits")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    loaded = load_supernet(args.supernet)
    data_cfg = loaded.data_config
    bundle = build_data(data_cfg, image_size=max(loaded.space.resolutions))
    evaluator = InheritedAccuracyEvaluator.from_bundle(loaded.model, bundle, args.calib_images)
    cost = CostModel(loaded.space, loaded.num_classes)
    archs = draw_archs(loaded.space, args.num_archs, args.seed, cost, args.budget_macs)
    inherited = evaluator.accuracy(archs)
    recipe = load_recipe(args.recipe or data_cfg.name)
    if args.epochs is not None:
        recipe = dataclasses.replace(recipe, epochs=args.epochs)
    options = RetrainOptions(seed=args.seed, tensorboard=False, progress=False)
    rows = []
    for i, arch in enumerate(archs):
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            result = retrain(arch, loaded.space, data_cfg, recipe, Path(tmp), options)
        rows.append(
            {
                "arch": loaded.space.arch_to_json(arch),
                "macs": cost(arch).macs,
                "params": cost(arch).params,
                "inherited_val_top1": float(inherited[i]),
                "retrained_test_top1": result.metrics["top1"],
                "retrain_s": round(time.perf_counter() - start, 1),
            }
        )
        print(
            f"[{i + 1}/{len(archs)}] {rows[-1]['macs']:>12,} MACs  inherited "
            f"{100 * inherited[i]:.2f}%  retrained {100 * result.metrics['top1']:.2f}%",
            flush=True,
        )
    x = [r["inherited_val_top1"] for r in rows]
    y = [r["retrained_test_top1"] for r in rows]
    report = rank_fidelity(x, y)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"rank_fidelity_{args.name}.json"
    plot_rank_scatter(x, y, out.with_suffix(".png"), report)
    setup = {k: v for k, v in vars(args).items()} | {"recipe_epochs": recipe.epochs}
    out.write_text(json.dumps({"setup": setup, "report": report.to_dict(), "rows": rows}, indent=1))
    print(
        f"\n| archs | inherited val top-1 | retrained test top-1 | Kendall tau (p) "
        f"| Spearman (p) |\n|---|---|---|---|---|\n| {report.n} | "
        f"{100 * min(x):.2f}-{100 * max(x):.2f}% | {100 * min(y):.2f}-{100 * max(y):.2f}% | "
        f"{report.kendall_tau:.2f} ({report.kendall_p:.3f}) | "
        f"{report.spearman:.2f} ({report.spearman_p:.3f}) |\nwritten: {out}"
    )


if __name__ == "__main__":
    main()
