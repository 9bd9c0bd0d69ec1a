"""Once-for-All's own code as the oracle: converted weights compute what OFA computes.

For both published widths, a randomly initialised ``OFAMobileNetV3`` is converted; on 20 subnets
per width at several resolutions our supernet forward equals OFA's ``set_active_subnet``
forward, our ``extract`` equals OFA's ``get_active_subnet()`` network (eval mode, 1e-5 on logits
of order one), MACs equal OFA's FLOPs counter and params its parameter count.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from ofa.imagenet_classification.elastic_nn.networks import OFAProxylessNASNets, OFAResNets
from ofa.utils.flops_counter import profile
from ofa.utils.pytorch_utils import count_net_flops, count_parameters

from lamoo_nas.supernet import ArchConfig, CostModel, load_space
from lamoo_nas.supernet.errors import (
    ArchValidationError,
    OFACheckpointError,
    OFAUnsupportedNetworkError,
    OFAWidthError,
)
from lamoo_nas.supernet.ofa import (
    OFA_VARIANTS,
    arch_from_ofa,
    convert_ofa_state_dict,
    ofa_names,
    ofa_subnet_settings,
    ofa_variant_of,
)
from tests.supernet.ofa_helpers import OFA_NAMES, ofa_mbv3

NUM_CLASSES = 10
RESOLUTIONS = (128, 132, 144, 160, 176)
SUBNETS = 20
TOLERANCE = {"atol": 1e-5, "rtol": 0.0}


@pytest.fixture(scope="module", params=[1.0, 1.2], ids=["w1.0", "w1.2"])
def pair(request):
    ofa = ofa_mbv3(request.param, NUM_CLASSES, seed=3)
    imported = convert_ofa_state_dict({"state_dict": ofa.state_dict()})
    return request.param, ofa, imported, imported.supernet().eval()


def _subnets(space, count: int, seed: int) -> list[ArchConfig]:
    rng = np.random.default_rng(seed)
    archs = [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(count - 2))]
    return [ArchConfig(RESOLUTIONS[i % len(RESOLUTIONS)], a.stages) for i, a in enumerate(archs)]


def _ofa_macs(net: torch.nn.Module, resolution: int) -> tuple[float, int]:
    """OFA's FLOPs of ``net``: its own total (summed in float32) and its per-layer counts
    summed exactly."""
    counted = copy.deepcopy(net)
    total, _ = profile(counted, (1, 3, resolution, resolution))
    leaves = [m for m in counted.modules() if not list(m.children())]
    return total, sum(int(m.total_ops.item()) for m in leaves)


def test_converted_supernet_and_subnets_equal_ofa(pair) -> None:
    width, ofa, imported, ours = pair
    assert imported.variant == OFA_NAMES[width]
    assert imported.space.name == OFA_VARIANTS[OFA_NAMES[width]]
    cost = CostModel(imported.space, NUM_CLASSES)
    torch.manual_seed(0)
    previous = None
    for arch in _subnets(imported.space, SUBNETS, seed=int(width * 10)):
        x = torch.randn(1, 3, arch.resolution, arch.resolution)
        ofa.set_active_subnet(**ofa_subnet_settings(imported.space, arch))
        ofa_subnet = ofa.get_active_subnet().eval()
        extracted = ours.extract(arch)
        with torch.no_grad():
            expected = ofa(x)
            torch.testing.assert_close(ours(x, arch), expected, **TOLERANCE)
            torch.testing.assert_close(extracted(x), ofa_subnet(x), **TOLERANCE)
        assert expected.abs().max() > 0.1  # logits of order one: the tolerance is strict
        if previous is not None and previous.shape == expected.shape:
            assert (previous - expected).abs().max() > 1e-2  # subnets do differ
        previous = expected
        ofa_total, ofa_exact = _ofa_macs(ofa_subnet, arch.resolution)
        assert cost(arch).macs == ofa_exact
        assert cost(arch).macs == pytest.approx(ofa_total, rel=1e-6)  # OFA sums in float32
        assert cost(arch).params == count_parameters(ofa_subnet)
        assert cost(arch).params == sum(p.numel() for p in extracted.parameters())


def test_ofa_settings_map_to_the_same_subnet(pair) -> None:
    """An OFA setting (inactive slots holding any choice) read with arch_from_ofa runs the
    network OFA runs for it."""
    _, ofa, imported, ours = pair
    space = imported.space
    rng = np.random.default_rng(5)
    slots = sum(spec.max_depth for spec in space.stages)
    for resolution in (136, 148):
        ks = rng.choice([3, 5, 7], slots).tolist()
        e = rng.choice([3, 4, 6], slots).tolist()
        d = rng.choice([2, 3, 4], len(space.stages)).tolist()
        arch = arch_from_ofa(space, ks, e, d, resolution)
        ofa.set_active_subnet(ks=ks, e=e, d=d)
        x = torch.randn(1, 3, resolution, resolution)
        with torch.no_grad():
            torch.testing.assert_close(ours(x, arch), ofa(x), **TOLERANCE)
        assert count_net_flops(ofa.get_active_subnet(), (1, 3, resolution, resolution)) == (
            pytest.approx(CostModel(space, NUM_CLASSES)(arch).macs, rel=1e-6)
        )


def test_every_tensor_is_copied_as_it_is(pair) -> None:
    _, ofa, imported, _ = pair
    theirs = ofa.state_dict()
    names = ofa_names(imported.space)
    assert len(set(names.values())) == len(names) == len(imported.state_dict) == len(theirs)
    matrices = [k for k in imported.state_dict if ".transforms." in k]
    assert len(matrices) == 2 * 20
    for key, value in imported.state_dict.items():
        original = theirs.get(names[key])
        if original is None:  # OFA's dynamic layers double the segment: .conv.conv., .bn.bn.
            name = names[key]
            candidates = [name.replace(".conv.weight", ".conv.conv.weight"), name]
            candidates += [
                name.replace(".bn.", ".bn.bn."),
                name.replace(".linear.", ".linear.linear."),
            ]
            original = next(theirs[c] for c in candidates if c in theirs)
        assert torch.equal(value, original), key


def test_older_key_spellings_convert_to_the_same_weights(pair) -> None:
    """OFA's loader accepts ``mobile_inverted_conv`` and single ``.bn.`` / ``.conv.`` /
    ``.linear.`` keys (older checkpoints); so does the import, also under ``module.``."""
    _, ofa, imported, _ = pair
    legacy = {}
    for key, value in ofa.state_dict().items():
        old = (
            key.replace(".conv.", ".mobile_inverted_conv.", 1) if key.startswith("blocks.") else key
        )
        old = old.replace(".bn.bn.", ".bn.").replace(".conv.conv.", ".conv.")
        legacy["module." + old.replace(".linear.linear.", ".linear.")] = value
    again = convert_ofa_state_dict(legacy)
    assert again.variant == imported.variant
    assert all(torch.equal(again.state_dict[k], v) for k, v in imported.state_dict.items())


def test_settings_round_trip_and_bad_lists() -> None:
    space = load_space("ofa_mbv3")
    rng = np.random.default_rng(0)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(20))]:
        settings = ofa_subnet_settings(space, arch)
        assert len(settings["ks"]) == len(settings["e"]) == 20 and len(settings["d"]) == 5
        assert arch_from_ofa(space, **settings, resolution=arch.resolution) == arch
    with pytest.raises(ArchValidationError, match="20 ks and e entries and 5 d entries"):
        arch_from_ofa(space, [3] * 19, [3] * 20, [2] * 5, 224)
    with pytest.raises(ArchValidationError, match="kernel_sizes"):
        arch_from_ofa(space, [9] * 20, [3] * 20, [2] * 5, 224)
    assert ofa_variant_of(space) == OFA_NAMES[1.0]
    assert ofa_variant_of(load_space("ofa_mbv3_w12")) == OFA_NAMES[1.2]
    assert ofa_variant_of(load_space("cifar")) is None


def test_presets_have_ofa_parameter_counts() -> None:
    """The supernets' own parameter counts (kernel-transformation matrices included) equal
    OFA's at 1,000 classes: 7,678,880 (w1.0) and 10,715,752 (w1.2)."""
    for width, expected in ((1.0, 7_678_880), (1.2, 10_715_752)):
        space = load_space(OFA_VARIANTS[OFA_NAMES[width]])
        net = convert_ofa_state_dict(ofa_mbv3(width, 1000).state_dict()).supernet()
        assert net.space == space
        assert sum(p.numel() for p in net.parameters()) == expected


# ------------------------------------------------------------------------ refused networks
def test_proxyless_and_resnet_supernets_are_refused_by_name() -> None:
    proxyless = OFAProxylessNASNets(
        n_classes=10, width_mult=1.3, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
        depth_list=[2, 3, 4],
    )  # fmt: skip
    with pytest.raises(OFAUnsupportedNetworkError, match=r"ProxylessNAS.*only OFA's MobileNetV3"):
        convert_ofa_state_dict({"state_dict": proxyless.state_dict()})
    resnet = OFAResNets(n_classes=10, depth_list=[0, 1, 2], expand_ratio_list=[0.2, 0.25, 0.35],
                        width_mult_list=[0.65, 0.8, 1.0])  # fmt: skip
    with pytest.raises(OFAUnsupportedNetworkError, match=r"ResNet supernet \(ofa_resnet50\)"):
        convert_ofa_state_dict(resnet.state_dict())


def test_another_width_names_the_widths_it_found() -> None:
    state = ofa_mbv3(1.5, 10).state_dict()
    with pytest.raises(
        OFAWidthError,
        match=r"width_mult about 1\.50.*stem 24, stages 40-64-120-168-240, final expand 1440",
    ):
        convert_ofa_state_dict(state)


def test_specialised_subnet_other_lists_and_damaged_dicts_are_refused(pair) -> None:
    _, ofa, imported, _ = pair
    ofa.set_max_net()
    with pytest.raises(OFAUnsupportedNetworkError, match="specialised OFA subnet"):
        convert_ofa_state_dict(ofa.get_active_subnet().state_dict())
    two_kernels = ofa_mbv3(1.0, 10, ks_list=[3, 5]).state_dict()
    with pytest.raises(
        OFACheckpointError, match=r"missing blocks\.1\.conv\.depth_conv\.conv\.7to5"
    ):
        convert_ofa_state_dict(two_kernels)
    state = dict(ofa.state_dict())
    del state["final_expand_layer.bn.running_var"]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(OFACheckpointError, match=r"missing final_expand_layer.*unexpected extra"):
        convert_ofa_state_dict(state)
    state = dict(ofa.state_dict())
    state["blocks.3.conv.point_linear.bn.bn.bias"] = torch.zeros(7)
    with pytest.raises(OFACheckpointError, match=r"point_linear\.bn\.bias has shape \[7\]"):
        convert_ofa_state_dict(state)
    with pytest.raises(OFACheckpointError, match="holds no tensors"):
        convert_ofa_state_dict({"epoch": 3})
    with pytest.raises(OFACheckpointError, match="got list"):
        convert_ofa_state_dict([1, 2])  # type: ignore[arg-type]
    assert imported.num_classes == NUM_CLASSES
