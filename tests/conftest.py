"""Shared test settings: one torch thread (the CI box has 2 shared cores); the shared fixtures
(a tiny space, the digits data, a trained supernet run) are in :mod:`tests.fixtures`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

pytest_plugins = ("tests.fixtures",)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
