"""The exact programme: the best architecture of an additive model under additive budgets.

A :class:`LayeredProblem` is what remains of a modular space once its outer choices (input
resolution, stage widths) are fixed: groups (stages) of layers, each group active to a depth
from its allowed set, each active layer holding one op. Scores (a block model's predicted
accuracy) and costs (MACs, params, predicted latency; any number of budget dimensions) are
sums of a constant, one term per group's depth and one term per active layer's op.

:func:`solve` maximises the score under the budgets exactly, as a mixed-integer linear
programme solved by HiGHS (:func:`scipy.optimize.milp`, optimality gap 0): binary ``z[g, d]``
picks group ``g``'s depth, binary ``x[g, l, o]`` layer ``l``'s op, with
``sum_o x[g, l, o] = sum_{d > l} z[g, d]`` (an op exactly on the active layers). The ``k`` best
come from re-solving with a cut that excludes each solution found. Costs are checked exactly
after every solve; a solution over a budget by the solver's tolerance is re-solved with the
budget tightened.

Example:
    >>> group = Group(depths=(1, 2), depth_scores=(-1.0, 0.0), depth_costs=((0.0,), (0.0,)),
    ...               op_scores=((0.0, 2.0), (0.0, 1.0)), op_costs=(((1.0,), (3.0,)),
    ...               ((1.0,), (2.0,))))
    >>> problem = LayeredProblem(score=0.0, cost=(0.0,), groups=(group,))
    >>> best = solve(problem, budgets=(4.0,))[0]
    >>> best.depths, best.ops, best.score
    ((2,), ((1, 0),), 2.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from lamoo_nas.search.errors import ProgrammeError

_TIGHTEN_ROUNDS = 4


@dataclass(frozen=True)
class Group:
    """One stage: allowed ``depths`` (ascending), and for each its score and cost terms
    (``depth_costs[d]`` has one entry per budget dimension); per layer ``l < max(depths)`` the
    score and cost of each of its ops when the layer is active."""

    depths: tuple[int, ...]
    depth_scores: tuple[float, ...]
    depth_costs: tuple[tuple[float, ...], ...]
    op_scores: tuple[tuple[float, ...], ...]
    op_costs: tuple[tuple[tuple[float, ...], ...], ...]


@dataclass(frozen=True)
class LayeredProblem:
    """Constant ``score`` and ``cost`` (one entry per budget dimension) plus the groups."""

    score: float
    cost: tuple[float, ...]
    groups: tuple[Group, ...]


@dataclass(frozen=True)
class Solution:
    """Per group its depth and the op index of each active layer; total score and costs."""

    depths: tuple[int, ...]
    ops: tuple[tuple[int, ...], ...]
    score: float
    cost: tuple[float, ...]


def score_assignment(
    problem: LayeredProblem, depths: Sequence[int], ops: Sequence[Sequence[int]]
) -> Solution:
    """Score and cost of one assignment, summed from the tables (the brute-force oracle)."""
    score, cost = problem.score, np.array(problem.cost, dtype=np.float64)
    for group, depth, layer_ops in zip(problem.groups, depths, ops):
        d = group.depths.index(depth)
        score += group.depth_scores[d]
        cost += group.depth_costs[d]
        for layer, op in enumerate(layer_ops):
            score += group.op_scores[layer][op]
            cost += group.op_costs[layer][op]
    return Solution(tuple(depths), tuple(tuple(o) for o in ops), float(score), tuple(cost.tolist()))


def solve(
    problem: LayeredProblem,
    budgets: Sequence[float | None],
    k: int = 1,
    exclude: Sequence[tuple[Sequence[int], Sequence[Sequence[int]]]] = (),
) -> list[Solution]:
    """The ``k`` best assignments within ``budgets`` (None: unbounded), best first, other than
    the ``(depths, ops)`` assignments in ``exclude``; fewer when fewer exist. Raises
    :class:`ProgrammeError` when none fits (and none was excluded)."""
    if len(budgets) != len(problem.cost):
        raise ProgrammeError(f"{len(budgets)} budgets for {len(problem.cost)} cost dimensions")
    layout = _Layout(problem)
    rows = [layout.one_depth(), layout.active_ops()]
    cuts: list[np.ndarray] = [layout.encode(depths, ops) for depths, ops in exclude]
    num_excluded = len(cuts)
    found: list[Solution] = []
    bounds = np.array([np.inf if b is None else float(b) for b in budgets])
    while len(found) < k:
        solution = _solve_once(layout, rows, cuts, bounds)
        if solution is None:
            break
        found.append(layout.decode(solution))
        cuts.append(solution)
    if not found and not num_excluded:
        cheapest = _cheapest(layout)
        raise ProgrammeError(
            f"no architecture fits the budgets {list(budgets)}: the cheapest per dimension "
            f"costs {cheapest}; raise the budget to at least that"
        )
    return found


def _solve_once(
    layout: _Layout, rows: list[LinearConstraint], cuts: list[np.ndarray], bounds: np.ndarray
) -> np.ndarray | None:
    limits = bounds - layout.const_cost
    for _ in range(_TIGHTEN_ROUNDS):
        constraints = [*rows, *(_cut(c) for c in cuts)]
        finite = np.isfinite(limits)
        if finite.any():
            scale = np.maximum(np.abs(layout.costs[:, finite]).max(axis=0), 1.0)
            constraints.append(
                LinearConstraint(
                    layout.costs[:, finite].T / scale[:, None], -np.inf, limits[finite] / scale
                )
            )
        result = milp(
            -layout.scores,
            constraints=constraints,
            integrality=np.ones(layout.size),
            bounds=Bounds(0, 1),
            options={"mip_rel_gap": 0.0, "presolve": True},
        )
        if result.x is None:
            return None
        x = np.round(result.x)
        over = x @ layout.costs - limits
        if not (finite & (over > 0)).any():
            return x
        # over by the solver's tolerance: tighten the violated rows by the overshoot and retry
        limits = np.where(finite & (over > 0), limits - 2 * over - 1e-9 * np.abs(limits), limits)
    return None


def _cut(solution: np.ndarray) -> LinearConstraint:
    """Excludes exactly ``solution``: sum over its ones minus sum over its zeros <= ones - 1."""
    coefficients = np.where(solution > 0.5, 1.0, -1.0)
    return LinearConstraint(coefficients[None, :], -np.inf, float((solution > 0.5).sum()) - 1)


def _cheapest(layout: _Layout) -> list[float]:
    out = []
    for j in range(layout.costs.shape[1]):
        result = milp(
            layout.costs[:, j],
            constraints=[layout.one_depth(), layout.active_ops()],
            integrality=np.ones(layout.size),
            bounds=Bounds(0, 1),
            options={"mip_rel_gap": 0.0},
        )
        out.append(float(layout.const_cost[j] + result.fun) if result.x is not None else np.nan)
    return out


class _Layout:
    """Variable indices, objective and cost columns of one problem."""

    def __init__(self, problem: LayeredProblem) -> None:
        self.problem = problem
        self.const_cost = np.array(problem.cost, dtype=np.float64)
        scores: list[float] = []
        costs: list[Sequence[float]] = []
        self.depth_vars: list[list[int]] = []
        self.op_vars: list[list[list[int]]] = []
        for group in problem.groups:
            if list(group.depths) != sorted(set(group.depths)) or not group.depths:
                raise ProgrammeError(
                    f"a group's depths must be distinct and ascending: {group.depths}"
                )
            if len(group.op_scores) < max(group.depths):
                raise ProgrammeError("a group has fewer op tables than its largest depth")
            self.depth_vars.append(list(range(len(scores), len(scores) + len(group.depths))))
            scores += group.depth_scores
            costs += group.depth_costs
            layers = []
            for layer in range(max(group.depths)):
                start = len(scores)
                scores += group.op_scores[layer]
                costs += group.op_costs[layer]
                layers.append(list(range(start, len(scores))))
            self.op_vars.append(layers)
        self.size = len(scores)
        self.scores = np.array(scores, dtype=np.float64)
        self.costs = np.array(costs, dtype=np.float64).reshape(self.size, len(problem.cost))

    def one_depth(self) -> LinearConstraint:
        a = np.zeros((len(self.depth_vars), self.size))
        for g, variables in enumerate(self.depth_vars):
            a[g, variables] = 1.0
        return LinearConstraint(a, 1.0, 1.0)

    def active_ops(self) -> LinearConstraint:
        rows = []
        for g, group in enumerate(self.problem.groups):
            for layer, variables in enumerate(self.op_vars[g]):
                row = np.zeros(self.size)
                row[variables] = 1.0
                for d, depth in zip(self.depth_vars[g], group.depths):
                    if depth > layer:
                        row[d] = -1.0
                rows.append(row)
        return LinearConstraint(np.array(rows).reshape(len(rows), self.size), 0.0, 0.0)

    def encode(self, depths: Sequence[int], ops: Sequence[Sequence[int]]) -> np.ndarray:
        """The binary vector of one assignment."""
        x = np.zeros(self.size)
        for g, (group, depth, layer_ops) in enumerate(zip(self.problem.groups, depths, ops)):
            x[self.depth_vars[g][group.depths.index(depth)]] = 1.0
            for layer, op in enumerate(layer_ops):
                x[self.op_vars[g][layer][op]] = 1.0
        return x

    def decode(self, x: np.ndarray) -> Solution:
        depths, ops = [], []
        for g, group in enumerate(self.problem.groups):
            depth = group.depths[int(np.argmax(x[self.depth_vars[g]]))]
            depths.append(depth)
            ops.append(tuple(int(np.argmax(x[v])) for v in self.op_vars[g][:depth]))
        return score_assignment(self.problem, depths, ops)
