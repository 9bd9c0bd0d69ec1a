"""Training recipes for retraining an architecture from scratch (one per dataset family).

A :class:`Recipe` is the typed form of ``conf/recipe/<name>.yaml``: optimizer and cosine
schedule with warmup (the supernet's timm factories, :mod:`train.optim`), label smoothing, EMA
of the weights, RandAugment (torchvision, on uint8 images, driven by an injected generator) and
mixup/cutmix (timm ``Mixup``).

Example:
    >>> recipe = Recipe(epochs=2, optim=OptimConfig(name="adamw", lr=3e-3))
    >>> recipe.schedule.epochs
    2
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch import Tensor

from lamoo_nas.runtime.schema import build
from lamoo_nas.supernet.errors import ConfigError
from lamoo_nas.train.optim import OptimConfig, ScheduleConfig

Stats = tuple[float, float, float]


@dataclass(frozen=True)
class Recipe:
    """How to retrain one architecture; validated on construction.

    ``steps_per_epoch`` caps the optimizer steps of each epoch (``None``: the whole train split;
    tests and smoke runs set it). ``ema_decay`` 0 turns the weight EMA off. ``randaugment`` is
    ``"m<magnitude>-n<ops>"`` (e.g. ``"m9-n2"``) or ``None``; ``mixup_alpha``/``cutmix_alpha``
    0 turn those off. ``eval_every_epochs`` sets how often the val split is scored (0: never).
    """

    name: str = "custom"
    epochs: int = 10
    optim: OptimConfig = field(default_factory=OptimConfig)
    warmup_epochs: float = 1.0
    warmup_lr: float = 1e-5
    min_lr: float = 1e-5
    label_smoothing: float = 0.1
    ema_decay: float = 0.0
    randaugment: str | None = None
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mixup_prob: float = 1.0
    steps_per_epoch: int | None = None
    eval_every_epochs: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"recipe.epochs must be a positive integer, got {self.epochs!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(
                f"recipe.label_smoothing must be in [0, 1), got {self.label_smoothing!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(
                f"recipe.ema_decay must be in [0, 1) (0 turns EMA off), got {self.ema_decay!r}"
            )
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0 or not 0 <= self.mixup_prob <= 1:
            raise ConfigError(
                "recipe.mixup_alpha and recipe.cutmix_alpha must be >= 0 and recipe.mixup_prob "
                f"in [0, 1], got {self.mixup_alpha!r}, {self.cutmix_alpha!r}, {self.mixup_prob!r}"
            )
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ConfigError(
                f"recipe.steps_per_epoch must be >= 1 or null, got {self.steps_per_epoch!r}"
            )
        if self.randaugment is not None:
            parse_randaugment(self.randaugment)
        _ = self.schedule  # validates warmup against epochs

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Recipe:
        """From plain data shaped like ``conf/recipe/*.yaml`` (``optim`` a nested mapping)."""
        return build(cls, raw, "recipe")

    @property
    def schedule(self) -> ScheduleConfig:
        return ScheduleConfig(
            epochs=self.epochs,
            warmup_epochs=self.warmup_epochs,
            warmup_lr=self.warmup_lr,
            min_lr=self.min_lr,
        )

    @property
    def uses_mixup(self) -> bool:
        return self.mixup_prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


def available_recipes() -> list[str]:
    """Names of the recipes shipped in ``conf/recipe``."""
    folder = resources.files("lamoo_nas.conf") / "recipe"
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A shipped recipe by name (``digits``, ``cifar``, ``imagenet``) or a YAML file by path,
    without Hydra (for the pipeline and scripts).

    Example:
        >>> load_recipe("digits").optim.name
        'adamw'
    """
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"no recipe file at {path}")
        text = path.read_text()
    else:
        candidate = resources.files("lamoo_nas.conf") / "recipe" / f"{name_or_path}.yaml"
        if not candidate.is_file():
            raise ConfigError(
                f"unknown recipe {str(name_or_path)!r}; shipped: {available_recipes()}, "
                "or give a path to a YAML file"
            )
        text = candidate.read_text()
    raw = yaml.safe_load(text)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"recipe {name_or_path} is not a mapping")
    return Recipe.from_dict(raw)


def parse_randaugment(spec: str) -> tuple[int, int]:
    """``"m9-n2"`` -> ``(magnitude 9, 2 ops)``; raises :class:`ConfigError` otherwise."""
    parts = dict((p[:1], p[1:]) for p in spec.split("-") if p)
    try:
        magnitude, num_ops = int(parts.get("m", "9")), int(parts.get("n", "2"))
    except ValueError as err:
        raise ConfigError(
            f"recipe.randaugment is {spec!r}; write it as m<magnitude>-n<ops>, e.g. 'm9-n2'"
        ) from err
    if set(parts) - {"m", "n"} or not 0 <= magnitude <= 30 or num_ops < 1:
        raise ConfigError(
            f"recipe.randaugment is {spec!r}; write it as m<magnitude 0..30>-n<ops >= 1>, "
            "e.g. 'm9-n2'"
        )
    return magnitude, num_ops


BatchTransform = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def build_randaugment(
    spec: str, mean: Stats, std: Stats
) -> Callable[[Tensor, torch.Generator], Tensor]:
    """Per-image torchvision RandAugment on normalised ``(N, 3, H, W)`` batches:
    ``apply(images, generator)``.

    Images are de-normalised to uint8, augmented (each image's ops drawn from a seed taken from
    ``generator``, so the global RNG is never the source), then normalised again.
    """
    from torchvision.transforms import v2

    magnitude, num_ops = parse_randaugment(spec)
    augment = v2.RandAugment(num_ops=num_ops, magnitude=magnitude)
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)

    def apply(images: Tensor, generator: torch.Generator) -> Tensor:
        raw = ((images * std_t + mean_t).clamp(0, 1) * 255).round().to(torch.uint8)
        seeds = torch.randint(2**62, (raw.shape[0],), generator=generator).tolist()
        out = torch.empty_like(raw)
        for i, seed in enumerate(seeds):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                out[i] = augment(raw[i])
        return (out.float() / 255 - mean_t) / std_t

    return apply


def build_mixup(recipe: Recipe, num_classes: int) -> Callable[[Tensor, Tensor], tuple] | None:
    """timm ``Mixup`` (labels -> smoothed soft targets), or ``None`` when the recipe has none."""
    if not recipe.uses_mixup:
        return None
    from timm.data import Mixup

    return Mixup(
        mixup_alpha=recipe.mixup_alpha,
        cutmix_alpha=recipe.cutmix_alpha,
        prob=recipe.mixup_prob,
        label_smoothing=recipe.label_smoothing,
        num_classes=num_classes,
    )


# --------------------------------------------------------------------------- step pieces
class RetrainLoss:
    """The loss of a :class:`train.steps.StaticStep`: label-smoothed CE on hard labels
    ``(N,)``, soft-target CE on mixup's ``(N, C)`` targets; ``loss(logits, labels)``."""

    def __init__(self, label_smoothing: float) -> None:
        from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy

        self.hard = (
            LabelSmoothingCrossEntropy(label_smoothing)
            if label_smoothing > 0
            else torch.nn.CrossEntropyLoss()
        )
        self.soft = SoftTargetCrossEntropy()

    def __call__(self, logits: Tensor, labels: Tensor) -> Tensor:
        loss = self.soft if labels.ndim == 2 else self.hard
        return loss(logits.float(), labels)


def with_numpy_seed(seed: int, fn: Callable[..., Any], *args: Any) -> Any:
    """Call ``fn`` (timm's Mixup draws from numpy's global RNG) with a seeded, then restored,
    global numpy state, so the draws come from the injected generator's seed."""
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        return fn(*args)
    finally:
        np.random.set_state(state)


def epoch_batches(
    loader_for_epoch: Callable[[int], Iterable[tuple[Tensor, Tensor]]],
    steps_per_epoch: int,
    seed: int,
    randaugment: Callable[[Tensor, torch.Generator], Tensor] | None,
    mixup: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None,
) -> Callable[[int, int], Iterator[tuple[Tensor, Tensor]]]:
    """The loop's ``batches(epoch, skip)``: at most ``steps_per_epoch`` augmented batches.

    Each batch's RandAugment and mixup draws are seeded by ``(seed, epoch, batch index)``, so
    a resumed run sees the same batches as an uninterrupted one.
    """

    def batches(epoch: int, skip: int) -> Iterator[tuple[Tensor, Tensor]]:
        for index, (images, labels) in enumerate(loader_for_epoch(epoch)):
            if index >= steps_per_epoch:
                return
            if index < skip:
                continue
            batch_seed = seed * 1_000_003 + epoch * 10_007 + index
            if randaugment is not None:
                images = randaugment(images, torch.Generator().manual_seed(batch_seed))
            if mixup is not None:
                images, labels = with_numpy_seed(batch_seed, mixup, images, labels)
            yield images, labels

    return batches
