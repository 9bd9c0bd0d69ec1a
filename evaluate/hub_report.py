"""The hub's files: ``hub.json`` (every tier as data), ``hub.md`` (a table) and ``hub.png``
(the tiers over the searched front, one budget line per tier, missed tiers marked).

Example:
    >>> write_hub(run_dir / "hub", summary, search_result)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from lamoo_nas.evaluate.hub import UNIT
from lamoo_nas.evaluate.plots import _save
from lamoo_nas.runtime.io import atomic_write_text

HUB_FILES = ("hub.json", "hub.md", "hub.png")


def write_hub(hub_dir: Path, summary: Mapping[str, Any], rows: Sequence[Any]) -> Path:
    """Write the three files into ``hub_dir`` from the hub ``summary`` (what ``hub.json``
    holds) and the search's ``rows`` (``ScoredArch``, for the picture); returns hub.json."""
    atomic_write_text(hub_dir / "hub.md", hub_markdown(summary))
    plot_hub(summary, rows, hub_dir / "hub.png")
    path = hub_dir / "hub.json"
    atomic_write_text(path, json.dumps(summary, indent=1) + "\n")
    return path


def _budget(value: float, kind: str) -> str:
    return f"{value:.3g} ms" if kind == "latency_ms" else f"{value / 1e6:.4g}M {UNIT[kind]}"


def hub_markdown(summary: Mapping[str, Any]) -> str:
    """The hub as a Markdown table; a tier that missed its budget is marked and its offer named."""
    kind = summary["kind"]
    lines = [
        f"# Model hub: {len(summary['tiers'])} tiers by {UNIT[kind]}",
        "",
        f"Latency measured on {summary['measured_on']['describe']}.",
        f"Picked by: {summary['picked_by']}.",
        *_correction_line(summary.get("latency_correction")),
        "",
        "| tier | budget | test top-1 (%) | predicted acc. (%) | MACs (M) | params (M) "
        "| predicted ms | measured ms (median / p90) | within budget | export |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for t in summary["tiers"]:
        accuracy = t["predicted_accuracy"]
        predicted = "" if accuracy is None else f"{100 * accuracy:.2f}"
        ms = "" if t["predicted_latency_ms"] is None else f"{t['predicted_latency_ms']:.3f}"
        top1 = "" if t["test_top1"] is None else f"{100 * t['test_top1']:.2f}"
        lines.append(
            f"| {t['tier']} | {_budget(t['budget'], kind)} | {top1} | {predicted} "
            f"| {t['macs'] / 1e6:.4g} | {t['params'] / 1e6:.4g} | {ms} "
            f"| {t['latency_ms']['median']:.3f} / {t['latency_ms']['p90']:.3f} "
            f"| {'yes' if t['meets_budget'] else '**MISSED**'} | `{t['export']}` |"
        )
    lines += ["", "Architectures:", ""]
    for t in summary["tiers"]:
        lines.append(f"- tier {t['tier']}: `{t['arch_str']}`")
    missed = [t for t in summary["tiers"] if not t["meets_budget"]]
    if missed:
        lines += ["", "## Missed tiers", ""]
        for t in missed:
            offer = t["offer"]
            instead = (
                f"the next architecture down is `{offer['arch_str']}` (predicted "
                f"{offer['predicted_latency_ms']:.3f} ms by the table, best under "
                f"{offer['under']:.3g} ms once scaled by this tier's measured / predicted); "
                "retrain it with nas-retrain"
                if offer
                else "no architecture is predicted under the corrected budget"
            )
            lines.append(
                f"- tier {t['tier']} ({_budget(t['budget'], kind)}) measured "
                f"{t['latency_ms']['median']:.3f} ms: not shipped as within budget; {instead}."
            )
    return "\n".join(lines) + "\n"


def _correction_line(correction: Mapping[str, Any] | None) -> list[str]:
    if not correction:
        return []
    return [
        f"Predicted latency: the table's sum corrected to whole networks, "
        f"{correction['scale']:.3f} x sum {correction['offset']:+.3f} ms, fitted on "
        f"{correction['networks']} networks with random weights measured as above."
    ]


def plot_hub(summary: Mapping[str, Any], rows: Sequence[Any], path: Path) -> Path:
    """Inherited accuracy vs the tier's cost of every searched architecture (front in red), the
    tiers' picks at their predicted accuracy (stars; a missed tier a red cross at its measured
    latency), each tier's budget as a dashed line."""
    kind = summary["kind"]
    field = "latency_ms" if kind == "latency_ms" else kind
    scale = 1.0 if kind == "latency_ms" else 1e6
    fig = Figure(figsize=(6.4, 4.4))
    ax = fig.subplots()
    points = [(getattr(r, field), r.accuracy, r.is_pareto) for r in rows
              if getattr(r, field) is not None]  # fmt: skip
    if points:
        x = np.array([p[0] for p in points], dtype=np.float64) / scale
        y = np.array([p[1] for p in points], dtype=np.float64) * 100
        front = np.array([p[2] for p in points], dtype=bool)
        ax.scatter(x[~front], y[~front], s=12, alpha=0.4, color="tab:gray", label="searched")
        order = np.argsort(x[front])
        ax.plot(x[front][order], y[front][order], "o-", ms=4, color="tab:red", label="front")
    for t in summary["tiers"]:
        ax.axvline(t["budget"] / scale, ls="--", lw=1, color="tab:blue", alpha=0.6)
        cost = t["predicted_latency_ms"] if kind == "latency_ms" else t[kind]
        accuracy = t["predicted_accuracy"]
        if accuracy is None and t["search_best"] is not None:
            accuracy = t["search_best"]["inherited_accuracy"]
        if cost is None or accuracy is None:
            continue
        top1 = "" if t["test_top1"] is None else f" test {100 * t['test_top1']:.1f}%"
        ax.plot(cost / scale, 100 * accuracy, "*", ms=14, color="tab:green",
                markeredgecolor="black")  # fmt: skip
        ax.annotate(f"tier {t['tier']}{top1}", (cost / scale, 100 * accuracy),
                    textcoords="offset points", xytext=(6, -12), fontsize=8)  # fmt: skip
        if not t["meets_budget"]:
            ax.plot(t["latency_ms"]["median"], 100 * accuracy, "x", ms=10, mew=2,
                    color="red", label=f"tier {t['tier']} measured: missed")  # fmt: skip
    ax.set_xlabel("predicted latency (ms)" if kind == "latency_ms" else f"{UNIT[kind]} (millions)")
    ax.set_ylabel("inherited-weight val. accuracy (%)")
    ax.set_title("hub tiers (stars, predicted) over the searched front; dashed: budgets",
                 fontsize=9)  # fmt: skip
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)
