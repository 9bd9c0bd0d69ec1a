"""Evaluations per second of the search's executors on the digits supernet: serial vs local
worker processes (and Ray actors), and the executor's own overhead per evaluation.

What is timed is what a search's ``evaluate_fn`` does per batch: inherited-weight accuracy of
architectures (extract, BN recalibration on 256 training images, validation top-1) that the
cache has not seen. The supernet is the digits pipeline's (``tiny`` space, full digits data),
trained for ``--epochs`` (throughput does not depend on how well it is trained). Serial and
pooled passes alternate over ``--rounds`` rounds on the same architectures, so a busy machine
slows both alike; the speed-up is the ratio of the medians. Worker start-up (spawn, imports,
loading the supernet and the batches) is paid once per search and reported apart.

Overhead per evaluation: a no-op task's round trip through the pool, and one worker's time per
evaluation minus the serial time (pickling, pipes, the driver's bookkeeping).

Goal: >= 1.7x evaluations per second with 2 local workers vs serial on this 2-core machine.
Writes ``bench/results/executor_bench.json`` and prints a Markdown table.

Run: ``python -m bench.search.executor_bench [--archs 40 --rounds 3 --ray]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.evaluate.executor import ExecutorConfig, make_pool
from lamoo_nas.evaluate.pooled_accuracy import ScorerSpec, score
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.supernet import load_space
from lamoo_nas.train.checkpoint import load_supernet
from lamoo_nas.train.optim import ScheduleConfig
from lamoo_nas.train.run import RunOptions, SupernetTrainConfig, train_supernet

RESULTS = Path(__file__).resolve().parents[1] / "results" / "executor_bench.json"
GOAL = 1.7


def noop(state: Any, item: Any) -> Any:
    return item


def trained_supernet(folder: Path, epochs: int) -> Path:
    cfg = SupernetTrainConfig(
        space=load_space("tiny"),
        data=DataConfig(),
        schedule=ScheduleConfig(epochs=epochs, warmup_epochs=0.0),
        run=RunOptions(progress=False, tensorboard=False, device="cpu"),
    )
    train_supernet(cfg, folder)
    return folder


def timed_map(pool: Any, task: Any, items: list[Any]) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    out = pool.map(task, items, None)
    return time.perf_counter() - start, out


def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="executor_bench_"))
    supernet = Path(args.supernet) if args.supernet else trained_supernet(tmp / "sn", args.epochs)
    loaded = load_supernet(supernet)
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(loaded.space.sample(rng) for _ in range(4 * args.archs)))
    archs = archs[: args.archs]
    data = loaded.data_config
    spec = ScorerSpec(str(supernet), True, data, max(loaded.space.resolutions), 256,
                      data.eval_batch_size)  # fmt: skip
    backends = {"serial": ExecutorConfig(), "local x1": ExecutorConfig("local", 1)}
    backends["local x2"] = ExecutorConfig("local", args.workers)
    if args.ray:
        import ray

        ray.init(num_cpus=args.workers, include_dashboard=False, configure_logging=False)
        backends["ray x2"] = ExecutorConfig("ray", args.workers)
    pools, startup_s = {}, {}
    for name, config in backends.items():
        start = time.perf_counter()
        pools[name] = make_pool(config, spec, "cpu", 1)
        pools[name].each(noop)  # waits for the setup (supernet and batches loaded)
        startup_s[name] = time.perf_counter() - start
    seconds: dict[str, list[float]] = {name: [] for name in pools}
    reference = None
    for _ in range(args.rounds):
        for name, pool in pools.items():
            elapsed, out = timed_map(pool, score, archs)
            seconds[name].append(elapsed)
            accuracies = [accuracy for accuracy, _ in out]
            reference = reference or accuracies
            assert accuracies == reference, f"{name} scored differently from serial"
    round_trip_ms = {}
    for name, pool in pools.items():
        if name != "serial":
            elapsed, _ = timed_map(pool, noop, list(range(args.noops)))
            round_trip_ms[name] = 1000 * elapsed / args.noops
    for pool in pools.values():
        pool.close()
    if args.ray:
        ray.shutdown()
    median = {name: statistics.median(times) for name, times in seconds.items()}
    rows = []
    for name in pools:
        rows.append(
            {
                "backend": name,
                "evals_per_s": len(archs) / median[name],
                "speedup_vs_serial": median["serial"] / median[name],
                "startup_s": startup_s[name],
                "ms_per_eval": 1000 * median[name] / len(archs),
                "noop_round_trip_ms": round_trip_ms.get(name),
                "seconds_per_round": seconds[name],
            }
        )
    overhead_ms = 1000 * (median["local x1"] - median["serial"]) / len(archs)
    result = {
        "archs": len(archs),
        "rounds": args.rounds,
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],
        "supernet": str(supernet),
        "rows": rows,
        "overhead_ms_per_eval_one_worker_minus_serial": overhead_ms,
        "goal_speedup_local_x2": GOAL,
        "goal_met": median["serial"] / median["local x2"] >= GOAL,
    }
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        "| backend | evals/s | vs serial | ms/eval | no-op round trip | start-up |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["rows"]:
        trip = row["noop_round_trip_ms"]
        lines.append(
            f"| {row['backend']} | {row['evals_per_s']:.2f} | {row['speedup_vs_serial']:.2f}x | "
            f"{row['ms_per_eval']:.1f} | {'-' if trip is None else f'{trip:.2f} ms'} | "
            f"{row['startup_s']:.1f} s |"
        )
    lines.append(
        f"\n{result['archs']} architectures x {result['rounds']} rounds; overhead of one worker "
        f"vs in-process: {result['overhead_ms_per_eval_one_worker_minus_serial']:.2f} ms per "
        f"evaluation; goal {result['goal_speedup_local_x2']}x with 2 local workers: "
        f"{'met' if result['goal_met'] else 'MISSED'}; 1-min load average at the end "
        f"{result['load_average_1min_at_end']:.2f} on {result['cpu_count']} cores"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--noops", type=int, default=300)
    parser.add_argument("--supernet", default=None, help="a trained supernet run (else trains)")
    parser.add_argument("--ray", action="store_true", help="also time Ray actors")
    args = parser.parse_args()
    result = run(args)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(table(result))
    print(f"\nwritten: {RESULTS}")


if __name__ == "__main__":
    main()
