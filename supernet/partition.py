"""Partitions of a search space into K regions: the split of few-shot supernets.

Every architecture belongs to exactly one region; :meth:`Partition.region_of` says which, and
:meth:`Partition.sample_in` draws architectures of one region (the sampler of that region's
sub-supernet). Two kinds, both plain data that round-trip through JSON:

- :class:`ChoicePartition`: by the choices of decision points of the space, named as in the
  encoding: ``stages.I.depth``, ``stages.I.width``, ``stages.I.layers.J.op`` (a stage of
  explicit ops) or ``stages.I.layers.J.kernel`` / ``.expand``, and ``resolution``. Each point's
  choices fall into groups (by default one group per choice); a region is one group of every
  point, so K is the product of the group counts. Only always-present layers can be split on
  (``J`` below the stage's smallest depth), so membership never depends on another choice;
  the groups must cover every choice exactly once.
- :class:`LearnedPartition`: the leaves of a tree of two-class SVM cuts over the encoding (the
  partition LaMOO makes from accuracies and costs, fitted by :mod:`evaluate.few_shot`), stored as
  the SVMs' support vectors, dual coefficients and kernels and evaluated here, so loading it
  runs nothing but arithmetic.

Example:
    >>> from supernet import load_space
    >>> space = load_space("nbmacro")
    >>> part = ChoicePartition.build(space, ["stages.0.layers.0.op"])
    >>> part.num_regions, part.region_names
    (3, ['stages.0.layers.0.op=identity', 'stages.0.layers.0.op=k3e3', 'stages.0.layers.0.op=k5e6'])
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lamoo_nas.supernet._space_types import IDENTITY
from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ConfigError
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

FORMAT = "lamoo-nas/partition"
MAX_REJECTIONS = 20_000
"""Draws :meth:`LearnedPartition.sample_in` tries before it calls a region empty."""


@dataclass(frozen=True)
class DecisionPoint:
    """One coordinate of the encoding: its name, its choices (by name) and its position."""

    name: str
    choices: tuple[str, ...]
    column: int


def choice_name(value: Any) -> str:
    """``identity``, ``k3e3`` / ``k5e6`` for ops (kernel, expand), else the value itself."""
    if isinstance(value, tuple):
        if tuple(value) == IDENTITY:
            return "identity"
        return f"k{value[0]}e{value[1]:g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def decision_points(space: SearchSpace) -> dict[str, DecisionPoint]:
    """Every decision point of ``space`` that is present in every architecture, by name, in
    the encoding's column order (see :mod:`supernet._space_encoding`)."""
    points: dict[str, DecisionPoint] = {}
    column = 0

    def add(name: str, values: Sequence[Any], present: bool = True) -> None:
        nonlocal column
        if present:
            points[name] = DecisionPoint(name, tuple(choice_name(v) for v in values), column)
        column += 1

    for i, spec in enumerate(space.stages):
        add(f"stages.{i}.depth", spec.depths)
        for j in range(spec.max_depth):
            present = j < min(spec.depths)
            if spec.explicit_ops:
                add(f"stages.{i}.layers.{j}.op", spec.layer_ops(j), present)
            else:
                add(f"stages.{i}.layers.{j}.kernel", spec.kernel_sizes, present)
                add(f"stages.{i}.layers.{j}.expand", spec.expand_ratios, present)
        add(f"stages.{i}.width", spec.widths)
    add("resolution", space.resolutions)
    return points


class Partition:
    """K regions of one space; see the module docstring."""

    kind = ""
    space_fingerprint: str
    region_names: list[str]

    @property
    def num_regions(self) -> int:
        return len(self.region_names)

    def regions_of(self, x: np.ndarray) -> np.ndarray:
        """``(n,)`` region indices of encodings ``x`` ``(n, d)``."""
        raise NotImplementedError

    def region_of(self, space: SearchSpace, arch: ArchConfig) -> int:
        """The region ``arch`` belongs to."""
        self.check_space(space)
        return int(self.regions_of(space.encode(arch)[None])[0])

    def sample_in(self, space: SearchSpace, region: int, rng: np.random.Generator) -> ArchConfig:
        raise NotImplementedError

    def check_space(self, space: SearchSpace) -> None:
        if space.fingerprint != self.space_fingerprint:
            raise ArchSpaceMismatchError(
                f"the partition was made for the space with fingerprint {self.space_fingerprint},"
                f" not space {space.name!r} ({space.fingerprint}); fit or declare it for this space"
            )

    def _check_region(self, region: int) -> None:
        if not 0 <= region < self.num_regions:
            raise ConfigError(
                f"region {region} does not exist; the partition has {self.num_regions}"
            )

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "kind": self.kind, **self.to_dict()}, indent=1)


@dataclass(frozen=True)
class _Point:
    point: DecisionPoint
    groups: tuple[tuple[str, ...], ...]


class ChoicePartition(Partition):
    """Regions by the choices of decision points (see the module docstring)."""

    kind = "choices"

    def __init__(self, space_fingerprint: str, points: Sequence[_Point]) -> None:
        self.space_fingerprint = space_fingerprint
        self.points = tuple(points)
        combos = itertools.product(*(range(len(p.groups)) for p in self.points))
        self._combos = [tuple(c) for c in combos]
        self.region_names = [
            ", ".join(f"{p.point.name}={'|'.join(p.groups[g])}" for p, g in zip(self.points, combo))
            for combo in self._combos
        ]

    @classmethod
    def build(
        cls,
        space: SearchSpace,
        split: Sequence[str],
        groups: Mapping[str, Sequence[Sequence[Any]]] | None = None,
    ) -> ChoicePartition:
        """Split ``space`` on the decision points ``split``; ``groups`` optionally gathers a
        point's choices (by name, e.g. ``{"stages.0.layers.0.op": [["identity"], ["k3e3",
        "k5e6"]]}``). Raises :class:`ConfigError` for an unknown or not-always-present point, a
        grouping that misses or repeats a choice, or a split into fewer than 2 regions."""
        available = decision_points(space)
        groups = dict(groups or {})
        if not split:
            raise ConfigError("few_shot.split is empty: name at least one decision point")
        for name in groups:
            if name not in split:
                raise ConfigError(
                    f"groups are given for {name!r}, which is not in split {list(split)}"
                )
        points = []
        for name in split:
            if name not in available:
                raise ConfigError(_unknown_point(name, available, space))
            point = available[name]
            raw = groups.get(name)
            chosen = tuple((c,) for c in point.choices) if raw is None else _groups(point, raw)
            points.append(_Point(point, chosen))
        if len({p.point.name for p in points}) != len(points):
            raise ConfigError(f"few_shot.split names a decision point twice: {list(split)}")
        part = cls(space.fingerprint, points)
        if part.num_regions < 2:
            raise ConfigError(
                f"the split {list(split)} makes {part.num_regions} region; a few-shot split needs "
                "at least 2 (a point with more choices, more points, or fewer groups)"
            )
        return part

    def regions_of(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(x.shape[0], dtype=np.int64)
        for p in self.points:
            k = len(p.point.choices)
            choice = np.clip((x[:, p.point.column] * k).astype(np.int64), 0, k - 1)
            group_of = np.empty(k, dtype=np.int64)
            for g, members in enumerate(p.groups):
                for name in members:
                    group_of[p.point.choices.index(name)] = g
            out = out * len(p.groups) + group_of[choice]
        return out

    def sample_in(self, space: SearchSpace, region: int, rng: np.random.Generator) -> ArchConfig:
        """An architecture of ``region``: a uniform draw of the space with each split point
        redrawn uniformly among its region's choices (exactly the space's distribution, given
        the region)."""
        self.check_space(space)
        self._check_region(region)
        x = rng.random(space.encoding_dim)
        for p, g in zip(self.points, self._combos[region]):
            k = len(p.point.choices)
            members = [p.point.choices.index(name) for name in p.groups[g]]
            x[p.point.column] = (members[int(rng.integers(len(members)))] + rng.random()) / k
        return space.decode(x)

    def extreme_in(self, space: SearchSpace, region: int, largest: bool) -> ArchConfig:
        """The space's largest (smallest) architecture with each split point at its region's
        largest (smallest) choice: the sandwich rule's ends inside a region."""
        self.check_space(space)
        self._check_region(region)
        x = space.encode(space.largest() if largest else space.smallest())
        for p, g in zip(self.points, self._combos[region]):
            members = [p.point.choices.index(name) for name in p.groups[g]]
            x[p.point.column] = ((max if largest else min)(members) + 0.5) / len(p.point.choices)
        return space.decode(x)

    def to_dict(self) -> dict[str, Any]:
        return {
            "space_fingerprint": self.space_fingerprint,
            "split": [p.point.name for p in self.points],
            "groups": {p.point.name: [list(g) for g in p.groups] for p in self.points},
            "regions": self.region_names,
        }


@dataclass(frozen=True)
class SvmCut:
    """A fitted two-class SVM as numbers: ``decision(x) = sum_i a_i K(s_i, z) + b`` with
    ``z = 2 x - 1`` (the encoding scaled to [-1, 1]); class ``classes[1]`` where it is > 0."""

    kernel: str
    gamma: float
    degree: int
    coef0: float
    support_vectors: np.ndarray  # (s, d)
    dual_coef: np.ndarray  # (s,)
    intercept: float
    classes: tuple[int, int]

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = 2.0 * np.asarray(x, dtype=np.float64) - 1.0
        dots = z @ self.support_vectors.T
        if self.kernel == "linear":
            gram = dots
        elif self.kernel == "poly":
            gram = (self.gamma * dots + self.coef0) ** self.degree
        elif self.kernel == "rbf":
            sq = (z**2).sum(1)[:, None] + (self.support_vectors**2).sum(1)[None] - 2.0 * dots
            gram = np.exp(-self.gamma * np.maximum(sq, 0.0))
        else:
            raise ConfigError(f"unknown SVM kernel {self.kernel!r} in the partition")
        decision = gram @ self.dual_coef + self.intercept
        return np.where(decision > 0, self.classes[1], self.classes[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "gamma": self.gamma,
            "degree": self.degree,
            "coef0": self.coef0,
            "support_vectors": self.support_vectors.tolist(),
            "dual_coef": self.dual_coef.tolist(),
            "intercept": self.intercept,
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SvmCut:
        return cls(
            kernel=str(raw["kernel"]),
            gamma=float(raw["gamma"]),
            degree=int(raw["degree"]),
            coef0=float(raw["coef0"]),
            support_vectors=np.asarray(raw["support_vectors"], dtype=np.float64),
            dual_coef=np.asarray(raw["dual_coef"], dtype=np.float64).reshape(-1),
            intercept=float(raw["intercept"]),
            classes=(int(raw["classes"][0]), int(raw["classes"][1])),
        )


@dataclass(frozen=True)
class TreeNode:
    """A node of a learned partition: a leaf (``region`` set) or a cut with one child per
    label (``children[label]``)."""

    region: int | None = None
    cut: SvmCut | None = None
    children: tuple[tuple[int, int], ...] = ()  # (label, node index)


class LearnedPartition(Partition):
    """The leaves of a tree of SVM cuts (see the module docstring); node 0 is the root."""

    kind = "learned"

    def __init__(
        self,
        space_fingerprint: str,
        nodes: Sequence[TreeNode],
        region_names: Sequence[str],
        fitted_on: Mapping[str, Any] | None = None,
    ) -> None:
        self.space_fingerprint = space_fingerprint
        self.nodes = tuple(nodes)
        self.region_names = list(region_names)
        self.fitted_on = dict(fitted_on or {})
        leaves = sorted(n.region for n in self.nodes if n.region is not None)
        if leaves != list(range(len(self.region_names))):
            raise ConfigError(
                f"the learned partition's leaves are regions {leaves}, but it names "
                f"{len(self.region_names)} regions: the file is damaged; fit it again"
            )

    def regions_of(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape[0], dtype=np.int64)
        stack = [(0, np.arange(x.shape[0]))]
        while stack:  # every row descends from the root to exactly one leaf
            index, rows = stack.pop()
            node = self.nodes[index]
            if node.region is not None:
                out[rows] = node.region
                continue
            assert node.cut is not None
            labels = node.cut.predict(x[rows]) if rows.size else np.zeros(0, dtype=np.int64)
            for label, child in node.children:
                stack.append((child, rows[labels == label]))
        return out

    def sample_in(self, space: SearchSpace, region: int, rng: np.random.Generator) -> ArchConfig:
        """A uniform draw of the space, redrawn until it falls in ``region`` (rejection, at most
        :data:`MAX_REJECTIONS` draws, in batches)."""
        self.check_space(space)
        self._check_region(region)
        tried = 0
        while tried < MAX_REJECTIONS:
            x = rng.random((256, space.encoding_dim))
            # decode and re-encode: the region is decided on what the architecture is
            x = space.encode_many(space.decode_many(x))
            hits = np.flatnonzero(self.regions_of(x) == region)
            if hits.size:
                return space.decode(x[hits[0]])
            tried += 256
        raise ConfigError(
            f"region {region} ({self.region_names[region]}) holds none of {MAX_REJECTIONS:,} "
            "random architectures; fit the partition with fewer regions or more architectures"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "space_fingerprint": self.space_fingerprint,
            "regions": self.region_names,
            "fitted_on": self.fitted_on,
            "nodes": [
                {
                    "region": n.region,
                    "cut": None if n.cut is None else n.cut.to_dict(),
                    "children": [list(c) for c in n.children],
                }
                for n in self.nodes
            ],
        }


def partition_from_json(text: str, space: SearchSpace, where: str = "partition") -> Partition:
    """The partition of ``space`` that :meth:`Partition.to_json` wrote; :class:`ConfigError`
    naming what is wrong with anything else, :class:`ArchSpaceMismatchError` for a partition of
    another space."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where} is not a partition (not JSON: {err})") from err
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ConfigError(f"{where} is not a partition written by this project (format {FORMAT})")
    fingerprint = str(raw.get("space_fingerprint"))
    if fingerprint != space.fingerprint:
        raise ArchSpaceMismatchError(
            f"{where} was made for the space with fingerprint {fingerprint}, not space "
            f"{space.name!r} ({space.fingerprint}); fit or declare it for this space"
        )
    try:
        if raw["kind"] == ChoicePartition.kind:
            return ChoicePartition.build(space, raw["split"], raw["groups"])
        if raw["kind"] == LearnedPartition.kind:
            nodes = [
                TreeNode(
                    region=n["region"],
                    cut=None if n["cut"] is None else SvmCut.from_dict(n["cut"]),
                    children=tuple((int(a), int(b)) for a, b in n["children"]),
                )
                for n in raw["nodes"]
            ]
            return LearnedPartition(fingerprint, nodes, raw["regions"], raw.get("fitted_on"))
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise ConfigError(
            f"{where} is damaged ({type(err).__name__}: {err}); fit it again"
        ) from err
    raise ConfigError(f"{where} has kind {raw.get('kind')!r}; allowed: choices, learned")


def _groups(point: DecisionPoint, raw: Sequence[Sequence[Any]]) -> tuple[tuple[str, ...], ...]:
    groups = tuple(tuple(choice_name(c) if not isinstance(c, str) else c for c in g) for g in raw)
    flat = [c for g in groups for c in g]
    unknown = sorted(set(flat) - set(point.choices))
    if unknown:
        raise ConfigError(
            f"groups of {point.name} name {unknown}, which are not its choices "
            f"{list(point.choices)}"
        )
    missing = [c for c in point.choices if c not in flat]
    if missing:
        raise ConfigError(
            f"groups of {point.name} leave {missing} in no region: every choice must be in "
            f"exactly one group (its choices: {list(point.choices)})"
        )
    repeated = sorted({c for c in flat if flat.count(c) > 1})
    if repeated:
        raise ConfigError(
            f"groups of {point.name} put {repeated} in more than one region: every choice must "
            "be in exactly one group"
        )
    if any(not g for g in groups):
        raise ConfigError(f"groups of {point.name} include an empty group")
    return groups


def _unknown_point(name: str, available: Mapping[str, DecisionPoint], space: SearchSpace) -> str:
    import difflib
    import re

    layer = re.fullmatch(r"stages\.(\d+)\.layers\.(\d+)\.\w+", name)
    if layer and int(layer.group(1)) < len(space.stages):
        spec = space.stages[int(layer.group(1))]
        if int(layer.group(2)) < spec.max_depth:
            return (
                f"{name} is not present in every architecture (stage {layer.group(1)} may have "
                f"depth {min(spec.depths)}); split on stages.{layer.group(1)}.depth or on layers "
                f"0..{min(spec.depths) - 1} of that stage"
            )
    near = difflib.get_close_matches(name, list(available), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    listed = ", ".join(available)
    return f"{name!r} is not a decision point of space {space.name!r}{hint} (points: {listed})"
