"""ImageFolder and CIFAR loading: a tiny generated tree, error messages, the real CIFAR-10 copy."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamoo_nas.runtime.data import DataConfig, build_data
from lamoo_nas.supernet.errors import DatasetError

SIZE = 16
CLASSES = ("cat", "dog", "emu")
REPO_ROOT = Path(__file__).resolve().parents[2]
CIFAR_TOOL = REPO_ROOT.parent / "shared" / "tools" / "cifar10_imagefolder.py"


def _write_images(folder: Path, per_class: int, classes: tuple[str, ...] = CLASSES) -> None:
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            size = (20 + 3 * i, 24 + label)
            pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
            image = Image.fromarray(pixels).convert("L" if i == 0 else "RGB")  # one grayscale
            image.save(folder / name / f"{i}.{'png' if i % 2 else 'jpg'}")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _write_images(tmp_path / "train", per_class=6)
    _write_images(tmp_path / "val", per_class=2)
    return tmp_path


def _config(root: Path, **kwargs: object) -> DataConfig:
    return DataConfig(name="imagefolder", root=str(root), **kwargs)  # type: ignore[arg-type]


def test_imagefolder_counts_classes_and_carves_val_from_train(tree: Path) -> None:
    bundle = build_data(_config(tree, val_fraction=0.2, calib_images=4), image_size=SIZE)
    assert bundle.num_classes == 3 and bundle.class_names == list(CLASSES)
    assert len(bundle.train) + len(bundle.val) == 18
    assert np.unique(bundle.val.targets).tolist() == [0, 1, 2]
    assert not set(bundle.train.positions) & set(bundle.val.positions)
    assert len(bundle.test) == 6 and bundle.test.targets.tolist() == [0, 0, 1, 1, 2, 2]
    test_paths = [bundle.test.images.paths[int(p)] for p in bundle.test.positions]  # type: ignore[union-attr]
    assert all(Path(p).parent.parent == tree / "val" for p in test_paths)
    assert len(bundle.calib) == 4 and set(bundle.calib.positions) <= set(bundle.train.positions)
    for view in (bundle.train, bundle.val, bundle.test, bundle.calib):
        image, _ = view[0]
        assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32
    augmented = bundle.train[(0, 3)][0]
    assert augmented.shape == (3, SIZE, SIZE) and torch.equal(augmented, bundle.train[(0, 3)][0])
    x, y = next(iter(bundle.train_loader(4, torch.Generator().manual_seed(0))))
    assert x.shape == (4, 3, SIZE, SIZE) and y.shape == (4,)


def test_imagefolder_accepts_a_test_folder_and_a_test_subset_of_classes(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", per_class=4)
    _write_images(tmp_path / "test", per_class=1, classes=("dog",))
    bundle = build_data(_config(tmp_path), image_size=SIZE)
    assert bundle.num_classes == 3 and bundle.test.targets.tolist() == [1]


def test_imagefolder_missing_folder_names_path_and_layout(tmp_path: Path) -> None:
    missing = re.escape(str(tmp_path / "nowhere" / "train"))
    with pytest.raises(DatasetError, match=missing + ".*ROOT/train/<class>"):
        build_data(_config(tmp_path / "nowhere"), image_size=SIZE)
    _write_images(tmp_path / "train", per_class=2)
    with pytest.raises(DatasetError, match=r"val.*ROOT/val/<class>"):
        build_data(_config(tmp_path), image_size=SIZE)


def test_imagefolder_empty_folders_are_errors(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    with pytest.raises(DatasetError, match=r"train'.*no class folders"):
        build_data(_config(tmp_path), image_size=SIZE)
    (tmp_path / "train" / "cat").mkdir()
    (tmp_path / "train" / "dog").mkdir()
    with pytest.raises(DatasetError, match=r"class folders .*cat.*dog.* each holds no image file"):
        build_data(_config(tmp_path), image_size=SIZE)


def test_imagefolder_rejects_test_classes_unknown_to_train(tmp_path: Path) -> None:
    _write_images(tmp_path / "train", per_class=2, classes=("cat", "dog"))
    _write_images(tmp_path / "val", per_class=1, classes=("cat", "yak"))
    with pytest.raises(DatasetError, match=r"\['yak'\]"):
        build_data(_config(tmp_path), image_size=SIZE)


def test_imagefolder_without_root_says_what_to_set() -> None:
    with pytest.raises(DatasetError, match=r"data.root is not set"):
        build_data(DataConfig(name="imagefolder"), image_size=SIZE)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_missing_cifar_without_download_says_how_to_fix(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetError, match=r"data\.download=true.*data\.root"):
        build_data(DataConfig(name=name, root=str(tmp_path)), image_size=32)
    with pytest.raises(DatasetError, match=r"data\.root is not set"):
        build_data(DataConfig(name=name), image_size=32)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("env", id="from-CIFAR10_IMAGEFOLDER"),
        pytest.param("generated", id="generated", marks=pytest.mark.slow),  # 60,000 files
    ],
)
def cifar10_tree(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The real CIFAR-10 ImageFolder copy: $CIFAR10_IMAGEFOLDER, or unpacked by the shared tool."""
    if request.param == "env":
        if "CIFAR10_IMAGEFOLDER" not in os.environ:
            pytest.skip("CIFAR10_IMAGEFOLDER is not set")
        root = Path(os.environ["CIFAR10_IMAGEFOLDER"])
        if not (root / "train").is_dir():
            pytest.skip(f"CIFAR10_IMAGEFOLDER={root} has no train/ folder")
        yield root
        return
    if not CIFAR_TOOL.is_file():
        pytest.skip(f"no real CIFAR-10 copy: {CIFAR_TOOL} is absent")
    root = tmp_path_factory.mktemp("cifar10_imagefolder")
    subprocess.run([sys.executable, str(CIFAR_TOOL), str(root)], check=True, capture_output=True)
    yield root
    shutil.rmtree(root)  # 60,000 files: do not leave them to pytest's tmp retention


def test_real_cifar10_copy_loads_through_imagefolder(cifar10_tree: Path) -> None:
    bundle = build_data(_config(cifar10_tree), image_size=32)
    assert bundle.num_classes == 10 and bundle.class_names[:2] == ["airplane", "automobile"]
    assert len(bundle.train) + len(bundle.val) == 50_000 and len(bundle.val) == 5_000
    assert len(bundle.test) == 10_000
    assert np.bincount(bundle.val.targets).tolist() == [500] * 10
    image, label = bundle.test[0]
    assert image.shape == (3, 32, 32) and label == 0


def _write_fake_cifar10(root: Path, per_batch: int) -> None:
    """torchvision's CIFAR-10 python layout with random images (integrity check patched out)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {
            "data": rng.integers(0, 256, (per_batch, 3 * 32 * 32), dtype=np.uint8),
            "labels": [i % 10 for i in range(per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    names = ["airplane", "automobile", *(f"class{i}" for i in range(2, 10))]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))


def test_cifar10_layout_loads_with_official_test_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)  # no md5s
    _write_fake_cifar10(tmp_path, per_batch=20)
    bundle = build_data(DataConfig(name="cifar10", root=str(tmp_path)), image_size=40)
    assert bundle.num_classes == 10 and bundle.class_names[0] == "airplane"
    assert len(bundle.train) + len(bundle.val) == 100 and len(bundle.test) == 20
    assert np.unique(bundle.val.targets).size == 10
    for image in (bundle.train[(0, 1)][0], bundle.val[0][0], bundle.test[0][0]):
        assert image.shape == (3, 40, 40) and image.dtype == torch.float32
