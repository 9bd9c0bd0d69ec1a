"""The shape walker: an architecture as the pieces it runs, each with every number that fixes it.

A subnet decomposes into the stem, the first block (where the space has one), each active
MBConv layer (or the identity op's projection), the final expand and the head. A :class:`Piece`
holds a piece's kind, input size, in / hidden / out channels, kernel, stride, whether it
expands, its squeeze-excite and activation, and whether it is a projection. The stage and the
position in it matter only through those numbers (the first layer of a stage has the stride and
the stage's input width; the later ones are ``width -> width``), so equal shapes are equal
pieces. :func:`supernet.cost.count_cost` sums :func:`supernet.cost.piece_cost` over
:func:`arch_pieces`; :mod:`supernet.latency` sums a latency table over the same pieces.

Example:
    >>> from lamoo_nas.supernet import load_space
    >>> space = load_space("tiny")
    >>> [piece.kind for piece in arch_pieces(space, space.smallest())][:3]
    ['stem', 'first_block', 'block']
    >>> len(all_pieces(space))
    288
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

from lamoo_nas.supernet._channels import (
    BlockShape,
    block_shapes,
    conv_out_size,
    first_block_shape,
    stage_in_choices,
    stem_out_channels,
)
from lamoo_nas.supernet._op_registry import block_type
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.space import ArchConfig, Op, SearchSpace, StageSpec

KINDS = ("stem", "first_block", "block", "final_expand", "head")

__all__ = [
    "KINDS",
    "ArchWalk",
    "BlockShape",
    "Piece",
    "all_pieces",
    "arch_pieces",
    "block_piece",
    "conv_out_size",
    "layer_piece",
    "stage_sizes",
    "stem_out_channels",
    "stem_pieces",
    "tail_pieces",
    "walk",
]


@dataclass(frozen=True, order=True)
class Piece:
    """One piece of a subnet as it runs: ``(N, in_channels, size, size)`` in.

    ``stem``: the 3x3 conv. ``block`` / ``first_block``: an inverted residual
    ``in -> mid -> out`` (``projection``: the identity op's strided 1x1 conv).
    ``final_expand``: the 1x1 conv to the final width. ``head``: pool, the head conv to
    ``mid_channels`` (0: none) and the classifier of ``in_channels`` (or ``mid``) features
    (``out_channels`` 0: the number of classes is not part of the shape).
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
    def from_dict(cls, raw: dict[str, Any]) -> Piece:
        """The piece :meth:`to_dict` wrote; :class:`ConfigError` for anything else."""
        names = {f.name for f in fields(cls)}
        if not isinstance(raw, dict) or set(raw) != names:
            raise ConfigError(f"not a latency key: {raw!r}")
        return cls(**raw)

    def block_shape(self) -> BlockShape:
        """The :class:`BlockShape` of a ``block`` / ``first_block`` piece."""
        return BlockShape(
            self.in_channels, self.mid_channels, self.out_channels, self.kernel_size,
            self.stride, self.expand, self.se, self.activation, self.size, self.projection,
        )  # fmt: skip


def block_piece(shape: BlockShape, kind: str = "block") -> Piece:
    """The piece of one inverted residual block (or projection)."""
    return Piece(
        kind, shape.size, shape.in_channels, shape.out_channels, shape.mid_channels,
        shape.kernel_size, shape.stride, shape.expand, shape.se, shape.activation,
        shape.projection,
    )  # fmt: skip


def layer_piece(
    spec: StageSpec, in_channels: int, width: int, op: Op, stride: int, size: int
) -> Piece:
    """The piece of one layer of stage ``spec`` with op ``op``, as :func:`arch_pieces` walks it."""
    return block_piece(block_type(op).shape(spec, in_channels, width, op, stride, size))


def stem_pieces(space: SearchSpace, resolution: int, in_channels: int = 3) -> list[Piece]:
    """The stem conv and the first block (where the space has one) at ``resolution``."""
    stem = space.stem
    pieces = [Piece("stem", resolution, in_channels, stem.channels, 0, 3, stem.stride, False,
                    False, stem.activation)]  # fmt: skip
    first = first_block_shape(space, conv_out_size(resolution, stem.stride))
    return pieces if first is None else [*pieces, block_piece(first, "first_block")]


def tail_pieces(space: SearchSpace, last_channels: int, size: int) -> list[Piece]:
    """The final expand and the head after a last stage of ``last_channels`` at ``size``."""
    final, head = space.final_expand, space.head
    return [
        Piece("final_expand", size, last_channels, final.channels, 0, 1, 1, False, False,
              final.activation),
        Piece("head", size, final.channels, 0, head.channels or 0, 1, 1, False, False,
              head.activation),
    ]  # fmt: skip


class ArchWalk(NamedTuple):
    """An architecture's pieces in network order, the active blocks kept as their
    :class:`BlockShape` (``arch_pieces`` turns each into a ``block`` piece)."""

    stem: list[Piece]
    blocks: list[BlockShape]
    tail: list[Piece]


def walk(space: SearchSpace, arch: ArchConfig, in_channels: int = 3) -> ArchWalk:
    """The stem pieces, the active blocks and the tail pieces of ``arch`` (validated)."""
    space.validate(arch)
    shapes = block_shapes(space, arch)
    last = shapes[-1].out_channels if shapes else stem_out_channels(space)
    size = shapes[-1].out_size if shapes else conv_out_size(arch.resolution, space.stem.stride)
    stem = stem_pieces(space, arch.resolution, in_channels)
    return ArchWalk(stem, shapes, tail_pieces(space, last, size))


def arch_pieces(space: SearchSpace, arch: ArchConfig, in_channels: int = 3) -> list[Piece]:
    """The pieces of ``arch`` (validated) in network order; equal layers repeat a piece.

    Example:
        >>> from lamoo_nas.supernet import load_space
        >>> len(arch_pieces(load_space("tiny"), load_space("tiny").smallest()))
        7
    """
    stem, blocks, tail = walk(space, arch, in_channels)
    return [*stem, *(block_piece(shape) for shape in blocks), *tail]


def stage_sizes(space: SearchSpace, resolution: int) -> list[int]:
    """Input size of each stage, then the final size (depth never changes the sizes)."""
    sizes = [conv_out_size(resolution, space.stem.stride)]
    for spec in space.stages:
        sizes.append(conv_out_size(sizes[-1], spec.stride))
    return sizes


def all_pieces(space: SearchSpace) -> list[Piece]:
    """Every piece any architecture of ``space`` can contain, once each (sorted), enumerated per
    resolution, stage, input width, width and op, never per architecture."""
    pieces: set[Piece] = set()
    for resolution in space.resolutions:
        pieces.update(stem_pieces(space, resolution))
        sizes = stage_sizes(space, resolution)
        for i, spec in enumerate(space.stages):
            for width in spec.widths:
                for cin in stage_in_choices(space, i):
                    for op in spec.layer_ops(0):
                        pieces.add(layer_piece(spec, cin, width, op, spec.stride, sizes[i]))
                if spec.max_depth > 1:
                    for op in spec.layer_ops(1):
                        pieces.add(layer_piece(spec, width, width, op, 1, sizes[i + 1]))
        for last in space.stages[-1].widths if space.stages else [stem_out_channels(space)]:
            pieces.update(tail_pieces(space, last, sizes[-1]))
    return sorted(pieces)
