"""Inherited-weight accuracy of architectures taken from a trained supernet.

For each architecture: copy its weights out of the supernet (``Supernet.extract``), re-estimate
its batch-norm statistics on a fixed calibration subset of training images, and measure top-1
accuracy on the validation split carved from the training data (never the test split).

The calibration and validation batches are loaded once, kept in memory (on the evaluation
device) and resized once per resolution, so evaluating an architecture costs only its
forward passes. Results are cached by architecture.

Example:
    >>> evaluator = InheritedAccuracyEvaluator.from_bundle(supernet, bundle, calib_images=256)
    >>> evaluator.accuracy([space.smallest(), space.largest()])  # doctest: +SKIP
    array([0.93, 0.98])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from supernet import ArchConfig, Supernet, recalibrate_bn, resize_to
from supernet.errors import DatasetError
from train.data import DataBundle


@dataclass
class _Batches:
    """Images (and labels) cached on the device, with one resized copy per resolution."""

    images: list[Tensor]
    labels: list[Tensor]
    resized: dict[int, list[Tensor]] = field(default_factory=dict)

    def at(self, resolution: int) -> list[Tensor]:
        if resolution not in self.resized:
            self.resized[resolution] = [resize_to(x, resolution) for x in self.images]
        return self.resized[resolution]

    @property
    def num_images(self) -> int:
        return sum(int(x.shape[0]) for x in self.images)


def _collect(loader: Iterable, max_images: int | None, device: torch.device) -> _Batches:
    images: list[Tensor] = []
    labels: list[Tensor] = []
    seen = 0
    for x, y in loader:
        if max_images is not None:
            x, y = x[: max_images - seen], y[: max_images - seen]
        images.append(x.to(device))
        labels.append(y.to(device))
        seen += int(x.shape[0])
        if max_images is not None and seen >= max_images:
            break
    if seen == 0:
        raise DatasetError("the evaluation loader yielded no images; check the dataset split")
    return _Batches(images, labels)


class InheritedAccuracyEvaluator:
    """Top-1 validation accuracy of supernet subnets after BN recalibration, cached.

    On several processes (``torch.distributed`` initialised), each rank scores its own shard
    of the validation batches and the correct counts are summed across ranks.
    """

    def __init__(
        self,
        supernet: Supernet,
        calib_loader: Iterable,
        val_loader: Iterable,
        calib_images: int,
        device: torch.device | str = "cpu",
    ) -> None:
        if calib_images <= 0:
            raise ValueError(f"calib_images must be positive, got {calib_images}")
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device).eval()
        self.calib = _collect(calib_loader, calib_images, self.device)
        val = _collect(val_loader, None, self.device)
        self.val = _shard(val)
        self.cache: dict[ArchConfig, float] = {}
        self.seconds_per_eval: list[float] = []

    @classmethod
    def from_bundle(
        cls,
        supernet: Supernet,
        bundle: DataBundle,
        calib_images: int,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
    ) -> InheritedAccuracyEvaluator:
        """Build from a :class:`train.data.DataBundle` (its calib and val splits)."""
        return cls(
            supernet,
            bundle.eval_loader("calib", batch_size),
            bundle.eval_loader("val", batch_size),
            calib_images,
            device,
        )

    def accuracy(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """Validation accuracy in [0, 1] of each architecture, shape (len(archs),)."""
        out = np.empty(len(archs), dtype=np.float64)
        for i, arch in enumerate(archs):
            if arch not in self.cache:
                start = time.perf_counter()
                self.cache[arch] = self._score(arch)
                self.seconds_per_eval.append(time.perf_counter() - start)
            out[i] = self.cache[arch]
        return out

    def subnet(self, arch: ArchConfig) -> nn.Module:
        """The static subnet of ``arch`` with recalibrated BN statistics, in eval mode."""
        net = self.supernet.extract(arch).to(self.device)
        calib = self.calib.at(arch.resolution)
        return recalibrate_bn(net, calib, self.calib.num_images)

    @torch.no_grad()
    def _score(self, arch: ArchConfig) -> float:
        net = self.subnet(arch)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        total = torch.zeros((), dtype=torch.long, device=self.device)
        for x, y in zip(self.val.at(arch.resolution), self.val.labels):
            correct += (net(x).argmax(dim=1) == y).sum()
            total += y.numel()
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(correct)
            dist.all_reduce(total)
        return float(correct) / max(int(total), 1)


def _shard(batches: _Batches) -> _Batches:
    """This rank's share of the validation batches (all of them without distribution)."""
    if not (dist.is_available() and dist.is_initialized()):
        return batches
    rank, world = dist.get_rank(), dist.get_world_size()
    return _Batches(batches.images[rank::world], batches.labels[rank::world])
