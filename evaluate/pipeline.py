"""``nas-pipeline``: the main job, end to end in one run directory.

Stages, each resumable (re-run with the same ``run_dir`` keeps finished stages):

1. ``supernet/``: train the supernet (``train.supernet``); skipped when ``final.pt`` exists,
   resumed from ``last.pt`` when only that exists.
2. ``search/``: constrained search over inherited-weight accuracy and exact cost
   (``evaluate.nas_search``); resumes from its history.
3. ``retrain/rank<i>/``: the ``top_k`` front architectures of highest inherited accuracy
   (topped up with the best architectures off the front when the front is smaller), retrained
   from scratch, measured on the test split and exported; a finished one is kept.
4. ``report.md`` (+ ``pipeline.json``): front, retrained results, rank fidelity, stage times.

The winner is the architecture with the best inherited *validation* accuracy within the budget
(never chosen by test accuracy); its retrained test accuracy is the headline number.

Examples (shell)::

    nas-pipeline                                          # digits, tiny space, ~5 min on CPU
    nas-pipeline data=cifar10 data.root=/data space=cifar recipe=cifar search.budget.macs=100e6
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from evaluate.report import RetrainedRow, write_report
from search import SearchError
from supernet.errors import ConfigError, NASError
from train.checkpoint import FINAL_NAME, LAST_NAME
from train.cli import run_cli
from train.io import atomic_write_text

SUPERNET_GROUPS = ("space", "data", "sampler", "distill", "optim", "schedule")


@dataclass
class StageTimer:
    """Wall time of each stage, in seconds (stages skipped on resume take ~0)."""

    seconds: dict[str, float]

    def run(self, name: str, fn: Any, *args: Any) -> Any:
        print(f"== {name} ==", flush=True)
        start = time.perf_counter()
        out = fn(*args)
        self.seconds[name] = round(time.perf_counter() - start, 2)
        return out


def _stage_config(base: dict[str, Any], section: Any, extra: dict[str, Any]) -> DictConfig:
    """A stage's own config: ``base`` groups, then its section, then pipeline-wide values."""
    plain = OmegaConf.to_container(section, resolve=True)
    assert isinstance(plain, dict)
    return OmegaConf.create({**base, **{str(k): v for k, v in plain.items()}, **extra})


def _groups(cfg: DictConfig, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: OmegaConf.to_container(cfg[name], resolve=True) for name in names}


def supernet_config(cfg: DictConfig, run_dir: Path) -> DictConfig:
    """The ``train_supernet`` config of this pipeline: shared groups + the supernet section."""
    last = run_dir / LAST_NAME
    return _stage_config(
        _groups(cfg, SUPERNET_GROUPS),
        cfg.supernet,
        {
            "seed": cfg.seed,
            "device": cfg.device,
            "num_threads": cfg.num_threads,
            "progress": cfg.progress,
            "run_dir": str(run_dir),
            "resume": str(last) if last.exists() else False,
        },
    )


def train_stage(cfg: DictConfig, run_dir: Path) -> Path:
    """Train (or resume, or keep) the supernet; returns its run directory."""
    from train.supernet import run as train_supernet_run

    if not (run_dir / FINAL_NAME).exists():
        train_supernet_run(supernet_config(cfg, run_dir))
    return run_dir


def search_stage(cfg: DictConfig, supernet_dir: Path, run_dir: Path) -> Any:
    """Search the trained supernet under the budget (resumes from the history)."""
    from evaluate.search import run as search_run

    merged = _stage_config(
        _groups(cfg, ("strategy", "data")),
        cfg.search,
        {
            "supernet": str(supernet_dir),
            "seed": cfg.seed,
            "device": cfg.device,
            "num_threads": cfg.num_threads,
            "progress": cfg.progress,
            "run_dir": str(run_dir),
        },
    )
    return search_run(merged)


def retrain_stage(cfg: DictConfig, search_result: Any, run_dir: Path) -> list[RetrainedRow]:
    """Retrain the ``top_k`` front architectures of highest inherited accuracy (topped up with
    the most accurate architectures off the front when the front has fewer than ``top_k``)."""
    from evaluate.retrain import (
        finish_options_from_config,
        options_from_config,
        recipe_from_config,
        retrain_and_export,
    )
    from train.data import DataConfig

    top_k = int(cfg.retrain.top_k)
    if top_k < 1:
        raise ConfigError(f"retrain.top_k must be >= 1, got {top_k}")
    by_accuracy = sorted(search_result.rows, key=lambda r: (not r.is_pareto, -r.accuracy, r.macs))
    front = by_accuracy[:top_k]  # the front first; its best-accuracy members first
    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    plain = {str(k): v for k, v in container.items()}
    data_cfg = DataConfig(**plain["data"])
    recipe = recipe_from_config(plain["recipe"])
    rows = []
    for rank, scored in enumerate(front, start=1):
        target = run_dir / f"rank{rank}"
        metrics_path = target / "metrics.json"
        if not metrics_path.exists():
            print(f"retrain rank {rank}/{len(front)}: {scored.arch}", flush=True)
            section = _stage_config(
                {},
                cfg.retrain,
                {
                    "seed": cfg.seed,
                    "device": cfg.device,
                    "num_threads": cfg.num_threads,
                    "progress": cfg.progress,
                    "resume": (target / LAST_NAME).exists(),
                },
            )
            options = options_from_config(section, {**plain, "arch": str(scored.arch)})
            finish = finish_options_from_config(section)
            retrain_and_export(
                scored.arch, search_result.space, data_cfg, recipe, target, options, finish
            )
        metrics = json.loads(metrics_path.read_text())
        rows.append(RetrainedRow(rank, scored, metrics, target))
    return rows


def run(cfg: DictConfig) -> dict[str, Any]:
    """All stages into one run directory; returns the pipeline summary (also pipeline.json)."""
    run_dir = _run_dir(cfg)
    timer = StageTimer({})
    supernet_dir = timer.run("supernet", train_stage, cfg, run_dir / "supernet")
    result = timer.run("search", search_stage, cfg, supernet_dir, run_dir / "search")
    rows = timer.run("retrain", retrain_stage, cfg, result, run_dir / "retrain")
    summary = write_report(run_dir, supernet_dir, result, rows, timer.seconds)
    atomic_write_text(run_dir / "pipeline.json", json.dumps(summary, indent=1) + "\n")
    print(f"\nreport: {run_dir / 'report.md'}")
    winner = summary["winner"]
    print(
        f"winner: test top-1 {100 * winner['test_top1']:.2f}%, {winner['macs']:,} MACs, "
        f"{winner['params']:,} params, {winner['latency_cpu_ms']:.3f} ms CPU (batch 1); "
        f"total {summary['total_seconds']:.0f} s"
    )
    export = rows[0].run_dir / "export"
    print(
        f"results: {run_dir} (report.md, search/pareto.png, retrain/rank1/export/)\n"
        f"next: nas-evaluate model={export}   # or nas-search supernet={supernet_dir} "
        "budget.macs=...\n(the nas-* commands live in .venv/bin: `source .venv/bin/activate`)"
    )
    return summary


def _run_dir(cfg: DictConfig) -> Path:
    if cfg.get("run_dir"):
        return Path(cfg.run_dir)
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


def _task(cfg: DictConfig) -> float:
    return float(run(cfg)["winner"]["test_top1"])


def main() -> None:
    """Console entry point ``nas-pipeline``."""
    run_cli("pipeline", _task, (NASError, SearchError))


if __name__ == "__main__":
    main()
