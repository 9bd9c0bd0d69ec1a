"""Aggregate benchmark runs: final hypervolume, log regret, sample-efficiency ratios, a plot."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

LAMOO = ("lamoo-random", "lamoo-evolution", "lamoo-qehvi")
BASELINES = ("random", "nsga2", "qehvi")


def _curves(runs: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """problem -> strategy -> (num_seeds, num_samples) hypervolume curves."""
    grouped: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run["problem"]][run["strategy"]].append(run["hv"])
    return {p: {s: np.asarray(c) for s, c in by.items()} for p, by in grouped.items()}


def samples_to_reach(mean_curve: np.ndarray, target: float) -> int | None:
    """First sample count at which ``mean_curve`` reaches ``target`` (None if never)."""
    hits = np.flatnonzero(mean_curve >= target - 1e-12 * max(1.0, abs(target)))
    return int(hits[0]) + 1 if hits.size else None


def paired_wins(runs: list[dict[str, Any]], problem: str, first: str, second: str) -> list[int]:
    """``[wins, seeds]``: over the seeds both strategies ran (same initial points), how often
    ``first`` ended with the strictly higher hypervolume."""
    final = {(r["strategy"], r["seed"]): r["hv"][-1] for r in runs if r["problem"] == problem}
    seeds = sorted({s for name, s in final if name == first} & {s for n, s in final if n == second})
    return [sum(final[(first, s)] > final[(second, s)] for s in seeds), len(seeds)]


def summarise(runs: list[dict[str, Any]], max_hv: dict[str, float | None]) -> dict[str, Any]:
    """Per problem and strategy: final HV mean/std, log10(HV_max - HV), time per proposal;
    per problem: samples each LaMOO variant needs to reach each baseline's final mean HV,
    divided by the baseline's budget (< 1 means LaMOO is more sample-efficient)."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for run in runs:
        times[(run["problem"], run["strategy"])].append(run["ask_time_per_proposal_s"])
    summary: dict[str, Any] = {}
    for problem, by_strategy in _curves(runs).items():
        rows = {}
        for name, curves in by_strategy.items():
            final = curves[:, -1]
            row = {
                "num_seeds": int(curves.shape[0]),
                "num_samples": int(curves.shape[1]),
                "final_hv_mean": float(final.mean()),
                "final_hv_std": float(final.std()),
                "ask_time_per_proposal_s": float(np.mean(times[(problem, name)])),
            }
            if max_hv.get(problem):
                gap = np.maximum(float(max_hv[problem]) - final, 1e-12)  # type: ignore[arg-type]
                row["final_log10_gap_mean"] = float(np.log10(gap).mean())
            rows[name] = row
        ratios, wins = {}, {}
        for lamoo in LAMOO:
            for base in BASELINES:
                if lamoo in by_strategy and base in by_strategy:
                    key = f"{lamoo} vs {base}"
                    target = by_strategy[base][:, -1].mean()
                    budget = by_strategy[base].shape[1]
                    needed = samples_to_reach(by_strategy[lamoo].mean(axis=0), target)
                    ratios[key] = None if needed is None else needed / budget
                    wins[key] = paired_wins(runs, problem, lamoo, base)
        summary[problem] = {
            "max_hv": max_hv.get(problem),
            "strategies": rows,
            "ratios": ratios,
            "seed_wins": wins,
        }
    return summary


def write_table(summary: dict[str, Any], path: Path) -> str:
    """Markdown table of ``summary``; also written to ``path``."""
    lines = []
    for problem, entry in summary.items():
        lines += [f"### {problem} (max HV {entry['max_hv']})", ""]
        lines += [
            "| strategy | seeds | samples | final HV (mean ± std) | log10(HVmax-HV) "
            "| ask s/proposal |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in entry["strategies"].items():
            gap = row.get("final_log10_gap_mean")
            lines.append(
                f"| {name} | {row['num_seeds']} | {row['num_samples']} | "
                f"{row['final_hv_mean']:.5g} ± {row['final_hv_std']:.3g} | "
                f"{'' if gap is None else f'{gap:.3f}'} | {row['ask_time_per_proposal_s']:.3f} |"
            )
        lines += [
            "",
            "| LaMOO vs baseline | sample-efficiency ratio (LaMOO samples / baseline budget) "
            "| seeds where LaMOO ends higher |",
            "|---|---|---|",
        ]
        for key, value in entry["ratios"].items():
            won, seeds = entry["seed_wins"][key]
            ratio = "not reached" if value is None else f"{value:.2f}"
            lines.append(f"| {key} | {ratio} | {won}/{seeds} |")
        lines.append("")
    text = "\n".join(lines)
    path.write_text(text)
    return text


def write_plot(runs: list[dict[str, Any]], max_hv: dict[str, float | None], path: Path) -> None:
    """log10(HV_max - HV) vs samples (HV where the maximum is unknown), mean ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = _curves(runs)
    fig, axes = plt.subplots(1, len(curves), figsize=(4.5 * len(curves), 3.6), squeeze=False)
    for ax, (problem, by_strategy) in zip(axes[0], curves.items()):
        top = max_hv.get(problem)
        for name, c in sorted(by_strategy.items()):
            values = np.log10(np.maximum(top - c, 1e-12)) if top else c
            mean, std = values.mean(axis=0), values.std(axis=0)
            x = np.arange(1, len(mean) + 1)
            ax.plot(x, mean, label=name)
            ax.fill_between(x, mean - std, mean + std, alpha=0.15)
        ax.set_title(problem)
        ax.set_xlabel("samples")
        ax.set_ylabel("log10(HV_max - HV)" if top else "HV")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
