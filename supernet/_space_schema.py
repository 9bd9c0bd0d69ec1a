"""Parsing and checking of a search-space definition (a YAML file or the dict it loads to).

:func:`parse_definition` turns the plain mapping into the typed specs of
:class:`supernet.space.SearchSpace` and raises :class:`SpaceDefinitionError` with the field,
the bad value and the allowed form; :func:`definition_dict` writes a space back in the same form
(stable, so fingerprints do not change).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from lamoo_nas.supernet._space_types import (
    ACTIVATIONS,
    FinalExpandSpec,
    FirstBlockSpec,
    HeadSpec,
    Op,
    StageSpec,
    StemSpec,
)
from lamoo_nas.supernet.errors import SpaceDefinitionError

TOP_KEYS = ("name", "stem", "first_block", "stages", "final_expand", "head", "resolutions")
SECTION_KEYS = {
    "stem": ("channels", "stride", "activation"),
    "first_block": ("channels", "kernel_size", "activation"),
    "final_expand": ("channels", "activation"),
    "head": ("channels", "activation", "dropout"),
}
STAGE_KEYS = (
    "depths",
    "max_depth",
    "kernel_sizes",
    "expand_ratios",
    "ops",
    "widths",
    "stride",
    "activation",
    "se",
    "identity",
)
RANGE_KEYS = ("min", "max", "step")
KEY_ALIASES = {
    "squeeze_excite": "se",
    "squeeze_excitation": "se",
    "kernels": "kernel_sizes",
    "expands": "expand_ratios",
    "expand_ratio": "expand_ratios",
    "kernel_size": "kernel_sizes",
    "depth": "depths",
    "width": "widths",
    "resolution": "resolutions",
}
"""Names people write for a key, mapped to the key this schema reads (for the error hint)."""


class SpaceParts(NamedTuple):
    """The fields of a :class:`~supernet.space.SearchSpace`, in its constructor's order."""

    name: str
    stem: StemSpec
    first_block: FirstBlockSpec | None
    stages: tuple[StageSpec, ...]
    final_expand: FinalExpandSpec
    head: HeadSpec
    resolutions: tuple[int, ...]


def parse_definition(raw: Mapping[str, Any]) -> SpaceParts:
    """Validate a parsed YAML definition; raises :class:`SpaceDefinitionError`."""
    if not isinstance(raw, Mapping):
        raise SpaceDefinitionError(f"a space definition is a mapping, got {type(raw).__name__}")
    check_keys(raw, TOP_KEYS, "the top level")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SpaceDefinitionError("the space definition needs a non-empty `name:`")
    stem_raw = _section(raw, "stem")
    stem = StemSpec(
        channels=_positive_int(stem_raw.get("channels"), "stem.channels"),
        stride=_positive_int(stem_raw.get("stride", 2), "stem.stride"),
        activation=_activation(stem_raw.get("activation", "hswish"), "stem.activation"),
    )
    first = _first_block(raw)
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, Sequence) or isinstance(stages_raw, str) or not stages_raw:
        raise SpaceDefinitionError("the space definition needs a non-empty `stages:` list")
    in_widths: tuple[int, ...] = (first.channels if first is not None else stem.channels,)
    stages_list: list[StageSpec] = []
    for i, stage_raw in enumerate(stages_raw):
        stages_list.append(_stage(stage_raw, f"stages[{i}]", in_widths))
        in_widths = stages_list[-1].widths
    stages = tuple(stages_list)
    final_raw = _section(raw, "final_expand")
    final = FinalExpandSpec(
        channels=_positive_int(final_raw.get("channels"), "final_expand.channels"),
        activation=_activation(final_raw.get("activation", "hswish"), "final_expand.activation"),
    )
    head_raw = _section(raw, "head")
    dropout = head_raw.get("dropout", 0.0)
    if not _is_number(dropout) or not 0.0 <= dropout < 1.0:
        raise SpaceDefinitionError(f"head.dropout must be in [0, 1), got {dropout!r}")
    head_channels = head_raw.get("channels")
    head = HeadSpec(
        channels=None if head_channels is None else _positive_int(head_channels, "head.channels"),
        activation=_activation(head_raw.get("activation", "hswish"), "head.activation"),
        dropout=float(dropout),
    )
    return SpaceParts(name, stem, first, stages, final, head, _resolutions(raw.get("resolutions")))


def read_yaml(path: str | Path) -> Any:
    """The plain data of a YAML definition file (not yet checked)."""
    path = Path(path)
    if not path.is_file():
        raise SpaceDefinitionError(f"no space definition at {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        one_line = " ".join(str(err).split())
        raise SpaceDefinitionError(f"{path} is not valid YAML: {one_line}") from err
    return raw


def definition_dict(parts: Any) -> dict[str, Any]:
    """Plain data (lists, numbers, strings) that :func:`parse_definition` reads back."""
    out = asdict(parts)
    out["resolutions"] = list(parts.resolutions)
    out["stages"] = [_stage_dict(stage) for stage in parts.stages]
    return out


def _choices(value: Any, field: str, kind: type) -> tuple[Any, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) == 0:
        raise SpaceDefinitionError(
            f"{field} must be a non-empty list of {kind.__name__}s, got {value!r}; "
            f"write e.g. `{field.rsplit('.', 1)[-1]}: [3, 5]`"
        )
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or item <= 0:
            raise SpaceDefinitionError(
                f"{field} has {item!r}; each choice must be a positive number"
            )
        if kind is int and not _is_int(item):
            raise SpaceDefinitionError(
                f"{field} has {item!r} ({type(item).__name__}); each choice must be an integer"
            )
        out.append(kind(item))
    if len(set(out)) != len(out):
        raise SpaceDefinitionError(f"{field} repeats a choice: {list(value)!r}")
    return tuple(sorted(out))


def _activation(value: Any, field: str) -> str:
    if value not in ACTIVATIONS:
        raise SpaceDefinitionError(
            f"{field} is {value!r}; allowed activations: {', '.join(ACTIVATIONS)}"
        )
    return str(value)


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SpaceDefinitionError(f"{field} must be a positive integer, got {value!r}")
    return value


def _section(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if not isinstance(value, Mapping):
        raise SpaceDefinitionError(f"the space definition needs a `{key}:` mapping, got {value!r}")
    check_keys(value, SECTION_KEYS[key], key)
    return value


def check_keys(raw: Mapping[Any, Any], allowed: Sequence[str], where: str) -> None:
    """Raise :class:`SpaceDefinitionError` for the first key of ``raw`` not in ``allowed``,
    naming where it is and the nearest allowed key (a misspelt key would otherwise be ignored
    and its default silently used)."""
    for key in raw:
        if key not in allowed:
            raise SpaceDefinitionError(
                f"unknown key {key!r} in {where}; did you mean {_nearest(str(key), allowed)!r}? "
                f"allowed: {', '.join(allowed)}{_misplaced(str(key), allowed)}"
            )


def _nearest(key: str, allowed: Sequence[str], cutoff: float = 0.0) -> str | None:
    aliases = {alias: real for alias, real in KEY_ALIASES.items() if real in allowed}
    match = difflib.get_close_matches(key, [*allowed, *aliases], n=1, cutoff=cutoff)
    if not match:
        return allowed[0] if cutoff == 0.0 else None
    return aliases.get(match[0], match[0])


def _misplaced(key: str, allowed: Sequence[str]) -> str:
    """A hint when ``key`` closely matches a key of another part of the definition."""
    places = {"each stage (under `stages:`)": STAGE_KEYS, "the top level": TOP_KEYS}
    places.update(SECTION_KEYS)
    for place, keys in places.items():
        near = _nearest(key, keys, cutoff=0.75)
        if near is not None and near not in allowed:
            return f"; {near!r} is a key of {place}"
    return ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _resolutions(value: Any) -> tuple[int, ...]:
    if isinstance(value, Mapping):
        check_keys(value, RANGE_KEYS, "resolutions")
        bounds: tuple[Any, ...] = (value.get("min"), value.get("max"), value.get("step", 1))
        if not all(_is_int(v) for v in bounds):
            raise SpaceDefinitionError(
                f"resolutions as a range needs integer min, max (and step), got {dict(value)!r}"
            )
        lo, hi, step = (int(v) for v in bounds)
        if lo <= 0 or hi < lo or step <= 0:
            raise SpaceDefinitionError(
                f"resolutions range min={lo}, max={hi}, step={step} is empty or not positive"
            )
        value = list(range(lo, hi + 1, step))
    return _choices(value, "resolutions", int)


def _first_block(raw: Mapping[str, Any]) -> FirstBlockSpec | None:
    if "first_block" in raw and raw["first_block"] is None:
        return None  # `first_block: null`: the stem feeds the first stage directly
    first_raw = _section(raw, "first_block")
    first = FirstBlockSpec(
        channels=_positive_int(first_raw.get("channels"), "first_block.channels"),
        kernel_size=_positive_int(first_raw.get("kernel_size", 3), "first_block.kernel_size"),
        activation=_activation(first_raw.get("activation", "relu"), "first_block.activation"),
    )
    if first.kernel_size % 2 == 0:
        raise SpaceDefinitionError(f"first_block.kernel_size must be odd, got {first.kernel_size}")
    return first


def _stage(raw: Any, where: str, in_widths: tuple[int, ...]) -> StageSpec:
    if not isinstance(raw, Mapping):
        raise SpaceDefinitionError(f"{where} must be a mapping, got {raw!r}")
    check_keys(raw, STAGE_KEYS, where)
    depths = _choices(raw.get("depths"), f"{where}.depths", int)
    max_depth = _positive_int(raw.get("max_depth", max(depths)), f"{where}.max_depth")
    if max(depths) > max_depth:
        raise SpaceDefinitionError(
            f"{where}.depths has {max(depths)}, above the stage's max_depth {max_depth}; "
            "lower the depth choice or raise max_depth"
        )
    explicit = "ops" in raw
    if explicit:
        if "kernel_sizes" in raw or "expand_ratios" in raw:
            raise SpaceDefinitionError(
                f"{where} has both ops and kernel_sizes/expand_ratios; give either the list of "
                "(kernel, expand) pairs `ops: [[3, 3], [5, 6]]` or the two factor lists"
            )
        ops = _ops(raw["ops"], f"{where}.ops")
        kernels = tuple(sorted({k for k, _ in ops}))
        expands = tuple(sorted({e for _, e in ops}))
    else:
        kernels = _choices(raw.get("kernel_sizes"), f"{where}.kernel_sizes", int)
        expands = _choices(raw.get("expand_ratios"), f"{where}.expand_ratios", float)
        ops = tuple((k, e) for k in kernels for e in expands)
    if any(k % 2 == 0 for k in kernels):
        raise SpaceDefinitionError(f"{where}.kernel_sizes must be odd, got {list(kernels)}")
    se, identity = (_flag(raw, key, where) for key in ("se", "identity"))
    widths = _choices(raw.get("widths"), f"{where}.widths", int)
    stride = _positive_int(raw.get("stride", 1), f"{where}.stride")
    if identity and not explicit:
        raise SpaceDefinitionError(
            f"{where}.identity needs the ops form (`ops: [[3, 3], [5, 6]]`), not kernel_sizes x "
            "expand_ratios"
        )
    if identity and stride == 1 and set(in_widths) == set(widths) and len(widths) == 1:
        raise SpaceDefinitionError(
            f"{where}.identity: the stage's first layer keeps its input's shape, so an identity "
            "there skips the layer; declare that with a smaller depth choice instead"
        )
    return StageSpec(
        depths=depths,
        kernel_sizes=kernels,
        expand_ratios=expands,
        widths=widths,
        stride=stride,
        activation=_activation(raw.get("activation", "relu"), f"{where}.activation"),
        se=se,
        ops=ops,
        explicit_ops=explicit,
        identity=identity,
    )


def _flag(raw: Mapping[str, Any], key: str, where: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise SpaceDefinitionError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def _ops(value: Any, field: str) -> tuple[Op, ...]:
    hint = "write e.g. `ops: [[3, 3], [5, 6]]` (kernel size, expand ratio)"
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise SpaceDefinitionError(f"{field} must be a non-empty list of pairs; {hint}")
    ops = []
    for item in value:
        ok = isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2
        numbers = ok and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in item
        )
        if not numbers or int(item[0]) != item[0]:
            raise SpaceDefinitionError(
                f"{field} has {item!r}; each op is a pair of a positive integer kernel size "
                f"and a positive expand ratio; {hint}"
            )
        ops.append((int(item[0]), float(item[1])))
    if len(set(ops)) != len(ops):
        raise SpaceDefinitionError(f"{field} repeats an op: {list(value)!r}")
    return tuple(sorted(ops))


def _stage_dict(stage: StageSpec) -> dict[str, Any]:
    """Plain data of a stage in the form its YAML was written in (so fingerprints are stable)."""
    out: dict[str, Any] = {"depths": list(stage.depths)}
    if stage.explicit_ops:
        out["ops"] = [[k, e] for k, e in stage.ops]
    else:
        out["kernel_sizes"] = list(stage.kernel_sizes)
        out["expand_ratios"] = list(stage.expand_ratios)
    out.update(widths=list(stage.widths), stride=stage.stride, activation=stage.activation)
    out["se"] = stage.se
    if stage.identity:
        out["identity"] = True
    return out
