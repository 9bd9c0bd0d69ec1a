"""In-memory ImageFolder: decoding once, the on-disk cache, and equality with the tensor path."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lamoo_nas.runtime.data import DataConfig, build_data
from lamoo_nas.runtime.data._cache import CACHE_FOLDER, decode
from lamoo_nas.runtime.data._config import NORMALIZATION
from lamoo_nas.runtime.data._transforms import TensorPipeline
from lamoo_nas.supernet.errors import DatasetError

CLASSES = ("cat", "dog", "emu")


def write_tree(root: Path, per_class: int = 8, test_per_class: int = 2) -> dict[str, np.ndarray]:
    """32 x 32 PNGs (lossless, one grayscale per class) under root/train and root/val."""
    rng = np.random.default_rng(0)
    pixels: dict[str, np.ndarray] = {}
    for split, count in (("train", per_class), ("val", test_per_class)):
        for name in CLASSES:
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                path = root / split / name / f"{i}.png"
                array = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                if i == 0:
                    array = np.repeat(array[:, :, :1], 3, axis=2)  # saved as grayscale
                    Image.fromarray(array[:, :, 0], mode="L").save(path)
                else:
                    Image.fromarray(array).save(path)
                pixels[str(path)] = array
    return pixels


@pytest.fixture(autouse=True)
def _user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, dict[str, np.ndarray]]]:
    root = tmp_path / "data"
    yield root, write_tree(root)


def _config(root: Path, in_memory: bool = True, **kwargs: object) -> DataConfig:
    return DataConfig(name="imagefolder", root=str(root), in_memory=in_memory, **kwargs)  # type: ignore[arg-type]


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pt"))


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path: str, size: int) -> np.ndarray:
        raise AssertionError(f"decoded {path} although the cache is valid")

    monkeypatch.setattr("lamoo_nas.runtime.data._cache.decode", fail)


def test_first_build_decodes_and_caches_second_build_reuses(
    tree: tuple[Path, dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, pixels = tree
    first = build_data(_config(root), image_size=32)
    caches = _cache_files(root / CACHE_FOLDER)
    assert len(caches) == 2  # the train pool and the test split
    mtimes = [path.stat().st_mtime_ns for path in caches]
    pool = first.train.images.images  # type: ignore[union-attr]
    assert pool.dtype == torch.uint8 and pool.shape == (24, 3, 32, 32)
    _forbid_decoding(monkeypatch)
    second = build_data(_config(root), image_size=32)
    assert torch.equal(second.train.images.images, pool)  # type: ignore[union-attr]
    assert [path.stat().st_mtime_ns for path in caches] == mtimes
    first_path = sorted(p for p in pixels if "/train/" in p)[0]
    assert torch.equal(pool[0], torch.from_numpy(pixels[first_path]).permute(2, 0, 1))


def test_a_changed_file_is_decoded_again(tree: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, _ = tree
    before = build_data(_config(root), image_size=32).train.images.images  # type: ignore[union-attr]
    changed = root / "train" / "cat" / "1.png"
    Image.fromarray(np.full((32, 32, 3), 7, dtype=np.uint8)).save(changed)
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # even on coarse clocks
    after = build_data(_config(root), image_size=32).train.images.images  # type: ignore[union-attr]
    assert len(_cache_files(root / CACHE_FOLDER)) == 3  # a new pool cache beside the old one
    assert torch.equal(after[1], torch.full((3, 32, 32), 7, dtype=torch.uint8))
    assert not torch.equal(after[1], before[1]) and torch.equal(after[2:], before[2:])


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (lambda path: path.write_bytes(b"not a torch file"), "unreadable"),
        (lambda path: path.write_bytes(path.read_bytes()[:100]), "unreadable"),
        (lambda path: torch.save({"fingerprint": "x", "images": torch.zeros(1)}, path), "match"),
        (lambda path: torch.save([1, 2, 3], path), "match"),
    ],
    ids=["garbage", "truncated", "foreign", "not-a-dict"],
)
def test_a_corrupt_cache_is_rebuilt_not_trusted(
    tree: tuple[Path, dict[str, np.ndarray]], monkeypatch: pytest.MonkeyPatch, damage, warning
) -> None:
    root, _ = tree
    good = build_data(_config(root), image_size=32).train.images.images  # type: ignore[union-attr]
    for path in _cache_files(root / CACHE_FOLDER):
        damage(path)
    with pytest.warns(UserWarning, match=warning):
        rebuilt = build_data(_config(root), image_size=32).train.images.images  # type: ignore[union-attr]
    assert torch.equal(rebuilt, good)
    _forbid_decoding(monkeypatch)  # the rebuilt cache was written back and is trusted again
    assert torch.equal(build_data(_config(root), image_size=32).train.images.images, good)  # type: ignore[union-attr]


def test_a_corrupt_image_names_the_file(tree: tuple[Path, dict[str, np.ndarray]]) -> None:
    root, _ = tree
    bad = root / "train" / "dog" / "9.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is no image")
    with pytest.raises(DatasetError, match=re.escape(str(bad)) + r".*replace or delete"):
        build_data(_config(root), image_size=32)


def test_read_only_root_falls_back_to_the_user_cache(
    tree: tuple[Path, dict[str, np.ndarray]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = tree
    (root / CACHE_FOLDER).write_text("a file, so the cache folder cannot be made here")
    first = build_data(_config(root), image_size=32).train.images.images  # type: ignore[union-attr]
    user_caches = list((tmp_path / "user_cache" / "lamoo-nas").glob("*/*.pt"))
    assert len(user_caches) == 2
    _forbid_decoding(monkeypatch)
    assert torch.equal(build_data(_config(root), image_size=32).train.images.images, first)  # type: ignore[union-attr]


def test_eval_batches_equal_the_tensor_pipeline_on_the_same_pixels(
    tree: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, pixels = tree
    new = build_data(_config(root, val_fraction=0.25), image_size=32)
    old = build_data(_config(root, in_memory=False, val_fraction=0.25), image_size=32)
    mean, std = NORMALIZATION["imagefolder"]
    reference = TensorPipeline(32, mean, std)
    for split in ("val", "test", "calib"):
        old_x, old_y = next(iter(old.eval_loader(split, batch_size=100)))
        new_x, new_y = next(iter(new.eval_loader(split, batch_size=100)))
        assert new_x.shape == old_x.shape and new_x.dtype == old_x.dtype == torch.float32
        assert torch.equal(new_y, old_y) and new_y.dtype == old_y.dtype
        view = getattr(old, split)
        paths = [view.images.paths[int(p)] for p in view.positions]
        expected = torch.stack(
            [reference(torch.from_numpy(pixels[p]).permute(2, 0, 1), None) for p in paths]
        )
        torch.testing.assert_close(new_x, expected, rtol=0, atol=1e-5)
        assert abs(float(new_x.mean() - old_x.mean())) < 0.1  # same normalisation statistics


def test_cifar_size_images_stay_native_and_batches_are_resized(
    tree: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, _ = tree
    bundle = build_data(_config(root), image_size=40)
    assert bundle.train.images.images.shape[-2:] == (32, 32)  # type: ignore[union-attr]
    images, _ = next(iter(bundle.eval_loader("test", batch_size=4)))
    assert images.shape == (4, 3, 40, 40)


def test_other_sizes_are_resized_on_the_shorter_side_and_centre_cropped(tmp_path: Path) -> None:
    pixels = np.zeros((32, 64, 3), dtype=np.uint8)  # 64 wide: black | white middle | black
    pixels[:, 12:52] = 255
    path = tmp_path / "wide.jpg"
    Image.fromarray(pixels).save(path, quality=95)
    decoded = decode(str(path), 16)
    assert decoded.shape == (16, 16, 3) and decoded.dtype == np.uint8
    assert decoded.min() > 240  # the black borders were cropped away
    Image.fromarray(pixels[:20, :20, 0], mode="L").save(tmp_path / "gray.png")
    assert decode(str(tmp_path / "gray.png"), 16).shape == (16, 16, 3)
