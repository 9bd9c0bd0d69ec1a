"""Datasets for supernet training, search and evaluation: digits, CIFAR-10/100, ImageFolder.

Every split yields ``(float tensor [3, S, S], int label)``: grayscale repeated to 3 channels,
normalised with the dataset's mean/std, at a fixed ``image_size`` S (the largest resolution of
the search space; the training loop resizes per step). ``val`` is carved out of the training
data (stratified, ``split_seed``), the official test split is left untouched, and ``calib`` is a
fixed stratified subset of ``train`` without augmentation. Same config, same splits. When
``max_train_images`` caps the train split, the training images it leaves out are ``holdout``:
never trained on, never test, more validation images where a measurement needs them, in a
fixed order whose every prefix is class-balanced.

``in_memory=true`` holds each split as one tensor (image folders are decoded once and cached
beside the data) and batches whole: :meth:`DataBundle.eval_loader` slices and normalises,
:meth:`DataBundle.batched_train` augments on the training device. ``false`` keeps the per-image
pipeline behind a ``DataLoader`` (the digits default; image folders then read files per access).

Example:
    >>> bundle = build_data(DataConfig(name="digits"), image_size=16)
    >>> len(bundle.train) + len(bundle.val) + len(bundle.test), bundle.num_classes
    (1797, 10)
"""

from __future__ import annotations

import numpy as np

from lamoo_nas.runtime.data._bundle import DataBundle, LabelledView
from lamoo_nas.runtime.data._config import DATASETS, DataConfig
from lamoo_nas.runtime.data._sources import LOADERS
from lamoo_nas.runtime.data._spec import preprocessing_spec
from lamoo_nas.runtime.data._splits import carve, stratified_order, stratified_subset
from lamoo_nas.supernet.errors import ConfigError, DatasetError

__all__ = [
    "DATASETS",
    "DataBundle",
    "DataConfig",
    "LabelledView",
    "build_data",
    "preprocessing_spec",
]

# Independent random streams of np.random.default_rng([split_seed, stream]).
_VAL_STREAM, _CAP_STREAM, _CALIB_STREAM, _HOLDOUT_STREAM = 0, 1, 2, 3


def build_data(cfg: DataConfig, image_size: int) -> DataBundle:
    """Load ``cfg.name`` and split it into train / val / test / calib at ``image_size``.

    Raises :class:`DatasetError` for missing or empty data, :class:`ConfigError` for a bad
    ``image_size`` or a ``max_train_images`` so small that some class has no training image.

    Example:
        >>> bundle = build_data(DataConfig(name="digits", max_train_images=100), image_size=12)
        >>> len(bundle.train), bundle.train[0][0].shape
        (100, torch.Size([3, 12, 12]))
    """
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise ConfigError(
            f"image_size must be a positive integer (the space's largest resolution), "
            f"got {image_size!r}"
        )
    raw = LOADERS[cfg.name](cfg, image_size)
    if len(raw.pool_targets) < 2 or len(raw.test_targets) == 0:
        raise DatasetError(
            f"{cfg.name} has {len(raw.pool_targets)} training and {len(raw.test_targets)} test "
            "images; need at least 2 training images (to carve a validation split) and 1 test image"
        )
    targets = raw.pool_targets
    train_pos, val_pos = carve(targets, cfg.val_fraction, _rng(cfg, _VAL_STREAM))
    holdout_pos = np.empty(0, dtype=train_pos.dtype)
    if cfg.max_train_images is not None:
        keep = stratified_subset(targets[train_pos], cfg.max_train_images, _rng(cfg, _CAP_STREAM))
        holdout_pos = np.setdiff1d(train_pos, train_pos[keep])
        holdout_pos = holdout_pos[
            stratified_order(targets[holdout_pos], _rng(cfg, _HOLDOUT_STREAM))
        ]
        train_pos = train_pos[keep]
        _require_every_class(cfg, raw.class_names, targets, train_pos)
    calib_pos = train_pos[
        stratified_subset(targets[train_pos], cfg.calib_images, _rng(cfg, _CALIB_STREAM))
    ]

    def view(positions: np.ndarray, augment: bool = False) -> LabelledView:
        return LabelledView(raw.pool_images, targets, positions, raw.pipeline, augment)

    test_positions = np.arange(len(raw.test_targets))
    return DataBundle(
        train=view(train_pos, augment=cfg.augment),
        val=view(val_pos),
        test=LabelledView(raw.test_images, raw.test_targets, test_positions, raw.pipeline),
        calib=view(calib_pos),
        holdout=view(holdout_pos),
        num_classes=len(raw.class_names),
        class_names=raw.class_names,
        image_size=image_size,
        num_workers=cfg.num_workers,
        in_memory=cfg.in_memory,
    )


def _require_every_class(
    cfg: DataConfig, class_names: list[str], targets: np.ndarray, train_pos: np.ndarray
) -> None:
    """A capped train split must still hold every class (the cap is class-proportional)."""
    absent = np.setdiff1d(np.unique(targets), targets[train_pos])
    if absent.size:
        names = [class_names[int(label)] for label in absent[:5]]
        more = f" and {absent.size - 5} more" if absent.size > 5 else ""
        raise ConfigError(
            f"data.max_train_images={cfg.max_train_images} leaves no training image of "
            f"{absent.size} of the {len(class_names)} classes ({', '.join(names)}{more}); the "
            "cap keeps each class in proportion, so raise it to at least the number of classes "
            "(more for rare classes) or set it to null"
        )


def _rng(cfg: DataConfig, stream: int) -> np.random.Generator:
    return np.random.default_rng([cfg.split_seed, stream])
