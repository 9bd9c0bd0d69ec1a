"""Ground-truth tables: NAS-Bench-Macro JSON and generic CSV, with clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lamoo_nas.evaluate.fidelity import (
    fidelity_report,
    layer_count,
    proxy_metrics,
    stratified_sample,
)
from lamoo_nas.evaluate.ground_truth import GroundTruthError, judge_search, load_ground_truth
from lamoo_nas.supernet import CostModel, load_space
from lamoo_nas.supernet.nbmacro import arch_from_code
from tests.nbmacro_table import nbmacro_table_path

NBMACRO = load_space("nbmacro")
ROW = {"test_acc": [90.0, 91.0, 92.0], "mean_acc": 91.0, "std": 0.8, "params": 1, "flops": 2}


def _write(tmp_path: Path, rows: object, name: str = "t.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows))
    return path


def test_real_table_gives_3969_networks_as_fractions() -> None:
    truth = load_ground_truth(nbmacro_table_path(), NBMACRO)
    assert len(truth) == 3969
    best = max(truth, key=lambda a: truth[a])
    assert truth[best] == pytest.approx(0.9313, abs=1e-4)
    assert truth[arch_from_code(NBMACRO, "00000000")] == pytest.approx(0.4536, abs=1e-4)
    assert len(truth.seed_accuracies[best]) == 3


def test_duplicate_strings_merge_and_must_agree(tmp_path: Path) -> None:
    path = _write(tmp_path, {"01201020": ROW, "01210020": ROW, "22222222": ROW})
    assert len(load_ground_truth(path, NBMACRO)) == 2
    other = {**ROW, "mean_acc": 50.0}
    with pytest.raises(GroundTruthError, match="disagree"):
        load_ground_truth(_write(tmp_path, {"01201020": ROW, "01210020": other}), NBMACRO)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"0201210": ROW}, "8 digits"),
        ({"02012100": {"mean_acc": 90.0}}, "needs mean_acc, params, flops"),
        ({"02012100": {**ROW, "mean_acc": "high"}}, "mean_acc='high'"),
        ({"02012100": {**ROW, "mean_acc": 930.0}}, r"in \[0, 100\]"),
        ({"02012100": {**ROW, "test_acc": "90"}}, "not a list"),
        ([], "non-empty JSON object"),
    ],
)
def test_malformed_nbmacro_tables_are_refused(tmp_path: Path, rows: object, message: str) -> None:
    with pytest.raises(GroundTruthError, match=message):
        load_ground_truth(_write(tmp_path, rows), NBMACRO)


def test_nbmacro_table_for_another_space_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GroundTruthError, match="space=nbmacro"):
        load_ground_truth(_write(tmp_path, {"02012100": ROW}), load_space("tiny"))
    with pytest.raises(GroundTruthError, match="not valid JSON"):
        (tmp_path / "broken.json").write_text("{")
        load_ground_truth(tmp_path / "broken.json", NBMACRO)
    with pytest.raises(GroundTruthError, match="no ground-truth table"):
        load_ground_truth(tmp_path / "missing.json", NBMACRO)


def _csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "truth.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _cell(arch_json: dict) -> str:
    return '"' + json.dumps(arch_json).replace('"', '""') + '"'


def test_generic_csv_table(tmp_path: Path) -> None:
    tiny = load_space("tiny")
    rows = [tiny.arch_to_json(a) for a in (tiny.smallest(), tiny.largest())]
    path = _csv(tmp_path, ["arch,accuracy", f"{_cell(rows[0])},0.9", f"{_cell(rows[1])},0.95"])
    truth = load_ground_truth(path, tiny)
    assert truth[tiny.largest()] == 0.95 and len(truth) == 2
    bad_cases = [
        (["arch,acc", f"{_cell(rows[0])},0.9"], "must name the columns arch and accuracy"),
        (["arch,accuracy", f"{_cell(rows[0])},93"], "0.93, not 93"),
        (["arch,accuracy", f"{_cell(rows[0])},"], "give a fraction"),
        (["arch,accuracy", "not json,0.9"], "not an architecture JSON"),
        (["arch,accuracy"], "no rows"),
        (["arch,accuracy", f"{_cell(rows[0])},0.9", f"{_cell(rows[0])},0.8"], "appears again"),
    ]
    for lines, message in bad_cases:
        with pytest.raises(GroundTruthError, match=message):
            load_ground_truth(_csv(tmp_path, lines), tiny)
    other = NBMACRO.arch_to_json(NBMACRO.smallest())
    with pytest.raises(GroundTruthError, match="made for space 'nbmacro'"):
        load_ground_truth(_csv(tmp_path, ["arch,accuracy", f"{_cell(other)},0.5"]), tiny)
    outside = {**rows[0], "resolution": 99}
    with pytest.raises(GroundTruthError, match="resolution 99"):
        load_ground_truth(_csv(tmp_path, ["arch,accuracy", f"{_cell(outside)},0.5"]), tiny)
    with pytest.raises(GroundTruthError, match=r"\.json or a \.csv"):
        load_ground_truth(tmp_path / "truth.txt", tiny)


def test_stratified_sample_covers_every_macs_decile() -> None:
    truth = load_ground_truth(nbmacro_table_path(), NBMACRO)
    cost = CostModel(NBMACRO, 10)
    archs = stratified_sample(truth, cost, 100, np.random.default_rng(0))
    assert len(set(archs)) == 100
    all_macs = np.sort([cost(a).macs for a in truth])
    edges = [all_macs[len(all_macs) * i // 10] for i in range(1, 10)]
    counts = np.bincount(np.searchsorted(edges, [cost(a).macs for a in archs], "right"))
    assert counts.min() >= 8 and counts.max() <= 12  # ties at decile edges move a few


def test_proxy_metrics_measure_what_they_claim() -> None:
    rng = np.random.default_rng(0)
    truth = np.linspace(0.5, 0.9, 40)
    macs = np.arange(40.0)
    perfect = proxy_metrics(truth, truth, macs, rng, bootstrap=100)
    assert perfect.kendall_tau == 1.0 and perfect.binned_tau == 1.0 and perfect.top_recall == 1.0
    reversed_ = proxy_metrics(-truth, truth, macs, rng, bootstrap=100)
    assert reversed_.kendall_tau == -1.0 and reversed_.top_recall == 0.0
    # a proxy that only knows the MACs bin: globally good, useless inside bins
    coarse = np.repeat(np.arange(10.0), 4)
    binned = proxy_metrics(coarse, truth, macs, rng, bootstrap=100)
    assert binned.kendall_tau > 0.8
    assert binned.binned_tau == 0.0
    noisy = truth + rng.normal(0, 0.2, 40)
    m = proxy_metrics(noisy, truth, macs, rng, bootstrap=200)
    assert m.kendall_ci[0] <= m.kendall_tau <= m.kendall_ci[1]
    with pytest.raises(ValueError, match="NaN"):
        proxy_metrics(np.full(40, np.nan), truth, macs, rng)


def test_fidelity_report_scores_the_free_proxies() -> None:
    truth = load_ground_truth(nbmacro_table_path(), NBMACRO)
    cost = CostModel(NBMACRO, 10)
    archs = stratified_sample(truth, cost, 200, np.random.default_rng(1))
    exact = np.asarray([truth[a] for a in archs])
    report = fidelity_report(archs, exact, truth, cost, bootstrap=50)
    metrics = report["metrics"]
    assert metrics["supernet"]["kendall_tau"] == 1.0
    # the README of the table: layer count 0.69, MACs 0.56 over all rows
    assert 0.55 < metrics["layers"]["kendall_tau"] < 0.85
    assert 0.4 < metrics["macs"]["kendall_tau"] < 0.7
    assert 0.7 < metrics["seed_ceiling"]["kendall_tau"] < 1.0
    assert layer_count(arch_from_code(NBMACRO, "01201020")) == 4
    assert len(report["rows"]) == 200


def test_judge_search_against_the_table() -> None:
    truth = load_ground_truth(nbmacro_table_path(), NBMACRO)
    cost = CostModel(NBMACRO, 10)
    budget = 40e6
    admitted = [a for a in truth if cost(a).macs <= budget]
    best = max(admitted, key=lambda a: truth[a])

    def macs(a: object) -> int:
        return cost(a).macs  # type: ignore[arg-type]

    # the table's own front under the budget reaches the maximum exactly
    from lamoo_nas.search.pareto import non_dominated_mask

    pts = np.asarray([(truth[a], -macs(a)) for a in admitted])
    front = [a for a, keep in zip(admitted, non_dominated_mask(pts)) if keep]
    perfect = judge_search(front, best, admitted, truth, macs, budget)
    assert perfect.hv_ratio == pytest.approx(1.0) and perfect.picked_true == perfect.best_true
    worst = min(admitted, key=lambda a: truth[a])
    poor = judge_search([worst], worst, [worst, best], truth, macs, budget)
    assert poor.hv_ratio < 0.7 and poor.picked_true < poor.found_true == poor.best_true
    with pytest.raises(GroundTruthError, match="no architecture"):
        judge_search([], worst, [worst], truth, macs, 1.0)
