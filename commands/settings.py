"""The composed config -> the libraries' typed settings: the one place a plain config becomes typed.

Every command's settings are frozen dataclasses shaped like its YAML (a nested YAML section is a
nested dataclass, a default is the library's own default), built by one function,
:func:`from_config`: it takes the keys of the composed config that the dataclass declares,
checks their names and value types (:func:`runtime.schema.build`: ``checkpoint.every_step=5``
names ``checkpoint.every_steps``, ``budget.macs=abc`` is one line) and leaves every other key to
the dataclass that declares it. A method of each dataclass then hands the library the typed
config it takes. Below this module nothing reads a plain config dict.

Example:
    >>> run = from_config(SupernetRunSettings, {"seed": 3, "ema": {"enabled": True}, "x": 1})
    >>> options = run.options(resume=None)
    >>> options.seed, options.ema_enabled, options.checkpoint_every_steps
    (3, True, 50)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from lamoo_nas.evaluate.codec import Budget
from lamoo_nas.evaluate.retrain import FinishOptions
from lamoo_nas.evaluate.search_settings import SearchSettings
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.schema import build, check_keys, coerce
from lamoo_nas.search import STRATEGY_REGISTRY, find_strategy
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.space import SearchSpace
from lamoo_nas.train.distill import DistillConfig
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.recipes import Recipe
from lamoo_nas.train.retrain import RetrainOptions
from lamoo_nas.train.run import RunOptions, SupernetTrainConfig
from lamoo_nas.train.sampler import SamplerConfig

T = TypeVar("T")

GROUPS = ("space", "data", "sampler", "distill", "optim", "schedule")
"""The config groups a supernet run reads (shared with the pipeline)."""


def from_config(cls: type[T], plain: Mapping[str, Any], where: str = "") -> T:
    """``cls`` built from the keys of ``plain`` it declares (see the module docstring); a
    section given as null keeps its defaults. ``where`` prefixes the names in messages."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {
        name: plain[name]
        for name in fields
        if name in plain and not (plain[name] is None and _is_section(fields[name]))
    }
    return build(cls, values, where)


def _is_section(f: dataclasses.Field[Any]) -> bool:
    """A field holding a nested dataclass (a YAML section), not a value."""
    return f.default_factory is not dataclasses.MISSING and dataclasses.is_dataclass(
        f.default_factory
    )


# --------------------------------------------------------------------------- common.yaml
@dataclass(frozen=True)
class CommonSettings:
    """The settings every training and search command composes from ``conf/common.yaml``,
    with their defaults (the YAML mirrors them; ``tests/test_config_defaults.py`` checks it).

    ``num_threads`` is 1: the small networks of a CPU run are fastest on one thread, and
    spinning OpenMP threads on a busy machine slow them several times over.

    Example:
        >>> CommonSettings().num_threads
        1
    """

    seed: int = 0
    device: str = "auto"
    num_threads: int | None = 1
    progress: bool = True
    resume_changes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- supernet
@dataclass(frozen=True)
class CheckpointSection:
    """``checkpoint:`` of ``conf/stage/supernet.yaml``."""

    every_steps: int = RunOptions.checkpoint_every_steps


@dataclass(frozen=True)
class EvalSection:
    """``eval:`` of ``conf/stage/supernet.yaml``."""

    every_epochs: int = RunOptions.eval_every_epochs
    middle_arch_seed: int = RunOptions.middle_arch_seed


@dataclass(frozen=True)
class EmaSection:
    """``ema:`` of ``conf/stage/supernet.yaml``."""

    enabled: bool = RunOptions.ema_enabled
    decay: float = RunOptions.ema_decay


@dataclass(frozen=True)
class SupernetRunSettings:
    """A supernet run's own settings, as ``conf/common.yaml``, ``conf/stage/supernet.yaml``
    and ``conf/train_supernet.yaml`` nest them; :meth:`options` is the library's
    :class:`train.run.RunOptions`."""

    seed: int = RunOptions.seed
    device: str = RunOptions.device
    amp: str = RunOptions.amp
    channels_last: bool = RunOptions.channels_last
    compile: bool = RunOptions.compile
    sync_bn: bool = RunOptions.sync_bn
    kernel_transform: bool = RunOptions.kernel_transform
    progress: bool = RunOptions.progress
    tensorboard: bool = RunOptions.tensorboard
    log_every_steps: int = RunOptions.log_every_steps
    init_from: str | None = RunOptions.init_from
    init_classifier: str = RunOptions.init_classifier
    resume_changes: tuple[str, ...] = RunOptions.resume_changes
    checkpoint: CheckpointSection = field(default_factory=CheckpointSection)
    eval: EvalSection = field(default_factory=EvalSection)
    ema: EmaSection = field(default_factory=EmaSection)

    def options(self, resume: str | None) -> RunOptions:
        """The library's run options (``resume``: a checkpoint or run dir to continue)."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del flat["checkpoint"], flat["eval"], flat["ema"]
        return RunOptions(
            **flat,
            checkpoint_every_steps=self.checkpoint.every_steps,
            eval_every_epochs=self.eval.every_epochs,
            middle_arch_seed=self.eval.middle_arch_seed,
            ema_enabled=self.ema.enabled,
            ema_decay=self.ema.decay,
            resume=resume,
        )


def supernet_config_from_plain(
    plain: Mapping[str, Any], resume: str | None = None
) -> SupernetTrainConfig:
    """The typed config of a supernet run from its composed settings: the groups of
    :data:`GROUPS` and :class:`SupernetRunSettings` (other keys, e.g. ``run_dir``, belong to
    the command). Raises :class:`ConfigError` naming a bad key or value before anything is
    built; ``plain`` is also what checkpoints store as the config.

    Example:
        >>> from lamoo_nas.supernet.space import load_space
        >>> cfg = supernet_config_from_plain({"space": load_space("tiny").to_dict(),
        ...                                   "optim": {"lr": "1e-3"}})
        >>> cfg.optim.lr, cfg.run.seed
        (0.001, 0)
    """
    run = from_config(SupernetRunSettings, plain)
    if "space" not in plain:
        raise ConfigError("the config has no space; choose one, e.g. space=tiny")
    return SupernetTrainConfig(
        space=SearchSpace.from_dict(dict(plain["space"])),
        data=build(DataConfig, plain.get("data"), "data"),
        sampler=build(SamplerConfig, plain.get("sampler"), "sampler"),
        distill=build(DistillConfig, plain.get("distill"), "distill"),
        optim=build(OptimConfig, plain.get("optim"), "optim"),
        schedule=build(ScheduleConfig, plain.get("schedule"), "schedule"),
        run=run.options(resume),
        resolved={str(k): v for k, v in plain.items()},
    )


# --------------------------------------------------------------------------- retrain
@dataclass(frozen=True)
class ExportSection:
    """``export:`` of ``conf/stage/retrain.yaml``."""

    enabled: bool = FinishOptions.export
    overwrite: bool = FinishOptions.export_overwrite


@dataclass(frozen=True)
class LatencySection:
    """``latency:`` of ``conf/stage/retrain.yaml``."""

    warmup: int = FinishOptions.latency_warmup
    repeats: int = FinishOptions.latency_repeats


@dataclass(frozen=True)
class RetrainRunSettings:
    """A retraining's own settings, as ``conf/common.yaml`` and ``conf/stage/retrain.yaml``
    nest them; :meth:`options` and :meth:`finish` are the library's typed options."""

    seed: int = RetrainOptions.seed
    device: str = RetrainOptions.device
    amp: str = RetrainOptions.amp
    channels_last: bool = RetrainOptions.channels_last
    log_every_steps: int = RetrainOptions.log_every_steps
    checkpoint_every_steps: int = RetrainOptions.checkpoint_every_steps
    tensorboard: bool = RetrainOptions.tensorboard
    progress: bool = RetrainOptions.progress
    num_threads: int | None = RetrainOptions.num_threads
    resume_changes: tuple[str, ...] = RetrainOptions.resume_changes
    resume: Any = None  # true or a path: continue the run's last.pt
    export: ExportSection = field(default_factory=ExportSection)
    latency: LatencySection = field(default_factory=LatencySection)

    def options(self, config: dict[str, Any]) -> RetrainOptions:
        """The run options; ``config`` is the resolved config stored in the checkpoints."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        del flat["export"], flat["latency"], flat["resume"]
        return RetrainOptions(**flat, resume=self.resume not in (None, False), config=config)

    def finish(self) -> FinishOptions:
        """What happens after training: the export and the latency measurement."""
        return FinishOptions(
            export=self.export.enabled,
            export_overwrite=self.export.overwrite,
            latency_warmup=self.latency.warmup,
            latency_repeats=self.latency.repeats,
        )


def retrain_settings_from_plain(
    plain: Mapping[str, Any], config: dict[str, Any]
) -> tuple[RetrainOptions, FinishOptions]:
    """Typed run and finish options of a retraining (:class:`RetrainRunSettings`), checked
    before any work; ``config`` is the resolved config stored in the checkpoints. The command,
    the pipeline and its hub all call this.

    Example:
        >>> options, finish = retrain_settings_from_plain({"latency": {"repeats": 5}}, {})
        >>> options.amp, finish.latency_repeats
        ('auto', 5)
    """
    settings = from_config(RetrainRunSettings, plain)
    return settings.options(config), settings.finish()


def recipe_from_config(raw: dict[str, Any]) -> Recipe:
    """Typed :class:`Recipe` from the composed ``recipe`` group (a plain dict)."""
    return Recipe.from_dict(raw)


# --------------------------------------------------------------------------- search
@dataclass(frozen=True)
class StrategySection:
    """The ``strategy`` group: the strategy's name and the options sections the config gives
    (``lamoo:``, ``nsga2:``, ...), each typed by the options class its strategy registered
    (:data:`search.STRATEGY_REGISTRY`). Every section given is checked; the named strategy's
    is the one used."""

    name: str = SearchSettings.strategy
    sections: Mapping[str, Any] = field(default_factory=dict[str, Any])

    @classmethod
    def from_plain(cls, raw: Mapping[str, Any] | None) -> StrategySection:
        """Built from the group's plain mapping (``strategy.lamoo.tree.max_nodes=7``-shaped)."""
        strategy = dict(raw or {})
        name = coerce(strategy.pop("name", SearchSettings.strategy), str, "strategy.name")
        check_keys(strategy, list(STRATEGY_REGISTRY), "strategy")
        sections: dict[str, Any] = {
            key: build(STRATEGY_REGISTRY[key].options_cls, value or {}, f"strategy.{key}")
            for key, value in strategy.items()
        }
        return cls(name, sections)

    def options(self) -> Any:
        """The named strategy's options (None: its defaults)."""
        spec, _ = find_strategy(self.name)
        return self.sections.get(spec.name)


@dataclass(frozen=True)
class SearchSection:
    """What to search for, as ``conf/stage/search.yaml`` nests it (the ``strategy`` group is
    :class:`StrategySection`); :meth:`settings` is the library's
    :class:`evaluate.search_settings.SearchSettings`."""

    objectives: tuple[str, ...] = SearchSettings.objectives
    budget: Budget = field(default_factory=Budget)
    num_samples: int = SearchSettings.num_samples
    batch_size: int = SearchSettings.batch_size
    num_init: int = SearchSettings.num_init
    seed: int = SearchSettings.seed
    pick: str = SearchSettings.pick
    progress: bool = SearchSettings.progress

    def settings(self, strategy: StrategySection) -> SearchSettings:
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return SearchSettings(**flat, strategy=strategy.name, strategy_options=strategy.options())


def settings_from_plain(plain: Mapping[str, Any]) -> SearchSettings:
    """Typed search settings from the resolved ``nas-search`` config (:class:`SearchSection`;
    other keys belong to the command).

    Example:
        >>> settings = settings_from_plain({"strategy": {"name": "random"},
        ...     "objectives": ["accuracy", "macs"], "budget": {"macs": 2e6}, "num_samples": 20})
        >>> settings.budget.macs, settings.strategy
        (2000000.0, 'random')
    """
    strategy = StrategySection.from_plain(plain.get("strategy"))
    rest = {key: value for key, value in plain.items() if key != "strategy"}
    return from_config(SearchSection, rest).settings(strategy)
