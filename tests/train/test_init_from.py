"""``init_from``: a run starts from another supernet's weights, with a classifier of its own."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.supernet import Supernet, load_space
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.train.checkpoint import FINAL_NAME, load_supernet, read_checkpoint
from lamoo_nas.train.errors import InitClassCountError, InitFromError, InitSpaceMismatchError
from lamoo_nas.train.init_from import CLASSIFIER_KEYS, init_from_supernet
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.run import RunOptions, SupernetTrainConfig, train_supernet
from tests.imagenet_layout import write_imagenet_layout
from tests.supernet.ofa_helpers import OFA_NAMES, ofa_mbv3, save_published

OPTIONS = RunOptions(progress=False, tensorboard=False, device="cpu")
ONE_EPOCH = ScheduleConfig(epochs=1, warmup_epochs=0.0)


def _train(space, data: DataConfig, run_dir: Path, **options) -> Path:
    cfg = SupernetTrainConfig(
        space=space,
        data=data,
        optim=options.pop("optim", OptimConfig()),
        schedule=options.pop("schedule", ONE_EPOCH),
        run=dataclasses.replace(OPTIONS, **options),
    )
    train_supernet(cfg, run_dir)
    return run_dir


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny supernet trained one short epoch on the digits (10 classes)."""
    data = DataConfig(max_train_images=64, batch_size=32, calib_images=32)
    torch.manual_seed(0)
    return _train(load_space("tiny"), data, tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> DataConfig:
    """Another data set, of 3 classes, in ImageNet layout."""
    root = write_imagenet_layout(tmp_path_factory.mktemp("target"), 3, train_per_class=8, size=20)
    return DataConfig(name="imagefolder", root=str(root), batch_size=8, calib_images=8)


def test_every_tensor_but_the_classifier_comes_from_the_source(source: Path) -> None:
    src = load_supernet(source).model.state_dict()
    model = Supernet(load_space("tiny"), num_classes=3)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    origin = init_from_supernet(model, source)
    assert (origin.num_classes, origin.classifier, origin.space) == (10, "new", "tiny")
    assert origin.path == str((source / FINAL_NAME).resolve())
    for key, value in model.state_dict().items():
        if key in CLASSIFIER_KEYS:
            assert value.shape[0] == 3 and torch.equal(value, fresh[key]), key
        else:
            assert torch.equal(value, src[key]), key  # BN statistics included
    kept = Supernet(load_space("tiny"), num_classes=10)
    init_from_supernet(kept, source, classifier="keep")
    assert torch.equal(kept.head.classifier.weight, src["head.classifier.weight"])


def test_a_fine_tune_run_starts_from_the_source(source: Path, folder: DataConfig, tmp_path):
    """With a vanishing learning rate the fine-tuned weights are still the source's: the run
    started from them (and the optimizer, built after, did not reset them)."""
    src = load_supernet(source).model.state_dict()
    still = {"optim": OptimConfig(lr=1e-12, weight_decay=0.0),
             "schedule": ScheduleConfig(epochs=1, warmup_epochs=0.0, min_lr=0.0)}  # fmt: skip
    run = _train(load_space("tiny"), folder, tmp_path / "ft", init_from=str(source), **still)
    ckpt = read_checkpoint(run / FINAL_NAME)
    assert ckpt["num_classes"] == 3 and ckpt["init_from"]["num_classes"] == 10
    weights = ckpt["model"]
    assert weights["head.classifier.weight"].shape == (3, 128)
    for key in ("stem.conv.weight", "stages.1.0.depthwise.weight", "head.conv.weight"):
        torch.testing.assert_close(weights[key], src[key], atol=1e-9, rtol=0)
    moved = shutil.move(source / FINAL_NAME, tmp_path / "elsewhere.pt")
    try:  # a resume takes its weights from its own checkpoint, not from init_from
        _train(load_space("tiny"), folder, run, init_from=str(source), resume=str(run), **still)
    finally:
        shutil.move(moved, source / FINAL_NAME)
    assert read_checkpoint(run / FINAL_NAME)["init_from"] == ckpt["init_from"]


def test_resolutions_and_name_may_differ_other_structure_may_not(source: Path) -> None:
    tiny = load_space("tiny")
    renamed = dataclasses.replace(tiny, name="tiny16", resolutions=(16,))
    init_from_supernet(Supernet(renamed, 3), source)
    with pytest.raises(InitSpaceMismatchError, match=r"space 'tiny'.*'cifar'.*differ in .*stages"):
        init_from_supernet(Supernet(load_space("cifar"), 3), source)
    wider = load_space("tiny").to_dict()
    wider["head"]["channels"] = 96
    from lamoo_nas.supernet import SearchSpace

    with pytest.raises(InitSpaceMismatchError, match="differ in head"):
        init_from_supernet(Supernet(SearchSpace.from_dict(wider), 3), source)


def test_classifier_kernel_transform_and_source_errors(source: Path, tmp_path: Path) -> None:
    with pytest.raises(InitClassCountError, match="has 10 classes, this run's data has 3"):
        init_from_supernet(Supernet(load_space("tiny"), 3), source, classifier="keep")
    with pytest.raises(ConfigError, match="allowed: new, keep"):
        init_from_supernet(Supernet(load_space("tiny"), 3), source, classifier="old")
    with_matrices = Supernet(load_space("tiny"), 3, kernel_transform=True)
    init_from_supernet(with_matrices, source)  # no matrices in the source: they stay identity
    eye = with_matrices.stages[0][0].depthwise.transforms["5to3"]
    assert torch.equal(eye, torch.eye(9))
    ofa_file = save_published(ofa_mbv3(1.0, 4), tmp_path / OFA_NAMES[1.0])
    with pytest.raises(CheckpointError, match="nas-import-ofa FILE run_dir=RUN"):
        init_from_supernet(Supernet(load_space("ofa_mbv3"), 3, kernel_transform=True), ofa_file)
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*absent"):
        init_from_supernet(Supernet(load_space("tiny"), 3), tmp_path / "absent")


def test_matrices_need_kernel_transform(tmp_path: Path) -> None:
    from lamoo_nas.train.ofa_import import import_ofa

    ofa_file = save_published(ofa_mbv3(1.0, 4), tmp_path / OFA_NAMES[1.0])
    run = import_ofa(ofa_file, tmp_path / "ofa", DataConfig(name="imagefolder")).run_dir
    with pytest.raises(InitFromError, match="pass kernel_transform=true"):
        init_from_supernet(Supernet(load_space("ofa_mbv3"), 3), run)
    model = Supernet(load_space("ofa_mbv3"), 3, kernel_transform=True)
    init_from_supernet(model, run)
    ours = load_supernet(run).model.state_dict()
    assert torch.equal(model.stages[4][3].depthwise.transforms["7to5"],
                       ours["stages.4.3.depthwise.transforms.7to5"])  # fmt: skip


def test_bad_init_classifier_is_refused_before_work(folder: DataConfig, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="init_classifier is 'old'"):
        _train(load_space("tiny"), folder, tmp_path / "x", init_classifier="old")
    assert not (tmp_path / "x").exists()


def test_the_command_line_settings_reach_the_run_options() -> None:
    from lamoo_nas.commands.train_supernet import build_config
    from tests.train._supernet_config import compose_cfg

    cfg = compose_cfg("init_from=runs/ofa_w10", "init_classifier=keep", "kernel_transform=true")
    options = build_config(cfg, Path("unused")).run
    assert (options.init_from, options.init_classifier) == ("runs/ofa_w10", "keep")
    assert options.kernel_transform and build_config(compose_cfg(), Path("x")).run.init_from is None
