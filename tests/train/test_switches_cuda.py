"""The GPU paths that cannot run on CPU (``-m gpu``; bench/gpu/check.sh runs them): fp16 autocast
with a GradScaler, every switch together on CUDA, NCCL gradient averaging (two GPUs) and the CUDA
latency measurement.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Iterator

import pytest
import torch
import torch.multiprocessing as mp

from lamoo_nas.evaluate.latency import measure_latency_ms
from lamoo_nas.train.steps import TrainState
from tests.train._switches import (
    Switches,
    batch,
    one_arch_space,
    restore,
    save_and_load,
    static_step,
    supernet_step,
    tiny_space,
)

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")
STEPS = {"supernet": supernet_step, "static": static_step}
LOSS_RTOL = 1e-2  # fp16/bf16 autocast vs the fp32 (TF32 convolutions) step, same batch and weights


@pytest.fixture(autouse=True)
def _needs_cuda() -> Iterator[None]:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    with torch.random.fork_rng(devices=[CUDA]):
        yield


def _losses(step, space, steps: int = 2) -> list[float]:
    state = TrainState()
    return [step(*batch(space, seed=i), state).loss for i in range(steps)]


@pytest.mark.parametrize("kind", list(STEPS))
def test_fp16_with_grad_scaler_is_close_to_fp32_and_resumes(kind: str, tmp_path) -> None:
    space, fp16 = tiny_space(), Switches(amp="fp16")
    reference = _losses(STEPS[kind](space, Switches(), CUDA), space)
    straight = STEPS[kind](space, fp16, CUDA)
    assert straight.optimisation.scaler.is_enabled()
    got = _losses(straight, space, 3)
    for ref, loss in zip(reference, got):
        assert math.isfinite(loss) and abs(loss - ref) <= LOSS_RTOL * abs(ref)

    cut, state = STEPS[kind](space, fp16, CUDA), TrainState()
    for i in range(2):
        cut(*batch(space, seed=i), state)
    ckpt = save_and_load(cut, state, space, tmp_path / "last.pt")
    assert ckpt["scaler"] is not None and ckpt["scaler"]["scale"] > 0
    resumed = STEPS[kind](space, fp16, CUDA)
    resumed_state = restore(resumed, space, ckpt)
    assert resumed.optimisation.scaler.get_scale() == cut.optimisation.scaler.get_scale()
    loss = resumed(*batch(space, seed=2), resumed_state).loss
    # CUDA kernels (atomics in convolution and interpolation backward) are not bitwise
    # reproducible run to run: equal up to their rounding
    assert loss == pytest.approx(got[2], rel=1e-3)
    for name, tensor in resumed.model.state_dict().items():
        torch.testing.assert_close(tensor, straight.model.state_dict()[name], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_every_switch_together_on_cuda(amp: str) -> None:
    space = one_arch_space()
    reference = _losses(supernet_step(space, Switches(), CUDA), space)
    switched = Switches(amp=amp, channels_last=True, compile=True)
    got = _losses(supernet_step(space, switched, CUDA), space)
    for ref, loss in zip(reference, got):
        assert math.isfinite(loss) and abs(loss - ref) <= LOSS_RTOL * abs(ref)


def test_cuda_latency_is_measured_on_the_gpu() -> None:
    space = tiny_space()
    arch = space.largest()
    net = supernet_step(space, Switches(), CUDA).model.extract(arch)
    stats = measure_latency_ms(net, (1, 3, arch.resolution, arch.resolution), "cuda", 5, 20)
    assert stats.device.startswith("cuda") and 0 < stats.min_ms <= stats.median_ms


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nccl_worker(rank: int, world_size: int, port: int) -> None:
    from lamoo_nas.runtime.distributed import all_reduce_gradients, init_from_env, shutdown

    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
        WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
    )  # fmt: skip
    ctx = init_from_env("cuda")
    assert torch.distributed.get_backend() == "nccl"
    layer = torch.nn.Linear(3, 2).to(ctx.device)
    (layer(torch.ones(1, 3, device=ctx.device)).sum() * (rank + 1)).backward()
    all_reduce_gradients(layer, ctx)
    assert layer.weight.grad is not None
    mean_factor = sum(r + 1 for r in range(world_size)) / world_size
    torch.testing.assert_close(layer.weight.grad, torch.full_like(layer.weight, mean_factor))
    shutdown(ctx)


def test_nccl_ranks_average_their_gradients() -> None:
    if torch.cuda.device_count() < 2:
        pytest.skip(f"NCCL needs two GPUs, this machine has {torch.cuda.device_count()}")
    mp.spawn(_nccl_worker, args=(2, _free_port()), nprocs=2, join=True)
