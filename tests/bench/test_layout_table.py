"""bench.layout_table: the cross-package import table counts module -> package pairs."""

from __future__ import annotations

from bench.layout_table import import_table, imported_modules, sources_at


def test_a_module_counts_once_per_imported_package_and_function_imports_count() -> None:
    source = (
        "from lamoo_nas.b.y import f, g\nimport lamoo_nas.b.z\n"
        "def h():\n    from lamoo_nas.c import k\n"
    )
    assert imported_modules(source) == {"b.y", "b.z", "c"}
    sources = {"a/x.py": source, "b/y.py": "", "b/z.py": "", "c/__init__.py": ""}
    table = import_table(sources, ["a", "b", "c"])
    assert dict(table) == {("a", "b"): 1, ("a", "c"): 1}


def test_as_now_counts_a_moved_module_in_its_new_package() -> None:
    sources = {"a/x.py": "from lamoo_nas.b.y import f", "b/y.py": "", "b/w.py": ""}
    moved = {"b/y.py": "d/y.py"}
    assert dict(import_table(sources, ["a", "b"], moved)) == {("a", "d"): 1}


def test_the_working_tree_has_no_arrow_into_the_composition_layer() -> None:
    sources, packages = sources_at(None)
    assert {"commands", "runtime", "train", "evaluate"} <= set(packages)
    table = import_table(sources, packages)
    assert not [pair for pair in table if pair[1] == "commands"]
    assert table[("commands", "evaluate")] > 0
