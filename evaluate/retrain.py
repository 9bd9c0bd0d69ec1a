"""Retrain an architecture from scratch, then measure its latency and export it: ``nas-retrain``.

:func:`retrain_and_export` is the Python API (the pipeline calls it): :func:`train.retrain.retrain`
trains and scores the test split, then this module adds CPU (and CUDA, when present) latency,
exports the model to ``run_dir/export`` (:func:`evaluate.export.export_model`) and writes
``run_dir/metrics.json`` last, so a run with ``metrics.json`` is a finished one (resuming a run
without it redoes its export). The ``nas-retrain`` command (``conf/retrain.yaml``) is
:mod:`commands.retrain`.

Example:
    >>> space = load_space("tiny")
    >>> done = retrain_and_export(space.smallest(), space, DataConfig(), Recipe(epochs=1),
    ...                           "runs/r1")  # doctest: +SKIP
    >>> done.export_paths.onnx.name  # doctest: +SKIP
    'model.onnx'
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lamoo_nas.evaluate.export import ExportPaths, check_export_target, export_model
from lamoo_nas.evaluate.latency import measure_latency_ms
from lamoo_nas.runtime.data import DataConfig, preprocessing_spec
from lamoo_nas.runtime.distributed import is_main_process
from lamoo_nas.runtime.io import atomic_write_text
from lamoo_nas.runtime.rundir import RESTART_NOTE, RunDirectory
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.train.checkpoint import LAST_NAME
from lamoo_nas.train.recipes import Recipe
from lamoo_nas.train.retrain import RetrainOptions, retrain

METRICS_NAME = "metrics.json"
EXPORT_DIR = "export"


@dataclass(frozen=True)
class FinishOptions:
    """What happens after training: export (``overwrite`` replaces an existing export folder)
    and the latency measurement (median of ``latency_repeats`` runs after ``latency_warmup``)."""

    export: bool = True
    export_overwrite: bool = False
    latency_warmup: int = 10
    latency_repeats: int = 50


@dataclass(frozen=True)
class RetrainedModel:
    """Test metrics with latency (also in ``run_dir/metrics.json``), the run folder, the
    export's files and the model. Under torchrun only rank 0 measures and exports: other ranks
    get ``metrics == {}``, ``export_paths is None`` and ``is_main`` false."""

    metrics: dict[str, Any]
    run_dir: Path
    export_paths: ExportPaths | None
    model: torch.nn.Module
    is_main: bool = True


def retrain_and_export(
    arch: ArchConfig,
    space: SearchSpace,
    data_cfg: DataConfig,
    recipe: Recipe,
    run_dir: str | Path,
    options: RetrainOptions | None = None,
    finish: FinishOptions | None = None,
) -> RetrainedModel:
    """Train ``arch`` from scratch, measure test accuracy and latency, export, write metrics.

    Example:
        >>> done = retrain_and_export(arch, space, DataConfig(), recipe, "runs/x")  # doctest: +SKIP
        >>> done.metrics["latency_cpu_ms"] > 0  # doctest: +SKIP
        True
    """
    finish = finish or FinishOptions()
    options = options or RetrainOptions()
    run_dir = Path(run_dir)
    if options.resume and not (run_dir / METRICS_NAME).exists():
        # an unfinished run: its export, if any, is its own, cut off before metrics.json
        finish = dataclasses.replace(finish, export_overwrite=True)
    if finish.export:  # fail before training, not after it
        check_export_target(run_dir / EXPORT_DIR, finish.export_overwrite)
    with _guarded(arch, space, run_dir, options) as run:
        if run is not None and run.restarted:  # it never wrote last.pt: nothing to resume
            options = dataclasses.replace(options, resume=False)
        done = _train_and_export(arch, space, data_cfg, recipe, run_dir, options, finish)
        if run is not None:
            run.finish()
    return done


@contextlib.contextmanager
def _guarded(
    arch: ArchConfig, space: SearchSpace, run_dir: Path, options: RetrainOptions
) -> Iterator[RunDirectory | None]:
    """Rank 0 locks ``run_dir`` and checks its manifest (:mod:`runtime.rundir`): a new run
    refuses a used folder, a resume refuses another architecture or changed settings."""
    if not is_main_process():
        yield None
        return
    config = {**options.config, "arch": space.arch_to_json(arch)}
    fingerprints = {"space": space.fingerprint}
    with RunDirectory.open(
        run_dir,
        "retrain",
        config,
        fingerprints,
        resume=options.resume,
        resume_changes=options.resume_changes,
        adopt=_adoptable(run_dir) if options.resume else None,
        state_files=(LAST_NAME,),
    ) as run:
        if run.restarted:
            print(f"note: {RESTART_NOTE.format(run_dir=run_dir)}", flush=True)
        yield run


def _adoptable(run_dir: Path) -> dict[str, Any] | None:
    """What a retrain run from before manifests recorded in its ``last.pt`` (see
    :meth:`runtime.rundir.RunDirectory.open`), or None when there is nothing to adopt."""
    from lamoo_nas.train.retrain import RETRAIN_FORMAT

    last = run_dir / LAST_NAME
    if (run_dir / "run.json").exists() or not last.is_file():
        return None
    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=True)
    except Exception:  # unreadable: the resume itself reports it, with the reason
        return None
    if not isinstance(ckpt, dict) or ckpt.get("format") != RETRAIN_FORMAT:
        return None
    config = {**dict(ckpt.get("config") or {}), "arch": ckpt.get("arch")}
    return {"config": config, "fingerprints": {"space": ckpt.get("space_fingerprint")}}


def _train_and_export(
    arch: ArchConfig,
    space: SearchSpace,
    data_cfg: DataConfig,
    recipe: Recipe,
    run_dir: Path,
    options: RetrainOptions,
    finish: FinishOptions,
) -> RetrainedModel:
    trained = retrain(arch, space, data_cfg, recipe, run_dir, options)
    if not trained.is_main:
        return RetrainedModel({}, run_dir, None, trained.model, False)
    metrics = {**trained.metrics, **latency_metrics(trained.model, arch, finish)}
    export_paths = None
    if finish.export:
        export_paths = export_model(
            trained.model,
            arch,
            space,
            trained.num_classes,
            run_dir / EXPORT_DIR,
            metrics=metrics,
            overwrite=finish.export_overwrite,
            preprocessing=preprocessing_spec(data_cfg, trained.class_names, arch.resolution),
        )
    atomic_write_text(run_dir / METRICS_NAME, json.dumps(metrics, indent=2) + "\n")
    return RetrainedModel(metrics, run_dir, export_paths, trained.model, True)


def latency_metrics(
    model: torch.nn.Module, arch: ArchConfig, finish: FinishOptions
) -> dict[str, Any]:
    """Batch-1 latency on the CPU, and on CUDA when there is one (median ms plus the stats)."""
    shape = (1, 3, arch.resolution, arch.resolution)
    warmup, repeats = finish.latency_warmup, finish.latency_repeats
    cpu = measure_latency_ms(model, shape, "cpu", warmup, repeats)
    metrics: dict[str, Any] = {
        "latency_cpu_ms": round(cpu.median_ms, 4),
        "latency_cpu": cpu.to_dict(),
    }
    if torch.cuda.is_available():
        gpu = measure_latency_ms(model, shape, "cuda", warmup, repeats)
        metrics.update(latency_gpu_ms=round(gpu.median_ms, 4), latency_gpu=gpu.to_dict())
    return metrics


if __name__ == "__main__":  # the command moved in the floor-plan release
    raise SystemExit(
        "error: lamoo_nas.evaluate.retrain is a library module now; the command is "
        "'nas-retrain' (python -m lamoo_nas.commands.retrain)"
    )
