"""Ground-truth accuracy tables: stand-alone accuracies to judge a supernet and a search by.

Two formats:

* NAS-Bench-Macro's JSON (``{"02012100": {"mean_acc": 89.2, "params": ..., "flops": ...}}``,
  accuracies in %), for the ``nbmacro`` space; strings naming the same network are merged (the
  table gives them equal results, which is checked);
* a generic CSV with a column ``arch`` (an architecture JSON object, as ``best_arch.json``
  holds) and a column ``accuracy`` (a fraction in [0, 1]), for any space.

Both give a :class:`GroundTruth`: accuracy as a fraction per :class:`ArchConfig`.

Example:
    >>> truth = load_ground_truth("../shared/data/nbmacro/nas-bench-macro_cifar10.json",
    ...                           load_space("nbmacro"))  # doctest: +SKIP
    >>> len(truth)  # doctest: +SKIP
    3969
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lamoo_nas.evaluate.errors import GroundTruthError
from lamoo_nas.supernet.errors import ArchValidationError
from lamoo_nas.supernet.nbmacro import arch_from_code, canonical_code
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

NBMACRO_FIELDS = ("mean_acc", "params", "flops")


@dataclass(frozen=True)
class NBMacroRow:
    """One row of NAS-Bench-Macro: mean test accuracy (%), its seeds, params, MACs."""

    mean_acc: float
    test_acc: tuple[float, ...]
    params: int
    flops: int


def read_nbmacro_json(path: str | Path) -> dict[str, NBMacroRow]:
    """Every row of a NAS-Bench-Macro JSON file, keyed by its 8-digit string, validated."""
    raw = _read_json(path)
    rows: dict[str, NBMacroRow] = {}
    for code, row in raw.items():
        try:
            canonical_code(code)
        except ArchValidationError as err:
            raise GroundTruthError(f"{path}: {err}; is this a NAS-Bench-Macro table?") from err
        rows[code] = _nbmacro_row(path, code, row)
    return rows


def distinct_nbmacro(rows: Mapping[str, NBMacroRow]) -> dict[str, NBMacroRow]:
    """One row per network, keyed by :func:`canonical_code`; checks that duplicates agree."""
    out: dict[str, NBMacroRow] = {}
    for code, row in rows.items():
        key = canonical_code(code)
        seen = out.setdefault(key, row)
        if (seen.params, seen.flops) != (row.params, row.flops) or not math.isclose(
            seen.mean_acc, row.mean_acc, abs_tol=1e-6
        ):
            raise GroundTruthError(
                f"rows {code!r} and another string of network {key!r} disagree "
                f"({row} vs {seen}); the table is corrupt"
            )
    return out


def _read_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise GroundTruthError(f"no ground-truth table at {path}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GroundTruthError(f"{path} is not valid JSON ({err})") from err
    if not isinstance(raw, dict) or not raw:
        raise GroundTruthError(
            f"{path}: expected a non-empty JSON object of architecture -> row, got "
            f"{type(raw).__name__}"
        )
    return raw


def _nbmacro_row(path: str | Path, code: str, row: Any) -> NBMacroRow:
    if not isinstance(row, Mapping) or any(k not in row for k in NBMACRO_FIELDS):
        raise GroundTruthError(
            f"{path}: row {code!r} needs {', '.join(NBMACRO_FIELDS)}, got {row!r}"
        )
    mean_acc, params, flops = (row[k] for k in NBMACRO_FIELDS)
    numbers = (mean_acc, params, flops)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in numbers) or not (
        math.isfinite(mean_acc) and 0.0 <= mean_acc <= 100.0
    ):
        raise GroundTruthError(
            f"{path}: row {code!r} has mean_acc={mean_acc!r} (a % in [0, 100]), "
            f"params={params!r}, flops={flops!r} (integers)"
        )
    seeds = row.get("test_acc", [])
    if not isinstance(seeds, list) or not all(isinstance(s, (int, float)) for s in seeds):
        raise GroundTruthError(f"{path}: row {code!r} has test_acc={seeds!r}, not a list of %")
    return NBMacroRow(float(mean_acc), tuple(float(s) for s in seeds), int(params), int(flops))


@dataclass(frozen=True)
class GroundTruth:
    """Stand-alone accuracy (a fraction) per architecture of ``space``; ``len``, ``in``, ``[]``.

    ``seed_accuracies`` holds each architecture's per-seed accuracies where the table has them
    (NAS-Bench-Macro: 3), which gives the seed-to-seed ceiling of any rank correlation.
    """

    space: SearchSpace
    accuracy: Mapping[ArchConfig, float]
    seed_accuracies: Mapping[ArchConfig, tuple[float, ...]]
    source: str

    def __len__(self) -> int:
        return len(self.accuracy)

    def __contains__(self, arch: object) -> bool:
        return arch in self.accuracy

    def __getitem__(self, arch: ArchConfig) -> float:
        try:
            return self.accuracy[arch]
        except KeyError:
            raise GroundTruthError(
                f"architecture {arch} is not in the ground-truth table {self.source}"
            ) from None

    def __iter__(self) -> Iterator[ArchConfig]:
        return iter(self.accuracy)


def load_ground_truth(path: str | Path, space: SearchSpace) -> GroundTruth:
    """A NAS-Bench-Macro ``.json`` or a generic ``.csv`` table (see the module docstring)."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return _from_nbmacro(path, space)
    if path.suffix.lower() == ".csv":
        return _from_csv(path, space)
    raise GroundTruthError(
        f"{path}: a ground-truth table is a NAS-Bench-Macro .json or a .csv with columns arch "
        "and accuracy"
    )


def _from_nbmacro(path: Path, space: SearchSpace) -> GroundTruth:
    rows = distinct_nbmacro(read_nbmacro_json(path))
    accuracy: dict[ArchConfig, float] = {}
    seeds: dict[ArchConfig, tuple[float, ...]] = {}
    for code, row in rows.items():
        try:
            arch = arch_from_code(space, code)
        except ArchValidationError as err:
            raise GroundTruthError(
                f"{path} is a NAS-Bench-Macro table but the space is {space.name!r}: {err}"
            ) from err
        accuracy[arch] = row.mean_acc / 100.0
        seeds[arch] = tuple(s / 100.0 for s in row.test_acc)
    return GroundTruth(space, accuracy, seeds, str(path))


def _from_csv(path: Path, space: SearchSpace) -> GroundTruth:
    if not path.is_file():
        raise GroundTruthError(f"no ground-truth table at {path}")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"arch", "accuracy"} <= set(reader.fieldnames):
            raise GroundTruthError(
                f"{path}: the header must name the columns arch and accuracy, got "
                f"{reader.fieldnames}"
            )
        accuracy: dict[ArchConfig, float] = {}
        for line, row in enumerate(reader, start=2):
            arch = _csv_arch(path, line, row, space)
            value = _csv_accuracy(path, line, row.get("accuracy"))
            if arch in accuracy and not math.isclose(accuracy[arch], value, abs_tol=1e-9):
                raise GroundTruthError(
                    f"{path}:{line}: architecture {arch} appears again with another accuracy "
                    f"({value} vs {accuracy[arch]})"
                )
            accuracy[arch] = value
    if not accuracy:
        raise GroundTruthError(f"{path} has a header but no rows")
    return GroundTruth(space, accuracy, {}, str(path))


def _csv_arch(path: Path, line: int, row: Mapping[str, Any], space: SearchSpace) -> ArchConfig:
    try:
        return space.arch_from_json(str(row.get("arch") or ""))
    except json.JSONDecodeError as err:
        raise GroundTruthError(
            f"{path}:{line}: column arch is not an architecture JSON object ({err})"
        ) from err
    except ArchValidationError as err:
        raise GroundTruthError(f"{path}:{line}: {err}") from err


def _csv_accuracy(path: Path, line: int, value: Any) -> float:
    try:
        accuracy = float(value)
    except (TypeError, ValueError):
        accuracy = math.nan
    if not (math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0):
        raise GroundTruthError(
            f"{path}:{line}: accuracy is {value!r}; give a fraction in [0, 1] (0.93, not 93)"
        )
    return accuracy


@dataclass(frozen=True)
class TrueVerdict:
    """A search judged by ground truth (accuracies as fractions, MACs raw).

    ``true_hv`` is the hypervolume of the found front with the table's accuracies put in for
    the inherited ones (objectives: accuracy in %, MACs in millions, reference point (0 %,
    the budget)); ``max_hv`` the same for the table's own front under the budget.
    ``picked_true`` is the true accuracy of the architecture the search would hand on (its
    most accurate under the budget by inherited accuracy); ``best_true`` the table's best under
    the budget; ``found_true`` the truly best among everything the search evaluated.
    """

    true_hv: float
    max_hv: float
    picked_true: float
    best_true: float
    found_true: float

    @property
    def hv_ratio(self) -> float:
        return self.true_hv / self.max_hv if self.max_hv > 0 else 0.0


def judge_search(
    front: Sequence[ArchConfig],
    picked: ArchConfig,
    evaluated: Sequence[ArchConfig],
    truth: GroundTruth,
    macs_of: Callable[[ArchConfig], int],
    budget_macs: float,
) -> TrueVerdict:
    """Score a search's outcome with the table's accuracies; see :class:`TrueVerdict`."""
    from lamoo_nas.search import hypervolume

    ref = [0.0, -budget_macs / 1e6]

    def points(archs: Sequence[ArchConfig]) -> np.ndarray:
        rows = [(100.0 * truth[a], -macs_of(a) / 1e6) for a in archs if macs_of(a) <= budget_macs]
        return np.asarray(rows, dtype=np.float64).reshape(-1, 2)

    admitted = [a for a in truth if macs_of(a) <= budget_macs]
    if not admitted:
        raise GroundTruthError(f"no architecture of {truth.source} fits MACs <= {budget_macs:g}")
    return TrueVerdict(
        true_hv=hypervolume(points(front), ref) if front else 0.0,
        max_hv=hypervolume(points(admitted), ref),
        picked_true=truth[picked],
        best_true=max(truth[a] for a in admitted),
        found_true=max(truth[a] for a in evaluated),
    )
