"""What a search can optimise: one :class:`Objective` per quantity, in one registry.

An objective says what it is called and shown as, its unit, whether it is maximised or
minimised, the scale that turns a raw value into the number the search engine maximises
(accuracy in percent, MACs and params in millions, latency in ms: the engine sees costs
negated), the ``budget`` field that bounds it, and its oracle: the exact value of an
architecture given the space's cost model (and a latency predictor where one is needed).
Accuracy has no oracle: the evaluator measures it.

A new objective is one :func:`register_objective` call with an oracle, e.g. the number of
active layers:

Example:
    >>> layers = Objective("layers", "active layers", "layers", "layers", "minimise", 1.0,
    ...                    oracle=lambda context, arch: float(sum(arch.depths)))
    >>> layers.to_maximised, layers.axis_title
    (-1.0, 'active layers (layers)')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lamoo_nas.evaluate.codec import LatencyFn
from lamoo_nas.supernet import ArchConfig, CostModel
from lamoo_nas.supernet.errors import ConfigError

LATENCY_NEEDS_TABLE = (
    "the latency objective needs a latency table of this space and device: build one with "
    "`nas-latency-table space=... out=TABLE` and give latency_table=TABLE"
)


@dataclass(frozen=True)
class OracleContext:
    """What an oracle may use: the space's exact cost model and, where a table was given, the
    latency predictor (ms)."""

    cost_model: CostModel
    latency: LatencyFn | None = None


Oracle = Callable[[OracleContext, ArchConfig], float]
"""``(context, arch) -> raw value`` (counts, ms, ...), exact and deterministic."""


@dataclass(frozen=True)
class Objective:
    """One quantity a search can optimise.

    Attributes:
        name: the name in ``objectives=[...]`` and in :data:`OBJECTIVES`.
        label: words for axes and tables (``MACs``, ``predicted latency``).
        unit: the engine's unit (``%``, ``millions``, ``ms``), in axis titles and
            ``history.csv`` headers.
        symbol: the unit after a number in sentences (``%``, ``M``, ``ms``).
        sense: ``maximise`` or ``minimise``.
        scale: raw value times ``scale`` is the value in ``unit``.
        budget_key: the :class:`~evaluate.codec.Budget` field that bounds it, or None.
        column: the raw value's field in result rows (``results.csv``); defaults to ``name``.
        oracle: the exact value of an architecture; None for accuracy (measured).
        needs_latency: its oracle needs a latency predictor (a ``latency_table``).
    """

    name: str
    label: str
    unit: str
    symbol: str
    sense: Literal["maximise", "minimise"]
    scale: float
    budget_key: str | None = None
    column: str = ""
    oracle: Oracle | None = None
    needs_latency: bool = False

    def __post_init__(self) -> None:
        if self.sense not in ("maximise", "minimise"):
            raise ConfigError(
                f"objective {self.name!r}: sense must be 'maximise' or 'minimise', "
                f"got {self.sense!r}"
            )
        if not self.column:
            object.__setattr__(self, "column", self.name)

    @property
    def to_maximised(self) -> float:
        """Raw value times this is what the engine maximises (costs come out negated)."""
        return self.scale if self.sense == "maximise" else -self.scale

    @property
    def axis_title(self) -> str:
        """``MACs (millions)``: an axis or column title in the engine's unit."""
        return f"{self.label} ({self.unit})"

    @property
    def maximised_unit(self) -> str:
        """The unit of the engine's value (``-millions`` for a negated cost)."""
        return self.unit if self.sense == "maximise" else f"-{self.unit}"

    def value(self, context: OracleContext, arch: ArchConfig) -> float:
        """The raw value of ``arch`` from the oracle; :class:`ConfigError` for accuracy (it is
        measured) and for latency without a predictor."""
        if self.oracle is None:
            raise ConfigError(f"objective {self.name!r} is measured by the evaluator, no oracle")
        return self.oracle(context, arch)

    def describe_bound(self, maximised: float) -> str:
        """A reference value in words: ``below 2 M MACs``, ``above 0 % accuracy``."""
        if self.sense == "maximise":
            return f"above {maximised:g} {self.symbol} {self.label}"
        return f"below {-maximised:g} {self.symbol} {self.label}"


def _cost_field(name: str) -> Oracle:
    def oracle(context: OracleContext, arch: ArchConfig) -> float:
        return float(getattr(context.cost_model(arch), name))

    return oracle


def _latency(context: OracleContext, arch: ArchConfig) -> float:
    if context.latency is None:
        raise ConfigError(LATENCY_NEEDS_TABLE)
    return context.latency(arch)


OBJECTIVES: dict[str, Objective] = {}
"""Every objective by name, in registration order."""


def register_objective(objective: Objective) -> Objective:
    """Add ``objective`` to :data:`OBJECTIVES`; a taken name raises :class:`ConfigError`."""
    if objective.name in OBJECTIVES:
        raise ConfigError(f"objective {objective.name!r} is registered already")
    OBJECTIVES[objective.name] = objective
    return objective


ACCURACY = register_objective(Objective("accuracy", "accuracy", "%", "%", "maximise", 100.0))
register_objective(Objective("macs", "MACs", "millions", "M", "minimise", 1e-6, "macs",
                             oracle=_cost_field("macs")))  # fmt: skip
register_objective(Objective("params", "params", "millions", "M", "minimise", 1e-6, "params",
                             oracle=_cost_field("params")))  # fmt: skip
register_objective(Objective("latency", "predicted latency", "ms", "ms", "minimise", 1.0,
                             "latency_ms", "latency_ms", _latency, needs_latency=True))  # fmt: skip


def get_objective(name: str) -> Objective:
    """The registered objective ``name``, or :class:`ConfigError` naming the registered ones."""
    if name not in OBJECTIVES:
        raise ConfigError(f"objective {name!r} is not one of {tuple(OBJECTIVES)}")
    return OBJECTIVES[name]


def row_value(row: Any, column: str) -> float:
    """The raw value ``column`` of a result row: its field, or its ``extra`` entry (the values
    of objectives that rows have no field for)."""
    if hasattr(row, column):
        return float(getattr(row, column))
    return float(row.extra[column])


def objectives_of(names: Sequence[str]) -> list[Objective]:
    """:func:`get_objective` of each name, in order."""
    return [get_objective(name) for name in names]
