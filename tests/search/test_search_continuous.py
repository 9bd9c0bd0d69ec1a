"""qEHVI and LaMOO(qEHVI) on a box: continuous acquisition, region modes, the local model."""

from __future__ import annotations

import numpy as np
import pytest

import lamoo_nas.search.qehvi
from lamoo_nas.search import (
    InvalidOptionError,
    KnownObjectives,
    LaMOOOptions,
    LaMOOStrategy,
    QEHVIOptions,
    TreeOptions,
    UnknownStrategyError,
    make_strategy,
)
from lamoo_nas.search.lamoo.tree import region_accepts
from tests.search.search_problems import (
    ZDT_REF,
    box3,
    grid_codec,
    grid_objectives,
    options_for,
    zdt1_like,
)

TINY = QEHVIOptions(num_restarts=2, raw_samples=32, maxiter=10, mc_samples=16, fit_maxiter=30)


def _lamoo(**options: object) -> LaMOOOptions:
    return LaMOOOptions(tree=TreeOptions(split_min=8), qehvi=TINY, **options)  # type: ignore[arg-type]


def _told(name: str, num_samples: int, lamoo: LaMOOOptions | None = None, seed: int = 0):  # type: ignore[no-untyped-def]
    options = options_for(name, qehvi=TINY, lamoo=lamoo)
    strategy = make_strategy(name, box3(), ZDT_REF, 2, seed=seed, options=options)
    while len(strategy.archs) < num_samples:
        archs = strategy.ask(5)
        strategy.tell(archs, zdt1_like(archs))
    return strategy


def test_auto_acquisition_is_continuous_on_a_box_and_pool_elsewhere() -> None:
    assert make_strategy("qehvi", box3(), ZDT_REF, 2).acquisition == "continuous"  # type: ignore[attr-defined]
    assert make_strategy("lamoo-qehvi", box3(), ZDT_REF, 2).acquisition == "continuous"  # type: ignore[attr-defined]
    grid = make_strategy("qehvi", grid_codec(), [0.0, -35.0], 2)
    assert grid.acquisition == "pool"  # type: ignore[attr-defined]
    known = KnownObjectives((1,), lambda archs: zdt1_like(archs)[:, 1:])
    boxed = make_strategy("qehvi", box3(), ZDT_REF, 2, known_objectives=known)
    assert boxed.acquisition == "pool"  # type: ignore[attr-defined]  # known values: looked up


@pytest.mark.parametrize(
    ("codec", "known", "message"),
    [
        (grid_codec(), None, "CategoricalCodec is not a continuous box"),
        (box3(), KnownObjectives((1,), lambda a: np.zeros((len(a), 1))), "known objectives"),
    ],
)
def test_continuous_acquisition_is_refused_where_it_cannot_work(codec, known, message) -> None:  # type: ignore[no-untyped-def]
    options = QEHVIOptions(acquisition="continuous")
    with pytest.raises(InvalidOptionError, match=message):
        make_strategy("qehvi", codec, ZDT_REF, 2, known_objectives=known, options=options)


def test_bad_continuous_options_name_the_allowed_values() -> None:
    with pytest.raises(UnknownStrategyError, match="continuous"):
        QEHVIOptions(acquisition="lbfgs")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="raw_samples >= num_restarts"):
        QEHVIOptions(num_restarts=8, raw_samples=4)
    with pytest.raises(UnknownStrategyError, match="strict"):
        LaMOOOptions(region_mode="inside")  # type: ignore[arg-type]
    with pytest.raises(UnknownStrategyError, match="local"):
        LaMOOOptions(model="regional")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="local_min_samples must be >= 2"):
        LaMOOOptions(local_min_samples=1)


def test_continuous_qehvi_proposes_optimised_points_of_the_box(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    original = lamoo_nas.search.qehvi.optimise_batch

    def spy(acq, q, seeds, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(q)
        out = original(acq, q, seeds, *args, **kwargs)
        proposed.extend(tuple(float(v) for v in row) for row in out.numpy())
        return out

    proposed: list[tuple[float, ...]] = []
    monkeypatch.setattr(lamoo_nas.search.qehvi, "optimise_batch", spy)
    strategy = _told("qehvi", 20)
    assert calls == [5, 5]  # two model-based asks after the 10-point design
    x = strategy.codec.encode(strategy.archs)
    assert ((x >= 0) & (x <= 1)).all()
    assert len(proposed) == 10 and set(proposed) <= set(strategy.archs)  # what was asked


@pytest.fixture(scope="module")
def told() -> tuple[list, np.ndarray]:  # type: ignore[type-arg]
    """25 told points of a cheap search (what the model-based strategies are told)."""
    strategy = make_strategy("lamoo-random", box3(), ZDT_REF, 2, seed=0)
    while len(strategy.archs) < 25:
        archs = strategy.ask(5)
        strategy.tell(archs, zdt1_like(archs))
    return strategy.archs, strategy.y


def _after(told: tuple, lamoo: LaMOOOptions, seed: int = 0) -> LaMOOStrategy:  # type: ignore[type-arg]
    strategy = make_strategy("lamoo-qehvi", box3(), ZDT_REF, 2, seed=seed, options=lamoo)
    strategy.tell(*told)
    return strategy  # type: ignore[return-value]


def _outside_region(told: tuple, mode: str, seed: int, asks: int = 2) -> tuple[int, int]:  # type: ignore[type-arg]
    """(proposals outside the selected region, proposals) over ``asks`` asks."""
    strategy = _after(told, _lamoo(region_mode=mode), seed)
    outside = total = 0
    for _ in range(asks):
        archs = strategy.ask(5)
        path = strategy.last_path
        assert len(path) > 1, "the tree should have split with 25+ samples"
        kept = len(path) - 1 - strategy.last_relaxed_levels
        cuts = strategy.last_tree[path[kept]].cuts
        outside += int((~region_accepts(cuts, strategy.codec.encode(archs))).sum())
        total += len(archs)
        strategy.tell(archs, zdt1_like(archs))
    return outside, total


def test_strict_region_mode_keeps_every_proposal_in_the_region(told) -> None:  # type: ignore[no-untyped-def]
    assert _outside_region(told, "strict", seed=0) == (0, 10)


def test_seeded_region_mode_lets_the_optimiser_leave_the_region(told) -> None:  # type: ignore[no-untyped-def]
    assert _outside_region(told, "seeded", seed=0)[0] > 0  # the paper's scheme: no check after


def _local(told: tuple, min_samples: int) -> tuple[LaMOOStrategy, int]:  # type: ignore[type-arg]
    strategy = _after(told, _lamoo(model="local", local_min_samples=min_samples))
    strategy.ask(5)
    return strategy, strategy.last_model.train_targets.shape[-1]  # type: ignore[union-attr]


def test_local_model_is_fitted_on_the_selected_region_samples(told) -> None:  # type: ignore[no-untyped-def]
    strategy, fitted = _local(told, min_samples=2)
    leaf = strategy.last_tree[strategy.last_path[-1]]
    assert strategy.last_model_node == leaf.index  # a leaf of 2+ samples is used itself
    assert fitted == leaf.samples.size < len(strategy.archs)
    model = strategy.last_model
    train_x = model.input_transform.untransform(model.train_inputs[0][0]).detach().numpy()  # type: ignore[union-attr, index, operator]
    x = strategy.codec.encode(strategy.archs)[leaf.samples]
    assert np.allclose(np.sort(train_x, axis=0), np.sort(x, axis=0))
    assert f"local GP on node {leaf.index} (n={fitted})" in strategy.last_note


def test_local_model_climbs_to_an_ancestor_with_enough_samples(told) -> None:  # type: ignore[no-untyped-def]
    strategy, fitted = _local(told, min_samples=12)
    node = strategy.last_tree[strategy.last_model_node]
    assert node.index in strategy.last_path and fitted == node.samples.size >= 12
    deeper = strategy.last_path[strategy.last_path.index(node.index) + 1 :]
    assert deeper and all(strategy.last_tree[i].samples.size < 12 for i in deeper)


def test_local_model_falls_back_to_all_samples_below_the_minimum(told, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    baselines: list[int] = []
    original = lamoo_nas.search.qehvi.make_acquisition

    def spy(model, x_baseline, ref, mc_samples=128):  # type: ignore[no-untyped-def]
        baselines.append(x_baseline.shape[0])
        return original(model, x_baseline, ref, mc_samples)

    monkeypatch.setattr(lamoo_nas.search.qehvi, "make_acquisition", spy)
    strategy, fitted = _local(told, min_samples=1000)
    assert strategy.last_model_node == 0 and fitted == len(strategy.archs) == 25
    assert "local GP on node 0 (n=25)" in strategy.last_note
    strategy, fitted = _local(told, min_samples=2)  # the acquisition's baseline is the region's
    assert baselines == [25, fitted] and fitted < 25


def test_local_pool_acquisition_runs_on_a_categorical_space() -> None:
    codec = grid_codec()
    options = _lamoo(model="local", local_min_samples=5)
    strategy = make_strategy("lamoo-qehvi", codec, [0.0, -35.0], 2, options=options)
    while len(strategy.archs) < 25:
        archs = strategy.ask(5)
        strategy.tell(archs, grid_objectives(archs))
    assert strategy.acquisition == "pool" and len(set(strategy.archs)) == 25  # type: ignore[attr-defined]
    assert "local GP on node" in strategy.last_note
