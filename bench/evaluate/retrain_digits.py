"""Retrain the smallest, a middle and the largest tiny-space architecture on digits with the
default recipe (``conf/recipe/digits.yaml``): test top-1, train time (wall and this process's
CPU time, which is what counts on a shared box), export time. Target: >= 97% test top-1 and
~30-40 s per arch on 2 CPU cores.

Writes ``bench/results/retrain_digits.json`` and prints a markdown table.

Run: ``python -m bench.evaluate.retrain_digits [--threads 1 --archs smallest largest]``.
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
import yaml

from lamoo_nas.evaluate.retrain import retrain_and_export
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.supernet import load_space
from lamoo_nas.train.recipes import load_recipe
from lamoo_nas.train.retrain import RetrainOptions

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "retrain_digits.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--archs", nargs="+", default=["smallest", "middle", "largest"])
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    space = load_space("tiny")
    recipe = load_recipe("digits")
    if args.epochs is not None:
        recipe = dataclasses.replace(recipe, epochs=args.epochs)
    data = DataConfig(**yaml.safe_load((ROOT / "conf" / "data" / "digits.yaml").read_text()))
    archs = {
        "smallest": space.smallest(),
        "middle": space.sample(np.random.default_rng(0)),
        "largest": space.largest(),
    }
    options = RetrainOptions(tensorboard=False, progress=False)
    rows = []
    for name in args.archs:
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = time.perf_counter(), time.process_time()
            result = retrain_and_export(
                archs[name], space, data, recipe, Path(tmp) / "run", options
            )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        m = result.metrics
        rows.append({"arch": name, "top1": m["top1"], "macs": m["macs"], "params": m["params"],
                     "epochs": m["epochs"], "train_time_s": m["train_time_s"],
                     "total_wall_s": round(wall, 2), "total_cpu_s": round(cpu, 2),
                     "latency_cpu_ms": m["latency_cpu_ms"], "threads": args.threads})  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
