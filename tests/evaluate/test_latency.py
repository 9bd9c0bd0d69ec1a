"""Latency: statistics are consistent, bad settings raise, the model is left untouched."""

from __future__ import annotations

import pytest
import torch

from lamoo_nas.evaluate.latency import measure_latency_ms
from lamoo_nas.supernet.errors import ConfigError


def test_latency_stats_are_ordered_and_positive() -> None:
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    net.train()
    stats = measure_latency_ms(net, (1, 3, 16, 16), "cpu", warmup=1, repeats=7)
    assert 0 < stats.min_ms <= stats.median_ms <= stats.p90_ms
    assert stats.repeats == 7 and stats.batch_size == 1 and stats.device == "cpu"
    assert net.training  # measured a copy in eval mode


def test_slower_model_measures_slower() -> None:
    small = torch.nn.Conv2d(3, 4, 1)
    big = torch.nn.Sequential(*[torch.nn.Conv2d(64, 64, 3, padding=1) for _ in range(4)])
    fast = measure_latency_ms(small, (1, 3, 8, 8), "cpu", 1, 5).median_ms
    slow = measure_latency_ms(big, (1, 64, 32, 32), "cpu", 1, 5).median_ms
    assert slow > fast


def test_bad_repeats_raise() -> None:
    with pytest.raises(ConfigError, match="repeats"):
        measure_latency_ms(torch.nn.Identity(), (1, 3), "cpu", warmup=0, repeats=0)
