"""Hooks of the supernet loop: per-epoch evaluation of fixed subnets, and checkpointing.

Example:
    >>> ckpt = CheckpointHook(run_dir, meta, every_steps=50)  # doctest: +SKIP
    >>> hooks = [EvalHook(archs, evaluator), ckpt]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from supernet.space import ArchConfig
from train.checkpoint import (
    FINAL_NAME,
    LAST_NAME,
    RunMeta,
    training_checkpoint,
)
from train.io import atomic_torch_save
from train.loop import HookBase, TrainingDivergedError

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
        from supernet.bn import recalibrate_bn

        with torch.random.fork_rng(devices=[]):
            subnet = supernet.extract(arch).to(self.device)
            calib = (
                self.resize(x.to(self.device), arch.resolution) for x, _ in self.calib_batches()
            )
            subnet = recalibrate_bn(subnet, calib, self.num_calib_images)
            subnet.eval()
            correct = total = 0
            for images, labels in self.val_batches():
                logits = subnet(self.resize(images.to(self.device), arch.resolution))
                correct += int((logits.argmax(-1).cpu() == labels).sum())
                total += int(labels.numel())
        return correct / max(total, 1)


class EvalHook(HookBase):
    """After every ``every_epochs`` epochs (and the last) store ``val_acc_<name>`` per arch."""

    def __init__(
        self,
        archs: Sequence[tuple[str, ArchConfig]],
        evaluate: Callable[[Any, ArchConfig], float],
        every_epochs: int = 1,
        ema: Any = None,
    ) -> None:
        self.archs = list(archs)
        self.evaluate = evaluate
        self.every_epochs = every_epochs
        self.ema = ema

    def after_epoch(self) -> None:
        epoch, last = self.trainer.state.epoch, self.trainer.epochs
        if epoch % self.every_epochs and epoch != last:
            return
        model = self.ema.module if self.ema is not None else self.trainer.model
        for name, arch in self.archs:
            self.trainer.stats.scalars[f"val_acc_{name}"] = self.evaluate(model, arch)


def weights_are_finite(model: torch.nn.Module) -> bool:
    """True if no parameter or floating buffer holds NaN or inf."""
    return all(
        bool(torch.isfinite(t).all())
        for t in [*model.parameters(), *model.buffers()]
        if t.is_floating_point()
    )


class CheckpointHook(HookBase):
    """``last.pt`` every ``every_steps`` steps (0 = off) and each epoch end; ``final.pt`` at
    the end. Never writes non-finite weights over a good checkpoint."""

    def __init__(self, run_dir: Path, meta: RunMeta, every_steps: int) -> None:
        self.run_dir = Path(run_dir)
        self.meta = meta
        self.every_steps = every_steps

    def save(self, name: str) -> Path:
        t = self.trainer
        if not weights_are_finite(t.model):
            raise TrainingDivergedError(
                f"the weights hold NaN/inf at step {t.state.step} (epoch {t.state.epoch}); "
                f"{name} was not overwritten and keeps the last good state. Lower optim.lr or "
                "turn on optim.clip_grad_norm, then resume=true"
            )
        ckpt = training_checkpoint(t.model, t.parts, t.state, self.meta)
        return atomic_torch_save(ckpt, self.run_dir / name)

    def after_step(self) -> None:
        if self.every_steps and self.trainer.state.step % self.every_steps == 0:
            self.save(LAST_NAME)

    def after_epoch(self) -> None:
        self.save(LAST_NAME)

    def after_train(self) -> None:
        self.save(FINAL_NAME)
