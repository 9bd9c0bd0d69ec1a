"""One GPU per local worker (``-m gpu``, two GPUs): each worker process sees only its own."""

from __future__ import annotations

import pytest
import torch

from lamoo_nas.evaluate.executor import ExecutorConfig, WorkerInfo, make_pool
from tests.evaluate.pool_tasks import visible_gpus

pytestmark = pytest.mark.gpu


def test_each_local_worker_sees_one_gpu_of_its_own() -> None:
    gpus = torch.cuda.device_count()
    if gpus < 2:
        pytest.skip(f"one GPU per worker needs two GPUs, this machine has {gpus}")
    with make_pool(ExecutorConfig(kind="local"), WorkerInfo.itself, "cuda", 1) as pool:
        seen = pool.each(visible_gpus)
    assert len(seen) == gpus  # num_workers=None: one worker per GPU
    assert all(count == 1 for _, _, count in seen)
    assert len({visible for _, visible, _ in seen}) == gpus  # each its own
