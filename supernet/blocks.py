"""The elastic inverted residual block of the supernet and its export to a static block.

Example:
    >>> spec = load_space("tiny").stages[0]
    >>> block = ElasticInvertedResidual((8,), spec, stride=2)
    >>> block(torch.zeros(2, 8, 20, 20), kernel_size=3, expand_ratio=2.0, out_channels=12).shape
    torch.Size([2, 12, 10, 10])
"""

from __future__ import annotations

from torch import Tensor, nn

from lamoo_nas.supernet._channels import BlockShape
from lamoo_nas.supernet._op_registry import BLOCK_TYPES, LayerOptions, block_type, block_type_of
from lamoo_nas.supernet.ops import (
    ElasticBatchNorm2d,
    ElasticDepthwiseConv,
    ElasticPointwiseConv,
    ElasticSqueezeExcite,
)
from lamoo_nas.supernet.space import StageSpec


class ElasticInvertedResidual(nn.Module):
    """One elastic layer: the parameters of every block type it offers
    (:mod:`supernet.op_types`), each sized for the largest choice.

    ``forward(x, kernel_size, expand_ratio, out_channels)``: ``(N, Cin, H, W) ->
    (N, out_channels, ceil(H/stride), ceil(W/stride))``, run by the block type of the op
    ``(kernel_size, expand_ratio)``; ``Cin`` is read from ``x``. The inverted residual (expand
    1x1 -> depthwise kxk (stride) -> [SE] -> project 1x1) is always offered; with ``identity``
    the layer also holds the identity op of a shape-changing layer (a strided 1x1 conv + BN,
    its own weights).
    """

    identity_conv: ElasticPointwiseConv | None
    identity_bn: ElasticBatchNorm2d | None
    expand_conv: ElasticPointwiseConv | None
    expand_bn: ElasticBatchNorm2d | None
    depthwise: ElasticDepthwiseConv
    depthwise_bn: ElasticBatchNorm2d
    se: ElasticSqueezeExcite | None
    project: ElasticPointwiseConv
    project_bn: ElasticBatchNorm2d
    act: nn.Module

    def __init__(
        self,
        in_choices: tuple[int, ...],
        spec: StageSpec,
        stride: int,
        kernel_transform: bool = False,
        identity: bool = False,
    ) -> None:
        super().__init__()
        self.stride = stride
        options = LayerOptions(kernel_transform=kernel_transform, identity=identity)
        for kind in BLOCK_TYPES:  # registration order: the checkpoint's key order
            kind.build(self, in_choices, spec, options)

    def forward(
        self, x: Tensor, kernel_size: int, expand_ratio: float, out_channels: int
    ) -> Tensor:
        op = (kernel_size, expand_ratio)
        return block_type(op).forward(self, x, op, out_channels)

    def to_static(self, shape: BlockShape) -> nn.Module:
        """The static module of ``shape``'s block type with copies of the weights it uses."""
        return block_type_of(shape).extract(self, shape)
