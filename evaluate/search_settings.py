"""What a search over a supernet looks for, and the units its objectives are counted in.

Inside the search engine every objective is maximised: accuracy in percent, MACs and params
in millions and negated (:attr:`evaluate.objectives.Objective.to_maximised`). Outside it
(result rows, CSV, JSON) values are raw: accuracy in [0, 1], MACs and params as counts. A
command builds :class:`SearchSettings` from its config with
:func:`commands.settings.settings_from_plain`.

Example:
    >>> settings = SearchSettings(strategy="random", budget=Budget(macs=2e6), num_samples=20)
    >>> settings.budget.macs, settings.strategy
    (2000000.0, 'random')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamoo_nas.evaluate.codec import Budget, LatencyFn
from lamoo_nas.evaluate.objectives import OBJECTIVES, OracleContext, objectives_of
from lamoo_nas.search import STRATEGY_REGISTRY, LaMOOOptions, find_strategy, strategy_options
from lamoo_nas.search.lamoo import TreeOptions
from lamoo_nas.supernet import CostModel
from lamoo_nas.supernet.errors import ConfigError

PICKS = ("measured", "model")


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is a positive integer (bools are not), else :class:`ConfigError`.

    Example:
        >>> positive_int("calib_images", 256)
        256
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclass(frozen=True)
class SearchSettings:
    """What to search for and how; validated on construction."""

    strategy: str = "lamoo"
    objectives: tuple[str, ...] = ("accuracy", "macs")
    budget: Budget = field(default_factory=Budget)
    num_samples: int = 100
    batch_size: int = 5
    num_init: int = 10
    seed: int = 0
    strategy_options: Any = None
    """The options of ``strategy``, an instance of its registered options class
    (:func:`search.registry.find_strategy`); None gives its defaults."""
    pick: str = "model"
    progress: bool = True

    def __post_init__(self) -> None:
        # resolved once here, so the settings always hold the options the strategy runs with
        object.__setattr__(
            self, "strategy_options", strategy_options(self.strategy, self.strategy_options)
        )
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(
                f"objectives {list(self.objectives)} must be distinct names from "
                f"{tuple(OBJECTIVES)}"
            )
        if "accuracy" not in self.objectives or not 2 <= len(self.objectives) <= 3:
            raise ConfigError(
                f"objectives {list(self.objectives)}: give accuracy and one or two costs, "
                "e.g. [accuracy, macs]"
            )
        for name in ("num_samples", "batch_size", "num_init"):
            positive_int(name, getattr(self, name))
        if self.pick not in PICKS:
            raise ConfigError(
                f"pick must be one of {PICKS} (the best of the search by measured inherited "
                f"accuracy, or by the block model fitted on its evaluations), got {self.pick!r}"
            )


def settings_record(settings: SearchSettings) -> dict[str, Any]:
    """``settings`` as plain data shaped like the config: the strategy's options under its
    section name (``lamoo: {...}``), as in ``conf/strategy/<name>.yaml``.

    Example:
        >>> sorted(settings_record(SearchSettings(strategy="nsga2"))["nsga2"])
        ['crossover_prob', 'mutation_prob', 'population_size']
    """
    record = dataclasses.asdict(settings)
    options = record.pop("strategy_options")
    return {**record, find_strategy(settings.strategy)[0].name: options}


def unused_sections(settings: SearchSettings) -> frozenset[str]:
    """The manifest keys of the other strategies' sections (``settings.nsga2`` when searching
    with LaMOO): run folders written when settings held every strategy's options resume."""
    used = find_strategy(settings.strategy)[0].name
    return frozenset(f"settings.{name}" for name in STRATEGY_REGISTRY if name != used)


def lamoo_options(raw: Mapping[str, Any]) -> LaMOOOptions:
    """Typed LaMOO options from a plain mapping (the CLI's ``strategy.lamoo`` section)."""
    options = dict(raw)
    tree = TreeOptions(**options.pop("tree", {}))
    return LaMOOOptions(tree=tree, **options)


def reference_point(
    objectives: Sequence[str],
    budget: Budget,
    cost_model: CostModel,
    latency: LatencyFn | None = None,
) -> list[float]:
    """The hypervolume reference point in the engine's units: a maximised objective (accuracy)
    at 0; a minimised one at its budget, or 10% above the largest architecture's value (its
    oracle's, e.g. predicted latency with ``latency``) when it has none."""
    context = OracleContext(cost_model, latency)
    ref = []
    for objective in objectives_of(objectives):
        if objective.sense == "maximise":
            ref.append(0.0)
            continue
        key = objective.budget_key
        bound = getattr(budget, key) if key is not None else None
        if bound is None:
            bound = 1.1 * objective.value(context, cost_model.space.largest())
        ref.append(bound * objective.to_maximised)
    return ref


def describe_hypervolume(objectives: Sequence[str], ref_point: Sequence[float]) -> str:
    """What a hypervolume of this search measures, in words (units and reference point).

    Example:
        >>> describe_hypervolume(["accuracy", "macs"], [0.0, -2.0])[:47]
        'the area dominated by the front in accuracy (%)'
    """
    chosen = objectives_of(objectives)
    axes = " x ".join(objective.axis_title for objective in chosen)
    bounds = [objective.describe_bound(value) for objective, value in zip(chosen, ref_point)]
    kind = "area" if len(objectives) == 2 else "volume"
    return (
        f"the {kind} dominated by the front in {axes}, {' and '.join(bounds)} (the reference point)"
    )
