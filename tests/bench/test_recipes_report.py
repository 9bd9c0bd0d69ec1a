"""The recipe table pairs each recipe with the sandwich preset on the seeds both ran."""

from __future__ import annotations

import json
from pathlib import Path

from bench.nbmacro import recipes_report


def _score(run: Path, recipe: str, seed: int, tau: float, binned: float) -> None:
    fit = {"tau": tau, "binned_tau": binned, "model_pick_true_rank": 3}
    fidelity = {design: dict(fit) for design in recipes_report.DESIGNS}
    fidelity["uniform 100"]["supernet_tau_on_these"] = 0.6
    out = run / f"score-{recipe}-s{seed}"
    out.mkdir(parents=True)
    report = {"supernet": str(run / f"{recipe}-s{seed}"), "calib_images": 500, "fidelity": fidelity}
    (out / "block_model.json").write_text(json.dumps(report))


def test_paired_differences_use_only_common_seeds(tmp_path: Path) -> None:
    for seed, tau in ((0, 0.74), (1, 0.70)):
        _score(tmp_path, "sandwich", seed, tau, tau - 0.05)
    for seed, tau in ((0, 0.76), (1, 0.69), (2, 0.90)):  # seed 2 has no sandwich partner
        _score(tmp_path, "uniform24", seed, tau, tau)
    recipes = recipes_report.collect(tmp_path)
    assert sorted(recipes) == ["sandwich", "uniform24"]
    assert "| uniform24 | 0, 1, 2 |" in recipes_report.table(recipes)
    row = next(line for line in recipes_report.paired(recipes).splitlines() if "uniform24" in line)
    # tau: (+0.02 - 0.01) / 2; in bins: (+0.07 + 0.04) / 2; seed 2 left out
    assert row == "| uniform24 | 0, 1 | +0.005 | 1/2 | +0.055 | 2/2 |"
    assert recipes_report.paired({"uniform24": recipes["uniform24"]}) == ""
