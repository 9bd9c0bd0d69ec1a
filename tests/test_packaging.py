"""Release hygiene: ``python -m build`` and ``twine check`` pass offline, the wheel ships every
package, its ``py.typed`` and the Hydra configs (so the CLIs work outside a checkout), the sdist
holds nothing of tests, benchmarks, runs or outputs, and the version has one source."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """``python -m build`` (sdist + wheel, offline: no build isolation) of a copy of the
    checkout that also holds a run, benchmark results and outputs, which must stay out."""
    out = tmp_path_factory.mktemp("dist")
    # build from a copy: setuptools writes build/ and *.egg-info/ into the source tree
    source = tmp_path_factory.mktemp("source") / "repo"
    junk = (".git", ".venv", "outputs", "multirun", "runs", "build", "dist", "*.egg-info",
            "__pycache__", ".mypy_cache", ".ruff_cache", "site", "results")  # fmt: skip
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*junk))
    for leftover in ("runs/r1/final.pt", "bench/results/x.json", "outputs/search/t/run.json"):
        (source / leftover).parent.mkdir(parents=True, exist_ok=True)
        (source / leftover).write_text("{}")
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)]
    subprocess.run(cmd, check=True, timeout=300, capture_output=True)
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    return next(dist.glob("lamoo_nas-*.whl"))


def _version() -> str:
    found = re.search(r'^version = "([^"]+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml has no static version"
    return found.group(1)


def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert [Path(f).name for f in files] == [
        f"lamoo_nas-{_version()}-py3-none-any.whl",
        f"lamoo_nas-{_version()}.tar.gz",
    ]
    check = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_sdist_holds_sources_configs_and_docs_but_no_tests_runs_or_results(dist: Path) -> None:
    sdist = next(dist.glob("lamoo_nas-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    tops = {name.split("/")[0] for name in names}
    assert {"lamoo_nas", "docs", "examples"} <= tops
    assert not tops & {"tests", "bench", "runs", "outputs", "multirun", "site"}
    # the packages once, under the import root (the checkout's links resolved to files)
    assert not tops & {"supernet", "search", "runtime", "train", "evaluate", "commands", "conf"}
    configs = {f"lamoo_nas/{p.relative_to(REPO)}" for p in (REPO / "conf").rglob("*.yaml")}
    assert configs <= names
    assert {"CHANGELOG.md", "LICENSE", "README.md", "lamoo_nas/supernet/py.typed"} <= names


def test_the_version_has_one_source(wheel: Path) -> None:
    version = _version()
    metadata = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert f"\nVersion: {version}\n" in text
    assert f"## {version}" in (REPO / "CHANGELOG.md").read_text()  # a section per release
    hits = subprocess.run(["git", "grep", "-l", "-F", f'version = "{version}"'], cwd=REPO,
                          capture_output=True, text=True).stdout.split()  # fmt: skip
    assert hits in ([], ["pyproject.toml"])  # [] outside a git checkout


def test_wheel_contains_packages_and_configs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"lamoo_nas/{p.relative_to(REPO)}" for p in (REPO / "conf").rglob("*.yaml")}
    assert configs and configs <= names
    packages = ("", "supernet", "search", "runtime", "train", "evaluate", "commands")
    for package in (*packages, "runtime/data", "search/lamoo"):
        assert f"lamoo_nas/{package}/__init__.py".replace("//", "/") in names
    # one import root: nothing else at the top of site-packages
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"lamoo_nas"}
    for package in ("supernet", "search", "runtime", "train", "evaluate", "commands"):
        assert f"lamoo_nas/{package}/py.typed" in names  # PEP 561
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
        timeout=300,
        check=True,
    )
    assert result.stdout.split() == ["cifar", "ofa_mbv3"]


def test_beside_packages_that_own_evaluate_and_train(wheel: Path, tmp_path) -> None:
    """Hugging Face's ``evaluate`` and PyPI's ``train`` are top-level packages: installed beside
    lamoo-nas, each keeps its name and lamoo-nas's commands still start (issue: the console
    scripts used to import ``commands._entry`` and died inside Hugging Face's package)."""
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
        "from lamoo_nas.commands import _entry;"
        "from lamoo_nas.search.pareto import hypervolume;"
        "assert all(m.__file__.startswith(sys.argv[1]) for m in (lamoo_nas, _entry));"
        "print(evaluate.OWNER, train.OWNER, callable(_entry.search))"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(target)], capture_output=True,
                            text=True, cwd=tmp_path, timeout=300, check=True)  # fmt: skip
    assert result.stdout.split() == ["dummy-evaluate", "dummy-train", "True"]
