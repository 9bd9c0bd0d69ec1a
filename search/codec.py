"""Space codecs: how the search sees a search space.

A strategy never looks inside an architecture. It only needs the narrow :class:`SpaceCodec`
protocol below: sample feasible points, map them to and from the unit cube, perturb and recombine
them, filter them by a budget and store them as JSON. Two generic codecs are provided:

* :class:`BoxCodec`: a continuous box ``[lower, upper]^d``; a point is a tuple of floats.
* :class:`CategoricalCodec`: ``d`` categorical dimensions with ``k_j`` choices each; a point is a
  tuple of choice indices, encoded as ``(i + 0.5) / k_j`` (``encoding="ordinal"``, for choices
  with an order) or as one-hot blocks (``encoding="onehot"``, for unordered choices such as
  operation types); an optional feasibility predicate acts as a hard budget filter.

A NAS project writes its own codec (e.g. for a MobileNetV3 ``ArchConfig``) against the protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from lamoo_nas.search.errors import (
    InfeasibleBudgetError,
    InvalidOptionError,
    InvalidPointError,
    UnknownStrategyError,
)

A = TypeVar("A", bound=Hashable)
JSONValue = Any  # a value that ``json.dumps`` accepts (nested lists/dicts of str, int, float, ...)

_MAX_REJECTION_DRAWS = 200_000
ENCODINGS = ("ordinal", "onehot")


class SpaceCodec(Protocol[A]):
    """The contract between a search space and every strategy.

    ``A`` is an opaque, hashable, immutable architecture (point) type; equal architectures must
    hash equally because strategies deduplicate on them. The contract:

    * ``dim``: length of an encoding.
    * ``sample(rng, n)``: up to ``n`` *feasible* points drawn at random (duplicates allowed);
      raise :class:`~search.errors.InfeasibleBudgetError` when no feasible point can be found,
      with a message that says how to fix the budget.
    * ``encode(archs)``: ``(n, dim)`` float array in ``[0, 1]``.
    * ``decode(x)``: ``(n, dim)`` array in ``[0, 1]`` (any values; clip) to ``n`` points. Many
      encodings may decode to one point; ``decode(encode(a)) == a`` must hold.
    * ``mutate(arch, rng, prob)``: a neighbour of ``arch``; each coordinate changes with
      probability ``prob``. May be infeasible: callers filter with ``is_feasible``.
    * ``crossover(a, b, rng)``: a child mixing ``a`` and ``b``. May be infeasible.
    * ``is_feasible(archs)``: ``(n,)`` bool array, the hard budget filter.
    * ``to_json(arch)`` / ``from_json(value)``: lossless JSON round trip for the history.

    Example:
        >>> codec = CategoricalCodec(num_choices=(3, 2))
        >>> codec.decode(codec.encode([(2, 0)]))
        [(2, 0)]
    """

    @property
    def dim(self) -> int: ...

    def sample(self, rng: np.random.Generator, n: int) -> list[A]: ...

    def encode(self, archs: Sequence[A]) -> np.ndarray: ...

    def decode(self, x: np.ndarray) -> list[A]: ...

    def mutate(self, arch: A, rng: np.random.Generator, prob: float) -> A: ...

    def crossover(self, a: A, b: A, rng: np.random.Generator) -> A: ...

    def is_feasible(self, archs: Sequence[A]) -> np.ndarray: ...

    def to_json(self, arch: A) -> JSONValue: ...

    def from_json(self, value: JSONValue) -> A: ...


class BoxCodec:
    """Continuous box ``[lower, upper]`` in ``dim`` dimensions; a point is a tuple of floats.

    Mutation adds gaussian noise (``sigma`` in unit-cube units) to each coordinate with
    probability ``prob``; crossover is uniform per coordinate. Every point is feasible.

    Example:
        >>> codec = BoxCodec(lower=[0.0, -5.0], upper=[1.0, 5.0])
        >>> codec.decode(np.array([[0.5, 0.5]]))
        [(0.5, 0.0)]
    """

    def __init__(
        self, lower: Sequence[float], upper: Sequence[float], mutation_sigma: float = 0.1
    ) -> None:
        self._lower = np.asarray(lower, dtype=np.float64)
        self._upper = np.asarray(upper, dtype=np.float64)
        if self._lower.shape != self._upper.shape or self._lower.ndim != 1:
            raise InvalidOptionError(
                f"lower and upper must be 1-D of equal length, got shapes "
                f"{self._lower.shape} and {self._upper.shape}"
            )
        if not np.all(self._upper > self._lower):
            bad = np.flatnonzero(~(self._upper > self._lower)).tolist()
            raise InvalidOptionError(
                f"need upper > lower in every dimension, got {lower=} {upper=} "
                f"(dimensions {bad} are not)"
            )
        if not mutation_sigma > 0:
            raise InvalidOptionError(
                f"mutation_sigma must be > 0 (unit-cube units), got {mutation_sigma}"
            )
        self.mutation_sigma = mutation_sigma

    @property
    def dim(self) -> int:
        return int(self._lower.shape[0])

    def sample(self, rng: np.random.Generator, n: int) -> list[tuple[float, ...]]:
        return self.decode(rng.random((n, self.dim)))

    def encode(self, archs: Sequence[tuple[float, ...]]) -> np.ndarray:
        x = np.asarray(archs, dtype=np.float64).reshape(len(archs), self.dim)
        return (x - self._lower) / (self._upper - self._lower)

    def decode(self, x: np.ndarray) -> list[tuple[float, ...]]:
        unit = np.clip(np.asarray(x, dtype=np.float64).reshape(-1, self.dim), 0.0, 1.0)
        values = self._lower + unit * (self._upper - self._lower)
        return [tuple(float(v) for v in row) for row in values]

    def mutate(
        self, arch: tuple[float, ...], rng: np.random.Generator, prob: float
    ) -> tuple[float, ...]:
        x = self.encode([arch])[0]
        change = rng.random(self.dim) < prob
        if not change.any():
            change[rng.integers(self.dim)] = True
        x = x + change * rng.normal(0.0, self.mutation_sigma, self.dim)
        return self.decode(x[None])[0]

    def crossover(
        self, a: tuple[float, ...], b: tuple[float, ...], rng: np.random.Generator
    ) -> tuple[float, ...]:
        take_b = rng.random(self.dim) < 0.5
        return tuple(bi if t else ai for ai, bi, t in zip(a, b, take_b))

    def is_feasible(self, archs: Sequence[tuple[float, ...]]) -> np.ndarray:
        return np.ones(len(archs), dtype=bool)

    def to_json(self, arch: tuple[float, ...]) -> JSONValue:
        return list(arch)

    def from_json(self, value: JSONValue) -> tuple[float, ...]:
        return tuple(float(v) for v in value)


class CategoricalCodec:
    """``len(num_choices)`` categorical dimensions; a point is a tuple of choice indices.

    ``encoding="ordinal"`` (default): choice ``i`` of a dimension with ``k`` choices is one
    coordinate ``(i + 0.5) / k``, which tells a model that choice 1 lies between 0 and 2.
    ``encoding="onehot"``: ``k`` coordinates per dimension, 1 at the choice and 0 elsewhere
    (``dim == sum(num_choices)``); any point decodes to the largest coordinate of each block.
    ``feasible`` is an optional predicate on a point (the hard budget filter); sampling rejects
    infeasible points with a bounded number of draws and raises
    :class:`~search.errors.InfeasibleBudgetError` when none is found.

    Example:
        >>> codec = CategoricalCodec(num_choices=(5,) * 6, feasible=lambda a: sum(a) <= 12)
        >>> rng = np.random.default_rng(0)
        >>> all(sum(a) <= 12 for a in codec.sample(rng, 4))
        True
    """

    def __init__(
        self,
        num_choices: Sequence[int],
        feasible: Callable[[tuple[int, ...]], bool] | None = None,
        infeasible_hint: str = "relax the budget (the feasibility predicate)",
        encoding: str = "ordinal",
    ) -> None:
        if len(num_choices) == 0 or any(int(k) < 1 for k in num_choices):
            raise InvalidOptionError(
                f"num_choices must be non-empty with every entry >= 1, got {tuple(num_choices)}"
            )
        if encoding not in ENCODINGS:
            raise UnknownStrategyError(f"encoding {encoding!r} is not one of {ENCODINGS}")
        self.num_choices = tuple(int(k) for k in num_choices)
        self.encoding = encoding
        self._k = np.asarray(self.num_choices, dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(self._k)[:-1]])
        self._feasible = feasible
        self.infeasible_hint = infeasible_hint

    @property
    def dim(self) -> int:
        return int(self._k.sum()) if self.encoding == "onehot" else len(self.num_choices)

    @property
    def size(self) -> int:
        """Number of points in the space, feasible or not."""
        return int(np.prod(self._k))

    def sample(self, rng: np.random.Generator, n: int) -> list[tuple[int, ...]]:
        num_dims = len(self.num_choices)
        if self._feasible is None:
            return self._as_points(rng.integers(0, self._k, size=(n, num_dims)))
        found: list[tuple[int, ...]] = []
        draws = 0
        chunk = max(64, 4 * n)
        while len(found) < n and draws < _MAX_REJECTION_DRAWS:
            candidates = self._as_points(rng.integers(0, self._k, size=(chunk, num_dims)))
            draws += chunk
            found.extend(a for a in candidates if self._feasible(a))
        if not found:
            raise InfeasibleBudgetError(
                f"none of {draws} random points satisfies the feasibility predicate of this "
                f"CategoricalCodec (num_choices={self.num_choices}); {self.infeasible_hint}"
            )
        return found[:n]

    def encode(self, archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        idx = np.asarray(archs, dtype=np.int64).reshape(len(archs), len(self.num_choices))
        if np.any(idx < 0) or np.any(idx >= self._k):
            row = int(np.flatnonzero(((idx < 0) | (idx >= self._k)).any(axis=1))[0])
            raise InvalidPointError(
                f"point {tuple(int(i) for i in idx[row])} has a choice index out of range; "
                f"dimension j allows 0 .. num_choices[j] - 1 with num_choices={self.num_choices}"
            )
        if self.encoding == "ordinal":
            return (idx + 0.5) / self._k
        out = np.zeros((len(idx), self.dim))
        np.put_along_axis(out, idx + self._offsets, 1.0, axis=1)
        return out

    def decode(self, x: np.ndarray) -> list[tuple[int, ...]]:
        unit = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        if self.encoding == "ordinal":
            idx = np.clip(np.floor(unit * self._k), 0, self._k - 1).astype(np.int64)
        else:  # the largest coordinate of each block; ties to the lower choice
            idx = np.stack(
                [block.argmax(axis=1) for block in np.split(unit, self._offsets[1:], axis=1)],
                axis=1,
            )
        return self._as_points(idx)

    def mutate(
        self, arch: tuple[int, ...], rng: np.random.Generator, prob: float
    ) -> tuple[int, ...]:
        out = list(arch)
        num_dims = len(self.num_choices)
        change = rng.random(num_dims) < prob
        if not change.any():
            change[rng.integers(num_dims)] = True
        for j in np.flatnonzero(change):
            k = self.num_choices[j]
            if k > 1:  # a different choice, uniformly among the other k - 1
                out[j] = int((out[j] + rng.integers(1, k)) % k)
        return tuple(out)

    def crossover(
        self, a: tuple[int, ...], b: tuple[int, ...], rng: np.random.Generator
    ) -> tuple[int, ...]:
        take_b = rng.random(len(self.num_choices)) < 0.5
        return tuple(int(bi if t else ai) for ai, bi, t in zip(a, b, take_b))

    def is_feasible(self, archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        if self._feasible is None:
            return np.ones(len(archs), dtype=bool)
        return np.fromiter((bool(self._feasible(a)) for a in archs), dtype=bool, count=len(archs))

    def to_json(self, arch: tuple[int, ...]) -> JSONValue:
        return [int(i) for i in arch]

    def from_json(self, value: JSONValue) -> tuple[int, ...]:
        return tuple(int(i) for i in value)

    @staticmethod
    def _as_points(idx: np.ndarray) -> list[tuple[int, ...]]:
        return [tuple(int(i) for i in row) for row in idx]
