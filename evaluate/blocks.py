"""A search space seen as blocks: decisions for the block model, tables for the exact programme.

:class:`SpaceBlocks` maps architectures of a :class:`~supernet.SearchSpace` to the categorical
decisions of :mod:`search.blockmodel` and back:

* ``resolution`` and each stage's ``width`` (only where the space offers more than one value);
* per layer of every stage its op ``k<kernel>e<expand>`` (``id``: the identity), with
  ``skip`` as one more value for a layer that an allowed depth leaves out. A layer's op only
  counts when the layer is active; a skipped layer is its own state.

For the exact programme (:mod:`search.programme`) it enumerates the outer choices (resolution
x widths) and, for each, builds the score and cost tables by differencing the cost oracles
(exact MACs and params from :class:`~supernet.CostModel`, predicted latency from a table): a
layer's cost depends only on its own op once the outer choices are fixed, which is checked on
sample architectures every time tables are built (:class:`~search.errors.ProgrammeError` if
an oracle is not additive).

Example:
    >>> from supernet import CostModel, load_space
    >>> space = load_space("nbmacro")
    >>> blocks = SpaceBlocks(space)
    >>> [d.name for d in blocks.decisions][:3]
    ['s0.l0', 's0.l1', 's1.l0']
    >>> blocks.arch(blocks.choices([space.largest()])[0]) == space.largest()
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lamoo_nas.search.blockmodel import BlockModel, Decision
from lamoo_nas.search.errors import ProgrammeError
from lamoo_nas.search.programme import Group, LayeredProblem, Solution, score_assignment, solve
from lamoo_nas.supernet import ArchConfig, SearchSpace, StageArch
from lamoo_nas.supernet.op_types import op_label
from lamoo_nas.supernet.space import Op

SKIP = "skip"
CostFn = Callable[[ArchConfig], float]
"""A cost oracle: MACs, params or predicted latency (ms) of an architecture."""
_ADDITIVITY_CHECKS = 4


@dataclass(frozen=True)
class Outer:
    """The outer choices of one programme: input resolution and each stage's width."""

    resolution: int
    widths: tuple[int, ...]


@dataclass(frozen=True)
class Candidate:
    """An architecture the programme found, with its predicted accuracy and costs."""

    arch: ArchConfig
    predicted: float
    costs: tuple[float, ...]


class SpaceBlocks:
    """Decisions and programme tables of one space (see the module docstring)."""

    def __init__(self, space: SearchSpace, oracles: Sequence[CostFn] = ()) -> None:
        self.space = space
        self.oracles = tuple(oracles)
        self._costs: dict[Outer, LayeredProblem] = {}
        self.fingerprint = space.fingerprint
        self._layer_ops = [
            [spec.layer_ops(layer) for layer in range(spec.max_depth)] for spec in space.stages
        ]
        decisions: list[Decision] = []
        if len(space.resolutions) > 1:
            decisions.append(Decision("resolution", tuple(str(r) for r in space.resolutions)))
        for s, spec in enumerate(space.stages):
            if len(spec.widths) > 1:
                decisions.append(Decision(f"s{s}.width", tuple(str(w) for w in spec.widths)))
        for s, spec in enumerate(space.stages):
            for layer, ops in enumerate(self._layer_ops[s]):
                labels = tuple(op_label(op) for op in ops)
                skippable = layer >= min(spec.depths)
                decisions.append(
                    Decision(f"s{s}.l{layer}", labels + ((SKIP,) if skippable else ()))
                )
        self.decisions = tuple(decisions)
        self._index = {d.name: i for i, d in enumerate(decisions)}

    # ------------------------------------------------------------------ decisions
    def choices(self, archs: Sequence[ArchConfig]) -> np.ndarray:
        """``(n, d)`` value indices of each architecture's decisions."""
        rows = np.zeros((len(archs), len(self.decisions)), dtype=np.int64)
        for n, arch in enumerate(archs):
            self.space.validate(arch)
            if "resolution" in self._index:
                rows[n, self._index["resolution"]] = self.space.resolutions.index(arch.resolution)
            for s, (spec, stage) in enumerate(zip(self.space.stages, arch.stages)):
                if f"s{s}.width" in self._index:
                    rows[n, self._index[f"s{s}.width"]] = spec.widths.index(stage.width)
                for layer, ops in enumerate(self._layer_ops[s]):
                    column = self._index[f"s{s}.l{layer}"]
                    if layer < stage.depth:
                        op = (stage.kernel_sizes[layer], stage.expand_ratios[layer])
                        rows[n, column] = ops.index(op)
                    else:
                        rows[n, column] = len(ops)  # the skip value
        return rows

    def arch(self, row: np.ndarray) -> ArchConfig:
        """The architecture of one row of :meth:`choices` (a skip followed by an active layer,
        or a depth the stage does not allow, raises :class:`ArchValidationError`)."""
        resolution = self.space.resolutions[int(row[self._index["resolution"]])] if (
            "resolution" in self._index) else self.space.resolutions[0]  # fmt: skip
        stages = []
        for s, spec in enumerate(self.space.stages):
            width = spec.widths[int(row[self._index[f"s{s}.width"]])] if (
                f"s{s}.width" in self._index) else spec.widths[0]  # fmt: skip
            ops = []
            for layer, layer_ops in enumerate(self._layer_ops[s]):
                value = int(row[self._index[f"s{s}.l{layer}"]])
                ops.append(None if value == len(layer_ops) else layer_ops[value])
            depth = next((i for i, op in enumerate(ops) if op is None), len(ops))
            active = [op for op in ops[:depth] if op is not None]
            stages.append(_stage(depth, active, width))
        return self.space.validate(ArchConfig(resolution, tuple(stages)))

    def outers(self) -> list[Outer]:
        """Every combination of resolution and widths."""
        widths = [spec.widths for spec in self.space.stages]
        return [Outer(r, w) for r in self.space.resolutions for w in itertools.product(*widths)]

    # ------------------------------------------------------------------ the programme
    def problem(self, model: BlockModel, outer: Outer) -> LayeredProblem:
        """Score and cost tables of ``model`` and the oracles with the outer choices fixed."""
        self._check_model(model)
        costs = self._cost_tables(outer)
        score = model.intercept
        if "resolution" in self._index:
            column = self._index["resolution"]
            score += model.weights[column][self.space.resolutions.index(outer.resolution)]
        groups = []
        for s, spec in enumerate(self.space.stages):
            if f"s{s}.width" in self._index:
                column = self._index[f"s{s}.width"]
                score += model.weights[column][spec.widths.index(outer.widths[s])]
            weights = [model.weights[self._index[f"s{s}.l{i}"]] for i in range(spec.max_depth)]
            depths = costs.groups[s].depths
            depth_scores = tuple(
                float(sum(weights[i][-1] for i in range(depth, spec.max_depth))) for depth in depths
            )
            op_scores = tuple(
                tuple(float(w) for w in weights[i][: len(ops)])
                for i, ops in enumerate(self._layer_ops[s])
            )
            groups.append(replace(costs.groups[s], depth_scores=depth_scores, op_scores=op_scores))
        return LayeredProblem(float(score), costs.cost, tuple(groups))

    def _cost_tables(self, outer: Outer) -> LayeredProblem:
        """Cost tables of one outer choice (scores zero), by differencing the oracles around
        the outer choice's largest architecture; built once, checked for additivity."""
        if outer in self._costs:
            return self._costs[outer]
        base = self._base(outer)
        base_costs = np.array([oracle(base) for oracle in self.oracles], dtype=np.float64)

        def delta(arch: ArchConfig) -> tuple[float, ...]:
            return tuple((np.array([o(arch) for o in self.oracles]) - base_costs).tolist())

        groups = []
        for s, spec in enumerate(self.space.stages):
            depths = tuple(sorted(spec.depths))
            layer_ops = self._layer_ops[s]
            groups.append(Group(
                depths=depths,
                depth_scores=(0.0,) * len(depths),
                depth_costs=tuple(delta(_with_depth(base, s, depth)) for depth in depths),
                op_scores=tuple((0.0,) * len(ops) for ops in layer_ops),
                op_costs=tuple(
                    tuple(delta(_with_op(base, s, i, op)) for op in ops)
                    for i, ops in enumerate(layer_ops)
                ),
            ))  # fmt: skip
        tables = LayeredProblem(0.0, tuple(base_costs.tolist()), tuple(groups))
        self._check_additive(tables, outer)
        self._costs[outer] = tables
        return tables

    def solve(
        self,
        model: BlockModel,
        budgets: Sequence[float | None],
        k: int = 1,
        exclude: Sequence[ArchConfig] = (),
    ) -> list[Candidate]:
        """The ``k`` architectures of highest predicted accuracy within ``budgets`` (one per
        oracle, None unbounded), best first, over every outer choice, other than those in
        ``exclude`` (fewer when fewer exist). Raises :class:`~search.errors.ProgrammeError`
        naming the cheapest cost when nothing fits."""
        self._check_model(model)
        excluded: dict[Outer, list[tuple[list[int], list[list[int]]]]] = {}
        for arch in exclude:
            outer = Outer(arch.resolution, tuple(s.width for s in arch.stages))
            excluded.setdefault(outer, []).append(self._assignment(arch))
        found: list[tuple[Outer, Solution]] = []
        for outer in self.outers():
            problem = self.problem(model, outer)
            try:
                solutions = solve(problem, budgets, k, excluded.get(outer, ()))
                found += [(outer, solution) for solution in solutions]
            except ProgrammeError:
                continue
        if not found and not exclude:
            cheapest = [self.cheapest(j) for j in range(len(self.oracles))]
            raise ProgrammeError(
                f"no architecture of space {self.space.name!r} fits the budgets {list(budgets)}: "
                f"the cheapest costs {[f'{c:.6g}' for c in cheapest]} (per budget); raise the "
                "budget to at least that"
            )
        found.sort(key=lambda item: -item[1].score)
        return [
            Candidate(self._solution_arch(outer, solution), solution.score, solution.cost)
            for outer, solution in found[:k]
        ]

    def cheapest(self, j: int) -> float:
        """The least cost of oracle ``j`` over the whole space (exact, from the tables)."""
        return min(_cheapest_of(self._cost_tables(o), j) for o in self.outers())

    # ------------------------------------------------------------------ designs
    def average_arch(self) -> ArchConfig:
        """MathNAS's base network: the middle resolution and widths, and at every layer the
        candidate (each op, and "skipped" where a depth leaves the layer out) whose cost (the
        first oracle) is closest to the mean cost of that layer's candidates; a stage's depth
        is its first skipped layer (snapped to an allowed depth)."""
        outer = self._middle_outer()
        tables = self._cost_tables(outer)
        stages = []
        for s, spec in enumerate(self.space.stages):
            group = tables.groups[s]
            depth_cost = dict(zip(group.depths, (c[0] for c in group.depth_costs)))
            depth = spec.max_depth
            for layer in range(min(spec.depths), spec.max_depth):
                if layer not in depth_cost or layer + 1 not in depth_cost:
                    continue  # the layer's own cost is not separable here: keep it
                own = depth_cost[layer + 1] - depth_cost[layer]  # the base op's absolute cost
                costs = np.array([c[0] - group.op_costs[layer][-1][0] + own
                                  for c in group.op_costs[layer]] + [0.0])  # fmt: skip
                if int(np.argmin(np.abs(costs - costs.mean()))) == len(costs) - 1:
                    depth = layer
                    break
            ops = [self.mean_op(s, layer) for layer in range(depth)]
            stages.append(_stage(depth, ops, outer.widths[s]))
        return self.space.validate(ArchConfig(outer.resolution, tuple(stages)))

    def _middle_outer(self) -> Outer:
        return Outer(
            _middle(self.space.resolutions), tuple(_middle(sp.widths) for sp in self.space.stages)
        )

    def mean_op(self, s: int, layer: int) -> Op:
        """The op of layer ``layer`` of stage ``s`` whose cost (first oracle, middle resolution
        and widths) is closest to the mean cost of that layer's ops."""
        outer = self._middle_outer()
        costs = np.array([c[0] for c in self._cost_tables(outer).groups[s].op_costs[layer]])
        return self._layer_ops[s][layer][int(np.argmin(np.abs(costs - costs.mean())))]

    def single_changes(self, base: ArchConfig) -> list[ArchConfig]:
        """``base`` and every architecture that differs from it in one decision: resolution,
        a width, a stage's depth (layers it adds take :meth:`mean_op`) or one active layer's
        op."""
        out = [base]
        for resolution in self.space.resolutions:
            if resolution != base.resolution:
                out.append(ArchConfig(resolution, base.stages))
        for s, spec in enumerate(self.space.stages):
            stage = base.stages[s]
            for width in spec.widths:
                if width != stage.width:
                    out.append(_replace_stage(base, s, replace(stage, width=width)))
            for depth in spec.depths:
                if depth != stage.depth:
                    ops = [*zip(stage.kernel_sizes, stage.expand_ratios)]
                    ops += [self.mean_op(s, i) for i in range(len(ops), depth)]
                    out.append(_replace_stage(base, s, _stage(depth, ops, stage.width)))
            for layer in range(stage.depth):
                for op in self._layer_ops[s][layer]:
                    if op != (stage.kernel_sizes[layer], stage.expand_ratios[layer]):
                        out.append(_with_op(base, s, layer, op))
        return [self.space.validate(a) for a in dict.fromkeys(out)]

    def mathnas_design(
        self,
        num_bases: int,
        rng: np.random.Generator,
        first: ArchConfig | None = None,
        draw: Callable[[np.random.Generator, int], list[ArchConfig]] | None = None,
    ) -> list[ArchConfig]:
        """The single-change design around ``num_bases`` bases, deduplicated, in order: the
        first is ``first`` (default :meth:`average_arch`), each other the architecture, of 64
        drawn by ``draw(rng, n)`` (default: uniform over the space), whose first cost is
        closest to the first base's."""
        bases = [first if first is not None else self.average_arch()]
        target = self.oracles[0](bases[0]) if self.oracles else 0.0
        for _ in range(num_bases - 1):
            draws = draw(rng, 64) if draw else [self.space.sample(rng) for _ in range(64)]
            costs = np.array([self.oracles[0](a) for a in draws]) if self.oracles else np.zeros(64)
            bases.append(draws[int(np.argmin(np.abs(costs - target)))])
        design: list[ArchConfig] = []
        for base in bases:
            design += self.single_changes(base)
        return list(dict.fromkeys(design))

    def _assignment(self, arch: ArchConfig) -> tuple[list[int], list[list[int]]]:
        """``(depths, ops)`` of an architecture, as the programme's groups index them."""
        row = self.choices([arch])[0]
        depths = [stage.depth for stage in arch.stages]
        ops = [
            [int(row[self._index[f"s{s}.l{layer}"]]) for layer in range(depth)]
            for s, depth in enumerate(depths)
        ]
        return depths, ops

    def _solution_arch(self, outer: Outer, solution: Solution) -> ArchConfig:
        stages = []
        for s, (depth, ops) in enumerate(zip(solution.depths, solution.ops)):
            active = [self._layer_ops[s][layer][op] for layer, op in enumerate(ops)]
            stages.append(_stage(depth, active, outer.widths[s]))
        return self.space.validate(ArchConfig(outer.resolution, tuple(stages)))

    def _base(self, outer: Outer) -> ArchConfig:
        stages = [
            _stage(spec.max_depth, [ops[-1] for ops in self._layer_ops[s]], outer.widths[s])
            for s, spec in enumerate(self.space.stages)
        ]
        return self.space.validate(ArchConfig(outer.resolution, tuple(stages)))

    def _check_model(self, model: BlockModel) -> None:
        if model.fingerprint != self.fingerprint or model.decisions != self.decisions:
            raise ProgrammeError(
                f"the block model was fitted on another space (fingerprint {model.fingerprint!r}, "
                f"space {self.space.name!r} has {self.fingerprint!r}); fit it on this space"
            )

    def _check_additive(self, problem: LayeredProblem, outer: Outer) -> None:
        rng = np.random.default_rng(0)
        for _ in range(_ADDITIVITY_CHECKS):
            arch = self.space.sample(rng)
            arch = ArchConfig(outer.resolution, tuple(
                StageArch(st.depth, st.kernel_sizes, st.expand_ratios, w)
                for st, w in zip(arch.stages, outer.widths)))  # fmt: skip
            depths, ops = self._assignment(arch)
            table = score_assignment(problem, depths, ops).cost
            for oracle, value in zip(self.oracles, table):
                truth = float(oracle(arch))
                if abs(truth - value) > 1e-6 * max(1.0, abs(truth)):
                    raise ProgrammeError(
                        f"a cost oracle is not additive over blocks on space {self.space.name!r}: "
                        f"{arch} costs {truth:.6g}, the block tables sum to {value:.6g}"
                    )


def _stage(depth: int, ops: Sequence[Op], width: int) -> StageArch:
    return StageArch(
        depth, tuple(k for k, _ in ops[:depth]), tuple(e for _, e in ops[:depth]), width
    )


def _middle(values: Sequence[int]) -> int:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def _replace_stage(arch: ArchConfig, s: int, stage: StageArch) -> ArchConfig:
    stages = list(arch.stages)
    stages[s] = stage
    return ArchConfig(arch.resolution, tuple(stages))


def _with_depth(arch: ArchConfig, s: int, depth: int) -> ArchConfig:
    stages = list(arch.stages)
    old = stages[s]
    stages[s] = StageArch(depth, old.kernel_sizes[:depth], old.expand_ratios[:depth], old.width)
    return ArchConfig(arch.resolution, tuple(stages))


def _with_op(arch: ArchConfig, s: int, layer: int, op: Op) -> ArchConfig:
    stages = list(arch.stages)
    old = stages[s]
    kernels, expands = list(old.kernel_sizes), list(old.expand_ratios)
    kernels[layer], expands[layer] = op
    stages[s] = StageArch(old.depth, tuple(kernels), tuple(expands), old.width)
    return ArchConfig(arch.resolution, tuple(stages))


def _cheapest_of(problem: LayeredProblem, j: int) -> float:
    total = problem.cost[j]
    for group in problem.groups:
        total += min(
            group.depth_costs[d][j]
            + sum(min(c[j] for c in group.op_costs[layer]) for layer in range(depth))
            for d, depth in enumerate(group.depths)
        )
    return total
