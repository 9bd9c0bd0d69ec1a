"""``--help`` of every console script, made from its YAML config with the comments kept.

Hydra's generic help page drops the YAML comments that explain each setting and takes seconds
to compose; this one reads ``conf/<command>.yaml`` and the setting files it includes (``common``,
``stage/<name>``) as text: the header comment says what the command does, then the required
settings (``???``), the groups with their options, and every setting with its comment.

Example:
    >>> print(command_help("search", "nas-search"))  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def command_help(config_name: str, command: str) -> str:
    """The help text of ``command``, whose config is ``conf/<config_name>.yaml``."""
    conf = resources.files("lamoo_nas.conf")
    lines = (conf / f"{config_name}.yaml").read_text().splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line[2:] if line.startswith("# ") else line[1:])
    raw = composed_settings(config_name)
    required = [key for key, value in raw.items() if value == "???"]
    out = [*header, "", f"Usage: {command} [KEY=VALUE ...] [GROUP=OPTION ...]"]
    if required:
        out.append("Required: " + " ".join(f"{key}=..." for key in required))
    groups = _groups(raw.get("defaults", []))
    if groups:
        out += ["", "Groups (GROUP=OPTION; * = default):"]
        for group, default in groups:
            options = sorted(
                p.name.removesuffix(".yaml")
                for p in (conf / group).iterdir()
                if p.name.endswith(".yaml")
            )
            marked = [f"{o}*" if o == default else o for o in options]
            out.append(
                f"  {group}: {', '.join(marked)}" + ("" if default else " (none by default)")
            )
    out += ["", f"Settings (conf/{config_name}.yaml and its includes; override any, e.g. seed=1):"]
    for prefix, path in _includes(config_name):
        included = _settings(path.read_text().splitlines())
        if prefix:
            out += [f"  {prefix}:", *(f"    {line}" for line in included)]
        else:
            out += [f"  {line}" for line in included]
    out += [f"  {line}" for line in _settings(lines)]
    out += ["", "Also: --cfg job (the composed config), --hydra-help (Hydra's own options)."]
    return "\n".join(out)


def _includes(config_name: str) -> list[tuple[str, Any]]:
    """The setting files the config's defaults list includes (plain entries such as ``common``
    or ``stage/search@search``), with the key they land under (``""``: the top level)."""
    conf = resources.files("lamoo_nas.conf")
    raw = yaml.safe_load((conf / f"{config_name}.yaml").read_text()) or {}
    out = []
    for entry in raw.get("defaults", []):
        if isinstance(entry, str) and entry != "_self_":
            name, _, package = entry.partition("@")
            out.append(("" if package in ("", "_here_") else package, conf / f"{name}.yaml"))
    return out


def composed_settings(config_name: str) -> dict[str, Any]:
    """The command's settings without groups: its includes merged, then its own file."""
    conf = resources.files("lamoo_nas.conf")
    merged: dict[str, Any] = {}
    for prefix, path in _includes(config_name):
        node = yaml.safe_load(path.read_text()) or {}
        if prefix:
            node = {prefix: node}
        _merge(merged, node)
    _merge(merged, yaml.safe_load((conf / f"{config_name}.yaml").read_text()) or {})
    return merged


def _merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _groups(defaults: list[Any]) -> list[tuple[str, str | None]]:
    out = []
    for entry in defaults:
        if isinstance(entry, dict):
            for group, option in entry.items():
                if str(group).startswith("override ") or "/" in str(group):
                    continue  # Hydra's own groups (e.g. `override hydra/job_logging`)
                out.append((str(group), None if option is None else str(option)))
    return out


def _settings(lines: list[str]) -> list[str]:
    """The YAML lines of the command's own settings: not the header, defaults or hydra blocks."""
    out: list[str] = []
    skipping = True
    for line in lines:
        top_level = bool(line) and not line[0].isspace() and not line.startswith("#")
        if top_level:
            skipping = line.startswith(("defaults:", "hydra:"))
        if not skipping and line.strip():
            out.append(line)
    return out


def unknown_setting(config_name: str, command: str, args: list[str]) -> str | None:
    """The error line for the first ``key=value`` argument naming no setting, else None.

    Hydra's own message for a misspelt key ("Key 'lrr' is not in struct") lists nothing; this
    one lists the settings at that level and the closest match. Keys under a group are checked
    against the option the command line (or the default) picks; ``+key``, ``~key`` and
    ``hydra.`` arguments are Hydra's business and pass.
    """
    import difflib

    conf = resources.files("lamoo_nas.conf")
    raw = composed_settings(config_name)
    groups = dict(_groups(raw.get("defaults", [])))
    chosen = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if "=" in a}
    for arg in args:
        if "=" not in arg or arg.startswith(("+", "~", "-", "hydra.", "hydra/")):
            continue
        key = arg.split("=", 1)[0]
        if key in groups:
            continue  # a group option: Hydra lists the valid ones itself
        parts = key.split(".")
        if parts[0] in groups:
            option = chosen.get(parts[0], groups[parts[0]])
            path = conf / parts[0] / f"{option}.yaml"
            if option is None or not path.is_file():
                continue
            node: Any = yaml.safe_load(path.read_text()) or {}
            note, offset = f" ({option})", 1
        else:
            node, note, offset = raw, "", 0
        for depth, part in enumerate(parts[offset:], start=offset):
            if not isinstance(node, dict):
                break  # a value (or null) that Hydra decides about
            if part not in node:
                names = sorted(k for k in node if k not in ("defaults", "hydra"))
                close = difflib.get_close_matches(part, names, n=1)
                stem = ".".join([*parts[:depth], ""])
                level = (".".join(parts[:depth]) or command) + note
                groups_note = f"; groups: {', '.join(groups)}" if node is raw else ""
                return (
                    f"error: {command} has no setting {key!r}"
                    + (f"; did you mean {stem + close[0]!r}? " if close else "; ")
                    + f"{level} has: {', '.join(names)}{groups_note} "
                    f"(`{command} --help` explains each)"
                )
            node = node[part]
    return None
