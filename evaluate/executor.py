"""Run a batch of independent tasks in parallel: in this process, in local worker processes, or
on Ray actors, with the results in the order of the batch.

A pool is built from a *setup* function that every worker runs once (e.g. load the supernet and
its calibration batches; :mod:`evaluate.pooled_accuracy`) and runs ``task(state, item)`` for
the items of a batch, each on whichever worker is free. Setup and task must be picklable
(module-level functions, or frozen dataclasses with a ``__call__``). A task that raises ends the
batch with that exception. A worker that dies (killed, out of memory, a crashed driver) has its
item re-queued on a fresh worker, at most ``max_retries`` times per item; after that the batch
ends with :class:`WorkerDiedError`.

Backends (``executor=`` group, ``conf/executor/``):

- ``serial``: this process, one item after another (the default; no extra process).
- ``local``: ``num_workers`` processes on this machine (spawned, so CUDA works in them); on CUDA
  worker ``i`` gets GPU ``i mod #GPUs``.
- ``ray``: ``num_workers`` Ray actors (:mod:`evaluate._ray_pool`), on a local Ray instance or
  a cluster (``executor.ray.address``), each holding ``num_gpus_per_worker`` GPUs.

Example:
    >>> with make_pool(ExecutorConfig(kind="serial"), setup=WorkerInfo.itself) as pool:
    ...     pool.map(_describe, [1, 2])
    ['1 on worker 0', '2 on worker 0']
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import sys
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from lamoo_nas.evaluate.errors import EvaluateError
from lamoo_nas.supernet.errors import ConfigError

KINDS = ("serial", "local", "ray")

OnResult = Callable[[int, Any], None]
"""Called in the driver as each result arrives: ``on_result(index_in_batch, result)``."""


class ExecutorError(EvaluateError):
    """A pool could not run: a backend that is not installed, a worker whose setup failed."""


class WorkerDiedError(ExecutorError):
    """A worker process died on the same item more than ``max_retries`` times."""


@dataclass(frozen=True)
class RayOptions:
    """Where the Ray actors run and what each one holds (``executor.ray.*``)."""

    address: str | None = None  # None: a local Ray instance; "auto" / "ray://host:10001": a cluster
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float | None = None  # None: 1 on CUDA, else 0


@dataclass(frozen=True)
class ExecutorConfig:
    """How a batch of evaluations is spread (``conf/executor/*.yaml``)."""

    kind: str = "serial"
    num_workers: int | None = None  # None: one per GPU on CUDA, else one per CPU core
    max_retries: int = 2  # re-queues of one item whose worker died
    ray: RayOptions = field(default_factory=RayOptions)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"executor.kind is {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.num_workers is not None and (
            isinstance(self.num_workers, bool) or self.num_workers < 1
        ):
            raise ConfigError(
                f"executor.num_workers must be a positive integer or null, got {self.num_workers!r}"
            )
        if isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ConfigError(f"executor.max_retries must be >= 0, got {self.max_retries!r}")


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker's setup is told: its index, the device setting, its GPU and threads.

    ``device`` is the command's device setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``), the
    same in every worker, so what a worker writes (configs, checkpoints) is what a serial run
    writes. A local worker with a ``gpu`` sees only that GPU (``CUDA_VISIBLE_DEVICES``), so
    ``cuda`` is its own; Ray does the same for its actors.
    """

    index: int
    device: str = "cpu"
    gpu: str | None = None  # this worker's CUDA_VISIBLE_DEVICES (local workers on CUDA)
    num_threads: int | None = 1

    def torch_device(self) -> Any:
        from lamoo_nas.runtime.distributed import pick_device

        return pick_device(self.device)

    @staticmethod
    def itself(info: WorkerInfo) -> WorkerInfo:
        """A setup that keeps only the worker's own info (for stateless tasks)."""
        return info


class Pool(Protocol):
    """What every backend offers."""

    num_workers: int

    def map(
        self, task: Callable[[Any, Any], Any], items: Sequence[Any], on_result: OnResult | None
    ) -> list[Any]:
        """``[task(state, item) for item in items]``, run in parallel, in the items' order."""
        ...

    def each(self, task: Callable[[Any, Any], Any]) -> list[Any]:
        """``task(state, None)`` once on every worker, in worker order."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Pool: ...

    def __exit__(self, *exc: object) -> None: ...


class _PoolBase:
    num_workers = 1

    def close(self) -> None:
        pass

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialPool(_PoolBase):
    """This process; the setup runs at the first task."""

    def __init__(self, setup: Callable[[WorkerInfo], Any], info: WorkerInfo) -> None:
        self._setup, self._info = setup, info
        self._state: Any = None
        self._ready = False

    def _get_state(self) -> Any:
        if not self._ready:
            self._state, self._ready = self._setup(self._info), True
        return self._state

    def map(
        self,
        task: Callable[[Any, Any], Any],
        items: Sequence[Any],
        on_result: OnResult | None = None,
    ) -> list[Any]:
        out = []
        for i, item in enumerate(items):
            out.append(task(self._get_state(), item))
            if on_result is not None:
                on_result(i, out[-1])
        return out

    def each(self, task: Callable[[Any, Any], Any]) -> list[Any]:
        return [task(self._get_state(), None)]


@dataclass
class _Process:
    info: WorkerInfo
    process: Any
    conn: Connection
    busy: int | None = None  # index in the batch of the item it holds


class LocalPool(_PoolBase):
    """``num_workers`` spawned processes, each running ``setup`` once, then tasks.

    After a task error or :class:`WorkerDiedError` the items still in flight are waited for
    and dropped, so the pool can run the next batch.
    """

    def __init__(
        self, setup: Callable[[WorkerInfo], Any], infos: Sequence[WorkerInfo], max_retries: int
    ) -> None:
        self._setup, self.max_retries = setup, max_retries
        self._context = mp.get_context("spawn")
        self.num_workers = len(infos)
        self._workers = [self._start(info) for info in infos]

    def _start(self, info: WorkerInfo) -> _Process:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self._setup, info), daemon=True
        )
        process.start()
        child.close()
        return _Process(info, process, parent)

    def each(self, task: Callable[[Any, Any], Any]) -> list[Any]:
        out: list[Any] = []
        for worker in list(self._workers):
            with contextlib.suppress(OSError):
                worker.conn.send((-1, task, None))
            kind, _, payload = self._receive(worker)
            if kind == "died":
                self._replace(worker)
                raise WorkerDiedError(
                    f"local worker {worker.info.index} died (exit code {payload}) while "
                    "starting; see its output above"
                )
            if kind != "ok":
                _raise_failure(payload)
            out.append(payload)
        return out

    def map(
        self,
        task: Callable[[Any, Any], Any],
        items: Sequence[Any],
        on_result: OnResult | None = None,
    ) -> list[Any]:
        results: dict[int, Any] = {}
        queue = deque(range(len(items)))
        retries = [0] * len(items)
        while len(results) < len(items):
            for worker in self._workers:
                if worker.busy is None and queue:
                    worker.busy = queue.popleft()
                    with contextlib.suppress(OSError):  # a dead worker: its sentinel says so
                        worker.conn.send((worker.busy, task, items[worker.busy]))
            busy = [w for w in self._workers if w.busy is not None]
            ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.conn not in ready and worker.process.sentinel not in ready:
                    continue
                index = worker.busy
                assert index is not None
                kind, _, payload = self._receive(worker)
                worker.busy = None
                if kind == "died":
                    self._replace(worker)
                    retries[index] += 1
                    self._retry_or_raise(items[index], retries[index], worker, payload)
                    queue.appendleft(index)
                elif kind != "ok":
                    self._drain()
                    _raise_failure(payload)
                else:
                    results[index] = payload
                    if on_result is not None:
                        on_result(index, payload)
        return [results[i] for i in range(len(items))]

    def _retry_or_raise(self, item: Any, tries: int, worker: _Process, exit_code: Any) -> None:
        where = f"local worker {worker.info.index} died (exit code {exit_code})"
        if tries > self.max_retries:
            self._drain()
            raise WorkerDiedError(
                f"{where} on item {item!r}, {tries} times; raise executor.max_retries or find "
                "out why (memory?) in the worker's output above"
            )
        print(
            f"note: {where} on {item!r}; re-queued it on a fresh worker "
            f"(retry {tries} of {self.max_retries})",
            file=sys.stderr,
            flush=True,
        )

    def _receive(self, worker: _Process) -> tuple[str, int, Any]:
        """The worker's next message, or ``("died", -1, exit_code)``."""
        try:
            kind, index, payload = worker.conn.recv()
            return kind, index, payload
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            return "died", -1, worker.process.exitcode

    def _replace(self, worker: _Process) -> None:
        worker.conn.close()
        self._workers[self._workers.index(worker)] = self._start(worker.info)

    def _drain(self) -> None:
        """Wait for (and drop) the items still in flight."""
        for worker in list(self._workers):
            if worker.busy is not None:
                worker.busy = None
                if self._receive(worker)[0] == "died":
                    self._replace(worker)

    def close(self) -> None:
        for worker in self._workers:
            if worker.process.is_alive():
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=10)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join()
            worker.conn.close()
        self._workers = []


def _worker_main(conn: Connection, setup: Callable[[WorkerInfo], Any], info: WorkerInfo) -> None:
    """A local worker: set the threads, run ``setup``, then tasks until told to stop or until
    the driver is gone (its end of the pipe closed: the worker exits, nothing is orphaned).
    Ctrl-C is the driver's to handle: it stops the workers."""
    import signal

    from lamoo_nas.runtime.threads import set_threads

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    state: Any = None
    if info.gpu is not None:  # before torch starts CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = info.gpu
    try:
        set_threads(info.num_threads)
        state = setup(info)
        failure = None
    except Exception as error:  # reported with the first task
        failure = _failure(error)
    with contextlib.suppress(EOFError, OSError):
        while (message := conn.recv()) is not None:
            index, task, item = message
            if failure is not None:
                conn.send(("error", index, failure))
                continue
            try:
                reply = ("ok", index, task(state, item))
            except Exception as error:
                reply = ("error", index, _failure(error))
            conn.send(reply)


def _raise_failure(payload: tuple[BaseException | None, str]) -> None:
    error, text = payload
    if isinstance(error, BaseException):
        raise error  # the worker's own exception (its traceback was printed there)
    raise ExecutorError(f"a local worker failed:\n{text}")


def _failure(error: BaseException) -> tuple[BaseException | None, str]:
    """The exception itself when it pickles (so the driver raises it), and its traceback."""
    import pickle

    text = traceback.format_exc()
    print(text, file=sys.stderr, flush=True)
    try:
        pickle.dumps(error)
        return error, text
    except Exception:
        return None, text


def worker_infos(config: ExecutorConfig, device: str, num_threads: int | None) -> list[WorkerInfo]:
    """One :class:`WorkerInfo` per worker. On CUDA (``device`` ``auto`` or ``cuda`` on a GPU
    machine) worker ``i`` gets GPU ``i`` mod the GPU count, and ``num_workers=None`` means one
    per GPU; on CPU it means one per CPU core."""
    import torch

    gpus = torch.cuda.device_count() if device in ("auto", "cuda") else 0
    count = config.num_workers or (gpus or os.cpu_count() or 1)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = visible.split(",") if visible else [str(i) for i in range(gpus)]
    return [
        WorkerInfo(i, device, ids[i % gpus] if gpus else None, num_threads) for i in range(count)
    ]


def make_pool(
    config: ExecutorConfig,
    setup: Callable[[WorkerInfo], Any],
    device: str = "cpu",
    num_threads: int | None = 1,
    max_workers: int | None = None,
) -> Any:
    """The pool ``config`` names (a context manager; close it to stop its workers).

    ``max_workers`` caps the worker count (e.g. at the number of jobs there are).
    """
    if config.kind == "serial":
        return SerialPool(setup, WorkerInfo(0, device, None, num_threads))
    if config.kind == "local":
        infos = worker_infos(config, device, num_threads)[: max_workers or None]
        return LocalPool(setup, infos, config.max_retries)
    from lamoo_nas.evaluate._ray_pool import RayPool

    return RayPool(
        setup, config.num_workers, max_workers, device, num_threads, config.ray, config.max_retries
    )


def executor_from_plain(plain: Any) -> ExecutorConfig:
    """The typed executor settings from ``conf/executor/*.yaml`` (None: serial)."""
    from lamoo_nas.runtime.schema import build

    return build(ExecutorConfig, plain, "executor")


def _describe(info: WorkerInfo, item: Any) -> str:
    return f"{item} on worker {info.index}"
