"""The wheel ships every package and the Hydra configs, so the CLIs work outside a checkout."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # build from a copy: setuptools writes build/ and *.egg-info/ into the source tree
    source = tmp_path_factory.mktemp("source") / "repo"
    junk = (".git", ".venv", "outputs", "multirun", "runs", "build", "dist", "*.egg-info",
            "__pycache__", ".mypy_cache", ".ruff_cache", "bench")  # fmt: skip
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*junk))
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*cmd, "-w", str(out), str(source)], check=True, timeout=300)
    return next(out.glob("lamoo_nas-*.whl"))


def test_wheel_contains_packages_and_configs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"lamoo_nas/{p.relative_to(REPO)}" for p in (REPO / "conf").rglob("*.yaml")}
    assert configs and configs <= names
    for package in ("", "supernet", "search", "train", "evaluate", "train/data", "search/lamoo"):
        assert f"lamoo_nas/{package}/__init__.py".replace("//", "/") in names
    # one import root: nothing else at the top of site-packages
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"lamoo_nas"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in (
        "nas-train-supernet",
        "nas-search",
        "nas-retrain",
        "nas-evaluate",
        "nas-pipeline",
        "nas-predict",
    ):
        assert f"{script} =" in text


def test_installed_wheel_composes_configs_outside_the_checkout(wheel: Path, tmp_path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), wheel],
        check=True,
        timeout=300,
    )
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from hydra import compose, initialize_config_module;"
        "from lamoo_nas import conf, supernet;"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in (conf, supernet));"
        "initialize_config_module(config_module='lamoo_nas.conf', version_base='1.3').__enter__();"
        "cfg = compose('pipeline', overrides=['space=cifar']);"
        "print(cfg.space.name, supernet.load_space('ofa_mbv3').name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(target)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["cifar", "ofa_mbv3"]


def test_beside_packages_that_own_evaluate_and_train(wheel: Path, tmp_path) -> None:
    """Hugging Face's ``evaluate`` and PyPI's ``train`` are top-level packages: installed beside
    lamoo-nas, each keeps its name and lamoo-nas's commands still start (issue: the console
    scripts used to import ``evaluate._entry`` and died inside Hugging Face's package)."""
    dummy = tmp_path / "dummy"
    for name in ("evaluate", "train"):
        (dummy / name).mkdir(parents=True)
        (dummy / name / "__init__.py").write_text(f"OWNER = 'dummy-{name}'\n")
    (dummy / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "dummy-evaluate-train"\nversion = "1.0"\n'
        '[tool.setuptools]\npackages = ["evaluate", "train"]\n'
    )
    wheels = tmp_path / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*cmd, "-w", str(wheels), str(dummy)], check=True, timeout=300)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         wheel, *wheels.glob("*.whl")],
        check=True,
        timeout=300,
    )  # fmt: skip
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import evaluate, train, lamoo_nas;"
        "from lamoo_nas.evaluate import _entry;"
        "from lamoo_nas.search.pareto import hypervolume;"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in (lamoo_nas, _entry));"
        "print(evaluate.OWNER, train.OWNER, callable(_entry.search))"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120, check=True)  # fmt: skip
    assert result.stdout.split() == ["dummy-evaluate", "dummy-train", "True"]
