"""Inherited accuracy of one supernet's architectures by the three consumers that report it.

    nice python -m bench.evaluate.scorer_agreement --supernet RUN_DIR [--num-archs 20]

For the smallest, the largest and ``--num-archs`` - 2 uniformly drawn architectures (seed
``--seed``) it reports the top-1 of ``nas-evaluate supernet=RUN arch=...`` (validation split,
the data config's ``calib_images``), of the search's evaluator given the same number of
calibration images, and, for the architectures the training run logged each epoch, the last
``val_acc_<name>`` of its ``metrics.jsonl``. Only names that exist in older versions of the
code are called, so the same script measures a checkout from before the one scorer (run it
with that checkout first on ``PYTHONPATH``). Writes ``bench/results/scorer_agreement_<name>
.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.measure import LatencyOptions, evaluate_supernet_arch
from lamoo_nas.runtime.data import build_data
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.train.checkpoint import load_supernet
from lamoo_nas.train.logs import read_metrics

RESULTS = Path(__file__).resolve().parents[1] / "results"


def draw_archs(space: SearchSpace, count: int, seed: int) -> list[ArchConfig]:
    """The smallest, the largest and distinct uniform samples, ``count`` in all."""
    rng = np.random.default_rng(seed)
    archs = [space.smallest(), space.largest()]
    for _ in range(100 * count):
        if len(archs) >= count:
            break
        arch = space.sample(rng)
        if arch not in archs:
            archs.append(arch)
    return archs


def logged_accuracies(run_dir: Path, space: SearchSpace) -> dict[ArchConfig, float]:
    """The last logged ``val_acc_smallest`` / ``val_acc_largest`` by architecture."""
    rows = read_metrics(run_dir) if run_dir.is_dir() else []
    if not rows:
        return {}
    last = rows[-1]
    named = {"smallest": space.smallest(), "largest": space.largest()}
    return {
        arch: float(last[f"val_acc_{n}"]) for n, arch in named.items() if f"val_acc_{n}" in last
    }


def measure(supernet: Path, archs: list[ArchConfig]) -> list[dict[str, object]]:
    loaded = load_supernet(supernet)
    data = loaded.data_config
    bundle = build_data(data, max(loaded.space.resolutions))
    evaluator = InheritedAccuracyEvaluator.from_bundle(
        loaded.model, bundle, data.calib_images, data.eval_batch_size
    )
    logged = logged_accuracies(supernet, loaded.space)
    latency = LatencyOptions(warmup=1, repeats=1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        arch_path = Path(tmp) / "arch.json"
        for arch in archs:
            arch_path.write_text(json.dumps(loaded.space.arch_to_json(arch)))
            measured = evaluate_supernet_arch(
                supernet, arch_path, "val", torch.device("cpu"), latency
            )
            rows.append(
                {
                    "arch": loaded.space.arch_to_json(arch),
                    "resolution": arch.resolution,
                    "nas_evaluate": float(measured["top1"]),
                    "search": float(evaluator.accuracy([arch])[0]),
                    "training_log": logged.get(arch),
                }
            )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| # | resolution | nas-evaluate | search | training log |", "|---|---|---|---|---|"]
    for i, row in enumerate(rows):
        log = row["training_log"]
        lines.append(
            f"| {i} | {row['resolution']} | {row['nas_evaluate']:.4f} | {row['search']:.4f} | "
            + (f"{log:.4f} |" if isinstance(log, float) else "- |")
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", required=True, type=Path, help="supernet run dir")
    parser.add_argument("--num-archs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="digits_tiny")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = load_supernet(args.supernet).space
    rows = measure(args.supernet, draw_archs(space, args.num_archs, args.seed))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"scorer_agreement_{args.name}.json"
    out.write_text(json.dumps({"supernet": str(args.supernet), "rows": rows}, indent=1) + "\n")
    print(table(rows))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
