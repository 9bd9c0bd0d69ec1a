"""The ``nbmacro`` preset is exactly NAS-Bench-Macro: string conversion, cost oracle against the
table, and an independent build of the benchmark's network from its README description."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from lamoo_nas.evaluate.ground_truth import distinct_nbmacro, read_nbmacro_json
from lamoo_nas.supernet import Supernet, count_cost, load_space
from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ArchValidationError
from lamoo_nas.supernet.nbmacro import arch_from_code, canonical_code, code_from_arch
from lamoo_nas.supernet.space import IDENTITY
from tests.nbmacro_table import nbmacro_table_path
from tests.supernet.supernet_helpers import randomise

SPACE = load_space("nbmacro")


@pytest.fixture(scope="module")
def table() -> dict:
    return read_nbmacro_json(nbmacro_table_path())


def test_every_string_maps_to_its_network_and_back(table: dict) -> None:
    archs = {code: arch_from_code(SPACE, code) for code in table}
    assert len(set(archs.values())) == len(distinct_nbmacro(table)) == 3969
    for code, arch in archs.items():
        assert code_from_arch(SPACE, arch) == canonical_code(code)
        assert arch_from_code(SPACE, canonical_code(code)) == arch
        assert SPACE.arch_from_json(SPACE.arch_to_json(arch)) == arch
        assert SPACE.decode(SPACE.encode(arch)) == arch


def test_strings_of_one_network_share_an_arch() -> None:
    # a non-first identity skips its layer wherever it sits in the stage
    assert arch_from_code(SPACE, "01201020") == arch_from_code(SPACE, "01210020")
    assert arch_from_code(SPACE, "10102210") == arch_from_code(SPACE, "10120210")
    assert arch_from_code(SPACE, "10102210") != arch_from_code(SPACE, "10201210")
    stage = arch_from_code(SPACE, "00012200").stages[1]
    assert stage.depth == 3 and stage.kernel_sizes[0] == IDENTITY[0]


def test_cost_model_equals_the_table_on_every_network(table: dict) -> None:
    """params and MACs (the table's ``flops``) agree exactly on all 3,969 networks."""
    for code, row in distinct_nbmacro(table).items():
        cost = count_cost(SPACE, arch_from_code(SPACE, code), num_classes=10)
        assert (cost.params, cost.macs) == (row.params, row.flops), code


def test_extremes_are_the_benchmark_extremes() -> None:
    assert code_from_arch(SPACE, SPACE.smallest()) == "00000000"
    assert code_from_arch(SPACE, SPACE.largest()) == "22222222"


def test_bad_strings_and_other_spaces_are_refused() -> None:
    for bad in ("0201210", "020121003", "02012130", 2012100):
        with pytest.raises(ArchValidationError, match="8 digits"):
            arch_from_code(SPACE, bad)  # type: ignore[arg-type]
    with pytest.raises(ArchSpaceMismatchError, match="space=nbmacro"):
        arch_from_code(load_space("tiny"), "02012100")
    with pytest.raises(ArchSpaceMismatchError, match="resolutions"):
        arch_from_code(dataclasses.replace(SPACE, resolutions=(16, 32)), "02012100")
    low = dataclasses.replace(SPACE, resolutions=(16,))
    assert arch_from_code(low, "02012100").resolution == 16


def _reference_net(code: str) -> nn.Sequential:
    """NAS-Bench-Macro's network built from the README's description, not from this project."""

    def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list:
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout)]  # fmt: skip

    class Residual(nn.Module):
        def __init__(self, body: nn.Sequential) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x)

    layers: list[nn.Module] = [*conv_bn(3, 32, 3), nn.ReLU()]
    cin, digits = 32, iter(code)
    for num_layers, cout in ((2, 64), (3, 128), (3, 256)):
        for i in range(num_layers):
            digit, stride = next(digits), 2 if i == 0 else 1
            if digit == "0":
                if i == 0:
                    layers.append(nn.Sequential(*conv_bn(cin, cout, 1, stride)))
                    cin = cout
                continue
            k, e = (3, 3) if digit == "1" else (5, 6)
            mid = cin * e
            body = nn.Sequential(*conv_bn(cin, mid, 1), nn.ReLU(),
                                 *conv_bn(mid, mid, k, stride, groups=mid), nn.ReLU(),
                                 *conv_bn(mid, cout, 1))  # fmt: skip
            layers.append(Residual(body) if stride == 1 and cin == cout else body)
            cin = cout
    layers += [*conv_bn(cin, 1280, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
               nn.Linear(1280, 10)]  # fmt: skip
    return nn.Sequential(*layers)


def _signature(module: nn.Module) -> list[tuple]:
    out: list[tuple] = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            out.append(("conv", m.in_channels, m.out_channels, m.kernel_size, m.stride,
                        m.padding, m.groups, m.bias is None))  # fmt: skip
        elif isinstance(m, nn.BatchNorm2d):
            out.append(("bn", m.num_features))
        elif isinstance(m, nn.Linear):
            out.append(("linear", m.in_features, m.out_features))
    return out


def _weighted(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]


@pytest.mark.parametrize("code", ["00000000", "22222222", "01201020", "12012012", "20112200"])
def test_extract_is_the_benchmark_network_layer_by_layer(code: str) -> None:
    supernet = randomise(Supernet(SPACE, num_classes=10), seed=3).eval()
    extracted = supernet.extract(arch_from_code(SPACE, code))
    reference = _reference_net(code).eval()
    assert _signature(extracted) == _signature(reference)
    for ours, theirs in zip(_weighted(extracted), _weighted(reference)):
        theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(reference(x), extracted(x), rtol=1e-4, atol=1e-4)
    assert (
        sum(p.numel() for p in reference.parameters())
        == count_cost(SPACE, extracted.arch, 10).params
    )


def test_supernet_forward_equals_extracted_subnet_on_random_archs() -> None:
    supernet = randomise(Supernet(SPACE, num_classes=10), seed=1).eval()
    rng = np.random.default_rng(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    archs = [SPACE.sample(rng) for _ in range(6)]
    assert any(s.kernel_sizes[0] == IDENTITY[0] for a in archs for s in a.stages)
    with torch.no_grad():
        for arch in archs:
            torch.testing.assert_close(supernet(x, arch), supernet.extract(arch)(x))
