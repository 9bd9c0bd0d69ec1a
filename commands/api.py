"""The commands as Python functions, for notebooks and scripts.

:func:`train_supernet`, :func:`search`, :func:`retrain` and :func:`pipeline` run what
``nas-train-supernet``, ``nas-search``, ``nas-retrain`` and ``nas-pipeline`` run, with the same
settings: each composes the command's ``conf/<command>.yaml`` with Hydra's compose API and the
overrides you give, in the command line's spelling (``["space=cifar", "optim.lr=3e-3"]``) or as
a mapping of dotted keys (``{"space": "cifar", "optim.lr": 3e-3}``). Alternatively pass a config
composed once with :func:`compose_config` and edited as you like. Results come back as objects:
paths, metrics and, for a search, the front.

Differences from the commands: errors are raised as the project's exceptions (subclasses of
:class:`supernet.errors.NASError` or :class:`search.SearchError`) instead of being printed as
one line; the run directory defaults to ``outputs/<command>/<time>`` under the current folder,
as the commands' does; ``num_threads`` (1 by default, as for the commands) applies for the
duration of the call and torch's previous setting is restored afterwards.

This module is a composition root (it imports Hydra, like the command modules).

Example:
    >>> from evaluate import api
    >>> trained = api.train_supernet({"schedule.epochs": 2}, run_dir="runs/sn")  # doctest: +SKIP
    >>> found = api.search(trained.run_dir, {"budget.macs": 600e3})  # doctest: +SKIP
    >>> [(row.accuracy, row.macs) for row in found.pareto]  # doctest: +SKIP
    [(0.93, 150112), ...]
    >>> done = api.retrain(found.run_dir / "best_arch.json")  # doctest: +SKIP
    >>> done.metrics["top1"], done.export_paths.onnx  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from lamoo_nas.evaluate.retrain import RetrainedModel
from lamoo_nas.evaluate.search_results import SearchResult
from lamoo_nas.supernet.errors import ConfigError

COMMANDS = ("train_supernet", "search", "retrain", "pipeline")
"""The entry configs (``conf/<name>.yaml``) these functions compose."""

Overrides = Sequence[str] | Mapping[str, Any]
"""Settings as ``key=value`` strings (the command line's spelling) or ``{dotted key: value}``."""


@dataclass(frozen=True)
class TrainResult:
    """A trained supernet run.

    Attributes:
        run_dir: the run directory; give it to :func:`search` as ``supernet``.
        checkpoint: its ``final.pt``; None for a few-shot run (``few_shot=choices|learned``),
            whose regions each have their own under ``run_dir/region<i>/``.
        metrics: the last per-epoch row of ``metrics.csv`` (validation accuracy of the
            smallest, largest and middle architecture, loss, lr, ...); empty for a few-shot run.
        summary: what the library returned (:class:`train.run.TrainSummary`, which holds the
            model, or :class:`evaluate.few_shot.FewShotSummary`).
    """

    run_dir: Path
    checkpoint: Path | None
    metrics: dict[str, Any]
    summary: Any


@dataclass(frozen=True)
class PipelineResult:
    """A finished ``nas-pipeline`` run.

    Attributes:
        run_dir: the pipeline's run directory (``supernet/``, ``search/``, ``retrain/``).
        report: its ``report.md``.
        winner: the retrained winner: ``test_top1``, ``macs``, ``params``, ``latency_cpu_ms``,
            ``export_dir`` (relative to ``run_dir``), ``arch`` and more.
        retrained: one such row per retrained architecture, rank order.
        front: the search's Pareto front, cheapest first, as in ``search/pareto.json``.
        stage_seconds: wall time of each stage (about 0 for a stage kept on resume).
        summary: everything ``pipeline.json`` holds.
    """

    run_dir: Path
    report: Path
    winner: dict[str, Any]
    retrained: list[dict[str, Any]]
    front: list[dict[str, Any]]
    stage_seconds: dict[str, float]
    summary: dict[str, Any]


def compose_config(command: str, overrides: Overrides = ()) -> DictConfig:
    """The composed config of ``command`` (one of :data:`COMMANDS`) with ``overrides``.

    Misspelt keys are refused with the settings at that level and the closest match, as on the
    command line; ``space=path/to/space.yaml`` works as there too.

    Example:
        >>> cfg = compose_config("search", ["supernet=runs/sn", "strategy=nsga2"])
        >>> cfg.strategy.name, cfg.num_samples
        ('nsga2', 100)
    """
    if command not in COMMANDS:
        raise ConfigError(f"command {command!r} is not one of {COMMANDS}")
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    from lamoo_nas.commands._help import unknown_setting
    from lamoo_nas.commands.runner import space_file_arguments

    args = space_file_arguments(override_strings(overrides))
    problem = unknown_setting(command, f"commands.api.{command}", args)
    if problem is not None:
        raise ConfigError(problem.removeprefix("error: "))
    try:
        with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
            return compose(command, overrides=args)
    except HydraException as err:  # a bad group option, a malformed override
        raise ConfigError(f"{command}: {err}") from err


def override_strings(overrides: Overrides) -> list[str]:
    """``overrides`` as Hydra override strings; a mapping's values are written in Hydra's
    grammar (null, true/false, numbers, quoted strings where needed, lists, dicts).

    Example:
        >>> override_strings({"space": "cifar", "budget.macs": 300e6, "objectives": ["a", "b"]})
        ['space=cifar', 'budget.macs=300000000.0', 'objectives=[a,b]']
    """
    if isinstance(overrides, str):
        raise ConfigError(
            f"overrides is the string {overrides!r}; give a list of key=value strings "
            f"([{overrides!r}]) or a mapping of dotted keys"
        )
    if isinstance(overrides, Mapping):
        return [f"{key}={_value_text(value)}" for key, value in overrides.items()]
    return [str(item) for item in overrides]


_PLAIN = re.compile(r"^[A-Za-z0-9_./:+\-@]+$")


def _value_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        if _PLAIN.match(value) and value.lower() not in ("null", "true", "false"):
            return value
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value_text(v)}" for k, v in value.items()) + "}"
    raise ConfigError(
        f"override value {value!r} ({type(value).__name__}) cannot be written as a setting; "
        "give a number, string, bool, None, list or dict"
    )


def train_supernet(
    overrides: Overrides = (),
    *,
    config: DictConfig | None = None,
    run_dir: str | Path | None = None,
) -> TrainResult:
    """Train a supernet as ``nas-train-supernet`` does (``resume=true`` continues ``run_dir``).

    Example:
        >>> trained = train_supernet(["schedule.epochs=2"], run_dir="runs/sn")  # doctest: +SKIP
        >>> trained.metrics["val_acc_largest"]  # doctest: +SKIP
        0.93
    """
    from lamoo_nas.commands import train_supernet as command
    from lamoo_nas.train.run import TrainSummary

    cfg = _config("train_supernet", overrides, config, run_dir)
    with _threads(cfg.get("num_threads")):
        summary = command.run(cfg)
    if isinstance(summary, TrainSummary):
        return TrainResult(
            summary.run_dir, summary.final_checkpoint, dict(summary.metrics), summary
        )
    return TrainResult(Path(summary.run_dir), None, {}, summary)


def search(
    supernet: str | Path,
    overrides: Overrides = (),
    *,
    config: DictConfig | None = None,
    run_dir: str | Path | None = None,
) -> SearchResult:
    """Search the supernet run (or checkpoint) ``supernet`` as ``nas-search`` does.

    Returns the :class:`evaluate.search_results.SearchResult`: ``pareto`` (the front, cheapest
    first), ``best`` (best accuracy within the budget), ``rows`` (every evaluation),
    ``summary`` (hypervolume, timings) and ``run_dir`` (with ``best_arch.json`` for
    :func:`retrain`). An existing ``run_dir`` resumes the search.

    Example:
        >>> found = search("runs/sn", {"budget.macs": 600e3, "num_samples": 40})  # doctest: +SKIP
        >>> found.best.accuracy, found.best.macs  # doctest: +SKIP
        (0.97, 472864)
    """
    from lamoo_nas.commands.search import run

    cfg = _config("search", overrides, config, run_dir, {"supernet": supernet})
    with _threads(cfg.get("num_threads")):
        return run(cfg)


def retrain(
    arch: str | Path,
    overrides: Overrides = (),
    *,
    config: DictConfig | None = None,
    run_dir: str | Path | None = None,
) -> RetrainedModel:
    """Retrain the architecture in the JSON file ``arch`` from scratch, test and export it, as
    ``nas-retrain`` does.

    Returns the :class:`evaluate.retrain.RetrainedModel`: ``metrics`` (test top-1/top-5, MACs,
    params, latency), ``run_dir``, ``export_paths`` (model.pt, ONNX, TorchScript, ...) and the
    trained ``model``.

    Example:
        >>> done = retrain("runs/s/best_arch.json", ["recipe.epochs=2"])  # doctest: +SKIP
        >>> done.metrics["top1"]  # doctest: +SKIP
        0.98
    """
    from lamoo_nas.commands.retrain import run_from_config

    cfg = _config("retrain", overrides, config, run_dir, {"arch": arch})
    with _threads(cfg.get("num_threads")):
        return run_from_config(cfg, Path(cfg.run_dir))


def pipeline(
    overrides: Overrides = (),
    *,
    config: DictConfig | None = None,
    run_dir: str | Path | None = None,
) -> PipelineResult:
    """Train, search, retrain the top of the front and report, as ``nas-pipeline`` does.

    Re-running with the same ``run_dir`` keeps the finished stages.

    Example:
        >>> result = pipeline({"search.budget.macs": 600e3}, run_dir="runs/p")  # doctest: +SKIP
        >>> result.winner["test_top1"], result.report.name  # doctest: +SKIP
        (0.9888, 'report.md')
    """
    from lamoo_nas.commands.pipeline import run

    cfg = _config("pipeline", overrides, config, run_dir)
    with _threads(cfg.get("num_threads")):
        summary = run(cfg)
    folder = Path(cfg.run_dir)
    front = json.loads((folder / "search" / "pareto.json").read_text())
    return PipelineResult(
        run_dir=folder,
        report=folder / "report.md",
        winner=summary["winner"],
        retrained=list(summary["retrained"]),
        front=front,
        stage_seconds=dict(summary["stage_seconds"]),
        summary=summary,
    )


def _config(
    command: str,
    overrides: Overrides,
    config: DictConfig | None,
    run_dir: str | Path | None,
    required: Mapping[str, str | Path] | None = None,
) -> DictConfig:
    """The composed config with the ``required`` settings (``supernet``, ``arch``) and
    ``run_dir`` resolved: the argument, else the config's own, else
    ``outputs/<command>/<UTC time>`` (the commands' default)."""
    required = dict(required or {})
    given = override_strings(overrides)
    for key in required:
        if any(item.split("=", 1)[0] == key for item in given):
            raise ConfigError(f"{key} is given both as an argument and in overrides; give it once")
    if config is None:
        fixed = [f"{key}={_value_text(Path(value))}" for key, value in required.items()]
        cfg = compose_config(command, [*fixed, *given])
    else:
        if not isinstance(config, DictConfig):
            raise ConfigError(
                f"config is a {type(config).__name__}; give the DictConfig that "
                f"compose_config({command!r}, ...) returns, or pass overrides instead"
            )
        if given:
            raise ConfigError(
                f"{command}: both config and overrides {given} were given; compose the "
                f"overrides into the config (compose_config({command!r}, [...])) or drop config"
            )
        cfg = config.copy()
        for key, value in required.items():
            cfg[key] = str(value)
    if run_dir is not None:
        cfg.run_dir = str(run_dir)
    elif not cfg.get("run_dir"):
        stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime())
        cfg.run_dir = str(Path("outputs") / command / stamp)
    return cfg


@contextlib.contextmanager
def _threads(value: Any) -> Iterator[None]:
    """Apply ``num_threads`` (:func:`runtime.threads.set_threads`); restore torch's afterwards."""
    import torch

    from lamoo_nas.runtime.threads import set_threads

    before = torch.get_num_threads()
    set_threads(value)
    try:
        yield
    finally:
        torch.set_num_threads(before)
