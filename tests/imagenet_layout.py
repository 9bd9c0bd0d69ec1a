"""A tiny ImageNet-layout folder written by the tests: ``root/train/<class>/*.png`` (train and
the carved validation split) and ``root/val/<class>/*.png`` (the test split), like ImageNet's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_imagenet_layout(
    root: Path, num_classes: int = 3, train_per_class: int = 8, val_per_class: int = 2,
    size: int = 40, seed: int = 0,
) -> Path:  # fmt: skip
    """Noisy images whose mean colour depends on the class (WordNet-style folder names)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for label in range(num_classes):
            folder = root / split / f"n{label:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            colour = rng.integers(0, 256, 3)
            for i in range(count):
                noise = rng.normal(0, 40, (size, size, 3))
                pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"img_{i}.png")
    return root
