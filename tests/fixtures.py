"""Fixtures shared by the evaluation and command tests: a tiny supernet, the digits data, a
trained checkpoint (registered for every test by ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lamoo_nas.runtime.data import DataBundle, DataConfig, build_data
from lamoo_nas.supernet import CostModel, SearchSpace, Supernet, load_space
from lamoo_nas.train.optim import ScheduleConfig
from lamoo_nas.train.run import RunOptions, SupernetTrainConfig, train_supernet


@pytest.fixture(scope="session")
def tiny_space():
    return load_space("tiny")


@pytest.fixture(scope="session")
def digits(tiny_space) -> DataBundle:
    return build_data(DataConfig(calib_images=64), image_size=max(tiny_space.resolutions))


@pytest.fixture(scope="session")
def cost_model(tiny_space) -> CostModel:
    return CostModel(tiny_space, num_classes=10)


@pytest.fixture()
def random_supernet(tiny_space) -> Supernet:
    torch.manual_seed(0)
    return Supernet(tiny_space, num_classes=10).eval()


def train_short_run(space: SearchSpace, run_dir: Path, images: int, calib_images: int) -> Path:
    """A real (short) supernet training run on digits: 1 epoch over ``images`` images."""
    cfg = SupernetTrainConfig(
        space=space,
        data=DataConfig(max_train_images=images, batch_size=32, calib_images=calib_images),
        schedule=ScheduleConfig(epochs=1, warmup_epochs=0.0),
        run=RunOptions(progress=False, tensorboard=False, device="cpu"),
    )
    train_supernet(cfg, run_dir)
    return run_dir


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tiny_space) -> Path:
    """A real (short) supernet training run on digits: 1 epoch over 128 images."""
    return train_short_run(tiny_space, tmp_path_factory.mktemp("supernet_run"), 128, 64)
