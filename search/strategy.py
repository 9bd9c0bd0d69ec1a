"""The ask/tell contract of every search strategy, and the shared bookkeeping behind it.

A strategy proposes architectures with :meth:`Strategy.ask` and learns their objective values
with :meth:`Strategy.tell`; objectives are always MAXIMISED (see
:func:`search.pareto.to_maximisation`). Strategies deduplicate on the decoded architecture: an
architecture that was told or is still pending (asked, not yet told) is never proposed again.
:meth:`Strategy.state_dict` / :meth:`Strategy.load_state_dict` save and restore, as plain JSON,
what the next proposals depend on beyond the told data, so that a resumed search continues
exactly as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import torch

from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import (
    InvalidOptionError,
    SearchSpaceExhaustedError,
    StrategyStateError,
)
from lamoo_nas.search.pareto import check_objectives
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.state import (
    STATE_VERSION,
    as_plain,
    describe_difference,
    generator_state,
    json_sort_key,
    set_generator_state,
    told_digest,
)

INITIAL_DESIGN = "initial design"
"""The ``last_note`` of an ask answered from the shared Sobol initial design."""

A = TypeVar("A", bound=Hashable)

_MAX_RANDOM_ROUNDS = 50
Accept = Callable[[np.ndarray], np.ndarray]  # (n, dim) encodings -> (n,) bool


class Strategy(Protocol[A]):
    """What a driver loop needs from a strategy.

    ``name`` identifies the strategy in the history; ``codec`` is the space it searches;
    ``last_note`` is a short free-text remark on the last ``ask`` (e.g. which LaMOO region was
    used, or that a region was relaxed), stored in the history.

    Example:
        >>> from search.codec import BoxCodec
        >>> s = RandomStrategy(BoxCodec([0.0], [1.0]), ref_point=[0.0], seed=0, num_init=2)
        >>> archs = s.ask(2)
        >>> s.tell(archs, np.array([[a[0]] for a in archs]))
    """

    name: str

    @property
    def codec(self) -> SpaceCodec[A]: ...

    @property
    def last_note(self) -> str: ...

    @property
    def initial_design(self) -> Sequence[A]: ...

    def ask(self, q: int) -> list[A]: ...

    def tell(self, archs: Sequence[A], objectives: np.ndarray) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class KnownObjectives(Generic[A]):
    """Objectives that are known exactly (e.g. analytic MACs/params) and never modelled.

    Attributes:
        columns: indices of these objectives among the ``m`` objectives.
        fn: ``fn(archs) -> (n, len(columns))`` MAXIMISED values (negate costs).
    """

    columns: tuple[int, ...]
    fn: Callable[[Sequence[A]], np.ndarray]


class BaseStrategy(Generic[A]):
    """Bookkeeping shared by every strategy: the told data, deduplication, the initial design.

    The first ``num_init`` proposals are a scrambled Sobol design in the encoding, decoded,
    filtered by feasibility and deduplicated (topped up with random feasible points); it depends
    only on ``seed``, so strategies built with the same seed start from the same points.
    Subclasses implement :meth:`_propose`.
    """

    name = "base"

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
    ) -> None:
        if num_init < 1:
            raise InvalidOptionError(f"num_init must be an integer >= 1, got {num_init!r}")
        self._codec = codec
        self.ref_point = np.asarray(ref_point, dtype=np.float64)
        self.num_objectives = int(self.ref_point.shape[0])
        self.seed = int(seed)
        self.num_init = int(num_init)
        self._rng = np.random.default_rng(seed)
        self.archs: list[A] = []
        self._x = np.zeros((0, codec.dim))
        self._y = np.zeros((0, self.num_objectives))
        self._seen: set[A] = set()
        self._pending: set[A] = set()
        self._initial_design: list[A] | None = None
        self._last_note = ""

    @property
    def codec(self) -> SpaceCodec[A]:
        return self._codec

    @property
    def last_note(self) -> str:
        return self._last_note

    @property
    def initial_design(self) -> list[A]:
        """The shared quasi-random design: the feasible points of ``num_init`` Sobol draws."""
        return list(self._get_initial_design())

    @property
    def x(self) -> np.ndarray:
        """``(n, dim)`` encodings of every told architecture."""
        return self._x

    @property
    def y(self) -> np.ndarray:
        """``(n, m)`` maximised objectives of every told architecture."""
        return self._y

    def tell(self, archs: Sequence[A], objectives: np.ndarray) -> None:
        """Record evaluated architectures and their ``(n, m)`` maximised objectives."""
        y = check_objectives(objectives, self.num_objectives, len(archs))
        if len(archs) == 0:
            return
        self.archs.extend(archs)
        self._x = np.vstack([self._x, self._codec.encode(archs)])
        self._y = np.vstack([self._y, y])
        self._seen.update(archs)
        self._pending.difference_update(archs)

    def state_dict(self) -> dict[str, Any]:
        """What the next proposals depend on beyond the told data, as plain JSON data.

        That is the random generator's position (``rng``: its ``bit_generator.state``), the
        pending proposals (``pending``: asked, not told; as ``codec.to_json``), and what the
        state belongs to: strategy name, ``settings`` (seed, ``num_init``, reference point,
        options), the number and a SHA-256 of the told archs and objectives. Every other
        part of a strategy is the told data (restored by telling it again, in the same order)
        or derived from the seed (the initial design) or rebuilt at every ``ask`` (LaMOO's
        tree; the GP, whose fit and acquisition draw from a seed taken from ``rng``).

        Example:
            >>> from search.codec import CategoricalCodec
            >>> codec = CategoricalCodec((4, 4, 4))
            >>> f = lambda archs: np.array([[a[0], -a[1]] for a in archs], dtype=float)
            >>> s = RandomStrategy(codec, ref_point=[0.0, -4.0], seed=0, num_init=2)
            >>> told = s.ask(4)
            >>> s.tell(told, f(told))
            >>> state = s.state_dict()
            >>> resumed = RandomStrategy(codec, ref_point=[0.0, -4.0], seed=0, num_init=2)
            >>> resumed.tell(told, f(told))
            >>> resumed.load_state_dict(state)
            >>> resumed.ask(3) == s.ask(3)
            True
        """
        pending = sorted((self._codec.to_json(a) for a in self._pending), key=json_sort_key)
        return {
            "version": STATE_VERSION,
            "strategy": self.name,
            "settings": as_plain(self._state_settings()),
            "num_told": len(self.archs),
            "told_sha256": self._told_digest(),
            "pending": pending,
            "rng": generator_state(self._rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` into a strategy built with the same settings and told
        the same data in the same order; raise :class:`~search.errors.StrategyStateError`
        (and change nothing) when it does not fit."""
        if not isinstance(state, dict):
            raise StrategyStateError(f"a strategy state is a dict, got {type(state).__name__}")
        expected = {
            "version": STATE_VERSION,
            "strategy": self.name,
            "settings": as_plain(self._state_settings()),
            "num_told": len(self.archs),
        }
        for key, want in expected.items():
            if state.get(key) != want:
                raise StrategyStateError(
                    f"saved strategy state has {key} {describe_difference(state.get(key), want)}; "
                    "load it into a strategy built with the same settings and told the same data"
                )
        if state.get("told_sha256") != self._told_digest():
            raise StrategyStateError(
                f"saved strategy state was taken after other told data ({len(self.archs)} "
                "evaluations, but other archs or objectives or another order)"
            )
        pending = {self._codec.from_json(value) for value in state.get("pending", [])}
        set_generator_state(self._rng, state.get("rng"))  # type: ignore[arg-type]
        self._pending = pending

    def _state_settings(self) -> dict[str, Any]:
        """Settings a saved state belongs to; subclasses add their options."""
        return {"seed": self.seed, "num_init": self.num_init, "ref_point": self.ref_point.tolist()}

    def _told_digest(self) -> str:
        return told_digest([self._codec.to_json(a) for a in self.archs], self._y)

    def ask(self, q: int) -> list[A]:
        """Propose ``q`` new, feasible, never-seen architectures (fewer only when the space is
        nearly exhausted)."""
        if q < 1:
            raise InvalidOptionError(f"q (the batch size) must be an integer >= 1, got {q!r}")
        self._last_note = ""
        batch: list[A] = []
        num_init_left = self.num_init - len(self._seen) - len(self._pending)
        if num_init_left > 0:
            batch = self._fresh(self._get_initial_design())[: min(q, num_init_left)]
            self._last_note = INITIAL_DESIGN if batch else ""
        if len(batch) < q:
            design = list(batch)
            self._pending.update(design)  # so that the proposals avoid the design's points
            try:
                proposals = self._propose(q - len(design))
            finally:
                self._pending.difference_update(design)
            batch = design + self._fresh(proposals, exclude=design)
        batch = self._fresh(batch)[:q]
        if not batch:
            raise SearchSpaceExhaustedError(
                f"{self.name}: no unseen feasible point left after {len(self._seen)} "
                f"evaluations and {len(self._pending)} pending proposals"
            )
        self._pending.update(batch)
        return batch

    def _propose(self, q: int) -> list[A]:
        raise NotImplementedError

    def _feasible_data(self) -> tuple[list[A], np.ndarray, np.ndarray]:
        """Told archs, encodings ``(n, d)`` and objectives ``(n, m)`` of feasible points only."""
        mask = self._codec.is_feasible(self.archs) if self.archs else np.zeros(0, dtype=bool)
        archs = [a for a, ok in zip(self.archs, mask) if ok]
        return archs, self._x[mask], self._y[mask]

    def _fresh(self, candidates: Sequence[A], exclude: Sequence[A] = ()) -> list[A]:
        """Feasible candidates that were never told, are not pending, not in ``exclude``, and
        unique (first occurrence kept, order preserved)."""
        taken = set(exclude)
        out: list[A] = []
        if not candidates:
            return out
        feasible = self._codec.is_feasible(list(candidates))
        for arch, ok in zip(candidates, feasible):
            if ok and arch not in self._seen and arch not in self._pending and arch not in taken:
                out.append(arch)
                taken.add(arch)
        return out

    def _random_fresh(
        self,
        n: int,
        accept: Accept | None = None,
        exclude: Sequence[A] = (),
        max_rounds: int = _MAX_RANDOM_ROUNDS,
    ) -> list[A]:
        """Up to ``n`` fresh feasible random points whose encodings ``accept`` keeps
        (bounded: ``max_rounds`` draws of ``max(4n, 64)`` points)."""
        found: list[A] = []
        for _ in range(max_rounds):
            draw = self._codec.sample(self._rng, max(4 * n, 64))
            if accept is not None and draw:
                draw = [a for a, ok in zip(draw, accept(self._codec.encode(draw))) if ok]
            found += self._fresh(draw, exclude=[*exclude, *found])
            if len(found) >= n:
                break
        return found[:n]

    def _candidate_pool(
        self,
        n: int,
        parents: Sequence[A],
        mutation_fraction: float,
        accept: Accept | None = None,
        max_rounds: int = _MAX_RANDOM_ROUNDS,
    ) -> list[A]:
        """Up to ``n`` fresh candidates: mutations of ``parents`` (a ``mutation_fraction`` share)
        then uniform random feasible points, all kept by ``accept`` (on encodings)."""
        grown: list[A] = []
        num_mutants = round(n * mutation_fraction) if parents else 0
        if num_mutants:
            prob = 1.0 / self._codec.dim
            picks = self._rng.integers(0, len(parents), size=2 * num_mutants)
            mutants = [self._codec.mutate(parents[i], self._rng, prob) for i in picks]
            if accept is not None:
                mutants = [a for a, ok in zip(mutants, accept(self._codec.encode(mutants))) if ok]
            grown = self._fresh(mutants)[:num_mutants]
        if len(grown) >= n:
            return grown
        return grown + self._random_fresh(n - len(grown), accept, grown, max_rounds)

    def _get_initial_design(self) -> list[A]:
        if self._initial_design is None:
            sobol = torch.quasirandom.SobolEngine(self._codec.dim, scramble=True, seed=self.seed)
            unit = sobol.draw(self.num_init, dtype=torch.float64).numpy()
            candidates = self._codec.decode(unit)
            if len(set(candidates)) < self.num_init:  # colliding Sobol points in a small space
                extra_rng = np.random.default_rng(self.seed)
                candidates += self._codec.sample(extra_rng, 8 * self.num_init)
            # independent of what was told (a resumed run gets the same design)
            feasible = self._codec.is_feasible(candidates)
            design = list(dict.fromkeys(a for a, ok in zip(candidates, feasible) if ok))
            if not design:
                design = self._codec.sample(np.random.default_rng(self.seed), self.num_init)
            self._initial_design = design[: self.num_init]
        return self._initial_design


class RandomStrategy(BaseStrategy[A]):
    """Uniform random feasible points (after the shared initial design).

    Example:
        >>> from search.codec import CategoricalCodec
        >>> s = RandomStrategy(CategoricalCodec((3, 3)), ref_point=[0.0, 0.0], seed=0)
        >>> len(s.ask(4))
        4
    """

    name = "random"

    def _propose(self, q: int) -> list[A]:
        return self._random_fresh(q)


@dataclass(frozen=True)
class RandomOptions:
    """Random search has no options (``conf/strategy/random.yaml`` has no section)."""


def _build_random(request: StrategyRequest[Any], options: RandomOptions) -> RandomStrategy[Any]:
    return RandomStrategy(request.codec, request.ref_point, request.seed, request.num_init)


RANDOM_SPEC = StrategySpec("random", RandomOptions, _build_random)
