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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from supernet.errors import ArchSpaceMismatchError, CheckpointError, ConfigError
from supernet.model import Supernet
from supernet.space import SearchSpace
from train.data import DataConfig
from train.io import load_tagged
from train.loop import StepParts, TrainState
from train.sampler import generator_state, restore_generator

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
    return load_tagged(
        find_checkpoint(path),
        fmt=CHECKPOINT_FORMAT,
        version=CHECKPOINT_VERSION,
        required=REQUIRED_KEYS,
        what="supernet checkpoint",
        hint="give a last.pt/final.pt written by nas-train-supernet, or resume from another",
        map_location=map_location,
    )


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

    model: Supernet  # eval mode
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

    A run directory resolves to ``final.pt``, else ``last.pt``. EMA weights are used when the
    checkpoint has them and ``use_ema`` is true. With ``expected_space`` a checkpoint of another
    space raises :class:`CheckpointError` naming both spaces.

    Example:
        >>> loaded = load_supernet("outputs/train_supernet/run1")  # doctest: +SKIP
        >>> loaded.model(x, loaded.space.largest()).shape  # doctest: +SKIP
        torch.Size([8, 10])
    """
    path = find_checkpoint(path_or_run_dir)
    ckpt = read_checkpoint(path, map_location)
    space = SearchSpace.from_dict(ckpt["space"])
    if space.fingerprint != ckpt["space_fingerprint"]:
        raise CheckpointError(
            f"checkpoint {path}: its space definition does not match its fingerprint"
        )
    if expected_space is not None:
        check_space(ckpt, expected_space, path)
    model = Supernet(space, int(ckpt["num_classes"]), **ckpt.get("model_options", {}))
    weights = ckpt["ema"] if use_ema and ckpt.get("ema") is not None else ckpt["model"]
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} weights do not fit the supernet: {err}") from err
    model.to(map_location).eval()
    return LoadedSupernet(
        model=model,
        space=space,
        num_classes=int(ckpt["num_classes"]),
        data_config=DataConfig(**ckpt["data_config"]),
        config=dict(ckpt["config"]),
        path=path,
        epoch=int(ckpt["epoch"]),
        step=int(ckpt["step"]),
    )


# ------------------------------------------------------------------------- training state
@dataclass(frozen=True)
class RunMeta:
    """What a checkpoint says about the run besides its tensors (all plain data)."""

    space: SearchSpace
    num_classes: int
    data_config: dict[str, Any]
    config: dict[str, Any]
    model_options: dict[str, Any]
    middle_arch: dict[str, Any]
    loader_seed: int = 0
    steps_per_epoch: int = 0


def capture_rng(arch_rng: np.random.Generator) -> dict[str, Any]:
    """torch CPU/CUDA global RNG states and the arch-sampling generator, as plain data."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": list(cuda), "arch": generator_state(arch_rng)}


def restore_rng(state: Mapping[str, Any]) -> np.random.Generator:
    """Put back the torch global RNG states; return the arch-sampling generator."""
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    return restore_generator(dict(state["arch"]))


def training_checkpoint(
    model: torch.nn.Module,
    parts: StepParts,
    state: TrainState,
    meta: RunMeta,
) -> dict[str, Any]:
    """Everything needed to resume the run exactly, as ``weights_only``-loadable data."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model": model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict() if parts.scaler.is_enabled() else None,
        "ema": parts.ema.module.state_dict() if parts.ema is not None else None,
        "rng": {
            **capture_rng(parts.arch_rng),
            "loader": {"seed": meta.loader_seed, "epoch": state.epoch, "rule": LOADER_RULE},
        },
        "epoch": state.epoch,
        "step": state.step,
        "batch_in_epoch": state.batch_in_epoch,
        "space": meta.space.to_dict(),
        "space_fingerprint": meta.space.fingerprint,
        "num_classes": meta.num_classes,
        "data_config": meta.data_config,
        "config": meta.config,
        "model_options": meta.model_options,
        "middle_arch": meta.middle_arch,
        "steps_per_epoch": meta.steps_per_epoch,
    }


def restore_training(
    ckpt: Mapping[str, Any],
    model: torch.nn.Module,
    parts: StepParts,
    steps_per_epoch: int | None = None,
) -> TrainState:
    """Load a :func:`training_checkpoint` into the model and parts; return the progress.

    With ``steps_per_epoch``, raises :class:`ConfigError` if the checkpoint's differs (another
    batch size, dataset cap or number of ranks would shift the mid-epoch position).
    """
    saved = ckpt.get("steps_per_epoch")
    if steps_per_epoch is not None and saved and saved != steps_per_epoch:
        raise ConfigError(
            f"the checkpoint was written with {ckpt['steps_per_epoch']} steps per epoch, this "
            f"config gives {steps_per_epoch}; resume with the same data.batch_size, "
            "data.max_train_images and number of processes"
        )
    model.load_state_dict(ckpt["model"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    parts.scheduler.load_state_dict(dict(ckpt["scheduler"]))
    if ckpt.get("scaler") is not None and parts.scaler.is_enabled():
        parts.scaler.load_state_dict(ckpt["scaler"])
    if parts.ema is not None:
        if ckpt.get("ema") is None:
            raise CheckpointError("the checkpoint has no EMA weights but ema.enabled=true")
        parts.ema.module.load_state_dict(ckpt["ema"])
    parts.arch_rng = restore_rng(ckpt["rng"])
    state = TrainState(int(ckpt["epoch"]), int(ckpt["step"]), int(ckpt["batch_in_epoch"]))
    parts.scheduler.step_update(num_updates=state.step)
    return state
