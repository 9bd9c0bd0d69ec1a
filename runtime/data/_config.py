"""The typed data configuration (one Hydra ``data`` group file per dataset) and its tables."""

from __future__ import annotations

from dataclasses import dataclass

from lamoo_nas.supernet.errors import ConfigError, DatasetError

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder")
"""The names :class:`DataConfig` accepts for ``name``."""

# Per-dataset channel mean/std of pixels scaled to [0, 1] (grayscale digits: one value x 3).
NORMALIZATION: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "digits": ((0.3053, 0.3053, 0.3053), (0.3760, 0.3760, 0.3760)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),  # ImageNet statistics
}


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to load and how to batch it; validated on construction.

    ``val_fraction`` is carved out of the *training* data (stratified, ``split_seed``); the test
    split is never used by training or search. ``calib_images`` is the size of the fixed
    BN-recalibration subset (train split, eval transforms), capped at the train split's size.
    ``max_train_images`` caps the train split (stratified) for quick runs; val is unaffected.
    ``in_memory``: hold every split as one tensor (uint8 for CIFAR and image folders) and
    augment whole batches on the training device (``imagefolder`` decodes its files once into
    a cache beside the data, see :mod:`runtime.data._cache`); false keeps the per-image pipeline
    (and, for ``imagefolder``, decodes the files on every access: for data too large for memory).

    Example:
        >>> DataConfig(name="cifar10", root="data/cifar", batch_size=128).val_fraction
        0.1
    """

    name: str = "digits"
    root: str | None = None
    download: bool = False
    batch_size: int = 64
    eval_batch_size: int = 256
    num_workers: int = 0
    val_fraction: float = 0.1
    split_seed: int = 0
    calib_images: int = 512
    augment: bool = True
    max_train_images: int | None = None
    in_memory: bool = False

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise DatasetError(
                f"unknown dataset data.name={self.name!r}; allowed: {', '.join(DATASETS)}"
            )
        for field in ("batch_size", "eval_batch_size", "calib_images"):
            _require_positive(field, getattr(self, field))
        if self.max_train_images is not None:
            _require_positive("max_train_images", self.max_train_images)
        if isinstance(self.num_workers, bool) or not isinstance(self.num_workers, int):
            raise ConfigError(f"data.num_workers must be an integer >= 0, got {self.num_workers!r}")
        if self.num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {self.num_workers}")
        if not isinstance(self.in_memory, bool):
            raise ConfigError(
                f"data.in_memory must be true or false, got {self.in_memory!r}; true holds the "
                "data as one tensor and augments whole batches on the training device"
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(
                f"data.val_fraction must lie strictly between 0 and 1, got {self.val_fraction!r}; "
                "the validation split is carved out of the training data, e.g. 0.1"
            )


def _require_positive(field: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"data.{field} must be a positive integer, got {value!r}")
