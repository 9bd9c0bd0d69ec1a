"""How an image becomes a model input, as plain data that an export carries.

An exported model must be usable without this project: :func:`preprocessing_spec` writes down
the evaluation transform of the data it was trained on (colour mode, resize, crop, scaling,
normalisation), the class names and the data config itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from lamoo_nas.runtime.data._config import NORMALIZATION, DataConfig

IMAGENET_CROP_FRACTION = 0.875
"""The per-image ImageFolder path evaluates ``Resize(S / 0.875)`` then ``CenterCrop(S)``."""


def preprocessing_spec(
    cfg: DataConfig, class_names: Sequence[str], image_size: int
) -> dict[str, Any]:
    """The evaluation transform of ``cfg`` at ``image_size`` as a JSON-able dict.

    Keys: ``dataset``, ``class_names``, ``color`` (PIL mode, ``"L"`` for the grayscale digits,
    repeated to 3 channels), ``resize_shorter_side`` (bilinear, antialiased), ``center_crop``,
    ``scale`` (pixel multiplier before normalising), ``mean``, ``std`` (per channel, after
    scaling) and ``data_config``.

    Example:
        >>> preprocessing_spec(DataConfig(name="cifar10"), ["cat"], 32)["resize_shorter_side"]
        32
    """
    mean, std = NORMALIZATION[cfg.name]
    per_image_folder = cfg.name == "imagefolder" and not cfg.in_memory
    resize = int(image_size / IMAGENET_CROP_FRACTION) if per_image_folder else image_size
    return {
        "dataset": cfg.name,
        "class_names": [str(name) for name in class_names],
        "color": "L" if cfg.name == "digits" else "RGB",
        "resize_shorter_side": resize,
        "center_crop": image_size,
        "scale": 1.0 / 255.0,
        "mean": list(mean),
        "std": list(std),
        "data_config": asdict(cfg),
    }
