"""Losses of a supernet step: labels for the teacher, in-place distillation for the others.

With ``distill=inplace`` (BigNAS/OFA) the largest architecture learns from the labels with
label smoothing and every other architecture of the step learns from the largest one's
detached soft predictions (KL divergence at temperature ``T``, scaled by ``T**2``). With
``distill=none`` every architecture learns from the labels.

Example:
    >>> loss = StepLoss(DistillConfig(name="inplace", temperature=1.0, label_smoothing=0.1))
    >>> logits, labels = torch.randn(4, 10), torch.tensor([0, 1, 2, 3])
    >>> teacher = loss.teacher_loss(logits, labels)
    >>> student = loss.student_loss(torch.randn(4, 10), labels, logits.detach())
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.loss import LabelSmoothingCrossEntropy
from torch import Tensor

from lamoo_nas.supernet.errors import ConfigError

DISTILL_MODES = ("inplace", "none")


@dataclass(frozen=True)
class DistillConfig:
    """``name``: one of :data:`DISTILL_MODES`; ``temperature`` of the soft targets (> 0);
    ``label_smoothing`` in [0, 1) of the label loss."""

    name: str = "inplace"
    temperature: float = 1.0
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in DISTILL_MODES:
            raise ConfigError(f"distill.name is {self.name!r}; allowed: {', '.join(DISTILL_MODES)}")
        if not self.temperature > 0:
            raise ConfigError(f"distill.temperature must be > 0, got {self.temperature!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"distill.label_smoothing must be in [0, 1), got {self.label_smoothing!r}"
            )


class StepLoss:
    """Label loss of the teacher and (distillation or label) loss of the students."""

    def __init__(self, cfg: DistillConfig) -> None:
        self.cfg = cfg
        self.label_loss = (
            LabelSmoothingCrossEntropy(cfg.label_smoothing)
            if cfg.label_smoothing > 0
            else torch.nn.CrossEntropyLoss()
        )

    @property
    def distills(self) -> bool:
        return self.cfg.name == "inplace"

    def teacher_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Label loss; ``logits``: (N, C), ``labels``: (N,)."""
        return self.label_loss(logits.float(), labels)

    def student_loss(self, logits: Tensor, labels: Tensor, teacher_logits: Tensor | None) -> Tensor:
        """KL to the detached teacher's soft predictions, or the label loss without a teacher."""
        if not self.distills or teacher_logits is None:
            return self.label_loss(logits.float(), labels)
        return soft_target_kl(logits.float(), teacher_logits.detach().float(), self.cfg.temperature)


def soft_target_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T**2 * KL(softmax(teacher/T) || softmax(student/T))``, averaged over the batch."""
    log_p_student = F.log_softmax(student_logits / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * temperature**2
