"""The pieces a subnet's latency is made of: one :class:`LatencyKey` per block.

A subnet decomposes exactly as :mod:`supernet.cost` decomposes its MACs: the stem, the first
block (where the space has one), each active MBConv layer (or identity projection), the final
expand and the head. A key holds every number that fixes a piece's runtime: its kind, input
size, in / hidden / out channels, kernel, stride, whether it expands, its squeeze-excite and
activation, and whether it is a projection. The stage and the position in it matter only through
those numbers, so equal shapes share one entry. :func:`key_cost` gives a key's MACs/params (the
oracle: an architecture's keys sum to its cost) and :func:`build_key_module` its module, which
:mod:`evaluate.latency_table` times.

Example:
    >>> from supernet import load_space
    >>> space = load_space("tiny")
    >>> len(all_latency_keys(space))
    288
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from torch import nn

from lamoo_nas.evaluate.errors import LatencyTableError
from lamoo_nas.supernet._channels import (
    BlockShape,
    block_shapes,
    conv_out_size,
    mid_channels,
    projection_shape,
    stage_in_choices,
    stem_out_channels,
)
from lamoo_nas.supernet.cost import Cost, block_cost, conv_bn_cost, conv_cost, linear_cost
from lamoo_nas.supernet.space import IDENTITY, ArchConfig, Op, SearchSpace, StageSpec
from lamoo_nas.supernet.static import ConvBN, Head, first_block_shape, init_weights, make_block

KINDS = ("stem", "first_block", "block", "final_expand", "head")


@dataclass(frozen=True, order=True)
class LatencyKey:
    """One piece of a subnet as it runs: ``(N, in_channels, size, size)`` in.

    ``stem``: the 3x3 conv (``in_channels`` 3). ``block`` / ``first_block``: an inverted
    residual ``in -> mid -> out`` (``projection``: the identity op's strided 1x1 conv).
    ``final_expand``: the 1x1 conv to the final width. ``head``: pool, the head conv to
    ``mid_channels`` (0: none) and the classifier of ``in_channels`` (or ``mid``) features to the
    table's ``num_classes`` (``out_channels`` 0).
    """

    kind: str
    size: int
    in_channels: int
    out_channels: int
    mid_channels: int = 0
    kernel_size: int = 1
    stride: int = 1
    expand: bool = False
    se: bool = False
    activation: str = ""
    projection: bool = False

    @property
    def id(self) -> str:
        """A readable, injective name, e.g. ``block:r16:24-72-40:k5:s2:e1:se1:relu:p0``."""
        return (
            f"{self.kind}:r{self.size}:{self.in_channels}-{self.mid_channels}-"
            f"{self.out_channels}:k{self.kernel_size}:s{self.stride}:e{int(self.expand)}:"
            f"se{int(self.se)}:{self.activation}:p{int(self.projection)}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LatencyKey:
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise LatencyTableError(f"not a latency key: {raw!r}")
        return cls(**raw)

    def block_shape(self) -> BlockShape:
        """The :class:`BlockShape` of a ``block`` / ``first_block`` key."""
        return BlockShape(
            self.in_channels, self.mid_channels, self.out_channels, self.kernel_size,
            self.stride, self.expand, self.se, self.activation, self.size, self.projection,
        )  # fmt: skip


def _block_key(shape: BlockShape, kind: str = "block") -> LatencyKey:
    return LatencyKey(
        kind, shape.size, shape.in_channels, shape.out_channels, shape.mid_channels,
        shape.kernel_size, shape.stride, shape.expand, shape.se, shape.activation,
        shape.projection,
    )  # fmt: skip


def layer_key(
    spec: StageSpec, in_channels: int, width: int, op: Op, stride: int, size: int
) -> LatencyKey:
    """The key of one layer, built as :func:`supernet._channels.block_shapes` builds it."""
    if tuple(op) == IDENTITY:
        return _block_key(projection_shape(in_channels, width, stride, spec.activation, size))
    kernel, expand = op
    shape = BlockShape(
        in_channels, mid_channels(in_channels, expand), width, kernel, stride, expand != 1,
        spec.se, spec.activation, size,
    )  # fmt: skip
    return _block_key(shape)


def stem_keys(space: SearchSpace, resolution: int) -> list[LatencyKey]:
    stem = space.stem
    keys = [LatencyKey("stem", resolution, 3, stem.channels, 0, 3, stem.stride, False, False,
                       stem.activation)]  # fmt: skip
    first = first_block_shape(space, conv_out_size(resolution, stem.stride))
    return keys if first is None else [*keys, _block_key(first, "first_block")]


def tail_keys(space: SearchSpace, last_channels: int, size: int) -> list[LatencyKey]:
    final, head = space.final_expand, space.head
    return [
        LatencyKey("final_expand", size, last_channels, final.channels, 0, 1, 1, False, False,
                   final.activation),
        LatencyKey("head", size, final.channels, 0, head.channels or 0, 1, 1, False, False,
                   head.activation),
    ]  # fmt: skip


def latency_keys(space: SearchSpace, arch: ArchConfig) -> list[LatencyKey]:
    """The keys of ``arch`` in network order, one per piece (equal layers repeat a key).

    Example:
        >>> from supernet import load_space
        >>> len(latency_keys(load_space("tiny"), load_space("tiny").smallest()))
        7
    """
    space.validate(arch)
    shapes = block_shapes(space, arch)
    size = conv_out_size(arch.resolution, space.stem.stride)
    last = shapes[-1].out_channels if shapes else stem_out_channels(space)
    size = shapes[-1].out_size if shapes else size
    blocks = [_block_key(s) for s in shapes]
    return [*stem_keys(space, arch.resolution), *blocks, *tail_keys(space, last, size)]


def stage_sizes(space: SearchSpace, resolution: int) -> list[int]:
    """Input size of each stage, then the final size (depth never changes the sizes)."""
    sizes = [conv_out_size(resolution, space.stem.stride)]
    for spec in space.stages:
        sizes.append(conv_out_size(sizes[-1], spec.stride))
    return sizes


def all_latency_keys(space: SearchSpace) -> list[LatencyKey]:
    """Every key any architecture of ``space`` can contain, once each (sorted), enumerated per
    resolution, stage, input width, width and op, never per architecture.

    Example:
        >>> from supernet import load_space
        >>> len(all_latency_keys(load_space("cifar")))
        94
    """
    keys: set[LatencyKey] = set()
    for resolution in space.resolutions:
        keys.update(stem_keys(space, resolution))
        sizes = stage_sizes(space, resolution)
        for i, spec in enumerate(space.stages):
            for width in spec.widths:
                for cin in stage_in_choices(space, i):
                    for op in spec.layer_ops(0):
                        keys.add(layer_key(spec, cin, width, op, spec.stride, sizes[i]))
                if spec.max_depth > 1:
                    for op in spec.layer_ops(1):
                        keys.add(layer_key(spec, width, width, op, 1, sizes[i + 1]))
        for last in space.stages[-1].widths if space.stages else [stem_out_channels(space)]:
            keys.update(tail_keys(space, last, sizes[-1]))
    return sorted(keys)


def key_cost(key: LatencyKey, num_classes: int) -> Cost:
    """MACs and params of the key's piece, by :mod:`supernet.cost`'s formulas (they sum to
    :func:`supernet.cost.count_cost` of the architecture)."""
    if key.kind == "stem":
        out = conv_out_size(key.size, key.stride)
        return conv_bn_cost(key.in_channels, key.out_channels, key.kernel_size, out)
    if key.kind in ("block", "first_block"):
        return block_cost(key.block_shape())
    if key.kind == "final_expand":
        return conv_bn_cost(key.in_channels, key.out_channels, 1, key.size)
    if key.mid_channels == 0:
        return linear_cost(key.in_channels, num_classes)
    conv = conv_cost(key.in_channels, key.mid_channels, 1, 1)
    return conv + linear_cost(key.mid_channels, num_classes)


def build_key_module(key: LatencyKey, num_classes: int) -> nn.Module:
    """The key's piece as the static subnet builds it, freshly initialised, in eval mode."""
    module: nn.Module
    if key.kind == "stem":
        module = ConvBN(3, key.out_channels, key.kernel_size, key.stride, act=key.activation)
    elif key.kind in ("block", "first_block"):
        module = make_block(key.block_shape())
    elif key.kind == "final_expand":
        module = ConvBN(key.in_channels, key.out_channels, 1, act=key.activation)
    elif key.kind == "head":
        module = Head(key.in_channels, key.mid_channels or None, key.activation, 0.0, num_classes)
    else:
        raise LatencyTableError(f"unknown latency key kind {key.kind!r}; allowed: {KINDS}")
    init_weights(module)
    return module.eval()
