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
from typing import Any, ClassVar, NoReturn

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
        """Read a history written by :meth:`save` (any of ``_READABLE_VERSIONS``); a file that is
        not one, or whose fields have the wrong types, raises :class:`HistoryMismatchError`
        naming the file and the field."""
        fix = "restore it, or give a new run_dir= to search afresh"
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            raise HistoryMismatchError(
                f"{path} is unreadable or corrupt ({reason}); {fix}"
            ) from err
        if not isinstance(payload, dict):
            raise HistoryMismatchError(f"{path} is not a search history (not a mapping); {fix}")
        if payload.get("format_version") not in _READABLE_VERSIONS:
            raise HistoryMismatchError(
                f"{path}: format_version {payload.get('format_version')!r}, "
                f"expected one of {_READABLE_VERSIONS}"
            )
        field_of = _HistoryFields(path, fix)
        names = field_of.strings(payload, "objective_names")
        history = cls(names, field_of.numbers(payload, "ref_point", len(names)))
        history.objective_units = field_of.strings(payload, "objective_units", optional=True)
        state = payload.get("strategy_state")
        if state is not None and not isinstance(state, dict):
            field_of.fail("strategy_state", state, "a mapping or null")
        history.strategy_state = state
        rows = payload.get("evaluations")
        if not isinstance(rows, list):
            field_of.fail("evaluations", rows, "a list")
        for index, row in enumerate(rows):
            history.append(field_of.evaluation(row, f"evaluations[{index}]", len(names)))
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


class _HistoryFields:
    """Typed reads of a history file's fields; a wrong one names the file and the field."""

    _TYPES: ClassVar[dict[str, tuple[type | tuple[type, ...], str]]] = {
        "strategy": (str, "a string"),
        "iteration": (int, "an integer"),
        "ask_time_s": ((int, float), "a number"),
        "evaluate_time_s": ((int, float), "a number"),
        "note": (str, "a string"),
    }

    def __init__(self, path: str | Path, fix: str) -> None:
        self.path, self.fix = path, fix

    def fail(self, name: str, value: Any, expected: str) -> NoReturn:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise HistoryMismatchError(
            f"{self.path}: {name} is {shown}; it must be {expected}. {self.fix}"
        )

    def strings(self, payload: dict, name: str, optional: bool = False) -> list[str]:
        value = payload.get(name)
        if optional and value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(name, value, "a list of strings")
        return list(value)

    def numbers(self, payload: dict, name: str, size: int) -> list[float]:
        value = payload.get(name)
        if not (
            isinstance(value, list)
            and len(value) == size
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            self.fail(name, value, f"a list of {size} numbers (one per objective)")
        return [float(v) for v in value]

    def evaluation(self, row: Any, name: str, num_objectives: int) -> Evaluation:
        if not isinstance(row, dict):
            self.fail(name, row, "a mapping")
        known = {f for f in Evaluation.__dataclass_fields__}
        unknown = sorted(set(row) - known)
        missing = sorted(known - set(row) - {"note"})
        if unknown or missing:
            what = f"unknown fields {unknown}" if unknown else f"no fields {missing}"
            self.fail(name, f"<{what}>", f"an evaluation with fields {sorted(known)}")
        for key, (kind, expected) in self._TYPES.items():
            if key in row and (not isinstance(row[key], kind) or isinstance(row[key], bool)):
                self.fail(f"{name}.{key}", row[key], expected)
        for key, size in (("objectives", num_objectives), ("x", None)):
            value = row[key]
            ok = isinstance(value, list) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            )
            if not ok or (size is not None and len(value) != size):
                count = f" {size}" if size is not None else ""
                self.fail(f"{name}.{key}", value, f"a list of{count} numbers")
        return Evaluation(**row)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file in the same folder, then ``os.replace`` it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: the mode of every other output
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
