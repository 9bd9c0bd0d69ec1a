"""Batched augmentation of in-memory images: whole batches at once, on the training device.

:class:`BatchPipeline` is the batched twin of :class:`~runtime.data._transforms.TensorPipeline`:
the same RandomCrop(padding) translation and horizontal flip, the same resize and
normalisation, but for a ``[B, C, H, W]`` batch in one gather (no Python loop per image). Its
randomness is drawn up front, one row of parameters per image, from a ``torch.Generator`` on the
CPU and then moved to the device, so a batch is the same on every device and does not depend on
which other images share it or on which batches ran before.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor

from lamoo_nas.runtime.data._transforms import Stats, TensorPipeline
from lamoo_nas.supernet.errors import ConfigError

Batch = tuple[Tensor, Tensor]

_TOP, _LEFT, _FLIP = 0, 1, 2  # columns of the per-image augmentation parameters


@dataclass(frozen=True)
class BatchPipeline:
    """``[B, C, H, W]`` uint8 (or [0, 1] float) batch -> normalised ``[B, 3, S, S]`` float batch.

    ``pipeline(images)`` is the evaluation transform (normalise, then resize to ``image_size``
    if needed; equal to the per-image pipeline up to float rounding); ``pipeline(images,
    params)`` first applies each image's row of ``params`` (from
    :meth:`draw`): a translation by up to ``pad_crop`` pixels (zero padding, then a crop back to
    ``H x W``) and, if ``flip``, a horizontal flip.

    Example:
        >>> pipe = BatchPipeline(16, (0.5,) * 3, (0.25,) * 3, pad_crop=2, flip=True)
        >>> params = pipe.draw(4, torch.Generator().manual_seed(0))
        >>> pipe(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), params).shape
        torch.Size([4, 3, 16, 16])
    """

    image_size: int
    mean: Stats
    std: Stats
    pad_crop: int = 0
    flip: bool = False

    @classmethod
    def like(cls, pipeline: TensorPipeline) -> BatchPipeline:
        """The batched transform with the settings of a per-image ``pipeline``."""
        return cls(
            pipeline.image_size, pipeline.mean, pipeline.std, pipeline.pad_crop, pipeline.flip
        )

    def draw(self, num_images: int, generator: torch.Generator) -> Tensor:
        """Augmentation parameters of ``num_images`` images: int64 ``[N, 3]`` (top, left, flip)."""
        offsets = torch.randint(2 * self.pad_crop + 1, (num_images, 2), generator=generator)
        flips = (
            torch.randint(2, (num_images, 1), generator=generator)
            if self.flip
            else torch.zeros(num_images, 1, dtype=torch.int64)
        )
        return torch.cat([offsets, flips], dim=1)

    def __call__(self, images: Tensor, params: Tensor | None = None) -> Tensor:
        if params is not None:
            images = self._crop_flip(images, params)
        # (x / 255 - mean) / std as one multiply-add; [B, 1, H, W] broadcasts to 3 channels
        scale, shift = self._affine[images.dtype == torch.uint8]
        x = (images * scale.to(images.device)).add_(shift.to(images.device))
        size = (self.image_size, self.image_size)
        if tuple(x.shape[-2:]) != size:  # bilinear resizing commutes with the affine map
            x = nnf.interpolate(x, size=size, mode="bilinear", antialias=True)
        return x

    @cached_property
    def _affine(self) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """``(scale, shift)`` ``[1, 3, 1, 1]`` of [0, 1] floats (index 0) and uint8 (index 1)."""
        mean = torch.tensor(self.mean, dtype=torch.float64).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float64).view(1, 3, 1, 1)
        shift = (-mean / std).float()
        return ((1.0 / std).float(), shift), ((1.0 / (255.0 * std)).float(), shift)

    def _crop_flip(self, images: Tensor, params: Tensor) -> Tensor:
        """One gather from the zero-padded batch: pixel (i, j) of image b comes from padded
        (top_b + i, left_b + j), or (top_b + i, left_b + W - 1 - j) when b is flipped."""
        batch, channels, height, width = images.shape
        pad = self.pad_crop
        padded = nnf.pad(images, (pad, pad, pad, pad)) if pad > 0 else images
        offsets = _crop_offsets(height, width, width + 2 * pad, images.device)
        start = params[:, _TOP] * (width + 2 * pad) + params[:, _LEFT]
        flat = offsets.index_select(0, params[:, _FLIP]).add_(start[:, None])  # [B, H * W]
        flat = flat.view(batch, 1, height * width).expand(batch, channels, -1)
        return padded.flatten(2).gather(2, flat).view(batch, channels, height, width)


@lru_cache(maxsize=16)
def _crop_offsets(height: int, width: int, padded_width: int, device: torch.device) -> Tensor:
    """Flat offsets ``[2, H * W]`` of an ``H x W`` crop at (0, 0) of a padded image: row 0 as
    it is, row 1 mirrored left to right."""
    rows = torch.arange(height, device=device)[:, None] * padded_width
    j = torch.arange(width, device=device)
    return torch.stack([rows + j, rows + (width - 1 - j)]).view(2, height * width)


class TrainBatches:
    """The train split held on one device, cut into augmented batches by :meth:`batches`.

    ``images`` ``[N, C, H, W]`` and int64 ``labels`` ``[N]`` are moved to ``device`` once;
    indices of :meth:`batches` are positions ``0..N-1`` of the split.

    Example:
        >>> source = bundle.batched_train(torch.device("cpu"))  # doctest: +SKIP
        >>> params = source.draw(torch.Generator().manual_seed(0))  # doctest: +SKIP
        >>> x, y = next(source.batches(range(64), 32, params))  # doctest: +SKIP
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        pipeline: BatchPipeline,
        augment: bool,
        device: torch.device,
    ) -> None:
        self.device = device
        self.images = images.to(device)
        self.labels = labels.to(device)
        self.pipeline = pipeline
        self.augment = augment

    def __len__(self) -> int:
        return len(self.images)

    def draw(self, generator: torch.Generator) -> Tensor | None:
        """One epoch's augmentation parameters, one row per image (None without augmentation)."""
        if not self.augment:
            return None
        return self.pipeline.draw(len(self), generator).to(self.device)

    def batches(
        self, order: Sequence[int], batch_size: int, params: Tensor | None
    ) -> Iterator[Batch]:
        """``(images [B, 3, S, S] float, labels [B] int64)`` on the device, ``order`` in chunks
        of ``batch_size`` (the last one may be shorter); image ``k`` uses row ``k`` of
        ``params``."""
        _require_batch_size(batch_size)
        index = torch.as_tensor(list(order), dtype=torch.int64).to(self.device)
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            rows = None if params is None else params.index_select(0, chunk)
            yield (
                self.pipeline(self.images.index_select(0, chunk), rows),
                self.labels.index_select(0, chunk),
            )


class EvalBatches:
    """Fixed-order, unaugmented batches of in-memory images: slicing plus :class:`BatchPipeline`.

    Iterates ``(images [B, 3, S, S] float, labels [B] int64)`` over ``images[positions]`` on the
    CPU, like a ``DataLoader(view, batch_size, shuffle=False)`` does, with a ``len``.
    """

    def __init__(
        self,
        images: Tensor,
        positions: np.ndarray,
        targets: np.ndarray,
        pipeline: BatchPipeline,
        batch_size: int,
    ) -> None:
        _require_batch_size(batch_size)
        self.images = images
        self.positions = torch.as_tensor(np.asarray(positions, dtype=np.int64))
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.int64))
        self.pipeline = pipeline
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.positions) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        for start in range(0, len(self.positions), self.batch_size):
            stop = start + self.batch_size
            images = self.images.index_select(0, self.positions[start:stop])
            yield self.pipeline(images), self.targets[start:stop]


def _require_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
