"""Wall-clock inference latency: median and p90 of repeated timed runs after a warm-up.

Runs under ``torch.inference_mode`` on a copy of the model in eval mode; on CUDA every run is
bracketed by ``torch.cuda.synchronize`` so the time covers the kernels, not just the launch.

Example:
    >>> stats = measure_latency_ms(torch.nn.Conv2d(3, 8, 3), (1, 3, 16, 16), "cpu", 2, 5)
    >>> stats.median_ms > 0
    True
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from lamoo_nas.supernet.errors import ConfigError


@dataclass(frozen=True)
class LatencyStats:
    """Per-run latency in milliseconds over ``repeats`` runs of a ``batch_size`` input."""

    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    batch_size: int
    repeats: int
    warmup: int
    device: str
    num_threads: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_times(
        cls, times_ms: np.ndarray, batch_size: int, warmup: int, device: str, num_threads: int
    ) -> LatencyStats:
        """The statistics of measured per-run times (see :func:`time_calls`)."""
        return cls(
            median_ms=float(np.median(times_ms)),
            p90_ms=float(np.percentile(times_ms, 90)),
            mean_ms=float(times_ms.mean()),
            min_ms=float(times_ms.min()),
            batch_size=batch_size,
            repeats=int(times_ms.shape[0]),
            warmup=warmup,
            device=device,
            num_threads=num_threads,
        )


def measure_latency_ms(
    model: nn.Module,
    input_shape: tuple[int, ...],
    device: str | torch.device = "cpu",
    warmup: int = 10,
    repeats: int = 50,
) -> LatencyStats:
    """Time ``model(x)`` for ``x`` of ``input_shape`` (e.g. ``(1, 3, R, R)``) on ``device``.

    Example:
        >>> measure_latency_ms(net, (1, 3, 20, 20), "cpu").median_ms  # doctest: +SKIP
        1.7
    """
    if warmup < 0 or repeats < 1:
        raise ConfigError(f"latency needs warmup >= 0 and repeats >= 1, got {warmup}, {repeats}")
    device = torch.device(device)
    net = copy.deepcopy(model).to(device).eval()
    x = torch.randn(*input_shape, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        times_ms = time_calls(lambda: net(x), warmup, repeats, sync=lambda: _sync(device))
    return LatencyStats.from_times(
        times_ms, int(input_shape[0]), warmup, str(device), torch.get_num_threads()
    )


def time_calls(
    call: Callable[[], object],
    warmup: int,
    repeats: int,
    sync: Callable[[], None] = lambda: None,
) -> np.ndarray:
    """``repeats`` wall times (ms) of ``call()`` after ``warmup`` untimed calls; ``sync`` waits
    for the device after the warm-up and after each timed call."""
    for _ in range(warmup):
        call()
    sync()
    times_ms = np.empty(repeats, dtype=np.float64)
    for i in range(repeats):
        start = time.perf_counter()
        call()
        sync()
        times_ms[i] = (time.perf_counter() - start) * 1e3
    return times_ms


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
