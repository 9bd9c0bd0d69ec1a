from __future__ import annotations

import numpy as np
import torch
from botorch.utils.multi_objective.pareto import is_non_dominated

from lamoo_nas.search.pareto import (
    crowding_distance,
    dominance_numbers,
    hypervolume,
    hypervolume_curve,
    non_dominated_mask,
    non_domination_rank,
    to_maximisation,
)


def test_dominance_numbers_by_hand() -> None:
    y = np.array([[3.0, 3.0], [2.0, 1.0], [1.0, 2.0], [0.0, 0.0], [2.0, 1.0]])
    # [3,3] dominates all; [2,1] twice (equal points do not dominate each other)
    assert dominance_numbers(y).tolist() == [0, 1, 1, 4, 1]


def test_non_dominated_mask_matches_botorch() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=(200, 3))
    expected = is_non_dominated(torch.as_tensor(y), deduplicate=False).numpy()
    assert np.array_equal(non_dominated_mask(y), expected)


def test_rank_and_crowding() -> None:
    y = np.array([[3.0, 0.0], [0.0, 3.0], [2.0, 2.0], [1.0, 1.0]])
    assert non_domination_rank(y).tolist() == [0, 0, 0, 1]
    crowd = crowding_distance(y[:3])
    assert np.isinf(crowd[0]) and np.isinf(crowd[1]) and np.isclose(crowd[2], 2.0)


def test_hypervolume_hand_computed_2d() -> None:
    # staircase of (1,3), (2,2), (3,1) over ref (0,0): 3 + 2 + 1 = 6; (0.5, 0.5) adds nothing,
    # (-1, 5) is not better than the reference point on the first objective
    y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [0.5, 0.5], [-1.0, 5.0]])
    assert np.isclose(hypervolume(y, [0.0, 0.0]), 6.0)
    assert np.isclose(hypervolume(y, [1.0, 1.0]), 1.0)
    assert hypervolume(np.zeros((0, 2)), [0.0, 0.0]) == 0.0


def test_hypervolume_curve_is_running_hypervolume() -> None:
    y = np.array([[1.0, 1.0], [0.5, 0.5], [2.0, 1.0], [1.0, 3.0]])
    assert np.allclose(hypervolume_curve(y, [0.0, 0.0]), [1.0, 1.0, 2.0, 4.0])


def test_to_maximisation_negates_costs_only() -> None:
    y = to_maximisation(np.array([[0.9, 300.0, 2.0]]), minimise=[False, True, True])
    assert y.tolist() == [[0.9, -300.0, -2.0]]
