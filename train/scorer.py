"""The inherited-accuracy scorer: the one rule behind every number called "inherited accuracy"
(training's per-epoch ``val_acc_*``, the search's evaluator, ``nas-evaluate supernet=...``).

For an architecture ``arch`` of a (few-shot) supernet:

1. extract its static subnet (copies of the shared weights; the supernet is not touched, and
   the global torch RNG is left as it was);
2. re-estimate its BN statistics (:func:`supernet.bn.recalibrate_bn`) on the first
   ``calib_images`` images of the calibration batches, in their fixed order;
3. count top-k hits over the evaluation batches.

Images arrive at the data's resolution (the bundle is built once, at the space's largest
resolution, as the supernet saw them in training) and every batch is resized to
``arch.resolution`` with :func:`supernet.resize_to`, as the training step resizes; data is
never rebuilt per architecture. The accuracy is correct / total over the whole evaluation
split: with ``shard=True`` (every rank of a ``torch.distributed`` group calls the scorer) rank
``r`` of ``w`` counts the batches ``r, r + w, ...`` and the counts are summed over the ranks,
which gives the same fraction as one process counting all of them.

Batches either stay on the device once read (:class:`CachedBatches`, for the search, which
scores thousands of architectures) or are read anew on each call (:class:`StreamedBatches`,
for training, whose validation runs once an epoch); both give the same numbers.

Example:
    >>> scorer = InheritedScorer.from_bundle(bundle, "val", calib_images=256)  # doctest: +SKIP
    >>> scorer.accuracy(supernet, space.smallest())  # doctest: +SKIP
    0.93
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.distributed as dist
from torch import Tensor, nn

from lamoo_nas.runtime.data import DataBundle
from lamoo_nas.runtime.metrics import TopK, accuracy_of
from lamoo_nas.supernet.bn import recalibrate_bn
from lamoo_nas.supernet.errors import ConfigError, DatasetError
from lamoo_nas.supernet.few_shot import AnySupernet
from lamoo_nas.supernet.model import resize_to
from lamoo_nas.supernet.space import ArchConfig

Batch = tuple[Tensor, Tensor]


class ImageBatches(Protocol):
    """(images, labels) batches in a fixed order, resized to any resolution on request."""

    def at(self, resolution: int) -> Iterable[Batch]:
        """The batches with images resized to ``(N, C, resolution, resolution)``."""
        ...

    def shard(self, rank: int, world: int) -> ImageBatches:
        """The batches ``rank, rank + world, ...`` (this rank's share)."""
        ...


@dataclass
class CachedBatches:
    """Batches kept on the evaluation device, with one resized copy per resolution."""

    images: list[Tensor]
    labels: list[Tensor]
    resized: dict[int, list[Tensor]] = field(default_factory=dict)

    @classmethod
    def collect(
        cls, loader: Iterable[Batch], max_images: int | None, device: torch.device
    ) -> CachedBatches:
        """Read ``loader`` once (its first ``max_images`` images; None: all) onto ``device``."""
        with torch.random.fork_rng(devices=[]):  # data loaders draw base seeds
            images, labels = _read(loader, max_images, device)
        batches = cls(images, labels)
        if batches.num_images == 0:
            raise DatasetError("the evaluation loader yielded no images; check the dataset split")
        return batches

    @property
    def num_images(self) -> int:
        return sum(int(x.shape[0]) for x in self.images)

    def at(self, resolution: int) -> list[Batch]:
        if resolution not in self.resized:
            self.resized[resolution] = [resize_to(x, resolution) for x in self.images]
        return list(zip(self.resized[resolution], self.labels))

    def shard(self, rank: int, world: int) -> CachedBatches:
        return CachedBatches(self.images[rank::world], self.labels[rank::world])


@dataclass(frozen=True)
class StreamedBatches:
    """Batches read anew from ``loader()`` on each call, moved to ``device`` and resized."""

    loader: Callable[[], Iterable[Batch]]
    device: torch.device
    rank: int = 0
    world: int = 1

    def at(self, resolution: int) -> Iterator[Batch]:
        for i, (x, y) in enumerate(self.loader()):
            if i % self.world == self.rank:
                yield resize_to(x.to(self.device), resolution), y.to(self.device)

    def shard(self, rank: int, world: int) -> StreamedBatches:
        return StreamedBatches(self.loader, self.device, rank, world)


class InheritedScorer:
    """Inherited-weight accuracy of supernet architectures by the rule of the module docstring.

    ``calib`` and ``val`` hold the calibration and evaluation batches at the data's resolution;
    ``calib_images`` (positive) caps the calibration images. ``shard=True`` only where every
    rank of the process group calls the scorer (the search); training scores on rank 0 alone.
    """

    def __init__(
        self,
        calib: ImageBatches,
        val: ImageBatches,
        calib_images: int,
        device: torch.device | str = "cpu",
        shard: bool = False,
    ) -> None:
        check_calib_images(calib_images)
        self.calib = calib
        self.calib_images = calib_images
        self.device = torch.device(device)
        self.shard = shard and dist.is_available() and dist.is_initialized()
        self.val = val.shard(dist.get_rank(), dist.get_world_size()) if self.shard else val

    @classmethod
    def from_bundle(
        cls,
        bundle: DataBundle,
        split: str,
        calib_images: int,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
        cached: bool = True,
        shard: bool = False,
    ) -> InheritedScorer:
        """Calibrate on ``bundle``'s calib split, score on its ``split``, ``batch_size`` images
        a batch; ``cached`` keeps both on ``device`` after the first read."""
        check_calib_images(calib_images)
        device = torch.device(device)
        calib_loader = _split_loader(bundle, "calib", batch_size)
        val_loader = _split_loader(bundle, split, batch_size)
        if cached:
            calib: ImageBatches = CachedBatches.collect(calib_loader(), calib_images, device)
            val: ImageBatches = CachedBatches.collect(val_loader(), None, device)
        else:
            calib, val = StreamedBatches(calib_loader, device), StreamedBatches(val_loader, device)
        return cls(calib, val, calib_images, device, shard)

    @torch.no_grad()
    def subnet(self, supernet: AnySupernet, arch: ArchConfig) -> nn.Module:
        """The static subnet of ``arch`` with recalibrated BN statistics, in eval mode."""
        # building modules draws initial weights, data loaders draw base seeds: forked
        with torch.random.fork_rng(devices=[]):
            net = supernet.extract(arch).to(self.device)
            images = (x for x, _ in self.calib.at(arch.resolution))
            return recalibrate_bn(net, images, self.calib_images)

    @torch.no_grad()
    def count(self, net: nn.Module, resolution: int, ks: tuple[int, ...] = (1,)) -> TopK:
        """Top-k hits of ``net`` over the evaluation batches at ``resolution`` (summed over the
        ranks when sharded)."""
        with torch.random.fork_rng(devices=[]):
            return accuracy_of(net, self.val.at(resolution), self.device, ks, reduce=self.shard)

    def accuracy(self, supernet: AnySupernet, arch: ArchConfig) -> float:
        """Top-1 inherited accuracy of ``arch`` in [0, 1]."""
        return self.count(self.subnet(supernet, arch), arch.resolution).fraction(1)


def _read(
    loader: Iterable[Batch], max_images: int | None, device: torch.device
) -> tuple[list[Tensor], list[Tensor]]:
    """The batches of ``loader`` on ``device``, up to ``max_images`` images (None: all)."""
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
    return images, labels


def check_calib_images(calib_images: int) -> None:
    """Raise :class:`ConfigError` unless ``calib_images`` is a positive integer."""
    if isinstance(calib_images, bool) or not isinstance(calib_images, int) or calib_images < 1:
        raise ConfigError(f"calib_images must be a positive integer, got {calib_images!r}")


def _split_loader(bundle: DataBundle, split: str, batch_size: int) -> Callable[[], Iterable[Batch]]:
    """A function giving fresh fixed-order batches of ``bundle``'s ``split``."""

    def loader() -> Iterable[Batch]:
        return bundle.eval_loader(split, batch_size)

    return loader
