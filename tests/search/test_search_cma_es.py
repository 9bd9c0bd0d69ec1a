"""CMA-ES alone and as LaMOO's inner sampler; the scalar fitness; the pymoo baselines; LaMOO's
trust-region sampler."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest

from lamoo_nas.search import (
    BaseStrategy,
    CategoricalCodec,
    CMAESOptions,
    InvalidOptionError,
    LaMOOOptions,
    PymooOptions,
    QEHVIOptions,
    StrategyStateError,
    TreeOptions,
    UnknownStrategyError,
    hypervolume,
    make_strategy,
)
from lamoo_nas.search.cma_es import CMAESRun, default_population_size
from lamoo_nas.search.lamoo.tree import region_accepts
from lamoo_nas.search.lamoo.trust import TrustRegion, TrustRegionOptions
from lamoo_nas.search.population import best_rows, decode_array, encode_array, scalar_fitness
from tests.search.search_problems import (
    GRID_REF,
    ZDT_REF,
    box3,
    grid_codec,
    grid_objectives,
    options_for,
    zdt1_like,
)

LAMOO = LaMOOOptions(tree=TreeOptions(split_min=8))
NEW = ["cmaes", "lamoo-cmaes", "pymoo-nsga2", "pymoo-nsga3"]


def _run(name: str, codec, fn, ref: Sequence[float], seed: int, num_samples: int, **kw):  # type: ignore[no-untyped-def]
    options = options_for(name, **{"lamoo": LAMOO, **kw})
    strategy = make_strategy(name, codec, ref, len(ref), seed=seed, options=options)
    while len(strategy.archs) < num_samples:
        archs = strategy.ask(5)
        strategy.tell(archs, fn(archs))
    return strategy


def test_fitness_orders_by_dominance_then_gain_then_shortfall_then_distance() -> None:
    archive = np.array([[4.0, 1.0], [1.0, 4.0], [2.0, 2.0]])
    ref = np.array([0.0, 0.0])
    y = np.array(
        [
            [3.0, 3.0],  # joins the front, large gain
            [2.5, 2.5],  # joins the front, smaller gain
            [1.5, 1.5],  # dominated by one archive point
            [0.5, 0.5],  # dominated by all three
            [-1.0, 0.5],  # dominated by all three and short of the reference point
        ]
    )
    ranks = scalar_fitness(y, archive, ref)
    assert ranks.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    # a permutation of the rows permutes the ranks: the order depends on the values only
    perm = np.array([4, 2, 0, 3, 1])
    assert scalar_fitness(y[perm], archive, ref).tolist() == ranks[perm].tolist()


def test_fitness_prefers_points_nearer_the_reference_box_when_none_is_inside() -> None:
    archive = np.array([[-5.0, -1.0], [-1.0, -5.0]])  # nothing beats the reference (0, 0)
    ranks = scalar_fitness(np.array([[-3.0, -3.0], [-0.5, -0.5]]), archive, np.zeros(2))
    assert ranks.tolist() == [1.0, 0.0]


def test_best_rows_start_from_the_front() -> None:
    y = np.array([[0.0, 0.0], [3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [0.5, 0.5]])
    assert set(best_rows(y, np.array([-1.0, -1.0]), 3).tolist()) == {1, 2, 3}


def test_array_state_round_trips_bit_exactly_through_json() -> None:
    value = {"a": np.random.default_rng(0).normal(size=(3, 2)), "b": [np.float64(0.1), None]}
    back = decode_array(json.loads(json.dumps(encode_array(value))))
    assert np.array_equal(back["a"], value["a"]) and back["b"] == [0.1, None]


def test_cma_run_state_resumes_the_same_draws() -> None:
    run = CMAESRun.start(np.full(3, 0.5), 0.2, 6, seed=3)
    first = run.propose(4, box3(), lambda archs, exclude: list(archs), {}, np.zeros(2), 50)
    assert len(first) == 4 and len(run.points) == 4  # the generation is being sampled
    saved = json.loads(json.dumps(run.state()))
    expected = [run.cma.ask() for _ in range(3)]
    restored = CMAESRun.from_state(saved)
    assert all(np.array_equal(restored.cma.ask(), e) for e in expected)
    with pytest.raises(StrategyStateError, match="malformed"):
        CMAESRun.from_state({"cma": saved["cma"]})


def test_default_population_is_a_multiple_of_the_batch() -> None:
    assert default_population_size(2, 5) == 10  # 4 + floor(3 ln 2) = 6, rounded up
    strategy = _run("cmaes", box3(), zdt1_like, ZDT_REF, 0, 30)
    assert strategy.run.population_size == 10  # type: ignore[attr-defined]
    assert strategy.run.cma.generation == 1  # type: ignore[attr-defined]


def test_cmaes_tells_generations_and_moves_its_mean() -> None:
    strategy = _run("cmaes", box3(), zdt1_like, ZDT_REF, 0, 20)
    start = strategy.run.mean.copy()  # type: ignore[attr-defined]
    for _ in range(6):
        archs = strategy.ask(5)
        strategy.tell(archs, zdt1_like(archs))
    assert strategy.run.cma.generation >= 3  # type: ignore[attr-defined]
    assert not np.allclose(strategy.run.mean, start)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", NEW)
def test_same_seed_same_proposals(name: str) -> None:
    a = _run(name, grid_codec(), grid_objectives, GRID_REF, seed=3, num_samples=30)
    b = _run(name, grid_codec(), grid_objectives, GRID_REF, seed=3, num_samples=30)
    c = _run(name, grid_codec(), grid_objectives, GRID_REF, seed=4, num_samples=30)
    assert a.archs == b.archs and a.archs != c.archs


@pytest.mark.parametrize("encoding", ["ordinal", "onehot"])
@pytest.mark.parametrize("name", NEW)
def test_never_proposes_twice_and_only_feasible(name: str, encoding: str) -> None:
    codec = CategoricalCodec((5,) * 4, feasible=lambda a: sum(a) <= 8, encoding=encoding)
    strategy = _run(name, codec, grid_objectives, GRID_REF, seed=1, num_samples=40)
    assert len(set(strategy.archs)) == len(strategy.archs) == 40
    assert all(sum(a) <= 8 for a in strategy.archs)


@pytest.mark.parametrize("name", ["lamoo-cmaes", "pymoo-nsga2"])
def test_improves_over_random_on_a_known_front(name: str) -> None:
    for seed in (0, 1):
        base = hypervolume(_run("random", box3(), zdt1_like, ZDT_REF, seed, 60).y, ZDT_REF)
        mine = hypervolume(_run(name, box3(), zdt1_like, ZDT_REF, seed, 60).y, ZDT_REF)
        assert mine > base, f"{name} seed {seed}: {mine:.4f} <= random's {base:.4f}"


def test_lamoo_cmaes_keeps_its_runs_and_proposes_inside_the_region() -> None:
    strategy = _run("lamoo-cmaes", box3(), zdt1_like, ZDT_REF, seed=0, num_samples=40)
    told_generations = 0
    for _ in range(6):
        archs = strategy.ask(5)
        path = strategy.last_path  # type: ignore[attr-defined]
        assert len(path) > 1, "the tree should have split with 40+ samples"
        leaf = strategy.last_tree[path[-1]]  # type: ignore[attr-defined]
        if strategy.last_relaxed_levels == 0:  # type: ignore[attr-defined]
            assert region_accepts(leaf.cuts, strategy.codec.encode(archs)).all()
        strategy.tell(archs, zdt1_like(archs))
        runs = strategy.leaf_runs  # type: ignore[attr-defined]
        told_generations = max(run.cma.generation for run in runs.values())
    assert 1 <= len(runs) <= LAMOO.max_runs
    assert told_generations >= 2, "a run continues across asks (not a fresh one per ask)"
    assert "CMA-ES run" in strategy.last_note


def test_lamoo_cmaes_keeps_at_most_max_runs() -> None:
    options = LaMOOOptions(tree=TreeOptions(split_min=4), max_runs=2)
    strategy = make_strategy("lamoo-cmaes", box3(), ZDT_REF, 2, seed=0, options=options)
    while len(strategy.archs) < 60:
        archs = strategy.ask(5)
        strategy.tell(archs, zdt1_like(archs))
        assert len(strategy.leaf_runs) <= 2  # type: ignore[attr-defined]


def _told_copy(strategy: BaseStrategy, name: str, **kw) -> BaseStrategy:  # type: ignore[no-untyped-def]
    options = options_for(name, **{"lamoo": LAMOO, **kw})
    copy = make_strategy(name, box3(), ZDT_REF, 2, seed=strategy.seed, options=options)
    copy.tell(strategy.archs, strategy.y)
    return copy


@pytest.mark.parametrize("name", NEW)
def test_state_dict_resumes_exactly_mid_generation(name: str) -> None:
    strategy = _run(name, box3(), zdt1_like, ZDT_REF, seed=2, num_samples=35)
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = _told_copy(strategy, name)
    resumed.load_state_dict(state)
    for _ in range(3):
        archs = strategy.ask(5)
        assert resumed.ask(5) == archs
        strategy.tell(archs, zdt1_like(archs))
        resumed.tell(archs, zdt1_like(archs))


def test_pymoo_state_from_other_data_is_refused() -> None:
    strategy = _run("pymoo-nsga2", box3(), zdt1_like, ZDT_REF, seed=2, num_samples=35)
    state = strategy.state_dict()
    other = make_strategy("pymoo-nsga2", box3(), ZDT_REF, 2, seed=2)
    other.tell(strategy.archs, strategy.y)
    state["offspring_sha256"] = "0" * 64
    with pytest.raises(StrategyStateError, match="pymoo version"):
        other.load_state_dict(state)


def test_factory_names_and_options() -> None:
    assert make_strategy("pymoo", box3(), ZDT_REF, 2).name == "pymoo-nsga2"
    assert make_strategy("lamoo-cmaes", box3(), ZDT_REF, 2).name == "lamoo-cmaes"
    with pytest.raises(UnknownStrategyError, match="pymoo-nsga3"):
        make_strategy("pymoo-moead", box3(), ZDT_REF, 2)
    with pytest.raises(InvalidOptionError, match="min_sigma0"):
        CMAESOptions(sigma0=0.1, min_sigma0=0.5)
    with pytest.raises(InvalidOptionError, match="population_size"):
        PymooOptions(population_size=1)
    with pytest.raises(InvalidOptionError, match="max_runs"):
        LaMOOOptions(max_runs=0)


def test_trust_region_grows_on_success_shrinks_on_failure_and_restarts() -> None:
    region = TrustRegion(TrustRegionOptions(success_tolerance=2, failure_tolerance=2))
    for hv in (1.0, 2.0):  # two gains in a row: the side doubles
        region.proposed(hv, batch_size=5, dim=3)
        region.observe(hv + 1.0)
    assert region.length == pytest.approx(1.6)
    for _ in range(2 * 8):  # failures halve it until it falls below length_min: a restart
        region.proposed(3.0, batch_size=5, dim=3)
        region.observe(3.0)
    assert region.restarts == 1 and region.length <= 0.8
    assert TrustRegion(TrustRegionOptions()).failure_tolerance == 4
    default = TrustRegion(TrustRegionOptions())
    default.proposed(1.0, batch_size=5, dim=30)
    assert default.failure_tolerance == 6  # max(4, ceil(30 / 5))


def test_trust_region_candidates_stay_in_the_box() -> None:
    region = TrustRegion(TrustRegionOptions(length_init=0.2, perturb_dims=1.0))
    center = np.full(10, 0.95)
    points = region.candidates(center, np.random.default_rng(0))
    assert points.shape == (256, 10)
    assert np.all(points >= 0.85 - 1e-12) and np.all(points <= 1.0)
    changed = (points != center).sum(axis=1)
    assert changed.min() >= 1 and changed.mean() < 3  # about perturb_dims coordinates each


@pytest.mark.parametrize("pick", ["random", "gp"])
def test_lamoo_trust_proposes_near_the_best_leaf_sample_and_resumes(pick: str) -> None:
    options = LaMOOOptions(
        sampler="trust",
        tree=TreeOptions(split_min=8),
        trust=TrustRegionOptions(length_init=0.2, pick=pick),  # type: ignore[arg-type]
        qehvi=QEHVIOptions(pool_size=40, mc_samples=16, fit_maxiter=20),
    )
    strategy = make_strategy("lamoo", box3(), ZDT_REF, 2, seed=0, options=options)
    while len(strategy.archs) < 25:
        archs = strategy.ask(5)
        strategy.tell(archs, zdt1_like(archs))
    state = json.loads(json.dumps(strategy.state_dict()))
    assert "trust_region" in state and "trust region side" in strategy.last_note
    resumed = make_strategy("lamoo", box3(), ZDT_REF, 2, seed=0, options=options)
    resumed.tell(strategy.archs, strategy.y)
    resumed.load_state_dict(state)
    archs = strategy.ask(5)
    assert resumed.ask(5) == archs
    length = strategy.trust_region.length  # type: ignore[attr-defined]
    if strategy.last_relaxed_levels == 0 and "relaxed 0" in strategy.last_note:  # type: ignore[attr-defined]
        spread = np.ptp(strategy.codec.encode(archs), axis=0)
        assert np.all(spread <= length + 1e-9), "a batch lies in one box of the current side"
    with pytest.raises(UnknownStrategyError, match="gp"):
        TrustRegionOptions(pick="bayes")  # type: ignore[arg-type]
