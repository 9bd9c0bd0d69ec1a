"""The table of ``bench/nbmacro/few_shot.sh``: rank fidelity of every few-shot split against its
one-shot control (the parent trained on for the same total epochs), on the same architectures.

For each pair it also gives the paired bootstrap 95 % interval of the Kendall-tau difference
(the architectures resampled together), so "better" means an interval above zero.

Writes ``RUN/few_shot_report.json`` and ``RUN/few_shot_report.md`` and prints the table.
Run: ``python -m bench.nbmacro.few_shot_report runs/nbmacro_cpu/few_shot``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

VARIANTS = [  # (name, what it is, total extra epochs, its control)
    ("parent", "one-shot parent (uniform, 6 epochs)", 0, None),
    ("oneshot_plus2", "one-shot + 2 epochs (control for K = 2)", 2, None),
    ("choices_k2", "few-shot K = 2, split on stages.0.depth (1 or 2)", 2, "oneshot_plus2"),
    ("learned_k2", "few-shot K = 2, learned (LaMOO tree)", 2, "oneshot_plus2"),
    ("oneshot_plus3", "one-shot + 3 epochs (control for K = 3)", 3, None),
    ("choices_k3", "few-shot K = 3, split on stages.0.layers.0.op", 3, "oneshot_plus3"),
    ("learned_k3", "few-shot K = 3, learned (LaMOO tree)", 3, "oneshot_plus3"),
]
BOOTSTRAP = 2000


def _fidelity(run: Path, name: str) -> dict[str, Any] | None:
    path = run / f"rank_{name}" / "fidelity.json"
    return json.loads(path.read_text()) if path.is_file() else None


def paired_tau_difference(
    a: np.ndarray, b: np.ndarray, truth: np.ndarray, seed: int = 0, resamples: int = BOOTSTRAP
) -> tuple[float, float, float]:
    """tau(a, truth) - tau(b, truth) and its paired bootstrap 95 % interval."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        i = rng.integers(0, truth.size, truth.size)
        diffs.append(kendalltau(a[i], truth[i])[0] - kendalltau(b[i], truth[i])[0])
    point = kendalltau(a, truth)[0] - kendalltau(b, truth)[0]
    low, high = np.nanpercentile(diffs, [2.5, 97.5])
    return float(point), float(low), float(high)


def report(run: Path) -> dict[str, Any]:
    found = {name: _fidelity(run, name) for name, *_ in VARIANTS}
    labels = {name: [r["label"] for r in f["rows"]] for name, f in found.items() if f}
    first = next(iter(labels.values()))
    for name, lab in labels.items():
        if lab != first:
            raise SystemExit(f"{name} scored other architectures than the rest; rerun its rank")
    rows = []
    for name, what, epochs, control in VARIANTS:
        fid = found[name]
        if fid is None:
            continue
        m = fid["metrics"]["supernet"]
        row = {"name": name, "what": what, "extra_epochs": epochs, "control": control,
               "kendall_tau": m["kendall_tau"], "kendall_ci": m["kendall_ci"],
               "spearman": m["spearman"], "binned_tau": m["binned_tau"],
               "top10_recall": m["top_recall"], "n": m["n"]}  # fmt: skip
        if control and found[control] is not None:
            mine = np.array([r["inherited"] for r in fid["rows"]])
            theirs = np.array([r["inherited"] for r in found[control]["rows"]])  # type: ignore[index]
            truth = np.array([r["true"] for r in fid["rows"]])
            row["tau_minus_control"] = paired_tau_difference(mine, theirs, truth)
            regions = _regions(run / name, fid["rows"])
            if regions is not None:
                row["regions"] = {
                    "archs": [int((regions == k).sum()) for k in range(regions.max() + 1)],
                    "tau_within": _within(mine, truth, regions),
                    "control_tau_within": _within(theirs, truth, regions),
                    "mean_inherited": [float(mine[regions == k].mean())
                                       for k in range(regions.max() + 1)],
                    "control_mean_inherited": [float(theirs[regions == k].mean())
                                               for k in range(regions.max() + 1)],
                }  # fmt: skip
        rows.append(row)
    ceiling = next(iter(found.values()))
    result = {"rows": rows}
    if ceiling is not None:
        result["seed_ceiling"] = ceiling["metrics"]["seed_ceiling"]
    return result


def _regions(few_run: Path, rows: list[dict[str, Any]]) -> np.ndarray | None:
    """The region of every scored architecture, by the few-shot run's own partition."""
    partition_file = few_run / "partition.json"
    if not partition_file.is_file():
        return None
    import torch

    from lamoo_nas.supernet import SearchSpace
    from lamoo_nas.supernet.partition import partition_from_json

    checkpoint = torch.load(few_run / "region0" / "final.pt", map_location="cpu", weights_only=True)
    space = SearchSpace.from_dict(checkpoint["space"])
    partition = partition_from_json(partition_file.read_text(), space, str(partition_file))
    x = space.encode_many([space.arch_from_json(r["arch"]) for r in rows])
    return partition.regions_of(x)


def _within(scores: np.ndarray, truth: np.ndarray, regions: np.ndarray) -> list[float | None]:
    """Kendall tau inside each region (None for a region with fewer than 3 architectures)."""
    out: list[float | None] = []
    for k in range(regions.max() + 1):
        inside = regions == k
        out.append(
            float(kendalltau(scores[inside], truth[inside])[0]) if inside.sum() > 2 else None
        )
    return out


def regions_table(result: dict[str, Any]) -> str:
    """Per region of each split: tau inside it and the mean inherited accuracy, vs control."""
    lines = ["| split | region | archs | tau inside (control) | mean inherited acc. (control) |",
             "| --- | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in result["rows"]:
        reg = r.get("regions")
        if not reg:
            continue
        for k, n in enumerate(reg["archs"]):
            mine, theirs = reg["tau_within"][k], reg["control_tau_within"][k]
            tau = "-" if mine is None or theirs is None else f"{mine:.3f} ({theirs:.3f})"
            mean, control = reg["mean_inherited"][k], reg["control_mean_inherited"][k]
            acc = f"{100 * mean:.1f} % ({100 * control:.1f} %)"
            lines.append(f"| {r['name']} | {k} | {n} | {tau} | {acc} |")
    return "\n".join(lines)


def table(result: dict[str, Any]) -> str:
    lines = [
        "| supernet | extra epochs | Kendall tau [95 % CI] | tau in MACs bins | top-10 % recall "
        "| tau - control [paired 95 % CI] |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rows"]:
        low, high = r["kendall_ci"]
        diff = r.get("tau_minus_control")
        paired = "-" if diff is None else f"{diff[0]:+.3f} [{diff[1]:+.3f}, {diff[2]:+.3f}]"
        lines.append(
            f"| {r['what']} | {r['extra_epochs']} | {r['kendall_tau']:.3f} [{low:.3f}, "
            f"{high:.3f}] | {r['binned_tau']:.3f} | {r['top10_recall']:.2f} | {paired} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    args = parser.parse_args()
    result = report(args.run)
    (args.run / "few_shot_report.json").write_text(json.dumps(result, indent=1) + "\n")
    text = table(result) + "\n\n" + regions_table(result)
    (args.run / "few_shot_report.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
