"""Inherited-weight accuracy scored by a pool of workers (:mod:`evaluate.executor`).

Every worker builds the same :class:`evaluate.evaluator.InheritedAccuracyEvaluator` once, from
a :class:`ScorerSpec` (the checkpoint path and the data settings, not the tensors, so a worker
on another machine loads them itself), and scores the architectures it is handed. The driver
keeps the cache (memory and ``accuracy_cache.jsonl``), so each architecture is scored once
whichever worker gets it. Scoring is deterministic given the supernet and the data (fixed
calibration and validation batches, no sampling), so a search gives the same history with any
backend and worker count.

Example:
    >>> spec = ScorerSpec("outputs/train_supernet/RUN", True, data_cfg, 32, 256, 256, origin)
    >>> with make_pool(ExecutorConfig(kind="local", num_workers=2), spec) as pool:
    ...     PooledAccuracy(pool, space).accuracy(archs)  # doctest: +SKIP
    array([0.93, 0.98])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamoo_nas.evaluate.accuracy_cache import CheckpointOrigin
from lamoo_nas.evaluate.evaluator import CachedAccuracy, InheritedAccuracyEvaluator
from lamoo_nas.evaluate.executor import ExecutorError, Pool, WorkerInfo
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.supernet import ArchConfig, SearchSpace


@dataclass(frozen=True)
class ScorerSpec:
    """How a worker builds its evaluator: the setup of the pool (``spec(worker_info)``)."""

    supernet: str  # run directory or checkpoint
    use_ema: bool
    data: DataConfig
    image_size: int
    calib_images: int
    batch_size: int
    origin: CheckpointOrigin | None = None

    def __call__(self, worker: WorkerInfo) -> InheritedAccuracyEvaluator:
        from lamoo_nas.runtime.data import build_data
        from lamoo_nas.train.checkpoint import load_supernet

        device = worker.torch_device()
        loaded = load_supernet(self.supernet, map_location=device, use_ema=self.use_ema)
        bundle = build_data(self.data, image_size=self.image_size)
        return InheritedAccuracyEvaluator.from_bundle(
            loaded.model, bundle, self.calib_images, self.batch_size, device, self.origin
        )


def score(evaluator: InheritedAccuracyEvaluator, arch: ArchConfig) -> tuple[float, float]:
    """The pool's task: ``(accuracy, seconds)`` of one architecture."""
    return evaluator.timed_score(arch)


def describe(evaluator: InheritedAccuracyEvaluator, _: Any) -> dict[str, Any]:
    """The pool's task that says what a worker measures with (the cache header)."""
    return evaluator.identity()


class PooledAccuracy(CachedAccuracy):
    """:class:`CachedAccuracy` whose new architectures are scored by ``pool``'s workers.

    Raises :class:`evaluate.executor.ExecutorError` when the workers do not all measure with
    the same supernet weights and data (e.g. a data folder that differs between machines).
    """

    def __init__(self, pool: Pool, space: SearchSpace) -> None:
        super().__init__()
        self.pool, self.space = pool, space
        identities = pool.each(describe)
        first = json.dumps(identities[0], sort_keys=True)
        for index, other in enumerate(identities[1:], start=1):
            if json.dumps(other, sort_keys=True) != first:
                raise ExecutorError(
                    f"worker {index} measures with {other}, worker 0 with {identities[0]}: the "
                    "workers must see the same checkpoint and data (same files on every machine)"
                )
        self._identity = identities[0]

    def identity(self) -> dict[str, Any]:
        return self._identity

    def _score_new(self, archs: list[ArchConfig]) -> None:
        def record(index: int, result: tuple[float, float]) -> None:
            self._record(archs[index], *result)

        self.pool.map(score, archs, record)
