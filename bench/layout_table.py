"""The cross-package import table: for each pair of project packages, how many modules of the
first import something of the second (function-level imports included).

    python -m bench.layout_table              # the working tree
    python -m bench.layout_table --rev e8da73e   # a commit, read from git without a checkout

The packages are the folders the import root ``lamoo_nas/`` links to at that revision. A cell
counts importing-module -> imported-package pairs (one module importing three names of
``supernet`` counts once); a package's imports of itself are left out. Prints a Markdown table
and the total.

Example:
    >>> table = import_table({"a/x.py": "import lamoo_nas.b.y", "b/y.py": ""}, ["a", "b"])
    >>> table[("a", "b")]
    1
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = "lamoo_nas"


def imported_packages(source: str, packages: list[str]) -> set[str]:
    """The project packages a module's source imports, by absolute import anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == ROOT:  # from lamoo_nas import train
                names = [f"{ROOT}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if len(parts) > 1 and parts[0] == ROOT and parts[1] in packages:
                found.add(parts[1])
    return found


def import_table(sources: dict[str, str], packages: list[str]) -> Counter[tuple[str, str]]:
    """``(importing package, imported package) -> number of importing modules``."""
    table: Counter[tuple[str, str]] = Counter()
    for path, source in sources.items():
        package = path.split("/")[0]
        if package not in packages or not path.endswith(".py"):
            continue
        for imported in imported_packages(source, packages) - {package}:
            table[(package, imported)] += 1
    return table


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def sources_at(rev: str | None) -> tuple[dict[str, str], list[str]]:
    """The ``.py`` files of every package and the package names, at ``rev`` or in the tree."""
    if rev is None:
        links = [p for p in (REPO / ROOT).iterdir() if p.is_symlink()]
        packages = sorted(p.name for p in links if list(p.resolve().rglob("*.py")))
        files = [p for name in packages for p in sorted((REPO / name).rglob("*.py"))]
        return {str(p.relative_to(REPO)): p.read_text() for p in files}, packages
    tree = _git("ls-tree", rev, f"{ROOT}/").splitlines()
    links = [line.split("\t")[1].split("/")[1] for line in tree if line.startswith("120000")]
    paths = [p for p in _git("ls-tree", "-r", "--name-only", rev).splitlines()]
    packages = sorted(n for n in links if any(p.startswith(f"{n}/") for p in paths))
    wanted = [p for p in paths if p.endswith(".py") and p.split("/")[0] in packages]
    return {p: _git("show", f"{rev}:{p}") for p in wanted}, packages


def markdown(table: Counter[tuple[str, str]], packages: list[str]) -> str:
    """Rows import columns; a blank cell is no import."""
    lines = ["| imports -> | " + " | ".join(packages) + " | total |"]
    lines.append("| --- |" + " ---: |" * (len(packages) + 1))
    for row in packages:
        cells = [str(table[(row, col)]) if table[(row, col)] else "" for col in packages]
        total = sum(table[(row, col)] for col in packages)
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="a git revision (default: the working tree)")
    args = parser.parse_args()
    sources, packages = sources_at(args.rev)
    table = import_table(sources, packages)
    print(f"{args.rev or 'working tree'}: {len(sources)} modules in {len(packages)} packages")
    print(markdown(table, packages))
    print(f"cross-package pairs: {sum(table.values())}")


if __name__ == "__main__":
    main()
