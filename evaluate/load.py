"""Load a model written by :func:`evaluate.export.export_model` back into Python.

Example:
    >>> exported = load_exported("runs/retrain/r1/export")  # doctest: +SKIP
    >>> exported.model(torch.zeros(1, 3, exported.arch.resolution, exported.arch.resolution))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lamoo_nas.evaluate.errors import NotAnExportError
from lamoo_nas.evaluate.export import CHECKPOINT_NAME, EXPORT_FORMAT, EXPORT_VERSION
from lamoo_nas.runtime.io import load_tagged
from lamoo_nas.runtime.schema import file_fields
from lamoo_nas.supernet.errors import SpaceDefinitionError
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.supernet.static import StaticNet, build_static

REQUIRED_KEYS = ("format", "version", "state_dict", "arch", "space", "num_classes")


@dataclass
class ExportedModel:
    """An exported static subnet (eval mode) and what it was made from."""

    model: StaticNet
    arch: ArchConfig
    space: SearchSpace
    num_classes: int
    metrics: dict[str, Any]
    path: Path
    preprocessing: dict[str, Any] | None = None
    """:func:`runtime.data.preprocessing_spec` of its training data (None in older exports)."""


EXPORT_TYPES: dict[str, Any] = {
    "num_classes": int,
    "arch": dict,
    "metrics": dict | None,
    "preprocessing": dict | None,
}
"""What the header fields of ``model.pt`` must be (checked like command-line settings)."""


def resolve_export_path(path: str | Path) -> Path:
    """``model.pt`` itself, or ``<dir>/model.pt`` for an export folder."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise NotAnExportError(
            f"no exported model at {path}; give a model.pt or an export folder written by "
            "nas-retrain (its <run_dir>/export)"
        )
    return path


def read_export(path: str | Path) -> dict[str, Any]:
    """The raw ``model.pt`` dict, checked; raises :class:`NotAnExportError` with the reason."""
    return load_tagged(
        resolve_export_path(path),
        fmt=EXPORT_FORMAT,
        version=EXPORT_VERSION,
        required=REQUIRED_KEYS,
        what="exported model",
        hint="give the model.pt written by nas-retrain or export_model",
        error=NotAnExportError,
    )


def load_exported(path: str | Path, map_location: str | torch.device = "cpu") -> ExportedModel:
    """Rebuild the exported network (eval mode) from ``model.pt`` or its folder.

    Example:
        >>> m = load_exported("export/model.pt")  # doctest: +SKIP
        >>> m.space.name, m.num_classes  # doctest: +SKIP
        ('tiny', 10)
    """
    path = resolve_export_path(path)
    raw = read_export(path)
    raw.update(
        file_fields(
            raw,
            EXPORT_TYPES,
            f"exported model {path}",
            NotAnExportError,
            "the file was edited or written by another program; export it again with nas-retrain",
        )
    )
    if raw["num_classes"] < 1:
        raise NotAnExportError(f"exported model {path}: num_classes is {raw['num_classes']}; "
                               "it must be positive")  # fmt: skip
    try:
        space = SearchSpace.from_dict(raw["space"])
    except SpaceDefinitionError as err:
        raise NotAnExportError(f"exported model {path} has a bad space definition: {err}") from err
    arch = space.arch_from_json(raw["arch"])
    model = build_static(space, arch, raw["num_classes"])
    try:
        model.load_state_dict(raw["state_dict"])
    except RuntimeError as err:
        raise NotAnExportError(
            f"exported model {path}: weights do not fit its arch: {err}"
        ) from err
    model.to(map_location).eval()
    return ExportedModel(
        model=model,
        arch=arch,
        space=space,
        num_classes=raw["num_classes"],
        metrics=dict(raw.get("metrics") or {}),
        path=path,
        preprocessing=raw.get("preprocessing"),
    )
