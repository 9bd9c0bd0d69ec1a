"""Many runs at once through Hydra's submitit launcher (``submitit_local`` here, the same code
path as ``submitit_slurm`` on a cluster): a retraining of several architectures and a sweep of
supernet training seeds, each job a process of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lamoo_nas.supernet import load_space

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("hydra_plugins.hydra_submitit_launcher")


def test_the_submitit_launchers_compose_and_import() -> None:
    """The fast guard (the sweeps themselves run under ``-m slow``): every command composes with
    ``hydra/launcher=submitit_local`` and ``submitit_slurm``, and their classes import."""
    from hydra import compose, initialize_config_module
    from hydra.utils import get_class

    for launcher, target in (
        ("submitit_local", "LocalLauncher"),
        ("submitit_slurm", "SlurmLauncher"),
    ):
        with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
            cfg = compose("retrain", [f"hydra/launcher={launcher}", "arch=x.json"],
                          return_hydra_config=True)  # fmt: skip
        assert cfg.hydra.launcher._target_.endswith(target)
        assert get_class(cfg.hydra.launcher._target_).__name__ == target


def _multirun(module: str, sweep: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", module, "-m", "hydra/launcher=submitit_local",
               f"hydra.sweep.dir={sweep}", "progress=false", *overrides]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / ".submitit").is_dir()  # the jobs went through submitit
    return proc


@pytest.mark.slow  # ~1.5 min: two jobs, each a process
def test_retraining_the_top_archs_as_parallel_jobs(tmp_path) -> None:
    space = load_space("tiny")
    paths = []
    for name, arch in (("small", space.smallest()), ("large", space.largest())):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(space.arch_to_json(arch)))
    sweep = tmp_path / "sweep"
    _multirun(
        "lamoo_nas.commands.retrain",
        sweep,
        f"arch={paths[0]},{paths[1]}",
        "recipe.epochs=1",
        "tensorboard=false",
        "latency.repeats=2",
        "latency.warmup=1",
        "export.enabled=false",
    )
    metrics = [json.loads((sweep / str(job) / "metrics.json").read_text()) for job in (0, 1)]
    assert metrics[0]["macs"] < metrics[1]["macs"]  # each job retrained its own architecture


@pytest.mark.slow  # ~1.5 min: two jobs, each a process
def test_a_sweep_of_supernet_training_seeds(tmp_path) -> None:
    sweep = tmp_path / "sweep"
    _multirun(
        "lamoo_nas.commands.train_supernet",
        sweep,
        "seed=0,1",
        "schedule.epochs=1",
        "data.max_train_images=64",
        "tensorboard=false",
    )
    weights = [
        torch.load(sweep / str(job) / "final.pt", map_location="cpu", weights_only=True)
        for job in (0, 1)
    ]
    assert [w["config"]["seed"] for w in weights] == [0, 1]
    first = next(k for k in weights[0]["model"] if k.endswith("weight"))
    assert not torch.equal(weights[0]["model"][first], weights[1]["model"][first])
