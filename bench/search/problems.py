"""Benchmark problems for the search strategies: botorch test functions (DTLZ2 also at d=30),
NAS-Bench-201, NAS-Bench-Macro, and a supernet's inherited accuracies on NAS-Bench-Macro's space
(:mod:`bench.search.nas_surrogate`) and on the 45-decision ``cifar`` space
(:mod:`bench.search.space_surrogate`)."""

from __future__ import annotations

import csv
import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from botorch.test_functions.multi_objective import DTLZ2, BraninCurrin, VehicleSafety

from bench.search import space_surrogate
from bench.search.nas_surrogate import surrogate_problem_parts
from lamoo_nas.evaluate.ground_truth import distinct_nbmacro, read_nbmacro_json
from lamoo_nas.search import BoxCodec, CategoricalCodec, hypervolume
from lamoo_nas.search.codec import SpaceCodec

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_COST_COLUMNS = {"params": "c10_params_M_derived", "flops": "c10_flops_M_derived"}
NB201_ACCURACY_COLUMN = "c10_test_200ep"
NBMACRO_TABLE = "nas-bench-macro_cifar10.json"
NBMACRO_LAYERS, NBMACRO_CHOICES = 8, 3  # one digit 0/1/2 per searchable layer


@dataclass(frozen=True)
class BenchProblem:
    """A problem: ``evaluate(archs) -> (n, m)`` maximised objectives, reference point and
    (where known) the maximum hypervolume."""

    name: str
    codec: SpaceCodec[Any]
    evaluate: Callable[[Sequence[Any]], np.ndarray]
    ref_point: list[float]
    max_hv: float | None


def botorch_problem(name: str) -> BenchProblem:
    """BraninCurrin, VehicleSafety, DTLZ2 (d=6, m=2) or ``dtlz2-30`` (d=30, m=2), negated so
    that all are maximised.

    Reference points are botorch's, except for ``dtlz2-30``: with botorch's 1.1 per objective
    a uniform random point of d=30 lies far behind it (``g`` averages 29/12), so every strategy
    sits at hypervolume 0 for most of 100 samples; its reference point is ``1 + 29/12`` per
    objective (the mean of ``1 + g`` over the cube) and ``max_hv = r^2 - pi/4`` (the front is
    the unit quarter circle).
    """
    factories = {
        "branincurrin": lambda: BraninCurrin(negate=True),
        "vehiclesafety": lambda: VehicleSafety(negate=True),
        "dtlz2": lambda: DTLZ2(dim=6, num_objectives=2, negate=True),
        "dtlz2-30": lambda: DTLZ2(dim=30, num_objectives=2, negate=True),
    }
    if name not in factories:
        raise ValueError(f"unknown botorch problem {name!r}, expected one of {list(factories)}")
    problem = factories[name]()
    lower, upper = problem.bounds[0], problem.bounds[1]
    codec = BoxCodec([0.0] * problem.dim, [1.0] * problem.dim)

    def evaluate(archs: Sequence[tuple[float, ...]]) -> np.ndarray:
        unit = torch.as_tensor(np.asarray(archs, dtype=np.float64))
        return problem(lower + unit * (upper - lower)).numpy()

    ref, max_hv = problem.ref_point.tolist(), float(problem.max_hv)
    if name == "dtlz2-30":
        r = 1.0 + (problem.dim - problem.num_objectives + 1) / 12.0
        ref, max_hv = [-r] * problem.num_objectives, r**2 - math.pi / 4.0
    return BenchProblem(name, codec, evaluate, ref, max_hv)


def nb201_dir() -> Path:
    """``$NB201_DIR`` or ``<repo>/../shared/data/nb201``."""
    default = Path(__file__).parents[2] / ".." / "shared" / "data" / "nb201"
    return Path(os.environ.get("NB201_DIR", default))


def parse_cell(arch_str: str) -> tuple[int, ...]:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> six op indices into ``NB201_OPS``."""
    ops = [tok.split("~")[0] for tok in arch_str.replace("+", "").split("|") if tok]
    if len(ops) != 6:
        raise ValueError(f"expected 6 edges in an NB201 cell, got {len(ops)}: {arch_str!r}")
    return tuple(NB201_OPS.index(op) for op in ops)


def nb201_problem(cost: str = "params", encoding: str = "ordinal") -> BenchProblem:
    """NAS-Bench-201 CIFAR-10: maximise 200-epoch test accuracy, minimise params or FLOPs.

    Reference point: (lowest accuracy in the table, largest cost in the table); ``max_hv`` is the
    hypervolume of the whole table. ``encoding`` is how the strategies see the six edge
    operations: ``ordinal`` (one coordinate per edge, the default and the reported benchmark)
    or ``onehot`` (five per edge, problem name suffixed ``-onehot``): a diagnostic of how much
    the GP-based strategies suffer from an order the operations do not have.
    """
    if cost not in NB201_COST_COLUMNS:
        raise ValueError(f"cost {cost!r} is not one of {list(NB201_COST_COLUMNS)}")
    path = nb201_dir() / "nb201_combined.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; set NB201_DIR to the folder with the CSVs")
    table: dict[tuple[int, ...], tuple[float, float]] = {}
    with path.open() as handle:
        for row in csv.DictReader(handle):
            cell = parse_cell(row["arch_str"])
            table[cell] = (float(row[NB201_ACCURACY_COLUMN]), -float(row[NB201_COST_COLUMNS[cost]]))
    if len(table) != 5**6:
        raise ValueError(f"{path} has {len(table)} distinct cells, expected {5**6}")
    values = np.asarray(list(table.values()))
    ref = [float(values[:, 0].min()), float(values[:, 1].min())]

    def evaluate(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        return np.asarray([table[a] for a in archs], dtype=np.float64)

    codec = CategoricalCodec(num_choices=(len(NB201_OPS),) * 6, encoding=encoding)
    name = f"nb201-{cost}" + ("" if encoding == "ordinal" else f"-{encoding}")
    return BenchProblem(name, codec, evaluate, ref, hypervolume(values, ref))


def nbmacro_dir() -> Path:
    """``$NBMACRO_DIR`` or ``<repo>/../shared/data/nbmacro``."""
    default = Path(__file__).parents[2] / ".." / "shared" / "data" / "nbmacro"
    return Path(os.environ.get("NBMACRO_DIR", default))


def nbmacro_objectives(mean_acc: float, flops: int) -> tuple[float, float]:
    """A NAS-Bench-Macro row as maximised objectives: (mean accuracy %, -MACs in millions)."""
    return mean_acc, -flops / 1e6


def nbmacro_problem(encoding: str = "ordinal") -> BenchProblem:
    """NAS-Bench-Macro CIFAR-10: maximise mean accuracy (%), minimise MACs (the table's
    ``flops``, in millions).

    A point is the 8 layer digits of an architecture string (``(0, 2, 0, 1, 2, 1, 0, 0)`` is
    ``"02012100"``); all 3^8 strings are in the table, and strings of the same network (they
    differ only in where skipped layers sit) give the same objectives. Reference point: (lowest
    accuracy in the table, largest MACs in the table); ``max_hv`` is the hypervolume of the
    table's 3,969 distinct networks. ``encoding`` as for :func:`nb201_problem` (``onehot``
    suffixes the name with ``-onehot``).
    """
    path = nbmacro_dir() / NBMACRO_TABLE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; set NBMACRO_DIR to the folder with the JSON")
    rows = read_nbmacro_json(path)
    if len(rows) != NBMACRO_CHOICES**NBMACRO_LAYERS:
        raise ValueError(
            f"{path} has {len(rows)} architecture strings, expected "
            f"{NBMACRO_CHOICES**NBMACRO_LAYERS}"
        )
    table = {code: nbmacro_objectives(row.mean_acc, row.flops) for code, row in rows.items()}
    networks = distinct_nbmacro(rows).values()
    values = np.asarray([nbmacro_objectives(row.mean_acc, row.flops) for row in networks])
    ref = [float(values[:, 0].min()), float(values[:, 1].min())]

    def evaluate(archs: Sequence[tuple[int, ...]]) -> np.ndarray:
        return np.asarray([table["".join(map(str, a))] for a in archs], dtype=np.float64)

    codec = CategoricalCodec(num_choices=(NBMACRO_CHOICES,) * NBMACRO_LAYERS, encoding=encoding)
    name = "nbmacro-flops" + ("" if encoding == "ordinal" else f"-{encoding}")
    return BenchProblem(name, codec, evaluate, ref, hypervolume(values, ref))


def nbmacro_supernet_problem() -> BenchProblem:
    """``nbmacro-supernet``: NAS-Bench-Macro's 3^8 strings (ordinal codec), maximise the
    surrogate of a supernet's inherited accuracy (%), minimise MACs (millions); see
    :mod:`bench.search.nas_surrogate` for the data and the regressor."""
    rows = read_nbmacro_json(nbmacro_dir() / NBMACRO_TABLE)
    codec, evaluate, ref, max_hv = surrogate_problem_parts({c: r.flops for c, r in rows.items()})
    return BenchProblem("nbmacro-supernet", codec, evaluate, ref, max_hv)


def cifar_supernet_problem() -> BenchProblem:
    """``cifar-supernet``: the ``cifar`` space in its own encoding (51 coordinates, 45 of them
    decisions), maximise the surrogate of a supernet's inherited accuracy (%), minimise exact
    MACs (millions); no maximum hypervolume (the space is too large to enumerate). See
    :mod:`bench.search.space_surrogate`."""
    codec, evaluate, ref = space_surrogate.surrogate_problem_parts()
    return BenchProblem("cifar-supernet", codec, evaluate, ref, None)


@functools.cache
def get_problem(name: str) -> BenchProblem:
    """A problem by its benchmark name: ``nb201-<params|flops>[-onehot]``,
    ``nbmacro-flops[-onehot]``, ``nbmacro-supernet``, ``cifar-supernet`` or a botorch problem
    (``branincurrin``, ``dtlz2-30``, ...); built once per process."""
    if name == "nbmacro-supernet":
        return nbmacro_supernet_problem()
    if name == "cifar-supernet":
        return cifar_supernet_problem()
    if name.startswith("nb201-"):
        cost, _, encoding = name.removeprefix("nb201-").partition("-")
        return nb201_problem(cost, encoding or "ordinal")
    if name.startswith("nbmacro-"):
        cost, _, encoding = name.removeprefix("nbmacro-").partition("-")
        if cost != "flops":
            raise ValueError(f"NAS-Bench-Macro cost {cost!r} is not 'flops' (in {name!r})")
        return nbmacro_problem(encoding or "ordinal")
    return botorch_problem(name)
