"""Pareto utilities. Every objective is MAXIMISED here.

A point ``a`` dominates ``b`` when ``a >= b`` on every objective and ``a > b`` on at least one.
Costs (MACs, params, latency) are turned into maximised objectives in exactly one place,
:func:`to_maximisation`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

from lamoo_nas.search.errors import InvalidObjectivesError


def to_maximisation(values: np.ndarray, minimise: Sequence[bool]) -> np.ndarray:
    """Negate the columns that are costs so that every objective is maximised.

    Args:
        values: ``(n, m)`` raw objective values.
        minimise: ``m`` flags, True where the raw objective is a cost.

    Returns:
        ``(n, m)`` float array, maximised.

    Example:
        >>> to_maximisation(np.array([[0.9, 300.0]]), minimise=[False, True])
        array([[   0.9, -300. ]])
    """
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] != len(minimise):
        raise InvalidObjectivesError(
            f"values must be (n, {len(minimise)}) to match minimise={list(minimise)}, "
            f"got shape {y.shape}"
        )
    sign = np.where(np.asarray(minimise, dtype=bool), -1.0, 1.0)
    return y * sign


def check_objectives(y: np.ndarray, num_objectives: int, num_points: int) -> np.ndarray:
    """Check ``y`` is a finite ``(num_points, num_objectives)`` array; return it as float."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.shape != (num_points, num_objectives):
        raise InvalidObjectivesError(
            f"objectives must have shape ({num_points}, {num_objectives}), got {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidObjectivesError(f"objectives contain non-finite values: {arr.tolist()}")
    return arr


def domination_matrix(y: np.ndarray) -> np.ndarray:
    """``(n, n)`` bool, entry ``[i, j]`` True when point ``i`` dominates point ``j``.

    Args:
        y: ``(n, m)`` maximised objectives.
    """
    ge = np.all(y[:, None, :] >= y[None, :, :], axis=-1)
    gt = np.any(y[:, None, :] > y[None, :, :], axis=-1)
    return ge & gt


def dominance_numbers(y: np.ndarray) -> np.ndarray:
    """How many points of ``y`` dominate each point: ``(n,)`` int (0 on the Pareto front).

    Example:
        >>> dominance_numbers(np.array([[2.0, 2.0], [1.0, 1.0], [0.0, 3.0]])).tolist()
        [0, 1, 0]
    """
    return domination_matrix(np.asarray(y, dtype=np.float64)).sum(axis=0)


def non_dominated_mask(y: np.ndarray) -> np.ndarray:
    """``(n,)`` bool, True for points no other point dominates (duplicates are all kept).

    Example:
        >>> non_dominated_mask(np.array([[2.0, 2.0], [1.0, 1.0], [0.0, 3.0]])).tolist()
        [True, False, True]
    """
    y = np.asarray(y, dtype=np.float64)
    if y.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return dominance_numbers(y) == 0


def non_domination_rank(y: np.ndarray) -> np.ndarray:
    """Front index of each point (0 = Pareto front, 1 = front after removing it, ...): ``(n,)``."""
    y = np.asarray(y, dtype=np.float64)
    dom = domination_matrix(y)
    rank = np.full(y.shape[0], -1, dtype=np.int64)
    remaining = np.ones(y.shape[0], dtype=bool)
    for front in range(y.shape[0]):  # at most n fronts
        if not remaining.any():
            break
        dominated = dom[remaining][:, remaining].any(axis=0)
        current = np.flatnonzero(remaining)[~dominated]
        rank[current] = front
        remaining[current] = False
    return rank


def crowding_distance(y: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point within the set ``y``: ``(n,)``, boundary = inf."""
    y = np.asarray(y, dtype=np.float64)
    n, m = y.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(y[:, j], kind="stable")
        span = y[order[-1], j] - y[order[0], j]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (y[order[2:], j] - y[order[:-2], j]) / span
    return dist


def rank_and_crowding(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-domination rank and crowding distance computed within each front: two ``(n,)``."""
    rank = non_domination_rank(y)
    crowd = np.zeros(len(rank))
    for front in np.unique(rank):
        members = np.flatnonzero(rank == front)
        crowd[members] = crowding_distance(y[members])
    return rank, crowd


def hypervolume(y: np.ndarray, ref_point: Sequence[float] | np.ndarray) -> float:
    """Hypervolume dominated by ``y`` and bounded below by ``ref_point`` (botorch partitioning).

    Points that do not strictly beat ``ref_point`` on every objective add nothing.

    Args:
        y: ``(n, m)`` maximised objectives (``n`` may be 0).
        ref_point: ``(m,)`` reference point.

    Example:
        >>> hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), [0.0, 0.0])
        3.0
    """
    ref = torch.as_tensor(np.asarray(ref_point, dtype=np.float64))
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1, ref.shape[0])
    better = y_arr[np.all(y_arr > ref.numpy(), axis=1)]
    if better.shape[0] == 0:
        return 0.0
    partitioning = DominatedPartitioning(ref_point=ref, Y=torch.as_tensor(better))
    return float(partitioning.compute_hypervolume().item())


def hypervolume_curve(y: np.ndarray, ref_point: Sequence[float] | np.ndarray) -> np.ndarray:
    """Hypervolume of the first ``i`` points for ``i = 1..n``: ``(n,)`` non-decreasing.

    Example:
        >>> hypervolume_curve(np.array([[1.0, 1.0], [2.0, 2.0]]), [0.0, 0.0]).tolist()
        [1.0, 4.0]
    """
    y_arr = np.asarray(y, dtype=np.float64)
    curve = np.zeros(y_arr.shape[0])
    front = np.zeros((0, y_arr.shape[1]))
    value = 0.0
    for i in range(y_arr.shape[0]):
        front = np.vstack([front, y_arr[i : i + 1]])
        if non_dominated_mask(front)[-1]:  # only a non-dominated newcomer can change the HV
            front = front[non_dominated_mask(front)]
            value = hypervolume(front, ref_point)
        curve[i] = value
    return curve
