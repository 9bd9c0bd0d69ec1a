"""Defaults are written once, in the typed dataclasses; the YAML under ``conf/`` mirrors them
(Hydra refuses a command-line key the composed config lacks, so every setting stays in the
YAML) or overrides them where this file says so.

Every entry config of ``conf/`` is composed as its command composes it, turned into typed
settings by the command's own plain-to-typed adapter and compared, field by field, with the
same dataclasses built from nothing (their defaults). A difference fails the test unless it
is a declared override: a group option's preset (:data:`PRESETS`, e.g. ``data=cifar10``'s
batch size) or an entry config's own choice (:data:`ENTRY_OVERRIDES`, e.g. the pipeline's
demo budget). A declared override that no longer differs fails too, so the lists stay true.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from lamoo_nas.commands._entry import COMMANDS
from lamoo_nas.commands.evaluate import EvaluateSettings
from lamoo_nas.commands.import_ofa import ImportOFASettings
from lamoo_nas.commands.latency_table import LatencyTableSettings
from lamoo_nas.commands.pipeline import COMMON, PipelineRetrainOptions, stage_settings
from lamoo_nas.commands.predict import PredictSettings
from lamoo_nas.commands.runner import plain_config
from lamoo_nas.commands.settings import (
    GROUPS,
    CommonSettings,
    recipe_from_config,
    retrain_settings_from_plain,
    settings_from_plain,
    supernet_config_from_plain,
)
from lamoo_nas.evaluate.executor import ExecutorConfig, executor_from_plain
from lamoo_nas.evaluate.few_shot import FewShotConfig
from lamoo_nas.evaluate.latency_table import build_latency_table
from lamoo_nas.evaluate.measure import evaluate_against_truth, evaluate_supernet_arch
from lamoo_nas.evaluate.predict import predict
from lamoo_nas.evaluate.retrain import FinishOptions
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.evaluate.supernet_search import SearchRunOptions
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.schema import build
from lamoo_nas.train.distill import DistillConfig
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.recipes import Recipe
from lamoo_nas.train.retrain import RetrainOptions
from lamoo_nas.train.run import RunOptions
from lamoo_nas.train.sampler import SamplerConfig

CONF = Path(__file__).resolve().parents[1] / "conf"
REQUIRED = {
    "search": ["supernet=RUN"],
    "retrain": ["arch=ARCH.json"],
    "predict": ["model=MODEL", "input=IMAGES"],
    "latency_table": ["out=TABLE"],
    "import_ofa": ["checkpoint=OFA"],
}
"""Placeholders for the ``???`` settings each entry config requires."""

PRESETS: dict[str, set[str]] = {
    "data/digits": {"val_fraction"},
    "data/cifar10": {"name", "root", "batch_size", "eval_batch_size", "num_workers",
                     "calib_images", "in_memory"},
    "data/cifar100": {"name", "root", "batch_size", "eval_batch_size", "num_workers",
                      "calib_images", "in_memory"},
    "data/imagefolder": {"name", "batch_size", "eval_batch_size", "num_workers", "calib_images"},
    "recipe/digits": {"name", "epochs", "optim.weight_decay", "warmup_lr", "label_smoothing",
                      "eval_every_epochs"},
    "recipe/cifar": {"name", "epochs", "optim.name", "optim.lr", "optim.weight_decay",
                     "optim.clip_grad_norm", "warmup_epochs", "warmup_lr", "ema_decay",
                     "randaugment", "mixup_alpha", "cutmix_alpha", "mixup_prob",
                     "eval_every_epochs"},
    "recipe/imagenet": {"name", "epochs", "optim.name", "optim.lr", "optim.weight_decay",
                        "optim.clip_grad_norm", "warmup_epochs", "warmup_lr", "ema_decay",
                        "randaugment", "mixup_alpha", "cutmix_alpha", "mixup_prob",
                        "eval_every_epochs"},
    "sampler/uniform": {"name", "num_random"},
    "distill/none": {"name"},
    "optim/sgd": {"name", "lr", "weight_decay"},
    "strategy/nsga2": {"strategy"},
    "strategy/qehvi": {"strategy"},
    "strategy/random": {"strategy"},
    "strategy/mathnas": {"strategy"},
    "strategy/cmaes": {"strategy"},
    "strategy/pymoo": {"strategy"},
    "executor/local": {"kind"},
    "executor/ray": {"kind"},
    "few_shot/choices": {"kind", "parent"},
    "few_shot/learned": {"kind", "parent", "epochs"},
}  # fmt: skip
"""Group options (``conf/<group>/<option>.yaml``) and the fields their presets set away from
the dataclass defaults; every other field they write must equal the default."""

ENTRY_OVERRIDES: dict[str, set[str]] = {
    "pipeline": {"supernet.run.eval_every_epochs", "search.settings.budget.macs"},
}
"""Settings an entry config (or its stage section) sets away from the dataclass default."""


def _compose(name: str, *overrides: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The entry config as its command composes it (plain data) and its group choices."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(name, overrides=[*REQUIRED.get(name, []), *overrides],
                      return_hydra_config=True)  # fmt: skip
    choices = {str(k): str(v) for k, v in cfg.hydra.runtime.choices.items()}
    with open_dict(cfg):
        del cfg["hydra"]
    return plain_config(cfg), choices


def _fields(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """Dotted leaf fields of a (nested) dataclass."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _fields(getattr(value, f.name), f"{where}.{f.name}" if where else f.name)
    else:
        yield where, value


def differences(given: Any, default: Any) -> set[str]:
    """The dotted fields where ``given`` and ``default`` (same dataclass) differ."""
    assert type(given) is type(default)
    ours, theirs = dict(_fields(given, "")), dict(_fields(default, ""))
    absent = object()  # a field one side lacks (e.g. None against a nested dataclass) differs
    return {k for k in ours.keys() | theirs.keys() if ours.get(k, absent) != theirs.get(k, absent)}


# Each returns {section: (typed from the YAML, the same dataclass's defaults)}.
Sections = dict[str, tuple[Any, Any]]


def _common_sections(plain: dict[str, Any]) -> Sections:
    common = {f.name: plain[f.name] for f in dataclasses.fields(CommonSettings)}
    return {"common": (build(CommonSettings, common, "common"), CommonSettings())}


def _supernet_sections(plain: dict[str, Any]) -> Sections:
    typed = supernet_config_from_plain(plain)
    few_raw = plain.get("few_shot") or {"kind": "none"}
    few = build(FewShotConfig, few_raw, "few_shot")
    return {
        "data": (typed.data, DataConfig()),
        "sampler": (typed.sampler, SamplerConfig()),
        "distill": (typed.distill, DistillConfig()),
        "optim": (typed.optim, OptimConfig()),
        "schedule": (typed.schedule, ScheduleConfig()),
        "run": (typed.run, RunOptions()),
        "few_shot": (few, FewShotConfig()),
    }


def _retrain_sections(plain: dict[str, Any]) -> Sections:
    options, finish = retrain_settings_from_plain(plain, {})
    return {
        "options": (options, RetrainOptions()),
        "finish": (finish, FinishOptions()),
        "data": (build(DataConfig, plain["data"], "data"), DataConfig()),
        "recipe": (recipe_from_config(plain["recipe"]), Recipe()),
    }


def _default_search_settings(strategy: str) -> SearchSettings:
    """SearchSettings' defaults, with the defaults of ``strategy``'s options (the registry's
    options class): the YAML's options are checked against their own class, its strategy name
    against the default name (set afterwards, as no valid settings pair the two)."""
    default = SearchSettings(strategy=strategy)
    object.__setattr__(default, "strategy", SearchSettings.strategy)
    return default


def _search_sections(plain: dict[str, Any]) -> Sections:
    run = {f.name: plain[f.name] for f in dataclasses.fields(SearchRunOptions)}
    settings = settings_from_plain(plain)
    return {
        "settings": (settings, _default_search_settings(settings.strategy)),
        "run": (build(SearchRunOptions, run, "search"), SearchRunOptions()),
        "executor": (executor_from_plain(plain.get("executor")), ExecutorConfig()),
    }


def _required(f: dataclasses.Field[Any]) -> bool:
    """A field without a default (a ``???`` setting: its placeholder is taken as given)."""
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _settings_section(cls: type, *groups: str) -> Callable[[dict[str, Any]], Sections]:
    """A command whose settings are one dataclass ``cls`` (besides its config ``groups``)."""

    def sections(plain: dict[str, Any]) -> Sections:
        settings = {k: v for k, v in plain.items() if k not in groups}
        required = {f.name: settings[f.name] for f in dataclasses.fields(cls) if _required(f)}
        return {"settings": (build(cls, settings, ""), cls(**required))}

    return sections


def _pipeline_sections(plain: dict[str, Any]) -> Sections:
    retrain = {name: plain[name] for name in COMMON} | dict(plain["retrain"])
    top_k = {"top_k": retrain.pop("top_k")}
    stages = {
        "pipeline": {
            "retrain": (build(PipelineRetrainOptions, top_k, "retrain"), PipelineRetrainOptions())
        },
        "supernet": _supernet_sections(stage_settings(plain, "supernet", GROUPS)),
        "search": _search_sections(stage_settings(plain, "search", ("strategy", "executor"))),
        "retrain": _retrain_sections({**retrain, "data": plain["data"], "recipe": plain["recipe"]}),
    }
    return {f"{stage}.{name}": pair for stage, sections in stages.items()
            for name, pair in sections.items()}  # fmt: skip


def _with_common(adapter: Callable[[dict[str, Any]], Sections]) -> Callable[..., Sections]:
    return lambda plain: {**_common_sections(plain), **adapter(plain)}


ADAPTERS: dict[str, Callable[[dict[str, Any]], Sections]] = {
    "train_supernet": _with_common(_supernet_sections),
    "retrain": _with_common(_retrain_sections),
    "search": _with_common(_search_sections),
    "evaluate": _settings_section(EvaluateSettings, "data"),
    "predict": _settings_section(PredictSettings),
    "latency_table": _settings_section(LatencyTableSettings, "space"),
    "import_ofa": _settings_section(ImportOFASettings, "data"),
    "pipeline": _with_common(_pipeline_sections),
}
"""Every entry config, and how its command builds its typed settings."""


def _explained(choices: dict[str, str], section: str) -> set[str]:
    """The preset fields of the group option this section was composed from (the section
    ``search.settings`` comes from the ``strategy`` group)."""
    name = section.rsplit(".", 1)[-1]
    group = {"settings": "strategy"}.get(name, name)
    return PRESETS.get(f"{group}/{choices[group]}", set()) if group in choices else set()


@pytest.mark.parametrize("entry", sorted(ADAPTERS))
def test_entry_config_mirrors_the_dataclass_defaults(entry: str) -> None:
    plain, choices = _compose(entry)
    found: set[str] = set()
    for section, (given, default) in ADAPTERS[entry](plain).items():
        diff = {f"{section}.{field}" for field in differences(given, default)}
        preset = {f"{section}.{field}" for field in _explained(choices, section)}
        found |= diff - preset
    assert found == ENTRY_OVERRIDES.get(entry, set())


def _group_options() -> list[str]:
    groups = {p.parent.name for p in CONF.glob("*/*.yaml")} - {"space", "stage", "experiment"}
    return sorted(f"{g}/{p.stem}" for g in groups for p in sorted((CONF / g).glob("*.yaml")))


GROUP_ENTRY = {"data": "train_supernet", "sampler": "train_supernet", "distill": "train_supernet",
               "optim": "train_supernet", "schedule": "train_supernet",
               "few_shot": "train_supernet", "recipe": "retrain", "strategy": "search",
               "executor": "search"}  # fmt: skip
"""The entry config each group option is composed into for its check."""


@pytest.mark.parametrize("option", _group_options())
def test_group_option_sets_only_its_declared_presets(option: str) -> None:
    group, name = option.split("/")
    extra = ["few_shot.parent=RUN"] if group == "few_shot" and name != "none" else []
    plain, choices = _compose(GROUP_ENTRY[group], f"{group}={name}", *extra)
    assert choices[group] == name
    sections = ADAPTERS[GROUP_ENTRY[group]](plain)
    section = {"strategy": "settings"}.get(group, group)
    given, default = sections[section]
    assert differences(given, default) == PRESETS.get(option, set())


SIGNATURES: dict[str, list[tuple[Callable[..., Any], dict[str, str]]]] = {
    "evaluate": [
        (evaluate_against_truth, {k: k for k in ("num_archs", "calib_images", "seed",
                                                 "bootstrap", "val_images")}),
        (evaluate_supernet_arch, {"calib_images": "calib_images"}),
    ],
    "latency_table": [
        (build_latency_table, {k: k for k in ("device", "batch_size", "num_threads", "warmup",
                                              "repeats", "rounds", "max_keys", "progress")}),
    ],
    "predict": [(predict, {"top_k": "top_k"})],
}  # fmt: skip
"""The library functions the commands call whose own parameter defaults (YAML key ->
parameter) the YAML, and so the settings dataclass, mirrors too."""


@pytest.mark.parametrize("entry", sorted(SIGNATURES))
def test_settings_without_a_dataclass_mirror_the_function_defaults(entry: str) -> None:
    plain, _ = _compose(entry)
    for function, keys in SIGNATURES[entry]:
        parameters = inspect.signature(function).parameters
        for key, name in keys.items():
            assert plain[key] == parameters[name].default, f"{entry}: {key}"


def test_every_entry_config_is_checked() -> None:
    entries = {p.stem for p in CONF.glob("*.yaml")} - {"common"}  # common: composed into others
    assert entries == {config for config, _ in COMMANDS.values()}
    assert set(ADAPTERS) == entries and set(SIGNATURES) <= entries
