"""evaluate.blocks: decisions round-trip, cost tables are exact, the programme equals brute
force over every network of nbmacro and of a small elastic space, MathNAS's design."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from lamoo_nas.evaluate.blocks import SpaceBlocks
from lamoo_nas.evaluate.codec import ArchCodec, Budget
from lamoo_nas.search.blockmodel import fit_block_model
from lamoo_nas.search.errors import ProgrammeError
from lamoo_nas.supernet import ArchConfig, CostModel, SearchSpace, StageArch, load_space
from lamoo_nas.supernet.nbmacro import arch_from_code, code_from_arch

SMALL = {
    "name": "small_elastic",
    "stem": {"channels": 8, "stride": 1, "activation": "relu"},
    "first_block": None,
    "stages": [
        {"depths": [1, 2], "kernel_sizes": [3, 5], "expand_ratios": [2, 4], "widths": [8, 16],
         "stride": 2, "activation": "relu", "se": False},
        {"depths": [1, 2], "kernel_sizes": [3], "expand_ratios": [2, 3], "widths": [16, 24],
         "stride": 2, "activation": "hswish", "se": True},
    ],
    "final_expand": {"channels": 32, "activation": "relu"},
    "head": {"channels": None, "activation": "relu", "dropout": 0.0},
    "resolutions": [12, 16],
}  # fmt: skip


def _every_arch(space: SearchSpace) -> list[ArchConfig]:
    per_stage = []
    for spec in space.stages:
        options = []
        for width, depth in itertools.product(spec.widths, spec.depths):
            for ops in itertools.product(*(spec.layer_ops(i) for i in range(depth))):
                kernels, expands = zip(*ops)
                options.append(StageArch(depth, tuple(kernels), tuple(expands), width))
        per_stage.append(options)
    archs = [
        ArchConfig(r, tuple(stages))
        for r in space.resolutions
        for stages in itertools.product(*per_stage)
    ]
    return list(dict.fromkeys(space.validate(a) for a in archs))


def _oracles(cost_model: CostModel):
    return [lambda a: float(cost_model(a).macs), lambda a: float(cost_model(a).params)]


def _check_against_brute_force(space: SearchSpace, archs: list[ArchConfig], seed: int) -> None:
    cost_model = CostModel(space, num_classes=10)
    blocks = SpaceBlocks(space, _oracles(cost_model))
    choices = blocks.choices(archs)
    assert [blocks.arch(row) for row in choices] == archs
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=len(archs)) + choices.sum(axis=1)  # not additive: a fitted model
    model = fit_block_model(blocks.decisions, choices, truth, blocks.fingerprint)
    predicted = model.predict(choices)
    macs = np.array([cost_model(a).macs for a in archs])
    params = np.array([cost_model(a).params for a in archs])
    for q_macs, q_params in [(0.05, None), (0.3, None), (0.6, 0.5), (1.0, 0.2), (None, 0.7)]:
        budgets = [
            None if q_macs is None else float(np.quantile(macs, q_macs)),
            None if q_params is None else float(np.quantile(params, q_params)),
        ]
        fits = (macs <= (budgets[0] or np.inf)) & (params <= (budgets[1] or np.inf))
        found = blocks.solve(model, budgets, k=3)
        expected = np.sort(predicted[fits])[::-1][:3]
        assert np.allclose([c.predicted for c in found], expected)
        for c in found:
            assert c.arch in archs
            assert cost_model(c.arch).macs <= (budgets[0] or np.inf)
            assert cost_model(c.arch).params <= (budgets[1] or np.inf)
            assert c.costs == (cost_model(c.arch).macs, cost_model(c.arch).params)
            assert c.predicted == pytest.approx(model.predict(blocks.choices([c.arch]))[0])


def test_every_nbmacro_network_brute_force() -> None:
    space = load_space("nbmacro")
    codes = {"".join(c) for c in itertools.product("012", repeat=8)}
    archs = list(dict.fromkeys(arch_from_code(space, c) for c in sorted(codes)))
    assert len(archs) == 3969
    _check_against_brute_force(space, archs, seed=0)


def test_every_network_of_an_elastic_width_and_resolution_space() -> None:
    space = SearchSpace.from_dict(SMALL)
    archs = _every_arch(space)
    assert len(archs) == 960  # 2 resolutions x (2 widths x 20 op lists) x (2 widths x 6)
    _check_against_brute_force(space, archs, seed=1)


@pytest.mark.parametrize("name", ["tiny", "cifar", "ofa_mbv3"])
def test_cost_tables_are_exact_on_random_networks(name: str) -> None:
    space = load_space(name)
    cost_model = CostModel(space, num_classes=10)
    blocks = SpaceBlocks(space, _oracles(cost_model))
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(40)]
    model = fit_block_model(
        blocks.decisions, blocks.choices(archs), rng.normal(size=40), blocks.fingerprint
    )
    from lamoo_nas.search.programme import score_assignment

    for arch in archs:
        outer = next(o for o in blocks.outers() if o.resolution == arch.resolution
                     and o.widths == tuple(s.width for s in arch.stages))  # fmt: skip
        problem = blocks.problem(model, outer)
        row = blocks.choices([arch])[0]
        ops = [
            [int(row[blocks.decisions.index(next(d for d in blocks.decisions
                                                 if d.name == f"s{s}.l{i}"))])
             for i in range(stage.depth)]
            for s, stage in enumerate(arch.stages)
        ]  # fmt: skip
        value = score_assignment(problem, [s.depth for s in arch.stages], ops)
        assert value.cost == (cost_model(arch).macs, cost_model(arch).params)
        assert value.score == pytest.approx(model.predict(row[None, :])[0])


def test_mathnas_design_is_the_papers_on_nbmacro() -> None:
    space = load_space("nbmacro")
    blocks = SpaceBlocks(space, _oracles(CostModel(space, num_classes=10)))
    design = blocks.mathnas_design(1, np.random.default_rng(0))
    codes = [code_from_arch(space, a) for a in design]
    assert codes[0] == "11111111"  # the average-cost network
    assert len(codes) == 17  # 8 positions x 2 other candidates + the base
    assert all(sum(a != b for a, b in zip(c, "11111111")) >= 1 for c in codes[1:])
    assert len(blocks.mathnas_design(3, np.random.default_rng(0))) > 17


def test_a_budget_below_every_network_names_the_cheapest() -> None:
    space = load_space("nbmacro")
    cost_model = CostModel(space, num_classes=10)
    blocks = SpaceBlocks(space, _oracles(cost_model))
    archs = [space.sample(np.random.default_rng(i)) for i in range(5)]
    model = fit_block_model(
        blocks.decisions, blocks.choices(archs), np.arange(5.0), blocks.fingerprint
    )
    cheapest = f"{cost_model.smallest().macs:.6g}"
    with pytest.raises(ProgrammeError, match=re.escape(f"the cheapest costs ['{cheapest}'")):
        blocks.solve(model, [1e3, None])


def test_a_model_of_another_space_is_refused() -> None:
    tiny, nbmacro = load_space("tiny"), load_space("nbmacro")
    other = SpaceBlocks(tiny)
    archs = [tiny.sample(np.random.default_rng(i)) for i in range(5)]
    model = fit_block_model(
        other.decisions, other.choices(archs), np.arange(5.0), other.fingerprint
    )
    codec = ArchCodec(nbmacro, CostModel(nbmacro, num_classes=10), Budget(macs=40e6))
    with pytest.raises(ProgrammeError, match="fitted on another space"):
        codec.best_predicted(model, 1)
