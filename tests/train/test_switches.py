"""The GPU switches exercised on CPU: a supernet step and a retraining (static) step under bf16
autocast, channels-last memory and the compiled forward give finite losses close to the eager
fp32 step on the same batch, and their checkpoints resume exactly.

One test compiles (inductor generates and builds C++ on CPU: tens of seconds), on a
one-architecture space so that it compiles once; the others run eager.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
import torch

from lamoo_nas.supernet import Supernet
from lamoo_nas.train.steps import TrainState
from tests.train._switches import (
    NUM_CLASSES,
    Switches,
    batch,
    one_arch_space,
    restore,
    save_and_load,
    static_step,
    supernet_step,
    tiny_space,
)

STEPS = {"supernet": supernet_step, "static": static_step}
EAGER = {
    "bf16": Switches(amp="bf16"),
    "channels_last": Switches(channels_last=True),
    "bf16+channels_last": Switches(amp="bf16", channels_last=True),
}
LOSS_RTOL = {"none": 1e-5, "bf16": 5e-3}
"""Largest relative difference from the fp32 eager loss on the same batch and weights: fp32
sums in another order (channels-last kernels), bf16 keeps 8 bits of mantissa."""


@pytest.fixture(autouse=True)
def _keep_global_rng() -> Iterator[None]:
    # a resume restores torch's global generator from the checkpoint: leave the caller's as it was
    with torch.random.fork_rng(devices=[]):
        yield


def _losses(kind: str, switches: Switches, steps: int = 2) -> list[float]:
    space = tiny_space()
    step, state = STEPS[kind](space, switches), TrainState()
    return [step(*batch(space, seed=i), state).loss for i in range(steps)]


@pytest.mark.parametrize("kind", list(STEPS))
@pytest.mark.parametrize("name", list(EAGER))
def test_a_switched_step_is_finite_and_close_to_fp32_eager(kind: str, name: str) -> None:
    switches = EAGER[name]
    reference, switched = _losses(kind, Switches()), _losses(kind, switches)
    assert all(math.isfinite(loss) for loss in switched)
    rtol = LOSS_RTOL[switches.amp]
    for ref, got in zip(reference, switched):
        assert abs(got - ref) <= rtol * abs(ref), f"{name}: loss {got} vs fp32 eager {ref}"


def test_bf16_autocast_really_runs_in_bf16() -> None:
    # the tolerance above would also pass if autocast were silently off: prove it is on
    space = tiny_space()
    step = supernet_step(space, Switches(amp="bf16"))
    x, _ = batch(space)
    with step.optimisation.autocast("cpu"):
        logits = step.model(x, space.largest())
    assert logits.dtype == torch.bfloat16


@pytest.mark.parametrize("kind", list(STEPS))
def test_a_bf16_channels_last_run_resumes_exactly(kind: str, tmp_path) -> None:
    space, switches = tiny_space(), Switches(amp="bf16", channels_last=True)
    straight, state = STEPS[kind](space, switches), TrainState()
    losses = [straight(*batch(space, seed=i), state).loss for i in range(3)]

    cut, cut_state = STEPS[kind](space, switches), TrainState()
    for i in range(2):
        cut(*batch(space, seed=i), cut_state)
    ckpt = save_and_load(cut, cut_state, space, tmp_path / "last.pt")
    resumed = STEPS[kind](space, switches)
    resumed_state = restore(resumed, space, ckpt)
    assert resumed_state.step == 2
    assert resumed(*batch(space, seed=2), resumed_state).loss == losses[2]
    _assert_same_tensors(resumed.model.state_dict(), straight.model.state_dict())
    _assert_same_tensors(
        resumed.optimisation.state_dict()["optimizer"]["state"],
        straight.optimisation.state_dict()["optimizer"]["state"],
    )


def test_the_compiled_forward_with_bf16_and_channels_last(tmp_path) -> None:
    space = one_arch_space()
    eager = supernet_step(space, Switches())
    compiled = supernet_step(space, Switches(amp="bf16", channels_last=True, compile=True))
    eager_state, compiled_state = TrainState(), TrainState()
    for i in range(2):
        x, y = batch(space, seed=i)
        ref = eager(x, y, eager_state).loss
        got = compiled(x, y, compiled_state).loss
        assert math.isfinite(got)
        assert abs(got - ref) <= LOSS_RTOL["bf16"] * abs(ref), f"step {i}: {got} vs {ref}"

    # the checkpoint holds the plain model's weights (no torch.compile key prefix): it loads
    # into an uncompiled supernet, as the search and a resume load it
    ckpt = save_and_load(compiled, compiled_state, space, tmp_path / "last.pt")
    assert ckpt["model"].keys() == eager.model.state_dict().keys()
    plain = Supernet(space, NUM_CLASSES)
    plain.load_state_dict(ckpt["model"])
    _assert_same_tensors(plain.state_dict(), compiled.model.state_dict())


def _assert_same_tensors(a: object, b: object, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            _assert_same_tensors(a[key], b[key], f"{where}.{key}")
    else:
        assert a == b, where


def test_a_supernet_run_with_bf16_and_channels_last_trains_and_evaluates(tmp_path) -> None:
    # the whole run as train.run builds it: options checked, model converted, eval hook
    from lamoo_nas.runtime.data import DataConfig
    from lamoo_nas.train.checkpoint import read_checkpoint
    from lamoo_nas.train.optim import ScheduleConfig
    from lamoo_nas.train.run import RunOptions, SupernetTrainConfig, train_supernet

    cfg = SupernetTrainConfig(
        space=tiny_space(),
        data=DataConfig(max_train_images=64, batch_size=16, calib_images=32),
        schedule=ScheduleConfig(epochs=1, warmup_epochs=0),
        run=RunOptions(
            device="cpu", amp="bf16", channels_last=True, progress=False, tensorboard=False
        ),
    )
    summary = train_supernet(cfg, tmp_path)
    assert summary.model.final_conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert 0.0 <= float(summary.metrics["val_acc_largest"]) <= 1.0
    assert math.isfinite(float(summary.metrics["train_loss"]))
    ckpt = read_checkpoint(summary.final_checkpoint)
    assert ckpt["step"] == 64 // 16
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values() if t.is_floating_point())
