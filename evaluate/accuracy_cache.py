"""Inherited accuracies kept on disk, one JSON line per architecture, appended as they come.

``accuracy_cache.jsonl`` in a search's run directory starts with a header line that says what
the accuracies were measured with: the space fingerprint, the supernet checkpoint (path, epoch,
step and a fingerprint of its weights) and the evaluation data (calibration and validation
image counts). Every newly scored architecture then appends ``{"arch": ..., "accuracy": ...}``
(:func:`runtime.io.append_line`, fsynced), so a killed search loses at most the architecture it
was scoring, and writing costs one line per architecture, not the whole table. A cache whose
header differs from the current evaluator's is refused (:class:`AccuracyCacheMismatchError`):
a resumed run directory was given another supernet or other data.

Example:
    >>> cache = AccuracyCache(run_dir / CACHE_NAME, evaluator.identity(), space)  # doctest: +SKIP
    >>> scores = cache.load()  # {ArchConfig: accuracy}; writes the header when new
    >>> cache.append(arch, 0.97)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lamoo_nas.evaluate.errors import AccuracyCacheMismatchError
from lamoo_nas.runtime.io import append_line, atomic_write_text, read_lines
from lamoo_nas.supernet import ArchConfig, SearchSpace

CACHE_NAME = "accuracy_cache.jsonl"
CACHE_FORMAT = "lamoo-nas/accuracy-cache"
CACHE_VERSION = 1
SAMPLED_TENSORS = 8
"""Tensors whose bytes go into :func:`weights_fingerprint` (spread over the state dict)."""


@dataclass(frozen=True)
class CheckpointOrigin:
    """Where a supernet's weights came from (recorded in the cache header)."""

    path: str
    epoch: int
    step: int


def weights_fingerprint(module: nn.Module, num_tensors: int = SAMPLED_TENSORS) -> str:
    """Short hash of every tensor's name and shape plus the bytes of ``num_tensors`` of them,
    spread evenly over the state dict: two checkpoints of one run (or raw vs EMA weights)
    differ in all their tensors, so a few tell them apart without hashing every byte.

    Example:
        >>> weights_fingerprint(nn.Linear(2, 2)) == weights_fingerprint(nn.Linear(2, 2))
        False
    """
    state = module.state_dict()
    digest = hashlib.blake2b(digest_size=8)
    for name, tensor in state.items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
    names = list(state)
    step = max(len(names) / max(num_tensors, 1), 1.0)
    sampled = sorted({names[int(i * step)] for i in range(min(num_tensors, len(names)))})
    for name in sampled:
        flat = state[name].detach().reshape(-1).contiguous().cpu()
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cache_header(
    space: SearchSpace,
    origin: CheckpointOrigin | None,
    weights: str,
    calib_images: int,
    val_images: int,
) -> dict[str, Any]:
    """The first line of a cache: what its accuracies were measured with."""
    supernet: dict[str, Any] = {"path": None, "epoch": None, "step": None}
    if origin is not None:
        supernet = {"path": origin.path, "epoch": origin.epoch, "step": origin.step}
    return {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "space_fingerprint": space.fingerprint,
        "supernet": {**supernet, "weights": weights},
        "data": {"calib_images": calib_images, "val_images": val_images},
    }


class AccuracyCache:
    """The accuracies of one supernet on one evaluation set, append-only on disk."""

    def __init__(self, path: str | Path, header: Mapping[str, Any], space: SearchSpace) -> None:
        self.path = Path(path)
        self.header = json.loads(json.dumps(header))  # as it reads back (tuples -> lists)
        self.space = space

    def load(self) -> dict[ArchConfig, float]:
        """Every accuracy the file holds (a torn last line is dropped, and cut off the file so
        the next line starts clean); a new file gets its header. Raises
        :class:`AccuracyCacheMismatchError` if the file was written for another evaluator."""
        lines = read_lines(self.path)
        if not lines:
            atomic_write_text(self.path, json.dumps(self.header) + "\n")
            return {}
        found = _parse_header(lines[0])
        if found != self.header:
            raise AccuracyCacheMismatchError(_mismatch(self.path, found, self.header))
        if not self.path.read_bytes().endswith(b"\n"):  # torn by a kill mid-append
            atomic_write_text(self.path, "".join(line + "\n" for line in lines))
        scores = {}
        for line in lines[1:]:
            row = json.loads(line)
            scores[self.space.arch_from_json(row["arch"])] = float(row["accuracy"])
        return scores

    def append(self, arch: ArchConfig, accuracy: float) -> None:
        """Record one newly scored architecture (one fsynced line)."""
        row = {"arch": self.space.arch_to_json(arch), "accuracy": accuracy}
        append_line(self.path, json.dumps(row))


def _parse_header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return header if isinstance(header, dict) else {}


def _describe(header: Mapping[str, Any]) -> str:
    net, data = header.get("supernet") or {}, header.get("data") or {}
    return (
        f"supernet {net.get('path')} (epoch {net.get('epoch')}, step {net.get('step')}, "
        f"weights {net.get('weights')}, space {header.get('space_fingerprint')}) with "
        f"{data.get('calib_images')} calibration and {data.get('val_images')} validation images"
    )


def _mismatch(path: Path, found: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    if found.get("format") != CACHE_FORMAT or found.get("version") != CACHE_VERSION:
        return (
            f"{path} is not an accuracy cache of this version (format {found.get('format')!r} "
            f"v{found.get('version')}, this code writes {CACHE_FORMAT!r} v{CACHE_VERSION}); "
            "remove it or give a new run_dir="
        )
    return (
        f"{path} holds accuracies of {_describe(found)}, but this search evaluates "
        f"{_describe(expected)}; resume with the supernet and data it was searched with, or "
        "give a new run_dir="
    )
