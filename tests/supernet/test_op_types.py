"""Block types: every op of every preset space has one type, and each type's static module,
cost and extraction agree with the elastic layer it is part of."""

from __future__ import annotations

import pytest
import torch

from lamoo_nas.supernet import available_spaces, load_space
from lamoo_nas.supernet.blocks import ElasticInvertedResidual
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.op_types import (
    BLOCK_TYPES,
    IDENTITY,
    IdentityProjection,
    block_type,
    block_type_of,
    op_label,
    register_block_type,
)
from lamoo_nas.supernet.static import init_weights


@pytest.mark.parametrize("name", available_spaces())
def test_every_op_of_a_space_has_one_type_and_its_label(name: str) -> None:
    space = load_space(name)
    for spec in space.stages:
        for op in {*spec.layer_ops(0), *spec.layer_ops(1)}:
            assert sum(t.matches(op) for t in BLOCK_TYPES) == 1
            assert op_label(op) == ("id" if op == IDENTITY else f"k{op[0]}e{op[1]:g}")


@pytest.mark.parametrize("op", [IDENTITY, (3, 3.0), (5, 6.0)])
def test_a_type_builds_runs_and_extracts_its_layer(op: tuple[int, float]) -> None:
    torch.manual_seed(0)
    spec = load_space("nbmacro").stages[1]  # identity offered, width 128, stride 2
    layer = ElasticInvertedResidual((64,), spec, stride=spec.stride, identity=True)
    init_weights(layer)
    layer.eval()
    kind = block_type(op)
    shape = kind.shape(spec, 64, spec.max_width, op, spec.stride, 16)
    assert block_type_of(shape) is kind and shape.projection == (op == IDENTITY)
    x = torch.randn(2, 64, 16, 16)
    static = layer.to_static(shape).eval()
    assert type(static) is type(kind.static(shape))
    torch.testing.assert_close(static(x), layer(x, op[0], op[1], spec.max_width))
    assert sum(p.numel() for p in static.parameters()) == kind.cost(shape).params


def test_a_block_type_name_is_registered_once() -> None:
    with pytest.raises(ConfigError, match="'identity' is registered already"):
        register_block_type(IdentityProjection())
