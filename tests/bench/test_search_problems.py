"""The NAS-Bench-Macro benchmark problem against its own JSON table (read here directly)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.search.lamoo_bench import run_one
from bench.search.problems import (
    NBMACRO_TABLE,
    BenchProblem,
    get_problem,
    nbmacro_dir,
    nbmacro_problem,
)
from search import hypervolume
from supernet.nbmacro import canonical_code

TABLE = nbmacro_dir() / NBMACRO_TABLE
needs_table = pytest.mark.skipif(
    not TABLE.exists(), reason=f"NAS-Bench-Macro table not at {TABLE}; set NBMACRO_DIR"
)


@pytest.fixture(scope="module")
def raw() -> dict[str, dict[str, Any]]:
    return json.loads(TABLE.read_text())


@pytest.fixture(scope="module")
def problem() -> BenchProblem:
    return get_problem("nbmacro-flops")


def _objectives(row: dict[str, Any]) -> tuple[float, float]:
    return row["mean_acc"], -row["flops"] / 1e6


@needs_table
def test_every_string_of_the_grid_evaluates_to_its_row(problem, raw) -> None:
    grid = list(itertools.product(range(3), repeat=8))
    values = problem.evaluate(grid)
    assert values.shape == (3**8, 2) and problem.codec.dim == 8
    expected = [_objectives(raw["".join(map(str, a))]) for a in grid]
    np.testing.assert_array_equal(values, np.asarray(expected))


@needs_table
def test_known_string_and_its_twin(problem) -> None:
    assert problem.evaluate([(0, 2, 0, 1, 2, 1, 0, 0)]).tolist() == [
        [89.19666544596355, -47.327744]  # "02012100" in the JSON: mean_acc, flops 47327744
    ]
    twin, canonical = (0, 1, 2, 0, 1, 0, 2, 0), (0, 1, 2, 1, 0, 0, 2, 0)  # a skipped layer moved
    assert canonical_code("01201020") == "01210020"
    np.testing.assert_array_equal(problem.evaluate([twin]), problem.evaluate([canonical]))


@needs_table
def test_reference_point_and_max_hv_of_the_distinct_networks(problem, raw) -> None:
    worst_acc = min(row["mean_acc"] for row in raw.values())
    most_flops = max(row["flops"] for row in raw.values())
    assert problem.ref_point == [worst_acc, -most_flops / 1e6]
    assert round(worst_acc, 2) == 45.36  # 00000000, per the table's README
    networks = {canonical_code(code): _objectives(row) for code, row in raw.items()}
    assert len(networks) == 3969
    points = np.asarray(list(networks.values()))
    assert problem.max_hv == pytest.approx(hypervolume(points, problem.ref_point), rel=1e-12)
    everything = np.asarray([_objectives(row) for row in raw.values()])
    assert problem.max_hv == pytest.approx(hypervolume(everything, problem.ref_point), rel=1e-12)


@needs_table
def test_onehot_variant_sees_24_coordinates_of_the_same_problem(problem) -> None:
    onehot = get_problem("nbmacro-flops-onehot")
    assert onehot.name == "nbmacro-flops-onehot" and onehot.codec.dim == 24
    assert onehot.max_hv == problem.max_hv and onehot.ref_point == problem.ref_point
    arch = (2, 1, 0, 2, 2, 1, 0, 1)
    assert onehot.codec.decode(onehot.codec.encode([arch]))[0] == arch
    np.testing.assert_array_equal(onehot.evaluate([arch]), problem.evaluate([arch]))


@needs_table
def test_a_short_random_run_stays_under_max_hv(problem) -> None:
    run = run_one(problem, "random", seed=0, num_samples=20, batch_size=5, pool=50)
    assert run["problem"] == "nbmacro-flops" and len(run["hv"]) == 20
    assert 0.0 < run["hv"][-1] <= problem.max_hv


def test_unknown_cost_and_missing_table_are_refused(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="'params' is not 'flops'"):
        get_problem("nbmacro-params")
    monkeypatch.setenv("NBMACRO_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="NBMACRO_DIR"):
        nbmacro_problem()
