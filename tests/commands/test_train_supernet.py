"""The CLI end to end: a 2-run Hydra sweep, and the EMA / bf16 / uniform / no-distill variants."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from lamoo_nas.commands.train_supernet import run
from lamoo_nas.train.checkpoint import load_supernet, read_checkpoint
from tests.train._supernet_config import compose_cfg

ROOT = Path(__file__).resolve().parents[2]
SHORT = [
    "data.max_train_images=32", "data.batch_size=16", "data.calib_images=32",
    "schedule.epochs=1", "schedule.warmup_epochs=0", "progress=false", "tensorboard=false",
]  # fmt: skip


def test_multirun_sweep_of_two_runs_writes_two_run_dirs(tmp_path):
    cmd = [
        sys.executable, "-m", "lamoo_nas.commands.train_supernet", "-m", *SHORT, "num_threads=1",
        "optim.lr=0.001,0.002", f"hydra.sweep.dir={tmp_path}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    lrs = []
    for job in ("0", "1"):
        ckpt = read_checkpoint(tmp_path / job / "final.pt")
        lrs.append(ckpt["config"]["optim"]["lr"])
        assert (tmp_path / job / "metrics.csv").is_file()
    assert lrs == [0.001, 0.002]


def test_ema_bf16_uniform_without_distillation(tmp_path):
    cfg = compose_cfg(
        *SHORT, "ema.enabled=true", "ema.decay=0.5", "amp=bf16", "device=cpu",
        "sampler=uniform", "distill=none", f"run_dir={tmp_path}", tiny=False,
    )  # fmt: skip
    summary = run(cfg)
    raw = read_checkpoint(summary.final_checkpoint)
    assert raw["ema"] is not None and raw["config"]["sampler"]["name"] == "uniform"
    ema, plain = load_supernet(tmp_path, use_ema=True), load_supernet(tmp_path, use_ema=False)
    plain_weights = plain.model.state_dict()
    assert all(torch.equal(plain_weights[k], v) for k, v in raw["model"].items())
    differs = any(
        not torch.equal(ema.model.state_dict()[k], raw["model"][k])
        for k in raw["model"]
        if raw["model"][k].is_floating_point()
    )
    assert differs, "EMA weights should differ from the raw weights after a few steps"
    assert 0.0 <= summary.metrics["val_acc_largest"] <= 1.0
