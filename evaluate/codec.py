"""The bridge between the MobileNetV3 search space and the search engine.

:class:`ArchCodec` implements :class:`search.codec.SpaceCodec` for :class:`ArchConfig`: the
strategies see only its [0, 1]^d encoding, its samplers and variation operators, and its hard
budget filter (exact analytic MACs / params from :class:`supernet.CostModel`).

Example:
    >>> space = load_space("tiny")
    >>> codec = ArchCodec(space, CostModel(space, num_classes=10), Budget(macs=2e6))
    >>> archs = codec.sample(np.random.default_rng(0), 4)
    >>> bool(codec.is_feasible(archs).all())
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from search.errors import InfeasibleBudgetError
from supernet import ArchConfig, Cost, CostModel, SearchSpace
from supernet.errors import ConfigError

_DRAWS_PER_POINT = 64


@dataclass(frozen=True)
class Budget:
    """Upper bounds on the exact cost of an architecture; ``None`` means unbounded."""

    macs: float | None = None
    params: float | None = None

    def __post_init__(self) -> None:
        for name in ("macs", "params"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"budget.{name} must be a positive number or null, got {value!r}")

    def admits(self, cost: Cost) -> bool:
        return (self.macs is None or cost.macs <= self.macs) and (
            self.params is None or cost.params <= self.params
        )

    def slack(self, largest: Cost) -> list[str]:
        """Notes on the bounds that the space's largest architecture already meets (no-ops).

        Example:
            >>> Budget(macs=1e9).slack(Cost(macs=5_000_000, params=10))
            ['budget.macs=1e+09 constrains nothing: the largest architecture has 5e+06 MACs']
        """
        notes = []
        for name in ("macs", "params"):
            bound = getattr(self, name)
            if bound is not None and getattr(largest, name) <= bound:
                notes.append(
                    f"budget.{name}={bound:.4g} constrains nothing: the largest architecture has "
                    f"{getattr(largest, name):.4g} {name.upper() if name == 'macs' else name}"
                )
        return notes

    def describe(self) -> str:
        parts = [f"macs <= {self.macs:.4g}" if self.macs is not None else ""]
        parts.append(f"params <= {self.params:.4g}" if self.params is not None else "")
        return ", ".join(p for p in parts if p) or "no budget"


class ArchCodec:
    """:class:`search.codec.SpaceCodec` of a :class:`SearchSpace` under a :class:`Budget`.

    Raises :class:`search.errors.InfeasibleBudgetError` at construction when even the smallest
    architecture exceeds the budget (the message names the smallest cost).
    """

    def __init__(self, space: SearchSpace, cost_model: CostModel, budget: Budget) -> None:
        self.space = space
        self.cost_model = cost_model
        self.budget = budget
        smallest = cost_model(space.smallest())
        if not budget.admits(smallest):
            raise InfeasibleBudgetError(
                f"budget ({budget.describe()}) is below the smallest architecture of space "
                f"{space.name!r}, which costs {smallest.macs:,} MACs and {smallest.params:,} "
                f"params; raise the budget to at least that"
            )

    @property
    def dim(self) -> int:
        return self.space.encoding_dim

    def sample(self, rng: np.random.Generator, n: int) -> list[ArchConfig]:
        """``n`` feasible architectures: uniform draws filtered by the budget.

        When the budget admits only a small corner of the space, the draws that fail are
        replaced by mutations of the smallest architecture (always feasible here), so the
        number of draws stays bounded.
        """
        out: list[ArchConfig] = []
        for _ in range(_DRAWS_PER_POINT * n):
            arch = self.space.sample(rng)
            if self.budget.admits(self.cost_model(arch)):
                out.append(arch)
                if len(out) == n:
                    return out
        seed = self.space.smallest()
        while len(out) < n:
            child = self.space.mutate(seed, rng, prob=0.2)
            out.append(child if self.budget.admits(self.cost_model(child)) else seed)
        return out

    def encode(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """(n, dim) array in [0, 1]."""
        if not archs:
            return np.zeros((0, self.dim))
        return np.stack([self.space.encode(a) for a in archs])

    def decode(self, x: np.ndarray) -> list[ArchConfig]:
        """(n, dim) array -> n architectures (values clipped to the choices)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        return [self.space.decode(row) for row in x]

    def mutate(self, arch: ArchConfig, rng: np.random.Generator, prob: float) -> ArchConfig:
        return self.space.mutate(arch, rng, prob)

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator) -> ArchConfig:
        return self.space.crossover(a, b, rng)

    def is_feasible(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """(n,) bool: within the budget."""
        return np.array([self.budget.admits(self.cost_model(a)) for a in archs], dtype=bool)

    def to_json(self, arch: ArchConfig) -> dict[str, Any]:
        return self.space.arch_to_json(arch)

    def from_json(self, value: Any) -> ArchConfig:
        return self.space.arch_from_json(value)
