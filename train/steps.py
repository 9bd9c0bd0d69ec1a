"""What one optimizer step of training computes: a supernet step or a static-network step.

Both take a batch, forward it, hand the losses to the shared :class:`train.optimisation.
Optimisation` and return a :class:`StepResult`; the loop (:class:`train.loop.Trainer`) knows
nothing else about them. :class:`SupernetStep` trains the architectures its sampler draws for
the step (sandwich or uniform), accumulating their gradients before one update;
:class:`StaticStep` trains one ordinary network (retraining from scratch).

Each step owns the state a resume needs besides the model and the optimisation (the supernet
step's architecture generator): ``state_dict`` / ``load_state_dict``.

Example:
    >>> step = SupernetStep(model, optimisation, sampler, StepLoss(DistillConfig()),
    ...                     np.random.default_rng(0), resize_to)  # doctest: +SKIP
    >>> step(images, labels, state).loss  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from lamoo_nas.runtime.distributed import DistContext, all_ranks_agree
from lamoo_nas.train.distill import StepLoss
from lamoo_nas.train.errors import TrainingDivergedError
from lamoo_nas.train.optimisation import Optimisation
from lamoo_nas.train.sampler import ArchSampler, generator_state, restore_generator


@dataclass
class TrainState:
    """Progress: ``epoch`` in progress, optimizer ``step`` s done, batches done in the epoch;
    ``train_seconds`` of training over every run of a resumed training, and the running sums
    of the epoch in progress (``epoch_sums``: loss_sum, steps, images, seconds), so an epoch cut
    by a resume still reports its whole epoch."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    train_seconds: float = 0.0
    epoch_sums: dict[str, Any] = field(default_factory=dict)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "batch_in_epoch": self.batch_in_epoch,
            "train_seconds": self.train_seconds,
            "epoch_sums": dict(self.epoch_sums),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.train_seconds = float(state.get("train_seconds", 0.0))  # older checkpoints: 0
        self.epoch_sums = dict(state.get("epoch_sums") or {})


@dataclass
class StepResult:
    """Mean loss over the step's networks, the first (teacher's) loss, the grad norm."""

    loss: float
    teacher_loss: float
    grad_norm: float
    num_images: int


class Step(Protocol):
    """A training step: the model it trains, its optimisation, and the update itself."""

    model: torch.nn.Module
    optimisation: Optimisation
    ctx: DistContext

    def __call__(self, images: Tensor, labels: Tensor, state: TrainState) -> StepResult: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class _StepBase:
    model: torch.nn.Module
    optimisation: Optimisation
    ctx: DistContext = field(default_factory=DistContext)
    channels_last: bool = False

    def _to_device(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        images = images.to(self.ctx.device, non_blocking=True)
        labels = labels.to(self.ctx.device, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images, labels

    def _update(self, losses: list[float], finite: bool, state: TrainState, n: int) -> StepResult:
        if not all_ranks_agree(finite, self.ctx):
            raise diverged("loss", state, self.optimisation.lr)
        grad_norm = self.optimisation.step(
            self.model,
            state.step + 1,
            on_bad_grad_norm=lambda: _raise(diverged("gradient norm", state, self.optimisation.lr)),
        )
        state.step += 1
        state.batch_in_epoch += 1
        return StepResult(float(np.mean(losses)), losses[0], grad_norm, n)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


@dataclass
class SupernetStep(_StepBase):
    """Forward/backward every architecture the sampler draws, then one update.

    ``forward(x, arch)`` defaults to the model (pass a ``torch.compile`` d one to use that);
    ``resize(images, resolution)`` brings the batch to each architecture's resolution.
    """

    sampler: ArchSampler | None = None
    loss: StepLoss | None = None
    arch_rng: np.random.Generator = field(default_factory=np.random.default_rng)
    resize: Callable[[Tensor, int], Tensor] | None = None
    forward: Callable[[Tensor, Any], Tensor] | None = None

    def __call__(self, images: Tensor, labels: Tensor, state: TrainState) -> StepResult:
        assert self.sampler is not None and self.loss is not None and self.resize is not None
        images, labels = self._to_device(images, labels)
        self.model.train()
        self.optimisation.zero_grad()
        forward = self.model if self.forward is None else self.forward
        losses: list[float] = []
        teacher_logits, finite = None, True
        for item in self.sampler.sample(self.arch_rng):
            with self.optimisation.autocast(self.ctx.device.type):
                logits = forward(self.resize(images, item.arch.resolution), item.arch)
            if item.is_teacher:
                teacher_logits = logits.detach()
                loss = self.loss.teacher_loss(logits, labels)
            else:
                loss = self.loss.student_loss(logits, labels, teacher_logits)
            finite = bool(torch.isfinite(loss).item())
            if not finite:
                break
            self.optimisation.backward(loss)
            losses.append(float(loss.detach()))
        return self._update(losses, finite, state, int(images.shape[0]))

    def state_dict(self) -> dict[str, Any]:
        """The architecture generator's state (plain data)."""
        return {"arch": generator_state(self.arch_rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.arch_rng = restore_generator(dict(state["arch"]))


@dataclass
class StaticStep(_StepBase):
    """One forward/backward of an ordinary network, then one update; ``loss(logits, labels)``.

    ``forward(x)`` defaults to the model (pass a ``torch.compile`` d one to use that; the
    checkpoint keeps the plain model's weights either way)."""

    loss: Callable[[Tensor, Tensor], Tensor] | None = None
    forward: Callable[[Tensor], Tensor] | None = None

    def __call__(self, images: Tensor, labels: Tensor, state: TrainState) -> StepResult:
        assert self.loss is not None
        images, labels = self._to_device(images, labels)
        self.model.train()
        self.optimisation.zero_grad()
        forward = self.model if self.forward is None else self.forward
        with self.optimisation.autocast(self.ctx.device.type):
            logits = forward(images)
        loss = self.loss(logits, labels)
        finite = bool(torch.isfinite(loss).item())
        if finite:
            self.optimisation.backward(loss)
        return self._update([float(loss.detach())], finite, state, int(images.shape[0]))


def diverged(what: str, state: TrainState, lr: float) -> TrainingDivergedError:
    """The error of a NaN/inf ``what`` at the step after ``state``."""
    return TrainingDivergedError(
        f"the {what} became NaN/inf at step {state.step + 1} (epoch {state.epoch}, "
        f"batch {state.batch_in_epoch}, lr {lr:.3g}); no checkpoint was written with these "
        "weights. Lower the learning rate (optim.lr, or recipe.optim.lr when retraining), turn "
        "on or lower the gradient clipping (optim.clip_grad_norm), or use amp=none, then resume "
        "from the last good checkpoint with resume=true"
    )


def _raise(error: Exception) -> None:
    raise error
