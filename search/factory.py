"""Build a strategy by name through the registry (:mod:`search.registry`); the built-in
strategies are registered here, one line each."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np

from lamoo_nas.search import cma_es, mathnas, nsga2, pymoo_ea, qehvi
from lamoo_nas.search.codec import SpaceCodec
from lamoo_nas.search.errors import InvalidObjectivesError
from lamoo_nas.search.lamoo import strategy as lamoo
from lamoo_nas.search.registry import (
    STRATEGY_REGISTRY,
    StrategyRequest,
    find_strategy,
    register_strategy,
    strategy_options,
)
from lamoo_nas.search.strategy import RANDOM_SPEC, BaseStrategy, KnownObjectives

A = TypeVar("A", bound=Hashable)

register_strategy(RANDOM_SPEC)
register_strategy(nsga2.SPEC)
register_strategy(qehvi.SPEC)
register_strategy(cma_es.SPEC)
register_strategy(lamoo.SPEC)
register_strategy(pymoo_ea.SPEC)
register_strategy(mathnas.SPEC)

STRATEGIES = tuple(STRATEGY_REGISTRY)
"""The built-in base names; ``lamoo-<sampler>`` (``SAMPLERS``) and ``pymoo-<algorithm>``
(``ALGORITHMS``) name a variant, and ``pymoo`` alone is ``pymoo-nsga2``. Strategies registered
later are in :data:`search.registry.STRATEGY_REGISTRY`."""


def make_strategy(
    name: str,
    codec: SpaceCodec[A],
    ref_point: Sequence[float],
    num_objectives: int,
    known_objectives: KnownObjectives[A] | None = None,
    seed: int = 0,
    num_init: int = 10,
    options: Any = None,
) -> BaseStrategy[A]:
    """A fresh strategy.

    ``name`` is a registered strategy (:func:`search.registry.strategy_names`), e.g. one of
    ``STRATEGIES``, or ``lamoo-<sampler>`` as a shorthand for ``lamoo`` with
    ``LaMOOOptions(sampler=<sampler>)``, or ``pymoo-<algorithm>`` (one of
    :data:`search.pymoo_ea.ALGORITHMS`). ``options`` are the strategy's own options class
    (``LaMOOOptions`` for ``lamoo-*``; its defaults when None); LaMOO's ``qehvi``/
    ``evolution``/``cmaes`` samplers read ``options.qehvi``/``options.nsga2``/``options.cmaes``.
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
        options: the strategy's options (:func:`search.registry.strategy_options`).

    Example:
        >>> from lamoo_nas.search.codec import CategoricalCodec
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
    spec, variant = find_strategy(name)
    options = strategy_options(name, options)
    codec.sample(np.random.default_rng(seed), 1)  # raises InfeasibleBudgetError early
    request = StrategyRequest(codec, ref_point, seed, num_init, known_objectives, variant)
    return spec.build(request, options)
