"""The strategy registry: a strategy defined and registered in a test runs through
``make_strategy`` like the built-in ones, and bad names and options are refused by name."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from lamoo_nas.search import (
    STRATEGY_REGISTRY,
    BaseStrategy,
    LaMOOOptions,
    NSGA2Options,
    StrategyRequest,
    StrategySpec,
    find_strategy,
    make_strategy,
    register_strategy,
    strategy_names,
    strategy_options,
)
from lamoo_nas.search.errors import InvalidOptionError, UnknownStrategyError
from tests.search.search_problems import GRID_REF, grid_codec, grid_objectives


@dataclass(frozen=True)
class HillOptions:
    """Mutate the ``num_parents`` best told points by accuracy."""

    num_parents: int = 2
    mutation_prob: float = 0.5


class HillStrategy(BaseStrategy[Hashable]):
    """Hill climbing on the first objective: mutations of the best points so far."""

    name = "hill"

    def __init__(self, request: StrategyRequest[Any], options: HillOptions) -> None:
        super().__init__(request.codec, request.ref_point, request.seed, request.num_init)
        self.options = options

    def _propose(self, q: int) -> list[Hashable]:
        archs, _, y = self._feasible_data()
        parents = [archs[i] for i in np.argsort(-y[:, 0])[: self.options.num_parents]]
        children = [
            self._codec.mutate(parents[i % len(parents)], self._rng, self.options.mutation_prob)
            for i in range(4 * q)
        ]
        found = self._fresh(children)[:q]
        return found + self._random_fresh(q - len(found), exclude=found)


@pytest.fixture
def hill() -> Iterator[StrategySpec]:
    spec = register_strategy(StrategySpec("hill", HillOptions, HillStrategy))
    yield spec
    del STRATEGY_REGISTRY["hill"]


def _run(name: str, seed: int, options: Any = None) -> BaseStrategy[Any]:
    strategy = make_strategy(name, grid_codec(), GRID_REF, 2, seed=seed, num_init=5,
                             options=options)  # fmt: skip
    while len(strategy.archs) < 25:
        archs = strategy.ask(5)
        strategy.tell(archs, grid_objectives(archs))
    return strategy


def test_a_registered_strategy_runs_through_make_strategy(hill: StrategySpec) -> None:
    assert "hill" in strategy_names() and find_strategy("hill") == (hill, "")
    strategy = _run("hill", seed=4, options=HillOptions(num_parents=1))
    assert isinstance(strategy, HillStrategy) and strategy.options.num_parents == 1
    assert len(set(strategy.archs)) == 25  # never a point twice
    assert strategy.archs == _run("hill", seed=4, options=HillOptions(num_parents=1)).archs
    # after the shared initial design, the climber stays near its best point: its later
    # proposals are better on average than random search's from the same design
    random = _run("random", seed=4)
    assert strategy.archs[:5] == random.archs[:5]
    assert strategy.y[5:, 0].mean() > random.y[5:, 0].mean()
    assert make_strategy("hill", grid_codec(), GRID_REF, 2).options == HillOptions()


def test_options_of_another_strategy_are_refused_by_name(hill: StrategySpec) -> None:
    with pytest.raises(InvalidOptionError, match="'hill' takes HillOptions options, got NSGA2"):
        make_strategy("hill", grid_codec(), GRID_REF, 2, options=NSGA2Options())
    assert strategy_options("lamoo-trust", LaMOOOptions(max_runs=3)).max_runs == 3


def test_bad_names_and_specs_are_refused(hill: StrategySpec) -> None:
    with pytest.raises(UnknownStrategyError, match=r"'hill-fast' is not one of \[.*'hill'"):
        make_strategy("hill-fast", grid_codec(), GRID_REF, 2)
    with pytest.raises(InvalidOptionError, match="'hill' is registered already"):
        register_strategy(StrategySpec("hill", HillOptions, HillStrategy))
    with pytest.raises(InvalidOptionError, match="without '-'"):
        StrategySpec("hill-2", HillOptions, HillStrategy)
    with pytest.raises(InvalidOptionError, match="must be a dataclass"):
        StrategySpec("plain", dict, HillStrategy)


@pytest.mark.parametrize("name", ["lamoo-evolution", "pymoo", "pymoo-nsga3", "mathnas"])
def test_built_in_names_resolve_to_their_spec(name: str) -> None:
    spec, variant = find_strategy(name)
    assert spec is STRATEGY_REGISTRY[name.partition("-")[0]]
    assert variant == name.partition("-")[2]
