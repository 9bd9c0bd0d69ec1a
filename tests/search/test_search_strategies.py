from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.models.model import ModelList

from lamoo_nas.search import (
    CategoricalCodec,
    InfeasibleBudgetError,
    KnownObjectives,
    LaMOOOptions,
    QEHVIOptions,
    SearchSpaceExhaustedError,
    TreeOptions,
    UnknownStrategyError,
    hypervolume,
    make_strategy,
)
from lamoo_nas.search.lamoo.tree import region_accepts
from tests.search.search_problems import (
    GRID_REF,
    ZDT_REF,
    box3,
    grid_codec,
    grid_objectives,
    options_for,
    zdt1_like,
)

SMALL_QEHVI = QEHVIOptions(  # pool on grids, continuous on boxes
    pool_size=100, num_restarts=2, raw_samples=32, maxiter=15, mc_samples=32, fit_maxiter=50
)
SMALL_LAMOO_TREE = TreeOptions(split_min=8)


def _run(name: str, codec, fn, ref: Sequence[float], seed: int, num_samples: int, **kw):  # type: ignore[no-untyped-def]
    known = kw.pop("known_objectives", None)
    strategy = make_strategy(
        name, codec, ref, len(ref), known, seed=seed, options=options_for(name, **kw)
    )
    while len(strategy.archs) < num_samples:
        archs = strategy.ask(5)
        strategy.tell(archs, fn(archs))
    return strategy


@pytest.mark.parametrize("name", ["random", "nsga2", "lamoo-random", "lamoo-evolution"])
def test_same_seed_same_proposals(name: str) -> None:
    a = _run(name, grid_codec(), grid_objectives, GRID_REF, seed=3, num_samples=30)
    b = _run(name, grid_codec(), grid_objectives, GRID_REF, seed=3, num_samples=30)
    c = _run(name, grid_codec(), grid_objectives, GRID_REF, seed=4, num_samples=30)
    assert a.archs == b.archs
    assert a.archs != c.archs


def test_same_seed_same_initial_design_across_strategies() -> None:
    first = {n: make_strategy(n, box3(), ZDT_REF, 2, seed=7).ask(10) for n in ["random", "lamoo"]}
    assert first["random"] == first["lamoo"]


@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
@pytest.mark.parametrize("name", ["random", "nsga2", "lamoo-random", "lamoo-evolution"])
def test_never_proposes_twice_and_exhausts_cleanly(name: str, encoding: str) -> None:
    codec = CategoricalCodec(num_choices=(3, 3, 2), encoding=encoding)  # 18 points
    strategy = _run(name, codec, grid_like_3, [-1.0, -1.0], seed=0, num_samples=18)
    assert len(set(strategy.archs)) == len(strategy.archs) == 18
    with pytest.raises(SearchSpaceExhaustedError):
        strategy.ask(1)


def grid_like_3(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
    a = np.asarray(archs, dtype=np.float64)
    return np.stack([a.sum(axis=1), -(a**2).sum(axis=1)], axis=1)


@pytest.mark.parametrize("sampler", ["random", "evolution"])
def test_lamoo_proposals_lie_in_selected_region(sampler: str) -> None:
    options = LaMOOOptions(sampler=sampler, tree=TreeOptions(split_min=8))  # type: ignore[arg-type]
    strategy = _run("lamoo", box3(), zdt1_like, ZDT_REF, seed=0, num_samples=40, lamoo=options)
    for _ in range(3):
        archs = strategy.ask(5)
        path = strategy.last_path
        assert len(path) > 1, "the tree should have split with 40+ samples"
        kept = len(path) - 1 - strategy.last_relaxed_levels
        cuts = strategy.last_tree[path[kept]].cuts
        assert region_accepts(cuts, strategy.codec.encode(archs)).all()
        strategy.tell(archs, zdt1_like(archs))


def test_only_feasible_points_are_proposed() -> None:
    codec = CategoricalCodec(num_choices=(5,) * 4, feasible=lambda a: sum(a) <= 6)
    for name in ["random", "nsga2", "lamoo-random", "lamoo-evolution"]:
        strategy = _run(name, codec, grid_objectives, GRID_REF, seed=1, num_samples=40)
        assert all(sum(a) <= 6 for a in strategy.archs), name


def test_infeasible_budget_raises_clear_error() -> None:
    codec = CategoricalCodec(
        num_choices=(5,) * 4,
        feasible=lambda a: False,
        infeasible_hint="the smallest architecture costs 1.2M params; raise the budget",
    )
    with pytest.raises(InfeasibleBudgetError, match="raise the budget"):
        make_strategy("lamoo", codec, GRID_REF, 2)


def test_unknown_strategy_name() -> None:
    with pytest.raises(UnknownStrategyError, match=r"lamoo-qehvi.*lamoo-cmaes.*pymoo-nsga2"):
        make_strategy("annealing", box3(), ZDT_REF, 2)
    with pytest.raises(UnknownStrategyError, match="lamoo-cmaes"):
        make_strategy("lamoo-annealing", box3(), ZDT_REF, 2)


def test_qehvi_never_models_known_objectives() -> None:
    calls: list[int] = []

    def exact_cost(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        calls.append(len(archs))
        return grid_objectives(archs)[:, 1:]

    known = KnownObjectives(columns=(1,), fn=exact_cost)
    strategy = _run(
        "qehvi",
        grid_codec(),
        grid_objectives,
        GRID_REF,
        0,
        20,
        known_objectives=known,
        qehvi=SMALL_QEHVI,
    )
    model = strategy.last_model  # type: ignore[attr-defined]
    assert isinstance(model, ModelList)
    gp = model.models[0]
    assert isinstance(gp, SingleTaskGP) and gp.num_outputs == 1
    assert gp.train_targets.ndim == 1  # a single-output GP: the cost column is not a target
    assert calls, "the exact cost function scores the candidate pool"
    x = strategy.codec.encode(strategy.archs)
    posterior = model.posterior(torch.as_tensor(x[:4]))
    assert np.allclose(posterior.mean[:, 1].detach().numpy(), strategy.y[:4, 1])
    assert np.allclose(posterior.variance[:, 1].detach().numpy(), 0.0)


def _improves_over_random(name: str, codec, fn, ref, seed: int, num_samples: int, **kw) -> None:  # type: ignore[no-untyped-def]
    base = hypervolume(_run("random", codec, fn, ref, seed, num_samples).y, ref)
    mine = hypervolume(_run(name, codec, fn, ref, seed, num_samples, **kw).y, ref)
    assert mine > base, f"{name}: hypervolume {mine:.4f} <= random's {base:.4f}"


@pytest.mark.parametrize("name", ["nsga2", "lamoo-random", "lamoo-evolution"])
def test_cheap_strategies_improve_over_random(name: str) -> None:
    lamoo = LaMOOOptions(tree=SMALL_LAMOO_TREE)
    for seed in (0, 1):
        _improves_over_random(name, grid_codec(), grid_objectives, GRID_REF, seed, 60, lamoo=lamoo)


@pytest.mark.parametrize("name", ["qehvi", "lamoo-qehvi"])
def test_model_based_strategies_improve_over_random(name: str) -> None:
    lamoo = LaMOOOptions(tree=SMALL_LAMOO_TREE, qehvi=SMALL_QEHVI)
    _improves_over_random(name, box3(), zdt1_like, ZDT_REF, 0, 25, qehvi=SMALL_QEHVI, lamoo=lamoo)


@pytest.mark.parametrize("name", ["qehvi", "lamoo-qehvi"])
def test_model_based_strategies_run_on_a_onehot_codec(name: str) -> None:
    codec = CategoricalCodec(num_choices=(5,) * 4, encoding="onehot")
    lamoo = LaMOOOptions(tree=SMALL_LAMOO_TREE, qehvi=SMALL_QEHVI)
    strategy = _run(name, codec, grid_objectives, GRID_REF, 0, 20, qehvi=SMALL_QEHVI, lamoo=lamoo)
    assert len(set(strategy.archs)) == 20 and codec.encode(strategy.archs).shape == (20, 20)


def test_path_selection_alias_mcts_descends_by_ucb() -> None:
    options = LaMOOOptions(select="mcts", tree=TreeOptions(split_min=8))
    strategy = _run("lamoo", box3(), zdt1_like, ZDT_REF, seed=2, num_samples=40, lamoo=options)
    strategy.ask(5)
    nodes, path = strategy.last_tree, strategy.last_path
    for parent, child in itertools.pairwise(path):
        siblings = [nodes[c].ucb for c in nodes[parent].children]
        assert nodes[child].ucb == max(siblings)
    assert nodes[path[-1]].is_leaf


def test_bad_lamoo_options_name_allowed_values() -> None:
    with pytest.raises(UnknownStrategyError, match="evolution"):
        LaMOOOptions(sampler="bayes")  # type: ignore[arg-type]
    with pytest.raises(UnknownStrategyError, match="mcts"):
        LaMOOOptions(select="best")


def test_lamoo_and_qehvi_share_the_selection_step_by_composition() -> None:
    from lamoo_nas.search import BaseStrategy, LaMOOStrategy, QEHVISelector, QEHVIStrategy

    assert not issubclass(LaMOOStrategy, QEHVIStrategy)
    assert issubclass(LaMOOStrategy, BaseStrategy)
    lamoo = LaMOOOptions(tree=SMALL_LAMOO_TREE, qehvi=SMALL_QEHVI)
    for name in ("qehvi", "lamoo-qehvi"):
        strategy = _run(name, box3(), zdt1_like, ZDT_REF, 0, 15, qehvi=SMALL_QEHVI, lamoo=lamoo)
        assert isinstance(strategy.selector, QEHVISelector)  # type: ignore[attr-defined]
        assert isinstance(strategy.last_model, SingleTaskGP), name  # type: ignore[attr-defined]


def test_selector_without_a_model_keeps_the_pool_and_the_rng() -> None:
    from lamoo_nas.search import QEHVISelector

    selector = QEHVISelector(box3(), np.array(ZDT_REF))
    rng = np.random.default_rng(0)
    pool = [(0.1, 0.2, 0.3), (0.4, 0.5, 0.6)]
    x = np.asarray(pool)
    assert selector.select(pool, 2, pool, x, zdt1_like(pool), rng) == pool  # pool <= q
    assert selector.select(pool, 1, pool[:1], x[:1], zdt1_like(pool[:1]), rng) == pool[:1]
    assert rng.integers(2**31) == np.random.default_rng(0).integers(2**31)  # nothing drawn
    assert selector.last_model is None
