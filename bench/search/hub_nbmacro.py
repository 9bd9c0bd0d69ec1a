"""The hub's tier picks on NAS-Bench-Macro, where the truth is known.

    python -m bench.search.hub_nbmacro [--table PATH] [--tiers 5] [--out FILE]

What the pipeline's hub does after a search, on the 100 shipped inherited accuracies
(:data:`bench.search.nas_surrogate.INHERITED_DATA`, the "search's evaluations"): fit the block
model on them (:func:`evaluate.search_results.fit_search_model`), then per MACs tier pick the
best predicted architecture with the exact programme (:class:`evaluate.hub.TierPicker`,
``tiers.pick=model``) and, for comparison, the best inherited accuracy among the 100 under the
tier (``tiers.pick=measured``). Each pick is then judged by NAS-Bench-Macro's table (mean test
accuracy of 3 seeds, CIFAR-10, 32x32): its true accuracy, and its true rank among every network
of the table within the tier (1: the table's best under the tier). MACs are the exact analytic
count at 32x32, which equals the table's ``flops`` (checked). The tiers are the 10/30/50/70/90 %
quantiles of the table's MACs (``--tiers`` other counts: evenly spaced quantiles).

Writes a JSON results file (default ``bench/results/hub_nbmacro.json``) and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.search.nas_surrogate import fidelity_path, read_inherited
from bench.search.problems import NBMACRO_TABLE
from lamoo_nas.evaluate.ground_truth import distinct_nbmacro, read_nbmacro_json
from lamoo_nas.evaluate.hub import TierPicker, TierSettings
from lamoo_nas.evaluate.search_results import ScoredArch, SearchResult, fit_search_model
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.supernet import CostModel, load_space
from lamoo_nas.supernet.nbmacro import arch_from_code

DEFAULT_TABLE = Path(__file__).parents[2].parent / "shared" / "data" / "nbmacro" / NBMACRO_TABLE
DEFAULT_OUT = Path(__file__).parents[1] / "results" / "hub_nbmacro.json"


def tier_quantiles(count: int) -> list[float]:
    """``count`` evenly spaced quantiles strictly inside (0, 1): 5 -> 0.1, 0.3, ..., 0.9."""
    return [(2 * i + 1) / (2 * count) for i in range(count)]


def run(table: Path, count: int) -> dict[str, Any]:
    space = load_space("nbmacro")
    cost_model = CostModel(space, num_classes=10)
    truth_rows = distinct_nbmacro(read_nbmacro_json(table))
    truth = {arch_from_code(space, code): row for code, row in truth_rows.items()}
    mismatched = sum(cost_model(a).macs != row.flops for a, row in truth.items())
    if mismatched:
        raise SystemExit(f"{mismatched} networks' analytic MACs differ from the table's flops")
    inherited = read_inherited(fidelity_path())
    rows = []
    for i, (code, accuracy) in enumerate(sorted(inherited.items())):
        arch = arch_from_code(space, code)
        cost = cost_model(arch)
        rows.append(ScoredArch(arch, accuracy / 100, cost.macs, cost.params, i, "inherited",
                               False))  # fmt: skip
    summary = {"budget": {"macs": None, "params": None, "latency_ms": None}}
    result = SearchResult(None, rows, rows[0], Path("."), summary, space)  # type: ignore[arg-type]
    model = fit_search_model(space, rows)
    picker = TierPicker(result, cost_model, model)
    macs = np.array([row.flops for row in truth.values()], dtype=np.float64)
    budgets = tuple(float(np.quantile(macs, q)) for q in tier_quantiles(count))
    by_model = picker.pick(TierSettings("macs", budgets, "model"))
    by_measured = picker.pick(TierSettings("macs", budgets, "measured"))
    tiers = []
    for model_pick, measured_pick in zip(by_model, by_measured, strict=True):
        budget = model_pick.budget
        inside = sorted((r.mean_acc for r in truth.values() if r.flops <= budget), reverse=True)

        def judged(arch: Any, inside: list[float] = inside) -> dict[str, Any]:
            accuracy = truth[arch].mean_acc
            return {"arch": str(arch), "macs": truth[arch].flops, "true_accuracy": accuracy,
                    "true_rank": 1 + sum(a > accuracy for a in inside)}  # fmt: skip

        tiers.append({
            "tier": model_pick.tier,
            "budget_macs": model_pick.budget,
            "networks_within": len(inside),
            "table_best_accuracy": inside[0],
            "model": {**judged(model_pick.arch),
                      "predicted_accuracy": 100 * float(model_pick.predicted_accuracy or 0)},
            "measured": {**judged(measured_pick.arch),
                         "inherited_accuracy": 100 * measured_pick.search_best.accuracy
                         if measured_pick.search_best else None},
        })  # fmt: skip
    return {
        "table": str(table),
        "inherited": str(fidelity_path()),
        "num_inherited": len(rows),
        "networks": len(truth),
        "block_model": {"cv_kendall_tau": model.cv_kendall_tau, "alpha": model.alpha},
        "tiers": tiers,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| tier | MACs budget (M) | networks within | table best (%) | programme pick: true % "
        "(rank) | best inherited of 100: true % (rank) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in results["tiers"]:
        m, s = t["model"], t["measured"]
        lines.append(
            f"| {t['tier']} | {t['budget_macs'] / 1e6:.2f} | {t['networks_within']} "
            f"| {t['table_best_accuracy']:.2f} | {m['true_accuracy']:.2f} ({m['true_rank']}) "
            f"| {s['true_accuracy']:.2f} ({s['true_rank']}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=DEFAULT_TABLE)
    parser.add_argument("--tiers", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    results = run(args.table, args.tiers)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")
    print(f"block model CV Kendall tau {results['block_model']['cv_kendall_tau']}")
    print(markdown(results))
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
