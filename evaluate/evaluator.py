"""Inherited-weight accuracy of architectures taken from a trained supernet.

For each architecture: copy its weights out of the supernet (``Supernet.extract``), re-estimate
its batch-norm statistics on a fixed calibration subset of training images, and measure top-1
accuracy on the validation split carved from the training data (never the test split).

The calibration and validation batches are loaded once, kept in memory (on the evaluation
device) and resized once per resolution, so evaluating an architecture costs only its
forward passes. Results are cached by architecture, and with :meth:`persist_to` also on disk
(:mod:`evaluate.accuracy_cache`, one appended line per newly scored architecture).

Example:
    >>> evaluator = InheritedAccuracyEvaluator.from_bundle(supernet, bundle, calib_images=256)
    >>> evaluator.accuracy([space.smallest(), space.largest()])  # doctest: +SKIP
    array([0.93, 0.98])
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from lamoo_nas.evaluate.accuracy_cache import (
    AccuracyCache,
    CheckpointOrigin,
    cache_header,
    weights_fingerprint,
)
from lamoo_nas.supernet import ArchConfig, SearchSpace, recalibrate_bn, resize_to
from lamoo_nas.supernet.errors import ConfigError, DatasetError
from lamoo_nas.supernet.few_shot import AnySupernet
from lamoo_nas.train.data import DataBundle
from lamoo_nas.train.metrics import accuracy_of


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


class CachedAccuracy:
    """Accuracy by architecture, kept in memory and, with :meth:`persist_to`, on disk.

    Subclasses say how new architectures are scored (:meth:`_score_new`: here, in worker
    processes, on Ray actors) and what the accuracies are measured with (:meth:`identity`).
    """

    space: SearchSpace

    def __init__(self) -> None:
        self.cache: dict[ArchConfig, float] = {}
        self.seconds_per_eval: list[float] = []
        self._store: AccuracyCache | None = None

    def identity(self) -> dict[str, Any]:
        raise NotImplementedError

    def _score_new(self, archs: list[ArchConfig]) -> None:
        """Score ``archs`` (none of them cached), calling :meth:`_record` for each."""
        raise NotImplementedError

    def persist_to(self, path: str | Path) -> None:
        """Load the accuracies ``path`` holds and append every newly scored one to it; raises
        :class:`evaluate.errors.AccuracyCacheMismatchError` if it was written by an evaluator
        of another supernet or other data."""
        store = AccuracyCache(path, self.identity(), self.space)
        for arch, accuracy in store.load().items():
            self.cache.setdefault(arch, accuracy)
        self._store = store

    def accuracy(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """Validation accuracy in [0, 1] of each architecture, shape (len(archs),)."""
        new = list(dict.fromkeys(arch for arch in archs if arch not in self.cache))
        if new:
            self._score_new(new)
        return np.array([self.cache[arch] for arch in archs], dtype=np.float64)

    def _record(self, arch: ArchConfig, accuracy: float, seconds: float) -> None:
        self.cache[arch] = accuracy
        self.seconds_per_eval.append(seconds)
        if self._store is not None:  # at once: a kill loses at most the ones in flight
            self._store.append(arch, accuracy)


class InheritedAccuracyEvaluator(CachedAccuracy):
    """Top-1 validation accuracy of supernet subnets after BN recalibration, cached.

    On several processes (``torch.distributed`` initialised), each rank scores its own shard
    of the validation batches and the correct counts are summed across ranks
    (:meth:`train.metrics.TopK.reduce`). ``origin`` says which checkpoint the supernet was
    loaded from; it goes into the header of the on-disk cache (:meth:`persist_to`).
    """

    def __init__(
        self,
        supernet: AnySupernet,
        calib_loader: Iterable,
        val_loader: Iterable,
        calib_images: int,
        device: torch.device | str = "cpu",
        origin: CheckpointOrigin | None = None,
    ) -> None:
        if isinstance(calib_images, bool) or not isinstance(calib_images, int) or calib_images < 1:
            raise ConfigError(f"calib_images must be a positive integer, got {calib_images!r}")
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device).eval()
        self.origin = origin
        self.calib = _collect(calib_loader, calib_images, self.device)
        val = _collect(val_loader, None, self.device)
        self.val_images = val.num_images  # over all ranks
        self.val = _shard(val)
        self.space = supernet.space
        super().__init__()

    @classmethod
    def from_bundle(
        cls,
        supernet: AnySupernet,
        bundle: DataBundle,
        calib_images: int,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
        origin: CheckpointOrigin | None = None,
    ) -> InheritedAccuracyEvaluator:
        """Build from a :class:`train.data.DataBundle` (its calib and val splits)."""
        return cls(
            supernet,
            bundle.eval_loader("calib", batch_size),
            bundle.eval_loader("val", batch_size),
            calib_images,
            device,
            origin,
        )

    def identity(self) -> dict[str, Any]:
        """What the accuracies are measured with: space, checkpoint, weights and image counts
        (the header of the on-disk cache)."""
        weights = weights_fingerprint(self.supernet)
        space = self.supernet.space
        return cache_header(space, self.origin, weights, self.calib.num_images, self.val_images)

    def _score_new(self, archs: list[ArchConfig]) -> None:
        for arch in archs:
            accuracy, seconds = self.timed_score(arch)
            self._record(arch, accuracy, seconds)

    def timed_score(self, arch: ArchConfig) -> tuple[float, float]:
        """Accuracy of ``arch`` (not cached) and the seconds it took."""
        start = time.perf_counter()
        accuracy = self._score(arch)
        return accuracy, time.perf_counter() - start

    def subnet(self, arch: ArchConfig) -> nn.Module:
        """The static subnet of ``arch`` with recalibrated BN statistics, in eval mode."""
        net = self.supernet.extract(arch).to(self.device)
        calib = self.calib.at(arch.resolution)
        return recalibrate_bn(net, calib, self.calib.num_images)

    @torch.no_grad()
    def _score(self, arch: ArchConfig) -> float:
        """Top-1 over this rank's validation shard, counts summed over the ranks."""
        batches = zip(self.val.at(arch.resolution), self.val.labels)
        return accuracy_of(self.subnet(arch), batches, self.device, reduce=True).fraction(1)


def _shard(batches: _Batches) -> _Batches:
    """This rank's share of the validation batches (all of them without distribution)."""
    if not (dist.is_available() and dist.is_initialized()):
        return batches
    rank, world = dist.get_rank(), dist.get_world_size()
    return _Batches(batches.images[rank::world], batches.labels[rank::world])
