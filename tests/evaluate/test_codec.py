from __future__ import annotations

import contextlib

import numpy as np
import pytest

from lamoo_nas.evaluate.codec import ArchCodec, Budget
from lamoo_nas.search.errors import InfeasibleBudgetError
from lamoo_nas.supernet.errors import ConfigError


def test_budget_below_smallest_names_the_smallest_cost(tiny_space, cost_model) -> None:
    smallest = cost_model(tiny_space.smallest())
    with pytest.raises(InfeasibleBudgetError, match=f"{smallest.macs:,} MACs"):
        ArchCodec(tiny_space, cost_model, Budget(macs=smallest.macs - 1))
    with pytest.raises(InfeasibleBudgetError, match=f"{smallest.params:,} params"):
        ArchCodec(tiny_space, cost_model, Budget(params=smallest.params - 1))
    ArchCodec(tiny_space, cost_model, Budget(macs=smallest.macs))  # exactly the smallest: fine


@pytest.mark.parametrize("bad", [0, -5.0])
def test_budget_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigError, match=r"budget\.macs"):
        Budget(macs=bad)


def test_samples_respect_a_tight_budget(tiny_space, cost_model) -> None:
    smallest, largest = cost_model(tiny_space.smallest()), cost_model(tiny_space.largest())
    budget = Budget(macs=smallest.macs + 0.05 * (largest.macs - smallest.macs))
    codec = ArchCodec(tiny_space, cost_model, budget)
    archs = codec.sample(np.random.default_rng(0), 30)
    assert len(archs) == 30
    assert codec.is_feasible(archs).all()
    assert all(cost_model(a).macs <= budget.macs for a in archs)
    everything = [tiny_space.sample(np.random.default_rng(i)) for i in range(200)]
    assert not codec.is_feasible(everything).all()  # the filter really rejects something


def test_codec_round_trips_through_encoding_and_json(tiny_space, cost_model) -> None:
    codec = ArchCodec(tiny_space, cost_model, Budget())
    archs = codec.sample(np.random.default_rng(3), 20)
    x = codec.encode(archs)
    assert x.shape == (20, codec.dim) and (x >= 0).all() and (x <= 1).all()
    assert codec.decode(x) == archs
    assert [codec.from_json(codec.to_json(a)) for a in archs] == archs


def test_a_budget_that_constrains_nothing_is_noted() -> None:
    from lamoo_nas.evaluate.codec import Budget
    from lamoo_nas.supernet import Cost

    largest = Cost(macs=2_000_000, params=80_000)
    assert Budget(macs=1e6, params=1e5).slack(largest) == [
        "budget.params=1e+05 constrains nothing: the largest architecture has 8e+04 params"
    ]
    assert Budget(macs=1e6).slack(largest) == [] and Budget().slack(largest) == []
    assert Budget(macs=3e6).slack(largest) == [
        "budget.macs=3e+06 constrains nothing: the largest architecture has 2e+06 MACs"
    ]


def _corner_codec(tiny_space, cost_model, fraction: float) -> ArchCodec:
    smallest, largest = cost_model(tiny_space.smallest()), cost_model(tiny_space.largest())
    budget = Budget(macs=smallest.macs + fraction * (largest.macs - smallest.macs))
    return ArchCodec(tiny_space, cost_model, budget)


def test_a_corner_budget_gives_fewer_points_never_padded_copies(tiny_space, cost_model) -> None:
    only_smallest = _corner_codec(tiny_space, cost_model, 0.0)  # admits the smallest cost only
    archs = only_smallest.sample(np.random.default_rng(0), 10)
    assert 1 <= len(archs) < 10 and len(set(archs)) == len(archs)
    assert tiny_space.smallest() in archs and only_smallest.is_feasible(archs).all()
    corner = _corner_codec(tiny_space, cost_model, 0.01)  # about 1 in 4000 uniform draws fits
    archs = corner.sample(np.random.default_rng(0), 40)
    assert len(archs) <= 40 and corner.is_feasible(archs).all()
    assert len(set(archs)) > 1  # the growth phase found neighbours, not copies
    assert archs.count(tiny_space.smallest()) <= 1


@pytest.mark.parametrize("name", ["random", "nsga2", "lamoo-random", "lamoo-evolution"])
def test_strategies_cope_with_a_codec_that_returns_fewer_points(
    name: str, tiny_space, cost_model
) -> None:
    from lamoo_nas.search import SearchSpaceExhaustedError, make_strategy

    codec = _corner_codec(tiny_space, cost_model, 0.01)
    ref = [-1.0, -1.0]
    strategy = make_strategy(name, codec, ref, 2, seed=0, num_init=4)
    proposed = []
    with contextlib.suppress(SearchSpaceExhaustedError):
        while len(proposed) < 12:
            archs = strategy.ask(4)
            proposed += archs
            strategy.tell(archs, np.array([[cost_model(a).macs / 1e6, 0.0] for a in archs]))
    assert proposed and len(set(proposed)) == len(proposed)
    assert codec.is_feasible(proposed).all()


def test_codec_encoding_is_the_space_encoding(tiny_space, cost_model) -> None:
    codec = ArchCodec(tiny_space, cost_model, Budget())
    archs = [tiny_space.sample(np.random.default_rng(i)) for i in range(5)]
    assert np.array_equal(codec.encode(archs), np.stack([tiny_space.encode(a) for a in archs]))
    assert codec.encode([]).shape == (0, codec.dim)
