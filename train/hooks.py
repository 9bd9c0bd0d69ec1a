"""Hooks of the training loop: per-epoch evaluation, and checkpointing.

Example:
    >>> ckpt = CheckpointHook(run_dir, checkpointer, every_steps=50)  # doctest: +SKIP
    >>> hooks = [EvalHook(subnet_scores(archs, scorer)), ckpt]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import torch

from lamoo_nas.runtime.checkpointer import Checkpointer, weights_are_finite
from lamoo_nas.runtime.io import atomic_torch_save
from lamoo_nas.supernet.few_shot import AnySupernet
from lamoo_nas.supernet.space import ArchConfig
from lamoo_nas.train.checkpoint import FINAL_NAME, LAST_NAME
from lamoo_nas.train.errors import TrainingDivergedError
from lamoo_nas.train.loop import HookBase
from lamoo_nas.train.scorer import InheritedScorer


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
    archs: Sequence[tuple[str, ArchConfig]], scorer: InheritedScorer
) -> list[tuple[str, Callable[[torch.nn.Module], float]]]:
    """:class:`EvalHook` scores of named architectures of a supernet: their inherited accuracy
    by :class:`train.scorer.InheritedScorer` (the search's and ``nas-evaluate``'s rule; only
    rank 0 runs the hooks, so the scorer must not be sharded)."""
    return [(name, partial(_score_arch, scorer, arch)) for name, arch in archs]


def _score_arch(scorer: InheritedScorer, arch: ArchConfig, supernet: torch.nn.Module) -> float:
    return scorer.accuracy(cast(AnySupernet, supernet), arch)


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
