"""A finished search in raw units, and the files it leaves in its run directory.

:func:`write_search_outputs` turns the engine's history (maximised units, see
:mod:`evaluate.search_settings`) back into raw rows and writes ``results.csv`` (every sample,
with ``is_pareto``), ``pareto.json`` (the front, cheapest first), ``best_arch.json`` (ready for
``nas-retrain``), ``summary.json`` and the plots ``pareto.png`` and ``hypervolume.png``.

Example:
    >>> result = write_search_outputs(space, cost_model, settings, history, run_dir,
    ...                               evaluator.seconds_per_eval)  # doctest: +SKIP
    >>> print(format_front(result))  # doctest: +SKIP
    Pareto front (4 of 12 architectures), hypervolume 301.2:
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.evaluate.blocks import SpaceBlocks
from lamoo_nas.evaluate.codec import LatencyFn
from lamoo_nas.evaluate.objectives import (
    ACCURACY,
    OBJECTIVES,
    Objective,
    OracleContext,
    objectives_of,
)
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.search import SearchHistory
from lamoo_nas.search.blockmodel import BlockModel, fit_block_model
from lamoo_nas.search.errors import BlockModelError, InfeasibleBudgetError
from lamoo_nas.search.pareto import non_dominated_mask
from lamoo_nas.supernet import ArchConfig, CostModel, SearchSpace

CSV_COLUMNS = ("index", "accuracy", "macs", "params", "iteration", "strategy", "is_pareto", "arch")


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
    latency_ms: float | None = None  # predicted, when the search had a latency table
    predicted: float | None = None  # the block model's accuracy, with pick=model
    extra: Mapping[str, float] = field(default_factory=dict)
    """Raw values of the searched objectives that have no field here (by their column)."""


@dataclass
class SearchResult:
    """The history, its rows in raw units, the front and the best architecture in budget.

    ``rank`` is the torchrun rank that produced it: rank 0 writes ``run_dir``, the others
    their copies under ``run_dir/.ranks/``.
    """

    history: SearchHistory
    rows: list[ScoredArch]
    best: ScoredArch
    run_dir: Path
    summary: dict[str, Any]
    space: SearchSpace
    rank: int = 0
    ranked: list[ScoredArch] = dataclasses.field(default_factory=list)
    """The in-budget rows in the order ``pick`` chose them, best first."""

    @property
    def pareto(self) -> list[ScoredArch]:
        """The front, cheapest first."""
        front = [r for r in self.rows if r.is_pareto]
        return sorted(front, key=lambda r: (r.macs, r.params))


def write_search_outputs(
    space: SearchSpace,
    cost_model: CostModel,
    settings: SearchSettings,
    history: SearchHistory,
    run_dir: Path,
    seconds_per_eval: Sequence[float],
    latency: LatencyFn | None = None,
) -> SearchResult:
    """Rows in raw units, the best one, and every output file (see the module docstring);
    ``seconds_per_eval`` are the evaluator's measured times (for the summary)."""
    from lamoo_nas.evaluate.plots import plot_hypervolume, plot_pareto

    accuracy_column = list(settings.objectives).index(ACCURACY.name)
    extras = extra_objectives(settings.objectives)
    context = OracleContext(cost_model, latency)
    archs = [space.arch_from_json(evaluation.arch) for evaluation in history.evaluations]
    costs = [cost_model(arch) for arch in archs]
    # a resume that accepted a tighter budget keeps the rows it measured, but only those within
    # the budget can be on the front or be the best
    latencies = [latency(arch) if latency else None for arch in archs]
    in_budget = np.array(
        [settings.budget.admits(c, ms) for c, ms in zip(costs, latencies)], dtype=bool
    )
    on_front = np.zeros(len(archs), dtype=bool)
    if in_budget.any():
        on_front[in_budget] = non_dominated_mask(history.objectives()[in_budget])
    rows = []
    for evaluation, arch, cost, pareto, ms in zip(
        history.evaluations, archs, costs, on_front, latencies
    ):
        accuracy = evaluation.objectives[accuracy_column] / ACCURACY.to_maximised
        extra = {o.column: o.value(context, arch) for o in extras}
        rows.append(ScoredArch(arch, accuracy, cost.macs, cost.params, evaluation.iteration,
                               evaluation.strategy, bool(pareto), ms, extra=extra))  # fmt: skip
    candidates = [row for row, ok in zip(rows, in_budget) if ok]
    if not candidates:
        raise InfeasibleBudgetError(
            f"no evaluated architecture is within the budget ({settings.budget.describe()}); "
            "search on (more num_samples) or relax the budget"
        )
    ranked, model_note = rank_candidates(space, settings.pick, candidates, rows, run_dir)
    best = ranked[0]
    atomic_write_text(run_dir / "results.csv", _rows_csv(space, rows))
    front = sorted((r for r in rows if r.is_pareto), key=lambda r: (r.macs, r.params))
    atomic_write_text(
        run_dir / "pareto.json", json.dumps([_row_json(space, r) for r in front], indent=1)
    )
    atomic_write_text(
        run_dir / "best_arch.json", json.dumps(space.arch_to_json(best.arch), indent=1)
    )
    summary = _summary(settings, history, rows, best, seconds_per_eval, space)
    summary["pick"] = model_note
    summary["best_measured"] = _row_json(space, max(candidates, key=_measured_order))
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1))
    plot_pareto(rows, settings.budget, run_dir / "pareto.png", cost=pareto_axis(settings).name)
    units = " x ".join(o.axis_title for o in objectives_of(settings.objectives))
    plot_hypervolume(history.hypervolume_curve(), run_dir / "hypervolume.png", settings.strategy,
                     f"hypervolume, {units}")  # fmt: skip
    return SearchResult(history, rows, best, run_dir, summary, space, ranked=ranked)


def extra_objectives(names: Sequence[str]) -> list[Objective]:
    """The objectives among ``names`` whose values rows hold in ``extra`` (no field of
    :class:`ScoredArch`): registered ones beyond accuracy, MACs, params and latency."""
    fields = {f.name for f in dataclasses.fields(ScoredArch)}
    return [o for o in objectives_of(names) if o.column not in fields]


def pareto_axis(settings: SearchSettings) -> Objective:
    """The cost on the x axis of ``pareto.png``: the first searched cost that rows do not
    always carry (predicted latency, a registered objective), else MACs."""
    always = {f.name for f in dataclasses.fields(ScoredArch) if f.default is dataclasses.MISSING}
    costs = [o for o in objectives_of(settings.objectives) if o.sense == "minimise"]
    return next((o for o in costs if o.column not in always), OBJECTIVES["macs"])


def _measured_order(row: ScoredArch) -> tuple[float, int, int]:
    return (row.accuracy, -row.macs, -row.params)


def rank_candidates(
    space: SearchSpace,
    pick: str,
    candidates: list[ScoredArch],
    rows: list[ScoredArch],
    run_dir: Path,
) -> tuple[list[ScoredArch], dict[str, Any]]:
    """The in-budget rows, best first, and a note on how they were ordered.

    ``pick="measured"``: by inherited accuracy. ``pick="model"``: by the block model
    (:mod:`search.blockmodel`) fitted on every evaluated row, which averages the supernet's
    noise on single networks over their shared blocks; the model is written to
    ``block_model.json``. Where no model can be fitted (fewer than 3 evaluations, constant
    accuracies) the order is the measured one and the note says why.
    """
    measured = sorted(candidates, key=_measured_order, reverse=True)
    if pick == "measured":
        return measured, {"by": "measured"}
    blocks = SpaceBlocks(space)
    try:
        model = fit_search_model(space, rows)
    except BlockModelError as error:
        return measured, {"by": "measured", "model_error": str(error)}
    atomic_write_text(run_dir / "block_model.json", json.dumps(model.to_json(), indent=1))
    predicted = model.predict(blocks.choices([r.arch for r in candidates]))
    order = sorted(
        range(len(candidates)),
        key=lambda i: (-predicted[i], *(-v for v in _measured_order(candidates[i]))),
    )
    ranked = [dataclasses.replace(candidates[i], predicted=float(predicted[i])) for i in order]
    note = {
        "by": "model",
        "block_model": "block_model.json",
        "cv_kendall_tau": model.cv_kendall_tau,
        "alpha": model.alpha,
        "num_samples": model.num_samples,
    }
    return ranked, note


def fit_search_model(space: SearchSpace, rows: Sequence[ScoredArch]) -> BlockModel:
    """The block model of a search: ridge over the per-block choices of every evaluated row
    against its inherited accuracy (5-fold CV tau from 10 rows). What ``pick=model`` ranks by
    and what the pipeline's hub picks its tiers with; :class:`BlockModelError` when it cannot
    be fitted (fewer than 3 rows, constant accuracies).

    Example:
        >>> model = fit_search_model(result.space, result.rows)  # doctest: +SKIP
        >>> model.num_samples == len(result.rows)  # doctest: +SKIP
        True
    """
    blocks = SpaceBlocks(space)
    return fit_block_model(
        blocks.decisions,
        blocks.choices([r.arch for r in rows]),
        np.array([r.accuracy for r in rows]),
        blocks.fingerprint,
        cv_folds=5 if len(rows) >= 10 else 0,
    )


def format_front(result: SearchResult) -> str:
    """A Markdown table of the Pareto front and where the outputs are."""
    with_latency = any(r.latency_ms is not None for r in result.pareto)
    extra = list(result.rows[0].extra) if result.rows else []
    lines = [
        f"Pareto front ({len(result.pareto)} of {len(result.rows)} architectures), "
        f"hypervolume {result.summary['hypervolume']:.4g}:",
        "",
        "| accuracy (%) | MACs (M) | params (M) |"
        + (" latency (ms, predicted) |" if with_latency else "")
        + "".join(f" {column} |" for column in extra)
        + " architecture |",
        "| ---: | ---: | ---: |"
        + (" ---: |" if with_latency else "")
        + " ---: |" * len(extra)
        + " --- |",
    ]
    for row in result.pareto:
        latency = f" {row.latency_ms:.3f} |" if row.latency_ms is not None else ""
        values = "".join(f" {row.extra[column]:.4g} |" for column in extra)
        lines.append(
            f"| {100 * row.accuracy:.2f} | {row.macs / 1e6:.3f} | {row.params / 1e6:.4f} |"
            f"{latency}{values} `{row.arch}` |"
        )
    lines += ["", f"best within budget -> {result.run_dir / 'best_arch.json'}"]
    return "\n".join(lines)


def _row_json(space: SearchSpace, row: ScoredArch) -> dict[str, Any]:
    return {
        "arch": space.arch_to_json(row.arch),
        "accuracy": row.accuracy,
        "macs": row.macs,
        "params": row.params,
        **({"latency_ms": row.latency_ms} if row.latency_ms is not None else {}),
        **row.extra,
        "iteration": row.iteration,
        "strategy": row.strategy,
        "is_pareto": row.is_pareto,
        **({"predicted_accuracy": row.predicted} if row.predicted is not None else {}),
    }


def _rows_csv(space: SearchSpace, rows: list[ScoredArch]) -> str:
    """:data:`CSV_COLUMNS`, with ``latency_ms`` after ``params`` when the search predicted it,
    then the values of registered objectives rows have no field for (``extra``)."""
    with_latency = any(r.latency_ms is not None for r in rows)
    extra = list(rows[0].extra) if rows else []
    columns = list(CSV_COLUMNS)
    at = columns.index("params") + 1
    columns[at:at] = ["latency_ms"] * with_latency + extra
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for i, r in enumerate(rows):
        arch_json = json.dumps(space.arch_to_json(r.arch))
        latency = [r.latency_ms] if with_latency else []
        writer.writerow(
            [i, r.accuracy, r.macs, r.params, *latency, *(r.extra[c] for c in extra), r.iteration,
             r.strategy, r.is_pareto, arch_json]
        )  # fmt: skip
    return buffer.getvalue()


def _summary(
    settings: SearchSettings,
    history: SearchHistory,
    rows: list[ScoredArch],
    best: ScoredArch,
    seconds_per_eval: Sequence[float],
    space: SearchSpace,
) -> dict[str, Any]:
    ask_s: dict[int, float] = {}
    eval_s: dict[int, float] = {}
    for e in history.evaluations:  # the times are per iteration, repeated on each of its rows
        ask_s[e.iteration], eval_s[e.iteration] = e.ask_time_s, e.evaluate_time_s
    per_proposal = sum(ask_s.values()) / max(len(history), 1)
    per_eval = sum(eval_s.values()) / max(len(history), 1)
    return {
        "strategy": settings.strategy,
        "objectives": list(settings.objectives),
        "budget": dataclasses.asdict(settings.budget),
        "num_samples": len(history),
        "hypervolume": float(history.hypervolume_curve()[-1]) if len(history) else 0.0,
        "ref_point": history.ref_point,
        "best": _row_json(space, best),
        "pareto_size": sum(r.is_pareto for r in rows),
        "strategy_seconds_per_proposal": per_proposal,
        "evaluation_seconds_per_arch": per_eval,
        "strategy_time_fraction_of_evaluation": per_proposal / per_eval if per_eval else None,
        "evaluator_seconds_per_arch_measured": (
            float(np.mean(seconds_per_eval)) if len(seconds_per_eval) else None
        ),
    }
