"""The search loop: ask, evaluate, tell, save; resumable from its history file."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from tqdm import tqdm

from lamoo_nas.search.errors import HistoryMismatchError, InvalidOptionError, StrategyStateError
from lamoo_nas.search.history import Evaluation, SearchHistory
from lamoo_nas.search.pareto import check_objectives, hypervolume
from lamoo_nas.search.strategy import Strategy

INITIAL_LABEL = "sobol"
"""The ``strategy`` of evaluations from the shared initial design (not the strategy's own)."""

A = TypeVar("A", bound=Hashable)
EvaluateFn = Callable[[Sequence[A]], np.ndarray]  # archs -> (n, m) maximised objectives


def run_search(
    strategy: Strategy[A],
    evaluate_fn: EvaluateFn[A],
    history_path: str | Path,
    num_samples: int,
    batch_size: int,
    objective_names: Sequence[str],
    ref_point: Sequence[float],
    progress: bool = False,
    objective_units: Sequence[str] = (),
) -> SearchHistory:
    """Run ``strategy`` until ``num_samples`` evaluations exist in ``history_path``.

    If ``history_path`` exists, its evaluations are told to the strategy first and never
    evaluated again; the loop then continues where it stopped. The history (JSON + CSV) is saved
    atomically after every batch, with the strategy's ``state_dict()``, so an interrupted run
    loses at most the batch in flight, and a resumed run (a fresh strategy built with the same
    settings and seed) proposes exactly what the uninterrupted run would have proposed. A
    history without a fitting state (format version 1, or saved by another strategy, seed or
    options) is resumed by re-telling only, with a one-line note on stderr.

    Args:
        strategy: a fresh strategy (nothing told yet).
        evaluate_fn: ``evaluate_fn(archs) -> (n, m)`` MAXIMISED objectives.
        history_path: JSON history file (a ``.csv`` twin is written next to it).
        num_samples: total evaluations wanted, including resumed ones.
        batch_size: proposals per ``ask``.
        objective_names: ``m`` names, stored in the history.
        ref_point: ``(m,)`` hypervolume reference point (for the history and progress bar).
        progress: show a tqdm bar with the current hypervolume.
        objective_units: optional ``m`` units, for the CSV header (``accuracy [%]``).

    Returns:
        The complete history.

    Example:
        >>> from search.codec import BoxCodec
        >>> from search.strategy import RandomStrategy
        >>> s = RandomStrategy(BoxCodec([0.0], [1.0]), ref_point=[0.0, 0.0], seed=0)
        >>> f = lambda archs: np.array([[a[0], 1 - a[0]] for a in archs])
        >>> h = run_search(s, f, "/tmp/doc_history.json", 4, 2, ["a", "b"], [0.0, 0.0])
        >>> len(h)
        4
    """
    if num_samples < 1 or batch_size < 1:
        raise InvalidOptionError(
            f"need num_samples >= 1 and batch_size >= 1, got num_samples={num_samples}, "
            f"batch_size={batch_size}"
        )
    history_path = Path(history_path)
    history = _resume(strategy, history_path, list(objective_names), list(ref_point))
    history.objective_units = list(objective_units)
    m = len(objective_names)
    bar = tqdm(total=num_samples, initial=len(history), disable=not progress, desc=strategy.name)
    iteration = history.num_iterations
    design = set(strategy.initial_design)
    while len(history) < num_samples:  # bounded: every pass adds >= 1 evaluation or raises
        start = time.perf_counter()
        archs = strategy.ask(min(batch_size, num_samples - len(history)))
        ask_time_s = time.perf_counter() - start
        start = time.perf_counter()
        values = check_objectives(evaluate_fn(archs), m, len(archs))
        evaluate_time_s = time.perf_counter() - start
        strategy.tell(archs, values)
        history.strategy_state = strategy.state_dict()
        for arch, row in zip(archs, values):
            history.append(
                Evaluation(
                    arch=strategy.codec.to_json(arch),
                    x=[float(v) for v in strategy.codec.encode([arch])[0]],
                    objectives=[float(v) for v in row],
                    strategy=INITIAL_LABEL if arch in design else strategy.name,
                    iteration=iteration,
                    ask_time_s=ask_time_s,
                    evaluate_time_s=evaluate_time_s,
                    note=strategy.last_note,
                )
            )
        history.save(history_path)
        iteration += 1
        bar.update(len(archs))
        bar.set_postfix(hv=f"{hypervolume(history.objectives(), history.ref_point):.4g}")
    bar.close()
    return history


def _resume(
    strategy: Strategy[A], path: Path, objective_names: list[str], ref_point: list[float]
) -> SearchHistory:
    if not path.exists():
        return SearchHistory(objective_names, ref_point)
    history = SearchHistory.load(path)
    if history.objective_names != objective_names:
        raise HistoryMismatchError(
            f"{path} has objectives {history.objective_names}, this search uses {objective_names}; "
            "use another history_path or the same objectives"
        )
    archs = [strategy.codec.from_json(e.arch) for e in history.evaluations]  # checks the space
    if not np.allclose(history.ref_point, ref_point, rtol=1e-9, atol=0.0):
        raise HistoryMismatchError(
            f"{path} was searched with reference point {history.ref_point}, this search uses "
            f"{ref_point} (a different budget or objective scale); use another history_path, "
            "or the same settings to resume"
        )
    if archs:
        strategy.tell(archs, history.objectives())  # the told data, in the same order
    state, why = history.strategy_state, "it has no strategy state (an older history format)"
    if state is not None:
        try:
            strategy.load_state_dict(state)
            return history
        except StrategyStateError as error:
            why = f"its strategy state does not fit this strategy: {error}"
    if archs:
        print(
            f"note: {path}: resuming {len(archs)} evaluations by re-telling them, not exactly "
            f"(the next proposals differ from an uninterrupted run's) because {why}",
            file=sys.stderr,
        )
    return history
