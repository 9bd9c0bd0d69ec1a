"""strategy=mathnas on a real space: designs, the exact optimum of an additive truth, resume."""

from __future__ import annotations

import numpy as np
import pytest

from lamoo_nas.evaluate.blocks import SpaceBlocks
from lamoo_nas.evaluate.codec import ArchCodec, Budget
from lamoo_nas.search import make_strategy
from lamoo_nas.search.codec import CategoricalCodec
from lamoo_nas.search.errors import InvalidOptionError, UnknownStrategyError
from lamoo_nas.search.mathnas import MathNASOptions
from lamoo_nas.supernet import CostModel, load_space


@pytest.fixture(scope="module")
def setting():
    space = load_space("nbmacro")
    cost_model = CostModel(space, num_classes=10)
    blocks = SpaceBlocks(space)
    rng = np.random.default_rng(3)
    weights = [rng.normal(size=len(d.values)) for d in blocks.decisions]

    def objectives(archs):
        choices = blocks.choices(archs)
        accuracy = 80 + sum(w[choices[:, i]] for i, w in enumerate(weights))
        macs = np.array([cost_model(a).macs for a in archs]) * -1e-6
        return np.column_stack([accuracy, macs])

    codec = ArchCodec(space, cost_model, Budget(macs=40e6))
    return space, codec, objectives


def _run(strategy, objectives, num_samples: int, q: int = 4) -> None:
    while len(strategy.archs) < num_samples:
        archs = strategy.ask(q)
        strategy.tell(archs, objectives(archs))


@pytest.mark.parametrize("design", ["single", "random"])
def test_finds_the_exact_optimum_of_an_additive_truth(setting, design: str) -> None:
    space, codec, objectives = setting
    options = MathNASOptions(design=design)
    strategy = make_strategy("mathnas", codec, [0.0, -40.0], 2, seed=0, num_init=10,
                             options=options)  # fmt: skip
    _run(strategy, objectives, 32)
    told = np.array([codec.fits(a) for a in strategy.archs])
    assert told.all()  # every proposal within the budget
    every = [a for a in _all_nbmacro(space) if codec.fits(a)]
    best = every[int(np.argmax(objectives(every)[:, 0]))]
    assert best in strategy.archs  # the true optimum was proposed and evaluated
    if design == "single":  # the average network (53M MACs) is over 40M: a feasible base
        base = strategy.initial_design[0]
        assert codec.fits(base) and base != codec.blocks.average_arch()
        assert set(strategy.initial_design) <= set(codec.blocks.single_changes(base))
        assert len(strategy.initial_design) > 8


def test_resume_continues_exactly(setting) -> None:
    _, codec, objectives = setting
    first = make_strategy("mathnas", codec, [0.0, -40.0], 2, seed=1, num_init=8)
    _run(first, objectives, 24)
    state = first.state_dict()
    second = make_strategy("mathnas", codec, [0.0, -40.0], 2, seed=1, num_init=8)
    second.tell(first.archs, first.y)
    second.load_state_dict(state)
    assert second.ask(6) == first.ask(6)


def test_a_codec_without_blocks_is_refused() -> None:
    with pytest.raises(InvalidOptionError, match="needs a space made of blocks"):
        make_strategy("mathnas", CategoricalCodec((3, 3)), [0.0, 0.0], 2)


def test_bad_options_are_named() -> None:
    with pytest.raises(InvalidOptionError, match=r"mathnas\.design must be one of"):
        MathNASOptions(design="double")
    with pytest.raises(InvalidOptionError, match=r"mathnas\.ladder"):
        MathNASOptions(ladder=(1.5,))


def _all_nbmacro(space):
    import itertools

    from lamoo_nas.supernet.nbmacro import arch_from_code

    codes = sorted({"".join(c) for c in itertools.product("012", repeat=8)})
    return list(dict.fromkeys(arch_from_code(space, c) for c in codes))


def test_lamoo_with_the_block_model_inside_regions(setting) -> None:
    """The partition picks the region, the block model the candidates in it: on an additive
    truth it finds networks at least as good as LaMOO's random sampler on the same seed."""
    _, codec, objectives = setting
    found = {}
    for sampler in ("random", "blockmodel"):
        strategy = make_strategy(f"lamoo-{sampler}", codec, [0.0, -40.0], 2, seed=0, num_init=10)
        _run(strategy, objectives, 30)
        assert all(codec.fits(a) for a in strategy.archs)
        found[sampler] = strategy.y[:, 0].max()
    assert found["blockmodel"] >= found["random"]


def test_the_blockmodel_sampler_needs_blocks() -> None:
    strategy = make_strategy("lamoo-blockmodel", CategoricalCodec((3, 3, 3)), [0.0, 0.0], 2,
                             num_init=4)  # fmt: skip
    archs = strategy.ask(4)
    strategy.tell(archs, np.array([[sum(a), -a[0]] for a in archs], dtype=float))
    with pytest.raises(UnknownStrategyError, match="needs a space made of blocks"):
        strategy.ask(2)
