"""The MobileNetV3-style search space and its architectures.

A :class:`SearchSpace` is declared in YAML (``conf/space/*.yaml``) and describes a fixed
network skeleton (stem, first block, elastic stages, final expand, head) plus the choices
each elastic stage offers. An :class:`ArchConfig` is one point of that space: plain, frozen,
hashable data that round-trips through JSON.

Example:
    >>> space = load_space("tiny")
    >>> arch = space.sample(np.random.default_rng(0))
    >>> space.arch_from_json(space.arch_to_json(arch)) == arch
    True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from supernet.errors import ArchSpaceMismatchError, ArchValidationError, SpaceDefinitionError

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
                "id" if (k, e) == IDENTITY else f"k{k}e{e:g}"
                for k, e in zip(s.kernel_sizes, s.expand_ratios)
            )
            for s in self.stages
        ]
        return f"r{self.resolution}|" + "|".join(parts)


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
        if kind is int and int(item) != item:
            raise SpaceDefinitionError(f"{field} has {item!r}; each choice must be an integer")
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
    return value


def _resolutions(value: Any) -> tuple[int, ...]:
    if isinstance(value, Mapping):
        try:
            lo, hi, step = int(value["min"]), int(value["max"]), int(value.get("step", 1))
        except (KeyError, TypeError, ValueError) as err:
            raise SpaceDefinitionError(
                f"resolutions as a range needs integer min, max (and step), got {dict(value)!r}"
            ) from err
        if lo <= 0 or hi < lo or step <= 0:
            raise SpaceDefinitionError(
                f"resolutions range min={lo}, max={hi}, step={step} is empty or not positive"
            )
        value = list(range(lo, hi + 1, step))
    return _choices(value, "resolutions", int)


@dataclass(frozen=True)
class SearchSpace:
    """A MobileNetV3-style search space; see the module docstring for an example."""

    name: str
    stem: StemSpec
    first_block: FirstBlockSpec | None
    stages: tuple[StageSpec, ...]
    final_expand: FinalExpandSpec
    head: HeadSpec
    resolutions: tuple[int, ...]

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SearchSpace:
        """Validate a parsed YAML definition; raises :class:`SpaceDefinitionError`."""
        if not isinstance(raw, Mapping):
            raise SpaceDefinitionError(f"a space definition is a mapping, got {type(raw).__name__}")
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
        if not isinstance(stages_raw, Sequence) or not stages_raw:
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
            activation=_activation(
                final_raw.get("activation", "hswish"), "final_expand.activation"
            ),
        )
        head_raw = _section(raw, "head")
        dropout = head_raw.get("dropout", 0.0)
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise SpaceDefinitionError(f"head.dropout must be in [0, 1), got {dropout!r}")
        head_channels = head_raw.get("channels")
        head = HeadSpec(
            channels=None
            if head_channels is None
            else _positive_int(head_channels, "head.channels"),
            activation=_activation(head_raw.get("activation", "hswish"), "head.activation"),
            dropout=float(dropout),
        )
        return cls(name, stem, first, stages, final, head, _resolutions(raw.get("resolutions")))

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        path = Path(path)
        if not path.is_file():
            raise SpaceDefinitionError(f"no space definition at {path}")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise SpaceDefinitionError(f"{path} is not valid YAML: {err}") from err
        return cls.from_dict(raw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) that :meth:`from_dict` reads back."""
        out = asdict(self)
        out["resolutions"] = list(self.resolutions)
        out["stages"] = [_stage_dict(stage) for stage in self.stages]
        return out

    @property
    def fingerprint(self) -> str:
        """Short hash of the full definition: two spaces with equal fingerprints are equal."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # ----------------------------------------------------------------- architectures
    def validate(self, arch: ArchConfig) -> ArchConfig:
        """Return ``arch`` if every choice is allowed, else raise :class:`ArchValidationError`."""
        if not isinstance(arch, ArchConfig):
            raise ArchValidationError(f"expected an ArchConfig, got {type(arch).__name__}")
        if len(arch.stages) != len(self.stages):
            raise ArchSpaceMismatchError(
                f"the architecture has {len(arch.stages)} stages but space {self.name!r} has "
                f"{len(self.stages)}: it was made for another space"
            )
        if arch.resolution not in self.resolutions:
            raise ArchValidationError(
                f"resolution {arch.resolution} is not in space {self.name!r}; "
                f"allowed: {list(self.resolutions)}"
            )
        for i, (spec, stage) in enumerate(zip(self.stages, arch.stages)):
            where = f"stages[{i}]"
            _check(stage.depth, spec.depths, f"{where}.depth")
            _check(stage.width, spec.widths, f"{where}.width")
            if spec.explicit_ops:
                _check_ops(spec, stage, where)
                continue
            for name, values, allowed in (
                ("kernel_sizes", stage.kernel_sizes, spec.kernel_sizes),
                ("expand_ratios", stage.expand_ratios, spec.expand_ratios),
            ):
                if len(values) != stage.depth:
                    raise ArchValidationError(
                        f"{where}.{name} has {len(values)} entries but depth is {stage.depth}; "
                        "give one choice per active block"
                    )
                for j, value in enumerate(values):
                    _check(value, allowed, f"{where}.{name}[{j}]")
        return arch

    def sample(self, rng: np.random.Generator) -> ArchConfig:
        """One architecture drawn uniformly per choice.

        One uniform vector decoded: choice ``i`` of ``k`` is picked when its coordinate falls in
        ``[i / k, (i + 1) / k)``, so every choice of every field is equally likely.
        """
        return self.decode(rng.random(self.encoding_dim))

    def smallest(self) -> ArchConfig:
        """Every choice at its minimum."""
        return self._extreme(min)

    def largest(self) -> ArchConfig:
        """Every choice at its maximum."""
        return self._extreme(max)

    def _extreme(self, pick: Any) -> ArchConfig:
        stages = []
        for s in self.stages:
            depth = pick(s.depths)
            if s.explicit_ops:  # layer_ops is ordered cheapest first
                end = 0 if pick is min else -1
                ops = [s.layer_ops(j)[end] for j in range(depth)]
            else:
                ops = [(pick(s.kernel_sizes), pick(s.expand_ratios))] * depth
            stages.append(
                StageArch(
                    depth=depth,
                    kernel_sizes=tuple(k for k, _ in ops),
                    expand_ratios=tuple(e for _, e in ops),
                    width=pick(s.widths),
                )
            )
        return ArchConfig(pick(self.resolutions), tuple(stages))

    # ----------------------------------------------------------------- JSON
    def arch_to_json(self, arch: ArchConfig) -> dict[str, Any]:
        """JSON-able dict that names this space; :meth:`arch_from_json` reads it back."""
        self.validate(arch)
        return {"space": self.name, "space_fingerprint": self.fingerprint, **arch.to_dict()}

    def arch_from_json(self, raw: Mapping[str, Any] | str) -> ArchConfig:
        """Parse and validate an architecture; rejects one made for another space."""
        if isinstance(raw, str):
            raw = json.loads(raw)
        if not isinstance(raw, Mapping):
            raise ArchValidationError(f"an architecture is a JSON object, got {type(raw).__name__}")
        space_name = raw.get("space", self.name)
        if space_name != self.name:
            raise ArchSpaceMismatchError(
                f"the architecture was made for space {space_name!r}, not {self.name!r}; "
                f"pass `space={space_name}` or an architecture of {self.name!r}"
            )
        fingerprint = raw.get("space_fingerprint")
        if fingerprint is not None and fingerprint != self.fingerprint:
            raise ArchSpaceMismatchError(
                f"the architecture was made for a different definition of space {self.name!r} "
                f"(fingerprint {fingerprint}, this one {self.fingerprint}); use the space "
                "definition it was searched in"
            )
        try:
            stages = tuple(
                StageArch(
                    depth=int(s["depth"]),
                    kernel_sizes=tuple(int(k) for k in s["kernel_sizes"]),
                    expand_ratios=tuple(float(e) for e in s["expand_ratios"]),
                    width=int(s["width"]),
                )
                for s in raw["stages"]
            )
            arch = ArchConfig(int(raw["resolution"]), stages)
        except (KeyError, TypeError, ValueError) as err:
            raise ArchValidationError(
                f"malformed architecture JSON ({err!r}); expected keys resolution and stages "
                "(each with depth, kernel_sizes, expand_ratios, width)"
            ) from err
        return self.validate(arch)

    # ----------------------------------------------------------------- numeric encoding
    @property
    def encoding_dim(self) -> int:
        """Length of :meth:`encode`'s vectors: per stage depth, per max block 2 (kernel and
        expand; 1, the op, in a stage of explicit ops), width; + resolution."""
        return sum(2 + (1 if s.explicit_ops else 2) * s.max_depth for s in self.stages) + 1

    def encode(self, arch: ArchConfig) -> np.ndarray:
        """Fixed-length vector in [0, 1]^encoding_dim; choice i of k maps to (i + 0.5) / k.

        Inactive block slots encode as choice 0, so equal architectures encode equally.
        """
        self.validate(arch)
        out: list[float] = []
        for spec, stage in zip(self.stages, arch.stages):
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
        out.append(_code(arch.resolution, self.resolutions))
        return np.asarray(out, dtype=np.float64)

    def decode(self, vector: np.ndarray) -> ArchConfig:
        """Inverse of :meth:`encode` for any vector in [0, 1]^encoding_dim (values clipped)."""
        vector = np.asarray(vector, dtype=np.float64).reshape(-1)
        if vector.shape[0] != self.encoding_dim:
            raise ArchValidationError(
                f"encoding has length {vector.shape[0]}, space {self.name!r} needs "
                f"{self.encoding_dim}"
            )
        it = iter(vector.tolist())
        stages = []
        for spec in self.stages:
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
        return ArchConfig(_pick(next(it), self.resolutions), tuple(stages))

    # ----------------------------------------------------------------- variation
    def mutate(self, arch: ArchConfig, rng: np.random.Generator, prob: float) -> ArchConfig:
        """Resample each choice independently with probability ``prob``."""
        vector = self.encode(arch)
        mask = rng.random(size=vector.shape[0]) < prob
        vector[mask] = rng.random(int(np.count_nonzero(mask)))
        return self.decode(vector)

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator) -> ArchConfig:
        """Uniform crossover of the two encodings."""
        va, vb = self.encode(a), self.encode(b)
        take_b = rng.random(size=va.shape[0]) < 0.5
        return self.decode(np.where(take_b, vb, va))


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
    depths = _choices(raw.get("depths"), f"{where}.depths", int)
    max_depth = raw.get("max_depth", max(depths))
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


def _check_ops(spec: StageSpec, stage: StageArch, where: str) -> None:
    for name, values in (
        ("kernel_sizes", stage.kernel_sizes),
        ("expand_ratios", stage.expand_ratios),
    ):
        if len(values) != stage.depth:
            raise ArchValidationError(
                f"{where}.{name} has {len(values)} entries but depth is {stage.depth}; "
                "give one choice per active block"
            )
    for j, op in enumerate(zip(stage.kernel_sizes, stage.expand_ratios)):
        allowed = spec.layer_ops(j)
        if op not in allowed:
            names = [list(o) for o in allowed]
            raise ArchValidationError(
                f"{where} layer {j} has (kernel, expand) {list(op)}; allowed: {names}"
                + ("; the identity [0, 0] only in a stage's first layer" if spec.identity else "")
            )


def _check(value: Any, allowed: tuple[Any, ...], field: str) -> None:
    if value not in allowed:
        raise ArchValidationError(f"{field} is {value!r}; allowed: {list(allowed)}")


def _code(value: Any, choices: tuple[Any, ...]) -> float:
    index = 0 if value is None else choices.index(value)
    return (index + 0.5) / len(choices)


def _pick(u: float, choices: tuple[Any, ...]) -> Any:
    index = min(max(int(u * len(choices)), 0), len(choices) - 1)
    return choices[index]


def available_spaces() -> list[str]:
    """Names of the preset spaces shipped in ``conf/space``."""
    folder = resources.files("conf") / "space"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A preset by name (``tiny``, ``cifar``, ``ofa_mbv3``) or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        return SearchSpace.from_yaml(path)
    folder = resources.files("conf") / "space"
    candidate = folder / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise SpaceDefinitionError(
            f"unknown search space {str(name_or_path)!r}; presets: {available_spaces()}, "
            "or give a path to a YAML definition"
        )
    return SearchSpace.from_dict(yaml.safe_load(candidate.read_text()))
