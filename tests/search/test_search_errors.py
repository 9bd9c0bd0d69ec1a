from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from lamoo_nas import search
from lamoo_nas.search import errors
from lamoo_nas.search.codec import BoxCodec, CategoricalCodec
from lamoo_nas.search.driver import run_search
from lamoo_nas.search.errors import InvalidOptionError, InvalidPointError, SearchError
from lamoo_nas.search.lamoo.tree import TreeOptions
from lamoo_nas.search.strategy import RandomStrategy

SEARCH_ROOT = Path(search.__file__).parent
ALLOWED_NON_SEARCH = {"NotImplementedError"}  # an abstract hook, not an error of a search


def _raised_names(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name):
                out.append((node.lineno, exc.id))
    return out


def test_every_deliberate_error_derives_from_search_error() -> None:
    offenders = []
    for path in sorted(SEARCH_ROOT.rglob("*.py")):
        for line, name in _raised_names(path):
            cls = getattr(errors, name, None)
            ok = isinstance(cls, type) and issubclass(cls, SearchError)
            if not ok and name not in ALLOWED_NON_SEARCH:
                offenders.append(f"{path.relative_to(SEARCH_ROOT)}:{line} raises {name}")
    assert offenders == []


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: BoxCodec([0.0, 1.0], [1.0, 1.0]), InvalidOptionError, r"dimensions \[1\]"),
        (lambda: BoxCodec([0.0], [1.0], mutation_sigma=0.0), InvalidOptionError, "sigma"),
        (lambda: CategoricalCodec(num_choices=()), InvalidOptionError, "num_choices"),
        (lambda: CategoricalCodec((3,), encoding="binary"), InvalidOptionError, "'ordinal'"),
        (lambda: CategoricalCodec((3, 2)).encode([(1, 2)]), InvalidPointError, r"\(1, 2\)"),
        (lambda: TreeOptions(split_min=1), InvalidOptionError, "split_min=1"),
        (lambda: TreeOptions(cut_folds=1), InvalidOptionError, "cut_folds=1"),
        (lambda: TreeOptions(cut_min_accuracy=1.5), InvalidOptionError, "cut_min_accuracy=1.5"),
        (lambda: RandomStrategy(BoxCodec([0.0], [1.0]), [0.0], 0, 0), InvalidOptionError, "0"),
        (lambda: RandomStrategy(BoxCodec([0.0], [1.0]), [0.0], 0).ask(0), InvalidOptionError, "q"),
    ],
)
def test_bad_arguments_raise_search_errors_that_are_value_errors(make, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message) as caught:
        make()
    assert isinstance(caught.value, SearchError) and isinstance(caught.value, ValueError)


def test_run_search_rejects_an_empty_budget(tmp_path: Path) -> None:
    strategy = RandomStrategy(BoxCodec([0.0], [1.0]), ref_point=[0.0], seed=0)
    with pytest.raises(InvalidOptionError, match="batch_size=0"):
        run_search(
            strategy, lambda a: np.zeros((len(a), 1)), tmp_path / "h.json", 4, 0, ["f"], [0.0]
        )
