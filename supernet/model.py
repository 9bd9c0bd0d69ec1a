"""The weight-sharing supernet: every subnet of a :class:`SearchSpace` in one module.

``Supernet.forward(x, arch)`` is a pure function of the input, the architecture and the
weights: nothing about the previous call is remembered. ``Supernet.extract(arch)`` copies the
active weights into a plain :class:`StaticNet` that computes the same function.

Example:
    >>> space = load_space("tiny")
    >>> net = Supernet(space, num_classes=10).eval()
    >>> arch = space.sample(np.random.default_rng(0))
    >>> x = torch.randn(2, 3, arch.resolution, arch.resolution)
    >>> torch.allclose(net(x, arch), net.extract(arch)(x), atol=1e-5)
    True
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lamoo_nas.supernet._channels import block_shapes, stage_in_choices
from lamoo_nas.supernet.blocks import ElasticInvertedResidual
from lamoo_nas.supernet.errors import ArchValidationError
from lamoo_nas.supernet.ops import ElasticPointwiseConv, copy_bn
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.supernet.static import (
    ConvBN,
    Head,
    StaticNet,
    activation,
    init_weights,
    optional_first_block,
)


def resize_to(x: Tensor, resolution: int) -> Tensor:
    """Bilinearly resize ``(N, C, H, W)`` to ``(N, C, resolution, resolution)`` (no-op if equal).

    Example:
        >>> resize_to(torch.zeros(1, 3, 32, 32), 20).shape
        torch.Size([1, 3, 20, 20])
    """
    if x.shape[-2] == resolution and x.shape[-1] == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)


class Supernet(nn.Module):
    """Elastic MobileNetV3 over ``space``; see the module docstring for an example.

    ``forward(x, arch)``: ``(N, 3, R, R) -> (N, num_classes)`` with ``R == arch.resolution``
    (resize with :func:`resize_to`; the forward never resizes).
    """

    def __init__(
        self, space: SearchSpace, num_classes: int, kernel_transform: bool = False
    ) -> None:
        super().__init__()
        self.space = space
        self.num_classes = num_classes
        self.kernel_transform = kernel_transform
        stem = space.stem
        self.stem = ConvBN(3, stem.channels, 3, stem.stride, act=stem.activation)
        self.first_block = optional_first_block(space, max(space.resolutions))
        self.stages = nn.ModuleList(
            nn.ModuleList(
                ElasticInvertedResidual(
                    stage_in_choices(space, i) if j == 0 else spec.widths,
                    spec,
                    spec.stride if j == 0 else 1,
                    kernel_transform,
                    identity=spec.identity and j == 0,
                )
                for j in range(spec.max_depth)
            )
            for i, spec in enumerate(space.stages)
        )
        final = space.final_expand
        self.final_conv = ElasticPointwiseConv(space.stages[-1].max_width, final.channels)
        self.final_bn = nn.BatchNorm2d(final.channels)
        self.final_act = activation(final.activation)
        head = space.head
        self.head = Head(final.channels, head.channels, head.activation, head.dropout, num_classes)
        init_weights(self)

    def forward(self, x: Tensor, arch: ArchConfig) -> Tensor:
        self._check_input(x, arch)
        x = self.first_block(self.stem(x))
        for blocks, stage in zip(self.stages, arch.stages):
            for block, kernel_size, expand_ratio in zip(
                cast(nn.ModuleList, blocks), stage.kernel_sizes, stage.expand_ratios
            ):
                x = block(x, kernel_size, expand_ratio, stage.width)
        x = self.final_conv(x, self.final_bn.num_features)
        return self.head(self.final_act(self.final_bn(x)))

    def _check_input(self, x: Tensor, arch: ArchConfig) -> None:
        self.space.validate(arch)
        if x.dim() != 4 or x.shape[-2] != arch.resolution or x.shape[-1] != arch.resolution:
            raise ArchValidationError(
                f"input has shape {tuple(x.shape)} but arch.resolution is {arch.resolution}; "
                "pass (N, 3, R, R) images, resized with supernet.resize_to(x, arch.resolution)"
            )

    @torch.no_grad()
    def extract(self, arch: ArchConfig) -> StaticNet:
        """A :class:`StaticNet` with copies of the weights and BN buffers ``arch`` uses.

        Smaller kernels are cropped (and transformed, with ``kernel_transform``) before the
        copy; the result is in the supernet's train/eval mode and on its device.
        """
        self.space.validate(arch)
        net = StaticNet(self.space, arch, self.num_classes).to(self.final_conv.weight)
        net.stem.load_state_dict(self.stem.state_dict())
        net.first_block.load_state_dict(self.first_block.state_dict())
        shapes = iter(block_shapes(self.space, arch))
        static_blocks: list[nn.Module] = []
        for blocks, stage in zip(self.stages, arch.stages):
            for block, _ in zip(cast(nn.ModuleList, blocks), range(stage.depth)):
                static_blocks.append(cast(ElasticInvertedResidual, block).to_static(next(shapes)))
        net.blocks = nn.Sequential(*static_blocks)
        last_width = arch.stages[-1].width
        net.final_expand.conv.weight.copy_(
            self.final_conv.sliced_weight(self.final_bn.num_features, last_width)
        )
        copy_bn(net.final_expand.bn, self.final_bn)
        net.head.load_state_dict(self.head.state_dict())
        return net.train(self.training)
