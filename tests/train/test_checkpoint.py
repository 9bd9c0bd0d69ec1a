"""Checkpoints: atomic writes, weights_only loading, load_supernet, clear CheckpointErrors."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from lamoo_nas.commands.train_supernet import run
from lamoo_nas.runtime.io import atomic_torch_save, atomic_write_text
from lamoo_nas.supernet import load_space
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.train.checkpoint import check_space, load_supernet, read_checkpoint
from tests.train._supernet_config import compose_cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny 1-epoch run shared by the tests of this module."""
    from hydra import compose, initialize_config_module

    from tests.train._supernet_config import TINY_OVERRIDES

    run_dir = tmp_path_factory.mktemp("run")
    overrides = [*TINY_OVERRIDES, "schedule.epochs=1", "eval.every_epochs=1", f"run_dir={run_dir}"]
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose("train_supernet", overrides=overrides)
    return run(cfg)


def test_checkpoint_is_self_describing_and_weights_only(trained):
    raw = torch.load(trained.final_checkpoint, weights_only=True)
    space = load_space("tiny")
    assert raw["space"] == space.to_dict() and raw["space_fingerprint"] == space.fingerprint
    assert raw["num_classes"] == 10 and raw["data_config"]["name"] == "digits"
    assert raw["config"]["space"]["name"] == "tiny"
    assert isinstance(raw["rng"]["arch"]["state"]["state"], int)
    assert raw["epoch"] == 1 and raw["step"] == 96 // 16
    assert space.arch_from_json(raw["middle_arch"]) is not None


def test_load_supernet_gives_the_trained_model(trained):
    loaded = load_supernet(trained.run_dir)
    assert loaded.path.name == "final.pt" and not loaded.model.training
    assert loaded.data_config.name == "digits" and loaded.num_classes == 10
    arch = loaded.space.largest()
    x = torch.randn(4, 3, arch.resolution, arch.resolution)
    trained.model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model(x, arch), trained.model(x, arch))


def test_metrics_files_and_plot_are_written(trained):
    for name in ("metrics.csv", "metrics.jsonl", "training_curve.png", "last.pt"):
        assert (trained.run_dir / name).is_file(), name
    assert {"val_acc_smallest", "val_acc_largest", "val_acc_middle", "img_per_s", "lr"} <= set(
        trained.metrics
    )
    header = (trained.run_dir / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,step,train_loss,lr,img_per_s")


def test_missing_checkpoint_says_how_to_get_one(tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nas-train-supernet"):
        load_supernet(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_supernet(tmp_path)


def test_truncated_checkpoint_is_reported_as_corrupt(trained, tmp_path):
    blob = trained.final_checkpoint.read_bytes()
    bad = tmp_path / "cut.pt"
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_supernet(bad)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(garbage)
    for path in (bad, garbage):
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(path)
        assert len(str(info.value)) < 320 and "\n" not in str(info.value)


def test_pickled_objects_are_refused_without_advice_to_unpickle(tmp_path):
    import argparse

    path = tmp_path / "pickled.pt"
    torch.save({"format": "lamoo-nas/supernet", "args": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(CheckpointError, match="pickled objects") as info:
        read_checkpoint(path)
    assert "weights_only" not in str(info.value) and len(str(info.value)) < 320


def test_foreign_checkpoint_is_not_ours(tmp_path):
    path = atomic_torch_save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a supernet checkpoint"):
        load_supernet(path)


def test_checkpoint_of_another_space_names_both(trained):
    raw = read_checkpoint(trained.final_checkpoint)
    cifar = load_space("cifar")
    with pytest.raises(CheckpointError, match=r"'tiny'.*'cifar'"):
        check_space(raw, cifar, trained.final_checkpoint)
    with pytest.raises(CheckpointError, match=r"another search space|'cifar'"):
        load_supernet(trained.run_dir, expected_space=cifar)
    edited = dataclasses.replace(load_space("tiny"), resolutions=(12, 16))
    with pytest.raises(CheckpointError, match="fingerprint"):
        check_space(raw, edited, trained.final_checkpoint)


def test_resume_with_another_space_is_a_clear_error(trained):
    cfg = compose_cfg("space=cifar", f"resume={trained.final_checkpoint}")
    with pytest.raises(CheckpointError, match=r"'tiny'.*'cifar'"):
        run(cfg)


def test_resume_with_another_batch_size_is_refused(trained):
    cfg = compose_cfg("schedule.epochs=2", "data.batch_size=32", f"resume={trained.run_dir}")
    with pytest.raises(ConfigError, match="steps per epoch"):
        run(cfg)


def test_atomic_writes_replace_and_leave_no_temp_files(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "one")
    atomic_write_text(path, "two")
    atomic_torch_save({"x": torch.ones(1)}, tmp_path / "b.pt")
    assert path.read_text() == "two"
    assert path.stat().st_mode & 0o777 == 0o666 & ~_current_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.pt"]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_training_curves_say_what_they_show():
    from lamoo_nas.train.logs import RETRAIN_CURVES, curve_figure

    rows = [{"epoch": e, "train_loss": 1.0 / e, "val_acc_raw": 0.5, "val_acc_ema": 0.6}
            for e in (1, 2)]  # fmt: skip
    loss, acc = curve_figure(rows, RETRAIN_CURVES).axes
    assert loss.get_ylabel() == "train loss" and acc.get_ylabel() == "validation top-1, %"
    legend = sorted(t.get_text() for t in acc.get_legend().get_texts())
    assert legend == ["EMA of the weights", "trained weights"]
    supernet = curve_figure([{"epoch": 1, "train_loss": 1.0, "val_acc_largest": 0.9}])
    assert "architectures" in supernet.axes[0].get_ylabel()
    assert "BN recalibration" in supernet.axes[1].get_ylabel()
