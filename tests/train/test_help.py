"""``--help`` of every command: what it does, what it requires, every setting with its comment."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from train._help import command_help

COMMANDS = {
    "train_supernet": "nas-train-supernet",
    "search": "nas-search",
    "retrain": "nas-retrain",
    "evaluate": "nas-evaluate",
    "pipeline": "nas-pipeline",
}


@pytest.mark.parametrize("config_name", sorted(COMMANDS))
def test_help_lists_every_setting_with_its_comment(config_name: str) -> None:
    command = COMMANDS[config_name]
    text = command_help(config_name, command)
    raw = yaml.safe_load((resources.files("conf") / f"{config_name}.yaml").read_text())
    assert text.splitlines()[0].startswith(command)
    assert "Hydra" not in text.splitlines()[0] and "powered by" not in text
    for key in raw:
        if key not in ("defaults", "hydra"):
            assert f"\n  {key}:" in text, key
    assert "hydra:" not in text and "defaults:" not in text
    required = [k for k, v in raw.items() if v == "???"]
    for key in required:
        assert f"Required: {key}=..." in text


def test_help_names_the_groups_and_their_options() -> None:
    text = command_help("train_supernet", "nas-train-supernet")
    assert "  space: cifar, nbmacro, ofa_mbv3, tiny*" in text
    assert "  experiment: nbmacro_cifar_cpu (none by default)" in text
    assert "# torch intra-op threads" in text  # the YAML comments survive
    assert "nas-search" in command_help("search", "nas-search")


def test_help_flag_prints_and_exits_before_hydra(monkeypatch, capsys) -> None:
    from train.supernet import main

    monkeypatch.setattr("sys.argv", ["nas-train-supernet", "--help"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 0
    assert "Settings (conf/train_supernet.yaml" in capsys.readouterr().out
