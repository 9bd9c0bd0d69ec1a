"""The bridge between the MobileNetV3 search space and the search engine.

:class:`ArchCodec` implements :class:`search.codec.SpaceCodec` for :class:`ArchConfig`: the
strategies see only its [0, 1]^d encoding, its samplers and variation operators, and its hard
budget filter (exact analytic MACs / params from :class:`supernet.CostModel`). It is the only
layer between the two: the encoding, decoding and variation operators are the space's own
(:meth:`SearchSpace.encode_many`, :meth:`SearchSpace.decode_many`, ``mutate``, ``crossover``),
called once per batch; what ArchCodec adds is the budget (``is_feasible`` and ``sample``).

Example:
    >>> from supernet import CostModel, load_space
    >>> space = load_space("tiny")
    >>> codec = ArchCodec(space, CostModel(space, num_classes=10), Budget(macs=2e6))
    >>> archs = codec.sample(np.random.default_rng(0), 4)
    >>> bool(codec.is_feasible(archs).all())
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamoo_nas.search.errors import InfeasibleBudgetError
from lamoo_nas.supernet import ArchConfig, Cost, CostModel, SearchSpace
from lamoo_nas.supernet.errors import ConfigError

_DRAWS_PER_POINT = 64
_MUTATIONS_PER_POINT = 16


LatencyFn = Callable[[ArchConfig], float]
"""Predicted latency of an architecture in milliseconds (e.g. a table-based predictor)."""


@dataclass(frozen=True)
class Budget:
    """Upper bounds on the cost of an architecture; ``None`` means unbounded. ``latency_ms``
    bounds the predicted latency (it needs a latency predictor, see :class:`ArchCodec`)."""

    macs: float | None = None
    params: float | None = None
    latency_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("macs", "params", "latency_ms"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"budget.{name} must be a positive number or null, got {value!r}")

    def admits(self, cost: Cost, latency_ms: float | None = None) -> bool:
        """Within every bound; ``latency_ms`` is checked when both it and the bound are given."""
        return (
            (self.macs is None or cost.macs <= self.macs)
            and (self.params is None or cost.params <= self.params)
            and (self.latency_ms is None or latency_ms is None or latency_ms <= self.latency_ms)
        )

    def slack(self, largest: Cost) -> list[str]:
        """Notes on the bounds that the space's largest architecture already meets (no-ops).

        Example:
            >>> from supernet import Cost
            >>> Budget(macs=1e9).slack(Cost(macs=5_000_000, params=10))
            ['budget.macs=1e+09 constrains nothing: the largest architecture has 5e+06 MACs']
        """
        notes = []
        for name in ("macs", "params"):
            bound = getattr(self, name)
            if bound is not None and getattr(largest, name) <= bound:
                notes.append(
                    f"budget.{name}={bound:.4g} constrains nothing: the largest architecture has "
                    f"{getattr(largest, name):.4g} {'MACs' if name == 'macs' else name}"
                )
        return notes

    def describe(self) -> str:
        parts = [f"macs <= {self.macs:.4g}" if self.macs is not None else ""]
        parts.append(f"params <= {self.params:.4g}" if self.params is not None else "")
        parts.append(f"latency <= {self.latency_ms:.4g} ms" if self.latency_ms is not None else "")
        return ", ".join(p for p in parts if p) or "no budget"


class ArchCodec:
    """:class:`search.codec.SpaceCodec` of a :class:`SearchSpace` under a :class:`Budget`.

    Raises :class:`search.errors.InfeasibleBudgetError` at construction when even the smallest
    architecture exceeds the budget (the message names the smallest cost). ``latency`` predicts
    an architecture's latency in ms; a ``budget.latency_ms`` needs it. ``anchor`` is the
    architecture that fits any feasible budget (default the smallest; with a latency budget give
    the predictor's fastest, which need not be the smallest by MACs): the feasibility check and
    the growth phase of :meth:`sample` start from it.
    """

    def __init__(
        self,
        space: SearchSpace,
        cost_model: CostModel,
        budget: Budget,
        latency: LatencyFn | None = None,
        anchor: ArchConfig | None = None,
    ) -> None:
        self.space = space
        self.cost_model = cost_model
        self.budget = budget
        self.latency = latency
        self.anchor = anchor or space.smallest()
        if budget.latency_ms is not None and latency is None:
            raise ConfigError(
                "budget.latency_ms needs a latency table: build one with nas-latency-table and "
                "give latency_table=PATH"
            )
        smallest = cost_model(space.smallest())
        if not self.fits(self.anchor):
            fastest = f" and the fastest predicts {latency(self.anchor):.4g} ms" if latency else ""
            raise InfeasibleBudgetError(
                f"budget ({budget.describe()}) is below the smallest architecture of space "
                f"{space.name!r}, which costs {smallest.macs:,} MACs and {smallest.params:,} "
                f"params{fastest}; raise the budget to at least that"
            )

    def fits(self, arch: ArchConfig) -> bool:
        """Within the budget (exact MACs/params, predicted latency when bounded)."""
        needs_latency = self.budget.latency_ms is not None and self.latency is not None
        latency_ms = self.latency(arch) if needs_latency and self.latency else None
        return self.budget.admits(self.cost_model(arch), latency_ms)

    @property
    def dim(self) -> int:
        return self.space.encoding_dim

    def sample(self, rng: np.random.Generator, n: int) -> list[ArchConfig]:
        """Up to ``n`` feasible architectures, by a bounded two-phase procedure.

        1. Rejection: at most ``64 * n`` uniform draws (:meth:`SearchSpace.sample`), keeping
           those within the budget (independent draws, so duplicates may occur).
        2. Growth, only when rejection found fewer than ``n``: at most ``16 * n`` mutations of
           the feasible architectures found so far (of the smallest architecture, feasible by
           construction, when none was found), keeping feasible children not already found.

        When the budget admits only a corner of the space, fewer than ``n`` points come back
        (at least one: the smallest architecture, when nothing else fits); the result is never
        padded with copies. Strategies treat the result as "up to ``n``", like the protocol.
        """
        found: list[ArchConfig] = []
        for _ in range(_DRAWS_PER_POINT * n):
            arch = self.space.sample(rng)
            if self.fits(arch):
                found.append(arch)
                if len(found) == n:
                    return found
        return self._grow(found, rng, n)

    def _grow(self, found: list[ArchConfig], rng: np.random.Generator, n: int) -> list[ArchConfig]:
        parents = found or [self.anchor]
        out, taken = list(parents), set(parents)
        for _ in range(_MUTATIONS_PER_POINT * n):
            if len(out) >= n:
                break
            child = self.space.mutate(out[int(rng.integers(len(out)))], rng, prob=0.2)
            if child not in taken and self.fits(child):
                out.append(child)
                taken.add(child)
        return out[:n]

    def encode(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """(n, dim) array in [0, 1] (:meth:`SearchSpace.encode_many`)."""
        return self.space.encode_many(archs)

    def decode(self, x: np.ndarray) -> list[ArchConfig]:
        """(n, dim) array -> n architectures (values clipped to the choices)."""
        return self.space.decode_many(x)

    def mutate(self, arch: ArchConfig, rng: np.random.Generator, prob: float) -> ArchConfig:
        return self.space.mutate(arch, rng, prob)

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator) -> ArchConfig:
        return self.space.crossover(a, b, rng)

    def is_feasible(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """(n,) bool: within the budget."""
        return np.array([self.fits(a) for a in archs], dtype=bool)

    def to_json(self, arch: ArchConfig) -> dict[str, Any]:
        return self.space.arch_to_json(arch)

    def from_json(self, value: Any) -> ArchConfig:
        return self.space.arch_from_json(value)
