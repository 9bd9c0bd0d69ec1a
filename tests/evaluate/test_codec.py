from __future__ import annotations

import numpy as np
import pytest

from evaluate.codec import ArchCodec, Budget
from search.errors import InfeasibleBudgetError
from supernet.errors import ConfigError


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
    from evaluate.codec import Budget
    from supernet import Cost

    largest = Cost(macs=2_000_000, params=80_000)
    assert Budget(macs=1e6, params=1e5).slack(largest) == [
        "budget.params=1e+05 constrains nothing: the largest architecture has 8e+04 params"
    ]
    assert Budget(macs=1e6).slack(largest) == [] and Budget().slack(largest) == []
