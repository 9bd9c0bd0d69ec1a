"""Measured latency of a subnet from a per-block lookup table (a hardware-aware objective).

A subnet decomposes exactly as :mod:`supernet.cost` decomposes its MACs: the stem, the first
block (where the space has one), each active MBConv layer (or identity projection), the final
expand and the head. A :class:`LatencyKey` is one such piece with every number that fixes its
runtime: its kind, input size, in / hidden / out channels, kernel, stride, whether it expands,
its squeeze-excite and activation, and whether it is a projection. The stage and the position
in it matter only through those numbers (the first layer of a stage has the stride and the
stage's input width; the later ones are ``width -> width``), so equal shapes share one entry.

:func:`build_latency_table` times each key's module standalone (random weights, the
:mod:`supernet.static` building blocks) and appends one JSON line per key to a table file whose
first line, the header, records the space, device, threads, batch size and protocol. A rerun on
the same file measures only the missing keys; a header that differs is refused.
:class:`LatencyPredictor` sums the keys of an architecture: ``predict_ms(arch)``.

Example:
    >>> from supernet import load_space
    >>> space = load_space("tiny")
    >>> table = build_latency_table(space, 10, "tiny_cpu.jsonl", warmup=5, repeats=20)
    ... # doctest: +SKIP
    >>> LatencyPredictor(space, 10, table).predict_ms(space.smallest())  # doctest: +SKIP
    0.21
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lamoo_nas.evaluate.errors import LatencyTableError
from lamoo_nas.evaluate.latency import LatencyStats, measure_latency_ms, time_calls
from lamoo_nas.evaluate.latency_keys import LatencyKey, all_latency_keys, build_key_module
from lamoo_nas.runtime.io import append_line, atomic_write_text, read_lines
from lamoo_nas.runtime.schema import file_fields
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.latency import TableLatency
from lamoo_nas.supernet.space import ArchConfig, SearchSpace

FORMAT = "lamoo-nas/latency-table"
VERSION = 1
RUNTIMES = ("torch", "onnxruntime")


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class LatencyTable:
    """A table file's header and its measured keys -> latency (ms): the median over the
    key's rounds (``rounds_ms``, each the median of ``repeats`` runs)."""

    path: Path
    header: dict[str, Any]
    latency_ms: dict[LatencyKey, float] = field(repr=False)
    rounds_ms: dict[LatencyKey, tuple[float, ...]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.latency_ms)

    def __contains__(self, key: object) -> bool:
        return key in self.latency_ms

    def missing(self, keys: Iterable[LatencyKey]) -> list[LatencyKey]:
        """The distinct ``keys`` the table has no entry for, sorted."""
        return sorted(set(keys) - set(self.latency_ms))

    @property
    def fingerprint(self) -> str:
        """Short hash of the header and the entries: equal tables predict equally (a resumed
        search can refuse a table that changed under it)."""
        rows = sorted(f"{key.id}={ms!r}" for key, ms in self.latency_ms.items())
        blob = json.dumps([self.header, rows], sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def device_description(device: str, runtime: str) -> str:
    """``"cpu: <CPU model>"`` (from ``/proc/cpuinfo``) or ``"cuda: <GPU name>"``."""
    if torch.device(device).type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(torch.device(device))}"
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model or platform.processor() or platform.machine()}"


def table_header(
    space: SearchSpace, num_classes: int, *, device: str, runtime: str, batch_size: int,
    num_threads: int, warmup: int, repeats: int, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    """The first line of a table file: what every entry below was measured for and with."""
    versions = {"torch": torch.__version__}
    if runtime == "onnxruntime":
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    return {
        "format": FORMAT, "version": VERSION, "space": space.name,
        "space_fingerprint": space.fingerprint, "num_classes": num_classes,
        "device": device_description(device, runtime), "runtime": runtime,
        "versions": versions, "num_threads": num_threads, "batch_size": batch_size,
        "warmup": warmup, "repeats": repeats, "rounds": rounds,
    }  # fmt: skip


def _check_settings(device: str, runtime: str, batch_size: int, num_threads: int,
                    warmup: int, repeats: int, rounds: int) -> None:  # fmt: skip
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime is {runtime!r}; allowed: {list(RUNTIMES)}")
    if runtime == "onnxruntime" and torch.device(device).type != "cpu":
        raise ConfigError(f"runtime onnxruntime runs on the CPU; device must be cpu, not {device}")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device} but CUDA is not available; use device=cpu")
    for name, value, low in (("batch_size", batch_size, 1), ("num_threads", num_threads, 1),
                             ("warmup", warmup, 0), ("repeats", repeats, 1),
                             ("rounds", rounds, 1)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")


def build_latency_table(
    space: SearchSpace,
    num_classes: int,
    path: str | Path,
    *,
    device: str = "cpu",
    runtime: str = "torch",
    batch_size: int = 1,
    num_threads: int = 1,
    warmup: int = 5,
    repeats: int = 20,
    rounds: int = 3,
    max_keys: int | None = None,
    progress: bool = True,
) -> LatencyTable:
    """Measure every key of ``space`` not yet in the table at ``path`` and append it there.

    Each key's module runs standalone on a ``(batch_size, C, size, size)`` input: torch via
    :func:`evaluate.latency.measure_latency_ms`, or an ONNX Runtime CPU session with
    ``intra_op_num_threads=num_threads``; the median of ``repeats`` timed runs is one line.
    A shared machine's speed drifts over fractions of a second, so every key is measured in
    ``rounds`` passes over all keys (interleaved in time) and its entry is the median of its
    rounds. ``max_keys`` stops after that many new measurements (the rest waits for a rerun).
    Torch's thread count is ``num_threads`` during the build and restored after it.

    Example:
        >>> from supernet import load_space
        >>> build_latency_table(load_space("tiny"), 10, "t.jsonl", repeats=5)  # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    _check_settings(device, runtime, batch_size, num_threads, warmup, repeats, rounds)
    path = Path(path)
    header = table_header(space, num_classes, device=device, runtime=runtime,
                          batch_size=batch_size, num_threads=num_threads, warmup=warmup,
                          repeats=repeats, rounds=rounds)  # fmt: skip
    done = _open_for_append(path, header)
    keys = all_latency_keys(space)
    todo = [(r, k) for r in range(rounds) for k in keys if len(done.get(k, ())) <= r]
    if max_keys is not None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 0:
            raise ConfigError(f"max_keys must be null or an integer >= 0, got {max_keys!r}")
        todo = todo[:max_keys]
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        for r, key in tqdm(todo, desc=f"latency {space.name}", unit="key", disable=not progress):
            stats = measure_key(key, num_classes, device, runtime, batch_size, num_threads,
                                warmup, repeats)  # fmt: skip
            row = {"key": key.to_dict(), "round": r, "median_ms": stats.median_ms,
                   "p90_ms": stats.p90_ms, "min_ms": stats.min_ms}  # fmt: skip
            append_line(path, json.dumps(row))
    finally:
        torch.set_num_threads(previous_threads)
    return load_latency_table(path, space, num_classes)


def measure_key(
    key: LatencyKey, num_classes: int, device: str, runtime: str, batch_size: int,
    num_threads: int, warmup: int, repeats: int,
) -> LatencyStats:  # fmt: skip
    """Latency statistics of one key's module (see :func:`build_latency_table`)."""
    module = build_key_module(key, num_classes)
    shape = (batch_size, key.in_channels, key.size, key.size)
    if runtime == "onnxruntime":
        return measure_onnx_latency_ms(module, shape, num_threads, warmup, repeats)
    return measure_latency_ms(module, shape, device, warmup, repeats)


def measure_onnx_latency_ms(
    model: nn.Module, input_shape: tuple[int, ...], num_threads: int, warmup: int, repeats: int
) -> LatencyStats:
    """Time an ONNX Runtime CPU session of ``model`` (exported to a temp folder) on one input."""
    import onnxruntime as ort

    from lamoo_nas.evaluate.export import _write_onnx  # the project's one ONNX exporter

    example = torch.randn(*input_shape, generator=torch.Generator().manual_seed(0))
    options = ort.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = Path(folder) / "block.onnx"
        _write_onnx(model.eval(), example, onnx_path)
        session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: example.numpy()}
    times_ms = time_calls(lambda: session.run(None, feed), warmup, repeats)
    return LatencyStats.from_times(
        times_ms, int(input_shape[0]), warmup, "cpu:onnxruntime", num_threads
    )


def _open_for_append(path: Path, header: dict[str, Any]) -> dict[LatencyKey, list[float]]:
    """Write the header of a new table, or check an existing one's (dropping a torn last line)
    and return its measured keys."""
    if not path.exists() or path.stat().st_size == 0:  # the header is written atomically
        atomic_write_text(path, json.dumps(header) + "\n")
        return {}
    lines = read_lines(path)
    old = _parse_header(path, lines)
    differs = [f"{name}: table {old.get(name)!r}, now {value!r}"
               for name, value in header.items() if old.get(name) != value]  # fmt: skip
    if differs:
        raise LatencyTableError(
            f"latency table {path} was measured for another setup ({'; '.join(differs)}); "
            "give another out= or the table's own settings"
        )
    entries = _parse_entries(path, lines)
    if not path.read_bytes().endswith(b"\n"):  # an interrupted append: drop the fragment
        atomic_write_text(path, "".join(line + "\n" for line in lines))
    return entries


def _parse_header(path: Path, lines: list[str]) -> dict[str, Any]:
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise LatencyTableError(
            f"{path} is not a latency table of this project (no {FORMAT!r} header line); "
            "build one with nas-latency-table out=PATH"
        )
    if header.get("version") != VERSION:
        raise LatencyTableError(
            f"latency table {path} has format version {header.get('version')}, this code "
            f"reads {VERSION}; rebuild it with nas-latency-table"
        )
    return header


def _parse_entries(path: Path, lines: list[str]) -> dict[LatencyKey, list[float]]:
    """Each key's round medians, in round order (a repeated round keeps its first line)."""
    rounds: dict[LatencyKey, dict[int, float]] = {}
    for number, line in enumerate(lines[1:], start=2):
        where = f"line {number} of latency table {path}"
        try:
            row = json.loads(line)
            key = LatencyKey.from_dict(row["key"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
            raise LatencyTableError(f"{where} is not an entry ({err}); {_CORRUPT}") from err
        typed = file_fields(row, ENTRY_TYPES, where, LatencyTableError, _CORRUPT)
        if set(typed) != set(ENTRY_TYPES):
            raise LatencyTableError(f"{where} lacks {sorted(set(ENTRY_TYPES) - set(typed))}; "
                                    f"{_CORRUPT}")  # fmt: skip
        ms, number_of_round = typed["median_ms"], typed["round"]
        if not (math.isfinite(ms) and ms > 0) or number_of_round < 0:
            raise LatencyTableError(
                f"{where}: median_ms {ms!r} must be a positive number and round "
                f"{number_of_round} >= 0; {_CORRUPT}"
            )
        rounds.setdefault(key, {}).setdefault(number_of_round, ms)
    return {key: [by_round[r] for r in sorted(by_round)] for key, by_round in rounds.items()}


HEADER_TYPES: dict[str, Any] = {"num_classes": int, "space": str, "space_fingerprint": str}
"""What the header fields a table is matched by must be."""
ENTRY_TYPES: dict[str, Any] = {"median_ms": float, "round": int}
"""What an entry line's fields must be (besides its ``key``), checked like settings."""
_CORRUPT = "the file is corrupt: delete it and rebuild with nas-latency-table"


def load_latency_table(path: str | Path, space: SearchSpace, num_classes: int) -> LatencyTable:
    """Read a table file made for ``space`` and ``num_classes`` (a torn last line is ignored).

    Example:
        >>> from supernet import load_space
        >>> load_latency_table("tiny_cpu.jsonl", load_space("tiny"), 10)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise LatencyTableError(
            f"no latency table at {path}; build one with "
            f"nas-latency-table space={space.name} out={path}"
        )
    lines = read_lines(path)
    header = _parse_header(path, lines)
    header.update(file_fields(header, HEADER_TYPES, f"latency table {path}: header",
                              LatencyTableError, _CORRUPT))  # fmt: skip
    if (header.get("space"), header.get("space_fingerprint")) != (space.name, space.fingerprint):
        raise LatencyTableError(
            f"latency table {path} was measured for space {header.get('space')!r} (fingerprint "
            f"{header.get('space_fingerprint')}), not {space.name!r} ({space.fingerprint}); "
            "build one for this space with nas-latency-table"
        )
    if header.get("num_classes") != num_classes:
        raise LatencyTableError(
            f"latency table {path} has a {header.get('num_classes')}-class head, this run "
            f"{num_classes}; build one with num_classes={num_classes}"
        )
    entries = _parse_entries(path, lines)
    latency_ms = {key: float(np.median(ms)) for key, ms in entries.items()}
    return LatencyTable(path, header, latency_ms, {k: tuple(ms) for k, ms in entries.items()})


# --------------------------------------------------------------------------- prediction
class LatencyPredictor(TableLatency):
    """Latency (ms) of an architecture as the sum of its keys' entries in a table file, cached
    per arch (:class:`supernet.latency.TableLatency` over the file's :class:`LatencyTable`).

    ``scale * sum + offset`` once :meth:`fit_correction` fitted the pair on measured networks.
    The plain sum ranks networks but runs low in absolute terms: a block timed alone keeps its
    weights and input in cache from run to run, one in a network does not (on the CPU of
    ``bench/evaluate/latency_bench.py`` the sum was 11-26 % below whole-network medians, and a
    fit on 10 networks brought the held-out error to 7-11 %).

    Example:
        >>> predictor = LatencyPredictor(space, 10, load_latency_table(path, space, 10))
        ... # doctest: +SKIP
        >>> predictor.predict_ms(space.largest()) > predictor.fastest_ms()  # doctest: +SKIP
        True
    """

    def __init__(
        self, space: SearchSpace, num_classes: int, table: LatencyTable,
        scale: float = 1.0, offset: float = 0.0,
    ) -> None:  # fmt: skip
        if (table.header["space_fingerprint"], table.header["num_classes"]) != (
            space.fingerprint, num_classes,
        ):  # fmt: skip
            raise LatencyTableError(
                f"latency table {table.path} is for space {table.header['space']!r} with "
                f"{table.header['num_classes']} classes, not {space.name!r} with {num_classes}"
            )
        super().__init__(space, table.latency_ms, scale, offset)
        self.num_classes, self.table = num_classes, table

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace, num_classes: int) -> LatencyPredictor:
        """The predictor of the table file at ``path`` (see :func:`load_latency_table`)."""
        return cls(space, num_classes, load_latency_table(path, space, num_classes))

    def missing_error(self, missing: list[LatencyKey], what: str) -> Exception:
        """:class:`LatencyTableError` naming the keys, the file and the command that adds them."""
        shown = ", ".join(k.id for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
        return LatencyTableError(
            f"latency table {self.table.path} lacks {len(missing)} key(s) of {what}: "
            f"{shown}; rebuild it: nas-latency-table space={self.space.name} "
            f"out={self.table.path} (a rerun measures only the missing keys)"
        )

    def fit_correction(self, measured: Sequence[tuple[ArchConfig, float]]) -> LatencyPredictor:
        """A predictor whose ``predict_ms`` is ``a * table_sum + b``, least squares over the
        ``(arch, measured_ms)`` of a few whole networks (at least 2 with distinct sums).

        Example:
            >>> corrected = predictor.fit_correction([(a1, 3.1), (a2, 5.0), (a3, 7.2)])
            ... # doctest: +SKIP
        """
        sums = np.array([self.table_sum_ms(arch) for arch, _ in measured], dtype=np.float64)
        ms = np.array([m for _, m in measured], dtype=np.float64)
        if len(measured) < 2 or np.ptp(sums) == 0:
            raise LatencyTableError(
                f"fit_correction needs >= 2 networks with distinct table sums, got {len(measured)}"
            )
        scale, offset = np.polyfit(sums, ms, 1)
        if scale <= 0:
            raise LatencyTableError(
                f"the measured latencies fall as the table's sums rise (slope {scale:.3g}): "
                "the measurements are noise; time the networks with more repeats"
            )
        return LatencyPredictor(self.space, self.num_classes, self.table, float(scale),
                                float(offset))  # fmt: skip
