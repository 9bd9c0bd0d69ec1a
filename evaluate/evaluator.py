"""Inherited-weight accuracy of architectures taken from a trained supernet.

For each architecture: copy its weights out of the supernet (``Supernet.extract``), re-estimate
its batch-norm statistics on a fixed calibration subset of training images, and measure top-1
accuracy on the validation split carved from the training data (never the test split), by the
one rule of :mod:`train.scorer`.

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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lamoo_nas.evaluate.accuracy_cache import (
    AccuracyCache,
    CheckpointOrigin,
    cache_header,
    weights_fingerprint,
)
from lamoo_nas.runtime.data import DataBundle
from lamoo_nas.supernet import ArchConfig, SearchSpace
from lamoo_nas.supernet.few_shot import AnySupernet
from lamoo_nas.train.scorer import CachedBatches, InheritedScorer, check_calib_images


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

    Scored by :class:`train.scorer.InheritedScorer` (the rule training's validation and
    ``nas-evaluate`` use), with the batches kept on ``device``. On several processes
    (``torch.distributed`` initialised), each rank scores its own shard of the validation
    batches and the correct counts are summed across ranks. ``origin`` says which checkpoint
    the supernet was loaded from; it goes into the header of the on-disk cache
    (:meth:`persist_to`).
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
        check_calib_images(calib_images)
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device).eval()
        self.origin = origin
        calib = CachedBatches.collect(calib_loader, calib_images, self.device)
        val = CachedBatches.collect(val_loader, None, self.device)
        self.calib_images = calib.num_images  # read: at most the calib_images asked for
        self.val_images = val.num_images  # over all ranks
        self.scorer = InheritedScorer(calib, val, calib_images, self.device, shard=True)
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
        """Build from a :class:`runtime.data.DataBundle` (its calib and val splits)."""
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
        return cache_header(space, self.origin, weights, self.calib_images, self.val_images)

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
        return self.scorer.subnet(self.supernet, arch)

    def _score(self, arch: ArchConfig) -> float:
        """Top-1 over this rank's validation shard, counts summed over the ranks."""
        return self.scorer.accuracy(self.supernet, arch)
