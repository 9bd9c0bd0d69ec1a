"""Standard evolutionary baselines from pymoo (NSGA-II, NSGA-III) behind the
ask/tell interface.

pymoo runs on the codec's unit-cube encoding (``xl = 0``, ``xu = 1``; its default operators,
simulated binary crossover and polynomial mutation, act on it and the codec's ``decode`` maps
points to architectures). Its first population is the shared initial design; after that a
generation's offspring are handed out a batch at a time; an offspring whose architecture was
already evaluated is looked up for free, an infeasible one (over the budget) is told as
violating a constraint, and the generation is told once every offspring is known. pymoo
minimises, so it is told the negated objectives.

Exact resume: pymoo's algorithm objects are not plain data, but everything they do follows from
``seed`` (pymoo draws from its own ``numpy`` Generator) and the told objectives. A saved state
records how many generations were told and a digest of the current offspring; loading it
replays those generations from the told data and checks the digest.

Example:
    >>> from search.codec import BoxCodec
    >>> s = PymooStrategy(BoxCodec([0.0] * 2, [1.0] * 2), [-1.0, -1.0], seed=0, num_init=4,
    ...                   options=PymooOptions(population_size=4))
    >>> for _ in range(3):  # the initial design, then one generation of 4 offspring
    ...     archs = s.ask(4)
    ...     s.tell(archs, -np.array(archs))
    >>> s.generations_told
    2
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.algorithms.moo.nsga3 import NSGA3
from pymoo.core.algorithm import Algorithm
from pymoo.core.evaluator import Evaluator
from pymoo.core.population import Population
from pymoo.core.problem import Problem
from pymoo.core.termination import NoTermination
from pymoo.problems.static import StaticProblem
from pymoo.util.ref_dirs import get_reference_directions

from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import InvalidOptionError, StrategyStateError, UnknownStrategyError
from lamoo_nas.search.population import generation_objectives, told_lookup
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.strategy import BaseStrategy

A = TypeVar("A", bound=Hashable)


@dataclass(frozen=True)
class PymooOptions:
    """Options of the pymoo baselines (pymoo's defaults otherwise).

    Attributes:
        population_size: survivors per generation (also the offspring per generation).
        nsga3_partitions: Das-Dennis partitions of NSGA-III's reference directions.
        max_generations_per_ask: bounded number of generations one ask may tell (generations
            whose offspring were all seen before are told at once).
    """

    population_size: int = 20
    nsga3_partitions: int = 12
    max_generations_per_ask: int = 50

    def __post_init__(self) -> None:
        if self.population_size < 2 or self.nsga3_partitions < 1:
            raise InvalidOptionError(
                f"need population_size >= 2 and nsga3_partitions >= 1, got "
                f"{self.population_size} and {self.nsga3_partitions}"
            )
        if self.max_generations_per_ask < 1:
            raise InvalidOptionError(
                f"max_generations_per_ask must be >= 1, got {self.max_generations_per_ask}"
            )


def _nsga3(options: PymooOptions, x0: np.ndarray, m: int) -> Algorithm:
    ref_dirs = get_reference_directions("das-dennis", m, n_partitions=options.nsga3_partitions)
    return NSGA3(ref_dirs, pop_size=options.population_size, sampling=x0)


ALGORITHMS: dict[str, Callable[[PymooOptions, np.ndarray, int], Algorithm]] = {
    "nsga2": lambda o, x0, m: NSGA2(pop_size=o.population_size, sampling=x0),
    "nsga3": _nsga3,
}
"""pymoo algorithm by name: ``(options, initial unit-cube points, m) -> algorithm``."""


class PymooStrategy(BaseStrategy[A]):
    """A pymoo evolutionary algorithm (``algorithm`` in :data:`ALGORITHMS`); name
    ``pymoo-<algorithm>``.

    Attributes:
        generations_told: generations told to pymoo so far (the initial design is the first).
    """

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
        options: PymooOptions | None = None,
        algorithm: str = "nsga2",
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise UnknownStrategyError(
                f"pymoo algorithm {algorithm!r} is not one of {tuple(ALGORITHMS)}"
            )
        super().__init__(codec, ref_point, seed, num_init)
        self.options = options or PymooOptions()
        self.algorithm_name = algorithm
        self.name = f"pymoo-{algorithm}"
        self.generations_told = 0
        self._algorithm: Algorithm | None = None
        self._offspring: Population | None = None

    def _state_settings(self) -> dict[str, Any]:
        return {**super()._state_settings(), "pymoo": asdict(self.options)}

    def state_dict(self) -> dict[str, Any]:
        """The base state plus whether pymoo was started, ``generations_told`` and a SHA-256 of
        the current offspring."""
        state = super().state_dict()
        state["pymoo_started"] = self._algorithm is not None
        state["generations_told"] = self.generations_told
        state["offspring_sha256"] = self._offspring_digest()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the base state, then replay ``generations_told`` generations from the told
        data; :class:`~search.errors.StrategyStateError` when the replay does not end on the
        saved offspring (e.g. another pymoo version)."""
        super().load_state_dict(state)
        self._algorithm, self._offspring, self.generations_told = None, None, 0
        told = int(state.get("generations_told", 0))
        if state.get("pymoo_started"):
            lookup = told_lookup(*self._feasible_data()[::2])
            self._start()
            for _ in range(told):
                if not self._tell_if_complete(lookup):
                    raise StrategyStateError(
                        f"replaying {told} pymoo generations stopped at {self.generations_told}: "
                        "an offspring's objectives are not in the told data"
                    )
        if self._offspring_digest() != state.get("offspring_sha256"):
            raise StrategyStateError(
                "replayed pymoo offspring differ from the saved ones (another pymoo version or "
                "other told data); resume with the pymoo version that saved the state"
            )

    def _start(self) -> None:
        x0 = self._codec.encode(self.initial_design)
        algorithm = ALGORITHMS[self.algorithm_name](self.options, x0, self.num_objectives)
        problem = Problem(
            n_var=self._codec.dim, n_obj=self.num_objectives, n_ieq_constr=1, xl=0.0, xu=1.0
        )
        algorithm.setup(problem, seed=self.seed, termination=NoTermination(), verbose=False)
        self._algorithm, self._offspring = algorithm, algorithm.ask()

    def _offspring_digest(self) -> str | None:
        if self._offspring is None:
            return None
        x = np.ascontiguousarray(self._offspring.get("X"), dtype="<f8")
        return hashlib.sha256(x.tobytes()).hexdigest()

    def _tell_if_complete(self, lookup: dict[A, np.ndarray]) -> bool:
        """Tell the offspring when all are known; ask for the next. Returns whether it did."""
        assert self._algorithm is not None and self._offspring is not None
        x = self._offspring.get("X")
        archs = self._codec.decode(x)
        feasible = self._codec.is_feasible(archs)
        y = generation_objectives(self._codec, list(x), lookup, self.num_objectives)
        y[~feasible] = self.ref_point  # infeasible: the worst values, and a violated constraint
        if np.isnan(y).any():
            return False
        violation = np.where(feasible, 0.0, 1.0)[:, None]
        Evaluator().eval(StaticProblem(self._algorithm.problem, F=-y, G=violation), self._offspring)
        self._algorithm.tell(infills=self._offspring)
        self.generations_told += 1
        self._offspring = self._algorithm.ask()
        return True

    def _propose(self, q: int) -> list[A]:
        if self._algorithm is None:
            self._start()
        archs, _, y = self._feasible_data()
        lookup = told_lookup(archs, y)
        out: list[A] = []
        for _ in range(self.options.max_generations_per_ask):
            self._tell_if_complete(lookup)
            if self._offspring is None or len(self._offspring) == 0:
                break  # pymoo could not mate new offspring (duplicates everywhere)
            out += self._fresh(self._codec.decode(self._offspring.get("X")), out)[: q - len(out)]
            if len(out) >= q or self._pending_offspring(lookup):
                break
        self._last_note = f"{self.name}: generation {self.generations_told}"
        if len(out) < q:
            out += self._random_fresh(q - len(out), exclude=out)
        return out

    def _pending_offspring(self, lookup: dict[A, np.ndarray]) -> bool:
        """Whether some offspring wait for objectives (then this generation cannot be told)."""
        assert self._offspring is not None
        archs = self._codec.decode(self._offspring.get("X"))
        feasible = self._codec.is_feasible(archs)
        return any(ok and a not in lookup for a, ok in zip(archs, feasible))


def _build(request: StrategyRequest[Any], options: PymooOptions) -> PymooStrategy[Any]:
    """``pymoo`` alone is ``pymoo-nsga2``."""
    return PymooStrategy(
        request.codec,
        request.ref_point,
        request.seed,
        request.num_init,
        options,
        request.variant or "nsga2",
    )


SPEC = StrategySpec("pymoo", PymooOptions, _build, variants=tuple(ALGORITHMS))
