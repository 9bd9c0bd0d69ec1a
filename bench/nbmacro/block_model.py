"""The block model and MathNAS search against NAS-Bench-Macro's ground truth.

One supernet of the CPU experiment (``experiment=nbmacro_cifar_cpu``), its inherited
accuracies cached on disk (``accuracy_cache.jsonl`` in ``--out``: a killed run resumes and
a rerun costs nothing), and three questions answered with the table's accuracies:

1. **Fidelity**: Kendall tau over all 3,969 networks (and within 10 MACs bins, top-1 %
   recall) of the block model fitted on: the 100 stratified networks the README's rank
   fidelity uses, MathNAS's single-change design (17 networks around ``11111111``; 3 bases),
   30/50/100 uniformly drawn networks, and a LaMOO search's own 100 evaluations; beside the
   supernet's own scores on the networks it scored. Then the limits: the additive model
   fitted to all 3,969 *true* accuracies (the best any block model can rank), adjacent-layer
   pairwise terms added (on the truth and on 100 supernet scores: do they pay?), and a block
   model fitted on every network the run scored (does more data help, or is the supernet's
   bias the limit?).
2. **Search**: per strategy and seed, ``--samples`` evaluations under ``--budget-macs``; the
   true accuracy and true rank (among the networks that fit) of the architecture handed on
   with ``pick=measured`` (best inherited accuracy) and ``pick=model`` (best block-model
   prediction among the evaluated), whether the model's top 3 hold a true top-3 network (what
   the pipeline's retrained top 3 would find), and the true hypervolume of the front.
3. Everything goes to ``--out/block_model.json`` and ``.md``; the table is printed.

Usage (the CPU experiment's supernet, 16x16 inputs: 10M MACs = the benchmark's 40M at 32x32):
    python -m bench.nbmacro.block_model --supernet runs/nbmacro_cpu/uniform24 \\
        --truth ../shared/data/nbmacro/nas-bench-macro_cifar10.json --budget-macs 10e6 \\
        --seeds 7 --out runs/nbmacro_cpu/block_model
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lamoo_nas.evaluate.accuracy_cache import CheckpointOrigin
from lamoo_nas.evaluate.blocks import SpaceBlocks
from lamoo_nas.evaluate.codec import ArchCodec, Budget
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.fidelity import proxy_metrics, stratified_sample
from lamoo_nas.evaluate.ground_truth import GroundTruth, judge_search, load_ground_truth
from lamoo_nas.runtime.data import build_data
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.search import hypervolume, make_strategy, non_dominated_mask
from lamoo_nas.search.blockmodel import BlockModel, fit_block_model
from lamoo_nas.supernet import ArchConfig, CostModel, SearchSpace
from lamoo_nas.train.checkpoint import load_supernet

STRATEGIES = ("random", "nsga2", "lamoo-random", "lamoo-evolution", "mathnas")
Score = Callable[[Sequence[ArchConfig]], np.ndarray]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-macs", type=float, default=10e6)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--calib-images", type=int, default=None, help="default: the run's")
    parser.add_argument("--skip-fidelity", action="store_true")
    parser.add_argument(
        "--fidelity-only",
        action="store_true",
        help="no searches: only the block models' fidelity (recipe comparison)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)

    loaded = load_supernet(args.supernet)
    space, data = loaded.space, loaded.data_config
    bundle = build_data(data, max(space.resolutions))
    evaluator = InheritedAccuracyEvaluator(
        loaded.model,
        bundle.eval_loader("calib", data.eval_batch_size),
        bundle.eval_loader("val", data.eval_batch_size),
        args.calib_images or data.calib_images,
        origin=CheckpointOrigin(str(args.supernet), loaded.epoch, loaded.step),
    )
    evaluator.persist_to(args.out / "accuracy_cache.jsonl")
    print(f"{len(evaluator.cache)} cached inherited accuracies", flush=True)
    truth = load_ground_truth(args.truth, space)
    cost = CostModel(space, loaded.num_classes)
    every = sorted(truth, key=str)

    def score(archs: Sequence[ArchConfig]) -> np.ndarray:
        return 100.0 * np.asarray(evaluator.accuracy(list(archs)), dtype=np.float64)

    report: dict[str, Any] = {
        "supernet": str(args.supernet),
        "budget_macs": args.budget_macs,
        "samples": args.samples,
        "calib_images": evaluator.calib_images,
        "val_images": evaluator.val_images,
    }
    searches = {} if args.fidelity_only else run_searches(args, space, cost, truth, score, every)
    if searches:
        report["search"] = searches
    if not args.skip_fidelity:
        report["fidelity"] = fidelity(space, cost, truth, score, every, searches, args.budget_macs)
        scored = {a: 100.0 * v for a, v in evaluator.cache.items()}
        report["limits"] = limits(space, cost, truth, every, scored)
    report["seconds_per_evaluation"] = float(np.mean(evaluator.seconds_per_eval or [0.0]))
    report["distinct_evaluated"] = len(evaluator.cache)
    table = format_report(report)
    atomic_write_text(args.out / "block_model.json", json.dumps(report, indent=1))
    atomic_write_text(args.out / "block_model.md", table + "\n")
    print(table)


# ----------------------------------------------------------------------------- fidelity
def fidelity(
    space: SearchSpace,
    cost: CostModel,
    truth: GroundTruth,
    score: Score,
    every: list[ArchConfig],
    searches: dict[str, Any],
    budget: float,
) -> dict[str, Any]:
    """Rank agreement with the table of the supernet's scores and of block models."""
    blocks = SpaceBlocks(space, [lambda a: float(cost(a).macs)])
    true_all = np.array([truth[a] for a in every])
    macs_all = np.array([cost(a).macs for a in every], dtype=np.float64)
    rng = np.random.default_rng(0)
    designs: dict[str, list[ArchConfig]] = {
        "stratified 100 (README's rank fidelity)": stratified_sample(
            truth, cost, 100, np.random.default_rng(0)
        ),
        "MathNAS single changes, 1 base (17)": blocks.mathnas_design(1, np.random.default_rng(0)),
        "MathNAS single changes, 3 bases": blocks.mathnas_design(3, np.random.default_rng(0)),
    }
    for n in (30, 50, 100):
        designs[f"uniform {n}"] = [every[i] for i in rng.choice(len(every), n, replace=False)]
    lamoo = searches.get("lamoo-random", {}).get("runs", [])
    if lamoo:
        designs["a LaMOO search's own 100 (seed 0)"] = [
            space.arch_from_json(a) for a in lamoo[0]["evaluated"]
        ]
    rows = {}
    for name, archs in designs.items():
        archs = list(dict.fromkeys(archs))
        measured = score(archs)
        model = fit_block_model(
            blocks.decisions, blocks.choices(archs), measured, blocks.fingerprint
        )
        predicted = model.predict(blocks.choices(every))
        m = proxy_metrics(predicted, true_all, macs_all, np.random.default_rng(0), bootstrap=200,
                          top_fraction=0.01)  # fmt: skip
        scored_true = np.array([truth[a] for a in archs])
        direct = _direct(measured, scored_true)
        best = _rank_of(_best_under(blocks, model, every, cost, budget), truth, cost, budget)
        rows[name] = {"n": len(archs), "tau": m.kendall_tau, "tau_ci": m.kendall_ci,
                      "binned_tau": m.binned_tau, "top1pct_recall": m.top_recall,
                      "supernet_tau_on_these": direct, "alpha": model.alpha,
                      "model_pick_true_rank": best}  # fmt: skip
        print(f"fidelity {name}: tau {m.kendall_tau:.3f} binned {m.binned_tau:.3f}", flush=True)
    return rows


def limits(
    space: SearchSpace,
    cost: CostModel,
    truth: GroundTruth,
    every: list[ArchConfig],
    scored: dict[ArchConfig, float],
) -> dict[str, dict[str, float]]:
    """Kendall tau over all networks (overall, in MACs bins) of fits that bound the block model."""
    from sklearn.linear_model import RidgeCV

    from lamoo_nas.search.blockmodel import ALPHAS, one_hot

    blocks = SpaceBlocks(space, [lambda a: float(cost(a).macs)])
    true_all = np.array([truth[a] for a in every])
    macs_all = np.array([cost(a).macs for a in every], dtype=np.float64)
    choices_all = blocks.choices(every)

    def features(choices: np.ndarray, pairs: bool) -> np.ndarray:
        x = one_hot(blocks.decisions, choices)
        if not pairs:
            return x
        extra = []
        for i in range(len(blocks.decisions) - 1):
            na, nb = len(blocks.decisions[i].values), len(blocks.decisions[i + 1].values)
            f = np.zeros((len(choices), na * nb))
            f[np.arange(len(choices)), choices[:, i] * nb + choices[:, i + 1]] = 1.0
            extra.append(f)
        return np.hstack([x, *extra])

    def row(archs: list[ArchConfig], y: np.ndarray, pairs: bool) -> dict[str, float]:
        fit = RidgeCV(alphas=ALPHAS).fit(features(blocks.choices(archs), pairs), y)
        predicted = fit.predict(features(choices_all, pairs))
        m = proxy_metrics(predicted, true_all, macs_all, np.random.default_rng(0), bootstrap=0,
                          top_fraction=0.01)  # fmt: skip
        return {"n": len(archs), "tau": m.kendall_tau, "binned_tau": m.binned_tau}

    rng = np.random.default_rng(0)
    for n in (30, 50):  # the same draws as fidelity()'s uniform designs
        rng.choice(len(every), n, replace=False)
    uniform = [every[i] for i in rng.choice(len(every), 100, replace=False)]
    rows = {
        "additive, all 3,969 true accuracies (the ceiling)": row(every, true_all, False),
        "additive + adjacent pairs, all 3,969 true accuracies": row(every, true_all, True),
    }
    if all(a in scored for a in uniform):
        y = np.array([scored[a] for a in uniform])
        rows["additive + adjacent pairs, uniform 100 supernet scores"] = row(uniform, y, True)
    archs = list(scored)
    rows[f"additive, every network scored ({len(archs)} supernet scores)"] = row(
        archs, np.array([scored[a] for a in archs]), False
    )
    for name, r in rows.items():
        print(f"limit {name}: tau {r['tau']:.3f} binned {r['binned_tau']:.3f}", flush=True)
    return rows


def _direct(measured: np.ndarray, true: np.ndarray) -> float | None:
    from scipy.stats import kendalltau

    return float(kendalltau(measured, true).statistic) if len(measured) > 2 else None


def _best_under(
    blocks: SpaceBlocks, model: BlockModel, every: list[ArchConfig], cost: CostModel, budget: float
) -> ArchConfig:
    predicted = model.predict(blocks.choices(every))
    fits = np.array([cost(a).macs <= budget for a in every])
    return every[int(np.flatnonzero(fits)[np.argmax(predicted[fits])])]


def _rank_of(arch: ArchConfig, truth: GroundTruth, cost: CostModel, budget: float) -> int:
    """1 + how many networks within the budget are truly better."""
    value = truth[arch]
    return 1 + sum(truth[a] > value for a in truth if cost(a).macs <= budget)


# ----------------------------------------------------------------------------- searches
def run_searches(
    args: argparse.Namespace,
    space: SearchSpace,
    cost: CostModel,
    truth: GroundTruth,
    score: Score,
    every: list[ArchConfig],
) -> dict[str, Any]:
    budget = float(args.budget_macs)
    codec = ArchCodec(space, cost, Budget(macs=budget))
    blocks = codec.blocks
    ref = [0.0, -budget / 1e6]
    fits = [a for a in every if cost(a).macs <= budget]
    top3 = set(sorted(fits, key=lambda a: -truth[a])[:3])
    out: dict[str, Any] = {"num_fit": len(fits), "best_true": max(truth[a] for a in fits)}
    for name in args.strategies:
        runs = []
        for seed in range(args.seeds):
            start = time.perf_counter()
            strategy = make_strategy(name, codec, ref, 2, seed=seed, num_init=10)
            archs: list[ArchConfig] = []
            values = np.zeros((0, 2))
            while len(archs) < args.samples:
                batch = strategy.ask(min(5, args.samples - len(archs)))
                y = np.column_stack([score(batch), [-cost(a).macs / 1e6 for a in batch]])
                strategy.tell(batch, y)
                archs += batch
                values = np.vstack([values, y])
            measured_pick = archs[int(np.argmax(values[:, 0]))]
            model = fit_block_model(
                blocks.decisions, blocks.choices(archs), values[:, 0], blocks.fingerprint
            )
            predicted = model.predict(blocks.choices(archs))
            order = np.argsort(-predicted, kind="stable")
            model_pick = archs[int(order[0])]
            front = [a for a, keep in zip(archs, non_dominated_mask(values)) if keep]
            verdict = judge_search(front, measured_pick, archs, truth,
                                   lambda a: cost(a).macs, budget)  # fmt: skip
            true_points = np.array([[100 * truth[a], -cost(a).macs / 1e6] for a in archs])
            runs.append({
                "seed": seed,
                "measured_pick_true": truth[measured_pick],
                "measured_pick_rank": _rank_of(measured_pick, truth, cost, budget),
                "model_pick_true": truth[model_pick],
                "model_pick_rank": _rank_of(model_pick, truth, cost, budget),
                "model_top3_has_true_top3": bool(top3 & {archs[i] for i in order[:3]}),
                "measured_top3_has_true_top3": bool(
                    top3 & {archs[i] for i in np.argsort(-values[:, 0])[:3]}),
                "found_true_rank": _rank_of(max(archs, key=lambda a: truth[a]), truth, cost,
                                            budget),
                "front_true_hv": verdict.true_hv,
                "max_hv": verdict.max_hv,
                "all_true_hv": hypervolume(true_points, ref),
                "wall_seconds": time.perf_counter() - start,
                "evaluated": [space.arch_to_json(a) for a in archs],
            })  # fmt: skip
            r = runs[-1]
            print(f"{name} seed {seed}: measured pick rank {r['measured_pick_rank']}, "
                  f"model pick rank {r['model_pick_rank']}, {r['wall_seconds']:.0f} s",
                  flush=True)  # fmt: skip
        out[name] = {"runs": runs}
    return out


# ----------------------------------------------------------------------------- report
def format_report(report: dict[str, Any]) -> str:
    lines = _search_table(report["search"], report) if "search" in report else []
    if "fidelity" in report:
        lines += fidelity_table(report["fidelity"])
    if "limits" in report:
        lines += ["", "| limit: fitted on | n | Kendall tau, all 3,969 | tau in MACs bins |",
                  "| --- | ---: | ---: | ---: |"]  # fmt: skip
        lines += [f"| {k} | {r['n']} | {r['tau']:.3f} | {r['binned_tau']:.3f} |"
                  for k, r in report["limits"].items()]  # fmt: skip
    lines += [
        "",
        f"{report['distinct_evaluated']} distinct networks scored, "
        f"{report['seconds_per_evaluation']:.2f} s each (calibration on "
        f"{report['calib_images']} images, validation on {report['val_images']})",
    ]
    return "\n".join(lines)


def _search_table(search: dict[str, Any], report: dict[str, Any]) -> list[str]:
    lines = [
        f"Under {report['budget_macs'] / 1e6:g}M MACs ({search['num_fit']} networks fit; the "
        f"table's best {100 * search['best_true']:.2f} %), {report['samples']} evaluations, "
        f"{len(next(iter(v['runs'] for k, v in search.items() if isinstance(v, dict))))} seeds:",
        "",
        "| strategy | pick=measured: true rank (median, per seed) | pick=model: true rank "
        "(median, per seed) | in top 10 (measured / model) | top 3 holds a true top 3 "
        "(measured / model) | true HV of the front |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for name, value in search.items():
        if not isinstance(value, dict):
            continue
        runs = value["runs"]
        m = [r["measured_pick_rank"] for r in runs]
        p = [r["model_pick_rank"] for r in runs]
        hv = np.array([r["front_true_hv"] for r in runs])
        lines.append(
            f"| {name} | {np.median(m):g} ({', '.join(map(str, m))}) | {np.median(p):g} "
            f"({', '.join(map(str, p))}) | {sum(x <= 10 for x in m)}/{len(m)} / "
            f"{sum(x <= 10 for x in p)}/{len(p)} | "
            f"{sum(r['measured_top3_has_true_top3'] for r in runs)}/{len(runs)} / "
            f"{sum(r['model_top3_has_true_top3'] for r in runs)}/{len(runs)} | "
            f"{hv.mean():.2f} ± {hv.std():.2f} |"
        )
    return lines


def fidelity_table(fidelity: dict[str, Any]) -> list[str]:
    lines = [
        "",
        "| block model fitted on | n | Kendall tau, all 3,969 [95 % CI] | tau in MACs bins "
        "| top-1 % recall | supernet's own tau on these n "
        "| model's pick in budget: true rank |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in fidelity.items():
        direct = "-" if r["supernet_tau_on_these"] is None else f"{r['supernet_tau_on_these']:.3f}"
        lines.append(
            f"| {name} | {r['n']} | {r['tau']:.3f} [{r['tau_ci'][0]:.3f}, {r['tau_ci'][1]:.3f}]"
            f" | {r['binned_tau']:.3f} | {r['top1pct_recall']:.2f} | {direct} | "
            f"{r['model_pick_true_rank']} |"
        )
    return lines


if __name__ == "__main__":
    main()
