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
from lamoo_nas.search.nsga2 import NSGA2Options, NSGA2Strategy
from lamoo_nas.search.pareto import (
    dominance_numbers,
    hypervolume,
    hypervolume_curve,
    non_dominated_mask,
    to_maximisation,
)
from lamoo_nas.search.qehvi import QEHVIOptions, QEHVISelector, QEHVIStrategy
from lamoo_nas.search.strategy import BaseStrategy, KnownObjectives, RandomStrategy, Strategy

__all__ = [
    "STRATEGIES",
    "BaseStrategy",
    "BoxCodec",
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
    "NSGA2Options",
    "NSGA2Strategy",
    "QEHVIOptions",
    "QEHVISelector",
    "QEHVIStrategy",
    "RandomStrategy",
    "SearchError",
    "SearchHistory",
    "SearchSpaceExhaustedError",
    "SpaceCodec",
    "Strategy",
    "StrategyStateError",
    "TreeOptions",
    "UnknownStrategyError",
    "dominance_numbers",
    "hypervolume",
    "hypervolume_curve",
    "make_strategy",
    "non_dominated_mask",
    "run_search",
    "to_maximisation",
]
