"""The Python API (:mod:`commands.api`): the commands' settings, composed the commands' way,
and the quick-start example that the docs show, run end to end on a tiny schedule."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module

from lamoo_nas.commands import api
from lamoo_nas.commands.search import run as search_command
from lamoo_nas.supernet.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SMALL_SEARCH = {"num_samples": 8, "batch_size": 4, "num_init": 4, "calib_images": 32}


def test_mapping_overrides_are_written_in_hydras_grammar() -> None:
    written = api.override_strings(
        {
            "space": "cifar",
            "budget.macs": 300e6,
            "num_init": 4,
            "ema.enabled": False,
            "data.root": None,
            "objectives": ["accuracy", "params"],
            "note": "two words, 'quoted'",
            "resume_changes": ("optim.lr",),
        }
    )
    assert written == [
        "space=cifar",
        "budget.macs=300000000.0",
        "num_init=4",
        "ema.enabled=false",
        "data.root=null",
        "objectives=[accuracy,params]",
        "note='two words, \\'quoted\\''",
        "resume_changes=[optim.lr]",
    ]
    assert api.override_strings(["seed=3"]) == ["seed=3"]


def test_composed_config_equals_the_commands() -> None:
    mine = api.compose_config("search", {"supernet": "RUN", "strategy": "nsga2", "seed": 3})
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        theirs = compose("search", overrides=["supernet=RUN", "strategy=nsga2", "seed=3"])
    assert mine == theirs
    assert mine.strategy.name == "nsga2" and mine.seed == 3


@pytest.mark.parametrize(
    ("command", "overrides", "message"),
    [
        ("train_supernet", ["optim.lrr=1e-3"], "did you mean 'optim.lr'"),
        ("search", ["strategy=lamooo"], "strategy"),
        ("evaluate", [], "not one of"),
        ("search", "seed=3", "a list of key=value strings"),
    ],
)
def test_bad_settings_are_refused_naming_the_fix(command, overrides, message) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        api.compose_config(command, overrides)


def test_a_value_given_twice_or_config_with_overrides_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match="supernet is given both"):
        api.search(tmp_path, ["supernet=elsewhere"])
    config = api.compose_config("search", ["supernet=RUN"])
    with pytest.raises(ConfigError, match="both config and overrides"):
        api.search(tmp_path, ["seed=1"], config=config)
    with pytest.raises(ConfigError, match="DictConfig"):
        api.search(tmp_path, config={"seed": 1})  # type: ignore[arg-type]


def test_search_gives_the_commands_result_and_restores_threads(trained_run, tmp_path) -> None:
    torch.set_num_threads(2)
    found = api.search(trained_run, SMALL_SEARCH, run_dir=tmp_path / "api")
    assert torch.get_num_threads() == 2  # num_threads=1 held only during the call
    overrides = [f"{k}={v}" for k, v in SMALL_SEARCH.items()]
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose(
            "search", [f"supernet={trained_run}", f"run_dir={tmp_path / 'cli'}", *overrides]
        )
    torch.set_num_threads(1)
    by_command = search_command(cfg)
    assert [(r.arch, r.accuracy) for r in found.rows] == [
        (r.arch, r.accuracy) for r in by_command.rows
    ]
    assert found.pareto and all(r.is_pareto for r in found.pareto)
    assert (found.run_dir / "best_arch.json").is_file()


def test_a_composed_config_runs_and_the_default_run_dir_is_the_commands(
    trained_run, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    overrides = [f"{k}={v}" for k, v in SMALL_SEARCH.items()]
    config = api.compose_config("search", ["strategy=random", *overrides])
    found = api.search(trained_run, config=config)
    assert found.run_dir.parent == Path("outputs/search")
    assert found.summary["strategy"] == "random" and len(found.rows) == 8


def test_quickstart_example_runs(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(REPO / "examples" / "quickstart.py"), str(tmp_path), "--quick"],
        capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "retrain" / "metrics.json").read_text())
    assert f"winner: test top-1 {100 * metrics['top1']:.2f} %" in out.stdout
    assert metrics["macs"] <= 600e3
    best = json.loads((tmp_path / "search" / "best_arch.json").read_text())
    assert best["space"] == "tiny"
    assert (tmp_path / "retrain" / "export" / "model.onnx").stat().st_size > 0
    assert (tmp_path / "supernet" / "final.pt").is_file()
