"""The high-dimensional NAS problem of the search benchmark (``cifar-supernet``): features,
the data file and its export from a search history, the fitted problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.search import space_surrogate
from bench.search.lamoo_bench import FULL, QUICK, VARIANTS, fingerprint, run_one
from bench.search.problems import get_problem
from bench.search.space_surrogate import (
    CIFAR_SPACE_DATA,
    arch_features,
    export_history,
    read_data,
)
from lamoo_nas.search.history import Evaluation, SearchHistory
from lamoo_nas.supernet import ArchConfig, CostModel, SearchSpace, load_space


@pytest.fixture(scope="module")
def space():
    return load_space("cifar")


def _truth(arch: ArchConfig) -> float:
    """An additive accuracy: depth and kernel size help."""
    return 60.0 + sum(s.depth + 0.5 * sum(s.kernel_sizes) for s in arch.stages)


def _write_data(path: Path, space, count: int = 80) -> list[ArchConfig]:
    rng = np.random.default_rng(1)
    archs = list(dict.fromkeys(space.sample(rng) for _ in range(count)))
    rows = [{"arch": space.arch_to_json(a), "accuracy": _truth(a)} for a in archs]
    payload = {"about": "test", "space": "cifar", "num_classes": 10, "networks": rows}
    path.write_text(json.dumps(payload))
    return archs


def test_features_are_the_one_hot_choices_of_the_active_blocks(space) -> None:
    archs = [space.smallest(), space.largest(), space.sample(np.random.default_rng(0))]
    x = arch_features(space, archs)
    # per stage: depth (3) + 4 blocks x (kernel 3 + expand 3); one width, one resolution
    assert x.shape == (3, 5 * (3 + 4 * 6))
    smallest = x[0].reshape(5, 27)
    assert (smallest[:, :3] == [1, 0, 0]).all()  # depth 2 everywhere
    assert smallest[:, 3 + 2 * 6 :].sum() == 0  # blocks 3 and 4 inactive: all zeros
    # each active block has exactly one kernel and one expansion
    assert x[1].sum() == 5 * (1 + 4 * 2)
    np.testing.assert_array_equal(arch_features(space, archs[2:]), x[2:])


def test_the_problem_is_fitted_on_the_data_and_counts_macs_exactly(
    tmp_path, monkeypatch, space
) -> None:
    archs = _write_data(tmp_path / "data.json", space)
    monkeypatch.setenv("SPACE_SURROGATE_DATA", str(tmp_path / "data.json"))
    get_problem.cache_clear()
    try:
        problem = get_problem("cifar-supernet")
    finally:
        get_problem.cache_clear()
    assert problem.codec.dim == space.encoding_dim == 51 and problem.max_hv is None
    values = problem.evaluate(archs)
    assert np.corrcoef(values[:, 0], [_truth(a) for a in archs])[0, 1] > 0.9
    cost = CostModel(space, num_classes=10)
    np.testing.assert_allclose(values[:, 1], [-cost(a).macs / 1e6 for a in archs])
    assert problem.ref_point[0] == pytest.approx(values[:, 0].min())
    assert problem.ref_point[1] == -cost.largest().macs / 1e6
    # the strategies run on it through the space's own codec
    run = run_one(problem, "lamoo-random", 0, QUICK)
    assert len(run["hv"]) == QUICK.num_samples and run["hv"][-1] > 0
    assert np.all(np.diff(run["hv"]) >= 0)


def test_a_search_history_exports_each_network_once_at_the_space_resolution(
    tmp_path, space
) -> None:
    small = SearchSpace.from_dict({**space.to_dict(), "resolutions": [16]})
    rng = np.random.default_rng(2)
    archs = list(dict.fromkeys(small.sample(rng) for _ in range(12)))
    assert len(archs) == 12
    history = SearchHistory(["accuracy", "macs"], [0.0, -100.0], objective_units=["%", "-millions"])
    for i, arch in enumerate([*archs, archs[0]]):
        history.append(
            Evaluation(small.arch_to_json(arch), [0.5] * 51, [90.0 + i, -1.0], "random", 0, 0, 0)
        )
    history.save(tmp_path / "history.json")
    out = tmp_path / "out" / "data.json"
    assert export_history(tmp_path / "history.json", "cifar", "about", out) == 12
    read_space, num_classes, read_archs, accuracy = read_data(out)
    assert read_space.name == "cifar" and num_classes == 10
    assert all(a.resolution == 32 for a in read_archs)
    assert [a.stages for a in read_archs] == [a.stages for a in archs]
    np.testing.assert_allclose(accuracy, 90.0 + np.arange(12))  # the first score is kept
    assert json.loads(out.read_text())["measured_at_resolution"] == [16]
    assert not list(out.parent.glob(".*.tmp"))
    wrong = SearchHistory(["macs", "accuracy"], [0.0, 0.0], objective_units=["-millions", "%"])
    wrong.save(tmp_path / "wrong.json")
    with pytest.raises(ValueError, match="not accuracy in %"):
        export_history(tmp_path / "wrong.json", "cifar", "about", out)


def test_bad_data_files_are_refused_by_name(tmp_path, space) -> None:
    with pytest.raises(FileNotFoundError, match="SPACE_SURROGATE_DATA"):
        read_data(tmp_path / "missing.json")
    (tmp_path / "nokey.json").write_text(json.dumps({"space": "cifar", "networks": []}))
    with pytest.raises(ValueError, match="no 'num_classes'"):
        read_data(tmp_path / "nokey.json")
    arch = space.arch_to_json(space.largest())
    twice = {"space": "cifar", "num_classes": 10, "networks": [{"arch": arch, "accuracy": 1}] * 2}
    (tmp_path / "twice.json").write_text(json.dumps(twice))
    with pytest.raises(ValueError, match="1 networks listed twice"):
        read_data(tmp_path / "twice.json")
    empty = {"space": "cifar", "num_classes": 10, "networks": []}
    (tmp_path / "empty.json").write_text(json.dumps(empty))
    with pytest.raises(ValueError, match=r"lists 0 networks; .* at least 10"):
        read_data(tmp_path / "empty.json")


def test_the_shipped_data_is_distinct_cifar_networks_that_differ(monkeypatch) -> None:
    monkeypatch.delenv("SPACE_SURROGATE_DATA", raising=False)
    assert space_surrogate.data_path() == CIFAR_SPACE_DATA
    space, num_classes, archs, accuracy = read_data(CIFAR_SPACE_DATA)
    assert space.name == "cifar" and num_classes == 10 and len(archs) >= 150
    assert (accuracy > 10.0).all() and (accuracy <= 100.0).all() and accuracy.std() > 0.5


def test_new_data_for_a_surrogate_problem_invalidates_its_cached_runs(
    tmp_path, monkeypatch, space
) -> None:
    _write_data(tmp_path / "data.json", space)
    monkeypatch.setenv("SPACE_SURROGATE_DATA", str(tmp_path / "data.json"))
    first = fingerprint(FULL, VARIANTS["random"], "cifar-supernet")
    assert fingerprint(FULL, VARIANTS["random"], "cifar-supernet") == first
    _write_data(tmp_path / "data.json", space, count=60)
    assert fingerprint(FULL, VARIANTS["random"], "cifar-supernet") != first
    # other problems do not depend on that file
    branin = fingerprint(FULL, VARIANTS["random"], "branincurrin")
    _write_data(tmp_path / "data.json", space)
    assert fingerprint(FULL, VARIANTS["random"], "branincurrin") == branin
