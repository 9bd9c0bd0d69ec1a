"""One table of the supernet recipes (``bench/nbmacro/recipes.sh``): per recipe, over its seeds,
the training wall-clock, the supernet's own Kendall tau on 100 uniform networks and the block
models' tau over all 3,969 networks (overall, within MACs bins) and their pick's true rank.

Usage: python -m bench.nbmacro.recipes_report RUN_DIR   (writes RUN_DIR/recipes.{json,md})
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.runtime.io import atomic_write_text

DESIGNS = ("uniform 100", "stratified 100 (README's rank fidelity)", "uniform 50", "uniform 30")


def training_minutes(supernet: Path) -> float | None:
    metrics = supernet / "metrics.jsonl"
    if not metrics.is_file():
        return None
    rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    return sum(float(r.get("epoch_time_s", 0.0)) for r in rows) / 60.0


def collect(run: Path) -> dict[str, list[dict[str, Any]]]:
    recipes: dict[str, list[dict[str, Any]]] = {}
    for score in sorted(run.glob("score-*-s*/block_model.json")):
        recipe, seed = score.parent.name.removeprefix("score-").rsplit("-s", 1)
        report = json.loads(score.read_text())
        fid = report["fidelity"]
        row = {"seed": int(seed), "supernet": report["supernet"],
               "minutes": training_minutes(Path(report["supernet"])),
               "calib_images": report["calib_images"],
               "supernet_tau_uniform100": fid["uniform 100"]["supernet_tau_on_these"]}  # fmt: skip
        for design in DESIGNS:
            row[design] = {k: fid[design][k] for k in ("tau", "binned_tau", "model_pick_true_rank")}
        recipes.setdefault(recipe, []).append(row)
    return recipes


def _ms(values: list[float]) -> str:
    a = np.asarray(values, dtype=float)
    return f"{a.mean():.3f} ± {a.std(ddof=1):.3f}" if len(a) > 1 else f"{a.mean():.3f}"


def table(recipes: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| recipe | seeds | training (min, mean) | supernet tau on 100 uniform | block model "
        "(100 uniform): tau | tau in MACs bins | pick's true rank | block model (100 "
        "stratified): tau | tau in bins |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for recipe, rows in recipes.items():
        rows = sorted(rows, key=lambda r: r["seed"])
        minutes = [r["minutes"] for r in rows if r["minutes"] is not None]
        u = [r["uniform 100"] for r in rows]
        s = [r["stratified 100 (README's rank fidelity)"] for r in rows]
        lines.append(
            f"| {recipe} | {', '.join(str(r['seed']) for r in rows)} | "
            f"{f'{np.mean(minutes):.0f}' if minutes else '–'} | "
            f"{_ms([r['supernet_tau_uniform100'] for r in rows])} | "
            f"{_ms([x['tau'] for x in u])} | {_ms([x['binned_tau'] for x in u])} | "
            f"{', '.join(str(x['model_pick_true_rank']) for x in u)} | "
            f"{_ms([x['tau'] for x in s])} | {_ms([x['binned_tau'] for x in s])} |"
        )
    return "\n".join(lines)


def paired(recipes: dict[str, list[dict[str, Any]]], against: str = "sandwich") -> str:
    """Per recipe, against ``against`` on the seeds both ran: mean difference of the block
    model's tau (100 uniform evaluations), overall and within MACs bins, and on how many of
    those seeds the recipe is ahead."""
    if against not in recipes:
        return ""
    base = {r["seed"]: r["uniform 100"] for r in recipes[against]}
    lines = [
        f"| recipe vs {against} (block model, 100 uniform) | seeds | tau: mean difference | "
        "ahead | tau in bins: mean difference | ahead |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for recipe, rows in recipes.items():
        pairs = sorted((r["seed"], r["uniform 100"]) for r in rows if r["seed"] in base)
        if recipe == against or not pairs:
            continue
        cells = []
        for key in ("tau", "binned_tau"):
            diff = np.array([m[key] - base[seed][key] for seed, m in pairs])
            cells += [f"{diff.mean():+.3f}", f"{int((diff > 0).sum())}/{diff.size}"]
        seeds = ", ".join(str(seed) for seed, _ in pairs)
        lines.append(f"| {recipe} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m bench.nbmacro.recipes_report RUN_DIR")
    run = Path(sys.argv[1])
    recipes = collect(run)
    if not recipes:
        raise SystemExit(f"error: no score-*/block_model.json under {run}; run recipes.sh first")
    text = table(recipes)
    versus = paired(recipes)
    if versus:
        text += "\n\n" + versus
    atomic_write_text(run / "recipes.json", json.dumps(recipes, indent=1))
    atomic_write_text(run / "recipes.md", text + "\n")
    print(text)


if __name__ == "__main__":
    main()
