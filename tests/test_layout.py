"""The dependency direction of docs/development.md, read from the import statements of every module
(function-level imports included): ``search`` imports nothing of the project, ``supernet``
nothing but itself, ``runtime`` (the run platform) only ``supernet``, ``train`` only ``runtime``
and ``supernet``; Hydra/OmegaConf only in the CLI modules."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

from lamoo_nas.evaluate._entry import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PROJECT = {"supernet", "search", "runtime", "train", "evaluate", "conf"}
ALLOWED = {
    "supernet": {"supernet"},
    "search": {"search"},
    "runtime": {"runtime", "supernet"},
    "train": {"train", "runtime", "supernet"},
    "evaluate": {"evaluate", "train", "runtime", "supernet", "search"},
}
ENTRY_POINTS = distribution("lamoo-nas").entry_points
SCRIPTS = {ep.name: ep.value for ep in ENTRY_POINTS if ep.group == "console_scripts"}
CLI_MODULES = {module for _, module in COMMANDS.values()} | {
    "lamoo_nas.train.cli",
    "lamoo_nas.evaluate.api",
}
"""Composition roots: the command modules, their runner and the Python API of the commands."""


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports, the installed root ``lamoo_nas.`` taken off."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {n.removeprefix("lamoo_nas.") for n in names if n != "lamoo_nas"}


def _modules(package: str) -> list[tuple[str, Path]]:
    root = REPO / package
    return [
        ("lamoo_nas." + ".".join(p.relative_to(REPO).with_suffix("").parts), p)
        for p in sorted(root.rglob("*.py"))
    ]


COMPOSED = {"lamoo_nas.train.supernet": {"evaluate"}}
"""Command modules are the composition roots: ``nas-train-supernet few_shot=...`` wires in
:mod:`evaluate.few_shot` (its learned split needs the evaluator and LaMOO's tree), inside the
function that runs it. Nothing else of ``train`` may."""


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_in_the_allowed_direction(package: str) -> None:
    modules = _modules(package)
    assert modules
    for module, path in modules:
        used = {name.split(".")[0] for name in _imports(path)} & PROJECT
        allowed = ALLOWED[package] | COMPOSED.get(module, set())
        assert used <= allowed, f"{module} imports {sorted(used - allowed)}"


def test_a_composition_root_imports_across_only_inside_functions() -> None:
    for module, extra in COMPOSED.items():
        path = REPO / Path(*module.split(".")[1:]).with_suffix(".py")
        tree = ast.parse(path.read_text())
        top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
        top |= {a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names}
        assert not {n.removeprefix("lamoo_nas.").split(".")[0] for n in top} & extra, module


def test_only_cli_modules_import_hydra() -> None:
    for package in ALLOWED:
        for module, path in _modules(package):
            roots = {name.split(".")[0] for name in _imports(path)}
            if roots & {"hydra", "omegaconf"}:
                assert module in CLI_MODULES, f"{module} imports Hydra/OmegaConf"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_console_scripts_point_at_functions(script: str) -> None:
    module, function = SCRIPTS[script].split(":")
    assert callable(getattr(importlib.import_module(module), function))
    config_name, command_module = COMMANDS[script]
    assert callable(importlib.import_module(command_module).main)
    assert (REPO / "conf" / f"{config_name}.yaml").is_file()


def test_help_is_answered_before_torch_is_imported() -> None:
    code = (
        "import sys; sys.argv = ['nas-search', '--help']\n"
        "from lamoo_nas.evaluate._entry import search\n"
        "try:\n    search()\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=True)  # fmt: skip
    assert "Required: supernet=..." in run.stdout and run.stdout.splitlines()[-1] == "False"


def test_every_module_imports_from_outside_the_checkout(tmp_path: Path) -> None:
    """No module imports a project package by its folder name (``import train``): run from
    another folder with the safe-path flag, only the installed root ``lamoo_nas`` resolves, as
    for a user's console script. A command then gets past its start-up to Hydra's config."""
    modules = [m for package in ALLOWED for m, _ in _modules(package)]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)"
    run = subprocess.run([sys.executable, "-P", "-c", code, *modules], capture_output=True,
                         text=True, cwd=tmp_path, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    missing = tmp_path / "no_such_run"
    cmd = [sys.executable, "-P", "-m", "lamoo_nas.evaluate.search", f"supernet={missing}",
           f"run_dir={tmp_path / 'search'}"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert str(missing) in run.stderr  # refused for the missing supernet, past the config
