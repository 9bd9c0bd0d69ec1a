"""Tiny fixtures shared by the supernet tests: seeded architectures and randomised weights."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamoo_nas.supernet import ArchConfig, SearchSpace, load_space

PRESETS = ("tiny", "cifar", "ofa_mbv3")
NUM_CLASSES = {"tiny": 10, "cifar": 10, "ofa_mbv3": 1000}


def archs(space: SearchSpace, count: int, seed: int = 0, resolution: int | None = None):
    """Smallest, largest and ``count`` seeded random architectures (optionally one resolution)."""
    rng = np.random.default_rng(seed)
    out = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(count)]
    if resolution is not None:
        out = [ArchConfig(resolution, a.stages) for a in out]
    return out


def small_archs(name: str, count: int, seed: int = 0) -> tuple[SearchSpace, list[ArchConfig]]:
    """Archs cheap enough for forward tests (ofa_mbv3 only at its smallest resolution)."""
    space = load_space(name)
    resolution = min(space.resolutions) if name == "ofa_mbv3" else None
    return space, archs(space, count, seed, resolution)


@torch.no_grad()
def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights and BN statistics, so equality tests can fail."""
    gen = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if "transforms" in name:
            param.add_(0.1 * torch.randn(param.shape, generator=gen))
        else:
            param.copy_(0.3 * torch.randn(param.shape, generator=gen))
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=gen))
            module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=gen))
    return model
