"""Per-image pipelines; augmentation draws only from the ``torch.Generator`` it is handed.

A pipeline is called as ``pipeline(image, generator)``: with ``generator=None`` it applies the
deterministic evaluation transform, otherwise the training augmentation driven by that generator
(so augmented batches are reproducible whatever ``num_workers`` is).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as nnf
import torchvision.transforms.functional as tvf
from PIL import Image
from torch import Tensor

Stats = tuple[float, float, float]
Pipeline = Callable[[Any, "torch.Generator | None"], Tensor]
"""``pipeline(image, generator)``: a tensor or PIL image -> normalised ``[3, S, S]`` tensor."""


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


def _randint(generator: torch.Generator, high: int) -> int:
    """An integer in ``[0, high)``."""
    return int(torch.randint(high, (), generator=generator))


def _normalize(image: Tensor, mean: Stats, std: Stats) -> Tensor:
    """``[C, H, W]`` float in [0, 1] -> 3-channel normalised (one channel is repeated)."""
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    mean_t = torch.tensor(mean, dtype=image.dtype).view(3, 1, 1)
    std_t = torch.tensor(std, dtype=image.dtype).view(3, 1, 1)
    return (image - mean_t) / std_t


@dataclass(frozen=True)
class TensorPipeline:
    """``[C, H, W]`` uint8 or [0, 1] float tensor -> normalised ``[3, S, S]`` float tensor.

    Augmentation (only with a generator): random translation by up to ``pad_crop`` pixels
    (zero padding, then a crop back to the input size, i.e. ``RandomCrop(pad=pad_crop)``),
    then resizing to ``image_size`` if needed, then a horizontal flip if ``flip``.

    Example:
        >>> pipe = TensorPipeline(16, (0.5,) * 3, (0.25,) * 3, pad_crop=2)
        >>> pipe(torch.zeros(1, 8, 8), torch.Generator().manual_seed(0)).shape
        torch.Size([3, 16, 16])
    """

    image_size: int
    mean: Stats
    std: Stats
    pad_crop: int = 0
    flip: bool = False

    def __call__(self, image: Tensor, generator: torch.Generator | None) -> Tensor:
        image = image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
        if generator is not None and self.pad_crop > 0:
            height, width = image.shape[-2:]
            padded = nnf.pad(image, (self.pad_crop,) * 4)
            top = _randint(generator, 2 * self.pad_crop + 1)
            left = _randint(generator, 2 * self.pad_crop + 1)
            image = padded[:, top : top + height, left : left + width]
        if tuple(image.shape[-2:]) != (self.image_size, self.image_size):
            image = nnf.interpolate(
                image[None], size=(self.image_size,) * 2, mode="bilinear", antialias=True
            )[0]
        if generator is not None and self.flip and _uniform(generator, 0.0, 1.0) < 0.5:
            image = image.flip(-1)
        return _normalize(image, self.mean, self.std)


@dataclass(frozen=True)
class ImagePipeline:
    """PIL image -> normalised ``[3, S, S]`` float tensor, ImageNet style.

    Eval: ``Resize(int(S / 0.875))`` + ``CenterCrop(S)``. Train: ``RandomResizedCrop(S)``
    (scale 0.08..1, ratio 3/4..4/3, torchvision's algorithm) + horizontal flip.

    Example:
        >>> pipe = ImagePipeline(32, (0.5,) * 3, (0.25,) * 3)
        >>> pipe(Image.new("RGB", (50, 40)), None).shape
        torch.Size([3, 32, 32])
    """

    image_size: int
    mean: Stats
    std: Stats

    def __call__(self, image: Image.Image, generator: torch.Generator | None) -> Tensor:
        size = [self.image_size, self.image_size]
        if generator is None:
            image = tvf.resize(image, [int(self.image_size / 0.875)], antialias=True)
            image = tvf.center_crop(image, size)
        else:
            top, left, height, width = _resized_crop_box(image.height, image.width, generator)
            image = tvf.resized_crop(image, top, left, height, width, size, antialias=True)
            if _uniform(generator, 0.0, 1.0) < 0.5:
                image = tvf.hflip(image)
        tensor = tvf.pil_to_tensor(image).float() / 255.0
        return _normalize(tensor, self.mean, self.std)


def _resized_crop_box(
    height: int, width: int, generator: torch.Generator
) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params`` (10 tries, then a centre crop)."""
    area = height * width
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target_area = area * _uniform(generator, 0.08, 1.0)
        aspect = math.exp(_uniform(generator, *log_ratio))
        crop_w = round(math.sqrt(target_area * aspect))
        crop_h = round(math.sqrt(target_area / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = _randint(generator, height - crop_h + 1)
            left = _randint(generator, width - crop_w + 1)
            return top, left, crop_h, crop_w
    ratio = width / height
    if ratio < 3 / 4:
        crop_w, crop_h = width, round(width / (3 / 4))
    elif ratio > 4 / 3:
        crop_w, crop_h = round(height * (4 / 3)), height
    else:
        crop_w, crop_h = width, height
    return (height - crop_h) // 2, (width - crop_w) // 2, crop_h, crop_w
