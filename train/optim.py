"""Optimizer and learning-rate schedule of supernet training, built from timm.

The optimizer is :func:`timm.optim.create_optimizer_v2` (no weight decay on norms and biases:
timm's ``filter_bias_and_bn``), the schedule :class:`timm.scheduler.CosineLRScheduler`
stepped per optimizer update, with a linear warmup.

Example:
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = build_optimizer(model, OptimConfig(name="adamw", lr=1e-3))
    >>> schedule = ScheduleConfig(epochs=2, warmup_epochs=0.5)
    >>> sched = build_scheduler(opt, schedule, steps_per_epoch=10)
    >>> sched.step_update(num_updates=5)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler

from lamoo_nas.supernet.errors import ConfigError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsproptf", "lamb", "lion")


@dataclass(frozen=True)
class OptimConfig:
    """``name``: one of :data:`OPTIMIZERS`; ``clip_grad_norm``: max global grad norm (0 = off)."""

    name: str = "adamw"
    lr: float = 6e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    clip_grad_norm: float = 5.0

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(f"optim.name is {self.name!r}; allowed: {', '.join(OPTIMIZERS)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"optim.lr must be a positive number, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.clip_grad_norm < 0:
            raise ConfigError(
                f"optim.clip_grad_norm must be >= 0 (0 turns clipping off), "
                f"got {self.clip_grad_norm!r}"
            )


@dataclass(frozen=True)
class ScheduleConfig:
    """Cosine decay over ``epochs`` after ``warmup_epochs`` (may be fractional) of linear warmup
    from ``warmup_lr`` to the optimizer's lr; ends at ``min_lr``."""

    epochs: int = 16
    warmup_epochs: float = 1.0
    warmup_lr: float = 1e-5
    min_lr: float = 1e-5

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs <= 0:
            raise ConfigError(f"schedule.epochs must be a positive integer, got {self.epochs!r}")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise ConfigError(
                f"schedule.warmup_epochs must be in [0, epochs={self.epochs}], "
                f"got {self.warmup_epochs!r}"
            )
        if self.min_lr < 0 or self.warmup_lr < 0:
            raise ConfigError(
                f"schedule.min_lr and schedule.warmup_lr must be >= 0, "
                f"got {self.min_lr!r} and {self.warmup_lr!r}"
            )


def build_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """timm optimizer over ``model`` with no weight decay on norm layers and biases."""
    return create_optimizer_v2(
        model,
        opt=cfg.name,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        momentum=cfg.momentum,
        filter_bias_and_bn=True,
        foreach=False,
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, steps_per_epoch: int
) -> CosineLRScheduler:
    """Step-based cosine schedule; call ``step_update(num_updates=step)`` after each update."""
    total_steps = max(1, cfg.epochs * steps_per_epoch)
    warmup_steps = min(round(cfg.warmup_epochs * steps_per_epoch), total_steps - 1)
    return CosineLRScheduler(
        optimizer,
        t_initial=total_steps - warmup_steps,
        lr_min=cfg.min_lr,
        warmup_t=warmup_steps,
        warmup_lr_init=cfg.warmup_lr,
        warmup_prefix=True,
        t_in_epochs=False,
    )


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the optimizer's first parameter group."""
    return float(optimizer.param_groups[0]["lr"])
