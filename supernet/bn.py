"""BatchNorm recalibration of an extracted subnet (its running statistics re-estimated).

Subnets inherit BN statistics accumulated while the supernet trained many subnets; they fit
none of them. :func:`recalibrate_bn` replaces them with exact averages over a few batches.

Example:
    >>> net = build_static(space, arch, 10)
    >>> net = recalibrate_bn(net, (images for images, _ in loader), num_images=2000)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

from lamoo_nas.supernet.errors import NASError


class BNRecalibrationError(NASError, ValueError):
    """BN recalibration got no images, or a non-positive image budget."""


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[Tensor], num_images: int) -> nn.Module:
    """Reset and re-estimate the BN running stats of ``model`` over ``num_images`` images.

    ``batches`` yields ``(N, C, H, W)`` tensors already at the model's resolution; the last
    one used is sliced so exactly ``min(num_images, available)`` images are seen. Statistics
    are averages of the per-batch statistics weighted by batch size (as Once-for-All does), so
    the running mean equals the mean over all images however they are batched; parameters,
    momentum and every other buffer are left as they were. Returns ``model`` in eval mode.
    """
    if num_images <= 0:
        raise BNRecalibrationError(f"num_images must be positive, got {num_images}")
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    seen = 0
    try:
        for batch in batches:
            batch = batch[: num_images - seen]
            if batch.shape[0] == 0:
                continue
            if seen == 0:
                _reset(model, norms)
            for norm in norms:  # weight each batch by its image count, not equally
                norm.momentum = batch.shape[0] / (seen + batch.shape[0])
            model(batch)
            seen += batch.shape[0]
            if seen >= num_images:
                break
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
    if seen == 0:
        raise BNRecalibrationError(
            "recalibrate_bn got no images: `batches` was empty; pass an iterable of (N, C, H, W) "
            "image tensors (e.g. the images of a few training batches)"
        )
    return model.eval()


def _reset(model: nn.Module, norms: list[nn.modules.batchnorm._BatchNorm]) -> None:
    """Eval mode except BN layers, whose stats restart as a cumulative average."""
    model.eval()
    for norm in norms:
        norm.reset_running_stats()
        norm.train()
