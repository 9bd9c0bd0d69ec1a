"""The dependency direction of docs/development.md, read from the import statements of every module
(function-level imports included): ``search`` imports nothing of the project, ``supernet``
nothing but itself, ``runtime`` (the run platform) only ``supernet``, ``train`` only ``runtime``
and ``supernet``, ``evaluate`` the four libraries, ``commands`` (the composition layer)
anything, and nothing imports ``commands``; Hydra/OmegaConf only in ``commands``. No exemptions."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lamoo_nas.commands._entry import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PROJECT = {"supernet", "search", "runtime", "train", "evaluate", "commands", "conf"}
ALLOWED = {
    "supernet": {"supernet"},
    "search": {"search"},
    "runtime": {"runtime", "supernet"},
    "train": {"train", "runtime", "supernet"},
    "evaluate": {"evaluate", "train", "runtime", "supernet", "search"},
    "commands": PROJECT,
}
"""What each package may import. ``commands`` is in no other package's set: nothing imports it."""
SCRIPTS = dict(
    re.findall(
        r'^([\w-]+) = "([^"]+)"$',
        (REPO / "pyproject.toml").read_text().split("[project.scripts]")[1].split("\n[")[0],
        re.MULTILINE,
    )
)
"""``[project.scripts]`` of the checkout's pyproject.toml (not an older install's metadata)."""


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


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_in_the_allowed_direction(package: str) -> None:
    modules = _modules(package)
    assert modules
    for module, path in modules:
        used = {name.split(".")[0] for name in _imports(path)} & PROJECT
        assert used <= ALLOWED[package], f"{module} imports {sorted(used - ALLOWED[package])}"


def test_only_the_composition_layer_imports_hydra() -> None:
    for package in set(ALLOWED) - {"commands"}:
        for module, path in _modules(package):
            roots = {name.split(".")[0] for name in _imports(path)}
            assert not roots & {"hydra", "omegaconf"}, f"{module} imports Hydra/OmegaConf"


def test_every_command_module_is_in_the_composition_layer() -> None:
    modules = {module for _, module in COMMANDS.values()}
    assert modules and all(m.startswith("lamoo_nas.commands.") for m in modules)
    assert {ep.split(":")[0] for ep in SCRIPTS.values()} == {"lamoo_nas.commands._entry"}


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
        "from lamoo_nas.commands._entry import search\n"
        "try:\n    search()\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=300, check=True)  # fmt: skip
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
    cmd = [sys.executable, "-P", "-m", "lamoo_nas.commands.search", f"supernet={missing}",
           f"run_dir={tmp_path / 'search'}"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert str(missing) in run.stderr  # refused for the missing supernet, past the config
