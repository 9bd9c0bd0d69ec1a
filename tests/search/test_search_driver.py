from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lamoo_nas.search import HistoryMismatchError, SearchHistory, make_strategy, run_search
from tests.search.search_problems import GRID_REF, grid_codec, grid_objectives


class _Killed(RuntimeError):
    pass


def _counting_evaluator(counter: Counter, kill_after: int | None):  # type: ignore[no-untyped-def]
    def evaluate(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        if kill_after is not None and sum(counter.values()) >= kill_after:
            raise _Killed(f"simulated kill after {kill_after} evaluations")
        counter.update(archs)
        return grid_objectives(archs)

    return evaluate


@pytest.mark.parametrize("name", ["nsga2", "lamoo-random"])
def test_resume_never_re_evaluates(tmp_path: Path, name: str) -> None:
    path = tmp_path / "history.json"
    counter: Counter = Counter()
    names = ["accuracy", "neg_cost"]
    with pytest.raises(_Killed):
        run_search(
            make_strategy(name, grid_codec(), GRID_REF, 2, seed=0),
            _counting_evaluator(counter, kill_after=23),
            path,
            50,
            5,
            names,
            GRID_REF,
        )
    assert len(SearchHistory.load(path)) == 25  # saved after each complete batch
    history = run_search(
        make_strategy(name, grid_codec(), GRID_REF, 2, seed=0),
        _counting_evaluator(counter, kill_after=None),
        path,
        50,
        5,
        names,
        GRID_REF,
    )
    assert len(history) == 50 and sum(counter.values()) == 50
    assert max(counter.values()) == 1, "an architecture was evaluated twice"
    archs = [tuple(e.arch) for e in history.evaluations]
    assert len(set(archs)) == 50
    assert [e.iteration for e in history.evaluations][-1] == 9


def test_history_files_and_pareto_column(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    history = run_search(
        make_strategy("random", grid_codec(), GRID_REF, 2, seed=1),
        grid_objectives,
        path,
        12,
        4,
        ["accuracy", "neg_cost"],
        GRID_REF,
    )
    payload = json.loads(path.read_text())
    assert len(payload["evaluations"]) == 12
    rows = list(csv.reader(io.StringIO(path.with_suffix(".csv").read_text())))
    assert len(rows) == 13 and rows[0][4] == "is_pareto"
    pareto = [r[4] == "True" for r in rows[1:]]
    assert pareto == history.pareto_mask().tolist()
    curve = history.hypervolume_curve()
    assert np.all(np.diff(curve) >= 0) and curve[-1] > 0
    assert not list(tmp_path.glob("*.tmp")), "temporary files left behind"


def test_resume_refuses_other_objectives(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    run_search(
        make_strategy("random", grid_codec(), GRID_REF, 2),
        grid_objectives,
        path,
        5,
        5,
        ["a", "b"],
        GRID_REF,
    )
    with pytest.raises(HistoryMismatchError, match="objectives"):
        run_search(
            make_strategy("random", grid_codec(), GRID_REF, 2),
            grid_objectives,
            path,
            10,
            5,
            ["accuracy", "params"],
            GRID_REF,
        )


def test_resume_refuses_another_reference_point(tmp_path: Path) -> None:
    """A changed budget moves the reference point: old results must not leak into the front."""
    path = tmp_path / "h.json"
    strategy = make_strategy("random", grid_codec(), GRID_REF, 2)
    run_search(strategy, grid_objectives, path, 5, 5, ["a", "b"], GRID_REF)
    tighter = [GRID_REF[0], GRID_REF[1] + 0.5]
    with pytest.raises(HistoryMismatchError, match="reference point"):
        run_search(
            make_strategy("random", grid_codec(), tighter, 2),
            grid_objectives,
            path,
            10,
            5,
            ["a", "b"],
            tighter,
        )


def test_history_csv_labels_the_initial_design_and_the_units(tmp_path) -> None:
    from lamoo_nas.search import CategoricalCodec, make_strategy, run_search

    codec = CategoricalCodec(num_choices=(4, 4))
    strategy = make_strategy("random", codec, [0.0, -5.0], 2, seed=0, num_init=4)

    def f(archs):
        return np.array([[a[0], -a[1]] for a in archs], dtype=float)

    path = tmp_path / "h.json"
    run_search(strategy, f, path, 8, 4, ["acc", "cost"], [0.0, -5.0],
               objective_units=["%", "-millions"])  # fmt: skip
    with (tmp_path / "h.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"acc [%]", "cost [-millions]"} <= set(rows[0])
    assert [r["strategy"] for r in rows] == ["sobol"] * 4 + ["random"] * 4


def test_only_the_design_points_are_labelled_sobol_when_few_are_feasible(tmp_path) -> None:
    from lamoo_nas.search import CategoricalCodec, make_strategy, run_search

    codec = CategoricalCodec(num_choices=(4, 4, 4), feasible=lambda a: a[0] == 0)
    strategy = make_strategy("random", codec, [0.0, -5.0], 2, seed=0, num_init=10)
    design = set(strategy.initial_design)
    assert 0 < len(design) < 10  # a budget leaves only some Sobol points
    history = run_search(strategy, lambda a: np.array([[x[1], -x[2]] for x in a], float),
                         tmp_path / "h.json", 12, 5, ["a", "b"], [0.0, -5.0])  # fmt: skip
    labels = [(e.strategy, tuple(e.arch) in design) for e in history.evaluations]
    assert all((label == "sobol") == in_design for label, in_design in labels)
    assert sum(in_design for _, in_design in labels) == len(design)
