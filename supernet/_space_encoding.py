"""The numeric encoding of architectures and the variation operators built on it.

The one place where an :class:`~supernet.space.ArchConfig` becomes a vector in
``[0, 1]^encoding_dim`` and back. Per stage: depth, per max block kernel and expand (one op
coordinate in a stage of explicit ops), width; then the resolution. Choice ``i`` of ``k``
encodes as ``(i + 0.5) / k`` and any ``u`` decodes to choice ``floor(u * k)`` (clipped), so a
uniform vector picks every choice of every field with equal probability. ``encode_rows`` /
``decode_rows`` work on ``(n, encoding_dim)`` batches (the search codec's view); the single-arch
methods of :class:`~supernet.space.SearchSpace` are their one-row case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lamoo_nas.supernet._space_types import ArchConfig, StageArch
from lamoo_nas.supernet.errors import ArchValidationError

if TYPE_CHECKING:
    from lamoo_nas.supernet.space import SearchSpace


def encoding_dim(space: SearchSpace) -> int:
    """Length of an encoding of ``space``."""
    return sum(2 + (1 if s.explicit_ops else 2) * s.max_depth for s in space.stages) + 1


def encode_rows(space: SearchSpace, archs: Sequence[ArchConfig]) -> np.ndarray:
    """``(n, encoding_dim)`` float64 array in (0, 1); inactive block slots encode as choice 0,
    so equal architectures encode equally. Validates every arch."""
    if not archs:
        return np.zeros((0, encoding_dim(space)))
    return np.asarray([_encode_one(space, arch) for arch in archs], dtype=np.float64)


def decode_rows(space: SearchSpace, x: np.ndarray) -> list[ArchConfig]:
    """``(n, encoding_dim)`` array (any values; clipped to the choices) to ``n`` archs."""
    dim = encoding_dim(space)
    x = np.asarray(x, dtype=np.float64)
    x = x[None] if x.ndim == 1 else x
    if x.ndim != 2 or x.shape[1] != dim:
        raise ArchValidationError(
            f"encodings have shape {x.shape}, space {space.name!r} needs (n, {dim})"
        )
    return [_decode_one(space, row) for row in x.tolist()]


def mutate(
    space: SearchSpace, arch: ArchConfig, rng: np.random.Generator, prob: float
) -> ArchConfig:
    """Resample each coordinate of the encoding independently with probability ``prob``."""
    vector = encode_rows(space, [arch])[0]
    mask = rng.random(size=vector.shape[0]) < prob
    vector[mask] = rng.random(int(np.count_nonzero(mask)))
    return decode_rows(space, vector)[0]


def crossover(
    space: SearchSpace, a: ArchConfig, b: ArchConfig, rng: np.random.Generator
) -> ArchConfig:
    """Uniform crossover of the two encodings."""
    va, vb = encode_rows(space, [a, b])
    take_b = rng.random(size=va.shape[0]) < 0.5
    return decode_rows(space, np.where(take_b, vb, va))[0]


def _encode_one(space: SearchSpace, arch: ArchConfig) -> list[float]:
    space.validate(arch)
    out: list[float] = []
    for spec, stage in zip(space.stages, arch.stages):
        out.append(_code(stage.depth, spec.depths))
        for j in range(spec.max_depth):
            active = j < stage.depth
            if spec.explicit_ops:
                op = (stage.kernel_sizes[j], stage.expand_ratios[j]) if active else None
                out.append(_code(op, spec.layer_ops(j)))
                continue
            out.append(_code(stage.kernel_sizes[j] if active else None, spec.kernel_sizes))
            out.append(_code(stage.expand_ratios[j] if active else None, spec.expand_ratios))
        out.append(_code(stage.width, spec.widths))
    out.append(_code(arch.resolution, space.resolutions))
    return out


def _decode_one(space: SearchSpace, row: list[float]) -> ArchConfig:
    it = iter(row)
    stages = []
    for spec in space.stages:
        depth = _pick(next(it), spec.depths)
        kernels, expands = [], []
        for j in range(spec.max_depth):
            if spec.explicit_ops:
                kernel, expand = _pick(next(it), spec.layer_ops(j))
                kernels.append(kernel)
                expands.append(expand)
                continue
            kernels.append(_pick(next(it), spec.kernel_sizes))
            expands.append(_pick(next(it), spec.expand_ratios))
        width = _pick(next(it), spec.widths)
        stages.append(StageArch(depth, tuple(kernels[:depth]), tuple(expands[:depth]), width))
    return ArchConfig(_pick(next(it), space.resolutions), tuple(stages))


def _code(value: Any, choices: tuple[Any, ...]) -> float:
    index = 0 if value is None else choices.index(value)
    return (index + 0.5) / len(choices)


def _pick(u: float, choices: tuple[Any, ...]) -> Any:
    index = min(max(int(u * len(choices)), 0), len(choices) - 1)
    return choices[index]
