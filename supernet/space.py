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

The definition schema lives in :mod:`supernet._space_schema`, the numeric encoding and the
variation operators in :mod:`supernet._space_encoding`, the plain data in
:mod:`supernet._space_types`; :class:`SearchSpace` is the one public face of all three.
"""

from __future__ import annotations

import hashlib
import json
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.supernet import _space_encoding, _space_schema
from lamoo_nas.supernet._space_types import (
    ACTIVATIONS,
    IDENTITY,
    ArchConfig,
    FinalExpandSpec,
    FirstBlockSpec,
    HeadSpec,
    Op,
    StageArch,
    StageSpec,
    StemSpec,
)
from lamoo_nas.supernet.errors import (
    ArchSpaceMismatchError,
    ArchValidationError,
    SpaceDefinitionError,
)

__all__ = [
    "ACTIVATIONS",
    "IDENTITY",
    "ArchConfig",
    "FinalExpandSpec",
    "FirstBlockSpec",
    "HeadSpec",
    "Op",
    "SearchSpace",
    "StageArch",
    "StageSpec",
    "StemSpec",
    "available_spaces",
    "load_space",
]


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
        return cls(*_space_schema.parse_definition(raw))

    @classmethod
    def from_yaml(cls, path: str | Path) -> SearchSpace:
        """Read and validate a YAML definition file."""
        return cls.from_dict(_space_schema.read_yaml(path))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) that :meth:`from_dict` reads back."""
        return _space_schema.definition_dict(self)

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
        arch = _arch_from_plain(raw)
        return self.validate(arch)

    # ----------------------------------------------------------------- numeric encoding
    @property
    def encoding_dim(self) -> int:
        """Length of :meth:`encode`'s vectors: per stage depth, per max block 2 (kernel and
        expand; 1, the op, in a stage of explicit ops), width; + resolution."""
        return _space_encoding.encoding_dim(self)

    def encode(self, arch: ArchConfig) -> np.ndarray:
        """Fixed-length vector in [0, 1]^encoding_dim; choice i of k maps to (i + 0.5) / k.

        Inactive block slots encode as choice 0, so equal architectures encode equally.
        """
        return _space_encoding.encode_rows(self, [arch])[0]

    def decode(self, vector: np.ndarray) -> ArchConfig:
        """Inverse of :meth:`encode` for any vector in [0, 1]^encoding_dim (values clipped)."""
        vector = np.asarray(vector, dtype=np.float64).reshape(-1)
        if vector.shape[0] != self.encoding_dim:
            raise ArchValidationError(
                f"encoding has length {vector.shape[0]}, space {self.name!r} needs "
                f"{self.encoding_dim}"
            )
        return _space_encoding.decode_rows(self, vector)[0]

    def encode_many(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """``(n, encoding_dim)`` array: :meth:`encode` of each arch, one row each."""
        return _space_encoding.encode_rows(self, archs)

    def decode_many(self, x: np.ndarray) -> list[ArchConfig]:
        """``(n, encoding_dim)`` array (a 1-D vector is one row) -> ``n`` architectures."""
        return _space_encoding.decode_rows(self, x)

    # ----------------------------------------------------------------- variation
    def mutate(self, arch: ArchConfig, rng: np.random.Generator, prob: float) -> ArchConfig:
        """Resample each choice independently with probability ``prob``."""
        return _space_encoding.mutate(self, arch, rng, prob)

    def crossover(self, a: ArchConfig, b: ArchConfig, rng: np.random.Generator) -> ArchConfig:
        """Uniform crossover of the two encodings."""
        return _space_encoding.crossover(self, a, b, rng)


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


_ARCH_KEYS_HINT = (
    "expected keys resolution and stages (each with depth, kernel_sizes, expand_ratios, width)"
)


def _arch_from_plain(raw: Mapping[str, Any]) -> ArchConfig:
    """The :class:`ArchConfig` of JSON data, type-checked field by field (no coercion: a
    ``depth`` of 1.7, ``true`` or ``"2"`` is an error, not 1 or 2)."""
    try:
        stages_raw = raw["stages"]
        resolution = raw["resolution"]
        if isinstance(stages_raw, (str, Mapping)) or not isinstance(stages_raw, Sequence):
            raise ArchValidationError(f"stages must be a list of stages, got {stages_raw!r}")
        stages = []
        for i, s in enumerate(stages_raw):
            if not isinstance(s, Mapping):
                raise ArchValidationError(f"stages[{i}] must be an object, got {s!r}")
            where = f"stages[{i}]"
            stages.append(
                StageArch(
                    depth=_json_int(s["depth"], f"{where}.depth"),
                    kernel_sizes=tuple(
                        _json_int(k, f"{where}.kernel_sizes[{j}]")
                        for j, k in enumerate(
                            _json_list(s["kernel_sizes"], f"{where}.kernel_sizes")
                        )
                    ),
                    expand_ratios=tuple(
                        _json_number(e, f"{where}.expand_ratios[{j}]")
                        for j, e in enumerate(
                            _json_list(s["expand_ratios"], f"{where}.expand_ratios")
                        )
                    ),
                    width=_json_int(s["width"], f"{where}.width"),
                )
            )
    except KeyError as err:
        raise ArchValidationError(
            f"malformed architecture JSON ({err!r}); {_ARCH_KEYS_HINT}"
        ) from err
    return ArchConfig(_json_int(resolution, "resolution"), tuple(stages))


def _json_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArchValidationError(
            f"{field} must be an integer, got {value!r} ({type(value).__name__})"
        )
    return int(value)


def _json_number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArchValidationError(
            f"{field} must be a number, got {value!r} ({type(value).__name__})"
        )
    return float(value)


def _json_list(value: Any, field: str) -> Sequence[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ArchValidationError(
            f"{field} must be a list with one entry per active block, got {value!r} "
            f"({type(value).__name__})"
        )
    return value


def available_spaces() -> list[str]:
    """Names of the preset spaces shipped in ``conf/space``."""
    folder = resources.files("lamoo_nas.conf") / "space"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A preset by name (``tiny``, ``cifar``, ``ofa_mbv3``, ``nbmacro``) or a YAML file by path.

    Anything that exists as a file, ends in ``.yaml`` / ``.yml`` or has a folder part (a ``/``)
    is read as a path; anything else is a preset name. Raises :class:`SpaceDefinitionError` for
    a missing file or an unknown preset, naming the presets.

    Example:
        >>> load_space("tiny").name
        'tiny'
    """
    path = Path(name_or_path)
    if path.is_file() or path.suffix in (".yaml", ".yml") or len(path.parts) > 1:
        if not path.is_file():
            raise SpaceDefinitionError(
                f"no space definition file at {path}; give the path of an existing YAML "
                f"definition or a preset name: {available_spaces()}"
            )
        return SearchSpace.from_yaml(path)
    candidate = resources.files("lamoo_nas.conf") / "space" / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise SpaceDefinitionError(
            f"unknown search space {str(name_or_path)!r}; presets: {available_spaces()}, "
            "or give a path to a YAML definition"
        )
    return SearchSpace.from_dict(_space_schema.read_yaml(Path(str(candidate))))
