"""Cheap synthetic problems shared by the search tests (imported, not a conftest)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lamoo_nas.search.codec import BoxCodec, CategoricalCodec


def zdt1_like(archs: Sequence[tuple[float, ...]]) -> np.ndarray:
    """Two maximised objectives on [0, 1]^d with a known front ``f2 = -(1 - sqrt(-f1))``-like."""
    x = np.asarray(archs, dtype=np.float64)
    f1 = x[:, 0]
    g = 1.0 + 9.0 * x[:, 1:].mean(axis=1)
    f2 = g * (1.0 - np.sqrt(f1 / g))
    return -np.stack([f1, f2], axis=1)


ZDT_REF = [-1.1, -11.0]


def box3() -> BoxCodec:
    return BoxCodec([0.0] * 3, [1.0] * 3)


def grid_codec() -> CategoricalCodec:
    return CategoricalCodec(num_choices=(5,) * 4)


def grid_objectives(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
    """A cheap accuracy-vs-cost trade-off on a categorical grid (both maximised)."""
    a = np.asarray(archs, dtype=np.float64)
    accuracy = 1.0 - np.exp(-(a * np.array([1.0, 0.7, 0.5, 0.3])).sum(axis=1) / 4.0)
    accuracy -= 0.02 * np.abs(a[:, 0] - a[:, 3])
    cost = (a**1.5).sum(axis=1)
    return np.stack([accuracy, -cost], axis=1)


GRID_REF = [0.0, -35.0]


def options_for(name: str, **by_strategy: object) -> object:
    """The options among ``by_strategy`` (keyed by base name: ``lamoo=``, ``qehvi=``) that
    strategy ``name`` takes; None (its defaults) when none is given for it."""
    return by_strategy.get(name.partition("-")[0])
