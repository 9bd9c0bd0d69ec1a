"""The loop: one optimizer step per sandwich, NaN stops the run without touching last.pt."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lamoo_nas.supernet import Supernet, load_space, resize_to
from lamoo_nas.train.checkpoint import checkpoint_header, read_checkpoint, training_checkpointer
from lamoo_nas.train.distill import DistillConfig, StepLoss
from lamoo_nas.train.errors import TrainingDivergedError
from lamoo_nas.train.hooks import CheckpointHook
from lamoo_nas.train.loop import Trainer
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.optimisation import build_optimisation
from lamoo_nas.train.sampler import SamplerConfig, build_sampler
from lamoo_nas.train.steps import SupernetStep, TrainState

SPACE = load_space("tiny")


def _trainer(batches, run_dir, sampler="sandwich", clip=5.0):
    torch.manual_seed(0)
    model = Supernet(SPACE, num_classes=10)
    optimisation = build_optimisation(
        model,
        OptimConfig(lr=1e-3, clip_grad_norm=clip),
        ScheduleConfig(epochs=1, warmup_epochs=0),
        3,
        "none",
        torch.device("cpu"),
    )
    step = SupernetStep(
        model=model,
        optimisation=optimisation,
        sampler=build_sampler(SamplerConfig(sampler), SPACE),
        loss=StepLoss(DistillConfig()),
        arch_rng=np.random.default_rng(0),
        resize=resize_to,
    )
    state = TrainState()
    header = checkpoint_header(SPACE, 10, {"name": "digits"}, {})
    hook = CheckpointHook(run_dir, training_checkpointer(step, state, header, 0), every_steps=1)
    return Trainer(step, lambda epoch, skip: batches[skip:], 1, [hook], state)


def _batch(fill: float | None = None):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 20, 20, generator=g)
    if fill is not None:
        x[0, 0, 0, 0] = fill
    return x, torch.randint(0, 10, (8,), generator=g)


def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(tmp_path):
    trainer = _trainer([_batch(), _batch(), _batch(float("nan"))], tmp_path)
    with pytest.raises(TrainingDivergedError, match=r"step 3 \(epoch 0.*lower optim.lr|Lower"):
        trainer.train()
    last = read_checkpoint(tmp_path / "last.pt")
    assert last["step"] == 2
    assert all(torch.isfinite(t).all() for t in last["model"].values() if t.is_floating_point())
    assert not (tmp_path / "final.pt").exists()


def test_inf_input_is_caught_too(tmp_path):
    trainer = _trainer([_batch(float("inf"))], tmp_path)
    with pytest.raises(TrainingDivergedError, match="NaN/inf"):
        trainer.train()
    assert not (tmp_path / "last.pt").exists()


def test_one_optimizer_step_per_sandwich(tmp_path):
    trainer = _trainer([_batch(), _batch()], tmp_path)
    calls = []
    optimizer = trainer.step.optimisation.optimizer
    original = optimizer.step
    optimizer.step = lambda *a, **k: calls.append(1) or original(*a, **k)
    forwards = []
    trainer.model.register_forward_hook(lambda m, inp, out: forwards.append(inp[1]))
    trainer.train()
    assert len(calls) == 2 and trainer.state.step == 2
    assert len(forwards) == 2 * 4
    assert forwards[0] == SPACE.largest() and forwards[1] == SPACE.smallest()


def test_uniform_sampler_trains_one_arch_per_step(tmp_path):
    trainer = _trainer([_batch()], tmp_path, sampler="uniform")
    forwards = []
    trainer.model.register_forward_hook(lambda m, inp, out: forwards.append(inp[1]))
    trainer.train()
    assert len(forwards) == 1
