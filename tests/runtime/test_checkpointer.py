"""runtime.checkpointer and train.optimisation: named parts saved and restored, config kept."""

from __future__ import annotations

import copy

import pytest
import torch

from lamoo_nas.runtime.checkpointer import Checkpointer, TorchRNG
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.optimisation import amp_dtype, build_optimisation
from lamoo_nas.train.steps import TrainState


def _parts(lr: float = 1e-2):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimisation = build_optimisation(
        model, OptimConfig(lr=lr), ScheduleConfig(epochs=2, warmup_epochs=0), 4, "none",
        torch.device("cpu"), ema_decay=0.9,
    )  # fmt: skip
    state = TrainState()
    checkpointer = Checkpointer(
        {"model": model, "rng": TorchRNG()}, {"format": "demo"}, flat=[optimisation, state]
    )
    return model, optimisation, state, checkpointer


def _train(model, optimisation, state, steps: int) -> None:
    for _ in range(steps):
        optimisation.zero_grad()
        optimisation.backward(model(torch.randn(4, 3)).pow(2).mean())
        state.step += 1
        optimisation.step(model, state.step)


def test_restore_continues_exactly() -> None:
    model, optimisation, state, checkpointer = _parts()
    _train(model, optimisation, state, 2)
    saved = copy.deepcopy(checkpointer.state())  # what torch.save would have written
    assert {"format", "model", "rng", "optimizer", "scheduler", "ema", "step"} <= set(saved)
    _train(model, optimisation, state, 2)
    expected = [p.detach().clone() for p in model.parameters()]

    model2, optimisation2, state2, checkpointer2 = _parts()
    checkpointer2.restore(saved)
    assert state2.step == 2
    _train(model2, optimisation2, state2, 2)
    for a, b in zip(expected, model2.parameters()):
        assert torch.equal(a, b)


def test_a_new_lr_is_kept_over_the_checkpoints() -> None:
    model, optimisation, state, checkpointer = _parts(lr=1e-2)
    _train(model, optimisation, state, 1)
    saved = copy.deepcopy(checkpointer.state())
    _, optimisation2, _, checkpointer2 = _parts(lr=1e-4)
    checkpointer2.restore(saved)
    assert optimisation2.optimizer.param_groups[0]["initial_lr"] == 1e-4
    assert optimisation2.lr <= 1e-4


def test_a_missing_part_is_named() -> None:
    *_, checkpointer = _parts()
    with pytest.raises(CheckpointError, match="lacks \\['rng'\\]"):
        checkpointer.restore({"model": {}})


def test_amp_is_parsed_in_one_place() -> None:
    cpu = torch.device("cpu")
    assert amp_dtype("none", cpu) is None and amp_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="allowed: auto, none, bf16, fp16"):
        amp_dtype("fp8", cpu)
    with pytest.raises(ConfigError, match="needs a CUDA device"):
        amp_dtype("fp16", cpu)
