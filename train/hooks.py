"""Hooks of the training loop: per-epoch evaluation, and checkpointing.

Example:
    >>> ckpt = CheckpointHook(run_dir, checkpointer, every_steps=50)  # doctest: +SKIP
    >>> hooks = [EvalHook(archs, evaluator), ckpt]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lamoo_nas.supernet.space import ArchConfig
from lamoo_nas.train.checkpoint import FINAL_NAME, LAST_NAME
from lamoo_nas.train.checkpointer import Checkpointer, weights_are_finite
from lamoo_nas.train.errors import TrainingDivergedError
from lamoo_nas.train.io import atomic_torch_save
from lamoo_nas.train.loop import HookBase
from lamoo_nas.train.metrics import accuracy_of

Resize = Callable[[Tensor, int], Tensor]


class SubnetEvaluator:
    """Top-1 accuracy of one architecture: extract it, recalibrate its BN, run the val split.

    ``calib_batches()`` and ``val_batches()`` give fresh iterables of (images, labels) at the
    data's resolution; images are resized to the architecture's resolution.
    """

    def __init__(
        self,
        calib_batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
        val_batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
        num_calib_images: int,
        resize: Resize,
        device: torch.device,
    ) -> None:
        self.calib_batches = calib_batches
        self.val_batches = val_batches
        self.num_calib_images = num_calib_images
        self.resize = resize
        self.device = device

    @torch.no_grad()
    def __call__(self, supernet: Any, arch: ArchConfig) -> float:
        from lamoo_nas.supernet.bn import recalibrate_bn

        with torch.random.fork_rng(devices=[]):
            subnet = supernet.extract(arch).to(self.device)
            calib = (
                self.resize(x.to(self.device), arch.resolution) for x, _ in self.calib_batches()
            )
            subnet = recalibrate_bn(subnet, calib, self.num_calib_images)
            val = (
                (self.resize(images.to(self.device), arch.resolution), labels)
                for images, labels in self.val_batches()
            )
            # only rank 0 runs the hooks, on the whole val split: nothing to sum over ranks
            return accuracy_of(subnet, val, self.device, reduce=False).fraction()


class EvalHook(HookBase):
    """After every ``every_epochs`` epochs (and the last) store ``val_acc_<name>`` for each
    ``(name, score)``: ``score(model)`` is a validation accuracy of the trained model (of its
    EMA copy when ``ema`` is given), e.g. of one subnet of a supernet."""

    def __init__(
        self,
        scores: Sequence[tuple[str, Callable[[torch.nn.Module], float]]],
        every_epochs: int = 1,
        ema: Any = None,
    ) -> None:
        self.scores = list(scores)
        self.every_epochs = every_epochs
        self.ema = ema

    def after_epoch(self) -> None:
        epoch, last = self.trainer.state.epoch, self.trainer.epochs
        if epoch % self.every_epochs and epoch != last:
            return
        model = self.ema.module if self.ema is not None else self.trainer.model
        for name, score in self.scores:
            self.trainer.stats.scalars[f"val_acc_{name}"] = score(model)


def subnet_scores(
    archs: Sequence[tuple[str, ArchConfig]], evaluator: SubnetEvaluator
) -> list[tuple[str, Callable[[torch.nn.Module], float]]]:
    """:class:`EvalHook` scores of named architectures of a supernet."""
    return [(name, partial(_score_arch, evaluator, arch)) for name, arch in archs]


def _score_arch(evaluator: SubnetEvaluator, arch: ArchConfig, supernet: torch.nn.Module) -> float:
    return evaluator(supernet, arch)


class CheckpointHook(HookBase):
    """``last.pt`` every ``every_steps`` steps (0 = off) and each epoch end; ``final.pt`` at
    the end, each from ``checkpointer.state()``. Never writes non-finite weights over a good
    checkpoint (``lr_setting`` names the learning rate to lower in that error)."""

    def __init__(
        self,
        run_dir: Path,
        checkpointer: Checkpointer,
        every_steps: int,
        lr_setting: str = "optim.lr",
    ) -> None:
        self.run_dir = Path(run_dir)
        self.checkpointer = checkpointer
        self.every_steps = every_steps
        self.lr_setting = lr_setting

    def save(self, name: str) -> Path:
        t = self.trainer
        if not weights_are_finite(t.model):
            raise TrainingDivergedError(
                f"the weights hold NaN/inf at step {t.state.step} (epoch {t.state.epoch}); "
                f"{name} was not overwritten. Lower {self.lr_setting} or turn on "
                "optim.clip_grad_norm, then resume=true"
            )
        return atomic_torch_save(self.checkpointer.state(), self.run_dir / name)

    def after_step(self) -> None:
        if self.every_steps and self.trainer.state.step % self.every_steps == 0:
            self.save(LAST_NAME)

    def after_epoch(self) -> None:
        self.save(LAST_NAME)

    def after_train(self) -> None:
        self.save(FINAL_NAME)
