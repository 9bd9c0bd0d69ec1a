"""Analytic cost == fvcore / thop / parameter count of the extracted subnet, exactly.

fvcore note: in fvcore 0.1.5, ``set_op_handle(name, None)`` only marks an op as ignored but
does not remove fvcore's *default* handle for it, so ``aten::batch_norm`` and
``aten::adaptive_avg_pool2d`` would still be counted. We pin the convention by replacing
their handles with one that counts nothing (ops without a handle — activations, the SE
multiply, residual adds, ``mean`` — are skipped by fvcore anyway).

thop note: thop counts BN and average pooling; ``custom_ops`` maps those module types to
zero so thop also counts conv + linear only (its conv count ignores biases, like ours).
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from thop import profile
from thop.vision.basic_hooks import zero_ops
from torch import nn

from lamoo_nas.supernet import Cost, CostModel, build_static, count_cost, load_space
from lamoo_nas.supernet.errors import ArchValidationError
from lamoo_nas.supernet.space import ArchConfig
from tests.supernet.supernet_helpers import NUM_CLASSES, PRESETS, archs

# fvcore traces cost ~0.1 s (tiny) to ~0.5 s (ofa_mbv3) each on 2 CPU cores: the default
# suite checks the smallest, the largest and a few random archs of every preset, the slow suite
# 50 random ones of every preset.
FAST_COUNT = {"tiny": 12, "cifar": 6, "ofa_mbv3": 3}


def _no_count(inputs: object, outputs: object) -> Counter[str]:
    return Counter()


def fvcore_macs(net: nn.Module, resolution: int) -> int:
    analysis = FlopCountAnalysis(net.eval(), torch.zeros(1, 3, resolution, resolution))
    analysis.set_op_handle("aten::batch_norm", _no_count, "aten::adaptive_avg_pool2d", _no_count)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return int(analysis.total())


def check_against_fvcore(name: str, count: int) -> None:
    space = load_space(name)
    for arch in archs(space, count, seed=7):
        cost = count_cost(space, arch, NUM_CLASSES[name])
        net = build_static(space, arch, NUM_CLASSES[name])
        assert cost.params == sum(p.numel() for p in net.parameters()), str(arch)
        assert cost.macs == fvcore_macs(net, arch.resolution), str(arch)


@pytest.mark.parametrize("name", PRESETS)
def test_cost_equals_fvcore(name: str) -> None:
    check_against_fvcore(name, FAST_COUNT[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", PRESETS)
def test_cost_equals_fvcore_many(name: str) -> None:
    check_against_fvcore(name, 50)


@pytest.mark.parametrize("name", PRESETS)
def test_cost_equals_thop_conv_and_linear(name: str) -> None:
    space = load_space(name)
    zero = {nn.BatchNorm2d: zero_ops, nn.AdaptiveAvgPool2d: zero_ops}
    for arch in archs(space, 2, seed=3):
        net = build_static(space, arch, NUM_CLASSES[name]).eval()
        x = torch.zeros(1, 3, arch.resolution, arch.resolution)
        macs, params = profile(net, inputs=(x,), custom_ops=zero, verbose=False)
        cost = count_cost(space, arch, NUM_CLASSES[name])
        assert (int(macs), int(params)) == (cost.macs, cost.params)


def test_ofa_largest_is_near_the_published_size() -> None:
    space = load_space("ofa_mbv3")
    largest = count_cost(space, ArchConfig(224, space.largest().stages), 1000)
    assert 7.0e6 < largest.params < 8.5e6
    assert 400e6 < largest.macs < 650e6


def test_cost_model_caches_and_orders_extremes() -> None:
    space = load_space("cifar")
    model = CostModel(space, num_classes=10)
    arch = space.largest()
    first = model(arch)
    assert model(arch) is first
    assert "hits=1" in model.cache_info()
    assert first == count_cost(space, arch, 10) == model.largest()
    assert model.smallest().macs < first.macs and model.smallest().params < first.params
    assert Cost(1, 2) + Cost(3, 4) == Cost(4, 6)


def test_invalid_arch_raises_from_validate() -> None:
    space = load_space("tiny")
    bad = ArchConfig(13, space.largest().stages)
    with pytest.raises(ArchValidationError, match="resolution 13"):
        count_cost(space, bad, 10)
    with pytest.raises(ArchValidationError, match="resolution 13"):
        CostModel(space, 10)(bad)
