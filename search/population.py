"""What generation-based optimisers (CMA-ES, pymoo's EAs) share behind the ask/tell interface.

Such an optimiser samples a *generation* of points in the unit cube and must be told all of
them before it samples the next. Our strategies hand out the generation's points a batch at a
time, skip points whose architecture was already evaluated (their objectives are looked up in
the told data, free) and tell the optimiser once every point's objectives are known.
:func:`scalar_fitness` turns multi-objective values into the ranking CMA-ES needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.pareto import domination_matrix, hypervolume, non_dominated_mask

A = TypeVar("A", bound=Hashable)


def told_lookup(archs: Sequence[A], y: np.ndarray) -> dict[A, np.ndarray]:
    """Architecture -> its ``(m,)`` maximised objectives (the last told value wins)."""
    return {a: row for a, row in zip(archs, y)}


def generation_objectives(
    codec: SpaceCodec[A], points: Sequence[np.ndarray], lookup: Mapping[A, np.ndarray], m: int
) -> np.ndarray:
    """``(k, m)`` objectives of the generation's unit-cube ``points`` (decoded through
    ``codec``), NaN rows where the architecture was not told yet."""
    out = np.full((len(points), m), np.nan)
    if not points:
        return out
    for i, arch in enumerate(codec.decode(np.stack(points))):
        if arch in lookup:
            out[i] = lookup[arch]
    return out


def fitness_keys(
    y: np.ndarray, archive: np.ndarray, ref_point: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The four keys of :func:`scalar_fitness` for each row of ``y`` ``(k, m)``, each row
    judged alone against ``archive`` ``(n, m)`` (``y`` itself when the archive is empty):
    dominance number, hypervolume gain, shortfall to the reference point, epsilon distance;
    four ``(k,)`` arrays."""
    y = np.asarray(y, dtype=np.float64)
    archive = np.asarray(archive, dtype=np.float64).reshape(-1, y.shape[1])
    if archive.shape[0] == 0:
        archive = y
    front = archive[non_dominated_mask(archive)]
    n = archive.shape[0]
    dominated_by = domination_matrix(np.vstack([archive, y]))[:n, n:].sum(axis=0)
    base = hypervolume(front, ref_point)
    gain = np.zeros(y.shape[0])
    for i in np.flatnonzero(dominated_by == 0):
        gain[i] = hypervolume(np.vstack([front, y[i : i + 1]]), ref_point) - base
    span = objective_span(np.vstack([archive, y]), ref_point)
    shortfall = reference_shortfall(y, ref_point, span)
    eps = ((front[None, :, :] - y[:, None, :]) / span).max(axis=2).min(axis=1)
    return dominated_by, gain, shortfall, eps


def objective_span(y: np.ndarray, ref_point: np.ndarray) -> np.ndarray:
    """``(m,)`` range of each objective over ``y`` ``(n, m)`` and the reference point (1 where
    it is 0): the scale of :func:`reference_shortfall` and the epsilon distance."""
    span = np.ptp(np.vstack([y, ref_point[None]]), axis=0)
    return np.where(span > 0, span, 1.0)


def reference_shortfall(y: np.ndarray, ref_point: np.ndarray, span: np.ndarray) -> np.ndarray:
    """``(n,)`` how far each row of ``y`` ``(n, m)`` (maximised) falls short of the reference
    point: the sum over objectives of ``max(ref - y, 0) / span``; 0 for a row that beats it.

    Example:
        >>> reference_shortfall(np.array([[1.0, -1.0], [2.0, 3.0]]), np.zeros(2),
        ...                     np.array([2.0, 4.0])).tolist()
        [0.25, 0.0]
    """
    return (np.maximum(ref_point - y, 0.0) / span).sum(axis=1)


def _ranks(keys: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    dominated_by, gain, shortfall, eps = keys
    k = dominated_by.shape[0]
    order = np.lexsort((np.arange(k), eps, shortfall, -gain, dominated_by))
    ranks = np.empty(k)
    ranks[order] = np.arange(k, dtype=np.float64)
    return ranks


def scalar_fitness(y: np.ndarray, archive: np.ndarray, ref_point: np.ndarray) -> np.ndarray:
    """Rank of each row of ``y`` ``(k, m)`` against ``archive`` ``(n, m)``, 0 = best (minimise).

    The order is lexicographic on four keys, each row judged alone against the archive
    (:func:`fitness_keys`):

    1. the dominance number: how many archive points dominate it (LaMOO's own good/bad signal;
       0 for a point that would join the front);
    2. its hypervolume improvement over the archive (larger first): what the benchmark's metric
       rewards, and what separates the points of key 1's large tie at 0;
    3. its shortfall to the reference point (sum over objectives of how far it falls short of
       the reference, objectives scaled by the data's span; smaller first): the hypervolume
       counts only what beats the reference point, and early on nothing may;
    4. its additive epsilon distance to the archive's front (scaled the same way, smaller
       first): how far a dominated point must move to reach the front, so that rank-based
       updates never see an arbitrary order among dominated points.

    Only the order matters to CMA-ES (it is invariant to monotone changes of the fitness), so
    the ranks ``0 .. k-1`` are returned, ties broken by row index.

    Example:
        >>> archive = np.array([[1.0, 0.0], [0.0, 1.0]])
        >>> scalar_fitness(np.array([[0.2, 0.2], [0.8, 0.8], [-1.0, -1.0]]), archive,
        ...                np.array([-2.0, -2.0])).tolist()
        [1.0, 0.0, 2.0]
    """
    return _ranks(fitness_keys(y, archive, ref_point))


def best_rows(y: np.ndarray, ref_point: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` best rows of ``y`` ``(n, m)`` by :func:`scalar_fitness`'s keys,
    each row judged against all the others (leave one out): where a CMA-ES starts."""
    n = y.shape[0]
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    rows = [fitness_keys(y[i : i + 1], np.delete(y, i, axis=0), ref_point) for i in range(n)]
    keys = tuple(np.concatenate([r[j] for r in rows]) for j in range(4))
    return np.argsort(_ranks(keys), kind="stable")[:count]  # type: ignore[arg-type]


def encode_array(value: Any) -> Any:
    """NumPy arrays and scalars inside nested dicts/lists/tuples as plain JSON data
    (``{"ndarray": ..., "dtype": ...}``); floats keep every bit (JSON writes their ``repr``).

    Example:
        >>> decode_array(encode_array({"a": np.arange(2.0)}))["a"].tolist()
        [0.0, 1.0]
    """
    if isinstance(value, np.ndarray):
        return {"ndarray": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): encode_array(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_array(v) for v in value]
    return value


def decode_array(value: Any) -> Any:
    """The inverse of :func:`encode_array` (tuples come back as lists)."""
    if isinstance(value, dict) and set(value) == {"ndarray", "dtype", "shape"}:
        array = np.asarray(value["ndarray"], dtype=value["dtype"])
        return array.reshape(value["shape"])
    if isinstance(value, dict):
        return {k: decode_array(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_array(v) for v in value]
    return value
