"""A run killed with SIGKILL mid-epoch and resumed ends with the same weights as an
uninterrupted run (every tensor equal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from lamoo_nas.commands.train_supernet import run
from lamoo_nas.train.checkpoint import read_checkpoint
from tests.train._supernet_config import TINY_OVERRIDES, compose_cfg

ROOT = Path(__file__).resolve().parents[2]
RUN_OVERRIDES = [*TINY_OVERRIDES, "checkpoint.every_steps=1", "seed=3"]


def _wait_for_mid_epoch_checkpoint(proc: subprocess.Popen, last: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before it was killed")
        if last.is_file():
            ckpt = torch.load(last, weights_only=True)
            if ckpt["step"] >= 2:
                return
        time.sleep(0.02)
    raise AssertionError("no last.pt with step >= 2 appeared in time")


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    killed_dir = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "lamoo_nas.commands.train_supernet", *RUN_OVERRIDES,
        f"run_dir={killed_dir}", f"hydra.run.dir={killed_dir}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_for_mid_epoch_checkpoint(proc, killed_dir / "last.pt", timeout_s=60)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    stopped = read_checkpoint(killed_dir / "last.pt")
    steps_per_epoch = 96 // 16
    assert not (killed_dir / "final.pt").exists()
    assert 0 < stopped["batch_in_epoch"] < steps_per_epoch, "the kill must land mid-epoch"

    resumed = run(
        compose_cfg(*RUN_OVERRIDES[len(TINY_OVERRIDES) :], "resume=true", f"run_dir={killed_dir}")
    )
    straight = run(
        compose_cfg(*RUN_OVERRIDES[len(TINY_OVERRIDES) :], f"run_dir={tmp_path / 'straight'}")
    )

    a = read_checkpoint(resumed.final_checkpoint)
    b = read_checkpoint(straight.final_checkpoint)
    assert a["step"] == b["step"] == 2 * steps_per_epoch
    for key in ("model", "optimizer"):
        flat_a, flat_b = _tensors(a[key]), _tensors(b[key])
        assert flat_a.keys() == flat_b.keys()
        for name in flat_a:
            assert torch.equal(flat_a[name], flat_b[name]), f"{key}.{name} differs"
    assert a["rng"]["arch"] == b["rng"]["arch"]


def _tensors(tree: object, prefix: str = "") -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    if isinstance(tree, torch.Tensor):
        out[prefix] = tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            out.update(_tensors(value, f"{prefix}.{key}"))
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            out.update(_tensors(value, f"{prefix}[{i}]"))
    return out
