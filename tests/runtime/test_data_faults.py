"""Broken or degenerate image folders: each is one clear error naming the folder, file or
setting, never a silent 100 % or an anonymous PIL ``OSError``."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamoo_nas.runtime.data import DataBundle, DataConfig, LabelledView, build_data
from lamoo_nas.runtime.data._files import scan
from lamoo_nas.supernet.errors import ConfigError, DatasetError

SIZE = 16
CLASSES = ("cat", "dog", "emu")


@pytest.fixture(autouse=True)
def _user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))


def _write(split: Path, per_class: int, classes: tuple[str, ...] = CLASSES) -> None:
    """``per_class`` 24 x 24 images per class, alternating JPEG and PNG."""
    rng = np.random.default_rng(0)
    for name in classes:
        (split / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(split / name / f"{i}.{'jpg' if i % 2 else 'png'}")


def _tree(root: Path, per_class: int = 4, classes: tuple[str, ...] = CLASSES) -> Path:
    _write(root / "train", per_class, classes)
    _write(root / "val", 1, classes)
    return root


def _config(root: Path, **kwargs: object) -> DataConfig:
    return DataConfig(name="imagefolder", root=str(root), calib_images=4, **kwargs)  # type: ignore[arg-type]


def _drain(bundle: DataBundle) -> int:
    """Every image of train (augmented; batches of 1, so none is dropped), val and test, through
    the loaders that training and evaluation use."""
    seen = sum(len(y) for _, y in bundle.train_loader(1, torch.Generator().manual_seed(0)))
    return seen + sum(len(y) for split in ("val", "test") for _, y in bundle.eval_loader(split, 2))


# --- classes -------------------------------------------------------------------------------


def test_a_single_class_is_refused_naming_the_folder_and_the_class(tmp_path: Path) -> None:
    root = _tree(tmp_path, classes=("cat",))
    message = re.escape(f"'{root / 'train'}' has one class folder, 'cat'; at least two class")
    with pytest.raises(DatasetError, match=message):
        build_data(_config(root), image_size=SIZE)


def test_a_class_with_one_image_is_refused_as_it_cannot_be_in_train_and_val(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path)
    for extra in sorted((root / "train" / "emu").iterdir())[1:]:
        extra.unlink()
    folder = re.escape(repr(str(root / "train" / "emu")))
    with pytest.raises(DatasetError, match=folder + r" holds a single image; .*at least 2"):
        build_data(_config(root), image_size=SIZE)


def test_two_images_per_class_put_every_class_in_both_train_and_val(tmp_path: Path) -> None:
    bundle = build_data(_config(_tree(tmp_path, per_class=2), val_fraction=0.01), SIZE)
    assert np.bincount(bundle.train.targets).tolist() == [1, 1, 1]
    assert np.bincount(bundle.val.targets).tolist() == [1, 1, 1]


def test_a_cap_below_the_class_count_is_a_config_error_naming_the_setting(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path)
    with pytest.raises(ConfigError, match=r"data.max_train_images=2 leaves no training image of "
                       r"1 of the 3 classes \(emu\)"):  # fmt: skip
        build_data(_config(root, max_train_images=2), image_size=SIZE)
    bundle = build_data(_config(root, max_train_images=3), image_size=SIZE)
    assert np.bincount(bundle.train.targets).tolist() == [1, 1, 1]


@pytest.mark.parametrize("split", ["train", "val"])
def test_an_empty_class_folder_is_an_error_naming_it(tmp_path: Path, split: str) -> None:
    root = _tree(tmp_path)
    (root / split / "yak").mkdir()
    if split == "val":
        _write(root / "train", 2, ("yak",))
    (root / split / "yak" / "notes.txt").write_text("not an image")
    folder = re.escape(repr(str(root / split / "yak")))
    with pytest.raises(DatasetError, match=f"class folder {folder} holds no image file .*delete"):
        build_data(_config(root), image_size=SIZE)


def test_a_tree_without_any_image_names_every_class_folder(tmp_path: Path) -> None:
    for name in CLASSES:
        (tmp_path / "train" / name).mkdir(parents=True)
    _write(tmp_path / "val", 1)
    with pytest.raises(DatasetError, match=r"class folders .*cat.*dog.*emu.* each holds no image"):
        build_data(_config(tmp_path), image_size=SIZE)


def test_hidden_folders_and_files_are_neither_classes_nor_images(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    _write(root / "train", 3, (".ipynb_checkpoints",))
    (root / "train" / "cat" / "._0.png").write_bytes(b"macOS resource fork, not an image")
    (root / "train" / "cat" / ".thumbs").mkdir()
    (root / "train" / "cat" / ".thumbs" / "0.png").write_bytes(b"neither")
    bundle = build_data(_config(root), image_size=SIZE)
    assert bundle.class_names == list(CLASSES)
    assert len(bundle.train) + len(bundle.val) == 12 and _drain(bundle) > 0


def test_scan_lists_images_in_torchvision_image_folder_order(tmp_path: Path) -> None:
    from torchvision.datasets.folder import IMG_EXTENSIONS, make_dataset

    _write(tmp_path, 5)
    _write(tmp_path / "dog" / "nested", 2, ("deeper",))
    (tmp_path / "emu" / "UPPER.JPG").write_bytes((tmp_path / "emu" / "1.jpg").read_bytes())
    class_to_idx = {name: i for i, name in enumerate(CLASSES)}
    paths, labels = scan(tmp_path, class_to_idx)
    expected = make_dataset(str(tmp_path), class_to_idx, extensions=IMG_EXTENSIONS)
    assert list(zip(paths, labels.tolist())) == expected and len(paths) == 18


# --- empty splits and settings -------------------------------------------------------------


def test_max_train_images_zero_names_the_setting() -> None:
    with pytest.raises(ConfigError, match=r"data.max_train_images must be a positive integer"):
        DataConfig(name="imagefolder", root="anywhere", max_train_images=0)


@pytest.mark.parametrize("split", ["val", "test", "calib", "holdout"])
def test_an_empty_eval_split_names_the_split_and_its_setting(tmp_path: Path, split: str) -> None:
    bundle = build_data(_config(_tree(tmp_path)), image_size=SIZE)
    none = np.zeros(0, dtype=np.int64)
    empty = LabelledView(bundle.val.images, none, none, bundle.val.pipeline)
    bundle = dataclasses.replace(bundle, **{split: empty})
    setting = {"val": "val_fraction", "test": "ROOT/val", "calib": "calib_images",
               "holdout": "max_train_images"}[split]  # fmt: skip
    with pytest.raises(DatasetError, match=f"the {split} split has no images; .*{setting}"):
        bundle.eval_loader(split, 4)


# --- undecodable files ---------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS = {
    "truncated-jpeg": ("dog/1.jpg", _truncate),
    "truncated-png": ("dog/2.png", _truncate),
    "not-an-image": ("dog/3.jpg", lambda path: path.write_bytes(b"GIF89a? no, garbage")),
}


@pytest.mark.parametrize("in_memory", [False, True], ids=["per-image", "in-memory"])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_an_undecodable_image_names_the_file_and_the_fix(
    tmp_path: Path, corruption: str, in_memory: bool
) -> None:
    root = _tree(tmp_path)
    name, corrupt = CORRUPTIONS[corruption]
    bad = root / "train" / name
    corrupt(bad)
    message = f"cannot decode image file {re.escape(repr(str(bad)))}.*replace or delete"
    with pytest.raises(DatasetError, match=message):
        _drain(build_data(_config(root, in_memory=in_memory), image_size=SIZE))


def test_an_undecodable_test_image_names_the_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    bad = root / "val" / "emu" / "0.png"
    _truncate(bad)
    bundle = build_data(_config(root), image_size=SIZE)
    with pytest.raises(DatasetError, match=re.escape(repr(str(bad))) + ".*replace or delete"):
        list(bundle.eval_loader("test", 4))


def test_the_file_name_survives_a_dataloader_worker(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    bad = root / "train" / "cat" / "1.jpg"
    _truncate(bad)
    bundle = build_data(_config(root, num_workers=1), image_size=SIZE)
    with pytest.raises(DatasetError, match=r"(?s)worker process 0.*cannot decode image file "
                       + re.escape(repr(str(bad))) + ".*replace or delete"):  # fmt: skip
        _drain(bundle)
