"""Where LaMOO(CMA-ES) spends its samples: how often its runs start and how far they get, and
how much the selected region tells apart the draws of the run it filters.

    python -m bench.search.cmaes_runs [--problems dtlz2-30 ...] [--seeds 7] [--at 30 60 90]
        [--draws 400]

For each seed, a LaMOO(CMA-ES) search runs with the search benchmark's settings
(:data:`bench.search.lamoo_bench.FULL`) to its budget. Per search: how many CMA-ES runs were
started, how many asks continued a run that already existed, and the most generations any run
was told. When the search holds ``at`` samples, ``draws`` points are drawn from the
distribution of the run that the next ask used (its mean, step size and covariance, with this
script's own generator, so the search is not disturbed), clipped to the unit cube, split by the
selected leaf's region and evaluated: for the points the region accepts and for those it
rejects, the mean dominance number against every told sample (how many told samples dominate
the point; lower is better) and the share that no told sample dominates. LaMOO keeps only the
accepted draws, so the gap between the two is what its partition buys per evaluation. For
comparison, plain CMA-ES on the same seed: the generations it was told and its step size at
the end (the unit cube's side is 1). Results:
``bench/results/cmaes_runs.json`` and markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.search.lamoo_bench import FULL, RESULTS_DIR, build_strategy
from bench.search.problems import BenchProblem, get_problem
from lamoo_nas.search.lamoo.tree import region_accepts
from lamoo_nas.search.population import fitness_keys


def _run_draws(strategy: Any, key: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, d)`` unit-cube draws from run ``key``'s distribution (clipped to the cube)."""
    run = strategy.leaf_runs[key]
    cov = run.cma._sigma**2 * run.cma._C
    return np.clip(rng.multivariate_normal(run.mean, cov, size=n), 0.0, 1.0)


def _split_quality(
    problem: BenchProblem, strategy: Any, draws: np.ndarray
) -> dict[str, float | None]:
    """Dominance number and non-dominated share of the draws the leaf accepts vs rejects."""
    leaf = strategy.last_tree[strategy.last_path[-1]]
    codec = problem.codec
    archs = codec.decode(draws)
    inside = region_accepts(leaf.cuts, codec.encode(archs))
    y = np.asarray(problem.evaluate(archs), dtype=np.float64)
    dominated_by = fitness_keys(y, strategy.y, np.asarray(problem.ref_point))[0]
    out: dict[str, float | None] = {"accepted_share": float(inside.mean())}
    for name, mask in (("in", inside), ("out", ~inside)):
        out[f"dominance_{name}"] = float(dominated_by[mask].mean()) if mask.any() else None
        out[f"front_{name}"] = float((dominated_by[mask] == 0).mean()) if mask.any() else None
    return out


def measure(
    problem: BenchProblem, seed: int, at: list[int], num_draws: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One LaMOO(CMA-ES) search of ``problem``: its run statistics and a probe row per sample
    count in ``at``."""
    strategy = build_strategy(problem, "lamoo-cmaes", seed, FULL)
    rng = np.random.default_rng(seed)
    probes, started, continued = [], 0, 0
    pending = sorted(at)
    while len(strategy.archs) < FULL.num_samples:
        told = len(strategy.archs)
        archs = strategy.ask(min(FULL.batch_size, FULL.num_samples - told))
        note = strategy.last_note
        key = note.split("CMA-ES ")[1].split(" ")[0] if "CMA-ES " in note else None
        if key is not None:
            started += strategy._last_started is not None
            continued += strategy._last_started is None
        if pending and told >= pending[0] and key in strategy.leaf_runs:
            draws = _run_draws(strategy, key, num_draws, rng)
            row = {"problem": problem.name, "seed": seed, "samples": told}
            probes.append({**row, **_split_quality(problem, strategy, draws)})
            pending.pop(0)
        strategy.tell(archs, problem.evaluate(archs))
    stats = {
        "problem": problem.name,
        "seed": seed,
        "runs_started": started,
        "asks_continuing_a_run": continued,
        "max_generation": max(run.cma.generation for run in strategy.leaf_runs.values()),
    }
    return stats, probes


def plain_cmaes(problem: BenchProblem, seed: int) -> dict[str, Any]:
    """Plain CMA-ES on ``problem`` to the budget: generations told, restarts, final step size."""
    strategy = build_strategy(problem, "cmaes", seed, FULL)
    while len(strategy.archs) < FULL.num_samples:
        archs = strategy.ask(min(FULL.batch_size, FULL.num_samples - len(strategy.archs)))
        strategy.tell(archs, problem.evaluate(archs))
    run = strategy.run
    return {
        "problem": problem.name,
        "seed": seed,
        "generations": int(run.cma.generation),
        "restarts": strategy.restarts,
        "final_sigma": float(run.cma._sigma),
    }


def _mean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")


def tables(
    stats: list[dict[str, Any]], probes: list[dict[str, Any]], plain: list[dict[str, Any]]
) -> str:
    """Run statistics per problem (LaMOO's runs, plain CMA-ES's run) and the probe per problem
    and sample count (seed means)."""
    lines = [
        "| problem | seeds | runs started | asks continuing a run | most generations of a run "
        "| CMA-ES: generations | CMA-ES: final step size |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for problem in sorted({s["problem"] for s in stats}):
        group = [s for s in stats if s["problem"] == problem]
        alone = [r for r in plain if r["problem"] == problem]
        lines.append(
            f"| {problem} | {len(group)} | {_mean([s['runs_started'] for s in group]):.1f} | "
            f"{_mean([s['asks_continuing_a_run'] for s in group]):.1f} | "
            f"{_mean([s['max_generation'] for s in group]):.1f} | "
            f"{_mean([r['generations'] for r in alone]):.1f} | "
            f"{_mean([r['final_sigma'] for r in alone]):.3f} |"
        )
    lines += [
        "",
        "| problem | samples | region accepts | dominance no. in / out | on the front in / out |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for problem, samples in sorted({(p["problem"], p["samples"]) for p in probes}):
        group = [p for p in probes if p["problem"] == problem and p["samples"] == samples]

        def mean(key: str, group: list[dict[str, Any]] = group) -> float:
            return _mean([p[key] for p in group])

        lines.append(
            f"| {problem} | {samples} | {mean('accepted_share'):.2f} | "
            f"{mean('dominance_in'):.2f} / {mean('dominance_out'):.2f} | "
            f"{mean('front_in'):.3f} / {mean('front_out'):.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["dtlz2-30"])
    parser.add_argument("--seeds", type=int, default=7, help="seeds 0 .. N-1")
    parser.add_argument("--at", type=int, nargs="+", default=[30, 60, 90])
    parser.add_argument("--draws", type=int, default=400, help="draws per probe")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "cmaes_runs.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    stats, probes, plain = [], [], []
    for name in args.problems:
        problem = get_problem(name)
        for seed in range(args.seeds):
            seed_stats, seed_probes = measure(problem, seed, args.at, args.draws)
            stats.append(seed_stats)
            probes += seed_probes
            plain.append(plain_cmaes(problem, seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"runs": stats, "probes": probes, "cmaes": plain}, indent=1))
    print(tables(stats, probes, plain))


if __name__ == "__main__":
    main()
