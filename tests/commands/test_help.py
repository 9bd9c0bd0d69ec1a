"""``--help`` of every command: what it does, what it requires, every setting with its comment."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources

import pytest
import yaml

from lamoo_nas.commands._help import command_help, composed_settings

COMMANDS = {
    "train_supernet": "nas-train-supernet",
    "search": "nas-search",
    "retrain": "nas-retrain",
    "evaluate": "nas-evaluate",
    "pipeline": "nas-pipeline",
    "predict": "nas-predict",
    "import_ofa": "nas-import-ofa",
}


@pytest.mark.parametrize("config_name", sorted(COMMANDS))
def test_help_lists_every_setting_with_its_comment(config_name: str) -> None:
    command = COMMANDS[config_name]
    text = command_help(config_name, command)
    raw = yaml.safe_load((resources.files("lamoo_nas.conf") / f"{config_name}.yaml").read_text())
    raw = {**composed_settings(config_name), **raw}  # with conf/common.yaml, conf/stage/*.yaml
    assert text.splitlines()[0].startswith(command)
    assert "Hydra" not in text.splitlines()[0] and "powered by" not in text
    for key in raw:
        if key not in ("defaults", "hydra"):
            assert f"\n  {key}:" in text, key
    assert "hydra:" not in text and "defaults:" not in text
    required = [k for k, v in raw.items() if v == "???"]
    required_line = next((line for line in text.splitlines() if line.startswith("Required:")), "")
    for key in required:
        assert f" {key}=..." in required_line, key


def test_help_names_the_groups_and_their_options() -> None:
    text = command_help("train_supernet", "nas-train-supernet")
    assert "  space: cifar, nbmacro, ofa_mbv3, ofa_mbv3_w12, tiny*" in text
    assert "  experiment: nbmacro_cifar_cpu (none by default)" in text
    assert "# torch intra-op threads" in text  # the YAML comments survive
    assert "nas-search" in command_help("search", "nas-search")


def test_help_flag_prints_and_exits_before_hydra(monkeypatch, capsys) -> None:
    from lamoo_nas.commands.train_supernet import main

    monkeypatch.setattr("sys.argv", ["nas-train-supernet", "--help"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    assert "Settings (conf/train_supernet.yaml" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["optim.lrr=1e-3"], r"no setting 'optim.lrr'; did you mean 'optim.lr'\? optim \(adamw\)"),
        (["data=cifar10", "data.roott=/x"], r"'data.root'\? data \(cifar10\) has: augment"),
        (["seeed=1"], r"did you mean 'seed'\? nas-train-supernet has: amp.*groups: data"),
        (["ema.decai=0.9"], r"did you mean 'ema.decay'\? ema has: decay, enabled"),
    ],
)
def test_unknown_settings_are_named_with_the_valid_ones(args: list[str], message: str) -> None:
    from lamoo_nas.commands._help import unknown_setting

    problem = unknown_setting("train_supernet", "nas-train-supernet", args)
    assert problem is not None and problem.startswith("error: ")
    assert re.search(message, problem), problem


def test_known_settings_and_hydra_syntax_pass() -> None:
    from lamoo_nas.commands._help import unknown_setting

    fine = ["space=nbmacro", "space.resolutions=[16]", "experiment=nbmacro_cifar_cpu",
            "+extra=1", "~ema", "hydra.run.dir=x", "--cfg", "job", "optim.lr=1e-3,2e-3",
            "schedule.epochs=2", "checkpoint.every_steps=5"]  # fmt: skip
    assert unknown_setting("train_supernet", "nas-train-supernet", fine) is None
    assert unknown_setting("search", "nas-search", ["budget.macs=1e6", "supernet=x"]) is None
    assert "budget.macs" in (unknown_setting("search", "nas-search", ["budget.mac=1"]) or "")
    assert unknown_setting("retrain", "nas-retrain", ["space.stages=1"]) is None  # space: null


@pytest.mark.parametrize("name", ["retrain", "predict"])
def test_old_command_modules_name_the_command_that_replaced_them(name: str) -> None:
    old = f"lamoo_nas.evaluate.{name}"  # a command until the floor-plan release
    done = subprocess.run([sys.executable, "-m", old], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert f"nas-{name}" in done.stderr and f"lamoo_nas.commands.{name}" in done.stderr
