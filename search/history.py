"""Search history: every evaluation, saved atomically as JSON (the source of truth) and CSV.

Format versions: 1 holds the evaluations; 2 adds ``strategy_state``, the strategy's
:meth:`~search.strategy.BaseStrategy.state_dict` after the last told batch, so that a resume
continues exactly (both are read; a version 1 file resumes by re-telling, not exactly).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.search.codec import JSONValue
from lamoo_nas.search.errors import HistoryMismatchError
from lamoo_nas.search.pareto import hypervolume_curve, non_dominated_mask

_FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class Evaluation:
    """One evaluated architecture.

    Attributes:
        arch: the architecture as JSON (``codec.to_json``).
        x: its encoding, ``dim`` floats in [0, 1].
        objectives: its ``m`` maximised objective values.
        strategy: name of the strategy that proposed it.
        iteration: index of the ``ask`` that proposed it (0-based).
        ask_time_s: wall time of that whole ``ask`` call (shared by its batch).
        evaluate_time_s: wall time of evaluating that whole batch.
        note: the strategy's ``last_note`` for that ask (e.g. a relaxed LaMOO region).
    """

    arch: JSONValue
    x: list[float]
    objectives: list[float]
    strategy: str
    iteration: int
    ask_time_s: float
    evaluate_time_s: float
    note: str = ""


@dataclass
class SearchHistory:
    """All evaluations of one search, in order.

    Example:
        >>> h = SearchHistory(objective_names=["acc", "neg_params"], ref_point=[0.0, -10.0])
        >>> h.append(Evaluation([1, 2], [0.1, 0.5], [0.9, -3.0], "random", 0, 0.01, 1.0))
        >>> h.pareto_mask().tolist()
        [True]
    """

    objective_names: list[str]
    ref_point: list[float]
    evaluations: list[Evaluation] = field(default_factory=list)
    objective_units: list[str] = field(default_factory=list)
    """Optional, for people: each objective's unit as the strategies see it (CSV header)."""
    strategy_state: dict[str, Any] | None = None
    """The strategy's ``state_dict()`` after the last told batch (None: not saved, e.g. a
    format version 1 file)."""

    def __len__(self) -> int:
        return len(self.evaluations)

    def append(self, evaluation: Evaluation) -> None:
        if len(evaluation.objectives) != len(self.objective_names):
            raise HistoryMismatchError(
                f"evaluation has {len(evaluation.objectives)} objectives, history expects "
                f"{len(self.objective_names)} ({self.objective_names})"
            )
        self.evaluations.append(evaluation)

    def objectives(self) -> np.ndarray:
        """``(n, m)`` maximised objectives."""
        rows = [e.objectives for e in self.evaluations]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.objective_names))

    def pareto_mask(self) -> np.ndarray:
        """``(n,)`` bool, True for evaluations on the Pareto front of the history."""
        return non_dominated_mask(self.objectives())

    def hypervolume_curve(self) -> np.ndarray:
        """``(n,)`` hypervolume after each evaluation, w.r.t. ``ref_point``."""
        return hypervolume_curve(self.objectives(), self.ref_point)

    @property
    def num_iterations(self) -> int:
        return 1 + max((e.iteration for e in self.evaluations), default=-1)

    def save(self, path: str | Path) -> None:
        """Write ``path`` (JSON) and ``path`` with suffix ``.csv``, each atomically."""
        path = Path(path)
        payload = {
            "format_version": _FORMAT_VERSION,
            "objective_names": self.objective_names,
            "ref_point": self.ref_point,
            "objective_units": self.objective_units,
            "evaluations": [asdict(e) for e in self.evaluations],
            "strategy_state": self.strategy_state,
        }
        _atomic_write(path, json.dumps(payload, indent=1))
        _atomic_write(path.with_suffix(".csv"), self._csv_text())

    @classmethod
    def load(cls, path: str | Path) -> SearchHistory:
        """Read a history written by :meth:`save` (any of ``_READABLE_VERSIONS``)."""
        payload = json.loads(Path(path).read_text())
        if payload.get("format_version") not in _READABLE_VERSIONS:
            raise HistoryMismatchError(
                f"{path}: format_version {payload.get('format_version')!r}, "
                f"expected one of {_READABLE_VERSIONS}"
            )
        history = cls(payload["objective_names"], payload["ref_point"])
        history.objective_units = list(payload.get("objective_units") or [])
        history.strategy_state = payload.get("strategy_state")
        for row in payload["evaluations"]:
            history.append(Evaluation(**row))
        return history

    def _csv_text(self) -> str:
        pareto = self.pareto_mask()
        names = self.objective_names
        if len(self.objective_units) == len(names):
            names = [f"{n} [{u}]" for n, u in zip(names, self.objective_units)]
        header = ["index", "iteration", "strategy", "arch", "is_pareto", *names]
        header += ["ask_time_s", "evaluate_time_s", "x", "note"]
        lines: list[list[Any]] = [header]
        for i, (e, on_front) in enumerate(zip(self.evaluations, pareto)):
            row: list[Any] = [i, e.iteration, e.strategy, json.dumps(e.arch), bool(on_front)]
            row += [*e.objectives, e.ask_time_s, e.evaluate_time_s, json.dumps(e.x), e.note]
            lines.append(row)
        buffer = io.StringIO()
        csv.writer(buffer).writerows(lines)
        return buffer.getvalue()


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file in the same folder, then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
