"""search.programme: the exact programme equals brute force on random layered problems."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lamoo_nas.search.errors import ProgrammeError
from lamoo_nas.search.programme import Group, LayeredProblem, score_assignment, solve


def _random_problem(rng: np.random.Generator, num_budgets: int) -> LayeredProblem:
    groups = []
    for _ in range(3):
        depths = tuple(sorted(rng.choice([1, 2, 3], size=int(rng.integers(1, 4)), replace=False)))
        num_ops = int(rng.integers(1, 4))
        groups.append(
            Group(
                depths=tuple(int(d) for d in depths),
                depth_scores=tuple(rng.normal(size=len(depths)).tolist()),
                depth_costs=tuple(tuple(rng.integers(-5, 5, num_budgets).tolist()) for _ in depths),
                op_scores=tuple(
                    tuple(rng.normal(size=num_ops).tolist()) for _ in range(max(depths))
                ),
                op_costs=tuple(
                    tuple(tuple(rng.integers(1, 20, num_budgets).tolist()) for _ in range(num_ops))
                    for _ in range(max(depths))
                ),
            )
        )
    return LayeredProblem(0.5, (30.0,) * num_budgets, tuple(groups))


def _every_assignment(problem: LayeredProblem):
    per_group = []
    for group in problem.groups:
        options = []
        for depth in group.depths:
            for ops in itertools.product(*(range(len(group.op_scores[i])) for i in range(depth))):
                options.append((depth, ops))
        per_group.append(options)
    for combo in itertools.product(*per_group):
        yield score_assignment(problem, [c[0] for c in combo], [c[1] for c in combo])


@pytest.mark.parametrize("seed", range(12))
def test_k_best_equal_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    problem = _random_problem(rng, num_budgets=1 + seed % 2)
    every = list(_every_assignment(problem))
    costs = np.array([s.cost for s in every])
    for quantile in (0.1, 0.5, 0.9):
        budgets = np.quantile(costs, quantile, axis=0)
        fits = [s for s, c in zip(every, costs) if (c <= budgets).all()]
        if not fits:
            with pytest.raises(ProgrammeError, match="raise the budget"):
                solve(problem, budgets.tolist())
            continue
        expected = sorted((s.score for s in fits), reverse=True)[:4]
        found = solve(problem, budgets.tolist(), k=4)
        assert [round(s.score, 9) for s in found] == [round(v, 9) for v in expected]
        assert all((np.array(s.cost) <= budgets).all() for s in found)
        assert len({(s.depths, s.ops) for s in found}) == len(found)  # k distinct solutions


def test_unbounded_budget_is_the_unconstrained_best() -> None:
    problem = _random_problem(np.random.default_rng(99), num_budgets=1)
    best = max(_every_assignment(problem), key=lambda s: s.score)
    assert solve(problem, [None])[0].score == pytest.approx(best.score)
