"""Plots people would rather look at than read: Pareto fronts and hypervolume curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

AXES = {
    "macs": ("macs", "MACs (millions)", "M"),
    "params": ("params", "params (millions)", "M"),
    "latency": ("latency_ms", "predicted latency (ms)", " ms"),
}
"""The x axis of :func:`plot_pareto` per cost: row field, label, unit of the budget line."""


def plot_pareto(rows: Sequence[Any], budget: Any, path: str | Path, cost: str = "macs") -> Path:
    """Accuracy vs ``cost`` (MACs or params in millions, or predicted latency in ms) of every
    sample; front highlighted.

    ``rows`` carry ``accuracy`` (0..1), ``macs``, ``params`` and ``is_pareto``; ``budget`` has
    ``macs``/``params`` (None for no bound): a budget line is drawn at the bound.
    """
    scale = 1.0 if cost == "latency" else 1e6  # latency in ms, counts in millions
    x = np.array([getattr(r, AXES[cost][0]) for r in rows], dtype=np.float64) / scale
    y = np.array([r.accuracy for r in rows], dtype=np.float64) * 100
    front = np.array([r.is_pareto for r in rows], dtype=bool)
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    ax.scatter(x[~front], y[~front], s=14, alpha=0.45, label="evaluated", color="tab:gray")
    order = np.argsort(x[front])
    ax.plot(x[front][order], y[front][order], "o-", color="tab:red", ms=5, label="Pareto front")
    _, label, unit = AXES[cost]
    bound = getattr(budget, "latency_ms" if cost == "latency" else cost, None)
    if bound is not None:
        ax.axvline(bound / scale, ls="--", color="tab:blue",
                   label=f"budget {bound / scale:.3g}{unit}")  # fmt: skip
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
