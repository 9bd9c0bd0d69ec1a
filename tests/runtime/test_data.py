"""Digits bundle: splits, determinism, normalisation, augmentation, loaders; config files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lamoo_nas.runtime.data import DATASETS, DataBundle, DataConfig, LabelledView, build_data
from lamoo_nas.runtime.data._sources import read_digits
from lamoo_nas.supernet.errors import ConfigError, DatasetError

SIZE = 16
CONF_DATA = Path(__file__).resolve().parents[2] / "conf" / "data"


@pytest.fixture(scope="module")
def digits() -> DataBundle:
    return build_data(DataConfig(name="digits"), image_size=SIZE)


def _image_keys(view: LabelledView) -> set[bytes]:
    images = view.images.images  # type: ignore[union-attr]
    return {images[int(p)].numpy().tobytes() for p in view.positions}


def test_digits_splits_partition_all_1797_images(digits: DataBundle) -> None:
    train, val, test = _image_keys(digits.train), _image_keys(digits.val), _image_keys(digits.test)
    assert len(train) + len(val) + len(test) == 1797  # the 1,797 digits are all distinct
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(digits.test) == pytest.approx(0.15 * 1797, abs=10)
    assert len(digits.val) == pytest.approx(0.1 * (1797 - len(digits.test)), abs=10)


def test_digits_splits_are_stratified(digits: DataBundle) -> None:
    for view in (digits.train, digits.val, digits.test, digits.calib):
        labels, counts = np.unique(view.targets, return_counts=True)
        assert labels.tolist() == list(range(10))
        assert counts.max() - counts.min() <= 0.1 * len(view) + 2
    assert digits.num_classes == 10 and digits.class_names == [str(d) for d in range(10)]


def test_digits_build_is_deterministic_and_test_split_ignores_split_seed() -> None:
    first = build_data(DataConfig(), image_size=SIZE)
    again = build_data(DataConfig(), image_size=SIZE)
    other = build_data(DataConfig(split_seed=1), image_size=SIZE)
    for name in ("train", "val", "calib"):
        assert np.array_equal(getattr(first, name).positions, getattr(again, name).positions)
    assert not np.array_equal(first.val.positions, other.val.positions)
    assert torch.equal(first.test.images.images, other.test.images.images)  # type: ignore[union-attr]
    assert torch.equal(first.val[3][0], again.val[3][0])


def test_digits_samples_are_normalised_3_channel_at_image_size(digits: DataBundle) -> None:
    images, _ = next(iter(digits.eval_loader("val", batch_size=1000)))
    assert images.shape == (len(digits.val), 3, SIZE, SIZE) and images.dtype == torch.float32
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    assert abs(float(images.mean())) < 0.2
    assert 0.6 < float(images.std()) < 1.2
    assert build_data(DataConfig(), image_size=24).train[0][0].shape == (3, 24, 24)


def test_read_digits_matches_sklearn_load_digits() -> None:
    from sklearn.datasets import load_digits

    pixels, targets = read_digits()
    reference = load_digits()
    assert np.array_equal(pixels, reference.images) and np.array_equal(targets, reference.target)


def test_augmentation_is_driven_by_the_seed_only(digits: DataBundle) -> None:
    plain, label = digits.train[5]
    a, label_a = digits.train[(5, 123)]
    b, _ = digits.train[(5, 123)]
    assert torch.equal(a, b) and label_a == label
    assert any(not torch.equal(digits.train[(5, seed)][0], plain) for seed in range(10))
    unaugmented = build_data(DataConfig(augment=False), image_size=SIZE)
    assert torch.equal(unaugmented.train[(5, 123)][0], unaugmented.train[5][0])


def test_train_loader_is_reproducible_from_the_generator(digits: DataBundle) -> None:
    def first_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        loader = digits.train_loader(32, torch.Generator().manual_seed(seed))
        return next(iter(loader))

    (x0, y0), (x1, y1), (_, y2) = first_batch(0), first_batch(0), first_batch(1)
    assert x0.shape == (32, 3, SIZE, SIZE)
    assert torch.equal(x0, x1) and torch.equal(y0, y1)
    assert not torch.equal(y0, y2)
    loader = digits.train_loader(32, torch.Generator().manual_seed(0))
    assert len(loader) == len(digits.train) // 32  # the incomplete last batch is dropped


def test_train_loader_accepts_a_sampler(digits: DataBundle) -> None:
    sampler = torch.utils.data.SequentialSampler(range(40))
    loader = digits.train_loader(8, torch.Generator().manual_seed(0), sampler=sampler)
    labels = torch.cat([y for _, y in loader])
    assert labels.tolist() == digits.train.targets[:40].tolist()


def test_eval_loader_keeps_order_and_rejects_unknown_split(digits: DataBundle) -> None:
    labels = torch.cat([y for _, y in digits.eval_loader("test", batch_size=100)])
    assert labels.tolist() == digits.test.targets.tolist()
    with pytest.raises(DatasetError, match=r"'train'.*val, test, calib"):
        digits.eval_loader("train", batch_size=8)


def test_calib_is_a_fixed_unaugmented_subset_of_train(digits: DataBundle) -> None:
    assert len(digits.calib) == 512
    assert set(digits.calib.positions) <= set(digits.train.positions)
    position = int(digits.calib.positions[0])
    in_train = int(np.flatnonzero(digits.train.positions == position)[0])
    assert torch.equal(digits.calib[(0, 7)][0], digits.train[in_train][0])
    small = build_data(DataConfig(calib_images=5000, max_train_images=100), image_size=SIZE)
    assert len(small.calib) == 100  # capped at the train split's size


def test_max_train_images_caps_train_only(digits: DataBundle) -> None:
    capped = build_data(DataConfig(max_train_images=200), image_size=SIZE)
    assert len(capped.train) == 200
    assert np.unique(capped.train.targets).size == 10
    assert set(capped.train.positions) <= set(digits.train.positions)
    assert np.array_equal(capped.val.positions, digits.val.positions)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"name": "mnist"}, DatasetError, r"'mnist'.*digits, cifar10, cifar100, imagefolder"),
        ({"val_fraction": 0.0}, ConfigError, r"val_fraction.*0\.0"),
        ({"batch_size": 0}, ConfigError, r"batch_size.*0"),
        ({"num_workers": -1}, ConfigError, r"num_workers"),
        ({"max_train_images": 0}, ConfigError, r"max_train_images"),
        ({"in_memory": "yes"}, ConfigError, r"in_memory must be true or false, got 'yes'"),
    ],
)
def test_bad_config_values_are_named(kwargs: dict, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        DataConfig(**kwargs)


def test_bad_image_size_is_named() -> None:
    with pytest.raises(ConfigError, match=r"image_size.*got 0"):
        build_data(DataConfig(), image_size=0)


@pytest.mark.parametrize("path", sorted(CONF_DATA.glob("*.yaml")), ids=lambda p: p.stem)
def test_conf_data_files_have_exactly_the_config_fields(path: Path) -> None:
    raw = yaml.safe_load(path.read_text())
    assert set(raw) == {field.name for field in dataclasses.fields(DataConfig)}
    assert DataConfig(**raw).name == path.stem


def test_every_dataset_has_a_conf_file() -> None:
    assert {path.stem for path in CONF_DATA.glob("*.yaml")} == set(DATASETS)


def test_worker_processes_give_the_same_batches() -> None:
    bundle = build_data(DataConfig(num_workers=2, max_train_images=64), image_size=SIZE)
    in_workers = next(iter(bundle.train_loader(16, torch.Generator().manual_seed(0))))
    bundle.num_workers = 0
    in_process = next(iter(bundle.train_loader(16, torch.Generator().manual_seed(0))))
    assert torch.equal(in_workers[0], in_process[0]) and torch.equal(in_workers[1], in_process[1])


@pytest.mark.parametrize("in_memory", [False, True])
def test_holdout_is_the_training_images_a_capped_train_split_leaves_out(in_memory: bool) -> None:
    cfg = DataConfig(max_train_images=200, in_memory=in_memory)
    bundle = build_data(cfg, image_size=8)
    assert bundle.holdout is not None
    train, val, holdout = (set(v.positions.tolist()) for v in (bundle.train, bundle.val,
                                                                bundle.holdout))  # fmt: skip
    assert not (holdout & train) and not (holdout & val) and len(holdout) > 800
    assert len(train | val | holdout) == len(bundle.train) + len(bundle.val) + len(holdout)
    images = sum(int(y.shape[0]) for _, y in bundle.eval_loader("holdout", 256))
    assert images == len(holdout)
    with pytest.raises(DatasetError, match=r"holdout split has no images; .*data.max_train_images"):
        build_data(DataConfig(in_memory=in_memory), image_size=8).eval_loader("holdout", 64)


def test_every_prefix_of_the_holdout_is_class_balanced() -> None:
    from lamoo_nas.runtime.data._splits import stratified_order

    targets = np.repeat(np.arange(5), [30, 30, 30, 30, 31])  # stored class by class
    order = stratified_order(targets, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(151))
    for n in (5, 17, 50, 150):
        counts = np.bincount(targets[order[:n]], minlength=5)
        assert counts.max() - counts.min() <= 1, (n, counts)
    bundle = build_data(DataConfig(max_train_images=200), image_size=8)
    assert bundle.holdout is not None
    first = np.bincount(bundle.holdout.targets[:100], minlength=10)
    assert first.min() >= 9 and first.max() <= 11
