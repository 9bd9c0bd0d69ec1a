"""Elastic SyncBN: two gloo ranks holding half a batch each normalise like one full batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from lamoo_nas.supernet import Supernet, load_space
from lamoo_nas.supernet.ops import ElasticBatchNorm2d, convert_sync_batchnorm


def _rank(rank: int, init_file: str, x: torch.Tensor, out: dict) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    torch.manual_seed(0)
    bn = convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(8)))[0]
    bn.weight.data.uniform_(0.5, 1.5)
    half = x[rank * 3 : (rank + 1) * 3, :5].clone().requires_grad_(True)  # 5 of 8 channels
    y = bn(half)
    (y * torch.arange(1, 6.0)[None, :, None, None]).sum().backward()
    out[rank] = (y.detach(), half.grad, bn.running_mean.clone(), bn.running_var.clone())
    dist.destroy_process_group()


def test_two_ranks_match_one_batch(tmp_path) -> None:
    torch.manual_seed(1)
    x = torch.randn(6, 8, 4, 4) * 3 + 1
    out = mp.Manager().dict()
    mp.spawn(_rank, args=(str(tmp_path / "init"), x, out), nprocs=2, join=True)

    torch.manual_seed(0)
    reference = ElasticBatchNorm2d(8)
    reference.weight.data.uniform_(0.5, 1.5)
    full = x[:, :5].clone().requires_grad_(True)
    y = reference(full)
    (y * torch.arange(1, 6.0)[None, :, None, None]).sum().backward()
    for rank in (0, 1):
        y_rank, grad_rank, mean_rank, var_rank = out[rank]
        rows = slice(rank * 3, (rank + 1) * 3)
        torch.testing.assert_close(y_rank, y[rows].detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(grad_rank, full.grad[rows], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(mean_rank, reference.running_mean, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(var_rank, reference.running_var, atol=1e-5, rtol=1e-5)
    assert torch.equal(out[0][2][5:], torch.zeros(3))  # inactive channels untouched


def test_conversion_keeps_weights_and_outputs_without_a_process_group() -> None:
    space = load_space("tiny")
    torch.manual_seed(0)
    model = Supernet(space, 10)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    converted = convert_sync_batchnorm(Supernet(space, 10))
    converted.load_state_dict(before)
    assert set(converted.state_dict()) == set(before)
    norms = [m for m in converted.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(isinstance(m, ElasticBatchNorm2d) and m.sync for m in norms)
    x = torch.randn(4, 3, 20, 20)
    model.train(), converted.train()
    arch = space.largest()
    torch.testing.assert_close(converted(x, arch), model(x, arch))  # no group: plain BN
