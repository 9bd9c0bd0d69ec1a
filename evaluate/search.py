"""``nas-search`` / ``python -m evaluate.search``: constrained search over a trained supernet.

The composition root of the search: it reads ``conf/search.yaml`` (+ the ``strategy`` group),
loads the supernet checkpoint and its data, and calls :func:`evaluate.nas_search.run_nas_search`.

Examples (shell)::

    nas-search supernet=outputs/train_supernet/RUN budget.macs=2e6
    nas-search supernet=RUN budget.params=60e3 objectives=[accuracy,params] strategy=nsga2
    nas-search supernet=RUN run_dir=outputs/search/RUN2     # resume an interrupted search
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evaluate.codec import Budget
from evaluate.evaluator import InheritedAccuracyEvaluator
from evaluate.nas_search import SearchResult, SearchSettings, lamoo_options, run_nas_search
from search import NSGA2Options, QEHVIOptions, SearchError
from supernet import CostModel
from supernet.errors import ConfigError, NASError
from train.checkpoint import load_supernet
from train.cli import run_cli
from train.data import build_data
from train.distributed import init_from_env, shutdown


def settings_from_config(cfg: Mapping[Any, Any]) -> SearchSettings:
    """Typed search settings from the resolved config (raises ConfigError on bad values)."""
    strategy = dict(cfg["strategy"])
    budget = cfg.get("budget") or {}
    unknown = set(budget) - {"macs", "params"}
    if unknown:
        raise ConfigError(f"budget has unknown keys {sorted(unknown)}; allowed: macs, params")
    return SearchSettings(
        strategy=str(strategy.pop("name")),
        objectives=tuple(cfg["objectives"]),
        budget=Budget(**{k: None if v is None else float(v) for k, v in budget.items()}),
        num_samples=cfg["num_samples"],
        batch_size=cfg["batch_size"],
        num_init=cfg["num_init"],
        seed=int(cfg["seed"]),
        lamoo=lamoo_options(strategy.get("lamoo", {})),
        nsga2=NSGA2Options(**strategy.get("nsga2", {})),
        qehvi=QEHVIOptions(**strategy.get("qehvi", {})),
        progress=bool(cfg.get("progress", True)),
    )


def run(cfg: DictConfig) -> SearchResult:
    """Load the supernet and its data, search, write the outputs into the run directory.

    Under ``torchrun`` every rank proposes the same architectures (same seed) and scores its
    shard of the validation split; the correct counts are summed across ranks. Rank 0 writes the
    run directory, the other ranks keep their copies under ``<run_dir>/.ranks/``.
    """
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    settings = settings_from_config(resolved)
    ctx = init_from_env(str(cfg.device))
    run_dir = _run_dir(cfg)
    if not ctx.is_main:
        run_dir = run_dir / ".ranks" / f"rank{ctx.rank}"
        settings = dataclasses.replace(settings, progress=False)
    try:
        loaded = load_supernet(
            str(cfg.supernet), map_location=ctx.device, use_ema=bool(cfg.use_ema)
        )
        data_cfg = dataclasses.replace(loaded.data_config, **(resolved.get("data") or {}))
        bundle = build_data(data_cfg, image_size=max(loaded.space.resolutions))
        evaluator = InheritedAccuracyEvaluator.from_bundle(
            loaded.model, bundle, int(cfg.calib_images), data_cfg.eval_batch_size, ctx.device
        )
        cost_model = CostModel(loaded.space, loaded.num_classes)
        if ctx.is_main:
            for note in settings.budget.slack(cost_model.largest()):
                print(f"note: {note}", flush=True)
        result = run_nas_search(loaded.space, cost_model, evaluator, settings, run_dir)
    finally:
        shutdown(ctx)
    if ctx.is_main:
        print(format_front(result))
    return result


def format_front(result: SearchResult) -> str:
    """A Markdown table of the Pareto front and where the outputs are."""
    lines = [
        f"Pareto front ({len(result.pareto)} of {len(result.rows)} architectures), "
        f"hypervolume {result.summary['hypervolume']:.4g}:",
        "",
        "| accuracy (%) | MACs (M) | params (M) | architecture |",
        "| ---: | ---: | ---: | --- |",
    ]
    for row in result.pareto:
        lines.append(
            f"| {100 * row.accuracy:.2f} | {row.macs / 1e6:.3f} | {row.params / 1e6:.4f} "
            f"| `{row.arch}` |"
        )
    lines += ["", f"best within budget -> {result.run_dir / 'best_arch.json'}"]
    return "\n".join(lines)


def _run_dir(cfg: DictConfig) -> Path:
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _task(cfg: DictConfig) -> float:
    return float(run(cfg).summary["hypervolume"])


def main() -> None:
    """Console entry point ``nas-search``."""
    run_cli("search", _task, (NASError, SearchError))


if __name__ == "__main__":
    main()
