"""Constrained multi-objective search over a trained supernet.

Accuracy is inherited-weight validation accuracy (:mod:`evaluate.evaluator`); MACs and params
come from the exact analytic cost model and are handed to the strategy as known objectives,
so only accuracy is ever modelled. Objective units inside the search: accuracy in percent,
MACs and params in millions (negated: everything is maximised there).

Example:
    >>> result = run_nas_search(loaded, evaluator, SearchSettings(budget=Budget(macs=2e6)),
    ...                         run_dir)  # doctest: +SKIP
    >>> result.best.accuracy  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from evaluate.codec import ArchCodec, Budget
from evaluate.evaluator import InheritedAccuracyEvaluator
from search import (
    KnownObjectives,
    LaMOOOptions,
    NSGA2Options,
    QEHVIOptions,
    SearchHistory,
    hypervolume,
    make_strategy,
    run_search,
)
from search.lamoo import TreeOptions
from supernet import ArchConfig, CostModel, SearchSpace
from supernet.errors import ConfigError
from train.io import atomic_write_text

OBJECTIVES = ("accuracy", "macs", "params")
DISPLAY = {"accuracy": "accuracy", "macs": "MACs", "params": "params"}
MAXIMISED_UNITS = {"accuracy": "%", "macs": "-millions", "params": "-millions"}
"""What history.csv holds (the engine maximises): accuracy in %, costs negated in millions."""
UNITS = {"accuracy": "accuracy (%)", "macs": "MACs (millions)", "params": "params (millions)"}
_SCALE = {"accuracy": 100.0, "macs": -1e-6, "params": -1e-6}  # raw value -> maximised unit


@dataclass(frozen=True)
class SearchSettings:
    """What to search for and how; validated on construction."""

    strategy: str = "lamoo"
    objectives: tuple[str, ...] = ("accuracy", "macs")
    budget: Budget = field(default_factory=Budget)
    num_samples: int = 100
    batch_size: int = 5
    num_init: int = 10
    seed: int = 0
    lamoo: LaMOOOptions = field(default_factory=LaMOOOptions)
    nsga2: NSGA2Options = field(default_factory=NSGA2Options)
    qehvi: QEHVIOptions = field(default_factory=QEHVIOptions)
    progress: bool = True

    def __post_init__(self) -> None:
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(
                f"objectives {list(self.objectives)} must be distinct names from {OBJECTIVES}"
            )
        if "accuracy" not in self.objectives or not 2 <= len(self.objectives) <= 3:
            raise ConfigError(
                f"objectives {list(self.objectives)}: give accuracy and one or two costs, "
                "e.g. [accuracy, macs]"
            )
        for name in ("num_samples", "batch_size", "num_init"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ScoredArch:
    """One evaluated architecture in raw units."""

    arch: ArchConfig
    accuracy: float
    macs: int
    params: int
    iteration: int
    strategy: str
    is_pareto: bool


@dataclass
class SearchResult:
    """The history, its rows in raw units, the front and the best architecture in budget."""

    history: SearchHistory
    rows: list[ScoredArch]
    best: ScoredArch
    run_dir: Path
    summary: dict[str, Any]
    space: SearchSpace

    @property
    def pareto(self) -> list[ScoredArch]:
        """The front, cheapest first."""
        front = [r for r in self.rows if r.is_pareto]
        return sorted(front, key=lambda r: (r.macs, r.params))


def reference_point(
    objectives: Sequence[str], budget: Budget, cost_model: CostModel
) -> list[float]:
    """Accuracy 0; a budgeted cost at its budget; an unbudgeted one 10% above the largest."""
    largest = cost_model.largest()
    ref = []
    for name in objectives:
        if name == "accuracy":
            ref.append(0.0)
            continue
        bound = getattr(budget, name)
        raw = bound if bound is not None else 1.1 * getattr(largest, name)
        ref.append(raw * _SCALE[name])
    return ref


def run_nas_search(
    space: SearchSpace,
    cost_model: CostModel,
    evaluator: InheritedAccuracyEvaluator,
    settings: SearchSettings,
    run_dir: str | Path,
) -> SearchResult:
    """Search, resuming from ``run_dir/history.json`` if it exists; write every output there.

    Outputs: ``history.json``/``history.csv`` (the engine's), ``results.csv`` (raw units with
    ``is_pareto``), ``pareto.json``, ``best_arch.json`` (ready for ``nas-retrain``),
    ``summary.json``, ``accuracy_cache.json`` and the plots ``pareto.png``, ``hypervolume.png``.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    codec = ArchCodec(space, cost_model, settings.budget)
    cache_path = run_dir / "accuracy_cache.json"
    _load_cache(evaluator, space, cache_path)
    names = list(settings.objectives)
    cost_columns = tuple(i for i, n in enumerate(names) if n != "accuracy")

    def known(archs: Sequence[ArchConfig]) -> np.ndarray:
        costs = [cost_model(a) for a in archs]
        return np.array(
            [[getattr(c, names[i]) * _SCALE[names[i]] for i in cost_columns] for c in costs],
            dtype=np.float64,
        ).reshape(len(archs), len(cost_columns))

    ref_point = reference_point(names, settings.budget, cost_model)
    strategy = make_strategy(
        settings.strategy,
        codec,
        ref_point,
        len(names),
        known_objectives=KnownObjectives(cost_columns, known),
        seed=settings.seed,
        num_init=settings.num_init,
        nsga2=settings.nsga2,
        qehvi=settings.qehvi,
        lamoo=settings.lamoo,
    )
    progress = _Progress(settings.num_samples, ref_point, names, settings.progress)

    def evaluate_fn(archs: Sequence[ArchConfig]) -> np.ndarray:
        values = np.empty((len(archs), len(names)))
        for i, arch in enumerate(archs):  # persist each result: a kill loses at most one
            values[i, names.index("accuracy")] = evaluator.accuracy([arch])[0] * _SCALE["accuracy"]
            _save_cache(evaluator, space, cache_path)
        values[:, list(cost_columns)] = known(archs)
        progress.update(values)
        return values

    history_path = run_dir / "history.json"
    if history_path.exists():
        progress.resume(SearchHistory.load(history_path).objectives())
    history = run_search(
        strategy,
        evaluate_fn,
        history_path,
        settings.num_samples,
        settings.batch_size,
        names,
        ref_point,
        progress=False,
        objective_units=[MAXIMISED_UNITS[name] for name in names],
    )
    progress.close()
    return _write_outputs(space, cost_model, settings, history, run_dir, evaluator)


class _Progress:
    """tqdm bar with the best accuracy so far and the current hypervolume."""

    def __init__(self, total: int, ref_point: list[float], names: list[str], on: bool) -> None:
        self.ref_point = ref_point
        self.accuracy_column = names.index("accuracy")
        self.values = np.zeros((0, len(names)))
        # like the training bars: none in a log file (no carriage returns there)
        self.bar = tqdm(total=total, desc="search", disable=not (on and sys.stderr.isatty()),
                        unit="arch")  # fmt: skip

    def resume(self, values: np.ndarray) -> None:
        self.values = values
        self.bar.update(len(values))

    def update(self, values: np.ndarray) -> None:
        self.values = np.concatenate([self.values, values])
        self.bar.update(len(values))
        best = self.values[:, self.accuracy_column].max()
        hv = hypervolume(self.values, self.ref_point)
        self.bar.set_postfix(best_acc=f"{best:.2f}%", hv=f"{hv:.4g}")

    def close(self) -> None:
        self.bar.close()


def _load_cache(evaluator: InheritedAccuracyEvaluator, space: SearchSpace, path: Path) -> None:
    if not path.exists():
        return
    payload = json.loads(path.read_text())
    if payload.get("space_fingerprint") != space.fingerprint:
        return  # another space: nothing to reuse
    for row in payload.get("entries", []):
        evaluator.cache.setdefault(space.arch_from_json(row["arch"]), float(row["accuracy"]))


def _save_cache(evaluator: InheritedAccuracyEvaluator, space: SearchSpace, path: Path) -> None:
    entries = [
        {"arch": space.arch_to_json(arch), "accuracy": acc} for arch, acc in evaluator.cache.items()
    ]
    payload = {"space_fingerprint": space.fingerprint, "entries": entries}
    atomic_write_text(path, json.dumps(payload))


def _write_outputs(
    space: SearchSpace,
    cost_model: CostModel,
    settings: SearchSettings,
    history: SearchHistory,
    run_dir: Path,
    evaluator: InheritedAccuracyEvaluator,
) -> SearchResult:
    from evaluate.plots import plot_hypervolume, plot_pareto

    names = list(settings.objectives)
    pareto = history.pareto_mask()
    rows = []
    for evaluation, on_front in zip(history.evaluations, pareto):
        arch = space.arch_from_json(evaluation.arch)
        cost = cost_model(arch)
        accuracy = evaluation.objectives[names.index("accuracy")] / _SCALE["accuracy"]
        rows.append(
            ScoredArch(
                arch,
                accuracy,
                cost.macs,
                cost.params,
                evaluation.iteration,
                evaluation.strategy,
                bool(on_front),
            )
        )
    best = max(rows, key=lambda r: (r.accuracy, -r.macs, -r.params))
    _write_rows(space, rows, run_dir / "results.csv")
    front = sorted((r for r in rows if r.is_pareto), key=lambda r: (r.macs, r.params))
    atomic_write_text(
        run_dir / "pareto.json", json.dumps([_row_json(space, r) for r in front], indent=1)
    )
    atomic_write_text(
        run_dir / "best_arch.json", json.dumps(space.arch_to_json(best.arch), indent=1)
    )
    summary = _summary(settings, history, rows, best, evaluator, space)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1))
    plot_pareto(rows, settings.budget, run_dir / "pareto.png")
    units = " x ".join(UNITS[name] for name in settings.objectives)
    plot_hypervolume(history.hypervolume_curve(), run_dir / "hypervolume.png", settings.strategy,
                     f"hypervolume, {units}")  # fmt: skip
    return SearchResult(history, rows, best, run_dir, summary, space)


def _row_json(space: SearchSpace, row: ScoredArch) -> dict[str, Any]:
    return {
        "arch": space.arch_to_json(row.arch),
        "accuracy": row.accuracy,
        "macs": row.macs,
        "params": row.params,
        "iteration": row.iteration,
        "strategy": row.strategy,
        "is_pareto": row.is_pareto,
    }


def _write_rows(space: SearchSpace, rows: list[ScoredArch], path: Path) -> None:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["index", "accuracy", "macs", "params", "iteration", "strategy", "is_pareto", "arch"]
    )
    for i, r in enumerate(rows):
        arch_json = json.dumps(space.arch_to_json(r.arch))
        writer.writerow(
            [i, r.accuracy, r.macs, r.params, r.iteration, r.strategy, r.is_pareto, arch_json]
        )
    atomic_write_text(path, buffer.getvalue())


def _summary(
    settings: SearchSettings,
    history: SearchHistory,
    rows: list[ScoredArch],
    best: ScoredArch,
    evaluator: InheritedAccuracyEvaluator,
    space: SearchSpace,
) -> dict[str, Any]:
    ask_s: dict[int, float] = {}
    eval_s: dict[int, float] = {}
    count: dict[int, int] = {}
    for e in history.evaluations:
        ask_s[e.iteration], eval_s[e.iteration] = e.ask_time_s, e.evaluate_time_s
        count[e.iteration] = count.get(e.iteration, 0) + 1
    per_proposal = sum(ask_s.values()) / max(len(history), 1)
    per_eval = sum(eval_s.values()) / max(len(history), 1)
    return {
        "strategy": settings.strategy,
        "objectives": list(settings.objectives),
        "budget": {"macs": settings.budget.macs, "params": settings.budget.params},
        "num_samples": len(history),
        "hypervolume": float(history.hypervolume_curve()[-1]) if len(history) else 0.0,
        "ref_point": history.ref_point,
        "best": _row_json(space, best),
        "pareto_size": sum(r.is_pareto for r in rows),
        "strategy_seconds_per_proposal": per_proposal,
        "evaluation_seconds_per_arch": per_eval,
        "strategy_time_fraction_of_evaluation": per_proposal / per_eval if per_eval else None,
        "evaluator_seconds_per_arch_measured": (
            float(np.mean(evaluator.seconds_per_eval)) if evaluator.seconds_per_eval else None
        ),
    }


def lamoo_options(raw: dict[str, Any]) -> LaMOOOptions:
    """Typed LaMOO options from a plain mapping (the CLI's ``strategy.lamoo`` section)."""
    raw = dict(raw)
    tree = TreeOptions(**raw.pop("tree", {}))
    return LaMOOOptions(tree=tree, **raw)


def describe_hypervolume(objectives: Sequence[str], ref_point: Sequence[float]) -> str:
    """What a hypervolume of this search measures, in words (units and reference point).

    Example:
        >>> describe_hypervolume(["accuracy", "macs"], [0.0, -2.0])[:47]
        'the area dominated by the front in accuracy (%)'
    """
    axes = " x ".join(UNITS[name] for name in objectives)
    bounds = [
        f"above {value:g} % accuracy"
        if name == "accuracy"
        else f"below {-value:g} M {DISPLAY[name]}"
        for name, value in zip(objectives, ref_point)
    ]
    kind = "area" if len(objectives) == 2 else "volume"
    return (
        f"the {kind} dominated by the front in {axes}, {' and '.join(bounds)} (the reference point)"
    )
