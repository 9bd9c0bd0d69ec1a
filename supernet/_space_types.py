"""Plain data of a search space and of its architectures (no logic beyond small properties).

Public names are re-exported by :mod:`supernet.space`; import them from there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lamoo_nas.supernet._op_registry import block_type

ACTIVATIONS = ("relu", "hswish")
IDENTITY: tuple[int, float] = (0, 0.0)
"""The identity op, as ``(kernel_size, expand_ratio)``: a strided 1x1 projection + BN where the
layer changes shape (the only place an architecture holds it; elsewhere a skipped layer is a
smaller depth)."""


@dataclass(frozen=True)
class StemSpec:
    """First convolution: 3x3, ``stride``, 3 -> ``channels``."""

    channels: int
    stride: int
    activation: str


@dataclass(frozen=True)
class FirstBlockSpec:
    """Fixed depthwise-separable block (expand ratio 1) after the stem, stride 1."""

    channels: int
    kernel_size: int
    activation: str


Op = tuple[int, float]
"""A layer's operation as ``(kernel_size, expand_ratio)``; :data:`IDENTITY` is the identity."""


@dataclass(frozen=True)
class StageSpec:
    """One elastic stage: its first block has ``stride``, the others stride 1.

    A stage offers its layers either every ``kernel_sizes x expand_ratios`` pair (OFA style,
    ``explicit_ops`` false) or the explicit list ``ops`` of ``(kernel, expand)`` pairs (YAML
    ``ops: [[3, 3], [5, 6]]``); ``ops`` holds the pairs either way, and ``kernel_sizes`` /
    ``expand_ratios`` the distinct values in them. With ``identity`` the first layer may also be
    :data:`IDENTITY`, a strided 1x1 projection + BN (only where that layer changes shape).
    """

    depths: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    expand_ratios: tuple[float, ...]
    widths: tuple[int, ...]
    stride: int
    activation: str
    se: bool
    ops: tuple[Op, ...] = ()
    explicit_ops: bool = False
    identity: bool = False

    def layer_ops(self, layer: int) -> tuple[Op, ...]:
        """The ops layer ``layer`` may take, cheapest first (the identity, if offered, first)."""
        ordered = tuple(sorted(self.ops, key=lambda op: (op[1], op[0])))
        return ((IDENTITY,) if self.identity and layer == 0 else ()) + ordered

    @property
    def max_depth(self) -> int:
        return max(self.depths)

    @property
    def max_width(self) -> int:
        return max(self.widths)

    @property
    def max_kernel_size(self) -> int:
        return max(self.kernel_sizes)

    @property
    def max_expand_ratio(self) -> float:
        return max(self.expand_ratios)


@dataclass(frozen=True)
class FinalExpandSpec:
    """1x1 convolution from the last stage's width to ``channels`` before pooling."""

    channels: int
    activation: str


@dataclass(frozen=True)
class HeadSpec:
    """Pooled features -> 1x1 conv to ``channels`` -> activation -> dropout -> classifier.

    ``channels`` None (YAML ``channels: null``): no head conv, the pooled features of the final
    expand go through dropout straight to the classifier.
    """

    channels: int | None
    activation: str
    dropout: float


@dataclass(frozen=True)
class StageArch:
    """The choices made for one stage: ``len(kernel_sizes) == len(expand_ratios) == depth``."""

    depth: int
    kernel_sizes: tuple[int, ...]
    expand_ratios: tuple[float, ...]
    width: int


@dataclass(frozen=True)
class ArchConfig:
    """One architecture of a search space (only the active blocks' choices are stored)."""

    resolution: int
    stages: tuple[StageArch, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"resolution": self.resolution, "stages": [asdict(s) for s in self.stages]}

    def __str__(self) -> str:
        parts = [
            f"d{s.depth}w{s.width}:"
            + ",".join(
                block_type((k, e)).label((k, e)) for k, e in zip(s.kernel_sizes, s.expand_ratios)
            )
            for s in self.stages
        ]
        return f"r{self.resolution}|" + "|".join(parts)
