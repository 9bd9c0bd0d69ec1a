"""Multi-objective architecture search: LaMOO and baselines behind one ask/tell interface.

Imports nothing from ``supernet``, ``train`` or ``evaluate``: an architecture is an opaque,
hashable value that a :class:`~search.codec.SpaceCodec` samples, encodes and decodes. Every
objective is maximised (see :func:`~search.pareto.to_maximisation`).

Example:
    >>> import numpy as np
    >>> from search import CategoricalCodec, make_strategy
    >>> codec = CategoricalCodec(num_choices=(5,) * 6)
    >>> strategy = make_strategy("lamoo", codec, ref_point=[0.0, -1.0], num_objectives=2)
    >>> archs = strategy.ask(5)
    >>> strategy.tell(archs, np.array([[sum(a) / 24, -sum(a) / 48] for a in archs]))
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # linear_operator (botorch's dependency) calls the deprecated torch.jit.script at import
    # time; silence that one warning here, where it is first imported, and nowhere else.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script", category=FutureWarning)
    import botorch  # noqa: F401

from lamoo_nas.search.cma_es import CMAESOptions, CMAESStrategy
from lamoo_nas.search.codec import BoxCodec, CategoricalCodec, SpaceCodec
from lamoo_nas.search.driver import run_search
from lamoo_nas.search.errors import (
    HistoryMismatchError,
    InfeasibleBudgetError,
    InvalidObjectivesError,
    InvalidOptionError,
    InvalidPointError,
    SearchError,
    SearchSpaceExhaustedError,
    StrategyStateError,
    UnknownStrategyError,
)
from lamoo_nas.search.factory import STRATEGIES, make_strategy
from lamoo_nas.search.history import Evaluation, SearchHistory
from lamoo_nas.search.lamoo import LaMOOOptions, LaMOOStrategy, TreeOptions
from lamoo_nas.search.mathnas import BlockCodec, MathNASOptions, MathNASStrategy
from lamoo_nas.search.nsga2 import NSGA2Options, NSGA2Strategy
from lamoo_nas.search.pareto import (
    dominance_numbers,
    hypervolume,
    hypervolume_curve,
    non_dominated_mask,
    to_maximisation,
)
from lamoo_nas.search.pymoo_ea import PymooOptions, PymooStrategy
from lamoo_nas.search.qehvi import QEHVIOptions, QEHVISelector, QEHVIStrategy
from lamoo_nas.search.registry import (
    STRATEGY_REGISTRY,
    StrategyRequest,
    StrategySpec,
    find_strategy,
    register_strategy,
    strategy_names,
    strategy_options,
)
from lamoo_nas.search.strategy import (
    BaseStrategy,
    KnownObjectives,
    RandomOptions,
    RandomStrategy,
    Strategy,
)

__all__ = [
    "STRATEGIES",
    "STRATEGY_REGISTRY",
    "BaseStrategy",
    "BlockCodec",
    "BoxCodec",
    "CMAESOptions",
    "CMAESStrategy",
    "CategoricalCodec",
    "Evaluation",
    "HistoryMismatchError",
    "InfeasibleBudgetError",
    "InvalidObjectivesError",
    "InvalidOptionError",
    "InvalidPointError",
    "KnownObjectives",
    "LaMOOOptions",
    "LaMOOStrategy",
    "MathNASOptions",
    "MathNASStrategy",
    "NSGA2Options",
    "NSGA2Strategy",
    "PymooOptions",
    "PymooStrategy",
    "QEHVIOptions",
    "QEHVISelector",
    "QEHVIStrategy",
    "RandomOptions",
    "RandomStrategy",
    "SearchError",
    "SearchHistory",
    "SearchSpaceExhaustedError",
    "SpaceCodec",
    "Strategy",
    "StrategyRequest",
    "StrategySpec",
    "StrategyStateError",
    "TreeOptions",
    "UnknownStrategyError",
    "dominance_numbers",
    "find_strategy",
    "hypervolume",
    "hypervolume_curve",
    "make_strategy",
    "non_dominated_mask",
    "register_strategy",
    "run_search",
    "strategy_names",
    "strategy_options",
    "to_maximisation",
]
