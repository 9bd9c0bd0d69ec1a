"""``nas-train-supernet`` / ``python -m lamoo_nas.commands.train_supernet``: train a supernet.

The only module of supernet training that imports Hydra/OmegaConf: it composes
``conf/train_supernet.yaml`` with the groups data, space, sampler, distill, optim and
schedule, turns them into typed configs and calls :func:`train.run.train_supernet`.

Examples (shell)::

    nas-train-supernet                                   # digits, tiny space, sandwich
    nas-train-supernet schedule.epochs=5 optim.lr=1e-3 sampler=uniform distill=none
    nas-train-supernet resume=true run_dir=outputs/train_supernet/2024-01-01_00-00-00
    nas-train-supernet -m optim.lr=1e-3,3e-3             # a sweep, one run dir per job
    # gloo on CPU:
    torchrun --nproc_per_node 2 -m lamoo_nas.commands.train_supernet device=cpu run_dir=outputs/ddp

Notes:

* Outputs (rank 0 only) in the run dir: ``last.pt`` (every ``checkpoint.every_steps`` steps
  and each epoch end), ``final.pt``, ``metrics.csv``/``metrics.jsonl`` (per epoch: train loss,
  lr, img/s, validation top-1 of the smallest, largest and a fixed middle arch after BN
  recalibration), ``tensorboard/`` and ``training_curve.png``.
* ``resume=true`` continues ``last.pt`` of ``run_dir`` (or of Hydra's run dir); ``resume=PATH``
  continues a run dir or checkpoint and writes into its folder. The run continues mid-epoch
  with the exact batches, augmentations and architectures of an uninterrupted run (same
  weights); the config must give the same steps per epoch. After a mid-epoch resume that
  epoch's train_loss/img_per_s cover the steps after the resume only.
* Under torchrun ``data.batch_size`` is per process; give ``run_dir`` explicitly so every
  rank agrees on it. ``sync_bn=true`` normalises with the statistics of the global batch.
* ``compile=true`` wraps the supernet in ``torch.compile``. The forward depends on the
  architecture, so every architecture a step draws for the first time compiles anew: with the
  sandwich or uniform sampler that is a new graph nearly every step, and the compile never
  pays off (measured in docs/gpu-paths.md); leave it off for supernet training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from lamoo_nas.commands.runner import plain_config, run_cli, run_dir_for
from lamoo_nas.commands.settings import supernet_config_from_plain
from lamoo_nas.runtime.distributed import init_from_env, shutdown
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.checkpoint import LAST_NAME
from lamoo_nas.train.run import SupernetTrainConfig, TrainSummary, train_supernet


def resolve_resume(resume: Any, run_dir: Path) -> str | None:
    """``false``/null -> None; ``true`` -> ``run_dir``'s last.pt; a string -> that path."""
    if resume is None or resume is False:
        return None
    if resume is True:
        return str(run_dir / LAST_NAME)
    if isinstance(resume, str) and resume:
        return resume
    raise ConfigError(f"resume is {resume!r}; allowed: false, true, or a run dir/checkpoint path")


def build_config(cfg: DictConfig, run_dir: Path) -> SupernetTrainConfig:
    """Typed configs from the composed Hydra config (raises ConfigError on bad values)."""
    plain = plain_config(cfg)
    return supernet_config_from_plain(plain, resume=resolve_resume(plain.get("resume"), run_dir))


def run(cfg: DictConfig) -> TrainSummary:
    """Build the typed config, join torchrun's process group if any, train."""
    run_dir = run_dir_for(cfg)
    typed = build_config(cfg, run_dir)
    ctx = init_from_env(typed.run.device)
    torch.manual_seed(typed.run.seed)  # weight init; the loop itself never reseeds
    if ctx.is_main:
        print(f"run directory: {run_dir}", flush=True)
    few_shot = typed.resolved.get("few_shot") or {"kind": "none"}
    try:
        if few_shot.get("kind", "none") != "none":
            return _few_shot(few_shot, typed, run_dir, ctx)
        summary = train_supernet(typed, run_dir, ctx)
    finally:
        shutdown(ctx)
    if ctx.is_main:
        print(describe_summary(summary))
    return summary


def _few_shot(section: dict[str, Any], typed: SupernetTrainConfig, run_dir: Path, ctx: Any) -> Any:
    """``few_shot=choices|learned``: split ``few_shot.parent`` (:mod:`evaluate.few_shot`)."""
    from lamoo_nas.evaluate.few_shot import FewShotConfig, train_few_shot
    from lamoo_nas.runtime.schema import build

    few = build(FewShotConfig, section, "few_shot")
    summary = train_few_shot(typed, few, run_dir, ctx)
    if ctx.is_main:
        print(
            f"done: few-shot supernet {run_dir} ({summary.partition.num_regions} regions, "
            f"{summary.epochs_per_region} epochs each)\nnext: nas-search supernet={run_dir} "
            f"budget.macs=...   # or nas-evaluate mode=rank supernet={run_dir} truth=..."
        )
    return summary


def describe_summary(summary: TrainSummary) -> str:
    """What a finished training says: its checkpoint, its last accuracies, what to run next."""
    row = summary.metrics
    accuracies = ", ".join(
        f"{name} {100 * float(row[f'val_acc_{name}']):.2f} %"
        for name in ("largest", "middle", "smallest")
        if row.get(f"val_acc_{name}") not in (None, "")
    )
    return (
        f"done: {summary.final_checkpoint}"
        + (f"; validation accuracy {accuracies}" if accuracies else "")
        + f"\nnext: nas-search supernet={summary.run_dir} budget.macs=..."
    )


def _task(cfg: DictConfig) -> float | None:
    summary = run(cfg)
    if not isinstance(summary, TrainSummary):  # a few-shot run
        return None
    value = summary.metrics.get("val_acc_largest")
    return float(value) if value is not None else None


def main() -> None:
    """Console entry point ``nas-train-supernet``."""
    run_cli("train_supernet", _task)


if __name__ == "__main__":
    main()
