"""Channel arithmetic and the block layout of a subnet, shared by the model and the cost model.

Torch-free on purpose: :mod:`supernet.cost` counts MACs and params from this layout alone.

Example:
    >>> make_divisible(18, 8), make_divisible(17, 8)
    (24, 16)
"""

from __future__ import annotations

from dataclasses import dataclass

from lamoo_nas.supernet._op_registry import block_type
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

CHANNEL_DIVISOR = 8
SE_REDUCTION = 4


def make_divisible(value: float, divisor: int = CHANNEL_DIVISOR) -> int:
    """OFA's rounding: nearest multiple of ``divisor`` (at least ``divisor``), never 10% below."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def mid_channels(in_channels: int, expand_ratio: float) -> int:
    """Hidden width of an inverted residual block (``in_channels`` when the ratio is 1)."""
    if expand_ratio == 1:
        return in_channels
    return make_divisible(round(in_channels * expand_ratio))


def se_channels(mid: int) -> int:
    """Bottleneck width of the squeeze-excite on ``mid`` channels."""
    return make_divisible(mid // SE_REDUCTION)


def max_mid_channels(in_choices: tuple[int, ...], expand_ratios: tuple[float, ...]) -> int:
    """Largest hidden width over every (input width, expand ratio) a block may see."""
    return max(mid_channels(c, e) for c in in_choices for e in expand_ratios)


def stage_in_choices(space: SearchSpace, stage_index: int) -> tuple[int, ...]:
    """Widths that can enter the first block of stage ``stage_index``."""
    if stage_index == 0:
        return (stem_out_channels(space),)
    return space.stages[stage_index - 1].widths


def stem_out_channels(space: SearchSpace) -> int:
    """Width entering the first stage: the first block's, or the stem's where there is none."""
    return space.first_block.channels if space.first_block is not None else space.stem.channels


@dataclass(frozen=True)
class BlockShape:
    """One active inverted residual block: ``in -> mid -> out`` at input size ``size``.

    With ``projection`` the layer is the identity op of a layer that changes shape: a strided
    1x1 conv + BN (``kernel_size`` 1, no expand, no SE, no activation, no residual).
    """

    in_channels: int
    mid_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    expand: bool
    se: bool
    activation: str
    size: int
    projection: bool = False

    @property
    def out_size(self) -> int:
        return conv_out_size(self.size, self.stride)

    @property
    def use_residual(self) -> bool:
        return not self.projection and self.stride == 1 and self.in_channels == self.out_channels


def conv_out_size(size: int, stride: int) -> int:
    """Spatial size after a conv with padding ``k // 2`` (odd k): ``ceil(size / stride)``."""
    return -(-size // stride)


def block_shapes(space: SearchSpace, arch: ArchConfig) -> list[BlockShape]:
    """The active blocks of ``arch`` in order (``arch`` is assumed valid)."""
    size = conv_out_size(arch.resolution, space.stem.stride)
    in_channels = stem_out_channels(space)
    shapes = []
    for spec, stage in zip(space.stages, arch.stages):
        for j in range(stage.depth):
            stride = spec.stride if j == 0 else 1
            op = (stage.kernel_sizes[j], stage.expand_ratios[j])
            shape = block_type(op).shape(spec, in_channels, stage.width, op, stride, size)
            shapes.append(shape)
            in_channels, size = shape.out_channels, shape.out_size
    return shapes


def projection_shape(
    in_channels: int, out_channels: int, stride: int, activation: str, size: int
) -> BlockShape:
    """The identity op of a shape-changing layer: strided 1x1 conv + BN."""
    return BlockShape(
        in_channels=in_channels,
        mid_channels=in_channels,
        out_channels=out_channels,
        kernel_size=1,
        stride=stride,
        expand=False,
        se=False,
        activation=activation,
        size=size,
        projection=True,
    )


def first_block_shape(space: SearchSpace, resolution: int) -> BlockShape | None:
    """The fixed depthwise-separable block after the stem (expand ratio 1, stride 1, no SE)."""
    if space.first_block is None:
        return None
    channels = space.stem.channels
    return BlockShape(
        in_channels=channels,
        mid_channels=channels,
        out_channels=space.first_block.channels,
        kernel_size=space.first_block.kernel_size,
        stride=1,
        expand=False,
        se=False,
        activation=space.first_block.activation,
        size=resolution,
    )
