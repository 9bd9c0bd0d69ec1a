"""Shared helper: the real Hydra config composed and shrunk to a few-second CPU run."""

from __future__ import annotations

from hydra import compose, initialize_config_module
from omegaconf import DictConfig

TINY_OVERRIDES = [
    "data.max_train_images=96",
    "data.batch_size=16",
    "data.calib_images=64",
    "data.eval_batch_size=128",
    "schedule.epochs=2",
    "schedule.warmup_epochs=0.5",
    "progress=false",
    "tensorboard=false",
    "eval.every_epochs=2",
]


def compose_cfg(*overrides: str, tiny: bool = True) -> DictConfig:
    """conf/train_supernet.yaml with TINY_OVERRIDES (if ``tiny``) and ``overrides``."""
    with initialize_config_module(config_module="lamoo_nas.conf", version_base="1.3"):
        return compose("train_supernet", overrides=[*(TINY_OVERRIDES if tiny else []), *overrides])
