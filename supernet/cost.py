"""Exact analytic cost (MACs and params) of a subnet, without building a model (pycls style).

Convention (the one OFA calls "FLOPs"):

* ``macs``: multiply-accumulates of convolutions and linear layers only, for one image:
  ``C_in / groups * C_out * k * k * H_out * W_out`` per conv, ``in * out`` per linear.
  Biases, BatchNorm, pooling, activations, the squeeze-excite multiply and residual adds
  are not counted. This equals fvcore's ``FlopCountAnalysis`` of the extracted subnet with
  the ``batch_norm`` and ``adaptive_avg_pool2d`` handles set to ``None``.
* ``params``: every trainable parameter of the extracted subnet: conv weights, BatchNorm
  weight + bias, squeeze-excite conv biases, the classifier's weight + bias (BN running
  statistics and the supernet's kernel-transformation matrices are not parameters of it).

Example:
    >>> space = load_space("tiny")
    >>> cost = CostModel(space, num_classes=10)
    >>> cost(space.largest()) == count_cost(space, space.largest(), 10)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from lamoo_nas.supernet._channels import BlockShape, conv_out_size
from lamoo_nas.supernet._op_registry import block_type_of
from lamoo_nas.supernet.shapes import Piece, walk
from lamoo_nas.supernet.space import ArchConfig, SearchSpace


@dataclass(frozen=True)
class Cost:
    """MACs (multiply-accumulates, one image) and trainable parameters of a subnet."""

    macs: int
    params: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.macs + other.macs, self.params + other.params)


ZERO = Cost(0, 0)


def conv_cost(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    out_size: int,
    groups: int = 1,
    bias: bool = False,
) -> Cost:
    """A square conv producing ``out_size x out_size`` maps."""
    weights = in_channels // groups * out_channels * kernel_size * kernel_size
    return Cost(weights * out_size * out_size, weights + (out_channels if bias else 0))


def bn_cost(channels: int) -> Cost:
    """BatchNorm: no MACs in this convention, weight + bias parameters."""
    return Cost(0, 2 * channels)


def conv_bn_cost(
    in_channels: int, out_channels: int, kernel_size: int, out_size: int, groups: int = 1
) -> Cost:
    return conv_cost(in_channels, out_channels, kernel_size, out_size, groups) + bn_cost(
        out_channels
    )


def linear_cost(in_features: int, out_features: int) -> Cost:
    return Cost(in_features * out_features, in_features * out_features + out_features)


@lru_cache(maxsize=16384)
def block_cost(shape: BlockShape) -> Cost:
    """One active layer, by its block type (:mod:`supernet.op_types`); memoised."""
    return block_type_of(shape).cost(shape)


@lru_cache(maxsize=65536)
def piece_cost(piece: Piece, num_classes: int) -> Cost:
    """MACs and params of one piece of :func:`supernet.shapes.arch_pieces`; memoised.

    Example:
        >>> space = load_space("tiny")
        >>> piece_cost(arch_pieces(space, space.smallest())[0], 10).macs > 0
        True
    """
    if piece.kind == "stem":
        out = conv_out_size(piece.size, piece.stride)
        return conv_bn_cost(piece.in_channels, piece.out_channels, piece.kernel_size, out)
    if piece.kind in ("block", "first_block"):
        return block_cost(piece.block_shape())
    if piece.kind == "final_expand":
        return conv_bn_cost(piece.in_channels, piece.out_channels, 1, piece.size)
    if piece.mid_channels == 0:
        return linear_cost(piece.in_channels, num_classes)
    conv = conv_cost(piece.in_channels, piece.mid_channels, 1, 1)
    return conv + linear_cost(piece.mid_channels, num_classes)


def count_cost(
    space: SearchSpace, arch: ArchConfig, num_classes: int, in_channels: int = 3
) -> Cost:
    """MACs and params of ``arch`` (validated; raises :class:`ArchValidationError`): the sum
    over its pieces (:func:`supernet.shapes.walk`; a block's piece costs its ``block_cost``).

    Example:
        >>> count_cost(load_space("tiny"), load_space("tiny").smallest(), 10).params > 0
        True
    """
    stem, blocks, tail = walk(space, arch, in_channels)
    cost = ZERO
    for piece in stem:
        cost += piece_cost(piece, num_classes)
    for shape in blocks:
        cost += block_cost(shape)
    for piece in tail:
        cost += piece_cost(piece, num_classes)
    return cost


class CostModel:
    """:func:`count_cost` for one space, LRU-cached on the (hashable) architecture.

    Example:
        >>> model = CostModel(load_space("cifar"), num_classes=10)
        >>> model.smallest().macs < model.largest().macs
        True
    """

    def __init__(
        self, space: SearchSpace, num_classes: int, in_channels: int = 3, cache_size: int = 65536
    ) -> None:
        self.space = space
        self.num_classes = num_classes
        self.in_channels = in_channels
        self._cached: Callable[[ArchConfig], Cost] = lru_cache(maxsize=cache_size)(self._count)

    def _count(self, arch: ArchConfig) -> Cost:
        return count_cost(self.space, arch, self.num_classes, self.in_channels)

    def __call__(self, arch: ArchConfig) -> Cost:
        return self._cached(arch)

    def smallest(self) -> Cost:
        """Cost of the architecture with every choice at its minimum."""
        return self(self.space.smallest())

    def largest(self) -> Cost:
        """Cost of the architecture with every choice at its maximum."""
        return self(self.space.largest())

    def cache_info(self) -> str:
        """Hits, misses and size of the cache (as :func:`functools.lru_cache` reports them)."""
        return str(self._cached.cache_info())  # type: ignore[attr-defined]
