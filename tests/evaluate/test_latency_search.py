"""Latency as a search objective and budget, with a stand-in predictor (a linear function of
MACs, so the expected front is known); the table-based predictor has its own tests."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from lamoo_nas.commands.settings import settings_from_plain
from lamoo_nas.evaluate.codec import ArchCodec, Budget
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import run_nas_search, search_supernet
from lamoo_nas.search import non_dominated_mask
from lamoo_nas.search.errors import InfeasibleBudgetError
from lamoo_nas.supernet.errors import ConfigError


def _latency(cost_model):
    return lambda arch: 0.2 + cost_model(arch).macs / 1e6  # ms


def _settings(**overrides) -> SearchSettings:
    base = {"num_samples": 12, "batch_size": 4, "num_init": 4, "progress": False}
    return SearchSettings(**{**base, **overrides})


def test_latency_objective_and_budget(random_supernet, digits, tiny_space, cost_model, tmp_path):
    latency = _latency(cost_model)
    lo, hi = latency(tiny_space.smallest()), latency(tiny_space.largest())
    budget = Budget(latency_ms=(lo + hi) / 2)
    settings = _settings(objectives=("accuracy", "latency"), budget=budget)
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    result = run_nas_search(tiny_space, cost_model, evaluator, settings, tmp_path, latency)
    assert all(r.latency_ms is not None and r.latency_ms <= budget.latency_ms for r in result.rows)
    points = np.array([[r.accuracy, -r.latency_ms] for r in result.rows])
    assert [r.is_pareto for r in result.rows] == non_dominated_mask(points).tolist()
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["latency_ms"]) for r in rows] == [r.latency_ms for r in result.rows]
    assert json.loads((tmp_path / "summary.json").read_text())["budget"]["latency_ms"] == (
        budget.latency_ms
    )
    assert result.summary["ref_point"][1] == pytest.approx(-budget.latency_ms)
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_a_latency_budget_below_the_fastest_arch_names_its_latency(tiny_space, cost_model):
    latency = _latency(cost_model)
    fastest = latency(tiny_space.smallest())
    with pytest.raises(InfeasibleBudgetError, match=f"predicts {fastest:.4g} ms"):
        ArchCodec(tiny_space, cost_model, Budget(latency_ms=fastest * 0.9), latency)


def test_latency_without_a_table_is_one_clear_error(tmp_path, tiny_space, cost_model) -> None:
    with pytest.raises(ConfigError, match=r"needs a latency table.*nas-latency-table"):
        search_supernet(tmp_path / "none", _settings(objectives=("accuracy", "latency")),
                        tmp_path, calib_images=8, use_ema=True, device="cpu")  # fmt: skip
    with pytest.raises(ConfigError, match="latency_table"):
        ArchCodec(tiny_space, cost_model, Budget(latency_ms=5.0))


def test_latency_settings_are_typed() -> None:
    base = {"strategy": {"name": "random"}, "objectives": ["accuracy", "latency"],
            "num_samples": 8, "batch_size": 2, "num_init": 2, "seed": 0}  # fmt: skip
    assert settings_from_plain({**base, "budget": {"latency_ms": "12.5"}}).budget.latency_ms == 12.5
    with pytest.raises(ConfigError, match=r"budget\.latency_ms is 'fast'"):
        settings_from_plain({**base, "budget": {"latency_ms": "fast"}})


def test_a_search_with_a_measured_table(trained_run, tiny_space, tmp_path) -> None:
    from lamoo_nas.evaluate.latency_table import LatencyPredictor, build_latency_table

    table_path = tmp_path / "tiny_cpu.jsonl"
    build_latency_table(tiny_space, 10, table_path, warmup=0, repeats=1, rounds=1, progress=False)
    predictor = LatencyPredictor.load(table_path, tiny_space, 10)
    _, fastest_ms = predictor.fastest()
    slowest_ms = predictor.predict_ms(tiny_space.largest())
    budget = Budget(latency_ms=fastest_ms + 0.5 * (slowest_ms - fastest_ms))
    settings = _settings(objectives=("accuracy", "latency", "macs"), budget=budget, num_samples=8)
    result = search_supernet(trained_run, settings, tmp_path / "s", calib_images=16,
                             use_ema=True, device="cpu", latency_table=table_path)  # fmt: skip
    assert all(r.latency_ms == predictor.predict_ms(r.arch) for r in result.rows)
    assert all(r.latency_ms <= budget.latency_ms for r in result.rows)
    manifest = json.loads((tmp_path / "s" / "run.json").read_text())
    assert manifest["fingerprints"]["latency table"] == predictor.table.fingerprint
    with pytest.raises(InfeasibleBudgetError, match="the fastest predicts"):
        search_supernet(trained_run, dataclasses.replace(settings, budget=Budget(
            latency_ms=fastest_ms * 0.5)), tmp_path / "t", calib_images=16, use_ema=True,
            device="cpu", latency_table=table_path)  # fmt: skip
