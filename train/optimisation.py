"""The optimisation object shared by every training step: optimizer, schedule, loss scaling,
weight EMA, gradient clipping and mixed precision, with one ``state_dict``.

A supernet step and a static (retraining) step differ in what they forward; everything after
the losses (scaled backward, gradient averaging over ranks, unscaling, clipping, the optimizer
and scheduler steps, the EMA update) is :meth:`Optimisation.backward` + :meth:`Optimisation.step`.

Example:
    >>> model = torch.nn.Linear(4, 2)
    >>> opt = build_optimisation(model, OptimConfig(lr=1e-3), ScheduleConfig(epochs=1,
    ...                          warmup_epochs=0), steps_per_epoch=2, amp="none",
    ...                          device=torch.device("cpu"))
    >>> opt.backward(model(torch.ones(1, 4)).sum())
    >>> _ = opt.step(model, step=1)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from lamoo_nas.runtime.distributed import DistContext, all_reduce_gradients
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.train.optim import (
    OptimConfig,
    ScheduleConfig,
    build_optimizer,
    build_scheduler,
    current_lr,
)

AMP_MODES: dict[str, torch.dtype | None] = {
    "none": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
"""``amp=`` values besides ``auto`` (bf16 on CUDA, off on CPU)."""
CONFIGURED = ("lr", "initial_lr", "weight_decay", "momentum")
"""Optimizer parameter-group entries that come from the config, not from a resumed checkpoint."""


def _other_optimizer(state: Mapping[str, Any], optimizer: torch.optim.Optimizer) -> str | None:
    """The optimizer class whose state ``state`` holds when it is not ``optimizer``'s, else None.

    Checkpoints record the class; for one written before that, the parameter groups tell the
    families apart (SGD's ``dampening``, Adam's ``betas``)."""
    ours = type(optimizer).__name__
    recorded = state.get("optimizer_class")
    if isinstance(recorded, str):
        return None if recorded == ours else recorded
    groups = (state.get("optimizer") or {}).get("param_groups") or [{}]
    saved, current = set(groups[0]), set(optimizer.param_groups[0])
    differs = [
        family for family, mark in _FAMILY_MARKS.items() if (mark in saved) != (mark in current)
    ]
    if not differs:
        return None
    return next((f for f in differs if _FAMILY_MARKS[f] in saved), "another optimizer")


_FAMILY_MARKS = {"SGD": "dampening", "Adam": "betas"}
"""A parameter-group key of each torch optimizer family (old checkpoints: see above)."""


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``amp`` (``auto``, ``none``, ``bf16``, ``fp16``) on ``device``.

    Example:
        >>> amp_dtype("auto", torch.device("cpu")) is None
        True
    """
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp not in AMP_MODES:
        raise ConfigError(f"amp is {amp!r}; allowed: auto, {', '.join(AMP_MODES)}")
    if amp == "fp16" and device.type != "cuda":
        raise ConfigError("amp=fp16 needs a CUDA device; use amp=bf16 or amp=none on CPU")
    return AMP_MODES[amp]


@dataclass
class Optimisation:
    """What turns losses into a weight update; ``ema`` is a timm ``ModelEmaV3`` or None."""

    optimizer: torch.optim.Optimizer
    scheduler: Any  # timm.scheduler.Scheduler (step_update(num_updates=...))
    scaler: torch.amp.GradScaler
    clip_grad_norm: float = 0.0
    dtype: torch.dtype | None = None
    ema: Any = None
    ctx: DistContext | None = None
    notes: list[str] = field(default_factory=list)
    """What :meth:`load_state_dict` could not carry over and started fresh instead."""

    def autocast(self, device_type: str) -> contextlib.AbstractContextManager[Any]:
        """Mixed precision for the forward pass (a no-op when ``dtype`` is None)."""
        return torch.autocast(device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def backward(self, loss: Tensor) -> None:
        """Accumulate the (scaled) gradients of ``loss``."""
        self.scaler.scale(loss).backward()

    def step(
        self,
        model: torch.nn.Module,
        step: int,
        on_bad_grad_norm: Callable[[], None] | None = None,
    ) -> float:
        """Average gradients over ranks, unscale, clip, update, then schedule and EMA for update
        number ``step``; returns the gradient norm (NaN when clipping is off).
        ``on_bad_grad_norm`` is called when the clipped norm is not finite without loss scaling."""
        all_reduce_gradients(model, self.ctx or DistContext())
        self.scaler.unscale_(self.optimizer)
        grad_norm = math.nan
        if self.clip_grad_norm > 0:
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(model.parameters(), self.clip_grad_norm)
            )
            if not math.isfinite(grad_norm) and not self.scaler.is_enabled() and on_bad_grad_norm:
                on_bad_grad_norm()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step_update(num_updates=step)
        if self.ema is not None:
            self.ema.update(model, step=step)
        return grad_norm

    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group."""
        return current_lr(self.optimizer)

    def state_dict(self) -> dict[str, Any]:
        """``optimizer``, ``scheduler``, ``scaler`` (None when off) and ``ema`` (the EMA
        model's weights, None when off): the checkpoint keys of every training run."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "optimizer_class": type(self.optimizer).__name__,
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (a checkpoint holding it, with the ``step`` it was taken
        at) and put the schedule at that update.

        The optimizer's moments and the scaler/EMA states come from the checkpoint; its
        hyperparameters (:data:`CONFIGURED`) and the schedule stay the ones this run was built
        with, so a resume that accepted a new ``optim.lr`` or schedule trains with it (with
        unchanged settings the two are the same).

        The state of another kind of optimizer (a resume that accepted ``optim.name=sgd`` over
        AdamW: no momentum buffer can be made from Adam's moments) cannot be carried over: this
        optimizer keeps its fresh state, and :attr:`notes` says so."""
        saved = _other_optimizer(state, self.optimizer)
        if saved is not None:
            self.notes.append(
                f"the checkpoint's optimizer state is {saved}'s and this run uses "
                f"{type(self.optimizer).__name__}: that state (momentum, moments) cannot carry "
                "over, so the optimizer starts fresh from the checkpoint's weights and step"
            )
        else:
            configured = [
                {key: group[key] for key in CONFIGURED if key in group}
                for group in self.optimizer.param_groups
            ]
            self.optimizer.load_state_dict(state["optimizer"])
            for group, values in zip(self.optimizer.param_groups, configured):
                group.update(values)
        if state.get("scaler") is not None and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise CheckpointError("the checkpoint has no EMA weights but the run uses EMA")
            self.ema.module.load_state_dict(state["ema"])
        self.scheduler.step_update(num_updates=int(state["step"]))


def build_optimisation(
    model: torch.nn.Module,
    optim: OptimConfig,
    schedule: ScheduleConfig,
    steps_per_epoch: int,
    amp: str,
    device: torch.device,
    ema_decay: float = 0.0,
    ema_warmup: bool = False,
    ctx: DistContext | None = None,
) -> Optimisation:
    """timm optimizer and cosine schedule over ``model``; a GradScaler for fp16 on CUDA; a
    weight EMA when ``ema_decay`` > 0 (``ema_warmup``: timm's decay warm-up)."""
    optimizer = build_optimizer(model, optim)
    dtype = amp_dtype(amp, device)
    ema = None
    if ema_decay > 0:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=ema_decay, use_warmup=ema_warmup)
    return Optimisation(
        optimizer=optimizer,
        scheduler=build_scheduler(optimizer, schedule, steps_per_epoch),
        scaler=torch.amp.GradScaler(device.type, enabled=dtype == torch.float16),
        clip_grad_norm=optim.clip_grad_norm,
        dtype=dtype,
        ema=ema,
        ctx=ctx,
    )
