"""Plain-JSON pieces of a strategy's state (see :meth:`search.strategy.BaseStrategy.state_dict`).

A strategy's proposals depend on the data told to it and on its random generator. The told data
is the search history's; the state adds what the history cannot give back: the generator's
position, the pending proposals, and a fingerprint of the told data and settings it belongs to.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamoo_nas.search.codec import JSONValue
from lamoo_nas.search.errors import StrategyStateError

STATE_VERSION = 1
"""Version of the layout of :meth:`~search.strategy.BaseStrategy.state_dict`."""


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """The position of ``rng`` as plain JSON data (its ``bit_generator.state``, a copy).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> state = generator_state(rng)
        >>> first = rng.random()
        >>> set_generator_state(rng, state)
        >>> rng.random() == first
        True
    """
    return copy.deepcopy(dict(rng.bit_generator.state))


def set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Move ``rng`` to a position saved by :func:`generator_state` (same bit generator)."""
    kind = type(rng.bit_generator).__name__
    if not isinstance(state, dict) or state.get("bit_generator") != kind:
        saved = state.get("bit_generator") if isinstance(state, dict) else state
        raise StrategyStateError(
            f"generator state is for bit generator {saved!r}, this strategy uses {kind!r}"
        )
    rng.bit_generator.state = copy.deepcopy(state)


def told_digest(archs_json: Sequence[JSONValue], y: np.ndarray) -> str:
    """SHA-256 of told architectures (as JSON) and their ``(n, m)`` objectives, bit-exact."""
    digest = hashlib.sha256(json.dumps(list(archs_json), sort_keys=True).encode())
    digest.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    return digest.hexdigest()


def as_plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists), to compare saved settings."""
    return json.loads(json.dumps(value))


def json_sort_key(value: JSONValue) -> str:
    """A total order on JSON values (their canonical text), for stable saved lists."""
    return json.dumps(value, sort_keys=True)


def describe_difference(saved: Any, current: Any, where: str = "") -> str:
    """``saved`` vs ``current`` in words, naming the differing keys of nested dicts.

    Example:
        >>> describe_difference({"seed": 0, "n": 2}, {"seed": 1, "n": 2})
        'seed 0 (this strategy: 1)'
    """
    if isinstance(saved, dict) and isinstance(current, dict):
        keys = [k for k in {**saved, **current} if saved.get(k) != current.get(k)]
        parts = (describe_difference(saved.get(k), current.get(k), f"{where}.{k}") for k in keys)
        return ", ".join(parts)
    return f"{where.lstrip('.')}{' ' if where else ''}{saved!r} (this strategy: {current!r})"
