"""Exception classes of the run platform.

Every error ``runtime`` raises on purpose derives from :class:`RunError` (itself a
:class:`supernet.errors.NASError`, the project-wide root), so a caller catches the family with
one ``except`` clause. The shared kinds (config, dataset, checkpoint) live in
:mod:`supernet.errors` because every package raises them.

Example:
    >>> issubclass(StorageError, OSError) and issubclass(StorageError, RunError)
    True
"""

from __future__ import annotations

from lamoo_nas.supernet.errors import NASError


class RunError(NASError):
    """Base class of every error raised on purpose by the run platform."""


class StorageError(RunError, OSError):
    """A file could not be written (full disk, read-only folder); nothing was overwritten."""
