"""Exception classes of the training package.

Every error ``train`` raises on purpose derives from :class:`TrainError` (itself a
:class:`supernet.errors.NASError`, the project-wide root), so a caller catches the family with
one ``except`` clause. The run platform's errors (a full disk, a run directory) derive from
:class:`runtime.errors.RunError` instead. The shared kinds (config, dataset, checkpoint) live in
:mod:`supernet.errors` because every package raises them.
"""

from __future__ import annotations

from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ConfigError, NASError


class TrainError(NASError):
    """Base class of every error raised on purpose by the training package."""


class TrainingDivergedError(TrainError, FloatingPointError):
    """The loss (or the gradient norm) became NaN or infinite; the run stopped."""


class InitFromError(TrainError, ConfigError):
    """``init_from`` names weights that cannot start this run (other options, another net)."""


class InitSpaceMismatchError(InitFromError, ArchSpaceMismatchError):
    """``init_from`` holds a supernet of another network than this run's space."""


class InitClassCountError(InitFromError):
    """``init_classifier=keep`` with a source whose class count differs from the data's."""
