"""Retrain one architecture from scratch and measure it on the test split.

:func:`retrain` trains :func:`supernet.build_static` with fresh weights (never the supernet's)
with the loop of every training run (:class:`train.loop.Trainer` over a
:class:`train.steps.StaticStep`) and its hooks: progress bar, CSV/JSONL/TensorBoard, atomic
``last.pt``/``final.pt`` that hold the arch JSON and the space definition, ``resume=true``.
It returns test top-1/top-5, MACs and params; latency, ``metrics.json`` and the export are
added by :mod:`evaluate.retrain`, which also holds the ``nas-retrain`` CLI.

Example:
    >>> space = load_space("tiny")
    >>> result = retrain(space.smallest(), space, DataConfig(), Recipe(epochs=1),
    ...                  Path("runs/r1"))  # doctest: +SKIP
    >>> result.metrics["top1"]  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lamoo_nas.runtime.checkpointer import Checkpointer
from lamoo_nas.runtime.data import DataConfig, build_data
from lamoo_nas.runtime.data._config import NORMALIZATION
from lamoo_nas.runtime.distributed import DistContext, broadcast_module, init_from_env, shutdown
from lamoo_nas.runtime.io import load_tagged
from lamoo_nas.runtime.metrics import accuracy_of
from lamoo_nas.supernet.cost import count_cost
from lamoo_nas.supernet.errors import CheckpointError, ConfigError
from lamoo_nas.supernet.space import ArchConfig, SearchSpace
from lamoo_nas.supernet.static import build_static
from lamoo_nas.train.checkpoint import (
    LAST_NAME,
    REQUIRED_KEYS,
    check_finite,
    check_header,
    check_steps_per_epoch,
    checkpoint_header,
    training_checkpointer,
)
from lamoo_nas.train.hooks import CheckpointHook, EvalHook
from lamoo_nas.train.logs import RETRAIN_CURVES, MetricsLogger, ProgressHook
from lamoo_nas.train.loop import HookBase, Trainer
from lamoo_nas.train.optimisation import build_optimisation
from lamoo_nas.train.recipes import (
    Recipe,
    RetrainLoss,
    build_mixup,
    build_randaugment,
    epoch_batches,
)
from lamoo_nas.train.steps import StaticStep, TrainState

RETRAIN_FORMAT = "lamoo-nas/retrain"
RETRAIN_VERSION = 1


@dataclass(frozen=True)
class RetrainOptions:
    """Run options besides the recipe. ``amp``: ``auto`` (bf16 on CUDA, off on CPU), ``bf16``,
    ``fp16`` or ``none``. ``channels_last``: weights and batches in channels-last memory.
    ``num_threads``: torch's intra-op threads for the run (None: leave the process's setting),
    1 as in ``conf/common.yaml``. ``config``: the resolved run config, stored in every
    checkpoint."""

    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    channels_last: bool = False
    resume: bool = False
    log_every_steps: int = 10
    checkpoint_every_steps: int = 0
    tensorboard: bool = True
    progress: bool = True
    num_threads: int | None = 1
    resume_changes: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetrainResult:
    """Test metrics, the run folder and the trained model (the EMA copy when it validated
    better). Under torchrun only rank 0 measures: other ranks get ``metrics == {}`` and
    ``is_main`` false."""

    metrics: dict[str, Any]
    run_dir: Path
    model: torch.nn.Module
    num_classes: int
    is_main: bool = True
    class_names: tuple[str, ...] = ()


def retrain(
    arch: ArchConfig,
    space: SearchSpace,
    data_cfg: DataConfig,
    recipe: Recipe,
    run_dir: str | Path,
    options: RetrainOptions | None = None,
) -> RetrainResult:
    """Train ``arch`` from scratch with ``recipe`` in ``run_dir``; measure it on the test split.

    Example:
        >>> res = retrain(arch, space, DataConfig(), recipe, "runs/x")  # doctest: +SKIP
        >>> sorted(res.metrics)[:3]  # doctest: +SKIP
        ['arch', 'epochs', 'macs']
    """
    options = options or RetrainOptions()
    space.validate(arch)
    # Weight init and dropout draw from torch's global RNGs: seed them from options.seed inside
    # a fork, so the run is reproducible and the caller's RNG state is left as it was.
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        torch.manual_seed(options.seed)
        return run_training(arch, space, data_cfg, recipe, Path(run_dir), options)


# --------------------------------------------------------------------------- training
def read_retrain_checkpoint(path: Path, arch: ArchConfig, space: SearchSpace) -> dict[str, Any]:
    """Load ``last.pt`` of a retrain run (``weights_only``) and check it is of ``arch``."""
    raw = load_tagged(
        path,
        fmt=RETRAIN_FORMAT,
        version=RETRAIN_VERSION,
        required=(*REQUIRED_KEYS, "arch"),
        what="retrain checkpoint",
        hint="delete it and start again, or resume from another run_dir",
    )
    raw = check_header(raw, path)
    if raw["space_fingerprint"] != space.fingerprint:
        raise CheckpointError(f"{path} was trained on another space; start a new run_dir")
    if space.arch_from_json(raw["arch"]) != arch:
        raise CheckpointError(
            f"{path} holds architecture {space.arch_from_json(raw['arch'])}, not {arch}; "
            "resume with the same arch or start a new run_dir"
        )
    return raw


def _loader_factory(bundle: Any, batch_size: int, seed: int, ctx: DistContext) -> Any:
    def loader_for_epoch(epoch: int) -> Any:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        sampler: Any = None
        if ctx.distributed:
            from torch.utils.data import DistributedSampler

            sampler = DistributedSampler(bundle.train, ctx.world_size, ctx.rank, seed=seed)
            sampler.set_epoch(epoch)
        return bundle.train_loader(batch_size, generator, sampler)

    return loader_for_epoch


def evaluate_top_k(model: torch.nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
    """Top-1 (and top-5 when there are more than 5 classes) accuracy in [0, 1] over ``loader``
    (this rank's images: every rank scores the whole split)."""
    return accuracy_of(model, loader, device, ks=(1, 5), reduce=False).as_dict()


def run_training(
    arch: ArchConfig,
    space: SearchSpace,
    data_cfg: DataConfig,
    recipe: Recipe,
    run_dir: Path,
    options: RetrainOptions,
) -> RetrainResult:
    """Train, pick raw or EMA weights on val, score the test split; no files but checkpoints."""
    if options.num_threads is not None:
        torch.set_num_threads(options.num_threads)
    ctx = init_from_env(options.device)
    bundle = build_data(data_cfg, arch.resolution)
    model = build_static(space, arch, bundle.num_classes).to(ctx.device)
    if options.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    broadcast_module(model, ctx)
    loader_for_epoch = _loader_factory(bundle, data_cfg.batch_size, options.seed, ctx)
    steps = len(loader_for_epoch(0))
    if recipe.steps_per_epoch is not None:
        steps = min(steps, recipe.steps_per_epoch)
    step = _static_step(model, recipe, ctx, steps, options)
    state = TrainState()
    header = checkpoint_header(
        space,
        bundle.num_classes,
        asdict(data_cfg),
        options.config,
        middle_arch=space.arch_to_json(arch),
        steps_per_epoch=steps,
        fmt=RETRAIN_FORMAT,
        version=RETRAIN_VERSION,
        arch=space.arch_to_json(arch),
    )
    checkpointer = training_checkpointer(step, state, header, loader_seed=options.seed)
    last = run_dir / LAST_NAME
    if options.resume:
        if not last.is_file():
            raise CheckpointError(
                f"resume requested but there is no {last}; give the run_dir of the run to "
                "continue (resume=true run_dir=...) or drop resume"
            )
        resumed = read_retrain_checkpoint(last, arch, space)
        check_finite(resumed["model"], last, "resumed")
        check_steps_per_epoch(resumed, steps)
        checkpointer.restore(resumed)
        for note in step.optimisation.notes if ctx.is_main else []:
            print(f"note: {note}", flush=True)
    randaugment = None
    if recipe.randaugment is not None:
        mean, std = NORMALIZATION[data_cfg.name]
        randaugment = build_randaugment(recipe.randaugment, mean, std)
    mixup = build_mixup(recipe, bundle.num_classes)
    batches = epoch_batches(loader_for_epoch, steps, options.seed, randaugment, mixup)
    hooks = _hooks(data_cfg, bundle, recipe, run_dir, options, steps, step, checkpointer)
    trainer = Trainer(step, batches, recipe.epochs, hooks, state)
    trainer.train()
    train_time_s = state.train_seconds  # every run of a resumed training
    final, weights = _pick_weights(model, step.optimisation.ema, bundle, data_cfg, ctx.device)
    shutdown(ctx)
    if not ctx.is_main:  # rank 0 alone measures
        return RetrainResult({}, run_dir, final.cpu().eval(), bundle.num_classes, False)
    metrics = _final_metrics(final, arch, space, bundle, data_cfg, ctx.device)
    metrics.update(
        weights=weights,
        train_time_s=round(train_time_s, 3),
        epochs=recipe.epochs,
        steps=trainer.state.step,
        recipe=recipe.name,
    )
    names = tuple(bundle.class_names)
    return RetrainResult(metrics, run_dir, final.cpu().eval(), bundle.num_classes, True, names)


def _static_step(
    model: torch.nn.Module,
    recipe: Recipe,
    ctx: DistContext,
    steps_per_epoch: int,
    options: RetrainOptions,
) -> StaticStep:
    optimisation = build_optimisation(
        model,
        recipe.optim,
        recipe.schedule,
        steps_per_epoch,
        options.amp,
        ctx.device,
        ema_decay=recipe.ema_decay,
        ema_warmup=True,
        ctx=ctx,
    )
    return StaticStep(
        model, optimisation, ctx, options.channels_last, loss=RetrainLoss(recipe.label_smoothing)
    )


def _hooks(
    data_cfg: DataConfig,
    bundle: Any,
    recipe: Recipe,
    run_dir: Path,
    options: RetrainOptions,
    steps_per_epoch: int,
    step: StaticStep,
    checkpointer: Checkpointer,
) -> list[HookBase]:
    val = bundle.eval_loader("val", data_cfg.eval_batch_size)
    device = step.ctx.device
    hooks: list[HookBase] = []
    if recipe.eval_every_epochs > 0:

        def score(model: torch.nn.Module) -> float:
            return float(evaluate_top_k(model, val, device)["top1"])

        hooks.append(EvalHook([("raw", score)], recipe.eval_every_epochs))
        if step.optimisation.ema is not None:
            ema = step.optimisation.ema
            hooks.append(EvalHook([("ema", score)], recipe.eval_every_epochs, ema=ema))
    if not step.ctx.is_main:
        return hooks
    progress = ProgressHook(recipe.epochs * steps_per_epoch, options.progress, desc="retrain")
    return [
        *hooks,
        progress,
        MetricsLogger(run_dir, options.log_every_steps, options.tensorboard, RETRAIN_CURVES),
        CheckpointHook(
            run_dir, checkpointer, options.checkpoint_every_steps, lr_setting="recipe.optim.lr"
        ),
    ]


def _pick_weights(
    model: torch.nn.Module, ema: Any, bundle: Any, data_cfg: DataConfig, device: torch.device
) -> tuple[torch.nn.Module, str]:
    """The EMA weights when they score at least as well on val as the raw ones."""
    if ema is None:
        return model, "raw"
    val = bundle.eval_loader("val", data_cfg.eval_batch_size)
    raw_acc = evaluate_top_k(model, val, device)["top1"]
    ema_acc = evaluate_top_k(ema.module, val, device)["top1"]
    return (ema.module, "ema") if ema_acc >= raw_acc else (model, "raw")


def _final_metrics(
    model: torch.nn.Module,
    arch: ArchConfig,
    space: SearchSpace,
    bundle: Any,
    data_cfg: DataConfig,
    device: torch.device,
) -> dict[str, Any]:
    test = evaluate_top_k(model, bundle.eval_loader("test", data_cfg.eval_batch_size), device)
    cost = count_cost(space, arch, bundle.num_classes)
    counted = sum(p.numel() for p in model.parameters())
    if counted != cost.params:
        raise ConfigError(
            f"the cost model says {cost.params} params but the network has {counted}; "
            "supernet.cost and supernet.static disagree"
        )
    metrics: dict[str, Any] = {
        "split": "test",
        **{k: test[k] for k in ("top1", "top5") if k in test},
        "num_test_images": test["num_images"],
        "macs": cost.macs,
        "params": cost.params,
        "arch": space.arch_to_json(arch),
        "num_classes": bundle.num_classes,
    }
    return metrics
