"""Published Once-for-All supernets as ordinary supernet run directories (``nas-import-ofa``).

:func:`import_ofa` reads an OFA MobileNetV3 supernet file (``torch.load(weights_only=True)``),
converts its state dict (:func:`supernet.ofa.convert_ofa_state_dict`) and writes a finished
supernet run: ``final.pt`` in this project's checkpoint format (the matching space preset, the
class count, the data config, ``kernel_transform`` on, and where the weights came from) and
``run.json``. :func:`train.checkpoint.load_supernet`, ``nas-search``, ``nas-evaluate`` and
``nas-train-supernet init_from=`` take the folder like any trained run.

Example:
    >>> run = import_ofa("ofa_mbv3_d234_e346_k357_w1.0", Path("runs/ofa_w10"),
    ...                  DataConfig(name="imagefolder", root="/data/imagenet"))  # doctest: +SKIP
    >>> run.space.name, run.num_classes  # doctest: +SKIP
    ('ofa_mbv3', 1000)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.data._files import class_folders
from lamoo_nas.runtime.io import atomic_torch_save, load_torch
from lamoo_nas.runtime.rundir import RunDirectory, RunDirExistsError
from lamoo_nas.supernet.errors import DatasetError, OFACheckpointError, OFAUnsupportedNetworkError
from lamoo_nas.supernet.ofa import OFA_VARIANTS, OFAImport, convert_ofa_state_dict
from lamoo_nas.supernet.space import SearchSpace
from lamoo_nas.train.checkpoint import FINAL_NAME, check_finite, checkpoint_header

OFA_FILE_NAME = re.compile(r"ofa_mbv3_d\d+_e\d+_k\d+_w[\d.]+")
"""How OFA's model zoo names its MobileNetV3 supernets (the name says depths, expand ratios,
kernel sizes and width, which the weights alone do not all show)."""
MIDDLE_ARCH_SEED = 1
"""The fixed "middle" architecture of an imported run, drawn as training draws its own."""
HINT = (
    "give the file OFA's model zoo publishes (ofa_mbv3_d234_e346_k357_w1.0 or _w1.2, a "
    "{'state_dict': ...} torch file); download it again if it was cut short"
)


@dataclass(frozen=True)
class ImportedRun:
    """Where an import wrote the run, and what it found in the OFA file."""

    run_dir: Path
    checkpoint: Path
    variant: str
    space: SearchSpace
    num_classes: int
    sha256: str


def read_ofa_checkpoint(path: str | Path) -> OFAImport:
    """Load an OFA supernet file safely and convert it; errors name the file.

    Raises :class:`~supernet.errors.OFACheckpointError` (or its subclasses) for a missing,
    truncated or foreign file, another OFA network, another width, or a file named for another
    variant (OFA's names carry the depth, expand and kernel lists).
    """
    path = Path(path)
    raw = load_torch(path, hint=HINT, error=OFACheckpointError)
    try:
        imported = convert_ofa_state_dict(raw)
    except OFACheckpointError as err:
        raise type(err)(f"{path}: {err}") from err
    named = OFA_FILE_NAME.search(path.name)
    if named is not None and named.group(0) != imported.variant:
        raise OFAUnsupportedNetworkError(
            f"{path} is named for {named.group(0)}, but only {', '.join(OFA_VARIANTS)} have a "
            f"preset here (its weights look like {imported.variant}: depth, expand and kernel "
            "lists are read from the name, so the import refuses a name it cannot model)"
        )
    return imported


def import_ofa(
    checkpoint: str | Path,
    run_dir: Path,
    data: DataConfig,
    config: Mapping[str, Any] | None = None,
) -> ImportedRun:
    """Convert the OFA file ``checkpoint`` into a finished supernet run in ``run_dir``.

    ``data`` is the data config recorded for the search (an ImageNet-layout folder,
    ``DataConfig(name="imagefolder", root=...)``; ``root`` may stay None and be given to
    ``nas-search`` as ``+data.root=...``). An image folder given here must have one class
    folder per output of the checkpoint's classifier. ``config`` is the command's resolved
    settings, stored in the checkpoint and ``run.json`` with what the import adds.
    ``run_dir`` must be new or empty: an import never replaces a run.
    """
    checkpoint, run_dir = Path(checkpoint), Path(run_dir)
    imported = read_ofa_checkpoint(checkpoint)
    _check_data(data, imported.num_classes)
    model = imported.supernet()
    check_finite(model.state_dict(), checkpoint, "imported")
    sha256 = _sha256(checkpoint)
    space = imported.space
    source = {
        "kind": "once-for-all",
        "variant": imported.variant,
        "path": str(checkpoint.resolve()),
        "sha256": sha256,
    }
    plain = {
        **dict(config or {}),
        "space": space.to_dict(),
        "data": asdict(data),
        "kernel_transform": True,
        "imported_from": source,
    }
    middle = space.sample(np.random.default_rng(MIDDLE_ARCH_SEED))
    header = checkpoint_header(
        space,
        imported.num_classes,
        asdict(data),
        plain,
        model_options={"kernel_transform": True},
        middle_arch=space.arch_to_json(middle),
        imported_from=source,
    )
    fingerprints = {"space": space.fingerprint, "ofa checkpoint": sha256[:16]}
    try:
        run = RunDirectory.open(run_dir, "supernet", plain, fingerprints, resume=False)
    except RunDirExistsError as err:
        raise RunDirExistsError(
            f"{run_dir} already holds a supernet run; an import never replaces one: give a new "
            "run_dir="
        ) from err
    with run:
        atomic_torch_save(
            {**header, "model": model.state_dict(), "epoch": 0, "step": 0}, run_dir / FINAL_NAME
        )
        run.finish()
    return ImportedRun(
        run_dir, run_dir / FINAL_NAME, imported.variant, space, imported.num_classes, sha256
    )


def _check_data(data: DataConfig, num_classes: int) -> None:
    """An image folder given at import must have the classifier's class count (class folders
    only are counted: cheap even for ImageNet)."""
    if data.name != "imagefolder" or data.root is None or not (Path(data.root) / "train").is_dir():
        return
    classes = class_folders(Path(data.root) / "train")
    if len(classes) != num_classes:
        raise DatasetError(
            f"{data.root}/train has {len(classes)} class folders but the OFA checkpoint's "
            f"classifier has {num_classes} outputs; search it on data of its own classes (ImageNet "
            "for OFA's published supernets), or fine-tune it on yours: nas-train-supernet "
            "init_from=RUN_DIR kernel_transform=true space=... data=..."
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
