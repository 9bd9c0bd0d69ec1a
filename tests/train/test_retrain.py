"""Retraining from scratch: the API end to end (tiny data, step cap), resume, configs, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from evaluate.load import load_exported
from supernet import count_cost, load_space
from supernet.errors import ArchSpaceMismatchError, ArchValidationError, ConfigError
from train.data import DataConfig
from train.recipes import Recipe, build_mixup, epoch_batches, load_recipe, parse_randaugment
from train.retrain import (
    RETRAIN_FORMAT,
    RetrainOptions,
    _arch_and_space,
    recipe_from_config,
    retrain,
)

CONF = str(Path(__file__).resolve().parents[2] / "conf")
DATA = DataConfig(name="digits", batch_size=32, max_train_images=128, calib_images=32)
OPTIONS = RetrainOptions(latency_warmup=1, latency_repeats=3, tensorboard=False, progress=False)


def _recipe(epochs: int = 1) -> Recipe:
    return Recipe(epochs=epochs, steps_per_epoch=2, warmup_epochs=0.0, ema_decay=0.9)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    space = load_space("tiny")
    arch = space.smallest()
    run_dir = tmp_path_factory.mktemp("retrain")
    return space, arch, retrain(arch, space, DATA, _recipe(), run_dir, OPTIONS)


def test_retrain_writes_metrics_checkpoints_and_export(run) -> None:
    space, arch, result = run
    m = result.metrics
    assert 0.0 <= m["top1"] <= 1.0 and 0.0 <= m["top5"] <= 1.0 and m["top5"] >= m["top1"]
    cost = count_cost(space, arch, 10)
    assert (m["macs"], m["params"]) == (cost.macs, cost.params)
    assert m["params"] == sum(p.numel() for p in result.model.parameters())
    assert m["latency_cpu_ms"] > 0 and m["steps"] == 2 and m["split"] == "test"
    assert json.loads((result.run_dir / "metrics.json").read_text())["top1"] == m["top1"]
    for name in ("last.pt", "final.pt", "metrics.csv"):
        assert (result.run_dir / name).is_file()
    exported = load_exported(result.export_paths.root)
    assert exported.arch == arch and exported.metrics["top1"] == m["top1"]


def test_checkpoint_describes_itself(run) -> None:
    space, arch, result = run
    ckpt = torch.load(result.run_dir / "final.pt", weights_only=True)
    assert ckpt["format"] == RETRAIN_FORMAT and ckpt["step"] == 2
    assert space.arch_from_json(ckpt["arch"]) == arch
    assert ckpt["space_fingerprint"] == space.fingerprint


def test_weights_are_fresh_not_zero_trained(run) -> None:
    _, _, result = run
    exported = load_exported(result.export_paths.root)
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(exported.model(x), result.model(x))


def test_resume_continues_from_last_checkpoint(run, tmp_path: Path) -> None:
    space, arch, first = run
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes((first.run_dir / "last.pt").read_bytes())
    options = RetrainOptions(**{**OPTIONS.__dict__, "resume": True, "export": False})
    result = retrain(arch, space, DATA, _recipe(epochs=2), run_dir, options)
    assert result.metrics["steps"] == 4  # 2 restored + 2 new
    other = space.largest()
    with pytest.raises(Exception, match="holds architecture"):
        retrain(other, space, DATA, _recipe(epochs=3), run_dir, options)


def test_existing_export_is_not_overwritten(run) -> None:
    space, arch, result = run
    from evaluate.export import ExportExistsError

    before = (result.run_dir / "last.pt").stat().st_mtime_ns
    with pytest.raises(ExportExistsError, match="overwrite"):
        retrain(arch, space, DATA, _recipe(), result.run_dir, OPTIONS)
    assert (result.run_dir / "last.pt").stat().st_mtime_ns == before  # failed before training


@pytest.mark.parametrize("name", ["digits", "cifar", "imagenet"])
def test_recipes_compose_into_typed_objects(name: str) -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("retrain", overrides=[f"recipe={name}", "arch=x.json"])
    from omegaconf import OmegaConf

    recipe = recipe_from_config(OmegaConf.to_container(cfg.recipe, resolve=True))
    assert recipe.name == name and recipe.schedule.epochs == recipe.epochs
    assert load_recipe(name) == recipe  # the Hydra-free loader reads the same file
    assert (recipe.randaugment is not None) == (name != "digits")


def test_mixup_batches_are_soft_and_seeded() -> None:
    recipe = Recipe(mixup_alpha=0.2, cutmix_alpha=1.0, label_smoothing=0.1)
    mixup = build_mixup(recipe, num_classes=10)
    images = torch.randn(8, 3, 12, 12)
    labels = torch.arange(8)

    def run_once():
        batches = epoch_batches(lambda epoch: [(images, labels)] * 3, 2, 0, None, mixup)
        return list(batches(0, 0))

    first, second = run_once(), run_once()
    assert len(first) == 2 and first[0][1].shape == (8, 10)
    torch.testing.assert_close(first[1][0], second[1][0])
    assert np.allclose(first[0][1].sum(1).numpy(), 1.0)


def test_bad_recipe_values_raise() -> None:
    with pytest.raises(ConfigError, match="randaugment"):
        parse_randaugment("m9-x3")
    with pytest.raises(ConfigError, match="ema_decay"):
        Recipe(ema_decay=1.0)
    with pytest.raises(ConfigError, match="unknown recipe keys"):
        Recipe.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match="shipped"):
        load_recipe("nope")


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
    from train.retrain import main

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


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    from supernet.errors import CheckpointError

    space = load_space("tiny")
    options = RetrainOptions(**{**OPTIONS.__dict__, "resume": True})
    with pytest.raises(CheckpointError, match=r"no .*last\.pt"):
        retrain(space.smallest(), space, DATA, _recipe(), tmp_path, options)


def test_randaugment_is_driven_by_the_injected_generator() -> None:
    from train.recipes import build_randaugment

    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    images = torch.rand(4, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    images = (images - 0.5) / 0.25

    def augmented(seed: int) -> torch.Tensor:
        return build_randaugment("m15-n2", mean, std)(images, torch.Generator().manual_seed(seed))

    torch.manual_seed(123)
    first = augmented(0)
    torch.manual_seed(456)  # the global RNG plays no part
    torch.testing.assert_close(first, augmented(0))
    assert first.shape == images.shape and not torch.equal(first, augmented(1))


@pytest.mark.slow
def test_torchrun_two_cpu_ranks(tmp_path: Path) -> None:
    import shutil
    import subprocess

    tiny = load_space("tiny")
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(tiny.arch_to_json(tiny.smallest())))
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    done = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "train.retrain", f"arch={arch_path}",
         f"run_dir={tmp_path / 'r'}", "device=cpu", "num_threads=1", "recipe.epochs=1",
         "recipe.steps_per_epoch=2", "progress=false", "tensorboard=false", "latency.repeats=2"],
        capture_output=True, text=True, timeout=300, cwd=Path(CONF).parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run dir:") == 1  # rank 0 alone reports
    assert load_exported(tmp_path / "r" / "export").arch == tiny.smallest()
