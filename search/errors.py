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


class UnknownStrategyError(SearchError):
    """A strategy, inner sampler, kernel or selection rule name is not one of the allowed names."""


class InvalidObjectivesError(SearchError):
    """Objective values have the wrong shape, contain non-finite values, or disagree with the
    declared number of objectives."""


class HistoryMismatchError(SearchError):
    """A history file on disk does not belong to the search being resumed."""
