from __future__ import annotations

import dataclasses

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from lamoo_nas.commands.settings import settings_from_plain
from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.search_settings import (
    SearchSettings,
    describe_hypervolume,
    positive_int,
    reference_point,
    settings_record,
    unused_sections,
)
from lamoo_nas.runtime.rundir import NEUTRAL_KEYS, config_differences
from lamoo_nas.search import (
    STRATEGY_REGISTRY,
    LaMOOOptions,
    NSGA2Options,
    StrategySpec,
    register_strategy,
)
from lamoo_nas.search.errors import InvalidOptionError
from lamoo_nas.search.lamoo import TreeOptions
from lamoo_nas.supernet.errors import ConfigError


def _settings(budget: Budget, **overrides) -> SearchSettings:
    base = {"num_samples": 12, "batch_size": 4, "num_init": 4, "progress": False}
    return SearchSettings(budget=budget, **{**base, **overrides})


def _plain(*overrides: str) -> dict:
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        cfg = compose("search", overrides=["supernet=RUN", *overrides])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    return resolved


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"objectives": ("accuracy", "energy")}, ConfigError, "energy"),  # latency is one now
        ({"objectives": ("macs", "params")}, ConfigError, "give accuracy"),
        ({"num_samples": 0}, ConfigError, "num_samples"),
        ({"batch_size": -1}, ConfigError, "batch_size"),
    ],
)
def test_bad_settings(overrides, error, message) -> None:
    with pytest.raises(error, match=message):
        _settings(Budget(), **overrides)


@pytest.mark.parametrize("strategy", ["lamoo", "random", "nsga2", "qehvi", "cmaes", "pymoo"])
def test_every_strategy_config_gives_typed_settings(strategy) -> None:
    settings = settings_from_plain(_plain(f"strategy={strategy}", "budget.macs=2e6", "seed=3"))
    assert settings.strategy == {"pymoo": "pymoo-nsga2"}.get(strategy, strategy)
    assert settings.seed == 3
    assert settings.budget == Budget(macs=2e6) and settings.objectives == ("accuracy", "macs")


def test_strategy_sections_become_their_options() -> None:
    settings = settings_from_plain(_plain("strategy.lamoo.tree.max_nodes=7"))
    assert settings.strategy_options.tree.max_nodes == 7
    settings = settings_from_plain(_plain("strategy=lamoo", "strategy.lamoo.cmaes.sigma0=0.3"))
    assert settings.strategy_options.cmaes.sigma0 == 0.3
    settings = settings_from_plain(
        _plain("strategy.lamoo.sampler=trust", "strategy.lamoo.trust.pick=gp")
    )
    options = settings.strategy_options
    assert options.sampler == "trust" and options.trust.pick == "gp"
    settings = settings_from_plain(_plain("strategy=cmaes", "strategy.cmaes.population_size=12"))
    assert settings.strategy_options.population_size == 12
    settings = settings_from_plain(_plain("strategy=pymoo", "strategy.name=pymoo-nsga3"))
    assert settings.strategy == "pymoo-nsga3" and settings.strategy_options.population_size == 20


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["+budget.energy_mj=3"], "unknown keys"),
        (["num_init=0"], "num_init must be a positive integer"),
        (["objectives=[accuracy]"], "give accuracy"),
    ],
)
def test_bad_plain_config_names_the_value(overrides, message) -> None:
    with pytest.raises(ConfigError, match=message):
        settings_from_plain(_plain(*overrides))


@pytest.mark.parametrize("value", [0, -3, 2.5, "256", True, None])
def test_calib_images_must_be_a_positive_integer(value) -> None:
    with pytest.raises(
        ConfigError, match=f"calib_images must be a positive integer, got {value!r}"
    ):
        positive_int("calib_images", value)


def test_reference_point_sits_at_the_budget_or_above_the_largest(tiny_space, cost_model) -> None:
    largest = cost_model.largest()
    ref = reference_point(["accuracy", "macs", "params"], Budget(macs=2e6), cost_model)
    assert ref == [0.0, -2.0, pytest.approx(-1.1 * largest.params / 1e6)]


def test_hypervolume_description_names_units_and_bounds() -> None:
    text = describe_hypervolume(["accuracy", "macs", "params"], [0.0, -2.0, -0.05])
    assert text.startswith("the volume dominated by the front in accuracy (%) x MACs (millions)")
    assert "below 2 M MACs and below 0.05 M params" in text


def test_a_registered_strategy_reads_its_own_section() -> None:
    from tests.search.test_search_registry import HillOptions, HillStrategy

    register_strategy(StrategySpec("hill", HillOptions, HillStrategy))
    try:
        plain = _plain("+strategy.hill.num_parents=3", "strategy.name=hill")
        settings = settings_from_plain(plain)
        assert settings.strategy_options == HillOptions(num_parents=3)
        assert settings_record(settings)["hill"] == {"num_parents": 3, "mutation_prob": 0.5}
        assert "settings.lamoo" in unused_sections(settings)
        with pytest.raises(ConfigError, match=r"strategy\.hill\.num_parents is 'many'"):
            settings_from_plain(_plain("+strategy.hill.num_parents=many", "strategy.name=hill"))
    finally:
        del STRATEGY_REGISTRY["hill"]


def test_settings_hold_the_named_strategys_options() -> None:
    assert SearchSettings(strategy="lamoo-trust").strategy_options == LaMOOOptions()
    assert SearchSettings(strategy="nsga2").strategy_options == NSGA2Options()
    with pytest.raises(InvalidOptionError, match="takes NSGA2Options options, got LaMOOOptions"):
        SearchSettings(strategy="nsga2", strategy_options=LaMOOOptions())


@pytest.mark.parametrize(
    ("overrides", "strategy", "option", "value"),
    [  # the overrides the docs show, as a user writes them
        (["strategy=lamoo", "strategy.lamoo.sampler=blockmodel"], "lamoo", "sampler", "blockmodel"),
        (["strategy.lamoo.sampler=qehvi"], "lamoo", "sampler", "qehvi"),
        (["strategy.lamoo.tree.split_min=16", "strategy.lamoo.tree.svm_c=1.0"], "lamoo",
         "tree", TreeOptions(split_min=16, svm_c=1.0)),
        (["strategy=pymoo", "strategy.name=pymoo-nsga3"], "pymoo-nsga3", "population_size", 20),
        (["strategy=nsga2", "strategy.nsga2.population_size=8"], "nsga2", "population_size", 8),
        (["strategy=qehvi", "strategy.qehvi.acquisition=pool"], "qehvi", "acquisition", "pool"),
        (["strategy=mathnas", "strategy.mathnas.design=single"], "mathnas", "design", "single"),
    ],
)  # fmt: skip
def test_documented_strategy_overrides_still_work(overrides, strategy, option, value) -> None:
    settings = settings_from_plain(_plain(*overrides))
    assert settings.strategy == strategy
    assert getattr(settings.strategy_options, option) == value


def test_another_strategys_section_is_still_checked() -> None:
    with pytest.raises(ConfigError, match=r"strategy\.nsga2\.population_size is 'big'"):
        settings_from_plain(_plain("strategy=lamoo", "+strategy.nsga2.population_size=big"))


def test_a_manifest_from_before_the_registry_resumes_with_the_same_options() -> None:
    settings = settings_from_plain(_plain("strategy=lamoo", "strategy.lamoo.cp=0.2"))
    record = {"settings": settings_record(settings)}
    # what run.json held when SearchSettings had one field per strategy
    others = {name: dataclasses.asdict(spec.options_cls())
              for name, spec in STRATEGY_REGISTRY.items() if name != "lamoo"}  # fmt: skip
    old = {"settings": {**record["settings"], **others}}
    neutral = NEUTRAL_KEYS | unused_sections(settings)
    assert config_differences(old, record, neutral) == []
    changed = {"settings": {**old["settings"], "lamoo": {**old["settings"]["lamoo"], "cp": 0.3}}}
    keys = [key for key, *_ in config_differences(changed, record, neutral)]
    assert keys == ["settings.lamoo.cp"]
