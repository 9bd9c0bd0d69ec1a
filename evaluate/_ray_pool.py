"""The ``ray`` backend of :mod:`evaluate.executor`: one Ray actor per worker.

Each actor runs the setup once in its ``__init__`` and then tasks; the driver keeps one task in
flight per actor, so results come back in the batch's order whatever the cluster's timing. An
actor that dies (its node lost, its process killed) is replaced by a fresh one and its item
re-queued, at most ``max_retries`` times per item. ``address=None`` starts a local Ray instance
(stopped again by :meth:`RayPool.close`); ``auto`` or ``ray://...`` joins a running cluster.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from lamoo_nas.evaluate.executor import (
    ExecutorError,
    OnResult,
    RayOptions,
    WorkerDiedError,
    WorkerInfo,
    _PoolBase,
)

RAY_MISSING = (
    "executor=ray needs Ray, which is not installed; `pip install 'lamoo-nas[ray]'` "
    "(or `pip install ray`), or use executor=local on one machine"
)


class _Actor:
    """The class Ray makes remote: the setup's state and the task runner."""

    def __init__(self, setup: Callable[[WorkerInfo], Any], info: WorkerInfo) -> None:
        from lamoo_nas.runtime.threads import set_threads

        set_threads(info.num_threads)
        self.state = setup(info)

    def run(self, task: Callable[[Any, Any], Any], item: Any) -> Any:
        return task(self.state, item)


class RayPool(_PoolBase):
    """``num_workers`` Ray actors (None: as many as the cluster's GPUs or CPUs hold, at most
    ``max_workers``), each with ``options.num_cpus_per_worker`` CPUs and its GPUs."""

    def __init__(
        self,
        setup: Callable[[WorkerInfo], Any],
        num_workers: int | None,
        max_workers: int | None,
        device: str,
        num_threads: int | None,
        options: RayOptions,
        max_retries: int,
    ) -> None:
        try:
            import ray
        except ImportError as err:
            raise ExecutorError(RAY_MISSING) from err
        self._ray, self._setup, self.max_retries = ray, setup, max_retries
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            ray.init(
                address=options.address,
                include_dashboard=False,
                log_to_driver=True,
                configure_logging=False,
            )
        resources = ray.cluster_resources()
        gpus = options.num_gpus_per_worker
        if gpus is None:  # device auto: a GPU each when the cluster has GPUs
            has_gpus = resources.get("GPU", 0) > 0
            gpus = 1.0 if device.startswith("cuda") or (device == "auto" and has_gpus) else 0.0
        if num_workers is None:  # as many as the cluster holds
            num_workers = int(resources.get("GPU", 0) // gpus if gpus else 0) or int(
                resources.get("CPU", 1) // options.num_cpus_per_worker
            )
        num_workers = min(num_workers, max_workers or num_workers)
        # Ray shows each actor only its own GPUs (CUDA_VISIBLE_DEVICES), so none is named here
        self._infos = [WorkerInfo(i, device, None, num_threads) for i in range(max(1, num_workers))]
        self._remote: Any = ray.remote(num_cpus=options.num_cpus_per_worker, num_gpus=gpus)(_Actor)
        self._actors: list[Any] = [self._remote.remote(setup, info) for info in self._infos]
        self.num_workers = len(self._actors)

    def each(self, task: Callable[[Any, Any], Any]) -> list[Any]:
        refs = [actor.run.remote(task, None) for actor in self._actors]
        return [self._get(ref, f"worker {i}") for i, ref in enumerate(refs)]

    def map(
        self,
        task: Callable[[Any, Any], Any],
        items: Sequence[Any],
        on_result: OnResult | None = None,
    ) -> list[Any]:
        ray = self._ray
        results: dict[int, Any] = {}
        queue = deque(range(len(items)))
        retries = [0] * len(items)
        flying: dict[Any, tuple[int, int]] = {}  # ref -> (actor slot, item index)
        idle = deque(range(len(self._actors)))
        while len(results) < len(items):
            while idle and queue:
                slot, index = idle.popleft(), queue.popleft()
                flying[self._actors[slot].run.remote(task, items[index])] = (slot, index)
            (ref,), _ = ray.wait(list(flying), num_returns=1)
            slot, index = flying.pop(ref)
            idle.append(slot)
            try:
                results[index] = self._get(ref, repr(items[index]))
            except ray.exceptions.RayActorError as died:
                self._actors[slot] = self._remote.remote(self._setup, self._infos[slot])
                retries[index] += 1
                if retries[index] > self.max_retries:
                    self._drain(flying)
                    raise WorkerDiedError(
                        f"Ray worker {slot} died on item {items[index]!r}, {retries[index]} "
                        f"times ({died.__class__.__name__}); raise executor.max_retries or find "
                        "out why in the Ray logs"
                    ) from died
                print(
                    f"note: Ray worker {slot} died on {items[index]!r}; re-queued it on a fresh "
                    f"worker (retry {retries[index]} of {self.max_retries})",
                    file=sys.stderr,
                    flush=True,
                )
                queue.appendleft(index)
            except BaseException:
                self._drain(flying)
                raise
            else:
                if on_result is not None:
                    on_result(index, results[index])
        return [results[i] for i in range(len(items))]

    def _get(self, ref: Any, what: str) -> Any:
        """The task's value; its own exception (not Ray's wrapper) when it raised, and an
        :class:`ExecutorError` when the actor's setup failed. A dead actor's
        ``RayActorError`` goes to the caller (to re-queue ``what``)."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as died:
            if not died.actor_init_failed:
                raise
            raise ExecutorError(f"a Ray worker's setup failed ({what}): {died}") from None
        except ray.exceptions.RayTaskError as failed:
            cause = failed.cause
            if isinstance(cause, BaseException):
                raise cause from None
            raise

    def _drain(self, flying: dict[Any, tuple[int, int]]) -> None:
        """Wait for (and drop) the items still in flight; replace actors that died."""
        for ref, (slot, _) in flying.items():
            try:
                self._ray.get(ref)
            except self._ray.exceptions.RayActorError:
                self._actors[slot] = self._remote.remote(self._setup, self._infos[slot])
            except Exception:  # dropped: the batch already failed
                pass
        flying.clear()

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            self._ray.kill(actor)
        self._actors = []
        if getattr(self, "_started_ray", False) and self._ray.is_initialized():
            self._ray.shutdown()
            self._started_ray = False
