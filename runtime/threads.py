"""The thread count of a process: one rule for every command and every pool worker."""

from __future__ import annotations

from typing import Any

from lamoo_nas.supernet.errors import ConfigError


def set_threads(value: Any) -> None:
    """Apply a command's ``num_threads`` (null: leave torch's default, all cores).

    The one place the thread count is set: :func:`commands.runner.run_cli` calls it before
    every command, a pool worker (:mod:`evaluate.executor`) when it starts. Every config
    defaults to :attr:`commands.settings.CommonSettings.num_threads` (1).

    Example:
        >>> set_threads(None)  # torch's default stays
    """
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"num_threads must be a positive integer or null, not {value!r}")
    import torch

    torch.set_num_threads(value)
