from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from lamoo_nas.commands.search import run
from lamoo_nas.supernet import CostModel, load_space
from lamoo_nas.supernet.errors import CheckpointError

REPO = Path(__file__).resolve().parents[2]


def _cfg(*overrides: str):
    small = ["num_samples=8", "batch_size=4", "num_init=4", "calib_images=32", "progress=false"]
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        return compose("search", overrides=[*small, *overrides])


@pytest.mark.parametrize("strategy", ["lamoo", "random", "nsga2", "qehvi", "cmaes", "pymoo"])
def test_every_strategy_config_composes_and_runs(trained_run, tmp_path, strategy) -> None:
    cfg = _cfg(f"supernet={trained_run}", f"run_dir={tmp_path}", f"strategy={strategy}")
    result = run(cfg)
    assert len(result.rows) == 8
    assert result.summary["strategy"] == {"pymoo": "pymoo-nsga2"}.get(strategy, strategy)
    assert json.loads((tmp_path / "best_arch.json").read_text())["space"] == "tiny"


def test_params_budget_and_data_override(trained_run, tmp_path) -> None:
    cfg = _cfg(
        f"supernet={trained_run}",
        f"run_dir={tmp_path}",
        "objectives=[accuracy,params]",
        "budget.params=40e3",
        "+data.eval_batch_size=100",
    )
    result = run(cfg)
    assert all(r.params <= 40e3 for r in result.rows)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "final.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"final\.pt"):
        run(_cfg(f"supernet={bad}", f"run_dir={tmp_path / 'out'}"))


def test_command_line_reports_bad_input_in_one_line(trained_run, tmp_path) -> None:
    """The console entry prints one line that names the smallest cost, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamoo_nas.commands.search",
            f"supernet={trained_run}",
            f"run_dir={tmp_path}",
            "budget.macs=1000",
            "progress=false",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 1
    last_line = proc.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: budget (macs <= 1000) is below the smallest")
    smallest = CostModel(load_space("tiny"), 10).smallest()
    assert f"costs {smallest.macs:,} MACs and {smallest.params:,} params" in last_line
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # torchrun, like test_retrain's; default cover: test_distributed (2 gloo ranks)
def test_two_ranks_shard_validation_and_match_one_process(trained_run, tmp_path) -> None:
    """torchrun with 2 CPU ranks (gloo): same architectures, same accuracies as one process."""
    common = ["num_samples=8", "batch_size=4", "num_init=4", "calib_images=32", "progress=false"]
    single = run(_cfg(f"supernet={trained_run}", f"run_dir={tmp_path / 'one'}"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "lamoo_nas.commands.search", f"supernet={trained_run}",
         f"run_dir={tmp_path / 'two'}",
         "device=cpu", f"hydra.run.dir={tmp_path / 'hydra'}", *common],
        capture_output=True, text=True, cwd=REPO, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "two" / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(r["accuracy"]) for r in rows] == [r.accuracy for r in single.rows]
    assert [single.space.arch_from_json(r["arch"]) for r in rows] == [r.arch for r in single.rows]
    assert (tmp_path / "two" / ".ranks" / "rank1" / "results.csv").exists()
    assert proc.stdout.count("Pareto front") == 1  # rank 0 alone reports
