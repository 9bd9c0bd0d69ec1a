"""LaMOO vs its inner samplers alone: hypervolume vs samples on botorch problems (DTLZ2 also at
d=30), NAS-Bench-201 and a supernet's inherited accuracies on NAS-Bench-Macro's space and on the
``cifar`` space (45 decisions).

    flock /tmp/slot_b.lock nice python -m bench.search.lamoo_bench [--quick]
        [--problems dtlz2-30 nb201-flops ...] [--strategies qehvi lamoo-qehvi ...]
        [--seeds 7] [--first-seed 0] [--report] [--at 20 30 50 67]

Every strategy starts from the same Sobol initial design (same seed) and spends the same budget.
Each finished run is one file, ``<out>/search_runs_<tag>/<problem>/<strategy>/seed<k>.json``
(``tag`` is ``full`` or ``quick``, ``out`` defaults to ``bench/results``), written atomically
with the fingerprint of the settings it ran with: a rerun skips the runs whose fingerprint
matches, so a killed benchmark resumes, and jobs given other problems, strategies or seeds can
run at the same time. ``--report`` only summarises what is cached. The summary of every cached
run of the chosen problems and strategies goes to ``<out>/search_summary_<tag>.json``, a
markdown table (with the paired Wilcoxon test of each LaMOO variant against each baseline) to
stdout and ``<out>/search_summary_<tag>.md``, and a plot to ``<out>/search_hv_<tag>.png``;
``--at`` adds the mean hypervolume after the given sample counts (where a curve is won or lost).
NAS-Bench-Macro's table (``nbmacro-flops``) and the one-hot NB201 diagnostics are on request.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.search import nas_surrogate, space_surrogate
from bench.search.problems import BenchProblem, get_problem
from bench.search.report import curve_table, summarise, write_plot, write_table
from lamoo_nas.search import (
    CMAESOptions,
    LaMOOOptions,
    QEHVIOptions,
    hypervolume_curve,
    make_strategy,
)
from lamoo_nas.search.lamoo.tree import TreeOptions
from lamoo_nas.search.lamoo.trust import TrustRegionOptions

PROBLEMS = (
    "branincurrin",
    "vehiclesafety",
    "dtlz2",
    "dtlz2-30",
    "nb201-params",
    "nb201-flops",
    "nbmacro-supernet",
    "cifar-supernet",
    "nb201-iclr",
    "dtlz7",
)
ON_REQUEST = ("nbmacro-flops", "nb201-params-onehot", "nb201-flops-onehot", "nbmacro-flops-onehot")
RESULTS_DIR = Path(__file__).parents[1] / "results"


@dataclass(frozen=True)
class Variant:
    """A benchmarked strategy: a factory name and what its options change from the bench's."""

    factory: str
    lamoo: dict[str, Any] = dataclasses.field(default_factory=dict)
    qehvi: dict[str, Any] = dataclasses.field(default_factory=dict)


SPEC_TREE = TreeOptions(split_min=16, svm_c=1.0)
VARIANTS: dict[str, Variant] = {
    "random": Variant("random"),
    "nsga2": Variant("nsga2"),
    "qehvi": Variant("qehvi"),
    "lamoo-random": Variant("lamoo-random"),
    "lamoo-evolution": Variant("lamoo-evolution"),
    "lamoo-qehvi": Variant("lamoo-qehvi"),
    "cmaes": Variant("cmaes"),
    "lamoo-cmaes": Variant("lamoo-cmaes"),
    "lamoo-trust": Variant("lamoo-trust"),
    "pymoo-nsga2": Variant("pymoo-nsga2"),
    "pymoo-nsga3": Variant("pymoo-nsga3"),
    # ablations of the qehvi sampler (continuous problems; "pool" runs anywhere)
    "lamoo-qehvi-strict": Variant("lamoo-qehvi", lamoo={"region_mode": "strict"}),
    "lamoo-qehvi-local": Variant("lamoo-qehvi", lamoo={"model": "local"}),
    "lamoo-qehvi-paper": Variant("lamoo-qehvi", qehvi={"start_rule": "random"}),
    "lamoo-qehvi-pool": Variant("lamoo-qehvi", qehvi={"acquisition": "pool"}),
    "qehvi-pool": Variant("qehvi", qehvi={"acquisition": "pool"}),
    # the tree as the paper describes it (leaves of 16, sklearn's C=1): the defaults before
    # search/lamoo/tree.py chose 8 and C=10 on pilot seeds (100+)
    "lamoo-random-spec": Variant("lamoo-random", lamoo={"tree": SPEC_TREE}),
    "lamoo-evolution-spec": Variant("lamoo-evolution", lamoo={"tree": SPEC_TREE}),
    # ablations of the cmaes sampler (DTLZ2 d=30 pilots): leaves of 16, at most 2 runs, and
    # runs of 15 points (the plain strategy's size at d = 30, q = 5)
    "lamoo-cmaes-split16": Variant("lamoo-cmaes", lamoo={"tree": TreeOptions(split_min=16)}),
    "lamoo-cmaes-runs2": Variant("lamoo-cmaes", lamoo={"max_runs": 2}),
    "lamoo-cmaes-pop15": Variant("lamoo-cmaes", lamoo={"cmaes": CMAESOptions(population_size=15)}),
    # no split before 31 samples and runs of 15: plain CMA-ES until the tree splits (d = 30)
    "lamoo-cmaes-unsplit": Variant(
        "lamoo-cmaes",
        lamoo={"tree": TreeOptions(split_min=31), "cmaes": CMAESOptions(population_size=15)},
    ),
    # cuts kept only where they tell held-out samples apart (4 folds, accuracy >= 0.6 / 0.7)
    "lamoo-cmaes-cv": Variant("lamoo-cmaes", lamoo={"tree": TreeOptions(cut_folds=4)}),
    "lamoo-cmaes-cv70": Variant(
        "lamoo-cmaes", lamoo={"tree": TreeOptions(cut_folds=4, cut_min_accuracy=0.7)}
    ),
    "lamoo-random-cv": Variant("lamoo-random", lamoo={"tree": TreeOptions(cut_folds=4)}),
    # the trust region's candidates picked by qLogNEHVI (the qehvi options) instead of at random
    "lamoo-trust-gp": Variant("lamoo-trust", lamoo={"trust": TrustRegionOptions(pick="gp")}),
}
STRATEGIES = tuple(VARIANTS)[:6]
"""The default set; the others (CMA-ES and pymoo baselines, ablations) on request."""


@dataclass(frozen=True)
class BenchSettings:
    """What every run of one benchmark tag shares (part of each cached run's fingerprint)."""

    num_samples: int
    batch_size: int
    num_init: int
    qehvi: QEHVIOptions


FULL = BenchSettings(
    num_samples=100,
    batch_size=5,
    num_init=10,
    # cut from botorch's defaults (10 restarts, 512 raw samples, 200 iterations, 128 MC
    # samples, a GP fit to convergence) to fit the CPU budget; both qEHVI and LaMOO(qEHVI)
    qehvi=QEHVIOptions(
        pool_size=1000, num_restarts=4, raw_samples=128, maxiter=15, mc_samples=64, fit_maxiter=50
    ),
)
PROBLEM_QEHVI: dict[str, dict[str, Any]] = {
    # qLogNEHVI with 3 objectives partitions the front once per MC sample and pending point:
    # 64 samples cost ~390 s per run here (measured), so this problem gets 16, for both qEHVI
    # and LaMOO(qEHVI)
    "vehiclesafety": {"mc_samples": 16},
}
"""Per-problem changes to the bench's qEHVI options (both sides of every pair)."""
QUICK = BenchSettings(
    num_samples=40,
    batch_size=5,
    num_init=10,
    qehvi=QEHVIOptions(
        pool_size=300, num_restarts=2, raw_samples=64, maxiter=20, mc_samples=32, fit_maxiter=50
    ),
)


def _problem_qehvi(problem: str, variant: Variant) -> dict[str, Any]:
    return PROBLEM_QEHVI.get(problem, {}) if "qehvi" in variant.factory else {}


def _options(
    settings: BenchSettings, variant: Variant, problem: str
) -> tuple[QEHVIOptions, LaMOOOptions]:
    """The qEHVI and LaMOO options a run of ``variant`` on ``problem`` uses (library defaults
    changed by the bench's settings, the problem's and the variant's)."""
    changes = {**_problem_qehvi(problem, variant), **variant.qehvi}
    qehvi = dataclasses.replace(settings.qehvi, **changes)
    return qehvi, dataclasses.replace(LaMOOOptions(qehvi=qehvi), **variant.lamoo)


PROBLEM_DATA: dict[str, Callable[[], Path]] = {
    "nbmacro-supernet": nas_surrogate.fidelity_path,
    "cifar-supernet": space_surrogate.data_path,
}
"""The data file a surrogate problem is fitted on (part of its runs' fingerprints)."""


def _data_digest(problem: str) -> str | None:
    """SHA-256 of the data file ``problem`` is fitted on (None: no such file)."""
    path = PROBLEM_DATA[problem]() if problem in PROBLEM_DATA else None
    if path is None or not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(settings: BenchSettings, variant: Variant, problem: str = "") -> str:
    """SHA-256 (16 hex digits) of the settings, variant and per-problem options of a run, of
    the data a surrogate problem is fitted on (so new data reruns its problem) and, for a
    LaMOO variant, of every resolved LaMOO option (so a changed library default invalidates
    the cached runs it would change)."""
    parts: list[Any] = [dataclasses.asdict(settings), dataclasses.asdict(variant)]
    digest = _data_digest(problem)
    if digest is not None:
        parts.append(digest)
    if _problem_qehvi(problem, variant):
        parts.append(_problem_qehvi(problem, variant))
    if variant.factory.startswith("lamoo"):
        lamoo = dataclasses.asdict(_options(settings, variant, problem)[1])
        sampler = variant.factory.partition("-")[2] or lamoo["sampler"]  # lamoo-<sampler>
        for owner, keys in {"cmaes": ("cmaes", "max_runs"), "trust": ("trust",)}.items():
            if sampler != owner:  # runs cached before these samplers existed stay valid
                for key in keys:
                    del lamoo[key]
        if lamoo["tree"]["cut_folds"] == 0:  # runs cached before the held-out check stay valid
            del lamoo["tree"]["cut_folds"], lamoo["tree"]["cut_min_accuracy"]
        parts.append(lamoo)
    text = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_strategy(problem: BenchProblem, name: str, seed: int, settings: BenchSettings) -> Any:
    """The strategy ``name`` of :data:`VARIANTS` on ``problem`` with the bench's options."""
    variant = VARIANTS[name]
    qehvi, lamoo = _options(settings, variant, problem.name)
    return make_strategy(
        variant.factory,
        problem.codec,
        problem.ref_point,
        len(problem.ref_point),
        seed=seed,
        num_init=settings.num_init,
        options={"lamoo": lamoo, "qehvi": qehvi}.get(variant.factory.partition("-")[0]),
    )


def run_one(problem: BenchProblem, name: str, seed: int, settings: BenchSettings) -> dict[str, Any]:
    """One search; returns its hypervolume curve and the strategy's own time per proposal."""
    strategy = build_strategy(problem, name, seed, settings)
    ask_time_s = 0.0
    notes = []
    start = time.perf_counter()
    while len(strategy.archs) < settings.num_samples:
        ask_start = time.perf_counter()
        archs = strategy.ask(min(settings.batch_size, settings.num_samples - len(strategy.archs)))
        ask_time_s += time.perf_counter() - ask_start
        notes.append(strategy.last_note)
        strategy.tell(archs, problem.evaluate(archs))
    curve = hypervolume_curve(strategy.y, problem.ref_point)
    return {
        "problem": problem.name,
        "strategy": name,
        "seed": seed,
        "fingerprint": fingerprint(settings, VARIANTS[name], problem.name),
        "hv": curve.tolist(),
        "ask_time_per_proposal_s": ask_time_s / settings.num_samples,
        "wall_s": time.perf_counter() - start,
        "relaxed_asks": sum("relaxed 0 level" not in n for n in notes if "relaxed" in n),
    }


def run_path(root: Path, problem: str, name: str, seed: int) -> Path:
    return root / problem / name / f"seed{seed}.json"


def load_runs(
    root: Path,
    problems: list[str],
    names: list[str],
    settings: BenchSettings,
    seeds: range | None = None,
) -> list:
    """Every cached run of ``problems`` x ``names`` whose fingerprint matches ``settings``
    (only the seeds in ``seeds``, when given)."""
    runs = []
    for problem in problems:
        for name in names:
            want = fingerprint(settings, VARIANTS[name], problem)
            for path in sorted((root / problem / name).glob("seed*.json")):
                run = json.loads(path.read_text())
                if run.get("fingerprint") == want and (seeds is None or run["seed"] in seeds):
                    runs.append(run)
    return runs


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, 40 samples, small pools")
    parser.add_argument(
        "--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS + ON_REQUEST
    )
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=VARIANTS)
    parser.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="run seeds 0 .. N-1 (default 7) and summarise only those (default: every cached seed)",
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="skip seeds below this (split a run across jobs)"
    )
    parser.add_argument("--report", action="store_true", help="summarise cached runs only")
    parser.add_argument(
        "--at", type=int, nargs="+", default=[], help="also print the mean HV after these samples"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = QUICK if args.quick else FULL
    num_seeds = args.seeds or (2 if args.quick else 7)
    tag = "quick" if args.quick else "full"
    root = args.out / f"search_runs_{tag}"
    for problem_name in [] if args.report else args.problems:
        problem = get_problem(problem_name)
        for seed in range(args.first_seed, num_seeds):
            for name in args.strategies:
                path = run_path(root, problem.name, name, seed)
                want = fingerprint(settings, VARIANTS[name], problem.name)
                if path.exists() and json.loads(path.read_text()).get("fingerprint") == want:
                    continue
                run = run_one(problem, name, seed, settings)
                _write_atomic(path, json.dumps(run))
                print(
                    f"{problem.name:16s} {name:20s} seed {seed}: final HV {run['hv'][-1]:.5g} "
                    f"({run['wall_s']:.1f} s)",
                    flush=True,
                )
    reported = None if args.seeds is None else range(args.first_seed, args.seeds)
    runs = load_runs(root, args.problems, args.strategies, settings, reported)
    max_hv = {p: get_problem(p).max_hv for p in args.problems}
    summary = summarise(runs, max_hv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"search_summary_{tag}.json").write_text(json.dumps(summary, indent=1))
    print(write_table(summary, args.out / f"search_summary_{tag}.md"))
    write_plot(runs, max_hv, args.out / f"search_hv_{tag}.png")
    if args.at:
        if max(args.at) > settings.num_samples or min(args.at) < 1:
            raise SystemExit(f"--at {args.at}: sample counts must lie in 1..{settings.num_samples}")
        print("\n" + curve_table(runs, args.at))


if __name__ == "__main__":
    main()
