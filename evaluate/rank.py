"""Rank fidelity of the supernet: does inherited-weight accuracy order architectures the way
retraining from scratch does? Kendall's tau and Spearman's rho (scipy), plus a scatter plot.

Example:
    >>> report = rank_fidelity([0.90, 0.92, 0.95], [0.96, 0.97, 0.99])
    >>> report.kendall_tau, report.n
    (1.0, 3)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.evaluate.errors import RankInputError


@dataclass(frozen=True)
class RankReport:
    """Rank correlations between ``n`` paired accuracies, with two-sided p-values."""

    kendall_tau: float
    kendall_p: float
    spearman: float
    spearman_p: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_array(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise RankInputError(f"{name} accuracies contain NaN or infinite values: {list(values)}")
    return array


def rank_fidelity(inherited: Sequence[float], retrained: Sequence[float]) -> RankReport:
    """Kendall tau and Spearman rho of ``inherited`` vs ``retrained`` accuracies (paired).

    Example:
        >>> rank_fidelity([0.1, 0.3, 0.2], [0.5, 0.7, 0.6]).spearman
        1.0
    """
    from scipy import stats

    x = _as_array(inherited, "inherited")
    y = _as_array(retrained, "retrained")
    if x.shape != y.shape:
        raise RankInputError(
            f"inherited has {x.size} accuracies but retrained has {y.size}; give one pair per "
            "architecture"
        )
    if x.size < 2:
        raise RankInputError(f"rank correlation needs at least 2 architectures, got {x.size}")
    for name, values in (("inherited", x), ("retrained", y)):
        if np.all(values == values[0]):
            raise RankInputError(
                f"all {name} accuracies are equal ({values[0]}); their ranking is undefined"
            )
    tau = stats.kendalltau(x, y)
    rho = stats.spearmanr(x, y)
    return RankReport(
        kendall_tau=float(tau.statistic),
        kendall_p=_p(tau.pvalue),
        spearman=float(rho.statistic),
        spearman_p=_p(rho.pvalue),
        n=int(x.size),
    )


def _p(value: Any) -> float:
    value = float(value)
    return 1.0 if math.isnan(value) else value


def plot_rank_scatter(
    inherited: Sequence[float],
    retrained: Sequence[float],
    path: str | Path,
    report: RankReport | None = None,
    labels: Sequence[str] | None = None,
) -> Path:
    """Save a PNG scatter of retrained vs inherited accuracy, the correlations in the title.

    Example:
        >>> plot_rank_scatter([0.1, 0.3], [0.5, 0.7], "rank.png")  # doctest: +SKIP
    """
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    report = report or rank_fidelity(inherited, retrained)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(4.5, 4.0), dpi=120)
    ax = fig.subplots()
    ax.scatter(inherited, retrained, s=18)
    for i, label in enumerate(labels or []):
        ax.annotate(
            label,
            (inherited[i], retrained[i]),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=6,
        )  # beside the point, not on it
    ax.set_xlabel("inherited-weight accuracy")
    ax.set_ylabel("retrained accuracy")
    ax.set_title(
        f"Kendall τ={report.kendall_tau:.3f}  Spearman ρ={report.spearman:.3f}  n={report.n}",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def read_pairs(path: str | Path) -> tuple[list[float], list[float], list[str]]:
    """Read ``(inherited, retrained, labels)`` from a CSV or JSON file.

    CSV: a header with columns ``inherited`` and ``retrained`` (optional ``arch``). JSON: a list
    of objects with those keys, or ``{"pairs": [...]}``.

    Example:
        >>> read_pairs("pairs.csv")  # doctest: +SKIP
        ([0.9, 0.95], [0.97, 0.98], ['a', 'b'])
    """
    path = Path(path)
    if not path.is_file():
        raise RankInputError(f"no pairs file at {path}")
    if path.suffix.lower() == ".json":
        raw = json.loads(path.read_text())
        rows = raw.get("pairs") if isinstance(raw, dict) else raw
    else:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    if not isinstance(rows, list):
        raise RankInputError(f"{path}: expected a list of pairs, got {type(rows).__name__}")
    try:
        inherited = [float(row["inherited"]) for row in rows]
        retrained = [float(row["retrained"]) for row in rows]
    except (KeyError, TypeError, ValueError) as err:
        raise RankInputError(
            f"{path}: every row needs numeric `inherited` and `retrained` ({err!r})"
        ) from err
    labels = [str(row.get("arch", i)) for i, row in enumerate(rows)]
    return inherited, retrained, labels


def run_pairs(run_dir: str | Path) -> tuple[list[float], list[float], list[str]]:
    """``(inherited, retrained, labels)`` of a ``nas-pipeline`` run: its retrained architectures'
    inherited validation accuracy against their test accuracy after retraining.

    Example:
        >>> run_pairs("outputs/pipeline/RUN")  # doctest: +SKIP
        ([0.95, 0.97], [0.981, 0.993], ['rank1 r16|...', 'rank2 r16|...'])
    """
    run_dir = Path(run_dir)
    summary = run_dir / "pipeline.json"
    if not summary.is_file():
        what = "a search run" if (run_dir / "history.json").is_file() else "not a pipeline run"
        raise RankInputError(
            f"run={run_dir} is {what}: rank pairs need retrained accuracies, which a nas-pipeline "
            "run holds (pipeline.json); retrain a search's architectures with nas-retrain and give "
            "pairs=FILE, or score a supernet against a table with truth=TABLE supernet=RUN"
        )
    rows = json.loads(summary.read_text()).get("retrained") or []
    try:
        inherited = [float(r["inherited_val_accuracy"]) for r in rows]
        retrained = [float(r["test_top1"]) for r in rows]
    except (KeyError, TypeError, ValueError) as err:
        raise RankInputError(f"{summary} has malformed retrained rows ({err!r})") from err
    labels = [f"rank{r.get('rank', i + 1)}" for i, r in enumerate(rows)]
    return inherited, retrained, labels


def pairs_csv(inherited: Sequence[float], retrained: Sequence[float], labels: Sequence[str]) -> str:
    """The pairs as the CSV :func:`read_pairs` reads (columns arch, inherited, retrained)."""
    lines = ["arch,inherited,retrained"]
    lines += [f"{a},{i!r},{r!r}" for a, i, r in zip(labels, inherited, retrained)]
    return "\n".join(lines) + "\n"
