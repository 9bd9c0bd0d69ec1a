"""The LaMOO paper's NB201 setting (``nb201-iclr``) and DTLZ7's disconnected front."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from botorch.test_functions.multi_objective import DTLZ7

from bench.search.problems import (
    NB201_ACCURACY_COLUMN,
    NB201_COST_COLUMNS,
    NB201_ICLR_REF,
    NB201_OPS,
    dtlz7_max_hv,
    get_problem,
    nb201_iclr_problem,
)
from lamoo_nas.search import hypervolume, non_dominated_mask


def _cell(ops: tuple[int, ...]) -> str:
    names = [NB201_OPS[o] for o in ops]
    return f"|{names[0]}~0|+|{names[1]}~0|{names[2]}~1|+|{names[3]}~0|{names[4]}~1|{names[5]}~2|"


def _fake_table(folder: Path) -> dict[tuple[int, ...], tuple[float, float]]:
    """Every cell with accuracy and FLOPs as simple functions of its ops."""
    truth = {}
    with (folder / "nb201_combined.csv").open("w", newline="") as handle:
        columns = ["arch_str", NB201_ACCURACY_COLUMN, NB201_COST_COLUMNS["flops"]]
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for ops in itertools.product(range(5), repeat=6):
            accuracy, flops = 80.0 + sum(ops) + 0.1 * ops[0], 10.0 + sum(o * o for o in ops)
            truth[ops] = (accuracy, flops)
            writer.writerow(dict(zip(columns, (_cell(ops), accuracy, flops))))
    return truth


def test_nb201_iclr_bins_coordinates_and_z_scores_the_table(tmp_path, monkeypatch) -> None:
    truth = _fake_table(tmp_path)
    monkeypatch.setenv("NB201_DIR", str(tmp_path))
    problem = nb201_iclr_problem()
    assert problem.name == "nb201-iclr" and problem.codec.dim == 6
    assert problem.ref_point == NB201_ICLR_REF
    values = np.asarray(list(truth.values()))
    mean, std = values.mean(axis=0), values.std(axis=0)
    ops = (4, 0, 2, 3, 1, 4)
    point = tuple((o + 0.5) / 5 for o in ops)
    (accuracy, flops) = truth[ops]
    expected = [(accuracy - mean[0]) / std[0] - 2.0, -((flops - mean[1]) / std[1] + 2.0)]
    np.testing.assert_allclose(problem.evaluate([point])[0], expected)
    same_bin = tuple(min(1.0, (o + 0.99) / 5) for o in ops)  # 1.0 falls into the last bin
    np.testing.assert_array_equal(problem.evaluate([same_bin]), problem.evaluate([point]))
    everything = problem.evaluate([tuple((o + 0.5) / 5 for o in c) for c in truth])
    np.testing.assert_allclose(everything.mean(axis=0), [-2.0, -2.0], atol=1e-9)
    assert problem.max_hv == pytest.approx(hypervolume(everything, NB201_ICLR_REF))


def test_dtlz7_max_hv_is_the_hypervolume_of_its_front() -> None:
    problem = get_problem("dtlz7")
    assert problem.codec.dim == 6 and problem.ref_point == [-15.0, -15.0]
    x = torch.zeros(4001, 6, dtype=torch.float64)
    x[:, 0] = torch.linspace(0, 1, 4001, dtype=torch.float64)
    front = -DTLZ7(dim=6, num_objectives=2)(x).numpy()  # distance variables 0: g = 1
    pieces = front[non_dominated_mask(front)]
    assert np.any(np.diff(np.sort(pieces[:, 0])) > 0.05), "the front is disconnected"
    assert problem.max_hv == pytest.approx(hypervolume(pieces, problem.ref_point), abs=1e-3)
    assert dtlz7_max_hv(problem.ref_point, 2001) < problem.max_hv  # converges from below
    design = problem.codec.sample(np.random.default_rng(0), 20)
    assert 0.0 < hypervolume(problem.evaluate(design), problem.ref_point) < problem.max_hv
