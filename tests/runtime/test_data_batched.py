"""Batched augmentation and the in-memory ``batches(epoch, skip)`` contract of the trainer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as nnf
from torch import Tensor

from lamoo_nas.runtime.data import DataBundle, DataConfig, build_data
from lamoo_nas.runtime.data._batched import BatchPipeline
from lamoo_nas.runtime.data._transforms import TensorPipeline
from lamoo_nas.runtime.distributed import DistContext
from lamoo_nas.supernet.errors import ConfigError, DatasetError
from lamoo_nas.train.run import epoch_batches
from tests.runtime.test_data_folders import _write_fake_cifar10
from tests.runtime.test_data_memory import write_tree

BATCH = 4
Batches = list[tuple[Tensor, Tensor]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tree")
    write_tree(root, per_class=8)
    return root


def _bundle(root: Path, in_memory: bool = True, augment: bool = True) -> DataBundle:
    cfg = DataConfig(
        name="imagefolder", root=str(root), in_memory=in_memory, augment=augment, val_fraction=0.25
    )
    return build_data(cfg, image_size=32)


@pytest.fixture(scope="module")
def bundle(folder: Path) -> DataBundle:
    return _bundle(folder)


def _run(bundle: DataBundle, seed: int = 0, epoch: int = 0, skip: int = 0, rank: int = 0,
         world_size: int = 1) -> Batches:  # fmt: skip
    batches, _ = epoch_batches(bundle, BATCH, seed, DistContext(rank=rank, world_size=world_size))
    return list(batches(epoch, skip))


def _same(a: Batches, b: Batches) -> bool:
    return len(a) == len(b) and all(
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b)
    )


def test_batch_pipeline_crops_and_flips_each_image_like_a_per_image_loop() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 12, 10), dtype=torch.uint8, generator=generator)
    pipe = BatchPipeline(12, (0.0,) * 3, (1.0,) * 3, pad_crop=3, flip=True)
    params = pipe.draw(16, generator)
    out = pipe(images, params)
    assert out.shape == (16, 3, 12, 12) and out.dtype == torch.float32
    assert set(params[:, 2].tolist()) == {0, 1} and params[:, :2].max() <= 6
    for image, (top, left, flip), got in zip(images, params.tolist(), out):
        padded = nnf.pad(image.float() / 255.0, (3, 3, 3, 3))[:, top : top + 12, left : left + 10]
        expected = nnf.interpolate(padded[None], size=(12, 12), mode="bilinear", antialias=True)[0]
        torch.testing.assert_close(got, expected.flip(-1) if flip else expected)


def test_batch_pipeline_eval_equals_the_tensor_pipeline() -> None:
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    for size in (24, 32, 40):
        per_image = TensorPipeline(size, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), pad_crop=4, flip=True)
        expected = torch.stack([per_image(image, None) for image in images])
        torch.testing.assert_close(
            BatchPipeline.like(per_image)(images), expected, rtol=0, atol=1e-5
        )


def test_batches_are_reproducible_from_seed_and_epoch(bundle: DataBundle) -> None:
    first = _run(bundle)
    assert len(first) == len(bundle.train) // BATCH
    x, y = first[0]
    assert x.shape == (BATCH, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert _same(first, _run(bundle))
    assert not _same(first, _run(bundle, seed=1))
    assert not _same(first, _run(bundle, epoch=1))


def test_skipping_gives_the_rest_of_the_uninterrupted_epoch(bundle: DataBundle) -> None:
    full = _run(bundle, epoch=2)
    for skip in (1, len(full) - 1, len(full)):
        assert _same(_run(bundle, epoch=2, skip=skip), full[skip:])


def test_order_and_rank_shares_match_the_per_image_path(folder: Path) -> None:
    """Without augmentation the batched path gives the per-image DataLoader's exact batches."""
    new, old = _bundle(folder, augment=False), _bundle(folder, augment=False)
    old.in_memory = False  # the same decoded tensors through the per-image pipeline
    for rank in (0, 1):
        batched, per_image = _run(new, rank=rank, world_size=2), _run(old, rank=rank, world_size=2)
        assert len(batched) == len(per_image) > 0
        for (xa, ya), (xb, yb) in zip(batched, per_image):
            assert torch.equal(ya, yb)
            torch.testing.assert_close(xa, xb, rtol=0, atol=1e-5)
    shares = [torch.cat([y for _, y in _run(new, rank=r, world_size=2)]) for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == len(new.train) // 2 // BATCH * BATCH


def test_augmentation_changes_images_but_not_order(folder: Path, bundle: DataBundle) -> None:
    augmented, plain = _run(bundle), _run(_bundle(folder, augment=False))
    assert all(torch.equal(ya, yb) for (_, ya), (_, yb) in zip(augmented, plain))
    assert not any(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(augmented, plain))


def test_digits_in_memory_eval_batches_equal_the_default_loader() -> None:
    default = build_data(DataConfig(name="digits"), image_size=16)
    batched = build_data(DataConfig(name="digits", in_memory=True), image_size=16)
    assert not default.in_memory
    assert isinstance(default.eval_loader("val", 64), torch.utils.data.DataLoader)
    for (xa, ya), (xb, yb) in zip(default.eval_loader("val", 64), batched.eval_loader("val", 64)):
        assert torch.equal(ya, yb)
        torch.testing.assert_close(xb, xa, rtol=0, atol=1e-5)
    assert len(batched.eval_loader("val", 64)) == len(default.eval_loader("val", 64))
    x, _ = next(iter(_run(batched)))
    assert x.shape == (BATCH, 3, 16, 16)


def test_cifar_in_memory_matches_the_per_image_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import cifar

    monkeypatch.setattr(cifar, "check_integrity", lambda *args, **kwargs: True)  # no md5s
    _write_fake_cifar10(tmp_path, per_batch=10)
    cfg = DataConfig(name="cifar10", root=str(tmp_path), in_memory=True, augment=False)
    new = build_data(cfg, image_size=24)
    old = replace(new, in_memory=False)
    for (xa, ya), (xb, yb) in zip(new.eval_loader("test", 8), old.eval_loader("test", 8)):
        assert xa.shape == (len(ya), 3, 24, 24) and torch.equal(ya, yb)
        torch.testing.assert_close(xa, xb, rtol=0, atol=1e-5)
    (x_new, y_new), (x_old, y_old) = _run(new)[0], _run(old)[0]
    assert torch.equal(y_new, y_old)
    torch.testing.assert_close(x_new, x_old, rtol=0, atol=1e-5)


def test_batched_loading_of_file_images_says_to_set_in_memory(folder: Path) -> None:
    files = _bundle(folder, in_memory=False)
    with pytest.raises(DatasetError, match=r"data\.in_memory=true"):
        files.batched_train(torch.device("cpu"))
    with pytest.raises(ConfigError, match=r"batch_size.*got 0"):
        _bundle(folder).eval_loader("val", 0)


@pytest.mark.gpu
def test_cuda_batches_equal_cpu_batches(bundle: DataBundle) -> None:
    batches, _ = epoch_batches(bundle, BATCH, 0, DistContext(device=torch.device("cuda")))
    on_gpu = list(batches(0, 0))
    assert on_gpu[0][0].device.type == "cuda"
    for (xa, ya), (xb, yb) in zip(on_gpu, _run(bundle)):
        assert torch.equal(ya.cpu(), yb)
        torch.testing.assert_close(xa.cpu(), xb, rtol=0, atol=1e-5)


def test_a_supernet_trains_on_in_memory_folder_batches(folder: Path, tmp_path: Path) -> None:
    from lamoo_nas.supernet import load_space
    from lamoo_nas.train.optim import ScheduleConfig
    from lamoo_nas.train.run import RunOptions, SupernetTrainConfig, train_supernet

    data = DataConfig(
        name="imagefolder", root=str(folder), in_memory=True, batch_size=6, calib_images=8
    )
    cfg = SupernetTrainConfig(
        space=load_space("tiny"),
        data=data,
        schedule=ScheduleConfig(epochs=1, warmup_epochs=0),
        run=RunOptions(device="cpu", progress=False, tensorboard=False),
    )
    summary = train_supernet(cfg, tmp_path)
    assert summary.final_checkpoint.is_file()
    assert 0.0 <= summary.metrics["val_acc_largest"] <= 1.0
