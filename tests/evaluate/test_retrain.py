"""``nas-retrain``: retrain, measure latency, export, metrics.json; the CLI and torchrun."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from lamoo_nas.commands.retrain import _arch_and_space
from lamoo_nas.commands.settings import recipe_from_config
from lamoo_nas.evaluate.load import load_exported
from lamoo_nas.evaluate.retrain import FinishOptions, retrain_and_export
from lamoo_nas.supernet import load_space
from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ArchValidationError
from lamoo_nas.train.recipes import load_recipe
from tests.train._retrain_setup import DATA, OPTIONS, tiny_recipe

CONF = str(Path(__file__).resolve().parents[2] / "conf")
FINISH = FinishOptions(latency_warmup=1, latency_repeats=3)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    space = load_space("tiny")
    arch = space.smallest()
    run_dir = tmp_path_factory.mktemp("retrain")
    return (
        space,
        arch,
        retrain_and_export(arch, space, DATA, tiny_recipe(), run_dir, OPTIONS, FINISH),
    )


def test_metrics_json_holds_test_accuracy_cost_and_latency(run) -> None:
    _, arch, result = run
    m = result.metrics
    assert m["latency_cpu_ms"] > 0 and m["latency_cpu"]["repeats"] == 3
    assert m["split"] == "test" and 0.0 <= m["top1"] <= 1.0
    as_json = json.loads(json.dumps(m))
    assert json.loads((result.run_dir / "metrics.json").read_text()) == as_json
    exported = load_exported(result.export_paths.root)
    assert exported.arch == arch and json.loads(json.dumps(exported.metrics)) == as_json


def test_weights_are_fresh_not_zero_trained(run) -> None:
    _, _, result = run
    exported = load_exported(result.export_paths.root)
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(exported.model(x), result.model(x))


def test_existing_export_is_not_overwritten(run) -> None:
    space, arch, result = run
    from lamoo_nas.evaluate.export import ExportExistsError

    before = (result.run_dir / "last.pt").stat().st_mtime_ns
    with pytest.raises(ExportExistsError, match="overwrite"):
        retrain_and_export(arch, space, DATA, tiny_recipe(), result.run_dir, OPTIONS, FINISH)
    assert (result.run_dir / "last.pt").stat().st_mtime_ns == before  # failed before training


def test_resuming_a_run_cut_off_before_metrics_redoes_its_export(run, tmp_path: Path) -> None:
    import shutil

    space, arch, first = run
    run_dir = tmp_path / "r"
    shutil.copytree(first.run_dir, run_dir)
    (run_dir / "metrics.json").unlink()  # killed between the export and metrics.json
    stamp = (run_dir / "export" / "model.pt").stat().st_mtime_ns
    options = dataclasses.replace(OPTIONS, resume=True)
    done = retrain_and_export(arch, space, DATA, tiny_recipe(), run_dir, options, FINISH)
    assert done.metrics["steps"] == first.metrics["steps"]  # nothing trained again
    assert (run_dir / "metrics.json").is_file()
    assert (run_dir / "export" / "model.pt").stat().st_mtime_ns != stamp


@pytest.mark.parametrize("name", ["digits", "cifar", "imagenet"])
def test_recipes_compose_into_typed_objects(name: str) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("retrain", overrides=[f"recipe={name}", "arch=x.json"])
    from omegaconf import OmegaConf

    recipe = recipe_from_config(OmegaConf.to_container(cfg.recipe, resolve=True))
    assert recipe.name == name and recipe.schedule.epochs == recipe.epochs
    assert load_recipe(name) == recipe  # the Hydra-free loader reads the same file
    assert (recipe.randaugment is not None) == (name != "digits")


def _cfg(tmp_path: Path, raw: dict, *overrides: str):
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(raw))
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("retrain", overrides=[f"arch={arch_path}", *overrides])


def test_space_comes_from_the_arch_json_or_must_match(tmp_path: Path) -> None:
    tiny = load_space("tiny")
    raw = tiny.arch_to_json(tiny.largest())
    arch, space = _arch_and_space(_cfg(tmp_path, raw))
    assert space.name == "tiny" and arch == tiny.largest()
    with pytest.raises(ArchSpaceMismatchError, match="tiny"):
        _arch_and_space(_cfg(tmp_path, raw, "space=cifar"))
    raw["stages"][0]["width"] = 999
    with pytest.raises(ArchValidationError, match="999"):
        _arch_and_space(_cfg(tmp_path, raw))


def test_cli_bad_arch_is_one_line_error(tmp_path: Path, monkeypatch) -> None:
    from lamoo_nas.commands.retrain import main

    tiny = load_space("tiny")
    raw = tiny.arch_to_json(tiny.smallest())
    raw["resolution"] = 13
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(raw))
    argv = ["nas-retrain", f"arch={arch_path}", f"run_dir={tmp_path / 'r'}"]
    monkeypatch.setattr("sys.argv", [*argv, f"hydra.run.dir={tmp_path / 'h'}"])
    with pytest.raises(SystemExit) as info:
        main()
    message = str(info.value.code)
    assert message.startswith("error:") and "13" in message and "\n" not in message
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_torchrun_two_cpu_ranks(tmp_path: Path) -> None:
    import shutil
    import subprocess

    tiny = load_space("tiny")
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(tiny.arch_to_json(tiny.smallest())))
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    done = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "lamoo_nas.commands.retrain", f"arch={arch_path}",
         f"run_dir={tmp_path / 'r'}", "device=cpu", "num_threads=1", "recipe.epochs=1",
         "recipe.steps_per_epoch=2", "progress=false", "tensorboard=false", "latency.repeats=2"],
        capture_output=True, text=True, timeout=300, cwd=Path(CONF).parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run dir:") == 1  # rank 0 alone reports
    assert load_exported(tmp_path / "r" / "export").arch == tiny.smallest()
