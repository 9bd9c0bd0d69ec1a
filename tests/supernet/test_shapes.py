"""The shape walker and the latency oracle on it: pieces sum to the exact cost, a table sums
over the same pieces, and a table without a piece names it."""

from __future__ import annotations

import numpy as np
import pytest

from lamoo_nas.supernet import CostModel, load_space
from lamoo_nas.supernet.cost import piece_cost
from lamoo_nas.supernet.errors import ConfigError, LatencyLookupError
from lamoo_nas.supernet.latency import TableLatency
from lamoo_nas.supernet.shapes import Piece, all_pieces, arch_pieces, block_piece, walk


@pytest.mark.parametrize("name", ["tiny", "cifar", "nbmacro"])
def test_pieces_sum_to_the_cost_and_lie_in_the_enumeration(name: str) -> None:
    space = load_space(name)
    cost_model = CostModel(space, num_classes=10)
    every = set(all_pieces(space))
    rng = np.random.default_rng(0)
    for arch in [space.smallest(), space.largest(), *(space.sample(rng) for _ in range(20))]:
        pieces = arch_pieces(space, arch)
        total = sum((piece_cost(p, 10) for p in pieces[1:]), piece_cost(pieces[0], 10))
        assert total == cost_model(arch)
        assert set(pieces) <= every
        stem, blocks, tail = walk(space, arch)
        assert pieces == [*stem, *map(block_piece, blocks), *tail]


def test_a_table_sums_the_pieces_and_names_a_missing_one() -> None:
    space = load_space("tiny")
    table = {piece: 0.001 * (i + 1) for i, piece in enumerate(all_pieces(space))}
    model = TableLatency(space, table, scale=2.0, offset=0.5)
    arch = space.largest()
    expected = sum(table[p] for p in arch_pieces(space, arch))
    assert model.table_sum_ms(arch) == pytest.approx(expected)
    assert model.predict_ms(arch) == pytest.approx(2.0 * expected + 0.5)
    fastest, ms = model.fastest()
    assert ms <= model.predict_ms(space.smallest())
    assert ms == pytest.approx(model.predict_ms(fastest))
    head = arch_pieces(space, arch)[-1]
    partial = TableLatency(space, {p: v for p, v in table.items() if p != head})
    message = f"lacks 1 piece\\(s\\) of architecture .*{head.id}"
    with pytest.raises(LatencyLookupError, match=message):
        partial.predict_ms(arch)


def test_pieces_round_trip_and_refuse_other_data() -> None:
    piece = all_pieces(load_space("tiny"))[0]
    assert Piece.from_dict(piece.to_dict()) == piece
    with pytest.raises(ConfigError, match="not a latency key"):
        Piece.from_dict({"kind": "stem"})
