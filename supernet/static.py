"""Static (non-elastic) MobileNetV3 subnets: what :meth:`Supernet.extract` returns.

Plain modules only (``nn.Sequential``, ``Conv2d``, ``BatchNorm2d``, ``Hardswish``...), so a
:class:`StaticNet` scripts with ``torch.jit.script``, traces and exports to ONNX.

Example:
    >>> space = load_space("tiny")
    >>> net = build_static(space, space.largest(), num_classes=10)
    >>> net(torch.zeros(2, 3, 20, 20)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lamoo_nas.supernet._channels import (
    BlockShape,
    block_shapes,
    first_block_shape,
    se_channels,
    stem_out_channels,
)
from lamoo_nas.supernet._op_registry import block_type_of
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "hswish": nn.Hardswish}


def activation(name: str) -> nn.Module:
    """A fresh activation module for ``"relu"`` or ``"hswish"``."""
    return ACTIVATION_MODULES[name]()


class ConvBN(nn.Module):
    """``Conv2d`` (padding ``k // 2``, no bias) -> ``BatchNorm2d`` -> activation (or none)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        act: str | None = None,
    ) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.Identity() if act is None else activation(act)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class SqueezeExcite(nn.Module):
    """``x * hardsigmoid(conv(relu(conv(mean(x)))))``; ``(N, C, H, W) -> (N, C, H, W)``."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(scale))))


class StaticBlock(nn.Module):
    """Inverted residual block: [expand 1x1] -> depthwise kxk -> [SE] -> project 1x1 (+ x)."""

    def __init__(self, shape: BlockShape) -> None:
        super().__init__()
        mid, act = shape.mid_channels, shape.activation
        self.expand: nn.Module = (
            ConvBN(shape.in_channels, mid, 1, act=act) if shape.expand else nn.Identity()
        )
        self.depthwise = ConvBN(mid, mid, shape.kernel_size, shape.stride, groups=mid, act=act)
        self.se: nn.Module = SqueezeExcite(mid, se_channels(mid)) if shape.se else nn.Identity()
        self.project = ConvBN(mid, shape.out_channels, 1)
        self.use_residual = shape.use_residual

    def forward(self, x: Tensor) -> Tensor:
        out = self.project(self.se(self.depthwise(self.expand(x))))
        if self.use_residual:
            out = out + x
        return out


class Projection(nn.Module):
    """The identity op of a layer that changes shape: strided 1x1 conv -> BN (no activation)."""

    def __init__(self, shape: BlockShape) -> None:
        super().__init__()
        self.project = ConvBN(shape.in_channels, shape.out_channels, 1, shape.stride)

    def forward(self, x: Tensor) -> Tensor:
        return self.project(x)


def make_block(shape: BlockShape) -> nn.Module:
    """The static module of one active layer, by its block type (:mod:`supernet.op_types`):
    :class:`StaticBlock` or :class:`Projection` for the built-in ones."""
    return block_type_of(shape).static(shape)


class Head(nn.Module):
    """Global average pool -> [1x1 conv -> activation] -> dropout -> linear; ``-> (N, classes)``.

    ``channels`` None: no conv, the pooled features go straight to dropout and the classifier.
    """

    def __init__(
        self, in_channels: int, channels: int | None, act: str, dropout: float, num_classes: int
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv: nn.Module = nn.Identity()
        self.act: nn.Module = nn.Identity()
        if channels is not None:
            self.conv = nn.Conv2d(in_channels, channels, 1, bias=False)
            self.act = activation(act)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_channels if channels is None else channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.conv(self.pool(x)))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


class StaticNet(nn.Module):
    """One subnet as plain modules; ``forward``: ``(N, 3, R, R) -> (N, num_classes)``.

    ``arch`` and ``space_name`` are plain attributes recording where it came from.
    """

    def __init__(self, space: SearchSpace, arch: ArchConfig, num_classes: int) -> None:
        super().__init__()
        space.validate(arch)
        self.arch = arch
        self.space_name = space.name
        self.num_classes = num_classes
        stem = space.stem
        self.stem = ConvBN(3, stem.channels, 3, stem.stride, act=stem.activation)
        self.first_block = optional_first_block(space, arch.resolution)
        shapes = block_shapes(space, arch)
        self.blocks = nn.Sequential(*(make_block(s) for s in shapes))
        last = shapes[-1].out_channels if shapes else stem_out_channels(space)
        final = space.final_expand
        self.final_expand = ConvBN(last, final.channels, 1, act=final.activation)
        head = space.head
        self.head = Head(final.channels, head.channels, head.activation, head.dropout, num_classes)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.first_block(self.stem(x)))
        return self.head(self.final_expand(x))


def optional_first_block(space: SearchSpace, resolution: int) -> nn.Module:
    """The space's first block, or an ``nn.Identity`` where it declares none."""
    shape = first_block_shape(space, resolution)
    return nn.Identity() if shape is None else StaticBlock(shape)


def init_weights(model: nn.Module) -> None:
    """OFA's initialisation: He (fan-out) convs, unit BN, N(0, 0.01) linear, zero biases."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)


def build_static(space: SearchSpace, arch: ArchConfig, num_classes: int) -> StaticNet:
    """A freshly initialised :class:`StaticNet` for ``arch`` (to retrain from scratch).

    Example:
        >>> net = build_static(load_space("cifar"), load_space("cifar").smallest(), 10)
    """
    return StaticNet(space, arch, num_classes)
