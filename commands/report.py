"""The pipeline's Markdown report: front, retrained results, rank fidelity and stage times.

Example:
    >>> summary = write_report(run_dir, supernet_dir, search_result, rows, {"supernet": 90.0})
    ... # doctest: +SKIP
    >>> summary["winner"]["test_top1"]  # doctest: +SKIP
    0.978
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamoo_nas.evaluate.rank import RankInputError, plot_rank_scatter, rank_fidelity
from lamoo_nas.evaluate.search_settings import describe_hypervolume
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.train.logs import read_metrics


@dataclass(frozen=True)
class RetrainedRow:
    """One retrained architecture: its search row, its test metrics and its run folder."""

    rank: int
    scored: Any  # evaluate.search_results.ScoredArch
    metrics: dict[str, Any]
    run_dir: Path


def write_report(
    run_dir: Path,
    supernet_dir: Path,
    search_result: Any,
    rows: list[RetrainedRow],
    stage_seconds: dict[str, float],
) -> dict[str, Any]:
    """Write ``run_dir/report.md`` (+ ``rank.png``); return the summary as plain data."""
    rank = _rank_section(run_dir, rows)
    winner = rows[0]
    summary: dict[str, Any] = {
        "stage_seconds": stage_seconds,
        "total_seconds": round(sum(stage_seconds.values()), 2),
        "search": search_result.summary,
        "winner": _row_summary(winner, run_dir),
        "retrained": [_row_summary(r, run_dir) for r in rows],
        "rank_fidelity": rank["report"],
    }
    supernet_rows = read_metrics(supernet_dir)
    lines = [
        "# NAS pipeline report",
        "",
        _winner_line(summary["winner"], search_result),
        "",
        "## Stages",
        "",
        "| stage | wall time (s) |",
        "| --- | ---: |",
        *[f"| {name} | {seconds:.1f} |" for name, seconds in stage_seconds.items()],
        f"| **total** | **{summary['total_seconds']:.1f}** |",
        "",
        *_supernet_section(supernet_rows, supernet_dir, run_dir),
        *_search_section(search_result, run_dir),
        *_retrain_section(summary["retrained"]),
        *rank["lines"],
    ]
    atomic_write_text(run_dir / "report.md", "\n".join(lines) + "\n")
    return summary


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start)


def _row_summary(row: RetrainedRow, run_dir: Path) -> dict[str, Any]:
    m = row.metrics
    return {
        "rank": row.rank,
        "arch": m["arch"],
        "inherited_val_accuracy": row.scored.accuracy,
        "test_top1": m["top1"],
        "test_top5": m.get("top5"),
        "macs": m["macs"],
        "params": m["params"],
        "latency_cpu_ms": m["latency_cpu_ms"],
        "latency_gpu_ms": m.get("latency_gpu_ms"),
        "latency_predicted_ms": row.scored.latency_ms,
        "export_dir": _rel(row.run_dir / "export", run_dir),
    }


def _winner_line(winner: dict[str, Any], search_result: Any) -> str:
    budget = search_result.summary["budget"]
    bounds = ", ".join(
        f"{k} <= {v:,.3g}" if k == "latency_ms" else f"{k} <= {v:,.0f}"
        for k, v in budget.items()
        if v is not None
    )
    return (
        f"**Winner** (best inherited validation accuracy within {bounds or 'no budget'}): "
        f"test top-1 **{100 * winner['test_top1']:.2f}%**, {winner['macs']:,} MACs, "
        f"{winner['params']:,} params, {winner['latency_cpu_ms']:.3f} ms CPU latency at "
        f"batch 1; exported to `{winner['export_dir']}`."
    )


def _supernet_section(rows: list[dict[str, Any]], supernet_dir: Path, run_dir: Path) -> list[str]:
    if not rows:
        return []
    last = rows[-1]
    accs = [
        f"{name} {100 * last[key]:.2f}%"
        for name, key in (
            ("smallest", "val_acc_smallest"),
            ("middle", "val_acc_middle"),
            ("largest", "val_acc_largest"),
        )
        if last.get(key) is not None
    ]
    lines = ["## Supernet", "", f"After epoch {last.get('epoch')}: " + ", ".join(accs) + "."]
    curve = supernet_dir / "training_curve.png"
    if curve.exists():
        lines += ["", f"![training curve]({_rel(curve, run_dir)})"]
    return [*lines, ""]


def _search_section(result: Any, run_dir: Path) -> list[str]:
    s = result.summary
    lines = [
        "## Search",
        "",
        f"{s['strategy']}, {s['num_samples']} architectures, objectives {s['objectives']}, "
        f"hypervolume {s['hypervolume']:.4g}; strategy time per proposal "
        f"{1000 * s['strategy_seconds_per_proposal']:.1f} ms vs "
        f"{1000 * s['evaluation_seconds_per_arch']:.1f} ms per evaluation. The hypervolume is "
        f"{describe_hypervolume(s['objectives'], s['ref_point'])}.",
        "",
        "| inherited val. acc. (%) | MACs | params | architecture |",
        "| ---: | ---: | ---: | --- |",
        *[
            f"| {100 * r.accuracy:.2f} | {r.macs:,} | {r.params:,} | `{r.arch}` |"
            for r in result.pareto
        ],
        "",
        f"![Pareto front]({_rel(result.run_dir / 'pareto.png', run_dir)})",
        f"![hypervolume]({_rel(result.run_dir / 'hypervolume.png', run_dir)})",
        "",
    ]
    return lines


def _retrain_section(rows: list[dict[str, Any]]) -> list[str]:
    predicted = any(r.get("latency_predicted_ms") is not None for r in rows)
    lines = [
        "## Retrained from scratch (test split)",
        "",
        "| rank | inherited val. acc. (%) | test top-1 (%) | MACs | params | CPU ms |"
        + (" predicted ms |" if predicted else "")
        + " export |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if predicted else "") + " --- |",
    ]
    for r in rows:
        guess = r.get("latency_predicted_ms")
        extra = (f" {guess:.3f} |" if guess is not None else " - |") if predicted else ""
        lines.append(
            f"| {r['rank']} | {100 * r['inherited_val_accuracy']:.2f} | "
            f"{100 * r['test_top1']:.2f} | {r['macs']:,} | {r['params']:,} | "
            f"{r['latency_cpu_ms']:.3f} |{extra} `{r['export_dir']}` |"
        )
    return [*lines, ""]


def _rank_section(run_dir: Path, rows: list[RetrainedRow]) -> dict[str, Any]:
    inherited = [r.scored.accuracy for r in rows]
    retrained = [r.metrics["top1"] for r in rows]
    lines = ["## Rank fidelity (inherited vs retrained accuracy)", ""]
    try:
        report = rank_fidelity(inherited, retrained)
    except RankInputError as err:
        lines.append(f"Not computed: {err}.")
        return {"report": None, "lines": lines}
    plot_rank_scatter(inherited, retrained, run_dir / "rank.png", report)
    lines += [
        f"Kendall tau {report.kendall_tau:.3f} (p={report.kendall_p:.3g}), Spearman "
        f"{report.spearman:.3f} (p={report.spearman_p:.3g}) over n={report.n} architectures "
        "(the top of the front only: a narrow accuracy range, so expect a noisy estimate; "
        "`nas-evaluate mode=rank` measures it over any set).",
        "",
        "![rank fidelity](rank.png)",
    ]
    return {"report": report.to_dict(), "lines": lines}
