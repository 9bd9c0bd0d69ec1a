"""Plots people would rather look at than read: Pareto fronts and hypervolume curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lamoo_nas.evaluate.objectives import get_objective, row_value


def plot_pareto(rows: Sequence[Any], budget: Any, path: str | Path, cost: str = "macs") -> Path:
    """Accuracy vs the cost objective ``cost`` (:data:`evaluate.objectives.OBJECTIVES`: MACs or
    params in millions, predicted latency in ms, ...) of every sample; front highlighted.

    ``rows`` carry ``accuracy`` (0..1), the objective's column (or it in ``extra``) and
    ``is_pareto``; ``budget`` has the objective's budget field (None for no bound): a budget
    line is drawn at the bound.
    """
    objective = get_objective(cost)
    x = np.array([row_value(r, objective.column) for r in rows], dtype=np.float64)
    x *= objective.scale
    y = np.array([r.accuracy for r in rows], dtype=np.float64) * 100
    front = np.array([r.is_pareto for r in rows], dtype=bool)
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    ax.scatter(x[~front], y[~front], s=14, alpha=0.45, label="evaluated", color="tab:gray")
    order = np.argsort(x[front])
    ax.plot(x[front][order], y[front][order], "o-", color="tab:red", ms=5, label="Pareto front")
    label = objective.axis_title
    key = objective.budget_key
    bound = getattr(budget, key, None) if key is not None else None
    if bound is not None:
        ax.axvline(bound * objective.scale, ls="--", color="tab:blue",
                   label=f"budget {bound * objective.scale:.3g} {objective.symbol}")  # fmt: skip
    ax.set_xlabel(label)
    ax.set_ylabel("inherited-weight val. accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_hypervolume(
    curves: np.ndarray | dict[str, np.ndarray],
    path: str | Path,
    label: str = "search",
    ylabel: str = "hypervolume",
) -> Path:
    """Hypervolume after each sample; several curves (e.g. one per strategy) in a dict."""
    named = curves if isinstance(curves, dict) else {label: curves}
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    for name, curve in named.items():
        curve = np.asarray(curve)
        if curve.ndim == 2:  # (seeds, samples): mean and spread
            mean, low, high = curve.mean(0), curve.min(0), curve.max(0)
            steps = np.arange(1, mean.shape[0] + 1)
            ax.plot(steps, mean, label=name)
            ax.fill_between(steps, low, high, alpha=0.2)
        else:
            ax.plot(np.arange(1, curve.shape[0] + 1), curve, label=name)
    ax.set_xlabel("samples evaluated")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    """Figures are built without pyplot: no global state, no display backend needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
