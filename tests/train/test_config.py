"""The real config composes for every group option, and bad values are ConfigErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamoo_nas.commands.train_supernet import build_config, resolve_resume
from lamoo_nas.supernet.errors import ConfigError, DatasetError
from tests.train._supernet_config import compose_cfg


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["sampler=uniform", "distill=none", "optim=sgd"],
        ["space=cifar", "data=cifar10"],
        ["space=ofa_mbv3", "data=imagefolder", "ema.enabled=true"],
    ],
)
def test_every_group_option_composes_and_builds(overrides, tmp_path):
    typed = build_config(compose_cfg(*overrides, tiny=False), tmp_path)
    assert typed.schedule.epochs > 0 and typed.optim.lr > 0
    assert typed.space.name == typed.resolved["space"]["name"]
    assert typed.run.resume is None


def test_defaults_are_digits_tiny_sandwich_inplace(tmp_path):
    typed = build_config(compose_cfg(tiny=False), tmp_path)
    assert (typed.data.name, typed.space.name) == ("digits", "tiny")
    assert (typed.sampler.name, typed.sampler.num_random) == ("sandwich", 2)
    assert typed.distill.name == "inplace"


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("schedule.epochs=-1", "schedule.epochs"),
        ("optim.lr=0", "optim.lr"),
        ("optim.lr=-0.1", "optim.lr"),
        ("sampler.name=greedy", "sandwich, uniform"),
        ("optim.name=adamz", "adamw"),
        ("distill.name=kd", "inplace, none"),
        ("distill.temperature=0", "temperature"),
        ("sampler.num_random=-2", "num_random"),
        ("checkpoint.every_steps=-5", "every_steps"),
    ],
)
def test_bad_values_raise_config_error_naming_them(tmp_path, override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        typed = build_config(compose_cfg(override), tmp_path)
        from lamoo_nas.runtime.distributed import pick_device
        from lamoo_nas.train.run import _check_options

        _check_options(typed.run, pick_device("cpu"))


def test_missing_dataset_says_how_to_get_it(tmp_path):
    from lamoo_nas.train.run import train_supernet

    cfg = compose_cfg("data=imagefolder", f"data.root={tmp_path / 'nowhere'}")
    with pytest.raises(DatasetError, match="nowhere"):
        train_supernet(build_config(cfg, tmp_path), tmp_path)


def test_bad_device_is_a_config_error():
    from lamoo_nas.runtime.distributed import pick_device

    with pytest.raises(ConfigError, match="allowed: auto, cpu"):
        pick_device("tpu9")
    assert pick_device("cpu").type == "cpu"


def test_resume_values(tmp_path):
    assert resolve_resume(False, tmp_path) is None
    assert resolve_resume(True, tmp_path) == str(tmp_path / "last.pt")
    assert resolve_resume("x/last.pt", tmp_path) == "x/last.pt"
    with pytest.raises(ConfigError, match="resume"):
        resolve_resume(3, Path("."))
