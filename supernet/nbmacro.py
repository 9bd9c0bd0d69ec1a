"""NAS-Bench-Macro's 8-digit architecture strings and their :class:`ArchConfig` in ``nbmacro``.

NAS-Bench-Macro (Su et al., CVPR 2021) names a network by one digit per searchable layer, in
three stages of 2, 3 and 3 layers: ``0`` identity, ``1`` an inverted residual with kernel 3 and
expand ratio 3, ``2`` kernel 5 and expand ratio 6. An identity in a stage's first layer is a
strided 1x1 projection (the layer changes shape); anywhere else it skips the layer, so strings
that differ only in where such identities sit name one network. :func:`canonical_code` picks one
string per network (skipped layers moved to the end of their stage), and the preset space
``conf/space/nbmacro.yaml`` declares the same network with an elastic depth per stage.

Example:
    >>> canonical_code("01201020")
    '01210020'
    >>> space = load_space("nbmacro")
    >>> code_from_arch(space, arch_from_code(space, "01201020"))
    '01210020'
"""

from __future__ import annotations

import re

from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ArchValidationError
from lamoo_nas.supernet.space import IDENTITY, ArchConfig, SearchSpace, StageArch

STAGE_LAYERS = (2, 3, 3)
"""Searchable layers per stage."""
DIGIT_OPS: dict[str, tuple[int, float]] = {"0": IDENTITY, "1": (3, 3.0), "2": (5, 6.0)}
"""Digit -> ``(kernel_size, expand_ratio)``; ``IDENTITY`` is the identity op."""
OP_DIGITS = {op: digit for digit, op in DIGIT_OPS.items()}
RESOLUTION = 32
"""The benchmark's input size. A copy of the space at another single resolution (e.g.
``space.resolutions=[16]`` for a CPU-sized experiment) maps the same strings to the same
topologies at its own resolution."""
_CODE = re.compile(f"[012]{{{sum(STAGE_LAYERS)}}}")


def _stages(code: str) -> list[str]:
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise ArchValidationError(
            f"NAS-Bench-Macro architecture {code!r} is not {sum(STAGE_LAYERS)} digits of 0, 1, 2 "
            "(e.g. '02012100')"
        )
    out, start = [], 0
    for layers in STAGE_LAYERS:
        out.append(code[start : start + layers])
        start += layers
    return out


def canonical_code(code: str) -> str:
    """The one string of ``code``'s network: per stage, skipped (non-first ``0``) layers last."""
    parts = []
    for stage in _stages(code):
        kept = stage[0] + "".join(d for d in stage[1:] if d != "0")
        parts.append(kept.ljust(len(stage), "0"))
    return "".join(parts)


def arch_from_code(space: SearchSpace, code: str) -> ArchConfig:
    """The architecture of ``space`` (the ``nbmacro`` preset) that ``code`` names."""
    resolution = _check_space(space)
    stages: list[StageArch] = []
    for stage in _stages(canonical_code(code)):
        ops = [DIGIT_OPS[stage[0]]] + [DIGIT_OPS[d] for d in stage[1:] if d != "0"]
        stages.append(
            StageArch(
                depth=len(ops),
                kernel_sizes=tuple(k for k, _ in ops),
                expand_ratios=tuple(e for _, e in ops),
                width=space.stages[len(stages)].widths[0],
            )
        )
    return space.validate(ArchConfig(resolution, tuple(stages)))


def code_from_arch(space: SearchSpace, arch: ArchConfig) -> str:
    """The canonical string of ``arch`` (an architecture of the ``nbmacro`` preset)."""
    _check_space(space)
    space.validate(arch)
    parts = []
    for layers, stage in zip(STAGE_LAYERS, arch.stages):
        digits = "".join(OP_DIGITS[op] for op in zip(stage.kernel_sizes, stage.expand_ratios))
        parts.append(digits.ljust(layers, "0"))
    return "".join(parts)


def _check_space(space: SearchSpace) -> int:
    """The space's resolution, if ``space`` has NAS-Bench-Macro's topology (else an error)."""
    layers = tuple(s.max_depth for s in space.stages)
    ops = {op for digit, op in DIGIT_OPS.items() if digit != "0"}
    same = layers == STAGE_LAYERS and all(
        s.explicit_ops and s.identity and set(s.ops) == ops and len(s.widths) == 1
        for s in space.stages
    )
    if not same:
        raise ArchSpaceMismatchError(
            f"space {space.name!r} is not NAS-Bench-Macro's (stages of {list(STAGE_LAYERS)} "
            "layers, each the identity, kernel 3 / expand 3 or kernel 5 / expand 6); use "
            "`space=nbmacro`"
        )
    if len(space.resolutions) != 1:
        raise ArchSpaceMismatchError(
            f"space {space.name!r} offers resolutions {list(space.resolutions)}; a "
            "NAS-Bench-Macro string names one network at one resolution (the benchmark's: "
            f"{RESOLUTION})"
        )
    return space.resolutions[0]
