"""Typed settings from plain config data: keys and types checked before any work starts.

:func:`build` turns a mapping (a Hydra config section, a YAML file) into one of the project's
frozen config dataclasses. Before constructing it checks every key against the dataclass's
fields (a misspelt key names the nearest one) and every value against the field's annotation
(``optim.lr=abc`` or ``seed=abc`` is one line naming the setting, not a traceback from deep in
the run). The dataclasses' own ``__post_init__`` then checks ranges. Numbers given as strings
(``600e3`` in YAML) are read as numbers; booleans are never numbers.

Example:
    >>> from train.optim import OptimConfig
    >>> build(OptimConfig, {"lr": "1e-3"}, "optim").lr
    0.001
    >>> build(OptimConfig, {"lr": "abc"}, "optim")
    Traceback (most recent call last):
    ...
    supernet.errors.ConfigError: optim.lr is 'abc'; it must be a number (float)
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

from lamoo_nas.supernet.errors import ConfigError, DatasetError

T = TypeVar("T")


def build(cls: type[T], raw: Mapping[str, Any] | None, where: str, **fixed: Any) -> T:
    """``cls(**raw, **fixed)`` after checking ``raw``'s keys and value types; nested dataclass
    fields are built the same way. ``where`` is the setting's dotted prefix for messages."""
    values = dict(raw or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    check_keys(values, [name for name in fields if name not in fixed], where)
    hints = typing.get_type_hints(cls)
    typed = {name: coerce(value, hints[name], _join(where, name)) for name, value in values.items()}
    return cls(**typed, **fixed)


def file_fields(
    raw: Mapping[str, Any],
    types: Mapping[str, Any],
    source: str,
    error: type[Exception] = ConfigError,
    fix: str = "",
) -> dict[str, Any]:
    """The fields of a mapping read from a file (a checkpoint, an export, a manifest), each
    checked like a command-line value (:func:`coerce`; a dataclass annotation builds it, so an
    unknown key is refused by name): the typed values of the keys of ``types`` that ``raw``
    holds. A wrong one raises ``error`` naming ``source`` (the file) and the field, then ``fix``.

    Example:
        >>> file_fields({"num_classes": "ten"}, {"num_classes": int}, "final.pt")
        Traceback (most recent call last):
        ...
        supernet.errors.ConfigError: final.pt: num_classes is 'ten'; it must be an integer
    """
    out = {}
    for key, hint in types.items():
        if key not in raw:
            continue
        try:
            out[key] = coerce(raw[key], hint, key)
        except (ConfigError, DatasetError) as err:
            raise error(f"{source}: {err}" + (f"; {fix}" if fix else "")) from err
    return out


def check_keys(values: Mapping[str, Any], allowed: list[str], where: str) -> None:
    """Raise :class:`ConfigError` for keys of ``values`` not in ``allowed``, naming the nearest."""
    unknown = [str(key) for key in values if key not in allowed]
    if not unknown:
        return
    key = unknown[0]
    near = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {_join(where, near[0])}?" if near else ""
    raise ConfigError(
        f"unknown {where or 'config'} keys {unknown}: {_join(where, key)} is not a setting{hint} "
        f"(settings of {where or 'the config'}: {', '.join(sorted(allowed))}); unknown keys are "
        "refused, not ignored, so a misspelt setting never runs with its default"
    )


def coerce(value: Any, hint: Any, name: str) -> Any:
    """``value`` checked against the annotation ``hint`` (numbers from numeric strings)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(value, option, name)
            except ConfigError as err:
                errors.append(str(err))
        allowed = " or ".join(_describe(o) for o in options)
        raise ConfigError(f"{name} is {value!r}; it must be {allowed}")
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} is {value!r}; it must be a mapping of settings")
        return build(hint, value, name)
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} is {value!r}; it must be a list")
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        item = args[0] if args else Any
        return origin(coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{name} is {value!r}; it must be a mapping")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} is {value!r}; it must be true or false")
        return value
    if hint is int:
        return _integer(value, name)
    if hint is float:
        return _number(value, name)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} is {value!r}; it must be a string")
        return value
    return value


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} is {value!r}; it must be an integer")
    if isinstance(value, int):
        return value
    number = _number(value, name, kind="an integer")
    if not number.is_integer():
        raise ConfigError(f"{name} is {value!r}; it must be an integer")
    return int(number)


def _number(value: Any, name: str, kind: str = "a number (float)") -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} is {value!r}; it must be {kind}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{name} is {value!r}; it must be {kind}")


def _describe(hint: Any) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if hint is type(None):
        return "null"
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
