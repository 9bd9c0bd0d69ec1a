"""CMA-ES (the maintained ``cmaes`` library) behind the ask/tell interface, alone or as the
engine of LaMOO's ``cmaes`` inner sampler.

CMA-ES searches the codec's unit-cube encoding (categorical choices through the codec's
``decode``, as every strategy here) with the cube as its bounds. Its generation of
``population_size`` points is handed out a batch at a time; a point whose architecture was
already evaluated costs nothing (its objectives are looked up), and the generation is told once
all its objectives are known, ranked by :func:`search.population.scalar_fitness` (dominance
number, then hypervolume improvement, then distance to the front). When a batch needs more
points than the generation has left, extra points are drawn from the same distribution; they
are evaluated and recorded but only the first ``population_size`` points of a generation are
told. The default population (``cmaes``'s ``4 + floor(3 ln d)``) is rounded up to a multiple of
the batch size of the first ask, so that a synchronous search never draws extras.

Example:
    >>> from search.codec import BoxCodec
    >>> s = CMAESStrategy(BoxCodec([0.0] * 2, [1.0] * 2), ref_point=[-1.0, -1.0], seed=0,
    ...                   num_init=4)
    >>> for _ in range(4):
    ...     archs = s.ask(2)
    ...     s.tell(archs, -np.array(archs))
    >>> s.run.population_size
    6
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
from cmaes import CMA

from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import InvalidOptionError, StrategyStateError
from lamoo_nas.search.population import (
    best_rows,
    decode_array,
    encode_array,
    generation_objectives,
    scalar_fitness,
    told_lookup,
)
from lamoo_nas.search.registry import StrategyRequest, StrategySpec
from lamoo_nas.search.strategy import Accept, BaseStrategy

A = TypeVar("A", bound=Hashable)
Fresh = Callable[[Sequence[A], Sequence[A]], list[A]]


@dataclass(frozen=True)
class CMAESOptions:
    """CMA-ES hyperparameters (unit-cube units).

    Attributes:
        sigma0: initial step size of a fresh CMA-ES (the unit cube's side is 1).
        min_sigma0: LaMOO's leaf runs start with the spread of the leaf's samples (their mean
            per-coordinate standard deviation) clipped to ``[min_sigma0, sigma0]``.
        population_size: points per generation; None: ``4 + floor(3 ln d)`` rounded up to a
            multiple of the first ask's batch size (LaMOO's runs: rounded down, to at least
            one batch, since a run gets one batch per visit to its region).
        max_draws: bounded number of points drawn from the distribution per ask (points outside
            a LaMOO region or infeasible are discarded).
    """

    sigma0: float = 0.2
    min_sigma0: float = 0.02
    population_size: int | None = None
    max_draws: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.min_sigma0 <= self.sigma0:
            raise InvalidOptionError(
                f"need 0 < min_sigma0 <= sigma0, got min_sigma0={self.min_sigma0}, "
                f"sigma0={self.sigma0}"
            )
        if self.population_size is not None and self.population_size < 2:
            raise InvalidOptionError(
                f"population_size must be >= 2 or None (the library default), got "
                f"{self.population_size}"
            )
        if self.max_draws < 1:
            raise InvalidOptionError(f"max_draws must be >= 1, got {self.max_draws}")


def default_population_size(dim: int, batch_size: int, round_up: bool = True) -> int:
    """``cmaes``'s default ``4 + floor(3 ln dim)`` rounded to a multiple of ``batch_size``: up,
    or (``round_up=False``) down but to at least one batch.

    Example:
        >>> default_population_size(30, 5), default_population_size(30, 5, round_up=False)
        (15, 10)
    """
    size = 4 + math.floor(3 * math.log(dim))
    if round_up:
        return batch_size * math.ceil(size / batch_size)
    return batch_size * max(1, size // batch_size)


class CMAESRun:
    """One CMA-ES over the unit cube and the generation it is sampling.

    Attributes:
        cma: the library's optimiser (its mean, step size, covariance, paths, random state).
        points: ``(dim,)`` unit-cube points of the current generation, in sampling order.
        last_used: when the owner last used it (LaMOO: the number of told samples then).
    """

    def __init__(
        self, cma: CMA, points: list[np.ndarray] | None = None, last_used: int = 0
    ) -> None:
        self.cma = cma
        self.points = points or []
        self.last_used = last_used

    @classmethod
    def start(cls, mean: np.ndarray, sigma: float, population_size: int, seed: int) -> CMAESRun:
        """A fresh CMA-ES at ``mean`` (in the unit cube) with step size ``sigma``."""
        dim = mean.shape[0]
        bounds = np.tile([0.0, 1.0], (dim, 1))
        cma = CMA(
            mean=np.clip(mean, 0.0, 1.0),
            sigma=sigma,
            bounds=bounds,
            seed=seed,
            population_size=population_size,
        )
        cma._funhist_values[:] = 0.0  # the library leaves it uninitialised (read only when full)
        return cls(cma)

    @property
    def population_size(self) -> int:
        return int(self.cma.population_size)

    @property
    def mean(self) -> np.ndarray:
        """``(dim,)`` the distribution's mean in the unit cube."""
        return np.asarray(self.cma.mean, dtype=np.float64)

    @property
    def stopped(self) -> bool:
        """The library's stopping rules fired (step size collapsed, covariance degenerate)."""
        return bool(self.cma.should_stop())

    def update(
        self,
        codec: SpaceCodec[A],
        lookup: Mapping[A, np.ndarray],
        ref_point: np.ndarray,
    ) -> bool:
        """Tell the generation when its first ``population_size`` points are all known.

        Args:
            codec: decodes the points.
            lookup: architecture -> maximised objectives of everything told; the fitness
                compares the generation with the rest of it (its own architectures left out).
            ref_point: ``(m,)`` hypervolume reference point.

        Returns:
            Whether the generation was told (then a new one starts, empty).
        """
        size = self.population_size
        if len(self.points) < size:
            return False
        points = self.points[:size]
        y = generation_objectives(codec, points, lookup, ref_point.shape[0])
        if np.isnan(y).any():
            return False
        members = {a for a in codec.decode(np.stack(points))}
        archive = np.asarray([v for a, v in lookup.items() if a not in members])
        fitness = scalar_fitness(y, archive, ref_point)
        self.cma.tell([(p, float(f)) for p, f in zip(points, fitness)])
        self.points = []
        return True

    def propose(
        self,
        n: int,
        codec: SpaceCodec[A],
        fresh: Fresh[A],
        lookup: Mapping[A, np.ndarray],
        ref_point: np.ndarray,
        max_draws: int,
        accept: Accept | None = None,
        exclude: Sequence[A] = (),
    ) -> list[A]:
        """Up to ``n`` architectures from the generation and, when needed, new draws.

        ``fresh(archs, exclude)`` keeps feasible, never-seen, not-pending ones; ``accept``
        (e.g. a LaMOO region, on encodings) discards draws before they join the generation.
        Generations whose points are all known are told on the way (bounded: ``max_draws``).
        """
        out: list[A] = []
        draws = 0
        while True:
            self.update(codec, lookup, ref_point)
            if self.points:
                archs = codec.decode(np.stack(self.points))
                out += fresh(archs, [*exclude, *out])[: n - len(out)]
            if len(out) >= n or draws >= max_draws or self.stopped:
                return out
            chunk = min(max(n - len(out), 1), max_draws - draws)
            drawn = np.stack([self.cma.ask() for _ in range(chunk)])
            draws += chunk
            keep = codec.is_feasible(codec.decode(drawn))
            if accept is not None:
                keep &= accept(codec.encode(codec.decode(drawn)))
            self.points += list(drawn[keep])

    def state(self) -> dict[str, Any]:
        """Plain JSON data from which :meth:`from_state` rebuilds this run bit for bit."""
        return {
            # every attribute as is (the library's own pickling packs the covariance as a
            # triangle, which loses its last-bit asymmetry and so changes the next draws)
            "cma": encode_array({k: v for k, v in vars(self.cma).items() if k != "_rng"}),
            "rng": encode_array(list(self.cma._rng.get_state())),
            "points": [p.tolist() for p in self.points],
            "last_used": self.last_used,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CMAESRun:
        """Rebuild a run saved by :meth:`state`."""
        try:
            cma = CMA.__new__(CMA)
            cma.__dict__.update(decode_array(state["cma"]))
            cma._rng = np.random.RandomState()
            cma._rng.set_state(tuple(decode_array(state["rng"])))
            points = [np.asarray(p, dtype=np.float64) for p in state["points"]]
            last_used = int(state["last_used"])
        except (KeyError, TypeError, ValueError) as error:
            raise StrategyStateError(
                f"saved CMA-ES state is malformed ({error!r}); save it with state_dict()"
            ) from error
        return cls(cma, points, last_used)


def start_run(
    x: np.ndarray,
    y: np.ndarray,
    ref_point: np.ndarray,
    sigma: float,
    population_size: int,
    rng: np.random.Generator,
) -> CMAESRun:
    """A CMA-ES started at the mean of the best ``population_size // 2`` samples of ``x``
    ``(n, d)`` (ranked by :func:`search.population.best_rows`); its seed is drawn from
    ``rng``."""
    best = best_rows(y, ref_point, max(1, population_size // 2))
    seed = int(rng.integers(0, 2**31 - 1))
    return CMAESRun.start(x[best].mean(axis=0), sigma, population_size, seed)


def leaf_sigma(x: np.ndarray, options: CMAESOptions) -> float:
    """Initial step size of a LaMOO leaf's CMA-ES: the spread of the leaf's samples ``x``
    ``(n, d)`` (mean per-coordinate standard deviation), clipped to ``[min_sigma0, sigma0]``."""
    spread = float(x.std(axis=0).mean()) if x.shape[0] > 1 else options.sigma0
    return float(np.clip(spread, options.min_sigma0, options.sigma0))


class CMAESStrategy(BaseStrategy[A]):
    """CMA-ES alone: one persistent run from the best initial samples, restarted (from the best
    samples so far, with ``sigma0``) when the library's stopping rules fire.

    Attributes:
        run: the current :class:`CMAESRun` (None before the first proposal).
        restarts: how many times a run was (re)started.
    """

    name = "cmaes"

    def __init__(
        self,
        codec: SpaceCodec[A],
        ref_point: Sequence[float],
        seed: int,
        num_init: int = 10,
        options: CMAESOptions | None = None,
    ) -> None:
        super().__init__(codec, ref_point, seed, num_init)
        self.options = options or CMAESOptions()
        self.run: CMAESRun | None = None
        self.restarts = 0

    def _state_settings(self) -> dict[str, Any]:
        return {**super()._state_settings(), "cmaes": asdict(self.options)}

    def state_dict(self) -> dict[str, Any]:
        """The base state plus the CMA-ES run (``cmaes``) and its restart count."""
        state = super().state_dict()
        state["cmaes"] = None if self.run is None else self.run.state()
        state["restarts"] = self.restarts
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        run = state.get("cmaes") if isinstance(state, dict) else None
        restored = None if run is None else CMAESRun.from_state(run)
        super().load_state_dict(state)
        self.run, self.restarts = restored, int(state.get("restarts", 0))

    def _propose(self, q: int) -> list[A]:
        archs, x, y = self._feasible_data()
        if not archs:  # nothing told yet (the initial design is pending): nowhere to start
            return self._random_fresh(q)
        if self.run is None or self.run.stopped:
            size = self.options.population_size or default_population_size(self._codec.dim, q)
            self.run = start_run(x, y, self.ref_point, self.options.sigma0, size, self._rng)
            self.restarts += 1
        lookup = told_lookup(archs, y)
        out = self.run.propose(
            q, self._codec, self._fresh, lookup, self.ref_point, self.options.max_draws
        )
        self._last_note = f"cmaes: generation {self.run.cma.generation}, run {self.restarts}"
        if len(out) < q:
            out += self._random_fresh(q - len(out), exclude=out)
        return out


def _build(request: StrategyRequest[Any], options: CMAESOptions) -> CMAESStrategy[Any]:
    return CMAESStrategy(request.codec, request.ref_point, request.seed, request.num_init, options)


SPEC = StrategySpec("cmaes", CMAESOptions, _build)
