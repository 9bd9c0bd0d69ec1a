"""Tasks for the executor tests, in a module of their own so that a spawned worker imports
only this (and the executor), not the test module and everything it imports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lamoo_nas.evaluate.executor import WorkerInfo
from lamoo_nas.supernet.errors import ConfigError


def square(info: WorkerInfo, item: int) -> tuple[int, int, int]:
    return item, item * item, info.index


def which_worker(info: WorkerInfo, _: Any) -> tuple[int, int]:
    return info.index, os.getpid()


def dies_once(info: WorkerInfo, item: tuple[int, str]) -> int:
    """Kills its own process the first time it sees an item whose marker file is missing."""
    value, marker = item
    if marker and not Path(marker).exists():
        Path(marker).touch()
        os._exit(7)
    return value


def always_dies(info: WorkerInfo, item: int) -> int:
    os._exit(9)


def raises(info: WorkerInfo, item: int) -> int:
    if item == 2:
        raise ConfigError(f"item {item} is bad")
    return item


def failing_setup(info: WorkerInfo) -> None:
    raise ConfigError("the worker's data folder is missing")
