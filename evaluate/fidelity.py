"""Rank fidelity against ground truth: does the supernet order architectures like stand-alone
training does, and better than the free proxies (MACs, params, layer count)?

:func:`stratified_sample` draws architectures of a :class:`~evaluate.ground_truth.GroundTruth`
table evenly over its MACs deciles; :func:`proxy_metrics` scores any proxy against the true
accuracies: Kendall tau and Spearman rho with bootstrap 95 % intervals, the mean tau inside
equal-count MACs bins (ranking among networks of similar cost, which MACs alone cannot do), and
the recall of the true top 10 %. :func:`fidelity_report` puts the supernet next to the proxies.

Example:
    >>> rng = np.random.default_rng(0)
    >>> m = proxy_metrics(np.arange(20.0), np.arange(20.0), np.arange(20.0), rng, bootstrap=50)
    >>> m.kendall_tau, m.top_recall
    (1.0, 1.0)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.evaluate.ground_truth import GroundTruth
from lamoo_nas.evaluate.rank import RankInputError
from lamoo_nas.supernet.cost import CostModel
from lamoo_nas.supernet.space import IDENTITY, ArchConfig

PROXIES = ("supernet", "macs", "params", "layers")


@dataclass(frozen=True)
class ProxyMetrics:
    """How well one proxy ranks ``n`` architectures (see the module docstring)."""

    kendall_tau: float
    kendall_ci: tuple[float, float]
    spearman: float
    spearman_ci: tuple[float, float]
    binned_tau: float
    top_recall: float
    n: int


def layer_count(arch: ArchConfig) -> int:
    """Active layers that are not the identity op."""
    return sum(
        (k, e) != IDENTITY
        for stage in arch.stages
        for k, e in zip(stage.kernel_sizes, stage.expand_ratios)
    )


def stratified_sample(
    truth: GroundTruth, cost: CostModel, num_archs: int, rng: np.random.Generator, bins: int = 10
) -> list[ArchConfig]:
    """``num_archs`` distinct architectures of the table, an equal share from each MACs bin."""
    archs = sorted(truth, key=lambda a: (cost(a).macs, str(a)))
    if num_archs > len(archs):
        raise RankInputError(
            f"num_archs={num_archs} but the table {truth.source} has {len(archs)} architectures"
        )
    if num_archs < 2 * bins:
        raise RankInputError(f"num_archs={num_archs}: give at least 2 per MACs bin ({2 * bins})")
    groups = np.array_split(np.arange(len(archs)), bins)
    shares = np.full(bins, num_archs // bins)
    shares[: num_archs % bins] += 1
    picked: list[ArchConfig] = []
    for group, share in zip(groups, shares):
        picked.extend(archs[i] for i in rng.choice(group, size=int(share), replace=False))
    return picked


def proxy_metrics(
    proxy: np.ndarray,
    true_acc: np.ndarray,
    macs: np.ndarray,
    rng: np.random.Generator,
    bootstrap: int = 1000,
    bins: int = 10,
    top_fraction: float = 0.1,
) -> ProxyMetrics:
    """Rank agreement of ``proxy`` with ``true_acc`` (all shape ``(n,)``); higher = better."""
    from scipy import stats

    proxy, true_acc, macs = (np.asarray(v, dtype=np.float64) for v in (proxy, true_acc, macs))
    n = proxy.shape[0]
    if n < 2 * bins or true_acc.shape != (n,) or macs.shape != (n,):
        raise RankInputError(f"need {2 * bins}+ paired values of equal length, got {n}")
    if not np.all(np.isfinite(proxy)):
        raise RankInputError("the proxy has NaN or infinite values (a diverged supernet?)")
    taus, rhos = [], []
    for _ in range(bootstrap):
        idx = rng.integers(0, n, size=n)
        taus.append(_tau(proxy[idx], true_acc[idx]))
        rhos.append(float(stats.spearmanr(proxy[idx], true_acc[idx]).statistic))
    order = np.argsort(macs, kind="stable")
    binned = [_tau(proxy[g], true_acc[g]) for g in np.array_split(order, bins)]
    k = max(1, math.ceil(top_fraction * n))
    top_true = set(np.argsort(-true_acc, kind="stable")[:k].tolist())
    top_proxy = set(np.argsort(-proxy, kind="stable")[:k].tolist())
    return ProxyMetrics(
        kendall_tau=_tau(proxy, true_acc),
        kendall_ci=_interval(taus),
        spearman=_nan_zero(float(stats.spearmanr(proxy, true_acc).statistic)),
        spearman_ci=_interval(rhos),
        binned_tau=float(np.nanmean(binned)) if not all(map(math.isnan, binned)) else 0.0,
        top_recall=len(top_true & top_proxy) / k,
        n=n,
    )


def _tau(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    if np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(stats.kendalltau(x, y).statistic)


def _nan_zero(value: float) -> float:
    return 0.0 if math.isnan(value) else value


def _interval(values: Sequence[float]) -> tuple[float, float]:
    finite = np.asarray([v for v in values if not math.isnan(v)])
    if finite.size == 0:
        return (math.nan, math.nan)
    low, high = np.percentile(finite, [2.5, 97.5])
    return (float(low), float(high))


def fidelity_report(
    archs: Sequence[ArchConfig],
    inherited: np.ndarray,
    truth: GroundTruth,
    cost: CostModel,
    seed: int = 0,
    bootstrap: int = 1000,
) -> dict[str, Any]:
    """The supernet's inherited accuracies and the free proxies, each scored against ``truth``.

    With per-seed accuracies in the table, ``seed_ceiling`` scores one training seed's accuracy
    against another's: no proxy can be expected to rank better than retraining itself.
    """
    true_acc = np.asarray([truth[a] for a in archs])
    costs = [cost(a) for a in archs]
    macs = np.asarray([c.macs for c in costs], dtype=np.float64)
    proxies: dict[str, np.ndarray] = {
        "supernet": np.asarray(inherited, dtype=np.float64),
        "macs": macs,
        "params": np.asarray([c.params for c in costs], dtype=np.float64),
        "layers": np.asarray([layer_count(a) for a in archs], dtype=np.float64),
    }
    metrics = {
        name: proxy_metrics(values, true_acc, macs, np.random.default_rng(seed), bootstrap)
        for name, values in proxies.items()
    }
    seeds = [truth.seed_accuracies.get(a, ()) for a in archs]
    if all(len(s) >= 2 for s in seeds):
        first, second = (np.asarray([s[i] for s in seeds]) for i in (0, 1))
        rng = np.random.default_rng(seed)
        metrics["seed_ceiling"] = proxy_metrics(first, second, macs, rng, bootstrap)
    rows = [
        {
            "arch": truth.space.arch_to_json(a),
            "label": str(a),
            "macs": c.macs,
            "params": c.params,
            "inherited": float(p),
            "true": float(t),
        }
        for a, c, p, t in zip(archs, costs, proxies["supernet"], true_acc)
    ]
    return {
        "table": truth.source,
        "space": truth.space.name,
        "num_archs": len(archs),
        "metrics": {name: asdict(m) for name, m in metrics.items()},
        "rows": rows,
    }


def format_markdown(report: Mapping[str, Any]) -> str:
    """A Markdown table of every proxy's metrics."""
    lines = [
        f"Rank fidelity against {report['table']} ({report['num_archs']} architectures of "
        f"{report['space']!r}, stratified over MACs deciles)",
        "",
        "| proxy | Kendall tau [95 % CI] | Spearman [95 % CI] | tau in MACs bins "
        "| top-10 % recall |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, m in report["metrics"].items():
        lo, hi = m["kendall_ci"]
        slo, shi = m["spearman_ci"]
        lines.append(
            f"| {name} | {m['kendall_tau']:.3f} [{lo:.3f}, {hi:.3f}] | {m['spearman']:.3f} "
            f"[{slo:.3f}, {shi:.3f}] | {m['binned_tau']:.3f} | {m['top_recall']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot_fidelity(report: Mapping[str, Any], path: str | Path) -> Path:
    """Scatter of true vs inherited accuracy, coloured by MACs."""
    from matplotlib.figure import Figure

    rows = report["rows"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(5.2, 4.2), dpi=120)
    ax = fig.subplots()
    points = ax.scatter(
        [100 * r["inherited"] for r in rows],
        [100 * r["true"] for r in rows],
        c=[r["macs"] / 1e6 for r in rows],
        s=14,
        cmap="viridis",
    )
    fig.colorbar(points, ax=ax, label="MACs (M)")
    m = report["metrics"]["supernet"]
    ax.set_xlabel("supernet accuracy, inherited weights (val, %)")
    ax.set_ylabel("stand-alone accuracy (ground truth, %)")
    ax.set_title(
        f"Kendall τ={m['kendall_tau']:.3f}  in MACs bins {m['binned_tau']:.3f}  "
        f"n={report['num_archs']}",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def write_report(report: Mapping[str, Any], folder: str | Path) -> dict[str, Path]:
    """``fidelity.json``, ``fidelity.md`` and ``fidelity.png`` in ``folder`` (atomic writes)."""
    from lamoo_nas.runtime.io import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "fidelity.json", "markdown": folder / "fidelity.md"}
    atomic_write_text(paths["json"], json.dumps(report, indent=2) + "\n")
    atomic_write_text(paths["markdown"], format_markdown(report))
    paths["plot"] = plot_fidelity(report, folder / "fidelity.png")
    return paths
