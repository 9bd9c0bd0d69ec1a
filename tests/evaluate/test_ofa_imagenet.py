"""The OFA flow end to end on a tiny ImageNet-layout folder: import an OFA supernet, search it
under a MACs budget (BN recalibrated on training images, validation carved from train), score
the winner on the official-val test split, and retrain it, each through its command's config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from lamoo_nas.commands.evaluate import run_from_config as evaluate_from_config
from lamoo_nas.commands.import_ofa import _task as import_task
from lamoo_nas.commands.retrain import run_from_config as retrain_from_config
from lamoo_nas.commands.search import run as search
from lamoo_nas.supernet import CostModel
from lamoo_nas.train.checkpoint import load_supernet
from tests.imagenet_layout import write_imagenet_layout
from tests.supernet.ofa_helpers import OFA_NAMES, ofa_mbv3, save_published

NUM_CLASSES = 3
CALIB = 8
BUDGET_MACS = 120e6


def _compose(config: str, *overrides: str):
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        return compose(config, overrides=list(overrides))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("ofa_flow")
    root = write_imagenet_layout(base / "imagenet", NUM_CLASSES, train_per_class=8)
    ofa_file = save_published(ofa_mbv3(1.0, NUM_CLASSES, seed=1), base / OFA_NAMES[1.0])
    run_dir = base / "ofa_w10"
    import_task(_compose(
        "import_ofa", f"checkpoint={ofa_file}", f"run_dir={run_dir}", f"data.root={root}",
        "data.num_workers=0", "data.batch_size=8", "data.eval_batch_size=16",
        f"data.calib_images={CALIB}",
    ))  # fmt: skip
    return root, run_dir


def test_import_search_evaluate_retrain(imported, tmp_path: Path) -> None:
    root, run_dir = imported
    loaded = load_supernet(run_dir)
    assert loaded.space.name == "ofa_mbv3" and loaded.num_classes == NUM_CLASSES
    assert loaded.data_config.root == str(root) and loaded.data_config.name == "imagefolder"
    result = search(_compose(
        "search", f"supernet={run_dir}", f"run_dir={tmp_path / 'search'}", "num_samples=4",
        "batch_size=2", "num_init=2", f"calib_images={CALIB}", f"budget.macs={BUDGET_MACS}",
        "progress=false",
    ))  # fmt: skip
    assert len(result.rows) == 4 and all(row.macs <= BUDGET_MACS for row in result.rows)
    best_path = tmp_path / "search" / "best_arch.json"
    best = json.loads(best_path.read_text())
    assert best["space"] == "ofa_mbv3"
    arch = loaded.space.arch_from_json(best)

    val = evaluate_from_config(_compose(
        "evaluate", f"supernet={run_dir}", f"arch={best_path}", "split=val",
        f"calib_images={CALIB}", f"out={tmp_path / 'val.json'}",
    ), tmp_path)  # fmt: skip
    assert val["num_images"] == 3  # validation: 10 % of the 24 training images, one per class
    test = evaluate_from_config(_compose(
        "evaluate", f"supernet={run_dir}", f"arch={best_path}", "split=test",
        f"calib_images={CALIB}", f"out={tmp_path / 'test.json'}",
    ), tmp_path)  # fmt: skip
    assert test["num_images"] == 2 * NUM_CLASSES  # root/val is the test split
    assert test["macs"] == CostModel(loaded.space, NUM_CLASSES)(arch).macs

    retrained = retrain_from_config(_compose(
        "retrain", f"arch={best_path}", "data=imagefolder", f"data.root={root}",
        "data.num_workers=0", "data.batch_size=8", "recipe.epochs=1", "recipe.steps_per_epoch=1",
        "recipe.randaugment=null", "export.enabled=false", "latency.warmup=1",
        "latency.repeats=2", "tensorboard=false", "progress=false",
        f"run_dir={tmp_path / 'retrain'}",
    ), tmp_path / "retrain")  # fmt: skip
    assert retrained.metrics["macs"] == test["macs"]
    assert 0.0 <= retrained.metrics["top1"] <= 1.0
