"""Predicted latency: an architecture's pieces (:mod:`supernet.shapes`) summed over a table.

The latency oracle beside the MACs oracle (:mod:`supernet.cost`): both walk the same pieces,
one sums formulas, the other per-piece timings (:mod:`evaluate.latency_table` measures them and
reads table files). ``scale * sum + offset`` once a correction is fitted on whole networks.

Example:
    >>> from lamoo_nas.supernet import load_space
    >>> from lamoo_nas.supernet.shapes import all_pieces
    >>> space = load_space("tiny")
    >>> model = TableLatency(space, {piece: 0.01 for piece in all_pieces(space)})
    >>> round(model.predict_ms(space.smallest()), 4)
    0.07
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from lamoo_nas.supernet.errors import LatencyLookupError
from lamoo_nas.supernet.shapes import (
    Piece,
    all_pieces,
    arch_pieces,
    layer_piece,
    stage_sizes,
    stem_out_channels,
    stem_pieces,
    tail_pieces,
)
from lamoo_nas.supernet.space import ArchConfig, SearchSpace, StageArch


class TableLatency:
    """Latency (ms) of an architecture as ``scale *`` the sum of its pieces' entries in
    ``latency_ms`` ``+ offset``, cached per architecture.

    A missing piece raises :meth:`missing_error`'s exception (:class:`LatencyLookupError`
    here; a table-file predictor names its file and how to rebuild it).
    """

    def __init__(
        self,
        space: SearchSpace,
        latency_ms: Mapping[Piece, float],
        scale: float = 1.0,
        offset: float = 0.0,
    ) -> None:
        self.space = space
        self.latency_ms = latency_ms
        self.scale, self.offset = scale, offset
        self._sum = lru_cache(maxsize=65536)(self._sum_ms)

    def predict_ms(self, arch: ArchConfig) -> float:
        """Predicted latency of ``arch`` (ms)."""
        return self.scale * self._sum(arch) + self.offset

    def table_sum_ms(self, arch: ArchConfig) -> float:
        """The plain sum of ``arch``'s entries, before the correction."""
        return self._sum(arch)

    def _sum_ms(self, arch: ArchConfig) -> float:
        pieces = arch_pieces(self.space, arch)
        self.require(pieces, f"architecture {arch}")
        return float(sum(self.latency_ms[piece] for piece in pieces))

    def missing_error(self, missing: list[Piece], what: str) -> Exception:
        """The error for entries the table lacks (``missing``, sorted) of ``what``."""
        shown = ", ".join(p.id for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
        return LatencyLookupError(
            f"the latency table lacks {len(missing)} piece(s) of {what}: {shown}"
        )

    def require(self, pieces: Iterable[Piece], what: str) -> None:
        """Raise :meth:`missing_error` unless every piece has an entry."""
        missing = sorted({p for p in pieces if p not in self.latency_ms})
        if missing:
            raise self.missing_error(missing, what)

    def fastest(self) -> tuple[ArchConfig, float]:
        """The architecture of least predicted latency and that latency, exactly: a dynamic
        programme over resolution, then stage by stage over the incoming width (the sum is
        additive and each later layer takes its cheapest op), not the ``smallest()`` arch."""
        self.require(all_pieces(self.space), f"space {self.space.name!r}")
        best: tuple[float, ArchConfig] | None = None
        for resolution in self.space.resolutions:
            ms, arch = self._fastest_at(resolution)
            if best is None or ms < best[0]:
                best = (ms, arch)
        assert best is not None
        return best[1], self.scale * best[0] + self.offset

    def fastest_ms(self) -> float:
        """Predicted latency of :meth:`fastest`'s architecture: no budget below it is feasible."""
        return self.fastest()[1]

    def _fastest_at(self, resolution: int) -> tuple[float, ArchConfig]:
        ms_of = self.latency_ms
        sizes = stage_sizes(self.space, resolution)
        start = sum(ms_of[k] for k in stem_pieces(self.space, resolution))
        states: dict[int, tuple[float, tuple[StageArch, ...]]] = {
            stem_out_channels(self.space): (start, ())
        }
        for i, spec in enumerate(self.space.stages):
            nxt: dict[int, tuple[float, tuple[StageArch, ...]]] = {}
            for cin, (ms, stages) in states.items():
                for width in spec.widths:
                    first = min(spec.layer_ops(0), key=lambda op: ms_of[
                        layer_piece(spec, cin, width, op, spec.stride, sizes[i])])  # fmt: skip
                    total = ms + ms_of[layer_piece(spec, cin, width, first, spec.stride, sizes[i])]
                    later, depth, extra = first, min(spec.depths), 0.0
                    if spec.max_depth > 1:
                        later = min(spec.layer_ops(1), key=lambda op: ms_of[
                            layer_piece(spec, width, width, op, 1, sizes[i + 1])])  # fmt: skip
                        step = ms_of[layer_piece(spec, width, width, later, 1, sizes[i + 1])]
                        depth = min(spec.depths, key=lambda d: (d - 1) * step)
                        extra = (depth - 1) * step
                    ops = [first, *[later] * (depth - 1)]
                    stage = StageArch(depth, tuple(int(k) for k, _ in ops),
                                      tuple(float(e) for _, e in ops), width)  # fmt: skip
                    if width not in nxt or total + extra < nxt[width][0]:
                        nxt[width] = (total + extra, (*stages, stage))
            states = nxt
        best: tuple[float, ArchConfig] | None = None
        for last, (ms, stages) in states.items():
            ms += sum(ms_of[k] for k in tail_pieces(self.space, last, sizes[-1]))
            if best is None or ms < best[0]:
                best = (ms, ArchConfig(resolution, stages))
        assert best is not None
        return best
