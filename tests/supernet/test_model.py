"""Supernet forward == extracted static subnet; the forward keeps no state between calls."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from lamoo_nas.supernet import Supernet, build_static, count_cost, load_space, resize_to
from lamoo_nas.supernet.errors import ArchValidationError
from lamoo_nas.supernet.ops import ElasticDepthwiseConv
from lamoo_nas.supernet.space import ArchConfig, StageArch
from tests.supernet.supernet_helpers import NUM_CLASSES, PRESETS, randomise, small_archs

RANDOM_ARCHS = {"tiny": 6, "cifar": 2, "ofa_mbv3": 1}


@pytest.mark.parametrize("kernel_transform", [False, True])
@pytest.mark.parametrize("name", PRESETS)
def test_supernet_equals_extracted_subnet(name: str, kernel_transform: bool) -> None:
    space, archs = small_archs(name, RANDOM_ARCHS[name], seed=1)
    net = randomise(Supernet(space, NUM_CLASSES[name], kernel_transform)).eval()
    torch.manual_seed(0)
    for arch in archs:
        x = torch.randn(2, 3, arch.resolution, arch.resolution)
        static = net.extract(arch)
        expected = net(x, arch)
        assert expected.shape == (2, NUM_CLASSES[name])
        assert expected.abs().max() > 1e-3
        torch.testing.assert_close(static(x), expected, atol=1e-5, rtol=1e-4)
        params = sum(p.numel() for p in static.parameters())
        assert params == count_cost(space, arch, NUM_CLASSES[name]).params


def test_train_mode_matches_extracted_subnet_and_touches_only_active_stats() -> None:
    space = load_space("tiny")
    net = randomise(Supernet(space, 10)).train()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    arch = space.smallest()
    static = net.extract(arch)
    x = torch.randn(4, 3, arch.resolution, arch.resolution)
    torch.testing.assert_close(static(x), net(x, arch), atol=1e-5, rtol=1e-4)
    bn = net.stages[0][0].project_bn
    width = arch.stages[0].width
    assert width < bn.num_features
    after = bn.running_mean
    assert not torch.equal(after[:width], before["stages.0.0.project_bn.running_mean"][:width])
    torch.testing.assert_close(after[width:], before["stages.0.0.project_bn.running_mean"][width:])
    unused = net.stages[0][1].project_bn.running_var  # depth 1 in the smallest arch
    torch.testing.assert_close(unused, before["stages.0.1.project_bn.running_var"])


def test_forward_has_no_hidden_state() -> None:
    space, (a, b, *_) = small_archs("tiny", 0)
    net = randomise(Supernet(space, 10)).eval()
    xa = torch.randn(2, 3, a.resolution, a.resolution)
    xb = torch.randn(2, 3, b.resolution, b.resolution)
    first = net(xa, a)
    net(xb, b)
    torch.testing.assert_close(net(xa, a), first, atol=0, rtol=0)


def test_extracted_weights_are_copies() -> None:
    space = load_space("tiny")
    net = Supernet(space, 10)
    static = net.extract(space.largest())
    with torch.no_grad():
        for p in static.parameters():
            p.add_(1.0)
    fresh = net.extract(space.largest())
    for p, q in zip(static.parameters(), fresh.parameters()):
        assert not torch.equal(p, q)


def test_kernel_transform_changes_small_kernels_only() -> None:
    conv = ElasticDepthwiseConv(4, (3, 5, 7), kernel_transform=True)
    plain = ElasticDepthwiseConv(4, (3, 5, 7))
    plain.load_state_dict({"weight": conv.weight.detach()})
    torch.testing.assert_close(conv.kernel(4, 3), plain.kernel(4, 3))  # identity at init
    with torch.no_grad():
        conv.transforms["5to3"].mul_(2.0)
    torch.testing.assert_close(conv.kernel(4, 3), 2.0 * plain.kernel(4, 3))
    torch.testing.assert_close(conv.kernel(4, 5), plain.kernel(4, 5))
    torch.testing.assert_close(conv.kernel(2, 7), conv.weight[:2])


def test_invalid_arch_and_wrong_resolution_are_rejected() -> None:
    space = load_space("tiny")
    net = Supernet(space, 10)
    arch = space.largest()
    bad = ArchConfig(arch.resolution, (StageArch(1, (7,), (2.0,), 12), *arch.stages[1:]))
    with pytest.raises(ArchValidationError, match="kernel_sizes"):
        net(torch.zeros(1, 3, arch.resolution, arch.resolution), bad)
    with pytest.raises(ArchValidationError, match="kernel_sizes"):
        net.extract(bad)
    with pytest.raises(ArchValidationError, match="resize_to"):
        net(torch.zeros(1, 3, 16, 16), arch)


def test_resize_to() -> None:
    x = torch.randn(2, 3, 32, 32)
    assert resize_to(x, 32) is x
    assert resize_to(x, 20).shape == (2, 3, 20, 20)


def test_build_static_scripts_and_matches_its_trace() -> None:
    space = load_space("tiny")
    arch = space.sample(np.random.default_rng(5))
    net = build_static(space, arch, 10).eval()
    assert net.arch == arch and net.space_name == "tiny"
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    scripted = torch.jit.script(copy.deepcopy(net))
    torch.testing.assert_close(scripted(x), net(x))
    traced = torch.jit.trace(net, x)
    torch.testing.assert_close(traced(x), net(x))


def test_channels_last_input() -> None:
    space = load_space("tiny")
    net = randomise(Supernet(space, 10)).eval()
    arch = space.largest()
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    torch.testing.assert_close(
        net(x.to(memory_format=torch.channels_last), arch), net(x, arch), atol=1e-5, rtol=1e-4
    )


def test_static_net_exports_to_onnx() -> None:
    ort = pytest.importorskip("onnxruntime")
    space = load_space("tiny")
    arch = space.largest()
    net = build_static(space, arch, 10).eval()
    x = torch.randn(2, 3, arch.resolution, arch.resolution)
    buffer = io.BytesIO()
    torch.onnx.export(net, (x,), buffer, dynamo=False, input_names=["x"], output_names=["y"])
    session = ort.InferenceSession(buffer.getvalue())
    (y,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(y), net(x), atol=1e-5, rtol=1e-4)


def test_gradients_reach_only_active_weights() -> None:
    space = load_space("tiny")
    net = Supernet(space, 10, kernel_transform=True).train()
    arch = space.smallest()  # kernel 3 everywhere: goes through the 5to3 transform
    net(torch.randn(4, 3, arch.resolution, arch.resolution), arch).sum().backward()
    block = net.stages[1][0]
    width = arch.stages[1].width
    assert block.project.weight.grad[:width].abs().sum() > 0
    assert block.project.weight.grad[width:].abs().sum() == 0
    assert block.depthwise.transforms["5to3"].grad.abs().sum() > 0
    assert net.stages[1][1].project.weight.grad is None  # inactive block
