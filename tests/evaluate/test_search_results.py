from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.objectives import OBJECTIVES
from lamoo_nas.evaluate.search_results import format_front, write_search_outputs
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.search import Evaluation, SearchHistory


@pytest.fixture()
def history(tiny_space, cost_model) -> SearchHistory:
    """Three hand-scored architectures: the largest is the most accurate, one is dominated."""
    middle = tiny_space.sample(np.random.default_rng(0))
    archs = [tiny_space.smallest(), tiny_space.largest(), middle]
    assert len(set(archs)) == 3
    accuracies = [0.5, 0.9, 0.4]
    out = SearchHistory(["accuracy", "macs"], [0.0, -1.0])
    for i, (arch, accuracy) in enumerate(zip(archs, accuracies)):
        macs = cost_model(arch).macs * OBJECTIVES["macs"].to_maximised
        objectives = [accuracy * OBJECTIVES["accuracy"].to_maximised, macs]
        out.append(
            Evaluation(tiny_space.arch_to_json(arch), [0.0], objectives, "random", i, 0.1, 1.0)
        )
    return out


def test_outputs_are_in_raw_units_and_agree(tiny_space, cost_model, history, tmp_path) -> None:
    settings = SearchSettings(strategy="random", budget=Budget(), pick="measured", progress=False)
    result = write_search_outputs(tiny_space, cost_model, settings, history, tmp_path, [2.0, 4.0])
    assert [r.accuracy for r in result.rows] == pytest.approx([0.5, 0.9, 0.4])
    assert [r.is_pareto for r in result.rows] == [True, True, False]
    assert result.best.arch == tiny_space.largest() and result.rank == 0
    assert result.rows[1].macs == cost_model(tiny_space.largest()).macs
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["accuracy"]) for r in rows] == [r.accuracy for r in result.rows]
    assert [r["is_pareto"] for r in rows] == ["True", "True", "False"]
    front = json.loads((tmp_path / "pareto.json").read_text())
    assert [row["macs"] for row in front] == sorted(row["macs"] for row in front)
    best = tiny_space.arch_from_json(json.loads((tmp_path / "best_arch.json").read_text()))
    assert best == tiny_space.largest()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pareto_size"] == 2 and summary["evaluator_seconds_per_arch_measured"] == 3.0
    assert summary["strategy_time_fraction_of_evaluation"] == pytest.approx(0.1)
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_front_table_lists_the_front_cheapest_first(
    tiny_space, cost_model, history, tmp_path
) -> None:
    settings = SearchSettings(strategy="random", progress=False)
    text = format_front(
        write_search_outputs(tiny_space, cost_model, settings, history, tmp_path, [])
    )
    assert text.startswith("Pareto front (2 of 3 architectures)")
    table = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert [line.split("|")[1].strip() for line in table] == ["50.00", "90.00"]
    assert text.endswith(f"best within budget -> {tmp_path / 'best_arch.json'}")


def test_pick_model_hands_on_the_block_models_best(tiny_space, cost_model, tmp_path) -> None:
    """A lucky measurement is the measured best; the block model, fitted on every evaluation,
    sees through it and hands on the network whose blocks are best."""
    from lamoo_nas.evaluate.blocks import SpaceBlocks
    from lamoo_nas.search.blockmodel import BlockModel

    blocks = SpaceBlocks(tiny_space)
    rng = np.random.default_rng(0)
    archs = list(dict.fromkeys(tiny_space.sample(rng) for _ in range(60)))
    weights = [rng.normal(size=len(d.values)) for d in blocks.decisions]
    choices = blocks.choices(archs)
    truth = 60 + sum(w[choices[:, i]] for i, w in enumerate(weights))
    measured = truth + rng.normal(scale=0.2, size=len(archs))
    lucky = int(np.argmin(truth))
    measured[lucky] = measured.max() + 5.0  # the worst network, measured best by luck
    history = SearchHistory(["accuracy", "macs"], [0.0, -1.0])
    for i, (arch, accuracy) in enumerate(zip(archs, measured)):
        objectives = [float(accuracy), cost_model(arch).macs * OBJECTIVES["macs"].to_maximised]
        history.append(Evaluation(tiny_space.arch_to_json(arch), [0.0], objectives, "random", i,
                                  0.1, 1.0))  # fmt: skip
    settings = SearchSettings(strategy="random", pick="model", progress=False)
    result = write_search_outputs(tiny_space, cost_model, settings, history, tmp_path, [])
    assert result.best.arch == archs[int(np.argmax(truth))]
    assert result.best.predicted == max(r.predicted for r in result.ranked)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["pick"]["by"] == "model" and summary["pick"]["cv_kendall_tau"] > 0.3
    assert tiny_space.arch_from_json(summary["best_measured"]["arch"]) == archs[lucky]
    best = tiny_space.arch_from_json(json.loads((tmp_path / "best_arch.json").read_text()))
    assert best == result.best.arch
    raw = json.loads((tmp_path / "block_model.json").read_text())
    assert BlockModel.from_json(raw, tiny_space.fingerprint).num_samples == len(archs)


def test_pick_model_with_too_few_evaluations_says_so(
    tiny_space, cost_model, history, tmp_path
) -> None:
    first_two = SearchHistory(["accuracy", "macs"], [0.0, -1.0])
    for evaluation in history.evaluations[:2]:
        first_two.append(evaluation)
    settings = SearchSettings(strategy="random", pick="model", progress=False)
    result = write_search_outputs(tiny_space, cost_model, settings, first_two, tmp_path, [])
    assert result.best.arch == tiny_space.largest()  # the measured best
    assert "at least 3 evaluated" in result.summary["pick"]["model_error"]
