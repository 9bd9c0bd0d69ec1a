"""Self-describing supernet checkpoints, written atomically and read with ``weights_only``.

A checkpoint holds the weights, the optimizer/scheduler/scaler/EMA states, every RNG state, the
epoch and step, the search-space definition and fingerprint, ``num_classes``, the data config and
the resolved run config, all as plain containers, so ``torch.load(path, weights_only=True)``
reads it and :func:`load_supernet` rebuilds the model without any other file.

Example:
    >>> loaded = load_supernet("outputs/train_supernet/2024-01-01_00-00-00")  # doctest: +SKIP
    >>> logits = loaded.model(images, loaded.space.largest())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lamoo_nas.runtime.checkpointer import Checkpointer, TorchRNG, non_finite_tensors
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.io import load_tagged
from lamoo_nas.runtime.schema import check_keys, file_fields
from lamoo_nas.supernet.errors import (
    ArchSpaceMismatchError,
    CheckpointError,
    ConfigError,
    SpaceDefinitionError,
)
from lamoo_nas.supernet.few_shot import FewShotSupernet
from lamoo_nas.supernet.model import Supernet
from lamoo_nas.supernet.space import SearchSpace
from lamoo_nas.train.steps import Step, TrainState

CHECKPOINT_FORMAT = "lamoo-nas/supernet"
CHECKPOINT_VERSION = 1
LAST_NAME = "last.pt"
FINAL_NAME = "final.pt"
LOADER_RULE = "torch.Generator().manual_seed(seed * 100_003 + epoch)"
"""How each epoch's data-loader generator (order and augmentation seeds) is derived."""
REQUIRED_KEYS = (
    "format",
    "version",
    "model",
    "epoch",
    "step",
    "space",
    "space_fingerprint",
    "num_classes",
    "data_config",
    "config",
)


# ------------------------------------------------------------------------- reading
def find_checkpoint(
    path_or_run_dir: str | Path, prefer: tuple[str, ...] = (FINAL_NAME, LAST_NAME)
) -> Path:
    """The checkpoint file itself, or the first of ``prefer`` inside a run directory."""
    path = Path(path_or_run_dir)
    if path.is_dir():
        for name in prefer:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(
            f"no checkpoint at {path} (looked for {', '.join(prefer)}); "
            "train one with nas-train-supernet"
        )
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}; train one with nas-train-supernet")
    return path


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a checkpoint of ours; raises :class:`CheckpointError` with the reason."""
    found = find_checkpoint(path)
    raw = load_tagged(
        found,
        fmt=CHECKPOINT_FORMAT,
        version=CHECKPOINT_VERSION,
        required=REQUIRED_KEYS,
        what="supernet checkpoint",
        hint="give a last.pt/final.pt written by nas-train-supernet, or resume from another",
        map_location=map_location,
    )
    return check_header(raw, found)


HEADER_TYPES: dict[str, Any] = {
    "epoch": int,
    "step": int,
    "num_classes": int,
    "space": dict,
    "space_fingerprint": str,
    "data_config": DataConfig,
    "config": dict,
    "model_options": dict,
    "middle_arch": dict,
    "steps_per_epoch": int,
}
"""What each header field of a training checkpoint must be (see :func:`check_header`)."""
MODEL_OPTIONS: dict[str, Any] = {"kernel_transform": bool}
"""The keyword options of :class:`supernet.model.Supernet` a checkpoint may record."""


def check_header(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """``raw`` with its header fields checked like command-line settings (:data:`HEADER_TYPES`;
    the data config is checked where it is stored, ``data_config`` and ``config.data``): a wrong
    field raises :class:`CheckpointError` naming the file and the field, never a ``TypeError``
    from deep in the loader. Counts come back as integers, the data config as plain data."""
    source = f"checkpoint {path}"
    fix = "the file was edited or written by another program; use an untouched checkpoint"
    typed = file_fields(raw, HEADER_TYPES, source, CheckpointError, fix)
    config = typed["config"]
    if isinstance(config.get("data"), Mapping):
        file_fields({"config.data": config["data"]}, {"config.data": DataConfig}, source,
                    CheckpointError, fix)  # fmt: skip
    check_keys_of(typed.get("model_options", {}), MODEL_OPTIONS, f"{source}: model_options", fix)
    for name in ("epoch", "step", "num_classes"):
        if typed[name] < (1 if name == "num_classes" else 0):
            bound = "positive" if name == "num_classes" else ">= 0"
            raise CheckpointError(f"{source}: {name} is {typed[name]}; it must be {bound}. {fix}")
    return {**raw, **typed, "data_config": asdict(typed["data_config"])}


def check_keys_of(
    values: Mapping[str, Any], types: Mapping[str, Any], source: str, fix: str
) -> None:
    """Refuse keys of ``values`` not in ``types`` and wrong types, naming ``source``."""
    try:
        check_keys(values, list(types), "")
    except ConfigError as err:
        raise CheckpointError(f"{source}: {err}; {fix}") from err
    file_fields(values, types, source, CheckpointError, fix)


def check_space(checkpoint: Mapping[str, Any], space: SearchSpace, path: str | Path) -> None:
    """Raise :class:`ArchSpaceMismatchError` (a CheckpointError too) if made for another space."""
    if checkpoint["space_fingerprint"] != space.fingerprint:
        raise SpaceMismatchCheckpointError(
            f"checkpoint {path} was trained on space {checkpoint['space'].get('name')!r} "
            f"(fingerprint {checkpoint['space_fingerprint']}), not on space {space.name!r} "
            f"(fingerprint {space.fingerprint}); pass space={checkpoint['space'].get('name')} "
            "or start a new run"
        )


class SpaceMismatchCheckpointError(CheckpointError, ArchSpaceMismatchError):
    """A checkpoint was trained on another search space."""


# ------------------------------------------------------------------------- the public loader
@dataclass
class LoadedSupernet:
    """A trained supernet and everything needed to use it (see :func:`load_supernet`)."""

    model: Supernet | FewShotSupernet  # eval mode
    space: SearchSpace
    num_classes: int
    data_config: DataConfig
    config: dict[str, Any]
    path: Path
    epoch: int
    step: int


def load_supernet(
    path_or_run_dir: str | Path,
    map_location: str | torch.device = "cpu",
    use_ema: bool = True,
    expected_space: SearchSpace | None = None,
) -> LoadedSupernet:
    """Rebuild a trained :class:`supernet.Supernet` from a checkpoint or a run directory.

    A run directory resolves to ``final.pt``, else ``last.pt``; a few-shot run directory (or its
    ``partition.json``) loads as a :class:`supernet.few_shot.FewShotSupernet`
    (:mod:`train.few_shot`). EMA weights are used when the
    checkpoint has them and ``use_ema`` is true. With ``expected_space`` a checkpoint of another
    space raises :class:`CheckpointError` naming both spaces.

    Example:
        >>> loaded = load_supernet("outputs/train_supernet/run1")  # doctest: +SKIP
        >>> loaded.model(x, loaded.space.largest()).shape  # doctest: +SKIP
        torch.Size([8, 10])
    """
    from lamoo_nas.train.few_shot import is_few_shot_run, load_few_shot

    if is_few_shot_run(path_or_run_dir):  # K sub-supernets behind one router
        return load_few_shot(path_or_run_dir, map_location, use_ema, expected_space)
    path = find_checkpoint(path_or_run_dir)
    ckpt = read_checkpoint(path, map_location)
    if Path(path_or_run_dir).is_dir() and path.name != FINAL_NAME:
        raise CheckpointError(
            f"{path_or_run_dir} holds no {FINAL_NAME}: its training has not finished ({path.name} "
            f"is at epoch {ckpt['epoch']}, step {ckpt['step']}). Finish it with "
            f"`nas-train-supernet resume=true run_dir={path_or_run_dir}`, or give the file "
            f"{path} itself to use the unfinished weights"
        )
    space = space_of(ckpt, path)
    if space.fingerprint != ckpt["space_fingerprint"]:
        raise CheckpointError(
            f"checkpoint {path}: its space definition does not match its fingerprint"
        )
    if expected_space is not None:
        check_space(ckpt, expected_space, path)
    model = Supernet(space, ckpt["num_classes"], **ckpt.get("model_options", {}))
    weights = ckpt["ema"] if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    check_finite(weights, path, "searched or evaluated")
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} weights do not fit the supernet: {err}") from err
    model.to(map_location).eval()
    return LoadedSupernet(
        model=model,
        space=space,
        num_classes=ckpt["num_classes"],
        data_config=DataConfig(**ckpt["data_config"]),
        config=dict(ckpt["config"]),
        path=path,
        epoch=ckpt["epoch"],
        step=ckpt["step"],
    )


def space_of(ckpt: Mapping[str, Any], path: str | Path) -> SearchSpace:
    """The search space a checkpoint stores; a bad definition is named with the file."""
    try:
        return SearchSpace.from_dict(ckpt["space"])
    except SpaceDefinitionError as err:
        raise CheckpointError(
            f"checkpoint {path}: its space field is not a valid space definition ({err}); "
            "the file was edited or written by another program; use an untouched checkpoint"
        ) from err


# ------------------------------------------------------------------------- training state
def checkpoint_header(
    space: SearchSpace,
    num_classes: int,
    data_config: Mapping[str, Any],
    config: Mapping[str, Any],
    *,
    model_options: Mapping[str, Any] | None = None,
    middle_arch: Mapping[str, Any] | None = None,
    steps_per_epoch: int = 0,
    fmt: str = CHECKPOINT_FORMAT,
    version: int = CHECKPOINT_VERSION,
    **extra: Any,
) -> dict[str, Any]:
    """What a training checkpoint says about its run besides the parts' states (plain data).

    ``extra`` adds keys of a checkpoint kind (a retrained one stores its ``arch``).
    """
    return {
        "format": fmt,
        "version": version,
        "space": space.to_dict(),
        "space_fingerprint": space.fingerprint,
        "num_classes": int(num_classes),
        "data_config": dict(data_config),
        "config": dict(config),
        "model_options": dict(model_options or {}),
        "middle_arch": dict(middle_arch or {}),
        "steps_per_epoch": int(steps_per_epoch),
        **extra,
    }


def training_checkpointer(
    step: Step, state: TrainState, header: Mapping[str, Any], loader_seed: int
) -> Checkpointer:
    """The parts every training run resumes: model, optimisation, step and torch RNGs
    (``rng``), progress; the data order is recomputed from ``loader_seed`` and the epoch."""

    def loader() -> dict[str, Any]:
        return {"seed": loader_seed, "epoch": state.epoch, "rule": LOADER_RULE}

    return Checkpointer(
        {"model": step.model, "rng": TorchRNG(step, loader)},
        header,
        flat=[step.optimisation, state],
    )


def check_steps_per_epoch(ckpt: Mapping[str, Any], steps_per_epoch: int) -> None:
    """Raise :class:`ConfigError` if the checkpoint's steps per epoch differ (another batch size,
    dataset cap or number of ranks would shift the mid-epoch position)."""
    saved = ckpt.get("steps_per_epoch")
    if saved and saved != steps_per_epoch:
        raise ConfigError(
            f"the checkpoint was written with {saved} steps per epoch, this config gives "
            f"{steps_per_epoch}; resume with the same data.batch_size, data.max_train_images "
            "and number of processes"
        )


def last_good_state(run_dir: Path, lr_setting: str) -> str:
    """Advice after a divergence: where the last good checkpoint is, and how to go on from it
    (checkpoints are never written with NaN/inf weights, so an existing ``last.pt`` is finite)."""
    last = Path(run_dir) / LAST_NAME
    if not last.is_file():
        return (
            f"No checkpoint was written before it diverged: start again (a new run_dir=) with a "
            f"lower {lr_setting}"
        )
    try:
        step = int(torch.load(last, map_location="cpu", weights_only=True)["step"])
    except Exception:  # an unreadable last.pt: say where it is without its step
        return f"The last checkpoint is {last}; resume from it with a lower {lr_setting}"
    return (
        f"{last} holds the last good state (step {step}); continue from it with a lower "
        f"learning rate: resume=true resume_changes=[{lr_setting}] {lr_setting}=..."
    )


def check_finite(weights: Mapping[str, Any], path: str | Path, use: str) -> None:
    """Raise :class:`CheckpointError` if a checkpoint's weights hold NaN/inf (``use`` says what
    cannot be done with them: "resumed", "searched or evaluated")."""
    bad = non_finite_tensors(weights)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise CheckpointError(
            f"checkpoint {path} holds NaN/inf weights ({shown}); it cannot be {use}: the "
            "training diverged before it was written. Use an earlier checkpoint, or train again "
            "with a lower optim.lr"
        )
