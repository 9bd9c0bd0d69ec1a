"""Shared helper: the training steps of a tiny supernet under the GPU switches (``amp``,
``channels_last``, ``compile``), built as :mod:`train.run` and :mod:`train.retrain` build them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lamoo_nas.runtime.distributed import DistContext
from lamoo_nas.runtime.io import atomic_torch_save
from lamoo_nas.supernet import Supernet, load_space, resize_to
from lamoo_nas.supernet.space import SearchSpace
from lamoo_nas.train.checkpoint import checkpoint_header, training_checkpointer
from lamoo_nas.train.distill import DistillConfig, StepLoss
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.optimisation import build_optimisation
from lamoo_nas.train.recipes import RetrainLoss
from lamoo_nas.train.sampler import SamplerConfig, build_sampler
from lamoo_nas.train.steps import StaticStep, SupernetStep, TrainState

NUM_CLASSES = 10
CPU = torch.device("cpu")
# a one-architecture space: every sandwich draw is the same network, so a compiled forward
# compiles once (tiny's sampled architectures would each compile anew)
ONE_ARCH_SPACE: dict[str, Any] = {
    "name": "one_arch",
    "stem": {"channels": 8, "stride": 1, "activation": "hswish"},
    "first_block": {"channels": 8, "kernel_size": 3, "activation": "relu"},
    "stages": [
        {
            "depths": [1],
            "kernel_sizes": [3],
            "expand_ratios": [2],
            "widths": [8],
            "stride": 2,
            "activation": "hswish",
            "se": True,
        }
    ],
    "final_expand": {"channels": 16, "activation": "hswish"},
    "head": {"channels": 16, "activation": "hswish", "dropout": 0.0},
    "resolutions": [8],
}


@dataclass(frozen=True)
class Switches:
    """The run options a GPU user turns on; the defaults are the eager fp32 reference."""

    amp: str = "none"
    channels_last: bool = False
    compile: bool = False


def tiny_space() -> SearchSpace:
    return load_space("tiny")


def one_arch_space() -> SearchSpace:
    return SearchSpace.from_dict(ONE_ARCH_SPACE)


def fresh_supernet(space: SearchSpace, device: torch.device, seed: int = 0) -> Supernet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Supernet(space, NUM_CLASSES).to(device).train()


def batch(space: SearchSpace, size: int = 8, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Images at the space's largest resolution, labels in [0, NUM_CLASSES)."""
    gen = torch.Generator().manual_seed(seed)
    res = max(space.resolutions)
    return torch.randn(size, 3, res, res, generator=gen), torch.randint(
        0, NUM_CLASSES, (size,), generator=gen
    )


def _optimisation(model: torch.nn.Module, switches: Switches, device: torch.device) -> Any:
    return build_optimisation(
        model,
        OptimConfig(name="adamw", lr=1e-3),
        ScheduleConfig(epochs=1, warmup_epochs=0),
        steps_per_epoch=100,
        amp=switches.amp,
        device=device,
    )


def supernet_step(
    space: SearchSpace, switches: Switches, device: torch.device = CPU
) -> SupernetStep:
    """The step of ``train.run._build_step``: sandwich (one random arch), in-place distillation,
    the model in channels-last memory and compiled as ``channels_last``/``compile`` say."""
    model = fresh_supernet(space, device)
    if switches.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return SupernetStep(
        model=model,
        optimisation=_optimisation(model, switches, device),
        ctx=DistContext(device=device),
        channels_last=switches.channels_last,
        sampler=build_sampler(SamplerConfig("sandwich", num_random=1), space),
        loss=StepLoss(DistillConfig()),
        arch_rng=np.random.default_rng(0),
        resize=resize_to,
        forward=torch.compile(model) if switches.compile else None,
    )


def static_step(space: SearchSpace, switches: Switches, device: torch.device = CPU) -> StaticStep:
    """A retraining step of the largest architecture (weights extracted from a fresh supernet)."""
    model = fresh_supernet(space, device).extract(space.largest()).to(device).train()
    if switches.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return StaticStep(
        model,
        _optimisation(model, switches, device),
        DistContext(device=device),
        switches.channels_last,
        loss=RetrainLoss(0.1),
        forward=torch.compile(model) if switches.compile else None,
    )


def save_and_load(
    step: SupernetStep | StaticStep, state: TrainState, space: SearchSpace, path: Path
) -> dict[str, Any]:
    """Write the step's checkpoint as a run does (atomic, every part) and read it back
    (``weights_only``)."""
    header = checkpoint_header(space, NUM_CLASSES, {}, {})
    atomic_torch_save(training_checkpointer(step, state, header, 0).state(), path)
    return torch.load(path, map_location="cpu", weights_only=True)


def restore(
    step: SupernetStep | StaticStep, space: SearchSpace, ckpt: dict[str, Any]
) -> TrainState:
    """Load ``ckpt`` into ``step`` (a fresh one) as a resume does; returns the resumed state."""
    state = TrainState()
    header = checkpoint_header(space, NUM_CLASSES, {}, {})
    training_checkpointer(step, state, header, 0).restore(ckpt)
    return state
