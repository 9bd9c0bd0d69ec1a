"""The few-shot report: paired tau differences and refusing mismatched architecture sets."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.nbmacro.few_shot_report import paired_tau_difference, report, table


def _fidelity(folder, inherited, truth, labels) -> None:
    rows = [{"label": lab, "inherited": float(a), "true": float(t)}
            for lab, a, t in zip(labels, inherited, truth)]  # fmt: skip
    metrics = {"kendall_tau": 0.5, "kendall_ci": [0.4, 0.6], "spearman": 0.6,
               "binned_tau": 0.3, "top_recall": 0.5, "n": len(rows)}  # fmt: skip
    folder.mkdir(parents=True)
    (folder / "fidelity.json").write_text(json.dumps(
        {"rows": rows, "metrics": {"supernet": metrics, "seed_ceiling": metrics}}))  # fmt: skip


def test_a_better_ranking_has_a_positive_paired_difference() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(80)
    good = truth + 0.05 * rng.standard_normal(80)
    bad = truth + 0.5 * rng.standard_normal(80)
    point, low, high = paired_tau_difference(good, bad, truth, resamples=300)
    assert point > 0 and 0 < low < point < high
    point, low, high = paired_tau_difference(bad, good, truth, resamples=300)
    assert high < 0


def test_report_pairs_each_split_with_its_control_and_refuses_other_archs(tmp_path) -> None:
    rng = np.random.default_rng(1)
    truth, labels = rng.random(30), [f"a{i}" for i in range(30)]
    _fidelity(tmp_path / "rank_oneshot_plus3", truth + rng.standard_normal(30), truth, labels)
    _fidelity(tmp_path / "rank_choices_k3", truth, truth, labels)
    result = report(tmp_path)
    by_name = {r["name"]: r for r in result["rows"]}
    assert by_name["choices_k3"]["tau_minus_control"][0] > 0
    assert "tau_minus_control" not in by_name["oneshot_plus3"]
    assert "few-shot K = 3" in table(result)
    _fidelity(tmp_path / "rank_learned_k3", truth, truth, [*labels[:-1], "other"])
    with pytest.raises(SystemExit, match="scored other architectures"):
        report(tmp_path)
