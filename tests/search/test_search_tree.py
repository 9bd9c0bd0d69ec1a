from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from sklearn.svm import SVC

from lamoo_nas.search.errors import UnknownStrategyError
from lamoo_nas.search.lamoo.tree import (
    BAD,
    GOOD,
    TreeOptions,
    build_tree,
    fit_split,
    held_out_accuracy,
    partition_labels,
    region_accepts,
    select_path,
)
from lamoo_nas.search.pareto import dominance_numbers, hypervolume
from lamoo_nas.search.population import objective_span, reference_shortfall


def _front_problem(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    y = np.stack([x[:, 0], 1.0 - x[:, 0] ** 2 - x[:, 1]], axis=1)  # x1 = 0 is the front
    return x, y


def test_partition_labels_first_half_plus_one_by_dominance() -> None:
    _, y = _front_problem(33)
    labels = partition_labels(y)
    assert (labels == GOOD).sum() == 33 // 2 + 1
    dom = dominance_numbers(y)
    assert dom[labels == GOOD].max() <= dom[labels == BAD].min()


def test_partition_labels_ties_broken_deterministically() -> None:
    y = np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 1.0], [3.0, 0.0], [1.5, 1.5]])  # all o = 0
    labels = partition_labels(y)
    assert labels.tolist() == partition_labels(y.copy()).tolist()
    # 3 good of 5: the two boundary points (infinite crowding) are always good
    assert labels[0] == GOOD and labels[3] == GOOD and (labels == GOOD).sum() == 3


def test_fit_split_never_fits_one_class() -> None:
    x, _ = _front_problem(20)
    with mock.patch.object(SVC, "fit", side_effect=AssertionError("fit called")) as fit:
        assert fit_split(x, np.zeros(20, dtype=np.int64), TreeOptions()) is None
        fit.assert_not_called()


def test_held_out_check_keeps_a_cut_that_generalises_and_refuses_one_that_does_not() -> None:
    x, y = _front_problem(40)
    labels = partition_labels(y)
    checked = TreeOptions(cut_folds=4)
    assert held_out_accuracy(x, labels, checked) >= 0.8  # the labels follow x1: new points too
    assert fit_split(x, labels, checked) is not None
    rng = np.random.default_rng(1)
    noise = rng.random((200, 30))  # 30-d points, labels unrelated to them
    coin = rng.permutation(np.arange(200) % 2)
    assert fit_split(noise, coin, TreeOptions()) is not None  # the SVM fits its own labels
    assert held_out_accuracy(noise, coin, checked) < 0.6
    assert fit_split(noise, coin, checked) is None
    # the same data gives the same folds; a label with one sample cannot be held out
    assert held_out_accuracy(noise, coin, checked) == held_out_accuracy(noise, coin, checked)
    single = np.zeros(40, dtype=np.int64)
    single[0] = 1
    assert held_out_accuracy(x, single, checked) is None


def test_node_stays_leaf_when_svm_predicts_one_class() -> None:
    x = np.random.default_rng(0).random((20, 2))
    labels = np.zeros(20, dtype=np.int64)
    labels[0] = 1  # one outlier: a soft-margin SVC predicts a single class
    assert fit_split(x, labels, TreeOptions(svm_c=0.01)) is None


def test_tree_children_get_samples_by_label_and_respect_max_nodes() -> None:
    x, y = _front_problem(80)
    nodes = build_tree(x, y, np.array([-0.1, -1.1]), TreeOptions(split_min=16, max_nodes=7))
    assert 1 < len(nodes) <= 7
    root = nodes[0]
    good, bad = (nodes[c] for c in root.children)
    labels = partition_labels(y)
    assert set(good.samples) == set(np.flatnonzero(labels == GOOD))
    assert set(bad.samples) == set(np.flatnonzero(labels == BAD))
    for node in nodes:
        assert np.isclose(node.value, hypervolume(y[node.samples], [-0.1, -1.1]))


def test_ucb_formula_and_leaf_selection() -> None:
    x, y = _front_problem(64)
    ref = np.array([-0.1, -1.1])
    nodes = build_tree(x, y, ref, TreeOptions(max_nodes=3), cp=0.5)
    good = nodes[nodes[0].children[0]]
    expected = good.value + 2 * 0.5 * np.sqrt(2 * np.log(64) / good.samples.size)
    assert np.isclose(good.ucb, expected)
    leaves = [n for n in nodes if n.is_leaf]
    path = select_path(nodes, "leaf", np.random.default_rng(0))
    assert path[0] == 0 and nodes[path[-1]].ucb == max(n.ucb for n in leaves)
    path_rule = select_path(nodes, "path", np.random.default_rng(0))
    assert nodes[path_rule[-1]].is_leaf


def test_default_cp_is_tenth_of_total_hypervolume() -> None:
    x, y = _front_problem(40)
    ref = np.array([-0.1, -1.1])
    nodes = build_tree(x, y, ref, TreeOptions(max_nodes=3))
    child = nodes[1]
    cp = 0.1 * hypervolume(y, ref)
    assert np.isclose(
        child.ucb, child.value + 2 * cp * np.sqrt(2 * np.log(40) / child.samples.size)
    )


def test_nodes_are_valued_by_shortfall_while_nothing_beats_the_reference() -> None:
    x, y = _front_problem(40)
    ref = np.array([2.0, 2.0])  # beyond every sample: every hypervolume is 0
    nodes = build_tree(x, y, ref, TreeOptions(max_nodes=7))
    shortfall = reference_shortfall(y, ref, objective_span(y, ref))
    assert len(nodes) > 3
    for node in nodes:
        assert node.value == pytest.approx(-shortfall[node.samples].min())
    leaves = [n for n in nodes if n.is_leaf]
    assert len({n.value for n in leaves}) > 1  # the leaves are told apart, not all 0
    cp = 0.1 * shortfall.min()
    child = nodes[1]
    assert np.isclose(
        child.ucb, child.value + 2 * cp * np.sqrt(2 * np.log(40) / child.samples.size)
    )


def test_region_accepts_is_conjunction_of_cuts() -> None:
    x, y = _front_problem(80)
    nodes = build_tree(x, y, np.array([-0.1, -1.1]), TreeOptions(max_nodes=7))
    deep = max(nodes, key=lambda n: len(n.cuts))
    probe = np.random.default_rng(1).random((500, 2))
    inside = region_accepts(deep.cuts, probe)
    for cut in deep.cuts:
        assert cut.accepts(probe[inside]).all()


def test_unknown_kernel_is_rejected() -> None:
    with pytest.raises(UnknownStrategyError, match="rbf"):
        TreeOptions(kernel="sigmoid")  # type: ignore[arg-type]
