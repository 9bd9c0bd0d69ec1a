"""The elastic inverted residual block of the supernet and its export to a static block.

Example:
    >>> spec = load_space("tiny").stages[0]
    >>> block = ElasticInvertedResidual((8,), spec, stride=2)
    >>> block(torch.zeros(2, 8, 20, 20), kernel_size=3, expand_ratio=2.0, out_channels=12).shape
    torch.Size([2, 12, 10, 10])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lamoo_nas.supernet._channels import BlockShape, max_mid_channels, mid_channels
from lamoo_nas.supernet.ops import (
    ElasticBatchNorm2d,
    ElasticDepthwiseConv,
    ElasticPointwiseConv,
    ElasticSqueezeExcite,
)
from lamoo_nas.supernet.space import IDENTITY, StageSpec
from lamoo_nas.supernet.static import ConvBN, Projection, SqueezeExcite, StaticBlock, activation


class ElasticInvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise kxk (stride) -> [SE] -> project 1x1, every size elastic.

    ``forward(x, kernel_size, expand_ratio, out_channels)``: ``(N, Cin, H, W) ->
    (N, out_channels, ceil(H/stride), ceil(W/stride))``; ``Cin`` is read from ``x``. With
    ``identity`` the layer also holds the identity op of a shape-changing layer (a strided 1x1
    conv + BN, its own weights), run when ``(kernel_size, expand_ratio) == IDENTITY``.
    """

    def __init__(
        self,
        in_choices: tuple[int, ...],
        spec: StageSpec,
        stride: int,
        kernel_transform: bool = False,
        identity: bool = False,
    ) -> None:
        super().__init__()
        self.identity_conv: ElasticPointwiseConv | None = None
        self.identity_bn: ElasticBatchNorm2d | None = None
        if identity:
            self.identity_conv = ElasticPointwiseConv(max(in_choices), spec.max_width)
            self.identity_bn = ElasticBatchNorm2d(spec.max_width)
        max_mid = max_mid_channels(in_choices, spec.expand_ratios)
        self.stride = stride
        self.expand_conv: ElasticPointwiseConv | None = None
        self.expand_bn: ElasticBatchNorm2d | None = None
        if any(e != 1 for e in spec.expand_ratios):
            self.expand_conv = ElasticPointwiseConv(max(in_choices), max_mid)
            self.expand_bn = ElasticBatchNorm2d(max_mid)
        self.depthwise = ElasticDepthwiseConv(max_mid, spec.kernel_sizes, kernel_transform)
        self.depthwise_bn = ElasticBatchNorm2d(max_mid)
        self.se = ElasticSqueezeExcite(max_mid) if spec.se else None
        self.project = ElasticPointwiseConv(max_mid, spec.max_width)
        self.project_bn = ElasticBatchNorm2d(spec.max_width)
        self.act = activation(spec.activation)

    def forward(
        self, x: Tensor, kernel_size: int, expand_ratio: float, out_channels: int
    ) -> Tensor:
        in_channels = x.shape[1]
        if (kernel_size, expand_ratio) == IDENTITY:
            assert self.identity_conv is not None and self.identity_bn is not None
            return self.identity_bn(self.identity_conv(x, out_channels, self.stride))
        hidden = x
        if expand_ratio != 1:
            assert self.expand_conv is not None and self.expand_bn is not None
            hidden = self.expand_conv(hidden, mid_channels(in_channels, expand_ratio))
            hidden = self.act(self.expand_bn(hidden))
        hidden = self.act(self.depthwise_bn(self.depthwise(hidden, kernel_size, self.stride)))
        if self.se is not None:
            hidden = self.se(hidden)
        out = self.project_bn(self.project(hidden, out_channels))
        if self.stride == 1 and in_channels == out_channels:
            out = out + x
        return out

    @torch.no_grad()
    def to_static(self, shape: BlockShape) -> nn.Module:
        """A :class:`StaticBlock` (or :class:`Projection`) with copies of the weights it uses."""
        if shape.projection:
            assert self.identity_conv is not None and self.identity_bn is not None
            projection = Projection(shape).to(self.project.weight)
            weight = self.identity_conv.sliced_weight(shape.out_channels, shape.in_channels)
            projection.project.conv.weight.copy_(weight)
            copy_bn(projection.project.bn, self.identity_bn)
            return projection
        block = StaticBlock(shape).to(self.project.weight)
        mid = shape.mid_channels
        if shape.expand:
            assert self.expand_conv is not None and self.expand_bn is not None
            assert isinstance(block.expand, ConvBN)
            block.expand.conv.weight.copy_(self.expand_conv.sliced_weight(mid, shape.in_channels))
            copy_bn(block.expand.bn, self.expand_bn)
        block.depthwise.conv.weight.copy_(self.depthwise.kernel(mid, shape.kernel_size))
        copy_bn(block.depthwise.bn, self.depthwise_bn)
        if shape.se:
            assert self.se is not None and isinstance(block.se, SqueezeExcite)
            names = ("reduce.weight", "reduce.bias", "expand.weight", "expand.bias")
            block.se.load_state_dict(dict(zip(names, self.se.sliced(mid))))
        block.project.conv.weight.copy_(self.project.sliced_weight(shape.out_channels, mid))
        copy_bn(block.project.bn, self.project_bn)
        return block


@torch.no_grad()
def copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d) -> None:
    """Copy the leading ``dst.num_features`` channels of ``src`` (affine and running stats)."""
    n = dst.num_features
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst, name).copy_(getattr(src, name)[:n])
    if dst.num_batches_tracked is not None and src.num_batches_tracked is not None:
        dst.num_batches_tracked.copy_(src.num_batches_tracked)
    dst.eps, dst.momentum = src.eps, src.momentum
