"""``nas-retrain`` / ``python -m lamoo_nas.commands.retrain``: retrain an architecture from
scratch, then measure its latency and export it (``conf/retrain.yaml``); the work itself is
:func:`evaluate.retrain.retrain_and_export`.

Example (shell)::

    nas-retrain arch=outputs/search/RUN/best_arch.json recipe.epochs=5
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lamoo_nas.commands.runner import plain_config, run_cli, run_dir_for
from lamoo_nas.commands.settings import recipe_from_config, retrain_settings_from_plain
from lamoo_nas.evaluate.retrain import RetrainedModel, retrain_and_export
from lamoo_nas.runtime.data import DataConfig
from lamoo_nas.runtime.schema import build
from lamoo_nas.supernet.errors import CheckpointError, ConfigError, SpaceDefinitionError
from lamoo_nas.supernet.space import ArchConfig, SearchSpace, load_space


def _arch_and_space(config: Any) -> tuple[ArchConfig, SearchSpace]:
    """The architecture of ``arch=`` (a JSON file) and its space: ``space=`` when given, else
    the space the file names."""

    if not isinstance(config, dict):  # a composed Hydra config
        config = plain_config(config)

    path = Path(str(config["arch"]))
    if not path.is_file():
        raise CheckpointError(f"arch={path} is not a file; give the path to an arch JSON")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"arch file {path} is not valid JSON: {err}") from err
    if config.get("space") is not None:
        space_raw = config["space"]
        if not isinstance(space_raw, dict):
            raise ConfigError(f"space must be a definition mapping, got {space_raw!r}")
        space = SearchSpace.from_dict({str(k): v for k, v in space_raw.items()})
    else:
        if not isinstance(raw, dict) or "space" not in raw:
            raise CheckpointError(
                f"arch file {path} names no space; pass space=NAME (a preset) or "
                "space=path/to/space.yaml"
            )
        try:
            space = load_space(str(raw["space"]))
        except SpaceDefinitionError as err:
            raise SpaceDefinitionError(
                f"arch file {path}: its space field is {raw['space']!r}, which is no search "
                f"space: {err}. Fix that field, or pass space=NAME or space=path/to/space.yaml"
            ) from err
    return space.arch_from_json(raw), space


def run_from_config(cfg: Any, run_dir: Path) -> RetrainedModel:
    """Build the typed objects from a composed config and call :func:`retrain_and_export`."""
    config = plain_config(cfg)
    options, finish = retrain_settings_from_plain(config, config)
    data_cfg = build(DataConfig, config["data"], "data")
    recipe = recipe_from_config(config["recipe"])
    arch, space = _arch_and_space(config)
    result = retrain_and_export(arch, space, data_cfg, recipe, run_dir, options, finish)
    if result.is_main:
        _print_summary(result)
    return result


def _print_summary(result: RetrainedModel) -> None:
    m = result.metrics
    keys = ("top1", "top5", "macs", "params", "latency_cpu_ms", "latency_gpu_ms", "train_time_s")
    print("  ".join(f"{k}={m[k]}" for k in keys if k in m))
    print(f"run dir: {result.run_dir}")
    if result.export_paths is not None:
        print(f"exported: {result.export_paths.root}")


def _task(cfg: Any) -> None:
    run_from_config(cfg, run_dir_for(cfg))  # run_dir, else the resumed run's, else Hydra's


def main() -> None:
    """``nas-retrain arch=ARCH_JSON [data=digits recipe=digits space=tiny ...]``."""
    run_cli("retrain", _task)


if __name__ == "__main__":
    main()
