"""A killed and resumed search continues exactly as the uninterrupted one would have."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lamoo_nas.search import (
    BaseStrategy,
    KnownObjectives,
    LaMOOOptions,
    QEHVIOptions,
    SearchHistory,
    StrategyStateError,
    TreeOptions,
    make_strategy,
    run_search,
)
from tests.search.search_problems import (
    GRID_REF,
    ZDT_REF,
    box3,
    grid_codec,
    grid_objectives,
    options_for,
    zdt1_like,
)

NAMES = ["accuracy", "neg_cost"]
SMALL_QEHVI = QEHVIOptions(pool_size=40)
SMALL_LAMOO = LaMOOOptions(tree=TreeOptions(split_min=8), qehvi=SMALL_QEHVI)
# name -> (total evaluations, kill when this many were evaluated: mid-search, a batch in flight)
CASES = {
    "random": (30, 17),
    "nsga2": (30, 17),
    "lamoo-random": (30, 17),
    "lamoo-evolution": (30, 17),
    "cmaes": (30, 17),
    "lamoo-cmaes": (30, 17),
    "pymoo-nsga2": (30, 17),
    "pymoo-nsga3": (30, 17),
    "qehvi": (20, 11),
    "lamoo-qehvi": (20, 11),
}


class _Killed(RuntimeError):
    pass


def _exact_cost(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
    return grid_objectives(archs)[:, 1:]


def _strategy(name: str, seed: int = 0) -> BaseStrategy:
    known = KnownObjectives((1,), _exact_cost) if "qehvi" in name else None
    return make_strategy(
        name,
        grid_codec(),
        GRID_REF,
        2,
        known_objectives=known,
        seed=seed,
        num_init=6,
        options=options_for(name, qehvi=SMALL_QEHVI, lamoo=SMALL_LAMOO),
    )


def _evaluator(kill_after: int | None, evaluated: list[tuple[int, ...]]):  # type: ignore[no-untyped-def]
    def evaluate(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        if kill_after is not None and len(evaluated) >= kill_after:
            raise _Killed(f"simulated kill after {kill_after} evaluations")
        evaluated.extend(archs)
        return grid_objectives(archs)

    return evaluate


def _search(strategy: BaseStrategy, path: Path, num_samples: int, kill_after: int | None = None,
            evaluated: list[tuple[int, ...]] | None = None) -> SearchHistory:  # fmt: skip
    evaluate = _evaluator(kill_after, [] if evaluated is None else evaluated)
    return run_search(strategy, evaluate, path, num_samples, 5, NAMES, GRID_REF)


def _kill(name: str, path: Path, num_samples: int, kill_after: int) -> int:
    """Run until the simulated kill; return how many evaluations the history kept."""
    with pytest.raises(_Killed):
        _search(_strategy(name), path, num_samples, kill_after)
    return len(SearchHistory.load(path))


def _record(history: SearchHistory) -> list[tuple[Any, ...]]:
    """Everything of an evaluation except the timings."""
    return [
        (e.arch, e.objectives, e.x, e.strategy, e.iteration, e.note) for e in history.evaluations
    ]


@pytest.mark.parametrize("name", list(CASES))
def test_killed_and_resumed_search_equals_the_uninterrupted_one(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    num_samples, kill_after = CASES[name]
    straight = _search(_strategy(name), tmp_path / "straight.json", num_samples)
    path = tmp_path / "resumed.json"
    kept = _kill(name, path, num_samples, kill_after)
    assert 0 < kept < num_samples
    resumed_strategy = _strategy(name)  # the killed object is gone; a new one, same seed
    evaluated: list[tuple[int, ...]] = []
    resumed = _search(resumed_strategy, path, num_samples, evaluated=evaluated)
    assert len(evaluated) == num_samples - kept, "a resumed run evaluates only what is missing"
    assert _record(resumed) == _record(straight)
    assert "not exactly" not in capsys.readouterr().err
    saved = json.loads(path.read_text())
    assert saved["format_version"] == 2
    assert saved["strategy_state"] == resumed_strategy.state_dict()  # plain JSON, round trip


TINY_CONTINUOUS = QEHVIOptions(
    num_restarts=2, raw_samples=16, maxiter=8, mc_samples=16, fit_maxiter=20
)


@pytest.mark.parametrize(
    "lamoo",
    [
        None,  # plain qEHVI, continuous
        LaMOOOptions(  # every new option at once: strict region, local GP, random starts
            tree=TreeOptions(split_min=8),
            qehvi=dataclasses.replace(TINY_CONTINUOUS, start_rule="random"),
            region_mode="strict",
            model="local",
            local_min_samples=6,
        ),
    ],
    ids=["qehvi-continuous", "lamoo-qehvi-strict-local-random-starts"],
)
def test_continuous_and_local_searches_resume_exactly(
    tmp_path: Path, lamoo: LaMOOOptions | None, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "qehvi" if lamoo is None else "lamoo-qehvi"

    def strategy() -> BaseStrategy:
        return make_strategy(
            name,
            box3(),
            ZDT_REF,
            2,
            seed=0,
            num_init=6,
            options=options_for(name, qehvi=TINY_CONTINUOUS, lamoo=lamoo),
        )

    def search(path: Path, kill_after: int | None = None) -> SearchHistory:
        evaluated: list[int] = []

        def evaluate(archs: Sequence[tuple[float, ...]]) -> np.ndarray:
            if kill_after is not None and sum(evaluated) >= kill_after:
                raise _Killed("simulated kill")
            evaluated.append(len(archs))
            return zdt1_like(archs)

        return run_search(strategy(), evaluate, path, 16, 5, NAMES, ZDT_REF)

    straight = search(tmp_path / "straight.json")
    assert strategy().acquisition == "continuous"  # type: ignore[attr-defined]
    path = tmp_path / "resumed.json"
    with pytest.raises(_Killed):
        search(path, kill_after=6)
    assert len(SearchHistory.load(path)) == 10  # killed with the second model-based batch
    assert _record(search(path)) == _record(straight)
    assert "not exactly" not in capsys.readouterr().err


def test_resume_is_exact_after_two_kills(tmp_path: Path) -> None:
    straight = _search(_strategy("lamoo-evolution"), tmp_path / "straight.json", 40)
    path = tmp_path / "resumed.json"
    assert _kill("lamoo-evolution", path, 40, 8) == 10
    assert _kill("lamoo-evolution", path, 40, 12) == 25  # 10 kept, then 3 batches of 5
    assert _record(_search(_strategy("lamoo-evolution"), path, 40)) == _record(straight)


def _as_format_version_1(path: Path) -> None:
    """Rewrite a history as the search wrote it before strategy states were saved."""
    payload = json.loads(path.read_text())
    del payload["strategy_state"]
    payload["format_version"] = 1
    path.write_text(json.dumps(payload, indent=1))


@pytest.mark.parametrize("name", ["random", "lamoo-random"])
def test_a_format_version_1_history_still_resumes_by_re_telling(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    straight = _search(_strategy(name), tmp_path / "straight.json", 30)
    path = tmp_path / "old.json"
    kept = _kill(name, path, 30, 17)
    _as_format_version_1(path)
    assert SearchHistory.load(path).strategy_state is None
    evaluated: list[tuple[int, ...]] = []
    resumed = _search(_strategy(name), path, 30, evaluated=evaluated)
    note = capsys.readouterr().err.strip().splitlines()
    assert len(note) == 1 and "not exactly" in note[0] and "no strategy state" in note[0]
    assert len(evaluated) == 30 - kept and len({tuple(e.arch) for e in resumed.evaluations}) == 30
    assert _record(resumed)[:kept] == _record(straight)[:kept]
    assert _record(resumed) != _record(straight), "re-telling alone restarts the generator"
    assert json.loads(path.read_text())["format_version"] == 2  # upgraded by the next save


def test_a_state_of_another_seed_resumes_by_re_telling_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.json"
    _search(_strategy("nsga2", seed=0), path, 15)
    history = _search(_strategy("nsga2", seed=1), path, 25)
    err = capsys.readouterr().err
    assert "not exactly" in err and "seed 0 (this strategy: 1)" in err
    assert len(history) == 25


def _told(name: str, num_samples: int, seed: int = 0) -> BaseStrategy:
    strategy = _strategy(name, seed)
    while len(strategy.archs) < num_samples:
        archs = strategy.ask(5)
        strategy.tell(archs, grid_objectives(archs))
    return strategy


def _retold(original: BaseStrategy, name: str, seed: int = 0) -> BaseStrategy:
    fresh = _strategy(name, seed)
    fresh.tell(original.archs, original.y)
    return fresh


@pytest.mark.parametrize("name", ["nsga2", "lamoo-random"])
def test_state_keeps_pending_proposals_between_ask_and_tell(name: str) -> None:
    original = _told(name, 20)
    pending = original.ask(4)  # asked, not told
    state = json.loads(json.dumps(original.state_dict()))
    assert sorted(tuple(a) for a in state["pending"]) == sorted(pending)
    copy = _retold(original, name)
    copy.load_state_dict(state)
    assert copy.ask(5) == original.ask(5)  # neither proposes the pending points again


def test_load_state_refuses_other_settings_or_told_data_and_changes_nothing() -> None:
    original = _told("lamoo-random", 20)
    state = original.state_dict()
    other_seed = _retold(original, "lamoo-random", seed=1)
    with pytest.raises(StrategyStateError, match="seed 0"):
        other_seed.load_state_dict(state)
    fewer = _strategy("lamoo-random")
    fewer.tell(original.archs[:10], original.y[:10])
    with pytest.raises(StrategyStateError, match="num_told 20 \\(this strategy: 10\\)"):
        fewer.load_state_dict(state)
    reordered = _strategy("lamoo-random")
    reordered.tell(original.archs[::-1], original.y[::-1])
    before = reordered.state_dict()
    with pytest.raises(StrategyStateError, match="other told data"):
        reordered.load_state_dict(state)
    assert reordered.state_dict() == before
    other_options = make_strategy("qehvi", grid_codec(), GRID_REF, 2, options=QEHVIOptions(50))
    with pytest.raises(StrategyStateError, match="pool_size 40 \\(this strategy: 50\\)"):
        other_options.load_state_dict(_strategy("qehvi").state_dict())


def test_model_based_asks_leave_the_global_generators_alone() -> None:
    strategy = _told("lamoo-qehvi", 15)
    torch_before, numpy_before = torch.get_rng_state(), np.random.get_state()
    strategy.ask(5)
    assert torch.equal(torch.get_rng_state(), torch_before)
    after = np.random.get_state()
    assert np.array_equal(after[1], numpy_before[1]) and after[2:] == numpy_before[2:]
