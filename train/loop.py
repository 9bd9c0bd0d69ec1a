"""The supernet training loop: one short loop, everything else hangs off it as hooks.

:class:`SupernetTrainer` runs epochs of steps; a step samples the step's architectures,
accumulates the gradients of all of them, averages them over ranks and makes one optimizer
step. Evaluation, logging and checkpointing are :class:`HookBase` subclasses called after each
step, each epoch and at the end (detectron2 style).

Example:
    >>> trainer = SupernetTrainer(model, parts, batches, epochs=5, hooks=[...])  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from train.distill import StepLoss
from train.distributed import DistContext, all_ranks_agree, all_reduce_gradients, average_buffers
from train.errors import TrainingDivergedError
from train.sampler import ArchSampler

Batches = Callable[[int, int], Iterable[tuple[Tensor, Tensor]]]
"""``batches(epoch, skip)``: the epoch's (images, labels) batches after the first ``skip``."""


@dataclass
class TrainState:
    """Progress: ``epoch`` in progress, optimizer ``step`` s done, batches done in the epoch."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0


@dataclass
class EpochStats:
    """Running sums of the current epoch, read by the logging hooks."""

    loss_sum: float = 0.0
    steps: int = 0
    images: int = 0
    seconds: float = 0.0
    scalars: dict[str, float] = field(default_factory=dict)

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.steps, 1)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


@dataclass
class StepParts:
    """What a step needs besides the model; built by the composition root (the CLI)."""

    sampler: ArchSampler
    loss: StepLoss
    optimizer: torch.optim.Optimizer
    scheduler: Any  # timm.scheduler.Scheduler (step_update(num_updates=...))
    scaler: torch.amp.GradScaler
    arch_rng: np.random.Generator
    resize: Callable[[Tensor, int], Tensor]
    ctx: DistContext = field(default_factory=DistContext)
    clip_grad_norm: float = 0.0
    amp_dtype: torch.dtype | None = None
    channels_last: bool = False
    ema: Any = None  # timm.utils.ModelEmaV3 or None
    forward: Callable[..., Tensor] | None = None  # e.g. a torch.compile'd model


class HookBase:
    """Override any of the four methods; ``self.trainer`` is set before ``before_train``."""

    trainer: SupernetTrainer

    def before_train(self) -> None: ...

    def after_step(self) -> None: ...

    def after_epoch(self) -> None: ...

    def after_train(self) -> None: ...


@dataclass
class StepResult:
    """Mean loss over the step's architectures, the teacher's loss, the grad norm."""

    loss: float
    teacher_loss: float
    grad_norm: float
    num_images: int


class SupernetTrainer:
    """Runs ``epochs`` epochs of sandwich/uniform steps, calling hooks."""

    def __init__(
        self,
        model: torch.nn.Module,
        parts: StepParts,
        batches: Batches,
        epochs: int,
        hooks: Sequence[HookBase] = (),
        state: TrainState | None = None,
    ) -> None:
        self.model = model
        self.parts = parts
        self.batches = batches
        self.epochs = epochs
        self.state = state or TrainState()
        self.stats = EpochStats()
        self.last_step: StepResult | None = None
        self.hooks = list(hooks)
        for hook in self.hooks:
            hook.trainer = self

    def train(self) -> None:
        """The loop; raises :class:`TrainingDivergedError` on a NaN/inf loss."""
        self._call("before_train")
        while self.state.epoch < self.epochs:
            self.stats = EpochStats()
            start = time.perf_counter()  # img/s counts data loading too
            for images, labels in self.batches(self.state.epoch, self.state.batch_in_epoch):
                self.last_step = self.run_step(images, labels)
                self._account(self.last_step, time.perf_counter() - start)
                self._call("after_step")
                start = time.perf_counter()
            average_buffers(self.model, self.parts.ctx)
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
            self._call("after_epoch")
        self._call("after_train")

    def run_step(self, images: Tensor, labels: Tensor) -> StepResult:
        """Forward/backward every architecture of the step, then one optimizer step."""
        p, device = self.parts, self.parts.ctx.device
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        if p.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        self.model.train()
        p.optimizer.zero_grad(set_to_none=True)
        losses, teacher_logits, finite = [], None, True
        for item in p.sampler.sample(p.arch_rng):
            logits = self._forward(p.resize(images, item.arch.resolution), item.arch)
            if item.is_teacher:
                teacher_logits = logits.detach()
                loss = p.loss.teacher_loss(logits, labels)
            else:
                loss = p.loss.student_loss(logits, labels, teacher_logits)
            finite = bool(torch.isfinite(loss).item())
            if not finite:
                break
            p.scaler.scale(loss).backward()
            losses.append(float(loss.detach()))
        if not all_ranks_agree(finite, p.ctx):
            self._diverged("loss")
        grad_norm = self._update()
        return StepResult(float(np.mean(losses)), losses[0], grad_norm, int(images.shape[0]))

    def _forward(self, x: Tensor, arch: Any) -> Tensor:
        p = self.parts
        forward = p.forward or self.model
        enabled = p.amp_dtype is not None
        with torch.autocast(p.ctx.device.type, dtype=p.amp_dtype, enabled=enabled):
            return forward(x, arch)

    def _update(self) -> float:
        p = self.parts
        all_reduce_gradients(self.model, p.ctx)
        p.scaler.unscale_(p.optimizer)
        grad_norm = math.nan
        if p.clip_grad_norm > 0:
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), p.clip_grad_norm)
            )
            if not math.isfinite(grad_norm) and not p.scaler.is_enabled():
                self._diverged("gradient norm")
        p.scaler.step(p.optimizer)
        p.scaler.update()
        self.state.step += 1
        self.state.batch_in_epoch += 1
        p.scheduler.step_update(num_updates=self.state.step)
        if p.ema is not None:
            p.ema.update(self.model, step=self.state.step)
        return grad_norm

    def _diverged(self, what: str) -> None:
        lr = float(self.parts.optimizer.param_groups[0]["lr"])
        raise TrainingDivergedError(
            f"the {what} became NaN/inf at step {self.state.step + 1} (epoch {self.state.epoch}, "
            f"batch {self.state.batch_in_epoch}, lr {lr:.3g}); no checkpoint was written with "
            "these weights, last.pt holds the last good state. Lower optim.lr, turn on or "
            "lower optim.clip_grad_norm, or use amp=none, then resume=true"
        )

    def _account(self, result: StepResult, seconds: float) -> None:
        s = self.stats
        s.loss_sum += result.loss
        s.steps += 1
        s.images += result.num_images * self.parts.ctx.world_size
        s.seconds += seconds

    def _call(self, name: str) -> None:
        for hook in self.hooks:
            getattr(hook, name)()
