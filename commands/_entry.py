"""The console scripts: ``--help`` answered before torch is imported, else the command's main.

Each ``nas-*`` script points here (``pyproject.toml``). Importing a command module pulls in
torch, botorch and Hydra (seconds on a busy machine); the help text needs only the YAML, so it
is printed from here first.

Example (shell)::

    nas-search --help     # ~0.1 s: what the command does, required keys, every setting
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

COMMANDS: dict[str, tuple[str, str]] = {
    "nas-train-supernet": ("train_supernet", "lamoo_nas.commands.train_supernet"),
    "nas-search": ("search", "lamoo_nas.commands.search"),
    "nas-retrain": ("retrain", "lamoo_nas.commands.retrain"),
    "nas-evaluate": ("evaluate", "lamoo_nas.commands.evaluate"),
    "nas-pipeline": ("pipeline", "lamoo_nas.commands.pipeline"),
    "nas-predict": ("predict", "lamoo_nas.commands.predict"),
    "nas-latency-table": ("latency_table", "lamoo_nas.commands.latency_table"),
    "nas-import-ofa": ("import_ofa", "lamoo_nas.commands.import_ofa"),
}
"""Script -> (its config in ``conf/``, the module whose ``main()`` runs it)."""


def _run(script: str) -> None:
    config_name, module = COMMANDS[script]
    if any(arg in ("--help", "-h") for arg in sys.argv[1:]):
        help_module = _our_module("lamoo_nas.commands._help")
        if help_module is not None:  # else main() runs the import guard, which says why
            text = help_module.command_help(config_name, Path(sys.argv[0]).name or script)
            try:
                print(text, flush=True)
            except BrokenPipeError:  # `nas-search --help | head`: the reader stopped early
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (closed by the exit)
            sys.exit(0)
    importlib.import_module(module).main()


def _our_module(name: str) -> ModuleType | None:
    """``name`` imported from this checkout or install, or None (absent, or a namesake)."""
    try:
        found = importlib.import_module(name)
    except ImportError:
        return None
    here = Path(__file__).resolve().parents[1]
    return found if Path(found.__file__ or "").resolve().is_relative_to(here) else None


def train_supernet() -> None:
    _run("nas-train-supernet")


def search() -> None:
    _run("nas-search")


def retrain() -> None:
    _run("nas-retrain")


def evaluate() -> None:
    _run("nas-evaluate")


def pipeline() -> None:
    _run("nas-pipeline")


def predict() -> None:
    _run("nas-predict")


def latency_table() -> None:
    _run("nas-latency-table")


def import_ofa() -> None:
    _run("nas-import-ofa")
