"""One inherited accuracy: training's logged ``val_acc_*``, the search's evaluator and
``nas-evaluate supernet=...`` give the same number for the same architecture and data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lamoo_nas.evaluate.executor import WorkerInfo
from lamoo_nas.evaluate.measure import LatencyOptions, evaluate_supernet_arch
from lamoo_nas.evaluate.pooled_accuracy import ScorerSpec
from lamoo_nas.supernet import ArchConfig
from lamoo_nas.train.checkpoint import load_supernet
from lamoo_nas.train.logs import read_metrics


def _search_accuracy(run_dir: Path, arch: ArchConfig) -> float:
    """What nas-search scores: the evaluator its workers build from the supernet's data."""
    loaded = load_supernet(run_dir)
    data = loaded.data_config
    spec = ScorerSpec(str(run_dir), True, data, max(loaded.space.resolutions),
                      data.calib_images, data.eval_batch_size)  # fmt: skip
    evaluator = spec(WorkerInfo(0, "cpu", None, 1))
    return float(evaluator.accuracy([arch])[0])


def _nas_evaluate_accuracy(run_dir: Path, arch: ArchConfig, tmp_path: Path) -> float:
    loaded = load_supernet(run_dir)
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(loaded.space.arch_to_json(arch)))
    latency = LatencyOptions(warmup=1, repeats=1)
    result = evaluate_supernet_arch(run_dir, arch_path, "val", torch.device("cpu"), latency)
    return float(result["top1"])


@pytest.mark.parametrize("name", ["smallest", "largest"])
def test_training_search_and_nas_evaluate_agree(trained_run: Path, tmp_path: Path, name) -> None:
    loaded = load_supernet(trained_run)
    space = loaded.space
    arch = space.smallest() if name == "smallest" else space.largest()
    logged = read_metrics(trained_run)[-1][f"val_acc_{name}"]  # rounded to 6 digits
    searched = _search_accuracy(trained_run, arch)
    measured = _nas_evaluate_accuracy(trained_run, arch, tmp_path)
    assert searched == measured
    assert round(searched, 6) == logged
    if name == "smallest":  # below the data's resolution: every path resizes the same way
        assert arch.resolution < max(space.resolutions)


def test_a_different_calibration_count_gives_a_different_number(
    trained_run: Path, tmp_path: Path
) -> None:
    """The agreement above is not vacuous: the number depends on the calibration images."""
    loaded = load_supernet(trained_run)
    arch = loaded.space.smallest()
    arch_path = tmp_path / "arch.json"
    arch_path.write_text(json.dumps(loaded.space.arch_to_json(arch)))
    latency = LatencyOptions(warmup=1, repeats=1)
    counts = [2, loaded.data_config.calib_images]
    tops = [
        evaluate_supernet_arch(trained_run, arch_path, "val", torch.device("cpu"), latency, n)
        for n in counts
    ]
    assert tops[0]["top1"] != tops[1]["top1"]
