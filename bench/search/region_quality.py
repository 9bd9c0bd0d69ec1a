"""How selective LaMOO's region is: points drawn uniformly inside the selected region against
points drawn from the whole space and against the region's own samples.

    python -m bench.search.region_quality [--problems dtlz2 dtlz2-30 ...] [--seeds 7]
        [--at 30 60 95]

For each seed, a LaMOO(random) search runs with the search benchmark's settings
(:data:`bench.search.lamoo_bench.FULL`); when it holds ``at`` samples, its next ``ask`` builds
the tree and selects the leaf it proposes in (``last_tree``, ``last_path``). With ``k`` the
leaf's sample count: the hypervolume (the problem's reference point) of the leaf's ``k``
samples, of ``k`` points drawn uniformly from the space and of ``k`` drawn uniformly inside the
region (rejection; the mean of 20 such draws each), and the share of 20,000 uniform points the
region accepts. LaMOO(random) proposes like the third set, so the gap between the second and
third is what the partition buys, and the gap between the third and the first is what uniform
sampling inside the region leaves on the table. Results: ``bench/results/region_quality.json``
and a markdown table on stdout.
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
from lamoo_nas.search import hypervolume
from lamoo_nas.search.lamoo.tree import region_accepts

REPEATS = 20
PROBE = 20_000


def _region_draws(
    problem: BenchProblem, cuts: tuple, k: int, rng: np.random.Generator
) -> list[Any] | None:
    """``k`` uniform points inside the region of ``cuts`` (None when 50 rounds find fewer)."""
    found: list[Any] = []
    for _ in range(50):
        draw = problem.codec.sample(rng, 4096)
        inside = region_accepts(cuts, problem.codec.encode(draw))
        found += [a for a, ok in zip(draw, inside) if ok]
        if len(found) >= k:
            return found[:k]
    return None


def measure(problem: BenchProblem, seed: int, at: list[int]) -> list[dict[str, Any]]:
    """One LaMOO(random) search of ``problem``; a row per sample count in ``at``."""
    strategy = build_strategy(problem, "lamoo-random", seed, FULL)
    rng = np.random.default_rng(seed)
    ref = problem.ref_point
    rows = []
    for target in sorted(at):
        while True:  # each ask rebuilds the tree on the told samples and selects a region
            told = len(strategy.archs)
            archs = strategy.ask(min(FULL.batch_size, max(target - told, 1)))
            leaf = strategy.last_tree[strategy.last_path[-1]] if strategy.last_path else None
            strategy.tell(archs, problem.evaluate(archs))
            if told >= target and leaf is not None:
                break
        # the problems have no budget: the tree's samples are all told points, in order
        samples = [strategy.archs[i] for i in leaf.samples]
        k = len(samples)
        probe = problem.codec.encode(problem.codec.sample(rng, PROBE))
        box, region = [], []
        for _ in range(REPEATS):
            box.append(hypervolume(problem.evaluate(problem.codec.sample(rng, k)), ref))
            inside = _region_draws(problem, leaf.cuts, k, rng)
            if inside is not None:
                region.append(hypervolume(problem.evaluate(inside), ref))
        rows.append(
            {
                "problem": problem.name,
                "seed": seed,
                "samples": target,
                "depth": len(leaf.cuts),
                "leaf_samples": k,
                "region_share": float(region_accepts(leaf.cuts, probe).mean()),
                "hv_leaf_samples": hypervolume(problem.evaluate(samples), ref),
                "hv_uniform_space": float(np.mean(box)),
                "hv_uniform_region": float(np.mean(region)) if region else None,
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """Mean over seeds per problem and sample count."""
    lines = [
        "| problem | samples | depth | leaf k | region share | HV: k uniform in space | "
        "k uniform in region | the leaf's k samples |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = sorted({(r["problem"], r["samples"]) for r in rows})
    for problem, samples in keys:
        group = [r for r in rows if r["problem"] == problem and r["samples"] == samples]
        region = [r["hv_uniform_region"] for r in group if r["hv_uniform_region"] is not None]

        def mean(key: str, group: list[dict[str, Any]] = group) -> float:
            return float(np.mean([r[key] for r in group]))

        lines.append(
            f"| {problem} | {samples} | {mean('depth'):.1f} | {mean('leaf_samples'):.1f} | "
            f"{mean('region_share'):.3f} | {mean('hv_uniform_space'):.4g} | "
            f"{np.mean(region) if region else float('nan'):.4g} | {mean('hv_leaf_samples'):.4g} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", nargs="+", default=["dtlz2", "dtlz2-30"])
    parser.add_argument("--seeds", type=int, default=7, help="seeds 0 .. N-1")
    parser.add_argument("--at", type=int, nargs="+", default=[30, 60, 95])
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "region_quality.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.problems:
        problem = get_problem(name)
        for seed in range(args.seeds):
            rows += measure(problem, seed, args.at)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
