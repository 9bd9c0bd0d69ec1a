"""OFA's own networks with random weights: the oracle the OFA import is tested against.

The ``ofa`` package (dev extra) holds Once-for-All's model code and no weights; its networks are
built here with every weight, BN statistic and kernel-transformation matrix randomised, scaled
so that the logits are of order one (so an absolute tolerance of 1e-5 is a strict one).
"""

from __future__ import annotations

from pathlib import Path

import torch
from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
from torch import nn

OFA_NAMES = {1.0: "ofa_mbv3_d234_e346_k357_w1.0", 1.2: "ofa_mbv3_d234_e346_k357_w1.2"}


def ofa_mbv3(width: float, num_classes: int, seed: int = 0, **lists) -> OFAMobileNetV3:
    """OFA's MobileNetV3 supernet (d234 e346 k357 unless ``lists`` say otherwise), random, eval."""
    options = {"ks_list": [3, 5, 7], "expand_ratio_list": [3, 4, 6], "depth_list": [2, 3, 4]}
    net = OFAMobileNetV3(
        n_classes=num_classes, dropout_rate=0, width_mult=width, **{**options, **lists}
    )
    return randomise_ofa(net, seed).eval()


@torch.no_grad()
def randomise_ofa(model: nn.Module, seed: int) -> nn.Module:
    """He-scaled convs, a unit-variance classifier, non-trivial BN statistics and affine
    parameters, SE biases, and kernel-transformation matrices away from the identity."""
    gen = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if name.endswith("_matrix"):
            param.add_(0.1 * torch.randn(param.shape, generator=gen))
        elif param.dim() == 4:
            fan_in = param.shape[1] * param.shape[2] * param.shape[3]
            param.copy_(torch.randn(param.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
        elif param.dim() == 2:  # the classifier
            param.copy_(torch.randn(param.shape, generator=gen) * (10.0 / param.shape[1]) ** 0.5)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.copy_(0.5 + 0.5 * torch.rand(n, generator=gen))
            module.bias.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            module.running_var.copy_(0.5 + torch.rand(n, generator=gen))
            module.num_batches_tracked.fill_(1234)
        elif isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
    return model


def save_published(net: nn.Module, path: Path) -> Path:
    """``net`` saved the way OFA's model zoo publishes its supernets: ``{"state_dict": ...}``."""
    torch.save({"state_dict": net.state_dict()}, path)
    return path
