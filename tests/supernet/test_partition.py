"""Partitions of a space: exact cover, sampling inside a region, JSON, SVM cuts, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.svm import SVC

from lamoo_nas.supernet import load_space
from lamoo_nas.supernet.errors import ArchSpaceMismatchError, ConfigError
from lamoo_nas.supernet.partition import (
    ChoicePartition,
    LearnedPartition,
    SvmCut,
    TreeNode,
    decision_points,
    partition_from_json,
)


@pytest.fixture(scope="module")
def nbmacro():
    return load_space("nbmacro")


def test_decision_points_follow_the_encoding(nbmacro) -> None:
    points = decision_points(nbmacro)
    assert points["stages.0.layers.0.op"].choices == ("identity", "k3e3", "k5e6")
    assert points["stages.1.depth"].choices == ("1", "2", "3")
    assert "stages.0.layers.1.op" not in points  # absent when the stage's depth is 1
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = nbmacro.sample(rng)
        code = nbmacro.encode(arch)
        point = points["stages.1.depth"]
        assert point.choices[int(code[point.column] * 3)] == str(arch.stages[1].depth)


def test_every_architecture_is_in_exactly_its_region(nbmacro) -> None:
    part = ChoicePartition.build(nbmacro, ["stages.0.layers.0.op", "stages.1.depth"])
    assert part.num_regions == 9
    rng = np.random.default_rng(1)
    archs = [nbmacro.sample(rng) for _ in range(300)]
    regions = part.regions_of(nbmacro.encode_many(archs))
    names = ["identity", "k3e3", "k5e6"]
    for arch, region in zip(archs, regions):
        op = arch.stages[0].kernel_sizes[0], arch.stages[0].expand_ratios[0]
        first = {(0, 0.0): 0, (3, 3.0): 1, (5, 6.0): 2}[op]
        assert region == first * 3 + arch.stages[1].depth - 1
        assert part.region_names[region].startswith(f"stages.0.layers.0.op={names[first]}")
    assert set(regions.tolist()) == set(range(9))  # 300 draws reach every region
    for k in range(9):
        drawn = [part.sample_in(nbmacro, k, rng) for _ in range(30)]
        assert {part.region_of(nbmacro, a) for a in drawn} == {k}


def test_groups_gather_choices_and_the_ends_stay_in_the_region(nbmacro) -> None:
    groups = {"stages.0.layers.0.op": [["identity"], ["k3e3", "k5e6"]]}
    part = ChoicePartition.build(nbmacro, ["stages.0.layers.0.op"], groups)
    assert part.region_names == ["stages.0.layers.0.op=identity", "stages.0.layers.0.op=k3e3|k5e6"]
    largest = part.extreme_in(nbmacro, 1, largest=True)
    smallest = part.extreme_in(nbmacro, 1, largest=False)
    assert largest == nbmacro.largest()  # the space's largest is in region 1 already
    assert (smallest.stages[0].kernel_sizes[0], smallest.stages[0].expand_ratios[0]) == (3, 3.0)
    assert part.region_of(nbmacro, smallest) == 1
    assert part.region_of(nbmacro, part.extreme_in(nbmacro, 0, largest=True)) == 0


@pytest.mark.parametrize(
    ("split", "groups", "message"),
    [
        ([], None, "few_shot.split is empty"),
        (["stages.0.layers.1.op"], None, "not present in every architecture"),
        (["stages.0.dept"], None, "did you mean 'stages.0.depth'"),
        (["stages.0.width"], None, "makes 1 region; a few-shot split needs at least 2"),
        (["stages.0.depth", "stages.0.depth"], None, "names a decision point twice"),
        (
            ["stages.0.layers.0.op"],
            {"stages.0.layers.0.op": [["identity"], ["k3e3"]]},
            r"leave \['k5e6'\] in no region",
        ),
        (
            ["stages.0.layers.0.op"],
            {"stages.0.layers.0.op": [["identity", "k3e3"], ["k3e3", "k5e6"]]},
            r"put \['k3e3'\] in more than one region",
        ),
        (
            ["stages.0.layers.0.op"],
            {"stages.0.layers.0.op": [["identity"], ["k7e6", "k3e3", "k5e6"]]},
            r"name \['k7e6'\], which are not its choices",
        ),
        (["stages.0.depth"], {"stages.1.depth": [["1"], ["2", "3"]]}, "not in split"),
    ],
)
def test_a_bad_split_is_named(nbmacro, split, groups, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ChoicePartition.build(nbmacro, split, groups)


def test_json_round_trip_and_refusals(nbmacro) -> None:
    part = ChoicePartition.build(nbmacro, ["stages.2.layers.0.op"])
    back = partition_from_json(part.to_json(), nbmacro)
    x = nbmacro.encode_many([nbmacro.sample(np.random.default_rng(2)) for _ in range(50)])
    assert np.array_equal(back.regions_of(x), part.regions_of(x))
    with pytest.raises(ArchSpaceMismatchError, match="made for the space with fingerprint"):
        partition_from_json(part.to_json(), load_space("tiny"))
    with pytest.raises(ConfigError, match="not JSON"):
        partition_from_json(part.to_json()[:-20], nbmacro)
    damaged = json.loads(part.to_json())
    del damaged["groups"]
    with pytest.raises(ConfigError, match="is damaged"):
        partition_from_json(json.dumps(damaged), nbmacro)
    with pytest.raises(ConfigError, match="not a partition written by this project"):
        partition_from_json("{}", nbmacro)


@pytest.mark.parametrize("kernel", ["rbf", "poly", "linear"])
def test_a_stored_svm_cut_predicts_as_sklearn(kernel) -> None:
    rng = np.random.default_rng(3)
    x = rng.random((80, 6))
    labels = (x[:, 0] + x[:, 1] ** 2 > 0.8).astype(int)
    svc = SVC(kernel=kernel, gamma="scale", degree=3, coef0=1.0).fit(2 * x - 1, labels)
    cut = SvmCut(kernel, float(svc._gamma), 3, 1.0, svc.support_vectors_,
                 svc.dual_coef_.reshape(-1), float(svc.intercept_[0]),
                 (int(svc.classes_[0]), int(svc.classes_[1])))  # fmt: skip
    probe = rng.random((500, 6))
    assert np.array_equal(cut.predict(probe), svc.predict(2 * probe - 1))
    assert SvmCut.from_dict(json.loads(json.dumps(cut.to_dict()))).predict(probe).tolist() == (
        cut.predict(probe).tolist()
    )


def test_a_learned_partition_routes_by_its_tree_and_samples_inside(nbmacro) -> None:
    rng = np.random.default_rng(4)
    x = nbmacro.encode_many([nbmacro.sample(rng) for _ in range(120)])
    labels = (x[:, 1] > 0.5).astype(int)  # a cut on stage 0's first op
    svc = SVC(kernel="linear").fit(2 * x - 1, labels)
    cut = SvmCut("linear", 1.0, 3, 0.0, svc.support_vectors_, svc.dual_coef_.reshape(-1),
                 float(svc.intercept_[0]), (0, 1))  # fmt: skip
    nodes = [TreeNode(cut=cut, children=((0, 1), (1, 2))), TreeNode(region=1), TreeNode(region=0)]
    part = LearnedPartition(nbmacro.fingerprint, nodes, ["low", "high"])
    assert np.array_equal(part.regions_of(x), np.where(svc.predict(2 * x - 1) == 0, 1, 0))
    for k in (0, 1):
        assert {part.region_of(nbmacro, part.sample_in(nbmacro, k, rng)) for _ in range(10)} == {k}
    back = partition_from_json(part.to_json(), nbmacro)
    assert np.array_equal(back.regions_of(x), part.regions_of(x))
    with pytest.raises(ConfigError, match="leaves are regions"):
        LearnedPartition(nbmacro.fingerprint, nodes, ["a", "b", "c"])
