"""Loaders of raw images per dataset: each returns a :class:`RawData` (pool + official test).

The *pool* is the data the train/val/calib splits are carved from; ``test`` is kept untouched.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import Tensor

from lamoo_nas.runtime.data._cache import decoded_images, stored_size
from lamoo_nas.runtime.data._config import NORMALIZATION, DataConfig
from lamoo_nas.runtime.data._files import class_folders, read_rgb, require_two_per_class, scan
from lamoo_nas.runtime.data._splits import carve
from lamoo_nas.runtime.data._transforms import ImagePipeline, Pipeline, TensorPipeline
from lamoo_nas.supernet.errors import DatasetError

DIGITS_TEST_FRACTION = 0.15
"""scikit-learn's digits have no official test split: 15% (stratified) is carved once..."""
DIGITS_TEST_SEED = 20_240_601
"""...with this fixed seed, independent of ``split_seed``, so the test split never moves."""

IMAGEFOLDER_LAYOUT = (
    "expected ROOT/train/<class>/<image> and ROOT/val/<class>/<image> (or ROOT/test/...), "
    "e.g. `python ../shared/tools/cifar10_imagefolder.py ROOT` writes that layout"
)


class TensorImages:
    """Images held in memory as one ``[N, C, H, W]`` tensor, indexed one at a time."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


class FileImages:
    """Image files read as RGB PIL images on access (grayscale files become 3 channels).

    A file that cannot be decoded raises :class:`DatasetError` naming it (also from inside a
    ``DataLoader`` worker, which re-raises it with the worker's traceback).
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Any:
        return read_rgb(self.paths[index])


@dataclass(frozen=True)
class RawData:
    """Un-split images of one dataset plus the pipeline that turns them into tensors."""

    pool_images: TensorImages | FileImages
    pool_targets: np.ndarray
    test_images: TensorImages | FileImages
    test_targets: np.ndarray
    class_names: list[str]
    pipeline: Pipeline


def load_digits(cfg: DataConfig, image_size: int) -> RawData:
    """scikit-learn's 1,797 8x8 digits, resized (bilinear) to ``image_size`` once, in memory.

    Kept as one channel (repeated to 3 per sample): ``1797 * image_size**2 * 4`` bytes, e.g.
    1.8 MB at 16 px, 360 MB at 224 px (building then takes about half a second).
    """
    pixels_8x8, targets = read_digits()
    pixels = torch.as_tensor(pixels_8x8, dtype=torch.float32).unsqueeze(1) / 16.0
    images = nnf.interpolate(pixels, size=(image_size, image_size), mode="bilinear")
    pool, test = carve(targets, DIGITS_TEST_FRACTION, np.random.default_rng(DIGITS_TEST_SEED))
    mean, std = NORMALIZATION["digits"]
    return RawData(
        pool_images=TensorImages(images[torch.from_numpy(pool)]),
        pool_targets=targets[pool],
        test_images=TensorImages(images[torch.from_numpy(test)]),
        test_targets=targets[test],
        class_names=[str(label) for label in range(10)],
        pipeline=TensorPipeline(image_size, mean, std, pad_crop=max(1, image_size // 8)),
    )


def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits as ``(uint8 [1797, 8, 8] in 0..16, int64 [1797] labels)``.

    Reads scikit-learn's bundled ``digits.csv.gz`` directly: importing ``sklearn.datasets``
    (what :func:`sklearn.datasets.load_digits` needs) alone takes most of a second. The
    tests check that both give the same arrays; without the file it falls back to the import.
    """
    spec = importlib.util.find_spec("sklearn")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    csv = next((Path(f, "datasets", "data", "digits.csv.gz") for f in folders), None)
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.int64)
        pixels, targets = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits as sklearn_digits

        digits = sklearn_digits()
        pixels, targets = digits.data, digits.target
    return pixels.reshape(-1, 8, 8).astype(np.uint8), targets.astype(np.int64)


def load_cifar(cfg: DataConfig, image_size: int) -> RawData:
    """torchvision's CIFAR-10/100 under ``cfg.root``; test = the official 10,000 test images."""
    from torchvision.datasets import CIFAR10, CIFAR100

    kind = CIFAR10 if cfg.name == "cifar10" else CIFAR100
    hint = (
        f"pass data.download=true to let torchvision fetch it, or point data.root at the folder "
        f"that holds the extracted {cfg.name} batches"
    )
    if cfg.root is None:
        raise DatasetError(f"data.root is not set for {cfg.name}; {hint}")
    try:
        train = kind(cfg.root, train=True, download=cfg.download)
        test = kind(cfg.root, train=False, download=cfg.download)
    except (RuntimeError, OSError) as err:
        raise DatasetError(
            f"{cfg.name} not found or unreadable under {cfg.root!r} ({err}); {hint}"
        ) from err
    mean, std = NORMALIZATION[cfg.name]

    def images(split: Any) -> TensorImages:  # uint8 [N, 32, 32, 3] -> [N, 3, 32, 32]
        return TensorImages(torch.from_numpy(split.data).permute(0, 3, 1, 2))

    return RawData(
        pool_images=images(train),
        pool_targets=np.asarray(train.targets, dtype=np.int64),
        test_images=images(test),
        test_targets=np.asarray(test.targets, dtype=np.int64),
        class_names=list(train.classes),
        pipeline=TensorPipeline(image_size, mean, std, pad_crop=4, flip=True),
    )


def load_imagefolder(cfg: DataConfig, image_size: int) -> RawData:
    """``root/train/<class>/*`` is the pool; ``root/val/`` (or ``root/test/``) is the test set.

    ``in_memory=false``: files are decoded on every access, ImageNet-style transforms
    (:class:`ImagePipeline`). ``in_memory=true``: both splits are decoded once into uint8
    tensors at :func:`~runtime.data._cache.stored_size` (cached beside the data, see
    :mod:`runtime.data._cache`) and get CIFAR-style transforms (:class:`TensorPipeline`:
    RandomCrop with ``S // 8`` pixels of padding, 4 at 32 x 32, plus a horizontal flip).

    Raises :class:`DatasetError` for a missing folder, fewer than two class folders in
    ``train/``, a class folder without images, a ``train/`` class with a single image (it could
    not be in both train and val) and test classes that ``train/`` lacks; which files count is
    in :mod:`runtime.data._files` (hidden names are skipped).
    """
    if cfg.root is None:
        raise DatasetError(f"data.root is not set for imagefolder; {IMAGEFOLDER_LAYOUT}")
    root = Path(cfg.root)
    train_dir = root / "train"
    test_dir = next((root / d for d in ("val", "test") if (root / d).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        missing = train_dir if not train_dir.is_dir() else root / "val"
        raise DatasetError(f"imagefolder: no folder {str(missing)!r}; {IMAGEFOLDER_LAYOUT}")
    class_names = class_folders(train_dir)
    if len(class_names) < 2:
        raise DatasetError(
            f"imagefolder: {str(train_dir)!r} has one class folder, {class_names[0]!r}; at "
            "least two class folders are needed (one per class; with a single class every "
            f"prediction is trivially right); {IMAGEFOLDER_LAYOUT}"
        )
    class_to_idx = {name: i for i, name in enumerate(class_names)}
    pool_paths, pool_targets = scan(train_dir, class_to_idx)
    require_two_per_class(train_dir, class_names, pool_targets)
    test_classes = class_folders(test_dir)
    unknown = sorted(set(test_classes) - set(class_names))
    if unknown:
        raise DatasetError(
            f"imagefolder: {str(test_dir)!r} has classes that {str(train_dir)!r} lacks: {unknown}"
        )
    test_paths, test_targets = scan(test_dir, {c: class_to_idx[c] for c in test_classes})
    mean, std = NORMALIZATION["imagefolder"]
    if cfg.in_memory:
        size = stored_size(pool_paths[0], image_size)
        return RawData(
            pool_images=TensorImages(decoded_images(pool_paths, root, size)),
            pool_targets=pool_targets,
            test_images=TensorImages(decoded_images(test_paths, root, size)),
            test_targets=test_targets,
            class_names=class_names,
            pipeline=TensorPipeline(image_size, mean, std, pad_crop=max(1, size // 8), flip=True),
        )
    return RawData(
        pool_images=FileImages(pool_paths),
        pool_targets=pool_targets,
        test_images=FileImages(test_paths),
        test_targets=test_targets,
        class_names=class_names,
        pipeline=ImagePipeline(image_size, mean, std),
    )


LOADERS: dict[str, Callable[[DataConfig, int], RawData]] = {
    "digits": load_digits,
    "cifar10": load_cifar,
    "cifar100": load_cifar,
    "imagefolder": load_imagefolder,
}
