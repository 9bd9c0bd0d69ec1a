from __future__ import annotations

import numpy as np
import pytest

from search.codec import BoxCodec, CategoricalCodec
from search.errors import InfeasibleBudgetError


def test_categorical_round_trip_and_encoding() -> None:
    codec = CategoricalCodec(num_choices=(3, 5, 1))
    archs = [(0, 4, 0), (2, 0, 0)]
    x = codec.encode(archs)
    assert np.allclose(x[0], [0.5 / 3, 4.5 / 5, 0.5])
    assert codec.decode(x) == archs
    assert codec.from_json(codec.to_json(archs[0])) == archs[0]


def test_categorical_mutation_changes_and_stays_in_range() -> None:
    codec = CategoricalCodec(num_choices=(4,) * 5)
    rng = np.random.default_rng(0)
    arch = (0, 1, 2, 3, 0)
    for _ in range(50):
        child = codec.mutate(arch, rng, prob=0.2)
        assert child != arch and all(0 <= c < 4 for c in child)


def test_feasibility_filter_and_infeasible_error() -> None:
    codec = CategoricalCodec(num_choices=(5,) * 3, feasible=lambda a: sum(a) <= 2)
    rng = np.random.default_rng(0)
    assert all(sum(a) <= 2 for a in codec.sample(rng, 20))
    impossible = CategoricalCodec(num_choices=(5,) * 3, feasible=lambda a: sum(a) < 0)
    with pytest.raises(InfeasibleBudgetError, match="feasibility predicate"):
        impossible.sample(rng, 1)


def test_box_round_trip() -> None:
    codec = BoxCodec([0.0, -5.0], [1.0, 5.0])
    rng = np.random.default_rng(1)
    archs = codec.sample(rng, 10)
    assert np.allclose(np.asarray(codec.decode(codec.encode(archs))), np.asarray(archs))
    assert codec.from_json(codec.to_json(archs[0])) == archs[0]
    assert codec.crossover(archs[0], archs[1], rng) != archs[2]
