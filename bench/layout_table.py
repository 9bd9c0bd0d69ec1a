"""The cross-package import table: for each pair of project packages, how many modules of the
first import something of the second (function-level imports included).

    python -m bench.layout_table                          # the working tree
    python -m bench.layout_table --rev e8da73e            # a commit, read from git
    python -m bench.layout_table --rev e8da73e --as-now   # its modules, by where they are now

The packages are the folders the import root ``lamoo_nas/`` links to at that revision. A cell
counts importing-module -> imported-package pairs (one module importing three names of
``supernet`` counts once); a package's imports of itself are left out. With ``--as-now`` every
module of the revision (importing or imported) counts in the package its file is in today,
following git's rename detection (40 % similar): the old code measured against the new package
lines (a module split in two since counts where its first half stayed). Prints a Markdown table
and the total.

Example:
    >>> sources = {"a/x.py": "import lamoo_nas.b.y", "b/y.py": ""}
    >>> import_table(sources, ["a", "b"])[("a", "b")]
    1
    >>> import_table(sources, ["a", "b"], {"b/y.py": "a/y.py"})[("a", "b")]
    0
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = "lamoo_nas"


def imported_modules(source: str) -> set[str]:
    """The project modules (or ``module.name``) a source imports, anywhere in it, root off."""
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
        found |= {n.split(".", 1)[1] for n in names if n.startswith(f"{ROOT}.")}
    return found


def module_file(name: str, paths: set[str]) -> str:
    """The file of ``a.b.c`` among ``paths``: the longest prefix that is a module or package
    (``a.b.c`` may be a name defined in ``a/b.py``); else the package folder ``a``."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        stem = "/".join(parts[:end])
        for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
            if candidate in paths:
                return candidate
    return parts[0]


def import_table(
    sources: dict[str, str], packages: list[str], moved: dict[str, str] | None = None
) -> Counter[tuple[str, str]]:
    """``(importing package, imported package) -> number of importing modules``; ``moved``
    maps a file to where it is now (``--as-now``)."""
    moved = moved or {}
    paths = set(sources)
    now = [moved.get(p, p).split("/")[0] for p in sources]
    known = set(packages) | set(now)

    def package(path: str) -> str:
        return moved.get(path, path).split("/")[0]

    table: Counter[tuple[str, str]] = Counter()
    for path, source in sources.items():
        if path.split("/")[0] not in packages or not path.endswith(".py"):
            continue
        imported = {package(module_file(m, paths)) for m in imported_modules(source)}
        for target in (imported & known) - {package(path)}:
            table[(package(path), target)] += 1
    return table


def renames(rev: str) -> dict[str, str]:
    """Old path -> path in the working tree, for the files git sees renamed since ``rev``."""
    out = _git("diff", "--find-renames=40%", "--name-status", rev).splitlines()
    rows = [line.split("\t") for line in out if line.startswith("R")]
    return {old: new for _, old, new in rows}


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
    parser.add_argument("--as-now", action="store_true",
                        help="count each module of --rev in the package it is in now")  # fmt: skip
    args = parser.parse_args()
    sources, packages = sources_at(args.rev)
    moved = renames(args.rev) if args.rev and args.as_now else {}
    table = import_table(sources, packages, moved)
    shown = sorted(set(packages) | {p for pair in table for p in pair})
    how = " (modules counted where they are now)" if moved else ""
    print(f"{args.rev or 'working tree'}{how}: {len(sources)} modules")
    print(markdown(table, shown))
    print(f"\ncross-package pairs: {sum(table.values())}")


if __name__ == "__main__":
    main()
