"""The block-type registry: which :class:`BlockType` runs a layer's op.

Torch-free, so that the walk (:mod:`supernet._channels`), the cost model and the names of ops
look block types up here without importing torch; the built-in types (with their modules) are
defined and registered by :mod:`supernet.op_types`, which the ``supernet`` package imports.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from lamoo_nas.supernet.errors import ArchValidationError, ConfigError

if TYPE_CHECKING:
    from torch import Tensor, nn

    from lamoo_nas.supernet._channels import BlockShape
    from lamoo_nas.supernet._space_types import Op, StageSpec
    from lamoo_nas.supernet.cost import Cost


@dataclass(frozen=True)
class LayerOptions:
    """How an elastic layer is built: ``kernel_transform`` (OFA's depthwise kernels derived
    from the largest) and ``identity`` (the layer offers the identity op)."""

    kernel_transform: bool = False
    identity: bool = False


class BlockType(ABC):
    """One kind of layer: how an architecture names it, its shape in a subnet, its exact cost,
    its static module, and its part of the elastic layer (parameters, forward, extraction).

    The elastic layer (:class:`supernet.blocks.ElasticInvertedResidual`) holds the parameters
    of every type a layer offers; :meth:`build` adds this type's, :meth:`forward` runs them and
    :meth:`extract` copies the ones an active shape uses into :meth:`static`'s module. The
    latency key of a layer is its shape's piece (:func:`supernet.shapes.block_piece`).
    """

    name: ClassVar[str]

    @abstractmethod
    def matches(self, op: Op) -> bool:
        """Whether ``op`` (an architecture's ``(kernel_size, expand_ratio)``) is this type."""

    @abstractmethod
    def owns(self, shape: BlockShape) -> bool:
        """Whether ``shape`` was made by :meth:`shape` of this type."""

    @abstractmethod
    def label(self, op: Op) -> str:
        """A short name of ``op`` (``k3e6``, ``id``) for architecture strings and tables."""

    @abstractmethod
    def shape(
        self, spec: StageSpec, in_channels: int, width: int, op: Op, stride: int, size: int
    ) -> BlockShape:
        """The active layer's shape in stage ``spec``, ``in_channels -> width`` at ``size``."""

    @abstractmethod
    def cost(self, shape: BlockShape) -> Cost:
        """Exact MACs and params of a layer of this shape (:mod:`supernet.cost`'s convention)."""

    @abstractmethod
    def static(self, shape: BlockShape) -> nn.Module:
        """A fresh static module of this shape (what extraction fills and a latency table
        times)."""

    @abstractmethod
    def build(self, layer: Any, in_choices: tuple[int, ...], spec: StageSpec,
              options: LayerOptions) -> None:  # fmt: skip
        """Add this type's elastic parameters to ``layer`` (the attribute names are the
        checkpoint's keys), or ``None`` attributes where the layer does not offer the type."""

    @abstractmethod
    def forward(self, layer: Any, x: Tensor, op: Op, out_channels: int) -> Tensor:
        """Run ``op`` with ``layer``'s parameters: ``(N, Cin, H, W) -> (N, out_channels, ...)``."""

    @abstractmethod
    def extract(self, layer: Any, shape: BlockShape) -> nn.Module:
        """:meth:`static` of ``shape`` with copies of the weights of ``layer`` it uses."""


BLOCK_TYPES: list[BlockType] = []
"""Every registered block type, in registration order (the first that matches an op runs it)."""


def register_block_type(block_type: BlockType) -> BlockType:
    """Add ``block_type`` to :data:`BLOCK_TYPES`; a taken name raises :class:`ConfigError`."""
    if any(t.name == block_type.name for t in BLOCK_TYPES):
        raise ConfigError(f"block type {block_type.name!r} is registered already")
    BLOCK_TYPES.append(block_type)
    return block_type


def block_type(op: Op) -> BlockType:
    """The registered type of ``op``, or :class:`ArchValidationError` naming it."""
    for candidate in BLOCK_TYPES:
        if candidate.matches(op):
            return candidate
    names = [t.name for t in BLOCK_TYPES]
    raise ArchValidationError(f"op {tuple(op)} is no registered block type ({names})")


def block_type_of(shape: BlockShape) -> BlockType:
    """The registered type that made ``shape``."""
    for candidate in BLOCK_TYPES:
        if candidate.owns(shape):
            return candidate
    raise ArchValidationError(f"no registered block type owns {shape}")
