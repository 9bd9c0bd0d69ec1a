"""The objective registry: the built-in objectives read as before, and an objective registered
in a test (the number of active layers) is searched end to end through the library API."""

from __future__ import annotations

import csv
from collections.abc import Iterator

import numpy as np
import pytest

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.evaluator import InheritedAccuracyEvaluator
from lamoo_nas.evaluate.objectives import (
    OBJECTIVES,
    Objective,
    OracleContext,
    get_objective,
    register_objective,
)
from lamoo_nas.evaluate.search_results import format_front, pareto_axis
from lamoo_nas.evaluate.search_settings import (
    SearchSettings,
    describe_hypervolume,
    reference_point,
)
from lamoo_nas.evaluate.supernet_search import run_nas_search
from lamoo_nas.search import non_dominated_mask
from lamoo_nas.supernet import ArchConfig
from lamoo_nas.supernet.errors import ConfigError


def _layers(context: OracleContext, arch: ArchConfig) -> float:
    return float(sum(stage.depth for stage in arch.stages))


@pytest.fixture
def layers() -> Iterator[Objective]:
    yield register_objective(
        Objective("layers", "active layers", "layers", "layers", "minimise", 1.0, oracle=_layers)
    )
    del OBJECTIVES["layers"]


def test_a_registered_objective_is_searched_end_to_end(
    layers, random_supernet, digits, tiny_space, cost_model, tmp_path
) -> None:
    settings = SearchSettings(strategy="nsga2", objectives=("accuracy", "layers"),
                              num_samples=12, batch_size=4, num_init=4, progress=False)  # fmt: skip
    evaluator = InheritedAccuracyEvaluator.from_bundle(random_supernet, digits, 32)
    result = run_nas_search(tiny_space, cost_model, evaluator, settings, tmp_path)
    depths = [_layers(OracleContext(cost_model), row.arch) for row in result.rows]
    assert [row.extra["layers"] for row in result.rows] == depths
    assert result.history.objectives()[:, 1].tolist() == [-d for d in depths]
    largest = _layers(OracleContext(cost_model), tiny_space.largest())
    assert result.summary["ref_point"] == [0.0, pytest.approx(-1.1 * largest)]
    points = np.array([[r.accuracy, -r.extra["layers"]] for r in result.rows])
    assert [r.is_pareto for r in result.rows] == non_dominated_mask(points).tolist()
    with open(tmp_path / "results.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [float(r["layers"]) for r in table] == depths
    assert "layers [-layers]" in (tmp_path / "history.csv").read_text().splitlines()[0]
    assert "| layers |" in format_front(result)
    assert (tmp_path / "pareto.png").stat().st_size > 0


def test_built_in_objectives_keep_their_units_and_reference(tiny_space, cost_model) -> None:
    assert [o.to_maximised for o in OBJECTIVES.values()] == [100.0, -1e-6, -1e-6, -1.0]
    assert [o.maximised_unit for o in OBJECTIVES.values()] == ["%", "-millions", "-millions", "-ms"]
    largest = cost_model.largest()
    ref = reference_point(["accuracy", "macs", "params"], Budget(macs=2e6), cost_model)
    assert ref == [0.0, 2e6 * -1e-6, 1.1 * largest.params * -1e-6]
    text = describe_hypervolume(["accuracy", "macs", "latency"], [0.0, -2.0, -1.5])
    assert text == (
        "the volume dominated by the front in accuracy (%) x MACs (millions) x predicted latency "
        "(ms), above 0 % accuracy and below 2 M MACs and below 1.5 ms predicted latency "
        "(the reference point)"
    )


def test_unknown_objectives_and_missing_predictors_are_named(tiny_space, cost_model) -> None:
    with pytest.raises(ConfigError, match=r"'energy' is not one of \('accuracy', 'macs'"):
        get_objective("energy")
    with pytest.raises(ConfigError, match="needs a latency table"):
        reference_point(["accuracy", "latency"], Budget(), cost_model)
    with pytest.raises(ConfigError, match="registered already"):
        register_objective(OBJECTIVES["macs"])
    with pytest.raises(ConfigError, match="sense must be"):
        Objective("energy", "energy", "mJ", "mJ", "maximize", 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("objectives", "axis"),
    [
        (("accuracy", "macs"), "macs"),
        (("accuracy", "params"), "macs"),  # every row has MACs: the plot stays on them
        (("accuracy", "params", "latency"), "latency"),
        (("accuracy", "layers", "macs"), "layers"),
    ],
)
def test_the_pareto_plot_shows_the_cost_rows_do_not_always_carry(layers, objectives, axis) -> None:
    settings = SearchSettings(objectives=objectives)
    assert pareto_axis(settings).name == axis
