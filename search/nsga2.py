"""NSGA-II: elitist survival by non-domination rank and crowding distance, binary-tournament
parents, crossover and mutation through the codec.

:func:`nsga2_offspring` is shared with LaMOO's ``evolution`` inner sampler.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np

from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.pareto import rank_and_crowding
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.strategy import BaseStrategy

A = TypeVar("A", bound=Hashable)


@dataclass(frozen=True)
class NSGA2Options:
    """NSGA-II hyperparameters.

    Attributes:
        population_size: survivors kept as parents (best by rank, then crowding).
        crossover_prob: probability that a child is a crossover of two parents.
        mutation_prob: per-coordinate mutation probability; None means ``1 / dim``.
        max_rounds: bounded number of offspring rounds before falling back to random points.
    """

    population_size: int = 20
    crossover_prob: float = 0.9
    mutation_prob: float | None = None
    max_rounds: int = 50


def survivor_order(y: np.ndarray) -> np.ndarray:
    """Indices of ``y`` ``(n, m)`` best first: rank ascending, crowding descending, index."""
    rank, crowd = rank_and_crowding(y)
    return np.lexsort((np.arange(len(rank)), -crowd, rank))


def nsga2_offspring(
    codec: SpaceCodec[A],
    parents: Sequence[A],
    parent_y: np.ndarray,
    n: int,
    rng: np.random.Generator,
    keep: Callable[[list[A], list[A]], list[A]],
    options: NSGA2Options,
) -> list[A]:
    """Up to ``n`` children of ``parents`` that ``keep`` accepts.

    Args:
        codec: the space.
        parents: candidate parents; the best ``options.population_size`` survive.
        parent_y: ``(len(parents), m)`` maximised objectives.
        n: number of children wanted.
        rng: injected randomness.
        keep: ``keep(batch, exclude)`` filters a round of children: feasibility, region,
            deduplication against everything seen and against ``exclude`` (children kept).
        options: NSGA-II hyperparameters.

    Returns:
        At most ``n`` children (fewer when ``options.max_rounds`` rounds were not enough).
    """
    if len(parents) == 0:
        return []
    order = survivor_order(parent_y)[: options.population_size]
    pop = [parents[i] for i in order]
    position = np.arange(len(pop))  # smaller = better (rank, then crowding)
    prob = options.mutation_prob if options.mutation_prob is not None else 1.0 / codec.dim
    children: list[A] = []
    for _ in range(options.max_rounds):
        batch = []
        for _ in range(max(2 * n, 8)):
            a = pop[_tournament(position, rng)]
            if len(pop) > 1 and rng.random() < options.crossover_prob:
                a = codec.crossover(a, pop[_tournament(position, rng)], rng)
            batch.append(codec.mutate(a, rng, prob))
        children += keep(batch, children)
        if len(children) >= n:
            break
    return children[:n]


def _tournament(position: np.ndarray, rng: np.random.Generator) -> int:
    i, j = rng.integers(0, len(position), size=2)
    return int(min(position[i], position[j]))


class NSGA2Strategy(BaseStrategy[A]):
    """NSGA-II over every feasible evaluated point (mu + lambda survival).

    Example:
        >>> from search.codec import BoxCodec
        >>> s = NSGA2Strategy(BoxCodec([0.0] * 2, [1.0] * 2), ref_point=[0.0, 0.0], seed=0)
        >>> len(s.ask(3))
        3
    """

    name = "nsga2"

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
        options: NSGA2Options | None = None,
    ) -> None:
        super().__init__(codec, ref_point, seed, num_init)
        self.options = options or NSGA2Options()

    def _state_settings(self) -> dict[str, Any]:
        return {**super()._state_settings(), "nsga2": asdict(self.options)}

    def _propose(self, q: int) -> list[A]:
        archs, _, y = self._feasible_data()
        children = nsga2_offspring(self._codec, archs, y, q, self._rng, self._fresh, self.options)
        if len(children) < q:
            children += self._random_fresh(q - len(children), exclude=children)
        return children


def _build(request: StrategyRequest[Any], options: NSGA2Options) -> NSGA2Strategy[Any]:
    return NSGA2Strategy(request.codec, request.ref_point, request.seed, request.num_init, options)


SPEC = StrategySpec("nsga2", NSGA2Options, _build)
