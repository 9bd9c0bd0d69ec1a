"""Build a strategy by name: the one place that maps names to classes and options."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import InvalidObjectivesError, UnknownStrategyError
from lamoo_nas.search.lamoo.strategy import LaMOOOptions, LaMOOStrategy
from lamoo_nas.search.nsga2 import NSGA2Options, NSGA2Strategy
from lamoo_nas.search.qehvi import QEHVIOptions, QEHVIStrategy
from lamoo_nas.search.strategy import BaseStrategy, KnownObjectives, RandomStrategy

A = TypeVar("A", bound=Hashable)
STRATEGIES = ("random", "nsga2", "qehvi", "lamoo")


def make_strategy(
    name: str,
    codec: SpaceCodec[A],
    ref_point: Sequence[float],
    num_objectives: int,
    known_objectives: KnownObjectives[A] | None = None,
    seed: int = 0,
    num_init: int = 10,
    nsga2: NSGA2Options | None = None,
    qehvi: QEHVIOptions | None = None,
    lamoo: LaMOOOptions | None = None,
) -> BaseStrategy[A]:
    """A fresh strategy.

    ``name`` is one of ``STRATEGIES``, or ``lamoo-<sampler>`` as a shorthand for
    ``lamoo`` with ``LaMOOOptions(sampler=<sampler>)``. Only the options of the chosen strategy
    are used (LaMOO's ``qehvi``/``evolution`` samplers read ``lamoo.qehvi``/``lamoo.nsga2``).
    The codec is checked to yield a feasible point
    (:class:`~search.errors.InfeasibleBudgetError` otherwise).

    Args:
        name: strategy name.
        codec: the search space.
        ref_point: ``(num_objectives,)`` hypervolume reference point (maximisation; put a cost's
            reference at its negated budget so nothing over budget adds hypervolume).
        num_objectives: ``m``, checked against ``ref_point``.
        known_objectives: exactly known objectives, never modelled (``qehvi``/``lamoo``).
        seed: every random choice derives from it.
        num_init: size of the shared initial Sobol design.

    Example:
        >>> from search.codec import CategoricalCodec
        >>> s = make_strategy("lamoo-evolution", CategoricalCodec((5,) * 6), [0.0, -2.0], 2)
        >>> s.name
        'lamoo-evolution'
    """
    if len(ref_point) != num_objectives:
        raise InvalidObjectivesError(
            f"ref_point {list(ref_point)} has {len(ref_point)} entries, "
            f"num_objectives is {num_objectives}"
        )
    if known_objectives is not None:
        bad = [c for c in known_objectives.columns if not 0 <= c < num_objectives]
        if bad or len(known_objectives.columns) >= num_objectives:
            raise InvalidObjectivesError(
                f"known_objectives.columns {known_objectives.columns} must be distinct indices "
                f"in [0, {num_objectives}) leaving at least one unknown objective"
            )
    base, _, sampler = name.partition("-")
    if base not in STRATEGIES or (sampler and base != "lamoo"):
        allowed = [*STRATEGIES, "lamoo-random", "lamoo-evolution", "lamoo-qehvi"]
        raise UnknownStrategyError(f"strategy {name!r} is not one of {allowed}")
    codec.sample(np.random.default_rng(seed), 1)  # raises InfeasibleBudgetError early
    if base == "random":
        return RandomStrategy(codec, ref_point, seed, num_init)
    if base == "nsga2":
        return NSGA2Strategy(codec, ref_point, seed, num_init, nsga2)
    if base == "qehvi":
        return QEHVIStrategy(codec, ref_point, seed, num_init, known_objectives, qehvi)
    options = lamoo or LaMOOOptions()
    if sampler:
        options = dataclasses.replace(options, sampler=sampler)  # type: ignore[arg-type]
    return LaMOOStrategy(codec, ref_point, seed, num_init, known_objectives, options)
