"""Split views over raw images, the seeded train sampler and :class:`DataBundle`."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler, Sampler

from lamoo_nas.runtime.data._batched import BatchPipeline, EvalBatches, TrainBatches
from lamoo_nas.runtime.data._sources import FileImages, TensorImages
from lamoo_nas.runtime.data._transforms import Pipeline, TensorPipeline
from lamoo_nas.supernet.errors import DatasetError

EVAL_SPLITS = ("val", "test", "calib", "holdout")
_EMPTY_HINTS = {
    "val": "it is carved out of the training data, data.val_fraction of each class",
    "test": "it is the dataset's test split (ROOT/val or ROOT/test for an image folder)",
    "calib": "it is data.calib_images images of the train split",
    "holdout": (
        "holdout images are the training images that data.max_train_images leaves out of the "
        "train split; set it below the train split's size to have some"
    ),
}

Sample = tuple[Tensor, int]


class LabelledView(Dataset[Sample]):
    """The images at ``positions`` of ``images``, as ``(tensor [3, S, S], label)`` pairs.

    ``view[i]`` applies the evaluation transform. ``view[(i, seed)]`` applies the training
    augmentation drawn from ``torch.Generator().manual_seed(seed)`` when ``augment`` is true
    (this is what :meth:`DataBundle.train_loader` asks for), the evaluation transform otherwise.

    Example:
        >>> from runtime.data import DataConfig, build_data
        >>> bundle = build_data(DataConfig(max_train_images=50), image_size=16)
        >>> x, y = bundle.train[0]; x.shape == (3, bundle.image_size, bundle.image_size)
        True
    """

    def __init__(
        self,
        images: TensorImages | FileImages,
        targets: np.ndarray,
        positions: np.ndarray,
        pipeline: Pipeline,
        augment: bool = False,
    ) -> None:
        self.images = images
        self.positions = positions
        self.targets = targets[positions]  # labels of this view, in order
        self.pipeline = pipeline
        self.augment = augment

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int | tuple[int, int]) -> Sample:
        generator = None
        if isinstance(index, tuple):
            index, seed = index
            if self.augment:
                generator = torch.Generator().manual_seed(int(seed))
        image = self.images[int(self.positions[index])]
        return self.pipeline(image, generator), int(self.targets[index])


class SeededSampler(Sampler[tuple[int, int]]):
    """Pairs each index of ``base`` with an augmentation seed drawn from ``generator``."""

    def __init__(self, base: Sampler[int], generator: torch.Generator) -> None:
        self.base = base
        self.generator = generator

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = list(self.base)
        seeds = torch.randint(2**62, (len(indices),), generator=self.generator).tolist()
        return iter(zip(indices, seeds))

    def __len__(self) -> int:
        return len(self.base) if isinstance(self.base, Sized) else 0


@dataclass
class DataBundle:
    """The four splits of one dataset at a fixed ``image_size``, and loaders over them.

    ``train`` (augmented through :meth:`train_loader`), ``val`` (carved from the training data,
    for search), ``test`` (never used by training or search) and ``calib`` (a fixed subset of
    ``train`` with evaluation transforms, for BN recalibration). With ``in_memory``,
    :meth:`eval_loader` slices and normalises whole batches of the in-memory images, and the
    supernet trainer takes its batches from :meth:`batched_train`.

    Example:
        >>> from runtime.data import DataConfig, build_data
        >>> bundle = build_data(DataConfig(), image_size=16)
        >>> xb, yb = next(iter(bundle.train_loader(32, torch.Generator().manual_seed(0))))
        >>> xb.shape
        torch.Size([32, 3, 16, 16])
    """

    train: LabelledView
    val: LabelledView
    test: LabelledView
    calib: LabelledView
    num_classes: int
    class_names: list[str]
    image_size: int
    num_workers: int = 0
    in_memory: bool = False
    holdout: LabelledView | None = None

    def train_loader(
        self, batch_size: int, generator: torch.Generator, sampler: Sampler[int] | None = None
    ) -> DataLoader[Any]:
        """Shuffled (by ``generator`` only, unless ``sampler`` is given), augmented batches.

        Augmentation seeds are drawn from ``generator`` too, so the batches are reproducible
        whatever ``num_workers`` is. Incomplete last batches are dropped (BatchNorm in train
        mode needs more than one sample) unless the split is smaller than one batch.
        """
        base = sampler if sampler is not None else RandomSampler(self.train, generator=generator)
        seeded = SeededSampler(base, generator)
        return DataLoader(
            self.train,
            batch_size=batch_size,
            sampler=seeded,
            drop_last=len(seeded) >= batch_size,
            generator=generator,
            **self._worker_options(),
        )

    def eval_loader(self, split: str, batch_size: int) -> DataLoader[Any] | EvalBatches:
        """Batches of ``"val"``, ``"test"``, ``"calib"`` or ``"holdout"`` in a fixed order, not
        augmented."""
        if split not in EVAL_SPLITS:
            raise DatasetError(f"unknown eval split {split!r}; allowed: {', '.join(EVAL_SPLITS)}")
        view = getattr(self, split)
        if view is None or len(view) == 0:
            raise DatasetError(f"the {split} split has no images; {_EMPTY_HINTS[split]}")
        if self.in_memory:
            return EvalBatches(
                _tensor(view), view.positions, view.targets, _batched(view), batch_size
            )
        return DataLoader(view, batch_size=batch_size, shuffle=False, **self._worker_options())

    def batched_train(self, device: torch.device) -> TrainBatches:
        """The train split moved to ``device`` once, with its batched augmentation.

        Needs in-memory images (``in_memory`` data, or digits/CIFAR); see
        :class:`~runtime.data._batched.TrainBatches`.
        """
        view = self.train
        images = _tensor(view).index_select(0, torch.from_numpy(view.positions))
        labels = torch.from_numpy(view.targets)
        return TrainBatches(images, labels, _batched(view), view.augment, device)

    def _worker_options(self) -> dict[str, Any]:
        return {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0}


def _tensor(view: LabelledView) -> Tensor:
    if not isinstance(view.images, TensorImages):
        raise DatasetError(
            "batched loading needs the images in memory, but this split reads image files on "
            "each access; build the data with data.in_memory=true"
        )
    return view.images.images


def _batched(view: LabelledView) -> BatchPipeline:
    if not isinstance(view.pipeline, TensorPipeline):
        raise DatasetError(
            f"batched loading needs a TensorPipeline, got {type(view.pipeline).__name__}; "
            "build the data with data.in_memory=true"
        )
    return BatchPipeline.like(view.pipeline)
