"""Fail loudly when ``train`` or ``evaluate`` resolve to unrelated PyPI packages of that name.

The project keeps the top-level packages ``train`` and ``evaluate`` (the layout users asked
for), but PyPI has unrelated packages with those names. If one is installed in the same
environment it may be imported instead of ours, which otherwise fails far away with a
confusing ``AttributeError``. The CLI entry modules call :func:`check_project_packages` first.

Example:
    >>> check_project_packages()  # silent when ours are the ones imported
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

from lamoo_nas.supernet.errors import ProjectImportError

PROJECT_PACKAGES = ("train", "evaluate")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds ``supernet/``, ``train/`` and ``evaluate/``."""


def require_project_package(name: str) -> ModuleType:
    """Import ``name`` and check that it is this project's package, not a namesake.

    Raises :class:`ProjectImportError` naming the file it resolved to and the fix.

    Example:
        >>> require_project_package("train").__name__
        'train'
    """
    try:
        module = importlib.import_module(name)
    except ImportError:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is not None and not _inside_project(Path(origin)):
            raise _shadowed(name, origin) from None
        raise
    location = getattr(module, "__file__", None)
    if location is None:  # a namespace package: judge by its search path
        locations = list(getattr(module, "__path__", []))
        location = locations[0] if locations else None
        if location is not None and Path(location).resolve() == PROJECT_ROOT / name:
            return module
    if location is None or not _inside_project(Path(location)):
        raise _shadowed(name, location)
    return module


def check_project_packages() -> None:
    """Check every project package with a PyPI namesake (``train``, ``evaluate``)."""
    for name in PROJECT_PACKAGES:
        require_project_package(name)


def _inside_project(location: Path) -> bool:
    """``location`` is ``<root>/<pkg>/__init__.py`` with ``<root>`` the project root."""
    return location.resolve().parent.parent == PROJECT_ROOT


def _shadowed(name: str, location: str | None) -> ProjectImportError:
    return ProjectImportError(
        f"`import {name}` resolved to {location!r}, not to {str(PROJECT_ROOT / name)!r}: an "
        f"unrelated PyPI package named {name!r} shadows this project's {name}/ package. "
        f"Fix: `pip uninstall {name}` in this environment, or install this project in its own "
        "virtual environment (e.g. `make venv`, then use .venv/bin/python)."
    )
