"""Quick start from Python: train a supernet, search it under a MACs budget, retrain the winner.

The same three jobs as ``nas-train-supernet``, ``nas-search`` and ``nas-retrain``, through
:mod:`commands.api`, on the bundled digits data (nothing is downloaded). Run from the
repository root (or anywhere the package is installed):

    python examples/quickstart.py runs/quickstart          # digits defaults, a few minutes on CPU
    python examples/quickstart.py runs/quickstart --quick  # a tiny schedule, well under a minute

Each run directory is guarded: give a new folder for a new run (``api.pipeline`` is the one
job that a rerun with the same folder resumes stage by stage).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lamoo_nas.commands import api

QUICK = {
    "supernet": {
        "schedule.epochs": 1,
        "data.max_train_images": 128,
        "data.calib_images": 64,
        "progress": False,
        "tensorboard": False,
    },
    "search": {"num_samples": 8, "batch_size": 4, "num_init": 4, "calib_images": 32},
    "retrain": {"recipe.epochs": 1, "latency.repeats": 3, "latency.warmup": 1, "progress": False},
}
"""Settings that shrink every job to seconds (the defaults are the digits demo's)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the three run directories")
    parser.add_argument("--quick", action="store_true", help="tiny schedule (seconds)")
    parser.add_argument("--budget-macs", type=float, default=600e3, help="MACs budget")
    args = parser.parse_args()
    quick = QUICK if args.quick else {"supernet": {}, "search": {}, "retrain": {}}

    trained = api.train_supernet(quick["supernet"], run_dir=args.out / "supernet")
    print(f"supernet: {trained.checkpoint}")

    found = api.search(
        trained.run_dir,
        {"budget.macs": args.budget_macs, **quick["search"]},
        run_dir=args.out / "search",
    )
    print(f"front ({len(found.pareto)} architectures, cheapest first):")
    for row in found.pareto:
        print(f"  {100 * row.accuracy:6.2f} %  {row.macs:>10,} MACs  {row.params:>8,} params")

    done = api.retrain(
        found.run_dir / "best_arch.json", quick["retrain"], run_dir=args.out / "retrain"
    )
    metrics = done.metrics
    print(
        f"winner: test top-1 {100 * metrics['top1']:.2f} %, {metrics['macs']:,} MACs, "
        f"{metrics['params']:,} params, {metrics['latency_cpu_ms']:.2f} ms CPU (batch 1)"
    )
    if done.export_paths is not None:
        print(f"exported: {done.export_paths.root}")


if __name__ == "__main__":
    main()
