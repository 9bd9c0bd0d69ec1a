"""LaMOO vs baselines on a trained supernet, at equal samples, over several seeds.

    python -m bench.evaluate.search_compare --supernet RUN_DIR --budget-macs 100e6 \
        --samples 50 --seeds 0 1 2 --strategies lamoo random

Every strategy and seed searches the same supernet with the same budget and the same
evaluator; the evaluator's accuracy cache is shared, so an architecture proposed twice (by two
strategies) is scored once. Writes ``bench/results/search_compare_<name>.json`` and a
hypervolume plot, and prints a Markdown table (final hypervolume, mean and spread).

With ``--truth TABLE`` (a ground-truth table of the supernet's space, e.g. NAS-Bench-Macro's
JSON for ``nbmacro``) every run is also judged by the table's accuracies: the true hypervolume
of the found front against the table's best under the budget, and the true accuracy of the
architecture each run picks against the table's best under the budget::

    python -m bench.evaluate.search_compare --supernet runs/nbm_sandwich --budget-macs 12e6 \
        --samples 100 --seeds 0 1 2 3 4 --strategies lamoo random nsga2 \
        --truth ../shared/data/nbmacro/nas-bench-macro_cifar10.json --name nbmacro
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.ground_truth import judge_search, load_ground_truth
from lamoo_nas.evaluate.plots import plot_hypervolume
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import run_nas_search
from lamoo_nas.runtime.data import build_data
from lamoo_nas.supernet import CostModel
from lamoo_nas.train.checkpoint import load_supernet

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", required=True, help="supernet run dir or checkpoint")
    parser.add_argument("--budget-macs", type=float, default=None)
    parser.add_argument("--budget-params", type=float, default=None)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--num-init", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", nargs="+", default=["lamoo", "random"])
    parser.add_argument("--calib-images", type=int, default=256)
    parser.add_argument("--val-fraction", type=float, default=None)
    parser.add_argument("--max-val-images", type=int, default=None)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--name", default="run")
    parser.add_argument("--out", type=Path, default=None, help="folder for the search runs")
    parser.add_argument("--truth", type=Path, default=None, help="ground-truth table")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    loaded = load_supernet(args.supernet)
    overrides = {"root": args.data_root} if args.data_root else {}
    if args.val_fraction:
        overrides["val_fraction"] = args.val_fraction
    data_cfg = dataclasses.replace(loaded.data_config, **overrides)
    bundle = build_data(data_cfg, image_size=max(loaded.space.resolutions))
    val = bundle.eval_loader("val", data_cfg.eval_batch_size)
    if args.max_val_images:
        val = [b for b in _take(val, args.max_val_images)]
    evaluator = InheritedAccuracyEvaluator(
        loaded.model,
        bundle.eval_loader("calib", data_cfg.eval_batch_size),
        val,
        args.calib_images,
    )
    cost_model = CostModel(loaded.space, loaded.num_classes)
    budget = Budget(macs=args.budget_macs, params=args.budget_params)
    truth = load_ground_truth(args.truth, loaded.space) if args.truth else None
    if truth is not None and args.budget_macs is None:
        parser.error("--truth judges a MACs-budgeted search: give --budget-macs")
    out = args.out or RESULTS / f"search_compare_{args.name}"
    runs: dict[str, list[dict]] = {}
    curves: dict[str, list[np.ndarray]] = {}
    for strategy in args.strategies:
        for seed in args.seeds:
            settings = SearchSettings(
                strategy=strategy,
                budget=budget,
                num_samples=args.samples,
                batch_size=args.batch_size,
                num_init=args.num_init,
                seed=seed,
                progress=False,
            )
            start = time.perf_counter()
            result = run_nas_search(
                loaded.space, cost_model, evaluator, settings, out / f"{strategy}_seed{seed}"
            )
            curve = result.history.hypervolume_curve()
            curves.setdefault(strategy, []).append(curve)
            runs.setdefault(strategy, []).append(
                {
                    "seed": seed,
                    "hypervolume": float(curve[-1]),
                    "best_accuracy": result.best.accuracy,
                    "best_macs": result.best.macs,
                    "pareto_size": len(result.pareto),
                    "strategy_seconds_per_proposal": result.summary[
                        "strategy_seconds_per_proposal"
                    ],
                    "evaluation_seconds_per_arch": result.summary["evaluation_seconds_per_arch"],
                    "wall_seconds": time.perf_counter() - start,
                }
            )
            if truth is not None:
                verdict = judge_search(
                    [r.arch for r in result.pareto],
                    result.best.arch,
                    [r.arch for r in result.rows],
                    truth,
                    lambda a: cost_model(a).macs,
                    float(args.budget_macs),
                )
                runs[strategy][-1].update(dataclasses.asdict(verdict), hv_ratio=verdict.hv_ratio)
            print(f"{strategy} seed {seed}: HV {curve[-1]:.4f}, best {result.best.accuracy:.4f}")
    table = _table(runs) + ("\n\n" + _truth_table(runs) if truth is not None else "")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "supernet": str(args.supernet),
        "budget": dataclasses.asdict(budget),
        "samples": args.samples,
        "seeds": args.seeds,
        "runs": runs,
        "distinct_archs_evaluated": len(evaluator.cache),
        "val_images": evaluator.val_images,
    }
    (RESULTS / f"search_compare_{args.name}.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / f"search_compare_{args.name}.md").write_text(table + "\n")
    plot_hypervolume(
        {k: np.stack(v) for k, v in curves.items()}, RESULTS / f"search_compare_{args.name}.png"
    )
    print(table)


def _take(loader, max_images: int):
    seen = 0
    for x, y in loader:
        if seen >= max_images:
            return
        yield x[: max_images - seen], y[: max_images - seen]
        seen += len(y)


def _table(runs: dict[str, list[dict]]) -> str:
    lines = [
        "| strategy | seeds | final HV mean | HV min | HV max | best acc. mean | ms/proposal |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for strategy, rows in runs.items():
        hv = np.array([r["hypervolume"] for r in rows])
        acc = np.mean([r["best_accuracy"] for r in rows])
        ms = 1000 * np.mean([r["strategy_seconds_per_proposal"] for r in rows])
        lines.append(
            f"| {strategy} | {len(rows)} | {hv.mean():.4f} | {hv.min():.4f} | {hv.max():.4f} "
            f"| {100 * acc:.2f} | {ms:.1f} |"
        )
    return "\n".join(lines)


def _truth_table(runs: dict[str, list[dict]]) -> str:
    """Mean (min-max) over seeds of each run's verdict by the ground-truth table."""
    first = next(iter(runs.values()))[0]
    lines = [
        f"Judged by the ground truth (table's max HV under the budget {first['max_hv']:.2f}; "
        f"best true accuracy under the budget {100 * first['best_true']:.2f} %)",
        "",
        "| strategy | true HV | true HV / max | true acc. of the picked arch | "
        "best true acc. evaluated |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]

    def cell(rows: list[dict], key: str, scale: float = 1.0, digits: int = 2) -> str:
        v = scale * np.array([r[key] for r in rows])
        return f"{v.mean():.{digits}f} ({v.min():.{digits}f}-{v.max():.{digits}f})"

    for strategy, rows in runs.items():
        lines.append(
            f"| {strategy} | {cell(rows, 'true_hv')} | {cell(rows, 'hv_ratio', digits=3)} | "
            f"{cell(rows, 'picked_true', 100)} | {cell(rows, 'found_true', 100)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
