"""The import guard: a PyPI namesake of ``train``/``evaluate`` fails loudly with the fix."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from lamoo_nas.supernet._guard import PROJECT_ROOT, check_project_packages, require_project_package
from lamoo_nas.supernet.errors import ProjectImportError


def _shadow(name: str, folder: Path, monkeypatch: pytest.MonkeyPatch, body: str = "") -> Path:
    """Put a fake top-level package ``name`` first on ``sys.path``, restored afterwards."""
    package = folder / name
    package.mkdir()
    (package / "__init__.py").write_text(body or '"""An unrelated PyPI package."""\n')
    importlib.import_module(name)  # cached now, so monkeypatch restores it afterwards
    monkeypatch.syspath_prepend(str(folder))
    for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
        monkeypatch.delitem(sys.modules, module)
    return package / "__init__.py"


def test_real_packages_pass() -> None:
    check_project_packages()
    for name in ("train", "evaluate"):
        assert Path(require_project_package(name).__file__ or "").parent == PROJECT_ROOT / name


@pytest.mark.parametrize("name", ["train", "evaluate"])
def test_shadowing_package_names_its_file_and_the_fix(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _shadow(name, tmp_path, monkeypatch)
    with pytest.raises(ProjectImportError) as caught:
        require_project_package(name)
    message = str(caught.value)
    assert str(fake) in message
    assert f"PyPI package named '{name}'" in message
    assert f"pip uninstall {name}" in message and "make venv" in message
    with pytest.raises(ProjectImportError, match=name):
        check_project_packages()


def test_namesake_that_fails_to_import_is_still_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _shadow("evaluate", tmp_path, monkeypatch, body="import some_missing_dependency_xyz\n")
    with pytest.raises(ProjectImportError, match="pip uninstall evaluate") as caught:
        require_project_package("evaluate")
    assert str(fake) in str(caught.value)


def test_real_packages_pass_again_after_the_shadow_is_removed() -> None:
    check_project_packages()  # monkeypatch restored sys.path and sys.modules
