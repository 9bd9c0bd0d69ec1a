"""The documentation's pictures, made from data the project ships, so they can be rebuilt and
checked against the numbers the docs quote.

    python -m bench.docs_figures --truth ../shared/data/nbmacro/nas-bench-macro_cifar10.json

Writes ``docs/images/rank_fidelity_nbmacro.png``: the 100 NAS-Bench-Macro networks of
``bench/search/data/nbmacro_inherited.json`` (accuracies inherited from the CPU-trained
``nbmacro`` supernet of ``bench/nbmacro/cpu_experiment.sh``, top-1 on 10,000 held-out images)
against their stand-alone accuracy in the table, with the rank-fidelity metrics of
:func:`evaluate.fidelity.fidelity_report`, which it prints as a Markdown table. It fails when
the Kendall tau differs from the one the data file records.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lamoo_nas.evaluate.fidelity import fidelity_report, format_markdown, plot_fidelity
from lamoo_nas.evaluate.ground_truth import load_ground_truth
from lamoo_nas.supernet import CostModel, load_space
from lamoo_nas.supernet.nbmacro import arch_from_code

REPO = Path(__file__).resolve().parents[1]
INHERITED = REPO / "bench" / "search" / "data" / "nbmacro_inherited.json"
OUT = REPO / "docs" / "images"


def rank_fidelity_figure(truth_path: Path, out: Path) -> dict[str, float]:
    """Plot the shipped inherited accuracies against ``truth_path``; returns the supernet's
    metrics (Kendall tau overall and within MACs bins)."""
    data = json.loads(INHERITED.read_text())
    space = load_space("nbmacro")
    archs = [arch_from_code(space, code) for code in data["networks"]]
    inherited = np.asarray(list(data["networks"].values()), dtype=np.float64) / 100.0
    truth = load_ground_truth(truth_path, space)
    report = fidelity_report(archs, inherited, truth, CostModel(space, num_classes=10))
    report["table"] = truth_path.name  # not the local path
    plot_fidelity(report, out / "rank_fidelity_nbmacro.png")
    print(format_markdown(report))
    metrics = report["metrics"]["supernet"]
    recorded = data["source"]["kendall_tau_vs_stand_alone"]
    if abs(metrics["kendall_tau"] - recorded) > 1e-6:
        raise SystemExit(
            f"Kendall tau {metrics['kendall_tau']:.4f} differs from the {recorded:.4f} that "
            f"{INHERITED.name} records: is {truth_path} NAS-Bench-Macro's CIFAR-10 table?"
        )
    return {"kendall_tau": metrics["kendall_tau"], "binned_tau": metrics["binned_tau"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--truth", type=Path, required=True, help="nas-bench-macro_cifar10.json")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(rank_fidelity_figure(args.truth, args.out))


if __name__ == "__main__":
    main()
