"""runtime.schema: typed settings from plain data, keys and types checked first."""

from __future__ import annotations

import pytest

from lamoo_nas.runtime.schema import build, coerce
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.optim import OptimConfig
from lamoo_nas.train.recipes import Recipe


def test_numbers_from_strings_and_nested_dataclasses() -> None:
    recipe = build(Recipe, {"epochs": "3", "optim": {"lr": "1e-3", "name": "sgd"}}, "recipe")
    assert recipe.epochs == 3 and recipe.optim == OptimConfig(name="sgd", lr=1e-3)
    assert coerce(["a", "b"], tuple[str, ...], "objectives") == ("a", "b")
    assert coerce(None, int | None, "cap") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"lr": "abc"}, "optim.lr is 'abc'; it must be a number"),
        ({"lr": True}, "optim.lr is True; it must be a number"),
        ({"name": 3}, "optim.name is 3; it must be a string"),
        ({"lrr": 1.0}, "did you mean optim.lr?"),
    ],
)
def test_bad_keys_and_types_name_the_setting(raw, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        build(OptimConfig, raw, "optim")


def test_integers_are_whole_and_never_booleans() -> None:
    assert coerce(4.0, int, "epochs") == 4
    for bad in (2.5, True, "two"):
        with pytest.raises(ConfigError, match="must be an integer"):
            coerce(bad, int, "epochs")
