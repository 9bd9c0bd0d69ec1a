"""The pieces a subnet's latency is made of, as latency-table keys, and the module that times
each one.

The keys are :class:`supernet.shapes.Piece` (the shape walker that :mod:`supernet.cost` sums
MACs over): :func:`latency_keys` of an architecture, :func:`all_latency_keys` of a space;
:func:`key_cost` gives a key's MACs/params (the oracle: an architecture's keys sum to its cost)
and :func:`build_key_module` its module, which :mod:`evaluate.latency_table` times.

Example:
    >>> from lamoo_nas.supernet import load_space
    >>> space = load_space("tiny")
    >>> len(all_latency_keys(space))
    288
"""

from __future__ import annotations

from torch import nn

from lamoo_nas.evaluate.errors import LatencyTableError
from lamoo_nas.supernet.cost import piece_cost
from lamoo_nas.supernet.shapes import (
    KINDS,
    Piece,
    all_pieces,
    arch_pieces,
    layer_piece,
    stage_sizes,
    stem_pieces,
    tail_pieces,
)
from lamoo_nas.supernet.static import ConvBN, Head, init_weights, make_block

LatencyKey = Piece
"""A latency table's key: one piece of a subnet as it runs."""
latency_keys = arch_pieces
all_latency_keys = all_pieces
layer_key = layer_piece
stem_keys = stem_pieces
tail_keys = tail_pieces
key_cost = piece_cost

__all__ = [
    "KINDS",
    "LatencyKey",
    "all_latency_keys",
    "build_key_module",
    "key_cost",
    "latency_keys",
    "layer_key",
    "stage_sizes",
    "stem_keys",
    "tail_keys",
]


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
