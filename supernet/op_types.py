"""The built-in block types: the inverted residual (MBConv) and the identity projection.

Each class holds everything about its kind of layer (see :class:`BlockType`): how an
architecture names its op, its shape, its exact cost, its static module, and its parameters,
forward and extraction inside the elastic layer. Both are registered on import; a new block
type is a :class:`BlockType` subclass registered with :func:`register_block_type`.

Example:
    >>> op_label((3, 6.0)), op_label(IDENTITY)
    ('k3e6', 'id')
    >>> block_type(IDENTITY).name
    'identity'
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from lamoo_nas.supernet._channels import (
    BlockShape,
    max_mid_channels,
    mid_channels,
    projection_shape,
    se_channels,
)
from lamoo_nas.supernet._op_registry import (
    BLOCK_TYPES,
    BlockType,
    LayerOptions,
    block_type,
    block_type_of,
    register_block_type,
)
from lamoo_nas.supernet.cost import ZERO, Cost, conv_bn_cost, conv_cost
from lamoo_nas.supernet.ops import (
    ElasticBatchNorm2d,
    ElasticDepthwiseConv,
    ElasticPointwiseConv,
    ElasticSqueezeExcite,
    copy_bn,
)
from lamoo_nas.supernet.space import IDENTITY, Op, StageSpec
from lamoo_nas.supernet.static import ConvBN, Projection, SqueezeExcite, StaticBlock, activation

__all__ = [
    "BLOCK_TYPES",
    "IDENTITY",
    "BlockType",
    "IdentityProjection",
    "InvertedResidual",
    "LayerOptions",
    "block_type",
    "block_type_of",
    "op_label",
    "register_block_type",
]


class InvertedResidual(BlockType):
    """Expand 1x1 -> depthwise kxk (stride) -> [SE] -> project 1x1 (+ x where shapes match);
    the op is ``(kernel_size, expand_ratio)``."""

    name: ClassVar[str] = "mbconv"

    def matches(self, op: Op) -> bool:
        return tuple(op) != IDENTITY

    def owns(self, shape: BlockShape) -> bool:
        return not shape.projection

    def label(self, op: Op) -> str:
        return f"k{op[0]}e{op[1]:g}"

    def shape(
        self, spec: StageSpec, in_channels: int, width: int, op: Op, stride: int, size: int
    ) -> BlockShape:
        kernel, expand = op
        return BlockShape(
            in_channels=in_channels,
            mid_channels=mid_channels(in_channels, expand),
            out_channels=width,
            kernel_size=kernel,
            stride=stride,
            expand=expand != 1,
            se=spec.se,
            activation=spec.activation,
            size=size,
        )

    def cost(self, shape: BlockShape) -> Cost:
        mid, out_size = shape.mid_channels, shape.out_size
        cost = ZERO
        if shape.expand:
            cost += conv_bn_cost(shape.in_channels, mid, 1, shape.size)
        cost += conv_bn_cost(mid, mid, shape.kernel_size, out_size, groups=mid)
        if shape.se:
            reduced = se_channels(mid)
            cost += conv_cost(mid, reduced, 1, 1, bias=True)
            cost += conv_cost(reduced, mid, 1, 1, bias=True)
        return cost + conv_bn_cost(mid, shape.out_channels, 1, out_size)

    def static(self, shape: BlockShape) -> nn.Module:
        return StaticBlock(shape)

    def build(self, layer: Any, in_choices: tuple[int, ...], spec: StageSpec,
              options: LayerOptions) -> None:  # fmt: skip
        max_mid = max_mid_channels(in_choices, spec.expand_ratios)
        layer.expand_conv = None
        layer.expand_bn = None
        if any(e != 1 for e in spec.expand_ratios):
            layer.expand_conv = ElasticPointwiseConv(max(in_choices), max_mid)
            layer.expand_bn = ElasticBatchNorm2d(max_mid)
        layer.depthwise = ElasticDepthwiseConv(max_mid, spec.kernel_sizes, options.kernel_transform)
        layer.depthwise_bn = ElasticBatchNorm2d(max_mid)
        layer.se = ElasticSqueezeExcite(max_mid) if spec.se else None
        layer.project = ElasticPointwiseConv(max_mid, spec.max_width)
        layer.project_bn = ElasticBatchNorm2d(spec.max_width)
        layer.act = activation(spec.activation)

    def forward(self, layer: Any, x: Tensor, op: Op, out_channels: int) -> Tensor:
        kernel_size, expand_ratio = op
        in_channels = x.shape[1]
        hidden = x
        if expand_ratio != 1:
            assert layer.expand_conv is not None and layer.expand_bn is not None
            hidden = layer.expand_conv(hidden, mid_channels(in_channels, expand_ratio))
            hidden = layer.act(layer.expand_bn(hidden))
        hidden = layer.depthwise(hidden, kernel_size, layer.stride)
        hidden = layer.act(layer.depthwise_bn(hidden))
        if layer.se is not None:
            hidden = layer.se(hidden)
        out = layer.project_bn(layer.project(hidden, out_channels))
        if layer.stride == 1 and in_channels == out_channels:
            out = out + x
        return out

    @torch.no_grad()
    def extract(self, layer: Any, shape: BlockShape) -> nn.Module:
        block = StaticBlock(shape).to(layer.project.weight)
        mid = shape.mid_channels
        if shape.expand:
            assert layer.expand_conv is not None and layer.expand_bn is not None
            assert isinstance(block.expand, ConvBN)
            block.expand.conv.weight.copy_(layer.expand_conv.sliced_weight(mid, shape.in_channels))
            copy_bn(block.expand.bn, layer.expand_bn)
        block.depthwise.conv.weight.copy_(layer.depthwise.kernel(mid, shape.kernel_size))
        copy_bn(block.depthwise.bn, layer.depthwise_bn)
        if shape.se:
            assert layer.se is not None and isinstance(block.se, SqueezeExcite)
            names = ("reduce.weight", "reduce.bias", "expand.weight", "expand.bias")
            block.se.load_state_dict(dict(zip(names, layer.se.sliced(mid))))
        block.project.conv.weight.copy_(layer.project.sliced_weight(shape.out_channels, mid))
        copy_bn(block.project.bn, layer.project_bn)
        return block


class IdentityProjection(BlockType):
    """The identity op (:data:`IDENTITY`) of a layer that changes shape: a strided 1x1 conv +
    BN with its own weights (offered by a stage's first layer with ``identity``)."""

    name: ClassVar[str] = "identity"

    def matches(self, op: Op) -> bool:
        return tuple(op) == IDENTITY

    def owns(self, shape: BlockShape) -> bool:
        return shape.projection

    def label(self, op: Op) -> str:
        return "id"

    def shape(
        self, spec: StageSpec, in_channels: int, width: int, op: Op, stride: int, size: int
    ) -> BlockShape:
        return projection_shape(in_channels, width, stride, spec.activation, size)

    def cost(self, shape: BlockShape) -> Cost:
        return conv_bn_cost(shape.in_channels, shape.out_channels, 1, shape.out_size)

    def static(self, shape: BlockShape) -> nn.Module:
        return Projection(shape)

    def build(self, layer: Any, in_choices: tuple[int, ...], spec: StageSpec,
              options: LayerOptions) -> None:  # fmt: skip
        layer.identity_conv = None
        layer.identity_bn = None
        if options.identity:
            layer.identity_conv = ElasticPointwiseConv(max(in_choices), spec.max_width)
            layer.identity_bn = ElasticBatchNorm2d(spec.max_width)

    def forward(self, layer: Any, x: Tensor, op: Op, out_channels: int) -> Tensor:
        assert layer.identity_conv is not None and layer.identity_bn is not None
        return layer.identity_bn(layer.identity_conv(x, out_channels, layer.stride))

    @torch.no_grad()
    def extract(self, layer: Any, shape: BlockShape) -> nn.Module:
        assert layer.identity_conv is not None and layer.identity_bn is not None
        projection = Projection(shape).to(layer.project.weight)
        weight = layer.identity_conv.sliced_weight(shape.out_channels, shape.in_channels)
        projection.project.conv.weight.copy_(weight)
        copy_bn(projection.project.bn, layer.identity_bn)
        return projection


IDENTITY_PROJECTION = register_block_type(IdentityProjection())
INVERTED_RESIDUAL = register_block_type(InvertedResidual())


def op_label(op: Op) -> str:
    """The short name of ``op`` by its block type (``k3e6``, ``id``)."""
    return block_type(op).label(op)
