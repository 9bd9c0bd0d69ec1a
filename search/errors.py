"""Exception classes of the search package.

Every error raised on purpose by ``search`` derives from :class:`SearchError`, so callers can
catch the whole family with one ``except`` clause.
"""

from __future__ import annotations


class SearchError(Exception):
    """Base class of every error raised on purpose by the search package."""


class InfeasibleBudgetError(SearchError):
    """The space codec cannot produce a single feasible point (e.g. a budget below the smallest
    architecture). Relax the budget or the feasibility predicate."""


class SearchSpaceExhaustedError(SearchError):
    """Every point of a finite space has already been evaluated or proposed."""


class InvalidOptionError(SearchError, ValueError):
    """An option or argument is out of its allowed range (e.g. ``q < 1``, ``num_init < 1``,
    ``upper <= lower``). Also a :class:`ValueError`, so generic handlers still catch it."""


class UnknownStrategyError(InvalidOptionError):
    """A strategy, inner sampler, kernel, selection rule or encoding name is not one of the
    allowed names."""


class InvalidPointError(SearchError, ValueError):
    """A point handed to a codec lies outside its space (e.g. a choice index out of range)."""


class InvalidObjectivesError(SearchError):
    """Objective values have the wrong shape, contain non-finite values, or disagree with the
    declared number of objectives."""


class HistoryMismatchError(SearchError):
    """A history file on disk does not belong to the search being resumed."""


class StrategyStateError(SearchError):
    """A saved strategy state does not fit the strategy it is loaded into: another strategy,
    seed or options, or other told data."""


class BlockModelError(SearchError, ValueError):
    """A block model cannot be fitted or applied: too few, non-finite or constant accuracies,
    choices outside the decisions, a model of another space, or a malformed model file."""


class ProgrammeError(SearchError):
    """The exact programme has no solution (a budget no architecture meets) or its tables do
    not describe the costs they claim to (costs that are not additive over blocks)."""
