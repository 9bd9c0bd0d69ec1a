"""BN recalibration re-estimates only BN running statistics, over exactly num_images images."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from lamoo_nas.supernet import Supernet, load_space, recalibrate_bn
from lamoo_nas.supernet.bn import BNRecalibrationError
from tests.supernet.supernet_helpers import randomise


class _Recorder(nn.Module):
    """A BN layer that records the batch sizes it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(3, momentum=0.3)
        self.seen: list[int] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(x.shape[0])
        return self.bn(x)


def test_stats_are_the_average_over_exactly_num_images() -> None:
    model = _Recorder()
    gen = torch.Generator().manual_seed(0)
    batches = [2.0 + torch.randn(4, 3, 5, 5, generator=gen) for _ in range(3)]
    out = recalibrate_bn(model, iter(batches), num_images=6)
    assert out is model and not model.training
    assert model.seen == [4, 2]
    # batches weighted by their image count: the mean over exactly the 6 images used
    expected = torch.cat([batches[0], batches[1][:2]]).mean((0, 2, 3))
    torch.testing.assert_close(model.bn.running_mean, expected)
    assert model.bn.momentum == 0.3


def test_only_bn_buffers_change() -> None:
    space = load_space("tiny")
    arch = space.smallest()
    net = randomise(Supernet(space, 10)).extract(arch).train()
    params = {k: v.clone() for k, v in net.named_parameters()}
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    batches = (torch.randn(8, 3, arch.resolution, arch.resolution) for _ in range(2))
    recalibrate_bn(net, batches, num_images=16)
    for name, value in net.named_parameters():
        torch.testing.assert_close(value, params[name], atol=0, rtol=0)
    changed = {k for k, v in net.named_buffers() if not torch.equal(v, buffers[k])}
    assert changed and all(
        k.rsplit(".", 1)[-1] in {"running_mean", "running_var", "num_batches_tracked"}
        for k in changed
    )


def test_empty_batches_raise_and_leave_the_model_alone() -> None:
    model = _Recorder()
    with torch.no_grad():
        model.bn.running_mean.fill_(5.0)
    with pytest.raises(BNRecalibrationError, match="no images"):
        recalibrate_bn(model, iter([]), num_images=10)
    assert torch.all(model.bn.running_mean == 5.0)
    with pytest.raises(BNRecalibrationError, match="positive"):
        recalibrate_bn(model, iter([torch.zeros(1, 3, 2, 2)]), num_images=0)
