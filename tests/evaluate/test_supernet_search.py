from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.errors import AccuracyCacheMismatchError
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import run_nas_search, search_supernet
from lamoo_nas.search import non_dominated_mask
from lamoo_nas.search.errors import InfeasibleBudgetError, UnknownStrategyError
from lamoo_nas.supernet import CostModel, SearchSpace, Supernet
from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ConfigError


def _settings(budget: Budget, **overrides) -> SearchSettings:
    base = {"num_samples": 12, "batch_size": 4, "num_init": 4, "progress": False}
    return SearchSettings(budget=budget, **{**base, **overrides})


def _half_budget(space, cost_model) -> Budget:
    lo, hi = cost_model(space.smallest()).macs, cost_model(space.largest()).macs
    return Budget(macs=(lo + hi) / 2)


def test_search_writes_a_consistent_front(
    random_supernet, digits, tiny_space, cost_model, tmp_path
):
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    budget = _half_budget(tiny_space, cost_model)
    result = run_nas_search(tiny_space, cost_model, evaluator, _settings(budget), tmp_path)
    assert len(result.rows) == 12
    assert len({r.arch for r in result.rows}) == 12  # never evaluated twice
    assert all(r.macs <= budget.macs for r in result.rows)
    points = np.array([[r.accuracy, -r.macs] for r in result.rows])
    assert [r.is_pareto for r in result.rows] == non_dominated_mask(points).tolist()
    assert result.best.accuracy == max(r.accuracy for r in result.rows)
    best = tiny_space.arch_from_json(json.loads((tmp_path / "best_arch.json").read_text()))
    assert best == result.best.arch
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {"accuracy", "macs", "params", "iteration", "strategy", "is_pareto", "arch"} <= set(
        rows[0]
    )
    front = json.loads((tmp_path / "pareto.json").read_text())
    assert len(front) == sum(r.is_pareto for r in result.rows)
    for name in ("pareto.png", "hypervolume.png", "history.json", "history.csv", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert result.summary["strategy_time_fraction_of_evaluation"] > 0


def test_three_objectives(random_supernet, digits, tiny_space, cost_model, tmp_path) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    settings = _settings(Budget(), objectives=("accuracy", "macs", "params"), strategy="nsga2")
    result = run_nas_search(tiny_space, cost_model, evaluator, settings, tmp_path)
    assert result.history.objective_names == ["accuracy", "macs", "params"]
    assert len(result.rows) == 12


def test_interrupted_search_resumes_without_re_evaluating(
    random_supernet, digits, tiny_space, cost_model, tmp_path, monkeypatch
) -> None:
    budget = _half_budget(tiny_space, cost_model)
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    scored: list = []
    original = evaluator._score

    def dying_score(arch):
        if len(scored) == 6:
            raise KeyboardInterrupt  # killed in the middle of the second batch
        scored.append(arch)
        return original(arch)

    monkeypatch.setattr(evaluator, "_score", dying_score)
    with pytest.raises(KeyboardInterrupt):
        run_nas_search(tiny_space, cost_model, evaluator, _settings(budget), tmp_path)
    saved = json.loads((tmp_path / "history.json").read_text())["evaluations"]
    assert len(saved) == 4  # the first whole batch was saved

    fresh = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    rescored: list = []
    monkeypatch.setattr(fresh, "_score", lambda arch: rescored.append(arch) or original(arch))
    result = run_nas_search(tiny_space, cost_model, fresh, _settings(budget), tmp_path)
    assert len(result.rows) == 12
    history_archs = [r.arch for r in result.rows]
    assert history_archs[:4] == [tiny_space.arch_from_json(e["arch"]) for e in saved]
    assert not set(rescored) & set(scored)  # nothing scored before is scored again
    assert set(history_archs) <= set(scored) | set(rescored)
    assert len(set(history_archs)) == 12


def test_resuming_with_a_supernet_of_another_space_fails(
    random_supernet, digits, tiny_space, cost_model, tmp_path
) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    run_nas_search(tiny_space, cost_model, evaluator, _settings(Budget(), num_samples=4), tmp_path)
    raw = tiny_space.to_dict()
    raw["stages"][0]["widths"] = [12]
    other = SearchSpace.from_dict(raw)
    other_eval = InheritedAccuracyEvaluator.from_bundle(Supernet(other, 10), digits, 32)
    with pytest.raises(ArchSpaceMismatchError, match="different definition"):
        run_nas_search(other, CostModel(other, 10), other_eval, _settings(Budget()), tmp_path)


def test_unknown_strategy_and_infeasible_budget(
    random_supernet, digits, tiny_space, cost_model, tmp_path
) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    with pytest.raises(UnknownStrategyError, match="lamoo"):
        run_nas_search(
            tiny_space, cost_model, evaluator, _settings(Budget(), strategy="bayes"), tmp_path
        )
    with pytest.raises(InfeasibleBudgetError, match="smallest architecture"):
        run_nas_search(tiny_space, cost_model, evaluator, _settings(Budget(macs=10)), tmp_path)


def test_resuming_with_another_budget_is_refused(
    random_supernet, digits, tiny_space, cost_model, tmp_path
) -> None:
    from lamoo_nas.search import HistoryMismatchError

    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    budget = _half_budget(tiny_space, cost_model)
    run_nas_search(tiny_space, cost_model, evaluator, _settings(budget, num_samples=4), tmp_path)
    tighter = Budget(macs=budget.macs * 0.9)
    with pytest.raises(HistoryMismatchError, match="reference point"):
        run_nas_search(tiny_space, cost_model, evaluator, _settings(tighter), tmp_path)


def test_the_accuracy_cache_grows_by_one_line_per_architecture(
    random_supernet, digits, tiny_space, cost_model, tmp_path
) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    result = run_nas_search(tiny_space, cost_model, evaluator, _settings(Budget()), tmp_path)
    header, *entries = (tmp_path / "accuracy_cache.jsonl").read_text().splitlines()
    assert json.loads(header)["space_fingerprint"] == tiny_space.fingerprint
    assert len(entries) == 12
    cached = {tiny_space.arch_from_json(json.loads(e)["arch"]): json.loads(e)["accuracy"]
              for e in entries}  # fmt: skip
    assert cached.keys() == {r.arch for r in result.rows}
    assert [cached[r.arch] for r in result.rows] == pytest.approx([r.accuracy for r in result.rows])


def test_resuming_with_other_weights_of_the_same_space_is_refused(
    random_supernet, digits, tiny_space, cost_model, tmp_path
) -> None:
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    run_nas_search(tiny_space, cost_model, evaluator, _settings(Budget(), num_samples=4), tmp_path)
    torch.manual_seed(1)
    other = InheritedAccuracyEvaluator.from_bundle(Supernet(tiny_space, 10), digits, 32)
    with pytest.raises(AccuracyCacheMismatchError, match=r"accuracy_cache\.jsonl holds") as info:
        run_nas_search(tiny_space, cost_model, other, _settings(Budget()), tmp_path)
    header = (tmp_path / "accuracy_cache.jsonl").read_text().splitlines()[0]
    found, expected = json.loads(header)["supernet"], other.identity()["supernet"]
    assert found["weights"] != expected["weights"]
    assert found["weights"] in str(info.value) and expected["weights"] in str(info.value)


def test_bad_calib_images_fail_before_the_checkpoint_is_read(tmp_path) -> None:
    with pytest.raises(ConfigError, match="calib_images must be a positive integer, got 0"):
        search_supernet(tmp_path / "no_such_run", _settings(Budget()), tmp_path / "out",
                        calib_images=0, use_ema=True, device="cpu")  # fmt: skip


def test_search_supernet_records_the_checkpoint_it_scored(trained_run, tmp_path) -> None:
    settings = _settings(Budget(), num_samples=4)
    result = search_supernet(trained_run, settings, tmp_path, calib_images=32, use_ema=True,
                             device="cpu", data_overrides={"eval_batch_size": 100})  # fmt: skip
    assert len(result.rows) == 4 and result.rank == 0
    header = json.loads((tmp_path / "accuracy_cache.jsonl").read_text().splitlines()[0])
    assert header["supernet"]["path"] == str((trained_run / "final.pt").resolve())
    assert header["supernet"]["epoch"] >= 0 and header["data"]["calib_images"] == 32
    raw = search_supernet(trained_run, settings, tmp_path / "raw", calib_images=32,
                          use_ema=False, device="cpu")  # fmt: skip
    assert [r.arch for r in raw.rows] == [r.arch for r in result.rows]  # same seed, same proposals
