from __future__ import annotations

import numpy as np
import pytest

from lamoo_nas.search.codec import BoxCodec, CategoricalCodec
from lamoo_nas.search.errors import InfeasibleBudgetError


def test_categorical_round_trip_and_encoding() -> None:
    codec = CategoricalCodec(num_choices=(3, 5, 1))
    archs = [(0, 4, 0), (2, 0, 0)]
    x = codec.encode(archs)
    assert np.allclose(x[0], [0.5 / 3, 4.5 / 5, 0.5])
    assert codec.decode(x) == archs
    assert codec.from_json(codec.to_json(archs[0])) == archs[0]


def test_onehot_encoding_round_trips_and_decodes_any_point() -> None:
    codec = CategoricalCodec(num_choices=(3, 2, 1), encoding="onehot")
    assert codec.dim == 6
    points = [(2, 0, 0), (0, 1, 0), (1, 1, 0)]
    x = codec.encode(points)
    np.testing.assert_array_equal(x[0], [0, 0, 1, 1, 0, 1])
    assert codec.decode(x) == points and x.sum(axis=1).tolist() == [3.0] * 3
    rng = np.random.default_rng(0)
    unit = rng.random((50, codec.dim))
    decoded = codec.decode(unit)
    assert all(0 <= a[0] < 3 and 0 <= a[1] < 2 and a[2] == 0 for a in decoded)
    assert decoded[0] == (int(unit[0, :3].argmax()), int(unit[0, 3:5].argmax()), 0)
    assert len(set(codec.decode(rng.random((400, codec.dim))))) == 6  # every point reachable
    with pytest.raises(ValueError, match="onehot"):
        CategoricalCodec(num_choices=(3,), encoding="binary")


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
