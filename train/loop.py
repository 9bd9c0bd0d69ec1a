"""The training loop: one short loop, everything else hangs off it as hooks.

:class:`Trainer` knows no model: it runs epochs of ``step(images, labels, state)`` calls (a
:class:`train.steps.SupernetStep` or :class:`train.steps.StaticStep`) over ``batches(epoch,
skip)`` and calls its hooks after each step, each epoch and at the end (detectron2 style).
Evaluation, progress, logging and checkpointing are :class:`HookBase` subclasses.

Example:
    >>> trainer = Trainer(step, batches, epochs=5, hooks=[...])  # doctest: +SKIP
    >>> trainer.train()  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lamoo_nas.runtime.distributed import average_buffers
from lamoo_nas.train.steps import Step, StepResult, TrainState

Batches = Callable[[int, int], Iterable[tuple[Tensor, Tensor]]]
"""``batches(epoch, skip)``: the epoch's (images, labels) batches after the first ``skip``."""

__all__ = ["Batches", "EpochStats", "HookBase", "StepResult", "TrainState", "Trainer"]


EPOCH_SUMS = ("loss_sum", "steps", "images", "seconds")
"""The running sums of :class:`EpochStats` a checkpoint keeps for the epoch in progress."""


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


class HookBase:
    """Override any of the four methods; ``self.trainer`` is set before ``before_train``."""

    trainer: Trainer

    def before_train(self) -> None: ...

    def after_step(self) -> None: ...

    def after_epoch(self) -> None: ...

    def after_train(self) -> None: ...


class Trainer:
    """Runs ``epochs`` epochs of ``step`` over ``batches``, calling ``hooks``; raises
    :class:`train.errors.TrainingDivergedError` (from the step) on a NaN/inf loss."""

    def __init__(
        self,
        step: Step,
        batches: Batches,
        epochs: int,
        hooks: Sequence[HookBase] = (),
        state: TrainState | None = None,
    ) -> None:
        self.step = step
        self.batches = batches
        self.epochs = epochs
        self.state = state or TrainState()
        self.stats = EpochStats()
        self.last_step: StepResult | None = None
        self.hooks = list(hooks)
        for hook in self.hooks:
            hook.trainer = self

    @property
    def model(self) -> torch.nn.Module:
        """The model the step trains."""
        return self.step.model

    def train(self) -> None:
        self._call("before_train")
        while self.state.epoch < self.epochs:
            resumed = self.state.epoch_sums if self.state.batch_in_epoch else {}
            self.stats = EpochStats(**{k: resumed[k] for k in EPOCH_SUMS if k in resumed})
            start = time.perf_counter()  # img/s counts data loading too
            for images, labels in self.batches(self.state.epoch, self.state.batch_in_epoch):
                self.last_step = self.step(images, labels, self.state)
                self._account(self.last_step, time.perf_counter() - start)
                self._call("after_step")
                start = time.perf_counter()
            average_buffers(self.step.model, self.step.ctx)
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
            self._call("after_epoch")
        self._call("after_train")

    def _account(self, result: StepResult, seconds: float) -> None:
        s = self.stats
        s.loss_sum += result.loss
        s.steps += 1
        s.images += result.num_images * self.step.ctx.world_size
        s.seconds += seconds
        self.state.train_seconds += seconds
        self.state.epoch_sums = {name: getattr(s, name) for name in EPOCH_SUMS}

    def _call(self, name: str) -> None:
        for hook in self.hooks:
            getattr(hook, name)()
