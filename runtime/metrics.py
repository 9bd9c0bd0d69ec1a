"""Top-k accuracy, counted the same way everywhere and summed over ranks under torchrun.

:class:`TopK` accumulates correct counts batch by batch; :meth:`TopK.reduce` sums them over the
processes of an initialised ``torch.distributed`` group (each rank scored its own shard), so
every rank ends with the global accuracy. :func:`accuracy_of` runs a model over batches and
returns the finished counter. Every accuracy in ``train`` and ``evaluate`` (per-epoch
validation, inherited-weight search accuracy, test metrics, ``nas-evaluate``) comes from here.

Example:
    >>> counter = TopK(ks=(1, 5))
    >>> counter.update(torch.eye(6), torch.arange(6))
    >>> counter.fraction(1), counter.total
    (1.0, 6)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass
class TopK:
    """Correct counts for each ``k`` (capped at the number of classes) and the image count."""

    ks: tuple[int, ...] = (1,)
    correct: dict[int, int] = field(default_factory=dict)
    total: int = 0
    num_classes: int = 0

    def update(self, logits: Tensor, labels: Tensor) -> None:
        """Count one batch: ``logits`` (N, C), ``labels`` (N,) class indices."""
        self.num_classes = int(logits.shape[1])
        k_max = min(max(self.ks), self.num_classes)
        top = logits.topk(k_max, dim=1).indices
        hits = top == labels.to(top.device)[:, None]
        for k in self.ks:
            self.correct[k] = self.correct.get(k, 0) + int(hits[:, : min(k, k_max)].any(1).sum())
        self.total += int(labels.numel())

    def reduce(self) -> TopK:
        """Sum the counts over the ranks of an initialised process group (no-op without one)."""
        if not (dist.is_available() and dist.is_initialized()):
            return self
        backend_cuda = dist.get_backend() == "nccl"
        device = torch.device("cuda", torch.cuda.current_device()) if backend_cuda else None
        counts = torch.tensor(
            [self.total, *(self.correct.get(k, 0) for k in self.ks)], device=device
        )
        dist.all_reduce(counts)
        self.total = int(counts[0])
        self.correct = {k: int(c) for k, c in zip(self.ks, counts[1:].tolist())}
        return self

    def fraction(self, k: int = 1) -> float:
        """Top-``k`` accuracy in [0, 1] (0 when nothing was counted)."""
        return self.correct.get(k, 0) / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """``top1``, ``top5`` (when counted and there are over 5 classes) and ``num_images``."""
        out: dict[str, float | int] = {"top1": self.fraction(1), "num_images": self.total}
        if 5 in self.ks and self.num_classes > 5:
            out["top5"] = self.fraction(5)
        return out


@torch.no_grad()
def accuracy_of(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    device: torch.device | str = "cpu",
    ks: tuple[int, ...] = (1,),
    reduce: bool = True,
) -> TopK:
    """Run ``model`` in eval mode over ``(images, labels)`` batches and count top-k hits;
    ``reduce`` sums the counts over ranks (see :meth:`TopK.reduce`).

    Example:
        >>> net = nn.Flatten()
        >>> accuracy_of(net, [(torch.eye(3).view(3, 3, 1), torch.arange(3))]).fraction()
        1.0
    """
    model.eval()
    counter = TopK(ks)
    for images, labels in batches:
        counter.update(model(images.to(device)).float(), labels)
    return counter.reduce() if reduce else counter
