"""Exception classes of the evaluation package.

Every error ``evaluate`` raises on purpose derives from :class:`EvaluateError` (itself a
:class:`supernet.errors.NASError`, the project-wide root), so a caller catches the family with
one ``except`` clause. Each class keeps the builtin base it had before (``ValueError``,
``FileExistsError``, ...), so code that caught those still does. The kinds every package
raises (config, dataset, checkpoint) live in :mod:`supernet.errors`.

Example:
    >>> issubclass(RankInputError, EvaluateError) and issubclass(RankInputError, ValueError)
    True
"""

from __future__ import annotations

from lamoo_nas.supernet.errors import CheckpointError, NASError


class EvaluateError(NASError):
    """Base class of every error raised on purpose by the evaluation package."""


class ExportExistsError(EvaluateError, FileExistsError):
    """The export folder already holds files and ``overwrite`` was not requested."""


class ExportError(EvaluateError, RuntimeError):
    """The model could not be converted (TorchScript or ONNX)."""


class NotAnExportError(CheckpointError, EvaluateError):
    """A file is not an exported model of this project (or is corrupt/truncated)."""


class RankInputError(EvaluateError, ValueError):
    """The accuracy lists cannot be rank-correlated (too short, different lengths, constant)."""


class GroundTruthError(EvaluateError, ValueError):
    """A ground-truth table is missing, malformed, or made for another space."""


class AccuracyCacheMismatchError(EvaluateError):
    """A run directory's accuracy cache was scored with another supernet or other data."""


class LatencyTableError(EvaluateError, ValueError):
    """A latency table is missing, corrupt, made for another setup, or lacks needed keys."""
