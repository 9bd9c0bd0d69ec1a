"""Retraining from scratch: training, test metrics, checkpoints, resume, recipes, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lamoo_nas.supernet import count_cost, load_space
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.recipes import (
    Recipe,
    build_mixup,
    epoch_batches,
    load_recipe,
    parse_randaugment,
)
from lamoo_nas.train.retrain import RETRAIN_FORMAT, RetrainOptions, retrain
from tests.train._retrain_setup import DATA, OPTIONS, tiny_recipe


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    space = load_space("tiny")
    arch = space.smallest()
    run_dir = tmp_path_factory.mktemp("retrain")
    return space, arch, retrain(arch, space, DATA, tiny_recipe(), run_dir, OPTIONS)


def test_retrain_scores_the_test_split_and_checkpoints(run) -> None:
    space, arch, result = run
    m = result.metrics
    assert 0.0 <= m["top1"] <= 1.0 and 0.0 <= m["top5"] <= 1.0 and m["top5"] >= m["top1"]
    cost = count_cost(space, arch, 10)
    assert (m["macs"], m["params"]) == (cost.macs, cost.params)
    assert m["params"] == sum(p.numel() for p in result.model.parameters())
    assert m["steps"] == 2 and m["split"] == "test" and result.num_classes == 10
    assert space.arch_from_json(m["arch"]) == arch
    for name in ("last.pt", "final.pt", "metrics.csv"):
        assert (result.run_dir / name).is_file()
    # latency, metrics.json and the export belong to evaluate.retrain
    assert "latency_cpu_ms" not in m and not (result.run_dir / "metrics.json").exists()


def test_checkpoint_describes_itself(run) -> None:
    space, arch, result = run
    ckpt = torch.load(result.run_dir / "final.pt", weights_only=True)
    assert ckpt["format"] == RETRAIN_FORMAT and ckpt["step"] == 2
    assert space.arch_from_json(ckpt["arch"]) == arch
    assert ckpt["space_fingerprint"] == space.fingerprint


def test_resume_continues_from_last_checkpoint(run, tmp_path: Path) -> None:
    space, arch, first = run
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    (run_dir / "last.pt").write_bytes((first.run_dir / "last.pt").read_bytes())
    options = RetrainOptions(**{**OPTIONS.__dict__, "resume": True})
    result = retrain(arch, space, DATA, tiny_recipe(epochs=2), run_dir, options)
    assert result.metrics["steps"] == 4  # 2 restored + 2 new
    assert not (run_dir / "metrics.json").exists() and not (run_dir / "export").exists()
    other = space.largest()
    with pytest.raises(Exception, match="holds architecture"):
        retrain(other, space, DATA, tiny_recipe(epochs=3), run_dir, options)


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


def test_resume_without_checkpoint_is_an_error(tmp_path: Path) -> None:
    from lamoo_nas.supernet.errors import CheckpointError

    space = load_space("tiny")
    options = RetrainOptions(**{**OPTIONS.__dict__, "resume": True})
    with pytest.raises(CheckpointError, match=r"no .*last\.pt"):
        retrain(space.smallest(), space, DATA, tiny_recipe(), tmp_path, options)


def test_randaugment_is_driven_by_the_injected_generator() -> None:
    from lamoo_nas.train.recipes import build_randaugment

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


def test_retrain_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    space = load_space("tiny")
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    first = retrain(space.smallest(), space, DATA, tiny_recipe(), tmp_path / "a", OPTIONS)
    assert torch.equal(torch.rand(3), expected)
    second = retrain(space.smallest(), space, DATA, tiny_recipe(), tmp_path / "b", OPTIONS)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        torch.testing.assert_close(a, b)  # same seed, same weights


def test_corrupt_or_foreign_last_checkpoint_is_a_clear_error(run, tmp_path: Path) -> None:
    from lamoo_nas.supernet.errors import CheckpointError

    space, arch, first = run
    options = RetrainOptions(**{**OPTIONS.__dict__, "resume": True})
    (tmp_path / "last.pt").write_bytes((first.run_dir / "last.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        retrain(arch, space, DATA, tiny_recipe(), tmp_path, options)
    torch.save({"format": "something-else"}, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="not a retrain checkpoint"):
        retrain(arch, space, DATA, tiny_recipe(), tmp_path, options)
