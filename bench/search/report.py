"""Aggregate benchmark runs: final hypervolume, log regret, sample-efficiency ratios, paired
Wilcoxon tests over seeds, a plot.

A LaMOO variant is compared with every baseline; its *inner* baseline (:func:`inner_baseline`:
the sampler it wraps, run alone) is the like-for-like pair. Per pair: the sample-efficiency
ratio (samples the LaMOO variant's mean curve needs to reach the baseline's final mean
hypervolume, over the baseline's budget; below 1 LaMOO is more sample-efficient), on how many
seeds (same initial points) LaMOO ends higher / lower, and the two-sided paired Wilcoxon
signed-rank p-value of the final hypervolumes (:func:`paired_test`). A pair is called better or
worse only when ``p < ALPHA``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

BASELINES = ("random", "nsga2", "qehvi", "qehvi-pool", "cmaes")
ALPHA = 0.05
"""Significance level of the paired test (two-sided)."""


def is_lamoo(name: str) -> bool:
    return name.startswith("lamoo-")


def is_challenger(name: str) -> bool:
    """Strategies compared with every baseline: LaMOO variants and the pymoo EAs (whose inner
    baseline is the hand-written NSGA-II)."""
    return is_lamoo(name) or name.startswith("pymoo-")


def inner_baseline(name: str) -> str:
    """The baseline a LaMOO variant wraps: ``lamoo-random`` -> ``random``, ``lamoo-evolution``
    -> ``nsga2``, ``lamoo-qehvi-pool`` -> ``qehvi-pool``, any other ``lamoo-qehvi*`` ->
    ``qehvi``, ``lamoo-cmaes`` -> ``cmaes``; a pymoo EA -> ``nsga2`` (the hand-written one);
    a sampler with no stand-alone strategy (``lamoo-trust``) -> ``random``.

    Example:
        >>> inner_baseline("lamoo-qehvi-strict")
        'qehvi'
    """
    if name == "lamoo-qehvi-pool":
        return "qehvi-pool"
    if name.startswith("pymoo-"):
        return "nsga2"
    sampler = name.removeprefix("lamoo-").split("-")[0]
    inner = {"random": "random", "evolution": "nsga2", "qehvi": "qehvi", "cmaes": "cmaes"}
    return inner.get(sampler, "random")


def _curves(runs: list[dict[str, Any]]) -> dict[str, dict[str, np.ndarray]]:
    """problem -> strategy -> (num_seeds, num_samples) hypervolume curves, seeds ascending."""
    grouped: dict[str, dict[str, list[tuple[int, list[float]]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for run in runs:
        grouped[run["problem"]][run["strategy"]].append((run["seed"], run["hv"]))
    return {
        p: {s: np.asarray([hv for _, hv in sorted(c)]) for s, c in by.items()}
        for p, by in grouped.items()
    }


def samples_to_reach(mean_curve: np.ndarray, target: float) -> int | None:
    """First sample count at which ``mean_curve`` reaches ``target`` (None if never)."""
    hits = np.flatnonzero(mean_curve >= target - 1e-12 * max(1.0, abs(target)))
    return int(hits[0]) + 1 if hits.size else None


def curve_table(runs: list[dict[str, Any]], at: list[int]) -> str:
    """Mean hypervolume over seeds after each sample count in ``at``, per problem and
    strategy (where a curve is won or lost, which the final values hide).

    Example:
        >>> runs = [{"problem": "p", "strategy": "s", "seed": k, "hv": [0.0, k, 2.0 * k]}
        ...         for k in (1, 3)]
        >>> print(curve_table(runs, [2, 3]).splitlines()[-1])
        | p | s | 2 | 2 | 4 |
    """
    lines = [
        "| problem | strategy | seeds | " + " | ".join(f"HV at {n}" for n in at) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in at) + " |",
    ]
    for problem, by_strategy in _curves(runs).items():
        for strategy, curves in by_strategy.items():
            means = [f"{curves[:, n - 1].mean():.4g}" for n in at]
            lines.append(f"| {problem} | {strategy} | {len(curves)} | {' | '.join(means)} |")
    return "\n".join(lines)


def paired_test(first: dict[int, float], second: dict[int, float]) -> dict[str, Any]:
    """Paired comparison of final hypervolumes by seed (the seeds both have).

    Returns ``seeds``, ``ahead`` / ``behind`` / ``ties`` (seeds where ``first`` ends higher,
    lower, equal), ``median_difference`` (first - second) and ``p_value``: the two-sided
    Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`, zero differences dropped; 1.0
    when every difference is zero; None with no common seed), and ``verdict``: ``better`` or
    ``worse`` when ``p_value < ALPHA`` (by the sign of the median difference), else ``tie``.

    Example:
        >>> out = paired_test({s: 1.0 + s for s in range(7)}, {s: 0.5 for s in range(7)})
        >>> out["ahead"], round(out["p_value"], 4), out["verdict"]
        (7, 0.0156, 'better')
    """
    seeds = sorted(set(first) & set(second))
    diff = np.asarray([first[s] - second[s] for s in seeds], dtype=np.float64)
    out: dict[str, Any] = {
        "seeds": len(seeds),
        "ahead": int((diff > 0).sum()),
        "behind": int((diff < 0).sum()),
        "ties": int((diff == 0).sum()),
        "median_difference": float(np.median(diff)) if seeds else None,
        "p_value": None,
        "verdict": "tie",
    }
    if not seeds:
        return out
    p = 1.0 if not np.any(diff != 0) else float(wilcoxon(diff).pvalue)
    out["p_value"] = p
    if p < ALPHA:
        out["verdict"] = "better" if np.median(diff[diff != 0]) > 0 else "worse"
    return out


def summarise(runs: list[dict[str, Any]], max_hv: dict[str, float | None]) -> dict[str, Any]:
    """Per problem and strategy: final HV mean/std, log10(HV_max - HV), time per proposal;
    per problem and (LaMOO variant, baseline) pair: ratio, seeds ahead, Wilcoxon p-value."""
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    finals: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    for run in runs:
        times[(run["problem"], run["strategy"])].append(run["ask_time_per_proposal_s"])
        finals[(run["problem"], run["strategy"])][run["seed"]] = run["hv"][-1]
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
        pairs = {}
        for lamoo in filter(is_challenger, by_strategy):
            for base in BASELINES:
                if base not in by_strategy:
                    continue
                target = by_strategy[base][:, -1].mean()
                needed = samples_to_reach(by_strategy[lamoo].mean(axis=0), target)
                pairs[f"{lamoo} vs {base}"] = {
                    "lamoo": lamoo,
                    "baseline": base,
                    "like_for_like": inner_baseline(lamoo) == base,
                    "ratio": None if needed is None else needed / by_strategy[base].shape[1],
                    **paired_test(finals[(problem, lamoo)], finals[(problem, base)]),
                }
        summary[problem] = {"max_hv": max_hv.get(problem), "strategies": rows, "pairs": pairs}
    return summary


def _pair_cell(pair: dict[str, Any]) -> str:
    ratio = "not reached" if pair["ratio"] is None else f"{pair['ratio']:.2f}"
    p = "-" if pair["p_value"] is None else f"{pair['p_value']:.3f}"
    mark = {"better": " **better**", "worse": " **worse**", "tie": ""}[pair["verdict"]]
    return f"{ratio} ({pair['ahead']}/{pair['seeds']}, p={p}){mark}"


def overview_table(summary: dict[str, Any]) -> str:
    """One row per problem, one column per like-for-like pair: ratio (seeds ahead, p)."""
    keys = list(
        dict.fromkeys(
            k for entry in summary.values() for k, p in entry["pairs"].items() if p["like_for_like"]
        )
    )
    lines = [
        "| problem | " + " | ".join(keys) + " |",
        "| --- |" + " ---: |" * len(keys),
    ]
    for problem, entry in summary.items():
        cells = [_pair_cell(entry["pairs"][k]) if k in entry["pairs"] else "-" for k in keys]
        lines.append(f"| {problem} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_table(summary: dict[str, Any], path: Path) -> str:
    """Markdown tables of ``summary`` (an overview of the like-for-like pairs, then per
    problem); also written to ``path``."""
    lines = [
        "Like-for-like pairs: sample-efficiency ratio (seeds where LaMOO ends higher / seeds, "
        f"two-sided paired Wilcoxon p; better/worse only where p < {ALPHA})",
        "",
        overview_table(summary),
        "",
    ]
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
            "| LaMOO vs baseline | ratio | ahead / behind / ties | median diff | Wilcoxon p "
            "| verdict |",
            "|---|---|---|---|---|---|",
        ]
        for key, pair in entry["pairs"].items():
            ratio = "not reached" if pair["ratio"] is None else f"{pair['ratio']:.2f}"
            p = "-" if pair["p_value"] is None else f"{pair['p_value']:.3f}"
            diff = pair["median_difference"]
            median = "-" if diff is None else f"{diff:.4g}"
            name = f"**{key}**" if pair["like_for_like"] else key
            lines.append(
                f"| {name} | {ratio} | {pair['ahead']} / {pair['behind']} / {pair['ties']} | "
                f"{median} | {p} | {pair['verdict']} |"
            )
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
    if not curves:
        return
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
