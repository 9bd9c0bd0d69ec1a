"""Composition of a supernet training run from typed configs (no Hydra here).

:func:`train_supernet` builds the data, the supernet, the optimizer/schedule, the sampler and
the hooks from a :class:`SupernetTrainConfig`, resumes from a checkpoint if asked, and runs
:class:`train.loop.Trainer` over a :class:`train.steps.SupernetStep`. ``nas-train-supernet``
(``commands/train_supernet.py``) builds the config from Hydra; tests and scripts can call this
directly.

Example:
    >>> cfg = SupernetTrainConfig(space=load_space("tiny"), data=DataConfig())  # doctest: +SKIP
    >>> summary = train_supernet(cfg, Path("outputs/run1"))  # doctest: +SKIP
    >>> summary.metrics["val_acc_largest"]  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler

from lamoo_nas.runtime.checkpointer import Checkpointer
from lamoo_nas.runtime.data import DataBundle, DataConfig, build_data
from lamoo_nas.runtime.distributed import DistContext, barrier, broadcast_module
from lamoo_nas.runtime.rundir import RESTART_NOTE, RunDirectory, saved_no_state
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.supernet.model import Supernet, resize_to
from lamoo_nas.supernet.ops import convert_sync_batchnorm
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.train.checkpoint import (
    FINAL_NAME,
    LAST_NAME,
    check_finite,
    check_space,
    check_steps_per_epoch,
    checkpoint_header,
    find_checkpoint,
    last_good_state,
    read_checkpoint,
    training_checkpointer,
)
from lamoo_nas.train.distill import DistillConfig, StepLoss
from lamoo_nas.train.errors import TrainingDivergedError
from lamoo_nas.train.hooks import CheckpointHook, EvalHook, subnet_scores
from lamoo_nas.train.init_from import INIT_CLASSIFIER, init_from_supernet
from lamoo_nas.train.logs import MetricsLogger, ProgressHook, read_metrics
from lamoo_nas.train.loop import Batches, HookBase, Trainer
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig
from lamoo_nas.train.optimisation import amp_dtype, build_optimisation
from lamoo_nas.train.sampler import Region, SamplerConfig, build_sampler, region_eval_archs
from lamoo_nas.train.scorer import InheritedScorer
from lamoo_nas.train.steps import SupernetStep, TrainState


@dataclass(frozen=True)
class RunOptions:
    """Everything of a run that is not data, space, sampler, distillation or optimisation.

    ``resume``: a checkpoint or run directory to continue, or None; ``resume_changes``: the
    dotted settings a resume may change from the run's manifest (see :mod:`runtime.rundir`).
    ``amp``: one of ``none``, ``bf16``, ``fp16`` (fp16 uses a GradScaler; GPU only) or
    ``auto``. ``sync_bn``: batch norm statistics of the global batch under torchrun
    (:func:`supernet.ops.convert_sync_batchnorm`). ``init_from``: a supernet run directory or
    checkpoint whose weights start a new run, the classifier as ``init_classifier`` says
    (:mod:`train.init_from`); a resume takes its weights from its own checkpoint instead.
    """

    seed: int = 0
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    kernel_transform: bool = False
    progress: bool = True
    tensorboard: bool = True
    log_every_steps: int = 10
    checkpoint_every_steps: int = 50
    eval_every_epochs: int = 1
    middle_arch_seed: int = 1
    ema_enabled: bool = False
    ema_decay: float = 0.998
    init_from: str | None = None
    init_classifier: str = "new"
    resume_changes: tuple[str, ...] = ()
    resume: str | None = None


@dataclass(frozen=True)
class SupernetTrainConfig:
    """The typed configuration of one run; ``resolved`` is the plain config stored in
    checkpoints (the command passes the resolved Hydra config; built by
    :func:`commands.settings.supernet_config_from_plain`)."""

    space: SearchSpace
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    run: RunOptions = field(default_factory=RunOptions)
    resolved: dict[str, Any] = field(default_factory=dict)
    region: Region | None = None  # a sub-supernet of a few-shot supernet trains this region only


@dataclass
class TrainSummary:
    """Where the run wrote its files, its last per-epoch metrics row and the trained model."""

    run_dir: Path
    final_checkpoint: Path
    metrics: dict[str, Any]
    model: Supernet


def _init_from_entry(init: Mapping[str, Any] | None) -> dict[str, Any]:
    """The checkpoint header's ``init_from`` entry (none for a run started from scratch)."""
    return {} if init is None else {"init_from": dict(init)}


def _check_options(opts: RunOptions, device: torch.device) -> None:
    amp_dtype(opts.amp, device)  # raises ConfigError naming the allowed values
    if opts.init_classifier not in INIT_CLASSIFIER:
        raise ConfigError(
            f"init_classifier is {opts.init_classifier!r}; allowed: {', '.join(INIT_CLASSIFIER)}"
        )
    for name in ("log_every_steps", "eval_every_epochs"):
        if getattr(opts, name) <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {getattr(opts, name)!r}")
    if opts.checkpoint_every_steps < 0:
        raise ConfigError(
            f"checkpoint.every_steps must be >= 0 (0 = only at epoch ends), "
            f"got {opts.checkpoint_every_steps!r}"
        )
    if not 0.0 < opts.ema_decay < 1.0:
        raise ConfigError(f"ema.decay must be in (0, 1), got {opts.ema_decay!r}")


def epoch_batches(
    bundle: DataBundle, batch_size: int, seed: int, ctx: DistContext
) -> tuple[Batches, int]:
    """``batches(epoch, skip)`` and the number of steps per epoch.

    The epoch's order and augmentation seeds come from a generator seeded by (seed, epoch), so
    skipping the first ``skip`` batches after a resume gives exactly the batches the
    uninterrupted run saw. Each rank gets its ``DistributedSampler`` share. With
    ``bundle.in_memory`` the batches are augmented whole, on ``ctx.device``, from per-image
    parameters drawn by that generator (:meth:`DataBundle.batched_train`); otherwise a
    ``DataLoader`` runs the per-image pipeline.
    """
    n = len(bundle.train)
    share: DistributedSampler[int] = DistributedSampler(
        range(n),  # type: ignore[arg-type]
        num_replicas=ctx.world_size,
        rank=ctx.rank,
        shuffle=True,
        seed=seed,
        drop_last=True,
    )
    steps = len(share) // batch_size if len(share) >= batch_size else 1
    if steps == 0:
        raise ConfigError(f"data.batch_size={batch_size} leaves no step per epoch")

    source = bundle.batched_train(ctx.device) if bundle.in_memory else None

    def batches(epoch: int, skip: int) -> Iterable[tuple[Tensor, Tensor]]:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)  # LOADER_RULE
        if source is not None:
            params = source.draw(generator)
            share.set_epoch(epoch)
            order = list(share)[skip * batch_size : steps * batch_size]
            return source.batches(order, batch_size, params)
        aug_seeds = torch.randint(2**62, (n,), generator=generator).tolist()
        share.set_epoch(epoch)
        order = list(share)[: steps * batch_size]
        pairs = [(i, aug_seeds[i]) for i in order][skip * batch_size :]
        return DataLoader(
            bundle.train,
            batch_size=batch_size,
            sampler=pairs,
            generator=generator,  # type: ignore[arg-type]
            num_workers=bundle.num_workers,
            persistent_workers=False,
        )

    return batches, steps


def _build_step(
    cfg: SupernetTrainConfig, model: Supernet, steps_per_epoch: int, ctx: DistContext
) -> SupernetStep:
    opts = cfg.run
    optimisation = build_optimisation(
        model,
        cfg.optim,
        cfg.schedule,
        steps_per_epoch,
        opts.amp,
        ctx.device,
        ema_decay=opts.ema_decay if opts.ema_enabled else 0.0,
        ctx=ctx,
    )
    return SupernetStep(
        model=model,
        optimisation=optimisation,
        ctx=ctx,
        channels_last=opts.channels_last,
        sampler=build_sampler(cfg.sampler, cfg.space, cfg.region),
        loss=StepLoss(cfg.distill),
        arch_rng=np.random.default_rng(opts.seed),
        resize=resize_to,
        forward=torch.compile(model) if opts.compile else None,
    )


def _hooks(
    cfg: SupernetTrainConfig,
    bundle: DataBundle,
    step: SupernetStep,
    checkpointer: Checkpointer,
    archs: list[tuple[str, ArchConfig]],
    run_dir: Path,
    total_steps: int,
) -> list[HookBase]:
    data = cfg.data
    # streamed: the val split is read once an epoch, not kept on the device during training
    scorer = InheritedScorer.from_bundle(
        bundle, "val", data.calib_images, data.eval_batch_size, step.ctx.device, cached=False
    )
    ema = step.optimisation.ema
    return [
        EvalHook(subnet_scores(archs, scorer), cfg.run.eval_every_epochs, ema=ema),
        ProgressHook(total_steps, cfg.run.progress),
        MetricsLogger(run_dir, cfg.run.log_every_steps, cfg.run.tensorboard),
        CheckpointHook(run_dir, checkpointer, cfg.run.checkpoint_every_steps),
    ]


@contextlib.contextmanager
def _guarded(
    cfg: SupernetTrainConfig,
    run_dir: Path,
    ctx: DistContext,
    resumed: Mapping[str, Any] | None,
) -> Iterator[RunDirectory | None]:
    """Rank 0 locks ``run_dir`` and checks its manifest (a new run refuses a used folder, a
    resume refuses changed settings not in ``resume_changes``; a run from before manifests is
    adopted from its checkpoint's config); other ranks write nothing."""
    if not ctx.is_main:
        yield None
        return
    adopt = None
    if resumed is not None:
        adopt = {
            "config": resumed["config"],
            "fingerprints": {"space": resumed["space_fingerprint"]},
        }
    run = RunDirectory.open(
        run_dir,
        "supernet",
        cfg.resolved,
        {"space": cfg.space.fingerprint},
        resume=cfg.run.resume is not None,
        resume_changes=cfg.run.resume_changes,
        adopt=adopt,
        state_files=(LAST_NAME,),
    )
    if run.restarted:
        print(f"note: {RESTART_NOTE.format(run_dir=run_dir)}", flush=True)
    try:
        yield run
    finally:
        run.close()


def _nothing_to_resume(resume: str, run_dir: Path) -> bool:
    """True when ``resume`` names ``run_dir`` (or its ``last.pt``) and that run stopped before
    its first checkpoint: the resume is then a fresh start
    (:func:`runtime.rundir.saved_no_state`)."""
    target = Path(resume)
    folder = target.parent if target.name == LAST_NAME else target
    return folder.resolve() == run_dir.resolve() and saved_no_state(run_dir, (LAST_NAME,))


def train_supernet(
    cfg: SupernetTrainConfig, run_dir: Path, ctx: DistContext | None = None
) -> TrainSummary:
    """Train (or resume) a supernet; rank 0 writes checkpoints and logs under ``run_dir``.

    Example:
        >>> cfg = SupernetTrainConfig(space=load_space("tiny"))  # doctest: +SKIP
        >>> train_supernet(cfg, Path("out"))  # doctest: +SKIP
    """
    ctx = ctx or DistContext()
    _check_options(cfg.run, ctx.device)
    run_dir = Path(run_dir)
    if cfg.run.resume is not None and _nothing_to_resume(cfg.run.resume, run_dir):
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, resume=None))
    bundle = build_data(cfg.data, image_size=max(cfg.space.resolutions))
    model = Supernet(cfg.space, bundle.num_classes, kernel_transform=cfg.run.kernel_transform)
    init = None
    if cfg.run.init_from is not None and cfg.run.resume is None:
        init = init_from_supernet(model, cfg.run.init_from, cfg.run.init_classifier).to_dict()
    model.to(ctx.device)
    if cfg.run.sync_bn:
        convert_sync_batchnorm(model)
    if cfg.run.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    broadcast_module(model, ctx)
    batches, steps_per_epoch = epoch_batches(bundle, cfg.data.batch_size, cfg.run.seed, ctx)
    step = _build_step(cfg, model, steps_per_epoch, ctx)
    eval_archs = region_eval_archs(cfg.space, cfg.region, cfg.run.middle_arch_seed)
    middle = eval_archs[-1][1]
    resumed = None
    if cfg.run.resume is not None:
        path = find_checkpoint(cfg.run.resume, prefer=(LAST_NAME,))
        resumed = read_checkpoint(path, map_location=ctx.device)
        check_space(resumed, cfg.space, path)
        check_finite(resumed["model"], path, "resumed")
        check_steps_per_epoch(resumed, steps_per_epoch)
        middle = cfg.space.arch_from_json(resumed["middle_arch"])
        init = resumed.get("init_from")
    header = checkpoint_header(
        cfg.space,
        bundle.num_classes,
        asdict(cfg.data),
        cfg.resolved,
        model_options={"kernel_transform": cfg.run.kernel_transform},
        middle_arch=cfg.space.arch_to_json(middle),
        steps_per_epoch=steps_per_epoch,
        **_init_from_entry(init),
    )
    state = TrainState()
    checkpointer = training_checkpointer(step, state, header, loader_seed=cfg.run.seed)
    if resumed is not None:
        checkpointer.restore(resumed)
    total = cfg.schedule.epochs * steps_per_epoch
    eval_archs[-1] = ("middle", middle)
    hooks = _hooks(cfg, bundle, step, checkpointer, eval_archs, run_dir, total)
    hooks = hooks if ctx.is_main else []
    with _guarded(cfg, run_dir, ctx, resumed) as run:  # nothing is written before this
        for note in step.optimisation.notes if run is not None else []:
            print(f"note: {note}", flush=True)
        try:
            Trainer(step, batches, cfg.schedule.epochs, hooks, state).train()
        except TrainingDivergedError as err:
            raise TrainingDivergedError(f"{err}. {last_good_state(run_dir, 'optim.lr')}") from err
        if run is not None:
            run.finish()
    barrier(ctx)
    rows = read_metrics(run_dir) if ctx.is_main else []
    return TrainSummary(run_dir, run_dir / FINAL_NAME, rows[-1] if rows else {}, model)
