"""Retrain one architecture from scratch and measure it on the test split.

:func:`retrain` trains :func:`supernet.build_static` with fresh weights (never the supernet's)
with the supernet's loop (:class:`train.loop.SupernetTrainer` with a one-architecture sampler)
and its hooks: progress bar, CSV/JSONL/TensorBoard, atomic ``last.pt``/``final.pt`` that hold
the arch JSON and the space definition, ``resume=true``. It returns test top-1/top-5, MACs and
params; latency, ``metrics.json`` and the export are added by :mod:`evaluate.retrain`, which
also holds the ``nas-retrain`` CLI.

Example:
    >>> space = load_space("tiny")
    >>> result = retrain(space.smallest(), space, DataConfig(), Recipe(epochs=1),
    ...                  Path("runs/r1"))  # doctest: +SKIP
    >>> result.metrics["top1"]  # doctest: +SKIP
    0.97
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from supernet.cost import count_cost
from supernet.errors import CheckpointError, ConfigError
from supernet.model import resize_to
from supernet.space import ArchConfig, SearchSpace
from supernet.static import build_static
from train.checkpoint import (
    LAST_NAME,
    REQUIRED_KEYS,
    RunMeta,
    restore_training,
    training_checkpoint,
)
from train.data import DataConfig, build_data
from train.data._config import NORMALIZATION
from train.distributed import DistContext, broadcast_module, init_from_env, shutdown
from train.hooks import CheckpointHook, EvalHook, weights_are_finite
from train.io import atomic_torch_save, load_tagged
from train.logs import RETRAIN_CURVES, MetricsLogger, ProgressHook
from train.loop import HookBase, StepParts, SupernetTrainer, TrainingDivergedError
from train.optim import build_optimizer, build_scheduler
from train.recipes import (
    FixedArchSampler,
    Recipe,
    RetrainLoss,
    build_mixup,
    build_randaugment,
    epoch_batches,
)

RETRAIN_FORMAT = "lamoo-nas/retrain"
RETRAIN_VERSION = 1


@dataclass(frozen=True)
class RetrainOptions:
    """Run options besides the recipe. ``amp``: ``auto`` (bf16 on CUDA, off on CPU), ``bf16``,
    ``fp16`` or ``none``. ``config``: the resolved run config, stored in every checkpoint."""

    seed: int = 0
    device: str = "auto"
    amp: str = "auto"
    resume: bool = False
    log_every_steps: int = 10
    checkpoint_every_steps: int = 0
    tensorboard: bool = True
    progress: bool = True
    num_threads: int | None = None
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
class RetrainCheckpointHook(CheckpointHook):
    """:class:`train.hooks.CheckpointHook` whose checkpoints say they hold a retrained
    architecture: format :data:`RETRAIN_FORMAT` plus the arch JSON."""

    def __init__(self, run_dir: Path, meta: RunMeta, every_steps: int, arch_json: dict) -> None:
        super().__init__(run_dir, meta, every_steps)
        self.arch_json = arch_json

    def save(self, name: str) -> Path:
        t = self.trainer
        if not weights_are_finite(t.model):
            raise TrainingDivergedError(
                f"the weights hold NaN/inf at step {t.state.step}; {name} keeps the last good "
                "state. Lower recipe.optim.lr, then resume=true"
            )
        ckpt = training_checkpoint(t.model, t.parts, t.state, self.meta)
        ckpt.update(format=RETRAIN_FORMAT, version=RETRAIN_VERSION, arch=self.arch_json)
        return atomic_torch_save(ckpt, self.run_dir / name)


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
    if raw["space_fingerprint"] != space.fingerprint:
        raise CheckpointError(f"{path} was trained on another space; start a new run_dir")
    if space.arch_from_json(raw["arch"]) != arch:
        raise CheckpointError(
            f"{path} holds architecture {space.arch_from_json(raw['arch'])}, not {arch}; "
            "resume with the same arch or start a new run_dir"
        )
    return raw


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    table = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}
    if amp == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if amp not in table:
        raise ConfigError(f"amp is {amp!r}; allowed: auto, bf16, fp16, none")
    return table[amp]


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


@torch.no_grad()
def evaluate_top_k(model: torch.nn.Module, loader: Any, device: torch.device) -> dict[str, Any]:
    """Top-1 (and top-5 when there are more than 5 classes) accuracy in [0, 1] over ``loader``."""
    model.eval()
    correct1 = correct5 = total = 0
    for images, labels in loader:
        logits = model(images.to(device)).float().cpu()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        correct1 += int((top[:, 0] == labels).sum())
        correct5 += int((top == labels[:, None]).any(dim=1).sum())
        total += int(labels.numel())
    out: dict[str, Any] = {"top1": correct1 / max(total, 1), "num_images": total}
    if logits.shape[1] > 5:
        out["top5"] = correct5 / max(total, 1)
    return out


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
    broadcast_module(model, ctx)
    loader_for_epoch = _loader_factory(bundle, data_cfg.batch_size, options.seed, ctx)
    steps = len(loader_for_epoch(0))
    if recipe.steps_per_epoch is not None:
        steps = min(steps, recipe.steps_per_epoch)
    parts = _step_parts(model, arch, recipe, ctx, steps, options)
    state = None
    last = run_dir / LAST_NAME
    if options.resume:
        if not last.is_file():
            raise CheckpointError(
                f"resume requested but there is no {last}; give the run_dir of the run to "
                "continue (resume=true run_dir=...) or drop resume"
            )
        state = restore_training(read_retrain_checkpoint(last, arch, space), model, parts, steps)
    randaugment = None
    if recipe.randaugment is not None:
        mean, std = NORMALIZATION[data_cfg.name]
        randaugment = build_randaugment(recipe.randaugment, mean, std)
    mixup = build_mixup(recipe, bundle.num_classes)
    batches = epoch_batches(loader_for_epoch, steps, options.seed, randaugment, mixup)
    hooks = _hooks(arch, space, data_cfg, bundle, recipe, run_dir, ctx, options, steps, parts)
    trainer = SupernetTrainer(model, parts, batches, recipe.epochs, hooks, state)
    start = time.perf_counter()
    trainer.train()
    train_time_s = time.perf_counter() - start
    final, weights = _pick_weights(model, parts.ema, bundle, data_cfg, ctx.device)
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


def _step_parts(
    model: torch.nn.Module,
    arch: ArchConfig,
    recipe: Recipe,
    ctx: DistContext,
    steps_per_epoch: int,
    options: RetrainOptions,
) -> StepParts:
    optimizer = build_optimizer(model, recipe.optim)
    scheduler = build_scheduler(optimizer, recipe.schedule, steps_per_epoch)
    amp_dtype = _amp_dtype(options.amp, ctx.device)
    use_scaler = amp_dtype == torch.float16 and ctx.device.type == "cuda"
    ema = None
    if recipe.ema_decay > 0:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=recipe.ema_decay, use_warmup=True)
    return StepParts(
        sampler=FixedArchSampler(arch),
        loss=RetrainLoss(recipe.label_smoothing),  # type: ignore[arg-type]
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=torch.amp.GradScaler(ctx.device.type, enabled=use_scaler),
        arch_rng=np.random.default_rng(options.seed),
        resize=resize_to,
        ctx=ctx,
        clip_grad_norm=recipe.optim.clip_grad_norm,
        amp_dtype=amp_dtype,
        ema=ema,
        forward=lambda x, _arch: model(x),
    )


def _hooks(
    arch: ArchConfig,
    space: SearchSpace,
    data_cfg: DataConfig,
    bundle: Any,
    recipe: Recipe,
    run_dir: Path,
    ctx: DistContext,
    options: RetrainOptions,
    steps_per_epoch: int,
    parts: StepParts,
) -> list[HookBase]:
    val = bundle.eval_loader("val", data_cfg.eval_batch_size)
    hooks: list[HookBase] = []
    if recipe.eval_every_epochs > 0:
        hooks.append(
            EvalHook(
                [("raw", arch)],
                lambda model, _arch: evaluate_top_k(model, val, ctx.device)["top1"],
                recipe.eval_every_epochs,
            )
        )
        if parts.ema is not None:
            hooks.append(
                EvalHook(
                    [("ema", arch)],
                    lambda model, _arch: evaluate_top_k(model, val, ctx.device)["top1"],
                    recipe.eval_every_epochs,
                    ema=parts.ema,
                )
            )
    if not ctx.is_main:
        return hooks
    arch_json = space.arch_to_json(arch)
    meta = RunMeta(space, bundle.num_classes, asdict(data_cfg), options.config, {}, arch_json)
    progress = ProgressHook(recipe.epochs * steps_per_epoch, options.progress, desc="retrain")
    return [
        *hooks,
        progress,
        MetricsLogger(run_dir, options.log_every_steps, options.tensorboard, RETRAIN_CURVES),
        RetrainCheckpointHook(run_dir, meta, options.checkpoint_every_steps, arch_json),
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
