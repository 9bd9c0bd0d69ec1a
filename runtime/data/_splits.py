"""Deterministic stratified splitting: every function takes its ``numpy.random.Generator``."""

from __future__ import annotations

import numpy as np


def carve(
    targets: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(targets)-1`` into ``(kept, carved)``, stratified by class.

    Each class gives ``round(fraction * n_c)`` images to ``carved``, clipped to ``[1, n_c - 1]``
    so that a class with two or more images appears on both sides. Both outputs are sorted.

    Example:
        >>> kept, carved = carve(np.array([0, 0, 0, 0, 1, 1]), 0.5, np.random.default_rng(0))
        >>> len(kept), len(carved)
        (3, 3)
    """
    kept: list[np.ndarray] = []
    carved: list[np.ndarray] = []
    for label in np.unique(targets):
        members = rng.permutation(np.flatnonzero(targets == label))
        count = min(max(round(fraction * len(members)), 1), len(members) - 1)
        carved.append(members[:count])
        kept.append(members[count:])
    return _sorted(kept), _sorted(carved)


def stratified_subset(targets: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of exactly ``min(size, len(targets))`` items, classes in proportion.

    Per-class counts follow the largest-remainder rule (ties go to the smaller label).

    Example:
        >>> stratified_subset(np.array([0, 0, 0, 1]), 2, np.random.default_rng(0)).size
        2
    """
    size = min(size, len(targets))
    labels, counts = np.unique(targets, return_counts=True)
    quotas = counts * size / max(len(targets), 1)
    take = np.floor(quotas).astype(int)
    leftover = size - int(take.sum())
    order = np.lexsort((labels, -(quotas - take)))  # largest remainder first
    take[order[:leftover]] += 1
    picked = [
        rng.permutation(np.flatnonzero(targets == label))[:count]
        for label, count in zip(labels, take)
    ]
    return _sorted(picked)


def _sorted(parts: list[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts)).astype(np.int64)


def stratified_order(targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``range(len(targets))`` whose every prefix is class-balanced.

    Each class is shuffled, then the classes are taken in turns, so the first ``n`` positions
    hold ``n / num_classes`` images of each class (to within one); images stored class by class
    (an image folder) would otherwise give a prefix of one or two classes.
    """
    turns = np.empty(len(targets), dtype=np.int64)
    for label in np.unique(targets):
        members = np.flatnonzero(targets == label)
        turns[rng.permutation(members)] = np.arange(members.size)
    return np.lexsort((targets, turns))
