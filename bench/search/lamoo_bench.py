"""LaMOO vs baselines: hypervolume vs samples on botorch problems, NAS-Bench-201 and -Macro.

    nice python -m bench.search.lamoo_bench [--quick] [--problems dtlz2 nb201-params ...]

NAS-Bench-Macro (``--problems nbmacro-flops``) is on request, not in the default set.

Every strategy starts from the same Sobol initial design (same seed) and spends the same budget.
Each finished run is cached per (problem, strategy, seed) in ``<out>/search_runs_<tag>.json``
(``tag`` is ``full`` or ``quick``, ``out`` defaults to ``bench/results``; a rerun skips it); the
summary of every cached run goes to ``<out>/search_summary_<tag>.json``, a markdown table to
stdout and ``<out>/search_summary_<tag>.md``, and a plot to ``<out>/search_hv_<tag>.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from bench.search.problems import BenchProblem, get_problem
from bench.search.report import summarise, write_plot, write_table
from search import LaMOOOptions, QEHVIOptions, hypervolume_curve, make_strategy

PROBLEMS = ("branincurrin", "vehiclesafety", "dtlz2", "nb201-params", "nb201-flops")
TABULAR = ("nbmacro-flops",)  # on request, not by default
DIAGNOSTICS = ("nb201-params-onehot", "nb201-flops-onehot", "nbmacro-flops-onehot")  # likewise
STRATEGIES = ("random", "nsga2", "qehvi", "lamoo-random", "lamoo-evolution", "lamoo-qehvi")
RESULTS_DIR = Path(__file__).parents[1] / "results"


def run_one(
    problem: BenchProblem, name: str, seed: int, num_samples: int, batch_size: int, pool: int
) -> dict[str, Any]:
    """One search; returns its hypervolume curve and the strategy's own time per proposal."""
    qehvi = QEHVIOptions(pool_size=pool)
    strategy = make_strategy(
        name,
        problem.codec,
        problem.ref_point,
        len(problem.ref_point),
        seed=seed,
        num_init=10,
        qehvi=qehvi,
        lamoo=LaMOOOptions(qehvi=qehvi),
    )
    ask_time_s = 0.0
    notes = []
    while len(strategy.archs) < num_samples:
        start = time.perf_counter()
        archs = strategy.ask(min(batch_size, num_samples - len(strategy.archs)))
        ask_time_s += time.perf_counter() - start
        notes.append(strategy.last_note)
        strategy.tell(archs, problem.evaluate(archs))
    curve = hypervolume_curve(strategy.y, problem.ref_point)
    return {
        "problem": problem.name,
        "strategy": name,
        "seed": seed,
        "hv": curve.tolist(),
        "ask_time_per_proposal_s": ask_time_s / num_samples,
        "relaxed_asks": sum("relaxed 0 level" not in n for n in notes if "relaxed" in n),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 40 samples, small pools")
    parser.add_argument(
        "--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS + TABULAR + DIAGNOSTICS
    )
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="skip seeds below this (split a run across jobs)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    num_seeds = args.seeds or (2 if args.quick else 5)
    num_samples, batch_size = (40, 5) if args.quick else (100, 5)
    pool = 300 if args.quick else 1000
    tag = "quick" if args.quick else "full"
    args.out.mkdir(parents=True, exist_ok=True)
    cache_path = args.out / f"search_runs_{tag}.json"
    runs: list[dict[str, Any]] = json.loads(cache_path.read_text()) if cache_path.exists() else []
    done = {(r["problem"], r["strategy"], r["seed"]) for r in runs}
    for problem_name in args.problems:
        problem = get_problem(problem_name)
        for seed in range(args.first_seed, num_seeds):
            for name in args.strategies:
                if (problem.name, name, seed) in done:
                    continue
                start = time.perf_counter()
                runs.append(run_one(problem, name, seed, num_samples, batch_size, pool))
                print(
                    f"{problem.name:14s} {name:16s} seed {seed}: final HV "
                    f"{runs[-1]['hv'][-1]:.5g} ({time.perf_counter() - start:.1f} s)",
                    flush=True,
                )
                tmp = cache_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(runs))
                os.replace(tmp, cache_path)
    max_hv = {p: get_problem(p).max_hv for p in args.problems}
    summary = summarise(runs, max_hv)
    (args.out / f"search_summary_{tag}.json").write_text(json.dumps(summary, indent=1))
    table = write_table(summary, args.out / f"search_summary_{tag}.md")
    print(table)
    write_plot(runs, max_hv, args.out / f"search_hv_{tag}.png")


if __name__ == "__main__":
    main()
